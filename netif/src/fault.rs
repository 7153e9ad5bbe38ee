//! Fault injection: a device wrapper that makes a clean link behave like a bad one.
//!
//! [`FaultInjector`] sits between a device and the stack and damages the frames *arriving at the
//! stack* (the receive path), as a lossy network between the peer and us would:
//!
//! - **loss**: the frame is dropped;
//! - **corrupt**: one random bit of one random byte after the 14-byte Ethernet header is
//!   flipped, so the frame still reaches the IP layer, whose checksums should catch it;
//! - **duplicate**: the frame is delivered twice;
//! - **delay**: the frame is held for `delay` plus a uniform `0..=jitter` before delivery;
//! - **reorder**: the frame is held back until the next frame has been delivered (or for at
//!   most [`REORDER_HOLD`] if no next frame comes).
//!
//! The transmit path is untouched unless [`FaultConfig::tx_loss`] is set, which drops outgoing
//! frames (the send still reports success, as a frame lost on the wire would), or
//! [`FaultConfig::both_ways`] is, which applies the same five faults with the same rates to
//! the frames the stack sends: a link impaired alike in both directions, so a sender on either
//! side meets the same loss, delay and reordering on its data and on its ACKs. Sent frames that
//! are held (delayed, duplicate copies, reordered) are written by a thread of the injector's
//! own when their time comes; it starts with the first configuration that can hold a sent
//! frame and ends when the injector is dropped. Corruption of a sent frame is applied only to
//! plain frames: one whose checksum or segmentation the device completes would be repaired
//! (or cut into several) after the flip.
//!
//! Decisions come from small seeded PRNGs (splitmix64, one stream per direction) that draw
//! the same number of values for every frame, so which frames are dropped, corrupted,
//! duplicated, delayed or reordered is a deterministic function of [`FaultConfig::seed`] and
//! the sequence of frames. Only the moment a held frame is released depends on the clock.
//!
//! Held frames wait in a queue per direction bounded by [`HOLD_CAPACITY`]; a frame that does
//! not fit is dropped and counted both as dropped and as overflow. Frames still held when the
//! injector is dropped go with it, counted as dropped and as discarded. A duplicate copy that does
//! not fit is not made (its frame is delivered once, and not counted as duplicated).

mod spec;

pub use spec::FaultSpecError;

use crate::vnet::{Csum, FrameMeta};
use crate::{Device, DeviceInfo};
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most frames held back at once in each direction (delayed, duplicate copies, reordered).
pub const HOLD_CAPACITY: usize = 1024;

/// Longest a reordered frame waits for a next frame to overtake it.
pub const REORDER_HOLD: Duration = Duration::from_millis(5);

/// How far off a delay the clock cannot reach is taken to be.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A receive whose frames keep coming and are all lost or held ends this long (or its
/// timeout, if longer) after its timeout: a run of them is not silence (a busy machine),
/// but no reader waits on it for ever.
const FLOOD_SLACK: Duration = Duration::from_millis(100);

/// Bytes at the start of a frame that corruption never touches (the Ethernet header).
const PROTECTED_PREFIX: usize = crate::device::ETHERNET_HEADER_LEN;

/// What faults to inject. Rates are probabilities in `0.0..=1.0`; everything defaults to 0
/// (a transparent wrapper).
///
/// Parses from and prints as the CLI spec format, e.g.
/// `loss=0.1,dup=0.05,reorder=0.02,delay=5ms,jitter=2ms,corrupt=0.01,seed=42,txloss=0.01`
/// (and `dir=both` for [`FaultConfig::both_ways`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Seed of the PRNG that makes every decision.
    pub seed: u64,
    /// Probability that a received frame is dropped.
    pub loss: f64,
    /// Probability that a received (not dropped) frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a received frame is held back behind the next one.
    pub reorder: f64,
    /// Fixed delay added to every received frame.
    pub delay: Duration,
    /// Upper bound of a uniform random delay added on top of `delay`.
    pub delay_jitter: Duration,
    /// Probability that one bit of a received frame (after the Ethernet header) is flipped.
    pub corrupt: f64,
    /// Probability that a sent frame is silently dropped.
    pub tx_loss: f64,
    /// Apply loss, corruption, duplication, delay and reordering with the same rates to the
    /// frames sent too (`dir=both`), each direction with its own PRNG stream. `tx_loss`, if
    /// set, drops sent frames in addition.
    pub both_ways: bool,
}

