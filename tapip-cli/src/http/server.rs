//! The static file server: GET and HEAD for the files under one root directory.
//!
//! Request handling, in order:
//!
//! 1. The request line: longer than [`MAX_LINE`] is 414; not `METHOD SP TARGET SP VERSION`
//!    is 400; a version other than HTTP/1.0 or HTTP/1.1 is 505.
//! 2. The header block: over the limits of [`MAX_HEADER_LINE`](super::MAX_HEADER_LINE),
//!    [`MAX_HEADER_BYTES`](super::MAX_HEADER_BYTES) or [`MAX_HEADERS`](super::MAX_HEADERS)
//!    is 431; a malformed line is 400. An HTTP/1.1 request needs exactly
//!    one `Host` (RFC 9112 3.2), or it gets 400.
//! 3. The body, if any (`Content-Length` or chunked), is read and thrown away, up to
//!    [`MAX_DISCARDED_BODY`] bytes (more is 413). `Expect: 100-continue` gets its 100.
//! 4. A method other than GET or HEAD is 405 with `Allow: GET, HEAD`.
//! 5. The target (origin form `/path?query`, or absolute form `http://host/path`) is
//!    percent-decoded; the query is ignored. A `..` segment (also encoded, `%2e%2e`) is
//!    403, and so is anything whose canonical path (symbolic links resolved) is outside
//!    the canonical root. Missing is 404.
//! 6. A directory without the trailing slash is a 301 to the slash form; with it, its
//!    `index.html` if there is one, else an HTML listing. A file is streamed in
//!    [`FILE_CHUNK`]-byte pieces with its `Content-Length` and a `Content-Type` guessed
//!    from its extension. Anything else (a FIFO, a device) is 403.
//!
//! Every response has `Content-Length`, `Server: tapip`, `Date` and `Connection`. The
//! connection stays open for the next request (HTTP/1.1 by default, HTTP/1.0 only with
//! `Connection: keep-alive`) unless the request said `Connection: close` or the response
//! is to a request that could not be parsed (400, 408, 413, 414, 431, 505), which closes.

use super::{
    content_length, copy_chunked, has_token, header_list, header_values, read_headers, read_retry,
    BufConn, HeadError, Line, MAX_LINE,
};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest request body that is read and thrown away; a larger one gets 413.
pub const MAX_DISCARDED_BODY: u64 = 1024 * 1024;
/// Files are sent in pieces of this size.
const FILE_CHUNK: usize = 64 * 1024;
/// After answering a request that could not be parsed, at most this much more of it is
/// read (so that closing does not reset the connection under the answer).
const MAX_DRAIN: usize = 256 * 1024;
/// Empty lines tolerated before a request line (RFC 9112 2.2).
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// Counters shared by every connection of one server (update them from many threads).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections handed to [`serve_connection_with`].
    pub connections: AtomicU64,
    /// Final responses sent (interim `100 Continue` responses are not counted).
    pub requests: AtomicU64,
    /// Bytes written to the connections: status lines, headers and bodies.
    pub bytes_sent: AtomicU64,
    /// Responses with a status of 400 or more.
    pub errors: AtomicU64,
}

/// The values of a [`ServerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub connections: u64,
    pub requests: u64,
    pub bytes_sent: u64,
    pub errors: u64,
}

impl ServerStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// What one connection amounted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnSummary {
    /// Final responses sent.
    pub requests: u64,
    /// Bytes written: status lines, headers and bodies.
    pub bytes_sent: u64,
}

/// One answered request, as reported to the callback of [`serve_connection_with`] (after
/// the response has been sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access<'a> {
    /// The method, or `-` when the request line could not be parsed.
    pub method: &'a str,
    /// The request target as received, or `-`.
    pub target: &'a str,
    pub status: u16,
    /// Body bytes sent (0 for HEAD).
    pub body_bytes: u64,
}

/// Serves requests for the files under `root` on one connection, until the client closes
/// it, a request says `Connection: close` (or is HTTP/1.0 without keep-alive), a request
/// cannot be parsed, or a read between requests fails (set a read timeout on the stream
/// to bound idle connections). All of these are `Ok`; an `Err` is an I/O error in the
/// middle of a request or response, or a `root` that cannot be canonicalized.
pub fn serve_connection<S: Read + Write>(stream: &mut S, root: &Path) -> io::Result<ConnSummary> {
    serve_connection_with(stream, root, &ServerStats::default(), &mut |_| {})
}

