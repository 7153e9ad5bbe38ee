//! A segment-level harness for TCP: a fake IP layer that records every datagram the stack
//! sends, helpers that inject segments through `ip::Upper::deliver` (as `ip` would), and a
//! virtual clock that runs `Transport::poll` whenever `Transport::poll_at` falls due.
//!
//! The peer is played by the test: it writes each segment by hand (sequence numbers, flags,
//! window) and checks each segment the stack answers with.
#![allow(dead_code)]

use ip::checksum;
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ip::{Datagram, Delivery, IcmpErrorReport, IpTx, SendError, SendMeta, Upper};
use netif::{Duration, Instant};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::tcp::wire::{self, flags, TcpRepr};
use transport::tcp::{ConnOpts, Seq};
use transport::{
    ConnInfo, SocketHandle, TcpConfig, TcpState, TcpStats, Transport, TransportConfig,
    TransportError,
};

#[allow(unused_imports)] // each test file uses a different subset
pub use flags::{ACK, FIN, PSH, RST, SYN};

/// This host.
pub const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peer the tests play.
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// A second address of ours (a multihomed host's), for sockets bound to it.
pub const US2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
pub const BCAST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);
/// The port our listeners use, and the peer's port.
pub const LPORT: u16 = 80;
pub const PPORT: u16 = 40_000;
/// The peer's initial sequence number (near the wrap, so the arithmetic is exercised).
pub const PEER_ISS: Seq = Seq(0xffff_ff00);
/// The MSS the peer announces by default.
pub const PEER_MSS: u16 = 1000;

pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One datagram handed to the fake IP layer.
#[derive(Clone, Debug)]
pub struct Sent {
    pub meta: SendMeta,
    pub payload: Vec<u8>,
}

/// A host 10.0.0.1/24 (and loopback) whose IP layer records what it is asked to send.
#[derive(Default)]
pub struct FakeIp {
    pub sent: Vec<Sent>,
    /// Make every send fail (a full transmit queue).
    pub fail: bool,
    /// What the route's device offloads (`IpTx::offload`): none unless a test says so.
    pub offload: netif::Offload,
    /// Path MTUs the transport reported (`IpTx::set_path_mtu`), latest last.
    pub pmtu: Vec<(Ipv4Addr, usize)>,
    /// The interface's MTU (`IpTx::link`; 1500 unless a test changes it): larger
    /// datagrams with DF are refused (`TooLong`) unless the device cuts them (TSO); those
    /// without go (`ip` would fragment them).
    pub link_mtu: Option<usize>,
}

impl FakeIp {
    pub fn mtu(&self) -> usize {
        self.link_mtu.unwrap_or(1500)
    }
}

impl IpTx for FakeIp {
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), SendError> {
        if self.fail {
            return Err(SendError::QueueFull);
        }
        if payload_len > ipv4::MAX_PAYLOAD {
            return Err(SendError::TooLong);
        }
        if payload_len + 20 > self.mtu() && meta.gso_size.is_none() && meta.dont_fragment {
            return Err(SendError::TooLong);
        }
        let mut payload = vec![0u8; payload_len];
        fill(&mut payload);
        if let Some(at) = meta.l4_csum {
            // What `ip` does for a sender that leaves it the checksum.
            let at = usize::from(at);
            let src = meta.src.unwrap_or(US);
            let len = u16::try_from(payload.len()).unwrap();
            let ph = checksum::pseudo_header(src, meta.dst, meta.protocol, len);
            let c = checksum::finish(checksum::sum(&payload, ph));
            payload[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        self.sent.push(Sent {
            meta: *meta,
            payload,
        });
        Ok(())
    }

    fn route_info(&self, dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        let learnt = self.pmtu.iter().rev().find(|p| p.0 == dst).map(|p| p.1);
        Some((US, learnt.unwrap_or(1500).min(self.mtu())))
    }

    fn set_path_mtu(&mut self, dst: Ipv4Addr, mtu: usize, _now: Instant) {
        self.pmtu.push((dst, mtu));
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == US || ip == US2 || ip == Ipv4Addr::LOCALHOST
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast() || ip == BCAST
    }

    fn link(&self, _dst: Ipv4Addr) -> Option<(netif::Offload, usize)> {
        Some((self.offload, self.mtu()))
    }
}

/// A TCP segment the stack sent, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct Out {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The IP TOS octet (its low two bits: ECN, RFC 3168).
    pub tos: u8,
    pub r: TcpRepr,
    pub data: Vec<u8>,
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {} {:?} len {}",
            self.src,
            self.dst,
            self.r,
            self.data.len()
        )
    }
}

