//! UDP throughput and latency between the stack and the Linux kernel (BENCHMARKS.md).
//!
//! One binary, five roles; `scripts/bench-udp.sh` runs them in a namespace:
//! - `stack-sink PORT SECS`: a stack on tap0 (10.0.0.1/24, kernel side 10.0.0.2/24) counts
//!   the datagrams a UdpSocket receives on PORT, from the first one on, for SECS seconds.
//! - `stack-source DST:PORT SIZE SECS`: the stack sends SIZE-byte datagrams as fast as it can.
//! - `kernel-source DST:PORT SIZE SECS` / `kernel-sink PORT SECS`: the same with std::net,
//!   run on the kernel side.
//! - `kernel-echo DST:PORT SIZE COUNT`: round trips through an echo service; prints the
//!   median in microseconds.
//!
//! Each prints one line: `datagrams=N bytes=B secs=T pps=P gbps=G` (or `median_us=M`).

#![forbid(unsafe_code)]

use netif::{DriverConfig, TapConfig, TapDevice};
use socket_api::{Stack, StackConfig, UdpSocket};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn stack() -> Stack {
    let tap = TapDevice::open(&TapConfig {
        name: "tap0".into(),
        mac: "00:34:45:67:89:ab".parse().expect("mac"),
        host_addr: Some(("10.0.0.2".parse().expect("ip"), 24)),
        offload: true,
        uring: true,
        uring_rx: false,
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    let stack = Stack::new(StackConfig::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let ifx = stack
        .add_device(Arc::new(tap), DriverConfig::default())
        .unwrap_or_else(|e| fail(&e.to_string()));
    stack.with_core(|c, now| {
        c.ip.set_up(ifx, true, now).expect("up");
        c.ip.set_address(ifx, Some("10.0.0.1/24".parse().expect("cidr")), now)
            .expect("address");
    });
    stack
}

fn fail(msg: &str) -> ! {
    eprintln!("udp_bench: {msg}");
    std::process::exit(1)
}

fn report(n: u64, bytes: u64, secs: f64) {
    println!(
        "datagrams={n} bytes={bytes} secs={secs:.3} pps={:.0} gbps={:.3}",
        n as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e9
    );
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| fail(&format!("bad or missing argument {i}")))
}

/// Receive until `secs` after the first datagram (or 5 s of silence).
fn sink(recv: &mut dyn FnMut(&mut [u8]) -> std::io::Result<usize>, secs: f64) {
    let mut buf = vec![0u8; 65536];
    let (mut n, mut bytes) = (0u64, 0u64);
    let (mut start, mut last) = (None, Instant::now());
    loop {
        match recv(&mut buf) {
            Ok(len) => {
                let t0 = *start.get_or_insert_with(Instant::now);
                last = Instant::now();
                n += 1;
                bytes += len as u64;
                if t0.elapsed().as_secs_f64() >= secs {
                    break;
                }
            }
            Err(_) if start.is_none() => fail("no datagram arrived"),
            Err(_) => break,
        }
    }
    // From the first datagram to the last (not to the silence that ended the wait).
    let secs = start.map_or(0.0, |t| (last - t).as_secs_f64()).max(1e-9);
    report(n, bytes, secs);
}

fn source(send: &mut dyn FnMut(&[u8]) -> std::io::Result<usize>, size: usize, secs: f64) {
    let buf = vec![0x5au8; size];
    let start = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            if send(&buf).is_ok() {
                n += 1;
                bytes += size as u64;
            }
        }
    }
    report(n, bytes, start.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("stack-sink") => {
            let (port, secs): (u16, f64) = (arg(&args, 2), arg(&args, 3));
            let s = stack();
            let sock =
                UdpSocket::bind(&s, ("0.0.0.0", port)).unwrap_or_else(|e| fail(&e.to_string()));
            sock.socket()
                .set_option(socket_api::SockOpt::RecvBuffer(8 << 20))
                .ok();
            sock.set_read_timeout(Some(Duration::from_secs(5))).ok();
            println!("ready");
            sink(&mut |b| sock.recv(b), secs);
            s.shutdown();
        }
        Some("stack-source") => {
            let (dst, size, secs): (SocketAddr, usize, f64) =
                (arg(&args, 2), arg(&args, 3), arg(&args, 4));
            let s = stack();
            let sock = UdpSocket::bind(&s, "0.0.0.0:0").unwrap_or_else(|e| fail(&e.to_string()));
            // Resolve the kernel's MAC before timing (a port the sink does not listen on).
            let warm = SocketAddr::new(dst.ip(), 9);
            let _ = sock.send_to(b"warm-up", warm);
            std::thread::sleep(Duration::from_millis(300));
            source(&mut |b| sock.send_to(b, dst), size, secs);
            s.shutdown();
        }
        Some("kernel-source") => {
            let (dst, size, secs): (SocketAddr, usize, f64) =
                (arg(&args, 2), arg(&args, 3), arg(&args, 4));
            let sock =
                std::net::UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| fail(&e.to_string()));
            source(&mut |b| sock.send_to(b, dst), size, secs);
        }
        Some("kernel-sink") => {
            let (port, secs): (u16, f64) = (arg(&args, 2), arg(&args, 3));
            let sock = std::net::UdpSocket::bind(("0.0.0.0", port))
                .unwrap_or_else(|e| fail(&e.to_string()));
            sock.set_read_timeout(Some(Duration::from_secs(5))).ok();
            println!("ready");
            sink(&mut |b| sock.recv(b), secs);
        }
        Some("kernel-echo") => {
            let (dst, size, count): (SocketAddr, usize, usize) =
                (arg(&args, 2), arg(&args, 3), arg(&args, 4));
            let sock =
                std::net::UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| fail(&e.to_string()));
            sock.connect(dst).unwrap_or_else(|e| fail(&e.to_string()));
            sock.set_read_timeout(Some(Duration::from_secs(1))).ok();
            let buf = vec![7u8; size];
            let mut back = vec![0u8; 65536];
            let mut rtts = Vec::with_capacity(count);
            for _ in 0..count {
                let t = Instant::now();
                if sock.send(&buf).is_ok() && sock.recv(&mut back).is_ok() {
                    rtts.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            rtts.sort_by(f64::total_cmp);
            let median = rtts.get(rtts.len() / 2).copied().unwrap_or(f64::NAN);
            println!("replies={} median_us={median:.1}", rtts.len());
        }
        _ => fail(
            "usage: udp_bench stack-sink|stack-source|kernel-source|kernel-sink|kernel-echo ...",
        ),
    }
}
