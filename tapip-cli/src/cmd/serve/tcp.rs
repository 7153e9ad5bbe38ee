//! The services over TCP, event-driven: one thread per job holds every connection of the
//! job in non-blocking mode and serves whichever the stack reports as changed (a
//! [`Poller`]). At most [`MAX_CONNS`] connections are open at once; past that the job
//! stops accepting, and new connections wait in the listen backlog ([`BACKLOG`]) until one
//! closes (the stack holds back the handshakes of those past the backlog, and their
//! clients retry). Each connection has its own idle deadline, so clients that say nothing
//! cost a slot each and lock nobody out. `kill` closes the listener and wakes the thread,
//! which closes every connection and ends.
//!
//! * echo (RFC 862): sends back what it reads until the client closes, then closes.
//! * discard (RFC 863): reads and drops until the client closes.
//! * chargen (RFC 864): sends the rotating 72-character lines until the client closes or
//!   resets the connection (what it sends is read and dropped).
//! * daytime (RFC 867): sends the date line and closes.
//! * http: the files under a directory (see `crate::http`), each connection closed after
//!   [`HTTP_IDLE`] without a request, or [`HTTP_SEND_IDLE`] without taking any of its
//!   answer (a client that stopped reading). A request (its head and any body) must arrive
//!   whole within [`HTTP_IDLE`] of its first byte (a 408 otherwise), and so must the rest
//!   of a rejected head read after its 400: a client trickling one in a byte at a time does
//!   not keep its slot. A client still taking answers the stack holds
//!   (unacknowledged bytes going down, at least [`HTTP_MIN_TAKEN`] in each
//!   [`HTTP_SEND_IDLE`]) is not idle; one taking less is. After the last answer the connection
//!   lingers: its write side shut, what the client sends read and dropped (at most
//!   [`LINGER_DRAIN`]) until the client's FIN or until all it was sent is acknowledged,
//!   so that closing with unread input does not reset the answer away.
//!
//! A connection that makes no progress (nothing read, nothing sent) for [`STREAM_IDLE`]
//! (the other services) is closed too.

use super::{chargen, daytime, now_secs, Opts, Service};
use crate::cmd::jobs::{Closer, JobKind, JobState};
use crate::cmd::Ctx;
use crate::http::{self, HttpConn};
use socket_api::{Event, Poller, SockOpt, TcpListener, TcpStream};
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Shutdown};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once by one job.
pub const MAX_CONNS: usize = 2048;
/// Established connections the stack holds for the job beyond those it serves.
pub const BACKLOG: usize = 1024;
/// An HTTP connection without a request for this long is closed (a request cut off in
/// the middle gets 408 first).
const HTTP_IDLE: Duration = Duration::from_secs(30);
/// An HTTP connection whose client takes nothing of its answer for this long is closed.
/// Longer than [`HTTP_IDLE`]: under heavy loss a live client's connection can wait a
/// minute in retransmission back-off (the stack itself gives up after its user timeout).
const HTTP_SEND_IDLE: Duration = Duration::from_secs(120);
/// An HTTP client has to take at least this much of its answers in each
/// [`HTTP_SEND_IDLE`] (136 bytes a second), or all it was sent, to keep its connection: one
/// that takes a byte now and then (a slow-read attack) is treated as idle.
const HTTP_MIN_TAKEN: u64 = 16 * 1024;
/// The other services close a connection that neither sends nor takes anything for this
/// long.
const STREAM_IDLE: Duration = Duration::from_secs(600);
/// How long daytime waits for the client's close after its line (what the client sends is
/// read and dropped, so that closing does not reset the connection under the line).
const DAYTIME_LINGER: Duration = Duration::from_secs(5);
/// Most input an HTTP connection reads and drops after its last answer, while the client
/// takes the rest of it ([`Work::Linger`]); past that it is closed as it is.
const LINGER_DRAIN: usize = 1 << 20;
/// Reads of echo and discard.
const BUF: usize = 16 * 1024;
/// chargen's lines repeat every 95 lines (one per printable character).
const CHARGEN_PERIOD: usize = 95 * 74;
/// chargen sends from a block of this many periods (70 KB), so one `send` can fill a TSO
/// burst: sends of one period (7 KB) each cost a lock round trip per 7 KB.
const CHARGEN_BLOCK_PERIODS: usize = 10;
/// The send buffer of a connection accepted while the job serves fewer than
/// [`ROOMY_CONNS`]: the stack's default, enough to keep a fast client busy (with 256 KB a
/// kernel client reading chargen over the TAP waited for the sender: 7.3-8.4 Gbit/s against
/// 9.9-10.6 with 1 MiB, plain frames; BENCHMARKS.md) ...
const SEND_BUFFER: usize = 1 << 20;
/// ... and of the others: small enough that a thousand slow clients do not pile up a
/// gigabyte in the stack (at most 64 MiB + 1,984 × 256 KB in all).
const SEND_BUFFER_MANY: usize = 256 * 1024;
/// Connections open at once that get the larger send buffer, and whose receive buffer may
/// grow (the stack's autotuning, up to 4 MiB) ...
const ROOMY_CONNS: usize = 64;

/// The send buffer of a connection accepted while `open` others are served.
fn send_buffer(open: usize) -> usize {
    if open < ROOMY_CONNS {
        SEND_BUFFER
    } else {
        SEND_BUFFER_MANY
    }
}

/// ... the others keep the 1 MiB they start with (SO_RCVBUF on a connected socket stops
/// its growth; the window already announced never shrinks): with 2,048 clients that stop
/// reading their echoes, 64 × 4 MiB + 1,984 × 1 MiB at most, not 8 GiB. `None`: leave the
/// stack's autotuning alone.
fn recv_buffer_cap(open: usize) -> Option<usize> {
    (open >= ROOMY_CONNS).then_some(1 << 20)
}
/// Socket calls for one connection before the others get their turn.
const TURN: usize = 32;
/// How often idle deadlines are looked at.
const SWEEP: Duration = Duration::from_millis(500);
/// The listener's token in the poller (connections have their slot's index).
const LISTENER: usize = usize::MAX;

