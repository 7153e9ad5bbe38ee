//! The client: URL parsing and one GET or HEAD request per connection.

use super::{
    content_length, copy_chunked, excerpt, header_list, header_values, read_headers, BufConn, Line,
    MAX_LINE,
};
use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};

/// Interim (1xx) responses skipped before the final one, at most.
const MAX_INTERIM: usize = 10;
/// Empty lines tolerated before a status line.
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// An `http://` URL, split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// An IPv4 address or a host name (resolving it is the caller's business).
    pub host: String,
    pub port: u16,
    /// The request target: starts with `/`, may hold a query, holds no fragment, and is
    /// percent-encoded where needed.
    pub path: String,
}

impl Url {
    /// The value of the `Host` header: the host, with the port when it is not 80.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

/// Parses `http://HOST[:PORT][/path]`, or the same without `http://`. The port defaults
/// to 80 and the path to `/`; a `#fragment` is dropped; bytes not allowed in a request
/// target (spaces, non-ASCII, ...) are percent-encoded. Errors are one line.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty URL".to_string());
    }
    let mut rest = s;
    if let Some(i) = s.find("://") {
        let scheme = &s[..i];
        let is_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if is_scheme {
            if scheme.eq_ignore_ascii_case("https") {
                return Err("https is not supported (no TLS here): use an http:// URL".to_string());
            }
            if !scheme.eq_ignore_ascii_case("http") {
                return Err(format!(
                    "unsupported URL scheme {scheme:?}: only http:// is supported"
                ));
            }
            rest = &s[i + 3..];
        }
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("user names and passwords in URLs are not supported".to_string());
    }
    if authority.starts_with('[') {
        return Err("IPv6 addresses are not supported".to_string());
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An empty port is the scheme's default (RFC 3986 3.2.3), as curl takes it.
        Some((host, "")) => (host, 80),
        Some((host, port)) => (host, parse_port(port)?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("no host in URL {s:?}"));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(format!("bad host {host:?} in URL"));
    }
    let path = path.split('#').next().unwrap_or("");
    let mut target = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        target.push('/');
    }
    for b in path.bytes() {
        if (0x21..0x7f).contains(&b) && !b"\"<>\\^`{|}".contains(&b) {
            target.push(char::from(b));
        } else {
            let _ = write!(target, "%{b:02X}");
        }
    }
    Ok(Url {
        host: host.to_string(),
        port,
        path: target,
    })
}

/// A port number, 1 to 65535.
fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("bad port {p:?} (expected 1 to 65535)")),
    }
}

/// A response, its body aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// The header fields in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The trailer fields of a chunked body (usually none).
    pub trailers: Vec<(String, String)>,
    /// Body bytes written to the output.
    pub body_bytes: u64,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_values(&self.headers, name).next()
    }
}

/// An `InvalidData` error about the response.
fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Sends `GET` (or `HEAD` when `head`) for `url` as HTTP/1.1 with `Connection: close`,
/// then reads the response and writes its body to `out` as it arrives. The body is
/// delimited by `Content-Length`, by the chunked coding, or else by the end of the
/// stream; a response to HEAD, and a 1xx, 204 or 304, has none. Interim 1xx responses
/// are skipped. A body shorter than its `Content-Length` (or a chunked body cut short) is
/// an `UnexpectedEof` error; a malformed response is an `InvalidData` one.
pub fn get<S: Read + Write>(
    stream: &mut S,
    url: &Url,
    head: bool,
    out: &mut dyn Write,
) -> io::Result<Response> {
    let req = request(url, head)?;
    stream.write_all(req.as_bytes())?;
    stream.flush()?;
    response(stream, head, out)
}

/// The request [`get`] sends for `url`: `GET` (or `HEAD`) with Host, User-Agent, Accept
/// and `Connection: close`.
pub fn request(url: &Url, head: bool) -> io::Result<String> {
    let printable = |s: &str| s.bytes().all(|b| (0x21..0x7f).contains(&b));
    if !url.path.starts_with('/') || !printable(&url.path) || !printable(&url.host) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot request {:?}: bad host or path", url.to_string()),
        ));
    }
    let method = if head { "HEAD" } else { "GET" };
    Ok(format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tapip\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        url.path,
        url.host_header()
    ))
}

