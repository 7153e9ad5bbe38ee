//! Forwarding (RFC 1812 5.2, 5.3): datagrams not addressed to this host leave by the route
//! to their destination with their TTL decremented; time exceeded when it runs out, net
//! unreachable without a route, a redirect when the next hop is on the sender's own network
//! (RFC 1812 5.2.7.2), and re-fragmentation to the outgoing MTU (RFC 791), or "fragmentation
//! needed" when the datagram says don't fragment (RFC 1191).

use super::IpLayer;
use crate::icmp;
use crate::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::output::Fragmentable;
use crate::upper::Datagram;
use netif::ethernet;
use netif::{Csum, FrameMeta, Instant};

impl IpLayer {
    /// Forward `pkt`, received with offload metadata `meta`: a checksum the device left
    /// unfinished is completed first; a coalesced TCP segment leaves as one frame for a
    /// device that cuts it (TSO), and is dropped (counted) where none would.
    pub(super) fn forward(
        &mut self,
        in_ifindex: usize,
        pkt: Ipv4Packet<'_>,
        meta: FrameMeta,
        now: Instant,
    ) {
        let completed;
        let pkt = match (meta.csum, meta.gso) {
            (Csum::Partial { start, offset }, None) => {
                let mut owned = pkt.as_bytes().to_vec();
                let start = usize::from(start).checked_sub(ethernet::HEADER_LEN);
                let done = start
                    .and_then(|st| u16::try_from(st).ok())
                    .is_some_and(|st| netif::vnet::complete_checksum(&mut owned, st, offset));
                completed = owned;
                match Ipv4Packet::new_checked(&completed) {
                    Ok(p) if done => p,
                    _ => {
                        self.out.stats.drop_bad_offload += 1;
                        return;
                    }
                }
            }
            _ => pkt,
        };
        let d = Datagram {
            ifindex: in_ifindex,
            packet: pkt,
            broadcast: false,
            csum_ok: false,
            gso_size: None,
        };
        // RFC 3927 2.7: a router MUST NOT forward a datagram from or to a link-local
        // address (169.254/16), whatever its routes say.
        if ipv4::is_martian_destination(pkt.dst())
            || pkt.dst().is_link_local()
            || pkt.src().is_link_local()
        {
            self.out.stats.drop_bad_destination += 1;
            return;
        }
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
        let options = pkt.header_len() > ipv4::HEADER_LEN;
        // RFC 1812 5.2.7.2: leaving by the interface it came in on, towards a next hop on
        // the sender's own network: tell the sender of the better first hop. Not about a
        // datagram whose sender chose its hops (a source route). Sent only with a datagram
        // that leaves, as Linux's ip_forward: one dropped for its size draws
        // "fragmentation needed" alone.
        let source_routed = options && matches!(ipv4::check_options(pkt.header()), Ok(Some(_)));
        // Both the sender and the next hop on the interface's network: a gateway the
        // sender does not share a network with is one it may not take (RFC 1122 3.2.2.2),
        // and RFC 1812 forbids naming it (as Linux's `inet_addr_onlink(saddr, gw)`).
        let redirect = route.ifindex == in_ifindex
            && !source_routed
            && next_hop != pkt.src()
            && self
                .out
                .iface(in_ifindex)
                .and_then(|i| i.addr)
                .is_some_and(|c| c.contains(pkt.src()) && c.contains(next_hop));
        let redirect = |layer: &mut Self| {
            if redirect {
                let gateway = u32::from(next_hop);
                layer.icmp_error(&d, icmp::kind::REDIRECT, icmp::redirect::HOST, gateway, now);
            }
        };
        let (mtu, out_offload, out_addr) = self
            .out
            .iface(route.ifindex)
            .map_or((0, netif::Offload::NONE, None), |i| {
                (i.mtu, i.offload, i.ip())
            });
        // A record route or timestamp option gets this router's address on the network it
        // forwards to (RFC 791 3.1), in a copy (datagrams with options are rare).
        let restamped;
        let pkt = match out_addr {
            Some(us) if options => {
                let mut owned = pkt.as_bytes().to_vec();
                let hl = pkt.header_len();
                let stamp = ipv4::option_timestamp(now.total_millis());
                let is_ours = |a| self.out.is_local_addr(a);
                if ipv4::forward_options(&mut owned[ipv4::HEADER_LEN..hl], us, &is_ours, stamp) {
                    ipv4::fill_checksum(&mut owned[..hl]);
                }
                restamped = owned;
                Ipv4Packet::new_checked(&restamped).unwrap_or(pkt)
            }
            _ => pkt,
        };
        // A coalesced segment: what must fit the MTU is each segment the device cuts.
        let (wire_len, out_meta) = match meta.gso {
            Some(g) => {
                if !(out_offload.tso && out_offload.csum) {
                    self.out.stats.drop_bad_offload += 1;
                    return;
                }
                // The headers every segment carries, from the packet itself: the device's
                // `hdr_len` only hints at how much of the frame it kept together, which
                // may include data.
                let tcp_hl = (pkt.protocol() == ipv4::protocol::TCP)
                    .then(|| pkt.payload().get(12).map(|&o| usize::from(o >> 4) * 4))
                    .flatten()
                    .filter(|&h| h >= 20 && h <= pkt.payload().len());
                let Some(tcp_hl) = tcp_hl else {
                    self.out.stats.drop_bad_offload += 1;
                    return;
                };
                let hdr = pkt.header_len() + tcp_hl;
                let out = FrameMeta {
                    gso: Some(netif::Gso {
                        size: g.size,
                        hdr_len: u16::try_from(ethernet::HEADER_LEN + hdr).unwrap_or(u16::MAX),
                    }),
                    ..meta
                };
                (hdr + usize::from(g.size), out)
            }
            None => (pkt.total_len(), FrameMeta::default()),
        };
        if meta.gso.is_some() && wire_len > mtu && !pkt.dont_fragment() {
            // Segments too large for the next link, and no way to fragment them here.
            self.out.stats.drop_bad_offload += 1;
            return;
        }
        if wire_len <= mtu {
            redirect(self);
            self.out.stats.rx_forwarded += 1;
            // One copy, from the received frame into the one that leaves; TTL decremented
            // and the header checksum recomputed in place.
            let eth = ethernet::HEADER_LEN;
            let mut frame = vec![0u8; eth + pkt.total_len()];
            frame[eth..].copy_from_slice(pkt.as_bytes());
            frame[eth + 8] -= 1;
            ipv4::fill_checksum(&mut frame[eth..eth + pkt.header_len()]);
            let mut out_meta = out_meta;
            if out_meta.gso.is_some() && !matches!(out_meta.csum, Csum::Partial { .. }) {
                // Handed over verified (DATA_VALID) or as complete: what leaves to be cut
                // asks the device for the checksum (a transmitter never sets DATA_VALID,
                // virtio 5.1.6.2.1; the field of a coalesced segment is the first
                // segment's), so the field gets the pseudo-header sum (checked above:
                // TCP, its header in the packet).
                let start = eth + pkt.header_len();
                let len = u16::try_from(pkt.payload().len()).unwrap_or(u16::MAX);
                let ph = crate::checksum::pseudo_header(pkt.src(), pkt.dst(), pkt.protocol(), len);
                let field = start + 16;
                frame[field..field + 2].copy_from_slice(&crate::checksum::fold(ph).to_be_bytes());
                out_meta.csum = Csum::Partial {
                    start: u16::try_from(start).unwrap_or(u16::MAX),
                    offset: 16,
                };
            }
            let _ = self
                .out
                .transmit_ip(route.ifindex, next_hop, frame, out_meta, now);
        } else if pkt.dont_fragment() {
            self.out.stats.drop_frag_needed += 1;
            let mtu16 = u16::try_from(mtu).unwrap_or(u16::MAX);
            self.icmp_error_raw(
                pkt.as_bytes(),
                false,
                icmp::kind::DEST_UNREACHABLE,
                icmp::unreach::FRAG_NEEDED,
                u32::from(mtu16),
                now,
            );
        } else if pkt.frag_offset() + pkt.payload().len() > crate::reassembly::MAX_PAYLOAD {
            // A fragment reaching past a 65,535-byte datagram (RFC 791) can never be put
            // together, and its pieces' offsets would not fit the 13-bit field.
            self.out.stats.drop_bad_fragment += 1;
        } else {
            redirect(self);
            self.out.stats.rx_forwarded += 1;
            self.refragment(route.ifindex, next_hop, pkt, mtu, now);
        }
    }
}

impl IpLayer {
    /// Fragment a forwarded datagram (or fragment) to `mtu`.
    fn refragment(
        &mut self,
        ifindex: usize,
        next_hop: std::net::Ipv4Addr,
        pkt: Ipv4Packet<'_>,
        mtu: usize,
        now: Instant,
    ) {
        let options = &pkt.header()[ipv4::HEADER_LEN..];
        let copied = ipv4::copied_options(options);
        let d = Fragmentable {
            repr: Ipv4Repr {
                src: pkt.src(),
                dst: pkt.dst(),
                protocol: pkt.protocol(),
                ttl: pkt.ttl() - 1,
                tos: pkt.tos(),
                ident: pkt.ident(),
                dont_fragment: false,
                payload_len: 0,
            },
            payload: pkt.payload(),
            offset: pkt.frag_offset(),
            more_fragments: pkt.more_fragments(),
            options,
            copied_options: &copied,
        };
        // A fragment that cannot be queued is counted where it was refused.
        let _ = self.out.emit_fragments(ifindex, next_hop, &d, mtu, now);
    }
}
