//! Fuzz targets for the stack's tables, driven by a sequence of calls rather than by a
//! wire format: the input's bytes are choices (which call, which address, how much time
//! passes), as in the whole-stack target.
//!
//! [`arp_cache`]: the neighbour cache (`arp::NeighborCache`) under resolutions, received
//! ARP packets, timers, static entries, removals, lookups and negative advice, with small
//! limits read from the input so that every bound is reached. Each queued packet is numbered, and a model
//! beside the cache keeps each address's queue as the cache documents it (the oldest gives
//! way). After every call it checks:
//! - every bound of `CacheConfig` (entries, packets per address and in all);
//! - no packet is lost or duplicated: each comes back once (sent, released to the MAC
//!   that answered for its address, or returned as a failure or to a static entry), or
//!   is counted as dropped, or is still queued, and the drop counters grow by exactly the
//!   packets dropped;
//! - what `pending()` and the entries' views say agree with each other and the model;
//! - after `poll(now)`, nothing is due at or before `now` (else the runtime would spin).

use arbitrary::{Result as AResult, Unstructured};
use arp::{ArpRepr, CacheConfig, EntryState, NeighborCache, Operation, Resolve};
use netif::{Duration, Instant, MacAddr};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::Ipv4Addr;

const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

/// The addresses the calls pick from: a few neighbours, ours, and the ones no neighbour
/// can have (unspecified, limited broadcast, multicast).
fn pick_ip(u: &mut Unstructured) -> AResult<Ipv4Addr> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=5 => Ipv4Addr::new(10, 0, 0, 2 + u.int_in_range(0u8..=5)?),
        6 => OUR_IP,
        7 => Ipv4Addr::UNSPECIFIED,
        8 => Ipv4Addr::BROADCAST,
        _ => Ipv4Addr::new(224, 0, 0, 251),
    })
}

fn pick_mac(u: &mut Unstructured) -> AResult<MacAddr> {
    Ok(match u.int_in_range(0u8..=7)? {
        0..=4 => MacAddr([0x02, 0, 0, 0, 1, u.int_in_range(0u8..=3)?]),
        5 => OUR_MAC,
        6 => MacAddr([0; 6]),
        _ => MacAddr([0xff; 6]),
    })
}

/// The neighbour cache with its model: each address's queued packets, oldest first.
struct ArpWorld {
    cache: NeighborCache<(u64, Ipv4Addr)>,
    queues: BTreeMap<Ipv4Addr, VecDeque<u64>>,
    /// Packets handed to the cache, and those that came back (or were dropped).
    given: u64,
    done: HashSet<u64>,
    /// Drops seen by the model (returned or inferred), against the cache's counters.
    dropped: u64,
    now: Instant,
}

impl ArpWorld {
    fn new(cfg: CacheConfig) -> ArpWorld {
        ArpWorld {
            cache: NeighborCache::new(cfg),
            queues: BTreeMap::new(),
            given: 0,
            done: HashSet::new(),
            dropped: 0,
            now: Instant::ZERO,
        }
    }

    /// A packet came back from the cache: once only, and for the address it was queued for.
    fn back(&mut self, (id, ip): (u64, Ipv4Addr), for_ip: Ipv4Addr) {
        assert_eq!(ip, for_ip, "packet {id} for {ip} came back for {for_ip}");
        assert!(id < self.given, "packet {id} was never given");
        assert!(self.done.insert(id), "packet {id} came back twice");
    }

    /// An address's whole queue came back (resolved, failed or made static): in order.
    fn queue_back(&mut self, ip: Ipv4Addr, packets: &[(u64, Ipv4Addr)]) {
        let queued: Vec<u64> = self.queues.remove(&ip).unwrap_or_default().into();
        let ids: Vec<u64> = packets.iter().map(|p| p.0).collect();
        assert_eq!(ids, queued, "{ip}: the queue that came back");
        for &p in packets {
            self.back(p, ip);
        }
    }

