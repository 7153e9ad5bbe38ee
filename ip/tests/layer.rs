//! Behaviour of `IpLayer` seen from outside: frames in, frames out, reports to the layer above.
//!
//! Everything runs on a virtual clock: timers are exercised by handing `poll` a later
//! `Instant`, never by sleeping. Frames are built with the crate's own emitters and, where an
//! independent view helps, with `etherparse`; checksums are also checked by a small RFC 1071
//! sum written here.

#![forbid(unsafe_code)]

use arp::{ArpRepr, Operation};
use ip::icmp::{self, IcmpRepr};
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ip::reassembly::{Fragment, Outcome, Reassembler, ReassemblyConfig};
use ip::{
    ConfigError, Datagram, Delivery, IcmpErrorReport, IpConfig, IpLayer, IpStats, IpTx, Ipv4Cidr,
    RouteError, RouteKind, SendError, SendMeta, Upper,
};
use netif::ethernet::{self, ethertype};
use netif::{DeviceInfo, Duration, Instant, MacAddr};
use std::net::Ipv4Addr;

// ---- fixtures -------------------------------------------------------------------------------

const T0: Instant = Instant::from_secs(10);

const MAC0: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const MAC1: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 0x01]);
/// 10.0.0.2, a host on if0.
const MAC_A: MacAddr = MacAddr([0x02, 0xaa, 0, 0, 0, 0x02]);
/// 10.0.1.5, a host on if1.
const MAC_B: MacAddr = MacAddr([0x02, 0xbb, 0, 0, 1, 0x05]);
/// 10.0.0.3, another router on if0.
const MAC_C: MacAddr = MacAddr([0x02, 0xcc, 0, 0, 0, 0x03]);
/// A unicast MAC that is nobody we know.
const MAC_OTHER: MacAddr = MacAddr([0x02, 0xee, 0xee, 0xee, 0xee, 0xee]);

const US0: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const US1: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
const ROUTER_C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const BCAST0: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);

const UDP: u8 = ipv4::protocol::UDP;
const ICMP: u8 = ipv4::protocol::ICMP;

fn at_ms(ms: u64) -> Instant {
    T0 + Duration::from_millis(ms)
}

fn cidr(s: &str) -> Ipv4Cidr {
    s.parse().unwrap()
}

fn device(name: &str, mac: MacAddr, mtu: usize) -> DeviceInfo {
    DeviceInfo {
        name: name.to_string(),
        mtu,
        mac,
        loopback: false,
        offload: netif::device::Offload::NONE,
    }
}

fn loopback_device() -> DeviceInfo {
    DeviceInfo {
        name: "lo".to_string(),
        mtu: 65535,
        mac: MacAddr::ZERO,
        loopback: true,
        offload: netif::device::Offload::NONE,
    }
}

/// One Ethernet interface, if0 = tap0, 10.0.0.1/24, up; its announcement already taken.
fn one_iface() -> IpLayer {
    one_iface_with(IpConfig::default())
}

/// The fixtures' interfaces are set up two seconds before `T0`, so that their second
/// announcement (RFC 5227 2.3) is out of the way by `T0`.
const SETUP: Instant = Instant::from_secs(8);

/// Run the timers due at `T0` (the fixtures' second announcements) and drop what they send.
fn settle(l: &mut IpLayer) {
    drain(l);
    l.poll(T0, &mut Recorder::default());
    drain(l);
}

fn one_iface_with(cfg: IpConfig) -> IpLayer {
    let mut l = IpLayer::new(cfg);
    let i = l.add_interface(&device("tap0", MAC0, 1500));
    assert_eq!(i, 0);
    l.set_address(i, Some(cidr("10.0.0.1/24")), SETUP).unwrap();
    l.set_up(i, true, SETUP).unwrap();
    settle(&mut l);
    l
}

/// A router: if0 = 10.0.0.1/24, if1 = 10.0.1.1/24, both up; hosts A (on if0) and B (on if1)
/// already known to ARP.
fn router() -> IpLayer {
    router_with(IpConfig {
        forwarding: true,
        ..IpConfig::default()
    })
}

fn router_with(cfg: IpConfig) -> IpLayer {
    let mut l = one_iface_with(cfg);
    let i = l.add_interface(&device("tap1", MAC1, 1500));
    assert_eq!(i, 1);
    l.set_address(i, Some(cidr("10.0.1.1/24")), SETUP).unwrap();
    l.set_up(i, true, SETUP).unwrap();
    settle(&mut l);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    introduce(&mut l, 1, HOST_B, MAC_B, T0);
    l
}

/// A neighbour asks for our address, so the layer learns it (and answers; the answer is
/// discarded here).
fn introduce(l: &mut IpLayer, ifindex: usize, peer: Ipv4Addr, peer_mac: MacAddr, now: Instant) {
    let ours = l.interfaces()[ifindex].addr.unwrap().addr();
    let req = ArpRepr::request(peer_mac, peer, ours);
    let frame = arp_frame(MacAddr::BROADCAST, peer_mac, &req);
    l.receive_frame(ifindex, &frame, now, &mut Recorder::default());
    let out = drain(l);
    assert_eq!(out.len(), 1, "the request is answered");
    assert_eq!(out[0].arp().op, Operation::Reply);
}

// ---- a recording upper layer ----------------------------------------------------------------

#[derive(Clone, Debug)]
struct Got {
    ifindex: usize,
    packet: Vec<u8>,
    broadcast: bool,
    /// The layer vouched for the transport checksum (`Datagram::csum_ok`).
    csum_ok: bool,
    /// `Datagram::gso_size`.
    gso_size: Option<u16>,
}

#[derive(Clone, Debug)]
struct Report {
    from: Ipv4Addr,
    kind: u8,
    code: u8,
    info: u32,
    orig_src: Ipv4Addr,
    orig_dst: Ipv4Addr,
    orig_protocol: u8,
    orig_total_len: u16,
    orig_payload: Vec<u8>,
}

/// Records what comes up and answers every `deliver` with `answer`.
#[derive(Debug)]
struct Recorder {
    answer: Delivery,
    delivered: Vec<Got>,
    errors: Vec<Report>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::answering(Delivery::Delivered)
    }
}

impl Recorder {
    fn answering(answer: Delivery) -> Recorder {
        Recorder {
            answer,
            delivered: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl Upper for Recorder {
    fn deliver(&mut self, _tx: &mut dyn IpTx, d: &Datagram<'_>, _now: Instant) -> Delivery {
        self.delivered.push(Got {
            ifindex: d.ifindex,
            packet: d.packet.as_bytes().to_vec(),
            broadcast: d.broadcast,
            csum_ok: d.csum_ok,
            gso_size: d.gso_size,
        });
        self.answer
    }

    fn icmp_error(&mut self, _tx: &mut dyn IpTx, r: &IcmpErrorReport<'_>, _now: Instant) {
        self.errors.push(Report {
            from: r.from,
            kind: r.kind,
            code: r.code,
            info: r.info,
            orig_src: r.orig_src,
            orig_dst: r.orig_dst,
            orig_protocol: r.orig_protocol,
            orig_total_len: r.orig_total_len,
            orig_payload: r.orig_payload.to_vec(),
        });
    }
}

// ---- building frames ------------------------------------------------------------------------

/// The header of a datagram to build.
#[derive(Clone, Copy, Debug)]
struct Hdr {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    ident: u16,
    df: bool,
    /// Fragment offset in bytes.
    offset: usize,
    mf: bool,
}

impl Hdr {
    fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Hdr {
        Hdr {
            src,
            dst,
            protocol,
            ttl: 64,
            ident: 0x1234,
            df: false,
            offset: 0,
            mf: false,
        }
    }

    fn ttl(self, ttl: u8) -> Hdr {
        Hdr { ttl, ..self }
    }

    fn ident(self, ident: u16) -> Hdr {
        Hdr { ident, ..self }
    }

    fn df(self) -> Hdr {
        Hdr { df: true, ..self }
    }

    fn frag(self, offset: usize, mf: bool) -> Hdr {
        Hdr { offset, mf, ..self }
    }

    /// The datagram: a 20-byte header with a good checksum, then `payload`.
    fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; ipv4::HEADER_LEN + payload.len()];
        b[ipv4::HEADER_LEN..].copy_from_slice(payload);
        Ipv4Repr {
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            ttl: self.ttl,
            tos: 0,
            ident: self.ident,
            dont_fragment: self.df,
            payload_len: payload.len(),
        }
        .emit(&mut b, self.offset, self.mf);
        b
    }

    /// `payload` cut into datagrams of at most `chunk` payload bytes (a multiple of 8), the
    /// first at `self.offset`, the last keeping `self.mf`.
    fn fragments(&self, payload: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        assert_eq!(chunk % 8, 0);
        let mut out = Vec::new();
        let mut off = 0;
        while off < payload.len() {
            let end = (off + chunk).min(payload.len());
            let more = end < payload.len() || self.mf;
            out.push(
                self.frag(self.offset + off, more)
                    .packet(&payload[off..end]),
            );
            off = end;
        }
        out
    }
}

fn eth(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + payload.len()];
    ethernet::Repr {
        dst,
        src,
        ethertype,
    }
    .emit(&mut f);
    f[ethernet::HEADER_LEN..].copy_from_slice(payload);
    f
}

fn arp_frame(dst: MacAddr, src: MacAddr, repr: &ArpRepr) -> Vec<u8> {
    eth(dst, src, ethertype::ARP, &repr.to_bytes())
}

fn icmp_bytes(msg: &IcmpRepr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; msg.buffer_len()];
    msg.emit(&mut b);
    b
}

fn echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    icmp_bytes(&IcmpRepr::EchoRequest { ident, seq, data })
}

/// Bytes that are not all alike, so a shifted copy never passes for the original.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Hand an IPv4 datagram to interface `ifindex`, in a frame unicast to that interface.
fn rx_ip(l: &mut IpLayer, up: &mut Recorder, ifindex: usize, packet: &[u8], now: Instant) {
    let mac = l.interfaces()[ifindex].mac;
    let frame = eth(mac, MAC_A, ethertype::IPV4, packet);
    l.receive_frame(ifindex, &frame, now, up);
}

/// The same, in a link-layer broadcast frame.
fn rx_ip_bcast(l: &mut IpLayer, up: &mut Recorder, ifindex: usize, packet: &[u8], now: Instant) {
    let frame = eth(MacAddr::BROADCAST, MAC_A, ethertype::IPV4, packet);
    l.receive_frame(ifindex, &frame, now, up);
}

// ---- reading frames -------------------------------------------------------------------------

/// A frame the layer queued for a driver, split at the Ethernet header.
#[derive(Clone, Debug)]
struct Sent {
    ifindex: usize,
    dst: MacAddr,
    src: MacAddr,
    ethertype: u16,
    payload: Vec<u8>,
}

fn drain(l: &mut IpLayer) -> Vec<Sent> {
    l.take_tx()
        .map(|f| {
            let e = ethernet::Frame::new_checked(&f.data).expect("a whole Ethernet header");
            let r = ethernet::Repr::parse(&e);
            Sent {
                ifindex: f.ifindex,
                dst: r.dst,
                src: r.src,
                ethertype: r.ethertype,
                payload: e.payload().to_vec(),
            }
        })
        .collect()
}

/// RFC 1071: the one's complement sum of a block holding its own checksum is all ones.
fn sums_to_ones(b: &[u8]) -> bool {
    let mut acc: u32 = 0;
    for pair in b.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |x| u32::from(*x));
        acc += hi | lo;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc == 0xffff
}

impl Sent {
    /// The IPv4 datagram this frame carries, checked three ways (the crate's view, our own
    /// checksum, etherparse's header parse).
    fn ip(&self) -> Ipv4Packet<'_> {
        assert_eq!(self.ethertype, ethertype::IPV4, "an IPv4 frame: {self:?}");
        let p = Ipv4Packet::new_checked(&self.payload).expect("a valid IPv4 header");
        assert!(p.verify_checksum());
        assert!(sums_to_ones(p.header()), "header checksum");
        assert_eq!(
            p.total_len(),
            self.payload.len(),
            "nothing after the datagram"
        );
        let e = etherparse::Ipv4HeaderSlice::from_slice(&self.payload).unwrap();
        assert_eq!(e.header_checksum(), e.to_header().calc_header_checksum());
        p
    }

    /// The ICMP message this frame carries (checksum verified).
    fn icmp(&self) -> IcmpRepr<'_> {
        let p = self.ip();
        assert_eq!(p.protocol(), ICMP);
        assert!(sums_to_ones(p.payload()), "ICMP checksum");
        IcmpRepr::parse(p.payload()).expect("a valid ICMP message")
    }

    fn arp(&self) -> ArpRepr {
        assert_eq!(self.ethertype, ethertype::ARP);
        ArpRepr::from_bytes(&self.payload).expect("a valid ARP packet")
    }

    fn is_ip(&self) -> bool {
        self.ethertype == ethertype::IPV4
    }
}

/// Reassemble datagrams (given in any order) with the crate's reassembler.
fn reassemble<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut r = Reassembler::new(ReassemblyConfig::default());
    for p in packets {
        let f = Fragment::from_packet(p).expect("a valid fragment");
        match r.push(f, T0) {
            Outcome::Complete(whole) => return whole,
            Outcome::Incomplete => {}
            Outcome::Dropped(why) => panic!("fragment refused: {why}"),
        }
    }
    panic!("the fragments do not make a whole datagram");
}

/// A small seeded PRNG (xorshift64*), so the random tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

// ==== ARP ====================================================================================

#[test]
fn arp_unresolved_neighbour_gets_one_request_and_datagrams_wait() {
    let mut l = one_iface();
    let peer = Ipv4Addr::new(10, 0, 0, 9);
    l.tx()
        .send(&SendMeta::new(peer, UDP), b"first", T0)
        .unwrap();
    l.tx()
        .send(&SendMeta::new(peer, UDP), b"second", at_ms(10))
        .unwrap();

    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "one request, the datagrams wait: {out:?}");
    assert_eq!(
        (out[0].ifindex, out[0].dst, out[0].src),
        (0, MacAddr::BROADCAST, MAC0)
    );
    let req = out[0].arp();
    assert_eq!(req.op, Operation::Request);
    assert_eq!((req.sender_mac, req.sender_ip), (MAC0, US0));
    assert_eq!((req.target_mac, req.target_ip), (MacAddr::ZERO, peer));
    assert_eq!(
        l.poll_at(),
        Some(T0 + Duration::from_secs(1)),
        "a retransmission is due"
    );
}

/// `ifconfig IF down` forgets the neighbours the interface learnt and drops the datagrams
/// waiting for one, counted (Linux's `arp_ifdown`); its static neighbours stay. They were
/// kept: an interface brought up on another link used the old MACs until they expired, and
/// the waiting datagrams stayed queued behind requests a down interface never sends.
#[test]
fn down_forgets_learnt_neighbours_and_drops_what_waits_for_one() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let fixed = Ipv4Addr::new(10, 0, 0, 8);
    l.arp_add_static(fixed, MAC_A).unwrap();
    let waiting = Ipv4Addr::new(10, 0, 0, 9);
    l.tx()
        .send(&SendMeta::new(waiting, UDP), b"waits", T0)
        .unwrap();
    assert_eq!(drain(&mut l).len(), 1, "a request for the waiting datagram");
    assert_eq!(l.arp_entries(T0).len(), 3);

    l.set_up(0, false, at_ms(10)).unwrap();
    let left: Vec<Ipv4Addr> = l.arp_entries(at_ms(10)).iter().map(|(_, e)| e.ip).collect();
    assert_eq!(left, [fixed], "only the static neighbour stays");
    assert_eq!(l.arp_stats()[0].1.pending_dropped.removed, 1);
    l.poll(T0 + Duration::from_secs(5), &mut Recorder::default());
    assert!(drain(&mut l).is_empty(), "no request from a down interface");

    l.set_up(0, true, T0 + Duration::from_secs(5)).unwrap();
    let left: Vec<Ipv4Addr> = l
        .arp_entries(T0 + Duration::from_secs(5))
        .iter()
        .map(|(_, e)| e.ip)
        .collect();
    assert_eq!(left, [fixed]);
}

#[test]
fn arp_reply_releases_waiting_datagrams_to_the_replying_mac() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    l.tx()
        .send(&SendMeta::new(HOST_A, UDP), b"first", T0)
        .unwrap();
    l.tx()
        .send(&SendMeta::new(HOST_A, UDP), b"second", T0)
        .unwrap();
    let req = drain(&mut l)[0].arp();

    let reply = ArpRepr::reply_to(&req, MAC_A);
    l.receive_frame(0, &arp_frame(MAC0, MAC_A, &reply), at_ms(5), &mut up);

    let out = drain(&mut l);
    assert_eq!(out.len(), 2, "{out:?}");
    for (s, data) in out.iter().zip([&b"first"[..], b"second"]) {
        assert_eq!((s.ifindex, s.dst, s.src), (0, MAC_A, MAC0));
        let p = s.ip();
        assert_eq!((p.src(), p.dst(), p.protocol()), (US0, HOST_A, UDP));
        assert_eq!(p.payload(), data, "in the order they were sent");
    }
    // Resolved: the next datagram goes at once.
    l.tx()
        .send(&SendMeta::new(HOST_A, UDP), b"third", at_ms(6))
        .unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, MAC_A);
}

#[test]
fn arp_request_for_our_address_is_answered() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let req = ArpRepr::request(MAC_A, HOST_A, US0);
    l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, MAC_A, &req), T0, &mut up);

    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].ifindex, out[0].dst, out[0].src), (0, MAC_A, MAC0));
    let rep = out[0].arp();
    assert_eq!(rep.op, Operation::Reply);
    assert_eq!((rep.sender_mac, rep.sender_ip), (MAC0, US0));
    assert_eq!((rep.target_mac, rep.target_ip), (MAC_A, HOST_A));

    // A request for somebody else is not answered.
    let other = ArpRepr::request(MAC_A, HOST_A, Ipv4Addr::new(10, 0, 0, 77));
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_A, &other),
        T0,
        &mut up,
    );
    assert!(drain(&mut l).is_empty());
    // The asker was learned: no ARP needed to answer it.
    l.tx().send(&SendMeta::new(HOST_A, UDP), b"x", T0).unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert!(out[0].is_ip() && out[0].dst == MAC_A);
}

/// Linux's default (`arp_ignore=0`, the "weak host" model): a request for any local
/// address, whichever interface has it, is answered on the interface it came in on, with
/// that interface's MAC; the asker is learned as for a request for the interface's own
/// address. Never for an address that is not ours (no proxy ARP, forwarding or not), for
/// 127/8, or for the address of an interface that is down (Linux takes its local routes
/// away).
#[test]
fn arp_answers_for_any_local_address_on_the_interface_it_came_in_on() {
    for forwarding in [false, true] {
        let mut l = router_with(IpConfig {
            forwarding,
            ..IpConfig::default()
        });
        let lo = l.add_interface(&loopback_device());
        l.set_address(lo, Some(cidr("127.0.0.1/8")), T0).unwrap();
        l.set_up(lo, true, T0).unwrap();
        drain(&mut l);
        let mut up = Recorder::default();
        let host_d = Ipv4Addr::new(10, 0, 0, 9);
        let mac_d = MacAddr([0x02, 0xdd, 0, 0, 0, 0x09]);
        // On if0, for if1's address.
        let req = ArpRepr::request(mac_d, host_d, US1);
        l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, mac_d, &req), T0, &mut up);
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "forwarding={forwarding}: {out:?}");
        assert_eq!((out[0].ifindex, out[0].dst, out[0].src), (0, mac_d, MAC0));
        let rep = out[0].arp();
        assert_eq!(rep.op, Operation::Reply);
        assert_eq!((rep.sender_mac, rep.sender_ip), (MAC0, US1));
        assert_eq!((rep.target_mac, rep.target_ip), (mac_d, host_d));
        // The asker was learned on if0: a datagram to it needs no ARP.
        l.tx().send(&SendMeta::new(host_d, UDP), b"x", T0).unwrap();
        let out = drain(&mut l);
        assert_eq!(out.len(), 1);
        assert!(out[0].is_ip() && (out[0].ifindex, out[0].dst) == (0, mac_d));
        // And on if1 for if0's address: if1's MAC.
        let req = ArpRepr::request(MAC_B, HOST_B, US0);
        l.receive_frame(1, &arp_frame(MacAddr::BROADCAST, MAC_B, &req), T0, &mut up);
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "forwarding={forwarding}: {out:?}");
        assert_eq!((out[0].ifindex, out[0].dst, out[0].src), (1, MAC_B, MAC1));
        assert_eq!(
            (out[0].arp().sender_mac, out[0].arp().sender_ip),
            (MAC1, US0)
        );
        // No proxy: a host behind if1, an unused address, loopback: not answered.
        for target in [
            HOST_B,
            Ipv4Addr::new(10, 0, 0, 77),
            Ipv4Addr::new(127, 0, 0, 1),
        ] {
            let req = ArpRepr::request(MAC_A, HOST_A, target);
            l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, MAC_A, &req), T0, &mut up);
            assert!(
                drain(&mut l).is_empty(),
                "forwarding={forwarding}: {target}"
            );
        }
        // if1 down: its address is not answered for on if0 any more.
        l.set_up(1, false, T0).unwrap();
        drain(&mut l);
        let req = ArpRepr::request(MAC_A, HOST_A, US1);
        l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, MAC_A, &req), T0, &mut up);
        assert!(drain(&mut l).is_empty(), "forwarding={forwarding}");
        assert!(up.delivered.is_empty());
    }
}

/// Linux's default (`arp_ignore=0`, the weak host model): an interface that is up but has
/// no address of its own still answers ARP for the host's other addresses, with its own
/// MAC, probes (RFC 5227: the address is taken) included. Nothing is learned there (no
/// neighbour is on a link without a network).
#[test]
fn an_interface_without_an_address_answers_arp_for_the_hosts_addresses() {
    let mut l = one_iface();
    let i = l.add_interface(&device("tap1", MAC1, 1500));
    l.set_up(i, true, T0).unwrap();
    drain(&mut l);
    let mut up = Recorder::default();
    let (host, mac) = (Ipv4Addr::new(192, 168, 5, 9), MAC_OTHER);
    for sender in [host, Ipv4Addr::UNSPECIFIED] {
        let req = ArpRepr::request(mac, sender, US0);
        l.receive_frame(i, &arp_frame(MacAddr::BROADCAST, mac, &req), T0, &mut up);
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "from {sender}: {out:?}");
        assert_eq!((out[0].ifindex, out[0].dst, out[0].src), (i, mac, MAC1));
        let rep = out[0].arp();
        assert_eq!(rep.op, Operation::Reply);
        assert_eq!((rep.sender_mac, rep.sender_ip), (MAC1, US0));
        assert_eq!((rep.target_mac, rep.target_ip), (mac, sender));
    }
    // Not for us: not answered.
    let req = ArpRepr::request(mac, host, Ipv4Addr::new(10, 0, 0, 77));
    l.receive_frame(i, &arp_frame(MacAddr::BROADCAST, mac, &req), T0, &mut up);
    assert!(drain(&mut l).is_empty());
    assert!(
        l.arp_entries(T0).iter().all(|(_, e)| e.ip != host),
        "not learned"
    );
}

#[test]
fn an_ieee_802_arp_request_is_answered_with_hardware_type_ethernet() {
    // Linux answers ar$hrd 6 (IEEE 802) on an Ethernet device, with type 1 in its reply.
    let mut l = one_iface();
    let mut up = Recorder::default();
    let mut req = ArpRepr::request(MAC_A, HOST_A, US0).to_bytes();
    req[1] = 6;
    let frame = eth(MacAddr::BROADCAST, MAC_A, ethertype::ARP, &req);
    l.receive_frame(0, &frame, T0, &mut up);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(&out[0].payload[..2], &[0, 1], "answered as Ethernet");
    let rep = out[0].arp();
    assert_eq!(rep.op, Operation::Reply);
    assert_eq!((rep.target_mac, rep.target_ip), (MAC_A, HOST_A));
    assert_eq!(l.stats().drop_bad_arp, 0);
}

/// A neighbour in use past its ARP entry's time: the datagrams go on to its MAC without
/// waiting, while a request is unicast to that MAC (RFC 1122 2.3.2.1); its answer keeps
/// the entry (before, the entry was dropped and the next datagrams waited for a broadcast
/// request's answer, the queue's bound dropping any beyond it).
#[test]
fn a_neighbour_in_use_is_asked_again_by_unicast_while_datagrams_go_on() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.tx().send(&SendMeta::new(HOST_A, UDP), b"a", T0).unwrap();
    assert_eq!(drain(&mut l).len(), 1);
    let expiry = T0 + Duration::from_secs(60);
    assert_eq!(l.poll_at(), Some(expiry));
    l.poll(expiry, &mut up);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].dst, out[0].arp().op), (MAC_A, Operation::Request));
    assert_eq!(out[0].arp().target_ip, HOST_A);
    for k in 0..200 {
        l.tx()
            .send(
                &SendMeta::new(HOST_A, UDP),
                b"b",
                expiry + Duration::from_micros(k),
            )
            .unwrap();
    }
    let out = drain(&mut l);
    assert_eq!(out.len(), 200, "sent at once, none queued or dropped");
    assert!(out.iter().all(|s| s.dst == MAC_A && s.is_ip()));
    // HOST_A answers the unicast request: no more requests for another 60 s.
    introduce(&mut l, 0, HOST_A, MAC_A, expiry + Duration::from_millis(1));
    l.poll(expiry + Duration::from_secs(5), &mut up);
    assert!(drain(&mut l).is_empty());
    assert_eq!(
        l.poll_at(),
        Some(expiry + Duration::from_millis(1) + Duration::from_secs(60))
    );
}

#[test]
fn arp_failure_after_three_requests_reports_host_unreachable_locally() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let peer = Ipv4Addr::new(10, 0, 0, 9);
    let payload = pattern(40, 3);
    l.tx()
        .send(&SendMeta::new(peer, UDP), &payload, T0)
        .unwrap();
    let first = drain(&mut l);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].arp().target_ip, peer);

    // Two more requests, one second apart.
    for k in 1..=2 {
        let now = T0 + Duration::from_secs(k);
        assert_eq!(l.poll_at(), Some(now));
        l.poll(now, &mut up);
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "request {} at +{k}s", k + 1);
        assert_eq!(out[0].arp().op, Operation::Request);
        assert_eq!(out[0].arp().target_ip, peer);
        assert!(up.errors.is_empty());
    }
    assert_eq!(l.stats().drop_arp_failed, 0);

    // One second after the third: give up, and tell the sender.
    let now = T0 + Duration::from_secs(3);
    assert_eq!(l.poll_at(), Some(now));
    l.poll(now, &mut up);
    assert!(drain(&mut l).is_empty(), "nothing goes on the wire");
    assert_eq!(up.errors.len(), 1, "{up:?}");
    let e = &up.errors[0];
    assert_eq!(
        (e.kind, e.code),
        (icmp::kind::DEST_UNREACHABLE, icmp::unreach::HOST)
    );
    assert_eq!(e.from, US0, "from our interface address");
    assert_eq!((e.orig_src, e.orig_dst, e.orig_protocol), (US0, peer, UDP));
    assert_eq!(e.orig_payload, payload, "quotes the original");
    assert_eq!(l.stats().drop_arp_failed, 1);
    assert_eq!(l.poll_at(), None, "nothing left to do");
}