impl Out {
    /// Assert flags, seq and ack (ack only checked when the ACK flag is expected).
    #[track_caller]
    pub fn expect(&self, fl: u8, seq: Seq, ack: Seq) {
        assert_eq!(
            wire::flag_string(self.r.flags),
            wire::flag_string(fl),
            "flags of {self:?}"
        );
        assert_eq!(self.r.seq, seq, "seq of {self:?}");
        if fl & ACK != 0 {
            assert_eq!(self.r.ack, ack, "ack of {self:?}");
        }
    }

    /// A pure ACK (no data) with this seq and ack.
    #[track_caller]
    pub fn expect_ack(&self, seq: Seq, ack: Seq) {
        self.expect(ACK, seq, ack);
        assert!(self.data.is_empty(), "data in {self:?}");
    }
}

/// A header from the peer; ports are filled in by `Net::inject`.
pub fn seg(fl: u8, seq: Seq, ack: Seq, window: u16) -> TcpRepr {
    TcpRepr {
        seq,
        ack: if fl & ACK != 0 { ack } else { Seq(0) },
        flags: fl,
        window,
        ..TcpRepr::default()
    }
}

/// The peer's SYN with its usual options (MSS 1000, no window scale, window 65535).
pub fn syn(seq: Seq) -> TcpRepr {
    TcpRepr {
        mss: Some(PEER_MSS),
        ..seg(SYN, seq, Seq(0), 65_535)
    }
}

/// The bytes of a TCP segment with a correct checksum.
pub fn tcp_bytes(from: SocketAddrV4, to: SocketAddrV4, r: &TcpRepr, data: &[u8]) -> Vec<u8> {
    let r = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        ..*r
    };
    let hl = r.header_len();
    let mut b = vec![0u8; hl + data.len()];
    b[hl..].copy_from_slice(data);
    r.emit(&mut b, *from.ip(), *to.ip());
    b
}

/// A segment built from raw header bytes (options included, data offset as given): the
/// checksum field is computed here.
pub fn raw_tcp(from: Ipv4Addr, to: Ipv4Addr, mut seg: Vec<u8>) -> Vec<u8> {
    if seg.len() >= 18 {
        seg[16] = 0;
        seg[17] = 0;
        let acc = checksum::pseudo_header(from, to, ipv4::protocol::TCP, seg.len() as u16);
        let c = checksum::finish(checksum::sum(&seg, acc));
        seg[16..18].copy_from_slice(&c.to_be_bytes());
    }
    seg
}

/// An IPv4 datagram around `l4`.
pub fn ip_wrap(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        payload_len: l4.len(),
    };
    let mut v = vec![0u8; ipv4::HEADER_LEN + l4.len()];
    repr.emit(&mut v, 0, false);
    v[ipv4::HEADER_LEN..].copy_from_slice(l4);
    v
}

/// A connection as the peer sees it.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub h: SocketHandle,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Our next sequence number (what the peer expects next).
    pub snd: Seq,
    /// The peer's next sequence number (what we expect next).
    pub rcv: Seq,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Net at {}", self.now)
    }
}

