//! Explicit Congestion Notification (RFC 3168 6.1) on an established connection: as a
//! receiver, a segment that came marked Congestion Experienced is echoed with ECE on every
//! ACK until the sender's CWR; as a sender, an ECE halves the congestion window as a loss
//! would, without a retransmission, at most once per window of data, and the next new data
//! segment carries CWR. The handshake's agreement is in `take_syn_options` and `send_syn`,
//! the marking of new data (ECT(0)) and the CWR in `emit`.

use super::*;

/// A SYN that asks for ECN (RFC 3168 6.1.1: ECE and CWR) and that a listener may agree
/// to: it came Not-ECT, as a SYN must leave; one that came marked crossed a path that
/// rewrites the field, where ECN would carry no meaning (Linux refuses it too).
pub(crate) fn ecn_setup_syn(syn: &TcpRepr) -> bool {
    syn.has(flags::ECE) && syn.has(flags::CWR) && syn.ecn == 0
}

impl Tcb {
    /// The ECN part of an acceptable segment (the connection agreed on ECN).
    pub(super) fn ecn_input(
        &mut self,
        seg: &TcpRepr,
        data_len: usize,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        if seg.has(flags::CWR) {
            // The sender reduced its window: stop echoing (6.1.3). Its window may now be
            // small, so its data is answered at once (as Linux does).
            self.ece_echo = false;
            if data_len > 0 {
                self.ack_now = true;
            }
        }
        // A CE-marked data segment (6.1.3; Linux looks at data only).
        if seg.ce() && data_len > 0 {
            stats.ecn_ce_in += 1;
            if !self.ece_echo {
                self.ece_echo = true;
                // Not delayed: the sender should hear of the congestion within a round
                // trip (Linux enters its quick-ACK mode here).
                self.ack_now = true;
            }
        }
        // Past the last reduction's window, `ecn_high` follows SND.UNA, so that the
        // sequence comparison below never spans 2^31 bytes.
        if self.snd_una.gt(self.ecn_high) {
            self.ecn_high = self.snd_una - 1;
        }
        let ece = self.ecn_echoed(seg);
        if ece && self.in_recovery {
            // A recovery this very ACK began (`process_ack` closed the undo of one already
            // under way before the undo looked): its reduction stands too.
            self.undo.close();
        }
        // An ECE about data sent after our last reduction: a new congestion event. During
        // a loss recovery the window is reduced already (6.1.2: once per window).
        if ece && !self.in_recovery && self.snd_una.gt(self.ecn_high) {
            stats.ecn_reductions += 1;
            self.cc.on_ecn_echo(self.mss, now);
            // Nothing was lost: no undo can prove this response spurious.
            self.undo.close();
            self.reduced_window();
            // Until the data sent before now is acknowledged, the window stays as it was
            // cut (Linux's CWR state).
            self.ecn_cwr = true;
        }
    }

    /// The segment echoes congestion (ECE) as news: only an ACK at least as new as what
    /// was acknowledged (an old one's ECE is no news), never a SYN-ACK's agreement (a
    /// simultaneous open), and only on a connection that agreed on ECN.
    pub(super) fn ecn_echoed(&self, seg: &TcpRepr) -> bool {
        self.ecn_ok && seg.has(flags::ECE) && !seg.has(flags::SYN) && !seg.ack.lt(self.snd_una)
    }

    /// The congestion window was reduced, for an ECE or a loss: ECEs for data sent before
    /// now are the same congestion, and the next new segment says CWR (RFC 3168 6.1.2:
    /// after a reduction "for any reason", as Linux queues it on entering recovery or
    /// loss).
    pub(super) fn reduced_window(&mut self) {
        self.ecn_high = self.snd_max;
        self.cwr_due = self.ecn_ok;
        // A loss's reduction takes over from an ECN one's round trip: its recovery holds
        // the window (and, should an undo prove it spurious, the window it restores grows
        // on, as Linux's undo leaves its CWR state).
        self.ecn_cwr = false;
    }

