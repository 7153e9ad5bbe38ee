//! TCP Fast Open as a server (RFC 7413), at the segment level on a virtual clock: the
//! cookie a client asks for, the data of a SYN with a valid cookie taken and answered
//! before the handshake ends, a bad cookie's data left for the handshake, and the bound
//! on connections waiting for their handshake's end; and as a client, the cookie kept
//! and the negative responses that turn Fast Open off to a server for a while.

#![forbid(unsafe_code)]

mod tcp_harness;

use std::net::SocketAddrV4;
use tcp_harness::*;
use transport::tcp::wire::{FastOpen, TcpRepr};
use transport::tcp::{Seq, TcpConfig};
use transport::{SocketHandle, TcpError, TcpState, TransportError};

/// A listener on port 80 with a Fast Open queue of `queue` (0: off).
fn listener(n: &mut Net, queue: usize) -> SocketHandle {
    n.listen_cfg(LPORT, 16, |o| o.fastopen = queue)
}

fn fo_syn(seq: Seq, fo: FastOpen) -> TcpRepr {
    TcpRepr {
        fastopen: Some(fo),
        ..syn(seq)
    }
}

/// Ask for a cookie from port `pport`, finish that handshake, and return the cookie.
fn get_cookie(n: &mut Net, l: SocketHandle, pport: u16) -> FastOpen {
    let (remote, local) = (sa(PEER, pport), sa(US, LPORT));
    n.inject(remote, local, fo_syn(PEER_ISS, FastOpen::REQUEST), &[]);
    let s = n.only();
    s.expect(SYN | ACK, s.r.seq, PEER_ISS + 1);
    let cookie = s.r.fastopen.expect("a cookie in the SYN-ACK");
    assert_eq!(cookie.bytes().len(), 8);
    n.inject(
        remote,
        local,
        seg(ACK, PEER_ISS + 1, s.r.seq + 1, 65_535),
        &[],
    );
    n.nothing();
    n.t.tcp_accept(l).unwrap().expect("the cookie's connection");
    cookie
}

fn ends(pport: u16) -> (SocketAddrV4, SocketAddrV4) {
    (sa(PEER, pport), sa(US, LPORT))
}

#[test]
fn a_request_gets_a_cookie_and_a_syn_with_it_is_answered_before_the_handshake_ends() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let cookie = get_cookie(&mut n, l, 40_001);
    assert_eq!(n.stats().fastopen_cookies_sent, 1);
    // The same client, a new connection: the cookie and a request in the SYN.
    let (remote, local) = ends(40_002);
    n.inject(remote, local, fo_syn(PEER_ISS, cookie), b"GET /");
    let s = n.only();
    // The SYN-ACK acknowledges the request (RFC 7413 4.2.2), with no cookie again.
    s.expect(SYN | ACK, s.r.seq, PEER_ISS + 1 + 5);
    assert_eq!(s.r.fastopen, None);
    assert_eq!(n.stats().fastopen_passive, 1);
    // The application has the connection and the request at once, and answers.
    let (h, from) = n.t.tcp_accept(l).unwrap().expect("accepted before the ACK");
    assert_eq!(from, remote);
    assert_eq!(n.state(h), TcpState::SynReceived);
    // poll says readable and writable already.
    let (readable, writable, _) = n.t.readiness(h).unwrap();
    assert!(readable && writable);
    assert_eq!(n.recv(h).unwrap(), Some(b"GET /".to_vec()));
    assert_eq!(n.send(h, b"200 OK"), 6);
    let reply = n.only();
    reply.expect(ACK | PSH, s.r.seq + 1, PEER_ISS + 6);
    assert_eq!(reply.data, b"200 OK");
    // The handshake's ACK, which here acknowledges the reply too.
    n.inject(
        remote,
        local,
        seg(ACK, PEER_ISS + 6, s.r.seq + 7, 65_535),
        &[],
    );
    n.nothing();
    assert_eq!(n.state(h), TcpState::Established);
    assert_eq!(n.t.tcp_accept(l).unwrap(), None, "accepted once only");
    // It goes on as any connection.
    n.inject(
        remote,
        local,
        seg(ACK | PSH, PEER_ISS + 6, s.r.seq + 7, 65_535),
        b"more",
    );
    assert_eq!(n.recv(h).unwrap(), Some(b"more".to_vec()));
}

