//! `snc`: a small netcat on the stack's sockets, as in the C tapip: `-b` binds and prints
//! what arrives, `-c` connects and sends what is typed (or a file), printing the replies.
//! TCP by default (see `tcp`), UDP with `-u` (here).
//!
//! What is typed comes from the shell's input (see `input`): in pipe mode the lines after
//! the `snc` command, to the end of the input; at a terminal the lines typed until Ctrl-D
//! (or Ctrl-C); with `-c`/`--script`, the program's stdin.

mod tcp;

use super::input::InputLine;
use super::syntax::Snc;
use super::Ctx;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use socket_api::UdpSocket;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Datagram size for files: the most UDP payload one frame carries at MTU 1500 (1500
/// bytes less 20 of IP header and 8 of UDP header), so nothing is fragmented.
const CHUNK: usize = 1472;
/// The largest UDP payload; longer lines are sent in pieces of this size.
const MAX_DATAGRAM: usize = 65_507;
/// How often the loops look at Ctrl-C and at each other.
const POLL: Duration = Duration::from_millis(100);
/// How long a send waits for room when the stack's queues are full.
const SEND_PATIENCE: Duration = Duration::from_secs(2);
/// UDP `-c` without `-w`: how long to wait after the last datagram for an ICMP error
/// about it (a refusal comes within a round trip, after the peer's MAC is resolved).
const UDP_GRACE: Duration = Duration::from_millis(300);

/// Errors about single datagrams (a refusal, a datagram not sent): each is said when it
/// comes and snc goes on, but they make it fail at its end.
#[derive(Default)]
struct Troubles {
    count: std::sync::atomic::AtomicU64,
    last: parking_lot::Mutex<Option<String>>,
}

impl Troubles {
    /// Say `what` now (`snc: connection refused`) and remember it.
    fn report(&self, what: String) {
        errln!("snc: {what}");
        self.count.fetch_add(1, Ordering::SeqCst);
        *self.last.lock() = Some(what);
    }

    /// The command's result: an error if anything went wrong on the way.
    fn outcome(&self, peer: impl std::fmt::Display) -> Result<(), String> {
        match self.count.load(Ordering::SeqCst) {
            0 => Ok(()),
            n => {
                let last = self.last.lock().clone().unwrap_or_default();
                Err(match n {
                    1 => format!("snc: {peer}: {last}"),
                    n => format!("snc: {peer}: {n} errors, the last: {last}"),
                })
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bind(SocketAddrV4),
    Connect(SocketAddrV4),
}

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    /// `-u`: UDP rather than TCP.
    udp: bool,
    debug: bool,
    mode: Mode,
    /// `-f`: send this file instead of the input's lines.
    file: Option<String>,
    /// `-o`: write what arrives here instead of stdout.
    out: Option<String>,
    /// `-w`: UDP: after sending, keep printing replies this long. TCP: the limit on
    /// connecting, on waiting for the peer's close after sending, and (`-b`) on waiting
    /// for a connection and for data.
    wait: Option<Duration>,
}

/// How the options of `snc` go together (each value was checked by its parser).
fn parse(a: Snc) -> Result<Opts, String> {
    let Snc {
        udp,
        debug,
        wait: linger,
        bind,
        connect,
        file,
        out,
    } = a;
    let mode = match (bind, connect) {
        (Some(b), None) => Mode::Bind(b),
        (None, Some(c)) => Mode::Connect(c),
        _ => return Err("snc: give one of -b and -c".into()),
    };
    if let Mode::Bind(_) = mode {
        if file.is_some() {
            return Err("snc: -f sends a file to a peer: use it with -c ADDR:PORT".into());
        }
        if udp && linger.is_some() {
            return Err("snc: -w is the wait for replies after sending, with -c".into());
        }
    }
    if !udp {
        if let Mode::Connect(a) = mode {
            if a.port() == 0 || a.ip().is_unspecified() {
                return Err(format!(
                    "snc: cannot connect to {a} (give an address and a port)"
                ));
            }
        }
        if linger.is_some_and(|d| d < Duration::from_millis(1)) {
            return Err("snc: -w with TCP: at least 0.001 seconds".into());
        }
    }
    Ok(Opts {
        udp,
        debug,
        mode,
        file,
        out,
        wait: linger,
    })
}

pub fn run(ctx: &Ctx, a: Snc) -> Result<(), String> {
    let o = parse(a)?;
    if !o.udp {
        return tcp::run(ctx, &o);
    }
    let err = |e: std::io::Error| format!("snc: {e}");
    let sock = match o.mode {
        Mode::Bind(a) => {
            let s =
                UdpSocket::bind(&ctx.stack, a).map_err(|e| format!("snc: cannot bind {a}: {e}"))?;
            if a.ip().is_multicast() {
                // Bound to a group: join it, to hear what is sent to it.
                let via = group_interface(ctx, *a.ip());
                s.join_multicast_v4(a.ip(), &via)
                    .map_err(|e| format!("snc: cannot join {}: {e}", a.ip()))?;
                if o.debug {
                    errln!("snc: joined {} on {via}", a.ip());
                }
            }
            s
        }
        Mode::Connect(a) => {
            let s = UdpSocket::bind(&ctx.stack, (Ipv4Addr::UNSPECIFIED, 0)).map_err(err)?;
            if a.ip().is_multicast() {
                s.set_multicast_if_v4(&group_interface(ctx, *a.ip()))
                    .map_err(err)?;
            }
            s.connect(a)
                .map_err(|e| format!("snc: cannot connect to {a}: {e}"))?;
            s
        }
    };
    sock.set_read_timeout(Some(POLL)).map_err(err)?;
    // Files are opened once the socket is ready, so a bad address leaves them alone.
    let input = open_input(&o.file, &|| ctx.sig.stop_requested())?;
    // Checked now, emptied only when the first datagram arrives (none: left alone).
    let out = Sink::prepare(&o.out, &|| ctx.sig.stop_requested())?;
    let local = sock.local_addr().map_err(err)?;
    match o.mode {
        Mode::Bind(a) => {
            // Port 0 picks one: say which (as the TCP listener does).
            if o.debug || a.port() == 0 {
                errln!("snc: bound to {local}");
            }
            let stop = AtomicBool::new(false);
            let troubles = Troubles::default();
            let got = receive(ctx, &sock, out, o.debug, &stop, &troubles)?;
            if o.debug {
                errln!("snc: received {got}");
            }
            troubles.outcome(local)
        }
        Mode::Connect(peer) => {
            if o.debug {
                errln!("snc: {local} -> {peer}");
            }
            connect(ctx, &o, &sock, peer, input, out)
        }
    }
}

/// The interface for a multicast group, by its address: the route's (0.0.0.0) when there
/// is a route to the group, else the first interface that is up, has an address and is not
/// loopback (the TOP2 default has no route to 224.0.0.0/4; Linux would say "no such
/// device" there).
fn group_interface(ctx: &Ctx, group: Ipv4Addr) -> Ipv4Addr {
    ctx.stack.with_core(|c, _| {
        if c.ip.route_lookup(group).is_some() {
            return Ipv4Addr::UNSPECIFIED;
        }
        c.ip.interfaces()
            .iter()
            .find(|i| i.up && !i.loopback)
            .and_then(|i| i.addr)
            .map_or(Ipv4Addr::UNSPECIFIED, |a| a.addr())
    })
}

/// Datagram and byte counts, for `-d`.
#[derive(Default)]
struct Count {
    datagrams: u64,
    bytes: u64,
}

impl Count {
    fn add(&mut self, n: usize) {
        self.datagrams += 1;
        self.bytes += n as u64;
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} datagram{}, {} byte{}",
            self.datagrams,
            s(self.datagrams),
            self.bytes,
            s(self.bytes)
        )
    }
}

/// Where arriving payloads go, written as they arrive.
enum Sink {
    Stdout,
    File(File),
}

/// A `Sink` checked before connecting (see `super::OutFile`).
enum Prepared {
    Stdout,
    File(super::OutFile),
}

impl Prepared {
    /// Truncate the file: the connection is made.
    fn commit(self) -> Result<Sink, String> {
        match self {
            Prepared::Stdout => Ok(Sink::Stdout),
            Prepared::File(f) => Ok(Sink::File(f.commit().map_err(|e| format!("snc: {e}"))?)),
        }
    }
}

impl Sink {
    /// `-o FILE` opened for writing, left as it is until `Prepared::commit`.
    fn prepare(out: &Option<String>, stop: &dyn Fn() -> bool) -> Result<Prepared, String> {
        Ok(match out {
            Some(p) => {
                Prepared::File(super::OutFile::open(p, stop).map_err(|e| format!("snc: {e}"))?)
            }
            None => Prepared::Stdout,
        })
    }

    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(data)?;
                out.flush()
            }
            Sink::File(f) => {
                f.write_all(data)?;
                f.flush()
            }
        }
    }
}

