//! The neighbour cache: IPv4 → Ethernet mappings, address resolution with a bounded queue of
//! packets waiting for it, and the RFC 826 reception algorithm.
//!
//! # Entries
//!
//! | state        | holds                                         | leaves it when                                    |
//! |--------------|-----------------------------------------------|---------------------------------------------------|
//! | `incomplete` | requests sent, next deadline, queued packets  | any ARP from that IP (→ `reachable`, queue released), or `max_retries` requests unanswered (→ removed, queue returned as a failure) |
//! | `reachable`  | MAC, expiry, whether it was used              | `reachable_time` after it was last confirmed by an ARP packet: → `probing` if a packet was sent by it since, else → removed |
//! | `probing`    | MAC, requests sent, next deadline             | any ARP from that IP (→ `reachable`), or `max_retries` requests unanswered (→ removed) |
//! | `static`     | MAC                                           | only [`NeighborCache::remove`]                    |
//!
//! RFC 826 has no reachability confirmation other than ARP itself, so an entry nobody used
//! is simply removed at its expiry, and the next packet to that host resolves it afresh. An
//! entry in use is instead asked again with requests unicast to its MAC (RFC 1122 2.3.2.1's
//! "unicast poll", Linux's PROBE state) while packets go on to that MAC: a busy flow does
//! not stall, nor overflow the queue, once a minute. [`NeighborCache::resolve`] counts as a
//! use; [`NeighborCache::lookup`] does not, and neither extends an entry's life: only
//! received ARP packets do.
//!
//! # Bounds
//!
//! Everything is bounded by [`CacheConfig`]: the number of entries (full → the oldest dynamic
//! entry is evicted, `reachable` before `incomplete`; a table of nothing but static entries
//! refuses new ones), the packets queued per entry and in total, counted both in packets and
//! in bytes (a caller that queues 64 KiB segmentation-offload frames would otherwise hold
//! megabytes behind an address that never answers), and the rate of requests the cache asks
//! its caller to send (a token bucket shared by first requests and retransmissions).
//!
//! # Time
//!
//! Nothing here reads a clock or sleeps. Every method that depends on time takes `now`, and
//! [`NeighborCache::poll_at`] says when [`NeighborCache::poll`] next has work to do.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::mem;
use std::net::Ipv4Addr;

use netif::{Duration, Instant, MacAddr};

use crate::wire::{ArpRepr, Operation};

/// Limits and timers of a [`NeighborCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries of any state, static ones included.
    pub max_entries: usize,
    /// How long a learned mapping is used after the last ARP packet that confirmed it.
    pub reachable_time: Duration,
    /// Time between requests for an unresolved address.
    pub retransmit_interval: Duration,
    /// Requests sent for an address before resolution is declared failed, one
    /// `retransmit_interval` after the last of them. At least one is always sent.
    pub max_retries: u32,
    /// Packets queued behind one unresolved address.
    pub max_pending_per_entry: usize,
    /// Packets queued behind all unresolved addresses together.
    pub max_pending_total: usize,
    /// Bytes queued behind one unresolved address (the sizes given to
    /// [`NeighborCache::resolve_sized`]): past it the oldest packets give way, as in Linux's
    /// `__neigh_event_send` with `unres_qlen_bytes`. A single packet larger than the bound
    /// is still kept, alone, as there.
    pub max_pending_bytes_per_entry: usize,
    /// Bytes queued behind all unresolved addresses together: a hard bound (see
    /// [`DropReason::TotalBytesFull`]).
    pub max_pending_bytes_total: usize,
    /// Requests per second the cache asks its caller to send, over all addresses; 0 turns
    /// the limit off.
    pub request_rate: u32,
    /// Requests that may be sent back to back before `request_rate` applies (at least 1).
    pub request_burst: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 256,
            reachable_time: Duration::from_secs(60),
            retransmit_interval: Duration::from_secs(1),
            max_retries: 3,
            max_pending_per_entry: 16,
            max_pending_total: 256,
            // Linux's `unres_qlen_bytes` default (SK_WMEM_MAX).
            max_pending_bytes_per_entry: 212_992,
            // Four addresses' full queues (a gateway and a few on-link hosts resolving at
            // once), 832 KiB: above what the frame limits let Ethernet-sized frames take
            // (512 full 1514-byte frames are 775,168 bytes, so with them the frame counts
            // bind first), while 64 KiB offload frames to many silent addresses can pin
            // no more than this (a dozen of them) rather than the frame limit's 32 MiB.
            max_pending_bytes_total: 4 * 212_992,
            request_rate: 10,
            request_burst: 10,
        }
    }
}

/// Why a packet waiting for resolution was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The address already had `max_pending_per_entry` packets queued: the oldest was
    /// dropped for the new one (or the new one, with a limit of zero).
    EntryQueueFull,
    /// `max_pending_total` packets are queued over all addresses: the oldest packet of the
    /// longest queue (or of the address's own) gave way for the new one, so that every
    /// address keeps its latest packet and a new one still gets its request (RFC 1122
    /// 2.3.2.2); or the new one, when every queue holds a single packet.
    TotalQueueFull,
    /// The address's queue would have held more than `max_pending_bytes_per_entry` bytes:
    /// its oldest packets gave way for the new one (Linux's `unres_discards`).
    EntryBytesFull,
    /// All queues together would have held more than `max_pending_bytes_total` bytes: the
    /// address's own oldest packets gave way, then the oldest of the queue holding the most
    /// bytes among those with more than one packet (each keeps its latest); or the new
    /// one, when even that would not make room for it.
    TotalBytesFull,
    /// The table is full of static entries, so no entry could be made for the address.
    TableFull,
    /// The address cannot be resolved (0.0.0.0).
    InvalidAddress,
    /// Its incomplete entry was evicted to make room for another (counted only).
    Evicted,
    /// Its incomplete entry was removed by [`NeighborCache::remove`] or
    /// [`NeighborCache::clear`], or replaced by a static entry (counted only).
    Removed,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::EntryQueueFull => "per-address queue full",
            DropReason::TotalQueueFull => "pending queue full",
            DropReason::EntryBytesFull => "per-address queue bytes full",
            DropReason::TotalBytesFull => "pending queue bytes full",
            DropReason::TableFull => "neighbour table full",
            DropReason::InvalidAddress => "address cannot be resolved",
            DropReason::Evicted => "entry evicted",
            DropReason::Removed => "entry removed",
        })
    }
}

