//! Timers: the retransmission timeout (RFC 6298 5), persist (RFC 9293 3.8.6.1),
//! keepalive (RFC 1122 4.2.3.6) and TIME-WAIT, run by `poll` at their deadlines.

use super::*;

impl Tcb {
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.t_rtx,
            self.t_persist,
            self.t_delack,
            self.t_tlp,
            self.t_keep,
            self.t_timewait,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run the timers due at `now`.
    pub fn poll(&mut self, cfg: &TcpConfig, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if self.t_timewait.is_some_and(|t| t <= now) {
            self.t_timewait = None;
            self.close_now();
            return;
        }
        if self.t_rtx.is_some_and(|t| t <= now) {
            self.t_rtx = None;
            self.on_rto(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.t_tlp.is_some_and(|t| t <= now) {
            self.t_tlp = None;
            self.on_tlp(stats, tx, now);
        }
        if self.t_persist.is_some_and(|t| t <= now) {
            self.t_persist = None;
            self.on_persist(tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.t_keep.is_some_and(|t| t <= now) {
            self.t_keep = None;
            self.on_keepalive(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.t_delack.is_some_and(|t| t <= now) {
            self.t_delack = None;
            self.ack_now = true;
        }
        self.output(cfg, tx, stats, now);
    }

    pub(super) fn on_rto(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        stats.timeouts += 1;
        match self.state {
            State::SynSent | State::SynReceived => {
                let limit = if self.passive {
                    self.synack_retries
                } else {
                    cfg.syn_retries
                };
                if self.syn_retries >= limit {
                    stats.handshake_timeouts += 1;
                    let e = self.soft_error.take().unwrap_or(TcpError::TimedOut);
                    self.fail(e);
                    return;
                }
                self.syn_retries += 1;
                self.retransmits += 1;
                stats.retransmits += 1;
                self.rto = (self.rto * 2).min(cfg.rto_max);
                self.rtt_sample = None;
                self.send_syn(tx, stats, now);
                self.t_rtx = Some(now + self.rto);
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                if self.snd_max == self.snd_una {
                    // Nothing outstanding: a send that failed for want of a buffer.
                    self.output(cfg, tx, stats, now);
                    return;
                }
                let since = *self.stalled_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.opts.user_timeout {
                    stats.user_timeouts += 1;
                    let e = self.soft_error.take().unwrap_or(TcpError::TimedOut);
                    self.fail(e);
                    return;
                }
                // RFC 5681 3.1 (4) and RFC 6298 5.5-5.6: collapse the window, back off.
                let flight = self.snd_max.since(self.snd_una);
                if self.backoff == 0 {
                    self.ssthresh = (flight / 2).max(2 * self.mss);
                }
                self.cwnd = self.mss;
                self.in_recovery = false;
                self.dupacks = 0;
                self.recover = self.snd_max;
                self.backoff += 1;
                self.rto = (self.rto * 2).min(cfg.rto_max);
                self.rtt_sample = None;
                if self.sack_ok {
                    // Keep the scoreboard (RFC 6675 5.1): resend what the peer lacks, in
                    // slow start. A receiver that reneged is caught in `process_ack`.
                    self.in_recovery = true;
                    self.rto_recovery = true;
                    self.rtx_next = self.snd_una;
                    self.sack_send(tx, stats, now);
                    if self.t_rtx.is_none() {
                        self.t_rtx = Some(now + self.rto);
                    }
                    return;
                }
                // Go back to the first unacknowledged byte (SND.UNA: the handshake's
                // ACK covered our SYN, so it is where the send queue starts), and send it
                // whatever the windows say (a peer that shrank its window to zero still
                // gets the first segment, as Linux sends it).
                self.snd_nxt = self.snd_base;
                self.force_sws = true;
                self.force_window = true;
                self.output(cfg, tx, stats, now);
                self.force_sws = false;
                self.force_window = false;
                if self.t_rtx.is_none() {
                    self.t_rtx = Some(now + self.rto);
                }
            }
        }
    }

    pub(super) fn on_persist(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if !self.persist_needed() {
            return;
        }
        if now.saturating_duration_since(self.last_rx) >= self.opts.user_timeout {
            stats.user_timeouts += 1;
            self.fail(TcpError::TimedOut);
            return;
        }
        if self.snd_wnd > 0 {
            // A window too small for the sender's silly-window rule (or a send that
            // failed earlier): after the override timeout send what fits (RFC 9293
            // 3.8.6.2.1).
            self.force_sws = true;
            self.send_data(tx, stats, now, None);
            self.force_sws = false;
            if self.persist_needed() {
                self.persist_interval = (self.persist_interval * 2).min(MAX_PERSIST);
                self.t_persist = Some(now + self.persist_interval);
            }
            return;
        }
        if self.orphan && self.persist_probes >= ORPHAN_PROBES {
            // Nobody will read what is left to send, and the peer has kept its window
            // shut through every probe: give up (Linux's tcp_orphan_retries), with a RST.
            stats.orphans_dropped += 1;
            self.abort(tx, stats, now);
            return;
        }
        // A zero-window probe: SEG.SEQ = SND.UNA - 1 and no data, which the peer must
        // answer with an ACK carrying its current window (as Linux probes).
        self.persist_probes += 1;
        stats.window_probes += 1;
        let r = self.header(self.snd_una - 1, flags::ACK, now);
        if send_repr(tx, self.local, self.remote, &r, &[], now) {
            stats.segs_out += 1;
        }
        self.persist_interval = (self.persist_interval * 2).min(MAX_PERSIST);
        self.t_persist = Some(now + self.persist_interval);
    }

    pub(super) fn on_keepalive(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        if !self.opts.keepalive || !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if now.saturating_duration_since(self.last_rx) < cfg.keep_idle {
            self.t_keep = Some(self.last_rx + cfg.keep_idle);
            return;
        }
        if self.keep_probes >= cfg.keep_count {
            stats.keepalive_timeouts += 1;
            self.fail(TcpError::TimedOut);
            return;
        }
        // RFC 1122 4.2.3.6: a segment with SEG.SEQ = SND.NXT - 1 and no data makes the
        // peer answer with an ACK.
        self.keep_probes += 1;
        stats.keepalive_probes += 1;
        let r = self.header(self.snd_una - 1, flags::ACK, now);
        if send_repr(tx, self.local, self.remote, &r, &[], now) {
            stats.segs_out += 1;
        }
        self.t_keep = Some(now + cfg.keep_interval);
    }

    /// Arm or disarm keepalive after an option change or received segment.
    pub fn rearm_keepalive(&mut self, cfg: &TcpConfig) {
        self.t_keep = if self.opts.keepalive && self.state.synchronized() {
            Some(self.last_rx + cfg.keep_idle)
        } else {
            None
        };
    }

    pub(super) fn persist_needed(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::LastAck
                | State::Closing
        ) && self.snd_nxt == self.snd_max
            && self.snd_max == self.snd_una
            && (self.snd_nxt.since(self.snd_base) < self.sndq.len() || self.fin_unsent())
    }

    pub(super) fn enter_time_wait(&mut self, cfg: &TcpConfig, now: Instant) {
        self.set_state(State::TimeWait);
        self.t_rtx = None;
        self.t_persist = None;
        self.t_keep = None;
        self.t_timewait = Some(now + cfg.time_wait);
    }
}
