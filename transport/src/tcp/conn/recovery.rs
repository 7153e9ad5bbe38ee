//! Loss detection and recovery: each ACK into the SACK scoreboard (RFC 2018,
//! `scoreboard.rs`, on the table of sent segments), RACK (RFC 8985, `rack.rs`) or RFC 6675's
//! DupThresh marking what is lost, RFC 6675's recovery with its pipe and NextSeg, the tail
//! loss probe (RFC 8985 7), and NewReno's retransmission of the first segment.

use super::scoreboard::AckInfo;
use super::*;

/// Room for a peer's delayed ACK before a loss probe (RFC 8985 7.2's WCDelAckT; 40 ms is
/// Linux's shortest delayed-ACK time).
const DELAYED_ACK_ALLOWANCE: Duration = Duration::from_millis(40);

impl Tcb {
    /// An ACK's SACK information into the scoreboard (the cumulative part and the
    /// blocks), feeding RACK every segment it newly delivers.
    pub(super) fn sack_update(&mut self, seg: &TcpRepr, ack: Seq, now: Instant) -> AckInfo {
        let echo = self.echo_instant(now);
        let cum = if ack.gt(self.snd_una) {
            ack
        } else {
            self.snd_una
        };
        let rack = &mut self.rack;
        let mut resent_sacked = false;
        let info = self.sb.on_ack(ack, cum, seg.sack_blocks(), &mut |s| {
            resent_sacked |= s.retransmitted() && s.end.gt(cum);
            rack.delivered(s, now, echo)
        });
        if resent_sacked {
            self.undo.retransmission_sacked();
        }
        info
    }

    /// The time on our clock that the segment's timestamp echo names, if it carries one.
    fn echo_instant(&self, now: Instant) -> Option<Instant> {
        let ecr = self.rx_tsecr.filter(|_| self.ts_ok)?;
        let age = self.ts_now(now).wrapping_sub(ecr);
        (age < 1 << 31).then(|| now - Duration::from_millis(u64::from(age)))
    }

    /// Bytes in flight (RFC 6675 "pipe", see `Scoreboard::pipe`).
    pub(super) fn pipe(&self) -> usize {
        self.sb.pipe(self.snd_max.since(self.snd_una))
    }

    /// Mark lost what RACK (or, with RACK off, RFC 6675's DupThresh rule) finds lost, and
    /// arm the reordering timer for what may still arrive. Returns the records marked.
    pub(super) fn detect_losses(&mut self, stats: &mut TcpStats, now: Instant) -> usize {
        if !self.sack_ok {
            return 0;
        }
        if !self.rack_enabled {
            let n = self.sb.mark_lost_dupthresh(self.mss);
            stats.dupthresh_lost += n as u64;
            return n;
        }
        if self.sb.sacked_bytes() == 0 && !self.in_recovery {
            // Only a SACK, or a cumulative ACK of a retransmission (recovery), can deliver
            // a segment sent after one still outstanding: nothing to look at (the common
            // case on a clean path, where the table may hold hundreds of records).
            self.timers.clear(Timer::Reorder);
            return 0;
        }
        let segs_sacked = self.sb.sacked_bytes().div_ceil(self.mss.max(1));
        let w = self
            .rack
            .reo_wnd(self.in_recovery, segs_sacked, self.rtt.srtt());
        let d = self.rack.detect_loss(self.sb.table_mut(), now, w);
        match d.timeout {
            Some(t) => self.timers.set(Timer::Reorder, now + t),
            None => self.timers.clear(Timer::Reorder),
        }
        stats.rack_lost += d.lost as u64;
        stats.lost_retransmits += d.lost_retransmitted as u64;
        stats.seg_table_merges += u64::from(self.sb.table_mut().take_merges());
        d.lost
    }

    /// After detection: start recovery if anything is lost (RFC 8985 3.4 / RFC 6675 5);
    /// `by_ack`: an ACK found the loss (see `enter_sack_recovery`).
    pub(super) fn recover_if_lost(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        by_ack: bool,
    ) {
        if self.sack_ok && !self.in_recovery && self.sb.lost_bytes() > 0 {
            self.enter_sack_recovery(tx, stats, now, by_ack);
        }
    }

    /// RACK's reordering timer fired: look again.
    pub(super) fn on_reorder_timer(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        if self.snd_max == self.snd_una || !self.state.synchronized() {
            return;
        }
        stats.rack_reo_timeouts += 1;
        if self.detect_losses(stats, now) > 0 {
            self.recover_if_lost(tx, stats, now, false);
        }
    }

