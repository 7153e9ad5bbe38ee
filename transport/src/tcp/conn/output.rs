//! The send path: headers with our ACK, window and options, segments from the send
//! queue (TSO bursts where the device cuts them), SYNs, and what the windows, Nagle and
//! silly-window avoidance allow.

use super::*;

/// ECT(0) in the IP header's ECN field (RFC 3168 5): an ECN-capable transport.
const ECT0: u8 = 0b10;

impl Tcb {
    /// A header from this end with our current ACK and window.
    pub(super) fn header(&mut self, seq: Seq, fl: u8, now: Instant) -> TcpRepr {
        let mut r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: self.rcv_nxt,
            flags: fl,
            ..TcpRepr::default()
        };
        if let Some(p) = self.urgent_pointer(seq) {
            r.flags |= flags::URG;
            r.urgent = p;
        }
        if self.ts_ok {
            // On every segment once negotiated (RFC 7323 3.2), echoing TS.Recent.
            r.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if fl & flags::ACK != 0 {
            if self.ece_echo {
                // A Congestion Experienced came in: echoed on every ACK until the peer's
                // CWR (RFC 3168 6.1.3).
                r.flags |= flags::ECE;
            }
            self.last_ack_sent = self.rcv_nxt;
            // The right edge moves on only by at least min(MSS, buffer / 2) (RFC 9293
            // 3.8.6.2.2: RCV.NXT + RCV.WND stays fixed until the free space beyond it
            // is that large); an ACK carries the window as last offered until then.
            let offered = self.rcv_adv.since(self.rcv_nxt);
            let free = self.free_window();
            let wnd = if free >= offered + self.rcv_mss.min(self.rcv_buf / 2) {
                free
            } else {
                offered
            };
            // Round up so scaling never moves the announced right edge left, unless that
            // would announce more than the receive ring holds: then round down, which
            // retracts the edge by less than a unit (RFC 7323 2.4 leaves the choice; the
            // bytes up to the furthest edge ever announced, `rcv_adv`, are still taken, as
            // its rule 1 wants). Rounding up regardless let the edge creep a unit per ACK
            // beyond the buffer while the application did not read, and the segments the
            // peer then sent into it were cut: each cut a loss to the peer's congestion
            // control (about 45 a second at 4 Gbit/s with plain frames).
            let unit = (1usize << self.rcv_wscale) - 1;
            let mut field = ((wnd + unit) >> self.rcv_wscale).min(MAX_WINDOW);
            let room = self.rcv_ring_size().saturating_sub(self.rx.readable());
            if field << self.rcv_wscale > room {
                field = room >> self.rcv_wscale;
            }
            r.window = field as u16;
            let edge = self.rcv_nxt + (field << self.rcv_wscale);
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
            self.rcv_told = edge;
            if self.sack_ok && (self.rx.has_ooo() || self.ooo_fin.is_some()) {
                self.fill_sack(&mut r);
            }
        } else {
            r.ack = Seq(0);
        }
        r
    }

    /// SACK blocks for the out-of-order ranges (RFC 2018 4): the range holding the most
    /// recent segment first, then the others by how recently they grew. A FIN beyond the
    /// hole is received sequence space too (as Linux, whose out-of-order queue holds it):
    /// the range it ends grows by it, or a bare FIN has a block of its own.
    pub(super) fn fill_sack(&self, r: &mut TcpRepr) {
        let max = if self.ts_ok {
            crate::tcp::wire::MAX_SACK_BLOCKS_WITH_TS
        } else {
            crate::tcp::wire::MAX_SACK_BLOCKS
        };
        let mut ranges = [(0u64, 0u64); crate::tcp::wire::MAX_SACK_BLOCKS];
        let n = self.rx.sack_ranges(&mut ranges[..max]);
        let end = self.rx.end();
        let seq = |off: u64| self.rcv_nxt + (off - end) as usize;
        let mut fin = self.ooo_fin;
        for &(s, e) in &ranges[..n] {
            let e = if fin == Some(e) {
                fin = None;
                e + 1
            } else {
                e
            };
            r.sack[usize::from(r.sack_count)] = (seq(s), seq(e));
            r.sack_count += 1;
        }
        if let Some(f) = fin.filter(|_| n < max) {
            r.sack[n] = (seq(f), seq(f + 1));
            r.sack_count += 1;
        }
    }

    /// Free receive space, rounded down to zero while it is silly (RFC 9293 3.8.6.2.2).
    pub(super) fn free_window(&self) -> usize {
        let mut free = self
            .rcv_buf
            .saturating_sub(self.rx.readable() + self.rx.ooo_bytes());
        if self.mem.pressure() {
            // No window beyond the ring there is (`super::mem`).
            free = free.min(self.rcv_ring_room().saturating_sub(self.rx.readable()));
        }
        let cap = MAX_WINDOW << self.rcv_wscale;
        if free < self.rcv_mss.min(self.rcv_buf / 2) {
            0
        } else {
            free.min(cap)
        }
    }