/// Read the response to a request [`request`] made (sent already), its body into `out`.
pub fn response<S: Read + Write>(
    stream: &mut S,
    head: bool,
    out: &mut dyn Write,
) -> io::Result<Response> {
    let mut conn = BufConn::new(stream);
    let mut interim = 0;
    let mut empty_lines = 0;
    let (status, reason, headers) = loop {
        let line = match conn.read_line(MAX_LINE)? {
            Line::Data(l) if l.is_empty() && empty_lines < MAX_LEADING_EMPTY_LINES => {
                empty_lines += 1;
                continue;
            }
            Line::Data(l) => l,
            Line::TooLong => return Err(bad(format!("status line longer than {MAX_LINE} bytes"))),
            Line::Eof { partial } => {
                let what = if partial {
                    "inside the status line"
                } else {
                    "before a response arrived"
                };
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed {what}"),
                ));
            }
        };
        let (status, reason) = parse_status_line(&line)?;
        let headers = read_headers(&mut conn)?;
        // An answer switching to another protocol: nothing after it is HTTP, and this
        // request asked for no Upgrade (RFC 9110 15.2.2).
        if status == 101 {
            return Err(bad(
                "101 Switching Protocols, but no protocol upgrade was asked for".to_string(),
            ));
        }
        // RFC 9112 6.1: Transfer-Encoding in a message older than HTTP/1.1 is faulty
        // framing (a smuggling hazard), whatever Content-Length says.
        let before_1_1 = line.starts_with(b"HTTP/0.") || line.starts_with(b"HTTP/1.0");
        if before_1_1
            && header_values(&headers, "transfer-encoding")
                .next()
                .is_some()
        {
            return Err(bad(format!(
                "faulty framing: Transfer-Encoding in an {} response",
                String::from_utf8_lossy(&line[..8.min(line.len())])
            )));
        }
        if (100..200).contains(&status) {
            interim += 1;
            if interim > MAX_INTERIM {
                return Err(bad(format!("more than {MAX_INTERIM} interim responses")));
            }
            empty_lines = 0;
            continue;
        }
        break (status, reason, headers);
    };

    let mut response = Response {
        status,
        reason,
        headers,
        trailers: Vec::new(),
        body_bytes: 0,
    };
    if head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(response);
    }
    // With a transfer coding, the one applied last must be chunked for the length to be
    // known (RFC 9112 6.3); otherwise the body runs to the end of the stream.
    // A header that names no coding (`Transfer-Encoding: ,`) is present all the same.
    let last_coding = header_values(&response.headers, "transfer-encoding")
        .next()
        .map(|_| {
            header_list(&response.headers, "transfer-encoding")
                .last()
                .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
        });
    if let Some(chunked) = last_coding {
        if chunked {
            let (n, trailers) = copy_chunked(&mut conn, out)?;
            response.body_bytes = n;
            response.trailers = trailers;
        } else {
            response.body_bytes = conn.copy_to_eof(out)?;
        }
        return Ok(response);
    }
    match content_length(&response.headers).map_err(bad)? {
        Some(n) => {
            let got = conn.copy_to(n, out)?;
            response.body_bytes = got;
            if got < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("body ended after {got} of {n} bytes"),
                ));
            }
        }
        None => response.body_bytes = conn.copy_to_eof(out)?,
    }
    Ok(response)
}

