//! RACK-TLP loss detection (RFC 8985) on the table of sent segments.
//!
//! RACK: a segment is lost once a segment sent after it has been delivered (ACKed or
//! SACKed) and a reordering window has passed since that one's round trip would have
//! brought it too (6.2). The window starts at a quarter of the minimum RTT, is zero while
//! no reordering has been seen and DupThresh segments are SACKed or recovery is under way
//! (emulating RFC 6675 then), grows by a quarter min RTT per round trip that brings a
//! D-SACK (RFC 2883), shrinks back after 16 recoveries without one, and never exceeds SRTT.
//! A segment not yet past its window arms the reordering timer. A retransmission that is
//! lost is found the same way: its record carries the retransmission's time.
//!
//! TLP (7): the probe's bookkeeping (one probe per flight, and what its ACK says); the
//! connection sends it.

use super::segtable::{Seg, SegTable};
use crate::tcp::seq::Seq;
use netif::{Duration, Instant};

/// Recoveries a grown reordering window survives without a new D-SACK (RFC 8985 6.2
/// step 4).
const REO_WND_PERSIST: u8 = 16;

/// What one run of loss detection found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Detected {
    /// Records newly marked lost, and how many of them were retransmissions.
    pub lost: usize,
    pub lost_retransmitted: usize,
    /// When to look again (the reordering timer), if a segment may yet arrive.
    pub timeout: Option<Duration>,
}

/// What an ACK said about an outstanding tail loss probe (RFC 8985 7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlpOutcome {
    /// No probe outstanding, or the ACK does not settle it.
    Pending,
    /// The probe was new data, or both it and the original arrived: no loss.
    NoLoss,
    /// The probe retransmitted a segment that was lost, and repaired it: the congestion
    /// window must still answer for the loss.
    Repaired,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rack {
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered so far
    /// (with the table's transmission order in place of RFC 8985's sequence-number tie
    /// break).
    xmit_ts: Option<Instant>,
    order: u32,
    /// RACK.rtt: that segment's round trip.
    rtt: Duration,
    /// RACK.min_RTT.
    min_rtt: Option<Duration>,
    /// RACK.fack: the highest end of a delivered segment.
    fack: Option<Seq>,
    /// RACK.reordering_seen.
    reordering_seen: bool,
    /// RACK.reo_wnd_mult (0 stands for 1) and RACK.reo_wnd_persist.
    reo_wnd_mult: u8,
    reo_wnd_persist: u8,
    /// RACK.dsack_round: SND.NXT when the window last grew; one growth per round trip.
    dsack_round: Option<Seq>,
    /// TLP.end_seq and TLP.is_retrans of the probe outstanding.
    tlp: Option<(Seq, bool)>,
    /// The range a retransmitted probe resent (see `dsack_of_tlp`).
    tlp_seg: Option<(Seq, Seq)>,
}

/// RACK_sent_after (RFC 8985 6.2): was (t1, o1) sent after (t2, o2)?
fn sent_after(t1: Instant, o1: u32, t2: Instant, o2: u32) -> bool {
    t1 > t2 || (t1 == t2 && o1.wrapping_sub(o2) as i32 > 0)
}

impl Rack {
    pub fn new() -> Rack {
        Rack::default()
    }

    #[cfg(test)]
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    #[cfg(test)]
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// RACK.rtt: the round trip of the most recently sent segment delivered so far (a
    /// sample from the packet clock on every ACK that delivers newer data, with or
    /// without timestamps).
    pub(super) fn rtt(&self) -> Option<Duration> {
        self.xmit_ts.map(|_| self.rtt)
    }

