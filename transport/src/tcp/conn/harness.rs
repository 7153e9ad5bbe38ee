//! Support for the unit tests of the connection's parts: an IP layer that keeps every
//! segment sent (parsed), and a connection brought to ESTABLISHED by hand against a peer the
//! test plays, on a virtual clock.

use super::*;
use std::net::Ipv4Addr;

pub(super) const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40_000);
pub(super) const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
pub(super) const OUR_ISS: u32 = 1_000;
/// The peer's ISN, near the wrap so the arithmetic is exercised.
pub(super) const PEER_ISS: Seq = Seq(0xffff_ff00);
pub(super) const PEER_MSS: usize = 1000;
/// The peer's TSval in its SYN-ACK ([`Conn::established_ts`]).
pub(super) const PEER_TS: u32 = 7;

/// One segment the connection sent.
#[derive(Clone, Debug)]
pub(super) struct Sent {
    pub r: TcpRepr,
    pub data: Vec<u8>,
    pub meta: SendMeta,
}

/// An IP layer that records what it is asked to send.
#[derive(Default)]
pub(super) struct Wire {
    pub sent: Vec<Sent>,
    pub offload: netif::Offload,
    /// The path MTU `ip` would report (`set_path_mtu`), until a test lets it expire.
    pub pmtu: Option<usize>,
    /// The interface's MTU, if not 1500.
    pub link_mtu: Option<usize>,
    /// Negative advice given (`IpTx::negative_advice`), by destination.
    pub advice: Vec<Ipv4Addr>,
}

impl IpTx for Wire {
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), ip::SendError> {
        let mut buf = vec![0u8; payload_len];
        fill(&mut buf);
        let (r, data) = TcpRepr::parse(&buf).expect("the connection sent a valid header");
        self.sent.push(Sent {
            r,
            data: data.to_vec(),
            meta: *meta,
        });
        Ok(())
    }

    fn route_info(&self, _dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        Some((*US.ip(), self.pmtu.unwrap_or(1500)))
    }

    fn set_path_mtu(&mut self, _dst: Ipv4Addr, mtu: usize, _now: Instant) {
        self.pmtu = Some(mtu);
    }

    fn negative_advice(&mut self, dst: Ipv4Addr, _now: Instant) {
        self.advice.push(dst);
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == *US.ip()
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast()
    }

    fn link(&self, _dst: Ipv4Addr) -> Option<(netif::Offload, usize)> {
        Some((self.offload, self.link_mtu.unwrap_or(1500)))
    }
}

/// The peer's SYN-ACK to [`Conn::connecting`]'s SYN: window 65,535, announcing `mss`.
pub(super) fn synack(mss: Option<u16>) -> TcpRepr {
    TcpRepr {
        src_port: PEER.port(),
        dst_port: US.port(),
        seq: PEER_ISS,
        ack: Seq(OUR_ISS) + 1,
        flags: flags::SYN | flags::ACK,
        window: 65_535,
        mss,
        ..TcpRepr::default()
    }
}

/// A connection, its IP layer, its counters and the clock.
pub(super) struct Conn {
    pub tcb: Tcb,
    pub tx: Wire,
    pub stats: TcpStats,
    pub cfg: TcpConfig,
    pub now: Instant,
    /// The peer's next sequence number.
    pub peer_nxt: Seq,
}

/// `n` round trips of `rtt`, one full segment each, acknowledged in full: SRTT comes to
/// `rtt` and RTTVAR shrinks, so the RTO sits at its 200 ms floor.
pub(super) fn steady_path(c: &mut Conn, rtt: Duration, n: usize) {
    for _ in 0..n {
        c.tcb.write(&vec![7u8; PEER_MSS]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take();
        c.now += rtt;
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[]);
        c.take();
    }
}

pub(super) fn opts() -> ConnOpts {
    ConnOpts {
        nodelay: false,
        cork: false,
        keepalive: false,
        keep_idle: 0,
        keep_interval: 0,
        keep_count: 0,
        rcvbuf: 64 * 1024,
        rcvbuf_max: 64 * 1024,
        sndbuf: 256 * 1024,
        user_timeout: None,
        congestion: Algorithm::Cubic,
        ttl: None,
        tos: 0,
        pmtu: ip::PmtuMode::Want,
        recverr: false,
        fastopen: 0,
    }
}

impl Conn {
    /// An active open answered by a SYN-ACK (MSS 1000, window 65,535 unscaled, SACK, no
    /// timestamps), its ACK taken off the wire.
    pub(super) fn established(opts: ConnOpts) -> Conn {
        Conn::established_scaled(opts, None)
    }

    /// [`Conn::established`], the peer's SYN-ACK offering window scale `wscale`.
    pub(super) fn established_scaled(opts: ConnOpts, wscale: Option<u8>) -> Conn {
        Conn::establish(opts, wscale, false, true)
    }

    /// [`Conn::established`] with a peer that does not offer SACK (RFC 2018): recovery is
    /// NewReno's (RFC 6582).
    pub(super) fn established_no_sack(opts: ConnOpts) -> Conn {
        Conn::establish(opts, None, false, false)
    }

    /// [`Conn::established`] with timestamps (RFC 7323) on both sides: the peer's SYN-ACK
    /// carries TSval [`PEER_TS`] and echoes ours.
    pub(super) fn established_ts(opts: ConnOpts) -> Conn {
        Conn::establish(opts, None, true, true)
    }

