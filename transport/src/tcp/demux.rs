//! Arriving TCP segments: demultiplexing to a connection, a TIME-WAIT record, a listener
//! (SYN queue, SYN cookies, accept queue) or nobody (a RST), and ICMP errors about
//! connections.

use super::api::PRESSURE_SYNACK_RETRIES;
use super::conn::{send_repr, ConnOpts, State, SynFastOpen, Tcb};
use super::cookie;
use super::wire::{self, flags, FastOpen, TcpRepr};
use super::{Role, TcpError, TcpSock, Tuple, ACK_FLUSH_MAX};
use crate::slab::SocketHandle;
use crate::Transport;
use ip::{Datagram, Delivery, IcmpErrorReport, IpTx};
use netif::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The options a listener's connection starts with: the listener's, as Linux copies the
/// listening socket, but for its `TCP_FASTOPEN` queue, which is the listener's own (Linux's
/// accepted socket reads 0).
fn child_opts(listener: ConnOpts) -> ConnOpts {
    ConnOpts {
        fastopen: 0,
        ..listener
    }
}

impl Transport {
    pub(crate) fn tcp_deliver(
        &mut self,
        tx: &mut dyn IpTx,
        d: &Datagram<'_>,
        now: Instant,
    ) -> Delivery {
        self.tcp.stats.segs_in += 1;
        let (src, dst) = (d.packet.src(), d.packet.dst());
        let bytes = d.packet.payload();
        if d.broadcast || dst.is_multicast() || tx.is_broadcast(dst) {
            self.tcp.stats.drop_broadcast += 1;
            return Delivery::Delivered;
        }
        let Ok((mut seg, payload)) = TcpRepr::parse(bytes) else {
            self.tcp.stats.drop_bad_header += 1;
            return Delivery::Delivered;
        };
        // The ECN field (RFC 3168 5), for TCP to echo a Congestion Experienced mark.
        seg.ecn = d.packet.tos() & 0b11;
        // A segment the device coalesced counts as the segments it was made of, as
        // Linux's segs_in (max(1, gso_segs)); the one above is the first of them.
        if let Some(size) = d.gso_size.filter(|&s| s > 0) {
            let more = payload.len().div_ceil(usize::from(size)).saturating_sub(1);
            self.tcp.stats.segs_in += more as u64;
        }
        if !d.csum_ok && !wire::verify_checksum(bytes, src, dst) {
            self.tcp.stats.drop_bad_checksum += 1;
            return Delivery::Delivered;
        }
        let local = SocketAddrV4::new(dst, seg.dst_port);
        let remote = SocketAddrV4::new(src, seg.src_port);
        // The SND.NXT of a TIME-WAIT connection (its application still holding it) that a
        // new incarnation's SYN takes over; or an old SYN it drops.
        let held = match self.tcp.conns.get(&(local, remote)) {
            Some(h) => self.tcp_reopen_held(h, local, &seg, now),
            None => TwVerdict::NoRecord,
        };
        let held_reopen = match held {
            TwVerdict::Handled => return Delivery::Delivered,
            TwVerdict::Reopen(old) => Some(old),
            TwVerdict::NoRecord => None,
        };
        if let Some(h) = self
            .tcp
            .conns
            .get(&(local, remote))
            .filter(|_| held_reopen.is_none())
        {
            if self.tcp_accept_overflow(h, &seg) {
                // As Linux's listen overflow: the handshake's ACK is dropped, and the
                // connection stays half-open until `accept` makes room (the peer's next
                // ACK, or its answer to our SYN-ACK's retransmission, completes it).
                self.tcp.stats.drop_accept_queue_full += 1;
                return Delivery::Delivered;
            }
            let tcp = &mut self.tcp;
            let sockets = &mut tcp.socks;
            if let Some(s) = sockets.get_mut(h) {
                let orphan = s.orphan;
                if let Role::Conn(t) = &mut s.role {
                    let flush = t.segment(
                        &tcp.cfg,
                        &seg,
                        payload,
                        tx,
                        &mut tcp.stats,
                        now,
                        tcp.batching,
                    );
                    // Listed once however many of its segments the batch holds.
                    if !flush || t.ack_listed() {
                    } else if tcp.ack_flush.len() < ACK_FLUSH_MAX {
                        t.list_batch_ack();
                        tcp.ack_flush.push(h);
                    } else {
                        t.output(&tcp.cfg, tx, &mut tcp.stats, now);
                    }
                    if orphan && t.readable_bytes() > 0 {
                        // Data for an application that has closed: nobody will read it
                        // (RFC 9293 3.10.7.4 seventh, as Linux does): reset.
                        tcp.stats.aborts_on_close += 1;
                        t.abort(tx, &mut tcp.stats, now);
                    }
                }
            }
            self.tcp.reclaim_if_pressed();
            self.tcp_settle(h, now);
            return Delivery::Delivered;
        }
        // The SND.NXT of a TIME-WAIT record a new incarnation's SYN takes over.
        let mut reopened = held_reopen;
        if self.tcp.time_wait.contains_key(&(local, remote)) {
            match self.tcp_time_wait_segment((local, remote), &seg, payload, tx, now) {
                TwVerdict::Handled => return Delivery::Delivered,
                TwVerdict::Reopen(old) => reopened = Some(old),
                TwVerdict::NoRecord => {}
            }
        }
        if let Some(l) = self.tcp_find_listener(local, remote) {
            self.tcp_listen_segment(l, local, remote, &seg, payload, reopened, tx, now);
            return Delivery::Delivered;
        }
        self.tcp.stats.drop_no_socket += 1;
        self.tcp_reset_reply(local, remote, &seg, payload.len(), tx, now);
        Delivery::Delivered
    }

