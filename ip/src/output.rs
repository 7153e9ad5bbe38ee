//! The output half of the IP layer: routing, next-hop resolution, fragmentation and the
//! queue of frames for the drivers. It implements [`IpTx`], the down path transport
//! protocols use, and is what `ip`'s input half answers through.

use crate::checksum;
use crate::iface::{Interface, PendingFrame};
use crate::igmp::{self, GroupError, IgmpStats};
use crate::ipv4::{self, Ipv4Repr, HEADER_LEN};
use crate::ratelimit::TokenBucket;
use crate::route::{Route, RouteTable};
use crate::stats::{IcmpStats, IpStats};
use crate::upper::{IpTx, PmtuMode, SendError, SendMeta};
use arp::{ArpRepr, Resolve};
use netif::ethernet::{self, ethertype};
use netif::{Csum, FrameMeta, Gso, Instant, MacAddr};
use std::collections::VecDeque;
use std::net::Ipv4Addr;

const ETH: usize = ethernet::HEADER_LEN;

/// Frame buffers kept for reuse at most: as many as the drivers give back at once (a
/// driver keeps up to 256 written frames' buffers), so a sender's run of plain frames is
/// built from reused buffers (with 64 the rest were freed and allocated again: malloc and
/// free, 2% of a plain-frame sender's samples) ...
const POOL_MAX: usize = 256;
/// ... and at most this many bytes of them (64 buffers of 64 KB TSO frames).
const POOL_BYTES_MAX: usize = 4 << 20;
/// The largest buffer worth keeping: one Ethernet frame of a 64 KB datagram.
const POOL_BUF_MAX: usize = 65_535 + ETH + 64;

/// A frame ready for a driver.
#[derive(Debug)]
pub struct TxFrame {
    pub ifindex: usize,
    pub data: Vec<u8>,
    /// Offloads asked of the device (only those its interface offers).
    pub meta: FrameMeta,
}

pub struct Output {
    pub(crate) ifaces: Vec<Interface>,
    pub(crate) routes: RouteTable,
    pub(crate) tx: VecDeque<TxFrame>,
    pub(crate) tx_limit: usize,
    /// Frame buffers the drivers gave back, for the next frames (see [`Output::recycle`]).
    pub(crate) pool: Vec<Vec<u8>>,
    /// The capacity of the buffers in `pool`.
    pub(crate) pool_bytes: usize,
    pub(crate) idents: crate::ident::Idents,
    pub(crate) default_ttl: u8,
    pub(crate) icmp_limiter: TokenBucket,
    pub(crate) icmp_peer_limiter: crate::ratelimit::PerPeer,
    pub(crate) stats: IpStats,
    pub(crate) icmp: IcmpStats,
    /// Path MTUs the transport learnt (RFC 1191), which `route_info` reports.
    pub(crate) pmtu: crate::pmtu::PmtuCache,
    /// Random report delays of IGMP.
    pub(crate) rng: igmp::Rng,
    pub(crate) igmp: IgmpStats,
    /// Datagrams this host sent to a multicast group it is a member of
    /// (`IP_MULTICAST_LOOP`) or to a broadcast address, waiting to be delivered here too:
    /// the interface and the datagram.
    pub(crate) looped: VecDeque<(usize, Vec<u8>)>,
}

/// Own multicast and broadcast datagrams waiting for local delivery at most (more are
/// dropped and counted: a sender outrunning the stack's own delivery).
const LOOPED_MAX: usize = 256;

impl Output {
    pub(crate) fn iface(&self, ifindex: usize) -> Option<&Interface> {
        self.ifaces.get(ifindex)
    }

    /// Is `ip` an address of this host (any interface: the weak host model of RFC 1122
    /// 3.3.4.2), or in 127/8 while a loopback interface is up?
    pub fn is_local_addr(&self, ip: Ipv4Addr) -> bool {
        self.ifaces.iter().any(|i| {
            i.ip() == Some(ip) || (i.loopback && i.up && i.addr.is_some_and(|c| c.contains(ip)))
        })
    }

    /// Does ARP answer for `ip`, on whichever interface a request comes in? Linux's default
    /// (`arp_ignore=0`, the "weak host" model): for any local address, whichever interface
    /// has it; but only those of interfaces that are up (Linux takes a down interface's
    /// local routes away), and never 127/8 or a multicast address (`arp_process` drops
    /// such requests).
    pub(crate) fn answers_arp_for(&self, ip: Ipv4Addr) -> bool {
        !ip.is_loopback()
            && !ip.is_multicast()
            && !ip.is_unspecified()
            && self.ifaces.iter().any(|i| {
                i.up && (i.ip() == Some(ip)
                    || (i.loopback && i.addr.is_some_and(|c| c.contains(ip))))
            })
    }

    /// Route for `dst`: our own addresses go through loopback, then longest-prefix match
    /// over interfaces that are up and have an address.
    pub fn route(&self, dst: Ipv4Addr) -> Option<Route> {
        self.route_on(dst, None)
    }

