//! What a connection still has to deliver (`tcp_outstanding`, `tcp_undelivered`) as its
//! data and FIN are acknowledged, and `tcp_close_abort` (SO_LINGER of zero). The test plays
//! the peer, on a virtual clock.

#![forbid(unsafe_code)]

mod tcp_harness;

use tcp_harness::*;
use transport::tcp::{Outstanding, Seq};
use transport::{TcpState, TransportError};

#[test]
fn data_then_fin_acknowledged_step_by_step() {
    let mut n = Net::new();
    let c = n.passive();
    let o = n.t.tcp_outstanding(c.h).unwrap();
    assert_eq!(
        o,
        Outstanding {
            state: TcpState::Established,
            unacked: 0,
            fin_acked: false
        }
    );
    assert!(o.pending(), "an open connection has its FIN to deliver");
    assert_eq!(n.send(c.h, b"hello"), 5);
    n.only();
    assert_eq!(n.t.tcp_outstanding(c.h).unwrap().unacked, 5);
    let u = n.t.tcp_undelivered();
    assert_eq!(u.len(), 1);
    assert_eq!(
        (u[0].handle, u[0].local, u[0].remote),
        (c.h, c.local, c.remote)
    );
    assert_eq!(u[0].outstanding.unacked, 5);

    // Closed by the application: the orphan still counts until its FIN is acknowledged.
    n.close(c.h);
    let fin = n.only();
    assert_eq!(fin.r.seq, c.snd + 5);
    let o = n.t.tcp_outstanding(c.h).unwrap();
    assert_eq!(
        (o.state, o.unacked, o.fin_acked),
        (TcpState::FinWait1, 5, false)
    );
    n.ack(&c, c.snd + 5);
    let o = n.t.tcp_outstanding(c.h).unwrap();
    assert_eq!((o.unacked, o.fin_acked), (0, false));
    assert!(o.pending());
    n.ack(&c, c.snd + 6);
    let o = n.t.tcp_outstanding(c.h).unwrap();
    assert_eq!(
        (o.state, o.unacked, o.fin_acked),
        (TcpState::FinWait2, 0, true)
    );
    assert!(!o.pending());
    assert!(n.t.tcp_undelivered().is_empty());
}

#[test]
fn last_ack_then_gone() {
    let mut n = Net::new();
    let c = n.passive();
    // The peer closes first, as `nc -N` does.
    n.to(&c, seg(ACK | FIN, c.rcv, c.snd, 65_535), &[]);
    n.only();
    assert_eq!(n.send(c.h, b"abc"), 3);
    n.only();
    n.close(c.h);
    n.only();
    assert_eq!(n.state(c.h), TcpState::LastAck);
    assert_eq!(n.t.tcp_undelivered().len(), 1);
    n.to(&c, seg(ACK, c.rcv + 1, c.snd + 4, 65_535), &[]);
    // Closed and freed: nothing left, the handle is gone.
    assert!(n.t.tcp_undelivered().is_empty());
    assert_eq!(n.t.tcp_outstanding(c.h), Err(TransportError::BadHandle));
}

#[test]
fn unaccepted_connections_do_not_count() {
    let mut n = Net::new();
    let l = n.listen(LPORT, 16);
    n.inject(sa(PEER, PPORT), sa(US, LPORT), syn(PEER_ISS), &[]);
    n.only();
    assert!(n.t.tcp_undelivered().is_empty());
    let o = n.t.tcp_outstanding(l).unwrap();
    assert_eq!(o.state, TcpState::Listen);
    assert!(!o.pending());
}

#[test]
fn close_abort_resets_and_discards_the_queue() {
    let mut n = Net::new();
    let c = n.passive();
    assert_eq!(n.send(c.h, b"queued data"), 11);
    n.only();
    n.t.tcp_close_abort(c.h, &mut n.ip, n.now);
    // At SND.MAX (the peer got the data), then at SND.UNA (it did not): it takes the one
    // at its RCV.NXT.
    let rsts = n.take();
    assert_eq!(rsts.len(), 2, "{rsts:?}");
    rsts[0].expect(RST | ACK, c.snd + 11, c.rcv);
    rsts[1].expect(RST | ACK, c.snd, c.rcv);
    assert!(!n.t.is_open(c.h));
    assert_eq!(n.stats().aborts_on_close, 1);
    assert!(n.t.tcp_undelivered().is_empty());
    assert_eq!(n.t.poll_at(), None);
    // On a listener it is an ordinary close.
    let l = n.listen(LPORT + 1, 4);
    n.t.tcp_close_abort(l, &mut n.ip, n.now);
    assert!(!n.t.is_open(l));
    n.nothing();
}

