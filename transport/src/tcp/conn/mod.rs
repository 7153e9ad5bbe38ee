//! One TCP connection: its transmission control block and state machine (RFC 9293), with
//! RFC 5961's defences, RFC 6298's retransmission timer, RFC 5681/6582 congestion control,
//! and the timers of RFC 9293 and RFC 1122 (delayed ACK, persist, keepalive, TIME-WAIT,
//! user timeout). Sans-IO: every entry point takes `now` and the `IpTx` to send through.
//!
//! Sequence space bookkeeping: `sndq` holds the bytes from `snd_base` on (unacknowledged and
//! not yet sent). `snd_base` is `snd_una`, or `snd_una + 1` while our SYN is unacknowledged.
//! Our FIN, once the application has closed, sits at `snd_base + sndq.len()`.
//! Received bytes are numbered by a 64-bit stream offset (`rx.end()` is the offset of
//! `rcv_nxt`), so the receive ring and its assembler never compare wrapped sequence
//! numbers.

use super::congestion::{Algorithm, Cc, CongestionControl, HyStartEvent};
use super::mem::{Charge, MemPool};
use super::seq::Seq;
use super::{TcpConfig, TcpError, TcpStats};
use crate::tcp::wire::{flags, FastOpen, TcpRepr};
use ip::{IpTx, PmtuMode, SendMeta};
use netif::{Duration, Instant};
use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

mod assembler;
#[cfg(test)]
mod cc_tests;
#[cfg(test)]
mod close_review_tests;
#[cfg(test)]
mod diff_review_tests;
mod ecn;
#[cfg(test)]
mod ecn_ts_review_tests;
#[cfg(test)]
mod fuzz_review_tests;
#[cfg(test)]
mod harness;
mod input;
#[cfg(test)]
mod mem_tests;
mod options;
mod output;
mod probe;
mod prr;
mod rack;
#[cfg(test)]
mod rcv_review_tests;
mod recovery;
mod recv;
#[cfg(test)]
mod rt_review_tests;
mod rtt;
mod rxring;
mod scoreboard;
mod segtable;
#[cfg(test)]
mod snd_review_tests;
#[cfg(test)]
mod timer_review_tests;
mod timers;
mod undo;
#[cfg(test)]
mod urg_ka_review_tests;
mod urgent;

use rtt::RttEstimator;
use timers::{Timer, TimerTable};

use rack::Rack;
use scoreboard::Scoreboard;

