//! IPv4 reassembly (RFC 791 section 3.2, RFC 815, RFC 1122 section 3.3.2).
//!
//! Sans-IO: the caller hands in fragments that already passed header validation, together with
//! the current [`Instant`], and asks [`Reassembler::poll_at`] when to call [`Reassembler::poll`]
//! so that datagrams whose timer ran out are discarded (and reported, so that an ICMP Time
//! Exceeded, code 1, can be sent when the first fragment was among those received).
//!
//! # Rules
//!
//! - A datagram is identified by [`FragKey`]: source, destination, protocol and identification
//!   (RFC 791). Fragments may arrive in any order.
//! - Its timer starts with the first fragment received and is not refreshed by later ones: a
//!   fixed [`ReassemblyConfig::timeout`], not derived from the TTL (RFC 1122 section 3.3.2
//!   replacing RFC 791's TTL-based timer). The default is 30 s, Linux's value; RFC 1122
//!   recommends 60 s to 120 s. When it runs out the datagram is discarded and, if its first
//!   fragment was received, reported for an ICMP Time Exceeded (code 1).
//! - A fragment wholly inside data already held (one run of adjoining pieces) is a
//!   duplicate: ignored and counted, the bytes held first stand, whatever its own (Linux's
//!   `IPFRAG_DUP` since the FragmentSmack fix, RFC 5722 as amended by its erratum 3089).
//! - Any other overlap discards the whole datagram (Linux's `IPFRAG_OVERLAP`, as RFC 5722
//!   requires for IPv6). Later fragments with the same key start a fresh datagram.
//! - The last fragment (MF = 0) fixes the total length. A second last fragment with a different
//!   end, or data beyond the known end, discards the datagram.
//! - The payload may be at most [`MAX_PAYLOAD`] bytes (65,535 minus a 20-byte header). The
//!   reassembled datagram gets the first fragment's header, options included (RFC 791 3.2:
//!   the options of the fragment at offset 0 are the datagram's); when they make it longer
//!   than 65,535 bytes it is discarded as too big, as Linux does.
//! - ECN (RFC 3168 5.3): a Congestion Experienced mark on any fragment marks the reassembled
//!   datagram; Not-ECT fragments beside ECN-capable ones discard it ([`DropReason::EcnMismatch`]).
//! - A fragment that is malformed on its own (see [`DropReason::BadLength`]) is dropped alone;
//!   its datagram goes on.
//! - Memory: [`ReassemblyConfig::max_bytes`] bounds the bytes charged over all datagrams: the
//!   payload buffered, plus a fixed cost per piece held ([`PIECE_COST`], its index entry) and
//!   per datagram ([`DATAGRAM_COST`], its record, tables and first header), as Linux charges
//!   each fragment's `truesize`: a flood of tiny fragments fills the cap by what it costs,
//!   not by its few payload bytes.
//!   When a fragment would pass it, the oldest other datagrams are evicted until it fits. A
//!   fragment that could not fit even then (its datagram alone would pass the cap) is refused
//!   without evicting anything, and its datagram, which could never complete, is discarded.
//! - [`ReassemblyConfig::max_datagrams`] bounds the datagrams pending: a new key evicts the
//!   oldest.
//! - Identification wrap (RFC 4963 3): a source that sends fast reuses an Identification
//!   within the timeout, and a fragment of its new datagram would join the stale rest of an
//!   old one (pieces that do not overlap pass every check; a UDP datagram without a
//!   checksum is then delivered wrong). As Linux does (`ipfrag_max_dist`, 64), fragments
//!   are counted per source while it has datagrams pending: when more than
//!   [`ReassemblyConfig::max_dist`] arrived from it since a datagram's last fragment, that
//!   datagram is discarded ([`DropReason::TooFar`]) and the fragment starts a fresh one.
//!
//! # Storage
//!
//! Each pending datagram keeps the bytes of the fragments it accepted in one buffer, appended
//! in arrival order (so memory follows what was received, not the highest offset seen), and an
//! index of pieces ordered by offset (`BTreeMap<offset, (len, position in buffer)>`: six bytes
//! a piece plus the tree's nodes, and insertion, overlap and duplicate checks in logarithmic
//! time whatever the arrival order, where a sorted `Vec` would shift on every insertion).
//! Because accepted pieces never overlap and never pass the known end, the datagram is complete
//! exactly when the last fragment was seen and the bytes received add up to its end: no hole
//! list (RFC 815) is needed. Completing then costs one copy: a buffer of the final size is
//! allocated and the pieces are copied into it in offset order, after the first fragment's
//! header.
//! The buffer grows geometrically (never past the datagram's end once the last fragment was seen,
//! nor past [`MAX_PAYLOAD`]), so its capacity stays under twice the bytes counted against
//! `max_bytes`; it is never sized from offsets, which a sender could inflate for free.
//!
//! # Counting
//!
//! [`ReassemblyStats`] counts fragments pushed, datagrams completed (including unfragmented
//! packets pushed by mistake), timeouts, and one drop per discarding event for each
//! [`DropReason`]: a fragment refused on its own, a datagram discarded with the fragment that
//! caused it, or an older datagram evicted to make room.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;

