//! HyStart++ (RFC 9406): the initial slow start ends when the round-trip time starts to
//! rise, before the queue it is filling overflows, instead of at the first loss.
//!
//! - 4.2: a round begins when what was in flight at the start of the previous one has
//!   been acknowledged (`Cc` counts rounds in bytes; that is the RFC's `windowEnd =
//!   SND.NXT`). Each ACK in slow start adds the latest RTT sample to the round's minimum.
//!   Once a round has `N_RTT_SAMPLE` samples and the last round had a minimum, a minimum
//!   higher by `RttThresh` (an eighth of the last round's, within 4 to 16 ms) ends slow
//!   start and starts Conservative Slow Start (CSS), whose ACKs grow the window by a
//!   quarter of what slow start's would.
//! - In CSS a round whose minimum falls below the one that started it proves the exit
//!   spurious: slow start resumes. After `CSS_ROUNDS` rounds, congestion avoidance takes
//!   over from the window reached (ssthresh = cwnd).
//! - 4.3: only the initial slow start (ssthresh still arbitrarily high) uses it; a loss
//!   or an ECN echo ends it for the connection; an undone loss (`Cc::undo`) restores it
//!   as it was. Slow start after a timeout is standard.
//!
//! One departure: the RFC's `L`, the most an ACK may add (8 SMSS for a sender that does
//! not pace), is not applied, for the reason slow start has none (see
//! `super::slow_start`): a receiver that coalesces acknowledges 64 KB with one ACK.
//!
//! RTTs are kept in microseconds in a `u32` (saturating; `NONE` is "no sample"), so that
//! the state adds 16 bytes to a connection.

use netif::Duration;

/// 4.3's constants.
const MIN_RTT_THRESH_US: u32 = 4_000;
const MAX_RTT_THRESH_US: u32 = 16_000;
const MIN_RTT_DIVISOR: u32 = 8;
const N_RTT_SAMPLE: u16 = 8;
pub(super) const CSS_GROWTH_DIVISOR: usize = 4;
const CSS_ROUNDS: u8 = 5;

/// No RTT seen (the RFC's infinity).
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    SlowStart,
    /// Conservative Slow Start since a round's minimum of `baseline` µs; `rounds` have
    /// ended in it.
    Css {
        baseline: u32,
        rounds: u8,
    },
    /// Not (or no longer) the initial slow start.
    Done,
}

/// What an ACK or the start of a round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HyStartEvent {
    /// The delay rose: Conservative Slow Start began.
    EnteredCss,
    /// The delay fell back: the exit was spurious, slow start goes on.
    ResumedSlowStart,
    /// CSS ran its rounds: slow start is over (ssthresh = cwnd).
    Exited,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HyStart {
    phase: Phase,
    last_round_min: u32,
    round_min: u32,
    samples: u16,
}

