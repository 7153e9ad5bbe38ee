//! NewReno's window arithmetic (RFC 5681 3.1, RFC 6582): slow start by the bytes each ACK
//! acknowledges (see `super::slow_start` for why not RFC 5681's one MSS per ACK), one MSS
//! per window of bytes acknowledged in congestion avoidance, half the flight on a loss.
//!
//! RFC 6582's inflation by one MSS per duplicate ACK and deflation on partial and full
//! ACKs belong to the recovery code, which sets the window through `set_cwnd`.

use super::{slow_start, CongestionControl};
use netif::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reno {
    cwnd: usize,
    ssthresh: usize,
}

impl Reno {
    pub fn new(cwnd: usize, ssthresh: usize) -> Reno {
        Reno { cwnd, ssthresh }
    }
}

/// RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 * SMSS).
fn half_flight(flight: usize, mss: usize) -> usize {
    (flight / 2).max(mss.saturating_mul(2))
}

impl CongestionControl for Reno {
    fn name(&self) -> &'static str {
        "reno"
    }

    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = cwnd;
    }

    fn on_ack(&mut self, acked: usize, mss: usize, _now: Instant, _rtt: Option<Duration>) {
        self.cwnd = if self.cwnd < self.ssthresh {
            slow_start(self.cwnd, acked, self.ssthresh)
        } else if acked == 0 {
            self.cwnd
        } else {
            // RFC 5681 (3) counted in bytes: SMSS * acked / cwnd, so that a window's worth
            // of acknowledged bytes adds one SMSS however many ACKs carried it (RFC 5681
            // 3.1's byte counting, RFC 3465 2.1). SMSS * SMSS / cwnd per ACK grew a window
            // acknowledged by stretch ACKs (GRO, or this stack's up to 128 KB) by a small
            // fraction of a segment per round trip. At least a byte, at most an SMSS.
            let inc = mss.saturating_mul(acked) / self.cwnd.max(1);
            self.cwnd.saturating_add(inc.clamp(1, mss.max(1)))
        };
    }

    fn on_congestion_event(&mut self, flight: usize, mss: usize, _now: Instant) {
        self.ssthresh = half_flight(flight, mss);
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_end(&mut self, mss: usize, _now: Instant) {
        self.cwnd = self.ssthresh.max(mss);
    }

    fn end_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
    }

    fn on_rto(&mut self, flight: usize, mss: usize, first: bool, _now: Instant) {
        if first {
            self.ssthresh = half_flight(flight, mss);
        }
        // RFC 5681 3.1: the loss window is one segment.
        self.cwnd = mss;
    }

    fn on_idle_restart(&mut self, iw: usize, _idle: Duration, _now: Instant) -> bool {
        if self.cwnd > iw {
            self.cwnd = iw;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const T: Instant = Instant::ZERO;

    fn reno(cwnd: usize) -> Reno {
        Reno::new(cwnd, usize::MAX / 2)
    }

    #[test]
    fn slow_start_adds_the_bytes_acknowledged_up_to_ssthresh() {
        let mut r = reno(10 * MSS);
        r.on_ack(MSS, MSS, T, None);
        assert_eq!(r.cwnd(), 11 * MSS);
        // A stretch ACK of four segments counts four (a GRO receiver's ACK of a 64 KB
        // burst counts the burst).
        r.on_ack(4 * MSS, MSS, T, None);
        assert_eq!(r.cwnd(), 15 * MSS);
        // A small ACK counts what it acknowledges.
        r.on_ack(100, MSS, T, None);
        assert_eq!(r.cwnd(), 15 * MSS + 100);
        // Not past ssthresh.
        let mut r = Reno::new(10 * MSS, 12 * MSS);
        r.on_ack(44 * MSS, MSS, T, None);
        assert_eq!(r.cwnd(), 12 * MSS);
        // A window's worth of ACKs doubles the window.
        let mut r = reno(10 * MSS);
        for _ in 0..10 {
            r.on_ack(MSS, MSS, T, None);
        }
        assert_eq!(r.cwnd(), 20 * MSS);
    }

    #[test]
    fn avoidance_adds_about_one_mss_per_round_trip() {
        let mut r = Reno::new(20 * MSS, 10 * MSS);
        r.on_ack(MSS, MSS, T, None);
        assert_eq!(r.cwnd(), 20 * MSS + MSS * MSS / (20 * MSS));
        // A round trip of ACKs, one per segment: just under one MSS more.
        let mut r = Reno::new(20 * MSS, 10 * MSS);
        for _ in 0..20 {
            r.on_ack(MSS, MSS, T, None);
        }
        assert!((19 * MSS / 20..=MSS).contains(&(r.cwnd() - 20 * MSS)));
        // A huge window still grows by at least a byte per ACK.
        let mut r = Reno::new(usize::MAX / 4, 10);
        r.on_ack(MSS, MSS, T, None);
        assert_eq!(r.cwnd(), usize::MAX / 4 + 1);
    }

    /// RFC 5681 3.1 recommends counting the bytes acknowledged in avoidance (RFC 3465
    /// 2.1): one MSS once a window's worth is acknowledged, however many ACKs carried it.
    /// A receiver that stretches its ACKs (GRO, or this stack's own up to 128 KB) sends a
    /// few per round trip; SMSS * SMSS / cwnd per ACK then grows the window by a small
    /// fraction of a segment per round trip.
    #[test]
    fn avoidance_counts_bytes_so_stretch_acks_still_add_one_mss_per_round_trip() {
        let mut r = Reno::new(100 * MSS, 50 * MSS);
        // One round trip of 100 segments, acknowledged by two ACKs of 50 segments each.
        r.on_ack(50 * MSS, MSS, T, None);
        r.on_ack(50 * MSS, MSS, T, None);
        let grown = r.cwnd() - 100 * MSS;
        assert!(
            (MSS * 9 / 10..=MSS).contains(&grown),
            "grew {grown} bytes in a round trip of stretch ACKs"
        );
        // Ten round trips of one ACK each: about ten segments.
        let mut r = Reno::new(100 * MSS, 50 * MSS);
        for _ in 0..10 {
            let w = r.cwnd();
            r.on_ack(w, MSS, T, None);
        }
        let grown = r.cwnd() - 100 * MSS;
        assert!((9 * MSS..=10 * MSS).contains(&grown), "grew {grown}");
    }

    #[test]
    fn a_loss_halves_the_flight() {
        let mut r = reno(40 * MSS);
        r.on_congestion_event(30 * MSS, MSS, T);
        assert_eq!((r.cwnd(), r.ssthresh()), (15 * MSS, 15 * MSS));
        // Never below two segments.
        r.on_congestion_event(MSS, MSS, T);
        assert_eq!((r.cwnd(), r.ssthresh()), (2 * MSS, 2 * MSS));
        // Recovery ends at ssthresh, at least one segment.
        r.set_cwnd(5 * MSS);
        r.on_recovery_end(MSS, T);
        assert_eq!(r.cwnd(), 2 * MSS);
    }

    #[test]
    fn a_timeout_collapses_to_one_segment_and_sets_ssthresh_once() {
        let mut r = reno(40 * MSS);
        r.on_rto(40 * MSS, MSS, true, T);
        assert_eq!((r.cwnd(), r.ssthresh()), (MSS, 20 * MSS));
        // A backed-off timeout leaves ssthresh alone (RFC 5681 (4)).
        r.on_rto(MSS, MSS, false, T);
        assert_eq!((r.cwnd(), r.ssthresh()), (MSS, 20 * MSS));
        // Then slow start up to ssthresh, avoidance beyond.
        for _ in 0..19 {
            r.on_ack(MSS, MSS, T, None);
        }
        assert_eq!(r.cwnd(), 20 * MSS);
        r.on_ack(MSS, MSS, T, None);
        assert_eq!(r.cwnd(), 20 * MSS + MSS / 20);
    }

    #[test]
    fn idle_restart_lowers_only_a_larger_window() {
        let mut r = reno(40 * MSS);
        assert!(r.on_idle_restart(10 * MSS, Duration::from_secs(1), T));
        assert_eq!(r.cwnd(), 10 * MSS);
        assert!(!r.on_idle_restart(10 * MSS, Duration::from_secs(1), T));
        assert_eq!(r.cwnd(), 10 * MSS);
    }

    #[test]
    fn no_input_panics() {
        let big = usize::MAX;
        for (cwnd, ssthresh) in [(0, 0), (0, big), (big, 0), (big, big)] {
            for mss in [0, 1, big] {
                for acked in [0, 1, big] {
                    let mut r = Reno::new(cwnd, ssthresh);
                    r.on_ack(acked, mss, T, None);
                    r.on_congestion_event(acked, mss, T);
                    r.on_ack(acked, mss, T, Some(Duration::MAX));
                    r.on_recovery_end(mss, T);
                    r.on_rto(acked, mss, true, T);
                    r.on_idle_restart(acked, Duration::MAX, T);
                }
            }
        }
    }
}
