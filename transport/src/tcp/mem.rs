//! The memory of all TCP connections' buffers, bounded for the whole stack (what Linux's
//! `tcp_mem` does). Each connection charges one shared pool with what its receive ring and
//! send queue have allocated ([`Charge`]); the charge goes when the connection goes. While
//! the pool is over `TcpConfig::mem_max` the stack is under memory pressure, and the
//! connections stop growing their buffers (see `Tcb::recharge` and its callers):
//!
//! - received data is kept only in the ring a connection already has (16 KB for one that
//!   has none); what lies beyond is dropped, counted, and the window announced stops
//!   growing past it (the peer sends it again once the application has read);
//! - an application's send queues no more than the queue's allocation holds, or 64 KB
//!   when the queue is empty, so every connection can still move;
//! - receive buffers stop autotuning, and a ring or send queue that empties gives its
//!   memory back.
//!
//! Pressure begins when the pool passes the bound, and then every connection whose ring
//! holds less than a sixty-fourth of its size lets go of the bytes it holds beyond a hole (RFC
//! 2018 8 allows it; one byte there keeps a whole-buffer ring, so a few peers sending a
//! byte each would otherwise hold the pool past its bound; a ring well filled around a
//! loss keeps them) and gives back the empty ring and queue it kept (idle connections that
//! once moved bulk data would otherwise hold the pool at its bound); it ends when the pool is back under 7/8 of the
//! bound, so it does not flicker on and off with each ring that grows. The pool can pass
//! the bound by what each connection may still take (a ring of one window of the link's
//! MSS, at least 16 KB, and an empty queue's 64 KB) and by one ring growing to its whole
//! buffer as pressure begins: the stack's memory stays bounded by the bound plus that per
//! connection, however many peers stop reading or fill windows they were offered.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The shared account: bytes charged by all connections, and the bound.
#[derive(Debug)]
pub(crate) struct MemPool {
    used: AtomicUsize,
    max: usize,
    /// Under pressure now.
    pressured: AtomicBool,
    /// Pressure began and the connections have not yet been asked to give back their
    /// empty buffers (`take_reclaim`).
    reclaim: AtomicBool,
}

impl MemPool {
    pub(crate) fn new(max: usize) -> Arc<MemPool> {
        Arc::new(MemPool {
            used: AtomicUsize::new(0),
            max,
            pressured: AtomicBool::new(false),
            reclaim: AtomicBool::new(false),
        })
    }

    /// Under pressure: from when the pool passes the bound until it is back under 7/8 of
    /// it.
    pub(crate) fn pressure(&self) -> bool {
        let used = self.used();
        if self.pressured.load(Ordering::Relaxed) {
            if used > self.max - self.max / 8 {
                return true;
            }
            self.pressured.store(false, Ordering::Relaxed);
            false
        } else if used > self.max {
            self.pressured.store(true, Ordering::Relaxed);
            self.reclaim.store(true, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Pressure has begun since the last call: time for every connection to give back the
    /// empty buffers it kept.
    pub(crate) fn take_reclaim(&self) -> bool {
        self.reclaim.load(Ordering::Relaxed) && self.reclaim.swap(false, Ordering::Relaxed)
    }

    /// Bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

/// What one connection has charged to the pool (nothing to none while detached, as in a
/// connection built for a test or for a SYN cookie's answer). Dropping it gives the
/// charge back.
#[derive(Debug, Default)]
pub(crate) struct Charge {
    pool: Option<Arc<MemPool>>,
    held: usize,
}

impl Charge {
    /// Charge `pool` from now on (with what is held already).
    pub(crate) fn attach(&mut self, pool: Arc<MemPool>) {
        self.release();
        pool.used.fetch_add(self.held, Ordering::Relaxed);
        self.pool = Some(pool);
    }

    /// The connection now holds `bytes`.
    pub(crate) fn set(&mut self, bytes: usize) {
        if bytes == self.held {
            return;
        }
        if let Some(p) = &self.pool {
            if bytes > self.held {
                p.used.fetch_add(bytes - self.held, Ordering::Relaxed);
            } else {
                p.used.fetch_sub(self.held - bytes, Ordering::Relaxed);
            }
        }
        self.held = bytes;
    }

    /// The pool is under pressure ([`MemPool::pressure`]).
    pub(crate) fn pressure(&self) -> bool {
        self.pool.as_ref().is_some_and(|p| p.pressure())
    }

    fn release(&mut self) {
        if let Some(p) = self.pool.take() {
            p.used.fetch_sub(self.held, Ordering::Relaxed);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_go_with_their_connection() {
        let pool = MemPool::new(100);
        let mut a = Charge::default();
        a.set(40);
        assert_eq!(pool.used(), 0, "detached: nothing charged");
        a.attach(pool.clone());
        assert_eq!(pool.used(), 40);
        let mut b = Charge::default();
        b.attach(pool.clone());
        b.set(50);
        assert!(!a.pressure() && !b.pressure());
        b.set(70);
        assert_eq!(pool.used(), 110);
        assert!(a.pressure() && b.pressure());
        assert!(pool.take_reclaim(), "pressure began: reclaim once");
        assert!(!pool.take_reclaim());
        // Pressure holds until the pool is back under 7/8 of the bound.
        b.set(50);
        assert_eq!(pool.used(), 90);
        assert!(a.pressure());
        b.set(10);
        assert_eq!(pool.used(), 50);
        assert!(!a.pressure());
        assert!(!pool.take_reclaim());
        drop(a);
        assert_eq!(pool.used(), 10);
        drop(b);
        assert_eq!(pool.used(), 0);
    }

    #[test]
    fn pressure_begins_past_the_bound_not_at_it_and_ends_at_seven_eighths() {
        // A bound of 800: pressure once the pool holds more than 800 bytes, until it holds
        // 700 (7/8 of the bound) or less.
        let pool = MemPool::new(800);
        assert_eq!(pool.max(), 800);
        let mut a = Charge::default();
        a.attach(pool.clone());
        a.set(800);
        assert!(!a.pressure(), "at the bound, not past it: no pressure");
        assert!(!pool.take_reclaim());
        a.set(801);
        assert!(a.pressure(), "a byte past the bound: pressure");
        assert!(pool.take_reclaim());
        a.set(701);
        assert!(a.pressure(), "a byte over 7/8 of the bound: pressure holds");
        a.set(700);
        assert!(!a.pressure(), "back to 7/8 of the bound: pressure ends");
        // It begins again only past the bound, not on the way back up.
        a.set(800);
        assert!(!a.pressure());
        assert!(!pool.take_reclaim());
    }
}
