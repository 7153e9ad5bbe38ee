//! Congestion control behind one interface: the connection tells the algorithm what
//! happened (new data acknowledged, a loss, the end of recovery, a timeout, an idle
//! restart) and reads back the congestion window and the slow-start threshold.
//!
//! - [`reno`]: NewReno's window arithmetic (RFC 5681 3.1, RFC 6582).
//! - [`cubic`]: CUBIC (RFC 9438), the default as on Linux.
//! - `hystart`: HyStart++ (RFC 9406), which ends the initial slow start of either when
//!   the delay rises.
//!
//! Loss detection and recovery (RFC 6582's inflation and deflation for peers without SACK,
//! RFC 6675 for peers with it) stay in the connection; they read `ssthresh()` and set the
//! window through [`CongestionControl::set_cwnd`]. Windows are in bytes; `mss` is passed
//! with each event because path-MTU discovery may lower it during a connection.
//!
//! The per-connection state ([`Cc`]) holds the algorithm in an enum, not a boxed trait
//! object: it lives inside every connection, so it stays small and needs no allocation.

pub mod cubic;
mod hystart;
pub mod reno;

use netif::{Duration, Instant};
use std::fmt;
use std::str::FromStr;

pub use cubic::Cubic;
use hystart::HyStart;
pub use hystart::HyStartEvent;
pub use reno::Reno;

/// What a congestion-control algorithm is told, and what it answers.
pub trait CongestionControl {
    /// The algorithm's name as `TCP_CONGESTION` spells it. (The connection asks its
    /// [`Cc`] for the [`Algorithm`]; the tests check that the two agree.)
    #[allow(dead_code)]
    fn name(&self) -> &'static str;
    /// The congestion window (bytes).
    fn cwnd(&self) -> usize;
    /// The slow-start threshold (bytes).
    fn ssthresh(&self) -> usize;
    /// Set the window outright: the initial window once the MSS is known, RFC 6582's
    /// inflation and deflation during recovery, the connection's upper bound.
    fn set_cwnd(&mut self, cwnd: usize);
    /// An ACK acknowledged `acked` new bytes outside recovery (or in slow start after a
    /// timeout). `rtt` is the smoothed round-trip time, if measured yet.
    fn on_ack(&mut self, acked: usize, mss: usize, now: Instant, rtt: Option<Duration>);
    /// A loss was detected by duplicate ACKs or SACK (fast retransmit): `flight` bytes were
    /// outstanding. Sets ssthresh, and the window to it.
    fn on_congestion_event(&mut self, flight: usize, mss: usize, now: Instant);
    /// Recovery ended (the ACK reached the recovery point): continue from ssthresh.
    fn on_recovery_end(&mut self, mss: usize, now: Instant);
    /// Slow start ends without a loss (HyStart++): congestion avoidance from the window
    /// reached (ssthresh = cwnd).
    fn end_slow_start(&mut self);
    /// The retransmission timer expired with `flight` bytes outstanding; `first` is false
    /// when the timer had already backed off (RFC 5681 3.1 (4): ssthresh is set only once).
    fn on_rto(&mut self, flight: usize, mss: usize, first: bool, now: Instant);
    /// The connection sent nothing for `idle`, longer than an RTO (RFC 5681 4.1): the
    /// window goes down to at most `iw`. Returns whether it was lowered.
    fn on_idle_restart(&mut self, iw: usize, idle: Duration, now: Instant) -> bool;
    /// The window was not used from the last ACK until `now` (the sender was
    /// application-limited, or idle): a window that grows with time leaves that time out
    /// (RFC 9438 5.8). Nothing for Reno, which grows per ACK.
    fn pause(&mut self, _now: Instant) {}
}

/// The algorithms there are. CUBIC is the default, as on Linux.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Reno,
    #[default]
    Cubic,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::Cubic, Algorithm::Reno];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Reno => "reno",
            Algorithm::Cubic => "cubic",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no congestion-control algorithm of this stack.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion control algorithm {0:?} (available: cubic, reno)")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// `"cubic"` or `"reno"` (also `"newreno"`), in any case.
    fn from_str(s: &str) -> Result<Algorithm, UnknownAlgorithm> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cubic" => Ok(Algorithm::Cubic),
            "reno" | "newreno" => Ok(Algorithm::Reno),
            _ => Err(UnknownAlgorithm(s.to_owned())),
        }
    }
}

