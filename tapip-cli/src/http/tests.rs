//! Tests of the server and the client over the kernel's loopback, and of both parsers
//! against random input over an in-memory stream.

use super::*;
use std::fs;
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tapip-http-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A small site: files at the top, a directory without an index (with awkward names),
/// one with an index.
fn site() -> TempDir {
    let d = TempDir::new("site");
    d.write("hello.txt", b"hello world");
    d.write("style.css", b"p {}");
    d.write("sub/a.txt", b"file a");
    d.write("sub/a&b<c>.txt", b"awkward");
    d.write("sub/sp ace.txt", b"space");
    d.write("sub/nested/deep.json", b"{}");
    d.write("withindex/index.html", b"<p>the index</p>");
    d.write("withindex/other.txt", b"other");
    d
}

/// Deterministic pseudo-random bytes (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A server on 127.0.0.1 serving `conns` connections one after the other; the handle
/// gives what each returned.
fn spawn_server(
    root: &Path,
    conns: usize,
) -> (SocketAddr, JoinHandle<Vec<io::Result<ConnSummary>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let root = root.to_path_buf();
    let handle = thread::spawn(move || {
        let mut results = Vec::new();
        for _ in 0..conns {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            s.set_write_timeout(Some(TIMEOUT)).unwrap();
            results.push(serve_connection(&mut s, &root));
        }
        results
    });
    (addr, handle)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Sends `request` on a new connection, closes the sending side and returns all that
/// comes back.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// One response as parsed by the tests (independently of the client).
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response; the body by its Content-Length (none for HEAD).
fn read_resp<R: BufRead>(r: &mut R, head: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 "), "status line {line:?}");
    assert!(line.ends_with("\r\n"));
    let status = line[9..12].parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        assert!(h.ends_with("\r\n"), "header line {h:?}");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(": ").unwrap();
        headers.push((n.to_string(), v.to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = resp.header("Content-Length").unwrap().parse().unwrap();
    if !head {
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).unwrap();
    }
    resp
}

/// Parses the responses in `bytes` (one per entry of `heads`, which says which answer
/// HEAD requests) and checks nothing follows them.
fn parse_all(bytes: &[u8], heads: &[bool]) -> Vec<Resp> {
    let mut r = Cursor::new(bytes);
    let resps = heads.iter().map(|&h| read_resp(&mut r, h)).collect();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&rest)
    );
    resps
}

/// One request on its own connection; the response and what the server returned.
fn one(root: &Path, request: &str) -> (Resp, io::Result<ConnSummary>) {
    let (addr, server) = spawn_server(root, 1);
    let bytes = exchange(addr, request.as_bytes());
    let head = request.starts_with("HEAD ");
    let resp = parse_all(&bytes, &[head]).pop().unwrap();
    let result = server.join().unwrap().pop().unwrap();
    (resp, result)
}

fn req(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

#[test]
fn get_of_a_big_file_is_byte_exact() {
    let dir = TempDir::new("big");
    let data = Rng(0x1234_5678).bytes(3 * 1024 * 1024 + 12_345);
    dir.write("big.bin", &data);
    let (addr, server) = spawn_server(dir.path(), 1);
    let url = parse_url(&format!("http://{addr}/big.bin")).unwrap();
    let mut s = connect(addr);
    let mut body = Vec::new();
    let resp = get(&mut s, &url, false, &mut body).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.reason, "OK");
    assert_eq!(resp.body_bytes, data.len() as u64);
    assert_eq!(
        resp.header("content-length"),
        Some(&*data.len().to_string())
    );
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(resp.header("Server"), Some("tapip"));
    assert_eq!(resp.header("Connection"), Some("close"));
    assert!(body == data, "the body differs from the file");
    let summary = server.join().unwrap().pop().unwrap().unwrap();
    assert_eq!(summary.requests, 1);
    assert!(summary.bytes_sent > data.len() as u64);
}

