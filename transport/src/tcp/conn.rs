//! One TCP connection: its transmission control block and state machine (RFC 9293), with
//! RFC 5961's defences, RFC 6298's retransmission timer, RFC 5681/6582 congestion control,
//! and the timers of RFC 9293 and RFC 1122 (delayed ACK, persist, keepalive, TIME-WAIT,
//! user timeout). Sans-IO: every entry point takes `now` and the `IpTx` to send through.
//!
//! Sequence space bookkeeping: `sndq` holds the bytes from `snd_base` on (unacknowledged and
//! not yet sent). `snd_base` is `snd_una`, or `snd_una + 1` while our SYN is unacknowledged.
//! Our FIN, once the application has closed, sits at `snd_base + sndq.len()`.
//! Received bytes are numbered by a 64-bit stream offset (`rcv_off` is the offset of
//! `rcv_nxt`), so the out-of-order queue never compares wrapped sequence numbers.

use super::seq::Seq;
use super::wire::{flags, TcpRepr};
use super::{TcpConfig, TcpError, TcpStats};
use ip::{IpTx, SendMeta};
use netif::{Duration, Instant};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddrV4;

mod probe;
#[doc(hidden)]
pub use probe::TcbProbe;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// Has the three-way handshake completed (RFC 9293's "synchronized states")?
    pub fn synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-connection knobs the socket may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnOpts {
    pub nodelay: bool,
    pub keepalive: bool,
    pub rcvbuf: usize,
    pub sndbuf: usize,
    pub user_timeout: Duration,
}

/// What `netstat` shows of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    pub cwnd: usize,
    pub ssthresh: usize,
    pub srtt: Option<Duration>,
    pub rto: Duration,
    pub retransmits: u64,
    pub mss: usize,
    pub snd_wnd: usize,
    pub rcv_wnd: usize,
    /// Timestamps (RFC 7323) negotiated.
    pub timestamps: bool,
}

/// Largest window we can announce without scaling, and the scale limit (RFC 7323 2.3).
const MAX_WINDOW: usize = 65_535;
const MAX_WSCALE: u8 = 14;
/// The smallest MSS we honour from a peer: smaller values only waste packets.
const MIN_MSS: usize = 64;
/// The default MSS when the peer sends none (RFC 9293 3.7.1).
const DEFAULT_MSS: usize = 536;
const MAX_PERSIST: Duration = Duration::from_secs(60);

pub struct Tcb {
    pub state: State,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub opts: ConnOpts,
    /// Opened by a SYN to a listener (a failed handshake then vanishes quietly).
    pub passive: bool,
    /// Why the connection failed, for the application (taken once).
    pub error: Option<TcpError>,
    /// An ICMP error seen meanwhile, reported if the connection then times out.
    pub soft_error: Option<TcpError>,
    /// The application may not send any more (shutdown(Write) or close).
    pub fin_queued: bool,
    /// Something the application waits for changed (data, space, state).
    pub wake: bool,
    /// State changes since the owner last looked (for traces and the accept queue).
    pub transitions: Vec<(State, State)>,

    // Send sequence space.
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    snd_max: Seq,
    snd_base: Seq,
    snd_wnd: usize,
    max_snd_wnd: usize,
    snd_wl1: Seq,
    snd_wl2: Seq,
    snd_wscale: u8,
    sndq: VecDeque<u8>,

    // Receive sequence space.
    irs: Seq,
    rcv_nxt: Seq,
    /// The right edge of the window we announced (it never moves left).
    rcv_adv: Seq,
    rcv_wscale: u8,
    rcv_off: u64,
    rcvq: VecDeque<u8>,
    /// Out-of-order segments by stream offset; their byte total.
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    /// Stream offset of a FIN seen beyond a hole.
    ooo_fin: Option<u64>,
    /// Both ends offered SACK (RFC 2018): our ACKs report the out-of-order queue.
    sack_ok: bool,
    /// Where the most recent out-of-order segment began (RFC 2018: the first SACK block
    /// reports it).
    last_ooo: Option<u64>,
    /// The SACK scoreboard: ranges above SND.UNA the peer holds, sorted and merged.
    sacked: Vec<(Seq, Seq)>,
    /// In SACK recovery: where the search for the next hole to retransmit resumes.
    rtx_next: Seq,
    /// The recovery under way began with a retransmission timeout (slow start through
    /// it, and the tail beyond the last SACKed byte counts as lost too).
    rto_recovery: bool,
    /// Send one segment now whatever silly-window avoidance and Nagle say (persist's
    /// override), and also beyond the peer's window (a timeout's retransmission).
    force_sws: bool,
    force_window: bool,
    /// The largest segment the peer has sent (for the delayed-ACK rule).
    max_seg_seen: usize,
    /// An ACK is owed by the every-second-segment rule; inside a receive batch it waits for
    /// the batch's end, so a batch of in-order segments draws one ACK (see `segment`).
    ack_due: bool,
    /// The route's device cuts large segments for us (TSO): new data leaves in bursts of
    /// up to [`TSO_MAX`] bytes, one frame each. Looked up at each `output`.
    tso: bool,
    /// The peer's FIN has been received (in order).
    pub fin_received: bool,

    /// Segment size we send (the peer's MSS, clamped) and announce.
    mss: usize,
    rcv_mss: usize,

    // RFC 6298.
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    rtt_sample: Option<(Seq, Instant)>,
    backoff: u32,
    syn_retries: u32,
    /// SYN-ACK retransmissions allowed (the listener lowers it under pressure).
    pub synack_retries: u32,
    /// When this connection last answered an out-of-window segment or sent a challenge
    /// ACK (RFC 5961 7's per-connection limit).
    last_oow_ack: Option<Instant>,

    // RFC 5681 / 6582.
    cwnd: usize,
    ssthresh: usize,
    dupacks: u32,
    recover: Seq,
    in_recovery: bool,

    // Timers (deadlines).
    t_rtx: Option<Instant>,
    t_persist: Option<Instant>,
    persist_interval: Duration,
    t_delack: Option<Instant>,
    /// Tail loss probe (RFC 8985 7): fires before the RTO when ACKs stop coming.
    t_tlp: Option<Instant>,
    tlp_enabled: bool,
    /// Probes sent since SND.UNA last advanced.
    tlp_count: u32,
    /// SND.MAX when the segment at SND.UNA was last retransmitted: once data sent after
    /// that is SACKed while SND.UNA stays put, the retransmission was lost too.
    una_rtx_high: Option<Seq>,
    /// The application has let go (set by the owner): zero-window probing is bounded.
    pub orphan: bool,
    /// Zero-window probes answered with a window still closed, in a row.
    persist_probes: u32,
    t_keep: Option<Instant>,
    t_timewait: Option<Instant>,
    /// When the oldest unanswered retransmission (or probe) started, for the user timeout.
    stalled_since: Option<Instant>,
    last_rx: Instant,
    keep_probes: u32,

    ack_now: bool,
    pending_ack_bytes: usize,
    pub retransmits: u64,

    // Timestamps (RFC 7323).
    /// We offer them (active open) or answer an offer (passive).
    ts_enabled: bool,
    /// Both SYNs carried them: every segment does.
    ts_ok: bool,
    /// Added to the millisecond clock for our TSvals (RFC 7323 5.4).
    ts_offset: u32,
    /// TS.Recent: the TSval to echo; and when it was taken (`None`: none yet). Older than
    /// 24 days it is invalid (RFC 7323 5.5).
    ts_recent: u32,
    ts_recent_at: Option<Instant>,
    /// Last.ACK.sent (RFC 7323 4.3): the ACK field of the latest segment we built.
    last_ack_sent: Seq,
    /// The TSecr of the segment being processed, for the RTT measurement.
    rx_tsecr: Option<u32>,
    /// When new data or a retransmission last left (idle restart, RFC 5681 4.1).
    last_data_sent: Option<Instant>,
    /// Segments carry DF (path-MTU discovery) unless the path is below the smallest MTU
    /// we follow it down to.
    df: bool,
    /// The MSS before a "fragmentation needed" lowered it, while it is lowered.
    pmtu_lowered: Option<usize>,
}