#[test]
fn a_lost_syn_ack_is_sent_again_and_the_data_is_not_taken_twice() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let cookie = get_cookie(&mut n, l, 40_001);
    let (remote, local) = ends(40_002);
    n.inject(remote, local, fo_syn(PEER_ISS, cookie), b"hello");
    let s = n.only();
    // The client's SYN again (our SYN-ACK was lost): the same answer.
    n.inject(remote, local, fo_syn(PEER_ISS, cookie), b"hello");
    n.only().expect(SYN | ACK, s.r.seq, PEER_ISS + 6);
    let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
    assert_eq!(n.recv(h).unwrap(), Some(b"hello".to_vec()));
    assert_eq!(n.recv(h).unwrap(), None);
    assert_eq!(n.stats().fastopen_passive, 1);
}

#[test]
fn a_bad_cookie_s_data_waits_for_the_handshake_and_a_good_cookie_comes_back() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let (remote, local) = ends(40_003);
    let forged = FastOpen::cookie(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    n.inject(remote, local, fo_syn(PEER_ISS, forged), b"GET /");
    let s = n.only();
    // Only the SYN is acknowledged (RFC 7413 4.2.2), and a valid cookie is given.
    s.expect(SYN | ACK, s.r.seq, PEER_ISS + 1);
    let good = s.r.fastopen.expect("a fresh cookie");
    assert_ne!(good, forged);
    assert_eq!(n.stats().fastopen_bad_cookies, 1);
    assert_eq!(n.stats().fastopen_passive, 0);
    assert_eq!(
        n.t.tcp_accept(l).unwrap(),
        None,
        "no connection before the ACK"
    );
    // The client sends the request again after the handshake, as without Fast Open.
    n.inject(
        remote,
        local,
        seg(ACK | PSH, PEER_ISS + 1, s.r.seq + 1, 65_535),
        b"GET /",
    );
    let (h, _) = n.t.tcp_accept(l).unwrap().expect("established");
    assert_eq!(n.recv(h).unwrap(), Some(b"GET /".to_vec()));
    // The good cookie works from another port.
    let (remote, local) = ends(40_004);
    n.inject(remote, local, fo_syn(PEER_ISS, good), b"x");
    n.take();
    assert_eq!(n.stats().fastopen_passive, 1);
}

#[test]
fn the_queue_of_fast_open_connections_is_bounded_until_their_handshakes_end() {
    let mut n = Net::new();
    let l = listener(&mut n, 1);
    let cookie = get_cookie(&mut n, l, 40_001);
    // The first takes the one place.
    let (r1, local) = ends(40_010);
    n.inject(r1, local, fo_syn(PEER_ISS, cookie), b"one");
    let s1 = n.only();
    s1.expect(SYN | ACK, s1.r.seq, PEER_ISS + 4);
    // The second's data waits for its handshake.
    let (r2, _) = ends(40_011);
    n.inject(r2, local, fo_syn(PEER_ISS, cookie), b"two");
    let s2 = n.only();
    s2.expect(SYN | ACK, s2.r.seq, PEER_ISS + 1);
    assert_eq!(n.stats().fastopen_overflows, 1);
    // The first's handshake ends: its place is free again.
    n.inject(r1, local, seg(ACK, PEER_ISS + 4, s1.r.seq + 1, 65_535), &[]);
    n.nothing();
    let (r3, _) = ends(40_012);
    n.inject(r3, local, fo_syn(PEER_ISS, cookie), b"three");
    let s3 = n.only();
    s3.expect(SYN | ACK, s3.r.seq, PEER_ISS + 6);
    assert_eq!(n.stats().fastopen_passive, 2);
    // One reset in SYN-RECEIVED frees its place too.
    n.inject(r3, local, seg(RST, PEER_ISS + 6, Seq(0), 0), &[]);
    n.nothing();
    let (r4, _) = ends(40_013);
    n.inject(r4, local, fo_syn(PEER_ISS, cookie), b"four");
    let s4 = n.only();
    s4.expect(SYN | ACK, s4.r.seq, PEER_ISS + 5);
    assert_eq!(n.stats().fastopen_passive, 3);
}

