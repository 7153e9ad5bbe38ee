//! `get URL [-o FILE] [-m SECONDS]`: an HTTP/1.1 GET over the stack's TCP (see `crate::http`). The body
//! goes to the terminal as raw bytes, or to FILE; then one line says how it went:
//! `200 OK: 20971520 bytes in 1.234 s (135.9 Mbit/s)` (on stderr when the body went to
//! stdout). A host name is looked up with the stack's resolver (`--dns`, or the DNS servers
//! of a DHCP lease). Ctrl-C interrupts; `-m SECONDS` bounds the whole command.

use super::syntax::Get;
use super::tcp::{self as net, Watchdog};
use super::Ctx;
use crate::http::{self, Url};
use std::io::{self, ErrorKind, IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// A response that stalls this long is given up.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    url: Url,
    /// `None`: the URL names a host to look up.
    addr: Option<SocketAddrV4>,
    /// `-o`: the body goes here instead of stdout.
    out: Option<String>,
    /// `-m`: the limit on the whole command, as curl's `--max-time`.
    max_time: Option<Duration>,
    /// `-F`: TCP Fast Open.
    fastopen: bool,
}

fn parse(a: Get) -> Result<Opts, String> {
    let mut url = http::parse_url(&a.url).map_err(|e| format!("get: {e}"))?;
    let ip: Option<Ipv4Addr> = match ip::parse_addr(&url.host) {
        // inet_aton's short forms too (127.1), written out as a dotted quad in the URL
        // and its Host header, as curl normalises them.
        Ok(ip) => {
            url.host = ip.to_string();
            Some(ip)
        }
        // Digits and dots only: meant as an address, but not a valid one.
        Err(_) if url.host.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            return Err(format!(
                "get: invalid address '{}' (expected a dotted quad like 10.0.0.2)",
                url.host
            ))
        }
        Err(_) => None,
    };
    if a.max_time.is_some_and(|m| m < Duration::from_millis(1)) {
        return Err("get: -m: at least 0.001 seconds".into());
    }
    Ok(Opts {
        addr: ip.map(|ip| SocketAddrV4::new(ip, url.port)),
        url,
        out: a.out,
        max_time: a.max_time,
        fastopen: a.fastopen,
    })
}

