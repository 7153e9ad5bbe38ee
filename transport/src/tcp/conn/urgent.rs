//! Urgent data (RFC 9293 3.8.5, with RFC 6093 on how stacks really use it).
//!
//! The urgent pointer names the octet after the urgent data (MUST-62: BSD's and Linux's
//! reading), so the last urgent byte, the "mark", is the one before it. As RFC 6093
//! recommends and Linux does with `SO_OOBINLINE`, urgent bytes stay in the stream: nothing
//! is taken out of band, the application learns where the mark is.
//!
//! Receiving (the sixth step of RFC 9293 3.10.7.4, in ESTABLISHED and FIN-WAIT-1/2 only):
//! RCV.UP is `rcv_up`, the stream offset of the octet after the urgent data, kept while the
//! urgent byte is unread; it only advances (RCV.UP <- max(RCV.UP, SEG.UP)), never to a byte
//! already received (Linux's tcp_check_urg, "do not replay"), and a new pointer replaces
//! the mark as Linux keeps one. A read never crosses the mark: it stops just before the
//! urgent byte (Linux's tcp_recvmsg stops at urg_seq once it has copied something), so
//! [`Tcb::at_mark`] (SIOCATMARK) is then true; the next read returns the urgent byte and
//! what follows. [`Tcb::urgent`] is `poll`'s POLLPRI.
//!
//! Sending: [`Tcb::write_urgent`] (MSG_OOB) sets SND.UP after the last byte queued. Every
//! segment from before SND.UP carries URG and the pointer (a pure ACK or window probe too,
//! so the notice goes ahead of data that flow control holds back), until SND.UNA reaches
//! it. Meanwhile Nagle holds nothing back (Linux's tcp_nagle_test in urgent mode), and the
//! data before the pointer leaves in segments of our own, not TSO frames: a device cutting
//! one would copy URG and the pointer to every piece unadjusted (Linux builds no TSO frame
//! for MSG_OOB either).

use super::*;
use std::num::NonZeroU64;

impl Tcb {
    /// Queue `data` as urgent data (`MSG_OOB`); how much fitted. SND.UP goes after the
    /// last byte queued (after what fitted, as Linux sets it for a partial send). Call
    /// `output` after.
    pub fn write_urgent(&mut self, data: &[u8]) -> usize {
        let n = self.write(data);
        if n > 0 {
            self.snd_up = Some(self.snd_base + self.sndq.len());
        }
        n
    }

    /// The urgent pointer of a segment from `seq`, if it carries one: SND.UP as an offset
    /// from `seq` while SND.UP is ahead of it. Further than the field reaches, 65,535 (the
    /// receiver learns the rest from later segments), but only while the byte before that
    /// has not been sent, which the receiver would otherwise take for the urgent byte:
    /// then none (Linux's __tcp_transmit_skb).
    pub(super) fn urgent_pointer(&self, seq: Seq) -> Option<u16> {
        let up = self.snd_up.filter(|up| up.gt(seq))?;
        match u16::try_from(up.since(seq)) {
            Ok(p) => Some(p),
            Err(_) if (seq + usize::from(u16::MAX)).gt(self.snd_max) => Some(u16::MAX),
            Err(_) => None,
        }
    }

    /// SND.UNA reached `ack`: urgent data all acknowledged ends the urgent mode.
    pub(super) fn urgent_acked(&mut self, ack: Seq) {
        if self.snd_up.is_some_and(|up| ack.ge(up)) {
            self.snd_up = None;
        }
    }

    /// Urgent data is queued and not all sent: segments before it are not left to the
    /// device to cut (TSO).
    pub(super) fn urgent_unsent(&self) -> bool {
        self.snd_up.is_some_and(|up| up.gt(self.snd_nxt))
    }