    /// Steps 1-3 for one segment newly ACKed or SACKed (call in sequence order). `echo`
    /// is the time the ACK's timestamp echo names (its TSecr on our clock), if any: a
    /// retransmitted segment whose echo is older than the retransmission was delivered by
    /// its original, which says nothing about the retransmission's round trip.
    pub fn delivered(&mut self, seg: &Seg, now: Instant, echo: Option<Instant>) {
        // Step 3: reordering (a segment never resent arriving below one that already did).
        match self.fack {
            Some(f) if !seg.end.gt(f) => {
                if seg.end.lt(f) && !seg.retransmitted() {
                    self.reordering_seen = true;
                }
            }
            _ => self.fack = Some(seg.end),
        }
        // Steps 1-2.
        let rtt = now.saturating_duration_since(seg.xmit_ts);
        if seg.retransmitted() {
            // Millisecond timestamps: an echo from before the retransmission's millisecond.
            if echo.is_some_and(|e| e.total_millis() < seg.xmit_ts.total_millis()) {
                return;
            }
            if self.min_rtt.is_some_and(|m| rtt < m) {
                return;
            }
        }
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        match self.xmit_ts {
            Some(t) if !sent_after(seg.xmit_ts, seg.order, t, self.order) => {}
            _ => {
                self.xmit_ts = Some(seg.xmit_ts);
                self.order = seg.order;
                self.rtt = rtt;
            }
        }
    }

