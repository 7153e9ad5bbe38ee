//! TCP at the segment level, state by state (RFC 9293 3.10.7 with RFC 5961, 6298, 5681,
//! 6582, 7323, 1122). The test plays the peer: it hands segments to the stack through
//! `ip::Upper::deliver`, reads back every segment the stack sends through a fake `ip::IpTx`,
//! and moves a virtual clock, running the stack's timers as they fall due.
//!
//! Sequence numbers of the peer start near 2^32 so most tests also cross the wrap.

#![forbid(unsafe_code)]

mod tcp_harness;

use netif::Duration;
use tcp_harness::*;
use transport::tcp::wire::TcpRepr;
use transport::tcp::Seq;
use transport::{CongestionAlgorithm, SocketHandle, TcpConfig, TcpError, TcpState, TransportError};

/// The tests' configuration: no tail loss probes, and no quick ACKs, so that the
/// delayed-ACK rules apply from a connection's first segment (`quick_acks` has tests of its
/// own, with the default).
fn cfg() -> TcpConfig {
    TcpConfig {
        tail_loss_probe: false,
        quick_acks: 0,
        ..TcpConfig::default()
    }
}

/// NewReno instead of the default CUBIC, for the tests that check RFC 5681's and RFC
/// 6582's exact windows.
fn reno() -> TcpConfig {
    TcpConfig {
        congestion: CongestionAlgorithm::Reno,
        ..cfg()
    }
}

/// Start an active open to PEER:80: (handle, local, remote, our SYN).
fn connect(
    n: &mut Net,
) -> (
    SocketHandle,
    std::net::SocketAddrV4,
    std::net::SocketAddrV4,
    Out,
) {
    let h = n.t.tcp_open().expect("open");
    let remote = sa(PEER, LPORT);
    n.t.tcp_connect(h, remote, &mut n.ip, n.now)
        .expect("connect");
    let s = n.only();
    (h, sa(s.src, s.r.src_port), remote, s)
}

/// SYN, SYN-ACK, ACK from the peer's port `pport` to the listener on port 80, without
/// accepting. Our next sequence number.
fn handshake_no_accept(n: &mut Net, pport: u16) -> Seq {
    let (remote, local) = (sa(PEER, pport), sa(US, LPORT));
    n.inject(remote, local, syn(PEER_ISS), &[]);
    let s = n.only();
    assert_eq!(s.r.flags, SYN | ACK, "{s:?}");
    n.inject(
        remote,
        local,
        seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
        &[],
    );
    n.nothing();
    s.r.seq + 1
}

fn lens(v: &[Out]) -> Vec<usize> {
    v.iter().map(|o| o.data.len()).collect()
}

fn seqs(v: &[Out]) -> Vec<Seq> {
    v.iter().map(|o| o.r.seq).collect()
}

// ==== LISTEN ==================================================================================

mod listen {
    use super::*;

    fn reuse_port_listener(n: &mut Net, ip: std::net::Ipv4Addr) -> SocketHandle {
        let h = n.t.tcp_open().unwrap();
        n.t.tcp(h).unwrap().reuse_port = true;
        n.t.tcp_bind(h, sa(ip, LPORT), &n.ip).unwrap();
        n.t.tcp_listen(h, 64, &n.ip).unwrap();
        h
    }

    /// SO_REUSEPORT, as Linux: listeners that all set it bind one address and port, and
    /// the connections are spread over them by flow, a cookie's ACK reaching the listener
    /// whose cookie it answers. A socket without it cannot bind the port. A listener that
    /// closes leaves every new connection to the others. There was no SO_REUSEPORT.
    #[test]
    fn listeners_with_so_reuseport_share_a_port_and_its_connections() {
        for cookies in [false, true] {
            let mut n = Net::with_cfg(TcpConfig {
                syn_cookies: true,
                // 0: every SYN is answered with a cookie.
                syn_backlog: if cookies { 0 } else { 64 },
                ..cfg()
            });
            let a = reuse_port_listener(&mut n, US);
            let b = reuse_port_listener(&mut n, US);
            let plain = n.t.tcp_open().unwrap();
            assert_eq!(
                n.t.tcp_bind(plain, sa(US, LPORT), &n.ip),
                Err(TransportError::AddrInUse)
            );
            let mut by = [0usize; 2];
            for pport in 2000..2040 {
                handshake_no_accept(&mut n, pport);
                let got_a = n.t.tcp_accept(a).unwrap();
                let got_b = n.t.tcp_accept(b).unwrap();
                match (got_a, got_b) {
                    (Some((_, from)), None) | (None, Some((_, from))) => {
                        assert_eq!(from, sa(PEER, pport))
                    }
                    other => panic!("one listener takes it: {other:?}"),
                }
                by[usize::from(got_b.is_some())] += 1;
            }
            assert!(by[0] >= 8 && by[1] >= 8, "both take a share: {by:?}");
            // One closes: the other takes every new connection.
            n.close(a);
            n.take();
            for pport in 3000..3010 {
                handshake_no_accept(&mut n, pport);
                assert!(n.t.tcp_accept(b).unwrap().is_some(), "cookies {cookies}");
            }
        }
    }

    /// Two sockets bound to one address and port with SO_REUSEPORT, both connecting to
    /// the same peer: the second would take the first's 4-tuple. Linux refuses it with
    /// EADDRNOTAVAIL (`__inet_hash_connect` through `__inet_check_established`), as a
    /// TIME-WAIT record's tuple is refused here; it said EADDRINUSE, which the binds it
    /// no longer concerns use.
    #[test]
    fn a_connect_to_a_tuple_taken_by_a_reuseport_sibling_is_addr_not_available() {
        let mut n = Net::new();
        let bound = |n: &mut Net| {
            let h = n.t.tcp_open().unwrap();
            n.t.tcp(h).unwrap().reuse_port = true;
            n.t.tcp_bind(h, sa(US, 5000), &n.ip).unwrap();
            h
        };
        let (a, b) = (bound(&mut n), bound(&mut n));
        n.t.tcp_connect(a, sa(PEER, LPORT), &mut n.ip, n.now)
            .unwrap();
        assert_eq!(n.only().r.flags, SYN);
        assert_eq!(
            n.t.tcp_connect(b, sa(PEER, LPORT), &mut n.ip, n.now),
            Err(TransportError::AddrNotAvailable)
        );
        n.nothing();
        // Another peer port is another tuple.
        n.t.tcp_connect(b, sa(PEER, LPORT + 1), &mut n.ip, n.now)
            .unwrap();
        assert_eq!(n.only().r.flags, SYN);
    }

    /// A connect's own port is never one another socket bound, also once that socket has
    /// connected (Linux's `__inet_hash_connect` skips every port whose bind bucket a
    /// `bind` made, `fastreuse` >= 0, whoever holds it now). Two stacks with one secret
    /// pick the same first port: the second binds it and connects to another peer port
    /// first. Only idle bound sockets held their port: the connect took it.
    #[test]
    fn a_connect_never_takes_the_port_of_a_socket_bound_and_connected() {
        let mut n = Net::new();
        let (_, first, _, _) = connect(&mut n);
        let mut n = Net::new();
        let x = n.t.tcp_open().unwrap();
        n.t.tcp_bind(x, first, &n.ip).unwrap();
        n.t.tcp_connect(x, sa(PEER, LPORT + 1), &mut n.ip, n.now)
            .unwrap();
        assert_eq!(n.only().r.flags, SYN);
        let (_, local, _, _) = connect(&mut n);
        assert_ne!(local.port(), first.port(), "the bound socket's port");
    }

    /// A bind to port 0, or a listen that binds one, when every ephemeral port is taken:
    /// EADDRINUSE, as Linux's `__inet_bind` and `inet_csk_listen_start` say (a connect
    /// that finds no free 4-tuple says EADDRNOTAVAIL). They said EADDRNOTAVAIL.
    #[test]
    fn a_bind_or_listen_with_every_ephemeral_port_taken_is_addr_in_use() {
        use transport::ports::EPHEMERAL;
        let mut n = Net::new();
        n.t = transport::Transport::new(transport::TransportConfig {
            max_sockets: EPHEMERAL.len() + 16,
            tcp: cfg(),
            ..Default::default()
        });
        for p in EPHEMERAL {
            let h = n.t.tcp_open().unwrap();
            n.t.tcp_bind(h, sa(US, p), &n.ip).unwrap();
        }
        let h = n.t.tcp_open().unwrap();
        assert_eq!(
            n.t.tcp_bind(h, sa(std::net::Ipv4Addr::UNSPECIFIED, 0), &n.ip),
            Err(TransportError::AddrInUse)
        );
        assert_eq!(n.t.tcp_listen(h, 8, &n.ip), Err(TransportError::AddrInUse));
    }

    /// A listener bound to the address takes the flows before those bound to the
    /// wildcard, SO_REUSEPORT or not (Linux: the more specific group wins).
    #[test]
    fn a_reuseport_group_on_the_address_goes_before_the_wildcard() {
        let mut n = Net::new();
        let any = reuse_port_listener(&mut n, std::net::Ipv4Addr::UNSPECIFIED);
        let exact = reuse_port_listener(&mut n, US);
        for pport in 2000..2010 {
            handshake_no_accept(&mut n, pport);
            assert!(n.t.tcp_accept(exact).unwrap().is_some());
            assert!(n.t.tcp_accept(any).unwrap().is_none());
        }
    }

    #[test]
    fn syn_gets_syn_ack_with_mss_and_no_window_scale_unless_offered() {
        let mut n = Net::new();
        n.listen(LPORT, 16);
        n.inject(sa(PEER, PPORT), sa(US, LPORT), syn(PEER_ISS), &[]);
        let s = n.only();
        assert_eq!((s.src, s.dst), (US, PEER));
        assert_eq!((s.r.src_port, s.r.dst_port), (LPORT, PPORT));
        assert_eq!(s.r.flags, SYN | ACK);
        assert_eq!(s.r.ack, PEER_ISS + 1);
        // MTU 1500 - 40.
        assert_eq!(s.r.mss, Some(1460));
        // RFC 7323 1.3: no scaling unless both SYNs carry the option.
        assert_eq!(s.r.wscale, None);
        assert_eq!(s.r.window, 65_535);
        assert!(s.data.is_empty());
        assert_eq!(n.stats().passive_opens, 1);
    }

    #[test]
    fn syn_with_window_scale_gets_window_scale_and_scaling_applies() {
        let mut n = Net::new();
        let l = n.listen(LPORT, 16);
        let (remote, local) = (sa(PEER, PPORT), sa(US, LPORT));
        let r = TcpRepr {
            wscale: Some(7),
            ..syn(PEER_ISS)
        };
        n.inject(remote, local, r, &[]);
        let s = n.only();
        assert_eq!(s.r.flags, SYN | ACK);
        // Room for the 4 MiB a receive buffer may grow to: a shift of 7 (65535 << 7 >= 2^22).
        assert_eq!(s.r.wscale, Some(7));
        assert_eq!(s.r.window, 65_535, "a SYN's window is never scaled");
        // The handshake's ACK is scaled by the peer's 7.
        n.inject(remote, local, seg(ACK, PEER_ISS + 1, s.r.seq + 1, 100), &[]);
        n.nothing();
        let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
        assert_eq!(n.info(h).snd_wnd, 100 << 7);
        // Our windows are scaled by 7: 1 MiB (less the byte unread) rounds up to 8192.
        n.inject(
            remote,
            local,
            seg(ACK | PSH, PEER_ISS + 1, s.r.seq + 1, 100),
            b"x",
        );
        n.nothing();
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(s.r.seq + 1, PEER_ISS + 2);
        assert_eq!(a.r.window, 8_192);
        assert_eq!(a.r.wscale, None, "options only on SYNs");
    }

    #[test]
    fn ack_to_listener_gets_rst_with_seq_of_the_ack() {
        let mut n = Net::new();
        n.listen(LPORT, 16);
        let (remote, local) = (sa(PEER, PPORT), sa(US, LPORT));
        n.inject(remote, local, seg(ACK, Seq(5), Seq(777), 1000), &[]);
        let r = n.only();
        r.expect(RST, Seq(777), Seq(0));
        assert_eq!((r.r.src_port, r.r.dst_port), (LPORT, PPORT));
        // With data and a FIN as well.
        n.inject(
            remote,
            local,
            seg(ACK | FIN, Seq(5), Seq(9999), 1000),
            b"data",
        );
        n.only().expect(RST, Seq(9999), Seq(0));
        assert_eq!(n.stats().drop_listen_bad, 2);
        assert_eq!(n.t.socket_count(), 1, "no connection was created");
    }

    #[test]
    fn rst_and_stray_segments_to_listener_are_ignored() {
        let mut n = Net::new();
        n.listen(LPORT, 16);
        let (remote, local) = (sa(PEER, PPORT), sa(US, LPORT));
        n.inject(remote, local, seg(RST, Seq(5), Seq(0), 0), &[]);
        n.inject(remote, local, seg(RST | ACK, Seq(5), Seq(6), 0), &[]);
        n.inject(remote, local, seg(RST | SYN, Seq(5), Seq(0), 0), &[]);
        // Neither SYN nor ACK nor RST: dropped (RFC 9293 3.10.7.2, "fourth other").
        n.inject(remote, local, seg(FIN, Seq(5), Seq(0), 0), b"x");
        // SYN and FIN together (a scanner's probe): dropped, as Linux drops it.
        n.inject(remote, local, seg(SYN | FIN, PEER_ISS, Seq(0), 1000), &[]);
        n.nothing();
        assert_eq!(n.t.socket_count(), 1);
        assert_eq!(n.stats().drop_listen_bad, 2);
        assert_eq!(n.stats().drop_rst_ignored, 3, "counted, never answered");
        // Still listening.
        n.inject(remote, local, syn(PEER_ISS), &[]);
        assert_eq!(n.only().r.flags, SYN | ACK);
    }

    #[test]
    fn syn_queue_is_bounded() {
        let mut n = Net::with_cfg(TcpConfig {
            syn_backlog: 4,
            syn_cookies: false,
            ..cfg()
        });
        let l = n.listen(LPORT, 16);
        for p in 0..6 {
            n.inject(sa(PEER, 50_000 + p), sa(US, LPORT), syn(PEER_ISS), &[]);
        }
        let v = n.take();
        assert_eq!(
            v.iter().map(|o| o.r.dst_port).collect::<Vec<_>>(),
            vec![50_000, 50_001, 50_002, 50_003]
        );
        assert!(v.iter().all(|o| o.r.flags == SYN | ACK));
        assert_eq!(n.stats().drop_syn_queue_full, 2);
        // One handshake completes: a place is free again.
        n.inject(
            sa(PEER, 50_000),
            sa(US, LPORT),
            seg(ACK, PEER_ISS + 1, v[0].r.seq + 1, 65_535),
            &[],
        );
        n.nothing();
        assert!(n.t.tcp_accept(l).unwrap().is_some());
        n.inject(sa(PEER, 50_010), sa(US, LPORT), syn(PEER_ISS), &[]);
        assert_eq!(n.only().r.flags, SYN | ACK);
        n.inject(sa(PEER, 50_011), sa(US, LPORT), syn(PEER_ISS), &[]);
        n.nothing();
        assert_eq!(n.stats().drop_syn_queue_full, 3);
    }

    /// A backlog of N holds N + 1 established connections, as Linux's (`listen(2)`: the
    /// accept queue is full when it holds more than the backlog); a SYN past that is
    /// dropped and counted, and answered once `accept` has made room.
    #[test]
    fn accept_queue_is_bounded() {
        let mut n = Net::new();
        let l = n.listen(LPORT, 2);
        handshake_no_accept(&mut n, 50_000);
        handshake_no_accept(&mut n, 50_001);
        handshake_no_accept(&mut n, 50_002);
        n.inject(sa(PEER, 50_003), sa(US, LPORT), syn(PEER_ISS), &[]);
        n.nothing();
        assert_eq!(n.stats().drop_accept_queue_full, 1);
        let (h, from) = n.t.tcp_accept(l).unwrap().unwrap();
        assert_eq!(from, sa(PEER, 50_000));
        assert_eq!(n.state(h), TcpState::Established);
        // The peer retransmits its SYN: now it is answered.
        n.inject(sa(PEER, 50_003), sa(US, LPORT), syn(PEER_ISS), &[]);
        assert_eq!(n.only().r.flags, SYN | ACK);
    }

    /// The bound holds also when the SYNs all came while the accept queue had room and
    /// their handshakes end after it filled: as Linux (`tcp_v4_syn_recv_sock`'s listen
    /// overflow), the handshake's ACK that finds the queue full is dropped and counted,
    /// the connection staying half-open (its SYN-ACK retransmitted, the peer's ACK taken
    /// once `accept` made room).
    #[test]
    fn accept_queue_is_bounded_when_handshakes_end_together() {
        let mut n = Net::new();
        let l = n.listen(LPORT, 1);
        let local = sa(US, LPORT);
        let mut isn = Vec::new();
        for p in 0..6 {
            n.inject(sa(PEER, 50_000 + p), local, syn(PEER_ISS), &[]);
            let s = n.only();
            assert_eq!(s.r.flags, SYN | ACK);
            isn.push(s.r.seq);
        }
        for p in 0..6 {
            let ack = seg(ACK, PEER_ISS + 1, isn[p as usize] + 1, 65_535);
            n.inject(sa(PEER, 50_000 + p), local, ack, &[]);
        }
        let mut accepted = 0;
        while n.t.tcp_accept(l).unwrap().is_some() {
            accepted += 1;
        }
        assert_eq!(accepted, 2, "listen(1) holds 2 established connections");
        assert_eq!(n.stats().drop_accept_queue_full, 4);
        // Room again: the next ACK of a waiting handshake (its peer's retransmission, or
        // the answer to our SYN-ACK's) completes it.
        let ack = seg(ACK, PEER_ISS + 1, isn[2] + 1, 65_535);
        n.inject(sa(PEER, 50_002), local, ack, &[]);
        let (_, from) = n.t.tcp_accept(l).unwrap().expect("the third connection");
        assert_eq!(from, sa(PEER, 50_002));
    }
}

// ==== CLOSED (no socket) ======================================================================

mod closed {
    use super::*;

    #[test]
    fn syn_to_closed_port_gets_rst_ack() {
        let mut n = Net::new();
        let (remote, local) = (sa(PEER, PPORT), sa(US, 81));
        n.inject(remote, local, syn(Seq(1000)), &[]);
        let r = n.only();
        r.expect(RST | ACK, Seq(0), Seq(1001));
        assert_eq!((r.r.src_port, r.r.dst_port), (81, PPORT));
        // SEG.LEN counts the data, the SYN and the FIN.
        n.inject(remote, local, syn(Seq(1000)), &[7; 10]);
        n.only().expect(RST | ACK, Seq(0), Seq(1011));
        n.inject(remote, local, seg(FIN, Seq(u32::MAX), Seq(0), 0), &[7; 5]);
        n.only().expect(RST | ACK, Seq(0), Seq(5));
        assert_eq!(n.stats().drop_no_socket, 3);
        assert_eq!(n.stats().resets_out, 3);
    }

    #[test]
    fn ack_to_closed_port_gets_rst_with_seq_of_the_ack() {
        let mut n = Net::new();
        let (remote, local) = (sa(PEER, PPORT), sa(US, 81));
        n.inject(remote, local, seg(ACK, Seq(1000), Seq(5555), 100), &[]);
        n.only().expect(RST, Seq(5555), Seq(0));
        n.inject(
            remote,
            local,
            seg(ACK | PSH, Seq(1000), Seq(42), 100),
            b"hello",
        );
        n.only().expect(RST, Seq(42), Seq(0));
    }

