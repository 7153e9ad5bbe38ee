//! HTTP/1.1 over any byte stream: a static file server and a small client.
//!
//! Both sides are generic over `Read + Write`, so the same code runs over the kernel's
//! `std::net::TcpStream` (the unit tests) and over the stack's own `socket_api::TcpStream`.
//! Neither side ever holds a whole body in memory: files and response bodies are streamed
//! through fixed buffers, and every line, header block and discarded request body is
//! bounded, so no input can make them allocate without limit or panic.
//!
//! * Server: [`HttpConn`], a state machine without I/O, serves GET and HEAD for files under a
//!   root directory on one connection, with keep-alive and pipelining; `serve http` drives
//!   many of them over non-blocking sockets, [`serve_connection`] (and
//!   [`serve_connection_with`], which also updates shared [`ServerStats`] and reports each
//!   request to a callback) drives one over a blocking stream.
//! * Client: [`parse_url`] turns `http://HOST[:PORT][/path]` into a [`Url`]; [`get`] sends
//!   one GET or HEAD request and streams the body to a writer, returning a [`Response`].
//!
//! The pieces both sides share live here: a buffered reader with bounded line reads, the
//! header block parser and the chunked transfer-coding decoder.

mod client;
mod cond;
mod server;
#[cfg(test)]
mod tests;

// Part of the API even where the shell does not use them (yet).
#[allow(unused_imports)]
pub use client::{get, parse_url, request, response, Response, Url};
pub(crate) use server::HttpConn;
#[allow(unused_imports)]
pub use server::{
    serve_connection, serve_connection_with, Access, ConnSummary, ServerStats, StatsSnapshot,
    MAX_DISCARDED_BODY,
};

use std::io::{self, Read, Write};

/// Longest request line (server) or status line (client) accepted, in bytes without the
/// line end. A longer request line gets 414.
pub const MAX_LINE: usize = 8 * 1024;
/// Longest single header line accepted (a longer one gets 431).
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// Most bytes in one header block, all lines together (more gets 431).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header lines in one block (more gets 431).
pub const MAX_HEADERS: usize = 100;
/// Longest chunk-size line of a chunked body (with its extensions).
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The read buffer of a connection; must be larger than every line limit plus CRLF.
const BUF_SIZE: usize = 64 * 1024;

/// `read` that retries when interrupted by a signal.
fn read_retry<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// What [`BufConn::read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// One line, without its LF or CRLF.
    Data(Vec<u8>),
    /// The stream ended; `partial` says whether part of a line had arrived.
    Eof { partial: bool },
    /// The line is longer than allowed. Nothing is consumed: the reader still stands at
    /// the start of that line.
    TooLong,
}

/// A stream with a read buffer in front of it (bytes read past one message belong to the
/// next one). Writes go straight to the stream through [`BufConn::get_mut`].
pub(crate) struct BufConn<'s, S> {
    stream: &'s mut S,
    buf: Vec<u8>,
    /// `buf[pos..end]` holds bytes read from the stream and not yet consumed.
    pos: usize,
    end: usize,
}

impl<'s, S: Read> BufConn<'s, S> {
    pub(crate) fn new(stream: &'s mut S) -> Self {
        BufConn {
            stream,
            buf: vec![0; BUF_SIZE],
            pos: 0,
            end: 0,
        }
    }

    /// The underlying stream (to write to it).
    pub(crate) fn get_mut(&mut self) -> &mut S {
        self.stream
    }

    /// How many bytes are buffered and not yet consumed.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// The buffered bytes.
    pub(crate) fn available(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }

    /// Marks `n` buffered bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }

    /// Makes sure some bytes are buffered, reading the stream if none are. Returns how
    /// many are buffered: 0 means the stream ended.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
            let n = read_retry(self.stream, &mut self.buf)?;
            self.end = n.min(self.buf.len());
        }
        Ok(self.buffered())
    }

    /// Reads one line of at most `max` bytes (not counting the LF or CRLF ending it).
    pub(crate) fn read_line(&mut self, max: usize) -> io::Result<Line> {
        // Bytes after `pos` already known to hold no LF.
        let mut scanned = 0;
        loop {
            let avail = self.available();
            let fresh = avail.get(scanned..).unwrap_or(&[]);
            if let Some(i) = fresh.iter().position(|&b| b == b'\n') {
                let nl = scanned + i;
                let mut line = avail.get(..nl).unwrap_or(&[]);
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                if line.len() > max {
                    return Ok(Line::TooLong);
                }
                let line = line.to_vec();
                self.consume(nl + 1);
                return Ok(Line::Data(line));
            }
            scanned = avail.len();
            // Even if a CRLF came next the line would be too long.
            if scanned > max + 1 {
                return Ok(Line::TooLong);
            }
            if self.end == self.buf.len() {
                if self.pos == 0 {
                    return Ok(Line::TooLong);
                }
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            let free = self.buf.get_mut(self.end..).unwrap_or(&mut []);
            let n = read_retry(self.stream, free)?;
            if n == 0 {
                return Ok(Line::Eof {
                    partial: self.end > self.pos,
                });
            }
            self.end = (self.end + n).min(self.buf.len());
        }
    }

    /// Copies up to `n` bytes to `out` (buffered ones first). Stops early only at the end
    /// of the stream; returns how many bytes were copied.
    pub(crate) fn copy_to(&mut self, n: u64, out: &mut dyn Write) -> io::Result<u64> {
        let mut done = 0u64;
        while done < n {
            if self.fill()? == 0 {
                break;
            }
            let avail = self.available();
            let take = avail
                .len()
                .min(usize::try_from(n - done).unwrap_or(usize::MAX));
            out.write_all(avail.get(..take).unwrap_or(&[]))?;
            self.consume(take);
            done += take as u64;
        }
        Ok(done)
    }

    /// Copies everything up to the end of the stream to `out`; returns how many bytes.
    pub(crate) fn copy_to_eof(&mut self, out: &mut dyn Write) -> io::Result<u64> {
        let mut done = 0u64;
        while self.fill()? > 0 {
            let avail = self.available();
            out.write_all(avail)?;
            done += avail.len() as u64;
            let n = avail.len();
            self.consume(n);
        }
        Ok(done)
    }
}

/// Why a header block could not be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// A header line, the whole block or the number of lines is over its limit.
    TooLarge,
    /// A line that is not a header field.
    Malformed(String),
    /// The stream ended inside the block.
    Eof,
    /// Reading failed.
    Io(io::Error),
}

impl From<HeadError> for io::Error {
    fn from(e: HeadError) -> io::Error {
        match e {
            HeadError::TooLarge => io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "header block too large (limits: {MAX_HEADER_LINE} bytes a line, \
                     {MAX_HEADER_BYTES} bytes, {MAX_HEADERS} lines)"
                ),
            ),
            HeadError::Malformed(m) => io::Error::new(io::ErrorKind::InvalidData, m),
            HeadError::Eof => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the header block",
            ),
            HeadError::Io(e) => e,
        }
    }
}

/// Whether `b` may appear in a token (a method or a header name), RFC 9110 5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A short printable rendering of bytes from the peer, for error messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let mut s = String::new();
    for &b in bytes.iter().take(MAX) {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    if bytes.len() > MAX {
        s.push_str("...");
    }
    s
}

/// Reads header lines up to and including the empty line that ends the block (also used
/// for the trailers of a chunked body). Names keep their case; values are trimmed of
/// surrounding blanks. Obsolete line folding (a line starting with a blank continues the
/// field before it) is replaced by a space, as RFC 9112 5.2 asks of a user agent (these
/// are the headers of a response); a continuation with no field before it is refused.
pub(crate) fn read_headers<S: Read>(
    conn: &mut BufConn<'_, S>,
) -> Result<Vec<(String, String)>, HeadError> {
    let mut headers = Vec::new();
    let mut total = 0usize;
    loop {
        let line = match conn.read_line(MAX_HEADER_LINE) {
            Ok(Line::Data(l)) => l,
            Ok(Line::TooLong) => return Err(HeadError::TooLarge),
            Ok(Line::Eof { .. }) => return Err(HeadError::Eof),
            Err(e) => return Err(HeadError::Io(e)),
        };
        if line.is_empty() {
            return Ok(headers);
        }
        total += line.len() + 2;
        if total > MAX_HEADER_BYTES || headers.len() >= MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            let more = parse_header_value(&line)?;
            let Some((_, value)) = headers.last_mut() else {
                return Err(HeadError::Malformed(format!(
                    "folded header line without a field before it: \"{}\"",
                    excerpt(&line)
                )));
            };
            if !more.is_empty() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(&more);
            }
            continue;
        }
        headers.push(parse_header_line(&line)?);
    }
}

