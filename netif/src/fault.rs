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
//! frames (the send still reports success, as a frame lost on the wire would).
//!
//! Decisions come from a small seeded PRNG (splitmix64) that draws the same number of values
//! for every frame, so which frames are dropped, corrupted, duplicated, delayed or reordered is
//! a deterministic function of [`FaultConfig::seed`] and the sequence of frames. Only the
//! moment a held frame is released depends on the clock.
//!
//! Held frames (delayed, duplicated, reordered) wait in a queue bounded by [`HOLD_CAPACITY`];
//! a frame that does not fit is dropped and counted both as `dropped` and `overflow`.

mod spec;

pub use spec::FaultSpecError;

use crate::vnet::FrameMeta;
use crate::{Device, DeviceInfo};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most frames held back at once (delayed, duplicate copies, reordered).
pub const HOLD_CAPACITY: usize = 1024;

/// Longest a reordered frame waits for a next frame to overtake it.
pub const REORDER_HOLD: Duration = Duration::from_millis(5);

/// Bytes at the start of a frame that corruption never touches (the Ethernet header).
const PROTECTED_PREFIX: usize = crate::device::ETHERNET_HEADER_LEN;

/// What faults to inject. Rates are probabilities in `0.0..=1.0`; everything defaults to 0
/// (a transparent wrapper).
///
/// Parses from and prints as the CLI spec format, e.g.
/// `loss=0.1,dup=0.05,reorder=0.02,delay=5ms,jitter=2ms,corrupt=0.01,seed=42,txloss=0.01`.
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
    /// Received frames that never reach the caller: loss, hold-queue overflow, and held
    /// frames that did not fit the caller's buffer.
    pub dropped: u64,
    /// The part of `dropped` chosen by the loss rate.
    pub lost: u64,
    /// The part of `dropped` caused by a full hold queue.
    pub overflow: u64,
    /// Frames delivered a second time.
    pub duplicated: u64,
    /// Frames held back behind the next frame.
    pub reordered: u64,
    /// Frames held for `delay` + jitter (only counted when that is non-zero).
    pub delayed: u64,
    /// Frames with one bit flipped.
    pub corrupted: u64,
    /// Sent frames passed on to the inner device.
    pub tx_passed: u64,
    /// Sent frames dropped by `tx_loss`.
    pub tx_dropped: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    passed: AtomicU64,
    dropped: AtomicU64,
    lost: AtomicU64,
    overflow: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    delayed: AtomicU64,
    corrupted: AtomicU64,
    tx_passed: AtomicU64,
    tx_dropped: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> FaultStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultStats {
            received: g(&self.received),
            passed: g(&self.passed),
            dropped: g(&self.dropped),
            lost: g(&self.lost),
            overflow: g(&self.overflow),
            duplicated: g(&self.duplicated),
            reordered: g(&self.reordered),
            delayed: g(&self.delayed),
            corrupted: g(&self.corrupted),
            tx_passed: g(&self.tx_passed),
            tx_dropped: g(&self.tx_dropped),
        }
    }
}

/// A frame (and possibly its duplicate) waiting for the next frame to overtake it.
struct Parked {
    frames: Vec<Vec<u8>>,
    /// When it would have been delivered had it not been reordered.
    due: Instant,
    /// When it is released even if no next frame has come.
    deadline: Instant,
}

/// Receive-side state, behind one lock.
struct RxState {
    cfg: FaultConfig,
    rng: SplitMix64,
    /// Frames waiting for delivery, by (due time, arrival sequence).
    queue: BTreeMap<(Instant, u64), Vec<u8>>,
    next_seq: u64,
    parked: Option<Parked>,
}

impl RxState {
    fn new(cfg: FaultConfig) -> RxState {
        RxState {
            rng: SplitMix64::new(cfg.seed),
            cfg,
            queue: BTreeMap::new(),
            next_seq: 0,
            parked: None,
        }
    }

    fn held(&self) -> usize {
        self.queue.len() + self.parked.as_ref().map_or(0, |p| p.frames.len())
    }

