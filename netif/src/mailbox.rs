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
use std::time::{Duration, Instant};

/// Why a push was refused; the item comes back to the caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused<T> {
    /// The queue holds its bound.
    Full(T),
    /// The receiving side is gone or ending.
    Closed(T),
}

impl<T> Refused<T> {
    pub(crate) fn into_inner(self) -> T {
        match self {
            Refused::Full(t) | Refused::Closed(t) => t,
        }
    }
}

/// What a wait for items found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// This many items were moved.
    Items(usize),
    /// Nothing came before the timeout.
    TimedOut,
    /// Closed and empty: nothing more will come.
    Closed,
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

    /// Queue `item` behind the others, or give it back when the queue is full or closed.
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

    /// Wait until items are queued (for at most `timeout`; `None`: as long as it takes),
    /// then move up to `max` of them, oldest first, to the back of `into`. Items queued
    /// before the close are still taken; `Taken::Closed` comes only once they are gone.
    pub(crate) fn take(
        &self,
        into: &mut VecDeque<T>,
        max: usize,
        timeout: Option<Duration>,
    ) -> Taken {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        let mut st = self.state.lock();
        while st.items.is_empty() {
            if st.closed {
                return Taken::Closed;
            }
            match deadline {
                None | Some(None) => self.ready.wait(&mut st),
                // A look without waiting (an rx thread filling its batch) parks nothing.
                Some(Some(_)) if timeout == Some(Duration::ZERO) => return Taken::TimedOut,
                Some(Some(at)) => {
                    if self.ready.wait_until(&mut st, at).timed_out() && st.items.is_empty() {
                        return if st.closed {
                            Taken::Closed
                        } else {
                            Taken::TimedOut
                        };
                    }
                }
            }
        }
        let n = st.items.len().min(max.max(1));
        into.extend(st.items.drain(..n));
        Taken::Items(n)
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

    #[test]
    fn bounded_in_order_and_refusals_give_the_item_back() {
        let m = Mailbox::new(2);
        assert_eq!(m.push(1), Ok(()));
        assert_eq!(m.push(2), Ok(()));
        assert_eq!(m.push(3), Err(Refused::Full(3)));
        let mut got = VecDeque::new();
        assert_eq!(m.take(&mut got, 1, None), Taken::Items(1));
        assert_eq!(m.push(4), Ok(()));
        assert_eq!(m.take(&mut got, 64, Some(Duration::ZERO)), Taken::Items(2));
        assert_eq!(got, [1, 2, 4]);
        assert_eq!(
            m.take(&mut got, 64, Some(Duration::from_millis(5))),
            Taken::TimedOut
        );
        assert_eq!(m.take(&mut got, 64, Some(Duration::ZERO)), Taken::TimedOut);
        m.close();
        assert_eq!(m.push(5).map_err(Refused::into_inner), Err(5));
        assert_eq!(m.push(6), Err(Refused::Closed(6)));
        assert_eq!(m.take(&mut got, 64, None), Taken::Closed);
    }

    #[test]
    fn a_sleeping_taker_wakes_for_an_item_and_for_the_close() {
        let m = Arc::new(Mailbox::new(8));
        let (tx, rx) = std::sync::mpsc::channel();
        let t = {
            let m = m.clone();
            std::thread::spawn(move || {
                let mut got = VecDeque::new();
                loop {
                    match m.take(&mut got, 64, None) {
                        Taken::Items(_) => got.drain(..).for_each(|i| tx.send(i).unwrap()),
                        Taken::TimedOut => unreachable!("no timeout was given"),
                        Taken::Closed => return tx.send(0).unwrap(),
                    }
                }
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
