//! Detecting that a congestion response was spurious, so that it can be undone (RFC 9438
//! 4.9 for CUBIC; Linux undoes for every algorithm). On a path that reorders or delays
//! segments, a segment taken for lost arrives after all: its retransmission was not needed,
//! and neither was the cut of the congestion window, which CUBIC and Reno would otherwise
//! take many round trips to win back.
//!
//! An episode starts with a congestion event (fast recovery, RACK's loss marking, the first
//! retransmission timeout) and watches that episode's retransmissions, with two detectors:
//! - **timestamps** (RFC 3522, the Eifel algorithm): the first ACK that covers the first
//!   retransmitted byte echoes a TSval older than that retransmission's, so the original
//!   transmission filled the hole (RFC 7323 4.3: the receiver echoes the segment that
//!   advanced its left edge). Our TSvals count milliseconds and the comparison is strict:
//!   a retransmission sent in the same millisecond as the original is never judged by its
//!   timestamp;
//! - **D-SACK** (RFC 3708): the peer reported every retransmitted byte as received twice
//!   (RFC 2883).
//!
//! The episode stays open through recovery and two round trips after it (D-SACKs for the
//! last retransmissions come back about a round trip after the ACK that ends recovery),
//! and closes early when another congestion event begins.

use crate::tcp::seq::Seq;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Undo {
    open: bool,
    /// The episode's first retransmission: its first byte, and its TSval if it had one.
    first: Option<(Seq, Option<u32>)>,
    /// The timestamp test is still to be made (no ACK has covered `first` yet).
    eifel_pending: bool,
    /// The range the episode retransmitted in, and how many retransmitted bytes the peer
    /// has not reported as duplicates.
    lo: Seq,
    hi: Seq,
    undsacked: usize,
    /// After recovery: SND.UNA to reach for the episode to close, and the rounds left.
    close_at: Option<Seq>,
    rounds_left: u8,
}

/// Round trips the episode stays open after recovery.
const ROUNDS_AFTER: u8 = 2;

impl Undo {
    /// A congestion event: watch its retransmissions from now on.
    pub fn start(&mut self) {
        *self = Undo {
            open: true,
            eifel_pending: true,
            ..Undo::default()
        };
    }

