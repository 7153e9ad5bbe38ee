//! TCP sockets in TCP's table: the calls of the socket API, the bookkeeping after each
//! change of state, and the timers. Arriving segments are in `demux`.

use super::conn::{ConnOpts, State, Tcb};
use super::{Listener, Role, TcpError, TcpSock, TcpStats, TimeWait, Tuple};
use crate::slab::SocketHandle;
use crate::{loopback_source_leaves, Transport, TransportError, LOOPBACK_SOURCE};
use ip::{IpTx, SendError};
use netif::{Instant, TraceLayers};
use std::cmp::Reverse;
use std::net::{Ipv4Addr, SocketAddrV4};

/// SYN-ACK retransmissions of a half-open connection while its listener's SYN queue is at
/// least half full (a timeout after 1 + 2 s).
pub(super) const PRESSURE_SYNACK_RETRIES: u32 = 1;

impl Transport {
    pub(super) fn conn_opts(&self) -> ConnOpts {
        ConnOpts {
            nodelay: false,
            cork: false,
            keepalive: false,
            keep_idle: 0,
            keep_interval: 0,
            keep_count: 0,
            rcvbuf: self.tcp.cfg.rcvbuf,
            rcvbuf_max: self
                .tcp
                .cfg
                .rcvbuf_max
                .max(self.tcp.cfg.rcvbuf)
                .min(super::conn::MAX_RCVBUF),
            sndbuf: self.tcp.cfg.sndbuf,
            user_timeout: None,
            congestion: self.tcp.cfg.congestion,
            ttl: None,
            tos: 0,
            pmtu: ip::PmtuMode::Want,
            recverr: false,
            fastopen: 0,
        }
    }

    pub fn tcp_open(&mut self) -> Result<SocketHandle, TransportError> {
        self.socket_room()?;
        let s = TcpSock::new(self.conn_opts());
        self.tcp
            .socks
            .insert(Box::new(s))
            .ok_or(TransportError::TooManySockets)
    }

    /// A listener's new connection, if the socket limit allows it, or once an orphan that
    /// only waits for its peer's FIN has given up its place (`tcp_reclaim_orphan`).
    pub(super) fn tcp_insert(
        &mut self,
        child: TcpSock,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Option<SocketHandle> {
        if self.socket_room().is_err() && !self.tcp_reclaim_orphan(tx, now) {
            return None;
        }
        self.tcp.socks.insert(Box::new(child))
    }

    /// The socket table is full: the orphan in FIN-WAIT-2 closest to its FIN timeout is
    /// reset, and its place goes to a new connection. Such an orphan has had all its data
    /// acknowledged and waits only for the peer's FIN (its application closed it); a
    /// client that acknowledges our FIN and never sends its own would otherwise hold a
    /// socket for the whole FIN timeout, and enough of them lock every new client out,
    /// SYN cookies or not. Linux frees the socket at once (a FIN-WAIT-2 timewait record)
    /// and resets orphans beyond `tcp_max_orphans`. Failing that, an orphan whose peer
    /// keeps its window shut goes (the one probing longest): its data would otherwise
    /// hold the socket for the whole of its probing, and a peer that never reads can
    /// leave many (Linux's `tcp_out_of_resources` resets such orphans under pressure).
    /// False if there is none.
    fn tcp_reclaim_orphan(&mut self, tx: &mut dyn IpTx, now: Instant) -> bool {
        let victim = self
            .tcp
            .socks
            .iter()
            .filter(|(_, s)| s.orphan)
            .filter_map(|(h, s)| match s.tcb() {
                Some(t) if t.state == State::FinWait2 => Some((0, t.timewait_deadline(), h)),
                Some(t) if t.peer_window_shut() => Some((1, t.persist_since(), h)),
                _ => None,
            })
            .min_by_key(|&(class, at, h)| (class, at.is_none(), at, h))
            .map(|(_, _, h)| h);
        let Some(h) = victim else {
            return false;
        };
        let Transport { tcp, .. } = self;
        if let Some(t) = tcp.socks.get_mut(h).and_then(|s| s.tcb_mut()) {
            t.abort(tx, &mut tcp.stats, now);
        }
        self.tcp.stats.orphans_reclaimed += 1;
        self.tcp_settle(h, now);
        self.socket_room().is_ok()
    }

    pub fn tcp(&mut self, h: SocketHandle) -> Result<&mut TcpSock, TransportError> {
        if self.sockets.get(h).is_some() {
            return Err(TransportError::NotSupported);
        }
        match self.tcp.socks.get_mut(h) {
            Some(t) => Ok(t),
            None => Err(TransportError::BadHandle),
        }
    }

    pub fn tcp_ref(&self, h: SocketHandle) -> Result<&TcpSock, TransportError> {
        if self.sockets.get(h).is_some() {
            return Err(TransportError::NotSupported);
        }
        match self.tcp.socks.get(h) {
            Some(t) => Ok(t),
            None => Err(TransportError::BadHandle),
        }
    }

    /// Change a TCP socket's options (its connection's too, if it has one), then send
    /// what a changed option allows (data Nagle held back, say).
    pub fn tcp_set_opts(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&mut ConnOpts),
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        self.set_opts_then(h, f, false, tx, now)
    }

    /// `TCP_NODELAY`: set on, it pushes what a cork holds back every time, even when it
    /// was already on (Linux's `__tcp_sock_set_nodelay` pushes on each set).
    pub fn tcp_set_nodelay(
        &mut self,
        h: SocketHandle,
        on: bool,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        self.set_opts_then(h, |o| o.nodelay = on, on, tx, now)
    }

