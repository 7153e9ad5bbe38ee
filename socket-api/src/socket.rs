//! BSD-style sockets over the stack: `socket`, `bind`, `listen`, `accept`, `connect`,
//! `send`, `recv`, `sendto`, `recvfrom`, `shutdown`, `close`, `setsockopt`, `getsockopt`,
//! and `poll` over several sockets.
//!
//! Calls block by default, sleeping on the socket's condition variable until the stack
//! wakes it (never spinning); non-blocking mode returns `WouldBlock`, and so do receive,
//! send and accept timeouts (as Linux's EAGAIN for `SO_RCVTIMEO`/`SO_SNDTIMEO`; a
//! `connect` that runs out of its time and `wait_acked` say `TimedOut`). A `Socket` is `Sync`: share it with `Arc` and `close` it
//! from another thread, which wakes a call blocked on it with an error.

use crate::error::SocketError;
use crate::runtime::{Core, Ready, Stack};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use transport::{tcp, CongestionAlgorithm, PmtuMode, SocketHandle, SocketKind};

/// The ICMP protocol number, whose raw sockets take `ICMP_FILTER`.
const ICMP: u8 = ip::ipv4::protocol::ICMP;

/// Address family. Only IPv4 exists in this stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Inet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Stream,
    Dgram,
    Raw,
}

/// Socket options (`setsockopt` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    /// `SO_RCVTIMEO`: `None` blocks for ever.
    RecvTimeout(Option<Duration>),
    /// `SO_SNDTIMEO`.
    SendTimeout(Option<Duration>),
    /// `SO_REUSEADDR`: share a port with other sockets that also set it.
    ReuseAddr(bool),
    /// `SO_REUSEPORT`: bind the address and port other sockets that also set it have
    /// bound (listeners too), before `bind`. Connections (TCP) and unicast datagrams
    /// (UDP) are spread over them by flow, each flow to one socket; a broadcast or
    /// multicast datagram goes to all.
    ReusePort(bool),
    /// `SO_BROADCAST`: allow sending to broadcast addresses. A TCP socket keeps it too
    /// (it never sends to one), reads it back and passes it to what it accepts, as Linux.
    Broadcast(bool),
    /// `SO_RCVBUF`, bytes (256 to 16 MiB). It reads back as set, not doubled as Linux's
    /// (whose buffer counts its bookkeeping too): here the bytes are data. On a TCP socket
    /// it fixes the buffer (no autotuning); set on a connection, the window stops
    /// growing where it is and never shrinks, as Linux keeps the window clamp it reached.
    RecvBuffer(usize),
    /// `SO_SNDBUF`, bytes.
    SendBuffer(usize),
    /// `IP_TTL`.
    Ttl(u8),
    /// `IP_TOS`: the TOS octet (DSCP and ECN) of the datagrams sent; on a TCP socket the
    /// two ECN bits are left to TCP, as Linux leaves them.
    Tos(u8),
    /// `TCP_NODELAY` (honoured by TCP).
    NoDelay(bool),
    /// `TCP_CORK` (honoured by TCP): while set, no segment shorter than a full one is
    /// sent (whatever `NoDelay` says) unless it ends the stream or nothing has been in
    /// flight for a retransmission timeout (at least 200 ms, Linux's ceiling); clearing it
    /// sends what waited, and so does turning `NoDelay` on (for the bytes then queued, as
    /// the windows let them go; the cork holds what is written next, as Linux's
    /// TCP_NAGLE_PUSH).
    Cork(bool),
    /// `SO_KEEPALIVE` (honoured by TCP).
    KeepAlive(bool),
    /// `TCP_KEEPIDLE`: how long a TCP connection with `SO_KEEPALIVE` may be idle before
    /// its first probe, in whole seconds (a fraction is dropped) from 1 to 32,767, as
    /// Linux's. Set on a connection, the next probe is due that long after the last
    /// segment received. A listener's passes to what it accepts; `get_option` answers
    /// the stack's default (`TcpConfig::keep_idle`, 2 hours) until it is set.
    KeepIdle(Duration),
    /// `TCP_KEEPINTVL`: the time between keepalive probes, whole seconds from 1 to
    /// 32,767 (default `TcpConfig::keep_interval`, 75 s).
    KeepInterval(Duration),
    /// `TCP_KEEPCNT`: the unanswered probes after which the connection fails with
    /// `TimedOut`, 1 to 127 (default `TcpConfig::keep_count`, 9). A `TCP_USER_TIMEOUT`
    /// set takes its place, as on Linux.
    KeepCount(u32),
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the
    /// connection fails with `TimedOut` (`None` or zero: unset, as Linux's 0, and the
    /// stack's default applies). Set, whatever its value, it also ends keepalive's
    /// probing once the peer has been silent that long, and the probing of a shut window
    /// (RFC 5482, as Linux); set before `connect`, it bounds the SYN's retransmissions
    /// too. Set, the connection fails at its end, not at the next backed-off
    /// retransmission (Linux's tcp_clamp_rto_to_user_timeout). `get_option` answers
    /// `None` while it is unset.
    UserTimeout(Option<Duration>),
    /// `SO_LINGER` (honoured by TCP): `None`, the default, lets `close` return at once while
    /// the connection delivers its data in the background; `Some(t)` makes `close` block
    /// until the data and the FIN are acknowledged or `t` passes (the connection then goes
    /// on in the background); `Some(0)` makes `close` abort with a RST, discarding what is
    /// queued.
    Linger(Option<Duration>),
    /// `TCP_CONGESTION`: the congestion-control algorithm of a TCP socket (a listener's
    /// passes to the connections it accepts). `Socket::set_congestion` takes it by name.
    Congestion(CongestionAlgorithm),
    /// `IP_MULTICAST_TTL`: the TTL of datagrams to a group (1 by default: the link only).
    MulticastTtl(u8),
    /// `IP_MULTICAST_LOOP`: members of a group on this host get what the socket sends to
    /// it (on by default).
    MulticastLoop(bool),
    /// `IP_MULTICAST_IF`: the address of the interface datagrams to a group leave by;
    /// 0.0.0.0 (the default) takes the route's.
    MulticastIf(Ipv4Addr),
    /// `IP_HDRINCL` (raw sockets): what the socket sends starts with an IP header the
    /// application wrote; the stack fills in the total length, the header checksum, a
    /// source of 0.0.0.0 and an Identification of 0, and never fragments it. Always on
    /// for protocol 255 (`IPPROTO_RAW`).
    HeaderIncluded(bool),
    /// `ICMP_FILTER` (raw ICMP sockets, Linux's `SOL_RAW` option): a mask of ICMP types
    /// below 32 the socket does not receive (bit `t` set: type `t` kept out); 0, the
    /// default, keeps out nothing. iputils' ping keeps out all but replies and errors.
    IcmpFilter(u32),
    /// `IP_MTU_DISCOVER`: whether datagrams carry DF and how the path MTU bounds them
    /// ([`PmtuMode`]; `Want` by default, as on Linux). A "fragmentation needed" about a
    /// datagram of a connected UDP or raw socket not in `Dont` mode fails its next call
    /// once with `TooLong` (EMSGSIZE); [`Socket::path_mtu`] then tells the new MTU. On a
    /// TCP socket, as Linux's TCP: `Want` and `Do` send with DF and follow the path MTU
    /// down (`Want` drops DF on a path below 576), `Dont` sends without DF and keeps its
    /// segment size, `Probe` sends without DF; a listener's passes to what it accepts.
    MtuDiscover(PmtuMode),
    /// `IP_MTU` (`get_option` only): the path MTU towards the peer of a connected socket
    /// (see [`Socket::path_mtu`]); setting it is refused, as Linux's ENOPROTOOPT.
    Mtu(usize),
    /// `IP_RECVERR`. UDP sockets: every ICMP error about a datagram the socket sent,
    /// connected or not, soft errors (a time exceeded, a host unreachable) included, is
    /// queued with who sent it, read by [`Socket::recv_error`], and fails the socket's
    /// next call once; turning it off empties the queue. TCP sockets (as Linux's
    /// `tcp_v4_err`): an ICMP error about an established connection fails its next call
    /// once (and `poll` reports it) at once, instead of being kept for a timeout to
    /// report, and the connection goes on; there is no queue. Off by default.
    RecvErrors(bool),
    /// `TCP_FASTOPEN` on a TCP listener (RFC 7413, as Linux's server side): a client that
    /// asks gets a cookie (a keyed MAC of its address) in the SYN-ACK; a SYN that brings
    /// a valid cookie and data has its data acknowledged at once, and `accept` returns
    /// the connection before the handshake ends, with the data to read and the
    /// connection free to answer. The value is how many such connections may wait for
    /// the handshake's end at once (Linux's `qlen`); 0, the default, turns it off. Set
    /// before `listen` or on a listener: a connection refuses it (`InvalidInput`, Linux's
    /// EINVAL) and reads 0, an accepted one too.
    FastOpen(usize),
}

/// An ICMP error about a datagram a socket sent, from its `IP_RECVERR` queue
/// ([`Socket::recv_error`]): Linux's `sock_extended_err` of origin ICMP, its offender and
/// the payload it quoted.
#[derive(Debug)]
pub struct IcmpError {
    /// What the socket's calls return for it (`ee_errno`): `ConnectionRefused` for a
    /// port unreachable, `HostUnreachable` for a time exceeded, and so on.
    pub error: io::Error,
    /// The ICMP type and code (`ee_type`, `ee_code`).
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// The next-hop MTU of a "fragmentation needed", else 0 (`ee_info`).
    pub info: u32,
    /// Who sent the ICMP message (`SO_EE_OFFENDER`): a router on the path or the
    /// destination; this host's own address when it could not resolve the next hop.
    pub offender: Ipv4Addr,
    /// Where the datagram the error is about was going.
    pub dest: SocketAddr,
    /// The start of that datagram's payload, as the error quoted it.
    pub payload: Vec<u8>,
}

/// Socket option names (`getsockopt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOptName {
    RecvTimeout,
    SendTimeout,
    ReuseAddr,
    ReusePort,
    Broadcast,
    RecvBuffer,
    SendBuffer,
    Ttl,
    Tos,
    NoDelay,
    Cork,
    KeepAlive,
    KeepIdle,
    KeepInterval,
    KeepCount,
    UserTimeout,
    Linger,
    Congestion,
    MulticastTtl,
    MulticastLoop,
    MulticastIf,
    HeaderIncluded,
    IcmpFilter,
    MtuDiscover,
    Mtu,
    RecvErrors,
    FastOpen,
}

/// Smallest and largest buffer sizes accepted (Linux clamps likewise).
const MIN_BUF: usize = 256;
const MAX_BUF: usize = 16 << 20;
/// The longest `TCP_FASTOPEN` queue a listener takes (Linux takes any `int`; this bounds
/// the connections a flood of valid cookies can hold open).
const MAX_FASTOPEN_QUEUE: usize = 4096;
/// The two ECN bits of the TOS octet (RFC 3168 5).
const ECN_MASK: u8 = 0b11;

const TCP_NODELAY_CORK: &str = "TCP_NODELAY and TCP_CORK are options of TCP sockets";

#[derive(Default)]
struct LocalOpts {
    recv_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    nonblocking: bool,
    keepalive: bool,
    /// `SO_BROADCAST` of a stream socket: TCP never sends to a broadcast address, but
    /// Linux keeps the flag on any socket, reads it back and passes it to what a listener
    /// accepts.
    broadcast: bool,
    /// `IP_MULTICAST_LOOP` turned off on a stream socket: Linux keeps the flag on any
    /// socket and reads it back (TCP sends to no group).
    multicast_loop_off: bool,
    linger: Option<Duration>,
    /// A non-blocking `connect` returned while its handshake was under way and no later
    /// `connect` has seen it end: Linux's SS_CONNECTING, whose next `connect` after the
    /// handshake says 0 (once; EISCONN after that).
    connect_pending: bool,
}

/// A socket of the stack.
pub struct Socket {
    stack: Stack,
    handle: SocketHandle,
    ty: Type,
    cond: Arc<Condvar>,
    opts: Mutex<LocalOpts>,
    closed: AtomicBool,
}

/// A keepalive time as `TCP_KEEPIDLE` and `TCP_KEEPINTVL` take it: whole seconds (the
/// fraction dropped), 1 to 32,767; `None` outside.
fn keep_secs(d: Duration) -> Option<u16> {
    u16::try_from(d.as_secs())
        .ok()
        .filter(|s| (1..=tcp::MAX_KEEP_SECS).contains(s))
}

pub(crate) fn v4(addr: SocketAddr) -> Result<SocketAddrV4, SocketError> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(SocketError::InvalidInput("IPv6 is not supported")),
    }
}

impl Socket {
    /// `socket(domain, type, protocol)`. `protocol` 0 picks the type's protocol; raw sockets
    /// name an IP protocol (1 for ICMP). Stream sockets are TCP.
    pub fn new(stack: &Stack, domain: Domain, ty: Type, protocol: u8) -> io::Result<Socket> {
        let Domain::Inet = domain;
        if stack.is_shut_down() {
            return Err(SocketError::StackDown.into());
        }
        let mut core = stack.lock();
        let handle = match ty {
            Type::Dgram if protocol == 0 || protocol == ip::ipv4::protocol::UDP => {
                core.transport.udp_open()
            }
            Type::Raw => core.transport.raw_open(protocol),
            Type::Dgram => return Err(SocketError::InvalidInput("datagram sockets are UDP").into()),
            Type::Stream if protocol == 0 || protocol == ip::ipv4::protocol::TCP => {
                core.transport.tcp_open()
            }
            Type::Stream => return Err(SocketError::InvalidInput("stream sockets are TCP").into()),
        }
        .map_err(SocketError::from)?;
        let cond = core.register(handle);
        drop(core);
        Ok(Socket::from_parts(stack, handle, ty, cond))
    }

    fn from_parts(stack: &Stack, handle: SocketHandle, ty: Type, cond: Arc<Condvar>) -> Socket {
        Socket {
            stack: stack.clone(),
            handle,
            ty,
            cond,
            opts: Mutex::new(LocalOpts::default()),
            closed: AtomicBool::new(false),
        }
    }

    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    pub fn socket_type(&self) -> Type {
        self.ty
    }

