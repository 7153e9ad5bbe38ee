//! ARP (RFC 826) for tapip: Ethernet/IPv4 only.
//!
//! - [`wire`]: the 28-byte packet ([`ArpPacket`] view, [`ArpRepr`] parse/emit and the
//!   request, reply and gratuitous constructors).
//! - [`cache`]: the [`NeighborCache`] — mappings, resolution with a bounded queue of waiting
//!   packets, retransmission, rate limiting, expiry, and the reception algorithm.
//!
//! The crate is sans-IO: it never touches a device, a thread or a clock. Callers hand it
//! received packets and the current [`netif::Instant`], and send what it returns.
//!
//! ```
//! use arp::{ArpRepr, NeighborCache, Resolve};
//! use netif::{Instant, MacAddr};
//! use std::net::Ipv4Addr;
//!
//! let (our_mac, our_ip) = (MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1));
//! let (peer_mac, peer_ip) = (MacAddr([2, 0, 0, 0, 0, 2]), Ipv4Addr::new(10, 0, 0, 2));
//! let mut cache: NeighborCache<&str> = NeighborCache::default();
//! let now = Instant::ZERO;
//!
//! // An IP packet for the peer waits, and a request is to be broadcast.
//! assert_eq!(cache.resolve(peer_ip, "ping", now), Resolve::Queued { send_request: true });
//! let request = ArpRepr::request(our_mac, our_ip, peer_ip);
//! let mut frame_payload = [0u8; arp::BUFFER_LEN];
//! request.emit(&mut frame_payload).unwrap();
//!
//! // The peer's reply releases it.
//! let reply = ArpRepr::reply_to(&ArpRepr::from_bytes(&frame_payload).unwrap(), peer_mac);
//! let out = cache.process(&reply, our_ip, our_mac, now);
//! assert_eq!(out.released, vec![(peer_mac, "ping")]);
//! assert_eq!(cache.lookup(peer_ip, now), Some(peer_mac));
//! ```
//!
//! # RFC 826 rules followed
//!
//! From "Packet Reception", in order:
//!
//! - "?Do I have the hardware type in ar$hrd?" and "?Do I speak the protocol in ar$pro?" —
//!   [`ArpRepr::parse`] accepts only Ethernet (1, or IEEE 802's 6 that RFC 1042 hosts send,
//!   as Linux does; replies always say 1) and IPv4 (0x0800), and checks the optional
//!   ar$hln (6) and ar$pln (4); each mismatch is a distinct [`WireError`].
//! - "Merge_flag := false. If the pair <protocol type, sender protocol address> is already in
//!   my translation table, update the sender hardware address field of the entry with the new
//!   information in the packet and set Merge_flag to true." — [`NeighborCache::process`]
//!   updates any known sender, whoever the packet is addressed to (so a gratuitous ARP from a
//!   known host updates it). A pending (incomplete) entry is completed this way and its
//!   queued packets are released. Exception: static entries are never changed by learning.
//! - "?Am I the target protocol address?" — [`NeighborCache::process`] compares with the
//!   link's address; [`NeighborCache::process_for`] takes the caller's answer (the IP layer
//!   says yes for any local address of an interface that is up, as Linux's default
//!   `arp_ignore=0` does). Only then: "If Merge_flag is false, add the
//!   triplet <protocol type, sender protocol address, sender hardware address> to the
//!   translation table." An unsolicited reply, or a request for another host, does not create
//!   an entry.
//! - "?Is the opcode ares_op$REQUEST? (NOW look at the opcode!!)" — "Swap hardware and
//!   protocol fields, putting the local hardware and protocol addresses in the sender fields.
//!   Set the ar$op field to ares_op$REPLY. Send the packet to the (new) target hardware
//!   address" ([`ArpRepr::reply_to`], [`ArpRepr::link_destination`]). The merge and add steps
//!   come before the opcode is looked at, so they apply to any opcode.
//!
//! From "Packet Generation": a missing translation causes a request with the target hardware
//! address unknown (zero here) to be broadcast, and the packet that needed it waits (RFC 826
//! lets it be discarded; here it is queued, within bounds).
//!
//! From "Related issue" (timeouts): entries age out (`reachable_time`) and are re-resolved on
//! next use, and unanswered requests are retransmitted a bounded number of times.
//!
//! Additions beyond RFC 826, for robustness: packets whose sender hardware address is ours,
//! zero, broadcast or multicast are ignored; so are packets from a broadcast or multicast
//! sender IP, and packets whose sender IP is ours (an address conflict, reported as such).
//! An RFC 5227 probe (sender IP 0.0.0.0) asking for our address is answered but nothing is
//! learned from it. The table, the queues and the request rate are bounded.
#![forbid(unsafe_code)]

pub mod cache;
pub mod wire;

pub use cache::{
    CacheConfig, CacheStats, DropReason, EntryState, EntryView, IgnoreReason, IgnoredCounts,
    NeighborCache, PendingDrops, Poll, Processed, Resolve, StaticError,
};
pub use wire::{ArpPacket, ArpRepr, Operation, WireError, BUFFER_LEN};
