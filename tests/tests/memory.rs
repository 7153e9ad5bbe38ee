//! Two (or three) stacks in one process, joined by in-memory links: ping through raw
//! sockets, fragmentation and reassembly, a lossy and corrupting link, forwarding, host
//! unreachable, and the raw socket API itself. No root, no TAP.

#![forbid(unsafe_code)]

use netif::{FaultConfig, FaultInjector};
use socket_api::{RawSocket, StackConfig};
use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tests::eventually;
use tests::pair::{
    echo_request, link, mac, pattern, ping, recv_until, Host, Pair, Received, A_IP, B_IP,
    MAX_ECHO_DATA,
};

/// How long a reply may take on a clean link (generous: tests run in parallel, unoptimised).
const WAIT: Duration = Duration::from_secs(5);

/// ICMP fragment count of an echo with `data` bytes at `mtu`.
fn fragments(data: usize, mtu: usize) -> u64 {
    let payload = 8 + data;
    if payload + 20 <= mtu {
        return 0;
    }
    let chunk = (mtu - 20) & !7;
    payload.div_ceil(chunk) as u64
}

#[test]
fn two_stacks_ping_each_other_and_resolve_arp() {
    let p = Pair::new(1500);
    let mut sa = p.a.raw_icmp();
    for seq in 1..=3u16 {
        let data = pattern(56, u32::from(seq));
        let r = ping(&mut sa, B_IP, 0x1a1a, seq, &data, WAIT)
            .unwrap_or_else(|| panic!("A -> B seq {seq}: no reply"));
        assert_eq!(
            (r.from, r.to, r.ident, r.seq, r.ttl),
            (B_IP, A_IP, 0x1a1a, seq, 64)
        );
        assert_eq!(r.data, data, "A -> B seq {seq}: data changed");
    }

    let mut sb = p.b.raw_icmp();
    for seq in 1..=3u16 {
        let data = pattern(56, 100 + u32::from(seq));
        let r = ping(&mut sb, A_IP, 0x2b2b, seq, &data, WAIT)
            .unwrap_or_else(|| panic!("B -> A seq {seq}: no reply"));
        assert_eq!(
            (r.from, r.to, r.ident, r.seq, r.ttl),
            (A_IP, B_IP, 0x2b2b, seq, 64)
        );
        assert_eq!(r.data, data, "B -> A seq {seq}: data changed");
    }

    // Each side learned the other's MAC (A from B's reply, B from A's request).
    assert_eq!(p.a.neighbour(B_IP), Some(mac(2)));
    assert_eq!(p.b.neighbour(A_IP), Some(mac(1)));

    let (ia, ib) = (p.a.icmp_stats(), p.b.icmp_stats());
    assert_eq!((ia.rx_echo_replies, ia.rx_echo_requests), (3, 3), "{ia:?}");
    assert_eq!((ib.rx_echo_replies, ib.rx_echo_requests), (3, 3), "{ib:?}");
    assert_eq!((ia.tx_echo_replies, ib.tx_echo_replies), (3, 3));
    assert_eq!(ia.drop_bad_checksum + ib.drop_bad_checksum, 0);

    // A pinging itself goes through its loopback, by its own address and by 127.0.0.1.
    for (seq, dst) in [(10, A_IP), (11, Ipv4Addr::LOCALHOST)] {
        let data = pattern(56, seq.into());
        let r = ping(&mut sa, dst, 0x1a1a, seq, &data, WAIT)
            .unwrap_or_else(|| panic!("A -> {dst}: no reply"));
        assert_eq!((r.from, r.to, r.data), (dst, dst, data));
    }
}