    /// `route`, through interface `device` only when one is given (`SO_BINDTODEVICE`).
    fn route_on(&self, dst: Ipv4Addr, device: Option<usize>) -> Option<Route> {
        let allowed = |i: usize| device.is_none_or(|d| d == i);
        if self
            .ifaces
            .iter()
            .any(|i| i.ip() == Some(dst) && !i.loopback)
        {
            if let Some(lo) = self
                .ifaces
                .iter()
                .find(|i| i.loopback && i.up && allowed(i.ifindex))
            {
                return Some(Route {
                    dest: crate::Ipv4Cidr::new(dst, 32)?,
                    gateway: None,
                    ifindex: lo.ifindex,
                    kind: crate::route::RouteKind::Connected,
                    metric: 0,
                });
            }
        }
        // 127/8 never leaves by a real link (RFC 1122 3.2.1.3 (g)).
        let usable = |i: usize| {
            allowed(i)
                && self
                    .ifaces
                    .get(i)
                    .is_some_and(|f| f.up && f.addr.is_some() && (f.loopback || !dst.is_loopback()))
        };
        self.routes.lookup(dst, usable)
    }

    /// The route a datagram sent by this host to `dst` takes: limited broadcast leaves by the
    /// first non-loopback interface that is up (or by `device`, addressed or not); a
    /// multicast group by the interface whose address is `via` (`IP_MULTICAST_IF`),
    /// `device`, or the route's, straight to the group's link address (RFC 1112 6.4: no
    /// gateway); anything else is routed (through `device` only, when given). With neither
    /// `via` nor `device`, a group or the limited broadcast leaves by the interface whose
    /// address is the source `src` the sender bound, when one is (Linux's
    /// `ip_route_output_key_hash_rcu`: a bound source picks the device for these).
    fn send_route(
        &self,
        dst: Ipv4Addr,
        via: Option<Ipv4Addr>,
        device: Option<usize>,
        src: Option<Ipv4Addr>,
    ) -> Option<Route> {
        let by_source = || {
            let a = src.filter(|a| !a.is_unspecified())?;
            self.ifaces
                .iter()
                .find(|i| i.up && !i.loopback && i.ip() == Some(a))
                .map(|i| i.ifindex)
        };
        let direct = |ifindex: usize| {
            Some(Route {
                dest: crate::Ipv4Cidr::new(dst, 32)?,
                gateway: None,
                ifindex,
                kind: crate::route::RouteKind::Connected,
                metric: 0,
            })
        };
        if dst.is_multicast() {
            let ifindex = match (via.filter(|a| !a.is_unspecified()), device) {
                (Some(a), _) => {
                    self.ifaces
                        .iter()
                        .find(|i| {
                            i.up && i.ip() == Some(a) && device.is_none_or(|d| d == i.ifindex)
                        })?
                        .ifindex
                }
                (None, Some(d)) => self.ifaces.get(d).filter(|i| i.up)?.ifindex,
                (None, None) => match by_source() {
                    Some(i) => i,
                    None => self.route(dst)?.ifindex,
                },
            };
            return direct(ifindex);
        }
        if !dst.is_broadcast() {
            return self.route_on(dst, device);
        }
        let ifindex = match device {
            Some(d) => self.ifaces.get(d).filter(|i| i.up)?.ifindex,
            None => match by_source() {
                Some(i) => i,
                None => {
                    self.ifaces
                        .iter()
                        .find(|i| i.up && !i.loopback && i.addr.is_some())?
                        .ifindex
                }
            },
        };
        direct(ifindex)
    }

    /// The source of a datagram to `dst` on `route` when the sender leaves it open.
    fn default_source(&self, route: &Route, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.is_local_addr(dst) {
            // Talking to ourselves: the destination is the best source (as Linux picks).
            Some(dst)
        } else {
            let iface = self.iface(route.ifindex)?;
            // An interface with no address yet sends only the limited broadcast, from
            // 0.0.0.0: a host learning its address (RFC 1122 3.2.1.3 (a), RFC 2131 4.1).
            iface
                .ip()
                .or((dst.is_broadcast() && !iface.loopback).then_some(Ipv4Addr::UNSPECIFIED))
        }
    }

    /// The non-loopback interface to which `ip` is a neighbour: the one the route to `ip`
    /// leaves by when it has no gateway (with several interfaces on one network, the one
    /// traffic to `ip` takes), else one whose network holds `ip` (even down).
    pub(crate) fn on_link_iface(&self, ip: Ipv4Addr) -> Option<usize> {
        let usable = |i: usize| {
            self.ifaces
                .get(i)
                .is_some_and(|f| !f.loopback && f.up && f.addr.is_some())
        };
        if let Some(r) = self
            .routes
            .lookup(ip, usable)
            .filter(|r| r.gateway.is_none())
        {
            return Some(r.ifindex);
        }
        self.ifaces
            .iter()
            .find(|i| !i.loopback && i.addr.is_some_and(|c| c.contains(ip)))
            .map(|i| i.ifindex)
    }

    /// Is `ip` a neighbour on interface `ifindex`: inside its network, or reached through
    /// it by a route with no gateway (`route add NET dev IF`)? With several interfaces on
    /// one network, it is a neighbour on each.
    pub(crate) fn is_on_link(&self, ip: Ipv4Addr, ifindex: usize) -> bool {
        let Some(i) = self.ifaces.get(ifindex).filter(|i| !i.loopback) else {
            return false;
        };
        i.addr.is_some_and(|c| c.contains(ip))
            || self
                .routes
                .routes()
                .iter()
                .any(|r| r.ifindex == ifindex && r.gateway.is_none() && r.dest.contains(ip))
    }

