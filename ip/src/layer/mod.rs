//! The IP layer: its settings, its interfaces and their configuration (addresses, routes,
//! the ARP caches), statistics, the queue of frames for the drivers, and the timers of ARP
//! and reassembly. Sans-IO: frames come in as byte slices with `now`; frames going out are
//! queued and taken with [`IpLayer::take_tx`].
//!
//! The work is split by concern, each an `impl IpLayer` block of its own:
//! - `input`: the receive path (RFC 1122 3.2.1), local delivery and ICMP input (RFC 792);
//! - `forward`: forwarding and re-fragmentation (RFC 1812 5.2, 5.3);
//! - `icmp_error`: sending ICMP errors, with the rules of RFC 1122 3.2.2 and RFC 1812 4.3.2.

mod forward;
mod icmp_error;
mod input;

use crate::cidr::Ipv4Cidr;
use crate::icmp;
use crate::iface::{IfStats, Interface, PendingFrame};
use crate::igmp::{self, IgmpStats};
use crate::output::{write_eth, Output, TxFrame};
use crate::ratelimit::TokenBucket;
use crate::reassembly::{self, Reassembler, ReassemblyConfig};
use crate::route::{Route, RouteError, RouteKind, RouteTable};
use crate::stats::{IcmpStats, IpStats};
use crate::upper::{IpTx, Upper};
use arp::{ArpRepr, CacheConfig, NeighborCache};
use netif::{Instant, MacAddr};
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// RFC 5227's ANNOUNCE_INTERVAL: the time between an address's two announcements.
const ANNOUNCE_INTERVAL: netif::Duration = netif::Duration::from_secs(2);

/// Settings of the IP layer.
#[derive(Clone, Debug)]
pub struct IpConfig {
    /// Forward datagrams not addressed to this host (a router, as the C tapip can be).
    /// Off by default: RFC 1122 3.1 asks a host with gateway code for a switch, off unless
    /// configured (the shell's `--forward`, `StackBuilder::forwarding`).
    pub forwarding: bool,
    pub default_ttl: u8,
    /// ICMP errors per second and burst, for all destinations together (echo replies are
    /// not limited, nor is "fragmentation needed", whose loss would leave a sender with a
    /// path-MTU black hole).
    pub icmp_rate: (u32, u32),
    /// ICMP errors per second and burst towards any one destination, checked first, so
    /// that one host drawing errors does not use up those owed to the others (Linux: one
    /// a second after a burst of 6, `icmp_ratelimit`).
    pub icmp_peer_rate: (u32, u32),
    /// Destinations whose ICMP error buckets are kept (the least recently used goes).
    pub icmp_peers: usize,
    pub reassembly: ReassemblyConfig,
    pub arp: CacheConfig,
    pub max_routes: usize,
    /// Frames queued for the drivers between two `take_tx` calls.
    pub tx_queue: usize,
    /// Multicast groups one interface may join.
    pub max_groups: usize,
    /// Seed of IGMP's random report delays and key of the IP Identification counters;
    /// the runtime takes it from the OS's random source, tests fix it.
    pub seed: u64,
}

