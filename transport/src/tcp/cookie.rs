//! SYN cookies (RFC 4987 3.6): when a listener's SYN queue is full, the SYN-ACK's initial
//! sequence number carries what the listener needs to rebuild the connection from the
//! handshake's final ACK, and nothing is stored in between.
//!
//! The cookie, 32 bits (this stack's own encoding):
//!
//! ```text
//!  31                              3   2   1   0
//! +----------------------------------+---+-------+
//! |  MAC: 29 bits of SipHash-2-4     | T |  MSS  |
//! +----------------------------------+---+-------+
//! ```
//!
//! - MSS: an index into [`MSS_TABLE`], the largest entry not above the peer's MSS.
//! - T: the low bit of a coarse counter that ticks every [`PERIOD`] (32 s). A cookie is
//!   valid in the tick it was made in and the next: for 32 to 64 s.
//! - MAC: SipHash-2-4 under a secret key of (local address and port, remote address and
//!   port, the peer's ISN, the full tick count, the MSS index). A forged ACK is accepted
//!   with a probability of 2^-29; the MSS index and the tick are covered by the MAC, so
//!   neither can be altered.
//!
//! Window scaling and SACK-permitted cannot be carried: there is no room for them in 32 bits
//! beside a strong MAC, and this stack sends no timestamps (where Linux hides them). A
//! cookie's SYN-ACK therefore offers neither option, so both sides agree that the
//! connection has no window scaling (a 64 KiB window) and no SACK. Only connections made
//! while the SYN queue overflows pay this.

use netif::{Duration, Instant};
use std::net::SocketAddrV4;

use super::isn::siphash24;

/// The MSS values a cookie can carry (RFC 879's default, a tunnel-sized one, Ethernet's, and
/// a jumbo frame's).
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1460, 8960];

/// How often the cookie counter ticks. A cookie lives one to two periods.
pub const PERIOD: Duration = Duration::from_secs(32);

/// The longest a cookie stays valid.
pub const MAX_AGE: Duration = Duration::from_secs(64);

/// The keyed generator and checker of cookies.
#[derive(Clone, Debug)]
pub struct SynCookies {
    k0: u64,
    k1: u64,
}

/// The index into [`MSS_TABLE`] for a peer announcing `mss` (536 when it announced none).
pub fn mss_index(mss: Option<u16>) -> usize {
    let mss = mss.unwrap_or(536);
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0)
}

fn tick(now: Instant) -> u64 {
    now.total_micros() / PERIOD.as_micros() as u64
}

impl SynCookies {
    pub fn new(secret: u64) -> SynCookies {
        SynCookies {
            k0: siphash24(!secret, secret, b"tapip cookie k0"),
            k1: siphash24(secret, secret.rotate_left(29), b"tapip cookie k1"),
        }
    }

    fn mac(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: u32,
        tick: u64,
        idx: usize,
    ) -> u32 {
        let mut b = [0u8; 25];
        b[..4].copy_from_slice(&local.ip().octets());
        b[4..6].copy_from_slice(&local.port().to_be_bytes());
        b[6..10].copy_from_slice(&remote.ip().octets());
        b[10..12].copy_from_slice(&remote.port().to_be_bytes());
        b[12..16].copy_from_slice(&peer_isn.to_be_bytes());
        b[16..24].copy_from_slice(&tick.to_be_bytes());
        b[24] = idx as u8;
        // The top 29 bits of the hash, in the cookie's top 29 bits.
        ((siphash24(self.k0, self.k1, &b) >> 32) as u32) & !0x7
    }

    /// The cookie (our ISN) for a SYN from `remote` to `local` with sequence number
    /// `peer_isn`, announcing `peer_mss`.
    pub fn make(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: u32,
        peer_mss: Option<u16>,
        now: Instant,
    ) -> u32 {
        let idx = mss_index(peer_mss);
        let t = tick(now);
        self.mac(local, remote, peer_isn, t, idx) | (((t & 1) as u32) << 2) | idx as u32
    }

