//! Timestamps (RFC 7323), path-MTU discovery (RFC 1191 with RFC 5927's validation) and
//! idle restart (RFC 5681 4.1), at the segment level on the virtual clock: the test plays
//! the peer through the harness of `tcp.rs`.

#![forbid(unsafe_code)]

mod tcp_harness;

use ip::{IcmpErrorReport, Upper};
use netif::Duration;
use tcp_harness::*;
use transport::tcp::wire::TcpRepr;
use transport::tcp::Seq;
use transport::{TcpConfig, TcpState};

/// The peer's timestamp clock starts here (RFC 7323 leaves the origin to each host).
const PEER_TS: u32 = 7_000;

fn ts(r: TcpRepr, val: u32, ecr: u32) -> TcpRepr {
    TcpRepr {
        timestamp: Some((val, ecr)),
        ..r
    }
}

/// A passive open whose SYN offers timestamps (and SACK if asked); every segment of the
/// handshake carries them. The connection and our SYN-ACK.
fn ts_passive(n: &mut Net, sack: bool) -> (Conn, Out) {
    ts_passive_at(n, sack, PEER_TS)
}

/// `ts_passive` with the peer's timestamp clock at `peer_ts`.
fn ts_passive_at(n: &mut Net, sack: bool, peer_ts: u32) -> (Conn, Out) {
    let l = n.listen(LPORT, 16);
    let (local, remote) = (sa(US, LPORT), sa(PEER, PPORT));
    let s = TcpRepr {
        sack_permitted: sack,
        ..ts(syn(PEER_ISS), peer_ts, 0)
    };
    n.inject(remote, local, s, &[]);
    let sa_ = n.only();
    assert_eq!(sa_.r.flags, SYN | ACK);
    let (our_ts, echo) = sa_.r.timestamp.expect("the SYN-ACK answers the offer");
    assert_eq!(echo, peer_ts, "the SYN-ACK echoes the SYN's TSval");
    let a = ts(
        seg(ACK, PEER_ISS + 1, sa_.r.seq + 1, 65_535),
        peer_ts.wrapping_add(1),
        our_ts,
    );
    n.inject(remote, local, a, &[]);
    n.nothing();
    let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
    let c = Conn {
        h,
        local,
        remote,
        snd: sa_.r.seq + 1,
        rcv: PEER_ISS + 1,
    };
    (c, sa_)
}

/// The peer's data at `seq` with timestamps `(val, ecr)`.
fn ts_data(n: &mut Net, c: &Conn, seq: Seq, val: u32, ecr: u32, data: &[u8]) {
    n.to(c, ts(seg(ACK | PSH, seq, c.snd, 65_535), val, ecr), data);
}

fn lens(v: &[Out]) -> Vec<usize> {
    v.iter().map(|o| o.data.len()).collect()
}

mod negotiation {
    use super::*;

    #[test]
    fn active_open_offers_and_both_sides_then_stamp_every_segment() {
        let mut n = Net::new();
        let h = n.t.tcp_open().unwrap();
        let remote = sa(PEER, LPORT);
        n.t.tcp_connect(h, remote, &mut n.ip, n.now).unwrap();
        let s = n.only();
        let (v0, e0) = s.r.timestamp.expect("an active open offers timestamps");
        assert_eq!(e0, 0, "nothing to echo yet");
        assert!(s.r.sack_permitted && s.r.mss.is_some() && s.r.wscale.is_some());
        assert!(s.r.header_len() <= 60, "MSS + WS + SACK-permitted + TS fit");
        let local = sa(s.src, s.r.src_port);
        n.advance(ms(10));
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..ts(seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535), PEER_TS, v0)
        };
        n.inject(remote, local, synack, &[]);
        let a = n.only();
        a.expect_ack(s.r.seq + 1, PEER_ISS + 1);
        // TSval from the millisecond clock, TSecr = TS.Recent (the SYN-ACK's TSval).
        assert_eq!(a.r.timestamp, Some((v0 + 10, PEER_TS)));
        assert!(n.info(h).timestamps);
        // The handshake's echo measured the round trip.
        assert_eq!(n.info(h).srtt, Some(ms(10)));
        // Data: the 12 option bytes come out of the MSS (RFC 7323 / RFC 9293 3.7.1).
        n.send(h, &pattern(3000));
        let v = n.take();
        assert_eq!(lens(&v), vec![988, 988, 988, 36]);
        for o in &v {
            assert_eq!(o.r.timestamp, Some((v0 + 10, PEER_TS)));
            assert_eq!(o.r.header_len(), 32);
        }
    }

    #[test]
    fn active_open_answered_without_timestamps_goes_without() {
        let mut n = Net::new();
        let c = n.active();
        assert!(!n.info(c.h).timestamps);
        n.send(c.h, &pattern(2000));
        let v = n.take();
        assert_eq!(lens(&v), vec![1000, 1000]);
        assert!(v.iter().all(|o| o.r.timestamp.is_none()));
    }

    #[test]
    fn passive_open_answers_only_an_offer() {
        let mut n = Net::new();
        let c = n.passive();
        assert!(!n.info(c.h).timestamps);
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        assert!(n.info(c.h).timestamps);
        ts_data(&mut n, &c, c.rcv, PEER_TS + 5, 0, b"hello");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 5);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 5));
    }

    #[test]
    fn switched_off_by_config() {
        let mut n = Net::with_cfg(TcpConfig {
            timestamps: false,
            tail_loss_probe: false,
            ..TcpConfig::default()
        });
        let h = n.t.tcp_open().unwrap();
        n.t.tcp_connect(h, sa(PEER, LPORT), &mut n.ip, n.now)
            .unwrap();
        assert_eq!(n.only().r.timestamp, None);
        n.listen(LPORT, 16);
        n.inject(
            sa(PEER, PPORT),
            sa(US, LPORT),
            ts(syn(PEER_ISS), PEER_TS, 0),
            &[],
        );
        let sa_ = n.only();
        assert_eq!(sa_.r.flags, SYN | ACK);
        assert_eq!(sa_.r.timestamp, None, "an offer is declined");
    }

    #[test]
    fn a_segment_without_timestamps_is_taken_and_counted_as_linux_does() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        ts_data(&mut n, &c, c.rcv, PEER_TS + 10, 0, b"ts");
        n.data(&c, c.rcv + 2, b"bare");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 6);
        // Our ACK still carries timestamps, echoing the last TSval seen.
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 10));
        assert_eq!(n.stats().ts_missing, 1);
        assert_eq!(n.recv_n(c.h, 10), b"tsbare");
        // A RST needs none (RFC 7323 3.2), and is not counted.
        n.to(&c, seg(RST, c.rcv + 6, Seq(0), 0), &[]);
        assert_eq!(n.stats().ts_missing, 1);
        assert_eq!(n.stats().resets_established, 1);
    }
}

