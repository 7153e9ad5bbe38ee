//! Sending ICMP errors (RFC 792) about a datagram to its source, under the rules of
//! RFC 1122 3.2.2 and RFC 1812 4.3.2.7: never about an ICMP error, a datagram sent to a
//! broadcast or multicast address, a non-first fragment, or from a source that is not one
//! host; rate limited (RFC 1812 4.3.2.8); quoting at most 576 bytes in all (RFC 1812
//! 4.3.2.3). Also the helpers that read a quoted header and build an ICMP datagram.

use super::IpLayer;
use crate::icmp::{self, IcmpRepr};
use crate::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::output::Output;
use crate::upper::{Datagram, IpTx, SendError, SendMeta};
use netif::Instant;
use std::net::Ipv4Addr;

impl IpLayer {
    pub(super) fn icmp_error(
        &mut self,
        d: &Datagram<'_>,
        kind: u8,
        code: u8,
        info: u32,
        now: Instant,
    ) {
        self.icmp_error_raw(d.packet.as_bytes(), d.broadcast, kind, code, info, now);
    }

    /// Send an ICMP error about `orig` (a whole datagram or its first bytes) to its source,
    /// unless the rules forbid it: never about an ICMP error, a datagram sent to a broadcast
    /// or multicast address, a non-first fragment, or from a source that is not one host.
    pub(super) fn icmp_error_raw(
        &mut self,
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
            && no_error_about(orig.get(hdr_len).copied());
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
        // Rate limits (RFC 1812 4.3.2.8): the destination's own bucket first, then the one
        // for all, so that a host drawing many errors is held back by its own bucket and
        // leaves the shared one to the others (as Linux now orders them). Never
        // "fragmentation needed" (Linux neither): a sender that does not hear it goes on
        // into a path-MTU black hole (RFC 2923 2.1). An error to this host itself (it
        // leaves by loopback) skips the destination's bucket, as Linux's
        // `icmpv4_xrlim_allow` does: a local program sending to a closed local port
        // hears every port unreachable, within the shared bucket.
        let frag_needed =
            kind == icmp::kind::DEST_UNREACHABLE && code == icmp::unreach::FRAG_NEEDED;
        let to_us = self.out.is_local_addr(src);
        // The shared bucket is looked at first and drawn on last (Linux's
        // `icmpv4_global_allow`, then `icmp_global_consume`): an error it holds back costs
        // the destination's bucket nothing.
        let allowed = frag_needed
            || (self.out.icmp_limiter.allows(now)
                && (to_us || self.out.icmp_peer_limiter.take(src, now))
                && self.out.icmp_limiter.take(now));
        if !allowed {
            self.out.icmp.errors_rate_limited += 1;
            return;
        }
        // At most 576 bytes in all, and no more than the route back takes whole (Linux's
        // `icmp_send` sizes it to the route's MTU too): an error in fragments may never be
        // put together. Never less than the header and the 8 octets after it (RFC 792).
        let room = self
            .out
            .route_info(src)
            .map_or(icmp::ERROR_QUOTE_MAX, |(_, mtu)| {
                mtu.saturating_sub(ipv4::HEADER_LEN + icmp::HEADER_LEN)
                    .min(icmp::ERROR_QUOTE_MAX)
            })
            .max(hdr_len + 8);
        let quoted = &orig[..orig.len().min(room)];
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
            icmp::kind::PARAMETER_PROBLEM => IcmpRepr::ParameterProblem {
                code,
                pointer: u8::try_from(info).unwrap_or(0),
                original: quoted,
            },
            _ => IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu: info as u16,
                original: quoted,
            },
        };
        // Source: the address the sender contacted when the datagram was for us (RFC 1122
        // 3.2.2), whichever interface it came in on; otherwise the address of the interface
        // the error leaves by, as the route back to the sender picks it (RFC 1812 4.3.2.4;
        // Linux's default, icmp_errors_use_inbound_ifaddr off).
        let from = self.out.is_local_addr(dst).then_some(dst);
        // Precedence 6, "internetwork control", with the offending datagram's TOS bits
        // (RFC 1812 4.3.2.5; Linux's `icmp_send`).
        let meta = SendMeta {
            src: from,
            tos: 0xc0 | (orig[1] & 0x1e),
            ..SendMeta::new(src, ipv4::protocol::ICMP)
        };
        let len = msg.buffer_len();
        let sent = self.send_icmp(|out| out.send_with(&meta, len, &mut |b| msg.emit(b), now));
        let st = &mut self.out.icmp;
        match sent {
            Ok(()) => {
                st.tx_messages += 1;
                match kind {
                    icmp::kind::TIME_EXCEEDED => st.tx_time_exceeded += 1,
                    icmp::kind::DEST_UNREACHABLE => st.tx_dest_unreachable += 1,
                    icmp::kind::REDIRECT => st.tx_redirects += 1,
                    icmp::kind::PARAMETER_PROBLEM => st.tx_parameter_problems += 1,
                    _ => {}
                }
            }
            Err(Unsent::NoRoute) => st.errors_no_route += 1,
            Err(Unsent::ArpQueueFull) => st.errors_arp_queue_full += 1,
            Err(Unsent::TxQueueFull) => st.errors_tx_queue_full += 1,
            Err(Unsent::Other) => st.errors_unsent_other += 1,
        }
    }

    /// Sends an ICMP message this host originates (an error, an echo reply) with `send`,
    /// and tells whether it left or why not, so its sender can count it either way.
    pub(super) fn send_icmp(
        &mut self,
        send: impl FnOnce(&mut Output) -> Result<(), SendError>,
    ) -> Result<(), Unsent> {
        // The queue to the drivers drops a frame it has no room for without a word (the
        // send succeeded as far as its caller knows): its counter tells.
        let tx_drops = self.out.stats.drop_tx_queue_full;
        match send(&mut self.out) {
            Ok(()) if self.out.stats.drop_tx_queue_full != tx_drops => Err(Unsent::TxQueueFull),
            Ok(()) => Ok(()),
            Err(SendError::NoRoute) => Err(Unsent::NoRoute),
            Err(SendError::ArpQueueFull) => Err(Unsent::ArpQueueFull),
            Err(SendError::QueueFull) => Err(Unsent::TxQueueFull),
            Err(_) => Err(Unsent::Other),
        }
    }
}