    /// Send our SYN (an active open) or SYN-ACK (a passive one; also a cookie's).
    pub(crate) fn send_syn(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let passive = self.state == State::SynReceived;
        let mut r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.iss,
            flags: flags::SYN,
            mss: Some(self.rcv_mss.min(65_535) as u16),
            // Less what a Fast Open SYN's data already holds of the buffer.
            window: self
                .rcv_buf
                .saturating_sub(self.rx.readable())
                .min(MAX_WINDOW) as u16,
            ..TcpRepr::default()
        };
        // Offer window scaling on an active open; answer it only if the peer offered.
        if !passive || self.snd_wscale > 0 || self.rcv_wscale > 0 {
            r.wscale = Some(self.rcv_wscale);
        }
        // Offer SACK on an active open; accept it if the peer offered.
        r.sack_permitted = !passive || self.sack_ok;
        // ECN (RFC 3168 6.1.1): asked with ECE and CWR, agreed with ECE alone. Only the
        // first SYN asks: a SYN lost may have been dropped for asking (6.1.1.1 allows
        // either; Linux's tcp_ecn_fallback), and a SYN-ACK that still agrees is taken.
        if !passive && self.ecn_mode == crate::tcp::EcnMode::On && self.syn_retries == 0 {
            r.flags |= flags::ECE | flags::CWR;
        } else if passive && self.ecn_ok {
            r.flags |= flags::ECE;
        }
        // Timestamps likewise (RFC 7323 3.2); a SYN-ACK echoes the SYN's TSval.
        if (!passive && self.ts_enabled) || self.ts_ok {
            r.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if passive {
            r.flags |= flags::ACK;
            r.ack = self.rcv_nxt;
            r.fastopen = self.fo_cookie;
            self.rcv_adv = self.rcv_nxt + usize::from(r.window);
            self.rcv_told = self.rcv_adv;
            self.last_ack_sent = self.rcv_nxt;
        }
        // Fast Open (RFC 7413 4.1): the first SYN asks for a cookie, or carries one and
        // as much data as the server's MSS (from the cookie's connection, else 536) leaves
        // beside the options. A retransmitted SYN carries neither (what it had goes after
        // the handshake), as a SYN with data or an unknown option may be what was dropped.
        let mut data = 0;
        if let Some((fo, mss)) = self.fo_syn.filter(|_| !passive && self.syn_retries == 0) {
            r.fastopen = Some(fo);
            if !fo.is_request() {
                let mss = if mss == 0 {
                    DEFAULT_MSS
                } else {
                    usize::from(mss)
                };
                let room = mss
                    .min(self.rcv_mss)
                    .saturating_sub(r.header_len() - super::super::wire::HEADER_LEN);
                data = self.sndq.as_slices().0.len().min(room);
            }
        }
        if self.rtt_sample.is_none() && self.syn_retries == 0 {
            self.rtt_sample = Some((self.iss, now));
        }
        let payload = &self.sndq.as_slices().0[..data];
        if send_repr_ttl(
            tx,
            self.local,
            self.remote,
            &r,
            payload,
            self.opts.ip(),
            now,
        ) {
            stats.segs_out += 1;
        }
        if data > 0 {
            self.snd_nxt = self.iss + 1 + data;
            if self.snd_nxt.gt(self.snd_max) {
                self.snd_max = self.snd_nxt;
            }
        }
    }