    /// A congestion event that may not be undone (or none to watch any more).
    pub fn close(&mut self) {
        *self = Undo::default();
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// `[seq, end)` was sent again, carrying `tsval` if timestamps are on.
    pub fn retransmitted(&mut self, seq: Seq, end: Seq, tsval: Option<u32>) {
        if !self.open || !end.gt(seq) {
            return;
        }
        match self.first {
            None => {
                self.first = Some((seq, tsval));
                self.lo = seq;
                self.hi = end;
            }
            Some(_) => {
                if seq.lt(self.lo) {
                    self.lo = seq;
                }
                if end.gt(self.hi) {
                    self.hi = end;
                }
            }
        }
        self.undsacked = self.undsacked.saturating_add(end.since(seq));
    }

    /// An acceptable ACK, after the connection has taken it: its cumulative `ack`, the
    /// TSecr it carried, its D-SACK block if it had one, and the connection's state after
    /// it. Returns true when the episode proved spurious (it is then closed: undo once).
    pub fn on_ack(
        &mut self,
        ack: Seq,
        tsecr: Option<u32>,
        dsack: Option<(Seq, Seq)>,
        in_recovery: bool,
        snd_max: Seq,
    ) -> bool {
        if !self.open {
            return false;
        }
        let mut spurious = false;
        if let Some((seq, tsval)) = self.first {
            if self.eifel_pending && ack.gt(seq) {
                self.eifel_pending = false;
                // TSecr < TSval of the retransmission, modulo 2^32 (RFC 7323 5.2).
                if let (Some(ts), Some(ecr)) = (tsval, tsecr) {
                    spurious |= (ts.wrapping_sub(ecr) as i32) > 0;
                }
            }
            if let Some((l, r)) = dsack {
                // Only what lies in the retransmitted range counts.
                let l = if l.lt(self.lo) { self.lo } else { l };
                let r = if r.gt(self.hi) { self.hi } else { r };
                if r.gt(l) {
                    self.undsacked = self.undsacked.saturating_sub(r.since(l));
                    spurious |= self.undsacked == 0;
                }
            }
        }
        if spurious {
            self.close();
            return true;
        }
        if !in_recovery {
            match self.close_at {
                None => {
                    self.close_at = Some(snd_max);
                    self.rounds_left = ROUNDS_AFTER;
                }
                Some(at) if ack.ge(at) => {
                    self.rounds_left -= 1;
                    if self.rounds_left == 0 {
                        self.close();
                    } else {
                        self.close_at = Some(snd_max);
                    }
                }
                Some(_) => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> Seq {
        Seq(n)
    }

    fn episode(first_ts: Option<u32>) -> Undo {
        let mut u = Undo::default();
        u.start();
        u.retransmitted(s(1000), s(2000), first_ts);
        u
    }

    #[test]
    fn an_ack_echoing_the_original_proves_the_retransmission_spurious() {
        // The original left at TSval 100, the retransmission at 103.
        let mut u = episode(Some(103));
        // ACKs below the retransmitted byte say nothing.
        assert!(!u.on_ack(s(1000), Some(100), None, true, s(9000)));
        assert!(u.on_ack(s(3000), Some(100), None, true, s(9000)));
        assert!(!u.is_open(), "undone once");
        assert!(!u.on_ack(s(4000), Some(100), None, true, s(9000)));
    }

    #[test]
    fn an_ack_echoing_the_retransmission_decides_against_undo() {
        let mut u = episode(Some(103));
        assert!(!u.on_ack(s(3000), Some(103), None, true, s(9000)));
        // The test is made once: a later ACK echoing an older TSval does not count.
        assert!(!u.on_ack(s(4000), Some(100), None, true, s(9000)));
        assert!(u.is_open(), "D-SACKs may still undo");
        // Without timestamps there is no such test.
        let mut u = episode(None);
        assert!(!u.on_ack(s(3000), Some(1), None, true, s(9000)));
        // TSvals wrap (RFC 7323 5.2).
        let mut u = episode(Some(2));
        assert!(u.on_ack(s(3000), Some(u32::MAX - 1), None, true, s(9000)));
    }

    #[test]
    fn d_sacks_of_every_retransmitted_byte_prove_it_spurious() {
        let mut u = episode(None);
        u.retransmitted(s(5000), s(6000), None);
        // A D-SACK of something never retransmitted counts for nothing.
        assert!(!u.on_ack(s(1000), None, Some((s(7000), s(8000))), true, s(9000)));
        assert!(!u.on_ack(s(1000), None, Some((s(1000), s(2000))), true, s(9000)));
        // The rest, in a block reaching past the range: only its overlap counts.
        assert!(!u.on_ack(s(1000), None, Some((s(5000), s(5500))), true, s(9000)));
        assert!(u.on_ack(s(1000), None, Some((s(5500), s(9000))), true, s(9000)));
        // An episode with no retransmission yet is not spurious by D-SACK.
        let mut u = Undo::default();
        u.start();
        assert!(!u.on_ack(s(1000), None, Some((s(0), s(1000))), true, s(9000)));
    }

    #[test]
    fn the_episode_closes_two_rounds_after_recovery() {
        let mut u = episode(None);
        u.retransmitted(s(3000), s(4000), None);
        // Recovery ended at this ACK; SND.MAX was 10000.
        assert!(!u.on_ack(s(9000), None, None, false, s(10_000)));
        assert!(!u.on_ack(s(10_000), None, None, false, s(20_000)));
        assert!(u.is_open());
        // A D-SACK within the second round still counts (partly).
        assert!(!u.on_ack(s(15_000), None, Some((s(1000), s(2000))), false, s(25_000)));
        assert!(!u.on_ack(s(20_000), None, None, false, s(30_000)));
        assert!(!u.is_open());
        assert!(!u.on_ack(s(20_000), None, Some((s(3000), s(4000))), false, s(30_000)));
        // Retransmissions outside an episode are not watched.
        u.retransmitted(s(1), s(2), Some(1));
        assert_eq!(u, Undo::default());
    }
}