/// Parses `HTTP/x.y SP NNN [SP reason]`.
fn parse_status_line(line: &[u8]) -> io::Result<(u16, String)> {
    let malformed = || bad(format!("malformed status line \"{}\"", excerpt(line)));
    let rest = line.strip_prefix(b"HTTP/").ok_or_else(malformed)?;
    let rest = match rest {
        [major, b'.', minor, rest @ ..] if major.is_ascii_digit() && minor.is_ascii_digit() => rest,
        _ => return Err(malformed()),
    };
    let (code, reason) = match rest {
        [b' ', a, b, c] => ([*a, *b, *c], &[][..]),
        [b' ', a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
        _ => return Err(malformed()),
    };
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if status < 100 {
        return Err(malformed());
    }
    Ok((status, String::from_utf8_lossy(reason).into_owned()))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn status_lines() {
        let p = |l: &str| parse_status_line(l.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(p("HTTP/1.1 200 OK"), Ok((200, "OK".into())));
        assert_eq!(p("HTTP/1.0 404 Not Found"), Ok((404, "Not Found".into())));
        assert_eq!(p("HTTP/1.1 204"), Ok((204, String::new())));
        assert_eq!(p("HTTP/1.1 204 "), Ok((204, String::new())));
        assert!(p("HTTP/1.1 20 OK").is_err());
        assert!(p("HTTP/1.1 099 x").is_err());
        assert!(p("HTTP/1.1 2000 OK").is_err());
        assert!(p("HTTP/1.1  200 OK").is_err());
        assert!(p("HTTX/1.1 200 OK").is_err());
        assert!(p("HTTP/11 200 OK").is_err());
        assert!(p("").is_err());
    }

    /// A peer that answers with `response` (read in pieces of at most 7 bytes) and takes
    /// whatever is written to it.
    struct Scripted {
        input: io::Cursor<Vec<u8>>,
        request: Vec<u8>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.request.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// `get` (GET of `/`) against a peer answering `response`; the result and the body.
    fn fetch(response: &[u8]) -> (io::Result<Response>, Vec<u8>) {
        let mut peer = Scripted {
            input: io::Cursor::new(response.to_vec()),
            request: Vec::new(),
        };
        let url = parse_url("http://10.0.0.2/").unwrap();
        let mut body = Vec::new();
        let r = get(&mut peer, &url, false, &mut body);
        (r, body)
    }

    /// RFC 9112 5.2: "A user agent that receives an obs-fold in a response message ...
    /// MUST replace each received obs-fold with one or more SP octets prior to
    /// interpreting the field value." The client shares the server's header parser, which
    /// refuses folding (right for a server, which may answer 400), so the response fails
    /// with "folded header line".
    #[test]
    fn obs_fold_in_a_response_is_unfolded_not_refused() {
        let (r, body) = fetch(
            b"HTTP/1.1 200 OK\r\nX-Long: part one\r\n  part two\r\nContent-Length: 2\r\n\r\nok",
        );
        let resp = r.unwrap_or_else(|e| panic!("refused: {e}"));
        assert_eq!(body, b"ok");
        let v = resp.header("x-long").unwrap_or("");
        assert!(
            v.starts_with("part one ") && v.ends_with("part two"),
            "{v:?}"
        );
    }

    /// RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message containing a
    /// Transfer-Encoding header field MUST treat the message as if the framing is faulty,
    /// even if a Content-Length is present". The client ignores the version and decodes
    /// the chunked coding, reporting success.
    #[test]
    fn transfer_encoding_in_an_http_1_0_response_is_faulty_framing() {
        let (r, body) = fetch(
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n",
        );
        assert!(
            !(r.is_ok() && body == b"hello"),
            "an HTTP/1.0 response framed by the chunked coding was taken as {:?}",
            String::from_utf8_lossy(&body)
        );
    }

    /// RFC 9112 7.1: `chunk-size = 1*HEXDIG`, and recipients must parse large numerals
    /// without overflow; leading zeros are allowed. The decoder refuses any size of more
    /// than 16 digits, also `00000000000000005` (17 digits, value 5).
    #[test]
    fn chunk_sizes_may_have_leading_zeros() {
        let (r, body) = fetch(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              00000000000000005\r\nhello\r\n00000000000000000\r\n\r\n",
        );
        let resp = r.unwrap_or_else(|e| panic!("refused: {e}"));
        assert_eq!((resp.body_bytes, body.as_slice()), (5, &b"hello"[..]));
    }

    /// The client sends no `Upgrade`, so a 101 (Switching Protocols) cannot be a valid
    /// answer (RFC 9110 15.2.2: a server MUST NOT switch to a protocol the client did not
    /// indicate in Upgrade; 7.8: Upgrade is sent by the client). What follows is another
    /// protocol, not a body; `get` stopped reading and reported "101 Switching Protocols:
    /// 0 bytes" as a success.
    #[test]
    fn an_unsolicited_101_is_an_error() {
        let (r, _) = fetch(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\
              \x81\x05hello",
        );
        assert!(r.is_err(), "taken as a response: {:?}", r.map(|r| r.status));
    }
}
