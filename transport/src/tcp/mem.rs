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
//! The pool can pass the bound by what each connection may still take (a small ring, an
//! empty queue's 64 KB), no more: the stack's memory stays bounded by the bound plus that
//! per connection, however many peers stop reading or fill windows they were offered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The shared account: bytes charged by all connections, and the bound.
#[derive(Debug)]
pub(crate) struct MemPool {
    used: AtomicUsize,
    max: usize,
}

impl MemPool {
    pub(crate) fn new(max: usize) -> Arc<MemPool> {
        Arc::new(MemPool {
            used: AtomicUsize::new(0),
            max,
        })
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

    /// The pool is over its bound.
    pub(crate) fn pressure(&self) -> bool {
        self.pool.as_ref().is_some_and(|p| p.used() > p.max)
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
        b.set(10);
        assert_eq!(pool.used(), 50);
        drop(a);
        assert_eq!(pool.used(), 10);
        drop(b);
        assert_eq!(pool.used(), 0);
    }
}
