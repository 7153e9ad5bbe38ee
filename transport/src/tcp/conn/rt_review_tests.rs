//! Review of path-MTU discovery and ICMP errors on a connection: each test shows one
//! defect (see the test's comment).

use super::harness::*;
use super::*;

/// A "fragmentation needed" outside recovery, with part of the flight already SACKed (one
/// duplicate ACK, below DupThresh): what is resent in the smaller segments is what the peer
/// lacks, never bytes it SACKed (Linux's tcp_simple_retransmit marks only un-SACKed
/// segments lost and tcp_xmit_retransmit_queue skips SACKed ones; RFC 6675's NextSeg never
/// picks SACKed data). Here the go-back-N from SND.UNA resent the SACKed segment too.
#[test]
fn frag_needed_does_not_resend_sacked_data() {
    let mut c = Conn::established(opts());
    steady_path(&mut c, Duration::from_millis(100), 20);
    let una = c.our_una();
    c.tcb.write(&bytes(4 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 4);
    c.now += Duration::from_millis(5);
    // The third segment got through (it went another way, or was small enough): SACKed.
    let r = sack_ack(&c, una, &[(una + 2 * PEER_MSS, una + 3 * PEER_MSS)]);
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    assert_eq!(c.tcb.sb.sacked_bytes(), PEER_MSS);
    c.take();
    let mut st = TcpStats::default();
    let lowered = c.tcb.path_mtu(&c.cfg, 800, 1040, &mut c.tx, &mut st, c.now);
    assert_eq!(lowered, Some(800));
    let mut out = c.take();
    // And whatever the following ACKs let out.
    for _ in 0..4 {
        c.now += Duration::from_millis(1);
        let r = sack_ack(&c, una, &[(una + 2 * PEER_MSS, una + 3 * PEER_MSS)]);
        c.deliver(&r, &[]);
        out.extend(c.take());
    }
    assert!(!out.is_empty(), "nothing resent");
    for s in &out {
        assert!(s.data.len() <= 760, "a segment of {} bytes", s.data.len());
        let end = s.r.seq + s.data.len();
        assert!(
            !(s.r.seq.lt(una + 3 * PEER_MSS) && end.gt(una + 2 * PEER_MSS)),
            "resent SACKed bytes {}..{}",
            s.r.seq.since(una),
            end.since(una)
        );
    }
}

/// A "fragmentation needed" about our SYN (one carrying Fast Open data is as large as a
/// segment), quoting its sequence number, while in SYN-SENT: the path MTU it tells holds
/// for the connection's first segments (Linux's `tcp_v4_mtu_reduced` runs in SYN-SENT:
/// `inet_csk_update_pmtu`, then `tcp_sync_mss`, and the SYN-ACK's MSS is clamped by the
/// path MTU cookie). Here the MSS before the SYN-ACK is the 536 default, so nothing was
/// lowered, `ip` was not even told, and the first segments went at the peer's full MSS,
/// into the hop that had already said it could not take them.
#[test]
fn a_frag_needed_in_syn_sent_holds_for_the_first_segments() {
    let mut c = Conn::connecting(
        TcpConfig::default(),
        ConnOpts {
            nodelay: true,
            ..opts()
        },
        1500,
    );
    let syn = c.take();
    assert!(syn[0].r.has(flags::SYN));
    let mut st = TcpStats::default();
    assert!(c.tcb.seq_outstanding(syn[0].r.seq));
    c.tcb.path_mtu(&c.cfg, 800, 1040, &mut c.tx, &mut st, c.now);
    c.now += Duration::from_millis(10);
    c.deliver(&synack(Some(1460)), &[]);
    c.peer_nxt = PEER_ISS + 1;
    c.take();
    c.tcb.write(&bytes(1460));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let out = c.take();
    assert!(!out.is_empty());
    assert!(
        out.iter().all(|s| s.data.len() <= 760),
        "segments of {:?} through a hop of 800",
        out.iter().map(|s| s.data.len()).collect::<Vec<_>>()
    );
}

/// A connection with an MSS of 1460 (SACK on), ten full segments sent and acknowledged.
fn mss_1460(cfg: TcpConfig) -> Conn {
    let mut c = Conn::connecting(cfg, opts(), 1500);
    c.take();
    c.now += Duration::from_millis(10);
    let r = TcpRepr {
        sack_permitted: true,
        ..synack(Some(1460))
    };
    c.deliver(&r, &[]);
    c.peer_nxt = PEER_ISS + 1;
    c.take();
    assert_eq!(c.tcb.mss, 1460);
    for _ in 0..10 {
        c.tcb.write(&bytes(1460));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += Duration::from_millis(10);
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
    }
    c
}

/// Run the timers until `n` retransmission timeouts have fired; what was sent meanwhile.
fn timeouts(c: &mut Conn, n: u64) -> Vec<Sent> {
    let mut out = Vec::new();
    let target = c.stats.timeouts + n;
    while c.stats.timeouts < target {
        c.advance(Duration::from_millis(50));
        out.extend(c.take());
    }
    out
}

/// RFC 2923 2.1: a router that drops our full-sized DF segments without the ICMP that
/// should say so (filtered) stalls the connection until its user timeout. After R1 (3)
/// timeouts in a row the segments shrink to 1,024 bytes (as Linux's `tcp_mtu_probing` 1
/// starts), the MTU kept for the destination; after one more, to 536 without DF; once
/// answered, the data flows at that size. Off by `TcpConfig::pmtu_black_hole`, nothing
/// changes.
#[test]
fn full_segments_that_keep_timing_out_shrink() {
    let mut c = mss_1460(TcpConfig::default());
    c.tcb.write(&bytes(20 * 1460));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert!(c
        .take()
        .iter()
        .all(|s| s.data.len() == 1460 && s.meta.dont_fragment));
    // Two timeouts: full segments again.
    let out = timeouts(&mut c, 2);
    assert!(out.iter().all(|s| s.data.len() == 1460), "{}", out.len());
    assert_eq!(c.stats.pmtu_black_holes, 0);
    // The third: 1,024 bytes, still with DF.
    let out = timeouts(&mut c, 1);
    assert!(!out.is_empty());
    assert!(
        out.iter()
            .all(|s| s.data.len() == 1024 && s.meta.dont_fragment),
        "{:?}",
        out.iter().map(|s| s.data.len()).collect::<Vec<_>>()
    );
    assert_eq!((c.stats.pmtu_black_holes, c.tx.pmtu), (1, Some(1064)));
    assert_eq!(c.stats.pmtu_updates, 0, "no router said anything");
    // The fourth: 536 bytes without DF.
    let out = timeouts(&mut c, 1);
    assert!(!out.is_empty());
    assert!(out
        .iter()
        .all(|s| s.data.len() == 536 && !s.meta.dont_fragment));
    assert_eq!((c.stats.pmtu_black_holes, c.tx.pmtu), (2, Some(576)));
    // More timeouts lower nothing more.
    timeouts(&mut c, 2);
    assert_eq!(c.stats.pmtu_black_holes, 2);
    // Answered: the rest goes at 536 bytes.
    let una = c.our_una();
    let r = c.seg(flags::ACK, una + 536);
    c.deliver(&r, &[]);
    let out = c.take();
    assert!(!out.is_empty());
    assert!(out.iter().all(|s| s.data.len() <= 536));

    // Turned off: full segments for ever.
    let mut c = mss_1460(TcpConfig {
        pmtu_black_hole: false,
        ..TcpConfig::default()
    });
    c.tcb.write(&bytes(20 * 1460));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    let out = timeouts(&mut c, 6);
    assert!(out.iter().all(|s| s.data.len() == 1460));
    assert_eq!(c.stats.pmtu_black_holes, 0);
}

/// A small segment that times out (the tail of a transfer, an interactive write) is no
/// sign of a black hole: smaller segments would not help it. Nor is a connection whose
/// segments carry no DF (`IP_PMTUDISC_DONT`).
#[test]
fn small_segments_or_no_df_suspect_no_black_hole() {
    let mut c = mss_1460(TcpConfig::default());
    c.tcb.write(&bytes(900));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    timeouts(&mut c, 5);
    assert_eq!(c.stats.pmtu_black_holes, 0);
    assert_eq!(c.tcb.mss, 1460);

    let mut c = mss_1460(TcpConfig::default());
    c.tcb.opts.pmtu = ip::PmtuMode::Dont;
    c.tcb.write(&bytes(20 * 1460));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    timeouts(&mut c, 5);
    assert_eq!(c.stats.pmtu_black_holes, 0);
    assert_eq!(c.tcb.mss, 1460);
}
