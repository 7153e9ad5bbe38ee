//! Timestamps with PAWS (RFC 7323), idle restart (RFC 5681 4.1) and path-MTU discovery
//! (RFC 1191, RFC 5927).

use super::*;

/// Ticks a TSval may lag TS.Recent and still pass PAWS, as in Linux (TCP_PAWS_WINDOW).
/// A peer whose clock ticks each millisecond (Linux's) stamps an ACK that a later one
/// overtook by a millisecond one tick behind; RFC 7323's strict "<" drops it and the
/// SACK and D-SACK blocks it carries (in a 20 MB transfer to Linux over a path that holds
/// back 5% of the frames for 1 ± 1 ms, 75 to 186 ACKs). One tick in 2^31 weakens nothing
/// PAWS guards against: sequence numbers wrapped seconds, not a tick, apart.
const PAWS_WINDOW: i32 = 1;

impl Tcb {
    /// Our timestamp clock: milliseconds (RFC 7323 5.4 asks for 1 ms to 1 s per tick) plus
    /// the connection's random offset.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// PAWS (RFC 7323 5.3 R1): is `tsval` older than TS.Recent, which is still valid (taken
    /// less than 24 days ago, RFC 7323 5.5)? Compared modulo 2^32, and one tick of
    /// slack ([`PAWS_WINDOW`]).
    pub(super) fn paws_rejects(&self, tsval: u32, now: Instant) -> bool {
        let Some(at) = self.ts_recent_at else {
            return false;
        };
        if now.saturating_duration_since(at) > PAWS_IDLE {
            return false;
        }
        (self.ts_recent.wrapping_sub(tsval) as i32) > PAWS_WINDOW
    }

    /// RFC 7323 4.3 / 5.3 R3: an acceptable segment's TSval becomes TS.Recent if it is not
    /// older and the segment starts at or before Last.ACK.sent (so the echo is of the
    /// earliest segment an ACK of ours answers). After 24 idle days any TSval is taken.
    pub(super) fn update_ts_recent(&mut self, seg: &TcpRepr, now: Instant) {
        let Some((tsval, _)) = seg.timestamp.filter(|_| self.ts_ok) else {
            return;
        };
        let stale = self
            .ts_recent_at
            .is_none_or(|at| now.saturating_duration_since(at) > PAWS_IDLE);
        let newer = (tsval.wrapping_sub(self.ts_recent) as i32) >= 0;
        if (stale || newer) && seg.seq.le(self.last_ack_sent) {
            self.ts_recent = tsval;
            self.ts_recent_at = Some(now);
        }
    }

    /// Nothing outstanding and no data sent for longer than the RTO: the congestion window
    /// no longer reflects the path, so start again from at most the initial window.
    pub(super) fn idle_restart(&mut self, stats: &mut TcpStats, now: Instant) {
        // However short the idle time, CUBIC's clock leaves it out (RFC 9438 5.8; Linux's
        // CA_EVENT_TX_START): since the ACK that emptied the flight, once.
        self.cc.pause(now);
        let Some(at) = self.last_data_sent else {
            return;
        };
        if now.saturating_duration_since(at) <= self.rtt.rto() {
            return;
        }
        let iw = initial_window(self.mss);
        let idle = now.saturating_duration_since(at);
        if self.cc.on_idle_restart(iw, idle, now) {
            stats.idle_restarts += 1;
        }
        // This idle time is accounted for: every `output` while idle gets here (each
        // segment received runs one), and CUBIC's epoch moved by the whole idle time at
        // each (RFC 9438 5.8 leaves it out once). Further idle time counts from now.
        self.last_data_sent = Some(now);
    }

