//! Driver threads: one rx thread and one tx thread per device, joined to the stack by an
//! [`RxSink`] (the socket-api runtime's processes each batch on the rx thread itself; a
//! bounded `Sender<RxFrame>` is another) and a bounded tx queue. These threads (and the socket-api runtime) are the only owners of the clock and of
//! blocking I/O; protocol crates never see either.
//!
//! ```text
//!  device.recv ──rx thread──▶ RxSink::deliver_batch (or a bounded Sender<RxFrame>) ──▶ stack
//!  stack ──▶ Driver::transmit ──▶ [bounded tx queue] ──tx thread──▶ device.send
//!                  └──────── idle link: device.send from the caller ──────┘
//! ```
//!
//! Transmit fast path: waking the tx thread costs more than a whole ping round trip through
//! a user-space forwarder, so when nothing is queued or being sent, `transmit` writes the
//! frame itself (TAP writes do not block). `in_flight` counts frames queued or being written;
//! a caller may write directly only when it moves that count from 0 to 1, so frames are
//! never reordered behind a backlog, and no lock is held across the write.
//!
//! Staged transmit (what the stack's runtime uses): frames are queued in order under the
//! caller's lock ([`Driver::stage_meta_batch`]) and written after it is released
//! ([`Driver::flush_staged`]) by whichever thread flushes first, up to 64 per
//! `Device::send_meta_batch` (one `io_uring_enter` on a TAP of plain frames); a thread that
//! finds another writing leaves its frames to it, so the order holds without a lock across
//! the system calls and without waking the tx thread. A caller that may wait (a blocking
//! datagram send) writes only what was queued when it came and then waits while the queue
//! is long ([`Driver::flush_staged_paced`], [`Pacer`]).
//!
//! Receive batches: after each wake-up the rx thread reads every frame that is ready (up to
//! [`RX_BATCH`], non-blocking reads until the device has none) one after another into one
//! buffer it owns, then hands the whole batch to the sink in one call, which processes it
//! under one lock.

use crate::device::bump;
use crate::ethernet::{self, ethertype};
use crate::mailbox::{Mailbox, Refused};
use crate::vnet::FrameMeta;
use crate::{Device, DeviceInfo, DeviceStats};
use crossbeam_channel::{Sender, TrySendError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::device::MAX_FRAME;

/// How often a blocked rx thread looks at the stop flag, on a device whose reads cannot be
/// interrupted (`Device::arm_recv_interrupt`); on the others (TAPs, in-memory links) it
/// waits for a frame without a timeout and the driver's stop interrupts it, so an idle
/// driver's threads do not wake at all. (The tx thread is woken to stop.)
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Frames read per wake-up at most. Plain-frame receive fills every batch: 128 rather than
/// 64 halves the lock rounds, ACKs and reader wake-ups per byte.
pub const RX_BATCH: usize = 128;

/// A received frame, tagged with the index of the interface it came in on.
#[derive(Debug)]
pub struct RxFrame {
    pub ifindex: usize,
    pub data: Vec<u8>,
    pub meta: FrameMeta,
}

/// Where an rx thread puts the frames it receives.
pub trait RxSink: Send + Sync {
    /// Take one received IPv4 or ARP frame, borrowed from the rx thread's buffer: a sink that
    /// processes it at once copies nothing; one that queues it copies it. `Full` is counted
    /// as a drop, `Closed` ends the rx thread.
    fn deliver(&self, ifindex: usize, frame: &[u8], meta: FrameMeta) -> Result<(), SinkError>;

    /// Take a batch of frames read in one wake-up, in order. Returns how many were dropped
    /// because the sink was full; `Err(Closed)` ends the rx thread.
    fn deliver_batch(
        &self,
        ifindex: usize,
        frames: &[(&[u8], FrameMeta)],
    ) -> Result<usize, SinkError> {
        let mut full = 0;
        for (f, m) in frames {
            match self.deliver(ifindex, f, *m) {
                Ok(()) => {}
                Err(SinkError::Full) => full += 1,
                Err(SinkError::Closed) => return Err(SinkError::Closed),
            }
        }
        Ok(full)
    }

    /// `deliver_batch`, knowing whether the device had more frames ready (the batch ended
    /// because it was full). With `more`, a sink may hold back what it announces to its
    /// own waiters (socket wake-ups) until a later batch or [`RxSink::idle`]: the rx thread
    /// calls `idle` before it waits for the device again.
    fn deliver_batch_more(
        &self,
        ifindex: usize,
        frames: &[(&[u8], FrameMeta)],
        more: bool,
    ) -> Result<usize, SinkError> {
        let _ = more;
        self.deliver_batch(ifindex, frames)
    }

    /// The device has no frame ready and the rx thread is about to wait for one: release
    /// whatever `deliver_batch_more` held back.
    fn idle(&self) {}
}

/// Why an [`RxSink`] refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkError {
    Full,
    Closed,
}

/// The plain sink: a bounded channel to whoever processes the frames.
impl RxSink for Sender<RxFrame> {
    fn deliver(&self, ifindex: usize, frame: &[u8], meta: FrameMeta) -> Result<(), SinkError> {
        let frame = RxFrame {
            ifindex,
            data: frame.to_vec(),
            meta,
        };
        self.try_send(frame).map_err(|e| match e {
            TrySendError::Full(_) => SinkError::Full,
            TrySendError::Disconnected(_) => SinkError::Closed,
        })
    }
}

/// Queue sizes for a driver.
#[derive(Clone, Copy, Debug)]
pub struct DriverConfig {
    /// Frames the tx thread's queue holds (`Driver::transmit`).
    pub tx_queue: usize,
    /// Bytes of frames staged and not yet written (`Driver::stage_meta_batch`). Bytes, not
    /// frames: one call may stage a whole send window of plain frames (about 700 for 1 MiB),
    /// or a few 64 KB TSO frames.
    pub staged_bytes: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            tx_queue: 1024,
            staged_bytes: 16 << 20,
        }
    }
}

/// A running device: its threads, its transmit queue and its counters.
pub struct Driver {
    info: DeviceInfo,
    ifindex: usize,
    tx: Option<Arc<Mailbox<TxJob>>>,
    device: Arc<dyn Device>,
    /// Frames queued for the tx thread or being written (see the module doc).
    in_flight: Arc<AtomicUsize>,
    max_frame: usize,
    stats: Arc<DeviceStats>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Frames staged under the caller's lock and written after it (see [`Driver::stage_meta_batch`]).
    outbox: Arc<Outbox>,
}

/// The staged transmit path: frames queued in order under the caller's lock, written after
/// it by whichever thread flushes first (the others leave their frames to it).
struct Outbox {
    /// The frames, and their bytes.
    queue: parking_lot::Mutex<(VecDeque<Staged>, usize)>,
    /// The bound on those bytes (`DriverConfig::staged_bytes`).
    limit: usize,
    /// A thread is writing the queue.
    writing: AtomicBool,
    /// Buffers of written frames, for the caller to take back under its lock.
    spare: parking_lot::Mutex<Vec<Vec<u8>>>,
    /// The tx thread has been asked to write the queue and has not started yet.
    asked: AtomicBool,
    /// Senders waiting in [`Pacer::wait`] for the writer to shorten the queue, and where
    /// they wait (with the queue's lock).
    waiters: AtomicUsize,
    drained: parking_lot::Condvar,
}

impl Outbox {
    /// The queued bytes above which a paced sender waits: a quarter of the bound, so
    /// senders that each stage a datagram (64 KB at most) at a time stay clear of it.
    fn high_water(&self) -> usize {
        self.limit / 4
    }

    /// Wake the paced senders, if any wait, when the queue's `bytes` are at or below the
    /// mark or `any` (the writer stopped: one of them may take over). Called with the
    /// queue's lock held, so a sender about to wait cannot miss it.
    fn wake_paced(&self, bytes: usize, any: bool) {
        if self.waiters.load(Ordering::SeqCst) > 0 && (any || bytes <= self.high_water()) {
            self.drained.notify_all();
        }
    }
}

/// How long a paced sender waits at most before it looks at the queue again, in case a
/// wake-up was missed or the driver stopped.
const PACED_WAIT: Duration = Duration::from_millis(10);

/// A frame staged for transmission.
type Staged = (Vec<u8>, FrameMeta);

/// Buffers of written frames kept for reuse at most.
const SPARE_MAX: usize = 256;