use netif::{Duration, Instant};

use crate::checksum::checksum;

/// The largest reassembled payload: 65,535 bytes of total length minus a 20-byte header.
pub const MAX_PAYLOAD: usize = 65_535 - HEADER_LEN;

/// Length of a header without options.
const HEADER_LEN: usize = 20;
/// Length of a header with the most options.
const MAX_HEADER_LEN: usize = 60;

/// Charged against [`ReassemblyConfig::max_bytes`] for each piece held besides its payload:
/// its index entry (6 bytes in a B-tree node at least half full) rounded up.
pub const PIECE_COST: usize = 16;
/// Charged for each pending datagram besides its pieces: its record, its entries in the
/// tables and the first fragment's header (up to 60 bytes), rounded up.
pub const DATAGRAM_COST: usize = 256;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;
/// The ECN field in the header's second byte (RFC 3168 5), and its Congestion Experienced
/// codepoint.
const ECN_MASK: u8 = 0b11;
const ECN_CE: u8 = 0b11;

/// What identifies the fragments of one datagram (RFC 791 section 3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
}

/// One fragment, as handed in by IP input.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub key: FragKey,
    /// Fragment offset in bytes (the header field times 8).
    pub offset: usize,
    /// The More Fragments flag.
    pub more_fragments: bool,
    /// This fragment's whole IP header, options included, already validated. Only the header of
    /// the fragment at offset 0 is used whole: it becomes the reassembled header (its options
    /// kept) and is quoted in [`Expired::first_fragment`]. Of the others only the ECN field is
    /// read (RFC 3168 5.3).
    pub header: &'a [u8],
    /// The fragment's data: the packet's total length minus its header, link padding removed.
    pub payload: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// The fragment view of an IPv4 packet whose header was validated (version, IHL, total
    /// length, checksum) by the caller. Checks again what slicing depends on and returns `None`
    /// if the packet is not a well-formed IPv4 packet; bytes past the total length (link
    /// padding) are ignored.
    pub fn from_packet(packet: &'a [u8]) -> Option<Fragment<'a>> {
        if packet.len() < HEADER_LEN || packet[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        if ihl < HEADER_LEN || total < ihl || total > packet.len() {
            return None;
        }
        let flags = u16::from_be_bytes([packet[6], packet[7]]);
        Some(Fragment {
            key: FragKey {
                src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
                dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
                protocol: packet[9],
                ident: u16::from_be_bytes([packet[4], packet[5]]),
            },
            offset: usize::from(flags & OFFSET_MASK) * 8,
            more_fragments: flags & FLAG_MF != 0,
            header: &packet[..ihl],
            payload: &packet[ihl..total],
        })
    }

    /// Whether this is really a fragment (MF set or a non-zero offset), i.e. whether it needs
    /// reassembly at all.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.offset != 0
    }
}

/// Limits of a [`Reassembler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// How long a datagram may take to be completed, counted from its first fragment.
    pub timeout: Duration,
    /// Bytes charged over all pending datagrams: payload, [`PIECE_COST`] per piece and
    /// [`DATAGRAM_COST`] per datagram.
    pub max_bytes: usize,
    /// Datagrams pending at once.
    pub max_datagrams: usize,
    /// Fragments from one source that may arrive between two of a pending datagram before
    /// it counts as stale (Linux's `ipfrag_max_dist`); 0 turns the check off.
    pub max_dist: u32,
}

