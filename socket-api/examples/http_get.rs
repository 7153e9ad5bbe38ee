//! An HTTP/1.0 GET on a stack of its own, over a TAP device: prints the status line and
//! headers on standard error and writes the body to standard output.
//!
//! Run it as root. The stack is 10.0.1.1/24 on tap1, the kernel's side 10.0.1.2/24 and the
//! kernel the stack's gateway, so any server the kernel reaches will do:
//!
//! ```text
//! python3 -m http.server --bind 10.0.1.2 8000 &     # once tap1 exists, or any web server
//! cargo run -p socket-api --example http_get -- http://10.0.1.2:8000/
//! ```
//!
//! Options (defaults shown): `--tap tap1 --addr 10.0.1.1/24 --host-addr 10.0.1.2/24
//! --gateway 10.0.1.2`, `--no-offload`, then `http://IP[:PORT][/PATH]` (addresses only:
//! this example looks no names up; `Stack::resolve` would).

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, TcpStream};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

fn main() {
    if let Err(e) = run() {
        eprintln!("http_get: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap1")
        .addr("10.0.1.1/24")
        .host_addr("10.0.1.2/24")
        .gateway("10.0.1.2");
    let mut url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
            "--no-host-config" => builder.no_host_config(),
            "--gateway" => builder.gateway(value()?),
            "--no-offload" => builder.offload(false),
            _ if url.is_none() && !a.starts_with('-') => {
                url = Some(a);
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let url = url.ok_or("missing URL, e.g. http://10.0.1.2:8000/")?;
    let (server, path) = parse_url(&url)?;
    let stack = builder.build().map_err(|e| e.to_string())?;

    let mut conn = TcpStream::connect(&stack, server).map_err(|e| format!("{server}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {server}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    // HTTP/1.0 without keep-alive: the response ends where the connection does.
    let mut response = Vec::new();
    conn.read_to_end(&mut response)
        .map_err(|e| format!("receive: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response has no end of headers")?;
    eprint!("{}", String::from_utf8_lossy(&response[..split + 2]));
    std::io::stdout()
        .write_all(&response[split + 4..])
        .map_err(|e| format!("stdout: {e}"))?;
    stack.shutdown();
    Ok(())
}

/// `http://A.B.C.D[:PORT][/PATH]` into the server's address and the path (`/` by default).
fn parse_url(url: &str) -> Result<(SocketAddrV4, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(format!("{url}: only http:// URLs"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (ip, port) = match host.split_once(':') {
        Some((ip, port)) => (ip, port.parse().map_err(|_| format!("{url}: bad port"))?),
        None => (host, 80),
    };
    let ip: Ipv4Addr = ip.parse().map_err(|_| {
        format!("{url}: '{ip}' is not an IPv4 address (names are not looked up here)")
    })?;
    Ok((SocketAddrV4::new(ip, port), path.to_string()))
}