/// RFC 5681 3.1's "arbitrarily high" initial ssthresh.
const INITIAL_SSTHRESH: usize = usize::MAX / 2;

/// One connection's congestion controller: the algorithm's state, how many losses it was
/// told of, and how much of the window the sender used in the current round trip.
#[derive(Clone, Debug)]
pub struct Cc {
    algo: Algo,
    /// The state before the latest congestion event (or before the first of a run of
    /// timeouts), for [`Cc::undo`]: the algorithm's and HyStart++'s.
    prior: Option<(Algo, HyStart)>,
    /// The initial slow start's delay watch (RFC 9406).
    hystart: HyStart,
    losses: u64,
    /// Bytes still to be acknowledged before the current round ends (the flight at its
    /// start), and the largest flight seen in it.
    round_left: usize,
    round_max_flight: usize,
}

#[derive(Clone, Debug)]
enum Algo {
    Reno(Reno),
    Cubic(Cubic),
}

impl Algo {
    fn new(alg: Algorithm, cwnd: usize, ssthresh: usize) -> Algo {
        match alg {
            Algorithm::Reno => Algo::Reno(Reno::new(cwnd, ssthresh)),
            Algorithm::Cubic => Algo::Cubic(Cubic::new(cwnd, ssthresh)),
        }
    }
}

impl Cc {
    /// Before the handshake: no window yet (the MSS is unknown), no threshold.
    pub fn new(alg: Algorithm) -> Cc {
        Cc {
            algo: Algo::new(alg, 0, INITIAL_SSTHRESH),
            prior: None,
            hystart: HyStart::default(),
            losses: 0,
            round_left: 0,
            round_max_flight: 0,
        }
    }

    /// An ACK of `acked` new bytes outside recovery, `flight` bytes having been outstanding
    /// before it. The window grows only while the sender uses it (RFC 7661's idea; RFC 9438
    /// 4.6 asks for it when cwnd is used after a loss, as CUBIC's W_max is): while the
    /// largest flight of the current round trip is at least half the window. That is slow
    /// start's own test (a window's ACKs double it), and leaves room for TSO deferral,
    /// which may hold a third back. A sender limited by the application or by the peer's
    /// window keeps the window that served it instead of inflating it without bound. A
    /// round ends when the bytes outstanding at its first ACK have been acknowledged.
    ///
    /// In the initial slow start, `sample` (the latest RTT sample, `None` before any or
    /// with HyStart++ turned off) drives HyStart++; what it did is returned.
    pub fn on_ack_with_flight(
        &mut self,
        acked: usize,
        flight: usize,
        mss: usize,
        now: Instant,
        rtt: Option<Duration>,
        sample: Option<Duration>,
    ) -> Option<HyStartEvent> {
        let (used, new_round) = self.count_round(acked, flight);
        let mut event = None;
        if self.hystart.active() && new_round {
            event = self.hystart.start_round();
            if event == Some(HyStartEvent::Exited) {
                self.inner_mut().end_slow_start();
            }
        }
        if used {
            // Conservative Slow Start grows by a quarter of slow start's pace.
            let grow = if self.hystart.in_css() && self.cwnd() < self.ssthresh() {
                acked / hystart::CSS_GROWTH_DIVISOR
            } else {
                acked
            };
            self.on_ack(grow, mss, now, rtt);
        } else {
            self.pause(now);
        }
        // An ACK of no data (a passive open's of our SYN-ACK) is none of slow start's:
        // a SYN-ACK's round trip is no minimum for the data's to rise from.
        if acked > 0 && self.hystart.active() && self.cwnd() < self.ssthresh() {
            event = self.hystart.on_ack(sample).or(event);
        }
        event
    }