    /// Send one segment from `sndq[off..off + len]` at `seq`, and record it in flight.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn xmit(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        seq: Seq,
        fl: u8,
        off: usize,
        len: usize,
        now: Instant,
    ) -> bool {
        let len = len.min(self.sndq.len().saturating_sub(off));
        let Some(tsval) = self.emit(tx, stats, seq, fl, off, len, now) else {
            return false;
        };
        let used = len + usize::from(fl & flags::FIN != 0);
        if self.prr_active() {
            self.prr.sent(used);
        }
        if self.sack_ok && used > 0 {
            // Into the table of segments in flight (RACK's send times, the scoreboard's
            // records).
            self.sb.sent(seq, seq + used, now);
            if seq.lt(self.snd_max) {
                self.undo.retransmitted(seq, seq + used, tsval);
            }
        }
        true
    }

    /// Send one segment from `sndq[off..off + len]` (`len` within the queue) at `seq`, as
    /// it is: nothing recorded in flight. Returns its TSval (if it has one) once sent.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        seq: Seq,
        fl: u8,
        off: usize,
        len: usize,
        now: Instant,
    ) -> Option<Option<u32>> {
        let mut r = self.header(seq, fl | flags::ACK, now);
        // With ECN, new data is ECN-capable (ECT(0)), never a retransmission nor a window
        // probe (RFC 3168 6.1.5, 6.1.6), and the first after a reduction carries CWR.
        let probe = len == 1 && self.probe_byte == Some(seq);
        // Nor the data of a Fast Open SYN sent again after the handshake (`fo_syn_acked`
        // counts it unsent, but it went in the SYN).
        let resent = self.fo_resend_end.is_some_and(|end| seq.lt(end));
        let ect = self.ecn_ok && len > 0 && !seq.lt(self.snd_max) && !probe && !resent;
        let cwr = ect && self.cwr_due;
        if cwr {
            r.flags |= flags::CWR;
        }
        let tsval = r.timestamp.map(|(v, _)| v);
        let (a, b) = self.sndq.as_slices();
        let hl = r.header_len();
        let (local, remote) = (self.local, self.remote);
        // More than one segment's payload: the device cuts it (send_data asks only with TSO).
        let room = self.seg_room();
        let gso_size = (len > room).then(|| room.min(usize::from(u16::MAX)) as u16);
        let meta = SendMeta {
            src: Some(*local.ip()),
            l4_csum: Some(crate::tcp::wire::CHECKSUM_AT as u16),
            gso_size,
            dont_fragment: self.dont_fragment(),
            ttl: self.opts.ttl,
            tos: self.opts.tos | if ect { ECT0 } else { 0 },
            ..SendMeta::new(*remote.ip(), ip::ipv4::protocol::TCP)
        };
        let sent = tx.send_with(
            &meta,
            hl + len,
            &mut |buf| {
                // Copy sndq[off..off + len], which may straddle the ring's two halves.
                let dst = &mut buf[hl..];
                let mut done = 0;
                if off < a.len() {
                    let n = (a.len() - off).min(len);
                    dst[..n].copy_from_slice(&a[off..off + n]);
                    done = n;
                }
                if done < len {
                    let boff = off + done - a.len();
                    dst[done..len].copy_from_slice(&b[boff..boff + len - done]);
                }
                r.emit_header(buf);
            },
            now,
        );
        if sent == Err(ip::SendError::TooLong) {
            // The interface's MTU went down since `output` last looked (`ifconfig`): the
            // next segment fits.
            self.follow_link(tx, stats);
        }
        let ok = sent.is_ok();
        if ok {
            // The segments on the wire, as Linux's segs_out (tcp_skb_pcount): a TSO
            // segment is as many as the device cuts it into.
            stats.segs_out += gso_size
                .filter(|&g| g > 0)
                .map_or(1, |g| len.div_ceil(usize::from(g))) as u64;
            if len > 0 {
                self.last_data_sent = Some(now);
            }
            if cwr {
                // Said; a segment that failed to leave says it again next time.
                self.cwr_due = false;
            }
            // It carried our ACK.
            self.ack_paid();
        } else {
            // An ACK owed stays owed, as when a pure ACK is refused (`send_ack`): `output`
            // sends it alone, or its timer does.
            stats.send_failures += 1;
        }
        ok.then_some(tsval)
    }

    /// An ACK went out, alone or on data: every ACK owed is paid. One that acknowledges
    /// new data uses up a quick ACK, whichever way it went (Linux's
    /// `tcp_dec_quickack_mode`), so replies that carry the ACKs of an interactive
    /// exchange spend them too.
    fn ack_paid(&mut self) {
        if self.pending_ack_bytes > 0 {
            self.quick_acks = self.quick_acks.saturating_sub(1);
        }
        self.ack_now = false;
        self.ack_due = false;
        self.pending_ack_bytes = 0;
        self.timers.clear(Timer::DelayedAck);
    }

    /// Send what the windows, Nagle and the state allow, and any ACK owed.
    pub fn output(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        self.output_inner(cfg, tx, stats, now, false);
    }

    /// `output`; with `defer_ack`, an ACK owed only by the every-second-segment rule waits
    /// (the caller flushes it at the end of the receive batch).
    pub(super) fn output_inner(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        defer_ack: bool,
    ) {
        if self.pmtu_lowered.is_some() {
            self.pmtu_raise(tx);
        }
        if !self.sndq.is_empty() {
            // Only a sender needs to know (a route lookup per call showed in profiles of a
            // receiver, whose output is ACKs).
            self.follow_link(tx, stats);
        }
        let sending = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) || self.fo_sending();
        if sending && !self.in_recovery && self.snd_una == self.snd_max {
            self.idle_restart(stats, now);
        }
        let acking = !matches!(
            self.state,
            State::Closed | State::SynSent | State::SynReceived
        );
        if self.dsack.is_some() && self.ack_now && acking {
            // A D-SACK goes on an ACK of its own, ahead of any data: a data segment's room
            // for payload is reckoned without it (and a TSO burst would repeat it).
            self.send_ack(tx, stats, now);
        }
        if sending {
            let max = self.snd_max;
            if self.in_recovery && self.sack_ok {
                self.sack_send(tx, stats, now);
            } else if self.fin_queued || (self.snd_base + self.sndq.len()).gt(self.snd_nxt) {
                // Only with something unsent: a receiver's output runs after every
                // segment, and the call showed as 2.5% of plain-frame receive profiles.
                self.send_data(tx, stats, now, None);
            }
            // New data (not a bare FIN) within the delayed-ACK time of the data it
            // answers: a reply in an interactive exchange, whose next request waits for
            // the next reply to carry its ACK rather than drawing a quick ACK of its own
            // (Linux's pingpong mode, from tcp_event_data_sent).
            let data_end = self.snd_base + self.sndq.len();
            let sent_to = if self.snd_max.gt(data_end) {
                data_end
            } else {
                self.snd_max
            };
            if sent_to.gt(max)
                && self
                    .last_data_rx
                    .is_some_and(|t| now.saturating_duration_since(t) < cfg.delayed_ack)
            {
                self.interactive = true;
            }
        }
        let ack_owed = self.ack_now || (self.ack_due && !defer_ack);
        if ack_owed && self.state != State::Closed && self.state != State::SynSent {
            if self.state == State::SynReceived {
                // Still waiting for the handshake's ACK: our SYN-ACK is the answer.
                self.ack_now = false;
                self.send_syn(tx, stats, now);
            } else {
                self.send_ack(tx, stats, now);
            }
        }
        // Reported with the ACK that answered it, or not at all (RFC 2883 4: only for the
        // segment just received).
        self.dsack = None;
        if sending && self.persist_needed() {
            if !self.timers.is_set(Timer::Persist) {
                // The RTO, backed off as the probes go up to the RTO's own cap (120 s),
                // as Linux's probe timer (tcp_probe0_when with TCP_RTO_MAX).
                self.persist_interval = self.rtt.rto().max(cfg.rto_min).min(cfg.rto_max);
                self.timers.set(Timer::Persist, now + self.persist_interval);
            }
        } else {
            // The window let the data go (or nothing waits for it): a later shut window
            // is probed, and timed, afresh.
            self.timers.clear(Timer::Persist);
            self.persist_since = None;
        }
    }

    /// A pure ACK (with our window, SACK blocks and a pending D-SACK block first, RFC 2883
    /// 4), which pays every ACK owed.
    fn send_ack(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let mut r = self.header(self.snd_nxt, flags::ACK, now);
        if let Some(d) = self.dsack.take() {
            // The D-SACK first; the other blocks after it, the last dropped if no room.
            let max = if r.timestamp.is_some() {
                crate::tcp::wire::MAX_SACK_BLOCKS_WITH_TS
            } else {
                crate::tcp::wire::MAX_SACK_BLOCKS
            };
            let n = usize::from(r.sack_count).min(max - 1);
            r.sack.copy_within(0..n, 1);
            r.sack[0] = d;
            r.sack_count = (n + 1) as u8;
        }
        let sent = send_repr_ttl(tx, self.local, self.remote, &r, &[], self.opts.ip(), now);
        self.ack_paid();
        if sent {
            stats.segs_out += 1;
        } else {
            // Refused here (a full transmit queue, say): still owed, and tried again by
            // the delayed-ACK timer, as Linux's tcp_send_ack reschedules it after
            // TCP_DELACK_MAX. A window update lost so would otherwise wait for the
            // peer's zero-window probe.
            stats.send_failures += 1;
            self.timers.set(Timer::DelayedAck, now + ACK_RETRY);
        }
    }

    /// Send new data. `budget` (bytes), when given, replaces the congestion window's
    /// limit (SACK recovery counts what is in flight itself).
    pub(super) fn send_data(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        budget: Option<usize>,
    ) {
        let data_end = self.snd_base + self.sndq.len();
        let mut budget = budget;
        // Where the next SACKed run starts beyond SND.NXT, once looked up (the scoreboard
        // does not change while this sends).
        let mut next_sacked: Option<Option<Seq>> = None;
        loop {
            // Resending what was sent before (a go-back-N): not the bytes the peer SACKed
            // (RFC 6675 4's NextSeg never picks them; Linux's tcp_xmit_retransmit_queue
            // skips them).
            let skip_sacked =
                self.sack_ok && self.snd_nxt.lt(self.snd_max) && self.sb.sacked_bytes() > 0;
            if skip_sacked {
                if let Some(end) = self.sb.sacked_run_end(self.snd_nxt) {
                    self.snd_nxt = end;
                    continue;
                }
            }
            let unsent = data_end.since(self.snd_nxt);
            let mut usable = match budget {
                Some(b) => (self.snd_una + self.snd_wnd).since(self.snd_nxt).min(b),
                None => {
                    // Limited transmit (RFC 3042): each of the first two duplicate ACKs
                    // lets one new segment out, so the ACKs that reveal a loss keep coming.
                    let extra = if self.in_recovery {
                        0
                    } else {
                        self.dupacks.min(2) as usize * self.mss
                    };
                    (self.snd_una + self.snd_wnd.min(self.cc.cwnd() + extra)).since(self.snd_nxt)
                }
            };
            let room = self.seg_room();
            if self.force_window && usable == 0 {
                // A timeout's retransmission into a window that has closed (or shrunk
                // below what we sent): the first segment goes anyway, as Linux sends it,
                // but only bytes sent before, at most a segment of them (RFC 9293 3.8.6.1
                // lets a sender retransmit into a zero window; nothing new goes beyond
                // SND.UNA + min(cwnd, rwnd), RFC 5681 2 and RFC 9293 3.8.6). With nothing
                // sent before (a FIN alone, or a probe), one byte (a zero-window probe).
                let sent_before = self.snd_max.since(self.snd_nxt);
                usable = sent_before.clamp(1, room);
            }
            let mut len = unsent.min(usable).min(room);
            if skip_sacked {
                let stale = next_sacked.is_none_or(|n| n.is_some_and(|at| at.le(self.snd_nxt)));
                if stale {
                    next_sacked = Some(self.sb.next_sacked(self.snd_nxt));
                }
                if let Some(Some(next)) = next_sacked {
                    len = len.min(next.since(self.snd_nxt));
                }
            }
            let retransmitting = self.snd_nxt.lt(self.snd_max);
            if self.tso
                && budget.is_none()
                && !retransmitting
                && !self.force_window
                && !self.urgent_unsent()
                // The CWR goes on a segment of its own, not copied by the device's
                // segmentation onto every piece of a burst.
                && !self.cwr_due
            {
                // New data in one frame of whole segments the device cuts; only the last
                // bytes the application wrote may end it in a short segment.
                let burst = unsent.min(usable).min(TSO_MAX / room * room);
                if burst > room {
                    len = if burst < unsent
                        || (self.cork_holds(self.snd_nxt + burst) && !self.fin_queued)
                    {
                        burst / room * room
                    } else {
                        burst
                    };
                }
                // Each ACK opens the window by a segment or two; sending that at once would
                // cut the stream into small frames. While data is in flight (so an ACK is
                // coming), wait until a third of the window or a full burst can go (Linux's
                // TSO deferral, tcp_tso_win_divisor = 3).
                let in_flight = self.snd_nxt != self.snd_una;
                let window = self.snd_wnd.min(self.cc.cwnd());
                if in_flight && len < unsent && len < window / 3 && len < TSO_MAX / 2 {
                    break;
                }
            }
            // A FIN needs the peer to have room for it (Linux drops one at a zero window):
            // with none, the persist timer probes until the window opens.
            let with_fin = self.fin_queued
                && self.snd_nxt + len == data_end
                && !matches!(self.state, State::Established | State::CloseWait)
                && (len > 0 || self.snd_wnd > 0 || self.force_window || self.force_sws);
            if len == 0 && !with_fin {
                break;
            }
            if len > 0 && len < room && !retransmitting && !self.force_sws {
                if len < unsent {
                    // Window-limited: avoid silly segments (RFC 9293 3.8.6.2.1) unless
                    // it is at least half the largest window the peer has offered.
                    if len < self.max_snd_wnd / 2 {
                        break;
                    }
                } else if self.cork_holds(self.snd_nxt + len) && !with_fin && self.snd_up.is_none()
                {
                    // Corked (Linux's TCP_NAGLE_CORK): the rest waits for more data, the
                    // option's end, or the persist timer (see `persist_needed`). Urgent
                    // data and a FIN go, as Linux's tcp_nagle_test lets them.
                    break;
                } else if !self.opts.nodelay
                    && !with_fin
                    && self.snd_nxt.since(self.snd_una) > usize::from(self.fo_sending())
                    && self.snd_sml.gt(self.snd_una)
                    && self.snd_up.is_none()
                {
                    // Nagle (RFC 9293 3.7.4) in Minshall's form, as Linux's
                    // tcp_minshall_check: a small segment waits while an earlier small
                    // segment is unacknowledged (full segments in flight hold nothing
                    // back, so the tail of a reply does not wait for a delayed ACK of
                    // its first full segment). Not in urgent mode (Linux's
                    // tcp_nagle_test). A Fast Open connection's SYN-ACK is no data: its
                    // first answer goes at once.
                    break;
                }
            }
            let seq = self.snd_nxt;
            // The data of a Fast Open SYN sent again after the handshake went once already
            // (counted and kept from RTT samples, as Linux retransmits it).
            let retransmission =
                seq.lt(self.snd_max) || self.fo_resend_end.is_some_and(|end| seq.lt(end));
            let mut fl = flags::ACK;
            if len > 0 && len == unsent {
                fl |= flags::PSH;
            }
            if with_fin {
                fl |= flags::FIN;
            }
            let off = seq.since(self.snd_base);
            if !self.xmit(tx, stats, seq, fl, off, len, now) {
                // No buffer (ARP queue full, say): try again after a timeout.
                if !self.timers.is_set(Timer::Rtx) {
                    self.timers.set(Timer::Rtx, now + self.rtt.rto());
                }
                break;
            }
            self.force_sws = false;
            self.force_window = false;
            if retransmission {
                self.retransmits += 1;
                stats.retransmits += 1;
            } else if self.rtt_sample.is_none() {
                self.rtt_sample = Some((seq, now));
            }
            if len % room != 0 && (seq + len).gt(self.snd_max) {
                // New data ending in a short segment (alone, a TSO burst's last piece, or
                // past SND.MAX in a go-back-N retransmission), as Linux's
                // tcp_minshall_update.
                self.snd_sml = seq + len;
            }
            let used = len + usize::from(with_fin);
            if let Some(b) = budget.as_mut() {
                *b = b.saturating_sub(len);
            }
            self.snd_nxt = seq + used;
            if !self.timers.is_set(Timer::Rtx) {
                self.timers.set(Timer::Rtx, now + self.rtt.rto());
            }
            if self.snd_nxt.gt(self.snd_max) {
                self.snd_max = self.snd_nxt;
                // After the RTO is set: the probe is never due after it.
                self.arm_tlp(now);
            }
            if with_fin {
                break;
            }
        }
    }

    /// `TCP_NODELAY` set on a corked connection: what is queued goes, cork or not
    /// (Linux's TCP_NAGLE_PUSH and tcp_push_pending_frames), now or, as far as the
    /// windows hold it back, when they open (the push lasts until the next write, whose
    /// skb_entail clears it in Linux); the cork holds what is written next.
    pub fn push_corked(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        self.push_end = Some(self.snd_base + self.sndq.len());
        self.output(cfg, tx, stats, now);
    }

    /// Does `TCP_CORK` hold back a short segment ending at `end`? Not one of the bytes a
    /// push let through (`push_corked`).
    fn cork_holds(&self, end: Seq) -> bool {
        self.opts.cork && !self.push_end.is_some_and(|e| end.le(e))
    }

    /// Payload room in a segment: the MSS less the SACK option an ACK of ours may carry
    /// (RFC 9293 3.7.1: options come out of the MSS).
    pub(super) fn seg_room(&self) -> usize {
        let (ts, max_blocks) = if self.ts_ok {
            (
                crate::tcp::wire::TIMESTAMP_LEN,
                crate::tcp::wire::MAX_SACK_BLOCKS_WITH_TS,
            )
        } else {
            (0, crate::tcp::wire::MAX_SACK_BLOCKS)
        };
        let blocks = self.rx.ooo_ranges() + usize::from(self.ooo_fin.is_some());
        let sack = if self.sack_ok && blocks > 0 {
            4 + 8 * blocks.min(max_blocks)
        } else {
            0
        };
        self.mss.saturating_sub(sack + ts).max(1)
    }

    /// Our FIN is due (the application closed) but has not been sent.
    pub(super) fn fin_unsent(&self) -> bool {
        self.fin_queued
            && matches!(
                self.state,
                State::FinWait1 | State::Closing | State::LastAck
            )
            && !self.snd_max.gt(self.snd_base + self.sndq.len())
    }
}

