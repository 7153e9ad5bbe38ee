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
    rx: VecDeque<RawDatagram>,
    rx_bytes: usize,
    max_count: usize,
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

    /// Queue a copy; false (and counted) when the queue is full.
    pub(crate) fn push(&mut self, from: Ipv4Addr, datagram: &[u8]) -> bool {
        if self.rx.len() >= self.max_count || self.rx_bytes + datagram.len() > self.max_bytes {
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

    pub fn queued(&self) -> usize {
        self.rx.len()
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
}
