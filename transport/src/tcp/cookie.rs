//! SYN cookies (RFC 4987 3.6): when a listener's SYN queue is full, the SYN-ACK's initial
//! sequence number carries what the listener needs to rebuild the connection from the
//! handshake's final ACK, and nothing is stored in between.
//!
//! The cookie, 32 bits (this stack's own encoding):
//!
//! ```text
//!  31                              4   3   2   0
//! +----------------------------------+---+-------+
//! |  MAC: 28 bits of SipHash-2-4     | T |  MSS  |
//! +----------------------------------+---+-------+
//! ```
//!
//! - MSS: an index into [`MSS_TABLE`], the largest entry not above the peer's MSS (three
//!   bits, so that a peer announcing less than 536 gets no larger segments, RFC 9293
//!   MUST-16: Linux's four-entry table sends such a peer 536).
//! - T: the low bit of a coarse counter that ticks every [`PERIOD`] (32 s). A cookie is
//!   valid in the tick it was made in and the next: for 32 to 64 s.
//! - MAC: SipHash-2-4 under a secret key of (local address and port, remote address and
//!   port, the peer's ISN, the full tick count, the MSS index). A forged ACK is accepted
//!   with a probability of 2^-28; the MSS index and the tick are covered by the MAC, so
//!   neither can be altered.
//!
//! Window scaling, SACK-permitted and ECN have no room in those 32 bits beside a strong MAC.
//! When the SYN offers timestamps (RFC 7323), they ride in the low six bits of the
//! SYN-ACK's TSval, which the handshake's ACK echoes in its TSecr:
//!
//! ```text
//!    5   4   3 ... 0
//! +---+---+---------+
//! | E | S |  shift  |
//! +---+---+---------+
//! ```
//!
//! - shift: the window scale the peer's SYN announced (0 to 14; 15 when it sent none).
//!   Ours is recomputed from the listener's buffers, as the SYN-ACK offered it.
//! - S: the peer's SYN was SACK-permitted (and so was our SYN-ACK).
//! - E: our SYN-ACK agreed to ECN (RFC 3168 6.1.1), the peer's SYN having asked.
//!
//! The TSval is our timestamp clock with those six bits replaced, moved back 64 ms when
//! that would put it ahead of the clock, so later TSvals never go back. The MAC covers the
//! six bits too (and whether timestamps were offered at all): an ACK whose echo was
//! altered does not check. Without timestamps in the SYN, the SYN-ACK offers no window
//! scaling, no SACK and no ECN, so both sides agree that the connection has none of them
//! (a 64 KiB window). Linux hides the same options in the TSval; this layout is this stack's own.

use netif::{Duration, Instant};
use std::net::SocketAddrV4;

use super::isn::siphash24;

/// The MSS values a cookie can carry: the smallest this stack sends (as Linux's
/// `tcp_min_snd_mss`), a small one, RFC 879's default, tunnel-sized ones (1300, 1400,
/// PPPoE's 1440), Ethernet's and a jumbo frame's.
pub const MSS_TABLE: [u16; 8] = [48, 256, 536, 1300, 1400, 1440, 1460, 8960];

/// The cookie's low bits: the MSS index and, above it, the tick's parity.
const IDX_MASK: u32 = 0x7;
const TICK_BIT: u32 = 3;
const LOW_BITS: u32 = 0xf;

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

