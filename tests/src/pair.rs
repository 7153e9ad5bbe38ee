//! Stacks in one process, joined by in-memory links, and the ICMP echo plumbing that the
//! two-stack tests (`tests/memory.rs`) run on raw sockets.
//!
//! - [`Host`]: a [`Stack`] with loopback configured, shut down when it drops (also when a
//!   test panics), with shortcuts to the counters and tables the tests look at.
//! - [`Pair`]: two hosts on one link, A 10.0.0.1/24 (MAC ...:01) and B 10.0.0.2/24 (MAC
//!   ...:02), each link end possibly wrapped (a fault injector, say).
//! - [`echo_request`], [`classify`], [`recv_until`], [`ping`]: what `ping` does on a raw
//!   socket, with every check on what comes back kept visible to the test.

use ip::icmp::{self, IcmpRepr};
use ip::ipv4::Ipv4Packet;
use ip::{IcmpStats, IpStats, Ipv4Cidr};
use netif::memory::DEFAULT_LINK_QUEUE;
use netif::{Device, DriverConfig, MacAddr, MemoryLink};
use socket_api::{RawSocket, Stack, StackConfig};
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest ICMP echo data: 65,535 - 20 (IP header) - 8 (ICMP header).
pub const MAX_ECHO_DATA: usize = 65_507;

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// `02:00:00:00:00:NN`, a locally administered unicast address.
pub fn mac(last: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, last])
}

pub fn cidr(s: &str) -> Ipv4Cidr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad CIDR {s:?} in a test: {e}"))
}

/// Two ends of an in-memory Ethernet link with the given MTU and the default queue.
pub fn link(a: (&str, MacAddr), b: (&str, MacAddr), mtu: usize) -> (MemoryLink, MemoryLink) {
    MemoryLink::pair(a, b, mtu, DEFAULT_LINK_QUEUE)
}

/// A running stack with `lo` at 127.0.0.1/8, up. Dropping it shuts the stack down.
pub struct Host {
    pub stack: Stack,
}

impl Default for Host {
    fn default() -> Self {
        Host::new(StackConfig::default())
    }
}

impl Host {
    pub fn new(cfg: StackConfig) -> Host {
        let stack = Stack::new(cfg).expect("start a stack");
        let lo = stack
            .add_device(Arc::new(MemoryLink::loopback()), DriverConfig::default())
            .expect("add loopback");
        stack.with_core(|c, now| {
            c.ip.set_address(lo, Some(cidr("127.0.0.1/8")), now)
                .expect("loopback address");
            c.ip.set_up(lo, true, now).expect("loopback up");
        });
        Host { stack }
    }

    /// The host vanishes without a word, as a machine whose cable is cut: every interface
    /// but `lo` goes down, so it neither receives nor sends anything more and its peers
    /// are not told. (`Stack::shutdown` is not silent: it resets or finishes connections.)
    pub fn vanish(&self) {
        self.stack.with_core(|c, now| {
            for i in 1..c.ip.interfaces().len() {
                c.ip.set_up(i, false, now).expect("interface down");
            }
        });
    }

    /// Attach `device`, give it `addr` (CIDR notation) and bring it up. Returns its ifindex.
    pub fn attach(&self, device: Arc<dyn Device>, addr: &str) -> usize {
        let ifindex = self
            .stack
            .add_device(device, DriverConfig::default())
            .expect("add device");
        let addr = cidr(addr);
        self.stack.with_core(|c, now| {
            c.ip.set_address(ifindex, Some(addr), now)
                .expect("set address");
            c.ip.set_up(ifindex, true, now).expect("set up");
        });
        ifindex
    }

    /// `route add 0.0.0.0/0 via GW`.
    pub fn default_route(&self, gw: Ipv4Addr) {
        self.stack.with_core(|c, _| {
            c.ip.add_route(cidr("0.0.0.0/0"), Some(gw), None)
                .expect("add default route")
        });
    }

    /// A raw ICMP socket on this stack.
    pub fn raw_icmp(&self) -> RawSocket {
        RawSocket::new(&self.stack, ip::ipv4::protocol::ICMP).expect("open a raw ICMP socket")
    }