mod paws {
    use super::*;

    #[test]
    fn an_old_tsval_is_rejected_then_accepted_after_24_idle_days() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        ts_data(&mut n, &c, c.rcv, PEER_TS + 100, 0, b"a");
        n.advance(ms(40));
        n.only().expect_ack(c.snd, c.rcv + 1);
        // The next byte with a TSval two ticks older than TS.Recent: an old duplicate
        // (RFC 7323 5.3 R1): dropped, and answered with an ACK at once.
        ts_data(&mut n, &c, c.rcv + 1, PEER_TS + 98, 0, b"b");
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 1);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 100));
        assert_eq!(n.stats().drop_paws, 1);
        assert_eq!(n.recv_n(c.h, 10), b"a");
        // One tick older passes, as in Linux (a segment overtaken by a tick), and leaves
        // TS.Recent where it was.
        ts_data(&mut n, &c, c.rcv + 1, PEER_TS + 99, 0, b"b");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 2);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 100));
        assert_eq!(n.stats().drop_paws, 1);
        assert_eq!(n.recv_n(c.h, 10), b"b");
        // 24 days idle but one second: still valid, still rejected.
        n.advance(Duration::from_secs(24 * 24 * 3600 - 1));
        n.take();
        ts_data(&mut n, &c, c.rcv + 2, PEER_TS + 50, 0, b"c");
        n.only().expect_ack(c.snd, c.rcv + 2);
        assert_eq!(n.stats().drop_paws, 2);
        // Past 24 days TS.Recent is invalid (RFC 7323 5.5): accepted, and taken.
        n.advance(Duration::from_secs(2));
        ts_data(&mut n, &c, c.rcv + 2, PEER_TS + 50, 0, b"c");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 3);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 50));
        assert_eq!(n.stats().drop_paws, 2);
        assert_eq!(n.recv_n(c.h, 10), b"c");
    }

    #[test]
    fn tsvals_compare_across_the_wrap() {
        let mut n = Net::new();
        let near = u32::MAX - 10;
        let (c, _) = ts_passive_at(&mut n, false, near - 100);
        ts_data(&mut n, &c, c.rcv, near, 0, b"a");
        n.advance(ms(40));
        assert_eq!(n.only().r.timestamp.map(|t| t.1), Some(near));
        // 5 is 16 ticks after 2^32 - 11: newer.
        ts_data(&mut n, &c, c.rcv + 1, 5, 0, b"b");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 2);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(5));
        // 2^32 - 3 is before 5: old.
        ts_data(&mut n, &c, c.rcv + 2, u32::MAX - 2, 0, b"c");
        n.only().expect_ack(c.snd, c.rcv + 2);
        assert_eq!(n.stats().drop_paws, 1);
        // Old bare ACKs draw at most one ACK per rate-limit interval (RFC 5961 7).
        for _ in 0..5 {
            n.to(
                &c,
                ts(seg(ACK, c.rcv + 2, c.snd, 65_535), u32::MAX - 2, 0),
                &[],
            );
        }
        assert_eq!(n.take().len(), 1);
        assert_eq!(n.stats().drop_paws, 6);
    }

    #[test]
    fn ts_recent_echoes_the_earliest_unacknowledged_segment() {
        // RFC 7323 4.3: two segments draw one (delayed) ACK; it echoes the first.
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        ts_data(&mut n, &c, c.rcv, PEER_TS + 10, 0, b"ab");
        ts_data(&mut n, &c, c.rcv + 2, PEER_TS + 20, 0, b"cd");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 4);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 10));
        // A segment beyond a hole does not update TS.Recent; the one filling it does.
        ts_data(&mut n, &c, c.rcv + 6, PEER_TS + 40, 0, b"gh");
        assert_eq!(n.only().r.timestamp.map(|t| t.1), Some(PEER_TS + 10));
        ts_data(&mut n, &c, c.rcv + 4, PEER_TS + 50, 0, b"ef");
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 8);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 50));
    }
}

