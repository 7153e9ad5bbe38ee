//! `TcpListener` and `TcpStream`: the `std::net` interface over this stack's TCP. The same
//! method names and signatures, with the stack as the first argument of the constructors.
//! Both implement `Read`/`Write` (also through `&TcpStream`), so a stream can be read and
//! written from two threads via `try_clone` or a shared reference.

use crate::error::SocketError;
use crate::runtime::Stack;
use crate::socket::{Domain, SockOpt, SockOptName, Socket, Type};
use crate::udp::each_v4;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use transport::CongestionAlgorithm;

/// The backlog `std::net::TcpListener::bind` uses.
const BACKLOG: usize = 128;

/// A listening TCP socket.
pub struct TcpListener {
    inner: Arc<Socket>,
}

impl TcpListener {
    /// Bind and listen (with `SO_REUSEADDR`, as `std` does on Unix, so a restarted server
    /// can bind while its old connections linger in TIME-WAIT).
    pub fn bind(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(stack, addr, BACKLOG)
    }

    pub fn bind_with_backlog(
        stack: &Stack,
        addr: impl ToSocketAddrs,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        let s = Socket::new(stack, Domain::Inet, Type::Stream, 0)?;
        s.set_option(SockOpt::ReuseAddr(true))?;
        each_v4(addr, |a| s.bind(a))?;
        s.listen(backlog)?;
        Ok(TcpListener { inner: Arc::new(s) })
    }

    /// Like `bind`, with `SO_REUSEPORT` too: listeners bound so (on one thread each,
    /// say) share the address and port, and the connections are spread over them, each
    /// to one by its addresses and ports ([`SockOpt::ReusePort`]).
    pub fn bind_reuse_port(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let s = Socket::new(stack, Domain::Inet, Type::Stream, 0)?;
        s.set_option(SockOpt::ReuseAddr(true))?;
        s.set_option(SockOpt::ReusePort(true))?;
        each_v4(addr, |a| s.bind(a))?;
        s.listen(BACKLOG)?;
        Ok(TcpListener { inner: Arc::new(s) })
    }

    /// The next connection (blocking, unless non-blocking or a read timeout is set).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, peer) = self.inner.accept()?;
        Ok((TcpStream { inner: Arc::new(s) }, peer))
    }

    /// Connections as they arrive, for ever (each `accept`'s stream or error).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// `IP_TTL` (1 to 255), which the connections it accepts take.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// `TCP_FASTOPEN` ([`SockOpt::FastOpen`]): take data from the SYNs of clients that
    /// hold a cookie from an earlier connection (RFC 7413), at most `queue` of those
    /// connections waiting for their handshake's end at once; 0 turns it off. Such a
    /// connection is accepted before its handshake ends, its request already readable,
    /// and may answer at once.
    pub fn set_fastopen(&self, queue: usize) -> io::Result<()> {
        self.inner.set_option(SockOpt::FastOpen(queue))
    }

    pub fn fastopen(&self) -> io::Result<usize> {
        match self.inner.get_option(SockOptName::FastOpen)? {
            SockOpt::FastOpen(n) => Ok(n),
            _ => Ok(0),
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.inner.set_nonblocking(on);
        Ok(())
    }

    /// `TCP_CONGESTION` for the connections this listener accepts.
    pub fn set_congestion(&self, name: &str) -> io::Result<()> {
        self.inner.set_congestion(name)
    }

    pub fn congestion(&self) -> io::Result<CongestionAlgorithm> {
        self.inner.congestion()
    }

    /// `accept` gives up with `WouldBlock` after this long (`SO_RCVTIMEO`, Linux's EAGAIN);
    /// `None` waits for ever.
    pub fn set_accept_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.inner.set_option(SockOpt::RecvTimeout(t))
    }

    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.clone(),
        })
    }

    pub fn socket(&self) -> &Socket {
        &self.inner
    }

    /// The pending error, taken (`SO_ERROR`), as `std::net::TcpListener::take_error`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Stop listening now, for every clone: a blocked `accept` returns an error, and
    /// connections not yet accepted are reset.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = self.local_addr().ok();
        f.debug_struct("TcpListener")
            .field("local", &local)
            .finish()
    }
}