/// [`serve_connection`], also counting in `stats` (as it goes, so that the counters of a
/// connection that fails are right too) and calling `log` after each response.
pub fn serve_connection_with<S: Read + Write>(
    stream: &mut S,
    root: &Path,
    stats: &ServerStats,
    log: &mut dyn FnMut(&Access<'_>),
) -> io::Result<ConnSummary> {
    let root = fs::canonicalize(root)?;
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let mut session = Session {
        conn: BufConn::new(stream),
        root,
        stats,
        summary: ConnSummary::default(),
    };
    session.run(log)?;
    Ok(session.summary)
}

/// A parsed request head.
struct Request {
    method: String,
    target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    minor: u8,
    headers: Vec<(String, String)>,
}

/// Why no request could be read.
enum ReadFail {
    /// The connection is over without a word: the client closed it (between requests or in
    /// the middle of one) or a read between requests failed.
    Closed,
    /// Answer with this status and close. `drain`: read on to the end of the header
    /// block first (the request was cut off in the middle).
    Reject {
        status: u16,
        method: String,
        target: String,
        drain: bool,
    },
    Io(io::Error),
}

/// How a request body is framed.
enum BodyLen {
    Fixed(u64),
    Chunked,
}

/// A response body.
enum Body {
    Bytes(Vec<u8>),
    /// An open file and how many bytes of it to send.
    File(File, u64),
}

/// A response before it is sent.
struct Reply {
    status: u16,
    content_type: &'static str,
    /// Headers besides the ones every response has.
    extra: Vec<(&'static str, String)>,
    body: Body,
}

impl Reply {
    /// A status with a small HTML page saying it.
    fn error(status: u16) -> Reply {
        let text = format!("{status} {}", reason(status));
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>{text}</title></head>\
             <body><h1>{text}</h1></body></html>\n"
        );
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            extra: Vec::new(),
            body: Body::Bytes(page.into_bytes()),
        }
    }

    fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.extra.push((name, value));
        self
    }
}

/// A sink that accepts at most `limit` bytes, then fails (and remembers that it did).
struct LimitedSink {
    left: u64,
    exceeded: bool,
}