#[test]
fn head_has_the_headers_and_no_body() {
    let site = site();
    let (resp, result) = one(
        site.path(),
        "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Length"), Some("11"));
    assert_eq!(
        resp.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(resp.header("Server"), Some("tapip"));
    assert!(resp.header("Date").unwrap().ends_with(" GMT"));
    let summary = result.unwrap();
    assert_eq!(summary.requests, 1);

    // And through the client.
    let (addr, server) = spawn_server(site.path(), 1);
    let url = parse_url(&format!("{addr}/style.css")).unwrap();
    let mut body = Vec::new();
    let resp = get(&mut connect(addr), &url, true, &mut body).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Length"), Some("4"));
    assert_eq!(resp.header("Content-Type"), Some("text/css; charset=utf-8"));
    assert_eq!(resp.body_bytes, 0);
    assert!(body.is_empty());
    server.join().unwrap().pop().unwrap().unwrap();
}

#[test]
fn keep_alive_serves_requests_one_after_the_other() {
    let site = site();
    let (addr, server) = spawn_server(site.path(), 1);
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());

    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let a = read_resp(&mut r, false);
    assert_eq!((a.status, a.text().as_str()), (200, "hello world"));
    assert_eq!(a.header("Connection"), Some("keep-alive"));

    s.write_all(b"GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let b = read_resp(&mut r, false);
    assert_eq!((b.status, b.text().as_str()), (200, "file a"));

    s.write_all(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_resp(&mut r, false).status, 404);

    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let c = read_resp(&mut r, false);
    assert_eq!((c.status, c.text().as_str()), (200, "p {}"));
    assert_eq!(c.header("Connection"), Some("close"));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let summary = server.join().unwrap().pop().unwrap().unwrap();
    assert_eq!(summary.requests, 4);
}