/// The iterator of `TcpListener::incoming`, as `std::net::Incoming`: it never ends.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection. Clones made by `try_clone` share it; it closes when the last one is
/// dropped (gracefully, with a FIN after the queued data; with a RST if received data was
/// left unread), or at once with `close`. Closing returns at once and the data is delivered
/// in the background, unless `set_linger` asks to wait (or to reset).
pub struct TcpStream {
    inner: Arc<Socket>,
}

impl TcpStream {
    /// Connect, blocking until established: to each IPv4 address `addr` names in turn, as
    /// `std::net::TcpStream::connect` does, until one answers; the last error otherwise.
    pub fn connect(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()?.filter(|a| a.is_ipv4()) {
            let s = Socket::new(stack, Domain::Inet, Type::Stream, 0)?;
            match s.connect(a) {
                Ok(()) => return Ok(TcpStream { inner: Arc::new(s) }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| SocketError::InvalidInput("no IPv4 address").into()))
    }

    /// Connect with TCP Fast Open ([`Socket::connect_fastopen`]), `data` the first bytes
    /// to send (a request): with a cookie from an earlier connection to the server they
    /// ride in the SYN, and the reply can come a round trip sooner. Returns the stream
    /// and how many bytes of `data` were queued.
    pub fn connect_fastopen(
        stack: &Stack,
        addr: &SocketAddr,
        data: &[u8],
    ) -> io::Result<(TcpStream, usize)> {
        let s = Socket::new(stack, Domain::Inet, Type::Stream, 0)?;
        let n = s.connect_fastopen(*addr, data)?;
        Ok((TcpStream { inner: Arc::new(s) }, n))
    }

    /// Connect, giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(
        stack: &Stack,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        let s = Socket::new(stack, Domain::Inet, Type::Stream, 0)?;
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid argument: zero timeout",
            ));
        }
        s.set_option(SockOpt::SendTimeout(Some(timeout)))?;
        s.connect(*addr)?;
        s.set_option(SockOpt::SendTimeout(None))?;
        Ok(TcpStream { inner: Arc::new(s) })
    }

    /// Wrap a connected stream socket (from `Socket::accept` or `connect`).
    pub fn from_socket(s: Socket) -> TcpStream {
        TcpStream { inner: Arc::new(s) }
    }

    pub fn socket(&self) -> &Socket {
        &self.inner
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// `Write` ends with a FIN after the queued data (reading goes on); `Read` makes
    /// reads return 0.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone(),
        })
    }

    /// `TCP_CONGESTION`: `"cubic"` (the default) or `"reno"`; takes effect at once, from
    /// the current window.
    pub fn set_congestion(&self, name: &str) -> io::Result<()> {
        self.inner.set_congestion(name)
    }

    pub fn congestion(&self) -> io::Result<CongestionAlgorithm> {
        self.inner.congestion()
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::NoDelay(on))
    }

    /// `IP_TTL`: the TTL of the connection's datagrams, 1 to 255 (64 unless set).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// `IP_RECVERR` ([`SockOpt::RecvErrors`]): an ICMP error about the connection (a
    /// host or network unreachable) fails the next call once, at once, rather than only
    /// ending the connection at a timeout; the connection goes on.
    pub fn set_recv_errors(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::RecvErrors(on))
    }

    pub fn recv_errors(&self) -> io::Result<bool> {
        self.inner.recv_errors()
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        match self.inner.get_option(SockOptName::NoDelay)? {
            SockOpt::NoDelay(b) => Ok(b),
            _ => Ok(false),
        }
    }

    /// `SO_LINGER` (as `std`'s `set_linger`): `Some(t)` makes closing (`close`, or dropping
    /// the last clone) block until the queued data and the FIN are acknowledged, at most
    /// `t`; `Some(ZERO)` makes it abort with a RST; `None` (the default) closes in the
    /// background.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_option(SockOpt::Linger(linger))
    }

    pub fn linger(&self) -> io::Result<Option<Duration>> {
        match self.inner.get_option(SockOptName::Linger)? {
            SockOpt::Linger(l) => Ok(l),
            _ => Ok(None),
        }
    }

    /// Bytes written that the peer has not acknowledged yet.
    pub fn unacked(&self) -> io::Result<usize> {
        self.inner.unacked()
    }

    /// Wait until the peer has acknowledged everything written and, after
    /// `shutdown(Write)`, the FIN (see `Socket::wait_acked`).
    pub fn wait_acked(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.wait_acked(timeout)
    }

    /// `read` without a copy: blocks as `read` does, then hands up to `max` received bytes
    /// to `take` where they lie in the connection's receive buffer (one slice, or two when
    /// they wrap: the second only if `take` consumed all of the first). `take` returns how
    /// many bytes of its slice it consumed; the call returns the total (0 at end of
    /// stream). `take` runs with the stack locked: it must not use the stack, and should be
    /// quick (parse, hash or drop the bytes; copying them is what `read` does).
    pub fn read_with(&self, max: usize, take: impl FnMut(&[u8]) -> usize) -> io::Result<usize> {
        self.inner.recv_with(max, take)
    }

    /// The pending error, taken (`SO_ERROR`), as `std::net::TcpStream::take_error`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// What the next `read` would return, left in the stream (`MSG_PEEK`), as
    /// `std::net::TcpStream::peek`: blocks until data is there, 0 at the end of the stream.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek_stream(buf)
    }

    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.inner.set_option(SockOpt::KeepAlive(on))
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

    /// Close now, for every clone (see the type's documentation).
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf)
    }

    /// Fills the buffers in turn from one read (`readv`).
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let max = bufs.iter().map(|b| b.len()).sum::<usize>();
        if max == 0 {
            return self.read(&mut []);
        }
        let (mut i, mut at) = (0, 0);
        self.inner.recv_with(max, |mut chunk| {
            let whole = chunk.len();
            while let (Some(b), false) = (bufs.get_mut(i), chunk.is_empty()) {
                let n = (b.len() - at).min(chunk.len());
                b[at..at + n].copy_from_slice(&chunk[..n]);
                chunk = &chunk[n..];
                at += n;
                if at == b.len() {
                    (i, at) = (i + 1, 0);
                }
            }
            whole - chunk.len()
        })
    }
}