impl Driver {
    /// Start the rx and tx threads of `device`. Received IPv4 and ARP frames go to `sink`
    /// tagged with `ifindex`; anything else is counted and dropped.
    pub fn spawn(
        ifindex: usize,
        device: Arc<dyn Device>,
        sink: Arc<dyn RxSink>,
        cfg: DriverConfig,
    ) -> std::io::Result<Driver> {
        let info = device.info();
        let stats = Arc::new(DeviceStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let tx = Arc::new(Mailbox::new(cfg.tx_queue));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let outbox = Arc::new(Outbox {
            queue: parking_lot::Mutex::new((VecDeque::new(), 0)),
            limit: cfg.staged_bytes,
            writing: AtomicBool::new(false),
            spare: parking_lot::Mutex::new(Vec::new()),
            asked: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            drained: parking_lot::Condvar::new(),
        });

        // The tx thread first: if the rx thread cannot be started, the tx thread is stopped
        // and joined here, and it takes no lock of the caller's (who may hold the lock the
        // rx thread delivers under: joining an rx thread here could wait for ever).
        let tx_thread = {
            let (stats, tx_device) = (stats.clone(), device.clone());
            let max = info.frame_capacity();
            let (in_flight, outbox, queue) = (in_flight.clone(), outbox.clone(), tx.clone());
            std::thread::Builder::new()
                .name(format!("{}-tx", info.name))
                .spawn(move || tx_loop(&*tx_device, max, &queue, &in_flight, &outbox, &stats))?
        };
        let rx_thread = {
            let (device, stats, stop) = (device.clone(), stats.clone(), stop.clone());
            // Read into room for the largest frame any link could hand us, one byte more to
            // tell a truncated read: the kernel side's MTU may be larger than ours.
            let cap = info.frame_capacity().max(MAX_FRAME) + 1;
            let spawned = std::thread::Builder::new()
                .name(format!("{}-rx", info.name))
                .spawn(move || rx_loop(ifindex, &*device, cap, &*sink, &stats, &stop));
            match spawned {
                Ok(t) => t,
                Err(e) => {
                    // Nothing was staged yet: the closed mailbox ends the tx thread.
                    tx.close();
                    let _ = tx_thread.join();
                    return Err(e);
                }
            }
        };
        Ok(Driver {
            max_frame: info.frame_capacity(),
            info,
            ifindex,
            tx: Some(tx),
            device,
            in_flight,
            stats,
            stop,
            threads: vec![rx_thread, tx_thread],
            outbox,
        })
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn ifindex(&self) -> usize {
        self.ifindex
    }

    /// How the device's frames cross the OS boundary (`uring`, `rw` or `memory`).
    pub fn io_path(&self) -> &'static str {
        self.device.io_path()
    }

    pub fn stats(&self) -> &Arc<DeviceStats> {
        &self.stats
    }

    /// Send a frame: written at once when the link is idle, otherwise queued for the tx
    /// thread. Never blocks: a full queue drops the frame and counts it. Returns whether the
    /// frame was sent or queued (false for one dropped, also when written at once: too
    /// long for the link, or refused by the device).
    pub fn transmit(&self, frame: Vec<u8>) -> bool {
        self.transmit_inner(frame, FrameMeta::default()).0
    }

    /// [`Driver::transmit`] with offload metadata (only what the device's `info().offload`
    /// promises). Returns the frame's buffer when the frame was written at once or dropped
    /// (for the caller to reuse), nothing when it was queued.
    pub fn transmit_meta(&self, frame: Vec<u8>, meta: FrameMeta) -> Option<Vec<u8>> {
        self.transmit_inner(frame, meta).1
    }

    fn transmit_inner(&self, frame: Vec<u8>, meta: FrameMeta) -> (bool, Option<Vec<u8>>) {
        let Some(tx) = &self.tx else {
            bump(&self.stats.tx_dropped_shutdown, 1);
            return (false, Some(frame));
        };
        if self
            .in_flight
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let sent = send_counted(&*self.device, self.max_frame, &frame, &meta, &self.stats);
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return (sent, Some(frame));
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        match tx.push(TxJob::Frame(frame, meta)) {
            Ok(()) => (true, None),
            Err(refused) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                let (job, cause) = match refused {
                    Refused::Full(job) => (job, &self.stats.tx_dropped_queue_full),
                    // The driver is stopping: the tx thread takes nothing more.
                    Refused::Closed(job) => (job, &self.stats.tx_dropped_shutdown),
                };
                bump(cause, 1);
                match job {
                    TxJob::Frame(frame, _) => (false, Some(frame)),
                    TxJob::Flush => (false, None),
                }
            }
        }
    }

    /// Stage frames for transmission, in order, emptying `frames`: a cheap queue push, meant
    /// for a caller that holds a lock which orders the frames of several threads, as the
    /// stack's core lock does. [`Driver::flush_staged`], called after that lock is released,
    /// writes them, so the lock is not held across system calls. A full queue
    /// (`DriverConfig::staged_bytes`) drops the frame and counts it; `reuse` gets the
    /// buffers of dropped frames, and first those of frames written since the last call.
    ///
    /// A caller uses either this path or [`Driver::transmit_meta`] on a driver: the two are
    /// not ordered with each other.
    pub fn stage_meta_batch(
        &self,
        frames: &mut Vec<(Vec<u8>, FrameMeta)>,
        reuse: &mut dyn FnMut(Vec<u8>),
    ) {
        self.take_spare(reuse);
        if self.tx.is_none() {
            bump(&self.stats.tx_dropped_shutdown, frames.len() as u64);
            frames.drain(..).for_each(|(f, _)| reuse(f));
            return;
        }
        let mut q = self.outbox.queue.lock();
        let (q, bytes) = &mut *q;
        for (f, m) in frames.drain(..) {
            if *bytes + f.len() <= self.outbox.limit {
                *bytes += f.len();
                q.push_back((f, m));
            } else {
                bump(&self.stats.tx_dropped_queue_full, 1);
                reuse(f);
            }
        }
    }

    /// Buffers of frames written since the last call, for reuse.
    pub fn take_spare(&self, reuse: &mut dyn FnMut(Vec<u8>)) {
        let mut spare = self.outbox.spare.lock();
        spare.drain(..).for_each(reuse);
    }

    /// Write the staged frames, up to 64 per [`Device::send_meta_batch`], unless
    /// another thread is writing them already (it then writes these too: it looks at the
    /// queue again after it stops). Returns when the queue is empty or another thread has
    /// taken over.
    pub fn flush_staged(&self) {
        flush_outbox(
            &self.outbox,
            &*self.device,
            self.max_frame,
            &self.stats,
            usize::MAX,
        );
    }

    /// [`Driver::flush_staged`] for a caller that may wait, an application's datagram
    /// send: it writes no more than what is queued when it starts (its own frames are
    /// among them) and leaves the rest to the tx thread, so a sender does not end up
    /// writing for every other sender for as long as they send; then it returns a
    /// [`Pacer`] to wait on, once the caller has let go of its locks, while the queue is
    /// long. So senders that together outrun the device are held back, as a kernel's send
    /// buffer holds back a blocking UDP sender, instead of finding the queue full and
    /// losing datagrams in it.
    pub fn flush_staged_paced(&self) -> Pacer {
        let ob = &self.outbox;
        let budget = ob.queue.lock().1;
        if flush_outbox(ob, &*self.device, self.max_frame, &self.stats, budget) {
            self.hand_off_staged();
        }
        Pacer {
            outbox: self.outbox.clone(),
            stop: self.stop.clone(),
            tx: self.tx.clone(),
            device: self.device.clone(),
            max_frame: self.max_frame,
            stats: self.stats.clone(),
        }
    }

    /// The fill of the staged queue, to be looked at without the driver: what a
    /// non-blocking datagram sender asks before it sends (see [`Backlog`]).
    pub fn backlog(&self) -> Backlog {
        Backlog(self.outbox.clone())
    }

    /// Leave the staged frames to the driver's tx thread, which writes them (as
    /// [`Driver::flush_staged`] would) while the caller goes on: for an rx thread with more
    /// frames waiting, whose writes would otherwise hold up the next batch. The write of an
    /// ACK runs the peer kernel's whole transmit path for the data that ACK lets it send
    /// (its segmentation and checksums with plain frames); the tx thread runs it on the
    /// other core. Does nothing when a thread is writing the queue already (it looks at the
    /// queue again when done) or the tx thread has been asked and not yet started; writes
    /// itself when the tx thread's queue is full or gone.
    pub fn hand_off_staged(&self) {
        hand_off(
            &self.outbox,
            self.tx.as_deref(),
            &*self.device,
            self.max_frame,
            &self.stats,
        );
    }

