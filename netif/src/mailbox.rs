//! A bounded queue between threads whose receiver sleeps on a condition variable.
//!
//! What the drivers' tx threads wait on. A crossbeam channel's blocking receive spun, then
//! called `sched_yield` several times before it slept, on every wait (about 2.6% of a tx
//! thread's samples during a plain-frame receive); here a waiting thread costs one futex
//! wait, and a push wakes it only if it sleeps (a condition variable with no waiter costs
//! no system call).
//!
//! [`MemoryLink`](crate::MemoryLink) keeps its crossbeam channels: between two stacks in
//! memory, where every frame crosses threads, the channel's short spin before it parks
//! catches the next frame, and this queue measured 4% slower (`mem_throughput sockets`,
//! medians of 12: 1,123 against 1,179 MB/s).

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;

/// Why [`Mailbox::push`] gave an item back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused<T> {
    Full(T),
    Closed(T),
}

pub(crate) struct Mailbox<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    cap: usize,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> Mailbox<T> {
    /// A queue of at most `cap` items (at least one).
    pub(crate) fn new(cap: usize) -> Mailbox<T> {
        Mailbox {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            cap: cap.max(1),
        }
    }

    /// Queue `item` behind the others, or give it back with the reason: the queue is
    /// full or closed.
    pub(crate) fn push(&self, item: T) -> Result<(), Refused<T>> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Refused::Closed(item));
        }
        if st.items.len() >= self.cap {
            return Err(Refused::Full(item));
        }
        st.items.push_back(item);
        drop(st);
        self.ready.notify_one();
        Ok(())
    }

    /// Wait until items are queued, then move up to `max` of them, oldest first, to the
    /// back of `into`. False once the queue is closed and empty: items queued before the
    /// close are still taken first.
    pub(crate) fn take(&self, into: &mut VecDeque<T>, max: usize) -> bool {
        let mut st = self.state.lock();
        while st.items.is_empty() {
            if st.closed {
                return false;
            }
            self.ready.wait(&mut st);
        }
        let n = st.items.len().min(max.max(1));
        into.extend(st.items.drain(..n));
        true
    }

    /// Refuse new items and wake every waiting thread.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn bounded_in_order_and_refusals_give_the_item_back() {
        let m = Mailbox::new(2);
        assert_eq!(m.push(1), Ok(()));
        assert_eq!(m.push(2), Ok(()));
        assert_eq!(m.push(3), Err(Refused::Full(3)));
        let mut got = VecDeque::new();
        assert!(m.take(&mut got, 1));
        assert_eq!(m.push(4), Ok(()));
        assert!(m.take(&mut got, 64));
        assert_eq!(got, [1, 2, 4]);
        m.close();
        assert_eq!(m.push(5), Err(Refused::Closed(5)));
        assert!(!m.take(&mut got, 64));
    }

    #[test]
    fn a_sleeping_taker_wakes_for_an_item_and_for_the_close() {
        let m = Arc::new(Mailbox::new(8));
        let (tx, rx) = std::sync::mpsc::channel();
        let t = {
            let m = m.clone();
            std::thread::spawn(move || {
                let mut got = VecDeque::new();
                while m.take(&mut got, 64) {
                    got.drain(..).for_each(|i| tx.send(i).unwrap());
                }
                tx.send(0).unwrap();
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        m.push(7).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7));
        // Queued before the close: still taken, then the end.
        m.state.lock().items.push_back(9);
        m.close();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(9));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(0));
        t.join().unwrap();
    }
}
