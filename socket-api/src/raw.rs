//! Raw IP sockets (`socket(AF_INET, SOCK_RAW, protocol)`): send a payload, the stack builds
//! the IP header (or, with `IP_HDRINCL`, the whole datagram the application wrote);
//! receive whole datagrams, IP header included. `ping` runs on one.

use crate::runtime::Stack;
use crate::socket::{Domain, SockOpt, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use transport::SocketHandle;

pub struct RawSocket {
    inner: Socket,
}

impl RawSocket {
    /// Open a raw socket for IP protocol `protocol` (1 for ICMP).
    pub fn new(stack: &Stack, protocol: u8) -> io::Result<RawSocket> {
        Ok(RawSocket {
            inner: Socket::new(stack, Domain::Inet, Type::Raw, protocol)?,
        })
    }

    pub fn handle(&self) -> SocketHandle {
        self.inner.handle()
    }

    /// The BSD-style socket underneath.
    pub fn socket(&self) -> &Socket {
        &self.inner
    }

    /// Send `payload` to `dst` (the IP header is built by the stack, unless
    /// `set_header_included`). Returns the bytes sent.
    pub fn send_to(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.inner
            .send_to(payload, SocketAddr::V4(SocketAddrV4::new(dst, 0)))
    }

    /// Connect to `peer`: `send` goes there, and only datagrams from it are received
    /// (Linux's raw sockets likewise). `Socket::disconnect` undoes it.
    pub fn connect(&self, peer: Ipv4Addr) -> io::Result<()> {
        self.inner
            .connect(SocketAddr::V4(SocketAddrV4::new(peer, 0)))
    }

    /// Send `payload` to the connected peer.
    pub fn send(&self, payload: &[u8]) -> io::Result<usize> {
        self.inner.send(payload)
    }

    /// Receive one datagram (IP header included) into `buf`; a longer datagram is truncated,
    /// as on BSD sockets. Returns its length as copied and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        source(self.inner.recv_from(buf)?)
    }

    /// `recv_from` with `MSG_PEEK`: the datagram stays queued for the next read.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        source(self.inner.peek_from(buf)?)
    }

    /// `IP_HDRINCL`: send whole datagrams, IP header first (see `SockOpt::HeaderIncluded`).
    pub fn set_header_included(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::HeaderIncluded(on))
    }

    /// `None` blocks for ever. A zero duration is an error, as in `std::net`.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.inner.set_option(SockOpt::RecvTimeout(t))
    }

    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.inner.set_nonblocking(nonblocking);
    }

    /// TTL of the datagrams this socket sends (`IP_TTL`).
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        self.inner.set_option(SockOpt::Ttl(ttl))
    }

    /// `SO_BROADCAST`: allow sending to a broadcast address (refused otherwise, as Linux).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::Broadcast(on))
    }

    /// Close the socket (as dropping it does). Another thread cannot be blocked on it, as
    /// this takes the socket; to wake a call blocked on a shared one, use
    /// `raw.socket().close()`.
    pub fn close(self) {}
}

/// The source address of what `recv_from` or `peek_from` returned.
fn source((n, from): (usize, SocketAddr)) -> io::Result<(usize, Ipv4Addr)> {
    let ip = match from {
        SocketAddr::V4(a) => *a.ip(),
        SocketAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    Ok((n, ip))
}
