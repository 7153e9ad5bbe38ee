//! Review of this session's changes: each test shows one defect (see its comment).

use super::harness::*;
use super::*;

/// A simultaneous open (RFC 9293 figure 8) keeps retransmitting our SYN, as a SYN-ACK, in
/// SYN-RECEIVED: a TCP_USER_TIMEOUT set before connect bounds those retransmissions too,
/// from the first SYN, as Linux's tcp_write_timeout does for TCP_SYN_RECV (its
/// retrans_stamp, set by tcp_connect, is not reset by the crossed SYN) and as RFC 9293
/// 3.8.3 (R2 for a SYN, set by the application) asks. `set_state` stopped the clock when
/// SYN-SENT ended, so the handshake then ran to `syn_retries` (127 s for a 5 s timeout).
#[test]
fn a_set_user_timeout_bounds_a_simultaneous_open() {
    let mut o = opts();
    o.user_timeout = Some(Duration::from_secs(5));
    let mut c = Conn::connecting(TcpConfig::default(), o, 1500);
    assert_eq!(c.take().len(), 1, "the SYN");
    let start = c.now;
    // The peer's SYN crosses ours: SYN-RECEIVED, our SYN-ACK goes.
    c.now += Duration::from_millis(10);
    let syn = TcpRepr {
        flags: flags::SYN,
        ack: Seq(0),
        ..synack(Some(PEER_MSS as u16))
    };
    c.deliver(&syn, &[]);
    assert_eq!(c.tcb.state, State::SynReceived);
    assert!(c.take().iter().any(|s| s.r.has(flags::SYN | flags::ACK)));
    // Nothing more from the peer.
    while c.tcb.state != State::Closed && c.now < start + Duration::from_secs(600) {
        let at = c.tcb.poll_at().expect("a timer runs");
        c.advance(at.saturating_duration_since(c.now));
        c.take();
    }
    assert_eq!(c.tcb.state, State::Closed);
    let took = c.now.saturating_duration_since(start);
    assert!(
        took <= Duration::from_millis(5_200),
        "the handshake failed {took:?} after the SYN"
    );
}

/// The pure-ACK rule (`acceptable_text`: SEQ in [Last.ACK.sent, RCV.NXT)) takes a bare
/// ACK that the peer's next data overtook. Sent before that data, with the same SEQ and
/// ACK, it passes RFC 9293's window-update test (SND.WL1 = SEG.SEQ, SND.WL2 =< SEG.ACK)
/// and puts back the older window the data's segment had replaced (Linux's
/// tcp_may_update_window takes a same-SEQ, same-ACK window only if larger, or zero).
/// Here the sender then sees 1,000 bytes of room where the peer offers 65,535.
#[test]
fn a_bare_ack_overtaken_by_data_does_not_bring_back_its_older_window() {
    let mut c = Conn::established(opts());
    let una = c.tcb.snd_una;
    // The peer's bare ACK, window 1,000, then its data with window 65,535 (same SEQ, same
    // ACK): the data arrives first.
    let old = TcpRepr {
        window: 1_000,
        ..c.seg(flags::ACK, una)
    };
    let data = TcpRepr {
        window: 65_535,
        ..c.seg(flags::ACK | flags::PSH, una)
    };
    c.deliver(&data, &[5u8; 100]);
    c.peer_nxt = c.peer_nxt + 100;
    assert_eq!(c.tcb.snd_wnd, 65_535);
    assert!(c.take().is_empty(), "the ACK of the data is delayed");
    // Then the bare ACK, at Last.ACK.sent: taken, its acknowledgment counts for nothing
    // new, and its window is the older one.
    c.deliver(&old, &[]);
    assert_eq!(c.tcb.snd_wnd, 65_535, "the older window came back");
}
