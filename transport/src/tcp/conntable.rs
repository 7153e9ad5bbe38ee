//! TCP's connections by (local, remote) address, with the last one found remembered.

use super::Tuple;
use crate::SocketHandle;
use std::collections::HashMap;

/// Connections by (local, remote). The map's hasher is std's keyed SipHash (addresses come
/// from the network: chosen collisions must not pile up in one bucket); the last entry
/// found is remembered, so the segments of a transfer, which arrive one after another for
/// the same connection, find it without hashing its addresses again (the hashing was about
/// 2% of a receiving rx thread's samples).
#[derive(Default)]
pub(crate) struct ConnTable {
    map: HashMap<Tuple, SocketHandle>,
    /// The entry `get` found last; cleared whenever the map changes.
    last: Option<(Tuple, SocketHandle)>,
}

impl ConnTable {
    pub(crate) fn get(&mut self, key: &Tuple) -> Option<SocketHandle> {
        if let Some((k, h)) = self.last {
            if k == *key {
                return Some(h);
            }
        }
        let h = *self.map.get(key)?;
        self.last = Some((*key, h));
        Some(h)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn contains_key(&self, key: &Tuple) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn insert(&mut self, key: Tuple, h: SocketHandle) {
        self.last = None;
        self.map.insert(key, h);
    }

    /// Remove `key` if it names `h` (a connection that ended must not take another's entry
    /// with it).
    pub(crate) fn remove_if(&mut self, key: &Tuple, h: SocketHandle) {
        if self.map.get(key) == Some(&h) {
            self.last = None;
            self.map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn tuple(port: u16) -> Tuple {
        (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port),
        )
    }

    #[test]
    fn the_remembered_entry_never_outlives_a_change() {
        let mut slab = crate::slab::Slab::new(crate::slab::Table::Tcp, 8);
        let (a, b) = (slab.insert(1u8).unwrap(), slab.insert(2u8).unwrap());
        let mut t = ConnTable::default();
        t.insert(tuple(1000), a);
        assert_eq!(t.get(&tuple(1000)), Some(a));
        assert_eq!(t.get(&tuple(1000)), Some(a), "from the remembered entry");
        assert_eq!(t.get(&tuple(1001)), None);
        // Another connection ending does not remove this one.
        t.remove_if(&tuple(1000), b);
        assert_eq!(t.get(&tuple(1000)), Some(a));
        // Removed: gone, though it was the last one found.
        t.remove_if(&tuple(1000), a);
        assert_eq!(t.get(&tuple(1000)), None);
        assert!(!t.contains_key(&tuple(1000)));
        // The same addresses again, for a new connection: the new handle.
        t.insert(tuple(1000), b);
        assert_eq!(t.get(&tuple(1000)), Some(b));
        t.insert(tuple(1000), a);
        assert_eq!(t.get(&tuple(1000)), Some(a));
    }
}
