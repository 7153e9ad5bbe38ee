//! The boundary between `ip` and the transport protocols above it (gathered in one file, as
//! every boundary of this stack is).
//!
//! - Up: [`Upper`] — `ip` hands each whole datagram addressed to this host (reassembled if it
//!   came in fragments) to `Upper::deliver`, and each ICMP error about a datagram this host
//!   sent to `Upper::icmp_error`. The `transport` crate implements it.
//! - Down: [`IpTx`] — transport protocols send datagrams through it; `ip` routes, resolves the
//!   next hop, fragments and queues the frames. `ip` implements it.
//!
//! Ownership: everything passed up is borrowed for the duration of the call; a protocol that
//! keeps data copies it into its own bounded queue.

use crate::igmp::GroupError;
use crate::ipv4::Ipv4Packet;
use netif::Instant;
use std::net::Ipv4Addr;

/// What became of a datagram handed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A protocol took it (or a raw socket did, for protocols with no handler).
    Delivered,
    /// No handler and no raw socket for this protocol: answer protocol unreachable.
    ProtocolUnreachable,
    /// The protocol has no endpoint for it: answer port unreachable.
    PortUnreachable,
}

/// A datagram addressed to this host.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The interface it arrived on.
    pub ifindex: usize,
    /// The whole datagram, header included (raw sockets get it as is).
    pub packet: Ipv4Packet<'a>,
    /// Sent to a broadcast address (link or IP): never answered with an ICMP error.
    pub broadcast: bool,
    /// The device vouched for the transport (TCP/UDP) checksum, or it was never computed
    /// because the datagram never left this host: do not verify it again.
    pub csum_ok: bool,
    /// A segment the device coalesced (GRO/LRO): the size of the segments it stands for
    /// (their MSS), as `netif::Gso::size` says. `None` for anything else.
    pub gso_size: Option<u16>,
}

/// An ICMP error that came back about a datagram this host sent.
#[derive(Clone, Copy, Debug)]
pub struct IcmpErrorReport<'a> {
    /// Who sent the error.
    pub from: Ipv4Addr,
    /// The interface it came in on (the one the quoted datagram went out of, as a rule):
    /// the socket lookup weighs a bound device by it, as for a datagram received.
    pub ifindex: usize,
    pub kind: u8,
    pub code: u8,
    /// Next-hop MTU (fragmentation needed) or new gateway (redirect), else 0.
    pub info: u32,
    /// Fields of the quoted original datagram.
    pub orig_src: Ipv4Addr,
    pub orig_dst: Ipv4Addr,
    pub orig_protocol: u8,
    /// The quoted header's Total Length: the size of the datagram the error is about (what
    /// an old router's "fragmentation needed" without a next-hop MTU tells, RFC 1191 5).
    pub orig_total_len: u16,
    /// What the error quoted of the original payload (at least 8 bytes: ports, ICMP id/seq).
    pub orig_payload: &'a [u8],
}