#[test]
fn the_connection_ends_when_the_client_closes() {
    let site = site();
    let (addr, server) = spawn_server(site.path(), 1);
    let bytes = exchange(addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = parse_all(&bytes, &[false]).pop().unwrap();
    assert_eq!(resp.text(), "hello world");
    let summary = server.join().unwrap().pop().unwrap().unwrap();
    assert_eq!(summary.requests, 1);
    assert_eq!(summary.bytes_sent, bytes.len() as u64);
}

#[test]
fn pipelined_requests_with_bodies_are_answered_in_order() {
    let site = site();
    let (addr, server) = spawn_server(site.path(), 1);
    let requests = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /\
                    HEAD /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /sub/a.txt?q=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n\
                    POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
                    GET /nope HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let bytes = exchange(addr, requests.as_bytes());
    let r = parse_all(&bytes, &[false, true, false, false, false, false]);
    assert_eq!((r[0].status, r[0].text().as_str()), (200, "hello world"));
    assert_eq!(
        (r[1].status, r[1].header("Content-Length")),
        (200, Some("6"))
    );
    assert_eq!((r[2].status, r[2].text().as_str()), (200, "file a"));
    assert_eq!(r[3].status, 405);
    assert_eq!(r[3].header("Allow"), Some("GET, HEAD"));
    assert_eq!(r[4].status, 404);
    assert_eq!((r[5].status, r[5].text().as_str()), (200, "p {}"));
    let summary = server.join().unwrap().pop().unwrap().unwrap();
    assert_eq!(summary.requests, 6);
    assert_eq!(summary.bytes_sent, bytes.len() as u64);
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let site = site();
    let (resp, result) = one(site.path(), "GET /hello.txt HTTP/1.0\r\n\r\n");
    assert_eq!(
        (resp.status, resp.header("Connection")),
        (200, Some("close"))
    );
    assert_eq!(result.unwrap().requests, 1);

    let (addr, server) = spawn_server(site.path(), 1);
    let bytes = exchange(
        addr,
        b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
          GET /sub/a.txt HTTP/1.0\r\n\r\n",
    );
    let r = parse_all(&bytes, &[false, false]);
    assert_eq!(r[0].header("Connection"), Some("keep-alive"));
    assert_eq!(r[1].header("Connection"), Some("close"));
    assert_eq!(r[1].text(), "file a");
    server.join().unwrap().pop().unwrap().unwrap();
}

#[test]
fn missing_files_are_404() {
    let site = site();
    for path in ["/nope", "/sub/nope.txt", "/hello.txt/x", "/hello.txt/"] {
        let (resp, result) = one(site.path(), &req(path));
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(
            resp.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert!(resp.text().contains("404 Not Found"));
        result.unwrap();
    }
}

#[test]
fn paths_out_of_the_root_are_403() {
    let site = site();
    let outside = TempDir::new("outside");
    outside.write("secret.txt", b"secret");
    std::os::unix::fs::symlink(outside.path(), site.path().join("link")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        site.path().join("sub/secret.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink("a.txt", site.path().join("sub/alias.txt")).unwrap();
    for path in [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/sub/..%2f..%2fetc%2fpasswd",
        "/sub/%2e%2e%2F%2e%2e%2Fetc/passwd",
        "/sub/../hello.txt",
        "/link/secret.txt",
        "/link/",
        "/sub/secret.txt",
        "http://x/../etc/passwd",
    ] {
        let (resp, result) = one(site.path(), &req(path));
        assert_eq!(resp.status, 403, "{path}");
        assert!(!resp.text().contains("secret"));
        result.unwrap();
    }
    // A link that stays inside is fine.
    let (resp, _) = one(site.path(), &req("/sub/alias.txt"));
    assert_eq!((resp.status, resp.text().as_str()), (200, "file a"));
}

#[test]
fn other_methods_are_405() {
    let site = site();
    for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let (resp, result) = one(
            site.path(),
            &format!("{m} /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(resp.status, 405, "{m}");
        assert_eq!(resp.header("Allow"), Some("GET, HEAD"));
        result.unwrap();
    }
    // Methods are case-sensitive: `get` is one the server does not know (RFC 9110 9.1).
    for m in ["get", "FOO"] {
        let (resp, result) = one(
            site.path(),
            &format!("{m} /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(resp.status, 501, "{m}");
        result.unwrap();
    }
}

#[test]
fn malformed_requests_are_400_and_close() {
    let site = site();
    for request in [
        "\x00\x01\x02garbage\r\n\r\n",
        "hello\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let (resp, result) = one(site.path(), request);
        assert_eq!(resp.status, 400, "{request:?}");
        assert_eq!(resp.header("Connection"), Some("close"), "{request:?}");
        result.unwrap();
    }
}

#[test]
fn oversized_requests_and_other_versions() {
    let site = site();
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20 * 1024));
    let (resp, result) = one(site.path(), &long);
    assert_eq!(
        (resp.status, resp.header("Connection")),
        (414, Some("close"))
    );
    result.unwrap();

    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(one(site.path(), &many).0.status, 431);

    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(10 * 1024)
    );
    assert_eq!(one(site.path(), &big_header).0.status, 431);

    let mut big_block = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..20 {
        big_block.push_str(&format!("X-H{i}: {}\r\n", "c".repeat(4000)));
    }
    big_block.push_str("\r\n");
    assert_eq!(one(site.path(), &big_block).0.status, 431);

    let huge_body = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n";
    assert_eq!(one(site.path(), huge_body).0.status, 413);

    for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3", "HTTP/12.0"] {
        let (resp, _) = one(site.path(), &format!("GET / {version}\r\nHost: x\r\n\r\n"));
        assert_eq!(resp.status, 505, "{version}");
    }
}

/// RFC 9110 2.5: a later minor version of HTTP/1 is served as HTTP/1.1; RFC 9112 2.3: the
/// version is `HTTP/` DIGIT "." DIGIT, so `HTTP/1.10` or `HTTP/1.` is malformed (400).
#[test]
fn later_minor_versions_are_served_and_malformed_ones_refused() {
    let site = site();
    for version in ["HTTP/1.2", "HTTP/1.9"] {
        let (resp, result) = one(
            site.path(),
            &format!("GET /hello.txt {version}\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(resp.status, 200, "{version}");
        result.unwrap();
    }
    for version in ["HTTP/1.10", "HTTP/1.", "HTTP/1", "HTTP/1.1.1", "HTTP/.1"] {
        let (resp, _) = one(
            site.path(),
            &format!("GET /hello.txt {version}\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(resp.status, 400, "{version}");
    }
}

/// RFC 9112 6.1: a request with a transfer coding the server does not understand (here
/// anything but chunked, which must come last) SHOULD get 501.
#[test]
fn unknown_transfer_codings_are_501() {
    let site = site();
    for te in ["gzip, chunked", "x-custom,chunked"] {
        let request = format!(
            "POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n"
        );
        let (resp, result) = one(site.path(), &request);
        assert_eq!(resp.status, 501, "{te}");
        assert_eq!(resp.header("Connection"), Some("close"), "{te}");
        result.unwrap();
    }
    // Chunked applied twice is malformed framing (RFC 9112 6.1's MUST NOT), not a coding
    // the server lacks.
    let twice =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(one(site.path(), twice).0.status, 400);
}

#[test]
fn directories_are_listed_or_redirected() {
    let site = site();
    let (resp, _) = one(site.path(), &req("/sub/"));
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let page = resp.text();
    assert!(page.contains("<title>Index of /sub/</title>"), "{page}");
    assert!(page.contains("<a href=\"../\">"));
    assert!(page.contains("<a href=\"a.txt\">a.txt</a>"), "{page}");
    assert!(
        page.contains("<a href=\"a%26b%3Cc%3E.txt\">a&amp;b&lt;c&gt;.txt</a>"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"sp%20ace.txt\">sp ace.txt</a>"),
        "{page}"
    );
    assert!(page.contains("<a href=\"nested/\">nested/</a>"), "{page}");
    assert!(!page.contains("<c>"));

    let (resp, _) = one(site.path(), &req("/"));
    let page = resp.text();
    assert!(!page.contains("../"));
    assert!(page.contains("<a href=\"hello.txt\">hello.txt</a>"));
    assert!(page.contains("<a href=\"sub/\">sub/</a>"));

    let (resp, _) = one(site.path(), &req("/withindex/"));
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "<p>the index</p>")
    );
    assert_eq!(
        resp.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );

    let (resp, _) = one(site.path(), &req("/s%75b/nested/"));
    assert!(resp.text().contains("deep.json"));

    for (path, location) in [
        ("/sub", "/sub/"),
        ("/sub/nested?x=1", "/sub/nested/?x=1"),
        ("/s%75b", "/s%75b/"),
        ("/withindex", "/withindex/"),
    ] {
        let (resp, _) = one(site.path(), &req(path));
        assert_eq!(resp.status, 301, "{path}");
        assert_eq!(resp.header("Location"), Some(location));
    }
}

#[test]
fn file_names_are_percent_decoded() {
    let site = site();
    let (resp, _) = one(site.path(), &req("/sub/sp%20ace.txt"));
    assert_eq!((resp.status, resp.text().as_str()), (200, "space"));
    let (resp, _) = one(site.path(), &req("/sub/a%26b%3cc%3E.txt?ignored=1"));
    assert_eq!((resp.status, resp.text().as_str()), (200, "awkward"));
    let (resp, _) = one(site.path(), &req("//sub/./a.txt"));
    assert_eq!((resp.status, resp.text().as_str()), (200, "file a"));
    let (resp, _) = one(site.path(), &req("http://example/sub/a.txt"));
    assert_eq!((resp.status, resp.text().as_str()), (200, "file a"));
    let (resp, _) = one(site.path(), &req("/sub/nested/deep.json"));
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
}

#[test]
fn expect_100_continue_gets_its_interim_response() {
    let site = site();
    let (addr, server) = spawn_server(site.path(), 1);
    let bytes = exchange(
        addr,
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
          Content-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert!(bytes.starts_with(interim));
    let r = parse_all(&bytes[interim.len()..], &[false]);
    assert_eq!(r[0].text(), "hello world");
    server.join().unwrap().pop().unwrap().unwrap();
}

#[test]
fn stats_and_access_log() {
    let site = site();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        exchange(
            addr,
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    });
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let stats = ServerStats::default();
    let mut log = Vec::new();
    let summary = serve_connection_with(&mut s, site.path(), &stats, &mut |a| {
        log.push(format!(
            "{} {} {} {}",
            a.method, a.target, a.status, a.body_bytes
        ));
    })
    .unwrap();
    drop(s);
    let bytes = client.join().unwrap();
    assert_eq!(log, ["GET /hello.txt 200 11", "HEAD /nope 404 0"]);
    assert_eq!(
        stats.snapshot(),
        StatsSnapshot {
            connections: 1,
            requests: 2,
            bytes_sent: bytes.len() as u64,
            errors: 1,
        }
    );
    assert_eq!(summary.bytes_sent, bytes.len() as u64);
}

#[test]
fn a_missing_root_is_an_error() {
    let dir = TempDir::new("noroot");
    let mut stream = MemStream::new(req("/").into_bytes(), 100);
    assert!(serve_connection(&mut stream, &dir.path().join("nope")).is_err());
    assert!(stream.out.is_empty());
}

// ---- The client against scripted servers ----

/// A server that reads one request head, answers `response` and closes, or, with
/// `linger`, waits for the client to close first. The handle gives the request.
fn scripted(response: Vec<u8>, linger: bool) -> (SocketAddr, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        s.write_all(&response).unwrap();
        if linger {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        }
        String::from_utf8(request).unwrap()
    });
    (addr, handle)
}

/// `get` against a scripted server; the result and the body written.
fn fetch(response: &[u8], linger: bool, head: bool) -> (io::Result<Response>, Vec<u8>, String) {
    let (addr, server) = scripted(response.to_vec(), linger);
    let url = parse_url(&format!("http://{addr}/p?q=1")).unwrap();
    let mut body = Vec::new();
    let result = {
        let mut s = connect(addr);
        get(&mut s, &url, head, &mut body)
    };
    (result, body, server.join().unwrap())
}

#[test]
fn client_request_headers() {
    let (result, _, request) = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, false);
    assert_eq!(result.unwrap().status, 200);
    let mut lines = request.split("\r\n");
    assert_eq!(lines.next(), Some("GET /p?q=1 HTTP/1.1"));
    let rest: Vec<&str> = lines.collect();
    assert!(rest.iter().any(|l| l.starts_with("Host: 127.0.0.1:")));
    assert!(rest.contains(&"User-Agent: tapip"));
    assert!(rest.contains(&"Connection: close"));
    assert!(rest.contains(&"Accept: */*"));

    let (_, _, request) = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, true);
    assert!(request.starts_with("HEAD /p?q=1 HTTP/1.1\r\n"));
}

#[test]
fn client_decodes_chunked_bodies() {
    let (result, body, _) = fetch(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
        true,
        false,
    );
    let resp = result.unwrap();
    assert_eq!(body, b"hello, world");
    assert_eq!(resp.body_bytes, 12);
    assert_eq!(
        resp.trailers,
        [("X-Trailer".to_string(), "yes".to_string())]
    );

    // Many chunks of many sizes, upper- and lower-case hex, no trailers, bare LFs.
    let mut rng = Rng(99);
    let data = rng.bytes(300_000);
    let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = (1 + rng.below(70_000)).min(data.len() - at);
        if i % 2 == 0 {
            wire.extend_from_slice(format!("{n:X}\r\n").as_bytes());
        } else {
            wire.extend_from_slice(format!("{n:x} \n").as_bytes());
        }
        wire.extend_from_slice(&data[at..at + n]);
        wire.extend_from_slice(b"\r\n");
        at += n;
        i += 1;
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let (result, body, _) = fetch(&wire, true, false);
    assert_eq!(result.unwrap().body_bytes, data.len() as u64);
    assert!(body == data);
}

#[test]
fn client_reads_to_eof_without_a_length() {
    let data = Rng(7).bytes(200_000);
    let mut wire = b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3\r\n\r\n".to_vec();
    wire.extend_from_slice(&data);
    let (result, body, _) = fetch(&wire, false, false);
    let resp = result.unwrap();
    assert_eq!(resp.body_bytes, data.len() as u64);
    assert_eq!(resp.header("server"), Some("SimpleHTTP/0.6 Python/3"));
    assert!(body == data);
}

/// A response whose `Transfer-Encoding` names no coding is still not framed by its
/// Content-Length: the body runs to the end of the stream (RFC 9112 6.3), as with any
/// coding but chunked last. It was read by the length, leaving the rest unread.
#[test]
fn client_reads_to_eof_when_transfer_encoding_names_no_coding() {
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\nContent-Length: 3\r\n\r\nabcdef";
    let (result, body, _) = fetch(wire, false, false);
    assert_eq!(result.unwrap().body_bytes, 6);
    assert_eq!(body, b"abcdef");
}

#[test]
fn client_reports_a_short_body() {
    let mut wire = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
    wire.extend_from_slice(&[b'x'; 40]);
    let (result, body, _) = fetch(&wire, false, false);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("40 of 100"), "{err}");
    assert_eq!(body.len(), 40);

    let (result, _, _) = fetch(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
        false,
        false,
    );
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);

    let (result, _, _) = fetch(b"", false, false);
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn client_knows_which_responses_have_no_body() {
    // The server keeps the connection open: reading a body would hang (time out).
    let (result, body, _) = fetch(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        true,
        true,
    );
    let resp = result.unwrap();
    assert_eq!((resp.status, resp.body_bytes, body.len()), (200, 0, 0));
    for status in ["204 No Content", "304 Not Modified"] {
        let wire = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
        let (result, _, _) = fetch(wire.as_bytes(), true, false);
        assert_eq!(result.unwrap().body_bytes, 0, "{status}");
    }
    let (result, body, _) = fetch(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n\
          HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
        true,
        false,
    );
    let resp = result.unwrap();
    assert_eq!((resp.status, resp.reason.as_str()), (404, "Not Found"));
    assert_eq!(body, b"no");
}

