//! CUBIC (RFC 9438): in congestion avoidance the window follows a cubic function of the
//! time since the last congestion event, centred on the window where that event struck,
//! and never grows slower than Reno would.
//!
//! - 4.2: W_cubic(t) = C·(t − K)³ + W_max, K = ∛((W_max − cwnd_epoch) / C), in segments and
//!   seconds; each new ACK moves cwnd towards W_cubic(t + RTT), clamped to [cwnd, 1.5·cwnd].
//! - 4.3: the Reno-friendly estimate W_est, grown by α_cubic = 3(1 − β)/(1 + β) per round
//!   trip (1 once it passes cwnd_prior); while W_cubic(t) < W_est, cwnd follows W_est.
//! - 4.6/4.7: on a loss ssthresh = flight·β (β = 0.7, at least 2 MSS), W_max is the window
//!   before the cut, lowered further by fast convergence when it shrank since the last one.
//! - 4.8: a timeout collapses to one segment like Reno, ssthresh from β; the next
//!   avoidance stage starts with K = 0 and W_max = cwnd_epoch.
//! - 4.10: Reno's slow start below ssthresh, which HyStart++ (`super::hystart`) may end
//!   before a loss: avoidance then starts with K = 0 and W_max = cwnd.
//! - 5.8: t leaves out the time the window was not used: from the last ACK to an ACK
//!   that finds the sender application-limited, or to a send after any idle gap, the
//!   epoch moves forward (`pause`).
//!
//! 4.9: spurious congestion events are undone by the connection (`conn/undo.rs`), which
//! restores the state saved before them (`Cc::undo`). Windows are kept in bytes; the cubic
//! term is scaled by the MSS. The arithmetic is in `f64`, which saturates instead of
//! overflowing, and every conversion back to `usize` saturates too.

use super::{slow_start, CongestionControl};
use netif::{Duration, Instant};

/// C (4.1.1, 5): segments per second³.
const C: f64 = 0.4;
/// β_cubic (4.6): the window kept on a loss, as a fraction (7/10).
const BETA_NUM: u128 = 7;
const BETA_DEN: u128 = 10;
const BETA: f64 = 0.7;
/// α_cubic (4.3): 3(1 − β)/(1 + β).
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// The current congestion-avoidance stage (4.1.2's t_epoch and what is fixed at it).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Epoch {
    /// t_epoch.
    start: Instant,
    /// K, seconds.
    k: f64,
    /// W_est, bytes.
    w_est: f64,
    /// Up to when t has been accounted for: the last ACK, or the last time the sender was
    /// found idle or application-limited (5.8), whose time since is left out of t.
    clock: Instant,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cubic {
    cwnd: usize,
    ssthresh: usize,
    /// Growth of less than a byte not yet added to `cwnd`.
    carry: f64,
    /// W_max and cwnd_prior, bytes.
    w_max: f64,
    cwnd_prior: f64,
    /// None outside congestion avoidance: started by the first ACK in it.
    epoch: Option<Epoch>,
    /// The last congestion event was a timeout (4.8).
    after_rto: bool,
}

impl Cubic {
    pub fn new(cwnd: usize, ssthresh: usize) -> Cubic {
        Cubic {
            cwnd,
            ssthresh,
            carry: 0.0,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch: None,
            after_rto: false,
        }
    }

    /// W_cubic(t) in bytes (Figure 1), for an epoch with this K.
    fn w_cubic(&self, k: f64, t: f64, mss: f64) -> f64 {
        C * (t - k).powi(3) * mss + self.w_max
    }

    /// Start a congestion-avoidance stage now (4.2, 4.8).
    fn start_epoch(&mut self, mss: f64, now: Instant) -> Epoch {
        let cwnd = self.cwnd as f64;
        let k = if self.after_rto || self.w_max <= cwnd {
            // After a timeout (4.8), or above the last W_max (after an idle restart or an
            // algorithm switch): the plateau is where we are.
            self.w_max = cwnd;
            0.0
        } else {
            ((self.w_max - cwnd) / mss / C).cbrt()
        };
        self.after_rto = false;
        Epoch {
            start: now,
            k,
            w_est: cwnd,
            clock: now,
        }
    }

    /// ssthresh = max(flight · β, 2 MSS) (Figure 5).
    fn beta_flight(flight: usize, mss: usize) -> usize {
        let kept = flight as u128 * BETA_NUM / BETA_DEN;
        usize::try_from(kept)
            .unwrap_or(usize::MAX)
            .max(mss.saturating_mul(2))
    }

