//! The connection target (`tcb`): one host's `Transport` (no `ip` below it: an `IpTx`
//! that keeps what TCP sends, parsed) and a peer that the input plays, segment by
//! segment, with numbers taken from the connection's own state so that most segments land
//! where the connection's input paths branch: in order at RCV.NXT, beyond a hole, over
//! the window's right edge, overlapping or repeating what came before, filling a hole
//! exactly; FINs with and without data, before and after holes; RSTs and SYNs in the
//! window; ACKs at, below and beyond SND.UNA and SND.MAX and at the edges of the segments
//! the connection sent, with SACK blocks (from those segments, merged, below the ACK as
//! D-SACKs, reversed, wrapping, random); window updates (zero too); timestamps old, equal,
//! new and half a sequence space away; urgent pointers; CE marks and coalesced (GRO)
//! segments; in batches or alone. Between segments the application writes (urgent data
//! too), reads (partly, peeking), shuts down, closes, aborts and sets options, ICMP
//! errors quote the connection's numbers, and the virtual clock advances so that every
//! timer fires. Connections open actively and passively (up to four at a time) with the
//! options the input offers, and a handshake may be left half done.
//!
//! Every byte either side sends is a function of its offset in the stream, so what the
//! application reads and what the connection sends (retransmissions included) are
//! checked byte for byte. After every step it checks, besides "no panic" (overflow checks
//! on: see the `fuzz` profile):
//! - every segment sent parses, fits the link's MTU (or is a TSO frame on a link that has
//!   TSO), carries only data the application wrote, at its place in the stream, and SACK
//!   blocks that are non-empty and lie above its ACK (but a first, D-SACK, block below it);
//! - SND.UNA <= SND.NXT <= SND.MAX, no more in flight than is queued, SND.UNA never moves
//!   back; RCV.NXT within the announced window, whose right edge never moves left; bytes
//!   readable plus bytes read never more than RCV.NXT says arrived in order;
//! - the receive and send queues within their buffers, the out-of-order queue and the
//!   table of segments sent within their caps and their counts true;
//! - nothing due at or before the instant just polled.
//!
//! `TCB_TRACE=1` prints each step and every segment either way (with the fuzz example's
//! `--replay tcb HEX`, to follow a failing input).

use arbitrary::{Result as AResult, Unstructured};
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ip::{Datagram, IcmpErrorReport, IpTx, SendError, SendMeta, Upper};
use netif::{Duration, Instant, Offload};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::tcp::wire::{self as tcp_wire, flags, TcpRepr, MAX_SACK_BLOCKS};
use transport::tcp::{Seq, State, TcbProbe};
use transport::{CongestionAlgorithm, EcnMode, SocketHandle, TcpConfig, Transport};

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LISTEN_PORT: u16 = 80;
/// Steps of the input read at most.
const MAX_STEPS: usize = 600;
/// Connections open at most at once (each a peer of its own port).
const MAX_CONNS: usize = 4;
const MAX_SOCKETS: usize = 16;
/// Segments of either side remembered, to repeat, extend or SACK.
const REMEMBERED: usize = 48;

/// The byte at offset `k` of a stream (the peer's, or the application's with `salt`): a
/// mix of the offset, so that a byte out of place shows.
fn pat(k: u32, salt: u32) -> u8 {
    let x = (k ^ salt).wrapping_mul(0x9e37_79b1);
    (x >> 24) as u8 ^ (x >> 11) as u8
}

const PEER_SALT: u32 = 0;
const OUR_SALT: u32 = 0x5a5a_5a5a;

/// What `Transport` asked to send: TCP segments parsed, nothing else kept.
struct Wire {
    sent: Vec<(TcpRepr, Vec<u8>)>,
    mtu: usize,
    offload: Offload,
    pmtu: Option<usize>,
}

impl IpTx for Wire {
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), SendError> {
        let mut buf = vec![0u8; payload_len];
        fill(&mut buf);
        if meta.protocol != ipv4::protocol::TCP {
            return Ok(());
        }
        assert_eq!(meta.dst, PEER, "a segment to {}", meta.dst);
        match meta.gso_size {
            Some(g) => {
                assert!(self.offload.tso, "a TSO frame on a link without TSO");
                assert!(
                    usize::from(g) + ipv4::HEADER_LEN + tcp_wire::HEADER_LEN <= self.mtu,
                    "TSO segments of {g} bytes on a link of MTU {}",
                    self.mtu
                );
            }
            None => assert!(
                payload_len + ipv4::HEADER_LEN <= self.mtu,
                "a segment of {payload_len} bytes on a link of MTU {}",
                self.mtu
            ),
        }
        let (r, data) = TcpRepr::parse(&buf).expect("the connection sent a valid header");
        self.sent.push((r, data.to_vec()));
        Ok(())
    }

    fn route_info(&self, _dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        Some((US, self.pmtu.unwrap_or(self.mtu)))
    }

    fn set_path_mtu(&mut self, _dst: Ipv4Addr, mtu: usize, _now: Instant) {
        // As `ip` keeps it: 552 at least, never above the link's.
        self.pmtu = Some(mtu.clamp(552, self.mtu));
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == US
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast()
    }

    fn link(&self, _dst: Ipv4Addr) -> Option<(Offload, usize)> {
        Some((self.offload, self.mtu))
    }
}

/// One connection and the peer's side of it.
struct Conn {
    /// The application's socket, once it has one (a passive open: after accept).
    h: Option<SocketHandle>,
    /// Our port, and the peer's (unique per connection).
    port: u16,
    peer_port: u16,
    /// The ISN the peer chose (the connection's IRS, unless a crafted SYN-ACK told another).
    peer_iss: Seq,
    /// The IRS our last SYN-ACK acknowledged (a connection not yet accepted, or one that
    /// took another SYN than the peer's first).
    irs: Option<Seq>,
    /// What we sent in our SYN: ISS, MSS, window scale, timestamps.
    our_iss: Option<Seq>,
    our_mss: usize,
    /// The peer offered these in its SYN or SYN-ACK.
    peer_ts: bool,
    peer_sack: bool,
    /// The peer's TSval clock, and the last TSval we sent (to echo).
    ts: u32,
    echo: u32,
    /// Bytes the application read and wrote.
    read: u32,
    written: u32,
    /// The application closed (or aborted) it.
    closed: bool,
    /// Our data segments (seq, len), newest last, and the peer's (seq, len).
    ours: VecDeque<(Seq, usize)>,
    theirs: VecDeque<(Seq, usize)>,
    /// The connection as it was at the last check, and as it is now (the segments are
    /// placed by it).
    last: Option<TcbProbe>,
    cur: Option<TcbProbe>,
    /// The most SO_SNDBUF and SO_RCVBUF it has had.
    max_sndbuf: usize,
    max_rcvbuf: usize,
}

