//! Values shared by the command line and the shell's commands.

/// A duration in seconds, fractions allowed ("0.2", "1").
pub fn parse_seconds(s: &str) -> Option<std::time::Duration> {
    let f: f64 = s.parse().ok()?;
    (f.is_finite() && (0.0..=1e6).contains(&f)).then(|| std::time::Duration::from_secs_f64(f))
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
}
