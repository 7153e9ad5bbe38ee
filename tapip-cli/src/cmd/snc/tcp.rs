//! `snc` over TCP (the default, as in the C tapip).
//!
//! * `-b [ADDR:]PORT` listens, accepts one connection (later ones are refused), and prints
//!   (or writes, `-o`) what arrives until the peer closes.
//! * `-c ADDR:PORT` connects and sends the input's lines (or `-f FILE`) while printing what
//!   arrives; then it shuts down its side (a FIN), waits until the peer has acknowledged
//!   everything, FIN included, and waits for the peer to close. Typed lines also stop when
//!   the peer closes. The bytes it reports as sent are those the peer acknowledged.
//! * `-w SECONDS` limits the wait for the connection (both modes), for the
//!   acknowledgements and for the peer's close after sending (`-c`) and for data (`-b`).
//!
//! Both end with a one-line summary: bytes, seconds, throughput. Ctrl-C closes the socket
//! from the watchdog's thread, which wakes the call blocked on it; that is a clean end.
//! With `-c` and commands from a terminal the close is a reset: the user stopped the
//! transfer, so what the peer has not acknowledged is dropped (and said), rather than sent
//! on in the background. When the program ends (SIGTERM; SIGINT with commands from `-c`,
//! `--script` or a pipe) the close is graceful and `--linger` applies.

use super::{fill, open_input, Mode, Opts, Sink, POLL};
use crate::cmd::input::InputLine;
use crate::cmd::tcp::{self as net, Watchdog};
use crate::cmd::Ctx;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use socket_api::{TcpListener, TcpStream};
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Reads and file pieces.
const BUF: usize = 64 * 1024;
/// How often the wait for acknowledgements takes a new figure.
const ACK_TICK: Duration = Duration::from_millis(100);

pub fn run(ctx: &Ctx, o: &Opts) -> Result<(), String> {
    match o.mode {
        Mode::Bind(a) => listen(ctx, o, a),
        Mode::Connect(a) => connect(ctx, o, a),
    }
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// The summary goes where the data does not.
fn summary(to_stdout: bool, line: String) {
    if to_stdout {
        errln!("{line}");
    } else {
        outln!("{line}");
    }
}

/// `-b`: one connection, printed until the peer closes.
fn listen(ctx: &Ctx, o: &Opts, a: SocketAddrV4) -> Result<(), String> {
    let l = TcpListener::bind(&ctx.stack, a)
        .map_err(|e| format!("snc: cannot listen on tcp {a}: {e}"))?;
    // Checked now, emptied only once a connection comes (none: the file is left alone).
    let prepared = Sink::prepare(&o.out, &|| ctx.sig.stop_requested())?;
    let dog = Watchdog::start(&ctx.sig).map_err(|e| format!("snc: {e}"))?;
    dog.listener(&l);
    if let Some(w) = o.wait {
        l.set_accept_timeout(Some(w))
            .map_err(|e| format!("snc: {e}"))?;
    }
    // Port 0 picks one: say which.
    if o.debug || a.port() == 0 {
        let local = l.local_addr().map_err(|e| format!("snc: {e}"))?;
        errln!("snc: listening on tcp {local}");
    }
    let (s, peer) = match l.accept() {
        Ok(x) => x,
        Err(_) if dog.fired() => return Ok(()),
        // The accept timeout (`SO_RCVTIMEO`: EAGAIN, as on Linux).
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            return Err(format!(
                "snc: no connection within {} s",
                secs(o.wait.unwrap_or_default())
            ))
        }
        Err(e) => return Err(format!("snc: {e}")),
    };
    // One connection: later ones are refused.
    l.close();
    let sink = prepared.commit()?;
    dog.stream(&s);
    if o.debug {
        errln!("snc: connection from {peer}");
    }
    if let Some(w) = o.wait {
        s.set_read_timeout(Some(w))
            .map_err(|e| format!("snc: {e}"))?;
    }
    let start = Instant::now();
    let to_stdout = matches!(sink, Sink::Stdout);
    let stop = AtomicBool::new(false);
    let (got, r) = receive(&s, sink, o, &stop);
    summary(
        to_stdout,
        format!("snc: received {}", net::figures(got, start.elapsed())),
    );
    match r {
        Err(_) if dog.fired() => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Ok(()),
    }
}

