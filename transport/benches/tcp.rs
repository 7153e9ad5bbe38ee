//! Micro-benchmarks of TCP's hot paths (issue 8), through the transport crate's public API
//! with a virtual clock and an IP layer that keeps nothing:
//! - the TCP header parsed (a data segment; an ACK with three SACK blocks) and emitted
//!   (a bare ACK; a full 1460-byte data segment, checksum included);
//! - the input of an in-order 1460-byte segment on an established connection (the ACK it
//!   triggers every second segment included, and the application's reads, amortised:
//!   every 64 segments), its checksum verified or vouched for by the device;
//! - an ACK that acknowledges one segment and SACKs three ranges above a hole of ten
//!   segments in flight (loss detection and the retransmission it triggers included);
//! - `Transport::poll_at` with 10,000 established connections, each with unacknowledged
//!   data (a retransmission timer armed).
//!
//! Run by hand: `cargo bench -p transport --bench tcp`; nothing asserts on time. Figures
//! in BENCHMARKS.md.

#![forbid(unsafe_code)]

use divan::{black_box, Bencher};
use ip::checksum;
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ip::{Datagram, IpTx, SendError, SendMeta, Upper};
use netif::Instant;
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::tcp::wire::{flags, TcpRepr};
use transport::tcp::Seq;
use transport::{SocketHandle, TcpConfig, Transport, TransportConfig};

fn main() {
    divan::main();
}

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 9;
const MSS: usize = 1460;

/// An IP layer that writes each datagram into one reused buffer and keeps only the last
/// when asked (to read a SYN-ACK's sequence number).
#[derive(Default)]
struct SinkIp {
    buf: Vec<u8>,
    keep_last: bool,
    last: Vec<u8>,
    sent: u64,
}