mod forged {
    //! Segments an off-path attacker forges with a timestamp far ahead: dropped by RFC
    //! 5961's checks, they must leave TS.Recent alone, or every later segment of the real
    //! peer would fail PAWS (RFC 7323 5.3: R3 only after R2; Linux takes TS.Recent in
    //! tcp_ack, once the ACK passed).
    use super::*;

    const FORGED_TS: u32 = PEER_TS + (1 << 30);

    /// After a forged segment: the real peer's next data is taken and echoed.
    fn the_peer_still_gets_through(n: &mut Net, c: &Conn) {
        ts_data(n, c, c.rcv, PEER_TS + 5, 0, b"real");
        n.advance(ms(40));
        let a = n.only();
        a.expect_ack(c.snd, c.rcv + 4);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 5));
        assert_eq!(n.stats().drop_paws, 0);
    }

    #[test]
    fn a_challenged_syn_leaves_ts_recent_alone() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        n.to(&c, ts(syn(c.rcv), FORGED_TS, 0), &[]);
        let challenge = n.only();
        challenge.expect_ack(c.snd, c.rcv);
        assert_eq!(challenge.r.timestamp.map(|t| t.1), Some(PEER_TS + 1));
        the_peer_still_gets_through(&mut n, &c);
    }

    #[test]
    fn data_without_an_ack_flag_leaves_ts_recent_alone() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        let forged = TcpRepr {
            flags: PSH,
            ..ts(seg(ACK, c.rcv - 1000, Seq(0), 65_535), FORGED_TS, 0)
        };
        n.to(&c, forged, &[7u8; 1400]);
        // Dropped (an ACK for the bytes it repeats may go, echoing the real TS.Recent).
        for a in n.take() {
            assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 1));
        }
        the_peer_still_gets_through(&mut n, &c);
    }

    #[test]
    fn data_acknowledging_what_was_never_sent_leaves_ts_recent_alone() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        let forged = ts(
            seg(ACK | PSH, c.rcv - 1000, c.snd + 500_000, 65_535),
            FORGED_TS,
            0,
        );
        n.to(&c, forged, &[7u8; 1400]);
        // Data is answered with an ACK; it must echo the real TS.Recent.
        let a = n.only();
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 1));
        the_peer_still_gets_through(&mut n, &c);
    }

    #[test]
    fn no_stack_wide_budget_limits_challenge_acks() {
        // 1,200 connections, each challenged once within a second: each answers (only
        // each connection's own limit holds; a shared budget is CVE-2016-5696's side
        // channel).
        let mut n = Net::new();
        let l = n.listen(LPORT, 4096);
        let conns: Vec<Conn> = (0..1200)
            .map(|i| n.handshake_to(l, 2000 + i, syn(PEER_ISS), 65_535))
            .collect();
        for c in &conns {
            n.to(c, seg(RST, c.rcv + 1, Seq(0), 0), &[]);
        }
        assert_eq!(n.take().len(), 1200);
        assert_eq!(n.stats().challenge_acks, 1200);
        assert!(conns.iter().all(|c| n.state(c.h) == TcpState::Established));
    }
}

mod time_wait {
    //! A TIME-WAIT record of a connection that used timestamps: RFC 6191's rules for a new
    //! SYN, and RFC 7323 3.2 / RFC 9293 3.8.6 for its ACKs.
    use super::*;

