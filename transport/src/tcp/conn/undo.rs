//! Detecting that a congestion response was spurious, so that it can be undone (RFC 9438
//! 4.9 for CUBIC; Linux undoes for every algorithm). On a path that reorders or delays
//! segments, a segment taken for lost arrives after all: its retransmission was not needed,
//! and neither was the cut of the congestion window, which CUBIC and Reno would otherwise
//! take many round trips to win back.
//!
//! An episode starts with a congestion event (SACK recovery, the first retransmission
//! timeout of a run) and covers every retransmission from the oldest one still
//! unacknowledged (a loss probe's copy sent before a timeout belongs to the timeout's
//! episode) until the episode closes. Two detectors, each of which must clear *every*
//! retransmission of the episode, since one spurious retransmission says nothing about
//! another hole in the same window:
//! - **timestamps** (RFC 3522, the Eifel algorithm): an ACK that covers every
//!   retransmitted byte echoes a TSval older than the episode's first retransmission. The
//!   receiver echoes the segment that last advanced its left edge, and its TS.Recent never
//!   goes back (RFC 7323 4.3, 5.3), so no retransmission filled any hole up to there. An
//!   echo at or after that TSval settles it the other way for the episode. Our TSvals count
//!   milliseconds and the comparison is strict: a retransmission sent in the same
//!   millisecond as the original is never judged by its timestamp; an echo of 0 is no
//!   evidence. A retransmission SACKed above the left edge filled a hole the echo does not
//!   speak for: the episode is then left to D-SACK;
//! - **D-SACK** (RFC 3708): the peer reported every retransmitted byte as received twice
//!   (RFC 2883), each byte counted once however often it is reported. Bytes retransmitted
//!   twice, or more disjoint ranges than [`MAX_RANGES`], leave the decision to timestamps.
//!
//! The connection acts on a verdict only when no segment is marked lost and not yet resent
//! (or after a timeout, whose marks the verdict clears); it then leaves recovery. The
//! episode stays open through recovery and two round trips after it (D-SACKs for the last
//! retransmissions come back about a round trip after the ACK that ends recovery), and
//! closes when another congestion event begins.

use crate::tcp::seq::Seq;

/// Disjoint retransmitted ranges followed for D-SACKs per episode.
pub(super) const MAX_RANGES: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Undo {
    open: bool,
    /// The oldest retransmission not yet cumulatively acknowledged, in or out of an
    /// episode: its first byte, its end, and its TSval if it had one.
    oldest: Option<(Seq, Seq, Option<u32>)>,
    /// Further retransmissions made outside an episode while `oldest` was outstanding (more
    /// than one loss probe, or the same bytes probed twice): the end of the highest. The
    /// next episode must answer for them too (Linux's `tcp_init_undo` counts every
    /// retransmission in flight, a probe's included, in `undo_retrans`), and a D-SACK can
    /// no longer tell which copy it reports.
    others_hi: Option<Seq>,
    /// The episode's first retransmission (that oldest one if there was one when the
    /// episode began): its first byte and TSval.
    first: Option<(Seq, Option<u32>)>,
    /// The end of the highest byte the episode retransmitted.
    hi: Seq,
    /// Timestamps: `eifel_ok` when an ACK covering every retransmission proved them
    /// spurious (reset by a further retransmission); `eifel_failed` when an echo showed a
    /// retransmission delivered.
    eifel_ok: bool,
    eifel_failed: bool,
    /// D-SACK: the retransmitted ranges not yet reported; `dsack_void` when they can no
    /// longer decide (a range sent twice, too many ranges).
    pending: Vec<(Seq, Seq)>,
    dsack_void: bool,
    /// After recovery: SND.UNA to reach for the episode to close, and the rounds left.
    close_at: Option<Seq>,
    rounds_left: u8,
}

/// Round trips the episode stays open after recovery.
const ROUNDS_AFTER: u8 = 2;