    /// A bare SYN for connection `h` in TIME-WAIT whose application has not closed it yet:
    /// judged as a TIME-WAIT record would judge it (RFC 6191, RFC 9293 3.10.7.4), so that
    /// a server that read the end of the stream but has not closed yet does not refuse
    /// the client's next connection for 2 MSL (as Linux, whose tcp_time_wait hands the
    /// tuple to a timewait record whatever the application holds). A SYN that reopens
    /// closes the connection (the application has read all it will) and goes to the
    /// listener; its SND.NXT is returned (`Reopen`) for the new ISN to stay above. One
    /// that RFC 6191 drops is dropped here too, silently, as the record drops it
    /// (`Handled`); anything else is the connection's (`NoRecord`).
    fn tcp_reopen_held(
        &mut self,
        h: SocketHandle,
        local: SocketAddrV4,
        seg: &TcpRepr,
        now: Instant,
    ) -> TwVerdict {
        let bare_syn = seg.has(flags::SYN) && !seg.has(flags::ACK | flags::RST | flags::FIN);
        if !bare_syn {
            return TwVerdict::NoRecord;
        }
        let listening = self.tcp_listening(local);
        let timestamps = self.tcp.cfg.timestamps;
        let Some(t) = self.tcp.socks.get_mut(h).and_then(|s| s.tcb_mut()) else {
            return TwVerdict::NoRecord;
        };
        if t.state != State::TimeWait {
            return TwVerdict::NoRecord;
        }
        let tw = t.time_wait_record(now);
        match time_wait_syn(&tw, seg, timestamps) {
            TwSyn::Reopen if listening => {
                t.close_now();
                self.tcp_settle(h, now);
                TwVerdict::Reopen(tw.snd_nxt)
            }
            TwSyn::Drop => {
                // RFC 6191 2: "silently drop", as `tcp_time_wait_segment` does.
                count_dropped_syn(&mut self.tcp.stats, seg, tw.ts_recent);
                TwVerdict::Handled
            }
            _ => TwVerdict::NoRecord,
        }
    }

    /// Would `seg` complete the handshake of `h`, a half-open connection of a listener
    /// whose accept queue is full?
    fn tcp_accept_overflow(&self, h: SocketHandle, seg: &TcpRepr) -> bool {
        let Some(s) = self.tcp.socks.get(h) else {
            return false;
        };
        let (Some(parent), false, Some(t)) = (s.parent, s.queued, s.tcb()) else {
            return false;
        };
        t.passive
            && t.handshake_ack(seg)
            && matches!(self.tcp.socks.get(parent).map(|l| &l.role), Some(Role::Listen(q)) if q.accept_full())
    }