    /// A timestamped connection closed by us (an orphan) up to its TIME-WAIT record; the
    /// peer's last TSval was `PEER_TS + 3`. The connection and our last ACK.
    fn ts_time_wait_record(n: &mut Net) -> (Conn, Out) {
        let (c, _) = ts_passive(n, false);
        n.close(c.h);
        let fin = n.only();
        fin.expect(FIN | ACK, c.snd, c.rcv);
        let our = fin.r.timestamp.unwrap().0;
        n.to(
            &c,
            ts(seg(ACK, c.rcv, c.snd + 1, 65_535), PEER_TS + 2, our),
            &[],
        );
        n.nothing();
        n.to(
            &c,
            ts(seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), PEER_TS + 3, our),
            &[],
        );
        let last = n.only();
        last.expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(last.r.timestamp.map(|t| t.1), Some(PEER_TS + 3));
        assert!(last.r.window > 0);
        assert!(!n.t.is_open(c.h), "the socket became a TIME-WAIT record");
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        (c, last)
    }

    /// A `connect` (SO_REUSEADDR, the same local port) to the tuple of our own TIME-WAIT
    /// record of a timestamped connection: the record makes way (PAWS keeps the old
    /// incarnation's segments out, as Linux's tcp_twsk_unique allows), and the new SYN's
    /// ISN is above the old SND.NXT (RFC 1122 4.2.2.13).
    #[test]
    fn a_connect_over_a_timestamped_time_wait_record_gets_an_isn_above_the_old_one() {
        let mut n = Net::new();
        let h = n.t.tcp_open().unwrap();
        // Its record keeps SO_REUSEADDR, which the new socket's bind needs too.
        n.t.tcp(h).unwrap().reuse_addr = true;
        let remote = sa(PEER, LPORT);
        n.t.tcp_connect(h, remote, &mut n.ip, n.now).unwrap();
        let s = n.only();
        let (v0, _) = s.r.timestamp.expect("an active open offers timestamps");
        let local = sa(s.src, s.r.src_port);
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..ts(seg(SYN | ACK, PEER_ISS, s.r.seq + 1, 65_535), PEER_TS, v0)
        };
        n.inject(remote, local, synack, &[]);
        n.only().expect_ack(s.r.seq + 1, PEER_ISS + 1);
        let c = Conn {
            h,
            local,
            remote,
            snd: s.r.seq + 1,
            rcv: PEER_ISS + 1,
        };
        // 400 KB sent in the second before: more sequence space than the ISN clock covers.
        let acked = n.send_all_acked(&c, &pattern(400_000), |n, a| {
            n.to(&c, ts(seg(ACK, c.rcv, a, 65_535), PEER_TS, v0), &[])
        });
        n.close(c.h);
        n.only().expect(FIN | ACK, acked, c.rcv);
        let old_snd_nxt = acked + 1;
        n.to(
            &c,
            ts(seg(ACK, c.rcv, old_snd_nxt, 65_535), PEER_TS + 1, v0),
            &[],
        );
        let fin = ts(seg(FIN | ACK, c.rcv, old_snd_nxt, 65_535), PEER_TS + 2, v0);
        n.to(&c, fin, &[]);
        n.only().expect_ack(old_snd_nxt, c.rcv + 1);
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.advance(secs(1));
        let h = n.t.tcp_open().unwrap();
        n.t.tcp(h).unwrap().reuse_addr = true;
        n.t.tcp_bind(h, c.local, &n.ip)
            .expect("bind with SO_REUSEADDR");
        n.t.tcp_connect(h, c.remote, &mut n.ip, n.now)
            .expect("connect");
        let s = n.only();
        assert_eq!(s.r.flags, SYN);
        assert!(
            s.r.seq.gt(old_snd_nxt),
            "new ISN {:?} is not above the old SND.NXT {:?}",
            s.r.seq,
            old_snd_nxt
        );
        assert!(n.t.tcp_time_wait(n.now).is_empty(), "the record made way");
    }

    #[test]
    fn its_acks_carry_timestamps_and_the_last_window() {
        let mut n = Net::new();
        let (c, last) = ts_time_wait_record(&mut n);
        let (our, _) = last.r.timestamp.unwrap();
        n.advance(secs(10));
        // The peer's FIN again (our ACK was lost), newer TSval: answered with TSopt, our
        // clock 10 s on, echoing the new TSval (RFC 7323 3.2, 4.3), and the window as
        // last announced (RFC 9293 3.8.6), not zero.
        n.to(
            &c,
            ts(seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), PEER_TS + 9, our),
            &[],
        );
        let a = n.only();
        a.expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(a.r.timestamp, Some((our + 10_000, PEER_TS + 9)));
        assert_eq!(a.r.window, last.r.window);
        // Data (unacceptable) draws the same kind of ACK.
        n.to(
            &c,
            ts(
                seg(ACK | PSH, c.rcv + 1, c.snd + 1, 65_535),
                PEER_TS + 10,
                our,
            ),
            b"late",
        );
        // (It starts at RCV.NXT, so its TSval is echoed: RFC 7323 4.3.)
        let a = n.only();
        a.expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(a.r.timestamp.map(|t| t.1), Some(PEER_TS + 10));
        assert_eq!(a.r.window, last.r.window);
        // An older TSval does not go back.
        n.to(
            &c,
            ts(
                seg(ACK | PSH, c.rcv + 1, c.snd + 1, 65_535),
                PEER_TS + 5,
                our,
            ),
            b"late",
        );
        assert_eq!(n.only().r.timestamp.map(|t| t.1), Some(PEER_TS + 10));
    }

    #[test]
    fn a_syn_below_the_old_sequence_space_with_a_newer_tsval_reopens() {
        // RFC 6191 2: the old connection used timestamps and this SYN's TSval is newer
        // than the last seen: a new incarnation, whatever its ISN (a client whose new ISN
        // is lower would otherwise be refused for the whole TIME-WAIT).
        let mut n = Net::new();
        let (c, _) = ts_time_wait_record(&mut n);
        let iss2 = c.rcv - 100_000;
        n.to(&c, ts(syn(iss2), PEER_TS + 100, 0), &[]);
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, iss2 + 1);
        assert_eq!(s.r.timestamp.map(|t| t.1), Some(PEER_TS + 100));
        assert!(n.t.tcp_time_wait(n.now).is_empty());
        assert_eq!(n.stats().passive_opens, 2);
    }

    #[test]
    fn a_forged_ack_behind_rcv_nxt_cannot_block_the_reconnection() {
        // Anywhere "at or before RCV.NXT" (half the sequence space) used to set TS.Recent:
        // one forged bare ACK with a TSval far ahead made the peer's new SYN look old for
        // the whole of TIME-WAIT. Only a segment exactly at RCV.NXT counts now (as Linux).
        let mut n = Net::new();
        let (c, last) = ts_time_wait_record(&mut n);
        let our = last.r.timestamp.unwrap().0;
        let forged = ts(
            seg(ACK, c.rcv + 1 - 100_000, c.snd + 1, 65_535),
            PEER_TS + (1 << 30),
            our,
        );
        n.to(&c, forged, &[]);
        // Answered (out of the window) with the real TS.Recent.
        assert_eq!(n.only().r.timestamp.map(|t| t.1), Some(PEER_TS + 3));
        let iss2 = c.rcv - 100_000;
        n.to(&c, ts(syn(iss2), PEER_TS + 100, 0), &[]);
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, iss2 + 1);
        assert_eq!(n.stats().drop_paws, 0);
    }

    #[test]
    fn a_syn_above_the_old_sequence_space_with_an_older_tsval_is_dropped() {
        // RFC 6191 2: an older TSval marks an old duplicate whatever its sequence number:
        // silently dropped, the record stays.
        let mut n = Net::new();
        let (c, _) = ts_time_wait_record(&mut n);
        n.to(&c, ts(syn(c.rcv + 100_000), 1, 0), &[]);
        n.nothing();
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        assert_eq!(n.stats().passive_opens, 1);
        assert_eq!(n.stats().drop_paws, 1);
        // The TSval seen last, again: only with a higher sequence number.
        n.to(&c, ts(syn(c.rcv), PEER_TS + 3, 0), &[]);
        n.nothing();
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        n.to(&c, ts(syn(c.rcv + 10), PEER_TS + 3, 0), &[]);
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, c.rcv + 11);
        assert!(n.t.tcp_time_wait(n.now).is_empty());
    }

    /// A timestamped connection that we closed (shutdown) and whose application still
    /// holds it, in TIME-WAIT; the peer's last TSval was `PEER_TS + 3`.
    fn ts_time_wait_held(n: &mut Net) -> Conn {
        let (c, _) = ts_passive(n, false);
        n.shutdown_write(c.h);
        let fin = n.only();
        fin.expect(FIN | ACK, c.snd, c.rcv);
        let our = fin.r.timestamp.unwrap().0;
        n.to(
            &c,
            ts(seg(ACK, c.rcv, c.snd + 1, 65_535), PEER_TS + 2, our),
            &[],
        );
        n.to(
            &c,
            ts(seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), PEER_TS + 3, our),
            &[],
        );
        n.only().expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(n.state(c.h), TcpState::TimeWait);
        Conn {
            rcv: c.rcv + 1,
            snd: c.snd + 1,
            ..c
        }
    }

    /// RFC 6191 2: a SYN that is no new incarnation by its timestamp (older TSval, or the
    /// same one without a higher sequence number) is silently dropped, and so is one
    /// without timestamps that is not above the old sequence space. A TIME-WAIT record
    /// drops them (`a_syn_above_the_old_sequence_space_with_an_older_tsval_is_dropped`);
    /// a connection in TIME-WAIT its application still holds answered them, with the
    /// ACK of PAWS, an out-of-window ACK or a challenge ACK.
    #[test]
    fn a_held_time_wait_connection_drops_the_syns_rfc_6191_drops() {
        for syn_seg in [
            |c: &Conn| ts(syn(c.rcv + 100_000), 1, 0),
            |c: &Conn| ts(syn(c.rcv), PEER_TS + 3, 0),
            |c: &Conn| ts(syn(c.rcv - 10), PEER_TS + 3, 0),
            |c: &Conn| syn(c.rcv - 10),
            |c: &Conn| syn(c.rcv),
        ] {
            let mut n = Net::new();
            let c = ts_time_wait_held(&mut n);
            let s = syn_seg(&c);
            n.to(&c, s, &[]);
            n.nothing();
            assert_eq!(n.state(c.h), TcpState::TimeWait, "{s:?}");
            assert_eq!(n.stats().passive_opens, 1);
            assert_eq!(n.stats().challenge_acks, 0);
        }
        // The same SYNs with the listener gone: dropped too, as by a record.
        let mut n = Net::new();
        let c = ts_time_wait_held(&mut n);
        let l = n.t.tcp_probe().listeners[0].handle;
        n.close(l);
        n.to(&c, ts(syn(c.rcv + 100_000), 1, 0), &[]);
        n.nothing();
        assert_eq!(n.state(c.h), TcpState::TimeWait);
    }

    #[test]
    fn without_timestamps_the_sequence_number_decides_and_acks_stay_open() {
        let mut n = Net::new();
        let c = n.passive();
        n.close(c.h);
        n.only().expect(FIN | ACK, c.snd, c.rcv);
        n.ack(&c, c.snd + 1);
        n.to(&c, seg(FIN | ACK, c.rcv, c.snd + 1, 65_535), &[]);
        let last = n.only();
        assert!(last.r.window > 0);
        assert_eq!(last.r.timestamp, None);
        // A lower sequence number (even offering timestamps): not a new incarnation;
        // answered with an ACK that announces the same window, without TSopt.
        n.to(&c, ts(syn(c.rcv - 100_000), PEER_TS + 100, 0), &[]);
        let a = n.only();
        a.expect_ack(c.snd + 1, c.rcv + 1);
        assert_eq!(a.r.window, last.r.window);
        assert_eq!(a.r.timestamp, None);
        assert_eq!(n.t.tcp_time_wait(n.now).len(), 1);
        // A higher one reopens.
        n.to(&c, syn(c.rcv + 100_000), &[]);
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, c.rcv + 100_001);
        assert!(n.t.tcp_time_wait(n.now).is_empty());
    }
}

