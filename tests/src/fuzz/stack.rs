//! The whole-stack fuzz target: two hosts, each the sans-IO `IpLayer` with a `Transport`
//! above it on a virtual clock (as the runtime drives them, without threads), joined by an
//! in-memory link whose frames in flight the input delivers, drops, duplicates or
//! mutates. Host A (10.0.0.1, a router as the shell's default) is the one under attack;
//! host B (10.0.0.2) is its honest peer.
//!
//! Before the input is read, each host has loopback and one Ethernet interface, A has a
//! TCP listener on port 80, B one on 8080, three TCP connections are established between
//! them (two to A's listener, one to B's), and each host has UDP sockets (a bound one and a
//! connected one) and A a raw ICMP socket. Then every step of the input is one of:
//! - a frame arrives at a host: arbitrary bytes, or a frame crafted for an open socket
//!   (ARP, a TCP segment near a connection's sequence numbers or a SYN to a listener, UDP,
//!   ICMP echo and errors quoting a real connection, fragments of any of these), possibly
//!   mutated, with its checksums put right or not;
//! - a frame in flight is delivered, dropped, duplicated, or mutated and delivered;
//! - time advances, with the link stalled or carrying frames;
//! - a socket call on either host (send, receive, shutdown, close, connect, accept,
//!   listen, options, UDP and raw sends).
//!
//! After each step [`World::check`] asserts the invariants (see there); at the end the
//! link runs until quiet, bounded, and the invariants are checked once more.

use super::frames::{self, Ip};
use arbitrary::{Result as AResult, Unstructured};
use arp::ArpRepr;
use ip::icmp::{self, IcmpRepr};
use ip::ipv4;
use ip::reassembly::ReassemblyConfig;
use ip::{IpConfig, IpLayer, Ipv4Cidr};
use netif::ethernet::ethertype;
use netif::vnet::{Csum, FrameMeta, VNET_HDR_LEN};
use netif::{DeviceInfo, Duration, Instant, MacAddr, Offload};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::tcp::wire::{flags, TcpRepr, MAX_SACK_BLOCKS};
use transport::tcp::TcbProbe;
use transport::tcp::{Seq, State};
use transport::{
    CongestionAlgorithm, EcnMode, SocketHandle, SocketKind, TcpConfig, Transport, TransportConfig,
};

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const B_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const A_PORT: u16 = 80;
const B_PORT: u16 = 8080;
const UDP_PORT: u16 = 7;
/// The group both hosts' bound UDP sockets join at setup (a route for 224/4 leaves by
/// the Ethernet interface on both).
const GROUP: Ipv4Addr = Ipv4Addr::new(224, 1, 2, 3);
/// Host A's second Ethernet interface (10.0.1.1/24), where what A forwards from the link
/// to 10.0.1/24 leaves; the frames sent there are lost (a sink). 10.0.1.2 is in A's ARP
/// cache as a static entry; any other neighbour there is asked for and never answers.
const FAR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const FAR_PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const FAR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 0x01]);
const FAR_PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 0x02]);

/// Frames in flight on the link; a frame sent when it is full is lost (a tail drop).
const WIRE_CAP: usize = 512;
/// Steps of the input read at most (a longer input is cut there).
const MAX_STEPS: usize = 256;
/// Iterations of one "run the link" step, and of the run at the end.
const RUN_ITERATIONS: usize = 400;
/// Sockets a host's table holds, and what the target opens at most.
const MAX_SOCKETS: usize = 48;
/// Largest TCP send and UDP datagram of one call.
const MAX_SEND: usize = 70_000;

const ARP_CFG: arp::CacheConfig = arp::CacheConfig {
    max_entries: 16,
    reachable_time: Duration::from_secs(60),
    retransmit_interval: Duration::from_secs(1),
    max_retries: 3,
    max_pending_per_entry: 8,
    max_pending_total: 32,
    // Below the counts' worth of full frames (8 and 32 of 1,514 bytes), so that every
    // bound is reached.
    max_pending_bytes_per_entry: 8 * 1024,
    max_pending_bytes_total: 24 * 1024,
    request_rate: 10,
    request_burst: 10,
};

const REASSEMBLY: ReassemblyConfig = ReassemblyConfig {
    timeout: Duration::from_secs(30),
    max_bytes: 256 * 1024,
    max_datagrams: 8,
    max_dist: 64,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Raw,
}

struct Host {
    ip: IpLayer,
    t: Transport,
    lo: usize,
    eth: usize,
    /// A's second Ethernet interface (the sink), when it has one.
    far: Option<usize>,
    /// Each interface's (index, MTU, offloads), for the checks of what is sent.
    links: Vec<(usize, usize, Offload)>,
    mac: MacAddr,
    addr: Ipv4Addr,
    socks: Vec<(SocketHandle, Kind)>,
    listener: Option<SocketHandle>,
}

/// A frame in flight: to which host, on which of its interfaces, with the offload
/// metadata it left with (the link passes partial checksums and TSO segments through, as
/// a veth between two offloading stacks does).
struct InFlight {
    to: usize,
    ifindex: usize,
    data: Vec<u8>,
    meta: FrameMeta,
}

/// What a connection looked like at the last check, to see that numbers only move forward.
#[derive(Clone, Copy)]
struct Seen {
    snd_una: Seq,
    rcv_adv: Seq,
    synchronized: bool,
    /// The largest SO_SNDBUF and SO_RCVBUF the connection has had: lowering one keeps
    /// what is queued (and the window already announced).
    max_sndbuf: usize,
    max_rcvbuf: usize,
}

