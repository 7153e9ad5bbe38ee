//! Review of urgent data, keep-alives, zero-window probing and the user timeout: each
//! test shows one defect found (see the test's comment).

use super::harness::*;
use super::*;

/// The peer shuts its window with an ACK, then nothing is exchanged for longer than the
/// stack's default user timeout (300 s); the application then writes. The persist timer
/// must probe the window (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17: the connection stays
/// open while the peer answers), and Linux's tcp_probe_timer never gives up before its
/// first probe (it times the window from that probe, icsk_probes_tstamp). Before, the
/// timer measured the silence from the last segment received, long before any probe,
/// and failed the connection with `TimedOut` at its first run, nothing sent.
#[test]
fn a_window_shut_long_ago_is_probed_before_the_peer_is_given_up() {
    for ut in [None, Some(Duration::from_secs(60))] {
        let mut o = opts();
        o.user_timeout = ut;
        let mut c = Conn::established(o);
        c.shut_window();
        c.take();
        // Idle: nobody sends anything for ten minutes.
        c.now += Duration::from_secs(600);
        c.tcb.write(&[7u8; 100]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert!(c.take().is_empty(), "nothing goes into a shut window");
        let at = c.tcb.poll_at().expect("the persist timer runs");
        c.advance(at.saturating_duration_since(c.now));
        let out = c.take();
        assert_eq!(c.tcb.state, State::Established, "{ut:?}: given up unprobed");
        assert_eq!(out.len(), 1, "{ut:?}: a window probe");
        assert_eq!(c.stats.user_timeouts, 0);
        // The peer answers, its window still shut: the probing goes on.
        c.shut_window();
        let at = c.tcb.poll_at().expect("the persist timer runs");
        c.advance(at.saturating_duration_since(c.now));
        assert_eq!(c.tcb.state, State::Established);
        assert_eq!(c.take().len(), 1, "{ut:?}: probed again");
    }
}

/// A peer that stops answering the zero-window probes while an ICMP error about it is
/// known (a host unreachable, kept as the soft error): the persist timer gives up with
/// that error, as the retransmission and keepalive timers do and as Linux's
/// tcp_probe_timer does (tcp_write_err: `sk_err_soft ?: ETIMEDOUT`). Before, it always
/// reported `TimedOut`, and the ICMP error was lost.
#[test]
fn zero_window_probes_unanswered_after_an_icmp_error_report_it() {
    for ut in [None, Some(Duration::from_secs(30))] {
        let mut o = opts();
        o.user_timeout = ut;
        let mut c = Conn::established(o);
        c.shut_window();
        c.tcb.write(&[7u8; 100]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        assert!(c.take().is_empty());
        let at = c.tcb.poll_at().expect("the persist timer runs");
        c.advance(at.saturating_duration_since(c.now));
        assert_eq!(c.take().len(), 1, "a window probe");
        c.tcb.icmp_error(TcpError::HostUnreachable, true);
        let start = c.now;
        while c.tcb.state != State::Closed && c.now < start + Duration::from_secs(3600) {
            let at = c.tcb.poll_at().expect("a timer runs");
            c.advance(at.saturating_duration_since(c.now));
            c.take();
        }
        assert_eq!(c.tcb.state, State::Closed, "{ut:?}");
        assert_eq!(c.stats.user_timeouts, 1);
        assert_eq!(c.tcb.error, Some(TcpError::HostUnreachable), "{ut:?}");
    }
}

/// An ICMP error about the peer (kept as the soft error) is void once the peer answers
/// with an acceptable ACK, even one that acknowledges nothing new such as the answer to
/// a keepalive probe: Linux's tcp_ack clears sk_err_soft on every such ACK ("Something
/// worked"). So a keepalive that later times out reports `TimedOut`, not the old ICMP
/// error. Before, only an ACK of new data cleared it, and the stale host unreachable
/// was reported.
#[test]
fn an_answered_keepalive_probe_clears_an_earlier_icmp_error() {
    let mut o = opts();
    o.keepalive = true;
    o.keep_idle = 10;
    o.keep_interval = 5;
    o.keep_count = 2;
    let mut c = Conn::established(o);
    c.tcb.rearm_keepalive(&c.cfg, true, c.now);
    c.advance(Duration::from_secs(10));
    let out = c.take();
    assert_eq!(out.len(), 1, "the first probe");
    assert_eq!(out[0].r.seq, c.our_una() - 1);
    // A transient host unreachable, then the peer's answer to the probe.
    c.tcb.icmp_error(TcpError::HostUnreachable, true);
    c.now += Duration::from_millis(50);
    let r = c.seg(flags::ACK, c.our_una());
    c.deliver(&r, &[]);
    assert!(c.take().is_empty());
    // The peer then goes silent for good.
    let start = c.now;
    while c.tcb.state != State::Closed && c.now < start + Duration::from_secs(600) {
        let at = c.tcb.poll_at().expect("a timer runs");
        c.advance(at.saturating_duration_since(c.now));
        c.take();
    }
    assert_eq!(c.tcb.state, State::Closed);
    assert_eq!(c.stats.keepalive_timeouts, 1);
    assert_eq!(c.tcb.error, Some(TcpError::TimedOut));
}
