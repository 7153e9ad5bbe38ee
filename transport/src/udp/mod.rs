//! UDP sockets (RFC 768, RFC 1122 4.1): binding with ephemeral ports, demultiplexing by the
//! full 4-tuple with wildcard fallback, bounded receive queues, and ICMP errors reported to
//! the connected socket that caused them, as Linux does.

pub mod wire;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A received datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram {
    pub from: SocketAddrV4,
    /// The destination address it was sent to (ours, or a broadcast).
    pub to: Ipv4Addr,
    pub data: Vec<u8>,
}

/// An error an ICMP message reported for a connected socket, returned by its next call
/// (RFC 1122 4.1.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SoftError {
    #[error("connection refused")]
    ConnectionRefused,
    #[error("host is unreachable")]
    HostUnreachable,
    #[error("network is unreachable")]
    NetworkUnreachable,
    /// An ICMP parameter problem: the peer found our datagram's header wrong (Linux's
    /// EPROTO).
    #[error("protocol error: the peer reported a parameter problem")]
    ProtocolError,
    /// A "fragmentation needed" about a datagram the socket sent with DF: the path MTU is
    /// lower than that datagram (Linux's EMSGSIZE). `IP_MTU` tells the new one.
    #[error("message too long for the path MTU")]
    MessageTooLong,
}

impl SoftError {
    /// The error a connected socket is told of for an ICMP destination unreachable or
    /// parameter problem, as Linux tells one without `IP_RECVERR`: only the hard errors
    /// (RFC 1122 4.1.3.3 leaves the choice to the application layer). A network or host
    /// unreachable (codes 0, 1, 11, 12: a router's view of a path that may come back,
    /// also what a failed ARP resolution makes here), a source route failure and time
    /// exceeded are transient and not reported, so a receive loop does not fail on a
    /// passing routing problem; nor are redirects and source quench. "Fragmentation
    /// needed" is not mapped here: it is EMSGSIZE for a socket that sets DF (see
    /// `Transport::udp_icmp_error`).
    pub fn from_icmp(kind: u8, code: u8) -> Option<SoftError> {
        use ip::icmp::{kind as k, unreach as u};
        match (kind, code) {
            // Linux says ENOPROTOOPT for a protocol unreachable; the nearest error here.
            (k::DEST_UNREACHABLE, u::PORT | u::PROTOCOL) => Some(SoftError::ConnectionRefused),
            // Destination network unknown, administratively prohibited (RFC 1122 3.2.2.1).
            (k::DEST_UNREACHABLE, 6 | 9) => Some(SoftError::NetworkUnreachable),
            // Host unknown or isolated, administratively prohibited, communication
            // prohibited, precedence violation or cut-off (RFC 1812 5.2.7.1).
            (k::DEST_UNREACHABLE, 7 | 8 | 10 | 13..=15) => Some(SoftError::HostUnreachable),
            (k::PARAMETER_PROBLEM, _) => Some(SoftError::ProtocolError),
            _ => None,
        }
    }

    /// The error an ICMP message reports to a socket with `IP_RECVERR`, soft errors
    /// included, as Linux's `icmp_err_convert` (a time exceeded and a source route
    /// failure are EHOSTUNREACH and EOPNOTSUPP there; the nearest here is
    /// `HostUnreachable` for both). `None` for the messages UDP never reports: source
    /// quench, redirects, and a "fragmentation needed" (the caller decides that one by
    /// the socket's `IP_MTU_DISCOVER`).
    pub fn from_icmp_all(kind: u8, code: u8) -> Option<SoftError> {
        use ip::icmp::{kind as k, unreach as u};
        match (kind, code) {
            (k::DEST_UNREACHABLE, u::FRAG_NEEDED) => None,
            (k::DEST_UNREACHABLE, u::NET | 11) => Some(SoftError::NetworkUnreachable),
            (k::DEST_UNREACHABLE, u::HOST | 5 | 12) => Some(SoftError::HostUnreachable),
            (k::DEST_UNREACHABLE, _) | (k::PARAMETER_PROBLEM, _) => {
                SoftError::from_icmp(kind, code)
            }
            (k::TIME_EXCEEDED, _) => Some(SoftError::HostUnreachable),
            _ => None,
        }
    }
}

