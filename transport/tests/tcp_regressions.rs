//! Regression tests from an independent review of the TCP code against RFC 9293, 2018,
//! 6675, 5927 and 5681: each failed before its fix.

#![forbid(unsafe_code)]
mod tcp_harness;

use netif::Duration;
use tcp_harness::*;
use transport::tcp::wire::TcpRepr;
use transport::tcp::Seq;
use transport::{TcpConfig, TcpState};

fn sack_syn(seq: Seq, mss: u16) -> TcpRepr {
    TcpRepr {
        mss: Some(mss),
        sack_permitted: true,
        ..seg(SYN, seq, Seq(0), 65_535)
    }
}

fn with_sack(mut r: TcpRepr, blocks: &[(Seq, Seq)]) -> TcpRepr {
    for (i, b) in blocks.iter().enumerate() {
        r.sack[i] = *b;
    }
    r.sack_count = blocks.len() as u8;
    r
}

/// T1: the peer SACKs, then reneges; the scoreboard is never cleared.
#[test]
fn t1_sack_renege_stalls() {
    let mut n = Net::new();
    let c = n.passive_with(sack_syn(PEER_ISS, 1000), 65_535).1;
    let d = pattern(5000);
    n.send(c.h, &d);
    let v = n.take();
    eprintln!(
        "sent {:?}",
        v.iter()
            .map(|o| (o.r.seq, o.data.len()))
            .collect::<Vec<_>>()
    );
    // Segment 1 lost; the peer SACKs 2..5.
    for k in 2..=4 {
        let r = with_sack(
            seg(ACK, c.rcv, c.snd, 65_535),
            &[(c.snd + 1000, c.snd + 1000 * k)],
        );
        n.to(&c, r, &[]);
    }
    let v = n.take();
    eprintln!(
        "after dupacks {:?}",
        v.iter()
            .map(|o| (o.r.seq, o.data.len()))
            .collect::<Vec<_>>()
    );
    // The retransmission arrives; the peer has reneged (dropped its OOO queue): plain ACK.
    n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 65_535), &[]);
    let v = n.take();
    eprintln!(
        "after renege ack {:?}",
        v.iter()
            .map(|o| (o.r.seq, o.data.len()))
            .collect::<Vec<_>>()
    );
    // Run timers for 400 s; collect every data segment sent.
    let end = n.now + Duration::from_secs(400);
    let mut got = Vec::new();
    while let Some(at) = n.t.poll_at() {
        if at > end {
            break;
        }
        n.now = n.now.max(at);
        n.t.poll(&mut n.ip, n.now);
        for o in n.take() {
            got.push((n.now, o.r.seq, o.data.len(), o.r.flags));
            // Peer keeps answering with plain ACK at snd+1000 (it lacks 1000..5000).
            n.to(&c, seg(ACK, c.rcv, c.snd + 1000, 65_535), &[]);
        }
    }
    eprintln!("later {got:?}");
    eprintln!(
        "state {:?} stats {:?}",
        n.t.tcp(c.h).map(|s| s.state()),
        n.stats()
    );
    assert!(
        got.iter().any(|&(_, s, l, _)| s == c.snd + 1000 && l > 0),
        "bytes 1000.. never retransmitted"
    );
}

/// T2: a small segment forced out by the persist timer is lost: RTO never resends it.
#[test]
fn t2_rto_blocked_by_sws() {
    let mut n = Net::new();
    let c = n.passive_with(syn(PEER_ISS), 300).1;
    let d = pattern(1000);
    n.send(c.h, &d);
    n.nothing();
    n.advance(ms(200));
    let o = n.only();
    assert_eq!(o.data.len(), 300);
    // Lost. Run timers for 400 s.
    let end = n.now + Duration::from_secs(400);
    let mut got = Vec::new();
    while let Some(at) = n.t.poll_at() {
        if at > end {
            break;
        }
        n.now = n.now.max(at);
        n.t.poll(&mut n.ip, n.now);
        for o in n.take() {
            got.push((n.now, o.r.seq, o.data.len()));
        }
    }
    eprintln!("later {got:?}");
    eprintln!(
        "state {:?} err {:?}",
        n.t.tcp(c.h).map(|s| s.state()),
        n.t.tcp_connected(c.h)
    );
    assert!(
        !got.is_empty(),
        "the lost 300 bytes are never retransmitted"
    );
}