/// `-f FILE`, opened.
fn open_input(file: &Option<String>, stop: &dyn Fn() -> bool) -> Result<Option<File>, String> {
    let Some(p) = file else {
        return Ok(None);
    };
    let fail = |e: std::io::Error| {
        format!(
            "snc: cannot read '{p}': {}",
            super::tcp::describe(&e, false)
        )
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    let f = super::open_waiting(p.as_ref(), &opts, false, stop).map_err(fail)?;
    // A directory opens, and fails only at the first read: found here, before a
    // connection uses up the peer's listener.
    if f.metadata().map_err(fail)?.is_dir() {
        return Err(fail(std::io::Error::from(ErrorKind::IsADirectory)));
    }
    Ok(Some(f))
}

/// Errors a UDP socket reports for one datagram (an ICMP error about an earlier send,
/// or a datagram too long); the socket goes on working.
fn is_soft(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionRefused
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::InvalidInput
    )
}

/// Write what arrives until Ctrl-C or `stop`; on a fatal error, set `stop` and return it.
fn receive(
    ctx: &Ctx,
    sock: &UdpSocket,
    out: Prepared,
    debug: bool,
    stop: &AtomicBool,
    troubles: &Troubles,
) -> Result<Count, String> {
    // The file is emptied when the first datagram arrives, as a TCP listener's is when its
    // connection comes: a bind that hears nothing leaves what was there.
    let mut waiting = Some(out);
    let mut sink = None;
    let mut buf = vec![0u8; 65_536];
    let mut got = Count::default();
    while !stop.load(Ordering::SeqCst) && !ctx.sig.stop_requested() {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => continue,
            Err(e) if is_soft(e.kind()) => {
                troubles.report(e.to_string());
                continue;
            }
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                return Err(format!("snc: {e}"));
            }
        };
        if debug {
            errln!("snc: {n} bytes from {from}");
        }
        got.add(n);
        if let Some(p) = waiting.take() {
            match p.commit() {
                Ok(s) => sink = Some(s),
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        let Some(sink) = sink.as_mut() else {
            continue;
        };
        if let Err(e) = sink.put(&buf[..n]) {
            stop.store(true, Ordering::SeqCst);
            return Err(format!("snc: cannot write what arrives: {e}"));
        }
    }
    Ok(got)
}

