//! The ARP packet as RFC 826 lays it out, specialised to Ethernet hardware and IPv4.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+---------------+---------------+
//! |      ar$hrd (hardware type)   |      ar$pro (protocol type)   |
//! +---------------+---------------+---------------+---------------+
//! | ar$hln (6)    | ar$pln (4)    |          ar$op (opcode)       |
//! +---------------+---------------+---------------+---------------+
//! |          ar$sha (sender hardware address, 6 bytes)            |
//! +                               +-------------------------------+
//! |                               |  ar$spa (sender protocol ...  |
//! +-------------------------------+-------------------------------+
//! |  ... address, 4 bytes)        |  ar$tha (target hardware ...  |
//! +-------------------------------+                               +
//! |              ... address, 6 bytes)                            |
//! +---------------------------------------------------------------+
//! |          ar$tpa (target protocol address, 4 bytes)            |
//! +---------------------------------------------------------------+
//! ```
//!
//! [`ArpPacket`] is a length-checked view over received bytes (an Ethernet frame's payload may
//! carry padding after the 28 bytes; it is ignored). [`ArpRepr`] is the parsed, validated form
//! and the thing that is emitted.

use std::fmt;
use std::net::Ipv4Addr;

use netif::MacAddr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const BUFFER_LEN: usize = 28;

/// `ar$hrd` for Ethernet (10 Mb and everything since).
pub const HTYPE_ETHERNET: u16 = 1;
/// `ar$hrd` for IEEE 802 networks, which hosts following RFC 1042 send on an Ethernet too;
/// taken like [`HTYPE_ETHERNET`] (as Linux does on an Ethernet device), never sent.
const HTYPE_IEEE802: u16 = 6;
/// `ar$pro` for IPv4: the EtherType of IP.
pub const PTYPE_IPV4: u16 = 0x0800;
/// `ar$hln` for Ethernet.
pub const HLEN_ETHERNET: u8 = 6;
/// `ar$pln` for IPv4.
pub const PLEN_IPV4: u8 = 4;

mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Why bytes are not an ARP packet this stack understands.
///
/// Each header mismatch has its own variant so a receiver can count them separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("ARP packet truncated: {len} bytes, need {BUFFER_LEN}")]
    Truncated { len: usize },
    #[error("ARP hardware type {0} is neither Ethernet (1) nor IEEE 802 (6)")]
    BadHardwareType(u16),
    #[error("ARP protocol type {0:#06x} is not IPv4 (0x0800)")]
    BadProtocolType(u16),
    #[error("ARP hardware address length {0} is not 6")]
    BadHardwareLen(u8),
    #[error("ARP protocol address length {0} is not 4")]
    BadProtocolLen(u8),
    #[error("buffer of {len} bytes is too short for an ARP packet ({BUFFER_LEN})")]
    BufferTooShort { len: usize },
}

/// `ar$op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `ares_op$REQUEST` (1).
    Request,
    /// `ares_op$REPLY` (2).
    Reply,
    /// Any other opcode (RARP, InARP, ...). Never holds 1 or 2 when made by [`From<u16>`].
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(v) => v,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Request => f.write_str("request"),
            Operation::Reply => f.write_str("reply"),
            Operation::Unknown(v) => write!(f, "op {v}"),
        }
    }
}

/// A view over at least [`BUFFER_LEN`] bytes, read at the Ethernet/IPv4 field offsets.
///
/// Only the length is checked here, so every accessor is infallible; [`ArpRepr::parse`] checks
/// the type and length fields.
#[derive(Clone, Copy, Debug)]
pub struct ArpPacket<'a> {
    bytes: &'a [u8; BUFFER_LEN],
}

impl<'a> ArpPacket<'a> {
    /// Fails only if fewer than [`BUFFER_LEN`] bytes are given; anything after them is padding.
    pub fn new_checked(bytes: &'a [u8]) -> Result<ArpPacket<'a>, WireError> {
        bytes
            .get(..BUFFER_LEN)
            .and_then(|b| <&[u8; BUFFER_LEN]>::try_from(b).ok())
            .map(|bytes| ArpPacket { bytes })
            .ok_or(WireError::Truncated { len: bytes.len() })
    }

    /// The 28 bytes of the packet, without any padding.
    pub fn as_bytes(&self) -> &'a [u8; BUFFER_LEN] {
        self.bytes
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.bytes[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn mac_at(&self, r: std::ops::Range<usize>) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.bytes[r]);
        MacAddr(a)
    }