/// Pings of 6,000, 65,000 and 65,507 data bytes both ways on a link of `mtu`.
fn large_pings_both_ways(mtu: usize) {
    let p = Pair::new(mtu);
    let (mut sa, mut sb) = (p.a.raw_icmp(), p.b.raw_icmp());
    // Resolve each other first, with small pings.
    assert!(ping(&mut sa, B_IP, 1, 1, b"warm up", WAIT).is_some());
    assert!(ping(&mut sb, A_IP, 2, 1, b"warm up", WAIT).is_some());

    let sizes = [6000, 65_000, MAX_ECHO_DATA];
    for (i, size) in sizes.into_iter().enumerate() {
        let seq = 2 + i as u16;
        let data = pattern(size, seq.into());
        let r = ping(&mut sa, B_IP, 1, seq, &data, WAIT)
            .unwrap_or_else(|| panic!("MTU {mtu}: A -> B {size} bytes: no reply"));
        assert_eq!((r.from, r.data.len()), (B_IP, size));
        assert!(
            r.data == data,
            "MTU {mtu}: A -> B {size} bytes: data changed"
        );

        let data = pattern(size, 1000 + u32::from(seq));
        let r = ping(&mut sb, A_IP, 2, seq, &data, WAIT)
            .unwrap_or_else(|| panic!("MTU {mtu}: B -> A {size} bytes: no reply"));
        assert_eq!((r.from, r.data.len()), (A_IP, size));
        assert!(
            r.data == data,
            "MTU {mtu}: B -> A {size} bytes: data changed"
        );
    }

    // Each side sent its requests and replies in fragments and reassembled the other's: on a
    // clean link, exactly the fragments the MTU calls for, none left pending.
    let per_side: u64 = sizes.iter().map(|&s| fragments(s, mtu)).sum();
    for (name, h) in [("A", &p.a), ("B", &p.b)] {
        let ip = h.ip_stats();
        assert_eq!(ip.tx_fragments, 2 * per_side, "MTU {mtu}: {name} {ip:?}");
        assert_eq!(ip.rx_fragments, 2 * per_side, "MTU {mtu}: {name} {ip:?}");
        assert_eq!(ip.reassembled, 2 * sizes.len() as u64, "MTU {mtu}: {name}");
        let rs = h.reassembly_stats();
        assert_eq!(rs.fragments, 2 * per_side, "MTU {mtu}: {name} {rs:?}");
        assert_eq!(rs.completed, 2 * sizes.len() as u64, "MTU {mtu}: {name}");
        assert_eq!(h.reassembly_usage(), (0, 0), "MTU {mtu}: {name}");
        for (dev, s) in h.stack.device_stats() {
            assert_eq!(s.tx_dropped(), 0, "MTU {mtu}: {name} {dev} {s:?}");
            assert_eq!(
                (s.rx_errors, s.tx_errors),
                (0, 0),
                "MTU {mtu}: {name} {dev}"
            );
        }
    }
}

#[test]
fn large_pings_are_fragmented_and_reassembled_at_mtu_1500() {
    large_pings_both_ways(1500);
}

#[test]
fn large_pings_are_fragmented_and_reassembled_at_mtu_576() {
    large_pings_both_ways(576);
}

/// What one seed's run over a faulty link came to.
struct FaultRun {
    seed: u64,
    small_received: usize,
    frag_received: usize,
    corrupted: u64,
    integrity_drops: u64,
    reassembly_timeouts: u64,
}

const SMALL_PINGS: u16 = 200;
const FRAG_PINGS: u16 = 20;
const FRAG_SIZE: usize = 6000;