/// Why a received ARP packet was ignored entirely (no learning, no reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// The sender hardware address is our own: our packet looped back, or a spoof.
    OwnSenderMac,
    /// The sender hardware address is zero, broadcast or multicast.
    InvalidSenderMac,
    /// The sender protocol address is broadcast or multicast, or 0.0.0.0 in anything but
    /// a probe (a request).
    InvalidSenderIp,
    /// Another host claims our IP address (sender protocol address == ours). The claimant is
    /// the packet's `sender_mac`.
    AddressConflict,
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IgnoreReason::OwnSenderMac => "sender is our own MAC",
            IgnoreReason::InvalidSenderMac => "sender MAC not unicast",
            IgnoreReason::InvalidSenderIp => "sender IP not unicast",
            IgnoreReason::AddressConflict => "sender claims our IP address",
        })
    }
}

/// What [`NeighborCache::resolve`] did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolve<P> {
    /// The address is known: send the packet (handed back) to this MAC now.
    Ready(MacAddr, P),
    /// The packet waits for resolution. `send_request` is true when the caller must now
    /// broadcast a request for the address (the first miss, if the rate limit allowed it;
    /// otherwise [`NeighborCache::poll`] asks later).
    Queued { send_request: bool },
    /// The packet was not kept.
    Dropped(P, DropReason),
}

/// What [`NeighborCache::process`] made of a received ARP packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Processed<P> {
    /// A reply to send, unicast to its `target_mac` (see [`ArpRepr::link_destination`]).
    pub reply: Option<ArpRepr>,
    /// Packets that were waiting for the sender's address, oldest first: send them now.
    pub released: Vec<(MacAddr, P)>,
    /// Why the packet was ignored, if it was.
    pub ignored: Option<IgnoreReason>,
    /// The cache now holds a fresh mapping for the sender (created, updated or resolved).
    pub learned: bool,
}

impl<P> Processed<P> {
    fn nothing() -> Processed<P> {
        Processed {
            reply: None,
            released: Vec::new(),
            ignored: None,
            learned: false,
        }
    }

    fn ignored(reason: IgnoreReason) -> Processed<P> {
        Processed {
            ignored: Some(reason),
            ..Processed::nothing()
        }
    }
}

/// The timed work [`NeighborCache::poll`] found due.
#[derive(Debug, PartialEq, Eq)]
pub struct Poll<P> {
    /// Addresses to broadcast a request for now (retransmissions, or first requests the rate
    /// limit held back).
    pub requests: Vec<Ipv4Addr>,
    /// Addresses whose resolution failed, with the packets that waited for them, oldest first
    /// (so their senders can be told the host is unreachable). The entries are gone.
    pub failures: Vec<(Ipv4Addr, Vec<P>)>,
    /// Addresses to ask again with a request unicast to the MAC in use (entries in use
    /// whose time ran out).
    pub probes: Vec<(Ipv4Addr, MacAddr)>,
    /// Reachable entries that expired and were removed (unused ones at their expiry,
    /// probed ones that did not answer).
    pub expired: Vec<Ipv4Addr>,
}

impl<P> Default for Poll<P> {
    fn default() -> Self {
        Poll {
            requests: Vec::new(),
            failures: Vec::new(),
            probes: Vec::new(),
            expired: Vec::new(),
        }
    }
}

impl<P> Poll<P> {
    /// Nothing was due.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
            && self.failures.is_empty()
            && self.probes.is_empty()
            && self.expired.is_empty()
    }
}

/// Why [`NeighborCache::insert_static`] refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StaticError {
    #[error("{0} is not a unicast IPv4 address")]
    InvalidIp(Ipv4Addr),
    #[error("{0} is not a unicast MAC address")]
    InvalidMac(MacAddr),
    #[error("neighbour table is full of static entries")]
    TableFull,
}

/// The state of an entry, as the shell shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    Incomplete,
    Reachable,
    /// In use past its time, while unicast requests ask whether it still holds.
    Probing,
    Static,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Incomplete => "incomplete",
            EntryState::Reachable => "reachable",
            EntryState::Probing => "probing",
            EntryState::Static => "static",
        }
    }
}

impl fmt::Display for EntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView {
    pub ip: Ipv4Addr,
    /// `None` while incomplete.
    pub mac: Option<MacAddr>,
    pub state: EntryState,
    /// Time left for a reachable entry (zero if expired but not yet polled away).
    pub expires_in: Option<Duration>,
    /// Packets waiting (incomplete entries only).
    pub pending: usize,
    /// Their bytes, as given to [`NeighborCache::resolve_sized`].
    pub pending_bytes: usize,
    /// Requests sent so far (incomplete entries only).
    pub requests_sent: u32,
}

/// Packets waiting for resolution that were dropped, by [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingDrops {
    pub entry_queue_full: u64,
    pub total_queue_full: u64,
    pub entry_bytes_full: u64,
    pub total_bytes_full: u64,
    pub table_full: u64,
    pub invalid_address: u64,
    pub evicted: u64,
    pub removed: u64,
}

