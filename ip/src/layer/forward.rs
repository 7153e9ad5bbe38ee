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
use netif::Instant;

impl IpLayer {
    pub(super) fn forward(&mut self, in_ifindex: usize, pkt: Ipv4Packet<'_>, now: Instant) {
        let d = Datagram {
            ifindex: in_ifindex,
            packet: pkt,
            broadcast: false,
            csum_ok: false,
        };
        if ipv4::is_martian_destination(pkt.dst()) {
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
        self.out.stats.rx_forwarded += 1;
        if pkt.total_len() <= mtu {
            // One copy, from the received frame into the one that leaves; TTL decremented
            // and the header checksum recomputed in place.
            let eth = ethernet::HEADER_LEN;
            let mut frame = vec![0u8; eth + pkt.total_len()];
            frame[eth..].copy_from_slice(pkt.as_bytes());
            frame[eth + 8] -= 1;
            ipv4::fill_checksum(&mut frame[eth..eth + pkt.header_len()]);
            let _ = self.out.transmit_ip(
                route.ifindex,
                next_hop,
                frame,
                netif::FrameMeta::default(),
                now,
            );
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