/// Two hosts, the link between them and the virtual clock.
pub struct World {
    now: Instant,
    hosts: [Host; 2],
    wire: VecDeque<InFlight>,
    /// By host, handle and ISS (not the IRS, which a SYN-SENT connection learns later: a
    /// Fast Open one has data queued, and a lowered SO_SNDBUF, before it does).
    seen: HashMap<(usize, SocketHandle, u32), Seen>,
    tcp: TcpConfig,
    udp_rcvbuf: usize,
    /// Frames the hosts sent and frames crafted for them (before any mutation), when
    /// [`capture`] asked for them.
    log: Option<Vec<Vec<u8>>>,
    /// Frames A sent on its second link (lost there).
    far_frames: u64,
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

/// What a host sends on an interface is well formed: an ARP packet or an IPv4 datagram
/// with a header that verifies and a TTL above 0, no longer than the link's MTU (a TSO
/// super-frame: its segments no longer), the transport checksum of a whole datagram right
/// unless the link offloads it, and offload metadata only where the link has the offload.
fn check_sent(h: &Host, side: usize, ifindex: usize, data: &[u8], meta: &FrameMeta) {
    let &(_, mtu, offload) = h
        .links
        .iter()
        .find(|l| l.0 == ifindex)
        .expect("a frame on a known link");
    let ctx = || {
        format!(
            "host {side} sent on interface {ifindex} ({meta:?}) {} bytes: {:02x?}",
            data.len(),
            &data[..data.len().min(64)]
        )
    };
    assert!(
        meta.csum == Csum::Full || offload.csum,
        "a partial checksum on a link without the offload, {}",
        ctx()
    );
    assert!(
        meta.gso.is_none() || offload.tso,
        "a TSO frame on a link without the offload, {}",
        ctx()
    );
    let Some(f) = netif::ethernet::Frame::new_checked(data) else {
        panic!("a frame shorter than its header, {}", ctx());
    };
    match f.ethertype() {
        ethertype::ARP => {
            assert!(
                ArpRepr::from_bytes(f.payload()).is_ok(),
                "bad ARP, {}",
                ctx()
            );
        }
        ethertype::IPV4 => {
            let p = match ipv4::Ipv4Packet::new_checked(f.payload()) {
                Ok(p) => p,
                Err(e) => panic!("a malformed datagram ({e:?}), {}", ctx()),
            };
            assert!(p.verify_checksum(), "a bad header checksum, {}", ctx());
            assert!(p.ttl() > 0, "TTL 0, {}", ctx());
            match meta.gso {
                None => assert!(
                    p.total_len() <= mtu,
                    "{} bytes over an MTU of {mtu}, {}",
                    p.total_len(),
                    ctx()
                ),
                Some(g) => {
                    let l4 = p.payload();
                    let thl = l4.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
                    assert!(
                        p.protocol() == ipv4::protocol::TCP
                            && p.header_len() + thl + usize::from(g.size) <= mtu,
                        "TSO segments over an MTU of {mtu}, {}",
                        ctx()
                    );
                }
            }
            let at = match p.protocol() {
                ipv4::protocol::TCP => Some(16),
                ipv4::protocol::UDP => Some(6),
                ipv4::protocol::ICMP | ipv4::protocol::IGMP => None,
                _ => return,
            };
            // A router does not look at the transport checksum of what it forwards: only
            // the host's own datagrams are checked.
            let own = p.src() == h.addr || p.src() == FAR_IP || p.src().is_loopback();
            if meta.csum != Csum::Full || p.is_fragment() || !own {
                return;
            }
            let l4 = p.payload();
            let ok = match at {
                // UDP may go without a checksum (RFC 768).
                Some(6) if l4.get(6..8) == Some(&[0, 0]) => true,
                Some(_) => {
                    let acc = ip::checksum::pseudo_header(
                        p.src(),
                        p.dst(),
                        p.protocol(),
                        l4.len() as u16,
                    );
                    ip::checksum::finish(ip::checksum::sum(l4, acc)) == 0
                }
                // Shorter than any ICMP or IGMP message: a raw socket's (sent as given).
                None => l4.len() < 4 || ip::checksum::checksum(l4) == 0,
            };
            assert!(ok, "a bad transport checksum, {}", ctx());
        }
        other => panic!("ethertype {other:#06x}, {}", ctx()),
    }
}

/// Offload metadata as a TAP with `IFF_VNET_HDR` gives it for a whole TCP or UDP datagram
/// in `frame`: the checksum verified (DATA_VALID), or left partial (NEEDS_CSUM: the field
/// holds the pseudo-header's sum, written here), and for TCP maybe coalesced (TSO, with a
/// segment size below, at or above the payload's).
fn kernel_meta(u: &mut Unstructured<'_>, frame: &mut [u8]) -> AResult<FrameMeta> {
    let eth = netif::ethernet::HEADER_LEN;
    let Ok(p) = ipv4::Ipv4Packet::new_checked(frame.get(eth..).unwrap_or(&[])) else {
        return Ok(FrameMeta::default());
    };
    let (hl, total, src, dst, protocol) = (
        p.header_len(),
        p.total_len(),
        p.src(),
        p.dst(),
        p.protocol(),
    );
    let at = match protocol {
        ipv4::protocol::TCP => 16,
        ipv4::protocol::UDP => 6,
        _ => return Ok(FrameMeta::default()),
    };
    if p.is_fragment() || total < hl + at + 2 {
        return Ok(FrameMeta::default());
    }
    if u.ratio(1u8, 4)? {
        return Ok(FrameMeta {
            csum: Csum::Valid,
            gso: None,
        });
    }
    let start = eth + hl;
    let len = (total - hl) as u16;
    let partial = ip::checksum::fold(ip::checksum::pseudo_header(src, dst, protocol, len));
    frame[start + at..start + at + 2].copy_from_slice(&partial.to_be_bytes());
    let gso = if protocol == ipv4::protocol::TCP && u.arbitrary()? {
        let thl = usize::from(frame[start + 12] >> 4) * 4;
        Some(netif::Gso {
            size: one_of(u, &[536u16, 1448, 8948, 64])?.max(1),
            hdr_len: (start + thl) as u16,
        })
    } else {
        None
    };
    let m = FrameMeta {
        csum: Csum::Partial {
            start: start as u16,
            offset: at as u16,
        },
        gso,
    };
    Ok(FrameMeta::decode(&m.encode(), frame.len()).unwrap_or_default())
}

/// The Ethernet address of an IPv4 multicast group (RFC 1112 6.4).
fn multicast_mac(group: Ipv4Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

fn cidr(s: &str) -> Ipv4Cidr {
    s.parse().expect("a CIDR of the fuzz world")
}

fn host(
    addr: Ipv4Addr,
    mac: MacAddr,
    mtu: usize,
    offload: Offload,
    tcp: &TcpConfig,
    secret: u64,
) -> Host {
    let t0 = Instant::from_secs(1);
    let mut ip = IpLayer::new(IpConfig {
        reassembly: REASSEMBLY,
        arp: ARP_CFG,
        tx_queue: 1024,
        ..IpConfig::default()
    });
    let lo = ip.add_interface(&DeviceInfo {
        name: "lo".into(),
        mtu: 65_535,
        mac: MacAddr::ZERO,
        loopback: true,
        offload: Offload::NONE,
    });
    let eth = ip.add_interface(&DeviceInfo {
        name: "tap0".into(),
        mtu,
        mac,
        loopback: false,
        offload,
    });
    let ok = ip.set_address(lo, Some(cidr("127.0.0.1/8")), t0).is_ok()
        && ip.set_up(lo, true, t0).is_ok()
        && ip
            .set_address(eth, Some(Ipv4Cidr::new(addr, 24).expect("/24")), t0)
            .is_ok()
        && ip.set_up(eth, true, t0).is_ok();
    assert!(ok, "configure the fuzz world's interfaces");
    let t = Transport::new(TransportConfig {
        max_sockets: MAX_SOCKETS,
        raw_queue: 32,
        raw_queue_bytes: 64 * 1024,
        udp_rcvbuf: 16 * 1024,
        udp_sndbuf: 16 * 1024,
        secret,
        tcp: tcp.clone(),
    });
    Host {
        ip,
        t,
        lo,
        eth,
        far: None,
        links: vec![(lo, 65_535, Offload::NONE), (eth, mtu, offload)],
        mac,
        addr,
        socks: Vec::new(),
        listener: None,
    }
}

/// Run the whole-stack target on one input.
pub fn run(data: &[u8]) {
    drive(data, false);
}

/// Run the target on one input and return the frames the hosts sent and those crafted for
/// them, unmutated (the stable driver's seeds for the parser targets: real traffic of
/// every kind).
pub fn capture(data: &[u8]) -> Vec<Vec<u8>> {
    drive(data, true)
}

fn drive(data: &[u8], capture: bool) -> Vec<Vec<u8>> {
    let mut u = Unstructured::new(data);
    let Ok(mut w) = World::new(&mut u) else {
        return Vec::new();
    };
    if capture {
        w.log = Some(Vec::new());
    }
    w.check("setup");
    for step in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let Ok(what) = w.step(&mut u) else {
            break;
        };
        w.check_after(step, what);
    }
    w.run_link(RUN_ITERATIONS, Duration::from_secs(30));
    w.check("the final run");
    w.log.take().unwrap_or_default()
}

impl World {
    /// Two hosts with listeners, established connections and UDP sockets. The settings
    /// (buffer sizes, MTU, secrets) come from the input's first bytes.
    fn new(u: &mut Unstructured<'_>) -> AResult<World> {
        let rcvbuf = *u.choose(&[4096usize, 16_384, 100_000, 1 << 20])?;
        // Fixed, or growing by autotuning up to 4 MiB (the default).
        let rcvbuf_max = *u.choose(&[rcvbuf, 4 << 20])?;
        let sndbuf = *u.choose(&[4096usize, 32_768, 1 << 20])?;
        let mtu = *u.choose(&[1500usize, 576, 9000, 1280])?;
        let offload = *u.choose(&[
            Offload::NONE,
            Offload {
                csum: true,
                tso: false,
            },
            Offload {
                csum: true,
                tso: true,
            },
        ])?;
        let tcp = TcpConfig {
            rcvbuf,
            rcvbuf_max,
            sndbuf,
            syn_backlog: 8,
            max_backlog: 8,
            max_time_wait: 8,
            tail_loss_probe: u.arbitrary()?,
            rack: u.arbitrary()?,
            ..TcpConfig::default()
        };
        let secret: u64 = u.arbitrary()?;
        // Drawn after the other settings, which stay as they were for existing inputs.
        let tcp = TcpConfig {
            congestion: *u.choose(&[CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno])?,
            ..tcp
        };
        // Later still: whether A forwards (RFC 1812), and the MTU of its second link.
        let forwarding: bool = u.arbitrary()?;
        let far_mtu = *u.choose(&[576usize, 1500, 1280, 9000])?;
        let far_offload = *u.choose(&[
            offload,
            Offload::NONE,
            Offload {
                csum: true,
                tso: true,
            },
        ])?;
        // Last: ECN (RFC 3168) as each mode, so that the two stacks may agree on it.
        let tcp = TcpConfig {
            ecn: *u.choose(&[EcnMode::Accept, EcnMode::On, EcnMode::Off])?,
            ..tcp
        };
        let mut a = host(A_IP, A_MAC, mtu, offload, &tcp, secret);
        let mut b = host(B_IP, B_MAC, 1500, offload, &tcp, secret ^ 0x5a5a);
        let t0 = Instant::from_secs(1);
        a.ip.set_forwarding(forwarding);
        let far = a.ip.add_interface(&DeviceInfo {
            name: "tap1".into(),
            mtu: far_mtu,
            mac: FAR_MAC,
            loopback: false,
            offload: far_offload,
        });
        let ok =
            a.ip.set_address(far, Some(Ipv4Cidr::new(FAR_IP, 24).expect("/24")), t0)
                .is_ok()
                && a.ip.set_up(far, true, t0).is_ok()
                && a.ip.arp_add_static(FAR_PEER, FAR_PEER_MAC).is_ok()
                && b.ip
                    .add_route(cidr("10.0.1.0/24"), Some(A_IP), None)
                    .is_ok();
        a.far = Some(far);
        a.links.push((far, far_mtu, far_offload));
        let ok = ok
            && [&mut a, &mut b].into_iter().all(|h| {
                let eth = h.eth;
                h.ip.add_route(cidr("224.0.0.0/4"), None, Some(eth)).is_ok()
            });
        assert!(ok, "configure the fuzz world's second link and routes");
        let mut w = World {
            now: Instant::from_secs(1),
            hosts: [a, b],
            wire: VecDeque::new(),
            seen: HashMap::new(),
            tcp,
            udp_rcvbuf: 16 * 1024,
            log: None,
            far_frames: 0,
        };
        w.flush();
        // With SO_REUSEPORT: a listener or UDP socket the input adds with it joins
        // these on their ports.
        w.listen(0, A_PORT, true);
        w.listen(1, B_PORT, true);
        for side in 0..2 {
            w.udp(side, Some(UDP_PORT), None, true);
            if let Some(&(s, _)) = w.hosts[side].socks.last() {
                let h = &mut w.hosts[side];
                let now = w.now;
                let _ = h.t.join_multicast(s, GROUP, h.addr, h.ip.tx(), now);
            }
            let peer = [B_IP, A_IP][side];
            w.udp(side, None, Some(SocketAddrV4::new(peer, UDP_PORT)), false);
        }
        if let Ok(h) = w.hosts[0].t.raw_open(ipv4::protocol::ICMP) {
            w.hosts[0].socks.push((h, Kind::Raw));
        }
        w.connect(1, SocketAddrV4::new(A_IP, A_PORT), None);
        w.connect(1, SocketAddrV4::new(A_IP, A_PORT), None);
        w.connect(0, SocketAddrV4::new(B_IP, B_PORT), None);
        w.run_link(64, Duration::from_millis(200));
        w.accept_all(0);
        w.accept_all(1);
        Ok(w)
    }

