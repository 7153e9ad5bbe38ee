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
//! --host-addr 10.0.1.2/24 --count 3`, then `SERVER:PORT`.

use ip::Ipv4Cidr;
use netif::{DriverConfig, TapConfig, TapDevice};
use socket_api::{Stack, StackConfig, UdpSocket};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("udp_echo_client: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let (mut tap, mut addr, mut host_addr, mut count) = (
        "tap1".to_string(),
        cidr("10.0.1.1/24")?,
        cidr("10.0.1.2/24")?,
        3u32,
    );
    let mut server: Option<SocketAddrV4> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--tap" => tap = value()?,
            "--addr" => addr = cidr(&value()?)?,
            "--host-addr" => host_addr = cidr(&value()?)?,
            "--count" => count = value()?.parse().map_err(|_| "--count: not a number")?,
            _ if server.is_none() && !a.starts_with('-') => {
                server = Some(a.parse().map_err(|_| format!("{a}: not ADDR:PORT"))?)
            }
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    let server = server.ok_or("missing SERVER:PORT, e.g. 10.0.0.1:7")?;
    let stack = start_stack(&tap, addr, host_addr)?;

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
            Err(e) if e.kind() == ErrorKind::TimedOut => println!("{msg:?}: no reply within 1 s"),
            Err(e) => println!("{msg:?}: {e}"),
        }
    }
    stack.shutdown();
    Ok(())
}

fn cidr(s: &str) -> Result<Ipv4Cidr, String> {
    s.parse().map_err(|e| format!("{s}: {e}"))
}

/// A stack with one interface, the TAP: `addr` on it, the kernel side at `host_addr` and
/// the kernel as the default gateway.
fn start_stack(tap: &str, addr: Ipv4Cidr, host_addr: Ipv4Cidr) -> Result<Stack, String> {
    let dev = TapDevice::open(&TapConfig {
        name: tap.to_string(),
        mac: "02:00:00:00:00:02".parse().map_err(|_| "bad MAC address")?,
        host_addr: Some((host_addr.addr(), host_addr.prefix())),
        offload: true,
    })
    .map_err(|e| e.to_string())?;
    let stack = Stack::new(StackConfig::default()).map_err(|e| e.to_string())?;
    let ifindex = stack
        .add_device(Arc::new(dev), DriverConfig::default())
        .map_err(|e| e.to_string())?;
    stack.with_core(|c, now| -> Result<(), String> {
        c.ip.set_address(ifindex, Some(addr), now)
            .map_err(|e| e.to_string())?;
        c.ip.set_up(ifindex, true, now).map_err(|e| e.to_string())?;
        let default = cidr("0.0.0.0/0")?;
        c.ip.add_route(default, Some(host_addr.addr()), None)
            .map_err(|e| e.to_string())?;
        Ok(())
    })?;
    Ok(stack)
}