    /// The listener a segment from `remote` to `local` is for: one bound to `local`'s
    /// address, else one bound to the wildcard. Listeners that share an address with
    /// `SO_REUSEPORT` take the flows by their hash (every segment of a flow the same one).
    pub(super) fn tcp_find_listener(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Option<SocketHandle> {
        let v = self.tcp.listeners.get(&local.port())?;
        let bound_to = |h: SocketHandle, ip: Ipv4Addr| matches!(self.tcp.socks.get(h), Some(t) if t.local.is_some_and(|l| *l.ip() == ip));
        let in_group = |ip: Ipv4Addr| {
            let mut group = v.iter().copied().filter(move |&h| bound_to(h, ip));
            let first = group.next()?;
            let more = group.count();
            if more == 0 || !self.tcp.socks.get(first).is_some_and(|t| t.reuse_port) {
                return Some(first);
            }
            let i = self.flows.pick(local, remote, more + 1);
            v.iter().copied().filter(|&h| bound_to(h, ip)).nth(i)
        };
        in_group(*local.ip()).or_else(|| in_group(Ipv4Addr::UNSPECIFIED))
    }

    /// Does a listener take segments for `local`?
    fn tcp_listening(&self, local: SocketAddrV4) -> bool {
        self.tcp_find_listener(local, local).is_some()
    }

    /// RFC 9293 3.10.7.1: a segment for no connection gets a RST (unless it is one).
    pub(super) fn tcp_reset_reply(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
        payload_len: usize,
        tx: &mut dyn IpTx,
        now: Instant,
    ) {
        if seg.has(flags::RST) {
            return;
        }
        let r = if seg.has(flags::ACK) {
            TcpRepr {
                src_port: local.port(),
                dst_port: remote.port(),
                seq: seg.ack,
                flags: flags::RST,
                ..TcpRepr::default()
            }
        } else {
            let len =
                payload_len + usize::from(seg.has(flags::SYN)) + usize::from(seg.has(flags::FIN));
            TcpRepr {
                src_port: local.port(),
                dst_port: remote.port(),
                seq: super::Seq(0),
                ack: seg.seq + len,
                flags: flags::RST | flags::ACK,
                ..TcpRepr::default()
            }
        };
        if send_repr(tx, local, remote, &r, &[], now) {
            self.tcp.stats.segs_out += 1;
            self.tcp.stats.resets_out += 1;
        }
    }

    /// A segment for a TIME-WAIT record: answered or dropped here, or, a new
    /// incarnation's SYN by RFC 6191's rules (see `time_wait_syn`), the record goes and
    /// the SYN goes on to a listener, with the old incarnation's SND.NXT.
    pub(super) fn tcp_time_wait_segment(
        &mut self,
        key: Tuple,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> TwVerdict {
        // Only a listener can take a new incarnation: without one, the SYN is answered as
        // an old one and the record stays (as Linux). A SYN with a FIN opens nothing (the
        // listener drops it): the record does not make way for it (as `tcp_reopen_held`).
        let bare_syn = seg.has(flags::SYN) && !seg.has(flags::ACK | flags::FIN);
        let listening = bare_syn && self.tcp_listening(key.0);
        let Some(tw) = self.tcp.time_wait.get_mut(&key) else {
            return TwVerdict::NoRecord;
        };
        if seg.has(flags::RST) {
            // RFC 1337: a RST does not cut TIME-WAIT short.
            self.tcp.stats.drop_rst_ignored += 1;
            return TwVerdict::Handled;
        }
        if bare_syn {
            match time_wait_syn(tw, seg, self.tcp.cfg.timestamps) {
                TwSyn::Reopen if !listening => {}
                TwSyn::Reopen => {
                    let old = tw.snd_nxt;
                    self.tcp.time_wait.remove(&key);
                    return TwVerdict::Reopen(old);
                }
                TwSyn::Drop => {
                    // RFC 6191 2: "silently drop", leaving the old incarnation in TIME-WAIT.
                    count_dropped_syn(&mut self.tcp.stats, seg, tw.ts_recent);
                    return TwVerdict::Handled;
                }
                // Answered below as RFC 9293 3.10.7.4 answers a SYN it does not take.
                TwSyn::Old => {}
            }
        }
        if let Some((tsval, _)) = seg.timestamp.filter(|_| tw.ts_ok) {
            // RFC 7323 4.3 and 5.3 R3: a newer TSval becomes TS.Recent, echoed in our ACKs
            // and judging a new SYN (RFC 6191), only from a segment exactly where the peer
            // stands: at RCV.NXT, or its FIN again just before. "At or before RCV.NXT",
            // half the sequence space, would let one forged segment block the peer's
            // reconnection for the whole of TIME-WAIT (Linux takes only a bare ACK at
            // RCV.NXT).
            let at_edge = !seg.has(flags::SYN)
                && (seg.seq == tw.rcv_nxt
                    || (seg.has(flags::FIN) && payload.is_empty() && seg.seq + 1 == tw.rcv_nxt));
            if at_edge && !ts_older(tsval, tw.ts_recent) {
                tw.ts_recent = tsval;
            }
        }
        if !seg.has(flags::FIN) && payload.is_empty() {
            if !seg.has(flags::SYN) && seg.seq == tw.rcv_nxt {
                // An acceptable bare ACK is not acknowledged (RFC 9293 3.10.7.4);
                // answering it could start an endless ACK exchange with a peer also in
                // TIME-WAIT.
                return TwVerdict::Handled;
            }
            // Anything else without data: answered at most once per
            // `invalid_ratelimit` (RFC 5961 7), as a connection does.
            let limit = self.tcp.cfg.invalid_ratelimit;
            if tw.last_oow_ack.is_some_and(|t| now < t + limit) {
                self.tcp.stats.oow_acks_limited += 1;
                return TwVerdict::Handled;
            }
            tw.last_oow_ack = Some(now);
        }
        let tw = *tw;
        if seg.has(flags::FIN) {
            // The peer's FIN again (our ACK of it was lost): 2MSL starts over, and the ACK
            // goes again.
            self.tcp
                .time_wait
                .restart(&key, now + self.tcp.cfg.time_wait);
        }
        let r = TcpRepr {
            src_port: key.0.port(),
            dst_port: key.1.port(),
            seq: tw.snd_nxt,
            ack: tw.rcv_nxt,
            flags: flags::ACK,
            // The window the connection last announced (RFC 9293 3.8.6: not shrunk), and
            // the timestamps it negotiated (RFC 7323 3.2: on every segment but a RST).
            window: tw.window,
            timestamp: tw.timestamp(now),
            ..TcpRepr::default()
        };
        self.tcp.stats.dup_segments += 1;
        if send_repr(tx, key.0, key.1, &r, &[], now) {
            self.tcp.stats.segs_out += 1;
        }
        TwVerdict::Handled
    }

    /// RFC 9293 3.10.7.2: a segment for a listener. `reopened`: the SND.NXT of the
    /// TIME-WAIT record this SYN took the tuple from.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tcp_listen_segment(
        &mut self,
        l: SocketHandle,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
        payload: &[u8],
        reopened: Option<super::Seq>,
        tx: &mut dyn IpTx,
        now: Instant,
    ) {
        if seg.has(flags::RST) {
            // RFC 9293 3.10.7.2: a listener has nothing to reset.
            self.tcp.stats.drop_rst_ignored += 1;
            return;
        }
        if seg.has(flags::ACK) {
            if !seg.has(flags::SYN) && self.tcp_cookie_ack(l, local, remote, seg, payload, tx, now)
            {
                return;
            }
            self.tcp.stats.drop_listen_bad += 1;
            self.tcp_reset_reply(local, remote, seg, 0, tx, now);
            return;
        }
        // SYN and FIN together make sense in no state: a scanner's probe (Linux discards
        // it at a listener too).
        if !seg.has(flags::SYN) || seg.has(flags::FIN) {
            self.tcp.stats.drop_listen_bad += 1;
            return;
        }
        let syn_backlog = self.tcp.cfg.syn_backlog;
        // No slot for a half-open connection: the socket table is full, or half-open
        // connections (of all listeners together) hold half of it already, so that a SYN
        // flood spread over several listeners cannot take the slots their established
        // connections need (a cookie's among them).
        let table_full = self.socket_room().is_err();
        let no_slot = table_full || self.tcp_half_open() >= self.cfg.max_sockets / 2;
        let (opts, reuse, pressure, fo_pending) = {
            let Ok(s) = self.tcp(l) else { return };
            let Role::Listen(q) = &s.role else { return };
            if q.accept_full() {
                self.tcp.stats.drop_accept_queue_full += 1;
                return;
            }
            let limit = syn_backlog.min(q.backlog.max(16) * 2);
            // A SYN that took a TIME-WAIT record's tuple needs an ISN above the old
            // SND.NXT, which a cookie cannot give: it gets a half-open connection beyond
            // the queue's bounds (as Linux's tcp_conn_request with a `tcp_tw_isn`; each
            // such SYN uses up a record). Only a full table still answers it as any other
            // SYN (the record is gone: its retransmission would meet the same).
            if (q.embryonic >= limit || no_slot) && (reopened.is_none() || table_full) {
                let opts = s.opts;
                if self.tcp.cfg.syn_cookies {
                    self.tcp_cookie_syn_ack(local, remote, seg, opts, tx, now);
                } else if table_full {
                    self.tcp.stats.drop_socket_table_full += 1;
                } else {
                    self.tcp.stats.drop_syn_queue_full += 1;
                }
                return;
            }
            (
                s.opts,
                (s.reuse_addr, s.reuse_port),
                q.embryonic >= limit / 2,
                q.fastopen_pending,
            )
        };
        if pressure {
            self.tcp_syn_queue_pressure(l, now);
        }
        let mtu = super::conn::open_mtus(tx, *remote.ip());
        let iss = super::isn::above(self.tcp.isn.isn(local, remote, now), reopened);
        let ts_offset = self.tcp.isn.ts_offset(local, remote);
        let fo = self.tcp_fastopen_syn(local, remote, seg, payload, opts.fastopen, fo_pending);
        let fo_child = matches!(fo, SynFastOpen::Data(_));
        let opts = child_opts(opts);
        let mut child = TcpSock::new(opts);
        child.local = Some(local);
        (child.reuse_addr, child.reuse_port) = reuse;
        child.parent = Some(l);
        if fo_child {
            child.fo_parent = Some(l);
        }
        let tcb = {
            let Transport { tcp, .. } = self;
            Tcb::accept_syn(
                &tcp.cfg,
                local,
                remote,
                seg,
                fo,
                iss,
                ts_offset,
                mtu,
                opts,
                tx,
                &mut tcp.stats,
                now,
            )
        };
        let mut tcb = tcb;
        tcb.attach_mem(self.tcp.mem.clone());
        if pressure {
            tcb.limit_synack_retries(PRESSURE_SYNACK_RETRIES, now);
        }
        child.role = Role::Conn(Box::new(tcb));
        let Some(h) = self.tcp_insert(child, tx, now) else {
            self.tcp.stats.drop_socket_table_full += 1;
            return;
        };
        self.tcp.stats.passive_opens += 1;
        self.tcp.conns.insert((local, remote), h);
        if let Ok(s) = self.tcp(l) {
            if let Role::Listen(q) = &mut s.role {
                q.embryonic += 1;
                q.fastopen_pending += usize::from(fo_child);
            }
        }
        if fo_child {
            // The application has it at once, with the SYN's data to read (RFC 7413
            // 4.2.2), as Linux queues a Fast Open child in SYN-RECEIVED.
            self.tcp.stats.fastopen_passive += 1;
            if let Ok(s) = self.tcp(h) {
                s.queued = true;
            }
            self.tcp_child_ready(Some(l), h);
        }
        self.tcp_settle(h, now);
    }

    /// What listener `l`'s answer to `syn` does with its Fast Open option (RFC 7413 4.2),
    /// `fastopen` being the listener's queue length (0: off) and `pending` the Fast Open
    /// connections it has in SYN-RECEIVED. A request gets a cookie; a cookie that does
    /// not check gets a good one, and its data waits for the handshake's end (4.2.2:
    /// MUST NOT take it); a valid one with data has the data taken while the queue has
    /// room.
    fn tcp_fastopen_syn<'a>(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr,
        payload: &'a [u8],
        fastopen: usize,
        pending: usize,
    ) -> SynFastOpen<'a> {
        let Some(fo) = syn.fastopen.filter(|_| fastopen > 0) else {
            return SynFastOpen::None;
        };
        let ours = self.tcp.isn.fastopen_cookie(*remote.ip(), *local.ip());
        let stats = &mut self.tcp.stats;
        if !fo.is_request() && !same_cookie(fo.bytes(), &ours) {
            stats.fastopen_bad_cookies += 1;
        } else if !fo.is_request() {
            if payload.is_empty() {
                return SynFastOpen::None;
            }
            if pending < fastopen {
                return SynFastOpen::Data(payload);
            }
            stats.fastopen_overflows += 1;
            return SynFastOpen::None;
        }
        stats.fastopen_cookies_sent += 1;
        match FastOpen::cookie(&ours) {
            // Answered in the encoding the client used (Linux's clients try the
            // experimental one after a SYN-ACK that had no cookie).
            Some(c) if fo.exp => SynFastOpen::Cookie(c.experimental()),
            Some(c) => SynFastOpen::Cookie(c),
            None => SynFastOpen::None,
        }
    }

    /// Half-open connections of all listeners together.
    fn tcp_half_open(&self) -> usize {
        self.tcp
            .listeners
            .values()
            .flatten()
            .filter_map(|&h| match self.tcp.socks.get(h).map(|s| &s.role) {
                Some(Role::Listen(q)) => Some(q.embryonic),
                _ => None,
            })
            .sum()
    }

    /// Half of listener `l`'s SYN queue is taken: each of its half-open connections gets
    /// [`PRESSURE_SYNACK_RETRIES`] SYN-ACK retransmissions, and those that have had them
    /// go, so entries whose peer never answers (a spoofed source, or one that never
    /// resolves by ARP) leave within 3 s. Done once each time the queue reaches the mark.
    pub(super) fn tcp_syn_queue_pressure(&mut self, l: SocketHandle, now: Instant) {
        let syn_backlog = self.tcp.cfg.syn_backlog;
        let at_mark = matches!(
            self.tcp_ref(l).map(|s| &s.role),
            Ok(Role::Listen(q)) if q.embryonic == syn_backlog.min(q.backlog.max(16) * 2) / 2
        );
        if !at_mark {
            return;
        }
        let mut changed = Vec::new();
        for (h, t) in self.tcp.socks.iter_mut() {
            if t.parent == Some(l) && !t.queued {
                if let Some(c) = t.tcb_mut() {
                    c.limit_synack_retries(PRESSURE_SYNACK_RETRIES, now);
                    changed.push(h);
                }
            }
        }
        // Those due at once are filed under their new deadline.
        for h in changed {
            self.tcp_schedule(h);
        }
    }

    /// The SYN queue is full: answer `syn` with a SYN-ACK whose ISN is a SYN cookie
    /// (RFC 4987 3.6) and keep nothing.
    pub(super) fn tcp_cookie_syn_ack(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr,
        opts: ConnOpts,
        tx: &mut dyn IpTx,
        now: Instant,
    ) {
        let Transport { tcp, .. } = self;
        super::conn::count_wscale_error(syn, &mut tcp.stats);
        // ECN as `take_syn_options` would agree to it for a listener's connection.
        let ecn = tcp.cfg.ecn != super::EcnMode::Off && super::conn::ecn_setup_syn(syn);
        let o = cookie::Options::answer(
            tcp.cfg.timestamps,
            syn.wscale,
            syn.sack_permitted,
            syn.timestamp.is_some(),
            ecn,
        );
        let ours = Tcb::announced(&opts);
        let cookie = tcp
            .cookies
            .make(local, remote, syn.seq.0, syn.mss, o, ours, now);
        let agreed = cookie::Agreed {
            mss: cookie::MSS_TABLE[cookie::mss_index(syn.mss)],
            opts: o,
        };
        let mtu = super::conn::open_mtus(tx, *remote.ip());
        // The connection's timestamp clock, moved back so that the SYN-ACK's TSval is the
        // one carrying the options.
        let offset = tcp.isn.ts_offset(local, remote);
        let clock = (now.total_millis() as u32).wrapping_add(offset);
        let offset = offset.wrapping_sub(clock.wrapping_sub(o.tsval(clock)));
        // The SYN-RECEIVED state the cookie stands for, built only to send its SYN-ACK.
        let peer_tsval = syn.timestamp.map(|(v, _)| v);
        let mut t = Tcb::from_cookie(
            &tcp.cfg, local, remote, syn.seq, cookie, agreed, peer_tsval, offset, mtu, opts, now,
        );
        t.send_syn(tx, &mut tcp.stats, now);
        tcp.stats.syncookies_sent += 1;
        tcp.cookie_sent_at = Some(now);
    }

    /// An ACK to listener `l` that may complete a handshake answered with a SYN cookie:
    /// if its cookie is valid, the connection is made straight into the accept queue and
    /// the segment processed (true). False when it is no cookie's ACK (then it gets a RST).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tcp_cookie_ack(
        &mut self,
        l: SocketHandle,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> bool {
        // Check only while a cookie we sent may still be valid.
        let recent = self
            .tcp
            .cookie_sent_at
            .is_some_and(|t| now.saturating_duration_since(t) < cookie::MAX_AGE);
        if !recent {
            return false;
        }
        let irs = seg.seq - 1;
        let iss = (seg.ack - 1).0;
        // With timestamps off here a TSopt is ignored (RFC 7323 3.2): no option rides in it.
        let tsecr = seg
            .timestamp
            .filter(|_| self.tcp.cfg.timestamps)
            .map(|(_, ecr)| ecr);
        let Ok(s) = self.tcp(l) else { return false };
        let ours = Tcb::announced(&s.opts);
        let Some(agreed) = self
            .tcp
            .cookies
            .check(local, remote, irs.0, iss, tsecr, ours, now)
        else {
            self.tcp.stats.syncookies_failed += 1;
            return false;
        };
        let (opts, reuse) = {
            let Ok(s) = self.tcp(l) else { return false };
            let Role::Listen(q) = &s.role else {
                return false;
            };
            if q.accept_full() {
                // The peer believes it is connected; its data will be retransmitted, and
                // its ACK checked again while the cookie lives.
                self.tcp.stats.drop_accept_queue_full += 1;
                return true;
            }
            (child_opts(s.opts), (s.reuse_addr, s.reuse_port))
        };
        let mtu = super::conn::open_mtus(tx, *remote.ip());
        let ts_offset = self.tcp.isn.ts_offset(local, remote);
        let peer_tsval = seg
            .timestamp
            .filter(|_| self.tcp.cfg.timestamps)
            .map(|(v, _)| v);
        let mut tcb = Tcb::from_cookie(
            &self.tcp.cfg,
            local,
            remote,
            irs,
            iss,
            agreed,
            peer_tsval,
            ts_offset,
            mtu,
            opts,
            now,
        );
        tcb.attach_mem(self.tcp.mem.clone());
        let mut child = TcpSock::new(opts);
        child.local = Some(local);
        (child.reuse_addr, child.reuse_port) = reuse;
        child.parent = Some(l);
        child.role = Role::Conn(Box::new(tcb));
        let Some(h) = self.tcp_insert(child, tx, now) else {
            self.tcp.stats.drop_socket_table_full += 1;
            return true;
        };
        self.tcp.stats.syncookies_recv += 1;
        self.tcp.stats.passive_opens += 1;
        self.tcp.conns.insert((local, remote), h);
        if let Ok(s) = self.tcp(l) {
            if let Role::Listen(q) = &mut s.role {
                // Counted as half-open for a moment: `tcp_settle` moves it to the accept
                // queue (or drops it) and takes the count back.
                q.embryonic += 1;
            }
        }
        let tcp = &mut self.tcp;
        let sockets = &mut tcp.socks;
        if let Some(s) = sockets.get_mut(h) {
            if let Role::Conn(t) = &mut s.role {
                // Not batched: whatever it owes goes now.
                t.segment(&tcp.cfg, seg, payload, tx, &mut tcp.stats, now, false);
                if t.state == State::SynReceived {
                    // Not completed (it cannot be, with a valid cookie): no timer would
                    // ever remove it.
                    t.abort(tx, &mut tcp.stats, now);
                }
            }
        }
        self.tcp_settle(h, now);
        true
    }

    /// An ICMP error about a segment we sent. Only one quoting a sequence number we have
    /// outstanding is believed (RFC 5927 4.1); a "fragmentation needed" then lowers the
    /// connection's MSS and the path's MTU in `ip`'s cache (RFC 1191).
    pub(crate) fn tcp_icmp_error(
        &mut self,
        tx: &mut dyn IpTx,
        r: &IcmpErrorReport<'_>,
        now: Instant,
    ) {
        use ip::icmp::{kind as k, unreach as u};
        let Some(ports) = r.orig_payload.get(..8) else {
            return;
        };
        let local = SocketAddrV4::new(r.orig_src, u16::from_be_bytes([ports[0], ports[1]]));
        let remote = SocketAddrV4::new(r.orig_dst, u16::from_be_bytes([ports[2], ports[3]]));
        let Some(h) = self.tcp.conns.get(&(local, remote)) else {
            self.tcp.stats.icmp_ignored += 1;
            return;
        };
        let seq = super::Seq(u32::from_be_bytes([ports[4], ports[5], ports[6], ports[7]]));
        let frag_needed = (r.kind, r.code) == (k::DEST_UNREACHABLE, u::FRAG_NEEDED);
        let err = match (r.kind, r.code) {
            _ if frag_needed => None,
            // Codes past RFC 1812's last (15, precedence cutoff) mean nothing yet: ignored,
            // as Linux's tcp_v4_err does, rather than taken for a host unreachable.
            (k::DEST_UNREACHABLE, c) if c > LAST_UNREACH_CODE => {
                self.tcp.stats.icmp_ignored += 1;
                return;
            }
            (k::DEST_UNREACHABLE, u::PORT | u::PROTOCOL) => Some(TcpError::Refused),
            (k::DEST_UNREACHABLE, u::NET) => Some(TcpError::NetUnreachable),
            (k::DEST_UNREACHABLE, _) | (k::TIME_EXCEEDED, _) => Some(TcpError::HostUnreachable),
            // RFC 1122 4.2.3.9: passed to the application (a soft error once established,
            // the end of a connection being opened, as on Linux).
            (k::PARAMETER_PROBLEM, _) => Some(TcpError::ProtocolError),
            _ => {
                self.tcp.stats.icmp_ignored += 1;
                return;
            }
        };
        let tcp = &mut self.tcp;
        let Some(t) = tcp.socks.get_mut(h).and_then(|s| s.tcb_mut()) else {
            return;
        };
        if !t.seq_outstanding(seq) {
            tcp.stats.icmp_ignored += 1;
            if frag_needed {
                tcp.stats.pmtu_forged += 1;
            }
            return;
        }
        let ends_request = matches!(
            (r.kind, r.code),
            (k::DEST_UNREACHABLE, u::NET | u::HOST) | (k::TIME_EXCEEDED | k::PARAMETER_PROBLEM, _)
        );
        match err {
            Some(e) => t.icmp_error(e, ends_request),
            None => {
                // The next-hop MTU sits in the low 16 bits of the ICMP header's second
                // word (RFC 1191 4).
                let mtu = (r.info & 0xffff) as usize;
                let quoted = usize::from(r.orig_total_len);
                t.path_mtu(&tcp.cfg, mtu, quoted, tx, &mut tcp.stats, now);
            }
        }
        self.tcp_settle(h, now);
    }
}

