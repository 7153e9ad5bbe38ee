//! Which bytes beyond RCV.NXT have arrived: a short sorted list of disjoint ranges of
//! 64-bit stream offsets, no data. The receive ring (`rxring.rs`) keeps the bytes in place
//! at their offsets; this list says where they are, joins ranges as holes fill, and
//! hands out the ranges most recently added to first, which is the order RFC 2018 4
//! wants SACK blocks in.
//!
//! Bounded: at most [`MAX_RANGES`] ranges (a new range that would need another is
//! refused; the peer sends it again). A range costs 24 bytes; the list is allocated only
//! while something is out of order.

/// The most disjoint ranges kept. Ranges join as holes fill, so this bounds the holes, not
/// the segments: with a 1 MiB window of 1448-byte segments it takes one loss in three
/// segments, spread evenly, to reach it.
pub const MAX_RANGES: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
    /// When the range last grew (a counter, larger is more recent).
    touched: u32,
}

/// The assembler refused a range: it would have needed a range beyond [`MAX_RANGES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

#[derive(Debug, Default)]
pub struct Assembler {
    /// Sorted by `start`; no two overlap or touch.
    ranges: Vec<Range>,
    /// The bytes the ranges cover.
    bytes: usize,
    clock: u32,
}

impl Assembler {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many disjoint ranges are held.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The bytes the ranges cover.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The end of the last range: the highest offset held, plus one.
    pub fn end(&self) -> Option<u64> {
        self.ranges.last().map(|r| r.end)
    }

    /// Record `[start, end)` as present, joining the ranges it overlaps or touches. The
    /// range it ends up in becomes the most recent. An empty range is a no-op. Returns the
    /// first stretch of `[start, end)` that was held already (RFC 2883's D-SACK), if any:
    /// the lowest one when the range spans holes between held ranges.
    pub fn add(&mut self, start: u64, end: u64) -> Result<Option<(u64, u64)>, Full> {
        if end <= start {
            return Ok(None);
        }
        self.clock = self.clock.wrapping_add(1);
        if self.clock == 0 {
            self.renumber();
        }
        let touched = self.clock;
        // First range that ends at or after `start` (new data is usually at the top, so a
        // search from the end would also do; the list is short either way).
        let i = self.ranges.partition_point(|r| r.end < start);
        // Ranges from `i` on that start at or before `end` overlap or touch the new one.
        let j = i + self.ranges[i..].partition_point(|r| r.start <= end);
        if i == j {
            if self.ranges.len() >= MAX_RANGES {
                return Err(Full);
            }
            if self.ranges.is_empty() {
                self.ranges.reserve_exact(4);
            }
            self.ranges.insert(
                i,
                Range {
                    start,
                    end,
                    touched,
                },
            );
            self.bytes += (end - start) as usize;
            return Ok(None);
        }
        // Only the first and the last of the ranges joined can merely touch the new one:
        // the overlap is found at the first or the second.
        let held = self.ranges[i..j]
            .iter()
            .map(|r| (start.max(r.start), end.min(r.end)))
            .find(|&(s, e)| s < e);
        let merged = Range {
            start: start.min(self.ranges[i].start),
            end: end.max(self.ranges[j - 1].end),
            touched,
        };
        let old: u64 = self.ranges[i..j].iter().map(|r| r.end - r.start).sum();
        self.bytes = self.bytes - old as usize + (merged.end - merged.start) as usize;
        self.ranges[i] = merged;
        self.ranges.drain(i + 1..j);
        Ok(held)
    }

    /// If the first range begins at or before `at` (the in-order end has reached it),
    /// remove it and return it (its end, or `at` if more, is the new in-order end).
    pub fn take_front(&mut self, at: u64) -> Option<(u64, u64)> {
        let first = *self.ranges.first()?;
        if first.start > at {
            return None;
        }
        self.ranges.remove(0);
        self.bytes -= (first.end - first.start) as usize;
        if self.ranges.is_empty() {
            self.release();
        }
        Some((first.start, first.end))
    }

    /// The ranges, most recently grown first (RFC 2018 4: the first SACK block holds the
    /// segment that triggered the ACK, the others repeat the most recent blocks).
    pub fn recent(&self, out: &mut [(u64, u64)]) -> usize {
        let mut n = 0;
        let mut below = u32::MAX;
        let mut below_set = false;
        // Selection by descending `touched`, `out.len()` passes (at most four SACK blocks).
        while n < out.len() {
            let best = self
                .ranges
                .iter()
                .filter(|r| !below_set || self.age(r.touched) > self.age(below))
                .min_by_key(|r| self.age(r.touched));
            let Some(r) = best else { break };
            out[n] = (r.start, r.end);
            n += 1;
            below = r.touched;
            below_set = true;
        }
        n
    }

