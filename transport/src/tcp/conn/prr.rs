//! Proportional Rate Reduction (RFC 6937) for SACK recovery: instead of dropping the
//! congestion window to ssthresh in one step when recovery starts (and then sending
//! nothing until the pipe has drained below it), each ACK during recovery lets out data in
//! proportion to what it reports delivered, so that by the end of the round the window
//! has come down to ssthresh smoothly and the ACK clock never stops. When losses have
//! drained the pipe below ssthresh, the slow-start reduction bound (PRR-SSRB) lets the
//! sender catch up, at most one segment more than was delivered per ACK.
//!
//! The connection calls [`Prr::start`] when recovery begins, [`Prr::sent`] for every byte
//! it transmits while in recovery, and [`Prr::on_ack`] on each ACK of the recovery (the
//! one that started it included), which returns the congestion window to use: the pipe
//! plus what may be sent now.

/// One recovery episode's accounting (RFC 6937 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prr {
    /// Bytes in flight when recovery began (`RecoverFS`).
    recover_fs: usize,
    /// Bytes the peer reported delivered since (`prr_delivered`).
    delivered: usize,
    /// Bytes sent since, retransmissions included (`prr_out`).
    out: usize,
}

impl Prr {
    /// Recovery begins with `flight` bytes outstanding.
    pub fn start(&mut self, flight: usize) {
        *self = Prr {
            recover_fs: flight.max(1),
            delivered: 0,
            out: 0,
        };
    }

    /// `n` bytes (new or retransmitted) left during recovery.
    pub fn sent(&mut self, n: usize) {
        self.out = self.out.saturating_add(n);
    }

    /// An ACK reported `delivered` bytes newly acknowledged or SACKed; `pipe` is RFC
    /// 6675's estimate of what is still in flight. Returns the congestion window:
    /// `pipe + sndcnt`.
    pub fn on_ack(&mut self, delivered: usize, pipe: usize, ssthresh: usize, mss: usize) -> usize {
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            // Proportional part: sent so far ≈ delivered · ssthresh / RecoverFS.
            let allowed = (self.delivered as u128 * ssthresh as u128)
                .div_ceil(self.recover_fs as u128)
                .min(usize::MAX as u128) as usize;
            allowed.saturating_sub(self.out)
        } else {
            // Slow-start reduction bound: catch up towards ssthresh, at most what was
            // delivered (or what this ACK delivered) plus one segment.
            let limit = self
                .delivered
                .saturating_sub(self.out)
                .max(delivered)
                .saturating_add(mss);
            ssthresh.saturating_sub(pipe).min(limit)
        };
        pipe.saturating_add(sndcnt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    /// Drive an episode with one loss in a flight of `n` segments and ssthresh `ss`
    /// segments: every other segment's ACK arrives, each delivering one segment; the
    /// sender sends whatever the window allows, a whole segment at a time. Returns the
    /// segments sent after each ACK.
    fn drive(n: usize, ss: usize) -> Vec<usize> {
        let mut p = Prr::default();
        p.start(n * MSS);
        // The lost segment is out of the pipe; the rest are in it.
        let mut pipe = (n - 1) * MSS;
        let mut sent_per_ack = Vec::new();
        for _ in 0..n - 1 {
            pipe -= MSS; // one more segment SACKed
            let cwnd = p.on_ack(MSS, pipe, ss * MSS, MSS);
            let mut k = 0;
            while pipe + MSS <= cwnd {
                pipe += MSS;
                p.sent(MSS);
                k += 1;
            }
            sent_per_ack.push(k);
        }
        sent_per_ack
    }

    #[test]
    fn a_single_loss_spreads_the_reduction_over_the_round() {
        // 20 segments in flight, ssthresh 14 (CUBIC's 0.7): over the 19 ACKs the sender
        // sends about 14 · 19 / 20 ≈ 13.3, never more than one segment per ACK, and
        // starts sending at once (no silence while the pipe drains from 19 to 14).
        let s = drive(20, 14);
        let total: usize = s.iter().sum();
        assert!((13..=14).contains(&total), "{s:?}"); // 19 · 14 / 20 = 13.3
        assert!(s.iter().all(|&k| k <= 1), "{s:?}");
        assert!(
            s[..3].iter().sum::<usize>() >= 1,
            "the ACK clock keeps going: {s:?}"
        );
    }

    #[test]
    fn the_proportional_part_never_sends_ahead_of_its_share() {
        let mut p = Prr::default();
        p.start(10 * MSS);
        // ssthresh 7 segments, pipe above it: the first ACK delivering one segment allows
        // ceil(1 · 7 / 10) = 1 segment (in bytes: ceil(7000 / 10) = 700).
        assert_eq!(p.on_ack(MSS, 9 * MSS, 7 * MSS, MSS), 9 * MSS + 700);
        p.sent(MSS);
        // The next: ceil(2 · 7000 / 10) = 1400 allowed, 1000 out: 400 more.
        assert_eq!(p.on_ack(MSS, 8 * MSS, 7 * MSS, MSS), 8 * MSS + 400);
    }

    #[test]
    fn a_drained_pipe_catches_up_by_at_most_one_segment_more_than_delivered() {
        let mut p = Prr::default();
        p.start(20 * MSS);
        // Many losses: the pipe is 3 segments, far below ssthresh 14. An ACK delivering
        // two segments lets out three (SSRB: delivered + 1 MSS), not eleven.
        assert_eq!(p.on_ack(2 * MSS, 3 * MSS, 14 * MSS, MSS), 6 * MSS);
        p.sent(3 * MSS);
        // An ACK that delivers nothing (a D-SACK, say) still allows one segment.
        assert_eq!(p.on_ack(0, 6 * MSS, 14 * MSS, MSS), 7 * MSS);
        // Near ssthresh the bound is ssthresh itself.
        assert_eq!(p.on_ack(5 * MSS, 13 * MSS, 14 * MSS, MSS), 14 * MSS);
    }

    #[test]
    fn nothing_overflows_or_panics() {
        let mut p = Prr::default();
        p.start(0);
        for &(d, pipe, ss) in &[
            (usize::MAX, usize::MAX, usize::MAX),
            (usize::MAX, 0, usize::MAX),
            (0, usize::MAX, 0),
            (1, 1, 1),
        ] {
            let _ = p.on_ack(d, pipe, ss, MSS);
            p.sent(usize::MAX);
        }
    }
}
