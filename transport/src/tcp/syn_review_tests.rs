//! Connection establishment review (SYN cookies, options, the listener's queues): each
//! test shows one defect (see the test's comment). A host whose IP layer records every
//! segment, driven through `Transport::deliver` as `ip` would.

use super::wire::{flags, TcpRepr};
use super::Seq;
use crate::{SocketHandle, TcpConfig, Transport, TransportConfig};
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ip::{Datagram, IpTx, SendMeta, Upper};
use netif::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LPORT: u16 = 80;
const PEER_ISS: Seq = Seq(0x1234_5678);

/// An IP layer that keeps every TCP segment sent, parsed.
#[derive(Default)]
struct Wire {
    sent: Vec<(TcpRepr, Vec<u8>)>,
}

impl IpTx for Wire {
    fn send_with(
        &mut self,
        _meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), ip::SendError> {
        let mut buf = vec![0u8; payload_len];
        fill(&mut buf);
        let (r, data) = TcpRepr::parse(&buf).expect("a valid header");
        self.sent.push((r, data.to_vec()));
        Ok(())
    }

    fn route_info(&self, _dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        Some((US, 1500))
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == US
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast()
    }

    fn link(&self, _dst: Ipv4Addr) -> Option<(netif::Offload, usize)> {
        Some((netif::Offload::default(), 1500))
    }
}

struct Host {
    t: Transport,
    ip: Wire,
    now: Instant,
}

impl Host {
    fn new(tcp: TcpConfig) -> Host {
        Host {
            t: Transport::new(TransportConfig {
                tcp,
                ..TransportConfig::default()
            }),
            ip: Wire::default(),
            now: Instant::from_secs(1000),
        }
    }

    fn listen(&mut self, backlog: usize) -> SocketHandle {
        let h = self.t.tcp_open().expect("open");
        self.t
            .tcp_bind(h, SocketAddrV4::new(US, LPORT), &self.ip)
            .expect("bind");
        self.t.tcp_listen(h, backlog, &self.ip).expect("listen");
        h
    }

    /// The peer at port `pport` sends `r` (ports filled in) with `data`.
    fn inject(&mut self, pport: u16, r: TcpRepr, data: &[u8]) {
        let r = TcpRepr {
            src_port: pport,
            dst_port: LPORT,
            ..r
        };
        let hl = r.header_len();
        let mut l4 = vec![0u8; hl + data.len()];
        l4[hl..].copy_from_slice(data);
        r.emit(&mut l4, PEER, US);
        let repr = Ipv4Repr {
            src: PEER,
            dst: US,
            protocol: ipv4::protocol::TCP,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_fragment: true,
            payload_len: l4.len(),
        };
        let mut v = vec![0u8; ipv4::HEADER_LEN + l4.len()];
        repr.emit(&mut v, 0, false);
        v[ipv4::HEADER_LEN..].copy_from_slice(&l4);
        let d = Datagram {
            ifindex: 1,
            packet: Ipv4Packet::new_checked(&v[..]).expect("an IP header"),
            broadcast: false,
            csum_ok: false,
            gso_size: None,
        };
        self.t.deliver(&mut self.ip, &d, self.now);
    }

    fn take(&mut self) -> Vec<(TcpRepr, Vec<u8>)> {
        std::mem::take(&mut self.ip.sent)
    }
}

fn syn(mss: Option<u16>) -> TcpRepr {
    TcpRepr {
        seq: PEER_ISS,
        flags: flags::SYN,
        window: 65_535,
        mss,
        ..TcpRepr::default()
    }
}

fn ack(ack: Seq) -> TcpRepr {
    TcpRepr {
        seq: PEER_ISS + 1,
        ack,
        flags: flags::ACK,
        window: 65_535,
        ..TcpRepr::default()
    }
}

/// Every SYN answered with a cookie.
fn cookies_always() -> TcpConfig {
    TcpConfig {
        syn_backlog: 0,
        ..TcpConfig::default()
    }
}

/// RFC 9293 3.7.1 (MUST-15): without an MSS option the peer's MSS is 536; an MSS option
/// of 0 says nothing, and `take_syn_options` keeps 536 for it (as Linux's
/// tcp_parse_options, whose `mss_clamp` stays TCP_MSS_DEFAULT and so does the MSS its
/// cookie_v4_init_sequence encodes). The cookie's `mss_index` took 0 for an MSS and chose
/// the table's smallest entry: a connection answered with a SYN cookie sent 48-byte
/// segments where one queued normally sent 536-byte ones.
#[test]
fn a_cookie_for_a_syn_announcing_mss_0_keeps_536() {
    for cookies in [false, true] {
        let cfg = if cookies {
            cookies_always()
        } else {
            TcpConfig::default()
        };
        let mut h = Host::new(cfg);
        let l = h.listen(16);
        h.inject(40_000, syn(Some(0)), &[]);
        let out = h.take();
        assert_eq!(out.len(), 1, "{out:?}");
        let iss = out[0].0.seq;
        h.inject(40_000, ack(iss + 1), &[]);
        let (c, _) = h.t.tcp_accept(l).unwrap().expect("the connection");
        let mss = h.t.tcp(c).unwrap().conn_info().unwrap().mss;
        assert_eq!(mss, 536, "cookies {cookies}");
        assert_eq!(h.t.tcp_stats().syncookies_recv, u64::from(cookies));
    }
}