impl Write for &TcpStream {
    /// Queues all of `buf` (blocking for room) unless the connection fails part-way.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send(buf)
    }

    /// Queues the buffers in turn as one write (`writev`): a header and its body go out
    /// together, in one segment when they fit.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.send_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = self.local_addr().ok();
        let peer = self.peer_addr().ok();
        f.debug_struct("TcpStream")
            .field("local", &local)
            .field("peer", &peer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StackBuilder;

    /// During a bulk transfer a reader peeks until 64 bytes are there, then reads them
    /// and 933 more: the buffered bytes straddle the receive ring's end again and again,
    /// and `peek` must show all 64 each time (it showed only the bytes before the ring's
    /// end, and went on doing so until something read: a "peek until complete" loop spun
    /// for ever).
    #[test]
    fn peek_shows_what_wraps_around_the_receive_buffer() {
        let (a_end, b_end) = crate::testing::link(1024);
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(Arc::new(a_end)), b_end);
        let listener = TcpListener::bind(&a, "10.0.0.1:7").unwrap();
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(&sent).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).unwrap();
            drop(listener);
            a.shutdown();
        });
        // A fixed receive buffer (no autotuning, so the ring does not grow and start
        // again at its beginning), whose size is no multiple of the reads.
        let r = Socket::new(&b, Domain::Inet, Type::Stream, 0).unwrap();
        r.set_option(SockOpt::RecvBuffer(10_000)).unwrap();
        r.connect("10.0.0.1:7".parse().unwrap()).unwrap();
        let mut r = TcpStream::from_socket(r);
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (mut at, mut head, mut rest) = (0, [0u8; 64], [0u8; 933]);
        let mut round = 0u32;
        while data.len() - at >= 64 {
            round += 1;
            if round.is_multiple_of(16) {
                // Let data pile up, so the ring is never empty (an empty one starts again
                // at its beginning) and its readable bytes keep wrapping around its end.
                std::thread::sleep(Duration::from_millis(2));
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                let n = r.peek(&mut head).unwrap();
                if n == 64 {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "at {at}: peek shows {n} of 64 bytes for 5 s"
                );
                std::thread::sleep(Duration::from_micros(100));
            }
            assert_eq!(&head[..], &data[at..at + 64], "peek at {at}");
            let mut got = [0u8; 64];
            r.read_exact(&mut got).unwrap();
            assert_eq!(got, head, "read after peek at {at}");
            at += 64;
            let n = r.read(&mut rest).unwrap();
            assert_eq!(&rest[..n], &data[at..at + n], "read at {at}");
            at += n;
        }
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).unwrap();
        assert_eq!(&tail[..], &data[at..]);
        drop(r);
        writer.join().unwrap();
        b.shutdown();
    }

    /// A `shutdown` from another thread while `connect` waits for its SYN's answer ends
    /// the attempt as on Linux: `connect` fails with `ConnectionReset`, for either half
    /// shut down (it said `ConnectionAborted`, and did nothing for reading), and the
    /// socket then connects to a host that answers.
    #[test]
    fn a_shutdown_during_connect_resets_it_and_the_socket_connects_again() {
        let (a_end, b_end) = crate::testing::link(64);
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(Arc::new(a_end)), b_end);
        let listener = TcpListener::bind(&b, "0.0.0.0:7").unwrap();
        let server = std::thread::spawn(move || {
            (0..3)
                .map(|_| {
                    let (mut c, _) = listener.accept().unwrap();
                    let mut got = Vec::new();
                    c.read_to_end(&mut got).unwrap();
                    got
                })
                .collect::<Vec<_>>()
        });
        for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
            let s = Arc::new(Socket::new(&a, Domain::Inet, Type::Stream, 0).unwrap());
            let waiting = s.clone();
            // No host has 10.0.0.77: the SYN waits for an ARP answer that never comes.
            let connect = std::thread::spawn(move || {
                let t0 = std::time::Instant::now();
                (
                    waiting.connect("10.0.0.77:7".parse().unwrap()),
                    t0.elapsed(),
                )
            });
            std::thread::sleep(Duration::from_millis(100));
            s.shutdown(how).unwrap();
            let (r, took) = connect.join().unwrap();
            let e = r.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{how:?}: {e}");
            assert!(took < Duration::from_secs(1), "{how:?}: {took:?}");
            s.connect("10.0.0.2:7".parse().unwrap()).unwrap();
            let mut c = TcpStream::from_socket(Arc::into_inner(s).unwrap());
            c.write_all(b"after").unwrap();
        }
        assert_eq!(server.join().unwrap(), vec![b"after".to_vec(); 3]);
        a.shutdown();
        b.shutdown();
    }

    /// `incoming` returns a type a program can name and keep, as std's `Incoming`.
    #[test]
    fn incoming_is_a_named_iterator_of_accepted_streams() {
        struct Server<'a> {
            conns: Incoming<'a>,
        }
        let s = StackBuilder::new().loopback_only().build().unwrap();
        let l = TcpListener::bind(&s, "127.0.0.1:0").unwrap();
        let at = l.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(&s, at).unwrap())
            .collect();
        let mut server = Server {
            conns: l.incoming(),
        };
        for c in &clients {
            let accepted = server.conns.next().expect("never ends").unwrap();
            assert_eq!(accepted.peer_addr().unwrap(), c.local_addr().unwrap());
        }
        assert!(format!("{:?}", server.conns).starts_with("Incoming"));
        drop(clients);
        s.shutdown();
    }

    /// `bind` and `connect` try each address they are given until one works, as
    /// `std::net`'s do (they took the first only: 10.9.9.9 is none of the stack's).
    #[test]
    fn bind_and_connect_try_each_address() {
        let s = StackBuilder::new().loopback_only().build().unwrap();
        let not_ours: SocketAddr = "10.9.9.9:0".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let e = TcpListener::bind(&s, not_ours).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable, "{e}");
        let l = TcpListener::bind(&s, &[not_ours, any][..]).unwrap();
        let port = l.local_addr().unwrap().port();
        let u = crate::UdpSocket::bind(&s, &[not_ours, any][..]).unwrap();
        // The first has no route (loopback only): the second is connected to.
        let to: SocketAddr = ([127, 0, 0, 1], port).into();
        u.connect(&["10.0.0.9:9".parse().unwrap(), to][..]).unwrap();
        assert_eq!(u.peer_addr().unwrap(), to);
        s.shutdown();
    }

    /// A writer blocks in `write_all` (the peer reads nothing: its window is shut and our
    /// 1 MiB send buffer is full), then another thread raises `SO_SNDBUF` to 4 MiB, room
    /// for all the writer has left. Nothing wakes the writer: `set_option` changes the
    /// connection's options (`tcp_set_opts`) but neither it nor `set_transport_option`
    /// wakes the socket, and writers are woken only by ACKs that free a third of the
    /// buffer, which a shut window never sends (the persist probes' ACKs acknowledge
    /// nothing). Linux wakes the writers when SO_SNDBUF grows (`sk_write_space` in
    /// `sock_setsockopt`). The write that fit stayed blocked until the peer read (found by
    /// an independent review); now a larger send buffer wakes the socket.
    #[test]
    fn a_larger_send_buffer_lets_a_blocked_writer_go_on() {
        let (a_end, b_end) = crate::testing::link(1024);
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(Arc::new(a_end)), b_end);
        let listener = TcpListener::bind(&b, "10.0.0.2:9").unwrap();
        let c = Arc::new(TcpStream::connect(&a, "10.0.0.2:9").unwrap());
        let (r, _) = listener.accept().unwrap();
        // B's window (1 MiB) and A's send buffer (1 MiB) take 2 MiB; 0.5 MB wait.
        let (done_tx, done) = std::sync::mpsc::channel();
        let writer = {
            let c = c.clone();
            std::thread::spawn(move || {
                let r = (&*c).write_all(&vec![5u8; 2_600_000]).map_err(|e| e.kind());
                let _ = done_tx.send(r);
            })
        };
        // Until the queue stops changing: the writer waits for room.
        let (mut last, mut since) = (0, std::time::Instant::now());
        let t0 = std::time::Instant::now();
        while since.elapsed() < Duration::from_millis(500) {
            let q = c.unacked().unwrap();
            if q != last {
                (last, since) = (q, std::time::Instant::now());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the queue never settled"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            done.try_recv().is_err(),
            "the writer did not block: B's window took it all"
        );
        c.socket().set_option(SockOpt::SendBuffer(4 << 20)).unwrap();
        let woke = done.recv_timeout(Duration::from_secs(2));
        let queued = c.unacked().unwrap();
        // B reads, so the writer ends whatever happened.
        let reader = std::thread::spawn(move || {
            let mut sink = Vec::new();
            (&r).read_to_end(&mut sink).map(|_| sink.len())
        });
        let rest = done.recv_timeout(Duration::from_secs(10));
        writer.join().unwrap();
        c.close();
        assert_eq!(reader.join().unwrap().unwrap(), 2_600_000);
        a.shutdown();
        b.shutdown();
        assert!(
            woke.is_ok(),
            "write_all still blocked 2 s after SO_SNDBUF grew to 4 MiB ({queued} bytes queued; \
             it ended once the peer read: {rest:?})"
        );
    }
}