/// Send a header-only or small segment built by hand.
pub fn send_repr(
    tx: &mut dyn IpTx,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    r: &TcpRepr,
    payload: &[u8],
    now: Instant,
) -> bool {
    send_repr_ttl(
        tx,
        local,
        remote,
        r,
        payload,
        crate::IpFields::default(),
        now,
    )
}

/// `send_repr` with the connection's `IP_TTL` (None: the IP layer's default).
pub fn send_repr_ttl(
    tx: &mut dyn IpTx,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    r: &TcpRepr,
    payload: &[u8],
    ip: crate::IpFields,
    now: Instant,
) -> bool {
    let hl = r.header_len();
    let meta = SendMeta {
        src: Some(*local.ip()),
        l4_csum: Some(crate::tcp::wire::CHECKSUM_AT as u16),
        // Path-MTU discovery (RFC 1191): a router that would fragment says so instead.
        dont_fragment: !ip.fragment,
        ttl: ip.ttl,
        tos: ip.tos,
        ..SendMeta::new(*remote.ip(), ip::ipv4::protocol::TCP)
    };
    tx.send_with(
        &meta,
        hl + payload.len(),
        &mut |buf| {
            buf[hl..].copy_from_slice(payload);
            r.emit_header(buf);
        },
        now,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::harness::{opts, Conn, PEER_MSS};
    use super::*;

    fn send(c: &mut Conn, n: usize) -> usize {
        let w = c.tcb.write(&vec![7u8; n]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        w
    }

    #[test]
    fn nagle_holds_a_small_segment_while_data_is_in_flight() {
        let mut c = Conn::established(opts());
        send(&mut c, 100);
        assert_eq!(c.take().len(), 1, "nothing in flight: it goes");
        send(&mut c, 100);
        assert!(c.take().is_empty(), "waits for the ACK");
        let r = c.seg(flags::ACK, c.our_una() + 100);
        c.deliver(&r, &[]);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 100);
        assert!(out[0].r.has(flags::PSH));
    }

    #[test]
    fn minshall_nagle_sends_the_tail_of_a_write_behind_its_full_segments() {
        // A reply of a segment and a half: the half goes with the full segment, not
        // after the peer's (perhaps delayed) ACK of it.
        let mut c = Conn::established(opts());
        send(&mut c, PEER_MSS + PEER_MSS / 2);
        let out = c.take();
        assert_eq!(out.len(), 2, "the short tail is not held back");
        assert_eq!(out[1].data.len(), PEER_MSS / 2);
        // A second short write now waits for the tail's ACK: an ACK of the full segment
        // alone leaves a small segment unacknowledged.
        send(&mut c, 10);
        assert!(c.take().is_empty(), "a small segment is in flight");
        let r = c.seg(flags::ACK, c.our_una() + PEER_MSS);
        c.deliver(&r, &[]);
        assert!(
            c.take().is_empty(),
            "the earlier small segment is still unacknowledged"
        );
        let r = c.seg(flags::ACK, c.our_una() + PEER_MSS / 2);
        c.deliver(&r, &[]);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 10);
    }

    #[test]
    fn minshall_nagle_lets_a_small_segment_go_behind_full_ones_in_flight() {
        let mut c = Conn::established(opts());
        send(&mut c, 2 * PEER_MSS);
        assert_eq!(c.take().len(), 2);
        send(&mut c, 10);
        let out = c.take();
        assert_eq!(out.len(), 1, "only full segments are in flight");
        assert_eq!(out[0].data.len(), 10);
        send(&mut c, 10);
        assert!(c.take().is_empty(), "now a small one is");
    }

    fn corked() -> ConnOpts {
        ConnOpts {
            cork: true,
            nodelay: true,
            ..opts()
        }
    }

    #[test]
    fn cork_holds_a_short_segment_until_it_is_cleared() {
        let mut c = Conn::established(corked());
        send(&mut c, PEER_MSS + 100);
        let out = c.take();
        assert_eq!(out.len(), 1, "the full segment goes, nodelay or not");
        assert_eq!(out[0].data.len(), PEER_MSS);
        let r = c.seg(flags::ACK, c.our_una() + PEER_MSS);
        c.deliver(&r, &[]);
        assert!(c.take().is_empty(), "nothing in flight, still corked");
        send(&mut c, PEER_MSS - 100);
        let out = c.take();
        assert_eq!(out.len(), 1, "a segment's worth has gathered");
        assert_eq!(out[0].data.len(), PEER_MSS);
        let r = c.seg(flags::ACK, c.our_una() + PEER_MSS);
        c.deliver(&r, &[]);
        send(&mut c, 10);
        assert!(c.take().is_empty());
        c.tcb.opts.cork = false;
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "cleared: it goes (nodelay)");
        assert_eq!(out[0].data.len(), 10);
    }

    #[test]
    fn corked_data_leaves_after_the_persist_timeout_or_with_the_fin() {
        let mut c = Conn::established(corked());
        send(&mut c, 100);
        assert!(c.take().is_empty());
        let due = c
            .tcb
            .timers
            .get(Timer::Persist)
            .expect("the persist timer runs");
        assert!(due.saturating_duration_since(c.now) >= c.cfg.rto_min);
        c.now = due;
        c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "Linux's ceiling: what waits goes");
        assert_eq!(out[0].data.len(), 100);

        let mut c = Conn::established(corked());
        send(&mut c, 100);
        assert!(c.take().is_empty());
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 100);
        assert!(out[0].r.has(flags::FIN), "the FIN takes the rest along");
    }

    #[test]
    fn a_corked_tso_burst_leaves_whole_segments_only() {
        let mut c = Conn::established(corked());
        c.tx.offload = netif::Offload {
            csum: true,
            tso: true,
        };
        send(&mut c, 3 * PEER_MSS + 10);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 3 * PEER_MSS, "the 10 bytes wait");
    }

    /// Linux's probe timer sends what the cork holds (tcp_probe_timer, tcp_write_wakeup)
    /// whatever the time since the peer last spoke: it aborts only after tcp_retries2
    /// probes or the application's TCP_USER_TIMEOUT counted from the first probe. Here the
    /// persist timer's check of the time since the last segment received (the default
    /// 300 s) ends a connection that was merely idle when the application corked a write:
    /// nothing was ever outstanding, and the peer's window is open.
    #[test]
    fn corked_data_after_an_idle_spell_is_sent_not_timed_out() {
        let mut c = Conn::established(corked());
        c.now += Duration::from_secs(400);
        send(&mut c, 100);
        assert!(c.take().is_empty());
        let due = c
            .tcb
            .timers
            .get(Timer::Persist)
            .expect("the persist timer runs");
        c.now = due;
        c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(
            c.stats.user_timeouts, 0,
            "an idle connection is not a dead one"
        );
        assert_eq!(c.tcb.state, State::Established);
        let out = c.take();
        assert_eq!(out.len(), 1, "what the cork held goes");
        assert_eq!(out[0].data.len(), 100);
    }

    /// TCP_CORK's ceiling (tcp(7): "a 200 millisecond ceiling on the time for which output
    /// is corked"; the probe timer, tcp_check_probe_timer) is not put off by the peer's
    /// traffic: Linux's fast path takes in-order data without touching the probe timer
    /// (tcp_ack_probe runs only from tcp_ack's no_queue path). Here every segment from the
    /// peer that may update the window clears the persist timer and `output` arms it
    /// afresh, so a peer talking more often than once per RTO holds the corked bytes back
    /// for as long as it talks.
    #[test]
    fn the_peers_data_does_not_put_off_the_corks_ceiling() {
        let mut c = Conn::established(corked());
        send(&mut c, 100);
        assert!(c.take().is_empty());
        let corked_at = c.now;
        let mut left = None;
        for _ in 0..30 {
            c.advance(Duration::from_millis(100));
            // The peer's data, acknowledging all we sent.
            let r = c.seg(flags::ACK | flags::PSH, c.tcb.snd_max);
            c.deliver(&r, b"0123456789");
            c.peer_nxt = c.peer_nxt + 10;
            if c.take().iter().any(|s| !s.data.is_empty()) && left.is_none() {
                left = Some(c.now);
            }
        }
        let left = left.expect("3 s on, the corked bytes have left");
        assert!(
            left.saturating_duration_since(corked_at) <= Duration::from_millis(300),
            "held {:?} (the RTO is 200 ms)",
            left.saturating_duration_since(corked_at)
        );
    }

    /// Linux's loss probe sends new data through tcp_write_xmit, which calls
    /// tcp_minshall_update: a short new segment the probe sent is the one a later short
    /// segment must wait for. `on_tlp` sends it by `xmit` and leaves SND.SML where it was,
    /// so once the earlier short segment is acknowledged another short segment leaves
    /// while the probe's is still unacknowledged.
    #[test]
    fn a_short_segment_sent_by_the_loss_probe_counts_for_minshall_nagle() {
        let mut c = Conn::established(opts());
        super::super::harness::steady_path(&mut c, Duration::from_millis(100), 20);
        send(&mut c, 100);
        assert_eq!(c.take().len(), 1);
        send(&mut c, 50);
        assert!(c.take().is_empty(), "held: a short segment is in flight");
        let due = c.tcb.timers.get(Timer::Tlp).expect("a probe is armed");
        c.now = due;
        c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 50, "the probe sends the new data");
        // The first short segment is acknowledged; the probe's is not.
        let r = c.seg(flags::ACK, c.our_una() + 100);
        c.deliver(&r, &[]);
        c.take();
        send(&mut c, 10);
        assert!(
            c.take().is_empty(),
            "the probe's short segment is unacknowledged"
        );
    }

    /// The go-back-N after a timeout (no SACK) sends a segment's worth from SND.UNA, and
    /// that segment may run past SND.MAX into bytes never sent (here the 50 Nagle held):
    /// new data ending short, yet counted as a retransmission, so SND.SML stays at the end
    /// of the first short segment. Once that is acknowledged, a further short segment
    /// leaves with the new short data still unacknowledged (Linux, whose retransmissions
    /// never carry new data, sends those 50 bytes by tcp_write_xmit, updating snd_sml).
    #[test]
    fn new_bytes_in_a_timeout_retransmission_count_for_minshall_nagle() {
        let mut c = Conn::established_no_sack(opts());
        c.tcb.tlp_enabled = false;
        send(&mut c, 100);
        assert_eq!(c.take().len(), 1);
        send(&mut c, 50);
        assert!(c.take().is_empty());
        let due = c.tcb.timers.get(Timer::Rtx).expect("the RTO runs");
        c.now = due;
        c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 150, "the old 100 and the new 50");
        // A late ACK of the first 100 only.
        let r = c.seg(flags::ACK, c.our_una() + 100);
        c.deliver(&r, &[]);
        c.take();
        send(&mut c, 10);
        assert!(
            c.take().is_empty(),
            "the 50 new bytes (a short end) are unacknowledged"
        );
    }

    #[test]
    fn nodelay_sends_small_segments_at_once() {
        let mut c = Conn::established(ConnOpts {
            nodelay: true,
            ..opts()
        });
        send(&mut c, 100);
        send(&mut c, 100);
        assert_eq!(c.take().len(), 2);
    }

    #[test]
    fn the_initial_window_bounds_the_first_flight_in_whole_segments() {
        let mut c = Conn::established(opts());
        send(&mut c, 50_000);
        let out = c.take();
        assert_eq!(out.len(), INITIAL_WINDOW_SEGMENTS);
        assert!(out.iter().all(|s| s.data.len() == PEER_MSS));
        assert!(out.iter().all(|s| s.meta.gso_size.is_none()));
        let mut seq = out[0].r.seq;
        for s in &out {
            assert_eq!(s.r.seq, seq, "in sequence");
            seq = seq + s.data.len();
        }
    }

    /// RFC 6928 2: min(10 * MSS, max(2 * MSS, 14,600)): a jumbo-frame MSS starts with two
    /// segments, not ten.
    #[test]
    fn the_initial_window_is_at_most_14600_bytes_unless_two_segments_are_more() {
        assert_eq!(initial_window(1460), 14_600);
        assert_eq!(initial_window(536), 5_360);
        assert_eq!(initial_window(4_000), 14_600);
        assert_eq!(initial_window(8_960), 17_920);
        let mut c = Conn::connecting(TcpConfig::default(), opts(), 9_000);
        c.tx.pmtu = Some(9_000);
        c.tx.link_mtu = Some(9_000);
        c.take();
        c.deliver(&harness::synack(Some(8_960)), &[]);
        c.take();
        send(&mut c, 100_000);
        let out = c.take();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|s| s.data.len() == 8_960));
    }

    #[test]
    fn with_tso_new_data_leaves_in_one_frame_of_whole_segments() {
        let mut c = Conn::established(opts());
        c.tx.offload = netif::Offload {
            csum: true,
            tso: true,
        };
        send(&mut c, 50_000);
        let out = c.take();
        assert_eq!(out.len(), 1, "one burst: the initial window");
        assert_eq!(out[0].data.len(), INITIAL_WINDOW_SEGMENTS * PEER_MSS);
        assert_eq!(out[0].meta.gso_size, Some(PEER_MSS as u16));
    }

    #[test]
    fn a_tso_burst_ending_short_counts_as_a_small_segment_for_nagle() {
        let mut c = Conn::established(opts());
        c.tx.offload = netif::Offload {
            csum: true,
            tso: true,
        };
        send(&mut c, 3 * PEER_MSS + 10);
        let out = c.take();
        assert_eq!(out.len(), 1, "one burst");
        assert_eq!(out[0].data.len(), 3 * PEER_MSS + 10);
        send(&mut c, 10);
        assert!(
            c.take().is_empty(),
            "the burst's last 10 bytes are unacknowledged"
        );
    }

    /// The peer's MSS bounds our segments however small it is (RFC 9293 3.7.1), down to
    /// the floor Linux keeps against a peer asking for tiny segments to make us work
    /// (`tcp_min_snd_mss`, 48); an MSS option of 0 says nothing, as Linux ignores it, so
    /// the default 536 holds. Before, the floor was 64: a peer's MSS of 50 got 64-byte
    /// segments, more than it can take, and 0 got 64 as well.
    #[test]
    fn a_small_peer_mss_is_honoured_down_to_linuxs_floor() {
        use super::super::harness::synack;
        for (announced, want) in [(Some(50u16), 50), (Some(20), 48), (Some(0), 536)] {
            let o = ConnOpts {
                nodelay: true,
                ..opts()
            };
            let mut c = Conn::connecting(TcpConfig::default(), o, 1500);
            c.take();
            c.deliver(&synack(announced), &[]);
            assert_eq!(c.tcb.state, State::Established);
            c.take();
            c.tcb.write(&[1u8; 2000]);
            c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            let out = c.take();
            let largest = out.iter().map(|s| s.data.len()).max();
            assert_eq!(largest, Some(want), "MSS option {announced:?}");
        }
    }

    #[test]
    fn the_peer_window_limits_what_is_sent_and_a_closed_one_arms_persist() {
        let mut c = Conn::established(opts());
        c.shut_window();
        send(&mut c, 5000);
        assert!(c.take().is_empty());
        assert!(c.tcb.timers.is_set(Timer::Persist));
        let mut r = c.seg(flags::ACK, c.our_una());
        r.window = 3000;
        c.deliver(&r, &[]);
        let out = c.take();
        assert_eq!(out.iter().map(|s| s.data.len()).sum::<usize>(), 3000);
        assert!(!c.tcb.timers.is_set(Timer::Persist));
    }

    #[test]
    fn our_fin_follows_the_data_and_is_sent_once() {
        let mut c = Conn::established(ConnOpts {
            nodelay: true,
            ..opts()
        });
        c.tcb.write(b"bye");
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert!(out[0].r.has(flags::FIN));
        assert_eq!(out[0].data, b"bye");
        assert_eq!(c.tcb.state, State::FinWait1);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert!(c.take().is_empty());
    }

    #[test]
    fn the_window_we_announce_shrinks_as_the_receive_queue_fills() {
        let mut c = Conn::established(opts());
        c.data(&vec![1u8; PEER_MSS]);
        c.data(&vec![1u8; PEER_MSS]);
        let out = c.take();
        let wnd = usize::from(out.last().unwrap().r.window) << c.tcb.rcv_wscale;
        // The edge the SYN-ACK offered (65,535: the buffer's 65,536 is one byte more
        // than the field holds), not moved on by a byte (RFC 9293 3.8.6.2.2).
        assert_eq!(wnd, 65_535 - 2 * PEER_MSS);
    }
}