mod rtt {
    use super::*;

    #[test]
    fn an_echo_measures_a_retransmission_karn_could_not() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        // The handshake's ACK measured 0 ms.
        assert_eq!(n.info(c.h).srtt, Some(Duration::ZERO));
        n.send(c.h, b"x");
        let first = n.only();
        n.advance(ms(200));
        let again = n.only();
        assert_eq!(again.r.seq, first.r.seq, "the timeout's retransmission");
        let (v_again, _) = again.r.timestamp.unwrap();
        assert_eq!(v_again, first.r.timestamp.unwrap().0 + 200);
        // The peer answers the retransmission 30 ms later, echoing its TSval.
        n.advance(ms(30));
        n.to(
            &c,
            ts(seg(ACK, c.rcv, c.snd + 1, 65_535), PEER_TS + 300, v_again),
            &[],
        );
        // One sample of 30 ms: srtt = 0 + 30/8.
        let i = n.info(c.h);
        assert_eq!(i.srtt, Some(Duration::from_micros(3750)));
    }

    #[test]
    fn without_timestamps_karn_takes_no_sample_from_a_retransmission() {
        let mut n = Net::new();
        let c = n.passive();
        let before = n.info(c.h).srtt;
        n.send(c.h, b"x");
        n.only();
        n.advance(ms(200));
        n.only();
        n.advance(ms(30));
        n.ack(&c, c.snd + 1);
        assert_eq!(n.info(c.h).srtt, before);
    }

    #[test]
    fn echoes_each_ack_weighted_by_the_samples_per_round_trip() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, false);
        n.send(c.h, &pattern(988 * 8));
        let v = n.take();
        assert_eq!(v.len(), 8);
        let val = v[0].r.timestamp.unwrap().0;
        n.advance(ms(80));
        // The first ACK covers two segments, six stay in flight: ExpectedSamples =
        // ceil(6 * 988 / (2 * 1000)) = 3, so the sample weighs 1/24.
        n.to(
            &c,
            ts(seg(ACK, c.rcv, c.snd + 2 * 988, 65_535), PEER_TS + 1, val),
            &[],
        );
        let srtt = n.info(c.h).srtt.unwrap();
        assert_eq!(srtt, ms(80) / 24);
    }
}