/// A transport layer as `ip` sees it.
pub trait Upper {
    /// A datagram for this host. `tx` lets the protocol answer at once (a TCP RST, say).
    fn deliver(&mut self, tx: &mut dyn IpTx, dgram: &Datagram<'_>, now: Instant) -> Delivery;

    /// An ICMP error about a datagram this host sent (also the "host unreachable" `ip`
    /// synthesises when ARP fails), for the protocol and socket that sent it.
    fn icmp_error(&mut self, tx: &mut dyn IpTx, report: &IcmpErrorReport<'_>, now: Instant);
}

/// How to send one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendMeta {
    /// Source address; `None` picks the outgoing interface's address.
    pub src: Option<Ipv4Addr>,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// `None` uses the default TTL (64; 1 to a multicast group, as `IP_MULTICAST_TTL`).
    pub ttl: Option<u8>,
    pub tos: u8,
    /// DF, when `pmtu` is `None` (TCP sets it on its segments, which it sizes itself).
    pub dont_fragment: bool,
    /// The sender's path-MTU discovery (`IP_MTU_DISCOVER` of a UDP or raw socket): `ip`
    /// then decides DF and the largest piece by the path MTU it learnt towards `dst`, and
    /// `dont_fragment` is not looked at. `None`: DF as `dont_fragment`, fragments of the
    /// interface's MTU.
    pub pmtu: Option<PmtuMode>,
    /// The transport checksum is left to `ip`: it sits this many bytes into the payload,
    /// zeroed, and covers the pseudo-header (TCP: 16, UDP: 6). `ip` computes it, or leaves it
    /// to a device that offloads checksums.
    pub l4_csum: Option<u16>,
    /// A TCP segment larger than the MTU, to be cut into payloads of this many bytes by a
    /// device that offers TSO (only when [`IpTx::link`] says the route has it).
    pub gso_size: Option<u16>,
    /// To a multicast group: leave by the interface with this address rather than the
    /// route's (`IP_MULTICAST_IF`).
    pub multicast_if: Option<Ipv4Addr>,
    /// To a multicast group this host has joined on the outgoing interface: deliver a copy
    /// here too (`IP_MULTICAST_LOOP`, on by default as on Linux). A broadcast is delivered
    /// here too whatever this says (Linux likewise).
    pub multicast_loop: bool,
    /// Leave by this interface only (`SO_BINDTODEVICE`): routes through others are not
    /// taken, and the limited broadcast leaves by it even before it has an address, with
    /// source 0.0.0.0 (a DHCP client's DISCOVER, RFC 2131 4.1).
    pub device: Option<usize>,
}

impl SendMeta {
    pub fn new(dst: Ipv4Addr, protocol: u8) -> SendMeta {
        SendMeta {
            src: None,
            dst,
            protocol,
            ttl: None,
            tos: 0,
            dont_fragment: false,
            pmtu: None,
            l4_csum: None,
            gso_size: None,
            multicast_if: None,
            multicast_loop: true,
            device: None,
        }
    }
}

/// Path-MTU discovery of a socket's datagrams (`IP_MTU_DISCOVER`, ip(7); Linux's
/// `__ip_make_skb` and `__ip_append_data`). The path MTU is the one `ip` learnt towards the
/// destination (RFC 1191, [`IpTx::set_path_mtu`]), never above the interface's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PmtuMode {
    /// `IP_PMTUDISC_DONT`: never DF; a datagram larger than the path MTU leaves in
    /// fragments of it.
    Dont,
    /// `IP_PMTUDISC_WANT`, the default of UDP and raw sockets (Linux's with
    /// `ip_no_pmtu_disc` 0): DF on a datagram that fits the path MTU; a larger one leaves
    /// in fragments of it, without DF.
    #[default]
    Want,
    /// `IP_PMTUDISC_DO`: always DF; a datagram larger than the path MTU is refused
    /// ([`SendError::TooLong`], EMSGSIZE).
    Do,
    /// `IP_PMTUDISC_PROBE`: always DF, the path MTU ignored: a datagram up to the
    /// interface's MTU leaves whole, a larger one is refused.
    Probe,
}

/// Why a datagram could not be sent (synchronously; ARP failures come later as ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("network is unreachable")]
    NoRoute,
    #[error("message too long")]
    TooLong,
    #[error("source address is not one of this host's")]
    BadSource,
    #[error("cannot send to a broadcast address without permission")]
    Broadcast,
    #[error("0.0.0.0 is not a destination")]
    Unspecified,
    #[error("transmit queue full")]
    QueueFull,
    #[error("neighbour resolution queue full")]
    ArpQueueFull,
    /// RFC 1122 3.2.1.7: a host never sends a datagram with TTL 0 (it means "this host
    /// only", for multicast).
    #[error("a TTL of 0 is for multicast on this host only")]
    ZeroTtl,
    /// A header the sender wrote (`IP_HDRINCL`) is not an IPv4 header that fits the
    /// datagram: version 4, a header length of 20 to 60 bytes within the datagram.
    #[error("the IP header given is malformed")]
    BadHeader,
}

