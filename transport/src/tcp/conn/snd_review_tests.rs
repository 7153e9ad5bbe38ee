//! Sender-side review: each test shows one defect found in the send path, loss recovery,
//! RACK-TLP, the RTT estimator or congestion control (see the test's comment).

use super::harness::*;
use super::*;

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

/// Run the clock a millisecond at a time until `done` holds; what was sent meanwhile.
fn run_until(c: &mut Conn, done: impl Fn(&Conn) -> bool) -> Vec<Sent> {
    let mut out = Vec::new();
    for _ in 0..5000 {
        c.advance(Duration::from_millis(1));
        out.extend(c.take());
        if done(c) {
            return out;
        }
    }
    panic!("the condition never held");
}

/// RFC 5681 3.1: after a timeout the sender slow-starts from one segment "to the new
/// value of ssthresh, at which point congestion avoidance again takes over" (Linux grows
/// the window in CA_Loss too: `tcp_cong_control` calls `tcp_cong_avoid` outside CWR and
/// Recovery). With SACK, `new_ack` grows the window only while it is below ssthresh until
/// SND.UNA reaches `recover`, the highest sequence sent before the timeout: from ssthresh
/// on it stays flat for the rest of the repair (without SACK it grows).
#[test]
fn after_a_timeout_the_window_grows_past_ssthresh_before_recover() {
    let mut c = Conn::established(ConnOpts {
        congestion: Algorithm::Reno,
        ..opts()
    });
    c.tcb.tlp_enabled = false;
    steady_path(&mut c, Duration::from_millis(100), 5);
    c.tcb.cc.set_cwnd(20 * PEER_MSS);
    let una = c.our_una();
    c.tcb.write(&bytes(20 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 20);
    run_until(&mut c, |c| c.stats.timeouts == 1);
    let recover = c.tcb.snd_max;
    let ssthresh = c.tcb.cc.ssthresh();
    assert_eq!((c.tcb.cc.cwnd(), ssthresh), (PEER_MSS, 10 * PEER_MSS));
    // The retransmissions arrive and are acknowledged a segment at a time.
    let mut at_ssthresh = None;
    for k in 1..19 {
        c.now += Duration::from_millis(1);
        let r = c.seg(flags::ACK, una + k * PEER_MSS);
        c.deliver(&r, &[]);
        c.take();
        assert!(c.tcb.snd_una.lt(recover));
        if at_ssthresh.is_none() && c.tcb.cc.cwnd() >= ssthresh {
            at_ssthresh = Some(k);
        }
    }
    let k = at_ssthresh.expect("slow start reached ssthresh");
    assert!(
        c.tcb.cc.cwnd() > ssthresh,
        "cwnd {} stayed at ssthresh {ssthresh} for {} ACKs in congestion avoidance",
        c.tcb.cc.cwnd(),
        18 - k
    );
}

/// Linux retransmits the tail skb as it is, its FIN with it (`tcp_retransmit_skb`; a bare
/// FIN skb behind a full one is collapsed into it by `tcp_retrans_try_collapse`), and the
/// other retransmission paths here do too (`retransmit_first`, `resend_hole`, the probe).
/// `sack_send_inner` leaves the FIN off when the last segment is full-size
/// (`data_len < seg_room()`): after a timeout the data goes alone, and the FIN, its own
/// segment, waits for the window the timeout shrank to one segment, a round trip later.
#[test]
fn a_full_size_last_segment_is_retransmitted_with_its_fin() {
    let mut c = Conn::established(opts());
    c.tcb.tlp_enabled = false;
    c.tcb.write(&bytes(5 * PEER_MSS));
    c.tcb.shutdown_write();
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let sent = c.take();
    assert_eq!(sent.len(), 5);
    assert!(sent[4].r.has(flags::FIN) && sent[4].data.len() == PEER_MSS);
    let una = c.our_una();
    c.now += Duration::from_millis(100);
    let r = c.seg(flags::ACK, una + 4 * PEER_MSS);
    c.deliver(&r, &[]);
    c.take();
    let out = run_until(&mut c, |c| c.stats.timeouts == 1);
    let r = out.last().expect("the timeout's retransmission");
    assert_eq!((r.r.seq, r.data.len()), (una + 4 * PEER_MSS, PEER_MSS));
    assert!(
        r.r.has(flags::FIN),
        "the FIN did not go with the segment that carried it ({} segments sent)",
        out.len()
    );
}

/// RFC 8985 7.4.2: a retransmitted probe is settled as "no loss" by a D-SACK of the
/// probe's own segment (the original arrived too); Linux sets FLAG_DSACK_TLP only for a
/// D-SACK block ending at `tlp_high_seq` (`tcp_dsack_seen`). Otherwise an ACK beyond the
/// probe's end says the probe repaired a loss, and the window answers for it. Here any
/// D-SACK on that ACK counts as "no loss": a D-SACK of another segment (one the network
/// duplicated) hides the loss the probe repaired.
#[test]
fn only_a_d_sack_of_the_probe_says_it_repaired_nothing() {
    for dsack_of_probe in [false, true] {
        let mut c = Conn::established(opts());
        steady_path(&mut c, Duration::from_millis(100), 20);
        let una = c.our_una();
        c.tcb.write(&bytes(3 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 3);
        // No ACK: the probe resends the last segment.
        let out = run_until(&mut c, |c| c.stats.loss_probes == 1);
        assert_eq!(out.len(), 1);
        let probe = (out[0].r.seq, out[0].r.seq + out[0].data.len());
        assert_eq!(probe.0, una + 2 * PEER_MSS);
        // The probe filled the hole the last segment left: everything is acknowledged.
        c.now += Duration::from_millis(100);
        let r = c.seg(flags::ACK, probe.1);
        c.deliver(&r, &[]);
        c.take();
        // New data, and its ACK carries a D-SACK: of the probe's segment, or of the first.
        c.tcb.write(&bytes(PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 1);
        c.now += Duration::from_millis(100);
        let block = if dsack_of_probe {
            probe
        } else {
            (una, una + PEER_MSS)
        };
        let r = sack_ack(&c, probe.1 + PEER_MSS, &[block]);
        c.deliver(&r, &[]);
        assert_eq!(c.stats.dsacks_in, 1);
        assert_eq!(
            c.stats.tlp_recoveries,
            u64::from(!dsack_of_probe),
            "D-SACK of the probe's segment: {dsack_of_probe}"
        );
    }
}

/// `loss_probes` counts the probes sent (Linux's TCPLossProbes is counted in
/// `tcp_send_loss_probe` only once the probe has gone: a failed `__tcp_retransmit_skb`
/// skips to `rearm_timer`). `on_tlp` counts it before trying, so a probe the IP layer
/// refused is counted as sent.
#[test]
fn a_probe_that_could_not_be_sent_is_not_counted() {
    let mut c = Conn::established(opts());
    steady_path(&mut c, Duration::from_millis(100), 20);
    c.tcb.write(&bytes(3 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 3);
    let at = c.tcb.timers.get(Timer::Tlp).expect("a probe armed");
    assert!(at < c.tcb.timers.get(Timer::Rtx).expect("the RTO armed"));
    let mut tx = Refusing(Wire::default());
    c.tcb.poll(&c.cfg, &mut tx, &mut c.stats, at);
    assert!(c.stats.send_failures > 0, "the probe was tried");
    assert_eq!(
        c.stats.loss_probes, 0,
        "a probe that never left was counted"
    );
}

/// undo.rs's rule: an episode "covers every retransmission from the oldest one still
/// unacknowledged", and bytes retransmitted twice leave the verdict to timestamps (which
/// copy a D-SACK reports is unknown); Linux's `tcp_init_undo` likewise counts every
/// retransmission in flight, a loss probe's included, in `undo_retrans`. Only the oldest
/// retransmission made outside an episode is kept (`Undo::oldest`), and with up to
/// `max_loss_probes` (3) probes there can be more. Here two probes resend the last
/// segment, whose original was lost: the first probe's copy repairs it, the second's
/// draws a D-SACK, which passes for proof that the retransmission was not needed. With a
/// reordered first segment D-SACKed too, the recovery's reduction is undone although the
/// last segment was really lost.
#[test]
fn a_second_probe_outstanding_is_part_of_the_next_episode() {
    let mut c = Conn::established(opts());
    steady_path(&mut c, Duration::from_millis(100), 20);
    let una = c.our_una();
    c.tcb.write(&bytes(4 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 4);
    let last = (una + 3 * PEER_MSS, una + 4 * PEER_MSS);
    // Two probes, no ACK between them (the ACK path stalls): both resend the last segment.
    for _ in 0..2 {
        c.now += Duration::from_millis(250);
        c.tcb.on_tlp(&mut c.stats, &mut c.tx, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].r.seq, out[0].r.seq + out[0].data.len()), last);
    }
    // The ACKs come: segments 1 and 2 and the first probe's copy of 3 SACKed; 0 is
    // missing (only reordered) and recovery begins.
    c.now += Duration::from_millis(100);
    let r = sack_ack(&c, una, &[(una + PEER_MSS, last.1)]);
    c.deliver(&r, &[]);
    assert!(c.tcb.in_recovery);
    let reduced = c.tcb.cc.cwnd();
    c.take();
    // The second probe's copy of 3 is a duplicate: a D-SACK.
    c.now += Duration::from_millis(1);
    let r = sack_ack(&c, una, &[last, (una + PEER_MSS, last.1)]);
    c.deliver(&r, &[]);
    // Segment 0 arrives late, then its fast retransmission: a D-SACK of it.
    c.now += Duration::from_millis(1);
    let r = c.seg(flags::ACK, last.1);
    c.deliver(&r, &[]);
    c.now += Duration::from_millis(100);
    let r = sack_ack(&c, last.1, &[(una, una + PEER_MSS)]);
    c.deliver(&r, &[]);
    assert_eq!(c.stats.dsacks_in, 2);
    assert_eq!(
        (c.stats.spurious_undos, c.tcb.cc.cwnd()),
        (0, reduced),
        "the loss of the last segment, repaired by the first probe, was undone"
    );
}
