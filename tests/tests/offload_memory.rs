//! Offloads through the real `ip` and `transport` layers, in memory (issue 8): the frames a
//! TAP with `IFF_VNET_HDR` hands over (a coalesced TCP segment far beyond the MTU whose
//! checksum field holds only the pseudo-header sum) reach a connection as one segment, the
//! same frame claiming a full checksum is dropped by TCP as a bad checksum, and what the
//! connection sends leaves as TSO frames whose completed checksums verify; without offloads,
//! MTU-sized frames with full checksums. Sans-IO: the test plays the kernel and the clock.

#![forbid(unsafe_code)]

use ip::ipv4::{self, Ipv4Packet};
use ip::{IpLayer, TxFrame};
use netif::ethernet;
use netif::vnet::complete_checksum;
use netif::{Csum, FrameMeta, Gso, Instant, Offload};
use std::net::SocketAddrV4;
use tests::frames::{ip_frame, stack_knowing_peer, PEER, PEER_MAC, US};
use transport::tcp::wire::{self, flags, TcpRepr};
use transport::tcp::Seq;
use transport::{SocketHandle, Transport};

const PEER_PORT: u16 = 40_000;
const PORT: u16 = 80;
/// What Linux announces on a 1500-byte link.
const PEER_MSS: u16 = 1460;
/// Ethernet + IPv4 headers: where TCP starts in a frame.
const L4_AT: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
const PARTIAL: Csum = Csum::Partial {
    start: L4_AT as u16,
    offset: wire::CHECKSUM_AT as u16,
};

/// The stack (ip + transport) on one interface whose device offers `offload`, and a
/// connection the peer opened to its listener.
struct Host {
    ip: IpLayer,
    t: Transport,
    now: Instant,
    conn: SocketHandle,
    /// The peer's next sequence number and ours.
    peer_seq: Seq,
    our_seq: Seq,
}

/// A frame from the peer carrying `tcp` (a segment, checksum field as given).
fn peer_frame(tcp: &[u8]) -> Vec<u8> {
    ip_frame(PEER, ipv4::protocol::TCP, true, tcp)
}

/// A segment from the peer with `data`; `full`: a full checksum, else only the
/// pseudo-header sum (what the kernel leaves with NEEDS_CSUM).
fn peer_segment(r: TcpRepr, data: &[u8], full: bool) -> Vec<u8> {
    let r = TcpRepr {
        src_port: PEER_PORT,
        dst_port: PORT,
        ..r
    };
    let hl = r.header_len();
    let mut b = vec![0u8; hl + data.len()];
    b[hl..].copy_from_slice(data);
    if full {
        r.emit(&mut b, PEER, US);
    } else {
        r.emit_header(&mut b);
        let ph = ip::checksum::pseudo_header(PEER, US, ipv4::protocol::TCP, b.len() as u16);
        let at = wire::CHECKSUM_AT;
        b[at..at + 2].copy_from_slice(&ip::checksum::fold(ph).to_be_bytes());
    }
    b
}

/// A frame the stack queued, as it would be on the wire (a partial checksum completed, as
/// the device does): the TCP segment in it, checked (addresses, IP header, checksum).
fn segment_of(f: &TxFrame) -> (TcpRepr, Vec<u8>) {
    let mut frame = f.data.clone();
    if let Csum::Partial { start, offset } = f.meta.csum {
        assert_eq!(f.meta.csum, PARTIAL);
        assert!(complete_checksum(&mut frame, start, offset));
    }
    assert_eq!(&frame[..6], &PEER_MAC.0);
    let p = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]).expect("IPv4");
    assert!(p.verify_checksum());
    assert_eq!((p.src(), p.dst()), (US, PEER));
    assert!(
        wire::verify_checksum(p.payload(), US, PEER),
        "TCP checksum of {:?}",
        f.meta
    );
    let (r, data) = TcpRepr::parse(p.payload()).expect("TCP");
    (r, data.to_vec())
}

