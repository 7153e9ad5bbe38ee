//! The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit
//! words. It lives in `netif` because the TAP driver completes offloaded checksums (a frame
//! the kernel hands over with `VIRTIO_NET_HDR_F_NEEDS_CSUM`); `ip::checksum` re-exports it.
//!
//! Speed: the sum is taken over native-endian 64-bit words with an end-around carry (RFC 1071
//! 2(B): the one's complement sum does not depend on byte order, so the folded result only
//! needs a byte swap at the end on a little-endian machine). Four accumulators keep the
//! additions independent of each other.

use std::net::Ipv4Addr;

/// Add `w` to `acc` with end-around carry.
#[inline(always)]
fn add_carry(acc: u64, w: u64) -> u64 {
    let (s, c) = acc.overflowing_add(w);
    s + u64::from(c)
}

/// Fold a 64-bit one's complement sum to 16 bits (not inverted).
#[inline(always)]
fn fold64(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// One's complement sum of `data` as big-endian 16-bit words (an odd tail padded with a zero
/// byte), added to `initial`, not yet folded or inverted.
pub fn sum(data: &[u8], initial: u32) -> u32 {
    if data.len() < 32 {
        // Headers and pseudo-headers: the word loop beats the set-up of the wide one.
        let mut acc = u64::from(initial);
        let mut words = data.chunks_exact(2);
        for c in &mut words {
            acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = words.remainder() {
            acc += u64::from(*last) << 8;
        }
        return ((acc & 0xffff_ffff) + (acc >> 32)) as u32;
    }
    let mut a = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        for (i, acc) in a.iter_mut().enumerate() {
            let w = u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            *acc = add_carry(*acc, w);
        }
    }
    let mut acc = add_carry(add_carry(a[0], a[1]), add_carry(a[2], a[3]));
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        acc = add_carry(acc, u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])));
    }
    // The native-order sum, folded, then put in network order.
    let wide = u16::from_be(fold64(acc));
    let mut tail = u64::from(wide) + u64::from(initial);
    let mut rest = words.remainder().chunks_exact(2);
    for c in &mut rest {
        tail += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = rest.remainder() {
        tail += u64::from(*last) << 8;
    }
    while tail > 0xffff_ffff {
        tail = (tail & 0xffff_ffff) + (tail >> 32);
    }
    tail as u32
}

/// Fold a 32-bit running sum into 16 bits and invert it.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Fold a 32-bit running sum into 16 bits without inverting it: what goes into the checksum
/// field of a segment whose checksum a device completes (`NEEDS_CSUM`).
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Checksum of `data` (an IP header, an ICMP message): write this into the checksum field
/// after zeroing it. Verifying: `checksum(data_with_field) == 0`.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// The running sum of the TCP/UDP pseudo-header (RFC 9293 3.1, RFC 768).
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    let words = [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(protocol),
        length,
    ];
    words.iter().map(|&w| u32::from(w)).sum()
}

