//! A TCP echo server (RFC 862) on a stack of its own, over a TAP device: a thread per
//! connection, as one would write it with `std::net::TcpListener`.
//!
//! Run it as root (opening a TAP needs CAP_NET_ADMIN). The stack is 10.0.0.1/24 on tap0,
//! the kernel's side of the tap 10.0.0.2/24 and the kernel the stack's gateway:
//!
//! ```text
//! cargo run -p socket-api --example tcp_echo_server
//! nc 10.0.0.1 7                      # in another terminal: each line comes back
//! ```
//!
//! Options (defaults shown): `--tap tap0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24
//! --gateway 10.0.0.2 --port 7`; `--no-host-config` leaves the kernel's side alone (TOP1),
//! `--no-offload` turns the TAP's offloads off. Ctrl-C ends it. `tcp_echo_client` is the
//! other end.

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::Ipv4Addr;

fn main() {
    if let Err(e) = run() {
        eprintln!("tcp_echo_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap0")
        .addr("10.0.0.1/24")
        .host_addr("10.0.0.2/24")
        .gateway("10.0.0.2");
    let mut port = 7u16;
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
            "--port" => {
                port = value()?.parse().map_err(|_| "--port: not a port")?;
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let stack = builder.build().map_err(|e| e.to_string())?;

    let listener = TcpListener::bind(&stack, (Ipv4Addr::UNSPECIFIED, port))
        .map_err(|e| format!("bind port {port}: {e}"))?;
    println!("echo server on tcp port {port}");
    for conn in listener.incoming() {
        let conn = conn.map_err(|e| format!("accept: {e}"))?;
        std::thread::spawn(move || echo(conn));
    }
    Ok(())
}

/// Send back what arrives until the peer closes, then close too.
fn echo(mut conn: TcpStream) {
    let peer = conn.peer_addr().map_or("?".to_string(), |a| a.to_string());
    println!("{peer}: connected");
    let (mut buf, mut total) = ([0u8; 16 * 1024], 0u64);
    let end = loop {
        match conn.read(&mut buf) {
            Ok(0) => break "closed".to_string(),
            Ok(n) => match conn.write_all(&buf[..n]) {
                Ok(()) => total += n as u64,
                Err(e) => break e.to_string(),
            },
            Err(e) => break e.to_string(),
        }
    };
    println!("{peer}: {end} after {total} bytes");
}
