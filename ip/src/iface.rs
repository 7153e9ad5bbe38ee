//! Interfaces as the IP layer keeps them: address, MTU, state and the neighbour cache.

use crate::Ipv4Cidr;
use arp::NeighborCache;
use netif::MacAddr;
use std::net::Ipv4Addr;

/// A frame waiting for its next hop's MAC: the Ethernet header is written when it resolves.
#[derive(Debug)]
pub struct PendingFrame {
    pub frame: Vec<u8>,
    /// What the device is asked to do with it (checksum, segmentation).
    pub meta: netif::FrameMeta,
}

pub struct Interface {
    pub ifindex: usize,
    pub name: String,
    pub mac: MacAddr,
    pub mtu: usize,
    /// The largest MTU the device can carry.
    pub max_mtu: usize,
    pub addr: Option<Ipv4Cidr>,
    pub up: bool,
    pub loopback: bool,
    /// What the device completes for us (checksums, TCP segmentation).
    pub offload: netif::Offload,
    pub arp: NeighborCache<PendingFrame>,
    pub stats: IfStats,
    /// When this interface last defended its address against another host's ARP
    /// (RFC 5227 2.4 (b): at most once per `DEFEND_INTERVAL`).
    pub last_defended: Option<netif::Instant>,
    /// Multicast groups joined, and IGMP's state for them.
    pub groups: crate::igmp::Groups,
    /// An address being checked before use (RFC 5227 2.1: `IpLayer::arp_probe`), and the
    /// MAC of another host seen claiming it meanwhile.
    pub probe: Option<(Ipv4Addr, Option<MacAddr>)>,
    /// When the address announced last is announced a second time (RFC 5227 2.3).
    pub announce_again: Option<netif::Instant>,
}

/// Per-interface IP-level counters (the device's own counters live in its driver).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Unicast frames for another MAC (a bridged tap sees them).
    pub rx_not_our_mac: u64,
    pub rx_down: u64,
    /// Frames shorter than an Ethernet header (a driver that filters drops them first).
    pub rx_runt: u64,
    /// Frames of an EtherType other than IPv4 and ARP.
    pub rx_unknown_type: u64,
}

impl Interface {
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.addr.map(|c| c.addr())
    }

    /// Is `ip` this interface's subnet broadcast?
    pub fn is_subnet_broadcast(&self, ip: Ipv4Addr) -> bool {
        self.addr.and_then(|c| c.broadcast()) == Some(ip)
    }
}
