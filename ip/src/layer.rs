//! The IP layer: interfaces, the input path (RFC 1122 3.2.1, RFC 1812 5.2 for forwarding),
//! ICMP (RFC 792 with the rules of RFC 1122 3.2.2 and RFC 1812 4.3.2) and the timers of ARP
//! and reassembly. Sans-IO: frames come in as byte slices with `now`; frames going out are
//! queued and taken with [`IpLayer::take_tx`].

use crate::cidr::Ipv4Cidr;
use crate::icmp::{self, IcmpRepr};
use crate::iface::{IfStats, Interface, PendingFrame};
use crate::ipv4::{self, HeaderError, Ipv4Packet, Ipv4Repr};
use crate::output::{write_eth, Output, TxFrame};
use crate::ratelimit::TokenBucket;
use crate::reassembly::{self, Fragment, Outcome, Reassembler, ReassemblyConfig};
use crate::route::{Route, RouteError, RouteKind, RouteTable};
use crate::stats::{IcmpStats, IpStats};
use crate::upper::{Datagram, Delivery, IcmpErrorReport, IpTx, SendMeta, Upper};
use arp::{ArpPacket, ArpRepr, CacheConfig, NeighborCache};
use netif::ethernet::{self, ethertype};
use netif::{Instant, MacAddr};
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// Settings of the IP layer.
#[derive(Clone, Debug)]
pub struct IpConfig {
    /// Forward datagrams not addressed to this host (a router, as the C tapip is).
    pub forwarding: bool,
    pub default_ttl: u8,
    /// ICMP errors per second and burst (echo replies are not limited).
    pub icmp_rate: (u32, u32),
    pub reassembly: ReassemblyConfig,
    pub arp: CacheConfig,
    pub max_routes: usize,
    /// Frames queued for the drivers between two `take_tx` calls.
    pub tx_queue: usize,
}

impl Default for IpConfig {
    fn default() -> Self {
        let arp = CacheConfig {
            // A 65,515-byte datagram is 45 fragments at MTU 1500 and 119 at MTU 576, the
            // smallest every host must accept (RFC 791): let a whole one wait for ARP.
            max_pending_per_entry: 128,
            max_pending_total: 512,
            ..CacheConfig::default()
        };
        IpConfig {
            forwarding: true,
            default_ttl: 64,
            icmp_rate: (1000, 50),
            reassembly: ReassemblyConfig::default(),
            arp,
            max_routes: 256,
            tx_queue: 4096,
        }
    }
}

/// How much of an offending datagram an ICMP error quotes: up to 576 bytes in all
/// (RFC 1812 4.3.2.3).
const ICMP_ERROR_MAX: usize = 576 - ipv4::HEADER_LEN - icmp::HEADER_LEN;

/// A read-only view of an interface for the shell.
#[derive(Clone, Debug)]
pub struct InterfaceView {
    pub ifindex: usize,
    pub name: String,
    pub mac: MacAddr,
    pub mtu: usize,
    pub addr: Option<Ipv4Cidr>,
    pub up: bool,
    pub loopback: bool,
    pub stats: IfStats,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    #[error("MTU {0} out of range (68 to {1})")]
    BadMtu(usize, usize),
    #[error("{0}")]
    Route(#[from] RouteError),
    #[error("address {0} is already used by another interface")]
    AddressInUse(Ipv4Addr),
    #[error("arp: {0}")]
    Arp(String),
    #[error("{0} is not a unicast address")]
    NotUnicast(Ipv4Addr),
}

pub struct IpLayer {
    out: Output,
    reasm: Reassembler,
    cfg: IpConfig,
}

impl IpLayer {
    pub fn new(cfg: IpConfig) -> IpLayer {
        IpLayer {
            out: Output {
                ifaces: Vec::new(),
                routes: RouteTable::new(cfg.max_routes),
                tx: VecDeque::new(),
                tx_limit: cfg.tx_queue,
                next_ident: 0,
                default_ttl: cfg.default_ttl,
                icmp_limiter: TokenBucket::new(cfg.icmp_rate.0, cfg.icmp_rate.1),
                stats: IpStats::default(),
                icmp: IcmpStats::default(),
            },
            reasm: Reassembler::new(cfg.reassembly),
            cfg,
        }
    }