    pub(crate) fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Lock the core for a call on this socket: fails once it is closed or the stack down.
    fn core(&self) -> Result<MutexGuard<'_, Core>, SocketError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SocketError::Closed);
        }
        if self.stack.is_shut_down() {
            return Err(SocketError::StackDown);
        }
        Ok(self.stack.lock())
    }

    /// Run `f` under the lock until it produces a value: blocking, non-blocking or with
    /// the timeout, as the socket is set. `f` returning `None` means "not yet".
    /// A receive's timeout, and whether a datagram or raw socket shut for reading with
    /// nothing queued ends it with 0: only a blocking one, as Linux's datagram wait; a
    /// non-blocking one says `WouldBlock` (EAGAIN) instead, and what still arrives after
    /// the shutdown queues all the same.
    fn recv_wait(&self) -> (Option<Duration>, bool) {
        let o = self.opts.lock();
        (o.recv_timeout, !o.nonblocking)
    }

    fn wait_for<T>(
        &self,
        timeout: Option<Duration>,
        f: impl FnMut(&mut Core, netif::Instant) -> Result<Option<T>, SocketError>,
    ) -> Result<T, SocketError> {
        self.wait_for_in(timeout, false, f)
    }

    /// `wait_for`; with `sending` (a TCP send), what `f` queued is written as
    /// `Stack::finish_sending` says.
    fn wait_for_in<T>(
        &self,
        timeout: Option<Duration>,
        sending: bool,
        mut f: impl FnMut(&mut Core, netif::Instant) -> Result<Option<T>, SocketError>,
    ) -> Result<T, SocketError> {
        let nonblocking = self.opts.lock().nonblocking;
        let deadline = deadline_after(timeout);
        let mut core = self.core()?;
        // Set once the deadline has passed: `f` gets one last look (the wake-up and the
        // timeout may have raced), with the same checks and flush as every other look.
        let mut last = false;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(SocketError::Closed);
            }
            if self.stack.is_shut_down() {
                return Err(SocketError::StackDown);
            }
            let now = self.stack.now();
            match f(&mut core, now) {
                Ok(Some(v)) => {
                    if sending {
                        self.stack.finish_sending(core);
                    } else {
                        self.stack.finish(core);
                    }
                    return Ok(v);
                }
                Ok(None) => {}
                Err(e) => {
                    self.stack.finish(core);
                    return Err(e);
                }
            }
            if nonblocking {
                return Err(SocketError::WouldBlock);
            }
            if last {
                self.stack.finish(core);
                return Err(SocketError::Elapsed);
            }
            match deadline {
                Some(t) => last = self.cond.wait_until(&mut core, t).timed_out(),
                None => self.cond.wait(&mut core),
            }
        }
    }

    /// Run a non-blocking operation under the lock, then flush what it queued.
    fn with_core<T>(
        &self,
        f: impl FnOnce(&mut Core, netif::Instant) -> Result<T, SocketError>,
    ) -> Result<T, SocketError> {
        let mut core = self.core()?;
        let now = self.stack.now();
        let r = f(&mut core, now);
        self.stack.finish(core);
        r
    }

    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        let addr = v4(addr)?;
        self.with_core(|c, _| match self.ty {
            Type::Dgram => {
                let Core { ip, transport, .. } = c;
                transport
                    .udp_bind(self.handle, addr, ip.tx())
                    .map(|_| ())
                    .map_err(Into::into)
            }
            Type::Raw => {
                // A group's or a broadcast address too, as a UDP socket's (Linux's
                // raw_bind): the socket then hears only datagrams sent to it.
                let a = *addr.ip();
                let tx = c.ip.tx();
                if !a.is_unspecified()
                    && !tx.is_local(a)
                    && !tx.is_broadcast(a)
                    && !a.is_multicast()
                {
                    return Err(SocketError::AddrNotAvailable);
                }
                let r = c.transport.raw(self.handle)?;
                r.bound = (!addr.ip().is_unspecified()).then_some(*addr.ip());
                Ok(())
            }
            Type::Stream => {
                let Core { ip, transport, .. } = c;
                transport
                    .tcp_bind(self.handle, addr, ip.tx())
                    .map(|_| ())
                    .map_err(Into::into)
            }
        })?;
        Ok(())
    }

    /// `listen`: accept connections on a stream socket, holding up to `backlog` + 1
    /// established ones until `accept` takes them, as Linux does (binds an ephemeral
    /// port if unbound; a backlog above `TcpConfig::max_backlog`, 4,096, is that).
    pub fn listen(&self, backlog: usize) -> io::Result<()> {
        if self.ty != Type::Stream {
            return Err(SocketError::Unsupported("listen needs a stream socket (TCP)").into());
        }
        self.with_core(|c, _| {
            let Core { ip, transport, .. } = c;
            transport
                .tcp_listen(self.handle, backlog, ip.tx())
                .map_err(Into::into)
        })?;
        Ok(())
    }

    /// `accept`: the next established connection and its peer's address. Blocks (or
    /// times out with the receive timeout, or says `WouldBlock`) until one arrives.
    pub fn accept(&self) -> io::Result<(Socket, SocketAddr)> {
        if self.ty != Type::Stream {
            return Err(SocketError::Unsupported("accept needs a stream socket (TCP)").into());
        }
        let (timeout, send_timeout, linger, broadcast, loop_off) = {
            let o = self.opts.lock();
            let flags = (o.broadcast, o.multicast_loop_off);
            (o.recv_timeout, o.send_timeout, o.linger, flags.0, flags.1)
        };
        let (h, peer, cond) = self.wait_for(timeout, |c, _| {
            Ok(c.transport.tcp_accept(self.handle)?.map(|(h, peer)| {
                // SO_LINGER passes to the accepted connection, as Linux copies the
                // listener's socket (the end of the program must know it resets).
                c.set_reset_on_close(h, linger.is_some_and(|t| t.is_zero()));
                (h, peer, c.register(h))
            }))
        })?;
        let s = Socket::from_parts(&self.stack, h, Type::Stream, cond);
        {
            // Linux's accepted socket is a copy of the listener's: its SO_RCVTIMEO and
            // SO_SNDTIMEO come with it (O_NONBLOCK, a flag of the file, does not).
            let mut o = s.opts.lock();
            o.linger = linger;
            o.recv_timeout = timeout;
            o.send_timeout = send_timeout;
            o.broadcast = broadcast;
            o.multicast_loop_off = loop_off;
        }
        Ok((s, SocketAddr::V4(peer)))
    }

    /// `connect`: for a stream socket, open a connection (blocking until it is
    /// established, refused or timed out; with the send timeout as a limit, like
    /// `SO_SNDTIMEO`; a non-blocking socket returns `WouldBlock` and completes in the
    /// background: `poll` for writable). For a datagram socket, fix the peer (sends go
    /// there, only its datagrams are received, and ICMP errors about it are reported).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        let addr = self.local_if_unspecified(v4(addr)?);
        let pending =
            self.ty == Type::Stream && std::mem::take(&mut self.opts.lock().connect_pending);
        let done = self.with_core(|c, now| {
            let Core { ip, transport, .. } = c;
            match self.ty {
                Type::Dgram => transport
                    .udp_connect(self.handle, addr, ip.tx())
                    .map(|_| false)
                    .map_err(Into::into),
                // The first call after a non-blocking connect's handshake ended tells its
                // outcome (Linux's `__inet_stream_connect` for SS_CONNECTING): success,
                // or the error that ended it.
                Type::Stream if pending && transport.tcp_connected(self.handle)? => Ok(true),
                // A connect under way already (another thread's, or a non-blocking
                // one's): a blocking call waits for it, as Linux's (a non-blocking one
                // says `WouldBlock`, Linux's EALREADY, from the wait below).
                Type::Stream => match transport.tcp_connect(self.handle, addr, ip.tx(), now) {
                    Err(transport::TransportError::InProgress) => Ok(false),
                    r => r.map(|()| false).map_err(Into::into),
                },
                // Sends without an address go to it; only its datagrams are heard.
                Type::Raw => {
                    let broadcast = ip.tx().is_broadcast(*addr.ip());
                    let r = transport.raw(self.handle)?;
                    // As a UDP socket's (Linux's ip4_datagram_connect): a broadcast peer
                    // needs SO_BROADCAST already (EACCES).
                    if broadcast && !r.broadcast {
                        return Err(transport::TransportError::BroadcastDenied.into());
                    }
                    // And a peer with no route is refused (ENETUNREACH), the socket left
                    // as it was.
                    let routed = r.multicast_if.is_some() && addr.ip().is_multicast()
                        || ip.tx().route_info(*addr.ip()).is_some();
                    if !routed {
                        return Err(transport::TransportError::Send(ip::SendError::NoRoute).into());
                    }
                    r.peer = Some(*addr.ip());
                    Ok(false)
                }
            }
        })?;
        if self.ty != Type::Stream || done {
            return Ok(());
        }
        self.wait_connected()
    }

    /// `sendto` with `MSG_FASTOPEN` on a TCP socket (RFC 7413, Linux's client side):
    /// connect to `addr` with `data` queued, blocking until established as `connect`
    /// does. A cookie the server gave an earlier connection of this stack lets the SYN
    /// carry the data (as much as the server's MSS allows); without one the SYN asks for
    /// a cookie and the data follows the handshake. Two Fast Open SYNs in a row lost to a
    /// server (a path that drops them) turn Fast Open off to it for a minute, doubling
    /// with each further loss (RFC 7413 4.1.3): the SYN is then plain. Returns how many
    /// bytes of `data` were queued (as much as the send buffer holds, less under memory
    /// pressure). A non-blocking socket returns at once,
    /// the connection in progress (`poll` says writable once it is made).
    pub fn connect_fastopen(&self, addr: SocketAddr, data: &[u8]) -> io::Result<usize> {
        if self.ty != Type::Stream {
            return Err(SocketError::InvalidInput("TCP Fast Open is for TCP sockets").into());
        }
        let addr = self.local_if_unspecified(v4(addr)?);
        let n = self.with_core(|c, now| {
            let Core { ip, transport, .. } = c;
            transport
                .tcp_connect_fastopen(self.handle, addr, data, ip.tx(), now)
                .map_err(Into::into)
        })?;
        match self.wait_connected() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            r => r.map(|()| n),
        }
    }

    /// A stream socket's `connect` after its SYN left: wait until established, within
    /// SO_SNDTIMEO.
    fn wait_connected(&self) -> io::Result<()> {
        {
            let mut o = self.opts.lock();
            if o.nonblocking {
                // Under way, whatever may have come back since the lock was let go (a
                // peer's RST on a fast link): Linux's EINPROGRESS, the outcome for `poll`
                // and the next `connect` or `take_error` to tell.
                o.connect_pending = true;
                return Err(SocketError::WouldBlock.into());
            }
        }
        let timeout = self.opts.lock().send_timeout;
        let r = self.wait_for(timeout, |c, _| {
            Ok(c.transport.tcp_connected(self.handle)?.then_some(()))
        });
        if let Err(SocketError::Elapsed) = r {
            // The attempt ends with the call (the SYN retransmissions stop), `TimedOut`
            // as std's `connect_timeout` says. One last look under the same lock: a
            // SYN-ACK (or a refusal) that came since the wait ended is the answer, and the
            // abort's own error is not left for `take_error` to report.
            return self
                .with_core(|c, now| {
                    let Core { ip, transport, .. } = c;
                    if transport.tcp_connected(self.handle)? {
                        return Ok(());
                    }
                    transport.tcp_shutdown(self.handle, true, true, ip.tx(), now)?;
                    let _ = transport.tcp_connected(self.handle);
                    Err(SocketError::TimedOut)
                })
                .map_err(Into::into);
        }
        Ok(r?)
    }

    /// Dissolve a UDP socket's association, as Linux's `connect` with `AF_UNSPEC`: it
    /// hears every source again, `send` without an address fails (`NotConnected`,
    /// EDESTADDRREQ) and `peer_addr` says not connected. A port and an address named to
    /// `bind` stay; the source address `connect` filled in goes back to the wildcard, and
    /// a port the stack chose (`bind` to port 0, `connect`, a send) is let go, as Linux's
    /// `__udp_disconnect` (an address `bind` gave stays: `local_addr` says ADDR:0 until
    /// the next send or `connect` picks a port on it). Queued datagrams stay. Nothing
    /// happens to a socket that is not connected.
    ///
    /// A raw socket forgets the address it was connected to: it hears every source
    /// again. A stream socket refuses (`Unsupported`): Linux's `AF_UNSPEC` connect aborts
    /// its connection (a RST) and lets the socket connect again, which is rarely what a
    /// caller means; to abort, set `SockOpt::Linger(Some(Duration::ZERO))` and close.
    pub fn disconnect(&self) -> io::Result<()> {
        match self.ty {
            Type::Dgram => self.with_core(|c, _| Ok(c.transport.udp_disconnect(self.handle)?)),
            Type::Stream => Err(SocketError::Unsupported(
                "disconnect of a stream socket (to abort it: SO_LINGER zero, then close)",
            )),
            Type::Raw => self.with_core(|c, _| {
                c.transport.raw(self.handle)?.peer = None;
                Ok(())
            }),
        }
        .map_err(Into::into)
    }

    /// Has a non-blocking `connect` completed? `Ok(true)` once established, the error if
    /// it failed, `Ok(false)` while in progress.
    pub fn connect_status(&self) -> io::Result<bool> {
        Ok(self.with_core(|c, _| Ok(c.transport.tcp_connected(self.handle)?))?)
    }

    /// Send to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_inner(buf, None)
    }

    /// Send urgent data on a TCP connection (`send` with `MSG_OOB`): `buf` is queued as
    /// `send` queues it (blocking likewise) and the urgent pointer is set just after its
    /// last byte (RFC 9293 3.8.5): every segment from before that point carries it, until
    /// the peer has acknowledged the urgent data. A Linux peer without `SO_OOBINLINE` takes
    /// the last byte out of the stream for its `recv(MSG_OOB)`; with it (and here), the
    /// bytes stay in the stream with a mark. Only TCP sockets (`Unsupported` otherwise).
    pub fn send_urgent(&self, buf: &[u8]) -> io::Result<usize> {
        if self.ty != Type::Stream {
            return Err(SocketError::Unsupported("urgent data is TCP's").into());
        }
        self.send_stream(&[IoSlice::new(buf)], true)
    }

    /// Is the next byte a read returns the last byte of the urgent data the peer sent
    /// (Linux's `SIOCATMARK`)? A read never goes past this mark to the urgent byte in one
    /// call (it stops just before, as Linux's with `SO_OOBINLINE`), so an application that
    /// skips data up to the urgent byte (telnet's "synch") reads until this says true.
    /// False on a socket that is not a TCP connection.
    pub fn at_mark(&self) -> io::Result<bool> {
        if self.ty != Type::Stream {
            return Ok(false);
        }
        Ok(self.with_core(|c, _| Ok(c.transport.tcp_at_mark(self.handle)?))?)
    }

    /// Send one datagram to `addr` (the port is ignored by raw sockets).
    pub fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        let addr = self.local_if_unspecified(v4(addr)?);
        self.send_inner(buf, Some(addr))
    }

    /// 0.0.0.0 as a destination means this host, as Linux takes it (`connect` and
    /// `sendto`; never on the wire, RFC 1122 3.2.1.3): the socket's own address when it is
    /// bound to one of the host's, else 127.0.0.1. A client given the address a server
    /// printed ("listening on 0.0.0.0:8080") reaches it. A socket bound to a multicast or
    /// broadcast address to receive on it has no address of its own (Linux's `inet_bind`
    /// leaves the source unset), so its 0.0.0.0 is 127.0.0.1 too, never the group.
    fn local_if_unspecified(&self, a: SocketAddrV4) -> SocketAddrV4 {
        if !a.ip().is_unspecified() {
            return a;
        }
        let own = match self.local_addr() {
            Ok(SocketAddr::V4(l))
                if !l.ip().is_unspecified()
                    && self
                        .with_core(|c, _| Ok(c.ip.tx().is_local(*l.ip())))
                        .unwrap_or(false) =>
            {
                *l.ip()
            }
            _ => Ipv4Addr::LOCALHOST,
        };
        SocketAddrV4::new(own, a.port())
    }

    fn send_inner(&self, buf: &[u8], dst: Option<SocketAddrV4>) -> io::Result<usize> {
        if self.ty == Type::Stream {
            return self.send_stream(&[IoSlice::new(buf)], false);
        }
        // A blocking datagram send waits, after sending, while the device's queue is long
        // (`Stack::finish_paced`); a non-blocking one never waits (nor does Linux's): it
        // sends nothing and says `WouldBlock` while the queue is long, as Linux says
        // EAGAIN while the socket's send buffer is full, and `poll` says writable again
        // once the queue is short.
        let (paced, timeout) = {
            let o = self.opts.lock();
            (!o.nonblocking, o.send_timeout)
        };
        let mut core = self.core()?;
        if !paced && core.datagram_held(self.handle, dst.map(|d| *d.ip())) {
            core.note_blocked(self.handle);
            return Err(SocketError::WouldBlock.into());
        }
        // One deadline for the whole call: the waits before and after the send share the
        // send timeout (each took all of it, so a call could wait twice `SO_SNDTIMEO`).
        let deadline = deadline_after(timeout);
        if paced {
            core = self.wait_for_arp_room(core, dst, deadline)?;
        }
        let now = self.stack.now();
        let n = {
            let c = &mut *core;
            let Core { ip, transport, .. } = c;
            match self.ty {
                Type::Dgram => transport
                    .udp_send(self.handle, ip.tx(), dst, buf, now)
                    .map_err(Into::into),
                Type::Raw => transport
                    .raw_send(self.handle, ip.tx(), dst.map(|d| *d.ip()), buf, now)
                    .map_err(Into::into),
                Type::Stream => Err(SocketError::Unsupported("stream sockets (TCP)")),
            }
        };
        if paced {
            // No limit when the timeout reaches past what the clock holds (`Duration::MAX`).
            self.stack.finish_paced(core, deadline);
        } else {
            self.stack.finish(core);
        }
        Ok(n?)
    }

    /// A blocking datagram send waits while the ARP queue of its next hop is full (a
    /// burst sent before the neighbour answered), where it would push the oldest queued
    /// datagram out, as Linux's does: until the address is resolved or given up (the
    /// cache's retries, about 3 s), or the send timeout passes (then the datagram goes,
    /// and the oldest gives way, counted). It sleeps on the socket's condition variable,
    /// woken by whichever thread's call empties the queue (`Core::recheck_blocked`).
    fn wait_for_arp_room<'a>(
        &'a self,
        mut core: MutexGuard<'a, Core>,
        dst: Option<SocketAddrV4>,
        deadline: Option<std::time::Instant>,
    ) -> Result<MutexGuard<'a, Core>, SocketError> {
        let target = dst.or_else(|| match self.ty {
            Type::Raw => core
                .transport
                .raw(self.handle)
                .ok()
                .and_then(|r| r.peer.map(|p| SocketAddrV4::new(p, 0))),
            _ => core.transport.udp_path(self.handle).and_then(|p| p.0),
        });
        let Some(target) = target.map(|t| *t.ip()) else {
            return Ok(core);
        };
        while core.ip.arp_queue_full(target) {
            if self.closed.load(Ordering::Acquire) || !core.transport.is_open(self.handle) {
                core.clear_arp_blocked(self.handle);
                return Err(SocketError::Closed);
            }
            if self.stack.is_shut_down() {
                core.clear_arp_blocked(self.handle);
                return Err(SocketError::StackDown);
            }
            core.note_arp_blocked(self.handle, target);
            let timed_out = match deadline {
                Some(d) => self.cond.wait_until(&mut core, d).timed_out(),
                None => {
                    self.cond.wait(&mut core);
                    false
                }
            };
            if timed_out {
                break;
            }
        }
        core.clear_arp_blocked(self.handle);
        Ok(core)
    }

    /// A stream send: all of `buf` is queued before it returns, waiting for room as the
    /// peer acknowledges. If the connection fails, the send times out or a non-blocking
    /// socket runs out of room part-way, it returns how much was queued (the error only if
    /// nothing was).
    /// Send the pieces of `bufs` one after the other as one stream write (`writev`), on a
    /// TCP socket: what fits is queued under one lock and goes out together, so a header
    /// and its body make one segment. Blocks as `send` does; other sockets take the
    /// pieces together as one datagram.
    pub fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.ty == Type::Stream {
            return self.send_stream(bufs, false);
        }
        self.send_inner(
            &bufs
                .iter()
                .flat_map(|b| b.iter().copied())
                .collect::<Vec<u8>>(),
            None,
        )
    }

    /// `urgent`: `MSG_OOB` (see `send_urgent`).
    fn send_stream(&self, bufs: &[IoSlice<'_>], urgent: bool) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum::<usize>();
        if len == 0 {
            // Nothing to queue, but the connection's state is reported as Linux reports
            // it for a write of nothing: its error once, then `BrokenPipe` after the end.
            return Ok(self.with_core(|c, now| {
                let Core { ip, transport, .. } = c;
                Ok(transport.tcp_send(self.handle, &[], ip.tx(), now)?)
            })?);
        }
        let timeout = self.opts.lock().send_timeout;
        let deadline = deadline_after(timeout);
        let mut sent = 0;
        while sent < len {
            // Each pass tries at once and waits only for room: a deadline that has passed
            // (left zero) still queues what fits, then says `Elapsed`.
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let r = self.wait_for_in(left.or(timeout), true, |c, now| {
                let Core { ip, transport, .. } = c;
                let pieces = after(bufs, sent);
                let r = if urgent {
                    transport.tcp_send_urgent(self.handle, pieces, ip.tx(), now)
                } else {
                    transport.tcp_send_gather(self.handle, pieces, ip.tx(), now)
                };
                match r {
                    Ok(n) => Ok((n > 0).then_some(n)),
                    Err(transport::TransportError::Tcp(e)) if sent > 0 => {
                        // This call returns the count; the next one says what happened.
                        transport.tcp_keep_error(self.handle, e);
                        Err(transport::TransportError::Tcp(e).into())
                    }
                    Err(e) => Err(e.into()),
                }
            });
            match r {
                Ok(n) => sent += n,
                Err(e) if sent == 0 => return Err(e.into()),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// A stream's `recv` without a copy: waits as `recv` does, then hands up to `max`
    /// received bytes to `take` where they lie in the connection's receive buffer (one
    /// slice, or two when they wrap: the second only if `take` consumed all of the first).
    /// `take` returns how many bytes of its slice it consumed; the call returns the total
    /// (0 at end of stream). `take` runs with the stack locked: it must not call the stack
    /// (any socket call from it would deadlock), and should be quick.
    pub fn recv_with(&self, max: usize, mut take: impl FnMut(&[u8]) -> usize) -> io::Result<usize> {
        if self.ty != Type::Stream {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "recv_with reads streams only (TCP)",
            ));
        }
        let timeout = self.opts.lock().recv_timeout;
        Ok(self.wait_for(timeout, |c, now| {
            let Core { ip, transport, .. } = c;
            Ok(transport.tcp_recv_with(self.handle, max, &mut take, ip.tx(), now)?)
        })?)
    }

    /// A stream's next bytes, copied into `buf` and left to be read (`MSG_PEEK`): waits
    /// as `recv` does until some are there.
    pub fn peek_stream(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ty != Type::Stream {
            return Err(SocketError::Unsupported("peek_stream reads streams only (TCP)").into());
        }
        let timeout = self.opts.lock().recv_timeout;
        Ok(self.wait_for(timeout, |c, now| {
            let Core { ip, transport, .. } = c;
            Ok(transport.tcp_peek(self.handle, buf, ip.tx(), now)?)
        })?)
    }

    /// Receive: a stream's next bytes, or one datagram from the connected peer (from
    /// anyone, when not connected).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    /// Receive one datagram: its length as copied into `buf` (a longer one is truncated,
    /// as with BSD sockets) and its source. Raw sockets return the whole IP datagram.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_peek(buf, false, false)
    }

    /// `recv_from` with `MSG_PEEK`: the datagram stays queued for the next read. UDP
    /// sockets (streams peek with `TcpStream::peek`).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_peek(buf, true, false)
    }

    /// `recv_from` with Linux's `MSG_TRUNC`: the same, but it returns the datagram's whole
    /// length, which is more than `buf.len()` when the datagram was cut to fit (only
    /// `buf.len()` bytes were copied; the rest is gone). UDP and raw sockets.
    pub fn recv_from_trunc(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_peek(buf, false, true)
    }

    /// `peek_from` with `MSG_TRUNC`: the next datagram's whole length, the datagram left
    /// queued; with an empty `buf`, a way to learn how large a buffer it needs. UDP
    /// sockets.
    pub fn peek_from_trunc(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_from_peek(buf, true, true)
    }

    /// `recv_from` that also says which of this host's addresses (or which broadcast or
    /// group) the datagram was sent to: Linux's `IP_PKTINFO` `ipi_addr`, for a socket
    /// bound to 0.0.0.0 that must answer from the address it was asked at. UDP sockets.
    pub fn recv_from_to(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Ipv4Addr)> {
        if self.ty != Type::Dgram {
            return Err(SocketError::Unsupported("recv_from_to needs a UDP socket").into());
        }
        let (timeout, ends) = self.recv_wait();
        let r = self.wait_for(timeout, |c, _| {
            let u = c.transport.udp(self.handle)?;
            match u.recv()? {
                Some(d) => {
                    let n = d.data.len().min(buf.len());
                    buf[..n].copy_from_slice(&d.data[..n]);
                    Ok(Some((n, SocketAddr::V4(d.from), d.to)))
                }
                None if ends && u.is_shut_read() => Ok(Some((
                    0,
                    SocketAddr::from(([0, 0, 0, 0], 0)),
                    Ipv4Addr::UNSPECIFIED,
                ))),
                None => Ok(None),
            }
        })?;
        Ok(r)
    }

    /// The oldest ICMP error queued by `IP_RECVERR` ([`SockOpt::RecvErrors`]), as Linux's
    /// `recvmsg(MSG_ERRQUEUE)` reads it; the socket's pending error becomes the next
    /// queued one's, or none. Unlike `MSG_ERRQUEUE`, it waits as a receive does: for ever
    /// on a blocking socket, at most `SO_RCVTIMEO`, or not at all (`WouldBlock`) on a
    /// non-blocking one. UDP sockets with the option on.
    pub fn recv_error(&self) -> io::Result<IcmpError> {
        if self.ty != Type::Dgram {
            return Err(SocketError::Unsupported("recv_error needs a UDP socket").into());
        }
        let timeout = self.opts.lock().recv_timeout;
        let r = self.wait_for(timeout, |c, _| {
            let u = c.transport.udp(self.handle)?;
            if !u.recverr() {
                return Err(SocketError::InvalidInput(
                    "no error queue: IP_RECVERR is off on this socket",
                ));
            }
            let r = u.recv_error();
            if r.is_some() && u.errors_queued() > 0 {
                // The next queued error is pending now: a receive blocked in another
                // thread returns it (Linux's `sock_dequeue_err_skb` reports it).
                c.wake(self.handle);
            }
            Ok(r)
        })?;
        Ok(IcmpError {
            error: SocketError::from(r.error).into(),
            icmp_type: r.kind,
            icmp_code: r.code,
            info: r.info,
            offender: r.offender,
            dest: SocketAddr::V4(r.dest),
            payload: r.payload,
        })
    }

    /// `recv_from`; with `peek`, the datagram stays queued; with `trunc` (`MSG_TRUNC`), the
    /// datagram's whole length is returned rather than the length copied.
    fn recv_from_peek(
        &self,
        buf: &mut [u8],
        peek: bool,
        trunc: bool,
    ) -> io::Result<(usize, SocketAddr)> {
        if peek && self.ty == Type::Stream {
            return Err(SocketError::Unsupported(
                "peek_from needs a datagram or raw socket (TCP streams: peek_stream)",
            )
            .into());
        }
        if trunc && self.ty == Type::Stream {
            // Linux's MSG_TRUNC on a stream discards the bytes instead: another call.
            return Err(SocketError::Unsupported("MSG_TRUNC needs a datagram socket").into());
        }
        let (timeout, ends) = self.recv_wait();
        if self.ty == Type::Stream {
            let n = self.wait_for(timeout, |c, now| {
                let Core { ip, transport, .. } = c;
                Ok(transport.tcp_recv(self.handle, buf, ip.tx(), now)?)
            })?;
            let peer = self
                .peer_addr()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            return Ok((n, peer));
        }
        let r = self.wait_for(timeout, |c, _| match self.ty {
            Type::Dgram => {
                let u = c.transport.udp(self.handle)?;
                let copy = |buf: &mut [u8], d: &transport::udp::UdpDatagram| {
                    let n = d.data.len().min(buf.len());
                    buf[..n].copy_from_slice(&d.data[..n]);
                    let len = if trunc { d.data.len() } else { n };
                    Some((len, SocketAddr::V4(d.from)))
                };
                let got = if peek {
                    u.peek()?.and_then(|d| copy(buf, d))
                } else {
                    u.recv()?.and_then(|d| copy(buf, &d))
                };
                match got {
                    Some(r) => Ok(Some(r)),
                    None if ends && u.is_shut_read() => {
                        Ok(Some((0, SocketAddr::from(([0, 0, 0, 0], 0)))))
                    }
                    None => Ok(None),
                }
            }
            Type::Raw => {
                let r = c.transport.raw(self.handle)?;
                if let Some(e) = r.take_error() {
                    return Err(transport::TransportError::Soft(e).into());
                }
                let copy = |buf: &mut [u8], d: &transport::RawDatagram| {
                    let n = d.data.len().min(buf.len());
                    buf[..n].copy_from_slice(&d.data[..n]);
                    let len = if trunc { d.data.len() } else { n };
                    (len, SocketAddr::V4(SocketAddrV4::new(d.from, 0)))
                };
                let got = if peek {
                    r.peek().map(|d| copy(buf, d))
                } else {
                    r.recv().map(|d| copy(buf, &d))
                };
                Ok(match got {
                    // Its read side shut down and nothing left: the end, as Linux's 0.
                    None if ends && r.is_shut_read() => {
                        Some((0, SocketAddr::from(([0, 0, 0, 0], 0))))
                    }
                    got => got,
                })
            }
            Type::Stream => Err(SocketError::Unsupported("stream sockets (TCP)")),
        })?;
        Ok(r)
    }

    /// `shutdown`: stop receiving (a blocked reader returns 0), sending, or both. On a
    /// TCP socket whose `connect` is still waiting for an answer, either half ends the
    /// attempt as on Linux: `connect` fails with `ConnectionReset`, and the socket may
    /// connect again.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let (r, w) = match how {
            Shutdown::Read => (true, false),
            Shutdown::Write => (false, true),
            Shutdown::Both => (true, true),
        };
        self.with_core(|c, now| {
            let Core { ip, transport, .. } = c;
            let done = if self.ty == Type::Stream {
                transport.tcp_shutdown(self.handle, r, w, ip.tx(), now)
            } else {
                transport.shutdown(self.handle, r, w)
            };
            // Also when it says "not connected": as on Linux, the shutdown applies and
            // wakes the socket's waiters all the same.
            c.wake(self.handle);
            done.map_err(SocketError::from)
        })?;
        Ok(())
    }

    /// `close`: free the socket. A call blocked on it in another thread returns an error;
    /// closing twice is harmless. A TCP connection ends gracefully in the background (a
    /// FIN after the queued data), unless `SO_LINGER` says otherwise (see `SockOpt::Linger`).
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let linger = match self.ty {
            Type::Stream => self.opts.lock().linger,
            _ => None,
        };
        let mut core = self.stack.lock();
        let now = self.stack.now();
        let Core { ip, transport, .. } = &mut *core;
        match linger {
            Some(t) if t.is_zero() => transport.tcp_close_abort(self.handle, ip.tx(), now),
            _ => {
                transport.close(self.handle, ip.tx(), now);
            }
        }
        // Wake our own waiters: they find the socket closed.
        self.cond.notify_all();
        // Pollers report nothing more about it from now, a lingering close too (as
        // Linux's epoll forgets a file before its release lingers).
        core.hub.forget(self.handle);
        if let Some(t) = linger.filter(|t| !t.is_zero()) {
            core = self.linger(core, t);
        }
        core.unregister(self.handle);
        // Send what closing queued (a FIN or RST).
        self.stack.finish(core);
    }

    /// `SO_LINGER`: after `close`, wait until the connection (now an orphan in the
    /// transport, still woken through our condition variable) has everything acknowledged,
    /// has failed or is gone, at most `limit`.
    fn linger<'a>(&'a self, core: MutexGuard<'a, Core>, limit: Duration) -> MutexGuard<'a, Core> {
        let deadline = deadline_after(Some(limit));
        // Send the FIN first.
        self.stack.finish(core);
        let mut core = self.stack.lock();
        loop {
            let pending = core
                .transport
                .tcp_outstanding(self.handle)
                .is_ok_and(|o| o.pending());
            if !pending || self.stack.is_shut_down() {
                return core;
            }
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(&mut core, d).timed_out() {
                        return core;
                    }
                }
                None => self.cond.wait(&mut core),
            }
        }
    }

    /// Bytes queued on a TCP connection that the peer has not acknowledged yet (Linux's
    /// `SIOCOUTQ`).
    pub fn unacked(&self) -> io::Result<usize> {
        let o = self.with_core(|c, _| Ok(c.transport.tcp_outstanding(self.handle)?))?;
        Ok(o.unacked)
    }

    /// Wait until the peer has acknowledged every byte queued on this TCP connection and,
    /// after `shutdown(Write)`, the FIN too. `TimedOut` after `timeout`; the connection's
    /// error (`ConnectionReset`, `TimedOut`...) if it fails first.
    pub fn wait_acked(&self, timeout: Option<Duration>) -> io::Result<()> {
        if self.ty != Type::Stream {
            return Err(
                SocketError::InvalidInput("only TCP sockets wait for acknowledgements").into(),
            );
        }
        self.wait_for(timeout, |c, _| {
            let o = c.transport.tcp_outstanding(self.handle)?;
            use transport::TcpState as S;
            match o.state {
                _ if o.fin_acked => Ok(Some(())),
                S::Established | S::CloseWait if o.unacked == 0 => Ok(Some(())),
                S::Closed | S::Listen | S::SynSent | S::TimeWait => {
                    // Failed (or never connected): the connection's error, once.
                    c.transport.tcp_connected(self.handle)?;
                    Err(SocketError::NotConnected)
                }
                _ => Ok(None),
            }
        })
        .map_err(|e| match e {
            SocketError::Elapsed => SocketError::TimedOut,
            e => e,
        })?;
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `SO_RCVTIMEO` (`None`: blocks for ever).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.opts.lock().recv_timeout
    }

    /// `SO_SNDTIMEO`.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.opts.lock().send_timeout
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.opts.lock().nonblocking = on;
    }

    pub fn is_nonblocking(&self) -> bool {
        self.opts.lock().nonblocking
    }

    /// `setsockopt`.
    pub fn set_option(&self, opt: SockOpt) -> io::Result<()> {
        let bad = |why| -> io::Error { SocketError::InvalidInput(why).into() };
        // A closed socket has no options left to set (Linux: EBADF), the ones kept here
        // (timeouts, SO_LINGER) as much as the transport's.
        if self.is_closed() {
            return Err(SocketError::Closed.into());
        }
        match opt {
            SockOpt::RecvTimeout(Some(d)) | SockOpt::SendTimeout(Some(d)) if d.is_zero() => {
                return Err(bad("a timeout of zero; use None to block"));
            }
            SockOpt::RecvTimeout(t) => self.opts.lock().recv_timeout = t,
            SockOpt::Linger(t) => {
                self.opts.lock().linger = t;
                // The end of the program closes open sockets as `close` would: it must
                // know which reset (SO_LINGER of zero).
                let reset = t.is_some_and(|t| t.is_zero());
                self.stack.lock().set_reset_on_close(self.handle, reset);
                return Ok(());
            }
            SockOpt::SendTimeout(t) => self.opts.lock().send_timeout = t,
            // SO_KEEPALIVE is a socket-level option Linux keeps on any socket; TCP_NODELAY
            // and TCP_CORK are TCP's (ENOPROTOOPT on UDP and raw sockets).
            SockOpt::KeepAlive(on) if self.ty != Type::Stream => self.opts.lock().keepalive = on,
            SockOpt::Broadcast(on) if self.ty == Type::Stream => self.opts.lock().broadcast = on,
            SockOpt::NoDelay(_) | SockOpt::Cork(_) if self.ty != Type::Stream => {
                return Err(bad(TCP_NODELAY_CORK));
            }
            SockOpt::Ttl(0) => return Err(bad("TTL must be 1 to 255")),
            // As Linux's do_ip_setsockopt: a stream socket keeps IP_MULTICAST_LOOP (no
            // effect) and refuses IP_MULTICAST_TTL and IP_MULTICAST_IF (EINVAL).
            SockOpt::MulticastLoop(on) if self.ty == Type::Stream => {
                self.opts.lock().multicast_loop_off = !on
            }
            SockOpt::MulticastTtl(_) | SockOpt::MulticastIf(_) if self.ty == Type::Stream => {
                return Err(bad(
                    "IP_MULTICAST_TTL and IP_MULTICAST_IF are for UDP and raw sockets",
                ));
            }
            SockOpt::RecvErrors(_) if self.ty == Type::Raw => {
                return Err(
                    SocketError::Unsupported("IP_RECVERR is for UDP and TCP sockets here").into(),
                );
            }
            SockOpt::MulticastIf(a)
                if !a.is_unspecified() && !self.with_core(|c, _| Ok(c.ip.tx().is_local(a)))? =>
            {
                return Err(SocketError::AddrNotAvailable.into());
            }
            SockOpt::Congestion(_) if self.ty != Type::Stream => {
                return Err(bad("TCP_CONGESTION is an option of TCP sockets"));
            }
            SockOpt::UserTimeout(_) if self.ty != Type::Stream => {
                return Err(bad("TCP_USER_TIMEOUT is an option of TCP sockets"));
            }
            SockOpt::KeepIdle(_) | SockOpt::KeepInterval(_) | SockOpt::KeepCount(_)
                if self.ty != Type::Stream =>
            {
                return Err(bad(
                    "TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT are options of TCP sockets",
                ));
            }
            SockOpt::KeepIdle(d) | SockOpt::KeepInterval(d) if keep_secs(d).is_none() => {
                return Err(bad("keepalive times are whole seconds from 1 to 32767"));
            }
            SockOpt::KeepCount(n) if n == 0 || n > u32::from(tcp::MAX_KEEP_COUNT) => {
                return Err(bad("TCP_KEEPCNT is 1 to 127 probes"));
            }
            SockOpt::FastOpen(_) if self.ty != Type::Stream => {
                return Err(bad("TCP_FASTOPEN is an option of TCP sockets"));
            }
            SockOpt::HeaderIncluded(_) if self.ty != Type::Raw => {
                return Err(bad("IP_HDRINCL is an option of raw sockets"));
            }
            SockOpt::IcmpFilter(_) if self.ty != Type::Raw => {
                return Err(SocketError::Unsupported(
                    "ICMP_FILTER is an option of ICMP raw sockets",
                )
                .into());
            }
            SockOpt::Mtu(_) => return Err(bad("IP_MTU can only be read")),
            _ => {
                self.with_core(|c, _| self.set_transport_option(c, opt))?;
            }
        }
        Ok(())
    }

    fn set_transport_option(&self, c: &mut Core, opt: SockOpt) -> Result<(), SocketError> {
        match c.transport.kind(self.handle) {
            Some(SocketKind::Udp) => {
                let u = c.transport.udp(self.handle)?;
                match opt {
                    SockOpt::ReuseAddr(on) => u.reuse_addr = on,
                    SockOpt::ReusePort(on) => u.reuse_port = on,
                    SockOpt::Broadcast(on) => u.broadcast = on,
                    SockOpt::RecvBuffer(n) => u.rcvbuf = n.clamp(MIN_BUF, MAX_BUF),
                    SockOpt::SendBuffer(n) => u.sndbuf = n.clamp(MIN_BUF, MAX_BUF),
                    SockOpt::Ttl(t) => u.ttl = Some(t),
                    SockOpt::Tos(t) => u.tos = t,
                    SockOpt::MulticastTtl(t) => u.multicast_ttl = t,
                    SockOpt::MulticastLoop(on) => u.multicast_loop = on,
                    SockOpt::MulticastIf(a) => {
                        u.multicast_if = Some(a).filter(|a| !a.is_unspecified())
                    }
                    SockOpt::MtuDiscover(m) => u.pmtu = m,
                    SockOpt::RecvErrors(on) => u.set_recverr(on),
                    _ => {}
                }
                Ok(())
            }
            Some(SocketKind::Raw(_)) => {
                let r = c.transport.raw(self.handle)?;
                match opt {
                    SockOpt::Ttl(t) => r.ttl = Some(t),
                    SockOpt::Tos(t) => r.tos = t,
                    SockOpt::Broadcast(on) => r.broadcast = on,
                    SockOpt::HeaderIncluded(false) if r.protocol() == 255 => {
                        return Err(SocketError::InvalidInput(
                            "an IPPROTO_RAW socket always includes the IP header",
                        ));
                    }
                    SockOpt::HeaderIncluded(on) => r.header_included = on,
                    SockOpt::IcmpFilter(_) if r.protocol() != ICMP => {
                        // Linux's EOPNOTSUPP.
                        return Err(SocketError::Unsupported(
                            "ICMP_FILTER is an option of ICMP raw sockets",
                        ));
                    }
                    SockOpt::IcmpFilter(mask) => r.icmp_filter = mask,
                    SockOpt::MtuDiscover(m) => r.pmtu = m,
                    SockOpt::MulticastTtl(t) => r.multicast_ttl = t,
                    SockOpt::MulticastLoop(on) => r.multicast_loop = on,
                    SockOpt::MulticastIf(a) => {
                        r.multicast_if = Some(a).filter(|a| !a.is_unspecified())
                    }
                    SockOpt::ReuseAddr(on) => r.reuse_addr = on,
                    SockOpt::ReusePort(on) => r.reuse_port = on,
                    SockOpt::RecvBuffer(n) => r.set_rcvbuf(n.clamp(MIN_BUF, MAX_BUF)),
                    SockOpt::SendBuffer(n) => r.sndbuf = n.clamp(MIN_BUF, MAX_BUF),
                    _ => {}
                }
                Ok(())
            }
            Some(SocketKind::Tcp) => {
                let Core { ip, transport, .. } = c;
                let now = self.stack.now();
                match opt {
                    SockOpt::ReuseAddr(on) => {
                        transport.tcp(self.handle)?.reuse_addr = on;
                        return Ok(());
                    }
                    SockOpt::ReusePort(on) => {
                        transport.tcp(self.handle)?.reuse_port = on;
                        return Ok(());
                    }
                    // TCP_FASTOPEN sizes a listener's queue: Linux takes it in CLOSE
                    // and LISTEN only (EINVAL on a connection).
                    SockOpt::FastOpen(_)
                        if !matches!(
                            transport.tcp(self.handle)?.state(),
                            transport::TcpState::Closed
                                | transport::TcpState::TimeWait
                                | transport::TcpState::Listen
                        ) =>
                    {
                        return Err(SocketError::InvalidInput(
                            "TCP_FASTOPEN is set on a listener or before connect",
                        ));
                    }
                    _ => {}
                }
                if let SockOpt::NoDelay(on) = opt {
                    transport.tcp_set_nodelay(self.handle, on, ip.tx(), now)?;
                    return Ok(());
                }
                transport.tcp_set_opts(
                    self.handle,
                    |o| match opt {
                        SockOpt::Cork(on) => o.cork = on,
                        SockOpt::KeepAlive(on) => o.keepalive = on,
                        SockOpt::KeepIdle(d) => o.keep_idle = keep_secs(d).unwrap_or(0),
                        SockOpt::KeepInterval(d) => o.keep_interval = keep_secs(d).unwrap_or(0),
                        SockOpt::KeepCount(n) => o.keep_count = u8::try_from(n).unwrap_or(0),
                        // A buffer set by the application stays as it is (Linux: no
                        // autotuning once SO_RCVBUF is set).
                        SockOpt::RecvBuffer(n) => {
                            o.rcvbuf = n.clamp(MIN_BUF, MAX_BUF);
                            o.rcvbuf_max = o.rcvbuf;
                        }
                        SockOpt::SendBuffer(n) => o.sndbuf = n.clamp(MIN_BUF, MAX_BUF),
                        // Zero unsets it, as with Linux's TCP_USER_TIMEOUT.
                        SockOpt::UserTimeout(d) => {
                            o.user_timeout = d.filter(|d| !d.is_zero());
                        }
                        SockOpt::Congestion(alg) => o.congestion = alg,
                        SockOpt::Ttl(t) => o.ttl = Some(t),
                        SockOpt::Tos(t) => o.tos = t & !ECN_MASK,
                        SockOpt::MtuDiscover(m) => o.pmtu = m,
                        SockOpt::RecvErrors(on) => o.recverr = on,
                        SockOpt::FastOpen(n) => o.fastopen = n.min(MAX_FASTOPEN_QUEUE),
                        _ => {}
                    },
                    ip.tx(),
                    now,
                )?;
                Ok(())
            }
            None => Err(SocketError::Closed),
        }
    }

    /// `IP_ADD_MEMBERSHIP`: a UDP or raw socket joins `group` on the interface with address
    /// `iface` (0.0.0.0: the one the route to the group leaves by). Errors: not a group
    /// (`InvalidInput`), no such interface or route (`Other`, Linux's ENODEV), joined
    /// already (`AddrInUse`), twenty groups already (`OutOfMemory`, ENOBUFS).
    pub fn join_multicast(&self, group: Ipv4Addr, iface: Ipv4Addr) -> io::Result<()> {
        self.membership(group, iface, true)
    }

    /// `IP_DROP_MEMBERSHIP`: leave `group` on the interface with address `iface` (0.0.0.0:
    /// the one the route to the group leaves by, as `join_multicast` picks it and Linux's
    /// `ip_mc_find_dev` does; with no route, the first joined). Not a member:
    /// `AddrNotAvailable`.
    pub fn leave_multicast(&self, group: Ipv4Addr, iface: Ipv4Addr) -> io::Result<()> {
        self.membership(group, iface, false)
    }

    fn membership(&self, group: Ipv4Addr, iface: Ipv4Addr, join: bool) -> io::Result<()> {
        if self.ty == Type::Stream {
            return Err(
                SocketError::Unsupported("multicast groups are for UDP and raw sockets").into(),
            );
        }
        self.with_core(|c, now| {
            let Core { ip, transport, .. } = c;
            let r = if join {
                transport.join_multicast(self.handle, group, iface, ip.tx(), now)
            } else {
                transport.leave_multicast(self.handle, group, iface, ip.tx(), now)
            };
            r.map_err(Into::into)
        })?;
        Ok(())
    }

    /// `SO_BINDTODEVICE`: a UDP socket hears only datagrams that came in on the interface
    /// `name` and sends only by it, the limited broadcast too before the interface has an
    /// address (from 0.0.0.0, as a DHCP client must); `None` unbinds. An unknown name is
    /// an error (Linux's ENODEV); TCP and raw sockets say `Unsupported`.
    pub fn bind_device(&self, name: Option<&str>) -> io::Result<()> {
        if self.ty != Type::Dgram {
            return Err(SocketError::Unsupported("SO_BINDTODEVICE is for UDP sockets here").into());
        }
        self.with_core(|c, _| {
            let device = match name {
                Some(n) => Some(
                    c.ip.ifindex(n)
                        .ok_or_else(|| SocketError::UnknownDevice(n.to_string()))?,
                ),
                None => None,
            };
            c.transport
                .udp_bind_device(self.handle, device)
                .map_err(Into::into)
        })?;
        Ok(())
    }

    /// `setsockopt(TCP_CONGESTION)` by name: `"cubic"` or `"reno"`; any other name is an
    /// `InvalidInput` error that lists the algorithms there are.
    pub fn set_congestion(&self, name: &str) -> io::Result<()> {
        let alg: CongestionAlgorithm = name.parse().map_err(SocketError::from)?;
        self.set_option(SockOpt::Congestion(alg))
    }

    /// `getsockopt(TCP_CONGESTION)`.
    pub fn congestion(&self) -> io::Result<CongestionAlgorithm> {
        match self.get_option(SockOptName::Congestion)? {
            SockOpt::Congestion(a) => Ok(a),
            _ => {
                Err(SocketError::InvalidInput("TCP_CONGESTION is an option of TCP sockets").into())
            }
        }
    }

    /// `getsockopt`.
    pub fn get_option(&self, name: SockOptName) -> io::Result<SockOpt> {
        if name == SockOptName::Mtu {
            return self.path_mtu().map(SockOpt::Mtu);
        }
        if self.is_closed() {
            return Err(SocketError::Closed.into());
        }
        {
            let o = self.opts.lock();
            match name {
                SockOptName::RecvTimeout => return Ok(SockOpt::RecvTimeout(o.recv_timeout)),
                SockOptName::SendTimeout => return Ok(SockOpt::SendTimeout(o.send_timeout)),
                SockOptName::Linger => return Ok(SockOpt::Linger(o.linger)),
                SockOptName::NoDelay | SockOptName::Cork if self.ty != Type::Stream => {
                    return Err(SocketError::InvalidInput(TCP_NODELAY_CORK).into())
                }
                SockOptName::KeepAlive if self.ty != Type::Stream => {
                    return Ok(SockOpt::KeepAlive(o.keepalive))
                }
                SockOptName::Broadcast if self.ty == Type::Stream => {
                    return Ok(SockOpt::Broadcast(o.broadcast))
                }
                SockOptName::Congestion if self.ty != Type::Stream => {
                    return Err(SocketError::InvalidInput(
                        "TCP_CONGESTION is an option of TCP sockets",
                    )
                    .into())
                }
                SockOptName::UserTimeout if self.ty != Type::Stream => {
                    return Err(SocketError::InvalidInput(
                        "TCP_USER_TIMEOUT is an option of TCP sockets",
                    )
                    .into())
                }
                SockOptName::KeepIdle | SockOptName::KeepInterval | SockOptName::KeepCount
                    if self.ty != Type::Stream =>
                {
                    return Err(SocketError::InvalidInput(
                        "TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT are options of TCP sockets",
                    )
                    .into())
                }
                SockOptName::FastOpen if self.ty != Type::Stream => {
                    return Err(SocketError::InvalidInput(
                        "TCP_FASTOPEN is an option of TCP sockets",
                    )
                    .into())
                }
                // Linux reads it on any socket (0 but on a raw one); only setting it is
                // refused.
                SockOptName::HeaderIncluded if self.ty != Type::Raw => {
                    return Ok(SockOpt::HeaderIncluded(false))
                }
                SockOptName::IcmpFilter if self.ty != Type::Raw => {
                    return Err(SocketError::Unsupported(
                        "ICMP_FILTER is an option of ICMP raw sockets",
                    )
                    .into())
                }
                // Linux reads any socket's: a stream socket's are the defaults (TTL 1, no
                // interface) but for the loop flag it keeps.
                SockOptName::MulticastTtl if self.ty == Type::Stream => {
                    return Ok(SockOpt::MulticastTtl(1))
                }
                SockOptName::MulticastIf if self.ty == Type::Stream => {
                    return Ok(SockOpt::MulticastIf(Ipv4Addr::UNSPECIFIED))
                }
                SockOptName::MulticastLoop if self.ty == Type::Stream => {
                    return Ok(SockOpt::MulticastLoop(!o.multicast_loop_off))
                }
                SockOptName::RecvErrors if self.ty == Type::Raw => {
                    return Err(SocketError::Unsupported(
                        "IP_RECVERR is for UDP and TCP sockets here",
                    )
                    .into())
                }
                _ => {}
            }
        }
        let v = self.with_core(|c, _| {
            let default_ttl = c.ip.default_ttl();
            match c.transport.kind(self.handle) {
                Some(SocketKind::Udp) => {
                    let u = c.transport.udp(self.handle)?;
                    Ok(match name {
                        SockOptName::ReuseAddr => SockOpt::ReuseAddr(u.reuse_addr),
                        SockOptName::ReusePort => SockOpt::ReusePort(u.reuse_port),
                        SockOptName::Broadcast => SockOpt::Broadcast(u.broadcast),
                        SockOptName::RecvBuffer => SockOpt::RecvBuffer(u.rcvbuf),
                        SockOptName::SendBuffer => SockOpt::SendBuffer(u.sndbuf),
                        SockOptName::MulticastTtl => SockOpt::MulticastTtl(u.multicast_ttl),
                        SockOptName::MulticastLoop => SockOpt::MulticastLoop(u.multicast_loop),
                        SockOptName::MulticastIf => {
                            SockOpt::MulticastIf(u.multicast_if.unwrap_or(Ipv4Addr::UNSPECIFIED))
                        }
                        SockOptName::Tos => SockOpt::Tos(u.tos),
                        SockOptName::MtuDiscover => SockOpt::MtuDiscover(u.pmtu),
                        SockOptName::RecvErrors => SockOpt::RecvErrors(u.recverr()),
                        _ => SockOpt::Ttl(u.ttl.unwrap_or(default_ttl)),
                    })
                }
                Some(SocketKind::Raw(_)) => {
                    let r = c.transport.raw(self.handle)?;
                    Ok(match name {
                        SockOptName::ReuseAddr => SockOpt::ReuseAddr(r.reuse_addr),
                        SockOptName::ReusePort => SockOpt::ReusePort(r.reuse_port),
                        SockOptName::Broadcast => SockOpt::Broadcast(r.broadcast),
                        SockOptName::RecvBuffer => SockOpt::RecvBuffer(r.rcvbuf()),
                        SockOptName::SendBuffer => SockOpt::SendBuffer(r.sndbuf),
                        SockOptName::Tos => SockOpt::Tos(r.tos),
                        SockOptName::HeaderIncluded => SockOpt::HeaderIncluded(r.header_included),
                        SockOptName::IcmpFilter if r.protocol() != ICMP => {
                            return Err(SocketError::Unsupported(
                                "ICMP_FILTER is an option of ICMP raw sockets",
                            ))
                        }
                        SockOptName::IcmpFilter => SockOpt::IcmpFilter(r.icmp_filter),
                        SockOptName::MtuDiscover => SockOpt::MtuDiscover(r.pmtu),
                        SockOptName::MulticastTtl => SockOpt::MulticastTtl(r.multicast_ttl),
                        SockOptName::MulticastLoop => SockOpt::MulticastLoop(r.multicast_loop),
                        SockOptName::MulticastIf => {
                            SockOpt::MulticastIf(r.multicast_if.unwrap_or(Ipv4Addr::UNSPECIFIED))
                        }
                        _ => SockOpt::Ttl(r.ttl.unwrap_or(default_ttl)),
                    })
                }
                Some(SocketKind::Tcp) => {
                    let t = c.transport.tcp(self.handle)?;
                    let o = t.opts;
                    Ok(match name {
                        SockOptName::ReuseAddr => SockOpt::ReuseAddr(t.reuse_addr),
                        SockOptName::ReusePort => SockOpt::ReusePort(t.reuse_port),
                        SockOptName::RecvBuffer => SockOpt::RecvBuffer(t.rcvbuf()),
                        SockOptName::SendBuffer => SockOpt::SendBuffer(o.sndbuf),
                        SockOptName::NoDelay => SockOpt::NoDelay(o.nodelay),
                        SockOptName::Cork => SockOpt::Cork(o.cork),
                        SockOptName::KeepAlive => SockOpt::KeepAlive(o.keepalive),
                        SockOptName::KeepIdle => SockOpt::KeepIdle(match o.keep_idle {
                            0 => c.transport.tcp_config().keep_idle,
                            s => Duration::from_secs(u64::from(s)),
                        }),
                        SockOptName::KeepInterval => SockOpt::KeepInterval(match o.keep_interval {
                            0 => c.transport.tcp_config().keep_interval,
                            s => Duration::from_secs(u64::from(s)),
                        }),
                        SockOptName::KeepCount => SockOpt::KeepCount(match o.keep_count {
                            0 => c.transport.tcp_config().keep_count,
                            n => u32::from(n),
                        }),
                        SockOptName::UserTimeout => SockOpt::UserTimeout(o.user_timeout),
                        SockOptName::Congestion => SockOpt::Congestion(o.congestion),
                        SockOptName::Tos => SockOpt::Tos(o.tos),
                        SockOptName::MtuDiscover => SockOpt::MtuDiscover(o.pmtu),
                        SockOptName::RecvErrors => SockOpt::RecvErrors(o.recverr),
                        SockOptName::FastOpen => SockOpt::FastOpen(o.fastopen),
                        _ => SockOpt::Ttl(o.ttl.unwrap_or(default_ttl)),
                    })
                }
                None => Err(SocketError::Closed),
            }
        })?;
        Ok(v)
    }

    /// `IP_MTU`: the path MTU towards the peer (what `ip` knows now: the interface's MTU,
    /// or the lower one a "fragmentation needed" taught it). Only a connected socket has a
    /// peer: `NotConnected` (ENOTCONN) otherwise.
    pub fn path_mtu(&self) -> io::Result<usize> {
        let mtu = self.with_core(|c, _| {
            let Core { ip, transport, .. } = c;
            transport
                .path_mtu(self.handle, ip.tx())
                .map_err(SocketError::from)
        })?;
        Ok(mtu)
    }

    /// The socket's pending error, taken (`SO_ERROR`, std's `take_error`): a reset, a
    /// timeout or an ICMP error no call has reported yet.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = self.with_core(|c, _| {
            Ok(match c.transport.kind(self.handle) {
                Some(SocketKind::Tcp) => c
                    .transport
                    .tcp_take_error(self.handle)?
                    .map(SocketError::from),
                Some(SocketKind::Udp) => c
                    .transport
                    .udp(self.handle)?
                    .take_error()
                    .map(SocketError::from),
                Some(SocketKind::Raw(_)) => c
                    .transport
                    .raw(self.handle)?
                    .take_error()
                    .map(SocketError::from),
                None => return Err(SocketError::Closed),
            })
        })?;
        Ok(e.map(io::Error::from))
    }

    /// `IP_TTL` as `std::net` takes it: 1 to 255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = u8::try_from(ttl)
            .ok()
            .filter(|&t| t > 0)
            .ok_or(SocketError::InvalidInput("TTL must be 1 to 255"))?;
        self.set_option(SockOpt::Ttl(ttl))
    }

    /// `IP_TTL`: the TTL of the socket's datagrams (the stack's default, 64, unless set).
    pub fn ttl(&self) -> io::Result<u32> {
        match self.get_option(SockOptName::Ttl)? {
            SockOpt::Ttl(t) => Ok(u32::from(t)),
            _ => Err(SocketError::InvalidInput("no TTL").into()),
        }
    }

    /// Whether `IP_RECVERR` is on ([`SockOpt::RecvErrors`]; refused on raw sockets).
    pub fn recv_errors(&self) -> io::Result<bool> {
        match self.get_option(SockOptName::RecvErrors)? {
            SockOpt::RecvErrors(on) => Ok(on),
            _ => Ok(false),
        }
    }

    /// The bound address (`getsockname`); 0.0.0.0:0 before `bind`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let a = self.with_core(|c, _| {
            Ok(match c.transport.kind(self.handle) {
                Some(SocketKind::Udp) => c.transport.udp(self.handle)?.local(),
                Some(SocketKind::Tcp) => c.transport.tcp(self.handle)?.local,
                Some(SocketKind::Raw(_)) => c
                    .transport
                    .raw(self.handle)?
                    .bound
                    .map(|ip| SocketAddrV4::new(ip, 0)),
                None => return Err(SocketError::Closed),
            })
        })?;
        Ok(SocketAddr::V4(
            a.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        ))
    }

    /// The connected peer (`getpeername`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let a = self.with_core(|c, _| match c.transport.kind(self.handle) {
            Some(SocketKind::Udp) => Ok(c.transport.udp(self.handle)?.remote()),
            Some(SocketKind::Tcp) => {
                let t = c.transport.tcp(self.handle)?;
                // A connection in TIME-WAIT has ended (Linux: ENOTCONN). One in
                // SYN-RECEIVED has its peer: a Fast Open connection is accepted there
                // (Linux's inet_getname refuses CLOSE and SYN-SENT only).
                use transport::TcpState as S;
                let state = t.state();
                Ok(t.remote().filter(|_| {
                    (state.synchronized() || state == S::SynReceived) && state != S::TimeWait
                }))
            }
            Some(SocketKind::Raw(_)) => Ok(c
                .transport
                .raw(self.handle)?
                .peer
                .map(|p| SocketAddrV4::new(p, 0))),
            None => Err(SocketError::Closed),
        })?;
        a.map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "socket is not connected"))
    }

    /// Readiness for `poll`. A closed socket is in error.
    fn readiness(&self, c: &mut Core) -> Ready {
        if self.closed.load(Ordering::Acquire) {
            return Ready::GONE;
        }
        c.readiness(self.handle).unwrap_or(Ready::GONE)
    }
}

