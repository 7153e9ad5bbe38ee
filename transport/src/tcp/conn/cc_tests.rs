//! The congestion controller as the connection drives it: a sender that keeps its window
//! full over a 500 ms round trip on a virtual clock loses one segment, recovers with SACK,
//! then grows by CUBIC's curve back to the window where the loss struck (RFC 9438 4.2),
//! which NewReno, one segment per round trip, does not. This checks what the unit tests of
//! `congestion/` cannot: that the connection hands the controller the time, the SRTT, the
//! flight and every event.

use super::harness::*;
use super::*;

const RTT: Duration = Duration::from_millis(500);

/// Keep the send queue full and send what the windows allow.
fn refill_and_send(c: &mut Conn) {
    c.tcb.write(&bytes(100_000));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
}

/// One round trip: what was sent arrives, each segment acknowledged by an ACK of its own
/// a round trip later; returns how many segments went.
fn round(c: &mut Conn) -> usize {
    refill_and_send(c);
    let sent = c.take();
    c.now += RTT;
    for s in &sent {
        let end = s.r.seq + s.data.len();
        let r = c.seg(flags::ACK, end);
        c.deliver(&r, &[]);
    }
    sent.len()
}

/// Slow start to 40 segments, then a round of 40 whose first segment is lost: the peer
/// SACKs the other 39, the first is resent, and its ACK ends the recovery.
fn lose_one_at_40_segments(c: &mut Conn) {
    while c.tcb.cc.cwnd() < 40 * PEER_MSS {
        round(c);
    }
    assert_eq!(c.tcb.cc.cwnd(), 40 * PEER_MSS);
    refill_and_send(c);
    let sent = c.take();
    assert_eq!(sent.len(), 40);
    c.now += RTT;
    let una = c.our_una();
    for s in &sent[1..] {
        let mut r = c.seg(flags::ACK, una);
        r.sack[0] = (una + PEER_MSS, s.r.seq + s.data.len());
        r.sack_count = 1;
        c.deliver(&r, &[]);
    }
    assert_eq!(c.stats.fast_retransmits, 1);
    assert_eq!(c.tcb.cc.losses(), 1);
    let out = c.take();
    assert!(out.iter().any(|s| s.r.seq == una), "the hole was resent");
    c.now += RTT;
    let all = out
        .iter()
        .map(|s| s.r.seq + s.data.len())
        .fold(una + 40 * PEER_MSS, |a, b| if b.gt(a) { b } else { a });
    let r = c.seg(flags::ACK, all);
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
}

/// Segments in the window `secs` seconds of full-window round trips after the loss.
fn window_after(alg: Algorithm, secs: u64) -> (usize, usize) {
    let mut c = Conn::established(ConnOpts {
        congestion: alg,
        ..opts()
    });
    lose_one_at_40_segments(&mut c);
    let ssthresh = c.tcb.cc.ssthresh();
    let start = c.now;
    while c.now.saturating_duration_since(start) < Duration::from_secs(secs) {
        round(&mut c);
    }
    (ssthresh / PEER_MSS, c.tcb.cc.cwnd() / PEER_MSS)
}

#[test]
fn after_a_loss_cubic_climbs_back_to_w_max_by_k_and_reno_does_not() {
    // CUBIC: 42 segments were in flight (40 and two sent by limited transmit on the first
    // duplicates), ssthresh 0.7 · 42 = 29.4; W_max is the window, 40, so
    // K = ∛((40 − 29.4) / 0.4) ≈ 3 s.
    let (ssthresh, cubic) = window_after(Algorithm::Cubic, 4);
    assert_eq!(ssthresh, 29);
    // W_cubic(4 s + RTT) ≈ 41; the Reno-friendly estimate is near 32 by then.
    assert!((38..=43).contains(&cubic), "cubic {cubic}");
    // NewReno: ssthresh 21, then about one segment per round trip (8 of them).
    let (ssthresh, reno) = window_after(Algorithm::Reno, 4);
    assert_eq!(ssthresh, 21);
    assert!((26..=30).contains(&reno), "reno {reno}");
}

#[test]
fn cubic_plateaus_at_w_max_then_probes_beyond() {
    // Around K the curve is flat: between 3 s and 3.5 s the window barely moves, and well
    // past K it grows faster again (the convex region, RFC 9438 4.5).
    let (_, at3) = window_after(Algorithm::Cubic, 3);
    let (_, at4) = window_after(Algorithm::Cubic, 4);
    let (_, at7) = window_after(Algorithm::Cubic, 7);
    let (_, at8) = window_after(Algorithm::Cubic, 8);
    assert!(at4 - at3 <= 2, "{at3} {at4}");
    assert!(at8 - at7 > at4 - at3, "{at3} {at4} {at7} {at8}");
    assert!(at8 > 45, "{at8}");
}