mod sack_with_ts {
    use super::*;

    #[test]
    fn at_most_three_blocks_beside_timestamps() {
        let mut n = Net::new();
        let (c, _) = ts_passive(&mut n, true);
        // Five islands beyond a hole at c.rcv.
        let mut last = None;
        for i in 0..5u32 {
            let at = c.rcv + (10 + 20 * i) as usize;
            ts_data(&mut n, &c, at, PEER_TS + 1 + i, 0, b"0123456789");
            last = Some(n.only());
        }
        let a = last.unwrap();
        a.expect_ack(c.snd, c.rcv);
        assert_eq!(a.r.sack_count, 3);
        assert!(a.r.timestamp.is_some());
        assert_eq!(a.r.header_len(), 60);
        // The newest island first (RFC 2018 4).
        assert_eq!(a.r.sack[0], (c.rcv + 90, c.rcv + 100));
        // Our data segments leave room for both options: 1000 - 12 - (4 + 3 * 8).
        n.send(c.h, &pattern(3000));
        let v = n.take();
        assert!(v
            .iter()
            .all(|o| o.r.header_len() + o.data.len() <= 20 + 1000));
        assert_eq!(v[0].data.len(), 1000 - 12 - 28);
    }
}

mod pmtud {
    use super::*;

    /// ICMP "fragmentation needed" (type 3 code 4) with next-hop MTU `mtu`, quoting a
    /// full-sized segment of `c` at `seq` (a datagram of 1040 bytes).
    fn frag_needed(n: &mut Net, c: &Conn, seq: Seq, mtu: u32) {
        let mut q = vec![0u8; 8];
        q[0..2].copy_from_slice(&c.local.port().to_be_bytes());
        q[2..4].copy_from_slice(&c.remote.port().to_be_bytes());
        q[4..8].copy_from_slice(&seq.0.to_be_bytes());
        let r = IcmpErrorReport {
            ifindex: 0,
            from: std::net::Ipv4Addr::new(10, 0, 0, 254),
            kind: 3,
            code: 4,
            info: mtu,
            orig_src: *c.local.ip(),
            orig_dst: *c.remote.ip(),
            orig_protocol: 6,
            orig_total_len: 1040,
            orig_payload: &q,
        };
        n.t.icmp_error(&mut n.ip, &r, n.now);
    }