    /// Stop both threads and wait for them; the device is released when the last handle drops.
    /// Ask both threads to stop, without waiting (stop many drivers at once, then join).
    pub fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.device.interrupt_recv();
        if let Some(tx) = &self.tx {
            tx.close();
        }
    }

    pub fn shutdown(&mut self) {
        self.signal_stop();
        self.tx = None;
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            // Never join oneself (a driver dropped from its own rx thread).
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        // Staged after the tx thread wrote its last: nobody writes them now.
        let mut q = self.outbox.queue.lock();
        let (left, bytes) = &mut *q;
        bump(&self.stats.tx_dropped_shutdown, left.len() as u64);
        left.clear();
        *bytes = 0;
        self.outbox.wake_paced(0, true);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn rx_loop(
    ifindex: usize,
    device: &dyn Device,
    cap: usize,
    sink: &dyn RxSink,
    stats: &DeviceStats,
    stop: &AtomicBool,
) {
    // A batch's frames lie one after another (each at a cache line's start) in one buffer,
    // each read offered room for the largest frame: a batch of plain frames touches
    // 192 KB of it, always the same, where a 64 KB buffer per frame spread it over 128
    // pages (the rx thread's cost per plain frame 2% lower, BENCHMARKS.md). Its pages are
    // only resident once a batch of large (offloaded) frames has reached them.
    let mut arena: Vec<u8> = vec![0u8; RX_BATCH * (cap + 64) + 64];
    let start = arena.as_ptr().align_offset(64).min(63);
    // (offset, length, metadata) of each frame kept from this wake-up.
    let mut kept: Vec<(usize, usize, FrameMeta)> = Vec::with_capacity(RX_BATCH);
    // The last batch was full and the sink may be holding something back: look for a frame
    // without waiting first, and tell the sink before waiting.
    let mut held = false;
    // The last wake-up brought one frame (pings, requests and replies, paced segments): the
    // first frame after the next wait is handed over at once, before the read that would
    // find the device empty, so its answer leaves a system call sooner; `recheck` then
    // looks for more without waiting. A burst that follows is read as a batch and ends it.
    let (mut lone, mut recheck) = (false, false);
    // The device is gone for good (see `is_gone`): the batch read before is handed over,
    // then this thread ends.
    let mut gone = None;
    // Armed here, before the first look at `stop`: an interrupt from before (a device
    // read by an earlier driver) is cleared, one from now on is seen.
    let idle_wait = if device.arm_recv_interrupt() {
        Duration::MAX
    } else {
        POLL_INTERVAL
    };
    while !stop.load(Ordering::Relaxed) {
        kept.clear();
        let mut slot = 0;
        let mut off = start;
        let mut timeout = if held || recheck {
            Duration::ZERO
        } else {
            idle_wait
        };
        recheck = false;
        while slot < RX_BATCH && off + cap <= arena.len() {
            let buf = &mut arena[off..off + cap];
            let (n, meta) = match device.recv_meta(buf, timeout) {
                Ok(Some(got)) => got,
                Ok(None) if held && slot == 0 => {
                    // Nothing came after a full batch: the sink releases what it held
                    // before this thread waits.
                    held = false;
                    sink.idle();
                    timeout = idle_wait;
                    continue;
                }
                Ok(None) => break,
                Err(e) if crate::FrameTooLong::of(&e).is_some() => {
                    let long = crate::FrameTooLong::of(&e).map_or(0, |l| l.at_least);
                    // A frame read and dropped, not a failing device; its bytes count as
                    // far as the device knows them.
                    timeout = Duration::ZERO;
                    slot += 1;
                    bump(&stats.rx_packets, 1);
                    bump(&stats.rx_bytes, long as u64);
                    bump(&stats.rx_dropped_too_big, 1);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    // A frame read whose offload metadata the device refused: dropped.
                    timeout = Duration::ZERO;
                    slot += 1;
                    bump(&stats.rx_packets, 1);
                    bump(&stats.rx_dropped_bad_meta, 1);
                    continue;
                }
                Err(e) => {
                    bump(&stats.rx_errors, 1);
                    if held && slot == 0 {
                        held = false;
                        sink.idle();
                    }
                    if is_gone(&e) {
                        gone = Some(e);
                        break;
                    }
                    if kept.is_empty() {
                        // A device that keeps failing must not turn this thread into a spin loop.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    break;
                }
            };
            let waited = !timeout.is_zero();
            // From here on, take only what is ready: the batch ends when the device is empty.
            timeout = Duration::ZERO;
            // Every frame read counts towards the batch, kept or dropped: a flood of frames
            // the stack drops must not hold back those already read.
            slot += 1;
            bump(&stats.rx_packets, 1);
            bump(&stats.rx_bytes, n as u64);
            if n >= buf.len() {
                bump(&stats.rx_dropped_too_big, 1);
                continue;
            }
            let Some(frame) = ethernet::Frame::new_checked(&buf[..n]) else {
                bump(&stats.rx_dropped_runt, 1);
                continue;
            };
            match frame.ethertype() {
                ethertype::IPV4 | ethertype::ARP => {}
                _ => {
                    bump(&stats.rx_dropped_ethertype, 1);
                    continue;
                }
            }
            if meta.gso.is_some() {
                bump(&stats.rx_gso_frames, 1);
            }
            if matches!(meta.csum, crate::vnet::Csum::Partial { .. }) {
                bump(&stats.rx_csum_partial, 1);
            }
            kept.push((off, n, meta));
            off += n.next_multiple_of(64);
            if waited && lone {
                recheck = true;
                break;
            }
        }
        if kept.is_empty() {
            if let Some(e) = gone {
                return say_gone(device, sink, &e);
            }
            continue;
        }
        bump(&stats.rx_batches, 1);
        lone = kept.len() == 1;
        let frames: Vec<(&[u8], FrameMeta)> = kept
            .iter()
            .map(|&(i, n, m)| (&arena[i..i + n], m))
            .collect();
        held = slot == RX_BATCH;
        match sink.deliver_batch_more(ifindex, &frames, held) {
            Ok(full) => bump(&stats.rx_dropped_queue_full, full as u64),
            Err(SinkError::Full) => bump(&stats.rx_dropped_queue_full, frames.len() as u64),
            Err(SinkError::Closed) => {
                // The stack stops taking frames before its drivers stop: this batch is
                // the last, read and not delivered.
                bump(&stats.rx_dropped_shutdown, frames.len() as u64);
                return;
            }
        }
        if let Some(e) = gone {
            return say_gone(device, sink, &e);
        }
    }
}

/// A read error that says the device is no more: a TAP whose interface was deleted
/// (`ip link del`) has its descriptor detached, every read failing with EBADFD and every
/// poll saying POLLERR at once (drivers/net/tun.c: `tun_chr_read_iter`, `tun_chr_poll`);
/// ENXIO and ENODEV say the same of a device. Reading again would fail the same way, for
/// as long as the program runs.
fn is_gone(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD | libc::ENXIO | libc::ENODEV)
    )
}

/// End the rx thread of a device that is gone: one line on stderr (a failure to write it
/// ignored, as there is nowhere else to say it), and whatever the sink held released.
fn say_gone(device: &dyn Device, sink: &dyn RxSink, e: &std::io::Error) {
    use std::io::Write;
    sink.idle();
    let _ = writeln!(
        std::io::stderr().lock(),
        "tapip: {}: the device is gone ({e}): no more frames are read from it",
        device.info().name
    );
}

/// What the tx thread is given: a frame to write after those queued before it, or the
/// request to write the staged queue ([`Driver::hand_off_staged`]).
enum TxJob {
    Frame(Vec<u8>, FrameMeta),
    Flush,
}

/// The body of [`Driver::hand_off_staged`], shared with [`Pacer`].
fn hand_off(
    ob: &Outbox,
    tx: Option<&Mailbox<TxJob>>,
    device: &dyn Device,
    max_frame: usize,
    stats: &DeviceStats,
) {
    // SeqCst on `writing` and `asked`, here and where they are cleared and taken: a
    // thread clearing one and then reading the other, against this one doing the
    // reverse, must not both miss the other's write (or staged frames could wait for
    // the next flush).
    if ob.writing.load(Ordering::SeqCst) || ob.asked.swap(true, Ordering::SeqCst) {
        return;
    }
    let asked = tx.is_some_and(|tx| tx.push(TxJob::Flush).is_ok());
    if !asked {
        ob.asked.store(false, Ordering::SeqCst);
        flush_outbox(ob, device, max_frame, stats, usize::MAX);
    }
}

/// The fill of a driver's staged queue ([`Driver::backlog`]): a sender that may not wait
/// (a non-blocking datagram socket) sends nothing while the queue is longer than a paced
/// sender would wait for (a quarter of `DriverConfig::staged_bytes`), as Linux says
/// EAGAIN to one whose send buffer is full, instead of having its datagrams dropped
/// where the queue is full.
#[derive(Clone)]
pub struct Backlog(Arc<Outbox>);

impl Backlog {
    /// More is queued than a paced sender would wait for.
    pub fn is_long(&self) -> bool {
        self.0.queue.lock().1 > self.0.high_water()
    }
}

/// What a paced sender waits on (`Driver::flush_staged_paced`): the device's staged
/// queue, without the driver (so without the caller's hold on it).
pub struct Pacer {
    outbox: Arc<Outbox>,
    stop: Arc<AtomicBool>,
    tx: Option<Arc<Mailbox<TxJob>>>,
    device: Arc<dyn Device>,
    max_frame: usize,
    stats: Arc<DeviceStats>,
}