/// An interface set down sends nothing: neither the retransmissions of a request made while
/// it was up nor the unicast probe of a neighbour in use (Linux flushes the neighbours of a
/// device that goes down; IGMP here already sends nothing on a down interface). The
/// datagram that waited is dropped with the neighbours, as Linux's `neigh_flush_dev` purges
/// the queue (counted as removed; no error reaches its sender).
#[test]
fn a_down_interface_sends_no_arp_retransmissions_or_probes() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.tx().send(&SendMeta::new(HOST_A, UDP), b"a", T0).unwrap();
    let peer = Ipv4Addr::new(10, 0, 0, 9);
    l.tx().send(&SendMeta::new(peer, UDP), b"b", T0).unwrap();
    assert_eq!(
        drain(&mut l).len(),
        2,
        "the datagram to A and a request for the peer"
    );
    l.set_up(0, false, T0).unwrap();
    let mut sent = Vec::new();
    for k in 1..=61 {
        l.poll(T0 + Duration::from_secs(k), &mut up);
        sent.extend(drain(&mut l));
    }
    assert!(sent.is_empty(), "frames on a down interface: {sent:?}");
    assert!(up.errors.is_empty(), "{up:?}");
    assert_eq!(l.arp_stats()[0].1.pending_dropped.removed, 1);
}

/// A transport's negative advice (its retransmissions to a destination unanswered, RFC
/// 9293 3.8.3's R1) asks the neighbour they go through again at once: the destination
/// itself on its network, the gateway for one beyond it. The request is unicast to the
/// MAC in use (RFC 1122 2.3.2.1's unicast poll), which the next datagram still goes to.
#[test]
fn negative_advice_probes_the_next_hop_at_once() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    drain(&mut l);
    let t = T0 + Duration::from_secs(5);
    l.tx().negative_advice(HOST_A, t);
    l.tx().negative_advice(Ipv4Addr::new(192, 0, 2, 7), t);
    assert!(l.poll_at().is_none_or(|at| at > t), "nothing left due");
    l.poll(t, &mut up);
    let mut probes: Vec<(MacAddr, Ipv4Addr)> = drain(&mut l)
        .iter()
        .map(|f| (f.dst, f.arp().target_ip))
        .collect();
    probes.sort();
    assert_eq!(probes, vec![(MAC_A, HOST_A), (MAC_C, ROUTER_C)]);
    l.tx().send(&SendMeta::new(HOST_A, UDP), b"a", t).unwrap();
    let sent = drain(&mut l);
    assert_eq!(
        (sent.len(), sent[0].dst),
        (1, MAC_A),
        "still sent meanwhile"
    );
}

#[test]
fn arp_failure_of_a_forwarded_datagram_is_reported_to_its_remote_source() {
    let mut l = router();
    let mut up = Recorder::default();
    let gone = Ipv4Addr::new(10, 0, 1, 77);
    let dgram = Hdr::new(HOST_A, gone, UDP).packet(&pattern(30, 1));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].ifindex, out[0].arp().target_ip), (1, gone));
    for k in 1..=3 {
        l.poll(T0 + Duration::from_secs(k), &mut up);
    }
    let out: Vec<Sent> = drain(&mut l).into_iter().filter(Sent::is_ip).collect();
    assert!(up.errors.is_empty(), "not our datagram: {:?}", up.errors);
    assert_eq!(l.stats().drop_arp_failed, 1);
    // RFC 1812 4.3.3.1 / 5.2.7.1: the router tells the source, host unreachable.
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].ifindex, out[0].dst), (0, MAC_A));
    let p = out[0].ip();
    assert_eq!((p.src(), p.dst()), (US0, HOST_A));
    match out[0].icmp() {
        IcmpRepr::DestUnreachable { code, original, .. } => {
            assert_eq!(code, icmp::unreach::HOST);
            // The datagram as it left (TTL already decremented) or as it came: same payload.
            assert_eq!(original[ipv4::HEADER_LEN..], dgram[ipv4::HEADER_LEN..]);
        }
        other => panic!("expected host unreachable, got {other:?}"),
    }
}

#[test]
fn gratuitous_arp_when_an_up_interface_gets_an_address() {
    let mut l = IpLayer::new(IpConfig::default());
    let i = l.add_interface(&device("tap0", MAC0, 1500));
    // Down: an address is set silently.
    l.set_address(i, Some(cidr("10.0.0.1/24")), T0).unwrap();
    assert!(drain(&mut l).is_empty());
    // Coming up with an address announces it.
    l.set_up(i, true, T0).unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    let g = out[0].arp();
    assert_eq!((out[0].dst, out[0].src), (MacAddr::BROADCAST, MAC0));
    assert!(g.is_gratuitous());
    assert_eq!(
        (g.op, g.sender_mac, g.sender_ip, g.target_ip),
        (Operation::Request, MAC0, US0, US0)
    );
    // Up: a new address is announced at once.
    let new = Ipv4Addr::new(10, 0, 0, 50);
    l.set_address(i, Some(Ipv4Cidr::new(new, 24).unwrap()), T0)
        .unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    let g = out[0].arp();
    assert!(g.is_gratuitous() && g.sender_ip == new && g.sender_mac == MAC0);
    // Setting up an interface already up says nothing again; clearing the address neither.
    l.set_up(i, true, T0).unwrap();
    l.set_address(i, None, T0).unwrap();
    assert!(drain(&mut l).is_empty());
}

/// An interface that loses its address forgets its neighbours, as Linux's does when its
/// last address goes (`fib_disable_ip` calls `arp_ifdown`): a host moved to another link
/// numbered alike (a DHCP lease on another network, the same gateway address) must not
/// send to the MAC of the old link's host until that entry expires. A change of address
/// (the old one deleted, the new added) does the same; setting the same address again
/// (a renewed lease) does not, and static entries stay.
#[test]
fn a_change_of_address_forgets_the_learned_neighbours() {
    for clear_first in [true, false] {
        let mut l = one_iface();
        introduce(&mut l, 0, HOST_A, MAC_A, T0);
        let (static_ip, static_mac) = (Ipv4Addr::new(10, 0, 0, 60), MAC_OTHER);
        l.arp_add_static(static_ip, static_mac).unwrap();
        // The same address again: nothing forgotten.
        l.set_address(0, Some(cidr("10.0.0.1/24")), T0).unwrap();
        drain(&mut l);
        l.tx().send(&SendMeta::new(HOST_A, UDP), b"a", T0).unwrap();
        let out = drain(&mut l);
        assert!(out.len() == 1 && out[0].is_ip() && out[0].dst == MAC_A);

        if clear_first {
            l.set_address(0, None, T0).unwrap();
        }
        l.set_address(0, Some(cidr("10.0.0.7/24")), T0).unwrap();
        drain(&mut l);
        l.tx().send(&SendMeta::new(HOST_A, UDP), b"b", T0).unwrap();
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(!out[0].is_ip(), "sent to the old link's MAC: {out:?}");
        let req = out[0].arp();
        assert_eq!(
            (out[0].dst, req.op),
            (MacAddr::BROADCAST, Operation::Request)
        );
        assert_eq!(
            (req.sender_ip, req.target_ip),
            (Ipv4Addr::new(10, 0, 0, 7), HOST_A)
        );
        // The static entry stays.
        l.tx()
            .send(&SendMeta::new(static_ip, UDP), b"c", T0)
            .unwrap();
        let out = drain(&mut l);
        assert!(out.len() == 1 && out[0].is_ip() && out[0].dst == static_mac);
    }
}
/// RFC 5227 2.3: an address is announced twice, two seconds apart (ANNOUNCE_NUM,
/// ANNOUNCE_INTERVAL), so that a neighbour that missed the first still learns it; not
/// again once the interface is down or has another address (which starts over).
#[test]
fn an_address_is_announced_twice_two_seconds_apart() {
    let gratuitous = |l: &mut IpLayer| {
        drain(l)
            .iter()
            .filter(|f| f.dst == MacAddr::BROADCAST && f.arp().is_gratuitous())
            .map(|f| f.arp().sender_ip)
            .collect::<Vec<_>>()
    };
    let mut l = IpLayer::new(IpConfig::default());
    let mut up = Recorder::default();
    let i = l.add_interface(&device("tap0", MAC0, 1500));
    l.set_address(i, Some(cidr("10.0.0.1/24")), T0).unwrap();
    l.set_up(i, true, T0).unwrap();
    assert_eq!(gratuitous(&mut l), [US0]);
    let again = T0 + Duration::from_secs(2);
    assert_eq!(l.poll_at(), Some(again));
    l.poll(again - Duration::from_millis(1), &mut up);
    assert!(gratuitous(&mut l).is_empty());
    l.poll(again, &mut up);
    assert_eq!(gratuitous(&mut l), [US0]);
    assert_eq!(l.poll_at(), None);
    l.poll(again + Duration::from_secs(60), &mut up);
    assert!(gratuitous(&mut l).is_empty());

    // A new address at 1 s: announced then and at 3 s, not at 2 s for the old one.
    let new = Ipv4Addr::new(10, 0, 0, 50);
    let t1 = again + Duration::from_secs(1);
    l.set_address(i, Some(cidr("10.0.0.1/24")), again).unwrap();
    assert_eq!(gratuitous(&mut l), [US0]);
    l.set_address(i, Some(Ipv4Cidr::new(new, 24).unwrap()), t1)
        .unwrap();
    assert_eq!(gratuitous(&mut l), [new]);
    l.poll(again + Duration::from_secs(2), &mut up);
    assert!(gratuitous(&mut l).is_empty());
    l.poll(t1 + Duration::from_secs(2), &mut up);
    assert_eq!(gratuitous(&mut l), [new]);

    // Down before the second: none.
    let t2 = t1 + Duration::from_secs(10);
    l.set_address(i, Some(cidr("10.0.0.1/24")), t2).unwrap();
    assert_eq!(gratuitous(&mut l), [US0]);
    l.set_up(i, false, t2).unwrap();
    l.poll(t2 + Duration::from_secs(2), &mut up);
    assert!(gratuitous(&mut l).is_empty());
}

// ==== Echo ===================================================================================

#[test]
fn echo_request_of_56_bytes_is_answered_with_the_same_data() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let data = pattern(56, 9);
    // Built by etherparse, as an independent sender would.
    let b = etherparse::PacketBuilder::ethernet2(MAC_A.0, MAC0.0)
        .ipv4(HOST_A.octets(), US0.octets(), 17)
        .icmpv4_echo_request(0x1c0d, 7);
    let mut frame = Vec::with_capacity(b.size(data.len()));
    b.write(&mut frame, &data).unwrap();
    l.receive_frame(0, &frame, T0, &mut up);

    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].ifindex, out[0].dst, out[0].src), (0, MAC_A, MAC0));
    let p = out[0].ip();
    assert_eq!(
        (p.src(), p.dst(), p.ttl(), p.protocol()),
        (US0, HOST_A, 64, ICMP)
    );
    assert_eq!(
        out[0].icmp(),
        IcmpRepr::EchoReply {
            ident: 0x1c0d,
            seq: 7,
            data: &data
        }
    );
    // etherparse agrees.
    let frame = eth(out[0].dst, out[0].src, out[0].ethertype, &out[0].payload);
    let s = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
    match s.transport {
        Some(etherparse::TransportSlice::Icmpv4(m)) => {
            match m.icmp_type() {
                etherparse::Icmpv4Type::EchoReply(h) => assert_eq!((h.id, h.seq), (0x1c0d, 7)),
                t => panic!("{t:?}"),
            }
            assert_eq!(m.payload(), &data[..]);
            assert_eq!(m.checksum(), m.icmp_type().calc_checksum(m.payload()));
        }
        t => panic!("{t:?}"),
    }
    let st = l.icmp_stats();
    assert_eq!((st.rx_echo_requests, st.tx_echo_replies), (1, 1));
    // Raw sockets saw the request too.
    assert_eq!(up.delivered.len(), 1);
}

#[test]
fn echo_request_of_65000_bytes_in_shuffled_fragments_is_answered_in_fragments() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let data = pattern(65000, 5);
    let msg = echo_request(0x4444, 9, &data);
    let mut frags = Hdr::new(HOST_A, US0, ICMP)
        .ident(0x0bad)
        .fragments(&msg, 1480);
    assert!((44..=46).contains(&frags.len()), "{}", frags.len());
    Rng(0x5eed_1234).shuffle(&mut frags);
    for (k, f) in frags.iter().enumerate() {
        rx_ip(&mut l, &mut up, 0, f, at_ms(k as u64));
    }
    assert_eq!(l.stats().reassembled, 1);
    assert_eq!(l.reassembly_usage(), (0, 0));

    let out = drain(&mut l);
    assert!(
        out.len() >= 44,
        "the reply is fragmented: {} frames",
        out.len()
    );
    for s in &out {
        assert_eq!((s.ifindex, s.dst, s.src), (0, MAC_A, MAC0));
        let p = s.ip();
        assert!(p.total_len() <= 1500);
        assert_eq!((p.src(), p.dst(), p.ttl()), (US0, HOST_A, 64));
        assert!(p.is_fragment());
    }
    let whole = reassemble(out.iter().map(|s| &s.payload[..]));
    let p = Ipv4Packet::new_checked(&whole).unwrap();
    assert_eq!(p.protocol(), ICMP);
    assert_eq!(
        IcmpRepr::parse(p.payload()).unwrap(),
        IcmpRepr::EchoReply {
            ident: 0x4444,
            seq: 9,
            data: &data
        }
    );
}

#[test]
fn a_fragmented_echo_reply_waits_whole_for_arp() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let data = pattern(20_000, 6);
    let frags = Hdr::new(HOST_A, US0, ICMP).fragments(&echo_request(8, 9, &data), 1480);
    for f in &frags {
        rx_ip(&mut l, &mut up, 0, f, T0);
    }
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "one ARP request, the reply's fragments wait");
    let req = out[0].arp();
    assert_eq!(req.target_ip, HOST_A);
    let reply = ArpRepr::reply_to(&req, MAC_A);
    l.receive_frame(0, &arp_frame(MAC0, MAC_A, &reply), at_ms(3), &mut up);
    let out = drain(&mut l);
    assert_eq!(out.len(), 14, "ceil(20008 / 1480) fragments, all released");
    assert!(out.iter().all(|s| s.dst == MAC_A));
    let whole = reassemble(out.iter().map(|s| &s.payload[..]));
    let p = Ipv4Packet::new_checked(&whole).unwrap();
    assert_eq!(
        IcmpRepr::parse(p.payload()).unwrap(),
        IcmpRepr::EchoReply {
            ident: 8,
            seq: 9,
            data: &data
        }
    );
}

#[test]
fn broadcast_echo_is_not_answered_and_counted() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let msg = echo_request(1, 1, &pattern(56, 0));
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, BCAST0, ICMP).packet(&msg),
        T0,
    );
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, Ipv4Addr::BROADCAST, ICMP).packet(&msg),
        T0,
    );
    // Our unicast address, but in a link-layer broadcast frame: not even delivered
    // (RFC 1122 3.3.6).
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, ICMP).packet(&msg),
        T0,
    );
    assert!(drain(&mut l).is_empty());
    let st = l.icmp_stats();
    assert_eq!(
        (
            st.rx_echo_requests,
            st.drop_broadcast_echo,
            st.tx_echo_replies
        ),
        (2, 2, 0)
    );
    assert_eq!(l.stats().drop_link_broadcast, 1);
    assert!(up.delivered.iter().all(|g| g.broadcast));
}

// ==== Input validation =======================================================================

/// A valid echo request from A to us (84 bytes), and what it must produce.
fn valid_ping() -> Vec<u8> {
    Hdr::new(HOST_A, US0, ICMP).packet(&echo_request(3, 4, &pattern(56, 1)))
}

/// Receive `packet` on a fresh one-interface layer and check it was dropped with exactly the
/// given counters.
fn assert_dropped(packet: &[u8], expected: IpStats) {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    rx_ip(&mut l, &mut up, 0, packet, T0);
    assert!(up.delivered.is_empty(), "{up:?}");
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats(), expected);
    assert_eq!(l.icmp_stats(), Default::default());
}

fn one_drop(f: impl FnOnce(&mut IpStats)) -> IpStats {
    let mut s = IpStats {
        rx_packets: 1,
        ..Default::default()
    };
    f(&mut s);
    s
}

#[test]
fn valid_ping_is_answered_as_a_baseline() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    rx_ip(&mut l, &mut up, 0, &valid_ping(), T0);
    assert_eq!(drain(&mut l).len(), 1);
    assert_eq!(l.stats().rx_delivered, 1);
}

#[test]
fn truncated_header_is_dropped_and_counted() {
    let p = valid_ping();
    assert_dropped(&p[..19], one_drop(|s| s.drop_truncated = 1));
}

#[test]
fn version_6_is_dropped_and_counted() {
    let mut p = valid_ping();
    p[0] = 0x65;
    assert_dropped(&p, one_drop(|s| s.drop_bad_version = 1));
}

#[test]
fn header_length_below_5_is_dropped_and_counted() {
    let mut p = valid_ping();
    p[0] = 0x44;
    assert_dropped(&p, one_drop(|s| s.drop_bad_header_len = 1));
}

#[test]
fn total_length_beyond_the_frame_is_dropped_and_counted() {
    let mut p = valid_ping();
    p[2..4].copy_from_slice(&85u16.to_be_bytes());
    ipv4::fill_checksum(&mut p[..20]);
    assert_dropped(&p, one_drop(|s| s.drop_bad_total_len = 1));
}

#[test]
fn total_length_below_the_header_is_dropped_and_counted() {
    let mut p = valid_ping();
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    ipv4::fill_checksum(&mut p[..20]);
    assert_dropped(&p, one_drop(|s| s.drop_bad_total_len = 1));
}

#[test]
fn bad_header_checksum_is_dropped_and_counted() {
    let mut p = valid_ping();
    p[8] = 63;
    assert_dropped(&p, one_drop(|s| s.drop_bad_checksum = 1));
}

#[test]
fn icmp_with_a_bad_checksum_is_not_answered() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    let mut msg = echo_request(3, 4, &pattern(56, 1));
    msg[20] ^= 0x40;
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, ICMP).packet(&msg),
        T0,
    );
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, ICMP).packet(&msg[..7]),
        T0,
    );
    assert!(drain(&mut l).is_empty());
    let ic = l.icmp_stats();
    assert_eq!(
        (ic.drop_bad_checksum, ic.drop_truncated, ic.tx_messages),
        (1, 1, 0)
    );
}

#[test]
fn martian_sources_are_dropped() {
    for src in [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::new(239, 1, 2, 3),
        Ipv4Addr::new(240, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 3, 2, 1),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(0, 1, 2, 3),
    ] {
        let p = Hdr::new(src, US0, ICMP).packet(&echo_request(3, 4, &pattern(56, 1)));
        assert_dropped(&p, one_drop(|s| s.drop_bad_source = 1));
    }
}

#[test]
fn our_own_address_as_source_from_outside_is_dropped() {
    // A "land" SYN (source = destination = 10.0.0.1) on tap0: only loopback brings our
    // own datagrams back; from a wire it is martian (as Linux drops it) and never reaches
    // TCP, which would otherwise answer itself.
    let syn = [0u8; 20];
    let p = Hdr::new(US0, US0, ipv4::protocol::TCP).packet(&syn);
    assert_dropped(&p, one_drop(|s| s.drop_bad_source = 1));
    // So is an echo request "from" us.
    let p = Hdr::new(US0, US0, ICMP).packet(&echo_request(3, 4, &pattern(56, 1)));
    assert_dropped(&p, one_drop(|s| s.drop_bad_source = 1));
    // And our address on another interface, arriving on this one.
    let mut l = router();
    let mut up = Recorder::default();
    let p = Hdr::new(US1, US0, UDP).packet(b"spoofed");
    rx_ip(&mut l, &mut up, 0, &p, T0);
    assert!(up.delivered.is_empty(), "{up:?}");
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_bad_source, 1);
}

#[test]
fn directed_broadcast_source_is_dropped() {
    // RFC 1122 3.2.1.3: {<Network>, -1} is never a source; answering it would reach everyone.
    let p = Hdr::new(BCAST0, US0, ICMP).packet(&echo_request(3, 4, &pattern(56, 1)));
    assert_dropped(&p, one_drop(|s| s.drop_bad_source = 1));
}

#[test]
fn loopback_destination_from_the_network_is_not_delivered() {
    // RFC 1122 3.2.1.3 (g), RFC 1812 5.3.7: 127/8 never appears outside a host, so services
    // bound to loopback are not reachable from the wire.
    let mut l = one_iface();
    let lo = l.add_interface(&loopback_device());
    l.set_address(lo, Some(cidr("127.0.0.1/8")), T0).unwrap();
    l.set_up(lo, true, T0).unwrap();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let p = Hdr::new(HOST_A, Ipv4Addr::new(127, 0, 0, 1), UDP).packet(b"secret");
    rx_ip(&mut l, &mut up, 0, &p, T0);
    let ping =
        Hdr::new(HOST_A, Ipv4Addr::new(127, 0, 0, 1), ICMP).packet(&echo_request(1, 1, b"hi"));
    rx_ip(&mut l, &mut up, 0, &ping, T0);
    assert!(up.delivered.is_empty(), "{up:?}");
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().rx_delivered, 0);
    assert_eq!(l.stats().rx_forwarded, 0);
    assert_eq!(l.stats().drop_not_for_us, 2);
    // With lo down a router would have looked for a route: still dropped, not forwarded.
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    l.set_up(lo, false, T0).unwrap();
    rx_ip(&mut l, &mut up, 0, &p, T0);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_not_for_us, 3);
}

#[test]
fn frames_for_another_unicast_mac_are_ignored() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let frame = eth(MAC_OTHER, MAC_A, ethertype::IPV4, &valid_ping());
    l.receive_frame(0, &frame, T0, &mut up);
    let arp = ArpRepr::request(MAC_A, HOST_A, US0);
    l.receive_frame(0, &arp_frame(MAC_OTHER, MAC_A, &arp), T0, &mut up);
    assert!(up.delivered.is_empty());
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().rx_packets, 0);
    assert_eq!(l.interfaces()[0].stats.rx_not_our_mac, 2);
}

#[test]
fn runts_and_unknown_ethertypes_are_counted() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let frame = eth(MAC0, MAC_A, 0x86dd, &valid_ping());
    l.receive_frame(0, &frame, T0, &mut up);
    l.receive_frame(0, &frame[..13], T0, &mut up);
    assert!(up.delivered.is_empty());
    assert!(drain(&mut l).is_empty());
    let s = l.interfaces()[0].stats;
    assert_eq!((s.rx_frames, s.rx_runt, s.rx_unknown_type), (2, 1, 1));
}

#[test]
fn ethernet_padding_after_total_length_is_ignored() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let p = Hdr::new(HOST_A, US0, UDP).packet(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let mut frame = eth(MAC0, MAC_A, ethertype::IPV4, &p);
    frame.resize(60, 0xee); // minimum Ethernet frame (without FCS)
    l.receive_frame(0, &frame, T0, &mut up);
    assert_eq!(up.delivered.len(), 1);
    assert_eq!(
        up.delivered[0].packet, p,
        "the padding is not part of the datagram"
    );
    assert_eq!(
        Ipv4Packet::new_checked(&up.delivered[0].packet)
            .unwrap()
            .payload()
            .len(),
        10
    );

    // Padding after an echo request is not echoed back either.
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let ping = Hdr::new(HOST_A, US0, ICMP).packet(&echo_request(1, 2, b"abc"));
    let mut frame = eth(MAC0, MAC_A, ethertype::IPV4, &ping);
    frame.resize(60, 0xee);
    l.receive_frame(0, &frame, T0, &mut up);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].icmp(),
        IcmpRepr::EchoReply {
            ident: 1,
            seq: 2,
            data: b"abc"
        }
    );
}

#[test]
fn an_interface_that_is_down_ignores_frames() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.set_up(0, false, T0).unwrap();
    let mut up = Recorder::default();
    rx_ip(&mut l, &mut up, 0, &valid_ping(), T0);
    let arp = ArpRepr::request(MAC_A, HOST_A, US0);
    l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, MAC_A, &arp), T0, &mut up);
    assert!(up.delivered.is_empty());
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().rx_packets, 0);
    assert_eq!(l.interfaces()[0].stats.rx_down, 2);
    // Frames for an interface that does not exist are ignored too.
    l.receive_frame(
        7,
        &eth(MAC0, MAC_A, ethertype::IPV4, &valid_ping()),
        T0,
        &mut up,
    );
    assert!(up.delivered.is_empty());
}

/// Frames that reach every part of the input path.
fn sample_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    frames.push(eth(MAC0, MAC_A, ethertype::IPV4, &valid_ping()));
    let arp = ArpRepr::request(MAC_A, HOST_A, US0);
    frames.push(arp_frame(MacAddr::BROADCAST, MAC_A, &arp));
    // A first fragment and a last fragment.
    let frags = Hdr::new(HOST_A, US0, UDP)
        .ident(77)
        .fragments(&pattern(100, 2), 48);
    for f in &frags {
        frames.push(eth(MAC0, MAC_A, ethertype::IPV4, f));
    }
    // A header with options (4 NOPs), IHL 6.
    let mut opt = Hdr::new(HOST_A, US0, UDP).packet(&pattern(12, 4));
    opt.splice(20..20, [1u8, 1, 1, 1]);
    opt[0] = 0x46;
    let total = opt.len() as u16;
    opt[2..4].copy_from_slice(&total.to_be_bytes());
    ipv4::fill_checksum(&mut opt[..24]);
    frames.push(eth(MAC0, MAC_A, ethertype::IPV4, &opt));
    // An ICMP error about a datagram we sent, and a forwarded datagram.
    let ours = Hdr::new(US0, HOST_A, UDP).packet(&pattern(8, 6));
    let err = icmp_bytes(&IcmpRepr::DestUnreachable {
        code: icmp::unreach::PORT,
        next_hop_mtu: 0,
        original: &ours,
    });
    frames.push(eth(
        MAC0,
        MAC_A,
        ethertype::IPV4,
        &Hdr::new(HOST_A, US0, ICMP).packet(&err),
    ));
    let fwd = Hdr::new(HOST_A, HOST_B, UDP).ttl(1).packet(&pattern(30, 7));
    frames.push(eth(MAC0, MAC_A, ethertype::IPV4, &fwd));
    frames
}

#[test]
fn every_truncation_of_a_valid_frame_is_harmless() {
    let mut l = router();
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    for frame in sample_frames() {
        for n in 0..frame.len() {
            l.receive_frame(0, &frame[..n], T0, &mut up);
            l.receive_frame(1, &frame[..n], T0, &mut up);
        }
    }
    // Only whole ARP packets and whole datagrams get anywhere; a cut IPv4 datagram is never
    // delivered.
    assert!(up.delivered.is_empty(), "{:?}", up.delivered);
    assert!(up.errors.is_empty());
    assert!(drain(&mut l).iter().all(|s| !s.is_ip()));
    l.poll(T0 + Duration::from_secs(60), &mut up);
}

