//! The runtime: the threads that drive the stack, and the lock around it.
//!
//! ```text
//!  driver rx threads: read a batch ─────────────────────────────┐
//!  socket calls (any thread) ────────────────────────────────────┤ lock(core)
//!  stack thread: timers (poll_at) ───────────────────────────────┤
//!                                                                 ▼
//!                       Core { ip: IpLayer, transport: Transport, waiters }
//!                                                                 │ take_tx / take_wakeups
//!  device writes (or the tx queue under backlog) ◀────────────────┘ (before unlocking)
//! ```
//!
//! Receiving: each device's rx thread reads every frame that is ready (a batch, see
//! `netif::driver`) and processes the whole batch itself under one lock (`Inbound`): no
//! hand-off to another thread, which cost a futex wake-up per frame, and one lock, one
//! round of socket wake-ups and one pass over the transmit queue per batch. Frames of one
//! device are processed in the order they were read, since one thread reads and processes
//! them. The stack thread only runs timers.
//!
//! Lock order: `core` first, then `drivers` (read). Neither is held while a thread blocks,
//! except a socket call waiting on its condvar, which releases `core` while it sleeps.
//! Frames are staged with the drivers under `core` (a queue push), so what the protocols
//! send leaves in the order they sent it, and written after `core` is released (one
//! system call per batch, `Driver::flush_staged`), so no thread waits for the core behind
//! another's writes.
//! Timers: the stack thread sleeps until the earliest deadline the protocol layers report
//! (`poll_at`), or until a frame or a kick arrives; nothing spins.

use crate::poller::Hub;
use ip::{IpConfig, IpLayer, TxFrame};
use netif::{
    Clock, Device, DeviceStatsSnapshot, Driver, DriverConfig, FrameMeta, Instant, RxSink, SinkError,
};
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use transport::{SocketHandle, Transport, TransportConfig};

/// Settings of a stack.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub ip: IpConfig,
    pub transport: TransportConfig,
    pub driver: DriverConfig,
    /// Start with the loopback interface `lo` (127.0.0.1/8, up), through which the
    /// stack also reaches its own addresses. On by default. (A loopback device the caller
    /// adds later takes its place: see [`Stack::add_device`].)
    pub loopback: bool,
    /// How long the end of the program waits for TCP connections to deliver their queued
    /// data and FIN ([`Stack::set_exit_linger`]); 10 s by default.
    pub exit_linger: Duration,
}

/// 64 bits from the OS's random source, for the secrets of the protocols (ephemeral
/// ports, TCP's initial sequence numbers and cookies, IGMP's report delays). Falls back to
/// the clock and the process id if `/dev/urandom` cannot be read.
pub fn os_random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_ne_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            ip: IpConfig {
                seed: os_random_u64(),
                ..IpConfig::default()
            },
            transport: TransportConfig {
                secret: os_random_u64(),
                ..TransportConfig::default()
            },
            driver: DriverConfig::default(),
            loopback: true,
            exit_linger: crate::exit::DEFAULT_EXIT_LINGER,
        }
    }
}

/// Everything the protocol layers own, behind one lock.
pub struct Core {
    pub ip: IpLayer,
    pub transport: Transport,
    waiters: HashMap<SocketHandle, Arc<Condvar>>,
    /// Woken whenever any socket changes, for `poll` over several sockets.
    pub(crate) any: Arc<Condvar>,
    /// The `Poller`s and the sockets they watch.
    pub(crate) hub: Hub,
    /// Open TCP sockets with `SO_LINGER` of zero: the end of the program resets them.
    reset_on_close: HashSet<SocketHandle>,
    /// Each device's staged transmit queue, by interface index (`Driver::backlog`): a
    /// non-blocking datagram send is refused while its device's queue is long.
    backlogs: Vec<netif::Backlog>,
    /// Datagram sockets found not writable for a long queue (a refused send, or `poll`),
    /// each once: they are woken, and reported to pollers, when it is short again
    /// ([`Core::recheck_blocked`]). Bounded by the open sockets.
    send_blocked: Vec<SocketHandle>,
    /// Blocking datagram sends waiting for room in the ARP queue of a next hop being
    /// resolved, with the destination each waits for: woken when the queue is no longer
    /// full (the neighbour answered, the cache gave up, the entry was deleted) or the
    /// socket closed ([`Core::recheck_blocked`]). At most one entry per socket.
    pub(crate) arp_blocked: Vec<(SocketHandle, Ipv4Addr)>,
}

/// How often a waiting `poll` or `Poller` looks again at the queues that hold back
/// non-blocking datagram senders (nothing wakes it when a queue gets short: the writer
/// does not take the core lock). A queue is found long at a quarter of its bound, 4 MiB
/// by default, which takes the writer milliseconds to write: the sender is back before
/// the device has run dry.
pub(crate) const SEND_RECHECK: std::time::Duration = std::time::Duration::from_millis(1);

/// What `poll` and `Poller` find about a socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// An error is pending, or the socket is closed.
    pub error: bool,
    /// Hung up (POLLHUP): a TCP socket in CLOSE or shut both ways.
    pub hangup: bool,
    /// Read side hung up (POLLRDHUP): a TCP connection whose peer's FIN came, that
    /// ended, or whose reading we shut.
    pub rdhup: bool,
    /// Urgent data pending (POLLPRI): see `transport::TcpSock::urgent`.
    pub urgent: bool,
}

impl Ready {
    /// A socket closed (or unknown to the stack): in error, nothing else.
    pub(crate) const GONE: Ready = Ready {
        readable: false,
        writable: false,
        error: true,
        hangup: false,
        rdhup: false,
        urgent: false,
    };

    /// Anything to report, whatever was asked: an error or hang-up is reported always.
    pub(crate) fn any(&self) -> bool {
        self.readable || self.writable || self.error || self.hangup || self.rdhup || self.urgent
    }
}

impl Core {
    pub(crate) fn register(&mut self, h: SocketHandle) -> Arc<Condvar> {
        let c = Arc::new(Condvar::new());
        self.waiters.insert(h, c.clone());
        c
    }

    pub(crate) fn set_reset_on_close(&mut self, h: SocketHandle, on: bool) {
        if on {
            self.reset_on_close.insert(h);
        } else {
            self.reset_on_close.remove(&h);
        }
    }

    pub(crate) fn unregister(&mut self, h: SocketHandle) {
        self.reset_on_close.remove(&h);
        if let Some(c) = self.waiters.remove(&h) {
            c.notify_all();
        }
        self.hub.forget(h);
        self.any.notify_all();
    }

    /// Would a datagram from `h` to `dst` (its peer when `None`) leave by a device whose
    /// queue is long? The device is the one the socket is bound to or the route's; when
    /// neither is known (no destination yet, no route), any device's long queue counts.
    pub(crate) fn datagram_held(&self, h: SocketHandle, dst: Option<Ipv4Addr>) -> bool {
        let (peer, device) = self.transport.udp_path(h).unwrap_or((None, None));
        let dst = dst.or(peer.map(|p| *p.ip()));
        let device =
            device.or_else(|| dst.and_then(|d| self.ip.route_lookup(d)).map(|r| r.ifindex));
        match device {
            Some(i) => self.backlogs.get(i).is_some_and(netif::Backlog::is_long),
            None => self.backlogs.iter().any(netif::Backlog::is_long),
        }
    }

    /// Remember that datagram socket `h` could not send for a long queue. The first one
    /// wakes every waiting `poll` and `Poller`: they went to sleep with none held back,
    /// so without the timer that looks at the queues again.
    pub(crate) fn note_blocked(&mut self, h: SocketHandle) {
        if !self.send_blocked.contains(&h) {
            self.send_blocked.push(h);
            if self.send_blocked.len() == 1 {
                self.any.notify_all();
                self.hub.wake_all();
            }
        }
    }

    /// Any datagram socket waiting for a queue to get short?
    pub(crate) fn any_blocked(&self) -> bool {
        !self.send_blocked.is_empty()
    }

    /// Remember that the blocking datagram send of socket `h` waits for room in the ARP
    /// queue of the next hop towards `dst`.
    pub(crate) fn note_arp_blocked(&mut self, h: SocketHandle, dst: Ipv4Addr) {
        match self.arp_blocked.iter_mut().find(|(s, _)| *s == h) {
            Some(e) => e.1 = dst,
            None => self.arp_blocked.push((h, dst)),
        }
    }

    /// Forget a blocking datagram send's wait for ARP (it timed out or went on).
    pub(crate) fn clear_arp_blocked(&mut self, h: SocketHandle) {
        self.arp_blocked.retain(|(s, _)| *s != h);
    }