pub fn run(ctx: &Ctx, a: Get) -> Result<(), String> {
    let o = parse(a)?;
    // Checked before connecting, so that a bad path costs the server nothing; the file is
    // left as it was until the body's first byte comes (or a response without a body
    // succeeds), as curl's: a response that fails before its body empties nothing.
    let file = match &o.out {
        Some(p) => Some(
            super::OutFile::open(p, &|| ctx.sig.stop_requested())
                .map_err(|e| format!("get: {e}"))?,
        ),
        None => None,
    };
    let start = Instant::now();
    let deadline = o.max_time.and_then(|m| start.checked_add(m));
    let past = || deadline.is_some_and(|d| Instant::now() >= d);
    // `get: timed out after 2 s (-m) ...`.
    let late = |what: String| {
        let secs = o.max_time.unwrap_or_default().as_secs_f64();
        format!("get: timed out after {secs} s (-m) {what}")
    };
    let a = match o.addr {
        Some(a) => a,
        None => match net::lookup_until(ctx, &o.url.host, deadline) {
            Ok(ip) => SocketAddrV4::new(ip, o.url.port),
            Err(_) if past() => return Err(late(format!("looking up '{}'", o.url.host))),
            Err(e) => return Err(format!("get: {e}")),
        },
    };
    let wait = match deadline {
        Some(d) => d
            .saturating_duration_since(Instant::now())
            .min(net::CONNECT_TIMEOUT),
        None => net::CONNECT_TIMEOUT,
    };
    // With -F the request is queued as the connection opens (in the SYN, given a cookie).
    let request = if o.fastopen {
        Some(http::request(&o.url, false).map_err(|e| format!("get: {e}"))?)
    } else {
        None
    };
    let connected = match &request {
        Some(req) => net::connect_fastopen(ctx, a, wait, req.as_bytes())
            .map(|(s, n)| (s, &req.as_bytes()[n..])),
        None => net::connect(ctx, a, wait).map(|s| (s, &[][..])),
    };
    let (s, unsent) = match connected {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            return Err(format!("get: interrupted while connecting to {a}"))
        }
        Err(e) if e.kind() == ErrorKind::TimedOut && past() => {
            return Err(late(format!("connecting to {a}")))
        }
        Err(e) if e.kind() == ErrorKind::TimedOut => {
            return Err(format!("get: cannot connect to {a}: connection timed out"))
        }
        Err(e) => return Err(format!("get: cannot connect to {a}: {e}")),
    };
    let dog = Watchdog::start(&ctx.sig).map_err(|e| format!("get: {e}"))?;
    if let Some(d) = deadline {
        dog.close_at(d);
    }
    dog.stream(&s);
    s.set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| format!("get: {e}"))?;
    let (mut out, to_stdout) = match file {
        Some(f) => (Body::to_file(f), false),
        None => (Body::new(Box::new(io::stdout())), true),
    };
    let mut conn = &s;
    let r = if request.is_some() {
        conn.write_all(unsent)
            .and_then(|()| http::response(&mut conn, false, &mut out))
    } else {
        http::get(&mut conn, &o.url, false, &mut out)
    };
    // A success with no body still makes FILE (empty), as curl's does.
    let flushed = match &r {
        Ok(_) => out.commit().and_then(|()| out.flush()),
        Err(_) => out.flush(),
    };
    let elapsed = start.elapsed();
    if to_stdout && out.bytes > 0 && out.last != Some(b'\n') && io::stdout().is_terminal() {
        // The summary starts on a line of its own.
        errln!();
    }
    let where_to = match &o.out {
        Some(p) => format!("'{p}'"),
        None => "stdout".into(),
    };
    if let Some(e) = out.error.take() {
        return Err(format!("get: cannot write to {where_to}: {e}"));
    }
    let resp = match r {
        Ok(resp) => resp,
        Err(_) if dog.timed_out() => {
            return Err(late(format!("({} bytes of body)", out.bytes)));
        }
        Err(e) => {
            let what = net::describe(&e, dog.fired());
            return Err(match e.kind() {
                // The read timeout (EAGAIN, as on Linux).
                ErrorKind::WouldBlock if !dog.fired() => format!(
                    "get: nothing arrived for {} s (after {} bytes of body)",
                    READ_TIMEOUT.as_secs(),
                    out.bytes
                ),
                ErrorKind::InvalidData | ErrorKind::UnexpectedEof if !dog.fired() => {
                    format!("get: {what}")
                }
                _ => format!("get: {what} (after {} bytes of body)", out.bytes),
            });
        }
    };
    flushed.map_err(|e| format!("get: cannot write to {where_to}: {e}"))?;
    let line = summary(resp.status, &resp.reason, resp.body_bytes, elapsed);
    if to_stdout {
        errln!("{line}");
    } else {
        outln!("{line}");
    }
    Ok(())
}

/// `200 OK: 20971520 bytes in 1.234 s (135.9 Mbit/s)`.
fn summary(status: u16, reason: &str, bytes: u64, elapsed: Duration) -> String {
    // The reason comes from the server: keep it printable.
    let reason: String = reason
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let status = if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    };
    format!("{status}: {}", net::figures(bytes, elapsed))
}

/// Where the body goes: counts its bytes, remembers the last one, and keeps its own write
/// errors apart from the connection's.
struct Body {
    inner: Box<dyn Write>,
    /// `-o FILE`, not emptied yet: it is at the first byte of the body (`commit`).
    pending: Option<super::OutFile>,
    bytes: u64,
    last: Option<u8>,
    error: Option<io::Error>,
}

impl Body {
    fn new(inner: Box<dyn Write>) -> Body {
        Body {
            inner,
            pending: None,
            bytes: 0,
            last: None,
            error: None,
        }
    }

    /// The body goes to `f`, emptied only when the body's first byte comes (or at
    /// `commit`); dropped before, the file is left as it was.
    fn to_file(f: super::OutFile) -> Body {
        Body {
            pending: Some(f),
            ..Body::new(Box::new(io::sink()))
        }
    }

    /// Empty the `-o` file and write to it from now on (nothing to do for stdout, or
    /// when done already).
    fn commit(&mut self) -> io::Result<()> {
        if let Some(f) = self.pending.take() {
            self.inner = Box::new(f.commit().map_err(io::Error::other)?);
        }
        Ok(())
    }
}

