//! Tables of sockets behind generation-checked handles. Each protocol family keeps its own
//! table (TCP in `tcp`, raw and UDP in `socket`); a handle's lowest index bit says which, so
//! handles are unique across tables.

use std::fmt;

/// A socket's name in the table. Stale handles (of a closed socket whose slot was reused)
/// are recognised by their generation and rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

impl fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

impl SocketHandle {
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

/// Which table a handle belongs to (the lowest bit of its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// Raw and UDP sockets.
    Datagram = 0,
    Tcp = 1,
}

struct Slot<T> {
    generation: u32,
    item: Option<T>,
}

/// A bounded table of `T` whose handles name slot and generation: a stale handle (of an
/// item removed, its slot reused) is rejected.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    max: usize,
    table: Table,
}

impl<T> Slab<T> {
    pub(crate) fn new(table: Table, max: usize) -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            max: max.min(u32::MAX as usize >> 1),
            table,
        }
    }

    /// The handle of slot `i`, as it is now.
    fn handle(&self, i: usize, generation: u32) -> SocketHandle {
        SocketHandle {
            index: (i as u32) << 1 | self.table as u32,
            generation,
        }
    }

    /// The slot a handle names, if it is of this table.
    fn slot_of(&self, h: SocketHandle) -> Option<usize> {
        (h.index & 1 == self.table as u32).then_some((h.index >> 1) as usize)
    }

    /// Add `item`; `None` when the table is full.
    pub(crate) fn insert(&mut self, item: T) -> Option<SocketHandle> {
        if self.len >= self.max {
            return None;
        }
        let i = match self.free.pop() {
            Some(i) => i as usize,
            // Retired slots aside, `max` keeps the index within a handle's 31 bits.
            None if self.slots.len() > u32::MAX as usize >> 1 => return None,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    item: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[i];
        slot.generation = slot.generation.wrapping_add(1);
        slot.item = Some(item);
        let generation = slot.generation;
        self.len += 1;
        Some(self.handle(i, generation))
    }

    pub(crate) fn get(&self, h: SocketHandle) -> Option<&T> {
        let slot = self.slots.get(self.slot_of(h)?)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.item.as_ref()
    }

    pub(crate) fn get_mut(&mut self, h: SocketHandle) -> Option<&mut T> {
        let i = self.slot_of(h)?;
        let slot = self.slots.get_mut(i)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.item.as_mut()
    }

    pub(crate) fn remove(&mut self, h: SocketHandle) -> Option<T> {
        let i = self.slot_of(h)?;
        let slot = self.slots.get_mut(i)?;
        if slot.generation != h.generation {
            return None;
        }
        let item = slot.item.take()?;
        // A slot that has used up its generations is retired, not reused: the next would
        // wrap round and name again what an old, stale handle names.
        if slot.generation != u32::MAX {
            self.free.push(i as u32);
        }
        self.len -= 1;
        Some(item)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketHandle, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.item.as_ref().map(|x| (self.handle(i, s.generation), x)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (SocketHandle, &mut T)> {
        let table = self.table as u32;
        self.slots.iter_mut().enumerate().filter_map(move |(i, s)| {
            let h = SocketHandle {
                index: (i as u32) << 1 | table,
                generation: s.generation,
            };
            s.item.as_mut().map(|x| (h, x))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_are_rejected() {
        let mut s = Slab::new(Table::Datagram, 2);
        let a = s.insert("a").unwrap();
        let b = s.insert("b").unwrap();
        assert!(s.insert("c").is_none(), "bounded");
        assert_eq!(s.remove(a), Some("a"));
        let c = s.insert("c").unwrap();
        assert_eq!(c.index(), a.index());
        assert!(s.get_mut(a).is_none(), "old generation");
        assert_eq!(s.get(c), Some(&"c"));
        assert!(s.remove(a).is_none());
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().count(), 2);
        assert_eq!(s.get(b), Some(&"b"));
    }

    #[test]
    fn a_stale_handle_stays_stale_when_the_generation_would_wrap() {
        let mut s = Slab::new(Table::Tcp, 4);
        let a = s.insert("a").unwrap();
        assert_eq!(s.remove(a), Some("a"));
        // As if the slot had been reused 2^32 - 2 more times since (a closing and opening
        // loop, the free list handing the same slot back each time).
        s.slots[a.index() >> 1].generation = u32::MAX - 1;
        let b = s.insert("b").unwrap();
        assert_eq!(s.remove(b), Some("b"));
        for _ in 0..3 {
            let c = s.insert("c").unwrap();
            assert_ne!(c, a, "a handle named twice");
            assert!(s.get(a).is_none() && s.get(b).is_none());
            assert_eq!(s.remove(c), Some("c"));
        }
        assert_eq!(s.len(), 0);
        assert_eq!(s.iter().count(), 0);
    }

    #[test]
    fn a_handle_of_another_table_is_not_found() {
        let mut udp = Slab::new(Table::Datagram, 4);
        let mut tcp = Slab::new(Table::Tcp, 4);
        let u = udp.insert(1).unwrap();
        let t = tcp.insert(2).unwrap();
        assert_ne!(u, t);
        assert!(tcp.get(u).is_none() && udp.get(t).is_none());
        assert!(tcp.remove(u).is_none());
        assert_eq!(tcp.iter_mut().map(|(h, _)| h).collect::<Vec<_>>(), vec![t]);
        assert_eq!(udp.iter().map(|(h, _)| h).collect::<Vec<_>>(), vec![u]);
    }
}