impl Default for ReassemblyConfig {
    /// 30 s, 4 MiB, 1,024 datagrams, a distance of 64 fragments.
    fn default() -> Self {
        ReassemblyConfig {
            timeout: Duration::from_secs(30),
            max_bytes: 4 << 20,
            max_datagrams: 1024,
            max_dist: 64,
        }
    }
}

/// What became of a pushed fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept (or ignored as an exact duplicate); the datagram is not complete yet.
    Incomplete,
    /// The fragment completed its datagram: the first fragment's header with its options
    /// (total length set, MF and offset clear, DF as in the first fragment, checksum
    /// computed) followed by the payload.
    Complete(Vec<u8>),
    /// The fragment was refused, and with it its datagram for the reasons that say so.
    Dropped(DropReason),
}

/// Why a fragment or a datagram was discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The fragment overlaps data already received and is not an exact duplicate: the datagram
    /// is discarded.
    Overlap,
    /// The fragment reaches past [`MAX_PAYLOAD`], or the datagram with its first fragment's
    /// options would be longer than 65,535 bytes: the datagram is discarded.
    TooBig,
    /// The fragment alone is malformed: empty (unless it is a whole datagram), a non-last
    /// fragment whose length is not a multiple of 8, or an offset not a multiple of 8. Only the
    /// fragment is dropped.
    BadLength,
    /// A last fragment ending elsewhere than the known end, or data beyond the known end: the
    /// datagram is discarded.
    InconsistentEnd,
    /// The memory cap: an older datagram evicted to make room, or a fragment refused (with its
    /// datagram, which could never be completed under the cap).
    MemoryLimit,
    /// The cap on pending datagrams: the oldest evicted for a new one, or a fragment refused when
    /// the cap is zero.
    TooManyDatagrams,
    /// An exact duplicate, ignored (counted only; the datagram continues and the push returns
    /// [`Outcome::Incomplete`] or [`Outcome::Complete`], never `Dropped(Duplicate)`).
    Duplicate,
    /// The fragment at offset 0 came with a header shorter than 20 bytes: only the fragment is
    /// dropped. (An extension; validated input never triggers it.)
    BadHeader,
    /// Fragments of one datagram came Not-ECT and ECN-capable (ECT or CE) both (RFC 3168
    /// 5.3): no ECN field of the whole would be true to all of them, and the complete
    /// datagram is discarded, as Linux does.
    EcnMismatch,
    /// More than [`ReassemblyConfig::max_dist`] fragments arrived from the datagram's source
    /// since its last one: its Identification may have wrapped (RFC 4963), and what it
    /// holds is discarded; the fragment starts the datagram afresh.
    TooFar,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DropReason::Overlap => "overlapping fragment",
            DropReason::TooBig => "reassembled datagram too big",
            DropReason::BadLength => "bad fragment length",
            DropReason::InconsistentEnd => "inconsistent end of datagram",
            DropReason::MemoryLimit => "reassembly memory limit",
            DropReason::TooManyDatagrams => "too many datagrams being reassembled",
            DropReason::Duplicate => "duplicate fragment",
            DropReason::BadHeader => "bad first fragment header",
            DropReason::EcnMismatch => "fragments with Not-ECT and ECN-capable codepoints",
            DropReason::TooFar => "stale datagram (its source sent too many fragments since)",
        };
        f.write_str(s)
    }
}

/// A datagram whose reassembly timer ran out, removed from the reassembler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    pub key: FragKey,
    /// The header of the offset-0 fragment as received (options included) followed by the first
    /// 8 bytes of its payload (fewer if it had fewer), if that fragment was received. RFC 792 and
    /// RFC 1122 section 3.3.2: send ICMP Time Exceeded, code 1, quoting this, only in that case.
    pub first_fragment: Option<Vec<u8>>,
}