impl Host {
    fn new(offload: Offload) -> Host {
        let now = Instant::from_secs(100);
        let (mut ip, mut t) = stack_knowing_peer(offload, now);
        // The peer introduced itself (ARP); its SYN comes.
        let l = t.tcp_open().unwrap();
        t.tcp_bind(l, SocketAddrV4::new(US, PORT), ip.tx()).unwrap();
        t.tcp_listen(l, 4, ip.tx()).unwrap();
        let peer_iss = Seq(0x1000);
        let syn = TcpRepr {
            seq: peer_iss,
            flags: flags::SYN,
            window: 65_535,
            mss: Some(PEER_MSS),
            ..TcpRepr::default()
        };
        ip.receive_frame(0, &peer_frame(&peer_segment(syn, &[], true)), now, &mut t);
        let out: Vec<TxFrame> = ip.take_tx().collect();
        assert_eq!(out.len(), 1, "a SYN-ACK");
        let (sa, _) = segment_of(&out[0]);
        assert_eq!(sa.flags, flags::SYN | flags::ACK);
        let (peer_seq, our_seq) = (peer_iss + 1, sa.seq + 1);
        let ack = TcpRepr {
            seq: peer_seq,
            ack: our_seq,
            flags: flags::ACK,
            window: 65_535,
            ..TcpRepr::default()
        };
        ip.receive_frame(0, &peer_frame(&peer_segment(ack, &[], true)), now, &mut t);
        let (conn, _) = t.tcp_accept(l).unwrap().expect("a connection");
        Host {
            ip,
            t,
            now,
            conn,
            peer_seq,
            our_seq,
        }
    }

    /// The peer sends `data` in one coalesced frame with `csum`.
    fn coalesced(&mut self, data: &[u8], csum: Csum) {
        let r = TcpRepr {
            seq: self.peer_seq,
            ack: self.our_seq,
            flags: flags::ACK | flags::PSH,
            window: 65_535,
            ..TcpRepr::default()
        };
        let seg = peer_segment(r, data, false);
        let meta = FrameMeta {
            csum,
            gso: Some(Gso {
                size: PEER_MSS,
                hdr_len: (L4_AT + 20) as u16,
            }),
        };
        let frame = peer_frame(&seg);
        assert!(frame.len() > 1514);
        self.ip
            .receive_frame_meta(0, &frame, meta, self.now, &mut self.t);
    }

    /// Everything the connection has to read now.
    fn read(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 1 << 20];
        match self.t.tcp_recv(self.conn, &mut buf, self.ip.tx(), self.now) {
            Ok(Some(n)) => buf[..n].to_vec(),
            _ => Vec::new(),
        }
    }
}

#[test]
fn a_coalesced_segment_reaches_the_connection_whole_and_one_claiming_a_full_checksum_is_dropped() {
    let mut h = Host::new(Offload {
        csum: true,
        tso: true,
    });
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    h.coalesced(&data, PARTIAL);
    assert_eq!(h.read(), data, "one segment of 20,000 bytes");
    assert_eq!(h.t.tcp_stats().drop_bad_checksum, 0);
    // It is acknowledged as a whole.
    let acks: Vec<TcpRepr> = h.ip.take_tx().map(|f| segment_of(&f).0).collect();
    assert!(
        acks.iter().any(|r| r.ack == h.peer_seq + data.len()),
        "{acks:?}"
    );
    h.peer_seq = h.peer_seq + data.len();

    // The same kind of frame without NEEDS_CSUM: the field is taken as a full checksum,
    // which it is not.
    h.coalesced(&data, Csum::Full);
    assert_eq!(h.t.tcp_stats().drop_bad_checksum, 1);
    assert!(h.read().is_empty(), "nothing delivered");
    assert!(
        h.ip.take_tx()
            .all(|f| segment_of(&f).0.ack != h.peer_seq + data.len()),
        "not acknowledged"
    );
    assert_eq!(h.ip.stats().drop_bad_offload, 0);
}

