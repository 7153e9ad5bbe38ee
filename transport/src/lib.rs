//! The transport layer of tapip: the dispatcher `ip` hands datagrams to (it implements
//! [`ip::Upper`]) and the sockets that live above it.
//!
//! It holds raw sockets (per IP protocol, as BSD and Linux have them: every matching raw
//! socket gets a copy of each inbound datagram, IP header included) and UDP sockets
//! ([`udp`]); TCP ([`tcp`]) sits behind the same dispatcher.
//!
//! Sans-IO: sockets are entries in a table behind [`SocketHandle`]s; nothing blocks. Whoever
//! owns the runtime takes [`Transport::take_wakeups`] after each call to learn which
//! sockets became readable.
#![forbid(unsafe_code)]

pub mod ports;
pub mod raw;
mod reuseport;
mod slab;
pub mod socket;
pub mod tcp;
pub mod udp;

pub use ip::PmtuMode;
pub use raw::{RawDatagram, RawSocket};
pub use slab::SocketHandle;
pub use socket::{SocketInfo, SocketKind};
pub use tcp::{
    CongestionAlgorithm, ConnInfo, EcnMode, State as TcpState, TcpConfig, TcpError, TcpStats,
    UnknownAlgorithm,
};
pub use udp::{IcmpReport, Joined, SoftError, UdpDatagram, UdpSock, UdpStats, MAX_ERRORS_QUEUED};

use ip::{Datagram, Delivery, GroupError, IcmpErrorReport, IpTx, SendError, SendMeta, Upper};
use netif::Instant;
use slab::{Slab, Table};
use socket::Socket;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Limits of the transport layer.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub max_sockets: usize,
    /// Datagrams a raw socket holds before it drops new ones.
    pub raw_queue: usize,
    /// Bytes a raw socket holds before it drops new ones.
    pub raw_queue_bytes: usize,
    /// Default receive and send buffer sizes of UDP sockets (Linux's defaults).
    pub udp_rcvbuf: usize,
    pub udp_sndbuf: usize,
    /// Seed of the ephemeral port choice and key of TCP's initial sequence numbers; the
    /// runtime takes it from the OS's random source.
    pub secret: u64,
    pub tcp: TcpConfig,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_sockets: 4096,
            raw_queue: 256,
            raw_queue_bytes: 1 << 20,
            udp_rcvbuf: 212_992,
            udp_sndbuf: 212_992,
            secret: 0x7461_7069_7000_0001,
            tcp: TcpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("too many open sockets")]
    TooManySockets,
    #[error("bad socket handle")]
    BadHandle,
    #[error("operation not supported on this socket")]
    NotSupported,
    #[error("{0}")]
    Send(#[from] SendError),
    #[error("no such protocol")]
    BadProtocol,
    #[error("address already in use")]
    AddrInUse,
    #[error("address not available")]
    AddrNotAvailable,
    #[error("no free ephemeral port")]
    NoPorts,
    #[error("socket is already bound")]
    AlreadyBound,
    /// A TCP call that needs a connection on a socket that has none.
    #[error("socket is not connected")]
    NotConnected,
    /// A datagram with no destination on a socket that is not connected.
    #[error("destination address required")]
    DestinationRequired,
    /// The connection has ended (reset, timed out, or closed both ways): nothing more
    /// can be sent on it.
    #[error("the connection is closed")]
    ConnectionClosed,
    #[error("permission denied (broadcast needs SO_BROADCAST)")]
    BroadcastDenied,
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    #[error("socket is shut down for writing")]
    ShutDown,
    #[error("{0}")]
    Soft(SoftError),
    #[error("{0}")]
    Tcp(TcpError),
    #[error("connection already in progress")]
    InProgress,
    #[error("socket is already connected")]
    AlreadyConnected,
    /// A send on a TCP socket that never connected, or listens (Linux's EPIPE from
    /// `sk_stream_wait_connect`).
    #[error("broken pipe: the socket is not connected")]
    SendNotConnected,
    #[error("{0}")]
    Group(#[from] GroupError),
    /// A socket's twenty-first group (`IP_ADD_MEMBERSHIP`; Linux's ENOBUFS).
    #[error("too many multicast groups on the socket")]
    TooManyGroups,
}

/// The IP header fields a socket chooses (`IP_TTL`, `IP_TOS`, and DF by `IP_MTU_DISCOVER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpFields {
    /// `None`: the IP layer's default.
    pub ttl: Option<u8>,
    pub tos: u8,
    /// Without DF (a TCP connection in `IP_PMTUDISC_DONT` or `PROBE`); false, the
    /// default, sets DF.
    pub fragment: bool,
}

/// Counters of the transport layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    pub raw_delivered: u64,
    pub raw_dropped_queue_full: u64,
    pub raw_sent: u64,
    pub icmp_errors_received: u64,
    pub no_protocol: u64,
}

/// Sockets that became readable (or otherwise changed), for the owner to wake their
/// waiters. A socket named again right after itself is kept once: a batch of in-order
/// segments for one connection wakes its reader once, not once per segment (each a lookup
/// of its waiters: 2% of the plain-frame rx thread's time).
#[derive(Default)]
struct Wakeups(Vec<SocketHandle>);

impl Wakeups {
    fn push(&mut self, h: SocketHandle) {
        if self.0.last() != Some(&h) {
            self.0.push(h);
        }
    }
}

pub struct Transport {
    cfg: TransportConfig,
    /// Raw and UDP sockets (TCP's are in `tcp`).
    sockets: Slab<Socket>,
    wakeups: Wakeups,
    stats: TransportStats,
    udp_stats: UdpStats,
    rng: ports::Rng,
    tcp: tcp::Tcp,
    /// UDP binds so far (each socket's `bound_seq`).
    udp_binds: u64,
    /// Which socket of a `SO_REUSEPORT` group takes a flow.
    flows: reuseport::FlowHash,
}