#[test]
fn without_fast_open_a_listener_ignores_the_option_and_the_data() {
    let mut n = Net::new();
    let l = listener(&mut n, 0);
    let (remote, local) = ends(40_001);
    n.inject(remote, local, fo_syn(PEER_ISS, FastOpen::REQUEST), b"GET /");
    let s = n.only();
    s.expect(SYN | ACK, s.r.seq, PEER_ISS + 1);
    assert_eq!(s.r.fastopen, None);
    assert_eq!(n.t.tcp_accept(l).unwrap(), None);
    let st = n.stats();
    assert_eq!(
        (
            st.fastopen_cookies_sent,
            st.fastopen_passive,
            st.fastopen_bad_cookies
        ),
        (0, 0, 0)
    );
}

#[test]
fn a_valid_cookie_without_data_is_an_ordinary_handshake() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let cookie = get_cookie(&mut n, l, 40_001);
    let (remote, local) = ends(40_002);
    n.inject(remote, local, fo_syn(PEER_ISS, cookie), &[]);
    let s = n.only();
    s.expect(SYN | ACK, s.r.seq, PEER_ISS + 1);
    assert_eq!(s.r.fastopen, None);
    assert_eq!(n.t.tcp_accept(l).unwrap(), None);
    assert_eq!(n.stats().fastopen_passive, 0);
}

#[test]
fn a_client_using_the_experimental_encoding_is_answered_in_it() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let (remote, local) = ends(40_001);
    n.inject(
        remote,
        local,
        fo_syn(PEER_ISS, FastOpen::REQUEST.experimental()),
        &[],
    );
    let s = n.only();
    let cookie = s.r.fastopen.expect("a cookie");
    assert!(cookie.exp, "answered as kind 254: {s:?}");
    // The same cookie in either encoding checks.
    let plain = FastOpen::cookie(cookie.bytes()).unwrap();
    for (pport, fo) in [(40_002, cookie), (40_003, plain)] {
        let (remote, _) = ends(pport);
        n.inject(remote, local, fo_syn(PEER_ISS, fo), b"hi");
        let s = n.only();
        s.expect(SYN | ACK, s.r.seq, PEER_ISS + 3);
    }
    assert_eq!(n.stats().fastopen_passive, 2);
    assert!(n.t.tcp_accept(l).unwrap().is_some());
}

// ---- the client side (RFC 7413 4.1) ---------------------------------------------------

/// Open a Fast Open connection to the peer's port 80 with `data`; its SYN.
fn fo_connect(n: &mut Net, data: &[u8]) -> (SocketHandle, Out) {
    let h = n.t.tcp_open().unwrap();
    let queued =
        n.t.tcp_connect_fastopen(h, sa(PEER, LPORT), data, &mut n.ip, n.now)
            .unwrap();
    assert_eq!(queued, data.len());
    (h, n.only())
}

/// The peer's SYN-ACK to `syn`, acknowledging `ack_data` bytes of its data, with
/// `fastopen`.
fn synack_to(n: &mut Net, syn: &Out, ack_data: usize, fastopen: Option<FastOpen>) {
    let r = TcpRepr {
        mss: Some(PEER_MSS),
        fastopen,
        ..seg(SYN | ACK, PEER_ISS, syn.r.seq + 1 + ack_data, 65_535)
    };
    n.inject(sa(PEER, LPORT), sa(syn.src, syn.r.src_port), r, &[]);
}

/// A first connection that asks for a cookie and gets one (its byte acknowledged, so
/// nothing of it is left to retransmit).
fn learn_cookie(n: &mut Net) {
    let (_, syn) = fo_connect(n, b"x");
    synack_to(n, &syn, 0, FastOpen::cookie(&[7; 8]));
    n.take();
    n.inject(
        sa(PEER, LPORT),
        sa(syn.src, syn.r.src_port),
        seg(ACK, PEER_ISS + 1, syn.r.seq + 2, 65_535),
        &[],
    );
    n.take();
}

