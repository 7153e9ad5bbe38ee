//! RACK (RFC 8985) as the peer sees it, on a virtual clock: a segment sent before one the
//! peer SACKed is lost once the reordering window has passed, not before; a reordered one
//! that arrives meanwhile is not resent; a lost retransmission is found by its send time;
//! and with `TcpConfig::rack` off, RFC 6675's DupThresh decides alone.

#![forbid(unsafe_code)]
mod tcp_harness;

use netif::Instant;
use tcp_harness::*;
use transport::tcp::wire::TcpRepr;
use transport::tcp::Seq;
use transport::TcpConfig;

const MSS: usize = PEER_MSS as usize;

fn cfg(rack: bool) -> TcpConfig {
    TcpConfig {
        // Probes would muddle which segment leaves when.
        tail_loss_probe: false,
        // The RTT is measured by the ACK clock here.
        timestamps: false,
        rack,
        ..TcpConfig::default()
    }
}

/// An active connection with SACK and a 100 ms round trip; `n` segments sent at once (the
/// time they left). The first is then acknowledged a round trip later (RACK's first RTT
/// sample: min_RTT = 100 ms).
fn flight(rack: bool, n: usize) -> (Net, Conn, Instant) {
    let mut net = Net::with_cfg(cfg(rack));
    let synack = TcpRepr {
        mss: Some(PEER_MSS),
        sack_permitted: true,
        ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
    };
    let c = net.active_with(synack, ms(100)).0;
    net.send(c.h, &pattern(n * MSS));
    let sent = net.take();
    assert_eq!(sent.len(), n, "one segment each");
    let t0 = net.now;
    net.advance_to(t0 + ms(100));
    (net, c, t0)
}

/// An ACK from the peer: cumulative `ack` (in segments after our first) and SACK blocks.
fn ack(n: &mut Net, c: &Conn, segs: usize, blocks: &[(usize, usize)]) {
    let mut r = seg(ACK, c.rcv, c.snd + segs * MSS, 65_535);
    for (i, &(l, e)) in blocks.iter().enumerate() {
        r.sack[i] = (c.snd + l * MSS, c.snd + e * MSS);
    }
    r.sack_count = blocks.len() as u8;
    n.to(c, r, &[]);
}

#[test]
fn a_hole_below_a_sack_is_resent_when_the_reordering_window_has_passed() {
    let (mut n, c, t0) = flight(true, 4);
    // Segment 0 acknowledged, 2 SACKed, 1 missing: all left at t0, so 1 is due at
    // t0 + RACK.rtt (100 ms) + reo_wnd (min_RTT / 4 = 25 ms).
    ack(&mut n, &c, 1, &[(2, 3)]);
    n.nothing();
    n.advance_to(t0 + ms(124));
    n.nothing();
    n.advance_to(t0 + ms(125));
    let r = n.only();
    assert_eq!(r.r.seq, c.snd + MSS, "segment 1 is resent");
    assert_eq!(r.data.len(), MSS);
    let s = n.stats();
    assert_eq!((s.rack_lost, s.rack_reo_timeouts), (1, 1));
    assert_eq!(s.timeouts, 0);
}

#[test]
fn a_reordered_segment_arriving_within_the_window_is_not_resent() {
    let (mut n, c, t0) = flight(true, 4);
    ack(&mut n, &c, 1, &[(2, 3)]);
    n.advance_to(t0 + ms(110));
    // Segment 1 was only late: the cumulative ACK covers it and 2.
    ack(&mut n, &c, 3, &[]);
    n.advance_to(t0 + ms(200));
    n.nothing();
    assert_eq!(n.stats().rack_lost, 0);
    assert_eq!(n.stats().retransmits, 0);
}

#[test]
fn three_sacked_segments_without_reordering_mean_loss_at_once() {
    let (mut n, c, _) = flight(true, 5);
    ack(&mut n, &c, 1, &[(2, 5)]);
    let r = n.take();
    assert_eq!(r.first().map(|o| o.r.seq), Some(c.snd + MSS));
    assert_eq!(n.stats().rack_reo_timeouts, 0);
}

#[test]
fn a_lost_retransmission_is_found_by_its_send_time() {
    let (mut n, c, t0) = flight(true, 4);
    // Segment 1 lost: resent when the reordering window passes (t0 + 125 ms).
    ack(&mut n, &c, 1, &[(2, 4)]);
    n.advance_to(t0 + ms(125));
    let r = n.only();
    assert_eq!(r.r.seq, c.snd + MSS);
    // New data after the retransmission.
    n.advance_to(t0 + ms(130));
    n.send(c.h, &pattern(MSS));
    let new = n.only();
    assert_eq!(new.r.seq, c.snd + 4 * MSS);
    // A round trip later the peer SACKs the new segment but still lacks segment 1: the
    // retransmission (sent before the new segment, and its time plus RACK.rtt passed) was
    // lost too, and goes again at once, without a timeout.
    n.advance_to(t0 + ms(230));
    ack(&mut n, &c, 1, &[(4, 5), (2, 4)]);
    let again = n.take();
    assert_eq!(
        again.first().map(|o| o.r.seq),
        Some(c.snd + MSS),
        "{again:?}"
    );
    let s = n.stats();
    assert_eq!(s.lost_retransmits, 1);
    assert_eq!(s.timeouts, 0);
}

#[test]
fn with_rack_off_dupthresh_decides() {
    let (mut n, c, t0) = flight(false, 6);
    // One or two SACKed segments above the hole: RFC 6675 waits (no timer either).
    ack(&mut n, &c, 1, &[(2, 3)]);
    ack(&mut n, &c, 1, &[(2, 4)]);
    n.advance_to(t0 + ms(200));
    n.nothing();
    // The third: segment 1 is lost (IsLost), resent at once.
    ack(&mut n, &c, 1, &[(2, 5)]);
    let r = n.take();
    assert_eq!(r.first().map(|o| o.r.seq), Some(c.snd + MSS));
    let s = n.stats();
    assert_eq!((s.dupthresh_lost, s.rack_lost), (1, 0));
}

/// RFC 8985 7.3: the probe is new data when the peer's window allows (it elicits a SACK
/// that shows what is missing, and costs no retransmission), else the last segment again
/// (the tail_loss_probe tests in tcp.rs).
#[test]
fn the_probe_sends_new_data_when_it_can() {
    let mut n = Net::with_cfg(TcpConfig {
        timestamps: false,
        ..TcpConfig::default()
    });
    let synack = TcpRepr {
        mss: Some(PEER_MSS),
        sack_permitted: true,
        ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
    };
    let c = n.active_with(synack, ms(100)).0;
    // Fifteen segments queued; the initial window lets ten go.
    n.send(c.h, &pattern(15 * MSS));
    assert_eq!(n.take().len(), 10);
    let t0 = n.now;
    // No ACK: PTO = 2 * SRTT + 2 ms = 202 ms.
    n.advance_to(t0 + ms(201));
    n.nothing();
    n.advance_to(t0 + ms(202));
    let p = n.only();
    assert_eq!(
        p.r.seq,
        c.snd + 10 * MSS,
        "the probe is the next new segment"
    );
    assert_eq!(p.data.len(), MSS);
    let s = n.stats();
    assert_eq!((s.loss_probes, s.retransmits), (1, 0));
}