    /// Queue a frame for delivery at `due`; `false` (and counted as a drop) when full.
    fn enqueue(&mut self, due: Instant, frame: Vec<u8>, c: &Counters) -> bool {
        if self.held() >= HOLD_CAPACITY {
            bump(&c.dropped);
            bump(&c.overflow);
            return false;
        }
        self.queue.insert((due, self.next_seq), frame);
        self.next_seq = self.next_seq.wrapping_add(1);
        true
    }

    /// The earliest held frame whose time has come.
    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (&(due, _), _) = self.queue.first_key_value()?;
        if due > now {
            return None;
        }
        self.queue.pop_first().map(|(_, frame)| frame)
    }

    /// When `recv` must look at the queue again, if anything is held.
    fn next_wake(&self) -> Option<Instant> {
        let queued = self.queue.first_key_value().map(|(&(due, _), _)| due);
        let parked = self.parked.as_ref().map(|p| p.deadline);
        match (queued, parked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Move the parked frame into the queue, to be delivered no earlier than `after`.
    fn release_parked(&mut self, after: Instant, c: &Counters) {
        if let Some(p) = self.parked.take() {
            let due = p.due.max(after);
            for frame in p.frames {
                // Room was reserved when it was parked, so this only fails if the queue
                // filled meanwhile; then it is counted as overflow like any other frame.
                self.enqueue(due, frame, c);
            }
        }
    }

    /// Called when the inner device had nothing: a parked frame past its deadline stops
    /// waiting for a next frame.
    fn expire_parked(&mut self, now: Instant, c: &Counters) {
        if self.parked.as_ref().is_some_and(|p| p.deadline <= now) {
            self.release_parked(now, c);
        }
    }

    /// Apply the faults to a frame just received into `frame`. `true` means deliver it from
    /// `frame` right now; `false` means it was dropped or queued.
    fn process(&mut self, frame: &mut [u8], now: Instant, c: &Counters) -> bool {
        bump(&c.received);
        let d = FrameDraws::draw(&mut self.rng);
        let cfg = &self.cfg;

        if hit(d.loss, cfg.loss) {
            bump(&c.dropped);
            bump(&c.lost);
            return false;
        }

        if hit(d.corrupt, cfg.corrupt) && frame.len() > PROTECTED_PREFIX {
            let span = (frame.len() - PROTECTED_PREFIX) as u64;
            let index = PROTECTED_PREFIX + ((d.corrupt_where >> 3) % span) as usize;
            let bit = (d.corrupt_where & 7) as u32;
            if let Some(byte) = frame.get_mut(index) {
                *byte ^= 1u8 << bit;
                bump(&c.corrupted);
            }
        }

        let duplicate = hit(d.duplicate, cfg.duplicate);
        let copies = if duplicate { 2 } else { 1 };

        let jitter_nanos = u64::try_from(cfg.delay_jitter.as_nanos()).unwrap_or(u64::MAX);
        let jitter = match jitter_nanos.checked_add(1) {
            Some(range) => d.jitter % range,
            None => d.jitter,
        };
        let hold = cfg.delay.saturating_add(Duration::from_nanos(jitter));
        let due = now.checked_add(hold).unwrap_or(now);
        let delayed = !hold.is_zero();

        // Only one frame is parked at a time; the frame after it releases it.
        if hit(d.reorder, cfg.reorder) && self.parked.is_none() {
            if self.held() + copies > HOLD_CAPACITY {
                for _ in 0..copies {
                    bump(&c.dropped);
                    bump(&c.overflow);
                }
                return false;
            }
            if duplicate {
                bump(&c.duplicated);
            }
            if delayed {
                bump(&c.delayed);
            }
            bump(&c.reordered);
            self.parked = Some(Parked {
                frames: vec![frame.to_vec(); copies],
                due,
                deadline: due.checked_add(REORDER_HOLD).unwrap_or(due),
            });
            return false;
        }

        if duplicate {
            bump(&c.duplicated);
        }
        if delayed {
            bump(&c.delayed);
            let queued = self.enqueue(due, frame.to_vec(), c);
            if queued && duplicate {
                self.enqueue(due, frame.to_vec(), c);
            }
            self.release_parked(due, c);
            return false;
        }
        if duplicate {
            self.enqueue(now, frame.to_vec(), c);
        }
        self.release_parked(now, c);
        true
    }
}

/// Transmit-side state: only `tx_loss` needs randomness there.
struct TxState {
    tx_loss: f64,
    rng: SplitMix64,
}

impl TxState {
    fn new(cfg: &FaultConfig) -> TxState {
        TxState {
            tx_loss: cfg.tx_loss,
            // A stream of its own, so sending does not shift the receive decisions.
            rng: SplitMix64::new(cfg.seed ^ 0x7478_5f6c_6f73_7321),
        }
    }
}

/// A device that injects faults into the frames it receives (see the module docs).
pub struct FaultInjector<D> {
    inner: D,
    rx: Mutex<RxState>,
    tx: Mutex<TxState>,
    counters: Counters,
}

impl<D: Device> FaultInjector<D> {
    /// Wrap `inner`. Rates outside `0.0..=1.0` are clamped (NaN counts as 0).
    pub fn new(inner: D, config: FaultConfig) -> FaultInjector<D> {
        let cfg = config.sanitized();
        FaultInjector {
            inner,
            tx: Mutex::new(TxState::new(&cfg)),
            rx: Mutex::new(RxState::new(cfg)),
            counters: Counters::default(),
        }
    }

    /// The configuration in force (rates as clamped by [`FaultInjector::new`]).
    pub fn config(&self) -> FaultConfig {
        self.rx.lock().cfg.clone()
    }

    /// Replace the configuration and restart the PRNG from its seed. Frames already held
    /// are still delivered when due.
    pub fn set_config(&self, config: FaultConfig) {
        let cfg = config.sanitized();
        *self.tx.lock() = TxState::new(&cfg);
        let mut rx = self.rx.lock();
        rx.rng = SplitMix64::new(cfg.seed);
        rx.cfg = cfg;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FaultStats {
        self.counters.snapshot()
    }

    /// Frames currently held back (delayed, duplicate copies, reordered).
    pub fn held(&self) -> usize {
        self.rx.lock().held()
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn into_inner(self) -> D {
        self.inner
    }

    /// Copy a held frame into the caller's buffer.
    fn deliver(&self, frame: &[u8], buf: &mut [u8]) -> io::Result<Option<usize>> {
        match buf.get_mut(..frame.len()) {
            Some(dst) => {
                dst.copy_from_slice(frame);
                bump(&self.counters.passed);
                Ok(Some(frame.len()))
            }
            None => {
                bump(&self.counters.dropped);
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "frame larger than buffer",
                ))
            }
        }
    }
}

impl<D: Device> Device for FaultInjector<D> {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        // `None`: a timeout too large to represent, i.e. wait as long as the inner device does.
        let deadline = Instant::now().checked_add(timeout);
        let mut polled = false;
        loop {
            let now = Instant::now();
            let wake = {
                let mut st = self.rx.lock();
                if let Some(frame) = st.pop_due(now) {
                    drop(st);
                    return self.deliver(&frame, buf);
                }
                if polled && deadline.is_some_and(|d| now >= d) {
                    return Ok(None);
                }
                match (deadline, st.next_wake()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            };
            let wait = wake.map_or(timeout, |w| w.saturating_duration_since(now));

            // The inner device is read without holding the lock, so `send` and other readers
            // are never blocked behind it.
            let got = self.inner.recv(buf, wait)?;
            let now = Instant::now();
            let mut st = self.rx.lock();
            match got {
                Some(n) => {
                    let frame = buf.get_mut(..n).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "frame larger than buffer")
                    })?;
                    if st.process(frame, now, &self.counters) {
                        bump(&self.counters.passed);
                        return Ok(Some(n));
                    }
                }
                None => {
                    // Time is up only once the inner device had nothing: a run of dropped or
                    // held frames that outlasts the timeout (a busy machine) is not silence.
                    polled = true;
                    st.expire_parked(now, &self.counters);
                }
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_meta(frame, &FrameMeta::default())
    }

    // Receiving goes through `recv` (the default `recv_meta`): the inner device completes
    // offloaded checksums there, so corruption stays detectable and held frames need no
    // metadata. Sending passes the offloads through.
    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        let drop_it = {
            let mut tx = self.tx.lock();
            let u = tx.rng.next_unit();
            hit(u, tx.tx_loss)
        };
        if drop_it {
            bump(&self.counters.tx_dropped);
            return Ok(());
        }
        self.inner.send_meta(frame, meta)?;
        bump(&self.counters.tx_passed);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