#[test]
fn a_client_asks_for_a_cookie_then_sends_its_next_request_in_the_syn() {
    let mut n = Net::new();
    let cookie = FastOpen::cookie(&[7; 8]).unwrap();
    // No cookie yet: the SYN asks for one and carries no data.
    let (h, syn) = fo_connect(&mut n, b"GET / 1");
    assert_eq!(syn.r.flags, SYN);
    assert_eq!(syn.r.fastopen, Some(FastOpen::REQUEST));
    assert!(syn.data.is_empty());
    synack_to(&mut n, &syn, 0, Some(cookie));
    // The handshake's ACK carries the request.
    let sent = n.take();
    let data: Vec<u8> = sent.iter().flat_map(|o| o.data.clone()).collect();
    assert_eq!(data, b"GET / 1", "{sent:?}");
    assert_eq!(n.t.tcp_connected(h), Ok(true));
    // The next connection to the same server: the cookie and the request in the SYN.
    let (h2, syn2) = fo_connect(&mut n, b"GET / 2");
    assert_eq!(syn2.r.fastopen, Some(cookie));
    assert_eq!(syn2.data, b"GET / 2");
    assert!(syn2.r.header_len() <= 60);
    synack_to(&mut n, &syn2, 7, None);
    // Acknowledged in the SYN-ACK: only the handshake's ACK follows.
    n.only().expect_ack(syn2.r.seq + 8, PEER_ISS + 1);
    assert_eq!(n.t.tcp_connected(h2), Ok(true));
    let st = n.stats();
    assert_eq!((st.fastopen_active, st.fastopen_active_fail), (1, 0));
}

#[test]
fn data_the_syn_ack_does_not_acknowledge_goes_again_at_once() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let (h, syn) = fo_connect(&mut n, b"GET /");
    assert_eq!(syn.data, b"GET /");
    // The server took the SYN but not its data (its cookie changed, say).
    n.advance(ms(10));
    let retransmits = n.stats().retransmits;
    synack_to(&mut n, &syn, 0, None);
    let sent = n.take();
    let resent: Vec<&Out> = sent.iter().filter(|o| !o.data.is_empty()).collect();
    assert_eq!(resent.len(), 1, "{sent:?}");
    assert_eq!(resent[0].r.seq, syn.r.seq + 1);
    assert_eq!(resent[0].data, b"GET /");
    assert_eq!(n.t.tcp_connected(h), Ok(true));
    assert_eq!(n.stats().fastopen_active_fail, 1);
    // The data went twice: a retransmission, counted as one (Linux retransmits it from
    // tcp_rcv_fastopen_synack) and no RTT sample (RFC 6298 3, Karn). It counted as new
    // data, and its late ACK moved SRTT from the handshake's 10 ms.
    assert_eq!(n.stats().retransmits, retransmits + 1);
    assert_eq!(n.info(h).retransmits, 1);
    let srtt = n.info(h).srtt;
    assert_eq!(srtt, Some(ms(10)));
    n.advance(ms(300));
    n.inject(
        sa(PEER, LPORT),
        sa(syn.src, syn.r.src_port),
        seg(ACK, PEER_ISS + 1, syn.r.seq + 6, 65_535),
        &[],
    );
    assert_eq!(n.info(h).srtt, srtt);
}

#[test]
fn a_retransmitted_fast_open_syn_carries_neither_cookie_nor_data() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let (h, syn) = fo_connect(&mut n, b"GET /");
    assert_eq!(syn.data, b"GET /");
    let (_, again) = n.next_sent(secs(5));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].r.flags, SYN);
    assert_eq!(again[0].r.seq, syn.r.seq);
    assert_eq!(again[0].r.fastopen, None);
    assert!(again[0].data.is_empty());
    // Its SYN-ACK: the data goes after the handshake.
    synack_to(&mut n, &again[0], 0, None);
    let data: Vec<u8> = n.take().iter().flat_map(|o| o.data.clone()).collect();
    assert_eq!(data, b"GET /");
    assert_eq!(n.t.tcp_connected(h), Ok(true));
}