    pub(crate) fn alloc_ident(&mut self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u16 {
        self.idents.next(src, dst, protocol)
    }

    pub(crate) fn push_tx(&mut self, ifindex: usize, data: Vec<u8>, meta: FrameMeta) {
        if self.tx.len() >= self.tx_limit {
            self.stats.drop_tx_queue_full += 1;
            return;
        }
        if let Some(i) = self.ifaces.get_mut(ifindex) {
            i.stats.tx_frames += 1;
        }
        self.tx.push_back(TxFrame {
            ifindex,
            data,
            meta,
        });
    }

    /// Frames queued for the drivers since the last call.
    pub fn take_tx(&mut self) -> impl Iterator<Item = TxFrame> + '_ {
        self.tx.drain(..)
    }

    /// A zeroed frame buffer of `len` bytes, reusing one a driver gave back when there is
    /// one: no allocation per frame in steady state.
    pub(crate) fn frame_buf(&mut self, len: usize) -> Vec<u8> {
        let mut v = self.pool.pop().unwrap_or_default();
        self.pool_bytes -= v.capacity();
        v.clear();
        v.resize(len, 0);
        v
    }

    /// Take back a frame buffer once its frame is written (kept while fewer than 256
    /// wait, together at most 4 MiB, each at most a 64 KB frame's size).
    pub fn recycle(&mut self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if self.pool.len() < POOL_MAX
            && cap <= POOL_BUF_MAX
            && self.pool_bytes + cap <= POOL_BYTES_MAX
        {
            self.pool_bytes += cap;
            self.pool.push(buf);
        }
    }

    /// Send an ARP packet on an interface (to `dst_mac`).
    pub(crate) fn send_arp(&mut self, ifindex: usize, repr: &ArpRepr, dst_mac: MacAddr) {
        let Some(src) = self.ifaces.get(ifindex).map(|i| i.mac) else {
            return;
        };
        let mut f = self.frame_buf(ETH + arp::BUFFER_LEN);
        ethernet::Repr {
            dst: dst_mac,
            src,
            ethertype: ethertype::ARP,
        }
        .emit(&mut f);
        let _ = repr.emit(&mut f[ETH..]);
        self.push_tx(ifindex, f, FrameMeta::default());
    }

    /// Hand a frame whose IP datagram is already written at `frame[14..]` to the link:
    /// loopback and broadcasts need no resolution, anything else goes through ARP.
    /// Returns false when the frame was dropped.
    pub(crate) fn transmit_ip(
        &mut self,
        ifindex: usize,
        next_hop: Ipv4Addr,
        mut frame: Vec<u8>,
        meta: FrameMeta,
        now: Instant,
    ) -> Result<(), SendError> {
        let Some(iface) = self.ifaces.get_mut(ifindex) else {
            return Err(SendError::NoRoute);
        };
        let src_mac = iface.mac;
        let dst_mac = if iface.loopback {
            Some(MacAddr::ZERO)
        } else if next_hop.is_broadcast() || iface.is_subnet_broadcast(next_hop) {
            Some(MacAddr::BROADCAST)
        } else {
            None
        };
        if let Some(mac) = dst_mac {
            write_eth(&mut frame, mac, src_mac);
            self.push_tx(ifindex, frame, meta);
            return Ok(());
        }
        // Bounded in bytes as well as in frames: offloaded frames reach 64 KiB.
        let bytes = frame.len();
        match iface
            .arp
            .resolve_sized(next_hop, PendingFrame { frame, meta }, bytes, now)
        {
            Resolve::Ready(mac, p) => {
                let mut frame = p.frame;
                write_eth(&mut frame, mac, src_mac);
                self.push_tx(ifindex, frame, p.meta);
                Ok(())
            }
            Resolve::Queued { send_request } => {
                if send_request {
                    self.request(ifindex, next_hop);
                }
                Ok(())
            }
            Resolve::Dropped(_, _) => {
                self.stats.drop_arp_queue_full += 1;
                Err(SendError::ArpQueueFull)
            }
        }
    }