    #[test]
    fn rst_to_closed_port_gets_nothing() {
        let mut n = Net::new();
        let (remote, local) = (sa(PEER, PPORT), sa(US, 81));
        n.inject(remote, local, seg(RST, Seq(1000), Seq(0), 0), &[]);
        n.inject(remote, local, seg(RST | ACK, Seq(1000), Seq(5), 0), &[]);
        n.nothing();
        assert_eq!(n.stats().drop_no_socket, 2);
    }

    #[test]
    fn bad_checksum_short_header_and_broadcast_are_dropped_silently() {
        let mut n = Net::new();
        let (remote, local) = (sa(PEER, PPORT), sa(US, 81));
        let mut b = tcp_bytes(remote, local, &syn(Seq(1)), b"xy");
        b[21] ^= 0x40;
        n.deliver_l4(PEER, US, &b);
        n.deliver_l4(PEER, US, &[0u8; 12]);
        let bc = tcp_bytes(remote, sa(BCAST, 81), &syn(Seq(1)), &[]);
        let ipb = ip_wrap(PEER, BCAST, 6, &bc);
        n.deliver_ip(&ipb, true);
        n.nothing();
        let st = n.stats();
        assert_eq!(
            (st.drop_bad_checksum, st.drop_bad_header, st.drop_broadcast),
            (1, 1, 1)
        );
    }
}

// ==== SYN-SENT ================================================================================

mod syn_sent {
    use super::*;

    #[test]
    fn syn_carries_options() {
        let mut n = Net::new();
        let (_, local, _, s) = connect(&mut n);
        assert_eq!(local.ip(), &US);
        assert_eq!((s.dst, s.r.dst_port), (PEER, LPORT));
        assert_eq!(s.r.flags, SYN);
        assert_eq!(s.r.ack, Seq(0));
        assert_eq!(s.r.mss, Some(1460));
        assert_eq!(s.r.wscale, Some(7));
        assert_eq!(s.r.window, 65_535);
    }

    #[test]
    fn syn_retransmitted_with_exponential_backoff_then_timed_out() {
        let mut n = Net::with_cfg(TcpConfig {
            syn_retries: 3,
            ..cfg()
        });
        let (h, local, remote, s0) = connect(&mut n);
        let t0 = n.now;
        for at in [1u64, 3, 7] {
            n.advance_to(t0 + secs(at) - ms(1));
            n.nothing();
            assert_eq!(n.t.tcp_connected(h), Ok(false));
            n.advance_to(t0 + secs(at));
            let s = n.only();
            // The same SYN, but for its timestamp (RFC 7323: TSval is the clock's now).
            assert_eq!(
                TcpRepr {
                    timestamp: None,
                    ..s.r
                },
                TcpRepr {
                    timestamp: None,
                    ..s0.r
                },
                "the same SYN again at {at} s"
            );
            let (v0, v) = (s0.r.timestamp.unwrap().0, s.r.timestamp.unwrap().0);
            assert_eq!(v.wrapping_sub(v0), at as u32 * 1000);
        }
        n.advance_to(t0 + secs(15) - ms(1));
        n.nothing();
        assert_eq!(n.state(h), TcpState::SynSent);
        n.advance_to(t0 + secs(15));
        n.nothing();
        assert_eq!(
            n.t.tcp_connected(h),
            Err(TransportError::Tcp(TcpError::TimedOut))
        );
        let st = n.stats();
        assert_eq!((st.handshake_timeouts, st.retransmits), (1, 3));
        assert_eq!(n.t.poll_at(), None);
        // The connection is gone: its SYN-ACK now meets a RST.
        n.inject(
            remote,
            local,
            seg(SYN | ACK, PEER_ISS, s0.r.seq + 1, 65_535),
            &[],
        );
        n.only().expect(RST, s0.r.seq + 1, Seq(0));
    }

    /// A shutdown of either half while the SYN is out ends the attempt as Linux's
    /// `inet_shutdown` does: nothing is sent, the connect fails with ECONNRESET (it said
    /// "aborted", and reading's shutdown did nothing), and the socket may connect again.
    #[test]
    fn a_shutdown_in_syn_sent_resets_the_attempt_and_the_socket_connects_again() {
        for (read, write) in [(true, false), (false, true), (true, true)] {
            let mut n = Net::new();
            let (h, local, remote, s) = connect(&mut n);
            n.t.tcp_shutdown(h, read, write, &mut n.ip, n.now)
                .expect("shut down");
            n.nothing();
            assert_eq!(
                n.t.tcp_connected(h),
                Err(TransportError::Tcp(TcpError::Reset)),
                "shutdown({read}, {write})"
            );
            assert_eq!(n.t.poll_at(), None, "no SYN retransmission after it");
            // Its SYN-ACK, late, finds no connection.
            n.inject(
                remote,
                local,
                seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535),
                &[],
            );
            n.only().expect(RST, s.r.seq + 1, Seq(0));
            // The same socket connects again, and its reading was not shut down.
            n.t.tcp_connect(h, remote, &mut n.ip, n.now)
                .expect("connect again");
            let s2 = n.only();
            assert_eq!(s2.r.flags, SYN);
            let synack = TcpRepr {
                mss: Some(PEER_MSS),
                ..seg(SYN | ACK, PEER_ISS, s2.r.seq + 1, 65_535)
            };
            n.inject(remote, sa(s2.src, s2.r.src_port), synack, &[]);
            n.only().expect_ack(s2.r.seq + 1, PEER_ISS + 1);
            assert_eq!(n.t.tcp_connected(h), Ok(true));
            n.inject(
                remote,
                sa(s2.src, s2.r.src_port),
                seg(ACK | PSH, PEER_ISS + 1, s2.r.seq + 1, 65_535),
                b"hello",
            );
            let mut buf = [0u8; 16];
            assert_eq!(
                n.t.tcp_recv(h, &mut buf, &mut n.ip, n.now),
                Ok(Some(5)),
                "shutdown({read}, {write})"
            );
        }
    }

    #[test]
    fn rst_with_acceptable_ack_refuses() {
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        n.inject(remote, local, seg(RST | ACK, Seq(0), s.r.seq + 1, 0), &[]);
        n.nothing();
        assert_eq!(
            n.t.tcp_connected(h),
            Err(TransportError::Tcp(TcpError::Refused))
        );
        assert_eq!(n.t.poll_at(), None, "no SYN retransmission after a refusal");
    }

    /// A refused connection lets go of the port `connect` picked for it, though the
    /// application still holds the socket (Linux's tcp_set_state(TCP_CLOSE) puts a port
    /// no `bind` locked): another socket may bind it. It was held until the close.
    #[test]
    fn a_refused_connection_lets_go_of_the_port_connect_picked() {
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        n.inject(remote, local, seg(RST | ACK, Seq(0), s.r.seq + 1, 0), &[]);
        assert_eq!(
            n.t.tcp_connected(h),
            Err(TransportError::Tcp(TcpError::Refused))
        );
        let x = n.t.tcp_open().unwrap();
        assert_eq!(n.t.tcp_bind(x, local, &n.ip), Ok(local));
        // Its next connect picks a port again: not the one `x` holds now.
        n.t.tcp_connect(h, remote, &mut n.ip, n.now).unwrap();
        let s = n.only();
        assert_eq!(s.r.flags, SYN);
        assert_ne!(s.r.src_port, local.port());
    }

    #[test]
    fn rst_without_ack_or_with_bad_ack_is_ignored() {
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        n.inject(remote, local, seg(RST, Seq(12_345), Seq(0), 0), &[]);
        n.inject(remote, local, seg(RST | ACK, Seq(0), s.r.seq + 2, 0), &[]);
        n.inject(remote, local, seg(RST | ACK, Seq(0), s.r.seq, 0), &[]);
        n.nothing();
        assert_eq!(n.t.tcp_connected(h), Ok(false));
        // And the handshake still completes.
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535)
        };
        n.inject(remote, local, synack, &[]);
        n.only().expect_ack(s.r.seq + 1, PEER_ISS + 1);
        assert_eq!(n.t.tcp_connected(h), Ok(true));
    }

    #[test]
    fn unacceptable_ack_gets_rst() {
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        let iss = s.r.seq;
        n.inject(remote, local, seg(ACK, Seq(7), iss, 1000), &[]);
        n.only().expect(RST, iss, Seq(0));
        n.inject(remote, local, seg(ACK, Seq(7), iss + 2, 1000), &[]);
        n.only().expect(RST, iss + 2, Seq(0));
        n.inject(remote, local, seg(SYN | ACK, PEER_ISS, iss + 5, 1000), &[]);
        n.only().expect(RST, iss + 5, Seq(0));
        assert_eq!(n.t.tcp_connected(h), Ok(false));
        assert_eq!(n.state(h), TcpState::SynSent);
        assert_eq!(n.stats().bad_acks, 3);
    }

    /// The RST that answers an unacceptable ACK goes from the connection's port to the
    /// peer's (RFC 9293 3.10.7.3): a peer takes no RST for another connection.
    #[test]
    fn the_rst_for_an_unacceptable_ack_names_the_connections_ports() {
        let mut n = Net::new();
        let (_, local, remote, s) = connect(&mut n);
        n.inject(remote, local, seg(ACK, Seq(7), s.r.seq + 5, 1000), &[]);
        let r = n.only();
        r.expect(RST, s.r.seq + 5, Seq(0));
        assert_eq!((r.r.src_port, r.r.dst_port), (local.port(), remote.port()));
    }

    #[test]
    fn syn_ack_establishes_and_peer_mss_is_used() {
        let mut n = Net::new();
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
        };
        let (c, ack) = n.active_with(synack, ms(100));
        assert_eq!(n.state(c.h), TcpState::Established);
        // No window scaling (the SYN-ACK had none): our window is 65535 as is.
        assert_eq!(ack.r.window, 65_535);
        let i = n.info(c.h);
        assert_eq!((i.mss, i.snd_wnd), (1000, 65_535));
        assert_eq!(i.srtt, Some(ms(100)));
        assert_eq!(n.send(c.h, &pattern(2000)), 2000);
        let v = n.take();
        assert_eq!(lens(&v), vec![1000, 1000]);
        v[0].expect(ACK, c.snd, c.rcv);
        v[1].expect(ACK | PSH, c.snd + 1000, c.rcv);
        assert_eq!(v[1].data, pattern(2000)[1000..]);
        assert_eq!(n.stats().active_opens, 1);
        assert_eq!(n.stats().established, 1);
    }

    #[test]
    fn silly_or_missing_peer_mss_is_clamped() {
        // Linux's floor (tcp_min_snd_mss, 48); an MSS of 0 is ignored, as Linux does.
        for (mss, want) in [
            (Some(10), 48),
            (Some(0), 536),
            (None, 536),
            (Some(9000), 1460),
        ] {
            let mut n = Net::new();
            let synack = TcpRepr {
                mss,
                ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
            };
            let c = n.active_with(synack, Duration::ZERO).0;
            assert_eq!(n.info(c.h).mss, want, "peer MSS {mss:?}");
            if want == 48 {
                n.set_opts(c.h, |o| o.nodelay = true);
                n.send(c.h, &pattern(200));
                assert_eq!(lens(&n.take()), vec![48, 48, 48, 48, 8]);
            }
        }
    }

    #[test]
    fn window_scale_applied_except_on_the_syn_ack() {
        let mut n = Net::new();
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            wscale: Some(3),
            ..seg(SYN | ACK, PEER_ISS, Seq(0), 1000)
        };
        let (c, ack) = n.active_with(synack, Duration::ZERO);
        // Our window, scaled by our shift of 7: 1 MiB >> 7.
        assert_eq!(ack.r.window, 8_192);
        // RFC 7323 2.2: the window field of a SYN-ACK is not scaled.
        assert_eq!(n.info(c.h).snd_wnd, 1000);
        n.send(c.h, &pattern(3000));
        let v = n.take();
        assert_eq!(
            lens(&v),
            vec![1000],
            "only the 1000 bytes the window allows"
        );
        // Later windows are scaled: 1000 << 3.
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 1000), &[]);
        assert_eq!(n.info(c.h).snd_wnd, 8000);
        let v = n.take();
        assert_eq!(seqs(&v), vec![c.snd + 1000, c.snd + 2000]);
    }

    #[test]
    fn window_scale_shift_is_capped_at_14() {
        let mut n = Net::new();
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            wscale: Some(20),
            ..seg(SYN | ACK, PEER_ISS, Seq(0), 1000)
        };
        let c = n.active_with(synack, Duration::ZERO).0;
        n.to(&c, seg(ACK, c.rcv, c.snd, 1), &[]);
        assert_eq!(n.info(c.h).snd_wnd, 1 << 14);
    }

    /// RFC 7323 2.3: a shift count above 14 in a SYN is an error that the TCP "SHOULD log"
    /// and for which it MUST use 14. The stack logs nothing from protocol code; the
    /// error is counted (`wscale_clamped`, in `stat`) for a SYN-ACK and for a SYN at a
    /// listener, not for 14 itself. Before, it was capped silently.
    #[test]
    fn a_window_scale_above_14_is_counted() {
        for shift in [14u8, 15, 255] {
            let over = u64::from(shift > 14);
            let mut n = Net::new();
            let synack = TcpRepr {
                mss: Some(PEER_MSS),
                wscale: Some(shift),
                ..seg(SYN | ACK, PEER_ISS, Seq(0), 1000)
            };
            let c = n.active_with(synack, Duration::ZERO).0;
            n.to(&c, seg(ACK, c.rcv, c.snd, 1), &[]);
            assert_eq!(n.info(c.h).snd_wnd, 1 << 14);
            assert_eq!(n.stats().wscale_clamped, over, "SYN-ACK, {shift}");
            let s = TcpRepr {
                wscale: Some(shift),
                ..syn(PEER_ISS)
            };
            let c = n.passive_with(s, 1).1;
            assert_eq!(n.info(c.h).snd_wnd, 1 << 14);
            assert_eq!(n.stats().wscale_clamped, 2 * over, "SYN, {shift}");
        }
    }

    #[test]
    fn simultaneous_open() {
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        let iss = s.r.seq;
        // The peer's SYN crosses ours.
        n.inject(remote, local, syn(PEER_ISS), &[]);
        let sa_ = n.only();
        sa_.expect(SYN | ACK, iss, PEER_ISS + 1);
        assert_eq!(sa_.r.mss, Some(1460));
        assert_eq!(sa_.r.wscale, None, "the peer's SYN had no window scale");
        assert_eq!(n.state(h), TcpState::SynReceived);
        assert_eq!(n.t.tcp_connected(h), Ok(false));
        // Its SYN-ACK acknowledges our SYN.
        n.inject(
            remote,
            local,
            seg(SYN | ACK, PEER_ISS, iss + 1, 65_535),
            &[],
        );
        for o in n.take() {
            o.expect_ack(iss + 1, PEER_ISS + 1);
        }
        assert_eq!(n.state(h), TcpState::Established);
        assert_eq!(n.t.tcp_connected(h), Ok(true));
        // Data flows both ways.
        let c = Conn {
            h,
            local,
            remote,
            snd: iss + 1,
            rcv: PEER_ISS + 1,
        };
        n.data(&c, c.rcv, b"hello");
        assert_eq!(n.recv(h), Ok(Some(b"hello".to_vec())));
        n.send(h, b"hi");
        let o = n.only();
        o.expect(ACK | PSH, iss + 1, PEER_ISS + 6);
        assert_eq!(o.data, b"hi");
    }

    #[test]
    fn rst_in_simultaneous_open_refuses() {
        let mut n = Net::new();
        let (h, local, remote, _) = connect(&mut n);
        n.inject(remote, local, syn(PEER_ISS), &[]);
        n.only();
        n.inject(remote, local, seg(RST, PEER_ISS + 1, Seq(0), 0), &[]);
        n.nothing();
        assert_eq!(
            n.t.tcp_connected(h),
            Err(TransportError::Tcp(TcpError::Refused))
        );
    }

    #[test]
    fn simultaneous_open_with_window_scale() {
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        let iss = s.r.seq;
        let psyn = TcpRepr {
            wscale: Some(3),
            ..seg(SYN, PEER_ISS, Seq(0), 1000)
        };
        n.inject(remote, local, psyn, &[]);
        let sa_ = n.only();
        sa_.expect(SYN | ACK, iss, PEER_ISS + 1);
        assert_eq!(sa_.r.wscale, Some(7));
        let psynack = TcpRepr {
            wscale: Some(3),
            ..seg(SYN | ACK, PEER_ISS, iss + 1, 1000)
        };
        n.inject(remote, local, psynack, &[]);
        n.take();
        assert_eq!(n.state(h), TcpState::Established);
        // The SYN-ACK's window is not scaled (RFC 7323 2.2).
        assert_eq!(n.info(h).snd_wnd, 1000);
    }
}

// ==== SYN-RECEIVED ============================================================================

mod syn_received {
    use super::*;

    fn embryo(n: &mut Net) -> (SocketHandle, Out) {
        let l = n.listen(LPORT, 16);
        n.inject(sa(PEER, PPORT), sa(US, LPORT), syn(PEER_ISS), &[]);
        let s = n.only();
        assert_eq!(s.r.flags, SYN | ACK);
        (l, s)
    }

    fn from_peer(n: &mut Net, r: TcpRepr, data: &[u8]) {
        n.inject(sa(PEER, PPORT), sa(US, LPORT), r, data);
    }

    #[test]
    fn retransmitted_syn_gets_the_syn_ack_again() {
        let mut n = Net::new();
        let (_, s) = embryo(&mut n);
        from_peer(&mut n, syn(PEER_ISS), &[]);
        let again = n.only();
        assert_eq!(again.r, s.r);
        assert_eq!(n.stats().dup_segments, 1);
        assert_eq!(n.t.socket_count(), 2, "no second connection");
        // And by the retransmission timer: 1 s, then 2 s later.
        let t0 = n.now;
        n.advance_to(t0 + secs(1) - ms(1));
        n.nothing();
        n.advance_to(t0 + secs(1));
        assert_eq!(n.only().r, s.r);
        n.advance_to(t0 + secs(3) - ms(1));
        n.nothing();
        n.advance_to(t0 + secs(3));
        assert_eq!(n.only().r, s.r);
    }

    /// The peer's SYN again (seq = IRS, behind RCV.NXT: out of the window) is answered
    /// with the SYN-ACK at most once per `invalid_ratelimit` (RFC 5961 7), as Linux's
    /// tcp_check_req limits its SYN-ACKs to retransmitted SYNs (tcp_oow_rate_limited,
    /// TCPACKSKIPPEDSYNRECV): a flood of copies of one SYN drew a SYN-ACK each.
    #[test]
    fn retransmitted_syns_draw_syn_acks_at_most_once_per_interval() {
        let mut n = Net::new();
        let (_, s) = embryo(&mut n);
        from_peer(&mut n, syn(PEER_ISS), &[]);
        assert_eq!(n.only().r, s.r);
        for _ in 0..10 {
            n.advance(ms(10));
            from_peer(&mut n, syn(PEER_ISS), &[]);
        }
        n.nothing();
        assert_eq!(n.stats().oow_acks_limited, 10);
        n.advance(ms(400));
        from_peer(&mut n, syn(PEER_ISS), &[]);
        assert_eq!(n.only().r, s.r, "500 ms after the last one answered");
    }