/// A Fast Open connection accepted, with its request read and its reply sent, and the
/// SYN-ACK's sequence number.
fn fo_accepted(n: &mut Net, l: SocketHandle, pport: u16) -> (SocketHandle, Seq) {
    let cookie = get_cookie(n, l, pport - 1);
    let (remote, local) = ends(pport);
    n.inject(remote, local, fo_syn(PEER_ISS, cookie), b"GET /");
    let s = n.only();
    let (h, _) = n.t.tcp_accept(l).unwrap().unwrap();
    assert_eq!(n.recv(h).unwrap(), Some(b"GET /".to_vec()));
    n.send(h, b"200 OK");
    n.only();
    (h, s.r.seq)
}

#[test]
fn a_reset_before_the_handshake_ends_is_reported_to_the_application() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let (h, _) = fo_accepted(&mut n, l, 40_002);
    let (remote, local) = ends(40_002);
    n.inject(remote, local, seg(RST, PEER_ISS + 6, Seq(0), 0), &[]);
    assert_eq!(
        n.recv(h),
        Err(transport::TransportError::Tcp(transport::TcpError::Reset))
    );
}

#[test]
fn after_a_lost_syn_ack_the_reply_goes_again_as_soon_as_the_handshake_ends() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let (h, iss) = fo_accepted(&mut n, l, 40_002);
    // Neither the SYN-ACK nor the reply arrived: the SYN-ACK goes again at its timeout,
    // and nothing else until the handshake ends (n.send refuses to send meanwhile).
    let (_, again) = n.next_sent(secs(5));
    assert_eq!(again.len(), 1, "{again:?}");
    again[0].expect(SYN | ACK, iss, PEER_ISS + 6);
    // The client's ACK covers only the SYN-ACK: the reply goes at once.
    let (remote, local) = ends(40_002);
    n.inject(remote, local, seg(ACK, PEER_ISS + 6, iss + 1, 65_535), &[]);
    let r = n.only();
    r.expect(ACK | PSH, iss + 1, PEER_ISS + 6);
    assert_eq!(r.data, b"200 OK");
    assert_eq!(n.state(h), TcpState::Established);
}

#[test]
fn an_icmp_error_leaves_an_accepted_fast_open_connection_alone() {
    let mut n = Net::new();
    let l = listener(&mut n, 8);
    let (h, iss) = fo_accepted(&mut n, l, 40_002);
    // A host unreachable quoting our SYN-ACK.
    host_unreachable(&mut n, sa(PEER, 40_002), iss);
    assert_eq!(n.state(h), TcpState::SynReceived);
    assert_eq!(n.recv(h).unwrap(), None, "no error, no data: still waiting");
}

/// Each data segment's bytes are the request's at its sequence number (`base` the
/// request's first), and the first of them starts at offset `from`.
fn assert_stream(out: &[Out], base: Seq, from: usize, data: &[u8]) {
    let mut first = None;
    for o in out.iter().filter(|o| !o.data.is_empty()) {
        let at = o.r.seq.since(base);
        assert_eq!(
            o.data[..],
            data[at..at + o.data.len()],
            "bytes at offset {at}"
        );
        first = first.or(Some(at));
    }
    assert_eq!(first, Some(from), "{out:?}");
}

#[test]
fn a_syn_ack_for_the_first_syn_s_data_after_a_plain_retransmission_keeps_the_stream() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let data = pattern(3000);
    let (_, syn) = fo_connect(&mut n, &data);
    let d = syn.data.len();
    assert!(d > 0 && d < 3000);
    let (_, again) = n.next_sent(secs(5));
    assert!(again[0].data.is_empty());
    // The server had taken the first SYN's data, and says so now.
    synack_to(&mut n, &again[0], d, None);
    let out = n.take();
    assert_stream(&out, syn.r.seq + 1, d, &data);
}

#[test]
fn a_zero_window_syn_ack_that_leaves_the_data_out_is_probed() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let (h, syn) = fo_connect(&mut n, b"GET /");
    let r = TcpRepr {
        mss: Some(PEER_MSS),
        ..seg(SYN | ACK, PEER_ISS, syn.r.seq + 1, 0)
    };
    n.inject(sa(PEER, LPORT), sa(syn.src, syn.r.src_port), r, &[]);
    n.take();
    assert_eq!(n.t.tcp_connected(h), Ok(true));
    // Nothing goes into the closed window, but a timer stays to probe it.
    let (_, probe) = n.next_sent(secs(10));
    assert_eq!(probe.len(), 1, "{probe:?}");
    assert_eq!(probe[0].r.seq, syn.r.seq + 1);
}

