//! IPv4 header (RFC 791 section 3.1): a checked view over received bytes and a
//! representation that emits a 20-byte header in place.

use crate::checksum;
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 20;
/// Largest payload of one IPv4 datagram with a minimal header: 65,535 - 20.
pub const MAX_PAYLOAD: usize = 65_515;

pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;

    pub fn name(p: u8) -> &'static str {
        match p {
            ICMP => "icmp",
            IGMP => "igmp",
            TCP => "tcp",
            UDP => "udp",
            _ => "other",
        }
    }
}

mod flag {
    pub const DF: u16 = 0x4000;
    pub const MF: u16 = 0x2000;
    pub const OFFSET_MASK: u16 = 0x1fff;
}

/// Why a datagram was rejected before it reached any protocol (each is a drop counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("shorter than an IPv4 header")]
    Truncated,
    #[error("version is not 4")]
    BadVersion,
    #[error("header length below 20 bytes or beyond the packet")]
    BadHeaderLength,
    #[error("total length smaller than the header or larger than the frame")]
    BadTotalLength,
    #[error("header checksum mismatch")]
    BadChecksum,
}

/// A datagram whose version, IHL and total length are known good: no accessor can panic.
/// `payload()` stops at the total length, so Ethernet padding is never taken as data.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Validate version, IHL and total length (RFC 1122 3.2.1.1-3.2.1.2). The checksum is a
    /// separate step, [`Ipv4Packet::verify_checksum`], so callers can count it apart.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Ipv4Packet<'a>, HeaderError> {
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::Truncated);
        }
        if bytes[0] >> 4 != 4 {
            return Err(HeaderError::BadVersion);
        }
        let hl = usize::from(bytes[0] & 0x0f) * 4;
        if hl < HEADER_LEN || hl > bytes.len() {
            return Err(HeaderError::BadHeaderLength);
        }
        let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if total < hl || total > bytes.len() {
            return Err(HeaderError::BadTotalLength);
        }
        Ok(Ipv4Packet {
            bytes: &bytes[..total],
        })
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.bytes[0] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.bytes[1]
    }
    pub fn total_len(&self) -> usize {
        self.bytes.len()
    }
    pub fn ident(&self) -> u16 {
        u16::from_be_bytes([self.bytes[4], self.bytes[5]])
    }
    fn flags_offset(&self) -> u16 {
        u16::from_be_bytes([self.bytes[6], self.bytes[7]])
    }
    pub fn dont_fragment(&self) -> bool {
        self.flags_offset() & flag::DF != 0
    }
    pub fn more_fragments(&self) -> bool {
        self.flags_offset() & flag::MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        usize::from(self.flags_offset() & flag::OFFSET_MASK) * 8
    }
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }
    pub fn ttl(&self) -> u8 {
        self.bytes[8]
    }
    pub fn protocol(&self) -> u8 {
        self.bytes[9]
    }
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[12],
            self.bytes[13],
            self.bytes[14],
            self.bytes[15],
        )
    }
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        )
    }
    /// The header, options included.
    pub fn header(&self) -> &'a [u8] {
        &self.bytes[..self.header_len()]
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len()..]
    }
    /// The whole datagram (header and payload, no link padding).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The fields of a header this stack emits (no options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Write a 20-byte header with the checksum into `buf[..20]`. `frag_offset` is in bytes
    /// and must be a multiple of 8.
    pub fn emit(&self, buf: &mut [u8], frag_offset: usize, more_fragments: bool) {
        let total = (HEADER_LEN + self.payload_len).min(usize::from(u16::MAX)) as u16;
        let mut fo = ((frag_offset / 8) as u16) & flag::OFFSET_MASK;
        if self.dont_fragment {
            fo |= flag::DF;
        }
        if more_fragments {
            fo |= flag::MF;
        }
        let h = &mut buf[..HEADER_LEN];
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10] = 0;
        h[11] = 0;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