impl Pacer {
    /// Wait while more than a quarter of `DriverConfig::staged_bytes` is queued, until
    /// the writer has brought it below that, the driver stops, or `until` passes (a
    /// socket's send timeout). Nobody writing and nobody asked to: the tx thread is.
    pub fn wait(&self, until: Option<std::time::Instant>) {
        let ob = &*self.outbox;
        loop {
            let mut q = ob.queue.lock();
            if q.1 <= ob.high_water() || self.stop.load(Ordering::SeqCst) {
                return;
            }
            let now = std::time::Instant::now();
            if until.is_some_and(|t| now >= t) {
                return;
            }
            if !ob.writing.load(Ordering::SeqCst) && !ob.asked.load(Ordering::SeqCst) {
                drop(q);
                hand_off(
                    ob,
                    self.tx.as_deref(),
                    &*self.device,
                    self.max_frame,
                    &self.stats,
                );
                continue;
            }
            // The writer wakes us (under this lock, so not before we wait) when the
            // queue is short enough or when it stops.
            let wait = until.map_or(PACED_WAIT, |t| (t - now).min(PACED_WAIT));
            ob.waiters.fetch_add(1, Ordering::SeqCst);
            ob.drained.wait_for(&mut q, wait);
            ob.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The body of [`Driver::flush_staged`], shared with the tx thread: write the staged
/// frames in batches until the queue is empty, or until `budget` bytes are written;
/// returns true when it stopped for the budget with frames still queued (for another
/// writer). Returns at once when another thread is writing (it writes these too).
fn flush_outbox(
    ob: &Outbox,
    device: &dyn Device,
    max_frame: usize,
    stats: &DeviceStats,
    budget: usize,
) -> bool {
    let mut taken: Vec<(Vec<u8>, FrameMeta)> = Vec::new();
    let mut written = 0usize;
    loop {
        let Some(writer) = Writer::take(ob) else {
            return false;
        };
        while written < budget {
            {
                let mut q = ob.queue.lock();
                let (q, bytes) = &mut *q;
                let n = q.len().min(TX_BATCH);
                for (f, m) in q.drain(..n) {
                    *bytes -= f.len();
                    written += f.len();
                    taken.push((f, m));
                }
                ob.wake_paced(*bytes, false);
            }
            if taken.is_empty() {
                break;
            }
            write_batch(device, max_frame, &taken, stats);
            let mut spare = ob.spare.lock();
            for (f, _) in taken.drain(..) {
                if spare.len() < SPARE_MAX {
                    spare.push(f);
                }
            }
        }
        drop(writer);
        // A frame staged after the last look, by a thread that found this one writing,
        // is still queued: write it too, unless the budget is spent.
        let q = ob.queue.lock();
        ob.wake_paced(q.1, true);
        if q.0.is_empty() {
            return false;
        }
        if written >= budget {
            return true;
        }
        drop(q);
    }
}

/// The hold of the thread writing a staged queue (`Outbox::writing`), let go when dropped:
/// also when the device's write panics. Held by a thread that died, it was never let go:
/// every later flush left its frames to that thread (so nothing staged was written again,
/// and the queue filled), and a paced sender waited for it for ever.
struct Writer<'a>(&'a Outbox);

impl<'a> Writer<'a> {
    /// The hold, unless another thread has it.
    fn take(ob: &'a Outbox) -> Option<Writer<'a>> {
        ob.writing
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Writer(ob))
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.0.writing.store(false, Ordering::SeqCst);
    }
}

/// Hand `frames` that fit the device to it in one `send_meta_batch`, counting each result.
fn write_batch(
    device: &dyn Device,
    max_frame: usize,
    frames: &[(Vec<u8>, FrameMeta)],
    stats: &DeviceStats,
) {
    let batch: Vec<(&[u8], FrameMeta)> = frames
        .iter()
        .filter(|(f, m)| fits(max_frame, f, m, stats))
        .map(|(f, m)| (&f[..], *m))
        .collect();
    device.send_meta_batch(&batch, &mut |i, r| {
        if let Some((f, m)) = batch.get(i) {
            count_sent(f, m, r, stats);
        }
    });
}

/// Frames the tx thread takes from its queue for one `send_meta_batch` at most.
const TX_BATCH: usize = 64;

/// Whether `frame` fits the device (a segment the device cuts may be as large as one IPv4
/// datagram); counted when it does not.
fn fits(max_frame: usize, frame: &[u8], meta: &FrameMeta, stats: &DeviceStats) -> bool {
    let max = if meta.gso.is_some() {
        MAX_FRAME
    } else {
        max_frame
    };
    if frame.len() > max {
        bump(&stats.tx_dropped_too_big, 1);
        return false;
    }
    true
}

/// Count the outcome of one frame handed to the device.
fn count_sent(frame: &[u8], meta: &FrameMeta, r: std::io::Result<()>, stats: &DeviceStats) {
    match r {
        Ok(()) => {
            if meta.gso.is_some() {
                bump(&stats.tx_gso_frames, 1);
            }
            if matches!(meta.csum, crate::vnet::Csum::Partial { .. }) {
                bump(&stats.tx_csum_partial, 1);
            }
            bump(&stats.tx_packets, 1);
            bump(&stats.tx_bytes, frame.len() as u64);
        }
        // The device's own queue is full (an in-memory link; a TAP drops silently instead).
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            bump(&stats.tx_dropped_queue_full, 1)
        }
        // A TAP whose interface is down (the kernel side not brought up yet): a drop with
        // a known cause, not a failure of the device.
        Err(e) if e.raw_os_error() == Some(libc::EIO) => bump(&stats.tx_dropped_link_down, 1),
        Err(_) => bump(&stats.tx_errors, 1),
    }
}

fn send_counted(
    device: &dyn Device,
    max_frame: usize,
    frame: &[u8],
    meta: &FrameMeta,
    stats: &DeviceStats,
) -> bool {
    if !fits(max_frame, frame, meta, stats) {
        return false;
    }
    let r = device.send_meta(frame, meta);
    let sent = r.is_ok();
    count_sent(frame, meta, r, stats);
    sent
}

/// The tx thread: takes what is queued (up to [`TX_BATCH`] frames at once, in order) and
/// hands it to the device in one `send_meta_batch`, which a TAP on io_uring writes with one
/// system call. `in_flight` drops only once the frames are written, so a caller's direct
/// write never overtakes them. Asked to (`TxJob::Flush`), and before it ends, it writes
/// the staged queue.
fn tx_loop(
    device: &dyn Device,
    max_frame: usize,
    queue: &Mailbox<TxJob>,
    in_flight: &AtomicUsize,
    outbox: &Outbox,
    stats: &DeviceStats,
) {
    let mut taken: Vec<(Vec<u8>, FrameMeta)> = Vec::with_capacity(TX_BATCH);
    let mut jobs = VecDeque::with_capacity(TX_BATCH);
    let mut death = TxDeath {
        queue,
        in_flight,
        outbox,
        stats,
        writing: 0,
    };
    loop {
        // No timeout: the thread sleeps until a job or the close (`Driver::signal_stop`).
        if !queue.take(&mut jobs, TX_BATCH) {
            // Closed (so a hand-off from now on writes its frames itself) and empty.
            flush_outbox(outbox, device, max_frame, stats, usize::MAX);
            return;
        }
        taken.clear();
        let mut asked = false;
        for j in jobs.drain(..) {
            match j {
                TxJob::Frame(f, m) => taken.push((f, m)),
                TxJob::Flush => asked = true,
            }
        }
        if asked {
            outbox.asked.store(false, Ordering::SeqCst);
            flush_outbox(outbox, device, max_frame, stats, usize::MAX);
        }
        if taken.is_empty() {
            continue;
        }
        let n = taken.len();
        death.writing = n;
        write_batch(device, max_frame, &taken, stats);
        in_flight.fetch_sub(n, Ordering::AcqRel);
        death.writing = 0;
    }
}

/// The end of a tx thread that dies of a panic (a device's write that panics), when
/// dropped as it unwinds: its queue is closed, so that the callers write from then on, as
/// once the driver stops (a hand-off writes itself, a frame `transmit` would queue is
/// dropped). Without it, a hand-off's request waited in the queue for ever, and every
/// later hand-off (and a paced sender, which waited for ever) took it to be under way; and
/// the frames queued or being written stayed counted in `in_flight`, so `transmit` never
/// wrote directly again but queued every frame for the dead thread.
struct TxDeath<'a> {
    queue: &'a Mailbox<TxJob>,
    in_flight: &'a AtomicUsize,
    outbox: &'a Outbox,
    stats: &'a DeviceStats,
    /// The frames of the batch being written (counted in `in_flight`).
    writing: usize,
}