    /// The same ACK when the window must not grow on it (an ECN echo's round trip): the
    /// round is counted all the same, so that the flight it saw is of this round.
    pub fn on_ack_held(&mut self, acked: usize, flight: usize) {
        self.count_round(acked, flight);
    }

    /// Count an ACK into the current round: whether the window was used in it, and
    /// whether this ACK began it.
    fn count_round(&mut self, acked: usize, flight: usize) -> (bool, bool) {
        let new_round = self.round_left == 0;
        if new_round {
            self.round_left = flight;
            self.round_max_flight = 0;
        }
        self.round_max_flight = self.round_max_flight.max(flight);
        self.round_left = self.round_left.saturating_sub(acked.max(1));
        (
            self.round_max_flight.saturating_mul(2) >= self.cwnd(),
            new_round,
        )
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.algo {
            Algo::Reno(_) => Algorithm::Reno,
            Algo::Cubic(_) => Algorithm::Cubic,
        }
    }

    /// Change the algorithm of a running connection (as `TCP_CONGESTION` may on Linux):
    /// the new one starts from the current window and threshold.
    pub fn set_algorithm(&mut self, alg: Algorithm) {
        if alg != self.algorithm() {
            self.algo = Algo::new(alg, self.cwnd(), self.ssthresh());
            self.prior = None;
        }
    }

    /// The latest congestion event proved spurious (see `conn/undo.rs`): go back to the
    /// state before it (RFC 9438 4.9: the window, the threshold and CUBIC's W_max, K,
    /// epoch and estimate), keeping the window if it is larger now. Back in the initial
    /// slow start, HyStart++ goes on as it was (in CSS if it was, with the rounds CSS has
    /// run), from a new round: the recovery's ACKs were counted in none, and by the undo,
    /// a round trip at least after the loss was found, the round it struck in is over.
    /// Returns whether there was anything to restore.
    pub fn undo(&mut self) -> bool {
        let Some((prior, hystart)) = self.prior.take() else {
            return false;
        };
        let cwnd = self.cwnd();
        self.algo = prior;
        self.hystart = hystart;
        self.round_left = 0;
        if self.cwnd() < cwnd {
            self.set_cwnd(cwnd);
        }
        true
    }

    /// Losses detected so far: congestion events (fast retransmit, SACK recovery) and
    /// retransmission timeouts.
    pub fn losses(&self) -> u64 {
        self.losses
    }

    /// An ECN echo (RFC 3168 6.1.2): the window is reduced as for a loss, at once and
    /// without a recovery, and no loss is counted. Nothing can prove such a response
    /// spurious, so it keeps no state to undo.
    pub fn on_ecn_echo(&mut self, mss: usize, now: Instant) {
        let cwnd = self.cwnd();
        let inner = self.inner_mut();
        inner.on_congestion_event(cwnd, mss, now);
        inner.on_recovery_end(mss, now);
        self.prior = None;
        self.hystart.end();
    }