    // ---- configuration -------------------------------------------------------------------

    /// Add an interface (down, without address); returns its index.
    pub fn add_interface(&mut self, info: &netif::DeviceInfo) -> usize {
        let ifindex = self.out.ifaces.len();
        self.out.ifaces.push(Interface {
            ifindex,
            name: info.name.clone(),
            mac: info.mac,
            mtu: info.mtu,
            max_mtu: info.mtu,
            addr: None,
            up: false,
            loopback: info.loopback,
            arp: NeighborCache::new(self.cfg.arp),
            stats: IfStats::default(),
        });
        ifindex
    }

    pub fn ifindex(&self, name: &str) -> Option<usize> {
        self.out.ifaces.iter().position(|i| i.name == name)
    }

    fn iface_mut(&mut self, ifindex: usize) -> Result<&mut Interface, ConfigError> {
        self.out
            .ifaces
            .get_mut(ifindex)
            .ok_or_else(|| ConfigError::NoSuchInterface(ifindex.to_string()))
    }

    pub fn interfaces(&self) -> Vec<InterfaceView> {
        self.out
            .ifaces
            .iter()
            .map(|i| InterfaceView {
                ifindex: i.ifindex,
                name: i.name.clone(),
                mac: i.mac,
                mtu: i.mtu,
                addr: i.addr,
                up: i.up,
                loopback: i.loopback,
                stats: i.stats,
            })
            .collect()
    }

    /// Set (or clear) an interface's address. The connected route follows, and an interface
    /// that is up announces itself with a gratuitous ARP.
    pub fn set_address(
        &mut self,
        ifindex: usize,
        addr: Option<Ipv4Cidr>,
        now: Instant,
    ) -> Result<(), ConfigError> {
        if let Some(a) = addr {
            let ip = a.addr();
            if ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || a.broadcast() == Some(ip)
            {
                return Err(ConfigError::NotUnicast(ip));
            }
            if self
                .out
                .ifaces
                .iter()
                .any(|i| i.ifindex != ifindex && i.ip() == Some(ip))
            {
                return Err(ConfigError::AddressInUse(ip));
            }
        }
        let old = std::mem::replace(&mut self.iface_mut(ifindex)?.addr, addr);
        self.out
            .routes
            .remove_interface_routes(ifindex, RouteKind::Connected);
        let connected = |a: Ipv4Cidr| Route {
            dest: a.network(),
            gateway: None,
            ifindex,
            kind: RouteKind::Connected,
        };
        if let Some(a) = addr {
            // Prefix /32 has no connected network beyond itself; still route the host.
            if let Err(e) = self.out.routes.add(connected(a)) {
                // Leave the interface as it was rather than addressed but unrouted.
                self.out.ifaces[ifindex].addr = old;
                if let Some(o) = old {
                    let _ = self.out.routes.add(connected(o));
                }
                return Err(e.into());
            }
        }
        self.announce(ifindex, now);
        Ok(())
    }

    pub fn set_up(&mut self, ifindex: usize, up: bool, now: Instant) -> Result<(), ConfigError> {
        let i = self.iface_mut(ifindex)?;
        let was = i.up;
        i.up = up;
        if up && !was {
            self.announce(ifindex, now);
        }
        Ok(())
    }

    pub fn set_mtu(&mut self, ifindex: usize, mtu: usize) -> Result<(), ConfigError> {
        let i = self.iface_mut(ifindex)?;
        if !(68..=i.max_mtu).contains(&mtu) {
            return Err(ConfigError::BadMtu(mtu, i.max_mtu));
        }
        i.mtu = mtu;
        Ok(())
    }

    /// Gratuitous ARP (RFC 5227 2.4 announcement): tell the link our address and MAC.
    fn announce(&mut self, ifindex: usize, _now: Instant) {
        let Some(i) = self.out.iface(ifindex) else {
            return;
        };
        if !i.up || i.loopback {
            return;
        }
        if let Some(ip) = i.ip() {
            let g = ArpRepr::gratuitous(i.mac, ip);
            self.out.send_arp(ifindex, &g, MacAddr::BROADCAST);
        }
    }

