//! Receive-side review: each test shows one defect found in the receive path (see the
//! test's comment).

use super::harness::*;
use super::*;

/// RFC 5681 4.2: "an immediate ACK SHOULD be generated when a segment arrives that fills
/// in all or part of a gap in the sequence space". A bare FIN beyond a hole occupies
/// sequence space there (Linux keeps it in the out-of-order queue, so the in-order data
/// that arrives while it waits is ACKed at once by __tcp_ack_snd_check's out-of-order
/// test). Here the peer's last two segments are lost, its FIN arrives, then the first
/// segment is retransmitted: its ACK is the partial ACK the sender's recovery waits for.
#[test]
fn data_filling_part_of_the_gap_before_a_fin_is_acked_at_once() {
    let mut c = Conn::established(opts());
    let hole = c.peer_nxt;
    let mut r = c.seg(flags::ACK | flags::FIN, c.our_una());
    r.seq = hole + 2 * PEER_MSS;
    c.deliver(&r, &[]);
    let dup = c.take();
    assert_eq!(dup.last().map(|s| s.r.ack), Some(hole), "a duplicate ACK");
    // The first lost segment comes again: part of the gap before the FIN fills.
    c.data(&bytes(PEER_MSS));
    let out = c.take();
    assert_eq!(
        out.last().map(|s| s.r.ack),
        Some(hole + PEER_MSS),
        "the partial fill is ACKed at once: {out:?}"
    );
}

/// A FIN beyond a hole is SACKed (RFC 2018: it is received sequence space; Linux's
/// out-of-order queue holds it and tcp_sack_new_ofo_skb covers its sequence number):
/// a bare FIN with a block of its own, a FIN with data by the data's block growing by
/// one. Neither was: the sender's scoreboard took the FIN for lost.
#[test]
fn a_fin_beyond_a_hole_is_sacked() {
    let mut c = Conn::established(opts());
    let hole = c.peer_nxt;
    let mut r = c.seg(flags::ACK | flags::FIN, c.our_una());
    r.seq = hole + 2 * PEER_MSS;
    c.deliver(&r, &[]);
    let dup = c.take();
    let last = dup.last().expect("a duplicate ACK");
    assert_eq!(last.r.ack, hole);
    let fin = hole + 2 * PEER_MSS;
    assert_eq!(last.r.sack_blocks(), &[(fin, fin + 1)]);

    let mut c = Conn::established(opts());
    let hole = c.peer_nxt;
    let mut r = c.seg(flags::ACK | flags::FIN, c.our_una());
    r.seq = hole + PEER_MSS;
    c.deliver(&r, &bytes(100));
    let dup = c.take();
    let last = dup.last().expect("a duplicate ACK");
    let start = hole + PEER_MSS;
    assert_eq!(last.r.sack_blocks(), &[(start, start + 101)]);
}

/// A read that reopens a window the peer was last told is zero announces it (Linux's
/// tcp_cleanup_rbuf measures the window last advertised, tcp_receive_window; RFC 9293
/// 3.8.6.2.2's receiver keeps RCV.WND as sent). With window scale 14 an edge rounded down
/// to the scale's unit tells the peer 0 while `rcv_adv`, the furthest edge ever, is up
/// to 16 KB ahead; `after_read` measured from `rcv_adv` and, in a 16 KB buffer, found
/// more than half the buffer "announced": no update, and the peer waited for its
/// zero-window probe.
#[test]
fn a_read_reopening_a_window_told_zero_after_rounding_is_announced() {
    let mut c = Conn::established_scaled(
        ConnOpts {
            rcvbuf: 16 * 1024,
            rcvbuf_max: 1 << 30,
            ..opts()
        },
        Some(7),
    );
    assert_eq!(c.tcb.rcv_wscale, 14);
    let mut last = None;
    for _ in 0..18 {
        c.data(&bytes(PEER_MSS));
        if let Some(s) = c.take().last() {
            last = Some(s.r);
        }
    }
    let last = last.expect("ACKs");
    assert_eq!(last.ack, c.peer_nxt);
    assert_eq!(last.window, 0, "the peer is told the window is shut");
    // The application reads everything: 16 KB free.
    let mut buf = vec![0u8; 64 * 1024];
    assert_eq!(c.tcb.read(&mut buf), 18 * PEER_MSS);
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let out = c.take();
    assert!(
        out.iter().any(|s| s.r.window > 0),
        "the reopened window is announced: {out:?}"
    );
}

/// Data received again means our ACK came too late or was lost: Linux re-enters its
/// quick-ACK mode (tcp_send_dupack and tcp_data_queue's old-data path call
/// tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS)), so the segments that follow, often a
/// sender's restart at a window of one segment after its timeout, are ACKed at once
/// instead of waiting for the delayed-ACK timer. Here only the duplicate's own ACK went at
/// once once the connection's first quick ACKs were spent.
#[test]
fn data_received_again_brings_quick_acks_back() {
    let mut c = Conn::established_quick(opts());
    for _ in 0..16 {
        c.data(&bytes(PEER_MSS));
        assert_eq!(c.take().len(), 1, "a quick ACK");
    }
    assert_eq!(c.tcb.quick_acks, 0);
    // A segment whose ACK is delayed, and the peer's retransmission of it.
    c.data(&bytes(PEER_MSS));
    assert!(c.take().is_empty(), "delayed");
    let mut r = c.seg(flags::ACK, c.our_una());
    r.seq = c.peer_nxt - PEER_MSS;
    c.deliver(&r, &bytes(PEER_MSS));
    assert_eq!(c.take().len(), 1, "the duplicate's ACK");
    // The sender restarts with one segment: ACKed at once.
    c.data(&bytes(PEER_MSS));
    let out = c.take();
    assert!(
        out.iter().any(|s| s.r.ack == c.peer_nxt),
        "the next segment is ACKed at once: {out:?}"
    );
}

