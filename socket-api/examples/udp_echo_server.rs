//! A UDP echo server (RFC 862) on a stack of its own, over a TAP device. Past the stack's
//! setup it is the code one would write with `std::net::UdpSocket`.
//!
//! Run it as root (opening a TAP needs CAP_NET_ADMIN). The stack is 10.0.0.1/24 on tap0,
//! the kernel side of the tap 10.0.0.2/24, and the kernel is the stack's default gateway:
//!
//! ```text
//! cargo run -p socket-api --example udp_echo_server -- --tap tap0 --addr 10.0.0.1/24 --port 7
//! echo hi | nc -u -w1 10.0.0.1 7      # in another terminal: prints "hi"
//! ```
//!
//! Options (defaults shown): `--tap tap0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24
//! --gateway 10.0.0.2 --port 7`, `--no-offload`. Ctrl-C ends it. `udp_echo_client` is the other end.

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, UdpSocket};
use std::net::Ipv4Addr;

fn main() {
    if let Err(e) = run() {
        eprintln!("udp_echo_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap0")
        .addr("10.0.0.1/24")
        .host_addr("10.0.0.2/24")
        .gateway("10.0.0.2")
        .mac("02:00:00:00:00:01");
    let mut port = 7u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
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

    // The application: receive a datagram, send it back where it came from.
    let sock = UdpSocket::bind(&stack, (Ipv4Addr::UNSPECIFIED, port))
        .map_err(|e| format!("bind port {port}: {e}"))?;
    println!("echo server on udp port {port}");
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
        println!("{n} bytes from {from}");
        if let Err(e) = sock.send_to(&buf[..n], from) {
            eprintln!("reply to {from}: {e}");
        }
    }
}
