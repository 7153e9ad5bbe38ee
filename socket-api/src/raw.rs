//! Raw IP sockets (`socket(AF_INET, SOCK_RAW, protocol)`): send a payload, the stack builds
//! the IP header; receive whole datagrams, IP header included. `ping` runs on one.

use crate::error::SocketError;
use crate::runtime::Stack;
use parking_lot::Condvar;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use transport::SocketHandle;

pub struct RawSocket {
    stack: Stack,
    handle: SocketHandle,
    cond: Arc<Condvar>,
    read_timeout: Option<Duration>,
    nonblocking: bool,
}

impl RawSocket {
    /// Open a raw socket for IP protocol `protocol` (1 for ICMP).
    pub fn new(stack: &Stack, protocol: u8) -> io::Result<RawSocket> {
        if stack.is_shut_down() {
            return Err(SocketError::StackDown.into());
        }
        let mut core = stack.lock();
        let handle = core
            .transport
            .raw_open(protocol)
            .map_err(SocketError::from)?;
        let cond = core.register(handle);
        drop(core);
        Ok(RawSocket {
            stack: stack.clone(),
            handle,
            cond,
            read_timeout: None,
            nonblocking: false,
        })
    }

    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// Send `payload` to `dst` (the IP header is built by the stack). Returns the bytes sent.
    pub fn send_to(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        if self.stack.is_shut_down() {
            return Err(SocketError::StackDown.into());
        }
        let mut core = self.stack.lock();
        let now = self.stack.now();
        let core_ref = &mut *core;
        let r = core_ref
            .transport
            .raw_send(self.handle, core_ref.ip.tx(), dst, payload, now)
            .map_err(SocketError::from);
        self.stack.finish(core);
        Ok(r?)
    }

    /// Receive one datagram (IP header included) into `buf`; a longer datagram is truncated,
    /// as on BSD sockets. Returns its length as copied and its source.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Ipv4Addr)> {
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        let mut core = self.stack.lock();
        loop {
            if self.stack.is_shut_down() {
                return Err(SocketError::StackDown.into());
            }
            let sock = core.transport.raw(self.handle).map_err(SocketError::from)?;
            if let Some(d) = sock.recv() {
                let n = d.data.len().min(buf.len());
                buf[..n].copy_from_slice(&d.data[..n]);
                return Ok((n, d.from));
            }
            if self.nonblocking {
                return Err(SocketError::WouldBlock.into());
            }
            match deadline {
                Some(t) => {
                    if self.cond.wait_until(&mut core, t).timed_out() {
                        let sock = core.transport.raw(self.handle).map_err(SocketError::from)?;
                        if sock.queued() == 0 {
                            return Err(SocketError::TimedOut.into());
                        }
                    }
                }
                None => self.cond.wait(&mut core),
            }
        }
    }

    /// `None` blocks for ever. A zero duration is an error, as in `std::net`.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(SocketError::InvalidInput("zero timeout").into());
        }
        self.read_timeout = t;
        Ok(())
    }

    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }

    /// TTL of the datagrams this socket sends (`IP_TTL`).
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        if ttl == 0 {
            return Err(SocketError::InvalidInput("TTL must be 1 to 255").into());
        }
        let mut core = self.stack.lock();
        core.transport
            .raw(self.handle)
            .map_err(SocketError::from)?
            .ttl = Some(ttl);
        Ok(())
    }

    /// Close the socket; a call blocked on it in another thread returns an error.
    pub fn close(self) {}
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        let mut core = self.stack.lock();
        core.transport.close(self.handle);
        core.unregister(self.handle);
    }
}
