//! The fault spec format of the CLI: [`FaultConfig`] parses from (`FromStr`) and prints as
//! (`Display`) comma-separated `key=value` items such as
//! `loss=0.1,dup=0.05,reorder=0.02,delay=5ms,jitter=2ms,corrupt=0.01,seed=42,txloss=0.01`
//! (plus `dir=both` to impair the sent frames alike),
//! and [`FaultSpecError`] says why a spec did not parse.

use super::FaultConfig;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Why a fault spec string did not parse. Every message is one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault spec item '{0}' is not key=value (e.g. loss=0.1)")]
    NotKeyValue(String),
    #[error(
        "unknown fault key '{0}' (known keys: loss, dup, reorder, delay, jitter, corrupt, seed, txloss, dir)"
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
    #[error("bad direction '{0}': expected dir=rx (received frames only) or dir=both")]
    BadDirection(String),
}

impl FaultSpecError {
    /// The error with control characters in what it quotes escaped (`\n`), so that its
    /// message stays one line whatever the spec held.
    fn one_line(self) -> FaultSpecError {
        use FaultSpecError as E;
        let f = |s: String| -> String {
            s.chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = match c.is_control() {
                        true => c.escape_default().collect(),
                        false => vec![c],
                    };
                    escaped
                })
                .collect()
        };
        match self {
            E::NotKeyValue(a) => E::NotKeyValue(f(a)),
            E::UnknownKey(a) => E::UnknownKey(f(a)),
            E::DuplicateKey(a) => E::DuplicateKey(f(a)),
            E::BadRate { key, value } => E::BadRate {
                key: f(key),
                value: f(value),
            },
            E::RateOutOfRange { key, value } => E::RateOutOfRange {
                key: f(key),
                value: f(value),
            },
            E::BadDuration { key, value } => E::BadDuration {
                key: f(key),
                value: f(value),
            },
            E::BadSeed(a) => E::BadSeed(f(a)),
            E::BadDirection(a) => E::BadDirection(f(a)),
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
    /// `seed` takes an integer; `dir` is `rx` (the default: received frames only) or `both`
    /// ([`FaultConfig::both_ways`]). An empty string is the default (no faults).
    fn from_str(spec: &str) -> Result<FaultConfig, FaultSpecError> {
        parse_spec(spec).map_err(FaultSpecError::one_line)
    }
}

fn parse_spec(spec: &str) -> Result<FaultConfig, FaultSpecError> {
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
            "dir" => "dir",
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
            "dir" => {
                cfg.both_ways = match value.to_ascii_lowercase().as_str() {
                    "rx" => false,
                    "both" => true,
                    _ => return Err(FaultSpecError::BadDirection(value.to_string())),
                }
            }
            _ => cfg.seed = parse_seed(value)?,
        }
    }
    Ok(cfg)
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
    /// Every key, in the order of the CLI example (`dir` only when it is `both`); parses back
    /// to an equal config.
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
        )?;
        if self.both_ways {
            write!(f, ",dir=both")?;
        }
        Ok(())
    }
}
