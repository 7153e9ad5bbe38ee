//! Sender-side review: each test shows one defect found in the send path, loss recovery,
//! RACK-TLP, the RTT estimator or congestion control (see the test's comment).

use super::harness::*;
use super::*;

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

fn sack_ack(c: &Conn, ack: Seq, blocks: &[(Seq, Seq)]) -> TcpRepr {
    let mut r = c.seg(flags::ACK, ack);
    for (i, &b) in blocks.iter().enumerate() {
        r.sack[i] = b;
    }
    r.sack_count = blocks.len() as u8;
    r
}

/// RFC 8985 7.2 arms no loss probe while SACKed segments are outstanding (Linux probes
/// only in CA_Open), and 7.3's probe "retransmits the highest-sequence segment" so that
/// its ACK shows what is missing; a segment the peer SACKed tells nothing and costs a
/// segment of the window. Here three segments go out, the peer SACKs the last two late
/// (190 ms on a ~95 ms path: RACK's reordering window, a quarter of min RTT with fewer than
/// DupThresh segments SACKed, puts the first one's deadline at ~215 ms), and the probe,
/// armed when the data left (two SRTTs), fires first, outside recovery: `on_tlp` resends
/// the last segment, which the peer already holds.
#[test]
fn a_loss_probe_does_not_resend_a_segment_the_peer_sacked() {
    let mut c = Conn::established(opts());
    steady_path(&mut c, Duration::from_millis(100), 20);
    let una = c.our_una();
    c.tcb.write(&bytes(3 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 3);
    c.now += Duration::from_millis(190);
    for k in 2..=3 {
        let r = sack_ack(&c, una, &[(una + PEER_MSS, una + k * PEER_MSS)]);
        c.deliver(&r, &[]);
    }
    assert_eq!(c.tcb.sb.sacked_bytes(), 2 * PEER_MSS);
    c.take();
    for _ in 0..40 {
        c.advance(Duration::from_millis(1));
        for s in c.take() {
            let end = s.r.seq + s.data.len();
            assert!(
                !(s.r.seq.ge(una + PEER_MSS) && end.le(una + 3 * PEER_MSS)),
                "resent SACKed bytes {}..{} (probes {}, in recovery {})",
                s.r.seq.since(una),
                end.since(una),
                c.stats.loss_probes,
                c.tcb.in_recovery
            );
        }
    }
}

/// RFC 6582 3.2 step 4 (and RFC 5681 3.2): a partial ACK retransmits "the first unacknowledged
/// segment", data sent before. `retransmit_first` takes a segment's worth from the send
/// queue, `sndq.len().min(seg_room())`, so when the hole is a short last segment and more
/// data waits unsent (here behind the peer's window), the "retransmission" carries new
/// bytes beyond SND.MAX without SND.MAX (or the peer's window) covering them. The peer
/// takes them and acknowledges them; that ACK is beyond SND.MAX and is dropped as an ACK
/// of data never sent, and the connection waits for its retransmission timer.
#[test]
fn a_partial_ack_retransmission_sends_nothing_beyond_snd_max() {
    let mut c = Conn::established_no_sack(ConnOpts {
        nodelay: true,
        ..opts()
    });
    c.tcb.tlp_enabled = false;
    let mut r = c.seg(flags::ACK, c.our_una());
    r.window = 4500;
    c.deliver(&r, &[]);
    // Four full segments and a short one fill the peer's window; more data waits.
    c.tcb.write(&bytes(4500));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 5);
    c.tcb.write(&bytes(5000));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert!(c.take().is_empty());
    let una = c.our_una();
    // The first and the last (short) segments are lost: three duplicate ACKs.
    c.now += Duration::from_millis(50);
    for _ in 0..3 {
        let mut r = c.seg(flags::ACK, una);
        r.window = 4500;
        c.deliver(&r, &[]);
    }
    assert!(c.tcb.in_recovery);
    c.take();
    // The partial ACK (the first segment's retransmission arrived), a window of 1000.
    c.now += Duration::from_millis(50);
    let max = c.tcb.snd_max;
    let mut r = c.seg(flags::ACK, una + 4000);
    r.window = 1000;
    c.deliver(&r, &[]);
    let out = c.take();
    let beyond: Vec<(usize, usize)> = out
        .iter()
        .filter(|s| s.r.seq.lt(max) && (s.r.seq + s.data.len()).gt(max))
        .map(|s| (s.r.seq.since(una), s.data.len()))
        .collect();
    // The peer acknowledges everything it got.
    let got = out
        .iter()
        .map(|s| s.r.seq + s.data.len())
        .fold(una + 4000, |a, b| if b.gt(a) { b } else { a });
    c.now += Duration::from_millis(50);
    let bad = c.stats.bad_acks;
    let mut r = c.seg(flags::ACK, got);
    r.window = 1000;
    c.deliver(&r, &[]);
    assert_eq!(
        (c.stats.bad_acks - bad, c.tcb.snd_una.since(una)),
        (0, got.since(una)),
        "the ACK of what was sent was dropped: SND.MAX {} but a retransmission (offset, len) {:?} went beyond it",
        max.since(una),
        beyond
    );
}