    pub fn routes(&self) -> &[Route] {
        self.out.routes.routes()
    }

    /// Add a static route. With a gateway, the interface is the one that reaches it.
    pub fn add_route(
        &mut self,
        dest: Ipv4Cidr,
        gateway: Option<Ipv4Addr>,
        ifindex: Option<usize>,
    ) -> Result<(), ConfigError> {
        let ifindex = match (gateway, ifindex) {
            (Some(gw), dev) => {
                let via = self
                    .out
                    .ifaces
                    .iter()
                    .find(|i| {
                        i.addr.is_some_and(|c| c.contains(gw)) && dev.is_none_or(|d| d == i.ifindex)
                    })
                    .ok_or(RouteError::GatewayUnreachable(gw))?;
                via.ifindex
            }
            (None, Some(d)) => {
                self.iface_mut(d)?;
                d
            }
            (None, None) => {
                return Err(ConfigError::Route(RouteError::NoSuchInterface(
                    "a route needs 'via GATEWAY' or 'dev IF'".into(),
                )))
            }
        };
        self.out.routes.add(Route {
            dest,
            gateway,
            ifindex,
            kind: RouteKind::Static,
        })?;
        Ok(())
    }

    pub fn del_route(&mut self, dest: Ipv4Cidr) -> Result<Route, ConfigError> {
        Ok(self.out.routes.delete(dest)?)
    }

    pub fn route_lookup(&self, dst: Ipv4Addr) -> Option<Route> {
        self.out.route(dst)
    }

    /// ARP cache entries of every interface: (interface name, entry).
    pub fn arp_entries(&self, now: Instant) -> Vec<(String, arp::EntryView)> {
        self.out
            .ifaces
            .iter()
            .flat_map(|i| {
                i.arp
                    .entries(now)
                    .into_iter()
                    .map(move |e| (i.name.clone(), e))
            })
            .collect()
    }

    /// Add a static neighbour on the interface whose network holds `ip`.
    pub fn arp_add_static(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Result<(), ConfigError> {
        let i = self
            .out
            .ifaces
            .iter_mut()
            .find(|i| !i.loopback && i.addr.is_some_and(|c| c.contains(ip)))
            .ok_or(RouteError::GatewayUnreachable(ip))?;
        let waiting = i
            .arp
            .insert_static(ip, mac)
            .map_err(|e| ConfigError::Arp(e.to_string()))?;
        let (ifindex, our_mac) = (i.ifindex, i.mac);
        for PendingFrame { mut frame } in waiting {
            write_eth(&mut frame, mac, our_mac);
            self.out.push_tx(ifindex, frame);
        }
        Ok(())
    }

    /// Remove a neighbour from every interface's cache; false if none had it.
    pub fn arp_delete(&mut self, ip: Ipv4Addr) -> bool {
        self.out
            .ifaces
            .iter_mut()
            .fold(false, |acc, i| i.arp.remove(ip) | acc)
    }

    pub fn arp_stats(&self) -> Vec<(String, arp::CacheStats)> {
        self.out
            .ifaces
            .iter()
            .map(|i| (i.name.clone(), *i.arp.stats()))
            .collect()
    }

    pub fn stats(&self) -> IpStats {
        self.out.stats
    }

    pub fn icmp_stats(&self) -> IcmpStats {
        self.out.icmp
    }

    pub fn reassembly_stats(&self) -> reassembly::ReassemblyStats {
        self.reasm.stats()
    }

    /// Datagrams being reassembled and the bytes they hold.
    pub fn reassembly_usage(&self) -> (usize, usize) {
        (self.reasm.pending(), self.reasm.buffered_bytes())
    }

    /// The down path, for sockets.
    pub fn tx(&mut self) -> &mut dyn IpTx {
        &mut self.out
    }

    /// Frames for the drivers, queued since the last call.
    pub fn take_tx(&mut self) -> impl Iterator<Item = TxFrame> + '_ {
        self.out.take_tx()
    }

    // ---- timers -----------------------------------------------------------------------------