impl FaultConfig {
    /// True when the wrapper would change nothing.
    pub fn is_transparent(&self) -> bool {
        let s = self.sanitized();
        s.loss == 0.0
            && s.duplicate == 0.0
            && s.reorder == 0.0
            && s.corrupt == 0.0
            && s.tx_loss == 0.0
            && s.delay.is_zero()
            && s.delay_jitter.is_zero()
    }

    /// Can a sent frame be held back (so the transmit thread is needed)?
    fn holds_sent_frames(&self) -> bool {
        self.both_ways
            && (self.duplicate > 0.0
                || self.reorder > 0.0
                || !self.delay.is_zero()
                || !self.delay_jitter.is_zero())
    }

    /// A copy with every rate forced into `0.0..=1.0` (NaN becomes 0), so a config built in
    /// code with bad values cannot misbehave.
    fn sanitized(&self) -> FaultConfig {
        fn rate(p: f64) -> f64 {
            if p.is_nan() {
                0.0
            } else {
                p.clamp(0.0, 1.0)
            }
        }
        FaultConfig {
            loss: rate(self.loss),
            duplicate: rate(self.duplicate),
            reorder: rate(self.reorder),
            corrupt: rate(self.corrupt),
            tx_loss: rate(self.tx_loss),
            ..self.clone()
        }
    }
}

/// splitmix64 (Steele, Lea and Flood): tiny, fast, and good enough for fault decisions.
#[derive(Clone, Debug)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    fn next_unit(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }
}

/// `true` with probability `p` (never for 0, always for 1).
fn hit(u: f64, p: f64) -> bool {
    u < p
}

/// Every random value one received frame needs, drawn together so the stream of draws does
/// not depend on which faults are enabled or what happened to earlier frames.
struct FrameDraws {
    loss: f64,
    corrupt: f64,
    corrupt_where: u64,
    duplicate: f64,
    reorder: f64,
    jitter: u64,
}

impl FrameDraws {
    fn draw(rng: &mut SplitMix64) -> FrameDraws {
        FrameDraws {
            loss: rng.next_unit(),
            corrupt: rng.next_unit(),
            corrupt_where: rng.next_u64(),
            duplicate: rng.next_unit(),
            reorder: rng.next_unit(),
            jitter: rng.next_u64(),
        }
    }
}

/// Counters of what the injector did (a plain copy, see [`FaultInjector::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames the inner device delivered to the injector.
    pub received: u64,
    /// Frames handed to the caller of `recv` (duplicate copies included).
    pub passed: u64,
    /// Received frames that never reach the caller: loss, hold-queue overflow, held frames
    /// that did not fit the caller's buffer, and frames still held when the injector went.
    pub dropped: u64,
    /// The part of `dropped` chosen by the loss rate.
    pub lost: u64,
    /// The part of `dropped` caused by a full hold queue.
    pub overflow: u64,
    /// The part of `dropped` still held (delayed, reordered, duplicate copies) when the
    /// injector was dropped.
    pub discarded: u64,
    /// The part of `dropped` held and then longer than the caller's buffer.
    pub too_long: u64,
    /// The part of `dropped` whose offload metadata (a partial checksum) could not be
    /// completed.
    pub bad_offload: u64,
    /// Frames delivered a second time.
    pub duplicated: u64,
    /// Frames held back behind the next frame.
    pub reordered: u64,
    /// Frames held for `delay` + jitter (only counted when that is non-zero).
    pub delayed: u64,
    /// Frames with one bit flipped.
    pub corrupted: u64,
    /// Sent frames passed on to the inner device (duplicate copies included).
    pub tx_passed: u64,
    /// Sent frames never passed on: `tx_loss`, the loss rate (with `both_ways`), a full
    /// hold queue, an error of the inner device when a held frame was written, or still
    /// held when the injector went.
    pub tx_dropped: u64,
    /// The part of `tx_dropped` chosen by `tx_loss` or the loss rate.
    pub tx_lost: u64,
    /// The part of `tx_dropped` caused by a full hold queue.
    pub tx_overflow: u64,
    /// The part of `tx_dropped` still held when the injector was dropped (its release
    /// thread stopped first).
    pub tx_discarded: u64,
    /// The part of `tx_dropped` held and then refused by the inner device.
    pub tx_failed: u64,
    /// Sent frames written a second time.
    pub tx_duplicated: u64,
    /// Sent frames held back behind the next one.
    pub tx_reordered: u64,
    /// Sent frames held for `delay` + jitter.
    pub tx_delayed: u64,
    /// Sent frames with one bit flipped.
    pub tx_corrupted: u64,
}