impl Conn {
    fn new(port: u16, peer_port: u16, peer_iss: Seq) -> Conn {
        Conn {
            h: None,
            port,
            peer_port,
            peer_iss,
            irs: None,
            our_iss: None,
            our_mss: 536,
            peer_ts: false,
            peer_sack: false,
            ts: 1,
            echo: 0,
            read: 0,
            written: 0,
            closed: false,
            ours: VecDeque::new(),
            theirs: VecDeque::new(),
            last: None,
            cur: None,
            max_sndbuf: 0,
            max_rcvbuf: 0,
        }
    }

    /// The peer's first data byte's sequence number, as the connection knows it.
    fn data_start(&self) -> Seq {
        match self.cur {
            Some(p) if synchronized(p.state) => p.irs + 1,
            _ => self.irs.unwrap_or(self.peer_iss) + 1,
        }
    }
}

fn synchronized(s: State) -> bool {
    !matches!(s, State::Closed | State::Listen | State::SynSent)
}

/// One of `options`, or (as often as each of them) any value.
fn one_of<T: Copy + for<'a> arbitrary::Arbitrary<'a>>(
    u: &mut Unstructured<'_>,
    options: &[T],
) -> AResult<T> {
    if u.ratio(1u8, options.len() as u8 + 1)? {
        u.arbitrary()
    } else {
        Ok(*u.choose(options)?)
    }
}

struct World {
    t: Transport,
    wire: Wire,
    now: Instant,
    cfg: TcpConfig,
    listener: Option<SocketHandle>,
    conns: Vec<Conn>,
    next_port: u16,
    /// `TCB_TRACE` set: print every step and segment (to follow a replayed input).
    trace: bool,
}

/// Run the target on one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut w) = World::new(&mut u) else {
        return;
    };
    w.check("setup");
    for step in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(what) = w.step(&mut u) else {
            break;
        };
        if w.trace {
            eprintln!("step {step}: {what}");
        }
        w.check(&format!("step {step} ({what})"));
    }
    // The peer falls silent: every timer runs to its end.
    for _ in 0..400 {
        match w.t.poll_at() {
            Some(t) if t <= w.now + Duration::from_secs(3600) => {
                w.now = w.now.max(t);
                w.poll();
                w.check("the end");
            }
            _ => break,
        }
    }
}