/// `-c`: send the file or the input's lines while a second thread prints the replies.
fn connect(
    ctx: &Ctx,
    o: &Opts,
    sock: &UdpSocket,
    peer: SocketAddrV4,
    file: Option<File>,
    sink: Prepared,
) -> Result<(), String> {
    let stop = AtomicBool::new(false);
    let troubles = Troubles::default();
    std::thread::scope(|s| {
        let receiver = std::thread::Builder::new()
            .name("snc-receive".into())
            .spawn_scoped(s, || receive(ctx, sock, sink, o.debug, &stop, &troubles))
            .map_err(|e| format!("snc: cannot start a thread: {e}"))?;
        let mut sender = Sender {
            ctx,
            sock,
            peer,
            debug: o.debug,
            stop: &stop,
            troubles: &troubles,
            sent: Count::default(),
        };
        let sent = match file {
            Some(f) => sender.file(f),
            None => sender.lines(),
        };
        if sent.is_ok() {
            // Replies, and errors about the last datagrams, for -w or a moment.
            ctx.sig.sleep(o.wait.unwrap_or(UDP_GRACE));
        }
        stop.store(true, Ordering::SeqCst);
        let got = receiver
            .join()
            .unwrap_or_else(|_| Err("snc: the receiving thread failed".into()));
        if o.debug {
            let got = got.as_ref().map_or(String::new(), |g| g.to_string());
            errln!("snc: sent {}; received {got}", sender.sent);
        }
        sent.and(got.map(|_| ()))?;
        troubles.outcome(peer)
    })
}