#[test]
fn after_a_simultaneous_open_the_syn_s_data_goes_with_the_handshake() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let (h, ours_syn) = fo_connect(&mut n, b"GET /");
    let (remote, local) = (sa(PEER, LPORT), sa(ours_syn.src, ours_syn.r.src_port));
    // The peer's SYN crosses ours (it drops our SYN's data, as Linux does in SYN-SENT).
    n.inject(
        remote,
        local,
        TcpRepr {
            sack_permitted: true,
            ..syn(PEER_ISS)
        },
        &[],
    );
    let ours = n.only();
    assert_eq!(ours.r.flags, SYN | ACK);
    assert!(ours.data.is_empty());
    // Its SYN-ACK acknowledges our SYN only: the request goes at once.
    let r = TcpRepr {
        mss: Some(PEER_MSS),
        sack_permitted: true,
        ..seg(SYN | ACK, PEER_ISS, ours_syn.r.seq + 1, 65_535)
    };
    n.inject(remote, local, r, &[]);
    let out = n.take();
    assert_stream(&out, ours_syn.r.seq + 1, 0, b"GET /");
    assert_eq!(n.t.tcp_connected(h), Ok(true));
}

// ---- negative responses (RFC 7413 4.1.3) -----------------------------------------------

/// A Fast Open SYN with data to the peer whose first transmission is lost: the plain
/// retransmission is answered and the handshake ends; the data goes after it.
fn lose_fo_syn(n: &mut Net) {
    let (h, syn) = fo_connect(n, b"GET /");
    assert_eq!(
        syn.data, b"GET /",
        "Fast Open on: cookie and data in the SYN"
    );
    let (_, again) = n.next_sent(secs(5));
    synack_to(n, &again[0], 0, None);
    n.take();
    assert_eq!(n.t.tcp_connected(h), Ok(true));
    ack_all(n, &syn, 5);
}

/// The peer acknowledges the `len` bytes after `syn`: the connection falls idle.
fn ack_all(n: &mut Net, syn: &Out, len: usize) {
    n.inject(
        sa(PEER, LPORT),
        sa(syn.src, syn.r.src_port),
        seg(ACK, PEER_ISS + 1, syn.r.seq + 1 + len, 65_535),
        &[],
    );
    n.nothing();
}

/// Open a Fast Open connection; whether its SYN carried the cookie and the data (if it
/// did, the server takes them; if not, the SYN is plain and its SYN-ACK answers it).
fn fo_syn_used(n: &mut Net) -> bool {
    let (h, syn) = fo_connect(n, b"GET /");
    let used = syn.r.fastopen.is_some();
    assert_eq!(used, !syn.data.is_empty(), "{syn:?}");
    synack_to(n, &syn, syn.data.len(), None);
    n.take();
    assert_eq!(n.t.tcp_connected(h), Ok(true));
    ack_all(n, &syn, 5);
    used
}

#[test]
fn two_lost_fast_open_syns_turn_fast_open_off_to_the_server_for_a_minute_then_two() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    // One loss is forgiven (the network's, maybe): the next SYN tries Fast Open again.
    lose_fo_syn(&mut n);
    assert_eq!(n.stats().fastopen_syn_lost, 1);
    lose_fo_syn(&mut n);
    assert_eq!(n.stats().fastopen_syn_lost, 2);
    // For a minute the connections to that server open with a plain SYN, the data
    // after the handshake.
    let (h, syn) = fo_connect(&mut n, b"GET /");
    assert_eq!((syn.r.fastopen, syn.data.len()), (None, 0), "{syn:?}");
    synack_to(&mut n, &syn, 0, None);
    let data: Vec<u8> = n.take().iter().flat_map(|o| o.data.clone()).collect();
    assert_eq!(data, b"GET /");
    assert_eq!(n.t.tcp_connected(h), Ok(true));
    ack_all(&mut n, &syn, 5);
    assert_eq!(n.stats().fastopen_active_off, 1);
    n.advance(secs(59));
    assert!(!fo_syn_used(&mut n));
    // Then the cookie is tried again; lost again, Fast Open stays off twice as long.
    n.advance(secs(2));
    lose_fo_syn(&mut n);
    assert_eq!(n.stats().fastopen_syn_lost, 3);
    n.advance(secs(100));
    assert!(!fo_syn_used(&mut n));
    n.advance(secs(21));
    // A Fast Open SYN that gets through ends the losses in a row: the next loss is
    // forgiven again.
    assert!(fo_syn_used(&mut n));
    assert_eq!(n.stats().fastopen_active, 1);
    lose_fo_syn(&mut n);
    assert!(fo_syn_used(&mut n));
    assert_eq!(n.stats().fastopen_active_off, 3);
}

