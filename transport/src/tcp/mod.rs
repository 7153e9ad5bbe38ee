//! TCP (RFC 9293) for the transport layer.
//!
//! - [`wire`]: the header and its options (MSS, window scale).
//! - [`seq`]: sequence-number arithmetic.
//! - [`isn`]: RFC 6528 initial sequence numbers.
//! - [`cookie`]: RFC 4987 SYN cookies, for listeners whose SYN queue is full.
//! - `congestion`: congestion control behind one interface, NewReno and CUBIC (RFC 9438).
//! - `conn`: one connection's state machine (`Tcb`), split by concern: input, output,
//!   loss recovery (segment table, scoreboard, RACK-TLP), receive ring, RTT estimator,
//!   timer table, options.
//! - `congestion`: the `CongestionControl` interface, CUBIC and NewReno.
//! - `api` (here, on [`crate::Transport`]): TCP's own socket table (`Tcp::socks`), the calls
//!   the socket API makes, and the timers; `demux`: arriving segments (connections,
//!   TIME-WAIT records, listeners with their SYN and accept queues).
//!
//! A connection that the application closed stays in the table (an orphan) until its FIN
//! is acknowledged, or until it gives up (closed with nothing sent, as Linux) after
//! [`ORPHAN_RETRIES`] unanswered retransmissions (or [`ORPHAN_PROBES`] zero-window probes); one that reaches TIME-WAIT after the application let go becomes a small
//! record in a bounded TIME-WAIT table and frees its socket slot.

mod api;
mod congestion;
mod conn;
mod conntable;
pub mod cookie;
mod demux;
mod inspect;
pub mod isn;
mod mem;
pub mod seq;
mod timewait;
pub mod wire;

pub use api::{Outstanding, Undelivered};
pub use congestion::{Algorithm as CongestionAlgorithm, UnknownAlgorithm};
pub(crate) use conn::plateau_below;
#[doc(hidden)]
pub use conn::TcbProbe;
pub use conn::{
    ConnInfo, ConnOpts, State, MAX_KEEP_COUNT, MAX_KEEP_SECS, OOO_MAX_RANGES, ORPHAN_PROBES,
    ORPHAN_RETRIES, SEG_TABLE_MAX, TSO_MAX,
};
#[doc(hidden)]
pub use inspect::{ListenerProbe, TcpProbe};
pub use seq::Seq;

