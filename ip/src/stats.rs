//! Counters of the IP and ICMP layers, every drop by its cause.

/// IPv4 counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpStats {
    pub rx_packets: u64,
    pub rx_delivered: u64,
    pub rx_forwarded: u64,
    pub tx_packets: u64,
    pub tx_fragments: u64,
    pub rx_fragments: u64,
    pub reassembled: u64,
    // Drops by cause.
    pub drop_truncated: u64,
    pub drop_bad_version: u64,
    pub drop_bad_header_len: u64,
    pub drop_bad_total_len: u64,
    pub drop_bad_checksum: u64,
    /// A source no datagram may carry (RFC 1122 3.2.1.3): broadcast, multicast, class E,
    /// 0/8 (but for a broadcast from 0.0.0.0), 127/8 or one of our own addresses from
    /// outside loopback.
    pub drop_bad_source: u64,
    /// Not forwarded: to 0/8 or class E (RFC 1812 5.3.7), or from or to a link-local
    /// address, 169.254/16 (RFC 3927 2.7).
    pub drop_bad_destination: u64,
    pub drop_not_for_us: u64,
    /// To a multicast group the interface has not joined.
    pub drop_not_member: u64,
    /// Copies of our own multicast for our own members (`IP_MULTICAST_LOOP`) delivered...
    pub multicast_looped: u64,
    /// ... and dropped, more waiting than the stack delivers between two polls.
    pub drop_multicast_loop_full: u64,
    /// Copies of our own broadcasts (limited, or to one of our networks) for our own
    /// sockets, as received on the interface they left by (Linux's `ip_mc_output`)...
    pub broadcast_looped: u64,
    /// ... and dropped, the queue they share with multicast copies full.
    pub drop_broadcast_loop_full: u64,
    /// Malformed IP options (RFC 791 3.1: a bad length or pointer).
    pub drop_bad_options: u64,
    /// A source route not used up yet: this host is a hop on the way, and does not route
    /// by source (Linux's default, `accept_source_route` 0; RFC 1122 3.3.5 leaves it to
    /// configuration). ICMP "source route failed" goes back.
    pub drop_source_route: u64,
    /// A unicast destination in a link-layer broadcast or multicast frame (RFC 1122
    /// 3.3.6: silently discarded).
    pub drop_link_broadcast: u64,
    pub drop_ttl_expired: u64,
    pub drop_no_route: u64,
    pub drop_frag_needed: u64,
    /// A fragment to forward that reaches past a 65,535-byte datagram (RFC 791), too
    /// large for the next link: its pieces' offsets would not fit the header's field.
    pub drop_bad_fragment: u64,
    pub drop_arp_failed: u64,
    pub drop_arp_queue_full: u64,
    pub drop_tx_queue_full: u64,
    pub drop_unknown_protocol: u64,
    /// Reassembly failures: datagrams timed out, discarded or evicted, and fragments
    /// refused (the reassembler's `failures`, by cause in its own counters).
    pub drop_reassembly: u64,
    /// Offload metadata where none may be: from a device that promised none, or a
    /// coalesced segment to forward where the outgoing device cannot cut it.
    pub drop_bad_offload: u64,
    /// ARP packets that did not parse (truncated, not Ethernet/IPv4).
    pub drop_bad_arp: u64,
    /// ARP from a sender outside the interface's network: answered if it asks for us, never
    /// learned.
    pub arp_off_link: u64,
    /// Another host's ARP claimed one of our addresses and we announced ours again
    /// (RFC 5227 2.4 (b), at most once per 10 s; every conflict is counted as the `arp`
    /// line's `drop_conflicts`).
    pub arp_conflicts_defended: u64,
    /// Another host claimed an address this host was probing before taking it (RFC 5227
    /// 2.1.1; a DHCP client then declines the lease).
    pub arp_probe_conflicts: u64,
    /// ARP from a sender address no host may have (broadcast, multicast, class E, 0/8 but
    /// 0.0.0.0, 127/8, the network's own address or broadcast), or that is another
    /// interface's address of this host.
    pub drop_arp_bad_sender: u64,
}

/// ICMP counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IcmpStats {
    pub rx_messages: u64,
    pub rx_echo_requests: u64,
    pub rx_echo_replies: u64,
    pub rx_errors: u64,
    /// Messages this host originated and handed to the link: sent, or queued to wait for
    /// ARP (as Linux counts OutMsgs when it builds the datagram, before the neighbour
    /// layer). One queued for ARP that never leaves (the oldest pushed out of a full
    /// per-address queue, or the resolution failed) stays counted here and in its `tx_*`
    /// counter; only the `arp` line's `drop_pending_*` counters and the `ip` line's
    /// `drop_arp_failed` record the drop (the ARP queue holds frames, not their kind).
    pub tx_messages: u64,
    pub tx_echo_replies: u64,
    pub tx_dest_unreachable: u64,
    pub tx_time_exceeded: u64,
    pub tx_redirects: u64,
    /// Parameter problems sent: a datagram for us with malformed options (the pointer
    /// names the octet).
    pub tx_parameter_problems: u64,
    pub drop_bad_checksum: u64,
    pub drop_truncated: u64,
    pub drop_broadcast_echo: u64,
    /// Other messages sent to a broadcast or multicast address (errors, redirects, echo
    /// replies): seen by raw sockets, acted on by nobody.
    pub drop_broadcast_other: u64,
    /// Errors whose quoted datagram lacks its IP header or the 8 octets after it (RFC 1122
    /// 3.2.2): nobody to report them to (Linux counts them in InErrors).
    pub drop_bad_quote: u64,
    /// Messages of a type this host does not act on (timestamp, information and address
    /// mask requests and replies, router advertisements and solicitations, unassigned
    /// types): raw sockets see them, nothing answers them.
    pub drop_ignored_type: u64,
    /// Errors not sent because of the RFC 1122/1812 rules (about an error, a broadcast, a
    /// non-first fragment, a martian source).
    pub errors_suppressed: u64,
    pub errors_rate_limited: u64,
    /// Errors that could not be sent: no route back to the source...
    pub errors_no_route: u64,
    /// ... the ARP queue of frames waiting for the source's (or its gateway's) address
    /// full...
    pub errors_arp_queue_full: u64,
    /// ... the queue of frames for the drivers full...
    pub errors_tx_queue_full: u64,
    /// ... or refused by the send for another reason (none is expected: a source address
    /// the route back may not carry, say).
    pub errors_unsent_other: u64,
    /// Echo replies that could not be sent, by the same causes as the errors: no route
    /// back to the asker...
    pub replies_no_route: u64,
    /// ... the ARP queue full...
    pub replies_arp_queue_full: u64,
    /// ... the queue of frames for the drivers full...
    pub replies_tx_queue_full: u64,
    /// ... or refused by the send for another reason (none is expected).
    pub replies_unsent_other: u64,
    /// Redirects that changed a route (RFC 1122 3.2.2.2: from the current first hop, to a
    /// gateway on the same network, while not forwarding).
    pub rx_redirects_applied: u64,
    /// Redirects that did not: from another host than the current first hop, to a gateway
    /// off the network or our own address, about a destination with a route of its own,
    /// or received while forwarding (a router does not take redirects).
    pub redirects_ignored: u64,
}