impl Undo {
    /// A congestion event: watch its retransmissions (and the oldest one outstanding).
    pub fn start(&mut self) {
        let (oldest, others_hi) = (self.oldest, self.others_hi);
        *self = Undo {
            open: true,
            oldest,
            others_hi,
            ..Undo::default()
        };
        if let Some((seq, end, ts)) = oldest {
            self.first = Some((seq, ts));
            self.hi = end;
            self.pending.push((seq, end));
        }
        if let Some(hi) = others_hi {
            // Every retransmission outstanding is the episode's (the oldest's TSval is the
            // earliest of them, so timestamps still decide), but not by D-SACK.
            if hi.gt(self.hi) {
                self.hi = hi;
            }
            self.dsack_void = true;
            self.pending = Vec::new();
        }
    }

    /// A congestion event that may not be undone, or an undo done: stop watching (the
    /// oldest retransmission outstanding stays known).
    pub fn close(&mut self) {
        let (oldest, others_hi) = (self.oldest, self.others_hi);
        *self = Undo {
            oldest,
            others_hi,
            ..Undo::default()
        };
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// `[seq, end)` was sent again, carrying `tsval` if timestamps are on.
    pub fn retransmitted(&mut self, seq: Seq, end: Seq, tsval: Option<u32>) {
        if !end.gt(seq) {
            return;
        }
        if self.oldest.is_none() {
            self.oldest = Some((seq, end, tsval));
        } else if !self.open {
            // Not the only retransmission outside an episode (RFC 3708: each must be
            // reported; undo.rs's rule: an episode covers every one from the oldest).
            self.others_hi = Some(match self.others_hi {
                Some(hi) if hi.gt(end) => hi,
                _ => end,
            });
        }
        if !self.open {
            return;
        }
        if self.first.is_none() {
            self.first = Some((seq, tsval));
            self.hi = end;
        } else if end.gt(self.hi) {
            self.hi = end;
        }
        // A verdict by timestamps must cover this one too.
        self.eifel_ok = false;
        if self.dsack_void {
            return;
        }
        let sent_twice = self.pending.iter().any(|&(l, r)| seq.lt(r) && l.lt(end));
        if sent_twice || self.pending.len() >= MAX_RANGES {
            // Which copy a D-SACK reports is unknown: count on timestamps alone.
            self.dsack_void = true;
            self.pending = Vec::new();
        } else {
            self.pending.push((seq, end));
        }
    }

    /// An acceptable ACK, after the connection has taken it: its cumulative `ack`, the
    /// TSecr it carried, its D-SACK block if it had one, and the connection's state after
    /// it. Returns true when every retransmission of the episode has proved spurious (the
    /// caller undoes, and closes the episode, when it can act on it).
    pub fn on_ack(
        &mut self,
        ack: Seq,
        tsecr: Option<u32>,
        dsack: Option<(Seq, Seq)>,
        in_recovery: bool,
        snd_max: Seq,
    ) -> bool {
        if self.others_hi.is_some_and(|hi| ack.ge(hi)) {
            self.others_hi = None;
        }
        if let Some((_, end, _)) = self.oldest {
            // Kept while later ones are outstanding: its TSval is the earliest.
            if ack.ge(end) && self.others_hi.is_none() {
                self.oldest = None;
            }
        }
        if !self.open {
            return false;
        }
        let Some((seq, first_ts)) = self.first else {
            // Nothing retransmitted yet in this episode.
            self.close_after_recovery(ack, in_recovery, snd_max);
            return false;
        };
        if !self.eifel_failed && ack.gt(seq) {
            if let (Some(ts), Some(ecr)) = (first_ts, tsecr.filter(|&e| e != 0)) {
                // TSecr < the first retransmission's TSval, modulo 2^32 (RFC 7323 5.2).
                let older = (ts.wrapping_sub(ecr) as i32) > 0;
                if !older {
                    self.eifel_failed = true;
                    self.eifel_ok = false;
                } else if ack.ge(self.hi) {
                    self.eifel_ok = true;
                }
            }
        }
        if let Some((l, r)) = dsack.filter(|_| !self.dsack_void) {
            self.dsack_reported(l, r);
        }
        let proven = self.eifel_ok || (!self.dsack_void && self.pending.is_empty());
        if !proven {
            self.close_after_recovery(ack, in_recovery, snd_max);
        }
        proven
    }

    /// A retransmitted segment was SACKed above the cumulative ACK: it filled a hole
    /// beyond the receiver's left edge, whose timestamp echo (the left edge's segment's)
    /// cannot tell whether the retransmission was needed. The timestamps decide nothing
    /// more in this episode; D-SACKs still may.
    pub fn retransmission_sacked(&mut self) {
        if self.open {
            self.eifel_failed = true;
            self.eifel_ok = false;
        }
    }

    /// Take `[l, r)` out of the retransmitted ranges not yet reported.
    fn dsack_reported(&mut self, l: Seq, r: Seq) {
        if !r.gt(l) {
            return;
        }
        let mut i = 0;
        while i < self.pending.len() {
            let (pl, pr) = self.pending[i];
            if !(l.lt(pr) && pl.lt(r)) {
                i += 1;
                continue;
            }
            // What is left of the range on either side of the block.
            let left = pl.lt(l).then_some((pl, l));
            let right = r.lt(pr).then_some((r, pr));
            match (left, right) {
                (Some(a), Some(b)) => {
                    self.pending[i] = a;
                    if self.pending.len() >= MAX_RANGES {
                        self.dsack_void = true;
                        self.pending = Vec::new();
                        return;
                    }
                    self.pending.push(b);
                    i += 1;
                }
                (Some(a), None) | (None, Some(a)) => {
                    self.pending[i] = a;
                    i += 1;
                }
                (None, None) => {
                    self.pending.swap_remove(i);
                }
            }
        }
    }

    fn close_after_recovery(&mut self, ack: Seq, in_recovery: bool, snd_max: Seq) {
        if in_recovery {
            return;
        }
        match self.close_at {
            None => {
                self.close_at = Some(snd_max);
                self.rounds_left = ROUNDS_AFTER;
            }
            Some(at) if ack.ge(at) => {
                self.rounds_left = self.rounds_left.saturating_sub(1);
                if self.rounds_left == 0 {
                    self.close();
                } else {
                    self.close_at = Some(snd_max);
                }
            }
            Some(_) => {}
        }
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
        // Until the caller acts, the verdict stands.
        assert!(u.on_ack(s(3000), Some(100), None, true, s(9000)));
        u.close();
        assert!(!u.on_ack(s(4000), Some(100), None, true, s(9000)));
    }

    #[test]
    fn an_ack_echoing_a_retransmission_decides_against_undo() {
        let mut u = episode(Some(103));
        assert!(!u.on_ack(s(1500), Some(103), None, true, s(9000)));
        // The test is settled: a later ACK echoing an older TSval does not count.
        assert!(!u.on_ack(s(4000), Some(100), None, true, s(9000)));
        assert!(u.is_open(), "D-SACKs may still undo");
        // Without timestamps there is no such test, and an echo of 0 is no evidence.
        let mut u = episode(None);
        assert!(!u.on_ack(s(3000), Some(1), None, true, s(9000)));
        let mut u = episode(Some(5));
        assert!(!u.on_ack(s(3000), Some(0), None, true, s(9000)));
        // TSvals wrap (RFC 7323 5.2).
        let mut u = episode(Some(2));
        assert!(u.on_ack(s(3000), Some(u32::MAX - 1), None, true, s(9000)));
    }

    #[test]
    fn timestamps_must_clear_every_retransmission_of_the_episode() {
        // Two holes retransmitted; the first was only late, the second really lost.
        let mut u = episode(Some(103));
        u.retransmitted(s(5000), s(6000), Some(104));
        // The late original fills the first hole: not yet past the second.
        assert!(!u.on_ack(s(5000), Some(100), None, true, s(9000)));
        // The second hole's retransmission fills it: the echo shows it.
        assert!(!u.on_ack(s(9000), Some(104), None, true, s(9000)));
        // Both only late: the ACK past both still echoes an original.
        let mut u = episode(Some(103));
        u.retransmitted(s(5000), s(6000), Some(104));
        assert!(!u.on_ack(s(5000), Some(100), None, true, s(9000)));
        assert!(u.on_ack(s(9000), Some(101), None, true, s(9000)));
        // A verdict reached before a further retransmission does not cover it.
        let mut u = episode(Some(103));
        assert!(u.on_ack(s(2000), Some(100), None, true, s(9000)));
        u.retransmitted(s(7000), s(8000), Some(110));
        assert!(!u.on_ack(s(2000), Some(100), None, true, s(9000)));
        assert!(u.on_ack(s(8000), Some(101), None, true, s(9000)));
    }

    #[test]
    fn a_probe_sent_before_the_episode_is_its_first_retransmission() {
        let mut u = Undo::default();
        // A loss probe resends [1000, 2000) at TSval 50, outside any episode.
        u.retransmitted(s(1000), s(2000), Some(50));
        // Then a timeout resends it again at 300.
        u.start();
        u.retransmitted(s(1000), s(2000), Some(300));
        // An ACK echoing the probe (older than the timeout's copy) is no proof: the probe
        // is the episode's first retransmission.
        assert!(!u.on_ack(s(2000), Some(50), None, true, s(2000)));
        // An outstanding retransmission acknowledged is forgotten.
        let mut u = Undo::default();
        u.retransmitted(s(1000), s(2000), Some(50));
        u.on_ack(s(2000), None, None, false, s(2000));
        u.start();
        u.retransmitted(s(3000), s(4000), Some(60));
        assert!(u.on_ack(s(4000), Some(55), None, true, s(4000)));
    }

    #[test]
    fn d_sacks_of_every_retransmitted_byte_prove_it_spurious() {
        let mut u = episode(None);
        u.retransmitted(s(5000), s(6000), None);
        // A D-SACK of something never retransmitted, or of the gap between two
        // retransmissions, counts for nothing.
        assert!(!u.on_ack(s(1000), None, Some((s(7000), s(8000))), true, s(9000)));
        assert!(!u.on_ack(s(1000), None, Some((s(2000), s(5000))), true, s(9000)));
        assert!(!u.on_ack(s(1000), None, Some((s(1000), s(2000))), true, s(9000)));
        // The same report again counts once.
        assert!(!u.on_ack(s(1000), None, Some((s(1000), s(2000))), true, s(9000)));
        // The rest, in pieces and in a block reaching past it.
        assert!(!u.on_ack(s(1000), None, Some((s(5200), s(5500))), true, s(9000)));
        assert!(!u.on_ack(s(1000), None, Some((s(5000), s(5200))), true, s(9000)));
        assert!(u.on_ack(s(1000), None, Some((s(5500), s(9000))), true, s(9000)));
        // An episode with no retransmission yet is not spurious by D-SACK.
        let mut u = Undo::default();
        u.start();
        assert!(!u.on_ack(s(1000), None, Some((s(0), s(1000))), true, s(9000)));
        // Bytes retransmitted twice: which copy was duplicated is unknown.
        let mut u = episode(None);
        u.retransmitted(s(1000), s(2000), None);
        assert!(!u.on_ack(s(1000), None, Some((s(1000), s(2000))), true, s(9000)));
        // More ranges than followed: likewise.
        let mut u = Undo::default();
        u.start();
        for i in 0..=MAX_RANGES as u32 {
            u.retransmitted(s(i * 2000), s(i * 2000 + 1000), None);
        }
        for i in 0..=MAX_RANGES as u32 {
            let b = (s(i * 2000), s(i * 2000 + 1000));
            assert!(!u.on_ack(s(0), None, Some(b), true, s(1 << 20)));
        }
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
        // Retransmissions outside an episode are only remembered as the oldest.
        u.retransmitted(s(30_000), s(30_001), Some(1));
        assert!(!u.is_open());
        assert!(!u.on_ack(
            s(30_001),
            Some(0),
            Some((s(30_000), s(30_001))),
            false,
            s(40_000)
        ));
    }

    /// The module's rule: an episode covers every retransmission from the oldest one still
    /// unacknowledged. A loss probe resent [1000, 2000) before a SACK recovery, and a
    /// timeout during that recovery starts a new episode while the probe is still
    /// unacknowledged: the probe stays the first retransmission, so an ACK echoing the
    /// probe's TSval proves nothing spurious (RFC 3522: the echo must be older than the
    /// first retransmission).
    #[test]
    fn a_second_episode_still_starts_from_the_oldest_retransmission() {
        let mut u = Undo::default();
        u.retransmitted(s(1000), s(2000), Some(50));
        // SACK recovery: another hole resent at 60.
        u.start();
        u.retransmitted(s(5000), s(6000), Some(60));
        // The timeout: the head resent again at 300.
        u.start();
        u.retransmitted(s(1000), s(2000), Some(300));
        assert!(!u.on_ack(s(6000), Some(50), None, true, s(9000)));
    }

    /// `close` stops watching but keeps the oldest retransmission outstanding known: an
    /// episode that begins after a closed one (a timeout without SACK, a repaired probe)
    /// still counts a retransmission made before it.
    #[test]
    fn closing_an_episode_keeps_the_oldest_retransmission() {
        let mut u = Undo::default();
        u.retransmitted(s(1000), s(2000), Some(50));
        u.close();
        u.start();
        u.retransmitted(s(3000), s(4000), Some(300));
        assert!(!u.on_ack(s(4000), Some(50), None, true, s(4000)));
        // An echo older than the probe still proves both spurious.
        let mut u = Undo::default();
        u.retransmitted(s(1000), s(2000), Some(50));
        u.close();
        u.start();
        u.retransmitted(s(3000), s(4000), Some(300));
        assert!(u.on_ack(s(4000), Some(40), None, true, s(4000)));
    }

    /// RFC 3708 with the module's rule that every retransmitted byte must be reported: a
    /// D-SACK covering only one end of a range leaves the other end pending, whichever
    /// range it is, and a block reaching over several ranges takes from each.
    #[test]
    fn a_d_sack_of_one_end_of_a_range_leaves_the_other_end_pending() {
        let mut u = episode(None);
        u.retransmitted(s(3000), s(4000), None);
        // The tail of the first range and the head of the second, in one block.
        assert!(!u.on_ack(s(1000), None, Some((s(1500), s(3500))), true, s(9000)));
        // The head of the first range.
        assert!(!u.on_ack(s(1000), None, Some((s(1000), s(1500))), true, s(9000)));
        // The tail of the second: all reported.
        assert!(u.on_ack(s(1000), None, Some((s(3500), s(4000))), true, s(9000)));
    }

    /// The episode stays open for two round trips after recovery (D-SACKs for the last
    /// retransmissions come back a round trip after the ACK that ends it): ACKs within one
    /// round, however many, count as one.
    #[test]
    fn acks_within_a_round_after_recovery_do_not_close_the_episode() {
        let mut u = episode(None);
        // Recovery ended; SND.MAX was 10000: the first round ends when that is ACKed.
        assert!(!u.on_ack(s(9000), None, None, false, s(10_000)));
        for a in [9200, 9400, 9600, 9800] {
            assert!(!u.on_ack(s(a), None, None, false, s(10_000)));
        }
        assert!(u.is_open());
        assert!(u.on_ack(s(9900), None, Some((s(1000), s(2000))), false, s(10_000)));
    }
}
