//! What the TCP commands (`snc`, `serve`, `get`) share: a connect that Ctrl-C interrupts,
//! a watchdog that closes sockets when Ctrl-C comes (so that calls blocked on them return),
//! and the wording of throughput figures and errors.

use super::{Ctx, Signals};
use parking_lot::Mutex;
use socket_api::{poll, Domain, Interest, PollFd, Socket, TcpListener, TcpStream, Type};
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long `get` (and `snc -c` without `-w`) waits for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often waits look at the signal flags.
const TICK: Duration = Duration::from_millis(20);

/// The first IPv4 address of `host` (an address, `localhost`, or a name the stack's
/// resolver looks up), or one line saying why there is none.
pub fn lookup(ctx: &Ctx, host: &str) -> Result<std::net::Ipv4Addr, String> {
    lookup_until(ctx, host, None)
}

/// [`lookup`], given up at `deadline` ("timed out").
pub fn lookup_until(
    ctx: &Ctx,
    host: &str,
    deadline: Option<Instant>,
) -> Result<std::net::Ipv4Addr, String> {
    // An address needs no lookup (and no thread); 127.1 is one too, as for Linux's tools.
    if let Ok(a) = ip::parse_addr(host) {
        return Ok(a);
    }
    let (stack, name) = (ctx.stack.clone(), host.to_string());
    let addrs = super::interruptible_until(ctx, deadline, move || stack.resolve(&name))
        .map_err(|e| format!("cannot look up '{host}': {e}"))?;
    addrs
        .first()
        .copied()
        .ok_or_else(|| format!("cannot look up '{host}': no address"))
}

/// Connect to `addr`, giving up with `TimedOut` ("connection timed out") after `timeout`,
/// or with `Interrupted` at Ctrl-C. (`TcpStream::connect_timeout` does the same wait, but
/// holds its socket until it returns, where nothing can close it on Ctrl-C: so this
/// connects a non-blocking socket and polls it.)
pub fn connect(ctx: &Ctx, addr: SocketAddrV4, timeout: Duration) -> io::Result<TcpStream> {
    connect_with(ctx, addr, timeout, None).map(|(s, _)| s)
}

/// [`connect`] with TCP Fast Open (`Socket::connect_fastopen`): `data` queued first, in
/// the SYN when the server gave this stack a cookie before. Returns the stream and how
/// much of `data` was queued.
pub fn connect_fastopen(
    ctx: &Ctx,
    addr: SocketAddrV4,
    timeout: Duration,
    data: &[u8],
) -> io::Result<(TcpStream, usize)> {
    connect_with(ctx, addr, timeout, Some(data))
}

fn connect_with(
    ctx: &Ctx,
    addr: SocketAddrV4,
    timeout: Duration,
    fastopen: Option<&[u8]>,
) -> io::Result<(TcpStream, usize)> {
    let s = Socket::new(&ctx.stack, Domain::Inet, Type::Stream, 0)?;
    s.set_nonblocking(true);
    let queued = match fastopen {
        Some(data) => s.connect_fastopen(SocketAddr::V4(addr), data)?,
        None => match s.connect(SocketAddr::V4(addr)) {
            Ok(()) => 0,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        },
    };
    let deadline = Instant::now().checked_add(timeout);
    loop {
        if s.connect_status()? {
            break;
        }
        if ctx.sig.stop_requested() {
            return Err(io::Error::new(ErrorKind::Interrupted, "interrupted"));
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            // Dropping the socket ends the attempt.
            return Err(io::Error::new(ErrorKind::TimedOut, "connection timed out"));
        }
        let left = deadline.map_or(TICK, |d| (d - now).min(TICK * 5));
        let mut fds = [PollFd::new(&s, Interest::WRITABLE)];
        poll(&mut fds, Some(left))?;
    }
    s.set_nonblocking(false);
    Ok((TcpStream::from_socket(s), queued))
}

/// A socket the watchdog closes.
enum Target {
    Listener(TcpListener),
    Stream(TcpStream),
    /// Reset when the user cancels at a terminal (`Signals::user_cancelled`): its queued
    /// data is dropped (`SO_LINGER` 0). On SIGTERM, or SIGINT with commands not from a
    /// terminal (the program ends), it is closed gracefully and the program's end gives
    /// it `--linger` to deliver what it holds.
    Abort(TcpStream),
}