/// A pings B over a link whose both ends drop, duplicate, reorder, delay and corrupt
/// frames: 200 small pings, then 20 of 6,000 bytes (5 fragments each way), one attempt
/// each. Checks what must hold for any seed and returns the counts.
fn run_with_faults(seed: u64) -> FaultRun {
    let faults = FaultConfig {
        seed,
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.05,
        delay: Duration::from_millis(1),
        delay_jitter: Duration::from_millis(1),
        corrupt: 0.02,
        ..FaultConfig::default()
    };
    let (la, lb) = link(("eth-a", mac(1)), ("eth-b", mac(2)), 1500);
    // The injectors start transparent: ARP has no checksum, so one corrupted reply could
    // poison a cache for its whole lifetime (60 s). ARP is resolved on a clean link, then
    // the faults are switched on for the IP traffic under test.
    let fa = Arc::new(FaultInjector::new(la, FaultConfig::default()));
    let fb = Arc::new(FaultInjector::new(lb, FaultConfig::default()));
    let mut cfg = StackConfig::default();
    // Datagrams that lost a fragment must be given up on within the test's time.
    cfg.ip.reassembly.timeout = Duration::from_secs(1);
    let p = Pair::with_devices(cfg, fa.clone(), fb.clone());
    let mut sa = p.a.raw_icmp();
    let ident = 0x4000 | (seed as u16 & 0x0fff);
    assert!(
        ping(&mut sa, B_IP, ident, 0, b"warm up", WAIT).is_some(),
        "seed {seed}: no reply on the clean link"
    );
    assert_eq!(p.b.neighbour(A_IP), Some(mac(1)));
    fa.set_config(faults.clone());
    fb.set_config(FaultConfig {
        seed: seed ^ 0x9e37_79b9_7f4a_7c15,
        ..faults
    });

    // Every reply must be one we asked for, intact; a damaged one means a corrupted frame
    // got past the checksums.
    let mut bad: Vec<String> = Vec::new();
    let expected = |seq: u16| {
        let size = if seq > SMALL_PINGS { FRAG_SIZE } else { 56 };
        pattern(size, u32::from(seq) ^ (seed as u32))
    };
    let mut got: HashSet<u16> = HashSet::new();
    let mut sent: u16 = 0;
    let take = |r: Received, sent: u16, got: &mut HashSet<u16>, bad: &mut Vec<String>| {
        match r {
            Received::Reply(r) if r.ident == ident && (1..=sent).contains(&r.seq) => {
                if r.from != B_IP || r.data != expected(r.seq) {
                    bad.push(format!(
                        "seq {} from {}: {} bytes, not what was sent",
                        r.seq,
                        r.from,
                        r.data.len()
                    ));
                } else {
                    got.insert(r.seq);
                }
            }
            Received::Reply(r) => bad.push(format!("unexpected reply {r:?}")),
            Received::Bad(why) => bad.push(why),
            // Time exceeded (reassembly) from B about a request it could not complete.
            Received::Error { .. } | Received::Request { .. } | Received::Other => {}
        }
    };

    // Phase 1: small pings, waiting briefly for each; late replies still count.
    for seq in 1..=SMALL_PINGS {
        sa.send_to(&echo_request(ident, seq, &expected(seq)), B_IP)
            .expect("send_to");
        sent = seq;
        recv_until(&mut sa, Duration::from_millis(30), |r| {
            let done = matches!(&r, Received::Reply(x) if x.ident == ident && x.seq == seq);
            take(r, sent, &mut got, &mut bad);
            done.then_some(())
        });
    }
    recv_until(&mut sa, Duration::from_millis(300), |r| {
        take(r, sent, &mut got, &mut bad);
        None::<()>
    });
    let small_received = got.len();

    // Every corrupted frame reached its stack and failed a check there: at least one drop
    // each, at most two (a corrupted frame may also be duplicated). Nothing else fails.
    let settled = || {
        fa.held() == 0
            && fb.held() == 0
            && p.a.integrity_drops() >= fa.stats().corrupted
            && p.b.integrity_drops() >= fb.stats().corrupted
    };
    assert!(
        eventually(WAIT, settled),
        "seed {seed}: corrupted frames not all dropped: A {} of {:?}, B {} of {:?}",
        p.a.integrity_drops(),
        fa.stats(),
        p.b.integrity_drops(),
        fb.stats()
    );
    let corrupted = fa.stats().corrupted + fb.stats().corrupted;
    let integrity_drops = p.a.integrity_drops() + p.b.integrity_drops();
    assert!(
        integrity_drops <= 2 * corrupted,
        "seed {seed}: {integrity_drops} integrity drops for {corrupted} corrupted frames"
    );

    // Phase 2: fragmented pings. A datagram with a lost fragment stays pending until its
    // reassembly timer runs out.
    got.clear();
    for seq in SMALL_PINGS + 1..=SMALL_PINGS + FRAG_PINGS {
        sa.send_to(&echo_request(ident, seq, &expected(seq)), B_IP)
            .expect("send_to");
        sent = seq;
        recv_until(&mut sa, Duration::from_millis(150), |r| {
            let done = matches!(&r, Received::Reply(x) if x.ident == ident && x.seq == seq);
            take(r, sent, &mut got, &mut bad);
            done.then_some(())
        });
    }
    recv_until(&mut sa, Duration::from_millis(300), |r| {
        take(r, sent, &mut got, &mut bad);
        None::<()>
    });
    let frag_received = got.len();
    assert!(bad.is_empty(), "seed {seed}: damaged deliveries: {bad:?}");

    // Reassembly state is bounded while the run lasts and drains once its timers run out.
    for (name, h) in [("A", &p.a), ("B", &p.b)] {
        let (pending, bytes) = h.reassembly_usage();
        assert!(
            pending <= usize::from(FRAG_PINGS) && bytes <= usize::from(FRAG_PINGS) * FRAG_SIZE,
            "seed {seed}: {name} holds {pending} datagrams, {bytes} bytes"
        );
    }
    assert!(
        eventually(WAIT, || p.a.reassembly_usage() == (0, 0)
            && p.b.reassembly_usage() == (0, 0)),
        "seed {seed}: reassembly never drained: A {:?}, B {:?}",
        p.a.reassembly_usage(),
        p.b.reassembly_usage()
    );
    let mut reassembly_timeouts = 0;
    for (name, h) in [("A", &p.a), ("B", &p.b)] {
        let rs = h.reassembly_stats();
        // Corrupted fragments are either caught by the header checksum or complete into a
        // datagram the ICMP checksum rejects; none may look like an overlap or a bad length.
        assert_eq!(
            (rs.overlap, rs.inconsistent_end, rs.bad_length, rs.too_big),
            (0, 0, 0, 0),
            "seed {seed}: {name} {rs:?}"
        );
        assert_eq!(
            (rs.memory_limit, rs.too_many_datagrams),
            (0, 0),
            "seed {seed}: {name} {rs:?}"
        );
        reassembly_timeouts += rs.timeouts;
    }
    for (name, h) in [("A", &p.a), ("B", &p.b)] {
        for (dev, s) in h.stack.device_stats() {
            assert_eq!(s.rx_dropped_queue_full, 0, "seed {seed}: {name} {dev}");
        }
    }
    FaultRun {
        seed,
        small_received,
        frag_received,
        corrupted,
        integrity_drops,
        reassembly_timeouts,
    }
}

