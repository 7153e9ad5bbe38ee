//! DHCP messages (RFC 2131 2, on the BOOTP format of RFC 951) and the options a client
//! uses (RFC 2132). etherparse has no DHCP; this is the one parser and emitter of it.
//!
//! Parsing never panics: every length is checked against the bytes there are, and a
//! message that does not hold together is an error, not a partial read.

use netif::MacAddr;
use std::net::Ipv4Addr;
use std::time::Duration;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

/// The fixed part: op to file (RFC 2131 figure 1), then the magic cookie.
const FIXED_LEN: usize = 236;
const COOKIE: [u8; 4] = [99, 130, 83, 99];
const OPTIONS_AT: usize = FIXED_LEN + 4;
/// What a client sends is padded to this (RFC 1542 2.1: some relays drop shorter BOOTP).
const MIN_LEN: usize = 300;

const OP_REQUEST: u8 = 1;
const OP_REPLY: u8 = 2;
const HTYPE_ETHERNET: u8 = 1;
/// The flags field's broadcast bit (RFC 2131 2): answer by broadcast, as a client with no
/// address cannot take unicast to the address it is offered.
const FLAG_BROADCAST: u16 = 0x8000;

const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// RFC 2132 option codes the client uses.
mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const MTU: u8 = 26;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMS: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_SIZE: u8 = 57;
    pub const T1: u8 = 58;
    pub const T2: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match v {
            1 => Discover,
            2 => Offer,
            3 => Request,
            4 => Decline,
            5 => Ack,
            6 => Nak,
            7 => Release,
            8 => Inform,
            _ => return None,
        })
    }
}

/// DNS servers kept from one message at most.
pub const MAX_DNS: usize = 3;

/// A server's reply, with the options a client acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    pub chaddr: MacAddr,
    pub kind: MessageType,
    /// The address offered or leased (`yiaddr`).
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub lease: Option<Lifetime>,
    pub t1: Option<Duration>,
    pub t2: Option<Duration>,
    pub subnet_mask: Option<Ipv4Addr>,
    /// The first router listed (RFC 2132 3.5: in order of preference).
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// Option 15 (RFC 2132 3.17): the domain names without dots are looked up in. One
    /// name by the RFC; some servers send several, separated by spaces, and each is kept
    /// (at most `dns::MAX_SEARCH`), as clients that write it to resolv.conf's `search` do.
    pub domains: Vec<String>,
    pub mtu: Option<u16>,
    /// A NAK's reason, if the server gave one (option 56), cut to 128 bytes.
    pub message: Option<String>,
}

/// A lease's length: seconds, or for ever (0xffffffff, RFC 2131 3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    Finite(Duration),
    Infinite,
}

/// Why a received message is not a reply a client can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("shorter than a DHCP message")]
    Truncated,
    #[error("not a BOOTREPLY over Ethernet")]
    NotReply,
    #[error("no DHCP magic cookie")]
    NoCookie,
    #[error("an option runs past the end of the message")]
    BadOption,
    #[error("no message type, or an unknown one")]
    NoMessageType,
}

fn addr_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn addr_opt(v: &[u8]) -> Option<Ipv4Addr> {
    (v.len() >= 4).then(|| addr_at(v, 0))
}

/// A domain name option: text, some servers ending it with NULs, some giving several names
/// separated by spaces; a name that could not be looked up is left out.
fn domains_opt(v: &[u8]) -> Vec<String> {
    let end = v.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    let Ok(text) = std::str::from_utf8(&v[..end]) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for name in text.split_ascii_whitespace() {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if crate::dns::wire::valid_name(&name) && !out.contains(&name) {
            out.push(name);
        }
    }
    out.truncate(crate::dns::MAX_SEARCH);
    out
}