/// Why an ICMP message this host originated did not leave.
pub(super) enum Unsent {
    /// No route back to its destination.
    NoRoute,
    /// The ARP queue of frames waiting for the next hop's address full.
    ArpQueueFull,
    /// The queue of frames for the drivers full.
    TxQueueFull,
    /// Refused for another reason (none is expected).
    Other,
}

/// An ICMP message no error may be sent about (see [`no_error_about`]).
pub(super) fn is_icmp_error(p: &Ipv4Packet<'_>) -> bool {
    p.protocol() == ipv4::protocol::ICMP && no_error_about(p.payload().first().copied())
}

/// Whether an ICMP message of type `t` (`None`: too short to have one) draws no ICMP
/// error (RFC 1122 3.2.2): an error message; and, as Linux's `icmp_send` ("assume any
/// unknown ICMP type is an error"), a type it does not know, above 18 (`NR_ICMP_TYPES`),
/// such as RFC 2521's security failures (40), which quote a datagram as errors do; or none.
fn no_error_about(t: Option<u8>) -> bool {
    t.is_none_or(|t| t > icmp::kind::LAST_KNOWN || icmp::kind::is_error(t))
}

/// The header fields of a quoted (possibly truncated) datagram: header length, protocol,
/// source, destination.
pub(super) fn quoted_header(b: &[u8]) -> Option<(usize, u8, Ipv4Addr, Ipv4Addr)> {
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
pub(super) fn build_datagram(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, msg: &IcmpRepr<'_>) -> Vec<u8> {
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
