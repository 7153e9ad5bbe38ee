//! Path MTUs learnt from "fragmentation needed" (RFC 1191): per destination, below the
//! outgoing interface's MTU, each forgotten 10 minutes after it was learnt (RFC 1191 6.3),
//! so a path that widened again is found. The transport validates an error before it
//! reports a path MTU here (RFC 5927), so a forged one does not lower every connection to
//! the destination. Bounded: when full, the entry closest to expiry makes way.
//! A report below [`MIN_PMTU`] is taken as that floor, and the entry is *locked*, as
//! Linux's `__ip_rt_update_pmtu` does: datagrams of a socket that merely wants path-MTU
//! discovery then go without DF (routers fragment them), so neither a forged report
//! shrinks every datagram to a few bytes nor a real hop that narrow is a black hole.

use netif::{Duration, Instant};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// How long a learnt path MTU holds (RFC 1191 6.3 suggests 10 minutes).
pub const PMTU_EXPIRY: Duration = Duration::from_secs(600);
/// Destinations remembered at most.
pub const PMTU_MAX_ENTRIES: usize = 1024;
/// The smallest MTU a router may report (RFC 791: every host takes 68-byte datagrams).
pub const MIN_MTU: usize = 68;
/// The lowest path MTU the cache holds (Linux's `ip_rt_min_pmtu`: 512 + 20 + 20); a lower
/// report sets this and locks the entry.
pub const MIN_PMTU: usize = 552;

/// One destination's path MTU.
#[derive(Clone, Copy, Debug)]
struct Entry {
    mtu: usize,
    expires: Instant,
    /// Reported below [`MIN_PMTU`]: DF only for a sender that insists (Linux's locked
    /// `RTAX_MTU`).
    locked: bool,
}

#[derive(Clone, Debug, Default)]
pub struct PmtuCache {
    entries: HashMap<Ipv4Addr, Entry>,
}

impl PmtuCache {
    /// Remember `mtu` towards `dst` for [`PMTU_EXPIRY`] (a lower value replaces a higher
    /// one at once; a higher one only once the old has expired, as RFC 1191 6.3 asks).
    /// Below [`MIN_PMTU`]: that floor, locked.
    pub fn set(&mut self, dst: Ipv4Addr, mtu: usize, now: Instant) {
        let new = Entry {
            mtu: mtu.max(MIN_PMTU),
            expires: now + PMTU_EXPIRY,
            locked: mtu < MIN_PMTU,
        };
        if let Some(e) = self.entries.get_mut(&dst) {
            if new.mtu < e.mtu
                || (new.mtu == e.mtu && (new.locked || !e.locked))
                || e.expires <= now
            {
                *e = new;
            }
            return;
        }
        if self.entries.len() >= PMTU_MAX_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(&k, _)| k);
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(dst, new);
    }

    /// The path MTU learnt towards `dst`, if one holds at `now`.
    pub fn get(&self, dst: Ipv4Addr, now: Option<Instant>) -> Option<usize> {
        self.lookup(dst, now).map(|(mtu, _)| mtu)
    }

    /// The path MTU learnt towards `dst` and whether it is locked (reported below
    /// [`MIN_PMTU`]), if one holds at `now`.
    pub fn lookup(&self, dst: Ipv4Addr, now: Option<Instant>) -> Option<(usize, bool)> {
        let e = self.entries.get(&dst)?;
        (now.is_none_or(|n| n < e.expires)).then_some((e.mtu, e.locked))
    }

    /// Forget what expired by `now`; how many.
    pub fn poll(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires > now);
        before - self.entries.len()
    }

    /// When the next entry expires.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.expires).min()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn learnt_mtu_expires_after_ten_minutes() {
        let mut c = PmtuCache::default();
        let t0 = Instant::from_secs(100);
        c.set(D, 1400, t0);
        assert_eq!(c.get(D, Some(t0)), Some(1400));
        assert_eq!(c.poll_at(), Some(t0 + PMTU_EXPIRY));
        // A higher value does not replace a live lower one; a lower one does.
        c.set(D, 1450, t0 + Duration::from_secs(1));
        assert_eq!(c.get(D, None), Some(1400));
        let t1 = t0 + Duration::from_secs(60);
        c.set(D, 1300, t1);
        assert_eq!(c.get(D, None), Some(1300));
        assert_eq!(c.poll(t0 + PMTU_EXPIRY), 0, "renewed by the lower value");
        let end = t1 + PMTU_EXPIRY;
        assert_eq!(c.get(D, Some(end)), None, "expired, even before poll");
        assert_eq!(c.poll(end), 1);
        assert!(c.is_empty());
        assert_eq!(c.poll_at(), None);
        // Below 552 (Linux's `ip_rt_min_pmtu`): 552, locked; 552 itself is not locked,
        // and does not unlock a locked entry.
        c.set(D, 10, end);
        assert_eq!(c.lookup(D, None), Some((MIN_PMTU, true)));
        c.set(D, MIN_PMTU, end);
        assert_eq!(c.lookup(D, None), Some((MIN_PMTU, true)));
        c.set(D, 1000, end + PMTU_EXPIRY);
        assert_eq!(c.lookup(D, None), Some((1000, false)));
        c.set(D, MIN_PMTU, end + PMTU_EXPIRY);
        assert_eq!(c.lookup(D, None), Some((MIN_PMTU, false)));
    }

    #[test]
    fn bounded() {
        let mut c = PmtuCache::default();
        for i in 0..PMTU_MAX_ENTRIES as u32 + 10 {
            c.set(Ipv4Addr::from(i), 1000, Instant::from_millis(u64::from(i)));
        }
        assert_eq!(c.len(), PMTU_MAX_ENTRIES);
        // The earliest ones made way.
        assert_eq!(c.get(Ipv4Addr::from(0), None), None);
        assert_eq!(
            c.get(Ipv4Addr::from(PMTU_MAX_ENTRIES as u32 + 9), None),
            Some(1000)
        );
    }
}