#[derive(Default)]
struct Watched {
    fired: bool,
    /// `Watchdog::close_at`: when the sockets are closed if nothing else closed them.
    deadline: Option<Instant>,
    /// They were closed because the deadline passed.
    timed_out: bool,
    targets: Vec<Target>,
    /// What the peer had not acknowledged of the last `Abort` stream when it was closed.
    unacked: Option<usize>,
    /// That stream was reset.
    reset: bool,
}

impl Watched {
    fn close(&mut self, t: &Target, cancelled: bool) {
        match t {
            Target::Listener(l) => l.close(),
            Target::Stream(s) => s.close(),
            Target::Abort(s) => {
                if cancelled {
                    self.reset = s.set_linger(Some(Duration::ZERO)).is_ok();
                }
                // The figure just before the close (a closed socket has none): the peer
                // may still acknowledge a segment in flight between the two.
                if let Ok(n) = s.unacked() {
                    self.unacked = Some(n);
                }
                s.close();
            }
        }
    }
}

/// Closes the sockets it is given when Ctrl-C (or SIGTERM) comes, from a thread of its own:
/// the shell's signal handlers only set flags, and a call blocked on a socket returns once
/// the socket is closed. Dropping the watchdog stops its thread.
pub struct Watchdog {
    sig: Signals,
    watched: Arc<Mutex<Watched>>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(sig: &Signals) -> Result<Watchdog, String> {
        let watched = Arc::new(Mutex::new(Watched::default()));
        let done = Arc::new(AtomicBool::new(false));
        let (w, d, sig, sig_for_self) = (watched.clone(), done.clone(), sig.clone(), sig.clone());
        let thread = std::thread::Builder::new()
            .name("ctrl-c-watch".into())
            .spawn(move || {
                while !d.load(Ordering::SeqCst) {
                    let late = w.lock().deadline.is_some_and(|at| Instant::now() >= at);
                    if late || sig.stop_requested() {
                        let mut w = w.lock();
                        w.fired = true;
                        w.timed_out = late;
                        // A time limit drops what is queued, as Ctrl-C at a terminal does.
                        let cancelled = late || sig.user_cancelled();
                        let targets = std::mem::take(&mut w.targets);
                        for t in &targets {
                            w.close(t, cancelled);
                        }
                        w.targets = targets;
                        return;
                    }
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Watchdog {
            sig: sig_for_self,
            watched,
            done,
            thread: Some(thread),
        })
    }

    fn watch(&self, t: Target) {
        let mut w = self.watched.lock();
        if w.fired {
            w.close(&t, self.sig.user_cancelled());
        }
        w.targets.push(t);
    }

    pub fn listener(&self, l: &TcpListener) {
        if let Ok(l) = l.try_clone() {
            self.watch(Target::Listener(l));
        }
    }

    pub fn stream(&self, s: &TcpStream) {
        if let Ok(s) = s.try_clone() {
            self.watch(Target::Stream(s));
        }
    }

    /// A stream whose queued data a Ctrl-C at the terminal drops: it is reset, so that a
    /// transfer the user stopped does not go on in the background (nor hold `exit` while
    /// it lingers). See `Target::Abort`.
    pub fn stream_abort(&self, s: &TcpStream) {
        if let Ok(s) = s.try_clone() {
            self.watch(Target::Abort(s));
        }
    }

    /// For a stream given to `stream_abort` that the watchdog closed: the bytes the peer
    /// had not acknowledged then, and whether they were dropped (a reset) rather than left
    /// to deliver.
    pub fn unacked_when_closed(&self) -> Option<(usize, bool)> {
        let w = self.watched.lock();
        w.unacked.map(|n| (n, w.reset))
    }

    /// Did Ctrl-C come, or the time limit pass (and close the sockets)?
    pub fn fired(&self) -> bool {
        self.watched.lock().fired
    }

    /// Close the sockets at `at` too (`get -m`).
    pub fn close_at(&self, at: Instant) {
        self.watched.lock().deadline = Some(at);
    }

    /// Was it the time limit of `close_at` that closed the sockets?
    pub fn timed_out(&self) -> bool {
        self.watched.lock().timed_out
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A rate in bits per second, in the unit that suits it: `135.9 Mbit/s`.
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let bits = bytes as f64 * 8.0 / secs;
    let (v, unit) = if bits >= 1e9 {
        (bits / 1e9, "Gbit/s")
    } else if bits >= 1e6 {
        (bits / 1e6, "Mbit/s")
    } else if bits >= 1e3 {
        (bits / 1e3, "kbit/s")
    } else {
        (bits, "bit/s")
    };
    format!("{v:.1} {unit}")
}

/// `N bytes in S s (R)`.
pub fn figures(bytes: u64, elapsed: Duration) -> String {
    format!(
        "{bytes} bytes in {:.3} s ({})",
        elapsed.as_secs_f64(),
        rate(bytes, elapsed)
    )
}

/// An error of a connection for the user: the socket's own words, except for a socket
/// that Ctrl-C closed.
pub fn describe(e: &io::Error, interrupted: bool) -> String {
    if interrupted || e.kind() == ErrorKind::Interrupted {
        return "interrupted".into();
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn rates() {
        assert_eq!(
            rate(20_971_520, Duration::from_millis(1234)),
            "136.0 Mbit/s"
        );
        assert_eq!(rate(1000, Duration::from_secs(1)), "8.0 kbit/s");
        assert_eq!(rate(10, Duration::from_secs(1)), "80.0 bit/s");
        assert_eq!(rate(1 << 30, Duration::from_secs(1)), "8.6 Gbit/s");
        // No division by zero.
        assert!(rate(5, Duration::ZERO).ends_with("bit/s"));
        assert_eq!(
            figures(20_971_520, Duration::from_millis(1234)),
            "20971520 bytes in 1.234 s (136.0 Mbit/s)"
        );
        let e = io::Error::new(ErrorKind::ConnectionReset, "connection reset by peer");
        assert_eq!(describe(&e, false), "connection reset by peer");
        assert_eq!(describe(&e, true), "interrupted");
    }

    /// Ctrl-C resets a stream given to `stream_abort`, keeping what the peer had not
    /// acknowledged then; nothing is left for the end of the program to deliver.
    #[test]
    fn ctrl_c_resets_an_aborted_stream_and_keeps_its_unacknowledged_count() {
        let ctx = crate::cmd::testing::ctx();
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:0").unwrap();
        let SocketAddr::V4(a) = l.local_addr().unwrap() else {
            panic!("not IPv4")
        };
        let s = connect(&ctx, a, Duration::from_secs(5)).unwrap();
        // A peer that never reads.
        let (peer, _) = l.accept().unwrap();
        let dog = Watchdog::start(&ctx.sig).unwrap();
        dog.stream_abort(&s);
        ctx.sig.at_terminal.store(true, Ordering::SeqCst);
        let sig = ctx.sig.clone();
        let ctrl_c = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            sig.raise_interrupt();
        });
        // Blocks once the peer's window is full, until Ctrl-C closes the socket.
        let data = vec![7u8; 64 * 1024];
        let mut written = 0usize;
        while let Ok(n @ 1..) = (&s).write(&data) {
            written += n;
        }
        ctrl_c.join().unwrap();
        assert!(dog.fired());
        let (unacked, reset) = dog.unacked_when_closed().expect("a figure");
        assert!(reset);
        assert!(unacked > 0 && unacked <= written, "{unacked} of {written}");
        // The peer gets what was acknowledged, then the reset.
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let end = loop {
            match (&peer).read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => got += n,
                Err(e) => break Some(e.kind()),
            }
        };
        assert_eq!(end, Some(ErrorKind::ConnectionReset));
        // Exact but for acknowledgements that came between the figure and the reset.
        let acked = written - unacked;
        assert!(got >= acked && got - acked < 64 * 1024, "{got} vs {acked}");
        let left = ctx
            .stack
            .with_core(|c, _| c.transport.tcp_undelivered().len());
        assert_eq!(left, 0);
        drop(dog);
        crate::cmd::testing::finish(ctx);
    }

    #[test]
    fn the_watchdog_stops_when_dropped() {
        let sig = Signals::default();
        let w = Watchdog::start(&sig).unwrap();
        assert!(!w.fired());
        drop(w);
        sig.interrupt.store(true, Ordering::SeqCst);
        let w = Watchdog::start(&sig).unwrap();
        let t = Instant::now();
        while !w.fired() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(TICK);
        }
        assert!(w.fired());
    }
}
