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
    let c = charging(&pool);
    (c, pool, hog)
}

/// An established connection with a fixed 256 KB receive buffer, charging `pool`.
fn charging(pool: &std::sync::Arc<MemPool>) -> Conn {
    let mut c = Conn::established_scaled(
        ConnOpts {
            rcvbuf: 256 * KB,
            rcvbuf_max: 256 * KB,
            ..opts()
        },
        Some(7),
    );
    c.tcb.attach_mem(pool.clone());
    c
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

#[test]
fn under_pressure_what_fits_the_ring_is_not_a_drop_and_a_segment_at_a_full_ring_is_acked_at_once() {
    let (mut c, _pool, _hog) = pressed();
    // 16 full segments and one of 384 bytes fill the 16 KB ring exactly: nothing dropped.
    for i in 0..16 {
        c.data(&stream(i * PEER_MSS, PEER_MSS));
    }
    let rest = rxring::INITIAL - 16 * PEER_MSS;
    c.data(&stream(16 * PEER_MSS, rest));
    assert_eq!(c.tcb.rx.readable(), rxring::INITIAL);
    assert_eq!(c.stats.mem_pressure_drops, 0, "everything fitted");
    c.tcb.ack_now = true;
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    c.take();
    let nxt = c.tcb.rcv_nxt;
    c.tcb.wake = false;
    // The next in-order segment finds the ring full: dropped, counted once, and the ACK
    // that says where we are goes at once; no reader is woken.
    c.data(&stream(rxring::INITIAL, PEER_MSS));
    assert_eq!(c.stats.mem_pressure_drops, 1);
    assert_eq!(c.tcb.rcv_nxt, nxt);
    assert!(!c.tcb.wake, "nothing new to read");
    let sent = c.take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].r.ack, nxt);
}

/// A pool under pressure (as in [`pressed`]) and a connection on a link with loopback's
/// MTU (our MSS 65,495), its receive buffer a fixed 64 KB.
fn pressed_loopback() -> (Conn, std::sync::Arc<MemPool>, Charge) {
    let pool = MemPool::new(100 * KB);
    let mut hog = Charge::default();
    hog.attach(pool.clone());
    hog.set(200 * KB);
    let o = ConnOpts {
        rcvbuf: 64 * KB,
        rcvbuf_max: 64 * KB,
        ..opts()
    };
    let mut c = Conn::connecting(TcpConfig::default(), o, 65_535);
    c.take();
    // Charged from the start: no window was announced before the pressure.
    c.tcb.attach_mem(pool.clone());
    let synack = TcpRepr {
        sack_permitted: true,
        wscale: Some(7),
        ..synack(Some(65_495))
    };
    c.deliver(&synack, &[]);
    c.peer_nxt = PEER_ISS + 1;
    assert_eq!(c.tcb.state, State::Established);
    c.take();
    (c, pool, hog)
}

#[test]
fn under_pressure_a_large_mss_link_still_gets_a_window_of_half_the_buffer() {
    // A 16 KB ring would announce no window at all (less than an MSS, or half the
    // buffer, is silly): the ring there may fill is half the buffer.
    let (mut c, _pool, _hog) = pressed_loopback();
    assert!(c.tcb.mem.pressure());
    c.tcb.ack_now = true;
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let sent = c.take();
    let wnd = usize::from(sent.last().expect("an ACK").r.window) << c.tcb.rcv_wscale;
    assert_eq!(
        wnd,
        32 * KB,
        "half the buffer, not 0 and not the whole buffer"
    );
    // The peer fills it with one segment: kept whole, nothing dropped.
    c.data(&stream(0, 32 * KB));
    assert_eq!(c.tcb.rx.readable(), 32 * KB);
    assert_eq!(c.stats.mem_pressure_drops, 0);
    // What it sends beyond that window does not fit the ring there is now.
    c.data(&stream(32 * KB, 1000));
    assert_eq!(c.tcb.rx.readable(), 32 * KB);
}

#[test]
fn when_pressure_begins_an_emptied_whole_buffer_ring_is_given_back() {
    let pool = MemPool::new(1024 * KB);
    let mut c = charging(&pool);
    // Bulk data moves the ring to the whole buffer, which the reader empties: without
    // pressure the ring is kept for the next bytes.
    for i in 0..40 {
        c.data(&stream(i * PEER_MSS, PEER_MSS));
    }
    c.tcb.read_with(usize::MAX, |b| b.len());
    let ring = c.tcb.rx.capacity();
    assert!(ring >= 256 * KB, "{ring}");
    assert_eq!(pool.used(), ring);
    // Another connection takes the pool past its bound: the next segment (a pure ACK)
    // finds the pressure, and the empty ring goes.
    let mut hog = Charge::default();
    hog.attach(pool.clone());
    hog.set(1024 * KB);
    let r = c.seg(flags::ACK, c.our_una());
    c.deliver(&r, &[]);
    assert_eq!(c.tcb.rx.capacity(), 0);
    assert_eq!(pool.used(), 1024 * KB);
    assert!(
        pool.pressure(),
        "above 7/8 of the bound: the pressure holds"
    );
}

