//! A UDP echo client on a stack of its own, over a TAP device: sends a few datagrams to
//! an echo server and prints each reply with its round-trip time. Past the stack's setup
//! it is the code one would write with `std::net::UdpSocket`.
//!
//! Run it as root (opening a TAP needs CAP_NET_ADMIN). The stack is 10.0.1.1/24 on tap1,
//! the kernel side of the tap 10.0.1.2/24, and the kernel is the stack's default gateway.
//! With `udp_echo_server` on tap0, the kernel routes between the two taps:
//!
//! ```text
//! cargo run -p socket-api --example udp_echo_server             # terminal 1 (tap0)
//! sysctl -w net.ipv4.ip_forward=1                                # let the kernel route
//! cargo run -p socket-api --example udp_echo_client -- 10.0.0.1:7  # terminal 2 (tap1)
//! ```
//!
//! Any echo server reachable through the kernel will do, e.g. the tapip shell's
//! `serve echo -u`, or `socat UDP4-RECVFROM:7,fork EXEC:cat` on the kernel side (then
//! the address is 10.0.1.2:7). Options (defaults shown): `--tap tap1 --addr 10.0.1.1/24
//! --host-addr 10.0.1.2/24 --gateway 10.0.1.2 --count 3`, `--no-offload`, then
//! `SERVER:PORT`.

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, UdpSocket};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("udp_echo_client: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap1")
        .addr("10.0.1.1/24")
        .host_addr("10.0.1.2/24")
        .gateway("10.0.1.2")
        .mac("02:00:00:00:00:02");
    let mut count = 3u32;
    let mut server: Option<SocketAddrV4> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
            "--gateway" => builder.gateway(value()?),
            "--no-offload" => builder.offload(false),
            "--count" => {
                count = value()?.parse().map_err(|_| "--count: not a number")?;
                builder
            }
            _ if server.is_none() && !a.starts_with('-') => {
                server = Some(a.parse().map_err(|_| format!("{a}: not ADDR:PORT"))?);
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let server = server.ok_or("missing SERVER:PORT, e.g. 10.0.0.1:7")?;
    let stack = builder.build().map_err(|e| e.to_string())?;

    // The application: send, wait for the echo, report the round trip.
    let sock = UdpSocket::bind(&stack, (Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_536];
    for i in 1..=count {
        let msg = format!("hello {i}");
        let sent = Instant::now();
        sock.send_to(msg.as_bytes(), server)
            .map_err(|e| format!("send to {server}: {e}"))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                let text = String::from_utf8_lossy(&buf[..n]);
                println!("{n} bytes from {from}: {text:?} time={ms:.3} ms");
            }
            // The read timeout passed (EAGAIN, as on Linux).
            Err(e) if e.kind() == ErrorKind::WouldBlock => println!("{msg:?}: no reply within 1 s"),
            Err(e) => println!("{msg:?}: {e}"),
        }
    }
    stack.shutdown();
    Ok(())
}