    /// After a call: the model's queues follow the cache's views (what left a queue
    /// without coming back was dropped, oldest first), and the invariants hold.
    fn check(&mut self, cfg: &CacheConfig) {
        let views = self.cache.entries(self.now);
        let mut pending_in_views = 0;
        let mut bytes_in_views = 0;
        let incomplete: BTreeMap<Ipv4Addr, usize> = views
            .iter()
            .filter(|v| v.state == EntryState::Incomplete)
            .map(|v| (v.ip, v.pending))
            .collect();
        for v in &views {
            if v.state == EntryState::Incomplete {
                assert!(v.mac.is_none(), "{}: incomplete with a MAC", v.ip);
                assert!(
                    v.pending <= cfg.max_pending_per_entry,
                    "{}: {} packets queued",
                    v.ip,
                    v.pending
                );
                assert!(
                    v.pending_bytes <= cfg.max_pending_bytes_per_entry || v.pending == 1,
                    "{}: {} bytes queued in {} packets",
                    v.ip,
                    v.pending_bytes,
                    v.pending
                );
                pending_in_views += v.pending;
                bytes_in_views += v.pending_bytes;
            } else {
                assert_eq!(v.pending, 0, "{}: {:?} with packets queued", v.ip, v.state);
                assert!(v.mac.is_some(), "{}: {:?} without a MAC", v.ip, v.state);
            }
        }
        assert!(views.len() <= cfg.max_entries, "{} entries", views.len());
        assert_eq!(self.cache.len(), views.len(), "len() against the views");
        assert_eq!(self.cache.pending(), pending_in_views, "pending()");
        assert!(
            pending_in_views <= cfg.max_pending_total,
            "{pending_in_views} queued"
        );
        assert_eq!(
            self.cache.pending_bytes(),
            bytes_in_views,
            "pending_bytes()"
        );
        assert!(
            bytes_in_views <= cfg.max_pending_bytes_total,
            "{bytes_in_views} bytes queued"
        );
        let ips: Vec<Ipv4Addr> = self.queues.keys().copied().collect();
        for ip in ips {
            let keep = incomplete.get(&ip).copied().unwrap_or(0);
            let q = self.queues.get_mut(&ip).expect("listed");
            assert!(
                keep <= q.len(),
                "{ip}: {keep} queued, the model has {}",
                q.len()
            );
            while q.len() > keep {
                let id = q.pop_front().expect("longer than keep");
                assert!(
                    self.done.insert(id),
                    "packet {id} dropped after it came back"
                );
                self.dropped += 1;
            }
            if q.is_empty() {
                self.queues.remove(&ip);
            }
        }
        for (ip, n) in &incomplete {
            let modelled = self.queues.get(ip).map_or(0, VecDeque::len);
            assert_eq!(*n, modelled, "{ip}: queued packets the model never saw");
        }
        assert_eq!(
            self.cache.stats().pending_dropped.total(),
            self.dropped,
            "drop counters against the packets dropped"
        );
        let queued: usize = self.queues.values().map(VecDeque::len).sum();
        assert_eq!(
            self.given,
            self.done.len() as u64 + queued as u64,
            "packets given against those back, dropped or queued"
        );
    }
}

/// The neighbour cache target (see the module doc).
pub fn arp_cache(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(cfg) = arp_config(&mut u) else {
        return;
    };
    let mut w = ArpWorld::new(cfg);
    for _ in 0..512 {
        if u.is_empty() || arp_step(&mut u, &mut w).is_err() {
            break;
        }
        w.check(&cfg);
    }
    // Time runs on until every resolution failed or was answered: nothing stays queued.
    for _ in 0..64 {
        let Some(at) = w.cache.poll_at() else {
            break;
        };
        w.now = w.now.max(at);
        arp_poll(&mut w);
        w.check(&cfg);
    }
    assert_eq!(
        w.cache.pending(),
        0,
        "packets still queued when time ran out"
    );
}

fn arp_config(u: &mut Unstructured) -> AResult<CacheConfig> {
    Ok(CacheConfig {
        max_entries: u.int_in_range(0..=6)?,
        reachable_time: Duration::from_millis(u.int_in_range(0..=4000)?),
        retransmit_interval: Duration::from_millis(u.int_in_range(1..=1500)?),
        max_retries: u.int_in_range(0..=3)?,
        max_pending_per_entry: u.int_in_range(0..=4)?,
        max_pending_total: u.int_in_range(0..=6)?,
        max_pending_bytes_per_entry: u.int_in_range(0..=3000)?,
        max_pending_bytes_total: u.int_in_range(0..=6000)?,
        request_rate: u.int_in_range(0..=4)?,
        request_burst: u.int_in_range(0..=3)?,
    })
}

fn arp_poll(w: &mut ArpWorld) {
    let out = w.cache.poll(w.now);
    for (ip, packets) in out.failures {
        w.queue_back(ip, &packets);
    }
    if let Some(at) = w.cache.poll_at() {
        assert!(at > w.now, "poll({:?}) left work due at {at:?}", w.now);
    }
}