/// Counters of a [`Reassembler`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Fragments pushed (everything handed to [`Reassembler::push`]).
    pub fragments: u64,
    /// Datagrams returned as [`Outcome::Complete`].
    pub completed: u64,
    /// Datagrams whose timer ran out.
    pub timeouts: u64,
    /// Exact duplicates ignored.
    pub duplicates: u64,
    pub overlap: u64,
    pub too_big: u64,
    pub bad_length: u64,
    pub inconsistent_end: u64,
    pub memory_limit: u64,
    pub too_many_datagrams: u64,
    pub bad_header: u64,
    pub ecn_mismatch: u64,
    pub too_far: u64,
}

impl ReassemblyStats {
    /// The counter for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Overlap => self.overlap,
            DropReason::TooBig => self.too_big,
            DropReason::BadLength => self.bad_length,
            DropReason::InconsistentEnd => self.inconsistent_end,
            DropReason::MemoryLimit => self.memory_limit,
            DropReason::TooManyDatagrams => self.too_many_datagrams,
            DropReason::Duplicate => self.duplicates,
            DropReason::BadHeader => self.bad_header,
            DropReason::EcnMismatch => self.ecn_mismatch,
            DropReason::TooFar => self.too_far,
        }
    }

    /// Reassembly failures (Linux's ReasmFails): datagrams timed out and every drop but
    /// ignored duplicates.
    pub fn failures(&self) -> u64 {
        [
            self.timeouts,
            self.overlap,
            self.too_big,
            self.bad_length,
            self.inconsistent_end,
            self.memory_limit,
            self.too_many_datagrams,
            self.bad_header,
            self.ecn_mismatch,
            self.too_far,
        ]
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b))
    }

    fn count(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Overlap => &mut self.overlap,
            DropReason::TooBig => &mut self.too_big,
            DropReason::BadLength => &mut self.bad_length,
            DropReason::InconsistentEnd => &mut self.inconsistent_end,
            DropReason::MemoryLimit => &mut self.memory_limit,
            DropReason::TooManyDatagrams => &mut self.too_many_datagrams,
            DropReason::Duplicate => &mut self.duplicates,
            DropReason::BadHeader => &mut self.bad_header,
            DropReason::EcnMismatch => &mut self.ecn_mismatch,
            DropReason::TooFar => &mut self.too_far,
        };
        *c = c.saturating_add(1);
    }
}

/// A received piece of a datagram: its length and where its bytes are in the datagram's buffer
/// (keyed by offset in [`Pending::pieces`]). Offsets, lengths and positions are at most
/// [`MAX_PAYLOAD`], so 16 bits hold them.
#[derive(Clone, Copy, Debug)]
struct Piece {
    len: u16,
    at: u16,
}

/// A datagram being reassembled.
struct Pending {
    /// When its first fragment arrived; the timer runs from here.
    started: Instant,
    /// Creation order, to tell apart datagrams started at the same instant.
    seq: u64,
    /// The accepted payload bytes, in arrival order.
    data: Vec<u8>,
    /// The pieces of `data`, by offset in the datagram. Never overlapping, never past `total`.
    pieces: BTreeMap<u16, Piece>,
    /// The payload length, once the last fragment arrived.
    total: Option<usize>,
    /// The header of the offset-0 fragment, once it arrived.
    first_header: Option<Vec<u8>>,
    /// The ECN codepoints the accepted fragments carried, one bit each (`1 << codepoint`).
    ecn: u8,
    /// Its source's fragment count when its last fragment arrived.
    last_arrival: u64,
}

impl Pending {
    /// What it is charged against `max_bytes`.
    fn charge(&self) -> usize {
        DATAGRAM_COST + self.data.len() + self.pieces.len() * PIECE_COST
    }

    /// End of the highest piece (0 if none).
    fn max_end(&self) -> usize {
        self.pieces
            .iter()
            .next_back()
            .map_or(0, |(&off, p)| usize::from(off) + usize::from(p.len))
    }

    /// Do pieces held cover `offset..end` without a gap?
    fn covers(&self, offset: usize, end: usize) -> bool {
        let off16 = narrow(offset);
        let Some((&o, p)) = self.pieces.range(..=off16).next_back() else {
            return false;
        };
        let mut reach = usize::from(o) + usize::from(p.len);
        if reach <= offset {
            return false;
        }
        // Pieces never overlap: a run goes on where the next piece starts at its end.
        for (&o, p) in self
            .pieces
            .range((std::ops::Bound::Excluded(off16), std::ops::Bound::Unbounded))
        {
            if reach >= end || usize::from(o) != reach {
                break;
            }
            reach += usize::from(p.len);
        }
        reach >= end
    }