#[test]
fn random_garbage_does_not_panic_and_the_layer_still_works() {
    let mut l = router();
    let lo = l.add_interface(&loopback_device());
    l.set_address(lo, Some(cidr("127.0.0.1/8")), T0).unwrap();
    l.set_up(lo, true, T0).unwrap();
    let mut up = Recorder::default();
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let samples = sample_frames();
    let answers = [
        Delivery::Delivered,
        Delivery::ProtocolUnreachable,
        Delivery::PortUnreachable,
    ];
    let mut now = T0;
    for round in 0..20_000u64 {
        up.answer = answers[rng.below(3)];
        let mut frame = match rng.below(4) {
            // Noise.
            0 => (0..rng.below(120)).map(|_| rng.byte()).collect(),
            // Noise behind a plausible header, sometimes with a right checksum.
            1 => {
                let mut b: Vec<u8> = (0..rng.below(100)).map(|_| rng.byte()).collect();
                if b.len() >= 20 {
                    b[0] = 0x45;
                    if rng.below(2) == 0 {
                        let total = b.len() as u16;
                        b[2..4].copy_from_slice(&total.to_be_bytes());
                    }
                    b[12..16].copy_from_slice(&[10, 0, rng.below(2) as u8, rng.byte()]);
                    b[16..20].copy_from_slice(&[10, 0, rng.below(3) as u8, rng.byte()]);
                    ipv4::fill_checksum(&mut b[..20]);
                }
                let et = if rng.below(4) == 0 {
                    ethertype::ARP
                } else {
                    ethertype::IPV4
                };
                eth(MAC0, MAC_A, et, &b)
            }
            // A valid frame with a few bytes changed, cut, or extended.
            _ => {
                let mut f = samples[rng.below(samples.len())].clone();
                for _ in 0..=rng.below(4) {
                    let i = ethernet::HEADER_LEN + rng.below(f.len() - ethernet::HEADER_LEN);
                    f[i] = rng.byte();
                }
                match rng.below(4) {
                    0 => f.truncate(rng.below(f.len() + 1)),
                    1 => f.extend((0..rng.below(40)).map(|_| rng.byte())),
                    _ => {}
                }
                if f.len() >= ethernet::HEADER_LEN + 20 && f[12..14] == [8, 0] && rng.below(2) == 0
                {
                    let hl =
                        (usize::from(f[14] & 0x0f) * 4).clamp(20, f.len() - ethernet::HEADER_LEN);
                    ipv4::fill_checksum(&mut f[14..14 + hl]);
                }
                f
            }
        };
        if rng.below(8) == 0 && frame.len() >= 6 {
            frame[..6].copy_from_slice(&MacAddr::BROADCAST.0);
        }
        let ifindex = rng.below(4); // 3 is no interface at all
        l.receive_frame(ifindex, &frame, now, &mut up);
        if round % 64 == 0 {
            now += Duration::from_millis(rng.below(3000) as u64);
            l.poll(now, &mut up);
            // Loop back whatever the layer sent on lo, as the loopback driver would.
            let sent: Vec<_> = l.take_tx().collect();
            for f in sent.iter().filter(|f| f.ifindex == lo) {
                l.receive_frame(lo, &f.data, now, &mut up);
            }
        }
    }
    drain(&mut l);
    // The noise reached the deep paths, not only the first checks.
    let (st, ic) = (l.stats(), l.icmp_stats());
    assert!(
        st.rx_delivered > 0 && st.rx_forwarded > 0 && st.reassembled > 0,
        "{st:?}"
    );
    assert!(
        ic.rx_errors > 0 && ic.tx_time_exceeded > 0 && ic.tx_echo_replies > 0,
        "{ic:?}"
    );
    // Still a working host.
    now += Duration::from_secs(1);
    introduce(&mut l, 0, HOST_A, MAC_A, now);
    rx_ip(&mut l, &mut up, 0, &valid_ping(), now);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert!(matches!(
        out[0].icmp(),
        IcmpRepr::EchoReply {
            ident: 3,
            seq: 4,
            ..
        }
    ));
}

// ==== ICMP errors (RFC 1122 3.2.2, RFC 1812 4.3.2.7) =========================================

/// The one ICMP error the layer sent, checked to come from `from` to HOST_A by if0.
fn the_error(l: &mut IpLayer, from: Ipv4Addr) -> Sent {
    let out = drain(l);
    assert_eq!(out.len(), 1, "{out:?}");
    let s = out.into_iter().next().unwrap();
    assert_eq!((s.ifindex, s.dst, s.src), (0, MAC_A, MAC0));
    let p = s.ip();
    assert_eq!((p.src(), p.dst(), p.protocol()), (from, HOST_A, ICMP));
    assert!(s.icmp().is_error());
    s
}

#[test]
fn protocol_unreachable_when_upper_has_no_handler() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::ProtocolUnreachable);
    let dgram = Hdr::new(HOST_A, US0, 99).packet(&pattern(40, 8));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    assert_eq!(up.delivered.len(), 1);
    let s = the_error(&mut l, US0);
    assert_eq!(
        s.icmp(),
        IcmpRepr::DestUnreachable {
            code: icmp::unreach::PROTOCOL,
            next_hop_mtu: 0,
            original: &dgram
        }
    );
    assert_eq!(l.stats().drop_unknown_protocol, 1);
    assert_eq!(l.icmp_stats().tx_dest_unreachable, 1);
}

#[test]
fn port_unreachable_when_upper_has_no_endpoint() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let dgram = Hdr::new(HOST_A, US0, UDP).packet(&pattern(40, 8));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let s = the_error(&mut l, US0);
    assert_eq!(
        s.icmp(),
        IcmpRepr::DestUnreachable {
            code: icmp::unreach::PORT,
            next_hop_mtu: 0,
            original: &dgram
        }
    );
}

#[test]
fn delivered_datagrams_get_no_error() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::Delivered);
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, UDP).packet(b"fine"),
        T0,
    );
    assert!(drain(&mut l).is_empty());
}

#[test]
fn no_error_about_an_icmp_error_message() {
    let mut l = router();
    let mut up = Recorder::default();
    let inner = Hdr::new(HOST_B, HOST_A, UDP).packet(&pattern(8, 0));
    for kind in [
        icmp::kind::DEST_UNREACHABLE,
        icmp::kind::TIME_EXCEEDED,
        icmp::kind::REDIRECT,
    ] {
        let msg = match kind {
            icmp::kind::DEST_UNREACHABLE => IcmpRepr::DestUnreachable {
                code: 3,
                next_hop_mtu: 0,
                original: &inner,
            },
            icmp::kind::TIME_EXCEEDED => IcmpRepr::TimeExceeded {
                code: 0,
                original: &inner,
            },
            _ => IcmpRepr::Redirect {
                code: 1,
                gateway: ROUTER_C,
                original: &inner,
            },
        };
        // TTL runs out, and another with no route: neither is answered.
        let m = icmp_bytes(&msg);
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(HOST_A, HOST_B, ICMP).ttl(1).packet(&m),
            T0,
        );
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(HOST_A, Ipv4Addr::new(192, 168, 9, 9), ICMP).packet(&m),
            T0,
        );
    }
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.icmp_stats().errors_suppressed, 6);
    assert_eq!(
        (l.stats().drop_ttl_expired, l.stats().drop_no_route),
        (3, 3)
    );
    // An ICMP query is an ordinary datagram: its TTL running out is reported.
    let ping = Hdr::new(HOST_A, HOST_B, ICMP)
        .ttl(1)
        .packet(&echo_request(1, 1, b"x"));
    rx_ip(&mut l, &mut up, 0, &ping, T0);
    let s = the_error(&mut l, US0);
    assert!(matches!(s.icmp(), IcmpRepr::TimeExceeded { code: 0, .. }));
}

#[test]
fn no_error_about_a_datagram_to_a_broadcast_address() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, BCAST0, UDP).packet(b"a"),
        T0,
    );
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, Ipv4Addr::BROADCAST, UDP).packet(b"b"),
        T0,
    );
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, UDP).packet(b"c"),
        T0,
    );
    // IP broadcast in a unicast frame.
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, BCAST0, UDP).packet(b"d"),
        T0,
    );
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, Ipv4Addr::new(224, 0, 0, 1), UDP).packet(b"e"),
        T0,
    );
    // Protocol unreachable is no different.
    up.answer = Delivery::ProtocolUnreachable;
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, BCAST0, 99).packet(b"f"),
        T0,
    );
    // (The unicast one in a link-layer broadcast frame is discarded before delivery.)
    assert_eq!(up.delivered.len(), 5);
    assert!(up.delivered.iter().all(|g| g.broadcast), "{up:?}");
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.icmp_stats().errors_suppressed, 5);
    assert_eq!(l.stats().drop_link_broadcast, 1);
}

#[test]
fn no_error_about_a_non_first_fragment() {
    let mut l = router();
    let mut up = Recorder::default();
    let frag = Hdr::new(HOST_A, HOST_B, UDP)
        .ttl(1)
        .frag(1480, true)
        .packet(&pattern(64, 0));
    rx_ip(&mut l, &mut up, 0, &frag, T0);
    let last = Hdr::new(HOST_A, Ipv4Addr::new(192, 168, 9, 9), UDP)
        .frag(8, false)
        .packet(b"tail");
    rx_ip(&mut l, &mut up, 0, &last, T0);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.icmp_stats().errors_suppressed, 2);
    // The first fragment is reported.
    let first = Hdr::new(HOST_A, HOST_B, UDP)
        .ttl(1)
        .frag(0, true)
        .packet(&pattern(64, 0));
    rx_ip(&mut l, &mut up, 0, &first, T0);
    let s = the_error(&mut l, US0);
    assert!(matches!(s.icmp(), IcmpRepr::TimeExceeded { code: 0, .. }));
}

#[test]
fn no_error_to_a_source_that_is_not_one_host() {
    let mut l = one_iface();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    // A default route, so an error to any source could be sent if the rules allowed it.
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(Ipv4Addr::UNSPECIFIED, US0, UDP).packet(b"unicast"),
        T0,
    );
    assert!(
        up.delivered.is_empty(),
        "0.0.0.0 to a unicast address is martian"
    );
    assert_eq!(l.stats().drop_bad_source, 1);
    rx_ip_bcast(
        &mut l,
        &mut up,
        0,
        &Hdr::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, UDP).packet(b"dhcp?"),
        T0,
    );
    assert_eq!(
        up.delivered.len(),
        1,
        "0.0.0.0 may broadcast while it learns its address (RFC 1122 3.2.1.3 (a))"
    );
    assert!(drain(&mut l).is_empty(), "but gets no error");
}

/// On a route whose MTU is below 576 the error is cut to the MTU, so that it leaves whole
/// (Linux's `icmp_send` sizes it to the route's MTU within 576): it was cut to 576 and
/// left in fragments, which the sender may never put together.
#[test]
fn errors_fit_a_route_mtu_below_576() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.set_mtu(0, 300).unwrap();
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let dgram = Hdr::new(HOST_A, US0, UDP).packet(&pattern(1000, 4));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "one datagram, not fragments: {out:?}");
    assert_eq!(out[0].ip().total_len(), 300);
    match out[0].icmp() {
        IcmpRepr::DestUnreachable { original, .. } => {
            assert_eq!(original, &dgram[..300 - 20 - 8])
        }
        other => panic!("{other:?}"),
    }
    // At the least MTU there is (68) the quote still holds the header and the 8 octets
    // the sender needs (RFC 792), and a few more.
    l.set_mtu(0, 68).unwrap();
    rx_ip(&mut l, &mut up, 0, &dgram, T0 + Duration::from_secs(1));
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ip().total_len(), 68);
    match out[0].icmp() {
        IcmpRepr::DestUnreachable { original, .. } => {
            assert_eq!(original, &dgram[..68 - 20 - 8])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_quote_at_most_576_bytes_in_all() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let dgram = Hdr::new(HOST_A, US0, UDP).packet(&pattern(1000, 4));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let s = the_error(&mut l, US0);
    assert_eq!(s.ip().total_len(), 576);
    match s.icmp() {
        IcmpRepr::DestUnreachable { original, .. } => {
            assert_eq!(
                original,
                &dgram[..576 - 20 - 8],
                "the header and as much data as fits"
            )
        }
        other => panic!("{other:?}"),
    }
    // A short datagram is quoted whole.
    let small = Hdr::new(HOST_A, US0, UDP).packet(&pattern(12, 4));
    rx_ip(&mut l, &mut up, 0, &small, T0);
    let s = the_error(&mut l, US0);
    assert_eq!(s.ip().total_len(), 20 + 8 + small.len());
}

#[test]
fn errors_are_rate_limited() {
    // The bucket for all destinations, alone: HOST_A's own bucket is made large here (see
    // the next test for the destination's own).
    let mut l = one_iface_with(IpConfig {
        icmp_peer_rate: (1_000_000, 1_000_000),
        ..IpConfig::default()
    });
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let (per_second, burst) = IpConfig::default().icmp_rate;
    assert_eq!((per_second, burst), (1000, 50));
    let dgram = Hdr::new(HOST_A, US0, UDP).packet(b"knock");
    let burst_of = |l: &mut IpLayer, up: &mut Recorder, now: Instant| {
        for _ in 0..200 {
            rx_ip(l, up, 0, &dgram, now);
        }
        drain(l).len()
    };
    assert_eq!(burst_of(&mut l, &mut up, T0), 50, "the burst, then nothing");
    assert_eq!(l.icmp_stats().errors_rate_limited, 150);
    assert_eq!(burst_of(&mut l, &mut up, T0), 0, "still the same instant");
    assert_eq!(
        burst_of(&mut l, &mut up, at_ms(10)),
        10,
        "one per millisecond refilled"
    );
    assert_eq!(
        burst_of(&mut l, &mut up, at_ms(10_000)),
        50,
        "refilled to the burst, no more"
    );
    // Echo replies are not errors and not limited.
    let ping = valid_ping();
    for _ in 0..100 {
        rx_ip(&mut l, &mut up, 0, &ping, at_ms(10_000));
    }
    assert_eq!(drain(&mut l).len(), 100);
}

/// Each destination has its own bucket too, checked first, as Linux's `icmp_ratelimit`:
/// a burst of 6, then one a second; what it holds back does not draw on the bucket for
/// all destinations.
#[test]
fn errors_to_one_destination_are_limited_to_a_burst_of_6_then_one_a_second() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    assert_eq!(IpConfig::default().icmp_peer_rate, (1, 6));
    let dgram = Hdr::new(HOST_A, US0, UDP).packet(b"knock");
    let burst_of = |l: &mut IpLayer, up: &mut Recorder, now: Instant| {
        for _ in 0..100 {
            rx_ip(l, up, 0, &dgram, now);
        }
        drain(l).len()
    };
    assert_eq!(burst_of(&mut l, &mut up, T0), 6);
    assert_eq!(burst_of(&mut l, &mut up, at_ms(999)), 0);
    assert_eq!(burst_of(&mut l, &mut up, at_ms(1000)), 1);
    assert_eq!(
        burst_of(&mut l, &mut up, at_ms(30_000)),
        6,
        "no more than the burst"
    );
    assert_eq!(l.icmp_stats().errors_rate_limited, 400 - 13);
}

/// Errors go with precedence 6, "internetwork control", keeping the offending datagram's
/// TOS bits (not its precedence or ECN bits): RFC 1812 4.3.2.5, Linux's `icmp_send`.
#[test]
fn errors_have_internetwork_control_precedence() {
    let mut l = router();
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let mut d = Hdr::new(HOST_A, US0, UDP).packet(b"q");
    d[1] = 0x20 | 0x10 | 0x01; // precedence 1, low delay, ECT(1)
    ipv4::fill_checksum(&mut d[..ipv4::HEADER_LEN]);
    rx_ip(&mut l, &mut up, 0, &d, T0);
    assert_eq!(the_error(&mut l, US0).ip().tos(), 0xc0 | 0x10);
}

#[test]
fn errors_have_ttl_64() {
    let mut l = router();
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, UDP).ttl(3).packet(b"q"),
        T0,
    );
    assert_eq!(the_error(&mut l, US0).ip().ttl(), 64);
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, HOST_B, UDP).ttl(1).packet(b"q"),
        T0,
    );
    assert_eq!(the_error(&mut l, US0).ip().ttl(), 64);
}

#[test]
fn icmp_errors_from_the_network_are_reported_to_upper() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let ours = Hdr::new(US0, HOST_A, UDP).packet(&pattern(8, 6));
    let err = icmp_bytes(&IcmpRepr::DestUnreachable {
        code: icmp::unreach::FRAG_NEEDED,
        next_hop_mtu: 1400,
        original: &ours,
    });
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(ROUTER_C, US0, ICMP).packet(&err),
        T0,
    );
    assert_eq!(up.errors.len(), 1);
    let e = &up.errors[0];
    assert_eq!((e.from, e.kind, e.code, e.info), (ROUTER_C, 3, 4, 1400));
    assert_eq!(
        (e.orig_src, e.orig_dst, e.orig_protocol),
        (US0, HOST_A, UDP)
    );
    assert_eq!(usize::from(e.orig_total_len), ours.len());
    assert_eq!(e.orig_payload, pattern(8, 6));
    assert_eq!(l.icmp_stats().rx_errors, 1);
    assert!(drain(&mut l).is_empty(), "never an error about an error");
}

#[test]
fn parameter_problem_and_source_quench_are_reported_to_upper() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let ours = Hdr::new(US0, HOST_A, UDP).packet(&pattern(8, 6));
    for (kind, code, word) in [(12u8, 0u8, [9u8, 0, 0, 0]), (4, 0, [0; 4])] {
        let mut m = vec![kind, code, 0, 0];
        m.extend_from_slice(&word);
        m.extend_from_slice(&ours);
        let c = ip::checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(ROUTER_C, US0, ICMP).packet(&m),
            T0,
        );
    }
    assert_eq!(up.errors.len(), 2);
    assert_eq!(
        (up.errors[0].kind, up.errors[0].info),
        (12, 9),
        "with the pointer"
    );
    assert_eq!(up.errors[1].kind, 4);
    assert!(up
        .errors
        .iter()
        .all(|e| e.orig_dst == HOST_A && e.orig_payload == pattern(8, 6)));
    assert!(drain(&mut l).is_empty());
}

#[test]
fn icmp_messages_of_a_type_not_acted_on_are_counted_and_not_answered() {
    // Timestamp (13) and information (15) requests, an address mask reply (18), a router
    // advertisement (9) and an unassigned type (42): raw sockets see them, nothing here
    // acts on them (no timestamp replies), and each is counted as such, not only as
    // received.
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    let kinds = [13u8, 15, 18, 9, 42];
    for kind in kinds {
        let mut m = vec![kind, 0, 0, 0, 0, 1, 0, 2];
        m.extend_from_slice(&[0; 12]);
        let c = ip::checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(HOST_A, US0, ICMP).packet(&m),
            T0,
        );
    }
    assert!(drain(&mut l).is_empty(), "none is answered");
    assert_eq!(up.delivered.len(), kinds.len(), "raw sockets see them all");
    let st = l.icmp_stats();
    assert_eq!(st.rx_messages, kinds.len() as u64);
    assert_eq!(
        st,
        ip::IcmpStats {
            rx_messages: kinds.len() as u64,
            drop_ignored_type: kinds.len() as u64,
            ..Default::default()
        },
        "counted by what became of them"
    );
}

#[test]
fn routes_via_our_own_address_or_without_next_hop_are_refused() {
    let mut l = one_iface();
    assert_eq!(
        l.add_route(cidr("10.9.0.0/16"), Some(US0), None),
        Err(ConfigError::Route(RouteError::GatewayIsLocal(US0)))
    );
    assert_eq!(
        l.add_route(cidr("10.9.0.0/16"), None, None),
        Err(ConfigError::Route(RouteError::NeedsGatewayOrDevice))
    );
}

// ==== Forwarding (RFC 1812 5.2, 5.3) =========================================================

#[test]
fn forwarded_datagram_leaves_with_ttl_decremented_and_valid_checksum() {
    let mut l = router();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, HOST_B, UDP)
        .ttl(64)
        .ident(0x7777)
        .packet(&pattern(200, 2));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].ifindex, out[0].dst, out[0].src), (1, MAC_B, MAC1));
    let p = out[0].ip();
    assert_eq!(p.ttl(), 63);
    assert_eq!(
        (p.src(), p.dst(), p.ident(), p.protocol()),
        (HOST_A, HOST_B, 0x7777, UDP)
    );
    assert_eq!(p.payload(), &dgram[20..]);
    assert!(up.delivered.is_empty(), "not for us");
    assert_eq!(l.stats().rx_forwarded, 1);
}

#[test]
fn forwarding_ttl_1_is_answered_with_time_exceeded_and_not_forwarded() {
    let mut l = router();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, HOST_B, UDP).ttl(1).packet(&pattern(20, 2));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let s = the_error(&mut l, US0);
    assert_eq!(
        s.icmp(),
        IcmpRepr::TimeExceeded {
            code: icmp::exceeded::TTL,
            original: &dgram
        }
    );
    assert_eq!(l.stats().drop_ttl_expired, 1);
    assert_eq!(l.stats().rx_forwarded, 0);
    assert_eq!(l.icmp_stats().tx_time_exceeded, 1);
    // TTL 0 likewise.
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, HOST_B, UDP).ttl(0).packet(b"z"),
        T0,
    );
    the_error(&mut l, US0);
}

#[test]
fn forwarding_with_no_route_gives_net_unreachable() {
    let mut l = router();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, Ipv4Addr::new(192, 168, 7, 7), UDP).packet(&pattern(20, 2));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let s = the_error(&mut l, US0);
    assert_eq!(
        s.icmp(),
        IcmpRepr::DestUnreachable {
            code: icmp::unreach::NET,
            next_hop_mtu: 0,
            original: &dgram
        }
    );
    assert_eq!(l.stats().drop_no_route, 1);
}

#[test]
fn leaving_by_the_incoming_interface_sends_a_redirect_and_still_forwards() {
    let mut l = router();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    l.add_route(cidr("10.0.2.0/24"), Some(ROUTER_C), Some(0))
        .unwrap();
    let mut up = Recorder::default();
    let far = Ipv4Addr::new(10, 0, 2, 9);
    let dgram = Hdr::new(HOST_A, far, UDP).packet(&pattern(30, 3));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);

    let out = drain(&mut l);
    assert_eq!(out.len(), 2, "{out:?}");
    let (redirect, fwd): (Vec<&Sent>, Vec<&Sent>) = out.iter().partition(|s| s.dst == MAC_A);
    let (redirect, fwd) = (redirect[0], fwd[0]);
    assert_eq!(
        (redirect.ifindex, redirect.ip().src(), redirect.ip().dst()),
        (0, US0, HOST_A)
    );
    assert_eq!(
        redirect.icmp(),
        IcmpRepr::Redirect {
            code: icmp::redirect::HOST,
            gateway: ROUTER_C,
            original: &dgram
        }
    );
    assert_eq!((fwd.ifindex, fwd.dst, fwd.src), (0, MAC_C, MAC0));
    assert_eq!((fwd.ip().dst(), fwd.ip().ttl()), (far, 63));
    assert_eq!(l.icmp_stats().tx_redirects, 1);
    assert_eq!(l.stats().rx_forwarded, 1);

    // No redirect when there is nothing to tell: a non-first fragment is forwarded silently,
    // and is not counted as a redirect sent.
    let frag = Hdr::new(HOST_A, far, UDP).frag(8, false).packet(b"tail");
    rx_ip(&mut l, &mut up, 0, &frag, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, MAC_C);
    assert_eq!(l.icmp_stats().tx_redirects, 1);

    // A datagram dropped for its size draws "fragmentation needed" alone, as Linux's
    // ip_forward (a redirect went too, for a datagram that never left: found by a review).
    l.set_mtu(0, 576).unwrap();
    let big = Hdr::new(HOST_A, far, UDP).df().packet(&pattern(1000, 3));
    rx_ip(&mut l, &mut up, 0, &big, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(matches!(
        out[0].icmp(),
        IcmpRepr::DestUnreachable {
            code: icmp::unreach::FRAG_NEEDED,
            ..
        }
    ));
    assert_eq!(l.icmp_stats().tx_redirects, 1);
    // Without DF it is cut and leaves: the redirect goes with it.
    let big = Hdr::new(HOST_A, far, UDP).packet(&pattern(1000, 3));
    rx_ip(&mut l, &mut up, 0, &big, T0);
    assert_eq!(drain(&mut l).len(), 3, "a redirect and two fragments");
    assert_eq!(l.icmp_stats().tx_redirects, 2);
}

#[test]
fn too_big_with_df_gets_fragmentation_needed_with_the_next_hop_mtu() {
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, HOST_B, UDP).df().packet(&pattern(1000, 3));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let s = the_error(&mut l, US0);
    match s.icmp() {
        IcmpRepr::DestUnreachable {
            code,
            next_hop_mtu,
            original,
        } => {
            assert_eq!((code, next_hop_mtu), (icmp::unreach::FRAG_NEEDED, 576));
            assert_eq!(original, &dgram[..548]);
        }
        other => panic!("{other:?}"),
    }
    // etherparse reads the MTU in the same place.
    let e = etherparse::Icmpv4Slice::from_slice(s.ip().payload()).unwrap();
    assert_eq!(e.bytes5to8(), [0, 0, 0x02, 0x40]);
    assert_eq!(l.stats().drop_frag_needed, 1);
    // Dropped, not forwarded (found by a review: it was counted as both).
    assert_eq!(l.stats().rx_forwarded, 0);
    // Nor is a fragment reaching past 65,535 bytes.
    let bad = Hdr::new(HOST_A, HOST_B, UDP)
        .ident(0x7777)
        .frag(65_000, true)
        .packet(&pattern(1000, 9));
    rx_ip(&mut l, &mut up, 0, &bad, T0);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_bad_fragment, 1);
    assert_eq!(l.stats().rx_forwarded, 0);
    // Fits: forwarded with DF kept.
    let ok = Hdr::new(HOST_A, HOST_B, UDP).df().packet(&pattern(556, 3));
    rx_ip(&mut l, &mut up, 0, &ok, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ifindex, 1);
    assert!(out[0].ip().dont_fragment());
    assert_eq!(l.stats().rx_forwarded, 1);
}

#[test]
fn too_big_without_df_is_fragmented() {
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, HOST_B, UDP)
        .ident(0x5151)
        .packet(&pattern(1000, 3));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 2, "552 + 448 bytes");
    for s in &out {
        assert_eq!((s.ifindex, s.dst, s.src), (1, MAC_B, MAC1));
        let p = s.ip();
        assert!(p.total_len() <= 576);
        assert_eq!(
            (p.ttl(), p.ident(), p.src(), p.dst()),
            (63, 0x5151, HOST_A, HOST_B)
        );
        assert_eq!(p.frag_offset() % 8, 0);
    }
    let whole = reassemble(out.iter().map(|s| &s.payload[..]));
    assert_eq!(&whole[20..], &dgram[20..]);
    assert_eq!(Ipv4Packet::new_checked(&whole).unwrap().ttl(), 63);
}

/// A fragment reaching past 65,535 bytes (offset 65,000, 1,000 bytes), too big for the
/// next link: its pieces' offsets would wrap the 13-bit field (the second would claim
/// offset 16), so it is dropped and counted rather than cut.
#[test]
fn a_fragment_past_the_largest_datagram_is_not_refragmented() {
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    let mut up = Recorder::default();
    let bad = Hdr::new(HOST_A, HOST_B, UDP)
        .ident(0x7777)
        .frag(65_000, true)
        .packet(&pattern(1000, 9));
    rx_ip(&mut l, &mut up, 0, &bad, T0);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_bad_fragment, 1);
    // Up to the limit it is cut as usual.
    let fits = Hdr::new(HOST_A, HOST_B, UDP)
        .ident(0x7778)
        .frag(64_512, true)
        .packet(&pattern(1000, 9));
    rx_ip(&mut l, &mut up, 0, &fits, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|s| s.ip().frag_offset() >= 64_512));
}

#[test]
fn forwarding_a_fragment_that_must_be_refragmented_keeps_its_place() {
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    let mut up = Recorder::default();
    let payload = pattern(3000, 7);
    // The sender's fragments at MTU 1500: [0, 1480) MF, [1480, 2960) MF, [2960, 3000).
    let frags = Hdr::new(HOST_A, HOST_B, UDP)
        .ident(0x0f0f)
        .fragments(&payload, 1480);
    assert_eq!(frags.len(), 3);

    rx_ip(&mut l, &mut up, 0, &frags[1], T0);
    let middle = drain(&mut l);
    let placed: Vec<(usize, usize, bool)> = middle
        .iter()
        .map(|s| {
            let p = s.ip();
            (p.frag_offset(), p.payload().len(), p.more_fragments())
        })
        .collect();
    assert_eq!(
        placed,
        vec![(1480, 552, true), (2032, 552, true), (2584, 376, true)],
        "offsets continue from the original one; MF stays set"
    );

    rx_ip(&mut l, &mut up, 0, &frags[2], T0);
    let last = drain(&mut l);
    assert_eq!(last.len(), 1, "fits as it is");
    let p = last[0].ip();
    assert_eq!(
        (p.frag_offset(), p.more_fragments(), p.ttl()),
        (2960, false, 63)
    );

    rx_ip(&mut l, &mut up, 0, &frags[0], T0);
    let first = drain(&mut l);
    assert_eq!(first.len(), 3);

    let all: Vec<&Sent> = middle.iter().chain(&last).chain(&first).collect();
    let whole = reassemble(all.iter().map(|s| &s.payload[..]));
    assert_eq!(&whole[20..], &payload[..]);
}