    /// Step 4's D-SACK part, once per ACK: grow the window once per round trip that
    /// brings a D-SACK; count down recoveries without one.
    pub fn update_reo_wnd(&mut self, dsack: bool, snd_una: Seq, snd_max: Seq, left_recovery: bool) {
        if self.dsack_round.is_some_and(|r| snd_una.ge(r)) {
            self.dsack_round = None;
        }
        if dsack {
            // A D-SACK proves a segment arrived twice: most often a retransmission that
            // reordering (or delay) made spurious, whose late original step 3 does not
            // count (it was retransmitted). Without this, the window grown below stayed
            // at zero in recovery, where it matters (Linux marks reordering on such an
            // undo too).
            self.reordering_seen = true;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_max);
            self.reo_wnd_mult = self.reo_wnd_mult.max(1).saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if left_recovery && self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RACK.reo_wnd (step 4).
    pub fn reo_wnd(
        &self,
        in_recovery: bool,
        segs_sacked: usize,
        srtt: Option<Duration>,
    ) -> Duration {
        if !self.reordering_seen && (in_recovery || segs_sacked >= super::scoreboard::DUP_THRESH) {
            return Duration::ZERO;
        }
        let Some(min_rtt) = self.min_rtt else {
            return Duration::ZERO;
        };
        let w = (min_rtt / 4).saturating_mul(u32::from(self.reo_wnd_mult.max(1)));
        srtt.map_or(w, |s| w.min(s))
    }

    /// Step 5: mark lost every segment sent before the most recently delivered one whose
    /// time is up, and say how long until the next one may be (the reordering timer), as
    /// RFC 8985 arms it (the latest of those deadlines).
    pub fn detect_loss(&self, table: &mut SegTable, now: Instant, reo_wnd: Duration) -> Detected {
        let mut d = Detected::default();
        let Some(rx) = self.xmit_ts else {
            return d;
        };
        for i in 0..table.len() {
            let Some(s) = table.get(i).copied() else {
                break;
            };
            if s.sacked || s.lost || !sent_after(rx, self.order, s.xmit_ts, s.order) {
                continue;
            }
            let deadline = s.xmit_ts + self.rtt + reo_wnd;
            if deadline <= now {
                if table.mark_lost(i) {
                    d.lost += 1;
                    d.lost_retransmitted += usize::from(s.retransmitted());
                }
            } else {
                let left = deadline.saturating_duration_since(now);
                d.timeout = Some(d.timeout.map_or(left, |t| t.max(left)));
            }
        }
        d
    }

    /// After a retransmission timeout (6.3): the first segment is lost, and every other
    /// one whose RACK deadline passed. Without an RTT sample yet, everything.
    pub fn mark_lost_on_rto(
        &self,
        table: &mut SegTable,
        una: Seq,
        now: Instant,
        reo_wnd: Duration,
    ) -> usize {
        let mut marked = 0;
        for i in 0..table.len() {
            let Some(s) = table.get(i).copied() else {
                break;
            };
            let due = self.xmit_ts.is_none() || s.xmit_ts + self.rtt + reo_wnd <= now;
            if (s.start == una || due) && table.mark_lost(i) {
                marked += 1;
            }
        }
        marked
    }

    /// A probe left, ending at `end`; `retrans`: it resent old data.
    pub fn tlp_sent(&mut self, end: Seq, retrans: bool) {
        self.tlp = Some((end, retrans));
        self.tlp_seg = None;
    }

    /// A probe resent `seg`, the flight ending at `end`.
    pub fn tlp_resent(&mut self, end: Seq, seg: (Seq, Seq)) {
        self.tlp = Some((end, true));
        self.tlp_seg = Some(seg);
    }

    /// Does the D-SACK block `[l, r)` report the outstanding probe's copy? RFC 8985 7.4.2
    /// takes only "a DSACK option matching TLP.end_seq" for "no loss" (Linux's
    /// FLAG_DSACK_TLP, a block ending at tlp_high_seq); a probe here may resend a hole
    /// below the end, so a block reaching into the segment it resent matches.
    pub fn dsack_of_tlp(&self, (l, r): (Seq, Seq)) -> bool {
        matches!(self.tlp, Some((_, true))) && self.tlp_seg.is_some_and(|(s, e)| l.lt(e) && s.lt(r))
    }

    /// A probe is outstanding (RFC 8985 7.3: at most one per flight).
    #[cfg(test)]
    pub fn tlp_pending(&self) -> bool {
        self.tlp.is_some()
    }

    /// TLP_process_ack (7.4.2): what this ACK (cumulative `ack`, whether it carried a
    /// D-SACK, whether it carried SACK blocks at all) says about the probe.
    pub fn tlp_on_ack(&mut self, ack: Seq, dsack: bool, has_sack: bool, dup: bool) -> TlpOutcome {
        let Some((end, retrans)) = self.tlp else {
            return TlpOutcome::Pending;
        };
        if ack.lt(end) {
            return TlpOutcome::Pending;
        }
        if !retrans || dsack {
            self.tlp = None;
            return TlpOutcome::NoLoss;
        }
        if ack.gt(end) {
            // The ACK covers data beyond the probe, and no D-SACK said the original
            // arrived: the probe repaired a loss.
            self.tlp = None;
            return TlpOutcome::Repaired;
        }
        if dup && !has_sack {
            self.tlp = None;
            return TlpOutcome::NoLoss;
        }
        TlpOutcome::Pending
    }

    /// A retransmission timeout, or a recovery that takes over the loss, ends the probe's
    /// episode; the reordering state stays.
    pub fn end_tlp_episode(&mut self) {
        self.tlp = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::scoreboard::Scoreboard;
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Segments of 1000 bytes from 0, the i-th sent at `i` ms.
    fn flight(n: u32) -> Scoreboard {
        let mut sb = Scoreboard::new();
        for i in 0..n {
            sb.sent(Seq(i * 1000), Seq(i * 1000 + 1000), t(u64::from(i)));
        }
        sb
    }

    /// An ACK at `now`, fed to RACK as the connection does.
    fn ack(sb: &mut Scoreboard, rack: &mut Rack, now: Instant, cum: u32, blocks: &[(u32, u32)]) {
        let b: Vec<(Seq, Seq)> = blocks.iter().map(|&(l, r)| (Seq(l), Seq(r))).collect();
        sb.on_ack(Seq(cum), Seq(cum), &b, &mut |s| {
            rack.delivered(s, now, None)
        });
    }

    fn lost(sb: &Scoreboard) -> Vec<u32> {
        sb.table()
            .iter()
            .filter(|s| s.lost)
            .map(|s| s.start.0 / 1000)
            .collect()
    }

    #[test]
    fn a_segment_sent_well_before_a_sacked_one_is_lost() {
        // Segment 0 sent at 0 ms, segments 1..4 at 1..4 ms. Segment 0's ACK established
        // min_RTT = 100 ms; a second flight: segment 1 lost, 2 SACKed at 110 ms.
        let mut sb = flight(5);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        assert_eq!(rack.min_rtt(), Some(ms(100)));
        ack(&mut sb, &mut rack, t(102), 1000, &[(2000, 3000)]);
        // reo_wnd = 25 ms: segment 1 (sent 1 ms earlier than 2) waits for the timer.
        let w = rack.reo_wnd(false, 1, Some(ms(100)));
        assert_eq!(w, ms(25));
        let Detected {
            lost: n,
            timeout: timer,
            ..
        } = rack.detect_loss(sb.table_mut(), t(102), w);
        assert_eq!(n, 0);
        // Deadline: 1 ms (sent) + 100 ms (RACK.rtt) + 25 ms = 126 ms, 24 ms from now.
        assert_eq!(timer, Some(ms(24)));
        assert!(lost(&sb).is_empty());
        // The reordering timer fires: now it is lost.
        let Detected {
            lost: n,
            timeout: timer,
            ..
        } = rack.detect_loss(sb.table_mut(), t(126), w);
        assert_eq!((n, timer), (1, None));
        assert_eq!(lost(&sb), [1]);
    }

    #[test]
    fn a_late_segment_within_the_window_is_not_lost() {
        let mut sb = flight(5);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        ack(&mut sb, &mut rack, t(102), 1000, &[(2000, 3000)]);
        let w = rack.reo_wnd(false, 1, Some(ms(100)));
        assert_eq!(rack.detect_loss(sb.table_mut(), t(110), w).lost, 0);
        // Segment 1 arrives (reordered) before the timer: the cumulative ACK delivers it,
        // and reordering is now known.
        ack(&mut sb, &mut rack, t(111), 3000, &[]);
        assert!(rack.reordering_seen());
        assert_eq!(rack.detect_loss(sb.table_mut(), t(200), w).lost, 0);
        assert!(lost(&sb).is_empty());
    }

    #[test]
    fn three_sacked_segments_without_reordering_mean_a_zero_window() {
        // No reordering seen and DupThresh segments SACKed: reo_wnd is 0 (RFC 6675's rule),
        // so the hole is lost at once.
        let mut sb = flight(6);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        ack(&mut sb, &mut rack, t(104), 1000, &[(2000, 5000)]);
        let w = rack.reo_wnd(false, 3, Some(ms(100)));
        assert_eq!(w, Duration::ZERO);
        let Detected {
            lost: n,
            timeout: timer,
            ..
        } = rack.detect_loss(sb.table_mut(), t(104), w);
        assert_eq!((n, timer), (1, None));
        assert_eq!(lost(&sb), [1]);
        // In recovery, likewise.
        assert_eq!(rack.reo_wnd(true, 0, Some(ms(100))), Duration::ZERO);
    }

    #[test]
    fn a_lost_retransmission_is_found_by_time() {
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        ack(&mut sb, &mut rack, t(103), 1000, &[(2000, 4000)]);
        let w = rack.reo_wnd(false, 2, Some(ms(100)));
        rack.detect_loss(sb.table_mut(), t(200), w);
        assert_eq!(lost(&sb), [1]);
        // Segment 1 is retransmitted at 200 ms, then new data (4) at 201 ms.
        sb.sent(Seq(1000), Seq(2000), t(200));
        sb.sent(Seq(4000), Seq(5000), t(201));
        assert!(lost(&sb).is_empty());
        // Segment 4 is SACKed at 301 ms but the retransmission is not: once 200 + 100 +
        // reo_wnd has passed, the retransmission is lost too.
        ack(
            &mut sb,
            &mut rack,
            t(301),
            1000,
            &[(4000, 5000), (2000, 4000)],
        );
        let w = rack.reo_wnd(true, 3, Some(ms(100)));
        let d = rack.detect_loss(sb.table_mut(), t(301), w);
        assert_eq!((d.lost, d.lost_retransmitted), (1, 1));
        assert_eq!(lost(&sb), [1]);
        assert!(sb.table().get(0).is_some_and(|s| s.retransmitted()));
    }

    #[test]
    fn a_retransmission_in_the_same_microsecond_counts_as_sent_later() {
        // Everything at t0 (a virtual clock that did not move): segment 0 resent after
        // 1..3 left. RFC 8985's tie break by sequence number would take 2's SACK for proof
        // that the retransmission of 0 was lost; the transmission order says it left later.
        let mut sb = Scoreboard::new();
        for i in 0..4u32 {
            sb.sent(Seq(i * 1000), Seq(i * 1000 + 1000), t(0));
        }
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(0), 0, &[(1000, 2000)]);
        assert_eq!(rack.detect_loss(sb.table_mut(), t(0), ms(0)).lost, 1);
        sb.sent(Seq(0), Seq(1000), t(0));
        ack(&mut sb, &mut rack, t(0), 0, &[(1000, 3000)]);
        assert_eq!(rack.detect_loss(sb.table_mut(), t(0), ms(0)).lost, 0);
        assert!(lost(&sb).is_empty());
    }

    #[test]
    fn an_ambiguous_retransmission_gives_no_rtt_sample() {
        let mut sb = flight(2);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        // Segment 1 resent at 150 ms; its original's ACK arrives at 160 ms (a 10 ms "RTT"
        // from the retransmission, below min_RTT): not taken.
        sb.sent(Seq(1000), Seq(2000), t(150));
        ack(&mut sb, &mut rack, t(160), 2000, &[]);
        assert_eq!(rack.min_rtt(), Some(ms(100)));
        assert_eq!(rack.xmit_ts, Some(t(0)));
        // An echo from before the retransmission rules it out too.
        let mut sb = flight(2);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(10), 1000, &[]);
        sb.sent(Seq(1000), Seq(2000), t(150));
        sb.on_ack(Seq(2000), Seq(2000), &[], &mut |s| {
            rack.delivered(s, t(400), Some(t(1)))
        });
        assert_eq!(rack.xmit_ts, Some(t(0)));
    }

