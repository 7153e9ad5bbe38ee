//! The SACK scoreboard (RFC 2018, RFC 6675) on top of the table of sent segments: what the
//! peer holds, what is lost, what is in flight ("pipe"), and which segment to retransmit
//! next ("NextSeg"). Loss is marked on the records, by RACK (`rack.rs`, the default) or by
//! RFC 6675's IsLost rule ([`Scoreboard::mark_lost_dupthresh`]); the scoreboard itself
//! only keeps the books.

use super::segtable::{Seg, SegTable};
use crate::tcp::seq::Seq;
use netif::Instant;

/// RFC 6675 2: DupThresh.
pub(crate) const DUP_THRESH: usize = 3;

/// What one ACK's SACK information said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AckInfo {
    /// Bytes SACKed for the first time.
    pub newly_sacked: usize,
    /// The first block reports data received twice (a D-SACK, RFC 2883 4).
    pub dsack: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Scoreboard {
    table: SegTable,
}

impl Scoreboard {
    pub const fn new() -> Scoreboard {
        Scoreboard {
            table: SegTable::new(),
        }
    }

    pub fn table(&self) -> &SegTable {
        &self.table
    }

    pub fn table_mut(&mut self) -> &mut SegTable {
        &mut self.table
    }

    /// `[start, end)` left at `now` (new data or a retransmission).
    pub fn sent(&mut self, start: Seq, end: Seq, now: Instant) {
        self.table.sent(start, end, now);
    }

    /// An ACK whose acknowledgment field says `seg_ack`, with its SACK blocks, leaving
    /// everything below `ack` (the greater of `seg_ack` and SND.UNA) acknowledged.
    /// `delivered` sees every record newly acknowledged or SACKed, in sequence order
    /// (RACK's reordering detection relies on it). Whether the first block is a D-SACK
    /// is judged against the segment's own field (RFC 2883 4): an ACK overtaken by a
    /// later one names blocks that SND.UNA has passed since, which were no duplicates.
    pub fn on_ack(
        &mut self,
        seg_ack: Seq,
        ack: Seq,
        blocks: &[(Seq, Seq)],
        delivered: &mut dyn FnMut(&Seg),
    ) -> AckInfo {
        let mut info = AckInfo {
            dsack: is_dsack(seg_ack, blocks),
            ..AckInfo::default()
        };
        self.table.acked(ack, delivered);
        let mut sorted = [(Seq(0), Seq(0)); 4];
        let skip = usize::from(info.dsack);
        let n = blocks.len().saturating_sub(skip).min(sorted.len());
        sorted[..n].copy_from_slice(&blocks[skip..skip + n]);
        let base = ack;
        sorted[..n].sort_by_key(|&(l, _)| l.diff(base));
        for &(l, r) in &sorted[..n] {
            // A block that starts below what is acknowledged is no valid SACK (Linux's
            // tcp_is_sackblock_valid): clipped, it marked the first segment, which the
            // ACK says the peer lacks, and the next ACK took that for reneging.
            if l.lt(base) {
                continue;
            }
            info.newly_sacked += self.table.sacked(l, r, delivered);
        }
        info
    }

    pub fn sacked_bytes(&self) -> usize {
        self.table.totals().sacked
    }

    pub fn lost_bytes(&self) -> usize {
        self.table.totals().lost
    }

    /// Bytes in flight (RFC 6675 SetPipe, counted as Linux does): what is outstanding, less
    /// what the peer SACKed, less what was marked lost and not sent again.
    pub fn pipe(&self, outstanding: usize) -> usize {
        outstanding
            .saturating_sub(self.sacked_bytes())
            .saturating_sub(self.lost_bytes())
    }

    /// The peer's cumulative ACK stopped at data it had SACKed: it reneged (RFC 2018 8).
    /// Forgets the SACK marks; returns whether it did.
    pub fn check_reneging(&mut self, una: Seq) -> bool {
        match self.table.get(0) {
            Some(s) if s.sacked && s.start == una => {
                self.table.clear_sacked();
                true
            }
            _ => false,
        }
    }

    /// NextSeg rule 1 (RFC 6675 4): the first lost record not sent again since.
    pub fn next_lost(&self) -> Option<(Seq, Seq)> {
        self.table
            .iter()
            .find(|s| s.lost && !s.sacked)
            .map(|s| (s.start, s.end))
    }

    /// The end of the run of SACKed records that holds `seq`, if a SACKed record holds it
    /// (a go-back-N resend skips what the peer holds).
    pub fn sacked_run_end(&self, seq: Seq) -> Option<Seq> {
        let i = self.table.index_of(seq)?;
        let mut end = None;
        for s in (i..self.table.len()).map_while(|j| self.table.get(j)) {
            match end {
                None if !s.sacked => return None,
                Some(e) if !s.sacked || s.start != e => break,
                _ => end = Some(s.end),
            }
        }
        end
    }

