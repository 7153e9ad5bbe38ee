//! `Poller`: readiness of many sockets without looking at them all (what `epoll` is to
//! `poll`).
//!
//! [`poll`](crate::poll) looks at every socket it is given each time any socket of the stack
//! changes, which costs a thousand looks per wake-up for a server holding a thousand
//! connections. A `Poller` instead keeps a set of sockets registered with a token each; the
//! runtime, as it wakes a socket's blocked callers, also puts the socket in its poller's
//! ready queue, and [`Poller::wait`] looks only at the sockets in that queue.
//!
//! Reports are edge-like: a socket is reported after it is added and after each change the
//! stack makes to it, if it is then readable, writable or in error. After a report, use the
//! socket (non-blocking) until it says `WouldBlock`, or remember that it is still ready: no
//! new report comes while nothing changes.
//!
//! A socket may be in several pollers (as in several epoll sets): each is told of its
//! changes. Each poller's queue holds a socket at most once, so it is bounded by the
//! sockets it watches. Everything lives in the core, under its lock.

use crate::error::SocketError;
use crate::runtime::{Ready, Stack};
use crate::socket::Socket;
use parking_lot::Condvar;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use transport::SocketHandle;

/// The pollers of a stack and the sockets they watch (a part of the core).
#[derive(Default)]
pub(crate) struct Hub {
    /// Each watched socket's registrations, one per poller watching it.
    watch: HashMap<SocketHandle, Vec<Watch>>,
    pollers: HashMap<u64, Waiting>,
    next_id: u64,
}

struct Watch {
    poller: u64,
    token: usize,
    /// In the poller's `pending` queue.
    queued: bool,
}

struct Waiting {
    /// Sockets changed since the last `wait`, each at most once.
    pending: Vec<SocketHandle>,
    cond: Arc<Condvar>,
    /// `Poller::wake` was called.
    kicked: bool,
}

impl Hub {
    /// The stack changed socket `h`: queue it for every poller that watches it.
    pub(crate) fn woke(&mut self, h: SocketHandle) {
        let Some(ws) = self.watch.get_mut(&h) else {
            return;
        };
        for w in ws.iter_mut().filter(|w| !w.queued) {
            if let Some(p) = self.pollers.get_mut(&w.poller) {
                w.queued = true;
                p.pending.push(h);
                p.cond.notify_one();
            }
        }
    }

    /// Socket `h` is closed: nothing more is reported about it, by any poller.
    pub(crate) fn forget(&mut self, h: SocketHandle) {
        for w in self.watch.remove(&h).unwrap_or_default() {
            self.unqueue(h, &w);
        }
    }

    /// Poller `poller` stops watching socket `h`.
    fn unwatch(&mut self, h: SocketHandle, poller: u64) {
        let Some(ws) = self.watch.get_mut(&h) else {
            return;
        };
        let Some(i) = ws.iter().position(|w| w.poller == poller) else {
            return;
        };
        let w = ws.swap_remove(i);
        if ws.is_empty() {
            self.watch.remove(&h);
        }
        self.unqueue(h, &w);
    }

    /// Take `h` out of the queue of `w`'s poller.
    fn unqueue(&mut self, h: SocketHandle, w: &Watch) {
        if let Some(p) = self.pollers.get_mut(&w.poller) {
            if w.queued {
                p.pending.retain(|&x| x != h);
            }
            // A waiter looks again and finds nothing to report about it (as epoll
            // forgets a closed descriptor); its next use of the socket fails.
            p.cond.notify_one();
        }
    }

    /// The stack is stopping: every waiting poller returns.
    pub(crate) fn wake_all(&self) {
        for p in self.pollers.values() {
            p.cond.notify_all();
        }
    }
}