    /// The usual spurious fast retransmission: three SACKs, the hole resent, then the
    /// late original fills it and the peer D-SACKs the retransmission. Step 3 sees no
    /// reordering (the late segment was retransmitted); the D-SACK does, so the window,
    /// grown by it, applies in recovery and with three segments SACKed as well.
    #[test]
    fn a_dsack_counts_as_reordering_so_the_grown_window_applies_in_recovery() {
        let mut sb = flight(5);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        ack(&mut sb, &mut rack, t(103), 1000, &[(2000, 5000)]);
        sb.sent(Seq(1000), Seq(2000), t(103));
        ack(&mut sb, &mut rack, t(104), 5000, &[]);
        assert!(!rack.reordering_seen());
        let srtt = Some(ms(100));
        assert_eq!(rack.reo_wnd(true, 3, srtt), ms(0));
        rack.update_reo_wnd(true, Seq(5000), Seq(5000), true);
        assert!(rack.reordering_seen());
        // min_RTT (99 ms) / 4, doubled by the D-SACK, as outside recovery.
        assert_eq!(rack.reo_wnd(true, 3, srtt), Duration::from_micros(49_500));
        assert_eq!(rack.reo_wnd(true, 3, srtt), rack.reo_wnd(false, 0, srtt));
    }

    #[test]
    fn dsack_grows_the_window_once_per_round_and_persists() {
        let mut sb = flight(3);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        ack(&mut sb, &mut rack, t(103), 3000, &[]);
        rack.reordering_seen = true;
        let srtt = Some(ms(1000));
        assert_eq!(rack.reo_wnd(false, 0, srtt), ms(25));
        rack.update_reo_wnd(true, Seq(3000), Seq(9000), false);
        assert_eq!(rack.reo_wnd(false, 0, srtt), ms(50));
        // A second D-SACK in the same round: no growth.
        rack.update_reo_wnd(true, Seq(5000), Seq(9000), false);
        assert_eq!(rack.reo_wnd(false, 0, srtt), ms(50));
        // Next round.
        rack.update_reo_wnd(true, Seq(9000), Seq(12_000), false);
        assert_eq!(rack.reo_wnd(false, 0, srtt), ms(75));
        // Capped at SRTT.
        assert_eq!(rack.reo_wnd(false, 0, Some(ms(60))), ms(60));
        // Sixteen recoveries without a D-SACK bring it back.
        for _ in 0..15 {
            rack.update_reo_wnd(false, Seq(20_000), Seq(20_000), true);
        }
        assert_eq!(rack.reo_wnd(false, 0, srtt), ms(75));
        rack.update_reo_wnd(false, Seq(20_000), Seq(20_000), true);
        assert_eq!(rack.reo_wnd(false, 0, srtt), ms(25));
    }