pub(crate) use ecn::ecn_setup_syn;
pub(crate) use options::plateau_below;
pub use output::{send_repr, send_repr_ttl};
#[doc(hidden)]
pub use probe::TcbProbe;
/// The most records a connection's table of sent segments holds.
pub use segtable::MAX_RECORDS as SEG_TABLE_MAX;

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
    /// `TCP_CORK`: no short segment leaves (Nagle or `nodelay` aside) until the option is
    /// cleared, the FIN follows, or nothing has been in flight for a retransmission
    /// timeout (the persist timer sends what waits: Linux's 200 ms ceiling).
    pub cork: bool,
    pub keepalive: bool,
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` (seconds, 1 to [`MAX_KEEP_SECS`]) and
    /// `TCP_KEEPCNT` (1 to [`MAX_KEEP_COUNT`]) set on this socket; 0, the default, is the
    /// stack's `TcpConfig` value (Linux's sysctls).
    pub keep_idle: u16,
    pub keep_interval: u16,
    pub keep_count: u8,
    /// The receive buffer a connection starts with, and the most it may grow to (see
    /// `TcpConfig::rcvbuf_max`); equal, the buffer stays as it is.
    pub rcvbuf: usize,
    pub rcvbuf_max: usize,
    pub sndbuf: usize,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged. `None` (or zero),
    /// the default, is Linux's unset option (0): `TcpConfig::user_timeout` bounds the
    /// retransmissions alone. Any value the application set, whatever it is, also bounds
    /// keepalive in place of `keep_count` (see `on_keepalive`), and a shut window probed
    /// that long, answered or not (see `on_persist`).
    pub user_timeout: Option<Duration>,
    /// `TCP_CONGESTION`.
    pub congestion: Algorithm,
    /// `IP_TTL`: the TTL of the connection's datagrams (None: the IP layer's default).
    pub ttl: Option<u8>,
    /// `IP_TOS`: the TOS octet of its datagrams (the ECN bits stay 0, as Linux keeps them
    /// for TCP's own use).
    pub tos: u8,
    /// `IP_MTU_DISCOVER`, as Linux's TCP reads it (`ip_dont_fragment`, `tcp_v4_mtu_reduced`):
    /// `Want` (the default) and `Do` send with DF and follow a "fragmentation needed" down;
    /// `Want` drops DF once the path is below the smallest MTU followed (576), `Do` keeps
    /// it. `Dont` sends without DF and leaves the MSS where it is when a router says the
    /// path is narrower (it fragments the segments instead). `Probe` sends without DF too
    /// (Linux's TCP sets DF for `Do` and `Want` only) but follows the path MTU down.
    pub pmtu: PmtuMode,
    /// `IP_RECVERR`: an ICMP error about an established connection is reported at once
    /// (the next call returns it, poll says so) and the connection goes on, as Linux's
    /// `tcp_v4_err`; without it the error is kept for a timeout to report.
    pub recverr: bool,
    /// `TCP_FASTOPEN` on a listener (RFC 7413): how many connections opened by data in
    /// their SYN may wait for the handshake's end at once (Linux's `qlen`); 0, the
    /// default, takes no data from a SYN and gives no cookies.
    pub fastopen: usize,
}

impl ConnOpts {
    /// What the connection asks of each datagram's IP header (DF as for a path at or
    /// above 576).
    pub fn ip(&self) -> crate::IpFields {
        crate::IpFields {
            ttl: self.ttl,
            tos: self.tos,
            fragment: !matches!(self.pmtu, PmtuMode::Want | PmtuMode::Do),
        }
    }
}

/// A Fast Open active open (RFC 7413 4.1), for [`Tcb::connect`]: the data to send, and
/// the cookie the server gave an earlier connection with the MSS it announced then.
pub(crate) struct ActiveFastOpen<'a> {
    pub data: &'a [u8],
    pub cookie: Option<(FastOpen, u16)>,
    /// Fast Open is off to this server for now (its Fast Open SYNs were lost, RFC 7413
    /// 4.1.3): a plain SYN, the data after the handshake.
    pub off: bool,
}

/// What became of an active open's Fast Open SYN, for the client's cache (RFC 7413
/// 4.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastOpenOutcome {
    /// The SYN-ACK brought a cookie (with the MSS it announced): kept for the next
    /// connection in place of the old one.
    Cookie(FastOpen, u16),
    /// The server answered the Fast Open SYN itself without a cookie: it took the data
    /// (or not: its Fast Open queue may be full, or it may have had no data to take; the
    /// cookie is kept, as Linux keeps it, and the data went again at once).
    Answered,
    /// The first SYN went unanswered (its timer fired, and no SYN-ACK answered it
    /// since), or an ICMP error ended the connection in SYN-SENT.
    Lost,
}

/// What a listener made of a SYN's TCP Fast Open option (RFC 7413 4.2), for
/// [`Tcb::accept_syn`].
pub(crate) enum SynFastOpen<'a> {
    /// Nothing: no option, Fast Open off, or a valid cookie with no data.
    None,
    /// The client asked for a cookie, or sent one that did not check: our SYN-ACK gives
    /// it this one (and the SYN's data, if any, waits for the handshake's end).
    Cookie(FastOpen),
    /// A valid cookie with data: taken, and acknowledged by the SYN-ACK.
    Data(&'a [u8]),
}

/// What `netstat` shows of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    /// The congestion-control algorithm (`TCP_CONGESTION`).
    pub congestion: Algorithm,
    pub cwnd: usize,
    pub ssthresh: usize,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    /// The smallest RTT sample seen.
    pub min_rtt: Option<Duration>,
    pub rto: Duration,
    /// Losses detected: fast retransmits that started a recovery, and retransmission
    /// timeouts.
    pub losses: u64,
    /// Segments sent again (timeouts, fast and SACK retransmissions, loss probes).
    pub retransmits: u64,
    pub mss: usize,
    pub snd_wnd: usize,
    pub rcv_wnd: usize,
    /// Timestamps (RFC 7323) negotiated.
    pub timestamps: bool,
    /// ECN (RFC 3168) agreed in the handshake.
    pub ecn: bool,
    /// The receive buffer now (SO_RCVBUF, or what autotuning grew it to).
    pub rcvbuf: usize,
}

/// Largest window we can announce without scaling, and the scale limit (RFC 7323 2.3).
const MAX_WINDOW: usize = 65_535;
const MAX_WSCALE: u8 = 14;
/// The largest receive buffer a window can announce (RFC 7323's largest shift, 14).
pub(crate) const MAX_RCVBUF: usize = MAX_WINDOW << MAX_WSCALE;
/// The smallest segment size we go down to for a peer's MSS (Linux's `tcp_min_snd_mss`):
/// a peer asking for less would only make us spend a packet on every few bytes. Above it,
/// the peer's MSS is obeyed (RFC 9293 3.7.1).
const MIN_MSS: usize = 48;
/// The default MSS when the peer sends none (RFC 9293 3.7.1).
const DEFAULT_MSS: usize = 536;
/// The longest `TCP_KEEPIDLE` and `TCP_KEEPINTVL`, seconds (Linux's MAX_TCP_KEEPIDLE and
/// MAX_TCP_KEEPINTVL).
pub const MAX_KEEP_SECS: u16 = 32_767;
/// The most `TCP_KEEPCNT` probes (Linux's MAX_TCP_KEEPCNT).
pub const MAX_KEEP_COUNT: u8 = 127;
/// When an ACK the IP layer refused is tried again (Linux's TCP_DELACK_MAX).
const ACK_RETRY: Duration = Duration::from_millis(200);

pub struct Tcb {
    pub state: State,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub opts: ConnOpts,
    /// Opened by a SYN to a listener (a failed handshake then vanishes quietly).
    pub passive: bool,
    /// TCP Fast Open (RFC 7413), a passive open's: the cookie our SYN-ACK gives the
    /// client (it asked for one, or sent one that did not check), in its encoding.
    pub(crate) fo_cookie: Option<FastOpen>,
    /// ... and a SYN with a valid cookie brought data, taken: the application has the
    /// connection at once and may send before the handshake's ACK comes (RFC 7413 4.2.2).
    pub(crate) fo_child: bool,
    /// An active open's Fast Open: the option our first SYN carries (a cookie, with the
    /// server's MSS when it gave it, or a request), ...
    pub(crate) fo_syn: Option<(FastOpen, u16)>,
    /// ... and what became of that SYN, for the cache.
    pub(crate) fo_outcome: Option<FastOpenOutcome>,
    /// The end of the bytes queued when `TCP_NODELAY` was turned on while corked: up to
    /// here a short segment goes whatever the cork says (`push_corked`), until SND.UNA
    /// passes it.
    push_end: Option<Seq>,
    /// The end of the data that SYN carried, when its SYN-ACK did not acknowledge all of
    /// it: sent again after the handshake as if new (`fo_syn_acked`), it is a
    /// retransmission all the same, and goes without ECT (RFC 3168 6.1.5). Until SND.UNA
    /// passes it.
    fo_resend_end: Option<Seq>,
    /// Why the connection failed, for the application (taken once).
    pub error: Option<TcpError>,
    /// An ICMP error seen meanwhile, reported if the connection then times out (cleared
    /// by an ACK of new data).
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
    /// The end of the last new segment sent shorter than a full one (Minshall's Nagle:
    /// another small segment waits only while this one is unacknowledged); moved up
    /// with SND.UNA, so it is never behind it.
    snd_sml: Seq,
    snd_wscale: u8,
    sndq: VecDeque<u8>,

    // Receive sequence space.
    irs: Seq,
    rcv_nxt: Seq,
    /// The right edge of the window we announced (it never moves left).
    rcv_adv: Seq,
    /// The right edge the peer was last told: behind `rcv_adv` when the window's rounding
    /// to its scale's unit had to round down (see `header`).
    rcv_told: Seq,
    rcv_wscale: u8,
    /// The receive buffer now: `opts.rcvbuf`, grown up to `opts.rcvbuf_max` (see
    /// `Tcb::autotune_rcvbuf`), with the end of the current round of autotuning and the
    /// most bytes left unread in it.
    rcv_buf: usize,
    tune_end: Option<Seq>,
    tune_peak: usize,
    /// When the current round began (the arrival of the segment that started it).
    tune_from: Instant,
    /// The received bytes, unread and out of order, at their stream offsets.
    rx: rxring::RxRing,
    /// Stream offset of a FIN seen beyond a hole.
    ooo_fin: Option<u64>,
    /// Both ends offered SACK (RFC 2018): our ACKs report the out-of-order ranges.
    sack_ok: bool,
    /// The SACK scoreboard on the table of segments in flight (kept when SACK is on).
    sb: Scoreboard,
    /// RACK-TLP's state (RFC 8985); `rack_enabled` false leaves loss marking to RFC
    /// 6675's DupThresh rule.
    rack: Rack,
    rack_enabled: bool,
    /// The recovery under way began with a retransmission timeout (slow start through it).
    rto_recovery: bool,
    /// The latest congestion event's retransmissions, watched for proof that they were
    /// spurious (then the congestion response is undone).
    undo: undo::Undo,
    /// Send one segment now whatever silly-window avoidance and Nagle say (persist's
    /// override), and also beyond the peer's window (a timeout's retransmission).
    force_sws: bool,
    force_window: bool,
    /// The largest segment the peer has sent (for the delayed-ACK rule).
    max_seg_seen: usize,
    /// The length of the last in-order segment of at most our MSS (see `receive_data`).
    last_seg_len: u16,
    /// An ACK is owed by the every-second-segment rule; inside a receive batch it waits for
    /// the batch's end, so a batch of in-order segments draws one ACK (see `segment`).
    ack_due: bool,
    /// Quick ACKs left (`TcpConfig::quick_acks`): in-order data acknowledged at once.
    quick_acks: u8,
    /// ECN (RFC 3168): the configured mode, kept from the connection's start; whether
    /// both SYNs agreed on it; a Congestion Experienced came in and every ACK echoes it
    /// (ECE) until a CWR comes (6.1.3); we reduced the window for an ECE and the next new
    /// data segment carries CWR (6.1.2); SND.MAX at that reduction (one per window).
    ecn_mode: crate::tcp::EcnMode,
    ecn_ok: bool,
    ece_echo: bool,
    cwr_due: bool,
    ecn_high: Seq,
    /// An ECN reduction's round trip (until SND.UNA reaches `ecn_high`): the window
    /// does not grow (see `ecn_may_grow`).
    ecn_cwr: bool,
    /// The connection is interactive (Linux's "pingpong" mode): we sent data within the
    /// delayed-ACK time of receiving some, so the next reply will likely carry the ACK
    /// and quick ACKs are not used. Left when a delayed ACK's timer fires.
    interactive: bool,
    /// When in-order data last arrived (for `interactive`).
    last_data_rx: Option<Instant>,
    /// Listed in the transport's batch ACK list (`Transport::end_batch` answers it once).
    ack_listed: bool,
    /// The route's device cuts large segments for us (TSO): new data leaves in bursts of
    /// up to [`TSO_MAX`] bytes, one frame each. Looked up at each `output`.
    tso: bool,
    /// The peer's FIN has been received (in order).
    pub fin_received: bool,

    /// Segment size we send (the peer's MSS, clamped) and announce.
    mss: usize,
    rcv_mss: usize,

    // RFC 6298.
    rtt: RttEstimator,
    rtt_sample: Option<(Seq, Instant)>,
    backoff: u32,
    /// Retransmission timeouts since the peer last sent anything but data (a pure ACK
    /// shows our segments reach it): a path-MTU black hole is suspected only when they
    /// elicit nothing (`suspect_black_hole`).
    unanswered_rtos: u8,
    syn_retries: u32,
    /// SYN-ACK retransmissions allowed (the listener lowers it under pressure).
    pub synack_retries: u32,
    /// When this connection last answered an out-of-window segment or sent a challenge
    /// ACK (RFC 5961 7's per-connection limit).
    last_oow_ack: Option<Instant>,

    // RFC 5681 / 6582: the window and threshold live in the congestion controller.
    cc: Cc,
    dupacks: u32,
    recover: Seq,
    in_recovery: bool,
    /// Proportional Rate Reduction's counts for the SACK recovery under way (`prr.rs`).
    prr: prr::Prr,

    // Timers (deadlines).
    timers: TimerTable,
    persist_interval: Duration,
    tlp_enabled: bool,
    /// `TcpConfig::max_loss_probes`.
    tlp_max: u32,
    /// Probes sent since SND.UNA last advanced.
    tlp_count: u32,
    /// The application has let go (set by the owner): zero-window probing is bounded.
    pub orphan: bool,
    /// The application shut its reading (`shutdown(SHUT_RD)`, set by the owner): new data
    /// after our FIN resets the connection, as for an orphan (Linux's RCV_SHUTDOWN).
    pub shut_read: bool,
    /// Zero-window probes answered with a window still closed, in a row.
    persist_probes: u32,
    /// The first unsent byte (SND.MAX then) when the last zero-window probe carried it
    /// without counting it as sent: an ACK may take it (see `on_persist`).
    probe_byte: Option<Seq>,
    /// When the first zero-window probe of the current shut window went out: a
    /// TCP_USER_TIMEOUT the application set bounds the probing from there.
    persist_since: Option<Instant>,
    /// When the oldest unanswered retransmission (or probe) started, for the user timeout.
    stalled_since: Option<Instant>,
    last_rx: Instant,
    keep_probes: u32,

    ack_now: bool,
    /// Data just received a second time (RFC 2883's D-SACK), for the first SACK block of
    /// the ACK that answers it, and that one only.
    dsack: Option<(Seq, Seq)>,
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
    /// Echoes of TSvals before this one measure no round trip (a SYN cookie's TSval,
    /// whose low bits carry options, is older than the moment it left).
    ts_echo_floor: Option<u32>,
    /// When new data or a retransmission last left, or the idle restart last ran (RFC
    /// 5681 4.1: idle time is counted from there).
    last_data_sent: Option<Instant>,
    /// Segments carry DF (path-MTU discovery) unless the path is below the smallest MTU
    /// we follow it down to.
    df: bool,
    /// The MSS before a "fragmentation needed" lowered it, while it is lowered.
    pmtu_lowered: Option<usize>,
    /// What the link towards the peer takes (its MTU less 40) when the connection was
    /// made: above `rcv_mss` when `ip` held a smaller path MTU for the peer then.
    link_mss: usize,
    /// What the receive ring and send queue have allocated, charged to the stack's pool
    /// (`super::mem`).
    mem: Charge,
    /// SND.UP (RFC 9293 3.8.5): the sequence number after the last urgent byte queued,
    /// until SND.UNA reaches it (see `urgent.rs`).
    snd_up: Option<Seq>,
    /// RCV.UP: the stream offset of the octet after the peer's urgent data, while the
    /// urgent byte is unread.
    rcv_up: Option<std::num::NonZeroU64>,
}

/// The MTUs a connection to `dst` starts with: the route's (with a path MTU `ip` learnt,
/// 576 without a route) and the link's own.
pub(crate) fn open_mtus(tx: &dyn IpTx, dst: Ipv4Addr) -> (usize, usize) {
    let mtu = tx.route_info(dst).map_or(576, |r| r.1);
    (mtu, tx.link(dst).map_or(mtu, |l| l.1.max(mtu)))
}

impl Tcb {
    /// `mtu`: the route's MTU towards `remote` and the link's (see [`open_mtus`]).
    #[allow(clippy::too_many_arguments)]
    fn new(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        ts_offset: u32,
        (mtu, link_mtu): (usize, usize),
        opts: ConnOpts,
        now: Instant,
    ) -> Tcb {
        let iss = Seq(iss);
        let rcv_mss = mtu.saturating_sub(40).clamp(MIN_MSS, 65_495);
        let link_mss = link_mtu.saturating_sub(40).clamp(MIN_MSS, 65_495);
        let rcv_wscale = Tcb::announced(&opts).wscale;
        Tcb {
            state: State::Closed,
            local,
            remote,
            opts,
            passive: false,
            fo_cookie: None,
            fo_child: false,
            fo_syn: None,
            fo_outcome: None,
            fo_resend_end: None,
            push_end: None,
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
            snd_sml: iss,
            snd_wscale: 0,
            sndq: VecDeque::new(),
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_adv: Seq(0),
            rcv_told: Seq(0),
            rcv_wscale,
            rcv_buf: opts.rcvbuf,
            tune_end: None,
            tune_peak: 0,
            tune_from: Instant::ZERO,
            rx: rxring::RxRing::new(0),
            ooo_fin: None,
            sack_ok: false,
            sb: Scoreboard::new(),
            rack: Rack::new(),
            rack_enabled: cfg.rack,
            rto_recovery: false,
            undo: undo::Undo::default(),
            force_sws: false,
            force_window: false,
            max_seg_seen: 0,
            last_seg_len: 0,
            fin_received: false,
            mss: DEFAULT_MSS.min(rcv_mss),
            rcv_mss,
            rtt: RttEstimator::new(cfg.rto_initial),
            rtt_sample: None,
            backoff: 0,
            unanswered_rtos: 0,
            syn_retries: 0,
            synack_retries: cfg.synack_retries,
            last_oow_ack: None,
            cc: Cc::new(opts.congestion),
            dupacks: 0,
            recover: iss,
            in_recovery: false,
            prr: prr::Prr::default(),
            timers: TimerTable::default(),
            persist_interval: Duration::ZERO,
            tlp_enabled: cfg.tail_loss_probe,
            tlp_max: cfg.max_loss_probes,
            tlp_count: 0,
            orphan: false,
            shut_read: false,
            persist_probes: 0,
            probe_byte: None,
            persist_since: None,
            stalled_since: None,
            last_rx: now,
            keep_probes: 0,
            ack_now: false,
            dsack: None,
            pending_ack_bytes: 0,
            ack_due: false,
            quick_acks: 0,
            interactive: false,
            last_data_rx: None,
            ecn_mode: cfg.ecn,
            ecn_ok: false,
            ece_echo: false,
            cwr_due: false,
            ecn_cwr: false,
            ecn_high: iss,
            ack_listed: false,
            tso: false,
            retransmits: 0,
            ts_enabled: cfg.timestamps,
            ts_ok: false,
            ts_offset,
            ts_recent: 0,
            ts_recent_at: None,
            last_ack_sent: Seq(0),
            rx_tsecr: None,
            ts_echo_floor: None,
            last_data_sent: None,
            df: true,
            pmtu_lowered: None,
            link_mss,
            mem: Charge::default(),
            snd_up: None,
            rcv_up: None,
        }
    }

    /// An active open: the SYN goes out at once. With `fo`, a Fast Open (RFC 7413 4.1):
    /// its data is queued first, and the SYN carries as much of it as the server's MSS
    /// allows with the server's cookie, or asks for a cookie when there is none.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
        ts_offset: u32,
        mtu: (usize, usize),
        opts: ConnOpts,
        fo: Option<ActiveFastOpen<'_>>,
        mem: std::sync::Arc<MemPool>,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, ts_offset, mtu, opts, now);
        t.set_state(State::SynSent);
        // In the pool before a Fast Open's data is queued: memory pressure bounds it.
        t.attach_mem(mem);
        if let Some(fo) = fo {
            t.write(fo.data);
            if !fo.off {
                t.fo_syn = Some(fo.cookie.unwrap_or((FastOpen::REQUEST, 0)));
            }
        }
        t.send_syn(tx, stats, now);
        // A user timeout set before connect bounds the SYN's retransmissions from here
        // (Linux's tcp_connect sets retrans_stamp as the SYN leaves).
        t.stalled_since = Some(now);
        t.timers.set(Timer::Rtx, now + t.rtt.rto());
        t
    }

    /// A passive open: a SYN arrived at a listener; answer it with our SYN-ACK (with
    /// what the listener made of its Fast Open option, `fo`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept_syn(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr,
        fo: SynFastOpen<'_>,
        iss: u32,
        ts_offset: u32,
        mtu: (usize, usize),
        opts: ConnOpts,
        tx: &mut dyn IpTx,
        stats: &mut TcpStats,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, ts_offset, mtu, opts, now);
        t.passive = true;
        t.transitions.push((State::Listen, State::SynReceived));
        t.state = State::SynReceived;
        count_wscale_error(syn, stats);
        t.take_syn_options(syn, now);
        t.irs = syn.seq;
        t.rcv_nxt = syn.seq + 1;
        t.rcv_adv = t.rcv_nxt;
        t.rcv_told = t.rcv_nxt;
        t.snd_wnd = usize::from(syn.window);
        t.max_snd_wnd = t.snd_wnd;
        t.snd_wl1 = syn.seq;
        match fo {
            SynFastOpen::None => {}
            SynFastOpen::Cookie(c) => t.fo_cookie = Some(c),
            SynFastOpen::Data(data) => {
                // The SYN-ACK acknowledges the data (RFC 7413 4.2.2), which the
                // application may read at once.
                t.fo_child = true;
                t.last_data_rx = Some(now);
                t.receive_data(t.rcv_nxt, data, false, stats);
            }
        }
        t.send_syn(tx, stats, now);
        // The SYN-ACK carried the data's ACK.
        t.ack_now = false;
        t.ack_due = false;
        t.pending_ack_bytes = 0;
        t.timers.set(Timer::Rtx, now + t.rtt.rto());
        t
    }

    /// A passive open rebuilt from a valid SYN cookie (RFC 4987 3.6): SYN-RECEIVED as if
    /// our SYN-ACK (ISN `iss`, our window unscaled) had left and the peer's SYN (ISN
    /// `irs`) had arrived, with the options the cookie carries (`agreed`); `peer_tsval` is
    /// the latest TSval from the peer to echo. The handshake's ACK, handed to
    /// [`Tcb::segment`] next, completes it. The cookie's SYN-ACK is sent from one of these
    /// too, with `ts_offset` moved so that its TSval carries the options.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        cfg: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        irs: Seq,
        iss: u32,
        agreed: super::cookie::Agreed,
        peer_tsval: Option<u32>,
        ts_offset: u32,
        mtu: (usize, usize),
        opts: ConnOpts,
        now: Instant,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, ts_offset, mtu, opts, now);
        t.passive = true;
        t.transitions.push((State::Listen, State::SynReceived));
        t.state = State::SynReceived;
        let o = agreed.opts;
        t.take_syn_options(
            &TcpRepr {
                seq: irs,
                flags: if o.ecn {
                    flags::SYN | flags::ECE | flags::CWR
                } else {
                    flags::SYN
                },
                mss: Some(agreed.mss),
                wscale: o.wscale,
                sack_permitted: o.sack,
                timestamp: peer_tsval.filter(|_| o.timestamps).map(|v| (v, 0)),
                ..TcpRepr::default()
            },
            now,
        );
        // The echoes of the cookie's TSval are up to 63 ms older than when it left: no
        // round trip is measured from them.
        t.ts_echo_floor = Some(t.ts_now(now));
        t.irs = irs;
        t.rcv_nxt = irs + 1;
        t.last_ack_sent = t.rcv_nxt;
        // The window our cookie SYN-ACK announced (`send_syn`'s, unscaled).
        t.rcv_adv = t.rcv_nxt + t.rcv_buf.min(MAX_WINDOW);
        t.rcv_told = t.rcv_adv;
        t.snd_wl1 = irs;
        t
    }

    /// The window scale our SYN offers (the least that lets the window reach the largest
    /// receive buffer the connection may grow to) and the window it announces (unscaled,
    /// RFC 7323 2.2), for a connection with `opts`.
    pub fn announced(opts: &ConnOpts) -> super::cookie::Ours {
        let mut wscale = 0;
        while wscale < MAX_WSCALE && (MAX_WINDOW << wscale) < opts.rcvbuf.max(opts.rcvbuf_max) {
            wscale += 1;
        }
        super::cookie::Ours {
            wscale,
            window: opts.rcvbuf.min(MAX_WINDOW) as u16,
        }
    }

    /// The listener's SYN queue is under pressure: allow this half-open connection at most
    /// `n` SYN-ACK retransmissions; if it has had them already, it fails at once (at the
    /// next timer run).
    pub fn limit_synack_retries(&mut self, n: u32, now: Instant) {
        self.synack_retries = self.synack_retries.min(n);
        if self.state == State::SynReceived && self.passive && self.syn_retries >= n {
            self.timers.set(Timer::Rtx, now);
        }
    }

    /// Take the options of the peer's SYN (or SYN-ACK). A window scale above 14 is used as
    /// 14 (RFC 7323 2.3); the caller counts it (`count_wscale_error`) once per SYN.
    fn take_syn_options(&mut self, syn: &TcpRepr, now: Instant) {
        self.sack_ok = syn.sack_permitted;
        // ECN (RFC 3168 6.1.1): a SYN asks with ECE and CWR, a SYN-ACK agrees with ECE
        // alone, and only to our own asking.
        use crate::tcp::EcnMode;
        self.ecn_ok = match (syn.has(flags::ACK), self.ecn_mode) {
            (_, EcnMode::Off) => false,
            (true, mode) => mode == EcnMode::On && syn.has(flags::ECE) && !syn.has(flags::CWR),
            // A simultaneous open's SYN: only if our own SYN asked too (6.1.1: no ECT
            // after a SYN that did not).
            // Nor after our SYN was sent again without asking: the peer may have seen only
            // that one (6.1.1: "has sent no non-ECN-setup SYN"). A SYN-ACK that agrees, on
            // the other hand, proves the peer saw the SYN that asked, and is taken (as
            // Linux does; strictly, 6.1.1 would refuse it too).
            (false, mode) => {
                ecn_setup_syn(syn)
                    && (self.passive || (mode == EcnMode::On && self.syn_retries == 0))
            }
        };
        // Timestamps only if both SYNs carry them (RFC 7323 3.2): we offer them when
        // enabled, and answer only an offer.
        self.ts_ok = self.ts_enabled && syn.timestamp.is_some();
        if let Some((tsval, _)) = syn.timestamp.filter(|_| self.ts_ok) {
            self.ts_recent = tsval;
            self.ts_recent_at = Some(now);
        }
        // An MSS of 0 says nothing (Linux ignores it): the default holds.
        let peer_mss = syn.mss.filter(|&m| m > 0).map_or(DEFAULT_MSS, usize::from);
        self.mss = peer_mss.clamp(MIN_MSS, self.rcv_mss);
        if self.rcv_mss < self.link_mss && self.mss < peer_mss {
            // Held below the peer's MSS by a path MTU `ip` had learnt, not by the link: a
            // lowering as if a "fragmentation needed" of its own had made it, which
            // `pmtu_raise` takes back when `ip` lets that MTU go (RFC 1191 6.3).
            self.pmtu_lowered = Some(peer_mss.min(self.link_mss));
        }
        match syn.wscale {
            Some(s) => self.snd_wscale = s.min(MAX_WSCALE),
            // Window scaling is used only if both sides offer it (RFC 7323 1.3).
            None => self.rcv_wscale = 0,
        }
        self.cc.set_cwnd(initial_window(self.mss));
    }

    /// The handshake completes after our SYN or SYN-ACK was retransmitted: the RTO is
    /// re-initialized to 3 s (or the initial RTO if larger), having no sample (RFC 6298 5.7), and data starts from one segment, not
    /// the initial window (RFC 5681 3.1: "MUST be one segment").
    fn after_syn_loss(&mut self, cfg: &TcpConfig) {
        self.rtt.after_syn_retransmit(cfg.rto_initial, cfg.rto_max);
        self.cc.set_cwnd(self.mss);
    }

    pub fn set_state(&mut self, s: State) {
        let handshake = |s: State| matches!(s, State::SynSent | State::SynReceived);
        if handshake(self.state) && !handshake(s) {
            // The SYN's user-timeout clock (see `connect`) stops with the handshake's
            // end: a simultaneous open's SYN-RECEIVED still retransmits our SYN, and is
            // bounded from the first SYN (Linux's retrans_stamp, kept in TCP_SYN_RECV).
            self.stalled_since = None;
        }
        if s != self.state {
            self.transitions.push((self.state, s));
            self.state = s;
            self.wake = true;
        }
    }

    /// Fail the connection: CLOSED, the error kept for the application, timers off.
    fn fail(&mut self, e: TcpError) {
        if self.state == State::SynSent && self.fo_syn.is_some() {
            // A Fast Open connection fails: by a RST or a port unreachable, the server
            // refused it (not its Fast Open); by a timeout or another ICMP error (RFC 7413
            // 4.1.3.1 lists them among the negative responses), its SYN was lost.
            self.fo_outcome = match e {
                TcpError::Refused => None,
                _ => Some(FastOpenOutcome::Lost),
            };
        }
        self.error = Some(e);
        self.close_now();
    }

    /// Closed and forgotten at once, with nothing sent.
    pub(crate) fn close_now(&mut self) {
        self.set_state(State::Closed);
        self.timers.clear_all();
        self.sb.clear();
        self.wake = true;
    }

    /// Bytes the application can read now.
    pub fn readable_bytes(&self) -> usize {
        self.rx.readable()
    }

    /// End of stream: the peer's FIN came and every byte before it has been read.
    pub fn at_eof(&self) -> bool {
        self.fin_received && self.rx.readable() == 0
    }

    /// Room in the send queue. Under memory pressure (`super::mem`) no more than its
    /// allocation holds, or [`SEND_MIN_UNDER_PRESSURE`] when it is empty.
    pub fn send_space(&self) -> usize {
        let room = self.opts.sndbuf.saturating_sub(self.sndq.len());
        if !self.mem.pressure() {
            room
        } else if self.sndq.is_empty() {
            room.min(SEND_MIN_UNDER_PRESSURE)
        } else {
            room.min(self.sndq.capacity() - self.sndq.len())
        }
    }

    /// Charge the pool with what the buffers hold now; under pressure, first give back a
    /// ring or queue that is empty. After anything that may have grown or emptied them.
    pub(crate) fn recharge(&mut self) {
        if self.mem.pressure() {
            self.release_empty_buffers();
        } else {
            self.mem.set(self.rx.capacity() + self.sndq.capacity());
        }
    }

    /// Give back a receive ring or send queue that holds nothing (kept otherwise for the
    /// next bytes), and charge what is left: what the transport does to every connection
    /// when the pool comes under pressure, so idle connections that once moved bulk data
    /// do not hold it there.
    pub(crate) fn release_empty_buffers(&mut self) {
        self.rx.release_if_empty();
        if self.sndq.is_empty() && self.sndq.capacity() > 0 {
            self.sndq = VecDeque::new();
        }
        self.mem.set(self.rx.capacity() + self.sndq.capacity());
    }

    /// Memory pressure began: let go of the bytes held beyond a hole, as Linux prunes its
    /// out-of-order queue (RFC 2018 8 lets a receiver out of buffer space discard data it
    /// has SACKed; the peer sends it again), then give back the buffers that hold nothing.
    /// One byte beyond a hole otherwise keeps a whole-buffer ring charged to the pool,
    /// and a few peers doing so would keep the stack under pressure. Returns how many
    /// out-of-order ranges went.
    pub(crate) fn shed_for_pressure(&mut self) -> usize {
        // A FIN beyond the hole (`ooo_fin`) stays: where the stream ends is still known.
        let n = self.rx.drop_ooo();
        self.release_empty_buffers();
        n
    }

    /// Charge `pool` for this connection's buffers from now on.
    pub(crate) fn attach_mem(&mut self, pool: std::sync::Arc<MemPool>) {
        self.mem.attach(pool);
        self.recharge();
    }

    /// Enough room to be worth a writer's wake-up: a third of the buffer (as Linux's
    /// `sk_stream_write_space` waits for), or an empty queue. Under memory pressure, a
    /// third of what the queue may hold then (as Linux lowers `sk_sndbuf`), so a writer
    /// keeps the queue filled rather than waiting for it to empty.
    pub fn writable(&self) -> bool {
        let limit = if self.mem.pressure() {
            (self.opts.sndbuf).min(self.sndq.capacity().max(SEND_MIN_UNDER_PRESSURE))
        } else {
            self.opts.sndbuf
        };
        self.sndq.is_empty() || self.send_space() >= (limit / 3).max(1)
    }

    pub fn unsent_or_unacked(&self) -> usize {
        self.sndq.len()
    }

    pub fn can_send(&self) -> bool {
        (matches!(self.state, State::Established | State::CloseWait) || self.fo_sending())
            && !self.fin_queued
    }

    /// A Fast Open connection still waiting for the handshake's ACK: it sends already,
    /// until its SYN-ACK times out (then what it sent goes again once the handshake ends).
    pub(crate) fn fo_sending(&self) -> bool {
        self.fo_child && self.state == State::SynReceived && self.syn_retries == 0
    }

    /// Queue application data; how much fitted. Call `output` after.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.send_space());
        self.sndq.extend(&data[..n]);
        self.recharge();
        n
    }

    /// Take received bytes; a window update goes out if reading opened the window enough.
    #[cfg(test)]
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut at = 0;
        self.read_with(buf.len(), |chunk| {
            buf[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
            chunk.len()
        })
    }

    /// Take received bytes without a copy: up to `max` of them are handed to `take` where
    /// they lie in the receive ring (see [`rxring::RxRing::read_with`]); it returns how many
    /// it consumed. A window update goes out if reading opened the window enough. A read
    /// stops just before the peer's urgent byte (see `urgent.rs`).
    pub fn read_with(&mut self, max: usize, take: impl FnMut(&[u8]) -> usize) -> usize {
        let n = self.rx.read_with(self.urgent_read_limit(max), take);
        self.after_read(n);
        n
    }

    /// Copy received bytes into `buf` and keep them (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let max = self.urgent_read_limit(buf.len());
        self.rx.peek(&mut buf[..max])
    }

    fn after_read(&mut self, n: usize) {
        if n > 0 {
            self.urgent_after_read();
            self.recharge();
        }
        if n > 0 && self.state.synchronized() && !self.fin_received {
            // Announce the opened window on its own only when the peer's view of it has
            // become small (at most half the buffer) and it at least doubles, as Linux does;
            // otherwise the next ACK carries it. RFC 9293 3.8.6.2.2: and only once it grew by
            // at least min(buffer / 2, MSS) beyond what the peer was last told. What it was
            // told, not the furthest edge ever announced: rounded down to the scale's unit,
            // that may have been a zero window (Linux's tcp_receive_window).
            let announced = self.rcv_told.since(self.rcv_nxt);
            let now_free = self.free_window();
            let step = self.rcv_buf.min(self.rcv_mss).min(self.rcv_buf / 2);
            if announced <= self.rcv_buf / 2
                && now_free >= 2 * announced
                && now_free >= announced + step
            {
                self.ack_now = true;
            }
        }
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
    ///
    /// RFC 9293 3.10.5 sends it in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT;
    /// in CLOSING and LAST-ACK too here (as Linux does with data unsent), since there our
    /// data or FIN is still unacknowledged and the peer would otherwise wait for it. The
    /// RST goes at SND.MAX, where the peer stands if it got everything; when less was
    /// acknowledged, a second one at SND.UNA, where it stands if what followed was lost:
    /// a peer checking RFC 5961 3.2 takes only the one at its RCV.NXT and drops or
    /// challenges the other, and the stack may be gone before it could answer a
    /// challenge.
    pub fn abort(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        self.send_reset(tx, stats, now);
        self.close_now();
    }

    /// The RST (or two) of [`Tcb::abort`], the connection left as it is.
    fn send_reset(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        ) {
            let behind = (self.snd_una != self.snd_max && self.state != State::SynReceived)
                .then_some(self.snd_una);
            for seq in std::iter::once(self.snd_max).chain(behind) {
                let r = TcpRepr {
                    src_port: self.local.port(),
                    dst_port: self.remote.port(),
                    seq,
                    ack: self.rcv_nxt,
                    flags: flags::RST | flags::ACK,
                    // Timestamps, once agreed, on the RST too (RFC 7323 3.2 SHOULD).
                    timestamp: self.ts_ok.then(|| (self.ts_now(now), self.ts_recent)),
                    ..TcpRepr::default()
                };
                if send_repr_ttl(tx, self.local, self.remote, &r, &[], self.opts.ip(), now) {
                    stats.segs_out += 1;
                    stats.resets_out += 1;
                }
            }
        }
    }

    /// The stack goes away from a connection whose data is all acknowledged: send its FIN
    /// (again, if it went already and is unacknowledged) once, nothing after. False,
    /// sending nothing, when the peer's window is closed (it would drop the FIN).
    pub fn send_fin_once(&mut self, tx: &mut dyn IpTx, stats: &mut TcpStats, now: Instant) -> bool {
        if self.snd_wnd == 0 {
            return false;
        }
        // The FIN's sequence number: the last one sent if it went, else the next.
        let seq = if self.fin_queued && self.snd_max == self.snd_base + self.sndq.len() + 1 {
            self.snd_max - 1
        } else {
            self.snd_max
        };
        let r = self.header(seq, flags::FIN | flags::ACK, now);
        if send_repr_ttl(tx, self.local, self.remote, &r, &[], self.opts.ip(), now) {
            stats.segs_out += 1;
        }
        true
    }

    pub fn info(&self) -> ConnInfo {
        ConnInfo {
            congestion: self.cc.algorithm(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh().min(u32::MAX as usize),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            min_rtt: self.rtt.min_rtt(),
            rto: self.rtt.rto(),
            losses: self.cc.losses(),
            retransmits: self.retransmits,
            mss: self.mss,
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_adv.since(self.rcv_nxt),
            timestamps: self.ts_ok,
            ecn: self.ecn_ok,
            rcvbuf: self.rcv_buf,
        }
    }

    /// `TCP_CONGESTION` on a connection: the new algorithm starts from the current window.
    pub fn set_congestion(&mut self, alg: Algorithm) {
        self.cc.set_algorithm(alg);
    }

    /// The receive buffer now (see `autotune_rcvbuf`).
    pub fn rcv_buf(&self) -> usize {
        self.rcv_buf
    }

    pub fn rcv_queued(&self) -> usize {
        self.rx.readable()
    }

    /// Our FIN has been sent and acknowledged (so has every byte before it).
    pub fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.snd_base + self.sndq.len() + 1
    }

    /// Close the connection at `at` whatever happens meanwhile (an orphan in FIN-WAIT-2).
    pub fn set_fin_timeout(&mut self, at: Instant) {
        self.timers.set(Timer::TimeWait, at);
    }

    /// The peer's window is shut (zero): what is left to send waits on its probes.
    pub(crate) fn peer_window_shut(&self) -> bool {
        self.snd_wnd == 0
    }

    /// When the first zero-window probe of the window now shut went out.
    pub(crate) fn persist_since(&self) -> Option<Instant> {
        self.persist_since
    }

    pub fn timewait_deadline(&self) -> Option<Instant> {
        self.timers.get(Timer::TimeWait)
    }

    /// The TIME-WAIT record (until `expires`) this connection leaves when its socket goes:
    /// what it needs to answer late segments as the connection would, stamped with the
    /// connection's timestamp clock (RFC 7323 3.2) and announcing the window it last
    /// announced (RFC 9293 3.8.6), and to judge a new SYN by its TSval (RFC 6191 2).
    pub(crate) fn time_wait_record(&self, expires: Instant) -> super::TimeWait {
        // The right edge announced last, rounded up to the scale's unit so that it does
        // not move left (as `header` rounds).
        let unit = (1usize << self.rcv_wscale) - 1;
        let field = ((self.rcv_adv.since(self.rcv_nxt) + unit) >> self.rcv_wscale).min(MAX_WINDOW);
        super::TimeWait {
            snd_nxt: self.snd_nxt,
            rcv_nxt: self.rcv_nxt,
            expires,
            last_oow_ack: None,
            ts_offset: self.ts_offset,
            ts_recent: self.ts_recent,
            window: field as u16,
            ts_ok: self.ts_ok,
            reuse_addr: false,
            reuse_port: false,
        }
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
    /// connecting, remembered otherwise. ("Fragmentation needed" goes to `path_mtu`.)
    /// `ends_request`: the kind that also ends a half-open passive connection.
    pub fn icmp_error(&mut self, e: TcpError, ends_request: bool) {
        // A half-open passive connection goes too on a net or host unreachable, a time
        // exceeded or a parameter problem (as Linux's tcp_req_err drops the request): its
        // peer, if real, retransmits its SYN; one that never resolves by ARP (the IP
        // layer's host unreachable) or does not exist leaves the SYN queue at once. Other
        // kinds (a port unreachable, a prohibition) leave it to its timer, as Linux does.
        // Not a Fast Open connection, which the application has already (as Linux's
        // tcp_v4_err keeps the error soft for it).
        let half_open =
            self.state == State::SynReceived && self.passive && !self.fo_child && ends_request;
        if self.state == State::SynSent || half_open {
            self.fail(e);
        } else if self.opts.recverr && self.state != State::Closed {
            // IP_RECVERR: the pending error now, reported once by the next call or
            // SO_ERROR; not kept besides for a timeout (Linux's tcp_v4_err sets sk_err
            // then, sk_err_soft otherwise).
            self.error = Some(e);
            self.wake = true;
        } else {
            self.soft_error = Some(e);
        }
    }
}

/// The initial window in segments (RFC 6928).
const INITIAL_WINDOW_SEGMENTS: usize = 10;

/// RFC 6928 2: the initial window, also the idle restart's ceiling, is
/// min(10 * MSS, max(2 * MSS, 14,600 bytes)): ten segments of an Ethernet MSS, fewer of a
/// larger one (a jumbo MTU's 8,960-byte MSS gets two).
pub(super) fn initial_window(mss: usize) -> usize {
    (INITIAL_WINDOW_SEGMENTS * mss).min((2 * mss).max(14_600))
}

/// RFC 7323 2.3: a SYN's shift count above 14 is an error the TCP "SHOULD log" (and it
/// MUST use 14, as `take_syn_options` and the SYN cookie's options do). Protocol code logs
/// nothing here: the error is counted (`wscale_clamped`), the count being its log.
pub(crate) fn count_wscale_error(syn: &TcpRepr, stats: &mut TcpStats) {
    if syn.wscale.is_some_and(|s| s > MAX_WSCALE) {
        stats.wscale_clamped += 1;
    }
}

/// Zero-window probes an orphaned connection sends before it gives up (Linux: 8).
pub const ORPHAN_PROBES: u32 = 8;

/// Retransmission timeouts in a row an orphaned connection (FIN-WAIT-1, CLOSING, LAST-ACK:
/// its data or FIN unanswered) retransmits after before it gives up at the next timeout,
/// with nothing sent (Linux's tcp_write_err: no RST): about 100 s at a 200 ms RTO, where the user timeout (300 s) would hold the
/// socket for nobody. Linux's default tcp_orphan_retries (0, meaning 8); none when an ICMP
/// error is known and the RTO has reached its largest (`on_rto`).
pub const ORPHAN_RETRIES: u32 = 8;

/// Disjoint out-of-order ranges held per connection at most.
pub use assembler::MAX_RANGES as OOO_MAX_RANGES;

/// Received bytes one ACK may cover at most when a batch of segments draws one ACK (and
/// never more than a quarter of the largest window the connection can announce, nor
/// less than two segments): four of Linux's GRO segments (64 KB each), about 181 plain
/// frames of 1448 bytes, 1.4 receive batches (a full batch leaves its ACK to the next,
/// see `Transport::begin_batch`). Each ACK is a write into the kernel that processes it
/// there and then: at 64 KB the ACKs of plain-frame receive were twice those of 128 KB
/// (8% less CPU per GB); 256 KB alone measured within the spread, but with full batches
/// left open it halved the ACKs again (issue 8: 17% less CPU per GB, BENCHMARKS.md).
pub const ACK_STRETCH_MAX: usize = 262_144;

/// What an application may queue on a connection whose send queue is empty while TCP is
/// under memory pressure (`super::mem`): enough for every connection to keep moving.
pub const SEND_MIN_UNDER_PRESSURE: usize = 64 * 1024;

/// The most payload sent in one frame for the device to cut (TSO): what fits one IPv4
/// datagram with the largest TCP header.
pub const TSO_MAX: usize = 65_535 - 20 - 60;