#[test]
fn an_error_about_a_datagram_for_another_interfaces_address_comes_from_that_address() {
    // RFC 1122 3.2.2 / Linux's icmp_send: an error about a datagram addressed to this host
    // comes from the address the sender contacted, not from the arrival interface's.
    let mut l = router();
    for (answer, code) in [
        (Delivery::PortUnreachable, icmp::unreach::PORT),
        (Delivery::ProtocolUnreachable, icmp::unreach::PROTOCOL),
    ] {
        let mut up = Recorder::answering(answer);
        let dgram = Hdr::new(HOST_A, US1, UDP).packet(&pattern(30, code));
        rx_ip(&mut l, &mut up, 0, &dgram, T0);
        let s = the_error(&mut l, US1);
        assert_eq!(
            s.icmp(),
            IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu: 0,
                original: &dgram
            }
        );
    }
}

/// An ICMP error the layer wanted to send but could not (no route back to the source, the
/// ARP queue for it full, the queue to the drivers full) is counted by cause, not as sent
/// and not silently.
#[test]
fn icmp_errors_that_could_not_be_sent_are_counted_by_cause() {
    let closed = |l: &mut IpLayer, from: Ipv4Addr, seed: u8| {
        let mut up = Recorder::answering(Delivery::PortUnreachable);
        let dgram = Hdr::new(from, US0, UDP).packet(&pattern(12, seed));
        rx_ip(l, &mut up, 0, &dgram, T0);
    };
    // No route back: a source beyond any network of ours, and no default route.
    let mut l = one_iface();
    closed(&mut l, Ipv4Addr::new(192, 0, 2, 7), 1);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_no_route, 1);
    assert_eq!(
        l.icmp_stats(),
        ip::IcmpStats {
            errors_no_route: 1,
            ..ip::IcmpStats::default()
        }
    );

    // The ARP queue of frames waiting for resolution full (one frame in all here).
    let mut l = one_iface_with(IpConfig {
        arp: arp::CacheConfig {
            max_pending_total: 1,
            ..arp::CacheConfig::default()
        },
        ..IpConfig::default()
    });
    closed(&mut l, HOST_A, 2);
    closed(&mut l, ROUTER_C, 3);
    assert_eq!(l.stats().drop_arp_queue_full, 1);
    let st = l.icmp_stats();
    assert_eq!(
        (
            st.tx_messages,
            st.tx_dest_unreachable,
            st.errors_arp_queue_full
        ),
        (1, 1, 1),
        "the first waits for ARP, the second had no room"
    );

    // The queue to the drivers full: the second error does not fit.
    let mut l = one_iface_with(IpConfig {
        tx_queue: 1,
        ..IpConfig::default()
    });
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let queue_drops = l.stats().drop_tx_queue_full;
    closed(&mut l, HOST_A, 4);
    closed(&mut l, HOST_A, 5);
    assert_eq!(l.stats().drop_tx_queue_full, queue_drops + 1);
    assert_eq!(drain(&mut l).len(), 1);
    let st = l.icmp_stats();
    assert_eq!(
        (
            st.tx_messages,
            st.tx_dest_unreachable,
            st.errors_tx_queue_full
        ),
        (1, 1, 1),
        "only the error that left is sent"
    );
}

/// An echo reply the layer could not send (no route back to the asker, the ARP queue full,
/// the queue to the drivers full) is counted by cause, as the errors are, not as sent and
/// not silently.
#[test]
fn echo_replies_that_could_not_be_sent_are_counted_by_cause() {
    let ping = |l: &mut IpLayer, from: Ipv4Addr, seq: u16| {
        let dgram = Hdr::new(from, US0, ICMP).packet(&echo_request(7, seq, b"abcdefgh"));
        rx_ip(l, &mut Recorder::default(), 0, &dgram, T0);
    };
    let asked = |n: u64| ip::IcmpStats {
        rx_messages: n,
        rx_echo_requests: n,
        ..ip::IcmpStats::default()
    };
    // No route back.
    let mut l = one_iface();
    ping(&mut l, Ipv4Addr::new(192, 0, 2, 7), 1);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_no_route, 1);
    assert_eq!(
        l.icmp_stats(),
        ip::IcmpStats {
            replies_no_route: 1,
            ..asked(1)
        }
    );

    // The ARP queue of frames waiting for resolution full (one frame in all here).
    let mut l = one_iface_with(IpConfig {
        arp: arp::CacheConfig {
            max_pending_total: 1,
            ..arp::CacheConfig::default()
        },
        ..IpConfig::default()
    });
    ping(&mut l, HOST_A, 2);
    ping(&mut l, ROUTER_C, 3);
    assert_eq!(l.stats().drop_arp_queue_full, 1);
    assert_eq!(
        l.icmp_stats(),
        ip::IcmpStats {
            tx_messages: 1,
            tx_echo_replies: 1,
            replies_arp_queue_full: 1,
            ..asked(2)
        },
        "the first waits for ARP, the second had no room"
    );

    // The queue to the drivers full: the second reply does not fit.
    let mut l = one_iface_with(IpConfig {
        tx_queue: 1,
        ..IpConfig::default()
    });
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let queue_drops = l.stats().drop_tx_queue_full;
    ping(&mut l, HOST_A, 4);
    ping(&mut l, HOST_A, 5);
    assert_eq!(l.stats().drop_tx_queue_full, queue_drops + 1);
    assert_eq!(drain(&mut l).len(), 1);
    let st = l.icmp_stats();
    assert_eq!(
        (st.tx_messages, st.tx_echo_replies),
        (1, 1),
        "only the reply that left is sent"
    );
    assert_eq!(
        st,
        ip::IcmpStats {
            tx_messages: 1,
            tx_echo_replies: 1,
            replies_tx_queue_full: 1,
            ..asked(2)
        }
    );
}

/// What `tx` means for an ICMP message (documented on `IcmpStats::tx_messages`): handed to
/// the link, sent or queued for ARP, as Linux's OutMsgs. One pushed out of the per-address
/// ARP queue stays counted as sent; ARP's counter records the drop.
#[test]
fn an_icmp_error_pushed_out_of_the_arp_queue_stays_counted_as_sent() {
    let mut l = one_iface_with(IpConfig {
        arp: arp::CacheConfig {
            max_pending_per_entry: 1,
            ..arp::CacheConfig::default()
        },
        ..IpConfig::default()
    });
    for seed in [1, 2] {
        let mut up = Recorder::answering(Delivery::PortUnreachable);
        let dgram = Hdr::new(HOST_A, US0, UDP).packet(&pattern(12, seed));
        rx_ip(&mut l, &mut up, 0, &dgram, T0);
    }
    let st = l.icmp_stats();
    assert_eq!((st.tx_messages, st.tx_dest_unreachable), (2, 2));
    assert_eq!(l.arp_stats()[0].1.pending_dropped.entry_queue_full, 1);
}

#[test]
fn errors_about_forwarded_datagrams_come_from_the_interface_they_leave_by() {
    // RFC 1812 4.3.2.4: the source of an ICMP error a router originates is an address of
    // the interface the error is sent over; Linux (icmp_errors_use_inbound_ifaddr = 0)
    // takes the source its route back to the sender picks. Here the way back to the sender
    // (10.0.2.0/24 via HOST_B) leaves by if1 although the datagrams came in on if0.
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    l.add_route(cidr("10.0.2.0/24"), Some(HOST_B), Some(1))
        .unwrap();
    let far = Ipv4Addr::new(10, 0, 2, 9);
    let mut up = Recorder::default();
    let cases = [
        (
            Hdr::new(far, HOST_B, UDP).ttl(1).packet(&pattern(20, 1)),
            icmp::kind::TIME_EXCEEDED,
        ),
        (
            Hdr::new(far, Ipv4Addr::new(192, 168, 7, 7), UDP).packet(&pattern(20, 2)),
            icmp::kind::DEST_UNREACHABLE,
        ),
        (
            Hdr::new(far, HOST_B, UDP).df().packet(&pattern(1000, 3)),
            icmp::kind::DEST_UNREACHABLE,
        ),
    ];
    for (dgram, kind) in cases {
        rx_ip(&mut l, &mut up, 0, &dgram, T0);
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].ifindex, out[0].dst), (1, MAC_B));
        let p = out[0].ip();
        assert_eq!(p.payload()[0], kind);
        assert_eq!(
            (p.src(), p.dst()),
            (US1, far),
            "the leaving interface's address"
        );
    }
}

#[test]
fn link_broadcast_and_disabled_forwarding_are_not_forwarded_or_delivered() {
    let mut l = router();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, HOST_B, UDP).packet(b"to b");
    rx_ip_bcast(&mut l, &mut up, 0, &dgram, T0);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_link_broadcast, 1);
    // Nor delivered when it is for us (RFC 1122 3.3.6).
    let to_us = Hdr::new(HOST_A, Ipv4Addr::new(10, 0, 0, 1), UDP).packet(b"to us");
    rx_ip_bcast(&mut l, &mut up, 0, &to_us, T0);
    assert_eq!(l.stats().drop_link_broadcast, 2);
    assert!(up.delivered.is_empty());

    // A host does not forward unless configured to (RFC 1122 3.1).
    assert!(!IpConfig::default().forwarding);
    let mut host = router_with(IpConfig::default());
    rx_ip(&mut host, &mut up, 0, &dgram, T0);
    assert!(drain(&mut host).is_empty());
    assert_eq!(host.stats().drop_not_for_us, 1);
    assert!(up.delivered.is_empty());
}

// ==== Reassembly timeout =====================================================================

#[test]
fn reassembly_timeout_with_the_first_fragment_sends_time_exceeded() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    let first = Hdr::new(HOST_A, US0, UDP)
        .ident(42)
        .frag(0, true)
        .packet(&pattern(1480, 1));
    rx_ip(&mut l, &mut up, 0, &first, T0);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.reassembly_usage().0, 1);
    let deadline = T0 + Duration::from_secs(30);
    assert_eq!(l.poll_at(), Some(deadline));
    l.poll(deadline - Duration::from_millis(1), &mut up);
    assert!(drain(&mut l).is_empty(), "not yet");

    l.poll(deadline, &mut up);
    let s = the_error(&mut l, US0);
    match s.icmp() {
        IcmpRepr::TimeExceeded { code, original } => {
            assert_eq!(code, icmp::exceeded::REASSEMBLY);
            assert_eq!(
                original,
                &first[..548],
                "the first fragment as far as 576 bytes in all allow (RFC 1812 4.3.2.3)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(l.stats().drop_reassembly, 1);
    assert_eq!(l.reassembly_usage(), (0, 0));
    assert!(up.delivered.is_empty());
}

#[test]
fn reassembly_timeout_without_the_first_fragment_is_silent() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    let later = Hdr::new(HOST_A, US0, UDP)
        .ident(43)
        .frag(1480, true)
        .packet(&pattern(1480, 1));
    rx_ip(&mut l, &mut up, 0, &later, T0);
    l.poll(T0 + Duration::from_secs(30), &mut up);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_reassembly, 1);
    assert_eq!(l.icmp_stats().tx_time_exceeded, 0);
    assert_eq!(l.reassembly_usage(), (0, 0));
}

/// Every reassembly failure reaches the IP counter, whatever the reassembler decided on
/// its own: here an older datagram evicted for a new one (the push itself went well).
#[test]
fn an_evicted_datagram_counts_as_a_reassembly_drop() {
    let mut cfg = IpConfig::default();
    cfg.reassembly.max_datagrams = 1;
    let mut l = one_iface_with(cfg);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    for ident in [1u16, 2] {
        let f = Hdr::new(HOST_A, US0, UDP)
            .ident(ident)
            .frag(0, true)
            .packet(&pattern(64, 1));
        rx_ip(&mut l, &mut up, 0, &f, T0);
    }
    assert_eq!(l.reassembly_stats().too_many_datagrams, 1);
    assert_eq!(l.stats().drop_reassembly, 1);
}

// ==== Routing and configuration ==============================================================

/// RFC 1122 3.2.2.2: a host takes a redirect from its current first hop for the
/// destination, to a gateway on the same network, as a host route (net redirects too);
/// from anyone else, to a gateway off the network, or while forwarding, it changes
/// nothing.
#[test]
fn a_redirect_from_the_first_hop_adds_a_host_route() {
    let far = Ipv4Addr::new(192, 168, 9, 9);
    let better = HOST_A;
    let send_far = |l: &mut IpLayer| {
        l.tx().send(&SendMeta::new(far, UDP), b"far", T0).unwrap();
        drain(l)
    };
    let redirect = |l: &mut IpLayer, from: Ipv4Addr, gateway: Ipv4Addr, quoted: &[u8]| {
        let msg = icmp_bytes(&IcmpRepr::Redirect {
            code: icmp::redirect::NET,
            gateway,
            original: quoted,
        });
        let mut up = Recorder::default();
        rx_ip(l, &mut up, 0, &Hdr::new(from, US0, ICMP).packet(&msg), T0);
    };
    let mut l = one_iface();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    introduce(&mut l, 0, better, MAC_A, T0);
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    let out = send_far(&mut l);
    assert_eq!(out[0].dst, MAC_C, "by the default gateway");
    let quoted = out[0].payload.clone();

    // From a host that is not the first hop, and to a gateway off the network: ignored.
    redirect(&mut l, Ipv4Addr::new(10, 0, 0, 8), better, &quoted);
    redirect(&mut l, ROUTER_C, Ipv4Addr::new(172, 16, 0, 1), &quoted);
    assert_eq!(send_far(&mut l)[0].dst, MAC_C);
    assert_eq!(l.icmp_stats().redirects_ignored, 2);

    // From the first hop, to a neighbour: a host route (flag D in `route`).
    redirect(&mut l, ROUTER_C, better, &quoted);
    assert_eq!(l.icmp_stats().rx_redirects_applied, 1);
    let r = l.route_lookup(far).unwrap();
    assert_eq!(
        (r.dest, r.gateway, r.kind),
        (cidr("192.168.9.9/32"), Some(better), RouteKind::Redirect)
    );
    assert_eq!(send_far(&mut l)[0].dst, MAC_A, "by the better gateway");
    // Others still go by the default route.
    l.tx()
        .send(
            &SendMeta::new(Ipv4Addr::new(192, 168, 9, 10), UDP),
            b"x",
            T0,
        )
        .unwrap();
    assert_eq!(drain(&mut l)[0].dst, MAC_C);

    // Five minutes on, the learned route is gone (the better gateway may be too): the
    // default route carries the datagrams again.
    let end = T0 + ip::route::REDIRECT_LIFETIME;
    assert!(l.poll_at().is_some_and(|t| t <= end));
    let mut up = Recorder::default();
    l.poll(end - Duration::from_secs(1), &mut up);
    assert_eq!(l.route_lookup(far).unwrap().kind, RouteKind::Redirect);
    l.poll(end, &mut up);
    assert_eq!(l.route_lookup(far).unwrap().kind, RouteKind::Static);

    // A router takes no redirects.
    let mut r = one_iface_with(IpConfig {
        forwarding: true,
        ..IpConfig::default()
    });
    introduce(&mut r, 0, ROUTER_C, MAC_C, T0);
    introduce(&mut r, 0, better, MAC_A, T0);
    r.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    let quoted = send_far(&mut r)[0].payload.clone();
    redirect(&mut r, ROUTER_C, better, &quoted);
    assert_eq!(send_far(&mut r)[0].dst, MAC_C);
    assert_eq!(r.icmp_stats().redirects_ignored, 1);
}

/// RFC 1122 3.2.2.2: a redirect "SHOULD be silently discarded if the new gateway address it
/// specifies is not on the same connected (sub-) net through which the Redirect arrived".
/// One that names the first hop of if0 as its source but comes in on if1 is not from that
/// gateway (Linux checks both gateways against the arrival device): it changes nothing.
#[test]
fn a_redirect_that_arrives_on_another_interface_is_ignored() {
    let far = Ipv4Addr::new(192, 168, 9, 9);
    let mut l = router_with(IpConfig::default());
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    l.tx().send(&SendMeta::new(far, UDP), b"far", T0).unwrap();
    let out = drain(&mut l);
    assert_eq!((out[0].ifindex, out[0].dst), (0, MAC_C));
    let msg = icmp_bytes(&IcmpRepr::Redirect {
        code: icmp::redirect::HOST,
        gateway: HOST_A,
        original: &out[0].payload,
    });
    let mut up = Recorder::default();
    rx_ip(
        &mut l,
        &mut up,
        1,
        &Hdr::new(ROUTER_C, US1, ICMP).packet(&msg),
        T0,
    );
    assert_eq!(l.icmp_stats().rx_redirects_applied, 0);
    assert_eq!(l.route_lookup(far).unwrap().gateway, Some(ROUTER_C));
}

/// Learned routes are bounded: past MAX_REDIRECTS the oldest goes; a route the user made
/// is never replaced by one.
#[test]
fn learned_redirect_routes_are_bounded() {
    use ip::route::{Route, RouteTable, MAX_REDIRECTS};
    let mut t = RouteTable::new(256);
    let host = |i: u32| Ipv4Cidr::new(Ipv4Addr::from(0xc0a8_0000 + i), 32).unwrap();
    let learned = |i: u32| Route {
        dest: host(i),
        gateway: Some(HOST_A),
        ifindex: 0,
        kind: RouteKind::Redirect,
        metric: 0,
    };
    t.add(Route {
        kind: RouteKind::Static,
        ..learned(1000)
    })
    .unwrap();
    assert!(t.learn_redirect(learned(1000), T0).is_err());
    for i in 0..(MAX_REDIRECTS as u32 + 10) {
        t.learn_redirect(learned(i), T0).unwrap();
    }
    let kept: Vec<_> = t
        .routes()
        .iter()
        .filter(|r| r.kind == RouteKind::Redirect)
        .collect();
    assert_eq!(kept.len(), MAX_REDIRECTS);
    assert_eq!(kept[0].dest, host(10), "the oldest went first");
    assert_eq!(t.routes().len(), MAX_REDIRECTS + 1);
    // They end 300 s after they were learned; the user's route stays.
    assert_eq!(t.poll_at(), Some(T0 + ip::route::REDIRECT_LIFETIME));
    assert_eq!(t.expire(T0 + Duration::from_secs(299)), 0);
    assert_eq!(t.expire(T0 + Duration::from_secs(300)), MAX_REDIRECTS);
    assert_eq!(t.routes().len(), 1);
    assert_eq!(t.poll_at(), None);
}

#[test]
fn routes_are_added_and_deleted() {
    let mut l = router();
    let net = cidr("10.0.2.0/24");
    l.add_route(net, Some(ROUTER_C), None).unwrap();
    let r = l.route_lookup(Ipv4Addr::new(10, 0, 2, 5)).unwrap();
    assert_eq!(
        (r.gateway, r.ifindex, r.kind),
        (Some(ROUTER_C), 0, RouteKind::Static)
    );
    assert!(l.routes().iter().any(|r| r.dest == net));
    assert_eq!(
        l.add_route(cidr("10.0.2.77/24"), Some(ROUTER_C), None),
        Err(ConfigError::Route(RouteError::Exists(net)))
    );
    // A route by device only.
    l.add_route(cidr("172.16.0.0/12"), None, Some(1)).unwrap();
    let r = l.route_lookup(Ipv4Addr::new(172, 20, 1, 1)).unwrap();
    assert_eq!((r.gateway, r.ifindex), (None, 1));

    assert_eq!(l.del_route(net, None).unwrap().gateway, Some(ROUTER_C));
    assert_eq!(l.route_lookup(Ipv4Addr::new(10, 0, 2, 5)), None);
    assert_eq!(
        l.del_route(net, None),
        Err(ConfigError::Route(RouteError::NotFound(net)))
    );
    assert_eq!(
        l.del_route(cidr("10.0.0.0/24"), None),
        Err(ConfigError::Route(RouteError::Connected))
    );
    assert!(
        l.add_route(cidr("10.9.0.0/16"), None, None).is_err(),
        "needs a gateway or a device"
    );
    assert!(
        l.add_route(cidr("10.9.0.0/16"), None, Some(9)).is_err(),
        "no such device"
    );
}

#[test]
fn default_route_sends_through_the_gateway() {
    let mut l = one_iface();
    let gw = Ipv4Addr::new(10, 0, 0, 254);
    l.add_route(cidr("0.0.0.0/0"), Some(gw), None).unwrap();
    let far = Ipv4Addr::new(8, 8, 8, 8);
    assert_eq!(l.route_lookup(far).unwrap().gateway, Some(gw));
    let mut up = Recorder::default();
    l.tx()
        .send(&SendMeta::new(far, UDP), b"out there", T0)
        .unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    let req = out[0].arp();
    assert_eq!(
        req.target_ip, gw,
        "resolves the gateway, not the destination"
    );
    let gw_mac = MacAddr([0x02, 0x99, 0, 0, 0, 0xfe]);
    l.receive_frame(
        0,
        &arp_frame(MAC0, gw_mac, &ArpRepr::reply_to(&req, gw_mac)),
        T0,
        &mut up,
    );
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, gw_mac);
    let p = out[0].ip();
    assert_eq!((p.src(), p.dst()), (US0, far));
    // 0.0.0.0 is no destination (RFC 1122 3.2.1.3 (a)): the default route does not take it.
    assert_eq!(
        l.tx()
            .send(&SendMeta::new(Ipv4Addr::UNSPECIFIED, UDP), b"x", T0),
        Err(SendError::Unspecified)
    );
    assert!(drain(&mut l).is_empty());
}

#[test]
fn a_gateway_not_on_a_connected_network_is_an_error() {
    let mut l = router();
    let gw = Ipv4Addr::new(192, 168, 1, 1);
    assert_eq!(
        l.add_route(cidr("0.0.0.0/0"), Some(gw), None),
        Err(ConfigError::Route(RouteError::GatewayUnreachable(gw)))
    );
    // On a connected network, but not the one of the device named.
    assert_eq!(
        l.add_route(cidr("10.0.2.0/24"), Some(ROUTER_C), Some(1)),
        Err(ConfigError::Route(RouteError::GatewayUnreachable(ROUTER_C)))
    );
    assert!(l.routes().iter().all(|r| r.kind == RouteKind::Connected));
}

/// A gateway outside every connected network, reached on the link by a host route with
/// no gateway (a DHCP lease of a /32 whose router is outside it, as clouds hand out):
/// Linux takes it as a next hop, and so does this table. The route goes out through the
/// host route's interface and resolves the gateway there.
#[test]
fn a_gateway_reached_by_an_on_link_host_route_is_taken() {
    let mut l = router();
    let gw = Ipv4Addr::new(192, 168, 1, 1);
    l.add_route(cidr("192.168.1.1/32"), None, Some(1)).unwrap();
    // Not through the other interface, where it is not on the link.
    assert_eq!(
        l.add_route(cidr("0.0.0.0/0"), Some(gw), Some(0)),
        Err(ConfigError::Route(RouteError::GatewayUnreachable(gw)))
    );
    l.add_route(cidr("0.0.0.0/0"), Some(gw), None).unwrap();
    let r = l.route_lookup(Ipv4Addr::new(8, 8, 8, 8)).unwrap();
    assert_eq!((r.gateway, r.ifindex), (Some(gw), 1));
    l.tx()
        .send(&SendMeta::new(Ipv4Addr::new(8, 8, 8, 8), UDP), b"far", T0)
        .unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].arp().target_ip,
        gw,
        "the gateway is resolved on tap1"
    );
    // A new address on tap1 leaves the gateway reached: the default route stays.
    l.set_address(1, Some(cidr("10.0.5.1/24")), T0).unwrap();
    let r = l.route_lookup(Ipv4Addr::new(8, 8, 8, 8)).unwrap();
    assert_eq!((r.gateway, r.ifindex), (Some(gw), 1));
}

#[test]
fn set_address_refuses_broadcast_multicast_and_duplicate_addresses() {
    let mut l = router();
    for bad in [
        "10.0.1.255/24",
        "255.255.255.255/32",
        "224.0.0.1/24",
        "0.0.0.0/8",
    ] {
        let c = cidr(bad);
        assert_eq!(
            l.set_address(1, Some(c), T0),
            Err(ConfigError::NotUnicast(c.addr())),
            "{bad}"
        );
    }
    assert_eq!(
        l.set_address(1, Some(cidr("10.0.0.1/16")), T0),
        Err(ConfigError::AddressInUse(US0))
    );
    assert_eq!(
        l.interfaces()[1].addr,
        Some(cidr("10.0.1.1/24")),
        "unchanged"
    );
    assert!(drain(&mut l).is_empty(), "nothing announced");
    // Setting an interface's own address again is fine.
    l.set_address(1, Some(cidr("10.0.1.1/24")), T0).unwrap();
    assert!(
        l.set_address(5, Some(cidr("10.0.9.1/24")), T0).is_err(),
        "no such interface"
    );
}

#[test]
fn set_address_that_cannot_get_its_route_leaves_the_interface_as_it_was() {
    // A table with room for the two connected routes and one more, which it holds.
    let mut l = router_with(IpConfig {
        forwarding: true,
        max_routes: 3,
        ..IpConfig::default()
    });
    l.add_route(cidr("10.0.5.0/24"), None, Some(0)).unwrap();
    let i = l.add_interface(&device("tap2", MacAddr([0x02, 0, 0, 0, 2, 1]), 1500));
    l.set_up(i, true, T0).unwrap();
    let before = l.routes().to_vec();
    let r = l.set_address(i, Some(cidr("10.0.5.1/24")), T0);
    assert!(
        matches!(r, Err(ConfigError::Route(RouteError::Full(3)))),
        "{r:?}"
    );
    assert_eq!(l.interfaces()[i].addr, None, "address unchanged");
    assert_eq!(l.routes(), &before[..], "routes unchanged");
    assert_eq!(
        l.route_lookup(Ipv4Addr::new(10, 0, 5, 9)).unwrap().ifindex,
        0
    );
    assert!(drain(&mut l).is_empty(), "nothing announced");
    // A network another interface already routes to is no obstacle (Linux adds each
    // address's own prefix route): tap1 joins it.
    l.set_address(1, Some(cidr("10.0.5.1/24")), T0).unwrap();
    let on: Vec<usize> = l
        .routes()
        .iter()
        .filter(|r| r.dest == cidr("10.0.5.0/24"))
        .map(|r| r.ifindex)
        .collect();
    assert_eq!(on, vec![0, 1], "the static route first: it was added first");
}

#[test]
fn a_second_interface_on_the_same_subnet_gets_its_address_and_its_own_route() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let i = l.add_interface(&device("tap1", MAC1, 1500));
    let us1 = Ipv4Addr::new(10, 0, 0, 9);
    l.set_address(i, Some(cidr("10.0.0.9/24")), T0).unwrap();
    l.set_up(i, true, T0).unwrap();
    drain(&mut l);
    let net = cidr("10.0.0.0/24");
    let on: Vec<usize> = l
        .routes()
        .iter()
        .filter(|r| r.dest == net)
        .map(|r| r.ifindex)
        .collect();
    assert_eq!(on, vec![0, 1], "one connected route per interface");
    // Ordinary traffic: the first added wins the tie, from its own address.
    assert_eq!(l.route_lookup(HOST_A).unwrap().ifindex, 0);
    assert_eq!(l.tx().route_info(HOST_A).unwrap().0, US0);
    // Bound to tap1: resolved on tap1, from tap1's address, and the reply is learned.
    let mut meta = SendMeta::new(HOST_A, UDP);
    meta.device = Some(1);
    l.tx().send(&meta, b"by tap1", T0).unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ifindex, 1);
    let req = out[0].arp();
    assert_eq!((req.sender_ip, req.target_ip), (us1, HOST_A));
    l.receive_frame(
        1,
        &arp_frame(MAC1, MAC_A, &ArpRepr::reply_to(&req, MAC_A)),
        T0,
        &mut up,
    );
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "the waiting datagram leaves: {out:?}");
    assert_eq!((out[0].ifindex, out[0].dst), (1, MAC_A));
    assert_eq!(out[0].ip().src(), us1);
    // A datagram for tap1's address is ours.
    rx_ip(
        &mut l,
        &mut up,
        1,
        &Hdr::new(HOST_A, us1, UDP).packet(b"hi"),
        T0,
    );
    assert_eq!(up.delivered.len(), 1);
    assert_eq!(up.delivered[0].ifindex, 1);
    // The subnet broadcast leaves by the route's interface once, and comes back up once.
    up.delivered.clear();
    l.tx()
        .send(&SendMeta::new(BCAST0, UDP), b"all", T0)
        .unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].ifindex, out[0].dst), (0, MacAddr::BROADCAST));
    assert_eq!(out[0].ip().src(), US0);
    l.deliver_looped(T0, &mut up);
    assert_eq!(up.delivered.len(), 1);
    assert!(up.delivered[0].broadcast);
    // The same address twice is still refused.
    assert_eq!(
        l.set_address(i, Some(cidr("10.0.0.1/24")), T0),
        Err(ConfigError::AddressInUse(US0))
    );
    // tap1 leaves the subnet: its route goes, tap0's stays.
    l.set_address(i, Some(cidr("10.0.7.1/24")), T0).unwrap();
    let on: Vec<usize> = l
        .routes()
        .iter()
        .filter(|r| r.dest == net)
        .map(|r| r.ifindex)
        .collect();
    assert_eq!(on, vec![0]);
}

