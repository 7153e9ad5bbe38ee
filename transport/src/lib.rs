//! The transport layer of tapip: the dispatcher `ip` hands datagrams to (it implements
//! [`ip::Upper`]) and the sockets that live above it.
//!
//! Today it holds raw sockets (per IP protocol, as BSD and Linux have them: every matching
//! raw socket gets a copy of each inbound datagram, IP header included). UDP and TCP plug in
//! here, behind the same dispatcher.
//!
//! Sans-IO: sockets are entries in a table behind [`SocketHandle`]s; nothing blocks. Whoever
//! owns the runtime takes [`Transport::take_wakeups`] after each call to learn which
//! sockets became readable.
#![forbid(unsafe_code)]

pub mod raw;
pub mod socket;

pub use raw::{RawDatagram, RawSocket};
pub use socket::{SocketHandle, SocketInfo, SocketKind};

use ip::{Datagram, Delivery, IcmpErrorReport, IpTx, SendError, SendMeta, Upper};
use netif::Instant;
use socket::Slab;
use std::net::Ipv4Addr;

/// Limits of the transport layer.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub max_sockets: usize,
    /// Datagrams a raw socket holds before it drops new ones.
    pub raw_queue: usize,
    /// Bytes a raw socket holds before it drops new ones.
    pub raw_queue_bytes: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_sockets: 1024,
            raw_queue: 256,
            raw_queue_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("too many open sockets")]
    TooManySockets,
    #[error("bad socket handle")]
    BadHandle,
    #[error("operation not supported on this socket")]
    NotSupported,
    #[error("{0}")]
    Send(#[from] SendError),
    #[error("no such protocol")]
    BadProtocol,
}

/// Counters of the transport layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    pub raw_delivered: u64,
    pub raw_dropped_queue_full: u64,
    pub raw_sent: u64,
    pub icmp_errors_received: u64,
    pub no_protocol: u64,
}

pub struct Transport {
    cfg: TransportConfig,
    sockets: Slab,
    wakeups: Vec<SocketHandle>,
    stats: TransportStats,
}

impl Transport {
    pub fn new(cfg: TransportConfig) -> Transport {
        Transport {
            sockets: Slab::new(cfg.max_sockets),
            cfg,
            wakeups: Vec::new(),
            stats: TransportStats::default(),
        }
    }

    /// Open a raw socket for IP protocol `protocol` (1 = ICMP, ...).
    pub fn raw_open(&mut self, protocol: u8) -> Result<SocketHandle, TransportError> {
        if protocol == 0 || protocol == 255 {
            return Err(TransportError::BadProtocol);
        }
        let s = RawSocket::new(protocol, self.cfg.raw_queue, self.cfg.raw_queue_bytes);
        self.sockets
            .insert(socket::Socket::Raw(s))
            .ok_or(TransportError::TooManySockets)
    }

    pub fn raw(&mut self, h: SocketHandle) -> Result<&mut RawSocket, TransportError> {
        match self.sockets.get_mut(h) {
            Some(socket::Socket::Raw(r)) => Ok(r),
            None => Err(TransportError::BadHandle),
        }
    }

    /// Send `payload` (without IP header: `ip` builds it) from a raw socket to `dst`.
    pub fn raw_send(
        &mut self,
        h: SocketHandle,
        tx: &mut dyn IpTx,
        dst: Ipv4Addr,
        payload: &[u8],
        now: Instant,
    ) -> Result<usize, TransportError> {
        let r = self.raw(h)?;
        let meta = SendMeta {
            ttl: r.ttl,
            src: r.bound,
            ..SendMeta::new(dst, r.protocol)
        };
        tx.send(&meta, payload, now)?;
        r.sent += 1;
        self.stats.raw_sent += 1;
        Ok(payload.len())
    }

    /// Close a socket; its queued data is freed. False if the handle was stale.
    pub fn close(&mut self, h: SocketHandle) -> bool {
        self.sockets.remove(h).is_some()
    }

    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Every socket, for `stat` and `netstat`.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        self.sockets.iter().map(|(h, s)| s.info(h)).collect()
    }

    /// Sockets that became readable (or otherwise changed) since the last call.
    pub fn take_wakeups(&mut self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.wakeups.drain(..)
    }

    pub fn stats(&self) -> TransportStats {
        self.stats
    }
}

impl Upper for Transport {
    fn deliver(&mut self, _tx: &mut dyn IpTx, d: &Datagram<'_>, _now: Instant) -> Delivery {
        let proto = d.packet.protocol();
        let mut copies = 0;
        for (h, s) in self.sockets.iter_mut() {
            let socket::Socket::Raw(r) = s;
            if r.protocol != proto {
                continue;
            }
            if r.push(d.packet.src(), d.packet.as_bytes()) {
                copies += 1;
                self.wakeups.push(h);
            } else {
                self.stats.raw_dropped_queue_full += 1;
            }
        }
        self.stats.raw_delivered += copies;
        // ICMP is handled by `ip` itself; UDP and TCP will answer for their ports here.
        if copies > 0 || proto == ip::ipv4::protocol::ICMP {
            Delivery::Delivered
        } else {
            self.stats.no_protocol += 1;
            Delivery::ProtocolUnreachable
        }
    }

    fn icmp_error(&mut self, _tx: &mut dyn IpTx, _report: &IcmpErrorReport<'_>, _now: Instant) {
        // Raw sockets already received the error message itself; UDP and TCP will find the
        // socket that sent the quoted datagram here.
        self.stats.icmp_errors_received += 1;
    }
}