    /// The next moment `poll` has work to do.
    pub fn poll_at(&self) -> Option<Instant> {
        let arp = self.out.ifaces.iter().filter_map(|i| i.arp.poll_at());
        arp.chain(self.reasm.poll_at()).min()
    }

    /// Run the timers due at `now`: ARP retransmissions and failures (whose waiting senders
    /// learn "host unreachable"), reassembly timeouts (answered with time exceeded).
    pub fn poll(&mut self, now: Instant, upper: &mut dyn Upper) {
        for ifindex in 0..self.out.ifaces.len() {
            let p = self.out.ifaces[ifindex].arp.poll(now);
            for ip in p.requests {
                self.out.request(ifindex, ip);
            }
            for (_, frames) in p.failures {
                for f in frames {
                    self.out.stats.drop_arp_failed += 1;
                    self.host_unreachable(ifindex, &f.frame, now, upper);
                }
            }
        }
        for exp in self.reasm.poll(now) {
            self.out.stats.drop_reassembly += 1;
            if let Some(first) = exp.first_fragment {
                // RFC 792 / RFC 1122 3.3.2: only when fragment zero has arrived.
                self.icmp_error_raw(
                    None,
                    &first,
                    false,
                    icmp::kind::TIME_EXCEEDED,
                    icmp::exceeded::REASSEMBLY,
                    0,
                    now,
                );
            }
        }
    }

    /// A datagram could not get its next hop resolved. One we sent: tell the local sender the
    /// way a router would, with an ICMP host unreachable from our own address, delivered
    /// locally. One we forwarded: send that host unreachable to its source.
    fn host_unreachable(
        &mut self,
        ifindex: usize,
        frame: &[u8],
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        let Some(orig) = frame.get(ethernet::HEADER_LEN..) else {
            return;
        };
        let Ok(pkt) = Ipv4Packet::new_checked(orig) else {
            return;
        };
        if !self.out.is_local_addr(pkt.src()) {
            // A datagram we were forwarding: its source is another host, which learns of the
            // failure over the network like any other error (RFC 1812 4.3.3.1, 5.2.7.1),
            // under the same rules and rate limit; our own protocols have nothing to do with it.
            self.icmp_error_raw(
                None,
                pkt.as_bytes(),
                false,
                icmp::kind::DEST_UNREACHABLE,
                icmp::unreach::HOST,
                0,
                now,
            );
            return;
        }
        if pkt.frag_offset() != 0 || is_icmp_error(&pkt) {
            return;
        }
        let Some(src) = self.out.iface(ifindex).and_then(|i| i.ip()) else {
            return;
        };
        let quoted = &orig[..orig.len().min(ICMP_ERROR_MAX)];
        let msg = IcmpRepr::DestUnreachable {
            code: icmp::unreach::HOST,
            next_hop_mtu: 0,
            original: quoted,
        };
        let dgram = build_datagram(src, pkt.src(), self.cfg.default_ttl, &msg);
        if let Ok(p) = Ipv4Packet::new_checked(&dgram) {
            let d = Datagram {
                ifindex,
                packet: p,
                broadcast: false,
            };
            self.icmp_input(&d, now, upper);
        }
    }

    // ---- input ------------------------------------------------------------------------------

    /// Process one received Ethernet frame.
    pub fn receive_frame(
        &mut self,
        ifindex: usize,
        frame: &[u8],
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        let Some(iface) = self.out.ifaces.get_mut(ifindex) else {
            return;
        };
        if !iface.up {
            iface.stats.rx_down += 1;
            return;
        }
        iface.stats.rx_frames += 1;
        let Some(eth) = ethernet::Frame::new_checked(frame) else {
            return;
        };
        let dst = eth.dst();
        let l2_broadcast = dst.is_multicast();
        if !iface.loopback && dst != iface.mac && !l2_broadcast {
            iface.stats.rx_not_our_mac += 1;
            return;
        }
        match eth.ethertype() {
            ethertype::ARP => self.arp_input(ifindex, eth.payload(), now),
            ethertype::IPV4 => self.ip_input(ifindex, eth.payload(), l2_broadcast, now, upper),
            _ => {}
        }
    }