#[test]
fn client_rejects_malformed_responses() {
    for wire in [
        &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
    ] {
        let (result, _, _) = fetch(wire, false, false);
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }
    let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
    for _ in 0..200 {
        long.extend_from_slice(b"X: y\r\n");
    }
    let (result, _, _) = fetch(&long, false, false);
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::InvalidData);

    let url = Url {
        host: "a b".into(),
        port: 80,
        path: "/".into(),
    };
    let err = get(
        &mut MemStream::new(Vec::new(), 10),
        &url,
        false,
        &mut io::sink(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn url_parsing() {
    let u = |s: &str| parse_url(s).map(|u| (u.host, u.port, u.path));
    let ok = |h: &str, p: u16, path: &str| Ok((h.to_string(), p, path.to_string()));
    assert_eq!(u("http://10.0.0.2/"), ok("10.0.0.2", 80, "/"));
    assert_eq!(u("http://10.0.0.2"), ok("10.0.0.2", 80, "/"));
    assert_eq!(
        u("HTTP://10.0.0.2:8000/a/b.txt"),
        ok("10.0.0.2", 8000, "/a/b.txt")
    );
    assert_eq!(u("10.0.0.2:8000/x"), ok("10.0.0.2", 8000, "/x"));
    assert_eq!(u("example.com"), ok("example.com", 80, "/"));
    assert_eq!(u("  host/a?b=c#frag "), ok("host", 80, "/a?b=c"));
    assert_eq!(u("host?x"), ok("host", 80, "/?x"));
    assert_eq!(u("host/a b/\u{e9}"), ok("host", 80, "/a%20b/%C3%A9"));
    assert_eq!(u("host:65535"), ok("host", 65535, "/"));
    // An empty port is the default (RFC 3986 3.2.3).
    assert_eq!(u("http://host:/a"), ok("host", 80, "/a"));
    assert_eq!(u("host:"), ok("host", 80, "/"));
    assert_eq!(u("host/r?u=http://x/"), ok("host", 80, "/r?u=http://x/"));

    let err = |s: &str| {
        let e = parse_url(s).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        e
    };
    assert!(err("https://example.com/").contains("https"));
    assert!(err("HTTPS://example.com/").contains("https"));
    assert!(err("ftp://example.com/").contains("ftp"));
    assert!(err("http://host:0/").contains("port"));
    assert!(err("http://host:65536/").contains("port"));
    assert!(err("http://host:80a/").contains("port"));
    assert!(err("http://host:+80/").contains("port"));
    assert!(err("http:///path").contains("host"));
    assert!(err("http://:80/").contains("host"));
    assert!(err(":80").contains("host"));
    assert!(err("http://:/").contains("host"));
    assert!(err("").contains("empty"));
    assert!(err("http://a:b:c/").contains("port"));
    assert!(err("http://a:b:80/").contains("host"));
    assert!(err("http://us er@host/").contains("not supported"));
    assert!(err("http://[::1]:80/").contains("IPv6"));
    assert!(err("http://ho\nst/").contains("host"));

    let url = parse_url("h:8080/x").unwrap();
    assert_eq!(url.to_string(), "http://h:8080/x");
    assert_eq!(url.host_header(), "h:8080");
    assert_eq!(parse_url("h/x").unwrap().host_header(), "h");
}

// ---- Random input ----

/// An in-memory stream: reads come from `input` at most `max_read` bytes at a time,
/// writes go to `out`.
struct MemStream {
    input: Vec<u8>,
    pos: usize,
    max_read: usize,
    /// The first 64 KiB written.
    out: Vec<u8>,
    /// How many bytes were written.
    written: u64,
}

impl MemStream {
    fn new(input: Vec<u8>, max_read: usize) -> MemStream {
        MemStream {
            input,
            pos: 0,
            max_read: max_read.max(1),
            out: Vec::new(),
            written: 0,
        }
    }
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.pos..];
        let n = rest.len().min(buf.len()).min(self.max_read);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Sending large files to nowhere: keep only the start.
        if self.out.len() < 1 << 16 {
            self.out.extend_from_slice(buf);
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Random input: pure noise, or valid messages with random damage.
fn random_input(rng: &mut Rng, templates: &[&[u8]]) -> Vec<u8> {
    if rng.below(4) == 0 {
        let n = rng.below(700);
        return rng.bytes(n);
    }
    let mut v = Vec::new();
    for _ in 0..1 + rng.below(3) {
        v.extend_from_slice(templates[rng.below(templates.len())]);
    }
    for _ in 0..rng.below(6) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if at < v.len() => v[at] = rng.next() as u8,
            1 if at < v.len() => {
                v.remove(at);
            }
            2 => {
                let junk = [b'\r', b'\n', b' ', b':', b'%', b'0', b'/', b'.', b';'];
                v.insert(at, junk[rng.below(junk.len())]);
            }
            3 => v.truncate(at),
            _ => {
                let n = rng.below(40);
                let bytes = rng.bytes(n);
                v.splice(at..at, bytes);
            }
        }
    }
    v
}

#[test]
fn the_server_survives_random_input() {
    let site = site();
    let templates: [&[u8]; 8] = [
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /sub/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /sub/a%26b%3Cc%3E.txt?x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nabcd\r\n0\r\nT: 1\r\n\r\n",
        b"GET /%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /sub HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
        b"POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET http://h/withindex/ HTTP/1.1\r\nHost: h\r\n\r\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4000 {
        let input = random_input(&mut rng, &templates);
        let max_read = 1 + rng.below(64);
        let mut stream = MemStream::new(input, max_read);
        let result = serve_connection(&mut stream, site.path());
        let summary = result.unwrap();
        if !stream.out.is_empty() {
            assert!(stream.out.starts_with(b"HTTP/1.1 "));
            assert!(summary.requests > 0 || stream.out.starts_with(b"HTTP/1.1 100"));
            seen.insert(String::from_utf8_lossy(&stream.out[9..12]).into_owned());
        }
    }
    // The damage leaves enough intact to reach every part of the server.
    for status in ["100", "200", "301", "400", "403", "404", "405", "505"] {
        assert!(seen.contains(status), "{status} never seen: {seen:?}");
    }
}

#[test]
fn the_client_survives_random_input() {
    let templates: [&[u8]; 5] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nbody until eof",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 301 Moved\r\nLocation: /x/\r\nContent-Length: 0\r\n\r\n",
    ];
    let url = parse_url("http://h/").unwrap();
    let mut rng = Rng(12345);
    let (mut good, mut bad) = (0, 0);
    for _ in 0..4000 {
        let input = random_input(&mut rng, &templates);
        let max_read = 1 + rng.below(64);
        let mut stream = MemStream::new(input, max_read);
        let mut body = Vec::new();
        match get(&mut stream, &url, rng.below(4) == 0, &mut body) {
            Ok(resp) => {
                assert_eq!(resp.body_bytes, body.len() as u64);
                good += 1;
            }
            Err(_) => bad += 1,
        }
    }
    assert!(good > 500 && bad > 500, "{good} good, {bad} bad");
}