    /// Wake the datagram sockets whose queue is short again (or that are closed), and the
    /// senders waiting for an ARP queue that has room again.
    pub(crate) fn recheck_blocked(&mut self) {
        let mut i = 0;
        while i < self.arp_blocked.len() {
            let (h, dst) = self.arp_blocked[i];
            if self.transport.is_open(h) && self.ip.arp_queue_full(dst) {
                i += 1;
            } else {
                self.arp_blocked.swap_remove(i);
                self.wake(h);
            }
        }
        if self.send_blocked.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.send_blocked.len() {
            let h = self.send_blocked[i];
            if self.transport.is_open(h) && self.datagram_held(h, None) {
                i += 1;
            } else {
                self.send_blocked.swap_remove(i);
                self.wake(h);
            }
        }
    }

    /// Readiness of socket `h` for `poll`. A datagram socket is not writable while its
    /// device's queue is long (and is remembered, to be reported when it is short again).
    pub(crate) fn readiness(&mut self, h: SocketHandle) -> Option<Ready> {
        let (readable, mut writable, error) = self.transport.readiness(h)?;
        let datagram = matches!(
            self.transport.kind(h),
            Some(transport::SocketKind::Udp | transport::SocketKind::Raw(_))
        );
        if datagram && writable && self.datagram_held(h, None) {
            self.note_blocked(h);
            writable = false;
        }
        Some(Ready {
            readable,
            writable,
            error,
            hangup: self.transport.hung_up(h),
            rdhup: self.transport.read_hung_up(h),
            urgent: self.transport.urgent(h),
        })
    }

    /// Wake whoever waits on `h` (and pollers).
    pub(crate) fn wake(&mut self, h: SocketHandle) {
        if let Some(c) = self.waiters.get(&h) {
            c.notify_all();
        }
        self.hub.woke(h);
        self.any.notify_all();
    }

    /// The earliest deadline of any layer.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        match (self.ip.poll_at(), self.transport.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run every layer's timers due at `now`.
    fn poll(&mut self, now: Instant) {
        let Core { ip, transport, .. } = self;
        if ip.poll_at().is_some_and(|t| t <= now) {
            ip.poll(now, transport);
        }
        if transport.poll_at().is_some_and(|t| t <= now) {
            transport.poll(ip.tx(), now);
        }
    }

    /// Run the transport's `Upper` with the IP layer: input of one frame.
    fn receive(&mut self, ifindex: usize, frame: &[u8], meta: FrameMeta, now: Instant) {
        self.ip
            .receive_frame_meta(ifindex, frame, meta, now, &mut self.transport);
    }
}

struct Shared {
    core: Mutex<Core>,
    drivers: RwLock<Vec<Driver>>,
    clock: Clock,
    /// Frames read by rx threads and waiting for the core lock.
    queued: AtomicUsize,
    /// The deadline the stack thread sleeps until, in microseconds (`u64::MAX`: none).
    planned: AtomicU64,
    kick: Kick,
    stop: AtomicBool,
    /// Set by `shutdown` before it resets the connections, so that calls those resets
    /// wake say the stack went down (`stop` comes later, when the threads are told).
    down: AtomicBool,
    /// Held by a `shutdown` while it stops and joins the threads, so that another one
    /// (the application's and the end of the program's at once) returns only after.
    joining: Mutex<()>,
    /// Set once a `shutdown` has stopped and joined the threads.
    stopped: AtomicBool,
    /// A thread of the runtime died of a panic ([`Shared::fail`]).
    failed: AtomicBool,
    /// Interface 0 is the loopback `Stack::new` made, not yet replaced by the caller's.
    /// Changed under `core` only.
    own_lo: AtomicBool,
    /// `Stack::exit_linger`.
    exit_linger: Mutex<Duration>,
    /// DHCP clients, one per interface that runs one.
    dhcp: Mutex<Vec<Arc<crate::dhcp::Run>>>,
    /// DNS servers set by the application (`Stack::set_dns_servers`).
    dns: Mutex<Vec<Ipv4Addr>>,
    /// Search domains set by the application (`Stack::set_dns_search`).
    dns_search: Mutex<Vec<String>>,
    /// What the DNS servers answered, while their TTLs last (`Stack::resolve`).
    pub(crate) dns_cache: Mutex<crate::dns::cache::Cache>,
}

impl Shared {
    /// A thread of the runtime died of a panic (a bug in a protocol or a device): the
    /// stack cannot go on without it (its timers, or a device's input, stopped with it).
    /// It is down from now on, as once `shutdown` has begun: every call blocked on it
    /// wakes and fails with `StackDown`, as every later one does, rather than waiting for
    /// ever for what that thread would have done. `shutdown` still stops the other
    /// threads. Called by the dying thread, which holds no lock of the runtime by then.
    fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.down.store(true, Ordering::SeqCst);
        let core = self.core.lock();
        for c in core.waiters.values() {
            c.notify_all();
        }
        core.any.notify_all();
        core.hub.wake_all();
    }

    /// After a change to the core: wake ready sockets, unlock, hand queued frames to the
    /// drivers, and wake the stack thread only if a timer now falls due before it would.
    fn finish(&self, core: MutexGuard<'_, Core>) {
        self.finish_waking(core, true, Write::Now);
    }

    /// `finish`; without `wake`, the sockets made ready stay listed in the transport for
    /// the next `finish` (see `Inbound`); `write` says who writes the frames (see
    /// [`flush`]).
    fn finish_waking(&self, mut core: MutexGuard<'_, Core>, wake: bool, write: Write) {
        if core.ip.has_looped() {
            // Copies of multicast sent to our own groups, and of our broadcasts, go to their
            // sockets before the call returns, one send's at a time: a sender in a loop
            // never outruns them.
            let now = self.clock.now();
            let Core { ip, transport, .. } = &mut *core;
            ip.deliver_looped(now, transport);
        }
        if wake {
            core.recheck_blocked();
        }
        let frames = collect(&mut core, wake);
        let write = match write {
            Write::HandOff if frames.len() < HAND_OFF_FRAMES => Write::Now,
            w => w,
        };
        let next = core.poll_at().map_or(u64::MAX, |t| t.total_micros());
        let earlier = next < self.planned.load(Ordering::Acquire);
        // Frames are staged with the drivers before the lock is released, so they leave in
        // the order the protocols made them: two threads each sending what they queued after
        // unlocking could swap two ACKs, which a TCP peer then takes for a shrinking window
        // and not for the duplicate ACKs that drive its fast retransmit. They are written
        // after it (`flush`), so the rx thread's ACKs never wait for a sender's system calls.
        let staged = transmit(self, frames, &mut core);
        drop(core);
        flush(self, staged, write);
        if earlier {
            self.kick.kick();
        }
    }
}

/// The rx sink of every driver: the rx thread processes its batch itself, under one lock.
///
/// After a full batch (the device had more frames ready) the sockets it made ready are not
/// woken yet, at most [`HELD_BATCHES`] batches in a row: the next batch follows at once,
/// and a reader woken per batch cost a futex wake-up (and the reader's poll and lock round)
/// per batch: with plain frames, about a tenth of the receiving stack's CPU. Everything held is woken by the
/// next batch that is not held, by any other call that finishes on the core, or when the
/// rx thread finds the device empty (`idle`) before it waits.
struct Inbound {
    shared: Weak<Shared>,
    /// The last batch was full and left open (its ACKs not yet sent): the next batch that
    /// is not full, or `idle` when the next read finds nothing, ends it.
    open: AtomicBool,
    /// Full batches in a row whose wake-ups were held back.
    held: AtomicUsize,
}

/// A send call, or a receive batch, that queued this many frames or more leaves their
/// writing to the drivers' tx threads (see [`Stack::finish_sending`]). Three plain frames
/// (4 KB): a reply, an ACK or a short request is written at once, without waking a thread;
/// a sender's run of segments is not. (With TSO a call mostly queues one or two 64 KB
/// frames, written at once: handing every one of those off measured slower, 26 → 16–20
/// Gbit/s.)
const HAND_OFF_FRAMES: usize = 3;

/// Full receive batches in a row whose socket wake-ups may wait for the next.
const HELD_BATCHES: usize = 1;

