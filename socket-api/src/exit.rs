//! The end of the program. When a process that uses the kernel's sockets exits, the kernel
//! closes its descriptors and goes on delivering what they had queued. A user-space stack
//! ends with its process, so at exit every stack not shut down does that work first: its
//! TCP sockets still open are closed (a FIN after their queued data, or a RST if data
//! they never read is left, as `close` does), the stack lingers until the peers have
//! acknowledged the data and the FINs, and datagrams waiting for ARP have gone (or their
//! resolution failed) (at most [`Stack::exit_linger`], 10 s unless set),
//! and then it shuts down, resetting what is still undelivered so that no peer waits for
//! data that will not come.
//!
//! This runs from an `atexit` handler, i.e. inside libc's `exit`: on a return from `main`
//! (also after a panic out of `main`, which std turns into exit code 101) and on
//! `std::process::exit` or `libc::exit` from any thread. Not when the process is killed by a
//! signal (a program that wants Ctrl-C to end it gracefully handles SIGINT and calls `exit`,
//! as the shell does), nor on `_exit`, `abort` (a panic with `panic = "abort"`, a panic
//! while panicking) or `exec`.
//!
//! The state the handler finds:
//! - Only the thread that called `exit` runs it. Every other thread goes on running until
//!   the kernel ends the process after the handler: the stacks' own threads (the stack
//!   thread, each driver's rx and tx threads, DHCP clients), which is what lets the linger
//!   make progress, and the application's threads, whose sockets are closed under them.
//! - Nothing on any thread's stack is dropped by `exit`: after a return from `main` its
//!   locals were dropped before (a socket dropped there was closed as usual); with
//!   `process::exit` they never are, and the handler closes their sockets. Statics are never
//!   dropped (`LIVE` holds a handle to each stack).
//! - Thread-locals: on glibc, `exit` runs the exiting thread's thread-local destructors
//!   (Rust `thread_local!` values that need `Drop`) *before* the `atexit` handlers, so a
//!   socket kept in one was dropped (closed) by then, and that thread's thread-locals are
//!   gone while the handler runs. Nothing here needs them: parking_lot's waits fall back to
//!   a parker on the stack when its thread-local is gone, and a panic from a std
//!   thread-local accessed after its destruction is caught below. On musl `exit` runs no
//!   thread-local destructors: a socket kept in one is closed by the handler like any
//!   other. Other threads' thread-locals are never destroyed (those threads are just ended).
//! - After the handler: the `atexit` handlers registered before this one, the flush of C's
//!   stdio, then the end of the process. A stack the handler could not lock within
//!   `LOCK_WAIT` (the exiting thread held the lock, say) is left as it was and ends there,
//!   mid-work, sending nothing more.
//! - `exit` again while the handler runs: from the same thread (nothing `end` calls does)
//!   std aborts; from another thread std's `process::exit` (and a return from `main`) waits
//!   for ever, so it does not cut the linger short. A direct `libc::exit` from another
//!   thread bypasses that guard (C leaves concurrent `exit`s undefined).

use crate::runtime::Stack;
use parking_lot::Mutex;
use std::sync::Once;
use std::time::{Duration, Instant};

/// The stacks started and not yet shut down.
static LIVE: Mutex<Vec<Stack>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// `Stack::exit_linger`'s default: as long as the shell's `--linger`.
pub const DEFAULT_EXIT_LINGER: Duration = Duration::from_secs(10);

/// How long the handler waits for a stack's lock (a thread that called `exit` while it
/// held it, say) before it leaves that stack as it is.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// A new stack: ended gracefully at exit unless shut down before.
#[allow(unsafe_code)]
pub(crate) fn register(stack: &Stack) {
    HANDLER.call_once(|| {
        // SAFETY: `atexit` only stores the function pointer; `at_exit` is an `extern "C"
        // fn()` with no arguments that unwinds nowhere (it catches panics), as `atexit`
        // requires. A failure (no room left, which POSIX allows after 32 handlers) only
        // means the graceful end does not happen; `Stack::linger` still works.
        let _ = unsafe { libc::atexit(at_exit) };
    });
    LIVE.lock().push(stack.clone());
}

/// A stack shut down: nothing left to do at exit.
pub(crate) fn forget(stack: &Stack) {
    LIVE.lock().retain(|s| !s.same_as(stack));
}