/// Write what arrives to `sink` until the end of the stream (then set `stop`) or an error.
/// Returns the bytes received.
fn receive(
    s: &TcpStream,
    mut sink: Sink,
    o: &Opts,
    stop: &AtomicBool,
) -> (u64, Result<(), String>) {
    let mut buf = vec![0u8; BUF];
    let mut got = 0u64;
    let r = loop {
        let n = match (&*s).read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // The read timeout (EAGAIN, as on Linux).
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                break Err(format!(
                    "snc: nothing arrived for {} s",
                    secs(o.wait.unwrap_or_default())
                ))
            }
            Err(e) => break Err(format!("snc: {e}")),
        };
        got += n as u64;
        if o.debug {
            errln!("snc: {n} bytes");
        }
        if let Err(e) = sink.put(&buf[..n]) {
            break Err(format!("snc: cannot write what arrives: {e}"));
        }
    };
    stop.store(true, Ordering::SeqCst);
    (got, r)
}

/// `-c`: send while a second thread prints what arrives, then wait for the peer's close.
/// Ctrl-C resets the connection: what the peer has not acknowledged is dropped.
fn connect(ctx: &Ctx, o: &Opts, a: SocketAddrV4) -> Result<(), String> {
    // The files first: a bad one must not use up the peer's (perhaps one-shot) listener.
    let input = open_input(&o.file, &|| ctx.sig.stop_requested())?;
    let sink = Sink::prepare(&o.out, &|| ctx.sig.stop_requested())?;
    let s = match net::connect(ctx, a, o.wait.unwrap_or(net::CONNECT_TIMEOUT)) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            return Err(format!("snc: interrupted while connecting to {a}"))
        }
        Err(e) if e.kind() == ErrorKind::TimedOut => {
            return Err(format!("snc: cannot connect to {a}: connection timed out"))
        }
        Err(e) => return Err(format!("snc: cannot connect to {a}: {e}")),
    };
    let dog = Watchdog::start(&ctx.sig).map_err(|e| format!("snc: {e}"))?;
    dog.stream_abort(&s);
    let sink = sink.commit()?;
    if o.debug {
        let local = s.local_addr().map_err(|e| format!("snc: {e}"))?;
        errln!("snc: {local} -> {a}");
    }
    let to_stdout = matches!(sink, Sink::Stdout);
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let receiver = std::thread::Builder::new()
            .name("snc-receive".into())
            .spawn_scoped(sc, || receive(&s, sink, o, &stop))
            .map_err(|e| format!("snc: cannot start a thread: {e}"))?;
        let mut sender = Sender {
            ctx,
            s: &s,
            stop: &stop,
            sent: 0,
            broken: false,
        };
        let sent = match input {
            Some(f) => sender.file(f),
            None => sender.lines(),
        };
        // What the peer has not acknowledged: known while the socket is open; after
        // Ctrl-C closed it, the last figure seen.
        let mut unacked = s.unacked().unwrap_or(0);
        // Our side is done: a FIN after the queued data, then wait until the peer has
        // acknowledged everything, FIN included (the data is only delivered then); the
        // peer's close ends the receiver.
        let delivered = if sent.is_ok() {
            let _ = s.shutdown(Shutdown::Write);
            deliver(&s, o.wait, &mut unacked, &dog)
        } else {
            s.close();
            Ok(())
        };
        let waited = delivered.is_err() || wait_for_close(ctx, &receiver, o.wait);
        if !waited || delivered.is_err() {
            s.close();
        }
        let (got, received) = receiver
            .join()
            .unwrap_or_else(|_| (0, Err("snc: the receiving thread failed".into())));
        // Ctrl-C or SIGTERM closed the socket: the figure is the one taken then.
        let closed = dog.unacked_when_closed();
        if let Some((n, _)) = closed {
            unacked = n;
        }
        let acked = sender.sent.saturating_sub(unacked as u64);
        summary(to_stdout, sent_and_received(acked, got, start.elapsed()));
        if dog.fired() {
            if let Some((n @ 1.., true)) = closed {
                errln!("snc: interrupted: the connection was reset, {n} bytes not delivered");
            }
            return Ok(());
        }
        if let Err(e) = sent {
            // A connection error goes to whichever call comes first: when the receiver
            // took it (a reset), the sender only learns that the socket is shut down.
            if sender.broken && received.is_err() {
                return received.map_err(|r| format!("{r} ({unacked} bytes not delivered)"));
            }
            return Err(e);
        }
        if let Err((e, broken)) = delivered {
            // As for the sender: the receiver may have taken the connection's error (a
            // reset, a retransmission timeout), and the wait only learns the end.
            return Err(match received {
                Err(r) if broken => format!("{r} ({unacked} bytes and the FIN not delivered)"),
                _ => e,
            });
        }
        if !waited {
            return Err(format!(
                "snc: the peer did not close within {} s",
                secs(o.wait.unwrap_or_default())
            ));
        }
        received
    })
}

