//! Review of connection teardown: each test shows one defect (see its comment).

use super::harness::*;
use super::*;

/// The peer's FIN, beyond a hole, ends the stream where it stands: bytes the peer sends
/// beyond it contradict it. They were kept, and once the hole filled they joined the
/// readable bytes, passing the FIN by: the application read them, and the stream never
/// ended (the FIN, behind RCV.NXT now, was old). The ACK for the hole then reckoned a
/// SACK block from the FIN's offset behind the in-order end: a subtraction that
/// overflowed, a panic in a debug or fuzz build (a peer's own segments, no forgery).
/// Linux's tcp_fin purges the out-of-order queue.
#[test]
fn data_beyond_a_fin_held_beyond_a_hole_is_not_taken() {
    let mut c = Conn::established(opts());
    let una = c.our_una();
    let base = c.peer_nxt;
    // The FIN at +10, beyond a hole; then 10 bytes from +10, beyond it.
    let fin = TcpRepr {
        seq: base + 10,
        ..c.seg(flags::FIN | flags::ACK, una)
    };
    c.deliver(&fin, &[]);
    let beyond = TcpRepr {
        seq: base + 10,
        ..c.seg(flags::ACK, una)
    };
    c.deliver(&beyond, &[9u8; 10]);
    // The hole.
    c.deliver(&c.seg(flags::ACK, una), &[1u8; 10]);
    assert_eq!(c.tcb.state, State::CloseWait);
    assert_eq!(c.tcb.readable_bytes(), 10);
    assert!(c.tcb.fin_received);
    let acks = c.take();
    assert_eq!(acks.last().map(|s| s.r.ack), Some(base + 11), "{acks:?}");
}

/// The same with the bytes beyond the FIN held first: the segment that fills the hole
/// carries the FIN, and its bytes joined those held beyond, which became readable while
/// the FIN, no longer at the in-order end, was not taken.
#[test]
fn data_held_beyond_a_hole_does_not_pass_the_fin_that_fills_it() {
    let mut c = Conn::established(opts());
    let una = c.our_una();
    let base = c.peer_nxt;
    let held = TcpRepr {
        seq: base + 10,
        ..c.seg(flags::ACK, una)
    };
    c.deliver(&held, &[9u8; 20]);
    c.deliver(&c.seg(flags::ACK | flags::FIN, una), &[1u8; 10]);
    assert_eq!(c.tcb.state, State::CloseWait);
    assert_eq!(c.tcb.readable_bytes(), 10);
    let mut buf = [0u8; 64];
    assert_eq!(c.tcb.read(&mut buf), 10);
    assert_eq!(&buf[..10], &[1u8; 10]);
}

/// A bare FIN at RCV.NXT with bytes held beyond it: they can never be delivered, and
/// were kept (their memory charged) and reported in SACK blocks, shifted by the FIN, on
/// every ACK until the connection ended.
#[test]
fn a_fin_at_rcv_nxt_lets_go_of_what_was_held_beyond_it() {
    let mut c = Conn::established(opts());
    let una = c.our_una();
    let base = c.peer_nxt;
    let held = TcpRepr {
        seq: base + 10,
        ..c.seg(flags::ACK, una)
    };
    c.deliver(&held, &[9u8; 20]);
    c.take();
    c.deliver(&c.seg(flags::ACK | flags::FIN, una), &[]);
    assert_eq!(c.tcb.state, State::CloseWait);
    let acks = c.take();
    let ack = acks.last().expect("the FIN's ACK");
    assert_eq!(ack.r.ack, base + 1);
    assert_eq!(ack.r.sack_count, 0, "{ack:?}");
    assert_eq!(c.tcb.rx.ooo_bytes(), 0);
}
