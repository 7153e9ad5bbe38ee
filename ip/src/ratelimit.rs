//! A token bucket on an explicit clock.

use netif::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_second: u32,
    burst: u32,
    tokens: u32,
    last: Instant,
}

impl TokenBucket {
    pub fn new(per_second: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            per_second,
            burst,
            tokens: burst,
            last: Instant::ZERO,
        }
    }

    /// Take a token if one is left at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.per_second > 0 {
            let step = Duration::from_micros(1_000_000 / u64::from(self.per_second))
                .max(Duration::from_micros(1));
            let elapsed = now.saturating_duration_since(self.last);
            let earned = (elapsed.as_micros() / step.as_micros()) as u64;
            if earned > 0 {
                self.tokens = (u64::from(self.tokens) + earned).min(u64::from(self.burst)) as u32;
                self.last = if self.tokens == self.burst {
                    now
                } else {
                    self.last + step * earned as u32
                };
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 5);
        let t = Instant::from_secs(1);
        assert_eq!((0..20).filter(|_| b.take(t)).count(), 5);
        assert!(!b.take(t + Duration::from_millis(50)));
        assert!(b.take(t + Duration::from_millis(100)));
        assert_eq!(
            (0..20)
                .filter(|_| b.take(t + Duration::from_secs(10)))
                .count(),
            5
        );
    }
}