    #[test]
    fn rto_marks_the_head_and_what_timed_out() {
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        // At 102 ms: segment 1 (the head) is lost regardless; 2 and 3 (sent at 2, 3 ms)
        // would be due at 102 and 103 ms.
        assert_eq!(
            rack.mark_lost_on_rto(sb.table_mut(), Seq(1000), t(102), ms(0)),
            2
        );
        assert_eq!(lost(&sb), [1, 2]);
    }

    #[test]
    fn tlp_outcomes() {
        let mut rack = Rack::new();
        assert_eq!(
            rack.tlp_on_ack(Seq(100), false, false, false),
            TlpOutcome::Pending
        );
        // A probe of new data, acknowledged.
        rack.tlp_sent(Seq(5000), false);
        assert!(rack.tlp_pending());
        assert_eq!(
            rack.tlp_on_ack(Seq(4000), false, false, false),
            TlpOutcome::Pending
        );
        assert_eq!(
            rack.tlp_on_ack(Seq(5000), false, false, false),
            TlpOutcome::NoLoss
        );
        assert!(!rack.tlp_pending());
        // A retransmission probe whose D-SACK says the original arrived too.
        rack.tlp_sent(Seq(5000), true);
        assert_eq!(
            rack.tlp_on_ack(Seq(5000), true, true, false),
            TlpOutcome::NoLoss
        );
        // A retransmission probe that repaired the tail: the ACK moves past it.
        rack.tlp_sent(Seq(5000), true);
        assert_eq!(
            rack.tlp_on_ack(Seq(5000), false, true, false),
            TlpOutcome::Pending
        );
        assert_eq!(
            rack.tlp_on_ack(Seq(6000), false, false, false),
            TlpOutcome::Repaired
        );
    }