impl Write for LimitedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.left.checked_sub(buf.len() as u64) {
            Some(left) => {
                self.left = left;
                Ok(buf.len())
            }
            None => {
                self.exceeded = true;
                Err(io::Error::other("request body too large"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Session<'a, 's, S> {
    conn: BufConn<'s, S>,
    /// Canonical.
    root: PathBuf,
    stats: &'a ServerStats,
    summary: ConnSummary,
}

impl<S: Read + Write> Session<'_, '_, S> {
    fn run(&mut self, log: &mut dyn FnMut(&Access<'_>)) -> io::Result<()> {
        loop {
            let req = match self.read_request() {
                Ok(r) => r,
                Err(ReadFail::Closed) => return Ok(()),
                Err(ReadFail::Io(e)) => return Err(e),
                Err(ReadFail::Reject {
                    status,
                    method,
                    target,
                    drain,
                }) => {
                    let head = method == "HEAD";
                    let body_bytes = self.send_reply(Reply::error(status), head, false)?;
                    log(&Access {
                        method: &method,
                        target: &target,
                        status,
                        body_bytes,
                    });
                    if drain {
                        self.drain_header_block();
                    }
                    return Ok(());
                }
            };
            let keep_alive = if req.minor >= 1 {
                !has_token(&req.headers, "connection", "close")
            } else {
                has_token(&req.headers, "connection", "keep-alive")
                    && !has_token(&req.headers, "connection", "close")
            };
            let head = req.method == "HEAD";
            let reply = if head || req.method == "GET" {
                self.resolve(&req.target)
            } else {
                Reply::error(405).with_header("Allow", "GET, HEAD".to_string())
            };
            let status = reply.status;
            // A target that makes no sense says little good about what follows.
            let keep_alive = keep_alive && status != 400;
            let body_bytes = self.send_reply(reply, head, keep_alive)?;
            log(&Access {
                method: &req.method,
                target: &req.target,
                status,
                body_bytes,
            });
            if !keep_alive {
                return Ok(());
            }
        }
    }

    /// Writes bytes to the client, counting them.
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.get_mut().write_all(data)?;
        self.summary.bytes_sent += data.len() as u64;
        self.stats
            .bytes_sent
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Reads a request line, its headers and its body (thrown away).
    fn read_request(&mut self) -> Result<Request, ReadFail> {
        let reject = |status: u16, method: &str, target: &str, drain: bool| ReadFail::Reject {
            status,
            method: method.to_string(),
            target: target.to_string(),
            drain,
        };
        let mut empty_lines = 0;
        let line = loop {
            match self.conn.read_line(MAX_LINE) {
                Ok(Line::Data(l)) if l.is_empty() && empty_lines < MAX_LEADING_EMPTY_LINES => {
                    empty_lines += 1;
                }
                Ok(Line::Data(l)) => break l,
                Ok(Line::TooLong) => return Err(reject(414, "-", "-", true)),
                Ok(Line::Eof { .. }) => return Err(ReadFail::Closed),
                Err(e) => {
                    if self.conn.buffered() == 0 {
                        // Idle (or only empty lines so far): the connection is over.
                        return Err(ReadFail::Closed);
                    }
                    return Err(self.read_error(e, "-", "-"));
                }
            }
        };
        let (method, target, minor) = match parse_request_line(&line) {
            Ok(parts) => parts,
            Err(status) => return Err(reject(status, "-", "-", true)),
        };
        let headers = match read_headers(&mut self.conn) {
            Ok(h) => h,
            Err(HeadError::TooLarge) => return Err(reject(431, &method, &target, true)),
            Err(HeadError::Malformed(_)) => return Err(reject(400, &method, &target, true)),
            Err(HeadError::Eof) => return Err(ReadFail::Closed),
            Err(HeadError::Io(e)) => return Err(self.read_error(e, &method, &target)),
        };
        let hosts = header_values(&headers, "host").count();
        if hosts > 1 || (minor >= 1 && hosts == 0) {
            return Err(reject(400, &method, &target, false));
        }
        let body = match body_length(&headers, minor) {
            Ok(b) => b,
            Err(()) => return Err(reject(400, &method, &target, false)),
        };
        if let BodyLen::Fixed(n) = body {
            if n > MAX_DISCARDED_BODY {
                return Err(reject(413, &method, &target, false));
            }
        }
        let has_body = !matches!(body, BodyLen::Fixed(0));
        if has_body && minor >= 1 && has_token(&headers, "expect", "100-continue") {
            let sent = self
                .send(b"HTTP/1.1 100 Continue\r\n\r\n")
                .and_then(|()| self.conn.get_mut().flush());
            if let Err(e) = sent {
                return Err(ReadFail::Io(e));
            }
        }
        let mut sink = LimitedSink {
            left: MAX_DISCARDED_BODY,
            exceeded: false,
        };
        match body {
            BodyLen::Fixed(n) => match self.conn.copy_to(n, &mut sink) {
                Ok(got) if got == n => {}
                Ok(_) => return Err(ReadFail::Closed),
                Err(e) => return Err(self.read_error(e, &method, &target)),
            },
            BodyLen::Chunked => match copy_chunked(&mut self.conn, &mut sink) {
                Ok(_) => {}
                Err(_) if sink.exceeded => return Err(reject(413, &method, &target, false)),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(reject(400, &method, &target, false))
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(ReadFail::Closed),
                Err(e) => return Err(self.read_error(e, &method, &target)),
            },
        }
        Ok(Request {
            method,
            target,
            minor,
            headers,
        })
    }

    /// A read that failed in the middle of a request: a timeout gets 408, anything else
    /// ends the connection with the error.
    fn read_error(&self, e: io::Error, method: &str, target: &str) -> ReadFail {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ReadFail::Reject {
                status: 408,
                method: method.to_string(),
                target: target.to_string(),
                drain: false,
            },
            _ => ReadFail::Io(e),
        }
    }

    /// Reads (and throws away) the rest of a rejected request's header block: up to and
    /// including the next empty line, at most [`MAX_DRAIN`] bytes, stopping at the end of
    /// the stream or at any error. The reader stands at the start of a line.
    fn drain_header_block(&mut self) {
        let mut budget = MAX_DRAIN;
        let mut line_empty = true;
        loop {
            match self.conn.fill() {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let avail = self.conn.available();
            let mut end_at = None;
            for (i, &b) in avail.iter().enumerate() {
                match b {
                    b'\n' if line_empty => {
                        end_at = Some(i + 1);
                        break;
                    }
                    b'\n' => line_empty = true,
                    b'\r' => {}
                    _ => line_empty = false,
                }
            }
            if let Some(n) = end_at {
                self.conn.consume(n);
                return;
            }
            let n = avail.len();
            self.conn.consume(n);
            budget = budget.saturating_sub(n);
            if budget == 0 {
                return;
            }
        }
    }

    /// Maps a request target to a reply.
    fn resolve(&self, target: &str) -> Reply {
        let (path, query) = split_target(target);
        if !path.starts_with('/') {
            return Reply::error(400);
        }
        let Some(decoded) = percent_decode(path) else {
            return Reply::error(400);
        };
        if decoded.contains(&0) {
            return Reply::error(400);
        }
        let trailing_slash = decoded.ends_with(b"/");
        let segments: Vec<&[u8]> = decoded
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty() && *s != b".")
            .collect();
        if segments.iter().any(|s| *s == b"..") {
            return Reply::error(403);
        }
        let mut full = self.root.clone();
        for s in &segments {
            full.push(OsStr::from_bytes(s));
        }
        let canon = match fs::canonicalize(&full) {
            Ok(c) => c,
            Err(e) => return Reply::error(fs_error_status(&e)),
        };
        if !canon.starts_with(&self.root) {
            return Reply::error(403);
        }
        let meta = match fs::metadata(&canon) {
            Ok(m) => m,
            Err(e) => return Reply::error(fs_error_status(&e)),
        };
        if meta.is_dir() {
            if !trailing_slash {
                let mut location = format!("{path}/");
                if let Some(q) = query {
                    location.push('?');
                    location.push_str(q);
                }
                return Reply::error(301).with_header("Location", location);
            }
            let index = canon.join("index.html");
            if fs::metadata(&index).is_ok_and(|m| m.is_file()) {
                return self.file_reply(&index);
            }
            let mut shown = String::from("/");
            for s in &segments {
                shown.push_str(&String::from_utf8_lossy(s));
                shown.push('/');
            }
            return match listing(&canon, &shown) {
                Ok(page) => Reply {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    extra: Vec::new(),
                    body: Body::Bytes(page.into_bytes()),
                },
                Err(e) => Reply::error(fs_error_status(&e)),
            };
        }
        if !meta.is_file() {
            return Reply::error(403);
        }
        if trailing_slash {
            return Reply::error(404);
        }
        self.file_reply(&canon)
    }

    /// A 200 with a file (which may be a symbolic link: it must lead inside the root).
    fn file_reply(&self, path: &Path) -> Reply {
        let canon = match fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => return Reply::error(fs_error_status(&e)),
        };
        if !canon.starts_with(&self.root) {
            return Reply::error(403);
        }
        // Look before opening: opening a FIFO would block.
        match fs::metadata(&canon) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Reply::error(403),
            Err(e) => return Reply::error(fs_error_status(&e)),
        }
        let file = match File::open(&canon) {
            Ok(f) => f,
            Err(e) => return Reply::error(fs_error_status(&e)),
        };
        let len = match file.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Reply::error(403),
            Err(e) => return Reply::error(fs_error_status(&e)),
        };
        Reply {
            status: 200,
            content_type: content_type(&canon),
            extra: Vec::new(),
            body: Body::File(file, len),
        }
    }

    /// Sends a reply (only its head for HEAD) and flushes. Returns the body bytes sent.
    fn send_reply(&mut self, reply: Reply, head: bool, keep_alive: bool) -> io::Result<u64> {
        let status = reply.status;
        let len = match &reply.body {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        };
        let mut h = String::with_capacity(256);
        let _ = write!(h, "HTTP/1.1 {status} {}\r\n", reason(status));
        let _ = write!(h, "Server: tapip\r\n");
        let _ = write!(h, "Date: {}\r\n", http_date(SystemTime::now()));
        let _ = write!(h, "Content-Type: {}\r\n", reply.content_type);
        let _ = write!(h, "Content-Length: {len}\r\n");
        for (name, value) in &reply.extra {
            let _ = write!(h, "{name}: {value}\r\n");
        }
        let conn = if keep_alive { "keep-alive" } else { "close" };
        let _ = write!(h, "Connection: {conn}\r\n\r\n");
        let mut out = h.into_bytes();

        self.summary.requests += 1;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 400 {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut body_bytes = 0;
        match reply.body {
            _ if head => self.send(&out)?,
            Body::Bytes(b) => {
                out.extend_from_slice(&b);
                self.send(&out)?;
                body_bytes = len;
            }
            Body::File(mut file, n) => {
                // The head goes out with the first piece of the file.
                let mut pending = out;
                let mut buf = vec![0u8; FILE_CHUNK];
                let mut left = n;
                while left > 0 {
                    let want = usize::try_from(left).unwrap_or(FILE_CHUNK).min(FILE_CHUNK);
                    let got =
                        read_retry(&mut file, buf.get_mut(..want).unwrap_or(&mut []))?.min(want);
                    if got == 0 {
                        // The head promised more: the client must see the connection end.
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("file shrank while being sent ({} of {n} bytes)", n - left),
                        ));
                    }
                    let piece = buf.get(..got).unwrap_or(&[]);
                    if pending.is_empty() {
                        self.send(piece)?;
                    } else {
                        pending.extend_from_slice(piece);
                        self.send(&pending)?;
                        pending = Vec::new();
                    }
                    left -= got as u64;
                    body_bytes += got as u64;
                }
                if !pending.is_empty() {
                    self.send(&pending)?;
                }
            }
        }
        self.conn.get_mut().flush()?;
        Ok(body_bytes)
    }
}

