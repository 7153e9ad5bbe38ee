//! Raw IP sockets: a bounded queue of whole datagrams of one IP protocol.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// A datagram as a raw socket reads it: IP header included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDatagram {
    pub from: Ipv4Addr,
    pub data: Vec<u8>,
}

pub struct RawSocket {
    pub(crate) protocol: u8,
    /// TTL for datagrams sent (`None`: the default).
    pub ttl: Option<u8>,
    /// `IP_TOS` of datagrams sent.
    pub tos: u8,
    /// Source address for datagrams sent (`None`: the outgoing interface's), and the only
    /// destination it hears.
    pub bound: Option<Ipv4Addr>,
    /// `SO_BROADCAST`: it may send to a broadcast address.
    pub broadcast: bool,
    /// `IP_HDRINCL`: what it sends starts with the IP header the application wrote (always
    /// on for protocol 255, `IPPROTO_RAW`).
    pub header_included: bool,
    /// The address given to `connect`: where a send without an address goes, and the only
    /// source it hears (Linux's `raw_v4_match`).
    pub peer: Option<Ipv4Addr>,
    /// `IP_MTU_DISCOVER` of what it sends without `IP_HDRINCL` (a header the application
    /// wrote keeps its own DF): `Want` by default, as Linux's `inet_create` sets it.
    pub pmtu: ip::PmtuMode,
    /// An ICMP error about a datagram of a connected socket, for its next call (see
    /// `Transport::raw_icmp_error`).
    pub(crate) error: Option<crate::SoftError>,
    /// Groups it joined (`IP_ADD_MEMBERSHIP`, as a UDP socket's), left when it closes.
    pub(crate) groups: Vec<crate::udp::Joined>,
    /// `IP_MULTICAST_TTL` (1), `IP_MULTICAST_LOOP` (on), `IP_MULTICAST_IF` (none: the
    /// route's interface) of what it sends to a group.
    pub multicast_ttl: u8,
    pub multicast_loop: bool,
    pub multicast_if: Option<Ipv4Addr>,
    /// `shutdown` of the read side: a receive on an empty queue returns 0 (Linux's
    /// RCV_SHUTDOWN; datagrams still queue, as Linux's raw sockets take them).
    pub(crate) shut_read: bool,
    /// `shutdown` of the write side: sends with `IP_HDRINCL` fail (EPIPE); others go
    /// on, as Linux's `raw_sendmsg` checks only the header-included path.
    pub(crate) shut_write: bool,
    /// `SO_SNDBUF`: accepted and reported, as a UDP socket's (a raw send goes at once).
    pub sndbuf: usize,
    /// `SO_REUSEADDR`: reported as set; a raw socket has no port to share.
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`: kept for `getsockopt` (raw sockets bind no port).
    pub reuse_port: bool,
    /// `ICMP_FILTER` (an ICMP socket's): bit `t` set, ICMP messages of type `t` (below 32)
    /// are not queued to it; types from 32 up always are (Linux's `icmp_filter`).
    pub icmp_filter: u32,
    rx: VecDeque<RawDatagram>,
    rx_bytes: usize,
    max_count: usize,
    /// `SO_RCVBUF`: the bytes the queue may hold (the stack's `raw_queue_bytes` at first).
    max_bytes: usize,
    pub(crate) dropped: u64,
    pub(crate) sent: u64,
}

impl RawSocket {
    pub(crate) fn new(protocol: u8, max_count: usize, max_bytes: usize) -> RawSocket {
        RawSocket {
            protocol,
            ttl: None,
            tos: 0,
            bound: None,
            broadcast: false,
            header_included: protocol == crate::RAW_SEND_ONLY,
            icmp_filter: 0,
            peer: None,
            pmtu: ip::PmtuMode::Want,
            error: None,
            groups: Vec::new(),
            multicast_ttl: 1,
            multicast_loop: true,
            multicast_if: None,
            shut_read: false,
            shut_write: false,
            sndbuf: 212_992,
            reuse_addr: false,
            reuse_port: false,
            rx: VecDeque::new(),
            rx_bytes: 0,
            max_count,
            max_bytes,
            dropped: 0,
            sent: 0,
        }
    }

    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// `SO_RCVBUF`: how many bytes the queue may hold.
    /// The groups the socket joined (`IP_ADD_MEMBERSHIP`), with their interfaces.
    pub fn groups(&self) -> &[crate::udp::Joined] {
        &self.groups
    }

    pub fn rcvbuf(&self) -> usize {
        self.max_bytes
    }

    pub fn set_rcvbuf(&mut self, bytes: usize) {
        self.max_bytes = bytes;
    }

    /// Queue a copy; false (and counted) when the queue is full. An empty queue takes any
    /// datagram, as a UDP socket's (Linux admits while the queue is under its buffer).
    pub(crate) fn push(&mut self, from: Ipv4Addr, datagram: &[u8]) -> bool {
        let fits = self.rx.is_empty() || self.rx_bytes + datagram.len() <= self.max_bytes;
        if self.rx.len() >= self.max_count || !fits {
            self.dropped += 1;
            return false;
        }
        self.rx_bytes += datagram.len();
        self.rx.push_back(RawDatagram {
            from,
            data: datagram.to_vec(),
        });
        true
    }

    pub fn recv(&mut self) -> Option<RawDatagram> {
        let d = self.rx.pop_front()?;
        self.rx_bytes -= d.data.len();
        Some(d)
    }

    /// The next datagram, left queued (`MSG_PEEK`).
    pub fn peek(&self) -> Option<&RawDatagram> {
        self.rx.front()
    }

    /// Does a datagram of this socket's protocol from `src` to `dst` reach it? Not on an
    /// `IPPROTO_RAW` socket, which only sends; a bound socket hears only its address, a
    /// connected one only its peer.
    pub(crate) fn hears(&self, protocol: u8, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.protocol == protocol
            && protocol != crate::RAW_SEND_ONLY
            && self.bound.is_none_or(|a| a == dst)
            && self.peer.is_none_or(|p| p == src)
    }

    /// Does its `ICMP_FILTER` keep out the ICMP message `payload` (the datagram's data)?
    /// One too short to hold an ICMP header (8 bytes) is kept out, filter or none, as
    /// Linux's `icmp_filter` does (`raw_v4_input` asks it for every ICMP socket).
    pub(crate) fn filters(&self, payload: &[u8]) -> bool {
        if self.protocol != ip::ipv4::protocol::ICMP {
            return false;
        }
        match payload {
            [t, _, _, _, _, _, _, _, ..] => *t < 32 && self.icmp_filter & (1 << t) != 0,
            _ => true,
        }
    }

    pub fn queued(&self) -> usize {
        self.rx.len()
    }

    /// Is its read side shut down?
    pub fn is_shut_read(&self) -> bool {
        self.shut_read
    }

    /// The pending ICMP error, taken (`SO_ERROR`, and what the next send or receive fails
    /// with).
    pub fn take_error(&mut self) -> Option<crate::SoftError> {
        self.error.take()
    }

    pub fn has_error(&self) -> bool {
        self.error.is_some()
    }

    pub fn queued_bytes(&self) -> usize {
        self.rx_bytes
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_by_count_and_bytes() {
        let from = Ipv4Addr::new(10, 0, 0, 2);
        let mut r = RawSocket::new(1, 2, 100);
        assert!(r.push(from, &[0; 40]));
        assert!(r.push(from, &[0; 40]));
        assert!(!r.push(from, &[0; 1]), "count");
        assert_eq!(r.recv().unwrap().data.len(), 40);
        assert!(!r.push(from, &[0; 61]), "bytes");
        assert!(r.push(from, &[0; 60]));
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.queued_bytes(), 100);
    }

    #[test]
    fn peek_leaves_the_datagram_queued() {
        let from = Ipv4Addr::new(10, 0, 0, 2);
        let mut r = RawSocket::new(1, 2, 100);
        assert!(r.peek().is_none());
        assert!(r.push(from, &[1; 30]));
        assert!(r.push(from, &[2; 20]));
        assert_eq!(r.peek().unwrap().data, [1; 30]);
        assert_eq!(r.queued(), 2);
        assert_eq!(r.recv().unwrap().data, [1; 30]);
        assert_eq!(r.peek().unwrap().data, [2; 20]);
    }

    /// Linux's `raw_v4_input` asks `icmp_filter` about every ICMP message for every ICMP
    /// socket, filter set or not, and `icmp_filter` keeps out one too short for an ICMP
    /// header (8 bytes). Found by a review: without a filter every message was queued,
    /// and with one only an empty message was kept out, a 1 to 7 byte one passed.
    #[test]
    fn an_icmp_message_shorter_than_its_header_reaches_no_icmp_socket() {
        let mut r = RawSocket::new(ip::ipv4::protocol::ICMP, 2, 100);
        for filter in [0, !1] {
            r.icmp_filter = filter;
            assert!(r.filters(&[]), "empty, filter {filter:#x}");
            assert!(r.filters(&[0, 0, 0, 0]), "4 bytes, filter {filter:#x}");
            assert!(r.filters(&[0; 7]), "7 bytes, filter {filter:#x}");
            assert!(!r.filters(&[0; 8]), "a whole header, filter {filter:#x}");
        }
        // Only an ICMP socket is asked.
        let other = RawSocket::new(17, 2, 100);
        assert!(!other.filters(&[]) && !other.filters(&[0; 4]));
    }

    #[test]
    fn a_bound_or_connected_socket_hears_only_its_address_and_peer() {
        let (a, b, us) = (
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        let mut r = RawSocket::new(1, 2, 100);
        assert!(r.hears(1, a, us) && r.hears(1, b, Ipv4Addr::BROADCAST));
        assert!(!r.hears(17, a, us));
        r.peer = Some(a);
        assert!(r.hears(1, a, us) && !r.hears(1, b, us));
        r.bound = Some(us);
        assert!(r.hears(1, a, us) && !r.hears(1, a, Ipv4Addr::BROADCAST));
        // IPPROTO_RAW sends only, with its header included.
        let raw = RawSocket::new(crate::RAW_SEND_ONLY, 2, 100);
        assert!(raw.header_included);
        assert!(!raw.hears(crate::RAW_SEND_ONLY, a, us));
    }
}
