//! A server with a thread per listener: each worker binds its own TCP listener and UDP
//! socket to the same port with `SO_REUSEPORT`, and the stack spreads the connections and
//! the datagrams over the workers, each flow to one of them.
//!
//! Run it as root (opening a TAP needs CAP_NET_ADMIN). The stack is 10.0.0.1/24 on tap0,
//! the kernel's side of the tap 10.0.0.2/24:
//!
//! ```text
//! cargo run -p socket-api --example reuseport_server
//! nc 10.0.0.1 7          # in another terminal: "worker K" first, then each line back
//! nc -u 10.0.0.1 7       # each datagram comes back after "worker K: "
//! ```
//!
//! Options (defaults shown): `--tap tap0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24
//! --port 7 --workers 2`; `--no-host-config` leaves the kernel's side alone (TOP1),
//! `--no-offload` turns the TAP's offloads off. Ctrl-C ends it.

#![forbid(unsafe_code)]

use socket_api::{StackBuilder, TcpListener, TcpStream, UdpSocket};
use std::io::{Read, Write};
use std::net::Ipv4Addr;

fn main() {
    if let Err(e) = run() {
        eprintln!("reuseport_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap0")
        .addr("10.0.0.1/24")
        .host_addr("10.0.0.2/24");
    let (mut port, mut workers) = (7u16, 2usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
            "--no-host-config" => builder.no_host_config(),
            "--no-offload" => builder.offload(false),
            "--port" => {
                port = value()?.parse().map_err(|_| "--port: not a port")?;
                builder
            }
            "--workers" => {
                workers = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or("--workers: a number from 1 to 64")?;
                builder
            }
            _ => return Err(format!("unknown argument '{a}'")),
        };
    }
    let stack = builder.build().map_err(|e| e.to_string())?;
    let at = (Ipv4Addr::UNSPECIFIED, port);
    let mut threads = Vec::new();
    for k in 0..workers {
        let listener = TcpListener::bind_reuse_port(&stack, at)
            .map_err(|e| format!("worker {k}: bind tcp port {port}: {e}"))?;
        let udp = UdpSocket::bind_reuse_port(&stack, at)
            .map_err(|e| format!("worker {k}: bind udp port {port}: {e}"))?;
        threads.push(std::thread::spawn(move || udp_worker(k, udp)));
        threads.push(std::thread::spawn(move || tcp_worker(k, listener)));
    }
    println!("{workers} workers on tcp and udp port {port}");
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Accept this worker's connections, one at a time: "worker K" first, then an echo.
fn tcp_worker(k: usize, listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => echo(k, conn),
            Err(e) => {
                eprintln!("worker {k}: accept: {e}");
                return;
            }
        }
    }
}

fn echo(k: usize, mut conn: TcpStream) {
    let peer = conn.peer_addr().map_or("?".to_string(), |a| a.to_string());
    println!("worker {k}: tcp from {peer}");
    if conn.write_all(format!("worker {k}\n").as_bytes()).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if conn.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Answer each datagram with "worker K: " and the datagram.
fn udp_worker(k: usize, udp: UdpSocket) {
    let mut buf = [0u8; 2048];
    loop {
        match udp.recv_from(&mut buf) {
            Ok((n, from)) => {
                println!("worker {k}: udp from {from}");
                let mut reply = format!("worker {k}: ").into_bytes();
                reply.extend_from_slice(&buf[..n]);
                if let Err(e) = udp.send_to(&reply, from) {
                    eprintln!("worker {k}: send to {from}: {e}");
                }
            }
            Err(e) => {
                eprintln!("worker {k}: receive: {e}");
                return;
            }
        }
    }
}
