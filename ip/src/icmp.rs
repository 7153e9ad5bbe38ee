//! ICMP messages (RFC 792), the subset a host and a router need: echo, destination
//! unreachable, time exceeded, redirect, parameter problem. Parsing verifies the checksum; emitting fills it.

use crate::checksum;
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 8;

/// How much of an offending datagram an ICMP error quotes: up to 576 bytes in all
/// (RFC 1812 4.3.2.3), as Linux's `icmp_send`.
pub(crate) const ERROR_QUOTE_MAX: usize = 576 - crate::ipv4::HEADER_LEN - HEADER_LEN;

pub mod kind {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// The last type RFC 792 and RFC 950 define (address mask reply); Linux's
    /// `NR_ICMP_TYPES`.
    pub const LAST_KNOWN: u8 = 18;

    /// Error messages (as opposed to queries): never answered with another error
    /// (RFC 1122 3.2.2).
    pub fn is_error(t: u8) -> bool {
        matches!(
            t,
            DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM
        )
    }
}

/// Destination unreachable codes (RFC 792, RFC 1812 5.2.7.1).
pub mod unreach {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
}

/// Time exceeded codes.
pub mod exceeded {
    pub const TTL: u8 = 0;
    pub const REASSEMBLY: u8 = 1;
}

/// Parameter problem codes.
pub mod param {
    /// The pointer names the octet of the original header where the error was found.
    pub const POINTER: u8 = 0;
}

/// Redirect codes.
pub mod redirect {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    /// For a type of service and network, and for one and a host (RFC 792): the last
    /// code RFC 792 defines.
    pub const TOS_HOST: u8 = 3;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IcmpError {
    #[error("ICMP message shorter than 8 bytes")]
    Truncated,
    #[error("ICMP checksum mismatch")]
    BadChecksum,
}

/// A parsed message. Error messages carry the quoted original datagram (IP header and at
/// least the first 8 bytes of its payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    EchoRequest {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    DestUnreachable {
        code: u8,
        next_hop_mtu: u16,
        original: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        original: &'a [u8],
    },
    Redirect {
        code: u8,
        gateway: Ipv4Addr,
        original: &'a [u8],
    },
    /// `pointer`: the octet of the original datagram's header found wrong (code 0).
    ParameterProblem {
        code: u8,
        pointer: u8,
        original: &'a [u8],
    },
    Other {
        kind: u8,
        code: u8,
    },
}

impl<'a> IcmpRepr<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<IcmpRepr<'a>, IcmpError> {
        if msg.len() < HEADER_LEN {
            return Err(IcmpError::Truncated);
        }
        if checksum::checksum(msg) != 0 {
            return Err(IcmpError::BadChecksum);
        }
        let (t, code) = (msg[0], msg[1]);
        let w1 = u16::from_be_bytes([msg[4], msg[5]]);
        let w2 = u16::from_be_bytes([msg[6], msg[7]]);
        let rest = &msg[HEADER_LEN..];
        Ok(match t {
            kind::ECHO_REQUEST => IcmpRepr::EchoRequest {
                ident: w1,
                seq: w2,
                data: rest,
            },
            kind::ECHO_REPLY => IcmpRepr::EchoReply {
                ident: w1,
                seq: w2,
                data: rest,
            },
            kind::DEST_UNREACHABLE => IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu: w2,
                original: rest,
            },
            kind::TIME_EXCEEDED => IcmpRepr::TimeExceeded {
                code,
                original: rest,
            },
            kind::REDIRECT => IcmpRepr::Redirect {
                code,
                gateway: Ipv4Addr::new(msg[4], msg[5], msg[6], msg[7]),
                original: rest,
            },
            kind::PARAMETER_PROBLEM => IcmpRepr::ParameterProblem {
                code,
                pointer: msg[4],
                original: rest,
            },
            _ => IcmpRepr::Other { kind: t, code },
        })
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                IcmpRepr::EchoRequest { data, .. } | IcmpRepr::EchoReply { data, .. } => data.len(),
                IcmpRepr::DestUnreachable { original, .. }
                | IcmpRepr::TimeExceeded { original, .. }
                | IcmpRepr::Redirect { original, .. }
                | IcmpRepr::ParameterProblem { original, .. } => original.len(),
                IcmpRepr::Other { .. } => 0,
            }
    }

    /// Write the message, checksum included, into `buf[..self.buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let (t, code, word, body): (u8, u8, [u8; 4], &[u8]) = match *self {
            IcmpRepr::EchoRequest { ident, seq, data } => {
                (kind::ECHO_REQUEST, 0, join(ident, seq), data)
            }
            IcmpRepr::EchoReply { ident, seq, data } => {
                (kind::ECHO_REPLY, 0, join(ident, seq), data)
            }
            IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            } => (
                kind::DEST_UNREACHABLE,
                code,
                join(0, next_hop_mtu),
                original,
            ),
            IcmpRepr::TimeExceeded { code, original } => {
                (kind::TIME_EXCEEDED, code, [0; 4], original)
            }
            IcmpRepr::Redirect {
                code,
                gateway,
                original,
            } => (kind::REDIRECT, code, gateway.octets(), original),
            IcmpRepr::ParameterProblem {
                code,
                pointer,
                original,
            } => (kind::PARAMETER_PROBLEM, code, [pointer, 0, 0, 0], original),
            IcmpRepr::Other { kind, code } => (kind, code, [0; 4], &[][..]),
        };
        let n = HEADER_LEN + body.len();
        let m = &mut buf[..n];
        m[0] = t;
        m[1] = code;
        m[2] = 0;
        m[3] = 0;
        m[4..8].copy_from_slice(&word);
        m[HEADER_LEN..].copy_from_slice(body);
        let c = checksum::checksum(m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }

    pub fn is_error(&self) -> bool {
        matches!(
            self,
            IcmpRepr::DestUnreachable { .. }
                | IcmpRepr::TimeExceeded { .. }
                | IcmpRepr::Redirect { .. }
                | IcmpRepr::ParameterProblem { .. }
        )
    }
}