use crate::slab::{Slab, SocketHandle, Table};
use netif::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Settings of the TCP layer. Defaults follow Linux where RFCs leave a choice.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Default socket buffer sizes (bytes).
    pub rcvbuf: usize,
    /// How far a connection's receive buffer may grow from `rcvbuf` by itself (Linux:
    /// `tcp_rmem[2]`, 6 MB): it doubles whenever the peer fills the window while the
    /// application keeps up, since the window and not the reader then limits the transfer.
    /// Setting SO_RCVBUF fixes a socket's buffer, as on Linux. The window scale offered in
    /// the SYN leaves room for this size.
    pub rcvbuf_max: usize,
    pub sndbuf: usize,
    /// RFC 6298 bounds: Linux's 200 ms floor, 1 s initial, 120 s ceiling.
    pub rto_min: Duration,
    pub rto_initial: Duration,
    pub rto_max: Duration,
    /// SYN retransmissions before `connect` fails with `TimedOut`.
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a half-open connection is dropped (Linux:
    /// `tcp_synack_retries`, 5). When the listener's SYN queue is at least half full, a new
    /// half-open connection gets one retransmission only, so entries whose peer never
    /// answers (or never resolves by ARP) leave within 3 s.
    pub synack_retries: u32,
    /// Answer SYNs with SYN cookies (RFC 4987) when the SYN queue is full, or when
    /// half-open connections of all listeners hold half the socket table (or it is full)
    /// (Linux: `tcp_syncookies = 1`); false drops them.
    pub syn_cookies: bool,
    /// How long data may stay unacknowledged (retransmitted with backoff) before the
    /// connection fails with `TimedOut` (RFC 9293 3.8.3's R2 / RFC 5482).
    pub user_timeout: Duration,
    /// 2·MSL (Linux: 60 s). Also how long an orphaned FIN-WAIT-2 waits for the peer's FIN.
    pub time_wait: Duration,
    /// The longest an ACK is delayed (RFC 9293 3.8.6.3: under 0.5 s; Linux: 40 ms).
    pub delayed_ack: Duration,
    /// Quick ACKs: at a connection's start, and when the peer sends again after a silence
    /// longer than the retransmission timeout (its window restarts then, RFC 5681 4.1),
    /// this many in-order data segments are each acknowledged at once, in a receive batch
    /// or not, neither delayed nor stretched (Linux: up to 16, `TCP_MAX_QUICKACKS`). A
    /// sender in slow start that counts ACKs rather than bytes (RFC 3465's L = 2) would
    /// otherwise grow by two segments per batch. 0: none.
    pub quick_acks: u8,
    /// Keepalive (RFC 1122 4.2.3.6): idle time, interval and unanswered probes.
    pub keep_idle: Duration,
    pub keep_interval: Duration,
    pub keep_count: u32,
    /// Half-open connections a listener holds (its SYN queue), and the largest backlog.
    pub syn_backlog: usize,
    pub max_backlog: usize,
    /// TIME-WAIT records kept; beyond that the one that expires first is dropped (and
    /// counted). 0 keeps none: a connection that ends in TIME-WAIT is forgotten at once.
    pub max_time_wait: usize,
    /// The shortest time between two ACKs a connection sends in answer to segments
    /// outside its window or to challenges (RFC 5961 7; Linux: `tcp_invalid_ratelimit`,
    /// 500 ms). Out-of-window segments with data or a FIN are always answered.
    pub invalid_ratelimit: Duration,
    /// Send a tail loss probe (RFC 8985 7) before a retransmission timeout (Linux:
    /// `tcp_early_retrans`); tests of the bare RTO machinery turn it off.
    pub tail_loss_probe: bool,
    /// Loss probes in a row before the retransmission timeout takes over. RFC 8985 7.3
    /// sends one (after it, only the RTO is armed); 1 is that. The default, 3, departs from
    /// it on purpose, measured: on `scripts/bench-tcp-loss.sh` (10% loss each way, 20 MiB,
    /// medians of 5) one probe took 17.9 s with ~60 RTOs where three took 1.6 s with ~4,
    /// since a probe or its ACK is lost one time in five and each RTO here costs its 200 ms
    /// floor; the extra probes are single segments, two smoothed RTTs apart, and the RTO's
    /// backoff still follows them.
    pub max_loss_probes: u32,
    /// RACK (RFC 8985) marks segments lost by their send times (the default, as on Linux);
    /// false leaves it to RFC 6675's DupThresh rule alone, for comparison.
    pub rack: bool,
    /// Path-MTU black-hole detection (RFC 2923 2.1, RFC 4821 as Linux's `tcp_mtu_probing`
    /// 1 applies it): after R1 (3) timeouts in a row of segments larger than 1,024
    /// bytes sent with DF, the segments shrink to 1,024 bytes as if a router had said so
    /// (for the destination, in `ip`'s cache, for its 10 minutes); after one more, to 536
    /// without DF. A path that lost its ICMP "fragmentation needed" no longer stalls a
    /// connection until its user timeout. Linux leaves it off by default; on here.
    pub pmtu_black_hole: bool,
    /// HyStart++ (RFC 9406): the initial slow start ends when the round-trip time rises
    /// (Linux's CUBIC has the older HyStart for this, on by default); false leaves it to
    /// the first loss.
    pub hystart: bool,
    /// Timestamps (RFC 7323): offered on active opens, answered when a peer offers them;
    /// RTT measurement from their echoes and PAWS.
    pub timestamps: bool,
    /// The congestion control of new sockets (Linux: `tcp_congestion_control`, cubic);
    /// `TCP_CONGESTION` changes one socket's.
    pub congestion: CongestionAlgorithm,
    /// The bytes all connections' receive rings and send queues may allocate together
    /// before TCP is under memory pressure (Linux: `tcp_mem`; see the `mem` module):
    /// 256 MiB, 64 connections with full 4 MiB receive windows.
    pub mem_max: usize,
    /// Explicit Congestion Notification (RFC 3168): `Accept` (Linux's default,
    /// `tcp_ecn` 2) uses it when a peer's SYN asks for it; `On` asks on active opens too.
    pub ecn: EcnMode,
}

