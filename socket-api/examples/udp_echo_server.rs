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
//! --port 7`. Ctrl-C ends it. `udp_echo_client` is the other end.

use ip::Ipv4Cidr;
use netif::{DriverConfig, TapConfig, TapDevice};
use socket_api::{Stack, StackConfig, UdpSocket};
use std::net::Ipv4Addr;
use std::sync::Arc;

fn main() {
    if let Err(e) = run() {
        eprintln!("udp_echo_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let (mut tap, mut addr, mut host_addr, mut port) = (
        "tap0".to_string(),
        cidr("10.0.0.1/24")?,
        cidr("10.0.0.2/24")?,
        7u16,
    );
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--tap" => tap = value()?,
            "--addr" => addr = cidr(&value()?)?,
            "--host-addr" => host_addr = cidr(&value()?)?,
            "--port" => port = value()?.parse().map_err(|_| "--port: not a port")?,
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    let stack = start_stack(&tap, addr, host_addr)?;

    // The application: receive a datagram, send it back where it came from.
    let sock = UdpSocket::bind(&stack, (Ipv4Addr::UNSPECIFIED, port))
        .map_err(|e| format!("bind port {port}: {e}"))?;
    println!("echo server on udp {}:{port} ({tap})", addr.addr());
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
        println!("{n} bytes from {from}");
        if let Err(e) = sock.send_to(&buf[..n], from) {
            eprintln!("reply to {from}: {e}");
        }
    }
}

fn cidr(s: &str) -> Result<Ipv4Cidr, String> {
    s.parse().map_err(|e| format!("{s}: {e}"))
}

/// A stack with one interface, the TAP: `addr` on it, the kernel side at `host_addr` and
/// the kernel as the default gateway.
fn start_stack(tap: &str, addr: Ipv4Cidr, host_addr: Ipv4Cidr) -> Result<Stack, String> {
    let dev = TapDevice::open(&TapConfig {
        name: tap.to_string(),
        mac: "02:00:00:00:00:01".parse().map_err(|_| "bad MAC address")?,
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