    /// Start a SACK recovery. `by_ack`: on an ACK, whose delivery PRR answers next
    /// (`prr_on_ack`); else (RACK's reordering timer) the window sends what RFC 6675 (C)
    /// allows, as Linux's reordering timeout sends what its window allows.
    pub(super) fn enter_sack_recovery(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        by_ack: bool,
    ) {
        let flight = self.snd_max.since(self.snd_una);
        if self.in_ecn_reduction() {
            // The window was cut for an ECE within this round trip: the loss is the same
            // congestion, not a second cut (RFC 3168 6.1.2; Linux's tcp_enter_recovery
            // keeps ssthresh in CWR), and there is no loss response to undo.
            self.undo.close();
        } else {
            self.cc.on_congestion_event(flight, self.mss, now);
            self.undo.start();
        }
        self.reduced_window();
        // This recovery answers for every loss up to here, a probe's included (one
        // reduction per episode, RFC 6675 5; Linux ends the probe's episode likewise).
        self.rack.end_tlp_episode();
        self.recover = self.snd_max;
        self.in_recovery = true;
        self.rto_recovery = false;
        if self.sb.next_lost().is_none() {
            // Three duplicate ACKs without SACK blocks: the first segment is the hole.
            self.sb.table_mut().mark_lost(0);
        }
        stats.fast_retransmits += 1;
        // PRR (RFC 9937): the episode starts from the pipe as it is. On an ACK the window
        // is held there until PRR says what this ACK lets go (`prr_on_ack`), so that a
        // flight far below ssthresh does not leave in one burst; the fast retransmission
        // is one of those segments (RFC 9937 4 computes the ACK's sndcnt with prr_out
        // still 0 and forces a segment), sent by the output that follows the ACK. Sent
        // here first and counted in prr_out, it went beside what the ACK delivered, a
        // segment more than packet conservation allows.
        self.prr = prr::Prr::start(self.pipe());
        if by_ack {
            self.cc.set_cwnd(self.pipe());
        } else {
            // RFC 6675 5 (4.3): the first lost segment goes whatever the pipe says.
            self.sack_send_inner(tx, stats, now, true);
        }
        self.timers.set(Timer::Rtx, now + self.rtt.rto());
    }

    /// Is a SACK recovery's PRR episode under way (not a timeout's recovery)?
    pub(super) fn prr_active(&self) -> bool {
        self.in_recovery && self.sack_ok && !self.rto_recovery
    }

    /// PRR's step on an ACK during SACK recovery that delivered `delivered` bytes
    /// (RFC 9937: cumulatively acknowledged or newly SACKed, net of SACKed bytes the
    /// cumulative ACK covered); `safe`: it advanced SND.UNA and marked nothing newly
    /// lost. The congestion window becomes the pipe plus what may go now.
    /// An ACK that delivers nothing leaves the window as it is, unless nothing has gone
    /// yet in the episode: the ACK that starts recovery (RACK's time-based rule can find a
    /// loss on a repeated SACK) still lets the fast retransmission go.
    pub(super) fn prr_on_ack(&mut self, delivered: usize, safe: bool) {
        if !self.prr_active() || (delivered == 0 && !self.prr.nothing_sent()) {
            return;
        }
        let pipe = self.pipe();
        let sndcnt = self
            .prr
            .on_ack(delivered, pipe, self.cc.ssthresh(), safe, self.mss);
        self.cc.set_cwnd(pipe.saturating_add(sndcnt));
    }

    /// While in SACK recovery: retransmit what is marked lost, then new data, while the
    /// pipe is below the congestion window (RFC 6675 5 (C), NextSeg rules 1 and 2).
    pub(super) fn sack_send(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        self.sack_send_inner(tx, stats, now, false);
    }

    /// `sack_send`; with `first_anyway`, the first lost segment goes whatever the pipe
    /// says (a timeout's retransmission, RFC 6298 5.4).
    pub(super) fn sack_send_inner(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        mut first_anyway: bool,
    ) {
        // At most a window's worth per call: every path below advances or stops.
        for _ in 0..1024 {
            let pipe = self.pipe();
            if !first_anyway && pipe + self.mss > self.cc.cwnd().max(self.mss) && pipe > 0 {
                return;
            }
            let Some((seq, end)) = self.sb.next_lost() else {
                break;
            };
            let len = end.since(seq).min(self.seg_room());
            let off = seq.since(self.snd_base);
            let data_len = len.min(self.sndq.len().saturating_sub(off));
            let data_end = self.snd_base + self.sndq.len();
            // The FIN goes with the last segment, full-size or not (RFC 9293 3.10.4: it is
            // retransmitted like data; Linux resends the tail skb with it, collapsing a bare
            // FIN into a full segment, tcp_retrans_try_collapse).
            let fin = self.fin_queued && seq + data_len == data_end && self.snd_max.gt(data_end);
            if data_len == 0 && !fin {
                break;
            }
            let fl = if fin { flags::FIN } else { 0 };
            if !self.xmit(tx, stats, seq, fl, off, data_len, now) {
                return;
            }
            first_anyway = false;
            self.retransmits += 1;
            stats.retransmits += 1;
            self.rtt_sample = None;
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
        // Only what was sent before (RFC 6582 3.2 step 4): bytes past SND.MAX would not
        // move it, and the peer's ACK of them would be dropped as one of unsent data.
        let sent_data = self.snd_max.since(self.snd_base).min(queued);
        let len = sent_data.min(self.seg_room()).min(max);
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
        }
        self.rtt_sample = None;
        if sent {
            len + usize::from(fin)
        } else {
            0
        }
    }