fn arp_step(u: &mut Unstructured, w: &mut ArpWorld) -> AResult<()> {
    match u.int_in_range(0u8..=9)? {
        0..=2 => {
            let ip = pick_ip(u)?;
            let id = w.given;
            w.given += 1;
            let bytes = u.int_in_range(0..=2000)?;
            match w.cache.resolve_sized(ip, (id, ip), bytes, w.now) {
                Resolve::Ready(_, p) => w.back(p, ip),
                Resolve::Dropped(p, _) => {
                    w.back(p, ip);
                    w.dropped += 1;
                }
                Resolve::Queued { .. } => w.queues.entry(ip).or_default().push_back(id),
            }
        }
        3 | 4 => {
            let op = match u.int_in_range(0u8..=4)? {
                0 | 1 => Operation::Request,
                2 | 3 => Operation::Reply,
                n => Operation::Unknown(u16::from(n)),
            };
            let repr = ArpRepr {
                op,
                sender_mac: pick_mac(u)?,
                sender_ip: pick_ip(u)?,
                target_mac: pick_mac(u)?,
                target_ip: pick_ip(u)?,
            };
            let out = if u.arbitrary()? {
                w.cache.process(&repr, OUR_IP, OUR_MAC, w.now)
            } else {
                let for_us = u.arbitrary()?;
                w.cache.process_for(&repr, OUR_IP, OUR_MAC, for_us, w.now)
            };
            if let Some(reply) = out.reply {
                assert_eq!(reply.op, Operation::Reply);
                assert_eq!(reply.target_mac, repr.sender_mac, "a reply to the asker");
            }
            if !out.released.is_empty() {
                assert!(
                    out.released.iter().all(|(mac, _)| *mac == repr.sender_mac),
                    "released to another MAC than the answer's"
                );
                let packets: Vec<_> = out.released.into_iter().map(|(_, p)| p).collect();
                w.queue_back(repr.sender_ip, &packets);
            }
        }
        5 | 6 => {
            w.now += Duration::from_millis(u.int_in_range(0..=2500)?);
            arp_poll(w);
        }
        7 => {
            let ip = pick_ip(u)?;
            let mac = w.cache.lookup(ip, w.now);
            if ip.is_unspecified() {
                assert_eq!(mac, None, "0.0.0.0 has no neighbour");
            }
        }
        8 => {
            let ip = pick_ip(u)?;
            let mac = pick_mac(u)?;
            if let Ok(packets) = w.cache.insert_static(ip, mac) {
                if !packets.is_empty() || w.queues.contains_key(&ip) {
                    w.queue_back(ip, &packets);
                }
                assert_eq!(w.cache.lookup(ip, w.now), Some(mac), "a static entry");
            }
        }
        _ => match u.int_in_range(0u8..=2)? {
            0 => {
                w.cache.remove(pick_ip(u)?);
            }
            1 => w.cache.clear(),
            _ => {
                let ip = pick_ip(u)?;
                let known = w.cache.lookup(ip, w.now);
                let due_before = w.cache.poll_at().is_some_and(|at| at <= w.now);
                if let Some(mac) = w.cache.suspect(ip, w.now) {
                    // Asked again at once, unicast to the MAC in use, which stays in use.
                    assert_eq!(Some(mac), known);
                    assert_eq!(w.cache.lookup(ip, w.now), known);
                }
                let due_after = w.cache.poll_at().is_some_and(|at| at <= w.now);
                assert!(
                    !due_after || due_before,
                    "negative advice left work due at once"
                );
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target's model holds on a few hand-made call sequences: a packet queued and
    /// released by the answer, one dropped by the per-address limit, one failed.
    #[test]
    fn the_model_follows_a_resolution_a_drop_and_a_failure() {
        let cfg = CacheConfig {
            max_pending_per_entry: 1,
            ..CacheConfig::default()
        };
        let mut w = ArpWorld::new(cfg);
        let a = Ipv4Addr::new(10, 0, 0, 2);
        let b = Ipv4Addr::new(10, 0, 0, 3);
        for ip in [a, a, b] {
            let id = w.given;
            w.given += 1;
            assert!(matches!(
                w.cache.resolve(ip, (id, ip), w.now),
                Resolve::Queued { .. }
            ));
            w.queues.entry(ip).or_default().push_back(id);
            w.check(&cfg);
        }
        assert_eq!(w.dropped, 1, "the first packet for a gave way");
        let answer = ArpRepr {
            op: Operation::Reply,
            sender_mac: MacAddr([0x02, 0, 0, 0, 1, 1]),
            sender_ip: a,
            target_mac: OUR_MAC,
            target_ip: OUR_IP,
        };
        let out = w.cache.process(&answer, OUR_IP, OUR_MAC, w.now);
        let packets: Vec<_> = out.released.into_iter().map(|(_, p)| p).collect();
        assert_eq!(packets, vec![(1, a)]);
        w.queue_back(a, &packets);
        w.check(&cfg);
        while let Some(at) = w.cache.poll_at() {
            w.now = at;
            arp_poll(&mut w);
            w.check(&cfg);
            if w.cache.pending() == 0 {
                break;
            }
        }
        assert!(w.done.contains(&2), "b's packet came back as a failure");
        assert_eq!(w.cache.pending(), 0);
    }
}