    /// Add `inc` bytes (possibly fractional) to the window.
    fn grow(&mut self, inc: f64) {
        let total = self.carry + inc.max(0.0);
        let whole = total.floor();
        self.cwnd = self.cwnd.saturating_add(whole as usize);
        self.carry = if whole < usize::MAX as f64 {
            total - whole
        } else {
            0.0
        };
    }
}

impl CongestionControl for Cubic {
    fn pause(&mut self, now: Instant) {
        // 5.8: "t" leaves out the time the window was not used, since the last ACK (or
        // the last such pause): the epoch's start moves forward by it.
        if let Some(e) = &mut self.epoch {
            let since = now.saturating_duration_since(e.clock);
            e.start = (e.start + since).min(now);
            e.clock = now;
        }
    }

    fn name(&self) -> &'static str {
        "cubic"
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = cwnd;
        self.carry = 0.0;
    }

    fn on_ack(&mut self, acked: usize, mss: usize, now: Instant, rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            self.cwnd = slow_start(self.cwnd, acked, self.ssthresh);
            return;
        }
        if acked == 0 {
            return;
        }
        let mss = mss.max(1) as f64;
        let mut epoch = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(mss, now),
        };
        let cwnd = (self.cwnd as f64).max(1.0);
        let acked = acked as f64;
        // Figure 4, in bytes: W_est += α · acked · MSS / cwnd.
        let alpha = if epoch.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        epoch.w_est += alpha * acked * mss / cwnd;
        let t = now.saturating_duration_since(epoch.start).as_secs_f64();
        if self.w_cubic(epoch.k, t, mss) < epoch.w_est {
            // The Reno-friendly region (4.3); never below the window already reached.
            if epoch.w_est > self.cwnd as f64 {
                self.cwnd = epoch.w_est as usize;
                self.carry = 0.0;
            }
        } else {
            // The concave and convex regions (4.4, 4.5): (target − cwnd) / cwnd per
            // segment acknowledged.
            let rtt = rtt.map_or(0.0, |r| r.as_secs_f64());
            let target = self
                .w_cubic(epoch.k, t + rtt, mss)
                .min(1.5 * cwnd)
                .max(cwnd);
            self.grow((target - cwnd) * acked / cwnd);
        }
        epoch.clock = now;
        self.epoch = Some(epoch);
    }

    fn on_congestion_event(&mut self, flight: usize, mss: usize, _now: Instant) {
        let cwnd = self.cwnd as f64;
        // Fast convergence (4.7): a window that shrank since the last event gives up more.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        // Multiplicative decrease (4.6).
        self.ssthresh = Self::beta_flight(flight, mss);
        self.cwnd = self.ssthresh;
        self.carry = 0.0;
        self.epoch = None;
        self.after_rto = false;
    }

    fn on_recovery_end(&mut self, mss: usize, _now: Instant) {
        self.cwnd = self.ssthresh.max(mss);
        self.carry = 0.0;
    }

    fn end_slow_start(&mut self) {
        // 4.10: W_max is still unknown; the first ACK in avoidance starts an epoch with
        // K = 0 and W_max = cwnd (`start_epoch`).
        self.ssthresh = self.cwnd;
    }

    fn on_rto(&mut self, flight: usize, mss: usize, first: bool, _now: Instant) {
        if first {
            // 4.8: ssthresh as on a loss; the window before the cut is the prior one.
            self.cwnd_prior = self.cwnd as f64;
            self.ssthresh = Self::beta_flight(flight, mss);
        }
        self.cwnd = mss;
        self.carry = 0.0;
        self.epoch = None;
        self.after_rto = true;
    }

    fn on_idle_restart(&mut self, iw: usize, _idle: Duration, now: Instant) -> bool {
        // 5.8: t must not count the idle period.
        self.pause(now);
        if self.cwnd > iw {
            self.cwnd = iw;
            self.carry = 0.0;
            // The Reno-friendly estimate restarts too, or the first ACK in avoidance would
            // take the window straight back to it.
            if let Some(e) = &mut self.epoch {
                e.w_est = e.w_est.min(iw as f64);
            }
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const T0: Instant = Instant::ZERO;

    /// RFC 9438's formulas, in segments, written out separately from the code above.
    fn rfc_k(w_max: f64, cwnd_epoch: f64) -> f64 {
        ((w_max - cwnd_epoch) / 0.4).cbrt()
    }
    fn rfc_w_cubic(t: f64, k: f64, w_max: f64) -> f64 {
        0.4 * (t - k).powi(3) + w_max
    }

    fn segs(bytes: usize) -> f64 {
        bytes as f64 / MSS as f64
    }

    fn at(secs: f64) -> Instant {
        T0 + Duration::from_secs_f64(secs)
    }

    /// A CUBIC sender that lost a segment at a window of `w_max` segments with that much in
    /// flight: now in avoidance at 0.7 · w_max, epoch not started.
    fn after_loss(w_max: usize) -> Cubic {
        let mut c = Cubic::new(w_max * MSS, usize::MAX / 2);
        c.on_congestion_event(w_max * MSS, MSS, T0);
        c.on_recovery_end(MSS, T0);
        c
    }

    /// Acknowledge one window per round trip, one ACK per segment spread over the round
    /// trip, from `from` until `until` seconds; returns the time reached.
    fn run(c: &mut Cubic, rtt: f64, from: f64, until: f64) -> f64 {
        let mut t = from;
        while t < until {
            let n = (c.cwnd() / MSS).max(1);
            for i in 0..n {
                let now = at(t + rtt * i as f64 / n as f64);
                c.on_ack(MSS, MSS, now, Some(Duration::from_secs_f64(rtt)));
            }
            t += rtt;
        }
        t
    }

    #[test]
    fn a_loss_keeps_beta_of_the_flight() {
        let c = after_loss(100);
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert_eq!(c.cwnd(), 70 * MSS);
        assert_eq!(c.w_max, (100 * MSS) as f64);
        // Never below two segments.
        let mut c = Cubic::new(3 * MSS, usize::MAX / 2);
        c.on_congestion_event(2 * MSS, MSS, T0);
        assert_eq!((c.cwnd(), c.ssthresh()), (2 * MSS, 2 * MSS));
        // β of the flight, not of the window (Figure 5).
        let mut c = Cubic::new(100 * MSS, usize::MAX / 2);
        c.on_congestion_event(50 * MSS, MSS, T0);
        assert_eq!(c.ssthresh(), 35 * MSS);
    }

    #[test]
    fn k_and_the_curve_match_rfc_9438() {
        let mut c = after_loss(100);
        c.on_ack(MSS, MSS, T0, None);
        let e = c
            .epoch
            .expect("the first ACK in avoidance starts the epoch");
        let k = rfc_k(100.0, 70.0);
        assert!((e.k - k).abs() < 1e-9, "K {} vs {k}", e.k);
        assert!((k - 4.2172).abs() < 1e-4);
        let m = MSS as f64;
        for t in [0.0, 0.5, 1.0, 2.0, k, 5.0, 8.0, 10.0] {
            let ours = c.w_cubic(e.k, t, m) / m;
            let rfc = rfc_w_cubic(t, k, 100.0);
            assert!((ours - rfc).abs() < 1e-9, "t {t}: {ours} vs {rfc}");
        }
        // W_cubic(0) is the window the epoch started at, W_cubic(K) is W_max.
        assert!((c.w_cubic(e.k, 0.0, m) / m - 70.0).abs() < 1e-9);
        assert!((c.w_cubic(e.k, k, m) / m - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_window_follows_the_curve_and_reaches_w_max_at_k() {
        // A long round trip (100 ms) and a large window: the cubic function grows faster
        // than Reno would, all the way.
        let rtt = 0.1;
        let mut c = after_loss(1000);
        let k = rfc_k(1000.0, 700.0);
        let mut t = 0.0;
        for check in [1.0, 3.0, 5.0, 7.0, k, 10.0, 11.0, k + 3.0] {
            t = run(&mut c, rtt, t, check);
            // cwnd aims at W_cubic one round trip ahead; between the two.
            let lo = rfc_w_cubic(t - rtt, k, 1000.0);
            let hi = rfc_w_cubic(t + rtt, k, 1000.0);
            let w = segs(c.cwnd());
            assert!(
                lo - 1.0 <= w && w <= hi + 1.0,
                "t {t}: cwnd {w}, curve {lo}..{hi}"
            );
            assert!(c.epoch.unwrap().w_est < c.cwnd() as f64);
        }
        // It reached W_max at K and barely moved on the plateau.
        let mut c = after_loss(1000);
        let t = run(&mut c, rtt, 0.0, k - 0.5);
        let before = segs(c.cwnd());
        let t = run(&mut c, rtt, t, k + 0.5);
        let after = segs(c.cwnd());
        assert!((995.0..=1000.5).contains(&before), "{before}");
        assert!((999.5..=1005.0).contains(&after), "{after}");
        // Then the convex region probes beyond W_max, faster and faster.
        let t = run(&mut c, rtt, t, k + 3.0);
        let w3 = segs(c.cwnd()) - 1000.0;
        run(&mut c, rtt, t, k + 4.0);
        let w4 = segs(c.cwnd()) - 1000.0;
        assert!(w3 > 10.0 && w4 - w3 > w3, "{w3} {w4}");
    }

    #[test]
    fn below_w_max_reno_wins_when_the_curve_is_flat() {
        // A small window at 100 ms: near the plateau W_est (about α per round trip, then
        // one segment once past cwnd_prior) overtakes the cubic curve.
        let rtt = 0.1;
        let mut c = after_loss(100);
        let k = rfc_k(100.0, 70.0);
        run(&mut c, rtt, 0.0, k + 3.0);
        let w = segs(c.cwnd());
        let e = c.epoch.unwrap();
        assert_eq!(c.cwnd(), e.w_est as usize);
        assert!(w > rfc_w_cubic(k + 3.0, k, 100.0) + 2.0, "{w}");
    }

    #[test]
    fn growth_per_round_trip_is_at_most_half_the_window() {
        // Far below a huge W_max the curve is steep: the target is clamped to 1.5·cwnd.
        let mut c = Cubic::new(10 * MSS, 10 * MSS);
        c.w_max = (100_000 * MSS) as f64;
        c.on_ack(MSS, MSS, T0, None);
        let start = c.cwnd();
        // Ten seconds into the epoch (K is about 63 s), one round trip of ACKs.
        let rtt = Duration::from_millis(100);
        for _ in 0..start / MSS {
            c.on_ack(MSS, MSS, at(10.0), Some(rtt));
        }
        let grown = c.cwnd() - start;
        assert!(grown <= start / 2 + MSS, "{grown} of {start}");
        assert!(grown >= start / 3, "{grown} of {start}");
    }

    #[test]
    fn the_reno_friendly_region_wins_at_short_round_trips() {
        // 1 ms round trips: Reno's additive increase outpaces the cubic curve.
        let rtt = 0.001;
        let mut c = after_loss(100);
        let k = rfc_k(100.0, 70.0);
        // One round trip: 70 ACKs of one segment each grow W_est by about α segments.
        run(&mut c, rtt, 0.0, rtt);
        let alpha = 3.0 * 0.3 / 1.7;
        let w = segs(c.cwnd());
        assert!((w - (70.0 + alpha)).abs() < 0.02, "{w} vs {}", 70.0 + alpha);
        assert!(rfc_w_cubic(rtt, k, 100.0) < 70.1);
        // A second later the window is Reno's, far above the cubic curve.
        run(&mut c, rtt, rtt, 1.0);
        let w = segs(c.cwnd());
        let e = c.epoch.unwrap();
        assert_eq!(c.cwnd(), e.w_est as usize);
        assert!(w > rfc_w_cubic(1.0, k, 100.0) + 100.0, "{w}");
        // α_cubic until W_est passes cwnd_prior (100 segments, after about 57 round
        // trips), then one segment per round trip: about 100 + 943 segments.
        assert!((1000.0..1070.0).contains(&w), "{w}");
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut c = after_loss(100);
        assert_eq!(c.w_max, 100_000.0);
        // The next loss strikes at 80 segments, below W_max: W_max = 80 · (1 + β) / 2.
        c.set_cwnd(80 * MSS);
        c.on_congestion_event(80 * MSS, MSS, at(1.0));
        assert!((c.w_max - 68_000.0).abs() < 1e-6, "{}", c.w_max);
        assert_eq!(c.ssthresh(), 56 * MSS);
        // A loss above W_max takes the window as it is.
        c.set_cwnd(90 * MSS);
        c.on_congestion_event(90 * MSS, MSS, at(2.0));
        assert_eq!(c.w_max, 90_000.0);
    }

    #[test]
    fn a_timeout_goes_to_one_segment_then_restarts_the_curve_from_its_window() {
        let mut c = Cubic::new(100 * MSS, usize::MAX / 2);
        c.on_rto(100 * MSS, MSS, true, T0);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 70 * MSS));
        // A backed-off timeout keeps ssthresh.
        c.on_rto(MSS, MSS, false, at(1.0));
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 70 * MSS));
        // Slow start to ssthresh.
        for _ in 0..69 {
            c.on_ack(MSS, MSS, at(2.0), None);
        }
        assert_eq!(c.cwnd(), 70 * MSS);
        assert!(c.epoch.is_none());
        // The first avoidance stage: K = 0, W_max = cwnd_epoch (4.8).
        c.on_ack(MSS, MSS, at(2.0), None);
        let e = c.epoch.unwrap();
        assert_eq!(e.k, 0.0);
        assert_eq!(c.w_max, 70_000.0);
        let w_est = 70_000.0 + ALPHA * 1000.0 * 1000.0 / 70_000.0;
        assert!((e.w_est - w_est).abs() < 1e-6);
        let m = MSS as f64;
        assert!((c.w_cubic(e.k, 2.0, m) / m - rfc_w_cubic(2.0, 0.0, 70.0)).abs() < 1e-9);
    }

    #[test]
    fn slow_start_is_renos() {
        let mut c = Cubic::new(10 * MSS, usize::MAX / 2);
        for _ in 0..10 {
            c.on_ack(MSS, MSS, T0, None);
        }
        assert_eq!(c.cwnd(), 20 * MSS);
        // A stretch ACK counts every byte it acknowledges.
        c.on_ack(3 * MSS, MSS, T0, None);
        assert_eq!(c.cwnd(), 23 * MSS);
        assert!(c.epoch.is_none());
    }

    #[test]
    fn an_ack_never_shrinks_the_window() {
        let mut c = after_loss(100);
        let mut last = c.cwnd();
        for i in 0..20_000u64 {
            let rtt = Duration::from_micros(100 + (i * 7919) % 200_000);
            c.on_ack(
                1 + (i as usize * 31) % 3000,
                MSS,
                at(i as f64 * 0.001),
                Some(rtt),
            );
            assert!(c.cwnd() >= last);
            last = c.cwnd();
        }
    }

    #[test]
    fn idle_time_is_left_out_of_the_curve() {
        let mut c = after_loss(100);
        run(&mut c, 0.1, 0.0, 1.0);
        let e = c.epoch.unwrap();
        // Idle from the last ACK until 6 s: those seconds are out of t, once however often
        // the sender is found idle meanwhile.
        c.pause(at(3.0));
        assert!(c.on_idle_restart(10 * MSS, Duration::from_secs(5), at(6.0)));
        assert_eq!(c.cwnd(), 10 * MSS);
        assert_eq!(c.epoch.unwrap().start, e.start + (at(6.0) - e.clock));
        c.pause(at(6.0));
        assert_eq!(c.epoch.unwrap().start, e.start + (at(6.0) - e.clock));
    }

    /// 5.8: t leaves out application-limited time too. A sender that used a fifth of its
    /// window for 30 s, then fills it again, goes on along the curve from where it left
    /// it, not 30 s further on (1.5 times the window per round trip, far past W_max).
    #[test]
    fn application_limited_time_is_left_out_of_the_curve() {
        let mut cc = crate::tcp::congestion::Cc::new(crate::tcp::congestion::Algorithm::Cubic);
        cc.set_cwnd(100 * MSS);
        cc.on_congestion_event(100 * MSS, MSS, at(0.0));
        cc.on_recovery_end(MSS, at(0.0));
        let rtt = Some(Duration::from_millis(100));
        let w0 = cc.cwnd();
        cc.on_ack_with_flight(MSS, w0, MSS, at(0.1), rtt, None);
        // 30 s of ACKs for a flight of 20 segments: the window is not used (past the
        // round the full flight began, which counts as used).
        let mut held = 0;
        for i in 0..3000 {
            let now = at(0.1 + 0.01 * f64::from(i));
            cc.on_ack_with_flight(MSS, 20 * MSS, MSS, now, rtt, None);
            if i == 100 {
                held = cc.cwnd();
            }
        }
        assert!(held > w0 && cc.cwnd() == held, "{w0} {held} {}", cc.cwnd());
        // Five round trips with the window full.
        let mut now = 30.1;
        for _ in 0..5 {
            let w = cc.cwnd();
            for _ in 0..w / MSS {
                cc.on_ack_with_flight(MSS, w, MSS, at(now), rtt, None);
            }
            now += 0.1;
        }
        // Half a second into the curve: below W_max (K is about 4.2 s).
        assert!(cc.cwnd() < 100 * MSS, "{} segments", cc.cwnd() / MSS);
    }

    #[test]
    fn no_input_panics() {
        let big = usize::MAX;
        let times = [T0, at(1.0), Instant::from_micros(u64::MAX)];
        let rtts = [None, Some(Duration::ZERO), Some(Duration::MAX)];
        for (cwnd, ssthresh) in [(0, 0), (0, big), (big, 0), (big, big), (1, 0)] {
            for mss in [0, 1, 1460, big] {
                for acked in [0, 1, big] {
                    let mut c = Cubic::new(cwnd, ssthresh);
                    for (&now, &rtt) in times.iter().zip(rtts.iter().cycle()) {
                        c.on_ack(acked, mss, now, rtt);
                        c.on_congestion_event(acked, mss, now);
                        c.on_ack(acked, mss, now, rtt);
                        c.on_ack(acked, mss, Instant::from_micros(u64::MAX), rtt);
                        c.on_recovery_end(mss, now);
                        c.on_ack(acked, mss, now, rtt);
                        c.on_rto(acked, mss, true, now);
                        c.on_ack(acked, mss, now, rtt);
                        c.on_idle_restart(acked, Duration::MAX, now);
                        c.set_cwnd(cwnd);
                        c.on_ack(acked, mss, now, rtt);
                    }
                }
            }
        }
    }

    #[test]
    fn after_an_idle_restart_the_reno_estimate_does_not_restore_the_old_window() {
        // Reno-friendly region at 1 ms RTT: W_est drives cwnd well above ssthresh (70).
        let rtt = 0.001;
        let mut c = after_loss(100);
        let t = run(&mut c, rtt, 0.0, 0.2);
        let before = c.cwnd();
        assert!(before > 100 * MSS, "{before}");
        // Idle for a second: restart window 10 segments.
        assert!(c.on_idle_restart(10 * MSS, Duration::from_secs(1), at(t + 1.0)));
        // Slow start back to ssthresh (70 segments), one ACK per segment.
        let mut now = t + 1.0;
        while c.cwnd() < c.ssthresh() {
            now += 0.00001;
            c.on_ack(MSS, MSS, at(now), Some(Duration::from_secs_f64(rtt)));
        }
        let at_ssthresh = c.cwnd();
        // The first ACK in congestion avoidance.
        c.on_ack(
            MSS,
            MSS,
            at(now + 0.00001),
            Some(Duration::from_secs_f64(rtt)),
        );
        let jump = c.cwnd() - at_ssthresh;
        assert!(
            jump <= MSS,
            "one ACK grew cwnd by {} segments ({} -> {})",
            jump / MSS,
            at_ssthresh / MSS,
            c.cwnd() / MSS
        );
    }

    /// RFC 9438 4.8: the first avoidance stage after a timeout has K = 0 and W_max = the
    /// window it starts at, even when an earlier loss left a larger W_max behind.
    #[test]
    fn after_a_timeout_the_curve_restarts_from_the_window_whatever_w_max_was() {
        let mut c = after_loss(100);
        assert_eq!(c.w_max, 100_000.0);
        c.on_rto(70 * MSS, MSS, true, at(1.0));
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 49 * MSS));
        while c.cwnd() < c.ssthresh() {
            c.on_ack(MSS, MSS, at(2.0), None);
        }
        c.on_ack(MSS, MSS, at(2.0), None);
        let e = c.epoch.unwrap();
        assert_eq!(e.k, 0.0);
        assert_eq!(c.w_max, 49_000.0);
    }

    /// RFC 9438 4.7: fast convergence lowers W_max only when the window is *below* the
    /// last W_max; a loss exactly at W_max (on the plateau) keeps W_max = cwnd.
    #[test]
    fn a_loss_exactly_at_w_max_is_no_fast_convergence() {
        let mut c = after_loss(100);
        c.set_cwnd(100 * MSS);
        c.on_congestion_event(100 * MSS, MSS, at(5.0));
        assert_eq!(c.w_max, 100_000.0);
        assert_eq!(c.ssthresh(), 70 * MSS);
    }
}