/// T3: SACK blocks are added on top of a full-MSS segment.
#[test]
fn t3_sack_option_exceeds_mss() {
    let mut n = Net::new();
    let c = n.passive_with(sack_syn(PEER_ISS, 1460), 65_535).1;
    // Out-of-order data from the peer: our ACKs now carry a SACK block.
    n.data(&c, c.rcv + 100, b"0123456789");
    let a = n.only();
    assert_eq!(a.r.sack_count, 1);
    n.send(c.h, &pattern(3000));
    let v = n.take();
    for o in &v {
        let tcp_len = o.r.header_len() + o.data.len();
        eprintln!(
            "seg tcp_len {} hdr {} data {} ip {}",
            tcp_len,
            o.r.header_len(),
            o.data.len(),
            tcp_len + 20
        );
    }
    assert!(
        v.iter()
            .all(|o| o.r.header_len() + o.data.len() + 20 <= 1500),
        "IP datagram larger than the 1500 MTU"
    );
}

/// T5: FIN into a zero window with a live peer: connection times out.
#[test]
fn t5_fin_zero_window_timeout() {
    let mut n = Net::with_cfg(TcpConfig {
        ..TcpConfig::default()
    });
    let c = n.passive();
    n.send(c.h, b"hello");
    n.take();
    n.to(&c, seg(ACK, c.rcv, c.snd + 5, 0), &[]);
    n.shutdown_write(c.h);
    let v = n.take();
    eprintln!("after shutdown {:?}", v);
    let end = n.now + Duration::from_secs(400);
    let mut cnt = 0;
    while let Some(at) = n.t.poll_at() {
        if at > end {
            break;
        }
        n.now = n.now.max(at);
        n.t.poll(&mut n.ip, n.now);
        for _o in n.take() {
            cnt += 1;
            // A live peer with a zero window answers each.
            n.to(&c, seg(ACK, c.rcv, c.snd + 5, 0), &[]);
        }
    }
    eprintln!(
        "sent {cnt}, state {:?} connected {:?}",
        n.t.tcp(c.h).map(|s| s.state()),
        n.t.tcp_connected(c.h)
    );
    assert_ne!(
        n.t.tcp(c.h).map(|s| s.state()).unwrap(),
        TcpState::Closed,
        "live peer, connection killed"
    );
}

/// T6: a blind ICMP "fragmentation needed" with a wrong sequence number shrinks the MSS;
/// a blind "port unreachable" kills a connection attempt.
#[test]
fn t6_icmp_not_validated() {
    use ip::{IcmpErrorReport, Upper};
    let mut n = Net::new();
    let c = n.passive();
    // Quoted header: our ports, a sequence number nowhere near SND.UNA..SND.NXT.
    let mut q = vec![0u8; 8];
    q[0..2].copy_from_slice(&c.local.port().to_be_bytes());
    q[2..4].copy_from_slice(&c.remote.port().to_be_bytes());
    q[4..8].copy_from_slice(&(c.snd.0.wrapping_add(0x8000_0000)).to_be_bytes());
    let r = IcmpErrorReport {
        ifindex: 0,
        from: PEER,
        kind: 3,
        code: 4,
        info: 68,
        orig_src: *c.local.ip(),
        orig_dst: *c.remote.ip(),
        orig_protocol: 6,
        orig_total_len: 1040,
        orig_payload: &q,
    };
    n.t.icmp_error(&mut n.ip, &r, n.now);
    eprintln!("mss after forged frag-needed: {}", n.info(c.h).mss);
    n.send(c.h, &pattern(1000));
    let v = n.take();
    eprintln!(
        "lens {:?}",
        v.iter().map(|o| o.data.len()).collect::<Vec<_>>()
    );
    assert_eq!(n.info(c.h).mss, 1000, "MSS cut by an unvalidated ICMP");
}

