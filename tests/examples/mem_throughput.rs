//! The stack's own throughput ceiling (issue 8): two stacks in one process send each other
//! MB megabytes over one TCP connection, with no device and no system call in the way.
//!
//! - `mem_throughput sansio [MB] [MTU]` (the default): the sans-IO layers alone, in one
//!   thread. Host A (10.0.0.1) and host B (10.0.0.2) are each an `IpLayer` and a
//!   `Transport`; each round, A's application queues what its send buffer takes, A's frames
//!   go to B's `receive_frame`, B's application reads everything, B's frames (ACKs) go back
//!   to A, and a virtual clock moves 10 µs (timers run when due). The figure is what one
//!   core does for both ends: every frame is built once and parsed once.
//! - `mem_throughput sansio-offload [MB] [MTU]`: the same over a link with the TAP's
//!   offloads (checksum and TSO4), frames crossing with their metadata as through a vnet
//!   tap: TCP hands over segments of up to 64 KB whose checksum is left undone, and the
//!   receiver takes them whole without verifying.
//! - `mem_throughput sockets [MB] [MTU]`: two `socket_api::Stack`s joined by an in-memory
//!   link (`netif::MemoryLink`), a `TcpStream` writing on A and one reading on B, each in its
//!   own thread: the runtime's threads, locks and wake-ups, but no TAP.
//!
//! MB defaults to 1000 and MTU to 1500 (65535 shows what 64 KB frames would give). Prints
//! one line, `mode=.. mtu=.. bytes=.. secs=.. MBps=.. gbps=..` (sansio adds the frames each
//! way and the virtual time).
//! Nothing asserts on time; figures in BENCHMARKS.md.

#![forbid(unsafe_code)]

use ip::{IpConfig, IpLayer, Ipv4Cidr};
use netif::{DeviceInfo, Duration, Instant, MacAddr, Offload};
use socket_api::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::{SocketHandle, Transport, TransportConfig};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 9;
/// The virtual time one round (a burst each way) takes.
const ROUND: Duration = Duration::from_micros(10);
/// What the applications write and read per call.
const CHUNK: usize = 256 * 1024;

fn fail(msg: &str) -> ! {
    eprintln!("mem_throughput: {msg}");
    std::process::exit(1)
}

/// One sans-IO host: an IP layer with one interface and a transport above it.
struct Host {
    ip: IpLayer,
    t: Transport,
    ifx: usize,
}

impl Host {
    fn new(last: u8, addr: Ipv4Addr, mtu: usize, offload: Offload, now: Instant) -> Host {
        let mut ip = IpLayer::new(IpConfig::default());
        let ifx = ip.add_interface(&DeviceInfo {
            name: "eth0".into(),
            mtu,
            mac: MacAddr([0x02, 0, 0, 0, 0, last]),
            loopback: false,
            offload,
        });
        let cidr: Ipv4Cidr = format!("{addr}/24")
            .parse()
            .unwrap_or_else(|e| fail(&format!("{e}")));
        ip.set_address(ifx, Some(cidr), now)
            .unwrap_or_else(|e| fail(&e.to_string()));
        ip.set_up(ifx, true, now)
            .unwrap_or_else(|e| fail(&e.to_string()));
        Host {
            ip,
            t: Transport::new(TransportConfig::default()),
            ifx,
        }
    }

    fn timers(&mut self, now: Instant) {
        if self.ip.poll_at().is_some_and(|t| t <= now) {
            self.ip.poll(now, &mut self.t);
        }
        if self.t.poll_at().is_some_and(|t| t <= now) {
            self.t.poll(self.ip.tx(), now);
        }
    }
}

/// Hand every frame `from` has queued to `to`; returns how many.
fn carry(from: &mut Host, to: &mut Host, now: Instant) -> u64 {
    let frames: Vec<_> = from.ip.take_tx().collect();
    for f in &frames {
        to.ip
            .receive_frame_meta(to.ifx, &f.data, f.meta, now, &mut to.t);
    }
    frames.len() as u64
}