/// A field value (or its continuation): no control characters, surrounding blanks trimmed.
fn parse_header_value(value: &[u8]) -> Result<String, HeadError> {
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::Malformed(format!(
            "control character in header value: \"{}\"",
            excerpt(value)
        )));
    }
    Ok(String::from_utf8_lossy(trim_blanks(value)).into_owned())
}

/// Splits `Name: value`.
fn parse_header_line(line: &[u8]) -> Result<(String, String), HeadError> {
    let bad = |why: &str| HeadError::Malformed(format!("{why}: \"{}\"", excerpt(line)));
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| bad("header line without ':'"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad("bad header name"));
    }
    let value = parse_header_value(value).map_err(|_| bad("control character in header value"))?;
    // `name` holds only tchars, which are ASCII.
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, value))
}

/// `bytes` without leading and trailing spaces and tabs.
pub(crate) fn trim_blanks(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The values of every header called `name` (case-insensitive).
pub(crate) fn header_values<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The comma-separated elements of every header called `name`, trimmed, empty ones left
/// out (`Connection: close, TE` or `Transfer-Encoding: gzip, chunked`).
pub(crate) fn header_list<'a, 'n>(
    headers: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    header_values(headers, name)
        .flat_map(|v| v.split(','))
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
}

/// Whether a list header `name` holds `token` (case-insensitive).
pub(crate) fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    header_list(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The `Content-Length` of a message: `Ok(None)` when absent, `Err` when some value is not
/// a number or two values differ (`Content-Length: 5, 5` is accepted).
pub(crate) fn content_length(headers: &[(String, String)]) -> Result<Option<u64>, String> {
    let mut found: Option<u64> = None;
    for v in header_values(headers, "content-length") {
        for part in v.split(',') {
            let part = part.trim_matches([' ', '\t']);
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad Content-Length {:?}", excerpt(v.as_bytes())));
            }
            let n: u64 = part
                .parse()
                .map_err(|_| format!("Content-Length {part} is too large"))?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting Content-Length values".to_string());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// Decodes a chunked body (RFC 9112 7.1), writing the data to `out`. Returns the number
/// of data bytes and the trailer fields. A malformed body is an `InvalidData` error, one
/// cut short an `UnexpectedEof` error; errors writing to `out` come back as they are.
pub(crate) fn copy_chunked<S: Read>(
    conn: &mut BufConn<'_, S>,
    out: &mut dyn Write,
) -> io::Result<(u64, Vec<(String, String)>)> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut total = 0u64;
    loop {
        let line = match conn.read_line(MAX_CHUNK_LINE)? {
            Line::Data(l) => l,
            Line::TooLong => return Err(invalid("chunk-size line too long".to_string())),
            Line::Eof { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("chunked body ended after {total} bytes, before its last chunk"),
                ))
            }
        };
        let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size = chunk_size(trim_blanks(size_part))
            .map_err(|what| invalid(format!("{what} \"{}\"", excerpt(&line))))?;
        if size == 0 {
            let trailers = read_headers(conn).map_err(io::Error::from)?;
            return Ok((total, trailers));
        }
        let got = conn.copy_to(size, out)?;
        total = total.saturating_add(got);
        if got < size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("chunked body ended inside a chunk, after {total} bytes"),
            ));
        }
        match conn.read_line(2)? {
            Line::Data(l) if l.is_empty() => {}
            Line::Eof { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("chunked body ended after {total} bytes, before its last chunk"),
                ))
            }
            _ => return Err(invalid("chunk data not followed by CRLF".to_string())),
        }
    }
}

/// The value of a chunk-size (RFC 9112 7.1: `1*HEXDIG`, with as many leading zeros as a
/// line holds), or why it is none.
pub(crate) fn chunk_size(digits: &[u8]) -> Result<u64, &'static str> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err("bad chunk size");
    }
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[first..];
    if digits.len() > 16 {
        return Err("chunk size too large");
    }
    // At most 16 hex digits: fits in a u64.
    Ok(digits.iter().fold(0u64, |acc, &d| {
        (acc << 4) | u64::from(hex_val(d).unwrap_or(0))
    }))
}

/// The value of a hex digit.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
