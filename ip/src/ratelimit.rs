//! Token buckets on an explicit clock: one, and one per peer.

use netif::{Duration, Instant};
use std::collections::HashMap;
use std::net::Ipv4Addr;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_second: u32,
    burst: u32,
    tokens: u32,
    last: Instant,
}

impl TokenBucket {
    pub fn new(per_second: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            per_second,
            burst,
            tokens: burst,
            last: Instant::ZERO,
        }
    }

    /// The time one token takes to come back.
    fn step(&self) -> Duration {
        Duration::from_micros(1_000_000 / u64::from(self.per_second.max(1)))
            .max(Duration::from_micros(1))
    }

    /// Would `take` at `now` give a token? Nothing is drawn (Linux's `icmp_global_allow`,
    /// which only looks, before the destination's bucket is asked).
    pub fn allows(&self, now: Instant) -> bool {
        self.tokens > 0
            || (self.per_second > 0
                && self.burst > 0
                && now.saturating_duration_since(self.last) >= self.step())
    }

    /// Take a token if one is left at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.per_second > 0 {
            let step = self.step();
            let elapsed = now.saturating_duration_since(self.last);
            let earned = (elapsed.as_micros() / step.as_micros()) as u64;
            if earned > 0 {
                self.tokens = u64::from(self.tokens)
                    .saturating_add(earned)
                    .min(u64::from(self.burst)) as u32;
                self.last = if self.tokens == self.burst {
                    now
                } else {
                    self.last + step * earned as u32
                };
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// A token bucket per peer address, in a bounded table: a peer new to a full table takes
/// the place of the one that drew least recently (its bucket was likely full again).
#[derive(Clone, Debug)]
pub struct PerPeer {
    per_second: u32,
    burst: u32,
    max: usize,
    buckets: HashMap<Ipv4Addr, (TokenBucket, Instant)>,
}

impl PerPeer {
    pub fn new(per_second: u32, burst: u32, max: usize) -> PerPeer {
        PerPeer {
            per_second,
            burst,
            max,
            buckets: HashMap::new(),
        }
    }

    /// Take a token from `peer`'s bucket if one is left at `now`.
    pub fn take(&mut self, peer: Ipv4Addr, now: Instant) -> bool {
        if !self.buckets.contains_key(&peer) && self.buckets.len() >= self.max {
            // Ties broken by the address, so the choice does not depend on the map's order.
            let oldest = self.buckets.iter().map(|(a, (_, used))| (*used, *a)).min();
            if let Some((_, a)) = oldest {
                self.buckets.remove(&a);
            }
        }
        if self.max == 0 {
            return true;
        }
        let (bucket, used) = self
            .buckets
            .entry(peer)
            .or_insert_with(|| (TokenBucket::new(self.per_second, self.burst), now));
        *used = now;
        bucket.take(now)
    }

    /// Peers in the table.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_has_its_own_bucket_and_the_table_is_bounded() {
        let mut p = PerPeer::new(1, 6, 3);
        let t = Instant::from_secs(1);
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!((0..20).filter(|_| p.take(a, t)).count(), 6);
        // Another peer is not held back by the first.
        let b = Ipv4Addr::new(10, 0, 0, 2);
        assert!(p.take(b, t));
        // One more a second.
        assert!(p.take(a, t + Duration::from_secs(1)));
        assert!(!p.take(a, t + Duration::from_millis(1500)));
        // At most three peers: a fourth replaces the one that drew least recently (b).
        for i in 3..=4 {
            assert!(p.take(Ipv4Addr::new(10, 0, 0, i), t + Duration::from_secs(2)));
        }
        assert_eq!(p.len(), 3);
        assert!(!p.buckets.contains_key(&b));
        assert!(p.buckets.contains_key(&a));
    }

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 5);
        let t = Instant::from_secs(1);
        assert_eq!((0..20).filter(|_| b.take(t)).count(), 5);
        assert!(!b.take(t + Duration::from_millis(50)));
        assert!(b.take(t + Duration::from_millis(100)));
        assert_eq!(
            (0..20)
                .filter(|_| b.take(t + Duration::from_secs(10)))
                .count(),
            5
        );
    }

    #[test]
    fn a_clock_near_its_end_does_not_overflow_the_refill() {
        // A 1 us step: the tokens earned since the epoch are the elapsed micros, which
        // added to the tokens left overflowed.
        let mut b = TokenBucket::new(1_000_000, 10);
        let end = Instant::from_micros(u64::MAX);
        assert!(b.allows(end));
        assert_eq!((0..20).filter(|_| b.take(end)).count(), 10);
        let mut p = PerPeer::new(1_000_000, 10, 4);
        assert!(p.take(Ipv4Addr::new(10, 0, 0, 1), Instant::ZERO));
        assert!(p.take(Ipv4Addr::new(10, 0, 0, 1), end));
    }

    #[test]
    fn allows_says_what_take_would_do() {
        let t = Instant::from_secs(5);
        for (per_second, burst) in [(10, 0), (0, 0), (0, 3), (10, 1), (10, 5), (1_000_000, 2)] {
            let mut b = TokenBucket::new(per_second, burst);
            for dt in [0, 0, 50, 100, 100, 2_000, 2_000, 2_001, 9_000] {
                let now = t + Duration::from_millis(dt);
                let looked = b.allows(now);
                assert_eq!(looked, b.take(now), "{per_second}/s burst {burst} at {now}");
            }
        }
    }
}
