//! The input path: Ethernet frames in, ARP to the interface's cache, IPv4 datagrams
//! checked (RFC 791; RFC 1122 3.2.1 for the sources and destinations to discard, RFC 1812
//! 5.3.7 for 127/8), reassembled, then delivered locally or handed to forwarding. ICMP
//! messages for this host are answered (echo, RFC 792) or reported to the protocol that
//! sent the datagram they quote (RFC 1122 3.2.2). Also the "host unreachable" that follows a
//! failed ARP resolution (RFC 1812 4.3.3.1, 5.2.7.1).

use super::icmp_error::{build_datagram, is_icmp_error, quoted_header, Unsent};
use super::IpLayer;
use crate::icmp::{self, IcmpRepr};
use crate::iface::PendingFrame;
use crate::igmp;
use crate::ipv4::{self, HeaderError, Ipv4Packet};
use crate::output::{write_eth, Output};
use crate::reassembly::{self, Fragment, Outcome};
use crate::route::{Route, RouteKind};
use crate::upper::{Datagram, Delivery, IcmpErrorReport, IpTx, SendMeta, Upper};
use crate::Ipv4Cidr;
use arp::{ArpPacket, ArpRepr};
use netif::ethernet::{self, ethertype};
use netif::{FrameMeta, Instant};
use std::net::Ipv4Addr;

/// RFC 5227's DEFEND_INTERVAL: the least time between two defences of an address.
const DEFEND_INTERVAL: netif::Duration = netif::Duration::from_secs(10);

/// What the link layer tells the IP layer about a received datagram.
#[derive(Clone, Copy)]
struct RxInfo {
    /// Sent to a link-layer broadcast or multicast address.
    l2_broadcast: bool,
    /// The transport checksum needs no verification (the device vouches for it).
    csum_ok: bool,
    /// The frame's offload metadata (a coalesced segment, a partial checksum).
    meta: FrameMeta,
}

impl IpLayer {
    /// Process one received Ethernet frame.
    pub fn receive_frame(
        &mut self,
        ifindex: usize,
        frame: &[u8],
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        self.receive_frame_meta(ifindex, frame, FrameMeta::default(), now, upper);
    }