/// The counters of one direction.
#[derive(Default)]
struct DirCounters {
    received: AtomicU64,
    passed: AtomicU64,
    dropped: AtomicU64,
    lost: AtomicU64,
    overflow: AtomicU64,
    discarded: AtomicU64,
    /// Held, then too long for the caller's buffer (receive only).
    too_long: AtomicU64,
    /// A partial checksum that could not be completed (receive only).
    bad_offload: AtomicU64,
    /// Held, then refused by the inner device (send only).
    failed: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    delayed: AtomicU64,
    corrupted: AtomicU64,
}

#[derive(Default)]
struct Counters {
    rx: DirCounters,
    tx: DirCounters,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> FaultStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (rx, tx) = (&self.rx, &self.tx);
        FaultStats {
            received: g(&rx.received),
            passed: g(&rx.passed),
            dropped: g(&rx.dropped),
            lost: g(&rx.lost),
            overflow: g(&rx.overflow),
            discarded: g(&rx.discarded),
            too_long: g(&rx.too_long),
            bad_offload: g(&rx.bad_offload),
            duplicated: g(&rx.duplicated),
            reordered: g(&rx.reordered),
            delayed: g(&rx.delayed),
            corrupted: g(&rx.corrupted),
            tx_passed: g(&tx.passed),
            tx_dropped: g(&tx.dropped),
            tx_lost: g(&tx.lost),
            tx_overflow: g(&tx.overflow),
            tx_discarded: g(&tx.discarded),
            tx_failed: g(&tx.failed),
            tx_duplicated: g(&tx.duplicated),
            tx_reordered: g(&tx.reordered),
            tx_delayed: g(&tx.delayed),
            tx_corrupted: g(&tx.corrupted),
        }
    }
}

/// A frame held back, with the offload metadata it is to be sent with (received frames are
/// plain: the inner device completed their checksums).
struct Held {
    frame: Vec<u8>,
    meta: FrameMeta,
}

/// A frame (and possibly its duplicate) waiting for the next frame to overtake it.
struct Parked {
    frames: Vec<Held>,
    /// When it would have been delivered had it not been reordered.
    due: Instant,
    /// When it is released even if no next frame has come.
    deadline: Instant,
}

/// One direction's faults: its PRNG stream and the frames it holds.
struct Lane {
    rng: SplitMix64,
    /// Frames waiting for delivery, by (due time, arrival sequence).
    queue: BTreeMap<(Instant, u64), Held>,
    next_seq: u64,
    parked: Option<Parked>,
    /// A frame was parked and no frame has come through since (lost ones aside): the next
    /// one overtakes it, and is not reordered itself.
    overtaker_due: bool,
}

impl Lane {
    fn new(seed: u64) -> Lane {
        Lane {
            rng: SplitMix64::new(seed),
            queue: BTreeMap::new(),
            next_seq: 0,
            parked: None,
            overtaker_due: false,
        }
    }

    fn held(&self) -> usize {
        self.queue.len() + self.parked.as_ref().map_or(0, |p| p.frames.len())
    }