impl Inbound {
    fn process(
        &self,
        ifindex: usize,
        frames: &[(&[u8], FrameMeta)],
        more: bool,
    ) -> Result<usize, SinkError> {
        let Some(shared) = self.shared.upgrade() else {
            return Err(SinkError::Closed);
        };
        if shared.stop.load(Ordering::Acquire) {
            return Err(SinkError::Closed);
        }
        shared.queued.fetch_add(frames.len(), Ordering::AcqRel);
        let mut core = shared.core.lock();
        let now = shared.clock.now();
        let batch = frames.len() > 1;
        if batch {
            core.transport.begin_batch();
        }
        for (f, m) in frames {
            core.receive(ifindex, f, *m, now);
        }
        // After a full batch (likely more frames in the device) the batch stays open: its
        // ACKs go with the next batch that is not full, or at once when the next read
        // finds nothing (`idle`); each ACK still at most `ACK_STRETCH_MAX` bytes and a
        // quarter of the window. An ACK per full batch was a hand-off to the tx thread
        // and a write into the kernel for every 128 frames: with the 256 KB stretch, half
        // of the ACKs gone and 17% less CPU per GB in a plain-frame receive (issue 8).
        let leave_open = batch && more;
        if !leave_open {
            let Core { ip, transport, .. } = &mut *core;
            transport.end_batch(ip.tx(), now);
        }
        self.open.store(leave_open, Ordering::Relaxed);
        shared.queued.fetch_sub(frames.len(), Ordering::AcqRel);
        let hold = more && self.held.load(Ordering::Relaxed) < HELD_BATCHES;
        if hold {
            self.held.fetch_add(1, Ordering::Relaxed);
        } else {
            self.held.store(0, Ordering::Relaxed);
        }
        // A run of segments that ACKs let go: the tx thread writes. An ACK or two (what a
        // full batch stages once its stretch is reached) the rx thread writes itself:
        // handing every such ACK off woke the tx thread about 3,000 times a second and
        // preempted the rx thread as often (plain-frame receive, issue 8: 8% less CPU per
        // GB written here, BENCHMARKS.md).
        shared.finish_waking(core, !hold, Write::HandOff);
        Ok(0)
    }
}

/// The rx thread owns its sink: dropped while that thread unwinds, the thread died of a
/// panic (in the protocols, under `process`, or in the device).
impl Drop for Inbound {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(shared) = self.shared.upgrade() {
                shared.fail();
            }
        }
    }
}

impl RxSink for Inbound {
    fn deliver(&self, ifindex: usize, frame: &[u8], meta: FrameMeta) -> Result<(), SinkError> {
        self.process(ifindex, &[(frame, meta)], false).map(|_| ())
    }

    fn deliver_batch(
        &self,
        ifindex: usize,
        frames: &[(&[u8], FrameMeta)],
    ) -> Result<usize, SinkError> {
        self.process(ifindex, frames, false)
    }

    fn deliver_batch_more(
        &self,
        ifindex: usize,
        frames: &[(&[u8], FrameMeta)],
        more: bool,
    ) -> Result<usize, SinkError> {
        self.process(ifindex, frames, more)
    }

    fn idle(&self) {
        let open = self.open.swap(false, Ordering::Relaxed);
        let held = self.held.swap(0, Ordering::Relaxed) != 0;
        if !open && !held {
            return;
        }
        if let Some(shared) = self.shared.upgrade() {
            let mut core = shared.core.lock();
            if open {
                // The device is empty after a full batch: its ACKs go now.
                let now = shared.clock.now();
                let Core { ip, transport, .. } = &mut *core;
                transport.end_batch(ip.tx(), now);
            }
            shared.finish(core);
        }
    }
}

