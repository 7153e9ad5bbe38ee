//! An IPv4 address with a prefix length (`10.0.0.1/24`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("invalid address '{0}' (expected a dotted quad like 10.0.0.1)")]
    BadAddress(String),
    #[error("invalid prefix length '{0}' (expected 0 to 32)")]
    BadPrefix(String),
    /// A host's address was asked for: `(the address given, a host's to suggest)`.
    #[error("{0} is the network's own address: give a host's, e.g. {1}")]
    NetworkAddress(Ipv4Cidr, Ipv4Cidr),
    #[error("{0} is the network's broadcast address: give a host's, e.g. {1}")]
    BroadcastAddress(Ipv4Cidr, Ipv4Cidr),
}

impl Ipv4Cidr {
    /// 0.0.0.0/0: the default route's destination.
    pub const DEFAULT: Ipv4Cidr = Ipv4Cidr {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };

    /// `addr`/32: one host.
    pub fn host(addr: Ipv4Addr) -> Ipv4Cidr {
        Ipv4Cidr { addr, prefix: 32 }
    }

    /// `None` when `prefix > 32`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        (prefix <= 32).then_some(Ipv4Cidr { addr, prefix })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn mask_bits(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The network this address is in, with host bits cleared.
    pub fn network(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: Ipv4Addr::from(u32::from(self.addr) & self.mask_bits()),
            prefix: self.prefix,
        }
    }

    /// The directed broadcast address (`None` for /31 and /32, which have none: RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix < 31).then(|| Ipv4Addr::from(u32::from(self.addr) | !self.mask_bits()))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask_bits() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    /// `A.B.C.D/N`; a bare address means `/32`.
    fn from_str(s: &str) -> Result<Ipv4Cidr, CidrError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| CidrError::BadAddress(a.to_string()))?;
        let prefix = match p {
            None => 32,
            // Decimal digits only: a sign or a leading zero (which iproute2 reads as octal,
            // 024 as 20) is refused, as in `parse_addr`.
            Some(p) => Some(p)
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .filter(|p| *p == "0" || !p.starts_with('0'))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|n| *n <= 32)
                .ok_or_else(|| CidrError::BadPrefix(p.to_string()))?,
        };
        Ok(Ipv4Cidr { addr, prefix })
    }
}

impl Ipv4Cidr {
    /// A host's address in its network, `IP/PREFIX` or a bare `IP` (then `default_prefix`):
    /// neither the network's own address nor its broadcast address (below /31).
    pub fn parse_host(s: &str, default_prefix: u8) -> Result<Ipv4Cidr, CidrError> {
        let c: Ipv4Cidr = if s.contains('/') {
            s.parse()?
        } else {
            Ipv4Cidr::new(parse_addr(s)?, default_prefix)
                .ok_or_else(|| CidrError::BadPrefix(default_prefix.to_string()))?
        };
        let first = Ipv4Addr::from(u32::from(c.network().addr()).wrapping_add(1));
        let example = Ipv4Cidr::new(first, c.prefix).unwrap_or(c);
        if c.broadcast().is_some() && c.addr() == c.network().addr() {
            return Err(CidrError::NetworkAddress(c, example));
        }
        if c.broadcast() == Some(c.addr()) {
            return Err(CidrError::BroadcastAddress(c, example));
        }
        Ok(c)
    }
}