    /// [`Conn::established_ts`] with the peer's SYN-ACK offering window scale `wscale`.
    pub(super) fn established_ts_scaled(opts: ConnOpts, wscale: Option<u8>) -> Conn {
        Conn::establish(opts, wscale, true, true)
    }

    /// A connection whose SYN (on a link of `mtu`) is out, not yet taken, at 1 s.
    pub(super) fn connecting(cfg: TcpConfig, opts: ConnOpts, mtu: usize) -> Conn {
        let now = Instant::from_secs(1);
        let mut tx = Wire::default();
        let mut stats = TcpStats::default();
        let tcb = Tcb::connect(
            &cfg,
            US,
            PEER,
            OUR_ISS,
            0,
            (mtu, mtu),
            opts,
            None,
            crate::tcp::mem::MemPool::new(usize::MAX / 2),
            &mut tx,
            &mut stats,
            now,
        );
        Conn {
            tcb,
            tx,
            stats,
            cfg,
            now,
            peer_nxt: PEER_ISS,
        }
    }

    /// [`Conn::established`] with the default quick ACKs (`TcpConfig::quick_acks`): the
    /// other harness connections have none, so that their tests see the delayed-ACK and
    /// stretch rules from the first segment.
    pub(super) fn established_quick(opts: ConnOpts) -> Conn {
        Conn::establish_with(opts, None, false, true, TcpConfig::default().quick_acks)
    }

    fn establish(opts: ConnOpts, wscale: Option<u8>, timestamps: bool, sack: bool) -> Conn {
        Conn::establish_with(opts, wscale, timestamps, sack, 0)
    }

    fn establish_with(
        opts: ConnOpts,
        wscale: Option<u8>,
        timestamps: bool,
        sack: bool,
        quick_acks: u8,
    ) -> Conn {
        let cfg = TcpConfig {
            timestamps,
            quick_acks,
            ..TcpConfig::default()
        };
        let mut c = Conn::connecting(cfg, opts, 1500);
        let syn = c.take();
        assert_eq!(syn.len(), 1);
        assert!(syn[0].r.has(flags::SYN));
        let timestamp = syn[0].r.timestamp.map(|(ours, _)| (PEER_TS, ours));
        assert_eq!(timestamp.is_some(), timestamps);
        c.now += Duration::from_millis(10);
        let synack = TcpRepr {
            sack_permitted: sack,
            wscale,
            timestamp,
            ..synack(Some(PEER_MSS as u16))
        };
        c.deliver(&synack, &[]);
        c.peer_nxt = PEER_ISS + 1;
        assert_eq!(c.tcb.state, State::Established);
        c.take();
        c
    }

    /// A segment from the peer at its next sequence number, acknowledging `ack`.
    pub(super) fn seg(&self, fl: u8, ack: Seq) -> TcpRepr {
        TcpRepr {
            src_port: PEER.port(),
            dst_port: US.port(),
            seq: self.peer_nxt,
            ack,
            flags: fl,
            window: 65_535,
            ..TcpRepr::default()
        }
    }

    /// Our next sequence number as the peer sees it acknowledged so far.
    pub(super) fn our_una(&self) -> Seq {
        self.tcb.snd_una
    }

    /// Hand the connection a segment (not in a batch).
    pub(super) fn deliver(&mut self, r: &TcpRepr, data: &[u8]) {
        self.tcb.segment(
            &self.cfg,
            r,
            data,
            &mut self.tx,
            &mut self.stats,
            self.now,
            false,
        );
    }

    /// In-order data from the peer, its sequence space advanced.
    /// The peer acknowledges what it has and shuts its window.
    pub(super) fn shut_window(&mut self) {
        let mut r = self.seg(flags::ACK, self.our_una());
        r.window = 0;
        self.deliver(&r, &[]);
    }

    pub(super) fn data(&mut self, data: &[u8]) {
        let r = self.seg(flags::ACK, self.our_una());
        self.deliver(&r, data);
        self.peer_nxt = self.peer_nxt + data.len();
    }

    /// Everything sent since the last call.
    pub(super) fn take(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.tx.sent)
    }

    /// Move the clock on and run the timers due.
    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.tcb
            .poll(&self.cfg, &mut self.tx, &mut self.stats, self.now);
    }
}

/// An IP layer that refuses every datagram (a full transmit queue).
pub(super) struct Refusing(pub Wire);

impl IpTx for Refusing {
    fn send_with(
        &mut self,
        _meta: &SendMeta,
        _payload_len: usize,
        _fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), ip::SendError> {
        Err(ip::SendError::QueueFull)
    }

    fn route_info(&self, dst: std::net::Ipv4Addr) -> Option<(std::net::Ipv4Addr, usize)> {
        self.0.route_info(dst)
    }

    fn link(&self, dst: std::net::Ipv4Addr) -> Option<(netif::Offload, usize)> {
        self.0.link(dst)
    }

    fn is_local(&self, ip: std::net::Ipv4Addr) -> bool {
        self.0.is_local(ip)
    }

    fn is_broadcast(&self, ip: std::net::Ipv4Addr) -> bool {
        self.0.is_broadcast(ip)
    }
}

/// `n` bytes of a counting pattern.
pub(super) fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// The peer's ACK of `ack` with SACK `blocks`.
pub(super) fn sack_ack(c: &Conn, ack: Seq, blocks: &[(Seq, Seq)]) -> TcpRepr {
    let mut r = c.seg(flags::ACK, ack);
    for (i, &b) in blocks.iter().enumerate() {
        r.sack[i] = b;
    }
    r.sack_count = blocks.len() as u8;
    r
}