    /// Arm the tail loss probe (RFC 8985 7.2): two smoothed RTTs after the last send (and
    /// 2 ms for timer slack, as Linux adds), plus a delayed-ACK allowance when one segment
    /// is out or the flight fills the peer's window; never after the RTO (RFC 8985 7.2:
    /// on a path of 100 ms or more, two SRTTs outlast an RTO that RTTVAR has brought down
    /// to its 200 ms floor, and the first probe then goes in the RTO's place; a later
    /// probe would only put off the backed-off RTO, which comes instead). (A 10 ms floor here cost a 10 ms stall per
    /// tail loss on a sub-millisecond path: 11.6 s against 3.5 s for 20 MiB at 10% loss.)
    /// After `TcpConfig::max_loss_probes` probes with no new data acknowledged, only the
    /// RTO is armed (RFC 8985 7.3 with a limit of 1; the default of 3 and why are at that
    /// setting). Before RACK, on the same benchmark: one probe 46 s with ~160 RTOs, two
    /// 9.5 s, three 3.7 s, four 3.1 s (a lone new-data probe is often answered by the
    /// peer's delayed ACK, up to 200 ms on Linux, as long as our RTO).
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        if !self.tlp_enabled || self.snd_max == self.snd_una || self.tlp_count >= self.tlp_max {
            return;
        }
        let mut pto = srtt * 2 + Duration::from_millis(2);
        let flight = self.snd_max.since(self.snd_una);
        // A flight that fills the peer's window: a receiver whose buffer is full holds
        // its ACK (Linux does not ACK at once when the window it would announce shrinks)
        // for its delayed-ACK time, so the probe waits for that too. Against slow Linux
        // readers, probes at two SRTTs were resent data DSACKed a few milliseconds later
        // (`scripts/bench-slow-readers.sh`); a sender held back by its congestion window
        // (a lossy path's case) still probes at two SRTTs, and a loss before the tail of
        // a full window draws the receiver's immediate SACKs.
        let window_full = flight + self.mss > self.snd_wnd;
        if flight <= self.mss || window_full {
            pto += DELAYED_ACK_ALLOWANCE;
        }
        let mut at = now + pto;
        if let Some(rto_at) = self.timers.get(Timer::Rtx) {
            if at >= rto_at {
                if self.tlp_count > 0 {
                    return;
                }
                at = rto_at;
            }
        }
        self.timers.set(Timer::Tlp, at);
    }

    /// The probe: one new segment if the windows allow, else the last one sent again, so
    /// the peer's SACK shows what is missing and recovery starts without a timeout. With
    /// segments SACKed (fewer than RACK needs to call the hole lost, or in recovery, where
    /// the ACKs stopped: the last ones, or the retransmission, were lost) the first hole
    /// goes instead: the last segment may be the peer's already (resending it was found
    /// by a review). Not probing at all there, as RFC 8985 7.2 and Linux (CA_Open only)
    /// do, left lost retransmissions after a timeout to further timeouts: 20 MiB at 10%
    /// loss took 1.96 s (median of 7) instead of 0.47 s on `scripts/bench-tcp-loss.sh`.
    pub(super) fn on_tlp(&mut self, stats: &mut TcpStats, tx: &mut dyn IpTx, now: Instant) {
        if self.snd_max == self.snd_una || !self.state.synchronized() {
            return;
        }
        let hole = self.sb.first_unsacked().filter(|_| self.sack_ok);
        if self.in_recovery {
            let sent = match hole {
                Some((seq, end)) => self.resend_hole(seq, end, stats, tx, now),
                None => self.retransmit_first(tx, stats, now, usize::MAX) > 0,
            };
            // Counted once sent (Linux counts TCPLossProbes after the transmit succeeds).
            stats.loss_probes += u64::from(sent);
            self.timers.set(Timer::Rtx, now + self.rtt.rto());
            self.tlp_count += 1;
            self.arm_tlp(now);
            return;
        }
        let data_end = self.snd_base + self.sndq.len();
        let unsent = data_end.since(self.snd_max);
        let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_max);
        let sacked = self.sb.sacked_bytes() > 0;
        let mut sent = false;
        // New data only when nothing sent before waits to be sent again: in the go-back-N
        // after a timeout without SACK (SND.NXT behind SND.MAX), a new-data probe moved
        // SND.NXT past the bytes still to resend, and they were left for the next timeout.
        if unsent > 0 && wnd_room > 0 && self.snd_nxt == self.snd_max {
            let len = unsent.min(wnd_room).min(self.seg_room());
            let seq = self.snd_max;
            let off = seq.since(self.snd_base);
            if self.xmit(tx, stats, seq, flags::PSH, off, len, now) {
                if len < self.seg_room() {
                    // New data ending short, as Linux's probe sends it through
                    // tcp_write_xmit (tcp_minshall_update).
                    self.snd_sml = seq + len;
                }
                self.snd_nxt = seq + len;
                self.snd_max = self.snd_nxt;
                self.rack.tlp_sent(self.snd_max, false);
                sent = true;
            }
        } else if let Some((seq, end)) = hole.filter(|_| sacked) {
            if self.resend_hole(seq, end, stats, tx, now) {
                let seg_end = seq + end.since(seq).min(self.seg_room());
                self.rack.tlp_resent(self.snd_max, (seq, seg_end));
                sent = true;
            }
        } else {
            let sent_data = self.snd_max.since(self.snd_base).min(self.sndq.len());
            let len = sent_data.min(self.seg_room());
            // A FIN sent (with the last data or alone) goes again with the probe, as the
            // last segment it is part of.
            let fin = self.fin_queued && self.snd_max.gt(self.snd_base + self.sndq.len());
            if len > 0 || fin {
                let seq = self.snd_base + (sent_data - len);
                let off = sent_data - len;
                let fl = if fin { flags::FIN } else { 0 };
                if self.xmit(tx, stats, seq, fl, off, len, now) {
                    self.retransmits += 1;
                    stats.retransmits += 1;
                    self.rtt_sample = None;
                    let seg_end = seq + len + usize::from(fin);
                    self.rack.tlp_resent(self.snd_max, (seq, seg_end));
                    sent = true;
                }
            }
        }
        stats.loss_probes += u64::from(sent);
        self.timers.set(Timer::Rtx, now + self.rtt.rto());
        self.tlp_count += 1;
        self.arm_tlp(now);
    }

    /// Send the start of the hole `[seq, end)` again (a segment's worth, with the FIN if
    /// it reaches it); true if it left.
    fn resend_hole(
        &mut self,
        seq: Seq,
        end: Seq,
        stats: &mut TcpStats,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> bool {
        let off = seq.since(self.snd_base);
        let len = end.since(seq).min(self.seg_room());
        let data_end = self.snd_base + self.sndq.len();
        let data_len = len.min(self.sndq.len().saturating_sub(off));
        let fin = self.fin_queued && seq + data_len == data_end && self.snd_max.gt(data_end);
        let fl = if fin { flags::FIN } else { 0 };
        if (data_len > 0 || fin) && self.xmit(tx, stats, seq, fl, off, data_len, now) {
            self.retransmits += 1;
            stats.retransmits += 1;
            self.rtt_sample = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::*;

    /// RFC 8985 6.2 step 2 compares a retransmission's send time with the time its ACK's
    /// TSecr names: the connection turns the echo (milliseconds of our TSval clock) back
    /// into an instant on its clock. An echo of a TSval not sent yet names none, and
    /// neither does any echo with timestamps off.
    #[test]
    fn a_timestamp_echo_names_the_instant_its_tsval_left() {
        let mut c = Conn::established_ts(opts());
        let now = c.now + Duration::from_millis(500);
        let ts = c.tcb.ts_now(now);
        c.tcb.rx_tsecr = Some(ts.wrapping_sub(30));
        assert_eq!(
            c.tcb.echo_instant(now),
            Some(now - Duration::from_millis(30))
        );
        c.tcb.rx_tsecr = Some(ts);
        assert_eq!(c.tcb.echo_instant(now), Some(now));
        c.tcb.rx_tsecr = Some(ts.wrapping_add(5));
        assert_eq!(c.tcb.echo_instant(now), None);
        let mut c = Conn::established(opts());
        c.tcb.rx_tsecr = Some(c.tcb.ts_now(now).wrapping_sub(30));
        assert_eq!(c.tcb.echo_instant(now), None);
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    /// A clean round trip (an RTT for RACK and the RTO), then `n` segments in flight at a
    /// window of `n`, more data queued behind them: returns SND.UNA.
    /// `flight_of(n)`, then 100 ms later a SACK of its second to fourth segments: the
    /// first is lost and recovery begins. SND.UNA.
    fn into_recovery(c: &mut Conn, n: usize) -> Seq {
        let una = flight_of(c, n);
        c.now += Duration::from_millis(100);
        let mut r = c.seg(flags::ACK, una);
        r.sack[0] = (una + PEER_MSS, una + 4 * PEER_MSS);
        r.sack_count = 1;
        c.deliver(&r, &[]);
        assert!(c.tcb.in_recovery);
        una
    }

    fn flight_of(c: &mut Conn, n: usize) -> Seq {
        c.tcb.tlp_enabled = false;
        c.tcb.write(&bytes(4 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += Duration::from_millis(100);
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
        c.tcb.cc.set_cwnd(n * PEER_MSS);
        c.tcb.write(&bytes(2 * n * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), n);
        c.our_una()
    }

    /// On a connection without SACK, a loss probe during the go-back-N that follows a
    /// timeout (SND.NXT behind SND.MAX) sent new data at SND.MAX and moved SND.NXT there:
    /// the bytes between, taken for lost by the timeout, were never resent by go-back-N
    /// (only by duplicate ACKs or another timeout). The probe resends the last segment
    /// instead (RFC 8985 7.3's choice when no new data can go).
    #[test]
    fn without_sack_no_probe_skips_the_bytes_a_timeout_resends() {
        let mut c = Conn::established_no_sack(opts());
        assert!(!c.tcb.sack_ok);
        c.tcb.write(&bytes(30 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let first = c.take();
        let una = c.our_una();
        assert_eq!(first.len(), 10);
        // Nothing comes back: run the timers until the timeout resends SND.UNA.
        let mut sent = Vec::new();
        for _ in 0..2000 {
            c.advance(Duration::from_millis(1));
            sent.extend(c.take());
            if sent.iter().any(|s| s.r.seq == una) {
                break;
            }
        }
        assert!(
            sent.iter().any(|s| s.r.seq == una),
            "the timeout resent SND.UNA"
        );
        assert_eq!(c.stats.timeouts, 1);
        let high = c.tcb.snd_max;
        // The retransmission's ACK; slow start resends the next two segments.
        c.now += Duration::from_millis(10);
        let r = c.seg(flags::ACK, una + PEER_MSS);
        c.deliver(&r, &[]);
        let out = c.take();
        assert!(
            out.iter().all(|s| s.r.seq.lt(high)),
            "go-back-N goes on: {:?}",
            out.iter().map(|s| s.r.seq).collect::<Vec<_>>()
        );
        // Their ACK is late: whatever the timers send meanwhile...
        for _ in 0..30 {
            c.advance(Duration::from_millis(1));
        }
        c.take();
        // ...then it comes, and go-back-N resends what follows.
        let next = una + (1 + out.len()) * PEER_MSS;
        let r = c.seg(flags::ACK, next);
        c.deliver(&r, &[]);
        let out = c.take();
        assert_eq!(
            out.first().map(|s| s.r.seq),
            Some(next),
            "the bytes after {next:?} up to {high:?} are resent first: {:?}",
            out.iter().map(|s| s.r.seq).collect::<Vec<_>>()
        );
    }

    /// The peer's ACK at `una` SACKing `(from, to)` segments after it.
    fn sack_ack(c: &mut Conn, una: Seq, from: usize, to: usize) {
        let mut r = c.seg(flags::ACK, una);
        r.sack[0] = (una + from * PEER_MSS, una + to * PEER_MSS);
        r.sack_count = 1;
        c.deliver(&r, &[]);
    }

    /// PRR (RFC 9937): with the flight above ssthresh, each SACK lets out its share of
    /// ssthresh / RecoverFS, so sending goes on through the round trip. RFC 6675 alone
    /// sent nothing after the fast retransmission until the pipe fell below ssthresh (the
    /// first five ACKs here); and recovery ends at ssthresh.
    #[test]
    fn prr_spreads_a_recoverys_sending_over_the_round_trip() {
        let mut c = Conn::established(opts());
        let una = flight_of(&mut c, 20);
        c.now += Duration::from_millis(100);
        for k in 2..=4 {
            sack_ack(&mut c, una, 1, k);
        }
        assert!(c.tcb.in_recovery);
        c.take();
        let ssthresh = c.tcb.cc.ssthresh();
        let mut per_ack = Vec::new();
        for k in 5..=20 {
            sack_ack(&mut c, una, 1, k);
            per_ack.push(c.take().len());
        }
        assert!(per_ack.iter().all(|&n| n <= 1), "a burst: {per_ack:?}");
        let early: usize = per_ack[..5].iter().sum();
        assert!(early >= 3, "nothing early in the round: {per_ack:?}");
        // With the fast retransmission, a little under ssthresh sent while nearly all the
        // flight at the start (limited transmit's two segments are still out) was
        // delivered.
        let total: usize = per_ack.iter().sum::<usize>() + 1;
        let want = ssthresh / PEER_MSS;
        assert!(
            (want - 3..=want).contains(&total),
            "{total} for {want}: {per_ack:?}"
        );
        // The hole's ACK ends recovery at ssthresh.
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
        assert!(!c.tcb.in_recovery);
        assert_eq!(c.tcb.cc.cwnd(), ssthresh);
    }

    /// A window of 20, then a round later an ACK SACKing segments 10 to 12: 0 to 9 are lost
    /// (sent before them), recovery starts with a pipe of 7 segments and ssthresh 14. The
    /// connection, SND.UNA and what that ACK let out.
    fn ten_lost_of_twenty() -> (Conn, Seq, Vec<Sent>) {
        let mut c = Conn::established(opts());
        let una = flight_of(&mut c, 20);
        c.now += Duration::from_millis(100);
        sack_ack(&mut c, una, 10, 13);
        assert!(c.tcb.in_recovery);
        let out = c.take();
        (c, una, out)
    }

    /// PRR's bound below ssthresh: an ACK that reveals many losses (the pipe far below
    /// ssthresh) lets out what the ACK delivered, the fast retransmission among it, not
    /// the whole difference at once as RFC 6675 (C) did (seven more segments here).
    #[test]
    fn prr_does_not_burst_when_many_segments_are_lost() {
        let (mut c, una, out) = ten_lost_of_twenty();
        assert!(
            out.iter().all(|s| s.r.seq.lt(una + 10 * PEER_MSS)),
            "retransmissions"
        );
        assert_eq!(
            out.len(),
            3,
            "3 delivered, the fast retransmission among them"
        );
        // A safe ACK (SND.UNA advances, no new loss) lets one segment more go.
        let r = {
            let mut r = c.seg(flags::ACK, una + PEER_MSS);
            r.sack[0] = (una + 10 * PEER_MSS, una + 14 * PEER_MSS);
            r.sack_count = 1;
            r
        };
        c.deliver(&r, &[]);
        assert_eq!(
            c.take().len(),
            2 + 1,
            "two delivered, one more for a safe ACK"
        );
    }

    /// RFC 9937 4: the ACK that starts recovery computes sndcnt with prr_out still 0, and
    /// the fast retransmission is one of the segments it lets go. Below ssthresh that is
    /// what the ACK delivered (packet conservation, as Linux's tcp_cwnd_reduction counts it
    /// before tcp_xmit_recovery sends): three SACKed, three sent. Sending the
    /// retransmission first and counting it in prr_out let the MAX with DeliveredData add
    /// a fourth.
    #[test]
    fn prr_entry_sends_what_the_ack_delivered_the_retransmission_included() {
        let (mut c, una, out) = ten_lost_of_twenty();
        assert_eq!(
            out.first().map(|s| s.r.seq),
            Some(una),
            "the fast retransmission"
        );
        assert_eq!(
            out.len(),
            3,
            "3 delivered: {:?}",
            out.iter().map(|s| s.r.seq).collect::<Vec<_>>()
        );
        assert_eq!(c.tcb.pipe(), 7 * PEER_MSS + 3 * PEER_MSS);
        // An ACK that delivers one more segment (and no loss, no advance) lets one go.
        sack_ack(&mut c, una, 10, 14);
        assert_eq!(c.take().len(), 1);
    }

    /// On an ACK that starts recovery but delivers nothing (RACK's time-based rule on a
    /// repeated SACK), the fast retransmission still goes, and only it.
    #[test]
    fn prr_entry_on_an_ack_that_delivers_nothing_still_retransmits() {
        let mut c = Conn::established(opts());
        let una = flight_of(&mut c, 20);
        // The SACK of segment 19 comes early: RACK waits for its reordering window.
        c.now += Duration::from_millis(100);
        sack_ack(&mut c, una, 19, 20);
        assert!(!c.tcb.in_recovery);
        c.take();
        // The same SACK again after the window: the earlier segments are now lost.
        c.tcb.timers.clear(Timer::Reorder);
        c.now += Duration::from_millis(200);
        sack_ack(&mut c, una, 19, 20);
        assert!(c.tcb.in_recovery);
        let out = c.take();
        assert_eq!(
            out.len(),
            1,
            "{:?}",
            out.iter().map(|s| s.r.seq).collect::<Vec<_>>()
        );
        assert_eq!(out[0].r.seq, una);
    }

    /// RFC 6675 5 (4.3) and (C): on entering recovery the first lost segment goes whatever
    /// the pipe says, and then nothing while pipe (what is in flight: not SACKed, not lost)
    /// leaves less than an MSS of the congestion window.
    #[test]
    fn recovery_sends_only_what_the_pipe_leaves_room_for() {
        let mut c = Conn::established(opts());
        let una = flight_of(&mut c, 20);
        c.now += Duration::from_millis(100);
        // Segments 1, 2 and 3 (from 0 at SND.UNA) SACKed: 0 is lost (three above it).
        for k in 2..=4 {
            let mut r = c.seg(flags::ACK, una);
            r.sack[0] = (una + PEER_MSS, una + k * PEER_MSS);
            r.sack_count = 1;
            c.deliver(&r, &[]);
        }
        assert!(c.tcb.in_recovery);
        let out = c.take();
        let seqs: Vec<Seq> = out.iter().map(|s| s.r.seq).collect();
        let retx = seqs.iter().filter(|&&s| s == una).count();
        assert_eq!(retx, 1, "{seqs:?}");
        let after = seqs.iter().skip_while(|&&s| s != una).count();
        assert_eq!(after, 1, "more went out after the retransmission: {seqs:?}");
        // CUBIC: cwnd 0.7 of the flight; the pipe holds the other unSACKed segments (and
        // any that limited transmit sent), above it.
        assert!(c.tcb.pipe() >= c.tcb.cc.cwnd(), "{}", c.tcb.pipe());
    }

    /// RFC 8985 6.2 (and this file's rule: a cumulative ACK of a retransmission can show a
    /// segment sent after one still outstanding): in recovery, an ACK that covers the
    /// retransmitted hole and everything SACKed, leaving no SACK blocks, makes RACK find
    /// the tail of the original flight lost (sent before the retransmission, its RACK
    /// deadline passed), and it is resent at once, not after a probe or a timeout.
    #[test]
    fn a_cumulative_ack_of_a_retransmission_finds_the_tail_lost() {
        let mut c = Conn::established(opts());
        let una = into_recovery(&mut c, 8);
        let out = c.take();
        assert_eq!(out.first().map(|s| s.r.seq), Some(una));
        // The retransmission arrives; segments 4..8 never did.
        c.now += Duration::from_millis(100);
        let lost_before = c.stats.rack_lost;
        let r = c.seg(flags::ACK, una + 4 * PEER_MSS);
        c.deliver(&r, &[]);
        assert!(c.tcb.in_recovery);
        assert!(
            c.stats.rack_lost > lost_before,
            "the tail was not found lost"
        );
        let out = c.take();
        assert!(
            out.iter().any(|s| s.r.seq == una + 4 * PEER_MSS),
            "segment 4 was not resent: {:?}",
            out.iter().map(|s| s.r.seq).collect::<Vec<_>>()
        );
    }

    /// A connection reset in the middle of recovery keeps no scoreboard: its records (and
    /// the memory they hold) go with it.
    #[test]
    fn a_reset_in_recovery_forgets_the_scoreboard() {
        let mut c = Conn::established(opts());
        into_recovery(&mut c, 8);
        assert!(!c.tcb.sb.table().is_empty());
        let r = c.seg(flags::RST, Seq(0));
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Closed);
        assert!(c.tcb.sb.table().is_empty());
        assert_eq!((c.tcb.sb.sacked_bytes(), c.tcb.sb.lost_bytes()), (0, 0));
    }

    /// Run the clock 5 ms at a time until the retransmission timer has fired; returns what
    /// was sent from then on.
    fn until_a_timeout(c: &mut Conn) -> Vec<Sent> {
        let before = c.stats.timeouts;
        for _ in 0..2000 {
            c.advance(Duration::from_millis(5));
            if c.stats.timeouts > before {
                return c.take();
            }
            c.take();
        }
        panic!("no timeout");
    }

    fn fin(s: &Sent) -> bool {
        s.r.has(flags::FIN)
    }

    /// RFC 9293 3.10.4 (the FIN occupies sequence space and is retransmitted like data),
    /// in SACK recovery after a timeout: the segment that carried the FIN goes again with
    /// it; a FIN sent alone goes again alone; a short segment before it goes without it.
    #[test]
    fn sack_recovery_resends_the_fin_with_the_segment_that_carried_it() {
        // The last segment, 500 bytes and the FIN, is lost.
        let mut c = Conn::established(opts());
        c.tcb.tlp_enabled = false;
        c.tcb.write(&bytes(4 * PEER_MSS + 500));
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert!(fin(sent.last().unwrap()) && !fin(&sent[0]));
        let una = c.our_una();
        c.now += Duration::from_millis(100);
        let r = c.seg(flags::ACK, una + 4 * PEER_MSS);
        c.deliver(&r, &[]);
        let retx_before = c.tcb.info().retransmits;
        let out = until_a_timeout(&mut c);
        let r = &out[0];
        assert_eq!((r.r.seq, r.data.len()), (una + 4 * PEER_MSS, 500));
        assert!(fin(r), "the retransmission lacks the FIN");
        assert_eq!(c.tcb.info().retransmits, retx_before + 1);

        // A FIN sent alone after the data was acknowledged is lost.
        let mut c = Conn::established(opts());
        c.tcb.tlp_enabled = false;
        c.tcb.write(&bytes(2 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += Duration::from_millis(100);
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert!(sent.len() == 1 && fin(&sent[0]) && sent[0].data.is_empty());
        let out = until_a_timeout(&mut c);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(fin(&out[0]) && out[0].data.is_empty());
        assert_eq!(out[0].r.seq, sent[0].r.seq);

        // Two short segments, the FIN on the second; the first goes again without it.
        let mut c = Conn::established(ConnOpts {
            nodelay: true,
            ..opts()
        });
        c.tcb.tlp_enabled = false;
        c.tcb.write(&bytes(500));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.tcb.write(&bytes(500));
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert_eq!(sent.len(), 2);
        assert!(!fin(&sent[0]) && fin(&sent[1]));
        let out = until_a_timeout(&mut c);
        assert_eq!((out[0].r.seq, out[0].data.len()), (sent[0].r.seq, 500));
        assert!(!fin(&out[0]), "a FIN on a segment before the last");
    }

    /// Without SACK (RFC 5681 3.2, RFC 6582 3.2): three duplicate ACKs resend the first
    /// segment, without the FIN that rides on a later one; the partial ACK that follows
    /// resends the next hole, and when that is the last segment the FIN goes with it (or
    /// alone, if it was sent alone). Each retransmission is counted.
    #[test]
    fn newreno_resends_the_fin_with_the_segment_that_carried_it() {
        for fin_alone in [false, true] {
            let mut c = Conn::established(opts());
            c.tcb.sack_ok = false;
            c.tcb.tlp_enabled = false;
            let data = if fin_alone { 4000 } else { 4500 };
            c.tcb.write(&bytes(data));
            if fin_alone {
                c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            }
            c.tcb.shutdown_write();
            c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            let sent = c.take();
            assert!(fin(sent.last().unwrap()), "{fin_alone}");
            assert_eq!(sent.last().unwrap().data.is_empty(), fin_alone);
            let una = c.our_una();
            c.now += Duration::from_millis(100);
            for _ in 0..3 {
                let r = c.seg(flags::ACK, una);
                c.deliver(&r, &[]);
            }
            assert!(c.tcb.in_recovery, "{fin_alone}");
            assert_eq!(c.stats.retransmits, 1, "{fin_alone}");
            assert_eq!(c.tcb.info().retransmits, 1, "{fin_alone}");
            let out = c.take();
            let first = out
                .iter()
                .find(|s| s.r.seq == una)
                .expect("fast retransmit");
            assert_eq!(first.data.len(), PEER_MSS, "{fin_alone}");
            assert!(!fin(first), "{fin_alone}: a FIN on the first segment");
            // The first segment's retransmission arrives; the last segment is missing.
            c.now += Duration::from_millis(100);
            let r = c.seg(flags::ACK, una + 4 * PEER_MSS);
            c.deliver(&r, &[]);
            assert_eq!(c.stats.retransmits, 2, "{fin_alone}");
            assert_eq!(c.tcb.info().retransmits, 2, "{fin_alone}");
            let out = c.take();
            let last = out
                .iter()
                .find(|s| s.r.seq == una + 4 * PEER_MSS)
                .expect("the last segment resent");
            assert_eq!(last.data.len(), data - 4 * PEER_MSS, "{fin_alone}");
            assert!(fin(last), "{fin_alone}: the FIN was not resent");
        }
    }

    /// RFC 8985 7.2 with this file's rule: the probe waits two SRTTs (and 2 ms), plus the
    /// delayed-ACK allowance only when one segment is out or the flight fills the peer's
    /// window, i.e. leaves no room for another full segment. Exactly a segment of room is
    /// not full.
    #[test]
    fn the_probe_waits_for_a_delayed_ack_only_when_the_window_is_full() {
        let mut c = Conn::established(opts());
        c.tcb.write(&bytes(PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += Duration::from_millis(100);
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
        let srtt = c.tcb.rtt.srtt().expect("an RTT sample");
        c.tcb.write(&bytes(3 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 3);
        let pto = srtt * 2 + Duration::from_millis(2);
        for (room, allowance) in [(PEER_MSS, false), (PEER_MSS - 1, true)] {
            c.tcb.snd_wnd = 3 * PEER_MSS + room;
            c.tcb.timers.clear(Timer::Tlp);
            c.tcb.arm_tlp(c.now);
            let want = c.now + pto + DELAYED_ACK_ALLOWANCE * u32::from(allowance);
            assert_eq!(c.tcb.timers.get(Timer::Tlp), Some(want), "room {room}");
        }
    }

    /// Run the timers millisecond by millisecond for `ms`: what was sent, when (ms from
    /// now), and at which sequence offset from `from`, with the probe and timeout counts.
    fn timeline(c: &mut Conn, ms: u64, from: Seq) -> Vec<(u64, usize, u64, u64)> {
        let mut log = Vec::new();
        for t in 1..=ms {
            c.advance(Duration::from_millis(1));
            for s in c.take() {
                let at = s.r.seq.since(from);
                log.push((t, at, c.stats.loss_probes, c.stats.timeouts));
            }
        }
        log
    }

    /// RFC 8985 7.2: the probe is never later than the RTO. On a 150 ms path the RTO sits
    /// at 200 ms, before two SRTTs: the probe goes in its place when it expires (so a tail
    /// loss is repaired without the window's collapse), and the RTO, backed off, only
    /// after it. No probe armed before a timeout fires after it.
    #[test]
    fn on_a_long_path_the_first_probe_goes_when_the_rto_would_and_the_rto_follows() {
        let mut c = Conn::established(opts());
        steady_path(&mut c, Duration::from_millis(150), 30);
        assert_eq!(c.tcb.rtt.rto(), Duration::from_millis(200));
        let una = c.our_una();
        c.tcb.write(&bytes(4 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 4);
        let cwnd = c.tcb.cc.cwnd();
        // Nothing comes back: the probe (the last segment) at 200 ms, the timeout (the
        // first) 200 ms later, the next one 400 ms after that; nothing else.
        let log = timeline(&mut c, 1000, una);
        assert_eq!(
            log,
            [(200, 3 * PEER_MSS, 1, 0), (400, 0, 1, 1), (800, 0, 1, 2)],
            "{log:?}"
        );
        // A tail loss answered by the probe's SACK keeps the window.
        let mut c = Conn::established(opts());
        steady_path(&mut c, Duration::from_millis(150), 30);
        let una = c.our_una();
        c.tcb.write(&bytes(4 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += Duration::from_millis(150);
        let r = c.seg(flags::ACK, una + 2 * PEER_MSS);
        c.deliver(&r, &[]);
        c.take();
        let log = timeline(&mut c, 250, una);
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!((log[0].1, log[0].2, log[0].3), (3 * PEER_MSS, 1, 0));
        assert!(c.tcb.cc.cwnd() >= cwnd, "no timeout's collapse");
    }

    /// Four full segments and a last one of 500 bytes with the FIN, all sent; then the
    /// retransmission timer fires (no probes before it): the connection is in recovery.
    fn fin_flight_after_a_timeout(c: &mut Conn) -> Seq {
        c.tcb.tlp_enabled = false;
        c.tcb.write(&bytes(4 * PEER_MSS + 500));
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 5);
        let una = c.our_una();
        until_a_timeout(c);
        assert!(c.tcb.in_recovery);
        c.tcb.tlp_enabled = true;
        una
    }

    /// RFC 8985 7.3 as this file applies it during recovery: the probe resends the first
    /// segment the peer lacks (with the FIN if that segment carried it, never otherwise),
    /// counts as a retransmission, restarts the RTO, and after `max_loss_probes` probes no
    /// further probe is armed.
    #[test]
    fn a_probe_in_recovery_resends_the_first_hole() {
        // The first segment: no FIN on it.
        let mut c = Conn::established(opts());
        let una = fin_flight_after_a_timeout(&mut c);
        let before = (c.stats.retransmits, c.tcb.info().retransmits);
        c.now += Duration::from_millis(50);
        c.tcb.on_tlp(&mut c.stats, &mut c.tx, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].r.seq, out[0].data.len()), (una, PEER_MSS));
        assert!(!fin(&out[0]), "a FIN on the first segment");
        assert_eq!(
            (c.stats.retransmits, c.tcb.info().retransmits),
            (before.0 + 1, before.1 + 1)
        );
        assert_eq!(c.tcb.timers.get(Timer::Rtx), Some(c.now + c.tcb.rtt.rto()));
        // Probes stop after the limit (each call stands for the probe timer firing).
        for _ in 1..c.tcb.tlp_max {
            assert!(c.tcb.timers.get(Timer::Tlp).is_some());
            c.tcb.timers.clear(Timer::Tlp);
            c.tcb.on_tlp(&mut c.stats, &mut c.tx, c.now);
        }
        assert_eq!(
            c.tcb.timers.get(Timer::Tlp),
            None,
            "a probe beyond the limit"
        );

        // The first hole is the last segment: the FIN goes with it.
        let mut c = Conn::established(opts());
        let una = fin_flight_after_a_timeout(&mut c);
        c.now += Duration::from_millis(50);
        let r = c.seg(flags::ACK, una + 4 * PEER_MSS);
        c.deliver(&r, &[]);
        assert!(c.tcb.in_recovery);
        c.take();
        c.tcb.on_tlp(&mut c.stats, &mut c.tx, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].r.seq, out[0].data.len()), (una + 4 * PEER_MSS, 500));
        assert!(fin(&out[0]), "the FIN was not resent");
    }

    /// RFC 8985 7.3: the probe is new data only if the peer's window has room for it;
    /// with the window full it resends the last segment sent, and not with a FIN that has
    /// not been sent yet.
    #[test]
    fn with_the_peer_window_full_the_probe_resends_the_last_segment() {
        let mut c = Conn::established(opts());
        c.tcb.write(&bytes(3 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert_eq!(sent.len(), 3);
        c.tcb.snd_wnd = 3 * PEER_MSS;
        c.tcb.write(&bytes(2 * PEER_MSS));
        c.tcb.shutdown_write();
        c.now += Duration::from_millis(50);
        c.tcb.on_tlp(&mut c.stats, &mut c.tx, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].r.seq, out[0].data.len()), (sent[2].r.seq, PEER_MSS));
        assert_eq!((c.stats.retransmits, c.tcb.info().retransmits), (1, 1));
        assert!(!fin(&out[0]), "the probe carried a FIN not sent yet");
    }

    /// RFC 6675 5 (C): in recovery a segment goes while cwnd − pipe ≥ 1 SMSS; exactly one
    /// segment of room is enough.
    #[test]
    fn recovery_sends_when_the_window_has_exactly_a_segment_of_room() {
        let mut c = Conn::established(opts());
        let una = into_recovery(&mut c, 20);
        c.take();
        // Another hole found lost (segment 5), with the window just a segment above pipe.
        let hole = una + 5 * PEER_MSS;
        let i = c.tcb.sb.table().iter().position(|s| s.start == hole);
        assert!(c
            .tcb
            .sb
            .table_mut()
            .mark_lost(i.expect("a record at the hole")));
        let pipe = c.tcb.pipe();
        c.tcb.cc.set_cwnd(pipe + PEER_MSS);
        c.tcb.sack_send(&mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].r.seq, out[0].data.len()), (hole, PEER_MSS));
        // Now the window is full: nothing more.
        c.tcb.sack_send(&mut c.tx, &mut c.stats, c.now);
        assert!(c.take().is_empty());
    }
}