/// The index into [`MSS_TABLE`] for a peer announcing `mss`: 536 when it announced none,
/// or 0, which says nothing (as the connection's own `take_syn_options` and Linux take it).
pub fn mss_index(mss: Option<u16>) -> usize {
    let mss = mss.filter(|&m| m > 0).unwrap_or(536);
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

    #[allow(clippy::too_many_arguments)]
    fn mac(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: u32,
        tick: u64,
        idx: usize,
        opts: Options,
        ours: Ours,
    ) -> u32 {
        let mut b = [0u8; 29];
        b[..4].copy_from_slice(&local.ip().octets());
        b[4..6].copy_from_slice(&local.port().to_be_bytes());
        b[6..10].copy_from_slice(&remote.ip().octets());
        b[10..12].copy_from_slice(&remote.port().to_be_bytes());
        b[12..16].copy_from_slice(&peer_isn.to_be_bytes());
        b[16..24].copy_from_slice(&tick.to_be_bytes());
        b[24] = idx as u8;
        b[25] = opts.mac_byte();
        b[26] = ours.wscale;
        b[27..29].copy_from_slice(&ours.window.to_be_bytes());
        // The top 28 bits of the hash, in the cookie's top 28 bits.
        ((siphash24(self.k0, self.k1, &b) >> 32) as u32) & !LOW_BITS
    }

    /// The cookie (our ISN) for a SYN from `remote` to `local` with sequence number
    /// `peer_isn`, announcing `peer_mss`, answered with `opts` (see [`Options::answer`])
    /// and `ours`.
    #[allow(clippy::too_many_arguments)]
    pub fn make(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: u32,
        peer_mss: Option<u16>,
        opts: Options,
        ours: Ours,
        now: Instant,
    ) -> u32 {
        let idx = mss_index(peer_mss);
        let t = tick(now);
        self.mac(local, remote, peer_isn, t, idx, opts, ours)
            | (((t & 1) as u32) << TICK_BIT)
            | idx as u32
    }

    /// Check the cookie `ack - 1` of an ACK whose sequence number is `peer_isn + 1` and
    /// whose timestamps echo `tsecr` (None: the ACK carried none, or timestamps are off
    /// here): what the handshake agreed, or None if the cookie was not made here for this
    /// 4-tuple within [`MAX_AGE`], or not with the options the echo names, or the
    /// listener would now announce other than `ours`. An ACK without timestamps fails
    /// when the SYN-ACK offered them (nothing else tells the window scale; RFC 7323 3.2
    /// lets such a segment be dropped), and so does one with an echo when it offered
    /// none (RFC 7323 3.2 would have the option ignored; only a peer that breaks its MUST
    /// NOT sends one).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        peer_isn: u32,
        cookie: u32,
        tsecr: Option<u32>,
        ours: Ours,
        now: Instant,
    ) -> Option<Agreed> {
        let idx = (cookie & IDX_MASK) as usize;
        let bit = u64::from((cookie >> TICK_BIT) & 1);
        let now_tick = tick(now);
        // The tick the cookie was made in: this one or the one before (same parity bit).
        let t = if now_tick & 1 == bit {
            now_tick
        } else {
            now_tick.checked_sub(1)?
        };
        let opts = match tsecr {
            Some(ecr) => Options::from_bits(ecr)?,
            None => Options::default(),
        };
        (self.mac(local, remote, peer_isn, t, idx, opts, ours) == cookie & !LOW_BITS).then_some(
            Agreed {
                mss: MSS_TABLE[idx],
                opts,
            },
        )
    }
}

/// What a cookie's SYN-ACK offered besides the MSS: window scaling, SACK and ECN only with
/// timestamps, where they are carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Timestamps were offered (and the six bits below are in the TSval).
    pub timestamps: bool,
    /// The window scale the peer's SYN announced.
    pub wscale: Option<u8>,
    /// SACK-permitted both ways.
    pub sack: bool,
    /// ECN agreed (the SYN-ACK carried ECE).
    pub ecn: bool,
}

/// What our SYN-ACK announced of our own, from the listener's buffers: the window scale
/// offered and the (unscaled) window. Not carried but recomputed at the ACK, and covered by
/// the MAC: a listener whose buffers changed in between refuses the ACK rather than make
/// a connection that disagrees with its SYN-ACK (RFC 7323 2.2: the scale is fixed by the
/// SYNs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ours {
    pub wscale: u8,
    pub window: u16,
}

/// The largest window scale (RFC 7323 2.3).
const MAX_SHIFT: u8 = 14;
/// The shift field's value for a SYN without window scaling.
const NO_SHIFT: u32 = 15;
const SACK_BIT: u32 = 1 << 4;
const ECN_BIT: u32 = 1 << 5;
const BITS: u32 = 0x3f;

impl Options {
    /// What a cookie's SYN-ACK answers to a SYN with these options, timestamps being on
    /// here when `ts_enabled`; `ecn`: the SYN asked for ECN and the listener agrees.
    pub fn answer(
        ts_enabled: bool,
        wscale: Option<u8>,
        sack: bool,
        ts: bool,
        ecn: bool,
    ) -> Options {
        if !(ts_enabled && ts) {
            return Options::default();
        }
        Options {
            timestamps: true,
            wscale: wscale.map(|s| s.min(MAX_SHIFT)),
            sack,
            ecn,
        }
    }

    fn bits(self) -> u32 {
        let shift = self.wscale.map_or(NO_SHIFT, u32::from);
        shift | if self.sack { SACK_BIT } else { 0 } | if self.ecn { ECN_BIT } else { 0 }
    }