/// What [`Poller::wait`] found about one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the socket was added with.
    pub token: usize,
    /// Data, the end of the stream, or a connection to accept.
    pub readable: bool,
    /// Room to send.
    pub writable: bool,
    /// An error is pending or the connection is gone.
    pub error: bool,
    /// Hung up (EPOLLHUP): a TCP socket in CLOSE or shut both ways, as
    /// [`PollFd::hangup`](crate::PollFd::hangup).
    pub hangup: bool,
    /// Read side hung up (EPOLLRDHUP), as [`PollFd::rdhup`](crate::PollFd::rdhup): the
    /// peer's FIN came (or the connection ended, or our reading was shut), where
    /// `readable` alone may be data.
    pub rdhup: bool,
    /// Urgent data (EPOLLPRI), as [`PollFd::urgent`](crate::PollFd::urgent).
    pub urgent: bool,
}

/// A set of sockets of one stack, each with a token, and a queue of those that changed.
pub struct Poller {
    stack: Stack,
    id: u64,
    cond: Arc<Condvar>,
}

impl Poller {
    pub fn new(stack: &Stack) -> Poller {
        let cond = Arc::new(Condvar::new());
        let mut core = stack.lock();
        let hub = &mut core.hub;
        let id = hub.next_id;
        hub.next_id += 1;
        hub.pollers.insert(
            id,
            Waiting {
                pending: Vec::new(),
                cond: cond.clone(),
                kicked: false,
            },
        );
        Poller {
            stack: stack.clone(),
            id,
            cond,
        }
    }

    /// Watch `socket`, reported as `token` (its current state is reported by the next
    /// `wait`). Adding a socket again changes its token; a socket may be in other
    /// pollers too, each told of its changes (as in several epoll sets).
    pub fn add(&self, socket: &Socket, token: usize) -> io::Result<()> {
        if !socket.stack().same_as(&self.stack) {
            return Err(SocketError::InvalidInput("a socket of another stack").into());
        }
        let h = socket.handle();
        let mut core = self.stack.lock();
        // Looked at under the lock: `close` marks the socket closed before it takes the
        // lock to forget it in every poller, so a close is either seen here or forgets
        // this registration after it (looked at before the lock, a close that ran in
        // between left a registration for a socket no longer there).
        if socket.is_closed() {
            return Err(SocketError::Closed.into());
        }
        let hub = &mut core.hub;
        hub.unwatch(h, self.id);
        let mut w = Watch {
            poller: self.id,
            token,
            queued: false,
        };
        // Queued for this poller only: the others have nothing new to report.
        if let Some(p) = hub.pollers.get_mut(&self.id) {
            w.queued = true;
            p.pending.push(h);
            p.cond.notify_one();
        }
        // Most sockets are in one poller: room for one registration, not a default four.
        hub.watch
            .entry(h)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(w);
        Ok(())
    }

    /// Stop watching `socket` (closing it does so too).
    pub fn remove(&self, socket: &Socket) {
        let h = socket.handle();
        self.stack.lock().hub.unwatch(h, self.id);
    }

    /// Make a `wait` in another thread return now (with what it has, maybe nothing).
    pub fn wake(&self) {
        let mut core = self.stack.lock();
        if let Some(p) = core.hub.pollers.get_mut(&self.id) {
            p.kicked = true;
        }
        self.cond.notify_all();
    }