fn join(a: u16, b: u16) -> [u8; 4] {
    let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
    [a[0], a[1], b[0], b[1]]
}

/// Human description of an error, in the words Linux's ping uses.
pub fn describe_error(kind_: u8, code: u8) -> &'static str {
    match (kind_, code) {
        (kind::DEST_UNREACHABLE, unreach::NET) => "Destination Net Unreachable",
        (kind::DEST_UNREACHABLE, unreach::HOST) => "Destination Host Unreachable",
        (kind::DEST_UNREACHABLE, unreach::PROTOCOL) => "Destination Protocol Unreachable",
        (kind::DEST_UNREACHABLE, unreach::PORT) => "Destination Port Unreachable",
        (kind::DEST_UNREACHABLE, unreach::FRAG_NEEDED) => "Frag needed and DF set",
        (kind::DEST_UNREACHABLE, 5) => "Source Route Failed",
        (kind::DEST_UNREACHABLE, 6) => "Destination Net Unknown",
        (kind::DEST_UNREACHABLE, 7) => "Destination Host Unknown",
        (kind::DEST_UNREACHABLE, 8) => "Source Host Isolated",
        (kind::DEST_UNREACHABLE, 9) => "Destination Net Prohibited",
        (kind::DEST_UNREACHABLE, 10) => "Destination Host Prohibited",
        (kind::DEST_UNREACHABLE, 11) => "Destination Net Unreachable for Type of Service",
        (kind::DEST_UNREACHABLE, 12) => "Destination Host Unreachable for Type of Service",
        (kind::DEST_UNREACHABLE, 13) => "Packet filtered",
        (kind::DEST_UNREACHABLE, 14) => "Precedence Violation",
        (kind::DEST_UNREACHABLE, 15) => "Precedence Cutoff",
        (kind::DEST_UNREACHABLE, _) => "Destination Unreachable",
        (kind::TIME_EXCEEDED, exceeded::TTL) => "Time to live exceeded",
        (kind::TIME_EXCEEDED, _) => "Frag reassembly time exceeded",
        (kind::REDIRECT, redirect::NET) => "Redirect Network",
        (kind::REDIRECT, redirect::HOST) => "Redirect Host",
        (kind::REDIRECT, 2) => "Redirect Type of Service and Network",
        (kind::REDIRECT, 3) => "Redirect Type of Service and Host",
        (kind::REDIRECT, _) => "Redirect",
        (kind::SOURCE_QUENCH, _) => "Source Quench",
        (kind::PARAMETER_PROBLEM, _) => "Parameter problem",
        _ => "Unknown ICMP message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request from Linux ping: id 0x000c, seq 1, 8 bytes of data.
    const ECHO: [u8; 16] = [
        0x08, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    fn with_checksum(mut m: Vec<u8>) -> Vec<u8> {
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }

    #[test]
    fn echo_round_trip() {
        let m = with_checksum(ECHO.to_vec());
        let r = IcmpRepr::parse(&m).unwrap();
        assert_eq!(
            r,
            IcmpRepr::EchoRequest {
                ident: 12,
                seq: 1,
                data: &[1, 2, 3, 4, 5, 6, 7, 8]
            }
        );
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut out);
        assert_eq!(out, m);
        let e = etherparse::Icmpv4Slice::from_slice(&out).unwrap();
        assert_eq!(e.checksum(), u16::from_be_bytes([m[2], m[3]]));
    }

    #[test]
    fn bad_checksum_and_truncation() {
        assert_eq!(IcmpRepr::parse(&ECHO[..7]), Err(IcmpError::Truncated));
        let mut m = with_checksum(ECHO.to_vec());
        m[9] ^= 0xff;
        assert_eq!(IcmpRepr::parse(&m), Err(IcmpError::BadChecksum));
    }

    #[test]
    fn errors_carry_the_original() {
        let orig = [0x45u8; 28];
        for r in [
            IcmpRepr::DestUnreachable {
                code: unreach::PORT,
                next_hop_mtu: 0,
                original: &orig,
            },
            IcmpRepr::TimeExceeded {
                code: exceeded::TTL,
                original: &orig,
            },
            IcmpRepr::Redirect {
                code: redirect::HOST,
                gateway: Ipv4Addr::new(10, 0, 0, 3),
                original: &orig,
            },
        ] {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut buf);
            let back = IcmpRepr::parse(&buf).unwrap();
            assert_eq!(back, r);
            assert!(back.is_error() && kind::is_error(buf[0]));
        }
        assert_eq!(describe_error(3, 1), "Destination Host Unreachable");
    }
}
