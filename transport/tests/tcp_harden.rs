//! TCP under attack, at the segment level on a virtual clock: SYN cookies when the SYN
//! queue is full (RFC 4987), half-open connections leaving the queue quickly under
//! pressure, and the per-connection limit on ACKs answering out-of-window segments and
//! challenges (RFC 5961 7).

#![forbid(unsafe_code)]

mod tcp_harness;

use std::net::{Ipv4Addr, SocketAddrV4};
use tcp_harness::*;
use transport::tcp::wire::TcpRepr;
use transport::tcp::Seq;
use transport::{TcpConfig, TcpState};

fn cfg() -> TcpConfig {
    TcpConfig {
        tail_loss_probe: false,
        syn_backlog: 4,
        ..TcpConfig::default()
    }
}

/// A source inside 10.0.0.0/24 that is not the peer: a spoofed one.
fn spoofed(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 100 + i)
}

/// Fill the listener's SYN queue (4) with half-open connections from spoofed sources.
fn fill_syn_queue(n: &mut Net) {
    for i in 0..4 {
        n.inject(sa(spoofed(i), 1000), sa(US, LPORT), syn(Seq(7)), &[]);
    }
    let v = n.take();
    assert_eq!(v.len(), 4);
    assert!(v.iter().all(|o| o.r.flags == SYN | ACK));
    assert_eq!(n.stats().syncookies_sent, 0);
}

mod cookies {
    use super::*;
    use transport::SocketHandle;

    /// The peer's address and the listener's.
    fn ends() -> (SocketAddrV4, SocketAddrV4) {
        (sa(PEER, PPORT), sa(US, LPORT))
    }

    /// A listener (backlog 16) whose SYN queue is full, and the SYN-ACK carrying a cookie
    /// that answers the peer's `syn`.
    fn cookie_for(n: &mut Net, syn: TcpRepr) -> (SocketHandle, Out) {
        let l = n.listen(LPORT, 16);
        fill_syn_queue(n);
        let (remote, local) = ends();
        n.inject(remote, local, syn, &[]);
        (l, n.only())
    }

    /// The peer's ACK of the cookie `s` (its ISN `PEER_ISS`), from `remote`.
    fn ack_cookie(n: &mut Net, remote: SocketAddrV4, s: &Out) {
        let local = sa(US, LPORT);
        n.inject(
            remote,
            local,
            seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
            &[],
        );
    }

    #[test]
    fn full_syn_queue_answers_with_a_cookie_and_its_ack_makes_the_connection() {
        let mut n = Net::with_cfg(cfg());
        let l = n.listen(LPORT, 16);
        fill_syn_queue(&mut n);
        let (remote, local) = ends();
        let sockets = n.t.socket_count();
        let r = TcpRepr {
            wscale: Some(7),
            sack_permitted: true,
            ..syn(PEER_ISS)
        };
        n.inject(remote, local, r, &[]);
        let s = n.only();
        assert_eq!(s.r.flags, SYN | ACK);
        assert_eq!(s.r.ack, PEER_ISS + 1);
        // Nothing kept, and the options a cookie cannot carry are not offered.
        assert_eq!(n.t.socket_count(), sockets);
        assert_eq!(s.r.wscale, None);
        assert!(!s.r.sack_permitted);
        assert_eq!(s.r.mss, Some(1460));
        assert_eq!(s.r.window, 65_535);
        assert_eq!(n.stats().syncookies_sent, 1);
        // A second SYN from the same peer gets the same cookie.
        n.inject(remote, local, r, &[]);
        assert_eq!(n.only().r.seq, s.r.seq);

        n.advance(ms(100));
        n.inject(remote, local, seg(ACK, PEER_ISS + 1, s.r.seq + 1, 500), &[]);
        n.nothing();
        let st = n.stats();
        assert_eq!((st.syncookies_recv, st.syncookies_failed), (1, 0));
        let (h, from) =
            n.t.tcp_accept(l)
                .unwrap()
                .expect("the connection is in the queue");
        assert_eq!(from, remote);
        assert_eq!(n.state(h), TcpState::Established);
        let info = n.info(h);
        // No window scaling: the ACK's window is taken as it is. The peer's MSS 1000 was
        // carried as 536 (the largest table entry not above it).
        assert_eq!(info.snd_wnd, 500);
        // Data both ways.
        let c = Conn {
            h,
            local,
            remote,
            snd: s.r.seq + 1,
            rcv: PEER_ISS + 1,
        };
        n.data(&c, c.rcv, b"hello");
        assert_eq!(n.recv(h), Ok(Some(b"hello".to_vec())));
        n.take();
        assert_eq!(n.send(h, &[1u8; 600]), 600);
        let v = n.take();
        assert_eq!(
            v.iter().map(|o| o.data.len()).collect::<Vec<_>>(),
            vec![536, 64],
            "segments of the MSS the cookie carried"
        );
    }

    /// The MSS the cookie carried (1460 of the table, the peer's own) is the one the
    /// connection sends with, not the 536 of a SYN without the option.
    #[test]
    fn a_cookie_connection_sends_segments_of_the_mss_the_cookie_carried() {
        let mut n = Net::with_cfg(cfg());
        let r = TcpRepr {
            mss: Some(1460),
            ..syn(PEER_ISS)
        };
        let (l, s) = cookie_for(&mut n, r);
        let (remote, _) = ends();
        ack_cookie(&mut n, remote, &s);
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        n.take();
        assert_eq!(n.send(h, &[1u8; 3000]), 3000);
        let lens: Vec<usize> = n.take().iter().map(|o| o.data.len()).collect();
        assert_eq!(lens[..2], [1460, 1460], "{lens:?}");
    }

    /// A peer announcing an MSS below 536 gets no larger segments from a cookie connection
    /// (RFC 9293 MUST-16): the cookie carries 48 or 256 of the table, not 536.
    #[test]
    fn a_cookie_connection_never_sends_above_a_small_announced_mss() {
        for (mss, want) in [(200, 48), (300, 256)] {
            let mut n = Net::with_cfg(cfg());
            let r = TcpRepr {
                mss: Some(mss),
                ..syn(PEER_ISS)
            };
            let (l, s) = cookie_for(&mut n, r);
            let (remote, _) = ends();
            ack_cookie(&mut n, remote, &s);
            let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
            n.take();
            assert_eq!(n.send(h, &[1u8; 1000]), 1000);
            let lens: Vec<usize> = n.take().iter().map(|o| o.data.len()).collect();
            assert!(lens.iter().all(|&l| l <= want), "MSS {mss}: {lens:?}");
            assert_eq!(lens[0], want, "MSS {mss}: {lens:?}");
        }
    }