impl PendingDrops {
    pub fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::EntryQueueFull => self.entry_queue_full,
            DropReason::TotalQueueFull => self.total_queue_full,
            DropReason::EntryBytesFull => self.entry_bytes_full,
            DropReason::TotalBytesFull => self.total_bytes_full,
            DropReason::TableFull => self.table_full,
            DropReason::InvalidAddress => self.invalid_address,
            DropReason::Evicted => self.evicted,
            DropReason::Removed => self.removed,
        }
    }

    pub fn total(&self) -> u64 {
        self.entry_queue_full
            .saturating_add(self.total_queue_full)
            .saturating_add(self.entry_bytes_full)
            .saturating_add(self.total_bytes_full)
            .saturating_add(self.table_full)
            .saturating_add(self.invalid_address)
            .saturating_add(self.evicted)
            .saturating_add(self.removed)
    }

    fn add(&mut self, reason: DropReason, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let c = match reason {
            DropReason::EntryQueueFull => &mut self.entry_queue_full,
            DropReason::TotalQueueFull => &mut self.total_queue_full,
            DropReason::EntryBytesFull => &mut self.entry_bytes_full,
            DropReason::TotalBytesFull => &mut self.total_bytes_full,
            DropReason::TableFull => &mut self.table_full,
            DropReason::InvalidAddress => &mut self.invalid_address,
            DropReason::Evicted => &mut self.evicted,
            DropReason::Removed => &mut self.removed,
        };
        *c = c.saturating_add(n);
    }
}

/// Received ARP packets ignored, by [`IgnoreReason`] (conflicts are in
/// [`CacheStats::conflicts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IgnoredCounts {
    pub own_sender_mac: u64,
    pub invalid_sender_mac: u64,
    pub invalid_sender_ip: u64,
}

/// Counters, all monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests the cache told its caller to send (first requests and retransmissions).
    pub requests_sent: u64,
    /// Replies the cache produced.
    pub replies_sent: u64,
    pub requests_received: u64,
    pub replies_received: u64,
    /// Received packets with an opcode other than request or reply.
    pub unknown_received: u64,
    /// Received requests with sender IP 0.0.0.0 (they are answered but not learned from).
    pub probes_received: u64,
    /// New entries made from packets addressed to us.
    pub learned: u64,
    /// Reachable entries refreshed by a packet from their IP (RFC 826's merge).
    pub updated: u64,
    /// Incomplete entries completed.
    pub resolved: u64,
    /// Resolutions given up after `max_retries` requests.
    pub failures: u64,
    /// Reachable entries removed on expiry (unused since last confirmed).
    pub expired: u64,
    /// Requests unicast to the MAC of an entry in use whose time ran out.
    pub probes_sent: u64,
    /// Entries in use removed because `max_retries` probes went unanswered.
    pub probe_failures: u64,
    /// Reachable entries probed early on a transport's negative advice
    /// ([`NeighborCache::suspect`]).
    pub suspected: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Times a request was held back by the rate limit (it goes out when the limit
    /// allows; nothing is dropped).
    pub rate_limited: u64,
    /// Packets from another host claiming our IP address.
    pub conflicts: u64,
    /// Packets claiming a static entry's IP with another MAC (the entry is kept).
    pub static_mismatches: u64,
    /// Packets addressed to us whose sender could not be added: the table is all static.
    pub learn_table_full: u64,
    pub ignored: IgnoredCounts,
    pub pending_dropped: PendingDrops,
}

fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

/// Addresses whose link address is fixed and that never enter the table: the limited
/// broadcast address and IPv4 multicast (RFC 1112 §6.4: 01:00:5e and the low 23 bits).
fn fixed_mapping(ip: Ipv4Addr) -> Option<MacAddr> {
    if ip.is_broadcast() {
        return Some(MacAddr::BROADCAST);
    }
    if ip.is_multicast() {
        let o = ip.octets();
        return Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]));
    }
    None
}

/// A token bucket, counted in millionths of a token so that `rate` tokens per second is
/// exactly `rate` millionths per microsecond.
#[derive(Debug, Clone)]
struct RateLimiter {
    rate: u64,
    capacity: u64,
    tokens: u64,
    last: Option<Instant>,
}

const TOKEN: u64 = 1_000_000;

impl RateLimiter {
    fn new(rate: u32, burst: u32) -> RateLimiter {
        let capacity = u64::from(burst.max(1)).saturating_mul(TOKEN);
        RateLimiter {
            rate: u64::from(rate),
            capacity,
            tokens: capacity,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        match self.last {
            Some(last) if now > last => {
                let elapsed = now.total_micros().saturating_sub(last.total_micros());
                let add = elapsed.saturating_mul(self.rate);
                self.tokens = self.tokens.saturating_add(add).min(self.capacity);
                self.last = Some(now);
            }
            Some(_) => {}
            None => self.last = Some(now),
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        self.refill(now);
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            true
        } else {
            false
        }
    }

    /// When a token will next be available (call right after a refused `try_take`).
    fn next_available(&self, now: Instant) -> Instant {
        if self.rate == 0 || self.tokens >= TOKEN {
            return now;
        }
        let wait = (TOKEN - self.tokens).div_ceil(self.rate);
        let from = self.last.map_or(now, |l| l.max(now));
        from + Duration::from_micros(wait)
    }
}

/// The packets waiting for one address, oldest first, each with its size, and their bytes.
#[derive(Debug)]
struct Queue<P> {
    packets: VecDeque<(P, usize)>,
    bytes: usize,
}

impl<P> Queue<P> {
    fn len(&self) -> usize {
        self.packets.len()
    }

    fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    fn push_back(&mut self, packet: P, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.packets.push_back((packet, bytes));
    }

    /// Drop the oldest packet: its size, if there was one.
    fn pop_front(&mut self) -> Option<usize> {
        let (_, bytes) = self.packets.pop_front()?;
        self.bytes = self.bytes.saturating_sub(bytes);
        Some(bytes)
    }