struct Sender<'a> {
    ctx: &'a Ctx,
    sock: &'a UdpSocket,
    peer: SocketAddrV4,
    debug: bool,
    stop: &'a AtomicBool,
    troubles: &'a Troubles,
    sent: Count,
}

impl Sender<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.ctx.sig.stop_requested()
    }

    /// The file in datagrams of `CHUNK` bytes.
    fn file(&mut self, mut f: File) -> Result<(), String> {
        let mut buf = vec![0u8; CHUNK];
        while !self.stopping() {
            let n =
                fill(&mut f, &mut buf).map_err(|e| format!("snc: cannot read the file: {e}"))?;
            if n == 0 {
                break;
            }
            self.send(&buf[..n])?;
        }
        Ok(())
    }

    /// A datagram per line of input, until its end or Ctrl-C.
    fn lines(&mut self) -> Result<(), String> {
        // One request at a time, kept until its line comes.
        let mut pending: Option<Receiver<InputLine>> = None;
        while !self.stopping() {
            let rx = pending.get_or_insert_with(|| self.ctx.input.request());
            match rx.recv_timeout(POLL) {
                Ok(InputLine::Line(l)) => {
                    pending = None;
                    for piece in l.chunks(MAX_DATAGRAM) {
                        self.send(piece)?;
                    }
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

    /// Send one datagram. Errors about this datagram are reported and it is skipped; only
    /// a socket that no longer works ends `snc`.
    fn send(&mut self, data: &[u8]) -> Result<(), String> {
        let give_up = Instant::now() + SEND_PATIENCE;
        let mut retried = false;
        loop {
            match self.sock.send(data) {
                Ok(n) => {
                    if self.debug {
                        errln!("snc: {n} bytes to {}", self.peer);
                    }
                    self.sent.add(n);
                    return Ok(());
                }
                // The stack's queues are full (the peer's MAC address is still being
                // resolved, or the device is busy): wait for room.
                Err(e)
                    if e.kind() == ErrorKind::OutOfMemory
                        && Instant::now() < give_up
                        && !self.stopping() =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                // An ICMP error about an earlier datagram, reported by this call (as
                // Linux does): this datagram has not gone yet.
                Err(e)
                    if !retried
                        && matches!(
                            e.kind(),
                            ErrorKind::ConnectionRefused
                                | ErrorKind::HostUnreachable
                                | ErrorKind::NetworkUnreachable
                        ) =>
                {
                    self.troubles.report(e.to_string());
                    retried = true;
                }
                Err(e) if matches!(e.kind(), ErrorKind::NotConnected | ErrorKind::BrokenPipe) => {
                    return Err(format!("snc: {e}"));
                }
                Err(e) => {
                    self.troubles
                        .report(format!("{} bytes not sent: {e}", data.len()));
                    return Ok(());
                }
            }
        }
    }
}

/// Read until `buf` is full or the end of the file; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Opts, String> {
        use crate::cmd::syntax::{parse_line, Command};
        match parse_line(&format!("snc {line}"))? {
            Command::Snc(a) => parse(a),
            other => panic!("{other:?}"),
        }
    }

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn bind_and_connect() {
        let o = parse_line("-u -b 0.0.0.0:9000").unwrap();
        assert_eq!(o.mode, Mode::Bind(addr("0.0.0.0:9000")));
        assert!(!o.debug && o.file.is_none() && o.out.is_none());
        let o = parse_line("-c 10.0.0.2:7 -u -d -f /etc/hosts -w 0.5").unwrap();
        assert_eq!(o.mode, Mode::Connect(addr("10.0.0.2:7")));
        assert!(o.debug);
        assert_eq!(o.file.as_deref(), Some("/etc/hosts"));
        assert_eq!(o.wait, Some(Duration::from_millis(500)));
        assert!(o.udp);
        let o = parse_line("-u -b 10.0.0.1:53 -o /tmp/x").unwrap();
        assert_eq!(o.out.as_deref(), Some("/tmp/x"));
    }

    #[test]
    fn tcp_is_the_default() {
        let o = parse_line("-b 9000").unwrap();
        assert!(!o.udp);
        assert_eq!(o.mode, Mode::Bind(addr("0.0.0.0:9000")));
        assert_eq!(o.wait, None);
        let o = parse_line("-b 10.0.0.1:9000 -o /tmp/x -w 3 -d").unwrap();
        assert_eq!(o.mode, Mode::Bind(addr("10.0.0.1:9000")));
        assert_eq!(o.wait, Some(Duration::from_secs(3)));
        assert_eq!(o.out.as_deref(), Some("/tmp/x"));
        assert!(o.debug);
        let o = parse_line("-c 10.0.0.2:5000 -f /etc/hosts -w 0.5").unwrap();
        assert_eq!(o.mode, Mode::Connect(addr("10.0.0.2:5000")));
        assert_eq!(o.file.as_deref(), Some("/etc/hosts"));
        assert_eq!(o.wait, Some(Duration::from_millis(500)));
        // A bare port also binds over UDP.
        assert_eq!(
            parse_line("-u -b 6000").unwrap().mode,
            Mode::Bind(addr("0.0.0.0:6000"))
        );
    }

    #[test]
    fn tcp_errors() {
        assert!(parse_line("-b 1.2.3.4:5 -f x")
            .unwrap_err()
            .contains("with -c"));
        assert_eq!(
            parse_line("-c 9000"),
            Err("snc: -c: invalid address '9000' (ADDR:PORT, e.g. 10.0.0.2:9000)".into())
        );
        assert_eq!(
            parse_line("-b 99999"),
            Err("snc: -b: port 99999 is out of range (0-65535)".into())
        );
        assert!(parse_line("-c 10.0.0.2:0")
            .unwrap_err()
            .contains("give an address and a port"));
        assert!(parse_line("-c 0.0.0.0:7")
            .unwrap_err()
            .contains("give an address and a port"));
        assert_eq!(
            parse_line("-c 10.0.0.2:7 -w 0"),
            Err("snc: -w with TCP: at least 0.001 seconds".into())
        );
        for bad in [
            "-b 70000",
            "-b -1",
            "-b x",
            "-c",
            "-b 1 -c 1.2.3.4:5",
            "-b 7 extra",
        ] {
            let e = parse_line(bad).unwrap_err();
            assert!(e.starts_with("snc: ") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn errors() {
        assert!(
            parse_line("-u").unwrap_err().starts_with("snc: missing -b"),
            "{:?}",
            parse_line("-u")
        );
        assert!(parse_line("-u -b 1.2.3.4:5 -c 1.2.3.4:6")
            .unwrap_err()
            .contains("cannot be used with"));
        assert!(parse_line("-u -b 1.2.3.4:5 -f x")
            .unwrap_err()
            .contains("with -c"));
        assert!(parse_line("-u -b 1.2.3.4:5 -w 1")
            .unwrap_err()
            .contains("with -c"));
        assert_eq!(
            parse_line("-u -b 1.2.3.4"),
            Err(
                "snc: -b: invalid address '1.2.3.4' ([ADDR:]PORT, e.g. 9000 or 10.0.0.1:9000)"
                    .into()
            )
        );
        assert!(parse_line("-u -b 1.2.3.4:5 -w 1")
            .unwrap_err()
            .contains("with -c"));
        assert!(parse_line("-u -c")
            .unwrap_err()
            .starts_with("snc: option -c needs a value"));
        assert!(parse_line("-u -c 1.2.3.4:5 -x")
            .unwrap_err()
            .contains("unknown option '-x'"));
        assert!(parse_line("-u -c 1.2.3.4:5 extra")
            .unwrap_err()
            .contains("unexpected argument 'extra'"));
        for bad in [
            "-u -c 1.2.3.4:70000",
            "-u -c host:7",
            "-u -c 1.2.3.4:5 -f",
            "-u -c 1.2.3.4:5 -o",
            "-u -c 1.2.3.4:5 -w -1",
            "-u -c 1.2.3.4:5 -w x",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        // Every error is one line.
        for bad in ["", "-u", "-q", "-u -b x", "-b 1.2.3.4:5 -f x"] {
            assert!(!parse_line(bad).unwrap_err().contains('\n'), "{bad}");
        }
    }

    /// A refusal makes `snc -u -c` fail, also when it comes after the last datagram
    /// (nothing listens on UDP port 9 of the loopback).
    #[test]
    fn refused_datagrams_make_snc_fail() {
        let ctx = crate::cmd::testing::ctx();
        let dir = crate::cmd::testing::temp_dir("snc-u");
        let f = dir.join("small");
        std::fs::write(&f, b"hello").unwrap();
        let r = crate::cmd::testing::run_line(
            &ctx,
            &format!("snc -u -c 127.0.0.1:9 -f {}", f.display()),
        );
        assert_eq!(r, Err("snc: 127.0.0.1:9: connection refused".into()));
        // Something listening: no error.
        let l = UdpSocket::bind(&ctx.stack, "127.0.0.1:9").unwrap();
        let r = crate::cmd::testing::run_line(
            &ctx,
            &format!("snc -u -c 127.0.0.1:9 -f {}", f.display()),
        );
        assert!(r.is_ok(), "{r:?}");
        drop(l);
        crate::cmd::testing::finish(ctx);
    }

    #[test]
    fn counts_are_singular_or_plural() {
        let mut c = Count::default();
        assert_eq!(c.to_string(), "0 datagrams, 0 bytes");
        c.add(1);
        assert_eq!(c.to_string(), "1 datagram, 1 byte");
        c.add(5);
        assert_eq!(c.to_string(), "2 datagrams, 6 bytes");
    }

    #[test]
    fn files_are_cut_in_full_chunks() {
        let data: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        let mut r = std::io::Cursor::new(data.clone());
        let mut buf = vec![0u8; CHUNK];
        let mut sizes = Vec::new();
        let mut back = Vec::new();
        loop {
            let n = fill(&mut r, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            sizes.push(n);
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(sizes, vec![1472, 1472, 1056]);
        assert_eq!(back, data);
    }

    /// As with TCP (`listen_without_a_connection_keeps_the_out_file`): `-u -b -o FILE`
    /// empties the file only when a datagram comes, so a bind that hears nothing (ended by
    /// Ctrl-C) leaves an existing file as it was.
    #[test]
    fn a_udp_bind_empties_the_out_file_only_when_a_datagram_comes() {
        use crate::cmd::testing::{ctx, finish, run_line, temp_dir};
        use std::time::Duration;
        let ctx = ctx();
        let dir = temp_dir("snc-u-keep");
        let out = dir.join("precious.txt");
        std::fs::write(&out, b"precious\n").unwrap();
        let interrupt_after = |ms: u64| {
            let sig = ctx.sig.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                sig.raise_interrupt();
            })
        };
        let line = format!("snc -u -b 127.0.0.1:9020 -o {}", out.display());
        let h = interrupt_after(300);
        assert!(run_line(&ctx, &line).is_ok());
        h.join().unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"precious\n",
            "nothing arrived, yet the file was emptied"
        );

        // A datagram comes: the file holds what arrived, and nothing of what was there.
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        let h = interrupt_after(1_000);
        let r = std::thread::scope(|sc| {
            sc.spawn(|| {
                let s = UdpSocket::bind(&ctx.stack, "127.0.0.1:0").unwrap();
                for _ in 0..5 {
                    std::thread::sleep(Duration::from_millis(100));
                    s.send_to(b"new\n", "127.0.0.1:9020").unwrap();
                }
            });
            run_line(&ctx, &line)
        });
        h.join().unwrap();
        assert!(r.is_ok(), "{r:?}");
        let got = std::fs::read(&out).unwrap();
        assert!(
            !got.is_empty() && got.chunks(4).all(|c| c == b"new\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        finish(ctx);
    }

    /// `snc -u -b 0` (or `ADDR:0`) binds a port the stack picks, and says which, as the TCP
    /// listener does ("Port 0 picks one: say which"): without `-d` it said nothing, and
    /// nobody could know where to send. `snc` says it on stderr, which a test cannot
    /// capture: the test runs itself again in a child process and reads its stderr.
    #[test]
    fn a_udp_bind_to_port_0_says_which_port() {
        let test = "cmd::snc::tests::a_udp_bind_to_port_0_says_which_port";
        let Some((_, err)) = crate::cmd::testing::in_child(test, |ctx| {
            let sig = ctx.sig.clone();
            let h = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                sig.raise_interrupt();
            });
            let _ = crate::cmd::testing::run_line(ctx, "snc -u -b 0");
            h.join().unwrap();
        }) else {
            return;
        };
        let port: Option<u16> = err
            .lines()
            .find_map(|l| l.strip_prefix("snc: bound to 0.0.0.0:"))
            .and_then(|p| p.trim().parse().ok());
        assert!(port.is_some_and(|p| p != 0), "the port is not said: {err}");
    }
}
