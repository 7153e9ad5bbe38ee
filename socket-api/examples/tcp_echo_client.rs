//! A TCP echo client on a stack of its own, over a TAP device: sends each line of its
//! standard input to an echo server and prints what comes back, then closes its side and
//! reports the bytes both ways. Past the stack's setup it is the code one would write with
//! `std::net::TcpStream`.
//!
//! Run it as root. The stack is 10.0.1.1/24 on tap1, the kernel's side 10.0.1.2/24 and the
//! kernel the stack's gateway. With `tcp_echo_server` on tap0 the kernel routes between
//! the two taps:
//!
//! ```text
//! cargo run -p socket-api --example tcp_echo_server                  # terminal 1 (tap0)
//! sysctl -w net.ipv4.ip_forward=1                                     # let the kernel route
//! echo hello | cargo run -p socket-api --example tcp_echo_client -- 10.0.0.1:7   # tap1
//! ```
//!
//! Any echo server reachable through the kernel will do, e.g. the tapip shell's
//! `serve echo`, or `socat TCP4-LISTEN:7,fork,reuseaddr EXEC:cat` on the kernel's side (then
//! the address is 10.0.1.2:7). Options (defaults shown): `--tap tap1 --addr 10.0.1.1/24
//! --host-addr 10.0.1.2/24 --gateway 10.0.1.2`, `--no-offload`, then `SERVER:PORT`.

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, TcpStream};
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::time::Duration;

fn main() {
    if let Err(e) = run() {
        eprintln!("tcp_echo_client: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap1")
        .addr("10.0.1.1/24")
        .host_addr("10.0.1.2/24")
        .gateway("10.0.1.2");
    let mut server: Option<SocketAddrV4> = None;
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
            _ if server.is_none() && !a.starts_with('-') => {
                server = Some(a.parse().map_err(|_| format!("{a}: not ADDR:PORT"))?);
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let server = server.ok_or("missing SERVER:PORT, e.g. 10.0.0.1:7")?;
    let stack = builder.build().map_err(|e| e.to_string())?;

    let mut conn = TcpStream::connect(&stack, server).map_err(|e| format!("{server}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let (mut sent, mut received) = (0usize, 0usize);
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))? + "\n";
        conn.write_all(line.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        sent += line.len();
        let mut back = vec![0u8; line.len()];
        conn.read_exact(&mut back)
            .map_err(|e| format!("echo: {e}"))?;
        received += back.len();
        print!("{}", String::from_utf8_lossy(&back));
    }
    // Our FIN; the server answers with its own, and read returns 0.
    conn.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .map_err(|e| format!("close: {e}"))?;
    received += rest.len();
    eprintln!("sent {sent} bytes, received {received} bytes");
    stack.shutdown();
    Ok(())
}
