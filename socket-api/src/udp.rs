//! `UdpSocket`: the `std::net::UdpSocket` interface over this stack. The same method names
//! and signatures, with the stack to use as the first argument of `bind`.

use crate::error::SocketError;
use crate::runtime::Stack;
use crate::socket::{Domain, SockOpt, SockOptName, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// A UDP socket. Clones made by `try_clone` share the socket; it closes when the last
/// one is dropped, or at once with `close`.
pub struct UdpSocket {
    inner: Arc<Socket>,
}

/// The first IPv4 address `addr` names (IP literals need no resolver).
pub(crate) fn first_v4(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| SocketError::InvalidInput("no IPv4 address").into())
}

/// `f` with each IPv4 address `addr` names in turn until one succeeds, as `std::net`'s
/// `bind` and `connect` do; the last error otherwise.
pub(crate) fn each_v4<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()?.filter(|a| a.is_ipv4()) {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| SocketError::InvalidInput("no IPv4 address").into()))
}

impl UdpSocket {
    /// Create a socket bound to `addr` (`0.0.0.0:0` for any address and an ephemeral port).
    pub fn bind(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let s = Socket::new(stack, Domain::Inet, Type::Dgram, 0)?;
        each_v4(addr, |a| s.bind(a))?;
        Ok(UdpSocket { inner: Arc::new(s) })
    }

    /// Like `bind`, with `SO_REUSEADDR` set before binding.
    pub fn bind_reuse(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let s = Socket::new(stack, Domain::Inet, Type::Dgram, 0)?;
        s.set_option(SockOpt::ReuseAddr(true))?;
        each_v4(addr, |a| s.bind(a))?;
        Ok(UdpSocket { inner: Arc::new(s) })
    }

    /// Like `bind`, with `SO_REUSEPORT` set before binding: sockets bound so share the
    /// port, unicast datagrams spread over them by sender ([`SockOpt::ReusePort`]).
    pub fn bind_reuse_port(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let s = Socket::new(stack, Domain::Inet, Type::Dgram, 0)?;
        s.set_option(SockOpt::ReusePort(true))?;
        each_v4(addr, |a| s.bind(a))?;
        Ok(UdpSocket { inner: Arc::new(s) })
    }

