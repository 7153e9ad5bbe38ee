//! A connection under memory pressure (`super::super::mem`): its buffers stop growing, what
//! does not fit is dropped and comes again, and nothing is lost or reordered.

use super::harness::*;
use super::*;
use crate::tcp::mem::{Charge, MemPool};

const KB: usize = 1024;

/// A pool whose bound is already passed by another connection's charge (`hog`), and a
/// connection with a fixed 256 KB receive buffer charging it.
fn pressed() -> (Conn, std::sync::Arc<MemPool>, Charge) {
    let pool = MemPool::new(100 * KB);
    let mut hog = Charge::default();
    hog.attach(pool.clone());
    hog.set(200 * KB);
    let mut c = Conn::established_scaled(
        ConnOpts {
            rcvbuf: 256 * KB,
            rcvbuf_max: 256 * KB,
            ..opts()
        },
        Some(7),
    );
    c.tcb.attach_mem(pool.clone());
    (c, pool, hog)
}

/// Byte `o` of the peer's stream.
fn stream(from: usize, n: usize) -> Vec<u8> {
    (from..from + n).map(|o| (o % 251) as u8).collect()
}

/// The right edge of the window in the last segment we sent.
fn edge(sent: &[Sent], wscale: u8) -> Seq {
    let last = sent.last().expect("a segment");
    last.r.ack + (usize::from(last.r.window) << wscale)
}

#[test]
fn under_pressure_the_ring_stays_small_and_what_lies_beyond_comes_again() {
    let (mut c, pool, hog) = pressed();
    let before = c.tcb.rcv_adv;
    // The peer sends 64 KB into the window it was offered (256 KB) before anyone reads.
    for i in 0..64 {
        let d = stream(i * PEER_MSS, PEER_MSS);
        c.data(&d);
    }
    c.tcb.ack_now = true;
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let sent = c.take();
    assert_eq!(
        c.tcb.rx.capacity(),
        rxring::INITIAL,
        "the ring did not grow"
    );
    assert_eq!(c.tcb.rx.readable(), rxring::INITIAL);
    assert!(
        c.stats.mem_pressure_drops >= 64 - 17,
        "{}",
        c.stats.mem_pressure_drops
    );
    assert_eq!(pool.used(), 200 * KB + rxring::INITIAL);
    assert!(
        edge(&sent, c.tcb.rcv_wscale).le(before),
        "the window's edge did not move on"
    );
    // Reading frees the ring; the peer sends again from the first byte dropped, and the
    // stream arrives whole and in order.
    let mut got = Vec::new();
    while got.len() < 64 * PEER_MSS {
        c.tcb.read_with(usize::MAX, |b| {
            got.extend_from_slice(b);
            b.len()
        });
        c.peer_nxt = PEER_ISS + 1 + got.len();
        let n = (64 * PEER_MSS - got.len()).min(4 * PEER_MSS);
        for k in 0..n.div_ceil(PEER_MSS) {
            let from = got.len() + k * PEER_MSS;
            let len = PEER_MSS.min(64 * PEER_MSS - from);
            c.data(&stream(from, len));
        }
    }
    assert_eq!(got, stream(0, 64 * PEER_MSS));
    // Without pressure the ring grows to the whole buffer again.
    drop(hog);
    c.tcb.read_with(usize::MAX, |b| b.len());
    for i in 0..40 {
        c.data(&stream(i, PEER_MSS));
    }
    assert!(c.tcb.rx.capacity() >= 256 * KB, "{}", c.tcb.rx.capacity());
    assert_eq!(pool.used(), c.tcb.rx.capacity() + c.tcb.sndq.capacity());
}

#[test]
fn under_pressure_a_sender_queues_what_its_queue_holds_and_an_empty_one_64_kb() {
    let (mut c, pool, hog) = pressed();
    let data = vec![5u8; 256 * KB];
    assert_eq!(c.tcb.write(&data), SEND_MIN_UNDER_PRESSURE);
    let cap = c.tcb.sndq.capacity();
    assert_eq!(pool.used(), 200 * KB + cap);
    // What is left of the queue's allocation, no more.
    assert_eq!(c.tcb.write(&data), cap - SEND_MIN_UNDER_PRESSURE);
    assert_eq!(c.tcb.sndq.capacity(), cap);
    assert_eq!(c.tcb.write(&data), 0);
    assert!(!c.tcb.writable());
    // Half the queue acknowledged: room for a third of what it may hold now is enough to
    // wake the writer (a third of the whole send buffer would wait for it to empty).
    let half = c.tcb.snd_una + cap / 2;
    while c.tcb.snd_una.lt(half) {
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.tcb.snd_nxt;
        let ack = if sent.lt(half) { sent } else { half };
        let r = TcpRepr {
            window: 65_535,
            ..c.seg(flags::ACK, ack)
        };
        c.deliver(&r, &[]);
    }
    assert_eq!(c.tcb.sndq.len(), cap / 2);
    assert!(c.tcb.writable(), "{} free of {cap}", c.tcb.send_space());
    // The peer acknowledges everything: the empty queue gives its memory back and the
    // writer may queue again.
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    while !c.tcb.sndq.is_empty() {
        c.take();
        let ack = c.tcb.snd_nxt;
        let r = TcpRepr {
            window: 65_535,
            ..c.seg(flags::ACK, ack)
        };
        c.deliver(&r, &[]);
    }
    assert_eq!(c.tcb.sndq.capacity(), 0);
    assert_eq!(pool.used(), 200 * KB + c.tcb.rx.capacity());
    assert!(c.tcb.writable());
    // Without pressure the whole send buffer is room again.
    drop(hog);
    assert_eq!(c.tcb.write(&data), 256 * KB);
}
