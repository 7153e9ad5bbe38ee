//! Ephemeral port selection (RFC 6056 3.3.1, "Algorithm 1": a random starting point, then
//! the next free port), so ports are not predictable from one connection to the next.

/// The IANA dynamic range RFC 6056 recommends.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// A seeded xorshift64* generator: the seed comes from the OS's random source in the
/// runtime, and from the test in tests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Pick a free ephemeral port: `None` when every port of the range is in use.
pub fn pick(rng: &mut Rng, in_use: impl Fn(u16) -> bool) -> Option<u16> {
    let (lo, hi) = (*EPHEMERAL.start() as u32, *EPHEMERAL.end() as u32);
    let n = hi - lo + 1;
    let start = (rng.next_u64() % u64::from(n)) as u32;
    (0..n)
        .map(|i| (lo + (start + i) % n) as u16)
        .find(|p| !in_use(*p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ports_are_in_range_spread_and_not_sequential() {
        let mut rng = Rng::new(42);
        let ports: Vec<u16> = (0..1000)
            .map(|_| pick(&mut rng, |_| false).unwrap())
            .collect();
        assert!(ports.iter().all(|p| EPHEMERAL.contains(p)));
        let distinct: HashSet<_> = ports.iter().collect();
        assert!(
            distinct.len() > 950,
            "random, few repeats: {}",
            distinct.len()
        );
        let sequential = ports
            .windows(2)
            .filter(|w| w[1] == w[0].wrapping_add(1))
            .count();
        assert!(sequential < 5, "{sequential} sequential pairs");
    }

    #[test]
    fn busy_ports_are_skipped_and_exhaustion_is_none() {
        let mut rng = Rng::new(7);
        let p = pick(&mut rng, |p| p != 50000).unwrap();
        assert_eq!(p, 50000);
        assert_eq!(pick(&mut rng, |_| true), None);
    }

    #[test]
    fn the_search_wraps_round_the_range() {
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            for free in [*EPHEMERAL.start(), *EPHEMERAL.end()] {
                assert_eq!(pick(&mut rng, |p| p != free), Some(free), "seed {seed}");
            }
        }
    }
}
