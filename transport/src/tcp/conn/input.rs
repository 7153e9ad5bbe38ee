//! Segment arrival (RFC 9293 3.10.7): acceptability, RST and SYN checks with RFC 5961's
//! defences, the ACK field (new data acknowledged, duplicate ACKs, window updates) and the
//! FIN.

use super::rack::TlpOutcome;
use super::scoreboard::AckInfo;
use super::*;

impl Tcb {
    /// A segment for this connection (RFC 9293 3.10.7, for every state but LISTEN and
    /// CLOSED, which the owner handles). With `in_batch` (more segments were read in the
    /// same wake-up), an ACK owed only because two full segments arrived waits for the end
    /// of the batch: returns true when the caller must then call `output`. Duplicate ACKs,
    /// hole fills, FINs and window updates still go at once.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        in_batch: bool,
    ) -> bool {
        self.rx_tsecr = seg.timestamp.map(|(_, ecr)| ecr);
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.segment_syn_sent(cfg, seg, payload, tx, stats, now),
            _ => self.segment_synchronized(cfg, seg, payload, tx, stats, now),
        }
        self.rx_tsecr = None;
        if let (Some(floor), Some((_, ecr))) = (self.ts_echo_floor, seg.timestamp) {
            // The peer echoes a TSval of ours from after the cookie: the floor has done
            // its work (and would misjudge echoes once the clock is 2^31 ms past it).
            if (ecr.wrapping_sub(floor) as i32) >= 0 {
                self.ts_echo_floor = None;
            }
        }
        // Before the output: under memory pressure an emptied ring goes now, and the
        // window announced is the one the pool allows.
        self.recharge();
        if self.state != State::Closed {
            self.output_inner(cfg, tx, stats, now, in_batch);
            if !self.ack_now && self.pending_ack_bytes > 0 && !self.timers.is_set(Timer::DelayedAck)
            {
                self.timers.set(Timer::DelayedAck, now + cfg.delayed_ack);
            }
            self.clamp_rtx_to_user_timeout();
        }
        self.ack_due && self.state != State::Closed
    }

    /// Listed in the batch's ACK list since the last [`Tcb::output_batch_ack`]: a
    /// connection is listed once however many of its segments the batch holds.
    pub fn ack_listed(&self) -> bool {
        self.ack_listed
    }

    pub fn list_batch_ack(&mut self) {
        self.ack_listed = true;
    }

    /// The batch is over: the ACK it deferred, if still owed.
    pub fn output_batch_ack(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        self.ack_listed = false;
        self.output(cfg, tx, stats, now);
    }

    pub(super) fn segment_syn_sent(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        // First: the ACK must cover our SYN and nothing we have not sent.
        let mut ack_ok = false;
        if seg.has(flags::ACK) {
            if seg.ack.le(self.iss) || seg.ack.gt(self.snd_max) {
                if seg.has(flags::RST) {
                    // RFC 9293 3.10.7.3: dropped, never answered.
                    stats.drop_rst_ignored += 1;
                } else {
                    stats.bad_acks += 1;
                    self.reset_reply(seg.ack, tx, stats, now);
                }
                return;
            }
            ack_ok = true;
        }
        // Second: a RST is believed only with an acceptable ACK (RFC 5961 3.2 / 9293).
        if seg.has(flags::RST) {
            stats.resets_in += 1;
            if ack_ok {
                self.fail(TcpError::Refused);
            } else {
                stats.drop_rst_ignored += 1;
            }
            return;
        }
        // Fourth: the SYN.
        if !seg.has(flags::SYN) {
            // Fifth (RFC 9293 3.10.7.3): neither SYN nor RST.
            stats.drop_no_ack += 1;
            return;
        }
        count_wscale_error(seg, stats);
        if !payload.is_empty() {
            // Its data is not taken (nor acknowledged): the peer sends it again.
            stats.drop_syn_data += 1;
        }
        self.take_syn_options(seg, now);
        // A path MTU learnt since the SYN left (a "fragmentation needed" about it, see
        // `path_mtu`) holds for the first segments too (Linux's tcp_sync_mss with the
        // path-MTU cookie).
        if let Some((_, mtu)) = tx.route_info(*self.remote.ip()) {
            if mtu < self.mss + 40 && self.opts.pmtu != PmtuMode::Dont {
                if self.lower_mss(mtu).is_some() {
                    stats.pmtu_updates += 1;
                }
                self.cc.set_cwnd(initial_window(self.mss));
            }
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.rcv_told = self.rcv_nxt;
        self.last_rx = now;
        if ack_ok {
            if self.fo_syn.is_some() {
                self.fo_syn_acked(seg, stats);
            }
            self.snd_una = seg.ack;
            // The window of a SYN-ACK is never scaled (RFC 7323 2.2).
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.take_rtt_sample(cfg, seg.ack, now);
            if self.syn_retries > 0 {
                self.after_syn_loss(cfg);
            }
            self.timers.clear(Timer::Rtx);
            self.syn_retries = 0;
            self.backoff = 0;
            self.set_state(State::Established);
            stats.ecn_conns += u64::from(self.ecn_ok);
            self.quick_acks = cfg.quick_acks;
            self.rearm_keepalive(cfg, false, now);
            self.ack_now = true;
        } else {
            // Simultaneous open (RFC 9293 3.5, figure 8): SYN-RECEIVED, answer SYN-ACK.
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            // A Fast Open SYN's data was dropped with it by a peer in SYN-SENT: it goes
            // after the handshake (SND.MAX stays, for a peer that took it).
            self.snd_nxt = self.iss + 1;
            self.set_state(State::SynReceived);
            self.send_syn(tx, stats, now);
        }
    }

    /// A Fast Open SYN's SYN-ACK (RFC 7413 4.1.3): a cookie it brings is kept for the
    /// next connection, the data it acknowledges leaves the queue, and data it does not
    /// goes again at once.
    fn fo_syn_acked(&mut self, seg: &TcpRepr, stats: &mut TcpStats) {
        let in_syn = self.snd_max.since(self.snd_base);
        let acked = seg.ack.since(self.snd_base).min(self.sndq.len());
        let cookie = seg.fastopen.filter(|c| !c.is_request());
        self.fo_outcome = if let Some(c) = cookie {
            Some(FastOpenOutcome::Cookie(
                c,
                seg.mss.unwrap_or(DEFAULT_MSS as u16),
            ))
        } else if (in_syn > 0 && acked > 0) || self.syn_retries == 0 {
            Some(FastOpenOutcome::Answered)
        } else {
            // Only a plain retransmission was answered (or the answer to the first SYN
            // came that late, which the path's loss costs just the same).
            Some(FastOpenOutcome::Lost)
        };
        if in_syn == 0 {
            return;
        }
        if acked > 0 {
            stats.fastopen_active += 1;
            self.sndq.drain(..acked);
            self.snd_base = self.snd_base + acked;
        } else {
            stats.fastopen_active_fail += 1;
        }
        // What the SYN-ACK does not cover is unsent again: it goes at once (or waits for
        // the window with the persist timer), and SND.NXT never lags SND.UNA (a SYN
        // retransmitted without the data may be answered for the first one, data and all).
        if seg.ack.lt(self.snd_max) {
            self.fo_resend_end = Some(self.snd_max);
        }
        self.snd_nxt = seg.ack;
        self.snd_max = seg.ack;
    }

    /// Send `<SEQ=ack><CTL=RST>`: the answer to an unacceptable ACK before synchronization.
    pub(super) fn reset_reply(
        &mut self,
        ack: Seq,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        let r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: ack,
            flags: flags::RST,
            ..TcpRepr::default()
        };
        if send_repr_ttl(tx, self.local, self.remote, &r, &[], self.opts.ip(), now) {
            stats.segs_out += 1;
            stats.resets_out += 1;
        }
    }

    /// RFC 9293 3.10.7.4 for the synchronized states (and SYN-RECEIVED), step by step.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn segment_synchronized(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        // A retransmitted SYN while our SYN-ACK is unanswered: send the SYN-ACK again, at
        // most once per `invalid_ratelimit` (it is out of the window: RFC 5961 7; Linux's
        // tcp_check_req), so that copies of one SYN cannot make us send without bound.
        if self.state == State::SynReceived
            && seg.has(flags::SYN)
            && !seg.has(flags::ACK)
            && !seg.has(flags::RST)
            && seg.seq == self.irs
        {
            stats.dup_segments += 1;
            if self.oow_ack_allowed(cfg, stats, now) {
                // Karn (RFC 6298 3): no round trip is measured across a resent SYN-ACK.
                self.rtt_sample = None;
                self.send_syn(tx, stats, now);
            }
            return;
        }
        if self.paws_drops(cfg, seg, payload, stats, now) {
            return;
        }
        // A RST at the peer's FIN (one below RCV.NXT) once the peer has closed: some
        // stacks reset from their FIN's sequence number, and it is believed, as Linux's
        // tcp_reset_check (RFC 9293's test would drop it, leaving the connection to time
        // out).
        if seg.has(flags::RST)
            && seg.seq + 1 == self.rcv_nxt
            && matches!(
                self.state,
                State::CloseWait | State::LastAck | State::Closing
            )
        {
            self.rst_arrived(cfg, seg, stats, now);
            return;
        }
        // First: is the segment acceptable? What of it fits the window?
        let Some(text) = self.acceptable_text(cfg, seg, payload, stats, now) else {
            return;
        };
        // Second: RST (RFC 5961 3.2).
        if seg.has(flags::RST) {
            self.rst_arrived(cfg, seg, stats, now);
            return;
        }
        // Fourth: a SYN. In SYN-RECEIVED of a passive open it is the peer's new attempt
        // (another ISN): back to LISTEN (RFC 9293 3.10.7.4), the half-open connection
        // goes quietly and the listener takes the peer's next SYN. Fast Open's child,
        // already the application's, fails as on a RST. In a synchronized state, a
        // challenge ACK (RFC 5961 4.2).
        if seg.has(flags::SYN) && !text.simultaneous {
            if self.state == State::SynReceived && self.passive {
                stats.handshake_restarts += 1;
                if self.fo_child {
                    self.fail(TcpError::Reset);
                } else {
                    self.close_now();
                }
                return;
            }
            self.challenge_ack(cfg, stats, now);
            return;
        }
        // Fifth: the ACK field.
        if !seg.has(flags::ACK) {
            stats.drop_no_ack += 1;
            return;
        }
        if self.state == State::SynReceived && !self.handshake_acked(cfg, seg, tx, stats, now) {
            return;
        }
        if !self.process_ack(cfg, seg, text.data.len(), tx, stats, now) {
            return;
        }
        if (self.orphan || self.shut_read)
            && !text.data.is_empty()
            && matches!(self.state, State::FinWait1 | State::FinWait2)
        {
            // New data for an application that has closed, or shut both ways: nobody
            // will read it. Reset before taking it (RFC 1122 4.2.2.13, as Linux in
            // FIN-WAIT-1/2 with RCV_SHUTDOWN), so that neither it nor a FIN with it is
            // acknowledged as if delivered.
            stats.aborts_on_close += 1;
            self.abort(tx, stats, now);
            if !self.orphan {
                // An application that shut both ways still holds the socket: Linux's
                // `tcp_reset` leaves it ECONNRESET, for the next call (or SO_ERROR).
                self.error = Some(TcpError::Reset);
            }
            return;
        }
        // Sixth: the urgent pointer (the urgent data itself stays in the stream).
        if seg.has(flags::URG) {
            self.urgent_arrived(seg);
        }
        // Seventh and eighth: the text and the FIN.
        self.text_arrived(cfg, text, stats, now);
    }

    /// Timestamps (RFC 7323 5.3 R1): PAWS drops an old duplicate and answers with an ACK;
    /// true if it dropped this one. A segment without them once they were negotiated is
    /// taken, as Linux takes it, and counted (RFC 7323 3.2 says SHOULD drop; a middlebox
    /// that strips options, or a crafted RST-less segment, then still meets RFC 5961's
    /// checks).
    fn paws_drops(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        stats: &mut TcpStats,
        now: Instant,
    ) -> bool {
        if !self.ts_ok || seg.has(flags::RST) {
            return false;
        }
        match seg.timestamp {
            None => {
                stats.ts_missing += 1;
                false
            }
            Some((tsval, _)) if self.paws_rejects(tsval, now) => {
                stats.drop_paws += 1;
                self.dsack_old(seg.seq + usize::from(seg.has(flags::SYN)), payload.len());
                // Answered as an out-of-window segment is: data always, a bare ACK at
                // most once per `invalid_ratelimit` (RFC 5961 7).
                let bare = payload.is_empty() && !seg.has(flags::FIN);
                if !bare || self.oow_ack_allowed(cfg, stats, now) {
                    self.ack_now = true;
                }
                true
            }
            Some(_) => false,
        }
    }

    /// RFC 9293 3.10.7.4's first step: the four acceptability cases, then the text trimmed
    /// to the window and the receive buffer. `None`: not acceptable (answered as RFC 5961
    /// 7 allows) and dropped.
    fn acceptable_text<'a>(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &'a [u8],
        stats: &mut TcpStats,
        now: Instant,
    ) -> Option<Text<'a>> {
        let mut data = payload;
        let mut seq = seg.seq;
        let mut syn = seg.has(flags::SYN);
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK repeats the SYN we
        // already took; what counts is its ACK.
        let simultaneous = self.state == State::SynReceived
            && !self.passive
            && syn
            && seg.has(flags::ACK)
            && seq == self.irs;
        if simultaneous {
            syn = false;
            seq = seq + 1;
        }
        let mut fin = seg.has(flags::FIN);
        let seg_len = data.len() + usize::from(syn) + usize::from(fin);
        let wnd = self.rcv_adv.since(self.rcv_nxt);
        let in_wnd = |s: Seq| s.ge(self.rcv_nxt) && s.lt(self.rcv_nxt + wnd);
        let acceptable = match (seg_len, wnd) {
            // A segment without data may sit at the right edge itself: a peer that
            // filled our window behind a hole ACKs and resets from there (RFC 9293's
            // test refuses it; Linux's tcp_sequence and BSD take it, and so its ACK
            // counts and its RST draws a challenge ACK). With a zero window this is
            // RCV.NXT, as in RFC 9293.
            //
            // Nor need it be at or after RCV.NXT: a segment sent after our last ACK (at or
            // after the RCV.NXT that ACK carried, Linux's rcv_wup) is no old duplicate but
            // a pure ACK the peer's next data overtook; its acknowledgment counts, as in
            // Linux's tcp_sequence.
            (0, _) => {
                let wup = if self.last_ack_sent.lt(self.rcv_nxt) {
                    self.last_ack_sent
                } else {
                    self.rcv_nxt
                };
                seq.ge(wup) && seq.le(self.rcv_nxt + wnd)
            }
            (_, 0) => false,
            // Either end in the window (RFC 9293), or both ends beyond it, one on each
            // side: the whole window is in the segment, whose new part is kept as RFC
            // 9293's trimming rule and Linux's tcp_sequence keep it. Before RCV.NXT by
            // `gt`, not `lt`: a SEQ 2^31 away is `lt` both ways (and `since` says 0), so
            // such a segment counted as spanning the window, and was taken as if it
            // started at RCV.NXT (a bare FIN ended the stream; a SYN underflowed below).
            (n, _) => {
                in_wnd(seq)
                    || in_wnd(seq + (n - 1))
                    || (self.rcv_nxt.gt(seq) && (seq + (n - 1)).ge(self.rcv_nxt + wnd))
            }
        };
        // A zero window still takes ACKs and RSTs at RCV.NXT (a probe's data is dropped).
        let zero_window_probe = !acceptable && wnd == 0 && seq == self.rcv_nxt;
        if !acceptable && !zero_window_probe {
            if seg.has(flags::RST) {
                // RFC 5961 3.2: a RST outside the window is silently dropped.
                stats.drop_rst_ignored += 1;
            } else {
                if seq.lt(self.rcv_nxt) {
                    stats.dup_segments += 1;
                } else {
                    // Beyond the right edge: no room, not received before.
                    stats.window_drops += 1;
                }
                self.dsack_old(seq + usize::from(syn), data.len());
                if self.state == State::TimeWait && fin && (seq + seg_len) == self.rcv_nxt {
                    // The peer retransmits its FIN: our last ACK was lost (restart 2 MSL).
                    self.timers.set(Timer::TimeWait, now + cfg.time_wait);
                }
                // Data or a FIN (a retransmission whose ACK was lost) is always answered;
                // a bare ACK or SYN at most once per `invalid_ratelimit` (RFC 5961 7), so
                // that forged segments cannot make us send without bound, nor two stacks
                // that disagree about the window ACK each other forever.
                if !payload.is_empty() || fin || self.oow_ack_allowed(cfg, stats, now) {
                    self.ack_now = true;
                }
                if !payload.is_empty() {
                    // Data again: our ACK was lost or late, so ACKs wait for no reply, and
                    // the next segments are ACKed at once (Linux's
                    // tcp_enter_quickack_mode(TCP_MAX_QUICKACKS), which leaves pingpong
                    // mode too): often a sender restarting from one segment.
                    self.interactive = false;
                    self.quick_acks = self.quick_acks.max(cfg.quick_acks);
                }
            }
            return None;
        }
        if zero_window_probe {
            data = &[];
            // A bare FIN needs no room: it is taken, as Linux takes it, so a peer that
            // closes while our window is shut ends the stream now rather than at its
            // FIN's retransmission after the reader made room (RFC 9293 would drop it).
            fin = fin && payload.is_empty() && !syn;
            if !payload.is_empty() {
                stats.window_drops += 1;
                self.ack_now = true;
            }
        }
        // Trim to the window: what lies before RCV.NXT was received, what lies beyond the
        // right edge does not fit.
        if seq.lt(self.rcv_nxt) {
            let mut skip = self.rcv_nxt.since(seq);
            if syn {
                // An old SYN (its sequence number is behind us): step over it.
                skip -= 1;
                seq = seq + 1;
            }
            let cut = skip.min(data.len());
            self.dsack_old(seq, cut);
            data = &data[cut..];
            seq = seq + cut;
            if skip > cut {
                // The whole payload and the FIN after it were received before.
                fin = false;
            }
            if cut > 0 {
                stats.dup_segments += 1;
                self.ack_now = true;
                self.interactive = false;
            }
        }
        let room = (self.rcv_nxt + wnd).since(seq);
        // The receive ring bounds what is kept: SO_RCVBUF plus one unit of the window scale
        // from the first unread byte. `header` never announces an edge beyond it (it
        // rounds the window down there, RFC 7323 2.4), so this cuts only segments beyond
        // the window (the buffer never shrinks).
        let unit = (1usize << self.rcv_wscale) - 1;
        let limit = (self.rcv_buf + unit).saturating_sub(self.rx.readable());
        let room = room.min(limit.saturating_sub(seq.since(self.rcv_nxt)));
        if data.len() > room {
            data = &data[..room];
            fin = false;
            stats.window_drops += 1;
            self.ack_now = true;
        }
        Some(Text {
            seq,
            data,
            fin,
            simultaneous,
        })
    }

    /// `len` bytes of data from `seq` arrived: what of them lies before RCV.NXT was
    /// received before, and is reported in a D-SACK block (RFC 2883) when the peer does
    /// SACK. Never more than the segment's own bytes, wherever its sequence number lies.
    fn dsack_old(&mut self, seq: Seq, len: usize) {
        if !self.sack_ok || len == 0 || !seq.lt(self.rcv_nxt) {
            return;
        }
        let end = seq + len;
        let end = if end.gt(self.rcv_nxt) {
            self.rcv_nxt
        } else {
            end
        };
        self.dsack = Some((seq, end));
    }

    /// A RST within the window: only one exactly at RCV.NXT is believed (RFC 5961 3.2);
    /// others draw a challenge ACK.
    fn rst_arrived(&mut self, cfg: &TcpConfig, seg: &TcpRepr, stats: &mut TcpStats, now: Instant) {
        if self.state == State::TimeWait {
            // RFC 1337: a RST does not cut TIME-WAIT short, and draws no challenge ACK
            // either, as a TIME-WAIT record ignores it.
            stats.drop_rst_ignored += 1;
            return;
        }
        stats.resets_in += 1;
        let after_fin = seg.seq + 1 == self.rcv_nxt
            && matches!(
                self.state,
                State::CloseWait | State::LastAck | State::Closing
            );
        if seg.seq != self.rcv_nxt && !after_fin {
            self.challenge_ack(cfg, stats, now);
            return;
        }
        match self.state {
            // A Fast Open connection the application has already: reset, as Linux.
            State::SynReceived if self.passive && self.fo_child => self.fail(TcpError::Reset),
            State::SynReceived if self.passive => self.close_now(),
            State::SynReceived => self.fail(TcpError::Refused),
            State::Established | State::FinWait1 | State::FinWait2 => {
                stats.resets_established += 1;
                self.fail(TcpError::Reset);
            }
            State::CloseWait => {
                // The peer had closed: as Linux, writing is a broken pipe (EPIPE), and
                // reading ends at its FIN.
                stats.resets_established += 1;
                self.fail(TcpError::ResetAfterFin);
            }
            _ => self.close_now(),
        }
    }

    /// Is `seg` an ACK that would complete the handshake of this connection in
    /// SYN-RECEIVED (its ACK field covers our SYN)?
    pub fn handshake_ack(&self, seg: &TcpRepr) -> bool {
        self.state == State::SynReceived
            && seg.has(flags::ACK)
            && !seg.has(flags::RST)
            && !seg.has(flags::SYN)
            && seg.ack.gt(self.snd_una)
            && seg.ack.le(self.snd_max)
    }

    /// SYN-RECEIVED: the ACK of our SYN-ACK completes the handshake (true); any other ACK
    /// is answered with a RST and the segment dropped (false).
    fn handshake_acked(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> bool {
        if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max) {
            // A SYN-ACK's (simultaneous open) window is not scaled (RFC 7323 2.2).
            let shift = if seg.has(flags::SYN) {
                0
            } else {
                self.snd_wscale
            };
            self.snd_wnd = usize::from(seg.window) << shift;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            if self.syn_retries > 0 {
                self.after_syn_loss(cfg);
            }
            self.syn_retries = 0;
            self.set_state(State::Established);
            stats.ecn_conns += u64::from(self.ecn_ok);
            self.quick_acks = cfg.quick_acks;
            self.rearm_keepalive(cfg, false, now);
            if self.fin_queued {
                // The application closed before the handshake ended.
                self.set_state(State::FinWait1);
            }
        } else {
            stats.bad_acks += 1;
            self.reset_reply(seg.ack, tx, stats, now);
            return false;
        }
        true
    }

    /// RFC 9293 3.10.7.4's seventh and eighth steps: the text (in order or beyond a hole)
    /// and the FIN, once everything before it has arrived.
    fn text_arrived(
        &mut self,
        cfg: &TcpConfig,
        text: Text<'_>,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        let Text {
            seq, data, mut fin, ..
        } = text;
        if !data.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if seq == self.rcv_nxt {
                        // The peer sent no data for longer than an RTO: a sender restarts
                        // its window after such an idle time (RFC 5681 4.1), so its first
                        // segments get quick ACKs again. Measured from its last data, as
                        // Linux's tcp_event_data_recv (ACKs alone do not restart a window).
                        if self
                            .last_data_rx
                            .is_some_and(|t| now.saturating_duration_since(t) > self.rtt.rto())
                        {
                            self.quick_acks = self.quick_acks.max(cfg.quick_acks);
                        }
                        self.last_data_rx = Some(now);
                    }
                    self.receive_data(seq, data, fin, stats);
                }
                _ => {
                    // The peer's FIN came before: this is stray data.
                    stats.drop_after_fin += 1;
                    fin = false;
                }
            }
        } else if fin && seq != self.rcv_nxt {
            // A bare FIN beyond a hole: remember where the stream ends.
            if matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            ) {
                let off = self.rx.end() + seq.since(self.rcv_nxt) as u64;
                self.rx.forget_ooo_from(off);
                self.ooo_fin = Some(off);
                self.ack_now = true;
            }
            fin = false;
        }

        let fin_now =
            (fin && seq + data.len() == self.rcv_nxt) || self.ooo_fin == Some(self.rx.end());
        if fin_now && !self.fin_received && self.state != State::TimeWait {
            self.ooo_fin = None;
            // Nothing held beyond the FIN will ever be delivered (Linux's tcp_fin).
            self.rx.forget_ooo_from(self.rx.end());
            self.fin_received = true;
            self.rcv_nxt = self.rcv_nxt + 1;
            self.ack_now = true;
            self.wake = true;
            match self.state {
                State::SynReceived | State::Established => self.set_state(State::CloseWait),
                State::FinWait1 => {
                    if self.fin_acked() {
                        self.enter_time_wait(cfg, now);
                    } else {
                        self.set_state(State::Closing);
                    }
                }
                State::FinWait2 => self.enter_time_wait(cfg, now),
                _ => {}
            }
        } else if fin && self.state == State::TimeWait {
            self.ack_now = true;
            self.timers.set(Timer::TimeWait, now + cfg.time_wait);
        }
    }

    /// A challenge ACK (RFC 5961 3.2, 4.2, 5.2), within this connection's limit
    /// (`invalid_ratelimit`). There is no stack-wide budget: one shared by every
    /// connection is the side channel of CVE-2016-5696 (an attacker counting the
    /// challenges its own connections get learns whether its forged segments hit another
    /// connection's window), and Linux has had it off by default since 2022.
    pub(super) fn challenge_ack(&mut self, cfg: &TcpConfig, stats: &mut TcpStats, now: Instant) {
        if self.oow_ack_allowed(cfg, stats, now) {
            stats.challenge_acks += 1;
            self.ack_now = true;
        }
    }

    /// RFC 5961 7 (Linux's `tcp_invalid_ratelimit`): may this connection answer another
    /// out-of-window segment or challenge now? Counts the refusals.
    pub(super) fn oow_ack_allowed(
        &mut self,
        cfg: &TcpConfig,
        stats: &mut TcpStats,
        now: Instant,
    ) -> bool {
        if self
            .last_oow_ack
            .is_some_and(|t| now < t + cfg.invalid_ratelimit)
        {
            stats.oow_acks_limited += 1;
            return false;
        }
        self.last_oow_ack = Some(now);
        true
    }

    /// RFC 9293 3.10.7.4 fifth step for synchronized states, with RFC 5961 5.2. Returns
    /// false when the segment is to be dropped.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_ack(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        data_len: usize,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> bool {
        let ack = seg.ack;
        if self.probe_byte == Some(self.snd_max)
            && self.snd_una == self.snd_max
            && ack == self.snd_max + 1
            && self.snd_max.since(self.snd_base) < self.sndq.len()
        {
            // The peer took the byte our last zero-window probe carried (`on_persist`):
            // it counts as sent, and this ACK covers it.
            self.snd_max = ack;
            self.snd_nxt = ack;
            stats.window_probes_taken += 1;
        }
        if ack.gt(self.snd_max) {
            // Acknowledges something never sent: ACK (within the limit when the
            // segment carries no data) and drop.
            stats.bad_acks += 1;
            if data_len > 0 || self.oow_ack_allowed(cfg, stats, now) {
                self.ack_now = true;
            }
            return false;
        }
        if ack.lt(self.snd_una - self.max_snd_wnd.max(1)) {
            // Far too old (RFC 5961 5.2): a blind injection attempt; challenge and drop.
            stats.bad_acks += 1;
            self.challenge_ack(cfg, stats, now);
            return false;
        }
        // Only now is the segment the peer's for sure (an acceptable sequence number, an
        // ACK flag and field in range): its timestamp becomes TS.Recent (RFC 7323 5.3 R3,
        // where Linux's tcp_ack takes it) and it counts as a sign of life for keepalive.
        // A forged segment dropped above must not move TS.Recent, or every later segment
        // of the real peer would fail PAWS.
        self.last_rx = now;
        self.keep_probes = 0;
        if !ack.lt(self.snd_una) {
            // The peer answers (a keepalive's or a zero-window probe's ACK too): an ICMP
            // error seen before is no reason for a later timeout, as Linux's tcp_ack
            // clears `sk_err_soft` on every ACK that is not older than SND.UNA.
            self.soft_error = None;
        }
        if data_len == 0 {
            self.unanswered_rtos = 0;
        }
        self.update_ts_recent(seg, now);
        // Only a simultaneous open's SYN-ACK gets here with a SYN: unscaled (RFC 7323 2.2).
        let shift = if seg.has(flags::SYN) {
            0
        } else {
            self.snd_wscale
        };
        let wnd = usize::from(seg.window) << shift;
        let outstanding = self.snd_max != self.snd_una;
        // What this ACK delivers, for PRR: SND.UNA's advance and the SACKed bytes' change.
        let (una_before, sacked_before) = (self.snd_una, self.sb.sacked_bytes());
        let mut newly_lost = 0;
        let info = if self.sack_ok {
            self.sack_update(seg, ack, now)
        } else {
            AckInfo::default()
        };
        let was_in_recovery = self.in_recovery;
        let mut dup = false;
        if ack.gt(self.snd_una) {
            self.new_ack(cfg, ack, seg.has(flags::ECE), tx, stats, now);
        } else if ack == self.snd_una
            && outstanding
            && data_len == 0
            && !seg.has(flags::FIN)
            && wnd == self.snd_wnd
        {
            dup = true;
            self.dup_ack(cfg, tx, stats, now);
        }
        if (was_in_recovery || self.in_recovery) && self.ecn_echoed(seg) {
            // Congestion seen during a loss recovery (or on the ACK that ends it): the
            // recovery's reduction stands, whatever this ACK or a later one says of its
            // retransmissions; closed before the undo below looks at this ACK.
            self.undo.close();
        }
        if self.sack_ok {
            if self.sb.check_reneging(self.snd_una) {
                // The peer acknowledges up to data it said it held: it reneged (RFC 2018
                // 8). Everything unacknowledged may need sending again.
                stats.sack_reneging += 1;
            }
            let left_recovery = was_in_recovery && !self.in_recovery;
            self.rack
                .update_reo_wnd(info.dsack, self.snd_una, self.snd_max, left_recovery);
            let dsack = info.dsack.then(|| seg.sack_blocks()[0]);
            // RFC 8985 7.4.2: a D-SACK of another segment says nothing of the probe.
            let dsack_tlp = dsack.is_some_and(|b| self.rack.dsack_of_tlp(b));
            let outcome = self
                .rack
                .tlp_on_ack(ack, dsack_tlp, seg.sack_count > 0, dup);
            if outcome == TlpOutcome::Repaired && !self.in_recovery && !was_in_recovery {
                // RFC 8985 7.4.2: the probe repaired a lost segment; the congestion
                // window answers for the loss (a congestion event whose recovery is over).
                stats.tlp_recoveries += 1;
                let cwnd = self.cc.cwnd();
                self.cc.on_congestion_event(cwnd, self.mss, now);
                self.cc.on_recovery_end(self.mss, now);
                self.undo.close();
                self.reduced_window();
            }
            if info.dsack {
                stats.dsacks_in += 1;
            }
            let tsecr = self.rx_tsecr.filter(|_| self.ts_ok);
            if self
                .undo
                .on_ack(ack, tsecr, dsack, self.in_recovery, self.snd_max)
                && (!self.in_recovery || self.rto_recovery || self.sb.lost_bytes() == 0)
            {
                self.undo_congestion_response(stats);
            }
            newly_lost = self.detect_losses(stats, now);
        }
        if self.in_recovery && ack == self.snd_una {
            // The probe timer measures from the last ACK.
            self.timers.clear(Timer::Tlp);
            self.arm_tlp(now);
        }
        let entered = !self.in_recovery;
        self.recover_if_lost(tx, stats, now, true);
        if self.sack_ok {
            let advanced = self.snd_una.since(una_before);
            let delivered = (advanced + self.sb.sacked_bytes()).saturating_sub(sacked_before);
            let safe = advanced > 0 && newly_lost == 0 && !(entered && self.in_recovery);
            self.prr_on_ack(delivered, safe);
        }
        if self.ecn_ok {
            self.ecn_input(seg, data_len, stats, now);
        }
        // Window update (RFC 9293 3.10.7.4): only from a segment not older than the last.
        // A bare ACK below RCV.NXT (taken by `acceptable_text`'s Last.ACK.sent rule) was
        // sent before the data that overtook it: with the same SEQ and ACK, its window is
        // the older one (Linux's tcp_may_update_window does not take it back either).
        let overtaken = data_len == 0
            && !seg.has(flags::FIN)
            && !seg.has(flags::SYN)
            && seg.seq.lt(self.rcv_nxt);
        if self.snd_wl1.lt(seg.seq)
            || (self.snd_wl1 == seg.seq
                && (self.snd_wl2.lt(ack) || (self.snd_wl2 == ack && !overtaken)))
        {
            if wnd > self.snd_wnd {
                self.wake = true;
            }
            // A shut window that opens ends the probing (its backed-off timer); any other
            // segment leaves the timer alone, or a peer that talks more often than once
            // per RTO would put off what the cork or the silly-window rule holds forever
            // (Linux's fast path leaves the probe timer be).
            let opened = wnd > 0 && self.snd_wnd == 0;
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if opened {
                self.timers.clear(Timer::Persist);
                self.persist_probes = 0;
            }
        }
        match self.state {
            State::FinWait1 if self.fin_acked() => self.set_state(State::FinWait2),
            State::Closing if self.fin_acked() => self.enter_time_wait(cfg, now),
            State::LastAck if self.fin_acked() => {
                self.close_now();
                return false;
            }
            _ => {}
        }
        true
    }

    /// The latest congestion response proved spurious (see `undo.rs`): the controller's
    /// state from before it comes back (RFC 9438 4.9) and recovery ends, so that a loss
    /// found later gets a response of its own. After a timeout the segments it marked lost
    /// and not yet resent are in flight again: the sender goes on with new data instead of
    /// resending what the peer holds (RFC 4015 3's response), and the next timeout counts
    /// as a first one.
    fn undo_congestion_response(&mut self, stats: &mut TcpStats) {
        self.undo.close();
        if self.cc.undo() {
            stats.spurious_undos += 1;
        }
        if self.rto_recovery {
            self.sb.table_mut().clear_lost();
        }
        self.in_recovery = false;
        self.rto_recovery = false;
        self.dupacks = 0;
        self.backoff = 0;
    }

    pub(super) fn new_ack(
        &mut self,
        cfg: &TcpConfig,
        ack: Seq,
        ece: bool,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        // Our SYN occupies a sequence number but is not data the window grows on.
        let syn = usize::from(self.snd_una == self.iss);
        let acked = ack.since(self.snd_una).saturating_sub(syn);
        let flight = self.snd_max.since(self.snd_una);
        // Free the acknowledged bytes (the FIN occupies no buffer space).
        let data = ack.since(self.snd_base).min(self.sndq.len());
        let was_writable = self.writable();
        self.sndq.drain(..data);
        self.snd_base = self.snd_base + data;
        self.snd_una = ack;
        if self.snd_sml.lt(ack) {
            self.snd_sml = ack;
        }
        self.urgent_acked(ack);
        if self.fo_resend_end.is_some_and(|end| ack.ge(end)) {
            self.fo_resend_end = None;
        }
        if self.push_end.is_some_and(|end| ack.ge(end)) {
            self.push_end = None;
        }
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        // Wake a blocked writer (or a poller) when the buffer becomes writable again, or
        // when everything is acknowledged (lingering closes wait for that): not on every
        // ACK, which would cost a thread wake-up per ACK for a few KB each.
        if data > 0 && ((!was_writable && self.writable()) || self.sndq.is_empty()) {
            self.wake = true;
        }
        self.take_rtt_sample(cfg, ack, now);
        self.backoff = 0;
        self.unanswered_rtos = 0;
        self.stalled_since = None;
        // Something got through: an ICMP error seen before is no reason for a later
        // timeout (as Linux clears `sk_err_soft` on an ACK of new data).
        self.soft_error = None;
        // RFC 6298 5.2/5.3.
        if self.snd_una == self.snd_max {
            self.timers.clear(Timer::Rtx);
        } else {
            self.timers.set(Timer::Rtx, now + self.rtt.rto());
        }
        self.timers.clear(Timer::Tlp);
        self.tlp_count = 0;
        self.arm_tlp(now);
        if self.snd_una == self.snd_max {
            self.timers.clear(Timer::Reorder);
        }
        // Congestion control.
        if self.in_recovery && self.sack_ok {
            if ack.ge(self.recover) {
                // Recovery ends at the congestion window it chose; after a timeout the
                // window keeps what slow start rebuilt (RFC 5681 3.1), growing on from there.
                if self.rto_recovery {
                    // One MSS per ACK after a timeout (see `congestion::slow_start`), and
                    // congestion avoidance from ssthresh on (RFC 5681 3.1).
                    let acked = acked.min(self.mss);
                    self.cc.on_ack(acked, self.mss, now, self.rtt.srtt());
                } else {
                    self.cc.on_recovery_end(self.mss, now);
                }
                self.in_recovery = false;
                self.rto_recovery = false;
                self.dupacks = 0;
            } else if self.rto_recovery {
                // Slow start after a timeout, one MSS per ACK, "to the new value of
                // ssthresh, at which point congestion avoidance again takes over" (RFC
                // 5681 3.1; Linux's tcp_cong_avoid runs in CA_Loss): not held at ssthresh
                // until SND.UNA reaches `recover`.
                self.cc
                    .on_ack(acked.min(self.mss), self.mss, now, self.rtt.srtt());
            }
        } else if self.in_recovery {
            if ack.ge(self.recover) {
                // Full acknowledgment (RFC 6582 3.2 step 3): deflate and leave recovery.
                let flight = self.snd_max.since(self.snd_una);
                self.cc.on_recovery_end(self.mss, now);
                let deflated = self.cc.ssthresh().min(flight.max(self.mss) + self.mss);
                self.cc.set_cwnd(deflated);
                self.in_recovery = false;
                self.dupacks = 0;
            } else {
                // Partial acknowledgment (step 4): retransmit the next hole, deflate.
                self.retransmit_first(tx, stats, now, usize::MAX);
                let mut cwnd = self.cc.cwnd().saturating_sub(acked).max(self.mss);
                if acked >= self.mss {
                    cwnd += self.mss;
                }
                self.cc.set_cwnd(cwnd);
            }
        } else {
            self.dupacks = 0;
            // Without SACK, after a timeout (go-back-N): slow start at one MSS per ACK
            // until what was sent before it is acknowledged (RFC 3465 2.3's L = 1 SMSS
            // after an RTO, as with SACK above). One ACK of everything took the window
            // from one segment to ssthresh, a burst at line rate.
            let acked = if self.rto_recovery {
                if ack.ge(self.recover) {
                    self.rto_recovery = false;
                }
                acked.min(self.mss)
            } else {
                acked
            };
            if self.recover.lt(ack) {
                // Keep `recover` just behind SND.UNA so the circular comparison above
                // stays meaningful however long the connection lives.
                self.recover = ack - 1;
            }
            let cap = 64 * self.opts.sndbuf.max(self.mss);
            // Grows only while the window is used (see `Cc::on_ack_with_flight`), and not
            // for an ECN echo or within its round trip.
            if self.ecn_may_grow(ece) {
                // HyStart++'s per-ACK sample: RACK.rtt, which every ACK of newer data
                // measures (the RTT estimator's own samples come once per round trip
                // without timestamps). With HyStart++ off no sample is passed: slow
                // start then ends at a loss.
                let sample = self
                    .rack
                    .rtt()
                    .or(self.rtt.latest())
                    .filter(|_| cfg.hystart);
                let srtt = self.rtt.srtt();
                match self
                    .cc
                    .on_ack_with_flight(acked, flight, self.mss, now, srtt, sample)
                {
                    Some(HyStartEvent::EnteredCss) => stats.hystart_css += 1,
                    Some(HyStartEvent::ResumedSlowStart) => stats.hystart_resumed += 1,
                    Some(HyStartEvent::Exited) => stats.hystart_exits += 1,
                    None => {}
                }
            } else {
                self.cc.on_ack_held(acked, flight);
            }
            if self.cc.cwnd() > cap {
                self.cc.set_cwnd(cap);
            }
        }
    }

    pub(super) fn dup_ack(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        let _ = cfg;
        stats.dup_acks += 1;
        self.dupacks += 1;
        if self.sack_ok {
            // RFC 6675's DupThresh, unless RACK has SACK information to go by (it takes
            // three SACKed segments as loss itself, but tolerates reordering it has seen).
            if !self.in_recovery
                && self.dupacks == 3
                && self.snd_una.ge(self.recover)
                && (!self.rack_enabled || self.sb.sacked_bytes() == 0)
            {
                self.enter_sack_recovery(tx, stats, now, true);
            }
        } else if self.in_recovery {
            // Each further duplicate means a segment left the network (RFC 5681 3.2 (4)).
            self.cc.set_cwnd(self.cc.cwnd().saturating_add(self.mss));
        } else if self.dupacks == 3 && self.snd_una.ge(self.recover) {
            // Fast retransmit (RFC 5681 3.2 (2)-(3), RFC 6582 3.2 step 2: the ACK covers
            // more than `recover`, RFC 6582's highest sequence number sent, which is one
            // below ours: `recover` here is one past it, SND.MAX then).
            let flight = self.snd_max.since(self.snd_una);
            // Not a second cut within an ECN reduction's round trip (see
            // `enter_sack_recovery`).
            if !self.in_ecn_reduction() {
                self.cc.on_congestion_event(flight, self.mss, now);
            }
            self.reduced_window();
            self.recover = self.snd_max;
            self.in_recovery = true;
            self.retransmit_first(tx, stats, now, usize::MAX);
            self.cc.set_cwnd(self.cc.ssthresh() + 3 * self.mss);
            self.timers.set(Timer::Rtx, now + self.rtt.rto());
        }
    }
}