/// When a wait of `timeout` ends. A timeout too long to add to the clock (`Duration::MAX`,
/// which `std` accepts too) is no limit rather than a panic.
/// The bytes of `bufs` after the first `skip`, piece by piece (empty pieces left out).
fn after<'a>(bufs: &'a [IoSlice<'_>], mut skip: usize) -> impl Iterator<Item = &'a [u8]> {
    bufs.iter().filter_map(move |b| {
        if skip >= b.len() {
            skip -= b.len();
            return None;
        }
        let rest = &b[skip..];
        skip = 0;
        Some(rest)
    })
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.close();
    }
}

/// What `poll` watches for on a socket, and (after it returns) what it found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    pub readable: bool,
    pub writable: bool,
    /// Urgent data (POLLPRI): see [`PollFd::urgent`].
    pub urgent: bool,
}

impl Interest {
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
        urgent: false,
    };
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
        urgent: false,
    };
    /// Readable or urgent data (POLLIN | POLLPRI).
    pub const READABLE_URGENT: Interest = Interest {
        readable: true,
        writable: false,
        urgent: true,
    };
}

/// One entry of a `poll`.
pub struct PollFd<'a> {
    pub socket: &'a Socket,
    pub interest: Interest,
    /// Filled in by `poll`.
    pub readable: bool,
    pub writable: bool,
    /// The socket has an error pending or is closed (always reported, as POLLERR is). A
    /// UDP or raw socket's pending error (an ICMP error, or one queued by IP_RECVERR) is
    /// this alone, not `readable` too (Linux's `datagram_poll`); a read returns it.
    pub error: bool,
    /// Hung up (always reported, as POLLHUP is), as Linux's `tcp_poll` says: a TCP
    /// socket in CLOSE (a fresh one, a connection closed, reset, refused or timed out) or
    /// shut both ways (our FIN queued and the peer's received, or our reading shut). The
    /// peer's FIN alone only makes the stream readable. A UDP or raw socket once shut
    /// down both ways (Linux's `datagram_poll`).
    pub hangup: bool,
    /// Read side hung up (POLLRDHUP), as Linux's `tcp_poll` says (RCV_SHUTDOWN): a TCP
    /// connection whose peer shut its sending side (its FIN received), that ended (reset,
    /// refused, timed out, closed), or whose reading was shut down; readable says only
    /// that a read would not block, this that the stream has ended. Reported to an
    /// interest in reading (as Linux's poll reports it when asked for; readable comes
    /// with it). Never on a fresh socket or a listener; on a UDP or raw socket once its
    /// read side is shut down (Linux's `datagram_poll`).
    pub rdhup: bool,
    /// Urgent data (POLLPRI), to an interest in it: a TCP peer's urgent pointer (its
    /// `MSG_OOB`) came and the urgent byte has not been read yet, with bytes to read
    /// towards it. The urgent byte stays in the stream (as Linux's `SO_OOBINLINE`): read
    /// until [`Socket::at_mark`], the next byte read is the last urgent one.
    pub urgent: bool,
}