    /// Send an IGMP message on `ifindex` (RFC 2236 2: TTL 1, the Router Alert option; from
    /// the interface's address, as Linux sends them, with DF and precedence "internetwork
    /// control"). Nothing on an interface that is down, is loopback or has no address.
    pub(crate) fn send_igmp(&mut self, ifindex: usize, msg: &igmp::Message, now: Instant) {
        let Some(i) = self.ifaces.get(ifindex) else {
            return;
        };
        let Some(src) = i.ip().filter(|_| i.up && !i.loopback) else {
            return;
        };
        let hl = HEADER_LEN + igmp::ROUTER_ALERT.len();
        let repr = Ipv4Repr {
            src,
            dst: msg.destination(),
            protocol: ipv4::protocol::IGMP,
            ttl: 1,
            tos: 0xc0,
            ident: self.alloc_ident(src, msg.destination(), ipv4::protocol::IGMP),
            dont_fragment: true,
            payload_len: igmp::HEADER_LEN,
        };
        let mut frame = self.frame_buf(ETH + hl + igmp::HEADER_LEN);
        repr.emit_with_options(&mut frame[ETH..], &igmp::ROUTER_ALERT, 0, false);
        msg.emit(&mut frame[ETH + hl..]);
        self.stats.tx_packets += 1;
        // The queue to the drivers drops a frame it has no room for and still says Ok
        // (counted in `drop_tx_queue_full`): such a report did not leave, as a lost one.
        let tx_drops = self.stats.drop_tx_queue_full;
        let sent = self
            .transmit_ip(ifindex, repr.dst, frame, FrameMeta::default(), now)
            .is_ok();
        if sent && self.stats.drop_tx_queue_full == tx_drops {
            match msg {
                igmp::Message::Leave { .. } => self.igmp.tx_leaves += 1,
                _ => self.igmp.tx_reports += 1,
            }
        }
    }

    /// Report every group of `ifindex` again (it came up, or has a new address).
    pub(crate) fn report_groups(&mut self, ifindex: usize, now: Instant) {
        let Some(i) = self.ifaces.get_mut(ifindex) else {
            return;
        };
        for msg in i.groups.rejoin(now, &mut self.rng) {
            self.send_igmp(ifindex, &msg, now);
        }
    }

    /// Keep a copy of a datagram just sent on `ifindex` to a group or a broadcast address
    /// for this host's own delivery, as Linux's `ip_mc_output` does: multicast if the
    /// interface is a member of the group, a broadcast always. Not on loopback, which
    /// brings back what it sends anyway. Its transport checksum is complete, whatever the
    /// device was asked to finish.
    fn loop_back(
        &mut self,
        ifindex: usize,
        repr: &Ipv4Repr,
        l4: L4Offload,
        fill: &mut dyn FnMut(&mut [u8]),
    ) {
        if !self.loop_room(ifindex, repr.dst) {
            return;
        }
        let mut d = vec![0u8; HEADER_LEN + repr.payload_len];
        fill(&mut d[HEADER_LEN..]);
        if let Some(at) = l4.csum_at {
            put_transport_checksum(&mut d[HEADER_LEN..], repr, at);
        }
        repr.emit(&mut d, 0, false);
        self.looped.push_back((ifindex, d));
    }

    /// Should a copy of a datagram to the group or broadcast `dst` leaving by `ifindex`
    /// come back up (see `loop_back`), and is there room for it (counted if not)?
    fn loop_room(&mut self, ifindex: usize, dst: Ipv4Addr) -> bool {
        let multicast = dst.is_multicast();
        let wanted = self
            .iface(ifindex)
            .is_some_and(|i| !i.loopback && (!multicast || i.groups.is_member(dst)));
        if !wanted {
            return false;
        }
        if self.looped.len() >= LOOPED_MAX {
            if multicast {
                self.stats.drop_multicast_loop_full += 1;
            } else {
                self.stats.drop_broadcast_loop_full += 1;
            }
            return false;
        }
        true
    }

    /// Is `dst`, leaving by `route`, a broadcast: the limited one or the directed broadcast
    /// of the route's network? (A directed broadcast of one of our networks leaves by that
    /// network's interface, its route being the longest match, so only the route's
    /// interface is looked at: one comparison per unicast datagram sent.)
    fn is_route_broadcast(&self, route: &Route, dst: Ipv4Addr) -> bool {
        !dst.is_multicast()
            && (dst.is_broadcast()
                || self
                    .iface(route.ifindex)
                    .is_some_and(|i| i.is_subnet_broadcast(dst)))
    }

    /// Broadcast a who-has for `target` on `ifindex`.
    pub(crate) fn request(&mut self, ifindex: usize, target: Ipv4Addr) {
        self.request_to(ifindex, target, MacAddr::BROADCAST);
    }

    /// An ARP request for `target` in a frame to `dst_mac`: the broadcast, or the MAC in
    /// use when an entry is probed (RFC 1122 2.3.2.1's unicast poll). Nothing on an
    /// interface that is down: the cache's timers still run, so a resolution still fails
    /// at its time and its senders hear host unreachable.
    pub(crate) fn request_to(&mut self, ifindex: usize, target: Ipv4Addr, dst_mac: MacAddr) {
        let Some(i) = self.ifaces.get(ifindex).filter(|i| i.up) else {
            return;
        };
        let Some(ip) = i.ip() else { return };
        let req = ArpRepr::request(i.mac, ip, target);
        self.send_arp(ifindex, &req, dst_mac);
    }

