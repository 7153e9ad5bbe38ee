//! Proportional Rate Reduction (RFC 9937): how much a SACK recovery may send on each ACK.
//!
//! RFC 6675 alone sets the congestion window to ssthresh when recovery begins and sends
//! whatever `cwnd - pipe` allows. With a flight above ssthresh that is nothing at all until
//! the pipe has drained below ssthresh (a silence of a third of a round trip for CUBIC's
//! 0.7), then one segment per segment delivered; with a flight far below it (many losses)
//! it is a burst of the difference at once. PRR instead spreads the reduction over the
//! round trip: while the pipe is above ssthresh, the data sent keeps the proportion
//! ssthresh / RecoverFS of the data delivered, so that when the flight at the start has
//! been delivered, ssthresh has been sent. Once the pipe is at or below ssthresh, the
//! sender catches up no faster than the data delivered (the conservative bound), plus one
//! segment per ACK that advances SND.UNA without revealing a new loss (the slow-start
//! bound), never past ssthresh.
//!
//! The connection applies the result as Linux does: after each ACK in recovery the
//! congestion window becomes `pipe + sndcnt`, and the end of recovery sets it to
//! ssthresh (`CongestionControl::on_recovery_end`).

/// One recovery episode's counts, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Prr {
    /// prr_delivered: what the peer got since the episode began (cumulatively or SACKed).
    delivered: usize,
    /// prr_out: what was sent since then, retransmissions and new data.
    out: usize,
    /// RecoverFS: the pipe when the episode began.
    recover_fs: usize,
}

impl Prr {
    /// A new episode with `pipe` bytes in flight.
    pub(super) fn start(pipe: usize) -> Prr {
        Prr {
            delivered: 0,
            out: 0,
            recover_fs: pipe,
        }
    }

    /// `bytes` went out (a retransmission or new data).
    pub(super) fn sent(&mut self, bytes: usize) {
        self.out = self.out.saturating_add(bytes);
    }

    /// Nothing sent yet in the episode (the fast retransmission is still due).
    pub(super) fn nothing_sent(&self) -> bool {
        self.out == 0
    }

    /// An ACK that delivered `delivered` bytes (0 only before anything was sent), leaving `pipe` in flight;
    /// `safe`: it advanced SND.UNA and marked nothing newly lost. Returns sndcnt, the bytes
    /// that may go now.
    pub(super) fn on_ack(
        &mut self,
        delivered: usize,
        pipe: usize,
        ssthresh: usize,
        safe: bool,
        mss: usize,
    ) -> usize {
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh && self.recover_fs > 0 {
            // Proportional: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let fs = self.recover_fs as u128;
            let due = (self.delivered as u128 * ssthresh as u128).div_ceil(fs);
            usize::try_from(due)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.out)
        } else {
            // The conservative bound: no more than was delivered (what this ACK delivered
            // at least, so that ACK reordering does not stall it), one segment more on a
            // safe ACK; and never beyond ssthresh.
            let mut n = self.delivered.saturating_sub(self.out).max(delivered);
            if safe {
                n = n.saturating_add(mss);
            }
            n.min(ssthresh.saturating_sub(pipe))
        };
        if self.out == 0 {
            // The fast retransmit goes whatever the proportion says: a whole segment (as
            // Linux's at least one packet; a byte count below an MSS would send nothing).
            sndcnt.max(mss)
        } else {
            sndcnt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    /// A flight of 100 segments with 1 lost and ssthresh 70 (CUBIC's 0.7): each of the 99
    /// segments still in the pipe delivered one by one lets 0.7 of a segment out, about
    /// 70 in all, spread over the round trip: never two on one ACK and never ten ACKs
    /// without one.
    #[test]
    fn above_ssthresh_sending_keeps_the_proportion_over_the_round() {
        let ssthresh = 70 * MSS;
        let mut p = Prr::start(99 * MSS);
        let mut pipe = 99 * MSS;
        // The fast retransmit, forced.
        let first = p.on_ack(MSS, pipe, ssthresh, false, MSS);
        assert_eq!(first, MSS);
        p.sent(first);
        pipe += first;
        let (mut total, mut quiet, mut longest_quiet) = (first, 0, 0);
        for _ in 1..99 {
            pipe -= MSS;
            let n = p.on_ack(MSS, pipe, ssthresh, false, MSS);
            // Whole segments go; the rest waits for the next ACK.
            let go = n / MSS * MSS;
            assert!(go <= MSS, "a burst: {go}");
            if go == 0 {
                quiet += 1;
                longest_quiet = longest_quiet.max(quiet);
            } else {
                quiet = 0;
            }
            p.sent(go);
            pipe += go;
            total += go;
        }
        assert!((69 * MSS..=70 * MSS).contains(&total), "{total}");
        assert!(longest_quiet <= 2, "{longest_quiet} ACKs without a send");
        // The pipe has come down to about ssthresh.
        assert!(pipe.abs_diff(ssthresh) <= 2 * MSS, "{pipe}");
    }

    /// Below ssthresh (many losses): the conservative bound sends what was delivered, and
    /// one segment more when the ACK advanced SND.UNA without a new loss; never past
    /// ssthresh. RFC 6675 would send ssthresh - pipe at once.
    #[test]
    fn below_ssthresh_catching_up_is_bounded() {
        let ssthresh = 70 * MSS;
        let mut p = Prr::start(30 * MSS);
        p.sent(MSS);
        // Not safe (a SACK, no advance): what it delivered.
        assert_eq!(p.on_ack(2 * MSS, 20 * MSS, ssthresh, false, MSS), 2 * MSS);
        p.sent(2 * MSS);
        // Safe: one segment more.
        assert_eq!(p.on_ack(MSS, 20 * MSS, ssthresh, true, MSS), 2 * MSS);
        p.sent(2 * MSS);
        // Delivered beyond what went out (ACKs that sent nothing): caught up at once,
        // within ssthresh.
        assert_eq!(p.on_ack(10 * MSS, 20 * MSS, ssthresh, false, MSS), 10 * MSS);
        assert_eq!(p.on_ack(5 * MSS, 68 * MSS, ssthresh, true, MSS), 2 * MSS);
        assert_eq!(p.on_ack(5 * MSS, 70 * MSS, ssthresh, true, MSS), 0);
    }

    /// Nothing in the pipe at the start (every segment lost or SACKed) divides by nothing
    /// and sends no burst: the first ACK lets the retransmission go, and the bound below
    /// ssthresh applies. Extreme counts saturate.
    #[test]
    fn an_empty_pipe_at_the_start_does_not_divide_by_zero() {
        let mut p = Prr::start(0);
        assert_eq!(p.on_ack(MSS, 0, 10 * MSS, false, MSS), MSS);
        let mut p = Prr::start(0);
        assert_eq!(p.on_ack(MSS, 20 * MSS, 10 * MSS, false, MSS), MSS);
        p.sent(MSS);
        assert_eq!(p.on_ack(MSS, 20 * MSS, 10 * MSS, true, MSS), 0);
        let mut p = Prr::start(1);
        let n = p.on_ack(usize::MAX, usize::MAX, usize::MAX - 1, true, MSS);
        assert_eq!(n, usize::MAX);
        p.sent(n);
        p.sent(n);
        assert_eq!(
            p.on_ack(usize::MAX, usize::MAX, usize::MAX - 1, true, MSS),
            0
        );
    }
}