impl Ipv4Repr {
    /// Write a header carrying `options` (whose length is a multiple of 4, at most 40) into
    /// `buf[..20 + options.len()]`, for fragments that keep options (RFC 791 3.2).
    pub fn emit_with_options(
        &self,
        buf: &mut [u8],
        options: &[u8],
        frag_offset: usize,
        more_fragments: bool,
    ) {
        if options.is_empty() {
            return self.emit(buf, frag_offset, more_fragments);
        }
        let hl = HEADER_LEN + options.len();
        let with_opts = Ipv4Repr {
            payload_len: self.payload_len + options.len(),
            ..*self
        };
        with_opts.emit(buf, frag_offset, more_fragments);
        buf[0] = 0x40 | ((hl / 4) as u8 & 0x0f);
        buf[HEADER_LEN..hl].copy_from_slice(options);
        fill_checksum(&mut buf[..hl]);
    }
}

/// The options of a header that every fragment must repeat: those with the "copied" flag
/// (RFC 791 3.1, "Options"), padded with End-of-Options to a multiple of 4 bytes. A
/// malformed option ends the list.
pub fn copied_options(options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(&len) = options.get(i + 1) else {
                    break;
                };
                let len = usize::from(len);
                if len < 2 || i + len > options.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&options[i..i + len]);
                }
                i += len;
            }
        }
    }
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// The options of an echo reply to a request that carried `options` (RFC 1122 3.2.2.6):
/// a record route and a timestamp option are returned with this host added (`us`, the
/// address the request came to, and `stamp`), "without truncation" so that the route and
/// the times cover the whole round trip; a full record route is returned as it came, a
/// full timestamp option with its overflow count raised. Other options are not returned:
/// source routes are not followed back (this host does not route by source, see
/// `drop_source_route`). Padded with End-of-Options to a multiple of 4 bytes; empty when
/// there is nothing to return. `options` passed [`check_options`].
pub fn echo_reply_options(
    options: &[u8],
    us: Ipv4Addr,
    is_ours: &dyn Fn(Ipv4Addr) -> bool,
    stamp: u32,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some((kind, at)) = next_option(options, i) {
        i = at.end;
        let len = at.len();
        match kind {
            option::RECORD_ROUTE if len >= 3 => {
                let at = out.len();
                out.extend_from_slice(&options[i - len..i]);
                record(&mut out[at..], &us.octets());
            }
            option::TIMESTAMP if len >= 4 => {
                let at = out.len();
                out.extend_from_slice(&options[i - len..i]);
                timestamp(&mut out[at..], us, is_ours, stamp);
            }
            _ => {}
        }
    }
    while out.len() % 4 != 0 {
        out.push(option::END);
    }
    out
}

/// A router forwarding a datagram adds itself, in place, to its record route option and
/// its timestamp option (RFC 791 3.1; Linux's `ip_forward_options`): `us` is the address
/// of the interface it leaves by ("as known in the environment into which this datagram is
/// being forwarded"). A full record route is left as it is; a full timestamp has its
/// overflow count raised. `options` (the header after its first 20 bytes) passed
/// [`check_options`]. Returns whether anything changed (the header checksum must then be
/// computed again).
pub fn forward_options(
    options: &mut [u8],
    us: Ipv4Addr,
    is_ours: &dyn Fn(Ipv4Addr) -> bool,
    stamp: u32,
) -> bool {
    let mut changed = false;
    let mut i = 0;
    while let Some((kind, at)) = next_option(options, i) {
        i = at.end;
        let len = at.len();
        let opt = &mut options[at];
        match kind {
            option::RECORD_ROUTE if len >= 3 => changed |= record(opt, &us.octets()),
            option::TIMESTAMP if len >= 4 => {
                let before = [opt[2], opt[3]];
                timestamp(opt, us, is_ours, stamp);
                changed |= before != [opt[2], opt[3]];
            }
            _ => {}
        }
    }
    changed
}

/// The next option at or after `i` other than No-Operation: its type and where it lies;
/// `None` at End-of-Options, the end, or a length that does not fit.
fn next_option(options: &[u8], mut i: usize) -> Option<(u8, std::ops::Range<usize>)> {
    loop {
        match *options.get(i)? {
            option::END => return None,
            option::NOP => i += 1,
            kind => {
                let len = usize::from(*options.get(i + 1)?);
                return (len >= 2 && i + len <= options.len()).then_some((kind, i..i + len));
            }
        }
    }
}

/// Write `entry` at a route or timestamp option's pointer (1-based, RFC 791) and move the
/// pointer past it; false when it does not fit.
fn record(opt: &mut [u8], entry: &[u8]) -> bool {
    let p = usize::from(opt[2]);
    let Some(slot) = p
        .checked_sub(1)
        .and_then(|s| opt.get_mut(s..s + entry.len()))
    else {
        return false;
    };
    slot.copy_from_slice(entry);
    opt[2] = (p + entry.len()) as u8;
    true
}