    /// The MAC of a resolved (reachable or static) neighbour, on any interface.
    pub fn neighbour(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.stack.with_core(|c, now| {
            c.ip.arp_entries(now)
                .into_iter()
                .find(|(_, e)| e.ip == ip)
                .and_then(|(_, e)| e.mac)
        })
    }

    /// Is there any neighbour entry (in any state) for `ip`?
    pub fn has_neighbour_entry(&self, ip: Ipv4Addr) -> bool {
        self.stack
            .with_core(|c, now| c.ip.arp_entries(now).iter().any(|(_, e)| e.ip == ip))
    }

    pub fn ip_stats(&self) -> IpStats {
        self.stack.with_core(|c, _| c.ip.stats())
    }

    pub fn icmp_stats(&self) -> IcmpStats {
        self.stack.with_core(|c, _| c.ip.icmp_stats())
    }

    pub fn reassembly_stats(&self) -> ip::reassembly::ReassemblyStats {
        self.stack.with_core(|c, _| c.ip.reassembly_stats())
    }

    /// (datagrams being reassembled, bytes they hold).
    pub fn reassembly_usage(&self) -> (usize, usize) {
        self.stack.with_core(|c, _| c.ip.reassembly_usage())
    }

    pub fn socket_count(&self) -> usize {
        self.stack.with_core(|c, _| c.transport.socket_count())
    }

    /// Datagrams this stack dropped because a check on a received header or ICMP message
    /// failed: what a flipped bit turns into.
    pub fn integrity_drops(&self) -> u64 {
        let (ip, icmp) = (self.ip_stats(), self.icmp_stats());
        ip.drop_truncated
            + ip.drop_bad_version
            + ip.drop_bad_header_len
            + ip.drop_bad_total_len
            + ip.drop_bad_checksum
            + icmp.drop_truncated
            + icmp.drop_bad_checksum
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stack.shutdown();
    }
}

/// Two hosts on one link: A 10.0.0.1/24 and B 10.0.0.2/24.
pub struct Pair {
    pub a: Host,
    pub b: Host,
}

impl Pair {
    /// A and B on a clean link of the given MTU.
    pub fn new(mtu: usize) -> Pair {
        let (la, lb) = link(("eth-a", mac(1)), ("eth-b", mac(2)), mtu);
        Pair::with_devices(StackConfig::default(), Arc::new(la), Arc::new(lb))
    }

    /// A on `dev_a`, B on `dev_b` (the two ends of one link, possibly wrapped).
    pub fn with_devices(cfg: StackConfig, dev_a: Arc<dyn Device>, dev_b: Arc<dyn Device>) -> Pair {
        let a = Host::new(cfg.clone());
        a.attach(dev_a, "10.0.0.1/24");
        let b = Host::new(cfg);
        b.attach(dev_b, "10.0.0.2/24");
        Pair { a, b }
    }
}

/// `len` bytes that differ with `salt` and along the buffer, so misplaced or damaged bytes
/// cannot go unnoticed.
pub fn pattern(len: usize, salt: u32) -> Vec<u8> {
    let mut x = salt.wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995;
    (0..len)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8 ^ (i as u8)
        })
        .collect()
}

/// An ICMP echo request message (what a raw ICMP socket sends).
pub fn echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let msg = IcmpRepr::EchoRequest { ident, seq, data };
    let mut m = vec![0u8; msg.buffer_len()];
    msg.emit(&mut m);
    m
}

/// An echo reply as a raw socket read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoReply {
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub ttl: u8,
    pub ident: u16,
    pub seq: u16,
    pub data: Vec<u8>,
}

/// What a raw ICMP socket read, checked and copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Reply(EchoReply),
    Request {
        from: Ipv4Addr,
        ident: u16,
        seq: u16,
    },
    /// An ICMP error quoting one of our echo requests.
    Error {
        from: Ipv4Addr,
        kind: u8,
        code: u8,
        /// Fields of the quoted echo request.
        orig_src: Ipv4Addr,
        orig_dst: Ipv4Addr,
        ident: u16,
        seq: u16,
    },
    /// Anything else that is well formed (an error about something other than an echo
    /// request, another message type).
    Other,
    /// Something no stack should hand to a socket: a bad IP header or header checksum, or a
    /// fragment. (An ICMP message that is truncated or fails its checksum is `Other`.)
    Bad(String),
}