/// The stack under test, its fake IP layer and the virtual clock.
pub struct Net {
    pub t: Transport,
    pub ip: FakeIp,
    pub now: Instant,
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Net {
    /// Default settings but no tail loss probes, so timeouts are seen bare, and no quick
    /// ACKs, so the delayed-ACK rules apply from a connection's first segment (each has
    /// tests of its own).
    pub fn new() -> Net {
        Net::with_cfg(TcpConfig {
            tail_loss_probe: false,
            quick_acks: 0,
            ..TcpConfig::default()
        })
    }

    pub fn with_cfg(tcp: TcpConfig) -> Net {
        Net {
            t: Transport::new(TransportConfig {
                tcp,
                ..TransportConfig::default()
            }),
            ip: FakeIp::default(),
            now: Instant::from_secs(1000),
        }
    }

    // ---- input -----------------------------------------------------------------------

    /// Hand an IP datagram up, as `ip` does.
    pub fn deliver_ip(&mut self, bytes: &[u8], broadcast: bool) -> Delivery {
        self.deliver_ip_gso(bytes, broadcast, None)
    }

    /// Hand up an IP datagram the device may have coalesced from segments of `gso_size`.
    pub fn deliver_ip_gso(
        &mut self,
        bytes: &[u8],
        broadcast: bool,
        gso_size: Option<u16>,
    ) -> Delivery {
        let packet = Ipv4Packet::new_checked(bytes).expect("a well-formed IP header");
        let d = Datagram {
            ifindex: 1,
            packet,
            broadcast,
            csum_ok: false,
            gso_size,
        };
        self.t.deliver(&mut self.ip, &d, self.now)
    }

    /// Hand up `l4` as the payload of a TCP datagram from `src` to `dst`.
    pub fn deliver_l4(&mut self, src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> Delivery {
        let bytes = ip_wrap(src, dst, ipv4::protocol::TCP, l4);
        self.deliver_ip(&bytes, false)
    }

    /// Inject a segment from `from` to `to` (ports taken from the addresses).
    pub fn inject(
        &mut self,
        from: SocketAddrV4,
        to: SocketAddrV4,
        r: TcpRepr,
        data: &[u8],
    ) -> Delivery {
        let b = tcp_bytes(from, to, &r, data);
        self.deliver_l4(*from.ip(), *to.ip(), &b)
    }

    /// Inject a segment of connection `c` from the peer.
    pub fn to(&mut self, c: &Conn, r: TcpRepr, data: &[u8]) {
        self.inject(c.remote, c.local, r, data);
    }

    /// The peer's ACK (window 65535) of everything up to `ack`, at `c.rcv`.
    pub fn ack(&mut self, c: &Conn, ack: Seq) {
        self.to(c, seg(ACK, c.rcv, ack, 65_535), &[]);
    }

    /// Send `data` on `c` and have the peer acknowledge each batch sent at once with
    /// `ack(net, up_to)`, until all of it is acknowledged; returns the end (SND.NXT).
    pub fn send_all_acked(
        &mut self,
        c: &Conn,
        data: &[u8],
        mut ack: impl FnMut(&mut Net, Seq),
    ) -> Seq {
        let (mut sent, mut acked) = (0, c.snd);
        while acked != c.snd + data.len() {
            if sent < data.len() {
                sent += self.send(c.h, &data[sent..]);
            }
            let v = self.take();
            assert!(!v.is_empty(), "stalled at {acked:?}");
            for o in &v {
                let end = o.r.seq + o.data.len();
                if end.gt(acked) {
                    acked = end;
                }
            }
            ack(self, acked);
        }
        acked
    }

    /// The peer sends `data` at `seq` (ACK of `c.snd`, window 65535).
    pub fn data(&mut self, c: &Conn, seq: Seq, data: &[u8]) {
        self.to(c, seg(ACK | PSH, seq, c.snd, 65_535), data);
    }

    // ---- output ----------------------------------------------------------------------

    /// Everything sent since the last look, parsed (and checked: protocol, checksum).
    pub fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.ip.sent)
            .into_iter()
            .map(|s| {
                assert_eq!(s.meta.protocol, ipv4::protocol::TCP, "{s:?}");
                let src = s.meta.src.unwrap_or(US);
                let dst = s.meta.dst;
                assert!(
                    wire::verify_checksum(&s.payload, src, dst),
                    "bad checksum in {s:?}"
                );
                let (r, data) = TcpRepr::parse(&s.payload).expect("a parsable TCP header");
                Out {
                    src,
                    dst,
                    tos: s.meta.tos,
                    r,
                    data: data.to_vec(),
                }
            })
            .collect()
    }

    /// Exactly one segment was sent: it.
    #[track_caller]
    pub fn only(&mut self) -> Out {
        let mut v = self.take();
        assert_eq!(v.len(), 1, "expected exactly one segment, got {v:#?}");
        v.remove(0)
    }

    /// Nothing was sent.
    #[track_caller]
    pub fn nothing(&mut self) {
        let v = self.take();
        assert!(v.is_empty(), "expected no segment, got {v:#?}");
    }

    // ---- the clock -------------------------------------------------------------------

