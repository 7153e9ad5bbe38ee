//! The Identification of the datagrams this host sends (RFC 791; RFC 6864; RFC 7739 5.3):
//! hash-based counters. The (source, destination, protocol) of a datagram picks one of
//! [`BUCKETS`] counters through SipHash keyed by a secret, and that counter, which starts
//! at a value drawn from the secret too, counts up by one; the ID is the counter plus an
//! offset of the flow's own, from another keyed hash (RFC 7739 5.3's G), so that a host
//! whose flow shares a counter with a victim's learns how fast it moves but not the
//! victim's IDs. IDs towards one destination are
//! unique for as long as a counter takes to wrap (what reassembly needs), but say nothing
//! about the datagrams sent to other destinations (a global counter tells any peer the
//! host's whole output rate, and lets an off-path attacker predict the ID of the next
//! fragment to a victim, RFC 7739 3), nor start where every stack starts.

use crate::siphash::siphash24;
use std::net::Ipv4Addr;

/// Counters in the table: collisions between destinations are rare, the table small (4 KiB).
pub(crate) const BUCKETS: usize = 2048;

pub(crate) struct Idents {
    k0: u64,
    k1: u64,
    counters: Box<[u16]>,
    /// The last flow asked for, its bucket and its offset: a run of datagrams to one
    /// destination (a TCP transfer) hashes once.
    last: Option<([u8; 9], usize, u16)>,
}

impl Idents {
    /// Keyed by `secret` (the runtime draws it from the OS; tests fix it).
    pub(crate) fn new(secret: u64) -> Idents {
        let k0 = siphash24(secret, !secret, b"tapip ip ident k0");
        let k1 = siphash24(!secret, secret.rotate_left(23), b"tapip ip ident k1");
        let counters = (0..BUCKETS as u64)
            .map(|i| siphash24(k1, k0, &i.to_le_bytes()) as u16)
            .collect();
        Idents {
            k0,
            k1,
            counters,
            last: None,
        }
    }

    /// The Identification of the next datagram from `src` to `dst` carrying `protocol`.
    pub(crate) fn next(&mut self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u16 {
        self.next_n(src, dst, protocol, 1)
    }

    /// The first of `n` consecutive Identifications (at least one) of the flow, all taken:
    /// for a TSO frame, whose segments the device numbers from the frame's ID up (Linux's
    /// `inet_gso_segment`), as Linux's `ip_select_ident_segs` reserves them.
    pub(crate) fn next_n(&mut self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, n: u16) -> u16 {
        let mut flow = [0u8; 9];
        flow[..4].copy_from_slice(&src.octets());
        flow[4..8].copy_from_slice(&dst.octets());
        flow[8] = protocol;
        let (i, offset) = match self.last {
            Some((f, i, offset)) if f == flow => (i, offset),
            _ => {
                let i = (siphash24(self.k0, self.k1, &flow) % BUCKETS as u64) as usize;
                // Another function of the flow: the keys swapped.
                let offset = siphash24(self.k1, self.k0, &flow) as u16;
                self.last = Some((flow, i, offset));
                (i, offset)
            }
        };
        let first = self.counters[i].wrapping_add(1);
        self.counters[i] = self.counters[i].wrapping_add(n.max(1));
        first.wrapping_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

    #[test]
    fn each_destination_counts_on_its_own_from_a_secret_start() {
        let mut ids = Idents::new(7);
        let first = ids.next(A, B, 17);
        for _ in 0..5 {
            ids.next(A, C, 17);
        }
        // Unless B and C share a bucket (they do not under this key), B's next ID follows
        // its last one: the five datagrams to C do not show.
        assert_eq!(ids.next(A, B, 17), first.wrapping_add(1));
        assert_eq!(ids.next(A, B, 17), first.wrapping_add(2));
        // Another key starts elsewhere, and another protocol counts apart.
        assert_ne!(Idents::new(8).next(A, B, 17), first);
        let tcp = ids.next(A, B, 6);
        assert_eq!(ids.next(A, B, 17), first.wrapping_add(3));
        assert_eq!(ids.next(A, B, 6), tcp.wrapping_add(1));
    }

    /// Two flows that share a counter (found by search under this key) do not share IDs:
    /// the host sending the first cannot tell the second's next ID from its own (RFC 7739
    /// 3.1), only that the counter moved.
    #[test]
    fn flows_sharing_a_counter_have_ids_of_their_own() {
        let mut ids = Idents::new(3);
        let bucket = |ids: &Idents, d: Ipv4Addr| {
            let mut flow = [0u8; 9];
            flow[..4].copy_from_slice(&A.octets());
            flow[4..8].copy_from_slice(&d.octets());
            flow[8] = 17;
            (siphash24(ids.k0, ids.k1, &flow) % BUCKETS as u64) as usize
        };
        let victim = B;
        let attacker = (1..100_000u32)
            .map(|i| Ipv4Addr::from(0x0b00_0000 + i))
            .find(|&d| bucket(&ids, d) == bucket(&ids, victim))
            .expect("a colliding address");
        let seen = ids.next(A, attacker, 17);
        let next = ids.next(A, victim, 17);
        assert_ne!(
            next,
            seen.wrapping_add(1),
            "the victim's ID follows the attacker's"
        );
        // Each flow still counts up by one.
        assert_eq!(ids.next(A, victim, 17), next.wrapping_add(1));
        assert_eq!(ids.next(A, attacker, 17), seen.wrapping_add(3));
    }

    #[test]
    fn a_destination_sees_no_repeat_before_its_counter_wraps() {
        let mut ids = Idents::new(1);
        let mut seen = std::collections::HashSet::new();
        for i in 0..65_536u32 {
            // Other destinations in between, hashed to other buckets or not.
            ids.next(A, Ipv4Addr::from(0x0a01_0000 + i % 97), 17);
            assert!(seen.insert(ids.next(A, B, 17)), "a repeat after {i}");
        }
    }
}
