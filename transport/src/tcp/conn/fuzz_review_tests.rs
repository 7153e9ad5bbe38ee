//! Found by the `tcb` fuzz target (`tests/src/fuzz/tcb.rs`), which plays the peer with
//! segments placed by the connection's own numbers: each test shows one defect (see its
//! comment).

use super::harness::*;
use super::*;

/// Half the sequence space from RCV.NXT: `Seq::lt` holds both ways there (the signed
/// distance is i32::MIN) and `since` says 0. The acceptability test's third case (a
/// segment that starts before RCV.NXT and ends beyond the window) took such a segment for
/// one spanning the window: a SYN then underflowed `skip -= 1` in the trimming (a panic in
/// a debug or fuzz build, from a segment any peer can send), and without the overflow
/// check it went on as a SYN in the window.
#[test]
fn a_syn_half_the_sequence_space_away_is_not_acceptable() {
    let mut c = Conn::established(opts());
    let una = c.our_una();
    let r = TcpRepr {
        seq: c.peer_nxt + (1usize << 31),
        ..c.seg(flags::SYN | flags::ACK, una)
    };
    c.deliver(&r, &[1u8; 10]);
    assert_eq!(c.tcb.state, State::Established);
    assert_eq!(c.tcb.readable_bytes(), 0);
    assert_eq!(c.tcb.rcv_nxt, c.peer_nxt);
}

/// The same place with a bare FIN: it was taken as if at RCV.NXT (the offset beyond the
/// hole reckoned by `since` was 0), and the stream ended there.
#[test]
fn a_fin_half_the_sequence_space_away_does_not_end_the_stream() {
    let mut c = Conn::established(opts());
    let una = c.our_una();
    let r = TcpRepr {
        seq: c.peer_nxt + (1usize << 31),
        ..c.seg(flags::FIN | flags::ACK, una)
    };
    c.deliver(&r, &[]);
    assert_eq!(c.tcb.state, State::Established);
    assert!(!c.tcb.fin_received);
    assert_eq!(c.tcb.rcv_nxt, c.peer_nxt);
    // The stream goes on.
    c.data(&bytes(10));
    assert_eq!(c.tcb.readable_bytes(), 10);
}

/// A user timeout set (or shortened) while data waits after a timeout: the next poll,
/// run for another timer (a delayed ACK here), brought the retransmission timer to the
/// user timeout's end, long past, and left it there: a deadline at or before the instant
/// just polled (the runtime polls again at once; the stack-wide invariant is that it need
/// not). Linux's tcp_clamp_rto_to_user_timeout arms it a jiffy ahead at the least, and
/// the connection ends then.
#[test]
fn a_user_timeout_already_passed_leaves_no_timer_in_the_past() {
    let mut c = Conn::established(opts());
    c.tcb.write(&bytes(PEER_MSS));
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    // No answer (a loss probe first, perhaps): the first timeout starts the stall.
    while c.stats.timeouts == 0 {
        let at = c.tcb.poll_at().expect("the RTO");
        c.advance(at - c.now);
    }
    // The peer's data (no new ACK) arms the delayed ACK; then the application sets a user
    // timeout the stall has already outlasted.
    c.advance(Duration::from_millis(500));
    c.data(&bytes(10));
    c.take();
    c.tcb.opts.user_timeout = Some(Duration::from_millis(1));
    let at = c.tcb.poll_at().expect("the delayed ACK");
    c.advance(at - c.now);
    assert!(
        c.tcb.state == State::Closed || c.tcb.poll_at().is_none_or(|t| t > c.now),
        "{:?} due at {:?} after a poll at {}",
        c.tcb.state,
        c.tcb.poll_at(),
        c.now
    );
}