/// An ICMP error queued for a socket with `IP_RECVERR`, as Linux's error queue holds it
/// for `recvmsg(MSG_ERRQUEUE)`: what its `sock_extended_err` (origin ICMP) and the
/// quoted datagram tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpReport {
    /// The error (`ee_errno`); the socket's next call also returns it once.
    pub error: SoftError,
    /// The ICMP type and code (`ee_type`, `ee_code`).
    pub kind: u8,
    pub code: u8,
    /// The next-hop MTU of a "fragmentation needed", else 0 (`ee_info`).
    pub info: u32,
    /// Who sent the ICMP message (`SO_EE_OFFENDER`): a router on the path, or the
    /// destination itself; this host for an error it made (a failed ARP resolution).
    pub offender: Ipv4Addr,
    /// Where the datagram the error is about was sent.
    pub dest: SocketAddrV4,
    /// What the error quoted of that datagram's payload, after its UDP header (the data
    /// `recvmsg(MSG_ERRQUEUE)` returns).
    pub payload: Vec<u8>,
}

/// At most this many errors wait in one socket's error queue (and no more bytes of
/// quoted payload than its receive buffer holds, as Linux counts them against it).
pub const MAX_ERRORS_QUEUED: usize = 64;

/// A UDP socket's state inside the transport layer.
#[derive(Debug)]
pub struct UdpSock {
    /// Bound address; the IP may be 0.0.0.0 (any of ours). `None` until bound.
    pub(crate) local: Option<SocketAddrV4>,
    /// Set by `connect`: only datagrams from it are received, sends go to it by default.
    pub(crate) remote: Option<SocketAddrV4>,
    rx: VecDeque<UdpDatagram>,
    rx_bytes: usize,
    /// Receive buffer size (`SO_RCVBUF`), in payload bytes.
    pub rcvbuf: usize,
    /// Accepted and reported by `getsockopt`; UDP sends at once, so nothing waits in it.
    pub sndbuf: usize,
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`: sockets that all set it may bind one address and port; unicast
    /// datagrams are spread over the unconnected ones by flow.
    pub reuse_port: bool,
    pub broadcast: bool,
    pub ttl: Option<u8>,
    /// `IP_TOS` of datagrams sent.
    pub tos: u8,
    /// `IP_MULTICAST_TTL`: the TTL of datagrams to a group (1: they stay on the link).
    pub multicast_ttl: u8,
    /// `IP_MULTICAST_LOOP`: this host's own members of a group get what it sends there.
    pub multicast_loop: bool,
    /// `IP_MULTICAST_IF`: the address of the interface datagrams to a group leave by
    /// (`None`: the route's).
    pub multicast_if: Option<Ipv4Addr>,
    /// `IP_MTU_DISCOVER`: DF and the size of the pieces by the path MTU (`Want` by
    /// default, as Linux's `inet_create` sets it with `ip_no_pmtu_disc` 0).
    pub pmtu: ip::PmtuMode,
    /// Groups joined (`IP_ADD_MEMBERSHIP`), left when the socket closes.
    pub(crate) groups: Vec<Joined>,
    /// `SO_BINDTODEVICE`: the interface (index in `ip`) it sends by and hears on only.
    pub(crate) device: Option<usize>,
    pub(crate) error: Option<SoftError>,
    /// `IP_RECVERR`: every ICMP error about what the socket sent, connected or not, soft
    /// or hard, is queued in `errors` (and returned once by the next call).
    pub(crate) recverr: bool,
    errors: VecDeque<IcmpReport>,
    errors_bytes: usize,
    pub(crate) dropped: u64,
    pub(crate) shut_read: bool,
    pub(crate) shut_write: bool,
    /// When it was bound (a count across the layer's sockets): of equally specific
    /// sockets sharing a port, the one bound last gets a unicast datagram, as on Linux.
    pub(crate) bound_seq: u64,
    /// The port was the stack's choice, not the application's: `bind` asked for port 0,
    /// or `connect` or a send bound the socket. `disconnect` lets it go (Linux: no
    /// SOCK_BINDPORT_LOCK).
    pub(crate) auto_port: bool,
    /// The local address was filled in by `connect` (the socket was bound to 0.0.0.0):
    /// `disconnect` puts the wildcard back (Linux: no SOCK_BINDADDR_LOCK).
    pub(crate) auto_addr: bool,
    /// The address `bind` gave, kept by a `disconnect` that let the port go: the socket has
    /// no port (`local` is `None`), and the next send or `connect` binds one on it.
    pub(crate) kept_addr: Option<Ipv4Addr>,
}

/// At most this many datagrams wait in one socket, whatever the buffer size.
const MAX_QUEUED: usize = 4096;

/// Groups one socket may join (Linux's `igmp_max_memberships`).
pub const MAX_MEMBERSHIPS: usize = 20;

/// A group a socket joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    pub group: Ipv4Addr,
    /// The interface: its index in `ip` and its address (as given, or the route's).
    pub ifindex: usize,
    pub iface: Ipv4Addr,
}

impl UdpSock {
    pub(crate) fn new(rcvbuf: usize, sndbuf: usize) -> UdpSock {
        UdpSock {
            local: None,
            remote: None,
            rx: VecDeque::new(),
            rx_bytes: 0,
            rcvbuf,
            sndbuf,
            reuse_addr: false,
            reuse_port: false,
            broadcast: false,
            ttl: None,
            tos: 0,
            multicast_ttl: 1,
            multicast_loop: true,
            multicast_if: None,
            pmtu: ip::PmtuMode::Want,
            groups: Vec::new(),
            device: None,
            error: None,
            recverr: false,
            errors: VecDeque::new(),
            errors_bytes: 0,
            dropped: 0,
            shut_read: false,
            shut_write: false,
            bound_seq: 0,
            auto_port: false,
            auto_addr: false,
            kept_addr: None,
        }
    }

    /// The bound address (`getsockname`): after a `disconnect` that let the port go, the
    /// address `bind` gave with port 0, as on Linux.
    pub fn local(&self) -> Option<SocketAddrV4> {
        self.local
            .or_else(|| self.kept_addr.map(|a| SocketAddrV4::new(a, 0)))
    }

    pub fn remote(&self) -> Option<SocketAddrV4> {
        self.remote
    }

    /// Queue a datagram; false (counted) when the receive buffer is full. A datagram larger
    /// than the whole buffer still fits an empty queue, so no size is unreceivable. A socket
    /// shut for reading still queues (as Linux's: the shutdown only ends a blocking wait).
    pub(crate) fn push(&mut self, d: UdpDatagram) -> bool {
        let fits =
            self.rx.is_empty() || self.rx_bytes + self.errors_bytes + d.data.len() <= self.rcvbuf;
        if !fits || self.rx.len() >= MAX_QUEUED {
            self.dropped += 1;
            return false;
        }
        self.rx_bytes += d.data.len();
        self.rx.push_back(d);
        true
    }

    /// The next datagram, or the pending ICMP error first.
    pub fn recv(&mut self) -> Result<Option<UdpDatagram>, SoftError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let d = self.rx.pop_front();
        if let Some(d) = &d {
            self.rx_bytes -= d.data.len();
        }
        Ok(d)
    }

    /// The next datagram, left in the queue (`MSG_PEEK`); the pending ICMP error first, as
    /// `recv` (it is reported once, peeked or not, as on Linux).
    pub fn peek(&mut self) -> Result<Option<&UdpDatagram>, SoftError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(self.rx.front())
    }

    /// The pending ICMP error, taken (`SO_ERROR`).
    pub fn take_error(&mut self) -> Option<SoftError> {
        self.error.take()
    }

    /// `IP_RECVERR` on or off; off empties the error queue, as on Linux.
    pub fn set_recverr(&mut self, on: bool) {
        self.recverr = on;
        if !on {
            self.errors.clear();
            self.errors_bytes = 0;
        }
    }

    pub fn recverr(&self) -> bool {
        self.recverr
    }

    /// Make an ICMP error the pending error and queue it (`IP_RECVERR`); false when the
    /// queue is full (it is pending all the same, as Linux's `__udp4_lib_err` sets
    /// `sk_err` whether or not the error queue took it). Its quoted bytes count against
    /// the receive buffer with the datagrams waiting, as Linux's `sk_rmem_alloc`; the
    /// first report always fits an empty queue.
    pub(crate) fn push_error(&mut self, r: IcmpReport) -> bool {
        self.error = Some(r.error);
        let fits = self.errors.is_empty()
            || (self.errors.len() < MAX_ERRORS_QUEUED
                && self.rx_bytes + self.errors_bytes + r.payload.len() <= self.rcvbuf);
        if !fits {
            return false;
        }
        self.errors_bytes += r.payload.len();
        self.errors.push_back(r);
        true
    }

    /// The oldest queued ICMP error (`recvmsg(MSG_ERRQUEUE)`); the pending error becomes
    /// the next one's, or none (Linux's `sock_dequeue_err_skb`).
    pub fn recv_error(&mut self) -> Option<IcmpReport> {
        let r = self.errors.pop_front()?;
        self.errors_bytes -= r.payload.len();
        self.error = self.errors.front().map(|n| n.error);
        Some(r)
    }

    /// ICMP errors waiting in the error queue.
    pub fn errors_queued(&self) -> usize {
        self.errors.len()
    }

    /// Length of the next datagram without taking it (for `FIONREAD`-like peeking).
    pub fn peek_len(&self) -> Option<usize> {
        self.rx.front().map(|d| d.data.len())
    }

    pub fn queued(&self) -> usize {
        self.rx.len()
    }

    pub fn queued_bytes(&self) -> usize {
        self.rx_bytes
    }

    pub fn readable(&self) -> bool {
        !self.rx.is_empty() || self.error.is_some() || self.shut_read
    }

    /// The groups this socket joined.
    pub fn groups(&self) -> &[Joined] {
        &self.groups
    }

    /// Has `shutdown(Read)` been called?
    pub fn is_shut_read(&self) -> bool {
        self.shut_read
    }

    /// A pending error or a queued one (`poll`'s POLLERR, as Linux's `datagram_poll`).
    pub fn has_error(&self) -> bool {
        self.error.is_some() || !self.errors.is_empty()
    }

    /// The interface the socket is bound to (`SO_BINDTODEVICE`), if any.
    pub fn device(&self) -> Option<usize> {
        self.device
    }

    /// Does a datagram from `src` to `dst:port` that came in on interface `ifindex` belong
    /// here, and how specifically? Higher is more specific: the peer's address and port (a
    /// connected socket) and the bound device (which hears only that device) count as in
    /// Linux's `compute_score`, so a connected socket beats one bound to the address or to
    /// the device alone. The bound address outweighs them all, as Linux's
    /// `__udp4_lib_lookup` looks at the sockets bound to the destination address first and
    /// at the wildcard ones only when none of those hears it: a socket bound to the address
    /// beats a wildcard one bound to the device.
    pub(crate) fn score(
        &self,
        src: SocketAddrV4,
        dst: Ipv4Addr,
        port: u16,
        ifindex: usize,
    ) -> Option<u8> {
        let local = self.local?;
        if local.port() != port || self.device.is_some_and(|d| d != ifindex) {
            return None;
        }
        let mut score = u8::from(self.device.is_some()) * 4;
        if !local.ip().is_unspecified() {
            // A socket bound to one unicast address hears only that address (a broadcast
            // reaches sockets bound to the wildcard or to the broadcast address itself).
            if *local.ip() != dst {
                return None;
            }
            score += 16;
        }
        if let Some(r) = self.remote {
            if r != src {
                return None;
            }
            // The peer's address and its port.
            score += 8;
        }
        Some(score)
    }
}

/// Counters of the UDP layer, every drop by its cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub rx_datagrams: u64,
    pub rx_delivered: u64,
    pub tx_datagrams: u64,
    pub drop_truncated: u64,
    pub drop_bad_length: u64,
    pub drop_bad_checksum: u64,
    /// Unicast datagrams for a port no socket has (answered by a port unreachable).
    pub drop_no_port: u64,
    /// Broadcast or multicast datagrams no socket hears: expected traffic (other hosts'
    /// DHCP, our own broadcasts looped back), not a drop, and never answered (Linux's
    /// `IgnoredMulti`).
    pub ignored_multi: u64,
    pub drop_queue_full: u64,
    pub icmp_errors_reported: u64,
    /// ICMP errors for a socket with `IP_RECVERR` whose error queue was full.
    pub drop_errors_full: u64,
    /// ICMP errors about a datagram of ours that no connected socket sent (an unconnected
    /// one cannot tell which send failed, RFC 1122 4.1.3.3), or of a kind UDP ignores; a
    /// "fragmentation needed" for a socket that is not told (unconnected, or
    /// `IP_PMTUDISC_DONT`) counts here too, though it may still teach `pmtu_updates`.
    pub icmp_errors_ignored: u64,
    /// "Fragmentation needed" about a datagram of one of our sockets (connected or not)
    /// whose next-hop MTU went to ip's path-MTU cache (RFC 1191; Linux's
    /// `ipv4_sk_update_pmtu`).
    pub pmtu_updates: u64,
}