/// A route through a gateway that an address change leaves off the interface's network is
/// removed (Linux flushes the routes of a device whose last address goes, fib_del_ifaddr
/// and fib_disable_ip, so `ifconfig IF NEWADDR` there loses them all): those that still
/// work stay (a gateway still on the new network, a route by device); taking the address
/// away removes every route through the interface.
#[test]
fn routes_whose_gateway_leaves_the_link_with_an_address_change_are_removed() {
    let mut l = router();
    let far_gw = Ipv4Addr::new(10, 0, 0, 254);
    let gw1 = Ipv4Addr::new(10, 0, 1, 9);
    l.add_route(cidr("10.0.2.0/24"), Some(ROUTER_C), None)
        .unwrap();
    l.add_route(cidr("0.0.0.0/0"), Some(far_gw), None).unwrap();
    l.add_route(cidr("10.0.3.0/24"), Some(gw1), None).unwrap();
    l.add_route(cidr("172.16.0.0/12"), None, Some(0)).unwrap();
    let has = |l: &IpLayer, net: &str| l.routes().iter().any(|r| r.dest == cidr(net));
    // tap0 shrinks to 10.0.0.0/25: 10.0.0.3 is still a neighbour, 10.0.0.254 is not.
    l.set_address(0, Some(cidr("10.0.0.1/25")), T0).unwrap();
    drain(&mut l);
    assert!(!has(&l, "0.0.0.0/0"), "{:?}", l.routes());
    assert!(has(&l, "10.0.2.0/24") && has(&l, "10.0.3.0/24") && has(&l, "172.16.0.0/12"));
    let far = Ipv4Addr::new(8, 8, 8, 8);
    assert_eq!(l.route_lookup(far), None);
    assert_eq!(
        l.tx().send(&SendMeta::new(far, UDP), b"x", T0),
        Err(SendError::NoRoute)
    );
    assert!(
        drain(&mut l).is_empty(),
        "no ARP for a gateway off the link"
    );
    // tap0 moves to another network: its gateway route goes, its device route stays,
    // tap1's route is untouched.
    l.set_address(0, Some(cidr("192.168.7.1/24")), T0).unwrap();
    assert!(!has(&l, "10.0.2.0/24"));
    assert!(has(&l, "10.0.3.0/24") && has(&l, "172.16.0.0/12"));
    // The address taken away: nothing routes through tap0 any more.
    l.set_address(0, None, T0).unwrap();
    assert!(
        l.routes().iter().all(|r| r.ifindex != 0),
        "{:?}",
        l.routes()
    );
    assert!(has(&l, "10.0.3.0/24"));
    // A redirect learned through tap1 goes when its gateway leaves tap1's network.
    l.set_forwarding(false);
    l.add_route(cidr("10.0.4.0/24"), Some(gw1), None).unwrap();
    let learned = |l: &IpLayer| l.routes().iter().any(|r| r.kind == RouteKind::Redirect);
    let dst = Ipv4Addr::new(10, 0, 4, 7);
    let better = Ipv4Addr::new(10, 0, 1, 200);
    let quoted = Hdr::new(US1, dst, UDP).packet(&[0u8; 8]);
    let redirect = icmp_bytes(&IcmpRepr::Redirect {
        code: icmp::redirect::HOST,
        gateway: better,
        original: &quoted,
    });
    let mut up = Recorder::default();
    rx_ip(
        &mut l,
        &mut up,
        1,
        &Hdr::new(gw1, US1, ICMP).packet(&redirect),
        T0,
    );
    assert!(learned(&l), "{:?}", l.routes());
    l.set_address(1, Some(cidr("10.0.1.1/25")), T0).unwrap();
    assert!(!learned(&l), "{:?}", l.routes());
    assert!(has(&l, "10.0.4.0/24"), "10.0.1.9 is still on the link");
}

/// An interface going down loses its routes (Linux flushes the IPv4 routes through a
/// device that goes down: fib_disable_ip); up again with its address, its connected route
/// comes back (fib_add_ifaddr), the others do not. While it is down it takes no route
/// ("Nexthop device is not up") and an address set then brings its route only when up.
#[test]
fn an_interface_going_down_loses_its_routes_and_gets_its_connected_route_back_when_up() {
    let mut l = router();
    let gw1 = Ipv4Addr::new(10, 0, 1, 9);
    l.add_route(cidr("10.0.2.0/24"), Some(ROUTER_C), None)
        .unwrap();
    l.add_route(cidr("172.16.0.0/12"), None, Some(0)).unwrap();
    l.add_route(cidr("10.0.3.0/24"), Some(gw1), None).unwrap();
    l.set_up(0, false, T0).unwrap();
    assert!(
        l.routes().iter().all(|r| r.ifindex != 0),
        "{:?}",
        l.routes()
    );
    let on1: Vec<Ipv4Cidr> = l
        .routes()
        .iter()
        .filter(|r| r.ifindex == 1)
        .map(|r| r.dest)
        .collect();
    assert_eq!(on1, [cidr("10.0.1.0/24"), cidr("10.0.3.0/24")]);
    // Down, it takes no route.
    assert!(l.add_route(cidr("10.0.4.0/24"), None, Some(0)).is_err());
    assert_eq!(
        l.add_route(cidr("10.0.4.0/24"), Some(ROUTER_C), None),
        Err(ConfigError::Route(RouteError::GatewayUnreachable(ROUTER_C)))
    );
    assert!(l.routes().iter().all(|r| r.ifindex != 0));
    // Up: the connected route is back, the static ones are not.
    l.set_up(0, true, T0).unwrap();
    drain(&mut l);
    let on0: Vec<(Ipv4Cidr, RouteKind)> = l
        .routes()
        .iter()
        .filter(|r| r.ifindex == 0)
        .map(|r| (r.dest, r.kind))
        .collect();
    assert_eq!(on0, [(cidr("10.0.0.0/24"), RouteKind::Connected)]);
    assert_eq!(l.route_lookup(HOST_A).unwrap().ifindex, 0);
    // An address set while down: its route comes when the interface comes up.
    l.set_up(0, false, T0).unwrap();
    l.set_address(0, Some(cidr("10.0.9.1/24")), T0).unwrap();
    assert!(l.routes().iter().all(|r| r.ifindex != 0));
    l.set_up(0, true, T0).unwrap();
    assert!(l
        .routes()
        .iter()
        .any(|r| r.ifindex == 0 && r.dest == cidr("10.0.9.0/24")));
}

#[test]
fn set_mtu_accepts_68_to_the_device_mtu() {
    let mut l = one_iface();
    assert_eq!(l.set_mtu(0, 67), Err(ConfigError::BadMtu(67, 1500)));
    assert_eq!(l.set_mtu(0, 1501), Err(ConfigError::BadMtu(1501, 1500)));
    l.set_mtu(0, 68).unwrap();
    assert_eq!(l.interfaces()[0].mtu, 68);
    l.set_mtu(0, 1500).unwrap();
    assert_eq!(l.interfaces()[0].mtu, 1500);
    assert!(matches!(
        l.set_mtu(3, 1000),
        Err(ConfigError::NoSuchInterface(_))
    ));
}

#[test]
fn tx_picks_the_interface_address_and_fragments_to_the_mtu() {
    let mut l = router();
    l.set_mtu(1, 1000).unwrap();
    assert_eq!(l.tx().route_info(HOST_B), Some((US1, 1000)));
    let payload = pattern(4000, 11);
    l.tx()
        .send(&SendMeta::new(HOST_B, UDP), &payload, T0)
        .unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 5, "ceil(4000 / 976)");
    let ident = out[0].ip().ident();
    for s in &out {
        assert_eq!((s.ifindex, s.dst, s.src), (1, MAC_B, MAC1));
        let p = s.ip();
        assert!(p.total_len() <= 1000);
        assert_eq!(
            (p.src(), p.dst(), p.ttl(), p.ident()),
            (US1, HOST_B, 64, ident)
        );
    }
    let whole = reassemble(out.iter().rev().map(|s| &s.payload[..]));
    assert_eq!(&whole[20..], &payload[..]);
    assert_eq!(l.stats().tx_fragments, 5);

    // A given TTL and an explicit local source are used as given.
    let meta = SendMeta {
        src: Some(US0),
        ttl: Some(5),
        ..SendMeta::new(HOST_B, UDP)
    };
    l.tx().send(&meta, b"x", T0).unwrap();
    let out = drain(&mut l);
    assert_eq!((out[0].ip().src(), out[0].ip().ttl()), (US0, 5));
    // A source that is not ours is refused.
    let meta = SendMeta {
        src: Some(Ipv4Addr::new(10, 0, 1, 99)),
        ..SendMeta::new(HOST_B, UDP)
    };
    assert_eq!(l.tx().send(&meta, b"x", T0), Err(SendError::BadSource));
    // No route.
    let far = SendMeta::new(Ipv4Addr::new(192, 168, 3, 3), UDP);
    assert_eq!(l.tx().send(&far, b"x", T0), Err(SendError::NoRoute));
    assert!(drain(&mut l).is_empty());
}

#[test]
fn tx_with_df_too_big_is_too_long() {
    let mut l = router();
    let meta = SendMeta {
        dont_fragment: true,
        ..SendMeta::new(HOST_B, UDP)
    };
    assert_eq!(
        l.tx().send(&meta, &pattern(1481, 0), T0),
        Err(SendError::TooLong)
    );
    assert_eq!(l.stats().drop_frag_needed, 1);
    l.tx().send(&meta, &pattern(1480, 0), T0).unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert!(out[0].ip().dont_fragment());
    assert_eq!(out[0].ip().total_len(), 1500);
    // Beyond what any datagram can carry, DF or not.
    let plain = SendMeta::new(HOST_B, UDP);
    assert_eq!(
        l.tx().send(&plain, &vec![0; 65_516], T0),
        Err(SendError::TooLong)
    );
    assert!(drain(&mut l).is_empty());
}

/// A layer with lo (127.0.0.1/8) and if0 (10.0.0.1/24).
fn with_loopback() -> (IpLayer, usize) {
    let mut l = one_iface();
    let lo = l.add_interface(&loopback_device());
    l.set_address(lo, Some(cidr("127.0.0.1/8")), T0).unwrap();
    l.set_up(lo, true, T0).unwrap();
    assert!(drain(&mut l).is_empty(), "loopback announces nothing");
    (l, lo)
}

#[test]
fn loopback_delivers_127_and_our_own_addresses_without_arp() {
    let (mut l, lo) = with_loopback();
    let mut up = Recorder::default();
    for dst in [
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 1, 2, 3),
        US0,
    ] {
        up.delivered.clear();
        l.tx()
            .send(&SendMeta::new(dst, UDP), b"hello self", T0)
            .unwrap();
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "{dst}: {out:?}");
        let s = &out[0];
        assert_eq!(
            (s.ifindex, s.dst, s.src),
            (lo, MacAddr::ZERO, MacAddr::ZERO),
            "{dst}"
        );
        let p = s.ip();
        assert_eq!(p.dst(), dst);
        assert!(l.tx().is_local(p.src()), "a source of ours: {}", p.src());
        // The loopback driver hands it straight back.
        let frame = eth(s.dst, s.src, s.ethertype, &s.payload);
        l.receive_frame(lo, &frame, T0, &mut up);
        assert_eq!(up.delivered.len(), 1, "{dst}");
        assert_eq!(
            (up.delivered[0].ifindex, up.delivered[0].broadcast),
            (lo, false)
        );
        assert_eq!(
            Ipv4Packet::new_checked(&up.delivered[0].packet)
                .unwrap()
                .payload(),
            b"hello self"
        );
        assert!(drain(&mut l).is_empty());
    }
    // ping 127.0.0.1: answered on lo.
    let ping = Hdr::new(
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 1),
        ICMP,
    )
    .packet(&echo_request(5, 6, b"lo"));
    l.receive_frame(
        lo,
        &eth(MacAddr::ZERO, MacAddr::ZERO, ethertype::IPV4, &ping),
        T0,
        &mut up,
    );
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ifindex, lo);
    assert_eq!(
        out[0].icmp(),
        IcmpRepr::EchoReply {
            ident: 5,
            seq: 6,
            data: b"lo"
        }
    );
    assert_eq!(l.arp_entries(T0).len(), 0, "no neighbour was ever resolved");
    assert_eq!(l.stats().drop_bad_source, 0, "127/8 sources are fine on lo");
}

#[test]
fn route_info_names_the_source_that_send_uses() {
    // Transport checksums cover the source address, so `route_info` must name the one
    // `send` will put in the header.
    let (mut l, _lo) = with_loopback();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    for dst in [
        US0,
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 8),
        HOST_A,
    ] {
        let (src, _mtu) = l.tx().route_info(dst).unwrap();
        l.tx().send(&SendMeta::new(dst, UDP), b"x", T0).unwrap();
        let sent = drain(&mut l);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].ip().src(), src, "towards {dst}");
    }
    // Limited broadcast: the interface it leaves by, with no route needed.
    assert_eq!(l.tx().route_info(Ipv4Addr::BROADCAST), Some((US0, 1500)));
    l.tx()
        .send(&SendMeta::new(Ipv4Addr::BROADCAST, UDP), b"all", T0)
        .unwrap();
    let sent = drain(&mut l);
    assert_eq!((sent[0].ifindex, sent[0].dst), (0, MacAddr::BROADCAST));
    assert_eq!(sent[0].ip().src(), US0);
}

#[test]
fn a_datagram_bound_to_an_unaddressed_interface_leaves_only_as_a_broadcast_from_0_0_0_0() {
    // if0 10.0.0.1/24 and if1 up without an address (a DHCP client's link before its lease).
    let mut l = one_iface();
    let i = l.add_interface(&device("tap1", MAC1, 1500));
    l.set_up(i, true, T0).unwrap();
    drain(&mut l);
    let bound = |dst| SendMeta {
        device: Some(i),
        ..SendMeta::new(dst, UDP)
    };
    assert_eq!(
        l.tx().source_via(Ipv4Addr::BROADCAST, i),
        Some(Ipv4Addr::UNSPECIFIED)
    );
    l.tx()
        .send(&bound(Ipv4Addr::BROADCAST), b"discover", T0)
        .unwrap();
    let sent = drain(&mut l);
    assert_eq!(
        (sent.len(), sent[0].ifindex, sent[0].dst),
        (1, i, MacAddr::BROADCAST)
    );
    assert_eq!(sent[0].ip().src(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(sent[0].ip().dst(), Ipv4Addr::BROADCAST);
    // Unbound, the broadcast leaves by the addressed interface, from its address.
    l.tx()
        .send(&SendMeta::new(Ipv4Addr::BROADCAST, UDP), b"x", T0)
        .unwrap();
    let sent = drain(&mut l);
    assert_eq!((sent[0].ifindex, sent[0].ip().src()), (0, US0));
    // Bound to if1, nothing else has a route (if0's network is not if1's), and no source.
    assert_eq!(l.tx().source_via(HOST_A, i), None);
    assert_eq!(
        l.tx().send(&bound(HOST_A), b"x", T0),
        Err(ip::SendError::NoRoute)
    );
    // A subnet broadcast of if0 bound to if1 has no route either.
    let dir = Ipv4Addr::new(10, 0, 0, 255);
    assert_eq!(
        l.tx().send(&bound(dir), b"x", T0),
        Err(ip::SendError::NoRoute)
    );
    assert!(drain(&mut l).is_empty());
    // Once if1 has an address, it is the source.
    l.set_address(i, Some(cidr("10.0.1.1/24")), T0).unwrap();
    drain(&mut l);
    assert_eq!(l.tx().source_via(Ipv4Addr::BROADCAST, i), Some(US1));
    // Bound to if0, a destination on if1's network is unreachable.
    let on_if1 = Ipv4Addr::new(10, 0, 1, 9);
    let via0 = SendMeta {
        device: Some(0),
        ..SendMeta::new(on_if1, UDP)
    };
    assert_eq!(l.tx().send(&via0, b"x", T0), Err(ip::SendError::NoRoute));
}

#[test]
fn the_largest_datagram_at_mtu_576_waits_whole_for_arp() {
    // 65,507 bytes of echo data at MTU 576 are 119 fragments: all must wait for the
    // neighbour and all must leave when it answers.
    let mut l = IpLayer::new(IpConfig::default());
    l.add_interface(&device("if0", MAC0, 576));
    l.set_up(0, true, T0).unwrap();
    l.set_address(0, Some(cidr("10.0.0.1/24")), T0).unwrap();
    drain(&mut l);
    let data = pattern(65_507, 3);
    let msg = echo_request(5, 1, &data);
    let meta = SendMeta::new(HOST_A, ICMP);
    l.tx().send(&meta, &msg, T0).expect("queued for ARP");
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "only the ARP request leaves");
    let reply = ArpRepr::reply_to(&out[0].arp(), MAC_A);
    let mut up = Recorder::default();
    l.receive_frame(0, &arp_frame(MAC0, MAC_A, &reply), at_ms(1), &mut up);
    let out = drain(&mut l);
    assert_eq!(out.len(), 119);
    assert_eq!(l.stats().tx_fragments, 119);
    let whole = reassemble(out.iter().map(|s| &s.payload[..]));
    assert_eq!(
        &Ipv4Packet::new_checked(&whole).unwrap().payload()[8..],
        &data[..]
    );
}

#[test]
fn arp_from_a_sender_off_the_network_is_answered_but_not_learned() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let stranger = Ipv4Addr::new(192, 168, 9, 9);
    let req = ArpRepr::request(MAC_A, stranger, US0);
    l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, MAC_A, &req), T0, &mut up);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "the request for our address is answered");
    assert_eq!(out[0].arp().target_ip, stranger);
    // An unsolicited reply from off the network, and a request for someone else: nothing.
    let rep = ArpRepr::reply_to(&ArpRepr::request(MAC0, US0, stranger), MAC_A);
    l.receive_frame(0, &arp_frame(MAC0, MAC_A, &rep), T0, &mut up);
    assert!(drain(&mut l).is_empty());
    assert!(
        l.arp_entries(T0).is_empty(),
        "nothing learned: {:?}",
        l.arp_entries(T0)
    );
    assert_eq!(l.stats().arp_off_link, 2);
    // Nor is a request that names our own MAC as its sender answered (to ourselves), as
    // the cache ignores one from on the network.
    let spoof = ArpRepr::request(MAC0, stranger, US0);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_A, &spoof),
        T0,
        &mut up,
    );
    assert!(drain(&mut l).is_empty());
}

/// RFC 5227 2.1: a probe for an address asks from 0.0.0.0 (nobody learns from it); a
/// reply from its owner, or another host's probe for it, is a conflict; our own frames,
/// ARP about other addresses, and anything after the watch ends are not.
#[test]
fn an_address_probe_asks_from_nowhere_and_sees_who_claims_it() {
    let mut l = IpLayer::new(IpConfig::default());
    l.add_interface(&device("tap0", MAC0, 1500));
    let mut up = Recorder::default();
    let want = Ipv4Addr::new(10, 0, 0, 50);
    assert!(l.arp_probe(0, want).is_err(), "a probe needs the link up");
    l.set_up(0, true, T0).unwrap();
    drain(&mut l);
    l.arp_probe(0, want).unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, MacAddr::BROADCAST);
    let a = out[0].arp();
    assert_eq!(a.op, arp::Operation::Request);
    assert_eq!(
        (a.sender_mac, a.sender_ip, a.target_ip),
        (MAC0, Ipv4Addr::UNSPECIFIED, want)
    );
    // Not conflicts: ARP about another address, our own probe heard back.
    let other = ArpRepr::request(MAC_A, HOST_A, ROUTER_C);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_A, &other),
        T0,
        &mut up,
    );
    l.receive_frame(
        0,
        &eth(MacAddr::BROADCAST, MAC0, 0x0806, &a.to_bytes()),
        T0,
        &mut up,
    );
    assert_eq!(l.arp_probe_conflict(0), None);
    // The owner answers.
    let reply = ArpRepr::reply_to(&a, MAC_OTHER);
    l.receive_frame(0, &arp_frame(MAC0, MAC_OTHER, &reply), T0, &mut up);
    assert_eq!(l.arp_probe_conflict(0), Some(MAC_OTHER));
    assert_eq!(l.stats().arp_probe_conflicts, 1);
    // Another host probing for the same address is a conflict too (a new watch).
    l.arp_probe_stop(0);
    assert_eq!(l.arp_probe_conflict(0), None);
    l.arp_probe(0, want).unwrap();
    let theirs = ArpRepr::request(MAC_A, Ipv4Addr::UNSPECIFIED, want);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_A, &theirs),
        T0,
        &mut up,
    );
    assert_eq!(l.arp_probe_conflict(0), Some(MAC_A));
    // After the watch, a claim is only ARP.
    l.arp_probe_stop(0);
    l.receive_frame(0, &arp_frame(MAC0, MAC_OTHER, &reply), T0, &mut up);
    assert_eq!(l.arp_probe_conflict(0), None);
    assert_eq!(l.stats().arp_probe_conflicts, 2);
}

/// RFC 5227 2.4 (b): ARP from another host claiming our address makes us announce ours
/// again (broadcast), at most once per 10 s; every conflict is counted.
#[test]
fn an_address_conflict_is_defended_at_most_every_ten_seconds() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let claim = ArpRepr::request(MAC_OTHER, US0, HOST_A);
    for (t, defended) in [
        (T0, true),
        (T0 + Duration::from_secs(5), false),
        (T0 + Duration::from_secs(10), true),
    ] {
        l.receive_frame(
            0,
            &arp_frame(MacAddr::BROADCAST, MAC_OTHER, &claim),
            t,
            &mut up,
        );
        let out = drain(&mut l);
        if defended {
            assert_eq!(out.len(), 1, "{t}");
            assert_eq!(out[0].dst, MacAddr::BROADCAST);
            let a = out[0].arp();
            assert_eq!((a.sender_ip, a.sender_mac), (US0, MAC0));
        } else {
            assert!(out.is_empty(), "defended again within 10 s");
        }
    }
    assert_eq!(l.stats().arp_conflicts_defended, 2);
    assert!(l.arp_entries(T0).iter().all(|(_, e)| e.ip != US0));
}

/// RFC 1122 3.2.1.3: ARP from a sender address no host may have (the network's
/// broadcast or own address, broadcast, multicast, loopback) is neither answered nor
/// learned; an RFC 5227 probe (sender 0.0.0.0) still is answered.
#[test]
fn arp_from_an_address_no_host_may_have_is_ignored_and_counted() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let bad = [
        Ipv4Addr::new(10, 0, 0, 255),
        Ipv4Addr::new(10, 0, 0, 0),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(240, 0, 0, 1),
    ];
    for sender in bad {
        let req = ArpRepr::request(MAC_A, sender, US0);
        l.receive_frame(0, &arp_frame(MacAddr::BROADCAST, MAC_A, &req), T0, &mut up);
        assert!(drain(&mut l).is_empty(), "{sender} was answered");
    }
    assert!(l.arp_entries(T0).is_empty(), "{:?}", l.arp_entries(T0));
    assert_eq!(l.stats().drop_arp_bad_sender, bad.len() as u64);
    let probe = ArpRepr::request(MAC_A, Ipv4Addr::UNSPECIFIED, US0);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_A, &probe),
        T0,
        &mut up,
    );
    assert_eq!(
        drain(&mut l).len(),
        1,
        "a probe for our address is answered"
    );
}

/// ARP whose sender address is one of this host's own, but not the receiving interface's
/// (that is a conflict, defended above), is neither answered nor learned, and is counted:
/// Linux's `arp_process` routes the request from its sender, a local address, and drops
/// it as a martian source. Answering would tell the link "that address is at this MAC"
/// to whoever announced it: to another interface of ours on the same link, a reply that
/// it takes for a conflict and defends against.
#[test]
fn arp_from_a_sender_using_another_of_our_addresses_is_neither_answered_nor_learned() {
    // if1's address announced on if0's link by somebody else.
    let mut l = router();
    let mut up = Recorder::default();
    let claim = ArpRepr::gratuitous(MAC_OTHER, US1);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_OTHER, &claim),
        T0,
        &mut up,
    );
    assert!(drain(&mut l).is_empty(), "an announcement is not answered");
    assert_eq!(l.stats().drop_arp_bad_sender, 1);

    // Two interfaces on one link: tap1's own announcement, heard by tap0.
    let mut l = one_iface();
    let us2 = Ipv4Addr::new(10, 0, 0, 5);
    let i = l.add_interface(&device("tap1", MAC1, 1500));
    l.set_address(i, Some(cidr("10.0.0.5/24")), SETUP).unwrap();
    l.set_up(i, true, SETUP).unwrap();
    settle(&mut l);
    let announce = ArpRepr::gratuitous(MAC1, us2);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC1, &announce),
        T0,
        &mut up,
    );
    assert!(
        drain(&mut l).is_empty(),
        "our own announcement is not answered"
    );
    // Nor a request from that address for if0's.
    let req = ArpRepr::request(MAC_OTHER, us2, US0);
    l.receive_frame(
        0,
        &arp_frame(MacAddr::BROADCAST, MAC_OTHER, &req),
        T0,
        &mut up,
    );
    assert!(drain(&mut l).is_empty());
    assert!(
        l.arp_entries(T0).iter().all(|(_, e)| e.ip != us2),
        "{:?}",
        l.arp_entries(T0)
    );
    assert_eq!(l.stats().drop_arp_bad_sender, 2);
    assert_eq!(l.arp_stats()[1].1.conflicts, 0);
}
/// A datagram for us with `opts` (a multiple of 4 bytes) after its header.
fn with_options(opts: &[u8], payload: &[u8]) -> Vec<u8> {
    options_datagram(HOST_A, US0, opts, payload)
}