    fn other(side: usize) -> usize {
        1 - side
    }

    // ---- the link and the clock --------------------------------------------------------

    /// Move what the hosts queued onto the link.
    fn flush(&mut self) {
        for side in 0..2 {
            let h = &mut self.hosts[side];
            let (lo, eth) = (h.lo, h.eth);
            let out: Vec<_> = h.ip.take_tx().collect();
            let _ = h.t.take_wakeups().count();
            let far = h.far;
            for f in &out {
                check_sent(h, side, f.ifindex, &f.data, &f.meta);
            }
            for f in out {
                if Some(f.ifindex) == far {
                    self.far_frames += 1;
                    if let Some(log) = &mut self.log {
                        if log.len() < 4096 {
                            log.push(f.data);
                        }
                    }
                    continue;
                }
                let (to, ifindex) = if f.ifindex == lo {
                    (side, lo)
                } else if f.ifindex == eth {
                    (Self::other(side), eth)
                } else {
                    panic!("a frame for unknown interface {}", f.ifindex);
                };
                if let Some(log) = &mut self.log {
                    if log.len() < 4096 {
                        log.push(f.data.clone());
                    }
                }
                if self.wire.len() < WIRE_CAP {
                    self.wire.push_back(InFlight {
                        to,
                        ifindex,
                        data: f.data,
                        meta: f.meta,
                    });
                }
            }
        }
    }

    fn receive_meta(&mut self, to: usize, ifindex: usize, frame: &[u8], meta: FrameMeta) {
        let now = self.now;
        let h = &mut self.hosts[to];
        h.ip.receive_frame_meta(ifindex, frame, meta, now, &mut h.t);
        self.flush();
    }

    fn deliver_front(&mut self) {
        if let Some(f) = self.wire.pop_front() {
            self.receive_meta(f.to, f.ifindex, &f.data, f.meta);
        }
    }

    /// Run every timer due now, as the runtime's stack thread does; a layer whose deadline
    /// stays in the past after `poll` would make that thread spin.
    fn poll(&mut self) {
        let now = self.now;
        for h in &mut self.hosts {
            if h.ip.poll_at().is_some_and(|t| t <= now) {
                h.ip.poll(now, &mut h.t);
            }
            if h.t.poll_at().is_some_and(|t| t <= now) {
                h.t.poll(h.ip.tx(), now);
            }
            if let Some(t) = h.ip.poll_at() {
                assert!(t > now, "ip wants polling at {t} after a poll at {now}");
            }
            if let Some(t) = h.t.poll_at() {
                assert!(
                    t > now,
                    "transport wants polling at {t} after a poll at {now}"
                );
            }
        }
        self.flush();
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.hosts
            .iter()
            .flat_map(|h| [h.ip.poll_at(), h.t.poll_at()])
            .flatten()
            .min()
    }

    /// Let time pass with the link stalled: timers fire, nothing is delivered.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..RUN_ITERATIONS {
            match self.next_deadline() {
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

    /// Let time pass with the link working: what is in flight arrives 1 ms later.
    fn run_link(&mut self, iterations: usize, limit: Duration) {
        let end = self.now + limit;
        for _ in 0..iterations {
            if self.now >= end {
                break;
            }
            if self.wire.is_empty() {
                match self.next_deadline() {
                    Some(t) if t <= end => self.now = self.now.max(t),
                    _ => break,
                }
            } else {
                for _ in 0..self.wire.len() {
                    self.deliver_front();
                }
                self.now += Duration::from_millis(1);
            }
            self.poll();
        }
    }

    // ---- sockets -----------------------------------------------------------------------

    fn listen(&mut self, side: usize, port: u16, reuse_port: bool) {
        let h = &mut self.hosts[side];
        let Ok(s) = h.t.tcp_open() else { return };
        h.socks.push((s, Kind::Tcp));
        if let Ok(t) = h.t.tcp(s) {
            t.reuse_port = reuse_port;
        }
        let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        if h.t.tcp_bind(s, addr, h.ip.tx()).is_ok() && h.t.tcp_listen(s, 4, h.ip.tx()).is_ok() {
            h.listener.get_or_insert(s);
        }
    }

    fn udp(
        &mut self,
        side: usize,
        port: Option<u16>,
        remote: Option<SocketAddrV4>,
        reuse_port: bool,
    ) {
        let h = &mut self.hosts[side];
        let Ok(s) = h.t.udp_open() else { return };
        h.socks.push((s, Kind::Udp));
        if let Ok(u) = h.t.udp(s) {
            u.reuse_port = reuse_port;
        }
        if let Some(p) = port {
            let _ =
                h.t.udp_bind(s, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p), h.ip.tx());
        }
        if let Some(r) = remote {
            let _ = h.t.udp_connect(s, r, h.ip.tx());
        }
    }

    fn connect(&mut self, side: usize, to: SocketAddrV4, fastopen: Option<Vec<u8>>) {
        let now = self.now;
        let h = &mut self.hosts[side];
        let Ok(s) = h.t.tcp_open() else { return };
        h.socks.push((s, Kind::Tcp));
        match fastopen {
            Some(data) => {
                let _ = h.t.tcp_connect_fastopen(s, to, &data, h.ip.tx(), now);
            }
            None => {
                let _ = h.t.tcp_connect(s, to, h.ip.tx(), now);
            }
        }
        self.flush();
    }

    fn accept_all(&mut self, side: usize) {
        let h = &mut self.hosts[side];
        let listeners: Vec<_> = h
            .socks
            .iter()
            .filter(|(s, k)| *k == Kind::Tcp && h.t.kind(*s) == Some(SocketKind::Tcp))
            .map(|(s, _)| *s)
            .collect();
        for l in listeners {
            while let Ok(Some((c, _))) = h.t.tcp_accept(l) {
                h.socks.push((c, Kind::Tcp));
            }
        }
    }

    // ---- one step of the input ---------------------------------------------------------