impl Transport {
    pub fn new(cfg: TransportConfig) -> Transport {
        Transport {
            sockets: Slab::new(Table::Datagram, cfg.max_sockets),
            rng: ports::Rng::new(cfg.secret),
            flows: reuseport::FlowHash::new(cfg.secret),
            tcp: tcp::Tcp::new(cfg.tcp.clone(), cfg.secret, cfg.max_sockets),
            cfg,
            wakeups: Wakeups::default(),
            stats: TransportStats::default(),
            udp_stats: UdpStats::default(),
            udp_binds: 0,
        }
    }

    /// Open a raw socket for IP protocol `protocol` (1 = ICMP, ...; 255, `IPPROTO_RAW`,
    /// sends datagrams whose header the application writes and receives nothing, as on
    /// Linux).
    pub fn raw_open(&mut self, protocol: u8) -> Result<SocketHandle, TransportError> {
        if protocol == 0 {
            return Err(TransportError::BadProtocol);
        }
        self.socket_room()?;
        let s = RawSocket::new(protocol, self.cfg.raw_queue, self.cfg.raw_queue_bytes);
        self.sockets
            .insert(socket::Socket::Raw(s))
            .ok_or(TransportError::TooManySockets)
    }

    pub fn raw(&mut self, h: SocketHandle) -> Result<&mut RawSocket, TransportError> {
        match self.sockets.get_mut(h) {
            Some(Socket::Raw(r)) => Ok(r),
            Some(_) => Err(TransportError::NotSupported),
            None => Err(TransportError::BadHandle),
        }
    }

    /// Send `payload` from a raw socket to `dst` (its peer when `None`): without IP header,
    /// `ip` builds it; with `IP_HDRINCL`, `payload` is the whole datagram, header first
    /// (see [`IpTx::send_header_included`]).
    pub fn raw_send(
        &mut self,
        h: SocketHandle,
        tx: &mut dyn IpTx,
        dst: Option<Ipv4Addr>,
        payload: &[u8],
        now: Instant,
    ) -> Result<usize, TransportError> {
        // No IP datagram is longer, whoever writes its header: EMSGSIZE, as the first
        // check of Linux's `raw_sendmsg` says for both paths.
        if payload.len() > usize::from(u16::MAX) {
            return Err(TransportError::Send(SendError::TooLong));
        }
        let r = self.raw(h)?;
        if let Some(e) = r.error.take() {
            return Err(TransportError::Soft(e));
        }
        if r.shut_write && r.header_included {
            // As Linux: only its header-included path checks (raw_send_hdrinc).
            return Err(TransportError::ShutDown);
        }
        let dst = dst.or(r.peer).ok_or(TransportError::DestinationRequired)?;
        // As UDP (and Linux's raw sockets): a broadcast needs SO_BROADCAST (EACCES).
        if !r.broadcast && tx.is_broadcast(dst) {
            return Err(TransportError::BroadcastDenied);
        }
        let group = dst.is_multicast();
        let meta = SendMeta {
            // IP_TTL is for unicast; a group gets IP_MULTICAST_TTL, 1 unless set (RFC 1112
            // 6.1; as Linux's raw sockets).
            ttl: if group { Some(r.multicast_ttl) } else { r.ttl },
            tos: r.tos,
            // Bound to a broadcast address or a group to hear it, the socket has no source
            // of its own (Linux's `raw_bind` leaves `inet_saddr` 0, "use device"): the
            // route's, as a UDP socket's.
            src: r
                .bound
                .filter(|a| !a.is_multicast() && !tx.is_broadcast(*a)),
            pmtu: Some(r.pmtu),
            multicast_if: r.multicast_if.filter(|_| group),
            multicast_loop: r.multicast_loop,
            ..SendMeta::new(dst, r.protocol)
        };
        if r.header_included {
            tx.send_header_included(&meta, payload, now)?;
        } else {
            tx.send(&meta, payload, now)?;
        }
        r.sent += 1;
        self.stats.raw_sent += 1;
        Ok(payload.len())
    }

    /// An ephemeral port per RFC 6056 (a random start, then the next free one) for which
    /// `in_use` says no.
    pub(crate) fn ephemeral_port(
        &mut self,
        in_use: impl Fn(&Transport, u16) -> bool,
    ) -> Result<u16, TransportError> {
        // The generator is taken out so `in_use` may look at the whole transport.
        let mut rng = std::mem::replace(&mut self.rng, ports::Rng::new(1));
        let p = ports::pick(&mut rng, |p| in_use(self, p));
        self.rng = rng;
        p.ok_or(TransportError::NoPorts)
    }

    /// Close a socket; its queued data is freed. False if the handle was stale. A TCP
    /// connection closes gracefully (a FIN, then the socket lives on until the peer has
    /// acknowledged it) or is reset if unread data is left.
    pub fn close(&mut self, h: SocketHandle, tx: &mut dyn IpTx, now: Instant) -> bool {
        if self.tcp.socks.get(h).is_some() {
            self.tcp_close(h, tx, now);
            return true;
        }
        match self.sockets.remove(h) {
            Some(Socket::Udp(u)) => {
                for j in u.groups {
                    let _ = tx.leave_group(j.group, j.ifindex, now);
                }
                true
            }
            Some(Socket::Raw(r)) => {
                for j in r.groups {
                    let _ = tx.leave_group(j.group, j.ifindex, now);
                }
                true
            }
            None => false,
        }
    }

    /// The next moment `poll` has work to do (TCP timers).
    pub fn poll_at(&self) -> Option<Instant> {
        self.tcp_poll_at()
    }

    /// Run the timers due at `now`.
    pub fn poll(&mut self, tx: &mut dyn IpTx, now: Instant) {
        self.tcp_poll(tx, now);
    }

    /// Several frames read in one wake-up follow: until [`Transport::end_batch`], a TCP
    /// connection owing an ACK only because two full segments arrived waits for the end of
    /// the batch, so the batch draws one ACK (at most `ACK_STRETCH_MAX` bytes, and a
    /// quarter of the window, each) instead of one per two segments. A batch may span
    /// several reads of the device (the runtime leaves it open after a full one, when more
    /// frames are likely waiting): the ACKs then wait for its next read that is not full,
    /// or for the one that finds the device empty.
    pub fn begin_batch(&mut self) {
        self.tcp.batching = true;
    }