#[test]
fn a_20_mb_file_is_streamed() {
    let dir = TempDir::new("huge");
    let len = 20 * 1024 * 1024 + 1;
    fs::write(dir.path().join("huge.bin"), vec![7u8; len]).unwrap();
    let request = b"HEAD /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stream = MemStream::new(request.to_vec(), 1000);
    let summary = serve_connection(&mut stream, dir.path()).unwrap();
    assert_eq!(summary.requests, 2);
    let head_len = stream
        .out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    let head = parse_all(&stream.out[..head_len], &[true]);
    assert_eq!(head[0].header("Content-Length"), Some(&*len.to_string()));
    let head_len = head_len as u64;
    assert_eq!(summary.bytes_sent, stream.written);
    // Two heads of the same length (the Date has a fixed width) and the file once.
    assert_eq!(summary.bytes_sent, 2 * head_len + len as u64);
}

#[test]
fn idle_connections_end_and_stalled_requests_get_408() {
    let site = site();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let root = site.path().to_path_buf();
    let server = thread::spawn(move || {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            results.push(serve_connection(&mut s, &root));
        }
        results
    });
    // One request, then silence: the server gives up quietly.
    let mut s = connect(addr);
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(parse_all(&got, &[false])[0].text(), "hello world");
    // Half a request, then silence: 408.
    let mut s = connect(addr);
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHo").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let r = parse_all(&got, &[false]);
    assert_eq!(
        (r[0].status, r[0].header("Connection")),
        (408, Some("close"))
    );
    let results = server.join().unwrap();
    assert_eq!(results[0].as_ref().unwrap().requests, 1);
    assert_eq!(results[1].as_ref().unwrap().requests, 1);
}