    /// An MSS option of 0 says nothing (RFC 9293 3.7.1: 536 then, as the queued path and
    /// Linux's `tcp_parse_options` take it): the cookie carries 536. It took 0 for an MSS
    /// and chose the table's smallest entry, 48-byte segments (found by a review).
    #[test]
    fn a_cookie_for_a_syn_announcing_mss_0_carries_536() {
        let mut n = Net::with_cfg(cfg());
        let r = TcpRepr {
            mss: Some(0),
            ..syn(PEER_ISS)
        };
        let (l, s) = cookie_for(&mut n, r);
        let (remote, _) = ends();
        ack_cookie(&mut n, remote, &s);
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        assert_eq!(n.stats().syncookies_recv, 1);
        n.take();
        assert_eq!(n.send(h, &[1u8; 1000]), 1000);
        let lens: Vec<usize> = n.take().iter().map(|o| o.data.len()).collect();
        assert_eq!(lens, [536, 464]);
    }

    /// The peer's SYN with window scaling (7), SACK-permitted and timestamps (TSval 5000).
    fn modern_syn() -> TcpRepr {
        TcpRepr {
            wscale: Some(7),
            sack_permitted: true,
            timestamp: Some((5000, 0)),
            ..syn(PEER_ISS)
        }
    }

    /// `data` sent on `c` (nothing else outstanding), and 10 ms later the peer's ACK of it
    /// with TSval `tsval`, echoing the data segment's.
    fn echoed_exchange(n: &mut Net, c: &Conn, data: &[u8], tsval: u32) {
        assert_eq!(n.send(c.h, data), data.len());
        let d = n.only();
        n.advance(ms(10));
        n.to(
            c,
            TcpRepr {
                timestamp: Some((tsval, d.r.timestamp.unwrap().0)),
                ..seg(ACK, c.rcv, d.r.seq + data.len(), 500)
            },
            &[],
        );
    }

    /// A SYN answered with a cookie whose window scale is above 14: the cookie carries 14
    /// (RFC 7323 2.3, MUST), and the error is counted (`wscale_clamped`: "SHOULD log"),
    /// once per SYN, not again when the cookie's ACK makes the connection.
    #[test]
    fn a_cookie_for_a_window_scale_above_14_counts_it() {
        let mut n = Net::with_cfg(cfg());
        let r = TcpRepr {
            wscale: Some(15),
            ..modern_syn()
        };
        let (l, s) = cookie_for(&mut n, r);
        let (remote, local) = ends();
        let (tsval, _) = s.r.timestamp.expect("timestamps answered");
        assert_eq!(tsval & 0xf, 14);
        assert_eq!(n.stats().wscale_clamped, 1);
        n.advance(ms(30));
        n.inject(
            remote,
            local,
            TcpRepr {
                timestamp: Some((5030, tsval)),
                ..seg(ACK, PEER_ISS + 1, s.r.seq + 1, 500)
            },
            &[],
        );
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        assert_eq!(n.info(h).snd_wnd, 500 << 14);
        assert_eq!(n.stats().wscale_clamped, 1);
    }