    /// Where the first SACKed record beyond `seq` starts.
    pub fn next_sacked(&self, seq: Seq) -> Option<Seq> {
        let i = self.table.index_of(seq)?;
        (i..self.table.len())
            .map_while(|j| self.table.get(j))
            .find(|s| s.sacked && s.start.gt(seq))
            .map(|s| s.start)
    }

    /// The first record the peer lacks, lost or not (a probe during recovery resends it).
    pub fn first_unsacked(&self) -> Option<(Seq, Seq)> {
        self.table
            .iter()
            .find(|s| !s.sacked)
            .map(|s| (s.start, s.end))
    }

    /// RFC 6675's IsLost for every record: lost when DupThresh discontiguous SACKed ranges,
    /// or more than (DupThresh - 1) * SMSS SACKed bytes, lie above it. Records already
    /// retransmitted are not marked again (RFC 6675 cannot tell a lost retransmission; a
    /// timeout will). Returns the records newly marked.
    pub fn mark_lost_dupthresh(&mut self, mss: usize) -> usize {
        let mut above_bytes = 0;
        let mut above_runs = 0;
        let mut prev_sacked = false;
        let mut marked = 0;
        for i in (0..self.table.len()).rev() {
            let Some(s) = self.table.get(i).copied() else {
                break;
            };
            if s.sacked {
                above_bytes += s.len();
                if !prev_sacked {
                    above_runs += 1;
                }
                prev_sacked = true;
                continue;
            }
            prev_sacked = false;
            let lost = above_runs >= DUP_THRESH || above_bytes > (DUP_THRESH - 1) * mss;
            if lost && !s.retransmitted() && self.table.mark_lost(i) {
                marked += 1;
            }
        }
        marked
    }

    /// After a retransmission timeout with RACK off (RFC 6675 5.1): everything not SACKed
    /// is lost.
    pub fn mark_all_lost(&mut self) -> usize {
        let mut marked = 0;
        for i in 0..self.table.len() {
            if self.table.mark_lost(i) {
                marked += 1;
            }
        }
        marked
    }

    /// Forget everything (connection closed).
    pub fn clear(&mut self) {
        self.table.clear();
    }
}