    /// The route and header of a datagram `send_with` is asked to send, or why not.
    fn prepare(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
    ) -> Result<(Route, Ipv4Repr), SendError> {
        if payload_len > ipv4::MAX_PAYLOAD {
            return Err(SendError::TooLong);
        }
        if meta.dst.is_unspecified() {
            // A source only, never a destination (RFC 1122 3.2.1.3 (a)): a default route
            // would otherwise carry it onto the wire (a raw socket's or ping's `0.0.0.0`).
            return Err(SendError::Unspecified);
        }
        let route = self
            .send_route(meta.dst, meta.multicast_if, meta.device, meta.src)
            .ok_or_else(|| {
                if !meta.dst.is_broadcast() {
                    self.stats.drop_no_route += 1;
                }
                SendError::NoRoute
            })?;
        let src = match meta.src {
            Some(s) if !s.is_unspecified() => {
                // Ours, and no 127/8 source on a real link (RFC 1122 3.2.1.3 (g)).
                let on_loopback = self.iface(route.ifindex).is_some_and(|i| i.loopback);
                if !self.is_local_addr(s) || (s.is_loopback() && !on_loopback) {
                    return Err(SendError::BadSource);
                }
                s
            }
            _ => self
                .default_source(&route, meta.dst)
                .ok_or(SendError::NoRoute)?,
        };
        if meta.ttl == Some(0) && !meta.dst.is_multicast() {
            return Err(SendError::ZeroTtl);
        }
        let repr = Ipv4Repr {
            src,
            dst: meta.dst,
            protocol: meta.protocol,
            // Multicast stays on the link unless asked (RFC 1112 6.1, IP_MULTICAST_TTL).
            ttl: meta.ttl.unwrap_or(if meta.dst.is_multicast() {
                1
            } else {
                self.default_ttl
            }),
            tos: meta.tos,
            ident: self.alloc_ident(src, meta.dst, meta.protocol),
            dont_fragment: meta.dont_fragment,
            payload_len,
        };
        Ok((route, repr))
    }

    /// `send_with` for a datagram whose header carries `options` (a multiple of 4 bytes,
    /// at most 40): an echo reply returning a request's record route or timestamps. No
    /// offloads; a datagram larger than the MTU is built apart and sent as fragments (the
    /// first with every option, the others with the copied ones).
    pub(crate) fn send_with_options(
        &mut self,
        meta: &SendMeta,
        options: &[u8],
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        now: Instant,
    ) -> Result<(), SendError> {
        if payload_len + options.len() > ipv4::MAX_PAYLOAD {
            return Err(SendError::TooLong);
        }
        let (route, repr) = self.prepare(meta, payload_len)?;
        let mtu = self.iface(route.ifindex).ok_or(SendError::NoRoute)?.mtu;
        let next_hop = route.next_hop(repr.dst);
        let hl = HEADER_LEN + options.len();
        if hl + payload_len <= mtu {
            let mut frame = self.frame_buf(ETH + hl + payload_len);
            fill(&mut frame[ETH + hl..]);
            repr.emit_with_options(&mut frame[ETH..], options, 0, false);
            self.stats.tx_packets += 1;
            return self.transmit_ip(route.ifindex, next_hop, frame, FrameMeta::default(), now);
        }
        let mut payload = vec![0u8; payload_len];
        fill(&mut payload);
        let copied = ipv4::copied_options(options);
        let d = Fragmentable {
            repr,
            payload: &payload,
            offset: 0,
            more_fragments: false,
            options,
            copied_options: &copied,
        };
        self.stats.tx_packets += 1;
        self.emit_fragments(route.ifindex, next_hop, &d, mtu, now)
    }

    /// The largest piece a datagram leaving by `ifindex` may be, and its DF: as the
    /// sender's path-MTU discovery asks (`pmtu`, see [`PmtuMode`]; Linux's
    /// `__ip_make_skb`), or the interface's MTU and DF as given. The path MTU costs one
    /// look-up, and none while `ip` has learnt none; one that expired by `now` (RFC 1191
    /// 6.3) no longer counts, though `poll` has not removed it yet.
    fn datagram_mtu(
        &self,
        ifindex: usize,
        repr: &mut Ipv4Repr,
        pmtu: Option<PmtuMode>,
        now: Instant,
    ) -> Result<usize, SendError> {
        let link = self.iface(ifindex).ok_or(SendError::NoRoute)?.mtu;
        let Some(mode) = pmtu else {
            return Ok(link);
        };
        let (path, locked) = match mode {
            PmtuMode::Probe => (link, false),
            _ if self.pmtu.is_empty() => (link, false),
            _ => self
                .pmtu
                .lookup(repr.dst, Some(now))
                .map_or((link, false), |(p, locked)| (p.min(link), locked)),
        };
        repr.dont_fragment = match mode {
            PmtuMode::Dont => false,
            // A path reported narrower than 552 is locked there: no DF, as Linux's
            // `ip_dont_fragment` (routers fragment what is still too large).
            PmtuMode::Want => !locked && HEADER_LEN + repr.payload_len <= path,
            PmtuMode::Do | PmtuMode::Probe => true,
        };
        Ok(path)
    }