    /// A SYN of the peer's new attempt (another ISN, in the window): back to LISTEN
    /// (RFC 9293 3.10.7.4), nothing sent, the half-open connection gone; the peer's next
    /// SYN opens anew. Before (found by a review), a SYN-ACK for the old attempt went out
    /// and the half-open connection stayed.
    #[test]
    fn a_new_syn_returns_a_passive_open_to_listen() {
        let mut n = Net::new();
        let (l, _) = embryo(&mut n);
        from_peer(&mut n, syn(PEER_ISS + 100), &[]);
        n.nothing();
        assert_eq!(n.t.socket_count(), 1, "only the listener");
        assert_eq!(n.stats().handshake_restarts, 1);
        from_peer(&mut n, syn(PEER_ISS + 100), &[]);
        let s = n.only();
        assert_eq!((s.r.flags, s.r.ack), (SYN | ACK, PEER_ISS + 101));
        from_peer(&mut n, seg(ACK, PEER_ISS + 101, s.r.seq + 1, 65_535), &[]);
        assert!(n.t.tcp_accept(l).unwrap().is_some());
    }

    #[test]
    fn ack_completes_the_handshake_and_the_connection_is_accepted() {
        let mut n = Net::new();
        let (l, s) = embryo(&mut n);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
        from_peer(&mut n, seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535), &[]);
        n.nothing();
        let (h, from) = n.t.tcp_accept(l).unwrap().expect("a connection");
        assert_eq!(from, sa(PEER, PPORT));
        assert_eq!(n.state(h), TcpState::Established);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
        assert_eq!(n.stats().established, 1);
        assert_eq!(n.t.poll_at(), None, "the SYN-ACK timer is off");
    }

    #[test]
    fn data_on_the_completing_ack_is_kept() {
        let mut n = Net::new();
        let (l, s) = embryo(&mut n);
        from_peer(
            &mut n,
            seg(ACK | PSH, PEER_ISS + 1, s.r.seq + 1, 65_535),
            b"GET /",
        );
        let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
        assert_eq!(n.recv(h), Ok(Some(b"GET /".to_vec())));
    }

    #[test]
    fn rst_removes_the_embryonic_connection_quietly() {
        let mut n = Net::new();
        let (l, s) = embryo(&mut n);
        // In the window but not at RCV.NXT: a challenge (here, the SYN-ACK again).
        from_peer(&mut n, seg(RST, PEER_ISS + 6, Seq(0), 0), &[]);
        n.only().expect(SYN | ACK, s.r.seq, PEER_ISS + 1);
        assert_eq!(n.t.socket_count(), 2);
        // At RCV.NXT: gone, without a word.
        from_peer(&mut n, seg(RST, PEER_ISS + 1, Seq(0), 0), &[]);
        n.nothing();
        assert_eq!(n.t.socket_count(), 1);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
        assert_eq!(n.t.poll_at(), None);
        // The late ACK of the handshake reaches the listener: RST.
        from_peer(&mut n, seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535), &[]);
        n.only().expect(RST, s.r.seq + 1, Seq(0));
        // The listener is not blocked by a leaked embryo count.
        from_peer(&mut n, syn(PEER_ISS + 1000), &[]);
        assert_eq!(n.only().r.flags, SYN | ACK);
    }

    #[test]
    fn bad_ack_gets_rst_and_the_embryo_survives() {
        let mut n = Net::new();
        let (l, s) = embryo(&mut n);
        from_peer(&mut n, seg(ACK, PEER_ISS + 1, s.r.seq + 2, 65_535), &[]);
        n.only().expect(RST, s.r.seq + 2, Seq(0));
        from_peer(&mut n, seg(ACK, PEER_ISS + 1, s.r.seq, 65_535), &[]);
        n.only().expect(RST, s.r.seq, Seq(0));
        assert_eq!(n.stats().bad_acks, 2);
        from_peer(&mut n, seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535), &[]);
        n.nothing();
        assert!(n.t.tcp_accept(l).unwrap().is_some());
    }

    #[test]
    fn unanswered_syn_ack_gives_up_quietly() {
        let mut n = Net::with_cfg(TcpConfig {
            synack_retries: 2,
            ..cfg()
        });
        let (l, s) = embryo(&mut n);
        let t0 = n.now;
        n.advance_to(t0 + secs(1));
        assert_eq!(n.only().r, s.r);
        n.advance_to(t0 + secs(3));
        assert_eq!(n.only().r, s.r);
        n.advance_to(t0 + secs(7) - ms(1));
        assert_eq!(n.t.socket_count(), 2);
        n.advance_to(t0 + secs(7));
        n.nothing();
        assert_eq!(n.t.socket_count(), 1);
        assert_eq!(n.stats().handshake_timeouts, 1);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
    }
}

// ==== ESTABLISHED: receiving and RFC 5961 ==========================================================

mod established {
    use super::*;

    #[test]
    fn in_order_data_is_delivered_with_a_delayed_ack() {
        let mut n = Net::new();
        let c = n.passive();
        n.data(&c, c.rcv, b"hello");
        n.nothing();
        n.advance(ms(39));
        n.nothing();
        n.advance(ms(1));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 5);
        // The right edge stays where the SYN-ACK put it: 5 bytes on would be silly
        // (RFC 9293 3.8.6.2.2).
        assert_eq!(a.r.window, 65_530);
        assert_eq!(n.recv(c.h), Ok(Some(b"hello".to_vec())));
        assert_eq!(n.recv(c.h), Ok(None));
        n.advance(secs(1));
        n.nothing();
    }

    /// `Transport::tcp_mem` (what `tapip stat` shows): the bytes the connections' buffers
    /// hold, and the bound configured (`TcpConfig::mem_max`).
    #[test]
    fn tcp_mem_reports_the_buffers_held_and_the_bound() {
        let mut n = Net::with_cfg(TcpConfig {
            mem_max: 3 << 20,
            ..cfg()
        });
        assert_eq!(n.t.tcp_mem(), (0, 3 << 20));
        let c = n.passive();
        n.data(&c, c.rcv, b"hello");
        let (used, max) = n.t.tcp_mem();
        assert_eq!(max, 3 << 20);
        assert!(
            used >= 5,
            "the receive ring holding the bytes is charged: {used}"
        );
        // Read, the small ring is given back.
        assert_eq!(n.recv(c.h), Ok(Some(b"hello".to_vec())));
        assert_eq!(n.t.tcp_mem(), (0, 3 << 20));
    }

    #[test]
    fn two_full_sized_segments_are_acked_at_once() {
        let mut n = Net::new();
        let c = n.passive();
        let d = pattern(2920);
        n.data(&c, c.rcv, &d[..1460]);
        n.nothing();
        n.data(&c, c.rcv + 1460, &d[1460..]);
        n.only().expect_ack(c.snd, c.rcv + 2920);
        n.advance(secs(1));
        n.nothing();
        assert_eq!(n.recv(c.h), Ok(Some(d)));
    }

    #[test]
    fn out_of_order_segments_are_queued_and_a_hole_filled_delivers_all() {
        let mut n = Net::new();
        let c = n.passive();
        let d = pattern(300);
        n.data(&c, c.rcv + 100, &d[100..200]);
        n.only().expect_ack(c.snd, c.rcv);
        n.data(&c, c.rcv + 200, &d[200..]);
        n.only().expect_ack(c.snd, c.rcv);
        // An overlapping copy changes nothing: a duplicate, nothing queued.
        n.data(&c, c.rcv + 150, &d[150..250]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Ok(None));
        let st = n.stats();
        assert_eq!((st.ooo_queued, st.dup_segments), (2, 1));
        n.data(&c, c.rcv, &d[..100]);
        n.only().expect_ack(c.snd, c.rcv + 300);
        assert_eq!(n.recv(c.h), Ok(Some(d)));
    }

    #[test]
    fn fin_beyond_a_hole_is_taken_when_the_hole_fills() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(ACK | FIN, c.rcv + 3, c.snd, 65_535), b"def");
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Established);
        n.data(&c, c.rcv, b"abc");
        n.only().expect_ack(c.snd, c.rcv + 7);
        assert_eq!(n.state(c.h), TcpState::CloseWait);
        assert_eq!(n.recv(c.h), Ok(Some(b"abcdef".to_vec())));
        assert_eq!(n.recv(c.h), Ok(Some(vec![])));
    }

    #[test]
    fn duplicate_and_old_segments_are_acked_and_dropped() {
        let mut n = Net::new();
        let c = n.passive();
        n.data(&c, c.rcv, b"abc");
        n.nothing();
        n.data(&c, c.rcv, b"abc");
        n.only().expect_ack(c.snd, c.rcv + 3);
        // Partly old: the new part is kept, and the ACK goes at once.
        n.data(&c, c.rcv, b"abcdef");
        n.only().expect_ack(c.snd, c.rcv + 6);
        assert_eq!(n.recv(c.h), Ok(Some(b"abcdef".to_vec())));
        assert!(n.stats().dup_segments >= 2);
    }

    #[test]
    fn segment_beyond_the_window_is_trimmed() {
        let mut n = Net::with_cfg(TcpConfig {
            rcvbuf: 4000,
            ..cfg()
        });
        let c = n.passive();
        let d = pattern(5000);
        n.data(&c, c.rcv, &d[..2000]);
        n.nothing();
        n.data(&c, c.rcv + 2000, &d[2000..]);
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(a.r.window, 0);
        assert_eq!(n.stats().window_drops, 1);
        // Wholly beyond the (zero) window: a duplicate ACK.
        n.data(&c, c.rcv + 4000, &d[4000..]);
        n.only().expect_ack(c.snd, c.rcv + 4000);
        // Reading opens the window; the peer is told at once.
        assert_eq!(n.recv(c.h), Ok(Some(d[..4000].to_vec())));
        let u = n.only();
        u.expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(u.r.window, 4000);
        // Wholly beyond the new right edge.
        n.data(&c, c.rcv + 8000, b"zz");
        n.only().expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(n.recv(c.h), Ok(None));
    }

    #[test]
    fn our_zero_window_takes_probes_but_not_their_data() {
        let mut n = Net::with_cfg(TcpConfig {
            rcvbuf: 4000,
            ..cfg()
        });
        let c = n.passive();
        let d = pattern(4000);
        n.data(&c, c.rcv, &d[..2000]);
        n.data(&c, c.rcv + 2000, &d[2000..]);
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(a.r.window, 0);
        // A one-byte probe at RCV.NXT: answered, the byte not taken.
        n.data(&c, c.rcv + 4000, b"p");
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(a.r.window, 0);
        // A probe below RCV.NXT (as Linux sends them): answered too.
        n.to(&c, seg(ACK, c.rcv + 3999, c.snd, 65_535), &[]);
        n.only().expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(n.recv(c.h), Ok(Some(d)));
        let u = n.only();
        u.expect_ack(c.snd, c.rcv + 4000);
        assert_eq!(u.r.window, 4000);
    }

    #[test]
    fn outgoing_data_carries_the_delayed_ack() {
        let mut n = Net::new();
        let c = n.passive();
        n.data(&c, c.rcv, b"hi");
        n.nothing();
        n.send(c.h, b"yo");
        let o = n.only();
        o.expect(ACK | PSH, c.snd, c.rcv + 2);
        assert_eq!(o.data, b"yo");
        n.advance(ms(40));
        n.nothing();
    }

    #[test]
    fn rst_in_window_but_not_at_rcv_nxt_gets_a_challenge_ack() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(RST, c.rcv + 10, Seq(0), 0), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        // The next one after the per-connection interval (RFC 5961 7).
        n.advance(ms(500));
        n.to(&c, seg(RST | ACK, c.rcv + 1, c.snd, 0), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Established);
        assert_eq!(n.stats().challenge_acks, 2);
        // Outside the window: dropped without a word.
        n.to(&c, seg(RST, c.rcv + 100_000, Seq(0), 0), &[]);
        n.to(&c, seg(RST, c.rcv - 1, Seq(0), 0), &[]);
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::Established);
        assert_eq!(n.stats().challenge_acks, 2);
    }

    #[test]
    fn rst_at_rcv_nxt_resets_the_connection() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(RST, c.rcv, Seq(0), 0), &[]);
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::Reset)));
        assert_eq!(n.stats().resets_established, 1);
        assert_eq!(n.t.poll_at(), None);
        // The tuple is free: the listener answers a stray ACK with a RST.
        n.ack(&c, c.snd);
        n.only().expect(RST, c.snd, Seq(0));
    }

    #[test]
    fn syn_in_established_gets_a_challenge_ack() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, syn(c.rcv + 5), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.stats().challenge_acks, 1);
        // An old SYN (a retransmission of the first): an ACK too, once the per-connection
        // interval has passed.
        n.to(&c, syn(PEER_ISS), &[]);
        n.nothing();
        assert_eq!(n.stats().oow_acks_limited, 1);
        n.advance(ms(500));
        n.to(&c, syn(PEER_ISS), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Established);
        assert_eq!(n.t.socket_count(), 2, "no new connection");
    }

    #[test]
    fn retransmitted_syn_ack_after_establishment_gets_an_ack() {
        let mut n = Net::new();
        let c = n.active();
        n.to(&c, seg(SYN | ACK, PEER_ISS, c.snd, 65_535), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Established);
    }

    #[test]
    fn ack_of_data_never_sent_is_answered_and_dropped() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(ACK, c.rcv, c.snd + 100, 65_535), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        n.to(&c, seg(ACK | PSH, c.rcv, c.snd + 100, 65_535), b"xyz");
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Ok(None), "the segment's data is dropped too");
        assert_eq!(n.stats().bad_acks, 2);
    }

    #[test]
    fn data_without_ack_is_dropped_silently_and_counted() {
        // RFC 9293 3.10.7.4 fifth: "if the ACK bit is off, drop the segment and return".
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(PSH, c.rcv, Seq(0), 65_535), b"xyz");
        n.nothing();
        assert_eq!(n.recv(c.h), Ok(None));
        assert_eq!(n.stats().drop_no_ack, 1);
        // SYN-SENT: neither SYN nor RST.
        let mut n = Net::new();
        let (h, local, remote, _syn) = connect(&mut n);
        n.inject(remote, local, seg(PSH, PEER_ISS, Seq(0), 1000), b"x");
        n.nothing();
        assert_eq!(n.stats().drop_no_ack, 1);
        assert_eq!(n.state(h), TcpState::SynSent);
    }

    #[test]
    fn ack_older_than_the_max_window_is_challenged_and_dropped() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(ACK | PSH, c.rcv, c.snd - 70_000, 65_535), b"xyz");
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Ok(None));
        assert_eq!(n.stats().challenge_acks, 1);
        // Old but within the window the peer has offered: acceptable.
        n.to(&c, seg(ACK | PSH, c.rcv, c.snd - 100, 65_535), b"xyz");
        n.nothing();
        assert_eq!(n.recv(c.h), Ok(Some(b"xyz".to_vec())));
        assert_eq!(n.stats().challenge_acks, 1);
    }
}

// ==== ESTABLISHED: sending ====================================================================

mod sending {
    use super::*;

    #[test]
    fn nagle_holds_a_small_segment_while_data_is_unacked() {
        let mut n = Net::new();
        let c = n.passive();
        assert_eq!(n.send(c.h, b"a"), 1);
        let o = n.only();
        o.expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!(o.data, b"a");
        n.send(c.h, b"b");
        n.send(c.h, b"c");
        n.nothing();
        n.ack(&c, c.snd + 1);
        let o = n.only();
        o.expect(ACK | PSH, c.snd + 1, c.rcv);
        assert_eq!(o.data, b"bc");
        n.ack(&c, c.snd + 3);
        n.nothing();
    }