/// Without pressure (the pool is no part of it): a writer is woken once a third of its
/// send buffer is free (Linux's `sk_stream_write_space`), not for every few bytes acked.
#[test]
fn a_full_send_queue_is_writable_again_once_a_third_of_the_buffer_is_free() {
    let mut c = Conn::established(ConnOpts {
        sndbuf: 30 * KB,
        ..opts()
    });
    assert_eq!(c.tcb.write(&vec![5u8; 40 * KB]), 30 * KB);
    assert!(!c.tcb.writable());
    let start = c.tcb.snd_una;
    let ack_to = |c: &mut Conn, n: usize| {
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        let r = TcpRepr {
            window: 65_535,
            ..c.seg(flags::ACK, start + n)
        };
        c.deliver(&r, &[]);
    };
    ack_to(&mut c, 5000);
    assert_eq!(c.tcb.send_space(), 5000);
    assert!(!c.tcb.writable(), "a sixth of the buffer free");
    ack_to(&mut c, 10 * KB);
    assert!(c.tcb.writable(), "a third free");
}

/// Reading the last bytes of a small ring gives it back, and the pool at once.
#[test]
fn a_read_that_empties_a_small_ring_uncharges_it_at_once() {
    let pool = MemPool::new(1024 * KB);
    let mut c = Conn::established(opts());
    c.tcb.attach_mem(pool.clone());
    c.data(&stream(0, 500));
    assert_eq!(pool.used(), rxring::INITIAL);
    assert_eq!(c.tcb.read_with(usize::MAX, |b| b.len()), 500);
    assert_eq!(c.tcb.rx.capacity(), 0);
    assert_eq!(pool.used(), 0);
}

/// An ACK wakes a blocked writer when it makes the queue writable again (a third of the
/// buffer free) or empties it, and not on every ACK in between.
#[test]
fn acks_wake_a_blocked_writer_once_the_queue_is_writable_or_empty() {
    let mut c = Conn::established(ConnOpts {
        sndbuf: 30 * KB,
        ..opts()
    });
    assert_eq!(c.tcb.write(&vec![5u8; 30 * KB]), 30 * KB);
    let start = c.tcb.snd_una;
    let ack_to = |c: &mut Conn, n: usize| -> bool {
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.tcb.wake = false;
        let r = TcpRepr {
            window: 65_535,
            ..c.seg(flags::ACK, start + n)
        };
        c.deliver(&r, &[]);
        c.tcb.wake
    };
    assert!(!ack_to(&mut c, 5000), "a sixth free: the writer sleeps on");
    assert!(ack_to(&mut c, 10 * KB + 1000), "a third free: woken");
    assert!(
        !ack_to(&mut c, 12 * KB),
        "writable already: no wake-up per ACK"
    );
    loop {
        // What the last call sent, acknowledged in full (the queue not yet empty).
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.tcb.snd_nxt.since(start);
        if sent >= 30 * KB {
            break;
        }
        assert!(!ack_to(&mut c, sent), "{sent} acknowledged");
    }
    assert!(ack_to(&mut c, 30 * KB), "all acknowledged: woken");
}

/// When pressure begins, the few bytes held far beyond a hole go (and the ring, which then
/// holds nothing); the peer sends them again and the stream comes whole, ended by the FIN
/// that lay beyond the hole.
#[test]
fn when_pressure_begins_out_of_order_bytes_go_and_come_again() {
    let pool = MemPool::new(100 * KB);
    let mut c = charging(&pool);
    let base = c.peer_nxt;
    let ack = c.our_una();
    let r = TcpRepr {
        seq: base + 200_000,
        ..c.seg(flags::ACK, ack)
    };
    c.deliver(&r, &stream(200_000, 1000));
    let r = TcpRepr {
        seq: base + 201_000,
        ..c.seg(flags::ACK | flags::FIN, ack)
    };
    c.deliver(&r, &stream(201_000, 1000));
    assert_eq!(c.tcb.rx.ooo_ranges(), 1);
    assert!(pool.used() > 0);
    assert_eq!(c.tcb.shed_for_pressure(), 1);
    assert!(!c.tcb.rx.has_ooo());
    assert_eq!(c.tcb.rx.capacity(), 0);
    assert_eq!(pool.used(), 0);
    c.take();
    for i in 0..202 {
        c.data(&stream(i * 1000, 1000));
    }
    assert_eq!(
        c.tcb.state,
        State::CloseWait,
        "the FIN beyond the hole counted"
    );
    let mut got = Vec::new();
    c.tcb.read_with(usize::MAX, |b| {
        got.extend_from_slice(b);
        b.len()
    });
    assert_eq!(got, stream(0, 202_000));
}

/// A ring well filled around a loss keeps its bytes beyond the hole when pressure begins:
/// they are the transfer's, not waste, and letting them go would have the peer send them
/// all again (each a loss to its congestion control). Only a ring holding less than a
/// sixty-fourth of its size sheds them (the case above).
#[test]
fn a_well_filled_ring_keeps_its_out_of_order_bytes_under_pressure() {
    let pool = MemPool::new(100 * KB);
    let mut c = charging(&pool);
    let base = c.peer_nxt;
    let ack = c.our_una();
    // A hole of one segment, then 60 segments beyond it.
    for i in 1..=60 {
        let r = TcpRepr {
            seq: base + i * 1000,
            ..c.seg(flags::ACK, ack)
        };
        c.deliver(&r, &stream(i * 1000, 1000));
    }
    let cap = c.tcb.rx.capacity();
    assert!(60 * 1000 * 8 >= cap, "the ring ({cap}) is well filled");
    assert_eq!(c.tcb.shed_for_pressure(), 0, "nothing went");
    assert!(c.tcb.rx.has_ooo());
    c.take();
    // The hole filled: everything is readable at once, nothing sent again.
    c.data(&stream(0, 1000));
    let mut got = Vec::new();
    c.tcb.read_with(usize::MAX, |b| {
        got.extend_from_slice(b);
        b.len()
    });
    assert_eq!(got, stream(0, 61_000));
}