/// Check and decode one datagram as a raw ICMP socket returns it (IP header included).
pub fn classify(datagram: &[u8]) -> Received {
    let p = match Ipv4Packet::new_checked(datagram) {
        Ok(p) => p,
        Err(e) => return Received::Bad(format!("IP header: {e}")),
    };
    if !p.verify_checksum() {
        return Received::Bad("IP header checksum".into());
    }
    if p.protocol() != ip::ipv4::protocol::ICMP {
        return Received::Bad(format!("protocol {} on an ICMP socket", p.protocol()));
    }
    if p.is_fragment() {
        return Received::Bad("a fragment reached a socket".into());
    }
    // A damaged ICMP message reaches raw sockets, as on Linux (ping's "BAD CHECKSUM"):
    // it answers nothing.
    let Ok(msg) = IcmpRepr::parse(p.payload()) else {
        return Received::Other;
    };
    match msg {
        IcmpRepr::EchoReply { ident, seq, data } => Received::Reply(EchoReply {
            from: p.src(),
            to: p.dst(),
            ttl: p.ttl(),
            ident,
            seq,
            data: data.to_vec(),
        }),
        IcmpRepr::EchoRequest { ident, seq, .. } => Received::Request {
            from: p.src(),
            ident,
            seq,
        },
        IcmpRepr::DestUnreachable { original, .. }
        | IcmpRepr::TimeExceeded { original, .. }
        | IcmpRepr::Redirect { original, .. }
        | IcmpRepr::ParameterProblem { original, .. } => {
            let payload = p.payload();
            quoted_echo(original).map_or(Received::Other, |(orig_src, orig_dst, ident, seq)| {
                Received::Error {
                    from: p.src(),
                    kind: payload[0],
                    code: payload[1],
                    orig_src,
                    orig_dst,
                    ident,
                    seq,
                }
            })
        }
        IcmpRepr::Other { .. } => Received::Other,
    }
}

/// The quoted datagram of an ICMP error, if it is an echo request: its source,
/// destination, ident and sequence number.
fn quoted_echo(original: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u16)> {
    let hl = usize::from(original.first()? & 0x0f) * 4;
    if original.first()? >> 4 != 4 || hl < 20 || *original.get(9)? != ip::ipv4::protocol::ICMP {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b = original.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let q = original.get(hl..hl + icmp::HEADER_LEN)?;
    if q[0] != icmp::kind::ECHO_REQUEST {
        return None;
    }
    Some((
        addr(12)?,
        addr(16)?,
        u16::from_be_bytes([q[4], q[5]]),
        u16::from_be_bytes([q[6], q[7]]),
    ))
}

/// Read from `sock` until `want` accepts a message (its answer is returned) or `timeout`
/// passes (`None`). Every message read is shown to `want`, in order. Socket errors other
/// than a timeout panic.
pub fn recv_until<T>(
    sock: &mut RawSocket,
    timeout: Duration,
    mut want: impl FnMut(Received) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set read timeout");
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                if let Some(t) = want(classify(&buf[..n])) {
                    return Some(t);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("recv_from failed: {e}"),
        }
    }
}

/// Send one echo request and wait for its reply (same ident and sequence number). Other
/// messages are skipped; one that fails a check panics.
pub fn ping(
    sock: &mut RawSocket,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    data: &[u8],
    timeout: Duration,
) -> Option<EchoReply> {
    sock.send_to(&echo_request(ident, seq, data), dst)
        .unwrap_or_else(|e| panic!("send_to {dst} failed: {e}"));
    recv_until(sock, timeout, |r| match r {
        Received::Reply(r) if r.ident == ident && r.seq == seq => Some(r),
        Received::Bad(why) => panic!("a socket was handed a bad datagram: {why}"),
        _ => None,
    })
}