    /// Let go of every frame held, counted as dropped (the injector is going).
    fn discard_all(&mut self, c: &DirCounters) {
        let n = self.held() as u64;
        self.queue.clear();
        self.parked = None;
        c.dropped.fetch_add(n, Ordering::Relaxed);
        c.discarded.fetch_add(n, Ordering::Relaxed);
    }

    /// Queue a frame for delivery at `due`; `false` (and counted as a drop) when full.
    fn enqueue(&mut self, due: Instant, held: Held, c: &DirCounters) -> bool {
        if !self.try_enqueue(due, held) {
            bump(&c.dropped);
            bump(&c.overflow);
            return false;
        }
        true
    }

    /// Queue a frame for delivery at `due` if there is room (a duplicate copy: one that
    /// does not fit is not made, and its frame is not counted as duplicated).
    fn try_enqueue(&mut self, due: Instant, held: Held) -> bool {
        if self.held() >= HOLD_CAPACITY {
            return false;
        }
        self.queue.insert((due, self.next_seq), held);
        self.next_seq = self.next_seq.wrapping_add(1);
        true
    }

    /// The earliest held frame whose time has come.
    fn pop_due(&mut self, now: Instant) -> Option<Held> {
        let (&(due, _), _) = self.queue.first_key_value()?;
        if due > now {
            return None;
        }
        self.queue.pop_first().map(|(_, held)| held)
    }

