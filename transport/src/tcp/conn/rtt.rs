//! Round-trip time measurement and the retransmission timeout (RFC 6298, RFC 7323 4).

use super::*;

/// The RFC 6298 estimator: smoothed RTT, its variation and the retransmission timeout
/// they give, plus the smallest sample (RFC 8985's min_RTT).
#[derive(Clone, Copy, Debug)]
pub(super) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rtt: Option<Duration>,
    /// The latest sample (HyStart++'s `currentRTT`).
    latest: Option<Duration>,
}

impl RttEstimator {
    /// No sample yet: the RTO is `initial` (RFC 6298 2.1: 1 s).
    pub(super) fn new(initial: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial,
            min_rtt: None,
            latest: None,
        }
    }

    pub(super) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub(super) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    pub(super) fn rto(&self) -> Duration {
        self.rto
    }

    /// The smallest sample seen on this connection.
    pub(super) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// The latest sample.
    pub(super) fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// RFC 6298 2.2-2.3 with one sample `r`, weighted 1/`n` (alpha/n, beta/n: RFC 7323
    /// appendix G, for several samples per round trip); the RTO is kept within `min..=max`
    /// with a clock granularity of 1 ms.
    pub(super) fn sample(&mut self, r: Duration, n: u32, min: Duration, max: Duration) {
        let n = n.max(1);
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let delta = s.abs_diff(r);
                // rttvar += (delta - rttvar) / (4n); srtt += (r - srtt) / (8n).
                self.rttvar = (self.rttvar * (4 * n - 1) + delta) / (4 * n);
                self.srtt = Some((s * (8 * n - 1) + r) / (8 * n));
            }
        }
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        self.latest = Some(r);
        let s = self.srtt.unwrap_or(r);
        let g = Duration::from_millis(1);
        self.rto = (s + (self.rttvar * 4).max(g)).clamp(min, max);
    }

    /// A retransmission timeout: double the RTO, up to `max` (RFC 6298 5.5).
    pub(super) fn back_off(&mut self, max: Duration) {
        self.rto = (self.rto * 2).min(max);
    }

    /// RFC 6298 5.7: the SYN or SYN-ACK timed out and no sample was taken: once the
    /// connection is up, the RTO "MUST be re-initialized to 3 seconds" (Linux's
    /// TCP_TIMEOUT_FALLBACK), whatever the handshake's backoff made it; an `initial` RTO
    /// above 3 s stands. At most `max`.
    pub(super) fn after_syn_retransmit(&mut self, initial: Duration, max: Duration) {
        if self.srtt.is_none() {
            self.rto = initial.max(Duration::from_secs(3)).min(max);
        }
    }
}

impl Tcb {
    pub(super) fn take_rtt_sample(&mut self, cfg: &TcpConfig, ack: Seq, now: Instant) {
        // The timed segment (not retransmitted: Karn's rule, RFC 6298 3) is acknowledged.
        let timed = self
            .rtt_sample
            .filter(|&(seq, _)| ack.gt(seq))
            .map(|(_, sent)| now.saturating_duration_since(sent));
        if timed.is_some() {
            self.rtt_sample = None;
        }
        // With timestamps every ACK that advances SND.UNA measures, from its echo (RFC 7323
        // 4.2), retransmissions included: the echo names the transmission the peer
        // answered, so Karn's ambiguity does not arise (RFC 6298 3). Several samples per
        // round trip each weigh 1/ExpectedSamples (RFC 7323 appendix G).
        if let Some(echo) = self.echo_rtt(cfg, now) {
            // The packet clock has finer grain than the milliseconds of TSvals: prefer it
            // when both measure the same round trip.
            let r = timed
                .filter(|t| t.abs_diff(echo) <= Duration::from_millis(1))
                .unwrap_or(echo);
            let flight = self.snd_max.since(self.snd_una);
            let expected = flight.div_ceil(2 * self.mss.max(1)).max(1) as u32;
            self.rtt.sample(r, expected, cfg.rto_min, cfg.rto_max);
            return;
        }
        if let Some(r) = timed {
            self.rtt.sample(r, 1, cfg.rto_min, cfg.rto_max);
        }
    }