    /// Emit a datagram on a known route: one frame when it fits `mtu` (the interface's,
    /// or the path's), otherwise fragments of `mtu` (RFC 791 3.2) unless DF forbids it.
    /// `payload` is written by `fill`.
    pub(crate) fn emit_routed(
        &mut self,
        route: &Route,
        repr: &Ipv4Repr,
        mtu: usize,
        l4: L4Offload,
        fill: &mut dyn FnMut(&mut [u8]),
        now: Instant,
    ) -> Result<(), SendError> {
        let offload = self
            .iface(route.ifindex)
            .map(|i| i.offload)
            .ok_or(SendError::NoRoute)?;
        let next_hop = route.next_hop(repr.dst);
        let len = repr.payload_len;
        // A TCP segment the device cuts (TSO) may be as large as a datagram can be.
        let tso = l4
            .gso_size
            .filter(|_| offload.tso && offload.csum && repr.protocol == ipv4::protocol::TCP);
        if HEADER_LEN + len <= mtu || tso.is_some() {
            let mut frame = self.frame_buf(ETH + HEADER_LEN + len);
            fill(&mut frame[ETH + HEADER_LEN..]);
            repr.emit(&mut frame[ETH..], 0, false);
            let mut meta = FrameMeta::default();
            if let Some(at) = l4.csum_at {
                meta.csum = finish_l4_checksum(&mut frame[ETH..], repr, at, offload.csum);
            }
            let tcp_hl = frame
                .get(ETH + HEADER_LEN + 12)
                .map_or(20, |b| usize::from(b >> 4) * 4);
            // Cut whenever the data is more than one segment's worth: `size` is the peer's
            // MSS less options, which may be well below what the MTU would carry (RFC 9293
            // 3.7.1), so a burst that fits the MTU still leaves as the segments asked for.
            if let Some(size) = tso.filter(|&s| len > tcp_hl + usize::from(s)) {
                if HEADER_LEN + tcp_hl + usize::from(size) > mtu {
                    // Segments cut to `size` would not fit the MTU (a sender that has not
                    // seen it go down): refused, as a datagram too large with DF is.
                    self.stats.drop_frag_needed += 1;
                    return Err(SendError::TooLong);
                }
                meta.gso = Some(Gso {
                    size,
                    hdr_len: (ETH + HEADER_LEN + tcp_hl) as u16,
                });
                // The device numbers the segments from this frame's ID up (Linux's
                // `inet_gso_segment`): the IDs after it are theirs, as Linux's
                // `ip_select_ident_segs` reserves them, or the next datagram of the flow
                // would repeat the second segment's (RFC 6864 4.1, RFC 4963 without DF).
                let segs = (len - tcp_hl).div_ceil(usize::from(size));
                let more = u16::try_from(segs.saturating_sub(1)).unwrap_or(u16::MAX);
                self.idents.next_n(repr.src, repr.dst, repr.protocol, more);
            }
            self.stats.tx_packets += 1;
            return self.transmit_ip(route.ifindex, next_hop, frame, meta, now);
        }
        if repr.dont_fragment {
            self.stats.drop_frag_needed += 1;
            return Err(SendError::TooLong);
        }
        let mut payload = vec![0u8; len];
        fill(&mut payload);
        if let Some(at) = l4.csum_at {
            put_transport_checksum(&mut payload, repr, at);
        }
        self.fragment(route.ifindex, next_hop, repr, &payload, mtu, now)
    }

    /// Split `payload` into fragments of at most `mtu` bytes (offsets in 8-byte units).
    pub(crate) fn fragment(
        &mut self,
        ifindex: usize,
        next_hop: Ipv4Addr,
        repr: &Ipv4Repr,
        payload: &[u8],
        mtu: usize,
        now: Instant,
    ) -> Result<(), SendError> {
        self.stats.tx_packets += 1;
        let whole = Fragmentable {
            repr: *repr,
            payload,
            offset: 0,
            more_fragments: false,
            options: &[],
            copied_options: &[],
        };
        self.emit_fragments(ifindex, next_hop, &whole, mtu, now)
    }

    /// Emit `d` as fragments of at most `mtu` bytes (RFC 791 3.2): each keeps its place in
    /// the original datagram (`d.offset`, and MF on the last when `d` is itself a non-last
    /// fragment); the first carries every option, the others the "copied" ones.
    pub(crate) fn emit_fragments(
        &mut self,
        ifindex: usize,
        next_hop: Ipv4Addr,
        d: &Fragmentable<'_>,
        mtu: usize,
        now: Instant,
    ) -> Result<(), SendError> {
        let mut off = 0;
        while off < d.payload.len() {
            let options = if off == 0 && d.offset == 0 {
                d.options
            } else {
                d.copied_options
            };
            let hl = HEADER_LEN + options.len();
            let chunk = mtu.saturating_sub(hl) & !7;
            if chunk == 0 {
                return Err(SendError::TooLong);
            }
            let end = (off + chunk).min(d.payload.len());
            let more = end < d.payload.len() || d.more_fragments;
            let mut frame = self.frame_buf(ETH + hl + end - off);
            frame[ETH + hl..].copy_from_slice(&d.payload[off..end]);
            let part = Ipv4Repr {
                payload_len: end - off,
                ..d.repr
            };
            part.emit_with_options(&mut frame[ETH..], options, d.offset + off, more);
            self.transmit_ip(ifindex, next_hop, frame, FrameMeta::default(), now)?;
            self.stats.tx_fragments += 1;
            off = end;
        }
        Ok(())
    }
}

/// What a sender leaves to `ip` and the device (see [`SendMeta`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct L4Offload {
    /// Offset of the transport checksum field in the payload.
    pub csum_at: Option<usize>,
    /// Cut into payloads of this size (TSO).
    pub gso_size: Option<u16>,
}