/// The down path: what transport protocols may ask of `ip`.
pub trait IpTx {
    /// Send a datagram whose payload (`payload_len` bytes) `fill` writes in place, straight
    /// into the frame, so the payload is copied once.
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        now: Instant,
    ) -> Result<(), SendError>;

    /// Send `datagram`, IP header included, as the sender wrote it (a raw socket with
    /// `IP_HDRINCL`), routed towards `meta.dst` (and `meta.device`, `meta.multicast_if`),
    /// as Linux's `raw_send_hdrinc` does: the total length and the header checksum are
    /// always filled in, a source of 0.0.0.0 becomes `meta.src` or the route's, an
    /// Identification of 0 gets one; nothing else of the header is changed, its options
    /// included. Never fragmented: a datagram longer than the interface's MTU is refused
    /// (`TooLong`, EMSGSIZE).
    fn send_header_included(
        &mut self,
        meta: &SendMeta,
        datagram: &[u8],
        now: Instant,
    ) -> Result<(), SendError> {
        let _ = (meta, datagram, now);
        Err(SendError::NoRoute)
    }

    /// The source address and MTU `ip` would use towards `dst` (the path MTU, when one was
    /// learnt and has not expired).
    fn route_info(&self, dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)>;

    /// The path MTU towards `dst` is `mtu` (RFC 1191): a transport learnt it from a
    /// "fragmentation needed" it validated. `ip` keeps it for 10 minutes (a value below
    /// 552 as 552, locked: see `pmtu::MIN_PMTU`).
    fn set_path_mtu(&mut self, dst: Ipv4Addr, mtu: usize, now: Instant) {
        let _ = (dst, mtu, now);
    }

    /// Negative advice (RFC 1122 3.3.1.4, RFC 9293 3.8.3's R1): a transport's
    /// retransmissions to `dst` have gone unanswered `R1` times, so the neighbour they go
    /// through (`dst` or its gateway) may be gone: `ip` asks its ARP mapping again.
    fn negative_advice(&mut self, dst: Ipv4Addr, now: Instant) {
        let _ = (dst, now);
    }

    /// The source address `ip` would give a datagram to `dst` leaving by interface
    /// `device` (`SO_BINDTODEVICE`): its address, or 0.0.0.0 for the limited broadcast
    /// from an interface with none yet. `None` when that interface cannot reach `dst`.
    fn source_via(&self, dst: Ipv4Addr, device: usize) -> Option<Ipv4Addr> {
        let _ = (dst, device);
        None
    }

    /// Is `ip` one of this host's addresses?
    fn is_local(&self, ip: Ipv4Addr) -> bool;

    /// Is `ip` the limited broadcast or the directed broadcast of one of our networks?
    fn is_broadcast(&self, ip: Ipv4Addr) -> bool;

    /// The offloads and the MTU of the interface a datagram to `dst` leaves by (`None`
    /// without a route).
    fn link(&self, dst: Ipv4Addr) -> Option<(netif::Offload, usize)> {
        let _ = dst;
        None
    }

    /// The index of the interface a membership of `group` named by `iface` is on, as
    /// Linux's `ip_mc_find_dev`: the interface with that address, else (0.0.0.0, or an
    /// address no interface has) the one the route to the group leaves by.
    fn group_ifindex(&self, group: Ipv4Addr, iface: Ipv4Addr) -> Option<usize> {
        let _ = (group, iface);
        None
    }

    /// A socket joins `group` on the interface whose address is `iface` (0.0.0.0: the one
    /// a datagram to the group would leave by). The first on an interface makes it a
    /// member and reports it (IGMP). Returns the interface's index, for `leave_group`.
    fn join_group(
        &mut self,
        group: Ipv4Addr,
        iface: Ipv4Addr,
        now: Instant,
    ) -> Result<usize, GroupError> {
        let _ = (group, iface, now);
        Err(GroupError::NoInterface)
    }

    /// A socket leaves `group` on interface `ifindex`; the last one makes it leave.
    fn leave_group(
        &mut self,
        group: Ipv4Addr,
        ifindex: usize,
        now: Instant,
    ) -> Result<(), GroupError> {
        let _ = (ifindex, now);
        Err(GroupError::NotMember(group))
    }
}

impl dyn IpTx + '_ {
    /// Send a payload held in a slice.
    pub fn send(&mut self, meta: &SendMeta, payload: &[u8], now: Instant) -> Result<(), SendError> {
        self.send_with(
            meta,
            payload.len(),
            &mut |buf| buf.copy_from_slice(payload),
            now,
        )
    }
}