    fn set_opts_then(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&mut ConnOpts),
        push_anyway: bool,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        let tcp = &mut self.tcp;
        let sockets = &mut tcp.socks;
        let Some(s) = sockets.get_mut(h) else {
            return Err(TransportError::BadHandle);
        };
        f(&mut s.opts);
        let opts = s.opts;
        if let Role::Conn(t) = &mut s.role {
            let keep_before = (t.opts.keepalive, t.opts.keep_idle);
            // TCP_NODELAY turned on: an explicit push, which a cork does not hold
            // (Linux's TCP_NAGLE_PUSH).
            let push = opts.nodelay && (push_anyway || !t.opts.nodelay) && opts.cork;
            // The receive buffer (and so the window scale) is fixed once connected. A socket
            // whose buffer is fixed (SO_RCVBUF sets the maximum to the size, as Linux locks
            // it) stops autotuning at the buffer reached, which never shrinks.
            let rcvbuf_max = if opts.rcvbuf_max <= opts.rcvbuf {
                t.rcv_buf()
            } else {
                t.opts.rcvbuf_max
            };
            // A larger send buffer has room for a writer that waits (Linux's
            // `sk_write_space` on SO_SNDBUF).
            if opts.sndbuf > t.opts.sndbuf {
                t.wake = true;
            }
            t.opts = ConnOpts {
                rcvbuf: t.opts.rcvbuf,
                rcvbuf_max,
                ..opts
            };
            // Only turning keepalive on or off, or a new idle time, moves its timer
            // (Linux's tcp_set_keepalive and tcp_sock_set_keepidle): another option set
            // while probing must not bring the next probe forward.
            // Turned on, the idle time counts from now: a connection long idle is not
            // probed at once (as Linux, checked in a namespace).
            if (opts.keepalive, opts.keep_idle) != keep_before {
                t.rearm_keepalive(&tcp.cfg, opts.keepalive && !keep_before.0, now);
            }
            t.set_congestion(opts.congestion);
            if t.state != State::Closed {
                if push {
                    t.push_corked(&tcp.cfg, tx, &mut tcp.stats, now);
                } else {
                    t.output(&tcp.cfg, tx, &mut tcp.stats, now);
                }
            }
        }
        self.tcp_settle(h, now);
        Ok(())
    }

    pub fn tcp_stats(&self) -> TcpStats {
        self.tcp.stats
    }

    pub fn tcp_config(&self) -> &super::TcpConfig {
        &self.tcp.cfg
    }

    /// What all TCP connections' receive rings and send queues have allocated, in bytes,
    /// and the bound past which TCP is under memory pressure (`TcpConfig::mem_max`).
    pub fn tcp_mem(&self) -> (usize, usize) {
        (self.tcp.mem.used(), self.tcp.mem.max())
    }

    /// Where TCP state changes are traced (`debug tcpstate`).
    pub fn set_trace(&mut self, trace: Option<netif::Trace>) {
        self.tcp.trace = trace;
    }

    /// TIME-WAIT records: (local, remote, time left at `now`).
    pub fn tcp_time_wait(
        &self,
        now: Instant,
    ) -> Vec<(SocketAddrV4, SocketAddrV4, netif::Duration)> {
        let mut v: Vec<_> = self
            .tcp
            .time_wait
            .iter()
            .map(|(k, tw)| (k.0, k.1, tw.expires.saturating_duration_since(now)))
            .collect();
        v.sort_by_key(|e| (e.0, e.1));
        v
    }

    /// Is `port` taken by a TCP socket or TIME-WAIT record that `addr` would clash with?
    /// `reuse`: SO_REUSEADDR and SO_REUSEPORT of the socket binding.
    pub(super) fn tcp_clash(
        &self,
        me: SocketHandle,
        addr: SocketAddrV4,
        (reuse, reuse_port): (bool, bool),
    ) -> bool {
        let overlap = |l: SocketAddrV4| {
            l.port() == addr.port()
                && (l.ip() == addr.ip() || l.ip().is_unspecified() || addr.ip().is_unspecified())
        };
        let sockets = self.tcp.socks.iter().any(|(h, t)| {
            h != me
                && t.holds_port()
                && t.local.is_some_and(|l| {
                    // SO_REUSEADDR on both lets a new listener share the port with the
                    // connections of an old one, never with another listener;
                    // SO_REUSEPORT on both lets any share it (Linux's inet_bind_conflict).
                    overlap(l)
                        && !(reuse && t.reuse_addr && t.state() != State::Listen)
                        && !(reuse_port && t.reuse_port)
                })
        });
        // A record keeps its socket's SO_REUSEADDR: both must have set it (Linux's
        // inet_bind_conflict with the record's tw_reuse).
        sockets
            || self.tcp.time_wait.iter().any(|((l, _), tw)| {
                overlap(*l) && !(reuse && tw.reuse_addr) && !(reuse_port && tw.reuse_port)
            })
    }

    pub fn tcp_bind(
        &mut self,
        h: SocketHandle,
        addr: SocketAddrV4,
        tx: &dyn IpTx,
    ) -> Result<SocketAddrV4, TransportError> {
        let reuse = {
            let t = self.tcp(h)?;
            if t.local.is_some() {
                return Err(TransportError::AlreadyBound);
            }
            (t.reuse_addr, t.reuse_port)
        };
        let ip = *addr.ip();
        if !ip.is_unspecified() && !tx.is_local(ip) {
            return Err(TransportError::AddrNotAvailable);
        }
        let port = if addr.port() == 0 {
            // None free: EADDRINUSE, as Linux's `__inet_bind` (and `listen`'s autobind).
            let used = crate::ports::PortSet::new(
                self.tcp
                    .socks
                    .iter()
                    .filter(|(_, t)| t.holds_port())
                    .filter_map(|(_, t)| t.local.map(|l| l.port()))
                    .chain(self.tcp.time_wait.keys().map(|(l, _)| l.port())),
            );
            self.ephemeral_port(|_, p| used.contains(p))
                .map_err(|_| TransportError::AddrInUse)?
        } else {
            addr.port()
        };
        let addr = SocketAddrV4::new(ip, port);
        if self.tcp_clash(h, addr, reuse) {
            return Err(TransportError::AddrInUse);
        }
        self.tcp(h)?.local = Some(addr);
        Ok(addr)
    }

    pub fn tcp_listen(
        &mut self,
        h: SocketHandle,
        backlog: usize,
        tx: &dyn IpTx,
    ) -> Result<(), TransportError> {
        // As Linux: a backlog of N holds N + 1 established connections (`accept_full`),
        // and no more than the configured maximum (`somaxconn`) is taken.
        let backlog = backlog.min(self.tcp.cfg.max_backlog);
        match &mut self.tcp(h)?.role {
            Role::Listen(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            Role::Conn(_) => return Err(TransportError::Invalid("socket is connected")),
            Role::Idle => {}
        }
        if self.tcp(h)?.local.is_none() {
            self.tcp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), tx)?;
        }
        let local = self.tcp(h)?.local;
        if let Some(l) = local {
            // SO_REUSEADDR lets a listener share its port with connections, never with
            // another listener on an overlapping address (Linux: EADDRINUSE); SO_REUSEPORT
            // on both does.
            let reuse_port = self.tcp(h)?.reuse_port;
            let taken = self.tcp.listeners.get(&l.port()).is_some_and(|v| {
                v.iter().any(|&o| {
                    o != h
                        && matches!(self.tcp.socks.get(o), Some(t) if !(reuse_port && t.reuse_port) && t.local.is_some_and(|ol| {
                            ol.ip() == l.ip() || ol.ip().is_unspecified() || l.ip().is_unspecified()
                        }))
                })
            });
            if taken {
                return Err(TransportError::AddrInUse);
            }
        }
        let t = self.tcp(h)?;
        let port = t.local.map_or(0, |l| l.port());
        // Listening again after a shutdown of the listening.
        t.shut_read = false;
        t.role = Role::Listen(Listener {
            backlog,
            accept: Default::default(),
            embryonic: 0,
            fastopen_pending: 0,
        });
        self.tcp.listeners.entry(port).or_default().push(h);
        Ok(())
    }

    /// Take an established connection from a listener's queue.
    pub fn tcp_accept(
        &mut self,
        h: SocketHandle,
    ) -> Result<Option<(SocketHandle, SocketAddrV4)>, TransportError> {
        let Role::Listen(l) = &mut self.tcp(h)?.role else {
            return Err(TransportError::Invalid("socket is not listening"));
        };
        let Some(child) = l.accept.pop_front() else {
            return Ok(None);
        };
        let c = self.tcp(child)?;
        c.parent = None;
        c.queued = false;
        let remote = c.remote().ok_or(TransportError::BadHandle)?;
        Ok(Some((child, remote)))
    }

    /// Start an active open: the SYN leaves now; `tcp_connected` tells when it is done.
    pub fn tcp_connect(
        &mut self,
        h: SocketHandle,
        remote: SocketAddrV4,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        self.tcp_open_active(h, remote, None, tx, now)
    }

    /// An active open with TCP Fast Open (RFC 7413 4.1, Linux's `sendto` with
    /// `MSG_FASTOPEN`): `data` is queued (as much as the send buffer takes: the count is
    /// returned) and, when the server gave a cookie to an earlier connection, rides in
    /// the SYN with it as far as the server's MSS allows; otherwise the SYN asks for a
    /// cookie and the data follows the handshake. Data the SYN-ACK does not acknowledge
    /// goes again at once.
    pub fn tcp_connect_fastopen(
        &mut self,
        h: SocketHandle,
        remote: SocketAddrV4,
        data: &[u8],
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<usize, TransportError> {
        self.tcp_open_active(h, remote, Some(data), tx, now)?;
        Ok(self.tcp(h)?.tcb().map_or(0, |t| t.unsent_or_unacked()))
    }

    fn tcp_open_active(
        &mut self,
        h: SocketHandle,
        remote: SocketAddrV4,
        fo_data: Option<&[u8]>,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        let s = self.tcp(h)?;
        match &mut s.role {
            Role::Idle => {}
            // Linux's EISCONN (`__inet_stream_connect` for a socket not CLOSE).
            Role::Listen(_) => return Err(TransportError::AlreadyConnected),
            Role::Conn(t) if t.state == State::SynSent => return Err(TransportError::InProgress),
            // A connection that failed or ended may be replaced by a new one; a failure
            // not yet reported is reported first (as Linux's connect says ECONNREFUSED
            // after a refused non-blocking connect, and only the next call tries again).
            Role::Conn(t) if t.state == State::Closed => {
                if let Some(e) = t.error.take().or_else(|| s.ended.take()) {
                    return Err(TransportError::Tcp(e));
                }
            }
            Role::Conn(_) => return Err(TransportError::AlreadyConnected),
        }
        if remote.ip().is_unspecified() {
            return Err(TransportError::Invalid("0.0.0.0 is not a destination"));
        }
        if remote.port() == 0 {
            return Err(TransportError::Invalid("port 0 is not a destination"));
        }
        if tx.is_broadcast(*remote.ip()) || remote.ip().is_multicast() {
            // No connection to many hosts: Linux's tcp_v4_connect says ENETUNREACH.
            return Err(TransportError::Send(SendError::NoRoute));
        }
        let (src, _) = tx
            .route_info(*remote.ip())
            .ok_or(TransportError::Send(SendError::NoRoute))?;
        let mtu = super::conn::open_mtus(tx, *remote.ip());
        let bound = Some(self.tcp(h)?)
            .filter(|t| t.holds_port())
            .and_then(|t| t.local);
        let local_ip = match bound {
            Some(l) if !l.ip().is_unspecified() => *l.ip(),
            _ => src,
        };
        if loopback_source_leaves(local_ip, *remote.ip(), tx) {
            return Err(LOOPBACK_SOURCE);
        }
        let port = match bound {
            Some(l) => l.port(),
            None => {
                // Ports other sockets were bound to, connected since or not: never
                // taken (Linux's __inet_hash_connect skips bound ports). Sorted, once each
                // (a listener's connections all hold its port).
                let held = crate::ports::PortSet::new(
                    self.tcp
                        .socks
                        .iter()
                        .filter(|(_, t)| !t.port_picked)
                        .filter_map(|(_, t)| t.local.map(|l| l.port())),
                );
                // RFC 6056: a random ephemeral port whose 4-tuple is free.
                self.ephemeral_port(|t, p| {
                    let key = (SocketAddrV4::new(local_ip, p), remote);
                    t.tcp.conns.contains_key(&key)
                        || t.tcp.time_wait.contains_key(&key)
                        || t.tcp_listening_on(p)
                        || held.contains(p)
                })?
            }
        };
        let local = SocketAddrV4::new(local_ip, port);
        if self.tcp.conns.contains_key(&(local, remote)) {
            // Another connection's 4-tuple (a port shared by SO_REUSEADDR or
            // SO_REUSEPORT): EADDRNOTAVAIL, as Linux's __inet_check_established.
            return Err(TransportError::AddrNotAvailable);
        }
        // A TIME-WAIT record of the same 4-tuple (a port bound with SO_REUSEADDR) makes
        // way for the new connection only when the old one used timestamps, so that PAWS
        // keeps the old incarnation's segments out of the new one; the ISN then starts
        // above the old sequence space (RFC 1122 4.2.2.13, RFC 6191). Without timestamps
        // the tuple stays the record's for its 2 MSL, as Linux's tcp_twsk_unique says
        // EADDRNOTAVAIL. (An ephemeral port never lands on a record: see above.)
        let key = (local, remote);
        if self.tcp.time_wait.get(&key).is_some_and(|tw| !tw.ts_ok) {
            return Err(TransportError::AddrNotAvailable);
        }
        let reused = self.tcp.time_wait.remove(&key).map(|tw| tw.snd_nxt);
        let iss = super::isn::above(self.tcp.isn.isn(local, remote, now), reused);
        let ts_offset = self.tcp.isn.ts_offset(local, remote);
        let opts = self.tcp(h)?.opts;
        let Transport { tcp, .. } = self;
        let fo = fo_data.map(|data| {
            let addrs = (local_ip, *remote.ip());
            let kept = tcp.fastopen_cache.iter().find(|e| e.addrs == addrs);
            let off = kept.is_some_and(|e| e.off_until.is_some_and(|t| now < t));
            tcp.stats.fastopen_active_off += u64::from(off);
            super::conn::ActiveFastOpen {
                data,
                cookie: kept.and_then(|e| e.cookie),
                off,
            }
        });
        let tcb = Tcb::connect(
            &tcp.cfg,
            local,
            remote,
            iss,
            ts_offset,
            mtu,
            opts,
            fo,
            tcp.mem.clone(),
            tx,
            &mut tcp.stats,
            now,
        );
        tcp.stats.active_opens += 1;
        tcp.conns.insert((local, remote), h);
        let t = self.tcp(h)?;
        t.local = Some(local);
        t.port_picked |= bound.is_none();
        t.ended = None;
        t.role = Role::Conn(Box::new(tcb));
        self.tcp_settle(h, now);
        Ok(())
    }

    pub(super) fn tcp_listening_on(&self, port: u16) -> bool {
        self.tcp.listeners.get(&port).is_some_and(|v| !v.is_empty())
    }

    /// The connection's pending error, taken (`SO_ERROR`): a reset, a timeout, a refusal
    /// not yet reported by another call.
    pub fn tcp_take_error(&mut self, h: SocketHandle) -> Result<Option<TcpError>, TransportError> {
        let s = self.tcp(h)?;
        if let Some(e) = s.ended.take() {
            return Ok(Some(e));
        }
        Ok(match &mut s.role {
            // With no hard error, the soft one (an ICMP error the connection goes on
            // after), taken: Linux's SO_ERROR falls back on `sk_err_soft` likewise.
            Role::Conn(t) => t.error.take().or_else(|| t.soft_error.take()),
            _ => None,
        })
    }

    /// Has `connect` finished? `Ok(true)` once established, the error if it failed.
    pub fn tcp_connected(&mut self, h: SocketHandle) -> Result<bool, TransportError> {
        let t = self.tcp(h)?;
        if let Some(e) = t.ended.take() {
            return Err(TransportError::Tcp(e));
        }
        match &mut t.role {
            Role::Conn(c) => {
                if let Some(e) = c.error.take() {
                    return Err(TransportError::Tcp(e));
                }
                match c.state {
                    State::SynSent | State::SynReceived => Ok(false),
                    State::Closed => Err(TransportError::Tcp(TcpError::Aborted)),
                    _ => Ok(true),
                }
            }
            _ => Err(TransportError::NotConnected),
        }
    }

    /// Queue data to send. `Ok(0)` means no room yet (or still connecting); wait for a
    /// wake-up and try again.
    pub fn tcp_send(
        &mut self,
        h: SocketHandle,
        data: &[u8],
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<usize, TransportError> {
        self.tcp_send_gather(h, [data], tx, now)
    }

    /// `tcp_send` of the pieces of `data` one after the other, as one write (`writev`):
    /// each is queued as far as it fits, the next only if all of it did, and what was
    /// queued goes out together (a small header and its body make one segment).
    pub fn tcp_send_gather<'a>(
        &mut self,
        h: SocketHandle,
        data: impl IntoIterator<Item = &'a [u8]>,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<usize, TransportError> {
        self.tcp_send_pieces(h, data, false, tx, now)
    }

    /// `tcp_send_gather` with `MSG_OOB`: what is queued is urgent data, the urgent
    /// pointer (SND.UP) just after its last byte (see `Tcb::write_urgent`).
    pub fn tcp_send_urgent<'a>(
        &mut self,
        h: SocketHandle,
        data: impl IntoIterator<Item = &'a [u8]>,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<usize, TransportError> {
        self.tcp_send_pieces(h, data, true, tx, now)
    }

    fn tcp_send_pieces<'a>(
        &mut self,
        h: SocketHandle,
        data: impl IntoIterator<Item = &'a [u8]>,
        urgent: bool,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<usize, TransportError> {
        let tcp = &mut self.tcp;
        let sockets = &mut tcp.socks;
        let Some(s) = sockets.get_mut(h) else {
            return Err(TransportError::BadHandle);
        };
        let Role::Conn(t) = &mut s.role else {
            return Err(match s.ended.take() {
                Some(e) => TransportError::Tcp(e),
                None => TransportError::SendNotConnected,
            });
        };
        if let Some(e) = t.error.take() {
            return Err(TransportError::Tcp(e));
        }
        match t.state {
            State::SynReceived if t.fo_sending() && !t.fin_queued => {}
            State::SynReceived if t.fo_child && t.fin_queued => {
                return Err(TransportError::ShutDown)
            }
            State::SynSent | State::SynReceived => return Ok(0),
            State::Established | State::CloseWait if !t.fin_queued => {}
            // Ended by the peer or a failure (its error, if any, was reported once).
            State::Closed => return Err(TransportError::ConnectionClosed),
            _ => return Err(TransportError::ShutDown),
        }
        let mut n = 0;
        for piece in data {
            let queued = if urgent {
                t.write_urgent(piece)
            } else {
                t.write(piece)
            };
            n += queued;
            if queued < piece.len() {
                break;
            }
        }
        if n > 0 {
            t.output(&tcp.cfg, tx, &mut tcp.stats, now);
        }
        self.tcp.reclaim_if_pressed();
        self.tcp_settle(h, now);
        Ok(n)
    }

    /// Keep `e`, which `tcp_send` just reported, for the connection's next call: a send
    /// that queued part of its data returns that count, and the error is the next call's
    /// (as Linux leaves it pending after a short write).
    pub fn tcp_keep_error(&mut self, h: SocketHandle, e: TcpError) {
        if let Some(s) = self.tcp.socks.get_mut(h) {
            match &mut s.role {
                Role::Conn(t) => t.error = Some(e),
                _ => s.ended = Some(e),
            }
        }
    }

    /// Read received data: `Some(0)` at end of stream, `None` when nothing is there yet.
    pub fn tcp_recv(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<Option<usize>, TransportError> {
        let mut at = 0;
        self.tcp_recv_with(
            h,
            buf.len(),
            &mut |chunk: &[u8]| {
                buf[at..at + chunk.len()].copy_from_slice(chunk);
                at += chunk.len();
                chunk.len()
            },
            tx,
            now,
        )
    }

    /// [`Transport::tcp_recv`] without a copy: up to `max` received bytes are handed to
    /// `take` where they lie in the connection's receive buffer, as one slice or two (the
    /// second only when `take` consumed all of the first); `take` returns how many bytes of
    /// its slice it consumed, and those are gone. `Some(n)`: `n` bytes consumed (0 at end
    /// of stream, or when `take` consumed none); `None` when nothing is there yet.
    pub fn tcp_recv_with(
        &mut self,
        h: SocketHandle,
        max: usize,
        take: &mut dyn FnMut(&[u8]) -> usize,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<Option<usize>, TransportError> {
        let tcp = &mut self.tcp;
        let sockets = &mut tcp.socks;
        let Some(s) = sockets.get_mut(h) else {
            return Err(TransportError::BadHandle);
        };
        let shut_read = s.shut_read;
        let Role::Conn(t) = &mut s.role else {
            return match s.ended.take() {
                Some(e) => Err(TransportError::Tcp(e)),
                None if shut_read => Ok(Some(0)),
                None => Err(TransportError::NotConnected),
            };
        };
        if t.readable_bytes() > 0 {
            let n = t.read_with(max, take);
            t.output(&tcp.cfg, tx, &mut tcp.stats, now);
            self.tcp_settle(h, now);
            return Ok(Some(n));
        }
        if t.error == Some(TcpError::ResetAfterFin) && t.at_eof() {
            // Reading ends at the FIN; the error waits for a write (or SO_ERROR).
            return Ok(Some(0));
        }
        if let Some(e) = t.error.take() {
            return Err(TransportError::Tcp(e));
        }
        if t.at_eof() || shut_read || t.state == State::Closed || max == 0 {
            return Ok(Some(0));
        }
        Ok(None)
    }

    /// Is the next byte a read returns the last byte of urgent data (`SIOCATMARK`, see
    /// `Tcb::at_mark`)? False on a socket that is not a connection.
    pub fn tcp_at_mark(&self, h: SocketHandle) -> Result<bool, TransportError> {
        match self.tcp.socks.get(h).map(|s| &s.role) {
            Some(Role::Conn(t)) => Ok(t.at_mark()),
            Some(_) => Ok(false),
            None => Err(TransportError::BadHandle),
        }
    }

    /// [`Transport::tcp_recv`] with `MSG_PEEK`: the bytes copied into `buf` stay to be
    /// read. The same results otherwise (end of stream, errors, `None` when nothing is
    /// there yet).
    pub fn tcp_peek(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<Option<usize>, TransportError> {
        if let Some(Role::Conn(t)) = self.tcp.socks.get(h).map(|s| &s.role) {
            if t.readable_bytes() > 0 {
                return Ok(Some(t.peek(buf)));
            }
        }
        // Nothing readable: no byte is handed out, so this consumes nothing.
        self.tcp_recv_with(h, buf.len(), &mut |_| 0, tx, now)
    }

    /// `shutdown`: reading ends at once (reads return 0); writing ends with a FIN after
    /// the queued data.
    pub fn tcp_shutdown(
        &mut self,
        h: SocketHandle,
        read: bool,
        write: bool,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        let tcp = &mut self.tcp;
        let sockets = &mut tcp.socks;
        let Some(s) = sockets.get_mut(h) else {
            return Err(TransportError::BadHandle);
        };
        match &mut s.role {
            Role::Conn(t) if matches!(t.state, State::Closed | State::TimeWait) => {
                // Both ways closed, or reset: as Linux, ENOTCONN. A connection in
                // TIME-WAIT is closed to its application (Linux's socket is in CLOSE
                // while the TIME-WAIT record lives on); it went on with Ok.
                s.shut_read |= read;
                return Err(TransportError::NotConnected);
            }
            // As Linux's `inet_shutdown` on a connection still in SYN-SENT, either way:
            // the attempt ends at once (nothing is sent: nothing was synchronized), the
            // waiting `connect` fails with ECONNRESET, and the socket may connect again.
            Role::Conn(t) if t.state == State::SynSent => {
                t.close_now();
                t.error = Some(TcpError::Reset);
            }
            Role::Conn(t) => {
                s.shut_read |= read;
                t.shut_read |= read;
                if write {
                    t.shutdown_write();
                    t.output(&tcp.cfg, tx, &mut tcp.stats, now);
                }
                t.wake = true;
            }
            // Shutting down a listener's reading ends the listening, as on Linux: the
            // connections it had not handed out are reset, `accept` fails from then on
            // (blocked callers are woken), and the socket may listen again. Nothing stays
            // shut: Linux's `tcp_disconnect` clears the shutdown `inet_shutdown` set, so
            // the socket is a plain one in CLOSE (polls POLLOUT | POLLHUP, reads ENOTCONN).
            Role::Listen(_) if read => {
                self.tcp_unlisten(h, tx, now);
                return Ok(());
            }
            Role::Listen(_) => return Ok(()),
            Role::Idle => return Err(TransportError::NotConnected),
        }
        self.tcp_settle(h, now);
        Ok(())
    }

    /// A listener stops listening: its unaccepted connections are reset, it leaves the
    /// demultiplexing tables and goes back to a bound, idle socket.
    fn tcp_unlisten(&mut self, h: SocketHandle, tx: &mut dyn IpTx, now: Instant) {
        let children: Vec<SocketHandle> = self
            .tcp
            .socks
            .iter()
            .filter_map(|(c, t)| (t.parent == Some(h)).then_some(c))
            .collect();
        for c in children {
            self.tcp_abort(c, tx, now);
        }
        // Accepted Fast Open connections still in SYN-RECEIVED leave its count, which a
        // new `listen` starts again at zero.
        for (_, s) in self.tcp.socks.iter_mut() {
            if s.fo_parent == Some(h) {
                s.fo_parent = None;
            }
        }
        self.tcp_forget(h);
        if let Some(s) = self.tcp.socks.get_mut(h) {
            s.role = Role::Idle;
        }
        self.wakeups.push(h);
    }

    /// The application lets go of a TCP socket. Unread data aborts the connection with a
    /// RST (RFC 9293 3.10.4 / RFC 2525 2.17); otherwise a FIN follows the queued data and
    /// the connection lives on as an orphan until the close completes.
    pub(crate) fn tcp_close(&mut self, h: SocketHandle, tx: &mut dyn IpTx, now: Instant) {
        let tcp = &mut self.tcp;
        let Some(s) = tcp.socks.get_mut(h) else {
            return;
        };
        match &mut s.role {
            Role::Idle => {
                tcp.socks.remove(h);
            }
            Role::Listen(_) => {
                // Connections nobody accepted go with their listener.
                self.tcp_unlisten(h, tx, now);
                self.tcp.socks.remove(h);
            }
            Role::Conn(t) => {
                s.orphan = true;
                t.orphan = true;
                // Unread data resets a connection that still has a peer to tell; one in
                // TIME-WAIT (both FINs acknowledged) or already closed has none, and
                // TIME-WAIT must still last its 2 MSL.
                if t.readable_bytes() > 0 && !matches!(t.state, State::TimeWait | State::Closed) {
                    tcp.stats.aborts_on_close += 1;
                    self.tcp_abort(h, tx, now);
                    return;
                }
                if t.state == State::SynSent {
                    t.abort(tx, &mut tcp.stats, now);
                } else {
                    t.shutdown_write();
                    t.output(&tcp.cfg, tx, &mut tcp.stats, now);
                }
                self.tcp_settle(h, now);
            }
        }
    }

    /// `close` with `SO_LINGER` of zero: the connection is reset at once (RST, queued data
    /// discarded) and its socket freed.
    pub fn tcp_close_abort(&mut self, h: SocketHandle, tx: &mut dyn IpTx, now: Instant) {
        match self.tcp.socks.get(h).map(|s| &s.role) {
            // TIME-WAIT (or a connection already closed) has no peer left to reset, and
            // TIME-WAIT must last its 2 MSL (RFC 1337): Linux's socket there is already
            // closed, its TIME-WAIT a separate record that SO_LINGER does not touch.
            Some(Role::Conn(t)) if !matches!(t.state, State::TimeWait | State::Closed) => {
                self.tcp.stats.aborts_on_close += 1;
                self.tcp_abort(h, tx, now);
            }
            Some(_) => self.tcp_close(h, tx, now),
            _ => {}
        }
    }

    /// The stack goes away: every TCP socket is let go of at once, and nothing is sent
    /// again after what this sends, so that no peer is left waiting:
    /// - a connection whose peer has not acknowledged all its data, that holds data its
    ///   application never read, or whose handshake is unfinished is reset (RFC 9293
    ///   3.10.5 ABORT; see `Tcb::abort`): what the peer expects will not come;
    /// - one that delivered all its data sends its FIN, once (again, if it went and is
    ///   unacknowledged): the peer's reader sees a clean end of the stream rather than a
    ///   reset after the last byte; if the peer's window is closed (it would drop the
    ///   FIN), a RST instead;
    /// - one in FIN-WAIT-2 (its data and FIN acknowledged) or TIME-WAIT: nothing.
    ///
    /// Listeners go with the connections nobody accepted (reset: no application will
    /// read what their peers send). Returns how many RSTs went out.
    pub fn tcp_abandon_all(&mut self, tx: &mut dyn IpTx, now: Instant) -> usize {
        let before = self.tcp.stats.resets_out;
        // Listeners first, so that their unaccepted connections are reset with them.
        let mut all: Vec<(bool, SocketHandle)> = self
            .tcp
            .socks
            .iter()
            .map(|(h, s)| (matches!(s.role, Role::Conn(_)), h))
            .collect();
        all.sort();
        for (_, h) in all {
            let tcp = &mut self.tcp;
            let Some(s) = tcp.socks.get_mut(h) else {
                // A listener's connection, gone with it.
                continue;
            };
            let Role::Conn(t) = &mut s.role else {
                self.tcp_close(h, tx, now);
                continue;
            };
            let incomplete = t.unsent_or_unacked() > 0
                || t.readable_bytes() > 0
                || matches!(t.state, State::SynSent | State::SynReceived);
            let fin_due = matches!(
                t.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            );
            if incomplete || (fin_due && !t.send_fin_once(tx, &mut tcp.stats, now)) {
                self.tcp_abort(h, tx, now);
                continue;
            }
            s.orphan = true;
            t.orphan = true;
            t.close_now();
            self.tcp_settle(h, now);
        }
        (self.tcp.stats.resets_out - before) as usize
    }

    /// What connection `h` still has to deliver (also after `close`, while it lives on as
    /// an orphan): `BadHandle` once it is gone.
    pub fn tcp_outstanding(&self, h: SocketHandle) -> Result<Outstanding, TransportError> {
        match self.tcp.socks.get(h) {
            Some(s) => Ok(outstanding(s)),
            _ => Err(TransportError::BadHandle),
        }
    }

    /// The connections that still have data or a FIN to deliver (those an application
    /// opened or accepted; a listener's unaccepted ones are not counted), for a graceful
    /// exit.
    pub fn tcp_undelivered(&self) -> Vec<Undelivered> {
        self.tcp
            .socks
            .iter()
            .filter_map(|(h, t)| match t.parent {
                None => {
                    let o = outstanding(t);
                    let (local, remote) = t.tcb().map(|c| (c.local, c.remote))?;
                    o.pending().then_some(Undelivered {
                        handle: h,
                        local,
                        remote,
                        outstanding: o,
                    })
                }
                Some(_) => None,
            })
            .collect()
    }

    /// Reset a connection and remove it.
    pub(super) fn tcp_abort(&mut self, h: SocketHandle, tx: &mut dyn IpTx, now: Instant) {
        let tcp = &mut self.tcp;
        let sockets = &mut tcp.socks;
        if let Some(s) = sockets.get_mut(h) {
            s.orphan = true;
            if let Role::Conn(t) = &mut s.role {
                t.abort(tx, &mut tcp.stats, now);
            }
        }
        self.tcp_settle(h, now);
    }

    /// Remove a socket's entries from the demultiplexing tables.
    pub(super) fn tcp_forget(&mut self, h: SocketHandle) {
        let Some(s) = self.tcp.socks.get(h) else {
            return;
        };
        match &s.role {
            Role::Conn(t) => {
                let key = (t.local, t.remote);
                self.tcp.conns.remove_if(&key, h);
            }
            Role::Listen(_) => {
                if let Some(port) = s.local.map(|l| l.port()) {
                    if let Some(v) = self.tcp.listeners.get_mut(&port) {
                        v.retain(|&x| x != h);
                        if v.is_empty() {
                            self.tcp.listeners.remove(&port);
                        }
                    }
                }
            }
            Role::Idle => {}
        }
    }

    /// After anything touched connection `h`: trace its state changes, hand it to its
    /// listener's accept queue, wake its owner, and drop it (or turn it into a TIME-WAIT
    /// record) once nobody needs it.
    pub(crate) fn tcp_settle(&mut self, h: SocketHandle, now: Instant) {
        self.tcp_settle_state(h, now);
        self.tcp_schedule(h);
    }

    /// File the connection under its next deadline in the timer heap if that changed.
    pub(crate) fn tcp_schedule(&mut self, h: SocketHandle) {
        if let Some(s) = self.tcp.socks.get_mut(h) {
            let at = s.tcb().and_then(|t| t.poll_at());
            if at != s.timer_at {
                s.timer_at = at;
                if let Some(at) = at {
                    self.tcp.timers.push(Reverse((at, h)));
                }
            }
        }
        // Entries left behind by rescheduled connections: rebuild once they outnumber the
        // live ones, so the heap stays within a constant factor of the connections.
        if self.tcp.timers.len() > 1024 + 4 * self.tcp.socks.len() {
            self.tcp.timers = self
                .tcp
                .socks
                .iter()
                .filter_map(|(h, t)| t.timer_at.map(|at| Reverse((at, h))))
                .collect();
        }
        // Keep the top current, so `tcp_poll_at` is exact.
        while let Some(&Reverse((at, h))) = self.tcp.timers.peek() {
            if self.tcp_timer_current(at, h) {
                break;
            }
            self.tcp.timers.pop();
        }
    }

    /// Is a heap entry still the connection's deadline?
    pub(super) fn tcp_timer_current(&self, at: Instant, h: SocketHandle) -> bool {
        matches!(self.tcp.socks.get(h), Some(t) if t.timer_at == Some(at))
    }

    pub(super) fn tcp_settle_state(&mut self, h: SocketHandle, now: Instant) {
        let Some(s) = self.tcp.socks.get_mut(h) else {
            return;
        };
        let Role::Conn(t) = &mut s.role else {
            return;
        };
        let mut established = false;
        // A Fast Open connection out of SYN-RECEIVED (established or closed): it leaves
        // its listener's count.
        let mut fo_done = None;
        // Taken, not drained: the list's memory goes with it (a connection changes state
        // a few times in its life; an idle one keeps no buffer for it).
        for (from, to) in std::mem::take(&mut t.transitions) {
            if from == State::SynReceived {
                fo_done = s.fo_parent.take();
            }
            if from == State::SynSent {
                if let Some(o) = t.fo_outcome.take() {
                    let (cache, stats) = (&mut self.tcp.fastopen_cache, &mut self.tcp.stats);
                    fastopen_learn(cache, (*t.local.ip(), *t.remote.ip()), o, stats, now);
                }
            }
            if let Some(tr) = &self.tcp.trace {
                if tr.enabled(TraceLayers::TCPSTATE) {
                    tr.emit(
                        TraceLayers::TCPSTATE,
                        format_args!("{} > {}: {} -> {}", t.local, t.remote, from, to),
                    );
                }
            }
            if to == State::Established {
                established = true;
                self.tcp.stats.established += 1;
            }
        }
        if std::mem::take(&mut t.wake) {
            self.wakeups.push(h);
        }
        let state = t.state;
        let parent = s.parent;
        let orphan = s.orphan;
        let (reuse_addr, reuse_port) = (s.reuse_addr, s.reuse_port);
        let queued = s.queued;
        if established && parent.is_some() && !queued && state != State::Closed {
            s.queued = true;
            self.tcp_child_ready(parent, h);
            self.tcp_fastopen_done(fo_done);
            return;
        }
        match state {
            State::Closed => {
                let gone = orphan || (parent.is_some() && !queued);
                let err = t.error.take();
                self.tcp_forget(h);
                if gone {
                    if let (Some(p), false) = (parent, queued) {
                        self.tcp_embryo_gone(p);
                    }
                    self.tcp.socks.remove(h);
                } else if let Some(s) = self.tcp.socks.get_mut(h) {
                    // The application still holds it: the closed TCB stays, with its
                    // error for the next call.
                    if let Some(t) = s.tcb_mut() {
                        t.error = err;
                    }
                    self.wakeups.push(h);
                }
            }
            State::TimeWait if orphan => {
                let expires = t
                    .timewait_deadline()
                    .unwrap_or(now + self.tcp.cfg.time_wait);
                let mut tw = t.time_wait_record(expires);
                tw.reuse_addr = reuse_addr;
                tw.reuse_port = reuse_port;
                let key = (t.local, t.remote);
                self.tcp_forget(h);
                self.tcp.socks.remove(h);
                self.tw_insert(key, tw);
            }
            State::FinWait2 if orphan && t.timewait_deadline().is_none() => {
                // An orphan waits for the peer's FIN only so long (Linux's
                // tcp_fin_timeout).
                t.set_fin_timeout(now + self.tcp.cfg.time_wait);
            }
            _ => {}
        }
        self.tcp_fastopen_done(fo_done);
    }

    /// A Fast Open connection of listener `l` left SYN-RECEIVED.
    fn tcp_fastopen_done(&mut self, l: Option<SocketHandle>) {
        if let Some(Role::Listen(q)) = l
            .and_then(|l| self.tcp.socks.get_mut(l))
            .map(|s| &mut s.role)
        {
            q.fastopen_pending = q.fastopen_pending.saturating_sub(1);
        }
    }

    pub(super) fn tcp_child_ready(&mut self, parent: Option<SocketHandle>, child: SocketHandle) {
        let Some(p) = parent else { return };
        if let Some(l) = self.tcp.socks.get_mut(p) {
            if let Role::Listen(l) = &mut l.role {
                l.embryonic = l.embryonic.saturating_sub(1);
                l.accept.push_back(child);
                self.wakeups.push(p);
            }
        }
    }

    pub(super) fn tcp_embryo_gone(&mut self, parent: SocketHandle) {
        if let Some(l) = self.tcp.socks.get_mut(parent) {
            if let Role::Listen(l) = &mut l.role {
                l.embryonic = l.embryonic.saturating_sub(1);
            }
        }
    }

    /// File a TIME-WAIT record; with `max_time_wait` records there, the one that expires
    /// first makes way (counted).
    pub(super) fn tw_insert(&mut self, key: Tuple, tw: TimeWait) {
        let max = self.tcp.cfg.max_time_wait;
        let evicted = self.tcp.time_wait.insert(key, tw, max);
        self.tcp.stats.time_wait_evicted += evicted as u64;
    }

    // ---- timers ------------------------------------------------------------------------

    /// The earliest TCP deadline.
    /// The earliest TCP deadline: the top of the timer heap (possibly an entry that is no
    /// longer current, which only wakes the caller early: `tcp_poll` drops it) and the
    /// TIME-WAIT record that expires first.
    pub fn tcp_poll_at(&self) -> Option<Instant> {
        let conns = self.tcp.timers.peek().map(|Reverse((at, _))| *at);
        conns.into_iter().chain(self.tcp.time_wait.earliest()).min()
    }

    pub fn tcp_poll(&mut self, tx: &mut dyn IpTx, now: Instant) {
        let mut due: Vec<SocketHandle> = Vec::new();
        while let Some(&Reverse((at, h))) = self.tcp.timers.peek() {
            if at > now {
                break;
            }
            self.tcp.timers.pop();
            if self.tcp_timer_current(at, h) {
                if let Some(t) = self.tcp.socks.get_mut(h) {
                    // Off the heap: `tcp_settle` files it again under its next deadline.
                    t.timer_at = None;
                }
                due.push(h);
            }
        }
        for h in due {
            let tcp = &mut self.tcp;
            let sockets = &mut tcp.socks;
            if let Some(s) = sockets.get_mut(h) {
                if let Role::Conn(t) = &mut s.role {
                    t.poll(&tcp.cfg, tx, &mut tcp.stats, now);
                }
            }
            self.tcp_settle(h, now);
        }
        self.tcp.time_wait.expire(now);
    }
}

/// What a connection still has to deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outstanding {
    pub state: State,
    /// Bytes queued to send that the peer has not acknowledged (Linux's `SIOCOUTQ`).
    pub unacked: usize,
    /// Our FIN is sent and acknowledged.
    pub fin_acked: bool,
}

impl Outstanding {
    /// Still delivering: connected and not everything (FIN included) acknowledged.
    pub fn pending(&self) -> bool {
        !self.fin_acked
            && matches!(
                self.state,
                State::SynReceived
                    | State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            )
    }
}

/// A connection with data or a FIN not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Undelivered {
    pub handle: SocketHandle,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub outstanding: Outstanding,
}

