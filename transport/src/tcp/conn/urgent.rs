//! Urgent data (RFC 9293 3.8.5).

use super::*;

impl Tcb {
    /// Queue `data` as urgent data (`MSG_OOB`); how much fitted. Call `output` after.
    pub fn write_urgent(&mut self, data: &[u8]) -> usize {
        self.write(data)
    }

    /// The next byte read is the last urgent byte (`SIOCATMARK`).
    pub fn at_mark(&self) -> bool {
        false
    }

    /// Urgent data is pending, for `poll`.
    pub fn urgent(&self) -> bool {
        false
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
    #[ignore = "defect: TCP ignores the urgent pointer (RFC 9293 3.8.5 MUST-30..33)"]
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
    #[ignore = "defect: TCP ignores the urgent pointer (RFC 9293 3.8.5 MUST-30..33)"]
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
    #[ignore = "defect: TCP ignores the urgent pointer (RFC 9293 3.8.5 MUST-30..33)"]
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
        assert!(c.tcb.at_mark(), "the urgent byte is next, though not here yet");
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
    #[ignore = "defect: no way to send urgent data (RFC 9293 3.8.5)"]
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
    #[ignore = "defect: no way to send urgent data (RFC 9293 3.8.5)"]
    fn the_pointer_goes_ahead_of_held_data_and_with_retransmissions() {
        let mut c = Conn::established(opts());
        let start = c.our_una();
        // The initial window (10 segments) fills; the urgent byte waits.
        c.tcb.write(&vec![0u8; 10 * PEER_MSS]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert_eq!(c.take().len(), 10);
        send_urgent(&mut c, b"!");
        assert!(c.take().is_empty(), "held by the congestion window");
        let up = start + 10 * PEER_MSS + 1;
        // The delayed ACK of data from the peer.
        c.data(b"x");
        c.advance(Duration::from_millis(50));
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
        let first = out.iter().find(|s| s.r.seq == start).expect("retransmitted");
        assert!(first.r.has(flags::URG));
        assert_eq!(first.r.seq + usize::from(first.r.urgent), up);
    }

    /// A pointer more than 65,535 bytes ahead of a segment: 65,535 (Linux's
    /// __tcp_transmit_skb), the receiver then waits for a further one; only while the
    /// byte 65,535 ahead has not been sent (else the receiver would take a byte already
    /// with it for urgent), otherwise no URG.
    #[test]
    #[ignore = "defect: no way to send urgent data (RFC 9293 3.8.5)"]
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
    #[ignore = "defect: no way to send urgent data (RFC 9293 3.8.5)"]
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