    #[test]
    fn a_genuine_frag_needed_lowers_the_mss_and_resends() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(3000));
        assert!(
            n.ip.sent.iter().all(|s| s.meta.dont_fragment),
            "DF on every segment"
        );
        assert_eq!(lens(&n.take()), vec![1000, 1000, 1000]);
        // A router with a 576-byte next hop quotes our first segment.
        frag_needed(&mut n, &c, c.snd + 1000, 576);
        assert_eq!(n.info(c.h).mss, 536);
        assert_eq!(n.stats().pmtu_updates, 1);
        assert_eq!(n.ip.pmtu, vec![(PEER, 576)], "ip learns the path MTU");
        let v = n.take();
        assert_eq!(lens(&v), vec![536, 536, 536, 536, 536, 320]);
        assert_eq!(v[0].r.seq, c.snd, "resent from SND.UNA");
        // Not a congestion signal: the window is what it was.
        assert_eq!(n.info(c.h).ssthresh, u32::MAX as usize);
        n.ack(&c, c.snd + 3000);
        n.send(c.h, &pattern(600));
        assert_eq!(
            lens(&n.take()),
            vec![536, 64],
            "no short segment in flight: the tail goes too (Minshall's Nagle)"
        );
        // A new connection to the peer starts with the learnt MTU (route_info).
        let c2 = n.active();
        assert_eq!(n.info(c2.h).mss, 536.min(usize::from(PEER_MSS)));
    }

    #[test]
    fn once_ip_forgets_the_path_mtu_segments_grow_back() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(1000));
        n.take();
        frag_needed(&mut n, &c, c.snd, 300);
        assert_eq!(n.info(c.h).mss, 536);
        n.take();
        n.ack(&c, c.snd + 1000);
        // While ip still reports the small MTU, the MSS stays down.
        n.send(c.h, &pattern(1072));
        assert_eq!(lens(&n.take()), vec![536, 536]);
        n.ack(&c, c.snd + 2072);
        // The cache entry expired (RFC 1191 6.3): full-sized segments, with DF, again.
        n.ip.pmtu.clear();
        n.send(c.h, &pattern(2000));
        let v = n.ip.sent.clone();
        assert_eq!(lens(&n.take()), vec![1000, 1000]);
        assert!(v.iter().all(|s| s.meta.dont_fragment));
        assert_eq!(n.info(c.h).mss, 1000);
    }

    #[test]
    fn a_forged_frag_needed_is_ignored_and_counted() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(2000));
        n.take();
        // Quoting data never sent (beyond SND.NXT), then data already acknowledged.
        frag_needed(&mut n, &c, c.snd + 5000, 576);
        frag_needed(&mut n, &c, c.snd - 100, 576);
        assert_eq!(n.info(c.h).mss, 1000);
        assert_eq!(n.stats().pmtu_forged, 2);
        assert_eq!(n.stats().pmtu_updates, 0);
        assert!(n.ip.pmtu.is_empty());
        n.nothing();
    }

    /// A connection already at the 536-byte floor (a 576-byte path MTU learnt) told of a
    /// narrower next hop still: its MSS cannot go lower, so its segments go without DF for
    /// the router to fragment, and what was dropped goes again at once, not after a
    /// retransmission timeout (RFC 1191 6.5; Linux clamps to its min_pmtu of 552, clears DF
    /// and retransmits at once, tcp_simple_retransmit).
    #[test]
    fn at_the_floor_a_narrower_next_hop_clears_df_and_resends_at_once() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(1000));
        n.take();
        frag_needed(&mut n, &c, c.snd, 576);
        assert_eq!(lens(&n.take()), vec![536, 464]);
        // The 576-byte segments with DF meet a 296-byte hop further on.
        frag_needed(&mut n, &c, c.snd, 296);
        assert_eq!(n.info(c.h).mss, 536);
        let v = n.ip.sent.clone();
        let out = n.take();
        assert_eq!(lens(&out), vec![536, 464], "resent at once");
        assert_eq!(out[0].r.seq, c.snd, "from SND.UNA");
        assert!(v.iter().all(|s| !s.meta.dont_fragment), "without DF");
        // Another error about the same flight (DF already off) resends nothing more.
        frag_needed(&mut n, &c, c.snd + 536, 296);
        n.nothing();
    }

    /// A connection opened while `ip` held a lowered path MTU for the peer starts with
    /// segments that fit it (route_info), and, like one that learnt it itself, grows them
    /// once the cache lets the MTU go (RFC 1191 6.3; Linux re-syncs the MSS with the
    /// route's MTU when its exception expires), up to what the peer announced.
    #[test]
    fn a_connection_opened_under_a_learnt_path_mtu_grows_when_it_expires() {
        let mut n = Net::new();
        n.ip.pmtu.push((PEER, 576));
        let c = n.passive();
        assert_eq!(n.info(c.h).mss, 536);
        n.send(c.h, &pattern(1072));
        assert_eq!(lens(&n.take()), vec![536, 536]);
        n.ack(&c, c.snd + 1072);
        // Expired in `ip`.
        n.ip.pmtu.clear();
        n.send(c.h, &pattern(2000));
        let v = n.ip.sent.clone();
        assert_eq!(lens(&n.take()), vec![1000, 1000]);
        assert!(v.iter().all(|s| s.meta.dont_fragment));
        assert_eq!(n.info(c.h).mss, usize::from(PEER_MSS));
    }

    #[test]
    fn below_576_the_mss_stays_536_and_df_goes() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(1000));
        n.take();
        frag_needed(&mut n, &c, c.snd, 300);
        assert_eq!(n.info(c.h).mss, 536);
        assert!(n.ip.sent.iter().all(|s| !s.meta.dont_fragment));
        assert_eq!(lens(&n.take()), vec![536, 464]);
    }

    /// The interface's MTU lowered under a connection (`ifconfig tap0 mtu 700`): the next
    /// segments fit it at once (full-sized ones would be refused on every try), with DF,
    /// and grow back when it is raised. Not a path MTU for `ip` to keep.
    #[test]
    fn a_smaller_interface_mtu_shrinks_the_segments_at_once() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(1000));
        assert_eq!(lens(&n.take()), vec![1000]);
        n.ack(&c, c.snd + 1000);
        n.ip.link_mtu = Some(700);
        n.send(c.h, &pattern(2000));
        let v = n.ip.sent.clone();
        assert_eq!(lens(&n.take()), vec![660, 660, 660, 20]);
        assert!(v.iter().all(|s| s.meta.dont_fragment));
        assert_eq!(n.info(c.h).mss, 660);
        assert_eq!(n.stats().pmtu_updates, 1);
        assert_eq!(n.stats().send_failures, 0);
        assert!(n.ip.pmtu.is_empty());
        n.ack(&c, c.snd + 3000);
        n.ip.link_mtu = Some(1500);
        n.send(c.h, &pattern(2000));
        assert_eq!(lens(&n.take()), vec![1000, 1000]);
        assert_eq!(n.info(c.h).mss, 1000);
    }

    /// Segments sent before the MTU went down and lost: a timeout resends them cut to the
    /// new size (SACK recovery and go-back-N alike), not refused again and again.
    #[test]
    fn after_the_interface_mtu_goes_down_a_timeout_resends_what_fits() {
        for sack in [true, false] {
            let mut n = Net::new();
            let peer = TcpRepr {
                sack_permitted: sack,
                ..syn(PEER_ISS)
            };
            let c = n.passive_with(peer, 65_535).1;
            n.send(c.h, &pattern(2000));
            assert_eq!(lens(&n.take()), vec![1000, 1000]);
            n.ip.link_mtu = Some(700);
            let at = n.t.poll_at().expect("the retransmission timer");
            n.advance_to(at);
            let v = n.take();
            assert_eq!(v[0].r.seq, c.snd, "sack {sack}");
            assert_eq!(v[0].data.len(), 660, "sack {sack}");
            assert_eq!(n.stats().send_failures, 0, "sack {sack}");
        }
    }

    /// Below 576 the segments keep the 536-byte minimum and go without DF, for `ip` to
    /// fragment.
    #[test]
    fn an_interface_mtu_below_576_gets_536_byte_segments_without_df() {
        let mut n = Net::new();
        let c = n.passive();
        n.ip.link_mtu = Some(400);
        n.send(c.h, &pattern(1000));
        let v = n.ip.sent.clone();
        assert_eq!(n.info(c.h).mss, 536);
        assert!(v.iter().all(|s| !s.meta.dont_fragment));
        assert_eq!(lens(&n.take()), vec![536, 464]);
    }

    #[test]
    fn an_old_router_without_mtu_gets_the_next_plateau() {
        let mut n = Net::new();
        let c = n.passive();
        n.send(c.h, &pattern(1000));
        n.take();
        // Our datagrams are 1040 bytes: the plateau below is 1006 (RFC 1191 7.1).
        frag_needed(&mut n, &c, c.snd, 0);
        assert_eq!(n.info(c.h).mss, 966);
        // A larger MTU than we use changes nothing.
        frag_needed(&mut n, &c, c.snd, 1500);
        assert_eq!(n.info(c.h).mss, 966);
        assert_eq!(n.stats().pmtu_updates, 1);
    }
}

