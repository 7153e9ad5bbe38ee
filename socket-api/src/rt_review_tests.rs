//! Tests of an independent review of the runtime (its threads, wake-ups and end): a thread
//! of the runtime that dies of a panic.

use crate::{Stack, StackBuilder, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A link end whose writes panic, once armed, on the thread named `panic_in` (a bug in a
/// device, or in the protocol code that runs on that thread).
struct Panicky {
    link: netif::MemoryLink,
    armed: AtomicBool,
    panic_in: &'static str,
}

impl Panicky {
    fn new(link: netif::MemoryLink, panic_in: &'static str) -> Arc<Panicky> {
        Arc::new(Panicky {
            link,
            armed: AtomicBool::new(false),
            panic_in,
        })
    }
}

impl netif::Device for Panicky {
    fn info(&self) -> netif::DeviceInfo {
        self.link.info()
    }
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
        self.link.recv(buf, timeout)
    }
    fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        let here = std::thread::current().name() == Some(self.panic_in);
        if here && self.armed.load(Ordering::SeqCst) {
            panic!("a device that fails on {}", self.panic_in);
        }
        self.link.send(frame)
    }
    fn arm_recv_interrupt(&self) -> bool {
        self.link.arm_recv_interrupt()
    }
    fn interrupt_recv(&self) {
        self.link.interrupt_recv()
    }
}

/// A receive with no timeout on a UDP socket of `a`, on a thread: whether it returned
/// within 5 s of `trigger` (which makes a thread of the runtime panic), and what it
/// returned, once `a` is shut down.
fn receive_while(a: &Stack, dev: &Panicky, trigger: impl FnOnce()) -> (bool, std::io::Result<()>) {
    let u = UdpSocket::bind(a, "10.0.0.1:9").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let r = u.recv_from(&mut [0u8; 16]).map(|_| ());
        let _ = tx.send(());
        r
    });
    dev.armed.store(true, Ordering::SeqCst);
    trigger();
    let returned = rx.recv_timeout(Duration::from_secs(5)).is_ok();
    dev.armed.store(false, Ordering::SeqCst);
    a.shutdown();
    (returned, reader.join().unwrap())
}

/// The stack thread (the timers) dies of a panic, here in a device write of an ARP
/// request it sends again. The stack cannot go on without it (no retransmission, no
/// delayed ACK, no ARP retry, no keepalive ever again), yet nothing said so: a receive
/// blocked with no timeout waited for ever, as did every call waiting for a timer (a
/// `connect` whose SYN was lost). Now the stack is down from then on, as once
/// `shutdown` has begun: the blocked calls return `StackDown`.
#[test]
fn a_blocked_call_returns_when_the_stack_thread_panics() {
    let (a_end, _b_end) = crate::testing::link(1024);
    let dev = Panicky::new(a_end, "stack");
    let a = StackBuilder::new()
        .device(dev.clone())
        .addr("10.0.0.1/24")
        .build()
        .unwrap();
    let s = UdpSocket::bind(&a, "10.0.0.1:0").unwrap();
    // Nobody answers at the far end: the request is sent again (after 1 s) by the stack
    // thread.
    let (returned, r) = receive_while(&a, &dev, || {
        s.send_to(b"x", "10.0.0.2:7").unwrap();
    });
    assert!(
        returned,
        "the receive still waited with the stack thread gone"
    );
    assert!(a.has_failed());
    let e = r.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
}

/// A device's rx thread dies of a panic (here in the write of its ARP reply; a protocol's
/// bug on a received frame ends it the same way): nothing from that device is received
/// any more, and a receive blocked with no timeout waited for ever. Now the stack is
/// down: it returns `StackDown`.
#[test]
fn a_blocked_call_returns_when_an_rx_thread_panics() {
    let (a_end, b_end) = crate::testing::link(1024);
    let dev = Panicky::new(a_end, "eth0-rx");
    let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(dev.clone()), b_end);
    let s = UdpSocket::bind(&b, "10.0.0.2:0").unwrap();
    // B asks for A's address: A's rx thread writes the reply.
    let (returned, r) = receive_while(&a, &dev, || {
        s.send_to(b"x", "10.0.0.1:7").unwrap();
    });
    b.shutdown();
    assert!(returned, "the receive still waited with the rx thread gone");
    assert!(a.has_failed());
    let e = r.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
}