/// When TCP uses ECN (RFC 3168), as Linux's `tcp_ecn` sysctl.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EcnMode {
    /// Never: SYNs are answered without ECE (`tcp_ecn` 0).
    Off,
    /// Only when the peer's SYN asks for it (`tcp_ecn` 2).
    #[default]
    Accept,
    /// Asked for on active opens, and accepted (`tcp_ecn` 1).
    On,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            rcvbuf: 1 << 20,
            rcvbuf_max: 4 << 20,
            sndbuf: 1 << 20,
            rto_min: Duration::from_millis(200),
            rto_initial: Duration::from_secs(1),
            rto_max: Duration::from_secs(120),
            syn_retries: 6,
            synack_retries: 5,
            syn_cookies: true,
            user_timeout: Duration::from_secs(300),
            time_wait: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            quick_acks: 16,
            keep_idle: Duration::from_secs(7200),
            keep_interval: Duration::from_secs(75),
            keep_count: 9,
            syn_backlog: 256,
            max_backlog: 4096,
            max_time_wait: 8192,
            invalid_ratelimit: Duration::from_millis(500),
            tail_loss_probe: true,
            max_loss_probes: 3,
            rack: true,
            pmtu_black_hole: true,
            hystart: true,
            timestamps: true,
            congestion: CongestionAlgorithm::Cubic,
            mem_max: 256 << 20,
            ecn: EcnMode::Accept,
        }
    }
}

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    #[error("connection refused")]
    Refused,
    #[error("connection reset by peer")]
    Reset,
    #[error("connection timed out")]
    TimedOut,
    #[error("host is unreachable")]
    HostUnreachable,
    #[error("network is unreachable")]
    NetUnreachable,
    #[error("connection aborted")]
    Aborted,
    /// A reset after the peer's FIN (in CLOSE-WAIT): writing is a broken pipe, reading
    /// ends at the FIN (Linux's EPIPE).
    #[error("broken pipe: the peer reset the connection after closing it")]
    ResetAfterFin,
    /// An ICMP parameter problem about one of our segments (Linux's EPROTO).
    #[error("protocol error: the peer reported a parameter problem")]
    ProtocolError,
}