fn outstanding(s: &TcpSock) -> Outstanding {
    match s.tcb() {
        Some(t) => Outstanding {
            state: t.state,
            unacked: t.unsent_or_unacked(),
            fin_acked: t.fin_acked(),
        },
        None => Outstanding {
            state: s.state(),
            unacked: 0,
            fin_acked: false,
        },
    }
}

/// Keep what a Fast Open SYN from `addrs.0` to the server at `addrs.1` taught (RFC 7413
/// 4.1.3): a new cookie replaces the old one, and lost SYNs turn Fast Open off to the server for a while that doubles
/// with each further loss in a row. A single loss is forgiven (it may be the network's,
/// not a middlebox's: Linux also waits for the second), and losses of connections already
/// on their way while Fast Open is off count once. The oldest entry makes way when the
/// cache is full.
fn fastopen_learn(
    cache: &mut std::collections::VecDeque<super::FastOpenEntry>,
    addrs: (Ipv4Addr, Ipv4Addr),
    outcome: super::conn::FastOpenOutcome,
    stats: &mut super::TcpStats,
    now: Instant,
) {
    use super::conn::FastOpenOutcome as O;
    let at = cache.iter().position(|e| e.addrs == addrs);
    let mut e = match at.and_then(|i| cache.remove(i)) {
        Some(e) => e,
        None => super::FastOpenEntry {
            addrs,
            cookie: None,
            losses: 0,
            off_until: None,
        },
    };
    match outcome {
        O::Cookie(c, mss) => e.cookie = Some((c, mss)),
        O::Answered => {}
        O::Lost => {
            stats.fastopen_syn_lost += 1;
            if e.off_until.is_none_or(|t| now >= t) {
                e.losses = e.losses.saturating_add(1);
                if e.losses >= 2 {
                    let doublings = (e.losses - 2).min(super::FASTOPEN_OFF_DOUBLINGS);
                    e.off_until = Some(now + super::FASTOPEN_OFF_BASE * (1 << doublings));
                }
            }
        }
    }
    if outcome != O::Lost {
        // The path carried a Fast Open SYN and its answer: the losses in a row end.
        e.losses = 0;
        e.off_until = None;
    }
    if e.cookie.is_none() && e.losses == 0 {
        // Nothing to keep: the next connection asks for a cookie.
        return;
    }
    if cache.len() >= super::FASTOPEN_CACHE {
        cache.pop_front();
    }
    cache.push_back(e);
}