    #[test]
    fn with_timestamps_a_cookie_keeps_window_scaling_and_sack() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, modern_syn());
        let (remote, local) = ends();
        assert_eq!(s.r.flags, SYN | ACK);
        assert_eq!(n.stats().syncookies_sent, 1);
        // The SYN-ACK answers all three; its TSval's low bits name the peer's shift and
        // SACK, its echo is the SYN's TSval.
        let our_shift = s.r.wscale.expect("window scaling answered");
        assert!(our_shift > 0);
        assert!(s.r.sack_permitted);
        let (tsval, tsecr) = s.r.timestamp.expect("timestamps answered");
        assert_eq!(tsecr, 5000);
        assert_eq!(tsval & 0x3f, 7 | 16);

        // 30 ms later the peer's ACK echoes that TSval, its window scaled by 2^7.
        n.advance(ms(30));
        n.inject(
            remote,
            local,
            TcpRepr {
                timestamp: Some((5030, tsval)),
                ..seg(ACK, PEER_ISS + 1, s.r.seq + 1, 500)
            },
            &[],
        );
        n.nothing();
        assert_eq!(n.stats().syncookies_recv, 1);
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        let info = n.info(h);
        assert_eq!(info.snd_wnd, 500 << 7, "the peer's window is scaled");
        assert!(info.timestamps);
        // No round trip was measured from the echo of the cookie's TSval (it is up to
        // 63 ms older than when the SYN-ACK left).
        assert_eq!(info.srtt, None);
        let c = Conn {
            h,
            local,
            remote,
            snd: s.r.seq + 1,
            rcv: PEER_ISS + 1,
        };
        // Data beyond a hole draws a SACK block, with our timestamps echoing the peer's.
        n.to(
            &c,
            TcpRepr {
                timestamp: Some((5031, tsval)),
                ..seg(ACK | PSH, c.rcv + 100, c.snd, 500)
            },
            &[9u8; 100],
        );
        let a = n.only();
        a.expect_ack(c.snd, c.rcv);
        assert_eq!(a.r.sack_blocks(), &[(c.rcv + 100, c.rcv + 200)]);
        let (our_ts, echo) = a.r.timestamp.expect("timestamps on every segment");
        assert_eq!(echo, 5030, "TS.Recent stays the in-order segment's");
        assert!(
            (our_ts.wrapping_sub(tsval) as i32) >= 0,
            "our TSvals never go back"
        );
        // Our window is scaled as the SYN-ACK said.
        assert_eq!(usize::from(a.r.window) << our_shift, n.info(h).rcv_wnd);
        assert!(n.info(h).rcv_wnd > 65_535);
        // A round trip measured from our own TSval is the real one.
        n.advance(ms(20));
        echoed_exchange(&mut n, &c, b"hi", 5060);
        assert_eq!(n.info(h).srtt, Some(ms(10)));
    }

    /// ECN rides in the cookie's TSval beside window scaling and SACK: a SYN that asks for
    /// it gets a cookie SYN-ACK that agrees (ECE), and the connection its ACK makes uses
    /// it (new data ECT(0)). Without timestamps there is no room, and no ECN.
    #[test]
    fn with_timestamps_a_cookie_keeps_ecn() {
        use transport::tcp::wire::flags::{CWR, ECE};
        let mut n = Net::with_cfg(cfg());
        let asks = TcpRepr {
            flags: SYN | ECE | CWR,
            ..modern_syn()
        };
        let (l, s) = cookie_for(&mut n, asks);
        assert_eq!(s.r.flags, SYN | ACK | ECE);
        let (tsval, _) = s.r.timestamp.expect("timestamps answered");
        assert_eq!(tsval & 0x3f, 7 | 16 | 32);
        n.advance(ms(30));
        ack_ts_cookie(&mut n, &s, 5030);
        n.nothing();
        assert_eq!(n.stats().syncookies_recv, 1);
        assert_eq!(n.stats().ecn_conns, 1);
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        assert_eq!(n.send(h, b"data"), 4);
        let d = n.only();
        assert_eq!(d.tos & 0b11, 0b10, "ECT(0)");

        let mut n = Net::with_cfg(cfg());
        let (_, s) = cookie_for(
            &mut n,
            TcpRepr {
                flags: SYN | ECE | CWR,
                ..syn(PEER_ISS)
            },
        );
        assert_eq!(s.r.flags, SYN | ACK, "no timestamps, no room for ECN");
        ack_cookie(&mut n, sa(PEER, PPORT), &s);
        assert_eq!(n.stats().syncookies_recv, 1);
        assert_eq!(n.stats().ecn_conns, 0);
    }

    #[test]
    fn a_cookie_whose_echo_names_other_options_gets_a_rst() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, modern_syn());
        let (remote, local) = ends();
        let (tsval, _) = s.r.timestamp.unwrap();
        for echo in [Some(tsval ^ 1), Some(tsval ^ 16), None] {
            n.inject(
                remote,
                local,
                TcpRepr {
                    timestamp: echo.map(|e| (5030, e)),
                    ..seg(ACK, PEER_ISS + 1, s.r.seq + 1, 500)
                },
                &[],
            );
            n.only().expect(RST, s.r.seq + 1, Seq(0));
        }
        assert_eq!(n.stats().syncookies_failed, 3);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
    }

    /// The peer's ACK of a cookie SYN-ACK `s` that offered timestamps, echoing its TSval.
    fn ack_ts_cookie(n: &mut Net, s: &Out, tsval: u32) {
        let (remote, local) = ends();
        let echo = s.r.timestamp.expect("timestamps offered").0;
        n.inject(
            remote,
            local,
            TcpRepr {
                timestamp: Some((tsval, echo)),
                ..seg(ACK, PEER_ISS + 1, s.r.seq + 1, 500)
            },
            &[],
        );
    }

    #[test]
    fn a_listener_whose_buffers_changed_refuses_its_cookies() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, modern_syn());
        assert!(s.r.wscale.is_some_and(|w| w > 0));
        // A smaller buffer now: another window scale than the SYN-ACK offered, which
        // the peer would apply to every window we announce.
        n.set_opts(l, |o| {
            o.rcvbuf = 8192;
            o.rcvbuf_max = 8192;
        });
        ack_ts_cookie(&mut n, &s, 5030);
        n.only().expect(RST, s.r.seq + 1, Seq(0));
        assert_eq!(n.stats().syncookies_failed, 1);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
    }

    #[test]
    fn with_timestamps_off_here_a_cookie_offers_none_and_ignores_an_echo() {
        let mut n = Net::with_cfg(TcpConfig {
            timestamps: false,
            ..cfg()
        });
        let (l, s) = cookie_for(&mut n, modern_syn());
        assert_eq!((s.r.timestamp, s.r.wscale), (None, None));
        assert!(!s.r.sack_permitted);
        // A peer that sends a TSopt anyway: ignored (RFC 7323 3.2), the cookie checks.
        let (remote, local) = ends();
        n.inject(
            remote,
            local,
            TcpRepr {
                timestamp: Some((5030, 77)),
                ..seg(ACK, PEER_ISS + 1, s.r.seq + 1, 500)
            },
            &[],
        );
        n.nothing();
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        let info = n.info(h);
        assert!(!info.timestamps);
        assert_eq!(info.snd_wnd, 500, "no window scaling");
    }

    #[test]
    fn with_timestamps_data_in_place_of_the_lost_ack_makes_the_connection() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, modern_syn());
        let (remote, local) = ends();
        let echo = s.r.timestamp.unwrap().0;
        n.inject(
            remote,
            local,
            TcpRepr {
                timestamp: Some((5031, echo)),
                ..seg(ACK | PSH, PEER_ISS + 1, s.r.seq + 1, 500)
            },
            b"abc",
        );
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        assert_eq!(n.recv(h), Ok(Some(b"abc".to_vec())));
        assert_eq!(n.info(h).snd_wnd, 500 << 7);
        let a = n.only();
        a.expect_ack(s.r.seq + 1, PEER_ISS + 4);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(5031));
    }

    #[test]
    fn round_trips_are_measured_from_echoes_long_after_the_cookie() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, modern_syn());
        ack_ts_cookie(&mut n, &s, 5030);
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        let (remote, local) = ends();
        let c = Conn {
            h,
            local,
            remote,
            snd: s.r.seq + 1,
            rcv: PEER_ISS + 1,
        };
        // An exchange echoing one of the connection's own TSvals.
        echoed_exchange(&mut n, &c, b"a", 5040);
        // More than 2^31 ms later (24.9 days), a retransmitted segment's ACK can only be
        // measured from its echo (Karn's rule stops the other clock).
        n.advance(netif::Duration::from_millis((1 << 31) + 1000));
        n.take();
        assert_eq!(n.send(h, b"b"), 1);
        n.only();
        let (_, rtx) = n.next_sent(secs(5));
        let echo = rtx[0].r.timestamp.unwrap().0;
        n.advance(ms(30));
        let before = n.info(h).srtt;
        assert_eq!(before, Some(ms(10)));
        n.to(
            &c,
            TcpRepr {
                timestamp: Some((9000, echo)),
                ..seg(ACK, c.rcv, c.snd + 2, 500)
            },
            &[],
        );
        let after = n.info(h).srtt;
        assert!(after > before, "the echo measured a round trip: {after:?}");
    }

    #[test]
    fn a_lost_cookie_ack_is_replaced_by_the_first_data_segment() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, syn(PEER_ISS));
        let (remote, local) = ends();
        n.inject(
            remote,
            local,
            seg(ACK | PSH, PEER_ISS + 1, s.r.seq + 1, 65_535),
            b"GET / HTTP/1.0\r\n\r\n",
        );
        let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
        assert_eq!(n.recv(h), Ok(Some(b"GET / HTTP/1.0\r\n\r\n".to_vec())));
        assert_eq!(n.stats().syncookies_recv, 1);
    }

    /// A SYN that takes over the tuple of a TIME-WAIT record while the SYN queue is full:
    /// its ISN must still lie above the old incarnation's SND.NXT (RFC 1122 4.2.2.13,
    /// `isn::above`), which a cookie (a MAC) cannot promise. As Linux's tcp_conn_request
    /// (no cookie for a SYN with a `tcp_tw_isn`), it gets a half-open connection of its
    /// own; a cookie ISN fell inside the old sequence space about one time in two.
    #[test]
    fn a_syn_reopening_a_time_wait_tuple_gets_no_cookie_under_a_syn_flood() {
        let mut n = Net::with_cfg(cfg());
        let l = n.listen(LPORT, 16);
        let mut old = Vec::new();
        for port in PPORT..PPORT + 8 {
            let c = n.handshake_to(l, port, syn(PEER_ISS), 65_535);
            n.close(c.h);
            n.only().expect(FIN | ACK, c.snd, c.rcv);
            n.ack(&c, c.snd + 1);
            n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
            n.only().expect_ack(c.snd + 1, c.rcv + 1);
            old.push((c, c.snd + 1));
        }
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 8);
        fill_syn_queue(&mut n);
        for (c, old_snd_nxt) in old {
            let iss = c.rcv + 100_000;
            n.to(&c, syn(iss), &[]);
            let s = n.only();
            s.expect(SYN | ACK, s.r.seq, iss + 1);
            assert!(
                s.r.seq.gt(old_snd_nxt),
                "port {}: ISN {:?} not above the old SND.NXT {:?}",
                c.remote.port(),
                s.r.seq,
                old_snd_nxt
            );
        }
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        assert_eq!(n.stats().syncookies_sent, 0);
    }

    #[test]
    fn a_forged_or_expired_cookie_gets_a_rst_and_is_counted() {
        let mut n = Net::with_cfg(cfg());
        let (l, s) = cookie_for(&mut n, syn(PEER_ISS));
        let (remote, local) = ends();
        // A guessed cookie.
        n.inject(
            remote,
            local,
            seg(ACK, PEER_ISS + 1, s.r.seq + 9, 65_535),
            &[],
        );
        n.only().expect(RST, s.r.seq + 9, Seq(0));
        // The right cookie from another port, or with another ISN.
        ack_cookie(&mut n, sa(PEER, PPORT + 1), &s);
        n.only().expect(RST, s.r.seq + 1, Seq(0));
        n.inject(
            remote,
            local,
            seg(ACK, PEER_ISS + 2, s.r.seq + 1, 65_535),
            &[],
        );
        n.only().expect(RST, s.r.seq + 1, Seq(0));
        assert_eq!(n.stats().syncookies_failed, 3);
        // The right one 57 s later, in the tick after the next: expired. (The cookie was
        // made at 1000 s, in the tick from 992 to 1024 s; valid until 1056 s.)
        n.advance(secs(57));
        n.take();
        ack_cookie(&mut n, remote, &s);
        n.only().expect(RST, s.r.seq + 1, Seq(0));
        assert_eq!(n.stats().syncookies_failed, 4);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
        assert_eq!(n.stats().syncookies_recv, 0);
        // Once no cookie can be valid, stray ACKs are not checked (nor counted).
        n.advance(secs(64));
        ack_cookie(&mut n, remote, &s);
        n.only().expect(RST, s.r.seq + 1, Seq(0));
        assert_eq!(n.stats().syncookies_failed, 4);
    }

    #[test]
    fn without_cookies_a_full_queue_drops_the_syn() {
        let mut n = Net::with_cfg(TcpConfig {
            syn_cookies: false,
            ..cfg()
        });
        n.listen(LPORT, 16);
        fill_syn_queue(&mut n);
        n.inject(sa(PEER, PPORT), sa(US, LPORT), syn(PEER_ISS), &[]);
        n.nothing();
        assert_eq!(n.stats().drop_syn_queue_full, 1);
        assert_eq!(n.stats().syncookies_sent, 0);
    }

    #[test]
    fn a_full_accept_queue_drops_the_cookie_ack_until_there_is_room() {
        let mut n = Net::with_cfg(cfg());
        let l = n.listen(LPORT, 0);
        // Backlog 0: the accept queue holds one connection (as Linux's); the SYN queue
        // max(0, 16) * 2 = 32, capped by syn_backlog 4.
        fill_syn_queue(&mut n);
        // Two peers get cookies; the first completes into the accept queue.
        let (r1, r2, local) = (sa(PEER, PPORT), sa(PEER, PPORT + 1), sa(US, LPORT));
        n.inject(r1, local, syn(PEER_ISS), &[]);
        let s1 = n.only();
        n.inject(r2, local, syn(PEER_ISS), &[]);
        let s2 = n.only();
        ack_cookie(&mut n, r1, &s1);
        n.nothing();
        // The second finds the accept queue full: its ACK is dropped, not answered.
        ack_cookie(&mut n, r2, &s2);
        n.nothing();
        assert_eq!(n.stats().drop_accept_queue_full, 1);
        // So is a new SYN.
        n.inject(sa(PEER, PPORT + 2), local, syn(PEER_ISS), &[]);
        n.nothing();
        assert_eq!(n.stats().drop_accept_queue_full, 2);
        assert_eq!(n.t.tcp_accept(l).unwrap().map(|c| c.1), Some(r1));
        // Room again: the second peer's next segment (its data, with the same ACK) makes
        // the connection.
        n.inject(
            r2,
            local,
            seg(ACK | PSH, PEER_ISS + 1, s2.r.seq + 1, 65_535),
            b"x",
        );
        assert_eq!(n.t.tcp_accept(l).unwrap().map(|c| c.1), Some(r2));
    }
}