    fn arp_input(&mut self, ifindex: usize, bytes: &[u8], now: Instant) {
        let Ok(repr) = ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)) else {
            self.out.stats.drop_bad_arp += 1;
            return;
        };
        let iface = &mut self.out.ifaces[ifindex];
        let (Some(our_ip), our_mac) = (iface.ip(), iface.mac) else {
            return;
        };
        let res = iface.arp.process(&repr, our_ip, our_mac, now);
        if let Some(reply) = res.reply {
            self.out.send_arp(ifindex, &reply, repr.sender_mac);
        }
        for (mac, PendingFrame { mut frame }) in res.released {
            write_eth(&mut frame, mac, our_mac);
            self.out.push_tx(ifindex, frame);
        }
    }

    fn ip_input(
        &mut self,
        ifindex: usize,
        bytes: &[u8],
        l2_broadcast: bool,
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        let st = &mut self.out.stats;
        st.rx_packets += 1;
        let pkt = match Ipv4Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                match e {
                    HeaderError::Truncated => st.drop_truncated += 1,
                    HeaderError::BadVersion => st.drop_bad_version += 1,
                    HeaderError::BadHeaderLength => st.drop_bad_header_len += 1,
                    HeaderError::BadTotalLength => st.drop_bad_total_len += 1,
                    HeaderError::BadChecksum => st.drop_bad_checksum += 1,
                }
                return;
            }
        };
        if !pkt.verify_checksum() {
            st.drop_bad_checksum += 1;
            return;
        }
        let src = pkt.src();
        let loopback = self.out.ifaces[ifindex].loopback;
        // RFC 1122 3.2.1.3: discard datagrams from a broadcast (limited or directed to one of
        // our networks), multicast or class E source; 127/8 sources are only valid when they
        // came in on loopback (RFC 1812 5.3.7).
        let directed_broadcast = self.out.ifaces.iter().any(|i| i.is_subnet_broadcast(src));
        if ipv4::is_martian_source(src) || directed_broadcast || (src.is_loopback() && !loopback) {
            st.drop_bad_source += 1;
            return;
        }
        let dst = pkt.dst();
        // 127/8 never appears outside a host (RFC 1122 3.2.1.3 (g), RFC 1812 5.3.7): neither
        // delivered (loopback services stay private) nor forwarded.
        if dst.is_loopback() && !loopback {
            st.drop_not_for_us += 1;
            return;
        }
        let iface = &self.out.ifaces[ifindex];
        let ip_broadcast =
            dst.is_broadcast() || iface.is_subnet_broadcast(dst) || dst.is_multicast();
        if ip_broadcast || self.out.is_local_addr(dst) {
            if pkt.is_fragment() {
                self.out.stats.rx_fragments += 1;
                let frag = Fragment {
                    key: reassembly::FragKey {
                        src,
                        dst,
                        protocol: pkt.protocol(),
                        ident: pkt.ident(),
                    },
                    offset: pkt.frag_offset(),
                    more_fragments: pkt.more_fragments(),
                    header: pkt.header(),
                    payload: pkt.payload(),
                };
                match self.reasm.push(frag, now) {
                    Outcome::Complete(whole) => {
                        self.out.stats.reassembled += 1;
                        if let Ok(p) = Ipv4Packet::new_checked(&whole) {
                            self.deliver_local(
                                ifindex,
                                p,
                                ip_broadcast || l2_broadcast,
                                now,
                                upper,
                            );
                        }
                    }
                    Outcome::Incomplete => {}
                    Outcome::Dropped(_) => self.out.stats.drop_reassembly += 1,
                }
            } else {
                self.deliver_local(ifindex, pkt, ip_broadcast || l2_broadcast, now, upper);
            }
        } else if self.cfg.forwarding && !l2_broadcast && !loopback {
            self.forward(ifindex, pkt, now);
        } else {
            self.out.stats.drop_not_for_us += 1;
        }
    }

    fn deliver_local(
        &mut self,
        ifindex: usize,
        packet: Ipv4Packet<'_>,
        broadcast: bool,
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        self.out.stats.rx_delivered += 1;
        let d = Datagram {
            ifindex,
            packet,
            broadcast,
        };
        if packet.protocol() == ipv4::protocol::ICMP {
            self.icmp_input(&d, now, upper);
            return;
        }
        match upper.deliver(&mut self.out, &d, now) {
            Delivery::Delivered => {}
            Delivery::ProtocolUnreachable => {
                self.out.stats.drop_unknown_protocol += 1;
                self.icmp_error(
                    &d,
                    icmp::kind::DEST_UNREACHABLE,
                    icmp::unreach::PROTOCOL,
                    0,
                    now,
                );
            }
            Delivery::PortUnreachable => {
                self.icmp_error(
                    &d,
                    icmp::kind::DEST_UNREACHABLE,
                    icmp::unreach::PORT,
                    0,
                    now,
                );
            }
        }
    }

    fn icmp_input(&mut self, d: &Datagram<'_>, now: Instant, upper: &mut dyn Upper) {
        let st = &mut self.out.icmp;
        st.rx_messages += 1;
        let msg = match IcmpRepr::parse(d.packet.payload()) {
            Ok(m) => m,
            Err(icmp::IcmpError::Truncated) => {
                st.drop_truncated += 1;
                return;
            }
            Err(icmp::IcmpError::BadChecksum) => {
                st.drop_bad_checksum += 1;
                return;
            }
        };
        // Raw ICMP sockets see every message, as on Linux (ping reads its replies there).
        upper.deliver(&mut self.out, d, now);
        match msg {
            IcmpRepr::EchoRequest { ident, seq, data } => {
                self.out.icmp.rx_echo_requests += 1;
                if d.broadcast {
                    // Linux's default (icmp_echo_ignore_broadcasts): no smurf amplifier here.
                    self.out.icmp.drop_broadcast_echo += 1;
                    return;
                }
                let reply = IcmpRepr::EchoReply { ident, seq, data };
                let meta = SendMeta {
                    src: Some(d.packet.dst()),
                    tos: d.packet.tos(),
                    ..SendMeta::new(d.packet.src(), ipv4::protocol::ICMP)
                };
                let len = reply.buffer_len();
                if self
                    .out
                    .send_with(&meta, len, &mut |b| reply.emit(b), now)
                    .is_ok()
                {
                    self.out.icmp.tx_messages += 1;
                    self.out.icmp.tx_echo_replies += 1;
                }
            }
            IcmpRepr::EchoReply { .. } => self.out.icmp.rx_echo_replies += 1,
            IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            } => self.report(
                d,
                icmp::kind::DEST_UNREACHABLE,
                code,
                u32::from(next_hop_mtu),
                original,
                now,
                upper,
            ),
            IcmpRepr::TimeExceeded { code, original } => {
                self.report(d, icmp::kind::TIME_EXCEEDED, code, 0, original, now, upper)
            }
            IcmpRepr::Redirect {
                code,
                gateway,
                original,
            } => self.report(
                d,
                icmp::kind::REDIRECT,
                code,
                u32::from(gateway),
                original,
                now,
                upper,
            ),
            IcmpRepr::Other { .. } => {}
        }
    }

    /// Hand an ICMP error about one of our datagrams up to the protocol that sent it.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        d: &Datagram<'_>,
        kind: u8,
        code: u8,
        info: u32,
        original: &[u8],
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        self.out.icmp.rx_errors += 1;
        let Some((hdr_len, protocol, osrc, odst)) = quoted_header(original) else {
            return;
        };
        let report = IcmpErrorReport {
            from: d.packet.src(),
            kind,
            code,
            info,
            orig_src: osrc,
            orig_dst: odst,
            orig_protocol: protocol,
            orig_payload: &original[hdr_len..],
        };
        upper.icmp_error(&mut self.out, &report, now);
    }

    // ---- forwarding (RFC 1812 5.2, 5.3) --------------------------------------------------

    fn forward(&mut self, in_ifindex: usize, pkt: Ipv4Packet<'_>, now: Instant) {
        let d = Datagram {
            ifindex: in_ifindex,
            packet: pkt,
            broadcast: false,
        };
        if pkt.ttl() <= 1 {
            self.out.stats.drop_ttl_expired += 1;
            self.icmp_error(&d, icmp::kind::TIME_EXCEEDED, icmp::exceeded::TTL, 0, now);
            return;
        }
        let Some(route) = self.out.route(pkt.dst()) else {
            self.out.stats.drop_no_route += 1;
            self.icmp_error(&d, icmp::kind::DEST_UNREACHABLE, icmp::unreach::NET, 0, now);
            return;
        };
        let next_hop = route.next_hop(pkt.dst());
        // RFC 1812 5.2.7.2: leaving by the interface it came in on, towards a next hop on
        // the sender's own network: tell the sender of the better first hop.
        if route.ifindex == in_ifindex {
            let on_link = self
                .out
                .iface(in_ifindex)
                .and_then(|i| i.addr)
                .is_some_and(|c| c.contains(pkt.src()));
            if on_link && next_hop != pkt.src() {
                self.icmp_error(
                    &d,
                    icmp::kind::REDIRECT,
                    icmp::redirect::HOST,
                    u32::from(next_hop),
                    now,
                );
            }
        }
        let mtu = self.out.iface(route.ifindex).map(|i| i.mtu).unwrap_or(0);
        let mut dgram = pkt.as_bytes().to_vec();
        dgram[8] -= 1;
        ipv4::fill_checksum(&mut dgram[..pkt.header_len()]);
        self.out.stats.rx_forwarded += 1;
        if dgram.len() <= mtu {
            let mut frame = vec![0u8; ethernet::HEADER_LEN + dgram.len()];
            frame[ethernet::HEADER_LEN..].copy_from_slice(&dgram);
            let _ = self.out.transmit_ip(route.ifindex, next_hop, frame, now);
        } else if pkt.dont_fragment() {
            self.out.stats.drop_frag_needed += 1;
            let mtu16 = u16::try_from(mtu).unwrap_or(u16::MAX);
            self.icmp_error_raw(
                Some(in_ifindex),
                pkt.as_bytes(),
                false,
                icmp::kind::DEST_UNREACHABLE,
                icmp::unreach::FRAG_NEEDED,
                u32::from(mtu16),
                now,
            );
        } else {
            // Re-fragment with a fresh header (options are not copied; RFC 791 allows
            // dropping options not marked "copy").
            let repr = Ipv4Repr {
                src: pkt.src(),
                dst: pkt.dst(),
                protocol: pkt.protocol(),
                ttl: pkt.ttl() - 1,
                tos: pkt.tos(),
                ident: pkt.ident(),
                dont_fragment: false,
                payload_len: pkt.payload().len(),
            };
            // A fragment being forwarded keeps its place in the original datagram.
            let base = pkt.frag_offset();
            let last_more = pkt.more_fragments();
            let chunk = (mtu.saturating_sub(ipv4::HEADER_LEN)) & !7;
            if chunk == 0 {
                return;
            }
            let payload = pkt.payload();
            let mut off = 0;
            while off < payload.len() {
                let end = (off + chunk).min(payload.len());
                let more = end < payload.len() || last_more;
                let mut frame = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + end - off];
                frame[ethernet::HEADER_LEN + ipv4::HEADER_LEN..]
                    .copy_from_slice(&payload[off..end]);
                Ipv4Repr {
                    payload_len: end - off,
                    ..repr
                }
                .emit(&mut frame[ethernet::HEADER_LEN..], base + off, more);
                self.out.stats.tx_fragments += 1;
                if self
                    .out
                    .transmit_ip(route.ifindex, next_hop, frame, now)
                    .is_err()
                {
                    return;
                }
                off = end;
            }
        }
    }

    // ---- ICMP errors (RFC 1122 3.2.2, RFC 1812 4.3.2.7) ---------------------------------

    fn icmp_error(&mut self, d: &Datagram<'_>, kind: u8, code: u8, info: u32, now: Instant) {
        self.icmp_error_raw(
            Some(d.ifindex),
            d.packet.as_bytes(),
            d.broadcast,
            kind,
            code,
            info,
            now,
        );
    }

    /// Send an ICMP error about `orig` (a whole datagram or its first bytes) to its source,
    /// unless the rules forbid it: never about an ICMP error, a datagram sent to a broadcast
    /// or multicast address, a non-first fragment, or from a source that is not one host.
    #[allow(clippy::too_many_arguments)]
    fn icmp_error_raw(
        &mut self,
        in_ifindex: Option<usize>,
        orig: &[u8],
        broadcast: bool,
        kind: u8,
        code: u8,
        info: u32,
        now: Instant,
    ) {
        let Some((hdr_len, _, src, dst)) = quoted_header(orig) else {
            return;
        };
        let frag_offset = u16::from_be_bytes([orig[6], orig[7]]) & 0x1fff;
        let is_error = orig[9] == ipv4::protocol::ICMP
            && frag_offset == 0
            && orig.get(hdr_len).is_some_and(|t| icmp::kind::is_error(*t));
        if broadcast
            || dst.is_broadcast()
            || dst.is_multicast()
            || frag_offset != 0
            || is_error
            || src.is_unspecified()
            || ipv4::is_martian_source(src)
            || self
                .out
                .ifaces
                .iter()
                .any(|i| i.is_subnet_broadcast(src) || i.is_subnet_broadcast(dst))
        {
            self.out.icmp.errors_suppressed += 1;
            return;
        }
        if !self.out.icmp_limiter.take(now) {
            self.out.icmp.errors_rate_limited += 1;
            return;
        }
        let quoted = &orig[..orig.len().min(ICMP_ERROR_MAX)];
        let msg = match kind {
            icmp::kind::TIME_EXCEEDED => IcmpRepr::TimeExceeded {
                code,
                original: quoted,
            },
            icmp::kind::REDIRECT => IcmpRepr::Redirect {
                code,
                gateway: Ipv4Addr::from(info),
                original: quoted,
            },
            _ => IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu: info as u16,
                original: quoted,
            },
        };
        // Source: the address of the interface the offending datagram came in on (or the
        // destination, when it was addressed to us).
        let from = if self.out.is_local_addr(dst) {
            Some(dst)
        } else {
            in_ifindex
                .and_then(|i| self.out.iface(i))
                .and_then(|i| i.ip())
        };
        let meta = SendMeta {
            src: from,
            ..SendMeta::new(src, ipv4::protocol::ICMP)
        };
        let len = msg.buffer_len();
        if self
            .out
            .send_with(&meta, len, &mut |b| msg.emit(b), now)
            .is_ok()
        {
            self.out.icmp.tx_messages += 1;
            match kind {
                icmp::kind::TIME_EXCEEDED => self.out.icmp.tx_time_exceeded += 1,
                icmp::kind::DEST_UNREACHABLE => self.out.icmp.tx_dest_unreachable += 1,
                icmp::kind::REDIRECT => self.out.icmp.tx_redirects += 1,
                _ => {}
            }
        }
    }
}

