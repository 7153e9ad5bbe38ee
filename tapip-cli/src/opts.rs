//! Values shared by the command line and the shell's commands.

use std::time::Duration;

/// The longest duration any option takes, in seconds (about 11.5 days).
pub const MAX_SECONDS: f64 = 1e6;

/// A duration in seconds, fractions allowed ("0.2", "1"), from 0 to `MAX_SECONDS`.
pub fn parse_seconds(s: &str) -> Option<Duration> {
    let f: f64 = s.parse().ok()?;
    (f.is_finite() && (0.0..=MAX_SECONDS).contains(&f)).then(|| Duration::from_secs_f64(f))
}

/// Seconds from `min` to `MAX_SECONDS`, or an error naming that range:
/// `invalid interval '1e300' (seconds, 0.001 to 1000000)`.
pub fn seconds_from(s: &str, min: Duration, what: &str) -> Result<Duration, String> {
    parse_seconds(s).filter(|d| *d >= min).ok_or_else(|| {
        format!(
            "invalid {what} '{s}' (seconds, {} to {MAX_SECONDS})",
            min.as_secs_f64()
        )
    })
}

/// A size in bytes with an optional binary suffix ("65536", "64K", "256M", "1G"), from
/// `min` to 1 TiB, or an error naming that form: `invalid size '5X' (bytes, with K, M or G
/// for KiB, MiB, GiB; 1M to 1024G)`.
pub fn bytes_from(s: &str, min: u64) -> Result<usize, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let max: u64 = 1 << 40;
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| (min..=max).contains(&n))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "invalid size '{s}' (bytes, with K, M or G for KiB, MiB, GiB; {} to 1024G)",
                human(min)
            )
        })
}

/// `n` bytes the way `bytes_from` reads them, in the largest unit that divides them.
fn human(n: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes_from("65536", 1), Ok(65536));
        assert_eq!(bytes_from("64K", 1), Ok(65536));
        assert_eq!(bytes_from("256m", 1), Ok(256 << 20));
        assert_eq!(bytes_from("2G", 1), Ok(2 << 30));
        for bad in ["", "M", "-1", "5X", "1.5M", "99999999999G", "2048G"] {
            let e = bytes_from(bad, 1 << 20).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "invalid size '{bad}' (bytes, with K, M or G for KiB, MiB, GiB; 1M to 1024G)"
                )
            );
        }
        assert!(bytes_from("512K", 1 << 20).is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(
            parse_seconds("0.5"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("nan"), None);
        assert_eq!(parse_seconds("1e7"), None);
    }

    #[test]
    fn errors_name_the_range() {
        let ms = Duration::from_millis(1);
        assert_eq!(seconds_from("0.001", ms, "interval"), Ok(ms));
        assert_eq!(
            seconds_from("1e300", ms, "interval"),
            Err("invalid interval '1e300' (seconds, 0.001 to 1000000)".into())
        );
        assert_eq!(
            seconds_from("0.0000000001", ms, "timeout"),
            Err("invalid timeout '0.0000000001' (seconds, 0.001 to 1000000)".into())
        );
        assert_eq!(
            seconds_from("-1", Duration::ZERO, "number of seconds"),
            Err("invalid number of seconds '-1' (seconds, 0 to 1000000)".into())
        );
    }
}