/// Parses `METHOD SP TARGET SP HTTP/1.x`; `Err` is the status to answer with.
fn parse_request_line(line: &[u8]) -> Result<(String, String, u8), u16> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        _ => {
            let is_http = version.strip_prefix(b"HTTP/").is_some_and(|v| {
                !v.is_empty() && v.iter().all(|&b| b.is_ascii_digit() || b == b'.')
            });
            return Err(if is_http { 505 } else { 400 });
        }
    };
    if method.is_empty() || !method.iter().all(|&b| super::is_tchar(b)) {
        return Err(400);
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(400);
    }
    // Both are ASCII now.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, minor))
}

/// The framing of a request body; `Err` for a request to refuse with 400.
fn body_length(headers: &[(String, String)], minor: u8) -> Result<BodyLen, ()> {
    let length = content_length(headers).map_err(|_| ())?;
    let mut codings = header_list(headers, "transfer-encoding").peekable();
    if codings.peek().is_none() {
        return Ok(BodyLen::Fixed(length.unwrap_or(0)));
    }
    // Both framings at once is how requests are smuggled; HTTP/1.0 has no chunking.
    if length.is_some() || minor == 0 {
        return Err(());
    }
    match codings.last() {
        Some(last) if last.eq_ignore_ascii_case("chunked") => Ok(BodyLen::Chunked),
        _ => Err(()),
    }
}

