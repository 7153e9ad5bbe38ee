//! Read-only inspection of the TCP tables for the whole-stack fuzz target
//! (`tests/src/fuzz`): every connection's [`TcbProbe`], every listener's queues and the
//! TIME-WAIT table, so that the target can check after each step that the sequence
//! numbers keep their invariants and that no table outgrows its cap. The stack never
//! reads these.

use super::conn::TcbProbe;
use super::Role;
use crate::slab::SocketHandle;
use crate::Transport;

/// One listener's queues.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct ListenerProbe {
    pub handle: SocketHandle,
    pub backlog: usize,
    /// Connections waiting for `accept`.
    pub accept: usize,
    /// Half-open connections (SYN-RECEIVED) counted against the SYN queue.
    pub embryonic: usize,
}

/// The TCP tables at one moment.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct TcpProbe {
    /// (socket, the application closed it, its connection).
    pub conns: Vec<(SocketHandle, bool, TcbProbe)>,
    pub listeners: Vec<ListenerProbe>,
    /// Entries of the 4-tuple demultiplexing map.
    pub demux_entries: usize,
    pub time_wait: usize,
    /// Entries of the TIME-WAIT table's expiry index (one per record).
    pub time_wait_queue: usize,
}

impl Transport {
    #[doc(hidden)]
    pub fn tcp_probe(&self) -> TcpProbe {
        let mut p = TcpProbe {
            demux_entries: self.tcp.conns.len(),
            time_wait: self.tcp.time_wait.len(),
            time_wait_queue: self.tcp.time_wait.index_len(),
            ..TcpProbe::default()
        };
        for (h, t) in self.tcp.socks.iter() {
            match &t.role {
                Role::Conn(c) => p.conns.push((h, t.orphan, c.probe())),
                Role::Listen(l) => p.listeners.push(ListenerProbe {
                    handle: h,
                    backlog: l.backlog,
                    accept: l.accept.len(),
                    embryonic: l.embryonic,
                }),
                Role::Idle => {}
            }
        }
        p
    }
}