#[test]
fn lines_split_across_reads() {
    let mut s = MemStream::new(b"one\r\ntwo\nthree\r\n\r\nrest".to_vec(), 1);
    let mut c = BufConn::new(&mut s);
    assert_eq!(c.read_line(10).unwrap(), Line::Data(b"one".to_vec()));
    assert_eq!(c.read_line(10).unwrap(), Line::Data(b"two".to_vec()));
    assert_eq!(c.read_line(4).unwrap(), Line::TooLong);
    assert_eq!(c.read_line(5).unwrap(), Line::Data(b"three".to_vec()));
    assert_eq!(c.read_line(5).unwrap(), Line::Data(Vec::new()));
    assert_eq!(c.read_line(5).unwrap(), Line::Eof { partial: true });
    let mut rest = Vec::new();
    assert_eq!(c.copy_to_eof(&mut rest).unwrap(), 4);
    assert_eq!(rest, b"rest");

    // A line longer than any limit, arriving slowly, is refused without reading it all.
    let mut s = MemStream::new(vec![b'a'; 1 << 20], 1000);
    let mut c = BufConn::new(&mut s);
    assert_eq!(c.read_line(MAX_LINE).unwrap(), Line::TooLong);
    assert!(s.pos < 3 * MAX_LINE);
}