    fn ip_at(&self, r: std::ops::Range<usize>) -> Ipv4Addr {
        let mut a = [0; 4];
        a.copy_from_slice(&self.bytes[r]);
        Ipv4Addr::from(a)
    }

    /// `ar$hrd`.
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    /// `ar$pro`.
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }

    /// `ar$hln`.
    pub fn hardware_len(&self) -> u8 {
        self.bytes[field::HLEN]
    }

    /// `ar$pln`.
    pub fn protocol_len(&self) -> u8 {
        self.bytes[field::PLEN]
    }

    /// `ar$op`.
    pub fn operation(&self) -> Operation {
        Operation::from(self.u16_at(field::OPER))
    }

    /// `ar$sha`.
    pub fn sender_mac(&self) -> MacAddr {
        self.mac_at(field::SHA)
    }

    /// `ar$spa`.
    pub fn sender_ip(&self) -> Ipv4Addr {
        self.ip_at(field::SPA)
    }

    /// `ar$tha`.
    pub fn target_mac(&self) -> MacAddr {
        self.mac_at(field::THA)
    }

    /// `ar$tpa`.
    pub fn target_ip(&self) -> Ipv4Addr {
        self.ip_at(field::TPA)
    }
}

/// A validated Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub op: Operation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Length of the emitted packet.
    pub const BUFFER_LEN: usize = BUFFER_LEN;

    /// Check the four type/length fields (RFC 826: "Do I have the hardware type in ar$hrd?",
    /// "Do I speak the protocol in ar$pro?", and the optional length checks), then read the
    /// addresses. Any opcode is accepted; the receiver decides what to do with unknown ones.
    /// The hardware type may be Ethernet (1) or IEEE 802 (6, RFC 1042); what is emitted is
    /// always Ethernet.
    pub fn parse(packet: &ArpPacket<'_>) -> Result<ArpRepr, WireError> {
        let htype = packet.hardware_type();
        if htype != HTYPE_ETHERNET && htype != HTYPE_IEEE802 {
            return Err(WireError::BadHardwareType(htype));
        }
        let ptype = packet.protocol_type();
        if ptype != PTYPE_IPV4 {
            return Err(WireError::BadProtocolType(ptype));
        }
        let hlen = packet.hardware_len();
        if hlen != HLEN_ETHERNET {
            return Err(WireError::BadHardwareLen(hlen));
        }
        let plen = packet.protocol_len();
        if plen != PLEN_IPV4 {
            return Err(WireError::BadProtocolLen(plen));
        }
        Ok(ArpRepr {
            op: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// [`ArpPacket::new_checked`] then [`ArpRepr::parse`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ArpRepr, WireError> {
        ArpRepr::parse(&ArpPacket::new_checked(bytes)?)
    }

    /// Write the packet into the first [`BUFFER_LEN`] bytes of `buf`, returning how many
    /// were written; bytes after them are left alone.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = buf.len();
        let out = buf
            .get_mut(..BUFFER_LEN)
            .and_then(|b| <&mut [u8; BUFFER_LEN]>::try_from(b).ok())
            .ok_or(WireError::BufferTooShort { len })?;
        *out = self.to_bytes();
        Ok(BUFFER_LEN)
    }

    /// The packet as a fixed-size array.
    pub fn to_bytes(&self) -> [u8; BUFFER_LEN] {
        let mut out = [0u8; BUFFER_LEN];
        out[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        out[field::PTYPE].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        out[field::HLEN] = HLEN_ETHERNET;
        out[field::PLEN] = PLEN_IPV4;
        out[field::OPER].copy_from_slice(&u16::from(self.op).to_be_bytes());
        out[field::SHA].copy_from_slice(&self.sender_mac.0);
        out[field::SPA].copy_from_slice(&self.sender_ip.octets());
        out[field::THA].copy_from_slice(&self.target_mac.0);
        out[field::TPA].copy_from_slice(&self.target_ip.octets());
        out
    }

    /// "Who has `target_ip`? Tell `our_ip`": a request with an unknown (zero) target hardware
    /// address, to be broadcast.
    pub fn request(our_mac: MacAddr, our_ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            op: Operation::Request,
            sender_mac: our_mac,
            sender_ip: our_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// The reply RFC 826 builds from a request addressed to us: "Swap hardware and protocol
    /// fields, putting the local hardware and protocol addresses in the sender fields. Set the
    /// ar$op field to ares_op$REPLY". The local protocol address is the request's target.
    pub fn reply_to(request: &ArpRepr, our_mac: MacAddr) -> ArpRepr {
        ArpRepr {
            op: Operation::Reply,
            sender_mac: our_mac,
            sender_ip: request.target_ip,
            target_mac: request.sender_mac,
            target_ip: request.sender_ip,
        }
    }

    /// A gratuitous ARP announcing `our_ip` at `our_mac`: a request whose sender and target
    /// protocol addresses are both ours and whose target hardware address is zero.
    pub fn gratuitous(our_mac: MacAddr, our_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr::request(our_mac, our_ip, our_ip)
    }

    /// Sender and target protocol addresses are equal (an announcement).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// The sender protocol address is 0.0.0.0 (an address probe, RFC 5227).
    pub fn is_probe(&self) -> bool {
        self.sender_ip.is_unspecified()
    }

    /// Where the Ethernet frame carrying this packet goes: requests are broadcast, anything
    /// else is unicast to the target hardware address.
    pub fn link_destination(&self) -> MacAddr {
        match self.op {
            Operation::Request => MacAddr::BROADCAST,
            _ => self.target_mac,
        }
    }
}

impl fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Operation::Request => write!(
                f,
                "who-has {} tell {} ({})",
                self.target_ip, self.sender_ip, self.sender_mac
            ),
            Operation::Reply => write!(
                f,
                "{} is-at {} (to {} {})",
                self.sender_ip, self.sender_mac, self.target_ip, self.target_mac
            ),
            Operation::Unknown(v) => write!(
                f,
                "op {v} {} {} -> {} {}",
                self.sender_ip, self.sender_mac, self.target_ip, self.target_mac
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTER_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const REQUESTER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const OUR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]);
    const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// "who-has 10.0.0.2 tell 10.0.0.1" as a Linux host sends it: the target hardware
    /// address is zero, and the payload of a minimum-size Ethernet frame carries 18 bytes of
    /// padding after the 28 ARP bytes.
    const LINUX_REQUEST: [u8; 46] = [
        0x00, 0x01, // htype Ethernet
        0x08, 0x00, // ptype IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x01, // request
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sha
        10, 0, 0, 1, // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        10, 0, 0, 2, // tpa
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    /// "10.0.0.2 is-at 02:00:00:aa:bb:cc", the answer to [`LINUX_REQUEST`].
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, //
        0x00, 0x02, // reply
        0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, // sha
        10, 0, 0, 2, // spa
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // tha
        10, 0, 0, 1, // tpa
    ];

    /// A gratuitous announcement of 10.0.0.2 by 02:00:00:aa:bb:cc.
    const GRATUITOUS: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, //
        0x00, 0x01, //
        0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, //
        10, 0, 0, 2, //
        0, 0, 0, 0, 0, 0, //
        10, 0, 0, 2, //
    ];

    #[test]
    fn parses_a_linux_request_with_padding() {
        let pkt = ArpPacket::new_checked(&LINUX_REQUEST).unwrap();
        assert_eq!(pkt.hardware_type(), 1);
        assert_eq!(pkt.protocol_type(), 0x0800);
        assert_eq!(pkt.hardware_len(), 6);
        assert_eq!(pkt.protocol_len(), 4);
        assert_eq!(pkt.as_bytes()[..], LINUX_REQUEST[..28]);
        let repr = ArpRepr::parse(&pkt).unwrap();
        assert_eq!(
            repr,
            ArpRepr {
                op: Operation::Request,
                sender_mac: REQUESTER_MAC,
                sender_ip: REQUESTER_IP,
                target_mac: MacAddr::ZERO,
                target_ip: OUR_IP,
            }
        );
        assert_eq!(repr, ArpRepr::request(REQUESTER_MAC, REQUESTER_IP, OUR_IP));
        assert_eq!(repr.link_destination(), MacAddr::BROADCAST);
        assert_eq!(
            repr.to_string(),
            "who-has 10.0.0.2 tell 10.0.0.1 (52:54:00:12:34:56)"
        );
    }

    #[test]
    fn reply_to_swaps_fields_and_matches_the_fixture() {
        let request = ArpRepr::from_bytes(&LINUX_REQUEST).unwrap();
        let reply = ArpRepr::reply_to(&request, OUR_MAC);
        assert_eq!(reply.op, Operation::Reply);
        assert_eq!(reply.to_bytes(), REPLY);
        assert_eq!(ArpRepr::from_bytes(&REPLY).unwrap(), reply);
        assert_eq!(reply.link_destination(), REQUESTER_MAC);
    }

    #[test]
    fn gratuitous_is_a_self_addressed_request() {
        let g = ArpRepr::gratuitous(OUR_MAC, OUR_IP);
        assert_eq!(g.to_bytes(), GRATUITOUS);
        assert!(g.is_gratuitous());
        assert!(!g.is_probe());
        assert_eq!(g.op, Operation::Request);
        assert_eq!(g.target_mac, MacAddr::ZERO);
    }

    #[test]
    fn emit_round_trips_and_leaves_the_tail_alone() {
        let repr = ArpRepr::from_bytes(&REPLY).unwrap();
        let mut buf = [0xeeu8; 40];
        assert_eq!(repr.emit(&mut buf), Ok(28));
        assert_eq!(buf[..28], REPLY);
        assert!(buf[28..].iter().all(|&b| b == 0xee));
        assert_eq!(ArpRepr::from_bytes(&buf).unwrap(), repr);
    }

    #[test]
    fn emit_into_a_short_buffer_fails() {
        let repr = ArpRepr::from_bytes(&REPLY).unwrap();
        let mut buf = [0u8; 27];
        assert_eq!(
            repr.emit(&mut buf),
            Err(WireError::BufferTooShort { len: 27 })
        );
        assert_eq!(
            repr.emit(&mut []),
            Err(WireError::BufferTooShort { len: 0 })
        );
    }

    #[test]
    fn truncated_input_is_rejected_at_every_length() {
        for len in 0..BUFFER_LEN {
            assert_eq!(
                ArpPacket::new_checked(&REPLY[..len]).unwrap_err(),
                WireError::Truncated { len }
            );
            assert!(ArpRepr::from_bytes(&REPLY[..len]).is_err());
        }
    }

    #[test]
    fn ieee_802_hardware_type_is_accepted_and_answered_as_ethernet() {
        // RFC 1042 hosts on an Ethernet put ar$hrd = 6 (IEEE 802); Linux's arp_process takes
        // 1 and 6 on an Ethernet device, and answers with the device's own type, 1.
        let mut b = LINUX_REQUEST;
        b[1] = 6;
        let request = ArpRepr::from_bytes(&b).unwrap();
        assert_eq!(request, ArpRepr::from_bytes(&LINUX_REQUEST).unwrap());
        assert_eq!(ArpRepr::reply_to(&request, OUR_MAC).to_bytes(), REPLY);
        let mut r = REPLY;
        r[1] = 6;
        assert_eq!(
            ArpRepr::from_bytes(&r).unwrap(),
            ArpRepr::from_bytes(&REPLY).unwrap()
        );
    }

    #[test]
    fn each_bad_header_field_has_its_own_error() {
        let mut b = REPLY;
        b[1] = 7; // neither Ethernet nor IEEE 802
        assert_eq!(ArpRepr::from_bytes(&b), Err(WireError::BadHardwareType(7)));

        let mut b = REPLY;
        b[2] = 0x86;
        b[3] = 0xdd;
        assert_eq!(
            ArpRepr::from_bytes(&b),
            Err(WireError::BadProtocolType(0x86dd))
        );

        let mut b = REPLY;
        b[4] = 8;
        assert_eq!(ArpRepr::from_bytes(&b), Err(WireError::BadHardwareLen(8)));

        let mut b = REPLY;
        b[5] = 16;
        assert_eq!(ArpRepr::from_bytes(&b), Err(WireError::BadProtocolLen(16)));
    }

    #[test]
    fn unknown_opcodes_parse_and_round_trip() {
        let mut b = REPLY;
        b[7] = 3; // RARP request
        let repr = ArpRepr::from_bytes(&b).unwrap();
        assert_eq!(repr.op, Operation::Unknown(3));
        assert_eq!(repr.to_bytes(), b);
        assert_eq!(Operation::from(1), Operation::Request);
        assert_eq!(Operation::from(2), Operation::Reply);
        assert_eq!(u16::from(Operation::Unknown(0xffff)), 0xffff);
    }

    #[test]
    fn probe_is_recognised() {
        let probe = ArpRepr::request(REQUESTER_MAC, Ipv4Addr::UNSPECIFIED, OUR_IP);
        assert!(probe.is_probe());
        assert!(!probe.is_gratuitous());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep: every length up to 64, many byte patterns.
        let mut state = 0x1234_5678u32;
        for len in 0..64 {
            for _ in 0..64 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        state as u8
                    })
                    .collect();
                if let Ok(repr) = ArpRepr::from_bytes(&bytes) {
                    // The same bytes, but that IEEE 802 goes out as Ethernet.
                    assert_eq!(repr.to_bytes()[2..], bytes[2..28]);
                }
            }
        }
    }
}