/// The transport checksum of `payload` (field zeroed) under `repr`'s pseudo-header; a UDP
/// checksum that comes out zero is sent as all ones (RFC 768).
fn transport_checksum(payload: &[u8], repr: &Ipv4Repr) -> u16 {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let ph = checksum::pseudo_header(repr.src, repr.dst, repr.protocol, len);
    let c = checksum::finish(checksum::sum(payload, ph));
    if c == 0 && repr.protocol == ipv4::protocol::UDP {
        0xffff
    } else {
        c
    }
}

/// Write the full transport checksum of `payload` into its field `at` bytes in.
fn put_transport_checksum(payload: &mut [u8], repr: &Ipv4Repr, at: usize) {
    let c = transport_checksum(payload, repr);
    if let Some(f) = payload.get_mut(at..at + 2) {
        f.copy_from_slice(&c.to_be_bytes());
    }
}

/// Fill in the transport checksum of the datagram in `dgram` (IP header first, no options):
/// in full, or only its pseudo-header part when the device completes it.
fn finish_l4_checksum(dgram: &mut [u8], repr: &Ipv4Repr, at: usize, offload: bool) -> Csum {
    let Some(payload) = dgram.get_mut(HEADER_LEN..) else {
        return Csum::Full;
    };
    let Some(field_end) = at.checked_add(2).filter(|&e| e <= payload.len()) else {
        return Csum::Full;
    };
    if offload {
        let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        let ph = checksum::pseudo_header(repr.src, repr.dst, repr.protocol, len);
        payload[at..field_end].copy_from_slice(&checksum::fold(ph).to_be_bytes());
        Csum::Partial {
            start: (ETH + HEADER_LEN) as u16,
            offset: at as u16,
        }
    } else {
        let c = transport_checksum(payload, repr);
        payload[at..field_end].copy_from_slice(&c.to_be_bytes());
        Csum::Full
    }
}

/// A datagram, or a fragment of one, about to be cut into fragments.
pub(crate) struct Fragmentable<'a> {
    /// Header fields (`payload_len` is ignored).
    pub repr: Ipv4Repr,
    pub payload: &'a [u8],
    /// Where `payload` starts in the original datagram, in bytes.
    pub offset: usize,
    /// Set when `payload` is not the end of the original datagram.
    pub more_fragments: bool,
    /// All options, for the first fragment; a multiple of 4 bytes.
    pub options: &'a [u8],
    /// The options every other fragment repeats; a multiple of 4 bytes.
    pub copied_options: &'a [u8],
}

pub(crate) fn write_eth(frame: &mut [u8], dst: MacAddr, src: MacAddr) {
    if frame.len() >= ETH {
        ethernet::Repr {
            dst,
            src,
            ethertype: ethertype::IPV4,
        }
        .emit(frame);
    }
}