    fn inner(&self) -> &dyn CongestionControl {
        match &self.algo {
            Algo::Reno(r) => r,
            Algo::Cubic(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match &mut self.algo {
            Algo::Reno(r) => r,
            Algo::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Cc {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn cwnd(&self) -> usize {
        self.inner().cwnd()
    }

    fn ssthresh(&self) -> usize {
        self.inner().ssthresh()
    }

    fn set_cwnd(&mut self, cwnd: usize) {
        self.inner_mut().set_cwnd(cwnd)
    }

    fn on_ack(&mut self, acked: usize, mss: usize, now: Instant, rtt: Option<Duration>) {
        self.inner_mut().on_ack(acked, mss, now, rtt)
    }

    fn on_congestion_event(&mut self, flight: usize, mss: usize, now: Instant) {
        self.losses += 1;
        self.prior = Some((self.algo.clone(), self.hystart));
        self.hystart.end();
        self.inner_mut().on_congestion_event(flight, mss, now)
    }

    fn on_recovery_end(&mut self, mss: usize, now: Instant) {
        self.inner_mut().on_recovery_end(mss, now)
    }

    fn end_slow_start(&mut self) {
        self.hystart.end();
        self.inner_mut().end_slow_start()
    }

    fn on_rto(&mut self, flight: usize, mss: usize, first: bool, now: Instant) {
        self.losses += 1;
        if first {
            self.prior = Some((self.algo.clone(), self.hystart));
        }
        self.hystart.end();
        self.inner_mut().on_rto(flight, mss, first, now)
    }

    fn on_idle_restart(&mut self, iw: usize, idle: Duration, now: Instant) -> bool {
        if self.hystart.active() {
            // RFC 9406 4.3: HyStart++ may grow the restart window, but afresh: what it
            // measured before the idle period (the minimums, a CSS begun and its rounds)
            // says nothing of the window now, which CSS's end would make ssthresh.
            self.hystart = HyStart::default();
        }
        self.inner_mut().on_idle_restart(iw, idle, now)
    }

    fn pause(&mut self, now: Instant) {
        self.inner_mut().pause(now)
    }
}

/// Slow start, shared by both algorithms: the window grows by the bytes each ACK
/// acknowledges, up to ssthresh (appropriate byte counting, RFC 3465, which makes ACK
/// division harmless). A deliberate departure from RFC 5681 3.1's one SMSS per ACK (RFC
/// 3465's L = 1 or 2), as Linux departs: a receiver that coalesces a TSO burst (GRO)
/// acknowledges 64 KB with one ACK, and one MSS per such ACK held the window to a 45th of
/// slow start's pace (BENCHMARKS.md). After a timeout the connection passes at most one
/// MSS per ACK itself (RFC 3465 2.3's L = 1 there: the first ACK may cover a whole window
/// the peer queued out of order).
fn slow_start(cwnd: usize, acked: usize, ssthresh: usize) -> usize {
    cwnd.saturating_add(acked).min(ssthresh).max(cwnd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn names_parse_and_print() {
        assert_eq!("cubic".parse::<Algorithm>(), Ok(Algorithm::Cubic));
        assert_eq!("Reno".parse::<Algorithm>(), Ok(Algorithm::Reno));
        assert_eq!("newreno".parse::<Algorithm>(), Ok(Algorithm::Reno));
        let e = "bbr".parse::<Algorithm>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown congestion control algorithm \"bbr\" (available: cubic, reno)"
        );
        for a in Algorithm::ALL {
            assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
            assert_eq!(Cc::new(a).name(), a.name());
        }
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
    }

    #[test]
    fn a_new_controller_has_no_window_and_no_threshold_yet() {
        for a in Algorithm::ALL {
            let cc = Cc::new(a);
            assert_eq!(cc.cwnd(), 0);
            assert_eq!(cc.ssthresh(), usize::MAX / 2);
        }
    }

    #[test]
    fn switching_algorithm_keeps_the_window() {
        let mut cc = Cc::new(Algorithm::Cubic);
        cc.set_cwnd(10 * MSS);
        cc.on_congestion_event(10 * MSS, MSS, Instant::ZERO);
        let (cwnd, ssthresh) = (cc.cwnd(), cc.ssthresh());
        cc.set_algorithm(Algorithm::Reno);
        assert_eq!(cc.algorithm(), Algorithm::Reno);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (cwnd, ssthresh));
        assert_eq!(cc.losses(), 1);
        // The same algorithm again changes nothing.
        cc.on_ack(MSS, MSS, Instant::ZERO, None);
        let before = cc.cwnd();
        cc.set_algorithm(Algorithm::Reno);
        assert_eq!(cc.cwnd(), before);
    }

    #[test]
    fn the_enum_dispatches_to_each_algorithm() {
        // The same events through the enum and through the algorithm itself.
        fn drive(cc: &mut dyn CongestionControl) {
            let rtt = Some(Duration::from_millis(10));
            let mut t = Instant::ZERO;
            cc.set_cwnd(10 * MSS);
            for _ in 0..20 {
                cc.on_ack(MSS, MSS, t, rtt);
            }
            cc.on_congestion_event(30 * MSS, MSS, t);
            t += Duration::from_millis(10);
            cc.on_recovery_end(MSS, t);
            for _ in 0..200 {
                t += Duration::from_millis(1);
                cc.on_ack(MSS, MSS, t, rtt);
            }
            cc.on_rto(25 * MSS, MSS, true, t);
        }
        let mut via_enum = Cc::new(Algorithm::Cubic);
        let mut direct = Cubic::new(0, usize::MAX / 2);
        drive(&mut via_enum);
        drive(&mut direct);
        assert_eq!(via_enum.cwnd(), direct.cwnd());
        assert_eq!(via_enum.ssthresh(), direct.ssthresh());
        // A congestion event and a timeout.
        assert_eq!(via_enum.losses(), 2);
    }

    #[test]
    fn the_window_grows_only_while_it_is_used() {
        for a in Algorithm::ALL {
            let t = Instant::ZERO;
            // A window of 10 segments, all in flight, acknowledged one by one: it doubles
            // (the flight falls as the ACKs come, but the round's largest was 10).
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            for i in 0..10 {
                cc.on_ack_with_flight(MSS, (10 - i) * MSS, MSS, t, None, None);
            }
            assert_eq!(cc.cwnd(), 20 * MSS, "{a}");
            // An application that sends one segment per round trip: the window stays.
            for _ in 0..100 {
                cc.on_ack_with_flight(MSS, MSS, MSS, t, None, None);
            }
            assert_eq!(cc.cwnd(), 20 * MSS, "{a}");
            // A peer's window of 15 segments: it grows to twice that at most.
            for _ in 0..1000 {
                cc.on_ack_with_flight(MSS, 15 * MSS, MSS, t, None, None);
            }
            assert!(
                (30 * MSS..=31 * MSS).contains(&cc.cwnd()),
                "{a}: {}",
                cc.cwnd()
            );
            // In avoidance too.
            let mut cc = Cc::new(a);
            cc.set_cwnd(40 * MSS);
            cc.on_congestion_event(40 * MSS, MSS, t);
            let w = cc.cwnd();
            for i in 0..10_000u64 {
                let now = t + Duration::from_millis(i);
                cc.on_ack_with_flight(MSS, 2 * MSS, MSS, now, None, None);
            }
            assert_eq!(cc.cwnd(), w, "{a}");
            // No input panics.
            cc.on_ack_with_flight(usize::MAX, usize::MAX, usize::MAX, t, None, None);
            cc.on_ack_with_flight(0, 0, 0, t, None, None);
        }
    }

    #[test]
    fn a_spurious_event_is_undone_once() {
        for a in Algorithm::ALL {
            let t = Instant::ZERO;
            let rtt = Some(Duration::from_millis(10));
            let mut cc = Cc::new(a);
            // Nothing to undo before any event.
            assert!(!cc.undo(), "{a}");
            cc.set_cwnd(10 * MSS);
            // In slow start: the threshold was unset.
            cc.on_congestion_event(10 * MSS, MSS, t);
            assert!(cc.cwnd() < 10 * MSS);
            assert!(cc.undo());
            assert_eq!(
                (cc.cwnd(), cc.ssthresh()),
                (10 * MSS, usize::MAX / 2),
                "{a}"
            );
            assert!(!cc.undo(), "{a}: once");
            // In avoidance, the whole state comes back: the same ACKs after the undo give
            // the same windows as with no event at all.
            let mut plain = Cc::new(a);
            plain.set_cwnd(40 * MSS);
            plain.on_congestion_event(40 * MSS, MSS, t);
            plain.on_recovery_end(MSS, t);
            for i in 0..100u64 {
                plain.on_ack(MSS, MSS, t + Duration::from_millis(i), rtt);
            }
            let mut undone = plain.clone();
            let before = (plain.cwnd(), plain.ssthresh());
            undone.on_congestion_event(plain.cwnd(), MSS, t + Duration::from_millis(100));
            assert!(undone.undo());
            assert_eq!((undone.cwnd(), undone.ssthresh()), before, "{a}");
            for i in 100..2000u64 {
                let now = t + Duration::from_millis(i);
                plain.on_ack(MSS, MSS, now, rtt);
                undone.on_ack(MSS, MSS, now, rtt);
            }
            assert_eq!(undone.cwnd(), plain.cwnd(), "{a}");
            // A window that grew meanwhile is kept.
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            cc.on_congestion_event(10 * MSS, MSS, t);
            cc.set_cwnd(12 * MSS);
            assert!(cc.undo());
            assert_eq!(cc.cwnd(), 12 * MSS, "{a}");
            // Timeouts: the state before the first of them comes back.
            let mut cc = Cc::new(a);
            cc.set_cwnd(20 * MSS);
            cc.on_rto(20 * MSS, MSS, true, t);
            cc.on_rto(MSS, MSS, false, t);
            assert_eq!(cc.cwnd(), MSS);
            assert!(cc.undo());
            assert_eq!(
                (cc.cwnd(), cc.ssthresh()),
                (20 * MSS, usize::MAX / 2),
                "{a}"
            );
            // A change of algorithm forgets the saved state.
            let mut cc = Cc::new(a);
            cc.set_cwnd(20 * MSS);
            cc.on_congestion_event(20 * MSS, MSS, t);
            let other = Algorithm::ALL.into_iter().find(|&b| b != a).unwrap();
            cc.set_algorithm(other);
            assert!(!cc.undo(), "{a}");
        }
    }

    #[test]
    fn the_state_stays_small() {
        // Issue 8: an idle connection costs at most 2 KiB in all. (The saved state for
        // undo is a second copy of the algorithm's and of HyStart++'s.)
        assert!(
            std::mem::size_of::<Cc>() <= 248,
            "{}",
            std::mem::size_of::<Cc>()
        );
    }

    /// One round trip of `n` ACKs of a segment each, the window full, each ACK with the
    /// RTT sample `rtt` (ms); the HyStart++ events.
    fn hystart_round(cc: &mut Cc, n: usize, rtt: u64) -> Vec<HyStartEvent> {
        let t = Instant::ZERO;
        let sample = Some(Duration::from_millis(rtt));
        (0..n)
            .filter_map(|i| cc.on_ack_with_flight(MSS, (n - i) * MSS, MSS, t, None, sample))
            .collect()
    }

    /// RFC 9406 through `Cc`: a rise of the delay starts CSS, whose ACKs grow the window
    /// by a quarter of what they acknowledge; after five rounds of it avoidance begins at
    /// the window reached.
    #[test]
    fn hystart_ends_the_initial_slow_start_on_a_rising_delay() {
        for a in Algorithm::ALL {
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            assert_eq!(hystart_round(&mut cc, 10, 20), [], "{a}");
            assert_eq!(cc.cwnd(), 20 * MSS, "{a}");
            // The eighth ACK of the next round decides: eight segments' growth at slow
            // start's pace, twelve at CSS's.
            assert_eq!(
                hystart_round(&mut cc, 20, 30),
                [HyStartEvent::EnteredCss],
                "{a}"
            );
            assert_eq!(cc.cwnd(), 28 * MSS + 12 * MSS / 4, "{a}");
            for round in 2..=6 {
                let w = cc.cwnd();
                let ev = hystart_round(&mut cc, w / MSS, 30);
                if round < 6 {
                    assert_eq!(ev, [], "{a}: round {round}");
                    assert_eq!(cc.cwnd(), w + w / MSS * MSS / 4, "{a}: round {round}");
                } else {
                    // The first ACK of the sixth round ends slow start.
                    assert_eq!(ev, [HyStartEvent::Exited], "{a}");
                }
            }
            assert!(cc.ssthresh() < usize::MAX / 2, "{a}");
            assert!(cc.cwnd() >= cc.ssthresh(), "{a}");
            // In avoidance now: a round grows the window by about a segment, not a quarter.
            let w = cc.cwnd();
            hystart_round(&mut cc, w / MSS, 30);
            assert!(cc.cwnd() < w + w / 8, "{a}: {} from {w}", cc.cwnd());
            assert_eq!(cc.losses(), 0, "{a}");
        }
    }

    /// Without samples (HyStart++ off, or no RTT measured yet) slow start is standard.
    #[test]
    fn without_samples_slow_start_doubles_each_round() {
        for a in Algorithm::ALL {
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            for i in 0..5 {
                let w = cc.cwnd() / MSS;
                for j in 0..w {
                    assert_eq!(
                        cc.on_ack_with_flight(MSS, (w - j) * MSS, MSS, Instant::ZERO, None, None),
                        None
                    );
                }
                assert_eq!(cc.cwnd(), (10 << (i + 1)) * MSS, "{a}");
            }
        }
    }

    /// A loss, an ECN echo or a timeout ends HyStart++ for good (4.3: the initial slow
    /// start only); undoing the loss brings it back, watching afresh from a new round.
    #[test]
    fn hystart_is_for_the_initial_slow_start_only() {
        let rise = |cc: &mut Cc| {
            hystart_round(cc, 10, 20);
            hystart_round(cc, 20, 40)
        };
        for a in Algorithm::ALL {
            let t = Instant::ZERO;
            // After a timeout, slow start to the new ssthresh is standard.
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            cc.on_rto(100 * MSS, MSS, true, t);
            cc.set_cwnd(10 * MSS);
            assert_eq!(rise(&mut cc), [], "{a}");
            // After an ECN echo.
            let mut cc = Cc::new(a);
            cc.set_cwnd(100 * MSS);
            cc.on_ecn_echo(MSS, t);
            cc.set_cwnd(10 * MSS);
            assert_eq!(rise(&mut cc), [], "{a}");
            // A loss, undone: HyStart++ watches again, from a new round.
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            hystart_round(&mut cc, 10, 20);
            cc.on_congestion_event(20 * MSS, MSS, t);
            assert_eq!(hystart_round(&mut cc, 10, 40), [], "{a}");
            assert!(cc.undo());
            cc.set_cwnd(20 * MSS);
            assert_eq!(hystart_round(&mut cc, 20, 20), [], "{a}");
            assert_eq!(
                hystart_round(&mut cc, 40, 40),
                [HyStartEvent::EnteredCss],
                "{a}"
            );
        }
    }

    /// A loss during Conservative Slow Start that proves spurious: the undo goes back to
    /// the state before it, CSS included (its baseline and the rounds it has run), as it
    /// restores CUBIC's state. Undone into a fresh HyStart++, the sender was back in
    /// standard slow start with nothing to compare the first round with: two round trips
    /// of doubling at a delay that had already risen, instead of CSS's quarter pace.
    #[test]
    fn an_undone_loss_during_css_stays_in_css() {
        for a in Algorithm::ALL {
            let t = Instant::ZERO;
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            hystart_round(&mut cc, 10, 20);
            assert_eq!(
                hystart_round(&mut cc, 20, 30),
                [HyStartEvent::EnteredCss],
                "{a}"
            );
            let w = cc.cwnd();
            hystart_round(&mut cc, w / MSS, 30);
            let mut plain = cc.clone();
            let mut undone = cc;
            undone.on_congestion_event(undone.cwnd(), MSS, t);
            assert!(undone.undo(), "{a}");
            assert_eq!(
                (undone.cwnd(), undone.ssthresh()),
                (plain.cwnd(), plain.ssthresh()),
                "{a}"
            );
            // The same rounds give the same windows and the same end of slow start.
            for round in 3..=7 {
                let w = plain.cwnd() / MSS;
                let ev_plain = hystart_round(&mut plain, w, 30);
                let ev_undone = hystart_round(&mut undone, w, 30);
                assert_eq!(ev_undone, ev_plain, "{a}: round {round}");
                assert_eq!(undone.cwnd(), plain.cwnd(), "{a}: round {round}");
                assert_eq!(undone.ssthresh(), plain.ssthresh(), "{a}: round {round}");
            }
            assert!(
                plain.ssthresh() < INITIAL_SSTHRESH,
                "{a}: CSS ran its rounds"
            );
        }
    }

    /// The undo's round boundary: the ACKs of the recovery between the loss and the undo
    /// went through no round count, yet they acknowledged the rest of the round the loss
    /// struck in (RFC 9406 4.2 ends a round when SND.UNA passes windowEnd). The next ACK
    /// begins a new round; the old one is not run on for as many bytes again.
    #[test]
    fn an_undone_loss_begins_a_new_hystart_round() {
        for a in Algorithm::ALL {
            let t = Instant::ZERO;
            let sample = Some(Duration::from_millis(30));
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            hystart_round(&mut cc, 10, 20);
            assert_eq!(
                hystart_round(&mut cc, 20, 30),
                [HyStartEvent::EnteredCss],
                "{a}"
            );
            // CSS's second to fourth rounds, then half of its fifth.
            for _ in 2..=4 {
                let w = cc.cwnd() / MSS;
                assert_eq!(hystart_round(&mut cc, w, 30), [], "{a}");
            }
            let w = cc.cwnd() / MSS;
            for i in 0..w / 2 {
                let ev = cc.on_ack_with_flight(MSS, (w - i) * MSS, MSS, t, None, sample);
                assert_eq!(ev, None, "{a}");
            }
            // A loss; the recovery acknowledges the rest of the round; the undo.
            cc.on_congestion_event(w * MSS, MSS, t);
            assert!(cc.undo(), "{a}");
            // The next ACK begins CSS's sixth round: slow start is over.
            let w = cc.cwnd() / MSS;
            assert_eq!(
                cc.on_ack_with_flight(MSS, w * MSS, MSS, t, None, sample),
                Some(HyStartEvent::Exited),
                "{a}"
            );
            assert!(cc.ssthresh() < INITIAL_SSTHRESH, "{a}");
        }
    }

    /// An idle restart during CSS: the restart window starts a slow start of its own
    /// (RFC 9406 4.3 allows HyStart++ there), with minimums measured from then on. CSS's
    /// rounds from before the idle period must not run out on the restart window and
    /// make it ssthresh: that window says nothing of the path.
    #[test]
    fn an_idle_restart_during_css_does_not_end_slow_start_at_the_restart_window() {
        for a in Algorithm::ALL {
            let mut cc = Cc::new(a);
            cc.set_cwnd(10 * MSS);
            hystart_round(&mut cc, 10, 20);
            assert_eq!(
                hystart_round(&mut cc, 20, 30),
                [HyStartEvent::EnteredCss],
                "{a}"
            );
            let before = cc.cwnd();
            assert!(cc.on_idle_restart(10 * MSS, Duration::from_secs(10), Instant::ZERO));
            // The delay as it was when CSS began, steady: no rise from round to round.
            let mut events = Vec::new();
            for _ in 0..20 {
                if cc.cwnd() >= before {
                    break;
                }
                let w = cc.cwnd();
                events.extend(hystart_round(&mut cc, w / MSS, 30));
            }
            assert_eq!(events, [], "{a}");
            assert_eq!(cc.ssthresh(), INITIAL_SSTHRESH, "{a}");
        }
    }

    /// RFC 5681 3.2 (6) and RFC 6582 3.2 (3): when recovery ends the window is set to
    /// ssthresh, deflating whatever inflation recovery applied through `set_cwnd`, and
    /// never below one segment.
    #[test]
    fn the_end_of_recovery_deflates_the_window_to_ssthresh() {
        for a in Algorithm::ALL {
            let t = Instant::ZERO;
            let mut cc = Cc::new(a);
            cc.set_cwnd(40 * MSS);
            cc.on_congestion_event(40 * MSS, MSS, t);
            let ssthresh = cc.ssthresh();
            assert!(ssthresh < 40 * MSS, "{a}");
            // Inflated by duplicate ACKs during recovery.
            cc.set_cwnd(ssthresh + 10 * MSS);
            cc.on_recovery_end(MSS, t);
            assert_eq!(cc.cwnd(), ssthresh, "{a}");
            // Shrunk below it (a partial ACK's deflation): back up to ssthresh.
            cc.set_cwnd(MSS);
            cc.on_recovery_end(MSS, t);
            assert_eq!(cc.cwnd(), ssthresh, "{a}");
        }
    }
}
