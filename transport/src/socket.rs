//! The socket table: a slab of sockets behind generation-checked handles.

use crate::raw::RawSocket;
use crate::tcp::{ConnInfo, TcpSock};
use crate::udp::UdpSock;
use std::fmt;
use std::net::SocketAddrV4;

/// A socket's name in the table. Stale handles (of a closed socket whose slot was reused)
/// are recognised by their generation and rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

impl fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

impl SocketHandle {
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

pub(crate) enum Socket {
    Raw(RawSocket),
    Udp(UdpSock),
    Tcp(Box<TcpSock>),
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
            Socket::Tcp(t) => {
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
    }
}

struct Slot {
    generation: u32,
    socket: Option<Socket>,
}

pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
    max: usize,
}

impl Slab {
    pub(crate) fn new(max: usize) -> Slab {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            max,
        }
    }

    pub(crate) fn insert(&mut self, s: Socket) -> Option<SocketHandle> {
        if self.len >= self.max {
            return None;
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    socket: None,
                });
                u32::try_from(self.slots.len() - 1).ok()?
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.socket = Some(s);
        self.len += 1;
        Some(SocketHandle {
            index,
            generation: slot.generation,
        })
    }

    pub(crate) fn get(&self, h: SocketHandle) -> Option<&Socket> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_ref()
    }

    pub(crate) fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Socket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.socket.as_mut()
    }

    pub(crate) fn remove(&mut self, h: SocketHandle) -> Option<Socket> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let s = slot.socket.take()?;
        self.free.push(h.index);
        self.len -= 1;
        Some(s)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn handle(&self, i: usize) -> SocketHandle {
        SocketHandle {
            index: i as u32,
            generation: self.slots[i].generation,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketHandle, &Socket)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.socket.as_ref().map(|x| (self.handle(i), x)))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (SocketHandle, &mut Socket)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let generation = s.generation;
            s.socket.as_mut().map(|x| {
                (
                    SocketHandle {
                        index: i as u32,
                        generation,
                    },
                    x,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> Socket {
        Socket::Raw(RawSocket::new(1, 4, 1000))
    }

    #[test]
    fn stale_handles_are_rejected() {
        let mut s = Slab::new(2);
        let a = s.insert(raw()).unwrap();
        let b = s.insert(raw()).unwrap();
        assert!(s.insert(raw()).is_none(), "bounded");
        assert!(s.remove(a).is_some());
        let c = s.insert(raw()).unwrap();
        assert_eq!(c.index(), a.index());
        assert!(s.get_mut(a).is_none(), "old generation");
        assert!(s.get_mut(c).is_some());
        assert!(s.remove(a).is_none());
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().count(), 2);
        let _ = b;
    }
}