/// The limits of one job (the tests use smaller ones).
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_conns: usize,
    http_idle: Duration,
    http_send_idle: Duration,
    stream_idle: Duration,
}

const LIMITS: Limits = Limits {
    max_conns: MAX_CONNS,
    http_idle: HTTP_IDLE,
    http_send_idle: HTTP_SEND_IDLE,
    stream_idle: STREAM_IDLE,
};

pub fn run(ctx: &Ctx, o: &Opts) -> Result<(), String> {
    run_with(ctx, o, LIMITS)
}

fn run_with(ctx: &Ctx, o: &Opts, limits: Limits) -> Result<(), String> {
    let root = match &o.dir {
        Some(d) => Some(directory(d)?),
        None => None,
    };
    let listener =
        TcpListener::bind_with_backlog(&ctx.stack, (Ipv4Addr::UNSPECIFIED, o.port), BACKLOG)
            .map_err(|e| format!("serve: cannot listen on tcp 0.0.0.0:{}: {e}", o.port))?;
    let err = |e: io::Error| format!("serve: {e}");
    let local = listener.local_addr().map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    if o.fastopen {
        // As many waiting for their handshake's end as the backlog holds.
        listener.set_fastopen(BACKLOG).map_err(err)?;
    }
    let poller = Arc::new(Poller::new(&ctx.stack));
    poller.add(listener.socket(), LISTENER).map_err(err)?;
    let close: Closer = {
        let l = listener.try_clone().map_err(err)?;
        let p = poller.clone();
        Box::new(move || {
            l.close();
            p.wake();
        })
    };
    let (what, kind) = match &root {
        Some(r) => (
            format!("serve http tcp {local} {}", r.display()),
            JobKind::Http,
        ),
        None => (
            format!("serve {} tcp {local}", o.service.name()),
            JobKind::Stream,
        ),
    };
    let service = o.service;
    let n = ctx
        .jobs
        .spawn(what.clone(), kind, close, move |st| {
            let mut server = Server {
                service,
                root,
                limits,
                st,
                poller: &poller,
                listener: &listener,
                conns: Vec::new(),
                free: Vec::new(),
                open: 0,
                chargen: chargen(0, CHARGEN_PERIOD * CHARGEN_BLOCK_PERIODS),
            };
            server.run();
        })
        .map_err(|e| format!("serve: {e}"))?;
    outln!("[{n}] {what}");
    Ok(())
}

/// The directory to serve, made absolute; one-line errors.
fn directory(d: &Path) -> Result<PathBuf, String> {
    let shown = d.display();
    match std::fs::metadata(d) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(format!("serve: no such directory '{shown}'"))
        }
        Err(e) => Err(format!("serve: cannot use '{shown}': {e}")),
        Ok(m) if !m.is_dir() => Err(format!("serve: '{shown}' is not a directory")),
        Ok(_) => std::fs::canonicalize(d).map_err(|e| format!("serve: cannot use '{shown}': {e}")),
    }
}

/// What a connection is doing, by service.
enum Work {
    /// `buf[pos..len]` is read and not yet sent back.
    Echo {
        buf: Box<[u8]>,
        pos: usize,
        len: usize,
    },
    Discard,
    /// Where in the repeating block the next byte comes from.
    Chargen {
        at: usize,
    },
    /// `line[sent..]` is still to go; then wait for the client's close until `linger`.
    Daytime {
        line: Vec<u8>,
        sent: usize,
        linger: Option<Instant>,
    },
    Http(Box<HttpConn>),
    /// An HTTP connection after its last answer (a lingering close): the write side is shut
    /// (a FIN after what is queued) and what the client still sends is read and dropped,
    /// so that closing with unread input does not reset the answer away before the client
    /// has it. Over at the client's FIN, once everything sent is acknowledged, after
    /// [`LINGER_DRAIN`] bytes dropped, or when the client takes less than
    /// [`HTTP_MIN_TAKEN`] in the send idle limit.
    Linger {
        dropped: usize,
        /// Bytes sent and not yet acknowledged at the start of the current send idle
        /// period, and when that started.
        unacked: usize,
        since: Instant,
    },
}

struct Conn {
    stream: TcpStream,
    work: Work,
    /// Closed when nothing moves by then.
    deadline: Instant,
    /// HTTP: when the request that started arriving (its head and any body, or the rest of
    /// a rejected head after its 400) must be whole: its first byte's time plus the idle
    /// limit, not pushed back by the bytes that follow.
    head_by: Option<Instant>,
    /// HTTP: bytes of answers handed to the stack.
    sent: u64,
    /// HTTP, while an answer is going out or unacknowledged: how much of `sent` the client
    /// had taken when the current send idle period started, and when that was. A client
    /// that takes [`HTTP_MIN_TAKEN`] in a period starts another.
    period: Option<(u64, Instant)>,
}

impl Conn {
    /// HTTP: bytes of answers the client has acknowledged, with those still unacknowledged.
    fn taken(&self) -> (u64, usize) {
        let unacked = self.stream.unacked().unwrap_or(0);
        (self.sent.saturating_sub(unacked as u64), unacked)
    }
}

/// What one turn on a connection came to.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// Waiting for the stack (a new report comes when something changes).
    Blocked,
    /// Its turn ran out with work left: come back without waiting for a report.
    More,
    /// Over: close it.
    Close,
}