/// The end of the program with a stack whose stack thread died of a panic: with the exit
/// linger unlimited (`Duration::MAX`), it lingered for ever for a datagram waiting for
/// ARP, whose retries were that thread's to send (and, with the stack marked down, it
/// would wait for ever for a `shutdown` that nobody makes). A stack that failed is left
/// as it is: the program ends.
#[test]
fn the_end_of_the_program_does_not_wait_for_a_stack_whose_thread_panicked() {
    let (a_end, _b_end) = crate::testing::link(1024);
    let dev = Panicky::new(a_end, "stack");
    let a = StackBuilder::new()
        .device(dev.clone())
        .addr("10.0.0.1/24")
        .exit_linger(Duration::MAX)
        .build()
        .unwrap();
    let u = UdpSocket::bind(&a, "10.0.0.1:9").unwrap();
    dev.armed.store(true, Ordering::SeqCst);
    u.send_to(b"x", "10.0.0.2:7").unwrap();
    // The stack thread sends the request again after 1 s, and dies.
    std::thread::sleep(Duration::from_millis(1500));
    dev.armed.store(false, Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    let ender = {
        let a = a.clone();
        std::thread::spawn(move || {
            crate::exit::end(vec![a]);
            let _ = tx.send(());
        })
    };
    let returned = rx.recv_timeout(Duration::from_secs(5)).is_ok();
    // However it went, the stack stops (and an `end` still waiting returns).
    a.shutdown();
    ender.join().unwrap();
    drop(u);
    assert!(returned, "the end of the program waited for ever");
}

/// A `wait_for_lease` without a limit, on a thread, once `trigger` has made a thread die of
/// a panic: whether it returned within 8 s (it returns no lease: no server answers).
fn wait_for_lease_while(a: &Stack, dev: &Panicky, trigger: impl FnOnce()) -> bool {
    a.start_dhcp("eth0").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let a = a.clone();
        std::thread::spawn(move || {
            let lease = a.wait_for_lease(Duration::MAX);
            let _ = tx.send(());
            lease
        })
    };
    dev.armed.store(true, Ordering::SeqCst);
    trigger();
    let returned = rx.recv_timeout(Duration::from_secs(8)).is_ok();
    dev.armed.store(false, Ordering::SeqCst);
    a.shutdown();
    assert!(waiter.join().unwrap().is_none());
    returned
}

/// The DHCP client's thread dies of a panic (here in the device's write of its DISCOVER,
/// which that thread makes): no lease can come, yet a `wait_for_lease` with no limit
/// waited for ever. It returns none.
#[test]
fn waiting_for_a_lease_ends_when_the_dhcp_thread_panics() {
    let (a_end, _b_end) = crate::testing::link(1024);
    let dev = Panicky::new(a_end, "dhcp-eth0");
    let a = StackBuilder::new().device(dev.clone()).build().unwrap();
    let returned = wait_for_lease_while(&a, &dev, || {});
    assert!(
        returned,
        "the wait for a lease went on with the client gone"
    );
}

/// The stack fails (its stack thread dies of a panic): the DHCP client's thread ends with
/// it, but only a `shutdown` told a `wait_for_lease` with no limit, which waited for ever.
#[test]
fn waiting_for_a_lease_ends_when_the_stack_fails() {
    let (a_end, _b_end) = crate::testing::link(1024);
    let dev = Panicky::new(a_end, "stack");
    let a = StackBuilder::new()
        .device(dev.clone())
        .addr("10.0.0.1/24")
        .build()
        .unwrap();
    let s = UdpSocket::bind(&a, "10.0.0.1:0").unwrap();
    // Nobody answers the ARP request: the stack thread sends it again after 1 s.
    let returned = wait_for_lease_while(&a, &dev, || {
        s.send_to(b"x", "10.0.0.2:7").unwrap();
    });
    assert!(a.has_failed());
    assert!(
        returned,
        "the wait for a lease went on with the stack failed"
    );
}