impl Write for Body {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.commit().and_then(|()| self.inner.write(buf));
        match written {
            Ok(n) => {
                self.bytes += n as u64;
                if let Some(&b) = buf.get(..n).and_then(|b| b.last()) {
                    self.last = Some(b);
                }
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(io::Error::new(kind, "cannot write the body"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Opts, String> {
        use crate::cmd::syntax::{parse_line, Command};
        match parse_line(&format!("get {line}"))? {
            Command::Get(a) => parse(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options() {
        let o = parse_line("http://10.0.0.2:8000/file").unwrap();
        assert_eq!(o.addr, Some("10.0.0.2:8000".parse().unwrap()));
        assert_eq!(o.url.path, "/file");
        assert_eq!(o.out, None);
        let o = parse_line("-o /tmp/x 10.0.0.2").unwrap();
        assert_eq!(o.addr, Some("10.0.0.2:80".parse().unwrap()));
        assert_eq!(o.url.path, "/");
        assert_eq!(o.out.as_deref(), Some("/tmp/x"));
        let o = parse_line("http://10.0.0.2/a%20b -o out").unwrap();
        assert_eq!(o.out.as_deref(), Some("out"));
        assert_eq!(o.url.path, "/a%20b");
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_line(""),
            Err("get: missing URL (usage: get [-o FILE] [-m SECONDS] [-F] URL)".into())
        );
        assert_eq!(
            parse_line("http://999.0.0.1/"),
            Err("get: invalid address '999.0.0.1' (expected a dotted quad like 10.0.0.2)".into())
        );
        let o = parse_line("http://127.1:8080/x").unwrap();
        assert_eq!(
            (o.addr, o.url.host.as_str()),
            (Some("127.0.0.1:8080".parse().unwrap()), "127.0.0.1")
        );
        assert!(
            parse_line("http://010.0.0.1/").is_err(),
            "octal is not guessed"
        );
        // A name is looked up when the command runs.
        let o = parse_line("http://example.com:8080/x").unwrap();
        assert_eq!((o.addr, o.url.host.as_str()), (None, "example.com"));
        assert!(parse_line("https://10.0.0.2/")
            .unwrap_err()
            .contains("https is not supported"));
        assert!(parse_line("http://10.0.0.2/ -o")
            .unwrap_err()
            .starts_with("get: option -o needs a value"));
        assert!(parse_line("http://10.0.0.2/ -x")
            .unwrap_err()
            .contains("unknown option '-x'"));
        assert!(parse_line("http://10.0.0.2/ http://10.0.0.3/")
            .unwrap_err()
            .contains("unexpected argument"));
        for bad in [
            "http://10.0.0.2:0/",
            "http://10.0.0.2:70000/",
            "http://10.0.0.2:x/",
            "http://[::1]/",
            "ftp://10.0.0.2/",
            "http://user@10.0.0.2/",
            "http://",
            "http://300.1.1.1/",
        ] {
            let e = parse_line(bad).unwrap_err();
            assert!(e.starts_with("get: ") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    /// `-o` is checked before connecting: a bad path costs the server no connection; a
    /// failed connection leaves an existing file as it was and creates none.
    #[test]
    fn the_output_file_is_checked_before_connecting_and_kept_if_it_fails() {
        use crate::cmd::testing::{ctx, finish, run_line, temp_dir};
        let ctx = ctx();
        let dir = temp_dir("get-o");
        let l = socket_api::TcpListener::bind(&ctx.stack, "127.0.0.1:8081").unwrap();
        l.set_accept_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let bad = dir.join("no/such/dir");
        let r = run_line(
            &ctx,
            &format!("get -o {} http://127.0.0.1:8081/", bad.display()),
        );
        let e = r.unwrap_err();
        assert!(e.starts_with("get: cannot write '"), "{e}");
        assert_eq!(
            l.accept().map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock),
            "get connected"
        );
        // Nobody listens on 8082: the connection is refused.
        let old = dir.join("old");
        std::fs::write(&old, b"keep me").unwrap();
        let new = dir.join("new");
        for f in [&old, &new] {
            let r = run_line(
                &ctx,
                &format!("get -o {} http://127.0.0.1:8082/", f.display()),
            );
            assert!(r.unwrap_err().contains("refused"));
        }
        assert_eq!(std::fs::read(&old).unwrap(), b"keep me");
        assert!(!new.exists());
        finish(ctx);
    }

    /// curl writes `-o FILE` when the body's first byte comes: a response that fails
    /// before its body (the server closes without answering, or answers garbage) leaves
    /// an existing file as it was, and creates none. `get` emptied the file as soon as the
    /// connection was made. A response without a body still makes the file (empty).
    #[test]
    fn a_response_that_fails_before_its_body_keeps_the_output_file() {
        use crate::cmd::testing::{ctx, finish, run_line, temp_dir};
        use std::io::{Read, Write};
        let ctx = ctx();
        let dir = temp_dir("get-o-keep");
        let l = socket_api::TcpListener::bind(&ctx.stack, "127.0.0.1:8084").unwrap();
        // A failed assertion must not leave the server waiting for ever.
        l.set_accept_timeout(Some(Duration::from_secs(5))).unwrap();
        // Each answer in turn, to one connection each.
        let answers: [&[u8]; 4] = [
            b"",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnew\n",
        ];
        let old = dir.join("old");
        let new = dir.join("new");
        std::fs::write(&old, b"keep me").unwrap();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                for a in answers {
                    let Ok((mut c, _)) = l.accept() else { return };
                    let mut req = [0u8; 1024];
                    let _ = c.read(&mut req).unwrap();
                    c.write_all(a).unwrap();
                }
            });
            let get = |f: &std::path::Path| {
                run_line(
                    &ctx,
                    &format!("get -o {} http://127.0.0.1:8084/", f.display()),
                )
            };
            let e = get(&old).unwrap_err();
            assert!(e.contains("before a response"), "{e}");
            assert_eq!(std::fs::read(&old).unwrap(), b"keep me", "emptied");
            let e = get(&new).unwrap_err();
            assert!(e.contains("malformed status line"), "{e}");
            assert!(!new.exists(), "made");
            assert!(get(&new).is_ok());
            assert_eq!(std::fs::read(&new).unwrap(), b"");
            assert!(get(&old).is_ok());
            assert_eq!(std::fs::read(&old).unwrap(), b"new\n");
        });
        finish(ctx);
    }

    /// `-m` bounds the whole command, as curl's `--max-time`: a server that sends part of
    /// its body and stalls (the 30 s read timeout would wait it out) is given up at the
    /// limit, with the bytes that came said.
    #[test]
    fn the_time_limit_ends_a_stalled_transfer() {
        use crate::cmd::testing::{ctx, finish, run_line};
        use std::io::{Read, Write};
        assert!(parse_line("http://10.0.0.2/ -m x")
            .unwrap_err()
            .contains("invalid number of seconds 'x'"));
        assert_eq!(
            parse_line("-m 2.5 http://10.0.0.2/").unwrap().max_time,
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            parse_line("-m 0 http://10.0.0.2/"),
            Err("get: -m: at least 0.001 seconds".into())
        );
        let ctx = ctx();
        let l = socket_api::TcpListener::bind(&ctx.stack, "127.0.0.1:8083").unwrap();
        let (r, took) = std::thread::scope(|sc| {
            let server = sc.spawn(|| {
                let (mut c, _) = l.accept().unwrap();
                let mut req = [0u8; 1024];
                let _ = c.read(&mut req).unwrap();
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                    .unwrap();
                // Stall, holding the connection open until `get` closes it.
                let _ = c.read(&mut req);
            });
            let t = Instant::now();
            let r = run_line(&ctx, "get -m 0.5 -o /dev/null http://127.0.0.1:8083/");
            let took = t.elapsed();
            server.join().unwrap();
            (r, took)
        });
        assert_eq!(
            r,
            Err("get: timed out after 0.5 s (-m) (10 bytes of body)".into())
        );
        assert!(took < Duration::from_secs(10), "{took:?}");
        finish(ctx);
    }

    #[test]
    fn summary_lines() {
        let d = Duration::from_millis(1234);
        assert_eq!(
            summary(200, "OK", 20_971_520, d),
            "200 OK: 20971520 bytes in 1.234 s (136.0 Mbit/s)"
        );
        assert_eq!(
            summary(204, "", 0, d),
            "204: 0 bytes in 1.234 s (0.0 bit/s)"
        );
        assert!(summary(200, "O\x1bK", 1, d).starts_with("200 O?K: "));
    }

    #[test]
    fn the_body_counts_and_keeps_its_errors() {
        let mut b = Body::new(Box::new(Vec::new()));
        b.write_all(b"hello\nwor").unwrap();
        assert_eq!((b.bytes, b.last), (9, Some(b'r')));
        assert!(b.error.is_none());
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut b = Body::new(Box::new(Full));
        assert!(b.write_all(b"x").is_err());
        assert_eq!(b.error.map(|e| e.to_string()), Some("disk full".into()));
    }
}
