//! The receive side: every segment's bytes go into the receive ring at their stream
//! offset (`rxring.rs`), in order or beyond a hole; the ring's assembler says when a hole
//! fills and the bytes after it become readable.

use super::*;

/// A round of autotuning (a buffer's worth of bytes) that took more round trips than
/// this says the peer is not held back by the window.
const TUNE_ROUND_RTTS: u32 = 4;
/// The least round-trip time a round is measured against (a LAN's SRTT of tens of
/// microseconds is mostly the time to process a segment).
const TUNE_RTT_FLOOR: Duration = Duration::from_millis(1);

impl Tcb {
    // Kept inline in the hot path (`text_arrived`) though a Fast Open SYN's data comes
    // here too (without it, the second caller had the compiler call it out of line).
    #[inline(always)]
    pub(super) fn receive_data(&mut self, seq: Seq, data: &[u8], fin: bool, stats: &mut TcpStats) {
        let at = seq.since(self.rcv_nxt);
        // The stream ends at the peer's FIN: bytes beyond a FIN known to lie beyond a hole
        // are not kept, and a FIN drops what was held beyond it (as Linux's tcp_fin purges
        // its out-of-order queue). Kept, they joined the readable bytes once the hole
        // filled, passing the FIN by, which then never came (and a SACK block was
        // reckoned from a FIN behind the in-order end).
        let mut data = data;
        if let Some(f) = self.ooo_fin {
            let keep = f.saturating_sub(self.rx.end() + at as u64);
            if (data.len() as u64) > keep {
                data = &data[..keep as usize];
                stats.drop_after_fin += 1;
            }
        }
        if fin {
            self.rx
                .forget_ooo_from(self.rx.end() + (at + data.len()) as u64);
        }
        // A FIN held beyond a hole is out of order too: data before it fills part of a
        // gap (Linux keeps it in the out-of-order queue).
        let had_ooo = self.rx.has_ooo() || self.ooo_fin.is_some();
        let size = self.rcv_ring_room();
        let room = size.saturating_sub(self.rx.readable() + at);
        if data.len() > room && self.mem.pressure() {
            // The ring the pool allows is smaller than the window: the rest is dropped,
            // for the peer to send again.
            stats.mem_pressure_drops += 1;
            if room == 0 {
                // Nothing kept: no reader to wake, only the ACK that says where we are.
                self.ack_now = true;
                return;
            }
        }
        let got = self.rx.insert(at, data, size);
        if let Some((from, to)) = got.held {
            // Bytes held beyond a hole came again: a D-SACK block (RFC 2883 4), unless
            // this segment's bytes before RCV.NXT took it (one per ACK; Linux keeps the
            // first too).
            if self.sack_ok && self.dsack.is_none() {
                self.dsack = Some((seq + from, seq + to));
            }
        }
        if at == 0 {
            self.rcv_nxt = self.rcv_nxt + got.advanced;
            self.autotune_rcvbuf();
            self.pending_ack_bytes += data.len();
            self.wake = true;
            if had_ooo {
                // Filling a hole: ACK at once (RFC 5681 4.2).
                self.ack_now = true;
            }
            // Delayed ACK: at least every second full-sized segment (RFC 9293 3.8.6.3),
            // full-sized as the peer sends them. A segment beyond our MSS is many of them
            // coalesced (a vnet tap's GRO or uncut TSO): its length is not the peer's
            // segment size (with timestamps 1448, not our 1460), so it is not taken for it;
            // until a segment shows the size, our MSS is.
            if data.len() <= self.rcv_mss {
                let len = data.len();
                if len >= self.max_seg_seen
                    || (len >= DEFAULT_MSS && len == usize::from(self.last_seg_len))
                {
                    // Larger, or two in a row of one smaller size of at least 536 bytes:
                    // the peer's segments shrank (its path MTU went down), as Linux's
                    // tcp_measure_rcv_mss lowers rcv_mss. Kept, ACKs would wait for three.
                    self.max_seg_seen = len;
                }
                self.last_seg_len = u16::try_from(len).unwrap_or(u16::MAX);
            }
            let full = match self.max_seg_seen {
                0 => self.rcv_mss.max(1),
                seen => seen,
            };
            // A quarter of the window the peer can have been offered: the buffer, or
            // 64 KB without window scaling (as on SYN-cookie connections).
            let window = self.rcv_buf.min(MAX_WINDOW << self.rcv_wscale);
            let stretch = ACK_STRETCH_MAX.min(window / 4).max(2 * full);
            if fin || self.pending_ack_bytes >= stretch {
                self.ack_now = true;
            } else if self.quick_acks > 0 && !self.interactive {
                // Spent when the ACK goes (`ack_paid`).
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
        // Counted by what became of the bytes: refused, kept (some new), and received
        // before (some held already: the D-SACK above).
        if got.refused {
            stats.ooo_dropped += 1;
        }
        if got.queued {
            stats.ooo_queued += 1;
        }
        if got.held.is_some() {
            stats.dup_segments += 1;
        }
    }

    /// The receive ring's size: SO_RCVBUF plus the slack the window's rounding to its
    /// scale's unit allows (see the trimming in `segment_synchronized`).
    pub(super) fn rcv_ring_size(&self) -> usize {
        self.rcv_buf + (1usize << self.rcv_wscale) - 1
    }

    /// The ring's size data may fill now: `rcv_ring_size`, but under memory pressure
    /// (`super::mem`) only the ring there is, or its first allocation if there is none,
    /// and never less than the smallest window worth announcing (silly-window avoidance
    /// in `free_window`): on a link with a large MSS (loopback's 65,495 bytes) a 16 KB
    /// ring would announce a zero window that no read could reopen.
    pub(super) fn rcv_ring_room(&self) -> usize {
        let size = self.rcv_ring_size();
        if self.mem.pressure() {
            let floor = rxring::INITIAL.max(self.rcv_mss.min(self.rcv_buf / 2));
            size.min(self.rx.capacity().max(floor))
        } else {
            size
        }
    }

    /// Receive-buffer autotuning, in the spirit of Linux's dynamic right-sizing, counted
    /// in rounds of a buffer's worth of in-order bytes: when the peer has sent that much
    /// and the unread bytes never reached half the buffer meanwhile, the reader keeps up
    /// and only the window can hold the peer back, so the buffer doubles, up to
    /// `opts.rcvbuf_max`; the next ACK announces the larger window. A reader that falls
    /// behind never makes it grow. It never shrinks (the window's edge never moves left).
    /// Memory follows what is unread, not the buffer's size: the ring grows as bytes wait.
    /// Nor does a round that took longer than a few round trips grow it: a peer that
    /// needs that long to send a buffer's worth is held back by itself (an application
    /// that writes little), not by the window (as Linux's tcp_rcv_space_adjust, which
    /// grows the buffer by what arrives per round trip).
    fn autotune_rcvbuf(&mut self) {
        // Nor beyond what the window can announce: a peer without window scaling (and
        // every SYN-cookie connection) sees 64 KB at most, and a larger buffer would only
        // let it fill more once the reader stops.
        if self.rcv_buf >= self.opts.rcvbuf_max
            || self.rcv_buf >= MAX_WINDOW << self.rcv_wscale
            || self.mem.pressure()
        {
            return;
        }
        let unread = self.rx.readable();
        self.tune_peak = self.tune_peak.max(unread);
        // The segment's arrival (`process_ack` set it before the data came here).
        let now = self.last_rx;
        let end = match self.tune_end {
            Some(end) => end,
            None => {
                self.tune_from = now;
                *self.tune_end.insert(self.rcv_nxt + self.rcv_buf)
            }
        };
        if self.rcv_nxt.lt(end) {
            return;
        }
        // Without a round-trip estimate (none measured yet), the round counts as quick.
        let quick = self.rtt.srtt().is_none_or(|srtt| {
            now.saturating_duration_since(self.tune_from)
                <= TUNE_ROUND_RTTS * srtt.max(TUNE_RTT_FLOOR)
        });
        if self.tune_peak <= self.rcv_buf / 2 && quick {
            self.rcv_buf = (self.rcv_buf * 2).min(self.opts.rcvbuf_max);
        }
        self.tune_end = Some(self.rcv_nxt + self.rcv_buf);
        self.tune_from = now;
        self.tune_peak = unread;
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::*;

    const KB: usize = 1024;

    fn autotuned(max: usize) -> Conn {
        Conn::established_scaled(
            ConnOpts {
                rcvbuf: 64 * KB,
                rcvbuf_max: max,
                ..opts()
            },
            Some(7),
        )
    }

    /// The peer sends full segments up to the right edge we announced (as a sender limited
    /// by our window does), the application reading everything after each segment when
    /// `reader` says so; then we ACK. Returns the window the ACK announces.
    fn fill_the_window(c: &mut Conn, reader: bool) -> usize {
        // The edge as the peer last heard it (ACKs sent meanwhile are not waited for).
        let edge = c.tcb.rcv_adv;
        while edge.since(c.tcb.rcv_nxt) >= PEER_MSS {
            c.data(&vec![7u8; PEER_MSS]);
            if reader {
                c.tcb.read_with(usize::MAX, |b| b.len());
            }
        }
        c.tcb.ack_now = true;
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let acks = c.take();
        let last = acks.last().expect("an ACK");
        usize::from(last.r.window) << c.tcb.rcv_wscale
    }

    #[test]
    fn the_buffer_doubles_while_the_peer_fills_the_window_and_the_reader_keeps_up() {
        let mut c = autotuned(256 * KB);
        // Room for 256 KB in the window scale offered: 65535 << 2 falls short.
        assert_eq!(c.tcb.rcv_wscale, 3);
        assert_eq!(c.tcb.rcv_buf, 64 * KB);
        let mut windows = Vec::new();
        let mut sizes = Vec::new();
        for _ in 0..8 {
            windows.push(fill_the_window(&mut c, true));
            sizes.push(c.tcb.rcv_buf / KB);
        }
        // Doubling after each buffer's worth (64 KB, then 128 KB more) up to the maximum.
        assert_eq!(sizes[0], 64, "{sizes:?}");
        assert_eq!(sizes[7], 256, "{sizes:?}");
        assert!(
            sizes.windows(2).all(|w| w[1] == w[0] || w[1] == 2 * w[0]),
            "{sizes:?}"
        );
        assert!(
            windows[1] > 64 * KB,
            "the larger window is announced: {windows:?}"
        );
        assert!(windows[7] > 128 * KB, "{windows:?}");
        assert!(windows.iter().all(|&w| w <= 256 * KB), "{windows:?}");
    }

    /// A peer that writes little (a segment every 100 ms), read at once: a buffer's worth
    /// takes many round trips, so the window is not what holds it back and the buffer
    /// stays. It doubled after each 64 KB, up to the maximum, on a connection that never
    /// needed more (the window then lets the peer pile 4 MB onto a reader that stalls).
    #[test]
    fn a_peer_that_writes_little_does_not_grow_the_buffer() {
        let mut c = autotuned(256 * KB);
        // An RTT of 10 ms measured on our data (the handshake's is 0 in the harness).
        let ms = Duration::from_millis;
        c.tcb.rtt.sample(ms(10), 1, ms(200), ms(60_000));
        for _ in 0..(4 * 64 * KB / PEER_MSS) {
            c.advance(ms(100));
            c.data(&vec![7u8; PEER_MSS]);
            c.tcb.read_with(usize::MAX, |b| b.len());
        }
        c.take();
        assert!(c.tcb.rcv_nxt.since(PEER_ISS) > 3 * 64 * KB);
        assert_eq!(c.tcb.rcv_buf, 64 * KB);
        // The same peer sending as fast as the window lets it: the buffer grows.
        for _ in 0..4 {
            fill_the_window(&mut c, true);
        }
        assert!(c.tcb.rcv_buf > 64 * KB);
    }

    #[test]
    fn a_reader_that_falls_behind_does_not_grow_the_buffer() {
        let mut c = autotuned(256 * KB);
        let w = fill_the_window(&mut c, false);
        assert_eq!(c.tcb.rcv_buf, 64 * KB);
        assert!(w < PEER_MSS, "the window closed on the unread bytes: {w}");
        // Reading then opens the window of the same buffer, no larger.
        c.tcb.read_with(usize::MAX, |b| b.len());
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let w = usize::from(c.take().last().expect("a window update").r.window);
        assert!(w << c.tcb.rcv_wscale <= 64 * KB);
    }

    #[test]
    fn a_reader_that_lets_the_window_fill_before_reading_does_not_grow_the_buffer() {
        // The reader keeps up only after the window filled: more than half the buffer was
        // unread each round, so the window is not what holds the peer back.
        let mut c = autotuned(256 * KB);
        for _ in 0..6 {
            fill_the_window(&mut c, false);
            c.tcb.read_with(usize::MAX, |b| b.len());
            c.tcb.ack_now = true;
            c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            c.take();
        }
        assert!(
            c.tcb.rcv_nxt.since(PEER_ISS) > 4 * 64 * KB,
            "four buffers' worth came"
        );
        assert_eq!(c.tcb.rcv_buf, 64 * KB);
    }

    #[test]
    fn without_window_scaling_the_buffer_stays_what_the_window_can_announce() {
        // The peer offered no window scale (as on every SYN-cookie connection): 64 KB is
        // all the window can say, so a larger buffer would only hold more once the reader
        // stops.
        let mut c = Conn::established_scaled(
            ConnOpts {
                rcvbuf: 64 * KB,
                rcvbuf_max: 256 * KB,
                ..opts()
            },
            None,
        );
        assert_eq!(c.tcb.rcv_wscale, 0);
        for _ in 0..8 {
            fill_the_window(&mut c, true);
        }
        assert_eq!(c.tcb.rcv_buf, 64 * KB);
    }

    /// `segments` full segments read in one batch: the ACKs sent during the batch, and
    /// the one at its end, as bytes acknowledged since the first.
    fn batch_acks(rcvbuf: usize, segments: usize) -> (Vec<usize>, Vec<usize>) {
        batch_acks_scaled(rcvbuf, segments, Some(7))
    }

    fn batch_acks_scaled(
        rcvbuf: usize,
        segments: usize,
        peer_wscale: Option<u8>,
    ) -> (Vec<usize>, Vec<usize>) {
        let mut c = Conn::established_scaled(
            ConnOpts {
                rcvbuf,
                rcvbuf_max: rcvbuf,
                ..opts()
            },
            peer_wscale,
        );
        batch_on(&mut c, segments)
    }

    /// `segments` full segments in one batch on `c`: the ACKs sent during the batch and
    /// the one at its end, as bytes acknowledged since the batch's start.
    fn batch_on(c: &mut Conn, segments: usize) -> (Vec<usize>, Vec<usize>) {
        let start = c.tcb.rcv_nxt;
        let mut acks = Vec::new();
        for _ in 0..segments {
            let r = c.seg(flags::ACK, c.our_una());
            c.tcb.segment(
                &c.cfg,
                &r,
                &[7u8; PEER_MSS],
                &mut c.tx,
                &mut c.stats,
                c.now,
                true,
            );
            c.peer_nxt = c.peer_nxt + PEER_MSS;
            acks.extend(c.take().iter().map(|s| s.r.ack.since(start)));
        }
        c.tcb
            .output_batch_ack(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let last = c.take().iter().map(|s| s.r.ack.since(start)).collect();
        (acks, last)
    }

    /// A new connection's first `quick_acks` data segments are each acknowledged at
    /// once, inside a receive batch too: a sender in slow start that counts ACKs (RFC
    /// 3465's L = 2) grows as fast as one counting bytes. Then the batch's rules apply.
    #[test]
    fn a_new_connections_first_segments_are_acked_at_once_even_in_a_batch() {
        let mut c = Conn::established_quick(opts());
        assert_eq!(c.cfg.quick_acks, 16);
        let (during, end) = batch_on(&mut c, 40);
        let mut expected: Vec<usize> = (1..=16).map(|i| i * PEER_MSS).collect();
        // Then the batch's rules: the next ACK once a quarter of the (unscaled, 64 KB)
        // window is unacknowledged, 17 segments on, and the last at the batch's end.
        expected.push(33 * PEER_MSS);
        assert_eq!(during, expected, "one ACK per segment, then the stretch");
        assert_eq!(end, [40 * PEER_MSS]);
        // Spent: the next batch gets one ACK.
        let (during, end) = batch_on(&mut c, 10);
        assert_eq!((during.len(), end), (0, vec![10 * PEER_MSS]));
    }

    /// A request from the peer, acknowledging all we sent; returns what we sent at once.
    fn request(c: &mut Conn) -> Vec<Sent> {
        let r = c.seg(flags::ACK, c.tcb.snd_max);
        c.deliver(&r, &[1; 100]);
        c.peer_nxt = c.peer_nxt + 100;
        c.take()
    }

    /// Our reply, written `after` the request; returns what went out.
    fn reply(c: &mut Conn, after: Duration) -> Vec<Sent> {
        c.now += after;
        c.tcb.write(&[2; 200]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take()
    }

    fn is_pure_ack_of(s: &[Sent], ack: Seq) -> bool {
        matches!(s, [a] if a.data.is_empty() && a.r.ack == ack)
    }

    /// Once we answer data within the delayed-ACK time, the exchange is interactive (as
    /// Linux's pingpong mode): a request no longer draws a quick ACK of its own, and the
    /// reply carries its ACK. A request left unanswered until the delayed ACK's timer
    /// fires ends the mode, and quick ACKs come back.
    #[test]
    fn replies_carry_the_acks_of_an_interactive_exchange() {
        let mut c = Conn::established_quick(opts());
        let ms = Duration::from_millis(1);
        let first = request(&mut c);
        assert!(is_pure_ack_of(&first, c.peer_nxt), "quick: {first:?}");
        let sent = reply(&mut c, ms);
        assert_eq!(sent.len(), 1);
        assert!(c.tcb.interactive, "a reply 1 ms after the request");
        for _ in 0..3 {
            assert!(request(&mut c).is_empty(), "the ACK waits for the reply");
            let sent = reply(&mut c, ms);
            assert!(
                matches!(&sent[..], [s] if s.data.len() == 200 && s.r.ack == c.peer_nxt),
                "the reply carries the ACK: {sent:?}"
            );
        }
        // No reply this time: the delayed ACK goes when its timer fires, and the mode ends.
        assert!(request(&mut c).is_empty());
        let delay = c.cfg.delayed_ack;
        c.advance(delay);
        let late = c.take();
        assert!(is_pure_ack_of(&late, c.peer_nxt), "delayed: {late:?}");
        assert!(!c.tcb.interactive);
        let quick = request(&mut c);
        assert!(is_pure_ack_of(&quick, c.peer_nxt), "quick again: {quick:?}");
    }

    /// A reply later than the delayed-ACK time does not make the exchange interactive:
    /// the next request still draws a quick ACK. Nor does data we send unasked.
    #[test]
    fn a_slow_reply_or_unasked_data_keeps_quick_acks() {
        let mut c = Conn::established_quick(opts());
        reply(&mut c, Duration::ZERO);
        assert!(!c.tcb.interactive, "data sent before any came");
        request(&mut c);
        let late = c.cfg.delayed_ack;
        reply(&mut c, late);
        assert!(!c.tcb.interactive, "a reply after the delayed-ACK time");
        let quick = request(&mut c);
        assert!(is_pure_ack_of(&quick, c.peer_nxt), "quick: {quick:?}");

        // A FIN alone, however soon after a request, is no reply.
        let mut c = Conn::established_quick(opts());
        request(&mut c);
        c.now += Duration::from_millis(1);
        c.tcb.shutdown_write();
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert!(c.take().iter().any(|s| s.r.has(flags::FIN)));
        assert!(!c.tcb.interactive, "a bare FIN");
    }

    /// Data that comes again (our ACK was lost) ends the interactive mode, as Linux's
    /// quick-ACK mode does: its ACK goes at once, and so do the next requests'.
    #[test]
    fn data_received_again_ends_the_interactive_mode() {
        let mut c = Conn::established_quick(opts());
        request(&mut c);
        reply(&mut c, Duration::from_millis(1));
        assert!(c.tcb.interactive);
        let again = TcpRepr {
            seq: c.peer_nxt - 100,
            ..c.seg(flags::ACK, c.tcb.snd_max)
        };
        c.deliver(&again, &[1; 100]);
        assert!(is_pure_ack_of(&c.take(), c.peer_nxt), "the duplicate's ACK");
        assert!(!c.tcb.interactive);
        let quick = request(&mut c);
        assert!(is_pure_ack_of(&quick, c.peer_nxt), "quick again: {quick:?}");
    }

    /// Every ACK of new data spends a quick ACK, the ones replies carry too (Linux's
    /// `tcp_dec_quickack_mode`): an interactive exchange that ends has only what is left.
    #[test]
    fn acks_carried_by_replies_spend_quick_acks() {
        let mut c = Conn::established_quick(opts());
        request(&mut c);
        assert_eq!(c.tcb.quick_acks, 15, "the first request's own");
        reply(&mut c, Duration::from_millis(1));
        assert_eq!(c.tcb.quick_acks, 15, "that reply carried no owed ACK");
        for _ in 0..20 {
            request(&mut c);
            reply(&mut c, Duration::from_millis(1));
        }
        assert_eq!(c.tcb.quick_acks, 0, "spent by the replies");
        // The mode ends: no quick ACK is left for the next request.
        request(&mut c);
        let delay = c.cfg.delayed_ack;
        c.advance(delay);
        assert!(is_pure_ack_of(&c.take(), c.peer_nxt), "the delayed ACK");
        assert!(!c.tcb.interactive);
        let sent = request(&mut c);
        assert!(sent.is_empty(), "none left: the ACK is delayed: {sent:?}");
    }

    /// After the peer was silent for longer than the retransmission timeout (its window
    /// restarts, RFC 5681 4.1), its next segments get quick ACKs again; after a shorter
    /// pause they do not.
    #[test]
    fn quick_acks_come_back_after_the_peer_was_silent_longer_than_an_rto() {
        let mut c = Conn::established_quick(opts());
        batch_on(&mut c, 40);
        let rto = c.tcb.rtt.rto();
        c.now += rto / 2;
        let (during, _) = batch_on(&mut c, 4);
        assert!(
            during.is_empty(),
            "a short pause: no quick ACKs ({during:?})"
        );
        c.now += rto + Duration::from_millis(1);
        let (during, end) = batch_on(&mut c, 20);
        let quick: Vec<usize> = (1..=16).map(|i| i * PEER_MSS).collect();
        assert_eq!(during, quick, "after a silence longer than the RTO");
        assert_eq!(end, [20 * PEER_MSS]);
        // None configured: none at the start either.
        let mut c = Conn::established(opts());
        let (during, _) = batch_on(&mut c, 10);
        assert!(during.is_empty());
    }

    /// The silence counts from the peer's last data: its ACKs meanwhile (of a long answer
    /// of ours, say) do not restart a window, as Linux's tcp_event_data_recv measures from
    /// the last data. Any segment ended the silence, so the request after a long answer
    /// got no quick ACKs.
    #[test]
    fn quick_acks_come_back_after_an_rto_without_data_whatever_acks_came() {
        let mut c = Conn::established_quick(opts());
        batch_on(&mut c, 40);
        let rto = c.tcb.rtt.rto();
        for _ in 0..4 {
            c.now += rto / 2;
            let r = c.seg(flags::ACK, c.our_una());
            c.deliver(&r, &[]);
        }
        c.take();
        let (during, _) = batch_on(&mut c, 20);
        let quick: Vec<usize> = (1..=16).map(|i| i * PEER_MSS).collect();
        assert_eq!(during, quick);
    }

    /// Segments read in one batch draw one ACK at the batch's end (`segment` with
    /// `in_batch`), but never one for more than `ACK_STRETCH_MAX` bytes: past that the ACK
    /// goes in the middle of the batch.
    #[test]
    fn a_batch_is_acked_at_least_every_ack_stretch_max_bytes() {
        let (during, end) = batch_acks(2048 * KB, 300);
        // Once 262,144 bytes (263 segments) were unacknowledged.
        let first = ACK_STRETCH_MAX.div_ceil(PEER_MSS) * PEER_MSS;
        assert_eq!(first, 263_000);
        assert_eq!(during, [first], "ACKs during the batch");
        assert_eq!(end, [300 * PEER_MSS], "the ACK at the batch's end");
    }

    /// With a smaller buffer, an ACK covers at most a quarter of it: the sender is never
    /// left with less than three quarters of the window waiting for the batch's end.
    #[test]
    fn a_batch_is_acked_at_least_every_quarter_of_the_receive_buffer() {
        let (during, end) = batch_acks(512 * KB, 300);
        assert_eq!(during, [132_000, 264_000], "ACKs during the batch");
        assert_eq!(end, [300_000], "the ACK at the batch's end");
        let (during, _) = batch_acks(16 * KB, 16);
        assert_eq!(during, [5_000, 10_000, 15_000], "a 16 KB buffer");
        // But not more often than the every-second-segment rule asks.
        let (during, _) = batch_acks(3 * KB, 2);
        assert_eq!(during, [2_000], "a 3 KB buffer");
    }

    /// Without window scaling (a peer that offered none, every SYN-cookie connection) the
    /// window is at most 64 KB whatever the buffer: an ACK covers a quarter of that.
    #[test]
    fn without_window_scaling_a_batch_is_acked_every_quarter_of_64_kb() {
        let (during, end) = batch_acks_scaled(1024 * KB, 60, None);
        assert_eq!(during, [17_000, 34_000, 51_000], "ACKs during the batch");
        assert_eq!(end, [60_000]);
    }

    /// The window's rounding to its scale's unit never lets the peer's right edge pass
    /// the unread bytes' start by more than the buffer and that unit's slack (the ring's
    /// size): a reader that stops, with the peer filling the window a byte at a time.
    #[test]
    fn the_edge_announced_stays_within_the_buffer_and_one_units_slack() {
        let mut c = Conn::established_scaled(
            ConnOpts {
                rcvbuf: 64 * KB,
                rcvbuf_max: 4096 * KB,
                ..opts()
            },
            Some(7),
        );
        assert_eq!(c.tcb.rcv_wscale, 7);
        let first_unread = c.tcb.rcv_nxt;
        let limit = 64 * KB + (1 << 7) - 1;
        for _ in 0..300 {
            c.data(&[7]);
            c.tcb.ack_now = true;
            c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
            for s in c.take() {
                let edge = s.r.ack + (usize::from(s.r.window) << 7);
                assert!(
                    edge.since(first_unread) <= limit,
                    "edge {} bytes past the first unread byte, {} unread",
                    edge.since(first_unread),
                    c.tcb.rx.readable()
                );
            }
        }
        assert_eq!(
            c.tcb.rcv_buf,
            64 * KB,
            "the reader never read: no autotuning"
        );
    }

    /// 45 segments of 1000 bytes into a fixed 64 KB buffer, none read, every ACK owed
    /// sent: the peer was told of 20,536 bytes of window.
    fn nearly_full(fin: bool) -> Conn {
        let mut c = autotuned(64 * KB);
        for _ in 0..45 {
            c.data(&[7u8; PEER_MSS]);
        }
        if fin {
            let r = c.seg(flags::ACK | flags::FIN, c.our_una());
            c.deliver(&r, &[]);
            c.peer_nxt = c.peer_nxt + 1;
        }
        c.tcb.ack_now = true;
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let last = c.take().last().expect("an ACK").r;
        assert_eq!(
            usize::from(last.window) << c.tcb.rcv_wscale,
            64 * KB - 45_000
        );
        c
    }

    /// RFC 9293 3.8.6.2.2 and Linux: reading announces the opened window on its own only
    /// once the free space has at least doubled what the peer was told (and grown by an
    /// MSS): not for every read.
    #[test]
    fn a_read_sends_a_window_update_only_once_the_window_doubles() {
        let mut c = nearly_full(false);
        assert_eq!(c.tcb.read_with(10_000, |b| b.len()), 10_000);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert!(
            sent.is_empty(),
            "30,536 free, not yet twice 20,536: {sent:?}"
        );
        assert_eq!(c.tcb.read_with(12_000, |b| b.len()), 12_000);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert_eq!(sent.len(), 1, "42,536 free: the update goes");
        assert_eq!(
            usize::from(sent[0].r.window) << c.tcb.rcv_wscale,
            64 * KB - 23_000
        );
    }

    /// Once the peer's FIN has come it sends nothing more: reading sends no window update
    /// (as Linux's `tcp_cleanup_rbuf` skips it after RCV_SHUTDOWN).
    #[test]
    fn after_the_peers_fin_a_read_sends_no_window_update() {
        let mut c = nearly_full(true);
        assert_eq!(c.tcb.read_with(40_000, |b| b.len()), 40_000);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let sent = c.take();
        assert!(sent.is_empty(), "{sent:?}");
    }

    /// A segment larger than our MSS is one the peer's kernel coalesced (GRO) or never cut
    /// (TSO over a vnet tap): many segments' worth, whose size says nothing of the peer's
    /// full-sized segment (Linux measures that from the coalesced skb's gso_size,
    /// tcp_measure_rcv_mss). With timestamps the peer's full segments carry 1448 bytes;
    /// after a coalesced one, every second of them must still draw an ACK (RFC 9293
    /// 3.8.6.3, RFC 5681 4.2), not every third.
    #[test]
    fn after_a_coalesced_segment_every_second_full_segment_is_still_acked() {
        let mut c = Conn::established_ts(opts());
        let full = c.tcb.rcv_mss - crate::tcp::wire::TIMESTAMP_LEN;
        assert_eq!(full, 1448);
        c.data(&vec![7u8; full]);
        c.data(&vec![7u8; full]);
        assert_eq!(c.take().len(), 1, "two full segments: an ACK");
        c.data(&vec![7u8; 10 * full]);
        assert_eq!(c.take().len(), 1, "ten segments' worth: an ACK");
        c.data(&vec![7u8; full]);
        c.data(&vec![7u8; full]);
        let acks = c.take();
        assert_eq!(
            acks.len(),
            1,
            "two full segments after a coalesced one: {} ACKs, pending {} bytes",
            acks.len(),
            c.tcb.pending_ack_bytes
        );
    }

    /// The peer's segments shrink (its path MTU went down): two in a row of the new size
    /// make it the full size, as Linux's tcp_measure_rcv_mss, so every second one still
    /// draws an ACK, not every third.
    #[test]
    fn after_the_peers_segments_shrink_every_second_one_is_still_acked() {
        let mut c = Conn::established_ts(opts());
        let full = c.tcb.rcv_mss - crate::tcp::wire::TIMESTAMP_LEN;
        c.data(&vec![7u8; full]);
        c.data(&vec![7u8; full]);
        assert_eq!(c.take().len(), 1, "two full segments: an ACK");
        let mut acks = 0;
        for _ in 0..4 {
            c.data(&[7u8; 1000]);
            acks += c.take().len();
        }
        assert_eq!(
            acks, 2,
            "four 1000-byte segments, pending {}",
            c.tcb.pending_ack_bytes
        );
    }

    #[test]
    fn a_fixed_buffer_stays_as_it_is() {
        let mut c = autotuned(64 * KB);
        assert_eq!(
            c.tcb.rcv_wscale, 1,
            "64 KB is a byte more than an unscaled window"
        );
        for _ in 0..3 {
            fill_the_window(&mut c, true);
        }
        assert_eq!(c.tcb.rcv_buf, 64 * KB);
    }

    /// `ooo_queued` counts the segments whose bytes were kept beyond a hole, and only
    /// those: one whose bytes are all held there already (a retransmission that came
    /// twice) stores nothing and is counted where data received twice is
    /// (`dup_segments`, with its D-SACK); one that brings new bytes next to held ones
    /// counts in both. Before, the duplicate counted as queued.
    #[test]
    fn only_segments_that_store_bytes_beyond_a_hole_count_as_queued() {
        let mut c = Conn::established(opts());
        let hole = c.peer_nxt;
        let send = |c: &mut Conn, from: usize, n: usize| {
            let mut r = c.seg(flags::ACK, c.our_una());
            r.seq = hole + from;
            c.deliver(&r, &[5u8; 2000][..n]);
            c.take();
            (c.stats.ooo_queued, c.stats.dup_segments)
        };
        assert_eq!(send(&mut c, 1000, 1000), (1, 0));
        // All of it held already: nothing queued, a duplicate.
        assert_eq!(send(&mut c, 1000, 1000), (1, 1));
        assert_eq!(send(&mut c, 1200, 500), (1, 2));
        assert_eq!(c.tcb.rx.ooo_bytes(), 1000);
        // Half held, half new: queued, and a duplicate.
        assert_eq!(send(&mut c, 1500, 1000), (2, 3));
        assert_eq!(c.tcb.rx.ooo_bytes(), 1500);
        // New bytes beyond the held ones: queued only.
        assert_eq!(send(&mut c, 2500, 500), (3, 3));
    }
}