/// Counters of the TCP layer (`stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments received (bad ones too), as on the wire: one the device coalesced counts
    /// as the segments it was made of (Linux's segs_in, max(1, gso_segs)).
    pub segs_in: u64,
    /// Segments sent, as on the wire: a TSO segment counts as the pieces the device cuts
    /// it into (Linux's segs_out, tcp_skb_pcount).
    pub segs_out: u64,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub active_opens: u64,
    pub passive_opens: u64,
    pub established: u64,
    pub resets_in: u64,
    pub resets_out: u64,
    pub resets_established: u64,
    pub aborts_on_close: u64,
    pub dup_acks: u64,
    /// Segments with data received before (some or all of it): behind RCV.NXT, or held
    /// already beyond a hole.
    pub dup_segments: u64,
    /// Segments whose bytes (some new) were kept beyond a hole.
    pub ooo_queued: u64,
    pub challenge_acks: u64,
    pub window_probes: u64,
    /// Zero-window probes whose byte of data the peer took: its window had opened and
    /// the update saying so was lost (or crossed the probe).
    pub window_probes_taken: u64,
    pub keepalive_probes: u64,
    pub keepalive_timeouts: u64,
    pub user_timeouts: u64,
    pub handshake_timeouts: u64,
    /// Half-open connections of a passive open dropped for a new SYN of the peer (RFC 9293
    /// 3.10.7.4: back to LISTEN; the listener takes the peer's next SYN).
    pub handshake_restarts: u64,
    pub send_failures: u64,
    pub time_wait_evicted: u64,
    /// ICMP errors whose quoted sequence number was not outstanding (RFC 5927), that
    /// quote no connection of ours, or of a kind TCP does not act on (source quench, RFC
    /// 6633).
    pub icmp_ignored: u64,
    /// Peers that dropped data they had SACKed (the scoreboard was reset).
    pub sack_reneging: u64,
    /// Tail loss probes sent (RFC 8985).
    pub loss_probes: u64,
    /// Retransmissions found lost (data sent after them was SACKed) and sent again.
    pub lost_retransmits: u64,
    /// Segments RACK marked lost (RFC 8985), those it marked when its reordering timer
    /// fired, and those RFC 6675's DupThresh rule marked (RACK off).
    pub rack_lost: u64,
    pub rack_reo_timeouts: u64,
    pub dupthresh_lost: u64,
    /// Tail loss probes that repaired a lost segment (the congestion window answered).
    pub tlp_recoveries: u64,
    /// HyStart++ (RFC 9406) in initial slow starts: rises of the delay that began
    /// Conservative Slow Start, falls that proved one spurious (slow start resumed), and
    /// slow starts it ended before any loss.
    pub hystart_css: u64,
    pub hystart_resumed: u64,
    pub hystart_exits: u64,
    /// ACKs that reported data received twice (D-SACK, RFC 2883), and congestion
    /// responses undone because their retransmissions proved spurious (by timestamps or
    /// D-SACKs: RFC 3522, RFC 3708, RFC 9438 4.9).
    pub dsacks_in: u64,
    pub spurious_undos: u64,
    /// ECN (RFC 3168): connections established with it; segments that came marked
    /// Congestion Experienced (echoed with ECE); window reductions for an ECE.
    pub ecn_conns: u64,
    pub ecn_ce_in: u64,
    pub ecn_reductions: u64,
    /// Records of the table of sent segments merged because it was full (coarser send
    /// times and SACK marks; never wrong data).
    pub seg_table_merges: u64,
    /// Orphans dropped after their zero-window probes went unheeded (`ORPHAN_PROBES`) or
    /// their retransmissions unanswered (`ORPHAN_RETRIES`), with nothing sent (Linux's
    /// tcp_write_err).
    pub orphans_dropped: u64,
    /// Orphans in FIN-WAIT-2 reset to make room for a new connection, the socket table
    /// full (all their data had been acknowledged).
    pub orphans_reclaimed: u64,
    /// SYN cookies sent (SYN queue full), ACKs with a valid cookie that made a connection,
    /// and ACKs to a listener that sent cookies recently whose cookie was not valid.
    pub syncookies_sent: u64,
    pub syncookies_recv: u64,
    pub syncookies_failed: u64,
    /// TCP Fast Open (RFC 7413), as a server: connections whose SYN's data was taken
    /// (Linux's TCPFastOpenPassive), cookies given to clients that asked, SYNs whose cookie
    /// did not check (their data waits for the handshake; TCPFastOpenPassiveFail), and
    /// valid ones refused because the listener's queue of them was full
    /// (TCPFastOpenListenOverflow).
    pub fastopen_passive: u64,
    pub fastopen_cookies_sent: u64,
    pub fastopen_bad_cookies: u64,
    pub fastopen_overflows: u64,
    /// ... and as a client: SYNs whose data the server acknowledged (Linux's
    /// TCPFastOpenActive), and those whose data it did not (TCPFastOpenActiveFail; the
    /// data then went after the handshake).
    pub fastopen_active: u64,
    pub fastopen_active_fail: u64,
    /// ... Fast Open SYNs found lost (the first transmission went unanswered and the
    /// answer to a plain retransmission, if any, took nothing of it), and connections
    /// opened with a plain SYN because such losses turned Fast Open off to their server
    /// for a while (RFC 7413 4.1.3; Linux's TCPFastOpenBlackhole is its global cousin).
    pub fastopen_syn_lost: u64,
    pub fastopen_active_off: u64,
    /// ACKs not sent because the connection answered an out-of-window segment or a
    /// challenge less than `invalid_ratelimit` ago (RFC 5961 7).
    pub oow_acks_limited: u64,
    /// Congestion windows cut back after an idle period longer than the RTO (RFC 5681 4.1).
    pub idle_restarts: u64,
    /// "Fragmentation needed" errors that lowered a connection's MSS (RFC 1191).
    pub pmtu_updates: u64,
    /// ... and those whose quoted sequence number was never sent (RFC 5927): ignored.
    pub pmtu_forged: u64,
    /// Path-MTU black holes suspected (RFC 2923 2.1): full-sized segments timed out R1
    /// times in a row with DF set and no answer, and the connection took smaller ones.
    pub pmtu_black_holes: u64,
    // Drops by cause.
    pub drop_bad_checksum: u64,
    pub drop_bad_header: u64,
    pub drop_broadcast: u64,
    pub drop_no_socket: u64,
    pub drop_syn_queue_full: u64,
    pub drop_accept_queue_full: u64,
    pub bad_acks: u64,
    pub window_drops: u64,
    /// Data that came after the peer's FIN (RFC 9293 3.10.7.4: ignored in CLOSE-WAIT,
    /// CLOSING, LAST-ACK and TIME-WAIT).
    pub drop_after_fin: u64,
    /// Data on a SYN a connection in SYN-SENT takes (a SYN-ACK's, or a simultaneous
    /// open's SYN): dropped unacknowledged, as Linux's, for the peer to send again.
    pub drop_syn_data: u64,
    pub ooo_dropped: u64,
    /// Segments whose data (some or all) was dropped because TCP was under memory
    /// pressure and the connection's ring could not grow to hold it (`TcpConfig::mem_max`),
    /// and ranges of out-of-order bytes let go when pressure began.
    pub mem_pressure_drops: u64,
    pub drop_listen_bad: u64,
    /// RSTs with nothing to reset, to a listener or to a TIME-WAIT record (RFC 1337), and
    /// RSTs not believed: outside the window (RFC 5961 3.2), or in SYN-SENT with an ACK
    /// that does not cover our SYN (RFC 9293 3.10.7.3).
    pub drop_rst_ignored: u64,
    /// Segments without the flag their state needs: an ACK in a synchronized state, a
    /// SYN or RST in SYN-SENT.
    pub drop_no_ack: u64,
    /// New connections (a SYN, a cookie's ACK) with every socket slot in use.
    pub drop_socket_table_full: u64,
    /// Old duplicates caught by PAWS (RFC 7323 5): a TSval behind TS.Recent.
    pub drop_paws: u64,
    /// Segments without timestamps on a connection that negotiated them (taken anyway).
    pub ts_missing: u64,
    /// SYNs whose window scale option was above 14, used as 14 (RFC 7323 2.3: an error
    /// the TCP should log; this count is its log).
    pub wscale_clamped: u64,
}

