//! Tests of an independent review of TCP Fast Open (RFC 7413) through the socket API.

use crate::StackBuilder;
use netif::{Device, MacAddr};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use transport::tcp::wire::{flags, FastOpen, TcpRepr};
use transport::tcp::Seq;

const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const THEIR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// An Ethernet frame from the peer (10.0.0.2, port `sport`) to our port 80.
fn frame(sport: u16, r: TcpRepr, data: &[u8]) -> Vec<u8> {
    crate::testing::tcp_frame_to_us(sport, 80, r, data)
}

/// The next TCP segment the peer receives (within 5 s), parsed.
fn next_segment(peer: &netif::MemoryLink) -> TcpRepr {
    let mut buf = [0u8; 1600];
    loop {
        let n = peer
            .recv(&mut buf, Duration::from_secs(5))
            .unwrap()
            .expect("a segment");
        if n >= 54 && buf[12..14] == [0x08, 0x00] && buf[23] == 6 {
            return TcpRepr::parse(&buf[34..n]).unwrap().0;
        }
    }
}

/// A Fast Open server's application has the connection before the handshake's ACK
/// (RFC 7413 4.2.2), and asks whom it talks to: Linux's `getpeername` answers in
/// SYN-RECEIVED (`inet_getname` refuses only CLOSE and SYN-SENT). Here `peer_addr` said
/// NotConnected until the client's ACK came, as it keyed on a synchronized state.
#[test]
fn an_accepted_fast_open_connection_knows_its_peer_before_the_handshake_ends() {
    let (ours, peer) = crate::testing::link(64);
    let stack = StackBuilder::new()
        .device(Arc::new(ours))
        .addr("10.0.0.1/24")
        .build()
        .unwrap();
    stack
        .lock()
        .ip
        .arp_add_static(THEM, MacAddr(THEIR_MAC))
        .unwrap();
    let listener = crate::TcpListener::bind(&stack, "10.0.0.1:80").unwrap();
    listener.set_fastopen(8).unwrap();
    // A first SYN asks for a cookie.
    let syn = |seq, fo| TcpRepr {
        seq,
        flags: flags::SYN,
        mss: Some(1000),
        fastopen: Some(fo),
        ..TcpRepr::default()
    };
    peer.send(&frame(40_001, syn(Seq(1_000), FastOpen::REQUEST), &[]))
        .unwrap();
    let cookie = next_segment(&peer).fastopen.expect("a cookie");
    // The next SYN carries it and a request, and no ACK follows.
    peer.send(&frame(40_002, syn(Seq(5_000), cookie), b"GET /"))
        .unwrap();
    let synack = next_segment(&peer);
    assert_eq!(synack.ack, Seq(5_006), "the data taken: {synack:?}");
    let (a, from) = listener.accept().unwrap();
    let client: SocketAddr = "10.0.0.2:40002".parse().unwrap();
    assert_eq!(from, client);
    assert_eq!(a.peer_addr().unwrap(), client);
    stack.shutdown();
}
