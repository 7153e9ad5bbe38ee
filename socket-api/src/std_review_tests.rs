//! Tests of an independent review of the `std::net`-like types against std and Linux.

use crate::{StackBuilder, TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// A connected pair over the loopback of `s`: (client, accepted).
fn pair(s: &crate::Stack) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind(s, "127.0.0.1:0").unwrap();
    let c = TcpStream::connect(s, l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    (c, a)
}

/// A stream shut both ways (our FIN acknowledged: FIN-WAIT-2, reading shut) to which the
/// peer still sends: the connection is reset (RFC 1122 4.2.2.13, Linux's
/// `tcp_rcv_state_process` with RCV_SHUTDOWN), and Linux's `tcp_reset` leaves ECONNRESET
/// for the application: the next `read` fails with it, then says 0 (checked with Python on
/// Linux 6.x: `recv` raised ECONNRESET, then returned b''). Here the reset was silent: `read`
/// said 0 and `take_error` None, so the application never learnt that the peer's data was
/// refused.
#[test]
fn data_after_shutdown_both_resets_and_the_reader_hears_of_it() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    let (c, a) = pair(&s);
    c.shutdown(Shutdown::Write).unwrap();
    // The peer reads our FIN: its ACK has put us in FIN-WAIT-2.
    let mut buf = [0u8; 8];
    assert_eq!((&a).read(&mut buf).unwrap(), 0);
    c.shutdown(Shutdown::Read).unwrap();
    (&a).write_all(b"world").unwrap();
    // Until the peer has the RST: its next write fails.
    let t0 = Instant::now();
    while (&a).write(b"!").is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(5), "no reset came");
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = (&c).read(&mut buf).map_err(|e| e.kind());
    let then = (&c).read(&mut buf).map_err(|e| e.kind());
    s.shutdown();
    assert_eq!(
        first,
        Err(ErrorKind::ConnectionReset),
        "read after the reset"
    );
    assert_eq!(then, Ok(0), "the read after that");
}

/// An ICMP "host unreachable" about an established connection's data in flight is a soft
/// error (RFC 1122 4.2.3.9): the connection goes on. Linux keeps it in `sk_err_soft`, and
/// `getsockopt(SO_ERROR)`, which std's `take_error` is, returns it when no hard error is
/// pending (`sock_getsockopt`: `v.val = -sock_error(sk); if (v.val == 0) v.val =
/// xchg(&sk->sk_err_soft, 0)`), until an ACK of new data clears it. Here `take_error`
/// looked at the hard error only and said `None`.
#[test]
fn take_error_reports_a_soft_icmp_error_as_so_error_does() {
    use ip::{IcmpErrorReport, Upper};
    let (a_end, b_end) = crate::testing::link(64);
    let (a, b) = crate::testing::two_stacks(
        StackBuilder::new().device(std::sync::Arc::new(a_end)),
        b_end,
    );
    let l = TcpListener::bind(&b, "10.0.0.2:7").unwrap();
    let c = TcpStream::connect(&a, "10.0.0.2:7").unwrap();
    let (accepted, _) = l.accept().unwrap();
    let (local, peer) = (c.local_addr().unwrap(), c.peer_addr().unwrap());
    let h = c.socket().handle();
    a.with_core(|core, now| {
        let crate::Core { ip, transport, .. } = core;
        // Data in flight, its segment taken from the queue to learn its sequence number
        // (it never reaches the wire, so it stays unacknowledged).
        transport
            .tcp_send(h, b"never acknowledged", ip.tx(), now)
            .unwrap();
        let seg = ip
            .take_tx()
            .find(|f| f.data.len() > 54 && f.data[12..14] == [8, 0] && f.data[23] == 6)
            .expect("the data's segment");
        let ihl = usize::from(seg.data[14] & 0x0f) * 4;
        let una = &seg.data[14 + ihl + 4..14 + ihl + 8];
        // The quote: our ports and the first unacknowledged sequence number.
        let mut q = vec![0u8; 8];
        q[0..2].copy_from_slice(&local.port().to_be_bytes());
        q[2..4].copy_from_slice(&peer.port().to_be_bytes());
        q[4..8].copy_from_slice(una);
        let r = IcmpErrorReport {
            ifindex: 0,
            from: std::net::Ipv4Addr::new(10, 0, 0, 2),
            kind: 3, // destination unreachable
            code: 1, // host unreachable
            info: 0,
            orig_src: std::net::Ipv4Addr::new(10, 0, 0, 1),
            orig_dst: std::net::Ipv4Addr::new(10, 0, 0, 2),
            orig_protocol: 6,
            orig_total_len: 58,
            orig_payload: &q,
        };
        transport.icmp_error(ip.tx(), &r, now);
    });
    let first = c.take_error().unwrap().map(|e| e.kind());
    let second = c.take_error().unwrap().map(|e| e.kind());
    c.socket()
        .set_option(crate::SockOpt::Linger(Some(Duration::ZERO)))
        .unwrap();
    drop(c);
    drop(accepted);
    a.shutdown();
    b.shutdown();
    assert_eq!(
        first,
        Some(ErrorKind::HostUnreachable),
        "SO_ERROR after the ICMP error"
    );
    assert_eq!(second, None, "taken once");
}
