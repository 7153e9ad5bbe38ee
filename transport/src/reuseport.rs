//! `SO_REUSEPORT`: sockets that all set it may bind the same address and port, and the
//! flows that arrive for it are spread over them.
//!
//! A flow (the 4-tuple) is mapped to one socket of the group by a keyed hash, so every
//! segment or datagram of a flow reaches the same socket while the group stays the same
//! (a SYN and its retransmissions the same listener, a SYN cookie's ACK the listener that
//! sent the cookie). The key is derived from the stack's secret: a peer cannot choose its
//! ports to pile its flows on one socket.

use ip::siphash::siphash24;
use std::net::SocketAddrV4;

pub(crate) struct FlowHash {
    k0: u64,
    k1: u64,
}

impl FlowHash {
    pub(crate) fn new(secret: u64) -> FlowHash {
        FlowHash {
            k0: siphash24(secret, secret.rotate_left(7), b"tapip reuseport k0"),
            k1: siphash24(!secret, secret, b"tapip reuseport k1"),
        }
    }

    /// Which of `n` sockets (`n` > 0) takes the flow between `local` and `remote`: an
    /// index below `n`.
    pub(crate) fn pick(&self, local: SocketAddrV4, remote: SocketAddrV4, n: usize) -> usize {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&local.ip().octets());
        b[4..6].copy_from_slice(&local.port().to_be_bytes());
        b[6..10].copy_from_slice(&remote.ip().octets());
        b[10..].copy_from_slice(&remote.port().to_be_bytes());
        let h = siphash24(self.k0, self.k1, &b);
        // The high bits of h * n: an unbiased enough index without a division.
        ((u128::from(h) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port)
    }

    #[test]
    fn a_flow_keeps_its_socket_and_flows_spread_over_all() {
        let f = FlowHash::new(1);
        let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
        let mut seen = [0usize; 4];
        for port in 1000..1400 {
            let i = f.pick(local, a(port), 4);
            assert_eq!(i, f.pick(local, a(port), 4));
            seen[i] += 1;
        }
        // 400 flows over 4 sockets: each gets a fair share (a bias would show here).
        assert!(seen.iter().all(|&n| (60..=140).contains(&n)), "{seen:?}");
        assert_eq!(f.pick(local, a(1), 1), 0);
        // Another secret maps flows otherwise.
        let g = FlowHash::new(2);
        assert!((1000..1100).any(|p| f.pick(local, a(p), 4) != g.pick(local, a(p), 4)));
    }
}