    /// How long ago a range was touched, in additions (0 = the latest), robust to the
    /// counter wrapping.
    fn age(&self, touched: u32) -> u32 {
        self.clock.wrapping_sub(touched)
    }

    /// The counter wrapped to zero: renumber the ranges in their age order so ages stay
    /// distinct and ordered (the clock restarts above them).
    fn renumber(&mut self) {
        let mut order: Vec<usize> = (0..self.ranges.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(self.ranges[k].touched));
        for (age, &k) in order.iter().enumerate() {
            self.ranges[k].touched = (order.len() - age) as u32;
        }
        self.clock = order.len() as u32 + 1;
    }

    /// Forget what is held at or beyond offset `at` (the stream ends there).
    pub fn truncate(&mut self, at: u64) {
        let i = self.ranges.partition_point(|r| r.start < at);
        for r in self.ranges.drain(i..) {
            self.bytes -= (r.end - r.start) as usize;
        }
        if let Some(r) = self.ranges.last_mut().filter(|r| r.end > at) {
            self.bytes -= (r.end - at) as usize;
            r.end = at;
        }
        if self.ranges.is_empty() {
            self.release();
        }
    }

    /// Forget every range (their bytes are let go); how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.ranges.len();
        self.release();
        n
    }

    fn release(&mut self) {
        self.ranges = Vec::new();
        self.bytes = 0;
    }

    /// The bytes the ranges cover, counted again (for the fuzz target's probe).
    pub fn bytes_counted(&self) -> usize {
        self.ranges.iter().map(|r| (r.end - r.start) as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(a: &Assembler) -> Vec<(u64, u64)> {
        a.ranges.iter().map(|r| (r.start, r.end)).collect()
    }

    fn recent(a: &Assembler, n: usize) -> Vec<(u64, u64)> {
        let mut out = vec![(0, 0); n];
        let k = a.recent(&mut out);
        out.truncate(k);
        out
    }

    #[test]
    fn disjoint_ranges_stay_sorted() {
        let mut a = Assembler::default();
        a.add(300, 400).unwrap();
        a.add(100, 200).unwrap();
        a.add(500, 600).unwrap();
        assert_eq!(ranges(&a), [(100, 200), (300, 400), (500, 600)]);
        assert_eq!(a.bytes(), 300);
        assert_eq!(a.len(), 3);
        assert_eq!(a.end(), Some(600));
    }

    #[test]
    fn touching_and_overlapping_ranges_join() {
        let mut a = Assembler::default();
        a.add(100, 200).unwrap();
        a.add(200, 300).unwrap(); // touches
        assert_eq!(ranges(&a), [(100, 300)]);
        a.add(250, 350).unwrap(); // overlaps the end
        a.add(50, 120).unwrap(); // overlaps the start
        assert_eq!(ranges(&a), [(50, 350)]);
        a.add(400, 500).unwrap();
        a.add(600, 700).unwrap();
        a.add(340, 650).unwrap(); // bridges three
        assert_eq!(ranges(&a), [(50, 700)]);
        assert_eq!(a.bytes(), 650);
        assert_eq!(a.bytes(), a.bytes_counted());
    }

    #[test]
    fn duplicates_and_contained_ranges_change_nothing_but_recency() {
        let mut a = Assembler::default();
        a.add(100, 200).unwrap();
        a.add(300, 400).unwrap();
        a.add(100, 200).unwrap();
        a.add(120, 180).unwrap();
        assert_eq!(ranges(&a), [(100, 200), (300, 400)]);
        assert_eq!(a.bytes(), 200);
        assert_eq!(recent(&a, 4), [(100, 200), (300, 400)]);
        a.add(10, 10).unwrap(); // empty
        assert_eq!(a.len(), 2);
    }

    /// RFC 2883: what of a new range was held already, for the D-SACK block.
    #[test]
    fn add_reports_the_first_stretch_already_held() {
        let mut a = Assembler::default();
        assert_eq!(a.add(100, 200), Ok(None));
        assert_eq!(a.add(300, 400), Ok(None));
        assert_eq!(a.add(200, 300), Ok(None), "touching both: nothing held");
        assert_eq!(a.add(500, 600), Ok(None));
        assert_eq!(a.add(100, 200), Ok(Some((100, 200))), "a duplicate");
        assert_eq!(a.add(350, 450), Ok(Some((350, 400))), "the old part only");
        assert_eq!(a.add(480, 520), Ok(Some((500, 520))));
        assert_eq!(a.add(50, 700), Ok(Some((100, 450))), "the lowest stretch");
        assert_eq!(ranges(&a), [(50, 700)]);
        assert_eq!(a.bytes(), a.bytes_counted());
    }

    /// What lies at or beyond the cut goes, a range across it is shortened.
    #[test]
    fn truncate_forgets_what_lies_beyond() {
        let mut a = Assembler::default();
        a.add(100, 200).unwrap();
        a.add(300, 400).unwrap();
        a.add(500, 600).unwrap();
        a.truncate(350);
        assert_eq!(ranges(&a), [(100, 200), (300, 350)]);
        assert_eq!(a.bytes(), 150);
        a.truncate(200);
        assert_eq!(ranges(&a), [(100, 200)]);
        a.truncate(50);
        assert!(a.is_empty());
        assert_eq!(a.bytes(), 0);
    }

    #[test]
    fn take_front_releases_what_reached_the_in_order_end() {
        let mut a = Assembler::default();
        assert_eq!(a.take_front(0), None);
        a.add(100, 200).unwrap();
        a.add(300, 400).unwrap();
        assert_eq!(a.take_front(99), None);
        assert_eq!(a.take_front(100), Some((100, 200)));
        assert_eq!(a.take_front(200), None);
        // In-order data that went past the start of the range.
        assert_eq!(a.take_front(350), Some((300, 400)));
        assert!(a.is_empty());
        assert_eq!(a.bytes(), 0);
        assert_eq!(a.ranges.capacity(), 0, "memory released when empty");
        // A range wholly below the in-order end.
        a.add(10, 20).unwrap();
        assert_eq!(a.take_front(30), Some((10, 20)));
    }

    #[test]
    fn the_bound_refuses_new_ranges_but_not_joins() {
        let mut a = Assembler::default();
        for k in 0..MAX_RANGES as u64 {
            a.add(k * 10, k * 10 + 5).unwrap();
        }
        assert_eq!(a.len(), MAX_RANGES);
        let top = MAX_RANGES as u64 * 10;
        assert_eq!(a.add(top, top + 5), Err(Full));
        assert_eq!(a.len(), MAX_RANGES);
        // Extending a range, or joining two, still works.
        a.add(5, 7).unwrap();
        a.add(7, 10).unwrap();
        assert_eq!(a.len(), MAX_RANGES - 1);
        assert_eq!(ranges(&a)[0], (0, 15));
        a.add(top, top + 5).unwrap();
        assert_eq!(a.bytes(), a.bytes_counted());
    }

    #[test]
    fn recent_lists_the_latest_growth_first() {
        let mut a = Assembler::default();
        a.add(100, 200).unwrap();
        a.add(500, 600).unwrap();
        a.add(300, 400).unwrap();
        assert_eq!(recent(&a, 4), [(300, 400), (500, 600), (100, 200)]);
        a.add(600, 700).unwrap(); // grows the middle-aged one
        assert_eq!(recent(&a, 4), [(500, 700), (300, 400), (100, 200)]);
        assert_eq!(recent(&a, 2), [(500, 700), (300, 400)]);
        a.add(400, 500).unwrap(); // joins two into the most recent
        assert_eq!(recent(&a, 4), [(300, 700), (100, 200)]);
    }

    #[test]
    fn recency_survives_the_counter_wrapping() {
        let mut a = Assembler {
            clock: u32::MAX - 2,
            ..Assembler::default()
        };
        a.add(100, 200).unwrap();
        a.add(300, 400).unwrap();
        a.add(500, 600).unwrap(); // wraps here
        a.add(700, 800).unwrap();
        assert_eq!(
            recent(&a, 4),
            [(700, 800), (500, 600), (300, 400), (100, 200)]
        );
        a.add(100, 150).unwrap();
        assert_eq!(recent(&a, 1), [(100, 200)]);
    }

    /// RFC 2018 4 orders SACK blocks by recency. A range can stay out of order while the
    /// counter runs through a whole cycle (other ranges come and go beside it); when the
    /// counter wraps, the ranges are renumbered, so that old range still counts as the
    /// oldest and never ties with, or passes, the ranges added after the wrap.
    #[test]
    fn recency_holds_for_a_range_older_than_a_full_counter_cycle() {
        let mut a = Assembler::default();
        a.add(100, 200).unwrap(); // touched at 1
                                  // 2^32 - 2 additions elsewhere (ranges since taken) later:
        a.clock = u32::MAX;
        a.add(300, 400).unwrap(); // the counter wraps here
        a.add(500, 600).unwrap();
        a.add(700, 800).unwrap();
        assert_eq!(
            recent(&a, 4),
            [(700, 800), (500, 600), (300, 400), (100, 200)]
        );
    }
}
