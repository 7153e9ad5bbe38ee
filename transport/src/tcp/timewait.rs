//! The TIME-WAIT records of connections whose sockets are gone, by 4-tuple, with an index
//! by expiry: the earliest record is found at once, to end it at its time or to make way
//! for a new one when the table is full.

use super::{TimeWait, Tuple};
use netif::Instant;
use std::collections::{BTreeSet, HashMap};

/// The records, and (expires, tuple) of each, exactly one index entry per record: a record's
/// `expires` changes only through [`TimeWaitTable::restart`], which moves its entry.
#[derive(Default)]
pub(crate) struct TimeWaitTable {
    map: HashMap<Tuple, TimeWait>,
    by_expiry: BTreeSet<(Instant, Tuple)>,
}

impl TimeWaitTable {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Entries of the expiry index (as many as records).
    pub(crate) fn index_len(&self) -> usize {
        self.by_expiry.len()
    }

    pub(crate) fn contains_key(&self, key: &Tuple) -> bool {
        self.map.contains_key(key)
    }

    /// A record, to answer a segment with and to update what it keeps of the peer; its
    /// `expires` must not change here (see `restart`).
    pub(crate) fn get(&self, key: &Tuple) -> Option<&TimeWait> {
        self.map.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &Tuple) -> Option<&mut TimeWait> {
        self.map.get_mut(key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &Tuple> {
        self.map.keys()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Tuple, &TimeWait)> {
        self.map.iter()
    }

    /// File `tw` under `key`; when `max` records are there already, the one that expires
    /// first goes to make room (one of the same tuple is replaced). How many went. With a
    /// `max` of 0 no record is kept, `tw` itself goes (Linux's `tcp_max_tw_buckets` 0).
    pub(crate) fn insert(&mut self, key: Tuple, tw: TimeWait, max: usize) -> usize {
        self.remove(&key);
        if max == 0 {
            return 1;
        }
        let mut evicted = 0;
        while self.map.len() >= max {
            let Some((_, k)) = self.by_expiry.pop_first() else {
                break;
            };
            self.map.remove(&k);
            evicted += 1;
        }
        self.by_expiry.insert((tw.expires, key));
        self.map.insert(key, tw);
        evicted
    }

    pub(crate) fn remove(&mut self, key: &Tuple) -> Option<TimeWait> {
        let tw = self.map.remove(key)?;
        self.by_expiry.remove(&(tw.expires, *key));
        Some(tw)
    }

    /// The record's 2MSL starts over: it now ends at `expires`.
    pub(crate) fn restart(&mut self, key: &Tuple, expires: Instant) {
        if let Some(tw) = self.map.get_mut(key) {
            self.by_expiry.remove(&(tw.expires, *key));
            tw.expires = expires;
            self.by_expiry.insert((expires, *key));
        }
    }

    /// When the first record expires.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.by_expiry.first().map(|e| e.0)
    }

    /// End the records whose time has come at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            self.by_expiry.pop_first();
            self.map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::Seq;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn key(port: u16) -> Tuple {
        (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port),
        )
    }

    fn record(expires: u64) -> TimeWait {
        TimeWait {
            snd_nxt: Seq(1),
            rcv_nxt: Seq(2),
            expires: Instant::from_secs(expires),
            last_oow_ack: None,
            ts_offset: 0,
            ts_recent: 0,
            window: 0,
            ts_ok: false,
            reuse_addr: false,
            reuse_port: false,
        }
    }

    fn ports(t: &TimeWaitTable) -> Vec<u16> {
        let mut v: Vec<u16> = t.keys().map(|k| k.1.port()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_index_follows_every_change_and_the_earliest_goes_first() {
        let mut t = TimeWaitTable::default();
        assert_eq!(t.insert(key(1), record(60), 3), 0);
        assert_eq!(t.insert(key(2), record(61), 3), 0);
        assert_eq!(t.insert(key(3), record(62), 3), 0);
        t.restart(&key(1), Instant::from_secs(70));
        assert_eq!(t.earliest(), Some(Instant::from_secs(61)));
        // The same tuple again: replaced, nothing evicted.
        assert_eq!(t.insert(key(2), record(65), 3), 0);
        assert_eq!((t.len(), t.index_len()), (3, 3));
        // Full: 3 (62) expires first.
        assert_eq!(t.insert(key(4), record(66), 3), 1);
        assert_eq!(ports(&t), [1, 2, 4]);
        assert!(t.remove(&key(2)).is_some());
        assert_eq!((t.len(), t.index_len()), (2, 2));
        t.expire(Instant::from_millis(65_999));
        assert_eq!(ports(&t), [1, 4]);
        t.expire(Instant::from_secs(66));
        assert_eq!(ports(&t), [1]);
        t.expire(Instant::from_secs(70));
        assert_eq!((t.len(), t.index_len(), t.earliest()), (0, 0, None));
    }

    /// A table of no records keeps none (it kept one).
    #[test]
    fn a_table_of_no_records_keeps_none() {
        let mut t = TimeWaitTable::default();
        assert_eq!(t.insert(key(1), record(60), 0), 1);
        assert_eq!(t.insert(key(2), record(61), 0), 1);
        assert_eq!((t.len(), t.index_len(), t.earliest()), (0, 0, None));
    }
}