/// A TCP socket in the table.
pub struct TcpSock {
    /// The bound address (a listener's may be 0.0.0.0).
    pub local: Option<SocketAddrV4>,
    pub opts: ConnOpts,
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`: sockets that all set it may bind one address and port, listeners
    /// included, and share its connections (see `tcp_find_listener`).
    pub reuse_port: bool,
    pub(crate) role: Role,
    /// The listener that accepted it, until `accept` hands it out.
    pub(crate) parent: Option<SocketHandle>,
    /// The listener whose `Listener::fastopen_pending` counts it, while it does (past
    /// `accept` too, until the handshake ends).
    pub(crate) fo_parent: Option<SocketHandle>,
    /// In its listener's accept queue.
    pub(crate) queued: bool,
    /// The application closed it: it lives on only to finish the protocol.
    pub(crate) orphan: bool,
    pub(crate) shut_read: bool,
    /// A connection that ended (closed, reset, timed out) keeps its error here.
    pub(crate) ended: Option<TcpError>,
    /// The deadline this connection is filed under in `Tcp::timers`.
    pub(crate) timer_at: Option<Instant>,
    /// Its port is one `connect` picked, which other connects may share for other
    /// 4-tuples; a port `bind` (or a listener) gave is never taken by them (Linux's bind
    /// bucket with `fastreuse` -1, or >= 0).
    pub(crate) port_picked: bool,
}

pub(crate) enum Role {
    Idle,
    Listen(Listener),
    Conn(Box<conn::Tcb>),
}

pub(crate) struct Listener {
    pub backlog: usize,
    pub accept: VecDeque<SocketHandle>,
    pub embryonic: usize,
    /// Fast Open connections (data taken from their SYN) still in SYN-RECEIVED, bounded
    /// by the listener's `ConnOpts::fastopen`.
    pub fastopen_pending: usize,
}

impl Listener {
    /// No room for another established connection: the queue holds more than the
    /// backlog, so `listen(N)` takes N + 1 as Linux's (`sk_acceptq_is_full`) does, and
    /// `listen(0)` one.
    pub(crate) fn accept_full(&self) -> bool {
        self.accept.len() > self.backlog
    }
}

impl TcpSock {
    pub(crate) fn new(opts: ConnOpts) -> TcpSock {
        TcpSock {
            local: None,
            opts,
            reuse_addr: false,
            reuse_port: false,
            role: Role::Idle,
            parent: None,
            fo_parent: None,
            queued: false,
            orphan: false,
            shut_read: false,
            ended: None,
            timer_at: None,
            port_picked: false,
        }
    }

    /// Does it hold its port? Not once a connection on a port `connect` picked has
    /// closed: Linux's tcp_set_state(TCP_CLOSE) puts a port no `bind` locked, so others
    /// may bind it and a new connect picks one again (the address stays for
    /// `getsockname`).
    pub(crate) fn holds_port(&self) -> bool {
        !(self.port_picked && matches!(&self.role, Role::Conn(t) if t.state == State::Closed))
    }

    pub fn state(&self) -> State {
        match &self.role {
            Role::Idle => State::Closed,
            Role::Listen(_) => State::Listen,
            Role::Conn(t) => t.state,
        }
    }

    pub fn remote(&self) -> Option<SocketAddrV4> {
        match &self.role {
            Role::Conn(t) => Some(t.remote),
            _ => None,
        }
    }

    pub fn conn_info(&self) -> Option<ConnInfo> {
        match &self.role {
            Role::Conn(t) => Some(t.info()),
            _ => None,
        }
    }

    /// SO_RCVBUF as Linux reports it: a connection's receive buffer as autotuning has
    /// grown it so far, otherwise the socket's setting.
    pub fn rcvbuf(&self) -> usize {
        self.tcb().map_or(self.opts.rcvbuf, |t| t.rcv_buf())
    }

    pub(crate) fn tcb(&self) -> Option<&conn::Tcb> {
        match &self.role {
            Role::Conn(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn tcb_mut(&mut self) -> Option<&mut conn::Tcb> {
        match &mut self.role {
            Role::Conn(t) => Some(t),
            _ => None,
        }
    }

    /// Bytes queued to read and to send (for `netstat`).
    pub fn queues(&self) -> (usize, usize) {
        match &self.role {
            Role::Conn(t) => (t.rcv_queued(), t.unsent_or_unacked()),
            Role::Listen(l) => (l.accept.len(), 0),
            Role::Idle => (0, 0),
        }
    }

    /// (readable, writable, error) for `poll`.
    pub fn readiness(&self) -> (bool, bool, bool) {
        match &self.role {
            // A socket in CLOSE (fresh, or a listener whose listening was shut down) is
            // writable, as Linux's `tcp_poll` sets POLLOUT outside SYN-SENT: a send would
            // not block, it fails at once. Not readable (a shut-down listener has no
            // shutdown left: Linux's disconnect clears it); hung up (`hung_up`), which
            // wakes a poll-driven accept loop whatever it asked for.
            Role::Idle => (self.shut_read, true, self.ended.is_some()),
            Role::Listen(l) => (!l.accept.is_empty(), false, false),
            Role::Conn(t) => {
                let err = t.error.is_some();
                let readable = t.readable_bytes() > 0
                    || t.at_eof()
                    || self.shut_read
                    || err
                    || t.state == State::Closed;
                // Once the write side is shut (our FIN queued), a send fails at once
                // (EPIPE): it would not block, so the stream is writable, as Linux's
                // `tcp_poll` sets POLLOUT with SEND_SHUTDOWN.
                let shut_write =
                    t.fin_queued && !matches!(t.state, State::SynSent | State::SynReceived);
                let writable = (t.can_send() && t.writable())
                    || shut_write
                    || err
                    || (t.state == State::Closed);
                (readable, writable, err)
            }
        }
    }

    /// Hung up, for `poll` (POLLHUP), when Linux's `tcp_poll` says so: in CLOSE (a fresh
    /// socket, one whose listening was shut down, a connection that ended: closed, reset,
    /// refused, timed out) or shut both ways (our FIN queued, and the peer's FIN received
    /// or our reading shut down). The peer's FIN alone is not a hang-up: the stream only
    /// reads as ended.
    pub fn hung_up(&self) -> bool {
        match &self.role {
            Role::Idle => true,
            Role::Listen(_) => false,
            Role::Conn(t) => {
                t.state == State::Closed || (t.fin_queued && (t.fin_received || self.shut_read))
            }
        }
    }

    /// Urgent data pending, for `poll` (POLLPRI; see `Tcb::urgent`).
    pub fn urgent(&self) -> bool {
        match &self.role {
            Role::Conn(t) => t.urgent(),
            _ => false,
        }
    }

    /// Read side hung up, for `poll` (POLLRDHUP), when Linux's `tcp_poll` says so (its
    /// RCV_SHUTDOWN): the peer's FIN received, the connection ended (reset, refused, timed
    /// out, closed: Linux's `tcp_done` shuts both ways), or our reading shut down. Not a
    /// fresh socket, a listener, nor one whose listening was shut down (Linux's
    /// disconnect clears its shutdown).
    pub fn read_hung_up(&self) -> bool {
        match &self.role {
            Role::Idle | Role::Listen(_) => false,
            Role::Conn(t) => t.fin_received || t.state == State::Closed || self.shut_read,
        }
    }
}

/// A connection in TIME-WAIT whose socket is gone (48 bytes: see the size test).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeWait {
    pub snd_nxt: Seq,
    pub rcv_nxt: Seq,
    pub expires: Instant,
    /// When it last answered a segment that was not acceptable (RFC 5961 7).
    pub last_oow_ack: Option<Instant>,
    /// The connection's timestamp clock offset (RFC 7323 5.4), for the TSval of its ACKs.
    pub ts_offset: u32,
    /// TS.Recent: the peer's last TSval (RFC 7323 4.3), echoed in our ACKs and compared
    /// with a new SYN's (RFC 6191 2). Meaningful only when `ts_ok`.
    pub ts_recent: u32,
    /// The window field of our ACKs: the last window the connection announced, in its
    /// scaled units (RFC 9293 3.8.6: the window is not shrunk).
    pub window: u16,
    /// Timestamps (RFC 7323) were negotiated: every segment but a RST carries them (3.2).
    pub ts_ok: bool,
    /// Its socket had SO_REUSEADDR: a bind with it too may take the port (Linux's
    /// `tw_reuse`).
    pub reuse_addr: bool,
    /// Its socket had SO_REUSEPORT (Linux's `tw_reuseport`).
    pub reuse_port: bool,
}

impl TimeWait {
    /// The TSopt of a segment sent at `now` from this record: our clock (milliseconds plus
    /// the connection's offset, as the connection stamped them) and TS.Recent.
    pub(crate) fn timestamp(&self, now: Instant) -> Option<(u32, u32)> {
        self.ts_ok.then(|| {
            (
                (now.total_millis() as u32).wrapping_add(self.ts_offset),
                self.ts_recent,
            )
        })
    }
}

type Tuple = (SocketAddrV4, SocketAddrV4);

/// What a client keeps about a Fast Open server (RFC 7413 4.1.3): the cookie it gave
/// and the MSS it announced, and the negative responses (lost Fast Open SYNs) that turn
/// Fast Open off to it for a while.
pub(crate) struct FastOpenEntry {
    /// Our address and the server's: a multihomed client's cookies depend on both (4.1.3).
    pub addrs: (Ipv4Addr, Ipv4Addr),
    pub cookie: Option<(wire::FastOpen, u16)>,
    /// Fast Open SYNs to it lost in a row, ...
    pub losses: u32,
    /// ... and until when its connections open with a plain SYN: one minute after the
    /// second loss, doubling with each further one up to 64 minutes (only a Fast Open
    /// SYN that gets through ends it early).
    pub off_until: Option<Instant>,
}

/// How long Fast Open stays off to a server after a second lost Fast Open SYN in a row,
/// doubled for each further loss up to [`FASTOPEN_OFF_DOUBLINGS`] times (RFC 7413 4.1.3
/// asks for exponential backoff; Linux, from its second loss too, waits a minute shifted
/// by its loss count).
pub(crate) const FASTOPEN_OFF_BASE: Duration = Duration::from_secs(60);
pub(crate) const FASTOPEN_OFF_DOUBLINGS: u32 = 6;
const _: () = assert!(FASTOPEN_OFF_DOUBLINGS < 32, "the doubling is a u32 shift");

/// (Our address, server) pairs whose Fast Open cookie is kept, at most.
pub(crate) const FASTOPEN_CACHE: usize = 256;

/// Connections whose ACK waits for the end of a receive batch, at most (a batch is up to
/// 128 frames, or several such reads while the device stays busy; beyond this, ACKs go
/// at once).
pub(crate) const ACK_FLUSH_MAX: usize = 128;

/// The TCP tables of the transport layer.
pub(crate) struct Tcp {
    pub cfg: TcpConfig,
    /// TCP's sockets: listeners, connections, and sockets not yet either.
    pub socks: Slab<Box<TcpSock>>,
    /// Connections by (local, remote).
    pub conns: conntable::ConnTable,
    /// Listeners by port (several when bound to different addresses).
    pub listeners: HashMap<u16, Vec<SocketHandle>>,
    pub time_wait: timewait::TimeWaitTable,
    /// Fast Open cookies servers gave us (RFC 7413 4.1.3), by our address and the
    /// server's, with the MSS each announced and the negative responses seen: at most
    /// [`FASTOPEN_CACHE`], the oldest making way.
    pub fastopen_cache: VecDeque<FastOpenEntry>,
    pub isn: isn::IsnGenerator,
    pub cookies: cookie::SynCookies,
    /// When a SYN cookie was last sent: ACKs to listeners are checked for a cookie only
    /// until the last one expired.
    pub cookie_sent_at: Option<Instant>,
    pub stats: TcpStats,
    pub trace: Option<netif::Trace>,
    /// Inside a receive batch (`Transport::begin_batch`): ACKs owed by the
    /// every-second-segment rule wait for its end.
    pub batching: bool,
    /// Connections whose ACK waits for the end of the batch (at most `ACK_FLUSH_MAX`).
    pub ack_flush: Vec<SocketHandle>,
    /// Each connection's next deadline, earliest first, so neither `poll_at` nor `poll`
    /// looks at every connection. An entry is current when the socket still exists and its
    /// `timer_at` equals the entry's time; others are dropped when they come to the top (or
    /// in a rebuild when the heap outgrows the connections).
    pub timers: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
    /// What all connections' buffers hold, against `cfg.mem_max`.
    pub mem: std::sync::Arc<mem::MemPool>,
}

impl Tcp {
    /// If memory pressure has begun since the last look, every connection lets go of its
    /// out-of-order bytes and gives back the empty ring and queue it kept (`mem`): after
    /// anything that may have grown a charge.
    pub(crate) fn reclaim_if_pressed(&mut self) {
        if self.mem.take_reclaim() {
            for (_, s) in self.socks.iter_mut() {
                if let Some(t) = s.tcb_mut() {
                    self.stats.mem_pressure_drops += t.shed_for_pressure() as u64;
                }
            }
        }
    }

    pub(crate) fn new(cfg: TcpConfig, secret: u64, max_sockets: usize) -> Tcp {
        Tcp {
            mem: mem::MemPool::new(cfg.mem_max),
            socks: Slab::new(Table::Tcp, max_sockets),
            cfg,
            conns: conntable::ConnTable::default(),
            listeners: HashMap::new(),
            time_wait: timewait::TimeWaitTable::default(),
            fastopen_cache: VecDeque::new(),
            isn: isn::IsnGenerator::new(secret.rotate_left(17) ^ 0x5443_5020_6973_6e21),
            cookies: cookie::SynCookies::new(secret.rotate_left(41) ^ 0x636f_6f6b_6965_7321),
            cookie_sent_at: None,
            stats: TcpStats::default(),
            trace: None,
            batching: false,
            ack_flush: Vec::new(),
            timers: BinaryHeap::new(),
        }
    }
}