    /// The BSD-style socket underneath.
    pub fn socket(&self) -> &Socket {
        &self.inner
    }

    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf)
    }

    /// `recv_from` with `MSG_TRUNC`: the datagram's whole length, more than `buf.len()`
    /// when it was cut (see [`Socket::recv_from_trunc`]).
    pub fn recv_from_trunc(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from_trunc(buf)
    }

    /// `peek_from` with `MSG_TRUNC`: the next datagram's whole length, left queued (see
    /// [`Socket::peek_from_trunc`]).
    pub fn peek_from_trunc(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.peek_from_trunc(buf)
    }

    /// `recv_from`, and the address the datagram was sent to (ours, a broadcast or a
    /// group): `IP_PKTINFO`'s destination (see [`Socket::recv_from_to`]).
    pub fn recv_from_to(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Ipv4Addr)> {
        self.inner.recv_from_to(buf)
    }

    /// `IP_TOS`: the TOS octet of the datagrams sent.
    pub fn set_tos(&self, tos: u8) -> io::Result<()> {
        self.inner.set_option(SockOpt::Tos(tos))
    }

    pub fn tos(&self) -> io::Result<u8> {
        match self.inner.get_option(SockOptName::Tos)? {
            SockOpt::Tos(t) => Ok(t),
            _ => Ok(0),
        }
    }

    /// `SO_BINDTODEVICE` (see [`Socket::bind_device`]).
    pub fn bind_device(&self, name: Option<&str>) -> io::Result<()> {
        self.inner.bind_device(name)
    }

    /// Send one datagram. A blocking socket waits, after sending, while the device's
    /// transmit queue is long, at most its write timeout (threads sending together faster
    /// than the device writes are held back, as by Linux's send buffer); a non-blocking
    /// one never waits: while the queue is long it sends nothing and says `WouldBlock`
    /// (Linux's EAGAIN), and [`poll`](crate::poll) says when it is writable again.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        self.inner.send_to(buf, first_v4(addr)?)
    }

    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_v4(addr, |a| self.inner.connect(a))
    }

    /// Dissolve the association `connect` made (see [`Socket::disconnect`]).
    pub fn disconnect(&self) -> io::Result<()> {
        self.inner.disconnect()
    }

    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send(buf)
    }

    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf)
    }

    /// `IP_RECVERR`: queue every ICMP error about what this socket sends, connected or
    /// not, soft ones too, for [`UdpSocket::recv_error`] ([`SockOpt::RecvErrors`]).
    pub fn set_recv_errors(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::RecvErrors(on))
    }

    pub fn recv_errors(&self) -> io::Result<bool> {
        self.inner.recv_errors()
    }

    /// The oldest queued ICMP error, with who sent it (`recvmsg(MSG_ERRQUEUE)`), waiting
    /// as `recv_from` does; see [`Socket::recv_error`].
    pub fn recv_error(&self) -> io::Result<crate::IcmpError> {
        self.inner.recv_error()
    }

    /// The pending error (an ICMP error no call has reported yet), taken, as
    /// `std::net::UdpSocket::take_error`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// As `std::net::UdpSocket::peek_from`: the next datagram and its source, left queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.peek_from(buf)
    }

    /// As `std::net::UdpSocket::peek`: the next datagram, left queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek_from(buf).map(|(n, _)| n)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.inner.set_option(SockOpt::RecvTimeout(t))
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.inner.set_option(SockOpt::SendTimeout(t))
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout())
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout())
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.inner.set_nonblocking(on);
        Ok(())
    }

    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::Broadcast(on))
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        match self.inner.get_option(SockOptName::Broadcast)? {
            SockOpt::Broadcast(b) => Ok(b),
            _ => Ok(false),
        }
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// As `std::net::UdpSocket::join_multicast_v4`: join `multiaddr` on the interface with
    /// address `interface` (`0.0.0.0`: the one the route to the group leaves by). The
    /// interface reports the membership (IGMPv2); the socket leaves when it closes.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.join_multicast(*multiaddr, *interface)
    }

    /// As `std::net::UdpSocket::leave_multicast_v4`.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.leave_multicast(*multiaddr, *interface)
    }

    /// As `std::net::UdpSocket::set_multicast_loop_v4` (on by default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::MulticastLoop(on))
    }

    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        match self.inner.get_option(SockOptName::MulticastLoop)? {
            SockOpt::MulticastLoop(on) => Ok(on),
            _ => Ok(true),
        }
    }

    /// As `std::net::UdpSocket::set_multicast_ttl_v4`: 0 to 255 (0 keeps datagrams to a
    /// group on this host), 1 by default.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        let ttl = u8::try_from(ttl)
            .map_err(|_| SocketError::InvalidInput("multicast TTL must be 0 to 255"))?;
        self.inner.set_option(SockOpt::MulticastTtl(ttl))
    }

    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        match self.inner.get_option(SockOptName::MulticastTtl)? {
            SockOpt::MulticastTtl(t) => Ok(u32::from(t)),
            _ => Ok(1),
        }
    }

    /// `IP_MULTICAST_IF` (socket2's `set_multicast_if_v4`): datagrams to a group leave by
    /// the interface with this address; `0.0.0.0` takes the route's again.
    pub fn set_multicast_if_v4(&self, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.set_option(SockOpt::MulticastIf(*interface))
    }

    pub fn multicast_if_v4(&self) -> io::Result<Ipv4Addr> {
        match self.inner.get_option(SockOptName::MulticastIf)? {
            SockOpt::MulticastIf(a) => Ok(a),
            _ => Ok(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// Another handle to the same socket (for reading and writing from two threads).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.clone(),
        })
    }

    /// Close now, for every clone: calls blocked on the socket return an error.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = self.local_addr().ok();
        f.debug_struct("UdpSocket").field("local", &local).finish()
    }
}