    fn bytes(&self, piece: Piece) -> &[u8] {
        let at = usize::from(piece.at);
        self.data
            .get(at..at + usize::from(piece.len))
            .unwrap_or_default()
    }

    fn is_complete(&self) -> bool {
        self.total == Some(self.data.len())
    }

    /// The offset-0 fragment, if it arrived, as far as an ICMP error quotes it (576
    /// bytes in all, RFC 1812 4.3.2.3, as Linux's ip_expire quotes its head fragment; it
    /// was header and 8 bytes, RFC 792's least).
    fn quote(&self) -> Option<Vec<u8>> {
        let header = self.first_header.as_ref()?;
        let first = self.pieces.get(&0)?;
        let bytes = self.bytes(*first);
        let room = crate::icmp::ERROR_QUOTE_MAX.saturating_sub(header.len());
        let bytes = &bytes[..bytes.len().min(room)];
        let mut out = Vec::with_capacity(header.len() + bytes.len());
        out.extend_from_slice(header);
        out.extend_from_slice(bytes);
        Some(out)
    }

    /// Make room for `extra` more bytes in `data`, growing geometrically but never past the
    /// known total (or [`MAX_PAYLOAD`] while it is unknown).
    fn reserve(&mut self, extra: usize) {
        let need = self.data.len() + extra;
        if need <= self.data.capacity() {
            return;
        }
        let ceiling = self.total.unwrap_or(MAX_PAYLOAD).max(need);
        let target = need
            .max(self.data.capacity().saturating_mul(2))
            .min(ceiling);
        self.data.reserve_exact(target - self.data.len());
    }
}

/// Reassembles IPv4 datagrams from their fragments. See the [module docs](self).
pub struct Reassembler {
    cfg: ReassemblyConfig,
    table: HashMap<FragKey, Pending>,
    /// Pending datagrams by (start, creation order): oldest first, for timeouts and eviction.
    age: BTreeMap<(Instant, u64), FragKey>,
    next_seq: u64,
    /// Payload bytes held by all pending datagrams.
    buffered: usize,
    /// Timed-out datagrams found by `push`, with their deadline, waiting for `poll`.
    expired: VecDeque<(Instant, Expired)>,
    /// Per source with datagrams pending: fragments arrived, and datagrams pending (the
    /// entry goes with its last datagram, so at most `max_datagrams` entries).
    sources: HashMap<Ipv4Addr, (u64, usize)>,
    stats: ReassemblyStats,
}

impl Reassembler {
    pub fn new(cfg: ReassemblyConfig) -> Self {
        Reassembler {
            cfg,
            table: HashMap::new(),
            age: BTreeMap::new(),
            next_seq: 0,
            buffered: 0,
            expired: VecDeque::new(),
            sources: HashMap::new(),
            stats: ReassemblyStats::default(),
        }
    }

    pub fn config(&self) -> &ReassemblyConfig {
        &self.cfg
    }

    /// Datagrams being reassembled.
    pub fn pending(&self) -> usize {
        self.table.len()
    }