    /// Wait until some watched socket changed and is ready, `wake` is called, or `timeout`
    /// passes (`None`: no limit; zero: just look). Replaces `events` with what it found.
    pub fn wait(&self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut core = self.stack.lock();
        // The deadline passed during the last wait: this pass is the last look.
        let mut timed_out = false;
        loop {
            if self.stack.is_shut_down() {
                return Err(SocketError::StackDown.into());
            }
            core.recheck_blocked();
            let kicked = {
                let c = &mut *core;
                let Some(p) = c.hub.pollers.get_mut(&self.id) else {
                    return Err(SocketError::Closed.into());
                };
                let kicked = std::mem::take(&mut p.kicked);
                let pending = std::mem::take(&mut p.pending);
                for h in pending {
                    let Some(w) = c
                        .hub
                        .watch
                        .get_mut(&h)
                        .and_then(|ws| ws.iter_mut().find(|w| w.poller == self.id))
                    else {
                        continue;
                    };
                    w.queued = false;
                    let token = w.token;
                    let r = c.readiness(h).unwrap_or(Ready::GONE);
                    if r.any() {
                        events.push(Event {
                            token,
                            readable: r.readable,
                            writable: r.writable,
                            error: r.error,
                            hangup: r.hangup,
                            rdhup: r.rdhup,
                            urgent: r.urgent,
                        });
                    }
                }
                kicked
            };
            if kicked || !events.is_empty() || timed_out {
                return Ok(());
            }
            // A datagram socket held back by a long queue: nothing wakes us when the
            // queue gets short, so look again soon.
            let recheck = core
                .any_blocked()
                .then(|| Instant::now() + crate::runtime::SEND_RECHECK);
            match crate::socket::earliest(deadline, recheck) {
                // Out of time before any wait (zero: just look): nothing to report.
                Some(_) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(()),
                Some(t) => {
                    self.cond.wait_until(&mut core, t);
                    // Out of time now: one last look at the queue, as Linux's epoll_wait
                    // takes, for a socket queued while this wait took the lock back.
                    timed_out = deadline.is_some_and(|d| Instant::now() >= d);
                }
                None => self.cond.wait(&mut core),
            }
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        let mut core = self.stack.lock();
        let hub = &mut core.hub;
        hub.pollers.remove(&self.id);
        hub.watch.retain(|_, ws| {
            ws.retain(|w| w.poller != self.id);
            !ws.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_with(poller: u64, handles: &[(SocketHandle, usize)]) -> Hub {
        let mut hub = Hub::default();
        hub.pollers.insert(
            poller,
            Waiting {
                pending: Vec::new(),
                cond: Arc::new(Condvar::new()),
                kicked: false,
            },
        );
        for &(h, token) in handles {
            hub.watch.insert(
                h,
                vec![Watch {
                    poller,
                    token,
                    queued: false,
                }],
            );
        }
        hub
    }

    #[test]
    fn each_socket_is_queued_once_and_forgotten_when_closed() {
        let mut t = transport::Transport::new(transport::TransportConfig::default());
        let mut open = || t.udp_open().unwrap();
        let (a, b, c) = (open(), open(), open());
        let mut hub = hub_with(0, &[(a, 10), (b, 20)]);
        hub.woke(a);
        hub.woke(a);
        hub.woke(b);
        // Not watched: ignored.
        hub.woke(c);
        assert_eq!(hub.pollers[&0].pending, vec![a, b]);
        hub.forget(a);
        assert_eq!(hub.pollers[&0].pending, vec![b]);
        hub.woke(a);
        assert_eq!(
            hub.pollers[&0].pending,
            vec![b],
            "a closed socket stays out"
        );
    }

    /// A watched socket made ready during `wait`, queued for the poller before the
    /// deadline, while another thread holds the stack's lock past the deadline (the rx
    /// thread processing a batch, say): the woken `wait` takes the lock back after its
    /// deadline and returned nothing, the event left for the next call, where Linux's
    /// epoll_wait reports it. (Found by an independent review.)
    #[test]
    fn a_poller_looks_once_more_when_its_deadline_passes() {
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let u = crate::UdpSocket::bind(&stack, "127.0.0.1:0").unwrap();
        let h = u.socket().handle();
        let poller = Poller::new(&stack);
        poller.add(u.socket(), 7).unwrap();
        let mut events = Vec::new();
        // The report of the add (writable).
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.len(), 1);
        let holder = crate::testing::ready_then_hold_the_lock(&stack, h);
        poller
            .wait(&mut events, Some(Duration::from_secs(2)))
            .unwrap();
        holder.join().unwrap();
        stack.shutdown();
        assert!(
            events.iter().any(|e| e.token == 7 && e.readable),
            "the socket's event went unreported: {events:?}"
        );
    }

    /// A socket in two pollers (as a descriptor in two epoll sets): each reports its
    /// changes. Here adding it to the second took it silently out of the first, whose
    /// waiter heard nothing more of it (a hang for, say, a reader's and a writer's poller).
    #[test]
    fn a_socket_in_two_pollers_is_reported_by_both() {
        use std::io::Write;
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:0").unwrap();
        let c = crate::TcpStream::connect(&stack, l.local_addr().unwrap()).unwrap();
        let (a, _) = l.accept().unwrap();
        let (first, second) = (Poller::new(&stack), Poller::new(&stack));
        first.add(a.socket(), 1).unwrap();
        second.add(a.socket(), 2).unwrap();
        let mut events = Vec::new();
        // Each reports the socket's state once added (writable).
        for (p, token) in [(&first, 1), (&second, 2)] {
            p.wait(&mut events, Some(Duration::ZERO)).unwrap();
            assert!(events.iter().any(|e| e.token == token), "{events:?}");
        }
        (&c).write_all(b"x").unwrap();
        let readable = |p: &Poller, token| {
            let end = Instant::now() + Duration::from_secs(2);
            let mut events = Vec::new();
            while Instant::now() < end {
                p.wait(&mut events, Some(Duration::from_millis(100)))
                    .unwrap();
                if events.iter().any(|e| e.token == token && e.readable) {
                    return true;
                }
            }
            false
        };
        let (by_first, by_second) = (readable(&first, 1), readable(&second, 2));
        // Taken out of one, the other still reports it; closed, neither does.
        first.remove(a.socket());
        (&c).write_all(b"y").unwrap();
        let after_remove = (readable(&first, 1), readable(&second, 2));
        a.socket().close();
        stack.shutdown();
        assert!(by_second, "the second poller");
        assert!(by_first, "the first poller lost the socket");
        assert_eq!(after_remove, (false, true));
        assert!(stack.lock().hub.watch.is_empty());
    }

    /// A socket closed with `SO_LINGER` while a poller watches it: Linux's epoll forgets
    /// the file before its release lingers, so nothing more is reported about it. Here the
    /// poller went on reporting the closing socket (in error) while `close` waited.
    #[test]
    fn a_lingering_close_is_not_reported_by_a_poller() {
        use std::io::Write;
        let stack = crate::StackBuilder::new().loopback_only().build().unwrap();
        let l = crate::TcpListener::bind(&stack, "127.0.0.1:0").unwrap();
        let c = crate::TcpStream::connect(&stack, l.local_addr().unwrap()).unwrap();
        let (_peer, _) = l.accept().unwrap();
        // The peer reads nothing: fill its window and our send buffer, so the close
        // lingers for its whole limit.
        c.set_nonblocking(true).unwrap();
        let chunk = [7u8; 16 * 1024];
        while (&c).write(&chunk).is_ok() {}
        c.set_nonblocking(false).unwrap();
        c.set_linger(Some(Duration::from_millis(600))).unwrap();
        let poller = Poller::new(&stack);
        poller.add(c.socket(), 3).unwrap();
        // What the filling made ready is reported first: wait for a quiet round.
        let mut events = vec![];
        for _ in 0..50 {
            poller
                .wait(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            if events.is_empty() {
                break;
            }
        }
        assert!(events.is_empty(), "never quiet: {events:?}");
        let watcher = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let end = std::time::Instant::now() + Duration::from_millis(500);
            while std::time::Instant::now() < end {
                let mut events = Vec::new();
                poller
                    .wait(&mut events, Some(Duration::from_millis(50)))
                    .unwrap();
                seen.extend(events);
            }
            seen
        });
        std::thread::sleep(Duration::from_millis(50));
        c.socket().close();
        let seen = watcher.join().unwrap();
        stack.shutdown();
        assert!(seen.is_empty(), "reported while it lingered: {seen:?}");
    }
}
