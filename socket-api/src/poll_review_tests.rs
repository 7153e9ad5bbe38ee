//! Tests of an independent review of readiness and wake-ups (`poll`, `Poller`, blocked
//! calls) against Linux 6.x.

use crate::{StackBuilder, UdpSocket};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// An ICMP "port unreachable" about a datagram `u` sent to 127.0.0.1:9, handed to the
/// transport as the IP layer hands it on.
fn port_unreachable(s: &crate::Stack, u: &UdpSocket) {
    use ip::{IcmpErrorReport, Upper};
    let sport = u.local_addr().unwrap().port();
    // The quoted UDP header: our port, port 9, length 12.
    let mut q = vec![0u8; 12];
    q[0..2].copy_from_slice(&sport.to_be_bytes());
    q[2..4].copy_from_slice(&9u16.to_be_bytes());
    q[4..6].copy_from_slice(&12u16.to_be_bytes());
    s.with_core(|core, now| {
        let crate::Core { ip, transport, .. } = core;
        let lo = std::net::Ipv4Addr::LOCALHOST;
        let r = IcmpErrorReport {
            ifindex: 0,
            from: lo,
            kind: 3, // destination unreachable
            code: 3, // port unreachable
            info: 0,
            orig_src: lo,
            orig_dst: lo,
            orig_protocol: 17,
            orig_total_len: 32,
            orig_payload: &q,
        };
        transport.icmp_error(ip.tx(), &r, now);
    });
}

/// A UDP socket connected to 127.0.0.1:9 with `IP_RECVERR` and `errors` port
/// unreachables queued, whose pending error a first receive has taken: the queue stays,
/// and nothing is pending.
fn errors_queued_none_pending(s: &crate::Stack, errors: usize) -> UdpSocket {
    let u = UdpSocket::bind(s, "127.0.0.1:0").unwrap();
    u.connect("127.0.0.1:9").unwrap();
    u.set_recv_errors(true).unwrap();
    for _ in 0..errors {
        port_unreachable(s, &u);
    }
    u.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    let kind = |r: std::io::Result<usize>| r.unwrap_err().kind();
    assert_eq!(kind(u.recv(&mut buf)), ErrorKind::ConnectionRefused);
    assert_eq!(kind(u.recv(&mut buf)), ErrorKind::WouldBlock);
    u.set_nonblocking(false).unwrap();
    u
}

/// A blocking receive on `u` (read timeout 3 s) in another thread, started 200 ms before
/// `then` runs: what it returned and how long it took.
fn blocked_recv_across(u: &UdpSocket, then: impl FnOnce()) -> (Result<usize, ErrorKind>, Duration) {
    u.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let u2 = u.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        let t0 = Instant::now();
        let r = u2.recv(&mut buf).map_err(|e| e.kind());
        (r, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    then();
    t.join().unwrap()
}

/// An ICMP error for a UDP socket with `IP_RECVERR` whose error queue is full is dropped
/// from the queue but still becomes the pending error (as Linux's `__udp4_lib_err` sets
/// `sk_err` whether or not `ip_icmp_error` could queue it), and Linux's `sk_error_report`
/// wakes a receive blocked on the socket, which returns it. Here no wake-up was queued
/// when the queue was full: the blocked receive slept on (until its timeout; for ever
/// without one), nor did a `Poller` hear of the change.
#[test]
fn an_icmp_error_past_a_full_error_queue_wakes_a_blocked_receive() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    let u = errors_queued_none_pending(&s, transport::MAX_ERRORS_QUEUED);
    let (r, took) = blocked_recv_across(&u, || port_unreachable(&s, &u));
    s.shutdown();
    assert_eq!(r, Err(ErrorKind::ConnectionRefused), "after {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "woken only by its timeout: {took:?}"
    );
}

/// Reading the error queue (`recv_error`, `MSG_ERRQUEUE`) makes the next queued error
/// the pending one, and Linux's `sock_dequeue_err_skb` then calls `sk_error_report`: a
/// receive blocked on the socket in another thread wakes and returns it. Here it was not
/// woken (until its timeout; for ever without one).
#[test]
fn reading_the_error_queue_wakes_a_receive_for_the_next_pending_error() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    let u = errors_queued_none_pending(&s, 2);
    let (r, took) = blocked_recv_across(&u, || {
        u.recv_error().unwrap();
    });
    s.shutdown();
    assert_eq!(r, Err(ErrorKind::ConnectionRefused), "after {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "woken only by its timeout: {took:?}"
    );
}