    #[test]
    fn nagle_does_not_hold_full_segments() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, b"a");
        n.only();
        n.send(c.h, &pattern(2500));
        let v = n.take();
        assert_eq!(lens(&v), vec![1000, 1000]);
        assert_eq!(seqs(&v), vec![c.snd + 1, c.snd + 1001]);
        // The short tail waits while "a" (a short segment) is unacknowledged, and goes
        // once it is, with the full segments still in flight (Minshall's Nagle).
        n.ack(&c, c.snd + 1);
        let o = n.only();
        o.expect(ACK | PSH, c.snd + 2001, c.rcv);
        assert_eq!(o.data.len(), 500);
        n.ack(&c, c.snd + 2001);
        n.nothing();
    }

    #[test]
    fn nodelay_sends_small_segments_at_once_and_releases_held_data() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, b"a");
        n.only();
        n.send(c.h, b"b");
        n.nothing();
        n.set_opts(c.h, |o| o.nodelay = true);
        let o = n.only();
        o.expect(ACK | PSH, c.snd + 1, c.rcv);
        assert_eq!(o.data, b"b");
        n.send(c.h, b"c");
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd + 2, &b"c"[..]));
    }

    /// Linux's TCP_NODELAY set on a corked socket pushes what is queued ("an explicit
    /// push, which overrides even TCP_CORK for currently queued segments", do_tcp_setsockopt:
    /// TCP_NAGLE_PUSH, then tcp_push_pending_frames), the cork staying for what is written
    /// next (skb_entail clears TCP_NAGLE_PUSH). Here the short segment stays corked.
    #[test]
    fn nodelay_set_on_a_corked_socket_pushes_what_waits() {
        let mut n = Net::new();
        let c = n.passive();
        n.set_opts(c.h, |o| o.cork = true);
        n.send(c.h, b"header");
        n.nothing();
        n.set_opts(c.h, |o| o.nodelay = true);
        let o = n.only();
        o.expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!(o.data, b"header");
        n.ack(&c, c.snd + 6);
        n.nothing();
        // Still corked: the next short write waits.
        n.send(c.h, b"x");
        n.nothing();
        // Another set of TCP_NODELAY, on already, pushes again (Linux pushes on every
        // set; a set that changed nothing pushed nothing). Other options do not.
        n.set_opts(c.h, |o| o.keep_idle = 99);
        n.nothing();
        n.set_nodelay(c.h, true);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd + 6, &b"x"[..]));
        n.ack(&c, c.snd + 7);
        n.send(c.h, b"y");
        n.nothing();
        // Set off, it pushes nothing.
        n.set_nodelay(c.h, false);
        n.nothing();
    }

    /// The push lasts for the bytes it covered: what the peer's window held back at the
    /// push goes, short tail and all, when the window opens (Linux's TCP_NAGLE_PUSH stays
    /// set until the next write's skb_entail). Before, the cork took the tail back.
    #[test]
    fn a_push_into_a_small_window_sends_the_rest_when_it_opens() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 1000).1;
        n.set_opts(c.h, |o| o.cork = true);
        n.send(c.h, &pattern(1300));
        let o = n.only();
        assert_eq!(
            o.data.len(),
            1000,
            "the window's worth goes (it is not short)"
        );
        // The push finds the window full: nothing goes yet.
        n.set_opts(c.h, |o| o.nodelay = true);
        n.nothing();
        // The peer takes it and opens its window: the 300 bytes left go, corked or not.
        n.ack(&c, c.snd + 1000);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.len()), (c.snd + 1000, 300));
        // What is written after the push stays corked.
        n.ack(&c, c.snd + 1300);
        n.send(c.h, b"x");
        n.nothing();
    }

    #[test]
    fn a_held_segment_leaves_with_the_fin() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, b"a");
        n.only();
        n.send(c.h, b"b");
        n.nothing();
        n.shutdown_write(c.h);
        let o = n.only();
        o.expect(ACK | PSH | FIN, c.snd + 1, c.rcv);
        assert_eq!(o.data, b"b");
        n.ack(&c, c.snd + 3);
        assert_eq!(n.state(c.h), TcpState::FinWait2);
    }

    #[test]
    fn a_small_window_is_used_after_the_persist_timeout() {
        // The peer offered 65535 in its SYN, now only 300: silly-window avoidance holds the
        // data back, until the persist timer overrides it (RFC 9293 3.8.6.2.1).
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 300).1;
        let d = pattern(1000);
        n.send(c.h, &d);
        n.nothing();
        let t0 = n.now;
        n.advance_to(t0 + ms(199));
        n.nothing();
        n.advance_to(t0 + ms(200));
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd, &d[..300]));
        n.to(&c, seg(ACK, c.rcv, c.snd + 300, 300), &[]);
        n.nothing();
        n.advance(ms(200));
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd + 300, &d[300..600]));
        // A window of a full segment: no waiting.
        n.to(&c, seg(ACK, c.rcv, c.snd + 600, 1000), &[]);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd + 600, &d[600..]));
    }

    #[test]
    fn an_rto_retransmission_stays_inside_the_peer_window() {
        // The peer offers 300 bytes (SYN and ACK alike, so 300 goes at once). A timeout
        // resends from SND.UNA no more than SND.UNA + min(cwnd, rwnd) allows (RFC 5681 2,
        // RFC 9293 3.8.6): 300 bytes, never a full segment of bytes the peer has no room
        // for.
        let mut n = Net::with_cfg(cfg());
        let small = TcpRepr {
            window: 300,
            ..syn(PEER_ISS)
        };
        let c = n.passive_with(small, 300).1;
        let d = pattern(5000);
        n.send(c.h, &d);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd, &d[..300]));
        for _ in 0..3 {
            let at = n.t.poll_at().expect("the retransmission timer");
            n.advance_to(at);
            let o = n.only();
            assert_eq!((o.r.seq, o.data.as_slice()), (c.snd, &d[..300]));
        }
        // The window closes with the 300 bytes unacknowledged: a timeout still resends
        // the first segment (as Linux does), but only bytes sent before.
        n.to(&c, seg(ACK, c.rcv, c.snd, 0), &[]);
        n.nothing();
        let at = n.t.poll_at().expect("the retransmission timer");
        n.advance_to(at);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd, &d[..300]));
        // Acknowledged, window still shut: the persist timer's probe, with the next byte.
        n.to(&c, seg(ACK, c.rcv, c.snd + 300, 0), &[]);
        n.nothing();
        let at = n.t.poll_at().expect("the persist timer");
        n.advance_to(at);
        let p = n.only();
        assert_eq!((p.r.seq, p.data.as_slice()), (c.snd + 300, &d[300..301]));
        assert_eq!(n.stats().window_probes, 1);
        // It opens: the data flows again.
        n.to(&c, seg(ACK, c.rcv, c.snd + 300, 1000), &[]);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd + 300, &d[300..1300]));
    }

    #[test]
    fn the_send_window_limits_what_is_in_flight() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 3000).1;
        assert_eq!(n.info(c.h).snd_wnd, 3000);
        let d = pattern(10_000);
        n.send(c.h, &d);
        let v = n.take();
        assert_eq!(seqs(&v), vec![c.snd, c.snd + 1000, c.snd + 2000]);
        assert_eq!(lens(&v), vec![1000; 3]);
        assert_eq!(v[2].data, d[2000..3000]);
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 3000), &[]);
        assert_eq!(seqs(&n.take()), vec![c.snd + 3000]);
        n.to(&c, seg(ACK, c.rcv, c.snd + 4000, 2000), &[]);
        assert_eq!(seqs(&n.take()), vec![c.snd + 4000, c.snd + 5000]);
        n.to(&c, seg(ACK, c.rcv, c.snd + 6000, 0), &[]);
        n.nothing();
    }

    #[test]
    fn rto_retransmission_with_backoff_and_karn() {
        let mut n = Net::new();
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
        };
        let c = n.active_with(synack, ms(100)).0;
        let i = n.info(c.h);
        // RFC 6298 2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR.
        assert_eq!((i.srtt, i.rto), (Some(ms(100)), ms(300)));
        n.send(c.h, b"hello");
        let first = n.only();
        let t0 = n.now;
        let mut at = Duration::ZERO;
        for rto in [300u64, 600, 1200] {
            at += ms(rto);
            n.advance_to(t0 + at - ms(1));
            n.nothing();
            n.advance_to(t0 + at);
            let o = n.only();
            o.expect(ACK | PSH, c.snd, c.rcv);
            assert_eq!(o.data, first.data);
        }
        let i = n.info(c.h);
        assert_eq!((i.rto, i.retransmits), (ms(2400), 3));
        assert_eq!(n.stats().timeouts, 3);
        // Karn: the ACK of a retransmitted segment gives no RTT sample.
        n.advance(ms(10));
        n.ack(&c, c.snd + 5);
        n.nothing();
        let i = n.info(c.h);
        assert_eq!((i.srtt, i.rto), (Some(ms(100)), ms(2400)));
        assert_eq!(n.t.poll_at(), None, "nothing outstanding: no timer");
        // A fresh segment is timed: R = 50 ms.
        n.send(c.h, b"world");
        n.only().expect(ACK | PSH, c.snd + 5, c.rcv);
        n.advance(ms(50));
        n.ack(&c, c.snd + 10);
        let i = n.info(c.h);
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 50| = 50; SRTT = 7/8 * 100 + 1/8 * 50 = 93.75.
        assert_eq!(i.srtt, Some(Duration::from_micros(93_750)));
        assert_eq!(i.rto, Duration::from_micros(293_750));
    }

    #[test]
    fn rto_is_at_least_200_ms() {
        let mut n = Net::new();
        let c = n.active();
        let i = n.info(c.h);
        assert_eq!((i.srtt, i.rto), (Some(Duration::ZERO), ms(200)));
        n.send(c.h, b"x");
        n.only();
        let t0 = n.now;
        n.advance_to(t0 + ms(199));
        n.nothing();
        n.advance_to(t0 + ms(200));
        n.only().expect(ACK | PSH, c.snd, c.rcv);
    }

    #[test]
    fn rto_is_3_s_after_a_retransmitted_syn() {
        // RFC 6298 5.7: no RTT sample from the handshake (Karn) and an RTO under 3 s:
        // data starts with 3 s.
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        n.advance(secs(1));
        assert_eq!(n.only().r.seq, s.r.seq);
        n.inject(
            remote,
            local,
            TcpRepr {
                mss: Some(PEER_MSS),
                ..seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535)
            },
            &[],
        );
        n.only().expect_ack(s.r.seq + 1, PEER_ISS + 1);
        let i = n.info(h);
        assert_eq!((i.srtt, i.rto), (None, secs(3)));
        n.send(h, b"x");
        n.only();
        let t0 = n.now;
        n.advance_to(t0 + secs(3) - ms(1));
        n.nothing();
        n.advance_to(t0 + secs(3));
        n.only().expect(ACK | PSH, s.r.seq + 1, PEER_ISS + 1);

        // The same for a passive open whose SYN-ACK was retransmitted.
        let mut n = Net::new();
        let l = n.listen(LPORT, 16);
        n.inject(sa(PEER, PPORT), sa(US, LPORT), syn(PEER_ISS), &[]);
        let s = n.only();
        n.advance(secs(1));
        assert_eq!(n.only().r, s.r);
        n.inject(
            sa(PEER, PPORT),
            sa(US, LPORT),
            seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
            &[],
        );
        let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
        let i = n.info(h);
        assert_eq!((i.srtt, i.rto), (None, secs(3)));
    }

    /// RFC 5681 3.1: after a retransmitted SYN or SYN-ACK, data starts from one segment,
    /// not the initial window; a handshake without a loss starts from ten.
    #[test]
    fn the_first_flight_is_one_segment_after_a_retransmitted_syn() {
        let flight = |n: &mut Net, h| {
            n.send(h, &pattern(20 * usize::from(PEER_MSS)));
            n.take().len()
        };
        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        n.advance(secs(1));
        assert_eq!(n.only().r.seq, s.r.seq);
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535)
        };
        n.inject(remote, local, synack, &[]);
        n.only().expect_ack(s.r.seq + 1, PEER_ISS + 1);
        assert_eq!(flight(&mut n, h), 1, "active open");

        let mut n = Net::new();
        let (h, local, remote, s) = connect(&mut n);
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535)
        };
        n.inject(remote, local, synack, &[]);
        n.only();
        assert_eq!(flight(&mut n, h), 10, "no loss: the initial window");

        let mut n = Net::new();
        let l = n.listen(LPORT, 16);
        let peer_syn = TcpRepr {
            mss: Some(PEER_MSS),
            ..syn(PEER_ISS)
        };
        n.inject(sa(PEER, PPORT), sa(US, LPORT), peer_syn, &[]);
        let s = n.only();
        n.advance(secs(1));
        assert_eq!(n.only().r, s.r);
        let ack = seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535);
        n.inject(sa(PEER, PPORT), sa(US, LPORT), ack, &[]);
        let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
        assert_eq!(flight(&mut n, h), 1, "passive open");
    }

    #[test]
    fn rto_backoff_is_capped_at_rto_max() {
        let mut n = Net::with_cfg(TcpConfig {
            rto_max: secs(1),
            ..cfg()
        });
        let c = n.passive();
        n.send(c.h, b"x");
        n.only();
        let t0 = n.now;
        let mut at = Duration::ZERO;
        for rto in [200u64, 400, 800, 1000, 1000] {
            at += ms(rto);
            n.advance_to(t0 + at - ms(1));
            n.nothing();
            n.advance_to(t0 + at);
            n.only().expect(ACK | PSH, c.snd, c.rcv);
        }
        assert_eq!(n.info(c.h).rto, secs(1));
    }

    #[test]
    fn rto_collapses_cwnd_and_goes_back_to_snd_una() {
        // Reno's ssthresh (CUBIC's is below).
        let mut n = Net::with_cfg(reno());
        let c = n.passive();
        n.send(c.h, &pattern(3000));
        assert_eq!(n.take().len(), 3);
        n.advance(ms(200));
        let o = n.only();
        o.expect(ACK, c.snd, c.rcv);
        assert_eq!(o.data.len(), 1000);
        let i = n.info(c.h);
        // RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 SMSS), cwnd = 1 SMSS.
        assert_eq!(i.congestion, CongestionAlgorithm::Reno);
        assert_eq!((i.cwnd, i.ssthresh), (1000, 2000));
        n.ack(&c, c.snd + 1000);
        let v = n.take();
        assert_eq!(seqs(&v), vec![c.snd + 1000, c.snd + 2000]);
        assert_eq!(n.info(c.h).cwnd, 2000);
        assert_eq!(n.stats().retransmits, 3);
    }

    #[test]
    fn an_application_limited_sender_keeps_its_window() {
        for alg in [CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno] {
            let mut n = Net::with_cfg(TcpConfig {
                congestion: alg,
                ..cfg()
            });
            let c = n.passive();
            // One segment per round trip: the initial window of 10 is never used, so it
            // does not grow (it grew by a segment per ACK before).
            let mut at = c.snd;
            for _ in 0..50 {
                n.send(c.h, &pattern(1000));
                assert_eq!(n.take().len(), 1);
                at = at + 1000;
                n.ack(&c, at);
            }
            assert_eq!(n.info(c.h).cwnd, 10_000, "{alg}");
            // A sender that fills it makes it grow again.
            n.send(c.h, &pattern(10_000));
            assert_eq!(n.take().len(), 10);
            for i in 1..=10 {
                n.ack(&c, at + 1000 * i);
            }
            assert_eq!(n.info(c.h).cwnd, 20_000, "{alg}");
        }
    }

    #[test]
    fn rto_with_cubic_keeps_seven_tenths_of_the_flight() {
        let mut n = Net::with_cfg(cfg());
        let c = n.passive();
        n.send(c.h, &pattern(3000));
        assert_eq!(n.take().len(), 3);
        n.advance(ms(200));
        n.only().expect(ACK, c.snd, c.rcv);
        let i = n.info(c.h);
        // RFC 9438 4.8: cwnd = 1 SMSS as Reno, ssthresh = FlightSize * 0.7.
        assert_eq!(i.congestion, CongestionAlgorithm::Cubic);
        assert_eq!((i.cwnd, i.ssthresh, i.losses), (1000, 2100, 1));
        // Slow start from there.
        n.ack(&c, c.snd + 1000);
        assert_eq!(seqs(&n.take()), vec![c.snd + 1000, c.snd + 2000]);
        assert_eq!(n.info(c.h).cwnd, 2000);
    }

    #[test]
    fn fast_retransmit_and_newreno_recovery() {
        // Reno's ssthresh: the recovery is the same with CUBIC (below), from another one.
        let mut n = Net::with_cfg(reno());
        let c = n.passive();
        let d = pattern(10_000);
        n.send(c.h, &d);
        assert_eq!(n.take().len(), 10);
        n.ack(&c, c.snd + 1000);
        n.nothing();
        // Not duplicates: a window change, data.
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 60_000), &[]);
        n.ack(&c, c.snd + 1000);
        assert_eq!(n.stats().dup_acks, 0);
        n.ack(&c, c.snd + 1000);
        n.ack(&c, c.snd + 1000);
        n.nothing();
        n.ack(&c, c.snd + 1000);
        let o = n.only();
        o.expect(ACK, c.snd + 1000, c.rcv);
        assert_eq!(o.data, d[1000..2000]);
        let st = n.stats();
        assert_eq!((st.dup_acks, st.fast_retransmits), (3, 1));
        let i = n.info(c.h);
        // FlightSize 9000: ssthresh = 4500, cwnd = ssthresh + 3 SMSS.
        assert_eq!((i.ssthresh, i.cwnd), (4500, 7500));
        // Another duplicate inflates cwnd by one SMSS.
        n.ack(&c, c.snd + 1000);
        n.nothing();
        assert_eq!(n.info(c.h).cwnd, 8500);
        // A partial ACK: the next hole is retransmitted at once (RFC 6582 3.2 step 4).
        n.ack(&c, c.snd + 3000);
        let o = n.only();
        o.expect(ACK, c.snd + 3000, c.rcv);
        assert_eq!(o.data, d[3000..4000]);
        // Deflated by the 2000 acknowledged, plus one SMSS back.
        assert_eq!(n.info(c.h).cwnd, 7500);
        // The full ACK ends recovery: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
        n.ack(&c, c.snd + 10_000);
        n.nothing();
        let i = n.info(c.h);
        assert_eq!((i.cwnd, i.ssthresh), (2000, 4500));
        assert_eq!(n.stats().fast_retransmits, 2);
        // Out of recovery: duplicates count afresh (nothing outstanding: none at all).
        n.ack(&c, c.snd + 10_000);
        n.nothing();
        assert_eq!(n.info(c.h).cwnd, 2000);
    }

    #[test]
    fn fast_retransmit_with_cubic_keeps_seven_tenths_of_the_flight() {
        let mut n = Net::with_cfg(cfg());
        let c = n.passive();
        let d = pattern(10_000);
        n.send(c.h, &d);
        assert_eq!(n.take().len(), 10);
        n.ack(&c, c.snd + 1000);
        for _ in 0..3 {
            n.ack(&c, c.snd + 1000);
        }
        n.only().expect(ACK, c.snd + 1000, c.rcv);
        let i = n.info(c.h);
        // FlightSize 9000: ssthresh = 6300 (RFC 9438 4.6), cwnd = ssthresh + 3 SMSS
        // while RFC 6582 inflates it.
        assert_eq!((i.ssthresh, i.cwnd), (6300, 9300));
        assert_eq!((i.congestion, i.losses), (CongestionAlgorithm::Cubic, 1));
        // The full ACK ends recovery: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
        n.ack(&c, c.snd + 10_000);
        let i = n.info(c.h);
        assert_eq!((i.cwnd, i.ssthresh), (2000, 6300));
    }

    #[test]
    fn zero_window_is_probed_with_backoff_until_it_opens() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 0).1;
        assert_eq!(n.info(c.h).snd_wnd, 0);
        let d = pattern(500);
        n.send(c.h, &d);
        n.nothing();
        let t0 = n.now;
        let mut at = Duration::ZERO;
        let mut interval = ms(200);
        for _ in 0..4 {
            at += interval;
            n.advance_to(t0 + at - ms(1));
            n.nothing();
            n.advance_to(t0 + at);
            // The first byte, not counted as sent (RFC 9293 3.8.6.1).
            let p = n.only();
            p.expect(ACK, c.snd, c.rcv);
            assert_eq!(p.data, &d[..1]);
            // The peer answers: still closed, the byte dropped.
            n.to(&c, seg(ACK, c.rcv, c.snd, 0), &[]);
            n.nothing();
            interval *= 2;
        }
        assert_eq!(n.stats().window_probes, 4);
        assert_eq!(n.state(c.h), TcpState::Established);
        // It opens: the data flows.
        n.to(&c, seg(ACK, c.rcv, c.snd, 1000), &[]);
        let o = n.only();
        o.expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!(o.data, d);
    }

    /// The first zero-window probe waits the RTO as it stands, backed off by timeouts
    /// and without a sample since (Karn), as Linux's probe timer starts from `icsk_rto`;
    /// it is capped, as the RTO is, at 120 s (TCP_RTO_MAX). It used to be cut to 60 s.
    #[test]
    fn the_first_window_probe_waits_the_backed_off_rto() {
        let mut n = Net::with_cfg(cfg());
        let c = n.passive();
        n.send(c.h, b"lost");
        n.only();
        while n.info(c.h).rto < secs(100) {
            n.advance_to(n.t.poll_at().expect("the retransmission timer"));
            n.take();
        }
        let rto = n.info(c.h).rto;
        assert!(rto > secs(60) && rto <= secs(120), "{rto:?}");
        // All of it acknowledged at last (no RTT sample from a retransmission), the
        // window shut; more to send.
        n.to(&c, seg(ACK, c.rcv, c.snd + 4, 0), &[]);
        n.send(c.h, b"more");
        n.nothing();
        let t0 = n.now;
        n.advance_to(n.t.poll_at().expect("the persist timer"));
        n.only().expect(ACK, c.snd + 4, c.rcv);
        assert_eq!(n.now.saturating_duration_since(t0), rto);
    }

    /// The window opened but its update was lost: the probe's byte is taken, and the ACK
    /// that covers it makes the byte sent (RFC 9293 3.8.6.1: probes carry new data).
    #[test]
    fn a_window_probe_whose_byte_is_taken_counts_it_sent() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 0).1;
        let d = pattern(3000);
        n.send(c.h, &d);
        n.nothing();
        let at = n.t.poll_at().expect("the persist timer");
        n.advance_to(at);
        let p = n.only();
        assert_eq!((p.r.seq, p.data.as_slice()), (c.snd, &d[..1]));
        // An ACK of two bytes acknowledges something never sent: answered, dropped.
        n.to(&c, seg(ACK, c.rcv, c.snd + 2, 1000), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.info(c.h).snd_wnd, 0, "the bad ACK's window is not taken");
        // The peer's answer to the probe: the byte taken, its window open.
        n.to(&c, seg(ACK, c.rcv, c.snd + 1, 2000), &[]);
        let v = n.take();
        assert_eq!(v[0].r.seq, c.snd + 1);
        let got: Vec<u8> = v.iter().flat_map(|o| o.data.clone()).collect();
        assert_eq!(got, &d[1..2001]);
        let i = n.info(c.h);
        assert_eq!((i.snd_wnd, i.retransmits), (2000, 0));
        assert_eq!(n.stats().window_probes_taken, 1);
        // The rest follows as the window allows; every byte once.
        n.to(&c, seg(ACK, c.rcv, c.snd + 2001, 2000), &[]);
        let v = n.take();
        let got: Vec<u8> = v.iter().flat_map(|o| o.data.clone()).collect();
        assert_eq!(got, &d[2001..]);
        n.to(&c, seg(ACK, c.rcv, c.snd + 3000, 2000), &[]);
        assert_eq!(n.t.poll_at(), None, "all acknowledged: no timer left");
    }

    /// A probe's byte taken with the window shut again at once: the next probe carries the
    /// byte after it.
    #[test]
    fn a_taken_probe_byte_in_a_window_shut_again_moves_the_probes_on() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 0).1;
        let d = pattern(100);
        n.send(c.h, &d);
        let at = n.t.poll_at().expect("the persist timer");
        n.advance_to(at);
        assert_eq!(n.only().data, &d[..1]);
        n.to(&c, seg(ACK, c.rcv, c.snd + 1, 0), &[]);
        n.nothing();
        let at = n.t.poll_at().expect("the persist timer");
        n.advance_to(at);
        let p = n.only();
        assert_eq!((p.r.seq, p.data.as_slice()), (c.snd + 1, &d[1..2]));
        // A late answer to the first probe changes nothing.
        n.to(&c, seg(ACK, c.rcv, c.snd + 1, 0), &[]);
        n.nothing();
        n.to(&c, seg(ACK, c.rcv, c.snd + 1, 1000), &[]);
        let o = n.only();
        assert_eq!((o.r.seq, o.data.as_slice()), (c.snd + 1, &d[1..]));
    }

    /// With only our FIN left, a shut window is probed without data (a FIN there would be
    /// dropped): SEG.SEQ = SND.UNA - 1, which the peer must answer.
    #[test]
    fn with_only_the_fin_left_the_probe_carries_nothing() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 1000).1;
        n.send(c.h, &pattern(1000));
        assert_eq!(n.only().data.len(), 1000);
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 0), &[]);
        n.close(c.h);
        n.nothing();
        let at = n.t.poll_at().expect("the persist timer");
        n.advance_to(at);
        n.only().expect_ack(c.snd + 999, c.rcv);
        assert_eq!(n.stats().window_probes, 1);
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 1000), &[]);
        n.only().expect(ACK | FIN, c.snd + 1000, c.rcv);
    }

    /// A peer that shuts its window with our data in flight (part acknowledged, the
    /// rest beyond its new right edge) answers every retransmission with a zero window.
    /// Those retransmissions are its window probes, and a peer that answers them keeps
    /// the connection (RFC 9293 3.8.6.1, MUST-38), as Linux's retransmission timer does:
    /// it was timed out after the 300 s user timeout. A peer that falls silent still
    /// ends it, twice the largest RTO after it was last heard.
    #[test]
    fn a_window_shut_with_data_in_flight_is_not_timed_out_while_the_peer_answers() {
        let mut n = Net::with_cfg(cfg());
        let c = n.passive_with(syn(PEER_ISS), 2000).1;
        n.send(c.h, &pattern(2000));
        assert_eq!(n.take().len(), 2);
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 0), &[]);
        n.nothing();
        let t0 = n.now;
        while n.now < t0 + secs(900) {
            let at = n.t.poll_at().expect("a timer runs");
            n.advance_to(at);
            for o in n.take() {
                assert_eq!(o.r.seq, c.snd + 1000, "the data beyond the edge, again");
                n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 0), &[]);
            }
        }
        assert_eq!(
            n.state(c.h),
            TcpState::Established,
            "a live peer, its window shut"
        );
        assert_eq!(n.stats().user_timeouts, 0);
        // It opens: the rest goes (at its retransmission timer: it was sent before).
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 4000), &[]);
        n.advance_to(n.t.poll_at().expect("the retransmission timer"));
        let o = n.only();
        assert_eq!((o.r.seq, o.data.len()), (c.snd + 1000, 1000));
        // Shut again, and silent from then on.
        n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 0), &[]);
        // Given up 240 s (twice the 120 s largest RTO) after the last ACK.
        let heard = n.now;
        while n.state(c.h) == TcpState::Established && n.now < heard + secs(1000) {
            let at = n.t.poll_at().expect("a timer runs");
            n.advance_to(at);
            n.take();
        }
        assert_eq!(n.stats().user_timeouts, 1);
        let gone = n.now.saturating_duration_since(heard);
        assert!(gone >= secs(240) && gone < secs(400), "{gone:?}");
    }

    /// An orphan whose peer keeps its window shut through every probe gives up after
    /// `ORPHAN_PROBES` of them, instead of living for ever, with nothing sent (as Linux's
    /// probe timer ends an orphan: tcp_write_err, no RST).
    #[test]
    fn an_orphan_stuck_behind_a_zero_window_gives_up() {
        let mut n = Net::new();
        let c = n.passive_with(syn(PEER_ISS), 0).1;
        n.send(c.h, &pattern(500));
        n.nothing();
        n.close(c.h);
        for _ in 0..transport::tcp::ORPHAN_PROBES {
            let at = n.t.poll_at().expect("the persist timer runs");
            n.advance_to(at);
            n.only().expect(ACK, c.snd, c.rcv);
            n.to(&c, seg(ACK, c.rcv, c.snd, 0), &[]);
            n.nothing();
        }
        let at = n.t.poll_at().expect("the persist timer runs");
        n.advance_to(at);
        n.nothing();
        assert_eq!(n.stats().orphans_dropped, 1);
        assert_eq!(n.t.poll_at(), None, "gone");
        assert!(
            n.t.sockets().iter().all(|s| s.state == "LISTEN"),
            "only the listener is left"
        );
    }

    #[test]
    fn receive_window_shrinks_and_reopens_with_a_window_update() {
        let mut n = Net::with_cfg(TcpConfig {
            rcvbuf: 8192,
            ..cfg()
        });
        let c = n.passive();
        let d = pattern(7300);
        n.data(&c, c.rcv, &d[..1460]);
        n.nothing();
        n.data(&c, c.rcv + 1460, &d[1460..2920]);
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 2920);
        assert_eq!(a.r.window, 8192 - 2920);
        n.data(&c, c.rcv + 2920, &d[2920..4380]);
        n.data(&c, c.rcv + 4380, &d[4380..5840]);
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 5840);
        assert_eq!(a.r.window, 8192 - 5840);
        n.data(&c, c.rcv + 5840, &d[5840..]);
        n.nothing();
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 7300);
        // The right edge never moves left: 892 left, though silly.
        assert_eq!(a.r.window, 892);
        // Reading 1000 bytes would open it by 1000 only (less than an MSS): no update.
        assert_eq!(n.recv_n(c.h, 1000), d[..1000]);
        n.nothing();
        // By 2000 (at least min(MSS, buffer / 2), RFC 9293 3.8.6.2.2): an update.
        assert_eq!(n.recv_n(c.h, 1000), d[1000..2000]);
        let u = n.only();
        u.expect_ack(c.snd, c.rcv + 7300);
        assert_eq!(u.r.window, 8192 - 5300);
        assert_eq!(n.recv_n(c.h, 8192), d[2000..]);
        let u = n.only();
        u.expect_ack(c.snd, c.rcv + 7300);
        assert_eq!(u.r.window, 8192);
    }

    /// The right edge an ACK announces moves on only by at least min(MSS, buffer / 2)
    /// (RFC 9293 3.8.6.2.2, MUST-39): with part of the window still unused, a small read
    /// moved it by that read's size on the next ACK, and a sender without its own
    /// silly-window avoidance would fill it with a small segment.
    #[test]
    fn an_ack_moves_the_right_edge_by_no_less_than_an_mss() {
        let mut n = Net::with_cfg(TcpConfig {
            rcvbuf: 8192,
            rcvbuf_max: 8192,
            ..cfg()
        });
        let c = n.passive();
        let d = pattern(7100);
        for i in 0..7 {
            n.data(&c, c.rcv + i * 1000, &d[i * 1000..(i + 1) * 1000]);
        }
        n.advance(ms(40));
        let edge = |o: &Out| o.r.ack + usize::from(o.r.window);
        let before = edge(n.take().last().expect("ACKs"));
        assert_eq!(before, c.rcv + 8192);
        // 400 bytes read: too little to move the edge (no update either).
        assert_eq!(n.recv_n(c.h, 400), d[..400]);
        n.nothing();
        n.data(&c, c.rcv + 7000, &d[7000..7100]);
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 7100);
        assert_eq!(edge(&a), before, "the edge stays");
        // 1500 more: now it moves, by all that is free.
        assert_eq!(n.recv_n(c.h, 1500), d[400..1900]);
        let u = n.only();
        assert_eq!(edge(&u), c.rcv + 1900 + 8192);
    }

    /// A window update the IP layer refuses (a full transmit queue) is tried again after
    /// 200 ms, as Linux's tcp_send_ack: it was taken as sent, and the peer, seeing a
    /// nearly shut window, waited for its own probe.
    #[test]
    fn a_refused_window_update_is_sent_again() {
        let mut n = Net::with_cfg(TcpConfig {
            rcvbuf: 8192,
            ..cfg()
        });
        let c = n.passive();
        let d = pattern(7300);
        for i in 0..5 {
            let end = ((i + 1) * 1460).min(7300);
            n.data(&c, c.rcv + i * 1460, &d[i * 1460..end]);
        }
        n.advance(ms(40));
        let a = n.take().pop().expect("an ACK");
        a.expect_ack(c.snd, c.rcv + 7300);
        assert_eq!(a.r.window, 892);
        n.ip.fail = true;
        assert_eq!(n.recv_n(c.h, 7300), d);
        n.ip.fail = false;
        n.nothing();
        n.advance(ms(199));
        n.nothing();
        n.advance(ms(1));
        let u = n.only();
        u.expect_ack(c.snd, c.rcv + 7300);
        assert_eq!(u.r.window, 8192, "the update, again");
        n.advance(secs(1));
        n.nothing();
    }

    #[test]
    fn user_timeout_fails_a_silent_connection() {
        let mut n = Net::new();
        let c = n.passive();
        n.set_opts(c.h, |o| o.user_timeout = Some(secs(5)));
        n.send(c.h, b"hello");
        n.only();
        let t0 = n.now;
        for at in [200u64, 600, 1400, 3000] {
            n.advance_to(t0 + ms(at));
            n.only().expect(ACK | PSH, c.snd, c.rcv);
        }
        // The timeout due at 6.2 s is clamped to the user timeout's end, 5 s after the
        // first (Linux's tcp_clamp_rto_to_user_timeout).
        n.advance_to(t0 + ms(5199));
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::Established);
        n.advance_to(t0 + ms(5200));
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
        assert_eq!(n.stats().user_timeouts, 1);
        assert_eq!(n.t.poll_at(), None);
    }

    /// Sends that keep failing with nothing outstanding (no buffer, or refused) are tried
    /// again with the timeout's backoff, and end at the user timeout, as a silent peer does
    /// (they were tried every 200 ms for ever).
    #[test]
    fn a_send_that_keeps_failing_backs_off_and_ends_at_the_user_timeout() {
        let mut n = Net::new();
        let c = n.passive();
        n.set_opts(c.h, |o| o.user_timeout = Some(secs(5)));
        n.ip.fail = true;
        n.send(c.h, b"hello");
        let mut failed = n.stats().send_failures;
        assert!(failed > 0);
        let t0 = n.now;
        for at in [200u64, 600, 1400, 3000] {
            n.advance_to(t0 + ms(at - 1));
            assert_eq!(n.stats().send_failures, failed, "before {at} ms");
            n.advance_to(t0 + ms(at));
            assert!(n.stats().send_failures > failed, "tried again at {at} ms");
            failed = n.stats().send_failures;
        }
        n.advance_to(t0 + ms(5199));
        assert_eq!(n.state(c.h), TcpState::Established);
        n.advance_to(t0 + ms(5200));
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
        assert_eq!(n.stats().user_timeouts, 1);
    }

    #[test]
    fn keepalive_probes_answered_and_unanswered() {
        let mut n = Net::with_cfg(TcpConfig {
            keep_idle: secs(10),
            keep_interval: secs(2),
            keep_count: 3,
            ..cfg()
        });
        let c = n.passive();
        n.advance(secs(30));
        n.nothing();
        assert_eq!(n.t.poll_at(), None, "keepalive is off by default");
        // Idle since the handshake, yet the idle time counts from turning keepalive on,
        // as Linux's tcp_set_keepalive (the first probe went at once).
        n.set_opts(c.h, |o| o.keepalive = true);
        let on = n.now;
        n.advance_to(on + secs(10) - ms(1));
        n.nothing();
        n.advance_to(on + secs(10));
        let p = n.only();
        p.expect_ack(c.snd - 1, c.rcv);
        assert!(p.data.is_empty());
        let t0 = n.now;
        // Answered: the connection is idle again from here.
        n.ack(&c, c.snd);
        n.nothing();
        n.advance_to(t0 + secs(10) - ms(1));
        n.nothing();
        n.advance_to(t0 + secs(10));
        n.only().expect_ack(c.snd - 1, c.rcv);
        // Unanswered now: keep_count probes keep_interval apart, then failure. Another
        // option set meanwhile sends no probe and moves none (only turning keepalive on
        // moves its timer, as Linux's tcp_set_keepalive; found by a review: every option
        // brought the next probe forward).
        n.set_opts(c.h, |o| o.ttl = Some(7));
        n.advance(Duration::ZERO);
        n.nothing();
        for at in [12u64, 14] {
            n.advance_to(t0 + secs(at) - ms(1));
            n.set_opts(c.h, |o| o.nodelay = !o.nodelay);
            n.nothing();
            n.advance_to(t0 + secs(at));
            n.only().expect_ack(c.snd - 1, c.rcv);
        }
        n.advance_to(t0 + secs(16) - ms(1));
        assert_eq!(n.state(c.h), TcpState::Established);
        n.advance_to(t0 + secs(16));
        n.only().expect(RST | ACK, c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
        let st = n.stats();
        assert_eq!((st.keepalive_probes, st.keepalive_timeouts), (4, 1));
    }

    /// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT per socket, in place of the stack's
    /// values, as Linux's: set on a listener they pass to what it accepts, and a new idle
    /// time on a connection moves the next probe to that long after the last segment
    /// received (tcp_sock_set_keepidle). There were only the stack's values.
    #[test]
    fn keepalive_times_and_count_per_socket() {
        let mut n = Net::with_cfg(keepalive_cfg());
        let l = n.listen_cfg(LPORT, 16, |o| {
            o.keepalive = true;
            (o.keep_idle, o.keep_interval, o.keep_count) = (30, 5, 2);
        });
        let c = n.handshake_to(l, PPORT, syn(PEER_ISS), 65_535);
        let t0 = n.now;
        n.advance_to(t0 + secs(30) - ms(1));
        n.nothing();
        n.advance_to(t0 + secs(30));
        n.only().expect_ack(c.snd - 1, c.rcv);
        n.advance_to(t0 + secs(35));
        n.only().expect_ack(c.snd - 1, c.rcv);
        n.advance_to(t0 + secs(40) - ms(1));
        assert_eq!(n.state(c.h), TcpState::Established);
        n.advance_to(t0 + secs(40));
        n.only().expect(RST | ACK, c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));

        // A shorter idle time set on an idle connection: due from its last segment.
        let c = n.handshake_to(l, PPORT + 1, syn(PEER_ISS), 65_535);
        let t1 = n.now;
        n.advance_to(t1 + secs(20));
        n.set_opts(c.h, |o| o.keep_idle = 12);
        n.advance(Duration::ZERO);
        n.only().expect_ack(c.snd - 1, c.rcv);
        // And a longer one moves it later.
        n.ack(&c, c.snd);
        let t2 = n.now;
        n.set_opts(c.h, |o| o.keep_idle = 100);
        n.advance_to(t2 + secs(100) - ms(1));
        n.nothing();
        n.advance_to(t2 + secs(100));
        n.only().expect_ack(c.snd - 1, c.rcv);
    }

    /// A half-closed connection (shutdown(Write), our FIN acknowledged: FIN-WAIT-2) whose
    /// application reads on, with SO_KEEPALIVE: the peer that vanishes is found out by
    /// keepalive as in ESTABLISHED (Linux probes in every synchronized state), instead of
    /// the reader waiting for ever. Nothing else is outstanding to time out.
    #[test]
    fn keepalive_probes_a_half_closed_connection_in_fin_wait_2() {
        let mut n = Net::with_cfg(TcpConfig {
            keep_idle: secs(10),
            keep_interval: secs(2),
            keep_count: 3,
            ..cfg()
        });
        let c = n.passive();
        n.set_opts(c.h, |o| o.keepalive = true);
        n.shutdown_write(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        assert_eq!(n.state(c.h), TcpState::FinWait2);
        let t0 = n.now;
        n.advance_to(t0 + secs(10));
        let p = n.take();
        assert_eq!(p.len(), 1, "a keepalive probe after the idle time: {p:?}");
        p[0].expect_ack(c.snd, c.rcv);
        n.advance_to(t0 + secs(60));
        assert_eq!(
            n.state(c.h),
            TcpState::Closed,
            "the dead peer was found out"
        );
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
    }

    fn keepalive_cfg() -> TcpConfig {
        TcpConfig {
            keep_idle: secs(10),
            keep_interval: secs(2),
            keep_count: 3,
            ..cfg()
        }
    }

    /// Data outstanding and unanswered: keepalive stays quiet (the retransmission timer
    /// and the user timeout watch the connection), as Linux's keepalive timer only re-arms
    /// while segments are in flight. It probed at 10 s and failed the connection at 16 s
    /// with keepalive's count, long before the user timeout.
    #[test]
    fn keepalive_is_quiet_while_data_is_outstanding() {
        let mut n = Net::with_cfg(keepalive_cfg());
        let c = n.passive();
        n.set_opts(c.h, |o| o.keepalive = true);
        n.send(c.h, b"hello");
        n.only().expect(ACK | PSH, c.snd, c.rcv);
        n.advance(secs(120));
        let sent = n.take();
        assert!(
            sent.iter().all(|o| o.data == b"hello"),
            "only retransmissions: {sent:#?}"
        );
        assert_eq!(n.state(c.h), TcpState::Established);
        let st = n.stats();
        assert_eq!((st.keepalive_probes, st.keepalive_timeouts), (0, 0));
        // Acknowledged: idle from here, keepalive takes over again.
        n.ack(&c, c.snd + 5);
        let t0 = n.now;
        n.advance_to(t0 + secs(10) - ms(1));
        n.nothing();
        let (at, sent) = n.next_sent(secs(10));
        assert!(at <= t0 + secs(20), "probed at {at}");
        assert_eq!(sent.len(), 1);
        sent[0].expect_ack(c.snd + 4, c.rcv);
    }

    /// Data queued behind a peer's shut window: persist probes it, keepalive does not.
    #[test]
    fn keepalive_is_quiet_while_data_waits_for_a_window() {
        let mut n = Net::with_cfg(keepalive_cfg());
        let c = n.passive_with(syn(PEER_ISS), 0).1;
        n.set_opts(c.h, |o| o.keepalive = true);
        n.send(c.h, &pattern(100));
        n.nothing();
        // Unanswered (the peer gone): persist's probes carry the first byte, keepalive's
        // would carry none.
        n.advance(secs(60));
        let sent = n.take();
        assert!(
            sent.iter().all(|o| o.data.len() == 1),
            "only zero-window probes: {sent:#?}"
        );
        assert!(n.stats().window_probes > 0);
        assert_eq!(n.stats().keepalive_probes, 0);
        assert_eq!(n.state(c.h), TcpState::Established);
    }

    /// Keepalive giving up sends a RST (Linux's tcp_keepalive_timer resets before it
    /// reports the timeout), so a peer that is alive after all (our probes or its answers
    /// lost) learns that the connection is gone; it went silently.
    #[test]
    fn keepalive_gives_up_with_a_reset() {
        let mut n = Net::with_cfg(keepalive_cfg());
        let c = n.passive();
        n.set_opts(c.h, |o| o.keepalive = true);
        let t0 = n.now;
        for at in [10u64, 12, 14] {
            n.advance_to(t0 + secs(at));
            n.only().expect_ack(c.snd - 1, c.rcv);
        }
        let resets = n.stats().resets_out;
        n.advance_to(t0 + secs(16));
        n.only().expect(RST | ACK, c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
        let st = n.stats();
        assert_eq!((st.keepalive_timeouts, st.resets_out), (1, resets + 1));
    }

    /// TCP_USER_TIMEOUT set by the application bounds keepalive too (RFC 5482 4.2; Linux:
    /// with a user timeout, keepalive gives up at its first expiry after the user timeout
    /// since the peer was last heard, once a probe is out, whatever keep_count says).
    #[test]
    fn keepalive_gives_up_at_the_user_timeout() {
        let mut n = Net::with_cfg(TcpConfig {
            keep_count: 9,
            ..keepalive_cfg()
        });
        let c = n.passive();
        n.set_opts(c.h, |o| {
            o.keepalive = true;
            o.user_timeout = Some(secs(15));
        });
        let t0 = n.now;
        for at in [10u64, 12, 14] {
            n.advance_to(t0 + secs(at));
            n.only().expect_ack(c.snd - 1, c.rcv);
        }
        n.advance_to(t0 + secs(16));
        n.only().expect(RST | ACK, c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
        assert_eq!(n.stats().keepalive_probes, 3);

        // Longer than keep_count's probes: the probing goes on until it.
        let mut n = Net::with_cfg(keepalive_cfg());
        let c = n.passive();
        n.set_opts(c.h, |o| {
            o.keepalive = true;
            o.user_timeout = Some(secs(21));
        });
        let t0 = n.now;
        for at in [10u64, 12, 14, 16, 18, 20] {
            n.advance_to(t0 + secs(at));
            n.only().expect_ack(c.snd - 1, c.rcv);
        }
        assert_eq!(n.state(c.h), TcpState::Established);
        n.advance_to(t0 + secs(22));
        n.only().expect(RST | ACK, c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Closed);
    }

    /// A user timeout the application set counts as set whatever its value, even the
    /// stack's default (Linux tells its unset option, 0, from any value set): it bounds
    /// keepalive in place of keep_count. Before, a timeout equal to the default was taken
    /// for unset, and keepalive probed keep_count times.
    #[test]
    fn a_user_timeout_set_to_the_default_still_bounds_keepalive() {
        let mut n = Net::with_cfg(TcpConfig {
            keep_count: 9,
            user_timeout: secs(15),
            ..keepalive_cfg()
        });
        let c = n.passive();
        n.set_opts(c.h, |o| {
            o.keepalive = true;
            o.user_timeout = Some(secs(15));
        });
        let t0 = n.now;
        for at in [10u64, 12, 14] {
            n.advance_to(t0 + secs(at));
            n.only().expect_ack(c.snd - 1, c.rcv);
        }
        n.advance_to(t0 + secs(16));
        n.only().expect(RST | ACK, c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Err(TransportError::Tcp(TcpError::TimedOut)));
        assert_eq!(n.stats().keepalive_probes, 3);
    }
}

// ==== Closing: FIN-WAIT-1/2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK ==========================

mod closing {
    use super::*;

    /// Active close through shutdown (the handle keeps the TCB, so states are visible),
    /// up to TIME-WAIT.
    fn to_time_wait(n: &mut Net) -> Conn {
        let c = n.passive();
        n.shutdown_write(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::FinWait1);
        n.ack(&c, c.snd + 1);
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::FinWait2);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        c
    }

    /// Active close through `close` (an orphan), up to a TIME-WAIT record.
    fn to_time_wait_record(n: &mut Net) -> (SocketHandle, Conn) {
        let (l, c) = n.passive_with(syn(PEER_ISS), 65_535);
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.nothing();
        assert!(n.t.is_open(c.h), "an orphan in FIN-WAIT-2 lives on");
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert!(!n.t.is_open(c.h), "the socket became a TIME-WAIT record");
        assert_eq!(
            n.t.tcp_time_wait(n.now),
            vec![(c.local, c.remote, secs(60))]
        );
        (l, c)
    }

    /// shutdown on a connection in TIME-WAIT: ENOTCONN, as Linux's `inet_shutdown` on a
    /// socket in CLOSE, and nothing is sent. It returned Ok.
    #[test]
    fn shutdown_in_time_wait_is_not_connected() {
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        for (read, write) in [(false, true), (true, false), (true, true)] {
            assert_eq!(
                n.t.tcp_shutdown(c.h, read, write, &mut n.ip, n.now),
                Err(TransportError::NotConnected)
            );
        }
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::TimeWait);
    }

    /// A RST to a TIME-WAIT connection the application still holds is ignored silently,
    /// as a TIME-WAIT record ignores it (RFC 1337): one in the window but not at RCV.NXT
    /// drew a challenge ACK (RFC 5961 3.2), which the record does not send.
    #[test]
    fn a_rst_to_a_held_time_wait_connection_is_ignored_without_an_answer() {
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        let before = n.stats().drop_rst_ignored;
        for at in [c.rcv + 5, c.rcv + 1] {
            n.to(&c, seg(RST | ACK, at, c.snd + 1, 0), &[]);
            n.nothing();
            assert_eq!(n.state(c.h), TcpState::TimeWait);
        }
        assert_eq!(n.stats().drop_rst_ignored, before + 2);
    }

    /// A server that closed its side and read the client's FIN but has not closed the
    /// socket yet: the client's next connection from the same port (a higher ISN) is
    /// taken as a TIME-WAIT record would take it (RFC 6191, RFC 9293 3.10.7.4), not
    /// refused with challenge ACKs for 2 MSL. An old SYN (lower ISN, no timestamps) still
    /// meets the connection, as before.
    #[test]
    fn a_time_wait_connection_the_application_holds_takes_a_new_incarnation() {
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        assert_eq!(n.recv(c.h), Ok(Some(vec![])), "the end of the stream, read");
        n.to(&c, syn(c.rcv - 10), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        let iss2 = c.rcv + 100_000_000;
        n.to(&c, syn(iss2), &[]);
        let s = n.only();
        assert_eq!((s.r.flags, s.r.ack), (SYN | ACK, iss2 + 1), "{s:?}");
        assert!(s.r.seq.gt(c.snd + 1), "the new ISN above the old SND.NXT");
        assert_eq!(n.state(c.h), TcpState::Closed);
    }

    #[test]
    fn active_close_through_fin_wait_and_time_wait() {
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        assert_eq!(n.recv(c.h), Ok(Some(vec![])), "end of stream");
        assert_eq!(
            n.t.tcp_send(c.h, b"x", &mut n.ip, n.now),
            Err(TransportError::ShutDown)
        );
        let t1 = n.now;
        n.advance_to(t1 + secs(60) - ms(1));
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        n.advance_to(t1 + secs(60));
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.t.poll_at(), None);
    }

    /// Close `c` (the application lets go) through FIN-WAIT-2 into a TIME-WAIT record.
    fn close_into_record(n: &mut Net, c: &Conn) {
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(c, c.snd + 1);
        n.to(c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert!(!n.t.is_open(c.h), "a TIME-WAIT record now");
    }

    fn record_ports(n: &Net) -> Vec<u16> {
        n.t.tcp_time_wait(n.now)
            .iter()
            .map(|r| r.1.port())
            .collect()
    }

    /// With the TIME-WAIT table full, the record that expires first makes way. A record
    /// whose 2MSL a retransmitted FIN restarted expires last, yet it went first, as the
    /// oldest made.
    #[test]
    fn a_full_time_wait_table_evicts_the_record_that_expires_first() {
        let mut n = Net::with_cfg(TcpConfig {
            max_time_wait: 2,
            ..cfg()
        });
        let l = n.listen(LPORT, 16);
        let a = n.handshake_to(l, 40_001, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &a);
        n.advance(secs(1));
        let b = n.handshake_to(l, 40_002, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &b);
        n.advance(secs(9));
        // A's FIN again (our ACK was lost): its 2MSL starts over, it now expires last.
        n.to(&a, seg(FIN | ACK, a.rcv, a.snd + 1, 65_535), &[]);
        n.only().expect_ack(a.snd + 1, a.rcv + 1);
        n.advance(secs(1));
        let c = n.handshake_to(l, 40_003, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &c);
        assert_eq!(
            record_ports(&n),
            [40_001, 40_003],
            "B, expiring first, went"
        );
        assert_eq!(n.stats().time_wait_evicted, 1);
    }

    /// A record made after one that expires later (its connection reached TIME-WAIT
    /// earlier, but its socket was closed later) still ends at its own 2MSL; it waited
    /// behind the other, in the order the records were made.
    #[test]
    fn a_time_wait_record_expires_on_time_whatever_the_order_it_was_made_in() {
        let mut n = Net::with_cfg(cfg());
        let l = n.listen(LPORT, 16);
        // X reaches TIME-WAIT with its socket open: its 2MSL runs from t0.
        let x = n.handshake_to(l, 40_001, syn(PEER_ISS), 65_535);
        n.shutdown_write(x.h);
        n.only().expect(FIN | ACK, x.snd, x.rcv);
        n.to(&x, seg(FIN | ACK, x.rcv, x.snd + 1, 65_535), &[]);
        n.only().expect_ack(x.snd + 1, x.rcv + 1);
        assert_eq!(n.state(x.h), TcpState::TimeWait);
        let t0 = n.now;
        n.advance(secs(10));
        let y = n.handshake_to(l, 40_002, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &y);
        n.advance_to(t0 + secs(30));
        // X's record (until t0 + 60 s) comes after Y's (until t0 + 70 s).
        n.close(x.h);
        assert!(!n.t.is_open(x.h));
        assert_eq!(record_ports(&n), [40_001, 40_002]);
        assert_eq!(n.t.poll_at(), Some(t0 + secs(60)));
        n.advance_to(t0 + secs(60));
        assert_eq!(record_ports(&n), [40_002], "X's 2MSL is over");
        n.advance_to(t0 + secs(70));
        assert!(record_ports(&n).is_empty());
        assert_eq!(n.t.poll_at(), None);
    }

    /// A record that left early (a new incarnation's SYN) leaves its entry in the expiry
    /// queue; the same tuple's next record, made after another record, was then evicted by
    /// that stale entry, though the other expires first.
    #[test]
    fn a_reopened_tuple_s_old_entry_does_not_evict_its_new_record() {
        let mut n = Net::with_cfg(TcpConfig {
            max_time_wait: 2,
            ..cfg()
        });
        let l = n.listen(LPORT, 16);
        let a = n.handshake_to(l, 40_001, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &a);
        n.advance(secs(1));
        let b = n.handshake_to(l, 40_002, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &b);
        n.advance(secs(1));
        // A new incarnation of A (its SYN above the old RCV.NXT, RFC 6191) ends in a new
        // record, which expires after B's.
        let a2 = n.handshake_to(l, 40_001, syn(a.rcv + 100_000), 65_535);
        close_into_record(&mut n, &a2);
        assert_eq!(record_ports(&n), [40_001, 40_002]);
        n.advance(secs(1));
        let c = n.handshake_to(l, 40_003, syn(PEER_ISS), 65_535);
        close_into_record(&mut n, &c);
        assert_eq!(
            record_ports(&n),
            [40_001, 40_003],
            "B, expiring first, went"
        );
        assert_eq!(n.stats().time_wait_evicted, 1);
    }

    #[test]
    fn closed_socket_becomes_a_time_wait_record_that_expires() {
        let mut n = Net::new();
        let (_, c) = to_time_wait_record(&mut n);
        let t1 = n.now;
        n.advance_to(t1 + secs(60) - ms(1));
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.advance_to(t1 + secs(60));
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        n.nothing();
        assert_eq!(n.t.poll_at(), None);
        // The tuple now belongs to the listener: a stray ACK gets a RST.
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 1, 65_535), &[]);
        n.only().expect(RST, c.snd + 1, Seq(0));
    }

    #[test]
    fn orphan_in_fin_wait_2_gives_up_after_a_while() {
        let mut n = Net::new();
        let c = n.passive();
        n.close(c.h);
        n.only();
        n.ack(&c, c.snd + 1);
        let t1 = n.now;
        n.advance_to(t1 + secs(60) - ms(1));
        assert!(n.t.is_open(c.h));
        n.advance_to(t1 + secs(60));
        assert!(!n.t.is_open(c.h));
        n.nothing();
    }

    #[test]
    fn passive_close_through_close_wait_and_last_ack() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd, 65_535), &[]);
        n.only().expect_ack(c.snd, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::CloseWait);
        assert_eq!(n.recv(c.h), Ok(Some(vec![])));
        // CLOSE-WAIT may still send.
        assert_eq!(n.send(c.h, b"bye"), 3);
        let o = n.only();
        o.expect(ACK | PSH, c.snd, c.rcv + 1);
        assert_eq!(o.data, b"bye");
        n.shutdown_write(c.h);
        n.only().expect(FIN | ACK, c.snd + 3, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::LastAck);
        // The ACK of the data alone changes nothing.
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 3, 65_535), &[]);
        assert_eq!(n.state(c.h), TcpState::LastAck);
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 4, 65_535), &[]);
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert!(n.t.tcp_time_wait(n.now).is_empty(), "no TIME-WAIT here");
        assert_eq!(n.t.poll_at(), None);
        n.close(c.h);
        assert!(!n.t.is_open(c.h));
    }

    /// An orphan whose FIN (FIN-WAIT-1, or LAST-ACK after the peer's FIN) gets no answer
    /// gives up after 8 retransmissions, about 100 s at a 200 ms RTO, as Linux gives up on
    /// an orphan after tcp_orphan_retries (8 by default), with nothing sent (Linux's
    /// tcp_write_err: no RST); it lived until the user timeout (300 s), a socket slot held
    /// for nobody.
    #[test]
    fn an_orphan_whose_fin_goes_unanswered_gives_up_after_its_retries() {
        const RETRIES: u32 = transport::tcp::ORPHAN_RETRIES;
        assert_eq!(RETRIES, 8, "Linux's default");
        for last_ack in [false, true] {
            let mut n = Net::with_cfg(cfg());
            let c = n.passive();
            let rcv = if last_ack {
                n.to(&c, seg(FIN | ACK, c.rcv, c.snd, 65_535), &[]);
                n.only().expect_ack(c.snd, c.rcv + 1);
                c.rcv + 1
            } else {
                c.rcv
            };
            n.close(c.h);
            n.only().expect(FIN | ACK, c.snd, rcv);
            let t0 = n.now;
            let (mut at, mut rto) = (Duration::ZERO, ms(200));
            for _ in 0..RETRIES {
                at += rto;
                rto *= 2;
                n.advance_to(t0 + at - ms(1));
                n.nothing();
                n.advance_to(t0 + at);
                n.only().expect(FIN | ACK, c.snd, rcv);
            }
            at += rto;
            n.advance_to(t0 + at - ms(1));
            n.nothing();
            assert!(n.t.is_open(c.h));
            n.advance_to(t0 + at);
            n.nothing();
            assert!(!n.t.is_open(c.h), "gone after {at:?} ({last_ack})");
            let st = n.stats();
            assert_eq!((st.orphans_dropped, st.user_timeouts), (1, 0));
            assert_eq!(st.resets_out, 0);
            assert_eq!(n.t.poll_at(), None);
        }
    }

    #[test]
    fn passive_close_by_an_orphan() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd, 65_535), &[]);
        n.only();
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv + 1);
        assert!(n.t.is_open(c.h));
        // The FIN is retransmitted until acknowledged.
        n.advance(ms(200));
        n.only().expect(FIN | ACK, c.snd, c.rcv + 1);
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 1, 65_535), &[]);
        n.nothing();
        assert!(!n.t.is_open(c.h));
    }

    #[test]
    fn simultaneous_close_through_closing() {
        let mut n = Net::new();
        let c = n.passive();
        n.shutdown_write(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        // The peer's FIN crosses ours: it does not acknowledge it.
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::Closing);
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 1, 65_535), &[]);
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        n.advance(secs(60));
        assert_eq!(n.state(c.h), TcpState::Closed);
    }

    #[test]
    fn fin_acking_our_fin_goes_from_fin_wait_1_to_time_wait() {
        let mut n = Net::new();
        let c = n.passive();
        n.shutdown_write(c.h);
        n.only();
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
    }

    #[test]
    fn half_close_keeps_receiving_in_fin_wait_2() {
        let mut n = Net::new();
        let c = n.passive();
        n.shutdown_write(c.h);
        n.only();
        n.ack(&c, c.snd + 1);
        assert_eq!(n.state(c.h), TcpState::FinWait2);
        n.to(&c, seg(ACK | PSH, c.rcv, c.snd + 1, 65_535), b"more");
        n.nothing();
        assert_eq!(n.recv(c.h), Ok(Some(b"more".to_vec())));
        n.advance(ms(40));
        n.only().expect_ack(c.snd + 1, c.rcv + 4);
        n.to(
            &c,
            seg(ACK | PSH | FIN, c.rcv + 4, c.snd + 1, 65_535),
            b"end",
        );
        n.only().expect_ack(c.snd + 1, c.rcv + 8);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        assert_eq!(n.recv(c.h), Ok(Some(b"end".to_vec())));
        assert_eq!(n.recv(c.h), Ok(Some(vec![])));
    }

    /// Shut both ways (the application keeps the socket): new data after our FIN resets,
    /// as Linux's tcp_rcv_state_process in FIN-WAIT with RCV_SHUTDOWN (RFC 1122
    /// 4.2.2.13). Found by a review: the data was acknowledged and readable. Shut for
    /// writing only, the data is read as ever (the test above).
    #[test]
    fn data_after_shutdown_both_ways_resets() {
        let mut n = Net::new();
        let c = n.passive();
        n.t.tcp_shutdown(c.h, true, true, &mut n.ip, n.now)
            .expect("shutdown");
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.to(&c, seg(ACK | PSH, c.rcv, c.snd + 1, 65_535), b"more");
        n.only().expect(RST | ACK, c.snd + 1, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Closed);
        assert_eq!(n.stats().aborts_on_close, 1);
    }

    #[test]
    fn close_with_unread_data_sends_rst() {
        let mut n = Net::new();
        let c = n.passive();
        n.data(&c, c.rcv, b"abc");
        n.nothing();
        n.close(c.h);
        n.only().expect(RST | ACK, c.snd, c.rcv + 3);
        assert!(!n.t.is_open(c.h));
        assert_eq!(n.stats().aborts_on_close, 1);
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        assert_eq!(n.t.poll_at(), None);
    }

    /// Unread data in TIME-WAIT (the application half-closed, the peer answered and
    /// closed, and the application closes without reading all): both FINs are exchanged
    /// and acknowledged, nothing is left to reset, and TIME-WAIT must still last its
    /// 2 MSL (RFC 9293 3.6, RFC 1122 4.2.2.13; on Linux the connection is in TIME-WAIT
    /// apart from the socket, which a close does not end). It became nothing at once, and
    /// counted as an abort on close though no RST went.
    #[test]
    fn close_with_unread_data_in_time_wait_keeps_time_wait() {
        let mut n = Net::new();
        let c = n.passive();
        n.shutdown_write(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK | PSH, c.rcv, c.snd + 1, 65_535), b"reply");
        n.only().expect_ack(c.snd + 1, c.rcv + 6);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        n.close(c.h);
        n.nothing();
        assert_eq!(
            n.t.tcp_time_wait(n.now).len(),
            1,
            "TIME-WAIT lives on as a record"
        );
        assert_eq!(n.stats().aborts_on_close, 0, "nothing was reset");
        // A retransmission of the peer's FIN is still answered with an ACK, not a RST.
        n.to(&c, seg(FIN | ACK | PSH, c.rcv, c.snd + 1, 65_535), b"reply");
        n.only().expect_ack(c.snd + 1, c.rcv + 6);
    }

    /// SO_LINGER of zero on a connection already in TIME-WAIT has nobody to reset: the
    /// close is a plain one and TIME-WAIT lasts its 2 MSL (RFC 1337), as on Linux, whose
    /// socket is closed by then and whose TIME-WAIT record SO_LINGER does not reach.
    #[test]
    fn close_abort_in_time_wait_keeps_time_wait() {
        let mut n = Net::new();
        let c = n.passive();
        n.shutdown_write(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), b"");
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        n.t.tcp_close_abort(c.h, &mut n.ip, n.now);
        n.nothing();
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1, "TIME-WAIT goes on");
        assert_eq!(n.stats().aborts_on_close, 0);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), b"");
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
    }

    #[test]
    fn data_for_a_closed_socket_gets_rst() {
        let mut n = Net::new();
        let c = n.passive();
        n.close(c.h);
        n.only();
        n.ack(&c, c.snd + 1);
        n.data(&c, c.rcv, b"late");
        // Reset before the data is taken: the RST does not acknowledge it.
        n.only().expect(RST | ACK, c.snd + 1, c.rcv);
        assert!(!n.t.is_open(c.h));
    }

    /// The same data with the peer's FIN (its last words before its own close): the
    /// peer must learn that nobody read them (RFC 1122 4.2.2.13; Linux resets in
    /// FIN-WAIT-2 before it takes the data), not get them and their FIN acknowledged, as
    /// if delivered, while the connection vanishes without a RST or a TIME-WAIT.
    #[test]
    fn data_and_fin_for_a_closed_socket_get_rst_not_an_ack() {
        let mut n = Net::new();
        let c = n.passive();
        n.close(c.h);
        n.only();
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK | PSH, c.rcv, c.snd + 1, 65_535), b"late");
        let v = n.take();
        assert!(
            v.iter()
                .all(|o| o.r.flags & RST != 0 || o.r.ack.lt(c.rcv + 4)),
            "the lost data is never acknowledged: {v:?}"
        );
        assert!(
            v.iter().any(|o| o.r.flags & RST != 0),
            "a RST says the data was lost: {v:?}"
        );
        assert!(!n.t.is_open(c.h));
        assert_eq!(n.stats().aborts_on_close, 1);
    }

    #[test]
    fn time_wait_answers_a_retransmitted_fin_and_restarts() {
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        let t1 = n.now;
        n.advance_to(t1 + secs(30));
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        n.advance_to(t1 + secs(90) - ms(1));
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        n.advance_to(t1 + secs(90));
        assert_eq!(n.state(c.h), TcpState::Closed);
    }

    #[test]
    fn time_wait_record_answers_a_retransmitted_fin_and_restarts() {
        let mut n = Net::new();
        let (_, c) = to_time_wait_record(&mut n);
        let t1 = n.now;
        n.advance_to(t1 + secs(30));
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(
            n.t.tcp_time_wait(n.now),
            vec![(c.local, c.remote, secs(60))]
        );
        n.advance_to(t1 + secs(90) - ms(1));
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.advance_to(t1 + secs(90));
        assert!(n.t.tcp_time_wait(n.now).is_empty());
    }

    #[test]
    fn time_wait_record_ignores_rst() {
        let mut n = Net::new();
        let (_, c) = to_time_wait_record(&mut n);
        n.to(&c, seg(RST, c.rcv + 1, Seq(0), 0), &[]);
        n.to(&c, seg(RST | ACK, c.rcv + 1, c.snd + 1, 0), &[]);
        n.nothing();
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1, "RFC 1337");
        assert_eq!(n.stats().drop_rst_ignored, 2);
    }

    #[test]
    fn time_wait_does_not_answer_a_bare_ack_at_rcv_nxt() {
        // An acceptable segment without data or FIN is not acknowledged (RFC 9293
        // 3.10.7.4): answering it would let two stacks in TIME-WAIT (after a simultaneous
        // close) trade ACKs for ever once one is duplicated.
        let mut n = Net::new();
        let (_, c) = to_time_wait_record(&mut n);
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 1, 65_535), &[]);
        n.nothing();
        // Unacceptable ones still are.
        n.to(&c, seg(ACK, c.rcv + 1000, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        n.to(&c, seg(ACK | PSH, c.rcv + 1, c.snd + 1, 65_535), b"late");
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        // The same in a TIME-WAIT TCB.
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        n.to(&c, seg(ACK, c.rcv + 1, c.snd + 1, 65_535), &[]);
        n.nothing();
        // (Its receive window is still open: out of window is further away.)
        n.to(&c, seg(ACK, c.rcv + 100_000, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
    }

    #[test]
    fn time_wait_in_the_tcb_ignores_rst_out_of_sequence() {
        let mut n = Net::new();
        let c = to_time_wait(&mut n);
        n.to(&c, seg(RST, c.rcv + 5, Seq(0), 0), &[]);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
    }

    /// A peer that reopens the same tuple again and again (each new incarnation's SYN
    /// takes over the TIME-WAIT record) leaves no trail: the expiry index holds one entry
    /// per live record (a queue once kept an entry per record until that entry's 60 s
    /// were up: 3,000 here), and the last record still expires on time.
    #[test]
    fn reopened_time_wait_tuples_leave_the_expiry_queue_bounded() {
        let mut n = Net::new();
        let (l, mut c) = to_time_wait_record(&mut n);
        for round in 0..3_000u32 {
            n.advance_to(n.now + ms(10));
            let iss = c.rcv + 100_000;
            n.to(&c, syn(iss), &[]);
            let synack = n.only();
            synack.expect(SYN | ACK, synack.r.seq, iss + 1);
            n.to(&c, seg(ACK, iss + 1, synack.r.seq + 1, 65_535), &[]);
            let (h, _) = n.t.tcp_accept(l).unwrap().expect("the new incarnation");
            c = Conn {
                h,
                snd: synack.r.seq + 1,
                rcv: iss + 1,
                ..c
            };
            n.close(c.h);
            n.only().expect(FIN | ACK, c.snd, c.rcv);
            n.ack(&c, c.snd + 1);
            n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
            n.only().expect_ack(c.snd + 1, c.rcv + 1);
            let p = n.t.tcp_probe();
            assert_eq!(p.time_wait, 1, "round {round}");
            assert_eq!(
                p.time_wait_queue, p.time_wait,
                "round {round}: expiry entries"
            );
        }
        let last = n.now;
        n.advance_to(last + secs(60) - ms(1));
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.advance_to(last + secs(60));
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        assert_eq!(n.t.tcp_probe().time_wait_queue, 0);
    }

    #[test]
    fn new_syn_above_the_old_sequence_space_reopens_a_time_wait_tuple() {
        let mut n = Net::new();
        let (l, c) = to_time_wait_record(&mut n);
        // An old SYN: answered from TIME-WAIT with an ACK, no new connection.
        n.to(&c, syn(PEER_ISS), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        // A new incarnation's SYN, above the old RCV.NXT: the listener takes it.
        let iss2 = c.rcv + 100_000;
        n.to(&c, syn(iss2), &[]);
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, iss2 + 1);
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        assert_eq!(n.stats().passive_opens, 2);
        n.to(&c, seg(ACK, iss2 + 1, s.r.seq + 1, 65_535), &[]);
        n.nothing();
        let (h, from) = n.t.tcp_accept(l).unwrap().expect("the new connection");
        assert_eq!(from, c.remote);
        assert_eq!(n.state(h), TcpState::Established);
    }

    /// RFC 1122 4.2.2.13 (1), kept by RFC 6191 for a connection without timestamps: a SYN
    /// that reopens a TIME-WAIT tuple gets an ISN above every sequence number the old
    /// incarnation used, or the old connection's delayed segments could land in the new
    /// one's window at the peer. The clock-driven ISN moves 250,000 a second; a connection
    /// that sent more than that since its start would reuse its own sequence space.
    #[test]
    fn a_reopened_time_wait_tuple_gets_an_isn_above_the_old_sequence_space() {
        let mut n = Net::new();
        let (_l, c) = n.passive_with(syn(PEER_ISS), 65_535);
        // 400 KB sent and acknowledged at once (well within a second).
        let acked = n.send_all_acked(&c, &pattern(400_000), |n, a| n.ack(&c, a));
        n.close(c.h);
        n.only().expect(FIN | ACK, acked, c.rcv);
        let old_snd_nxt = acked + 1;
        n.ack(&c, old_snd_nxt);
        n.to(&c, seg(FIN | ACK, c.rcv, old_snd_nxt, 65_535), &[]);
        n.only().expect_ack(old_snd_nxt, c.rcv + 1);
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.advance(secs(1));
        // The peer's new incarnation, above the old RCV.NXT: reopens.
        let iss2 = c.rcv + 100_000;
        n.to(&c, syn(iss2), &[]);
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, iss2 + 1);
        assert!(
            s.r.seq.gt(old_snd_nxt),
            "new ISN {:?} is not above the old SND.NXT {:?}",
            s.r.seq,
            old_snd_nxt
        );
    }

    /// A SYN that RFC 6191 would let reopen the tuple, to a port where nobody listens (the
    /// record of our own active open and close, on an ephemeral port): there is no new
    /// connection to make way for, so the record stays and answers it as TIME-WAIT does
    /// (as Linux, which lets a TIME-WAIT go only to a listener), instead of going at once
    /// and letting the tuple be reused before 2 MSL.
    #[test]
    fn a_syn_without_a_listener_leaves_the_time_wait_record() {
        let mut n = Net::new();
        let c = n.active();
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.to(&c, syn(c.rcv + 100_000), &[]);
        let v = n.take();
        assert!(v.iter().all(|o| o.r.flags & RST == 0), "no RST: {v:?}");
        assert_eq!(
            n.t.tcp_time_wait(n.now).len(),
            1,
            "the record stays for its 2 MSL"
        );
    }

    /// (From a review of teardown.) A SYN with FIN to a TIME-WAIT record, above the old
    /// sequence space: a scanner's probe, which the listener drops (it opens nothing), yet
    /// the record made way for it first, leaving the tuple without its 2 MSL (RFC 9293
    /// 3.6.1) for a segment that no connection took. A connection holding TIME-WAIT
    /// already leaves such a SYN to the connection (`tcp_reopen_held` takes only a bare
    /// SYN).
    #[test]
    fn a_syn_with_fin_does_not_end_a_time_wait_record() {
        let mut n = Net::new();
        let (_l, c) = to_time_wait_record(&mut n);
        n.to(&c, seg(SYN | FIN, c.rcv + 100_000, Seq(0), 65_535), &[]);
        n.take();
        assert_eq!(
            n.t.tcp_time_wait(n.now).len(),
            1,
            "the record stays for its 2 MSL"
        );
        assert_eq!(n.stats().passive_opens, 1, "nothing was opened");
    }

    /// An active open (with SO_REUSEADDR or not) closed by us first, both FINs
    /// acknowledged: its TIME-WAIT record is all that is left.
    fn active_in_time_wait_record(n: &mut Net, reuse_addr: bool) -> Conn {
        let c = n.active();
        n.t.tcp(c.h).unwrap().reuse_addr = reuse_addr;
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        c
    }

    /// A TIME-WAIT record keeps its socket's SO_REUSEADDR: a bind with SO_REUSEADDR takes
    /// the port only if the old socket had it too (Linux's inet_bind_conflict, tw_reuse).
    /// Found by a review: any record gave way to SO_REUSEADDR.
    #[test]
    fn so_reuseaddr_takes_a_time_wait_port_only_if_the_old_socket_had_it_too() {
        for old_reuse in [false, true] {
            let mut n = Net::new();
            let c = active_in_time_wait_record(&mut n, old_reuse);
            let h = n.t.tcp_open().unwrap();
            n.t.tcp(h).unwrap().reuse_addr = true;
            let r = n.t.tcp_bind(h, c.local, &n.ip).map(|_| ());
            let want = if old_reuse {
                Ok(())
            } else {
                Err(TransportError::AddrInUse)
            };
            assert_eq!(r, want, "old socket's SO_REUSEADDR {old_reuse}");
        }
    }

    /// A `connect` (SO_REUSEADDR, the same local port) to the tuple of our own TIME-WAIT
    /// record of a connection without timestamps: nothing would keep the old
    /// incarnation's segments out of the new one, so the tuple stays the record's
    /// (EADDRNOTAVAIL, as Linux's tcp_twsk_unique) until it expires. With timestamps the
    /// record makes way: `tcp_modern`'s `a_connect_over_a_timestamped_time_wait_record`.
    #[test]
    fn a_connect_over_a_time_wait_record_without_timestamps_is_refused_until_it_expires() {
        let mut n = Net::new();
        // Its record keeps SO_REUSEADDR, which the new socket's bind needs too.
        let c = active_in_time_wait_record(&mut n, true);
        n.advance(secs(1));
        let h = n.t.tcp_open().unwrap();
        n.t.tcp(h).unwrap().reuse_addr = true;
        n.t.tcp_bind(h, c.local, &n.ip)
            .expect("bind with SO_REUSEADDR");
        assert_eq!(
            n.t.tcp_connect(h, c.remote, &mut n.ip, n.now),
            Err(TransportError::AddrNotAvailable)
        );
        n.nothing();
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1, "the record stays");
        // Another peer port is another tuple.
        n.t.tcp_connect(h, sa(PEER, LPORT + 1), &mut n.ip, n.now)
            .expect("another tuple");
        assert_eq!(n.only().r.flags, SYN);
        // Once the record has gone, the tuple is free.
        let h2 = n.t.tcp_open().unwrap();
        n.t.tcp(h2).unwrap().reuse_addr = true;
        n.t.tcp_bind(h2, c.local, &n.ip).unwrap();
        n.advance(secs(60));
        n.take();
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        n.t.tcp_connect(h2, c.remote, &mut n.ip, n.now)
            .expect("the record expired");
        assert_eq!(n.only().r.flags, SYN);
    }
}

