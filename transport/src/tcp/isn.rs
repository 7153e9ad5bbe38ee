//! Initial sequence numbers (RFC 6528): ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey), where M is a timer ticking every 4 microseconds and F a keyed
//! pseudo-random function, here SipHash-2-4 (a keyed hash built for short inputs). A
//! connection's ISN is then unpredictable to an off-path attacker, yet a new incarnation
//! of the same 4-tuple starts above the old one's sequence space as the clock advances.

use netif::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};

pub use ip::siphash::siphash24;

/// RFC 6528's generator, keyed by a secret the runtime takes from the OS.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
}

impl IsnGenerator {
    pub fn new(secret: u64) -> IsnGenerator {
        // Two key halves from one 64-bit secret; each half differs, neither is guessable
        // without the secret.
        IsnGenerator {
            k0: secret,
            k1: siphash24(secret, !secret, b"tapip isn key"),
        }
    }

    pub fn isn(&self, local: SocketAddrV4, remote: SocketAddrV4, now: Instant) -> u32 {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&local.ip().octets());
        b[4..6].copy_from_slice(&local.port().to_be_bytes());
        b[6..10].copy_from_slice(&remote.ip().octets());
        b[10..].copy_from_slice(&remote.port().to_be_bytes());
        let f = siphash24(self.k0, self.k1, &b) as u32;
        let m = (now.total_micros() / 4) as u32;
        m.wrapping_add(f)
    }

    /// The offset a connection adds to its timestamp clock (RFC 7323 5.4: a random offset
    /// per connection, so TSvals tell an observer nothing of the host's uptime and are not
    /// comparable across connections). From the same keyed hash over the 4-tuple with a
    /// different domain byte, so a connection rebuilt from its tuple gets the same one.
    pub fn ts_offset(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        let mut b = [0u8; 13];
        b[..4].copy_from_slice(&local.ip().octets());
        b[4..6].copy_from_slice(&local.port().to_be_bytes());
        b[6..10].copy_from_slice(&remote.ip().octets());
        b[10..12].copy_from_slice(&remote.port().to_be_bytes());
        b[12] = b'T';
        siphash24(self.k0, self.k1, &b) as u32
    }

    /// The TCP Fast Open cookie a server at `server` gives the client at `client` (RFC 7413
    /// 4.1.2: a MAC of the client's address under a secret of the server's): 8 bytes of the
    /// same keyed hash with a domain byte of its own. It does not change while the stack
    /// runs, as Linux's lasts until its key is replaced.
    pub fn fastopen_cookie(&self, client: Ipv4Addr, server: Ipv4Addr) -> [u8; 8] {
        let mut b = [0u8; 9];
        b[..4].copy_from_slice(&client.octets());
        b[4..8].copy_from_slice(&server.octets());
        b[8] = b'F';
        siphash24(self.k0, self.k1, &b).to_be_bytes()
    }
}

/// The ISN of a connection that takes over the tuple of a TIME-WAIT record whose
/// SND.NXT was `old` (None: no record): `isn` if it lies above `old`, else one past the
/// old sequence space by a whole unscaled window, so that none of the old incarnation's
/// segments still in the network can fall in the new one's window (RFC 1122 4.2.2.13,
/// kept by RFC 6191). The clock behind `isn` moves 250,000 a second, which a connection
/// that sent faster than that over its life outruns.
pub(crate) fn above(isn: u32, old: Option<super::Seq>) -> u32 {
    match old {
        Some(old) if !super::Seq(isn).gt(old) => (old + 65_537).0,
        _ => isn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isn_depends_on_tuple_key_and_clock() {
        let a: SocketAddrV4 = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
        let c: SocketAddrV4 = "10.0.0.2:81".parse().unwrap();
        let g = IsnGenerator::new(42);
        let t = Instant::from_secs(1);
        assert_eq!(g.isn(a, b, t), g.isn(a, b, t));
        assert_ne!(g.isn(a, b, t), g.isn(a, c, t));
        assert_ne!(g.isn(a, b, t), IsnGenerator::new(43).isn(a, b, t));
        // The clock part advances one per 4 µs.
        let later = Instant::from_micros(t.total_micros() + 400);
        assert_eq!(g.isn(a, b, later).wrapping_sub(g.isn(a, b, t)), 100);
    }

    #[test]
    fn fast_open_cookies_are_keyed_per_address_pair() {
        let (c, d) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3));
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let g = IsnGenerator::new(42);
        assert_eq!(g.fastopen_cookie(c, s), g.fastopen_cookie(c, s));
        assert_ne!(g.fastopen_cookie(c, s), g.fastopen_cookie(d, s));
        assert_ne!(g.fastopen_cookie(c, s), g.fastopen_cookie(c, d));
        assert_ne!(
            g.fastopen_cookie(c, s),
            IsnGenerator::new(43).fastopen_cookie(c, s)
        );
    }

    #[test]
    fn ts_offset_is_keyed_per_tuple_and_not_the_isn() {
        let a: SocketAddrV4 = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
        let c: SocketAddrV4 = "10.0.0.2:81".parse().unwrap();
        let g = IsnGenerator::new(42);
        assert_eq!(g.ts_offset(a, b), g.ts_offset(a, b));
        assert_ne!(g.ts_offset(a, b), g.ts_offset(a, c));
        assert_ne!(g.ts_offset(a, b), IsnGenerator::new(43).ts_offset(a, b));
        assert_ne!(g.ts_offset(a, b), g.isn(a, b, Instant::from_secs(0)));
    }
}