    /// Move the clock to `to`, running the timers at each deadline on the way.
    pub fn advance_to(&mut self, to: Instant) {
        let mut guard = 0;
        while let Some(at) = self.t.poll_at() {
            if at > to {
                break;
            }
            if at > self.now {
                self.now = at;
            }
            self.t.poll(&mut self.ip, self.now);
            guard += 1;
            assert!(
                guard < 100_000,
                "poll_at stays due at {at} (now {})",
                self.now
            );
        }
        if to > self.now {
            self.now = to;
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.advance_to(self.now + d);
    }

    /// Run timers until something is sent (within `limit`); the segments and when.
    #[track_caller]
    pub fn next_sent(&mut self, limit: Duration) -> (Instant, Vec<Out>) {
        let end = self.now + limit;
        loop {
            let v = self.take();
            if !v.is_empty() {
                return (self.now, v);
            }
            match self.t.poll_at() {
                Some(at) if at <= end => {
                    if at > self.now {
                        self.now = at;
                    }
                    self.t.poll(&mut self.ip, self.now);
                }
                _ => panic!("nothing sent before {end} (now {})", self.now),
            }
        }
    }

    // ---- the application ---------------------------------------------------------------

    pub fn stats(&self) -> TcpStats {
        self.t.tcp_stats()
    }

    pub fn state(&mut self, h: SocketHandle) -> TcpState {
        self.t.tcp(h).expect("a TCP socket").state()
    }

    pub fn info(&mut self, h: SocketHandle) -> ConnInfo {
        self.t
            .tcp(h)
            .expect("a TCP socket")
            .conn_info()
            .expect("a connection")
    }

    pub fn listen_cfg(
        &mut self,
        port: u16,
        backlog: usize,
        f: impl FnOnce(&mut ConnOpts),
    ) -> SocketHandle {
        let h = self.t.tcp_open().expect("open");
        self.t
            .tcp_set_opts(h, f, &mut self.ip, self.now)
            .expect("set options");
        self.t.tcp_bind(h, sa(US, port), &self.ip).expect("bind");
        self.t.tcp_listen(h, backlog, &self.ip).expect("listen");
        h
    }

    pub fn listen(&mut self, port: u16, backlog: usize) -> SocketHandle {
        self.listen_cfg(port, backlog, |_| {})
    }

    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> usize {
        self.t
            .tcp_send(h, data, &mut self.ip, self.now)
            .expect("send")
    }

    /// What `tcp_recv` gives with a large buffer.
    pub fn recv(&mut self, h: SocketHandle) -> Result<Option<Vec<u8>>, TransportError> {
        let mut buf = vec![0u8; 1 << 21];
        self.t
            .tcp_recv(h, &mut buf, &mut self.ip, self.now)
            .map(|n| n.map(|n| buf[..n].to_vec()))
    }

    pub fn recv_n(&mut self, h: SocketHandle, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let got = self
            .t
            .tcp_recv(h, &mut buf, &mut self.ip, self.now)
            .expect("recv")
            .expect("data");
        buf.truncate(got);
        buf
    }

    pub fn set_opts(&mut self, h: SocketHandle, f: impl FnOnce(&mut ConnOpts)) {
        self.t
            .tcp_set_opts(h, f, &mut self.ip, self.now)
            .expect("set options");
    }

    /// `TCP_NODELAY` as the socket layer sets it: each set on pushes.
    pub fn set_nodelay(&mut self, h: SocketHandle, on: bool) {
        self.t
            .tcp_set_nodelay(h, on, &mut self.ip, self.now)
            .expect("set TCP_NODELAY");
    }

    pub fn close(&mut self, h: SocketHandle) {
        assert!(self.t.close(h, &mut self.ip, self.now), "close");
    }

    pub fn shutdown_write(&mut self, h: SocketHandle) {
        self.t
            .tcp_shutdown(h, false, true, &mut self.ip, self.now)
            .expect("shutdown");
    }

    // ---- whole handshakes ----------------------------------------------------------------

    /// A passive open on a new listener (port 80): the peer's `syn` (ports and seq
    /// filled in: `PEER_ISS`), our SYN-ACK, the peer's ACK (window `ack_window`), accept.
    pub fn passive_with(&mut self, syn_repr: TcpRepr, ack_window: u16) -> (SocketHandle, Conn) {
        let l = self.listen(LPORT, 16);
        let c = self.handshake_to(l, PPORT, syn_repr, ack_window);
        (l, c)
    }

    /// Complete a handshake from the peer's port `pport` to listener `l` and accept it.
    pub fn handshake_to(
        &mut self,
        l: SocketHandle,
        pport: u16,
        syn_repr: TcpRepr,
        ack_window: u16,
    ) -> Conn {
        let local = sa(US, LPORT);
        let remote = sa(PEER, pport);
        self.inject(remote, local, syn_repr, &[]);
        let sa_ = self.only();
        // (ECE: an ECN-setup SYN's answer, RFC 3168 6.1.1.)
        assert_eq!(sa_.r.flags & !wire::flags::ECE, SYN | ACK, "{sa_:?}");
        assert_eq!(sa_.r.ack, syn_repr.seq + 1);
        let snd = sa_.r.seq + 1;
        let rcv = syn_repr.seq + 1;
        self.inject(remote, local, seg(ACK, rcv, snd, ack_window), &[]);
        self.nothing();
        let (h, from) = self
            .t
            .tcp_accept(l)
            .expect("accept")
            .expect("a connection to accept");
        assert_eq!(from, remote);
        Conn {
            h,
            local,
            remote,
            snd,
            rcv,
        }
    }

    /// The usual passive connection: peer MSS 1000, no window scaling, windows 65535.
    pub fn passive(&mut self) -> Conn {
        self.passive_with(syn(PEER_ISS), 65_535).1
    }

    /// An active open to the peer (port 80) answered with `synack` (seq `PEER_ISS`, ack of
    /// our SYN filled in) after `rtt`; our ACK is checked and returned.
    pub fn active_with(&mut self, synack: TcpRepr, rtt: Duration) -> (Conn, Out) {
        let h = self.t.tcp_open().expect("open");
        let remote = sa(PEER, LPORT);
        self.t
            .tcp_connect(h, remote, &mut self.ip, self.now)
            .expect("connect");
        let s = self.only();
        assert_eq!(s.r.flags, SYN, "{s:?}");
        let local = sa(s.src, s.r.src_port);
        self.advance(rtt);
        self.nothing();
        let r = TcpRepr {
            ack: s.r.seq + 1,
            ..synack
        };
        self.inject(remote, local, r, &[]);
        let a = self.only();
        a.expect_ack(s.r.seq + 1, synack.seq + 1);
        assert_eq!(self.t.tcp_connected(h), Ok(true));
        let c = Conn {
            h,
            local,
            remote,
            snd: s.r.seq + 1,
            rcv: synack.seq + 1,
        };
        (c, a)
    }

    /// An active open answered at once by a SYN-ACK with MSS 1000, window 65535, no scaling.
    pub fn active(&mut self) -> Conn {
        let synack = TcpRepr {
            mss: Some(PEER_MSS),
            ..seg(SYN | ACK, PEER_ISS, Seq(0), 65_535)
        };
        self.active_with(synack, Duration::ZERO).0
    }
}

/// `n` bytes of a recognisable pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A host unreachable about our segment from port 80 to `remote` at `seq`, as the IP layer
/// reports a next hop that never resolved: from our own address.
pub fn host_unreachable(n: &mut Net, remote: SocketAddrV4, seq: Seq) {
    host_unreachable_from(n, LPORT, remote, seq);
}

/// [`host_unreachable`] about a segment from our port `local`.
pub fn host_unreachable_from(n: &mut Net, local: u16, remote: SocketAddrV4, seq: Seq) {
    icmp_error_about(n, (3, 1), local, remote, seq);
}

/// An ICMP error of `(kind, code)` about our segment from port `local` to `remote` at
/// `seq`, from our own address.
pub fn icmp_error_about(
    n: &mut Net,
    (kind, code): (u8, u8),
    local: u16,
    remote: SocketAddrV4,
    seq: Seq,
) {
    let mut q = vec![0u8; 8];
    q[0..2].copy_from_slice(&local.to_be_bytes());
    q[2..4].copy_from_slice(&remote.port().to_be_bytes());
    q[4..8].copy_from_slice(&seq.0.to_be_bytes());
    let r = IcmpErrorReport {
        ifindex: 0,
        from: US,
        kind,
        code,
        info: 0,
        orig_src: US,
        orig_dst: *remote.ip(),
        orig_protocol: 6,
        orig_total_len: 40,
        orig_payload: &q,
    };
    n.t.icmp_error(&mut n.ip, &r, n.now);
}