    /// The batch is over: send the ACKs it deferred.
    pub fn end_batch(&mut self, tx: &mut dyn IpTx, now: Instant) {
        self.tcp.batching = false;
        let flush = std::mem::take(&mut self.tcp.ack_flush);
        for &h in &flush {
            if let Some(s) = self.tcp.socks.get_mut(h) {
                if let tcp::Role::Conn(t) = &mut s.role {
                    t.output_batch_ack(&self.tcp.cfg, tx, &mut self.tcp.stats, now);
                }
            }
            self.tcp_schedule(h);
        }
        // Keep the allocation for the next batch.
        self.tcp.ack_flush = flush;
        self.tcp.ack_flush.clear();
    }

    pub fn socket_count(&self) -> usize {
        self.sockets.len() + self.tcp.socks.len()
    }

    /// Room for another socket (`max_sockets` counts every table).
    fn socket_room(&self) -> Result<(), TransportError> {
        if self.socket_count() >= self.cfg.max_sockets {
            return Err(TransportError::TooManySockets);
        }
        Ok(())
    }

    /// Every socket, for `stat` and `netstat`.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        let mut all: Vec<SocketInfo> = self.sockets.iter().map(|(h, s)| s.info(h)).collect();
        all.extend(self.tcp.socks.iter().map(|(h, t)| SocketInfo::of_tcp(h, t)));
        all.sort_by_key(|i| i.handle);
        all
    }

    /// Sockets that became readable (or otherwise changed) since the last call.
    pub fn take_wakeups(&mut self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.wakeups.0.drain(..)
    }

    /// `take_wakeups` if `take`, else nothing (the list is kept for a later call).
    pub fn take_wakeups_if(&mut self, take: bool) -> impl Iterator<Item = SocketHandle> + '_ {
        let n = if take { self.wakeups.0.len() } else { 0 };
        self.wakeups.0.drain(..n)
    }

    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    pub fn udp_stats(&self) -> UdpStats {
        self.udp_stats
    }

    /// Is the socket of this handle still open?
    pub fn is_open(&self, h: SocketHandle) -> bool {
        self.sockets.get(h).is_some() || self.tcp.socks.get(h).is_some()
    }

    /// What kind of socket a handle names.
    pub fn kind(&self, h: SocketHandle) -> Option<SocketKind> {
        if self.tcp.socks.get(h).is_some() {
            return Some(SocketKind::Tcp);
        }
        self.sockets.get(h).map(|s| match s {
            Socket::Raw(r) => SocketKind::Raw(r.protocol),
            Socket::Udp(_) => SocketKind::Udp,
        })
    }

    /// Where a UDP socket's datagrams go when a send names no destination, and the device
    /// it is bound to (`SO_BINDTODEVICE`): (peer, device). `None` if `h` is no UDP socket.
    pub fn udp_path(&self, h: SocketHandle) -> Option<(Option<SocketAddrV4>, Option<usize>)> {
        match self.sockets.get(h)? {
            Socket::Udp(u) => Some((u.remote(), u.device())),
            Socket::Raw(_) => None,
        }
    }

    /// `IP_MTU`: the path MTU towards the socket's peer, as `ip` knows it now (the
    /// interface's MTU, or the lower one a "fragmentation needed" taught it). Only a
    /// socket with a peer (a connected UDP or raw socket, a TCP connection) has one:
    /// `NotConnected` otherwise, as Linux's ENOTCONN.
    pub fn path_mtu(&self, h: SocketHandle, tx: &dyn IpTx) -> Result<usize, TransportError> {
        let peer = if let Some(t) = self.tcp.socks.get(h) {
            t.remote().map(|r| *r.ip())
        } else {
            match self.sockets.get(h).ok_or(TransportError::BadHandle)? {
                Socket::Udp(u) => u.remote.map(|r| *r.ip()),
                Socket::Raw(r) => r.peer,
            }
        };
        let peer = peer.ok_or(TransportError::NotConnected)?;
        tx.route_info(peer)
            .map(|(_, mtu)| mtu)
            .ok_or(TransportError::NotConnected)
    }

    /// Readiness of a socket for `poll`: (readable, writable, error).
    pub fn readiness(&self, h: SocketHandle) -> Option<(bool, bool, bool)> {
        if let Some(t) = self.tcp.socks.get(h) {
            return Some(t.readiness());
        }
        // A datagram socket's pending error is POLLERR alone, not POLLIN too (Linux's
        // datagram_poll); a blocking receive still wakes for it (`UdpSocket::readable`).
        Some(match self.sockets.get(h)? {
            Socket::Raw(r) => (r.queued() > 0 || r.shut_read, true, r.has_error()),
            Socket::Udp(u) => (u.queued() > 0 || u.is_shut_read(), true, u.has_error()),
        })
    }

    /// Is socket `h` hung up (`poll`'s POLLHUP)? A TCP socket as `TcpSock::hung_up` says;
    /// a UDP or raw socket once shut down both ways (Linux's `datagram_poll`).
    pub fn hung_up(&self, h: SocketHandle) -> bool {
        if let Some(t) = self.tcp.socks.get(h) {
            return t.hung_up();
        }
        match self.sockets.get(h) {
            Some(Socket::Udp(u)) => u.shut_read && u.shut_write,
            Some(Socket::Raw(r)) => r.shut_read && r.shut_write,
            None => false,
        }
    }

    /// Has TCP socket `h` urgent data pending (`poll`'s POLLPRI, see `TcpSock::urgent`)?
    pub fn urgent(&self, h: SocketHandle) -> bool {
        self.tcp.socks.get(h).is_some_and(|t| t.urgent())
    }

    /// Is socket `h`'s read side hung up (`poll`'s POLLRDHUP)? A TCP socket's as
    /// `TcpSock::read_hung_up` says; a UDP or raw socket's once its read side is shut down
    /// (Linux's `datagram_poll`).
    pub fn read_hung_up(&self, h: SocketHandle) -> bool {
        if let Some(t) = self.tcp.socks.get(h) {
            return t.read_hung_up();
        }
        match self.sockets.get(h) {
            Some(Socket::Udp(u)) => u.shut_read,
            Some(Socket::Raw(r)) => r.shut_read,
            None => false,
        }
    }

    // ---- UDP ---------------------------------------------------------------------------

    pub fn udp_open(&mut self) -> Result<SocketHandle, TransportError> {
        self.socket_room()?;
        let s = UdpSock::new(self.cfg.udp_rcvbuf, self.cfg.udp_sndbuf);
        self.sockets
            .insert(Socket::Udp(s))
            .ok_or(TransportError::TooManySockets)
    }

    pub fn udp(&mut self, h: SocketHandle) -> Result<&mut UdpSock, TransportError> {
        match self.sockets.get_mut(h) {
            Some(Socket::Udp(u)) => Ok(u),
            Some(_) => Err(TransportError::NotSupported),
            None => Err(TransportError::BadHandle),
        }
    }

    /// Would binding `addr` (with `reuse` = SO_REUSEADDR, on `device` = SO_BINDTODEVICE)
    /// clash with another UDP socket? Two binds of one port clash when their addresses
    /// overlap (equal, or either is the wildcard) and so do their devices (the same, or
    /// either unbound), unless both asked for SO_REUSEADDR or both for SO_REUSEPORT
    /// (Linux's `udp_lib_lport_inuse`). `reuse`: the binding socket's two options.
    fn udp_clash(
        &self,
        me: SocketHandle,
        addr: SocketAddrV4,
        (reuse, reuse_port): (bool, bool),
        device: Option<usize>,
    ) -> bool {
        self.sockets.iter().any(|(h, s)| match s {
            Socket::Udp(u) if h != me => u.local.is_some_and(|l| {
                l.port() == addr.port()
                    && (l.ip() == addr.ip()
                        || l.ip().is_unspecified()
                        || addr.ip().is_unspecified())
                    && (u.device.is_none() || device.is_none() || u.device == device)
                    && !(reuse && u.reuse_addr)
                    && !(reuse_port && u.reuse_port)
            }),
            _ => false,
        })
    }

    /// Bind to `addr` (IP 0.0.0.0: any of ours; port 0: an ephemeral port, RFC 6056).
    pub fn udp_bind(
        &mut self,
        h: SocketHandle,
        addr: SocketAddrV4,
        tx: &dyn IpTx,
    ) -> Result<SocketAddrV4, TransportError> {
        let (reuse, device) = {
            let u = self.udp(h)?;
            if u.local.is_some() {
                return Err(TransportError::AlreadyBound);
            }
            ((u.reuse_addr, u.reuse_port), u.device)
        };
        let ip = *addr.ip();
        // A group's address too: the socket then hears only datagrams to it (Linux).
        if !ip.is_unspecified() && !tx.is_local(ip) && !tx.is_broadcast(ip) && !ip.is_multicast() {
            return Err(TransportError::AddrNotAvailable);
        }
        // Linux sets SOCK_BINDPORT_LOCK only for a port the application named.
        let auto_port = addr.port() == 0;
        let port = if auto_port {
            // None free: EADDRINUSE, as Linux's `__inet_bind`.
            let used = ports::PortSet::new(self.sockets.iter().filter_map(|(_, s)| match s {
                Socket::Udp(u) => u.local.map(|l| l.port()),
                _ => None,
            }));
            self.ephemeral_port(|_, p| used.contains(p))
                .map_err(|_| TransportError::AddrInUse)?
        } else {
            addr.port()
        };
        let addr = SocketAddrV4::new(ip, port);
        if self.udp_clash(h, addr, reuse, device) {
            return Err(TransportError::AddrInUse);
        }
        self.udp_binds += 1;
        let seq = self.udp_binds;
        let u = self.udp(h)?;
        u.local = Some(addr);
        u.bound_seq = seq;
        u.auto_port = auto_port;
        u.kept_addr = None;
        Ok(addr)
    }

    /// Bind a UDP socket to interface `device` (`SO_BINDTODEVICE`; `None` unbinds): it
    /// hears only datagrams that came in on it, and sends only by it, the limited
    /// broadcast too before the interface has an address (from 0.0.0.0: a DHCP client).
    pub fn udp_bind_device(
        &mut self,
        h: SocketHandle,
        device: Option<usize>,
    ) -> Result<(), TransportError> {
        self.udp(h)?.device = device;
        Ok(())
    }

    /// Bind an unbound socket before it sends or connects: a port of the stack's choice, on
    /// the address `bind` gave if a `disconnect` kept one, else the wildcard.
    fn udp_autobind(&mut self, h: SocketHandle, tx: &dyn IpTx) -> Result<(), TransportError> {
        let u = self.udp(h)?;
        if u.local.is_none() {
            let ip = u.kept_addr.unwrap_or(Ipv4Addr::UNSPECIFIED);
            // A port free of every UDP socket clashes with none: AddrInUse says there was
            // none free, which a send or connect reports as before (no port).
            self.udp_bind(h, SocketAddrV4::new(ip, 0), tx)
                .map_err(|e| match e {
                    TransportError::AddrInUse => TransportError::NoPorts,
                    e => e,
                })?;
        }
        Ok(())
    }

    /// Fix the peer: sends default to it and only its datagrams are received. Binds an
    /// ephemeral port first if needed, and the local address to the route's source.
    pub fn udp_connect(
        &mut self,
        h: SocketHandle,
        remote: SocketAddrV4,
        tx: &dyn IpTx,
    ) -> Result<SocketAddrV4, TransportError> {
        if remote.ip().is_unspecified() {
            return Err(TransportError::Invalid("0.0.0.0 is not a destination"));
        }
        if remote.port() == 0 {
            return Err(TransportError::Invalid("port 0 is not a destination"));
        }
        // As Linux: a broadcast peer needs SO_BROADCAST already at connect (EACCES).
        if tx.is_broadcast(*remote.ip()) && !self.udp(h)?.broadcast {
            return Err(TransportError::BroadcastDenied);
        }
        // A group's interface may be the socket's choice rather than a route's.
        let via = self
            .udp(h)?
            .multicast_if
            .filter(|_| remote.ip().is_multicast());
        let device = self.udp(h)?.device;
        let src = match (via, device) {
            (Some(a), _) => Some(a),
            (None, Some(d)) => tx.source_via(*remote.ip(), d),
            (None, None) => tx.route_info(*remote.ip()).map(|r| r.0),
        }
        .ok_or(TransportError::Send(SendError::NoRoute))?;
        self.udp_autobind(h, tx)?;
        let u = self.udp(h)?;
        let mut local = u.local.ok_or(TransportError::BadHandle)?;
        if loopback_source_leaves(*local.ip(), *remote.ip(), tx) {
            return Err(LOOPBACK_SOURCE);
        }
        if local.ip().is_unspecified() {
            local = SocketAddrV4::new(src, local.port());
            u.local = Some(local);
            u.auto_addr = true;
        }
        // A pending ICMP error stays for the next call to report, as Linux's
        // `__ip4_datagram_connect` leaves `sk_err` alone.
        u.remote = Some(remote);
        Ok(local)
    }

    /// Dissolve the association `udp_connect` made, as Linux's `connect` with `AF_UNSPEC`
    /// (`__udp_disconnect`) does: every source is heard again and a send must name its
    /// destination. What the application fixed stays: a port `bind` was given, and an
    /// address `bind` was given. The source address `connect` filled in goes (the wildcard
    /// again), and a port the stack chose (`bind` to port 0, `connect`, a send) is let go:
    /// the socket has no port, keeps a bound address (`local()` says ADDR:0), and the next
    /// send or `connect` picks a port again.
    /// Queued datagrams, a pending error, groups and the device stay. On a socket that is
    /// not connected, nothing changes.
    pub fn udp_disconnect(&mut self, h: SocketHandle) -> Result<(), TransportError> {
        let u = self.udp(h)?;
        if u.remote.take().is_none() {
            return Ok(());
        }
        if std::mem::take(&mut u.auto_port) {
            // Unbound: the port goes, the address stays if `bind` gave it.
            let local = u.local.take();
            if !std::mem::take(&mut u.auto_addr) {
                u.kept_addr = local.map(|l| *l.ip()).filter(|a| !a.is_unspecified());
            }
        } else if std::mem::take(&mut u.auto_addr) {
            u.local = u
                .local
                .map(|l| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, l.port()));
        }
        Ok(())
    }

    /// Send one datagram (to `dst`, or to the connected peer). Binds an ephemeral port if
    /// the socket is not bound yet.
    pub fn udp_send(
        &mut self,
        h: SocketHandle,
        tx: &mut dyn IpTx,
        dst: Option<SocketAddrV4>,
        data: &[u8],
        now: Instant,
    ) -> Result<usize, TransportError> {
        let remote = self.udp(h)?.remote;
        let dst = dst.or(remote).ok_or(TransportError::DestinationRequired)?;
        if dst.port() == 0 {
            return Err(TransportError::Invalid("port 0 is not a destination"));
        }
        if dst.ip().is_unspecified() {
            // 0.0.0.0 is a source only, never a destination (RFC 1122 3.2.1.3 (a)); a
            // default route would otherwise carry it onto the wire.
            return Err(TransportError::Invalid("0.0.0.0 is not a destination"));
        }
        if data.len() > udp::wire::MAX_PAYLOAD {
            return Err(TransportError::Send(SendError::TooLong));
        }
        if tx.is_broadcast(*dst.ip()) && !self.udp(h)?.broadcast {
            return Err(TransportError::BroadcastDenied);
        }
        self.udp_autobind(h, tx)?;
        let u = self.udp(h)?;
        let local = u.local.ok_or(TransportError::BadHandle)?;
        let to_group = dst.ip().is_multicast();
        let ttl = if to_group {
            Some(u.multicast_ttl)
        } else {
            u.ttl
        };
        let via = u.multicast_if.filter(|_| to_group);
        let (multicast_loop, l, device) = (u.multicast_loop, local.ip(), u.device);
        // Bound to the wildcard, a broadcast or a group, the socket has no source of its
        // own (Linux's `inet_bind` leaves `inet_saddr` 0 for the last two).
        let no_source = l.is_unspecified() || tx.is_broadcast(*l) || l.is_multicast();
        let src = if let Some(a) = via.filter(|_| no_source) {
            a
        } else if no_source {
            // Bound to the wildcard, a broadcast or a group: the route's source (the
            // device's, 0.0.0.0 for a broadcast before it has an address).
            match device {
                Some(d) => tx.source_via(*dst.ip(), d),
                None => tx.route_info(*dst.ip()).map(|(s, _)| s),
            }
            .ok_or(TransportError::Send(SendError::NoRoute))?
        } else {
            *l
        };
        if loopback_source_leaves(src, *dst.ip(), tx) {
            return Err(LOOPBACK_SOURCE);
        }
        // Only a send that could go spends the pending error, and then the shutdown says
        // EPIPE, as Linux's `udp_sendmsg` checks the call first and
        // `sock_alloc_send_pskb` takes `sk_err` before it looks at SEND_SHUTDOWN.
        if let Some(e) = u.error.take() {
            return Err(TransportError::Soft(e));
        }
        if u.shut_write {
            return Err(TransportError::ShutDown);
        }
        let repr = udp::wire::UdpRepr {
            src_port: local.port(),
            dst_port: dst.port(),
        };
        let meta = SendMeta {
            src: Some(src),
            ttl,
            multicast_if: via,
            multicast_loop,
            device,
            tos: u.tos,
            // DF and the pieces' size are ip's to decide, by the path MTU it looks up
            // once it has the route: nothing more here.
            pmtu: Some(u.pmtu),
            ..SendMeta::new(*dst.ip(), ip::ipv4::protocol::UDP)
        };
        let dst_ip = *dst.ip();
        tx.send_with(
            &meta,
            udp::wire::HEADER_LEN + data.len(),
            &mut |buf| {
                buf[udp::wire::HEADER_LEN..].copy_from_slice(data);
                repr.emit(buf, src, dst_ip);
            },
            now,
        )?;
        self.udp_stats.tx_datagrams += 1;
        Ok(data.len())
    }

    /// The groups UDP or raw socket `h` joined.
    fn groups_of(&mut self, h: SocketHandle) -> Result<&mut Vec<udp::Joined>, TransportError> {
        match self.sockets.get_mut(h) {
            Some(Socket::Udp(u)) => Ok(&mut u.groups),
            Some(Socket::Raw(r)) => Ok(&mut r.groups),
            None if self.tcp.socks.get(h).is_some() => Err(TransportError::NotSupported),
            None => Err(TransportError::BadHandle),
        }
    }

    /// Join `group` on the interface with address `iface` (0.0.0.0: the one the route to
    /// the group leaves by), `IP_ADD_MEMBERSHIP`. A UDP socket then hears datagrams to the
    /// group on its port, as does every socket bound to that port (Linux's default,
    /// `IP_MULTICAST_ALL`); a raw socket hears the group's datagrams of its protocol (an
    /// OSPF or VRRP speaker's way to hear its group, as on Linux). Closing it leaves.
    pub fn join_multicast(
        &mut self,
        h: SocketHandle,
        group: Ipv4Addr,
        iface: Ipv4Addr,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        if !group.is_multicast() {
            return Err(TransportError::Invalid("not a multicast address"));
        }
        // Linux's `__ip_mc_join_group` looks for the interface first (ENODEV), then for
        // the same membership (EADDRINUSE), then at the limit (ENOBUFS).
        let addr = if iface.is_unspecified() {
            tx.route_info(group).map_or(iface, |(src, _)| src)
        } else {
            iface
        };
        if addr.is_unspecified() || !tx.is_local(addr) {
            return Err(GroupError::NoInterface.into());
        }
        // A membership is the interface's, whatever its address is now (Linux keeps the
        // index): joined by an address the interface has since changed, it is the same.
        let index = tx.group_ifindex(group, addr);
        let groups = self.groups_of(h)?;
        if groups
            .iter()
            .any(|j| j.group == group && Some(j.ifindex) == index)
        {
            return Err(TransportError::AddrInUse);
        }
        if groups.len() >= udp::MAX_MEMBERSHIPS {
            return Err(TransportError::TooManyGroups);
        }
        let ifindex = tx.join_group(group, iface, now)?;
        self.groups_of(h)?.push(udp::Joined {
            group,
            ifindex,
            iface: addr,
        });
        Ok(())
    }

    /// Leave `group` (`IP_DROP_MEMBERSHIP`): on the interface with address `iface`, or with
    /// 0.0.0.0 on the one the route to the group leaves by, as `join_multicast` picks it
    /// (Linux's `ip_mc_leave_group`, through `ip_mc_find_dev`); with no route, the
    /// socket's first membership of it. Not a member: `AddrNotAvailable`.
    pub fn leave_multicast(
        &mut self,
        h: SocketHandle,
        group: Ipv4Addr,
        iface: Ipv4Addr,
        tx: &mut dyn IpTx,
        now: Instant,
    ) -> Result<(), TransportError> {
        // By the interface's index, as Linux (`ip_mc_find_dev`): the interface with that
        // address or the route's, so a membership joined before the interface's address
        // changed is left by its new one; with neither, by the address given at the join
        // (0.0.0.0: the socket's first membership of the group).
        let index = tx.group_ifindex(group, iface);
        let groups = self.groups_of(h)?;
        let i = groups
            .iter()
            .position(|j| {
                j.group == group
                    && match index {
                        Some(x) => j.ifindex == x,
                        None => iface.is_unspecified() || j.iface == iface,
                    }
            })
            .ok_or(TransportError::AddrNotAvailable)?;
        let j = groups.remove(i);
        tx.leave_group(j.group, j.ifindex, now)?;
        Ok(())
    }

    /// Shut down reading and/or writing; a reader blocked on the socket is woken.
    pub fn shutdown(
        &mut self,
        h: SocketHandle,
        read: bool,
        write: bool,
    ) -> Result<(), TransportError> {
        match self.sockets.get_mut(h) {
            Some(Socket::Udp(u)) => {
                u.shut_read |= read;
                u.shut_write |= write;
                if u.remote.is_none() {
                    // As Linux: applied, and ENOTCONN for a socket with no peer.
                    self.wakeups.push(h);
                    return Err(TransportError::NotConnected);
                }
            }
            Some(Socket::Raw(r)) => {
                r.shut_read |= read;
                r.shut_write |= write;
                if r.peer.is_none() {
                    // As for UDP (Linux's inet_shutdown on any socket).
                    self.wakeups.push(h);
                    return Err(TransportError::NotConnected);
                }
            }
            None if self.tcp.socks.get(h).is_some() => return Err(TransportError::NotSupported),
            None => return Err(TransportError::BadHandle),
        }
        self.wakeups.push(h);
        Ok(())
    }

    /// The socket a unicast datagram from `from` to `dst:port`, come in on `ifindex`,
    /// belongs to: the most specific, and of those (sharing the port with SO_REUSEADDR)
    /// the one bound last, as Linux. Unconnected sockets that share it with SO_REUSEPORT
    /// take the flows by their hash, as Linux's reuseport group. The ICMP error path looks
    /// up the sender of a datagram so too (Linux's `__udp4_lib_err`).
    fn udp_lookup(
        &self,
        from: SocketAddrV4,
        dst: Ipv4Addr,
        port: u16,
        ifindex: usize,
    ) -> Option<SocketHandle> {
        let matches = || {
            self.sockets.iter().filter_map(move |(h, s)| match s {
                Socket::Udp(u) => u
                    .score(from, dst, port, ifindex)
                    .map(|sc| (h, u, (sc, u.bound_seq))),
                _ => None,
            })
        };
        match matches().max_by_key(|&(_, _, key)| key)? {
            (_, u, (score, _)) if u.reuse_port && u.remote.is_none() => {
                let group = || {
                    matches()
                        .filter(move |&(_, g, (sc, _))| {
                            sc == score && g.reuse_port && g.local == u.local
                        })
                        .map(|(h, _, _)| h)
                };
                let n = group().count();
                let local = SocketAddrV4::new(dst, port);
                group().nth(self.flows.pick(local, from, n))
            }
            (h, _, _) => Some(h),
        }
    }

    fn udp_deliver(&mut self, d: &Datagram<'_>) -> Delivery {
        let st = &mut self.udp_stats;
        st.rx_datagrams += 1;
        let (src, dst) = (d.packet.src(), d.packet.dst());
        let pkt = match udp::wire::UdpPacket::new_checked(d.packet.payload()) {
            Ok(p) => p,
            Err(udp::wire::UdpError::Truncated) => {
                st.drop_truncated += 1;
                return Delivery::Delivered;
            }
            Err(udp::wire::UdpError::BadLength) => {
                st.drop_bad_length += 1;
                return Delivery::Delivered;
            }
        };
        if !d.csum_ok && !pkt.verify_checksum(src, dst) {
            st.drop_bad_checksum += 1;
            return Delivery::Delivered;
        }
        let from = SocketAddrV4::new(src, pkt.src_port());
        let port = pkt.dst_port();
        // A broadcast goes to every socket that hears it; a unicast to the one
        // `udp_lookup` picks.
        let targets: Vec<SocketHandle> = if d.broadcast {
            self.sockets
                .iter()
                .filter_map(|(h, s)| match s {
                    Socket::Udp(u) => u.score(from, dst, port, d.ifindex).map(|_| h),
                    _ => None,
                })
                .collect()
        } else {
            self.udp_lookup(from, dst, port, d.ifindex)
                .into_iter()
                .collect()
        };
        if targets.is_empty() {
            if d.broadcast {
                // Not a missing port: a broadcast or multicast is for whoever listens, and
                // is never answered with an error (Linux counts it in IgnoredMulti).
                self.udp_stats.ignored_multi += 1;
                return Delivery::Delivered;
            }
            self.udp_stats.drop_no_port += 1;
            return Delivery::PortUnreachable;
        }
        for h in targets {
            let Some(Socket::Udp(u)) = self.sockets.get_mut(h) else {
                continue;
            };
            let dg = UdpDatagram {
                from,
                to: dst,
                data: pkt.payload().to_vec(),
            };
            if u.push(dg) {
                self.udp_stats.rx_delivered += 1;
                self.wakeups.push(h);
            } else {
                self.udp_stats.drop_queue_full += 1;
            }
        }
        Delivery::Delivered
    }

    /// An ICMP error about a UDP datagram of ours. The socket that sent it is the one its
    /// quote names, found as a datagram from the destination would find it (the bound
    /// address, the peer and the device the error came in on weighed as there): it hears
    /// of the error when connected to the destination, or else only of a "fragmentation
    /// needed", as Linux's `__udp4_lib_err` looks it up. A "fragmentation needed" lowers the path MTU towards the destination in ip's
    /// cache (a socket must have sent it, so the ports must be guessed to forge one), and
    /// is EMSGSIZE for a connected socket that sets DF (not `IP_PMTUDISC_DONT`); other
    /// errors as [`SoftError::from_icmp`], for a connected socket only.
    fn udp_icmp_error(&mut self, tx: &mut dyn IpTx, r: &IcmpErrorReport<'_>, now: Instant) {
        use ip::icmp::{kind as k, unreach as un};
        let frag_needed = (r.kind, r.code) == (k::DEST_UNREACHABLE, un::FRAG_NEEDED);
        let Some(ports) = r.orig_payload.get(..4) else {
            self.udp_stats.icmp_errors_ignored += 1;
            return;
        };
        let sport = u16::from_be_bytes([ports[0], ports[1]]);
        let dport = u16::from_be_bytes([ports[2], ports[3]]);
        let peer = SocketAddrV4::new(r.orig_dst, dport);
        // The socket that would hear the destination's answer, found as a datagram from
        // it is (the most specific; of equals, the one bound last; in a reuseport group,
        // the one the flow hashes to), as Linux's `__udp4_lib_err` looks it up with the
        // quote's addresses swapped.
        let best = self
            .udp_lookup(peer, r.orig_src, sport, r.ifindex)
            .and_then(|h| match self.sockets.get(h) {
                Some(Socket::Udp(u)) => Some((h, u.pmtu, u.remote.is_some(), u.recverr)),
                _ => None,
            });
        // Only a connected socket hears of errors (RFC 1122 4.1.3.3; Linux without
        // IP_RECVERR): an unconnected one cannot tell which send failed.
        let connected = best.filter(|b| b.2).map(|(h, mode, ..)| (h, mode));
        let sender = best.filter(|b| b.2 || frag_needed);
        if frag_needed {
            if let Some(mtu) = sender.and_then(|_| udp_path_mtu(r)) {
                tx.set_path_mtu(r.orig_dst, mtu, now);
                self.udp_stats.pmtu_updates += 1;
            }
        }
        // With IP_RECVERR, the socket that would hear the destination's answer (connected
        // to it, or else unconnected) queues every error, soft ones too (Linux's
        // `ip_icmp_error`), but a "fragmentation needed" only outside
        // `IP_PMTUDISC_DONT`.
        let (recverr, payload) = (
            best.filter(|b| b.3).map(|(h, mode, ..)| (h, mode)),
            r.orig_payload.get(8..).unwrap_or_default(),
        );
        if let Some((h, mode)) = recverr {
            let err = match frag_needed {
                true => Some(SoftError::MessageTooLong).filter(|_| mode != ip::PmtuMode::Dont),
                false => SoftError::from_icmp_all(r.kind, r.code),
            };
            let (Some(error), Ok(u)) = (err, self.udp(h)) else {
                self.udp_stats.icmp_errors_ignored += 1;
                return;
            };
            let report = udp::IcmpReport {
                error,
                kind: r.kind,
                code: r.code,
                // The next-hop MTU, or a parameter problem's pointer (Linux's `info`).
                info: match r.kind {
                    k::DEST_UNREACHABLE if frag_needed => r.info & 0xffff,
                    k::PARAMETER_PROBLEM => r.info,
                    _ => 0,
                },
                offender: r.from,
                dest: peer,
                payload: payload.to_vec(),
            };
            if u.push_error(report) {
                self.udp_stats.icmp_errors_reported += 1;
            } else {
                self.udp_stats.drop_errors_full += 1;
            }
            // Pending either way, so a blocked receive returns it (Linux's
            // `__udp4_lib_err` calls `sk_error_report` whether or not the queue took it).
            self.wakeups.push(h);
            return;
        }
        let err = if frag_needed {
            Some(SoftError::MessageTooLong)
        } else {
            SoftError::from_icmp(r.kind, r.code)
        };
        let Some(err) = err else {
            self.udp_stats.icmp_errors_ignored += 1;
            return;
        };
        match connected {
            Some((h, mode)) if !frag_needed || mode != ip::PmtuMode::Dont => {
                if let Ok(u) = self.udp(h) {
                    u.error = Some(err);
                }
                self.udp_stats.icmp_errors_reported += 1;
                self.wakeups.push(h);
            }
            _ => self.udp_stats.icmp_errors_ignored += 1,
        }
    }
}