/// The last Destination Unreachable code defined (RFC 1812 5.2.7.1: 15, precedence
/// cutoff in effect).
const LAST_UNREACH_CODE: u8 = 15;

/// What became of a segment for a TIME-WAIT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TwVerdict {
    /// Answered or dropped.
    Handled,
    /// A new incarnation's SYN: the record is gone; the old incarnation's SND.NXT.
    Reopen(super::Seq),
    /// There was no record.
    NoRecord,
}

/// What a TIME-WAIT record does with a SYN (RFC 6191 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TwSyn {
    /// A new incarnation: the record goes and the SYN is the listener's.
    Reopen,
    /// An old duplicate, by its timestamp: silently dropped.
    Drop,
    /// An old duplicate by its sequence number, on a connection without timestamps:
    /// answered as before (an ACK, rate-limited).
    Old,
}

/// Does a client's cookie match ours? In time that does not depend on where they differ.
fn same_cookie(theirs: &[u8], ours: &[u8; 8]) -> bool {
    theirs.len() == ours.len() && theirs.iter().zip(ours).fold(0, |d, (a, b)| d | (a ^ b)) == 0
}

/// Is TSval `a` older than `b` (compared modulo 2^32, RFC 7323 5.2)?
fn ts_older(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// RFC 6191 2: may a SYN reopen the tuple of TIME-WAIT record `tw`? When the old
/// connection used timestamps, a SYN that would use them too is judged by its TSval: newer
/// than the last one seen (TS.Recent) reopens whatever its sequence number (a client whose
/// new ISN fell below the old one is not locked out for 2 MSL), equal reopens only with a
/// higher sequence number, older is dropped; a SYN that would not use them reopens with a
/// higher sequence number, and anything else is dropped. When it did not, the sequence
/// number rule of RFC 1122 4.2.2.13 alone applies (a higher one reopens). RFC 6191 would
/// there also take any SYN offering timestamps; not here, since a connection that
/// negotiated them still takes segments without them (`ts_missing`), so the old
/// connection's unstamped duplicates would reach the new one. `timestamps`: this host
/// answers a timestamp offer (so the new incarnation would use them).
fn time_wait_syn(tw: &super::TimeWait, syn: &TcpRepr, timestamps: bool) -> TwSyn {
    let higher_seq = syn.seq.gt(tw.rcv_nxt);
    if !tw.ts_ok {
        return if higher_seq {
            TwSyn::Reopen
        } else {
            TwSyn::Old
        };
    }
    match syn.timestamp.filter(|_| timestamps) {
        Some((tsval, _)) if tsval == tw.ts_recent && higher_seq => TwSyn::Reopen,
        Some((tsval, _)) if tsval != tw.ts_recent && !ts_older(tsval, tw.ts_recent) => {
            TwSyn::Reopen
        }
        Some(_) => TwSyn::Drop,
        None if higher_seq => TwSyn::Reopen,
        None => TwSyn::Drop,
    }
}

/// Count a SYN that TIME-WAIT drops (RFC 6191 2): caught by PAWS if its TSval is older
/// than TS.Recent, else an old duplicate.
fn count_dropped_syn(stats: &mut super::TcpStats, seg: &TcpRepr, ts_recent: u32) {
    if seg.timestamp.is_some_and(|(v, _)| ts_older(v, ts_recent)) {
        stats.drop_paws += 1;
    } else {
        stats.dup_segments += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{Seq, TimeWait};

    fn record(ts_ok: bool) -> TimeWait {
        TimeWait {
            snd_nxt: Seq(1000),
            rcv_nxt: Seq(5000),
            expires: Instant::ZERO,
            last_oow_ack: None,
            ts_offset: 0,
            ts_recent: 100,
            window: 0,
            ts_ok,
            reuse_addr: false,
            reuse_port: false,
        }
    }

    fn syn(seq: u32, ts: Option<u32>) -> TcpRepr {
        TcpRepr {
            seq: Seq(seq),
            flags: flags::SYN,
            timestamp: ts.map(|v| (v, 0)),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn rfc_6191_rules() {
        use TwSyn::*;
        let tw = record(true);
        // Newer TSval: reopens below or above the old sequence space.
        assert_eq!(time_wait_syn(&tw, &syn(10, Some(101)), true), Reopen);
        assert_eq!(time_wait_syn(&tw, &syn(9000, Some(101)), true), Reopen);
        // Across the wrap of the timestamp clock.
        let mut wrapped = record(true);
        wrapped.ts_recent = u32::MAX - 5;
        assert_eq!(time_wait_syn(&wrapped, &syn(10, Some(3)), true), Reopen);
        // Equal: only with a higher sequence number.
        assert_eq!(time_wait_syn(&tw, &syn(9000, Some(100)), true), Reopen);
        assert_eq!(time_wait_syn(&tw, &syn(5000, Some(100)), true), Drop);
        // Older: dropped whatever its sequence number.
        assert_eq!(time_wait_syn(&tw, &syn(9000, Some(1)), true), Drop);
        // Without timestamps (in the SYN, or not answered here): the sequence number.
        assert_eq!(time_wait_syn(&tw, &syn(9000, None), true), Reopen);
        assert_eq!(time_wait_syn(&tw, &syn(10, None), true), Drop);
        assert_eq!(time_wait_syn(&tw, &syn(10, Some(101)), false), Drop);
        assert_eq!(time_wait_syn(&tw, &syn(9000, Some(1)), false), Reopen);
        // An old connection without timestamps: the sequence number alone.
        let plain = record(false);
        assert_eq!(time_wait_syn(&plain, &syn(9000, Some(1)), true), Reopen);
        assert_eq!(time_wait_syn(&plain, &syn(10, Some(101)), true), Old);
        assert_eq!(time_wait_syn(&plain, &syn(5000, None), true), Old);
    }

    #[test]
    fn a_time_wait_record_stays_small() {
        // Up to 8,192 of them by default (`max_time_wait`): 32 bytes before it kept
        // timestamps and a window, 48 with them.
        assert!(std::mem::size_of::<TimeWait>() <= 48);
    }
}