/// RFC 791 3.1 options: well-formed ones are accepted; malformed ones drop the datagram
/// (counted) with a parameter problem back; a source route not used up makes this host a
/// hop, which does not route by source (as Linux by default): dropped, counted, and ICMP
/// "source route failed" goes back; one used up (this host the destination) is dropped
/// silently and counted, as Linux drops it (accept_source_route off on a host).
#[test]
fn ip_options_are_checked_and_source_routes_not_followed() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let mut up = Recorder::default();
    let good: [&[u8]; 3] = [
        &[7, 7, 4, 0, 0, 0, 0, 0],  // record route, room for one
        &[68, 8, 5, 0, 0, 0, 0, 0], // timestamp, room for one
        &[1, 1, 0, 0xff],           // NOPs, end of list, then anything
    ];
    for o in good {
        rx_ip(&mut l, &mut up, 0, &with_options(o, b"ok"), T0);
    }
    assert_eq!(up.delivered.len(), good.len());
    // Loose and strict source routes used up: dropped, no answer.
    for o in [&[131u8, 7, 8, 10, 0, 0, 9, 0], &[137, 7, 8, 10, 0, 0, 9, 0]] {
        rx_ip(&mut l, &mut up, 0, &with_options(o, b"sr"), T0);
    }
    assert!(drain(&mut l).is_empty());
    assert_eq!(up.delivered.len(), good.len());
    assert_eq!(l.stats().drop_source_route, 2);
    let bad: [&[u8]; 6] = [
        &[7, 2, 0, 0],             // record route of length 2
        &[131, 2, 4, 0],           // a source route of length 2, pointer 4
        &[7, 40, 4, 0],            // length past the header
        &[68, 0, 5, 0],            // length 0
        &[7, 7, 2, 0, 0, 0, 0, 0], // pointer before the data
        &[1, 1, 1, 7],             // a lone type byte at the end
    ];
    // Each answered with a parameter problem naming the wrong octet where Linux names it
    // (RFC 1122 3.2.2.5), a second apart for the ICMP rate limit.
    let pointers = [21u8, 21, 20, 20, 22, 23];
    for (k, (o, want)) in bad.iter().zip(pointers).enumerate() {
        let at = T0 + Duration::from_secs(k as u64 + 1);
        let sent = with_options(o, b"no");
        rx_ip(&mut l, &mut up, 0, &sent, at);
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "option {o:?}");
        let p = out[0].ip();
        assert_eq!((p.src(), p.dst()), (US0, HOST_A));
        match IcmpRepr::parse(p.payload()).unwrap() {
            IcmpRepr::ParameterProblem {
                code: 0,
                pointer,
                original,
            } => {
                assert_eq!(pointer, want, "option {o:?}");
                assert_eq!(original, &sent[..], "the whole datagram is quoted");
            }
            other => panic!("option {o:?}: {other:?}"),
        }
    }
    assert_eq!(up.delivered.len(), good.len());
    assert_eq!(l.stats().drop_bad_options, bad.len() as u64);
    assert_eq!(l.icmp_stats().tx_parameter_problems, bad.len() as u64);
    // A loose and a strict source route with an address still to visit.
    for kind in [131u8, 137] {
        rx_ip(
            &mut l,
            &mut up,
            0,
            &with_options(&[kind, 7, 4, 10, 0, 0, 9, 0], b"hop"),
            T0,
        );
        let out = drain(&mut l);
        assert_eq!(out.len(), 1);
        let p = out[0].ip();
        let msg = IcmpRepr::parse(p.payload()).unwrap();
        assert!(
            matches!(msg, IcmpRepr::DestUnreachable { code, .. } if code == icmp::unreach::SOURCE_ROUTE_FAILED),
            "{msg:?}"
        );
    }
    assert_eq!(up.delivered.len(), good.len());
    assert_eq!(l.stats().drop_source_route, 4);
}

#[test]
fn a_dev_route_makes_its_network_neighbours_resolvable() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let far = Ipv4Addr::new(192, 168, 50, 2);
    l.add_route(cidr("192.168.50.0/24"), None, Some(0)).unwrap();
    l.tx().send(&SendMeta::new(far, UDP), b"hello", T0).unwrap();
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "an ARP request for the neighbour itself");
    let req = out[0].arp();
    assert_eq!(req.target_ip, far);
    l.receive_frame(
        0,
        &arp_frame(MAC0, MAC_A, &ArpRepr::reply_to(&req, MAC_A)),
        T0,
        &mut up,
    );
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "the datagram is released");
    assert!(out[0].is_ip() && out[0].dst == MAC_A);
    assert_eq!(l.stats().arp_off_link, 0);
    // Static entries too.
    l.arp_add_static(Ipv4Addr::new(192, 168, 50, 3), MAC_A)
        .unwrap();
    assert!(l
        .arp_add_static(Ipv4Addr::new(172, 16, 0, 1), MAC_A)
        .is_err());
    // Not our own address, nor the network's own address or broadcast.
    for ip in [US0, Ipv4Addr::new(10, 0, 0, 0), BCAST0] {
        let e = l.arp_add_static(ip, MAC_A).expect_err("refused");
        assert!(e.to_string().contains(&ip.to_string()), "{e}");
    }
    assert!(l.arp_entries(T0).iter().all(|(_, e)| e.ip != US0));
}

#[test]
fn martian_destinations_are_not_forwarded_and_127_never_leaves_by_a_link() {
    let mut l = router();
    let mut up = Recorder::default();
    l.add_route(cidr("0.0.0.0/0"), Some(HOST_B), None).unwrap();
    for dst in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(0, 9, 9, 9),
        Ipv4Addr::new(240, 1, 2, 3),
    ] {
        let p = Hdr::new(HOST_A, dst, UDP).packet(b"payload!");
        rx_ip(&mut l, &mut up, 0, &p, T0);
        assert!(drain(&mut l).is_empty(), "{dst} must not be forwarded");
    }
    assert_eq!(l.stats().drop_bad_destination, 3);
    // No loopback interface here: 127.0.0.1 must not follow the default route out.
    assert_eq!(
        l.tx()
            .send(&SendMeta::new(Ipv4Addr::LOCALHOST, UDP), b"x", T0),
        Err(SendError::NoRoute)
    );
    assert!(drain(&mut l).is_empty());
}

#[test]
fn refragmenting_keeps_every_option_in_the_first_fragment_and_copied_ones_in_the_rest() {
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    let mut up = Recorder::default();
    // Record Route (type 7, not copied) and a Loose Source Route (type 131, copied) used
    // up (pointer past its one address: routed by the destination).
    let opts = [7u8, 7, 4, 0, 0, 0, 0, 1, 131, 7, 8, 10, 0, 1, 5, 0];
    let payload = pattern(1200, 3);
    let dgram = options_datagram(HOST_A, HOST_B, &opts, &payload);
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 3, "1200 bytes at MTU 576");
    let first = out[0].ip();
    // The record route with this router's address on if1 (RFC 791 3.1).
    assert_eq!(
        &first.header()[20..],
        &[7u8, 7, 8, 10, 0, 1, 1, 1, 131, 7, 8, 10, 0, 1, 5, 0],
        "all options in the first fragment"
    );
    assert!(first.verify_checksum());
    for s in &out[1..] {
        let p = s.ip();
        assert_eq!(
            &p.header()[20..],
            &[131, 7, 8, 10, 0, 1, 5, 0],
            "copied options only"
        );
        assert!(p.verify_checksum());
        assert!(p.total_len() <= 576);
    }
    let whole = reassemble(out.iter().map(|s| &s.payload[..]));
    assert_eq!(
        Ipv4Packet::new_checked(&whole).unwrap().payload(),
        &payload[..]
    );
}

#[test]
fn a_loopback_source_never_leaves_by_a_link() {
    let mut l = one_iface();
    let lo = l.add_interface(&loopback_device());
    l.set_address(lo, Some(cidr("127.0.0.1/8")), T0).unwrap();
    l.set_up(lo, true, T0).unwrap();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let meta = SendMeta {
        src: Some(Ipv4Addr::LOCALHOST),
        ..SendMeta::new(HOST_A, UDP)
    };
    assert_eq!(l.tx().send(&meta, b"x", T0), Err(SendError::BadSource));
    let to_self = SendMeta {
        src: Some(Ipv4Addr::LOCALHOST),
        ..SendMeta::new(Ipv4Addr::new(127, 0, 0, 2), UDP)
    };
    assert_eq!(l.tx().send(&to_self, b"x", T0), Ok(()));
}

// ==== Offloads (a TAP with IFF_VNET_HDR + TUNSETOFFLOAD) =====================================

use netif::vnet::complete_checksum;
use netif::{Csum, FrameMeta, Gso, Offload};

const TCP: u8 = ipv4::protocol::TCP;
/// Ethernet + IPv4 headers: where a transport header starts in a frame.
const L4_AT: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
/// The TCP header of `tcp_segment`: 20 bytes and a timestamp option (NOP, NOP, TS).
const TCP_HL: usize = 32;
const ALL_OFFLOADS: Offload = Offload {
    csum: true,
    tso: true,
};

/// One interface like `one_iface`, whose device offers `offload`, host A already known.
fn offload_iface(offload: Offload) -> IpLayer {
    let mut l = IpLayer::new(IpConfig::default());
    let dev = DeviceInfo {
        offload,
        ..device("tap0", MAC0, 1500)
    };
    let i = l.add_interface(&dev);
    l.set_address(i, Some(cidr("10.0.0.1/24")), T0).unwrap();
    l.set_up(i, true, T0).unwrap();
    drain(&mut l);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l
}

/// A TCP segment 40000 -> 80 (ACK|PSH, a timestamp option) carrying `data`, its checksum
/// field zero.
fn tcp_segment(data: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; TCP_HL + data.len()];
    s[0..2].copy_from_slice(&40_000u16.to_be_bytes());
    s[2..4].copy_from_slice(&80u16.to_be_bytes());
    s[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    s[8..12].copy_from_slice(&0x0a0b_0c0du32.to_be_bytes());
    s[12] = ((TCP_HL / 4) as u8) << 4;
    s[13] = 0x18; // ACK | PSH
    s[14..16].copy_from_slice(&65_535u16.to_be_bytes());
    s[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
    s[TCP_HL..].copy_from_slice(data);
    s
}

/// The pseudo-header sum of a transport segment of `len` bytes, folded: what a checksum
/// field holds when the device is to complete it.
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u16 {
    ip::checksum::fold(ip::checksum::pseudo_header(
        src,
        dst,
        protocol,
        u16::try_from(len).unwrap(),
    ))
}

/// Does the transport checksum of `segment` verify (RFC 1071 over pseudo-header and all)?
fn l4_verifies(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> bool {
    let len = u16::try_from(segment.len()).unwrap();
    let ph = ip::checksum::pseudo_header(src, dst, protocol, len);
    ip::checksum::finish(ip::checksum::sum(segment, ph)) == 0
}

/// A coalesced segment from A as the kernel hands it over: 20,000 bytes of data in one
/// frame (far beyond the 1500-byte MTU), the checksum field holding only the pseudo-header
/// sum. Returns the frame and the datagram in it.
fn coalesced_frame() -> (Vec<u8>, Vec<u8>) {
    let mut seg = tcp_segment(&pattern(20_000, 3));
    let ph = pseudo_sum(HOST_A, US0, TCP, seg.len());
    seg[16..18].copy_from_slice(&ph.to_be_bytes());
    assert!(!l4_verifies(HOST_A, US0, TCP, &seg), "not a full checksum");
    let pkt = Hdr::new(HOST_A, US0, TCP).df().packet(&seg);
    (eth(MAC0, MAC_A, ethertype::IPV4, &pkt), pkt)
}

/// The metadata the kernel gives a coalesced segment (`csum` as given).
fn coalesced_meta(csum: Csum) -> FrameMeta {
    FrameMeta {
        csum,
        gso: Some(Gso {
            size: 1448,
            hdr_len: (L4_AT + TCP_HL) as u16,
        }),
    }
}

const PARTIAL_TCP: Csum = Csum::Partial {
    start: L4_AT as u16,
    offset: 16,
};

#[test]
fn a_coalesced_segment_with_a_partial_checksum_is_delivered_whole_and_trusted() {
    let mut l = offload_iface(ALL_OFFLOADS);
    let (frame, pkt) = coalesced_frame();
    assert!(frame.len() > 1500 + ethernet::HEADER_LEN);
    let mut up = Recorder::default();
    l.receive_frame_meta(0, &frame, coalesced_meta(PARTIAL_TCP), T0, &mut up);
    assert_eq!(up.delivered.len(), 1, "{:?}", l.stats());
    let got = &up.delivered[0];
    assert!(got.csum_ok, "the device vouches for the checksum");
    assert!(!got.broadcast);
    assert_eq!(got.packet, pkt, "one datagram, as it came");
    assert_eq!(
        got.gso_size,
        Some(1448),
        "the segments it stands for, for TCP to count"
    );
    assert_eq!(l.stats().rx_delivered, 1);
    assert_eq!(l.stats().drop_bad_offload, 0);
    assert!(drain(&mut l).is_empty());
    // And it is a sound segment: completed as the device would, it verifies.
    let mut done = frame.clone();
    assert!(complete_checksum(&mut done, L4_AT as u16, 16));
    assert!(l4_verifies(HOST_A, US0, TCP, &done[L4_AT..]));
}

#[test]
fn a_coalesced_segment_claiming_a_full_checksum_is_left_to_verification() {
    // The same frame without NEEDS_CSUM: the field is taken for a full checksum, which it is
    // not, so the transport layer (which verifies what is not vouched for) drops it; see
    // tests/tests/offload_memory.rs for the drop counted by TCP.
    let mut l = offload_iface(ALL_OFFLOADS);
    let (frame, pkt) = coalesced_frame();
    let mut up = Recorder::default();
    l.receive_frame_meta(0, &frame, coalesced_meta(Csum::Full), T0, &mut up);
    assert_eq!(up.delivered.len(), 1);
    assert!(!up.delivered[0].csum_ok, "must be verified above");
    assert!(!l4_verifies(HOST_A, US0, TCP, &pkt[20..]));
    // A device's DATA_VALID is trusted as such.
    let mut l = offload_iface(ALL_OFFLOADS);
    let (frame, _) = coalesced_frame();
    let mut up = Recorder::default();
    l.receive_frame_meta(0, &frame, coalesced_meta(Csum::Valid), T0, &mut up);
    assert!(up.delivered[0].csum_ok);
}

#[test]
fn offload_metadata_from_a_device_that_promised_none_is_dropped_and_counted() {
    let (frame, _) = coalesced_frame();
    let metas = [
        coalesced_meta(PARTIAL_TCP),
        coalesced_meta(Csum::Full),
        FrameMeta {
            csum: PARTIAL_TCP,
            gso: None,
        },
    ];
    for (n, meta) in metas.into_iter().enumerate() {
        let mut l = offload_iface(Offload::NONE);
        let before = l.stats();
        let mut up = Recorder::default();
        l.receive_frame_meta(0, &frame, meta, T0, &mut up);
        assert!(up.delivered.is_empty(), "{n}: {up:?}");
        assert!(drain(&mut l).is_empty());
        let after = l.stats();
        assert_eq!(after.drop_bad_offload, 1, "{n}");
        assert_eq!(
            IpStats {
                drop_bad_offload: before.drop_bad_offload,
                ..after
            },
            before,
            "{n}: nothing else counted"
        );
    }
    // Plain frames still pass there.
    let mut l = offload_iface(Offload::NONE);
    let mut up = Recorder::default();
    rx_ip(&mut l, &mut up, 0, &valid_ping(), T0);
    assert_eq!(drain(&mut l).len(), 1, "the ping is answered");
}

/// A router like `router()` whose if0 offers every offload and if1 `if1`; A and B known.
fn offload_router(if1: Offload) -> IpLayer {
    let mut l = IpLayer::new(IpConfig {
        forwarding: true,
        ..IpConfig::default()
    });
    for (name, mac, addr, offload) in [
        ("tap0", MAC0, "10.0.0.1/24", ALL_OFFLOADS),
        ("tap1", MAC1, "10.0.1.1/24", if1),
    ] {
        let i = l.add_interface(&DeviceInfo {
            offload,
            ..device(name, mac, 1500)
        });
        l.set_address(i, Some(cidr(addr)), T0).unwrap();
        l.set_up(i, true, T0).unwrap();
    }
    drain(&mut l);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    introduce(&mut l, 1, HOST_B, MAC_B, T0);
    l
}

/// A segment A -> B of `len` data bytes whose checksum field holds the pseudo-header sum
/// (as the kernel hands over what it routes through us), in a frame to us.
fn partial_frame_to_b(len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut seg = tcp_segment(&pattern(len, 1));
    let ph = pseudo_sum(HOST_A, HOST_B, TCP, seg.len());
    seg[16..18].copy_from_slice(&ph.to_be_bytes());
    let pkt = Hdr::new(HOST_A, HOST_B, TCP).df().packet(&seg);
    (eth(MAC0, MAC_A, ethertype::IPV4, &pkt), seg)
}

#[test]
fn a_coalesced_segment_routed_through_us_leaves_as_one_tso_frame() {
    let mut l = offload_router(ALL_OFFLOADS);
    let (frame, seg) = partial_frame_to_b(20_000);
    let meta = coalesced_meta(PARTIAL_TCP);
    let mut up = Recorder::default();
    l.receive_frame_meta(0, &frame, meta, T0, &mut up);
    assert!(up.delivered.is_empty());
    let out: Vec<ip::TxFrame> = l.take_tx().collect();
    assert_eq!(
        out.len(),
        1,
        "one frame, for the device to cut: {:?}",
        l.stats()
    );
    let f = &out[0];
    assert_eq!(f.ifindex, 1);
    assert_eq!(f.meta, meta, "cut and completed by the next device");
    assert_eq!(&f.data[..6], &MAC_B.0);
    let p = Ipv4Packet::new_checked(&f.data[ethernet::HEADER_LEN..]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(p.ttl(), 63);
    let mut done = f.data.clone();
    assert!(complete_checksum(&mut done, L4_AT as u16, 16));
    assert!(l4_verifies(HOST_A, HOST_B, TCP, &done[L4_AT..]));
    assert_eq!(&done[L4_AT + TCP_HL..], &seg[TCP_HL..]);
    assert_eq!(l.stats().rx_forwarded, 1);
    assert_eq!(l.stats().drop_bad_offload, 0);
}

/// The kernel's `hdr_len` is `skb_headlen`, a hint of how much of the frame it kept
/// linear, which may hold data: a segment is as long as the packet's own headers say, and
/// the frame leaves with those (a 200-byte hint made 1,634-byte segments of a 1,500-byte
/// link, and the segment was dropped).
#[test]
fn a_coalesced_segment_is_cut_by_its_own_headers_not_the_device_s_hint() {
    let mut l = offload_router(ALL_OFFLOADS);
    let (frame, _) = partial_frame_to_b(20_000);
    let mut meta = coalesced_meta(PARTIAL_TCP);
    meta.gso = Some(Gso {
        size: 1448,
        hdr_len: 200,
    });
    let mut up = Recorder::default();
    l.receive_frame_meta(0, &frame, meta, T0, &mut up);
    let out: Vec<ip::TxFrame> = l.take_tx().collect();
    assert_eq!(out.len(), 1, "{:?}", l.stats());
    assert_eq!(out[0].meta, coalesced_meta(PARTIAL_TCP), "66 header bytes");
    assert_eq!(l.stats().drop_bad_offload, 0);
    // A coalesced frame that is not TCP cannot be cut: dropped.
    let mut l = offload_router(ALL_OFFLOADS);
    let pkt = Hdr::new(HOST_A, HOST_B, UDP)
        .df()
        .packet(&pattern(20_000, 2));
    let frame = eth(MAC0, MAC_A, ethertype::IPV4, &pkt);
    l.receive_frame_meta(0, &frame, coalesced_meta(PARTIAL_TCP), T0, &mut up);
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.stats().drop_bad_offload, 1);
}

#[test]
fn a_coalesced_segment_is_not_forwarded_to_a_device_that_cannot_cut_it() {
    let mut l = offload_router(Offload {
        csum: true,
        tso: false,
    });
    let (frame, _) = partial_frame_to_b(20_000);
    let mut up = Recorder::default();
    l.receive_frame_meta(0, &frame, coalesced_meta(PARTIAL_TCP), T0, &mut up);
    assert!(drain(&mut l).is_empty(), "nothing forwarded, no ICMP error");
    assert_eq!(l.stats().drop_bad_offload, 1);
    assert_eq!(l.stats().rx_forwarded, 0);
}

#[test]
fn a_partial_checksum_is_completed_before_forwarding() {
    // What the kernel routes through the stack comes with its checksum unfinished.
    for if1 in [Offload::NONE, ALL_OFFLOADS] {
        let mut l = offload_router(if1);
        let (frame, seg) = partial_frame_to_b(1000);
        let meta = FrameMeta {
            csum: PARTIAL_TCP,
            gso: None,
        };
        let mut up = Recorder::default();
        l.receive_frame_meta(0, &frame, meta, T0, &mut up);
        let out: Vec<ip::TxFrame> = l.take_tx().collect();
        assert_eq!(out.len(), 1, "{if1:?}: {:?}", l.stats());
        let f = &out[0];
        assert_eq!(f.ifindex, 1);
        assert!(f.meta.is_plain(), "{:?}", f.meta);
        let p = Ipv4Packet::new_checked(&f.data[ethernet::HEADER_LEN..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.ttl(), 63);
        assert!(l4_verifies(HOST_A, HOST_B, TCP, p.payload()), "{if1:?}");
        assert_eq!(&p.payload()[TCP_HL..], &seg[TCP_HL..]);
        assert_eq!(l.stats().drop_bad_offload, 0);
    }
}

/// Send `seg` (a transport segment whose checksum field at `csum_at` is zero) from us to A
/// through `IpTx::send_with`, leaving the checksum to `ip`; the frames queued.
fn send_l4(
    l: &mut IpLayer,
    protocol: u8,
    seg: &[u8],
    csum_at: u16,
    gso_size: Option<u16>,
) -> Vec<ip::TxFrame> {
    let meta = SendMeta {
        src: Some(US0),
        dont_fragment: protocol == TCP,
        l4_csum: Some(csum_at),
        gso_size,
        ..SendMeta::new(HOST_A, protocol)
    };
    l.tx()
        .send_with(&meta, seg.len(), &mut |b| b.copy_from_slice(seg), T0)
        .expect("sent");
    l.take_tx().collect()
}

/// The datagram of a queued frame, its IP header checked; the frame must go to A.
fn datagram_of(f: &ip::TxFrame) -> Vec<u8> {
    let s = Sent {
        ifindex: f.ifindex,
        dst: MAC_A,
        src: MAC0,
        ethertype: ethertype::IPV4,
        payload: f.data[ethernet::HEADER_LEN..].to_vec(),
    };
    assert_eq!(&f.data[..6], &MAC_A.0, "to A");
    let p = s.ip();
    assert_eq!((p.src(), p.dst()), (US0, HOST_A));
    s.payload.clone()
}

#[test]
fn a_tcp_segment_beyond_the_mtu_leaves_as_one_tso_frame_the_device_completes() {
    let mut l = offload_iface(ALL_OFFLOADS);
    let data = pattern(20_000, 9);
    let seg = tcp_segment(&data);
    let frames = send_l4(&mut l, TCP, &seg, 16, Some(1448));
    assert_eq!(frames.len(), 1, "one frame, not fragments");
    let f = &frames[0];
    assert_eq!(f.data.len(), L4_AT + TCP_HL + data.len());
    assert_eq!(
        f.meta.gso,
        Some(Gso {
            size: 1448,
            hdr_len: (L4_AT + TCP_HL) as u16
        }),
        "cut into 1448-byte payloads after 66 header bytes"
    );
    assert_eq!(f.meta.csum, PARTIAL_TCP);
    let dgram = datagram_of(f);
    let p = Ipv4Packet::new_checked(&dgram).unwrap();
    assert!(!p.is_fragment());
    assert!(p.dont_fragment());
    // The field holds the pseudo-header sum, and completing it gives a full checksum.
    let field = u16::from_be_bytes([f.data[L4_AT + 16], f.data[L4_AT + 17]]);
    assert_eq!(field, pseudo_sum(US0, HOST_A, TCP, seg.len()));
    let mut done = f.data.clone();
    assert!(complete_checksum(&mut done, L4_AT as u16, 16));
    assert!(l4_verifies(US0, HOST_A, TCP, &done[L4_AT..]));
    assert_eq!(&done[L4_AT + TCP_HL..], &data[..]);
    assert_eq!(&done[L4_AT..L4_AT + 16], &seg[..16], "the header as given");
    assert_eq!(l.stats().tx_fragments, 0);
}

/// With TSO the layer hands the link frames of up to 64 KiB, and those waiting for ARP
/// were bounded by count alone (128 per address): 8 MiB behind one silent neighbour, 32
/// MiB per interface. As Linux's `unres_qlen_bytes` (212,992 bytes), the queue is bounded
/// in bytes too, its oldest frames giving way, counted (`drop_pending_entry_bytes` on the
/// `arp` line); the latest wait whole and leave as TSO frames when the answer comes.
#[test]
fn tso_frames_waiting_for_arp_are_bounded_in_bytes() {
    let mut l = offload_iface(ALL_OFFLOADS);
    let peer = Ipv4Addr::new(10, 0, 0, 9);
    let seg = tcp_segment(&pattern(60 * 1024, 4));
    let meta = SendMeta {
        src: Some(US0),
        dont_fragment: true,
        l4_csum: Some(16),
        gso_size: Some(1448),
        ..SendMeta::new(peer, TCP)
    };
    for _ in 0..6 {
        l.tx()
            .send_with(&meta, seg.len(), &mut |b| b.copy_from_slice(&seg), T0)
            .expect("queued for ARP");
    }
    let frame = L4_AT + seg.len();
    assert_eq!(frame, 61_506);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "one request, the frames wait: {out:?}");
    // 3 frames are 184,518 bytes, a fourth would make 246,024.
    assert_eq!(l.arp_pending(), 3);
    let (_, e) = l
        .arp_entries(T0)
        .into_iter()
        .find(|(_, e)| e.ip == peer)
        .unwrap();
    assert_eq!(e.pending_bytes, 3 * frame);
    let dropped = l.arp_stats()[0].1.pending_dropped;
    assert_eq!(dropped.entry_bytes_full, 3, "{dropped:?}");
    assert_eq!(dropped.total(), 3, "{dropped:?}");

    let reply = ArpRepr::reply_to(&out[0].arp(), MAC_A);
    l.receive_frame(
        0,
        &arp_frame(MAC0, MAC_A, &reply),
        at_ms(5),
        &mut Recorder::default(),
    );
    let frames: Vec<ip::TxFrame> = l.take_tx().collect();
    assert_eq!(frames.len(), 3);
    for f in &frames {
        assert_eq!(f.data.len(), frame);
        assert_eq!(&f.data[..6], &MAC_A.0);
        assert_eq!(f.meta.gso.map(|g| g.size), Some(1448));
    }
    assert_eq!(l.arp_pending(), 0);
}

#[test]
fn with_checksum_offload_only_a_segment_gets_a_partial_checksum_and_no_tso() {
    let mut l = offload_iface(Offload {
        csum: true,
        tso: false,
    });
    let seg = tcp_segment(&pattern(1000, 2));
    let frames = send_l4(&mut l, TCP, &seg, 16, None);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].meta.csum, PARTIAL_TCP);
    assert_eq!(frames[0].meta.gso, None);
    let mut done = frames[0].data.clone();
    assert!(complete_checksum(&mut done, L4_AT as u16, 16));
    assert!(l4_verifies(US0, HOST_A, TCP, &done[L4_AT..]));
}

#[test]
fn without_offloads_a_segment_carries_a_full_checksum() {
    let mut l = offload_iface(Offload::NONE);
    let data = pattern(1000, 4);
    let seg = tcp_segment(&data);
    let frames = send_l4(&mut l, TCP, &seg, 16, None);
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    assert!(f.meta.is_plain(), "{:?}", f.meta);
    let dgram = datagram_of(f);
    assert!(l4_verifies(US0, HOST_A, TCP, &dgram[20..]));
    let e = etherparse::TcpHeaderSlice::from_slice(&dgram[20..]).unwrap();
    let want = e
        .to_header()
        .calc_checksum_ipv4_raw(US0.octets(), HOST_A.octets(), &data)
        .unwrap();
    assert_eq!(e.checksum(), want, "etherparse agrees");
}