impl Drop for TxDeath<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.queue.close();
        let mut left = VecDeque::new();
        while self.queue.take(&mut left, usize::MAX) {}
        // Those the device never saw are errors of the device; the batch it panicked in
        // counted what it reported.
        let queued = left
            .iter()
            .filter(|j| matches!(j, TxJob::Frame(..)))
            .count();
        bump(&self.stats.tx_errors, queued as u64);
        self.in_flight
            .fetch_sub(self.writing + queued, Ordering::AcqRel);
        // A request taken (or now dropped) that nobody serves: the next hand-off writes.
        self.outbox.asked.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceStatsSnapshot, MacAddr, MemoryLink};
    use crossbeam_channel::bounded;

    pub(super) fn frame(ethertype: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        ethernet::Repr {
            dst: MacAddr::BROADCAST,
            src: MacAddr([2, 0, 0, 0, 0, 9]),
            ethertype,
        }
        .emit(&mut f);
        f
    }

    #[test]
    fn forwards_ip_and_arp_and_counts_the_rest() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 64);
        let (to_stack, from_dev) = bounded(16);
        let mut d =
            Driver::spawn(3, Arc::new(b), Arc::new(to_stack), DriverConfig::default()).unwrap();
        a.send(&frame(ethertype::IPV6, 60)).unwrap();
        a.send(&frame(ethertype::ARP, 42)).unwrap();
        a.send(&[1, 2, 3]).unwrap();
        a.send(&frame(ethertype::IPV4, 60)).unwrap();
        let f1 = from_dev.recv_timeout(Duration::from_secs(2)).unwrap();
        let f2 = from_dev.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!((f1.ifindex, f1.data.len(), f2.data.len()), (3, 42, 60));
        // Transmit path: the frame reaches the other end; one too long for the link is
        // dropped (counted), and says so.
        assert!(d.transmit(frame(ethertype::IPV4, 100)));
        assert!(!d.transmit(frame(ethertype::IPV4, 1515)));
        let mut buf = [0u8; 1514];
        assert_eq!(a.recv(&mut buf, Duration::from_secs(2)).unwrap(), Some(100));
        d.shutdown();
        let s = d.stats().snapshot();
        assert_eq!(s.rx_packets, 4);
        assert_eq!(s.rx_dropped_ethertype, 1);
        assert_eq!(s.rx_dropped_runt, 1);
        assert_eq!((s.tx_packets, s.tx_dropped_too_big), (1, 1));
        assert!(!d.transmit(vec![0; 60]), "no transmit after shutdown");
    }

    #[test]
    fn frames_keep_their_order_under_backlog() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4096);
        let (to_stack, _rx) = bounded(1);
        let d = Arc::new(
            Driver::spawn(
                0,
                Arc::new(b),
                Arc::new(to_stack),
                DriverConfig {
                    tx_queue: 4096,
                    ..DriverConfig::default()
                },
            )
            .unwrap(),
        );
        let mut senders = Vec::new();
        for t in 0..2u8 {
            let d = d.clone();
            senders.push(std::thread::spawn(move || {
                for i in 0..1000u16 {
                    let mut f = frame(ethertype::IPV4, 60);
                    f[14] = t;
                    f[15..17].copy_from_slice(&i.to_be_bytes());
                    assert!(d.transmit(f));
                }
            }));
        }
        for s in senders {
            s.join().unwrap();
        }
        let mut next = [0u16; 2];
        let mut buf = [0u8; 1514];
        for _ in 0..2000 {
            let n = a.recv(&mut buf, Duration::from_secs(2)).unwrap();
            assert_eq!(n, Some(60));
            let t = usize::from(buf[14]);
            assert_eq!(
                u16::from_be_bytes([buf[15], buf[16]]),
                next[t],
                "sender {t} reordered"
            );
            next[t] += 1;
        }
        assert_eq!(d.stats().snapshot().tx_packets, 2000);
    }

    #[test]
    fn full_stack_queue_is_counted() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 64);
        let (to_stack, _from_dev) = bounded(1);
        let d = Driver::spawn(0, Arc::new(b), Arc::new(to_stack), DriverConfig::default()).unwrap();
        for _ in 0..3 {
            a.send(&frame(ethertype::IPV4, 60)).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while d.stats().snapshot().rx_dropped_queue_full < 2 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(d.stats().snapshot().rx_dropped_queue_full, 2);
    }

    /// A sink closed from the start: says how many frames each batch it refused had.
    struct ClosedSink(crossbeam_channel::Sender<usize>);

    impl RxSink for ClosedSink {
        fn deliver(&self, _: usize, _: &[u8], _: FrameMeta) -> Result<(), SinkError> {
            Err(SinkError::Closed)
        }
        fn deliver_batch_more(
            &self,
            _: usize,
            frames: &[(&[u8], FrameMeta)],
            _: bool,
        ) -> Result<usize, SinkError> {
            let _ = self.0.send(frames.len());
            Err(SinkError::Closed)
        }
    }

    /// Frames still in a driver when it stops are drops like any other, counted: a batch
    /// read and refused by a closed sink, frames staged after the tx thread wrote its last,
    /// one refused by the closed tx queue, and whatever comes after the stop.
    #[test]
    fn frames_left_in_a_stopping_driver_are_counted() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 64);
        for _ in 0..3 {
            a.send(&frame(ethertype::IPV4, 60)).unwrap();
        }
        let (told, batches) = bounded(8);
        let sink = Arc::new(ClosedSink(told));
        let mut d = Driver::spawn(0, Arc::new(b), sink, DriverConfig::default()).unwrap();
        // The rx thread read a batch, which the sink refused: it ends.
        let read = batches.recv_timeout(Duration::from_secs(10)).unwrap() as u64;
        // The tx thread stopped and gone (it wrote what was staged then: nothing).
        d.signal_stop();
        let tx_thread = d.threads.pop().unwrap();
        tx_thread.join().unwrap();
        // Staged after that: nobody writes them.
        let mut staged: Vec<_> = (0..3).map(|i| numbered(0, i, 60)).collect();
        d.stage_meta_batch(&mut staged, &mut |_| {});
        // Another thread writing: this frame would queue for the tx thread, closed.
        d.in_flight.fetch_add(1, Ordering::SeqCst);
        assert!(!d.transmit(frame(ethertype::IPV4, 60)));
        d.in_flight.fetch_sub(1, Ordering::SeqCst);
        d.shutdown();
        // After the stop: neither written nor queued.
        assert!(!d.transmit(frame(ethertype::IPV4, 60)));
        let mut late = vec![numbered(0, 9, 60)];
        d.stage_meta_batch(&mut late, &mut |_| {});
        let s = d.stats().snapshot();
        assert_eq!((s.rx_packets, s.rx_dropped()), (read, read), "{s:?}");
        assert_eq!((s.tx_packets, s.tx_dropped()), (0, 3 + 1 + 1 + 1), "{s:?}");
        assert_eq!(s.rx_dropped_shutdown, read);
        assert_eq!((s.tx_dropped_shutdown, s.tx_dropped_queue_full), (6, 0));
    }

    /// Records what an rx thread tells it: each batch's size and `more`, and `idle`s.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl RxSink for Recorder {
        fn deliver(&self, _: usize, _: &[u8], _: FrameMeta) -> Result<(), SinkError> {
            self.0.lock().unwrap().push("one".into());
            Ok(())
        }
        fn deliver_batch_more(
            &self,
            _: usize,
            frames: &[(&[u8], FrameMeta)],
            more: bool,
        ) -> Result<usize, SinkError> {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} more={more}", frames.len()));
            Ok(0)
        }
        fn idle(&self) {
            self.0.lock().unwrap().push("idle".into());
        }
    }

    /// A link whose reads are written into the same log as a `Recorder`'s deliveries.
    struct LoggedReads {
        link: MemoryLink,
        log: Arc<Recorder>,
    }

    impl Device for LoggedReads {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            let got = self.link.recv(buf, timeout)?;
            let what = if got.is_some() { "read" } else { "empty" };
            self.log.0.lock().unwrap().push(what.into());
            Ok(got)
        }
        fn send(&self, frame: &[u8]) -> std::io::Result<()> {
            self.link.send(frame)
        }
        fn arm_recv_interrupt(&self) -> bool {
            self.link.arm_recv_interrupt()
        }
        fn interrupt_recv(&self) {
            self.link.interrupt_recv()
        }
    }

    #[test]
    fn a_lone_frame_after_a_wait_is_handed_over_before_the_device_is_found_empty() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 300);
        let log = Arc::new(Recorder::default());
        let dev = LoggedReads {
            link: b,
            log: log.clone(),
        };
        let d = Driver::spawn(0, Arc::new(dev), log.clone(), DriverConfig::default()).unwrap();
        // The log once `done` holds of it, and 30 ms later (anything more would show).
        let settle = |done: &dyn Fn(&[String]) -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !done(&log.0.lock().unwrap()) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "not there: {:?}",
                    log.0.lock().unwrap()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(30));
            log.0.lock().unwrap().clone()
        };
        // Frames handed over so far.
        let frames = |l: &[String]| -> usize {
            l.iter()
                .filter_map(|e| {
                    e.strip_suffix(" more=false")
                        .or(e.strip_suffix(" more=true"))
                })
                .filter_map(|n| n.parse::<usize>().ok())
                .sum()
        };
        let sent = |n: usize| {
            for _ in 0..n {
                a.send(&frame(ethertype::IPV4, 60)).unwrap();
            }
        };
        // The first frame is read as a batch: the thread reads on until the device is
        // empty, then hands it over. One frame came, so the next wake-up's first frame is
        // handed over at once, and the device is found empty after.
        sent(1);
        let first = settle(&|l| frames(l) == 1);
        assert_eq!(first, ["read", "empty", "1 more=false"]);
        sent(1);
        let second = settle(&|l| l.len() >= first.len() + 3);
        assert_eq!(second[first.len()..], ["read", "1 more=false", "empty"]);
        // A burst after a lone frame: its first frame alone, the rest in batches.
        sent(200);
        let third = settle(&|l| frames(l) == 202);
        let batches: Vec<&String> = third[second.len()..]
            .iter()
            .filter(|e| e.contains("more="))
            .collect();
        assert_eq!(batches[0], "1 more=false", "{batches:?}");
        assert!(batches.len() >= 2, "{batches:?}");
        assert_eq!(frames(&third[second.len()..]), 200);
        drop(d);
    }

    #[test]
    fn a_full_batch_says_more_and_the_sink_hears_when_the_device_is_empty() {
        let n = RX_BATCH + 10;
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, n);
        for _ in 0..n {
            a.send(&frame(ethertype::IPV4, 60)).unwrap();
        }
        let sink = Arc::new(Recorder::default());
        let d = Driver::spawn(0, Arc::new(b), sink.clone(), DriverConfig::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while sink.0.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(d);
        let seen = sink.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [format!("{RX_BATCH} more=true"), "10 more=false".into()],
            "the batch that emptied the device releases what was held, no idle needed"
        );
        // Exactly a full batch: the rx thread finds nothing more and says so before waiting.
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, n);
        for _ in 0..RX_BATCH {
            a.send(&frame(ethertype::IPV4, 60)).unwrap();
        }
        let sink = Arc::new(Recorder::default());
        let d = Driver::spawn(0, Arc::new(b), sink.clone(), DriverConfig::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while sink.0.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(d);
        assert_eq!(
            *sink.0.lock().unwrap(),
            [format!("{RX_BATCH} more=true"), "idle".into()]
        );
    }

    /// Voluntary context switches and nanoseconds run of this process's thread named
    /// `name` (Linux). Threads that end during the scan (other tests') are passed over.
    fn thread_use(name: &str) -> Option<(u64, u64)> {
        for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let dir = t.path();
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            if comm.trim() != name {
                continue;
            }
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            let line = status
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches"))?;
            let switches = line.split_whitespace().nth(1)?.parse().ok()?;
            let sched = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            let ran = sched.split_whitespace().next()?.parse().ok()?;
            return Some((switches, ran));
        }
        None
    }

    /// Stop `d` on another thread: fails, rather than hangs, if the stop never returns.
    fn shutdown_within(mut d: Driver, limit: Duration) {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            d.shutdown();
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(limit).is_ok(),
            "the driver did not stop in {limit:?}"
        );
    }

    /// How often the idle rx thread `name` wakes in 400 ms (a reader polling a stop flag
    /// every 50 ms: about 8 times), and how long it runs (one that spins: all the time).
    fn idle_use(name: &str) -> (u64, Duration) {
        std::thread::sleep(Duration::from_millis(50));
        let before = thread_use(name).expect("the rx thread");
        std::thread::sleep(Duration::from_millis(400));
        let after = thread_use(name).expect("the rx thread");
        (after.0 - before.0, Duration::from_nanos(after.1 - before.1))
    }

    #[test]
    fn an_idle_driver_sleeps_until_a_frame_comes_or_it_stops() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("idle7", MacAddr::ZERO), 1500, 8);
        let (b, (to_stack, from_dev)) = (Arc::new(b), bounded(16));
        let to_stack = Arc::new(to_stack);
        let d = Driver::spawn(0, b.clone(), to_stack.clone(), DriverConfig::default()).unwrap();
        a.send(&frame(ethertype::IPV4, 60)).unwrap();
        assert!(from_dev.recv_timeout(Duration::from_secs(10)).is_ok());
        let (woke, ran) = idle_use("idle7-rx");
        assert!(woke <= 1, "the idle rx thread woke {woke} times");
        assert!(
            ran < Duration::from_millis(100),
            "the idle rx thread ran {ran:?}"
        );
        // It still takes frames, and stops when asked.
        a.send(&frame(ethertype::ARP, 42)).unwrap();
        assert!(from_dev.recv_timeout(Duration::from_secs(10)).is_ok());
        shutdown_within(d, Duration::from_secs(10));
        // The same device read by a new driver: the old stop is cleared, so its rx thread
        // waits for frames again (its reads would return at once, and it would spin).
        let d = Driver::spawn(0, b, to_stack, DriverConfig::default()).unwrap();
        a.send(&frame(ethertype::IPV4, 60)).unwrap();
        assert!(from_dev.recv_timeout(Duration::from_secs(10)).is_ok());
        let (woke, ran) = idle_use("idle7-rx");
        assert!(
            woke <= 1,
            "the second driver's idle rx thread woke {woke} times"
        );
        assert!(
            ran < Duration::from_millis(100),
            "the second rx thread ran {ran:?}"
        );
        shutdown_within(d, Duration::from_secs(10));
    }

    /// A link whose sends fail with the OS errors given, in turn, then succeed.
    struct FailingSends {
        link: MemoryLink,
        errors: std::sync::Mutex<Vec<i32>>,
    }

    impl Device for FailingSends {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            self.link.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> std::io::Result<()> {
            let mut errors = self.errors.lock().unwrap();
            if errors.is_empty() {
                return self.link.send(frame);
            }
            Err(std::io::Error::from_raw_os_error(errors.remove(0)))
        }
    }

    #[test]
    fn a_send_refused_because_the_link_is_down_is_a_drop_with_its_cause() {
        let (_a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 8);
        let dev = FailingSends {
            link: b,
            errors: std::sync::Mutex::new(vec![libc::EIO, libc::EPERM]),
        };
        let (to_stack, _from_dev) = bounded(1);
        let d = Driver::spawn(
            0,
            Arc::new(dev),
            Arc::new(to_stack),
            DriverConfig::default(),
        )
        .unwrap();
        // Written at once (the link is idle): the refusals say so.
        let sent: Vec<bool> = (0..3)
            .map(|_| d.transmit(frame(ethertype::IPV4, 60)))
            .collect();
        assert_eq!(sent, [false, false, true]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let counted = |s: &DeviceStatsSnapshot| s.tx_packets + s.tx_errors + s.tx_dropped();
        while counted(&d.stats().snapshot()) < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let s = d.stats().snapshot();
        assert_eq!(
            (s.tx_dropped_link_down, s.tx_errors, s.tx_packets),
            (1, 1, 1),
            "{s:?}"
        );
        assert_eq!(s.tx_dropped(), 1);
    }

    /// Keeps the bytes of every frame it is handed.
    #[derive(Default)]
    pub(super) struct Keeper(pub(super) std::sync::Mutex<Vec<Vec<u8>>>);

    impl RxSink for Keeper {
        fn deliver(&self, _: usize, frame: &[u8], _: FrameMeta) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(frame.to_vec());
            Ok(())
        }
        fn deliver_batch(
            &self,
            _: usize,
            frames: &[(&[u8], FrameMeta)],
        ) -> Result<usize, SinkError> {
            let mut kept = self.0.lock().unwrap();
            kept.extend(frames.iter().map(|(f, _)| f.to_vec()));
            Ok(0)
        }
    }

    #[test]
    fn a_batch_of_frames_of_every_size_arrives_whole_and_in_order() {
        // Odd and even lengths (each frame starts on a cache line of the shared buffer),
        // with a runt and a frame of another protocol among them: dropped, their room
        // taken by the next frame.
        let n = 2 * RX_BATCH + 7;
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, n + 2);
        let mut sent = Vec::new();
        for i in 0..n {
            let mut f = frame(ethertype::IPV4, 60 + (i * 37) % 1455);
            for (j, byte) in f.iter_mut().enumerate().skip(14) {
                *byte = (i + j) as u8;
            }
            if i == 5 {
                a.send(&[1, 2, 3]).unwrap();
                a.send(&frame(ethertype::IPV6, 1514)).unwrap();
            }
            a.send(&f).unwrap();
            sent.push(f);
        }
        let sink = Arc::new(Keeper::default());
        let d = Driver::spawn(0, Arc::new(b), sink.clone(), DriverConfig::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(d);
        let got = sink.0.lock().unwrap();
        assert_eq!(got.len(), n);
        for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
            assert!(g == s, "frame {i} ({} bytes) arrived changed", s.len());
        }
    }

    /// A link that records the size of every `send_meta_batch` it is handed, and the
    /// thread that called it.
    struct Batches {
        link: MemoryLink,
        sizes: std::sync::Mutex<Vec<usize>>,
        writers: std::sync::Mutex<Vec<String>>,
        /// How long each frame takes to write (a link slower than its senders).
        per_frame: Duration,
    }

    impl Device for Batches {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            self.link.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> std::io::Result<()> {
            self.link.send(frame)
        }
        fn send_meta_batch(
            &self,
            frames: &[(&[u8], FrameMeta)],
            done: &mut dyn FnMut(usize, std::io::Result<()>),
        ) {
            self.sizes.lock().unwrap().push(frames.len());
            let me = std::thread::current().name().unwrap_or("?").to_string();
            self.writers.lock().unwrap().push(me);
            for (i, (f, m)) in frames.iter().enumerate() {
                std::thread::sleep(self.per_frame);
                done(i, self.send_meta(f, m));
            }
        }
    }

    impl Batches {
        fn new(link: MemoryLink) -> Arc<Batches> {
            Batches::slow(link, Duration::ZERO)
        }

        fn slow(link: MemoryLink, per_frame: Duration) -> Arc<Batches> {
            Arc::new(Batches {
                link,
                sizes: Default::default(),
                writers: Default::default(),
                per_frame,
            })
        }
    }

    fn numbered(t: u8, i: u16, len: usize) -> (Vec<u8>, FrameMeta) {
        let mut f = frame(ethertype::IPV4, len);
        f[14] = t;
        f[15..17].copy_from_slice(&i.to_be_bytes());
        (f, FrameMeta::default())
    }

    #[test]
    fn staged_frames_are_written_after_the_lock_in_order_and_their_buffers_come_back() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4096);
        let dev = Batches::new(b);
        let (to_stack, _rx) = bounded(1);
        let d = Driver::spawn(
            0,
            dev.clone(),
            Arc::new(to_stack),
            DriverConfig {
                staged_bytes: 100 * 60,
                ..DriverConfig::default()
            },
        )
        .unwrap();
        let mut frames: Vec<_> = (0..70).map(|i| numbered(0, i, 60)).collect();
        let mut back = 0;
        d.stage_meta_batch(&mut frames, &mut |_| back += 1);
        assert!(frames.is_empty());
        assert_eq!(back, 0);
        assert_eq!(
            d.stats().snapshot().tx_packets,
            0,
            "nothing written before the flush"
        );
        d.flush_staged();
        assert_eq!(*dev.sizes.lock().unwrap(), [64, 6]);
        let mut buf = [0u8; 1514];
        for i in 0..70u16 {
            assert_eq!(a.recv(&mut buf, Duration::from_secs(2)).unwrap(), Some(60));
            assert_eq!(u16::from_be_bytes([buf[15], buf[16]]), i);
        }
        // The next stage hands the written buffers back; past the queue's bound frames are
        // dropped, counted, and their buffers handed back too.
        let mut frames: Vec<_> = (0..101).map(|i| numbered(0, i, 60)).collect();
        d.stage_meta_batch(&mut frames, &mut |_| back += 1);
        assert_eq!(back, 70 + 1);
        d.flush_staged();
        let s = d.stats().snapshot();
        assert_eq!((s.tx_packets, s.tx_dropped_queue_full), (170, 1));
    }

    /// A sender that may not wait is told the queue is long from past a quarter of its
    /// bound (where a paced sender would wait), and no longer once the writer has
    /// brought it back under that.
    #[test]
    fn the_backlog_is_long_past_a_quarter_of_the_bound_until_written() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4096);
        let dev = Batches::slow(b, Duration::from_micros(200));
        let (to_stack, _rx) = bounded(1);
        let cfg = DriverConfig {
            staged_bytes: 40 * 1000,
            ..DriverConfig::default()
        };
        let d = Driver::spawn(0, dev, Arc::new(to_stack), cfg).unwrap();
        let backlog = d.backlog();
        let stage = |n: u16| {
            for i in 0..n {
                d.stage_meta_batch(&mut vec![numbered(0, i, 1000)], &mut |_| {});
            }
        };
        stage(10);
        assert!(!backlog.is_long(), "10,000 bytes is a quarter, not more");
        stage(1);
        assert!(backlog.is_long());
        d.flush_staged_paced().wait(None);
        assert!(!backlog.is_long());
        let mut buf = [0u8; 1514];
        for _ in 0..11 {
            assert_eq!(
                a.recv(&mut buf, Duration::from_secs(2)).unwrap(),
                Some(1000)
            );
        }
    }

    /// Four threads stage a frame at a time, each as fast as it can, on a link that takes
    /// 20 µs a frame: whoever writes, the others are held back by the paced flush until the
    /// queue is short again, so the bound (40 frames) is never reached and none is lost;
    /// with `flush_staged` they would stage faster than the writer writes. No sender writes
    /// for the others for long: each writes at most what was queued when it came, the tx
    /// thread the rest (a sender that stayed the writer wrote nearly everything).
    #[test]
    fn paced_senders_wait_for_the_writer_instead_of_overflowing_the_queue() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4096);
        let dev = Batches::slow(b, Duration::from_micros(20));
        let (to_stack, _rx) = bounded(1);
        let cfg = DriverConfig {
            staged_bytes: 40 * 1000,
            ..DriverConfig::default()
        };
        let d = Arc::new(Driver::spawn(0, dev.clone(), Arc::new(to_stack), cfg).unwrap());
        let order = Arc::new(std::sync::Mutex::new(0u16));
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let (d, order) = (d.clone(), order.clone());
                let named = std::thread::Builder::new().name(format!("sender-{t}"));
                named
                    .spawn(move || {
                        for _ in 0..250 {
                            {
                                let mut next = order.lock().unwrap();
                                d.stage_meta_batch(
                                    &mut vec![numbered(t, *next, 1000)],
                                    &mut |_| {},
                                );
                                *next += 1;
                            }
                            d.flush_staged_paced().wait(None);
                        }
                    })
                    .unwrap()
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut buf = [0u8; 1514];
        for i in 0..1000u16 {
            assert_eq!(
                a.recv(&mut buf, Duration::from_secs(2)).unwrap(),
                Some(1000)
            );
            assert_eq!(u16::from_be_bytes([buf[15], buf[16]]), i, "reordered");
        }
        // (The last write is counted just after the frame arrives.)
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while d.stats().snapshot().tx_packets < 1000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let s = d.stats().snapshot();
        assert_eq!((s.tx_packets, s.tx_dropped_queue_full), (1000, 0));
        let mut by: std::collections::HashMap<String, usize> = Default::default();
        let (sizes, writers) = (dev.sizes.lock().unwrap(), dev.writers.lock().unwrap());
        for (n, who) in sizes.iter().zip(writers.iter()) {
            *by.entry(who.clone()).or_default() += n;
        }
        let most = by
            .iter()
            .filter(|(w, _)| w.starts_with("sender"))
            .map(|(_, n)| *n)
            .max();
        assert!(
            most.unwrap_or(0) < 500,
            "one sender wrote for the others: {by:?}"
        );
    }

    #[test]
    fn frames_staged_under_a_lock_leave_in_that_order_whoever_flushes() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 8192);
        let (to_stack, _rx) = bounded(1);
        let d = Arc::new(
            Driver::spawn(0, Arc::new(b), Arc::new(to_stack), DriverConfig::default()).unwrap(),
        );
        // The lock that orders the threads' frames, as the stack's core lock does: each
        // thread numbers its frames from one counter under it, stages them, then flushes
        // with the lock released.
        let order = Arc::new(std::sync::Mutex::new(0u16));
        let mut threads = Vec::new();
        for t in 0..3u8 {
            let (d, order) = (d.clone(), order.clone());
            threads.push(std::thread::spawn(move || {
                for k in 0..100 {
                    {
                        let mut next = order.lock().unwrap();
                        let n = 1 + (k + usize::from(t)) % 7;
                        let mut frames: Vec<_> =
                            (0..n as u16).map(|i| numbered(t, *next + i, 60)).collect();
                        *next += n as u16;
                        d.stage_meta_batch(&mut frames, &mut |_| {});
                    }
                    d.flush_staged();
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        let total = *order.lock().unwrap();
        let mut buf = [0u8; 1514];
        for i in 0..total {
            assert_eq!(a.recv(&mut buf, Duration::from_secs(2)).unwrap(), Some(60));
            assert_eq!(u16::from_be_bytes([buf[15], buf[16]]), i, "reordered");
        }
        assert_eq!(a.recv(&mut buf, Duration::from_millis(50)).unwrap(), None);
        assert_eq!(d.stats().snapshot().tx_packets, u64::from(total));
    }

    #[test]
    fn handed_off_frames_are_written_by_the_tx_thread_in_order_even_at_shutdown() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4096);
        let dev = Batches::new(b);
        let (to_stack, _rx) = bounded(1);
        let cfg = DriverConfig::default();
        let d = Driver::spawn(0, dev.clone(), Arc::new(to_stack), cfg).unwrap();
        for round in 0..3u8 {
            let mut frames: Vec<_> = (0..50).map(|i| numbered(round, i, 60)).collect();
            d.stage_meta_batch(&mut frames, &mut |_| {});
            d.hand_off_staged();
        }
        // The last round is handed off and the driver stopped at once: the tx thread writes
        // what is staged before it ends.
        let mut frames: Vec<_> = (0..50).map(|i| numbered(3, i, 60)).collect();
        d.stage_meta_batch(&mut frames, &mut |_| {});
        d.hand_off_staged();
        drop(d);
        let mut buf = [0u8; 1514];
        for round in 0..4u8 {
            for i in 0..50u16 {
                assert_eq!(a.recv(&mut buf, Duration::from_secs(2)).unwrap(), Some(60));
                assert_eq!(
                    (buf[14], u16::from_be_bytes([buf[15], buf[16]])),
                    (round, i)
                );
            }
        }
        assert_eq!(a.recv(&mut buf, Duration::from_millis(50)).unwrap(), None);
        let writers = dev.writers.lock().unwrap();
        assert!(!writers.is_empty());
        assert!(
            writers.iter().all(|w| w == "b-tx"),
            "written by {writers:?}"
        );
    }

    #[test]
    fn once_the_tx_thread_has_ended_a_hand_off_writes_at_once() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 64);
        let (to_stack, _rx) = bounded(1);
        let cfg = DriverConfig::default();
        let mut d = Driver::spawn(0, Arc::new(b), Arc::new(to_stack), cfg).unwrap();
        let mut frames: Vec<_> = (0..5).map(|i| numbered(0, i, 60)).collect();
        d.stage_meta_batch(&mut frames, &mut |_| {});
        // Asked to stop, the tx thread ends at its next timeout, writing what is staged.
        d.signal_stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !d.threads[1].is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(d.threads[1].is_finished());
        let mut buf = [0u8; 1514];
        for i in 0..5u16 {
            assert_eq!(a.recv(&mut buf, Duration::from_secs(2)).unwrap(), Some(60));
            assert_eq!(u16::from_be_bytes([buf[15], buf[16]]), i);
        }
        // Its channel is gone: a hand-off writes from the calling thread.
        let mut frames: Vec<_> = (0..5).map(|i| numbered(1, i, 60)).collect();
        d.stage_meta_batch(&mut frames, &mut |_| {});
        d.hand_off_staged();
        for i in 0..5u16 {
            assert_eq!(
                a.recv(&mut buf, Duration::from_millis(500)).unwrap(),
                Some(60)
            );
            assert_eq!((buf[14], u16::from_be_bytes([buf[15], buf[16]])), (1, i));
        }
        d.shutdown();
        // After the shutdown nothing is staged (no tx thread) and a hand-off is harmless.
        let mut frames: Vec<_> = (0..5).map(|i| numbered(2, i, 60)).collect();
        d.stage_meta_batch(&mut frames, &mut |_| {});
        d.hand_off_staged();
        assert_eq!(a.recv(&mut buf, Duration::from_millis(50)).unwrap(), None);
    }
}