/// After `shutdown(Write)`: wait until the peer has acknowledged every byte and the FIN,
/// at most `limit`, keeping `unacked` up to date. Ctrl-C (the watchdog closes the socket)
/// ends the wait quietly; a failed connection or the limit is an error saying how much
/// was not delivered, and whether the connection was already over (its error gone to
/// another call).
fn deliver(
    s: &TcpStream,
    limit: Option<Duration>,
    unacked: &mut usize,
    dog: &Watchdog,
) -> Result<(), (String, bool)> {
    let end = limit.and_then(|l| Instant::now().checked_add(l));
    loop {
        if let Ok(n) = s.unacked() {
            *unacked = n;
        }
        let e = match s.wait_acked(Some(ACK_TICK)) {
            Ok(()) => {
                *unacked = 0;
                return Ok(());
            }
            Err(e) => e,
        };
        if dog.fired() {
            return Ok(());
        }
        if e.kind() != ErrorKind::TimedOut {
            if let Ok(n) = s.unacked() {
                *unacked = n;
            }
            let over = is_over(&e);
            let msg = format!(
                "snc: {} ({} bytes and the FIN not delivered)",
                net::describe(&e, false),
                *unacked
            );
            return Err((msg, over));
        }
        if end.is_some_and(|e| Instant::now() >= e) {
            let msg = format!(
                "snc: {} bytes (and the FIN) not acknowledged within {} s",
                *unacked,
                secs(limit.unwrap_or_default())
            );
            return Err((msg, false));
        }
    }
}

/// The connection was already over when the call came: its error went to another call
/// (the receiver's), this one only learns the end.
fn is_over(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::ConnectionAborted
    )
}

/// `snc: sent S bytes, received R bytes in T s (both ways together, per second)`.
fn sent_and_received(sent: u64, got: u64, elapsed: Duration) -> String {
    format!(
        "snc: sent {sent} bytes, received {got} bytes in {:.3} s ({})",
        elapsed.as_secs_f64(),
        net::rate(sent.saturating_add(got), elapsed)
    )
}

