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

use crate::{Device, DeviceInfo};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::str::FromStr;
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

/// Why a fault spec string did not parse. Every message is one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault spec item '{0}' is not key=value (e.g. loss=0.1)")]
    NotKeyValue(String),
    #[error(
        "unknown fault key '{0}' (known keys: loss, dup, reorder, delay, jitter, corrupt, seed, txloss)"
    )]
    UnknownKey(String),
    #[error("fault key '{0}' is given more than once")]
    DuplicateKey(String),
    #[error("bad rate '{value}' for {key}: expected a probability such as 0.05 or 5%")]
    BadRate { key: String, value: String },
    #[error("rate {key}={value} is outside 0..=1")]
    RateOutOfRange { key: String, value: String },
    #[error("bad duration '{value}' for {key}: expected a whole number with unit s, ms, us or ns (e.g. 5ms)")]
    BadDuration { key: String, value: String },
    #[error("bad seed '{0}': expected an unsigned 64-bit integer (decimal or 0x hex)")]
    BadSeed(String),
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

fn parse_rate(key: &str, value: &str) -> Result<f64, FaultSpecError> {
    let bad = || FaultSpecError::BadRate {
        key: key.to_string(),
        value: value.to_string(),
    };
    let (number, scale) = match value.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (value, 1.0),
    };
    // Rust's f64 parser also takes "inf" and "NaN"; the range check below rejects both.
    let p = number.parse::<f64>().map_err(|_| bad())? / scale;
    if !(0.0..=1.0).contains(&p) {
        return Err(FaultSpecError::RateOutOfRange {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(p)
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

fn parse_duration(key: &str, value: &str) -> Result<Duration, FaultSpecError> {
    let bad = || FaultSpecError::BadDuration {
        key: key.to_string(),
        value: value.to_string(),
    };
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(digits_end);
    let unit_nanos: u128 = match unit.trim() {
        "s" => NANOS_PER_SEC,
        "ms" => 1_000_000,
        "us" | "µs" => 1_000,
        "ns" => 1,
        _ => return Err(bad()),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let count: u128 = digits.parse().map_err(|_| bad())?;
    let nanos = count.checked_mul(unit_nanos).ok_or_else(bad)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| bad())?;
    // The remainder is below 10^9, so it fits.
    let sub = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| bad())?;
    Ok(Duration::new(secs, sub))
}

fn parse_seed(value: &str) -> Result<u64, FaultSpecError> {
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse::<u64>(),
    };
    parsed.map_err(|_| FaultSpecError::BadSeed(value.to_string()))
}

impl FromStr for FaultConfig {
    type Err = FaultSpecError;

    /// Comma-separated `key=value` items, any order, each key at most once. Keys: `loss`,
    /// `dup` (or `duplicate`), `reorder`, `corrupt`, `txloss` (or `tx_loss`) take a rate
    /// (`0.05` or `5%`); `delay` and `jitter` take a duration (`5ms`, `250us`, `1s`, `10ns`);
    /// `seed` takes an integer. An empty string is the default (no faults).
    fn from_str(spec: &str) -> Result<FaultConfig, FaultSpecError> {
        let mut cfg = FaultConfig::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (raw_key, value) = item
                .split_once('=')
                .ok_or_else(|| FaultSpecError::NotKeyValue(item.to_string()))?;
            let value = value.trim();
            let key: &'static str = match raw_key.trim().to_ascii_lowercase().as_str() {
                "loss" => "loss",
                "dup" | "duplicate" => "dup",
                "reorder" => "reorder",
                "delay" => "delay",
                "jitter" | "delay_jitter" => "jitter",
                "corrupt" => "corrupt",
                "seed" => "seed",
                "txloss" | "tx_loss" => "txloss",
                _ => return Err(FaultSpecError::UnknownKey(raw_key.trim().to_string())),
            };
            if seen.contains(&key) {
                return Err(FaultSpecError::DuplicateKey(key.to_string()));
            }
            seen.push(key);
            match key {
                "loss" => cfg.loss = parse_rate(key, value)?,
                "dup" => cfg.duplicate = parse_rate(key, value)?,
                "reorder" => cfg.reorder = parse_rate(key, value)?,
                "corrupt" => cfg.corrupt = parse_rate(key, value)?,
                "txloss" => cfg.tx_loss = parse_rate(key, value)?,
                "delay" => cfg.delay = parse_duration(key, value)?,
                "jitter" => cfg.delay_jitter = parse_duration(key, value)?,
                _ => cfg.seed = parse_seed(value)?,
            }
        }
        Ok(cfg)
    }
}