#[test]
fn fast_open_stays_off_at_most_64_minutes_however_many_losses() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    for i in 0..12 {
        lose_fo_syn(&mut n);
        if i >= 1 {
            // Off now: wait until just before it ends, check, then let it end.
            let off = secs(60) * (1 << (i - 1).min(6));
            n.advance(off - secs(10));
            assert!(!fo_syn_used(&mut n), "loss {}: off for {off:?}", i + 1);
            n.advance(secs(11));
        }
    }
    assert_eq!(n.stats().fastopen_syn_lost, 12);
}

#[test]
fn connections_that_lose_their_syns_together_count_as_one_loss_in_the_backoff() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    lose_fo_syn(&mut n);
    // Two connections on their way at once lose their SYNs to the same outage.
    let (h1, syn1) = fo_connect(&mut n, b"GET /");
    let (h2, syn2) = fo_connect(&mut n, b"GET /");
    let (_, again) = n.next_sent(secs(5));
    assert_eq!(again.len(), 2, "{again:?}");
    for (h, syn) in [(h1, &syn1), (h2, &syn2)] {
        let re = again
            .iter()
            .find(|o| o.r.src_port == syn.r.src_port)
            .unwrap();
        synack_to(&mut n, re, 0, None);
        n.take();
        assert_eq!(n.t.tcp_connected(h), Ok(true));
        ack_all(&mut n, syn, 5);
    }
    assert_eq!(n.stats().fastopen_syn_lost, 3);
    // Off for a minute (the second loss in a row), not two.
    n.advance(secs(59));
    assert!(!fo_syn_used(&mut n));
    n.advance(secs(2));
    assert!(fo_syn_used(&mut n));
}

#[test]
fn a_syn_ack_for_the_fast_open_syn_that_comes_after_its_retransmission_is_no_loss() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    for _ in 0..2 {
        let (h, syn) = fo_connect(&mut n, b"GET /");
        let (_, again) = n.next_sent(secs(5));
        assert_eq!(again[0].r.fastopen, None);
        // The first SYN's answer, late: the data acknowledged.
        synack_to(&mut n, &syn, 5, None);
        n.take();
        assert_eq!(n.t.tcp_connected(h), Ok(true));
        ack_all(&mut n, &syn, 5);
    }
    assert_eq!(n.stats().fastopen_syn_lost, 0);
    assert!(fo_syn_used(&mut n));
}