fn u32_opt(v: &[u8]) -> Option<u32> {
    (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

/// Walk one options area, calling `f(code, value)` for each option up to END (or the end of
/// the area: the file and sname fields may end without one).
fn each_option(mut b: &[u8], f: &mut dyn FnMut(u8, &[u8])) -> Result<(), ParseError> {
    while let Some((&code, rest)) = b.split_first() {
        match code {
            opt::PAD => b = rest,
            opt::END => return Ok(()),
            _ => {
                let (&len, rest) = rest.split_first().ok_or(ParseError::BadOption)?;
                let len = usize::from(len);
                if rest.len() < len {
                    return Err(ParseError::BadOption);
                }
                f(code, &rest[..len]);
                b = &rest[len..];
            }
        }
    }
    Ok(())
}

/// Append an instance of option `code` to what `joined` holds of it.
fn join_option(joined: &mut Vec<(u8, Vec<u8>)>, code: u8, v: &[u8]) {
    match joined.iter_mut().find(|(c, _)| *c == code) {
        Some((_, all)) => all.extend_from_slice(v),
        None => joined.push((code, v.to_vec())),
    }
}

impl Reply {
    /// Parse a UDP payload from port 67. An option given in several instances (split for
    /// length or across the options, file and sname fields) is their concatenation, in
    /// that order (RFC 3396 7).
    pub fn parse(b: &[u8]) -> Result<Reply, ParseError> {
        if b.len() < OPTIONS_AT {
            return Err(ParseError::Truncated);
        }
        if b[0] != OP_REPLY || b[1] != HTYPE_ETHERNET || b[2] != 6 {
            return Err(ParseError::NotReply);
        }
        if b[FIXED_LEN..OPTIONS_AT] != COOKIE {
            return Err(ParseError::NoCookie);
        }
        let mut r = Reply {
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            chaddr: MacAddr([b[28], b[29], b[30], b[31], b[32], b[33]]),
            kind: MessageType::Discover,
            yiaddr: addr_at(b, 16),
            server_id: None,
            lease: None,
            t1: None,
            t2: None,
            subnet_mask: None,
            router: None,
            dns: Vec::new(),
            domains: Vec::new(),
            mtu: None,
            message: None,
        };
        // Each option's instances joined, in the order the codes first appear.
        let mut joined: Vec<(u8, Vec<u8>)> = Vec::new();
        each_option(&b[OPTIONS_AT..], &mut |c, v| join_option(&mut joined, c, v))?;
        // RFC 2132 9.3: the file field, then sname, may carry options too (said by the
        // options field: RFC 3396 forbids the overload option in the overloaded fields).
        let overload = joined
            .iter()
            .find(|(c, _)| *c == opt::OVERLOAD)
            .and_then(|(_, v)| (v.len() == 1).then(|| v[0]))
            .unwrap_or(0);
        if overload & 1 != 0 {
            each_option(&b[FILE], &mut |c, v| join_option(&mut joined, c, v))?;
        }
        if overload & 2 != 0 {
            each_option(&b[SNAME], &mut |c, v| join_option(&mut joined, c, v))?;
        }
        let mut kind = None;
        for (code, v) in &joined {
            let v = v.as_slice();
            match *code {
                opt::MESSAGE_TYPE if v.len() == 1 => kind = MessageType::from_u8(v[0]),
                opt::SERVER_ID => r.server_id = addr_opt(v),
                opt::LEASE_TIME => {
                    r.lease = u32_opt(v).map(|s| match s {
                        u32::MAX => Lifetime::Infinite,
                        s => Lifetime::Finite(Duration::from_secs(s.into())),
                    })
                }
                opt::T1 => r.t1 = u32_opt(v).map(|s| Duration::from_secs(s.into())),
                opt::T2 => r.t2 = u32_opt(v).map(|s| Duration::from_secs(s.into())),
                opt::SUBNET_MASK => r.subnet_mask = addr_opt(v),
                opt::ROUTER => r.router = addr_opt(v),
                opt::DNS => {
                    // Only hosts' addresses: 0.0.0.0 (some routers' unset second server),
                    // a broadcast or a group is no server to ask.
                    r.dns = v
                        .chunks_exact(4)
                        .map(|c| addr_at(c, 0))
                        .filter(|a| !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()))
                        .take(MAX_DNS)
                        .collect()
                }
                opt::DOMAIN_NAME => r.domains = domains_opt(v),
                opt::MTU if v.len() == 2 => r.mtu = Some(u16::from_be_bytes([v[0], v[1]])),
                opt::MESSAGE => {
                    let t = &v[..v.len().min(128)];
                    r.message = Some(String::from_utf8_lossy(t).into_owned());
                }
                _ => {}
            }
        }
        r.kind = kind.ok_or(ParseError::NoMessageType)?;
        Ok(r)
    }
}

/// A message the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub kind: MessageType,
    pub xid: u32,
    /// Seconds since the client began to acquire or renew (RFC 2131 2).
    pub secs: u16,
    /// Ask for the reply by broadcast (no address yet).
    pub broadcast: bool,
    /// Our address, when we have one in use (renewing, rebinding, releasing).
    pub ciaddr: Ipv4Addr,
    pub chaddr: MacAddr,
    /// Option 50: the address asked for (a REQUEST in answer to an offer).
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54: the server chosen (a REQUEST in answer to an offer, a RELEASE).
    pub server_id: Option<Ipv4Addr>,
    /// Option 12.
    pub host_name: Option<String>,
}