impl<'a> PollFd<'a> {
    pub fn new(socket: &'a Socket, interest: Interest) -> PollFd<'a> {
        PollFd {
            socket,
            interest,
            readable: false,
            writable: false,
            error: false,
            hangup: false,
            rdhup: false,
            urgent: false,
        }
    }

    fn ready(&self) -> bool {
        self.readable || self.writable || self.error || self.hangup || self.rdhup || self.urgent
    }
}

/// Wait until one of the sockets is ready as asked, or the timeout passes (`None`: no
/// limit; zero: just look). Returns how many entries are ready. All sockets must belong to
/// one stack. With no sockets it sleeps for the timeout (none: `InvalidInput`).
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let Some(first) = fds.first() else {
        // Nothing that could become ready: a sleep for the timeout, as Linux's. With no
        // timeout Linux's sleeps until a signal, which nothing here sends: a caller's
        // loop would spin instead, so it is refused.
        let Some(t) = timeout else {
            return Err(SocketError::InvalidInput(
                "poll with no sockets and no timeout would wait for ever",
            )
            .into());
        };
        std::thread::sleep(t);
        return Ok(0);
    };
    let stack = first.socket.stack().clone();
    if fds.iter().any(|f| !f.socket.stack().same_as(&stack)) {
        return Err(SocketError::InvalidInput("poll over sockets of different stacks").into());
    }
    let deadline = deadline_after(timeout);
    let mut core = stack.lock();
    let any = core.any.clone();
    // The deadline passed during the last wait: this pass is the last look.
    let mut timed_out = false;
    loop {
        core.recheck_blocked();
        let mut n = 0;
        for f in fds.iter_mut() {
            let r = f.socket.readiness(&mut core);
            f.readable = r.readable && f.interest.readable;
            f.writable = r.writable && f.interest.writable;
            f.error = r.error;
            f.hangup = r.hangup;
            f.rdhup = r.rdhup && f.interest.readable;
            f.urgent = r.urgent && f.interest.urgent;
            n += usize::from(f.ready());
        }
        if n > 0 {
            return Ok(n);
        }
        if timed_out {
            return Ok(0);
        }
        if stack.is_shut_down() {
            return Err(SocketError::StackDown.into());
        }
        // A datagram socket held back by a long queue: nothing wakes us when the queue
        // gets short, so look again soon.
        let recheck = core
            .any_blocked()
            .then(|| Instant::now() + crate::runtime::SEND_RECHECK);
        match earliest(deadline, recheck) {
            // Out of time before any wait (zero: just look): what was found stands.
            Some(_) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(0),
            Some(t) => {
                any.wait_until(&mut core, t);
                // Out of time now: one last look, as Linux's do_poll takes, for a socket
                // made ready while this wait took the lock back (a wake-up that came
                // before the deadline, and the rx thread's batch that held the lock
                // past it).
                timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            }
            None => any.wait(&mut core),
        }
    }
}