mod syn_queue {
    use super::*;

    #[test]
    fn under_pressure_half_open_entries_leave_within_3_s() {
        let mut n = Net::with_cfg(TcpConfig {
            syn_backlog: 8,
            ..cfg()
        });
        n.listen(LPORT, 16);
        let t0 = n.now;
        // Three entries under no pressure, with the usual 5 retransmissions.
        for i in 0..3 {
            n.inject(sa(spoofed(i), 1000), sa(US, LPORT), syn(Seq(7)), &[]);
        }
        n.advance_to(t0 + secs(3));
        assert_eq!(n.take().len(), 3 + 3 + 3, "SYN-ACKs at 0, 1 and 3 s");
        assert_eq!(n.t.socket_count(), 4);
        // The fourth and fifth fill half the queue (4 of 8): from now on one retransmission
        // each; the first three have had more, so they go at once.
        for i in 3..5 {
            n.inject(sa(spoofed(i), 1000), sa(US, LPORT), syn(Seq(7)), &[]);
        }
        assert_eq!(n.take().len(), 2);
        n.advance_to(t0 + secs(3) + ms(1));
        assert_eq!(n.t.socket_count(), 3, "the three old entries are gone");
        assert_eq!(n.stats().handshake_timeouts, 3);
        n.advance_to(t0 + secs(4));
        assert_eq!(n.take().len(), 2, "one retransmission each after 1 s");
        n.advance_to(t0 + secs(6) - ms(1));
        assert_eq!(n.t.socket_count(), 3);
        n.advance_to(t0 + secs(6));
        n.nothing();
        assert_eq!(n.t.socket_count(), 1, "gone 3 s after their SYN");
        assert_eq!(n.stats().handshake_timeouts, 5);
        // With the queue empty again, a new entry gets the usual schedule: 1 + 2 + 4 + 8
        // + 16 + 32 s.
        let t1 = n.now;
        n.inject(sa(PEER, PPORT), sa(US, LPORT), syn(PEER_ISS), &[]);
        n.advance_to(t1 + secs(63) - ms(1));
        assert_eq!(n.take().len(), 6);
        assert_eq!(n.t.socket_count(), 2);
        n.advance_to(t1 + secs(63));
        assert_eq!(n.t.socket_count(), 1);
    }
    /// Half-open connections spread over several listeners, each queue under its own
    /// limit (and under the mark where SYN-ACK retransmissions are cut back), must not
    /// take every socket slot: a SYN flood from spoofed sources would then lock every
    /// client out for as long as it lasts (each SYN dropped as `drop_socket_table_full`,
    /// no cookie, though cookies need no slot). Past a global share of the table, SYNs
    /// are answered with cookies as when a listener's own queue is full (RFC 4987 3.6),
    /// and a legitimate client still connects.
    /// A transport whose socket table holds `max` sockets, for the flood tests.
    fn small_table(max: usize) -> Net {
        Net {
            t: transport::Transport::new(transport::TransportConfig {
                max_sockets: max,
                tcp: TcpConfig {
                    tail_loss_probe: false,
                    ..TcpConfig::default()
                },
                ..transport::TransportConfig::default()
            }),
            ip: FakeIp::default(),
            now: netif::Instant::from_secs(1000),
        }
    }

