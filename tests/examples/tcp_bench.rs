//! TCP throughput, connection rate and memory between the stack and the Linux kernel
//! (BENCHMARKS.md). One binary, several roles; `scripts/bench-tcp.sh` runs them in a
//! namespace. The stack side is tap0 at 10.0.0.1/24, the kernel side 10.0.0.2/24.
//!
//! - `stack-sink PORT` / `kernel-sink PORT`: accept one connection, read until EOF.
//! - `stack-source DST:PORT SECS` / `kernel-source DST:PORT SECS`: connect, write for SECS.
//!   Sinks print `bytes=B secs=T gbps=G` (from the first byte to EOF).
//! - `stack-rr PORT`: accept connections for ever; each: read one request, answer, close.
//! - `kernel-rr DST:PORT SECS`: connect, one request, read the answer to EOF, close, again
//!   for SECS; prints `conns=N secs=T per_sec=R`.
//! - `stack-idle PORT N`: accept N connections, then print the process's resident size
//!   before and after (`rss_before_kib=.. rss_after_kib=.. per_conn_bytes=..`) and hold
//!   them until stdin closes. `kernel-idle DST:PORT N`: open N connections and hold them.
//!
//! The client of `scripts/bench-vs-smoltcp.sh`, the same for every server it measures:
//! - `client-write DST:PORT SECS [CC]`: connect (to a discard server), write for SECS, close
//!   the sending side and wait for the server's close; CC (`cubic`, `bbr`, `reno`) sets
//!   the socket's congestion control (`TCP_CONGESTION`) once connected, before the first
//!   write, otherwise the system's default serves; `client-read DST:PORT SECS`:
//!   connect (to a chargen server) and read for SECS from the first byte. Both print
//!   `bytes=B secs=T gbps=G` (client-write: from the first write to the server's close).
//! - `kernel-serve`: discard on port 9 and chargen on port 19 on the kernel's own TCP (a
//!   thread per connection), the third column of that comparison.
//!
//! And UDP: `stack-udp-flood DST:PORT THREADS COUNT SIZE [STAGED]`: THREADS threads send
//! COUNT datagrams of SIZE bytes each on one blocking socket of the stack, as fast as they
//! can, the tap's transmit queue bounded at STAGED bytes (`DriverConfig::staged_bytes`,
//! 16 MiB by default); prints `sent=N secs=T tx_dropped_queue_full=D` (the tap's drops for
//! a full queue). `stack-udp-flood ... STAGED nonblocking`: the socket is non-blocking, and
//! a sender told `WouldBlock` waits in `poll` until it is writable, then sends the datagram
//! again; also prints `refused=R` (the sends told to wait).

#![deny(unsafe_code)]

use netif::{DriverConfig, TapConfig, TapDevice};
use socket_api::{Stack, StackConfig, TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn stack() -> Stack {
    stack_with(DriverConfig::default())
}

fn stack_with(driver: DriverConfig) -> Stack {
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
    // TAPIP_FAULT="loss=0.1,seed=1" impairs what the stack receives (FaultConfig syntax).
    let dev: Arc<dyn netif::Device> = match std::env::var("TAPIP_FAULT") {
        Ok(spec) => {
            let cfg: netif::FaultConfig = spec.parse().unwrap_or_else(|e| fail(&format!("{e}")));
            Arc::new(netif::FaultInjector::new(tap, cfg))
        }
        Err(_) => Arc::new(tap),
    };
    let ifx = stack
        .add_device(dev, driver)
        .unwrap_or_else(|e| fail(&e.to_string()));
    stack.with_core(|c, now| {
        c.ip.set_up(ifx, true, now).expect("up");
        c.ip.set_address(ifx, Some("10.0.0.1/24".parse().expect("cidr")), now)
            .expect("address");
    });
    stack
}

fn fail(msg: &str) -> ! {
    eprintln!("tcp_bench: {msg}");
    std::process::exit(1)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| fail(&format!("bad or missing argument {i}")))
}

