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

#[cfg(test)]
mod tests {
    use super::*;

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