#[test]
fn without_tso_a_large_segment_asking_for_it_is_fragmented_with_a_full_checksum() {
    // A sender must ask for TSO only where `IpTx::link` offers it; if it asks anyway,
    // nothing oversized reaches a device that cannot cut it.
    let mut l = offload_iface(Offload::NONE);
    let data = pattern(4000, 5);
    let seg = tcp_segment(&data);
    let meta = SendMeta {
        src: Some(US0),
        l4_csum: Some(16),
        gso_size: Some(1448),
        ..SendMeta::new(HOST_A, TCP)
    };
    l.tx()
        .send_with(&meta, seg.len(), &mut |b| b.copy_from_slice(&seg), T0)
        .unwrap();
    let frames: Vec<ip::TxFrame> = l.take_tx().collect();
    assert!(frames.len() > 1);
    assert!(frames.iter().all(|f| f.meta.is_plain()));
    assert!(frames.iter().all(|f| f.data.len() <= 1514));
    let whole = reassemble(frames.iter().map(|f| &f.data[ethernet::HEADER_LEN..]));
    assert!(l4_verifies(US0, HOST_A, TCP, &whole[20..]));
    assert_eq!(&whole[20 + TCP_HL..], &data[..]);
}

#[test]
fn a_tso_segment_cut_larger_than_the_mtu_is_refused() {
    // The interface's MTU went down under a sender that still cuts at 1448: refused (the
    // sender shrinks its segments), never handed to the device to cut too large.
    let mut l = offload_iface(Offload {
        csum: true,
        tso: true,
    });
    l.set_mtu(0, 1000).unwrap();
    let data = pattern(4000, 5);
    let seg = tcp_segment(&data);
    let send = |l: &mut IpLayer, size: u16| {
        let meta = SendMeta {
            src: Some(US0),
            l4_csum: Some(16),
            gso_size: Some(size),
            ..SendMeta::new(HOST_A, TCP)
        };
        l.tx()
            .send_with(&meta, seg.len(), &mut |b| b.copy_from_slice(&seg), T0)
    };
    assert_eq!(send(&mut l, 1448), Err(ip::SendError::TooLong));
    assert_eq!(l.stats().drop_frag_needed, 1);
    assert_eq!(l.take_tx().count(), 0);
    // Cut to fit (20 + TCP_HL + 948 = 1000): one frame for the device to cut.
    let size = (1000 - 20 - TCP_HL) as u16;
    assert_eq!(send(&mut l, size), Ok(()));
    let frames: Vec<ip::TxFrame> = l.take_tx().collect();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].meta.gso.map(|g| g.size), Some(size));
}

#[test]
fn a_tso_burst_within_the_mtu_is_still_cut_at_gso_size() {
    // A peer whose MSS (1000) is below what the link carries (1460): TCP hands over 1200
    // bytes to be cut at 1000. The datagram (20 + 32 + 1200) fits the 1500-byte MTU, but
    // a 1200-byte segment is beyond what the peer said it takes (RFC 9293 3.7.1): the
    // device must still be asked to cut it, or TCP's segments be sent as they were asked.
    let mut l = offload_iface(ALL_OFFLOADS);
    let data = pattern(1200, 6);
    let seg = tcp_segment(&data);
    let frames = send_l4(&mut l, TCP, &seg, 16, Some(1000));
    assert_eq!(frames.len(), 1);
    let payload = frames[0].data.len() - L4_AT - TCP_HL;
    assert_eq!(payload, 1200);
    assert_eq!(
        frames[0].meta.gso.map(|g| g.size),
        Some(1000),
        "a {payload}-byte segment left uncut: {:?}",
        frames[0].meta
    );
    assert_eq!(
        frames[0].meta.gso.map(|g| g.hdr_len),
        Some((L4_AT + TCP_HL) as u16)
    );
}

/// A UDP datagram 5000 -> 7 of `len` data bytes whose checksum comes out zero (the first
/// two data bytes are chosen for it), the checksum field zero.
fn udp_summing_to_zero(len: usize) -> Vec<u8> {
    let mut u = vec![0u8; 8 + len];
    u[0..2].copy_from_slice(&5000u16.to_be_bytes());
    u[2..4].copy_from_slice(&7u16.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    u[10..].copy_from_slice(&pattern(len - 2, 8));
    let ph = ip::checksum::pseudo_header(US0, HOST_A, UDP, (8 + len) as u16);
    let folded = !ip::checksum::finish(ip::checksum::sum(&u, ph));
    // Make the whole sum 0xffff, whose complement (the checksum) is zero.
    u[8..10].copy_from_slice(&(0xffff - folded).to_be_bytes());
    let c = ip::checksum::finish(ip::checksum::sum(&u, ph));
    assert_eq!(c, 0, "the computed checksum is zero");
    u
}

#[test]
fn a_udp_checksum_that_comes_out_zero_is_sent_as_all_ones() {
    // Within the MTU, in full.
    let mut l = offload_iface(Offload::NONE);
    let u = udp_summing_to_zero(100);
    let frames = send_l4(&mut l, UDP, &u, 6, None);
    assert_eq!(frames.len(), 1);
    let dgram = datagram_of(&frames[0]);
    assert_eq!(
        &dgram[26..28],
        &[0xff, 0xff],
        "zero means 'no checksum' in UDP"
    );
    assert!(l4_verifies(US0, HOST_A, UDP, &dgram[20..]));
    // Fragmented, in full.
    let u = udp_summing_to_zero(4000);
    let frames = send_l4(&mut l, UDP, &u, 6, None);
    assert!(frames.len() > 1);
    let whole = reassemble(frames.iter().map(|f| &f.data[ethernet::HEADER_LEN..]));
    assert_eq!(&whole[26..28], &[0xff, 0xff]);
    // Left to the device, which completes it as Linux does (a zero result sent as ones).
    let mut l = offload_iface(ALL_OFFLOADS);
    let u = udp_summing_to_zero(100);
    let frames = send_l4(&mut l, UDP, &u, 6, None);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0].meta.csum,
        Csum::Partial {
            start: L4_AT as u16,
            offset: 6
        }
    );
    let mut done = frames[0].data.clone();
    assert!(complete_checksum(&mut done, L4_AT as u16, 6));
    assert_eq!(&done[L4_AT + 6..L4_AT + 8], &[0xff, 0xff]);
    assert!(l4_verifies(US0, HOST_A, UDP, &done[L4_AT..]));
}

#[test]
fn a_learnt_path_mtu_shows_in_route_info_until_it_expires() {
    // RFC 1191 6.3: a path MTU learnt from "fragmentation needed" holds 10 minutes.
    let mut l = router();
    l.tx().set_path_mtu(HOST_B, 1280, T0);
    assert_eq!(l.tx().route_info(HOST_B), Some((US1, 1280)));
    assert_eq!(
        l.tx().route_info(HOST_A),
        Some((US0, 1500)),
        "per destination"
    );
    // Never above the interface's MTU.
    l.tx().set_path_mtu(HOST_A, 9000, T0);
    assert_eq!(l.tx().route_info(HOST_A), Some((US0, 1500)));
    let expiry = T0 + ip::pmtu::PMTU_EXPIRY;
    assert!(l.poll_at().is_some_and(|t| t <= expiry));
    let mut up = Recorder::default();
    l.poll(expiry - Duration::from_secs(1), &mut up);
    assert_eq!(l.tx().route_info(HOST_B), Some((US1, 1280)));
    l.poll(expiry, &mut up);
    assert_eq!(l.tx().route_info(HOST_B), Some((US1, 1500)));
}

/// A send after the learnt path MTU's 10 minutes (RFC 1191 6.3) uses the link's again,
/// though no `poll` has removed the entry yet: the send has its `now`.
#[test]
fn a_send_after_the_path_mtu_expired_uses_the_link_mtu() {
    let mut l = router();
    l.tx().set_path_mtu(HOST_B, 1000, T0);
    let meta = SendMeta {
        pmtu: Some(ip::PmtuMode::Do),
        ..SendMeta::new(HOST_B, UDP)
    };
    let expiry = T0 + ip::pmtu::PMTU_EXPIRY;
    assert_eq!(
        l.tx()
            .send(&meta, &[0u8; 1200], expiry - Duration::from_secs(1)),
        Err(SendError::TooLong)
    );
    assert_eq!(l.tx().send(&meta, &[0u8; 1200], expiry), Ok(()));
}

/// An echo request from HOST_A to US0 with `opts` (a multiple of 4 bytes), cut into
/// fragments of at most `mtu` bytes when it is longer (only the first keeps the options:
/// record route and timestamp are not copied into fragments).
fn echo_with_options(opts: &[u8], data: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    let msg = echo_request(0x0e0e, 4, data);
    let repr = Ipv4Repr {
        src: HOST_A,
        dst: US0,
        protocol: ICMP,
        ttl: 64,
        tos: 0,
        ident: 0x99,
        dont_fragment: false,
        payload_len: 0,
    };
    let mut out = Vec::new();
    let mut off = 0;
    while off < msg.len() {
        let o: &[u8] = if off == 0 { opts } else { &[] };
        let room = (mtu - 20 - o.len()) & !7;
        let end = (off + room).min(msg.len());
        let part = Ipv4Repr {
            payload_len: end - off,
            ..repr
        };
        let mut d = vec![0u8; 20 + o.len() + end - off];
        part.emit_with_options(&mut d, o, off, end < msg.len());
        d[20 + o.len()..].copy_from_slice(&msg[off..end]);
        out.push(d);
        off = end;
    }
    out
}

/// RFC 1122 3.2.2.6: record route and timestamp options of an echo request come back in
/// the reply with this host added, also when the request and the reply are fragmented.
#[test]
fn echo_replies_return_record_route_and_timestamp_options() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    // Record route (HOST_A already recorded, room for two more), then timestamps only.
    let mut opts = vec![7, 11, 8, 10, 0, 0, 2, 0, 0, 0, 0, 1];
    opts.extend_from_slice(&[68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (size, fragments) in [(56, 1), (4000, 3)] {
        let data = pattern(size, 3);
        let request = echo_with_options(&opts, &data, 1500);
        assert_eq!(request.len(), fragments);
        for d in &request {
            rx_ip(&mut l, &mut up, 0, d, T0);
        }
        let out = drain(&mut l);
        assert_eq!(out.len(), fragments, "{size} bytes");
        let first = out[0].ip();
        let options = &first.header()[20..];
        assert_eq!(options.len(), 24, "both options back");
        assert_eq!(&options[..11], &[7, 11, 12, 10, 0, 0, 2, 10, 0, 0, 1]);
        // Back to back (the request's NOP between them is not kept), then End-of-Options.
        assert_eq!(&options[11..15], &[68, 12, 9, 0]);
        let stamp = u32::from_be_bytes(options[15..19].try_into().unwrap());
        assert_eq!(stamp, 0x8000_0000 | T0.total_millis() as u32);
        assert_eq!(
            &options[19..],
            &[0; 5],
            "the second slot stays free, then the end"
        );
        for later in &out[1..] {
            assert_eq!(
                later.ip().header_len(),
                20,
                "not copied into later fragments"
            );
        }
        let whole = reassemble(out.iter().map(|s| &s.payload[..]));
        let p = Ipv4Packet::new_checked(&whole).unwrap();
        assert_eq!(
            IcmpRepr::parse(p.payload()).unwrap(),
            IcmpRepr::EchoReply {
                ident: 0x0e0e,
                seq: 4,
                data: &data
            }
        );
    }
    assert_eq!(l.icmp_stats().tx_echo_replies, 2);
    // Without options the reply has none.
    rx_ip(
        &mut l,
        &mut up,
        0,
        &echo_with_options(&[], b"x", 1500)[0],
        T0,
    );
    assert_eq!(drain(&mut l)[0].ip().header_len(), 20);
}

/// Options are looked into only in datagrams this host takes (or forwards): one for
/// another host, or for 127.0.0.1 from a link, is discarded silently whatever its options
/// (RFC 1122 3.2.1.3), with no parameter problem or "source route failed".
#[test]
fn datagrams_not_for_us_draw_no_icmp_about_their_options() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    for (k, dst) in [Ipv4Addr::new(10, 0, 0, 99), Ipv4Addr::LOCALHOST]
        .into_iter()
        .enumerate()
    {
        for (j, opts) in [&[7u8, 2, 0, 0][..], &[131, 7, 4, 10, 0, 0, 9, 0]]
            .into_iter()
            .enumerate()
        {
            let repr = Ipv4Repr {
                src: HOST_A,
                dst,
                protocol: UDP,
                ttl: 64,
                tos: 0,
                ident: 0x31,
                dont_fragment: false,
                payload_len: 4,
            };
            let mut d = vec![0u8; 20 + opts.len() + 4];
            repr.emit_with_options(&mut d, opts, 0, false);
            let at = T0 + Duration::from_secs(2 * k as u64 + j as u64 + 1);
            rx_ip(&mut l, &mut up, 0, &d, at);
            assert!(drain(&mut l).is_empty(), "{dst} {opts:?}");
        }
    }
    assert!(up.delivered.is_empty());
    assert_eq!(l.stats().drop_not_for_us, 4);
    assert_eq!(l.stats().drop_bad_options, 0);
    assert_eq!(l.stats().drop_source_route, 0);
}

// ---- multicast and IGMP (RFC 1112, RFC 2236) ------------------------------------------------

mod multicast {
    use super::*;
    use ip::igmp::{self, Message};
    use ip::GroupError;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
    const G_MAC: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
    const OTHER_GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);
    const IGMP: u8 = ipv4::protocol::IGMP;

    fn igmp_bytes(m: Message) -> Vec<u8> {
        let mut b = vec![0u8; igmp::HEADER_LEN];
        m.emit(&mut b);
        b
    }

    /// A datagram to a group in the frame a host sends it in (the group's MAC).
    fn rx_group(l: &mut IpLayer, up: &mut Recorder, packet: &[u8], now: Instant) {
        let dst = Ipv4Packet::new_checked(packet).unwrap().dst();
        let o = dst.octets();
        let mac = MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
        l.receive_frame(0, &eth(mac, MAC_A, ethertype::IPV4, packet), now, up);
    }

    /// The IGMP messages among `sent`, each checked as RFC 2236 2 wants it sent: TTL 1, the
    /// Router Alert option, from our address, to the group's MAC.
    fn igmp_sent(sent: &[Sent]) -> Vec<Message> {
        sent.iter()
            .filter(|s| s.is_ip() && s.ip().protocol() == IGMP)
            .map(|s| {
                let p = s.ip();
                assert_eq!(p.ttl(), 1);
                assert_eq!(&p.header()[20..24], &igmp::ROUTER_ALERT);
                assert_eq!(p.src(), US0);
                let o = p.dst().octets();
                assert_eq!(s.dst, MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]));
                assert!(sums_to_ones(p.payload()));
                let m = Message::parse(p.payload()).unwrap();
                assert_eq!(m.destination(), p.dst());
                m
            })
            .collect()
    }

    fn udp_to(dst: Ipv4Addr) -> Vec<u8> {
        Hdr::new(HOST_A, dst, UDP).packet(b"to the group")
    }

    fn joined() -> IpLayer {
        let mut l = one_iface();
        assert_eq!(l.tx().join_group(G, US0, T0), Ok(0));
        assert_eq!(
            igmp_sent(&drain(&mut l)),
            vec![Message::Report {
                version: 2,
                group: G
            }]
        );
        l
    }

    #[test]
    fn only_the_groups_joined_are_delivered() {
        let mut l = one_iface();
        let mut up = Recorder::default();
        rx_group(&mut l, &mut up, &udp_to(G), T0);
        assert!(up.delivered.is_empty());
        assert_eq!(l.stats().drop_not_member, 1);
        // The all-systems group needs no join.
        rx_group(&mut l, &mut up, &udp_to(igmp::ALL_SYSTEMS), T0);
        assert_eq!(up.delivered.len(), 1);
        let mut l = joined();
        let mut up = Recorder::default();
        rx_group(&mut l, &mut up, &udp_to(G), T0);
        rx_group(&mut l, &mut up, &udp_to(OTHER_GROUP), T0);
        assert_eq!(up.delivered.len(), 1);
        assert!(
            up.delivered[0].broadcast,
            "never answered with an ICMP error"
        );
        assert_eq!(l.stats().drop_not_member, 1);
        assert_eq!(l.interfaces()[0].groups, vec![(G, 1)]);
        // Not answered even when nobody listens on the port.
        let mut refusing = Recorder::answering(Delivery::PortUnreachable);
        rx_group(&mut l, &mut refusing, &udp_to(G), T0);
        assert!(drain(&mut l).is_empty());
    }

    #[test]
    fn a_join_names_an_interface_or_takes_the_routes() {
        let mut l = one_iface();
        let tx = l.tx();
        assert_eq!(
            tx.join_group(HOST_A, US0, T0),
            Err(GroupError::NotMulticast(HOST_A))
        );
        assert_eq!(
            tx.join_group(G, HOST_A, T0),
            Err(GroupError::NoInterface),
            "not one of our addresses"
        );
        assert_eq!(
            tx.join_group(G, Ipv4Addr::UNSPECIFIED, T0),
            Err(GroupError::NoInterface),
            "no route to the group"
        );
        l.add_route(cidr("224.0.0.0/4"), None, Some(0)).unwrap();
        assert_eq!(l.tx().join_group(G, Ipv4Addr::UNSPECIFIED, T0), Ok(0));
        assert_eq!(
            l.tx().leave_group(OTHER_GROUP, 0, T0),
            Err(GroupError::NotMember(OTHER_GROUP))
        );
    }

    #[test]
    fn a_join_is_reported_twice_and_a_leave_goes_to_all_routers() {
        let mut l = joined();
        let mut up = Recorder::default();
        // A second socket: nothing more on the wire.
        l.tx().join_group(G, US0, T0).unwrap();
        assert!(drain(&mut l).is_empty());
        let due = l.poll_at().expect("the report's repeat");
        assert!(due <= T0 + igmp::UNSOLICITED_REPORT_INTERVAL);
        l.poll(due, &mut up);
        assert_eq!(
            igmp_sent(&drain(&mut l)),
            vec![Message::Report {
                version: 2,
                group: G
            }]
        );
        assert_eq!(l.poll_at(), None);
        l.tx().leave_group(G, 0, due).unwrap();
        assert!(drain(&mut l).is_empty(), "one socket is still in");
        l.tx().leave_group(G, 0, due).unwrap();
        let sent = drain(&mut l);
        assert_eq!(igmp_sent(&sent), vec![Message::Leave { group: G }]);
        assert_eq!(sent[0].dst, MacAddr([0x01, 0x00, 0x5e, 0, 0, 2]));
        assert!(l.interfaces()[0].groups.is_empty());
        let st = l.igmp_stats();
        assert_eq!((st.tx_reports, st.tx_leaves), (2, 1));
    }

    #[test]
    fn queries_are_answered_within_their_time_unless_another_host_answers_first() {
        let mut l = joined();
        let mut up = Recorder::default();
        let t = T0 + Duration::from_secs(30);
        l.poll(t, &mut up);
        drain(&mut l);
        let query = |max_ms: u64, group: Ipv4Addr| {
            let m = Message::Query {
                version: 2,
                max_response: Duration::from_millis(max_ms),
                group,
            };
            let dst = if group.is_unspecified() {
                igmp::ALL_SYSTEMS
            } else {
                group
            };
            Hdr::new(ROUTER_C, dst, IGMP).ttl(1).packet(&igmp_bytes(m))
        };
        rx_group(&mut l, &mut up, &query(1000, Ipv4Addr::UNSPECIFIED), t);
        assert_eq!(up.delivered.len(), 1, "raw IGMP sockets see the query");
        let due = l.poll_at().unwrap();
        assert!(due >= t && due <= t + Duration::from_secs(1));
        l.poll(due, &mut up);
        assert_eq!(
            igmp_sent(&drain(&mut l)),
            vec![Message::Report {
                version: 2,
                group: G
            }]
        );
        // A snooping switch's query, from 0.0.0.0 (RFC 4541 2.1.1), is answered too.
        let t = t + Duration::from_secs(3);
        let q = query(1000, Ipv4Addr::UNSPECIFIED);
        let mut from_zero = q.clone();
        from_zero[12..16].copy_from_slice(&[0; 4]);
        ipv4::fill_checksum(&mut from_zero[..20]);
        rx_group(&mut l, &mut up, &from_zero, t);
        let due = l.poll_at().expect("a report due");
        l.poll(due, &mut up);
        assert_eq!(igmp_sent(&drain(&mut l)).len(), 1);
        // A query for another group asks nothing of us.
        rx_group(&mut l, &mut up, &query(1000, OTHER_GROUP), t);
        assert_eq!(l.poll_at(), None);
        // Another member answers first: ours is held back.
        let t = t + Duration::from_secs(10);
        rx_group(&mut l, &mut up, &query(5000, G), t);
        assert!(l.poll_at().is_some());
        let theirs = igmp_bytes(Message::Report {
            version: 2,
            group: G,
        });
        // A report unicast to us is no other member's answer to the query (reports go to
        // the group, RFC 2236 3; Linux heeds only those that came by link multicast):
        // ours stays due.
        let unicast = Hdr::new(HOST_A, US0, IGMP).ttl(1).packet(&theirs);
        rx_ip(&mut l, &mut up, 0, &unicast, t);
        assert!(l.poll_at().is_some(), "a unicast report held ours back");
        rx_group(
            &mut l,
            &mut up,
            &Hdr::new(HOST_A, G, IGMP).ttl(1).packet(&theirs),
            t,
        );
        assert_eq!(l.poll_at(), None);
        l.poll(t + Duration::from_secs(5), &mut up);
        assert!(drain(&mut l).is_empty());
        assert_eq!(l.igmp_stats().reports_suppressed, 1);
        // So the other host, not we, says when the group is left.
        l.tx().leave_group(G, 0, t).unwrap();
        assert!(drain(&mut l).is_empty());
    }

    #[test]
    fn malformed_igmp_is_counted_and_ignored() {
        let mut l = joined();
        let mut up = Recorder::default();
        let mut bad = igmp_bytes(Message::Query {
            version: 2,
            max_response: Duration::from_secs(1),
            group: Ipv4Addr::UNSPECIFIED,
        });
        bad[1] ^= 0x40;
        let to_all = |b: &[u8]| Hdr::new(ROUTER_C, igmp::ALL_SYSTEMS, IGMP).packet(b);
        rx_group(&mut l, &mut up, &to_all(&bad), T0);
        rx_group(&mut l, &mut up, &to_all(&bad[..5]), T0);
        let mut ten = [0x11, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        let c = !ten
            .chunks(2)
            .fold(0u32, |a, w| a + u32::from(u16::from_be_bytes([w[0], w[1]])))
            as u16;
        ten[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(sums_to_ones(&ten));
        rx_group(&mut l, &mut up, &to_all(&ten), T0);
        let st = l.igmp_stats();
        assert_eq!(
            (st.drop_bad_checksum, st.drop_truncated, st.drop_bad_query),
            (1, 1, 1)
        );
        // Raw IGMP sockets see each (Linux's raw_local_deliver comes first); nothing else.
        assert_eq!(up.delivered.len(), 3);
        // Nothing scheduled beyond the join's own repeat.
        assert!(l.poll_at().unwrap() <= T0 + igmp::UNSOLICITED_REPORT_INTERVAL);
        assert!(drain(&mut l).is_empty(), "no ICMP error about IGMP");
    }

    fn send_to_group(l: &mut IpLayer, lo: bool) -> Result<(), SendError> {
        let meta = SendMeta {
            multicast_if: Some(US0),
            multicast_loop: lo,
            ..SendMeta::new(G, UDP)
        };
        let tx = l.tx();
        tx.send(&meta, b"12345678 to all", T0)
    }

    #[test]
    fn multicast_leaves_for_the_groups_mac_with_ttl_1_and_members_here_get_a_copy() {
        // A default gateway: multicast still goes straight to the group, not to it.
        let mut l = one_iface();
        l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
            .unwrap();
        let mut up = Recorder::default();
        let tx = l.tx();
        tx.send(&SendMeta::new(G, UDP), b"12345678", T0).unwrap();
        let sent = drain(&mut l);
        assert_eq!(sent.len(), 1, "no ARP for the gateway: {sent:?}");
        assert_eq!(sent[0].dst, G_MAC);
        assert_eq!(sent[0].ip().ttl(), 1);
        assert_eq!(l.poll_at(), None, "not a member: no copy here");
        // A TTL asked for is kept.
        let meta = SendMeta {
            ttl: Some(8),
            ..SendMeta::new(G, UDP)
        };
        l.tx().send(&meta, b"12345678", T0).unwrap();
        assert_eq!(drain(&mut l)[0].ip().ttl(), 8);
        // A member: a copy comes up at the next poll, which is due at once.
        l.tx().join_group(G, US0, T0).unwrap();
        drain(&mut l);
        send_to_group(&mut l, true).unwrap();
        assert_eq!(drain(&mut l).len(), 1);
        assert_eq!(l.poll_at(), Some(Instant::ZERO));
        l.poll(T0, &mut up);
        assert_eq!(up.delivered.len(), 1);
        let got = &up.delivered[0];
        assert!(got.broadcast && got.csum_ok);
        let p = Ipv4Packet::new_checked(&got.packet).unwrap();
        assert_eq!(
            (p.src(), p.dst(), p.payload()),
            (US0, G, &b"12345678 to all"[..])
        );
        assert_eq!(l.stats().multicast_looped, 1);
        // IP_MULTICAST_LOOP off: none.
        send_to_group(&mut l, false).unwrap();
        assert_eq!(drain(&mut l).len(), 1);
        assert!(!l.has_looped());
        // TTL 0: this host only, so with the loop off nowhere at all (as Linux).
        for lo in [true, false] {
            let meta = SendMeta {
                ttl: Some(0),
                multicast_loop: lo,
                ..SendMeta::new(G, UDP)
            };
            l.tx().send(&meta, b"12345678", T0).unwrap();
            assert!(drain(&mut l).is_empty(), "TTL 0 never leaves");
            assert_eq!(l.has_looped(), lo);
            l.deliver_looped(T0, &mut up);
        }
        assert_eq!(l.stats().multicast_looped, 2);
    }

    /// As Linux's `ip_mc_output` for a broadcast route: a broadcast this host sends (the
    /// limited one, or its network's) comes up here too, as received on the interface it
    /// left by, whatever `IP_MULTICAST_LOOP` says (Linux loops broadcasts unconditionally).
    /// The copy draws no ICMP error (RFC 1122 3.2.2) and no echo reply (broadcast echo is
    /// ignored, as Linux's `icmp_echo_ignore_broadcasts`); a unicast, or a broadcast that
    /// cannot leave (interface down), has none.
    #[test]
    fn broadcasts_sent_come_up_here_as_received_on_their_interface() {
        let mut l = one_iface();
        l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
            .unwrap();
        introduce(&mut l, 0, HOST_A, MAC_A, T0);
        let mut up = Recorder::answering(Delivery::PortUnreachable);
        let sends = [(Ipv4Addr::BROADCAST, true), (BCAST0, true), (BCAST0, false)];
        for (dst, lo) in sends {
            let meta = SendMeta {
                multicast_loop: lo,
                ..SendMeta::new(dst, UDP)
            };
            l.tx().send(&meta, b"12345678 to all", T0).unwrap();
            let sent = drain(&mut l);
            assert_eq!(sent.len(), 1, "{dst}");
            assert_eq!(sent[0].dst, MacAddr::BROADCAST);
            assert!(l.has_looped(), "{dst}, loop {lo}");
            assert_eq!(l.poll_at(), Some(Instant::ZERO));
            l.poll(T0, &mut up);
            assert!(!l.has_looped());
        }
        assert_eq!(up.delivered.len(), 3);
        for (got, (dst, _)) in up.delivered.iter().zip(sends) {
            assert!(got.broadcast && got.csum_ok);
            assert_eq!(got.ifindex, 0);
            let p = Ipv4Packet::new_checked(&got.packet).unwrap();
            assert_eq!(
                (p.src(), p.dst(), p.payload()),
                (US0, dst, &b"12345678 to all"[..])
            );
        }
        // Nobody listened (port unreachable): no ICMP error goes out about them.
        assert!(drain(&mut l).is_empty(), "no ICMP error about a broadcast");
        assert_eq!(l.icmp_stats().tx_messages, 0);
        assert_eq!(
            (l.stats().broadcast_looped, l.stats().multicast_looped),
            (3, 0)
        );
        // `ping -b`: our own request comes up (raw sockets see it), unanswered.
        let echo = echo_request(1, 1, b"ping -b");
        l.tx()
            .send(&SendMeta::new(BCAST0, ICMP), &echo, T0)
            .unwrap();
        assert_eq!(drain(&mut l).len(), 1);
        l.poll(T0, &mut up);
        assert_eq!(up.delivered.len(), 4);
        assert!(drain(&mut l).is_empty(), "no echo reply to ourselves");
        assert_eq!(l.icmp_stats().drop_broadcast_echo, 1);
        assert_eq!(l.stats().broadcast_looped, 4);
        // A unicast: no copy.
        l.tx()
            .send(&SendMeta::new(HOST_A, UDP), b"to one", T0)
            .unwrap();
        assert_eq!(drain(&mut l).len(), 1);
        assert!(!l.has_looped());
        // Down: nothing leaves, so nothing comes back.
        l.set_up(0, false, T0).unwrap();
        drain(&mut l);
        for dst in [Ipv4Addr::BROADCAST, BCAST0] {
            assert!(l.tx().send(&SendMeta::new(dst, UDP), b"x", T0).is_err());
        }
        assert!(!l.has_looped());
        assert_eq!(l.stats().broadcast_looped, 4);
    }

    #[test]
    fn an_interface_that_comes_up_again_reports_its_groups() {
        let mut l = joined();
        l.set_up(0, false, T0).unwrap();
        // Joined while down: nothing sent until it is up.
        l.tx().join_group(OTHER_GROUP, US0, T0).unwrap();
        assert!(drain(&mut l).is_empty());
        l.set_up(0, true, T0).unwrap();
        let mut sent = igmp_sent(&drain(&mut l));
        sent.sort_by_key(|m| m.destination());
        let report = |group| Message::Report { version: 2, group };
        assert_eq!(sent, vec![report(G), report(OTHER_GROUP)]);
    }
}

// ==== Review 16: defects an independent review found, each test failing before its fix ======

/// RFC 7739 5 (and RFC 6864 for datagrams that may be fragmented): the Identification of
/// the datagrams to one destination must not tell an observer how many went to others,
/// nor start where every stack starts. Linux draws it from hashed per-destination counters
/// with a random secret (`ip_idents_reserve`). One counter, starting at 1, served
/// every destination: a host on the LAN reads this host's whole output rate off the IDs it
/// received (idle scan), and an off-path attacker predicted the ID of the next fragmented
/// datagram to a victim (fragment injection, RFC 7739 3).
#[test]
fn ip_ids_towards_one_host_do_not_count_the_datagrams_sent_to_others() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    let id_of_next = |l: &mut IpLayer, dst: Ipv4Addr| {
        l.tx().send(&SendMeta::new(dst, UDP), b"x", T0).unwrap();
        let out = drain(l);
        assert_eq!(out.len(), 1);
        out[0].ip().ident()
    };
    let first = id_of_next(&mut l, HOST_A);
    for _ in 0..5 {
        id_of_next(&mut l, ROUTER_C);
    }
    let second = id_of_next(&mut l, HOST_A);
    assert_ne!(
        second.wrapping_sub(first),
        6,
        "HOST_A sees the five datagrams sent to ROUTER_C in its IDs ({first} then {second})"
    );
    assert_ne!(first, 1, "the first ID is the same on every stack");
}
/// RFC 2644 (updating RFC 1812 5.3.5.2): a router's default MUST be to discard directed
/// broadcasts rather than forward them; Linux neither forwards them (`bc_forwarding` 0)
/// nor sends them out as link broadcasts, it takes them itself. A unicast datagram
/// to 10.0.1.255 arriving on if0 was forwarded onto if1 as an Ethernet broadcast: with
/// forwarding on, every host on 10.0.1.0/24 answers one packet from outside (a smurf
/// amplifier, the reason for RFC 2644).
#[test]
fn a_directed_broadcast_to_another_connected_network_is_not_forwarded() {
    let mut l = router();
    let mut up = Recorder::default();
    let bcast1 = Ipv4Addr::new(10, 0, 1, 255);
    let ping = Hdr::new(HOST_A, bcast1, ICMP).packet(&echo_request(7, 1, b"smurf"));
    rx_ip(&mut l, &mut up, 0, &ping, T0);
    let out = drain(&mut l);
    assert!(
        !out.iter()
            .any(|s| s.ifindex == 1 && s.dst == MacAddr::BROADCAST),
        "broadcast onto if1: {out:?}"
    );
    assert_eq!(l.stats().rx_forwarded, 0);
}
/// Linux never rate-limits "fragmentation needed" (`icmpv4_global_allow` and
/// `icmpv4_xrlim_allow`: "Don't limit PMTU discovery"), since a sender that does not hear
/// it retransmits into a black hole (RFC 2923 2.1). It shared one bucket with every
/// other error: a host probing closed ports (or anyone sending what draws errors) used it
/// up and the forwarded flows with DF lost their path MTU discovery.
#[test]
fn fragmentation_needed_is_not_held_back_by_the_error_rate_limit() {
    let mut l = router();
    l.set_mtu(1, 576).unwrap();
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let knock = Hdr::new(HOST_A, US0, UDP).packet(b"closed port");
    for _ in 0..100 {
        rx_ip(&mut l, &mut up, 0, &knock, T0);
    }
    drain(&mut l);
    assert!(
        l.icmp_stats().errors_rate_limited > 0,
        "the bucket is empty"
    );
    let big = Hdr::new(HOST_A, HOST_B, UDP).df().packet(&pattern(1000, 5));
    rx_ip(&mut l, &mut up, 0, &big, T0);
    let out = drain(&mut l);
    let frag_needed = out.iter().any(|s| {
        s.is_ip()
            && s.ip().protocol() == ICMP
            && matches!(
                s.icmp(),
                IcmpRepr::DestUnreachable {
                    code: icmp::unreach::FRAG_NEEDED,
                    ..
                }
            )
    });
    assert!(frag_needed, "no fragmentation needed sent: {out:?}");
}
/// ICMP errors were limited by one bucket for all destinations. Linux limits them per
/// destination too (`icmp_ratelimit`, 1 s per peer after a burst of 6, through inet_peer)
/// and charges the global bucket only for what the per-peer limit lets through, so one
/// host probing closed ports cannot silence the errors every other host is owed
/// (port unreachable that ends a UDP client's wait, time exceeded for traceroute).
#[test]
fn one_host_drawing_errors_does_not_use_up_the_errors_of_the_others() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let knock = Hdr::new(HOST_A, US0, UDP).packet(b"scan");
    for _ in 0..200 {
        rx_ip(&mut l, &mut up, 0, &knock, T0);
    }
    drain(&mut l);
    let once = Hdr::new(ROUTER_C, US0, UDP).packet(b"one query");
    rx_ip(&mut l, &mut up, 0, &once, T0);
    let out = drain(&mut l);
    assert_eq!(
        out.iter()
            .filter(|s| s.is_ip() && s.ip().dst() == ROUTER_C)
            .count(),
        1,
        "ROUTER_C gets no port unreachable: {out:?}"
    );
}
/// Linux's `icmp_rcv` drops every ICMP message to a broadcast or multicast address but
/// echo, timestamp and address mask (RFC 1122 3.2.2.6 and 3.2.2.8 for those): an error or
/// a redirect names one datagram of one host and is never sent to many (RFC 1122 3.2.2:
/// a router sends it to the source, a unicast address). A redirect or an error sent
/// to the subnet broadcast was acted on by every host of the subnet at once: a redirect
/// moved all their traffic to a destination, an error reached their transports.
#[test]
fn icmp_errors_and_redirects_to_a_broadcast_address_are_ignored() {
    let far = Ipv4Addr::new(192, 168, 9, 9);
    let mut l = one_iface();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    l.tx().send(&SendMeta::new(far, UDP), b"far", T0).unwrap();
    let quoted = drain(&mut l)[0].payload.clone();
    let redirect = icmp_bytes(&IcmpRepr::Redirect {
        code: icmp::redirect::HOST,
        gateway: HOST_A,
        original: &quoted,
    });
    let unreachable = icmp_bytes(&IcmpRepr::DestUnreachable {
        code: icmp::unreach::PORT,
        next_hop_mtu: 0,
        original: &quoted,
    });
    let mut up = Recorder::default();
    for msg in [&redirect, &unreachable] {
        let d = Hdr::new(ROUTER_C, BCAST0, ICMP).packet(msg);
        rx_ip_bcast(&mut l, &mut up, 0, &d, T0);
    }
    assert_eq!(
        l.route_lookup(far).unwrap().kind,
        RouteKind::Static,
        "a broadcast redirect moved the route"
    );
    assert_eq!(l.icmp_stats().rx_redirects_applied, 0);
    assert!(up.errors.is_empty(), "reported up: {:?}", up.errors);
}
/// A datagram from `src` to `dst` whose header carries `opts` (a multiple of 4 bytes).
fn options_datagram(src: Ipv4Addr, dst: Ipv4Addr, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol: UDP,
        ttl: 64,
        tos: 0,
        ident: 0x5151,
        dont_fragment: false,
        payload_len: payload.len(),
    };
    let mut d = vec![0u8; 20 + opts.len() + payload.len()];
    repr.emit_with_options(&mut d, opts, 0, false);
    d[20 + opts.len()..].copy_from_slice(payload);
    d
}
/// RFC 791 3.1 (Record Route): "When an internet module routes a datagram it checks to see
/// if the record route option is present. If it is, it inserts its own internet address
/// as known in the environment into which this datagram is being forwarded ... and
/// increments the pointer by four"; Linux does (`ip_forward_options`), and stamps the
/// timestamp option likewise. Forwarded datagrams kept their options as they came,
/// so `ping -R` through this router left it out of the route.
#[test]
fn a_forwarded_record_route_gets_this_router_added() {
    let mut l = router();
    let mut up = Recorder::default();
    // Record route, room for two addresses, none recorded yet; End-of-Options.
    let rr = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let d = options_datagram(HOST_A, HOST_B, &rr, &pattern(40, 1));
    rx_ip(&mut l, &mut up, 0, &d, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    let p = out[0].ip();
    assert_eq!((out[0].ifindex, p.dst(), p.ttl()), (1, HOST_B, 63));
    assert_eq!(
        &p.header()[20..27],
        &[7, 11, 8, 10, 0, 1, 1],
        "the outgoing interface's address recorded, pointer moved on"
    );
}
/// RFC 1812 5.2.7.2: routers MUST NOT send a redirect unless "the packet does not contain
/// an IP source route option" (the sender chose its hops; Linux: `!opt->srr` in
/// `ip_forward`, and by default it drops source-routed datagrams altogether,
/// `accept_source_route` 0). A datagram with a used-up loose source route that leaves
/// by the interface it came in on was forwarded with a redirect to its source.
#[test]
fn no_redirect_about_a_datagram_with_a_source_route() {
    let mut l = router();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    l.add_route(cidr("10.0.2.0/24"), Some(ROUTER_C), Some(0))
        .unwrap();
    let mut up = Recorder::default();
    let far = Ipv4Addr::new(10, 0, 2, 9);
    // Loose source route, used up (pointer past the one hop it held), then End-of-Options.
    let lsrr = [131, 7, 8, 10, 0, 0, 1, 0];
    let d = options_datagram(HOST_A, far, &lsrr, &pattern(30, 2));
    rx_ip(&mut l, &mut up, 0, &d, T0);
    let out = drain(&mut l);
    assert!(
        !out.iter().any(|s| s.is_ip() && s.ip().protocol() == ICMP),
        "an ICMP message about it: {out:?}"
    );
    assert_eq!(l.icmp_stats().tx_redirects, 0);
}
/// RFC 1122 3.2.1.7: "A host MUST NOT send a datagram with a Time-to-Live (TTL) value of
/// zero." Linux refuses IP_TTL 0 (`do_ip_setsockopt`: 1 to 255). `IpTx::send_with`
/// took `SendMeta::ttl` Some(0) for a unicast destination and put it on the wire; now it
/// says `SendError::ZeroTtl`. Only multicast takes TTL 0, as "this host only".
#[test]
fn a_unicast_datagram_never_leaves_with_ttl_zero() {
    let mut l = one_iface();
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    let meta = SendMeta {
        ttl: Some(0),
        ..SendMeta::new(HOST_A, UDP)
    };
    let r = l.tx().send(&meta, b"zero", T0);
    let out = drain(&mut l);
    assert!(
        out.iter().all(|s| !s.is_ip() || s.ip().ttl() != 0),
        "sent with TTL 0 ({r:?}): {out:?}"
    );
}

/// An ICMP error whose quote does not hold the offending datagram's header and the 8
/// octets after it (RFC 1122 3.2.2) names no conversation: it goes to raw sockets, and
/// is dropped and counted (`drop_bad_quote`), as Linux counts it (InErrors). Before, it
/// moved `rx_errors` only, or went up to the transport with a quote it cannot use.
#[test]
fn an_icmp_error_with_an_unusable_quote_is_counted() {
    let mut l = one_iface();
    let mut up = Recorder::default();
    let ours = Hdr::new(US0, HOST_A, UDP).packet(&pattern(8, 6));
    for quote in [&ours[..10], &ours[..24], &[0x60; 28][..]] {
        let err = icmp_bytes(&IcmpRepr::DestUnreachable {
            code: icmp::unreach::PORT,
            next_hop_mtu: 0,
            original: quote,
        });
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(HOST_A, US0, ICMP).packet(&err),
            T0,
        );
    }
    assert!(up.errors.is_empty(), "{:?}", up.errors);
    assert_eq!(up.delivered.len(), 3, "raw sockets see them");
    assert_eq!(l.icmp_stats().drop_bad_quote, 3);
    // A whole quote still goes up.
    let err = icmp_bytes(&IcmpRepr::DestUnreachable {
        code: icmp::unreach::PORT,
        next_hop_mtu: 0,
        original: &ours[..28],
    });
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, US0, ICMP).packet(&err),
        T0,
    );
    assert_eq!(up.errors.len(), 1);
    assert_eq!(l.icmp_stats().drop_bad_quote, 3);
}