/// A running stack. Clones are handles to the same stack. Made in one call by
/// [`StackBuilder`](crate::StackBuilder), or piece by piece with [`Stack::new`] and
/// [`Stack::add_device`]; its threads run until [`Stack::shutdown`].
#[derive(Clone)]
pub struct Stack {
    shared: Arc<Shared>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Stack {
    /// Start a stack: with the loopback interface only (`cfg.loopback`), or with no
    /// interface at all.
    pub fn new(cfg: StackConfig) -> io::Result<Stack> {
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                ip: IpLayer::new(cfg.ip.clone()),
                transport: Transport::new(cfg.transport.clone()),
                waiters: HashMap::new(),
                any: Arc::new(Condvar::new()),
                hub: Hub::default(),
                reset_on_close: HashSet::new(),
                backlogs: Vec::new(),
                send_blocked: Vec::new(),
                arp_blocked: Vec::new(),
            }),
            drivers: RwLock::new(Vec::new()),
            clock: Clock::new(),
            queued: AtomicUsize::new(0),
            planned: AtomicU64::new(u64::MAX),
            kick: Kick::default(),
            stop: AtomicBool::new(false),
            down: AtomicBool::new(false),
            joining: Mutex::new(()),
            stopped: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            own_lo: AtomicBool::new(false),
            exit_linger: Mutex::new(cfg.exit_linger),
            dhcp: Mutex::new(Vec::new()),
            dns: Mutex::new(Vec::new()),
            dns_search: Mutex::new(Vec::new()),
            dns_cache: Mutex::new(crate::dns::cache::Cache::default()),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("stack".into())
            .spawn(move || stack_loop(&s))?;
        let stack = Stack {
            shared,
            thread: Arc::new(Mutex::new(Some(thread))),
        };
        crate::exit::register(&stack);
        if cfg.loopback {
            if let Err(e) = crate::builder::add_loopback(&stack, cfg.driver) {
                stack.shutdown();
                return Err(e);
            }
            stack.shared.own_lo.store(true, Ordering::Release);
        }
        Ok(stack)
    }

    /// Attach a device: it becomes an interface (down, no address) and its driver threads
    /// start. Returns the interface index.
    ///
    /// A loopback device added to a stack that still has the `lo` it started with takes
    /// that one's place instead: interface 0, keeping its address and state. So a caller
    /// can bring its own loopback (the shell's is wrapped in a tracer) and configure it as
    /// before.
    pub fn add_device(&self, device: Arc<dyn Device>, cfg: DriverConfig) -> io::Result<usize> {
        let mut core = self.shared.core.lock();
        let mut drivers = self.shared.drivers.write();
        // No driver threads on a stopped stack: nothing would stop them again. Looked at
        // under `drivers`: `join` sets `stop` before it takes the drivers under that lock,
        // so a driver added after the take sees `stop`, and one added before is taken.
        if self.is_shut_down() {
            return Err(crate::error::SocketError::StackDown.into());
        }
        let sink = Arc::new(Inbound {
            shared: Arc::downgrade(&self.shared),
            open: AtomicBool::new(false),
            held: AtomicUsize::new(0),
        });
        if device.info().loopback && self.shared.own_lo.load(Ordering::Acquire) {
            if let Some(slot) = drivers.get_mut(0) {
                let mut old = std::mem::replace(slot, Driver::spawn(0, device, sink, cfg)?);
                if let Some(b) = core.backlogs.get_mut(0) {
                    *b = slot.backlog();
                }
                self.shared.own_lo.store(false, Ordering::Release);
                // Join the old driver's threads with no lock held: its rx thread may be
                // waiting for one.
                drop(drivers);
                drop(core);
                old.signal_stop();
                old.shutdown();
                return Ok(0);
            }
        }
        // The threads first: when they cannot be started, the IP layer has no interface
        // without a driver. No frame is delivered before it has one: delivery takes `core`.
        let ifindex = drivers.len();
        let info = device.info();
        let driver = Driver::spawn(ifindex, device, sink, cfg)?;
        let added = core.ip.add_interface(&info);
        debug_assert_eq!(added, ifindex);
        core.backlogs.push(driver.backlog());
        drivers.push(driver);
        Ok(ifindex)
    }

    /// Run a DHCP client on interface `name` (RFC 2131): the interface comes up with no
    /// address, and takes the address, network, default route and MTU a server leases it,
    /// renewing the lease at its time; [`Stack::shutdown`] (and the end of the program)
    /// gives it back. Errors: no such interface, loopback, a client there already, UDP
    /// port 68 taken.
    pub fn start_dhcp(&self, name: &str) -> io::Result<()> {
        let ifindex = self.shared.core.lock().ip.ifindex(name).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}"))
        })?;
        self.start_dhcp_on(ifindex)
    }

    /// `start_dhcp` on the interface with index `ifindex`.
    pub(crate) fn start_dhcp_on(&self, ifindex: usize) -> io::Result<()> {
        if self.is_shut_down() {
            return Err(crate::error::SocketError::StackDown.into());
        }
        let mut all = self.shared.dhcp.lock();
        if let Some(r) = all.iter().find(|r| r.ifindex() == ifindex) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("DHCP runs on {} already", r.status().interface),
            ));
        }
        all.push(crate::dhcp::start(self, ifindex)?);
        Ok(())
    }

    /// Each DHCP client's state, lease and counters.
    pub fn dhcp_status(&self) -> Vec<crate::dhcp::DhcpStatus> {
        self.shared.dhcp.lock().iter().map(|r| r.status()).collect()
    }

    /// Wait, at most `timeout`, until the first DHCP client holds a lease, and return it
    /// (`None`: no client, or no lease in time; the client goes on trying).
    pub fn wait_for_lease(&self, timeout: Duration) -> Option<crate::dhcp::client::Lease> {
        let run = self.shared.dhcp.lock().first().cloned()?;
        run.wait_bound(timeout)
    }

    /// The DNS servers [`Stack::resolve`] asks before those a DHCP lease names (at most
    /// three are asked in all). Answers cached from other servers are forgotten at the
    /// next lookup.
    pub fn set_dns_servers(&self, servers: &[Ipv4Addr]) {
        *self.shared.dns.lock() = servers.to_vec();
    }

    /// The domains a name without dots is looked up in ([`Stack::resolve_named`]), before
    /// those DHCP leases name; at most six in all. Error (`InvalidInput`): a domain that is
    /// not a valid name, or more than six.
    pub fn set_dns_search(&self, domains: &[&str]) -> io::Result<()> {
        let mut v = Vec::new();
        for d in domains {
            let d = d.strip_suffix('.').unwrap_or(d);
            if !crate::dns::wire::valid_name(d) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("search domain '{d}': not a valid name"),
                ));
            }
            v.push(d.to_ascii_lowercase());
        }
        if v.len() > crate::dns::MAX_SEARCH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} search domains, at most {}",
                    v.len(),
                    crate::dns::MAX_SEARCH
                ),
            ));
        }
        *self.shared.dns_search.lock() = v;
        Ok(())
    }

    pub(crate) fn configured_search(&self) -> Vec<String> {
        self.shared.dns_search.lock().clone()
    }

    /// The resolver's cache (`dns::cache`).
    pub(crate) fn dns_cache(&self) -> MutexGuard<'_, crate::dns::cache::Cache> {
        self.shared.dns_cache.lock()
    }

    pub(crate) fn configured_dns(&self) -> Vec<Ipv4Addr> {
        self.shared.dns.lock().clone()
    }

    /// Are both handles the same stack?
    pub fn same_as(&self, other: &Stack) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The stack's clock.
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// Run `f` on the protocol core under the lock, then send what it queued and wake the
    /// sockets it made ready. This is how the shell configures the stack.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Core, Instant) -> R) -> R {
        let mut core = self.shared.core.lock();
        let now = self.shared.clock.now();
        let r = f(&mut core, now);
        self.finish(core);
        r
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.shared.core.lock()
    }

    /// After a change to the core: notify ready sockets, release the lock, hand queued
    /// frames to the drivers, and let the stack thread recompute its next deadline.
    pub(crate) fn finish(&self, core: MutexGuard<'_, Core>) {
        self.shared.finish(core);
    }

    /// `finish` for a call that sent data (a TCP send): when it queued
    /// [`HAND_OFF_FRAMES`] or more, the drivers' tx threads write them. The writes of a
    /// sender's segments run the receiving kernel's whole input path (its TCP receive, and
    /// waking its reader on the other core) inside the system call; on the tx thread that
    /// runs beside the sender's next segments instead of before them (issue 8: plain-frame
    /// sending 0.88× → 1.01× smoltcp's, and 1.13–1.25× with served connections' 1 MiB send
    /// buffers; BENCHMARKS.md). Smaller sends are written at once, so a
    /// request does not wait for a thread to wake up.
    pub(crate) fn finish_sending(&self, core: MutexGuard<'_, Core>) {
        self.shared.finish_waking(core, true, Write::HandOff);
    }

    /// `finish` for a blocking datagram send: if the devices' queues are long (senders
    /// together outrunning a device), wait for their writers to shorten them, at most
    /// until `until` (the socket's send timeout), as a full send buffer makes a blocking
    /// UDP sender wait on Linux, rather than return and let the next datagrams find the
    /// queue full (`Driver::flush_staged_paced`).
    pub(crate) fn finish_paced(
        &self,
        core: MutexGuard<'_, Core>,
        until: Option<std::time::Instant>,
    ) {
        self.shared.finish_waking(core, true, Write::Paced(until));
    }

    /// Frames read by the drivers and waiting for the core lock.
    pub fn input_queue_len(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Counters of each device's driver (rx/tx packets, bytes, drops by cause).
    pub fn device_stats(&self) -> Vec<(String, DeviceStatsSnapshot)> {
        self.shared
            .drivers
            .read()
            .iter()
            .map(|d| (d.info().name.clone(), d.stats().snapshot()))
            .collect()
    }

    /// How each device's frames cross the OS boundary (`uring`, `uring-tx`, `rw`, `memory`), by
    /// name.
    pub fn device_io_paths(&self) -> Vec<(String, &'static str)> {
        self.shared
            .drivers
            .read()
            .iter()
            .map(|d| (d.info().name.clone(), d.io_path()))
            .collect()
    }

    /// Stop the stack thread and every driver (joining their threads, releasing devices).
    /// TCP connections are let go of first, with nothing sent again: one that still had
    /// data to deliver (or to read, or a handshake unfinished) is reset, so that its peer
    /// learns that what it expects will not come; one that delivered everything sends its
    /// FIN if it had not. Call [`Stack::linger`] before to let them deliver what they
    /// queued (the end of the program does both, see [`Stack::exit_linger`]). Sockets
    /// still open get errors from then on.
    pub fn shutdown(&self) {
        if self.shared.stop.load(Ordering::SeqCst) {
            return self.join();
        }
        // Leases go back first, while the links still carry the RELEASE.
        let dhcp = std::mem::take(&mut *self.shared.dhcp.lock());
        for run in dhcp {
            run.release(self);
        }
        self.shared.down.store(true, Ordering::SeqCst);
        {
            let mut core = self.shared.core.lock();
            let now = self.shared.clock.now();
            let Core { ip, transport, .. } = &mut *core;
            transport.tcp_abandon_all(ip.tx(), now);
            self.finish(core);
        }
        self.join();
        // Only now: the end of the program waits for a shutdown still under way.
        crate::exit::forget(self);
    }

    /// The second half of `shutdown`: stop and join the threads. A second caller waits
    /// until the first has done so.
    fn join(&self) {
        let _joining = self.shared.joining.lock();
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.kick.kick();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        // Take the drivers out before joining their threads: an rx thread may be waiting
        // for `drivers` (to transmit a reply) and must not wait for ever.
        let mut drivers = std::mem::take(&mut *self.shared.drivers.write());
        for d in &drivers {
            d.signal_stop();
        }
        for d in &mut drivers {
            d.shutdown();
        }
        let mut core = self.shared.core.lock();
        for (_, c) in core.waiters.drain() {
            c.notify_all();
        }
        core.any.notify_all();
        core.hub.wake_all();
        drop(core);
        self.shared.stopped.store(true, Ordering::SeqCst);
    }

    /// Wait up to `limit` for a `shutdown` under way (another thread's) to have stopped
    /// the threads; whether it has. Bounded, unlike a second `shutdown`: the caller may
    /// hold the core lock that shutdown waits for (the end of the program, reached inside
    /// `with_core`).
    pub(crate) fn wait_stopped(&self, limit: Duration) -> bool {
        // No end when it reaches past what the clock holds (`Duration::MAX`: no limit).
        let end = std::time::Instant::now().checked_add(limit);
        while !self.shared.stopped.load(Ordering::SeqCst) {
            if end.is_some_and(|e| std::time::Instant::now() >= e) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Has a thread of the runtime died of a panic? The stack is then down
    /// ([`Stack::is_shut_down`]) without a `shutdown` under way.
    pub(crate) fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// Is the stack down: a `shutdown` begun (or done), or a thread of the runtime dead
    /// of a panic? Its calls then fail with `StackDown`.
    pub fn is_shut_down(&self) -> bool {
        self.shared.down.load(Ordering::SeqCst) || self.shared.stop.load(Ordering::SeqCst)
    }

    /// How long the end of the program (a return from `main`, `std::process::exit`) waits
    /// for this stack's TCP connections to deliver their queued data and FIN, as the
    /// kernel would after the process: 10 s unless set. Zero resets them at once.
    pub fn exit_linger(&self) -> Duration {
        *self.shared.exit_linger.lock()
    }

    /// Set [`Stack::exit_linger`].
    pub fn set_exit_linger(&self, limit: Duration) {
        *self.shared.exit_linger.lock() = limit;
    }

    /// The end of the program: close every TCP socket the application still holds, as the
    /// kernel closes a process's descriptors (a FIN after the queued data, or a RST if
    /// unread data is left). False if the lock could not be had within `wait`.
    pub(crate) fn close_all_sockets(&self, wait: Duration) -> bool {
        let Some(mut core) = self.shared.core.try_lock_for(wait) else {
            return false;
        };
        let now = self.shared.clock.now();
        let open: Vec<SocketHandle> = core.waiters.keys().copied().collect();
        for h in open {
            let Core {
                ip,
                transport,
                reset_on_close,
                ..
            } = &mut *core;
            if transport.tcp_ref(h).is_ok() {
                if reset_on_close.contains(&h) {
                    transport.tcp_close_abort(h, ip.tx(), now);
                } else {
                    transport.close(h, ip.tx(), now);
                }
                core.unregister(h);
            } else if transport.udp(h).is_ok_and(|u| !u.groups().is_empty())
                || transport.raw(h).is_ok_and(|r| !r.groups().is_empty())
            {
                // Its groups are left, as the kernel's close at exit leaves them: the last
                // reporter's leave tells the routers now, not minutes later (RFC 2236 3).
                // (UDP and raw sockets alike.)
                transport.close(h, ip.tx(), now);
                core.unregister(h);
            }
        }
        self.finish(core);
        true
    }
}

/// Take what the core queued: frames for drivers; wake sockets that became ready.
fn collect(core: &mut Core, wake: bool) -> Vec<TxFrame> {
    let Core {
        ip,
        transport,
        waiters,
        any,
        hub,
        ..
    } = core;
    let mut woke = false;
    for h in transport.take_wakeups_if(wake) {
        woke = true;
        if let Some(c) = waiters.get(&h) {
            c.notify_all();
        }
        hub.woke(h);
    }
    if woke {
        any.notify_all();
    }
    ip.take_tx().collect()
}

/// Stage frames with their drivers (under the core lock: see `Shared::finish`), each run of
/// frames for one device as one batch, and take back the buffers of frames written since,
/// for the IP layer's pool. Returns the devices to flush (bit `i`: interface `i`; past 63,
/// all) once the lock is released: see [`flush`].
fn transmit(shared: &Shared, frames: Vec<TxFrame>, core: &mut Core) -> u64 {
    if frames.is_empty() {
        return 0;
    }
    let drivers = shared.drivers.read();
    let mut run: Vec<(Vec<u8>, netif::FrameMeta)> = Vec::with_capacity(frames.len());
    let mut dev = usize::MAX;
    let mut staged = 0u64;
    let mut reuse = |buf: Vec<u8>| core.ip.recycle(buf);
    let mut stage = |dev: usize, run: &mut Vec<(Vec<u8>, netif::FrameMeta)>| {
        staged |= 1u64.checked_shl(dev as u32).unwrap_or(u64::MAX);
        match drivers.get(dev) {
            Some(d) => d.stage_meta_batch(run, &mut reuse),
            None => run.clear(),
        }
    };
    for f in frames {
        if f.ifindex != dev && !run.is_empty() {
            stage(dev, &mut run);
        }
        dev = f.ifindex;
        run.push((f.data, f.meta));
    }
    stage(dev, &mut run);
    staged
}

/// Write what [`transmit`] staged, after the core lock is released: the frames keep the
/// order they were staged in (one thread at a time writes a device's queue), and the
/// threads that take the core lock meanwhile (an rx thread with ACKs, a writer with more
/// data) do not wait for these system calls. With `Write::HandOff` (a run of frames a send
/// call or a receive batch staged) the drivers' tx threads write them instead
/// (`Driver::hand_off_staged`): the kernel's work inside the writes, such as its receiving
/// of a sender's segments, then runs beside the caller's next work instead of before it.
/// (Every full receive batch's ACKs were once handed off too, when each such batch ended
/// with one: plain-frame receive 8.7 → 12.1 Gbit/s against a CUBIC sender. Since a full
/// batch stays open, it stages an ACK only once its stretch is reached, and the rx thread
/// writes it: issue 8, BENCHMARKS.md.)
fn flush(shared: &Shared, staged: u64, write: Write) {
    if staged == 0 {
        return;
    }
    let mut pacers = Vec::new();
    let drivers = shared.drivers.read();
    for (i, d) in drivers.iter().enumerate() {
        if staged & 1u64.checked_shl(i as u32).unwrap_or(u64::MAX) != 0 {
            match write {
                Write::HandOff => d.hand_off_staged(),
                Write::Paced(_) => pacers.push(d.flush_staged_paced()),
                Write::Now => d.flush_staged(),
            }
        }
    }
    // Every device's frames are written (or handed on) first; the waits hold no lock
    // (a wait under `drivers` would hold up `add_device`, and it the core).
    drop(drivers);
    if let Write::Paced(until) = write {
        for p in pacers {
            p.wait(until);
        }
    }
}

/// Who writes the frames a core call staged, once the lock is released ([`flush`]).
#[derive(Clone, Copy)]
enum Write {
    /// The caller, unless another thread is writing the device's queue (it writes them).
    Now,
    /// The drivers' tx threads, if the call staged [`HAND_OFF_FRAMES`] or more (else
    /// `Now`).
    HandOff,
    /// `Now` (for what was queued when it starts), then the caller waits while the queue
    /// is long, at most until the time given (`Driver::flush_staged_paced`).
    Paced(Option<std::time::Instant>),
}

/// Wakes the stack thread early: a flag and a condition variable. (A channel's blocking
/// receive spun and called `sched_yield` before it slept, each time the thread waited: about
/// 1% of a sending stack's samples.)
#[derive(Default)]
struct Kick {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Kick {
    fn kick(&self) {
        let mut set = self.set.lock();
        if !*set {
            *set = true;
            self.cv.notify_one();
        }
    }

    /// Sleep until kicked or `timeout` passes; a kick that came first returns at once.
    fn wait(&self, timeout: Duration) {
        let mut set = self.set.lock();
        if !*set {
            self.cv.wait_for(&mut set, timeout);
        }
        *set = false;
    }
}

/// Upper bound on a sleep, so a lost kick costs at most this much.
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// Fails the stack ([`Shared::fail`]) when dropped by a runtime thread that panics.
struct FailOnPanic<'a>(&'a Shared);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail();
        }
    }
}