#[test]
fn pings_survive_loss_duplication_reordering_and_corruption() {
    let seeds = [1u64, 7, 42, 0xdead_beef];
    let runs: Vec<FaultRun> = std::thread::scope(|s| {
        let handles: Vec<_> = seeds
            .iter()
            .map(|&seed| s.spawn(move || run_with_faults(seed)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for r in &runs {
        eprintln!(
            "seed {}: {}/{SMALL_PINGS} small, {}/{FRAG_PINGS} fragmented, {} corrupted, \
             {} integrity drops, {} reassembly timeouts",
            r.seed,
            r.small_received,
            r.frag_received,
            r.corrupted,
            r.integrity_drops,
            r.reassembly_timeouts
        );
        // About 78% expected: 10% loss and 2% corruption in each direction.
        assert!(
            r.small_received * 100 >= usize::from(SMALL_PINGS) * 60,
            "seed {}: only {} of {SMALL_PINGS} small pings answered",
            r.seed,
            r.small_received
        );
        assert!(
            r.small_received < usize::from(SMALL_PINGS),
            "seed {}: no loss at all; were the faults on?",
            r.seed
        );
        // With 5 fragments each way, about 3 in 4 fragmented pings lose a fragment.
        assert!(
            r.reassembly_timeouts > 0,
            "seed {}: no reassembly ever timed out",
            r.seed
        );
    }
    // About 28% of fragmented pings complete; over all seeds some surely do.
    let frag: usize = runs.iter().map(|r| r.frag_received).sum();
    assert!(
        frag >= 4,
        "only {frag} fragmented pings answered over all seeds"
    );
    let corrupted: u64 = runs.iter().map(|r| r.corrupted).sum();
    let drops: u64 = runs.iter().map(|r| r.integrity_drops).sum();
    assert!(
        corrupted > 0 && drops > 0,
        "{corrupted} corrupted, {drops} dropped"
    );
}

#[test]
fn a_router_stack_forwards_and_reports_ttl_exceeded() {
    const R_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
    const R_B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 254);
    const B1: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
    let (a_end, ra_end) = link(("eth-a", mac(1)), ("r-a", mac(0xfe)), 1500);
    let (rb_end, b_end) = link(("r-b", mac(0xfd)), ("eth-b", mac(2)), 1500);
    let a = Host::default();
    a.attach(Arc::new(a_end), "10.0.0.1/24");
    a.default_route(R_A);
    let mut router = socket_api::StackConfig::default();
    router.ip.forwarding = true;
    let r = Host::new(router);
    r.attach(Arc::new(ra_end), "10.0.0.254/24");
    r.attach(Arc::new(rb_end), "10.0.1.254/24");
    let b = Host::default();
    b.attach(Arc::new(b_end), "10.0.1.1/24");
    b.default_route(R_B);

    let (mut sa, mut sb) = (a.raw_icmp(), b.raw_icmp());
    let data = pattern(56, 5);
    let rep = ping(&mut sa, B1, 0x3c3c, 1, &data, WAIT).expect("A -> B through R: no reply");
    assert_eq!((rep.from, rep.ttl, rep.data), (B1, 63, data));
    let data = pattern(56, 6);
    let rep = ping(&mut sb, A_IP, 0x4d4d, 1, &data, WAIT).expect("B -> A through R: no reply");
    assert_eq!((rep.from, rep.ttl, rep.data), (A_IP, 63, data));
    // Fragments are forwarded too.
    let data = pattern(6000, 7);
    let rep = ping(&mut sa, B1, 0x3c3c, 2, &data, WAIT).expect("6000 bytes through R");
    assert_eq!((rep.from, rep.ttl), (B1, 63));
    assert!(rep.data == data, "6000 bytes through R: data changed");
    // The router answers for its far address too.
    let rep = ping(&mut sa, R_B, 0x3c3c, 3, b"router", WAIT).expect("A -> R's far side");
    assert_eq!((rep.from, rep.ttl), (R_B, 64));
    assert_eq!(r.neighbour(A_IP), Some(mac(1)));
    assert_eq!(r.neighbour(B1), Some(mac(2)));

    // TTL 1 dies at the router, which says so from the address A reached it by.
    sa.set_ttl(1).expect("set_ttl");
    sa.send_to(&echo_request(0x3c3c, 4, b"ttl one"), B1)
        .expect("send_to");
    let err = recv_until(&mut sa, WAIT, |m| match m {
        Received::Error { ident, seq, .. } if ident == 0x3c3c && seq == 4 => Some(m),
        Received::Bad(why) => panic!("bad datagram: {why}"),
        _ => None,
    })
    .expect("no time exceeded for TTL 1");
    assert_eq!(
        err,
        Received::Error {
            from: R_A,
            kind: ip::icmp::kind::TIME_EXCEEDED,
            code: ip::icmp::exceeded::TTL,
            orig_src: A_IP,
            orig_dst: B1,
            ident: 0x3c3c,
            seq: 4,
        }
    );
    assert_eq!(r.ip_stats().drop_ttl_expired, 1);
    assert_eq!(r.icmp_stats().tx_time_exceeded, 1);

    // TTL 2 is enough for one router.
    sa.set_ttl(2).expect("set_ttl");
    let rep = ping(&mut sa, B1, 0x3c3c, 5, b"ttl two", WAIT).expect("TTL 2: no reply");
    assert_eq!((rep.from, rep.ttl), (B1, 63));
    assert_eq!(r.icmp_stats().tx_redirects, 0);
}

#[test]
fn pinging_an_absent_host_reports_host_unreachable() {
    const ABSENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);
    let p = Pair::new(1500);
    let mut sa = p.a.raw_icmp();
    let start = Instant::now();
    // Two requests wait for the same resolution; both are reported.
    for seq in [1, 2] {
        sa.send_to(&echo_request(0x5e5e, seq, &pattern(56, seq.into())), ABSENT)
            .expect("send_to queues behind ARP");
    }
    let mut reported = Vec::new();
    recv_until(&mut sa, Duration::from_secs(10), |m| {
        match m {
            Received::Error { ident: 0x5e5e, .. } => reported.push(m),
            Received::Bad(why) => panic!("bad datagram: {why}"),
            _ => {}
        }
        (reported.len() == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("no host unreachable within 10 s: {reported:?}"));
    let took = start.elapsed();
    for (seq, m) in [1, 2].into_iter().zip(&reported) {
        assert_eq!(
            *m,
            Received::Error {
                from: A_IP,
                kind: ip::icmp::kind::DEST_UNREACHABLE,
                code: ip::icmp::unreach::HOST,
                orig_src: A_IP,
                orig_dst: ABSENT,
                ident: 0x5e5e,
                seq,
            }
        );
    }
    // ARP asked a few times (1 s apart) before giving up.
    assert!(
        took >= Duration::from_secs(2) && took <= Duration::from_secs(8),
        "host unreachable after {took:?}"
    );
    assert_eq!(p.a.ip_stats().drop_arp_failed, 2);
    assert!(!p.a.has_neighbour_entry(ABSENT), "failed entry kept");
    // The link and B are fine.
    assert!(ping(&mut sa, B_IP, 0x5e5e, 3, b"still there", WAIT).is_some());
}

#[test]
fn raw_sockets_copy_time_out_block_and_close() {
    let p = Pair::new(1500);
    let (mut s1, mut s2) = (p.a.raw_icmp(), p.a.raw_icmp());
    assert_eq!(p.a.socket_count(), 2);

    // Both sockets get a copy of the reply.
    let data = pattern(56, 9);
    let r1 = ping(&mut s1, B_IP, 0x6f6f, 1, &data, WAIT).expect("no reply on socket 1");
    let r2 = recv_until(&mut s2, WAIT, |m| match m {
        Received::Reply(r) if r.ident == 0x6f6f && r.seq == 1 => Some(r),
        _ => None,
    })
    .expect("no copy of the reply on socket 2");
    assert_eq!(r1, r2);
    assert_eq!(r1.data, data);

    // A read timeout ends a read with nothing to read; zero is not a timeout.
    let mut buf = vec![0u8; 2048];
    s1.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("set timeout");
    let t0 = Instant::now();
    let e = s1.recv_from(&mut buf).expect_err("nothing to read");
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    assert!(t0.elapsed() >= Duration::from_millis(50));
    let e = s1
        .set_read_timeout(Some(Duration::ZERO))
        .expect_err("zero timeout");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);

    // Non-blocking: WouldBlock when empty, the datagram once there is one.
    s2.set_nonblocking(true);
    let e = s2.recv_from(&mut buf).expect_err("nothing queued");
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    s1.send_to(&echo_request(0x6f6f, 2, &data), B_IP)
        .expect("send_to");
    let mut got = None;
    assert!(eventually(WAIT, || {
        match s2.recv_from(&mut buf) {
            Ok((n, from)) => got = Some((n, from)),
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}"),
        }
        got.is_some()
    }));
    // A short buffer truncates, as on BSD sockets.
    let (n, from) = got.expect("the reply");
    assert_eq!((n, from), (20 + 8 + 56, B_IP));
    let mut short = [0u8; 10];
    s1.set_read_timeout(Some(WAIT)).expect("set timeout");
    let (n, _) = s1
        .recv_from(&mut short)
        .expect("the same reply on socket 1");
    assert_eq!(
        (n, short[0], short[9]),
        (10, 0x45, ip::ipv4::protocol::ICMP)
    );

    // Closing returns the sockets to the stack.
    drop(s1);
    s2.close();
    assert_eq!(p.a.socket_count(), 0);

    // Shutdown wakes a read blocked without timeout, and later calls fail at once.
    let s3 = p.a.raw_icmp();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let r = s3.recv_from(&mut buf).map(|(n, _)| n).map_err(|e| e.kind());
        let _ = tx.send(r);
        s3
    });
    // Give the reader time to block (its result does not depend on it).
    std::thread::sleep(Duration::from_millis(100));
    p.a.stack.shutdown();
    let r = rx
        .recv_timeout(WAIT)
        .expect("recv_from still blocked after shutdown");
    assert_eq!(r, Err(ErrorKind::BrokenPipe));
    let mut s3 = reader.join().expect("reader thread");
    let e = s3
        .send_to(&echo_request(0x6f6f, 3, b"late"), B_IP)
        .expect_err("send after shutdown");
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    s3.set_read_timeout(Some(WAIT)).expect("set timeout");
    let t0 = Instant::now();
    assert!(s3.recv_from(&mut buf).is_err());
    assert!(t0.elapsed() < WAIT, "a read after shutdown waited");
    assert!(RawSocket::new(&p.a.stack, 1).is_err());
    drop(s3);
    assert_eq!(p.a.socket_count(), 0);
    // The other stack is unaffected.
    let mut sb = p.b.raw_icmp();
    assert!(ping(&mut sb, B_IP, 7, 1, b"self", WAIT).is_some());
}

