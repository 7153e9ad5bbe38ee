//! The table of sent segments: one record per transmission unit in flight, in sequence
//! order, from SND.UNA to SND.MAX without gaps, each with when it last left, how often it
//! left, and whether the peer SACKed it or loss detection marked it lost. RACK (RFC 8985)
//! needs each segment's send time; the SACK scoreboard (RFC 6675) its SACKed and lost
//! state. A TSO burst of 64 KB is one record until a SACK block, an ACK, a loss mark or a
//! retransmission covers part of it; then the record is split at that edge.
//!
//! Bounded: at [`MAX_RECORDS`] records, a split first merges neighbours in the same state
//! (keeping the later send time, so RACK waits longer, never shorter), and failing that
//! merges the two oldest records conservatively (SACKed or lost only if both were). Each
//! such merge is counted (`seg_table_merges`). The table owns no memory while nothing is in
//! flight (an idle connection pays only the empty `VecDeque`).

use crate::tcp::seq::Seq;
use netif::Instant;
use std::collections::VecDeque;

/// Records a connection's table holds at most: a 1 MiB send buffer in 1,448-byte segments
/// is 725, and SACK blocks split few of them.
pub const MAX_RECORDS: usize = 4096;

/// One transmission unit in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    pub start: Seq,
    /// One past the last sequence number (a FIN counts as one).
    pub end: Seq,
    /// When it last left.
    pub xmit_ts: Instant,
    /// The table's transmission count when it last left: orders transmissions that share
    /// a timestamp (RFC 8985 breaks such ties by sequence number, which takes a
    /// retransmission for older than new data it went out after).
    pub order: u32,
    /// How many times it left (saturating): more than one is a retransmission.
    pub xmits: u8,
    /// The peer reported holding it (SACK).
    pub sacked: bool,
    /// Loss detection says it did not arrive, and it has not been sent again since.
    pub lost: bool,
}

impl Seg {
    pub fn len(&self) -> usize {
        self.end.since(self.start)
    }
    pub fn retransmitted(&self) -> bool {
        self.xmits > 1
    }
    /// Same state but for the send time: merging the two loses only time precision.
    fn same_class(&self, o: &Seg) -> bool {
        self.sacked == o.sacked && self.lost == o.lost && self.retransmitted() == o.retransmitted()
    }
}

/// Did `a` leave after `b` (by time, then by the table's transmission order)?
pub(crate) fn later(a: &Seg, b: &Seg) -> bool {
    a.xmit_ts > b.xmit_ts || (a.xmit_ts == b.xmit_ts && a.order.wrapping_sub(b.order) as i32 > 0)
}

/// Byte totals the scoreboard keeps up to date with every change of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Bytes SACKed.
    pub sacked: usize,
    /// Bytes marked lost (and not SACKed).
    pub lost: usize,
}

#[derive(Debug, Default)]
pub(crate) struct SegTable {
    segs: VecDeque<Seg>,
    totals: Totals,
    /// The order the next transmission gets.
    next_order: u32,
    /// Merges forced by the bound, since the owner last took them.
    merges: u32,
}