impl IpTx for SinkIp {
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), SendError> {
        self.buf.resize(payload_len, 0);
        fill(&mut self.buf[..payload_len]);
        // What `ip` does for a device without checksum offload.
        if let Some(at) = meta.l4_csum {
            let at = usize::from(at);
            let src = meta.src.unwrap_or(US);
            let len = u16::try_from(payload_len).unwrap_or(u16::MAX);
            let acc = checksum::pseudo_header(src, meta.dst, meta.protocol, len);
            let c = checksum::finish(checksum::sum(&self.buf[..payload_len], acc));
            self.buf[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        if self.keep_last {
            self.last.clear();
            self.last.extend_from_slice(&self.buf);
        }
        self.sent += 1;
        Ok(())
    }

    fn route_info(&self, _dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        Some((US, 1500))
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == US
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast()
    }
}

/// The IP datagram of a segment from the peer's `pport` to our `PORT`.
fn datagram(pport: u16, r: &TcpRepr, data: &[u8]) -> Vec<u8> {
    let r = TcpRepr {
        src_port: pport,
        dst_port: PORT,
        ..*r
    };
    let hl = r.header_len();
    let l4 = hl + data.len();
    let mut d = vec![0u8; ipv4::HEADER_LEN + l4];
    Ipv4Repr {
        src: PEER,
        dst: US,
        protocol: ipv4::protocol::TCP,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        payload_len: l4,
    }
    .emit(&mut d, 0, false);
    d[ipv4::HEADER_LEN + hl..].copy_from_slice(data);
    r.emit(&mut d[ipv4::HEADER_LEN..], PEER, US);
    d
}

fn deliver(t: &mut Transport, ip: &mut SinkIp, bytes: &[u8], now: Instant) {
    deliver_csum(t, ip, bytes, false, now)
}

/// `csum_ok`: the device vouched for the TCP checksum (offload), so TCP does not verify it.
fn deliver_csum(t: &mut Transport, ip: &mut SinkIp, bytes: &[u8], csum_ok: bool, now: Instant) {
    let packet = Ipv4Packet::new_checked(bytes).expect("a valid IP header");
    let d = Datagram {
        ifindex: 1,
        packet,
        broadcast: false,
        csum_ok,
        gso_size: None,
    };
    t.deliver(ip, &d, now);
}

fn header(fl: u8, seq: Seq, ack: Seq) -> TcpRepr {
    TcpRepr {
        seq,
        ack,
        flags: fl,
        window: 65_535,
        ..TcpRepr::default()
    }
}

/// A transport with room for `conns` connections and a listener on `PORT`.
fn server(conns: usize) -> (Transport, SinkIp, SocketHandle) {
    let mut t = Transport::new(TransportConfig {
        max_sockets: conns + 16,
        tcp: TcpConfig {
            max_backlog: 4096,
            ..TcpConfig::default()
        },
        ..TransportConfig::default()
    });
    let ip = SinkIp {
        keep_last: true,
        ..SinkIp::default()
    };
    let l = t.tcp_open().expect("open");
    t.tcp_bind(l, SocketAddrV4::new(US, PORT), &ip)
        .expect("bind");
    t.tcp_listen(l, 1024, &ip).expect("listen");
    (t, ip, l)
}

/// A connection as the peer sees it: our next sequence number and the peer's.
struct Conn {
    h: SocketHandle,
    pport: u16,
    snd: Seq,
    rcv: Seq,
}

/// The peer's handshake from `pport` (MSS 1460, window scale 7, SACK permitted), accepted.
fn connect(t: &mut Transport, ip: &mut SinkIp, l: SocketHandle, pport: u16, now: Instant) -> Conn {
    let iss = Seq(1_000_000);
    let syn = TcpRepr {
        mss: Some(MSS as u16),
        wscale: Some(7),
        sack_permitted: true,
        ..header(flags::SYN, iss, Seq(0))
    };
    deliver(t, ip, &datagram(pport, &syn, &[]), now);
    let (synack, _) = TcpRepr::parse(&ip.last).expect("a SYN-ACK");
    let (snd, rcv) = (synack.seq + 1, iss + 1);
    deliver(
        t,
        ip,
        &datagram(pport, &header(flags::ACK, rcv, snd), &[]),
        now,
    );
    let (h, _) = t
        .tcp_accept(l)
        .expect("accept")
        .expect("an established connection");
    Conn { h, pport, snd, rcv }
}

/// Add `new - old` to the one's complement checksum at `at` (RFC 1624, eqn. 3), for a
/// 32-bit field changed from `old` to `new`.
fn adjust_checksum(d: &mut [u8], at: usize, old: u32, new: u32) {
    let mut acc = u32::from(!u16::from_be_bytes([d[at], d[at + 1]]));
    for (o, n) in [(old >> 16, new >> 16), (old & 0xffff, new & 0xffff)] {
        acc += u32::from(!(o as u16)) + n;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    d[at..at + 2].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

#[divan::bench]
fn header_parse_data(bencher: Bencher) {
    let d = datagram(
        40_000,
        &header(flags::ACK | flags::PSH, Seq(1), Seq(2)),
        &[7; MSS],
    );
    let seg = &d[ipv4::HEADER_LEN..];
    bencher.bench_local(|| TcpRepr::parse(black_box(seg)).map(|(r, p)| (r.seq, p.len())));
}

#[divan::bench]
fn header_parse_sack(bencher: Bencher) {
    let mut r = header(flags::ACK, Seq(1), Seq(2));
    for (i, b) in [(3u32, 5u32), (6, 8), (9, 12)].into_iter().enumerate() {
        r.sack[i] = (Seq(b.0 * MSS as u32), Seq(b.1 * MSS as u32));
    }
    r.sack_count = 3;
    let d = datagram(40_000, &r, &[]);
    let seg = &d[ipv4::HEADER_LEN..];
    bencher.bench_local(|| TcpRepr::parse(black_box(seg)).map(|(r, _)| r.sack_count));
}

/// A bare ACK's 20-byte header with its checksum.
#[divan::bench]
fn header_emit_ack(bencher: Bencher) {
    let r = header(flags::ACK, Seq(1), Seq(2));
    let mut b = [0u8; 20];
    bencher.bench_local(|| black_box(r).emit(black_box(&mut b), US, PEER));
}

/// A data segment's header in front of 1460 bytes in place: the checksum covers them.
#[divan::bench]
fn header_emit_data(bencher: Bencher) {
    let r = header(flags::ACK | flags::PSH, Seq(1), Seq(2));
    let mut b = vec![7u8; 20 + MSS];
    bencher.bench_local(|| black_box(r).emit(black_box(&mut b), US, PEER));
}

/// One in-order 1460-byte segment into an established connection, in a steady state: the
/// application reads (64 KiB at a time) after every 64 segments, so the window stays open.
/// `csum_offloaded`: the device vouched for the checksum (TAP offloads), so it is not
/// verified.
#[divan::bench(args = [false, true])]
fn input_in_order(bencher: Bencher, csum_offloaded: bool) {
    let now = Instant::from_secs(1000);
    let (mut t, mut ip, l) = server(1);
    let c = connect(&mut t, &mut ip, l, 40_000, now);
    ip.keep_last = false;
    let mut d = datagram(
        c.pport,
        &header(flags::ACK | flags::PSH, c.rcv, c.snd),
        &[0x5a; MSS],
    );
    let seq_at = ipv4::HEADER_LEN + 4;
    let csum_at = ipv4::HEADER_LEN + 16;
    let seq = Cell::new(c.rcv.0);
    let count = Cell::new(0usize);
    let read = Cell::new(0usize);
    let mut buf = vec![0u8; 64 * 1024];
    bencher.bench_local(|| {
        deliver_csum(&mut t, &mut ip, &d, csum_offloaded, now);
        let (old, new) = (seq.get(), seq.get().wrapping_add(MSS as u32));
        seq.set(new);
        d[seq_at..seq_at + 4].copy_from_slice(&new.to_be_bytes());
        adjust_checksum(&mut d, csum_at, old, new);
        count.set(count.get() + 1);
        if count.get().is_multiple_of(64) {
            while let Ok(Some(n)) = t.tcp_recv(c.h, &mut buf, &mut ip, now) {
                if n == 0 {
                    break;
                }
                read.set(read.get() + n);
            }
        }
    });
    // Not a timing check: every segment must have been taken in order, or this measured
    // another path.
    let queued = t.tcp_ref(c.h).map_or(0, |s| s.queues().0);
    assert_eq!(
        read.get() + queued,
        count.get() * MSS,
        "segments were not taken in order"
    );
}

/// Ten segments in flight; the peer's ACK acknowledges the first and SACKs segments 3-4,
/// 6-7 and 9-10 (1-based), so 2, 5 and 8 are holes. Each sample starts from a fresh
/// connection (built outside the measurement).
#[divan::bench(sample_size = 8)]
fn ack_with_sack(bencher: Bencher) {
    let now = Instant::from_secs(1000);
    bencher
        .with_inputs(|| {
            let (mut t, mut ip, l) = server(1);
            let c = connect(&mut t, &mut ip, l, 40_000, now);
            let data = vec![0x5au8; 20 * MSS];
            let sent = ip.sent;
            t.tcp_send(c.h, &data, &mut ip, now).expect("send");
            assert!(ip.sent - sent >= 10, "not ten segments in flight");
            ip.keep_last = false;
            let una = c.snd;
            let s = |n: usize| una + n * MSS;
            let mut r = header(flags::ACK, c.rcv, s(1));
            r.sack[0] = (s(8), s(10));
            r.sack[1] = (s(5), s(7));
            r.sack[2] = (s(2), s(4));
            r.sack_count = 3;
            let ack = datagram(c.pport, &r, &[]);
            (t, ip, ack)
        })
        .bench_local_values(|(mut t, mut ip, ack)| {
            deliver(&mut t, &mut ip, &ack, now);
            (t, ip)
        });
}

/// `poll_at` (the next deadline of any timer) with 10,000 established connections, each
/// with 100 unacknowledged bytes.
#[divan::bench(sample_count = 50)]
fn poll_at_10k(bencher: Bencher) {
    const N: usize = 10_000;
    let now = Instant::from_secs(1000);
    let (mut t, mut ip, l) = server(N);
    for i in 0..N {
        let c = connect(&mut t, &mut ip, l, 10_000 + i as u16, now);
        t.tcp_send(c.h, &[1; 100], &mut ip, now).expect("send");
    }
    assert!(t.poll_at().is_some());
    bencher.bench_local(|| black_box(&t).poll_at());
}