/// Parse an address with a clear error: a dotted quad, or one of the shorter forms of
/// inet_aton(3), which Linux's ping and net-tools read addresses with: "a.b.c" (c fills the
/// last 16 bits), "a.b" (b the last 24) or "a" (all 32), so 127.1 is 127.0.0.1. Decimal
/// only: a part with a leading zero or a sign, which inet_aton would read as octal or
/// hexadecimal (010 is 8), is refused rather than read otherwise.
pub fn parse_addr(s: &str) -> Result<Ipv4Addr, CidrError> {
    let bad = || CidrError::BadAddress(s.to_string());
    let mut parts = Vec::with_capacity(4);
    for p in s.split('.') {
        let decimal = !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        // At most 10 digits: u32::MAX has 10, and no part here may exceed it.
        if !decimal || p.len() > 10 || parts.len() == 4 {
            return Err(bad());
        }
        parts.push(p.parse::<u64>().map_err(|_| bad())?);
    }
    let (&last, leading) = parts.split_last().ok_or_else(bad)?;
    // The last part fills what the leading bytes leave: 32, 24, 16 or 8 bits.
    let last_bits = 32 - 8 * leading.len() as u32;
    if leading.iter().any(|&b| b > 255) || last >= 1u64 << last_bits {
        return Err(bad());
    }
    let value = leading.iter().fold(0u64, |acc, &b| (acc << 8) | b) << last_bits | last;
    u32::try_from(value).map(Ipv4Addr::from).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_derive() {
        let c: Ipv4Cidr = "10.0.0.1/24".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.network().to_string(), "10.0.0.0/24");
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(10, 0, 0, 255)));
        assert!(c.contains(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 1, 1)));
        let d: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(d.contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!("1.2.3.4".parse::<Ipv4Cidr>().unwrap().prefix(), 32);
        assert_eq!("1.2.3.4/31".parse::<Ipv4Cidr>().unwrap().broadcast(), None);
        // A lone address takes inet_aton's short forms; a network does not (tools
        // disagree there: iproute2 reads 10.1/16 as 10.1.0.0/16).
        assert_eq!(parse_addr("127.1"), Ok(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(parse_addr("10.1.258"), Ok(Ipv4Addr::new(10, 1, 1, 2)));
        assert!(parse_addr("01.2.3.4").is_err());
        for bad in [
            "",
            "1.2.3/24",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/x",
            "a.b.c.d/1",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_prefix_length_is_plain_decimal() {
        // iproute2 reads a prefix with strtoul(.., 0): 024 is 20 there, +24 is 24. Either
        // is refused rather than read otherwise, as parse_addr refuses 010.
        for bad in [
            "1.2.3.4/024",
            "1.2.3.4/+24",
            "1.2.3.4/00",
            "1.2.3.4/-0",
            "1.2.3.4/ 8",
        ] {
            assert_eq!(
                bad.parse::<Ipv4Cidr>(),
                Err(CidrError::BadPrefix(bad[8..].to_string())),
                "{bad}"
            );
            assert!(Ipv4Cidr::parse_host(bad, 24).is_err(), "{bad}");
        }
        assert_eq!("1.2.3.4/0".parse::<Ipv4Cidr>().unwrap().prefix(), 0);
        assert_eq!("1.2.3.4/8".parse::<Ipv4Cidr>().unwrap().prefix(), 8);
    }

    #[test]
    fn masks_of_every_prefix_length() {
        let a = Ipv4Addr::new(192, 168, 37, 201);
        for p in 0..=32u8 {
            let c = Ipv4Cidr::new(a, p).unwrap();
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            assert_eq!(c.mask_bits(), mask, "/{p}");
            assert_eq!(u32::from(c.network().addr()), u32::from(a) & mask);
            assert!(c.contains(a) && c.network().contains(a));
            assert_eq!(c.contains(Ipv4Addr::from(!u32::from(a))), p == 0);
            let b = c.broadcast();
            assert_eq!(b, (p < 31).then(|| Ipv4Addr::from(u32::from(a) | !mask)));
        }
        assert_eq!(Ipv4Cidr::new(a, 33), None);
        assert!(Ipv4Cidr::parse_host("0.0.0.0/0", 24).is_err());
        assert!(Ipv4Cidr::parse_host("10.0.0.0/31", 24).is_ok());
        assert!(Ipv4Cidr::parse_host("10.0.0.1", 33).is_err());
    }
}