    /// Orphans that only wait for their peer's FIN (the peer ACKed ours and sends none)
    /// held their socket for the whole FIN timeout: enough of them filled the table, and
    /// a new client's cookie ACK found no slot. Now the orphan closest to its timeout is
    /// reset to make room (and only such an orphan: one with data unacknowledged stays).
    #[test]
    fn fin_wait_2_orphans_give_way_to_a_new_client() {
        let mut n = small_table(6);
        let l = n.listen(LPORT, 16);
        let mut orphans = Vec::new();
        for i in 0..5u16 {
            let c = n.handshake_to(l, PPORT + i, syn(PEER_ISS), 65_535);
            n.close(c.h);
            n.only().expect(FIN | ACK, c.snd, c.rcv);
            if i > 0 {
                // The first keeps its FIN unacknowledged (FIN-WAIT-1): never reclaimed.
                n.ack(&c, c.snd + 1);
            }
            n.nothing();
            orphans.push(c);
        }
        assert_eq!(n.t.socket_count(), 6);
        for k in 0..5u16 {
            let (remote, local) = (sa(PEER, PPORT + 100 + k), sa(US, LPORT));
            n.inject(remote, local, syn(Seq(5000)), &[]);
            let s = n.only();
            assert_eq!(s.r.flags, SYN | ACK, "a cookie");
            n.inject(remote, local, seg(ACK, Seq(5001), s.r.seq + 1, 65_535), &[]);
            if k == 4 {
                // Only the orphan with its FIN unacknowledged is left: it keeps its
                // place, and the client waits (its ACK dropped, never reset).
                n.nothing();
                assert!(n.t.tcp_accept(l).unwrap().is_none());
                break;
            }
            // The FIN-WAIT-2 orphans go in order (the second connection first), each
            // reset at its SND.MAX.
            let old = &orphans[1 + usize::from(k)];
            let rst = n.only();
            assert_eq!((rst.r.flags & RST, rst.r.seq), (RST, old.snd + 1));
            assert_eq!(rst.r.dst_port, old.remote.port());
            assert!(
                n.t.tcp_accept(l).unwrap().is_some(),
                "client {k} locked out"
            );
        }
        assert_eq!(n.stats().orphans_reclaimed, 4);
        assert_eq!(n.stats().drop_socket_table_full, 1);
        assert_eq!(n.state(orphans[0].h), TcpState::FinWait1);
    }

    /// An orphan whose peer keeps its window shut (data and FIN waiting on zero-window
    /// probes) held its socket for the whole of its probing: a peer that never reads
    /// could fill the table with them. With no FIN-WAIT-2 orphan to take, the one
    /// probing longest is reset for a new client; an orphan whose FIN only waits for its
    /// ACK, the window open, still keeps its place.
    #[test]
    fn orphans_held_by_a_shut_window_give_way_after_fin_wait_2_ones() {
        let mut n = small_table(5);
        let l = n.listen(LPORT, 16);
        // 0: FIN unacknowledged, window open. 1 and 2: window shut, data waiting.
        // 3: FIN-WAIT-2.
        let mut orphans = Vec::new();
        for i in 0..4u16 {
            let window = if i == 1 || i == 2 { 0 } else { 65_535 };
            let c = n.handshake_to(l, PPORT + i, syn(PEER_ISS), window);
            if window == 0 {
                n.send(c.h, &pattern(500));
            }
            n.close(c.h);
            if window != 0 {
                n.only().expect(FIN | ACK, c.snd, c.rcv);
            }
            if i == 3 {
                n.ack(&c, c.snd + 1);
            }
            n.nothing();
            orphans.push(c);
            // The second shut-window orphan starts probing later.
            n.advance(secs(1));
            n.take();
        }
        assert_eq!(n.t.socket_count(), 5);
        let mut reclaimed = Vec::new();
        for k in 0..4u16 {
            let (remote, local) = (sa(PEER, PPORT + 100 + k), sa(US, LPORT));
            n.inject(remote, local, syn(Seq(5000)), &[]);
            let s = n.only();
            assert_eq!(s.r.flags, SYN | ACK, "a cookie");
            n.inject(remote, local, seg(ACK, Seq(5001), s.r.seq + 1, 65_535), &[]);
            if k == 3 {
                n.nothing();
                assert!(
                    n.t.tcp_accept(l).unwrap().is_none(),
                    "no orphan left to take"
                );
                break;
            }
            let rst = n.only();
            assert_eq!(rst.r.flags & RST, RST);
            reclaimed.push(rst.r.dst_port - PPORT);
            assert!(
                n.t.tcp_accept(l).unwrap().is_some(),
                "client {k} locked out"
            );
        }
        assert_eq!(
            reclaimed,
            vec![3, 1, 2],
            "FIN-WAIT-2 first, then the longest probing"
        );
        assert_eq!(n.stats().orphans_reclaimed, 3);
        assert_eq!(n.state(orphans[0].h), TcpState::FinWait1);
    }

