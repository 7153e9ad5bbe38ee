//! The receive side: in-order data into the receive queue, out-of-order segments kept
//! by stream offset until the hole before them fills.

use super::*;

impl Tcb {
    pub(super) fn receive_data(&mut self, seq: Seq, data: &[u8], fin: bool, stats: &mut TcpStats) {
        if seq == self.rcv_nxt {
            self.rcvq.extend(data);
            self.rcv_nxt = self.rcv_nxt + data.len();
            self.rcv_off += data.len() as u64;
            self.pending_ack_bytes += data.len();
            self.wake = true;
            if !self.ooo.is_empty() {
                // Filling a hole: take what now follows in order, ACK at once (RFC 5681
                // 4.2).
                self.drain_ooo();
                self.ack_now = true;
            }
            // Delayed ACK: at least every second full-sized segment (RFC 9293 3.8.6.3),
            // full-sized as the peer sends them.
            self.max_seg_seen = self.max_seg_seen.max(data.len());
            let full = self.max_seg_seen.clamp(1, self.rcv_mss);
            if fin || self.pending_ack_bytes >= ACK_STRETCH_MAX {
                self.ack_now = true;
            } else if self.pending_ack_bytes >= 2 * full {
                self.ack_due = true;
            }
            return;
        }
        // Beyond a hole: keep it, send a duplicate ACK at once (RFC 5681 4.2).
        self.ack_now = true;
        let start = self.rcv_off + seq.since(self.rcv_nxt) as u64;
        if fin {
            self.ooo_fin = Some(start + data.len() as u64);
        }
        if self.insert_ooo(start, data) {
            self.last_ooo = Some(start);
            stats.ooo_queued += 1;
        } else {
            stats.ooo_dropped += 1;
        }
    }

    /// Keep `data` at stream offset `start`, trimmed against what is already queued. False
    /// if the queue is full (the peer retransmits it).
    pub(super) fn insert_ooo(&mut self, start: u64, data: &[u8]) -> bool {
        let mut start = start;
        let mut data = data;
        // Trim against the segment before.
        if let Some((&s, v)) = self.ooo.range(..=start).next_back() {
            let end = s + v.len() as u64;
            if end >= start + data.len() as u64 {
                return true; // a duplicate of what we hold
            }
            if end > start {
                let cut = (end - start) as usize;
                data = &data[cut..];
                start = end;
            }
        }
        // Remove segments the new one covers; trim at the next one.
        let end = start + data.len() as u64;
        let covered: Vec<u64> = self
            .ooo
            .range(start..end)
            .filter(|(&s, v)| s + v.len() as u64 <= end)
            .map(|(&s, _)| s)
            .collect();
        for s in covered {
            if let Some(v) = self.ooo.remove(&s) {
                self.ooo_bytes -= v.len();
            }
        }
        if let Some((&s, _)) = self.ooo.range(start..end).next() {
            data = &data[..(s - start) as usize];
        }
        if data.is_empty() {
            return true;
        }
        if self.ooo.len() >= OOO_MAX_SEGMENTS {
            return false;
        }
        self.ooo_bytes += data.len();
        self.ooo.insert(start, data.to_vec());
        true
    }

    pub(super) fn drain_ooo(&mut self) {
        while let Some(entry) = self.ooo.first_entry() {
            let s = *entry.key();
            if s > self.rcv_off {
                break;
            }
            let v = entry.remove();
            self.ooo_bytes -= v.len();
            let skip = (self.rcv_off - s) as usize;
            if skip >= v.len() {
                continue;
            }
            let fresh = &v[skip..];
            self.rcvq.extend(fresh);
            self.rcv_nxt = self.rcv_nxt + fresh.len();
            self.rcv_off += fresh.len() as u64;
        }
    }
}