    /// RFC 8985 6.2: only segments sent before the most recently delivered one can be
    /// lost. A TSO burst is one record and one transmission; the peer SACKing its middle
    /// says nothing about the part above it, which left in the same transmission (and, by
    /// RFC 8985's tie break on sequence numbers, after the SACKed part).
    #[test]
    fn a_sack_of_part_of_a_burst_does_not_make_the_rest_of_it_lost() {
        let mut sb = Scoreboard::new();
        sb.sent(Seq(0), Seq(3000), t(0));
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 0, &[(1000, 2000)]);
        // A zero reordering window: anything sent before the SACKed part is lost now.
        rack.detect_loss(sb.table_mut(), t(100), ms(0));
        assert!(
            !sb.table().iter().any(|s| s.lost && s.start == Seq(2000)),
            "the part of the burst above the SACK block was marked lost"
        );
    }

    /// RFC 8985 6.2 step 3: reordering is a segment *never retransmitted* delivered below
    /// RACK.fack. A retransmission filling a hole below it is ordinary recovery.
    #[test]
    fn a_retransmission_filling_a_hole_is_not_reordering() {
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        ack(&mut sb, &mut rack, t(103), 1000, &[(2000, 4000)]);
        rack.detect_loss(sb.table_mut(), t(200), ms(0));
        assert_eq!(lost(&sb), [1]);
        sb.sent(Seq(1000), Seq(2000), t(200));
        ack(&mut sb, &mut rack, t(300), 4000, &[]);
        assert!(!rack.reordering_seen());
        // The original of a segment arriving below RACK.fack is reordering.
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[(2000, 4000)]);
        assert!(!rack.reordering_seen());
        ack(&mut sb, &mut rack, t(104), 4000, &[]);
        assert!(rack.reordering_seen());
    }

    /// RFC 8985 6.2 step 2 rejects a retransmission's sample only when the echo is older
    /// than the retransmission (TSecr < its send time), or the sample is below min_RTT:
    /// an echo of the retransmission's own millisecond, or a sample equal to min_RTT, is
    /// the retransmission's round trip and is taken.
    #[test]
    fn a_retransmission_sample_on_the_boundaries_is_taken() {
        // The echo names the millisecond the retransmission left.
        let mut sb = flight(2);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(10), 1000, &[]);
        sb.sent(Seq(1000), Seq(2000), t(150));
        sb.on_ack(Seq(2000), Seq(2000), &[], &mut |s| {
            rack.delivered(s, t(400), Some(t(150)))
        });
        assert_eq!(rack.xmit_ts, Some(t(150)));
        assert_eq!(rack.rtt, ms(250));
        // Its round trip equals min_RTT.
        let mut sb = flight(2);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        sb.sent(Seq(1000), Seq(2000), t(150));
        ack(&mut sb, &mut rack, t(250), 2000, &[]);
        assert_eq!(rack.xmit_ts, Some(t(150)));
        assert_eq!(rack.rtt, ms(100));
    }

    /// RFC 8985 6.2 step 2: RACK.xmit_ts is the *latest sent* of the segments delivered,
    /// not the last one an ACK happens to list. One ACK SACKs a retransmission (sent at
    /// 200 ms) and, above it, an original sent at 3 ms: the retransmission stays the
    /// reference, so new data sent at 150 ms, before it, is found lost.
    #[test]
    fn the_reference_is_the_latest_sent_segment_delivered() {
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        sb.sent(Seq(4000), Seq(5000), t(150));
        sb.sent(Seq(1000), Seq(2000), t(200));
        ack(
            &mut sb,
            &mut rack,
            t(320),
            1000,
            &[(1000, 2000), (3000, 4000)],
        );
        assert_eq!(rack.xmit_ts, Some(t(200)));
        let d = rack.detect_loss(sb.table_mut(), t(320), ms(0));
        assert_eq!(d.lost, 2);
        assert_eq!(lost(&sb), [2, 4]);
    }

    /// RFC 8985 6.2 step 5 looks only at segments neither SACKed nor already marked lost:
    /// those never arm the reordering timer, however recently they left.
    #[test]
    fn sacked_and_lost_segments_do_not_arm_the_reordering_timer() {
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        // Segment 1 (sent at 1 ms) SACKed at 101 ms, then segment 3 (sent at 3 ms) at
        // 103 ms: 1 left before the reference, but the peer holds it.
        ack(&mut sb, &mut rack, t(101), 1000, &[(1000, 2000)]);
        ack(
            &mut sb,
            &mut rack,
            t(103),
            1000,
            &[(3000, 4000), (1000, 2000)],
        );
        // Segment 2 is already marked lost (by an earlier look with a zero window).
        assert!(sb.table_mut().mark_lost(1));
        let d = rack.detect_loss(sb.table_mut(), t(103), ms(25));
        assert_eq!(d, Detected::default());
    }

    /// RFC 8985 6.3: on a timeout, a segment other than the first is lost only once its
    /// RACK deadline, send time + RACK.rtt + RACK.reo_wnd, has passed.
    #[test]
    fn rto_spares_what_the_reordering_window_still_covers() {
        let mut sb = flight(4);
        let mut rack = Rack::new();
        ack(&mut sb, &mut rack, t(100), 1000, &[]);
        // At 110 ms with a 10 ms window: segment 2 (sent at 2 ms) is due at 112 ms, 3 at
        // 113 ms; only the head goes.
        assert_eq!(
            rack.mark_lost_on_rto(sb.table_mut(), Seq(1000), t(110), ms(10)),
            1
        );
        assert_eq!(lost(&sb), [1]);
        assert_eq!(
            rack.mark_lost_on_rto(sb.table_mut(), Seq(1000), t(112), ms(10)),
            1
        );
        assert_eq!(lost(&sb), [1, 2]);
    }

    /// RFC 8985 7.4.2: an ACK at TLP.end_seq settles a retransmitted probe as "no loss"
    /// only if it is a duplicate ACK without SACK information (the original and the probe
    /// both arrived, and the peer has no SACK to say so); a cumulative ACK reaching the
    /// probe's end, or a duplicate with SACK blocks, leaves it pending.
    #[test]
    fn only_a_duplicate_ack_without_sack_settles_a_retransmitted_probe() {
        for (dup, has_sack, want) in [
            (true, false, TlpOutcome::NoLoss),
            (true, true, TlpOutcome::Pending),
            (false, false, TlpOutcome::Pending),
            (false, true, TlpOutcome::Pending),
        ] {
            let mut rack = Rack::new();
            rack.tlp_sent(Seq(5000), true);
            assert_eq!(
                rack.tlp_on_ack(Seq(5000), false, has_sack, dup),
                want,
                "dup {dup}, SACK {has_sack}"
            );
            assert_eq!(rack.tlp_pending(), want == TlpOutcome::Pending);
        }
    }
}