// ==== Robustness ==============================================================================

mod robustness {
    use super::*;

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn random_segments_never_panic() {
        let mut n = Net::new();
        let (l, mut c) = n.passive_with(syn(PEER_ISS), 65_535);
        n.send(c.h, &pattern(5000));
        n.take();
        // A TIME-WAIT record on another tuple.
        let tw = n.handshake_to(l, PPORT + 1, syn(Seq(5000)), 65_535);
        n.close(tw.h);
        n.take();
        n.ack(&tw, tw.snd + 1);
        n.to(&tw, seg(FIN | ACK, tw.rcv, tw.snd + 1, 65_535), &[]);
        n.take();
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        // A connecting socket too.
        let (_, active_local, _, _) = connect(&mut n);
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut next_port = 20_000u16;
        let mut reconnects = 0;
        for i in 0..20_000u32 {
            let len = rng.below(100) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 5 != 0 && b.len() >= 20 {
                // Aimed: the right ports and, often, plausible numbers; checksummed.
                let (sport, dport, base) = match rng.below(4) {
                    0 | 1 => (c.remote.port(), LPORT, Some(c)),
                    2 => (LPORT, active_local.port(), None),
                    _ if rng.below(2) == 0 => (tw.remote.port(), LPORT, Some(tw)),
                    _ => (rng.below(65_536) as u16, LPORT, None),
                };
                b[0..2].copy_from_slice(&sport.to_be_bytes());
                b[2..4].copy_from_slice(&dport.to_be_bytes());
                if let (Some(base), true) = (base, rng.below(4) != 0) {
                    let s = base.rcv + rng.below(3000) as usize - 500;
                    b[4..8].copy_from_slice(&s.0.to_be_bytes());
                    let a = base.snd + rng.below(6000) as usize - 100;
                    b[8..12].copy_from_slice(&a.0.to_be_bytes());
                }
                if rng.below(4) != 0 {
                    // A data offset that fits.
                    let max = (b.len() / 4).min(15) as u64;
                    b[12] = ((5 + rng.below(max - 4)) as u8) << 4;
                }
                if rng.below(2) == 0 {
                    // Mostly harmless flags: no RST, no SYN.
                    b[13] &= !(RST | SYN);
                }
                b = raw_tcp(PEER, US, b);
            }
            n.deliver_l4(PEER, US, &b);
            if i % 64 == 0 {
                n.advance(ms(rng.below(5000)));
                let mut buf = [0u8; 512];
                let _ = n.t.tcp_recv(c.h, &mut buf, &mut n.ip, n.now);
                let _ = n.t.tcp_send(c.h, &pattern(700), &mut n.ip, n.now);
                while let Ok(Some((h, _))) = n.t.tcp_accept(l) {
                    n.close(h);
                }
                if n.state(c.h) != TcpState::Established {
                    // Reset or timed out: a fresh connection to keep hitting.
                    n.close(c.h);
                    n.take();
                    next_port += 1;
                    let remote = sa(PEER, next_port);
                    n.inject(remote, sa(US, LPORT), syn(Seq(rng.next() as u32)), &[]);
                    let synack = n.take().into_iter().find(|o| o.r.dst_port == next_port);
                    if let Some(s) = synack {
                        let rcv = s.r.ack;
                        n.inject(
                            remote,
                            sa(US, LPORT),
                            seg(ACK, rcv, s.r.seq + 1, 65_535),
                            &[],
                        );
                        while let Ok(Some((h, from))) = n.t.tcp_accept(l) {
                            if from == remote {
                                c = Conn {
                                    h,
                                    local: sa(US, LPORT),
                                    remote,
                                    snd: s.r.seq + 1,
                                    rcv,
                                };
                                reconnects += 1;
                            } else {
                                n.close(h);
                            }
                        }
                    }
                }
            }
            n.take();
        }
        let st = n.stats();
        // The aim was good enough to reach the interesting paths.
        assert!(st.challenge_acks > 100, "{st:#?}");
        assert!(st.ooo_queued > 100, "{st:#?}");
        assert!(st.dup_segments > 100, "{st:#?}");
        assert!(reconnects > 0, "{st:#?}");
        // Still serving: everything settles, and a new connection completes.
        n.advance(secs(3600));
        while let Ok(Some((h, _))) = n.t.tcp_accept(l) {
            n.close(h);
        }
        n.advance(secs(3600));
        n.take();
        let c2 = n.handshake_to(l, 61_000, syn(Seq(77)), 65_535);
        n.data(&c2, c2.rcv, b"ok");
        assert_eq!(n.recv(c2.h), Ok(Some(b"ok".to_vec())));
    }