    /// A "fragmentation needed" about this connection whose quoted sequence number the
    /// caller checked (`seq_outstanding`): follow the path's MTU down and resend what is
    /// outstanding in segments that fit (RFC 1191 6.5: promptly, and not as a congestion
    /// signal). `mtu` 0 (a router from before RFC 1191) takes the next plateau below the
    /// datagram it quotes, `quoted_len` its Total Length (RFC 1191 5, 7.1), or below our
    /// full-sized datagrams when it quotes as much or more: 4.2BSD-derived routers add the
    /// header length to it (RFC 1191 5), and a router says 0 for one no longer than ours.
    /// The MSS never goes below 536 (an MTU of 576, which
    /// every host must take): a path narrower than that gets segments without DF, which
    /// routers may fragment (and one already there resends without DF). The path MTU goes
    /// to `ip`'s cache too. A connection in `IP_PMTUDISC_DONT` only tells `ip` (its
    /// segments carry no DF: the router fragments them), as Linux's `tcp_v4_mtu_reduced`.
    /// Returns the path MTU taken, if it lowered the MSS.
    pub fn path_mtu(
        &mut self,
        cfg: &TcpConfig,
        mtu: usize,
        quoted_len: usize,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> Option<usize> {
        let current = self.mss + 40;
        let mtu = if mtu < 68 {
            // A quoted length below 68 (which every link carries) is no datagram of ours.
            let sent = if (68..current).contains(&quoted_len) {
                quoted_len
            } else {
                current
            };
            plateau_below(sent)
        } else {
            mtu
        };
        if self.opts.pmtu == PmtuMode::Dont {
            tx.set_path_mtu(*self.remote.ip(), mtu, now);
            return None;
        }
        if self.state == State::SynSent {
            // About our SYN: the MSS is not agreed yet (the peer's SYN-ACK brings it), so
            // `ip` keeps the path MTU and the SYN-ACK's MSS is held to it.
            tx.set_path_mtu(*self.remote.ip(), mtu, now);
            return None;
        }
        let df = self.df;
        let lowered = self.lower_mss(mtu);
        if lowered.is_some() {
            stats.pmtu_updates += 1;
        }
        // Already at the floor, a narrower hop still: the MSS stays, DF goes, and the
        // segments that hop dropped must go again all the same.
        let df_gone = df && !self.df;
        if lowered.is_none() && !df_gone {
            return None;
        }
        // `ip` keeps it for the destination (and `pmtu_raise` reads it back from there):
        // what the router said, not our floor, so that below 552 `ip` locks it as for any
        // other socket's report (Linux's `inet_csk_update_pmtu` with the reported MTU).
        tx.set_path_mtu(*self.remote.ip(), mtu, now);
        if self.state.synchronized() && self.snd_una != self.snd_max {
            // What was sent at the old size is lost: send it again now, from SND.UNA.
            self.rtt_sample = None;
            if self.in_recovery && self.sack_ok {
                self.sb.mark_all_lost();
            } else {
                self.snd_nxt = self.snd_base;
            }
            self.output(cfg, tx, stats, now);
        }
        lowered
    }

    /// A path-MTU black hole suspected (`TcpConfig::pmtu_black_hole`): segments larger
    /// than `BLACK_HOLE_MSS` went with DF and timed out R1 times in a row, which a router
    /// that drops them without the "fragmentation needed" that should tell us (RFC 2923
    /// 2.1: filtered ICMP) explains. Taken as such a message would be: the MSS goes down
    /// to 1,024 (Linux's `tcp_base_mss`, from where its `tcp_mtu_probing` 1 starts), and at
    /// the next timeout to 536 without DF (for routers to fragment); `ip` keeps the MTU for
    /// the destination for its 10 minutes, after which `pmtu_raise` tries the larger
    /// segments again. The caller resends. Returns whether the segments shrank.
    pub(super) fn suspect_black_hole(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> bool {
        if !self.dont_fragment() || self.mss <= PMTU_MIN - 40 {
            // Without DF nothing is dropped for its size unheard; at 536 the segments
            // are as small as they go.
            return false;
        }
        let mtu = if self.mss > BLACK_HOLE_MSS {
            BLACK_HOLE_MSS + 40
        } else {
            // Below 576: the MSS is 536 and DF goes (`IP_PMTUDISC_DO` keeps it).
            PMTU_MIN - 1
        };
        // Only when what timed out was larger than what is now to be sent.
        if self.snd_max.since(self.snd_una) <= mtu.max(PMTU_MIN) - 40 {
            return false;
        }
        // Counted as a black hole, not as a router's message (`pmtu_updates`).
        self.lower_mss(mtu);
        stats.pmtu_black_holes += 1;
        tx.set_path_mtu(*self.remote.ip(), mtu.max(PMTU_MIN), now);
        true
    }

    /// DF on the connection's segments (`IP_MTU_DISCOVER`, see [`ConnOpts::pmtu`]): `Do`
    /// always, `Want` until the path is below 576, never `Dont` and `Probe`.
    pub(super) fn dont_fragment(&self) -> bool {
        match self.opts.pmtu {
            PmtuMode::Do => true,
            PmtuMode::Want => self.df,
            PmtuMode::Dont | PmtuMode::Probe => false,
        }
    }

    /// The offloads and MTU of the interface towards the peer, looked at before sending: a
    /// smaller MTU than our segments need (an `ifconfig mtu` while connected) shrinks them
    /// at once, as Linux's tcp_current_mss follows the route's MTU (RFC 9293 3.7.1: the
    /// segment size follows the MTU; a segment sized for the old MTU would be refused on
    /// every try, and the connection stall); `pmtu_raise` takes the size back up when the
    /// MTU grows again. Below 576 the segments go without DF, for `ip` to fragment.
    pub(super) fn follow_link(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats) {
        let Some((offload, mtu)) = tx.link(*self.remote.ip()) else {
            self.tso = false;
            return;
        };
        if mtu < self.mss + 40 && self.lower_mss(mtu).is_some() {
            stats.pmtu_updates += 1;
        }
        // Bursts for the device to cut only where the cut segments fit the link: below
        // 576 the segments are larger than the MTU, for `ip` to fragment, which it cannot
        // do to a burst (it refuses it, and the data would wait a timeout per burst).
        self.tso = offload.tso && offload.csum && self.mss + 40 <= mtu;
    }

    /// Segments for an MTU of `mtu` when it is below what they are sized for (the MSS
    /// never below 536: a narrower MTU gets segments without DF, for `ip` to fragment),
    /// remembered as a lowering `pmtu_raise` takes back. Returns the MTU taken, if it
    /// lowered the MSS.
    pub(super) fn lower_mss(&mut self, mtu: usize) -> Option<usize> {
        let mtu = if mtu < PMTU_MIN {
            // Without DF from here, until the path's estimate expires (`pmtu_raise`).
            self.df = false;
            self.pmtu_lowered.get_or_insert(self.mss);
            PMTU_MIN
        } else {
            mtu
        };
        let mss = mtu - 40;
        if mss >= self.mss {
            return None;
        }
        self.pmtu_lowered.get_or_insert(self.mss);
        self.mss = mss;
        Some(mtu)
    }

    /// After a lowered path MTU: once `ip`'s cache lets it go (10 minutes, RFC 1191 6.3),
    /// try larger segments again, up to the MSS from before (a path that is still narrow
    /// says so again).
    pub(super) fn pmtu_raise(&mut self, tx: &mut dyn IpTx) {
        let (Some(before), Some((_, mtu))) = (self.pmtu_lowered, tx.route_info(*self.remote.ip()))
        else {
            return;
        };
        let mss = mtu.saturating_sub(40).min(before);
        if mss > self.mss {
            self.mss = mss;
            self.df = true;
        } else if !self.df && mtu > PMTU_MIN {
            // DF cleared for a path narrower than 576, whose MSS was 536 or less
            // already: ip's estimate (at most 576 while it lasts, see `path_mtu`) expired, so
            // DF goes on again (RFC 1191 6.3).
            self.df = true;
        }
        if self.mss >= before && self.df {
            self.pmtu_lowered = None;
        }
    }
}

/// The smallest path MTU followed (RFC 791's 576; its MSS is RFC 9293's default 536).
pub const PMTU_MIN: usize = 576;

/// The MSS a suspected path-MTU black hole lowers larger segments to (Linux's
/// `tcp_base_mss`).
const BLACK_HOLE_MSS: usize = 1024;

/// RFC 1191 7.1's table of common MTUs, for routers that do not say the next-hop MTU.
const MTU_PLATEAUS: [usize; 11] = [
    65_535, 32_000, 17_914, 8_166, 4_352, 2_002, 1_492, 1_006, 508, 296, 68,
];

/// The largest plateau below `size`.
pub(crate) fn plateau_below(size: usize) -> usize {
    MTU_PLATEAUS.into_iter().find(|&p| p < size).unwrap_or(68)
}

/// TS.Recent older than this is invalid (RFC 7323 5.5: 24 days, below the 2^31 ms a TSval
/// comparison can span at 1 ms per tick).
pub const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);
