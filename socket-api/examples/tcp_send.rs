//! Send standard input to a TCP server, then end: `nc -N` on a stack of its own, over a TAP
//! device. It returns from `main` as soon as the last byte is queued, without waiting for
//! the peer: as with the kernel's sockets, the end of the program delivers what is queued
//! and the FIN (for at most `--linger` seconds, 10 by default; see `Stack::exit_linger`).
//!
//! Run it as root; the stack is 10.0.0.1/24 on tap0 and the kernel's side 10.0.0.2/24:
//!
//! ```text
//! nc -l 5000 > copy &                                     # the kernel's side
//! cargo run -p socket-api --example tcp_send -- 10.0.0.2:5000 < file
//! ```
//!
//! Options (defaults shown): `--tap tap0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24`,
//! `--no-host-config`, `--no-offload`, `--linger 10`, then `SERVER:PORT`.

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddrV4;
use std::time::Duration;

fn main() {
    if let Err(e) = run() {
        eprintln!("tcp_send: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new();
    let mut server: Option<SocketAddrV4> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
            "--no-host-config" => builder.no_host_config(),
            "--no-offload" => builder.offload(false),
            "--linger" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 1e6)
                    .ok_or(format!("--linger {v}: seconds from 0 to 1000000"))?;
                builder.exit_linger(Duration::from_secs_f64(secs))
            }
            _ if server.is_none() && !a.starts_with('-') => {
                server = Some(a.parse().map_err(|_| format!("{a}: not ADDR:PORT"))?);
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let server = server.ok_or("missing SERVER:PORT, e.g. 10.0.0.2:5000")?;
    let stack = builder.build().map_err(|e| e.to_string())?;
    let mut conn = TcpStream::connect(&stack, server).map_err(|e| format!("{server}: {e}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdin = std::io::stdin().lock();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("standard input: {e}")),
        };
        conn.write_all(&buf[..n])
            .map_err(|e| format!("{server}: {e}"))?;
    }
    // Nothing more to do here: the end of the program closes the connection and delivers
    // what it still holds.
    Ok(())
}