impl Transport {
    /// An ICMP error about a datagram of a raw socket's protocol, for each raw socket that
    /// would hear the answer to it (bound to its source, connected to its destination or
    /// not), as Linux's `raw_icmp_error` and `raw_err`: a "fragmentation needed" lowers the
    /// path MTU in ip's cache (as for UDP), and without `IP_RECVERR` only a connected
    /// socket hears of the error, only of a hard one: EMSGSIZE for a frag-needed unless it
    /// is in `IP_PMTUDISC_DONT`, the others as [`SoftError::from_icmp`].
    fn raw_icmp_error(&mut self, tx: &mut dyn IpTx, r: &IcmpErrorReport<'_>, now: Instant) {
        use ip::icmp::{kind as k, unreach as un};
        let frag_needed = (r.kind, r.code) == (k::DEST_UNREACHABLE, un::FRAG_NEEDED);
        let mut learnt = false;
        for (h, s) in self.sockets.iter_mut() {
            let Socket::Raw(raw) = s else { continue };
            if !raw.hears(r.orig_protocol, r.orig_dst, r.orig_src) {
                continue;
            }
            learnt |= frag_needed;
            let err = match frag_needed {
                true if raw.pmtu == ip::PmtuMode::Dont => None,
                true => Some(SoftError::MessageTooLong),
                false => SoftError::from_icmp(r.kind, r.code),
            };
            if let (Some(e), Some(_)) = (err, raw.peer) {
                raw.error = Some(e);
                self.wakeups.push(h);
            }
        }
        if let Some(mtu) = udp_path_mtu(r).filter(|_| learnt) {
            tx.set_path_mtu(r.orig_dst, mtu, now);
        }
    }
}

