//! ECN, timestamps, window scaling and urgent data review: each test shows one defect
//! (see the test's comment).

use super::harness::*;
use super::*;
use crate::tcp::EcnMode;

/// An active open with ECN on and Fast Open: the SYN (cookie) carries `data`. Returns the
/// connection with the SYN taken off the wire.
fn fastopen_ecn(data: &[u8]) -> Conn {
    let cfg = TcpConfig {
        ecn: EcnMode::On,
        quick_acks: 0,
        ..TcpConfig::default()
    };
    let now = Instant::from_secs(1);
    let mut tx = Wire::default();
    let mut stats = TcpStats::default();
    let cookie = FastOpen::cookie(&[1, 2, 3, 4, 5, 6, 7, 8]).expect("a valid cookie");
    let tcb = Tcb::connect(
        &cfg,
        US,
        PEER,
        OUR_ISS,
        0,
        (1500, 1500),
        opts(),
        Some(ActiveFastOpen {
            data,
            cookie: Some((cookie, PEER_MSS as u16)),
            off: false,
        }),
        crate::tcp::mem::MemPool::new(usize::MAX / 2),
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
        peer_nxt: PEER_ISS,
    };
    let syn = c.take();
    assert!(
        matches!(&syn[..], [s] if s.r.has(flags::SYN) && s.r.has(flags::ECE)
            && s.r.has(flags::CWR) && s.data.len() == data.len()),
        "an ECN-setup SYN with the data: {syn:?}"
    );
    c
}

/// RFC 3168 6.1.5: "the TCP data sender MUST NOT set either an ECT codepoint or the CE
/// codepoint in the IP header for retransmitted data packets". The data a Fast Open SYN
/// carried and its SYN-ACK did not acknowledge (a server that dropped it, RFC 7413 4.2.2)
/// is sent a second time after the handshake; `fo_syn_acked` pulls SND.MAX back to the
/// SYN-ACK's ACK, so `emit` took it for new data and marked it ECT(0). Linux resends it
/// from its retransmit queue (tcp_rcv_fastopen_synack marks it lost and
/// tcp_non_congestion_loss_retransmit resends it), which tcp_ecn_send leaves Not-ECT.
#[test]
fn fast_open_data_sent_again_after_the_syn_ack_is_not_ect() {
    let data = vec![9u8; 300];
    let mut c = fastopen_ecn(&data);
    // The server agrees to ECN and acknowledges the SYN only.
    let r = TcpRepr {
        flags: flags::SYN | flags::ACK | flags::ECE,
        ..synack(Some(PEER_MSS as u16))
    };
    c.deliver(&r, &[]);
    assert_eq!(c.tcb.state, State::Established);
    assert!(c.tcb.ecn_ok);
    let out = c.take();
    let again: Vec<_> = out.iter().filter(|s| !s.data.is_empty()).collect();
    assert_eq!(
        again.iter().map(|s| s.data.len()).sum::<usize>(),
        data.len(),
        "the SYN's data goes again: {out:?}"
    );
    assert!(
        again.iter().all(|s| s.meta.tos & 0b11 == 0),
        "sent a second time, so Not-ECT: {again:?}"
    );
    // New data written after it is ECN-capable as usual.
    c.peer_nxt = PEER_ISS + 1;
    let r = c.seg(flags::ACK, c.tcb.snd_max);
    c.deliver(&r, &[]);
    c.take();
    c.tcb.write(&[1u8; 100]);
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    let new = c.take();
    assert!(
        matches!(&new[..], [s] if s.meta.tos & 0b11 == 0b10),
        "new data is ECT(0): {new:?}"
    );
}

/// Data on a SYN-ACK is not taken (Linux's SYN-SENT processing drops it too; the peer
/// sends it again, unacknowledged): it went without a trace, where every drop is counted.
#[test]
fn data_on_a_syn_ack_is_dropped_and_counted() {
    let mut c = Conn::connecting(TcpConfig::default(), opts(), 1500);
    c.take();
    c.deliver(&synack(Some(1460)), b"early");
    assert_eq!(c.tcb.state, State::Established);
    assert_eq!(c.stats.drop_syn_data, 1);
    let out = c.take();
    assert!(
        !out.is_empty() && out.iter().all(|s| s.r.ack == PEER_ISS + 1),
        "only the SYN is acknowledged: {out:?}"
    );
    // A SYN-ACK without data counts nothing.
    let mut c = Conn::connecting(TcpConfig::default(), opts(), 1500);
    c.deliver(&synack(Some(1460)), &[]);
    assert_eq!(c.stats.drop_syn_data, 0);
}