/// Add this host to a timestamp option (RFC 791 3.1, "Internet Timestamp"): flag 0 a
/// time, flag 1 an address and a time, flag 3 a time where the next prespecified address
/// is one of ours. No room: the overflow count (the high four bits of the fourth byte)
/// goes up, except for prespecified addresses (as Linux).
fn timestamp(opt: &mut [u8], us: Ipv4Addr, is_ours: &dyn Fn(Ipv4Addr) -> bool, stamp: u32) {
    let flag = opt[3] & 0x0f;
    let mut entry = [0u8; 8];
    entry[4..].copy_from_slice(&stamp.to_be_bytes());
    let fits = match flag {
        0 => record(opt, &entry[4..]),
        1 => {
            entry[..4].copy_from_slice(&us.octets());
            record(opt, &entry)
        }
        3 => {
            let p = usize::from(opt[2]);
            if let Some(e) = p.checked_sub(1).and_then(|s| opt.get(s..s + 4)) {
                let next = Ipv4Addr::new(e[0], e[1], e[2], e[3]);
                if is_ours(next) {
                    entry[..4].copy_from_slice(&next.octets());
                    record(opt, &entry);
                }
            }
            // Another host's turn, or full: nothing to add, and no overflow.
            true
        }
        // An unknown flag: left as it came.
        _ => true,
    };
    if !fits {
        let overflow = (opt[3] >> 4).saturating_add(1).min(15);
        opt[3] = (overflow << 4) | flag;
    }
}

/// A timestamp for the option of that name at `now` (RFC 791 3.1): milliseconds, with the
/// high bit set because they count from the stack's clock, not from midnight UT (this
/// layer reads no wall clock).
pub fn option_timestamp(now_millis: u64) -> u32 {
    (now_millis as u32 & 0x7fff_ffff) | 0x8000_0000
}

/// Recompute the checksum of a header in place (after changing TTL, say).
pub fn fill_checksum(header: &mut [u8]) {
    if header.len() < HEADER_LEN {
        return;
    }
    header[10] = 0;
    header[11] = 0;
    let c = checksum::checksum(header);
    header[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Addresses that never name a single host as a source (RFC 1122 3.2.1.3, RFC 1812 5.3.7):
/// "this network" (0/8), broadcast, multicast, class E.
pub fn is_martian_source(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 0 || ip.is_broadcast() || ip.is_multicast() || ip.octets()[0] >= 240
}

/// Option types of RFC 791 3.1 that input looks into.
mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const RECORD_ROUTE: u8 = 7;
    pub const TIMESTAMP: u8 = 68;
    pub const LOOSE_SOURCE_ROUTE: u8 = 131;
    pub const STRICT_SOURCE_ROUTE: u8 = 137;
}

/// Walk a header's options (RFC 791 3.1) as Linux's `ip_options_compile` does:
/// `Err(offset)` of the octet an ICMP parameter problem points at, for
/// - a lone type octet at the header's end, a length under 2 or past the header, a second
///   record route, timestamp or source route option: the option's type octet;
/// - a route option shorter than 3 octets or a timestamp shorter than 4: its length;
/// - a pointer before the option's data, or inside it without room for a whole entry (an
///   address; a time, or an address and a time for timestamp flags 1 and 3): the pointer;
/// - a full timestamp option (other than prespecified) whose overflow count is already
///   15: its flags octet;
///
/// else the source route it carries, if any.
pub fn check_options(header: &[u8]) -> Result<Option<SourceRoute>, usize> {
    let mut route = None;
    let (mut rr, mut ts, mut srr) = (false, false, false);
    let mut i = HEADER_LEN;
    while i < header.len() {
        let kind = header[i];
        match kind {
            option::END => break,
            option::NOP => i += 1,
            _ => {
                let len = usize::from(*header.get(i + 1).ok_or(i)?);
                if len < 2 || i + len > header.len() {
                    return Err(i);
                }
                let opt = &header[i..i + len];
                match kind {
                    option::RECORD_ROUTE
                    | option::LOOSE_SOURCE_ROUTE
                    | option::STRICT_SOURCE_ROUTE => {
                        let seen = if kind == option::RECORD_ROUTE {
                            &mut rr
                        } else {
                            &mut srr
                        };
                        if std::mem::replace(seen, true) {
                            return Err(i);
                        }
                        if len < 3 {
                            return Err(i + 1);
                        }
                        let p = usize::from(opt[2]);
                        if p < 4 {
                            return Err(i + 2);
                        }
                        if kind == option::RECORD_ROUTE {
                            if p <= len && p + 3 > len {
                                return Err(i + 2);
                            }
                        } else if p <= len {
                            route = Some(SourceRoute::Pending);
                        } else {
                            route = Some(SourceRoute::Completed);
                        }
                    }
                    option::TIMESTAMP => {
                        if std::mem::replace(&mut ts, true) {
                            return Err(i);
                        }
                        if len < 4 {
                            return Err(i + 1);
                        }
                        let p = usize::from(opt[2]);
                        let flag = opt[3] & 0x0f;
                        if p < 5 {
                            return Err(i + 2);
                        }
                        if p <= len {
                            let entry = if flag == 1 || flag == 3 { 8 } else { 4 };
                            if p + 3 > len || p + entry - 1 > len {
                                return Err(i + 2);
                            }
                        } else if flag != 3 && opt[3] >> 4 == 15 {
                            return Err(i + 3);
                        }
                    }
                    _ => {}
                }
                i += len;
            }
        }
    }
    Ok(route)
}

/// A loose or strict source route option (RFC 791 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRoute {
    /// Its pointer at or before its length: this host is a hop on the way.
    Pending,
    /// Used up: this host is the destination.
    Completed,
}