    /// Bytes that could go with every packet but the latest.
    fn bytes_but_latest(&self) -> usize {
        self.bytes
            .saturating_sub(self.packets.back().map_or(0, |p| p.1))
    }
}

#[derive(Debug)]
enum State<P> {
    Incomplete {
        requests_sent: u32,
        /// When to send the next request, or (after the last) to declare failure.
        next_at: Instant,
        queue: Queue<P>,
    },
    Reachable {
        mac: MacAddr,
        expires_at: Instant,
        /// Packets were sent by it since it was last confirmed: at its expiry it is
        /// probed (kept in use while asked again) rather than removed.
        used: bool,
    },
    /// An entry in use whose time ran out: packets still go to `mac` while requests are
    /// unicast to it (RFC 1122 2.3.2.1's "unicast poll"; Linux's PROBE state); an answer
    /// makes it reachable again, `max_retries` unanswered ones remove it.
    Probing {
        mac: MacAddr,
        requests_sent: u32,
        /// When to send the next request, or (after the last) to give up.
        next_at: Instant,
    },
    Static {
        mac: MacAddr,
    },
}

#[derive(Debug)]
struct Entry<P> {
    state: State<P>,
    /// When the entry was made or last confirmed; the oldest is evicted first.
    since: Instant,
}

/// The ARP neighbour cache. `P` is whatever the caller queues while an address resolves
/// (typically an IP packet); the cache only stores and returns it.
#[derive(Debug)]
pub struct NeighborCache<P> {
    config: CacheConfig,
    table: BTreeMap<Ipv4Addr, Entry<P>>,
    pending_total: usize,
    pending_bytes: usize,
    limiter: RateLimiter,
    stats: CacheStats,
}

impl<P> Default for NeighborCache<P> {
    fn default() -> Self {
        NeighborCache::new(CacheConfig::default())
    }
}

impl<P> NeighborCache<P> {
    pub fn new(config: CacheConfig) -> NeighborCache<P> {
        NeighborCache {
            config,
            table: BTreeMap::new(),
            pending_total: 0,
            pending_bytes: 0,
            limiter: RateLimiter::new(config.request_rate, config.request_burst),
            stats: CacheStats::default(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Entries of every state (expired ones not yet polled away included).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Packets queued behind unresolved addresses.
    pub fn pending(&self) -> usize {
        self.pending_total
    }

    /// Their bytes, as given to [`resolve_sized`](Self::resolve_sized).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Is `ip` being resolved with its queue full, or all queues together full (in packets
    /// or in bytes), so that the next packet for it would push out the oldest? (A blocking
    /// sender waits instead: see `socket-api`.) The size of the next packet is not known
    /// here: a queue is full in bytes once it holds its bound.
    pub fn queue_full(&self, ip: Ipv4Addr) -> bool {
        let cfg = &self.config;
        let total_full = self.pending_total >= cfg.max_pending_total
            || self.pending_bytes >= cfg.max_pending_bytes_total;
        match self.table.get(&ip).map(|e| &e.state) {
            Some(State::Incomplete { queue, .. }) => {
                queue.len() >= cfg.max_pending_per_entry
                    || queue.bytes >= cfg.max_pending_bytes_per_entry
                    || (total_full && !queue.is_empty())
            }
            _ => false,
        }
    }

    fn max_retries(&self) -> u32 {
        self.config.max_retries.max(1)
    }

    /// `ip`'s entry if it is reachable but expired at `now`: removed, or, if it was used,
    /// probed (see [`State::Probing`]; [`poll`](Self::poll) sends the requests).
    fn expire_if_due(&mut self, ip: Ipv4Addr, now: Instant) {
        let Some(entry) = self.table.get_mut(&ip) else {
            return;
        };
        match entry.state {
            State::Reachable {
                mac,
                expires_at,
                used: true,
            } if expires_at <= now => {
                entry.state = State::Probing {
                    mac,
                    requests_sent: 0,
                    next_at: now,
                };
            }
            State::Reachable { expires_at, .. } if expires_at <= now => {
                self.table.remove(&ip);
                bump(&mut self.stats.expired);
            }
            _ => {}
        }
    }

    /// Drop an entry's state, accounting for any packets it held.
    fn discard(&mut self, entry: Entry<P>, reason: DropReason) {
        if let State::Incomplete { queue, .. } = entry.state {
            self.stats.pending_dropped.add(reason, queue.len());
            self.unqueued(queue);
        }
    }

    /// A whole queue left the cache (released, failed, discarded): its packets no longer
    /// count. Returns them, oldest first.
    fn unqueued(&mut self, queue: Queue<P>) -> Vec<P> {
        self.pending_total = self.pending_total.saturating_sub(queue.len());
        self.pending_bytes = self.pending_bytes.saturating_sub(queue.bytes);
        queue.packets.into_iter().map(|(p, _)| p).collect()
    }

    /// Make room for one more entry, evicting the oldest of the first class that has one:
    /// reachable entries not used since they were confirmed, incomplete ones (with their
    /// queued packets), reachable ones in use, those being probed (in use). An entry in
    /// use outlives a resolution not answered yet: packets to many silent addresses (a
    /// peer's SYN-ACKs to spoofed on-link sources) would otherwise push out the gateway's
    /// entry, again and again, each time stalling the traffic through it. `learning` (a
    /// sender learnt from its request) takes only the first: it never displaces an entry
    /// in use or a resolution under way, as Linux's forced GC spares entries whose timers
    /// run. False if nothing may go (a table of static entries, `max_entries` 0).
    fn make_room(&mut self, learning: bool) -> bool {
        if self.table.len() < self.config.max_entries {
            return true;
        }
        let class = |e: &Entry<P>| match e.state {
            State::Reachable { used: false, .. } => Some(0),
            _ if learning => None,
            State::Incomplete { .. } => Some(1),
            State::Reachable { used: true, .. } => Some(2),
            State::Probing { .. } => Some(3),
            State::Static { .. } => None,
        };
        let victim = self
            .table
            .iter()
            .filter_map(|(ip, e)| Some(((class(e)?, e.since, *ip), *ip)))
            .min()
            .map(|(_, ip)| ip);
        let Some(victim) = victim else {
            return false;
        };
        if let Some(entry) = self.table.remove(&victim) {
            self.discard(entry, DropReason::Evicted);
            bump(&mut self.stats.evictions);
        }
        self.table.len() < self.config.max_entries
    }

    /// Drop the oldest packet queued for `ip`, counted under `reason`. False if none.
    fn drop_oldest(&mut self, ip: Ipv4Addr, reason: DropReason) -> bool {
        let Some(Entry {
            state: State::Incomplete { queue, .. },
            ..
        }) = self.table.get_mut(&ip)
        else {
            return false;
        };
        let Some(bytes) = queue.pop_front() else {
            return false;
        };
        self.pending_total = self.pending_total.saturating_sub(1);
        self.pending_bytes = self.pending_bytes.saturating_sub(bytes);
        self.stats.pending_dropped.add(reason, 1);
        true
    }

    /// The address whose queue holds the most packets (or bytes, `by_bytes`) among those
    /// holding more than one, the lowest among equals: the one to take from when all queues
    /// together are full (its latest packet stays).
    fn fullest_queue(&self, by_bytes: bool) -> Option<Ipv4Addr> {
        self.table
            .iter()
            .filter_map(|(ip, e)| match &e.state {
                State::Incomplete { queue, .. } if queue.len() > 1 => {
                    let size = if by_bytes { queue.bytes } else { queue.len() };
                    Some((size, std::cmp::Reverse(*ip)))
                }
                _ => None,
            })
            .max()
            .map(|(_, ip)| ip.0)
    }

    /// Packets and bytes queued for `ip` (none if it is not being resolved).
    fn queued_for(&self, ip: Ipv4Addr) -> (usize, usize) {
        match self.table.get(&ip).map(|e| &e.state) {
            Some(State::Incomplete { queue, .. }) => (queue.len(), queue.bytes),
            _ => (0, 0),
        }
    }

    /// Make room in `ip`'s queue (an incomplete entry's, or one about to be made) for one
    /// more packet of `bytes`, oldest packets first (`max_pending_per_entry` is at least 1):
    ///
    /// 1. the address's own bounds, as Linux's `__neigh_event_send`: the oldest go while
    ///    the queue is at its packet limit or the new packet would take it past its byte
    ///    limit; a packet larger than that limit is kept, alone;
    /// 2. all queues together, in packets then in bytes: the address's own oldest go
    ///    first, then the oldest of the fullest other queue, every other address keeping
    ///    its latest packet.
    ///
    /// When even that would not bring all queues within their bounds, nothing is dropped
    /// and the reason the new packet must go instead is returned.
    fn make_queue_room(&mut self, ip: Ipv4Addr, bytes: usize) -> Result<(), DropReason> {
        let cfg = self.config;
        let total_bytes = |c: &Self| c.pending_bytes.saturating_add(bytes);
        if self.pending_total >= cfg.max_pending_total
            || total_bytes(self) > cfg.max_pending_bytes_total
        {
            // What may go: all of this address's queue, all but the latest of the others.
            let (mut n, mut b) = self.queued_for(ip);
            for (other, e) in &self.table {
                match &e.state {
                    State::Incomplete { queue, .. } if *other != ip => {
                        n += queue.len().saturating_sub(1);
                        b += queue.bytes_but_latest();
                    }
                    _ => {}
                }
            }
            if self.pending_total.saturating_sub(n) >= cfg.max_pending_total {
                return Err(DropReason::TotalQueueFull);
            }
            if self.pending_bytes.saturating_sub(b).saturating_add(bytes)
                > cfg.max_pending_bytes_total
            {
                return Err(DropReason::TotalBytesFull);
            }
        }
        while self.queued_for(ip).0 >= cfg.max_pending_per_entry
            && self.drop_oldest(ip, DropReason::EntryQueueFull)
        {}
        while self.queued_for(ip).1.saturating_add(bytes) > cfg.max_pending_bytes_per_entry
            && self.drop_oldest(ip, DropReason::EntryBytesFull)
        {}
        let over = |c: &Self| {
            if c.pending_total >= cfg.max_pending_total {
                Some((false, DropReason::TotalQueueFull))
            } else if total_bytes(c) > cfg.max_pending_bytes_total {
                Some((true, DropReason::TotalBytesFull))
            } else {
                None
            }
        };
        while let Some((by_bytes, reason)) = over(self) {
            let victim = if self.queued_for(ip).0 > 0 {
                Some(ip)
            } else {
                self.fullest_queue(by_bytes)
            };
            // Not reached: the check above found enough to drop.
            if !victim.is_some_and(|v| self.drop_oldest(v, reason)) {
                break;
            }
        }
        Ok(())
    }

    /// The MAC for `ip` if it is known now: a static entry or an unexpired reachable one
    /// (or one being probed). A look only: unlike [`resolve`](Self::resolve), it does not
    /// count as a use that keeps the entry probed rather than removed at its expiry.
    /// Limited broadcast and multicast addresses map to their fixed MACs.
    pub fn lookup(&mut self, ip: Ipv4Addr, now: Instant) -> Option<MacAddr> {
        if let Some(mac) = fixed_mapping(ip) {
            return Some(mac);
        }
        self.expire_if_due(ip, now);
        match self.table.get(&ip)?.state {
            State::Static { mac } | State::Reachable { mac, .. } | State::Probing { mac, .. } => {
                Some(mac)
            }
            State::Incomplete { .. } => None,
        }
    }

    /// [`resolve_sized`](Self::resolve_sized) for a packet whose size does not count:
    /// only the packet limits bound the queues of such packets.
    pub fn resolve(&mut self, ip: Ipv4Addr, packet: P, now: Instant) -> Resolve<P> {
        self.resolve_sized(ip, packet, 0, now)
    }

    /// Find the MAC to send `packet` to `ip`, or queue the packet until it is known; `bytes`
    /// is its size, for the queues' byte limits.
    ///
    /// The first miss makes an incomplete entry and, rate limit permitting, tells the caller
    /// to send a request now (`Queued { send_request: true }`). Later misses just queue.
    /// A full queue makes its oldest packets give way, as Linux's neighbour queue does: the
    /// sender's call succeeds, and the newest packets wait (see [`DropReason`]).
    pub fn resolve_sized(
        &mut self,
        ip: Ipv4Addr,
        packet: P,
        bytes: usize,
        now: Instant,
    ) -> Resolve<P> {
        if let Some(mac) = fixed_mapping(ip) {
            return Resolve::Ready(mac, packet);
        }
        if ip.is_unspecified() {
            return self.drop_packet(packet, DropReason::InvalidAddress);
        }
        self.expire_if_due(ip, now);
        let resolving = match self.table.get_mut(&ip).map(|e| &mut e.state) {
            Some(State::Reachable { mac, used, .. }) => {
                *used = true;
                return Resolve::Ready(*mac, packet);
            }
            Some(State::Static { mac } | State::Probing { mac, .. }) => {
                return Resolve::Ready(*mac, packet)
            }
            Some(State::Incomplete { .. }) => true,
            None => false,
        };
        if self.config.max_pending_per_entry == 0 {
            return self.drop_packet(packet, DropReason::EntryQueueFull);
        }
        if !resolving && !self.make_room(false) {
            return self.drop_packet(packet, DropReason::TableFull);
        }
        // (Evicting an incomplete entry may have freed queue space.)
        if let Err(reason) = self.make_queue_room(ip, bytes) {
            return self.drop_packet(packet, reason);
        }
        self.pending_total += 1;
        self.pending_bytes = self.pending_bytes.saturating_add(bytes);
        if let Some(Entry {
            state: State::Incomplete { queue, .. },
            ..
        }) = self.table.get_mut(&ip)
        {
            queue.push_back(packet, bytes);
            return Resolve::Queued {
                send_request: false,
            };
        }
        let send_request = self.limiter.try_take(now);
        let (requests_sent, next_at) = if send_request {
            bump(&mut self.stats.requests_sent);
            (1, now + self.config.retransmit_interval)
        } else {
            bump(&mut self.stats.rate_limited);
            (0, self.limiter.next_available(now))
        };
        let mut queue = Queue {
            packets: VecDeque::new(),
            bytes: 0,
        };
        queue.push_back(packet, bytes);
        self.table.insert(
            ip,
            Entry {
                state: State::Incomplete {
                    requests_sent,
                    next_at,
                    queue,
                },
                since: now,
            },
        );
        Resolve::Queued { send_request }
    }

    fn drop_packet(&mut self, packet: P, reason: DropReason) -> Resolve<P> {
        self.stats.pending_dropped.add(reason, 1);
        Resolve::Dropped(packet, reason)
    }

    /// Handle a received ARP packet with RFC 826's "Packet Reception" algorithm.
    ///
    /// After the sanity checks (see [`IgnoreReason`]; a probe from 0.0.0.0 is answered if it
    /// asks for us but never learned from):
    ///
    /// 1. If the sender's IP is in the table, its MAC is updated ("merge"): a reachable entry
    ///    is refreshed, an incomplete one becomes reachable and its queued packets are
    ///    released, a static one is left alone.
    /// 2. If the target IP is `our_ip` (with [`NeighborCache::process_for`]: if the caller
    ///    says it is ours): the sender is added unless it was merged, and if the packet is a
    ///    request a reply is produced, from `our_mac`.
    ///
    /// Nothing is learned from packets not addressed to us unless the sender was already in
    /// the table.
    pub fn process(
        &mut self,
        repr: &ArpRepr,
        our_ip: Ipv4Addr,
        our_mac: MacAddr,
        now: Instant,
    ) -> Processed<P> {
        let for_us = !our_ip.is_unspecified() && repr.target_ip == our_ip;
        self.process_for(repr, our_ip, our_mac, for_us, now)
    }

    /// [`NeighborCache::process`], the caller saying whether the target address is ours
    /// (`for_us`): a host that answers for any of its addresses on every link (the "weak
    /// host" model, Linux's default `arp_ignore=0`) knows its other interfaces' addresses,
    /// which this cache does not. `our_ip` is still this link's address (a sender using it
    /// is a conflict).
    pub fn process_for(
        &mut self,
        repr: &ArpRepr,
        our_ip: Ipv4Addr,
        our_mac: MacAddr,
        for_us: bool,
        now: Instant,
    ) -> Processed<P> {
        match repr.op {
            Operation::Request => bump(&mut self.stats.requests_received),
            Operation::Reply => bump(&mut self.stats.replies_received),
            Operation::Unknown(_) => bump(&mut self.stats.unknown_received),
        }
        if repr.sender_mac == our_mac {
            bump(&mut self.stats.ignored.own_sender_mac);
            return Processed::ignored(IgnoreReason::OwnSenderMac);
        }
        if !repr.sender_mac.is_unicast() {
            bump(&mut self.stats.ignored.invalid_sender_mac);
            return Processed::ignored(IgnoreReason::InvalidSenderMac);
        }
        let is_request = repr.op == Operation::Request;

        if repr.sender_ip.is_unspecified() {
            // A probe: the sender has no address yet, so there is nothing to learn, but a
            // probe for our address is answered so the prober sees it is taken. Only a
            // request can be a probe (RFC 5227 2.1.1); anything else from 0.0.0.0 is
            // ignored as from an invalid sender address, and counted so.
            if !is_request {
                bump(&mut self.stats.ignored.invalid_sender_ip);
                return Processed::ignored(IgnoreReason::InvalidSenderIp);
            }
            let mut out = Processed::nothing();
            bump(&mut self.stats.probes_received);
            if for_us {
                out.reply = Some(ArpRepr::reply_to(repr, our_mac));
                bump(&mut self.stats.replies_sent);
            }
            return out;
        }
        if repr.sender_ip.is_broadcast() || repr.sender_ip.is_multicast() {
            bump(&mut self.stats.ignored.invalid_sender_ip);
            return Processed::ignored(IgnoreReason::InvalidSenderIp);
        }
        if !our_ip.is_unspecified() && repr.sender_ip == our_ip {
            bump(&mut self.stats.conflicts);
            return Processed::ignored(IgnoreReason::AddressConflict);
        }

        let mut out = Processed::nothing();

        // "If the pair <protocol type, sender protocol address> is already in my translation
        // table, update the sender hardware address field of the entry with the new
        // information in the packet and set Merge_flag to true."
        let mut merge = false;
        if let Some(entry) = self.table.get_mut(&repr.sender_ip) {
            merge = true;
            if let State::Static { mac } = entry.state {
                if mac != repr.sender_mac {
                    bump(&mut self.stats.static_mismatches);
                }
            } else {
                let fresh = State::Reachable {
                    mac: repr.sender_mac,
                    expires_at: now + self.config.reachable_time,
                    used: false,
                };
                let old = mem::replace(&mut entry.state, fresh);
                entry.since = now;
                out.learned = true;
                match old {
                    State::Incomplete { queue, .. } => {
                        let mac = repr.sender_mac;
                        out.released = self.unqueued(queue).into_iter().map(|p| (mac, p)).collect();
                        bump(&mut self.stats.resolved);
                    }
                    State::Reachable { .. } | State::Probing { .. } | State::Static { .. } => {
                        bump(&mut self.stats.updated);
                    }
                }
            }
        }

        // "?Am I the target protocol address?"
        if for_us {
            // "If Merge_flag is false, add the triplet <protocol type, sender protocol
            // address, sender hardware address> to the translation table."
            if !merge {
                if self.make_room(true) {
                    self.table.insert(
                        repr.sender_ip,
                        Entry {
                            state: State::Reachable {
                                mac: repr.sender_mac,
                                expires_at: now + self.config.reachable_time,
                                used: false,
                            },
                            since: now,
                        },
                    );
                    out.learned = true;
                    bump(&mut self.stats.learned);
                } else {
                    bump(&mut self.stats.learn_table_full);
                }
            }
            // "?Is the opcode ares_op$REQUEST? (NOW look at the opcode!!)"
            if is_request {
                out.reply = Some(ArpRepr::reply_to(repr, our_mac));
                bump(&mut self.stats.replies_sent);
            }
        }
        out
    }

    /// Do the timed work due at `now`: retransmit requests (rate limit permitting; a refused
    /// one is retried once a token is due), fail resolutions after `max_retries` unanswered
    /// requests, remove expired reachable entries that were not used, probe those that were
    /// (unicast requests to the MAC in use, which stays in use meanwhile), and remove
    /// probed entries after `max_retries` unanswered probes.
    pub fn poll(&mut self, now: Instant) -> Poll<P> {
        let max_retries = self.max_retries();
        let retransmit = self.config.retransmit_interval;
        let mut out = Poll::default();
        let mut failed = Vec::new();
        let mut unanswered = Vec::new();
        for (ip, entry) in self.table.iter_mut() {
            if let State::Reachable {
                mac,
                expires_at,
                used: true,
            } = entry.state
            {
                if expires_at <= now {
                    entry.state = State::Probing {
                        mac,
                        requests_sent: 0,
                        next_at: now,
                    };
                }
            }
            match &mut entry.state {
                State::Reachable { expires_at, .. } if *expires_at <= now => {
                    out.expired.push(*ip);
                }
                State::Probing {
                    mac,
                    requests_sent,
                    next_at,
                } if *next_at <= now => {
                    if *requests_sent >= max_retries {
                        unanswered.push(*ip);
                    } else if self.limiter.try_take(now) {
                        *requests_sent = requests_sent.saturating_add(1);
                        *next_at = now + retransmit;
                        out.probes.push((*ip, *mac));
                        bump(&mut self.stats.probes_sent);
                    } else {
                        *next_at = self.limiter.next_available(now);
                        bump(&mut self.stats.rate_limited);
                    }
                }
                State::Incomplete {
                    requests_sent,
                    next_at,
                    ..
                } if *next_at <= now => {
                    if *requests_sent >= max_retries {
                        failed.push(*ip);
                    } else if self.limiter.try_take(now) {
                        *requests_sent = requests_sent.saturating_add(1);
                        *next_at = now + retransmit;
                        out.requests.push(*ip);
                        bump(&mut self.stats.requests_sent);
                    } else {
                        *next_at = self.limiter.next_available(now);
                        bump(&mut self.stats.rate_limited);
                    }
                }
                _ => {}
            }
        }
        for ip in &out.expired {
            self.table.remove(ip);
            bump(&mut self.stats.expired);
        }
        for ip in unanswered {
            // Gone: the next packet for it starts a resolution by broadcast.
            self.table.remove(&ip);
            bump(&mut self.stats.probe_failures);
            out.expired.push(ip);
        }
        for ip in failed {
            if let Some(Entry {
                state: State::Incomplete { queue, .. },
                ..
            }) = self.table.remove(&ip)
            {
                let packets = self.unqueued(queue);
                out.failures.push((ip, packets));
                bump(&mut self.stats.failures);
            }
        }
        out
    }

    /// The earliest time [`poll`](Self::poll) has something to do: a retransmission, a
    /// failure, or an expiry. `None` when only static entries (or none) exist.
    pub fn poll_at(&self) -> Option<Instant> {
        self.table
            .values()
            .filter_map(|e| match e.state {
                State::Incomplete { next_at, .. } | State::Probing { next_at, .. } => Some(next_at),
                State::Reachable { expires_at, .. } => Some(expires_at),
                State::Static { .. } => None,
            })
            .min()
    }

    /// Negative advice from a transport (RFC 1122 3.3.1.4, RFC 9293 3.8.3's R1): its
    /// retransmissions through `ip`'s mapping go unanswered, so the mapping is asked
    /// again now, by requests unicast to the MAC in use, as at a used entry's expiry
    /// (see [`EntryState::Probing`]: packets still go to it meanwhile; an answer makes it
    /// reachable again, `max_retries` unanswered requests remove it, and the next packet
    /// then resolves the address by broadcast). A neighbour that changed its MAC without
    /// telling (a failover without a gratuitous ARP) is found in seconds rather than at
    /// the entry's expiry. Static entries, entries already asked, entries an ARP packet
    /// confirmed less than `retransmit_interval` ago and unknown addresses are left alone.
    ///
    /// Returns the MAC to unicast the first request to now, rate limit permitting (held
    /// back, [`poll`](Self::poll) sends it when a token is due), so that nothing is due
    /// at `now` once the caller has sent it.
    pub fn suspect(&mut self, ip: Ipv4Addr, now: Instant) -> Option<MacAddr> {
        let entry = self.table.get_mut(&ip)?;
        let State::Reachable {
            mac, expires_at, ..
        } = entry.state
        else {
            return None;
        };
        // Confirmed by an ARP packet less than `retransmit_interval` ago (the answer to
        // the last probe, say): a positive indication, which RFC 1122 3.3.1.4 asks to
        // rely on rather than ping again (advice comes from every stalled connection).
        let left = expires_at.saturating_duration_since(now);
        if left + self.config.retransmit_interval > self.config.reachable_time {
            return None;
        }
        bump(&mut self.stats.suspected);
        let (requests_sent, next_at, send) = if self.limiter.try_take(now) {
            bump(&mut self.stats.probes_sent);
            (1, now + self.config.retransmit_interval, Some(mac))
        } else {
            bump(&mut self.stats.rate_limited);
            (0, self.limiter.next_available(now), None)
        };
        entry.state = State::Probing {
            mac,
            requests_sent,
            next_at,
        };
        send
    }

    /// Add or replace a static entry: it never expires and learning never changes it.
    /// If the address was resolving, the packets waiting for it are returned (oldest first),
    /// to be sent to `mac` now.
    pub fn insert_static(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Result<Vec<P>, StaticError> {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Err(StaticError::InvalidIp(ip));
        }
        if !mac.is_unicast() {
            return Err(StaticError::InvalidMac(mac));
        }
        let state = State::Static { mac };
        if let Some(entry) = self.table.get_mut(&ip) {
            let old = mem::replace(&mut entry.state, state);
            if let State::Incomplete { queue, .. } = old {
                return Ok(self.unqueued(queue));
            }
            return Ok(Vec::new());
        }
        if !self.make_room(false) {
            return Err(StaticError::TableFull);
        }
        self.table.insert(
            ip,
            Entry {
                state,
                since: Instant::ZERO,
            },
        );
        Ok(Vec::new())
    }

    /// Remove `ip`'s entry of any state; packets waiting for it are dropped. True if there
    /// was one.
    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        match self.table.remove(&ip) {
            Some(entry) => {
                self.discard(entry, DropReason::Removed);
                true
            }
            None => false,
        }
    }

    /// Remove every dynamic (incomplete or reachable) entry; static ones stay.
    pub fn clear(&mut self) {
        let table = mem::take(&mut self.table);
        for (ip, entry) in table {
            if matches!(entry.state, State::Static { .. }) {
                self.table.insert(ip, entry);
            } else {
                self.discard(entry, DropReason::Removed);
            }
        }
    }

    /// Every entry, in address order, for display.
    pub fn entries(&self, now: Instant) -> Vec<EntryView> {
        self.table
            .iter()
            .map(|(ip, e)| match &e.state {
                State::Incomplete {
                    requests_sent,
                    queue,
                    ..
                } => EntryView {
                    ip: *ip,
                    mac: None,
                    state: EntryState::Incomplete,
                    expires_in: None,
                    pending: queue.len(),
                    pending_bytes: queue.bytes,
                    requests_sent: *requests_sent,
                },
                State::Reachable {
                    mac, expires_at, ..
                } => EntryView {
                    ip: *ip,
                    mac: Some(*mac),
                    state: EntryState::Reachable,
                    expires_in: Some(expires_at.saturating_duration_since(now)),
                    pending: 0,
                    pending_bytes: 0,
                    requests_sent: 0,
                },
                State::Probing {
                    mac, requests_sent, ..
                } => EntryView {
                    ip: *ip,
                    mac: Some(*mac),
                    state: EntryState::Probing,
                    expires_in: None,
                    pending: 0,
                    pending_bytes: 0,
                    requests_sent: *requests_sent,
                },
                State::Static { mac } => EntryView {
                    ip: *ip,
                    mac: Some(*mac),
                    state: EntryState::Static,
                    expires_in: None,
                    pending: 0,
                    pending_bytes: 0,
                    requests_sent: 0,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
