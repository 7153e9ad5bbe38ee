//! Loss recovery: the SACK scoreboard (RFC 2018), RFC 6675's recovery with its pipe and
//! NextSeg, the tail loss probe (RFC 8985 7) and fast retransmission of the first segment.

use super::*;

impl Tcb {
    /// Merge the SACK blocks of an ACK into the scoreboard.
    pub(super) fn sack_update(&mut self, seg: &TcpRepr, ack: Seq) {
        let base = if ack.gt(self.snd_una) {
            ack
        } else {
            self.snd_una
        };
        for &(l, r) in seg.sack_blocks() {
            // Only blocks within what is outstanding mean anything.
            let l = l.max(base);
            let r = if r.gt(self.snd_max) { self.snd_max } else { r };
            if !l.lt(r) {
                continue;
            }
            self.sacked.push((l, r));
        }
        self.sack_normalize(base);
    }

    /// Drop what lies below `base`, sort and merge.
    pub(super) fn sack_normalize(&mut self, base: Seq) {
        let mut v: Vec<(Seq, Seq)> = self
            .sacked
            .drain(..)
            .filter(|&(_, r)| r.gt(base))
            .map(|(l, r)| (l.max(base), r))
            .collect();
        v.sort_by_key(|&(l, _)| l.diff(base));
        for (l, r) in v {
            match self.sacked.last_mut() {
                Some(last) if l.le(last.1) => last.1 = last.1.max(r),
                _ => self.sacked.push((l, r)),
            }
        }
        if self.sacked.len() > 64 {
            // Bounded: the oldest ranges matter most; later SACKs restate the rest.
            self.sacked.truncate(64);
        }
    }

    pub(super) fn sacked_bytes(&self) -> usize {
        self.sacked.iter().map(|&(l, r)| r.since(l)).sum()
    }

    /// Where loss detection ends: the highest SACKed byte (after a timeout, everything
    /// sent).
    pub(super) fn lost_limit(&self) -> Seq {
        if self.rto_recovery {
            // What was outstanding when the timer fired; data sent since is in flight.
            return self.recover;
        }
        self.sacked.last().map_or(self.snd_una, |&(_, r)| r)
    }

    /// The next hole at or after `from`, below the loss limit: (start, length <= MSS).
    pub(super) fn next_hole(&self, from: Seq) -> Option<(Seq, usize)> {
        let limit = self.lost_limit();
        let mut at = if from.lt(self.snd_una) {
            self.snd_una
        } else {
            from
        };
        for &(l, r) in &self.sacked {
            if at.lt(l) {
                break;
            }
            if at.lt(r) {
                at = r;
            }
        }
        if !at.lt(limit) {
            return None;
        }
        let end = self
            .sacked
            .iter()
            .map(|&(l, _)| l)
            .find(|l| l.gt(at))
            .map_or(limit, |l| if l.lt(limit) { l } else { limit });
        Some((at, end.since(at).min(self.seg_room()).max(1)))
    }

    /// Bytes in flight (RFC 6675 "pipe"): outstanding, less what was SACKed, less the
    /// holes taken as lost and not yet retransmitted.
    pub(super) fn pipe(&self) -> usize {
        let outstanding = self.snd_max.since(self.snd_una);
        let limit = self.lost_limit();
        let mut lost_unsent = 0;
        let mut at = if self.rtx_next.lt(self.snd_una) {
            self.snd_una
        } else {
            self.rtx_next
        };
        for &(l, r) in &self.sacked {
            if at.lt(l) && l.le(limit) {
                lost_unsent += l.since(at);
            }
            if at.lt(r) {
                at = r;
            }
        }
        if self.rto_recovery && at.lt(limit) {
            lost_unsent += limit.since(at);
        }
        outstanding
            .saturating_sub(self.sacked_bytes())
            .saturating_sub(lost_unsent)
    }

    /// Is SND.UNA lost, by the SACK scoreboard? RFC 6675's rule (three segments' worth
    /// SACKed above it), RFC 5827's early retransmit (fewer than four segments out: one
    /// fewer SACKed than are outstanding), or the last segment sent SACKed while older ones
    /// are not (it overtook them: what a tail loss probe reveals).
    pub(super) fn sack_loss_detected(&self) -> bool {
        let Some(&(_, top)) = self.sacked.last() else {
            return false;
        };
        let sacked = self.sacked_bytes();
        let outstanding = self.snd_max.since(self.snd_una);
        let segs = outstanding.div_ceil(self.mss.max(1));
        sacked >= 3 * self.mss
            || (segs < 4 && sacked >= (segs.saturating_sub(1)).max(1) * self.mss)
            || top == self.snd_max
    }

    pub(super) fn enter_sack_recovery(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        let flight = self.snd_max.since(self.snd_una);
        self.cc.on_congestion_event(flight, self.mss, now);
        self.recover = self.snd_max;
        self.in_recovery = true;
        self.rto_recovery = false;
        self.rtx_next = self.snd_una;
        // RFC 6675 5 (4.3): the first segment presumed lost goes at once, whatever the
        // pipe says (up to the first SACKed block; three duplicate ACKs without SACK
        // blocks: a whole segment). The pipe rules take over from there.
        let hole = self
            .next_hole(self.snd_una)
            .map_or(usize::MAX, |(_, len)| len);
        let sent = self.retransmit_first(tx, stats, now, hole);
        self.rtx_next = self.snd_una + sent.max(1);
        self.sack_send(tx, stats, now);
        self.timers.set(Timer::Rtx, now + self.rtt.rto());
    }