#[test]
fn a_fast_open_connect_that_times_out_is_given_up_or_meets_an_icmp_error_lost_its_syn() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    // Refused after a retransmission: the path carried the SYNs; no loss.
    let (h, syn) = fo_connect(&mut n, b"GET /");
    let (_, again) = n.next_sent(secs(5));
    n.inject(
        sa(PEER, LPORT),
        sa(syn.src, syn.r.src_port),
        seg(RST | ACK, Seq(0), again[0].r.seq + 1, 0),
        &[],
    );
    assert_eq!(
        n.t.tcp_connected(h),
        Err(TransportError::Tcp(TcpError::Refused))
    );
    assert_eq!(n.stats().fastopen_syn_lost, 0);
    // No answer at all: the connection times out.
    let (h, _) = fo_connect(&mut n, b"GET /");
    n.advance(secs(127));
    n.take();
    assert_eq!(
        n.t.tcp_connected(h),
        Err(TransportError::Tcp(TcpError::TimedOut))
    );
    assert_eq!(n.stats().fastopen_syn_lost, 1);
    // The application gives up after one retransmission (a connect timeout): lost too,
    // the second in a row, and Fast Open goes off.
    let (h, syn) = fo_connect(&mut n, b"GET /");
    assert!(!syn.data.is_empty());
    n.next_sent(secs(5));
    n.close(h);
    n.take();
    assert_eq!(n.stats().fastopen_syn_lost, 2);
    assert!(!fo_syn_used(&mut n));
    // An ICMP error ends a first Fast Open SYN at once: lost as well.
    let mut n = Net::new();
    learn_cookie(&mut n);
    for _ in 0..2 {
        let (h, syn) = fo_connect(&mut n, b"GET /");
        host_unreachable_from(&mut n, syn.r.src_port, sa(PEER, LPORT), syn.r.seq);
        assert!(n.t.tcp_connected(h).is_err());
    }
    assert_eq!(n.stats().fastopen_syn_lost, 2);
    assert!(!fo_syn_used(&mut n));
}

#[test]
fn a_server_that_answers_the_cookie_without_taking_the_data_keeps_its_cookie() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let cookie = FastOpen::cookie(&[7; 8]);
    for data in [&b"GET /"[..], b""] {
        // The server answered that very SYN but without a cookie, and took no data (its
        // Fast Open queue was full, or there was none): the cookie stays, no loss.
        let (h, syn) = fo_connect(&mut n, data);
        assert_eq!(syn.r.fastopen, cookie);
        assert_eq!(syn.data, data);
        synack_to(&mut n, &syn, 0, None);
        n.take();
        assert_eq!(n.t.tcp_connected(h), Ok(true));
        ack_all(&mut n, &syn, data.len());
    }
    let (_, syn) = fo_connect(&mut n, b"GET /");
    assert_eq!(syn.r.fastopen, cookie);
    assert_eq!(syn.data, b"GET /");
    assert_eq!(n.stats().fastopen_syn_lost, 0);
}

/// A multihomed client's cookies depend on its address too (4.1.3): one learnt from US
/// is not offered from US2, which asks for its own.
#[test]
fn a_cookie_is_kept_for_our_address_and_the_server_s() {
    let mut n = Net::new();
    learn_cookie(&mut n);
    let h = n.t.tcp_open().unwrap();
    n.t.tcp_bind(h, sa(US2, 0), &n.ip).unwrap();
    n.t.tcp_connect_fastopen(h, sa(PEER, LPORT), b"GET /", &mut n.ip, n.now)
        .unwrap();
    let syn = n.only();
    assert_eq!(syn.src, US2);
    assert_eq!(syn.r.fastopen, Some(FastOpen::REQUEST));
    assert!(syn.data.is_empty());
    let (_, syn) = fo_connect(&mut n, b"GET /");
    assert_eq!((syn.src, syn.r.fastopen), (US, FastOpen::cookie(&[7; 8])));
}

/// A Fast Open connect's data is queued as a write is: under memory pressure, at most
/// what an empty send queue may take then, however large the send buffer.
#[test]
fn a_fast_open_connect_under_memory_pressure_queues_what_a_write_would() {
    let mut n = Net::with_cfg(TcpConfig {
        mem_max: 100_000,
        ..TcpConfig::default()
    });
    // Another connection's unread 150 KB put TCP under pressure.
    let c = n.passive();
    let data = pattern(150_000);
    for (i, chunk) in data.chunks(1000).enumerate() {
        n.data(&c, c.rcv + i * 1000, chunk);
    }
    n.take();
    let (used, max) = n.t.tcp_mem();
    assert!(used > max, "{used} of {max}");
    let h = n.t.tcp_open().unwrap();
    let big = pattern(300_000);
    let queued =
        n.t.tcp_connect_fastopen(h, sa(PEER, LPORT), &big, &mut n.ip, n.now)
            .unwrap();
    assert_eq!(queued, 64 * 1024, "SEND_MIN_UNDER_PRESSURE");
}