    /// RFC 9293 3.10.7.4, sixth: a segment with URG. Ignored after the peer's FIN (RFC
    /// 9293: "this should not occur"), with a pointer of 0 (it names nothing of this
    /// segment), and when the urgent byte was received already; otherwise RCV.UP advances
    /// to SEG.SEQ + SEG.UP if that is further, and the application is told (MUST-32).
    pub(super) fn urgent_arrived(&mut self, seg: &TcpRepr) {
        if !matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) || seg.urgent == 0
        {
            return;
        }
        let up = seg.seq + usize::from(seg.urgent);
        if (up - 1).lt(self.rcv_nxt) {
            return;
        }
        let off = self.rx.end() + up.since(self.rcv_nxt) as u64;
        if self.rcv_up.is_some_and(|cur| off <= cur.get()) {
            return;
        }
        self.rcv_up = NonZeroU64::new(off);
        self.wake = true;
    }

    /// The stream offset of the next byte a read returns.
    fn read_offset(&self) -> u64 {
        self.rx.end() - self.rx.readable() as u64
    }

    /// How much of `max` a read may take: no further than the byte before the urgent
    /// byte while that one is not next (then the read goes on past it).
    pub(super) fn urgent_read_limit(&self, max: usize) -> usize {
        let Some(up) = self.rcv_up else {
            return max;
        };
        let mark = up.get() - 1;
        let at = self.read_offset();
        if at < mark {
            max.min(usize::try_from(mark - at).unwrap_or(usize::MAX))
        } else {
            max
        }
    }

    /// After a read: the urgent byte read, no urgent data is pending.
    pub(super) fn urgent_after_read(&mut self) {
        if self.rcv_up.is_some_and(|up| self.read_offset() >= up.get()) {
            self.rcv_up = None;
        }
    }

    /// The next byte read is the last urgent byte (`SIOCATMARK`, MUST-33), whether it has
    /// arrived or not.
    pub fn at_mark(&self) -> bool {
        self.rcv_up
            .is_some_and(|up| self.read_offset() == up.get() - 1)
    }

    /// Urgent data is pending, for `poll` (POLLPRI): a pointer came whose urgent byte is
    /// unread, and there are bytes to read towards it. Linux raises POLLPRI once the urgent
    /// byte is in and tells of the pointer itself by SIGURG; without signals, this is
    /// raised as the pointer comes (MUST-32), when a reader held back by a full window
    /// most needs to know, but never while a read would block (a level-triggered poll
    /// would spin on it).
    pub fn urgent(&self) -> bool {
        self.rcv_up.is_some() && self.rx.readable() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::{opts, Conn, PEER_MSS};
    use super::*;

    /// In-order data from the peer with URG and the urgent pointer `up`.
    fn urgent_data(c: &mut Conn, data: &[u8], up: u16) {
        let mut r = c.seg(flags::ACK | flags::URG, c.our_una());
        r.urgent = up;
        c.deliver(&r, data);
        c.peer_nxt = c.peer_nxt + data.len();
    }

    fn read(c: &mut Conn) -> Vec<u8> {
        let mut b = [0u8; 64];
        let n = c.tcb.read(&mut b);
        b[..n].to_vec()
    }

    fn send_urgent(c: &mut Conn, data: &[u8]) -> usize {
        let n = c.tcb.write_urgent(data);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        n
    }

    /// RFC 9293 3.10.7.4's sixth step: RCV.UP <- max(RCV.UP, SEG.UP), the pointer naming
    /// the octet after the urgent data (MUST-62, the BSD and Linux reading, RFC 6093). The
    /// data stays in the stream (Linux's SO_OOBINLINE); the application learns of it
    /// (MUST-32) and a read stops at the mark (`at_mark` before the urgent byte, MUST-33),
    /// as Linux's tcp_recvmsg stops before urg_seq. Before, the pointer was ignored.
    #[test]
    fn an_urgent_pointer_marks_its_byte_and_a_read_stops_before_it() {
        let mut c = Conn::established(opts());
        c.data(b"abc");
        assert!(!c.tcb.urgent() && !c.tcb.at_mark());
        c.tcb.wake = false;
        urgent_data(&mut c, b"!def", 1);
        assert!(c.tcb.wake);
        assert!(c.tcb.urgent(), "pending");
        assert!(!c.tcb.at_mark());
        assert_eq!(read(&mut c), b"abc", "stops at the mark");
        assert!(c.tcb.at_mark() && c.tcb.urgent());
        assert_eq!(read(&mut c), b"!def", "the urgent byte inline, and past it");
        assert!(!c.tcb.at_mark() && !c.tcb.urgent());
        // Urgent data in one segment with what precedes it: the same stop.
        urgent_data(&mut c, b"xy!z", 3);
        let mut b = [0u8; 8];
        assert_eq!(c.tcb.peek(&mut b), 2, "peeking does not cross it either");
        assert_eq!(read(&mut c), b"xy");
        assert!(c.tcb.at_mark());
        assert_eq!(read(&mut c), b"!z");
    }

    /// The pointer only advances (max), never to a byte already received (Linux's
    /// tcp_check_urg: "do not replay"); a later pointer moves the mark on, as Linux keeps
    /// one mark (the bytes stay inline, so nothing is lost).
    #[test]
    fn the_urgent_pointer_only_advances() {
        let mut c = Conn::established(opts());
        urgent_data(&mut c, b"abcdef", 4);
        // A retransmission of those bytes pointing further back: ignored.
        c.peer_nxt = c.peer_nxt - 6;
        urgent_data(&mut c, b"abcdef", 2);
        assert_eq!(read(&mut c), b"abc");
        assert!(c.tcb.at_mark());
        // Data pointing back at bytes already here: ignored too.
        urgent_data(&mut c, b"gh", 0);
        let mut r = c.seg(flags::ACK | flags::URG, c.our_una());
        r.seq = r.seq - 3;
        r.urgent = 1;
        c.deliver(&r, b"fgh");
        assert!(c.tcb.at_mark(), "still at d");
        // A further pointer: the mark moves on.
        urgent_data(&mut c, b"ijk", 2);
        assert!(!c.tcb.at_mark());
        assert_eq!(read(&mut c), b"defghi");
        assert!(c.tcb.at_mark());
        assert_eq!(read(&mut c), b"jk");
        assert!(!c.tcb.urgent());
    }

    /// A pointer ahead of the data (the sender's window or queue holds the urgent byte
    /// back): pending while there are bytes to read towards it, the mark where the urgent
    /// byte will be; with nothing to read, not reported (a level-triggered poll would spin
    /// on it).
    #[test]
    fn a_pointer_ahead_of_its_byte_waits_for_it() {
        let mut c = Conn::established(opts());
        urgent_data(&mut c, b"ab", 5);
        assert!(c.tcb.urgent());
        assert_eq!(read(&mut c), b"ab");
        assert!(!c.tcb.at_mark());
        assert!(!c.tcb.urgent(), "nothing to read: not reported");
        urgent_data(&mut c, b"cd", 3);
        assert!(c.tcb.urgent());
        assert_eq!(read(&mut c), b"cd");
        assert!(
            c.tcb.at_mark(),
            "the urgent byte is next, though not here yet"
        );
        assert!(!c.tcb.urgent());
        c.data(b"!e");
        assert!(c.tcb.urgent());
        assert_eq!(read(&mut c), b"!e");
        assert!(!c.tcb.urgent() && !c.tcb.at_mark());
    }

    /// RFC 9293 3.10.7.4: after the peer's FIN (CLOSE-WAIT, CLOSING, LAST-ACK,
    /// TIME-WAIT) the URG bit is ignored.
    #[test]
    fn urgent_pointers_after_the_peers_fin_are_ignored() {
        let mut c = Conn::established(opts());
        let r = c.seg(flags::ACK | flags::FIN, c.our_una());
        c.deliver(&r, &[]);
        c.peer_nxt = c.peer_nxt + 1;
        assert_eq!(c.tcb.state, State::CloseWait);
        let mut r = c.seg(flags::ACK | flags::URG, c.our_una());
        r.urgent = 1;
        c.deliver(&r, &[]);
        assert!(!c.tcb.urgent() && !c.tcb.at_mark());
        assert!(c.tcb.rcv_up.is_none());
    }

    /// `MSG_OOB`: SND.UP after the last byte queued; every segment from before it carries
    /// URG and the pointer as an offset from its SEQ, and the urgent data goes at once
    /// whatever Nagle says (Linux's tcp_nagle_test in urgent mode); once the peer has
    /// acknowledged it, no more URG.
    #[test]
    fn urgent_data_sets_the_pointer_on_every_segment_before_it() {
        let mut c = Conn::established(opts());
        let start = c.our_una();
        c.tcb.write(b"abc");
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert!(!out[0].r.has(flags::URG));
        let big = vec![b'u'; 2 * PEER_MSS + 500];
        assert_eq!(send_urgent(&mut c, &big), big.len());
        let out = c.take();
        assert_eq!(out.len(), 3, "Nagle does not hold urgent data");
        let up = start + 3 + big.len();
        for s in &out {
            assert!(s.r.has(flags::URG), "{:?}", s.r);
            assert_eq!(s.r.seq + usize::from(s.r.urgent), up);
        }
        // Acknowledged: urgent mode ends.
        let r = c.seg(flags::ACK, up);
        c.deliver(&r, &[]);
        c.take();
        assert!(c.tcb.snd_up.is_none());
        c.tcb.write(b"more");
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        assert!(!out[0].r.has(flags::URG));
    }

    /// The pointer goes ahead of urgent data the window holds back (RFC 9293 3.8.5: the
    /// urgent notice is not held by flow control): an ACK sent meanwhile carries it; and a
    /// retransmission keeps it.
    #[test]
    fn the_pointer_goes_ahead_of_held_data_and_with_retransmissions() {
        let mut c = Conn::established(opts());
        // The timeout's retransmission is looked at, not a loss probe's.
        c.tcb.tlp_enabled = false;
        let start = c.our_una();
        // The initial window (10 segments) fills; the urgent byte waits.
        c.tcb.write(&vec![0u8; 10 * PEER_MSS]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 10);
        send_urgent(&mut c, b"!");
        assert!(c.take().is_empty(), "held by the congestion window");
        let up = start + 10 * PEER_MSS + 1;
        // An ACK at once: of data from the peer beyond a hole.
        let mut r = c.seg(flags::ACK, c.our_una());
        r.seq = r.seq + 1;
        c.deliver(&r, b"y");
        let out = c.take();
        assert!(!out.is_empty());
        for s in &out {
            assert!(s.data.is_empty());
            assert!(s.r.has(flags::URG));
            assert_eq!(s.r.seq + usize::from(s.r.urgent), up);
        }
        // The timeout's retransmission of the first segment carries it too.
        c.advance(Duration::from_secs(2));
        let out = c.take();
        let first = out
            .iter()
            .find(|s| s.r.seq == start)
            .expect("retransmitted");
        assert!(first.r.has(flags::URG));
        assert_eq!(first.r.seq + usize::from(first.r.urgent), up);
    }

    /// A pointer more than 65,535 bytes ahead of a segment: 65,535 (Linux's
    /// __tcp_transmit_skb), the receiver then waits for a further one; only while the
    /// byte 65,535 ahead has not been sent (else the receiver would take a byte already
    /// with it for urgent), otherwise no URG.
    #[test]
    fn a_pointer_further_than_65535_is_clamped() {
        let mut c = Conn::established(opts());
        let start = c.our_una();
        let big = vec![b'u'; 70_001];
        assert_eq!(send_urgent(&mut c, &big), big.len());
        let out = c.take();
        assert_eq!(out.len(), 10);
        for s in &out {
            assert!(s.r.has(flags::URG));
            let off = (start + big.len()).since(s.r.seq);
            assert_eq!(usize::from(s.r.urgent), off.min(65_535), "{}", off);
        }
    }

    /// TSO: a frame the device cuts would copy the header's URG and pointer to every
    /// piece unadjusted, so data before the urgent pointer leaves in segments of our own
    /// (as Linux builds no TSO frame for MSG_OOB: tcp_xmit_size_goal); after it, bursts
    /// again.
    #[test]
    fn urgent_data_is_not_left_to_the_device_to_cut() {
        let mut c = Conn::established(ConnOpts {
            nodelay: true,
            ..opts()
        });
        c.tx.offload = netif::Offload {
            csum: true,
            tso: true,
        };
        let start = c.our_una();
        send_urgent(&mut c, &vec![b'u'; 4 * PEER_MSS]);
        let out = c.take();
        assert_eq!(out.len(), 4);
        for s in &out {
            assert!(s.meta.gso_size.is_none() && s.data.len() == PEER_MSS);
            assert!(s.r.has(flags::URG));
            assert_eq!(s.r.seq + usize::from(s.r.urgent), start + 4 * PEER_MSS);
        }
        c.tcb.write(&vec![0u8; 4 * PEER_MSS]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1, "past the pointer: one burst");
        assert!(out[0].meta.gso_size.is_some() && !out[0].r.has(flags::URG));
    }
}