/// T7: the FIN's transmission fails (queue full) with nothing else outstanding: never retried.
#[test]
fn t7_failed_fin_never_retried() {
    let mut n = Net::new();
    let c = n.passive();
    n.send(c.h, b"hello");
    n.take();
    n.ack(&c, c.snd + 5);
    n.ip.fail = true;
    n.close(c.h);
    n.ip.fail = false;
    n.nothing();
    eprintln!("state {:?} poll_at {:?}", n.state(c.h), n.t.poll_at());
    n.advance(Duration::from_secs(3600));
    let v = n.take();
    eprintln!(
        "after an hour: {v:?}, state {:?}",
        n.t.tcp(c.h).map(|s| s.state())
    );
    assert!(
        !v.is_empty(),
        "FIN never retransmitted; orphan stays in FIN-WAIT-1 for ever"
    );
}

/// T8: during a SACK timeout recovery, new data sent after the holes is taken as lost
/// (lost_limit = SND.MAX, which grows) and sent again.
#[test]
fn t8_rto_recovery_resends_new_data() {
    let mut n = Net::new();
    let c = n.passive_with(sack_syn(PEER_ISS, 1000), 65_535).1;
    n.send(c.h, &pattern(10_000));
    let v = n.take();
    assert_eq!(v.len(), 10);
    // Everything lost: RTO.
    let (_, v) = n.next_sent(Duration::from_secs(5));
    eprintln!(
        "rto {:?}",
        v.iter()
            .map(|o| (o.r.seq.0.wrapping_sub(c.snd.0), o.data.len()))
            .collect::<Vec<_>>()
    );
    n.send(c.h, &pattern(20_000));
    let mut log: Vec<(u32, usize)> = Vec::new();
    let mut acked = 1000u32;
    for _ in 0..20 {
        n.to(&c, seg(ACK, c.rcv, c.snd + acked as usize, 65_535), &[]);
        let v = n.take();
        for o in &v {
            log.push((o.r.seq.0.wrapping_sub(c.snd.0), o.data.len()));
        }
        // The peer gets everything we send, in order; acks the first outstanding segment.
        acked += 1000;
    }
    eprintln!("sent: {log:?}");
    let mut seen = std::collections::HashMap::new();
    for (s, _) in &log {
        *seen.entry(*s).or_insert(0) += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, &k)| k > 1).collect();
    eprintln!("dups {dups:?} info {:?}", n.info(c.h));
    assert!(dups.is_empty(), "segments sent twice during recovery");
}

/// T10: ACK every second full-sized segment, where full-sized is the peer's segment size.
#[test]
fn t10_ack_every_second_segment() {
    let mut n = Net::new();
    let c = n.passive(); // peer MSS 1000; it sends 1000-byte segments
    n.data(&c, c.rcv, &pattern(1000));
    n.nothing();
    n.data(&c, c.rcv + 1000, &pattern(1000));
    let v = n.take();
    eprintln!("after two full segments: {} ACKs", v.len());
    n.data(&c, c.rcv + 2000, &pattern(1000));
    let v2 = n.take();
    eprintln!("after three: {} ACKs", v2.len());
    assert_eq!(v.len(), 1, "no ACK after two full-sized segments");
}

/// T11: two SO_REUSEADDR sockets can both listen on the same address and port.
#[test]
fn t11_two_listeners_same_port() {
    let mut n = Net::new();
    let mk = |n: &mut Net| {
        let h = n.t.tcp_open().unwrap();
        n.t.tcp(h).unwrap().reuse_addr = true;
        n.t.tcp_bind(h, sa(US, LPORT), &n.ip).map(|_| h)
    };
    let a = mk(&mut n).unwrap();
    let b = mk(&mut n);
    eprintln!("second bind: {:?}", b.as_ref().map(|_| ()));
    n.t.tcp_listen(a, 16, &n.ip).unwrap();
    if let Ok(b) = b {
        let r = n.t.tcp_listen(b, 16, &n.ip);
        eprintln!("second listen: {r:?}");
        assert!(r.is_err(), "both listen");
    }
}