impl Request {
    /// The UDP payload: the fixed part, the cookie, the options, padded to 300 bytes.
    pub fn emit(&self) -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_AT];
        b[0] = OP_REQUEST;
        b[1] = HTYPE_ETHERNET;
        b[2] = 6;
        b[4..8].copy_from_slice(&self.xid.to_be_bytes());
        b[8..10].copy_from_slice(&self.secs.to_be_bytes());
        let flags = if self.broadcast { FLAG_BROADCAST } else { 0 };
        b[10..12].copy_from_slice(&flags.to_be_bytes());
        b[12..16].copy_from_slice(&self.ciaddr.octets());
        b[28..34].copy_from_slice(&self.chaddr.0);
        b[FIXED_LEN..OPTIONS_AT].copy_from_slice(&COOKIE);
        let mut put = |code: u8, v: &[u8]| {
            b.push(code);
            b.push(v.len().min(255) as u8);
            b.extend_from_slice(&v[..v.len().min(255)]);
        };
        put(opt::MESSAGE_TYPE, &[self.kind as u8]);
        // RFC 2132 9.14: hardware type, then the MAC; the server keys the lease on it.
        let mut id = [HTYPE_ETHERNET, 0, 0, 0, 0, 0, 0];
        id[1..].copy_from_slice(&self.chaddr.0);
        put(opt::CLIENT_ID, &id);
        if let Some(a) = self.requested_ip {
            put(opt::REQUESTED_IP, &a.octets());
        }
        if let Some(s) = self.server_id {
            put(opt::SERVER_ID, &s.octets());
        }
        if matches!(self.kind, MessageType::Discover | MessageType::Request) {
            put(opt::MAX_SIZE, &576u16.to_be_bytes());
            put(
                opt::PARAMS,
                &[
                    opt::SUBNET_MASK,
                    opt::ROUTER,
                    opt::DNS,
                    opt::DOMAIN_NAME,
                    opt::MTU,
                    opt::LEASE_TIME,
                    opt::SERVER_ID,
                    opt::T1,
                    opt::T2,
                ],
            );
            if let Some(h) = &self.host_name {
                put(opt::HOST_NAME, h.as_bytes());
            }
        }
        b.push(opt::END);
        if b.len() < MIN_LEN {
            b.resize(MIN_LEN, opt::PAD);
        }
        b
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x00, 0x34, 0x45, 0x67, 0x89, 0xab]);

    /// A reply as dnsmasq builds one: fixed part, cookie, then `options` (END appended).
    pub(crate) fn reply(kind: u8, xid: u32, yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_AT];
        b[0] = OP_REPLY;
        b[1] = HTYPE_ETHERNET;
        b[2] = 6;
        b[4..8].copy_from_slice(&xid.to_be_bytes());
        b[16..20].copy_from_slice(&yiaddr);
        b[28..34].copy_from_slice(&MAC.0);
        b[FIXED_LEN..OPTIONS_AT].copy_from_slice(&COOKIE);
        b.extend_from_slice(&[opt::MESSAGE_TYPE, 1, kind]);
        b.extend_from_slice(options);
        b.push(opt::END);
        b
    }

    #[test]
    fn the_domain_name_option_is_taken_when_it_is_a_valid_name() {
        let domains = |v: &[u8]| {
            let mut o = vec![opt::DOMAIN_NAME, v.len() as u8];
            o.extend_from_slice(v);
            Reply::parse(&reply(5, 1, [10, 0, 0, 57], &o))
                .unwrap()
                .domains
        };
        assert_eq!(domains(b"Test.LAN"), ["test.lan"]);
        // A trailing dot, or NULs some servers end it with.
        assert_eq!(domains(b"test.lan."), ["test.lan"]);
        assert_eq!(domains(b"test.lan\0\0"), ["test.lan"]);
        // Several, separated by spaces: each valid one, once, at most six.
        assert_eq!(domains(b"a.lan b..lan  c.lan a.lan"), ["a.lan", "c.lan"]);
        assert_eq!(domains(b"a b c d e f g h").len(), 6);
        for bad in [&b""[..], b"\0", b"a..lan", b"\xff.lan", b"a_b!.lan"] {
            assert!(domains(bad).is_empty(), "{bad:?}");
        }
        assert!(Reply::parse(&reply(5, 1, [10, 0, 0, 57], &[]))
            .unwrap()
            .domains
            .is_empty());
    }

    #[test]
    fn a_discover_is_a_padded_bootrequest_with_our_mac_and_options() {
        let b = Request {
            kind: MessageType::Discover,
            xid: 0x1234_5678,
            secs: 3,
            broadcast: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: MAC,
            requested_ip: None,
            server_id: None,
            host_name: Some("tapip".into()),
        }
        .emit();
        assert_eq!(b.len(), MIN_LEN);
        assert_eq!(&b[..4], &[1, 1, 6, 0]);
        assert_eq!(&b[4..8], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(&b[8..10], &[0, 3]);
        assert_eq!(&b[10..12], &[0x80, 0]);
        assert_eq!(&b[28..34], &MAC.0);
        assert_eq!(&b[236..240], &COOKIE);
        assert_eq!(&b[240..243], &[53, 1, 1]);
        assert_eq!(
            &b[243..252],
            &[61, 7, 1, 0x00, 0x34, 0x45, 0x67, 0x89, 0xab]
        );
        let mut seen = Vec::new();
        each_option(&b[OPTIONS_AT..], &mut |c, v| seen.push((c, v.to_vec()))).unwrap();
        assert!(seen.contains(&(12, b"tapip".to_vec())));
        assert!(seen
            .iter()
            .any(|(c, v)| *c == 55 && v.contains(&3) && v.contains(&6)));
        assert!(!seen.iter().any(|(c, _)| *c == 50 || *c == 54));
    }

    #[test]
    fn a_request_names_the_address_and_the_server() {
        let b = Request {
            kind: MessageType::Request,
            xid: 7,
            secs: 0,
            broadcast: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: MAC,
            requested_ip: Some(Ipv4Addr::new(10, 0, 0, 77)),
            server_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
            host_name: None,
        }
        .emit();
        let mut seen = Vec::new();
        each_option(&b[OPTIONS_AT..], &mut |c, v| seen.push((c, v.to_vec()))).unwrap();
        assert!(seen.contains(&(50, vec![10, 0, 0, 77])));
        assert!(seen.contains(&(54, vec![10, 0, 0, 2])));
    }

    #[test]
    fn an_ack_is_read_with_every_option_the_client_uses() {
        let b = reply(
            5,
            99,
            [10, 0, 0, 77],
            &[
                54, 4, 10, 0, 0, 2, //
                51, 4, 0, 0, 0x0e, 0x10, // 3600 s
                58, 4, 0, 0, 0, 100, //
                59, 4, 0, 0, 1, 0, //
                1, 4, 255, 255, 255, 0, //
                3, 8, 10, 0, 0, 1, 10, 0, 0, 254, //
                6, 16, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, //
                26, 2, 0x05, 0xdc, //
            ],
        );
        let r = Reply::parse(&b).unwrap();
        assert_eq!(r.kind, MessageType::Ack);
        assert_eq!(r.xid, 99);
        assert_eq!(r.chaddr, MAC);
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 0, 77));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(r.lease, Some(Lifetime::Finite(Duration::from_secs(3600))));
        assert_eq!(r.t1, Some(Duration::from_secs(100)));
        assert_eq!(r.t2, Some(Duration::from_secs(256)));
        assert_eq!(r.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(r.router, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.dns.len(), MAX_DNS, "bounded");
        assert_eq!(r.mtu, Some(1500));
    }

    #[test]
    fn options_overloaded_into_the_file_field_are_read() {
        let mut b = reply(2, 1, [10, 0, 0, 9], &[52, 1, 1]);
        b[FILE.start..FILE.start + 6].copy_from_slice(&[54, 4, 10, 0, 0, 2]);
        b[FILE.start + 6] = opt::END;
        let r = Reply::parse(&b).unwrap();
        assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn an_infinite_lease_and_a_nak_message_are_read() {
        let r = Reply::parse(&reply(5, 1, [10, 0, 0, 9], &[51, 4, 255, 255, 255, 255])).unwrap();
        assert_eq!(r.lease, Some(Lifetime::Infinite));
        let r = Reply::parse(&reply(6, 1, [0; 4], &[56, 3, b'n', b'o', 0xff])).unwrap();
        assert_eq!(r.kind, MessageType::Nak);
        assert_eq!(r.message.as_deref(), Some("no\u{fffd}"));
    }

    #[test]
    fn broken_messages_are_errors() {
        let good = reply(2, 1, [10, 0, 0, 9], &[54, 4, 10, 0, 0, 2]);
        assert_eq!(Reply::parse(&good[..200]), Err(ParseError::Truncated));
        let mut b = good.clone();
        b[0] = OP_REQUEST;
        assert_eq!(Reply::parse(&b), Err(ParseError::NotReply));
        let mut b = good.clone();
        b[FIXED_LEN] = 0;
        assert_eq!(Reply::parse(&b), Err(ParseError::NoCookie));
        // An option whose length runs past the end.
        let mut b = good.clone();
        b.pop();
        b.extend_from_slice(&[3, 200, 1, 2]);
        assert_eq!(Reply::parse(&b), Err(ParseError::BadOption));
        let b = reply(42, 1, [0; 4], &[]);
        assert_eq!(Reply::parse(&b), Err(ParseError::NoMessageType));
    }

    #[test]
    fn no_input_panics() {
        // Every prefix of a valid reply, and seeded random mutations of it.
        let good = reply(
            5,
            1,
            [10, 0, 0, 9],
            &[52, 1, 3, 54, 4, 10, 0, 0, 2, 6, 8, 1, 1, 1, 1, 2, 2, 2, 2],
        );
        crate::testing::parse_mutations(&good, 7, |b| {
            let _ = Reply::parse(b);
        });
    }
}