/// Wait for the receiving thread to end, at most `limit` (no limit: until Ctrl-C, which
/// closes the socket and so ends it too). False if the limit passed.
fn wait_for_close<T>(
    ctx: &Ctx,
    t: &std::thread::ScopedJoinHandle<'_, T>,
    limit: Option<Duration>,
) -> bool {
    let end = limit.and_then(|l| Instant::now().checked_add(l));
    while !t.is_finished() {
        if end.is_some_and(|e| Instant::now() >= e) && !ctx.sig.stop_requested() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

struct Sender<'a> {
    ctx: &'a Ctx,
    s: &'a TcpStream,
    /// Set when the receiver is done (the peer closed, or the connection failed).
    stop: &'a AtomicBool,
    sent: u64,
    /// A write failed because the connection was already over.
    broken: bool,
}

impl Sender<'_> {
    fn send(&mut self, mut data: &[u8]) -> Result<(), String> {
        let mut w = self.s;
        while !data.is_empty() {
            // Counted as queued, also when the connection fails part-way (Ctrl-C).
            let e = match w.write(data) {
                Ok(0) => io::Error::from(ErrorKind::WriteZero),
                Ok(n) => {
                    self.sent += n as u64;
                    data = &data[n..];
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.broken = is_over(&e);
            return Err(format!("snc: {}", net::describe(&e, false)));
        }
        Ok(())
    }

    /// The file, then the end (Ctrl-C stops it; the peer's close does not: it may still
    /// read).
    fn file(&mut self, mut f: File) -> Result<(), String> {
        let mut buf = vec![0u8; BUF];
        while !self.ctx.sig.stop_requested() {
            let n =
                fill(&mut f, &mut buf).map_err(|e| format!("snc: cannot read the file: {e}"))?;
            if n == 0 {
                break;
            }
            self.send(&buf[..n])?;
        }
        Ok(())
    }

    /// The input's lines, until its end or Ctrl-C, and at a terminal until the peer's
    /// close too (what is typed next is a command). From a pipe or a script the lines
    /// are data to the end, also after the peer's FIN: a half-close, the peer still
    /// reading, as `nc -N` does; stopping there would lose them, and the shell would run
    /// them as commands.
    fn lines(&mut self) -> Result<(), String> {
        // One request at a time, kept until its line comes.
        let mut pending: Option<Receiver<InputLine>> = None;
        let at_terminal = self.ctx.sig.at_terminal.load(Ordering::SeqCst);
        let peer_closed = || at_terminal && self.stop.load(Ordering::SeqCst);
        while !peer_closed() && !self.ctx.sig.stop_requested() {
            let rx = pending.get_or_insert_with(|| self.ctx.input.request());
            match rx.recv_timeout(POLL) {
                Ok(InputLine::Line(l)) => {
                    pending = None;
                    self.send(&l)?;
                }
                Ok(InputLine::Eof) | Err(RecvTimeoutError::Disconnected) => break,
                // Ctrl-C at a terminal while reading a line: the line editor took it, so
                // no SIGINT came; stop as if it had.
                Ok(InputLine::Interrupted) => {
                    self.ctx.sig.raise_interrupt();
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{ctx, finish, run_line, temp_dir};
    use socket_api::{TcpListener, TcpStream};
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    /// Connect, retrying while nobody listens yet.
    fn connect_soon(ctx: &crate::cmd::Ctx, port: u16) -> TcpStream {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(&ctx.stack, ("127.0.0.1", port)) {
                Ok(s) => return s,
                Err(e) if Instant::now() > end => panic!("cannot connect: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    #[test]
    fn summaries() {
        assert_eq!(
            super::sent_and_received(1_000_000, 0, Duration::from_secs(2)),
            "snc: sent 1000000 bytes, received 0 bytes in 2.000 s (4.0 Mbit/s)"
        );
    }

    /// Lines from a pipe all go, also after the peer half-closed (it still reads).
    #[test]
    fn piped_lines_go_on_after_the_peer_half_closes() {
        let mut ctx = ctx();
        let (input, requests) = crate::cmd::input::Input::new();
        ctx.input = input;
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:9015").unwrap();
        l.set_accept_timeout(Some(Duration::from_secs(20))).unwrap();
        let (r, got) = std::thread::scope(|sc| {
            let peer = sc.spawn(|| {
                let (s, _) = l.accept().unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut got = Vec::new();
                (&s).read_to_end(&mut got).unwrap();
                got
            });
            sc.spawn(move || {
                // The lines come after snc has seen the peer's FIN.
                std::thread::sleep(Duration::from_millis(300));
                for n in 0..4 {
                    let Ok(reply) = requests.recv() else { return };
                    let line = if n < 3 {
                        crate::cmd::input::InputLine::Line(b"hello\n".to_vec())
                    } else {
                        crate::cmd::input::InputLine::Eof
                    };
                    let _ = reply.send(line);
                }
            });
            let r = run_line(&ctx, "snc -c 127.0.0.1:9015 -w 5 -o /dev/null");
            (r, peer.join().unwrap())
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(got, b"hello\nhello\nhello\n");
        finish(ctx);
    }

    /// A file that cannot be read or written is found before connecting: the peer's
    /// listener is not used up.
    #[test]
    fn bad_files_fail_before_connecting() {
        let ctx = ctx();
        let dir = temp_dir("snc-files");
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:9003").unwrap();
        l.set_accept_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let bad = dir.join("no/such/file");
        let cases = [
            ("-f", bad.clone()),
            ("-o", bad.clone()),
            // A directory opens: it must fail before connecting all the same.
            ("-f", dir.to_path_buf()),
        ];
        for (opt, bad) in cases {
            let r = run_line(
                &ctx,
                &format!("snc -c 127.0.0.1:9003 {opt} {}", bad.display()),
            );
            let e = r.unwrap_err();
            assert!(e.starts_with("snc: cannot "), "{e}");
            assert_eq!(
                l.accept().map(|_| ()).map_err(|e| e.kind()),
                Err(std::io::ErrorKind::WouldBlock),
                "snc {opt} connected"
            );
        }
        finish(ctx);
    }

    /// Ctrl-C while sending to a peer that does not read: the command ends, the
    /// connection is reset (the peer sees it; nothing is left for `exit` to deliver).
    #[test]
    fn ctrl_c_resets_a_file_transfer() {
        for at_terminal in [true, false] {
            let (r, end) = interrupted_transfer(at_terminal);
            assert!(r.is_ok(), "{r:?}");
            if at_terminal {
                // The user's Ctrl-C: reset.
                assert_eq!(end, Some(std::io::ErrorKind::ConnectionReset));
            } else {
                // SIGINT ending a program run from a pipe: closed gracefully.
                assert_eq!(end, None);
            }
        }
    }

    /// `snc -c -f BIG` to a peer that reads only after the Ctrl-C: the result, and how the
    /// peer's stream ended (`None`: a FIN after all the data). After a reset nothing is
    /// left to deliver.
    fn interrupted_transfer(
        at_terminal: bool,
    ) -> (Result<crate::cmd::Flow, String>, Option<std::io::ErrorKind>) {
        let ctx = ctx();
        let dir = temp_dir("snc-ctrl-c");
        let src = dir.join("big.bin");
        std::fs::write(&src, vec![1u8; 8 << 20]).unwrap();
        let out = dir.join("replies");
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:9004").unwrap();
        l.set_accept_timeout(Some(Duration::from_secs(20))).unwrap();
        let (done_tx, done) = std::sync::mpsc::channel::<()>();
        let (r, end) = std::thread::scope(|sc| {
            let peer = sc.spawn(move || {
                let (s, _) = l.accept().unwrap();
                // Not reading until snc has acted on the Ctrl-C (8 MiB does not fit the
                // windows, so the transfer is still running when it comes): until it has
                // returned, or for at most 2 s where it waits for the peer to read (a
                // graceful close delivers everything whenever the reading starts).
                let _ = done.recv_timeout(Duration::from_secs(2));
                let mut buf = vec![0u8; 65536];
                loop {
                    match (&s).read(&mut buf) {
                        Ok(0) => return None,
                        Ok(_) => {}
                        Err(e) => return Some(e.kind()),
                    }
                }
            });
            ctx.sig.at_terminal.store(at_terminal, Ordering::SeqCst);
            let sig = ctx.sig.clone();
            sc.spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                sig.raise_interrupt();
            });
            let r = run_line(
                &ctx,
                &format!(
                    "snc -c 127.0.0.1:9004 -f {} -o {}",
                    src.display(),
                    out.display()
                ),
            );
            let _ = done_tx.send(());
            (r, peer.join().unwrap())
        });
        if at_terminal {
            let left = ctx
                .stack
                .with_core(|c, _| c.transport.tcp_undelivered().len());
            assert_eq!(left, 0, "a reset connection is left to deliver");
        }
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        finish(ctx);
        (r, end)
    }

    #[test]
    fn listen_takes_one_connection_to_its_end() {
        let ctx = ctx();
        let dir = temp_dir("snc-b");
        let out = dir.join("got.bin");
        let data: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
        let r = std::thread::scope(|sc| {
            sc.spawn(|| {
                let s = connect_soon(&ctx, 9000);
                (&s).write_all(&data).unwrap();
            });
            run_line(&ctx, &format!("snc -b 9000 -o {}", out.display()))
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(std::fs::read(&out).unwrap(), data);
        finish(ctx);
    }

    #[test]
    fn connect_sends_a_file_then_waits_for_the_close() {
        let ctx = ctx();
        let dir = temp_dir("snc-c");
        let src = dir.join("src.bin");
        let out = dir.join("reply.txt");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:9001").unwrap();
        let (r, got) = std::thread::scope(|sc| {
            let peer = sc.spawn(|| {
                let (s, _) = l.accept().unwrap();
                let mut v = Vec::new();
                (&s).read_to_end(&mut v).unwrap();
                (&s).write_all(b"thanks\n").unwrap();
                v
            });
            let r = run_line(
                &ctx,
                &format!(
                    "snc -c 127.0.0.1:9001 -f {} -o {}",
                    src.display(),
                    out.display()
                ),
            );
            (r, peer.join().unwrap())
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(got, data);
        assert_eq!(std::fs::read(&out).unwrap(), b"thanks\n");

        // A peer that never closes: -w limits the wait.
        let (r, _s) = std::thread::scope(|sc| {
            let peer = sc.spawn(|| l.accept().unwrap().0);
            let t = Instant::now();
            let r = run_line(&ctx, "snc -c 127.0.0.1:9001 -w 0.5 -o /dev/null");
            assert!(t.elapsed() < Duration::from_secs(5));
            (r, peer.join().unwrap())
        });
        assert_eq!(r, Err("snc: the peer did not close within 0.5 s".into()));
        finish(ctx);
    }

    /// The peer closes its side at once (as `nc -N` does) and reads slowly: `snc -f` ends
    /// only once everything it sent, FIN included, is acknowledged.
    #[test]
    fn connect_ends_only_when_everything_is_acknowledged() {
        let ctx = ctx();
        let dir = temp_dir("snc-ack");
        let src = dir.join("src.bin");
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:9007").unwrap();
        let (r, left, got) = std::thread::scope(|sc| {
            let peer = sc.spawn(|| {
                let (s, _) = l.accept().unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                std::thread::sleep(Duration::from_millis(500));
                let mut v = Vec::new();
                let mut buf = vec![0u8; 8192];
                loop {
                    match (&s).read(&mut buf).unwrap() {
                        0 => break v,
                        n => v.extend_from_slice(&buf[..n]),
                    }
                    // Slowly: about 40 MB/s at most.
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
            let r = run_line(
                &ctx,
                &format!("snc -c 127.0.0.1:9007 -f {} -o /dev/null", src.display()),
            );
            // Nothing is left to deliver the moment snc returns.
            let left = ctx.stack.with_core(|c, _| c.transport.tcp_undelivered());
            (r, left, peer.join().unwrap())
        });
        assert!(r.is_ok(), "{r:?}");
        assert!(left.is_empty(), "{left:?}");
        assert!(got == data, "{} of {} bytes", got.len(), data.len());
        finish(ctx);
    }

    #[test]
    fn errors_and_timeouts() {
        let ctx = ctx();
        assert_eq!(
            run_line(&ctx, "snc -c 127.0.0.1:1"),
            Err("snc: cannot connect to 127.0.0.1:1: connection refused".into())
        );
        assert_eq!(
            run_line(&ctx, "snc -b 9002 -w 0.2"),
            Err("snc: no connection within 0.2 s".into())
        );
        let _l = TcpListener::bind(&ctx.stack, "0.0.0.0:9003").unwrap();
        assert_eq!(
            run_line(&ctx, "snc -b 9003"),
            Err("snc: cannot listen on tcp 0.0.0.0:9003: address already in use".into())
        );
        let r = std::thread::scope(|sc| {
            sc.spawn(|| {
                let s = connect_soon(&ctx, 9004);
                std::thread::sleep(Duration::from_secs(2));
                drop(s);
            });
            // 1 s, not less: -w also bounds the wait for the connection, which comes from
            // the other thread (a loaded machine can hold it back a few hundred ms); the
            // peer holds it open 2 s, so the idle limit still ends it first.
            run_line(&ctx, "snc -b 9004 -w 1 -o /dev/null")
        });
        assert_eq!(r, Err("snc: nothing arrived for 1 s".into()));
        finish(ctx);
    }

    /// `-o FILE` is "left as it was until the connection is made" (`OutFile`), as `-c`
    /// does: `-b` with no connection (the -w limit, or Ctrl-C) must not empty a file that
    /// already existed. `listen` commits the file (truncates it) before `accept`.
    #[test]
    fn listen_without_a_connection_keeps_the_out_file() {
        let ctx = ctx();
        let dir = temp_dir("snc-b-keep");
        let out = dir.join("precious.txt");
        std::fs::write(&out, b"precious\n").unwrap();
        assert_eq!(
            run_line(&ctx, &format!("snc -b 9010 -w 0.2 -o {}", out.display())),
            Err("snc: no connection within 0.2 s".into())
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"precious\n",
            "no connection came, yet the file was emptied"
        );
        finish(ctx);
    }

    #[test]
    fn ctrl_c_ends_a_blocked_snc() {
        let ctx = ctx();
        let interrupt_soon = |ctx: &crate::cmd::Ctx| {
            let sig = ctx.sig.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                sig.raise_interrupt();
            })
        };
        // Blocked in accept.
        let t = Instant::now();
        let h = interrupt_soon(&ctx);
        assert_eq!(
            run_line(&ctx, "snc -b 9005"),
            Ok(crate::cmd::Flow::Continue)
        );
        assert!(t.elapsed() < Duration::from_secs(3));
        h.join().unwrap();
        ctx.sig.interrupt.store(false, Ordering::SeqCst);

        // Blocked in a write: the peer reads nothing, the windows fill up.
        let dir = temp_dir("snc-int");
        let src = dir.join("big.bin");
        std::fs::write(&src, vec![7u8; 8 << 20]).unwrap();
        let l = TcpListener::bind(&ctx.stack, "127.0.0.1:9006").unwrap();
        let (r, took) = std::thread::scope(|sc| {
            let peer = sc.spawn(|| l.accept().unwrap().0);
            let h = interrupt_soon(&ctx);
            let t = Instant::now();
            let r = run_line(&ctx, &format!("snc -c 127.0.0.1:9006 -f {}", src.display()));
            let took = t.elapsed();
            h.join().unwrap();
            drop(peer.join().unwrap());
            (r, took)
        });
        assert!(r.is_ok(), "{r:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        finish(ctx);
    }
}
