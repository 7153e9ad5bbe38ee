//! Sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 3.4).

use std::fmt;
use std::ops::{Add, Sub};

/// A TCP sequence number. Ordering is circular: `a < b` when `b` is ahead of `a` by less
/// than 2^31, so it is not a total order and `Ord` is deliberately not implemented.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// `self - other` as a signed distance (positive when `self` is ahead).
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    pub fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }
    pub fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }
    pub fn gt(self, other: Seq) -> bool {
        self.diff(other) > 0
    }
    pub fn ge(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }
    /// The later of two sequence numbers.
    pub fn max(self, other: Seq) -> Seq {
        if self.ge(other) {
            self
        } else {
            other
        }
    }
    /// Distance from `earlier` to `self` as a length; 0 if `self` is not ahead.
    pub fn since(self, earlier: Seq) -> usize {
        usize::try_from(self.diff(earlier).max(0)).unwrap_or(0)
    }
}

impl Add<usize> for Seq {
    type Output = Seq;
    fn add(self, n: usize) -> Seq {
        Seq(self.0.wrapping_add(n as u32))
    }
}

impl Sub<usize> for Seq {
    type Output = Seq;
    fn sub(self, n: usize) -> Seq {
        Seq(self.0.wrapping_sub(n as u32))
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap() {
        let a = Seq(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b.0, 9);
        assert!(a.lt(b) && b.gt(a) && a.le(a) && a.ge(a));
        assert_eq!(b.diff(a), 20);
        assert_eq!(b.since(a), 20);
        assert_eq!(a.since(b), 0);
        assert_eq!(a.max(b), b);
        assert_eq!(b - 20, a);
    }
}