/// The stack thread: runs the protocols' timers when they fall due.
fn stack_loop(shared: &Shared) {
    // Dropped last: the core lock is released by then.
    let _fail = FailOnPanic(shared);
    let mut next: Option<Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let now = shared.clock.now();
        let sleep = next.map_or(MAX_SLEEP, |t| {
            t.saturating_duration_since(now).min(MAX_SLEEP)
        });
        shared.kick.wait(sleep);
        let mut core = shared.core.lock();
        let now = shared.clock.now();
        if core.poll_at().is_some_and(|t| t <= now) {
            core.poll(now);
            // A resolution given up frees its ARP queue: its waiting senders go on.
            core.recheck_blocked();
        }
        next = core.poll_at();
        shared.planned.store(
            next.map_or(u64::MAX, |t| t.total_micros()),
            Ordering::Release,
        );
        let out = collect(&mut core, true);
        let staged = transmit(shared, out, &mut core);
        drop(core);
        flush(shared, staged, Write::Now);
    }
}

#[cfg(test)]
mod tests {
    use crate::{StackBuilder, TcpStream, UdpSocket};
    use netif::{Device, DeviceInfo, FrameMeta, MacAddr, MemoryLink};
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A link end that notes, for every frame written, its length and the thread that
    /// wrote it.
    struct Writers {
        link: MemoryLink,
        seen: Mutex<Vec<(usize, String)>>,
    }

    impl Writers {
        fn note(&self, len: usize) {
            let me = std::thread::current().name().unwrap_or("?").to_string();
            self.seen.lock().unwrap().push((len, me));
        }
    }

    impl Device for Writers {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
            self.link.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> io::Result<()> {
            self.note(frame.len());
            self.link.send(frame)
        }
        fn send_meta_batch(
            &self,
            frames: &[(&[u8], FrameMeta)],
            done: &mut dyn FnMut(usize, io::Result<()>),
        ) {
            for (i, (f, m)) in frames.iter().enumerate() {
                done(i, self.send_meta(f, m));
            }
        }
    }

    /// A stack on one end of a memory link (its writes noted with the writing thread's
    /// name), with a connection accepted from a peer on the other end (MSS 1000, window
    /// scale 7, no timestamps), and 100 in-order segments of 1000 bytes from that peer,
    /// to hand to the stack's rx sink as an rx thread does. The batch rules are looked at
    /// from the first segment: no quick ACKs (`TcpConfig::quick_acks`).
    struct BatchPeer {
        stack: crate::Stack,
        dev: Arc<Writers>,
        peer: MemoryLink,
        conn: TcpStream,
        data: Vec<Vec<u8>>,
        /// The peer's first data byte's sequence number.
        first: transport::tcp::Seq,
    }