/// Destinations a router must not forward to (RFC 1812 5.3.7): "this network" (0/8) and
/// class E (limited broadcast, 255.255.255.255, is never forwarded either).
pub fn is_martian_destination(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 0 || ip.octets()[0] >= 240
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux `ping -c1 10.0.0.1` from 10.0.0.2: IPv4 + ICMP echo request, 84 bytes.
    pub(crate) const PING: [u8; 84] = {
        let mut p = [0u8; 84];
        let head: [u8; 28] = [
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x0a, 0x61, 0x0a, 0x00,
            0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x01,
        ];
        let mut i = 0;
        while i < 28 {
            p[i] = head[i];
            i += 1;
        }
        p
    };

    #[test]
    fn parse_fixture() {
        let p = Ipv4Packet::new_checked(&PING).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!((p.ttl(), p.protocol(), p.ident()), (64, 1, 0x1c46));
        assert!(p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.payload().len(), 64);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut padded = PING.to_vec();
        padded.extend_from_slice(&[0xee; 10]);
        let p = Ipv4Packet::new_checked(&padded).unwrap();
        assert_eq!(p.as_bytes().len(), 84);
    }

    #[test]
    fn each_bad_header_has_its_cause() {
        assert_eq!(
            Ipv4Packet::new_checked(&PING[..19]).unwrap_err(),
            HeaderError::Truncated
        );
        let mut v6 = PING;
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6).unwrap_err(),
            HeaderError::BadVersion
        );
        let mut ihl = PING;
        ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&ihl).unwrap_err(),
            HeaderError::BadHeaderLength
        );
        let mut long = PING;
        long[2] = 0x01;
        assert_eq!(
            Ipv4Packet::new_checked(&long).unwrap_err(),
            HeaderError::BadTotalLength
        );
        let mut short = PING;
        short[3] = 0x10;
        short[2] = 0;
        assert_eq!(
            Ipv4Packet::new_checked(&short).unwrap_err(),
            HeaderError::BadTotalLength
        );
        let mut sum = PING;
        sum[8] = 63;
        assert!(!Ipv4Packet::new_checked(&sum).unwrap().verify_checksum());
    }

    #[test]
    fn no_length_panics() {
        for n in 0..PING.len() {
            let _ =
                Ipv4Packet::new_checked(&PING[..n]).map(|p| (p.payload().len(), p.header().len()));
        }
    }

    #[test]
    fn echo_replies_return_record_route_and_timestamps_with_this_host() {
        let us = Ipv4Addr::new(10, 0, 0, 1);
        let stamp = 0x8000_1234u32;
        let mine = |a: Ipv4Addr| a == us || a == Ipv4Addr::new(10, 0, 1, 1);
        // Record route with one address recorded and room for two more.
        let rr = [7, 11, 8, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let out = echo_reply_options(&rr[..11], us, &mine, stamp);
        assert_eq!(out, [7, 11, 12, 10, 0, 0, 2, 10, 0, 0, 1, 0]);
        // Full: returned as it came.
        let full = [7, 7, 8, 10, 0, 0, 2, 0];
        assert_eq!(echo_reply_options(&full, us, &mine, stamp), full);
        // Timestamps only (flag 0), room for one.
        let ts = [68, 8, 5, 0, 0, 0, 0, 0];
        let mut want = vec![68, 8, 9, 0];
        want.extend_from_slice(&stamp.to_be_bytes());
        assert_eq!(echo_reply_options(&ts, us, &mine, stamp), want);
        // No room left: the overflow count goes up, the data stays.
        let ts_full = [68, 8, 9, 0x20, 1, 2, 3, 4];
        assert_eq!(
            echo_reply_options(&ts_full, us, &mine, stamp),
            [68, 8, 9, 0x30, 1, 2, 3, 4]
        );
        // Address and time (flag 1).
        let ts1 = [68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut want = vec![68, 12, 13, 1, 10, 0, 0, 1];
        want.extend_from_slice(&stamp.to_be_bytes());
        assert_eq!(echo_reply_options(&ts1, us, &mine, stamp), want);
        // Prespecified (flag 3): stamped where our address is next, not where another's is.
        let ts3 = [68, 12, 5, 3, 10, 0, 0, 1, 0, 0, 0, 0];
        let mut want = vec![68, 12, 13, 3, 10, 0, 0, 1];
        want.extend_from_slice(&stamp.to_be_bytes());
        assert_eq!(echo_reply_options(&ts3, us, &mine, stamp), want);
        let other = [68, 12, 5, 3, 10, 0, 0, 9, 0, 0, 0, 0];
        assert_eq!(echo_reply_options(&other, us, &mine, stamp), other);
        // Another of our addresses counts too; a full prespecified list gets no overflow.
        let second = [68, 12, 5, 3, 10, 0, 1, 1, 0, 0, 0, 0];
        assert_eq!(
            &echo_reply_options(&second, us, &mine, stamp)[..8],
            &[68, 12, 13, 3, 10, 0, 1, 1]
        );
        let full3 = [68, 12, 13, 3, 10, 0, 0, 1, 1, 2, 3, 4];
        assert_eq!(echo_reply_options(&full3, us, &mine, stamp), full3);
        // Both, behind NOPs; a source route and an unknown option are not returned.
        let mut both = vec![1, 131, 7, 8, 10, 0, 0, 9, 1];
        both.extend_from_slice(&rr[..11]);
        both.extend_from_slice(&[148, 4, 0, 0]);
        both.extend_from_slice(&ts);
        let out = echo_reply_options(&both, us, &mine, stamp);
        assert_eq!(out.len(), 20, "11 + 8, padded");
        assert_eq!(&out[..11], &[7, 11, 12, 10, 0, 0, 2, 10, 0, 0, 1]);
        assert_eq!(&out[11..15], &[68, 8, 9, 0]);
        assert_eq!(out[19], 0);
        // Nothing to return.
        assert!(echo_reply_options(&[1, 1, 0, 0], us, &mine, stamp).is_empty());
        assert!(echo_reply_options(&[131, 7, 8, 10, 0, 0, 9, 0], us, &mine, stamp).is_empty());
    }

    /// The octet each malformed option is reported at, as Linux's `ip_options_compile`.
    #[test]
    fn malformed_options_are_reported_where_linux_points() {
        let at = |opts: &[u8]| {
            let mut h = vec![0x45u8; HEADER_LEN];
            h.extend_from_slice(opts);
            check_options(&h)
        };
        let cases: [(&[u8], usize); 14] = [
            (&[1, 1, 1, 7], 23),                 // a lone type octet
            (&[148, 9, 0, 0], 20),               // length past the header
            (&[68, 0, 5, 0], 20),                // length 0
            (&[7, 2, 0, 0], 21),                 // a route of length 2
            (&[131, 2, 4, 0], 21),               // a source route of length 2
            (&[68, 3, 5, 0], 21),                // a timestamp of length 3
            (&[7, 7, 2, 0, 0, 0, 0, 0], 22),     // pointer before the data
            (&[7, 7, 6, 0, 0, 0, 0, 0], 22),     // room for part of an address
            (&[68, 8, 7, 0, 0, 0, 0, 0], 22),    // part of a time
            (&[68, 8, 5, 1, 0, 0, 0, 0], 22),    // flag 1: an address, no time
            (&[68, 8, 9, 0xf0, 0, 0, 0, 0], 23), // full, overflow count at 15
            (&[7, 3, 4, 7, 3, 4, 0, 0], 23),     // a second record route
            (&[68, 4, 5, 0, 68, 4, 5, 0], 24),   // a second timestamp
            (&[131, 3, 4, 137, 3, 4, 0, 0], 23), // a second source route
        ];
        for (opts, want) in cases {
            assert_eq!(at(opts), Err(want), "{opts:?}");
        }
        // Well-formed: full ones, an overflow count below 15, a full prespecified list at
        // 15, a route of odd length (Linux does not ask for whole addresses), unknown ones.
        for opts in [
            &[7, 7, 8, 0, 0, 0, 0, 0][..],
            &[68, 8, 9, 0xe0, 0, 0, 0, 0],
            &[68, 12, 13, 0xf3, 0, 0, 0, 0, 0, 0, 0, 0],
            &[7, 9, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[148, 4, 0, 0],
        ] {
            assert_eq!(at(opts), Ok(None), "{opts:?}");
        }
        assert_eq!(
            at(&[131, 7, 4, 10, 0, 0, 9, 0]),
            Ok(Some(SourceRoute::Pending)),
            "a hop to go"
        );
        assert_eq!(
            at(&[137, 7, 8, 10, 0, 0, 9, 0]),
            Ok(Some(SourceRoute::Completed)),
            "used up"
        );
    }

    #[test]
    fn option_timestamps_are_marked_non_standard() {
        assert_eq!(option_timestamp(5), 0x8000_0005);
        assert_eq!(option_timestamp(u64::from(u32::MAX) + 7), 0x8000_0006);
    }

    #[test]
    fn copied_options_keep_only_the_copy_flag() {
        // NOP, Record Route (7, not copied, len 7), Loose Source Route (131, copied, len 7),
        // End of options.
        let opts = [1, 7, 7, 4, 0, 0, 0, 0, 131, 7, 4, 10, 0, 0, 9, 0];
        assert_eq!(copied_options(&opts), vec![131, 7, 4, 10, 0, 0, 9, 0]);
        assert!(copied_options(&[1, 1, 1, 1]).is_empty());
        // A length running past the end, or below 2, stops the walk without panicking.
        assert!(copied_options(&[131, 40, 0, 0]).is_empty());
        assert!(copied_options(&[131, 1, 0, 0]).is_empty());
        assert!(copied_options(&[131]).is_empty());
    }

    #[test]
    fn emit_with_options_sets_ihl_length_and_checksum() {
        let r = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(10, 0, 1, 5),
            protocol: protocol::UDP,
            ttl: 9,
            tos: 0,
            ident: 7,
            dont_fragment: false,
            payload_len: 16,
        };
        let opts = [131, 7, 4, 10, 0, 0, 9, 0];
        let mut buf = [0u8; 28 + 16];
        r.emit_with_options(&mut buf, &opts, 64, true);
        let p = Ipv4Packet::new_checked(&buf).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(
            (p.header_len(), p.total_len(), p.frag_offset()),
            (28, 44, 64)
        );
        assert!(p.more_fragments());
        assert_eq!(&p.header()[20..], &opts);
    }

    #[test]
    fn emit_round_trips_and_matches_etherparse() {
        let r = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(10, 0, 0, 1),
            protocol: protocol::ICMP,
            ttl: 64,
            tos: 0,
            ident: 0x1c46,
            dont_fragment: true,
            payload_len: 64,
        };
        let mut buf = [0u8; 20];
        r.emit(&mut buf, 0, false);
        assert_eq!(buf, PING[..20]);
        let mut frag = [0u8; 20 + 8];
        r.emit(&mut frag, 1480, true);
        let e = etherparse::Ipv4HeaderSlice::from_slice(&frag).unwrap();
        assert_eq!(e.fragments_offset().value(), 185);
        assert!(e.more_fragments());
        assert_eq!(e.header_checksum(), e.to_header().calc_header_checksum());
    }
}
