//! The services over TCP: a job that accepts connections and serves each on a thread of
//! its own, at most [`MAX_CONNS`] at once (a connection beyond that is accepted, closed at
//! once and counted as refused). `kill` closes the listener, which wakes `accept`, and
//! every open connection, which wakes the call its thread is blocked in; the job ends
//! once all its threads have.
//!
//! * echo (RFC 862): sends back what it reads until the client closes, then closes.
//! * discard (RFC 863): reads and drops until the client closes.
//! * chargen (RFC 864): sends the rotating 72-character lines until the client closes or
//!   resets the connection (what it sends is read and dropped).
//! * daytime (RFC 867): sends the date line and closes.
//! * http: the files under a directory (see `crate::http`), each connection closed after
//!   [`HTTP_IDLE`] without a request, or without room to send (a client that stopped
//!   reading).

use super::{chargen, daytime, now_secs, Opts, Service};
use crate::cmd::jobs::{Closer, JobKind, JobState};
use crate::cmd::Ctx;
use crate::http;
use parking_lot::Mutex;
use socket_api::{TcpListener, TcpStream};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Connections served at once by one job.
pub const MAX_CONNS: usize = 64;
/// An HTTP connection without a request, or whose client reads nothing, for this long is
/// closed.
const HTTP_IDLE: Duration = Duration::from_secs(30);
/// How long daytime waits for the client's close after its line (what the client sends is
/// read and dropped, so that closing does not reset the connection under the line).
const DAYTIME_LINGER: Duration = Duration::from_secs(5);
/// Reads of echo and discard.
const BUF: usize = 16 * 1024;
/// chargen's lines repeat every 95 lines (one per printable character).
const CHARGEN_PERIOD: usize = 95 * 74;

pub fn run(ctx: &Ctx, o: &Opts) -> Result<(), String> {
    let root = match &o.dir {
        Some(d) => Some(directory(d)?),
        None => None,
    };
    let listener = TcpListener::bind(&ctx.stack, (Ipv4Addr::UNSPECIFIED, o.port))
        .map_err(|e| format!("serve: cannot listen on tcp 0.0.0.0:{}: {e}", o.port))?;
    let err = |e: io::Error| format!("serve: {e}");
    let local = listener.local_addr().map_err(err)?;
    let conns = Arc::new(Conns::default());
    let close: Closer = {
        let l = listener.try_clone().map_err(err)?;
        let c = conns.clone();
        Box::new(move || {
            l.close();
            c.close_all();
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
            accept_loop(service, &listener, &conns, root.as_deref(), st)
        })
        .map_err(|e| format!("serve: {e}"))?;
    println!("[{n}] {what}");
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

/// The job: accept until stopped, a scoped thread per connection (the scope's end waits
/// for them all).
fn accept_loop(
    service: Service,
    listener: &TcpListener,
    conns: &Conns,
    root: Option<&Path>,
    st: &JobState,
) {
    std::thread::scope(|sc| {
        while !st.stopping() {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                // A connection that failed before it was taken: wait for the next.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                            | ErrorKind::TimedOut
                            | ErrorKind::WouldBlock
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    if !st.stopping() {
                        st.fail(format!("accept: {e}"));
                    }
                    return;
                }
            };
            let id = match conns.add(&stream) {
                Admit::Yes(id) => id,
                Admit::Busy => {
                    st.conn_refused();
                    stream.close();
                    continue;
                }
                Admit::Closed => {
                    stream.close();
                    return;
                }
            };
            st.conn_opened();
            let spawned = std::thread::Builder::new()
                .name(format!("serve-{}", service.name()))
                .spawn_scoped(sc, move || {
                    handle(service, &stream, root, st);
                    conns.remove(id);
                    st.conn_closed();
                });
            if spawned.is_err() {
                // The closure, and the stream in it, are gone: the connection is closed.
                conns.remove(id);
                st.conn_closed();
                st.conn_refused();
            }
        }
    });
}

/// Serve one connection; its errors end it and nothing else.
fn handle(service: Service, s: &TcpStream, root: Option<&Path>, st: &JobState) {
    let mut c = Counted { s, st };
    let _ = match service {
        Service::Echo => echo(&mut c),
        Service::Discard => discard(&mut c),
        Service::Chargen => chargen_stream(&mut c),
        Service::Daytime => daytime_line(&mut c),
        Service::Http => match root {
            Some(root) => s
                .set_read_timeout(Some(HTTP_IDLE))
                .and_then(|_| s.set_write_timeout(Some(HTTP_IDLE)))
                .and_then(|_| {
                    let stats = http::ServerStats::default();
                    http::serve_connection_with(&mut c, root, &stats, &mut |a| {
                        st.response(a.status)
                    })
                    .map(|_| ())
                }),
            None => Ok(()),
        },
    };
}

