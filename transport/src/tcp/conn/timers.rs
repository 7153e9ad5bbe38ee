//! Timers: the retransmission timeout (RFC 6298 5), persist (RFC 9293 3.8.6.1),
//! keepalive (RFC 1122 4.2.3.6) and TIME-WAIT, run by `poll` at their deadlines.

use super::*;

/// A connection's timers, in the order `poll` runs them when several are due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    TimeWait,
    /// Retransmission timeout (RFC 6298).
    Rtx,
    /// RACK's reordering timer (RFC 8985 6.2 step 5): a segment not yet past its
    /// reordering window is checked again then.
    Reorder,
    /// Tail loss probe (RFC 8985 7): fires before the RTO when ACKs stop coming.
    Tlp,
    Persist,
    Keepalive,
    DelayedAck,
}

const TIMERS: usize = 7;

/// Timeouts of one segment after which `ip` is given negative advice about the path
/// (RFC 9293 3.8.3's R1, "at least 3 retransmissions"; Linux's tcp_retries1 of 3).
const R1: u32 = 3;

/// The deadlines of a connection's timers, one slot per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TimerTable {
    at: [Option<Instant>; TIMERS],
}

impl TimerTable {
    pub(super) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }

    pub(super) fn is_set(&self, t: Timer) -> bool {
        self.at[t as usize].is_some()
    }

    pub(super) fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }

    pub(super) fn clear(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }

    pub(super) fn clear_all(&mut self) {
        self.at = [None; TIMERS];
    }

    /// Is `t` set and due at `now`? Then it is cleared (it fires once).
    pub(super) fn take_due(&mut self, t: Timer, now: Instant) -> bool {
        if self.at[t as usize].is_some_and(|at| at <= now) {
            self.at[t as usize] = None;
            return true;
        }
        false
    }

    /// The earliest deadline set.
    pub(super) fn earliest(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

impl Tcb {
    /// A timer gives up on the peer: the ICMP error seen meanwhile is the reason, else a
    /// timeout (Linux's `tcp_write_err`: `sk_err_soft ?: ETIMEDOUT`).
    fn give_up(&mut self) {
        let e = self.soft_error.take().unwrap_or(TcpError::TimedOut);
        self.fail(e);
    }

    pub fn poll_at(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// Run the timers due at `now`.
    pub fn poll(&mut self, cfg: &TcpConfig, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if self.timers.take_due(Timer::TimeWait, now) {
            self.close_now();
            return;
        }
        // A loss probe due no later than the RTO goes in its place (RFC 8985 7.2: the PTO
        // is clamped to the RTO's expiry, see `arm_tlp`); it re-arms the RTO itself.
        let probe_first = match (self.timers.get(Timer::Tlp), self.timers.get(Timer::Rtx)) {
            (Some(p), Some(r)) => p <= r && p <= now,
            _ => false,
        };
        if probe_first && self.timers.take_due(Timer::Tlp, now) {
            self.on_tlp(stats, tx, now);
        }
        if self.timers.take_due(Timer::Rtx, now) {
            self.on_rto(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.timers.take_due(Timer::Reorder, now) {
            self.on_reorder_timer(tx, stats, now);
        }
        if self.timers.take_due(Timer::Tlp, now) {
            self.on_tlp(stats, tx, now);
        }
        if self.timers.take_due(Timer::Persist, now) {
            self.on_persist(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.timers.take_due(Timer::Keepalive, now) {
            self.on_keepalive(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.timers.take_due(Timer::DelayedAck, now) {
            self.ack_now = true;
            // No reply carried the ACK in time: not an exchange of requests and replies
            // after all, or not one fast enough (Linux leaves pingpong mode here too).
            self.interactive = false;
        }
        self.output(cfg, tx, stats, now);
        self.clamp_rtx_to_user_timeout();
        // The clamp may bring the timer to a user timeout's end already passed (set or
        // shortened during a stall, while another timer ran): it runs now, and the
        // connection ends, rather than staying due before the instant polled.
        if self.timers.take_due(Timer::Rtx, now) {
            self.on_rto(cfg, tx, stats, now);
        }
    }

    /// A user timeout the application set ends the retransmissions on time: the
    /// retransmission timer runs no later than its end, counted from the first timeout
    /// (or the SYN), as Linux's tcp_clamp_rto_to_user_timeout; the timeout then fails the
    /// connection instead of waiting for the next backed-off RTO (up to 120 s late).
    pub(super) fn clamp_rtx_to_user_timeout(&mut self) {
        let Some(since) = self.stalled_since else {
            return;
        };
        let Some(ut) = self.user_timeout_set() else {
            return;
        };
        if let Some(at) = self.timers.get(Timer::Rtx) {
            if since + ut < at {
                self.timers.set(Timer::Rtx, since + ut);
            }
        }
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
                // A user timeout the application set before connect bounds the SYN's
                // retransmissions too, from the first SYN (Linux's tcp_write_timeout in
                // SYN-SENT; RFC 9293 3.8.3: SYN retransmissions are handled as data's,
                // R2 set by the application). Not a listener's half-open connection.
                let ut_passed = !self.passive
                    && self
                        .user_timeout_set()
                        .zip(self.stalled_since)
                        .is_some_and(|(ut, since)| now.saturating_duration_since(since) >= ut);
                if self.syn_retries >= limit || ut_passed {
                    stats.handshake_timeouts += 1;
                    self.give_up();
                    return;
                }
                if self.fo_child && self.syn_retries == 0 && self.snd_max != self.snd_una + 1 {
                    // A Fast Open connection's SYN-ACK went unanswered, and what it sent
                    // after it is most likely lost too (a client in SYN-SENT drops data
                    // without the SYN-ACK): a loss window (RFC 5681 3.1, as Linux's
                    // tcp_fastopen_synack_timer), and the data goes again as soon as
                    // the handshake ends, not a backed-off timeout later.
                    let flight = self.snd_max.since(self.snd_una + 1);
                    self.cc.on_rto(flight, self.mss, true, now);
                    self.snd_nxt = self.snd_base;
                }
                if self.state == State::SynSent {
                    // Data a Fast Open SYN carried goes after the handshake.
                    self.snd_nxt = self.iss + 1;
                    if self.fo_syn.is_some() && self.syn_retries == 0 {
                        // The Fast Open SYN went unanswered: lost, unless a SYN-ACK that
                        // still comes for it says otherwise (as Linux counts it at the
                        // timer, so a connect given up early is counted too).
                        self.fo_outcome = Some(FastOpenOutcome::Lost);
                    }
                }
                self.syn_retries += 1;
                // Not from a listener's half-open connection, which a spoofed SYN makes
                // (Linux's request sockets give none).
                if self.syn_retries >= R1 && !self.passive {
                    tx.negative_advice(*self.remote.ip(), now);
                }
                self.retransmits += 1;
                stats.retransmits += 1;
                self.rtt.back_off(cfg.rto_max);
                self.rtt_sample = None;
                self.send_syn(tx, stats, now);
                self.timers.set(Timer::Rtx, now + self.rtt.rto());
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                if self.orphan && self.snd_max != self.snd_una {
                    // Nobody waits for this connection: its data or FIN goes unanswered
                    // only so many times (Linux's tcp_orphan_retries), none more when an
                    // ICMP error is known and the RTO has reached its largest.
                    let alive = self.rtt.rto() < cfg.rto_max;
                    let limit = if self.soft_error.is_some() && !alive {
                        0
                    } else {
                        ORPHAN_RETRIES
                    };
                    if self.backoff >= limit {
                        // Closed with nothing sent, as Linux's tcp_write_err: the peer has
                        // answered nothing for so long that a RST would most likely go
                        // unheard too (Linux resets only when orphans are too many).
                        stats.orphans_dropped += 1;
                        self.give_up();
                        return;
                    }
                }
                if self.snd_wnd == 0 && !self.orphan && self.user_timeout_set().is_none() {
                    // The peer shut its window with our data in flight (RFC 9293 3.8.6:
                    // a window shrunk): these retransmissions are its zero-window probes,
                    // and a peer that answers them keeps the connection (MUST-38), as
                    // persist's probes do. Only a peer silent for twice the largest RTO
                    // ends it, as Linux's retransmission timer treats a receiver that
                    // shrinks its window (tcp_rtx_probe0_timed_out); the stall is counted
                    // afresh once the window opens. (An orphan is bounded above, a user
                    // timeout the application set below.)
                    if now.saturating_duration_since(self.last_rx) >= cfg.rto_max * 2 {
                        stats.user_timeouts += 1;
                        self.give_up();
                        return;
                    }
                    self.stalled_since = Some(now);
                } else {
                    let since = *self.stalled_since.get_or_insert(now);
                    if now.saturating_duration_since(since) >= self.user_timeout(cfg) {
                        stats.user_timeouts += 1;
                        self.give_up();
                        return;
                    }
                }
                // What is resent must fit the interface (its MTU may have gone down).
                self.follow_link(tx, stats);
                if self.snd_max == self.snd_una {
                    // Nothing outstanding: a send that failed (no buffer, or refused). Try
                    // again, backing off as for a retransmission, until the user timeout.
                    self.rtt.back_off(cfg.rto_max);
                    self.output(cfg, tx, stats, now);
                    return;
                }
                // RFC 5681 3.1 (4) and RFC 6298 5.5-5.6: collapse the window, back off.
                // A loss probe armed before it is void: the timeout repaired the tail.
                self.timers.clear(Timer::Tlp);
                let flight = self.snd_max.since(self.snd_una);
                let first = self.backoff == 0;
                // ssthresh is cut once per window of data (RFC 3168 6.1.2, RFC 5681 3.1):
                // not again by a timeout within the round trip of an ECN reduction or of
                // a fast recovery, which already cut it for this window (as Linux's
                // tcp_enter_loss keeps ssthresh in CWR or Recovery before high_seq);
                // that reduction's undo state stands.
                let already_cut = self.in_ecn_reduction()
                    || (self.in_recovery && !self.rto_recovery && self.snd_una.lt(self.recover));
                let cut = first && !already_cut;
                self.cc.on_rto(flight, self.mss, cut, now);
                self.reduced_window();
                if !self.sack_ok {
                    self.undo.close();
                } else if cut {
                    // Later timeouts of the same run belong to this episode.
                    self.undo.start();
                }
                self.in_recovery = false;
                // Slow start from one segment, one MSS per ACK until what was sent before
                // the timeout is acknowledged (with SACK in recovery, below; without, in
                // `new_ack`'s go-back-N).
                self.rto_recovery = true;
                self.dupacks = 0;
                self.recover = self.snd_max;
                self.backoff += 1;
                // Not about a peer that answers (zero-window ACKs, say: Linux's
                // zero-window branch of tcp_retransmit_timer gives no advice either).
                if self.backoff >= R1
                    && now.saturating_duration_since(self.last_rx) >= self.rtt.rto()
                {
                    tx.negative_advice(*self.remote.ip(), now);
                }
                self.rtt.back_off(cfg.rto_max);
                self.rtt_sample = None;
                // R1 timeouts in a row, not one answered: perhaps a path-MTU black hole.
                self.unanswered_rtos = self.unanswered_rtos.saturating_add(1);
                if cfg.pmtu_black_hole
                    && u32::from(self.unanswered_rtos) >= R1
                    && self.state.synchronized()
                    && self.suspect_black_hole(tx, stats, now)
                    && self.sack_ok
                {
                    // Everything outstanding was sent at the old size.
                    self.sb.mark_all_lost();
                }
                if self.sack_ok {
                    // Keep the scoreboard (RFC 6675 5.1): resend what the peer lacks, in
                    // slow start. A receiver that reneged is caught in `process_ack`.
                    self.in_recovery = true;
                    self.rto_recovery = true;
                    self.timers.clear(Timer::Reorder);
                    self.rack.end_tlp_episode();
                    if self.rack_enabled {
                        // RFC 8985 6.3: the first segment, and whatever RACK's deadline
                        // has passed for.
                        let segs = self.sb.sacked_bytes().div_ceil(self.mss.max(1));
                        let w = self.rack.reo_wnd(true, segs, self.rtt.srtt());
                        let una = self.snd_una;
                        self.rack.mark_lost_on_rto(self.sb.table_mut(), una, now, w);
                    } else {
                        self.sb.mark_all_lost();
                    }
                    self.sack_send_inner(tx, stats, now, true);
                    if !self.timers.is_set(Timer::Rtx) {
                        self.timers.set(Timer::Rtx, now + self.rtt.rto());
                    }
                    return;
                }
                // Go back to the first unacknowledged byte (SND.UNA: the handshake's
                // ACK covered our SYN, so it is where the send queue starts), and send what
                // the windows allow; a peer that shrank its window to zero still gets the
                // first segment, as Linux sends it, but only of bytes sent before (see
                // `send_data`).
                self.snd_nxt = self.snd_base;
                self.force_sws = true;
                self.force_window = true;
                self.output(cfg, tx, stats, now);
                self.force_sws = false;
                self.force_window = false;
                if !self.timers.is_set(Timer::Rtx) {
                    self.timers.set(Timer::Rtx, now + self.rtt.rto());
                }
            }
        }
    }

    pub(super) fn on_persist(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        if !self.persist_needed() {
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
                self.persist_interval = (self.persist_interval * 2).min(cfg.rto_max);
                self.timers.set(Timer::Persist, now + self.persist_interval);
            }
            return;
        }
        // Only a shut window asks whether the peer is still there: data held by the cork
        // or the silly-window rule into an open window goes, however long the connection
        // was idle (Linux's probe timer sends it, tcp_write_wakeup). The peer's silence
        // counts from the first probe at the earliest: a window shut long ago on an idle
        // connection is probed before the peer is given up (Linux's tcp_probe_timer never
        // ends a connection before its first probe).
        let since = *self.persist_since.get_or_insert(now);
        let heard = self.last_rx.max(since);
        if now.saturating_duration_since(heard) >= self.user_timeout(cfg) {
            stats.user_timeouts += 1;
            self.give_up();
            return;
        }
        // A user timeout the application set bounds the probing even while the peer
        // answers every probe, as Linux's probe timer does: from the first probe, the
        // window has stayed shut that long. Unset, answered probes go on for as long as
        // the peer keeps its window shut (RFC 9293 3.8.6.1, MUST-38).
        let limit = self.user_timeout_set();
        if limit.is_some_and(|ut| now.saturating_duration_since(since) >= ut) {
            stats.user_timeouts += 1;
            self.give_up();
            return;
        }
        if self.orphan && self.persist_probes >= ORPHAN_PROBES {
            // Nobody will read what is left to send, and the peer has kept its window
            // shut through every probe: give up (Linux's tcp_orphan_retries), with nothing
            // sent, as Linux's probe timer ends it (tcp_write_err).
            stats.orphans_dropped += 1;
            self.give_up();
            return;
        }
        self.persist_probes += 1;
        stats.window_probes += 1;
        let off = self.snd_nxt.since(self.snd_base);
        if off < self.sndq.len() {
            // A zero-window probe with the next octet of new data (RFC 9293 3.8.6.1), not
            // counted as sent: a peer whose window is still shut drops it and answers at
            // once; one whose window has opened (its update lost) takes it and answers
            // with the window, and the ACK that covers it makes it sent (`process_ack`).
            // Linux answers a probe without data (SEG.SEQ = SND.UNA - 1, as it probes
            // itself) at most once per 500 ms, as any segment outside its window
            // (tcp_invalid_ratelimit): with a lost answer or window update, probes that
            // follow faster go unanswered and the wait grows by the backoff; data is
            // always answered.
            // Marked first: `emit` sends a probe without ECT (RFC 3168 6.1.6).
            self.probe_byte = Some(self.snd_max);
            self.emit(tx, stats, self.snd_nxt, flags::ACK, off, 1, now);
        } else {
            // Only our FIN is left, which a shut window would drop: a probe without data,
            // which the peer must answer with an ACK carrying its window.
            let r = self.header(self.snd_una - 1, flags::ACK, now);
            if send_repr_ttl(tx, self.local, self.remote, &r, &[], self.opts.ip(), now) {
                stats.segs_out += 1;
            }
        }
        self.persist_interval = (self.persist_interval * 2).min(cfg.rto_max);
        // The next probe waits no longer than the user timeout's end (as Linux clamps its
        // probe timer to it), so the connection ends on time.
        let next = now + self.persist_interval;
        let next = limit.map_or(next, |ut| next.min(since + ut));
        self.timers.set(Timer::Persist, next);
    }

    pub(super) fn on_keepalive(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        // Every synchronized state but TIME-WAIT, as Linux: a half-closed connection
        // (FIN-WAIT-2, nothing outstanding) whose application reads on must find out
        // that its peer is gone as an established one does.
        if !self.opts.keepalive || !self.state.synchronized() || self.state == State::TimeWait {
            return;
        }
        if self.snd_max != self.snd_una || !self.sndq.is_empty() || self.fin_unsent() {
            // Data (or our FIN) in flight or queued: the retransmission and persist timers
            // and the user timeout watch the connection. As Linux's keepalive timer, look
            // again after the idle time.
            self.timers.set(Timer::Keepalive, now + self.keep_idle(cfg));
            return;
        }
        let idle = now.saturating_duration_since(self.last_rx);
        if idle < self.keep_idle(cfg) {
            self.timers
                .set(Timer::Keepalive, self.last_rx + self.keep_idle(cfg));
            return;
        }
        // A user timeout the application set takes the place of keep_count (RFC 5482 4.2,
        // as Linux): give up once a probe is out and the peer has been silent that long.
        let gave_up = match self.user_timeout_set() {
            Some(ut) => self.keep_probes > 0 && idle >= ut,
            None => self.keep_probes >= self.keep_count(cfg),
        };
        if gave_up {
            stats.keepalive_timeouts += 1;
            // As Linux: a RST first, so that a peer alive after all (our probes or its
            // answers lost) learns that the connection is gone, then the timeout (or the
            // ICMP error seen meanwhile) for the application.
            self.send_reset(tx, stats, now);
            self.give_up();
            return;
        }
        // RFC 1122 4.2.3.6: a segment with SEG.SEQ = SND.NXT - 1 and no data makes the
        // peer answer with an ACK.
        self.keep_probes += 1;
        stats.keepalive_probes += 1;
        let r = self.header(self.snd_una - 1, flags::ACK, now);
        if send_repr_ttl(tx, self.local, self.remote, &r, &[], self.opts.ip(), now) {
            stats.segs_out += 1;
        }
        self.timers
            .set(Timer::Keepalive, now + self.keep_interval(cfg));
    }

    /// How long the connection may be idle before the first probe: `TCP_KEEPIDLE` if
    /// set, else the stack's.
    pub fn keep_idle(&self, cfg: &TcpConfig) -> Duration {
        match self.opts.keep_idle {
            0 => cfg.keep_idle,
            s => Duration::from_secs(u64::from(s)),
        }
    }

    /// Between probes: `TCP_KEEPINTVL` if set, else the stack's.
    pub fn keep_interval(&self, cfg: &TcpConfig) -> Duration {
        match self.opts.keep_interval {
            0 => cfg.keep_interval,
            s => Duration::from_secs(u64::from(s)),
        }
    }

    /// Unanswered probes before the connection fails: `TCP_KEEPCNT` if set, else the
    /// stack's.
    pub fn keep_count(&self, cfg: &TcpConfig) -> u32 {
        match self.opts.keep_count {
            0 => cfg.keep_count,
            n => u32::from(n),
        }
    }

    /// The user timeout the application set (`TCP_USER_TIMEOUT`), whatever its value,
    /// which bounds the persist and keepalive probing; `None` when unset (or set to zero,
    /// as Linux's option), and there the retransmission timer alone uses the default.
    fn user_timeout_set(&self) -> Option<Duration> {
        self.opts.user_timeout.filter(|d| !d.is_zero())
    }

    /// How long sent data may stay unacknowledged: the user timeout set, else the
    /// stack's default.
    fn user_timeout(&self, cfg: &TcpConfig) -> Duration {
        self.user_timeout_set().unwrap_or(cfg.user_timeout)
    }

    /// Arm keepalive's timer for the idle time: counted from `now` when keepalive has just
    /// been turned on (`turned_on`, Linux's tcp_set_keepalive), else from the last segment
    /// received (a new idle time, Linux's tcp_sock_set_keepidle; or the handshake's end).
    pub fn rearm_keepalive(&mut self, cfg: &TcpConfig, turned_on: bool, now: Instant) {
        if self.opts.keepalive && self.state.synchronized() {
            let from = if turned_on { now } else { self.last_rx };
            self.timers
                .set(Timer::Keepalive, from + self.keep_idle(cfg));
        } else {
            self.timers.clear(Timer::Keepalive);
        }
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
        self.timers.clear(Timer::Rtx);
        self.timers.clear(Timer::Persist);
        self.timers.clear(Timer::Keepalive);
        self.timers.set(Timer::TimeWait, now + cfg.time_wait);
    }
}

#[cfg(test)]
mod tests {
    use super::{Timer, TimerTable};
    use netif::{Duration, Instant};

    #[test]
    fn the_earliest_deadline_is_the_one_to_wake_for() {
        let mut t = TimerTable::default();
        assert_eq!(t.earliest(), None);
        let base = Instant::from_secs(10);
        t.set(Timer::Keepalive, base + Duration::from_secs(7200));
        t.set(Timer::Rtx, base + Duration::from_millis(200));
        t.set(Timer::DelayedAck, base + Duration::from_millis(40));
        assert_eq!(t.earliest(), Some(base + Duration::from_millis(40)));
        t.clear(Timer::DelayedAck);
        assert_eq!(t.earliest(), Some(base + Duration::from_millis(200)));
        assert!(t.is_set(Timer::Rtx) && !t.is_set(Timer::Tlp));
        t.clear_all();
        assert_eq!(t.earliest(), None);
    }

    #[test]
    fn a_timer_fires_once_when_due_and_not_before() {
        let mut t = TimerTable::default();
        let at = Instant::from_millis(500);
        t.set(Timer::Tlp, at);
        assert!(!t.take_due(Timer::Tlp, Instant::from_millis(499)));
        assert!(!t.take_due(Timer::Rtx, Instant::from_millis(600)));
        assert!(t.take_due(Timer::Tlp, at));
        assert!(!t.take_due(Timer::Tlp, at));
        assert_eq!(t.get(Timer::Tlp), None);
    }

    #[test]
    fn setting_again_moves_the_deadline() {
        let mut t = TimerTable::default();
        t.set(Timer::Persist, Instant::from_secs(5));
        t.set(Timer::Persist, Instant::from_secs(1));
        assert_eq!(t.get(Timer::Persist), Some(Instant::from_secs(1)));
    }

    /// A peer that shuts its window and answers every zero-window probe keeps the
    /// connection open as long as it likes (RFC 9293 3.8.6.1, MUST-38) unless the
    /// application set TCP_USER_TIMEOUT: then, as Linux's probe timer, a window that stays
    /// shut through probes for the user timeout ends the connection (`TimedOut`), on time
    /// (the probe after the last one waits no longer than the timeout). Unset (the stack's
    /// default), answered probes go on for good. Before, only the gap between two probes
    /// counted (the last answer's age): 20 s ended 51 s after the first probe, and a
    /// timeout above the largest probe interval (then 60 s) never ended the connection.
    #[test]
    fn a_window_shut_for_the_user_timeout_ends_a_connection_that_set_it() {
        use super::super::harness::*;
        use super::super::*;
        for secs in [Some(20), Some(120), None] {
            let set = secs.is_some();
            let mut o = opts();
            if let Some(s) = secs {
                o.user_timeout = Some(Duration::from_secs(s));
            }
            let mut c = Conn::established(o);
            c.shut_window();
            c.tcb.write(&[7u8; 100]);
            c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            assert!(c.take().is_empty(), "nothing goes into a shut window");
            let start = c.now;
            let mut first_probe = None;
            let (mut last_probe, mut widest) = (None, Duration::ZERO);
            while c.tcb.state != State::Closed && c.now < start + Duration::from_secs(3600) {
                c.advance(Duration::from_millis(100));
                for s in c.take() {
                    if s.r.has(flags::RST) {
                        continue;
                    }
                    if let Some(last) = last_probe.replace(c.now) {
                        widest = widest.max(c.now - last);
                    }
                    first_probe.get_or_insert(c.now);
                    // Every probe answered at once: the window is still shut.
                    c.shut_window();
                }
            }
            let first = first_probe.expect("probes were sent");
            if set {
                assert_eq!(c.tcb.state, State::Closed);
                assert_eq!(c.tcb.error, Some(TcpError::TimedOut));
                assert_eq!(c.stats.user_timeouts, 1);
                let took = c.now.saturating_duration_since(first);
                let ut = o.user_timeout.unwrap();
                assert!(
                    took >= ut && took <= ut + Duration::from_millis(200),
                    "{ut:?}: ended {took:?} after the first probe"
                );
            } else {
                assert_eq!(c.tcb.state, State::Established, "answered probes go on");
                // Backed off up to the RTO's cap, 120 s, as Linux's probe timer
                // (TCP_RTO_MAX), not beyond.
                assert!(c.stats.window_probes > 30, "{}", c.stats.window_probes);
                assert_eq!(widest, c.cfg.rto_max, "the probes' widest gap");
            }
        }
    }

    /// An orphan whose FIN goes unanswered while an ICMP error is known and its RTO has
    /// reached the maximum gives up at the next timeout (Linux: no orphan retries left for
    /// a connection that is not "alive"), not after the usual 8.
    /// RFC 9293 3.8.3 (a): once a segment has been retransmitted R1 (3) times, `ip` is
    /// given negative advice (RFC 1122 3.3.1.4's dead-gateway diagnosis, here a fresh ARP
    /// probe of the neighbour), at every timeout from then on; not before.
    #[test]
    fn the_third_timeout_of_a_segment_gives_ip_negative_advice() {
        use super::super::harness::*;
        use super::super::*;
        let mut c = Conn::established(opts());
        c.tcb.tlp_enabled = false;
        c.tcb.write(&[1u8; 100]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        for (ms, advice) in [(200, 0), (400, 0), (800, 1), (1600, 2)] {
            c.advance(Duration::from_millis(ms));
            assert_eq!(c.take().len(), 1, "retransmitted after {ms} ms");
            assert_eq!(c.tx.advice.len(), advice, "after {ms} ms");
        }
        assert!(c.tx.advice.iter().all(|a| a == PEER.ip()));
        // An ACK ends the episode: the next timeout starts counting again.
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
        c.tcb.write(&[2u8; 100]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        let due = c.tcb.timers.get(Timer::Rtx).expect("the RTO runs");
        c.now = due;
        c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.tx.advice.len(), 2, "a first timeout again");
    }

    /// A peer that answers each retransmission (ACKs that take nothing, as of a window it
    /// shut with our data in flight) is alive: no negative advice about it, however many
    /// timeouts (Linux's zero-window branch of tcp_retransmit_timer gives none).
    #[test]
    fn a_peer_that_answers_its_retransmissions_gets_no_negative_advice() {
        use super::super::harness::*;
        use super::super::*;
        let mut c = Conn::established(opts());
        c.tcb.tlp_enabled = false;
        c.tcb.write(&[1u8; 100]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        for k in 1..=5 {
            let due = c.tcb.timers.get(Timer::Rtx).expect("the RTO runs");
            c.now = due;
            c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            assert_eq!(c.take().len(), 1, "timeout {k}: retransmitted");
            c.now += Duration::from_millis(10);
            let mut r = c.seg(flags::ACK, c.tcb.snd_una);
            r.window = 0;
            c.deliver(&r, &[]);
            c.take();
        }
        assert_eq!(c.tcb.backoff, 5);
        assert!(c.tx.advice.is_empty(), "{:?}", c.tx.advice);
    }

    #[test]
    fn an_orphan_with_a_soft_error_at_the_largest_rto_gives_up_at_once() {
        use super::super::harness::*;
        use super::super::*;
        let mut c = Conn::established(opts());
        c.tcb.tlp_enabled = false;
        c.cfg.rto_max = Duration::from_secs(1);
        c.tcb.orphan = true;
        c.tcb.icmp_error(TcpError::HostUnreachable, true);
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert!(c.take()[0].r.has(flags::FIN));
        // 200, 400 and 800 ms: below the largest RTO, retransmitted.
        for ms in [200, 400, 800] {
            c.advance(Duration::from_millis(ms));
            let v = c.take();
            assert!(v.len() == 1 && v[0].r.has(flags::FIN), "{v:?}");
        }
        assert_eq!(c.tcb.state, State::FinWait1);
        // Then 1 s, the largest: given up, with nothing sent (Linux's tcp_write_err), the
        // ICMP error as the reason.
        c.advance(Duration::from_secs(1));
        let v = c.take();
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(c.tcb.state, State::Closed);
        assert_eq!(c.tcb.error, Some(TcpError::HostUnreachable));
        assert_eq!(c.stats.orphans_dropped, 1);
    }

    /// An orphan that gives up (its FIN or data unanswered after `ORPHAN_RETRIES`
    /// retransmissions, or its window shut through `ORPHAN_PROBES` probes) closes with
    /// nothing sent, as Linux's tcp_write_timeout and tcp_probe_timer end an orphan that
    /// ran out of tcp_orphan_retries with tcp_write_err (tcp_done, no RST; a RST only when
    /// orphans are too many, tcp_out_of_resources). Before, it sent a RST.
    #[test]
    fn an_orphan_that_runs_out_of_retries_closes_without_a_rst() {
        use super::super::harness::*;
        use super::super::*;
        for shut_window in [false, true] {
            let mut c = Conn::established(opts());
            c.tcb.tlp_enabled = false;
            if shut_window {
                c.shut_window();
                c.tcb.write(&[7u8; 100]);
            }
            c.tcb.orphan = true;
            c.tcb.shutdown_write();
            c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            let mut sent = c.take().len();
            let mut resets = 0;
            let mut timeouts = 0;
            while c.tcb.state != State::Closed && timeouts < 20 {
                let at = c.tcb.poll_at().expect("a timer runs");
                c.advance(at.saturating_duration_since(c.now));
                timeouts += 1;
                for s in c.take() {
                    sent += 1;
                    resets += usize::from(s.r.has(flags::RST));
                    if shut_window {
                        // Every probe answered: the window is still shut.
                        c.shut_window();
                    }
                }
            }
            let tries = if shut_window {
                ORPHAN_PROBES
            } else {
                ORPHAN_RETRIES
            };
            assert_eq!(c.tcb.state, State::Closed, "{shut_window}");
            assert_eq!(c.stats.orphans_dropped, 1);
            assert_eq!(resets, 0, "{shut_window}: no RST");
            assert_eq!(timeouts, tries as usize + 1, "{shut_window}");
            assert_eq!(
                sent,
                tries as usize + usize::from(!shut_window),
                "{shut_window}"
            );
        }
    }
}