    /// A SYN from `pport` with these option bytes (padded with zeros to a multiple of 4).
    fn syn_with_options(pport: u16, opts: &[u8]) -> Vec<u8> {
        let mut o = opts.to_vec();
        o.resize(o.len().div_ceil(4) * 4, 0);
        let mut b = vec![0u8; 20];
        b[0..2].copy_from_slice(&pport.to_be_bytes());
        b[2..4].copy_from_slice(&LPORT.to_be_bytes());
        b[4..8].copy_from_slice(&PEER_ISS.0.to_be_bytes());
        b[12] = (((20 + o.len()) / 4) as u8) << 4;
        b[13] = SYN;
        b[14..16].copy_from_slice(&65_535u16.to_be_bytes());
        b.extend_from_slice(&o);
        raw_tcp(PEER, US, b)
    }

    #[test]
    fn malformed_option_lengths_are_tolerated() {
        let mut n = Net::new();
        let l = n.listen(LPORT, 64);
        // (options, MSS we end up with, window scale offered)
        let cases: &[(&[u8], usize, Option<u8>)] = &[
            (&[2, 0], 536, None),
            (&[2, 1], 536, None),
            (&[1, 2, 4, 5], 536, None),
            (&[3, 3, 7, 1, 2, 9], 536, Some(7)),
            (&[30, 4, 1, 2, 2, 4, 0x01, 0x00], 256, None),
            (&[2, 4, 0, 0], 536, None),
            (&[2, 255, 1, 1, 1, 1, 1, 1], 536, None),
            (&[0, 2, 4, 5, 0xb4], 536, None),
            (&[3, 2, 3, 3, 9, 2, 4, 0x03, 0xe8], 1000, Some(7)),
        ];
        for (i, &(opts, mss, ws)) in cases.iter().enumerate() {
            let pport = 42_000 + i as u16;
            let b = syn_with_options(pport, opts);
            n.deliver_l4(PEER, US, &b);
            let s = n.only();
            assert_eq!(s.r.flags, SYN | ACK, "case {i}");
            assert_eq!(s.r.wscale, ws, "case {i}: {opts:?}");
            n.inject(
                sa(PEER, pport),
                sa(US, LPORT),
                seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
                &[],
            );
            let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
            assert_eq!(n.info(h).mss, mss, "case {i}: {opts:?}");
        }
        // A data offset beyond the segment, or below 5: dropped as bad headers.
        let mut b = syn_with_options(43_000, &[]);
        b[12] = 15 << 4;
        let b = raw_tcp(PEER, US, b);
        n.deliver_l4(PEER, US, &b);
        let mut b = syn_with_options(43_001, &[]);
        b[12] = 4 << 4;
        let b = raw_tcp(PEER, US, b);
        n.deliver_l4(PEER, US, &b);
        n.nothing();
        assert_eq!(n.stats().drop_bad_header, 2);
    }