/// `read` that retries when interrupted.
fn read(c: &mut Counted<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match c.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

fn echo(c: &mut Counted<'_>) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = read(c, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        c.write_all(&buf[..n])?;
    }
}

fn discard(c: &mut Counted<'_>) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    while read(c, &mut buf)? > 0 {}
    Ok(())
}

fn chargen_stream(c: &mut Counted<'_>) -> io::Result<()> {
    let (s, st) = (c.s, c.st);
    let block = chargen(0, CHARGEN_PERIOD);
    std::thread::scope(|sc| {
        // Read and drop what the client sends, so that its data never piles up unread.
        let _ = std::thread::Builder::new()
            .name("serve-chargen-rx".into())
            .spawn_scoped(sc, || {
                let mut r = Counted { s, st };
                let mut buf = vec![0u8; BUF];
                while matches!(read(&mut r, &mut buf), Ok(n) if n > 0) {}
            });
        let e = loop {
            if let Err(e) = c.write_all(&block) {
                break e;
            }
        };
        // The connection is over (the client closed or reset it): end the reader too.
        s.close();
        Err(e)
    })
}

fn daytime_line(c: &mut Counted<'_>) -> io::Result<()> {
    c.write_all(daytime(now_secs()).as_bytes())?;
    c.s.shutdown(Shutdown::Write)?;
    c.s.set_read_timeout(Some(DAYTIME_LINGER))?;
    discard(c)
}

/// A connection that counts its bytes in the job's state.
struct Counted<'a> {
    s: &'a TcpStream,
    st: &'a JobState,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.s;
        let n = s.read(buf)?;
        self.st.bytes_in(n);
        Ok(n)
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.s;
        let n = s.write(buf)?;
        self.st.bytes_out(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// May one more connection be served?
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    Yes(u64),
    /// [`MAX_CONNS`] are open.
    Busy,
    /// The job is stopping.
    Closed,
}

/// The open connections of a job, for `kill` to close.
#[derive(Default)]
struct Conns {
    table: Mutex<ConnTable>,
}

#[derive(Default)]
struct ConnTable {
    closed: bool,
    next: u64,
    open: HashMap<u64, TcpStream>,
}

impl Conns {
    fn add(&self, s: &TcpStream) -> Admit {
        self.admit(|| s.try_clone().ok())
    }

    fn admit(&self, clone: impl FnOnce() -> Option<TcpStream>) -> Admit {
        let mut t = self.table.lock();
        if t.closed {
            return Admit::Closed;
        }
        if t.open.len() >= MAX_CONNS {
            return Admit::Busy;
        }
        let Some(c) = clone() else {
            return Admit::Busy;
        };
        let id = t.next;
        t.next += 1;
        t.open.insert(id, c);
        Admit::Yes(id)
    }

    fn remove(&self, id: u64) {
        let gone = self.table.lock().open.remove(&id);
        drop(gone);
    }

    /// Close every connection, and refuse new ones.
    fn close_all(&self) {
        let mut t = self.table.lock();
        t.closed = true;
        for c in t.open.values() {
            c.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::{ctx, finish, run_line, temp_dir};
    use socket_api::TcpStream;
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::time::{Duration, Instant};

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
    fn connections_beyond_the_limit_are_closed_and_counted() {
        let ctx = ctx();
        run_line(&ctx, "serve discard -p 9009").unwrap();
        let held: Vec<TcpStream> = (0..super::MAX_CONNS).map(|_| connect(&ctx, 9009)).collect();
        jobs_show(&ctx, &format!("open: {}", super::MAX_CONNS));
        let extra = connect(&ctx, 9009);
        let mut buf = [0u8; 8];
        assert!(!matches!((&extra).read(&mut buf), Ok(n) if n > 0));
        let l = jobs_show(&ctx, "refused (busy): 1");
        assert!(
            l.contains(&format!(
                "connections: {}, open: {}",
                super::MAX_CONNS,
                super::MAX_CONNS
            )),
            "{l}"
        );
        assert!(l.contains("refused (busy): 1"), "{l}");
        drop(held);
        let l = jobs_show(&ctx, "open: 0");
        assert!(l.contains("open: 0"), "{l}");
        // Room again.
        let s = connect(&ctx, 9009);
        (&s).write_all(b"hello").unwrap();
        jobs_show(&ctx, "bytes in: 5");
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
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn get_errors_are_one_line() {
        let ctx = ctx();
        let e = run_line(&ctx, "get http://127.0.0.1:81/").unwrap_err();
        assert_eq!(e, "get: cannot connect to 127.0.0.1:81: connection refused");
        let e = run_line(&ctx, "get http://localhost/").unwrap_err();
        assert!(e.contains("host names are not supported"), "{e}");
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
}