impl World {
    fn new(u: &mut Unstructured<'_>) -> AResult<World> {
        let rcvbuf = *u.choose(&[4096usize, 16_384, 65_535, 262_144, 1 << 20])?;
        let rcvbuf_max = *u.choose(&[rcvbuf, 4 << 20])?;
        let sndbuf = *u.choose(&[4096usize, 32_768, 262_144, 1 << 20])?;
        let mtu = *u.choose(&[1500usize, 576, 9000, 1280, 65_535])?;
        let tso: bool = u.arbitrary()?;
        let cfg = TcpConfig {
            rcvbuf,
            rcvbuf_max,
            sndbuf,
            timestamps: !u.ratio(1u8, 4)?,
            tail_loss_probe: u.arbitrary()?,
            rack: u.arbitrary()?,
            congestion: *u.choose(&[CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno])?,
            ecn: *u.choose(&[EcnMode::Accept, EcnMode::On, EcnMode::Off])?,
            quick_acks: *u.choose(&[0u8, 16])?,
            syn_cookies: u.ratio(1u8, 4)?,
            // Memory pressure (a small pool) now and then.
            mem_max: *u.choose(&[TcpConfig::default().mem_max, 256 * 1024, 64 * 1024])?,
            max_time_wait: 4,
            syn_backlog: 4,
            max_backlog: 4,
            ..TcpConfig::default()
        };
        let secret: u64 = u.arbitrary()?;
        let mut t = Transport::new(transport::TransportConfig {
            max_sockets: MAX_SOCKETS,
            secret,
            tcp: cfg.clone(),
            ..transport::TransportConfig::default()
        });
        let mut wire = Wire {
            sent: Vec::new(),
            mtu,
            offload: Offload { csum: tso, tso },
            pmtu: None,
        };
        let listener = t.tcp_open().ok();
        if let Some(l) = listener {
            let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, LISTEN_PORT);
            let ok = t.tcp_bind(l, addr, &wire).is_ok() && t.tcp_listen(l, 4, &wire).is_ok();
            assert!(ok, "a listener on port 80");
        }
        wire.sent.clear();
        let mut w = World {
            t,
            wire,
            now: Instant::from_secs(1),
            cfg,
            listener,
            conns: Vec::new(),
            next_port: 5000,
            trace: std::env::var_os("TCB_TRACE").is_some(),
        };
        let passive: bool = u.arbitrary()?;
        w.open(u, passive)?;
        Ok(w)
    }

    // ---- the clock -----------------------------------------------------------------------

    /// Run the timers due now; nothing may be due at or before `now` after.
    fn poll(&mut self) {
        let now = self.now;
        if self.t.poll_at().is_some_and(|t| t <= now) {
            if self.trace {
                eprintln!("poll at {now} (due {:?})", self.t.poll_at());
            }
            self.t.poll(&mut self.wire, now);
        }
        if let Some(t) = self.t.poll_at() {
            assert!(
                t > now,
                "transport wants polling at {t} after a poll at {now}: {:?}",
                self.t.tcp_probe().conns
            );
        }
        self.take_sent();
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..200 {
            match self.t.poll_at() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.poll();
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        self.poll();
    }

    // ---- what the connection sent ----------------------------------------------------------

    /// Take what was sent, check each segment against its connection, and learn from it
    /// (our ISS and MSS from a SYN, the TSval to echo, the data segments to SACK).
    fn take_sent(&mut self) {
        let _ = self.t.take_wakeups().count();
        let probe = self.t.tcp_probe();
        for c in &mut self.conns {
            c.cur =
                c.h.and_then(|h| probe.conns.iter().find(|(x, _, _)| *x == h))
                    .map(|&(_, _, q)| q);
        }
        let sent = std::mem::take(&mut self.wire.sent);
        for (r, data) in sent {
            if self.trace {
                eprintln!("OUT {r:?} len {}", data.len());
            }
            let Some(c) = self
                .conns
                .iter_mut()
                .find(|c| c.peer_port == r.dst_port && c.port == r.src_port)
            else {
                continue;
            };
            let ctx = || format!("segment sent {r:?} ({} bytes)", data.len());
            if r.has(flags::RST) {
                assert!(data.is_empty(), "a RST with data, {}", ctx());
                continue;
            }
            if r.has(flags::SYN) {
                c.our_iss = Some(r.seq);
                if r.has(flags::ACK) {
                    c.irs = Some(r.ack - 1);
                }
                if let Some(m) = r.mss {
                    c.our_mss = usize::from(m).clamp(64, 65_495);
                }
            }
            if let Some((val, _)) = r.timestamp {
                c.echo = val;
            }
            // The data: at its place in what the application wrote, never beyond it.
            if let Some(iss) = c.our_iss {
                let start = if r.has(flags::SYN) { r.seq + 1 } else { r.seq };
                if !data.is_empty() {
                    assert!(start.gt(iss), "data before the ISS, {}", ctx());
                    let off = start.since(iss + 1) as u32;
                    assert!(
                        (start.since(iss + 1) as u64) + data.len() as u64 <= u64::from(c.written),
                        "data beyond what the application wrote ({} bytes), {}",
                        c.written,
                        ctx()
                    );
                    for (i, &b) in data.iter().enumerate() {
                        let k = off.wrapping_add(i as u32);
                        assert_eq!(b, pat(k, OUR_SALT), "our byte {k} wrong, {}", ctx());
                    }
                    if c.ours.len() == REMEMBERED {
                        c.ours.pop_front();
                    }
                    c.ours.push_back((start, data.len()));
                }
            }
            // SACK blocks (RFC 2018 4, RFC 2883): non-empty, above the ACK; but the first
            // may be a D-SACK, wholly below it or inside the second.
            if r.has(flags::ACK) {
                let blocks = &r.sack[..usize::from(r.sack_count)];
                for (i, &(l, rr)) in blocks.iter().enumerate() {
                    assert!(l.lt(rr), "SACK block {i} empty or reversed, {}", ctx());
                    let dsack = i == 0
                        && (rr.le(r.ack) || blocks.get(1).is_some_and(|b| b.0.le(l) && rr.le(b.1)));
                    assert!(
                        dsack || r.ack.lt(l),
                        "SACK block {i} not above the ACK, {}",
                        ctx()
                    );
                }
            }
        }
    }

    // ---- opening connections ---------------------------------------------------------------

    fn syn_options(&self, u: &mut Unstructured<'_>, r: &mut TcpRepr) -> AResult<()> {
        r.mss = if u.ratio(7u8, 8)? {
            Some(one_of(u, &[1460u16, 536, 1000, 8960, 64, 65_535])?)
        } else {
            None
        };
        r.wscale = if u.ratio(3u8, 4)? {
            Some(one_of(u, &[7u8, 0, 2, 14, 15])?)
        } else {
            None
        };
        r.sack_permitted = u.ratio(7u8, 8)?;
        r.window = one_of(u, &[65_535u16, 1000, 0, 4096])?;
        Ok(())
    }

    /// A new connection: the application connects (`passive` false) or the peer does; the
    /// handshake completes unless the input leaves it half done.
    fn open(&mut self, u: &mut Unstructured<'_>, passive: bool) -> AResult<&'static str> {
        self.conns.retain(|c| c.h.is_some() || c.last.is_some());
        if self.conns.len() >= MAX_CONNS {
            // The oldest connection's peer goes away: the record is dropped (its socket,
            // if still open, lives on with its timers).
            self.conns.remove(0);
        }
        let peer_port = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(1024);
        let peer_iss = Seq(one_of(u, &[0xffff_ff00u32, 0, 0x7fff_fff0, 12_345])?);
        let complete = u.ratio(7u8, 8)?;
        let ts0: u32 = one_of(u, &[1u32, 0xffff_fff0, 0x7fff_fff0])?;
        let now = self.now;
        if passive {
            let mut c = Conn::new(LISTEN_PORT, peer_port, peer_iss);
            c.ts = ts0;
            let mut syn = TcpRepr {
                src_port: peer_port,
                dst_port: LISTEN_PORT,
                seq: peer_iss,
                flags: flags::SYN | (u.arbitrary::<u8>()? & (flags::ECE | flags::CWR)),
                ..TcpRepr::default()
            };
            self.syn_options(u, &mut syn)?;
            c.peer_ts = u.ratio(3u8, 4)?;
            c.peer_sack = syn.sack_permitted;
            syn.timestamp = c.peer_ts.then_some((c.ts, 0));
            self.conns.push(c);
            self.deliver(&syn, &[], 0, None);
            if complete {
                let i = self.conns.len() - 1;
                if let Some(iss) = self.conns[i].our_iss {
                    let data_len = *u.choose(&[0usize, 0, 100, 1000])?;
                    let c = &self.conns[i];
                    let ack = TcpRepr {
                        src_port: peer_port,
                        dst_port: LISTEN_PORT,
                        seq: peer_iss + 1,
                        ack: iss + 1,
                        flags: flags::ACK,
                        window: syn.window.max(1024),
                        timestamp: c.peer_ts.then_some((c.ts.wrapping_add(1), c.echo)),
                        ..TcpRepr::default()
                    };
                    let data = self.peer_bytes(i, peer_iss + 1, data_len);
                    self.deliver(&ack, &data, 0, None);
                    self.accept();
                }
            }
            return Ok("passive open");
        }
        let Ok(h) = self.t.tcp_open() else {
            return Ok("no socket");
        };
        if u.ratio(1u8, 4)? {
            let (rcvbuf, sndbuf) = (
                *u.choose(&[2048usize, 65_535, 1 << 20])?,
                *u.choose(&[2048usize, 65_535, 1 << 20])?,
            );
            let _ = self.t.tcp_set_opts(
                h,
                |o| {
                    o.rcvbuf = rcvbuf;
                    o.rcvbuf_max = rcvbuf;
                    o.sndbuf = sndbuf;
                },
                &mut self.wire,
                now,
            );
        }
        let remote = SocketAddrV4::new(PEER, peer_port);
        if self.t.tcp_connect(h, remote, &mut self.wire, now).is_err() {
            self.t.close(h, &mut self.wire, now);
            self.wire.sent.clear();
            return Ok("connect failed");
        }
        let port = match self.t.tcp_ref(h).ok().and_then(|s| s.local) {
            Some(l) => l.port(),
            None => return Ok("connect without a port"),
        };
        let mut c = Conn::new(port, peer_port, peer_iss);
        c.h = Some(h);
        c.ts = ts0;
        self.conns.push(c);
        self.take_sent();
        let i = self.conns.len() - 1;
        if complete {
            if let Some(iss) = self.conns[i].our_iss {
                let c = &mut self.conns[i];
                let mut synack = TcpRepr {
                    src_port: peer_port,
                    dst_port: port,
                    seq: peer_iss,
                    ack: iss + 1,
                    flags: flags::SYN | flags::ACK | (u.arbitrary::<u8>()? & flags::ECE),
                    ..TcpRepr::default()
                };
                c.peer_ts = u.ratio(3u8, 4)?;
                synack.timestamp = c.peer_ts.then_some((c.ts, c.echo));
                self.syn_options(u, &mut synack)?;
                self.conns[i].peer_sack = synack.sack_permitted;
                self.now += Duration::from_millis(u.int_in_range(0..=300)?);
                self.deliver(&synack, &[], 0, None);
            }
        }
        Ok("active open")
    }

    /// Take the listener's new connections into their records.
    fn accept(&mut self) {
        let Some(l) = self.listener else { return };
        while let Ok(Some((h, remote))) = self.t.tcp_accept(l) {
            match self.conns.iter_mut().find(|c| c.peer_port == remote.port()) {
                Some(c) if c.h.is_none() => c.h = Some(h),
                _ => {
                    // Not one of ours (or a new incarnation): nobody reads it.
                    self.t.close(h, &mut self.wire, self.now);
                }
            }
        }
        self.take_sent();
    }

    // ---- the peer's segments ---------------------------------------------------------------

    /// `len` bytes of the peer's stream from `seq`.
    fn peer_bytes(&self, ci: usize, seq: Seq, len: usize) -> Vec<u8> {
        let start = self.conns[ci].data_start();
        let off = seq.0.wrapping_sub(start.0);
        (0..len)
            .map(|i| pat(off.wrapping_add(i as u32), PEER_SALT))
            .collect()
    }

    /// Hand the transport a segment from the peer, in a datagram with ECN field `ecn`,
    /// coalesced from segments of `gso` bytes if that is given.
    fn deliver(&mut self, r: &TcpRepr, data: &[u8], ecn: u8, gso: Option<u16>) {
        let seg_len = r.header_len() + data.len();
        let mut d = vec![0u8; ipv4::HEADER_LEN + seg_len];
        let ip = Ipv4Repr {
            src: PEER,
            dst: US,
            protocol: ipv4::protocol::TCP,
            ttl: 64,
            tos: ecn & 3,
            ident: 1,
            dont_fragment: true,
            payload_len: seg_len,
        };
        ip.emit(&mut d, 0, false);
        let hl = ipv4::HEADER_LEN + r.header_len();
        d[hl..].copy_from_slice(data);
        r.emit(&mut d[ipv4::HEADER_LEN..], PEER, US);
        let packet = Ipv4Packet::new_checked(&d[..]).expect("a datagram the target built");
        let dg = Datagram {
            ifindex: 1,
            packet,
            broadcast: false,
            csum_ok: true,
            gso_size: gso,
        };
        if self.trace {
            eprintln!("IN  {r:?} len {} first {:?}", data.len(), data.first());
        }
        self.t.deliver(&mut self.wire, &dg, self.now);
        self.take_sent();
    }

    fn pick_conn(&self, u: &mut Unstructured<'_>) -> AResult<Option<usize>> {
        if self.conns.is_empty() {
            return Ok(None);
        }
        let last = self.conns.len() - 1;
        Ok(Some(if u.ratio(3u8, 4)? {
            last
        } else {
            u.choose_index(self.conns.len())?
        }))
    }

    /// An ACK number: at SND.MAX, at SND.UNA (a duplicate), at the end of a segment sent,
    /// inside what was sent, below SND.UNA, beyond SND.MAX, at SND.NXT, far away.
    fn ack_for(&self, u: &mut Unstructured<'_>, ci: usize) -> AResult<Seq> {
        let c = &self.conns[ci];
        let Some(p) = c.cur else {
            return Ok(c.our_iss.map_or(Seq(u.arbitrary()?), |s| s + 1));
        };
        let (una, max) = (p.snd_una, p.snd_max);
        let flight = max.since(una);
        Ok(match u.int_in_range(0..=11u8)? {
            0..=3 => max,
            4 | 5 => una,
            6 => match c.ours.get(u.choose_index(c.ours.len().max(1))?) {
                Some(&(s, l)) => s + l,
                None => max,
            },
            7 => una + u.int_in_range(0..=flight)?,
            8 => una - usize::from(u.int_in_range(1..=u16::MAX)?),
            9 => max + usize::from(u.int_in_range(1..=2000u16)?),
            10 => p.snd_nxt,
            _ => match u.int_in_range(0..=2u8)? {
                0 => una + (1usize << 31),
                1 => una - (1usize << 31) - 1,
                _ => Seq(u.arbitrary()?),
            },
        })
    }

    /// SACK blocks for an ACK of `ack`: segments the connection sent, runs of them,
    /// D-SACKs below the ACK, reversed, empty, wrapping and random blocks.
    fn sack_for(
        &self,
        u: &mut Unstructured<'_>,
        ci: usize,
        ack: Seq,
        r: &mut TcpRepr,
    ) -> AResult<()> {
        let c = &self.conns[ci];
        let (una, max) = c.cur.map_or((ack, ack), |p| (p.snd_una, p.snd_max));
        let n = u.int_in_range(1..=MAX_SACK_BLOCKS)?;
        let seg = |u: &mut Unstructured<'_>| -> AResult<(Seq, usize)> {
            Ok(match c.ours.len() {
                0 => (una, 1),
                k => c.ours[u.choose_index(k)?],
            })
        };
        for i in 0..n {
            let b = match u.int_in_range(0..=9u8)? {
                0..=3 => {
                    let (s, l) = seg(u)?;
                    (s, s + l)
                }
                4 => {
                    let (a, _) = seg(u)?;
                    let (b, l) = seg(u)?;
                    (a, b + l)
                }
                5 => {
                    // A D-SACK: below the ACK, or a segment received twice.
                    let back = usize::from(u.int_in_range(1..=3000u16)?);
                    let s = ack - back;
                    (s, s + u.int_in_range(1..=back)?)
                }
                6 => {
                    let l = una + u.int_in_range(0..=max.since(una) + 10)?;
                    (l, l + usize::from(u.int_in_range(0..=4000u16)?))
                }
                7 => {
                    let (s, l) = seg(u)?;
                    match u.int_in_range(0..=3u8)? {
                        0 => (s + l, s),
                        1 => (s, s),
                        2 => (s, s + (1usize << 31) + 1),
                        _ => (s - 1, s + l + 1),
                    }
                }
                8 => (max, max + usize::from(u.int_in_range(1..=3000u16)?)),
                _ => (Seq(u.arbitrary()?), Seq(u.arbitrary()?)),
            };
            r.sack[i] = b;
        }
        r.sack_count = n as u8;
        Ok(())
    }

    /// The peer's timestamps: mostly its clock moving on and the last TSval echoed; else
    /// an old, equal, wrapped or zero TSval, a stale, future or zero echo. Sometimes
    /// present though not agreed, or missing though agreed.
    fn timestamp_for(
        &mut self,
        u: &mut Unstructured<'_>,
        ci: usize,
    ) -> AResult<Option<(u32, u32)>> {
        let c = &mut self.conns[ci];
        // A peer that offered them sends them, but one segment in 32 goes the other way.
        if c.peer_ts == u.ratio(1u8, 32)? {
            return Ok(None);
        }
        let val = match u.int_in_range(0..=19u8)? {
            0..=15 => {
                c.ts = c.ts.wrapping_add(u.int_in_range(0..=200)?);
                c.ts
            }
            16 => c.ts.wrapping_sub(u.int_in_range(1..=100_000)?),
            17 => {
                c.ts.wrapping_add(1 << 31)
                    .wrapping_add(u.int_in_range(0..=2)?)
            }
            18 => 0,
            _ => {
                // Any value; a later one than the clock's moves the clock there (the
                // connection may take it for TS.Recent).
                let v: u32 = u.arbitrary()?;
                if (v.wrapping_sub(c.ts) as i32) > 0 {
                    c.ts = v;
                }
                v
            }
        };
        let ecr = match u.int_in_range(0..=7u8)? {
            0..=4 => c.echo,
            5 => 0,
            6 => c.echo.wrapping_sub(u.int_in_range(1..=100_000)?),
            _ => c.echo.wrapping_add(u.int_in_range(1..=100_000)?),
        };
        Ok(Some((val, ecr)))
    }

    /// A segment from the peer of connection `ci` (see the module's doc for where it
    /// lands), with data from the peer's stream at its place.
    fn peer_segment(
        &mut self,
        u: &mut Unstructured<'_>,
        ci: usize,
    ) -> AResult<(TcpRepr, Vec<u8>, u8, Option<u16>)> {
        let c = &self.conns[ci];
        let mss = c.our_mss.max(1);
        let (rcv_nxt, rcv_adv) = match c.cur {
            Some(p) if synchronized(p.state) => (p.rcv_nxt, p.rcv_adv),
            _ => (c.data_start(), c.data_start() + 65_535),
        };
        let wnd = if rcv_adv.ge(rcv_nxt) {
            rcv_adv.since(rcv_nxt)
        } else {
            0
        };
        let mut len = match u.int_in_range(0..=9u8)? {
            0 | 1 => 0,
            2 => 1,
            3 => u.int_in_range(1..=16usize)?,
            4 | 5 => mss,
            6 => u.int_in_range(1..=mss)?,
            7 => mss * u.int_in_range(2..=44usize)?,
            8 => wnd,
            _ => u.int_in_range(0..=wnd + mss)?,
        };
        let theirs = &c.theirs;
        let recent = |u: &mut Unstructured<'_>| -> AResult<Option<(Seq, usize)>> {
            Ok(match theirs.len() {
                0 => None,
                k => Some(theirs[u.choose_index(k)?]),
            })
        };
        let seq = match u.int_in_range(0..=15u8)? {
            0..=4 => rcv_nxt,
            5 | 6 => rcv_nxt + u.int_in_range(1..=4 * mss)?,
            7 => rcv_nxt + u.int_in_range(0..=wnd)?,
            8 => {
                // At the right edge: ending there, one beyond, or starting there.
                match u.int_in_range(0..=2u8)? {
                    0 => rcv_adv - len,
                    1 => rcv_adv - len + 1,
                    _ => rcv_adv,
                }
            }
            9 => rcv_nxt - u.int_in_range(1..=3 * mss)?,
            10 => match recent(u)? {
                // A segment again: the same, shorter, longer.
                Some((s, l)) => {
                    len = match u.int_in_range(0..=2u8)? {
                        0 => l,
                        1 => u.int_in_range(0..=l)?,
                        _ => l + u.int_in_range(1..=mss)?,
                    };
                    s
                }
                None => rcv_nxt,
            },
            11 => match recent(u)? {
                // Right after a segment (extending a range beyond a hole).
                Some((s, l)) => s + l,
                None => rcv_nxt,
            },
            12 => match recent(u)?.filter(|(s, _)| s.gt(rcv_nxt)) {
                // Filling the hole up to a segment held beyond it: exactly, or over it.
                Some((s, l)) => {
                    len = s.since(rcv_nxt)
                        + match u.int_in_range(0..=2u8)? {
                            0 => 0,
                            1 => 1,
                            _ => l + 1,
                        };
                    rcv_nxt
                }
                None => rcv_nxt,
            },
            13 => rcv_nxt + (1usize << 31) - u.int_in_range(0..=2usize)?,
            14 => rcv_nxt - u.int_in_range(0..=70_000usize)?,
            _ => Seq(u.arbitrary()?),
        };
        let len = len.min(60_000);
        let mut fl = match u.int_in_range(0..=63u8)? {
            0 => 0,
            1 => flags::RST,
            2 => flags::RST | flags::ACK,
            3 => flags::SYN,
            4 => flags::SYN | flags::ACK,
            5 => u.arbitrary::<u8>()?,
            _ => flags::ACK,
        };
        if u.ratio(1u8, 6)? {
            fl |= flags::FIN;
        }
        if u.ratio(1u8, 4)? {
            fl |= flags::PSH;
        }
        if u.ratio(1u8, 16)? {
            fl |= u.arbitrary::<u8>()? & (flags::ECE | flags::CWR);
        }
        let mut r = TcpRepr {
            src_port: c.peer_port,
            dst_port: c.port,
            seq,
            flags: fl,
            ..TcpRepr::default()
        };
        if u.ratio(1u8, 12)? {
            r.flags |= flags::URG;
            r.urgent = match u.int_in_range(0..=4u8)? {
                0 => 0,
                1 => 1,
                2 => len as u16,
                3 => (len as u16).wrapping_add(1),
                _ => u.arbitrary()?,
            };
        }
        let peer_sack = c.peer_sack;
        r.ack = self.ack_for(u, ci)?;
        r.window = self.window(u)?;
        r.timestamp = self.timestamp_for(u, ci)?;
        if (peer_sack || u.ratio(1u8, 16)?) && u.ratio(1u8, 4)? {
            self.sack_for(u, ci, r.ack, &mut r)?;
        }
        if r.has(flags::SYN) {
            self.syn_options(u, &mut r)?;
        }
        // A SYN's data follows it; one that may synchronize the connection starts the
        // stream there.
        let data = match self.conns[ci].cur {
            Some(p) if synchronized(p.state) && r.has(flags::SYN) => {
                self.peer_bytes(ci, seq + 1, len)
            }
            Some(p) if synchronized(p.state) => self.peer_bytes(ci, seq, len),
            _ if r.has(flags::SYN) => (0..len).map(|i| pat(i as u32, PEER_SALT)).collect(),
            _ => self.peer_bytes(ci, seq, len),
        };
        let ecn = match u.int_in_range(0..=7u8)? {
            0 => 3,
            1 => 2,
            _ => 0,
        };
        let gso = (len > mss && u.ratio(1u8, 2)?).then_some(mss.min(65_535) as u16);
        let c = &mut self.conns[ci];
        if len > 0 {
            if c.theirs.len() == REMEMBERED {
                c.theirs.pop_front();
            }
            c.theirs.push_back((seq, len));
        }
        Ok((r, data, ecn, gso))
    }

    fn window(&self, u: &mut Unstructured<'_>) -> AResult<u16> {
        Ok(match u.int_in_range(0..=9u8)? {
            0 => 0,
            1 => 1,
            2 => u.int_in_range(1..=2000)?,
            3 => u.arbitrary()?,
            _ => 65_535,
        })
    }

    /// The peer acknowledges what the connection sent, or all but a hole (the first
    /// segment, or one in the middle), SACKing the rest, `n` times (duplicate ACKs).
    fn honest_ack(&mut self, u: &mut Unstructured<'_>, ci: usize) -> AResult<&'static str> {
        let c = &self.conns[ci];
        let Some(p) = c.cur else {
            return Ok("no ack");
        };
        let in_flight: Vec<(Seq, usize)> = c
            .ours
            .iter()
            .copied()
            .filter(|&(s, l)| (s + l).gt(p.snd_una) && (s + l).le(p.snd_max))
            .collect();
        let lossy = !in_flight.is_empty() && u.ratio(1u8, 2)?;
        let mut r = TcpRepr {
            src_port: c.peer_port,
            dst_port: c.port,
            seq: match c.cur {
                Some(p) if synchronized(p.state) => p.rcv_nxt,
                _ => c.data_start(),
            },
            ack: p.snd_max,
            flags: flags::ACK,
            window: 65_535,
            ..TcpRepr::default()
        };
        let sack = c.peer_sack;
        let mut what = "ack all";
        if lossy {
            // A hole at segment `k`: ACK up to it, SACK from the one after it.
            let k = u.choose_index(in_flight.len())?;
            let (hs, _) = in_flight[k];
            r.ack = if hs.gt(p.snd_una) { hs } else { p.snd_una };
            if sack {
                let mut blocks: Vec<(Seq, Seq)> = Vec::new();
                for &(s, l) in &in_flight[k + 1..] {
                    match blocks.last_mut() {
                        Some(b) if b.1 == s => b.1 = s + l,
                        _ => blocks.push((s, s + l)),
                    }
                }
                let cut = u.int_in_range(0..=blocks.len())?;
                for (i, b) in blocks.iter().rev().skip(cut.min(1)).take(3).enumerate() {
                    r.sack[i] = *b;
                    r.sack_count = i as u8 + 1;
                }
            }
            what = "ack with a hole";
        }
        let n = if lossy { u.int_in_range(1..=4u8)? } else { 1 };
        for _ in 0..n {
            r.timestamp = self.timestamp_for(u, ci)?;
            self.deliver(&r, &[], 0, None);
        }
        Ok(what)
    }

    // ---- one step ----------------------------------------------------------------------

    fn step(&mut self, u: &mut Unstructured<'_>) -> AResult<&'static str> {
        let Some(ci) = self.pick_conn(u)? else {
            let passive = u.arbitrary()?;
            return self.open(u, passive);
        };
        // A connection that has ended (reset, timed out) mostly makes way for a new one,
        // so that the rest of the input still reaches a live connection.
        let ended = self.conns[ci]
            .cur
            .is_none_or(|p| matches!(p.state, State::Closed | State::TimeWait));
        if ended && ci == self.conns.len() - 1 && u.ratio(3u8, 4)? {
            let passive = u.arbitrary()?;
            return self.open(u, passive);
        }
        Ok(match u.int_in_range(0..=31u8)? {
            0..=9 => {
                let (r, data, ecn, gso) = self.peer_segment(u, ci)?;
                self.deliver(&r, &data, ecn, gso);
                "segment"
            }
            10 | 11 => {
                // Several segments in one batch (one ACK for them, as the runtime does).
                let n = u.int_in_range(2..=8u8)?;
                self.t.begin_batch();
                for _ in 0..n {
                    let (r, data, ecn, gso) = self.peer_segment(u, ci)?;
                    self.deliver(&r, &data, ecn, gso);
                }
                self.t.end_batch(&mut self.wire, self.now);
                self.take_sent();
                "batch"
            }
            12..=14 => self.honest_ack(u, ci)?,
            15 => {
                // In-order data from the peer with everything acknowledged.
                let c = &self.conns[ci];
                let Some(p) = c.cur.filter(|p| synchronized(p.state)) else {
                    return Ok("no data");
                };
                let len = c.our_mss * usize::from(u.int_in_range(1..=4u8)?);
                let r = TcpRepr {
                    src_port: c.peer_port,
                    dst_port: c.port,
                    seq: p.rcv_nxt,
                    ack: p.snd_max,
                    flags: flags::ACK | flags::PSH,
                    window: 65_535,
                    ..TcpRepr::default()
                };
                let data = self.peer_bytes(ci, p.rcv_nxt, len);
                let mut r = r;
                r.timestamp = self.timestamp_for(u, ci)?;
                self.deliver(&r, &data, 0, None);
                "in-order data"
            }
            16..=18 => {
                let d = match u.int_in_range(0..=5u8)? {
                    0 | 1 => Duration::from_millis(u.int_in_range(0..=50)?),
                    2 => Duration::from_millis(u.int_in_range(0..=3000)?),
                    3 => Duration::from_secs(u.int_in_range(0..=400)?),
                    4 => Duration::from_micros(u.int_in_range(0..=1000)?),
                    _ => self
                        .t
                        .poll_at()
                        .map_or(Duration::ZERO, |t| t.saturating_duration_since(self.now)),
                };
                self.advance(d);
                "advance"
            }
            19 => {
                let passive = u.arbitrary()?;
                self.open(u, passive)?
            }
            20 => {
                self.icmp(u, ci)?;
                "icmp"
            }
            _ => self.app(u, ci)?,
        })
    }

    /// An ICMP error quoting the connection's segment from near SND.UNA.
    fn icmp(&mut self, u: &mut Unstructured<'_>, ci: usize) -> AResult<()> {
        let c = &self.conns[ci];
        let seq = match c.cur {
            Some(p) => match u.int_in_range(0..=3u8)? {
                0 | 1 => p.snd_una,
                2 => p.snd_una + u.int_in_range(0..=p.snd_max.since(p.snd_una))?,
                _ => Seq(u.arbitrary()?),
            },
            None => Seq(u.arbitrary()?),
        };
        let mut quoted = [0u8; 8];
        quoted[..2].copy_from_slice(&c.port.to_be_bytes());
        quoted[2..4].copy_from_slice(&c.peer_port.to_be_bytes());
        quoted[4..].copy_from_slice(&seq.0.to_be_bytes());
        let (kind, code, info) = match u.int_in_range(0..=5u8)? {
            0 | 1 => (
                3u8,
                4u8,
                u32::from(one_of(u, &[1400u16, 576, 68, 0, 1000])?),
            ),
            2 => (3, u.int_in_range(0..=15)?, 0),
            3 => (11, 0, 0),
            4 => (12, 0, 0),
            _ => (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?),
        };
        let report = IcmpErrorReport {
            from: PEER,
            ifindex: 1,
            kind,
            code,
            info,
            orig_src: US,
            orig_dst: PEER,
            orig_protocol: ipv4::protocol::TCP,
            orig_total_len: one_of(u, &[1500u16, 576, 9000])?,
            orig_payload: &quoted,
        };
        self.t.icmp_error(&mut self.wire, &report, self.now);
        self.take_sent();
        Ok(())
    }

    /// A call of the application on connection `ci`'s socket.
    fn app(&mut self, u: &mut Unstructured<'_>, ci: usize) -> AResult<&'static str> {
        let now = self.now;
        let Some(h) = self.conns[ci].h.filter(|_| !self.conns[ci].closed) else {
            self.accept();
            return Ok("accept");
        };
        let what = match u.int_in_range(0..=15u8)? {
            0..=4 => {
                let len = match u.int_in_range(0..=4u8)? {
                    0 => u.int_in_range(0..=100usize)?,
                    1 => self.conns[ci].our_mss,
                    2 => u.int_in_range(0..=20_000usize)?,
                    3 => 70_000,
                    _ => u.int_in_range(0..=300_000usize)?,
                };
                let w = self.conns[ci].written;
                let data: Vec<u8> = (0..len)
                    .map(|i| pat(w.wrapping_add(i as u32), OUR_SALT))
                    .collect();
                let r = match u.int_in_range(0..=7u8)? {
                    0 => self.t.tcp_send_urgent(h, [&data[..]], &mut self.wire, now),
                    1 => {
                        let cut = u.int_in_range(0..=len)?;
                        let (a, b) = data.split_at(cut);
                        self.t.tcp_send_gather(h, [a, b], &mut self.wire, now)
                    }
                    _ => self.t.tcp_send(h, &data, &mut self.wire, now),
                };
                if let Ok(n) = r {
                    assert!(n <= len);
                    self.conns[ci].written = w.wrapping_add(n as u32);
                }
                "write"
            }
            5..=8 => {
                let max = *u.choose(&[1usize, 100, 1460, 65_536, 1 << 20])?;
                let part = u.ratio(1u8, 4)?;
                let peek = u.ratio(1u8, 8)?;
                let start = self.conns[ci].read;
                let mut off = start;
                let mut bad: Option<u32> = None;
                let mut check = |chunk: &[u8], off: u32| {
                    for (i, &b) in chunk.iter().enumerate() {
                        let k = off.wrapping_add(i as u32);
                        if b != pat(k, PEER_SALT) && bad.is_none() {
                            bad = Some(k);
                        }
                    }
                };
                if peek {
                    let mut buf = vec![0u8; max];
                    if let Ok(Some(n)) = self.t.tcp_peek(h, &mut buf, &mut self.wire, now) {
                        check(&buf[..n], start);
                    }
                } else {
                    let _ = self.t.tcp_recv_with(
                        h,
                        max,
                        &mut |chunk: &[u8]| {
                            let n = if part { chunk.len() / 2 } else { chunk.len() };
                            check(&chunk[..n], off);
                            off = off.wrapping_add(n as u32);
                            n
                        },
                        &mut self.wire,
                        now,
                    );
                    self.conns[ci].read = off;
                }
                if let Some(k) = bad {
                    let c = &self.conns[ci];
                    panic!(
                        "the application read a wrong byte at offset {k} of the peer's \
                         stream (peer ISS {:?}), {:?}",
                        c.peer_iss, c.last
                    );
                }
                "read"
            }
            9 => {
                let (r, w) = (u.arbitrary()?, u.arbitrary()?);
                let _ = self.t.tcp_shutdown(h, r, w, &mut self.wire, now);
                "shutdown"
            }
            10 => {
                if u.ratio(1u8, 4)? {
                    self.t.tcp_close_abort(h, &mut self.wire, now);
                } else {
                    self.t.close(h, &mut self.wire, now);
                }
                self.conns[ci].closed = true;
                "close"
            }
            11 | 12 => {
                let buf = *u.choose(&[0usize, 1, 2048, 65_535, 1 << 20])?;
                let which = u.int_in_range(0..=5u8)?;
                let on: bool = u.arbitrary()?;
                let _ = self.t.tcp_set_opts(
                    h,
                    |o| match which {
                        0 => {
                            o.rcvbuf = buf;
                            o.rcvbuf_max = buf;
                        }
                        1 => o.sndbuf = buf,
                        2 => o.nodelay = on,
                        3 => o.cork = on,
                        4 => {
                            o.keepalive = on;
                            o.keep_idle = 1;
                            o.keep_interval = 1;
                            o.keep_count = 2;
                        }
                        _ => o.user_timeout = Some(Duration::from_millis(buf as u64)),
                    },
                    &mut self.wire,
                    now,
                );
                "options"
            }
            _ => {
                let _ = self.t.tcp_connected(h);
                let _ = self.t.readiness(h);
                let _ = self.t.tcp_at_mark(h);
                let _ = self.t.tcp_outstanding(h);
                let _ = self.t.tcp_take_error(h);
                let _ = (self.t.hung_up(h), self.t.urgent(h), self.t.read_hung_up(h));
                "look"
            }
        };
        self.take_sent();
        Ok(what)
    }

    // ---- invariants --------------------------------------------------------------------

    fn check(&mut self, when: &str) {
        self.take_sent();
        let p = self.t.tcp_probe();
        assert!(
            p.time_wait <= self.cfg.max_time_wait && p.time_wait_queue == p.time_wait,
            "{when}: {} TIME-WAIT records, {} expiry entries",
            p.time_wait,
            p.time_wait_queue
        );
        for l in &p.listeners {
            assert!(
                l.embryonic <= self.cfg.syn_backlog && l.accept <= l.backlog + self.cfg.syn_backlog,
                "{when}: listener {l:?}"
            );
        }
        for c in &mut self.conns {
            let Some(h) = c.h else {
                continue;
            };
            let Some(&(_, _, q)) = p.conns.iter().find(|(x, _, _)| *x == h) else {
                c.last = None;
                continue;
            };
            // A new incarnation under the same handle (the slot reused): start again.
            if c.last.is_some_and(|b| b.iss != q.iss) {
                c.last = None;
            }
            let ctx = || format!("{when}: {q:?}");
            assert!(q.snd_una.le(q.snd_nxt), "SND.UNA > SND.NXT, {}", ctx());
            assert!(q.snd_nxt.le(q.snd_max), "SND.NXT > SND.MAX, {}", ctx());
            assert!(
                q.snd_max.since(q.snd_una) <= q.sndq + 2,
                "in flight > queued, {}",
                ctx()
            );
            c.max_sndbuf = if c.last.is_some() {
                c.max_sndbuf.max(q.sndbuf)
            } else {
                q.sndbuf
            };
            c.max_rcvbuf = if c.last.is_some() {
                c.max_rcvbuf.max(q.rcvbuf)
            } else {
                q.rcvbuf
            };
            assert!(
                q.sndq <= c.max_sndbuf,
                "send queue over SO_SNDBUF, {}",
                ctx()
            );
            assert!(
                q.rcvbuf <= q.rcvbuf_max,
                "rcvbuf over its maximum, {}",
                ctx()
            );
            let slack = 1usize << q.rcv_wscale;
            assert!(
                q.rcvq + q.ooo_bytes <= c.max_rcvbuf + slack,
                "receive buffers over SO_RCVBUF, {}",
                ctx()
            );
            assert!(
                q.ooo_ranges <= transport::tcp::OOO_MAX_RANGES,
                "out-of-order queue over its cap, {}",
                ctx()
            );
            assert_eq!(q.ooo_bytes, q.ooo_bytes_counted, "ooo bytes, {}", ctx());
            assert!(
                q.seg_records <= transport::tcp::SEG_TABLE_MAX && q.sack_ranges <= q.seg_records,
                "table of sent segments, {}",
                ctx()
            );
            if synchronized(q.state) {
                assert!(
                    q.rcv_nxt.le(q.rcv_adv),
                    "RCV.NXT beyond the window, {}",
                    ctx()
                );
                // What was read and what is readable arrived in order (the FIN aside).
                let arrived = q.rcv_nxt.since(q.irs + 1);
                assert!(
                    c.read as usize + q.rcvq <= arrived || arrived > 1 << 31,
                    "{} bytes read and {} readable, {arrived} arrived, {}",
                    c.read,
                    q.rcvq,
                    ctx()
                );
            }
            if let Some(b) = c.last {
                assert!(
                    b.snd_una.le(q.snd_una),
                    "SND.UNA moved back from {:?}, {}",
                    b.snd_una,
                    ctx()
                );
                if synchronized(b.state) && synchronized(q.state) {
                    assert!(
                        b.rcv_adv.le(q.rcv_adv),
                        "the window's right edge moved left from {:?}, {}",
                        b.rcv_adv,
                        ctx()
                    );
                }
            }
            c.last = Some(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random inputs, as the stable driver feeds, reach deep into the connection: data in
    /// order and beyond holes, FINs held beyond them, D-SACKs both ways, SACK recovery,
    /// challenge ACKs, PAWS drops, timeouts.
    #[test]
    fn random_inputs_reach_deep_into_the_connection() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut total = transport::TcpStats::default();
        macro_rules! add {
            ($s:ident: $($f:ident),*) => { $(total.$f += $s.$f;)* };
        }
        for _ in 0..60 {
            let data: Vec<u8> = (0..rng.usize(0..4096)).map(|_| rng.u8(..)).collect();
            let mut u = Unstructured::new(&data);
            let Ok(mut w) = World::new(&mut u) else {
                continue;
            };
            for _ in 0..MAX_STEPS {
                if u.is_empty() || w.step(&mut u).is_err() {
                    break;
                }
                w.check("step");
            }
            let s = w.t.tcp_stats();
            add!(s: ooo_queued, dup_segments, dsacks_in, challenge_acks, drop_paws, fast_retransmits, timeouts, drop_after_fin, window_drops, loss_probes, rack_lost, sack_reneging, spurious_undos, window_probes, keepalive_probes, user_timeouts, ecn_ce_in, pmtu_updates, syncookies_sent, handshake_restarts, resets_established, lost_retransmits, tlp_recoveries, mem_pressure_drops, ooo_dropped, dup_acks, dupthresh_lost, rack_reo_timeouts);
        }
        eprintln!("{total:?}");
        assert!(
            total.ooo_queued > 100
                && total.dup_segments > 10
                && total.dsacks_in > 0
                && total.challenge_acks > 0
                && total.drop_paws > 0
                && total.fast_retransmits > 0
                && total.timeouts > 0
                && total.drop_after_fin > 0
                && total.window_drops > 0,
            "{total:?}"
        );
    }
}