/// The rx thread's batch bound under a flood of frames it drops (from an independent
/// review of `netif`).
#[cfg(test)]
mod rx_bound_tests {
    use super::tests::{frame, Keeper};
    use super::*;
    use crate::{DeviceInfo, MacAddr};
    use std::sync::atomic::AtomicU64;

    /// A device that has one IPv4 frame ready, then `flood` IPv6 frames (the kernel's or
    /// a LAN's chatter, which the rx thread drops), all ready at once, then nothing.
    struct Flood {
        reads: AtomicU64,
        flood: u64,
    }

    impl Device for Flood {
        fn info(&self) -> DeviceInfo {
            DeviceInfo {
                name: "flood".into(),
                mtu: 1500,
                mac: MacAddr::ZERO,
                loopback: false,
                offload: crate::Offload::NONE,
            }
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            let i = self.reads.fetch_add(1, Ordering::SeqCst);
            let f = if i == 0 {
                frame(ethertype::IPV4, 60)
            } else if i <= self.flood {
                frame(ethertype::IPV6, 60)
            } else {
                std::thread::sleep(timeout.min(Duration::from_millis(20)));
                return Ok(None);
            };
            buf[..f.len()].copy_from_slice(&f);
            Ok(Some(f.len()))
        }
        fn send(&self, _: &[u8]) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Notes how many reads the device had seen when each batch was handed over.
    struct ReadsAtDelivery {
        dev: Arc<Flood>,
        seen: std::sync::Mutex<Vec<(usize, u64)>>,
    }