    #[test]
    fn send_failures_are_survived() {
        let mut n = Net::new();
        let c = n.passive();
        n.ip.fail = true;
        n.send(c.h, b"lost");
        assert!(n.stats().send_failures >= 1);
        n.ip.fail = false;
        // The retransmission timer recovers it.
        let (_, v) = n.next_sent(secs(5));
        v[0].expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!(v[0].data, b"lost");
    }
}

mod tail_loss_probe {
    use super::*;

    fn tlp_net() -> Net {
        Net::with_cfg(TcpConfig::default())
    }

    /// An active open whose handshake took 100 ms (SRTT 100 ms, RTO 300 ms), the peer
    /// announcing `window`.
    fn established(n: &mut Net, window: u16) -> Conn {
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, Seq(0), window)
        };
        n.active_with(synack, ms(100)).0
    }

    /// RFC 8985 7: with nothing new to send and no ACK for two smoothed RTTs, the last
    /// segment is sent again (before the RTO), and the RTO is re-armed behind it.
    #[test]
    fn probe_resends_the_last_segment_before_the_rto() {
        let mut n = tlp_net();
        let c = established(&mut n, 65_535);
        n.send(c.h, b"hello");
        let first = n.only();
        let t0 = n.now;
        // PTO = 2 * SRTT + 2 ms + 40 ms (one segment out: room for a delayed ACK) =
        // 242 ms, earlier than the RTO (300 ms).
        n.advance_to(t0 + ms(241));
        n.nothing();
        n.advance_to(t0 + ms(242));
        let p = n.only();
        p.expect(ACK, c.snd, c.rcv);
        assert_eq!(p.data, first.data);
        assert_eq!(n.stats().loss_probes, 1);
        assert_eq!(n.stats().timeouts, 0);
        // Two more probes a PTO apart (a probe, or its ACK, may be lost, and a peer delays
        // its ACK of a lone segment), then no more: the RTO (re-armed 300 ms after the
        // last probe) follows.
        n.advance_to(t0 + ms(483));
        n.nothing();
        n.advance_to(t0 + ms(484));
        n.only().expect(ACK, c.snd, c.rcv);
        assert_eq!(n.stats().loss_probes, 2);
        n.advance_to(t0 + ms(726));
        n.only().expect(ACK, c.snd, c.rcv);
        assert_eq!(n.stats().loss_probes, 3);
        n.advance_to(t0 + ms(726) + ms(299));
        n.nothing();
        n.advance_to(t0 + ms(726) + ms(300));
        n.only().expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!(n.stats().timeouts, 1);
        assert_eq!(n.stats().loss_probes, 3);
    }

    /// A flight that fills the peer's window: the probes leave room for the delayed ACK
    /// of a receiver whose buffer is full. With the window open, a flight of the same
    /// size held back only by what there is to send is probed at two SRTTs.
    #[test]
    fn a_full_peer_window_is_probed_after_room_for_a_delayed_ack() {
        for (window, pto) in [(2000u16, ms(242)), (65_535, ms(202))] {
            let mut n = tlp_net();
            let c = established(&mut n, window);
            // Nagle would hold a short tail: two full segments only.
            assert_eq!(n.send(c.h, &[5u8; 2000]), 2000);
            assert_eq!(n.take().len(), 2);
            for probes in 1..=2 {
                let t = n.now;
                n.advance_to(t + pto - ms(1));
                n.nothing();
                n.advance_to(t + pto);
                n.only().expect(ACK, c.snd + 1000, c.rcv);
                assert_eq!(n.stats().loss_probes, probes, "window {window}");
            }
        }
    }

    /// The last segment sent carried the FIN: the probe sends it again with the FIN (a
    /// lost FIN is then repaired by the probe, as Linux does); with the data acknowledged
    /// and only the FIN out, the probe is the FIN alone.
    #[test]
    fn a_probe_of_the_last_segment_carries_its_fin() {
        let mut n = tlp_net();
        let c = established(&mut n, 65_535);
        n.send(c.h, b"hello");
        n.shutdown_write(c.h);
        let sent = n.take();
        let last = sent.last().expect("data and FIN sent");
        assert!(last.r.flags & FIN != 0);
        let at = n.t.poll_at().expect("the probe timer");
        n.advance_to(at);
        let p = n.only();
        p.expect(ACK | FIN, c.snd, c.rcv);
        assert_eq!(p.data, b"hello");
        assert_eq!(n.stats().loss_probes, 1);
        // The data arrives, the FIN does not: the next probe is the FIN alone.
        n.ack(&c, c.snd + 5);
        n.take();
        let at = n.t.poll_at().expect("the probe timer");
        n.advance_to(at);
        let p = n.only();
        p.expect(ACK | FIN, c.snd + 5, c.rcv);
        assert!(p.data.is_empty());
        // Its ACK ends it.
        n.ack(&c, c.snd + 6);
        assert_eq!(n.state(c.h), TcpState::FinWait2);
    }

    /// With `max_loss_probes` 1, RFC 8985 7.3 as written: after the probe only the RTO is
    /// armed, also after the RTO fires, until new data is acknowledged; the next tail gets
    /// its probe again.
    #[test]
    fn one_probe_per_episode_when_limited_to_rfc_8985s_one() {
        let mut n = Net::with_cfg(TcpConfig {
            max_loss_probes: 1,
            ..TcpConfig::default()
        });
        let c = established(&mut n, 65_535);
        n.send(c.h, b"hello");
        n.only();
        let t0 = n.now;
        n.advance_to(t0 + ms(242));
        n.only().expect(ACK, c.snd, c.rcv);
        // The RTO, re-armed 300 ms after the probe, with no second probe before it.
        n.advance_to(t0 + ms(242) + ms(299));
        n.nothing();
        n.advance_to(t0 + ms(242) + ms(300));
        n.only().expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!((n.stats().timeouts, n.stats().loss_probes), (1, 1));
        // Still nothing acknowledged: no probe before the next (backed-off) RTO either.
        n.advance_to(t0 + ms(542) + ms(599));
        n.nothing();
        n.advance_to(t0 + ms(542) + ms(600));
        n.only().expect(ACK | PSH, c.snd, c.rcv);
        assert_eq!((n.stats().timeouts, n.stats().loss_probes), (2, 1));
        // New data acknowledged ends the episode: the next tail gets its probe.
        n.ack(&c, c.snd + 5);
        n.send(c.h, b"again");
        n.only().expect(ACK | PSH, c.snd + 5, c.rcv);
        let at = n.t.poll_at().expect("a timer");
        n.advance_to(at);
        n.only().expect(ACK, c.snd + 5, c.rcv);
        assert_eq!((n.stats().timeouts, n.stats().loss_probes), (2, 2));
    }

    /// The peer SACKs the probe (the last segment) while an earlier one is missing: the
    /// hole is retransmitted at once, without waiting for the RTO.
    #[test]
    fn sack_of_the_probe_starts_recovery() {
        let mut n = tlp_net();
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            sack_permitted: true,
            ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
        };
        let c = n.active_with(synack, ms(100)).0;
        let mss = usize::from(PEER_MSS);
        n.send(c.h, &vec![7u8; 2 * mss]);
        let sent = n.take();
        assert_eq!(sent.len(), 2);
        let t0 = n.now;
        // PTO = 2 * SRTT + 2 ms.
        n.advance_to(t0 + ms(201));
        n.nothing();
        n.advance_to(t0 + ms(202));
        let p = n.only();
        assert_eq!(p.r.seq, c.snd + mss, "the probe is the last segment");
        // The first segment was lost; the second (and its probe copy) arrived: the SACK
        // comes a round trip after the probe, and RACK (RFC 8985) finds the first segment,
        // sent long before the SACKed probe, lost.
        n.advance_to(t0 + ms(302));
        let mut ack = seg(ACK, c.rcv, c.snd, 65_535);
        ack.sack[0] = (c.snd + mss, c.snd + 2 * mss);
        ack.sack_count = 1;
        n.to(&c, ack, &[]);
        let r = n.only();
        r.expect(ACK, c.snd, c.rcv);
        assert_eq!(r.data.len(), mss);
        assert_eq!(n.stats().timeouts, 0);
    }
}