fn is_icmp_error(p: &Ipv4Packet<'_>) -> bool {
    p.protocol() == ipv4::protocol::ICMP
        && p.payload()
            .first()
            .is_some_and(|t| icmp::kind::is_error(*t))
}

/// The header fields of a quoted (possibly truncated) datagram: header length, protocol,
/// source, destination.
fn quoted_header(b: &[u8]) -> Option<(usize, u8, Ipv4Addr, Ipv4Addr)> {
    if b.len() < ipv4::HEADER_LEN || b[0] >> 4 != 4 {
        return None;
    }
    let hl = usize::from(b[0] & 0x0f) * 4;
    if hl < ipv4::HEADER_LEN || hl > b.len() {
        return None;
    }
    Some((
        hl,
        b[9],
        Ipv4Addr::new(b[12], b[13], b[14], b[15]),
        Ipv4Addr::new(b[16], b[17], b[18], b[19]),
    ))
}

/// A whole ICMP datagram in a fresh buffer (for messages delivered locally).
fn build_datagram(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, msg: &IcmpRepr<'_>) -> Vec<u8> {
    let len = msg.buffer_len();
    let mut b = vec![0u8; ipv4::HEADER_LEN + len];
    msg.emit(&mut b[ipv4::HEADER_LEN..]);
    Ipv4Repr {
        src,
        dst,
        protocol: ipv4::protocol::ICMP,
        ttl,
        tos: 0,
        ident: 0,
        dont_fragment: false,
        payload_len: len,
    }
    .emit(&mut b, 0, false);
    b
}