    impl RxSink for ReadsAtDelivery {
        fn deliver(&self, _: usize, _: &[u8], _: FrameMeta) -> Result<(), SinkError> {
            let reads = self.dev.reads.load(Ordering::SeqCst);
            self.seen.lock().unwrap().push((1, reads));
            Ok(())
        }
        fn deliver_batch(
            &self,
            _: usize,
            frames: &[(&[u8], FrameMeta)],
        ) -> Result<usize, SinkError> {
            let reads = self.dev.reads.load(Ordering::SeqCst);
            self.seen.lock().unwrap().push((frames.len(), reads));
            Ok(0)
        }
    }

    /// A device whose first read is a frame it could not hand over (the error `first`
    /// makes for the buffer's length), then one IPv4 frame.
    struct BadFrameFirst {
        reads: AtomicU64,
        first: fn(usize) -> std::io::Error,
    }

    impl Device for BadFrameFirst {
        fn info(&self) -> DeviceInfo {
            DeviceInfo {
                name: "long".into(),
                mtu: 1500,
                mac: MacAddr::ZERO,
                loopback: false,
                offload: crate::Offload::NONE,
            }
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            match self.reads.fetch_add(1, Ordering::SeqCst) {
                0 => Err((self.first)(buf.len())),
                1 => {
                    let f = frame(ethertype::IPV4, 60);
                    buf[..f.len()].copy_from_slice(&f);
                    Ok(Some(f.len()))
                }
                _ => {
                    std::thread::sleep(timeout.min(Duration::from_millis(20)));
                    Ok(None)
                }
            }
        }
        fn send(&self, _: &[u8]) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A frame the device could not hand over whole is a frame dropped as too big, not a
    /// device error: counted as such, and the next frame follows without the pause the
    /// rx thread takes after an error.
    #[test]
    fn a_frame_too_long_for_the_buffer_is_counted_as_too_big_not_as_an_error() {
        let st = read_bad_frame_first(|len| crate::FrameTooLong::error(len + 1, len));
        assert_eq!(
            (st.rx_dropped_too_big, st.rx_dropped_bad_meta, st.rx_errors),
            (1, 0, 0)
        );
        assert_eq!((st.rx_packets, st.rx_dropped()), (2, 1));
    }

    /// The bytes of a frame dropped as too long count in `rx_bytes`, as many as the device
    /// knows of (they were not counted).
    #[test]
    fn the_bytes_of_a_frame_too_long_are_counted() {
        let st = read_bad_frame_first(|_| crate::FrameTooLong::error(70_000, 65_550));
        let next = frame(ethertype::IPV4, 60).len() as u64;
        assert_eq!(st.rx_bytes, 70_000 + next);
    }

    /// A frame whose offload header the device refuses (`InvalidData`: a `virtio_net_hdr`
    /// Linux would not write) is one frame dropped, counted by its cause, not a failing
    /// device: it was counted as a device error and the rx thread paused 10 ms.
    #[test]
    fn a_frame_with_bad_metadata_is_counted_as_such_not_as_an_error() {
        let st = read_bad_frame_first(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "bad virtio_net_hdr")
        });
        assert_eq!(
            (st.rx_dropped_too_big, st.rx_dropped_bad_meta, st.rx_errors),
            (0, 1, 0)
        );
        assert_eq!((st.rx_packets, st.rx_dropped()), (2, 1));
    }

    /// Any other error is the device failing: an error, and no frame.
    #[test]
    fn another_read_error_is_counted_as_a_device_error() {
        let st = read_bad_frame_first(|_| std::io::Error::other("device gone"));
        assert_eq!(
            (st.rx_dropped_too_big, st.rx_dropped_bad_meta, st.rx_errors),
            (0, 0, 1)
        );
        assert_eq!((st.rx_packets, st.rx_dropped()), (1, 0));
    }