/// Splits a request target into its path and its query. The absolute form
/// (`http://host/path`) is reduced to its path.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let mut rest = target;
    for scheme in ["http://", "https://"] {
        if rest.len() >= scheme.len()
            && rest
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            let after = rest.get(scheme.len()..).unwrap_or("");
            rest = match after.find(['/', '?']) {
                Some(i) if after[i..].starts_with('/') => &after[i..],
                Some(i) => {
                    // `http://host?q`: the path is `/`.
                    return ("/", after.get(i + 1..));
                }
                None => "/",
            };
            break;
        }
    }
    let rest = rest.split('#').next().unwrap_or("");
    match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    }
}

/// Decodes `%XX` escapes; `None` when a `%` is not followed by two hex digits.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = super::hex_val(*bytes.get(i + 1)?)?;
            let lo = super::hex_val(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Encodes every byte but the unreserved ones (RFC 3986 2.3) as `%XX`: safe as one path
/// segment in a link.
fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Escapes text for HTML content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML listing of directory `dir`, shown as `shown` (which ends with `/`).
fn listing(dir: &Path, shown: &str) -> io::Result<String> {
    let mut entries: Vec<(Vec<u8>, bool)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().as_bytes().to_vec();
        // Follow symbolic links to tell directories.
        let is_dir = fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        entries.push((name, is_dir));
    }
    entries.sort();
    let title = html_escape(&format!("Index of {shown}"));
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1><hr><ul>\n"
    );
    if shown != "/" {
        page.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in &entries {
        let slash = if *is_dir { "/" } else { "" };
        let _ = writeln!(
            page,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            percent_encode(name),
            html_escape(&String::from_utf8_lossy(name))
        );
    }
    page.push_str("</ul><hr></body></html>\n");
    Ok(page)
}