/// The path MTU a "fragmentation needed" about a UDP or raw datagram tells: its next-hop MTU
/// (RFC 1191 4, the low 16 bits of the ICMP header's second word), or from a router that
/// does not say it, the plateau below the quoted datagram's Total Length (RFC 1191 5, 7.1).
/// `None` when it says nothing usable: no next-hop MTU and a quoted length no datagram has.
fn udp_path_mtu(r: &IcmpErrorReport<'_>) -> Option<usize> {
    let mtu = (r.info & 0xffff) as usize;
    if mtu >= ip::pmtu::MIN_MTU {
        return Some(mtu);
    }
    let quoted = usize::from(r.orig_total_len);
    (quoted > ip::pmtu::MIN_MTU).then(|| tcp::plateau_below(quoted))
}

/// What a socket bound to 127/8 gets when it would talk to another host (Linux: `EINVAL`).
/// `IPPROTO_RAW`: a raw socket of this protocol sends datagrams whose header the
/// application writes, and receives nothing (Linux's raw(7)).
pub(crate) const RAW_SEND_ONLY: u8 = 255;

const LOOPBACK_SOURCE: TransportError =
    TransportError::Invalid("a 127/8 source address cannot reach another host");

/// Is `src` a loopback address that a datagram to `dst` would carry out of the host? 127/8
/// never appears outside a host (RFC 1122 3.2.1.3 (g)): only loopback destinations and our
/// own addresses (reached through the loopback interface) may be sent to from it.
fn loopback_source_leaves(src: Ipv4Addr, dst: Ipv4Addr, tx: &dyn IpTx) -> bool {
    src.is_loopback() && !dst.is_loopback() && !tx.is_local(dst)
}