/// Port unreachables to this host itself (over loopback) skip the per-destination bucket,
/// as Linux's `icmpv4_xrlim_allow` does: a local program sending to a closed local port
/// hears every refusal, not 6 and then one a second.
#[test]
fn port_unreachables_over_loopback_are_not_limited_per_destination() {
    let mut l = one_iface();
    let lo = l.add_interface(&loopback_device());
    l.set_address(lo, Some(cidr("127.0.0.1/8")), T0).unwrap();
    l.set_up(lo, true, T0).unwrap();
    drain(&mut l);
    let mut up = Recorder::answering(Delivery::PortUnreachable);
    let local = Ipv4Addr::new(127, 0, 0, 1);
    let p = Hdr::new(local, local, UDP).packet(b"anyone?");
    let frame = eth(MacAddr::ZERO, MacAddr::ZERO, ethertype::IPV4, &p);
    for _ in 0..20 {
        l.receive_frame(lo, &frame, T0, &mut up);
    }
    let errors = drain(&mut l)
        .into_iter()
        .filter(|s| s.is_ip() && s.ip().protocol() == ICMP)
        .count();
    assert_eq!((errors, l.icmp_stats().errors_rate_limited), (20, 0));
}

/// A redirect quoting the header alone, without the 8 octets after it, is unusable
/// (RFC 1122 3.2.2): counted as such, and it changes no route either.
#[test]
fn a_redirect_with_a_bare_header_quote_changes_no_route() {
    let far = Ipv4Addr::new(192, 168, 9, 9);
    let mut l = one_iface();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    l.tx().send(&SendMeta::new(far, UDP), b"far", T0).unwrap();
    let quoted = drain(&mut l)[0].payload[..20].to_vec();
    let msg = icmp_bytes(&IcmpRepr::Redirect {
        code: icmp::redirect::HOST,
        gateway: HOST_A,
        original: &quoted,
    });
    let mut up = Recorder::default();
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(ROUTER_C, US0, ICMP).packet(&msg),
        T0,
    );
    assert_eq!(l.icmp_stats().drop_bad_quote, 1);
    assert_eq!(
        (
            l.icmp_stats().rx_redirects_applied,
            l.route_lookup(far).unwrap().kind
        ),
        (0, RouteKind::Static)
    );
}

/// An IGMP report the full queue to the drivers dropped did not leave: not counted sent.
#[test]
fn an_igmp_report_dropped_by_a_full_tx_queue_is_not_counted_as_sent() {
    let mut l = one_iface_with(IpConfig {
        tx_queue: 1,
        ..IpConfig::default()
    });
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.tx()
        .send(&SendMeta::new(HOST_A, UDP), b"fills the queue", T0)
        .unwrap();
    l.tx()
        .join_group(Ipv4Addr::new(239, 1, 2, 3), US0, T0)
        .unwrap();
    assert_eq!(drain(&mut l).len(), 1);
    assert_eq!(l.stats().drop_tx_queue_full, 1);
    assert_eq!(l.igmp_stats().tx_reports, 0);
}

mod rt_review_tests {
    use super::*;

    /// Linux (since "icmp: change the order of rate limits", 6.12) checks the bucket for all
    /// destinations first without drawing on it, then takes the destination's token, and
    /// only then the shared one (`icmpv4_global_allow`, `icmpv4_xrlim_allow`,
    /// `icmp_global_consume`): an error the shared bucket holds back costs its destination
    /// nothing. Here the destination's token went even when the shared bucket then said
    /// no, so a host whose datagrams drew errors while another flood emptied the shared
    /// bucket had its own bucket emptied too, and heard nothing for seconds after.
    #[test]
    fn an_error_the_shared_bucket_holds_back_costs_its_destination_no_token() {
        const OTHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
        let mut l = one_iface_with(IpConfig {
            icmp_rate: (10, 1),
            ..IpConfig::default()
        });
        introduce(&mut l, 0, HOST_A, MAC_A, T0);
        introduce(&mut l, 0, OTHER, MAC_C, T0);
        let mut up = Recorder::answering(Delivery::PortUnreachable);
        // Another host takes the shared bucket's only token.
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(OTHER, US0, UDP).packet(b"x"),
            T0,
        );
        assert_eq!(drain(&mut l).len(), 1);
        // HOST_A's datagrams at the same instant: held back by the shared bucket.
        let dgram = Hdr::new(HOST_A, US0, UDP).packet(b"knock");
        for _ in 0..6 {
            rx_ip(&mut l, &mut up, 0, &dgram, T0);
        }
        assert_eq!(drain(&mut l).len(), 0);
        // 100 ms on, the shared bucket has a token again; HOST_A's own never gave one.
        rx_ip(&mut l, &mut up, 0, &dgram, at_ms(100));
        assert_eq!(
            drain(&mut l).len(),
            1,
            "HOST_A's bucket was drained by held-back errors"
        );
    }
}

/// RFC 1122 3.2.2.2: a redirect names a new gateway, one host of the connected network.
/// The network's broadcast or own address is none (a static route via them is refused
/// with `NotUnicast`, and Linux rejects such a redirect): taken from the first hop, the
/// host route sent every later datagram to that destination in a link-layer broadcast to
/// every host of the network.
#[test]
fn a_redirect_to_the_network_s_broadcast_or_own_address_is_ignored() {
    let (mut l, quoted) = by_the_default_gateway();
    for gateway in [BCAST0, Ipv4Addr::new(10, 0, 0, 0)] {
        redirect_from_the_gateway(&mut l, icmp::redirect::HOST, gateway, &quoted);
        assert_eq!(
            l.route_lookup(FAR).unwrap().gateway,
            Some(ROUTER_C),
            "{gateway}"
        );
        l.tx().send(&SendMeta::new(FAR, UDP), b"far", T0).unwrap();
        assert_eq!(drain(&mut l)[0].dst, MAC_C, "{gateway}");
    }
    assert_eq!(l.icmp_stats().rx_redirects_applied, 0);
    assert_eq!(l.icmp_stats().redirects_ignored, 2);
}

/// A host off the network, reached by the default gateway.
const FAR: Ipv4Addr = Ipv4Addr::new(192, 168, 9, 9);

/// A host whose default gateway is ROUTER_C, HOST_A a neighbour too, that sent a
/// datagram to `FAR` (by the gateway); what a redirect about it quotes.
fn by_the_default_gateway() -> (IpLayer, Vec<u8>) {
    let mut l = one_iface();
    introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
    introduce(&mut l, 0, HOST_A, MAC_A, T0);
    l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
        .unwrap();
    l.tx().send(&SendMeta::new(FAR, UDP), b"far", T0).unwrap();
    let out = drain(&mut l);
    assert_eq!(out[0].dst, MAC_C);
    (l, out[0].payload.clone())
}

/// The gateway's redirect about `quoted`, with `code`, to `gateway`.
fn redirect_from_the_gateway(l: &mut IpLayer, code: u8, gateway: Ipv4Addr, quoted: &[u8]) {
    let msg = icmp_bytes(&IcmpRepr::Redirect {
        code,
        gateway,
        original: quoted,
    });
    let d = Hdr::new(ROUTER_C, US0, ICMP).packet(&msg);
    rx_ip(l, &mut Recorder::default(), 0, &d, T0);
}

/// RFC 1812 5.2.7.2: a router MUST NOT send a redirect unless "the IP source address in
/// the packet is on the same Logical IP (sub)network as the next-hop IP address". A next
/// hop reached on if0 by a device route to another network (or a gateway reached by an
/// on-link host route) is not on the sender's network: its host would refuse such a
/// gateway (RFC 1122 3.2.2.2), yet a redirect naming it went out with every datagram
/// forwarded there. The datagram is still forwarded.
#[test]
fn no_redirect_names_a_next_hop_off_the_sender_s_network() {
    let mut l = router();
    let far = Ipv4Addr::new(192, 168, 50, 2);
    l.add_route(cidr("192.168.50.0/24"), None, Some(0)).unwrap();
    l.arp_add_static(far, MAC_C).unwrap();
    let mut up = Recorder::default();
    let dgram = Hdr::new(HOST_A, far, UDP).packet(&pattern(30, 3));
    rx_ip(&mut l, &mut up, 0, &dgram, T0);
    let out = drain(&mut l);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].ifindex, out[0].dst), (0, MAC_C));
    assert_eq!(l.icmp_stats().tx_redirects, 0);
    assert_eq!(l.stats().rx_forwarded, 1);
}

/// RFC 1122 3.2.2.2: a redirect is taken only from the current first hop for the quoted
/// destination. Datagrams to a group or to 255.255.255.255 leave for the group's or the
/// broadcast MAC, by no gateway: the default gateway is not their first hop. A redirect
/// from it about one was taken as about a unicast destination, a learned host route for
/// the group (or the broadcast address) took one of the bounded slots and pushed out a
/// real one, and was counted as applied.
#[test]
fn a_redirect_about_a_multicast_or_broadcast_datagram_is_ignored() {
    for group_or_all in [Ipv4Addr::new(224, 0, 0, 251), Ipv4Addr::BROADCAST] {
        let mut l = one_iface();
        introduce(&mut l, 0, ROUTER_C, MAC_C, T0);
        introduce(&mut l, 0, HOST_A, MAC_A, T0);
        l.add_route(cidr("0.0.0.0/0"), Some(ROUTER_C), None)
            .unwrap();
        l.tx()
            .send(&SendMeta::new(group_or_all, UDP), b"to all", T0)
            .unwrap();
        let sent = drain(&mut l);
        assert_ne!(sent[0].dst, MAC_C, "not by the gateway");
        let msg = icmp_bytes(&IcmpRepr::Redirect {
            code: icmp::redirect::HOST,
            gateway: HOST_A,
            original: &sent[0].payload,
        });
        let mut up = Recorder::default();
        let d = Hdr::new(ROUTER_C, US0, ICMP).packet(&msg);
        rx_ip(&mut l, &mut up, 0, &d, T0);
        let st = l.icmp_stats();
        assert_eq!(
            (st.rx_redirects_applied, st.redirects_ignored),
            (0, 1),
            "{group_or_all}"
        );
        assert_eq!(
            l.route_lookup(group_or_all).unwrap().kind,
            RouteKind::Static,
            "{group_or_all}"
        );
    }
}

/// RFC 792 defines redirect codes 0 to 3; a code beyond them (Linux ignores those too) is
/// no instruction to change a route, even from the first hop to a neighbour. The four
/// defined codes are all taken (as host redirects).
#[test]
fn a_redirect_with_an_undefined_code_is_ignored() {
    for code in [0, 1, 2, 3, 4, 7, 255] {
        let (mut l, quoted) = by_the_default_gateway();
        redirect_from_the_gateway(&mut l, code, HOST_A, &quoted);
        let st = l.icmp_stats();
        let taken = code <= 3;
        assert_eq!(st.rx_redirects_applied, u64::from(taken), "code {code}");
        assert_eq!(st.redirects_ignored, u64::from(!taken), "code {code}");
        l.tx().send(&SendMeta::new(FAR, UDP), b"far", T0).unwrap();
        let via = if taken { MAC_A } else { MAC_C };
        assert_eq!(drain(&mut l)[0].dst, via, "code {code}");
    }
}

/// RFC 3927 2.7: "A router MUST NOT forward a packet with an IPv4 Link-Local source or
/// destination address, irrespective of the router's default route configuration or
/// routes obtained from dynamic routing protocols." Both went out by the default route
/// (found by a review); they are dropped and counted, with no ICMP error. Delivered here,
/// a link-local source is a neighbour's like any other.
#[test]
fn link_local_sources_and_destinations_are_not_forwarded() {
    let mut l = router();
    let mut up = Recorder::answering(Delivery::Delivered);
    l.add_route(cidr("0.0.0.0/0"), Some(HOST_B), None).unwrap();
    let link_local = Ipv4Addr::new(169, 254, 7, 7);
    for (src, dst) in [(HOST_A, link_local), (link_local, HOST_B)] {
        let p = Hdr::new(src, dst, UDP).packet(b"payload!");
        rx_ip(&mut l, &mut up, 0, &p, T0);
        let out = drain(&mut l);
        assert!(out.is_empty(), "{src} -> {dst} was forwarded: {out:?}");
    }
    assert_eq!(l.stats().rx_forwarded, 0);
    assert_eq!(l.stats().drop_bad_destination, 2);
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(link_local, US0, UDP).packet(b"for us"),
        T0,
    );
    assert_eq!(up.delivered.len(), 1);
}

/// Linux's `icmp_send` sends no error about an ICMP message of a type it does not know
/// (above 18, NR_ICMP_TYPES: "Assume any unknown ICMP type is an error"), such as RFC
/// 2521's Photuris security failures (type 40), which quote a datagram as errors do, nor
/// about an ICMP datagram too short to show its type. Here a time exceeded (and a net
/// unreachable) went back about both (found by a review).
#[test]
fn no_error_about_an_icmp_message_of_an_unknown_type_or_none() {
    let mut l = router();
    let mut up = Recorder::default();
    let inner = Hdr::new(HOST_B, HOST_A, UDP).packet(&pattern(8, 0));
    let mut photuris = vec![40, 0, 0, 0, 0, 0, 0, 0];
    photuris.extend_from_slice(&inner);
    for m in [&photuris[..], &[255, 0, 0, 0, 0, 0, 0, 0], &[]] {
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(HOST_A, HOST_B, ICMP).ttl(1).packet(m),
            T0,
        );
        rx_ip(
            &mut l,
            &mut up,
            0,
            &Hdr::new(HOST_A, Ipv4Addr::new(192, 168, 9, 9), ICMP).packet(m),
            T0,
        );
        let out = drain(&mut l);
        assert!(out.is_empty(), "an error about ICMP {m:?}: {out:?}");
    }
    assert_eq!(l.icmp_stats().errors_suppressed, 6);
    // A known query (timestamp, 13) is an ordinary datagram: reported.
    rx_ip(
        &mut l,
        &mut up,
        0,
        &Hdr::new(HOST_A, HOST_B, ICMP)
            .ttl(1)
            .packet(&[13, 0, 0, 0, 0, 0, 0, 0]),
        T0,
    );
    let s = the_error(&mut l, US0);
    assert!(matches!(s.icmp(), IcmpRepr::TimeExceeded { code: 0, .. }));
}