    /// Within the round trip of an ECN reduction (Linux's CWR state): the data sent
    /// before the cut is not all acknowledged yet.
    pub(super) fn in_ecn_reduction(&self) -> bool {
        self.ecn_cwr && self.snd_una.lt(self.ecn_high)
    }

    /// Whether an ACK of new data may grow the congestion window (outside recovery), as
    /// far as ECN is concerned: none before the data sent ahead of an ECN reduction is
    /// acknowledged (so that an ECE ignored as the same congestion does not let the window
    /// grow back within the round trip; Linux's CWR state), and in congestion avoidance
    /// not one that carries ECE (RFC 3168 6.1.2: "SHOULD NOT increase the congestion window
    /// in response to the receipt of an ECN-Echo ACK"). Slow start still grows on one:
    /// after a timeout the peer echoes until our CWR, which rides only on new data, and
    /// the resend before it would otherwise stay at one segment. Called after SND.UNA
    /// moved.
    pub(super) fn ecn_may_grow(&mut self, ece: bool) -> bool {
        if !self.ecn_ok {
            return true;
        }
        if self.ecn_cwr && !self.snd_una.lt(self.ecn_high) {
            self.ecn_cwr = false;
        }
        // An ECE that is news (past the last reduction's data) is about to cut the window
        // (`ecn_input`): the cut takes the window as it was, not grown by this ACK first
        // (Linux enters CWR before it grows the window).
        let news = ece && self.snd_una.gt(self.ecn_high);
        !self.ecn_cwr && (!ece || (self.cc.cwnd() < self.cc.ssthresh() && !news))
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::*;
    use crate::tcp::EcnMode;

    const ECT0: u8 = 0b10;

    /// An active open with `ecn`, answered by a SYN-ACK with `synack` flags (beside SYN
    /// and ACK); returns the connection and whether our SYN asked for ECN.
    fn open(ecn: EcnMode, synack: u8) -> (Conn, bool) {
        let cfg = TcpConfig {
            ecn,
            quick_acks: 0,
            ..TcpConfig::default()
        };
        let mut c = Conn::connecting(cfg, opts(), 1500);
        let syn = c.take();
        let asked = syn[0].r.has(flags::ECE) && syn[0].r.has(flags::CWR);
        let r = TcpRepr {
            src_port: PEER.port(),
            dst_port: US.port(),
            seq: PEER_ISS,
            ack: Seq(OUR_ISS) + 1,
            flags: flags::SYN | flags::ACK | synack,
            window: 65_535,
            mss: Some(PEER_MSS as u16),
            sack_permitted: true,
            ..TcpRepr::default()
        };
        c.deliver(&r, &[]);
        c.peer_nxt = PEER_ISS + 1;
        assert_eq!(c.tcb.state, State::Established);
        c.take();
        (c, asked)
    }

    fn ecn_conn() -> Conn {
        let (c, asked) = open(EcnMode::On, flags::ECE);
        assert!(asked && c.tcb.ecn_ok);
        c
    }

    fn send(c: &mut Conn, n: usize) -> Vec<Sent> {
        c.tcb.write(&vec![7u8; n]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        c.take()
    }

    #[test]
    fn an_active_open_asks_only_when_on_and_agrees_only_to_ece_alone() {
        let (c, asked) = open(EcnMode::On, flags::ECE);
        assert!(asked && c.tcb.ecn_ok);
        assert_eq!(c.stats.ecn_conns, 1);
        // ECE and CWR both in a SYN-ACK: a peer that reflects flags, not an agreement.
        let (c, _) = open(EcnMode::On, flags::ECE | flags::CWR);
        assert!(!c.tcb.ecn_ok);
        let (c, _) = open(EcnMode::On, 0);
        assert!(!c.tcb.ecn_ok);
        for mode in [EcnMode::Accept, EcnMode::Off] {
            let (c, asked) = open(mode, flags::ECE);
            assert!(!asked && !c.tcb.ecn_ok, "{mode:?}");
        }
    }

    /// Only the first SYN asks for ECN: a SYN lost may have been dropped for asking
    /// (RFC 3168 6.1.1.1). A SYN-ACK that agrees to the first is still taken, and the
    /// connection counts as an ECN one only once established.
    #[test]
    fn a_retransmitted_syn_does_not_ask_for_ecn() {
        let cfg = TcpConfig {
            ecn: EcnMode::On,
            ..TcpConfig::default()
        };
        let mut c = Conn::connecting(cfg, opts(), 1500);
        let first = c.take();
        assert!(first[0].r.has(flags::ECE) && first[0].r.has(flags::CWR));
        let rto = c.tcb.rtt.rto();
        c.advance(rto);
        let again = c.take();
        assert!(
            matches!(&again[..], [s] if s.r.has(flags::SYN)
                && !s.r.has(flags::ECE) && !s.r.has(flags::CWR)),
            "{again:?}"
        );
        assert_eq!(c.stats.ecn_conns, 0);
        let r = TcpRepr {
            src_port: PEER.port(),
            dst_port: US.port(),
            seq: PEER_ISS,
            ack: Seq(OUR_ISS) + 1,
            flags: flags::SYN | flags::ACK | flags::ECE,
            window: 65_535,
            ..TcpRepr::default()
        };
        c.deliver(&r, &[]);
        assert_eq!(c.tcb.state, State::Established);
        assert!(c.tcb.ecn_ok);
        assert_eq!(c.stats.ecn_conns, 1);
    }

    /// A simultaneous open after our SYN went out again without asking: the peer's
    /// ECN-setup SYN is not agreed to, since the peer may have seen only the plain one
    /// (RFC 3168 6.1.1).
    #[test]
    fn a_simultaneous_open_after_a_plain_syn_does_not_agree() {
        for retransmitted in [false, true] {
            let cfg = TcpConfig {
                ecn: EcnMode::On,
                ..TcpConfig::default()
            };
            let mut c = Conn::connecting(cfg, opts(), 1500);
            c.take();
            if retransmitted {
                let rto = c.tcb.rtt.rto();
                c.advance(rto);
                c.take();
            }
            let r = TcpRepr {
                src_port: PEER.port(),
                dst_port: US.port(),
                seq: PEER_ISS,
                flags: flags::SYN | flags::ECE | flags::CWR,
                window: 65_535,
                ..TcpRepr::default()
            };
            c.deliver(&r, &[]);
            assert_eq!(c.tcb.state, State::SynReceived);
            assert_eq!(c.tcb.ecn_ok, !retransmitted);
        }
    }

    /// After a timeout the peer echoes ECE until our CWR, which rides only on new data:
    /// the resend's slow start grows on those ACKs all the same (only congestion
    /// avoidance holds on an ECE), and the timeout's reduction covers the congestion.
    #[test]
    fn slow_start_after_a_timeout_grows_on_ece_acks() {
        let mut c = ecn_conn();
        c.tcb.sack_ok = false;
        // The timeout, not a loss probe (due before it, it would go in its place).
        c.tcb.tlp_enabled = false;
        send(&mut c, 10 * PEER_MSS);
        let rto = c.tcb.rtt.rto();
        c.advance(rto);
        c.take();
        let one = c.tcb.cc.cwnd();
        assert!(one < c.tcb.cc.ssthresh());
        let r = c.seg(flags::ACK | flags::ECE, c.tcb.snd_una + PEER_MSS);
        c.deliver(&r, &[]);
        assert!(c.tcb.cc.cwnd() > one, "{} after {one}", c.tcb.cc.cwnd());
        assert_eq!(c.stats.ecn_reductions, 0);
    }

    /// New data is ECT(0); a retransmission and data of a connection without ECN are not.
    #[test]
    fn new_data_is_ect_and_a_retransmission_is_not() {
        let mut c = ecn_conn();
        let sent = send(&mut c, 1000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].meta.tos & 0b11, ECT0);
        let rto = c.tcb.rtt.rto();
        c.advance(rto);
        let again = c.take();
        assert!(!again.is_empty(), "the timeout's retransmission");
        assert!(again.iter().all(|s| s.meta.tos & 0b11 == 0), "{again:?}");
        let (mut plain, _) = open(EcnMode::Accept, flags::ECE);
        let sent = send(&mut plain, 1000);
        assert_eq!(sent[0].meta.tos & 0b11, 0);
    }

    /// A CE-marked segment is acknowledged at once with ECE, and every ACK echoes it until
    /// a segment with CWR comes (RFC 3168 6.1.3).
    #[test]
    fn congestion_experienced_is_echoed_until_cwr() {
        let mut c = ecn_conn();
        let r = TcpRepr {
            ecn: 0b11,
            ..c.seg(flags::ACK, c.our_una())
        };
        c.deliver(&r, &[1; 100]);
        c.peer_nxt = c.peer_nxt + 100;
        let ack = c.take();
        assert!(
            matches!(&ack[..], [a] if a.r.has(flags::ECE)),
            "at once, with ECE: {ack:?}"
        );
        assert_eq!(c.stats.ecn_ce_in, 1);
        // Unmarked data after it: its ACK still echoes; so does our data.
        for _ in 0..2 {
            c.data(&[2; PEER_MSS]);
        }
        let acks = c.take();
        assert!(!acks.is_empty() && acks.iter().all(|a| a.r.has(flags::ECE)));
        let data = send(&mut c, 100);
        assert!(data[0].r.has(flags::ECE));
        // The sender's CWR ends it.
        let cwr = c.seg(flags::ACK | flags::CWR, c.tcb.snd_max);
        c.deliver(&cwr, &[3; 100]);
        c.peer_nxt = c.peer_nxt + 100;
        let after = c.take();
        assert!(
            matches!(&after[..], [a] if !a.r.has(flags::ECE)),
            "CWR with data: answered at once, without ECE: {after:?}"
        );
        // Without ECN agreed, a CE mark is not echoed.
        let (mut plain, _) = open(EcnMode::Accept, 0);
        let r = TcpRepr {
            ecn: 0b11,
            ..plain.seg(flags::ACK, plain.our_una())
        };
        plain.deliver(&r, &[1; 100]);
        assert!(plain.take().iter().all(|a| !a.r.has(flags::ECE)));
    }

    /// An ECE halves the window once per window of data, and the next new segment (alone,
    /// not in a burst) carries CWR.
    #[test]
    fn an_ece_halves_the_window_once_per_window_and_cwr_follows() {
        let mut c = ecn_conn();
        send(&mut c, 20 * PEER_MSS);
        // Let the window grow, then an ECE on an ACK of new data.
        for _ in 0..4 {
            let r = c.seg(flags::ACK, c.tcb.snd_una + 2 * PEER_MSS);
            c.deliver(&r, &[]);
        }
        c.take();
        let before = c.tcb.cc.cwnd();
        let r = c.seg(flags::ACK | flags::ECE, c.tcb.snd_una + PEER_MSS);
        c.deliver(&r, &[]);
        let cwnd = c.tcb.cc.cwnd();
        assert!(cwnd < before, "{cwnd} after {before}");
        assert_eq!(c.stats.ecn_reductions, 1);
        assert_eq!(c.stats.retransmits, 0, "nothing sent again");
        // More ECEs for data sent before the reduction: the same congestion.
        let r = c.seg(flags::ACK | flags::ECE, c.tcb.snd_una + PEER_MSS);
        c.deliver(&r, &[]);
        assert_eq!(c.stats.ecn_reductions, 1);
        assert_eq!(c.tcb.cc.cwnd(), cwnd, "neither reduced again nor grown");
        // The next new data: CWR on the first segment only.
        c.take();
        let all = c.tcb.snd_max;
        let r = c.seg(flags::ACK, all);
        c.deliver(&r, &[]);
        let sent = send(&mut c, 4 * PEER_MSS);
        let cwr: Vec<bool> = sent.iter().map(|s| s.r.has(flags::CWR)).collect();
        assert!(cwr.first() == Some(&true), "{sent:?}");
        assert!(cwr[1..].iter().all(|c| !c), "{sent:?}");
        assert!(sent[0].data.len() <= PEER_MSS, "the CWR segment alone");
        // Once the data sent after the reduction is acknowledged, an ECE counts again.
        let r = c.seg(flags::ACK | flags::ECE, c.tcb.snd_max);
        c.deliver(&r, &[]);
        assert_eq!(c.stats.ecn_reductions, 2);
    }

    /// An ECE that starts a reduction in slow start cuts the window it found: the ACK that
    /// carries it does not grow the window first.
    #[test]
    fn an_ece_in_slow_start_cuts_the_window_before_this_ack() {
        let mut c = ecn_conn();
        send(&mut c, 20 * PEER_MSS);
        let before = c.tcb.cc.cwnd();
        assert!(before < c.tcb.cc.ssthresh(), "slow start");
        let r = c.seg(flags::ACK | flags::ECE, c.tcb.snd_una + 2 * PEER_MSS);
        c.deliver(&r, &[]);
        assert_eq!(c.stats.ecn_reductions, 1);
        assert_eq!(c.tcb.cc.cwnd(), before * 7 / 10, "CUBIC's beta of {before}");
    }

    /// After an ECN reduction the window holds for a round trip: ACKs with ECE or without
    /// it do not grow it until the data sent before the reduction is acknowledged, and an
    /// ECE on the ACK that ends that round grows it no more than it reduces it. An ECE
    /// is counted as no loss.
    #[test]
    fn the_window_holds_for_the_round_trip_after_an_ecn_reduction() {
        let mut c = ecn_conn();
        c.tcb
            .cc
            .set_algorithm(crate::tcp::CongestionAlgorithm::Reno);
        send(&mut c, 40 * PEER_MSS);
        // An ACK up to `to`, or of one more segment.
        let ack = |c: &mut Conn, to: Option<Seq>, ece: bool| {
            let f = if ece {
                flags::ACK | flags::ECE
            } else {
                flags::ACK
            };
            let to = to.unwrap_or(c.tcb.snd_una + PEER_MSS);
            let r = c.seg(f, to);
            c.deliver(&r, &[]);
            c.take();
            c.tcb.cc.cwnd()
        };
        let grown = ack(&mut c, None, false);
        let cut = ack(&mut c, None, true);
        assert!(cut < grown, "{cut} after {grown}");
        assert_eq!(c.stats.ecn_reductions, 1);
        assert_eq!(c.tcb.cc.losses(), 0, "an ECE is no loss");
        let high = c.tcb.ecn_high;
        assert!(
            (c.tcb.snd_una + 3 * PEER_MSS).lt(high),
            "a round trip to go"
        );
        assert_eq!(ack(&mut c, None, false), cut);
        assert_eq!(ack(&mut c, None, true), cut);
        assert_eq!(ack(&mut c, Some(high - PEER_MSS), false), cut);
        // The round is over at `high`; an ECE there is about data sent before the
        // reduction (no new one), and its ACK does not grow the window either.
        assert_eq!(ack(&mut c, Some(high), true), cut);
        assert_eq!(c.stats.ecn_reductions, 1);
        let after = ack(&mut c, None, false);
        assert!(after > cut, "grows again: {after} after {cut}");
    }

    /// A reduction for a loss (here a timeout) is said with CWR too, on the first new
    /// data after it, not on the retransmission (RFC 3168 6.1.2: "for any reason"); a CE
    /// mark on a segment without data starts no echo.
    #[test]
    fn a_loss_reduction_is_said_with_cwr_and_a_marked_pure_ack_is_not_echoed() {
        let mut c = ecn_conn();
        c.tcb.tlp_enabled = false;
        send(&mut c, 1000);
        let rto = c.tcb.rtt.rto();
        c.advance(rto);
        let again = c.take();
        assert!(again.iter().all(|s| !s.r.has(flags::CWR)), "{again:?}");
        let r = TcpRepr {
            ecn: 0b11,
            ..c.seg(flags::ACK, c.tcb.snd_max)
        };
        c.deliver(&r, &[]);
        assert_eq!(c.stats.ecn_ce_in, 0);
        let sent = send(&mut c, 100);
        assert!(
            matches!(&sent[..], [s] if s.r.has(flags::CWR) && !s.r.has(flags::ECE)),
            "{sent:?}"
        );
        assert_eq!(c.stats.ecn_reductions, 0, "the timeout's, not an ECE's");
    }
}