fn sink(r: &mut dyn Read) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    let mut start = None;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                start.get_or_insert_with(Instant::now);
                bytes += n as u64;
            }
            Err(e) => fail(&format!("read: {e}")),
        }
    }
    let secs = start
        .map_or(0.0, |t: Instant| t.elapsed().as_secs_f64())
        .max(1e-9);
    println!(
        "bytes={bytes} secs={secs:.3} gbps={:.3}",
        bytes as f64 * 8.0 / secs / 1e9
    );
}

fn source(w: &mut dyn Write, secs: f64) {
    let buf = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        if let Err(e) = w.write_all(&buf) {
            fail(&format!("write: {e}"));
        }
    }
}

fn report(bytes: u64, secs: f64) {
    let secs = secs.max(1e-9);
    println!(
        "bytes={bytes} secs={secs:.3} gbps={:.3}",
        bytes as f64 * 8.0 / secs / 1e9
    );
}

/// Write for `secs`, close the sending side, wait (at most 10 s) for the peer's close.
fn client_write(dst: SocketAddr, secs: f64, cc: Option<&str>) {
    let mut c =
        std::net::TcpStream::connect(dst).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    if let Some(cc) = cc {
        set_congestion(&c, cc).unwrap_or_else(|e| fail(&format!("TCP_CONGESTION {cc}: {e}")));
    }
    let buf = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        match c.write(&buf) {
            Ok(n) => bytes += n as u64,
            Err(e) => fail(&format!("write: {e}")),
        }
    }
    let _ = c.shutdown(std::net::Shutdown::Write);
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut rest = [0u8; 4096];
    while matches!(c.read(&mut rest), Ok(n) if n > 0) {}
    report(bytes, start.elapsed().as_secs_f64());
}

/// Set the socket's congestion control algorithm (Linux `TCP_CONGESTION`), which std has
/// no call for.
#[allow(unsafe_code)]
fn set_congestion(c: &std::net::TcpStream, cc: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let name = cc.as_bytes();
    // SAFETY: the descriptor is the open socket `c` borrows for the whole call, and the
    // option value is `name`'s bytes with their exact length; the kernel only reads them
    // (at most TCP_CA_NAME_MAX - 1 of them, ending the copy with a NUL of its own, so
    // `name` needs none).
    let r = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Read for `secs` from the first byte, then close.
fn client_read(dst: SocketAddr, secs: f64) {
    let mut c =
        std::net::TcpStream::connect(dst).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    let mut start = None;
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let t = *start.get_or_insert_with(Instant::now);
                bytes += n as u64;
                if t.elapsed().as_secs_f64() >= secs {
                    break;
                }
            }
            Err(e) => fail(&format!("read: {e}")),
        }
    }
    report(bytes, start.map_or(0.0, |t| t.elapsed().as_secs_f64()));
}