impl Upper for Transport {
    fn deliver(&mut self, tx: &mut dyn IpTx, d: &Datagram<'_>, now: Instant) -> Delivery {
        let proto = d.packet.protocol();
        let mut copies = 0;
        // Sockets that matched, with room or not: a protocol with one is reachable.
        let mut matched = 0;
        for (h, s) in self.sockets.iter_mut() {
            let Socket::Raw(r) = s else { continue };
            // A socket bound to an address hears only what is sent to it (Linux's
            // `raw_v4_match`).
            if !r.hears(proto, d.packet.src(), d.packet.dst()) {
                continue;
            }
            matched += 1;
            if r.filters(d.packet.payload()) {
                continue;
            }
            if r.push(d.packet.src(), d.packet.as_bytes()) {
                copies += 1;
                self.wakeups.push(h);
            } else {
                self.stats.raw_dropped_queue_full += 1;
            }
        }
        self.stats.raw_delivered += copies;
        if proto == ip::ipv4::protocol::UDP {
            return self.udp_deliver(d);
        }
        if proto == ip::ipv4::protocol::TCP {
            return self.tcp_deliver(tx, d, now);
        }
        // ICMP and IGMP are handled by `ip` itself.
        if matched > 0 || proto == ip::ipv4::protocol::ICMP || proto == ip::ipv4::protocol::IGMP {
            Delivery::Delivered
        } else {
            self.stats.no_protocol += 1;
            Delivery::ProtocolUnreachable
        }
    }

    fn icmp_error(&mut self, tx: &mut dyn IpTx, report: &IcmpErrorReport<'_>, now: Instant) {
        // Raw sockets already received the error message itself; the protocol that sent
        // the quoted datagram finds its socket.
        self.stats.icmp_errors_received += 1;
        self.raw_icmp_error(tx, report, now);
        if report.orig_protocol == ip::ipv4::protocol::UDP {
            self.udp_icmp_error(tx, report, now);
        }
        if report.orig_protocol == ip::ipv4::protocol::TCP {
            self.tcp_icmp_error(tx, report, now);
        }
    }
}