    impl BatchPeer {
        fn new(mut cfg: crate::StackConfig) -> BatchPeer {
            use std::net::Ipv4Addr;
            use transport::tcp::wire::{flags, TcpRepr};
            use transport::tcp::Seq;

            let (ours, peer) = crate::testing::link(1024);
            let dev = Arc::new(Writers {
                link: ours,
                seen: Mutex::new(Vec::new()),
            });
            cfg.transport.tcp.quick_acks = 0;
            let stack = StackBuilder::new()
                .config(cfg)
                .device(dev.clone())
                .addr("10.0.0.1/24")
                .build()
                .unwrap();
            let (them, their_mac) = (Ipv4Addr::new(10, 0, 0, 2), [2, 0, 0, 0, 0, 2]);
            stack
                .shared
                .core
                .lock()
                .ip
                .arp_add_static(them, MacAddr(their_mac))
                .unwrap();
            let listener = crate::TcpListener::bind(&stack, "10.0.0.1:9").unwrap();
            let frame =
                |r: TcpRepr, data: &[u8]| crate::testing::tcp_frame_to_us(40_000, 9, r, data);
            let iss = Seq(1_000);
            peer.send(&frame(
                TcpRepr {
                    seq: iss,
                    flags: flags::SYN,
                    mss: Some(1000),
                    wscale: Some(7),
                    ..TcpRepr::default()
                },
                &[],
            ))
            .unwrap();
            let mut buf = [0u8; 1600];
            let n = loop {
                // Past what the stack sends as it starts (a gratuitous ARP).
                let n = peer
                    .recv(&mut buf, Duration::from_secs(5))
                    .unwrap()
                    .unwrap();
                if n >= 54 && buf[12..14] == [0x08, 0x00] && buf[23] == 6 {
                    break n;
                }
            };
            assert_eq!(buf[14 + 20 + 13], flags::SYN | flags::ACK, "a SYN-ACK");
            let t = &buf[34..n];
            let their_next = Seq(u32::from_be_bytes([t[4], t[5], t[6], t[7]])) + 1;
            peer.send(&frame(
                TcpRepr {
                    seq: iss + 1,
                    ack: their_next,
                    flags: flags::ACK,
                    ..TcpRepr::default()
                },
                &[],
            ))
            .unwrap();
            let (conn, _) = listener.accept().unwrap();
            let data = (0..100u32)
                .map(|i| {
                    frame(
                        TcpRepr {
                            seq: iss + 1 + i as usize * 1000,
                            ack: their_next,
                            flags: flags::ACK,
                            ..TcpRepr::default()
                        },
                        &[i as u8; 1000],
                    )
                })
                .collect();
            BatchPeer {
                stack,
                dev,
                peer,
                conn,
                data,
                first: iss + 1,
            }
        }

        /// Segments `from..to`, as the rx thread hands a batch over.
        fn batch(&self, from: usize, to: usize) -> Vec<(&[u8], FrameMeta)> {
            self.data[from..to]
                .iter()
                .map(|f| (f.as_slice(), FrameMeta::default()))
                .collect()
        }

        /// The ACK number once the first `n` segments are in.
        fn ack_after(&self, n: usize) -> u32 {
            (self.first + n * 1000).0
        }

        /// The TCP segments the peer receives within `wait`: (flags, ack).
        fn segments(&self, wait: Duration) -> Vec<(u8, u32)> {
            let mut out = Vec::new();
            let mut buf = [0u8; 1600];
            while let Some(n) = self.peer.recv(&mut buf, wait).unwrap() {
                if n >= 54 && buf[12..14] == [0x08, 0x00] && buf[23] == 6 {
                    let t = &buf[34..n];
                    out.push((t[13], u32::from_be_bytes([t[8], t[9], t[10], t[11]])));
                }
            }
            out
        }

        /// The rx thread's sink, driven by the test's thread.
        fn sink(&self) -> super::Inbound {
            super::Inbound {
                shared: Arc::downgrade(&self.stack.shared),
                open: std::sync::atomic::AtomicBool::new(false),
                held: std::sync::atomic::AtomicUsize::new(0),
            }
        }
    }

    /// The interface index of `BatchPeer`'s device (after the loopback).
    const ETH0: usize = 1;