struct Server<'a> {
    service: Service,
    root: Option<PathBuf>,
    limits: Limits,
    st: &'a JobState,
    poller: &'a Poller,
    listener: &'a TcpListener,
    /// Slots, indexed by token; `free` lists the empty ones.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    /// chargen's repeating block.
    chargen: Vec<u8>,
}

impl Server<'_> {
    fn run(&mut self) {
        let mut events: Vec<Event> = Vec::new();
        // Connections whose turn ran out, and whether the listener has more to accept.
        let mut again: Vec<usize> = Vec::new();
        let mut accept_ready = true;
        let mut next_sweep = Instant::now() + SWEEP;
        loop {
            if self.st.stopping() {
                break;
            }
            let wait = if again.is_empty() && !(accept_ready && self.open < self.limits.max_conns) {
                next_sweep.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poller.wait(&mut events, Some(wait)) {
                if !self.st.stopping() {
                    self.st.fail(format!("poll: {e}"));
                }
                break;
            }
            let mut ready: Vec<usize> = std::mem::take(&mut again);
            for e in &events {
                if e.token == LISTENER {
                    accept_ready = true;
                } else {
                    ready.push(e.token);
                }
            }
            for token in ready {
                if self.turn(token) == Turn::More {
                    again.push(token);
                }
            }
            if accept_ready && self.open < self.limits.max_conns {
                match self.accept(&mut again) {
                    Ok(more) => accept_ready = more,
                    Err(e) => {
                        if !self.st.stopping() {
                            self.st.fail(format!("accept: {e}"));
                        }
                        break;
                    }
                }
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now, &mut again);
                next_sweep = now + SWEEP;
            }
        }
        for token in 0..self.conns.len() {
            if let Some(c) = self.conns.get(token).and_then(Option::as_ref) {
                c.stream.close();
            }
            self.remove(token);
        }
    }

    /// Accepts until the backlog is empty (`Ok(false)`) or the job is full (`Ok(true)`:
    /// more may be waiting). New connections get their first turn in `again`.
    fn accept(&mut self, again: &mut Vec<usize>) -> io::Result<bool> {
        while self.open < self.limits.max_conns {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                // A connection that failed before it was taken: on to the next.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                            | ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream
                .socket()
                .set_option(SockOpt::SendBuffer(send_buffer(self.open)));
            if let Some(cap) = recv_buffer_cap(self.open) {
                let _ = stream.socket().set_option(SockOpt::RecvBuffer(cap));
            }
            let token = self.free.pop().unwrap_or(self.conns.len());
            if self.poller.add(stream.socket(), token).is_err() {
                if token < self.conns.len() {
                    self.free.push(token);
                }
                continue;
            }
            let conn = Conn {
                stream,
                work: self.work(),
                deadline: Instant::now() + self.idle(),
                head_by: None,
                sent: 0,
                period: None,
            };
            match self.conns.get_mut(token) {
                Some(slot) => *slot = Some(conn),
                None => self.conns.push(Some(conn)),
            }
            self.open += 1;
            self.st.conn_opened();
            again.push(token);
        }
        Ok(true)
    }

    fn work(&self) -> Work {
        match (self.service, &self.root) {
            (Service::Echo, _) => Work::Echo {
                buf: vec![0u8; BUF].into_boxed_slice(),
                pos: 0,
                len: 0,
            },
            (Service::Discard, _) => Work::Discard,
            (Service::Chargen, _) => Work::Chargen { at: 0 },
            (Service::Daytime, _) => Work::Daytime {
                line: daytime(now_secs()).into_bytes(),
                sent: 0,
                linger: None,
            },
            (Service::Http, Some(root)) => Work::Http(Box::new(HttpConn::new(root.clone()))),
            // `serve http` always has its directory.
            (Service::Http, None) => Work::Discard,
        }
    }

    fn idle(&self) -> Duration {
        match self.service {
            Service::Http => self.limits.http_idle,
            _ => self.limits.stream_idle,
        }
    }

    fn remove(&mut self, token: usize) {
        if let Some(slot) = self.conns.get_mut(token) {
            if let Some(c) = slot.take() {
                // Dropping the last handle closes it (a FIN after what is queued).
                drop(c);
                self.open -= 1;
                self.free.push(token);
                self.st.conn_closed();
            }
        }
    }

    /// Serves connection `token` for one turn.
    fn turn(&mut self, token: usize) -> Turn {
        let st = self.st;
        let (idle, send_idle) = (self.idle(), self.limits.http_send_idle);
        let Some(Some(conn)) = self.conns.get_mut(token) else {
            return Turn::Blocked;
        };
        let (turn, moved) = serve(conn, &self.chargen, st);
        if turn == Turn::Close && matches!(conn.work, Work::Http(_)) {
            return match linger(conn, Instant::now()) {
                true => Turn::More,
                false => {
                    self.remove(token);
                    Turn::Close
                }
            };
        }
        if moved && !matches!(conn.work, Work::Linger { .. }) {
            let now = Instant::now();
            let reading_request = matches!(&conn.work, Work::Http(h) if h.reading_request());
            if !reading_request {
                conn.head_by = None;
            }
            conn.deadline = match &conn.work {
                // Sending does not extend the period: taking does, at the sweep.
                Work::Http(h) if h.answering() => {
                    let start = match conn.period {
                        Some((_, start)) => start,
                        None => {
                            conn.period = Some((conn.taken().0, now));
                            now
                        }
                    };
                    start + send_idle
                }
                Work::Http(_) if reading_request => *conn.head_by.get_or_insert(now + idle),
                Work::Daytime {
                    linger: Some(t), ..
                } => *t,
                _ => now + idle,
            };
        }
        if turn == Turn::Close {
            self.remove(token);
        }
        turn
    }

    /// Deals with connections past their deadline.
    fn sweep(&mut self, now: Instant, again: &mut Vec<usize>) {
        for token in 0..self.conns.len() {
            let Some(Some(conn)) = self.conns.get_mut(token) else {
                continue;
            };
            if conn.deadline > now {
                continue;
            }
            let send_idle = self.limits.http_send_idle;
            let (taken, unacked) = conn.taken();
            let answering = matches!(&conn.work, Work::Http(h) if h.answering());
            if matches!(conn.work, Work::Http(_)) && !answering && unacked == 0 {
                conn.period = None;
            }
            let took = conn
                .period
                .is_some_and(|(from, _)| taken.saturating_sub(from) >= HTTP_MIN_TAKEN);
            match &mut conn.work {
                // A client still taking the answers (those handed to the stack, or the
                // rest of one) is not idle: it has another send idle period to take some
                // more.
                Work::Http(_) if took => {
                    conn.period = Some((taken, now));
                    conn.deadline = now + send_idle.max(self.limits.http_idle);
                }
                Work::Http(h) => {
                    // A request cut off gets its 408 (sent if the client takes it).
                    h.timed_out();
                    conn.deadline = now + self.limits.http_idle;
                    if !h.is_done() {
                        again.push(token);
                    } else if !linger(conn, now) {
                        self.remove(token);
                    }
                }
                Work::Linger {
                    unacked: last,
                    since,
                    ..
                } => {
                    if unacked == 0 || now.saturating_duration_since(*since) >= send_idle {
                        self.remove(token);
                    } else {
                        if (last.saturating_sub(unacked) as u64) >= HTTP_MIN_TAKEN {
                            (*last, *since) = (unacked, now);
                        }
                        // Looked at again at every sweep.
                        conn.deadline = now;
                    }
                }
                _ => self.remove(token),
            }
        }
    }
}

