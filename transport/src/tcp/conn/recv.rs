//! The receive side: every segment's bytes go into the receive ring at their stream
//! offset (`rxring.rs`), in order or beyond a hole; the ring's assembler says when a hole
//! fills and the bytes after it become readable.

use super::*;

impl Tcb {
    pub(super) fn receive_data(&mut self, seq: Seq, data: &[u8], fin: bool, stats: &mut TcpStats) {
        let at = seq.since(self.rcv_nxt);
        let had_ooo = self.rx.has_ooo();
        let got = self.rx.insert(at, data, self.rcv_ring_size());
        if at == 0 {
            self.rcv_nxt = self.rcv_nxt + got.advanced;
            self.pending_ack_bytes += data.len();
            self.wake = true;
            if had_ooo {
                // Filling a hole: ACK at once (RFC 5681 4.2).
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
        if fin {
            self.ooo_fin = Some(self.rx.end() + (at + data.len()) as u64);
        }
        if got.refused {
            stats.ooo_dropped += 1;
        } else {
            stats.ooo_queued += 1;
        }
    }

    /// The receive ring's size: SO_RCVBUF plus the slack the window's rounding to its
    /// scale's unit allows (see the trimming in `segment_synchronized`).
    pub(super) fn rcv_ring_size(&self) -> usize {
        self.opts.rcvbuf + (1usize << self.rcv_wscale) - 1
    }
}