impl Default for IpConfig {
    fn default() -> Self {
        let arp = CacheConfig {
            // A 65,515-byte datagram is 45 fragments at MTU 1500 and 119 at MTU 576, the
            // smallest every host must accept (RFC 791): let a whole one wait for ARP.
            // The byte bounds (`CacheConfig`'s: 212,992 bytes per address, as Linux's
            // `unres_qlen_bytes`, and four times that in all) hold such a datagram too
            // (68 KB of frames at MTU 1500, 70 KB at 576), and bind before these counts
            // only for larger frames: offloaded (TSO) ones of up to 64 KiB.
            max_pending_per_entry: 128,
            max_pending_total: 512,
            ..CacheConfig::default()
        };
        IpConfig {
            forwarding: false,
            default_ttl: 64,
            icmp_rate: (1000, 50),
            icmp_peer_rate: (1, 6),
            icmp_peers: 256,
            reassembly: ReassemblyConfig::default(),
            arp,
            max_routes: 256,
            tx_queue: 4096,
            max_groups: 256,
            seed: 0x6967_6d70_0000_0001,
        }
    }
}

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
    /// Multicast groups joined, with the sockets in each (the all-systems group, which
    /// every interface is in, is not listed).
    pub groups: Vec<(Ipv4Addr, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    #[error("MTU {0} out of range (68 to {1})")]
    BadMtu(usize, usize),
    #[error("{0}")]
    Route(#[from] RouteError),
    /// The address is another interface's. Linux allows it (each interface its prefix
    /// route, the host owning the address once); here it is refused, because the ARP
    /// input takes the other interface's announcements of it, when both are on one link,
    /// for another host's conflicting claim (RFC 5227 defence, the cache's `conflicts`, and a
    /// DHCP client's DECLINE), and telling them apart needs a new drop cause for ARP from
    /// our own MACs (Linux's kernel has no conflict detection to confuse).
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
                pool: Vec::new(),
                pool_bytes: 0,
                idents: crate::ident::Idents::new(cfg.seed),
                default_ttl: cfg.default_ttl,
                icmp_limiter: TokenBucket::new(cfg.icmp_rate.0, cfg.icmp_rate.1),
                icmp_peer_limiter: crate::ratelimit::PerPeer::new(
                    cfg.icmp_peer_rate.0,
                    cfg.icmp_peer_rate.1,
                    cfg.icmp_peers,
                ),
                stats: IpStats::default(),
                icmp: IcmpStats::default(),
                pmtu: Default::default(),
                rng: igmp::Rng::new(cfg.seed),
                igmp: IgmpStats::default(),
                looped: VecDeque::new(),
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
            offload: info.offload,
            arp: NeighborCache::new(self.cfg.arp),
            stats: IfStats::default(),
            last_defended: None,
            groups: igmp::Groups::new(self.cfg.max_groups),
            probe: None,
            announce_again: None,
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
                groups: i
                    .groups
                    .memberships()
                    .iter()
                    .filter(|m| m.group != igmp::ALL_SYSTEMS)
                    .map(|m| (m.group, m.users))
                    .collect(),
            })
            .collect()
    }

    /// Set (or clear) an interface's address. The connected route follows (while the
    /// interface is up), a change forgets the neighbours learnt (static ones stay), and an
    /// interface that is up announces itself with a gratuitous ARP.
    pub fn set_address(
        &mut self,
        ifindex: usize,
        addr: Option<Ipv4Cidr>,
        now: Instant,
    ) -> Result<(), ConfigError> {
        if let Some(a) = addr {
            let ip = a.addr();
            // A network's own address and its broadcast address are no host's (below
            // /31): refused as `--addr`, `route ... via` and `arp -s` refuse them.
            if ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || a.broadcast() == Some(ip)
                || (a.prefix() < 31 && a.network().addr() == ip)
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
        let i = self.iface_mut(ifindex)?;
        let up = i.up;
        let old = std::mem::replace(&mut i.addr, addr);
        self.out
            .routes
            .remove_interface_routes(ifindex, RouteKind::Connected);
        let connected = |a: Ipv4Cidr| Route {
            dest: a.network(),
            gateway: None,
            ifindex,
            kind: RouteKind::Connected,
            metric: 0,
        };
        // Linux adds an address's prefix route only while its device is up (fib_add_ifaddr).
        if let Some(a) = addr.filter(|_| up) {
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
        // Routes the change leaves unusable go, as Linux's routes go with the address their
        // device lost (fib_del_ifaddr; with its last address, fib_disable_ip: every route
        // through it): with no address, every route through the interface; else those
        // through a gateway no longer on its network, or now our own address.
        let neighbour = |gw: Ipv4Addr| {
            addr.is_some_and(|a| {
                let edge =
                    a.prefix() < 31 && (a.network().addr() == gw || a.broadcast() == Some(gw));
                a.contains(gw) && gw != a.addr() && !edge
            })
        };
        let new_ip = addr.map(|a| a.addr());
        // A gateway a route with no gateway reaches on this link (`route add -host GW dev
        // IF`, a /32 lease's router) stays one whatever the address.
        let linked: Vec<Ipv4Cidr> = self
            .out
            .routes
            .routes()
            .iter()
            .filter(|r| r.ifindex == ifindex && r.gateway.is_none())
            .filter(|r| r.kind != RouteKind::Connected)
            .map(|r| r.dest)
            .collect();
        let on_link = |gw: Ipv4Addr| Some(gw) != new_ip && linked.iter().any(|d| d.contains(gw));
        self.out.routes.retain(|r| match r.gateway {
            _ if r.ifindex == ifindex && addr.is_none() => false,
            Some(gw) if r.ifindex == ifindex => neighbour(gw) || on_link(gw),
            Some(gw) => Some(gw) != new_ip,
            None => true,
        });
        if old != addr {
            // The neighbours learnt under the old address go (the static ones stay), as
            // Linux's go with a device's last address (fib_disable_ip's arp_ifdown): the
            // interface may be on another link now, numbered alike.
            self.out.ifaces[ifindex].arp.clear();
        }
        self.announce(ifindex, now);
        if addr.is_some() && old.map(|o| o.addr()) != addr.map(|a| a.addr()) {
            // Reports name their sender: routers learn the new one (as Linux reports again).
            self.out.report_groups(ifindex, now);
        }
        Ok(())
    }

    /// Forward datagrams not addressed to this host, or not ([`IpConfig::forwarding`]).
    pub fn set_forwarding(&mut self, on: bool) {
        self.cfg.forwarding = on;
    }

    pub fn forwarding(&self) -> bool {
        self.cfg.forwarding
    }

    /// The TTL of datagrams whose sender set none ([`IpConfig::default_ttl`]).
    pub fn default_ttl(&self) -> u8 {
        self.cfg.default_ttl
    }

    /// Bring an interface up or down. Down, every route through it goes (Linux flushes
    /// the IPv4 routes through a device that goes down, fib_disable_ip), and so do the
    /// neighbours it learnt, with the datagrams waiting for one (counted as removed; Linux's
    /// `arp_ifdown`): the link may be another when it comes up, and nothing would send the
    /// waiting datagrams. Static neighbours stay. Up, its address brings its connected
    /// route back (fib_add_ifaddr), and it announces itself.
    pub fn set_up(&mut self, ifindex: usize, up: bool, now: Instant) -> Result<(), ConfigError> {
        let i = self.iface_mut(ifindex)?;
        let (was, addr) = (i.up, i.addr);
        if up == was {
            return Ok(());
        }
        if !up {
            i.up = false;
            i.arp.clear();
            self.out.routes.retain(|r| r.ifindex != ifindex);
            return Ok(());
        }
        if let Some(a) = addr {
            // A full table leaves the interface down rather than up but unrouted.
            self.out.routes.add(Route {
                dest: a.network(),
                gateway: None,
                ifindex,
                kind: RouteKind::Connected,
                metric: 0,
            })?;
        }
        self.out.ifaces[ifindex].up = true;
        self.announce(ifindex, now);
        self.out.report_groups(ifindex, now);
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
    /// RFC 5227 2.3: ANNOUNCE_NUM (2) announcements, ANNOUNCE_INTERVAL (2 s) apart, so
    /// that a neighbour that missed the first still updates its cache; the second is
    /// sent by `poll` (and not if the interface went down or lost its address meanwhile;
    /// a new address starts over).
    fn announce(&mut self, ifindex: usize, now: Instant) {
        let Some(i) = self.out.ifaces.get_mut(ifindex) else {
            return;
        };
        i.announce_again = None;
        if !i.up || i.loopback {
            return;
        }
        if let Some(ip) = i.ip() {
            i.announce_again = Some(now + ANNOUNCE_INTERVAL);
            let g = ArpRepr::gratuitous(i.mac, ip);
            self.out.send_arp(ifindex, &g, MacAddr::BROADCAST);
        }
    }

    /// The second announcement, when due.
    fn announce_again(&mut self, ifindex: usize, now: Instant) {
        let i = &mut self.out.ifaces[ifindex];
        if i.announce_again.is_none_or(|t| t > now) {
            return;
        }
        i.announce_again = None;
        if let (true, false, Some(ip)) = (i.up, i.loopback, i.ip()) {
            let g = ArpRepr::gratuitous(i.mac, ip);
            self.out.send_arp(ifindex, &g, MacAddr::BROADCAST);
        }
    }

    pub fn routes(&self) -> &[Route] {
        self.out.routes.routes()
    }

    /// Add a static route of metric 0. With a gateway, the interface is the one that
    /// reaches it.
    pub fn add_route(
        &mut self,
        dest: Ipv4Cidr,
        gateway: Option<Ipv4Addr>,
        ifindex: Option<usize>,
    ) -> Result<(), ConfigError> {
        self.add_route_metric(dest, gateway, ifindex, 0)
    }

    /// Add a static route with a metric: among routes of one prefix length, lookups take
    /// the lowest metric (then the route added first). A route to the same network with
    /// the same metric is refused.
    pub fn add_route_metric(
        &mut self,
        dest: Ipv4Cidr,
        gateway: Option<Ipv4Addr>,
        ifindex: Option<usize>,
        metric: u32,
    ) -> Result<(), ConfigError> {
        let ifindex = match (gateway, ifindex) {
            (Some(gw), _) if self.out.is_local_addr(gw) => {
                return Err(ConfigError::Route(RouteError::GatewayIsLocal(gw)))
            }
            (Some(gw), dev) => {
                // On the network of an interface that is up (Linux checks the gateway
                // against the connected routes, which a device that is down has not).
                let connected = self.out.ifaces.iter().find(|i| {
                    i.up && i.addr.is_some_and(|c| c.contains(gw))
                        && dev.is_none_or(|d| d == i.ifindex)
                });
                match connected {
                    Some(via) => {
                        // A network's broadcast and own address are no host to forward
                        // through (Linux: "Nexthop has invalid gateway"); on a /31 both
                        // are hosts.
                        let net = via.addr.filter(|c| c.prefix() < 31);
                        if net
                            .is_some_and(|c| c.network().addr() == gw || c.broadcast() == Some(gw))
                        {
                            return Err(ConfigError::NotUnicast(gw));
                        }
                        via.ifindex
                    }
                    // Else reached on the link by a route with no gateway (`route add -host
                    // GW dev IF`, as a DHCP lease of a /32 with its router outside needs):
                    // Linux takes a gateway its table reaches with a link-scope route.
                    None => {
                        self.out
                            .ifaces
                            .iter()
                            .find(|i| {
                                i.up && i.addr.is_some()
                                    && dev.is_none_or(|d| d == i.ifindex)
                                    && self.out.is_on_link(gw, i.ifindex)
                            })
                            .ok_or(RouteError::GatewayUnreachable(gw))?
                            .ifindex
                    }
                }
            }
            (None, Some(d)) => {
                // Linux: "Nexthop device is not up".
                let i = self.iface_mut(d)?;
                if !i.up {
                    return Err(RouteError::DeviceDown(i.name.clone()).into());
                }
                d
            }
            (None, None) => return Err(ConfigError::Route(RouteError::NeedsGatewayOrDevice)),
        };
        self.out.routes.add(Route {
            dest,
            gateway,
            ifindex,
            kind: RouteKind::Static,
            metric,
        })?;
        Ok(())
    }

    /// Delete a static (or learned) route to `dest`: the one with `metric` when given, else
    /// the one lookups prefer.
    pub fn del_route(&mut self, dest: Ipv4Cidr, metric: Option<u32>) -> Result<Route, ConfigError> {
        Ok(self.out.routes.delete(dest, metric)?)
    }

    pub fn route_lookup(&self, dst: Ipv4Addr) -> Option<Route> {
        self.out.route(dst)
    }

    /// Would a datagram to `dst` push an older one out of the ARP queue of its next hop
    /// (being resolved, its queue full)?
    pub fn arp_queue_full(&self, dst: Ipv4Addr) -> bool {
        let Some(r) = self.out.route(dst) else {
            return false;
        };
        self.out
            .ifaces
            .get(r.ifindex)
            .is_some_and(|i| i.arp.queue_full(r.next_hop(dst)))
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

    /// Add a static neighbour on the interface a datagram to `ip` leaves by (on its link:
    /// no gateway), as Linux's `arp -s` without a device; else on an interface whose
    /// network holds `ip`.
    /// Our own addresses, and a network's own address and broadcast, are nobody's
    /// neighbour entry (refused as `ifconfig` refuses them as addresses).
    pub fn arp_add_static(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Result<(), ConfigError> {
        // Our own addresses first: loopback's are on no link, and "not on a connected
        // network" would say the wrong thing of them.
        if self.out.is_local_addr(ip) {
            return Err(ConfigError::Arp(format!("{ip} is this host's own address")));
        }
        let ifindex = self
            .out
            .on_link_iface(ip)
            .ok_or(RouteError::GatewayUnreachable(ip))?;
        let net = self.out.ifaces[ifindex].addr.filter(|c| c.prefix() < 31);
        if net.is_some_and(|c| c.network().addr() == ip || c.broadcast() == Some(ip)) {
            return Err(ConfigError::NotUnicast(ip));
        }
        let i = &mut self.out.ifaces[ifindex];
        let waiting = i
            .arp
            .insert_static(ip, mac)
            .map_err(|e| ConfigError::Arp(e.to_string()))?;
        let (ifindex, our_mac) = (i.ifindex, i.mac);
        for PendingFrame { mut frame, meta } in waiting {
            write_eth(&mut frame, mac, our_mac);
            self.out.push_tx(ifindex, frame, meta);
        }
        Ok(())
    }

    /// Remove a neighbour from every interface's cache; false if none had it.
    /// Check that no other host on the link of interface `ifindex` uses `addr` before
    /// this one takes it (RFC 5227 2.1, what a DHCP client does with an offered address,
    /// RFC 2131 4.4.1): send an ARP probe (a request for `addr` from 0.0.0.0, so no
    /// neighbour learns anything from it), and from now on watch for another host claiming
    /// `addr`: a packet from it, or its own probe for `addr` (`arp_probe_conflict`). Call
    /// again to send another probe; `arp_probe_stop` ends the watch.
    pub fn arp_probe(&mut self, ifindex: usize, addr: Ipv4Addr) -> Result<(), ConfigError> {
        let i = self.iface_mut(ifindex)?;
        if !i.up {
            return Err(ConfigError::Arp(format!("{} is down", i.name)));
        }
        if i.probe.is_none_or(|(a, _)| a != addr) {
            i.probe = Some((addr, None));
        }
        let probe = ArpRepr::request(i.mac, Ipv4Addr::UNSPECIFIED, addr);
        self.out.send_arp(ifindex, &probe, MacAddr::BROADCAST);
        Ok(())
    }

    /// The MAC of another host seen claiming the address probed on `ifindex`, if any.
    pub fn arp_probe_conflict(&self, ifindex: usize) -> Option<MacAddr> {
        self.out.ifaces.get(ifindex)?.probe?.1
    }

    /// Stop watching for claims of the address probed on `ifindex`.
    pub fn arp_probe_stop(&mut self, ifindex: usize) {
        if let Some(i) = self.out.ifaces.get_mut(ifindex) {
            i.probe = None;
        }
    }

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
        IpStats {
            drop_reassembly: self.reasm.stats().failures(),
            ..self.out.stats
        }
    }

    pub fn icmp_stats(&self) -> IcmpStats {
        self.out.icmp
    }

    pub fn igmp_stats(&self) -> IgmpStats {
        self.out.igmp
    }

    pub fn reassembly_stats(&self) -> reassembly::ReassemblyStats {
        self.reasm.stats()
    }

    /// Datagrams being reassembled and the bytes charged for them (payload and records).
    pub fn reassembly_usage(&self) -> (usize, usize) {
        (self.reasm.pending(), self.reasm.buffered_bytes())
    }

    /// Frames waiting for ARP resolution, on all interfaces.
    pub fn arp_pending(&self) -> usize {
        self.out.ifaces.iter().map(|i| i.arp.pending()).sum()
    }

    /// The down path, for sockets.
    pub fn tx(&mut self) -> &mut dyn IpTx {
        &mut self.out
    }

    /// Frames for the drivers, queued since the last call.
    pub fn take_tx(&mut self) -> impl Iterator<Item = TxFrame> + '_ {
        self.out.take_tx()
    }

    /// Give back the buffer of a frame a driver has written, for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.out.recycle(buf);
    }

    // ---- timers -----------------------------------------------------------------------------

    /// The next moment `poll` has work to do.
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.out.looped.is_empty() {
            // Copies of our own multicast or broadcasts wait for delivery: at once.
            return Some(Instant::ZERO);
        }
        let arp = self.out.ifaces.iter().filter_map(|i| i.arp.poll_at());
        let igmp = self.out.ifaces.iter().filter_map(|i| i.groups.poll_at());
        let announce = self.out.ifaces.iter().filter_map(|i| i.announce_again);
        arp.chain(igmp)
            .chain(announce)
            .chain(self.reasm.poll_at())
            .chain(self.out.pmtu.poll_at())
            .chain(self.out.routes.poll_at())
            .min()
    }

    /// Run the timers due at `now`: ARP retransmissions and failures (whose waiting senders
    /// learn "host unreachable"), reassembly timeouts (answered with time exceeded), IGMP
    /// reports; and deliver the copies of multicast this host sent to its own groups.
    pub fn poll(&mut self, now: Instant, upper: &mut dyn Upper) {
        self.deliver_looped(now, upper);
        self.out.pmtu.poll(now);
        self.out.routes.expire(now);
        for ifindex in 0..self.out.ifaces.len() {
            for msg in self.out.ifaces[ifindex].groups.poll(now) {
                self.out.send_igmp(ifindex, &msg, now);
            }
        }
        for ifindex in 0..self.out.ifaces.len() {
            self.announce_again(ifindex, now);
            let p = self.out.ifaces[ifindex].arp.poll(now);
            for ip in p.requests {
                self.out.request(ifindex, ip);
            }
            for (ip, mac) in p.probes {
                self.out.request_to(ifindex, ip, mac);
            }
            for (_, frames) in p.failures {
                for f in frames {
                    self.out.stats.drop_arp_failed += 1;
                    self.host_unreachable(ifindex, &f.frame, now, upper);
                }
            }
        }
        for exp in self.reasm.poll(now) {
            if let Some(first) = exp.first_fragment {
                // RFC 792 / RFC 1122 3.3.2: only when fragment zero has arrived.
                self.icmp_error_raw(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_pool_keeps_a_run_of_plain_frames_and_at_most_4_mib() {
        let mut ip = IpLayer::new(IpConfig::default());
        // A driver gives back the buffers of 300 written plain frames at once.
        for _ in 0..300 {
            ip.recycle(vec![0u8; 1514]);
        }
        assert_eq!(ip.out.pool.len(), 256);
        assert_eq!(ip.out.pool_bytes, 256 * 1514);
        // A reused buffer comes back zeroed, at the length asked for.
        let mut f = ip.out.frame_buf(1000);
        f.fill(0xaa);
        ip.recycle(f);
        let f = ip.out.frame_buf(1400);
        assert_eq!(f.len(), 1400);
        assert!(f.iter().all(|&b| b == 0));
        assert_eq!(ip.out.pool_bytes, 255 * 1514);
        // Buffers of 64 KB frames: the bytes bound holds (64 of them).
        let mut ip = IpLayer::new(IpConfig::default());
        for _ in 0..100 {
            ip.recycle(vec![0u8; 65_536]);
        }
        assert_eq!(ip.out.pool.len(), 64);
        for _ in 0..64 {
            ip.out.frame_buf(60);
        }
        assert_eq!(ip.out.pool_bytes, 0);
        // Larger than any frame: not kept.
        ip.recycle(vec![0u8; 200_000]);
        assert!(ip.out.pool.is_empty());
    }
}

#[cfg(test)]
mod offload_review_tests;