/// Start the lingering close of an HTTP connection ([`Work::Linger`]); false if its write
/// side cannot be shut (the connection is gone): close it at once.
fn linger(conn: &mut Conn, now: Instant) -> bool {
    if conn.stream.shutdown(Shutdown::Write).is_err() {
        return false;
    }
    conn.work = Work::Linger {
        dropped: 0,
        unacked: conn.stream.unacked().unwrap_or(0),
        since: now,
    };
    conn.deadline = now;
    true
}

/// The outcome of a non-blocking call: `Ok(None)` is "would block".
fn nb<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One turn of a connection: at most [`TURN`] socket calls. Returns how it ended and
/// whether anything moved (for the idle deadline).
fn serve(conn: &mut Conn, block: &[u8], st: &JobState) -> (Turn, bool) {
    let s = conn.stream.socket();
    let mut moved = false;
    let turn = (|| -> io::Result<Turn> {
        for _ in 0..TURN {
            let progress = match &mut conn.work {
                Work::Echo { buf, pos, len } => {
                    if pos < len {
                        match nb(s.send(buf.get(*pos..*len).unwrap_or(&[])))? {
                            Some(n) => {
                                st.bytes_out(n);
                                *pos += n;
                                true
                            }
                            None => return Ok(Turn::Blocked),
                        }
                    } else {
                        match nb(s.recv(buf))? {
                            Some(0) => return Ok(Turn::Close),
                            Some(n) => {
                                st.bytes_in(n);
                                (*pos, *len) = (0, n);
                                true
                            }
                            None => return Ok(Turn::Blocked),
                        }
                    }
                }
                // Dropped where they lie in the receive buffer, never copied out.
                Work::Discard => match nb(s.recv_with(usize::MAX, |b| b.len()))? {
                    Some(0) => return Ok(Turn::Close),
                    Some(n) => {
                        st.bytes_in(n);
                        true
                    }
                    None => return Ok(Turn::Blocked),
                },
                Work::Chargen { at } => {
                    // What the client sends is dropped; its end changes nothing.
                    let mut buf = [0u8; 4096];
                    let read = match nb(s.recv(&mut buf))? {
                        Some(n) if n > 0 => {
                            st.bytes_in(n);
                            true
                        }
                        _ => false,
                    };
                    match nb(s.send(block.get(*at..).unwrap_or(&[])))? {
                        Some(n) => {
                            st.bytes_out(n);
                            *at = (*at + n) % block.len().max(1);
                            true
                        }
                        None if read => true,
                        None => return Ok(Turn::Blocked),
                    }
                }
                Work::Daytime { line, sent, linger } => match linger {
                    None if *sent < line.len() => {
                        match nb(s.send(line.get(*sent..).unwrap_or(&[])))? {
                            Some(n) => {
                                st.bytes_out(n);
                                *sent += n;
                                true
                            }
                            None => return Ok(Turn::Blocked),
                        }
                    }
                    None => {
                        s.shutdown(Shutdown::Write)?;
                        *linger = Some(Instant::now() + DAYTIME_LINGER);
                        true
                    }
                    Some(_) => {
                        let mut buf = [0u8; 4096];
                        match nb(s.recv(&mut buf))? {
                            Some(0) => return Ok(Turn::Close),
                            Some(n) => {
                                st.bytes_in(n);
                                // Reading does not extend the linger.
                                false
                            }
                            None => return Ok(Turn::Blocked),
                        }
                    }
                },
                Work::Http(h) => http_step(s, h, &mut conn.sent, st)?,
                // Dropped where they lie in the receive buffer, never copied out.
                Work::Linger { dropped, .. } => match nb(s.recv_with(usize::MAX, |b| b.len()))? {
                    Some(0) => return Ok(Turn::Close),
                    Some(n) => {
                        st.bytes_in(n);
                        *dropped += n;
                        if *dropped > LINGER_DRAIN {
                            return Ok(Turn::Close);
                        }
                        true
                    }
                    None => return Ok(Turn::Blocked),
                },
            };
            if !progress {
                return Ok(Turn::Blocked);
            }
            moved = true;
        }
        Ok(Turn::More)
    })();
    // Every error ends the connection, and nothing else.
    (turn.unwrap_or(Turn::Close), moved)
}

