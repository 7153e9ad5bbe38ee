//! TCP urgent data (RFC 9293 3.8.5; `MSG_OOB`, `SIOCATMARK`, POLLPRI) on a stack of its
//! own, over a TAP device, both ways.
//!
//! Run it as root (opening a TAP needs CAP_NET_ADMIN). The stack is 10.0.0.1/24 on tap0,
//! the kernel's side of the tap 10.0.0.2/24:
//!
//! ```text
//! cargo run -p socket-api --example tcp_urgent                  # a server on port 7
//! cargo run -p socket-api --example tcp_urgent -- --connect 10.0.0.2:7001
//! ```
//!
//! As a server, for each connection: `poll` waits for data or urgent data (POLLIN |
//! POLLPRI); it says when urgent data is pending, and where the mark is (`at_mark`: the next
//! byte read is the urgent one; a read never goes past it in one call), then what arrived,
//! the urgent byte inline. With `--connect`, it sends "abc", the urgent "!" (`send_urgent`,
//! `send` with `MSG_OOB`), then "def", and closes.
//!
//! Options (defaults shown): `--tap tap0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24
//! --port 7`; `--no-offload` turns the TAP's offloads off. Ctrl-C ends the server.

#![forbid(unsafe_code)]

use socket_api::{poll, Interest, PollFd, StackBuilder, TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown};

fn main() {
    if let Err(e) = run() {
        eprintln!("tcp_urgent: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap0")
        .addr("10.0.0.1/24")
        .host_addr("10.0.0.2/24");
    let mut port = 7u16;
    let mut connect = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
            "--no-offload" => builder.offload(false),
            "--port" => {
                port = value()?.parse().map_err(|_| "--port: not a port")?;
                builder
            }
            "--connect" => {
                connect = Some(value()?);
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let stack = builder.build().map_err(|e| e.to_string())?;
    if let Some(peer) = connect {
        let mut conn = TcpStream::connect(&stack, peer.as_str())
            .map_err(|e| format!("connect {peer}: {e}"))?;
        conn.write_all(b"abc").map_err(|e| e.to_string())?;
        conn.socket().send_urgent(b"!").map_err(|e| e.to_string())?;
        conn.write_all(b"def").map_err(|e| e.to_string())?;
        conn.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
        // The peer's close: everything was delivered.
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).map_err(|e| e.to_string())?;
        println!("sent \"abc\", urgent \"!\", \"def\"");
        stack.shutdown();
        return Ok(());
    }
    let listener = TcpListener::bind(&stack, (Ipv4Addr::UNSPECIFIED, port))
        .map_err(|e| format!("bind port {port}: {e}"))?;
    println!("urgent server on tcp port {port}");
    for conn in listener.incoming() {
        let conn = conn.map_err(|e| format!("accept: {e}"))?;
        if let Err(e) = receive(&conn) {
            println!("{e}");
        }
    }
    Ok(())
}

/// Read one connection to its end, telling of urgent data and the mark.
fn receive(conn: &TcpStream) -> Result<(), String> {
    let (mut data, mut pending, mut marked) = (Vec::new(), false, false);
    let mut buf = [0u8; 1024];
    loop {
        let mut fds = [PollFd::new(conn.socket(), Interest::READABLE_URGENT)];
        poll(&mut fds, None).map_err(|e| format!("poll: {e}"))?;
        if fds[0].urgent && !pending {
            pending = true;
            println!("urgent data pending");
        }
        // Before each read: a read stops just before the urgent byte, so the mark is
        // seen before the urgent byte is read.
        if conn.socket().at_mark().map_err(|e| e.to_string())? && !marked {
            marked = true;
            println!("at the mark after {} bytes", data.len());
        }
        let mut r = conn;
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    println!("received {:?}", String::from_utf8_lossy(&data));
    Ok(())
}