/// Found by the whole-stack fuzz target (`tests/src/fuzz`): with window scaling each ACK
/// rounds the window up to the scale's unit and the right edge never moves left, so a peer
/// trickling single bytes into a buffer nobody reads moved the edge on by up to a unit per
/// ACK, the window never closed (RFC 7323 Appendix F), and the receive queue grew past
/// SO_RCVBUF without bound.
#[test]
fn trickled_bytes_never_grow_the_receive_queue_past_the_buffer() {
    let rcvbuf = 70_000; // a window scale of 1 (the buffer fixed: no autotuning)
    let mut n = Net::with_cfg(TcpConfig {
        rcvbuf,
        rcvbuf_max: rcvbuf,
        tail_loss_probe: false,
        ..TcpConfig::default()
    });
    let r = TcpRepr {
        wscale: Some(0),
        ..syn(PEER_ISS)
    };
    let c = n.passive_with(r, 65_535).1;
    let mut seq = c.rcv;
    for _ in 0..rcvbuf + 10_000 {
        n.to(&c, seg(ACK | PSH, seq, c.snd, 65_535), b"x");
        n.advance(ms(40));
        let Some(a) = n.take().pop() else { continue };
        // The peer sends only while the window is open, from what we acknowledged.
        if a.r.window == 0 {
            break;
        }
        seq = a.r.ack;
    }
    let (_, _, p) = n.t.tcp_probe().conns[0];
    assert!(
        p.rcvq + p.ooo_bytes <= rcvbuf + 1,
        "{} bytes held for a {rcvbuf}-byte buffer: {p:?}",
        p.rcvq + p.ooo_bytes
    );
}

/// Found measuring plain-frame receive against the kernel: with window scaling, while the
/// application did not read, each ACK rounded the window up past what the buffer could
/// take, the kernel sent into that edge, and the stack cut those segments (`window_drops`),
/// which the kernel took for losses. A peer that sends exactly up to each announced edge,
/// in segments that are not multiples of the unit, must have every byte taken until the
/// window closes.
#[test]
fn a_peer_filling_each_announced_window_loses_nothing() {
    let rcvbuf = 300_000; // a window scale of 3: units of 8 bytes (fixed: no autotuning)
    let mut n = Net::with_cfg(TcpConfig {
        rcvbuf,
        rcvbuf_max: rcvbuf,
        tail_loss_probe: false,
        ..TcpConfig::default()
    });
    let r = TcpRepr {
        wscale: Some(0),
        ..syn(PEER_ISS)
    };
    let c = n.passive_with(r, 65_535).1;
    let mut seq = c.rcv;
    let mut edge = c.rcv + 65_535;
    let mut sent = Vec::new();
    for i in 0..2000 {
        let len = 1001.min(edge.since(seq));
        if len == 0 {
            break;
        }
        let d: Vec<u8> = (0..len).map(|k| ((sent.len() + k) % 251) as u8).collect();
        n.to(&c, seg(ACK | PSH, seq, c.snd, 65_535), &d);
        seq = seq + len;
        sent.extend_from_slice(&d);
        n.advance(ms(40));
        for a in n.take() {
            assert_eq!(a.r.ack, seq, "segment {i} was cut");
            // The most recent ACK's window is the sender's limit (RFC 7323 2.4 rule 3).
            edge = a.r.ack + (usize::from(a.r.window) << 3);
        }
    }
    assert_eq!(edge, seq, "the window closed");
    assert_eq!(n.stats().window_drops, 0);
    assert!(sent.len() <= rcvbuf + 7, "{} bytes taken", sent.len());
    assert!(sent.len() > rcvbuf - 1001, "{} bytes taken", sent.len());
    assert_eq!(n.recv_n(c.h, sent.len()), sent);
}