/// A duration in the largest unit that shows it exactly, as [`parse_duration`] reads it back.
struct SpecDuration(Duration);

impl fmt::Display for SpecDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            write!(f, "0ms")
        } else if nanos.is_multiple_of(NANOS_PER_SEC) {
            write!(f, "{}s", nanos / NANOS_PER_SEC)
        } else if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            write!(f, "{}us", nanos / 1_000)
        } else {
            write!(f, "{nanos}ns")
        }
    }
}

impl fmt::Display for FaultConfig {
    /// Every key, in the order of the CLI example; parses back to an equal config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loss={},dup={},reorder={},delay={},jitter={},corrupt={},seed={},txloss={}",
            self.loss,
            self.duplicate,
            self.reorder,
            SpecDuration(self.delay),
            SpecDuration(self.delay_jitter),
            self.corrupt,
            self.seed,
            self.tx_loss
        )
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
            polled = true;
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
                None => st.expire_parked(now, &self.counters),
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        let drop_it = {
            let mut tx = self.tx.lock();
            let u = tx.rng.next_unit();
            hit(u, tx.tx_loss)
        };
        if drop_it {
            bump(&self.counters.tx_dropped);
            return Ok(());
        }
        self.inner.send(frame)?;
        bump(&self.counters.tx_passed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MacAddr, MemoryLink};

    const MS: Duration = Duration::from_millis(1);

    fn pair(queue: usize) -> (MemoryLink, MemoryLink) {
        MemoryLink::pair(
            ("peer", MacAddr([2, 0, 0, 0, 0, 1])),
            ("tap0", MacAddr([2, 0, 0, 0, 0, 2])),
            1500,
            queue,
        )
    }

    /// A 60-byte frame carrying `seq` three times right after the Ethernet header, so a
    /// single flipped bit can never hide which frame it was.
    fn numbered_frame(seq: u32) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
        for copy in 0..3 {
            let at = 14 + copy * 4;
            f[at..at + 4].copy_from_slice(&seq.to_le_bytes());
        }
        f
    }

    fn frame_seq(f: &[u8]) -> u32 {
        let read = |copy: usize| {
            let at = 14 + copy * 4;
            u32::from_le_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
        };
        let (a, b, c) = (read(0), read(1), read(2));
        if a == b || a == c {
            a
        } else {
            b
        }
    }

    fn bit_differences(a: &[u8], b: &[u8]) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            for bit in 0..8 {
                if (x ^ y) & (1 << bit) != 0 {
                    out.push((i, bit));
                }
            }
        }
        out
    }

    fn drain<D: Device>(dev: &D, timeout: Duration) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        let mut out = Vec::new();
        while let Some(n) = dev.recv(&mut buf, timeout).unwrap() {
            out.push(buf[..n].to_vec());
        }
        out
    }

    const N: u32 = 100_000;

    fn run_statistics(seed: u64) -> (Vec<Vec<u8>>, FaultStats) {
        let (peer, local) = pair(N as usize + 16);
        let cfg = FaultConfig {
            seed,
            loss: 0.10,
            duplicate: 0.05,
            corrupt: 0.01,
            reorder: 0.02,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        for seq in 0..N {
            peer.send(&numbered_frame(seq)).unwrap();
        }
        let got = drain(&dev, 20 * MS);
        (got, dev.stats())
    }

    fn assert_rate(what: &str, count: u64, total: u64, expected: f64) {
        let rate = count as f64 / total as f64;
        assert!(
            (rate - expected).abs() <= 0.005,
            "{what}: observed {rate:.4} ({count}/{total}), expected {expected} ± 0.005"
        );
    }

    #[test]
    fn rates_are_observed_and_repeatable() {
        let (frames, stats) = run_statistics(42);

        let mut seen = vec![0u32; N as usize];
        let mut corrupted = 0u64;
        let mut late = 0u64;
        let mut max_seen: Option<u32> = None;
        for f in &frames {
            let seq = frame_seq(f);
            let count = &mut seen[seq as usize];
            *count += 1;
            if *count > 1 {
                continue; // the duplicate copy of a frame already counted
            }
            let diff = bit_differences(f, &numbered_frame(seq));
            assert!(
                diff.len() <= 1,
                "frame {seq} has {} flipped bits",
                diff.len()
            );
            if let Some(&(index, _)) = diff.first() {
                assert!(index >= 14, "corruption inside the Ethernet header");
                corrupted += 1;
            }
            if max_seen.is_some_and(|m| seq < m) {
                late += 1;
            }
            max_seen = Some(max_seen.map_or(seq, |m| m.max(seq)));
        }
        let unique = seen.iter().filter(|&&c| c > 0).count() as u64;
        let duplicates = seen.iter().filter(|&&c| c > 1).count() as u64;
        assert!(seen.iter().all(|&c| c <= 2));

        assert_rate("loss", u64::from(N) - unique, u64::from(N), 0.10);
        assert_rate("duplicate", duplicates, unique, 0.05);
        assert_rate("corrupt", corrupted, unique, 0.01);
        assert_rate("reorder", late, unique, 0.02);

        // The counters agree with what was observed.
        assert_eq!(stats.received, u64::from(N));
        assert_eq!(stats.dropped, u64::from(N) - unique);
        assert_eq!(stats.duplicated, duplicates);
        assert_eq!(stats.corrupted, corrupted);
        assert_eq!(stats.passed, frames.len() as u64);
        assert_eq!(stats.overflow, 0);
        assert!(stats.reordered >= late && stats.reordered <= late + 1);

        // Same seed, same everything; another seed, another outcome.
        let (again, stats_again) = run_statistics(42);
        assert_eq!(frames, again);
        assert_eq!(stats, stats_again);
        let (other, _) = run_statistics(43);
        assert_ne!(frames, other);
    }

    #[test]
    fn corruption_flips_exactly_one_bit_after_the_header() {
        let (peer, local) = pair(512);
        let cfg = FaultConfig {
            seed: 7,
            corrupt: 1.0,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        let originals: Vec<Vec<u8>> = (0..300usize)
            .map(|i| {
                let len = i % 120; // includes runts and header-only frames
                (0..len).map(|b| (b * 7 + i) as u8).collect()
            })
            .collect();
        for f in &originals {
            peer.send(f).unwrap();
        }
        let got = drain(&dev, 5 * MS);
        assert_eq!(got.len(), originals.len());
        let mut flipped = 0;
        for (orig, recv) in originals.iter().zip(&got) {
            assert_eq!(orig.len(), recv.len());
            let diff = bit_differences(orig, recv);
            if orig.len() <= 14 {
                assert!(diff.is_empty(), "a frame without payload was changed");
            } else {
                assert_eq!(diff.len(), 1, "expected exactly one flipped bit");
                assert!(diff[0].0 >= 14);
                flipped += 1;
            }
        }
        assert_eq!(dev.stats().corrupted, flipped);
    }

    #[test]
    fn delay_is_respected() {
        let (peer, local) = pair(16);
        let cfg = FaultConfig {
            delay: Duration::from_millis(60),
            delay_jitter: Duration::from_millis(20),
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        let mut buf = [0u8; 128];

        let sent = Instant::now();
        peer.send(&numbered_frame(1)).unwrap();
        // Not before its time, even though the inner device had it at once.
        assert_eq!(dev.recv(&mut buf, 20 * MS).unwrap(), None);
        let n = dev.recv(&mut buf, Duration::from_secs(2)).unwrap();
        let elapsed = sent.elapsed();
        assert_eq!(n, Some(60));
        assert_eq!(frame_seq(&buf), 1);
        assert!(
            elapsed >= Duration::from_millis(60),
            "delivered after {elapsed:?}"
        );
        assert!(elapsed < Duration::from_millis(1500));

        // A batch arrives in full, every frame at least `delay` after it was sent.
        let sent = Instant::now();
        for seq in 0..10 {
            peer.send(&numbered_frame(seq)).unwrap();
        }
        let got = drain(&dev, 200 * MS);
        assert!(sent.elapsed() >= Duration::from_millis(60));
        let mut seqs: Vec<u32> = got.iter().map(|f| frame_seq(f)).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        assert_eq!(dev.stats().delayed, 11);
    }

    #[test]
    fn recv_timeout_is_respected_while_frames_are_held() {
        let (peer, local) = pair(16);
        let cfg = FaultConfig {
            delay: Duration::from_secs(10),
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        peer.send(&numbered_frame(1)).unwrap();
        let mut buf = [0u8; 128];
        let start = Instant::now();
        assert_eq!(dev.recv(&mut buf, 30 * MS).unwrap(), None);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(dev.held(), 1);
        // A zero timeout polls once and returns.
        assert_eq!(dev.recv(&mut buf, Duration::ZERO).unwrap(), None);
    }

    #[test]
    fn reorder_swaps_neighbours() {
        let (peer, local) = pair(64);
        let cfg = FaultConfig {
            seed: 1,
            reorder: 1.0,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        for seq in 0..6 {
            peer.send(&numbered_frame(seq)).unwrap();
        }
        let got: Vec<u32> = drain(&dev, 20 * MS).iter().map(|f| frame_seq(f)).collect();
        // Each frame is parked and the next one (which cannot be parked too) overtakes it.
        assert_eq!(got, vec![1, 0, 3, 2, 5, 4]);
        assert_eq!(dev.stats().reordered, 3);
    }

    #[test]
    fn reordered_frame_is_released_without_a_next_frame() {
        let (peer, local) = pair(8);
        let cfg = FaultConfig {
            reorder: 1.0,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        peer.send(&numbered_frame(9)).unwrap();
        let mut buf = [0u8; 128];
        let start = Instant::now();
        assert_eq!(
            dev.recv(&mut buf, Duration::from_secs(1)).unwrap(),
            Some(60)
        );
        assert_eq!(frame_seq(&buf), 9);
        assert!(start.elapsed() >= REORDER_HOLD);
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn duplicates_arrive_twice() {
        let (peer, local) = pair(8);
        let cfg = FaultConfig {
            duplicate: 1.0,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        peer.send(&numbered_frame(1)).unwrap();
        peer.send(&numbered_frame(2)).unwrap();
        let got: Vec<u32> = drain(&dev, 5 * MS).iter().map(|f| frame_seq(f)).collect();
        assert_eq!(got, vec![1, 1, 2, 2]);
    }

    #[test]
    fn transparent_by_default_and_tx_loss_drops_sends() {
        let (peer, local) = pair(64);
        let dev = FaultInjector::new(local, FaultConfig::default());
        assert!(dev.config().is_transparent());
        assert_eq!(dev.info().name, "tap0");
        for seq in 0..20 {
            peer.send(&numbered_frame(seq)).unwrap();
            dev.send(&numbered_frame(seq)).unwrap();
        }
        let got: Vec<u32> = drain(&dev, 5 * MS).iter().map(|f| frame_seq(f)).collect();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert_eq!(drain(&peer, 5 * MS).len(), 20);

        dev.set_config("txloss=1".parse().unwrap());
        for seq in 0..20 {
            dev.send(&numbered_frame(seq)).unwrap();
        }
        assert!(drain(&peer, 5 * MS).is_empty());
        let s = dev.stats();
        assert_eq!((s.tx_passed, s.tx_dropped), (20, 20));
    }

    #[test]
    fn hold_queue_is_bounded() {
        let (peer, local) = pair(4096);
        let cfg = FaultConfig {
            delay: Duration::from_secs(5),
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        for seq in 0..(HOLD_CAPACITY as u32 + 100) {
            peer.send(&numbered_frame(seq)).unwrap();
        }
        let mut buf = [0u8; 128];
        assert_eq!(dev.recv(&mut buf, 50 * MS).unwrap(), None);
        assert_eq!(dev.held(), HOLD_CAPACITY);
        let s = dev.stats();
        assert_eq!(s.overflow, 100);
        assert_eq!(s.dropped, 100);
    }

    #[test]
    fn small_buffer_is_an_error_for_held_frames() {
        let (peer, local) = pair(8);
        let cfg = FaultConfig {
            duplicate: 1.0,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        peer.send(&numbered_frame(1)).unwrap();
        let mut big = [0u8; 128];
        assert_eq!(dev.recv(&mut big, 5 * MS).unwrap(), Some(60));
        let mut small = [0u8; 10];
        assert!(dev.recv(&mut small, 5 * MS).is_err());
    }

    #[test]
    fn spec_parses_and_prints() {
        let spec =
            "loss=0.1,dup=0.05,reorder=0.02,delay=5ms,jitter=2ms,corrupt=0.01,seed=42,txloss=0.01";
        let cfg: FaultConfig = spec.parse().unwrap();
        assert_eq!(
            cfg,
            FaultConfig {
                seed: 42,
                loss: 0.1,
                duplicate: 0.05,
                reorder: 0.02,
                delay: Duration::from_millis(5),
                delay_jitter: Duration::from_millis(2),
                corrupt: 0.01,
                tx_loss: 0.01,
            }
        );
        assert_eq!(cfg.to_string(), spec);
        assert_eq!(spec.parse::<FaultConfig>().unwrap().to_string(), spec);

        assert_eq!("".parse::<FaultConfig>().unwrap(), FaultConfig::default());
        let cfg: FaultConfig = " Loss = 10% , delay=250us, jitter=1s, seed=0xff, "
            .parse()
            .unwrap();
        assert_eq!(cfg.loss, 0.1);
        assert_eq!(cfg.delay, Duration::from_micros(250));
        assert_eq!(cfg.delay_jitter, Duration::from_secs(1));
        assert_eq!(cfg.seed, 255);

        // Odd durations round-trip through Display too.
        let cfg = FaultConfig {
            delay: Duration::from_nanos(1_500),
            delay_jitter: Duration::from_nanos(7),
            ..FaultConfig::default()
        };
        assert_eq!(cfg.to_string().parse::<FaultConfig>().unwrap(), cfg);
        assert_eq!(
            FaultConfig::default()
                .to_string()
                .parse::<FaultConfig>()
                .unwrap(),
            FaultConfig::default()
        );
    }

    #[test]
    fn spec_errors_are_clear() {
        use FaultSpecError as E;
        let err = |s: &str| s.parse::<FaultConfig>().unwrap_err();
        assert_eq!(err("lose=0.1"), E::UnknownKey("lose".into()));
        assert_eq!(err("loss"), E::NotKeyValue("loss".into()));
        assert_eq!(err("loss=0.1,loss=0.2"), E::DuplicateKey("loss".into()));
        assert!(matches!(err("loss=abc"), E::BadRate { .. }));
        assert!(matches!(err("loss="), E::BadRate { .. }));
        assert!(matches!(err("loss=1.5"), E::RateOutOfRange { .. }));
        assert!(matches!(err("dup=-0.1"), E::RateOutOfRange { .. }));
        assert!(matches!(err("corrupt=NaN"), E::RateOutOfRange { .. }));
        assert!(matches!(err("txloss=inf"), E::RateOutOfRange { .. }));
        assert!(matches!(err("reorder=150%"), E::RateOutOfRange { .. }));
        assert!(matches!(err("delay=5"), E::BadDuration { .. }));
        assert!(matches!(err("delay=ms"), E::BadDuration { .. }));
        assert!(matches!(err("delay=5min"), E::BadDuration { .. }));
        assert!(matches!(err("delay=-5ms"), E::BadDuration { .. }));
        assert!(matches!(err("jitter=1.5ms"), E::BadDuration { .. }));
        assert!(matches!(
            err("delay=99999999999999999999999999s"),
            E::BadDuration { .. }
        ));
        assert!(matches!(err("seed=-1"), E::BadSeed(_)));
        for e in [err("lose=1"), err("loss=2"), err("delay=x"), err("seed=q")] {
            let msg = e.to_string();
            assert!(!msg.contains('\n') && !msg.is_empty(), "{msg}");
        }
        assert_eq!(err("loss=2").to_string(), "rate loss=2 is outside 0..=1");
    }

    #[test]
    fn out_of_range_rates_in_code_are_clamped() {
        let (_peer, local) = pair(8);
        let cfg = FaultConfig {
            loss: f64::NAN,
            duplicate: 7.0,
            corrupt: -1.0,
            ..FaultConfig::default()
        };
        let dev = FaultInjector::new(local, cfg);
        let c = dev.config();
        assert_eq!((c.loss, c.duplicate, c.corrupt), (0.0, 1.0, 0.0));
    }

    #[test]
    fn prng_is_splitmix64() {
        // Reference outputs of splitmix64 seeded with 0.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut r = SplitMix64::new(99);
        for _ in 0..1000 {
            let u = r.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