    /// Process one received Ethernet frame with its offload metadata: a TCP or UDP checksum
    /// the device vouches for (`Csum::Valid`, or `Csum::Partial` from the local kernel,
    /// which never computed it) is not verified again; a coalesced segment (`gso`) may be
    /// larger than the MTU and is one datagram to the layers above.
    pub fn receive_frame_meta(
        &mut self,
        ifindex: usize,
        frame: &[u8],
        meta: FrameMeta,
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
            iface.stats.rx_runt += 1;
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
            ethertype::IPV4 => {
                let mut meta = meta;
                if !meta.is_plain() && self.out.ifaces[ifindex].offload == netif::Offload::NONE {
                    if meta.gso.is_none() && meta.csum == netif::Csum::Valid {
                        // A hint, not an offload: a vnet tap whose TUNSETOFFLOAD was refused
                        // still marks what the kernel verified (DATA_VALID). Verified here,
                        // as every frame from this device is.
                        meta = FrameMeta::default();
                    } else {
                        // A device that promised no offloads handed one over: not ours to
                        // trust.
                        self.out.stats.drop_bad_offload += 1;
                        return;
                    }
                }
                let csum_ok = !meta.needs_verify();
                let rx = RxInfo {
                    l2_broadcast,
                    csum_ok,
                    meta,
                };
                self.ip_input(ifindex, eth.payload(), rx, now, upper)
            }
            _ => self.out.ifaces[ifindex].stats.rx_unknown_type += 1,
        }
    }

    fn arp_input(&mut self, ifindex: usize, bytes: &[u8], now: Instant) {
        let Ok(repr) = ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)) else {
            self.out.stats.drop_bad_arp += 1;
            return;
        };
        let iface = &mut self.out.ifaces[ifindex];
        if let Some((addr, seen @ None)) = &mut iface.probe {
            // RFC 5227 2.1.1: another host has the address we probe for if it sends
            // from it, or wants it too if it probes for it.
            let probing = repr.op == arp::Operation::Request
                && repr.sender_ip.is_unspecified()
                && repr.target_ip == *addr;
            if repr.sender_mac != iface.mac && (repr.sender_ip == *addr || probing) {
                *seen = Some(repr.sender_mac);
                self.out.stats.arp_probe_conflicts += 1;
            }
        }
        // An interface without an address still answers for the host's other addresses
        // (the weak host model below, as Linux with arp_ignore=0); 0.0.0.0 stands for its
        // own, which no sender may then conflict with.
        let iface = &self.out.ifaces[ifindex];
        let (our_ip, our_mac) = (iface.ip().unwrap_or(Ipv4Addr::UNSPECIFIED), iface.mac);
        // A sender address no host may have (RFC 1122 3.2.1.3): broadcast, multicast,
        // class E, 0/8 (but 0.0.0.0, an RFC 5227 probe), 127/8, or this network's own
        // address or broadcast. Neither answered nor learned: a cache entry for the subnet
        // broadcast would send our broadcasts to one host.
        let s = repr.sender_ip;
        let network_addr = iface
            .addr
            .filter(|c| c.prefix() < 31)
            .is_some_and(|c| c.network().addr() == s);
        if (ipv4::is_martian_source(s) && !s.is_unspecified())
            || s.is_loopback()
            || iface.is_subnet_broadcast(s)
            || network_addr
        {
            self.out.stats.drop_arp_bad_sender += 1;
            return;
        }
        // Another of this host's addresses (this interface's own is a conflict, for the
        // cache to count and us to defend): neither answered nor learned, as Linux's
        // `arp_process` drops it (routed from a local source: a martian). An answer would
        // tell whoever announced it, another of our interfaces on this link say, that the
        // address is at this MAC: a conflict to it.
        if s != our_ip && self.out.is_local_addr(s) {
            self.out.stats.drop_arp_bad_sender += 1;
            return;
        }
        // Ours: any local address, whichever interface has it, answered here with this
        // interface's MAC (Linux's default, `arp_ignore=0`; see `answers_arp_for`).
        let for_us = self.out.answers_arp_for(repr.target_ip);
        // A sender that is not our neighbour on this link (outside its networks and its
        // direct routes) is never a next hop of ours: answer a request for our address (as
        // Linux does) but put nothing in the cache, so garbage or spoofed ARP cannot fill
        // it with addresses we would never use. (With two interfaces on one network, a
        // neighbour there is one on both.)
        let on_link = self.out.is_on_link(repr.sender_ip, ifindex);
        if !on_link && !repr.sender_ip.is_unspecified() {
            self.out.stats.arp_off_link += 1;
            if for_us
                && repr.op == arp::Operation::Request
                && repr.sender_mac.is_unicast()
                && repr.sender_mac != our_mac
            {
                let reply = ArpRepr::reply_to(&repr, our_mac);
                self.out.send_arp(ifindex, &reply, repr.sender_mac);
            }
            return;
        }
        let res = self.out.ifaces[ifindex]
            .arp
            .process_for(&repr, our_ip, our_mac, for_us, now);
        if let Some(reply) = res.reply {
            self.out.send_arp(ifindex, &reply, repr.sender_mac);
        }
        if res.ignored == Some(arp::IgnoreReason::AddressConflict) {
            // RFC 5227 2.4 (b): defend the address with an announcement, at most once per
            // DEFEND_INTERVAL, so the other host's neighbours learn our MAC again (and it
            // may see the conflict); the conflict itself is counted by the cache.
            let iface = &mut self.out.ifaces[ifindex];
            let due = iface
                .last_defended
                .is_none_or(|t| now.saturating_duration_since(t) >= DEFEND_INTERVAL);
            if due {
                iface.last_defended = Some(now);
                self.out.stats.arp_conflicts_defended += 1;
                let g = ArpRepr::gratuitous(our_mac, our_ip);
                self.out.send_arp(ifindex, &g, netif::MacAddr::BROADCAST);
            }
        }
        for (mac, PendingFrame { mut frame, meta }) in res.released {
            write_eth(&mut frame, mac, our_mac);
            self.out.push_tx(ifindex, frame, meta);
        }
    }

    fn ip_input(
        &mut self,
        ifindex: usize,
        bytes: &[u8],
        rx: RxInfo,
        now: Instant,
        upper: &mut dyn Upper,
    ) {
        let l2_broadcast = rx.l2_broadcast;
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
        // 0.0.0.0 is a valid source only for a host still learning its address, which can only
        // broadcast (DHCP), and for an IGMP query from a snooping switch that has no address
        // (RFC 4541 2.1.1); Linux answers those too.
        let learning = src.is_unspecified()
            && (pkt.dst().is_broadcast()
                || (pkt.dst().is_multicast() && pkt.protocol() == ipv4::protocol::IGMP));
        let martian = ipv4::is_martian_source(src) && !learning;
        // One of our own addresses as the source of a datagram from outside (a "land"
        // packet, or another host using our address): what we send ourselves comes back
        // only over loopback (RFC 1122 3.2.1.3 and RFC 1812 5.3.7 count it as a source no
        // other host may use; Linux drops it as a martian). Delivered, a SYN from us to us
        // would make a connection that answers itself.
        let ours_from_outside = !loopback && self.out.is_local_addr(src);
        let st = &mut self.out.stats;
        if martian || directed_broadcast || (src.is_loopback() && !loopback) || ours_from_outside {
            st.drop_bad_source += 1;
            return;
        }
        let st = &mut self.out.stats;
        let dst = pkt.dst();
        // 127/8 never appears outside a host (RFC 1122 3.2.1.3 (g), RFC 1812 5.3.7): neither
        // delivered (loopback services stay private) nor forwarded.
        if dst.is_loopback() && !loopback {
            st.drop_not_for_us += 1;
            return;
        }
        // The broadcast address of any of our networks, not only the receiving one's: a
        // directed broadcast to another connected network is taken here as a broadcast,
        // never forwarded onto it (RFC 2644; Linux, with `bc_forwarding` off, does the
        // same), so that one datagram from outside cannot reach all of that network.
        let ip_broadcast = dst.is_broadcast()
            || dst.is_multicast()
            || self.out.ifaces.iter().any(|i| i.is_subnet_broadcast(dst));
        if l2_broadcast && !ip_broadcast {
            // RFC 1122 3.3.6: a datagram that came by link-layer broadcast must be for an
            // IP broadcast or multicast address; one that is not is discarded.
            self.out.stats.drop_link_broadcast += 1;
            return;
        }
        if dst.is_multicast() && !self.out.ifaces[ifindex].groups.is_member(dst) {
            // A group this interface has not joined (RFC 1112 7.2): not ours, and a host
            // does not route multicast.
            self.out.stats.drop_not_member += 1;
            return;
        }
        let for_us = ip_broadcast || self.out.is_local_addr(dst);
        let forward = !for_us && self.cfg.forwarding && !l2_broadcast && !loopback;
        if !for_us && !forward {
            // Not ours to look into: discarded silently (RFC 1122 3.2.1.3), options and all.
            self.out.stats.drop_not_for_us += 1;
            return;
        }
        // Options are checked only now, as Linux does after routing: a datagram this host
        // neither takes nor forwards draws no parameter problem.
        let st = &mut self.out.stats;
        if pkt.header_len() > ipv4::HEADER_LEN {
            match ipv4::check_options(pkt.header()) {
                Err(at) => {
                    // RFC 1122 3.2.2.5 and RFC 1812 4.3.2.3: say which octet is wrong.
                    st.drop_bad_options += 1;
                    self.icmp_error_raw(
                        pkt.as_bytes(),
                        l2_broadcast,
                        icmp::kind::PARAMETER_PROBLEM,
                        icmp::param::POINTER,
                        u32::try_from(at).unwrap_or(0),
                        now,
                    );
                    return;
                }
                Ok(Some(ipv4::SourceRoute::Completed)) if for_us => {
                    // RFC 1122 3.3.5 asks a host to take it and answer along the reversed
                    // route; a host that does not route by source drops it instead, as
                    // Linux does (accept_source_route is off for hosts), since a source
                    // route lets a sender forge its way in (RFC 7126 4.3.3.8). Silently,
                    // as Linux: the route is not ours to fail. (Forwarded, a used-up route
                    // goes on to its destination.)
                    st.drop_source_route += 1;
                    return;
                }
                Ok(Some(ipv4::SourceRoute::Completed)) => {}
                Ok(Some(ipv4::SourceRoute::Pending)) => {
                    st.drop_source_route += 1;
                    self.icmp_error_raw(
                        pkt.as_bytes(),
                        l2_broadcast,
                        icmp::kind::DEST_UNREACHABLE,
                        icmp::unreach::SOURCE_ROUTE_FAILED,
                        0,
                        now,
                    );
                    return;
                }
                Ok(None) => {}
            }
        }
        if for_us {
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
                            let d = Datagram {
                                ifindex,
                                packet: p,
                                broadcast: ip_broadcast || l2_broadcast,
                                csum_ok: false,
                                gso_size: None,
                            };
                            self.deliver_local(d, now, upper);
                        }
                    }
                    Outcome::Incomplete => {}
                    // Counted by the reassembler (`stats`), evictions and timeouts too.
                    Outcome::Dropped(_) => {}
                }
            } else {
                // A coalesced segment stands for segments of its `gso` size (TCP counts
                // them).
                let d = Datagram {
                    ifindex,
                    packet: pkt,
                    broadcast: ip_broadcast || l2_broadcast,
                    csum_ok: rx.csum_ok,
                    gso_size: rx.meta.gso.map(|g| g.size),
                };
                self.deliver_local(d, now, upper);
            }
        } else {
            // The kernel routing through us hands over its own segments as they are: with
            // an unfinished checksum, coalesced (see `forward`).
            self.forward(ifindex, pkt, rx.meta, now);
        }
    }

    fn deliver_local(&mut self, d: Datagram<'_>, now: Instant, upper: &mut dyn Upper) {
        self.out.stats.rx_delivered += 1;
        let packet = d.packet;
        if packet.protocol() == ipv4::protocol::ICMP {
            self.icmp_input(&d, now, upper);
            return;
        }
        if packet.protocol() == ipv4::protocol::IGMP {
            self.igmp_input(&d, now, upper);
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
        self.out.icmp.rx_messages += 1;
        // Raw ICMP sockets see every message, as on Linux (ping reads its replies there),
        // a malformed one too: Linux's raw_local_deliver comes before icmp_rcv's checks
        // (so ping can say "BAD CHECKSUM").
        upper.deliver(&mut self.out, d, now);
        let st = &mut self.out.icmp;
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
        if d.broadcast && !matches!(msg, IcmpRepr::EchoRequest { .. }) {
            // An error or a redirect is about one datagram of one host and is sent to that
            // host (RFC 1122 3.2.2), never to many: one sent to a broadcast or multicast
            // address is dropped, as Linux's `icmp_rcv` drops all but echo, timestamp and
            // address mask there (a spoofed broadcast redirect would re-route every host
            // of the network at once).
            self.out.icmp.drop_broadcast_other += 1;
            return;
        }
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
                // RFC 1122 3.2.2.6: a record route or timestamp option comes back with
                // this host added.
                let options = match d.packet.header().get(ipv4::HEADER_LEN..) {
                    Some(o) if !o.is_empty() => ipv4::echo_reply_options(
                        o,
                        d.packet.dst(),
                        &|a| self.out.is_local_addr(a),
                        ipv4::option_timestamp(now.total_millis()),
                    ),
                    _ => Vec::new(),
                };
                let sent = self.send_icmp(|out| {
                    if options.is_empty() {
                        out.send_with(&meta, len, &mut |b| reply.emit(b), now)
                    } else {
                        out.send_with_options(&meta, &options, len, &mut |b| reply.emit(b), now)
                    }
                });
                let st = &mut self.out.icmp;
                match sent {
                    Ok(()) => {
                        st.tx_messages += 1;
                        st.tx_echo_replies += 1;
                    }
                    Err(Unsent::NoRoute) => st.replies_no_route += 1,
                    Err(Unsent::ArpQueueFull) => st.replies_arp_queue_full += 1,
                    Err(Unsent::TxQueueFull) => st.replies_tx_queue_full += 1,
                    Err(Unsent::Other) => st.replies_unsent_other += 1,
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
            } => {
                self.follow_redirect(d.ifindex, d.packet.src(), code, gateway, original, now);
                self.report(
                    d,
                    icmp::kind::REDIRECT,
                    code,
                    u32::from(gateway),
                    original,
                    now,
                    upper,
                )
            }
            IcmpRepr::ParameterProblem {
                code,
                pointer,
                original,
            } => self.report(
                d,
                icmp::kind::PARAMETER_PROBLEM,
                code,
                u32::from(pointer),
                original,
                now,
                upper,
            ),
            // Source quench carries the offending datagram too; the protocol that sent it
            // should hear of it (RFC 1122 3.2.2.3).
            IcmpRepr::Other { kind, code } if kind == icmp::kind::SOURCE_QUENCH => {
                let original = d.packet.payload().get(icmp::HEADER_LEN..).unwrap_or(&[]);
                self.report(d, kind, code, 0, original, now, upper)
            }
            // Not answered (no timestamp replies: RFC 1122 3.2.2.8 leaves them optional,
            // and they tell the world this host's clock) nor acted on: counted.
            IcmpRepr::Other { .. } => self.out.icmp.drop_ignored_type += 1,
        }
    }

    /// IGMP for this host (RFC 2236 3): a query makes reports due for the groups it asks
    /// about, another host's report holds back ours. Raw IGMP sockets see every message.
    fn igmp_input(&mut self, d: &Datagram<'_>, now: Instant, upper: &mut dyn Upper) {
        self.out.igmp.rx_messages += 1;
        // Raw sockets see it first, a malformed one too (Linux's raw_local_deliver comes
        // before the protocol's handler).
        upper.deliver(&mut self.out, d, now);
        // Our own report looped back (sent through a raw socket) is no other member's
        // answer: it must not hold back ours (RFC 2236 3; Linux skips looped reports).
        let own = self.out.is_local_addr(d.packet.src());
        let st = &mut self.out.igmp;
        let msg = match igmp::Message::parse(d.packet.payload()) {
            Ok(m) => m,
            Err(e) => {
                match e {
                    igmp::IgmpError::Truncated => st.drop_truncated += 1,
                    igmp::IgmpError::BadChecksum => st.drop_bad_checksum += 1,
                    igmp::IgmpError::BadQueryLength => st.drop_bad_query += 1,
                }
                return;
            }
        };
        let Output {
            ifaces, rng, igmp, ..
        } = &mut self.out;
        let Some(groups) = ifaces.get_mut(d.ifindex).map(|i| &mut i.groups) else {
            return;
        };
        match msg {
            igmp::Message::Query {
                version,
                max_response,
                group,
            } => {
                igmp.rx_queries += 1;
                groups.on_query(version, max_response, group, now, rng);
            }
            igmp::Message::Report { group, .. } => {
                igmp.rx_reports += 1;
                // Only a report sent to the group is another member's answer (RFC 2236 3);
                // one unicast to us holds nothing back (nor does it on Linux).
                if d.packet.dst().is_multicast() && !own && groups.on_report(group) {
                    igmp.reports_suppressed += 1;
                }
            }
            _ => {}
        }
    }

    /// Copies of this host's own multicast or broadcasts wait for [`IpLayer::deliver_looped`].
    pub fn has_looped(&self) -> bool {
        !self.out.looped.is_empty()
    }

    /// Deliver the copies of multicast this host sent to groups it is a member of, and of
    /// the broadcasts it sent, as datagrams received (by broadcast: no ICMP error, no echo
    /// reply) on the interface they left by. The runtime calls it after each call that
    /// may have sent some (`poll` does too).
    pub fn deliver_looped(&mut self, now: Instant, upper: &mut dyn Upper) {
        while let Some((ifindex, d)) = self.out.looped.pop_front() {
            if let Ok(p) = Ipv4Packet::new_checked(&d) {
                if p.dst().is_multicast() {
                    self.out.stats.multicast_looped += 1;
                } else {
                    self.out.stats.broadcast_looped += 1;
                }
                let d = Datagram {
                    ifindex,
                    packet: p,
                    broadcast: true,
                    csum_ok: true,
                    gso_size: None,
                };
                self.deliver_local(d, now, upper);
            }
        }
    }

    /// RFC 1122 3.2.2.2: a host MUST update its routing on a redirect, taken only from the
    /// current first hop for the quoted destination and only to a gateway on the same
    /// network; net redirects are taken as host redirects (the sender's idea of the
    /// network may differ). The redirect must come in on the interface of that route: one
    /// from elsewhere is not from the first hop, and its gateway is not on the subnet it
    /// arrived through. A router (forwarding on) ignores them (RFC 1812 4.3.3.2).
    ///
    /// Only RFC 792's codes 0 to 3 (network, host, and each for a type of service): a
    /// code no RFC defines is no instruction (Linux ignores them too).
    fn follow_redirect(
        &mut self,
        in_ifindex: usize,
        from: Ipv4Addr,
        code: u8,
        gateway: Ipv4Addr,
        original: &[u8],
        now: Instant,
    ) {
        let applied = (|| {
            if self.cfg.forwarding || code > icmp::redirect::TOS_HOST {
                return None;
            }
            // The same quote an error needs to be passed up (Linux checks it before it
            // looks at any redirect).
            let (_, _, osrc, odst) = usable_quote(original)?;
            if !self.out.is_local_addr(osrc) {
                return None;
            }
            // A multicast or broadcast datagram leaves for its group or the whole link,
            // never by a gateway: no router is its first hop, nor can one redirect it
            // (Linux finds no gateway on such a route and ignores the redirect).
            if odst.is_multicast() || ipv4::is_martian_destination(odst) {
                return None;
            }
            let current = self.out.route(odst)?;
            if current.gateway != Some(from) || gateway == from || current.ifindex != in_ifindex {
                return None;
            }
            // A network's own or broadcast address is no gateway, as for a static route
            // (Linux: `inet_addr_type(new_gw) != RTN_UNICAST`): taken, the datagrams to the
            // destination would leave in link-layer broadcasts to every host there.
            let not_a_host = self.out.ifaces.iter().any(|i| {
                i.addr.filter(|c| c.prefix() < 31).is_some_and(|c| {
                    c.network().addr() == gateway || c.broadcast() == Some(gateway)
                })
            });
            if !self.out.is_on_link(gateway, current.ifindex)
                || self.out.is_local_addr(gateway)
                || ipv4::is_martian_source(gateway)
                || not_a_host
            {
                return None;
            }
            let dest = Ipv4Cidr::new(odst, 32)?;
            self.out
                .routes
                .learn_redirect(
                    Route {
                        dest,
                        gateway: Some(gateway),
                        ifindex: current.ifindex,
                        kind: RouteKind::Redirect,
                        metric: 0,
                    },
                    now,
                )
                .ok()
        })();
        match applied {
            Some(()) => self.out.icmp.rx_redirects_applied += 1,
            None => self.out.icmp.redirects_ignored += 1,
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
        let Some((hdr_len, protocol, osrc, odst)) = usable_quote(original) else {
            self.out.icmp.drop_bad_quote += 1;
            return;
        };
        let report = IcmpErrorReport {
            from: d.packet.src(),
            ifindex: d.ifindex,
            kind,
            code,
            info,
            orig_src: osrc,
            orig_dst: odst,
            orig_protocol: protocol,
            orig_total_len: u16::from_be_bytes([original[2], original[3]]),
            orig_payload: &original[hdr_len..],
        };
        upper.icmp_error(&mut self.out, &report, now);
    }

    /// A datagram could not get its next hop resolved. One we sent: tell the local sender the
    /// way a router would, with an ICMP host unreachable from our own address, delivered
    /// locally. One we forwarded: send that host unreachable to its source.
    pub(super) fn host_unreachable(
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
        let quoted = &orig[..orig.len().min(icmp::ERROR_QUOTE_MAX)];
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
                csum_ok: false,
                gso_size: None,
            };
            self.icmp_input(&d, now, upper);
        }
    }
}

/// An ICMP error's quote, if usable (RFC 1122 3.2.2): the offending datagram's header and
/// at least the 8 octets after it (the ports and, for TCP, the sequence number), or all of
/// a shorter datagram; without them it names no conversation (Linux drops it too, counted
/// in InErrors). Its header length, protocol, source and destination.
fn usable_quote(original: &[u8]) -> Option<(usize, u8, Ipv4Addr, Ipv4Addr)> {
    quoted_header(original).filter(|&(hl, ..)| {
        let total = usize::from(u16::from_be_bytes([original[2], original[3]]));
        original.len() >= (hl + 8).min(total.max(hl))
    })
}