/// The stack sends `n` bytes on its connection; the frames that left, each checked, and
/// the bytes they carried in order.
fn stack_sends(h: &mut Host, n: usize) -> (Vec<TxFrame>, Vec<u8>) {
    let data: Vec<u8> = (0..n).map(|i| (i % 241) as u8).collect();
    let sent = h.t.tcp_send(h.conn, &data, h.ip.tx(), h.now).expect("send");
    assert!(sent > 0);
    let frames: Vec<TxFrame> = h.ip.take_tx().collect();
    let mut got = Vec::new();
    for f in &frames {
        let (r, d) = segment_of(f);
        assert_eq!(r.seq, h.our_seq + got.len(), "in order");
        got.extend_from_slice(&d);
    }
    assert_eq!(&got[..], &data[..got.len()]);
    (frames, got)
}

#[test]
fn with_offloads_the_connection_sends_tso_frames_the_device_cuts() {
    let mut h = Host::new(Offload {
        csum: true,
        tso: true,
    });
    let (frames, got) = stack_sends(&mut h, 60_000);
    assert!(!got.is_empty());
    let tso: Vec<&TxFrame> = frames.iter().filter(|f| f.meta.gso.is_some()).collect();
    assert!(
        !tso.is_empty(),
        "{:?}",
        frames.iter().map(|f| f.meta).collect::<Vec<_>>()
    );
    for f in &tso {
        assert_eq!(f.meta.csum, PARTIAL);
        let g = f.meta.gso.unwrap();
        assert_eq!(g.size, PEER_MSS, "cut to the peer's MSS");
        let tcp_hl = usize::from(f.data[L4_AT + 12] >> 4) * 4;
        assert_eq!(usize::from(g.hdr_len), L4_AT + tcp_hl);
        assert!(f.data.len() > 1514);
        assert!(f.data.len() - usize::from(g.hdr_len) > usize::from(g.size));
    }
}

#[test]
fn without_offloads_the_connection_sends_mtu_sized_frames_with_full_checksums() {
    let mut h = Host::new(Offload::NONE);
    let (frames, got) = stack_sends(&mut h, 60_000);
    assert!(frames.len() > 1 && !got.is_empty());
    for f in &frames {
        assert!(f.meta.is_plain(), "{:?}", f.meta);
        assert!(f.data.len() <= 1514);
    }
    // A coalesced frame from this device is not trusted (dropped by ip, counted).
    h.coalesced(&[7u8; 5000], PARTIAL);
    assert_eq!(h.ip.stats().drop_bad_offload, 1);
    assert!(h.read().is_empty());
}

#[test]
fn below_576_a_tso_link_still_carries_the_data_as_fragmented_segments() {
    // The link's MTU set to 500 under an established connection: TCP keeps 536-byte
    // segments without DF for `ip` to fragment (RFC 791's 576). A TSO burst cut at 536
    // would not fit the MTU, so `ip` refuses it; the data must still leave.
    let mut h = Host::new(Offload {
        csum: true,
        tso: true,
    });
    h.ip.set_mtu(0, 500).unwrap();
    let data = vec![5u8; 20_000];
    let sent = h.t.tcp_send(h.conn, &data, h.ip.tx(), h.now).expect("send");
    assert!(sent > 0);
    let frames: Vec<TxFrame> = h.ip.take_tx().collect();
    let failures = h.t.tcp_stats().send_failures;
    assert!(
        !frames.is_empty(),
        "nothing left the stack ({failures} send failures, drop_frag_needed {})",
        h.ip.stats().drop_frag_needed
    );
    for f in &frames {
        assert!(f.meta.gso.is_none(), "{:?}", f.meta);
        assert!(
            f.data.len() <= ethernet::HEADER_LEN + 500,
            "{}",
            f.data.len()
        );
    }
    // The segments leave as fragments: at least two frames per 536-byte segment.
    let p = Ipv4Packet::new_checked(&frames[0].data[ethernet::HEADER_LEN..]).unwrap();
    assert!(p.more_fragments() && !p.dont_fragment());
}