mod idle_restart {
    use super::*;

    /// A connection whose congestion window grew past the initial 10 segments.
    fn grown(n: &mut Net) -> Conn {
        let c = n.passive();
        n.send(c.h, &pattern(10_000));
        assert_eq!(n.take().len(), 10);
        for i in 1..=10 {
            n.ack(&c, c.snd + 1000 * i);
        }
        assert_eq!(n.info(c.h).cwnd, 20_000);
        Conn {
            snd: c.snd + 10_000,
            ..c
        }
    }

    #[test]
    fn after_an_idle_rto_cwnd_restarts_at_the_initial_window() {
        let mut n = Net::new();
        let c = grown(&mut n);
        let rto = n.info(c.h).rto;
        n.advance(rto + ms(1));
        n.send(c.h, &pattern(30_000));
        assert_eq!(n.take().len(), 10, "min(IW, cwnd) = 10 segments");
        assert_eq!(n.info(c.h).cwnd, 10_000);
        assert_eq!(n.stats().idle_restarts, 1);
    }

    #[test]
    fn a_pause_shorter_than_the_rto_keeps_the_window() {
        let mut n = Net::new();
        let c = grown(&mut n);
        let rto = n.info(c.h).rto;
        n.advance(rto - ms(1));
        n.send(c.h, &pattern(30_000));
        assert_eq!(n.take().len(), 20);
        assert_eq!(n.stats().idle_restarts, 0);
    }
}
