//! Frames for the sans-IO tests that play the peer of the real `ip` and `transport` layers
//! in memory (`tests/offload_memory.rs`, `tests/pmtu_memory.rs`): the stack has one
//! interface, tap0, at [`US`] (10.0.0.1/24, MAC [`US_MAC`]); the peer is [`PEER`]
//! (10.0.0.2, MAC [`PEER_MAC`]).
//!
//! - [`eth`], [`ip_frame`]: an Ethernet frame, an IPv4 frame to the stack.
//! - [`stack_knowing_peer`]: the layers, tap0 up, the peer's MAC learnt from its ARP request.

use arp::ArpRepr;
use ip::ipv4::{self, Ipv4Repr};
use ip::{IpConfig, IpLayer};
use netif::ethernet::{self, ethertype};
use netif::{DeviceInfo, Instant, MacAddr, Offload};
use std::net::Ipv4Addr;
use transport::{Transport, TransportConfig};

/// The stack's address.
pub const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peer's address.
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The stack's MAC on tap0.
pub const US_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
/// The peer's MAC.
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

/// An Ethernet frame of `payload`.
pub fn eth(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
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

/// An IPv4 frame from `src` to [`US`] carrying `payload` of `protocol` (TTL 64, ident 7,
/// DF as `dont_fragment`), sent from the peer's MAC.
pub fn ip_frame(src: Ipv4Addr, protocol: u8, dont_fragment: bool, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; ipv4::HEADER_LEN + payload.len()];
    Ipv4Repr {
        src,
        dst: US,
        protocol,
        ttl: 64,
        tos: 0,
        ident: 7,
        dont_fragment,
        payload_len: payload.len(),
    }
    .emit(&mut d, 0, false);
    d[ipv4::HEADER_LEN..].copy_from_slice(payload);
    eth(US_MAC, PEER_MAC, ethertype::IPV4, &d)
}

/// The peer's ARP request for [`US`], broadcast.
pub fn peer_arp_request() -> Vec<u8> {
    let req = ArpRepr::request(PEER_MAC, PEER, US);
    eth(
        MacAddr::BROADCAST,
        PEER_MAC,
        ethertype::ARP,
        &req.to_bytes(),
    )
}

/// The stack's layers at `now`: tap0 (interface 0; MTU 1500, `offload`) up at
/// 10.0.0.1/24, the peer's MAC learnt from its ARP request (the reply discarded).
pub fn stack_knowing_peer(offload: Offload, now: Instant) -> (IpLayer, Transport) {
    let mut ip = IpLayer::new(IpConfig::default());
    let i = ip.add_interface(&DeviceInfo {
        name: "tap0".into(),
        mtu: 1500,
        mac: US_MAC,
        loopback: false,
        offload,
    });
    ip.set_address(i, Some("10.0.0.1/24".parse().unwrap()), now)
        .unwrap();
    ip.set_up(i, true, now).unwrap();
    let mut t = Transport::new(TransportConfig::default());
    ip.receive_frame(i, &peer_arp_request(), now, &mut t);
    ip.take_tx().for_each(drop);
    (ip, t)
}