    /// Run a driver over [`BadFrameFirst`] until the IPv4 frame came through; its counters.
    fn read_bad_frame_first(first: fn(usize) -> std::io::Error) -> crate::DeviceStatsSnapshot {
        let dev = Arc::new(BadFrameFirst {
            reads: AtomicU64::new(0),
            first,
        });
        let sink = Arc::new(Keeper::default());
        let d = Driver::spawn(0, dev.clone(), sink.clone(), DriverConfig::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let st = d.stats().snapshot();
        drop(d);
        assert_eq!(sink.0.lock().unwrap().len(), 1, "the IPv4 frame");
        st
    }

    /// ARCHITECTURE.md ("Threads"): the rx thread "reads every frame that is ready
    /// (non-blocking reads until the device is empty, at most 128)". Frames it drops
    /// (another EtherType, runts, too big) count towards the 128 too: they did not, so
    /// while such frames kept coming the batch never ended and the IPv4 frame already
    /// read waited, here for 200,000 reads instead of at most 128.
    #[test]
    fn a_flood_of_dropped_frames_does_not_hold_back_a_frame_already_read() {
        let dev = Arc::new(Flood {
            reads: AtomicU64::new(0),
            flood: 200_000,
        });
        let sink = Arc::new(ReadsAtDelivery {
            dev: dev.clone(),
            seen: Default::default(),
        });
        let d = Driver::spawn(0, dev.clone(), sink.clone(), DriverConfig::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sink.seen.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(d);
        let seen = sink.seen.lock().unwrap().clone();
        let (n, reads) = *seen.first().expect("the IPv4 frame was never handed over");
        assert_eq!(n, 1);
        assert!(
            reads <= RX_BATCH as u64 + 1,
            "the IPv4 frame was handed over only after {reads} reads of the device"
        );
    }
}

/// A TAP deleted under the running stack (`ip link del`): the kernel detaches the
/// descriptor, whose every read then fails with EBADFD and whose poll says POLLERR at once
/// (drivers/net/tun.c, `tun_chr_read_iter`, `tun_chr_poll`). From an independent review.
#[cfg(test)]
mod gone_tests {
    use super::tests::{frame, Keeper};
    use super::*;
    use crate::MacAddr;
    use std::sync::atomic::AtomicU64;

    /// One IPv4 frame, then reads that fail with `errno` for good.
    struct Detached {
        reads: AtomicU64,
        errno: i32,
    }

    impl Device for Detached {
        fn info(&self) -> DeviceInfo {
            DeviceInfo {
                name: "tap9".into(),
                mtu: 1500,
                mac: MacAddr::ZERO,
                loopback: false,
                offload: crate::Offload::NONE,
            }
        }
        fn recv(&self, buf: &mut [u8], _: Duration) -> std::io::Result<Option<usize>> {
            if self.reads.fetch_add(1, Ordering::SeqCst) == 0 {
                let f = frame(ethertype::IPV4, 60);
                buf[..f.len()].copy_from_slice(&f);
                return Ok(Some(f.len()));
            }
            Err(std::io::Error::from_raw_os_error(self.errno))
        }
        fn send(&self, _: &[u8]) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The rx thread read the dead tap again every 10 ms for as long as the program ran,
    /// each read an `rx_errors` more (and a trace line under `debug dev`), and nothing
    /// said the tap had gone. It ends at the first such error, the frame read before it
    /// delivered.
    #[test]
    fn a_deleted_tap_ends_the_rx_thread_instead_of_reading_it_for_ever() {
        for errno in [libc::EBADFD, libc::ENXIO, libc::ENODEV] {
            let dev = Arc::new(Detached {
                reads: AtomicU64::new(0),
                errno,
            });
            let sink = Arc::new(Keeper::default());
            let d = Driver::spawn(0, dev.clone(), sink.clone(), DriverConfig::default()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let reads = dev.reads.load(Ordering::SeqCst);
            let st = d.stats().snapshot();
            drop(d);
            assert_eq!(sink.0.lock().unwrap().len(), 1, "errno {errno}: the frame");
            assert_eq!(
                (reads, st.rx_errors),
                (2, 1),
                "errno {errno}: read again after the device had gone"
            );
        }
    }

    /// Another error (a device that fails now and then) is still retried.
    #[test]
    fn another_error_is_still_retried() {
        let dev = Arc::new(Detached {
            reads: AtomicU64::new(0),
            errno: libc::EIO,
        });
        let sink = Arc::new(Keeper::default());
        let d = Driver::spawn(0, dev.clone(), sink.clone(), DriverConfig::default()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(d);
        assert!(dev.reads.load(Ordering::SeqCst) > 2);
    }
}

/// A device whose write panics (a bug in a device, or in the code under its writes), on
/// whichever thread writes: the driver's other writers go on. From an independent review
/// of the threads' panics.
#[cfg(test)]
mod panic_tests {
    use super::tests::frame;
    use super::*;
    use crate::MacAddr;
    use crossbeam_channel::bounded;

    /// A link end whose next write panics once armed, on the thread named `on` (any
    /// thread with none).
    struct Panicky {
        link: crate::MemoryLink,
        armed: AtomicBool,
        on: Option<&'static str>,
    }

    impl Panicky {
        fn new(link: crate::MemoryLink, on: Option<&'static str>) -> Arc<Panicky> {
            Arc::new(Panicky {
                link,
                armed: AtomicBool::new(false),
                on,
            })
        }
    }

    impl Device for Panicky {
        fn info(&self) -> DeviceInfo {
            self.link.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            self.link.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> std::io::Result<()> {
            let here = self
                .on
                .is_none_or(|on| std::thread::current().name() == Some(on));
            if here && self.armed.swap(false, Ordering::SeqCst) {
                panic!("a device that fails");
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

    fn pair() -> (crate::MemoryLink, crate::MemoryLink) {
        crate::MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4096)
    }

    fn stage(d: &Driver, n: usize) {
        let mut frames: Vec<_> = (0..n)
            .map(|_| (frame(ethertype::IPV4, 60), FrameMeta::default()))
            .collect();
        d.stage_meta_batch(&mut frames, &mut |_| {});
    }

    /// How many frames reach `a` within `wait` of the last.
    fn arrived(a: &crate::MemoryLink, wait: Duration) -> usize {
        let mut buf = [0u8; 1514];
        let mut n = 0;
        while a.recv(&mut buf, wait).unwrap().is_some() {
            n += 1;
        }
        n
    }

    /// Wait for the driver's tx thread to have ended.
    fn tx_thread_ended(d: &Driver) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !d.threads[1].is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        d.threads[1].is_finished()
    }

    /// A thread whose flush of the staged queue panicked (an application's send, writing
    /// after the stack's lock) held the queue's writer flag for good: every later flush
    /// left its frames to it, so the device never wrote a staged frame again (the queue
    /// filled, then dropped every frame), and a paced sender waited for ever.
    #[test]
    fn a_flush_that_panics_does_not_stop_the_staged_writes_for_good() {
        let (a, b) = pair();
        let dev = Panicky::new(b, None);
        let (to_stack, _rx) = bounded(1);
        let cfg = DriverConfig {
            staged_bytes: 4000,
            ..DriverConfig::default()
        };
        let d = Arc::new(Driver::spawn(0, dev.clone(), Arc::new(to_stack), cfg).unwrap());
        stage(&d, 3);
        dev.armed.store(true, Ordering::SeqCst);
        let flusher = {
            let d = d.clone();
            std::thread::spawn(move || d.flush_staged())
        };
        assert!(flusher.join().is_err(), "the write did not panic");
        // A paced sender with more than a quarter of the queue's bound staged: it returns
        // once that is written.
        stage(&d, 20);
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = {
            let d = d.clone();
            std::thread::spawn(move || {
                d.flush_staged_paced().wait(None);
                let _ = tx.send(());
            })
        };
        let returned = rx.recv_timeout(Duration::from_secs(5)).is_ok();
        d.signal_stop();
        sender.join().unwrap();
        assert!(returned, "the paced sender waited for ever");
        assert_eq!(arrived(&a, Duration::from_millis(200)), 20);
        // The next flush writes what is staged now.
        stage(&d, 5);
        d.flush_staged();
        assert_eq!(arrived(&a, Duration::from_millis(200)), 5);
    }

    /// The tx thread died of a panic in a write it was asked for (a hand-off), its queue
    /// left open: the next hand-off's request waited there for ever, and every hand-off
    /// after it (and a paced sender) took the write to be under way; a frame it was
    /// writing for `transmit` stayed counted as in flight, so `transmit` queued every
    /// frame after for the dead thread. The callers now write themselves.
    #[test]
    fn a_tx_thread_that_panics_leaves_the_writes_to_the_callers() {
        for handed_off in [true, false] {
            let (a, b) = pair();
            let dev = Panicky::new(b, Some("b-tx"));
            let (to_stack, _rx) = bounded(1);
            let cfg = DriverConfig {
                staged_bytes: 4000,
                ..DriverConfig::default()
            };
            let mut d = Driver::spawn(0, dev.clone(), Arc::new(to_stack), cfg).unwrap();
            dev.armed.store(true, Ordering::SeqCst);
            if handed_off {
                stage(&d, 3);
                d.hand_off_staged();
            } else {
                // Another thread writing: the frame is queued for the tx thread.
                d.in_flight.fetch_add(1, Ordering::SeqCst);
                assert!(d.transmit(frame(ethertype::IPV4, 60)));
            }
            assert!(tx_thread_ended(&d), "the write did not panic");
            if !handed_off {
                d.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            assert_eq!(arrived(&a, Duration::from_millis(50)), 0);
            // A hand-off, then a paced sender's wait with the queue long, then a frame
            // sent with the link idle: each written.
            stage(&d, 3);
            d.hand_off_staged();
            assert_eq!(arrived(&a, Duration::from_millis(200)), 3, "{handed_off}");
            assert!(d.transmit(frame(ethertype::IPV4, 60)), "{handed_off}");
            assert_eq!(arrived(&a, Duration::from_millis(200)), 1, "{handed_off}");
            stage(&d, 20);
            let pacer = Pacer {
                outbox: d.outbox.clone(),
                stop: d.stop.clone(),
                tx: d.tx.clone(),
                device: d.device.clone(),
                max_frame: d.max_frame,
                stats: d.stats.clone(),
            };
            let (tx, rx) = std::sync::mpsc::channel();
            let sender = std::thread::spawn(move || {
                pacer.wait(None);
                let _ = tx.send(());
            });
            let returned = rx.recv_timeout(Duration::from_secs(5)).is_ok();
            d.signal_stop();
            sender.join().unwrap();
            assert!(returned, "{handed_off}: the paced sender waited for ever");
            assert!(arrived(&a, Duration::from_millis(200)) >= 4, "{handed_off}");
            // The shutdown joins the dead thread without a panic of its own.
            d.shutdown();
        }
    }
}