#[test]
fn abandon_all_resets_what_is_incomplete_and_finishes_the_rest() {
    let mut n = Net::new();
    // Connections with data unacknowledged, unread data, nothing pending, only their FIN
    // unacknowledged, everything acknowledged (FIN-WAIT-2), nothing pending but the
    // peer's window closed, one in TIME-WAIT, and one nobody accepted.
    let (l, unacked) = n.passive_with(syn(PEER_ISS), 65_535);
    assert_eq!(n.send(unacked.h, b"queued"), 6);
    n.only();
    let unread = n.handshake_to(l, PPORT + 1, syn(PEER_ISS), 65_535);
    n.data(&unread, unread.rcv, b"never read");
    n.take();
    let idle = n.handshake_to(l, PPORT + 2, syn(PEER_ISS), 65_535);
    let fin_out = n.handshake_to(l, PPORT + 3, syn(PEER_ISS), 65_535);
    n.close(fin_out.h);
    n.only().expect(FIN | ACK, fin_out.snd, fin_out.rcv);
    let fw2 = n.handshake_to(l, PPORT + 4, syn(PEER_ISS), 65_535);
    n.close(fw2.h);
    n.only();
    n.ack(&fw2, fw2.snd + 1);
    assert_eq!(n.state(fw2.h), TcpState::FinWait2);
    let shut = n.handshake_to(l, PPORT + 5, syn(PEER_ISS), 0);
    let tw = n.handshake_to(l, PPORT + 6, syn(PEER_ISS), 65_535);
    n.close(tw.h);
    n.only();
    n.to(&tw, seg(ACK | FIN, tw.rcv, tw.snd + 1, 65_535), &[]);
    n.only();
    // (TIME-WAIT lives in a table of its own, without a socket: nothing to abandon.)
    assert!(!n.t.is_open(tw.h));
    let unaccepted = sa(PEER, PPORT + 7);
    n.inject(unaccepted, sa(US, LPORT), syn(PEER_ISS), &[]);
    let synack = n.only();
    n.inject(
        unaccepted,
        sa(US, LPORT),
        seg(ACK, PEER_ISS + 1, synack.r.seq + 1, 65_535),
        &[],
    );
    n.nothing();

    assert_eq!(n.t.tcp_abandon_all(&mut n.ip, n.now), 5);
    let mut sent: Vec<(u16, u8, Seq)> = n
        .take()
        .iter()
        .map(|o| (o.r.dst_port, o.r.flags, o.r.seq))
        .collect();
    sent.sort_by_key(|r| (r.0, r.2 .0));
    let mut want = vec![
        // Where the peer stands if it got the data, and if it did not.
        (PPORT, RST | ACK, unacked.snd + 6),
        (PPORT, RST | ACK, unacked.snd),
        (PPORT + 1, RST | ACK, unread.snd),
        (PPORT + 2, FIN | ACK, idle.snd),
        // The unacknowledged FIN once more.
        (PPORT + 3, FIN | ACK, fin_out.snd),
        // A FIN would be dropped at a closed window.
        (PPORT + 5, RST | ACK, shut.snd),
        (PPORT + 7, RST | ACK, synack.r.seq + 1),
    ];
    want.sort_by_key(|r| (r.0, r.2 .0));
    assert_eq!(sent, want);
    for h in [l, unacked.h, unread.h, idle.h, fin_out.h, fw2.h, shut.h] {
        assert!(!n.t.is_open(h), "{h:?} still open");
    }
    assert_eq!(n.t.socket_count(), 0);
    assert!(n.t.tcp_undelivered().is_empty());
    // Nothing is left, and nothing is sent again.
    assert_eq!(n.t.tcp_abandon_all(&mut n.ip, n.now), 0);
    n.advance(secs(10));
    n.nothing();
}

/// Given up in LAST-ACK with data unsent (the peer closed first, ours is stuck behind a
/// closed window): the peer is reset, not left waiting for data that will not come.
#[test]
fn close_abort_in_last_ack_resets() {
    let mut n = Net::new();
    let c = n.passive();
    n.to(&c, seg(ACK | FIN, c.rcv, c.snd, 0), &[]);
    n.only();
    assert_eq!(n.send(c.h, b"stuck"), 5);
    n.close(c.h);
    n.take();
    assert_eq!(n.state(c.h), TcpState::LastAck);
    n.t.tcp_close_abort(c.h, &mut n.ip, n.now);
    let rsts = n.take();
    assert!(!rsts.is_empty(), "no RST from LAST-ACK");
    for r in &rsts {
        assert_eq!(r.r.flags, RST | ACK, "{r:?}");
    }
    assert!(!n.t.is_open(c.h));
}