    /// A full receive batch (the device had more frames) leaves its ACK to the next read's
    /// batch, so one ACK covers both, written with the batch that is not full, or when the
    /// next read finds nothing; nothing is written in between (the delayed-ACK timer,
    /// 40 ms by default, set to 10 s here).
    #[test]
    fn a_full_receive_batch_leaves_its_ack_to_the_next_batch() {
        use netif::RxSink;
        use transport::tcp::wire::flags;

        let mut cfg = crate::StackConfig::default();
        cfg.transport.tcp.delayed_ack = netif::Duration::from_secs(10);
        let mut p = BatchPeer::new(cfg);
        let sink = p.sink();
        // 60 segments of 1000 bytes (within the first window of 64 KB), handed to the
        // stack as the rx thread does: 40 in a full batch, then 20 that empty the device;
        // then 40 more (read by then).
        sink.deliver_batch_more(ETH0, &p.batch(0, 40), true)
            .unwrap();
        assert_eq!(p.segments(Duration::from_millis(100)), [], "no ACK yet");
        sink.deliver_batch_more(ETH0, &p.batch(40, 60), false)
            .unwrap();
        let end = p.ack_after(60);
        assert_eq!(p.segments(Duration::from_millis(100)), [(flags::ACK, end)]);
        let mut got = vec![0u8; 60_000];
        io::Read::read_exact(&mut p.conn, &mut got).unwrap();
        assert!(got
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c == [i as u8; 1000]));
        // A full batch after which the device turned out empty (the rx thread's next read
        // found nothing, and it says so with `idle` before it waits): the ACK goes then.
        sink.deliver_batch_more(ETH0, &p.batch(60, 100), true)
            .unwrap();
        assert_eq!(p.segments(Duration::from_millis(100)), [], "no ACK yet");
        sink.idle();
        let end = p.ack_after(100);
        assert_eq!(p.segments(Duration::from_millis(100)), [(flags::ACK, end)]);
        p.stack.shutdown();
    }

    /// The ACKs a full batch owes once its stretch is reached (here a quarter of a 64 KB
    /// buffer, 16 KB: every 17 segments of 1000 bytes) are written by the thread that processes the batch, not
    /// handed to the tx thread: a wake-up, and a preemption of the rx thread, per ACK.
    #[test]
    fn a_full_batch_writes_its_stretch_acks_itself() {
        use netif::RxSink;
        use transport::tcp::wire::flags;

        let mut cfg = crate::StackConfig::default();
        cfg.transport.tcp.delayed_ack = netif::Duration::from_secs(10);
        cfg.transport.tcp.rcvbuf = 64 * 1024;
        let p = BatchPeer::new(cfg);
        let sink = p.sink();
        let me = std::thread::current().name().unwrap().to_string();
        p.dev.seen.lock().unwrap().clear();
        sink.deliver_batch_more(ETH0, &p.batch(0, 40), true)
            .unwrap();
        let acks = [(flags::ACK, p.ack_after(17)), (flags::ACK, p.ack_after(34))];
        assert_eq!(p.segments(Duration::from_millis(100)), acks);
        let seen = p.dev.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.iter().all(|(_, who)| *who == me), "{seen:?}");
        p.stack.shutdown();
    }

    /// A link end that takes 20 µs to write each frame: slower than the threads sending.
    struct Slow(MemoryLink);

    impl Device for Slow {
        fn info(&self) -> DeviceInfo {
            self.0.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
            self.0.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> io::Result<()> {
            std::thread::sleep(Duration::from_micros(20));
            self.0.send(frame)
        }
    }

    /// Eight threads send 300 datagrams each on one blocking socket, together faster than
    /// the device writes: each send waits while the device's queue is long (a quarter of
    /// its 64 KB here), so none is dropped in the queue, as none is on Linux, where the send
    /// buffer holds the senders back.
    #[test]
    fn blocking_datagram_senders_are_held_back_by_a_slow_device_not_dropped() {
        let (a, b, _sink, s) = slow_pair();
        let s = Arc::new(s);
        let before = eth0(&a).tx_packets;
        let senders: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..300 {
                        s.send_to(&[7u8; 1400], "10.0.0.2:9").unwrap();
                    }
                })
            })
            .collect();
        for t in senders {
            t.join().unwrap();
        }
        // The senders return once the queue is short; its last frames follow.
        let dev = sent_since(&a, before, 2400);
        a.shutdown();
        b.shutdown();
        assert_all_left(&dev, before, 2400);
    }

    /// None of the `n` datagrams sent since `before` was dropped, and all left. (The
    /// count may hold one or two frames from before: a write is counted just after the
    /// frame arrives, so the first datagram's, which the sink has received, or the ARP
    /// exchange's may be counted after `before` was read; seen on a loaded machine.)
    fn assert_all_left(dev: &netif::DeviceStatsSnapshot, before: u64, n: u64) {
        assert_eq!(dev.tx_dropped_queue_full, 0, "{dev:?}");
        let left = dev.tx_packets - before;
        assert!((n..=n + 2).contains(&left), "{left} of {n} left: {dev:?}");
    }

    /// A slow device's stack with a 64 KB staged queue, its peer, a sink on the peer and a
    /// socket that has sent one datagram there (so the peer's address is resolved).
    fn slow_pair() -> (crate::Stack, crate::Stack, UdpSocket, UdpSocket) {
        let (a_end, b_end) = crate::testing::link(8192);
        let mut cfg = crate::StackConfig::default();
        cfg.driver.staged_bytes = 64 * 1024;
        let a = StackBuilder::new()
            .config(cfg)
            .device(Arc::new(Slow(a_end)));
        let (a, b) = crate::testing::two_stacks(a, b_end);
        let sink = UdpSocket::bind(&b, "10.0.0.2:9").unwrap();
        let s = UdpSocket::bind(&a, "10.0.0.1:0").unwrap();
        s.send_to(b"hello", "10.0.0.2:9").unwrap();
        sink.recv_from(&mut [0u8; 16]).unwrap();
        (a, b, sink, s)
    }

    fn eth0(a: &crate::Stack) -> netif::DeviceStatsSnapshot {
        let all = a.device_stats();
        all.into_iter().find(|(n, _)| n == "eth0").unwrap().1
    }

    /// Wait until `n` more frames than `before` have left `a`'s eth0, at most 5 s.
    fn sent_since(a: &crate::Stack, before: u64, n: u64) -> netif::DeviceStatsSnapshot {
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while eth0(a).tx_packets - before < n && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(2));
        }
        eth0(a)
    }

    /// Eight threads send on non-blocking sockets together faster than the device writes
    /// (one thread writes the queue, the others' datagrams wait in it). Each is told
    /// `WouldBlock` while the device's queue is long (nothing sent), `poll` or a `Poller`
    /// says when it may send again, and every datagram it was told was sent leaves: none
    /// is dropped where the queue is full.
    fn non_blocking_senders_are_told_to_wait(with_poller: bool) {
        let (a, b, _sink, s) = slow_pair();
        let before = eth0(&a).tx_packets;
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let senders: Vec<_> = (0..8)
            .map(|i| {
                let own = UdpSocket::bind(&a, "10.0.0.1:0").unwrap();
                own.set_nonblocking(true).unwrap();
                let refused = refused.clone();
                let a = a.clone();
                std::thread::spawn(move || {
                    let poller = with_poller.then(|| crate::Poller::new(&a));
                    if let Some(p) = &poller {
                        p.add(own.socket(), i).unwrap();
                    }
                    let mut events = Vec::new();
                    let mut sent = 0;
                    while sent < 300 {
                        match own.send_to(&[7u8; 1400], "10.0.0.2:9") {
                            Ok(n) => {
                                assert_eq!(n, 1400);
                                sent += 1;
                                continue;
                            }
                            Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}"),
                        }
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let five = Some(Duration::from_secs(5));
                        if let Some(p) = &poller {
                            // Reports left from earlier rounds may come first.
                            let end = std::time::Instant::now() + Duration::from_secs(5);
                            loop {
                                p.wait(&mut events, five).unwrap();
                                if events.iter().any(|e| e.token == i && e.writable) {
                                    break;
                                }
                                assert!(std::time::Instant::now() < end, "no writable event");
                            }
                        } else {
                            let mut fds =
                                [crate::PollFd::new(own.socket(), crate::Interest::WRITABLE)];
                            let n = crate::poll(&mut fds, five).unwrap();
                            assert!(n == 1 && fds[0].writable, "not writable within 5 s");
                        }
                    }
                })
            })
            .collect();
        for t in senders {
            t.join().unwrap();
        }
        let dev = sent_since(&a, before, 2400);
        drop(s);
        a.shutdown();
        b.shutdown();
        assert_all_left(&dev, before, 2400);
        let refused = refused.load(std::sync::atomic::Ordering::Relaxed);
        assert!(refused > 0, "the queue never got long");
    }

    #[test]
    fn non_blocking_datagram_senders_are_told_to_wait_by_poll_not_dropped() {
        non_blocking_senders_are_told_to_wait(false);
    }

    #[test]
    fn non_blocking_datagram_senders_are_told_to_wait_by_a_poller_not_dropped() {
        non_blocking_senders_are_told_to_wait(true);
    }

    #[test]
    fn a_stopped_stack_takes_no_device_and_starts_no_dhcp() {
        let s = StackBuilder::new().loopback_only().build().unwrap();
        s.shutdown();
        let (end, _other) = MemoryLink::pair(
            ("eth0", MacAddr([2, 0, 0, 0, 0, 1])),
            ("eth0", MacAddr([2, 0, 0, 0, 0, 2])),
            1500,
            16,
        );
        let e = s
            .add_device(Arc::new(end), netif::DriverConfig::default())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        assert_eq!(e.to_string(), "the stack has shut down");
        assert!(s.start_dhcp("lo").is_err());
    }

    #[test]
    fn a_short_send_is_not_handed_off_and_a_run_of_segments_is() {
        let (a_end, b_end) = crate::testing::link(4096);
        let dev = Arc::new(Writers {
            link: a_end,
            seen: Mutex::new(Vec::new()),
        });
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(dev.clone()), b_end);
        let server = crate::testing::count_one_connection(&b, 80);
        let mut c = TcpStream::connect(&a, "10.0.0.2:80").unwrap();
        let me = std::thread::current().name().unwrap().to_string();
        // 54 bytes of headers (Ethernet, IPv4, TCP) and timestamps (12): a 100-byte segment.
        let short = 100 + 54 + 12;
        dev.seen.lock().unwrap().clear();
        c.write_all(&[1u8; 100]).unwrap();
        c.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(&vec![7u8; 300_000]).unwrap();
        drop(c);
        assert_eq!(server.join().unwrap(), 300_100);
        let seen = dev.seen.lock().unwrap().clone();
        a.shutdown();
        b.shutdown();
        // Not handed to the tx thread: written by the caller, or by a thread that was
        // writing already when the caller flushed (the rx thread, with an ACK of the
        // handshake), which writes what was staged meanwhile.
        let (_, who) = seen
            .iter()
            .find(|(len, _)| *len == short)
            .expect("the short segment was written");
        assert!(
            *who == me || who == "eth0-rx",
            "the short segment was handed off, to {who}"
        );
        let by_tx = seen
            .iter()
            .filter(|(len, who)| *len > 1000 && who == "eth0-tx")
            .count();
        assert!(
            by_tx > 0,
            "no full segment was written by the tx thread: {seen:?}"
        );
    }
    /// `write_vectored` queues every buffer in one write, as `writev` does: with
    /// `TCP_NODELAY` a 20-byte header and its 100-byte body leave in one segment, and
    /// `read_vectored` fills the reader's three buffers in turn (it used the first buffer
    /// only: the header went alone, the body in a second segment).
    #[test]
    fn vectored_writes_and_reads_take_every_buffer_at_once() {
        use std::io::{IoSlice, IoSliceMut, Read, Write};
        let (a_end, b_end) = crate::testing::link(4096);
        let dev = Arc::new(Writers {
            link: a_end,
            seen: Mutex::new(Vec::new()),
        });
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(dev.clone()), b_end);
        let listener = crate::TcpListener::bind(&b, "0.0.0.0:80").unwrap();
        let mut c = TcpStream::connect(&a, "10.0.0.2:80").unwrap();
        c.set_nodelay(true).unwrap();
        let (mut r, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        dev.seen.lock().unwrap().clear();
        let (head, body): (Vec<u8>, Vec<u8>) = ((0..20).collect(), (20..120).collect());
        let n = c
            .write_vectored(&[IoSlice::new(&head), IoSlice::new(&[]), IoSlice::new(&body)])
            .unwrap();
        assert_eq!(n, 120);
        let (mut x, mut y, mut z) = ([0u8; 7], [0u8; 50], [0u8; 100]);
        // The one segment is read whole by one call.
        let mut bufs = [
            IoSliceMut::new(&mut x),
            IoSliceMut::new(&mut y),
            IoSliceMut::new(&mut z),
        ];
        assert_eq!(r.read_vectored(&mut bufs).unwrap(), 120);
        let all: Vec<u8> = [&x[..], &y[..], &z[..63]].concat();
        assert_eq!(all, (0..120).collect::<Vec<u8>>());
        // 54 bytes of headers (Ethernet, IPv4, TCP) and timestamps (12).
        let data_frames: Vec<usize> = dev
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(len, _)| len - 66)
            .filter(|&n| n > 0)
            .collect();
        assert_eq!(data_frames, [120], "one segment of all 120 bytes");
        drop((c, r));
        a.shutdown();
        b.shutdown();
    }

    /// `Stack::wait_for_lease` hands its timeout to `dhcp::Run::wait_bound`, which added it
    /// to the clock unchecked (`Instant::now() + timeout`): with `Duration::MAX` (the
    /// "no limit" every socket wait accepts) the call panicked at once instead of waiting
    /// for a lease (here none comes: no server; the wait ends when the stack shuts down
    /// and the client stops).
    #[test]
    fn waiting_for_a_lease_without_limit_does_not_panic() {
        let (a_end, _b_end) = crate::testing::link(64);
        let a = StackBuilder::new().device(Arc::new(a_end)).build().unwrap();
        a.start_dhcp("eth0").unwrap();
        let (done_tx, done) = std::sync::mpsc::channel();
        let waiter = {
            let a = a.clone();
            std::thread::spawn(move || {
                let lease = a.wait_for_lease(Duration::MAX);
                let _ = done_tx.send(());
                lease
            })
        };
        // Without a server, the wait goes on: it must not have ended (let alone panicked).
        let early = done.recv_timeout(Duration::from_millis(300));
        a.shutdown();
        let joined = waiter.join();
        assert!(
            early.is_err() && joined.is_ok(),
            "wait_for_lease(Duration::MAX) ended at once: panicked = {}",
            joined.is_err()
        );
    }

    /// A link end whose writes wait while its gate is shut (a device slow to write),
    /// noting which thread waits there.
    struct Gated {
        link: MemoryLink,
        shut: parking_lot::Mutex<bool>,
        opened: parking_lot::Condvar,
        waiting: Mutex<Option<String>>,
    }

    impl Gated {
        fn set(&self, shut: bool) {
            *self.shut.lock() = shut;
            self.opened.notify_all();
        }
    }

    impl Device for Gated {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
            self.link.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> io::Result<()> {
            let mut shut = self.shut.lock();
            while *shut {
                let me = std::thread::current().name().unwrap_or("?").to_string();
                *self.waiting.lock().unwrap() = Some(me);
                self.opened.wait(&mut shut);
            }
            drop(shut);
            self.link.send(frame)
        }
        fn arm_recv_interrupt(&self) -> bool {
            self.link.arm_recv_interrupt()
        }
        fn interrupt_recv(&self) {
            self.link.interrupt_recv()
        }
    }

    /// Two threads call `Stack::shutdown` at once (an application's, and the end of the
    /// program's `exit::end`, say). The first sets `stop`, takes the stack thread's
    /// handle and the drivers (`join`) and waits for the drivers' threads: here the tx
    /// thread is still writing staged segments to a device slow to take them. The second
    /// finds `stop` set and calls `join` too, which found no handle and no drivers left
    /// and returned at once: its caller went on (at exit, the process ends) while the
    /// driver threads still ran and the frames staged last (the segments, the RST of
    /// `tcp_abandon_all`) were not written yet. `shutdown` promises it returns with the
    /// threads joined (found by an independent review).
    #[test]
    fn a_second_shutdown_returns_only_once_the_threads_are_stopped() {
        let (a_end, b_end) = crate::testing::link(4096);
        let dev = Arc::new(Gated {
            link: a_end,
            shut: parking_lot::Mutex::new(false),
            opened: parking_lot::Condvar::new(),
            waiting: Mutex::new(None),
        });
        let (a, b) = crate::testing::two_stacks(StackBuilder::new().device(dev.clone()), b_end);
        let listener = crate::TcpListener::bind(&b, "0.0.0.0:80").unwrap();
        let mut c = TcpStream::connect(&a, "10.0.0.2:80").unwrap();
        let (r, _) = listener.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut &r, &mut sink);
        });
        // Let the handshake's frames settle: nothing is in flight when the gate shuts.
        std::thread::sleep(Duration::from_millis(100));
        // However the test ends, the gate opens (else the end of the program's shutdown
        // of `a` would wait for it).
        struct OpenAtEnd(Arc<Gated>);
        impl Drop for OpenAtEnd {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _open = OpenAtEnd(dev.clone());
        // A run of segments, handed to the tx thread, which waits at the shut gate.
        dev.set(true);
        c.write_all(&[7u8; 200_000]).unwrap();
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while dev.waiting.lock().unwrap().is_none() {
            assert!(std::time::Instant::now() < end, "nothing was written");
            std::thread::sleep(Duration::from_millis(5));
        }
        let writer = dev.waiting.lock().unwrap().clone().unwrap();
        assert_eq!(
            writer, "eth0-tx",
            "the staged segments are the tx thread's to write"
        );
        let (done_tx, done) = std::sync::mpsc::channel();
        let first = {
            let (a, done_tx) = (a.clone(), done_tx.clone());
            std::thread::spawn(move || {
                a.shutdown();
                let _ = done_tx.send(1);
            })
        };
        // The first is now waiting for eth0-tx.
        std::thread::sleep(Duration::from_millis(200));
        let second = {
            let a = a.clone();
            std::thread::spawn(move || {
                a.shutdown();
                let _ = done_tx.send(2);
            })
        };
        let early = done.recv_timeout(Duration::from_millis(300));
        dev.set(false);
        let rest: Vec<_> = (0..2)
            .map(|_| done.recv_timeout(Duration::from_secs(5)))
            .collect();
        first.join().unwrap();
        second.join().unwrap();
        drop(c);
        b.shutdown();
        reader.join().unwrap();
        assert!(
            early.is_err(),
            "shutdown {:?} returned while eth0-tx was still writing (then {rest:?})",
            early
        );
    }

    /// A `Poller` waits in one thread (an event loop) while another thread sends on a
    /// non-blocking UDP socket it watches. The waiter went to sleep when no socket was
    /// held back, so with no recheck timer (`Poller::wait` only sets one when
    /// `any_blocked()` holds as it goes to sleep). Then the sender finds the device's
    /// queue long (a writer is slow), is told `WouldBlock`, and `send_inner` notes the
    /// socket blocked (`note_blocked`), which woke no one. The queue drained; nothing
    /// called `recheck_blocked` (the writer does not take the core, and the stack thread
    /// never rechecks), so the waiting poller never reported the socket writable again,
    /// and the sender, waiting for that report, never sent again (found by an independent
    /// review). Now the first socket held back wakes the waiters, which then look again
    /// every `SEND_RECHECK`.
    #[test]
    fn a_waiting_poller_hears_when_a_held_back_socket_may_send_again() {
        let (a_end, b_end) = crate::testing::link(8192);
        let dev = Arc::new(Gated {
            link: a_end,
            shut: parking_lot::Mutex::new(false),
            opened: parking_lot::Condvar::new(),
            waiting: Mutex::new(None),
        });
        let mut cfg = crate::StackConfig::default();
        cfg.driver.staged_bytes = 64 * 1024;
        let a = StackBuilder::new().config(cfg).device(dev.clone());
        let (a, b) = crate::testing::two_stacks(a, b_end);
        struct OpenAtEnd(Arc<Gated>);
        impl Drop for OpenAtEnd {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _open = OpenAtEnd(dev.clone());
        let sink = UdpSocket::bind(&b, "10.0.0.2:9").unwrap();
        let u = Arc::new(UdpSocket::bind(&a, "10.0.0.1:0").unwrap());
        // The peer's address is resolved first.
        u.send_to(b"hello", "10.0.0.2:9").unwrap();
        sink.recv_from(&mut [0u8; 16]).unwrap();
        u.set_nonblocking(true).unwrap();

        // The event loop: reports every event it gets.
        let poller = Arc::new(crate::Poller::new(&a));
        poller.add(u.socket(), 1).unwrap();
        let (ev_tx, events) = std::sync::mpsc::channel();
        let event_loop = {
            let poller = poller.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    if poller.wait(&mut got, None).is_err() {
                        return;
                    }
                    for e in &got {
                        if ev_tx.send(*e).is_err() {
                            return;
                        }
                    }
                }
            })
        };
        // The report of the add; then the loop waits, with nothing held back.
        let first = events.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(first.writable, "{first:?}");
        std::thread::sleep(Duration::from_millis(50));

        // A writer stuck in the device (the gate), holding the queue's writing turn.
        dev.set(true);
        let stuck = {
            let u = u.clone();
            std::thread::spawn(move || u.send_to(&[1u8; 1400], "10.0.0.2:9").map(|_| ()))
        };
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while dev.waiting.lock().unwrap().is_none() {
            assert!(std::time::Instant::now() < end, "nothing was written");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Datagrams pile up behind it until the queue is long: WouldBlock.
        let mut refused = false;
        for _ in 0..100 {
            match u.send_to(&[2u8; 1400], "10.0.0.2:9") {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
                    refused = true;
                    break;
                }
            }
        }
        assert!(refused, "the queue never got long");
        // The writer goes on and empties the queue.
        dev.set(false);
        stuck.join().unwrap().unwrap();
        let writable = loop {
            match events.recv_timeout(Duration::from_secs(3)) {
                Ok(e) if e.token == 1 && e.writable => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        let backlog_long = a.with_core(|c, _| c.datagram_held(u.socket().handle(), None));
        poller.wake();
        a.shutdown();
        b.shutdown();
        event_loop.join().unwrap();
        assert!(!backlog_long, "the queue is still long");
        assert!(
            writable,
            "the waiting poller never reported the socket writable again"
        );
    }
}