    /// With no socket slot left for a half-open connection, a SYN was still answered
    /// with a SYN-ACK (sent before the slot was looked for) and nothing kept: the peer's
    /// ACK then met a RST, and its `connect` failed with "connection reset" although the
    /// listener was there. Now the SYN is answered with a cookie, which needs no slot, and
    /// the peer's ACK is dropped (never reset) until a slot is free.
    #[test]
    fn a_syn_with_no_socket_slot_left_gets_a_cookie_and_its_ack_no_rst() {
        let mut n = small_table(8);
        let l = n.listen(LPORT, 16);
        // Six sockets of the application's and one half-open connection fill the table.
        let idle: Vec<_> = (0..6).map(|_| n.t.tcp_open().expect("open")).collect();
        n.inject(sa(spoofed(0), 1000), sa(US, LPORT), syn(Seq(7)), &[]);
        assert_eq!(n.only().r.flags, SYN | ACK);
        assert_eq!(n.t.socket_count(), 8);
        let (remote, local) = (sa(PEER, PPORT), sa(US, LPORT));
        n.inject(remote, local, syn(PEER_ISS), &[]);
        let s = n.only();
        assert_eq!((s.r.flags, s.r.ack), (SYN | ACK, PEER_ISS + 1), "{s:?}");
        n.inject(
            remote,
            local,
            seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
            &[],
        );
        n.nothing();
        let st = n.stats();
        assert_eq!((st.syncookies_sent, st.drop_socket_table_full), (1, 1));
        // A slot frees: the peer's data, with the same ACK, makes the connection.
        n.close(idle[0]);
        n.inject(
            remote,
            local,
            seg(ACK | PSH, PEER_ISS + 1, s.r.seq + 1, 65_535),
            b"hi",
        );
        let (h, from) = n.t.tcp_accept(l).unwrap().expect("connected");
        assert_eq!(from, remote);
        assert_eq!(n.recv(h), Ok(Some(b"hi".to_vec())));
    }

    #[test]
    fn a_syn_flood_over_several_listeners_leaves_room_for_a_legitimate_client() {
        let mut n = small_table(40);
        // Four listeners with backlog 16: a SYN queue of 32 each, cut back at 16.
        let l = n.listen(LPORT, 16);
        for p in 1..4 {
            n.listen(LPORT + p, 16);
        }
        // The flood: 15 SYNs per listener from spoofed sources, which never answer.
        for p in 0..4u16 {
            for i in 0..15u16 {
                let src = sa(spoofed((i % 100) as u8), 2000 + p * 100 + i);
                n.inject(src, sa(US, LPORT + p), syn(Seq(7)), &[]);
            }
        }
        n.take();
        n.advance(secs(1));
        n.take();
        // A client connects to the first listener.
        let (remote, local) = (sa(PEER, PPORT), sa(US, LPORT));
        n.inject(remote, local, syn(PEER_ISS), &[]);
        let v = n.take();
        assert_eq!(
            v.len(),
            1,
            "the client's SYN is answered (stats {:?})",
            n.stats()
        );
        let s = &v[0];
        assert_eq!(s.r.flags, SYN | ACK, "{s:?}");
        assert_eq!((s.dst, s.r.ack), (PEER, PEER_ISS + 1), "{s:?}");
        n.inject(
            remote,
            local,
            seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
            &[],
        );
        n.nothing();
        let (h, from) = n.t.tcp_accept(l).unwrap().expect("the client is connected");
        assert_eq!(from, remote);
        assert_eq!(n.state(h), TcpState::Established);
        assert_eq!(n.stats().drop_socket_table_full, 0);
    }
}

mod unreachable {
    use super::*;
    use ip::{IcmpErrorReport, Upper};

    /// RFC 1122 4.2.3.9: a parameter problem about a segment of ours reaches the
    /// application: the end of a connection being opened (EPROTO on Linux); once
    /// established, a soft error that does not end it.
    #[test]
    fn a_parameter_problem_fails_a_connect_and_spares_an_established_connection() {
        let problem = |n: &mut Net, local: std::net::SocketAddrV4, seq: Seq| {
            let mut q = vec![0u8; 8];
            q[0..2].copy_from_slice(&local.port().to_be_bytes());
            q[2..4].copy_from_slice(&LPORT.to_be_bytes());
            q[4..8].copy_from_slice(&seq.0.to_be_bytes());
            let r = IcmpErrorReport {
                ifindex: 0,
                from: PEER,
                kind: ip::icmp::kind::PARAMETER_PROBLEM,
                code: 0,
                info: 20,
                orig_src: US,
                orig_dst: PEER,
                orig_protocol: 6,
                orig_total_len: 40,
                orig_payload: &q,
            };
            n.t.icmp_error(&mut n.ip, &r, n.now);
        };
        let mut n = Net::new();
        let h = n.t.tcp_open().expect("open");
        n.t.tcp_connect(h, sa(PEER, LPORT), &mut n.ip, n.now)
            .expect("connect");
        let s = n.only();
        problem(&mut n, sa(s.src, s.r.src_port), s.r.seq);
        assert_eq!(
            n.t.tcp_connected(h),
            Err(transport::TransportError::Tcp(
                transport::TcpError::ProtocolError
            ))
        );

        let mut n = Net::new();
        let c = n.active();
        assert_eq!(n.send(c.h, b"hello"), 5);
        n.take();
        problem(&mut n, c.local, c.snd);
        assert_eq!(n.state(c.h), TcpState::Established);
        n.ack(&c, c.snd + 5);
        assert_eq!(n.send(c.h, b"again"), 5);
        assert_eq!(n.only().data, b"again");
    }

    /// IP_RECVERR on a TCP socket (Linux's `tcp_v4_err`): an ICMP error about an
    /// established connection fails the next call once, at once (poll says so), and the
    /// connection goes on; without it nothing is reported until a timeout would be.
    #[test]
    fn with_ip_recverr_an_established_connection_hears_of_an_icmp_error_at_once() {
        use transport::{TcpError, TransportError};
        for recverr in [false, true] {
            let mut n = Net::new();
            let c = n.passive();
            n.t.tcp_set_opts(c.h, |o| o.recverr = recverr, &mut n.ip, n.now)
                .expect("set");
            assert_eq!(n.send(c.h, b"hello"), 5);
            n.take();
            host_unreachable(&mut n, c.remote, c.snd);
            let (readable, _, _) = n.t.tcp(c.h).expect("socket").readiness();
            assert_eq!(readable, recverr, "poll wakes a reader");
            let mut buf = [0u8; 8];
            let r = n.t.tcp_recv(c.h, &mut buf, &mut n.ip, n.now);
            if recverr {
                assert_eq!(r, Err(TransportError::Tcp(TcpError::HostUnreachable)));
            }
            // Reported once.
            assert_eq!(n.t.tcp_recv(c.h, &mut buf, &mut n.ip, n.now), Ok(None));
            assert_eq!(n.state(c.h), TcpState::Established);
            n.ack(&c, c.snd + 5);
            assert_eq!(n.send(c.h, b"again"), 5);
            assert_eq!(n.only().data, b"again");
        }
    }