/// A receive batch (`Transport::begin_batch` .. `end_batch`) draws one ACK per connection,
/// also when it spans several reads of the device (the runtime begins the batch again
/// after a full read without ending it) and its connections' segments interleave.
mod batch {
    use super::*;

    #[test]
    fn an_open_batch_acks_each_connection_once_at_its_end() {
        let mut n = Net::new();
        let l = n.listen(LPORT, 16);
        let syn_ws = TcpRepr {
            wscale: Some(7),
            ..syn(PEER_ISS)
        };
        let mut conns = [
            n.handshake_to(l, PPORT, syn_ws, 65_535),
            n.handshake_to(l, PPORT + 1, syn_ws, 65_535),
        ];
        n.take();
        // Two reads of 100 segments of 500 bytes, the two connections' alternating: 100
        // segments each (50 KB: within the first window, under a quarter of the 1 MiB
        // buffer), more than the batch's list holds (128) were each segment listed.
        for _read in 0..2 {
            n.t.begin_batch();
            for _ in 0..50 {
                for c in &mut conns {
                    n.data(c, c.rcv, &[1; 500]);
                    c.rcv = c.rcv + 500;
                }
            }
        }
        assert_eq!(n.take().len(), 0, "no ACK while the batch is open");
        n.t.end_batch(&mut n.ip, n.now);
        let mut acks: Vec<(u16, Seq)> = n.take().iter().map(|o| (o.r.dst_port, o.r.ack)).collect();
        acks.sort_by_key(|a| a.0);
        assert_eq!(acks, [(PPORT, conns[0].rcv), (PPORT + 1, conns[1].rcv)]);
        // The next batch lists them again.
        n.t.begin_batch();
        for c in &mut conns {
            n.data(c, c.rcv, &[1; 500]);
            n.data(c, c.rcv + 500, &[1; 500]);
            c.rcv = c.rcv + 1000;
        }
        n.t.end_batch(&mut n.ip, n.now);
        assert_eq!(n.take().len(), 2, "one ACK each");
    }

    /// With the default configuration, an accepted connection's first 16 data segments
    /// are each acknowledged at once inside an open batch (quick ACKs); the segments after
    /// them wait for the batch's end.
    #[test]
    fn a_new_connections_first_segments_get_quick_acks_in_a_batch() {
        let mut n = Net::with_cfg(TcpConfig::default());
        let l = n.listen(LPORT, 16);
        let syn_ws = TcpRepr {
            wscale: Some(7),
            ..syn(PEER_ISS)
        };
        let mut c = n.handshake_to(l, PPORT, syn_ws, 65_535);
        n.take();
        n.t.begin_batch();
        let mut acks = Vec::new();
        for _ in 0..30 {
            let at = c.rcv;
            n.data(&c, at, &[1; 500]);
            c.rcv = c.rcv + 500;
            acks.extend(n.take().iter().map(|o| o.r.ack));
        }
        let first: Vec<Seq> = (1..=16).map(|i| PEER_ISS + 1 + 500 * i).collect();
        assert_eq!(
            acks, first,
            "one ACK per segment, then none while the batch is open"
        );
        n.t.end_batch(&mut n.ip, n.now);
        let last: Vec<Seq> = n.take().iter().map(|o| o.r.ack).collect();
        assert_eq!(last, [c.rcv]);
    }
}

mod ecn {
    use super::*;
    use ip::ipv4::{self, Ipv4Repr};
    use std::net::SocketAddrV4;
    use transport::tcp::wire::flags::{CWR, ECE};
    use transport::EcnMode;

    /// `r` with `data` from `from` to `to` through the IP layer, its ECN field `tos`.
    fn deliver_with_tos(
        n: &mut Net,
        from: SocketAddrV4,
        to: SocketAddrV4,
        r: &TcpRepr,
        data: &[u8],
        tos: u8,
    ) {
        let l4 = tcp_bytes(from, to, r, data);
        let repr = Ipv4Repr {
            src: *from.ip(),
            dst: *to.ip(),
            protocol: ipv4::protocol::TCP,
            ttl: 64,
            tos,
            ident: 1,
            dont_fragment: true,
            payload_len: l4.len(),
        };
        let mut b = vec![0u8; ipv4::HEADER_LEN + l4.len()];
        repr.emit(&mut b, 0, false);
        b[ipv4::HEADER_LEN..].copy_from_slice(&l4);
        n.deliver_ip(&b, false);
    }

    /// A listener agrees to ECN (RFC 3168 6.1.1) when the SYN asks with ECE and CWR, by
    /// default as Linux (`tcp_ecn` 2), and not when ECN is off or the SYN is not an
    /// ECN-setup SYN (ECE alone).
    #[test]
    fn a_listener_agrees_to_ecn_only_when_the_syn_asks_for_it() {
        for (ecn, ask, agreed) in [
            (EcnMode::Accept, ECE | CWR, true),
            (EcnMode::On, ECE | CWR, true),
            (EcnMode::Off, ECE | CWR, false),
            (EcnMode::Accept, ECE, false),
            (EcnMode::Accept, 0, false),
        ] {
            let mut n = Net::with_cfg(TcpConfig {
                ecn,
                ..TcpConfig::default()
            });
            let l = n.listen(LPORT, 16);
            let s = TcpRepr {
                flags: SYN | ask,
                ..syn(PEER_ISS)
            };
            n.inject(sa(PEER, PPORT), sa(US, LPORT), s, &[]);
            let synack = n.only();
            let want = SYN | ACK | if agreed { ECE } else { 0 };
            assert_eq!(synack.r.flags, want, "{ecn:?} {ask:#x}");
            // Counted once established, not while half-open.
            assert_eq!(n.t.tcp_stats().ecn_conns, 0);
            let ack = seg(ACK, PEER_ISS + 1, synack.r.seq + 1, 65_535);
            n.inject(sa(PEER, PPORT), sa(US, LPORT), ack, &[]);
            assert_eq!(n.t.tcp_stats().ecn_conns, u64::from(agreed));
            let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
            assert_eq!(n.info(h).ecn, agreed, "netstat's `ecn`");
        }
    }

    /// A SYN's IP header says Not-ECT (RFC 3168 6.1.1). An ECN-setup SYN that came marked
    /// ECT or CE crossed a path that rewrites the field: the listener does not agree
    /// (as Linux), and a Not-ECT one through the same path is agreed to.
    #[test]
    fn a_listener_refuses_ecn_to_an_ect_marked_syn() {
        for (tos, agreed) in [(0b10, false), (0b01, false), (0b11, false), (0, true)] {
            let mut n = Net::with_cfg(TcpConfig::default());
            n.listen(LPORT, 16);
            let s = TcpRepr {
                flags: SYN | ECE | CWR,
                ..syn(PEER_ISS)
            };
            deliver_with_tos(&mut n, sa(PEER, PPORT), sa(US, LPORT), &s, &[], tos);
            let synack = n.only();
            assert_eq!(synack.r.has(ECE), agreed, "tos {tos:#b}: {synack:?}");
        }
    }

    /// Through the IP header: a segment marked CE on a connection that agreed is answered
    /// at once with ECE, and our new data leaves ECT(0).
    #[test]
    fn a_ce_mark_in_the_ip_header_is_echoed_and_new_data_is_ect() {
        let mut n = Net::with_cfg(TcpConfig::default());
        let l = n.listen(LPORT, 16);
        let s = TcpRepr {
            flags: SYN | ECE | CWR,
            ..syn(PEER_ISS)
        };
        let mut c = n.handshake_to(l, PPORT, s, 65_535);
        let data = seg(ACK, c.rcv, c.snd, 65_535);
        deliver_with_tos(&mut n, c.remote, c.local, &data, &[9; 100], 0b11);
        c.rcv = c.rcv + 100;
        let ack = n.only();
        assert!(ack.r.has(ECE) && ack.r.ack == c.rcv, "{ack:?}");
        assert_eq!(n.t.tcp_stats().ecn_ce_in, 1);
        n.t.tcp_send(c.h, b"reply", &mut n.ip, n.now).expect("send");
        let data = n.only();
        assert_eq!(data.tos & 0b11, 0b10, "ECT(0)");
        assert!(data.r.has(ECE), "still echoing");
    }
}