/// The status for a failed file system call.
fn fs_error_status(e: &io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::PermissionDenied => 403,
        _ => 404,
    }
}

/// The `Content-Type` for a file, from its extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A time as an HTTP date (IMF-fixdate, RFC 9110 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let in_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month = MONTHS
        .get((month as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} GMT",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// The proleptic Gregorian (year, month 1-12, day 1-31) of a count of days since
/// 1970-01-01, by shifting to years that start on March 1st (leap day last) and counting
/// in 400-year eras of 146097 days.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..365, from March 1st
    let mp = (5 * doy + 2) / 153; // 0 = March .. 11 = February
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod unit {
    use super::*;
    use std::time::Duration;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // a leap day
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(http_date(t), "Thu, 31 Dec 2099 23:59:59 GMT");
    }

    #[test]
    fn request_lines() {
        let ok = |l: &str| parse_request_line(l.as_bytes());
        assert_eq!(ok("GET / HTTP/1.1"), Ok(("GET".into(), "/".into(), 1)));
        assert_eq!(
            ok("HEAD /a?b HTTP/1.0"),
            Ok(("HEAD".into(), "/a?b".into(), 0))
        );
        assert_eq!(ok("GET / HTTP/2.0"), Err(505));
        assert_eq!(ok("GET / HTTP/0.9"), Err(505));
        assert_eq!(ok("GET / http/1.1"), Err(400));
        assert_eq!(ok("GET /"), Err(400));
        assert_eq!(ok("GET  / HTTP/1.1"), Err(400));
        assert_eq!(ok("GET / HTTP/1.1 x"), Err(400));
        assert_eq!(ok("G(T / HTTP/1.1"), Err(400));
        assert_eq!(ok("GET /\u{e9} HTTP/1.1"), Err(400));
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/a/b?x=1#f"), ("/a/b", Some("x=1")));
        assert_eq!(split_target("/a#f"), ("/a", None));
        assert_eq!(split_target("http://h:8/p?q"), ("/p", Some("q")));
        assert_eq!(split_target("HTTP://h"), ("/", None));
        assert_eq!(split_target("http://h?q"), ("/", Some("q")));
        assert_eq!(split_target("*"), ("*", None));
        assert_eq!(percent_decode("/a%20b%2F%2e"), Some(b"/a b/.".to_vec()));
        assert_eq!(percent_decode("/a%2"), None);
        assert_eq!(percent_decode("/a%zz"), None);
        assert_eq!(percent_encode(b"a b&<\xff~"), "a%20b%26%3C%FF~");
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("/x/a.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(content_type(Path::new("a.jpeg")), "image/jpeg");
        assert_eq!(content_type(Path::new("a.svg")), "image/svg+xml");
        assert_eq!(content_type(Path::new("a.pdf")), "application/pdf");
        assert_eq!(content_type(Path::new("a.json")), "application/json");
        assert_eq!(
            content_type(Path::new("Makefile")),
            "application/octet-stream"
        );
        assert_eq!(
            content_type(Path::new("a.tar.gz")),
            "application/octet-stream"
        );
    }
}