    /// When the queue must be looked at again, if anything is held.
    fn next_wake(&self) -> Option<Instant> {
        let queued = self.queue.first_key_value().map(|(&(due, _), _)| due);
        let parked = self.parked.as_ref().map(|p| p.deadline);
        match (queued, parked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Move the parked frame into the queue, to be delivered no earlier than `after`.
    fn release_parked(&mut self, after: Instant, c: &DirCounters) {
        if let Some(p) = self.parked.take() {
            let due = p.due.max(after);
            for held in p.frames {
                // Room was reserved when it was parked, so this only fails if the queue
                // filled meanwhile; then it is counted as overflow like any other frame.
                self.enqueue(due, held, c);
            }
        }
    }

    /// A parked frame past its deadline stops waiting for a next frame.
    fn expire_parked(&mut self, now: Instant, c: &DirCounters) {
        if self.parked.as_ref().is_some_and(|p| p.deadline <= now) {
            self.release_parked(now, c);
        }
    }

    /// Apply the faults of `cfg` to a frame just received (or sent) in `frame`. `true` means
    /// pass it on from `frame` right now; `false` means it was dropped or queued.
    /// `may_corrupt`: flipping a bit would stay detectable (see the module docs).
    fn process(
        &mut self,
        cfg: &FaultConfig,
        frame: &mut [u8],
        meta: &mut FrameMeta,
        may_corrupt: bool,
        now: Instant,
        c: &DirCounters,
    ) -> bool {
        let d = FrameDraws::draw(&mut self.rng);
        // A parked frame past its limit is released whatever this frame becomes (lost
        // frames streaming in do not keep it waiting).
        self.expire_parked(now, c);

        if hit(d.loss, cfg.loss) {
            bump(&c.dropped);
            bump(&c.lost);
            return false;
        }

        if may_corrupt && hit(d.corrupt, cfg.corrupt) && frame.len() > PROTECTED_PREFIX {
            let span = (frame.len() - PROTECTED_PREFIX) as u64;
            let index = PROTECTED_PREFIX + ((d.corrupt_where >> 3) % span) as usize;
            let bit = (d.corrupt_where & 7) as u32;
            if let Some(byte) = frame.get_mut(index) {
                *byte ^= 1u8 << bit;
                bump(&c.corrupted);
                // A checksum the device verified no longer holds: the receiver verifies.
                meta.csum = Csum::Full;
            }
        }

        let duplicate = hit(d.duplicate, cfg.duplicate);
        let held = || Held {
            frame: frame.to_vec(),
            meta: *meta,
        };

        let jitter_nanos = u64::try_from(cfg.delay_jitter.as_nanos()).unwrap_or(u64::MAX);
        let jitter = match jitter_nanos.checked_add(1) {
            Some(range) => d.jitter % range,
            None => d.jitter,
        };
        let hold = cfg.delay.saturating_add(Duration::from_nanos(jitter));
        // A delay past what the clock can count (from 2^63 s) is a century: never, for a
        // test, and not no delay at all.
        let due = now
            .checked_add(hold)
            .or_else(|| now.checked_add(FOREVER))
            .unwrap_or(now);
        let delayed = !hold.is_zero();

        // The frame after a parked one overtakes it, so it is not reordered itself: one
        // frame at a time, decided by the frame sequence alone (whether the parked frame
        // has meanwhile been released by its time limit does not matter).
        let overtaking = std::mem::take(&mut self.overtaker_due);
        if hit(d.reorder, cfg.reorder) && !overtaking && self.parked.is_none() {
            let room = HOLD_CAPACITY.saturating_sub(self.held());
            if room == 0 {
                bump(&c.dropped);
                bump(&c.overflow);
                return false;
            }
            let copies = if duplicate && room >= 2 { 2 } else { 1 };
            if copies == 2 {
                bump(&c.duplicated);
            }
            if delayed {
                bump(&c.delayed);
            }
            bump(&c.reordered);
            self.parked = Some(Parked {
                frames: (0..copies).map(|_| held()).collect(),
                due,
                deadline: due.checked_add(REORDER_HOLD).unwrap_or(due),
            });
            self.overtaker_due = true;
            return false;
        }

        if delayed {
            if !self.enqueue(due, held(), c) {
                return false;
            }
            bump(&c.delayed);
            if duplicate && self.try_enqueue(due, held()) {
                bump(&c.duplicated);
            }
            self.release_parked(due, c);
            return false;
        }
        if duplicate && self.try_enqueue(now, held()) {
            bump(&c.duplicated);
        }
        self.release_parked(now, c);
        true
    }
}

/// Receive-side state, behind one lock.
struct RxState {
    cfg: FaultConfig,
    lane: Lane,
}

impl RxState {
    fn new(cfg: FaultConfig) -> RxState {
        RxState {
            lane: Lane::new(cfg.seed),
            cfg,
        }
    }
}

/// Seeds of the transmit side's streams, so sending does not shift the receive decisions.
const TX_LOSS_STREAM: u64 = 0x7478_5f6c_6f73_7321;
const TX_FAULT_STREAM: u64 = 0x7478_5f66_6175_6c74;

/// Transmit-side state, behind one lock: `tx_loss` and, with `both_ways`, a lane of its own.
struct TxState {
    cfg: FaultConfig,
    loss_rng: SplitMix64,
    lane: Lane,
}

impl TxState {
    fn new(cfg: FaultConfig) -> TxState {
        TxState {
            loss_rng: SplitMix64::new(cfg.seed ^ TX_LOSS_STREAM),
            lane: Lane::new(cfg.seed ^ TX_FAULT_STREAM),
            cfg,
        }
    }

    /// A new configuration; frames already held stay queued.
    fn reconfigure(&mut self, cfg: FaultConfig) {
        self.loss_rng = SplitMix64::new(cfg.seed ^ TX_LOSS_STREAM);
        self.lane.rng = SplitMix64::new(cfg.seed ^ TX_FAULT_STREAM);
        self.cfg = cfg;
    }

    /// Pass sent frames on without the faults that hold them (drops and corruption still
    /// apply): no release thread writes held frames. What is held already goes with the
    /// next send.
    fn hold_none(&mut self) {
        self.cfg.duplicate = 0.0;
        self.cfg.reorder = 0.0;
        self.cfg.delay = Duration::ZERO;
        self.cfg.delay_jitter = Duration::ZERO;
    }
}

/// What the transmit thread shares with the injector.
struct TxShared {
    state: Mutex<TxState>,
    /// Signalled when a frame is held (the next deadline may be earlier) and on stop.
    wake: Condvar,
    stop: AtomicBool,
}

/// The thread that writes held sent frames when they are due; stopped and joined on drop.
struct TxWorker {
    shared: Arc<TxShared>,
    handle: Option<JoinHandle<()>>,
}

impl TxWorker {
    fn spawn<D: Device + 'static>(
        inner: Arc<D>,
        shared: Arc<TxShared>,
        counters: Arc<Counters>,
    ) -> io::Result<TxWorker> {
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("fault-tx".into())
            .spawn(move || tx_release_loop(&*inner, &s, &counters))?;
        Ok(TxWorker {
            shared,
            handle: Some(handle),
        })
    }
}

impl Drop for TxWorker {
    fn drop(&mut self) {
        {
            // Under the lock, so the thread cannot miss the signal between its check of
            // `stop` and its wait.
            let _st = self.shared.state.lock();
            self.shared.stop.store(true, Ordering::SeqCst);
            self.shared.wake.notify_all();
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl TxWorker {
    /// The thread has ended before its stop: it died of a panic.
    fn died(&self) -> bool {
        self.handle.as_ref().is_some_and(JoinHandle::is_finished)
    }
}

/// Dropped as the release thread ends. If by a panic (the inner device's write panicked),
/// sent frames are held no more, as when the thread cannot be started: a frame held from
/// then on waited for the thread that was gone, unless a later send came to write it (the
/// last frame of a burst, a ping's reply, never left).
struct ReleaseEnd<'a>(&'a TxShared);

impl Drop for ReleaseEnd<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.state.lock().hold_none();
        }
    }
}