/// RFC 1624 eqn. 3: the checksum field after one 16-bit word of the covered data changed from
/// `old` to `new`, without summing the data again.
pub fn update(check: u16, old: u16, new: u16) -> u16 {
    // HC' = ~(~HC + ~m + m')
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    finish(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition, one 16-bit word at a time: the reference for the fast sum.
    fn reference(data: &[u8], initial: u32) -> u16 {
        let mut acc = u64::from(initial);
        for c in data.chunks(2) {
            let hi = u64::from(c[0]) << 8;
            let lo = c.get(1).map_or(0, |&b| u64::from(b));
            acc += hi | lo;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(&data, 0)), !0xddf2);
    }

    #[test]
    fn fast_sum_matches_the_definition_for_every_length_and_alignment() {
        let mut x: u32 = 0x1234_5678;
        let data: Vec<u8> = (0..1600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for start in 0..8 {
            for len in (0..200).chain([1459, 1460, 1480, 1500, 1591]) {
                let d = &data[start..start + len];
                for initial in [0, 0xffff, 0x1_2345, 0xffff_fff0] {
                    assert_eq!(
                        fold(sum(d, initial)),
                        reference(d, initial),
                        "start {start} len {len} initial {initial:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn all_ones_does_not_overflow() {
        let data = vec![0xffu8; 65_536];
        assert_eq!(fold(sum(&data, 0xffff_ffff)), reference(&data, 0xffff_ffff));
    }

    #[test]
    fn ipv4_header_fixture_verifies() {
        // A header from a Linux ping (10.0.0.2 -> 10.0.0.1), checksum 0x0a61 in place.
        let hdr = [
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x0a, 0x61, 0x0a, 0x00,
            0x00, 0x02, 0x0a, 0x00, 0x00, 0x01,
        ];
        assert_eq!(checksum(&hdr), 0);
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0x0a61);
    }

    #[test]
    fn incremental_update_matches_a_full_sum() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x0a, 0x61, 0x0a, 0x00,
            0x00, 0x02, 0x0a, 0x00, 0x00, 0x01,
        ];
        // Decrement the TTL (word 4: TTL, protocol) as a router does.
        let old = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] -= 1;
        let new = u16::from_be_bytes([hdr[8], hdr[9]]);
        let updated = update(0x0a61, old, new);
        hdr[10..12].copy_from_slice(&updated.to_be_bytes());
        assert_eq!(checksum(&hdr), 0);
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 168, 7, 200));
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&s.octets());
        b[4..8].copy_from_slice(&d.octets());
        b[9] = 6;
        b[10..12].copy_from_slice(&1480u16.to_be_bytes());
        assert_eq!(fold(pseudo_header(s, d, 6, 1480)), reference(&b, 0));
    }

    /// A small deterministic generator for the property tests (xorshift64).
    struct Prng(u64);

    impl Prng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn fast_sum_matches_the_definition_on_random_inputs() {
        let mut r = Prng(0x9e37_79b9_7f4a_7c15);
        let mut buf = vec![0u8; 140_000];
        for _ in 0..800 {
            // Mostly random bytes, sometimes runs of 0xff or 0x00 that stress the carries.
            let fill = r.below(4);
            for b in buf.iter_mut() {
                *b = match fill {
                    0 => 0xff,
                    1 => 0,
                    _ => r.next() as u8,
                };
            }
            let start = r.below(64);
            let len = match r.below(4) {
                0 => r.below(64),
                1 => r.below(2048),
                2 => r.below(70_000),
                _ => 65_536 + r.below(70_000),
            };
            let d = &buf[start..start + len];
            let initial = match r.below(3) {
                0 => 0,
                1 => u32::MAX,
                _ => r.next() as u32,
            };
            assert_eq!(
                fold(sum(d, initial)),
                reference(d, initial),
                "start {start} len {len} initial {initial:#x} fill {fill}"
            );
            // A chained sum (a pseudo-header, then the segment) folds to the same value.
            let cut = r.below(len + 1) & !1;
            assert_eq!(
                fold(sum(&d[cut..], sum(&d[..cut], initial))),
                fold(sum(d, initial)),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn every_length_and_alignment_up_to_300_bytes() {
        let mut r = Prng(7);
        let data: Vec<u8> = (0..400).map(|_| r.next() as u8).collect();
        let ones = vec![0xffu8; 400];
        for start in 0..64 {
            for len in 0..=300 {
                for d in [&data[start..start + len], &ones[start..start + len]] {
                    for initial in [0, 1, 0xffff, 0x1_0000, u32::MAX] {
                        assert_eq!(fold(sum(d, initial)), reference(d, initial));
                    }
                }
            }
        }
    }

    #[test]
    fn large_inputs_fold_their_carries() {
        for len in [
            65_535,
            65_536,
            65_537,
            131_071,
            131_072,
            1 << 20,
            (1 << 20) + 3,
        ] {
            for byte in [0xffu8, 0xfe, 0x80, 0x01] {
                let d = vec![byte; len];
                for initial in [0, u32::MAX] {
                    assert_eq!(
                        fold(sum(&d, initial)),
                        reference(&d, initial),
                        "{len} {byte}"
                    );
                }
            }
        }
    }

    #[test]
    fn incremental_update_matches_a_recomputation_on_random_headers() {
        let mut r = Prng(0xdead_beef);
        for _ in 0..50_000 {
            let mut hdr = [0u8; 20];
            for b in hdr.iter_mut() {
                *b = r.next() as u8;
            }
            // Some headers with few bits set, where the -0/+0 corner lives.
            if r.below(4) == 0 {
                hdr = [0; 20];
                hdr[r.below(20)] = r.next() as u8;
                hdr[r.below(20)] = 0xff;
            }
            hdr[10] = 0;
            hdr[11] = 0;
            let check = checksum(&hdr);
            hdr[10..12].copy_from_slice(&check.to_be_bytes());
            let w = loop {
                let w = r.below(10);
                if w != 5 {
                    break w;
                }
            };
            let old = u16::from_be_bytes([hdr[2 * w], hdr[2 * w + 1]]);
            let new = match r.below(3) {
                0 => 0,
                1 => 0xffff,
                _ => r.next() as u16,
            };
            hdr[2 * w..2 * w + 2].copy_from_slice(&new.to_be_bytes());
            let updated = update(check, old, new);
            let mut scratch = hdr;
            scratch[10] = 0;
            scratch[11] = 0;
            let rest_is_zero = scratch.iter().all(|&b| b == 0);
            if !rest_is_zero {
                // RFC 1624 eqn. 3 gives what a full sum gives, -0/+0 included.
                assert_eq!(
                    updated,
                    checksum(&scratch),
                    "{hdr:02x?} {old:#x} -> {new:#x}"
                );
                hdr[10..12].copy_from_slice(&updated.to_be_bytes());
                assert_eq!(checksum(&hdr), 0);
            }
        }
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12], 0), 0x1200);
        assert_eq!(checksum(&[]), 0xffff);
    }
}