    #[test]
    fn a_half_open_entry_whose_peer_does_not_resolve_leaves_at_once() {
        let mut n = Net::with_cfg(cfg());
        let l = n.listen(LPORT, 16);
        let remote = sa(spoofed(1), 1000);
        n.inject(remote, sa(US, LPORT), syn(Seq(7)), &[]);
        let s = n.only();
        assert_eq!(n.t.socket_count(), 2);
        // An error quoting another sequence number is ignored (RFC 5927).
        host_unreachable(&mut n, remote, s.r.seq + 100);
        assert_eq!(n.t.socket_count(), 2);
        assert_eq!(n.stats().icmp_ignored, 1);
        host_unreachable(&mut n, remote, s.r.seq);
        n.nothing();
        assert_eq!(n.t.socket_count(), 1, "the entry is gone");
        // One about a connection we do not have is ignored too, and counted.
        host_unreachable(&mut n, sa(spoofed(2), 1000), s.r.seq);
        assert_eq!(n.stats().icmp_ignored, 2);
        assert!(n.t.tcp_accept(l).unwrap().is_none());
        // The listener goes on: the next SYN makes a new entry.
        n.inject(remote, sa(US, LPORT), syn(Seq(7)), &[]);
        assert_eq!(n.only().r.flags, SYN | ACK);
    }

    /// Only a net or host unreachable, a time exceeded or a parameter problem ends a
    /// half-open entry, as Linux's tcp_req_err: a port unreachable or a prohibition
    /// leaves it to its timer.
    #[test]
    fn a_half_open_entry_is_ended_only_by_the_errors_linux_ends_it_for() {
        for (error, ends) in [
            ((3, 3), false),
            ((3, 13), false),
            ((3, 0), true),
            ((11, 0), true),
            ((12, 0), true),
        ] {
            let mut n = Net::with_cfg(cfg());
            n.listen(LPORT, 16);
            let remote = sa(spoofed(1), 1000);
            n.inject(remote, sa(US, LPORT), syn(Seq(7)), &[]);
            let s = n.only();
            icmp_error_about(&mut n, error, LPORT, remote, s.r.seq);
            let left = if ends { 1 } else { 2 };
            assert_eq!(n.t.socket_count(), left, "{error:?}");
        }
    }

    /// A Destination Unreachable code past the last defined (15) means nothing: ignored,
    /// as Linux's tcp_v4_err does, not taken for a host unreachable that ends a connect.
    #[test]
    fn an_unknown_unreachable_code_does_not_end_a_connect() {
        let mut n = Net::new();
        let h = n.t.tcp_open().expect("open");
        let remote = sa(PEER, LPORT);
        n.t.tcp_connect(h, remote, &mut n.ip, n.now)
            .expect("connect");
        let s = n.only();
        let local = sa(s.src, s.r.src_port);
        icmp_error_about(&mut n, (3, 16), local.port(), remote, s.r.seq);
        assert_eq!(n.state(h), TcpState::SynSent);
        assert_eq!(n.stats().icmp_ignored, 1);
        icmp_error_about(&mut n, (3, 15), local.port(), remote, s.r.seq);
        assert_eq!(n.state(h), TcpState::Closed);
    }
}

mod invalid_ratelimit {
    use super::*;

    #[test]
    fn ten_out_of_window_acks_in_90_ms_draw_one_ack() {
        let mut n = Net::new();
        let c = n.passive();
        for i in 0..10 {
            n.to(&c, seg(ACK, c.rcv + 1_000_000, c.snd, 65_535), &[]);
            if i < 9 {
                n.advance(ms(10));
            }
        }
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.stats().oow_acks_limited, 9);
        // Until 500 ms after the answer, nothing more; then the next is answered.
        n.advance(ms(409));
        n.to(&c, seg(ACK, c.rcv - 100_000, c.snd, 65_535), &[]);
        n.nothing();
        n.advance(ms(1));
        n.to(&c, seg(ACK, c.rcv + 1_000_000, c.snd, 65_535), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.state(c.h), TcpState::Established);
    }

    #[test]
    fn ten_rsts_in_window_not_at_rcv_nxt_draw_one_challenge_ack() {
        let mut n = Net::new();
        let (l, c) = n.passive_with(syn(PEER_ISS), 65_535);
        for i in 0..10 {
            n.to(&c, seg(RST, c.rcv + 1 + i * 10, Seq(0), 0), &[]);
            n.advance(ms(9));
        }
        n.only().expect_ack(c.snd, c.rcv);
        let st = n.stats();
        assert_eq!((st.challenge_acks, st.oow_acks_limited), (1, 9));
        assert_eq!(n.state(c.h), TcpState::Established);
        // Another connection has a limit of its own.
        let c2 = n.handshake_to(l, PPORT + 1, syn(PEER_ISS), 65_535);
        n.to(&c2, seg(RST, c2.rcv + 5, Seq(0), 0), &[]);
        n.only().expect_ack(c2.snd, c2.rcv);
    }

    #[test]
    fn out_of_window_data_is_answered_but_never_delivered() {
        let mut n = Net::new();
        let c = n.passive();
        for i in 0..5u32 {
            let seq = c.rcv + 70_000 + i as usize * 100;
            n.to(&c, seg(ACK | PSH, seq, c.snd, 65_535), b"evil");
            n.only().expect_ack(c.snd, c.rcv);
        }
        // Old data (a retransmission whose ACK was lost) likewise.
        n.to(&c, seg(ACK | PSH, c.rcv - 4, c.snd, 65_535), b"old!");
        n.only().expect_ack(c.snd, c.rcv);
        assert_eq!(n.recv(c.h), Ok(None));
        assert_eq!(n.stats().oow_acks_limited, 0);
        // The stream goes on as if nothing had come.
        n.data(&c, c.rcv, b"good");
        assert_eq!(n.recv(c.h), Ok(Some(b"good".to_vec())));
    }

    #[test]
    fn acks_of_unsent_data_and_syns_share_the_limit() {
        let mut n = Net::new();
        let c = n.passive();
        n.to(&c, seg(ACK, c.rcv, c.snd + 100, 65_535), &[]);
        n.only().expect_ack(c.snd, c.rcv);
        n.to(&c, seg(ACK, c.rcv, c.snd + 100, 65_535), &[]);
        n.to(&c, syn(c.rcv + 5), &[]);
        n.nothing();
        assert_eq!(n.stats().oow_acks_limited, 2);
        n.advance(ms(500));
        n.to(&c, syn(c.rcv + 5), &[]);
        n.only().expect_ack(c.snd, c.rcv);
    }

    #[test]
    fn the_interval_is_configurable() {
        let mut n = Net::with_cfg(TcpConfig {
            tail_loss_probe: false,
            invalid_ratelimit: ms(50),
            ..TcpConfig::default()
        });
        let c = n.passive();
        let mut answered = 0;
        for _ in 0..10 {
            n.to(&c, seg(ACK, c.rcv + 1_000_000, c.snd, 65_535), &[]);
            answered += n.take().len();
            n.advance(ms(10));
        }
        assert_eq!(answered, 2, "at 0 and 50 ms");
    }

    #[test]
    fn a_time_wait_record_answers_out_of_window_acks_once_per_interval() {
        let mut n = Net::new();
        let (_, c) = n.passive_with(syn(PEER_ISS), 65_535);
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert!(!n.t.is_open(c.h), "a TIME-WAIT record");
        for _ in 0..10 {
            n.to(&c, seg(ACK, c.rcv + 5000, c.snd + 1, 65_535), &[]);
            n.advance(ms(9));
        }
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.stats().oow_acks_limited, 9);
        // A retransmitted FIN is always answered.
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
    }
}

