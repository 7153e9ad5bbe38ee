//! Nothing lost at close: `SO_LINGER` (`TcpStream::set_linger`), `wait_acked`/`unacked`,
//! and `Stack::linger` (the graceful end of a whole stack), between two stacks in one
//! process over an in-memory link, clean or lossy (seeded loss, duplication, reordering,
//! corruption). Real clock: each wait is bounded and the bounds are generous.
#![forbid(unsafe_code)]

use netif::{FaultConfig, FaultInjector};
use socket_api::{StackConfig, TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tests::pair::{link, mac, pattern, Host, Pair, B_IP};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((B_IP, port))
}

/// A and B with 5% loss, 2% duplication, 10% reordering and 1% corruption each way (ARP
/// resolved first on the clean link).
fn lossy_pair(seed: u64) -> Pair {
    let (la, lb) = link(("eth-a", mac(1)), ("eth-b", mac(2)), 1500);
    let fa = Arc::new(FaultInjector::new(la, FaultConfig::default()));
    let fb = Arc::new(FaultInjector::new(lb, FaultConfig::default()));
    let p = Pair::with_devices(StackConfig::default(), fa.clone(), fb.clone());
    let l = TcpListener::bind(&p.b.stack, addr(1)).unwrap();
    drop(TcpStream::connect(&p.a.stack, addr(1)).unwrap());
    drop(l);
    let f = FaultConfig {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.1,
        delay: Duration::from_millis(1),
        delay_jitter: Duration::from_millis(1),
        corrupt: 0.01,
        ..FaultConfig::default()
    };
    fa.set_config(FaultConfig { seed, ..f.clone() });
    fb.set_config(FaultConfig {
        seed: seed ^ 0x5555,
        ..f
    });
    p
}

fn undelivered(h: &Host) -> usize {
    h.stack
        .with_core(|c, _| c.transport.tcp_undelivered().len())
}

/// A reader on B that takes everything until the end of the stream (or an error).
fn read_all(s: TcpStream) -> thread::JoinHandle<(Vec<u8>, Option<ErrorKind>)> {
    thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match (&s).read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Some(e.kind())),
            }
        }
    })
}

#[test]
fn close_with_linger_returns_once_everything_is_acknowledged_on_a_lossy_link() {
    let p = lossy_pair(11);
    let l = TcpListener::bind(&p.b.stack, addr(7001)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7001)).unwrap();
    let (s, _) = l.accept().unwrap();
    let reader = read_all(s);
    let data = pattern(2 << 20, 3);
    c.set_linger(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(60)));
    (&c).write_all(&data).unwrap();
    assert!(
        c.unacked().unwrap() > 0,
        "a 2 MB write is not acknowledged at once"
    );
    let t = Instant::now();
    drop(c);
    println!("close lingered {:?}", t.elapsed());
    // Everything, FIN included, is acknowledged: nothing is left to deliver.
    assert_eq!(undelivered(&p.a), 0);
    let (got, err) = reader.join().unwrap();
    assert_eq!(err, None);
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}

#[test]
fn close_without_linger_returns_at_once_and_delivers_in_the_background() {
    let p = lossy_pair(12);
    let l = TcpListener::bind(&p.b.stack, addr(7002)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7002)).unwrap();
    let (s, _) = l.accept().unwrap();
    let reader = read_all(s);
    let data = pattern(1 << 20, 4);
    assert_eq!(c.linger().unwrap(), None);
    (&c).write_all(&data).unwrap();
    let t = Instant::now();
    drop(c);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(undelivered(&p.a), 1, "the orphan still delivers");
    // The stack-wide wait sees it through.
    let left = p.a.stack.linger(Duration::from_secs(60), || false);
    assert!(left.is_empty(), "{left:?}");
    let (got, err) = reader.join().unwrap();
    assert_eq!(err, None);
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}

#[test]
fn linger_gives_up_after_its_time_when_the_peer_reads_nothing() {
    let p = Pair::new(1500);
    let l = TcpListener::bind(&p.b.stack, addr(7003)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7003)).unwrap();
    let (s, _) = l.accept().unwrap();
    // More than B's receive buffer: the rest stays queued at A.
    c.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let n = (&c).write(&vec![7u8; 3 << 20]).unwrap();
    assert!(n > 0 && n < 3 << 20, "{n}");
    c.set_linger(Some(Duration::from_millis(300))).unwrap();
    let t = Instant::now();
    c.close();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The connection goes on in the background, as with Linux.
    assert_eq!(undelivered(&p.a), 1);
    // The stack's own wait gives up too, says what was left, and resets it.
    let t = Instant::now();
    let left = p.a.stack.linger(Duration::from_millis(300), || false);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(left.len(), 1);
    assert!(left[0].outstanding.unacked > 0, "{left:?}");
    assert_eq!(left[0].remote, "10.0.0.2:7003".parse().unwrap());
    assert_eq!(undelivered(&p.a), 0);
    let (_, err) = read_all(s).join().unwrap();
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
}

#[test]
fn stack_linger_stops_when_asked() {
    let p = Pair::new(1500);
    let l = TcpListener::bind(&p.b.stack, addr(7004)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7004)).unwrap();
    let (_s, _) = l.accept().unwrap();
    c.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let _ = (&c).write(&vec![7u8; 3 << 20]).unwrap();
    drop(c);
    let start = Instant::now();
    let left = p.a.stack.linger(Duration::from_secs(60), || {
        start.elapsed() > Duration::from_millis(200)
    });
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(left.len(), 1);
}

#[test]
fn linger_zero_aborts_with_a_reset() {
    let p = Pair::new(1500);
    let l = TcpListener::bind(&p.b.stack, addr(7005)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7005)).unwrap();
    let (s, _) = l.accept().unwrap();
    (&c).write_all(b"hello").unwrap();
    c.set_linger(Some(Duration::ZERO)).unwrap();
    let t = Instant::now();
    drop(c);
    assert!(t.elapsed() < Duration::from_millis(500));
    assert_eq!(undelivered(&p.a), 0);
    let (_, err) = read_all(s).join().unwrap();
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
}

#[test]
fn wait_acked_sees_the_data_and_the_fin_through_a_lossy_link() {
    let p = lossy_pair(13);
    let l = TcpListener::bind(&p.b.stack, addr(7006)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7006)).unwrap();
    let (s, _) = l.accept().unwrap();
    let reader = read_all(s);
    let data = pattern(1 << 20, 5);
    (&c).write_all(&data).unwrap();
    c.wait_acked(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(c.unacked().unwrap(), 0);
    c.shutdown(Shutdown::Write).unwrap();
    c.wait_acked(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(undelivered(&p.a), 0);
    let (got, err) = reader.join().unwrap();
    assert_eq!(err, None);
    assert!(got == data);
}

#[test]
fn wait_acked_reports_a_reset_and_a_timeout() {
    let p = Pair::new(1500);
    let l = TcpListener::bind(&p.b.stack, addr(7007)).unwrap();
    let c = TcpStream::connect(&p.a.stack, addr(7007)).unwrap();
    let (s, _) = l.accept().unwrap();
    c.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = (&c).write(&vec![1u8; 3 << 20]).unwrap();
    let e = c.wait_acked(Some(Duration::from_millis(200))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    // B aborts: A's wait ends with the reset, and the unacknowledged bytes stay counted.
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    let e = c.wait_acked(Some(Duration::from_secs(10))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    assert!(c.unacked().unwrap() > 0);
}