impl Default for HyStart {
    fn default() -> HyStart {
        HyStart {
            phase: Phase::SlowStart,
            last_round_min: NONE,
            round_min: NONE,
            samples: 0,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(NONE - 1)
}

impl HyStart {
    /// Still the initial slow start (in CSS or not).
    pub(super) fn active(&self) -> bool {
        self.phase != Phase::Done
    }

    pub(super) fn in_css(&self) -> bool {
        matches!(self.phase, Phase::Css { .. })
    }

    /// A loss, an ECN echo or a timeout: slow start from here on is standard.
    pub(super) fn end(&mut self) {
        self.phase = Phase::Done;
    }

    /// A round begins: its minimum starts afresh. The end of CSS's last round ends slow
    /// start.
    pub(super) fn start_round(&mut self) -> Option<HyStartEvent> {
        if self.phase == Phase::Done {
            return None;
        }
        self.last_round_min = self.round_min;
        self.round_min = NONE;
        self.samples = 0;
        if let Phase::Css { rounds, .. } = &mut self.phase {
            *rounds += 1;
            if *rounds >= CSS_ROUNDS {
                self.phase = Phase::Done;
                return Some(HyStartEvent::Exited);
            }
        }
        None
    }

    /// An ACK in slow start or CSS, with the latest RTT sample (the RFC's `currentRTT`,
    /// which may be the same sample as the last ACK's: every ACK counts).
    pub(super) fn on_ack(&mut self, rtt: Option<Duration>) -> Option<HyStartEvent> {
        let rtt = rtt.map(micros)?;
        if self.phase == Phase::Done {
            return None;
        }
        self.round_min = self.round_min.min(rtt);
        self.samples = self.samples.saturating_add(1);
        if self.samples < N_RTT_SAMPLE {
            return None;
        }
        match self.phase {
            Phase::SlowStart if self.last_round_min != NONE => {
                let thresh = (self.last_round_min / MIN_RTT_DIVISOR)
                    .clamp(MIN_RTT_THRESH_US, MAX_RTT_THRESH_US);
                if self.round_min >= self.last_round_min.saturating_add(thresh) {
                    self.phase = Phase::Css {
                        baseline: self.round_min,
                        rounds: 0,
                    };
                    return Some(HyStartEvent::EnteredCss);
                }
            }
            Phase::Css { baseline, .. } if self.round_min < baseline => {
                self.phase = Phase::SlowStart;
                return Some(HyStartEvent::ResumedSlowStart);
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One round of `n` ACKs, each with the sample `rtt`; the events it gave.
    fn round(h: &mut HyStart, n: usize, rtt: Duration) -> Vec<HyStartEvent> {
        let mut ev: Vec<_> = h.start_round().into_iter().collect();
        for _ in 0..n {
            ev.extend(h.on_ack(Some(rtt)));
        }
        ev
    }

    #[test]
    fn a_steady_rtt_keeps_slow_start() {
        let mut h = HyStart::default();
        for _ in 0..100 {
            assert_eq!(round(&mut h, 20, ms(50)), []);
        }
        assert!(h.active() && !h.in_css());
    }

    #[test]
    fn the_threshold_is_an_eighth_of_the_last_minimum_within_4_and_16_ms() {
        // (last round's minimum, the smallest rise that ends slow start)
        for (base, thresh) in [(10, 4), (32, 4), (40, 5), (80, 10), (128, 16), (500, 16)] {
            let mut h = HyStart::default();
            round(&mut h, 8, ms(base));
            assert_eq!(round(&mut h, 8, ms(base + thresh - 1)), [], "{base} ms");
            // The minimum of the last round is now base + thresh - 1: measure from it.
            let mut h = HyStart::default();
            round(&mut h, 8, ms(base));
            assert_eq!(
                round(&mut h, 8, ms(base + thresh)),
                [HyStartEvent::EnteredCss],
                "{base} ms"
            );
            assert!(h.in_css());
        }
    }

    #[test]
    fn fewer_than_eight_samples_decide_nothing() {
        let mut h = HyStart::default();
        round(&mut h, 8, ms(20));
        assert_eq!(round(&mut h, 7, ms(100)), []);
        // The next round compares with a minimum of 100 ms.
        assert_eq!(round(&mut h, 7, ms(200)), []);
        assert_eq!(round(&mut h, 8, ms(200)), []);
        assert!(!h.in_css());
        // The eighth sample of a round decides, the first seven do not.
        let mut h = HyStart::default();
        round(&mut h, 8, ms(20));
        h.start_round();
        for _ in 0..7 {
            assert_eq!(h.on_ack(Some(ms(30))), None);
        }
        assert_eq!(h.on_ack(Some(ms(30))), Some(HyStartEvent::EnteredCss));
        // ACKs without any sample yet count for nothing.
        let mut h = HyStart::default();
        for _ in 0..50 {
            h.start_round();
            assert_eq!(h.on_ack(None), None);
        }
        assert_eq!(h.last_round_min, NONE);
    }

    #[test]
    fn the_first_round_has_nothing_to_compare_with() {
        let mut h = HyStart::default();
        assert_eq!(round(&mut h, 50, ms(500)), []);
    }

    #[test]
    fn css_ends_slow_start_after_five_rounds() {
        let mut h = HyStart::default();
        round(&mut h, 8, ms(20));
        assert_eq!(round(&mut h, 8, ms(30)), [HyStartEvent::EnteredCss]);
        // The round CSS began in is its first; four more, at a delay as high.
        for _ in 0..4 {
            assert_eq!(round(&mut h, 8, ms(30)), []);
            assert!(h.in_css());
        }
        assert_eq!(h.start_round(), Some(HyStartEvent::Exited));
        assert!(!h.active());
        // Nothing after.
        assert_eq!(round(&mut h, 8, ms(1)), []);
        assert_eq!(round(&mut h, 8, ms(100)), []);
    }

    #[test]
    fn a_delay_that_falls_back_resumes_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 8, ms(20));
        assert_eq!(round(&mut h, 8, ms(30)), [HyStartEvent::EnteredCss]);
        // A later round's minimum below the 30 ms that began CSS (not below 20 ms).
        assert_eq!(round(&mut h, 8, ms(31)), []);
        assert_eq!(round(&mut h, 8, ms(29)), [HyStartEvent::ResumedSlowStart]);
        assert!(h.active() && !h.in_css());
        // Slow start again compares round with round: 29 then 33 ms is a rise of 4.
        assert_eq!(round(&mut h, 8, ms(33)), [HyStartEvent::EnteredCss]);
        // CSS counts its rounds afresh.
        for _ in 0..4 {
            assert_eq!(round(&mut h, 8, ms(33)), []);
        }
        assert_eq!(h.start_round(), Some(HyStartEvent::Exited));
    }

    #[test]
    fn a_loss_ends_it_for_good() {
        let mut h = HyStart::default();
        round(&mut h, 8, ms(20));
        h.end();
        assert!(!h.active());
        assert_eq!(round(&mut h, 8, ms(100)), []);
        assert_eq!(h.start_round(), None);
    }

    #[test]
    fn extreme_samples_do_not_panic() {
        let mut h = HyStart::default();
        for d in [
            Duration::ZERO,
            Duration::MAX,
            ms(u64::MAX / 1000),
            Duration::ZERO,
        ] {
            for _ in 0..10 {
                h.start_round();
                for _ in 0..10 {
                    h.on_ack(Some(d));
                }
            }
        }
        // u16 sample counts saturate.
        let mut h = HyStart::default();
        for _ in 0..70_000 {
            h.on_ack(Some(ms(5)));
        }
        assert_eq!(h.samples, u16::MAX);
    }
}