fn sansio(total: u64, mtu: usize, offload: Offload) {
    let mut now = Instant::from_secs(1);
    let mut a = Host::new(1, A, mtu, offload, now);
    let mut b = Host::new(2, B, mtu, offload, now);
    let err = |e: transport::TransportError| -> ! { fail(&e.to_string()) };

    let l = b.t.tcp_open().unwrap_or_else(|e| err(e));
    b.t.tcp_bind(l, SocketAddrV4::new(B, PORT), b.ip.tx())
        .unwrap_or_else(|e| err(e));
    b.t.tcp_listen(l, 1, b.ip.tx()).unwrap_or_else(|e| err(e));
    let c = a.t.tcp_open().unwrap_or_else(|e| err(e));
    a.t.tcp_connect(c, SocketAddrV4::new(B, PORT), a.ip.tx(), now)
        .unwrap_or_else(|e| err(e));
    let mut server: Option<SocketHandle> = None;
    for _ in 0..1000 {
        carry(&mut a, &mut b, now);
        carry(&mut b, &mut a, now);
        if let Some((h, _)) = b.t.tcp_accept(l).unwrap_or_else(|e| err(e)) {
            server = Some(h);
            break;
        }
        now += ROUND;
        a.timers(now);
        b.timers(now);
    }
    let s = server.unwrap_or_else(|| fail("no connection"));

    let data = vec![0x5au8; CHUNK];
    let mut buf = vec![0u8; CHUNK];
    let (mut sent, mut got) = (0u64, 0u64);
    let (mut ab, mut ba) = (0u64, 0u64);
    let mut shut = false;
    let start = std::time::Instant::now();
    loop {
        while sent < total {
            let n = ((total - sent) as usize).min(CHUNK);
            match a.t.tcp_send(c, &data[..n], a.ip.tx(), now) {
                Ok(0) => break,
                Ok(k) => sent += k as u64,
                Err(e) => err(e),
            }
        }
        if sent == total && !shut {
            a.t.tcp_shutdown(c, false, true, a.ip.tx(), now)
                .unwrap_or_else(|e| err(e));
            shut = true;
        }
        ab += carry(&mut a, &mut b, now);
        let mut eof = false;
        loop {
            match b.t.tcp_recv(s, &mut buf, b.ip.tx(), now) {
                Ok(Some(0)) => {
                    eof = true;
                    break;
                }
                Ok(Some(n)) => got += n as u64,
                Ok(None) => break,
                Err(e) => err(e),
            }
        }
        ba += carry(&mut b, &mut a, now);
        if eof {
            break;
        }
        now += ROUND;
        a.timers(now);
        b.timers(now);
    }
    let secs = start.elapsed().as_secs_f64();
    if got != total {
        fail(&format!("received {got} of {total} bytes"));
    }
    let mode = if offload.tso {
        "sansio-offload"
    } else {
        "sansio"
    };
    let virt = (now - Instant::from_secs(1)).as_secs_f64();
    report(
        mode,
        mtu,
        got,
        secs,
        &format!(" frames_ab={ab} frames_ba={ba} virtual_secs={virt:.3}"),
    );
}

fn sockets(total: u64, mtu: usize) {
    let pair = tests::pair::Pair::new(mtu);
    let l = TcpListener::bind(&pair.b.stack, (B, PORT)).unwrap_or_else(|e| fail(&e.to_string()));
    let a = pair.a.stack.clone();
    let writer = std::thread::spawn(move || {
        let mut c = TcpStream::connect(&a, (B, PORT)).unwrap_or_else(|e| fail(&e.to_string()));
        let data = vec![0x5au8; CHUNK];
        let mut sent = 0u64;
        while sent < total {
            let n = ((total - sent) as usize).min(CHUNK);
            c.write_all(&data[..n])
                .unwrap_or_else(|e| fail(&format!("write: {e}")));
            sent += n as u64;
        }
        c.shutdown(std::net::Shutdown::Write).ok();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    });
    let (mut s, _) = l.accept().unwrap_or_else(|e| fail(&e.to_string()));
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    let start = std::time::Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) => fail(&format!("read: {e}")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(s);
    let _ = writer.join();
    if got != total {
        fail(&format!("received {got} of {total} bytes"));
    }
    report("sockets", mtu, got, secs, "");
}

/// One line; a closed stdout (`| head`) is not worth a panic.
fn report(mode: &str, mtu: usize, bytes: u64, secs: f64, extra: &str) {
    let secs = secs.max(1e-9);
    let _ = writeln!(
        std::io::stdout(),
        "mode={mode} mtu={mtu} bytes={bytes} secs={secs:.3} MBps={:.0} gbps={:.3}{extra}",
        bytes as f64 / secs / 1e6,
        bytes as f64 * 8.0 / secs / 1e9
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |a| {
            a.parse()
                .unwrap_or_else(|_| fail(&format!("bad number {a:?}")))
        })
    };
    let total = num(2, 1000) * 1_000_000;
    let mtu = num(3, 1500) as usize;
    if !(576..=65_535).contains(&mtu) {
        fail("MTU must be 576 to 65535");
    }
    match args.get(1).map_or("sansio", String::as_str) {
        "sansio" => sansio(total, mtu, Offload::NONE),
        "sansio-offload" => sansio(
            total,
            mtu,
            Offload {
                csum: true,
                tso: true,
            },
        ),
        "sockets" => sockets(total, mtu),
        _ => fail("usage: mem_throughput [sansio|sansio-offload|sockets] [MB] [MTU]"),
    }
}