impl Tcb {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        ts_offset: u32,
        mtu: usize,
        opts: ConnOpts,
        now: Instant,
    ) -> Tcb {
        let iss = Seq(iss);
        let rcv_mss = mtu.saturating_sub(40).clamp(MIN_MSS, 65_495);
        let mut rcv_wscale = 0;
        while rcv_wscale < MAX_WSCALE && (MAX_WINDOW << rcv_wscale) < opts.rcvbuf {
            rcv_wscale += 1;
        }
        Tcb {
            state: State::Closed,
            local,
            remote,
            opts,
            passive: false,
            error: None,
            soft_error: None,
            fin_queued: false,
            wake: false,
            transitions: Vec::new(),
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            snd_max: iss + 1,
            snd_base: iss + 1,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            snd_wscale: 0,
            sndq: VecDeque::new(),
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_adv: Seq(0),
            rcv_wscale,
            rcv_off: 0,
            rcvq: VecDeque::new(),
            ooo: BTreeMap::new(),
            ooo_bytes: 0,
            ooo_fin: None,
            sack_ok: false,
            last_ooo: None,
            sacked: Vec::new(),
            rtx_next: iss,
            rto_recovery: false,
            force_sws: false,
            force_window: false,
            max_seg_seen: 0,
            fin_received: false,
            mss: DEFAULT_MSS.min(rcv_mss),
            rcv_mss,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: cfg.rto_initial,
            rtt_sample: None,
            backoff: 0,
            syn_retries: 0,
            synack_retries: cfg.synack_retries,
            last_oow_ack: None,
            cwnd: 0,
            ssthresh: usize::MAX / 2,
            dupacks: 0,
            recover: iss,
            in_recovery: false,
            t_rtx: None,
            t_persist: None,
            persist_interval: Duration::ZERO,
            t_delack: None,
            t_tlp: None,
            tlp_enabled: cfg.tail_loss_probe,
            tlp_count: 0,
            una_rtx_high: None,
            orphan: false,
            persist_probes: 0,
            t_keep: None,
            t_timewait: None,
            stalled_since: None,
            last_rx: now,
            keep_probes: 0,
            ack_now: false,
            pending_ack_bytes: 0,
            ack_due: false,
            tso: false,
            retransmits: 0,
            ts_enabled: cfg.timestamps,
            ts_ok: false,
            ts_offset,
            ts_recent: 0,
            ts_recent_at: None,
            last_ack_sent: Seq(0),
            rx_tsecr: None,
            last_data_sent: None,
            df: true,
            pmtu_lowered: None,
        }
    }

    /// An active open: the SYN goes out at once.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        ts_offset: u32,
        mtu: usize,
        opts: ConnOpts,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, ts_offset, mtu, opts, now);
        t.set_state(State::SynSent);
        t.send_syn(tx, stats, now);
        t.t_rtx = Some(now + t.rto);
        t
    }

    /// A passive open: a SYN arrived at a listener; answer it with our SYN-ACK.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_syn(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr,
        iss: u32,
        ts_offset: u32,
        mtu: usize,
        opts: ConnOpts,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, ts_offset, mtu, opts, now);
        t.passive = true;
        t.transitions.push((State::Listen, State::SynReceived));
        t.state = State::SynReceived;
        t.take_syn_options(syn, now);
        t.irs = syn.seq;
        t.rcv_nxt = syn.seq + 1;
        t.rcv_adv = t.rcv_nxt;
        t.snd_wnd = usize::from(syn.window);
        t.max_snd_wnd = t.snd_wnd;
        t.snd_wl1 = syn.seq;
        t.send_syn(tx, stats, now);
        t.t_rtx = Some(now + t.rto);
        t
    }

    /// A passive open rebuilt from a valid SYN cookie (RFC 4987 3.6): SYN-RECEIVED as if
    /// our SYN-ACK (ISN `iss`, no window scale, no SACK, our window unscaled) had left
    /// and the peer's SYN (ISN `irs`, MSS `mss`) had arrived. The handshake's ACK, handed
    /// to [`Tcb::segment`] next, completes it.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        irs: Seq,
        iss: u32,
        mss: u16,
        mtu: usize,
        opts: ConnOpts,
        now: Instant,
    ) -> Tcb {
        // No timestamps (the cookie does not record an offer): no offset needed.
        let mut t = Tcb::new(cfg, local, remote, iss, 0, mtu, opts, now);
        t.passive = true;
        t.transitions.push((State::Listen, State::SynReceived));
        t.state = State::SynReceived;
        t.take_syn_options(
            &TcpRepr {
                seq: irs,
                flags: flags::SYN,
                mss: Some(mss),
                ..TcpRepr::default()
            },
            now,
        );
        t.irs = irs;
        t.rcv_nxt = irs + 1;
        // The window our cookie SYN-ACK announced (`send_syn`'s, unscaled).
        t.rcv_adv = t.rcv_nxt + t.opts.rcvbuf.min(MAX_WINDOW);
        t.snd_wl1 = irs;
        t
    }

    /// The listener's SYN queue is under pressure: allow this half-open connection at most
    /// `n` SYN-ACK retransmissions; if it has had them already, it fails at once (at the
    /// next timer run).
    pub fn limit_synack_retries(&mut self, n: u32, now: Instant) {
        self.synack_retries = self.synack_retries.min(n);
        if self.state == State::SynReceived && self.passive && self.syn_retries >= n {
            self.t_rtx = Some(now);
        }
    }

    fn take_syn_options(&mut self, syn: &TcpRepr, now: Instant) {
        self.sack_ok = syn.sack_permitted;
        // Timestamps only if both SYNs carry them (RFC 7323 3.2): we offer them when
        // enabled, and answer only an offer.
        self.ts_ok = self.ts_enabled && syn.timestamp.is_some();
        if let Some((tsval, _)) = syn.timestamp.filter(|_| self.ts_ok) {
            self.ts_recent = tsval;
            self.ts_recent_at = Some(now);
        }
        let peer_mss = syn.mss.map_or(DEFAULT_MSS, usize::from);
        self.mss = peer_mss.clamp(MIN_MSS, self.rcv_mss);
        match syn.wscale {
            Some(s) => self.snd_wscale = s.min(MAX_WSCALE),
            // Window scaling is used only if both sides offer it (RFC 7323 1.3).
            None => self.rcv_wscale = 0,
        }
        self.cwnd = INITIAL_WINDOW_SEGMENTS * self.mss;
    }

    pub fn set_state(&mut self, s: State) {
        if s != self.state {
            self.transitions.push((self.state, s));
            self.state = s;
            self.wake = true;
        }
    }

    /// Fail the connection: CLOSED, the error kept for the application, timers off.
    fn fail(&mut self, e: TcpError) {
        self.error = Some(e);
        self.close_now();
    }

    fn close_now(&mut self) {
        self.set_state(State::Closed);
        self.t_rtx = None;
        self.t_persist = None;
        self.t_delack = None;
        self.t_tlp = None;
        self.t_keep = None;
        self.t_timewait = None;
        self.wake = true;
    }

    // ---- the application's side ------------------------------------------------------

    /// Bytes the application can read now.
    pub fn readable_bytes(&self) -> usize {
        self.rcvq.len()
    }

    /// End of stream: the peer's FIN came and every byte before it has been read.
    pub fn at_eof(&self) -> bool {
        self.fin_received && self.rcvq.is_empty()
    }

    pub fn send_space(&self) -> usize {
        self.opts.sndbuf.saturating_sub(self.sndq.len())
    }

    /// Enough room to be worth a writer's wake-up: a third of the buffer (as Linux's
    /// `sk_stream_write_space` waits for), or an empty queue.
    pub fn writable(&self) -> bool {
        self.sndq.is_empty() || self.send_space() >= (self.opts.sndbuf / 3).max(1)
    }

    pub fn unsent_or_unacked(&self) -> usize {
        self.sndq.len()
    }

    pub fn can_send(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait) && !self.fin_queued
    }

    /// Queue application data; how much fitted. Call `output` after.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.send_space());
        self.sndq.extend(&data[..n]);
        n
    }

    /// Take received bytes; a window update goes out if reading opened the window enough.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.rcvq.len());
        let (a, b) = self.rcvq.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.rcvq.drain(..n);
        if n > 0 && self.state.synchronized() && !self.fin_received {
            // Announce the opened window on its own only when the peer's view of it has
            // become small (at most half the buffer) and it at least doubles, as Linux does;
            // otherwise the next ACK carries it. RFC 9293 3.8.6.2.2: and only once it grew by
            // at least min(buffer / 2, MSS) beyond what the peer was last told.
            let announced = self.rcv_adv.since(self.rcv_nxt);
            let now_free = self.free_window();
            let step = self.opts.rcvbuf.min(self.rcv_mss).min(self.opts.rcvbuf / 2);
            if announced <= self.opts.rcvbuf / 2
                && now_free >= 2 * announced
                && now_free >= announced + step
            {
                self.ack_now = true;
            }
        }
        n
    }

    /// The application closes its sending side: a FIN follows the queued data.
    pub fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent | State::Listen | State::Closed => self.close_now(),
            // The FIN waits for the handshake to end (RFC 9293 3.10.4).
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// Abort: send a RST (if synchronized) and forget the connection.
    pub fn abort(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            let r = TcpRepr {
                src_port: self.local.port(),
                dst_port: self.remote.port(),
                seq: self.snd_nxt,
                ack: self.rcv_nxt,
                flags: flags::RST | flags::ACK,
                ..TcpRepr::default()
            };
            if send_repr(tx, self.local, self.remote, &r, &[], now) {
                stats.segs_out += 1;
                stats.resets_out += 1;
            }
        }
        self.close_now();
    }

    pub fn info(&self) -> ConnInfo {
        ConnInfo {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh.min(u32::MAX as usize),
            srtt: self.srtt,
            rto: self.rto,
            retransmits: self.retransmits,
            mss: self.mss,
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_adv.since(self.rcv_nxt),
            timestamps: self.ts_ok,
        }
    }

    pub fn rcv_queued(&self) -> usize {
        self.rcvq.len()
    }

    // ---- timers --------------------------------------------------------------------------

    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.t_rtx,
            self.t_persist,
            self.t_delack,
            self.t_tlp,
            self.t_keep,
            self.t_timewait,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run the timers due at `now`.
    pub fn poll(&mut self, cfg: &TcpConfig, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if self.t_timewait.is_some_and(|t| t <= now) {
            self.t_timewait = None;
            self.close_now();
            return;
        }
        if self.t_rtx.is_some_and(|t| t <= now) {
            self.t_rtx = None;
            self.on_rto(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.t_tlp.is_some_and(|t| t <= now) {
            self.t_tlp = None;
            self.on_tlp(stats, tx, now);
        }
        if self.t_persist.is_some_and(|t| t <= now) {
            self.t_persist = None;
            self.on_persist(tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.t_keep.is_some_and(|t| t <= now) {
            self.t_keep = None;
            self.on_keepalive(cfg, tx, stats, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.t_delack.is_some_and(|t| t <= now) {
            self.t_delack = None;
            self.ack_now = true;
        }
        self.output(cfg, tx, stats, now);
    }

    fn on_rto(&mut self, cfg: &TcpConfig, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        stats.timeouts += 1;
        match self.state {
            State::SynSent | State::SynReceived => {
                let limit = if self.passive {
                    self.synack_retries
                } else {
                    cfg.syn_retries
                };
                if self.syn_retries >= limit {
                    stats.handshake_timeouts += 1;
                    let e = self.soft_error.take().unwrap_or(TcpError::TimedOut);
                    self.fail(e);
                    return;
                }
                self.syn_retries += 1;
                self.retransmits += 1;
                stats.retransmits += 1;
                self.rto = (self.rto * 2).min(cfg.rto_max);
                self.rtt_sample = None;
                self.send_syn(tx, stats, now);
                self.t_rtx = Some(now + self.rto);
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                if self.snd_max == self.snd_una {
                    // Nothing outstanding: a send that failed for want of a buffer.
                    self.output(cfg, tx, stats, now);
                    return;
                }
                let since = *self.stalled_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.opts.user_timeout {
                    stats.user_timeouts += 1;
                    let e = self.soft_error.take().unwrap_or(TcpError::TimedOut);
                    self.fail(e);
                    return;
                }
                // RFC 5681 3.1 (4) and RFC 6298 5.5-5.6: collapse the window, back off.
                let flight = self.snd_max.since(self.snd_una);
                if self.backoff == 0 {
                    self.ssthresh = (flight / 2).max(2 * self.mss);
                }
                self.cwnd = self.mss;
                self.in_recovery = false;
                self.dupacks = 0;
                self.recover = self.snd_max;
                self.backoff += 1;
                self.rto = (self.rto * 2).min(cfg.rto_max);
                self.rtt_sample = None;
                if self.sack_ok {
                    // Keep the scoreboard (RFC 6675 5.1): resend what the peer lacks, in
                    // slow start. A receiver that reneged is caught in `process_ack`.
                    self.in_recovery = true;
                    self.rto_recovery = true;
                    self.rtx_next = self.snd_una;
                    self.sack_send(tx, stats, now);
                    if self.t_rtx.is_none() {
                        self.t_rtx = Some(now + self.rto);
                    }
                    return;
                }
                // Go back to the first unacknowledged byte (SND.UNA: the handshake's
                // ACK covered our SYN, so it is where the send queue starts), and send it
                // whatever the windows say (a peer that shrank its window to zero still
                // gets the first segment, as Linux sends it).
                self.snd_nxt = self.snd_base;
                self.force_sws = true;
                self.force_window = true;
                self.output(cfg, tx, stats, now);
                self.force_sws = false;
                self.force_window = false;
                if self.t_rtx.is_none() {
                    self.t_rtx = Some(now + self.rto);
                }
            }
        }
    }

    fn on_persist(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if !self.persist_needed() {
            return;
        }
        if now.saturating_duration_since(self.last_rx) >= self.opts.user_timeout {
            stats.user_timeouts += 1;
            self.fail(TcpError::TimedOut);
            return;
        }
        if self.snd_wnd > 0 {
            // A window too small for the sender's silly-window rule (or a send that
            // failed earlier): after the override timeout send what fits (RFC 9293
            // 3.8.6.2.1).
            self.force_sws = true;
            self.send_data(tx, stats, now, None);
            self.force_sws = false;
            if self.persist_needed() {
                self.persist_interval = (self.persist_interval * 2).min(MAX_PERSIST);
                self.t_persist = Some(now + self.persist_interval);
            }
            return;
        }
        if self.orphan && self.persist_probes >= ORPHAN_PROBES {
            // Nobody will read what is left to send, and the peer has kept its window
            // shut through every probe: give up (Linux's tcp_orphan_retries), with a RST.
            stats.orphans_dropped += 1;
            self.abort(tx, stats, now);
            return;
        }
        // A zero-window probe: SEG.SEQ = SND.UNA - 1 and no data, which the peer must
        // answer with an ACK carrying its current window (as Linux probes).
        self.persist_probes += 1;
        stats.window_probes += 1;
        let r = self.header(self.snd_una - 1, flags::ACK, now);
        if send_repr(tx, self.local, self.remote, &r, &[], now) {
            stats.segs_out += 1;
        }
        self.persist_interval = (self.persist_interval * 2).min(MAX_PERSIST);
        self.t_persist = Some(now + self.persist_interval);
    }

    fn on_keepalive(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        if !self.opts.keepalive || !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if now.saturating_duration_since(self.last_rx) < cfg.keep_idle {
            self.t_keep = Some(self.last_rx + cfg.keep_idle);
            return;
        }
        if self.keep_probes >= cfg.keep_count {
            stats.keepalive_timeouts += 1;
            self.fail(TcpError::TimedOut);
            return;
        }
        // RFC 1122 4.2.3.6: a segment with SEG.SEQ = SND.NXT - 1 and no data makes the
        // peer answer with an ACK.
        self.keep_probes += 1;
        stats.keepalive_probes += 1;
        let r = self.header(self.snd_una - 1, flags::ACK, now);
        if send_repr(tx, self.local, self.remote, &r, &[], now) {
            stats.segs_out += 1;
        }
        self.t_keep = Some(now + cfg.keep_interval);
    }

    /// Arm or disarm keepalive after an option change or received segment.
    pub fn rearm_keepalive(&mut self, cfg: &TcpConfig) {
        self.t_keep = if self.opts.keepalive && self.state.synchronized() {
            Some(self.last_rx + cfg.keep_idle)
        } else {
            None
        };
    }

    fn persist_needed(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::LastAck
                | State::Closing
        ) && self.snd_nxt == self.snd_max
            && self.snd_max == self.snd_una
            && (self.snd_nxt.since(self.snd_base) < self.sndq.len() || self.fin_unsent())
    }

    // ---- output --------------------------------------------------------------------------

    /// A header from this end with our current ACK and window.
    fn header(&mut self, seq: Seq, fl: u8, now: Instant) -> TcpRepr {
        let mut r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: self.rcv_nxt,
            flags: fl,
            ..TcpRepr::default()
        };
        if self.ts_ok {
            // On every segment once negotiated (RFC 7323 3.2), echoing TS.Recent.
            r.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if fl & flags::ACK != 0 {
            self.last_ack_sent = self.rcv_nxt;
            let wnd = self.free_window().max(self.rcv_adv.since(self.rcv_nxt));
            // Round up so scaling never moves the announced right edge left.
            let unit = (1usize << self.rcv_wscale) - 1;
            let field = ((wnd + unit) >> self.rcv_wscale).min(MAX_WINDOW);
            r.window = field as u16;
            let edge = self.rcv_nxt + (field << self.rcv_wscale);
            if edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
            if self.sack_ok && !self.ooo.is_empty() {
                self.fill_sack(&mut r);
            }
        } else {
            r.ack = Seq(0);
        }
        r
    }

    /// SACK blocks for the out-of-order queue (RFC 2018 4): the block holding the most
    /// recent segment first, then the others from the highest down.
    fn fill_sack(&self, r: &mut TcpRepr) {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (&s, v) in &self.ooo {
            let e = s + v.len() as u64;
            match runs.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => runs.push((s, e)),
            }
        }
        let first = self
            .last_ooo
            .and_then(|o| runs.iter().position(|&(s, e)| s <= o && o < e));
        let mut order: Vec<usize> = first.into_iter().collect();
        order.extend((0..runs.len()).rev().filter(|&i| Some(i) != first));
        let seq = |off: u64| self.rcv_nxt + (off - self.rcv_off) as usize;
        let max = if self.ts_ok {
            super::wire::MAX_SACK_BLOCKS_WITH_TS
        } else {
            super::wire::MAX_SACK_BLOCKS
        };
        for i in order.into_iter().take(max) {
            let (s, e) = runs[i];
            r.sack[usize::from(r.sack_count)] = (seq(s), seq(e));
            r.sack_count += 1;
        }
    }

    /// Free receive space, rounded down to zero while it is silly (RFC 9293 3.8.6.2.2).
    fn free_window(&self) -> usize {
        let free = self
            .opts
            .rcvbuf
            .saturating_sub(self.rcvq.len() + self.ooo_bytes);
        let cap = MAX_WINDOW << self.rcv_wscale;
        if free < self.rcv_mss.min(self.opts.rcvbuf / 2) {
            0
        } else {
            free.min(cap)
        }
    }

    /// Send our SYN (an active open) or SYN-ACK (a passive one; also a cookie's).
    pub(crate) fn send_syn(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let passive = self.state == State::SynReceived;
        let mut r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: self.iss,
            flags: flags::SYN,
            mss: Some(self.rcv_mss.min(65_535) as u16),
            window: self.opts.rcvbuf.min(MAX_WINDOW) as u16,
            ..TcpRepr::default()
        };
        // Offer window scaling on an active open; answer it only if the peer offered.
        if !passive || self.snd_wscale > 0 || self.rcv_wscale > 0 {
            r.wscale = Some(self.rcv_wscale);
        }
        // Offer SACK on an active open; accept it if the peer offered.
        r.sack_permitted = !passive || self.sack_ok;
        // Timestamps likewise (RFC 7323 3.2); a SYN-ACK echoes the SYN's TSval.
        if (!passive && self.ts_enabled) || self.ts_ok {
            r.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if passive {
            r.flags |= flags::ACK;
            r.ack = self.rcv_nxt;
            self.rcv_adv = self.rcv_nxt + usize::from(r.window);
            self.last_ack_sent = self.rcv_nxt;
        }
        if self.rtt_sample.is_none() && self.syn_retries == 0 {
            self.rtt_sample = Some((self.iss, now));
        }
        if send_repr(tx, self.local, self.remote, &r, &[], now) {
            stats.segs_out += 1;
        }
    }

    /// Send one segment from `sndq[off..off + len]` at `seq`.
    #[allow(clippy::too_many_arguments)]
    fn xmit(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        seq: Seq,
        fl: u8,
        off: usize,
        len: usize,
        now: Instant,
    ) -> bool {
        let len = len.min(self.sndq.len().saturating_sub(off));
        let r = self.header(seq, fl | flags::ACK, now);
        let (a, b) = self.sndq.as_slices();
        let hl = r.header_len();
        let (local, remote) = (self.local, self.remote);
        // More than one segment's payload: the device cuts it (send_data asks only with TSO).
        let room = self.seg_room();
        let meta = SendMeta {
            src: Some(*local.ip()),
            l4_csum: Some(super::wire::CHECKSUM_AT as u16),
            gso_size: (len > room).then(|| room.min(usize::from(u16::MAX)) as u16),
            dont_fragment: self.df,
            ..SendMeta::new(*remote.ip(), ip::ipv4::protocol::TCP)
        };
        let ok = tx
            .send_with(
                &meta,
                hl + len,
                &mut |buf| {
                    // Copy sndq[off..off + len], which may straddle the ring's two halves.
                    let dst = &mut buf[hl..];
                    let mut done = 0;
                    if off < a.len() {
                        let n = (a.len() - off).min(len);
                        dst[..n].copy_from_slice(&a[off..off + n]);
                        done = n;
                    }
                    if done < len {
                        let boff = off + done - a.len();
                        dst[done..len].copy_from_slice(&b[boff..boff + len - done]);
                    }
                    r.emit_header(buf);
                },
                now,
            )
            .is_ok();
        if ok {
            stats.segs_out += 1;
            if len > 0 {
                self.last_data_sent = Some(now);
            }
        } else {
            stats.send_failures += 1;
        }
        // Whatever went out carried our ACK.
        self.ack_now = false;
        self.ack_due = false;
        self.pending_ack_bytes = 0;
        self.t_delack = None;
        ok
    }

    /// Send what the windows, Nagle and the state allow, and any ACK owed.
    pub fn output(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        self.output_inner(cfg, tx, stats, now, false);
    }

    /// `output`; with `defer_ack`, an ACK owed only by the every-second-segment rule waits
    /// (the caller flushes it at the end of the receive batch).
    fn output_inner(
        &mut self,
        cfg: &TcpConfig,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        defer_ack: bool,
    ) {
        if self.pmtu_lowered.is_some() {
            self.pmtu_raise(tx);
        }
        if !self.sndq.is_empty() {
            // Only a sender needs to know (a route lookup per call showed in profiles of a
            // receiver, whose output is ACKs).
            let off = tx.offload(*self.remote.ip());
            self.tso = off.tso && off.csum;
        }
        let sending = matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        );
        if sending && !self.in_recovery && self.snd_una == self.snd_max {
            self.idle_restart(stats, now);
        }
        if sending {
            if self.in_recovery && self.sack_ok {
                self.sack_send(tx, stats, now);
            } else {
                self.send_data(tx, stats, now, None);
            }
        }
        let ack_owed = self.ack_now || (self.ack_due && !defer_ack);
        if ack_owed && self.state != State::Closed && self.state != State::SynSent {
            if self.state == State::SynReceived {
                // Still waiting for the handshake's ACK: our SYN-ACK is the answer.
                self.ack_now = false;
                self.send_syn(tx, stats, now);
            } else {
                let r = self.header(self.snd_nxt, flags::ACK, now);
                if send_repr(tx, self.local, self.remote, &r, &[], now) {
                    stats.segs_out += 1;
                }
                self.ack_now = false;
                self.ack_due = false;
                self.pending_ack_bytes = 0;
                self.t_delack = None;
            }
        }
        if sending && self.persist_needed() {
            if self.t_persist.is_none() {
                self.persist_interval = self.rto.max(cfg.rto_min);
                self.t_persist = Some(now + self.persist_interval);
            }
        } else {
            self.t_persist = None;
        }
    }

    /// Send new data. `budget` (bytes), when given, replaces the congestion window's
    /// limit (SACK recovery counts what is in flight itself).
    fn send_data(
        &mut self,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
        budget: Option<usize>,
    ) {
        let data_end = self.snd_base + self.sndq.len();
        let mut budget = budget;
        loop {
            let unsent = data_end.since(self.snd_nxt);
            let mut usable = match budget {
                Some(b) => (self.snd_una + self.snd_wnd).since(self.snd_nxt).min(b),
                None => {
                    // Limited transmit (RFC 3042): each of the first two duplicate ACKs
                    // lets one new segment out, so the ACKs that reveal a loss keep coming.
                    let extra = if self.in_recovery {
                        0
                    } else {
                        self.dupacks.min(2) as usize * self.mss
                    };
                    (self.snd_una + self.snd_wnd.min(self.cwnd + extra)).since(self.snd_nxt)
                }
            };
            let room = self.seg_room();
            if self.force_window {
                usable = usable.max(room);
            }
            let mut len = unsent.min(usable).min(room);
            let retransmitting = self.snd_nxt.lt(self.snd_max);
            if self.tso && budget.is_none() && !retransmitting && !self.force_window {
                // New data in one frame of whole segments the device cuts; only the last
                // bytes the application wrote may end it in a short segment.
                let burst = unsent.min(usable).min(TSO_MAX / room * room);
                if burst > room {
                    len = if burst < unsent {
                        burst / room * room
                    } else {
                        burst
                    };
                }
                // Each ACK opens the window by a segment or two; sending that at once would
                // cut the stream into small frames. While data is in flight (so an ACK is
                // coming), wait until a third of the window or a full burst can go (Linux's
                // TSO deferral, tcp_tso_win_divisor = 3).
                let in_flight = self.snd_nxt != self.snd_una;
                let window = self.snd_wnd.min(self.cwnd);
                if in_flight && len < unsent && len < window / 3 && len < TSO_MAX / 2 {
                    break;
                }
            }
            // A FIN needs the peer to have room for it (Linux drops one at a zero window):
            // with none, the persist timer probes until the window opens.
            let with_fin = self.fin_queued
                && self.snd_nxt + len == data_end
                && !matches!(self.state, State::Established | State::CloseWait)
                && (len > 0 || self.snd_wnd > 0 || self.force_window || self.force_sws);
            if len == 0 && !with_fin {
                break;
            }
            if len > 0 && len < room && !retransmitting && !self.force_sws {
                if len < unsent {
                    // Window-limited: avoid silly segments (RFC 9293 3.8.6.2.1) unless
                    // it is at least half the largest window the peer has offered.
                    if len < self.max_snd_wnd / 2 {
                        break;
                    }
                } else if !self.opts.nodelay && !with_fin && self.snd_nxt != self.snd_una {
                    // Nagle (RFC 9293 3.7.4): a small segment waits while data is in flight.
                    break;
                }
            }
            let seq = self.snd_nxt;
            let retransmission = seq.lt(self.snd_max);
            let mut fl = flags::ACK;
            if len > 0 && len == unsent {
                fl |= flags::PSH;
            }
            if with_fin {
                fl |= flags::FIN;
            }
            let off = seq.since(self.snd_base);
            if !self.xmit(tx, stats, seq, fl, off, len, now) {
                // No buffer (ARP queue full, say): try again after a timeout.
                if self.t_rtx.is_none() {
                    self.t_rtx = Some(now + self.rto);
                }
                break;
            }
            self.force_sws = false;
            self.force_window = false;
            if retransmission {
                self.retransmits += 1;
                stats.retransmits += 1;
            } else if self.rtt_sample.is_none() {
                self.rtt_sample = Some((seq, now));
            }
            let used = len + usize::from(with_fin);
            if let Some(b) = budget.as_mut() {
                *b = b.saturating_sub(len);
            }
            self.snd_nxt = seq + used;
            if self.snd_nxt.gt(self.snd_max) {
                self.snd_max = self.snd_nxt;
                self.arm_tlp(now);
            }
            if self.t_rtx.is_none() {
                self.t_rtx = Some(now + self.rto);
            }
            if with_fin {
                break;
            }
        }
    }

    /// Is SND.UNA lost, by the SACK scoreboard? RFC 6675's rule (three segments' worth
    /// SACKed above it), RFC 5827's early retransmit (fewer than four segments out: one
    /// fewer SACKed than are outstanding), or the last segment sent SACKed while older ones
    /// are not (it overtook them: what a tail loss probe reveals).
    fn sack_loss_detected(&self) -> bool {
        let Some(&(_, top)) = self.sacked.last() else {
            return false;
        };
        let sacked = self.sacked_bytes();
        let outstanding = self.snd_max.since(self.snd_una);
        let segs = outstanding.div_ceil(self.mss.max(1));
        sacked >= 3 * self.mss
            || (segs < 4 && sacked >= (segs.saturating_sub(1)).max(1) * self.mss)
            || top == self.snd_max
    }

    /// Arm the tail loss probe (RFC 8985 7.2): two smoothed RTTs after the last send, plus
    /// a delayed-ACK allowance when one segment is out, if that comes before the RTO.
    fn arm_tlp(&mut self, now: Instant) {
        let Some(srtt) = self.srtt else { return };
        if !self.tlp_enabled || self.snd_max == self.snd_una || self.tlp_count >= MAX_TLP {
            return;
        }
        let mut pto = (srtt * 2).max(Duration::from_millis(10));
        if self.snd_max.since(self.snd_una) <= self.mss {
            pto += Duration::from_millis(40);
        }
        let at = now + pto;
        if self.t_rtx.is_none_or(|r| at < r) {
            self.t_tlp = Some(at);
        }
    }

    /// The probe: one new segment if the windows allow, else the last one sent again, so
    /// the peer's SACK shows what is missing and recovery starts without a timeout.
    fn on_tlp(&mut self, stats: &mut TcpStats, tx: &mut dyn IpTx, now: Instant) {
        if self.snd_max == self.snd_una || !self.state.synchronized() {
            return;
        }
        stats.loss_probes += 1;
        if self.in_recovery {
            // ACKs stopped during recovery (the last ones, or the retransmission, were
            // lost): send the first hole again rather than wait for the RTO.
            self.retransmit_first(tx, stats, now);
            self.t_rtx = Some(now + self.rto);
            self.tlp_count += 1;
            self.arm_tlp(now);
            return;
        }
        let data_end = self.snd_base + self.sndq.len();
        let unsent = data_end.since(self.snd_max);
        let wnd_room = (self.snd_una + self.snd_wnd).since(self.snd_max);
        if unsent > 0 && wnd_room > 0 {
            let len = unsent.min(wnd_room).min(self.seg_room());
            let seq = self.snd_max;
            let off = seq.since(self.snd_base);
            if self.xmit(tx, stats, seq, flags::PSH, off, len, now) {
                self.snd_nxt = seq + len;
                self.snd_max = self.snd_nxt;
            }
        } else {
            let sent_data = self.snd_max.since(self.snd_base).min(self.sndq.len());
            let len = sent_data.min(self.seg_room());
            if len > 0 {
                let seq = self.snd_base + (sent_data - len);
                let off = sent_data - len;
                if self.xmit(tx, stats, seq, 0, off, len, now) {
                    self.retransmits += 1;
                    stats.retransmits += 1;
                    self.rtt_sample = None;
                }
            }
        }
        self.t_rtx = Some(now + self.rto);
        self.tlp_count += 1;
        self.arm_tlp(now);
    }

    /// Payload room in a segment: the MSS less the SACK option an ACK of ours may carry
    /// (RFC 9293 3.7.1: options come out of the MSS).
    fn seg_room(&self) -> usize {
        let (ts, max_blocks) = if self.ts_ok {
            (
                super::wire::TIMESTAMP_LEN,
                super::wire::MAX_SACK_BLOCKS_WITH_TS,
            )
        } else {
            (0, super::wire::MAX_SACK_BLOCKS)
        };
        let sack = if self.sack_ok && !self.ooo.is_empty() {
            4 + 8 * self.ooo.len().min(max_blocks)
        } else {
            0
        };
        self.mss.saturating_sub(sack + ts).max(1)
    }

    /// Our FIN is due (the application closed) but has not been sent.
    fn fin_unsent(&self) -> bool {
        self.fin_queued
            && matches!(
                self.state,
                State::FinWait1 | State::Closing | State::LastAck
            )
            && !self.snd_max.gt(self.snd_base + self.sndq.len())
    }

    // ---- SACK (RFC 2018) loss recovery, after RFC 6675 -----------------------------------

    /// Merge the SACK blocks of an ACK into the scoreboard.
    fn sack_update(&mut self, seg: &TcpRepr, ack: Seq) {
        let base = if ack.gt(self.snd_una) {
            ack
        } else {
            self.snd_una
        };
        for &(l, r) in seg.sack_blocks() {
            // Only blocks within what is outstanding mean anything.
            let l = l.max(base);
            let r = if r.gt(self.snd_max) { self.snd_max } else { r };
            if !l.lt(r) {
                continue;
            }
            self.sacked.push((l, r));
        }
        self.sack_normalize(base);
    }

    /// Drop what lies below `base`, sort and merge.
    fn sack_normalize(&mut self, base: Seq) {
        let mut v: Vec<(Seq, Seq)> = self
            .sacked
            .drain(..)
            .filter(|&(_, r)| r.gt(base))
            .map(|(l, r)| (l.max(base), r))
            .collect();
        v.sort_by_key(|&(l, _)| l.diff(base));
        for (l, r) in v {
            match self.sacked.last_mut() {
                Some(last) if l.le(last.1) => last.1 = last.1.max(r),
                _ => self.sacked.push((l, r)),
            }
        }
        if self.sacked.len() > 64 {
            // Bounded: the oldest ranges matter most; later SACKs restate the rest.
            self.sacked.truncate(64);
        }
    }

    fn sacked_bytes(&self) -> usize {
        self.sacked.iter().map(|&(l, r)| r.since(l)).sum()
    }

    /// Where loss detection ends: the highest SACKed byte (after a timeout, everything
    /// sent).
    fn lost_limit(&self) -> Seq {
        if self.rto_recovery {
            // What was outstanding when the timer fired; data sent since is in flight.
            return self.recover;
        }
        self.sacked.last().map_or(self.snd_una, |&(_, r)| r)
    }

    /// The next hole at or after `from`, below the loss limit: (start, length <= MSS).
    fn next_hole(&self, from: Seq) -> Option<(Seq, usize)> {
        let limit = self.lost_limit();
        let mut at = if from.lt(self.snd_una) {
            self.snd_una
        } else {
            from
        };
        for &(l, r) in &self.sacked {
            if at.lt(l) {
                break;
            }
            if at.lt(r) {
                at = r;
            }
        }
        if !at.lt(limit) {
            return None;
        }
        let end = self
            .sacked
            .iter()
            .map(|&(l, _)| l)
            .find(|l| l.gt(at))
            .map_or(limit, |l| if l.lt(limit) { l } else { limit });
        Some((at, end.since(at).min(self.seg_room()).max(1)))
    }

    /// Bytes in flight (RFC 6675 "pipe"): outstanding, less what was SACKed, less the
    /// holes taken as lost and not yet retransmitted.
    fn pipe(&self) -> usize {
        let outstanding = self.snd_max.since(self.snd_una);
        let limit = self.lost_limit();
        let mut lost_unsent = 0;
        let mut at = if self.rtx_next.lt(self.snd_una) {
            self.snd_una
        } else {
            self.rtx_next
        };
        for &(l, r) in &self.sacked {
            if at.lt(l) && l.le(limit) {
                lost_unsent += l.since(at);
            }
            if at.lt(r) {
                at = r;
            }
        }
        if self.rto_recovery && at.lt(limit) {
            lost_unsent += limit.since(at);
        }
        outstanding
            .saturating_sub(self.sacked_bytes())
            .saturating_sub(lost_unsent)
    }

    fn enter_sack_recovery(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let flight = self.snd_max.since(self.snd_una);
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.recover = self.snd_max;
        self.in_recovery = true;
        self.rto_recovery = false;
        self.rtx_next = self.snd_una;
        if self.next_hole(self.snd_una).is_none() {
            // Three duplicate ACKs without SACK blocks: the first segment is the hole.
            self.retransmit_first(tx, stats, now);
            self.rtx_next = self.snd_una + self.mss;
        } else {
            stats.fast_retransmits += 1;
        }
        self.sack_send(tx, stats, now);
        self.t_rtx = Some(now + self.rto);
    }

    /// While in SACK recovery: retransmit holes, then new data, while the pipe is below
    /// the congestion window (RFC 6675 5 (C), NextSeg rules 1 and 2).
    fn sack_send(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        // At most a window's worth per call: every path below advances or stops.
        for _ in 0..1024 {
            let pipe = self.pipe();
            if pipe + self.mss > self.cwnd.max(self.mss) && pipe > 0 {
                return;
            }
            let Some((seq, len)) = self.next_hole(self.rtx_next) else {
                break;
            };
            let off = seq.since(self.snd_base);
            let data_len = len.min(self.sndq.len().saturating_sub(off));
            let data_end = self.snd_base + self.sndq.len();
            let fin = self.fin_queued
                && seq + data_len == data_end
                && self.snd_max.gt(data_end)
                && data_len < self.seg_room();
            if data_len == 0 && !fin {
                break;
            }
            let fl = if fin { flags::FIN } else { 0 };
            if !self.xmit(tx, stats, seq, fl, off, data_len, now) {
                return;
            }
            self.retransmits += 1;
            stats.retransmits += 1;
            self.rtt_sample = None;
            if seq == self.snd_una {
                self.una_rtx_high = Some(self.snd_max);
            }
            self.rtx_next = seq + (data_len + usize::from(fin)).max(1);
        }
        // Holes done: new data within what the pipe allows.
        let budget = self.cwnd.saturating_sub(self.pipe());
        if budget > 0 {
            self.snd_nxt = self.snd_max;
            self.send_data(tx, stats, now, Some(budget));
        }
    }

    /// Retransmit the first unacknowledged segment (fast retransmit, partial ACKs).
    fn retransmit_first(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let queued = self.sndq.len();
        let len = queued.min(self.seg_room());
        let data_end = self.snd_base + queued;
        let fin = self.fin_queued && self.snd_base + len == data_end && self.snd_max.gt(data_end);
        if len == 0 && !fin {
            return;
        }
        let fl = if fin { flags::FIN } else { 0 };
        if self.xmit(tx, stats, self.snd_base, fl, 0, len, now) {
            self.retransmits += 1;
            stats.retransmits += 1;
            stats.fast_retransmits += 1;
            self.una_rtx_high = Some(self.snd_max);
        }
        self.rtt_sample = None;
    }

    // ---- input ---------------------------------------------------------------------------

    /// A segment for this connection (RFC 9293 3.10.7, for every state but LISTEN and
    /// CLOSED, which the owner handles). With `in_batch` (more segments were read in the
    /// same wake-up), an ACK owed only because two full segments arrived waits for the end
    /// of the batch: returns true when the caller must then call `output`. Duplicate ACKs,
    /// hole fills, FINs and window updates still go at once.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        challenge_ok: &mut dyn FnMut() -> bool,
        now: Instant,
        in_batch: bool,
    ) -> bool {
        self.rx_tsecr = seg.timestamp.map(|(_, ecr)| ecr);
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.segment_syn_sent(cfg, seg, payload, tx, stats, now),
            _ => self.segment_synchronized(cfg, seg, payload, tx, stats, challenge_ok, now),
        }
        self.rx_tsecr = None;
        if self.state != State::Closed {
            self.output_inner(cfg, tx, stats, now, in_batch);
            if !self.ack_now && self.pending_ack_bytes > 0 && self.t_delack.is_none() {
                self.t_delack = Some(now + cfg.delayed_ack);
            }
        }
        self.ack_due && self.state != State::Closed
    }

    fn segment_syn_sent(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        let _ = payload;
        // First: the ACK must cover our SYN and nothing we have not sent.
        let mut ack_ok = false;
        if seg.has(flags::ACK) {
            if seg.ack.le(self.iss) || seg.ack.gt(self.snd_max) {
                if !seg.has(flags::RST) {
                    stats.bad_acks += 1;
                    self.reset_reply(seg.ack, tx, stats, now);
                }
                return;
            }
            ack_ok = true;
        }
        // Second: a RST is believed only with an acceptable ACK (RFC 5961 3.2 / 9293).
        if seg.has(flags::RST) {
            stats.resets_in += 1;
            if ack_ok {
                self.fail(TcpError::Refused);
            }
            return;
        }
        // Fourth: the SYN.
        if !seg.has(flags::SYN) {
            return;
        }
        self.take_syn_options(seg, now);
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.last_rx = now;
        if ack_ok {
            self.snd_una = seg.ack;
            // The window of a SYN-ACK is never scaled (RFC 7323 2.2).
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.take_rtt_sample(cfg, seg.ack, now);
            if self.syn_retries > 0 && self.srtt.is_none() {
                // RFC 6298 5.7: the SYN was retransmitted (no sample): at least 3 s.
                self.rto = self.rto.max(Duration::from_secs(3)).min(cfg.rto_max);
            }
            self.t_rtx = None;
            self.syn_retries = 0;
            self.backoff = 0;
            self.set_state(State::Established);
            self.rearm_keepalive(cfg);
            self.ack_now = true;
        } else {
            // Simultaneous open (RFC 9293 3.5, figure 8): SYN-RECEIVED, answer SYN-ACK.
            self.snd_wnd = usize::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.set_state(State::SynReceived);
            self.send_syn(tx, stats, now);
        }
    }

    /// Send `<SEQ=ack><CTL=RST>`: the answer to an unacceptable ACK before synchronization.
    fn reset_reply(&mut self, ack: Seq, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let r = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: ack,
            flags: flags::RST,
            ..TcpRepr::default()
        };
        if send_repr(tx, self.local, self.remote, &r, &[], now) {
            stats.segs_out += 1;
            stats.resets_out += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn segment_synchronized(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        payload: &[u8],
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        challenge_ok: &mut dyn FnMut() -> bool,
        now: Instant,
    ) {
        // A retransmitted SYN while our SYN-ACK is unanswered: send the SYN-ACK again.
        if self.state == State::SynReceived
            && seg.has(flags::SYN)
            && !seg.has(flags::ACK)
            && !seg.has(flags::RST)
            && seg.seq == self.irs
        {
            stats.dup_segments += 1;
            self.send_syn(tx, stats, now);
            return;
        }

        // Timestamps (RFC 7323 5.3 R1): PAWS drops an old duplicate and answers with an
        // ACK. A segment without them once they were negotiated is taken, as Linux takes
        // it, and counted (RFC 7323 3.2 says SHOULD drop; a middlebox that strips options,
        // or a crafted RST-less segment, then still meets RFC 5961's checks).
        if self.ts_ok && !seg.has(flags::RST) {
            match seg.timestamp {
                None => stats.ts_missing += 1,
                Some((tsval, _)) if self.paws_rejects(tsval, now) => {
                    stats.drop_paws += 1;
                    // Answered as an out-of-window segment is: data always, a bare ACK
                    // at most once per `invalid_ratelimit` (RFC 5961 7).
                    let bare = payload.is_empty() && !seg.has(flags::FIN);
                    if !bare || self.oow_ack_allowed(cfg, stats, now) {
                        self.ack_now = true;
                    }
                    return;
                }
                Some(_) => {}
            }
        }

        // First: is the segment acceptable (RFC 9293 3.10.7.4, the four cases)?
        let mut data = payload;
        let mut seq = seg.seq;
        let mut syn = seg.has(flags::SYN);
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK repeats the SYN we
        // already took; what counts is its ACK.
        let simultaneous = self.state == State::SynReceived
            && !self.passive
            && syn
            && seg.has(flags::ACK)
            && seq == self.irs;
        if simultaneous {
            syn = false;
            seq = seq + 1;
        }
        let mut fin = seg.has(flags::FIN);
        let seg_len = data.len() + usize::from(syn) + usize::from(fin);
        let wnd = self.rcv_adv.since(self.rcv_nxt);
        let in_wnd = |s: Seq| s.ge(self.rcv_nxt) && s.lt(self.rcv_nxt + wnd);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_wnd(seq),
            (_, 0) => false,
            (n, _) => in_wnd(seq) || in_wnd(seq + (n - 1)),
        };
        // A zero window still takes ACKs and RSTs at RCV.NXT (a probe's data is dropped).
        let zero_window_probe = !acceptable && wnd == 0 && seq == self.rcv_nxt;
        if !acceptable && !zero_window_probe {
            if !seg.has(flags::RST) {
                stats.dup_segments += 1;
                if self.state == State::TimeWait && fin && (seq + seg_len) == self.rcv_nxt {
                    // The peer retransmits its FIN: our last ACK was lost (restart 2 MSL).
                    self.t_timewait = Some(now + cfg.time_wait);
                }
                // Data or a FIN (a retransmission whose ACK was lost) is always answered;
                // a bare ACK or SYN at most once per `invalid_ratelimit` (RFC 5961 7), so
                // that forged segments cannot make us send without bound, nor two stacks
                // that disagree about the window ACK each other forever.
                if !payload.is_empty() || fin || self.oow_ack_allowed(cfg, stats, now) {
                    self.ack_now = true;
                }
            }
            return;
        }
        self.last_rx = now;
        self.keep_probes = 0;
        self.update_ts_recent(seg, now);
        if zero_window_probe {
            data = &[];
            fin = false;
            if !payload.is_empty() {
                stats.window_drops += 1;
                self.ack_now = true;
            }
        }
        // Trim to the window: what lies before RCV.NXT was received, what lies beyond the
        // right edge does not fit.
        if seq.lt(self.rcv_nxt) {
            let mut skip = self.rcv_nxt.since(seq);
            if syn {
                // An old SYN (its sequence number is behind us): step over it.
                skip -= 1;
                seq = seq + 1;
            }
            let cut = skip.min(data.len());
            data = &data[cut..];
            seq = seq + cut;
            if skip > cut {
                // The whole payload and the FIN after it were received before.
                fin = false;
            }
            if cut > 0 {
                stats.dup_segments += 1;
                self.ack_now = true;
            }
        }
        let room = (self.rcv_nxt + wnd).since(seq);
        // The buffer bounds what is kept even inside the window: rounding each announced
        // window up to the scale's unit, so that the right edge never moves left, moves
        // the edge on by up to a unit per ACK without any room freed, and a peer
        // trickling bytes would keep the window open forever (RFC 7323 Appendix F). Bytes
        // beyond SO_RCVBUF plus one unit from the start of the queue are dropped (the
        // peer sends them again); out-of-order segments never overlap, so the queue and
        // the out-of-order bytes together stay within that.
        let unit = (1usize << self.rcv_wscale) - 1;
        let limit = (self.opts.rcvbuf + unit).saturating_sub(self.rcvq.len());
        let room = room.min(limit.saturating_sub(seq.since(self.rcv_nxt)));
        if data.len() > room {
            data = &data[..room];
            fin = false;
            stats.window_drops += 1;
            self.ack_now = true;
        }

        // Second: RST (RFC 5961 3.2).
        if seg.has(flags::RST) {
            stats.resets_in += 1;
            if seg.seq != self.rcv_nxt {
                self.challenge_ack(cfg, stats, challenge_ok, now);
                return;
            }
            match self.state {
                State::SynReceived if self.passive => self.close_now(),
                State::SynReceived => self.fail(TcpError::Refused),
                State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                    stats.resets_established += 1;
                    self.fail(TcpError::Reset);
                }
                // RFC 1337: a RST does not cut TIME-WAIT short (as the TIME-WAIT records
                // of orphaned connections behave).
                State::TimeWait => {}
                _ => self.close_now(),
            }
            return;
        }

        // Fourth: a SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
        if seg.has(flags::SYN) && !simultaneous {
            self.challenge_ack(cfg, stats, challenge_ok, now);
            return;
        }

        // Fifth: the ACK field.
        if !seg.has(flags::ACK) {
            return;
        }
        if self.state == State::SynReceived {
            if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_max) {
                // A SYN-ACK's (simultaneous open) window is not scaled (RFC 7323 2.2).
                let shift = if seg.has(flags::SYN) {
                    0
                } else {
                    self.snd_wscale
                };
                self.snd_wnd = usize::from(seg.window) << shift;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                if self.syn_retries > 0 && self.srtt.is_none() {
                    // RFC 6298 5.7: the SYN-ACK was retransmitted (no sample): at least 3 s.
                    self.rto = self.rto.max(Duration::from_secs(3)).min(cfg.rto_max);
                }
                self.syn_retries = 0;
                self.set_state(State::Established);
                self.rearm_keepalive(cfg);
                if self.fin_queued {
                    // The application closed before the handshake ended.
                    self.set_state(State::FinWait1);
                }
            } else {
                stats.bad_acks += 1;
                self.reset_reply(seg.ack, tx, stats, now);
                return;
            }
        }
        if !self.process_ack(cfg, seg, data.len(), tx, stats, challenge_ok, now) {
            return;
        }

        // Sixth (URG) is not supported: the urgent pointer is ignored, the data kept.

        // Seventh: the segment text.
        if !data.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    self.receive_data(seq, data, fin, stats);
                }
                _ => {
                    // The peer's FIN came before: this is stray data.
                    fin = false;
                }
            }
        } else if fin && seq != self.rcv_nxt {
            // A bare FIN beyond a hole: remember where the stream ends.
            if matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            ) {
                let off = self.rcv_off + seq.since(self.rcv_nxt) as u64;
                self.ooo_fin = Some(off);
                self.ack_now = true;
            }
            fin = false;
        }

        // Eighth: the FIN, once everything before it has arrived.
        let fin_now = if fin {
            seq + data.len() == self.rcv_nxt
        } else {
            self.ooo_fin == Some(self.rcv_off)
        };
        if fin_now && !self.fin_received && self.state != State::TimeWait {
            self.ooo_fin = None;
            self.fin_received = true;
            self.rcv_nxt = self.rcv_nxt + 1;
            self.ack_now = true;
            self.wake = true;
            match self.state {
                State::SynReceived | State::Established => self.set_state(State::CloseWait),
                State::FinWait1 => {
                    if self.fin_acked() {
                        self.enter_time_wait(cfg, now);
                    } else {
                        self.set_state(State::Closing);
                    }
                }
                State::FinWait2 => self.enter_time_wait(cfg, now),
                _ => {}
            }
        } else if fin && self.state == State::TimeWait {
            self.ack_now = true;
            self.t_timewait = Some(now + cfg.time_wait);
        }
    }

    /// A challenge ACK (RFC 5961 3.2, 4.2, 5.2), within this connection's limit first and
    /// then the stack's.
    fn challenge_ack(
        &mut self,
        cfg: &TcpConfig,
        stats: &mut TcpStats,
        challenge_ok: &mut dyn FnMut() -> bool,
        now: Instant,
    ) {
        if !self.oow_ack_allowed(cfg, stats, now) {
            return;
        }
        if challenge_ok() {
            stats.challenge_acks += 1;
            self.ack_now = true;
        } else {
            stats.challenge_acks_limited += 1;
        }
    }

    /// RFC 5961 7 (Linux's `tcp_invalid_ratelimit`): may this connection answer another
    /// out-of-window segment or challenge now? Counts the refusals.
    fn oow_ack_allowed(&mut self, cfg: &TcpConfig, stats: &mut TcpStats, now: Instant) -> bool {
        if self
            .last_oow_ack
            .is_some_and(|t| now < t + cfg.invalid_ratelimit)
        {
            stats.oow_acks_limited += 1;
            return false;
        }
        self.last_oow_ack = Some(now);
        true
    }

    /// Our FIN has been sent and acknowledged (so has every byte before it).
    pub fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.snd_base + self.sndq.len() + 1
    }

    fn enter_time_wait(&mut self, cfg: &TcpConfig, now: Instant) {
        self.set_state(State::TimeWait);
        self.t_rtx = None;
        self.t_persist = None;
        self.t_keep = None;
        self.t_timewait = Some(now + cfg.time_wait);
    }

    /// RFC 9293 3.10.7.4 fifth step for synchronized states, with RFC 5961 5.2. Returns
    /// false when the segment is to be dropped.
    #[allow(clippy::too_many_arguments)]
    fn process_ack(
        &mut self,
        cfg: &TcpConfig,
        seg: &TcpRepr,
        data_len: usize,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        challenge_ok: &mut dyn FnMut() -> bool,
        now: Instant,
    ) -> bool {
        let ack = seg.ack;
        if ack.gt(self.snd_max) {
            // Acknowledges something never sent: ACK (within the limit when the
            // segment carries no data) and drop.
            stats.bad_acks += 1;
            if data_len > 0 || self.oow_ack_allowed(cfg, stats, now) {
                self.ack_now = true;
            }
            return false;
        }
        if ack.lt(self.snd_una - self.max_snd_wnd.max(1)) {
            // Far too old (RFC 5961 5.2): a blind injection attempt; challenge and drop.
            stats.bad_acks += 1;
            self.challenge_ack(cfg, stats, challenge_ok, now);
            return false;
        }
        // Only a simultaneous open's SYN-ACK gets here with a SYN: unscaled (RFC 7323 2.2).
        let shift = if seg.has(flags::SYN) {
            0
        } else {
            self.snd_wscale
        };
        let wnd = usize::from(seg.window) << shift;
        let outstanding = self.snd_max != self.snd_una;
        if self.sack_ok {
            self.sack_update(seg, ack);
        }
        if ack.gt(self.snd_una) {
            self.new_ack(cfg, ack, tx, stats, now);
        } else if ack == self.snd_una
            && outstanding
            && data_len == 0
            && !seg.has(flags::FIN)
            && wnd == self.snd_wnd
        {
            self.dup_ack(cfg, tx, stats, now);
        }
        if self.in_recovery
            && ack == self.snd_una
            && self
                .una_rtx_high
                .is_some_and(|h| self.sacked.last().is_some_and(|&(_, top)| top.gt(h)))
        {
            // Lost retransmission (as RACK, RFC 8985, would conclude): data sent after
            // our retransmission of SND.UNA arrived, the retransmission did not. Walk the
            // holes again.
            self.una_rtx_high = None;
            self.rtx_next = self.snd_una;
            stats.lost_retransmits += 1;
        }
        if self.sacked.first().is_some_and(|&(l, _)| l == self.snd_una) {
            // The peer acknowledges up to data it said it held: it reneged (RFC 2018 8).
            // Forget the scoreboard; everything unacknowledged may need sending again.
            self.sacked.clear();
            stats.sack_reneging += 1;
        }
        if self.in_recovery && ack == self.snd_una {
            // The probe timer measures from the last ACK.
            self.t_tlp = None;
            self.arm_tlp(now);
        }
        if self.sack_ok && !self.in_recovery && self.sack_loss_detected() {
            // RFC 6675 IsLost(SND.UNA): three segments' worth SACKed above it.
            self.enter_sack_recovery(tx, stats, now);
        }
        // Window update (RFC 9293 3.10.7.4): only from a segment not older than the last.
        if self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(ack)) {
            if wnd > self.snd_wnd {
                self.wake = true;
            }
            self.snd_wnd = wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if wnd > 0 {
                self.t_persist = None;
                self.persist_probes = 0;
            }
        }
        match self.state {
            State::FinWait1 if self.fin_acked() => self.set_state(State::FinWait2),
            State::Closing if self.fin_acked() => self.enter_time_wait(cfg, now),
            State::LastAck if self.fin_acked() => {
                self.close_now();
                return false;
            }
            _ => {}
        }
        true
    }

    fn new_ack(
        &mut self,
        cfg: &TcpConfig,
        ack: Seq,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) {
        // Our SYN occupies a sequence number but is not data the window grows on.
        let syn = usize::from(self.snd_una == self.iss);
        let acked = ack.since(self.snd_una).saturating_sub(syn);
        // Free the acknowledged bytes (the FIN occupies no buffer space).
        let data = ack.since(self.snd_base).min(self.sndq.len());
        let was_writable = self.writable();
        self.sndq.drain(..data);
        self.snd_base = self.snd_base + data;
        self.snd_una = ack;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        // Wake a blocked writer (or a poller) when the buffer becomes writable again, or
        // when everything is acknowledged (lingering closes wait for that): not on every
        // ACK, which would cost a thread wake-up per ACK for a few KB each.
        if data > 0 && ((!was_writable && self.writable()) || self.sndq.is_empty()) {
            self.wake = true;
        }
        self.take_rtt_sample(cfg, ack, now);
        self.backoff = 0;
        self.stalled_since = None;
        // RFC 6298 5.2/5.3.
        self.t_rtx = if self.snd_una == self.snd_max {
            None
        } else {
            Some(now + self.rto)
        };
        self.t_tlp = None;
        self.tlp_count = 0;
        self.arm_tlp(now);
        self.una_rtx_high = None;
        // Congestion control.
        if self.in_recovery && self.sack_ok {
            if ack.ge(self.recover) {
                // Recovery ends at the congestion window it chose (after a timeout too,
                // as Linux does: slow start from one segment against a peer that delays
                // its ACKs costs a delayed-ACK time per round trip).
                self.cwnd = self.ssthresh.max(self.mss);
                self.in_recovery = false;
                self.rto_recovery = false;
                self.dupacks = 0;
            } else if self.rto_recovery && self.cwnd < self.ssthresh {
                self.cwnd += acked.min(self.mss);
            }
            if self.rtx_next.lt(self.snd_una) {
                self.rtx_next = self.snd_una;
            }
        } else if self.in_recovery {
            if ack.ge(self.recover) {
                // Full acknowledgment (RFC 6582 3.2 step 3): deflate and leave recovery.
                let flight = self.snd_max.since(self.snd_una);
                self.cwnd = self.ssthresh.min(flight.max(self.mss) + self.mss);
                self.in_recovery = false;
                self.dupacks = 0;
            } else {
                // Partial acknowledgment (step 4): retransmit the next hole, deflate.
                self.retransmit_first(tx, stats, now);
                self.cwnd = self.cwnd.saturating_sub(acked).max(self.mss);
                if acked >= self.mss {
                    self.cwnd += self.mss;
                }
            }
        } else {
            self.dupacks = 0;
            if self.recover.lt(ack) {
                // Keep `recover` just behind SND.UNA so the circular comparison above
                // stays meaningful however long the connection lives.
                self.recover = ack - 1;
            }
            let cap = 64 * self.opts.sndbuf.max(self.mss);
            if self.cwnd < self.ssthresh {
                self.cwnd += acked.min(self.mss);
            } else {
                self.cwnd += (self.mss * self.mss / self.cwnd.max(1)).max(1);
            }
            self.cwnd = self.cwnd.min(cap);
        }
    }

    fn dup_ack(&mut self, cfg: &TcpConfig, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        let _ = cfg;
        stats.dup_acks += 1;
        self.dupacks += 1;
        if self.sack_ok {
            if !self.in_recovery && self.dupacks == 3 && self.snd_una.gt(self.recover) {
                self.enter_sack_recovery(tx, stats, now);
            }
        } else if self.in_recovery {
            // Each further duplicate means a segment left the network (RFC 5681 3.2 (4)).
            self.cwnd += self.mss;
        } else if self.dupacks == 3 && self.snd_una.gt(self.recover) {
            // Fast retransmit (RFC 5681 3.2 (2)-(3), RFC 6582 3.2 step 2).
            let flight = self.snd_max.since(self.snd_una);
            self.ssthresh = (flight / 2).max(2 * self.mss);
            self.recover = self.snd_max;
            self.in_recovery = true;
            self.retransmit_first(tx, stats, now);
            self.cwnd = self.ssthresh + 3 * self.mss;
            self.t_rtx = Some(now + self.rto);
        }
    }

    fn take_rtt_sample(&mut self, cfg: &TcpConfig, ack: Seq, now: Instant) {
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
    fn echo_rtt(&self, cfg: &TcpConfig, now: Instant) -> Option<Duration> {
        let ecr = self.rx_tsecr.filter(|_| self.ts_ok)?;
        let ms = self.ts_now(now).wrapping_sub(ecr);
        let r = Duration::from_millis(u64::from(ms));
        (ms < 1 << 31 && r <= cfg.rto_max).then_some(r)
    }

    /// RFC 6298 2.2-2.3 with one sample `r`, weighted 1/`n` (alpha/n, beta/n).
    fn rtt_update(&mut self, cfg: &TcpConfig, r: Duration, n: u32) {
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

    fn receive_data(&mut self, seq: Seq, data: &[u8], fin: bool, stats: &mut TcpStats) {
        if seq == self.rcv_nxt {
            self.rcvq.extend(data);
            self.rcv_nxt = self.rcv_nxt + data.len();
            self.rcv_off += data.len() as u64;
            self.pending_ack_bytes += data.len();
            self.wake = true;
            if !self.ooo.is_empty() {
                // Filling a hole: take what now follows in order, ACK at once (RFC 5681
                // 4.2).
                self.drain_ooo();
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
        let start = self.rcv_off + seq.since(self.rcv_nxt) as u64;
        if fin {
            self.ooo_fin = Some(start + data.len() as u64);
        }
        if self.insert_ooo(start, data) {
            self.last_ooo = Some(start);
            stats.ooo_queued += 1;
        } else {
            stats.ooo_dropped += 1;
        }
    }

    /// Keep `data` at stream offset `start`, trimmed against what is already queued. False
    /// if the queue is full (the peer retransmits it).
    fn insert_ooo(&mut self, start: u64, data: &[u8]) -> bool {
        let mut start = start;
        let mut data = data;
        // Trim against the segment before.
        if let Some((&s, v)) = self.ooo.range(..=start).next_back() {
            let end = s + v.len() as u64;
            if end >= start + data.len() as u64 {
                return true; // a duplicate of what we hold
            }
            if end > start {
                let cut = (end - start) as usize;
                data = &data[cut..];
                start = end;
            }
        }
        // Remove segments the new one covers; trim at the next one.
        let end = start + data.len() as u64;
        let covered: Vec<u64> = self
            .ooo
            .range(start..end)
            .filter(|(&s, v)| s + v.len() as u64 <= end)
            .map(|(&s, _)| s)
            .collect();
        for s in covered {
            if let Some(v) = self.ooo.remove(&s) {
                self.ooo_bytes -= v.len();
            }
        }
        if let Some((&s, _)) = self.ooo.range(start..end).next() {
            data = &data[..(s - start) as usize];
        }
        if data.is_empty() {
            return true;
        }
        if self.ooo.len() >= OOO_MAX_SEGMENTS {
            return false;
        }
        self.ooo_bytes += data.len();
        self.ooo.insert(start, data.to_vec());
        true
    }

    fn drain_ooo(&mut self) {
        while let Some(entry) = self.ooo.first_entry() {
            let s = *entry.key();
            if s > self.rcv_off {
                break;
            }
            let v = entry.remove();
            self.ooo_bytes -= v.len();
            let skip = (self.rcv_off - s) as usize;
            if skip >= v.len() {
                continue;
            }
            let fresh = &v[skip..];
            self.rcvq.extend(fresh);
            self.rcv_nxt = self.rcv_nxt + fresh.len();
            self.rcv_off += fresh.len() as u64;
        }
    }

    /// Is this a connection the stack may drop from its table now?
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn local_window_scale(&self) -> u8 {
        self.rcv_wscale
    }

    /// Close the connection at `at` whatever happens meanwhile (an orphan in FIN-WAIT-2).
    pub fn set_fin_timeout(&mut self, at: Instant) {
        self.t_timewait = Some(at);
    }

    pub fn timewait_deadline(&self) -> Option<Instant> {
        self.t_timewait
    }

    /// What a TIME-WAIT record needs to answer late segments.
    pub fn timewait_seqs(&self) -> (Seq, Seq) {
        (self.snd_nxt, self.rcv_nxt)
    }

    /// Does an ICMP error's quoted sequence number name something we have outstanding
    /// (RFC 5927 4.1)? Forged errors rarely guess it.
    pub fn seq_outstanding(&self, seq: Seq) -> bool {
        if self.state == State::SynSent {
            return seq == self.iss;
        }
        seq.ge(self.snd_una) && seq.lt(self.snd_max)
    }

    /// An ICMP error about this connection (RFC 1122 4.2.3.9, RFC 5927): fatal while
    /// connecting (either way), remembered otherwise. ("Fragmentation needed" goes to
    /// `path_mtu`.)
    pub fn icmp_error(&mut self, e: TcpError) {
        // A half-open passive connection goes too (as Linux drops the request): its peer,
        // if real, retransmits its SYN; one that never resolves by ARP (the IP layer's
        // host unreachable) or does not exist leaves the SYN queue at once.
        if self.state == State::SynSent || (self.state == State::SynReceived && self.passive) {
            self.fail(e);
        } else {
            self.soft_error = Some(e);
        }
    }
}

impl Tcb {
    // ---- timestamps (RFC 7323) -----------------------------------------------------------

    /// Our timestamp clock: milliseconds (RFC 7323 5.4 asks for 1 ms to 1 s per tick) plus
    /// the connection's random offset.
    fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// PAWS (RFC 7323 5.3 R1): is `tsval` older than TS.Recent, which is still valid (taken
    /// less than 24 days ago, RFC 7323 5.5)? Compared modulo 2^32.
    fn paws_rejects(&self, tsval: u32, now: Instant) -> bool {
        let Some(at) = self.ts_recent_at else {
            return false;
        };
        if now.saturating_duration_since(at) > PAWS_IDLE {
            return false;
        }
        (tsval.wrapping_sub(self.ts_recent) as i32) < 0
    }

    /// RFC 7323 4.3 / 5.3 R3: an acceptable segment's TSval becomes TS.Recent if it is not
    /// older and the segment starts at or before Last.ACK.sent (so the echo is of the
    /// earliest segment an ACK of ours answers). After 24 idle days any TSval is taken.
    fn update_ts_recent(&mut self, seg: &TcpRepr, now: Instant) {
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

    /// Timestamps negotiated on this connection.
    pub fn timestamps(&self) -> bool {
        self.ts_ok
    }

    // ---- idle restart (RFC 5681 4.1) -----------------------------------------------------

    /// Nothing outstanding and no data sent for longer than the RTO: the congestion window
    /// no longer reflects the path, so start again from at most the initial window.
    fn idle_restart(&mut self, stats: &mut TcpStats, now: Instant) {
        let Some(at) = self.last_data_sent else {
            return;
        };
        if now.saturating_duration_since(at) <= self.rto {
            return;
        }
        let iw = INITIAL_WINDOW_SEGMENTS * self.mss;
        if self.cwnd > iw {
            self.cwnd = iw;
            stats.idle_restarts += 1;
        }
    }

    // ---- path-MTU discovery (RFC 1191, RFC 5927) -----------------------------------------

    /// A "fragmentation needed" about this connection whose quoted sequence number the
    /// caller checked (`seq_outstanding`): follow the path's MTU down and resend what is
    /// outstanding in segments that fit (RFC 1191 6.5: promptly, and not as a congestion
    /// signal). `mtu` 0 (a router from before RFC 1191) takes the next plateau below the
    /// datagrams we send (RFC 1191 7.1). The MSS never goes below 536 (an MTU of 576, which
    /// every host must take): a path narrower than that gets segments without DF, which
    /// routers may fragment. The path MTU goes to `ip`'s cache too. Returns the path MTU
    /// taken, if it lowered the MSS.
    pub fn path_mtu(
        &mut self,
        cfg: &TcpConfig,
        mtu: usize,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> Option<usize> {
        let current = self.mss + 40;
        let mut mtu = if mtu < 68 {
            plateau_below(current)
        } else {
            mtu
        };
        if mtu < PMTU_MIN {
            self.df = false;
            mtu = PMTU_MIN;
        }
        let mss = mtu - 40;
        if mss >= self.mss {
            return None;
        }
        self.pmtu_lowered.get_or_insert(self.mss);
        self.mss = mss;
        stats.pmtu_updates += 1;
        // `ip` keeps it for the destination (and `pmtu_raise` reads it back from there).
        tx.set_path_mtu(*self.remote.ip(), mtu, now);
        if self.state.synchronized() && self.snd_una != self.snd_max {
            // What was sent at the old size is lost: send it again now, from SND.UNA.
            self.rtt_sample = None;
            if self.in_recovery && self.sack_ok {
                self.rtx_next = self.snd_una;
            } else {
                self.snd_nxt = self.snd_base;
            }
            self.output(cfg, tx, stats, now);
        }
        Some(mtu)
    }
}

impl Tcb {
    /// After a lowered path MTU: once `ip`'s cache lets it go (10 minutes, RFC 1191 6.3),
    /// try larger segments again, up to the MSS from before (a path that is still narrow
    /// says so again).
    fn pmtu_raise(&mut self, tx: &mut dyn IpTx) {
        let (Some(before), Some((_, mtu))) = (self.pmtu_lowered, tx.route_info(*self.remote.ip()))
        else {
            return;
        };
        let mss = mtu.saturating_sub(40).min(before);
        if mss > self.mss {
            self.mss = mss;
            self.df = true;
        }
        if self.mss >= before {
            self.pmtu_lowered = None;
        }
    }
}

/// The smallest path MTU followed (RFC 791's 576; its MSS is RFC 9293's default 536).
pub const PMTU_MIN: usize = 576;

/// RFC 1191 7.1's table of common MTUs, for routers that do not say the next-hop MTU.
const MTU_PLATEAUS: [usize; 11] = [
    65_535, 32_000, 17_914, 8_166, 4_352, 2_002, 1_492, 1_006, 508, 296, 68,
];

/// The largest plateau below `size`.
fn plateau_below(size: usize) -> usize {
    MTU_PLATEAUS.into_iter().find(|&p| p < size).unwrap_or(68)
}

/// TS.Recent older than this is invalid (RFC 7323 5.5: 24 days, below the 2^31 ms a TSval
/// comparison can span at 1 ms per tick).
pub const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// The initial window in segments (RFC 6928), also the idle restart's ceiling.
const INITIAL_WINDOW_SEGMENTS: usize = 10;

/// Loss probes before the RTO takes over. RFC 8985 sends one; a second one, two PTOs
/// later, covers the probe's own ACK being lost, which on a lossy link otherwise costs a
/// whole (200 ms or backed-off) RTO.
const MAX_TLP: u32 = 2;

/// Zero-window probes an orphaned connection sends before it gives up (Linux: 8).
pub const ORPHAN_PROBES: u32 = 8;

/// Out-of-order segments held per connection at most.
pub const OOO_MAX_SEGMENTS: usize = 1024;

/// Received bytes one ACK may cover at most when a batch of segments draws one ACK (as
/// Linux's GRO coalesces at most 64 KB before its receiver ACKs).
pub const ACK_STRETCH_MAX: usize = 65_536;

/// The most payload sent in one frame for the device to cut (TSO): what fits one IPv4
/// datagram with the largest TCP header.
pub const TSO_MAX: usize = 65_535 - 20 - 60;

/// Send a header-only or small segment built by hand.
pub fn send_repr(
    tx: &mut dyn IpTx,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    r: &TcpRepr,
    payload: &[u8],
    now: Instant,
) -> bool {
    let hl = r.header_len();
    let meta = SendMeta {
        src: Some(*local.ip()),
        l4_csum: Some(super::wire::CHECKSUM_AT as u16),
        // Path-MTU discovery (RFC 1191): a router that would fragment says so instead.
        dont_fragment: true,
        ..SendMeta::new(*remote.ip(), ip::ipv4::protocol::TCP)
    };
    tx.send_with(
        &meta,
        hl + payload.len(),
        &mut |buf| {
            buf[hl..].copy_from_slice(payload);
            r.emit_header(buf);
        },
        now,
    )
    .is_ok()
}