/// An ACK owed when a data segment that would have carried it is refused by the IP layer
/// stays owed, as a refused pure ACK does (`send_ack`, Linux's tcp_send_ack retrying after
/// TCP_DELACK_MAX): `emit` took it as paid whatever became of the segment, so the peer's
/// data went unacknowledged until our retransmission timeout resent the data, here more
/// than 500 ms later (RFC 1122 4.2.3.2: an ACK is delayed less than 0.5 s).
#[test]
fn an_ack_owed_on_a_refused_data_segment_stays_owed() {
    let mut c = Conn::established(opts());
    steady_path(&mut c, Duration::from_millis(700), 10);
    assert!(
        c.tcb.rtt.rto() > Duration::from_millis(500),
        "{:?}",
        c.tcb.rtt.rto()
    );
    // The peer's request: its ACK is delayed.
    c.data(&bytes(100));
    assert!(c.take().is_empty());
    // The reply is written while the transmit queue is full.
    c.tcb.write(&bytes(100));
    let fails = c.stats.send_failures;
    c.tcb
        .output(&c.cfg, &mut Refusing(Wire::default()), &mut c.stats, c.now);
    assert!(c.stats.send_failures > fails, "the reply was refused");
    // The queue drains; nothing else happens: the timers run as they fall due.
    let deadline = c.now + Duration::from_millis(500);
    let mut acked = false;
    while let Some(at) = c.tcb.poll_at().filter(|&at| at <= deadline && !acked) {
        c.now = at;
        c.tcb.poll(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        acked = c.take().iter().any(|s| s.r.ack == c.peer_nxt);
    }
    assert!(acked, "the peer's data is acknowledged within 500 ms");
}

/// A segment that starts before RCV.NXT and ends beyond the right edge carries the whole
/// window's worth of new data. RFC 9293's acceptability test looks only at its first and
/// last octets, neither of which is in the window, and refused it; its own trimming rule
/// ("only the new parts are processed") and Linux's tcp_sequence (which asks only that
/// the segment end at or after the edge last ACKed and start before the right edge) keep
/// the part in the window. A peer whose retransmission overlaps what we took and runs
/// past our edge (a coalesced retransmission after the window was rounded down, say)
/// would otherwise send the same refused segment again and again.
#[test]
fn a_segment_covering_the_window_from_before_rcv_nxt_keeps_its_part_in_the_window() {
    let mut c = Conn::established(opts());
    c.data(&bytes(100));
    c.take();
    let nxt = c.tcb.rcv_nxt;
    let wnd = c.tcb.rcv_adv.since(nxt);
    assert!(wnd > 0);
    let mut r = c.seg(flags::ACK, c.our_una());
    r.seq = nxt - 50;
    c.deliver(&r, &bytes(50 + wnd + 100));
    assert_eq!(
        c.tcb.rcv_nxt,
        nxt + wnd,
        "the part in the window is taken, the rest cut"
    );
    let out = c.take();
    assert_eq!(out.last().map(|s| s.r.ack), Some(nxt + wnd), "{out:?}");
}

/// The peer's pure ACK overtaken by the data it sent next (reordering on the path) has a
/// sequence number below RCV.NXT once that data is in. RFC 9293's test refuses it as a
/// duplicate, so its acknowledgment and window are lost and we answer with an ACK of our
/// own. Linux's tcp_sequence takes any segment that ends at or after `rcv_wup`, the
/// RCV.NXT our last ACK carried: a segment the peer sent after our last ACK cannot be an
/// old duplicate. Its ACK field counts (the window only by RFC 9293's SND.WL1 rule).
#[test]
fn a_pure_ack_overtaken_by_the_peers_next_data_still_counts() {
    let mut c = Conn::established(opts());
    c.tcb.write(&bytes(1000));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 1);
    let snd_max = c.tcb.snd_max;
    // The peer ACKs our data, then sends data of its own; the data arrives first, and
    // our ACK of it waits (delayed).
    let mut ack = c.seg(flags::ACK, snd_max);
    c.tcb.quick_acks = 0;
    c.data(&bytes(100));
    assert!(c.take().is_empty(), "our ACK of the data is delayed");
    ack.seq = c.peer_nxt - 100;
    c.deliver(&ack, &[]);
    assert_eq!(c.tcb.snd_una, snd_max, "the overtaken ACK counts");
    assert_eq!(c.stats.dup_segments, 0);
    // One of ours that the peer already had: RFC 9293's refusal stands for it.
    let before = c.tcb.last_ack_sent;
    c.tcb.ack_now = true;
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    assert!(c.tcb.last_ack_sent.gt(before));
    c.deliver(&ack, &[]);
    assert_eq!(
        c.stats.dup_segments, 1,
        "older than our last ACK: a duplicate"
    );
}