    /// The round trip an echoed TSecr measures, if timestamps are on and it is sane (not
    /// from the future, not older than the longest RTO).
    pub(super) fn echo_rtt(&self, cfg: &TcpConfig, now: Instant) -> Option<Duration> {
        let ecr = self.rx_tsecr.filter(|_| self.ts_ok)?;
        if self
            .ts_echo_floor
            .is_some_and(|f| (ecr.wrapping_sub(f) as i32) < 0)
        {
            return None;
        }
        let ms = self.ts_now(now).wrapping_sub(ecr);
        let r = Duration::from_millis(u64::from(ms));
        (ms < 1 << 31 && r <= cfg.rto_max).then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::*;

    const MIN: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(120);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_sets_srtt_and_half_of_it_as_variation() {
        let mut e = RttEstimator::new(Duration::from_secs(1));
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(ms(100), 1, MIN, MAX);
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        // RTO = SRTT + 4 * RTTVAR (RFC 6298 2.2).
        assert_eq!(e.rto(), ms(300));
        assert_eq!(e.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn later_samples_move_by_an_eighth_and_a_quarter() {
        let mut e = RttEstimator::new(Duration::from_secs(1));
        e.sample(ms(100), 1, MIN, MAX);
        e.sample(ms(180), 1, MIN, MAX);
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 180| = 57.5; SRTT = 7/8 * 100 + 1/8 * 180 = 110.
        assert_eq!(e.srtt(), Some(ms(110)));
        assert_eq!(e.rttvar(), Duration::from_micros(57_500));
        assert_eq!(e.rto(), ms(340));
        assert_eq!(e.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn weighted_samples_count_for_less() {
        let mut one = RttEstimator::new(Duration::from_secs(1));
        let mut many = one;
        one.sample(ms(100), 1, MIN, MAX);
        many.sample(ms(100), 1, MIN, MAX);
        one.sample(ms(200), 1, MIN, MAX);
        many.sample(ms(200), 4, MIN, MAX);
        // 1/32 of the difference instead of 1/8.
        assert_eq!(many.srtt(), Some(Duration::from_micros(103_125)));
        assert!(many.srtt() < one.srtt());
    }

    /// RFC 7323 appendix G: with ExpectedSamples n, beta' = beta / n as well as alpha' =
    /// alpha / n: the variation moves by 1/(4n) of the difference too.
    #[test]
    fn weighted_samples_move_the_variation_by_a_quarter_of_their_weight() {
        let mut e = RttEstimator::new(Duration::from_secs(1));
        e.sample(ms(100), 1, MIN, MAX);
        e.sample(ms(200), 2, MIN, MAX);
        // RTTVAR = 7/8 * 50 + 1/8 * 100 = 56.25; SRTT = 15/16 * 100 + 1/16 * 200 = 106.25.
        assert_eq!(e.rttvar(), Duration::from_micros(56_250));
        assert_eq!(e.srtt(), Some(Duration::from_micros(106_250)));
        assert_eq!(e.rto(), Duration::from_micros(106_250 + 4 * 56_250));
    }

    #[test]
    fn rto_is_clamped_and_backs_off_to_the_maximum() {
        let mut e = RttEstimator::new(Duration::from_secs(1));
        e.sample(ms(1), 1, MIN, MAX);
        assert_eq!(e.rto(), MIN);
        for _ in 0..20 {
            e.back_off(MAX);
        }
        assert_eq!(e.rto(), MAX);
        e.sample(Duration::from_secs(500), 1, MIN, MAX);
        assert_eq!(e.rto(), MAX);
    }

    #[test]
    fn a_retransmitted_syn_without_a_sample_leaves_at_least_three_seconds() {
        let mut e = RttEstimator::new(Duration::from_secs(1));
        e.after_syn_retransmit(Duration::from_secs(1), MAX);
        assert_eq!(e.rto(), Duration::from_secs(3));
        let mut f = RttEstimator::new(Duration::from_secs(1));
        f.sample(ms(10), 1, MIN, MAX);
        f.after_syn_retransmit(Duration::from_secs(1), MAX);
        assert_eq!(f.rto(), MIN);
    }

    /// A segment of `n` bytes from the application, sent now; its TSval.
    fn send(c: &mut Conn, n: usize) -> u32 {
        c.tcb.write(&vec![7; n]);
        c.tcb.output(&c.cfg, &mut c.tx, &mut c.stats, c.now);
        let out = c.take();
        assert_eq!(out.len(), 1);
        out[0].r.timestamp.expect("timestamps are on").0
    }

    /// The peer's ACK of everything sent, echoing `ecr`.
    fn ack_echoing(c: &mut Conn, ecr: u32) {
        let mut r = c.seg(flags::ACK, c.tcb.snd_max);
        r.timestamp = Some((PEER_TS + 1, ecr));
        c.deliver(&r, &[]);
    }

    /// RFC 7323 4.2 measures from the echo; when the packet clock timed the same round
    /// trip (they agree to within the TSval's millisecond) its finer sample is the one
    /// taken.
    #[test]
    fn the_timed_sample_is_taken_when_it_agrees_with_the_echo_to_a_millisecond() {
        let mut c = Conn::established_ts(opts());
        // 0.3 ms into a millisecond of the TSval clock: the echo reads 100 ms, the
        // timer 99.7 ms.
        c.now += Duration::from_micros(300);
        let tsval = send(&mut c, 900);
        let srtt = c.tcb.rtt.srtt().expect("the handshake's sample");
        c.now += Duration::from_micros(99_700);
        ack_echoing(&mut c, tsval);
        assert_eq!(
            c.tcb.rtt.srtt(),
            Some((srtt * 7 + ms(99) + Duration::from_micros(700)) / 8)
        );
    }

    /// An ACK of the timed segment that echoes a later TSval (the ACK of the timed segment
    /// was lost, and the next one echoes the segment that came after it, RFC 7323 4.3):
    /// the two disagree, and the echo's round trip is the sample, not the timer's, which
    /// includes the wait for the lost ACK.
    #[test]
    fn an_echo_of_a_later_segment_is_the_sample_when_the_timer_disagrees() {
        // Two short segments in flight at once: no Nagle.
        let mut c = Conn::established_ts(crate::tcp::ConnOpts {
            nodelay: true,
            ..opts()
        });
        send(&mut c, 900);
        c.now += ms(20);
        let later = send(&mut c, 900);
        let srtt = c.tcb.rtt.srtt().expect("the handshake's sample");
        c.now += ms(100);
        ack_echoing(&mut c, later);
        assert_eq!(c.tcb.rtt.srtt(), Some((srtt * 7 + ms(100)) / 8));
    }

    /// An echo older than the longest RTO (here 200 s) is not a round trip of this
    /// connection's traffic (RFC 7323 4.2: a TSecr must be sane to be used).
    #[test]
    fn an_echo_older_than_the_longest_rto_is_no_sample() {
        let mut c = Conn::established_ts(opts());
        let now = c.now + ms(500);
        let ts = c.tcb.ts_now(now);
        c.tcb.rx_tsecr = Some(ts.wrapping_sub(30));
        assert_eq!(c.tcb.echo_rtt(&c.cfg, now), Some(ms(30)));
        let max = c.cfg.rto_max.as_millis() as u32;
        c.tcb.rx_tsecr = Some(ts.wrapping_sub(max));
        assert_eq!(c.tcb.echo_rtt(&c.cfg, now), Some(c.cfg.rto_max));
        c.tcb.rx_tsecr = Some(ts.wrapping_sub(200_000));
        assert_eq!(c.tcb.echo_rtt(&c.cfg, now), None);
        c.tcb.rx_tsecr = Some(ts.wrapping_add(5));
        assert_eq!(c.tcb.echo_rtt(&c.cfg, now), None, "an echo from the future");
    }

    /// After a SYN cookie the echoes of the cookie's TSval (up to 63 ms behind the clock)
    /// measure nothing, but a TSval from the connection's first millisecond on does: an
    /// echo equal to the floor is a sample.
    #[test]
    fn after_a_syn_cookie_an_echo_from_the_connections_first_millisecond_is_a_sample() {
        let mut c = Conn::established_ts(opts());
        let floor = c.tcb.ts_now(c.now);
        c.tcb.ts_echo_floor = Some(floor);
        let now = c.now + ms(40);
        c.tcb.rx_tsecr = Some(floor);
        assert_eq!(c.tcb.echo_rtt(&c.cfg, now), Some(ms(40)));
        c.tcb.rx_tsecr = Some(floor.wrapping_sub(1));
        assert_eq!(c.tcb.echo_rtt(&c.cfg, now), None);
    }
}