/// What an acceptable segment brings after trimming: its text from `seq`, the FIN, and
/// whether it is a simultaneous open's SYN-ACK (its SYN already taken).
struct Text<'a> {
    seq: Seq,
    data: &'a [u8],
    fin: bool,
    simultaneous: bool,
}

#[cfg(test)]
mod tests {
    use super::super::harness::{opts, Conn, PEER_MSS};
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    #[test]
    fn in_order_data_is_readable_and_every_second_segment_is_acknowledged() {
        let mut c = Conn::established(opts());
        c.data(&bytes(PEER_MSS));
        assert!(c.take().is_empty(), "the first segment's ACK is delayed");
        c.data(&bytes(PEER_MSS));
        let acks = c.take();
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].r.ack, c.peer_nxt);
        assert_eq!(c.tcb.readable_bytes(), 2 * PEER_MSS);
    }

    #[test]
    fn a_delayed_ack_goes_when_its_timer_fires() {
        let mut c = Conn::established(opts());
        c.data(&bytes(100));
        assert!(c.take().is_empty());
        c.advance(c.cfg.delayed_ack);
        let acks = c.take();
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].r.ack, c.peer_nxt);
    }

    /// A FIN without data at RCV.NXT when our window is zero is taken and acknowledged
    /// (Linux does so since 6.x): the reader gets its end of stream after the data it has,
    /// without waiting for the peer to retransmit the FIN once the window opens.
    #[test]
    fn a_bare_fin_at_a_zero_window_is_taken() {
        let mut o = opts();
        o.rcvbuf = 4 * PEER_MSS;
        o.rcvbuf_max = o.rcvbuf;
        let mut c = Conn::established(o);
        let mut sent = 0;
        while c.tcb.rcv_adv.since(c.tcb.rcv_nxt) > 0 && sent < 100 * PEER_MSS {
            let n = c.tcb.rcv_adv.since(c.tcb.rcv_nxt).min(PEER_MSS);
            c.data(&bytes(n));
            sent += n;
        }
        c.advance(c.cfg.delayed_ack);
        let acks = c.take();
        assert_eq!(
            acks.last().map(|s| s.r.window),
            Some(0),
            "the window is shut"
        );
        // The peer's window probe, then its FIN.
        let r = c.seg(flags::ACK, c.our_una());
        c.deliver(&r, &[0xee]);
        assert_eq!(c.tcb.readable_bytes(), sent, "a probe's byte finds no room");
        c.take();
        let r = c.seg(flags::FIN | flags::ACK, c.our_una());
        c.deliver(&r, &[]);
        let out = c.take();
        assert_eq!(c.tcb.state, State::CloseWait);
        assert_eq!(out.last().map(|s| s.r.ack), Some(c.peer_nxt + 1), "{out:?}");
        let mut buf = vec![0u8; sent + 10];
        assert_eq!(c.tcb.read(&mut buf), sent);
        assert!(c.tcb.at_eof());
    }

    #[test]
    fn a_segment_beyond_the_window_is_dropped_and_answered_with_an_ack() {
        let mut c = Conn::established(opts());
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = c.peer_nxt + 1_000_000;
        c.deliver(&r, &bytes(10));
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].r.ack, c.peer_nxt, "the ACK says what we expect");
        assert_eq!(c.tcb.readable_bytes(), 0);
        // Not received before: dropped for want of room.
        assert_eq!((c.stats.window_drops, c.stats.dup_segments), (1, 0));
        // Data from before RCV.NXT is a duplicate.
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = c.peer_nxt - 1_000_000;
        c.deliver(&r, &bytes(10));
        assert_eq!((c.stats.window_drops, c.stats.dup_segments), (1, 1));
    }

    /// Every segment of a window but the first arrived: RCV.NXT waits at the hole, and
    /// the peer's SND.NXT is our right edge. Returns the edge.
    fn window_full_behind_a_hole(c: &mut Conn) -> Seq {
        let (edge, hole) = (c.tcb.rcv_adv, c.peer_nxt);
        let wnd = edge.since(hole);
        assert!(wnd > 2 * PEER_MSS, "{wnd}");
        let mut at = PEER_MSS;
        while at < wnd {
            let n = PEER_MSS.min(wnd - at);
            let mut r = c.seg(flags::ACK, c.our_una());
            r.seq = hole + at;
            c.deliver(&r, &bytes(n));
            at += n;
        }
        c.take();
        assert_eq!((c.tcb.rcv_adv, c.tcb.rcv_nxt), (edge, hole));
        edge
    }

    fn small_window() -> ConnOpts {
        let mut o = opts();
        o.rcvbuf = 8 * PEER_MSS;
        o.rcvbuf_max = o.rcvbuf;
        o
    }

    /// (From an independent review.) Before, the ACK at the right edge was refused as
    /// out of the window, and our data was not acknowledged until the hole was filled.
    #[test]
    fn a_pure_ack_from_the_right_edge_behind_a_hole_is_taken() {
        let mut c = Conn::established(small_window());
        let edge = window_full_behind_a_hole(&mut c);
        c.tcb.write(&bytes(500));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        let end = c.tcb.snd_max;
        let mut r = c.seg(flags::ACK, end);
        r.seq = edge;
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.snd_una, end);
        assert_eq!(c.stats.dup_segments, 0);
        let out = c.take();
        assert!(out.is_empty(), "a pure ACK is not answered: {out:?}");
        // One further is out of the window.
        let mut r = c.seg(flags::ACK, end);
        r.seq = edge + 1;
        c.deliver(&r, &[]);
        assert_eq!(c.stats.window_drops, 1);
    }

    /// (From an independent review.) The peer aborts from the right edge: its RST draws
    /// a challenge ACK (RFC 5961 3.2), which the closed peer answers with a RST at
    /// RCV.NXT. Before, it was dropped silently, and a receiver with nothing to send kept
    /// the connection for ever.
    #[test]
    fn a_rst_from_the_right_edge_behind_a_hole_draws_a_challenge_ack() {
        let mut c = Conn::established(small_window());
        let edge = window_full_behind_a_hole(&mut c);
        let mut r = c.seg(flags::RST | flags::ACK, c.our_una());
        r.seq = edge;
        c.deliver(&r, &[]);
        let out = c.take();
        assert_eq!(c.tcb.state, State::Established);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.ack, c.tcb.rcv_nxt);
        assert_eq!(c.stats.challenge_acks, 1);
    }

    #[test]
    fn a_rst_without_ack_in_syn_sent_is_counted_as_ignored() {
        let mut c = Conn::connecting(TcpConfig::default(), opts(), 1500);
        c.take();
        let mut r = c.seg(flags::RST, Seq(0));
        r.seq = super::super::harness::PEER_ISS;
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::SynSent);
        assert_eq!((c.stats.resets_in, c.stats.drop_rst_ignored), (1, 1));
    }

    #[test]
    fn a_retransmission_overlapping_what_was_received_gives_only_the_new_bytes() {
        let mut c = Conn::established(opts());
        c.data(b"hello ");
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = c.peer_nxt - 6;
        c.deliver(&r, b"hello world");
        c.peer_nxt = c.peer_nxt + 5;
        let mut buf = [0u8; 32];
        let n = c.tcb.read(&mut buf);
        assert_eq!(&buf[..n], b"hello world");
        assert!(
            c.take().iter().any(|s| s.r.ack == c.peer_nxt),
            "ACKed at once"
        );
    }

    #[test]
    fn a_rst_away_from_rcv_nxt_draws_a_challenge_ack_and_one_at_it_resets() {
        let mut c = Conn::established(opts());
        let mut r = c.seg(flags::RST, Seq(0));
        r.seq = c.peer_nxt + 100;
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Established);
        assert_eq!(c.stats.challenge_acks, 1);
        assert_eq!(c.take().len(), 1);
        let r = c.seg(flags::RST, Seq(0));
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Closed);
        assert_eq!(c.tcb.error, Some(TcpError::Reset));
    }

    /// Linux's tcp_reset_check: once the peer's FIN is in, a RST from the FIN's own
    /// sequence number (one below RCV.NXT) is believed; before it, it is out of the window.
    #[test]
    fn a_rst_at_the_peers_fin_is_believed_once_the_peer_has_closed() {
        let mut c = Conn::established(opts());
        let at = c.peer_nxt;
        let mut r = c.seg(flags::RST, Seq(0));
        r.seq = at + usize::MAX; // at - 1
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Established, "not after a FIN");
        assert_eq!(c.stats.drop_rst_ignored, 1);
        let fin = c.seg(flags::FIN | flags::ACK, c.our_una());
        c.deliver(&fin, &[]);
        assert_eq!(c.tcb.state, State::CloseWait);
        c.take();
        let mut r = c.seg(flags::RST, Seq(0));
        r.seq = at;
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Closed);
        assert_eq!(c.tcb.error, Some(TcpError::ResetAfterFin));
    }

    #[test]
    fn a_syn_on_an_established_connection_draws_a_challenge_ack() {
        let mut c = Conn::established(opts());
        let r = c.seg(flags::SYN, Seq(0));
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Established);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert!(out[0].r.has(flags::ACK) && !out[0].r.has(flags::RST));
    }

    #[test]
    fn data_after_the_peers_fin_is_ignored_and_counted() {
        let mut c = Conn::established(opts());
        let fin = c.seg(flags::FIN | flags::ACK, c.our_una());
        c.deliver(&fin, &[]);
        assert_eq!(c.tcb.state, State::CloseWait);
        c.take();
        let r = c.seg(flags::ACK, c.our_una());
        let mut r = r;
        r.seq = c.peer_nxt + 1;
        c.deliver(&r, b"late");
        assert_eq!(c.stats.drop_after_fin, 1);
        assert_eq!(c.tcb.readable_bytes(), 0);
    }

    #[test]
    fn a_fin_beyond_a_hole_closes_the_stream_once_the_hole_fills() {
        let mut c = Conn::established(opts());
        let hole = c.peer_nxt;
        let mut r = c.seg(flags::ACK | flags::FIN, c.our_una());
        r.seq = hole + 500;
        c.deliver(&r, &bytes(500));
        assert_eq!(c.tcb.state, State::Established);
        let dup = c.take();
        assert_eq!(dup.last().map(|s| s.r.ack), Some(hole), "a duplicate ACK");
        assert_eq!(
            dup.last().map(|s| s.r.sack_count),
            Some(1),
            "with a SACK block"
        );
        c.data(&bytes(500));
        assert_eq!(c.tcb.state, State::CloseWait);
        assert!(c.tcb.fin_received);
        assert_eq!(c.tcb.readable_bytes(), 1000);
        let out = c.take();
        assert_eq!(
            out.last().map(|s| s.r.ack),
            Some(hole + 1001),
            "data and FIN"
        );
    }

    /// RFC 2883 (Linux's tcp_dsack, on by default): data received twice is reported in the
    /// first SACK block of the ACK that answers it, once: a whole segment below RCV.NXT,
    /// the old part of one that overlaps it, and before the blocks of what lies beyond a
    /// hole (RFC 2883 4, rule 5). The sender learns that its retransmission was spurious
    /// (it undoes its congestion response, RFC 3708, and widens its reordering window,
    /// RFC 8985). Before, a duplicate drew a plain duplicate ACK.
    #[test]
    fn data_received_twice_is_reported_in_a_dsack_block() {
        let mut c = Conn::established(opts());
        c.data(&bytes(1000));
        c.data(&bytes(1000));
        c.take();
        let end = c.peer_nxt;
        // The second segment again (its ACK was lost, or the sender timed out).
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = end - 1000;
        c.deliver(&r, &bytes(1000));
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.ack, end);
        assert_eq!(
            out[0].r.sack_blocks(),
            &[(end - 1000, end)],
            "a D-SACK block"
        );
        // Reported once: the next ACK carries no D-SACK.
        c.data(&bytes(10));
        c.advance(c.cfg.delayed_ack);
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.sack_count, 0, "{out:?}");
        // A segment whose first half was received: that half is the D-SACK.
        let end = c.peer_nxt;
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = end - 500;
        c.deliver(&r, &bytes(1000));
        c.peer_nxt = end + 500;
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.ack, end + 500);
        assert_eq!(out[0].r.sack_blocks(), &[(end - 500, end)], "the old half");
        // With a hole: the D-SACK first, then the block beyond the hole.
        let hole = c.peer_nxt;
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = hole + 1000;
        c.deliver(&r, &bytes(1000));
        c.take();
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = hole - 300;
        c.deliver(&r, &bytes(300));
        let out = c.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.ack, hole);
        assert_eq!(
            out[0].r.sack_blocks(),
            &[(hole - 300, hole), (hole + 1000, hole + 2000)]
        );
    }

    /// RFC 2883 4.1.2 and 4.2.x (Linux's tcp_data_queue_ofo and tcp_ofo_queue): data
    /// received again while it is held beyond a hole is reported too: the D-SACK block
    /// names the duplicated bytes (only those, when the segment also brought new ones),
    /// and the second block the out-of-order range that holds them, so that the sender,
    /// whose test is "the first block lies inside the second" (`is_dsack`), learns its
    /// retransmission was spurious. The same when the segment that fills the hole runs on
    /// into bytes already held. Before, these drew plain SACK blocks only.
    #[test]
    fn data_held_beyond_a_hole_received_twice_is_reported_in_a_dsack_block() {
        let mut c = Conn::established(opts());
        c.data(&bytes(1000));
        c.take();
        let hole = c.peer_nxt;
        let send = |c: &mut Conn, from: usize, n: usize| {
            let mut r = c.seg(flags::ACK, c.our_una());
            r.seq = hole + from;
            c.deliver(&r, &bytes(n));
            c.take()
        };
        send(&mut c, 4000, 1000);
        send(&mut c, 1000, 1000);
        let out = send(&mut c, 2000, 1000);
        assert_eq!(
            out[0].r.sack_blocks(),
            &[(hole + 1000, hole + 3000), (hole + 4000, hole + 5000)]
        );
        // The segment at 1000 again: the D-SACK, then the range holding it.
        let out = send(&mut c, 1000, 1000);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.ack, hole);
        assert_eq!(
            out[0].r.sack_blocks(),
            &[
                (hole + 1000, hole + 2000),
                (hole + 1000, hole + 3000),
                (hole + 4000, hole + 5000)
            ]
        );
        assert!(crate::tcp::conn::scoreboard::is_dsack(
            out[0].r.ack,
            out[0].r.sack_blocks()
        ));
        // Reported once: a new segment beyond the hole draws plain SACK blocks.
        let out = send(&mut c, 6000, 500);
        assert_eq!(
            out[0].r.sack_blocks(),
            &[
                (hole + 6000, hole + 6500),
                (hole + 1000, hole + 3000),
                (hole + 4000, hole + 5000)
            ]
        );
        // Half old, half new: only the old half is the D-SACK; the range grew.
        let out = send(&mut c, 2500, 1000);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0].r.sack_blocks(),
            &[
                (hole + 2500, hole + 3000),
                (hole + 1000, hole + 3500),
                (hole + 6000, hole + 6500),
                (hole + 4000, hole + 5000)
            ]
        );
        // Across a hole between two ranges: the first duplicated part is reported.
        let out = send(&mut c, 4500, 1700);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0].r.sack_blocks(),
            &[
                (hole + 4500, hole + 5000),
                (hole + 4000, hole + 6500),
                (hole + 1000, hole + 3500)
            ]
        );
        // The segment that fills the hole runs on into bytes held: those are the D-SACK
        // (below the new cumulative ACK).
        let out = send(&mut c, 0, 1500);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].r.ack, hole + 3500);
        assert_eq!(
            out[0].r.sack_blocks(),
            &[(hole + 1000, hole + 1500), (hole + 4000, hole + 6500)]
        );
        assert_eq!(c.tcb.readable_bytes(), 1000 + 3500);
    }

    #[test]
    fn an_ack_of_data_never_sent_is_answered_and_dropped() {
        let mut c = Conn::established(opts());
        let r = c.seg(flags::ACK, c.our_una() + 5000);
        c.deliver(&r, b"data");
        assert_eq!(c.tcb.readable_bytes(), 0, "the segment is dropped");
        assert_eq!(c.stats.bad_acks, 1);
        assert_eq!(c.take().len(), 1);
    }

    #[test]
    fn an_acknowledgment_frees_the_send_queue_and_stops_the_timer() {
        let mut c = Conn::established(opts());
        // The whole initial window, so that slow start grows it (a window not used
        // does not grow: `Cc::on_ack_with_flight`).
        assert_eq!(c.tcb.write(&bytes(10_000)), 10_000);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().iter().map(|s| s.data.len()).sum::<usize>(), 10_000);
        assert!(c.tcb.timers.is_set(Timer::Rtx));
        let end = c.our_una() + 10_000;
        let r = c.seg(flags::ACK, end);
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.unsent_or_unacked(), 0);
        assert!(!c.tcb.timers.is_set(Timer::Rtx));
        assert!(
            c.tcb.cc.cwnd() > 10 * PEER_MSS,
            "slow start grew the window"
        );
    }

    /// An ICMP error is a soft error once established (RFC 5927, RFC 1122 4.2.3.9): the
    /// reason given if the connection then times out. One that the connection got past
    /// (the peer acknowledged new data since) says nothing about a timeout much later: as
    /// Linux clears `sk_err_soft` on an ACK of new data, that timeout is `TimedOut`.
    #[test]
    fn a_soft_error_the_connection_got_past_is_not_the_reason_of_a_later_timeout() {
        let mut o = opts();
        o.user_timeout = Some(Duration::from_secs(10));
        let mut c = Conn::established(o);
        c.tcb.write(&bytes(100));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 1);
        // A transient "host unreachable" about the segment in flight...
        c.tcb.icmp_error(TcpError::HostUnreachable, true);
        assert_eq!(c.tcb.state, State::Established);
        // ...and then the peer acknowledges it: the path works.
        c.now += Duration::from_millis(50);
        let r = c.seg(flags::ACK, c.our_una() + 100);
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.unsent_or_unacked(), 0);
        // An hour later the peer goes silent for good.
        c.now += Duration::from_secs(3600);
        c.tcb.write(&bytes(100));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        for _ in 0..200 {
            if c.tcb.state == State::Closed {
                break;
            }
            c.advance(Duration::from_secs(1));
        }
        assert_eq!(c.tcb.state, State::Closed);
        assert_eq!(c.tcb.error, Some(TcpError::TimedOut));
    }

    #[test]
    fn three_duplicate_acks_retransmit_the_first_segment() {
        let mut c = Conn::established(opts());
        c.tcb.write(&bytes(8000));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let first = c.take();
        assert_eq!(first.len(), 8);
        let una = c.our_una();
        for i in 0..3u32 {
            let mut r = c.seg(flags::ACK, una);
            // Each duplicate reports one more segment held beyond the hole.
            r.sack[0] = (una + PEER_MSS, una + PEER_MSS * (2 + i as usize));
            r.sack_count = 1;
            c.deliver(&r, &[]);
        }
        let out = c.take();
        let rtx: Vec<_> = out.iter().filter(|s| s.r.seq == una).collect();
        assert_eq!(rtx.len(), 1, "RFC 6675 5 (4.3), whatever the pipe: {out:?}");
        assert_eq!(rtx[0].data.len(), PEER_MSS);
        assert_eq!(c.stats.fast_retransmits, 1);
    }

    /// RFC 7323 3.2: once timestamps are agreed, a RST SHOULD carry them too (as Linux's
    /// resets from a connection do), with TS.Recent as its echo, so that a peer holding
    /// every segment to its timestamps still believes it. Before, an abort's RST carried
    /// none.
    #[test]
    fn an_abort_with_timestamps_sends_them_on_the_rst() {
        use super::super::harness::PEER_TS;
        let mut c = Conn::established_ts(opts());
        c.tcb.write(&bytes(100));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let data = c.take();
        let tsval = data[0].r.timestamp.expect("data carries timestamps").0;
        c.now += Duration::from_millis(5);
        c.tcb.abort(&mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 2, "at SND.MAX and SND.UNA: {out:?}");
        for s in &out {
            assert!(s.r.has(flags::RST));
            assert_eq!(s.r.timestamp, Some((tsval + 5, PEER_TS)), "{s:?}");
        }
    }

    /// Every RST that is not believed is a drop with a cause (`stat`'s `drop_rst_ignored`):
    /// one outside the window (RFC 5961 3.2: silently dropped), and one in SYN-SENT whose
    /// ACK does not cover our SYN (RFC 9293 3.10.7.3). Before, both left only `rx` moved.
    #[test]
    fn every_rst_not_believed_is_counted() {
        use super::super::harness::{OUR_ISS, PEER_ISS};
        let mut c = Conn::established(opts());
        let mut r = c.seg(flags::RST, Seq(0));
        r.seq = c.peer_nxt + 10_000_000;
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Established);
        assert!(c.take().is_empty(), "silently dropped");
        assert_eq!(c.stats.drop_rst_ignored, 1, "out of the window");

        let mut c = Conn::connecting(TcpConfig::default(), opts(), 1500);
        c.take();
        let mut r = c.seg(flags::RST | flags::ACK, Seq(OUR_ISS) + 1000);
        r.seq = PEER_ISS;
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::SynSent);
        assert!(c.take().is_empty(), "a RST is never answered");
        assert_eq!(c.stats.drop_rst_ignored, 1, "its ACK is not for our SYN");
    }
}