    /// Bytes charged over all pending datagrams (never more than `max_bytes`): payload,
    /// [`PIECE_COST`] per piece and [`DATAGRAM_COST`] per datagram.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Add a fragment received at `now`.
    ///
    /// A packet that is not a fragment (offset 0, MF clear) needs no reassembly and should not
    /// be pushed, but if it is and no datagram with its key is pending, it is returned at once
    /// as [`Outcome::Complete`] (its header as a reassembled datagram's would be).
    ///
    /// Datagrams whose timer ran out by `now` are retired first (so a late fragment never
    /// completes them) and reported by the next [`poll`](Self::poll).
    pub fn push(&mut self, frag: Fragment<'_>, now: Instant) -> Outcome {
        self.stats.fragments = self.stats.fragments.saturating_add(1);
        self.retire_due(now);

        let key = frag.key;
        let offset = frag.offset;
        let len = frag.payload.len();
        let mf = frag.more_fragments;

        // Malformed on its own: only this fragment goes. Offsets count 8-byte units, so every
        // fragment but the last carries a non-zero multiple of 8 bytes; only a whole datagram
        // (offset 0, MF clear) may be empty.
        let misaligned = !offset.is_multiple_of(8);
        let bad_size = if mf {
            len == 0 || !len.is_multiple_of(8)
        } else {
            len == 0 && offset != 0
        };
        let bad_length = misaligned || bad_size;
        if bad_length {
            return self.refuse(DropReason::BadLength);
        }
        if offset == 0 && frag.header.len() < HEADER_LEN {
            return self.refuse(DropReason::BadHeader);
        }
        let end = match offset.checked_add(len) {
            Some(end) if end <= MAX_PAYLOAD => end,
            _ => return self.discard(&key, DropReason::TooBig),
        };

        if let Some(source) = self.sources.get_mut(&key.src) {
            source.0 += 1;
            let arrived = source.0;
            let max = u64::from(self.cfg.max_dist);
            if let Some(entry) = self.table.get_mut(&key) {
                let stale = max > 0 && arrived - entry.last_arrival > max;
                entry.last_arrival = arrived;
                if stale {
                    self.remove(&key);
                    self.stats.count(DropReason::TooFar);
                }
            }
        }
        if !self.table.contains_key(&key) {
            if !mf && offset == 0 {
                let Some(out) = build(&key, frag.header, len, [frag.payload], false) else {
                    return self.refuse(DropReason::TooBig);
                };
                self.stats.completed = self.stats.completed.saturating_add(1);
                return Outcome::Complete(out);
            }
            return self.start(frag, end, now);
        }

        // Checks against what this datagram already holds; nothing is changed until they pass.
        let Some(entry) = self.table.get(&key) else {
            return Outcome::Incomplete;
        };
        let end_conflict = if mf {
            entry.total.is_some_and(|t| end > t)
        } else {
            entry.total.is_some_and(|t| end != t) || entry.max_end() > end
        };
        if end_conflict {
            return self.discard(&key, DropReason::InconsistentEnd);
        }
        // `offset` and `end` are at most MAX_PAYLOAD, so they fit 16 bits.
        if entry.covers(offset, end) {
            return self.duplicate(&key, mf, end);
        }
        let off16 = narrow(offset);
        let before = entry
            .pieces
            .range(..off16)
            .next_back()
            .is_some_and(|(&o, p)| usize::from(o) + usize::from(p.len) > offset);
        let after = entry
            .pieces
            .range(off16..)
            .next()
            .is_some_and(|(&o, _)| usize::from(o) < end);
        if before || after {
            return self.discard(&key, DropReason::Overlap);
        }
        if entry.charge() + len + PIECE_COST > self.cfg.max_bytes {
            // Even alone under the cap this datagram could not hold this fragment.
            return self.discard(&key, DropReason::MemoryLimit);
        }
        self.make_room(len + PIECE_COST, Some(&key));
        self.insert(&key, frag, end)
    }

    /// Retire the datagrams whose timer ran out by `now` and return them, with those retired by
    /// earlier pushes. Datagrams only evicted or discarded are not reported.
    pub fn poll(&mut self, now: Instant) -> Vec<Expired> {
        self.retire_due(now);
        self.expired.drain(..).map(|(_, e)| e).collect()
    }