/// Write each held sent frame when it is due; sleep until the next one otherwise.
fn tx_release_loop<D: Device>(inner: &D, shared: &TxShared, counters: &Counters) {
    // Before the lock's guard, so dropped after it.
    let _end = ReleaseEnd(shared);
    let c = &counters.tx;
    let mut st = shared.state.lock();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        st.lane.expire_parked(now, c);
        if let Some(held) = st.lane.pop_due(now) {
            // Written under the lock (a device's send does not wait), so a frame the stack
            // sends meanwhile cannot overtake it.
            match inner.send_meta(&held.frame, &held.meta) {
                Ok(()) => bump(&c.passed),
                Err(_) => {
                    bump(&c.dropped);
                    bump(&c.failed);
                }
            }
            continue;
        }
        match st.lane.next_wake() {
            Some(at) => {
                shared.wake.wait_until(&mut st, at);
            }
            None => shared.wake.wait(&mut st),
        }
    }
}

/// A device that injects faults into the frames it receives, and with `both_ways` into those
/// it sends (see the module docs).
pub struct FaultInjector<D> {
    inner: Arc<D>,
    rx: Mutex<RxState>,
    tx: Arc<TxShared>,
    counters: Arc<Counters>,
    /// Started by the first configuration that can hold a sent frame.
    worker: Mutex<Option<TxWorker>>,
    /// `interrupt_recv` was called (passed on to the inner device) and `arm_recv_interrupt`
    /// not since: `recv` stops waiting.
    interrupted: AtomicBool,
}

