//! Tests of an independent review of socket options against Linux 6.x (each behaviour
//! checked with Python in a private network namespace).

use crate::socket::{Domain, SockOpt, SockOptName, Socket, Type};
use crate::StackBuilder;
use std::io::ErrorKind;
use std::time::Duration;

/// A listener on the loopback of `s` with `opt` set before `listen`, a client connected
/// to it, and the connection it accepted: (listener, client, accepted).
fn accepted_with(s: &crate::Stack, opt: SockOpt) -> (Socket, Socket, Socket) {
    let l = Socket::new(s, Domain::Inet, Type::Stream, 0).unwrap();
    l.set_option(opt).unwrap();
    l.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    l.listen(4).unwrap();
    let c = Socket::new(s, Domain::Inet, Type::Stream, 0).unwrap();
    c.connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    (l, c, a)
}

/// `SO_BROADCAST` is a socket-level flag Linux keeps on any socket (`sock_setsockopt`
/// sets SOCK_BROADCAST whatever the type; `sk_getsockopt` reads it back) and an accepted
/// socket copies it from its listener. Linux: set on a TCP socket it reads 1, and so does
/// the accepted connection. Here the set said Ok and was dropped: it read false.
#[test]
fn so_broadcast_on_a_tcp_socket_reads_back_and_passes_to_accepted_ones() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    let get = |x: &Socket| x.get_option(SockOptName::Broadcast).unwrap();
    let (l, c, a) = accepted_with(&s, SockOpt::Broadcast(true));
    assert_eq!(get(&l), SockOpt::Broadcast(true));
    assert_eq!(get(&a), SockOpt::Broadcast(true));
    assert_eq!(get(&c), SockOpt::Broadcast(false));
    c.set_option(SockOpt::Broadcast(true)).unwrap();
    assert_eq!(get(&c), SockOpt::Broadcast(true));
    c.set_option(SockOpt::Broadcast(false)).unwrap();
    assert_eq!(get(&c), SockOpt::Broadcast(false));
    s.shutdown();
}

/// `TCP_FASTOPEN` is the size of a listener's own Fast Open queue: Linux's accepted
/// socket reads 0 (its `fastopenq.max_qlen` is not the listener's), and setting it on a
/// connection is EINVAL (`do_tcp_setsockopt` takes it in CLOSE and LISTEN only). Here the
/// accepted connection read the listener's 5, and a set on a connection said Ok.
#[test]
fn tcp_fastopen_is_the_listeners_own_and_refused_on_a_connection() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    let get = |x: &Socket| x.get_option(SockOptName::FastOpen).unwrap();
    let (l, c, a) = accepted_with(&s, SockOpt::FastOpen(5));
    assert_eq!(get(&l), SockOpt::FastOpen(5));
    assert_eq!(get(&a), SockOpt::FastOpen(0));
    let e = c.set_option(SockOpt::FastOpen(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(get(&c), SockOpt::FastOpen(0));
    let e = a.set_option(SockOpt::FastOpen(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Still taken before connect and on the listener.
    let x = Socket::new(&s, Domain::Inet, Type::Stream, 0).unwrap();
    x.set_option(SockOpt::FastOpen(3)).unwrap();
    assert_eq!(get(&x), SockOpt::FastOpen(3));
    l.set_option(SockOpt::FastOpen(7)).unwrap();
    assert_eq!(get(&l), SockOpt::FastOpen(7));
    s.shutdown();
}

/// After `close` no option can be set or read (Linux: EBADF on the closed descriptor).
/// Here the options kept by the socket itself (SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER,
/// SO_KEEPALIVE of a UDP socket) were still set and read with Ok, silently, while the
/// transport's said the socket was closed.
#[test]
fn options_of_a_closed_socket_are_refused() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    for ty in [Type::Stream, Type::Dgram] {
        let x = Socket::new(&s, Domain::Inet, ty, 0).unwrap();
        x.close();
        for o in [
            SockOpt::RecvTimeout(Some(Duration::from_secs(1))),
            SockOpt::SendTimeout(None),
            SockOpt::Linger(None),
            SockOpt::KeepAlive(true),
            SockOpt::ReuseAddr(true),
        ] {
            let e = x.set_option(o).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotConnected, "{ty:?} {o:?}: {e}");
        }
        for n in [
            SockOptName::RecvTimeout,
            SockOptName::SendTimeout,
            SockOptName::Linger,
            SockOptName::KeepAlive,
            SockOptName::ReuseAddr,
        ] {
            let e = x.get_option(n).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotConnected, "{ty:?} {n:?}: {e}");
        }
    }
    s.shutdown();
}

/// IP-level options Linux keeps on any socket (`do_ip_setsockopt`, `do_ip_getsockopt`): a
/// TCP socket takes `IP_MULTICAST_LOOP` (no effect), reads it back and passes it to what
/// it accepts; it refuses `IP_MULTICAST_TTL` and `IP_MULTICAST_IF` (EINVAL) and reads
/// their defaults (1, 0.0.0.0); `IP_HDRINCL` reads 0 on TCP and UDP sockets (setting it
/// is refused). All were refused here, reading and setting alike (the options review).
#[test]
fn ip_options_of_a_tcp_socket_read_as_linuxs() {
    let s = StackBuilder::new().loopback_only().build().unwrap();
    let (l, _c, a) = accepted_with(&s, SockOpt::MulticastLoop(false));
    for x in [&l, &a] {
        assert_eq!(
            x.get_option(SockOptName::MulticastLoop).unwrap(),
            SockOpt::MulticastLoop(false)
        );
        assert_eq!(
            x.get_option(SockOptName::MulticastTtl).unwrap(),
            SockOpt::MulticastTtl(1)
        );
        assert_eq!(
            x.get_option(SockOptName::MulticastIf).unwrap(),
            SockOpt::MulticastIf(std::net::Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            x.get_option(SockOptName::HeaderIncluded).unwrap(),
            SockOpt::HeaderIncluded(false)
        );
    }
    for bad in [
        SockOpt::MulticastTtl(4),
        SockOpt::MulticastIf(std::net::Ipv4Addr::LOCALHOST),
        SockOpt::HeaderIncluded(true),
    ] {
        assert_eq!(
            a.set_option(bad).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidInput),
            "{bad:?}"
        );
    }
    let u = Socket::new(&s, Domain::Inet, Type::Dgram, 0).unwrap();
    assert_eq!(
        u.get_option(SockOptName::HeaderIncluded).unwrap(),
        SockOpt::HeaderIncluded(false)
    );
    s.shutdown();
}