    /// When [`poll`](Self::poll) next has something to do: the earliest deadline (possibly past,
    /// if a push already retired a datagram), or `None` when nothing is pending.
    pub fn poll_at(&self) -> Option<Instant> {
        let queued = self.expired.iter().map(|(d, _)| *d).min();
        let next = self
            .age
            .keys()
            .next()
            .map(|&(started, _)| started + self.cfg.timeout);
        match (queued, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A fragment refused on its own.
    fn refuse(&mut self, reason: DropReason) -> Outcome {
        self.stats.count(reason);
        Outcome::Dropped(reason)
    }

    /// A fragment refused together with the datagram it belongs to, if one is pending.
    fn discard(&mut self, key: &FragKey, reason: DropReason) -> Outcome {
        self.remove(key);
        self.refuse(reason)
    }

    /// The first fragment of a new datagram.
    fn start(&mut self, frag: Fragment<'_>, end: usize, now: Instant) -> Outcome {
        let len = frag.payload.len();
        if self.cfg.max_datagrams == 0 {
            return self.refuse(DropReason::TooManyDatagrams);
        }
        if DATAGRAM_COST + len + PIECE_COST > self.cfg.max_bytes {
            return self.refuse(DropReason::MemoryLimit);
        }
        while self.table.len() >= self.cfg.max_datagrams {
            if !self.evict_oldest(None, DropReason::TooManyDatagrams) {
                break;
            }
        }
        self.make_room(DATAGRAM_COST + len + PIECE_COST, None);
        self.buffered += DATAGRAM_COST;
        let source = self.sources.entry(frag.key.src).or_insert((0, 0));
        source.1 += 1;
        let last_arrival = source.0;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.age.insert((now, seq), frag.key);
        self.table.insert(
            frag.key,
            Pending {
                started: now,
                seq,
                data: Vec::new(),
                pieces: BTreeMap::new(),
                total: None,
                first_header: None,
                ecn: 0,
                last_arrival,
            },
        );
        self.insert(&frag.key, frag, end)
    }

    /// Store a fragment that passed every check, and complete the datagram if it was the last
    /// piece missing.
    fn insert(&mut self, key: &FragKey, frag: Fragment<'_>, end: usize) -> Outcome {
        let Some(entry) = self.table.get_mut(key) else {
            return Outcome::Incomplete;
        };
        if !frag.more_fragments {
            entry.total = Some(end);
        }
        let len = frag.payload.len();
        entry.reserve(len);
        let at = narrow(entry.data.len());
        entry.data.extend_from_slice(frag.payload);
        entry.pieces.insert(
            narrow(frag.offset),
            Piece {
                len: narrow(len),
                at,
            },
        );
        if frag.offset == 0 {
            entry.first_header = Some(frag.header.to_vec());
        }
        entry.ecn |= 1 << (frag.header.get(1).copied().unwrap_or(0) & ECN_MASK);
        self.buffered += len + PIECE_COST;
        if entry.is_complete() {
            self.finish(key)
        } else {
            Outcome::Incomplete
        }
    }

    /// An exact duplicate: ignored, except that an MF-clear copy tells where the datagram ends
    /// (the checks in `push` made sure that agrees with what was received).
    fn duplicate(&mut self, key: &FragKey, mf: bool, end: usize) -> Outcome {
        self.stats.count(DropReason::Duplicate);
        let Some(entry) = self.table.get_mut(key) else {
            return Outcome::Incomplete;
        };
        if !mf {
            entry.total = Some(end);
        }
        if entry.is_complete() {
            self.finish(key)
        } else {
            Outcome::Incomplete
        }
    }

    /// Remove a complete datagram and put it together: one copy of its payload.
    fn finish(&mut self, key: &FragKey) -> Outcome {
        let Some(entry) = self.remove(key) else {
            return Outcome::Incomplete;
        };
        // RFC 3168 5.3: Not-ECT fragments beside ECN-capable ones discard the datagram; a
        // Congestion Experienced mark on any of them marks the whole (Linux's
        // ip_frag_ecn_table); otherwise the first fragment's codepoint stands.
        let not_ect = entry.ecn & 1 != 0;
        if not_ect && entry.ecn != 1 {
            self.stats.count(DropReason::EcnMismatch);
            return Outcome::Dropped(DropReason::EcnMismatch);
        }
        let ce = entry.ecn & (1 << ECN_CE) != 0;
        let header = entry.first_header.as_deref().unwrap_or_default();
        let pieces = entry.pieces.values().map(|&p| entry.bytes(p));
        let Some(out) = build(key, header, entry.data.len(), pieces, ce) else {
            self.stats.count(DropReason::TooBig);
            return Outcome::Dropped(DropReason::TooBig);
        };
        self.stats.completed = self.stats.completed.saturating_add(1);
        Outcome::Complete(out)
    }

    /// Take a datagram out of the tables, releasing its bytes.
    fn remove(&mut self, key: &FragKey) -> Option<Pending> {
        let entry = self.table.remove(key)?;
        self.age.remove(&(entry.started, entry.seq));
        if let Some(source) = self.sources.get_mut(&key.src) {
            source.1 = source.1.saturating_sub(1);
            if source.1 == 0 {
                self.sources.remove(&key.src);
            }
        }
        self.buffered = self.buffered.saturating_sub(entry.charge());
        Some(entry)
    }

    /// Evict the oldest pending datagram other than `except`, counting it under `reason`.
    fn evict_oldest(&mut self, except: Option<&FragKey>, reason: DropReason) -> bool {
        let victim = self.age.values().find(|k| Some(*k) != except).copied();
        match victim {
            Some(k) => {
                self.remove(&k);
                self.stats.count(reason);
                true
            }
            None => false,
        }
    }

    /// Evict the oldest datagrams other than `except` until `extra` more bytes fit under
    /// `max_bytes`. The callers checked that they fit once the others are gone.
    fn make_room(&mut self, extra: usize, except: Option<&FragKey>) {
        while self.buffered + extra > self.cfg.max_bytes {
            if !self.evict_oldest(except, DropReason::MemoryLimit) {
                break;
            }
        }
    }

    /// Move the datagrams whose timer ran out by `now` to the queue `poll` empties.
    fn retire_due(&mut self, now: Instant) {
        while let Some((&(started, seq), &key)) = self.age.first_key_value() {
            let deadline = started + self.cfg.timeout;
            if deadline > now {
                break;
            }
            let Some(entry) = self.remove(&key) else {
                // Cannot happen (the tables agree), but never loop on a stale entry.
                self.age.remove(&(started, seq));
                continue;
            };
            self.stats.timeouts = self.stats.timeouts.saturating_add(1);
            let record = Expired {
                key,
                first_fragment: entry.quote(),
            };
            self.expired.push_back((deadline, record));
            // Never more records than datagrams could be pending, should `poll` be forgotten.
            while self.expired.len() > self.cfg.max_datagrams.max(1) {
                self.expired.pop_front();
            }
        }
    }
}

impl fmt::Debug for Reassembler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembler")
            .field("cfg", &self.cfg)
            .field("pending", &self.table.len())
            .field("buffered", &self.buffered)
            .field("expired", &self.expired.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// A value known to be at most [`MAX_PAYLOAD`], as 16 bits.
fn narrow(x: usize) -> u16 {
    u16::try_from(x).unwrap_or(u16::MAX)
}

/// The reassembled datagram: a 20-byte header made from `first` (the offset-0 fragment's
/// header; TOS, TTL and DF kept, everything else rewritten; the ECN field Congestion
/// Experienced when `ce`) and the `pieces` in order, whose lengths add up to `payload_len`
/// (at most [`MAX_PAYLOAD`]).
fn build<'p>(
    key: &FragKey,
    first: &[u8],
    payload_len: usize,
    pieces: impl IntoIterator<Item = &'p [u8]>,
    ce: bool,
) -> Option<Vec<u8>> {
    // The first fragment's header as it came, options included (validated by the caller:
    // a whole number of 32-bit words, 20 to 60 bytes; anything else keeps 20).
    let hl = match first.len() {
        n @ HEADER_LEN..=MAX_HEADER_LEN if n % 4 == 0 => n,
        _ => HEADER_LEN,
    };
    let total = hl + payload_len;
    if total > usize::from(u16::MAX) {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    let mut h = [0u8; MAX_HEADER_LEN];
    let n = first.len().min(hl);
    h[..n].copy_from_slice(&first[..n]);
    let h = &mut h[..hl];
    let flags = u16::from_be_bytes([h[6], h[7]]) & FLAG_DF;
    h[0] = 0x40 | (hl / 4) as u8;
    if ce {
        h[1] |= ECN_CE;
    }
    h[2..4].copy_from_slice(&narrow(total).to_be_bytes());
    h[4..6].copy_from_slice(&key.ident.to_be_bytes());
    h[6..8].copy_from_slice(&flags.to_be_bytes());
    h[9] = key.protocol;
    h[10] = 0;
    h[11] = 0;
    h[12..16].copy_from_slice(&key.src.octets());
    h[16..20].copy_from_slice(&key.dst.octets());
    let sum = checksum(h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(h);
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