impl IpTx for Output {
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        now: Instant,
    ) -> Result<(), SendError> {
        let (route, mut repr) = self.prepare(meta, payload_len)?;
        let mtu = self.datagram_mtu(route.ifindex, &mut repr, meta.pmtu, now)?;
        let l4 = L4Offload {
            csum_at: meta.l4_csum.map(usize::from),
            gso_size: meta.gso_size,
        };
        // A group with TTL 0 stays on this host (RFC 1112 6.1): only the local copy, if
        // IP_MULTICAST_LOOP asks for one (Linux likewise).
        let host_only = repr.dst.is_multicast() && repr.ttl == 0;
        if !host_only {
            self.emit_routed(&route, &repr, mtu, l4, fill, now)?;
        }
        // Our own members hear a group when the sender asks (IP_MULTICAST_LOOP); our own
        // sockets hear a broadcast always (Linux's `ip_mc_output` loops it regardless).
        let multicast = repr.dst.is_multicast();
        if (multicast && meta.multicast_loop) || self.is_route_broadcast(&route, repr.dst) {
            self.loop_back(route.ifindex, &repr, l4, fill);
        }
        Ok(())
    }

    fn send_header_included(
        &mut self,
        meta: &SendMeta,
        datagram: &[u8],
        now: Instant,
    ) -> Result<(), SendError> {
        let len = datagram.len();
        let hl = datagram.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
        if len < HEADER_LEN
            || len > usize::from(u16::MAX)
            || datagram[0] >> 4 != 4
            || hl < HEADER_LEN
            || hl > len
        {
            return Err(SendError::BadHeader);
        }
        if meta.dst.is_unspecified() {
            return Err(SendError::Unspecified);
        }
        // The header's own source picks the device as a bound one does.
        let header_src = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
        let route = self
            .send_route(meta.dst, meta.multicast_if, meta.device, Some(header_src))
            .ok_or_else(|| {
                if !meta.dst.is_broadcast() {
                    self.stats.drop_no_route += 1;
                }
                SendError::NoRoute
            })?;
        let mtu = self.iface(route.ifindex).ok_or(SendError::NoRoute)?.mtu;
        if len > mtu {
            self.stats.drop_frag_needed += 1;
            return Err(SendError::TooLong);
        }
        let mut frame = self.frame_buf(ETH + len);
        let d = &mut frame[ETH..];
        d.copy_from_slice(datagram);
        d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let at = |d: &[u8], i: usize| Ipv4Addr::new(d[i], d[i + 1], d[i + 2], d[i + 3]);
        if at(d, 12).is_unspecified() {
            let src = match meta.src.filter(|s| !s.is_unspecified()) {
                Some(s) => s,
                None => self
                    .default_source(&route, meta.dst)
                    .ok_or(SendError::NoRoute)?,
            };
            d[12..16].copy_from_slice(&src.octets());
        }
        if d[4..6] == [0, 0] {
            let id = self.alloc_ident(at(d, 12), at(d, 16), d[9]);
            d[4..6].copy_from_slice(&id.to_be_bytes());
        }
        d[10..12].copy_from_slice(&[0, 0]);
        let csum = checksum::checksum(&d[..hl]);
        d[10..12].copy_from_slice(&csum.to_be_bytes());
        let host_only = meta.dst.is_multicast() && d[8] == 0;
        let looped = ((meta.dst.is_multicast() && meta.multicast_loop)
            || self.is_route_broadcast(&route, meta.dst))
            && self.loop_room(route.ifindex, meta.dst);
        if looped {
            let copy = frame[ETH..].to_vec();
            self.looped.push_back((route.ifindex, copy));
        }
        // A group with TTL 0 stays on this host (RFC 1112 6.1), the application's header
        // as ours (`send_with`).
        if host_only {
            self.recycle(frame);
            return Ok(());
        }
        self.stats.tx_packets += 1;
        self.transmit_ip(
            route.ifindex,
            route.next_hop(meta.dst),
            frame,
            FrameMeta::default(),
            now,
        )
    }

    fn route_info(&self, dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        // The same choices as `send_with`, so a transport checksum over the pseudo-header
        // names the source the datagram will carry.
        let r = self.send_route(dst, None, None, None)?;
        let mut mtu = self.iface(r.ifindex)?.mtu;
        if let Some(p) = self.pmtu.get(dst, None) {
            mtu = mtu.min(p);
        }
        Some((self.default_source(&r, dst)?, mtu))
    }

    fn set_path_mtu(&mut self, dst: Ipv4Addr, mtu: usize, now: Instant) {
        self.pmtu.set(dst, mtu, now);
    }

    fn negative_advice(&mut self, dst: Ipv4Addr, now: Instant) {
        let Some(r) = self.send_route(dst, None, None, None) else {
            return;
        };
        let hop = r.gateway.unwrap_or(dst);
        let probe = self
            .ifaces
            .get_mut(r.ifindex)
            .and_then(|iface| iface.arp.suspect(hop, now));
        if let Some(mac) = probe {
            self.request_to(r.ifindex, hop, mac);
        }
    }

    fn source_via(&self, dst: Ipv4Addr, device: usize) -> Option<Ipv4Addr> {
        let r = self.send_route(dst, None, Some(device), None)?;
        self.default_source(&r, dst)
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.is_local_addr(ip)
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast() || self.ifaces.iter().any(|i| i.is_subnet_broadcast(ip))
    }

    fn link(&self, dst: Ipv4Addr) -> Option<(netif::Offload, usize)> {
        self.send_route(dst, None, None, None)
            .and_then(|r| self.iface(r.ifindex))
            .map(|i| (i.offload, i.mtu))
    }

    fn join_group(
        &mut self,
        group: Ipv4Addr,
        iface: Ipv4Addr,
        now: Instant,
    ) -> Result<usize, GroupError> {
        if !group.is_multicast() {
            return Err(GroupError::NotMulticast(group));
        }
        // As Linux's ip_mc_find_dev: the interface with that address, else the one the
        // route to the group leaves by.
        // An interface that is down may join: it reports when it comes up.
        let ifindex = if iface.is_unspecified() {
            self.send_route(group, None, None, None)
                .ok_or(GroupError::NoInterface)?
                .ifindex
        } else {
            self.ifaces
                .iter()
                .find(|i| i.ip() == Some(iface))
                .ok_or(GroupError::NoInterface)?
                .ifindex
        };
        let i = &mut self.ifaces[ifindex];
        if let Some(msg) = i.groups.join(group, now, &mut self.rng)? {
            self.send_igmp(ifindex, &msg, now);
        }
        Ok(ifindex)
    }

    fn group_ifindex(&self, group: Ipv4Addr, iface: Ipv4Addr) -> Option<usize> {
        let named = (!iface.is_unspecified())
            .then(|| self.ifaces.iter().find(|i| i.ip() == Some(iface)))
            .flatten()
            .map(|i| i.ifindex);
        named.or_else(|| self.send_route(group, None, None, None).map(|r| r.ifindex))
    }

    fn leave_group(
        &mut self,
        group: Ipv4Addr,
        ifindex: usize,
        now: Instant,
    ) -> Result<(), GroupError> {
        let i = self
            .ifaces
            .get_mut(ifindex)
            .ok_or(GroupError::NotMember(group))?;
        if let Some(msg) = i.groups.leave(group, now)? {
            self.send_igmp(ifindex, &msg, now);
        }
        Ok(())
    }
}