/// Discard and chargen on the kernel's TCP, one thread per connection, until killed.
fn kernel_serve() {
    let serve = |port: u16, chargen: bool| {
        let l = std::net::TcpListener::bind(("0.0.0.0", port))
            .unwrap_or_else(|e| fail(&format!("bind {port}: {e}")));
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut c = c;
                    if chargen {
                        let line: Vec<u8> = (0..95u8)
                            .flat_map(|i| {
                                (0..72u8).map(move |j| b' ' + (i + j) % 95).chain(*b"\r\n")
                            })
                            .collect();
                        let buf: Vec<u8> = line.iter().cycle().take(256 * 1024).copied().collect();
                        while c.write_all(&buf).is_ok() {}
                    } else {
                        let mut buf = vec![0u8; 256 * 1024];
                        while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
                    }
                });
            }
        })
    };
    let a = serve(9, false);
    let _b = serve(19, true);
    println!("ready");
    let _ = a.join();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("stack-sink") => {
            let port: u16 = arg(&args, 2);
            let s = stack();
            let l = TcpListener::bind(&s, ("0.0.0.0", port)).unwrap_or_else(|e| fail(&e.to_string()));
            println!("ready");
            if std::env::var("TAPIP_DEBUG").is_ok() {
                let s2 = s.clone();
                std::thread::spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(2));
                    let (st, socks, ip) = s2.with_core(|c, _| {
                        (c.transport.tcp_stats(), c.transport.sockets(), c.ip.stats())
                    });
                    eprintln!("{st:?}\n{ip:?}");
                    for so in socks {
                        eprintln!("{} rx={} {:?}", so.state, so.rx_bytes, so.tcp);
                    }
                });
            }
            let (mut c, _) = l.accept().unwrap_or_else(|e| fail(&e.to_string()));
            sink(&mut c);
            drop(c);
            std::thread::sleep(Duration::from_millis(200));
            s.shutdown();
        }
        Some("kernel-sink") => {
            let port: u16 = arg(&args, 2);
            let l = std::net::TcpListener::bind(("0.0.0.0", port))
                .unwrap_or_else(|e| fail(&e.to_string()));
            println!("ready");
            let (mut c, _) = l.accept().unwrap_or_else(|e| fail(&e.to_string()));
            sink(&mut c);
        }
        Some("stack-source") => {
            let (dst, secs): (SocketAddr, f64) = (arg(&args, 2), arg(&args, 3));
            let s = stack();
            let mut c = TcpStream::connect(&s, dst).unwrap_or_else(|e| fail(&e.to_string()));
            source(&mut c, secs);
            c.shutdown(std::net::Shutdown::Write).ok();
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
            s.shutdown();
        }
        Some("kernel-source") => {
            let (dst, secs): (SocketAddr, f64) = (arg(&args, 2), arg(&args, 3));
            let mut c = std::net::TcpStream::connect(dst).unwrap_or_else(|e| fail(&e.to_string()));
            source(&mut c, secs);
        }
        Some("stack-rr") => {
            let port: u16 = arg(&args, 2);
            let s = stack();
            let l = TcpListener::bind(&s, ("0.0.0.0", port)).unwrap_or_else(|e| fail(&e.to_string()));
            println!("ready");
            let mut buf = [0u8; 512];
            loop {
                let Ok((mut c, _)) = l.accept() else { break };
                if c.read(&mut buf).is_ok() {
                    let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
                // The client closes first (it reads to EOF after our FIN), so TIME-WAIT
                // stays on the kernel side as with a usual server.
                let _ = c.shutdown(std::net::Shutdown::Write);
                let _ = c.read(&mut buf);
            }
        }
        Some("kernel-rr") => {
            let (dst, secs): (SocketAddr, f64) = (arg(&args, 2), arg(&args, 3));
            let start = Instant::now();
            let mut n = 0u64;
            let mut buf = Vec::new();
            while start.elapsed().as_secs_f64() < secs {
                let mut c = std::net::TcpStream::connect(dst)
                    .unwrap_or_else(|e| fail(&format!("connect: {e}")));
                c.write_all(b"GET / HTTP/1.0\r\n\r\n").ok();
                buf.clear();
                let _ = c.read_to_end(&mut buf);
                if buf.ends_with(b"ok") {
                    n += 1;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!("conns={n} secs={secs:.3} per_sec={:.0}", n as f64 / secs);
        }
        Some("stack-idle") => {
            let (port, n): (u16, usize) = (arg(&args, 2), arg(&args, 3));
            let s = stack();
            let l = TcpListener::bind_with_backlog(&s, ("0.0.0.0", port), 1024)
                .unwrap_or_else(|e| fail(&e.to_string()));
            println!("ready");
            let mut conns = Vec::with_capacity(n);
            let (mut before, mut t0) = (0, None);
            while conns.len() < n {
                let (c, _) = l.accept().unwrap_or_else(|e| fail(&e.to_string()));
                if t0.is_none() {
                    // The first connection (and the stack's threads, buffers, tables) is
                    // the baseline.
                    before = rss_kib();
                    t0 = Some(());
                }
                conns.push(c);
            }
            std::thread::sleep(Duration::from_millis(500));
            let after = rss_kib();
            println!(
                "conns={} rss_before_kib={before} rss_after_kib={after} per_conn_bytes={}",
                conns.len(),
                (after.saturating_sub(before) * 1024) / (n.max(2) as u64 - 1)
            );
            let mut x = String::new();
            let _ = std::io::stdin().read_line(&mut x);
        }
        Some("kernel-idle") => {
            let (dst, n): (SocketAddr, usize) = (arg(&args, 2), arg(&args, 3));
            let conns: Vec<_> = (0..n)
                .map(|_| std::net::TcpStream::connect(dst).unwrap_or_else(|e| fail(&e.to_string())))
                .collect();
            println!("open={}", conns.len());
            let mut x = String::new();
            let _ = std::io::stdin().read_line(&mut x);
        }
        Some("client-write") => client_write(
            arg(&args, 2),
            arg(&args, 3),
            args.get(4).map(String::as_str),
        ),
        Some("client-read") => client_read(arg(&args, 2), arg(&args, 3)),
        Some("kernel-serve") => kernel_serve(),
        Some("stack-udp-flood") => udp_flood(
            arg(&args, 2),
            arg(&args, 3),
            arg(&args, 4),
            arg(&args, 5),
            args.get(6).map(|_| arg(&args, 6)),
            match args.get(7).map(String::as_str) {
                None => false,
                Some("nonblocking") => true,
                Some(other) => fail(&format!("'{other}' is not 'nonblocking'")),
            },
        ),
        _ => fail("usage: tcp_bench stack-sink|kernel-sink|stack-source|kernel-source|stack-rr|kernel-rr|stack-idle|kernel-idle|client-write|client-read|kernel-serve|stack-udp-flood ..."),
    }
}

fn udp_flood(
    dst: SocketAddr,
    threads: usize,
    count: usize,
    size: usize,
    staged: Option<usize>,
    nonblocking: bool,
) {
    let mut driver = DriverConfig::default();
    if let Some(b) = staged {
        driver.staged_bytes = b;
    }
    let s = stack_with(driver);
    let sock = Arc::new(
        socket_api::UdpSocket::bind(&s, "0.0.0.0:0").unwrap_or_else(|e| fail(&e.to_string())),
    );
    // One datagram first, so the peer's address is resolved before the flood (the queue
    // of frames waiting for ARP holds only a few).
    sock.send_to(&[0u8; 1], dst)
        .unwrap_or_else(|e| fail(&format!("send: {e}")));
    std::thread::sleep(Duration::from_millis(200));
    sock.set_nonblocking(nonblocking)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let senders: Vec<_> = (0..threads)
        .map(|t| {
            let (sock, refused) = (sock.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut d = vec![t as u8; size.max(5)];
                for i in 0..count as u32 {
                    d[1..5].copy_from_slice(&i.to_be_bytes());
                    loop {
                        match sock.send_to(&d[..size], dst) {
                            Ok(_) => break,
                            Err(e) if nonblocking && e.kind() == std::io::ErrorKind::WouldBlock => {
                                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let interest = socket_api::Interest::WRITABLE;
                                let mut fds = [socket_api::PollFd::new(sock.socket(), interest)];
                                socket_api::poll(&mut fds, Some(Duration::from_secs(5)))
                                    .unwrap_or_else(|e| fail(&format!("poll: {e}")));
                            }
                            Err(e) => fail(&format!("send: {e}")),
                        }
                    }
                }
            })
        })
        .collect();
    for t in senders {
        t.join().unwrap_or_else(|_| fail("a sender failed"));
    }
    let secs = start.elapsed().as_secs_f64();
    // What was queued is written before the count is read.
    std::thread::sleep(Duration::from_millis(500));
    let drops: u64 = s
        .device_stats()
        .iter()
        .map(|(_, d)| d.tx_dropped_queue_full)
        .sum();
    println!(
        "sent={} secs={secs:.3} tx_dropped_queue_full={drops} refused={}",
        threads * count,
        refused.load(std::sync::atomic::Ordering::Relaxed)
    );
    s.shutdown();
}
