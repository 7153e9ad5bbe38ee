//! Timer review: each test shows one defect found in the RTT estimator, the
//! retransmission timer or the user timeout (see the test's comment).

use super::harness::*;
use super::*;

/// Run the connection's timers one deadline at a time until it closes or `limit` has
/// passed since `start`; the time of the first segment sent on the way.
fn run_timers(c: &mut Conn, start: Instant, limit: Duration) -> Option<Instant> {
    let mut first_sent = None;
    while c.tcb.state != State::Closed && c.now < start + limit {
        let at = c.tcb.poll_at().expect("a timer runs");
        c.advance(at.saturating_duration_since(c.now));
        if !c.take().is_empty() {
            first_sent.get_or_insert(c.now);
        }
    }
    first_sent
}

/// RFC 6298 5.7: when the SYN (or SYN-ACK) timed out and no RTT sample came from the
/// handshake, "the RTO MUST be re-initialized to 3 seconds when data transmission
/// begins" (Linux's tcp_init_metrics sets icsk_rto = TCP_TIMEOUT_FALLBACK, 3 s). After
/// two SYN timeouts the backed-off RTO is 4 s, and it was kept (`after_syn_retransmit`
/// took the larger of it and 3 s): after six it would be 64 s for the first data.
#[test]
fn after_a_lost_syn_the_rto_is_reinitialized_to_three_seconds() {
    // No timestamps: the handshake measures nothing (Karn's rule after the resend).
    let cfg = TcpConfig {
        timestamps: false,
        ..TcpConfig::default()
    };
    let mut c = Conn::connecting(cfg, opts(), 1500);
    assert_eq!(c.take().len(), 1);
    c.advance(Duration::from_secs(1));
    c.advance(Duration::from_secs(2));
    let syns = c.take();
    assert_eq!(syns.len(), 2, "two SYN retransmissions: {syns:?}");
    assert_eq!(c.tcb.rtt.rto(), Duration::from_secs(4), "backed off twice");
    c.now += Duration::from_millis(100);
    c.deliver(&synack(Some(PEER_MSS as u16)), &[]);
    assert_eq!(c.tcb.state, State::Established);
    assert_eq!(c.tcb.rtt.srtt(), None, "no sample from the handshake");
    assert_eq!(c.tcb.rtt.rto(), Duration::from_secs(3));
}

/// TCP_USER_TIMEOUT set by the application bounds the retransmissions on time: as
/// Linux's tcp_clamp_rto_to_user_timeout (commit b701a99e431d), the retransmission
/// timer never runs past the user timeout, so the connection fails once unacknowledged
/// data has been retransmitted for that long (RFC 5482: how long "transmitted data may
/// remain unacknowledged"), not at the next backed-off timeout. Here 30 s: timeouts at
/// 0.2, 0.6, 1.4, ... 25.4 s and 51 s ended it 20.8 s late (and up to the largest RTO,
/// 120 s, for larger timeouts). The persist timer is already clamped this way.
#[test]
fn a_set_user_timeout_ends_the_retransmissions_on_time() {
    let mut o = opts();
    o.user_timeout = Some(Duration::from_secs(30));
    let mut c = Conn::established(o);
    c.tcb.tlp_enabled = false;
    c.tcb.write(&[7u8; 100]);
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 1);
    let start = c.now;
    let first_rtx = run_timers(&mut c, start, Duration::from_secs(600)).expect("retransmitted");
    assert_eq!(c.tcb.state, State::Closed);
    assert_eq!(c.tcb.error, Some(TcpError::TimedOut));
    assert_eq!(c.stats.user_timeouts, 1);
    let took = c.now.saturating_duration_since(first_rtx);
    assert!(
        took >= Duration::from_secs(30) && took <= Duration::from_millis(30_200),
        "ended {took:?} after the first retransmission"
    );
}

/// TCP_USER_TIMEOUT set before connect bounds the SYN's retransmissions too: Linux's
/// tcp_write_timeout applies it in SYN-SENT (retransmits_timed_out with icsk_user_timeout
/// from retrans_stamp, which tcp_connect sets when the SYN leaves; the timer clamped to
/// it), and RFC 9293 3.8.3 has SYN retransmissions "handled in the general way", with an
/// R2 the application can set (MUST-21). Ignored here: a connect with a 5 s user timeout
/// to a silent host failed only after the six SYN retransmissions, 127 s.
#[test]
fn a_set_user_timeout_bounds_the_syn_retransmissions() {
    let mut o = opts();
    o.user_timeout = Some(Duration::from_secs(5));
    let mut c = Conn::connecting(TcpConfig::default(), o, 1500);
    assert_eq!(c.take().len(), 1);
    let start = c.now;
    run_timers(&mut c, start, Duration::from_secs(600));
    assert_eq!(c.tcb.state, State::Closed);
    assert_eq!(c.tcb.error, Some(TcpError::TimedOut));
    let took = c.now.saturating_duration_since(start);
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_millis(5_200),
        "connect failed {took:?} after the SYN"
    );
}

/// The SYN-SENT user timeout is the handshake's: once established, the data's own
/// retransmissions are timed from their first timeout (the clock does not carry over
/// from the SYN).
#[test]
fn the_syn_sent_user_timeout_does_not_carry_over_to_the_data() {
    let mut o = opts();
    o.user_timeout = Some(Duration::from_secs(5));
    let mut c = Conn::connecting(TcpConfig::default(), o, 1500);
    c.take();
    c.advance(Duration::from_secs(1));
    assert_eq!(c.take().len(), 1, "the SYN again");
    c.now += Duration::from_secs(3);
    c.deliver(&synack(Some(PEER_MSS as u16)), &[]);
    assert_eq!(c.tcb.state, State::Established);
    c.take();
    c.tcb.tlp_enabled = false;
    c.tcb.write(&[7u8; 100]);
    c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
    assert_eq!(c.take().len(), 1);
    let start = c.now;
    let first_rtx = run_timers(&mut c, start, Duration::from_secs(600)).expect("retransmitted");
    assert_eq!(c.tcb.state, State::Closed);
    let took = c.now.saturating_duration_since(first_rtx);
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_millis(5_200),
        "ended {took:?} after the first retransmission"
    );
}
