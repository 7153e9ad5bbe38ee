//! Round-trip time measurement and the retransmission timeout (RFC 6298, RFC 7323 4).

use super::*;

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
            self.rtt_update(cfg, r, expected);
            return;
        }
        if let Some(r) = timed {
            self.rtt_update(cfg, r, 1);
        }
    }

    /// The round trip an echoed TSecr measures, if timestamps are on and it is sane (not
    /// from the future, not older than the longest RTO).
    pub(super) fn echo_rtt(&self, cfg: &TcpConfig, now: Instant) -> Option<Duration> {
        let ecr = self.rx_tsecr.filter(|_| self.ts_ok)?;
        let ms = self.ts_now(now).wrapping_sub(ecr);
        let r = Duration::from_millis(u64::from(ms));
        (ms < 1 << 31 && r <= cfg.rto_max).then_some(r)
    }

    /// RFC 6298 2.2-2.3 with one sample `r`, weighted 1/`n` (alpha/n, beta/n).
    pub(super) fn rtt_update(&mut self, cfg: &TcpConfig, r: Duration, n: u32) {
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
        let s = self.srtt.unwrap_or(r);
        let g = Duration::from_millis(1);
        self.rto = (s + (self.rttvar * 4).max(g)).clamp(cfg.rto_min, cfg.rto_max);
    }
}