    /// Check the cookie `ack - 1` of an ACK whose sequence number is `peer_isn + 1`: the
    /// MSS it carries, or None if it was not made here for this 4-tuple within
    /// [`MAX_AGE`].
    pub fn check(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: u32,
        cookie: u32,
        now: Instant,
    ) -> Option<u16> {
        let idx = (cookie & 3) as usize;
        let bit = u64::from((cookie >> 2) & 1);
        let now_tick = tick(now);
        // The tick the cookie was made in: this one or the one before (same parity bit).
        let t = if now_tick & 1 == bit {
            now_tick
        } else {
            now_tick.checked_sub(1)?
        };
        (self.mac(local, remote, peer_isn, t, idx) == cookie & !0x7).then_some(MSS_TABLE[idx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    const L: &str = "10.0.0.1:80";
    const R: &str = "10.0.0.9:40000";

    #[test]
    fn a_cookie_checks_with_each_mss_index() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        for (mss, want) in [
            (None, 536),
            (Some(100), 536),
            (Some(536), 536),
            (Some(1299), 536),
            (Some(1300), 1300),
            (Some(1459), 1300),
            (Some(1460), 1460),
            (Some(8959), 1460),
            (Some(8960), 8960),
            (Some(65_495), 8960),
        ] {
            let k = c.make(a(L), a(R), 12345, mss, now);
            assert_eq!(
                c.check(a(L), a(R), 12345, k, now),
                Some(want),
                "mss {mss:?}"
            );
        }
    }

    #[test]
    fn a_cookie_is_refused_under_another_key_tuple_or_peer_isn() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let k = c.make(a(L), a(R), 12345, Some(1460), now);
        assert_eq!(SynCookies::new(8).check(a(L), a(R), 12345, k, now), None);
        assert_eq!(c.check(a(L), a("10.0.0.9:40001"), 12345, k, now), None);
        assert_eq!(c.check(a(L), a("10.0.0.8:40000"), 12345, k, now), None);
        assert_eq!(c.check(a("10.0.0.1:81"), a(R), 12345, k, now), None);
        assert_eq!(c.check(a(L), a(R), 12346, k, now), None);
        // Another MSS index in the clear bits does not pass the MAC.
        for idx in 0..4 {
            if idx != k & 3 {
                assert_eq!(c.check(a(L), a(R), 12345, (k & !3) | idx, now), None);
            }
        }
        // Nor does a cookie with any single bit flipped.
        for bit in 0..32 {
            assert_eq!(
                c.check(a(L), a(R), 12345, k ^ (1 << bit), now),
                None,
                "{bit}"
            );
        }
    }

    #[test]
    fn a_cookie_lives_one_to_two_periods() {
        let c = SynCookies::new(7);
        // Made at the start of a tick: valid to the end of the next one.
        let t0 = Instant::from_secs(32 * 100);
        let k = c.make(a(L), a(R), 1, Some(1460), t0);
        assert!(c.check(a(L), a(R), 1, k, t0).is_some());
        assert!(c
            .check(a(L), a(R), 1, k, t0 + Duration::from_secs(63))
            .is_some());
        assert_eq!(c.check(a(L), a(R), 1, k, t0 + MAX_AGE), None);
        assert_eq!(
            c.check(a(L), a(R), 1, k, t0 + Duration::from_secs(96)),
            None
        );
        assert_eq!(
            c.check(a(L), a(R), 1, k, t0 + Duration::from_secs(1000)),
            None
        );
        // Made at the end of a tick: valid for just over one period.
        let t1 = t0 + Duration::from_secs(31);
        let k = c.make(a(L), a(R), 1, Some(1460), t1);
        assert!(c
            .check(a(L), a(R), 1, k, t1 + Duration::from_secs(32))
            .is_some());
        assert_eq!(
            c.check(a(L), a(R), 1, k, t1 + Duration::from_secs(33)),
            None
        );
        // Not valid before it was made (a clock that went back: tick 0 has no tick -1).
        let k = c.make(a(L), a(R), 1, Some(1460), Instant::from_secs(40));
        assert_eq!(c.check(a(L), a(R), 1, k, Instant::from_secs(5)), None);
    }

    #[test]
    fn cookies_differ_between_peers_and_over_time() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let k1 = c.make(a(L), a(R), 1, None, now);
        let k2 = c.make(a(L), a("10.0.0.9:40001"), 1, None, now);
        let k3 = c.make(a(L), a(R), 1, None, now + PERIOD);
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
    }
}