/// Raw sockets as Linux has them: `IP_HDRINCL` sends the header the application wrote
/// (the stack fills in the total length, the checksum, a zero source and Identification;
/// TTL and options stay as written), `connect` fixes where `send` goes and whom the socket
/// hears, `peek_from` leaves the datagram queued, and `IPPROTO_RAW` (255) only sends,
/// always with its header.
#[test]
fn raw_sockets_send_their_own_headers_connect_and_peek() {
    use socket_api::{SockOpt, SockOptName};
    let p = Pair::new(1500);
    let on_b = p.b.raw_icmp();
    let mut hears_all = p.a.raw_icmp();
    let hdr = p.a.raw_icmp();
    hdr.set_header_included(true).expect("IP_HDRINCL");
    assert_eq!(
        hdr.socket()
            .get_option(SockOptName::HeaderIncluded)
            .unwrap(),
        SockOpt::HeaderIncluded(true)
    );
    // An echo request with a header of 24 bytes (four NOP options): total length,
    // Identification, source and checksum left zero or wrong, TTL 7.
    let icmp = echo_request(0x4444, 1, &pattern(40, 3));
    let mut d = vec![0x46, 0, 0, 0, 0, 0, 0, 0, 7, 1, 0xde, 0xad];
    d.extend_from_slice(&[0, 0, 0, 0]);
    d.extend_from_slice(&B_IP.octets());
    d.extend_from_slice(&[1, 1, 1, 1]);
    d.extend_from_slice(&icmp);
    assert_eq!(
        hdr.send_to(&d, B_IP).expect("send with IP_HDRINCL"),
        d.len()
    );
    // B sees the header as written, with the fields the stack fills.
    let mut buf = vec![0u8; 2048];
    let mut on_b = on_b;
    on_b.set_read_timeout(Some(WAIT)).unwrap();
    let (n, from) = on_b.recv_from(&mut buf).expect("B hears the request");
    let got = &buf[..n];
    assert_eq!((n, from), (d.len(), A_IP));
    assert_eq!(u16::from_be_bytes([got[2], got[3]]) as usize, d.len());
    assert_ne!(&got[4..6], &[0, 0], "an Identification is chosen");
    assert_eq!((got[0], got[8], got[9]), (0x46, 7, 1));
    assert_eq!(&got[12..16], &A_IP.octets());
    assert_eq!(&got[20..24], &[1, 1, 1, 1], "options kept");
    assert_eq!(ip::checksum::checksum(&got[..24]), 0, "header checksum");
    assert_eq!(&got[24..], &icmp[..]);
    // B answers; a raw socket on A hears it, and peeks before reading.
    hears_all.set_read_timeout(Some(WAIT)).unwrap();
    let (n1, f1) = hears_all.peek_from(&mut buf).expect("peek the reply");
    let first = buf[..n1].to_vec();
    let (n2, f2) = hears_all.recv_from(&mut buf).expect("read the reply");
    assert_eq!((n1, f1, &first[..]), (n2, f2, &buf[..n2]));
    assert_eq!(f1, B_IP);
    // Refused: a header that is not IPv4, one longer than the datagram, and a datagram
    // longer than the MTU (never fragmented).
    let mut bad = d.clone();
    bad[0] = 0x65;
    let e = hdr.send_to(&bad, B_IP).expect_err("version 6");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let e = hdr
        .send_to(&d[..22], B_IP)
        .expect_err("header longer than the datagram");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let mut big = d.clone();
    big.resize(1501, 0);
    assert!(hdr.send_to(&big, B_IP).is_err(), "longer than the MTU");
    // Connected to an address that is not B's: `send` goes there, B's replies are not
    // heard. Connected to B: `send` reaches B and its reply is heard.
    let mut conn = p.a.raw_icmp();
    conn.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let e = conn
        .send(&echo_request(0x5555, 1, b"x"))
        .expect_err("not connected");
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    conn.connect(Ipv4Addr::new(10, 0, 0, 9)).unwrap();
    assert_eq!(
        conn.socket().peer_addr().unwrap(),
        "10.0.0.9:0".parse().unwrap()
    );
    hears_all
        .send_to(&echo_request(0x5555, 2, b"y"), B_IP)
        .unwrap();
    assert!(recv_until(&mut hears_all, WAIT, |m| {
        matches!(m, Received::Reply(r) if r.seq == 2).then_some(())
    })
    .is_some());
    let e = conn
        .recv_from(&mut buf)
        .expect_err("B's reply is not for it");
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    conn.connect(B_IP).unwrap();
    conn.send(&echo_request(0x5555, 3, b"z"))
        .expect("send to the peer");
    conn.set_read_timeout(Some(WAIT)).unwrap();
    assert!(
        recv_until(&mut conn, WAIT, |m| {
            matches!(m, Received::Reply(r) if r.seq == 3).then_some(())
        })
        .is_some(),
        "the connected socket hears its peer"
    );
    conn.socket().disconnect().unwrap();
    assert_eq!(
        conn.socket().peer_addr().unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    // IPPROTO_RAW: header always included, receives nothing.
    let raw = RawSocket::new(&p.a.stack, 255).expect("IPPROTO_RAW");
    assert!(raw.set_header_included(false).is_err());
    assert_eq!(raw.send_to(&d, B_IP).unwrap(), d.len());
    // (B's socket also holds A's other requests, read first.)
    let heard = (0..10).any(|_| {
        let (n, _) = on_b
            .recv_from(&mut buf)
            .expect("B hears the IPPROTO_RAW datagram");
        n == d.len() && buf[24..n] == icmp[..]
    });
    assert!(heard, "B never heard the IPPROTO_RAW datagram");
    // The option is for raw sockets only.
    let udp = socket_api::UdpSocket::bind(&p.a.stack, "0.0.0.0:0").unwrap();
    assert!(udp
        .socket()
        .set_option(SockOpt::HeaderIncluded(true))
        .is_err());
}
