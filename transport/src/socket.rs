//! The table of raw and UDP sockets (TCP keeps its own, in `tcp`), and what `netstat`
//! shows of a socket.

use crate::raw::RawSocket;
use crate::slab::SocketHandle;
use crate::tcp::{ConnInfo, TcpSock};
use crate::udp::UdpSock;
use std::net::SocketAddrV4;

pub(crate) enum Socket {
    Raw(RawSocket),
    Udp(UdpSock),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// A raw socket of this IP protocol.
    Raw(u8),
    Udp,
    Tcp,
}

/// What `netstat` shows of a socket.
#[derive(Clone, Debug)]
pub struct SocketInfo {
    pub handle: SocketHandle,
    pub kind: SocketKind,
    pub local: Option<SocketAddrV4>,
    pub remote: Option<SocketAddrV4>,
    /// "UNCONN", "CONNECTED" (UDP), "RAW", or the TCP state ("ESTABLISHED"...).
    pub state: &'static str,
    pub rx_queued: usize,
    pub rx_bytes: usize,
    /// Bytes waiting to be sent (always 0 for UDP and raw: they send at once).
    pub tx_bytes: usize,
    pub dropped: u64,
    /// Congestion window, RTT and retransmissions of a TCP connection.
    pub tcp: Option<ConnInfo>,
}

impl SocketInfo {
    /// What `netstat` shows of a TCP socket.
    pub(crate) fn of_tcp(handle: SocketHandle, t: &TcpSock) -> SocketInfo {
        let (rx, tx) = t.queues();
        SocketInfo {
            handle,
            kind: SocketKind::Tcp,
            local: t.local,
            remote: t.remote(),
            state: t.state().name(),
            rx_queued: rx,
            rx_bytes: rx,
            tx_bytes: tx,
            dropped: 0,
            tcp: t.conn_info(),
        }
    }
}

impl Socket {
    pub(crate) fn info(&self, handle: SocketHandle) -> SocketInfo {
        match self {
            Socket::Raw(r) => SocketInfo {
                handle,
                kind: SocketKind::Raw(r.protocol),
                local: r.bound.map(|ip| SocketAddrV4::new(ip, 0)),
                remote: None,
                state: "RAW",
                rx_queued: r.queued(),
                rx_bytes: r.queued_bytes(),
                tx_bytes: 0,
                dropped: r.dropped,
                tcp: None,
            },
            Socket::Udp(u) => SocketInfo {
                handle,
                kind: SocketKind::Udp,
                local: u.local,
                remote: u.remote,
                state: if u.remote.is_some() {
                    "CONNECTED"
                } else {
                    "UNCONN"
                },
                rx_queued: u.queued(),
                rx_bytes: u.queued_bytes(),
                tx_bytes: 0,
                dropped: u.dropped,
                tcp: None,
            },
        }
    }
}