    /// The options an echoed TSval names (None: a shift no cookie sets).
    fn from_bits(tsecr: u32) -> Option<Options> {
        let b = tsecr & BITS;
        let shift = b & 0xf;
        if shift > u32::from(MAX_SHIFT) && shift != NO_SHIFT {
            return None;
        }
        Some(Options {
            timestamps: true,
            wscale: (shift != NO_SHIFT).then_some(shift as u8),
            sack: b & SACK_BIT != 0,
            ecn: b & ECN_BIT != 0,
        })
    }

    fn mac_byte(self) -> u8 {
        if self.timestamps {
            0x80 | self.bits() as u8
        } else {
            0
        }
    }

    /// The TSval of the cookie's SYN-ACK when our timestamp clock reads `clock`: the clock
    /// with its low six bits replaced by the options, not ahead of the clock (so every
    /// later TSval is at or after it, as PAWS at the peer needs).
    pub fn tsval(self, clock: u32) -> u32 {
        let v = (clock & !BITS) | self.bits();
        if (v.wrapping_sub(clock) as i32) > 0 {
            v.wrapping_sub(BITS + 1)
        } else {
            v
        }
    }
}

/// What a valid cookie's handshake agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    pub mss: u16,
    pub opts: Options,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    const L: &str = "10.0.0.1:80";
    const R: &str = "10.0.0.9:40000";
    const OURS: Ours = Ours {
        wscale: 7,
        window: 65_535,
    };
    const NONE: Options = Options {
        timestamps: false,
        wscale: None,
        sack: false,
        ecn: false,
    };

    #[test]
    fn a_cookie_checks_with_each_mss_index() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        for (mss, want) in [
            (None, 536),
            (Some(0), 536),
            (Some(1), 48),
            (Some(100), 48),
            (Some(255), 48),
            (Some(256), 256),
            (Some(535), 256),
            (Some(536), 536),
            (Some(1299), 536),
            (Some(1300), 1300),
            (Some(1399), 1300),
            (Some(1400), 1400),
            (Some(1440), 1440),
            (Some(1459), 1440),
            (Some(1460), 1460),
            (Some(8959), 1460),
            (Some(8960), 8960),
            (Some(65_495), 8960),
        ] {
            let k = c.make(a(L), a(R), 12345, mss, NONE, OURS, now);
            assert_eq!(
                c.check(a(L), a(R), 12345, k, None, OURS, now)
                    .map(|g| g.mss),
                Some(want),
                "mss {mss:?}"
            );
        }
    }

    #[test]
    fn a_cookie_is_refused_under_another_key_tuple_or_peer_isn() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let k = c.make(a(L), a(R), 12345, Some(1460), NONE, OURS, now);
        assert_eq!(
            SynCookies::new(8).check(a(L), a(R), 12345, k, None, OURS, now),
            None
        );
        assert_eq!(
            c.check(a(L), a("10.0.0.9:40001"), 12345, k, None, OURS, now),
            None
        );
        assert_eq!(
            c.check(a(L), a("10.0.0.8:40000"), 12345, k, None, OURS, now),
            None
        );
        assert_eq!(
            c.check(a("10.0.0.1:81"), a(R), 12345, k, None, OURS, now),
            None
        );
        assert_eq!(c.check(a(L), a(R), 12346, k, None, OURS, now), None);
        // Another MSS index in the clear bits does not pass the MAC.
        for idx in 0..8 {
            if idx != k & IDX_MASK {
                assert_eq!(
                    c.check(a(L), a(R), 12345, (k & !IDX_MASK) | idx, None, OURS, now),
                    None
                );
            }
        }
        // Nor does a cookie with any single bit flipped.
        for bit in 0..32 {
            assert_eq!(
                c.check(a(L), a(R), 12345, k ^ (1 << bit), None, OURS, now),
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
        let k = c.make(a(L), a(R), 1, Some(1460), NONE, OURS, t0);
        assert!(c.check(a(L), a(R), 1, k, None, OURS, t0).is_some());
        assert!(c
            .check(a(L), a(R), 1, k, None, OURS, t0 + Duration::from_secs(63))
            .is_some());
        assert_eq!(c.check(a(L), a(R), 1, k, None, OURS, t0 + MAX_AGE), None);
        assert_eq!(
            c.check(a(L), a(R), 1, k, None, OURS, t0 + Duration::from_secs(96)),
            None
        );
        assert_eq!(
            c.check(a(L), a(R), 1, k, None, OURS, t0 + Duration::from_secs(1000)),
            None
        );
        // Made at the end of a tick: valid for just over one period.
        let t1 = t0 + Duration::from_secs(31);
        let k = c.make(a(L), a(R), 1, Some(1460), NONE, OURS, t1);
        assert!(c
            .check(a(L), a(R), 1, k, None, OURS, t1 + Duration::from_secs(32))
            .is_some());
        assert_eq!(
            c.check(a(L), a(R), 1, k, None, OURS, t1 + Duration::from_secs(33)),
            None
        );
        // Not valid before it was made (a clock that went back: tick 0 has no tick -1).
        let k = c.make(
            a(L),
            a(R),
            1,
            Some(1460),
            NONE,
            OURS,
            Instant::from_secs(40),
        );
        assert_eq!(
            c.check(a(L), a(R), 1, k, None, OURS, Instant::from_secs(5)),
            None
        );
    }

    #[test]
    fn cookies_differ_between_peers_and_over_time() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let k1 = c.make(a(L), a(R), 1, None, NONE, OURS, now);
        let k2 = c.make(a(L), a("10.0.0.9:40001"), 1, None, NONE, OURS, now);
        let k3 = c.make(a(L), a(R), 1, None, NONE, OURS, now + PERIOD);
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
    }

    /// Every combination a SYN can ask for.
    fn all_options() -> Vec<Options> {
        let mut v = vec![NONE];
        for wscale in (0..=14).map(Some).chain([None]) {
            for sack in [false, true] {
                for ecn in [false, true] {
                    v.push(Options::answer(true, wscale, sack, true, ecn));
                }
            }
        }
        v
    }

    #[test]
    fn options_ride_in_the_tsval_and_check_from_its_echo() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        for o in all_options() {
            let k = c.make(a(L), a(R), 5, Some(1460), o, OURS, now);
            for clock in [0, 1, 63, 64, 1_000_077, u32::MAX - 5, u32::MAX] {
                let tsval = o.tsval(clock);
                // Not ahead of the clock, and less than 64 ms behind it.
                let behind = clock.wrapping_sub(tsval);
                assert!(behind < 64, "{o:?} clock {clock} tsval {tsval}");
                let echo = o.timestamps.then_some(tsval);
                assert_eq!(
                    c.check(a(L), a(R), 5, k, echo, OURS, now),
                    Some(Agreed { mss: 1460, opts: o }),
                    "{o:?} clock {clock}"
                );
            }
        }
    }

    #[test]
    fn an_altered_echo_or_a_missing_one_does_not_check() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let o = Options::answer(true, Some(7), true, true, false);
        let k = c.make(a(L), a(R), 5, Some(1460), o, OURS, now);
        let tsval = o.tsval(123_456);
        assert!(c.check(a(L), a(R), 5, k, Some(tsval), OURS, now).is_some());
        // Any of the six option bits flipped: another window scale, no SACK, ECN.
        for bit in 0..6 {
            assert_eq!(
                c.check(a(L), a(R), 5, k, Some(tsval ^ (1 << bit)), OURS, now),
                None,
                "{bit}"
            );
        }
        // The clock's bits are not covered (the peer echoes whatever it last took).
        assert!(c
            .check(a(L), a(R), 5, k, Some(tsval ^ (1 << 20)), OURS, now)
            .is_some());
        // The listener now announces another window scale or window than the SYN-ACK.
        for ours in [
            Ours { wscale: 6, ..OURS },
            Ours {
                window: 8192,
                ..OURS
            },
        ] {
            assert_eq!(c.check(a(L), a(R), 5, k, Some(tsval), ours, now), None);
        }
        // The timestamps the SYN-ACK offered are not in the ACK; and an echo in an ACK
        // whose SYN-ACK offered none.
        assert_eq!(c.check(a(L), a(R), 5, k, None, OURS, now), None);
        let plain = c.make(a(L), a(R), 5, Some(1460), NONE, OURS, now);
        assert_eq!(c.check(a(L), a(R), 5, plain, Some(tsval), OURS, now), None);
    }

    #[test]
    fn without_timestamps_nothing_else_is_offered() {
        assert_eq!(Options::answer(true, Some(7), true, false, true), NONE);
        assert_eq!(Options::answer(false, Some(7), true, true, true), NONE);
        let o = Options::answer(true, Some(20), false, true, false);
        assert_eq!(
            o.wscale,
            Some(14),
            "a shift over 14 is taken as 14 (RFC 7323 2.3)"
        );
    }
}