/// A tail loss probe, then SACK recovery of an earlier hole: one loss episode, one
/// reduction (the probe's episode ends when the recovery takes over; it once stayed open
/// and, reported "repaired" after the recovery, cut the window a second time).
#[test]
fn a_probe_and_the_recovery_after_it_reduce_the_window_once() {
    let mut c = Conn::established(opts());
    // A clean round trip for an SRTT.
    c.tcb.write(&bytes(4 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 4);
    c.now += Duration::from_millis(100);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    // Four segments, all in flight, nothing unsent.
    c.tcb.write(&bytes(4 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 4);
    let una = c.our_una();
    let tail = c.tcb.snd_max;
    for _ in 0..100 {
        c.advance(Duration::from_millis(5));
        if c.stats.loss_probes > 0 {
            break;
        }
    }
    assert_eq!(c.stats.loss_probes, 1, "TLP fired");
    c.take();
    // Segment 1 lost; 2..4 (and the probe) arrive: SACK recovery.
    c.now += Duration::from_millis(100);
    for k in 2..=4u32 {
        let mut r = c.seg(flags::ACK, una);
        r.sack[0] = (una + PEER_MSS, una + (k as usize) * PEER_MSS);
        r.sack_count = 1;
        c.deliver(&r, &[]);
    }
    assert!(c.tcb.in_recovery);
    assert_eq!(c.tcb.cc.losses(), 1);
    let after_first = c.tcb.cc.cwnd();
    c.take();
    // The retransmission's ACK ends recovery (ack == TLP.end_seq).
    c.now += Duration::from_millis(100);
    let r = c.seg(flags::ACK, tail);
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    // New data, acknowledged cleanly: no loss at all.
    c.tcb.write(&bytes(2 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    c.now += Duration::from_millis(100);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    assert_eq!(c.stats.tlp_recoveries, 0, "TLP counted a repair");
    assert_eq!(c.tcb.cc.losses(), 1, "one loss episode, one reduction");
    assert!(
        c.tcb.cc.cwnd() >= after_first,
        "cwnd {} < {}",
        c.tcb.cc.cwnd(),
        after_first
    );
}

/// Let the clock run, 5 ms at a time, until the retransmission timer has fired once.
fn until_the_first_timeout(c: &mut Conn) {
    for _ in 0..2000 {
        c.advance(Duration::from_millis(5));
        if c.stats.timeouts > 0 {
            break;
        }
    }
    assert_eq!(c.stats.timeouts, 1);
}

/// Ten segments sent and acknowledged (an RTT sample, a grown window), then a flight of
/// twenty or more that goes unanswered until the retransmission timer fires once: the
/// window is one segment.
fn a_flight_times_out(c: &mut Conn) {
    c.tcb.write(&bytes(10 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 10);
    c.now += Duration::from_millis(100);
    let una = c.our_una();
    for k in 1..=10 {
        let r = c.seg(flags::ACK, una + k * PEER_MSS);
        c.deliver(&r, &[]);
    }
    c.take();
    c.tcb.write(&bytes(20 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let n = c.take().len();
    assert!(n >= 20, "{n}");
    until_the_first_timeout(c);
    assert_eq!(c.tcb.cc.cwnd(), PEER_MSS);
}

/// RFC 5681 3.1: after a timeout the window is one segment and slow start rebuilds it (the
/// ACK covering the recovery point once set it straight to ssthresh: a burst).
#[test]
fn after_a_timeout_slow_start_rebuilds_the_window() {
    let mut c = Conn::established(opts());
    a_flight_times_out(&mut c);
    let ssthresh = c.tcb.cc.ssthresh();
    c.take();
    // The first segment's retransmission arrives; the peer had all the rest.
    c.now += Duration::from_millis(100);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    let cwnd = c.tcb.cc.cwnd();
    assert!(
        cwnd <= 3 * PEER_MSS,
        "one ACK took cwnd from 1 MSS to {cwnd} (ssthresh {ssthresh})"
    );
}

/// `n` bytes sent and acknowledged 20 ms later, the ACK echoing their TSval: an SRTT of
/// 20 ms.
fn acked_after_20_ms(c: &mut Conn, n: usize) {
    c.tcb.write(&bytes(n));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let first = c.take();
    c.now += Duration::from_millis(20);
    let mut r = c.seg(flags::ACK, c.tcb.snd_max);
    r.timestamp = first[0].r.timestamp.map(|(v, _)| (PEER_TS + 20, v));
    c.deliver(&r, &[]);
}

/// A round trip for an SRTT (20 ms), then a window of 40 segments sent: returns them.
fn srtt_then_a_window_of_40(c: &mut Conn) -> Vec<Sent> {
    acked_after_20_ms(c, 4 * PEER_MSS);
    c.tcb.cc.set_cwnd(40 * PEER_MSS);
    c.tcb.write(&bytes(40 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let sent = c.take();
    // 40 segments, or 41 shorter ones beside timestamps.
    assert!((40..=41).contains(&sent.len()), "{}", sent.len());
    sent
}

/// A round trip for an SRTT, then 40 segments in flight at a window of 40 of which the
/// first is delayed: the peer SACKs the other 39 (echoing `echo` if timestamps are on) and
/// RACK takes the first for lost. Returns SND.UNA, the end of the 40, and the TSvals of the
/// original first segment and of its retransmission.
fn first_of_40_taken_for_lost(c: &mut Conn, echo: bool) -> (Seq, Seq, Option<u32>, Option<u32>) {
    let sent = srtt_then_a_window_of_40(c);
    let una = c.our_una();
    let end = c.tcb.snd_max;
    let orig_ts = sent[0].r.timestamp.map(|(v, _)| v);
    c.now += Duration::from_millis(20);
    for s in &sent[1..] {
        let mut r = c.seg(flags::ACK, una);
        r.sack[0] = (una + PEER_MSS, s.r.seq + s.data.len());
        r.sack_count = 1;
        r.timestamp =
            s.r.timestamp
                .filter(|_| echo)
                .map(|(v, _)| (PEER_TS + 40, v));
        c.deliver(&r, &[]);
    }
    assert_eq!(c.stats.fast_retransmits, 1);
    assert!(c.tcb.in_recovery);
    let out = c.take();
    let retx = out
        .iter()
        .find(|s| s.r.seq == una)
        .expect("the first was resent");
    let retx_ts = retx.r.timestamp.map(|(v, _)| v);
    (una, end, orig_ts, retx_ts)
}

/// RFC 3522 with RFC 9438 4.9: the delayed original arrives after its retransmission
/// left, the peer's ACK echoes the original's TSval, and the cut is undone: the window of
/// 40 and slow start (no threshold yet) come back. Echoing the retransmission's TSval
/// instead leaves the cut in place.
#[test]
fn an_ack_for_the_original_undoes_the_cut() {
    for original_arrived in [true, false] {
        let mut c = Conn::established_ts(opts());
        let (_, end, orig_ts, retx_ts) = first_of_40_taken_for_lost(&mut c, true);
        let (orig_ts, retx_ts) = (orig_ts.unwrap(), retx_ts.unwrap());
        assert!(retx_ts > orig_ts, "{orig_ts} {retx_ts}");
        assert!(c.tcb.cc.cwnd() < 30 * PEER_MSS);
        c.now += Duration::from_millis(5);
        let mut r = c.seg(flags::ACK, end);
        let echo = if original_arrived { orig_ts } else { retx_ts };
        r.timestamp = Some((PEER_TS + 45, echo));
        c.deliver(&r, &[]);
        assert!(!c.tcb.in_recovery);
        if original_arrived {
            assert_eq!(c.stats.spurious_undos, 1);
            assert!(c.tcb.cc.cwnd() >= 40 * PEER_MSS, "{}", c.tcb.cc.cwnd());
            assert_eq!(c.tcb.cc.ssthresh(), usize::MAX / 2);
        } else {
            assert_eq!(c.stats.spurious_undos, 0);
            assert!(c.tcb.cc.cwnd() < 30 * PEER_MSS, "{}", c.tcb.cc.cwnd());
        }
    }
}

/// An ECE on the very ACK that would prove a recovery spurious makes its cut final:
/// congestion was seen, whatever the echo says of the retransmission (the undo looks at
/// the ACK before ECN does, so the ECE closes it first).
#[test]
fn an_ece_on_the_ack_that_would_undo_the_cut_keeps_it() {
    let mut c = Conn::established_ts(opts());
    c.tcb.ecn_ok = true;
    let (_, end, orig_ts, _) = first_of_40_taken_for_lost(&mut c, true);
    c.now += Duration::from_millis(5);
    let mut r = c.seg(flags::ACK | flags::ECE, end);
    r.timestamp = Some((PEER_TS + 45, orig_ts.unwrap()));
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    assert_eq!(c.stats.spurious_undos, 0);
    assert!(c.tcb.cc.cwnd() < 30 * PEER_MSS, "{}", c.tcb.cc.cwnd());
}

/// RFC 3708: without timestamps, the peer's D-SACK of the retransmission (the original got
/// there first) proves it spurious, here after recovery has ended.
#[test]
fn a_d_sack_of_the_retransmission_undoes_the_cut() {
    let mut c = Conn::established(opts());
    let (una, end, _, _) = first_of_40_taken_for_lost(&mut c, false);
    c.now += Duration::from_millis(5);
    let r = c.seg(flags::ACK, end);
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    assert!(c.tcb.cc.cwnd() < 30 * PEER_MSS, "{}", c.tcb.cc.cwnd());
    assert_eq!(c.stats.spurious_undos, 0);
    // The retransmission arrives: the peer reports it received twice.
    c.now += Duration::from_millis(5);
    let mut r = c.seg(flags::ACK, end);
    r.sack[0] = (una, una + PEER_MSS);
    r.sack_count = 1;
    c.deliver(&r, &[]);
    assert_eq!(c.stats.dsacks_in, 1);
    assert_eq!(c.stats.spurious_undos, 1);
    assert!(c.tcb.cc.cwnd() >= 40 * PEER_MSS, "{}", c.tcb.cc.cwnd());
    // A second report of the same duplicate undoes nothing more.
    let before = (c.tcb.cc.cwnd(), c.tcb.cc.ssthresh());
    c.deliver(&r, &[]);
    assert_eq!(c.stats.spurious_undos, 1);
    assert_eq!((c.tcb.cc.cwnd(), c.tcb.cc.ssthresh()), before);
}

/// A retransmission timeout that was only a delay (RFC 3522's original case): the ACK
/// after it echoes the first transmission, and the window from before the timeout is back.
#[test]
fn a_spurious_timeout_is_undone() {
    let mut c = Conn::established_ts(opts());
    c.tcb.write(&bytes(10 * c.tcb.seg_room()));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let sent = c.take();
    assert_eq!(sent.len(), 10);
    let orig_ts = sent[0].r.timestamp.unwrap().0;
    let cwnd = c.tcb.cc.cwnd();
    until_the_first_timeout(&mut c);
    assert_eq!(c.tcb.cc.cwnd(), PEER_MSS);
    let retx = c.take();
    assert!(retx[0].r.timestamp.unwrap().0 > orig_ts);
    let mut r = c.seg(flags::ACK, c.tcb.snd_max);
    r.timestamp = Some((PEER_TS + 1, orig_ts));
    c.deliver(&r, &[]);
    assert_eq!(c.stats.spurious_undos, 1);
    assert!(c.tcb.cc.cwnd() >= cwnd, "{} < {cwnd}", c.tcb.cc.cwnd());
}

/// A window of 40 sent: 20 ms later the peer SACKs all but the first and the eleventh
/// segment, one ACK per arrival with the timestamp `echo` gives; recovery resends both.
/// What went out until the eleventh was resent.
fn sack_around_the_first_and_eleventh(
    c: &mut Conn,
    sent: &[Sent],
    echo: impl Fn(&Sent) -> Option<(u32, u32)>,
) -> Vec<Sent> {
    let una = c.our_una();
    let (lost, lost_end) = (sent[10].r.seq, sent[10].r.seq + sent[10].data.len());
    c.now += Duration::from_millis(20);
    for (i, s) in sent.iter().enumerate().skip(1).filter(|(i, _)| *i != 10) {
        let mut r = c.seg(flags::ACK, una);
        let e = s.r.seq + s.data.len();
        if i < 10 {
            r.sack[0] = (sent[1].r.seq, e);
            r.sack_count = 1;
        } else {
            r.sack[0] = (lost_end, e);
            r.sack[1] = (sent[1].r.seq, lost);
            r.sack_count = 2;
        }
        r.timestamp = echo(s);
        c.deliver(&r, &[]);
    }
    assert!(c.tcb.in_recovery);
    let mut out = c.take();
    for _ in 0..100 {
        if out.iter().any(|s| s.r.seq == lost) {
            break;
        }
        c.advance(Duration::from_millis(1));
        out.extend(c.take());
    }
    out
}

/// A window of 40 where the first segment is only late but the eleventh is really lost:
/// the ACK for the late original echoes its TSval, yet the eleventh hole was filled by its
/// retransmission, so the response stands (RFC 3522's proof covers one retransmission, not
/// the episode; Linux once got this wrong, 7026b912).
#[test]
fn a_real_loss_in_the_same_window_keeps_the_cut() {
    let mut c = Conn::established_ts(opts());
    let sent = srtt_then_a_window_of_40(&mut c);
    let (una, end) = (c.our_una(), c.tcb.snd_max);
    let orig_ts = sent[0].r.timestamp.unwrap().0;
    let (lost, lost_end) = (sent[10].r.seq, sent[10].r.seq + sent[10].data.len());
    let out = sack_around_the_first_and_eleventh(&mut c, &sent, |s| {
        s.r.timestamp.map(|(v, _)| (PEER_TS + 40, v))
    });
    let retx = |seq: Seq| {
        out.iter()
            .find(|s| s.r.seq == seq)
            .map(|s| s.r.timestamp.unwrap().0)
    };
    assert!(retx(una).is_some(), "the first was resent");
    let lost_retx_ts = retx(lost).expect("the eleventh was resent");
    // The late original of the first arrives: the ACK reaches the real hole.
    c.now += Duration::from_millis(5);
    let mut r = c.seg(flags::ACK, lost);
    r.sack[0] = (lost_end, end);
    r.sack_count = 1;
    r.timestamp = Some((PEER_TS + 45, orig_ts));
    c.deliver(&r, &[]);
    assert_eq!(
        c.stats.spurious_undos, 0,
        "undone before the real hole was seen"
    );
    // The eleventh's retransmission fills it.
    c.now += Duration::from_millis(5);
    let mut r = c.seg(flags::ACK, end);
    r.timestamp = Some((PEER_TS + 46, lost_retx_ts));
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    assert_eq!(c.stats.spurious_undos, 0);
    assert!(c.tcb.cc.cwnd() < 30 * PEER_MSS, "{}", c.tcb.cc.cwnd());
}

/// The same window of 40, the other way round: the eleventh's retransmission arrives
/// first, above the hole at the first segment (SACKed; the peer's TS.Recent, its left
/// edge's, does not take its TSval, RFC 7323 4.3), then the first's late original fills
/// the left edge and the ACK of everything echoes the original's TSval. That echo says
/// nothing of the eleventh: the response stands.
#[test]
fn a_real_loss_repaired_above_the_left_edge_keeps_the_cut() {
    let mut c = Conn::established_ts(opts());
    let sent = srtt_then_a_window_of_40(&mut c);
    let (una, end) = (c.our_una(), c.tcb.snd_max);
    let orig_ts = sent[0].r.timestamp.unwrap().0;
    let lost = sent[10].r.seq;
    // Beyond the hole the peer echoes TS.Recent: from before the first segment.
    let out = sack_around_the_first_and_eleventh(&mut c, &sent, |_| {
        Some((PEER_TS + 40, orig_ts.wrapping_sub(20)))
    });
    assert!(out.iter().any(|s| s.r.seq == una), "the first was resent");
    assert!(
        out.iter().any(|s| s.r.seq == lost),
        "the eleventh was resent"
    );
    // The eleventh's retransmission arrives: SACKed, the echo still the old TS.Recent.
    c.now += Duration::from_millis(5);
    let mut r = c.seg(flags::ACK, una);
    r.sack[0] = (sent[1].r.seq, end);
    r.sack_count = 1;
    r.timestamp = Some((PEER_TS + 45, orig_ts.wrapping_sub(20)));
    c.deliver(&r, &[]);
    // The first's late original: everything acknowledged, its TSval echoed.
    c.now += Duration::from_millis(1);
    let mut r = c.seg(flags::ACK, end);
    r.timestamp = Some((PEER_TS + 46, orig_ts));
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    assert_eq!(c.stats.spurious_undos, 0, "cwnd {}", c.tcb.cc.cwnd());
    assert!(c.tcb.cc.cwnd() < 30 * PEER_MSS, "{}", c.tcb.cc.cwnd());
}

/// RFC 4015 3: after a timeout shown spurious, the sender goes on with new data; it does
/// not spend the restored window resending the flight the peer already holds. (Without
/// loss probes, whose copy of the last segment would have to be acknowledged first.)
#[test]
fn after_a_spurious_timeout_nothing_the_peer_holds_is_resent() {
    for spurious in [true, false] {
        let mut c = Conn::established_ts(opts());
        c.tcb.tlp_enabled = false;
        c.tcb.cc.set_cwnd(20 * PEER_MSS);
        c.tcb.write(&bytes(20 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        let orig_ts = sent[0].r.timestamp.unwrap().0;
        until_the_first_timeout(&mut c);
        let retx_ts = c.take()[0].r.timestamp.unwrap().0;
        c.tcb.write(&bytes(20 * PEER_MSS));
        // The ACK for the first segment only.
        let before = c.stats.retransmits;
        let mut r = c.seg(flags::ACK, sent[1].r.seq);
        r.timestamp = Some((PEER_TS + 1, if spurious { orig_ts } else { retx_ts }));
        c.deliver(&r, &[]);
        let resent = c.stats.retransmits - before;
        let new = c
            .take()
            .iter()
            .filter(|s| s.r.seq.ge(sent[19].r.seq + 1))
            .count();
        if spurious {
            assert_eq!(c.stats.spurious_undos, 1);
            assert!(!c.tcb.in_recovery);
            assert_eq!(resent, 0, "resent what the peer holds");
            assert!(new > 0, "no new data");
        } else {
            assert_eq!(c.stats.spurious_undos, 0);
            assert!(resent > 0, "slow start resends the flight");
        }
    }
}

/// A lone segment lost, its tail loss probe delayed past the timeout: the ACK that the
/// probe's copy draws echoes the probe's TSval, older than the timeout's retransmission,
/// but the probe is the episode's first retransmission, so the timeout stands.
#[test]
fn a_late_probe_is_no_proof_of_a_spurious_timeout() {
    let mut c = Conn::established_ts(opts());
    acked_after_20_ms(&mut c, 100);
    c.tcb.write(&bytes(PEER_MSS / 2));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 1);
    let mut probe_ts = None;
    for _ in 0..4000 {
        c.advance(Duration::from_millis(1));
        for s in c.take() {
            if c.stats.timeouts == 0 {
                probe_ts = probe_ts.or(s.r.timestamp.map(|t| t.0));
            }
        }
        if c.stats.timeouts > 0 {
            break;
        }
    }
    assert!(c.stats.loss_probes > 0);
    let probe_ts = probe_ts.expect("a probe before the timeout");
    let mut r = c.seg(flags::ACK, c.tcb.snd_max);
    r.timestamp = Some((PEER_TS + 500, probe_ts));
    c.deliver(&r, &[]);
    assert_eq!(c.stats.spurious_undos, 0);
    assert_eq!(
        c.tcb.cc.cwnd(),
        PEER_MSS + PEER_MSS / 2,
        "slow start from one segment"
    );
}

/// RFC 5681 3.1 with RFC 6675 5.1: after a timeout the sender slow-starts from one segment,
/// one MSS per ACK (RFC 3465 2.3's L = 1), while the ACKs are still below the recovery
/// point; from ssthresh on congestion avoidance takes over, less than a segment per ACK
/// (`CongestionControl::on_ack` is called outside recovery, or after a timeout, and
/// nowhere else).
#[test]
fn after_a_timeout_partial_acks_grow_the_window_by_one_segment_up_to_ssthresh() {
    for alg in Algorithm::ALL {
        let mut c = Conn::established(ConnOpts {
            congestion: alg,
            ..opts()
        });
        c.tcb.tlp_enabled = false;
        c.tcb.cc.set_cwnd(20 * PEER_MSS);
        c.tcb.write(&bytes(20 * PEER_MSS));
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 20);
        until_the_first_timeout(&mut c);
        assert!(c.tcb.rto_recovery);
        assert_eq!(c.tcb.cc.cwnd(), PEER_MSS);
        let ssthresh = c.tcb.cc.ssthresh();
        // CUBIC keeps 0.7 of the flight, NewReno half of it.
        assert!(
            (10..=14).contains(&(ssthresh / PEER_MSS)),
            "{alg}: {ssthresh}"
        );
        let una = c.our_una();
        // The peer takes the retransmissions one at a time: 19 partial ACKs.
        for k in 1..20 {
            c.now += Duration::from_millis(10);
            let r = c.seg(flags::ACK, una + k * PEER_MSS);
            c.deliver(&r, &[]);
            c.take();
            assert!(c.tcb.in_recovery, "{alg}: recovery ended at ACK {k}");
            let cwnd = c.tcb.cc.cwnd();
            if (1 + k) * PEER_MSS < ssthresh {
                assert_eq!(cwnd, (1 + k) * PEER_MSS, "{alg}: after partial ACK {k}");
            } else {
                let since = (1 + k) - ssthresh.div_ceil(PEER_MSS);
                assert!(
                    cwnd >= ssthresh && cwnd < ssthresh + (since + 1) * PEER_MSS,
                    "{alg}: after partial ACK {k}: {cwnd}"
                );
            }
        }
    }
}

/// Send what is queued, each flight acknowledged a round trip later, until none is left.
fn send_all_acked(c: &mut Conn) {
    while c.tcb.unsent_or_unacked() > 0 {
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += RTT;
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
    }
}

/// RFC 9438 5.8: CUBIC's t leaves out an idle period, once. The idle restart ran at every
/// `output` while nothing was outstanding, and each shifted the epoch by the whole idle
/// time again: segments the peer sent while we were idle (each one runs `output`) moved
/// the epoch to now, and the curve started over from the plateau's far side.
#[test]
fn segments_received_while_idle_do_not_move_cubics_epoch_again() {
    let run = |segments_while_idle: usize| {
        let mut c = Conn::established(opts());
        lose_one_at_40_segments(&mut c);
        let start = c.now;
        while c.now.saturating_duration_since(start) < Duration::from_secs(2) {
            round(&mut c);
        }
        // Send what is queued and have it all acknowledged; then idle for 3 s, the peer
        // sending a few bytes at its end.
        send_all_acked(&mut c);
        c.now += Duration::from_secs(3);
        for k in 0..3 {
            if k < segments_while_idle {
                c.data(b"x");
            }
            c.now += Duration::from_millis(1);
        }
        let mut windows = Vec::new();
        for _ in 0..16 {
            round(&mut c);
            windows.push(c.tcb.cc.cwnd() / PEER_MSS);
        }
        windows
    };
    let quiet = run(0);
    let chatty = run(3);
    assert_eq!(quiet, chatty, "the same idle period, the same curve");
}

/// RFC 9438 5.8 for an idle gap shorter than the RTO (no window restart): CUBIC's t
/// leaves it out all the same (Linux's CA_EVENT_TX_START), so the curve after the gap is
/// the curve without it.
#[test]
fn a_short_idle_gap_is_left_out_of_cubics_curve() {
    let run = |gap: Duration| {
        let mut c = Conn::established(opts());
        lose_one_at_40_segments(&mut c);
        for _ in 0..3 {
            round(&mut c);
        }
        send_all_acked(&mut c);
        assert!(gap < c.tcb.rtt.rto());
        c.now += gap;
        let mut windows = Vec::new();
        for _ in 0..12 {
            round(&mut c);
            windows.push(c.tcb.cc.cwnd() / PEER_MSS);
        }
        (windows, c.stats.idle_restarts)
    };
    let (straight, _) = run(Duration::ZERO);
    let (gapped, restarts) = run(Duration::from_millis(300));
    assert_eq!(restarts, 0);
    assert_eq!(straight, gapped, "the same curve after a 0.3 s gap");
}

/// RFC 2883 4 judges a D-SACK against the ACK that carries it: an ACK overtaken by a
/// later one (reordered on the way back) arrives naming a block that SND.UNA has passed
/// since. That block was SACKed once, not received twice: no D-SACK is counted and RACK
/// sees no reordering from it. Before, the block was checked against SND.UNA, and a
/// reordering return path turned such ACKs into D-SACKs (49 in one 20 MB transfer to
/// Linux that retransmitted nothing), which grew RACK's window and fed the undo.
#[test]
fn an_overtaken_ack_is_no_d_sack() {
    let mut c = Conn::established(opts());
    c.tcb.write(&bytes(10 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 10);
    let una = c.tcb.snd_una;
    c.now += Duration::from_millis(5);
    let mut overtaken = c.seg(flags::ACK, una);
    overtaken.sack[0] = (una + PEER_MSS, una + 3 * PEER_MSS);
    overtaken.sack_count = 1;
    let later = c.seg(flags::ACK, una + 3 * PEER_MSS);
    c.deliver(&later, &[]);
    c.deliver(&overtaken, &[]);
    assert_eq!(c.tcb.snd_una, una + 3 * PEER_MSS);
    assert_eq!(c.stats.dsacks_in, 0);
    assert!(!c.tcb.rack.reordering_seen());
    // The same block below the ACK's own field is a duplicate report.
    let mut dup = c.seg(flags::ACK, una + 3 * PEER_MSS);
    dup.sack[0] = (una + PEER_MSS, una + 2 * PEER_MSS);
    dup.sack_count = 1;
    c.deliver(&dup, &[]);
    assert_eq!(c.stats.dsacks_in, 1);
}

/// RFC 6582 3.2 step 2: after a NewReno recovery whose full ACK is exactly `recover`, a
/// loss of the very next segment still draws a fast retransmit on three duplicate ACKs.
/// `recover` is one past RFC 6582's (SND.MAX, not the highest sequence number sent), so
/// "covers more than recover" is `>=` here: with `>`, the loss waited for the RTO (found
/// by a review).
#[test]
fn a_loss_right_after_a_newreno_recovery_is_fast_retransmitted() {
    let mut c = Conn::established_no_sack(ConnOpts {
        nodelay: true,
        ..opts()
    });
    c.tcb.write(&bytes(10 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 10);
    let una = c.our_una();
    let end = c.tcb.snd_max;
    c.now += Duration::from_millis(20);
    for _ in 0..3 {
        let r = c.seg(flags::ACK, una);
        c.deliver(&r, &[]);
    }
    assert!(c.tcb.in_recovery);
    c.take();
    c.now += Duration::from_millis(20);
    // The retransmission fills the hole: the full ACK is exactly `recover`.
    let r = c.seg(flags::ACK, end);
    c.deliver(&r, &[]);
    assert!(!c.tcb.in_recovery);
    // New data, its first segment lost; the others draw duplicate ACKs.
    c.tcb.write(&bytes(10 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take()[0].r.seq, end);
    c.now += Duration::from_millis(20);
    let mut out = Vec::new();
    for _ in 0..3 {
        let r = c.seg(flags::ACK, end);
        c.deliver(&r, &[]);
        out.extend(c.take());
    }
    assert!(
        c.tcb.in_recovery,
        "no fast retransmit: it waits for the RTO"
    );
    assert_eq!(c.stats.fast_retransmits, 2);
    assert!(
        out.iter().any(|s| s.r.seq == end),
        "the lost segment, again"
    );
}

/// RFC 1191 6.3: a "fragmentation needed" below 576 clears DF (segments of 536 for `ip` to
/// fragment); once the path's estimate expires, DF comes back. With the MSS at 536 already
/// (the peer's), the lowering was not remembered and DF stayed off for good (found by a
/// review).
#[test]
fn df_comes_back_after_a_narrow_path_expires_with_an_mss_of_536() {
    let mut c = Conn::connecting(
        TcpConfig::default(),
        ConnOpts {
            nodelay: true,
            ..opts()
        },
        1500,
    );
    c.take();
    c.deliver(&synack(Some(536)), &[]);
    c.peer_nxt = PEER_ISS + 1;
    c.take();
    c.tcb.write(&bytes(1000));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert!(c.take()[0].meta.dont_fragment);
    let mut st = TcpStats::default();
    c.tcb.path_mtu(&c.cfg, 296, 576, &mut c.tx, &mut st, c.now);
    assert!(c.take().iter().all(|s| !s.meta.dont_fragment));
    c.now += Duration::from_millis(20);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    // While the narrow estimate lasts, no DF.
    c.tcb.write(&bytes(100));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert!(c.take().iter().all(|s| !s.meta.dont_fragment));
    c.now += Duration::from_millis(20);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    // The estimate expires in ip: DF again.
    c.tx.pmtu = None;
    c.now += Duration::from_secs(1200);
    c.tcb.write(&bytes(500));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let d = c.take();
    assert!(
        !d.is_empty() && d.iter().all(|s| s.meta.dont_fragment),
        "DF never came back"
    );
}

/// Without SACK, after a timeout, one ACK of everything sent before it took the window
/// from one segment to ssthresh (a burst at line rate); slow start after an RTO grows by
/// at most one MSS per ACK (RFC 3465 2.3, RFC 5681 3.1), as the SACK path already did
/// (`after_a_timeout_slow_start_rebuilds_the_window`). Found by a review.
#[test]
fn without_sack_one_ack_after_a_timeout_grows_the_window_by_one_mss() {
    let mut c = Conn::established_no_sack(opts());
    a_flight_times_out(&mut c);
    c.take();
    c.now += Duration::from_millis(100);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    assert_eq!(c.tcb.cc.cwnd(), 2 * PEER_MSS, "one MSS more, no burst");
    assert!(c.take().len() <= 2);
    assert!(
        !c.tcb.rto_recovery,
        "everything from before the timeout is acknowledged"
    );
}

/// A connection with `alg`, with or without ECN and loss probes, whose first four
/// segments were acknowledged 20 ms later, then a window of 40 with `queued` segments
/// written: the connection and the 40 sent.
fn window_of_40(alg: Algorithm, ecn: bool, probes: bool, queued: usize) -> (Conn, Vec<Sent>) {
    let mut c = Conn::established(ConnOpts {
        congestion: alg,
        ..opts()
    });
    c.tcb.ecn_ok = ecn;
    c.tcb.tlp_enabled &= probes;
    c.tcb.write(&bytes(4 * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    c.now += Duration::from_millis(20);
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    c.tcb.cc.set_cwnd(40 * PEER_MSS);
    c.tcb.write(&bytes(queued * PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let sent = c.take();
    assert_eq!(sent.len(), 40);
    (c, sent)
}

/// RFC 3168 6.1.2: the window is not cut twice for one congestion. An ECE on the ACK of
/// the first segment of a window of 40 cuts it; the second segment, sent before that
/// cut, then proves lost: recovery resends it without a second cut (Linux's
/// tcp_enter_recovery in CWR). It was cut again, and CUBIC's fast convergence lowered
/// W_max twice (found by a review).
#[test]
fn a_loss_within_an_ecn_reductions_round_trip_cuts_nothing_more() {
    for alg in [Algorithm::Cubic, Algorithm::Reno] {
        let (mut c, sent) = window_of_40(alg, true, true, 40);
        let una = c.our_una();
        c.now += Duration::from_millis(20);
        let r = c.seg(flags::ACK | flags::ECE, una + PEER_MSS);
        c.deliver(&r, &[]);
        let after_ecn = (c.tcb.cc.cwnd(), c.tcb.cc.ssthresh());
        assert_eq!(c.stats.ecn_reductions, 1, "{alg}");
        c.take();
        let una = c.our_una();
        for s in &sent[2..] {
            let mut r = c.seg(flags::ACK | flags::ECE, una);
            r.sack[0] = (una + PEER_MSS, s.r.seq + s.data.len());
            r.sack_count = 1;
            c.deliver(&r, &[]);
        }
        assert_eq!(c.stats.fast_retransmits, 1, "{alg}: the loss is repaired");
        assert!(c.take().iter().any(|s| s.r.seq == una), "{alg}: resent");
        assert_eq!(
            c.tcb.cc.ssthresh(),
            after_ecn.1,
            "{alg}: ssthresh cut twice in one window"
        );
        assert!(c.tcb.cc.cwnd() <= after_ecn.0, "{alg}");
    }
}

/// RFC 3168 6.1.2 and RFC 5681 3.1: a timeout within the round trip of an ECN reduction
/// collapses the window but does not cut ssthresh a second time for the same window of
/// data, as Linux's tcp_enter_loss keeps ssthresh in CWR (found in the last session's
/// list: it was cut again from the flight).
#[test]
fn a_timeout_within_an_ecn_reductions_round_trip_keeps_ssthresh() {
    for alg in [Algorithm::Cubic, Algorithm::Reno] {
        let (mut c, _) = window_of_40(alg, true, true, 40);
        let una = c.our_una();
        c.now += Duration::from_millis(20);
        let r = c.seg(flags::ACK | flags::ECE, una + PEER_MSS);
        c.deliver(&r, &[]);
        assert_eq!(c.stats.ecn_reductions, 1, "{alg}");
        let ssthresh = c.tcb.cc.ssthresh();
        until_the_first_timeout(&mut c);
        assert_eq!(c.tcb.cc.cwnd(), PEER_MSS, "{alg}");
        assert_eq!(
            c.tcb.cc.ssthresh(),
            ssthresh,
            "{alg}: cut twice in one window"
        );
    }
}

/// Likewise a timeout during a fast recovery (before `recover` is acknowledged): the
/// recovery cut ssthresh for this window, and the timeout leaves it (Linux's Recovery
/// state before high_seq).
#[test]
fn a_timeout_during_a_fast_recovery_keeps_its_ssthresh() {
    let (mut c, sent) = window_of_40(Algorithm::Reno, false, false, 80);
    let una = c.our_una();
    c.now += Duration::from_millis(20);
    // Segments 1 to 3 SACKed: 0 is lost, recovery begins (ssthresh half the flight).
    // More SACKs let new data out, so the flight grows past what it was.
    for s in &sent[1..36] {
        let mut r = c.seg(flags::ACK, una);
        r.sack[0] = (una + PEER_MSS, s.r.seq + s.data.len());
        r.sack_count = 1;
        c.deliver(&r, &[]);
    }
    assert!(c.tcb.in_recovery);
    let ssthresh = c.tcb.cc.ssthresh();
    let flight = c.tcb.snd_max.since(una);
    assert!(flight > 2 * ssthresh + 2 * PEER_MSS, "{flight} {ssthresh}");
    // Then nothing more comes back until the retransmission timer fires.
    until_the_first_timeout(&mut c);
    assert_eq!(c.tcb.cc.cwnd(), PEER_MSS);
    assert_eq!(c.tcb.cc.ssthresh(), ssthresh, "cut twice in one window");
}

/// A path of 20 ms with a bottleneck of one segment per millisecond behind a queue of
/// 60 segments (three times the bandwidth-delay product of 20): each segment leaves the
/// queue a millisecond after the one before it, and its ACK (echoing its TSval) comes 20
/// ms after it leaves. The sender runs from the handshake until the queue first
/// overflows and on until the ACK that would tell it (the next segment's, which a real
/// peer would send as a duplicate): it learns nothing before, so the peer may well
/// acknowledge everything up to then. Returns the connection and the segments dropped
/// by then.
fn overflow_a_queue(alg: Algorithm, hystart: bool, timestamps: bool) -> (Conn, usize) {
    const SERVICE: Duration = Duration::from_millis(1);
    const BASE: Duration = Duration::from_millis(20);
    const QUEUE: usize = 60;
    let o = ConnOpts {
        congestion: alg,
        sndbuf: 4 << 20,
        ..opts()
    };
    let mut c = if timestamps {
        Conn::established_ts_scaled(o, Some(7))
    } else {
        Conn::established_scaled(o, Some(7))
    };
    c.cfg.hystart = hystart;
    // Segments on the path, in order (the bottleneck keeps it): when the ACK arrives,
    // when the segment leaves the queue, what the ACK acknowledges, the TSval it echoes,
    // and whether a segment before it was dropped.
    let mut path: VecDeque<(Instant, Instant, Seq, Option<u32>, bool)> = VecDeque::new();
    let mut free_at = c.now;
    let mut dropped = 0;
    let end = c.now + Duration::from_secs(10);
    while c.now < end {
        refill_and_send(&mut c);
        for s in c.take() {
            if path.iter().filter(|p| p.1 > c.now).count() >= QUEUE {
                dropped += 1;
                continue;
            }
            let leaves = free_at.max(c.now) + SERVICE;
            free_at = leaves;
            let tsval = s.r.timestamp.map(|(v, _)| v);
            let end = s.r.seq + s.data.len();
            path.push_back((leaves + BASE, leaves, end, tsval, dropped > 0));
        }
        let (at, _, ack, tsval, after_a_drop) = path.pop_front().expect("data in flight");
        if after_a_drop {
            return (c, dropped);
        }
        c.now = at;
        let mut r = c.seg(flags::ACK, ack);
        r.timestamp = tsval.map(|v| (PEER_TS + 1, v));
        c.deliver(&r, &[]);
    }
    panic!("{alg}: the queue never overflowed");
}

/// RFC 9406: the delay the queue adds ends slow start (through CSS, whose ACKs grow the
/// window by a quarter of a segment each) well before the queue overflows; the
/// overflow, when it comes, loses about a third of what standard slow start's does (26
/// segments against 81), which sends two segments per ACK into it until the news of the
/// first drop gets back.
#[test]
fn hystart_overflows_a_queue_by_a_third_of_what_slow_start_does() {
    // With timestamps, and without: RACK's per-ACK round trips serve then.
    for (alg, ts) in Algorithm::ALL
        .into_iter()
        .flat_map(|a| [(a, true), (a, false)])
    {
        let (c, standard) = overflow_a_queue(alg, false, ts);
        assert_eq!(c.stats.hystart_css, 0, "{alg}");
        let (c, hystart) = overflow_a_queue(alg, true, ts);
        assert_eq!(c.stats.hystart_css, 1, "{alg} {ts}");
        assert_eq!(c.tcb.cc.losses(), 0, "{alg} {ts}");
        assert!(
            standard >= 30 && hystart * 2 <= standard,
            "{alg} {ts}: {hystart} dropped with HyStart++, {standard} without"
        );
    }
}

/// A round-trip time that does not rise never ends slow start.
#[test]
fn a_steady_path_keeps_slow_start_with_hystart() {
    let mut c = Conn::established_ts(opts());
    // Every round trip acknowledged whole after 20 ms.
    for _ in 0..5 {
        refill_and_send(&mut c);
        let sent = c.take();
        c.now += Duration::from_millis(20);
        for s in &sent {
            let mut r = c.seg(flags::ACK, s.r.seq + s.data.len());
            r.timestamp = Some((PEER_TS + 1, s.r.timestamp.unwrap().0));
            c.deliver(&r, &[]);
        }
    }
    assert_eq!(c.stats.hystart_css, 0);
    assert_eq!(c.tcb.cc.ssthresh(), usize::MAX / 2);
}

/// A passive open: the handshake's ACK acknowledges our SYN-ACK, no data. It is no ACK
/// of slow start (RFC 9406 4.2's N, the bytes acknowledged, is 0): the RTT of a SYN-ACK
/// must not become the minimum the first round of data is measured against, which
/// starts at infinity (as on an active open, where the SYN-ACK takes no such path). Here
/// the data's round trip is 20 ms against the SYN-ACK's 10 ms (a full segment's time at
/// a slow bottleneck, which a 60-byte SYN-ACK does not spend): not a rise within slow
/// start.
#[test]
fn hystart_does_not_measure_the_first_data_round_against_the_syn_ack() {
    let cfg = TcpConfig::default();
    let now = Instant::from_secs(1);
    let syn = TcpRepr {
        src_port: PEER.port(),
        dst_port: US.port(),
        seq: PEER_ISS,
        flags: flags::SYN,
        window: 65_535,
        mss: Some(PEER_MSS as u16),
        sack_permitted: true,
        timestamp: Some((PEER_TS, 0)),
        ..TcpRepr::default()
    };
    let mut tx = Wire::default();
    let mut stats = TcpStats::default();
    let tcb = Tcb::accept_syn(
        &cfg,
        US,
        PEER,
        &syn,
        SynFastOpen::None,
        OUR_ISS,
        0,
        (1500, 1500),
        opts(),
        &mut tx,
        &mut stats,
        now,
    );
    let mut c = Conn {
        tcb,
        tx,
        stats,
        cfg,
        now,
        peer_nxt: PEER_ISS + 1,
    };
    let synack = c.take();
    assert!(synack[0].r.has(flags::SYN | flags::ACK));
    let tsval = synack[0].r.timestamp.expect("timestamps are on").0;
    c.now += Duration::from_millis(10);
    let mut r = c.seg(flags::ACK, Seq(OUR_ISS) + 1);
    r.timestamp = Some((PEER_TS + 1, tsval));
    c.deliver(&r, &[]);
    assert_eq!(c.tcb.state, State::Established);
    // The initial window, each segment acknowledged 20 ms after it left.
    refill_and_send(&mut c);
    let sent = c.take();
    assert!(sent.len() >= 8, "{} segments", sent.len());
    c.now += Duration::from_millis(20);
    for s in &sent {
        let mut r = c.seg(flags::ACK, s.r.seq + s.data.len());
        r.timestamp = Some((PEER_TS + 2, s.r.timestamp.expect("timestamps are on").0));
        c.deliver(&r, &[]);
    }
    assert_eq!(c.stats.hystart_css, 0);
    assert_eq!(c.tcb.cc.ssthresh(), usize::MAX / 2);
}