/// Issue 9 item 5, the floods that need no kernel: the tables they fill stay within their
/// caps and the stack keeps answering. (The kernel-side tests in tests/tests/kernel_flood.rs
/// record the resident size under SYN, fragment and ARP floods.)
mod floods {
    use super::*;
    use transport::tcp::OOO_MAX_RANGES;

    #[test]
    fn a_hundred_thousand_short_connections_leave_at_most_max_time_wait_records() {
        let mut n = Net::with_cfg(TcpConfig {
            tail_loss_probe: false,
            ..TcpConfig::default()
        });
        let l = n.listen(LPORT, 16);
        let local = sa(US, LPORT);
        let max = TcpConfig::default().max_time_wait;
        for i in 0..100_000u32 {
            // 100,000 distinct 4-tuples: peers 10.0.0.2 to 10.0.0.5, ports from 1024.
            let remote = sa(
                Ipv4Addr::new(10, 0, 0, 2 + (i / 50_000) as u8 * 2 + (i % 2) as u8),
                1024 + ((i / 2) % 25_000) as u16,
            );
            n.inject(remote, local, syn(PEER_ISS), &[]);
            let s = n.only();
            let (snd, rcv) = (s.r.seq + 1, PEER_ISS + 1);
            n.inject(remote, local, seg(ACK, rcv, snd, 65_535), &[]);
            let (h, _) = n.t.tcp_accept(l).unwrap().expect("accepted");
            // The server closes first (as HTTP/1.0 does): its side ends in TIME-WAIT.
            n.close(h);
            n.only().expect(FIN | ACK, snd, rcv);
            n.inject(remote, local, seg(FIN | ACK, rcv, snd + 1, 65_535), &[]);
            n.only().expect_ack(snd + 1, rcv + 1);
            n.now += ms(1) / 10;
        }
        assert_eq!(n.t.tcp_time_wait(n.now).len(), max);
        assert_eq!(n.stats().time_wait_evicted, 100_000 - max as u64);
        assert_eq!(n.t.socket_count(), 1, "only the listener holds a socket");
        // The stack still answers, and the records expire.
        let c = n.handshake_to(l, 7, syn(PEER_ISS), 65_535);
        n.data(&c, c.rcv, b"still");
        assert_eq!(n.recv(c.h), Ok(Some(b"still".to_vec())));
        n.advance(secs(61));
        assert!(n.t.tcp_time_wait(n.now).is_empty());
    }

    /// One byte beyond a hole made a connection's receive ring the whole receive buffer
    /// (1 MiB), charged to TCP's memory pool: a few peers sending a byte each put the
    /// stack under memory pressure for good, and every other connection's window was cut
    /// to 16 KB with what lay beyond dropped. When pressure begins, out-of-order bytes are
    /// let go (RFC 2018 8 allows it when the receiver runs out of buffer space; Linux
    /// prunes its out-of-order queue so) and the rings that then hold nothing given back.
    #[test]
    fn single_out_of_order_bytes_do_not_hold_the_stack_under_memory_pressure() {
        const MIB: usize = 1 << 20;
        let mut n = Net::with_cfg(TcpConfig {
            tail_loss_probe: false,
            mem_max: 4 * MIB,
            ..TcpConfig::default()
        });
        let (l, c0) = n.passive_with(syn(PEER_ISS), 65_535);
        let mut attackers = vec![c0];
        for p in 1..8 {
            attackers.push(n.handshake_to(l, PPORT + p, syn(PEER_ISS), 65_535));
        }
        // Each peer sends one byte, 60,000 bytes beyond RCV.NXT, and nothing more.
        for c in &attackers {
            n.data(c, c.rcv + 60_000, b"x");
        }
        n.take();
        let (used, max) = n.t.tcp_mem();
        assert!(used <= max, "8 bytes received hold {used} of {max} bytes");
        // The five bytes that brought pressure on were let go, and counted.
        let shed = n.stats().mem_pressure_drops;
        assert_eq!(shed, 5);
        // Another peer sends 60 KB in order, not yet read: all of it is kept.
        let c = n.handshake_to(l, PPORT + 100, syn(PEER_ISS), 65_535);
        let data = pattern(60_000);
        for (i, chunk) in data.chunks(1000).enumerate() {
            n.data(&c, c.rcv + i * 1000, chunk);
        }
        n.take();
        assert_eq!(n.stats().mem_pressure_drops, shed);
        assert_eq!(n.recv(c.h), Ok(Some(data)));
    }

    #[test]
    fn out_of_order_floods_are_bounded_per_connection() {
        let mut n = Net::new();
        let (l, c0) = n.passive_with(syn(PEER_ISS), 65_535);
        let mut conns = vec![c0];
        for p in 1..8 {
            conns.push(n.handshake_to(l, PPORT + p, syn(PEER_ISS), 65_535));
        }
        // 5,000 one-byte segments each, every other byte of the window: each would open a
        // hole of its own.
        for c in &conns {
            for i in 0..5000usize {
                n.data(c, c.rcv + 2 + 2 * i, b"x");
            }
        }
        n.take();
        let st = n.stats();
        assert_eq!(st.ooo_queued, 8 * OOO_MAX_RANGES as u64);
        assert_eq!(st.ooo_dropped, 8 * (5000 - OOO_MAX_RANGES) as u64);
        // Each connection still takes its stream in order.
        for c in &conns {
            n.data(c, c.rcv, b"ab");
            assert_eq!(n.recv(c.h), Ok(Some(b"abx".to_vec())));
        }
    }
}