impl<D: Device + 'static> FaultInjector<D> {
    /// Wrap `inner`. Rates outside `0.0..=1.0` are clamped (NaN counts as 0).
    pub fn new(inner: D, config: FaultConfig) -> FaultInjector<D> {
        let cfg = config.sanitized();
        let f = FaultInjector {
            inner: Arc::new(inner),
            tx: Arc::new(TxShared {
                state: Mutex::new(TxState::new(cfg.clone())),
                wake: Condvar::new(),
                stop: AtomicBool::new(false),
            }),
            rx: Mutex::new(RxState::new(cfg.clone())),
            counters: Arc::new(Counters::default()),
            worker: Mutex::new(None),
            interrupted: AtomicBool::new(false),
        };
        f.start_worker_if_needed(&cfg);
        f
    }

    /// The configuration in force (rates as clamped by [`FaultInjector::new`]).
    pub fn config(&self) -> FaultConfig {
        self.rx.lock().cfg.clone()
    }

    /// Replace the configuration and restart the PRNGs from its seed. Frames already held
    /// are still delivered when due.
    pub fn set_config(&self, config: FaultConfig) {
        let cfg = config.sanitized();
        self.tx.state.lock().reconfigure(cfg.clone());
        {
            let mut rx = self.rx.lock();
            rx.lane.rng = SplitMix64::new(cfg.seed);
            rx.cfg = cfg.clone();
        }
        self.start_worker_if_needed(&cfg);
    }

    /// Start the transmit thread when `cfg` can hold sent frames. If the thread cannot be
    /// started (or has died), sent frames are passed on without the faults that hold them
    /// (drops and corruption still apply), rather than piling up undelivered.
    fn start_worker_if_needed(&self, cfg: &FaultConfig) {
        if !cfg.holds_sent_frames() {
            return;
        }
        let mut w = self.worker.lock();
        match &*w {
            // A thread that died (of a panic) writes nothing, as one that could not start.
            Some(worker) if worker.died() => self.tx.state.lock().hold_none(),
            Some(_) => {}
            None => {
                match TxWorker::spawn(self.inner.clone(), self.tx.clone(), self.counters.clone()) {
                    Ok(worker) => *w = Some(worker),
                    Err(_) => self.tx.state.lock().hold_none(),
                }
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FaultStats {
        self.counters.snapshot()
    }

    /// Received frames currently held back (delayed, duplicate copies, reordered).
    pub fn held(&self) -> usize {
        self.rx.lock().lane.held()
    }

    /// Sent frames currently held back.
    pub fn tx_held(&self) -> usize {
        self.tx.state.lock().lane.held()
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Copy a held frame into the caller's buffer.
    fn deliver(&self, held: &Held, buf: &mut [u8]) -> io::Result<Option<(usize, FrameMeta)>> {
        match buf.get_mut(..held.frame.len()) {
            Some(dst) => {
                dst.copy_from_slice(&held.frame);
                bump(&self.counters.rx.passed);
                Ok(Some((held.frame.len(), held.meta)))
            }
            None => {
                bump(&self.counters.rx.dropped);
                bump(&self.counters.rx.too_long);
                Err(crate::FrameTooLong::error(held.frame.len(), buf.len()))
            }
        }
    }
}

// The frames still held go with the injector, counted as dropped: the release thread is
// stopped first, so it writes none of them meanwhile.
impl<D> Drop for FaultInjector<D> {
    fn drop(&mut self) {
        drop(self.worker.get_mut().take());
        self.rx.get_mut().lane.discard_all(&self.counters.rx);
        self.tx.state.lock().lane.discard_all(&self.counters.tx);
    }
}

impl<D: Device + 'static> Device for FaultInjector<D> {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        Ok(self.recv_meta(buf, timeout)?.map(|(n, _)| n))
    }

    // Received frames keep their segmentation (a coalesced segment stays one, to be cut
    // by whoever sends it on), and a checksum the device verified stays verified (a
    // coalesced segment keeps its first segment's checksum, which would not verify), but
    // a checksum the device left partial is completed here, and a frame this injector
    // corrupts is handed on as one to verify. The timeout and `interrupt_recv` hold also
    // while frames keep coming and are all lost or held: a flood of them does not keep the
    // reader (and the thread that would stop) here.
    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        let c = &self.counters.rx;
        // `None`: a timeout too large to represent, i.e. wait as long as the inner device does.
        let deadline = Instant::now().checked_add(timeout);
        // Past this, even frames still streaming in end the call (see `polled`).
        let limit = deadline.and_then(|d| d.checked_add(timeout.max(FLOOD_SLACK)));
        let mut polled = false;
        loop {
            let now = Instant::now();
            let wake = {
                let mut st = self.rx.lock();
                if let Some(held) = st.lane.pop_due(now) {
                    drop(st);
                    return self.deliver(&held, buf);
                }
                let late = limit.is_some_and(|l| now >= l);
                if (polled && deadline.is_some_and(|d| now >= d))
                    || late
                    || self.interrupted.load(Ordering::Acquire)
                {
                    return Ok(None);
                }
                match (deadline, st.lane.next_wake()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            };
            let wait = wake.map_or(timeout, |w| w.saturating_duration_since(now));

            // The inner device is read without holding the lock, so `send` and other readers
            // are never blocked behind it.
            let got = self.inner.recv_meta(buf, wait)?;
            let now = Instant::now();
            let mut st = self.rx.lock();
            match got {
                Some((n, meta)) => {
                    let len = buf.len();
                    let frame = buf
                        .get_mut(..n)
                        .ok_or_else(|| crate::FrameTooLong::error(n, len))?;
                    bump(&c.received);
                    if let Csum::Partial { start, offset } = meta.csum {
                        if !crate::vnet::complete_checksum(frame, start, offset) {
                            bump(&c.dropped);
                            bump(&c.bad_offload);
                            continue;
                        }
                    }
                    let mut meta = FrameMeta {
                        csum: match meta.csum {
                            Csum::Valid => Csum::Valid,
                            Csum::Full | Csum::Partial { .. } => Csum::Full,
                        },
                        gso: meta.gso,
                    };
                    let RxState { cfg, lane } = &mut *st;
                    if lane.process(cfg, frame, &mut meta, true, now, c) {
                        bump(&c.passed);
                        return Ok(Some((n, meta)));
                    }
                }
                None => {
                    // Time is up only once the inner device had nothing: a run of dropped or
                    // held frames that outlasts the timeout (a busy machine) is not silence.
                    polled = true;
                    st.lane.expire_parked(now, c);
                    if self.interrupted.load(Ordering::Acquire) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_meta(frame, &FrameMeta::default())
    }

    // Sending passes the offloads through, also for held frames.
    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        let c = &self.counters.tx;
        let mut st = self.tx.state.lock();
        bump(&c.received);
        let u = st.loss_rng.next_unit();
        if hit(u, st.cfg.tx_loss) {
            bump(&c.dropped);
            bump(&c.lost);
            return Ok(());
        }
        if !st.cfg.both_ways {
            drop(st);
            self.inner.send_meta(frame, meta)?;
            bump(&c.passed);
            return Ok(());
        }
        let now = Instant::now();
        // Held frames already due go first, as on the receive side, where `recv` hands out
        // what is due before it reads a new frame: the order does not depend on when the
        // release thread runs.
        while let Some(held) = st.lane.pop_due(now) {
            match self.inner.send_meta(&held.frame, &held.meta) {
                Ok(()) => bump(&c.passed),
                Err(_) => {
                    bump(&c.dropped);
                    bump(&c.failed);
                }
            }
        }
        let mut copy = frame.to_vec();
        let TxState { cfg, lane, .. } = &mut *st;
        let (mut meta, plain) = (*meta, meta.is_plain());
        let now_ok = lane.process(cfg, &mut copy, &mut meta, plain, now, c);
        // A frame that goes now is written under the lock, so a frame it released from the
        // reorder slot (already due) cannot overtake it through the thread.
        let sent = if now_ok {
            self.inner.send_meta(&copy, &meta).map(|()| bump(&c.passed))
        } else {
            Ok(())
        };
        // Something may have been queued with an earlier deadline than the thread sleeps to.
        self.tx.wake.notify_one();
        drop(st);
        sent
    }

    fn io_path(&self) -> &'static str {
        self.inner.io_path()
    }

    // Passed on, so a driver's stop ends a wait in the inner device (an idle rx thread
    // then waits without a timeout, as without the injector).
    fn arm_recv_interrupt(&self) -> bool {
        self.interrupted.store(false, Ordering::Release);
        self.inner.arm_recv_interrupt()
    }

    fn interrupt_recv(&self) {
        self.interrupted.store(true, Ordering::Release);
        self.inner.interrupt_recv();
    }
}

#[cfg(test)]
mod tests;
