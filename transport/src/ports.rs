//! Ephemeral port selection (RFC 6056 3.3.1, "Algorithm 1": a random starting point, then
//! the next free port), so ports are not predictable from one connection to the next.

use ip::siphash::siphash24;

/// The IANA dynamic range RFC 6056 recommends.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// A set of ports, looked up in constant time (8 KiB): what an ephemeral port search
/// checks each candidate against, gathered in one pass over the sockets (a scan of every
/// socket for every candidate took the stack's lock for minutes with the range nearly
/// full).
pub struct PortSet(Vec<u64>);

impl PortSet {
    pub fn new(ports: impl IntoIterator<Item = u16>) -> PortSet {
        let mut bits = vec![0u64; 1024];
        for p in ports {
            bits[usize::from(p / 64)] |= 1 << (p % 64);
        }
        PortSet(bits)
    }

    pub fn contains(&self, p: u16) -> bool {
        self.0[usize::from(p / 64)] >> (p % 64) & 1 == 1
    }
}

/// The generator: SipHash-2-4 (a keyed pseudo-random function) over a counter, its key
/// derived from a seed that comes from the OS's random source in the runtime, and from the
/// test in tests. Its outputs tell nothing of its key, nor of the seed, which is the
/// stack's secret, the other keys (ISNs, cookies) come from too.
#[derive(Clone, Debug)]
pub struct Rng {
    k0: u64,
    k1: u64,
    n: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            k0: siphash24(seed, seed.rotate_left(17), b"tapip ports k0"),
            k1: siphash24(!seed, seed.rotate_left(41), b"tapip ports k1"),
            n: 0,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.n = self.n.wrapping_add(1);
        siphash24(self.k0, self.k1, &self.n.to_le_bytes())
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

    /// Ports an observer has seen must not tell it the ports to come, nor the stack's
    /// secret. The generator was xorshift64*, seeded with the secret itself (the key of
    /// the ISNs too): linear over GF(2), and a port (the output mod 2^14) is the state's
    /// low 14 bits times an odd constant, so each port gave 14 linear equations in the
    /// state's 64 bits and a handful gave away the state, every later port, and the seed.
    #[test]
    fn ports_seen_do_not_give_away_the_ports_to_come() {
        const C: u64 = 0x2545_f491_4f6c_dd1d;
        // The attacker's model: the state's bits as masks over the seed state's bits.
        fn step(m: [u64; 64]) -> [u64; 64] {
            let shr = |m: [u64; 64], s: usize| {
                std::array::from_fn(|j| m.get(j + s).copied().unwrap_or(0))
            };
            let shl =
                |m: [u64; 64], s: usize| std::array::from_fn(|j| if j >= s { m[j - s] } else { 0 });
            let xor =
                |a: [u64; 64], b: [u64; 64]| -> [u64; 64] { std::array::from_fn(|j| a[j] ^ b[j]) };
            let m = xor(m, shr(m, 12));
            let m = xor(m, shl(m, 25));
            xor(m, shr(m, 27))
        }
        let mut rng = Rng::new(0x0123_4567_89ab_cdef);
        let seen: Vec<u16> = (0..10)
            .map(|_| pick(&mut rng, |_| false).unwrap())
            .collect();
        let to_come: Vec<u16> = (0..10)
            .map(|_| pick(&mut rng, |_| false).unwrap())
            .collect();
        // C^-1 mod 2^64 (Newton), so a port's offset gives the state's low 14 bits.
        let inv = (0..6).fold(C, |i, _| {
            i.wrapping_mul(2u64.wrapping_sub(C.wrapping_mul(i)))
        });
        let mut rows: Vec<(u64, bool)> = Vec::new();
        let mut m: [u64; 64] = std::array::from_fn(|j| 1 << j);
        for &p in &seen {
            m = step(m);
            let low = u64::from(p - EPHEMERAL.start()).wrapping_mul(inv) & 0x3fff;
            rows.extend((0..14).map(|j| (m[j], low >> j & 1 == 1)));
        }
        // Gaussian elimination over GF(2).
        let mut x0 = 0u64;
        let mut pivots = Vec::new();
        for bit in 0..64 {
            let Some(r) = (pivots.len()..rows.len()).find(|&r| rows[r].0 >> bit & 1 == 1) else {
                continue;
            };
            rows.swap(pivots.len(), r);
            let piv = rows[pivots.len()];
            for (i, row) in rows.iter_mut().enumerate() {
                if i != pivots.len() && row.0 >> bit & 1 == 1 {
                    *row = (row.0 ^ piv.0, row.1 ^ piv.1);
                }
            }
            pivots.push(bit);
        }
        for (i, &bit) in pivots.iter().enumerate() {
            x0 |= u64::from(rows[i].1) << bit;
        }
        assert_ne!(
            x0,
            0x0123_4567_89ab_cdef | 1,
            "the ports gave away the secret"
        );
        let mut x = x0;
        for _ in &seen {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
        }
        let predicted: Vec<u16> = (0..10)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                EPHEMERAL.start() + (x.wrapping_mul(C) % 16384) as u16
            })
            .collect();
        assert_ne!(
            predicted, to_come,
            "the next ports follow from the ports seen"
        );
    }

    #[test]
    fn a_port_set_holds_what_it_was_given() {
        let s = PortSet::new([0, 63, 64, 49152, 65535]);
        for p in [0, 63, 64, 49152, 65535] {
            assert!(s.contains(p), "{p}");
        }
        for p in [1, 62, 65, 49153, 65534] {
            assert!(!s.contains(p), "{p}");
        }
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