/// RFC 2883 4: the first block is a D-SACK when it lies below the cumulative ACK, or
/// inside the second block.
pub(crate) fn is_dsack(ack: Seq, blocks: &[(Seq, Seq)]) -> bool {
    let Some(&(l0, r0)) = blocks.first() else {
        return false;
    };
    if r0.le(ack) {
        return true;
    }
    blocks
        .get(1)
        .is_some_and(|&(l1, r1)| l1.le(l0) && r0.le(r1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Ten segments of 1000 bytes from 0, sent one per millisecond.
    fn ten() -> Scoreboard {
        let mut sb = Scoreboard::new();
        for i in 0..10u32 {
            sb.sent(Seq(i * 1000), Seq(i * 1000 + 1000), t(u64::from(i)));
        }
        sb
    }

    fn sack(sb: &mut Scoreboard, ack: u32, blocks: &[(u32, u32)]) -> AckInfo {
        let b: Vec<(Seq, Seq)> = blocks.iter().map(|&(l, r)| (Seq(l), Seq(r))).collect();
        sb.on_ack(Seq(ack), Seq(ack), &b, &mut |_| {})
    }

    #[test]
    fn pipe_follows_rfc_6675_example() {
        // Segment 0 lost, 1..=3 SACKed: IsLost(0) (three segments SACKed above it) and
        // pipe = 10 outstanding - 3 SACKed - 1 lost = 6 segments.
        let mut sb = ten();
        sack(&mut sb, 0, &[(1000, 2000)]);
        sack(&mut sb, 0, &[(1000, 3000)]);
        assert_eq!(
            sb.mark_lost_dupthresh(MSS),
            0,
            "two SACKed segments are not enough"
        );
        let info = sack(&mut sb, 0, &[(1000, 4000)]);
        assert_eq!(info.newly_sacked, 1000);
        assert_eq!(sb.mark_lost_dupthresh(MSS), 1);
        assert_eq!(sb.next_lost(), Some((Seq(0), Seq(1000))));
        assert_eq!(sb.pipe(10_000), 6000);
        // Retransmitting it puts it back in flight; NextSeg has nothing lost left.
        sb.sent(Seq(0), Seq(1000), t(20));
        assert_eq!(sb.pipe(10_000), 7000);
        assert_eq!(sb.next_lost(), None);
        // Its retransmission is not marked lost again by the dupthresh rule.
        sack(&mut sb, 0, &[(1000, 8000)]);
        assert_eq!(sb.mark_lost_dupthresh(MSS), 0);
    }

    #[test]
    fn discontiguous_ranges_count_as_dupthresh() {
        // With a 2000-byte SMSS the byte rule needs more than 4000 SACKed bytes above; three
        // separate SACKed segments (3000 bytes) above segments 0 and 1 make them lost anyway.
        let mut sb = ten();
        sack(&mut sb, 0, &[(8000, 9000), (5000, 6000), (2000, 3000)]);
        assert_eq!(sb.mark_lost_dupthresh(2 * MSS), 2);
        let lost: Vec<u32> = sb
            .table()
            .iter()
            .filter(|s| s.lost)
            .map(|s| s.start.0)
            .collect();
        // Segments 3-4 have two runs (2000 bytes) above them, 6-7 one: not lost.
        assert_eq!(lost, [0, 1000]);
        assert_eq!(sb.next_lost(), Some((Seq(0), Seq(1000))));
    }

    #[test]
    fn sack_blocks_are_processed_in_sequence_order() {
        let mut sb = ten();
        let mut order = Vec::new();
        let b = [
            (Seq(8000), Seq(9000)),
            (Seq(2000), Seq(3000)),
            (Seq(5000), Seq(6000)),
        ];
        sb.on_ack(Seq(1000), Seq(1000), &b, &mut |s| order.push(s.start.0));
        assert_eq!(order, [0, 2000, 5000, 8000]);
    }

    #[test]
    fn dsack_is_recognised_and_not_marked() {
        assert!(is_dsack(Seq(5000), &[(Seq(1000), Seq(2000))]));
        assert!(is_dsack(
            Seq(0),
            &[(Seq(3000), Seq(4000)), (Seq(2000), Seq(6000))]
        ));
        assert!(!is_dsack(
            Seq(0),
            &[(Seq(3000), Seq(4000)), (Seq(5000), Seq(6000))]
        ));
        assert!(!is_dsack(Seq(0), &[]));
        let mut sb = ten();
        let info = sack(&mut sb, 2000, &[(1000, 2000), (4000, 5000)]);
        assert!(info.dsack);
        assert_eq!(info.newly_sacked, 1000);
        assert_eq!(sb.sacked_bytes(), 1000);
    }

    #[test]
    fn an_overtaken_ack_names_no_dsack_for_blocks_snd_una_passed_since() {
        // The ACK for 0 with 2000..3000 SACKed arrives after the one for 4000: its block
        // lies below what is acknowledged now, but above its own field.
        let mut sb = ten();
        sack(&mut sb, 4000, &[]);
        let b = [(Seq(2000), Seq(3000))];
        let info = sb.on_ack(Seq(0), Seq(4000), &b, &mut |_| {});
        assert!(!info.dsack);
        assert_eq!(info.newly_sacked, 0);
        // Below its own field, the block does report a duplicate.
        let b = [(Seq(1000), Seq(2000))];
        assert!(sb.on_ack(Seq(2000), Seq(4000), &b, &mut |_| {}).dsack);
    }

    /// A block reaching below the cumulative ACK (not a D-SACK: it reaches above it too)
    /// is ignored, as Linux ignores it; its marks were taken for reneging by the next
    /// ACK, which wiped the valid ones (found by a review).
    #[test]
    fn a_block_that_starts_below_the_ack_is_ignored() {
        let mut sb = ten();
        sack(&mut sb, 2000, &[(5000, 6000)]);
        let info = sack(&mut sb, 2000, &[(1500, 3000), (5000, 6000)]);
        assert!(!info.dsack);
        assert_eq!((info.newly_sacked, sb.sacked_bytes()), (0, 1000));
        assert!(!sb.check_reneging(Seq(2000)));
        assert_eq!(sb.sacked_bytes(), 1000);
    }

    #[test]
    fn reneging_is_detected_and_clears_the_marks() {
        let mut sb = ten();
        sack(&mut sb, 0, &[(2000, 4000)]);
        sack(&mut sb, 2000, &[]);
        assert!(sb.check_reneging(Seq(2000)));
        assert_eq!(sb.sacked_bytes(), 0);
        assert!(!sb.check_reneging(Seq(2000)));
    }

    #[test]
    fn timeout_marks_everything_not_sacked() {
        let mut sb = ten();
        sack(&mut sb, 0, &[(3000, 5000)]);
        assert_eq!(sb.mark_all_lost(), 3 + 5);
        assert_eq!(sb.pipe(10_000), 0);
        assert_eq!(sb.first_unsacked(), Some((Seq(0), Seq(1000))));
    }

    #[test]
    fn clearing_forgets_every_record_and_mark() {
        let mut sb = ten();
        sack(&mut sb, 0, &[(3000, 5000)]);
        sb.mark_all_lost();
        sb.clear();
        assert!(sb.table().is_empty());
        assert_eq!((sb.sacked_bytes(), sb.lost_bytes()), (0, 0));
        assert_eq!(sb.next_lost(), None);
        assert_eq!(sb.first_unsacked(), None);
    }
}