    fn step(&mut self, u: &mut Unstructured<'_>) -> AResult<&'static str> {
        Ok(match u.int_in_range(0..=15u8)? {
            0..=2 => {
                let n = u.int_in_range(1..=8usize)?;
                for _ in 0..n {
                    self.deliver_front();
                }
                "deliver"
            }
            3 => {
                if !self.wire.is_empty() {
                    let i = u.choose_index(self.wire.len())?;
                    self.wire.remove(i);
                }
                "drop"
            }
            4 => {
                if !self.wire.is_empty() && self.wire.len() < WIRE_CAP {
                    let i = u.choose_index(self.wire.len())?;
                    let f = &self.wire[i];
                    let copy = InFlight {
                        to: f.to,
                        ifindex: f.ifindex,
                        data: f.data.clone(),
                        meta: f.meta,
                    };
                    self.wire.push_back(copy);
                }
                "duplicate"
            }
            5 => {
                if !self.wire.is_empty() {
                    let i = u.choose_index(self.wire.len())?;
                    let f = self.wire.remove(i).expect("index in range");
                    let mut data = f.data;
                    frames::mutate(u, &mut data, 70_000);
                    if u.arbitrary()? {
                        frames::fix_checksums(&mut data);
                    }
                    self.receive_meta(f.to, f.ifindex, &data, f.meta);
                }
                "mutate in flight"
            }
            6 => {
                if self.wire.len() > 1 {
                    let i = u.choose_index(self.wire.len())?;
                    let f = self.wire.remove(i).expect("index in range");
                    self.wire.push_back(f);
                }
                "reorder"
            }
            7 => {
                let d = match u.int_in_range(0..=3u8)? {
                    0 => Duration::from_millis(u.int_in_range(0..=50)?),
                    1 => Duration::from_millis(u.int_in_range(0..=3000)?),
                    2 => Duration::from_secs(u.int_in_range(0..=400)?),
                    _ => Duration::from_micros(u.int_in_range(0..=1000)?),
                };
                self.advance(d);
                "advance"
            }
            8 => {
                let ms = u.int_in_range(0..=5000)?;
                self.run_link(RUN_ITERATIONS, Duration::from_millis(ms));
                "run"
            }
            9 => {
                let to = usize::from(u.ratio(1u8, 8)?);
                let dst = if u.arbitrary()? {
                    self.hosts[to].mac
                } else {
                    if u.arbitrary()? {
                        MacAddr::BROADCAST
                    } else {
                        MacAddr(u.arbitrary()?)
                    }
                };
                let et = one_of(u, &[ethertype::IPV4, ethertype::ARP])?;
                // Up to 64 bytes from the input, then a pattern up to the length chosen
                // (so that one frame does not eat the rest of the input).
                let len = u.int_in_range(0..=1600usize)?;
                let head = u.int_in_range(0..=64usize)?.min(len).min(u.len());
                let mut body = u.bytes(head)?.to_vec();
                body.extend((head..len).map(|i| i as u8));
                let f = frames::eth(dst, B_MAC, et, &body);
                let meta = self.vnet_meta(u, f.len())?;
                let eth = self.hosts[to].eth;
                self.receive_meta(to, eth, &f, meta);
                "garbage frame"
            }
            10..=12 => {
                let to = usize::from(u.ratio(1u8, 8)?);
                let mut f = self.craft(u, to)?;
                if let Some(log) = &mut self.log {
                    if log.len() < 4096 {
                        log.push(f.clone());
                    }
                }
                if u.ratio(1u8, 3)? {
                    frames::mutate(u, &mut f, 70_000);
                    if u.ratio(3u8, 4)? {
                        frames::fix_checksums(&mut f);
                    }
                }
                let meta = if u.ratio(1u8, 4)? {
                    kernel_meta(u, &mut f)?
                } else {
                    self.vnet_meta(u, f.len())?
                };
                let eth = self.hosts[to].eth;
                self.receive_meta(to, eth, &f, meta);
                "crafted frame"
            }
            _ => {
                let side = usize::from(u.ratio(1u8, 4)?);
                self.socket_call(u, side)?
            }
        })
    }

    /// A socket call on `side`, chosen by the input.
    fn socket_call(&mut self, u: &mut Unstructured<'_>, side: usize) -> AResult<&'static str> {
        let now = self.now;
        let peer = [B_IP, A_IP][side];
        let what = u.int_in_range(0..=12u8)?;
        let h = &mut self.hosts[side];
        let pick = if h.socks.is_empty() {
            None
        } else {
            Some(h.socks[u.choose_index(h.socks.len())?])
        };
        let name = match (what, pick) {
            (0, Some((s, k))) => {
                let len = u.int_in_range(0..=MAX_SEND)?;
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                match k {
                    Kind::Tcp => {
                        let _ = h.t.tcp_send(s, &data, h.ip.tx(), now);
                    }
                    Kind::Udp => {
                        let dst = match u.int_in_range(0..=6u8)? {
                            0 => None,
                            1 => Some(SocketAddrV4::new(peer, UDP_PORT)),
                            2 => Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 255), 9)),
                            3 => Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, UDP_PORT)),
                            4 => Some(SocketAddrV4::new(GROUP, UDP_PORT)),
                            5 => Some(SocketAddrV4::new(FAR_PEER, 9)),
                            _ => Some(SocketAddrV4::new(
                                Ipv4Addr::from(u.arbitrary::<u32>()?),
                                u.arbitrary()?,
                            )),
                        };
                        let _ = h.t.udp_send(s, h.ip.tx(), dst, &data, now);
                    }
                    Kind::Raw => {
                        let dst = *u.choose(&[peer, Ipv4Addr::new(10, 0, 0, 77)])?;
                        // With its checksum right, as ping writes it (a raw socket sends
                        // what it is given; the checks of what is sent verify it).
                        let mut d = data[..len.min(2000)].to_vec();
                        if d.len() >= 4 {
                            d[2..4].copy_from_slice(&[0, 0]);
                            let c = ip::checksum::checksum(&d);
                            d[2..4].copy_from_slice(&c.to_be_bytes());
                        }
                        let _ = h.t.raw_send(s, h.ip.tx(), Some(dst), &d, now);
                    }
                }
                "send"
            }
            (1 | 2, Some((s, k))) => {
                let mut buf = vec![0u8; u.int_in_range(1..=200_000usize)?];
                match k {
                    Kind::Tcp => {
                        let _ = h.t.tcp_recv(s, &mut buf, h.ip.tx(), now);
                    }
                    Kind::Udp => {
                        // Sometimes IP_RECVERR flips, and its queue is read.
                        let (flip, errq) = (u.ratio(1u8, 4)?, u.arbitrary::<bool>()?);
                        if let Ok(us) = h.t.udp(s) {
                            if flip {
                                us.set_recverr(!us.recverr());
                            }
                            if errq {
                                let _ = us.recv_error();
                            }
                            let _ = us.recv();
                        }
                    }
                    Kind::Raw => {
                        if let Ok(r) = h.t.raw(s) {
                            let _ = r.recv();
                        }
                    }
                }
                "recv"
            }
            (3, Some((s, k))) => {
                let (r, wr) = (u.arbitrary()?, u.arbitrary()?);
                match k {
                    Kind::Tcp => {
                        let _ = h.t.tcp_shutdown(s, r, wr, h.ip.tx(), now);
                    }
                    _ => {
                        let _ = h.t.shutdown(s, r, wr);
                    }
                }
                "shutdown"
            }
            (4, Some((s, _))) => {
                h.t.close(s, h.ip.tx(), now);
                h.socks.retain(|&(x, _)| x != s);
                "close"
            }
            (5, _) => {
                let to = match u.int_in_range(0..=5u8)? {
                    0 | 1 => SocketAddrV4::new(peer, [B_PORT, A_PORT][side]),
                    2 => SocketAddrV4::new(Ipv4Addr::LOCALHOST, [A_PORT, B_PORT][side]),
                    3 => SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 66), 80),
                    4 => SocketAddrV4::new(FAR_PEER, 80),
                    _ => SocketAddrV4::new(Ipv4Addr::from(u.arbitrary::<u32>()?), u.arbitrary()?),
                };
                // Fast Open (RFC 7413) with a request of up to 3 KB, or a plain open.
                let fastopen = match u.int_in_range(0..=3u8)? {
                    0 => Some(vec![b'q'; usize::from(u.int_in_range(1..=3000u16)?)]),
                    _ => None,
                };
                self.connect(side, to, fastopen);
                "connect"
            }
            (6, _) => {
                self.accept_all(side);
                "accept"
            }
            (7, Some((s, Kind::Tcp))) => {
                let buf = *u.choose(&[0usize, 1, 2048, 65_535, 1 << 20])?;
                let (nodelay, keepalive, which) =
                    (u.arbitrary()?, u.arbitrary()?, u.int_in_range(0..=2u8)?);
                let recverr: bool = u.arbitrary()?;
                // On a listener: Fast Open with a queue of 0 (off) to 2.
                let fastopen = usize::from(u.int_in_range(0..=2u8)?);
                let _ = h.t.tcp_set_opts(
                    s,
                    |o| {
                        o.nodelay = nodelay;
                        o.keepalive = keepalive;
                        o.recverr = recverr;
                        o.fastopen = fastopen;
                        match which {
                            // As SO_RCVBUF sets it: fixed at that size.
                            0 => {
                                o.rcvbuf = buf;
                                o.rcvbuf_max = buf;
                            }
                            1 => o.sndbuf = buf,
                            _ => o.user_timeout = Some(Duration::from_millis(buf as u64)),
                        }
                    },
                    h.ip.tx(),
                    now,
                );
                "options"
            }
            (8, _) => {
                let port = one_of(u, &[A_PORT, B_PORT])?;
                self.listen(side, port, u.arbitrary()?);
                "listen"
            }
            (9, _) => {
                let port = u.arbitrary()?;
                let remote = if u.arbitrary()? {
                    Some(SocketAddrV4::new(peer, u.arbitrary()?))
                } else {
                    None
                };
                self.udp(side, Some(port), remote, u.arbitrary()?);
                "udp socket"
            }
            (11 | 12, Some((s, Kind::Udp))) => {
                // IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP, with the multicast options.
                let group = one_of(
                    u,
                    &[
                        GROUP,
                        Ipv4Addr::new(239, 0, 0, 9),
                        ip::igmp::ALL_SYSTEMS,
                        Ipv4Addr::new(224, 0, 0, 251),
                    ],
                )?;
                let iface =
                    *u.choose(&[Ipv4Addr::UNSPECIFIED, h.addr, Ipv4Addr::LOCALHOST, FAR_IP])?;
                let (lp, bc, via) = (u.arbitrary()?, u.arbitrary()?, u.ratio(1u8, 4)?);
                if let Ok(us) = h.t.udp(s) {
                    us.multicast_loop = lp;
                    us.broadcast = bc;
                    // As setsockopt(IP_MULTICAST_IF) sets it: 0.0.0.0 is the route's.
                    us.multicast_if = via.then_some(iface).filter(|a| !a.is_unspecified());
                }
                if what == 11 {
                    let _ = h.t.join_multicast(s, group, iface, h.ip.tx(), now);
                    "join"
                } else {
                    let _ = h.t.leave_multicast(s, group, iface, h.ip.tx(), now);
                    "leave"
                }
            }
            _ => {
                let (s, k) = match pick {
                    Some(p) => p,
                    None => return Ok("nothing"),
                };
                if k == Kind::Tcp {
                    let _ = h.t.tcp_connected(s);
                    let _ = h.t.readiness(s);
                }
                "look"
            }
        };
        self.flush();
        Ok(name)
    }

    // ---- crafted frames ----------------------------------------------------------------

    /// Offload metadata for an injected frame: usually none; else a virtio_net_hdr from the
    /// input, decoded as the TAP driver does (one it refuses leaves the frame plain, as the
    /// driver drops it before the stack sees it).
    fn vnet_meta(&self, u: &mut Unstructured<'_>, frame_len: usize) -> AResult<FrameMeta> {
        if !u.ratio(1u8, 4)? {
            return Ok(FrameMeta::default());
        }
        let mut h = [0u8; VNET_HDR_LEN];
        u.fill_buffer(&mut h)?;
        // Mostly the flags the kernel sets: NEEDS_CSUM or DATA_VALID, TCPV4 or none.
        if u.arbitrary()? {
            h[0] &= 3;
            h[1] &= 1;
        }
        Ok(FrameMeta::decode(&h, frame_len).unwrap_or_default())
    }

    /// A frame aimed at something open on host `to`, from its peer or a spoofed neighbour.
    fn craft(&mut self, u: &mut Unstructured<'_>, to: usize) -> AResult<Vec<u8>> {
        let us = &self.hosts[to];
        let (our_ip, our_mac) = (us.addr, us.mac);
        let from_ip = if u.ratio(3u8, 4)? {
            [B_IP, A_IP][to]
        } else {
            Ipv4Addr::new(10, 0, 0, u.int_in_range(2..=254)?)
        };
        let from_mac = if from_ip == [B_IP, A_IP][to] {
            [B_MAC, A_MAC][to]
        } else {
            MacAddr([0x02, 0xee, 0, 0, 0, from_ip.octets()[3]])
        };
        let ip_frame = |payload: Vec<u8>| frames::eth(our_mac, from_mac, ethertype::IPV4, &payload);
        Ok(match u.int_in_range(0..=12u8)? {
            0 => {
                let sender = *u.choose(&[from_ip, our_ip, Ipv4Addr::UNSPECIFIED])?;
                let target = *u.choose(&[our_ip, from_ip, Ipv4Addr::new(10, 0, 0, 99)])?;
                let mut r = if u.arbitrary()? {
                    ArpRepr::request(from_mac, sender, target)
                } else {
                    let req = ArpRepr::request(our_mac, target, sender);
                    ArpRepr::reply_to(&req, from_mac)
                };
                if u.ratio(1u8, 8)? {
                    r.op = arp::Operation::from(u.arbitrary::<u16>()?);
                }
                let dst = *u.choose(&[MacAddr::BROADCAST, our_mac])?;
                frames::eth(dst, from_mac, ethertype::ARP, &r.to_bytes())
            }
            1..=4 => {
                let (mut seg, src, mut dst) = self.tcp_segment(u, to, from_ip)?;
                if to == 0 && u.ratio(1u8, 8)? {
                    // Through A, to its second link (forwarded; a coalesced one cut by
                    // TSO there, or refused).
                    dst = FAR_PEER;
                    seg[16..18].copy_from_slice(&[0, 0]);
                    let acc = ip::checksum::pseudo_header(
                        src,
                        dst,
                        ipv4::protocol::TCP,
                        seg.len() as u16,
                    );
                    let c = ip::checksum::finish(ip::checksum::sum(&seg, acc));
                    seg[16..18].copy_from_slice(&c.to_be_bytes());
                }
                let mut ip = Ip::new(src, dst, ipv4::protocol::TCP);
                ip.df = u.arbitrary()?;
                ip_frame(ip.datagram(&[], &seg))
            }
            5 => {
                let port = one_of(u, &[UDP_PORT])?;
                let len = u.int_in_range(0..=2000usize)?;
                let mut d: Vec<u8> = (0..8 + len).map(|i| i as u8).collect();
                transport::udp::wire::UdpRepr {
                    src_port: u.arbitrary()?,
                    dst_port: port,
                }
                .emit(&mut d, from_ip, our_ip);
                let dst = *u.choose(&[our_ip, Ipv4Addr::new(10, 0, 0, 255)])?;
                ip_frame(Ip::new(from_ip, dst, ipv4::protocol::UDP).datagram(&[], &d))
            }
            6 => {
                let m = self.icmp_message(u, to, from_ip)?;
                ip_frame(Ip::new(from_ip, our_ip, ipv4::protocol::ICMP).datagram(&[], &m))
            }
            7 | 8 => {
                // One fragment of a TCP, UDP or ICMP datagram, at any offset.
                let (payload, protocol) = match u.int_in_range(0..=2u8)? {
                    0 => (self.tcp_segment(u, to, from_ip)?.0, ipv4::protocol::TCP),
                    1 => (self.icmp_message(u, to, from_ip)?, ipv4::protocol::ICMP),
                    _ => {
                        let len = u.int_in_range(0..=9000usize)?;
                        let mut d = vec![0u8; 8 + len];
                        transport::udp::wire::UdpRepr {
                            src_port: 9,
                            dst_port: UDP_PORT,
                        }
                        .emit(&mut d, from_ip, our_ip);
                        (d, ipv4::protocol::UDP)
                    }
                };
                let mut ip = Ip::new(from_ip, our_ip, protocol);
                ip.ident = u.int_in_range(0..=3)?;
                let start = u.int_in_range(0..=payload.len())? & !7;
                let len = u.int_in_range(0..=payload.len() - start)?;
                let end = if start + len < payload.len() {
                    (start + len) & !7
                } else {
                    payload.len()
                };
                let end = end.max(start);
                ip.offset = if u.ratio(1u8, 16)? {
                    u.int_in_range(0..=0xffffusize)?
                } else {
                    start
                };
                ip.mf = end < payload.len() || u.ratio(1u8, 8)?;
                ip_frame(ip.datagram(&[], &payload[start..end]))
            }
            10 => {
                let (first, rest) = self.fragment_set(u, to, from_ip)?;
                let eth = self.hosts[to].eth;
                for data in rest {
                    let data = ip_frame(data);
                    if let Some(log) = &mut self.log {
                        if log.len() < 4096 {
                            log.push(data.clone());
                        }
                    }
                    if self.wire.len() < WIRE_CAP {
                        self.wire.push_back(InFlight {
                            to,
                            ifindex: eth,
                            data,
                            meta: FrameMeta::default(),
                        });
                    }
                }
                ip_frame(first)
            }
            11 => {
                // IGMP (RFC 2236, RFC 3376 4.1): queries of every version, general or for
                // a group, reports and leaves of other members, to a group or to us.
                let group = one_of(
                    u,
                    &[GROUP, Ipv4Addr::new(239, 0, 0, 9), Ipv4Addr::UNSPECIFIED],
                )?;
                let kind = u.int_in_range(0..=6u8)?;
                let mut m = vec![0u8; 8];
                m[0] = match kind {
                    0..=2 => ip::igmp::kind::QUERY,
                    3 => ip::igmp::kind::V1_REPORT,
                    4 => ip::igmp::kind::V2_REPORT,
                    5 => ip::igmp::kind::LEAVE,
                    _ => one_of(u, &[ip::igmp::kind::V3_REPORT])?,
                };
                m[1] = match kind {
                    0 => 0,
                    _ => one_of(u, &[1u8, 10, 100, 127, 128, 255])?,
                };
                m[4..8].copy_from_slice(&group.octets());
                if kind == 2 {
                    // Version 3: S/QRV, QQIC, the sources, or a length of no version.
                    let n = u.int_in_range(0..=3u16)?;
                    m.extend_from_slice(&[u.arbitrary()?, u.arbitrary()?]);
                    m.extend_from_slice(&n.to_be_bytes());
                    for i in 0..n {
                        m.extend_from_slice(&[10, 0, 0, 100 + i as u8]);
                    }
                    let cut = u.int_in_range(0..=4usize)?;
                    if u.ratio(1u8, 8)? {
                        m.truncate(8 + cut);
                    }
                }
                if !u.ratio(1u8, 8)? {
                    let c = ip::checksum::checksum(&m);
                    m[2..4].copy_from_slice(&c.to_be_bytes());
                }
                let dst = if group.is_unspecified() {
                    ip::igmp::ALL_SYSTEMS
                } else {
                    group
                };
                let dst = *u.choose(&[dst, ip::igmp::ALL_SYSTEMS, our_ip])?;
                let src = *u.choose(&[from_ip, Ipv4Addr::UNSPECIFIED])?;
                let mut ip = Ip::new(src, dst, ipv4::protocol::IGMP);
                ip.ttl = *u.choose(&[1u8, 1, 64])?;
                let opts: &[u8] = if u.ratio(3u8, 4)? {
                    &ip::igmp::ROUTER_ALERT
                } else {
                    &[]
                };
                let mac = if dst.is_multicast() {
                    multicast_mac(dst)
                } else {
                    our_mac
                };
                frames::eth(mac, from_mac, ethertype::IPV4, &ip.datagram(opts, &m))
            }
            12 => {
                // UDP to a group (joined or not) or to a broadcast address.
                let dst = *u.choose(&[
                    GROUP,
                    GROUP,
                    Ipv4Addr::new(239, 0, 0, 9),
                    ip::igmp::ALL_SYSTEMS,
                    Ipv4Addr::BROADCAST,
                    Ipv4Addr::new(10, 0, 0, 255),
                ])?;
                let len = u.int_in_range(0..=2000usize)?;
                let mut d: Vec<u8> = (0..8 + len).map(|i| i as u8).collect();
                transport::udp::wire::UdpRepr {
                    src_port: u.arbitrary()?,
                    dst_port: one_of(u, &[UDP_PORT])?,
                }
                .emit(&mut d, from_ip, dst);
                let mut ip = Ip::new(from_ip, dst, ipv4::protocol::UDP);
                ip.ttl = *u.choose(&[1u8, 64])?;
                let mac = if dst.is_multicast() {
                    multicast_mac(dst)
                } else {
                    MacAddr::BROADCAST
                };
                frames::eth(mac, from_mac, ethertype::IPV4, &ip.datagram(&[], &d))
            }
            _ => {
                // Odd IPv4: options, TTL 0 or 1, another destination (forwarded: on the
                // link, to the second link, to nowhere), an unknown protocol, a broadcast
                // or martian source.
                let mut ip = Ip::new(from_ip, our_ip, u.arbitrary()?);
                ip.ttl = u.int_in_range(0..=2)?;
                ip.df = u.arbitrary()?;
                ip.dst = *u.choose(&[
                    our_ip,
                    Ipv4Addr::new(10, 0, 0, 200),
                    Ipv4Addr::new(192, 0, 2, 1),
                    Ipv4Addr::BROADCAST,
                    Ipv4Addr::new(127, 0, 0, 1),
                    FAR_PEER,
                    Ipv4Addr::new(10, 0, 1, 77),
                    FAR_IP,
                ])?;
                ip.src = *u.choose(&[
                    from_ip,
                    Ipv4Addr::new(10, 0, 0, 255),
                    Ipv4Addr::new(224, 0, 0, 1),
                ])?;
                let olen = u.int_in_range(0..=40usize)?;
                let opts = u.bytes(olen.min(u.len()))?.to_vec();
                // Mostly short; else longer than a link's MTU (to be fragmented, or
                // refused with DF).
                let plen = if u.ratio(1u8, 4)? {
                    *u.choose(&[1480usize, 3000, 8000])?
                } else {
                    u.int_in_range(0..=1500usize)?
                };
                let head = u.int_in_range(0..=32usize)?.min(plen).min(u.len());
                let mut payload = u.bytes(head)?.to_vec();
                payload.extend((head..plen).map(|i| i as u8));
                ip_frame(ip.datagram(&opts, &payload))
            }
        })
    }

    /// A whole datagram for host `to` (a TCP segment near a connection's numbers, an ICMP
    /// message, or a UDP datagram to the bound port, all with checksums right) cut into
    /// fragments (RFC 791 3.2, RFC 815): some of them tiny (RFC 1858), some overlapping or
    /// repeated (with the same bytes or others), one sometimes missing, in an order chosen
    /// by the input. Returns the first to deliver and the IP datagrams of the others.
    fn fragment_set(
        &mut self,
        u: &mut Unstructured<'_>,
        to: usize,
        from_ip: Ipv4Addr,
    ) -> AResult<(Vec<u8>, Vec<Vec<u8>>)> {
        let our_ip = self.hosts[to].addr;
        let (payload, protocol, src, dst) = match u.int_in_range(0..=2u8)? {
            0 => {
                let (seg, src, dst) = self.tcp_segment(u, to, from_ip)?;
                (seg, ipv4::protocol::TCP, src, dst)
            }
            1 => (
                self.icmp_message(u, to, from_ip)?,
                ipv4::protocol::ICMP,
                from_ip,
                our_ip,
            ),
            _ => {
                let len = one_of(u, &[0usize, 100, 1472, 3000, 8972])?.min(20_000);
                let mut d: Vec<u8> = (0..8 + len).map(|i| (i * 7) as u8).collect();
                transport::udp::wire::UdpRepr {
                    src_port: u.arbitrary()?,
                    dst_port: UDP_PORT,
                }
                .emit(&mut d, from_ip, our_ip);
                (d, ipv4::protocol::UDP, from_ip, our_ip)
            }
        };
        // (offset, end, bytes changed) of each fragment.
        let mut cuts: Vec<(usize, usize, bool)> = Vec::new();
        let mut at = 0;
        while at < payload.len() && cuts.len() < 24 {
            let size = *u.choose(&[8usize, 16, 24, 512, 552, 1480, 1480, 4096])?;
            let end = (at + size).min(payload.len());
            cuts.push((at, end, false));
            at = end;
        }
        if at < payload.len() || cuts.is_empty() {
            cuts.push((at, payload.len(), false));
        }
        // Overlaps and repeats: a range over one or more fragments, whose bytes are the
        // same or not.
        for _ in 0..u.int_in_range(0..=2u8)? {
            let start = u.int_in_range(0..=payload.len())? & !7;
            let len = u.int_in_range(0..=payload.len() - start)?;
            let end = if start + len == payload.len() {
                payload.len()
            } else {
                (start + len) & !7
            };
            cuts.push((start, end.max(start), u.ratio(1u8, 3)?));
        }
        if cuts.len() > 1 && u.ratio(1u8, 8)? {
            let i = u.choose_index(cuts.len())?;
            cuts.remove(i);
        }
        // The order: swaps chosen by the input (none: in order).
        for _ in 0..u.int_in_range(0..=cuts.len())? {
            let (i, j) = (u.choose_index(cuts.len())?, u.choose_index(cuts.len())?);
            cuts.swap(i, j);
        }
        let mut ip = Ip::new(src, dst, protocol);
        ip.ident = u.arbitrary()?;
        ip.ttl = 64;
        let mut out: Vec<Vec<u8>> = cuts
            .into_iter()
            .map(|(start, end, changed)| {
                let mut part = payload[start..end].to_vec();
                if changed {
                    for b in &mut part {
                        *b ^= 0x5a;
                    }
                }
                let mut f = ip;
                f.offset = start;
                f.mf = end < payload.len();
                f.datagram(&[], &part)
            })
            .collect();
        let first = out.remove(0);
        Ok((first, out))
    }

    /// A TCP segment to host `to`: for one of its connections (from the connection's peer,
    /// with sequence and acknowledgment numbers near the connection's own), or to its
    /// listener from anyone. Returns (segment, source, destination).
    fn tcp_segment(
        &mut self,
        u: &mut Unstructured<'_>,
        to: usize,
        from_ip: Ipv4Addr,
    ) -> AResult<(Vec<u8>, Ipv4Addr, Ipv4Addr)> {
        let us = &self.hosts[to];
        let conns: Vec<(SocketAddrV4, SocketAddrV4, TcbProbe)> =
            us.t.tcp_probe()
                .conns
                .into_iter()
                .filter_map(|(h, _, p)| {
                    let s = us.t.tcp_ref(h).ok()?;
                    Some((s.local?, s.remote()?, p))
                })
                .filter(|(l, _, _)| !l.ip().is_loopback())
                .collect();
        let near = |u: &mut Unstructured<'_>, s: Seq| -> AResult<Seq> {
            Ok(match u.int_in_range(0..=5u8)? {
                0 => s,
                1 => s + usize::from(u.int_in_range(0..=3000u16)?),
                2 => s - usize::from(u.int_in_range(0..=3000u16)?),
                3 => s + (u.int_in_range(0..=u32::MAX)? as usize),
                4 => s - 1,
                _ => s + 1,
            })
        };
        let mut r = TcpRepr::default();
        let (src, dst) = if !conns.is_empty() && u.ratio(3u8, 4)? {
            let (local, remote, p) = conns[u.choose_index(conns.len())?];
            r.src_port = remote.port();
            r.dst_port = local.port();
            r.seq = near(u, p.rcv_nxt)?;
            let base = if u.arbitrary()? { p.snd_una } else { p.snd_max };
            r.ack = near(u, base)?;
            r.flags = match u.int_in_range(0..=7u8)? {
                0..=3 => flags::ACK | (u.arbitrary::<u8>()? & (flags::PSH | flags::FIN)),
                4 => flags::RST | (u.arbitrary::<u8>()? & flags::ACK),
                5 => flags::SYN | (u.arbitrary::<u8>()? & flags::ACK),
                _ => u.arbitrary::<u8>()?,
            };
            if u.ratio(1u8, 3)? {
                let n = u.int_in_range(1..=MAX_SACK_BLOCKS)?;
                for i in 0..n {
                    let l = near(u, p.snd_una)?;
                    let len = usize::from(u.int_in_range(0..=4000u16)?);
                    r.sack[i] = (l, l + len);
                }
                r.sack_count = n as u8;
            }
            (*remote.ip(), *local.ip())
        } else {
            r.src_port = u.arbitrary()?;
            r.dst_port = one_of(u, &[A_PORT, B_PORT])?;
            r.seq = Seq(u.arbitrary()?);
            r.ack = Seq(u.arbitrary()?);
            r.flags = if u.ratio(3u8, 4)? {
                flags::SYN
            } else {
                u.arbitrary::<u8>()?
            };
            (from_ip, self.hosts[to].addr)
        };
        r.window = one_of(u, &[0u16, 1, 512, 65_535])?;
        // Timestamps (RFC 7323) on half the segments: PAWS, TS.Recent, and SYN cookies
        // that carry options in their TSval.
        r.timestamp = if u.arbitrary()? {
            Some((u.arbitrary()?, u.arbitrary()?))
        } else {
            None
        };
        if r.has(flags::SYN) {
            r.mss = if u.arbitrary()? {
                Some(one_of(u, &[0u16, 1, 64, 536, 1460, 65_535])?)
            } else {
                None
            };
            r.wscale = if u.arbitrary()? {
                Some(u.int_in_range(0..=20)?)
            } else {
                None
            };
            r.sack_permitted = u.arbitrary()?;
            r.sack_count = 0;
        }
        let len = match u.int_in_range(0..=3u8)? {
            0 => 0,
            1 => u.int_in_range(1..=10usize)?,
            2 => u.int_in_range(0..=1460usize)?,
            _ => u.int_in_range(0..=9000usize)?,
        };
        let hl = r.header_len();
        let mut seg = vec![0u8; hl + len];
        for (i, b) in seg[hl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        r.emit(&mut seg, src, dst);
        Ok((seg, src, dst))
    }

    /// An ICMP message to host `to`: an echo request, or an error quoting the start of a
    /// segment one of its TCP connections sent (its real ports and sequence number).
    fn icmp_message(
        &mut self,
        u: &mut Unstructured<'_>,
        to: usize,
        from_ip: Ipv4Addr,
    ) -> AResult<Vec<u8>> {
        let us = &self.hosts[to];
        let our_ip = us.addr;
        let mut quoted = Vec::new();
        // The quoted datagram's header has options one time in eight (its length moves
        // the quoted transport header).
        let opts: &[u8] = if u.ratio(1u8, 8)? { &[1, 1, 1, 1] } else { &[] };
        let hl = ipv4::HEADER_LEN + opts.len();
        match u.int_in_range(0..=3u8)? {
            // A segment one of its TCP connections sent (its real ports and sequence
            // number).
            0 | 1 => {
                let conns = us.t.tcp_probe().conns;
                if !conns.is_empty() {
                    let (h, _, p) = conns[u.choose_index(conns.len())?];
                    if let Ok(s) = us.t.tcp_ref(h) {
                        if let (Some(l), Some(r)) = (s.local, s.remote()) {
                            let seq = if u.arbitrary()? {
                                p.snd_una
                            } else {
                                Seq(u.arbitrary()?)
                            };
                            let seg = TcpRepr {
                                src_port: l.port(),
                                dst_port: r.port(),
                                seq,
                                flags: flags::ACK,
                                ..TcpRepr::default()
                            };
                            let mut b = vec![0u8; 20];
                            seg.emit(&mut b, *l.ip(), *r.ip());
                            quoted =
                                Ip::new(*l.ip(), *r.ip(), ipv4::protocol::TCP).datagram(opts, &b);
                            quoted.truncate(hl + *u.choose(&[8usize, 20, 4])?);
                        }
                    }
                }
            }
            // A datagram one of its UDP sockets sent: to its peer when connected (the
            // socket hears of the error), else anywhere.
            2 => {
                let socks: Vec<_> =
                    us.t.sockets()
                        .into_iter()
                        .filter(|s| s.kind == SocketKind::Udp && s.local.is_some())
                        .collect();
                if !socks.is_empty() {
                    let s = &socks[u.choose_index(socks.len())?];
                    let l = s.local.expect("bound");
                    let src = if l.ip().is_unspecified() {
                        our_ip
                    } else {
                        *l.ip()
                    };
                    let r = s.remote.unwrap_or_else(|| SocketAddrV4::new(from_ip, 9));
                    let mut b = vec![0u8; 8 + u.int_in_range(0..=32usize)?];
                    transport::udp::wire::UdpRepr {
                        src_port: l.port(),
                        dst_port: r.port(),
                    }
                    .emit(&mut b, src, *r.ip());
                    quoted = Ip::new(src, *r.ip(), ipv4::protocol::UDP).datagram(opts, &b);
                    quoted.truncate(hl + *u.choose(&[8usize, 40, 4])?);
                }
            }
            // An echo request it sent (a raw ICMP socket's, say).
            _ => {
                let echo = IcmpRepr::EchoRequest {
                    ident: u.arbitrary()?,
                    seq: u.arbitrary()?,
                    data: &[0x61; 8],
                };
                let mut b = vec![0u8; echo.buffer_len()];
                echo.emit(&mut b);
                quoted = Ip::new(our_ip, from_ip, ipv4::protocol::ICMP).datagram(opts, &b);
            }
        }
        if quoted.is_empty() {
            let mut b = vec![0u8; 8];
            transport::udp::wire::UdpRepr {
                src_port: UDP_PORT,
                dst_port: 9,
            }
            .emit(&mut b, our_ip, from_ip);
            quoted = Ip::new(our_ip, from_ip, ipv4::protocol::UDP).datagram(&[], &b);
        }
        let data_len = u.int_in_range(0..=1500usize)?;
        let data = vec![0x61u8; data_len];
        let repr = match u.int_in_range(0..=7u8)? {
            0 | 1 => IcmpRepr::EchoRequest {
                ident: u.arbitrary()?,
                seq: u.arbitrary()?,
                data: &data,
            },
            2 => IcmpRepr::DestUnreachable {
                code: u.int_in_range(0..=15)?,
                next_hop_mtu: one_of(u, &[0u16, 68, 296, 576, 1400, 65_535])?,
                original: &quoted,
            },
            3 => IcmpRepr::TimeExceeded {
                code: u.int_in_range(0..=1)?,
                original: &quoted,
            },
            4 => IcmpRepr::Redirect {
                code: u.int_in_range(0..=3)?,
                gateway: *u.choose(&[from_ip, Ipv4Addr::new(10, 0, 0, 9), our_ip])?,
                original: &quoted,
            },
            5 => IcmpRepr::EchoReply {
                ident: u.arbitrary()?,
                seq: u.arbitrary()?,
                data: &data,
            },
            6 => IcmpRepr::ParameterProblem {
                code: u.int_in_range(0..=2)?,
                pointer: u.arbitrary()?,
                original: &quoted,
            },
            _ => IcmpRepr::Other {
                kind: *u.choose(&[icmp::kind::SOURCE_QUENCH, 13, 255])?,
                code: u.arbitrary()?,
            },
        };
        let mut m = vec![0u8; repr.buffer_len()];
        repr.emit(&mut m);
        Ok(m)
    }

    // ---- invariants --------------------------------------------------------------------

    /// Each interface's multicast memberships are the sockets' (IP_ADD_MEMBERSHIP): a
    /// group with as many users as sockets joined it there, none left behind by a leave or
    /// a close, none missing.
    fn check_groups(&mut self, when: &str) {
        for side in 0..2 {
            let h = &mut self.hosts[side];
            let mut joined: HashMap<(usize, Ipv4Addr), u32> = HashMap::new();
            let udp: Vec<_> =
                h.t.sockets()
                    .into_iter()
                    .filter(|s| s.kind == SocketKind::Udp)
                    .map(|s| s.handle)
                    .collect();
            for s in udp {
                if let Ok(u) = h.t.udp(s) {
                    for j in u.groups() {
                        *joined.entry((j.ifindex, j.group)).or_default() += 1;
                    }
                }
            }
            let mut members: HashMap<(usize, Ipv4Addr), u32> = HashMap::new();
            for i in h.ip.interfaces() {
                for (g, users) in i.groups {
                    members.insert((i.ifindex, g), users);
                }
            }
            // The all-systems group is implied (and not listed), joined by a socket or not.
            joined.retain(|(_, g), _| *g != ip::igmp::ALL_SYSTEMS);
            assert_eq!(
                joined, members,
                "{when}: host {side}: groups the sockets joined, and the interfaces'"
            );
        }
    }

    fn check_after(&mut self, step: usize, what: &str) {
        self.check(&format!("step {step} ({what})"));
    }

    /// After every step, on both hosts:
    /// - every TCP connection: SND.UNA <= SND.NXT <= SND.MAX, and no more in flight than
    ///   is queued (plus SYN and FIN); RCV.NXT within the announced window; the send queue
    ///   within SO_SNDBUF and what is held received within SO_RCVBUF (plus the rounding of
    ///   the window scale); the out-of-order queue and the SACK scoreboard within their
    ///   caps and its byte count true; SND.UNA never moves back and the announced right
    ///   edge of the receive window never moves left;
    /// - listeners: the SYN queue within its cap, the accept queue within the backlog plus
    ///   the SYN queue;
    ///   TIME-WAIT records within theirs;
    /// - UDP and raw sockets: their receive queues within their caps;
    /// - the IP layer: ARP entries and waiting frames, reassembly buffers within caps;
    /// - and so, memory: the bytes all these hold within the sum of their caps.
    pub fn check(&mut self, when: &str) {
        self.check_groups(when);
        let mut seen = HashMap::new();
        for side in 0..2 {
            let h = &self.hosts[side];
            let p = h.t.tcp_probe();
            let mut held = 0usize;
            let mut bound = 0usize;
            for (handle, _orphan, c) in &p.conns {
                let ctx = || format!("{when}: host {side} socket {handle:?}: {c:?}");
                assert!(c.snd_una.le(c.snd_nxt), "SND.UNA > SND.NXT, {}", ctx());
                assert!(c.snd_nxt.le(c.snd_max), "SND.NXT > SND.MAX, {}", ctx());
                assert!(
                    c.snd_max.since(c.snd_una) <= c.sndq + 2,
                    "in flight > queued, {}",
                    ctx()
                );
                let key = (side, *handle, c.iss.0);
                let before = self.seen.get(&key).copied();
                let max_sndbuf = before.map_or(c.sndbuf, |b| b.max_sndbuf.max(c.sndbuf));
                let max_rcvbuf = before.map_or(c.rcvbuf, |b| b.max_rcvbuf.max(c.rcvbuf));
                assert!(c.sndq <= max_sndbuf, "send queue over SO_SNDBUF, {}", ctx());
                let synchronized =
                    !matches!(c.state, State::Closed | State::Listen | State::SynSent);
                if synchronized {
                    assert!(
                        c.rcv_nxt.le(c.rcv_adv),
                        "RCV.NXT beyond the window, {}",
                        ctx()
                    );
                }
                // Autotuning grows the buffer up to its maximum and never shrinks it.
                assert!(
                    c.rcvbuf <= c.rcvbuf_max,
                    "receive buffer over its maximum, {}",
                    ctx()
                );
                if let Some(b) = before {
                    assert!(c.rcvbuf >= b.max_rcvbuf, "receive buffer shrank, {}", ctx());
                }
                let slack = 1usize << c.rcv_wscale;
                let rcv_cap = max_rcvbuf + slack;
                assert!(
                    c.rcvq + c.ooo_bytes <= rcv_cap,
                    "receive buffers over SO_RCVBUF, {}",
                    ctx()
                );
                assert!(
                    c.ooo_ranges <= transport::tcp::OOO_MAX_RANGES,
                    "out-of-order queue over its cap, {}",
                    ctx()
                );
                assert_eq!(
                    c.ooo_bytes,
                    c.ooo_bytes_counted,
                    "out-of-order byte count, {}",
                    ctx()
                );
                assert!(
                    c.seg_records <= transport::tcp::SEG_TABLE_MAX
                        && c.sack_ranges <= c.seg_records,
                    "table of sent segments over its cap, {}",
                    ctx()
                );
                let now = Seen {
                    snd_una: c.snd_una,
                    rcv_adv: c.rcv_adv,
                    synchronized,
                    max_sndbuf,
                    max_rcvbuf,
                };
                if let Some(before) = before {
                    assert!(
                        before.snd_una.le(c.snd_una),
                        "SND.UNA moved back from {:?}, {}",
                        before.snd_una,
                        ctx()
                    );
                    if before.synchronized && synchronized {
                        assert!(
                            before.rcv_adv.le(c.rcv_adv),
                            "the window's right edge moved left from {:?}, {}",
                            before.rcv_adv,
                            ctx()
                        );
                    }
                }
                seen.insert(key, now);
                held += c.sndq + c.rcvq + c.ooo_bytes;
                bound += max_sndbuf + rcv_cap;
            }
            for l in &p.listeners {
                // A SYN is taken while the accept queue has room, and every connection of
                // the SYN queue may then complete: the accept queue is bounded by the
                // backlog plus the SYN queue (Linux instead drops the handshake's last
                // ACK while the accept queue is full).
                assert!(
                    l.accept <= l.backlog + self.tcp.syn_backlog,
                    "{when}: host {side}: accept queue {l:?}"
                );
                assert!(
                    l.embryonic <= self.tcp.syn_backlog,
                    "{when}: host {side}: SYN queue {l:?}"
                );
            }
            assert!(
                p.time_wait <= self.tcp.max_time_wait,
                "{when}: host {side}: {} TIME-WAIT records",
                p.time_wait
            );
            // The expiry index holds one entry per record.
            assert!(
                p.time_wait_queue == p.time_wait,
                "{when}: host {side}: {} TIME-WAIT expiry entries for {} records",
                p.time_wait_queue,
                p.time_wait
            );
            assert!(
                p.demux_entries <= MAX_SOCKETS,
                "{when}: host {side}: {} demux entries",
                p.demux_entries
            );
            let sockets = h.t.sockets();
            assert!(sockets.len() <= MAX_SOCKETS);
            for s in &sockets {
                match s.kind {
                    SocketKind::Udp => {
                        assert!(
                            s.rx_bytes <= self.udp_rcvbuf || s.rx_queued == 1,
                            "{when}: host {side}: UDP queue {s:?}"
                        );
                        held += s.rx_bytes;
                        bound += self.udp_rcvbuf.max(MAX_SEND);
                    }
                    SocketKind::Raw(_) => {
                        assert!(s.rx_queued <= 32, "{when}: host {side}: raw queue {s:?}");
                        held += s.rx_bytes;
                        bound += 64 * 1024 + 65_535;
                    }
                    SocketKind::Tcp => {}
                }
            }
            let (datagrams, bytes) = h.ip.reassembly_usage();
            assert!(
                datagrams <= REASSEMBLY.max_datagrams && bytes <= REASSEMBLY.max_bytes,
                "{when}: host {side}: reassembly holds {datagrams} datagrams, {bytes} bytes"
            );
            held += bytes;
            bound += REASSEMBLY.max_bytes;
            let pending = h.ip.arp_pending();
            assert!(
                pending <= 2 * ARP_CFG.max_pending_total,
                "{when}: host {side}: {pending} frames wait for ARP"
            );
            let entries = h.ip.arp_entries(self.now);
            let pending_bytes: usize = entries.iter().map(|(_, e)| e.pending_bytes).sum();
            assert!(
                pending_bytes <= 2 * ARP_CFG.max_pending_bytes_total,
                "{when}: host {side}: {pending_bytes} bytes wait for ARP"
            );
            held += pending_bytes;
            bound += 2 * ARP_CFG.max_pending_bytes_total;
            for ifname in ["lo", "tap0", "tap1"] {
                let k = entries.iter().filter(|(i, _)| i == ifname).count();
                assert!(
                    k <= ARP_CFG.max_entries,
                    "{when}: host {side}: {k} ARP entries on {ifname}"
                );
            }
            assert!(
                held <= bound,
                "{when}: host {side} holds {held} bytes, over {bound}"
            );
        }
        assert!(self.wire.len() <= WIRE_CAP);
        self.seen = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(seed: u8) -> World {
        let bytes = [seed; 64];
        World::new(&mut Unstructured::new(&bytes)).expect("a world")
    }

    fn established(w: &World, side: usize) -> usize {
        w.hosts[side]
            .t
            .tcp_probe()
            .conns
            .iter()
            .filter(|(_, _, c)| c.state == State::Established)
            .count()
    }

    #[test]
    fn the_world_starts_with_connections_listeners_and_udp_sockets() {
        for seed in [0, 1, 0x55, 0xff] {
            let w = world(seed);
            assert_eq!(established(&w, 0), 3, "seed {seed}");
            assert_eq!(established(&w, 1), 3, "seed {seed}");
            for side in 0..2 {
                let p = w.hosts[side].t.tcp_probe();
                assert_eq!(p.listeners.len(), 1);
                let udp = w.hosts[side]
                    .t
                    .sockets()
                    .iter()
                    .filter(|s| s.kind == SocketKind::Udp)
                    .count();
                assert_eq!(udp, 2);
            }
        }
    }

    #[test]
    fn data_sent_is_received_and_acknowledged() {
        let mut w = world(7);
        let (h, _) = w.hosts[0].socks.last().copied().expect("a socket");
        let now = w.now;
        let a = &mut w.hosts[0];
        assert_eq!(a.t.tcp_send(h, &[1; 5000], a.ip.tx(), now), Ok(5000));
        w.flush();
        w.run_link(100, Duration::from_secs(1));
        w.check("after sending");
        let c = w.hosts[0].t.tcp_probe().conns;
        let (_, _, p) = c.iter().find(|(x, _, _)| *x == h).expect("the connection");
        assert_eq!(p.sndq, 0, "everything acknowledged: {p:?}");
        assert_eq!(p.snd_una, p.snd_max);
    }

    #[test]
    fn a_crafted_segment_lands_in_a_connection() {
        let mut w = world(3);
        let before = w.hosts[0].t.tcp_stats().segs_in;
        let bytes: Vec<u8> = (0..255).collect();
        let mut u = Unstructured::new(&bytes);
        for _ in 0..20 {
            let (seg, src, dst) = w.tcp_segment(&mut u, 0, B_IP).expect("a segment");
            let f = frames::eth(
                A_MAC,
                B_MAC,
                ethertype::IPV4,
                &Ip::new(src, dst, 6).datagram(&[], &seg),
            );
            let eth = w.hosts[0].eth;
            w.receive_meta(0, eth, &f, FrameMeta::default());
        }
        assert!(w.hosts[0].t.tcp_stats().segs_in >= before + 20);
        w.check("after crafted segments");
    }

    #[test]
    fn the_window_edge_check_catches_a_left_move() {
        let mut w = world(1);
        w.check("first");
        let key = *w.seen.keys().next().expect("a connection seen");
        let s = w.seen.get_mut(&key).expect("seen");
        s.rcv_adv = s.rcv_adv + 1_000_000;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.check("second")));
        assert!(
            r.is_err(),
            "a right edge that moved left must fail the check"
        );
    }
}