/// The earlier of two optional instants.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_skips_whole_and_part_pieces_and_leaves_out_empty_ones() {
        let (a, b, c) = ([1u8, 2, 3], [4u8, 5], [6u8]);
        let bufs = [
            IoSlice::new(&a),
            IoSlice::new(&[]),
            IoSlice::new(&b),
            IoSlice::new(&c),
        ];
        let from = |skip| after(&bufs, skip).map(<[u8]>::to_vec).collect::<Vec<_>>();
        assert_eq!(from(0), [vec![1, 2, 3], vec![4, 5], vec![6]]);
        assert_eq!(from(2), [vec![3], vec![4, 5], vec![6]]);
        assert_eq!(from(3), [vec![4, 5], vec![6]]);
        assert_eq!(from(4), [vec![5], vec![6]]);
        assert_eq!(from(6), Vec::<Vec<u8>>::new());
        assert_eq!(from(9), Vec::<Vec<u8>>::new());
    }

    /// `IP_MTU_DISCOVER` is `Want` on a new UDP or raw socket (Linux's default), read back
    /// as set (TCP: see the next test); `IP_MTU` is the path MTU towards a connected
    /// socket's peer, `NotConnected` without one, and cannot be set.
    #[test]
    fn mtu_discover_and_mtu_options() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let u = Socket::new(&stack, Domain::Inet, Type::Dgram, 0).unwrap();
        let get = |s: &Socket| s.get_option(SockOptName::MtuDiscover).unwrap();
        assert_eq!(get(&u), SockOpt::MtuDiscover(PmtuMode::Want));
        u.set_option(SockOpt::MtuDiscover(PmtuMode::Do)).unwrap();
        assert_eq!(get(&u), SockOpt::MtuDiscover(PmtuMode::Do));
        let e = u.get_option(SockOptName::Mtu).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
        u.connect("127.0.0.1:9".parse().unwrap()).unwrap();
        let mtu = stack
            .lock()
            .ip
            .tx()
            .route_info(Ipv4Addr::LOCALHOST)
            .unwrap()
            .1;
        assert_eq!(u.path_mtu().unwrap(), mtu);
        assert_eq!(u.get_option(SockOptName::Mtu).unwrap(), SockOpt::Mtu(mtu));
        assert!(u.set_option(SockOpt::Mtu(1000)).is_err());

        let r = Socket::new(&stack, Domain::Inet, Type::Raw, 1).unwrap();
        assert_eq!(get(&r), SockOpt::MtuDiscover(PmtuMode::Want));
        r.set_option(SockOpt::MtuDiscover(PmtuMode::Dont)).unwrap();
        assert_eq!(get(&r), SockOpt::MtuDiscover(PmtuMode::Dont));
        stack.shutdown();
    }

    /// `IP_MTU_DISCOVER` on a TCP socket, as Linux takes it there: `Want` by default, read
    /// back as set, passed from a listener to the connections it accepts as its other
    /// options are; `IP_MTU` on a connection is the path MTU towards the peer, and
    /// `NotConnected` (ENOTCONN) on a socket that has none.
    #[test]
    fn a_tcp_socket_takes_ip_mtu_discover_and_its_listener_passes_it_on() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let get = |s: &Socket| s.get_option(SockOptName::MtuDiscover).unwrap();
        let l = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        assert_eq!(get(&l), SockOpt::MtuDiscover(PmtuMode::Want));
        let e = l.path_mtu().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
        l.set_option(SockOpt::MtuDiscover(PmtuMode::Dont)).unwrap();
        assert_eq!(get(&l), SockOpt::MtuDiscover(PmtuMode::Dont));
        l.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        l.listen(4).unwrap();
        let c = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        c.set_option(SockOpt::MtuDiscover(PmtuMode::Probe)).unwrap();
        c.connect(l.local_addr().unwrap()).unwrap();
        let (a, _) = l.accept().unwrap();
        assert_eq!(get(&a), SockOpt::MtuDiscover(PmtuMode::Dont));
        assert_eq!(get(&c), SockOpt::MtuDiscover(PmtuMode::Probe));
        let mtu = stack
            .lock()
            .ip
            .tx()
            .route_info(Ipv4Addr::LOCALHOST)
            .unwrap()
            .1;
        assert_eq!(a.path_mtu().unwrap(), mtu);
        assert_eq!(c.get_option(SockOptName::Mtu).unwrap(), SockOpt::Mtu(mtu));
        a.set_option(SockOpt::MtuDiscover(PmtuMode::Do)).unwrap();
        assert_eq!(get(&a), SockOpt::MtuDiscover(PmtuMode::Do));
        stack.shutdown();
    }

    /// After `shutdown(Write)` a send fails at once (`BrokenPipe`, EPIPE): a send would not
    /// block, so `poll` reports the stream writable, as Linux's `tcp_poll` sets POLLOUT
    /// once SEND_SHUTDOWN is set; a loop that waits for room before writing learns of the
    /// shutdown instead of waiting for ever.
    #[test]
    fn a_stream_shut_for_writing_polls_writable_as_its_send_fails_at_once() {
        use std::io::Write;
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (_s, _) = l.accept().unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut fds = [PollFd::new(c.socket(), Interest::WRITABLE)];
        let n = poll(&mut fds, Some(Duration::ZERO)).unwrap();
        let e = (&c).write(b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        stack.shutdown();
        assert_eq!(n, 1, "a send fails at once, yet poll says it would block");
        assert!(fds[0].writable);
    }

    /// A blocking sender's burst to a neighbour not yet resolved: past the 128 datagrams
    /// the ARP queue holds, each send waits for the answer instead of pushing the oldest
    /// out (Linux's way, where a datagram sent before the neighbour answered is lost). The
    /// neighbour (the test, on the far end of the link) answers once 128 wait and the
    /// sender had time to send the rest: all 300 leave, in order.
    #[test]
    fn a_blocking_burst_to_an_unresolved_neighbour_loses_nothing() {
        use netif::Device;
        // Room on the link for every frame at once: a loaded machine may hold this thread
        // back while A writes the 300 datagrams (a full link drops).
        let (a_end, b_end) = crate::testing::link(1024);
        let a = crate::StackBuilder::new()
            .device(Arc::new(a_end))
            .addr("10.0.0.1/24")
            .build()
            .unwrap();
        let s = crate::UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
        let sender = std::thread::spawn(move || {
            for i in 0..300u16 {
                s.send_to(&i.to_be_bytes(), "10.0.0.2:7").unwrap();
            }
        });
        // Nobody answers A's first request for 10.0.0.2.
        let a_mac = crate::testing::await_arp_request(&b_end, [10, 0, 0, 2]);
        let mut buf = [0u8; 1600];
        // The queue fills; the sender gets time to send the rest (or to wait).
        let t = std::time::Instant::now();
        while a.with_core(|c, _| c.ip.arp_pending()) < 128 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(200));
        // The neighbour answers now.
        let b_mac = [2, 0, 0, 0, 0, 0x22];
        let mut reply = Vec::new();
        reply.extend_from_slice(&a_mac);
        reply.extend_from_slice(&b_mac);
        reply.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        reply.extend_from_slice(&b_mac);
        reply.extend_from_slice(&[10, 0, 0, 2]);
        reply.extend_from_slice(&a_mac);
        reply.extend_from_slice(&[10, 0, 0, 1]);
        b_end.send(&reply).unwrap();
        // The datagrams that leave A, by their 2-byte payloads.
        let mut got = Vec::new();
        while got.len() < 300 {
            match b_end.recv(&mut buf, Duration::from_secs(5)) {
                Ok(Some(n)) if n == 44 && buf[12..14] == [0x08, 0x00] && buf[23] == 17 => {
                    got.push(u16::from_be_bytes([buf[42], buf[43]]));
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        // Before the join: a sender never woken would hang it.
        assert_eq!(got, (0..300u16).collect::<Vec<_>>());
        sender.join().unwrap();
        a.shutdown();
    }

    /// A blocking sender waiting for room in a full ARP queue waits at most its
    /// `SO_SNDTIMEO`: then its datagram goes and the oldest queued gives way, counted; a
    /// sender with no timeout waiting meanwhile is woken when the socket's stack shuts
    /// down.
    #[test]
    fn a_sender_waiting_for_arp_room_ends_at_its_send_timeout_or_the_shutdown() {
        let (a_end, b_end) = crate::testing::link(1024);
        let a = crate::StackBuilder::new()
            .device(Arc::new(a_end))
            .addr("10.0.0.1/24")
            .build()
            .unwrap();
        let s = crate::UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
        s.socket()
            .set_option(SockOpt::SendTimeout(Some(Duration::from_millis(150))))
            .unwrap();
        s.send_to(&0u16.to_be_bytes(), "10.0.0.2:7").unwrap();
        crate::testing::await_arp_request(&b_end, [10, 0, 0, 2]);
        for i in 1..128u16 {
            s.send_to(&i.to_be_bytes(), "10.0.0.2:7").unwrap();
        }
        assert_eq!(a.with_core(|c, _| c.ip.arp_pending()), 128);
        let t = std::time::Instant::now();
        s.send_to(b"x", "10.0.0.2:7").unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(a.with_core(|c, _| c.ip.arp_pending()), 128);
        let dropped = a.with_core(|c, _| {
            c.ip.arp_stats()
                .iter()
                .map(|(_, s)| s.pending_dropped.entry_queue_full)
                .sum::<u64>()
        });
        assert_eq!(dropped, 1);
        // No timeout: it waits until the stack goes down.
        let u = crate::UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
        let waiter = std::thread::spawn(move || u.send_to(b"y", "10.0.0.2:7"));
        let t = std::time::Instant::now();
        while a.with_core(|c, _| c.arp_blocked.len()) == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(a.with_core(|c, _| c.arp_blocked.len()), 1);
        a.shutdown();
        let r = waiter.join().unwrap();
        assert!(r.is_err(), "{r:?}");
    }

    /// A blocking sender waiting for room in the ARP queue of a neighbour that never
    /// answers goes on when the cache gives the address up (on the stack thread's timer),
    /// not only when an answer comes.
    #[test]
    fn a_sender_waiting_for_arp_room_goes_on_when_the_resolution_fails() {
        let (a_end, _b_end) = crate::testing::link(1024);
        let mut cfg = crate::StackConfig::default();
        cfg.ip.arp.retransmit_interval = Duration::from_millis(40);
        cfg.ip.arp.max_retries = 2;
        let a = crate::StackBuilder::new()
            .config(cfg)
            .device(Arc::new(a_end))
            .addr("10.0.0.1/24")
            .build()
            .unwrap();
        let s = crate::UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut waited = false;
            for _ in 0..1000 {
                waited |= s
                    .socket()
                    .with_core(|c, _| Ok(c.ip.arp_queue_full([10, 0, 0, 2].into())))?;
                s.send_to(b"x", "10.0.0.2:7")?;
                if waited {
                    break;
                }
            }
            done_tx.send(waited).unwrap();
            Ok::<_, std::io::Error>(())
        });
        // Two requests 40 ms apart, then the resolution fails and the queue is released.
        let r = done.recv_timeout(Duration::from_secs(10));
        a.shutdown();
        assert_eq!(
            r,
            Ok(true),
            "the sender was not woken when the resolution failed"
        );
    }

    /// Accepted connections inherit `SO_RCVTIMEO` and `SO_SNDTIMEO` from their listener,
    /// as on Linux (the listener's socket is cloned, `sk_rcvtimeo` and `sk_sndtimeo` with
    /// it): a server that bounds its reads on the listener bounds them on each connection.
    /// Non-blocking mode, a flag of the file, is not inherited.
    #[test]
    fn an_accepted_stream_inherits_its_listeners_timeouts() {
        use std::io::Read;
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let t = Duration::from_millis(200);
        l.socket()
            .set_option(SockOpt::RecvTimeout(Some(t)))
            .unwrap();
        l.socket()
            .set_option(SockOpt::SendTimeout(Some(t * 2)))
            .unwrap();
        let _c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s, _) = l.accept().unwrap();
        // Checked before the read, which without the timeout would block for ever.
        let timeouts = (s.read_timeout().unwrap(), s.write_timeout().unwrap());
        assert_eq!(timeouts, (Some(t), Some(t * 2)));
        let started = std::time::Instant::now();
        let r = (&s).read(&mut [0u8; 10]);
        let took = started.elapsed();
        stack.shutdown();
        // Nothing is sent: the read times out (EAGAIN, as Linux's) rather than blocking.
        assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::WouldBlock));
        assert!(took >= t, "{took:?}");
    }

    /// Accepted connections inherit `SO_LINGER` from their listener, as on Linux (the
    /// listener's socket is cloned, `sk_lingertime` and the SOCK_LINGER flag with it;
    /// Stevens, UNP 7.4): a server that sets a zero linger on its listener resets each
    /// connection it closes.
    #[test]
    fn an_accepted_stream_inherits_its_listeners_linger() {
        use std::io::{Read, Write};
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        l.socket()
            .set_option(SockOpt::Linger(Some(Duration::ZERO)))
            .unwrap();
        let mut c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s, _) = l.accept().unwrap();
        let linger = s.linger().unwrap();
        (&s).write_all(b"hello").unwrap();
        drop(s);
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let end = c.read_to_end(&mut got);
        stack.shutdown();
        assert_eq!(linger, Some(Duration::ZERO));
        let e = end.expect_err("a reset, not a clean end");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }

    /// A write of some bytes, with room for them, queues them whatever the write timeout.
    /// With a timeout of a few nanoseconds `send` looked at its deadline before its first
    /// try, found it passed and returned `Ok(0)` having queued nothing: `write` said the
    /// stream takes no more bytes (`write_all` failed with `WriteZero`) while the send
    /// buffer was empty. Linux copies what fits and waits (and times out, EAGAIN) only
    /// for room; `std` takes any non-zero timeout.
    #[test]
    fn a_write_with_a_tiny_timeout_queues_what_fits() {
        use std::io::{Read, Write};
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s, _) = l.accept().unwrap();
        c.set_write_timeout(Some(Duration::from_nanos(1))).unwrap();
        let written: Vec<_> = (0..100)
            .map(|_| (&c).write(b"hello").map_err(|e| e.kind()))
            .collect();
        let all = (&c).write_all(b"!").map_err(|e| e.kind());
        c.close();
        let mut got = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let read = (&s).read_to_end(&mut got).map_err(|e| e.kind());
        stack.shutdown();
        let zeros = written.iter().filter(|w| **w == Ok(0)).count();
        assert_eq!(
            zeros,
            0,
            "{zeros} of 100 writes queued nothing: {:?}",
            &written[..3]
        );
        assert_eq!(written, vec![Ok(5); 100]);
        assert_eq!(all, Ok(()));
        assert_eq!(read, Ok(501));
    }

    /// `TCP_USER_TIMEOUT` is an option of TCP sockets. On a UDP or raw socket `set_option`
    /// accepted it and did nothing, and `get_option(UserTimeout)` answered with another
    /// option's value (`SockOpt::Ttl(64)`), which a caller matching on `UserTimeout` took
    /// for "none". Linux refuses TCP-level options on other sockets (ENOPROTOOPT); here
    /// both calls say `InvalidInput`, as for `TCP_CONGESTION`.
    #[test]
    fn user_timeout_is_refused_on_sockets_other_than_tcp() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let udp = Socket::new(&stack, Domain::Inet, Type::Dgram, 0).unwrap();
        let raw = Socket::new(&stack, Domain::Inet, Type::Raw, 1).unwrap();
        let mut seen = Vec::new();
        for s in [&udp, &raw] {
            let set = s.set_option(SockOpt::UserTimeout(Some(Duration::from_secs(7))));
            let got = s.get_option(SockOptName::UserTimeout);
            seen.push((
                s.socket_type(),
                set.map_err(|e| e.kind()),
                got.map_err(|e| e.kind()),
            ));
        }
        stack.shutdown();
        for (ty, set, got) in seen {
            assert_eq!(set, Err(io::ErrorKind::InvalidInput), "{ty:?}: set");
            assert_eq!(got, Err(io::ErrorKind::InvalidInput), "{ty:?}: get");
        }
    }

    /// `TCP_NODELAY` and `TCP_CORK` are TCP's: a UDP or raw socket refuses both, set and
    /// get, as Linux's ENOPROTOOPT (checked with Python in a namespace). They were stored
    /// and read back, so a program that set them on the wrong socket heard nothing of it.
    /// `SO_KEEPALIVE`, a socket-level option, is still kept on any socket, as Linux's.
    #[test]
    fn nodelay_and_cork_are_refused_on_sockets_other_than_tcp() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let udp = Socket::new(&stack, Domain::Inet, Type::Dgram, 0).unwrap();
        let raw = Socket::new(&stack, Domain::Inet, Type::Raw, 1).unwrap();
        let mut seen = Vec::new();
        for s in [&udp, &raw] {
            for (opt, name) in [
                (SockOpt::NoDelay(true), SockOptName::NoDelay),
                (SockOpt::Cork(true), SockOptName::Cork),
            ] {
                let set = s.set_option(opt).map_err(|e| e.kind());
                let got = s.get_option(name).map_err(|e| e.kind());
                seen.push((s.socket_type(), name, set, got));
            }
            let keep = s.set_option(SockOpt::KeepAlive(true)).map_err(|e| e.kind());
            let back = s.get_option(SockOptName::KeepAlive).map_err(|e| e.kind());
            assert_eq!((keep, back), (Ok(()), Ok(SockOpt::KeepAlive(true))));
        }
        stack.shutdown();
        for (ty, name, set, got) in seen {
            assert_eq!(
                set,
                Err(io::ErrorKind::InvalidInput),
                "{ty:?} {name:?}: set"
            );
            assert_eq!(
                got,
                Err(io::ErrorKind::InvalidInput),
                "{ty:?} {name:?}: get"
            );
        }
    }

    /// `TCP_USER_TIMEOUT` reads back as Linux's: unset (`None`, Linux's 0) on a fresh
    /// socket and after zero is set, and any value set, the stack's default too. Before,
    /// an unset option read as the default (300 s) and a set default counted as unset.
    #[test]
    fn user_timeout_reads_back_unset_or_as_set() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let s = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        let get = || match s.get_option(SockOptName::UserTimeout).unwrap() {
            SockOpt::UserTimeout(d) => d,
            o => panic!("{o:?}"),
        };
        let fresh = get();
        let set = |d: Option<Duration>| s.set_option(SockOpt::UserTimeout(d)).unwrap();
        set(Some(Duration::from_secs(300)));
        let default = get();
        set(Some(Duration::ZERO));
        let zero = get();
        set(Some(Duration::from_secs(7)));
        set(None);
        let none = get();
        stack.shutdown();
        assert_eq!(fresh, None);
        assert_eq!(default, Some(Duration::from_secs(300)));
        assert_eq!((zero, none), (None, None));
    }

    /// A blocking datagram send turns `SO_SNDTIMEO` into the pacing limit. `set_option`
    /// accepts `SendTimeout(Some(Duration::MAX))`, which every other wait treats as no
    /// limit (`deadline_after`); here an unchecked `Instant::now() + t` made the send
    /// panic ("overflow when adding duration to instant") instead of sending (found by
    /// an independent review).
    #[test]
    fn a_datagram_send_with_the_longest_send_timeout_sends() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let sink = crate::UdpSocket::bind(&stack, "127.0.0.1:9").unwrap();
        let s = crate::UdpSocket::bind(&stack, "127.0.0.1:0").unwrap();
        s.set_write_timeout(Some(Duration::MAX)).unwrap();
        let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.send_to(b"x", "127.0.0.1:9")
        }));
        stack.shutdown();
        drop(sink);
        match sent {
            Ok(r) => assert_eq!(r.unwrap(), 1),
            Err(_) => panic!("send_to panicked with a send timeout of Duration::MAX"),
        }
    }

    /// `poll` on TCP sockets says what Linux's `tcp_poll` says. A socket in the CLOSE
    /// state (a fresh one, or one whose connection is gone) is hung up (POLLHUP) and
    /// writable (POLLOUT: a send would not block, it fails at once); so is one shut both
    /// ways (our FIN queued and the peer's received). The peer's FIN alone makes it
    /// readable, not hung up. A reset is an error and a hang-up. A listener and a UDP
    /// socket are never hung up. A fresh TCP socket reported nothing, so a poll on it
    /// waited for its whole timeout.
    #[test]
    fn poll_reports_tcp_hang_ups_and_a_fresh_socket_writable_as_linux() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let both = Interest {
            urgent: false,
            readable: true,
            writable: true,
        };
        // (ready, readable, writable, error, hangup), waiting for `interest` at most 10 s
        // (with no interest, just looking).
        let look = |s: &Socket, interest: Interest| {
            let wait = if interest == Interest::default() {
                0
            } else {
                10
            };
            let mut fds = [PollFd::new(s, interest)];
            let n = poll(&mut fds, Some(Duration::from_secs(wait))).unwrap();
            let mut all = [PollFd::new(s, both)];
            poll(&mut all, Some(Duration::ZERO)).unwrap();
            let f = &all[0];
            (n, f.readable, f.writable, f.error, f.hangup)
        };
        let fresh = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        let fresh_seen = look(&fresh, Interest::WRITABLE);
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let none = Interest::default();
        let listening = look(l.socket(), none);
        let c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s, _) = l.accept().unwrap();
        let established = look(c.socket(), none);
        // The peer's FIN: readable (end of stream), not hung up.
        s.shutdown(Shutdown::Write).unwrap();
        let peer_fin = look(c.socket(), Interest::READABLE);
        // Our FIN too: both directions shut.
        c.shutdown(Shutdown::Write).unwrap();
        let both_shut = look(c.socket(), none);
        // A reset.
        let c2 = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s2, _) = l.accept().unwrap();
        s2.socket()
            .set_option(SockOpt::Linger(Some(Duration::ZERO)))
            .unwrap();
        drop(s2);
        let reset = look(c2.socket(), Interest::READABLE);
        let u = crate::UdpSocket::bind(&stack, "127.0.0.1:0").unwrap();
        let udp = look(u.socket(), none);
        stack.shutdown();
        assert_eq!(fresh_seen, (1, false, true, false, true), "fresh");
        assert_eq!(listening, (0, false, false, false, false), "listening");
        assert_eq!(established, (0, false, true, false, false), "established");
        assert_eq!(peer_fin, (1, true, true, false, false), "peer's FIN");
        assert_eq!(both_shut, (1, true, true, false, true), "both shut");
        assert_eq!(reset, (1, true, true, true, true), "reset");
        assert_eq!(udp, (0, false, true, false, false), "udp");
    }

    /// A listener whose listening was shut down is in CLOSE with no shutdown flags, as
    /// Linux's `inet_shutdown` leaves it (its `tcp_disconnect` clears them): `tcp_poll`
    /// then says POLLOUT | POLLHUP, not readable, no read hang-up. An `accept` blocked on
    /// it still fails at once.
    #[test]
    fn a_listener_shut_down_polls_writable_and_hung_up_as_linux() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let l2 = l.try_clone().unwrap();
        let blocked = std::thread::spawn(move || l2.accept().map(|_| ()));
        l.socket().shutdown(Shutdown::Read).unwrap();
        let e = blocked.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let both = Interest {
            readable: true,
            writable: true,
            urgent: false,
        };
        let mut fds = [PollFd::new(l.socket(), both)];
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 1);
        let f = &fds[0];
        let seen = (f.readable, f.writable, f.error, f.hangup, f.rdhup);
        // Only reading asked for: the hang-up wakes a poll-driven accept loop all the same.
        let mut fds = [PollFd::new(l.socket(), Interest::READABLE)];
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 1);
        let reading = (fds[0].readable, fds[0].hangup);
        stack.shutdown();
        assert_eq!(seen, (false, true, false, true, false));
        assert_eq!(reading, (false, true));
    }

    /// A read hang-up (POLLRDHUP) tells the end of the peer's stream from data, as Linux's
    /// `tcp_poll` reports it with RCV_SHUTDOWN: set by the peer's FIN, by a reset (and
    /// any end of the connection), and by shutting our own reading; not by data, nor on a
    /// fresh socket, a listener or a UDP socket. `poll` reports it to an interest in
    /// reading (Linux's poll reports it when asked; readable comes with it anyway);
    /// `Poller` reports it as epoll's EPOLLRDHUP. Before, nothing told the two apart.
    #[test]
    fn poll_reports_a_read_hang_up_at_the_peers_fin_or_a_reset() {
        use std::io::{Read, Write};
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        // (ready, readable, rdhup) for an interest in reading, waiting at most 10 s.
        let look = |s: &Socket| {
            let mut fds = [PollFd::new(s, Interest::READABLE)];
            let n = poll(&mut fds, Some(Duration::from_secs(10))).unwrap();
            (n, fds[0].readable, fds[0].rdhup)
        };
        let writing = |s: &Socket| {
            let mut fds = [PollFd::new(s, Interest::WRITABLE)];
            poll(&mut fds, Some(Duration::from_secs(10))).unwrap();
            fds[0].rdhup
        };
        let fresh = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        let fresh_rdhup = look_now(&fresh);
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let listener_rdhup = look_now(l.socket());
        let mut c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (mut s, _) = l.accept().unwrap();
        let poller = crate::Poller::new(&stack);
        poller.add(c.socket(), 7).unwrap();
        let mut events = Vec::new();
        // Data: readable, no hang-up.
        s.write_all(b"x").unwrap();
        let data = look(c.socket());
        let mut b = [0u8; 4];
        let got = c.read(&mut b).unwrap();
        // The peer's FIN: readable (the end of the stream) and the read side hung up.
        s.shutdown(Shutdown::Write).unwrap();
        let fin = look(c.socket());
        // Only to an interest in reading.
        let fin_writing = writing(c.socket());
        let mut fin_event = None;
        for _ in 0..100 {
            poller
                .wait(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            if events.is_empty() {
                break;
            }
            if let Some(e) = events.iter().find(|e| e.token == 7 && e.rdhup) {
                fin_event = Some((e.readable, e.rdhup, e.hangup));
                break;
            }
        }
        let read = (got, c.read(&mut b).unwrap());
        // A reset.
        let c2 = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s2, _) = l.accept().unwrap();
        let before_reset = look_now(c2.socket());
        s2.socket()
            .set_option(SockOpt::Linger(Some(Duration::ZERO)))
            .unwrap();
        drop(s2);
        let reset = look(c2.socket());
        // Our own reading shut.
        let c3 = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (_s3, _) = l.accept().unwrap();
        c3.shutdown(Shutdown::Read).unwrap();
        let shut_read = look(c3.socket());
        let u = crate::UdpSocket::bind(&stack, "127.0.0.1:0").unwrap();
        let udp = look_now(u.socket());
        stack.shutdown();
        assert!(!fresh_rdhup && !listener_rdhup, "fresh, listener");
        assert_eq!(data, (1, true, false), "data");
        assert_eq!(fin, (1, true, true), "the peer's FIN");
        assert!(!fin_writing, "only with an interest in reading");
        assert_eq!(fin_event, Some((true, true, false)), "Poller");
        assert_eq!(read, (1, 0));
        assert!(!before_reset, "established");
        assert_eq!(reset, (1, true, true), "reset");
        assert_eq!(shut_read, (1, true, true), "our reading shut");
        assert!(!udp, "udp");
    }

    /// Urgent data (RFC 9293 3.8.5) from `send_urgent` (`MSG_OOB`): the receiver's `poll`
    /// reports it to an interest in it (POLLPRI), and `Poller` (EPOLLPRI); the bytes stay
    /// in the stream (Linux's SO_OOBINLINE), a read stops just before the urgent byte,
    /// `at_mark` (SIOCATMARK) is then true, and the next read returns it and what
    /// follows; once it is read, no more urgent. Before, there was no way to send it and
    /// the pointer was ignored on arrival.
    #[test]
    fn urgent_data_is_polled_marked_and_read_inline() {
        use std::io::{Read, Write};
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:9").unwrap();
        let mut c = crate::TcpStream::connect(&stack, "127.0.0.1:9").unwrap();
        let (s, _) = l.accept().unwrap();
        let poller = crate::Poller::new(&stack);
        poller.add(s.socket(), 3).unwrap();
        // (readable, urgent) for `interest`, waiting at most 10 s for `until`.
        let look = |interest, until: &dyn Fn(bool, bool) -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let mut fds = [PollFd::new(s.socket(), interest)];
                poll(&mut fds, Some(Duration::from_millis(100))).unwrap();
                let r = (fds[0].readable, fds[0].urgent);
                if until(r.0, r.1) || std::time::Instant::now() > deadline {
                    return r;
                }
            }
        };
        c.write_all(b"abc").unwrap();
        let plain = look(Interest::READABLE_URGENT, &|r, _| r);
        let urgent_sent = c.socket().send_urgent(b"!").unwrap();
        c.write_all(b"def").unwrap();
        let urgent = look(Interest::READABLE_URGENT, &|_, u| u);
        let not_asked = look(Interest::READABLE, &|_, _| true);
        let mut event = None;
        let mut events = Vec::new();
        for _ in 0..100 {
            poller
                .wait(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            if events.is_empty() {
                break;
            }
            if let Some(e) = events.iter().find(|e| e.token == 3 && e.urgent) {
                event = Some(e.urgent);
                break;
            }
        }
        let mut b = [0u8; 16];
        let n = (&s).read(&mut b).unwrap();
        let first = b[..n].to_vec();
        let mark = s.socket().at_mark().unwrap();
        let mut rest = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while rest.len() < 4 {
            let Ok(n @ 1..) = (&s).read(&mut b) else {
                break;
            };
            rest.extend_from_slice(&b[..n]);
        }
        let after = (
            s.socket().at_mark().unwrap(),
            look(Interest::READABLE_URGENT, &|_, _| true).1,
        );
        stack.shutdown();
        assert_eq!(plain, (true, false), "plain data");
        assert_eq!(urgent_sent, 1);
        assert!(urgent.1, "urgent reported");
        assert!(!not_asked.1, "only to an interest in it");
        assert_eq!(event, Some(true), "Poller");
        assert_eq!(first, b"abc", "the read stops at the mark");
        assert!(mark, "at the mark");
        assert_eq!(rest, b"!def", "inline");
        assert_eq!(after, (false, false));
    }

    /// `poll`'s read hang-up of `s` now, with an interest in reading.
    fn look_now(s: &Socket) -> bool {
        let mut fds = [PollFd::new(s, Interest::READABLE)];
        poll(&mut fds, Some(Duration::ZERO)).unwrap();
        fds[0].rdhup
    }

    /// `disconnect` (Linux's `connect` with `AF_UNSPEC`) dissolves a UDP socket's
    /// association: it hears every source again, `send` without an address fails
    /// (`NotConnected`, EDESTADDRREQ), `peer_addr` says not connected; an explicitly bound
    /// port stays (and the address given to `bind`: the source `connect` filled in goes),
    /// a port `connect` chose itself is let go. Disconnecting an unconnected socket does
    /// nothing. A TCP socket refuses it (`Unsupported`): Linux aborts the connection
    /// there, which `SO_LINGER` zero and `close` do here.
    #[test]
    fn disconnect_dissolves_a_udp_association_as_linux() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let a = crate::UdpSocket::bind(&stack, "0.0.0.0:7000").unwrap();
        let _peer = crate::UdpSocket::bind(&stack, "127.0.0.1:7001").unwrap();
        let other = crate::UdpSocket::bind(&stack, "127.0.0.1:7002").unwrap();
        a.connect("127.0.0.1:7001").unwrap();
        let connected_local = a.local_addr().unwrap();
        let done = a.disconnect().map_err(|e| e.kind());
        let again = a.disconnect().map_err(|e| e.kind());
        let local = a.local_addr().unwrap();
        let peer = a.peer_addr().map_err(|e| e.kind());
        let send = a.send(b"x").map_err(|e| e.kind());
        other.send_to(b"hello", "127.0.0.1:7000").unwrap();
        a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        let got = a.recv_from(&mut buf).map(|(n, from)| (n, from.port()));
        // A port connect chose goes with the association.
        let auto = Socket::new(&stack, Domain::Inet, Type::Dgram, 0).unwrap();
        auto.connect("127.0.0.1:7001".parse().unwrap()).unwrap();
        let auto_done = auto.disconnect().map_err(|e| e.kind());
        let auto_local = auto.local_addr().unwrap();
        let tcp = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        let tcp_done = tcp.disconnect().map_err(|e| e.kind());
        stack.shutdown();
        assert_eq!(connected_local, "127.0.0.1:7000".parse().unwrap());
        assert_eq!((done, again), (Ok(()), Ok(())));
        assert_eq!(
            local,
            "0.0.0.0:7000".parse().unwrap(),
            "the bound port stays"
        );
        assert_eq!(peer, Err(io::ErrorKind::NotConnected));
        assert_eq!(send, Err(io::ErrorKind::NotConnected));
        assert_eq!(got.unwrap(), (5, 7002), "a datagram from another source");
        assert_eq!(auto_done, Ok(()));
        assert_eq!(
            auto_local,
            "0.0.0.0:0".parse().unwrap(),
            "the chosen port is let go"
        );
        assert_eq!(tcp_done, Err(io::ErrorKind::Unsupported));
    }

    /// A datagram longer than the buffer is cut, as with BSD sockets; `recv_from` says how
    /// much was copied, so the cut went unnoticed. Linux's `MSG_TRUNC` makes `recv` return
    /// the datagram's whole length (and with `MSG_PEEK` and no buffer, it tells the next
    /// datagram's size without taking it): `recv_from_trunc` and `peek_from_trunc`, on UDP
    /// and raw sockets.
    #[test]
    fn recv_from_trunc_returns_a_cut_datagrams_whole_length() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let r = crate::UdpSocket::bind(&stack, "127.0.0.1:7000").unwrap();
        let s = crate::UdpSocket::bind(&stack, "127.0.0.1:7001").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A raw socket's datagrams too: it hears the UDP datagrams, IP header and all.
        let raw = Socket::new(&stack, Domain::Inet, Type::Raw, 17).unwrap();
        raw.set_option(SockOpt::RecvTimeout(Some(Duration::from_secs(10))))
            .unwrap();
        let mut small = [0u8; 4];
        let long: Vec<u8> = (0..100).collect();
        s.send_to(&long, "127.0.0.1:7000").unwrap();
        s.send_to(b"short", "127.0.0.1:7000").unwrap();
        let mut buf = [0u8; 10];
        let size = r.socket().peek_from_trunc(&mut []).unwrap();
        let cut = r.recv_from_trunc(&mut buf).unwrap();
        let cut_bytes = buf;
        let whole = r.socket().recv_from_trunc(&mut buf).unwrap();
        let from = SocketAddr::from(([127, 0, 0, 1], 7001));
        let raw_got = raw.recv_from_trunc(&mut small).unwrap().0;
        // A stream has no datagrams to cut (Linux's MSG_TRUNC there discards bytes).
        let tcp = Socket::new(&stack, Domain::Inet, Type::Stream, 0).unwrap();
        let tcp_got = tcp.recv_from_trunc(&mut buf).map_err(|e| e.kind());
        stack.shutdown();
        assert_eq!(
            size,
            (100, from),
            "the size of the next datagram, left queued"
        );
        assert_eq!(cut, (100, from));
        assert_eq!(cut_bytes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(whole, (5, from));
        assert_eq!(raw_got, 20 + 8 + 100);
        assert_eq!(tcp_got, Err(io::ErrorKind::Unsupported));
    }

    /// A receive whose deadline passes while another thread holds the stack's lock, and
    /// the socket is closed before the lock comes back: the last look at the deadline did
    /// not check for a close (or the stack's end) and reported the timeout, where every
    /// other look says the socket is closed.
    #[test]
    fn the_last_look_at_the_deadline_sees_a_close() {
        use std::time::Instant;
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let u = Arc::new(crate::UdpSocket::bind(&stack, "127.0.0.1:0").unwrap());
        u.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let start = Instant::now();
        let s = stack.clone();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            s.with_core(|_, _| {
                std::thread::sleep((start + Duration::from_secs(2)) - Instant::now());
            });
        });
        let v = u.clone();
        let closer = std::thread::spawn(move || {
            // After the deadline: the receive already waits for the lock.
            std::thread::sleep(Duration::from_millis(1500));
            v.close();
        });
        let got = u.recv_from(&mut [0u8; 16]).map_err(|e| e.kind());
        holder.join().unwrap();
        closer.join().unwrap();
        stack.shutdown();
        assert_eq!(
            got.map(|_| ()),
            Err(io::ErrorKind::NotConnected),
            "{:?}",
            start.elapsed()
        );
    }

    /// A socket made ready during `poll`'s wait, its wake-up sent before the deadline,
    /// while another thread holds the stack's lock past the deadline (the rx thread
    /// processing a batch, say): the woken `poll` takes the lock back after its deadline
    /// and returned 0 at once, the readable socket unreported. Linux's do_poll looks once
    /// more after its timeout; so does a blocked receive here (`wait_for_in`). (Found by an
    /// independent review.)
    #[test]
    fn poll_looks_once_more_when_its_deadline_passes() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let u = crate::UdpSocket::bind(&stack, "127.0.0.1:0").unwrap();
        let h = u.socket().handle();
        let holder = crate::testing::ready_then_hold_the_lock(&stack, h);
        let mut fds = [PollFd::new(u.socket(), Interest::READABLE)];
        let n = poll(&mut fds, Some(Duration::from_secs(2))).unwrap();
        holder.join().unwrap();
        stack.shutdown();
        assert_eq!(
            (n, fds[0].readable),
            (1, true),
            "a readable socket went unreported"
        );
    }
}