impl SegTable {
    pub const fn new() -> SegTable {
        SegTable {
            segs: VecDeque::new(),
            totals: Totals { sacked: 0, lost: 0 },
            next_order: 0,
            merges: 0,
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The merges the bound forced since the last call (for `stat`).
    pub fn take_merges(&mut self) -> u32 {
        std::mem::take(&mut self.merges)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Seg> + '_ {
        self.segs.iter()
    }

    pub fn get(&self, i: usize) -> Option<&Seg> {
        self.segs.get(i)
    }

    /// The first sequence number recorded and one past the last.
    pub fn span(&self) -> Option<(Seq, Seq)> {
        Some((self.segs.front()?.start, self.segs.back()?.end))
    }

    /// Forget everything (the connection closed, or a reset of the scoreboard); frees the
    /// memory.
    pub fn clear(&mut self) {
        self.segs = VecDeque::new();
        self.totals = Totals::default();
    }

    /// Mark or unmark a record, keeping the totals.
    fn set(&mut self, i: usize, sacked: bool, lost: bool) {
        let Some(s) = self.segs.get_mut(i) else {
            return;
        };
        let len = s.end.since(s.start);
        // Saturating: the totals are kept exact, but no input may make them panic.
        if s.sacked {
            self.totals.sacked = self.totals.sacked.saturating_sub(len);
        } else if s.lost {
            self.totals.lost = self.totals.lost.saturating_sub(len);
        }
        s.sacked = sacked;
        s.lost = lost && !sacked;
        if s.sacked {
            self.totals.sacked += len;
        } else if s.lost {
            self.totals.lost += len;
        }
    }

    /// Take back every lost mark (a timeout found spurious): the records count as in
    /// flight again, and loss detection may find them lost anew.
    pub fn clear_lost(&mut self) {
        if self.totals.lost == 0 {
            return;
        }
        for i in 0..self.segs.len() {
            if let Some(&Seg {
                sacked, lost: true, ..
            }) = self.segs.get(i)
            {
                self.set(i, sacked, false);
            }
        }
    }

    /// Mark record `i` lost (loss detection). Returns whether it changed.
    pub fn mark_lost(&mut self, i: usize) -> bool {
        match self.segs.get(i) {
            Some(s) if !s.sacked && !s.lost => {
                self.set(i, false, true);
                true
            }
            _ => false,
        }
    }

    /// Forget which records were SACKed (the peer reneged, RFC 2018 8).
    pub fn clear_sacked(&mut self) {
        for i in 0..self.segs.len() {
            if self.segs[i].sacked {
                self.set(i, false, false);
            }
        }
    }

    /// The index of the record holding `seq`, if the table holds it (a binary search).
    pub fn index_of(&self, seq: Seq) -> Option<usize> {
        self.find(seq)
    }

    /// The index of the record holding `seq`, if the table holds it.
    fn find(&self, seq: Seq) -> Option<usize> {
        let (first, end) = self.span()?;
        if seq.lt(first) || !seq.lt(end) {
            return None;
        }
        let off = seq.since(first);
        // Records are contiguous and in order: the last one starting at or before `seq`.
        let i = self.segs.partition_point(|s| s.start.since(first) <= off);
        Some(i.saturating_sub(1))
    }

    /// Make `at` a record boundary (if the table holds it). Returns false if the bound
    /// forbade the split.
    fn split_at(&mut self, at: Seq) -> bool {
        let Some(i) = self.find(at) else {
            return true;
        };
        if self.segs[i].start == at {
            return true;
        }
        if self.segs.len() >= MAX_RECORDS {
            self.make_room();
            if self.segs.len() >= MAX_RECORDS {
                return false;
            }
        }
        // make_room may have merged around `at`: look again.
        let Some(i) = self.find(at) else {
            return true;
        };
        let s = self.segs[i];
        if s.start == at {
            return true;
        }
        self.segs[i].end = at;
        self.segs.insert(i + 1, Seg { start: at, ..s });
        true
    }

    /// Free at least one record: merge neighbours in the same state throughout, else the
    /// two oldest records whatever their state (the merged record is SACKed or lost only if
    /// both were: pipe counts it as in flight, RACK may find it lost again later).
    fn make_room(&mut self) {
        let before = self.segs.len();
        let mut out: VecDeque<Seg> = VecDeque::with_capacity(before);
        for s in self.segs.drain(..) {
            match out.back_mut() {
                Some(last) if last.same_class(&s) => {
                    last.end = s.end;
                    if later(&s, last) {
                        (last.xmit_ts, last.order) = (s.xmit_ts, s.order);
                    }
                    last.xmits = last.xmits.max(s.xmits);
                }
                _ => out.push_back(s),
            }
        }
        self.segs = out;
        if self.segs.len() == before {
            let (Some(b), Some(&a)) = (self.segs.remove(1), self.segs.front()) else {
                return;
            };
            let last = if later(&b, &a) { b } else { a };
            self.segs[0] = Seg {
                start: a.start,
                end: b.end,
                xmit_ts: last.xmit_ts,
                order: last.order,
                xmits: a.xmits.max(b.xmits),
                sacked: a.sacked && b.sacked,
                lost: a.lost && b.lost,
            };
        }
        self.merges = self
            .merges
            .saturating_add(before.saturating_sub(self.segs.len()) as u32);
        self.recount();
    }

    fn recount(&mut self) {
        let mut t = Totals::default();
        for s in &self.segs {
            if s.sacked {
                t.sacked += s.len();
            } else if s.lost {
                t.lost += s.len();
            }
        }
        self.totals = t;
    }

    /// `[start, end)` left at `now`: new data appended at the tail, or a retransmission of
    /// recorded sequence space (its records are no longer lost and carry the new time).
    pub fn sent(&mut self, start: Seq, end: Seq, now: Instant) {
        if !start.lt(end) {
            return;
        }
        let order = self.next_order;
        self.next_order = order.wrapping_add(1);
        let Some((first, last)) = self.span() else {
            self.segs.push_back(Seg {
                start,
                end,
                xmit_ts: now,
                order,
                xmits: 1,
                sacked: false,
                lost: false,
            });
            return;
        };
        let start = start.max(first);
        if start.lt(last) {
            // A retransmission (of part of) what is recorded.
            let rend = if end.lt(last) { end } else { last };
            self.split_at(start);
            self.split_at(rend);
            let mut i = self.find(start).unwrap_or(0);
            while let Some(s) = self.segs.get(i) {
                if !s.start.lt(rend) {
                    break;
                }
                if s.start.ge(start) && s.end.le(rend) || self.segs.len() >= MAX_RECORDS {
                    // At the bound a record only partly resent counts as resent (what is
                    // left of it is found lost again later, or resent after a timeout).
                    let sacked = s.sacked;
                    self.set(i, sacked, false);
                    let s = &mut self.segs[i];
                    s.xmit_ts = now;
                    s.order = order;
                    s.xmits = s.xmits.saturating_add(1);
                }
                i += 1;
            }
        }
        if end.gt(last) {
            // New data (after any gap: the table must stay contiguous).
            let new = Seg {
                start: last,
                end,
                xmit_ts: now,
                order,
                xmits: 1,
                sacked: false,
                lost: false,
            };
            if self.segs.len() >= MAX_RECORDS {
                self.make_room();
            }
            if self.segs.len() >= MAX_RECORDS {
                // Cannot happen (make_room frees one); stay bounded anyway.
                if let Some(b) = self.segs.back_mut() {
                    b.end = end;
                    b.xmit_ts = now;
                    b.order = order;
                }
                self.recount();
            } else {
                self.segs.push_back(new);
            }
        }
    }

    /// The cumulative ACK moved to `una`: drop what it covers. `delivered` sees each record
    /// (or the acknowledged front part of one) that was not SACKed before.
    pub fn acked(&mut self, una: Seq, delivered: &mut dyn FnMut(&Seg)) {
        while let Some(s) = self.segs.front().copied() {
            if s.end.le(una) {
                if !s.sacked {
                    delivered(&s);
                }
                self.set(0, false, false);
                self.segs.pop_front();
            } else if s.start.lt(una) {
                let part = Seg { end: una, ..s };
                if !s.sacked {
                    delivered(&part);
                }
                let (sacked, lost) = (s.sacked, s.lost);
                self.set(0, false, false);
                self.segs[0].start = una;
                self.set(0, sacked, lost);
                break;
            } else {
                break;
            }
        }
        if self.segs.is_empty() {
            self.clear();
        }
    }

    /// The peer holds `[l, r)` (a SACK block): mark the records inside it. `delivered` sees
    /// each record newly SACKed. Returns the bytes newly SACKed.
    pub fn sacked(&mut self, l: Seq, r: Seq, delivered: &mut dyn FnMut(&Seg)) -> usize {
        let Some((first, last)) = self.span() else {
            return 0;
        };
        let l = l.max(first);
        let r = if r.gt(last) { last } else { r };
        if !l.lt(r) {
            return 0;
        }
        self.split_at(l);
        self.split_at(r);
        let mut newly = 0;
        let mut i = self.find(l).unwrap_or(0);
        while let Some(s) = self.segs.get(i).copied() {
            if !s.start.lt(r) {
                break;
            }
            // Only whole records inside the block: at the bound a split may have failed.
            if !s.sacked && s.start.ge(l) && s.end.le(r) {
                self.set(i, true, false);
                newly += s.len();
                delivered(&s);
            }
            i += 1;
        }
        newly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn ranges(tb: &SegTable) -> Vec<(u32, u32)> {
        tb.iter().map(|s| (s.start.0, s.end.0)).collect()
    }

    fn check_contiguous(tb: &SegTable) {
        let v: Vec<&Seg> = tb.iter().collect();
        for w in v.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for s in &v {
            assert!(s.start.lt(s.end));
        }
        let mut want = Totals::default();
        for s in &v {
            if s.sacked {
                want.sacked += s.len();
            } else if s.lost {
                want.lost += s.len();
            }
        }
        assert_eq!(tb.totals(), want);
    }

    #[test]
    fn empty_table_owns_no_memory() {
        let mut tb = SegTable::new();
        assert_eq!(tb.segs.capacity(), 0);
        tb.sent(Seq(100), Seq(200), t(1));
        tb.acked(Seq(200), &mut |_| {});
        assert!(tb.is_empty());
        assert_eq!(tb.segs.capacity(), 0);
    }

    #[test]
    fn appends_in_order_and_acks_trim_the_front() {
        let mut tb = SegTable::new();
        tb.sent(Seq(0), Seq(100), t(1));
        tb.sent(Seq(100), Seq(300), t(2));
        tb.sent(Seq(300), Seq(400), t(3));
        assert_eq!(ranges(&tb), [(0, 100), (100, 300), (300, 400)]);
        let mut got = Vec::new();
        tb.acked(Seq(150), &mut |s| got.push((s.start.0, s.end.0)));
        assert_eq!(got, [(0, 100), (100, 150)]);
        assert_eq!(ranges(&tb), [(150, 300), (300, 400)]);
        // The trimmed record keeps its send time.
        assert_eq!(tb.get(0).map(|s| s.xmit_ts), Some(t(2)));
        check_contiguous(&tb);
    }

    #[test]
    fn sack_splits_a_burst_and_reports_new_deliveries_once() {
        let mut tb = SegTable::new();
        tb.sent(Seq(1000), Seq(1000 + 64_000), t(1));
        let mut n = 0;
        let got = tb.sacked(Seq(2000), Seq(4000), &mut |_| n += 1);
        assert_eq!((got, n), (2000, 1));
        assert_eq!(ranges(&tb), [(1000, 2000), (2000, 4000), (4000, 65_000)]);
        // The same block again: nothing new.
        assert_eq!(tb.sacked(Seq(2000), Seq(4000), &mut |_| n += 1), 0);
        // A wider block covers the rest but only reports the new part.
        assert_eq!(tb.sacked(Seq(1500), Seq(5000), &mut |_| n += 1), 1500);
        assert_eq!(n, 3);
        assert_eq!(tb.totals().sacked, 3500);
        check_contiguous(&tb);
        // A cumulative ACK over SACKed data reports only what was not SACKed.
        let mut acked = Vec::new();
        tb.acked(Seq(5000), &mut |s| acked.push((s.start.0, s.end.0)));
        assert_eq!(acked, [(1000, 1500)]);
        assert_eq!(tb.totals().sacked, 0);
        check_contiguous(&tb);
    }

    #[test]
    fn blocks_outside_the_table_are_clipped() {
        let mut tb = SegTable::new();
        tb.sent(Seq(100), Seq(200), t(1));
        assert_eq!(tb.sacked(Seq(50), Seq(120), &mut |_| {}), 20);
        assert_eq!(tb.sacked(Seq(190), Seq(500), &mut |_| {}), 10);
        assert_eq!(tb.sacked(Seq(300), Seq(500), &mut |_| {}), 0);
        assert_eq!(ranges(&tb), [(100, 120), (120, 190), (190, 200)]);
        check_contiguous(&tb);
    }

    #[test]
    fn lost_marks_can_be_taken_back() {
        let mut tb = SegTable::new();
        tb.sent(Seq(0), Seq(1000), t(1));
        tb.sent(Seq(1000), Seq(2000), t(1));
        tb.sent(Seq(2000), Seq(3000), t(1));
        assert!(tb.mark_lost(0));
        assert!(tb.mark_lost(2));
        assert_eq!(tb.totals().lost, 2000);
        tb.clear_lost();
        assert_eq!(tb.totals().lost, 0);
        assert!(tb.iter().all(|s| !s.lost));
        assert!(tb.mark_lost(2), "loss detection may mark them again");
        assert_eq!(tb.totals().lost, 1000);
    }

    #[test]
    fn retransmission_splits_and_clears_the_lost_mark() {
        let mut tb = SegTable::new();
        tb.sent(Seq(0), Seq(3000), t(1));
        assert!(tb.mark_lost(0));
        assert!(!tb.mark_lost(0));
        assert_eq!(tb.totals().lost, 3000);
        tb.sent(Seq(0), Seq(1000), t(5));
        assert_eq!(ranges(&tb), [(0, 1000), (1000, 3000)]);
        let a = *tb.get(0).unwrap();
        let b = *tb.get(1).unwrap();
        assert!(!a.lost && a.retransmitted() && a.xmit_ts == t(5));
        assert!(b.lost && !b.retransmitted() && b.xmit_ts == t(1));
        assert_eq!(tb.totals().lost, 2000);
        check_contiguous(&tb);
    }

    #[test]
    fn a_send_straddling_the_end_resends_and_appends() {
        let mut tb = SegTable::new();
        tb.sent(Seq(0), Seq(1000), t(1));
        tb.sent(Seq(500), Seq(1500), t(2));
        assert_eq!(ranges(&tb), [(0, 500), (500, 1000), (1000, 1500)]);
        assert_eq!(tb.get(1).map(|s| s.xmits), Some(2));
        assert_eq!(tb.get(2).map(|s| s.xmits), Some(1));
        check_contiguous(&tb);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut tb = SegTable::new();
        let base = Seq(u32::MAX - 500);
        tb.sent(base, base + 1000, t(1));
        tb.sent(base + 1000, base + 2000, t(2));
        assert_eq!(tb.sacked(base + 800, base + 1200, &mut |_| {}), 400);
        assert_eq!(tb.len(), 4);
        tb.acked(base + 900, &mut |_| {});
        assert_eq!(tb.span(), Some((base + 900, base + 2000)));
        check_contiguous(&tb);
    }

    #[test]
    fn the_bound_merges_records_of_the_same_state_first() {
        let mut tb = SegTable::new();
        for i in 0..MAX_RECORDS as u32 {
            tb.sent(Seq(i * 10), Seq(i * 10 + 10), t(u64::from(i)));
        }
        assert_eq!(tb.len(), MAX_RECORDS);
        // One more record: every record was in the same state, so they become one.
        let end = MAX_RECORDS as u32 * 10;
        tb.sent(Seq(end), Seq(end + 10), t(9999));
        assert!(tb.len() <= 2);
        assert_eq!(tb.take_merges() as usize, MAX_RECORDS - 1);
        // The merged record took the latest send time.
        assert_eq!(
            tb.get(0).map(|s| s.xmit_ts),
            Some(t(MAX_RECORDS as u64 - 1))
        );
        check_contiguous(&tb);
    }

    #[test]
    fn the_bound_holds_with_alternating_states() {
        let mut tb = SegTable::new();
        let n = MAX_RECORDS as u32 + 50;
        tb.sent(Seq(0), Seq(n * 10), t(1));
        // SACK every other ten bytes: each block splits, states alternate.
        for i in (0..n).step_by(2) {
            tb.sacked(Seq(i * 10), Seq(i * 10 + 10), &mut |_| {});
            assert!(tb.len() <= MAX_RECORDS);
        }
        assert!(tb.take_merges() > 0);
        check_contiguous(&tb);
        // Merging never claims more SACKed bytes than were reported.
        assert!(tb.totals().sacked <= (n as usize).div_ceil(2) * 10);
        tb.acked(Seq(n * 10), &mut |_| {});
        assert!(tb.is_empty());
    }

    #[test]
    fn reneging_clears_the_sacked_marks() {
        let mut tb = SegTable::new();
        tb.sent(Seq(0), Seq(3000), t(1));
        tb.sacked(Seq(1000), Seq(2000), &mut |_| {});
        tb.clear_sacked();
        assert_eq!(tb.totals(), Totals::default());
        assert!(tb.iter().all(|s| !s.sacked));
        check_contiguous(&tb);
    }
}