/// One step of an HTTP connection: send what is queued, else read what came. `Ok(false)`
/// when it has to wait; `Err` to close (an error, or the conversation is over).
fn http_step(
    s: &socket_api::Socket,
    h: &mut HttpConn,
    sent: &mut u64,
    st: &JobState,
) -> io::Result<bool> {
    let done = || io::Error::new(ErrorKind::ConnectionAborted, "done");
    h.process();
    let out = h.output()?;
    if !out.is_empty() {
        return match nb(s.send(out))? {
            Some(n) => {
                st.bytes_out(n);
                *sent += n as u64;
                h.sent(n, &mut |a: &http::Access<'_>| st.response(a.status));
                h.process();
                Ok(true)
            }
            None => Ok(false),
        };
    }
    if h.is_done() {
        return Err(done());
    }
    if !h.wants_input() {
        return Ok(false);
    }
    let spare = h.spare();
    if spare.is_empty() {
        return Ok(false);
    }
    match nb(s.recv(spare))? {
        Some(0) => {
            h.end_of_input();
            h.process();
            if h.is_done() {
                return Err(done());
            }
            Ok(true)
        }
        Some(n) => {
            h.filled(n);
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::{recv_buffer_cap, run_with, send_buffer, Limits, Opts, Service, LIMITS, MAX_CONNS};
    use crate::cmd::testing::{ctx, finish, run_line, temp_dir};
    use socket_api::TcpStream;
    use std::io::ErrorKind;
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    #[test]
    fn the_first_64_connections_get_1_mib_send_buffers_and_the_rest_256_kb() {
        assert_eq!(send_buffer(0), 1 << 20);
        assert_eq!(send_buffer(63), 1 << 20);
        assert_eq!(send_buffer(64), 256 * 1024);
        // The worst case: 64 large and the rest small, under 600 MB.
        let all: usize = (0..MAX_CONNS).map(send_buffer).sum();
        assert_eq!(all, 64 * (1 << 20) + (MAX_CONNS - 64) * 256 * 1024);
        assert!(all < 600 << 20);
    }

    #[test]
    fn past_64_connections_receive_buffers_stop_growing_at_1_mib() {
        assert_eq!(recv_buffer_cap(0), None);
        assert_eq!(recv_buffer_cap(63), None);
        assert_eq!(recv_buffer_cap(64), Some(1 << 20));
        let most: usize = (0..MAX_CONNS)
            .map(|n| recv_buffer_cap(n).unwrap_or(4 << 20))
            .sum();
        assert_eq!(most, 64 * (4 << 20) + (MAX_CONNS - 64) * (1 << 20));
    }

    fn connect(ctx: &crate::cmd::Ctx, port: u16) -> TcpStream {
        let s = TcpStream::connect(&ctx.stack, ("127.0.0.1", port)).expect("connected");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Poll `jobs` until `want` shows (the counters are updated by the job's threads).
    fn jobs_show(ctx: &crate::cmd::Ctx, want: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let l = ctx.jobs.list().join("\n");
            if l.contains(want) || Instant::now() > end {
                return l;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn echo_discard_chargen_daytime() {
        let ctx = ctx();
        run_line(&ctx, "serve echo -p 7").unwrap();
        run_line(&ctx, "serve discard -p 9").unwrap();
        run_line(&ctx, "serve chargen -p 19").unwrap();
        run_line(&ctx, "serve daytime -p 13").unwrap();

        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let s = connect(&ctx, 7);
        let back = std::thread::scope(|sc| {
            let reader = sc.spawn(|| {
                let mut v = Vec::new();
                (&s).read_to_end(&mut v).map(|_| v)
            });
            (&s).write_all(&data).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            reader.join().unwrap()
        });
        assert_eq!(
            back.unwrap(),
            data,
            "echo sends back what it reads, then closes"
        );

        let s = connect(&ctx, 9);
        (&s).write_all(&data).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
        assert!(v.is_empty(), "discard sends nothing and closes at the end");

        let s = connect(&ctx, 19);
        let mut v = vec![0u8; 74 * 200];
        (&s).read_exact(&mut v).unwrap();
        assert!(v.starts_with(b" !\"#$%&'()"));
        assert_eq!(
            &v[72..75],
            b"\r\n!",
            "the next line starts one character further"
        );
        assert_eq!(v[74 * 95..74 * 96], v[..74], "the lines repeat every 95");
        s.close();

        let s = connect(&ctx, 13);
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
        assert!(v.ends_with(b"-UTC\r\n"), "{v:?}");

        let l = jobs_show(&ctx, "out: 300000");
        assert!(
            l.contains(
                "serve echo tcp 0.0.0.0:7 (connections: 1, open: 0, bytes in: 300000, out: 300000)"
            ),
            "{l}"
        );
        // Wait for the chargen line itself (the echo line says "open: 0" already).
        let chargen = "serve chargen tcp 0.0.0.0:19 (connections: 1, open: 0";
        let l = jobs_show(&ctx, chargen);
        assert!(l.contains(chargen), "{l}");
        finish(ctx);
    }

    #[test]
    fn kill_closes_the_listener_and_the_connections() {
        let ctx = ctx();
        run_line(&ctx, "serve echo -p 7007").unwrap();
        let a = connect(&ctx, 7007);
        let b = connect(&ctx, 7007);
        (&a).write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        (&a).read_exact(&mut one).unwrap();
        jobs_show(&ctx, "open: 2");
        let t = Instant::now();
        run_line(&ctx, "kill 1").unwrap();
        assert!(t.elapsed() < Duration::from_secs(5), "kill is prompt");
        for s in [&a, &b] {
            let mut buf = [0u8; 8];
            // Closed by the server: the end of the stream (or a reset).
            assert!(!matches!((&*s).read(&mut buf), Ok(n) if n > 0));
        }
        assert!(ctx.jobs.list().is_empty());
        assert!(
            TcpStream::connect(&ctx.stack, "127.0.0.1:7007").is_err(),
            "nobody listens"
        );
        finish(ctx);
    }

    #[test]
    fn http_serves_a_directory_and_get_fetches_it() {
        let ctx = ctx();
        let dir = temp_dir("www");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big.bin"), &data).unwrap();
        std::fs::write(dir.join("index.html"), b"<h1>hi</h1>\n").unwrap();
        run_line(&ctx, &format!("serve http -p 8080 {}", dir.display())).unwrap();
        let out = dir.join("got.bin");
        run_line(
            &ctx,
            &format!("get http://127.0.0.1:8080/big.bin -o {}", out.display()),
        )
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), data);
        // A missing file: a 404 page, and the line says so (no error).
        run_line(
            &ctx,
            &format!("get 127.0.0.1:8080/nope -o {}", out.display()),
        )
        .unwrap();
        assert!(std::fs::read_to_string(&out)
            .unwrap()
            .contains("404 Not Found"));
        let l = jobs_show(&ctx, "requests: 2");
        assert!(l.contains("requests: 2, errors: 1"), "{l}");
        // Port in use, missing or wrong directory: one line each.
        let e = run_line(&ctx, &format!("serve http -p 8080 {}", dir.display())).unwrap_err();
        assert_eq!(
            e,
            "serve: cannot listen on tcp 0.0.0.0:8080: address already in use"
        );
        let e = run_line(&ctx, "serve http -p 8081 /no/such/dir").unwrap_err();
        assert_eq!(e, "serve: no such directory '/no/such/dir'");
        let e = run_line(
            &ctx,
            &format!("serve http -p 8081 {}", dir.join("big.bin").display()),
        )
        .unwrap_err();
        assert!(e.ends_with("is not a directory"), "{e}");
        finish(ctx);
    }

    #[test]
    fn get_errors_are_one_line() {
        let ctx = ctx();
        let e = run_line(&ctx, "get http://127.0.0.1:81/").unwrap_err();
        assert_eq!(e, "get: cannot connect to 127.0.0.1:81: connection refused");
        let e = run_line(&ctx, "get http://web.test/").unwrap_err();
        assert_eq!(
            e,
            "get: cannot look up 'web.test': web.test: no DNS server to ask (none set, none from DHCP)"
        );
        let e = run_line(&ctx, "get http://localhost:81/").unwrap_err();
        assert_eq!(e, "get: cannot connect to 127.0.0.1:81: connection refused");
        // A server that answers garbage.
        let l = socket_api::TcpListener::bind(&ctx.stack, "127.0.0.1:8082").unwrap();
        let e = std::thread::scope(|sc| {
            sc.spawn(|| {
                if let Ok((s, _)) = l.accept() {
                    let mut buf = [0u8; 1024];
                    let _ = (&s).read(&mut buf);
                    let _ = (&s).write_all(b"SSH-2.0-OpenSSH\r\n\r\n");
                }
            });
            run_line(&ctx, "get http://127.0.0.1:8082/ -o /dev/null").unwrap_err()
        });
        assert!(e.starts_with("get: malformed status line"), "{e}");
        finish(ctx);
    }

    /// A job with small limits (the test cannot open two thousand connections quickly).
    fn serve_small(
        ctx: &crate::cmd::Ctx,
        service: Service,
        port: u16,
        dir: Option<PathBuf>,
        limits: Limits,
    ) {
        let o = Opts {
            service,
            port,
            udp: false,
            dir,
            fastopen: false,
        };
        run_with(ctx, &o, limits).unwrap();
    }

    #[test]
    fn connections_beyond_the_limit_wait_in_the_backlog() {
        let ctx = ctx();
        let limits = Limits {
            max_conns: 4,
            ..LIMITS
        };
        serve_small(&ctx, Service::Echo, 9009, None, limits);
        let held: Vec<TcpStream> = (0..4).map(|_| connect(&ctx, 9009)).collect();
        for s in &held {
            (&*s).write_all(b"x").unwrap();
            let mut one = [0u8; 1];
            (&*s).read_exact(&mut one).unwrap();
        }
        jobs_show(&ctx, "open: 4");
        // Past the limit: established by the stack, not served yet, and not reset.
        let extra = connect(&ctx, 9009);
        (&extra).write_all(b"waiting").unwrap();
        extra
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 16];
        let e = (&extra).read(&mut buf).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
            "{e}"
        );
        // One closes: the waiting one is served.
        held[0].shutdown(Shutdown::Write).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = [0u8; 7];
        (&extra).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"waiting");
        let l = jobs_show(&ctx, "connections: 5");
        assert!(l.contains("connections: 5, open: 4"), "{l}");
        finish(ctx);
    }

    #[test]
    fn idle_connections_are_closed_each_on_its_own_clock() {
        let ctx = ctx();
        let dir = temp_dir("idle");
        std::fs::write(dir.join("a.txt"), b"hello").unwrap();
        let limits = Limits {
            max_conns: 8,
            http_idle: Duration::from_millis(800),
            http_send_idle: Duration::from_millis(800),
            stream_idle: Duration::from_millis(800),
        };
        serve_small(&ctx, Service::Http, 8088, Some(dir.to_path_buf()), limits);
        // Eight idle clients fill the job, a ninth waits; all of them get a turn.
        let idle: Vec<TcpStream> = (0..8).map(|_| connect(&ctx, 8088)).collect();
        jobs_show(&ctx, "open: 8");
        let t = Instant::now();
        let s = connect(&ctx, 8088);
        (&s).write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
        let text = String::from_utf8_lossy(&v);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("hello"), "{text}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // The idle ones were closed without a word; one cut off mid-request gets 408.
        for c in &idle {
            let mut buf = [0u8; 8];
            assert!(!matches!((&*c).read(&mut buf), Ok(n) if n > 0));
        }
        let c = connect(&ctx, 8088);
        (&c).write_all(b"GET /a.txt HTTP/1.1\r\nHo").unwrap();
        let mut v = Vec::new();
        let _ = (&c).read_to_end(&mut v);
        let text = String::from_utf8_lossy(&v);
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout"), "{text}");
        finish(ctx);
    }

    #[test]
    fn a_vanished_directory_answers_404() {
        let ctx = ctx();
        let dir = temp_dir("vanish");
        std::fs::write(dir.join("a.txt"), b"hello").unwrap();
        run_line(&ctx, &format!("serve http -p 8089 {}", dir.display())).unwrap();
        let get = |path: &str| {
            let s = connect(&ctx, 8089);
            (&s).write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .unwrap();
            let mut v = Vec::new();
            (&s).read_to_end(&mut v).unwrap();
            String::from_utf8_lossy(&v).into_owned()
        };
        assert!(get("/a.txt").starts_with("HTTP/1.1 200"));
        std::fs::remove_dir_all(&dir).unwrap();
        for path in ["/a.txt", "/", "/sub/"] {
            let r = get(path);
            assert!(r.starts_with("HTTP/1.1 404 Not Found"), "{path}: {r}");
        }
        finish(ctx);
    }

    /// The HTTP idle deadline was pushed back by every byte received, so a client that
    /// sent its request head a few bytes at a time (slowloris) kept its slot for as long as
    /// it liked without ever completing a request: 2,048 of them lock every other client
    /// out, which the idle deadline ("each connection closed after HTTP_IDLE without a
    /// request") is there to prevent (found by an independent review). A request head now
    /// has to arrive whole within a deadline that reading it does not extend.
    #[test]
    fn a_trickled_request_head_is_cut_off_at_the_idle_deadline() {
        let ctx = ctx();
        let dir = temp_dir("trickle");
        std::fs::write(dir.join("a.txt"), b"hello").unwrap();
        let limits = Limits {
            max_conns: 8,
            http_idle: Duration::from_millis(600),
            http_send_idle: Duration::from_millis(600),
            stream_idle: Duration::from_millis(600),
        };
        serve_small(&ctx, Service::Http, 8091, Some(dir.to_path_buf()), limits);
        let s = connect(&ctx, 8091);
        (&s).write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
        // 4 s of a header byte every 200 ms: over six idle deadlines, never a request.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(200));
            if (&s).write_all(b"X").is_err() {
                break;
            }
        }
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut v = Vec::new();
        let r = (&s).read_to_end(&mut v);
        let still_open =
            matches!(&r, Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock));
        assert!(
            !still_open,
            "after 4 s of trickling with a 600 ms idle deadline the connection is still open: {r:?} {:?}",
            String::from_utf8_lossy(&v)
        );
        finish(ctx);
    }

    /// A keep-alive HTTP connection's idle clock ([`HTTP_IDLE`]) started once the last
    /// bytes of an answer were handed to the stack, not once the client had them: with a
    /// client that reads slowly, the connection was closed "for idleness" while up to its
    /// send buffer (1 MiB) of the answer was still queued, and nothing lingered: a request
    /// the client pipelined meanwhile reset the connection and dropped the rest of the
    /// answer (a 1.5 MB answer cut at 1 MiB with ECONNRESET; found by an independent
    /// review). Now unacknowledged bytes that go down keep the connection answering, and
    /// an HTTP connection ends with a lingering close ([`Work::Linger`]).
    #[test]
    fn a_slow_readers_answer_is_not_cut_by_the_idle_close() {
        let ctx = ctx();
        let dir = temp_dir("late");
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.join("big.bin"), &data).unwrap();
        std::fs::write(dir.join("a.txt"), b"hello").unwrap();
        let limits = Limits {
            max_conns: 8,
            http_idle: Duration::from_millis(300),
            http_send_idle: Duration::from_millis(3000),
            stream_idle: Duration::from_millis(300),
        };
        serve_small(&ctx, Service::Http, 7282, Some(dir.to_path_buf()), limits);
        let s = connect(&ctx, 7282);
        (&s).write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // The client's window fills (1 MiB) and the rest waits in the server's send
        // buffer; the client takes nothing for 1.5 s (well within the send idle limit),
        // then pipelines its next request and reads.
        std::thread::sleep(Duration::from_millis(1500));
        let _ = (&s).write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut v = Vec::new();
        let r = (&s).read_to_end(&mut v);
        let body_start = v
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| i + 4);
        let got = v.len() - body_start;
        assert!(
            got >= data.len() && v[body_start..body_start + data.len()] == data[..],
            "{r:?}: {got} bytes of the {}-byte answer",
            data.len()
        );
        finish(ctx);
    }

    /// A client that takes its answer a little at a time kept its slot for as long as it
    /// liked: every few bytes it took let the job hand the stack a few more, and each of
    /// those pushed the send idle deadline back (found by an independent review; 2,048 of
    /// them lock every other client out). Now a client has to take [`HTTP_MIN_TAKEN`] of
    /// its answers in each send idle period. Here a client with a 4 KB receive buffer
    /// takes 2 KB every 200 ms (10 KB/s: its window opens 2 KB at a time) with a 1 s
    /// period.
    #[test]
    fn a_client_taking_its_answer_a_trickle_at_a_time_loses_its_slot() {
        use socket_api::{Domain, SockOpt, Socket, Type};
        let ctx = ctx();
        let dir = temp_dir("slowread");
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big.bin"), &data).unwrap();
        let limits = Limits {
            max_conns: 8,
            http_idle: Duration::from_millis(1000),
            http_send_idle: Duration::from_millis(1000),
            stream_idle: Duration::from_millis(1000),
        };
        serve_small(&ctx, Service::Http, 7283, Some(dir.to_path_buf()), limits);
        let sock = Socket::new(&ctx.stack, Domain::Inet, Type::Stream, 0).unwrap();
        sock.set_option(SockOpt::RecvBuffer(4096)).unwrap();
        sock.connect("127.0.0.1:7283".parse().unwrap()).unwrap();
        let s = TcpStream::from_socket(sock);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (&s).write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let t = Instant::now();
        let mut buf = [0u8; 2048];
        let mut got = 0usize;
        let mut open = String::new();
        while t.elapsed() < Duration::from_secs(6) {
            std::thread::sleep(Duration::from_millis(200));
            match (&s).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            open = ctx.jobs.list().join("\n");
            if open.contains("open: 0") {
                break;
            }
        }
        assert!(
            open.contains("open: 0"),
            "after {:?} and {got} bytes taken at 10 KB/s (a 1 s period), the job still \
             holds the connection: {open}",
            t.elapsed()
        );
        assert!(got > 0, "the client took some of its answer first");
        finish(ctx);
    }

    /// The same missing lingering close: a connection that closes after its answer
    /// (HTTP/1.0 without keep-alive, `Connection: close`, a 400) was dropped with the
    /// client's further input unread in the socket (here pipelined requests beyond the
    /// 74 KB input buffer), and closing with unread data reset the connection: the end of
    /// the answer still in the send buffer was lost (found by an independent review). Now
    /// the write side is shut and input read and dropped until the answer is
    /// acknowledged ([`Work::Linger`]).
    #[test]
    fn an_answer_is_not_reset_away_by_unread_pipelined_input() {
        let ctx = ctx();
        let dir = temp_dir("trunc");
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.join("big.bin"), &data).unwrap();
        run_line(&ctx, &format!("serve http -p 7280 {}", dir.display())).unwrap();
        let s = connect(&ctx, 7280);
        let one = b"GET /big.bin HTTP/1.0\r\n\r\n";
        let req: Vec<u8> = one.iter().copied().cycle().take(one.len() * 5000).collect();
        (&s).write_all(&req).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        let mut v = Vec::new();
        let r = (&s).read_to_end(&mut v);
        let body_start = v
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |i| i + 4);
        let got = v.len() - body_start;
        assert!(
            got == data.len() && v[body_start..] == data[..],
            "{r:?}: {got} bytes of the {}-byte answer",
            data.len()
        );
        finish(ctx);
    }

    /// Writes `start` to a new connection to `port`, then a byte every 200 ms for 4 s;
    /// whether the connection is still open after that (a read times out) and what came
    /// back.
    fn trickled(ctx: &crate::cmd::Ctx, port: u16, start: &[u8]) -> (bool, String) {
        let s = connect(ctx, port);
        (&s).write_all(start).unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(200));
            if (&s).write_all(b"X").is_err() {
                break;
            }
        }
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut v = Vec::new();
        let r = (&s).read_to_end(&mut v);
        let still_open =
            matches!(&r, Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock));
        (still_open, String::from_utf8_lossy(&v).into_owned())
    }

    /// The request head has to arrive whole within the idle limit of its first byte, but
    /// a body (up to 1 MiB is read and dropped) pushed the deadline back with each byte,
    /// and so did the rest of a rejected head read after its 400 (up to 256 KB): a client
    /// trickling either kept its slot for as long as it liked (a slow-body attack, the
    /// slowloris the head's deadline is there to stop; found by an independent review).
    /// Now the whole request, body included, has the head's deadline.
    #[test]
    fn a_trickled_request_body_is_cut_off_at_the_idle_deadline() {
        let ctx = ctx();
        let dir = temp_dir("slowbody");
        std::fs::write(dir.join("a.txt"), b"hello").unwrap();
        let limits = Limits {
            max_conns: 8,
            http_idle: Duration::from_millis(600),
            http_send_idle: Duration::from_millis(600),
            stream_idle: Duration::from_millis(600),
        };
        serve_small(&ctx, Service::Http, 8092, Some(dir.to_path_buf()), limits);
        let (open, got) = trickled(
            &ctx,
            8092,
            b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
        );
        assert!(
            !open,
            "a body trickled for 4 s with a 600 ms idle limit: still open ({got:?})"
        );
        assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
        let (open, got) = trickled(&ctx, 8092, b"BAD\r\n");
        assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
        assert!(
            !open,
            "the rest of a rejected head trickled for 4 s with a 600 ms idle limit: still open"
        );
        finish(ctx);
    }

    #[test]
    fn many_connections_at_once() {
        let ctx = ctx();
        run_line(&ctx, "serve echo -p 7017").unwrap();
        const N: usize = 300;
        let conns: Vec<TcpStream> = (0..N).map(|_| connect(&ctx, 7017)).collect();
        jobs_show(&ctx, &format!("open: {N}"));
        for (i, c) in conns.iter().enumerate() {
            (&*c).write_all(format!("{i:05}").as_bytes()).unwrap();
        }
        for (i, c) in conns.iter().enumerate() {
            let mut got = [0u8; 5];
            (&*c).read_exact(&mut got).unwrap();
            assert_eq!(got, format!("{i:05}").as_bytes());
        }
        drop(conns);
        jobs_show(&ctx, "open: 0");
        finish(ctx);
    }
}