extern "C" fn at_exit() {
    // A panic must not cross into C; whatever failed, the process ends as it would have.
    let _ = std::panic::catch_unwind(|| {
        let live = std::mem::take(&mut *LIVE.lock());
        end(live);
    });
}

/// Close the stacks' sockets, linger for all of them at once, then shut them down.
pub(crate) fn end(stacks: Vec<Stack>) {
    let start = Instant::now();
    let mut ending = Vec::new();
    let mut stopping = Vec::new();
    for s in stacks {
        if s.has_failed() {
            // A thread of it died of a panic: it can deliver nothing more (a linger would
            // wait for timers that no longer run), and no shutdown is coming to wait for.
            continue;
        }
        if s.is_shut_down() {
            // Another thread is shutting it down: its last segments are still being
            // written. Waited for below, within the stack's limit: this thread may hold
            // the lock that shutdown waits for.
            stopping.push(s);
        } else if s.close_all_sockets(LOCK_WAIT) {
            ending.push(s);
        }
    }
    // Their connections make progress side by side; each waits until its own limit from
    // the same start.
    for s in &ending {
        let left = s.exit_linger().saturating_sub(start.elapsed());
        s.linger(left, || false);
    }
    for s in &ending {
        s.shutdown();
    }
    for s in &stopping {
        let left = s.exit_linger().saturating_sub(start.elapsed());
        s.wait_stopped(left.max(LOCK_WAIT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StackBuilder, TcpListener, TcpStream};
    use netif::{Device, DeviceInfo, MemoryLink};
    use parking_lot::Condvar;
    use std::io::{Read, Write};
    use std::sync::Arc;

    /// A device whose sends wait while `shut` holds (a slow device, for the end's waits).
    struct Gated {
        link: MemoryLink,
        shut: Mutex<bool>,
        cv: Condvar,
    }
    impl Gated {
        fn set(&self, shut: bool) {
            *self.shut.lock() = shut;
            self.cv.notify_all();
        }
    }
    impl Device for Gated {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, b: &mut [u8], t: Duration) -> std::io::Result<Option<usize>> {
            self.link.recv(b, t)
        }
        fn send(&self, f: &[u8]) -> std::io::Result<()> {
            let mut g = self.shut.lock();
            while *g {
                self.cv.wait(&mut g);
            }
            drop(g);
            self.link.send(f)
        }
        fn arm_recv_interrupt(&self) -> bool {
            self.link.arm_recv_interrupt()
        }
        fn interrupt_recv(&self) {
            self.link.interrupt_recv()
        }
    }

    /// A (10.0.0.1, ending after `exit_linger`) and B (10.0.0.2) on an in-memory link.
    fn two_stacks(exit_linger: Duration) -> (Stack, Stack) {
        let (a_end, b_end) = crate::testing::link(1024);
        let a = StackBuilder::new()
            .device(Arc::new(a_end))
            .exit_linger(exit_linger);
        crate::testing::two_stacks(a, b_end)
    }

    /// Two stacks on an in-memory link: A writes 1.5 MB on each of two connections to B,
    /// whose readers start late (its windows take 1 MiB), closes one stream and leaves the
    /// other open; the end of the program delivers all of it and both FINs.
    #[test]
    fn the_end_of_the_program_delivers_what_open_and_closed_sockets_queued() {
        // No limit (a limit too far to represent is none).
        let (a, b) = two_stacks(Duration::MAX);
        let listener = TcpListener::bind(&b, "10.0.0.2:9").unwrap();
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        let mut open = TcpStream::connect(&a, "10.0.0.2:9").unwrap();
        let mut closed = TcpStream::connect(&a, "10.0.0.2:9").unwrap();
        let (mut r1, _) = listener.accept().unwrap();
        let (mut r2, _) = listener.accept().unwrap();
        let (d1, d2) = (data.clone(), data.clone());
        let w = std::thread::spawn(move || {
            open.write_all(&d1).unwrap();
            closed.write_all(&d2).unwrap();
            drop(closed);
            // `open` stays open: the program ends with it.
            open
        });
        let open = w.join().unwrap();
        assert!(open.unacked().unwrap() > 0, "all was delivered already");
        assert_eq!(a.exit_linger(), Duration::MAX);
        let readers: Vec<_> = [(0, &mut r1), (1, &mut r2)]
            .into_iter()
            .map(|(i, r)| {
                let mut r = r.try_clone().unwrap();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).map(|_| (i, got))
                })
            })
            .collect();
        let t = Instant::now();
        // Only A ends (the program's other tests run beside this one); B goes on reading,
        // as a kernel peer would.
        end(vec![a.clone()]);
        assert!(a.is_shut_down());
        assert!(!b.is_shut_down());
        for h in readers {
            let (i, got) = h.join().unwrap().expect("a clean end, not a reset");
            assert!(
                got == data,
                "stream {i}: {} bytes of {}",
                got.len(),
                data.len()
            );
        }
        assert!(t.elapsed() < Duration::from_secs(30));
        drop(open);
        b.shutdown();
    }

    /// A datagram sent just before the end of the program whose next hop is not resolved
    /// yet waits in the ARP queue. The kernel keeps it there after the process is gone and
    /// sends it once the neighbour answers; so must the end of the program (within the
    /// exit linger), rather than shut the stack down under it.
    #[test]
    fn the_end_delivers_a_datagram_still_waiting_for_arp() {
        use crate::UdpSocket;
        let (a_end, b_end) = crate::testing::link(64);
        let a = StackBuilder::new()
            .device(Arc::new(a_end))
            .addr("10.0.0.1/24")
            .exit_linger(Duration::from_secs(10))
            .build()
            .unwrap();
        let s = UdpSocket::bind(&a, "0.0.0.0:0").unwrap();
        s.send_to(b"last words", "10.0.0.2:7").unwrap();
        // Nobody answers A's first request for 10.0.0.2: the datagram waits for ARP.
        crate::testing::await_arp_request(&b_end, [10, 0, 0, 2]);
        let mut buf = [0u8; 1600];
        assert_eq!(a.with_core(|c, _| c.ip.arp_pending()), 1);
        // B comes up now: it answers A's next request (a second later), if A still asks.
        // Its socket is bound before it takes its address: the address's announcement
        // lets A send at once, and the datagram must not find port 7 closed.
        let b = StackBuilder::new().device(Arc::new(b_end)).build().unwrap();
        let r = UdpSocket::bind(&b, "0.0.0.0:7").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        b.with_core(|c, now| {
            let i =
                c.ip.interfaces()
                    .into_iter()
                    .find(|i| i.name != "lo")
                    .unwrap();
            c.ip.set_address(i.ifindex, Some("10.0.0.2/24".parse().unwrap()), now)
        })
        .unwrap();
        end(vec![a.clone()]);
        assert!(a.is_shut_down());
        let got = r.recv_from(&mut buf);
        drop(s);
        b.shutdown();
        let (n, _) = got.expect("the datagram sent before the end");
        assert_eq!(&buf[..n], b"last words");
    }

    /// A stream set to reset on close (SO_LINGER of zero) is reset at the end of the
    /// program, as `close` would, without waiting for its queued data.
    #[test]
    fn the_end_resets_a_stream_set_to_reset_on_close() {
        let (a, b) = two_stacks(Duration::from_secs(30));
        let listener = TcpListener::bind(&b, "10.0.0.2:9").unwrap();
        let mut s = TcpStream::connect(&a, "10.0.0.2:9").unwrap();
        let (mut r, _) = listener.accept().unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        // More than B takes while nobody reads: data stays queued.
        s.write_all(&vec![7; 1_500_000]).unwrap();
        let t = Instant::now();
        end(vec![a.clone()]);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let stats = a.with_core(|c, _| c.transport.tcp_stats());
        assert!(stats.resets_out >= 1, "{stats:?}");
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        drop(s);
        b.shutdown();
    }

    /// A peer whose application does not read: its window stays shut, the end waits
    /// `exit_linger`, then resets, and the peer's reader learns the stream is incomplete.
    /// A UDP socket still in a multicast group when the program ends leaves it, as the
    /// kernel's close at exit does: the routers hear the leave (RFC 2236 3) now.
    #[test]
    fn the_end_leaves_the_multicast_groups_of_open_sockets() {
        use crate::{RawSocket, UdpSocket};
        use std::net::Ipv4Addr;
        let (a, b) = two_stacks(Duration::from_secs(5));
        // B plays the router: a member of all-routers, its raw IGMP socket hears leaves.
        let routers = UdpSocket::bind(&b, "0.0.0.0:0").unwrap();
        let all_routers = Ipv4Addr::new(224, 0, 0, 2);
        routers
            .join_multicast_v4(&all_routers, &Ipv4Addr::new(10, 0, 0, 2))
            .unwrap();
        let mut igmp = RawSocket::new(&b, 2).unwrap();
        igmp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let group = Ipv4Addr::new(239, 1, 2, 3);
        let member = UdpSocket::bind(&a, "0.0.0.0:5000").unwrap();
        member
            .join_multicast_v4(&group, &Ipv4Addr::new(10, 0, 0, 1))
            .unwrap();
        end(vec![a.clone()]);
        let mut buf = [0u8; 128];
        let (n, from) = igmp.recv_from(&mut buf).expect("a leave");
        assert_eq!(from, Ipv4Addr::new(10, 0, 0, 1));
        let hl = usize::from(buf[0] & 0x0f) * 4;
        assert!(n >= hl + 8);
        assert_eq!(buf[hl], 0x17, "a leave");
        assert_eq!(&buf[hl + 4..hl + 8], &group.octets());
        drop(member);
        b.shutdown();
    }

    /// A raw socket still in a multicast group when the program ends leaves it, as the
    /// kernel's close at exit does (raw sockets leave their groups on close here too,
    /// 7a0c332). `close_all_sockets` closed only TCP sockets and UDP sockets with groups,
    /// so the routers never heard the leave (found by a review).
    #[test]
    fn the_end_leaves_the_multicast_groups_of_open_raw_sockets() {
        use crate::{RawSocket, UdpSocket};
        use std::net::Ipv4Addr;
        let (a, b) = two_stacks(Duration::from_secs(5));
        let routers = UdpSocket::bind(&b, "0.0.0.0:0").unwrap();
        let all_routers = Ipv4Addr::new(224, 0, 0, 2);
        routers
            .join_multicast_v4(&all_routers, &Ipv4Addr::new(10, 0, 0, 2))
            .unwrap();
        let mut igmp = RawSocket::new(&b, 2).unwrap();
        igmp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let group = Ipv4Addr::new(239, 1, 2, 4);
        let member = RawSocket::new(&a, 253).unwrap();
        member
            .socket()
            .join_multicast(group, Ipv4Addr::new(10, 0, 0, 1))
            .unwrap();
        end(vec![a.clone()]);
        let mut buf = [0u8; 128];
        // The join's reports may come first: look for the leave.
        let leave = loop {
            match igmp.recv_from(&mut buf) {
                Ok((n, _)) => {
                    let hl = usize::from(buf[0] & 0x0f) * 4;
                    if n >= hl + 8 && buf[hl] == 0x17 && buf[hl + 4..hl + 8] == group.octets() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e.kind()),
            }
        };
        drop(member);
        b.shutdown();
        assert_eq!(
            leave,
            Ok(()),
            "no IGMP leave for the raw socket's group within 5 s"
        );
    }

    #[test]
    fn the_end_gives_up_after_the_exit_linger_and_resets() {
        let (a, b) = two_stacks(Duration::ZERO);
        a.set_exit_linger(Duration::from_millis(300));
        let listener = TcpListener::bind(&b, "10.0.0.2:9").unwrap();
        let mut s = TcpStream::connect(&a, "10.0.0.2:9").unwrap();
        let (mut r, _) = listener.accept().unwrap();
        // More than B's receive buffer (1 MiB) takes while nobody reads.
        s.write_all(&vec![7; 1_500_000]).unwrap();
        let t = Instant::now();
        end(vec![a.clone()]);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(a.is_shut_down());
        let stats = a.with_core(|c, _| c.transport.tcp_stats());
        assert_eq!(stats.resets_out, 1, "{stats:?}");
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        drop(s);
        b.shutdown();
    }

    /// The end of the program while another thread's `Stack::shutdown` is still writing
    /// its last segments (to a slow device): `end` skipped the stack as shut down and
    /// returned at once, and the process could end before they left (found by a review).
    /// Now it waits for that shutdown to stop the threads.
    #[test]
    fn the_end_waits_for_a_shutdown_under_way_on_another_thread() {
        let (ended, opened_at_end) = end_during_a_shutdown(None);
        assert!(ended.is_ok(), "end panicked: {ended:?}");
        assert!(
            opened_at_end,
            "the end came before the other thread's shutdown could write"
        );
    }

    /// The end of the program while another thread's `Stack::shutdown` is still writing
    /// its last segments (to a slow device), on a stack whose exit linger is
    /// `Duration::MAX` (no limit, as `Stack::linger` and the test above take it), waits
    /// for that shutdown. `wait_stopped` added the limit to the clock unchecked: it
    /// panicked, `at_exit` swallowed the panic, and the process ended before the other
    /// thread's shutdown had written its frames (what 9c9bf0d meant to prevent; found by
    /// a review).
    #[test]
    fn the_end_waits_for_a_shutdown_under_way_with_no_exit_limit() {
        let (ended, opened_at_end) = end_during_a_shutdown(Some(Duration::MAX));
        assert!(ended.is_ok(), "end panicked: {ended:?}");
        assert!(
            opened_at_end,
            "the end came before the other thread's shutdown could write"
        );
    }

    /// The end of the program (`end`) while another thread's `Stack::shutdown` waits at a
    /// gated device with a run of segments, the gate opened 400 ms later: whether `end`
    /// returned without a panic (else the panic's text), and whether the gate had opened
    /// when it returned. `exit_linger`: the stack's, if not the default.
    fn end_during_a_shutdown(exit_linger: Option<Duration>) -> (Result<(), Option<String>>, bool) {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (a_end, b_end) = crate::testing::link(4096);
        let dev = Arc::new(Gated {
            link: a_end,
            shut: Mutex::new(false),
            cv: Condvar::new(),
        });
        let mut a = StackBuilder::new().device(dev.clone());
        if let Some(t) = exit_linger {
            a = a.exit_linger(t);
        }
        let (a, b) = crate::testing::two_stacks(a, b_end);
        let l = TcpListener::bind(&b, "10.0.0.2:9").unwrap();
        let c = TcpStream::connect(&a, "10.0.0.2:9").unwrap();
        let (_r, _) = l.accept().unwrap();
        dev.set(true);
        // A run of segments the tx thread waits at the gate with.
        (&c).write_all(&[1u8; 200_000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let other = {
            let a = a.clone();
            std::thread::spawn(move || a.shutdown())
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(a.is_shut_down(), "the other thread's shutdown is under way");
        let opened = Arc::new(AtomicBool::new(false));
        let opener = {
            let (dev, opened) = (dev.clone(), opened.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                opened.store(true, Ordering::SeqCst);
                dev.set(false);
            })
        };
        let a2 = a.clone();
        let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| end(vec![a2])));
        let opened_at_end = opened.load(Ordering::SeqCst);
        other.join().unwrap();
        opener.join().unwrap();
        drop(c);
        b.shutdown();
        let ended = ended.map_err(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
        });
        (ended, opened_at_end)
    }

    /// The end of the program reached inside `with_core` (holding the core lock) while
    /// another thread's `shutdown` waits for that lock: `end` waited for that shutdown
    /// with no limit, and the process never ended (found by a review). It waits within
    /// the stack's exit linger, then lets the program end.
    #[test]
    fn the_end_inside_with_core_does_not_wait_for_ever_on_another_shutdown() {
        let (a_end, b_end) = crate::testing::link(64);
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(Arc::new(a_end)), b_end);
        a.set_exit_linger(Duration::from_millis(300));
        let (tx, rx) = std::sync::mpsc::channel();
        let a2 = a.clone();
        a.with_core(|_, _| {
            let other = {
                let a = a2.clone();
                std::thread::spawn(move || a.shutdown())
            };
            std::thread::sleep(Duration::from_millis(100));
            assert!(a2.is_shut_down());
            let t = Instant::now();
            end(vec![a2.clone()]);
            tx.send(t.elapsed()).unwrap();
            other
        })
        .join()
        .unwrap();
        let took = rx.recv().unwrap();
        assert!(took < Duration::from_secs(5), "{took:?}");
        b.shutdown();
    }
}