/// Option 15 as servers send it (from a review).
#[cfg(test)]
mod option_15_tests {
    use super::*;

    /// RFC 2132 3.17 makes option 15 one domain name, but some servers (an EC2 VPC's with
    /// a DHCP option set of several domains) send several, separated by spaces, and the
    /// clients that write it to resolv.conf (dhclient-script, udhcpc's script: `search
    /// $domain`) search each. The whole option was dropped: none of the domains was
    /// searched, not even the first.
    #[test]
    fn an_option_15_of_several_domains_is_not_dropped_whole() {
        let v = b"corp.example.com example.com";
        let mut o = vec![opt::DOMAIN_NAME, v.len() as u8];
        o.extend_from_slice(v);
        let r = Reply::parse(&super::tests::reply(5, 1, [10, 0, 0, 57], &o)).unwrap();
        assert_eq!(r.domains, ["corp.example.com", "example.com"]);
    }
}

/// An independent review (review19a): option parsing against RFC 3396.
#[cfg(test)]
mod review19_tests {
    use super::*;

    /// RFC 3396 5 and 7: an option longer than the space left in the options field is
    /// split into several instances (here across the options field and the file field
    /// the overload option opens, as ISC dhcpd does when it runs out of room), and a
    /// client "MUST concatenate" them. `Reply::parse` keeps only the first instance: of
    /// the server's two DNS servers the second is lost.
    #[test]
    fn an_option_split_across_the_options_and_file_fields_is_concatenated() {
        let mut b = super::tests::reply(5, 1, [10, 0, 0, 9], &[52, 1, 1, 6, 4, 1, 1, 1, 1]);
        b[FILE.start..FILE.start + 6].copy_from_slice(&[6, 4, 2, 2, 2, 2]);
        b[FILE.start + 6] = opt::END;
        let r = Reply::parse(&b).unwrap();
        assert_eq!(
            r.dns,
            [Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)]
        );
    }

    /// The same within the options field: option 15 split in two instances ("corp." and
    /// "example.com"), as RFC 3396 lets an encoder split any option. Only "corp" is
    /// searched.
    #[test]
    fn a_domain_name_option_split_in_two_instances_is_one_name() {
        let mut o = vec![opt::DOMAIN_NAME, 5];
        o.extend_from_slice(b"corp.");
        o.extend_from_slice(&[opt::DOMAIN_NAME, 11]);
        o.extend_from_slice(b"example.com");
        let r = Reply::parse(&super::tests::reply(5, 1, [10, 0, 0, 9], &o)).unwrap();
        assert_eq!(r.domains, ["corp.example.com"]);
    }
}