    /// While in SACK recovery: retransmit holes, then new data, while the pipe is below
    /// the congestion window (RFC 6675 5 (C), NextSeg rules 1 and 2).
    pub(super) fn sack_send(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        // At most a window's worth per call: every path below advances or stops.
        for _ in 0..1024 {
            let pipe = self.pipe();
            if pipe + self.mss > self.cc.cwnd().max(self.mss) && pipe > 0 {
                return;
            }
            let Some((seq, len)) = self.next_hole(self.rtx_next) else {
                break;
            };
            let off = seq.since(self.snd_base);
            let data_len = len.min(self.sndq.len().saturating_sub(off));
            let data_end = self.snd_base + self.sndq.len();
            let fin = self.fin_queued
                && seq + data_len == data_end
                && self.snd_max.gt(data_end)
                && data_len < self.seg_room();
            if data_len == 0 && !fin {
                break;
            }
            let fl = if fin { flags::FIN } else { 0 };
            if !self.xmit(tx, stats, seq, fl, off, data_len, now) {
                return;
            }
            self.retransmits += 1;
            stats.retransmits += 1;
            self.rtt_sample = None;
            if seq == self.snd_una {
                self.una_rtx_high = Some(self.snd_max);
            }
            self.rtx_next = seq + (data_len + usize::from(fin)).max(1);
        }
        // Holes done: new data within what the pipe allows.
        let budget = self.cc.cwnd().saturating_sub(self.pipe());
        if budget > 0 {
            self.snd_nxt = self.snd_max;
            self.send_data(tx, stats, now, Some(budget));
        }
    }

    /// Retransmit the first unacknowledged segment (fast retransmit, partial ACKs, a probe
    /// during recovery), at most `max` bytes of it; returns the sequence space sent.
    pub(super) fn retransmit_first(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        max: usize,
    ) -> usize {
        let queued = self.sndq.len();
        let len = queued.min(self.seg_room()).min(max);
        let data_end = self.snd_base + queued;
        let fin = self.fin_queued && self.snd_base + len == data_end && self.snd_max.gt(data_end);
        if len == 0 && !fin {
            return 0;
        }
        let fl = if fin { flags::FIN } else { 0 };
        let sent = self.xmit(tx, stats, self.snd_base, fl, 0, len, now);
        if sent {
            self.retransmits += 1;
            stats.retransmits += 1;
            stats.fast_retransmits += 1;
            self.una_rtx_high = Some(self.snd_max);
        }
        self.rtt_sample = None;
        if sent {
            len + usize::from(fin)
        } else {
            0
        }
    }

    /// Arm the tail loss probe (RFC 8985 7.2): two smoothed RTTs after the last send, plus
    /// a delayed-ACK allowance when one segment is out, if that comes before the RTO.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        if !self.tlp_enabled || self.snd_max == self.snd_una || self.tlp_count >= MAX_TLP {
            return;
        }
        let mut pto = (srtt * 2).max(Duration::from_millis(10));
        if self.snd_max.since(self.snd_una) <= self.mss {
            pto += Duration::from_millis(40);
        }
        let at = now + pto;
        if self.timers.get(Timer::Rtx).is_none_or(|r| at < r) {
            self.timers.set(Timer::Tlp, at);
        }
    }

    /// The probe: one new segment if the windows allow, else the last one sent again, so
    /// the peer's SACK shows what is missing and recovery starts without a timeout.
    pub(super) fn on_tlp(&mut self, stats: &mut TcpStats, tx: &mut dyn IpTx, now: Instant) {
        if self.snd_max == self.snd_una || !self.state.synchronized() {
            return;
        }
        stats.loss_probes += 1;
        if self.in_recovery {
            // ACKs stopped during recovery (the last ones, or the retransmission, were
            // lost): send the first hole again rather than wait for the RTO.
            self.retransmit_first(tx, stats, now, usize::MAX);
            self.timers.set(Timer::Rtx, now + self.rtt.rto());
            self.tlp_count += 1;
            self.arm_tlp(now);
            return;
        }
        let data_end = self.snd_base + self.sndq.len();
        let unsent = data_end.since(self.snd_max);
        let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_max);
        if unsent > 0 && wnd_room > 0 {
            let len = unsent.min(wnd_room).min(self.seg_room());
            let seq = self.snd_max;
            let off = seq.since(self.snd_base);
            if self.xmit(tx, stats, seq, flags::PSH, off, len, now) {
                self.snd_nxt = seq + len;
                self.snd_max = self.snd_nxt;
            }
        } else {
            let sent_data = self.snd_max.since(self.snd_base).min(self.sndq.len());
            let len = sent_data.min(self.seg_room());
            if len > 0 {
                let seq = self.snd_base + (sent_data - len);
                let off = sent_data - len;
                if self.xmit(tx, stats, seq, 0, off, len, now) {
                    self.retransmits += 1;
                    stats.retransmits += 1;
                    self.rtt_sample = None;
                }
            }
        }
        self.timers.set(Timer::Rtx, now + self.rtt.rto());
        self.tlp_count += 1;
        self.arm_tlp(now);
    }
}