#[cfg(test)]
mod coverage {
    use super::*;

    /// Random bytes, as the stable driver feeds, reach every kind of step and deep into
    /// TCP: the target does not stall on the first bytes it reads.
    #[test]
    fn random_inputs_reach_every_step_and_deep_into_tcp() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut kinds: HashMap<&str, usize> = HashMap::new();
        let (mut long_inputs, mut segs, mut challenges, mut ooo) = (0, 0, 0, 0);
        // Deeper paths: datagrams A forwarded (to its second link), crafted fragment
        // sets reassembled, IGMP queries heard, ICMP errors a connected UDP socket heard,
        // datagrams to a group delivered.
        let (mut forwarded, mut far, mut reassembled, mut queries, mut udp_errors, mut mcast) =
            (0, 0, 0, 0, 0, 0);
        for _ in 0..50 {
            let data: Vec<u8> = (0..rng.usize(0..4096)).map(|_| rng.u8(..)).collect();
            let mut u = Unstructured::new(&data);
            let mut w = World::new(&mut u).expect("world");
            let mut steps = 0;
            while !u.is_empty() && steps < MAX_STEPS {
                let Ok(k) = w.step(&mut u) else { break };
                *kinds.entry(k).or_default() += 1;
                steps += 1;
            }
            long_inputs += usize::from(steps >= 100);
            let s = w.hosts[0].t.tcp_stats();
            segs += s.segs_in;
            challenges += s.challenge_acks;
            ooo += s.ooo_queued;
            let a = &w.hosts[0];
            forwarded += a.ip.stats().rx_forwarded;
            far += w.far_frames;
            reassembled += a.ip.reassembly_stats().completed;
            queries += a.ip.igmp_stats().rx_queries;
            udp_errors += a.t.udp_stats().icmp_errors_reported;
            mcast += w
                .hosts
                .iter()
                .map(|h| h.ip.stats().multicast_looped + h.ip.igmp_stats().rx_reports)
                .sum::<u64>();
        }
        eprintln!(
            "forwarded {forwarded}, far frames {far}, reassembled {reassembled}, IGMP queries \
             {queries}, UDP errors {udp_errors}, multicast {mcast}"
        );
        assert!(
            forwarded > 0 && far > 0 && reassembled > 0 && queries > 0 && mcast > 0,
            "forwarded {forwarded}, far frames {far}, reassembled {reassembled}, IGMP \
             queries {queries}, multicast {mcast}"
        );
        for k in [
            "deliver",
            "drop",
            "duplicate",
            "mutate in flight",
            "reorder",
            "advance",
            "run",
            "garbage frame",
            "crafted frame",
            "send",
            "recv",
            "shutdown",
            "close",
            "connect",
            "accept",
            "options",
            "listen",
            "udp socket",
            "join",
            "leave",
        ] {
            assert!(
                kinds.get(k).copied().unwrap_or(0) > 0,
                "no {k:?} step in {kinds:?}"
            );
        }
        assert!(
            long_inputs >= 10,
            "only {long_inputs} of 50 inputs ran 100 steps"
        );
        assert!(
            segs > 1000 && challenges > 0 && ooo > 0,
            "segments {segs}, challenge ACKs {challenges}, out of order {ooo}"
        );
    }
}
