//! UDP in the transport layer, seen through its public API: datagrams are handed in through
//! `ip::Upper::deliver` (as `ip` does), ICMP errors through `ip::Upper::icmp_error`, and what
//! the layer sends is caught by a fake `ip::IpTx` that records it.
//!
//! Inbound UDP headers and checksums are built with `etherparse`, and outbound ones are
//! checked with it, so the crate's own wire code is not both the question and the answer.
//! Nothing here reads a clock or sleeps.

#![forbid(unsafe_code)]

use etherparse::UdpHeader;
use ip::icmp;
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use ip::{Datagram, Delivery, IcmpErrorReport, IpTx, SendError, SendMeta, Upper};
use netif::Instant;
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use transport::ports::EPHEMERAL;
use transport::{
    IcmpReport, PmtuMode, SocketHandle, SoftError, Transport, TransportConfig, TransportError,
    UdpDatagram, UdpStats, MAX_ERRORS_QUEUED,
};

// ---- fixtures -------------------------------------------------------------------------------

const NOW: Instant = Instant::from_secs(1);

/// Our address on the first interface (10.0.0.0/24) and on the second (10.0.1.0/24).
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const US2: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// Hosts on the first network.
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const OTHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 8);
/// A host on the second network.
const FAR: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 9);
/// The directed broadcast of the first network.
const BCAST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);
/// TEST-NET-1: no route leads there.
const NOWHERE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// One datagram handed to the fake IP layer.
#[derive(Clone, Debug)]
struct Sent {
    meta: SendMeta,
    /// The IP payload: UDP header and data.
    payload: Vec<u8>,
}

/// A host with two interfaces (10.0.0.1/24, 10.0.1.1/24) and loopback, whose IP layer
/// records what it is asked to send.
#[derive(Default)]
struct FakeIp {
    sent: Vec<Sent>,
    /// Path MTUs reported (`set_path_mtu`).
    pmtu: Vec<(Ipv4Addr, usize)>,
}

impl FakeIp {
    fn take(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    fn only(&mut self) -> Sent {
        let mut s = self.take();
        assert_eq!(s.len(), 1, "expected one datagram sent: {s:?}");
        s.remove(0)
    }
}

impl IpTx for FakeIp {
    fn send_with(
        &mut self,
        meta: &SendMeta,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
        _now: Instant,
    ) -> Result<(), SendError> {
        if payload_len > ipv4::MAX_PAYLOAD {
            return Err(SendError::TooLong);
        }
        if !self.is_broadcast(meta.dst) && self.route_info(meta.dst).is_none() {
            return Err(SendError::NoRoute);
        }
        let mut payload = vec![0u8; payload_len];
        fill(&mut payload);
        self.sent.push(Sent {
            meta: *meta,
            payload,
        });
        Ok(())
    }

    fn route_info(&self, dst: Ipv4Addr) -> Option<(Ipv4Addr, usize)> {
        let [a, b, c, _] = dst.octets();
        if self.is_local(dst) {
            Some((dst, 65_535))
        } else if (a, b, c) == (10, 0, 1) {
            Some((US2, 1500))
        } else if (a, b, c) == (192, 0, 2) {
            None
        } else {
            // The default route leaves by the first interface.
            Some((US, 1500))
        }
    }

    fn set_path_mtu(&mut self, dst: Ipv4Addr, mtu: usize, _now: Instant) {
        self.pmtu.push((dst, mtu));
    }

    /// Interface 0 is 10.0.0.1, 1 is 10.0.1.1, 2 has no address yet.
    fn source_via(&self, dst: Ipv4Addr, device: usize) -> Option<Ipv4Addr> {
        match device {
            0 | 1 if dst.is_broadcast() => Some([US, US2][device]),
            0 | 1 => self
                .route_info(dst)
                .map(|r| r.0)
                .filter(|&s| s == [US, US2][device]),
            2 => dst.is_broadcast().then_some(ANY),
            _ => None,
        }
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == US || ip == US2 || ip == Ipv4Addr::LOCALHOST
    }

    fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast() || ip == BCAST || ip == Ipv4Addr::new(10, 0, 1, 255)
    }
}

fn transport() -> Transport {
    Transport::new(TransportConfig::default())
}

/// A UDP header and `data`, checksummed over the pseudo-header by etherparse.
fn udp_bytes(from: SocketAddrV4, to: SocketAddrV4, data: &[u8]) -> Vec<u8> {
    let mut h = UdpHeader::without_ipv4_checksum(from.port(), to.port(), data.len())
        .expect("payload fits a UDP datagram");
    h.checksum = h
        .calc_checksum_ipv4_raw(from.ip().octets(), to.ip().octets(), data)
        .expect("checksum");
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// An IPv4 datagram carrying `l4` as protocol UDP.
fn ip_wrap(src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol: ipv4::protocol::UDP,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: false,
        payload_len: l4.len(),
    };
    let mut v = vec![0u8; ipv4::HEADER_LEN + l4.len()];
    repr.emit(&mut v, 0, false);
    v[ipv4::HEADER_LEN..].copy_from_slice(l4);
    v
}

/// Hand a whole IP datagram up, as `ip` does.
fn deliver_ip(t: &mut Transport, tx: &mut FakeIp, bytes: &[u8], broadcast: bool) -> Delivery {
    let packet = Ipv4Packet::new_checked(bytes).expect("a well-formed IP header");
    let d = Datagram {
        ifindex: 1,
        packet,
        broadcast,
        csum_ok: false,
        gso_size: None,
    };
    t.deliver(tx, &d, NOW)
}

/// Hand up a well-formed UDP datagram from `from` to `to`.
fn deliver(
    t: &mut Transport,
    tx: &mut FakeIp,
    from: SocketAddrV4,
    to: SocketAddrV4,
    data: &[u8],
) -> Delivery {
    let broadcast = tx.is_broadcast(*to.ip());
    let bytes = ip_wrap(*from.ip(), *to.ip(), &udp_bytes(from, to, data));
    deliver_ip(t, tx, &bytes, broadcast)
}

/// Everything queued on a socket, in order.
fn drain(t: &mut Transport, h: SocketHandle) -> Vec<UdpDatagram> {
    let mut out = Vec::new();
    while let Some(d) = t.udp(h).expect("a UDP socket").recv().expect("no error") {
        out.push(d);
    }
    out
}

/// The payloads queued on a socket, in order.
fn drain_data(t: &mut Transport, h: SocketHandle) -> Vec<Vec<u8>> {
    drain(t, h).into_iter().map(|d| d.data).collect()
}

/// A socket with SO_REUSEADDR set, bound to `addr`.
fn bind_reuse(t: &mut Transport, tx: &FakeIp, addr: SocketAddrV4) -> SocketHandle {
    let h = t.udp_open().expect("open");
    t.udp(h).expect("udp").reuse_addr = true;
    t.udp_bind(h, addr, tx).expect("bind with SO_REUSEADDR");
    h
}

fn bind(t: &mut Transport, tx: &FakeIp, addr: SocketAddrV4) -> SocketHandle {
    let h = t.udp_open().expect("open");
    t.udp_bind(h, addr, tx)
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    h
}

/// The ICMP error `ip` would report about the datagram `s` we sent (its quote: the IP
/// payload of the original, which starts with the UDP header).
fn report_about(s: &Sent, kind: u8, code: u8) -> (Vec<u8>, u8, u8, Ipv4Addr, Ipv4Addr) {
    let src = s.meta.src.expect("UDP always names its source");
    (s.payload.clone(), kind, code, src, s.meta.dst)
}

fn icmp_error(
    t: &mut Transport,
    tx: &mut FakeIp,
    (quote, kind, code, orig_src, orig_dst): &(Vec<u8>, u8, u8, Ipv4Addr, Ipv4Addr),
) {
    let r = IcmpErrorReport {
        ifindex: 0,
        from: *orig_dst,
        kind: *kind,
        code: *code,
        info: 0,
        orig_src: *orig_src,
        orig_dst: *orig_dst,
        orig_protocol: ipv4::protocol::UDP,
        orig_total_len: (ipv4::HEADER_LEN + quote.len()) as u16,
        orig_payload: quote,
    };
    t.icmp_error(tx, &r, NOW);
}

// ---- demultiplexing -------------------------------------------------------------------------

#[test]
fn a_socket_bound_to_a_device_hears_and_sends_on_it_alone() {
    // SO_BINDTODEVICE, as a DHCP client on interface 2 (no address yet) uses it.
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let dhcp = bind_reuse(&mut t, &tx, sa(ANY, 68));
    t.udp_bind_device(dhcp, Some(2)).unwrap();
    let other = bind_reuse(&mut t, &tx, sa(ANY, 68));
    let server = sa(Ipv4Addr::new(10, 0, 2, 2), 67);
    let on = |ifindex: usize, t: &mut Transport, tx: &mut FakeIp, data: &[u8]| {
        let l4 = udp_bytes(server, sa(Ipv4Addr::BROADCAST, 68), data);
        let bytes = ip_wrap(*server.ip(), Ipv4Addr::BROADCAST, &l4);
        let d = Datagram {
            ifindex,
            packet: Ipv4Packet::new_checked(&bytes).unwrap(),
            broadcast: true,
            csum_ok: false,
            gso_size: None,
        };
        t.deliver(tx, &d, NOW)
    };
    on(2, &mut t, &mut tx, b"offer on 2");
    on(0, &mut t, &mut tx, b"offer on 0");
    assert_eq!(drain_data(&mut t, dhcp), vec![b"offer on 2".to_vec()]);
    assert_eq!(
        drain_data(&mut t, other),
        vec![b"offer on 2".to_vec(), b"offer on 0".to_vec()]
    );
    // Unicast on its device: the bound socket is the more specific.
    let l4 = udp_bytes(server, sa(US, 68), b"unicast");
    let bytes = ip_wrap(*server.ip(), US, &l4);
    let d = Datagram {
        ifindex: 2,
        packet: Ipv4Packet::new_checked(&bytes).unwrap(),
        broadcast: false,
        csum_ok: false,
        gso_size: None,
    };
    t.deliver(&mut tx, &d, NOW);
    assert_eq!(drain_data(&mut t, dhcp), vec![b"unicast".to_vec()]);
    assert!(drain_data(&mut t, other).is_empty());

    // Sending: from 0.0.0.0 by device 2, with a checksum over that source.
    t.udp(dhcp).unwrap().broadcast = true;
    let dst = sa(Ipv4Addr::BROADCAST, 67);
    t.udp_send(dhcp, &mut tx, Some(dst), b"discover", NOW)
        .unwrap();
    let s = tx.only();
    assert_eq!((s.meta.src, s.meta.device), (Some(ANY), Some(2)));
    let (h, _) = UdpHeader::from_slice(&s.payload).unwrap();
    let want = h
        .calc_checksum_ipv4_raw(ANY.octets(), Ipv4Addr::BROADCAST.octets(), b"discover")
        .unwrap();
    assert_eq!(h.checksum, want);
    // Device 2 has no route to a unicast peer yet; unbinding restores the routes.
    let err = t.udp_send(dhcp, &mut tx, Some(sa(PEER, 67)), b"x", NOW);
    assert_eq!(err, Err(TransportError::Send(SendError::NoRoute)));
    t.udp_bind_device(dhcp, None).unwrap();
    t.udp_send(dhcp, &mut tx, Some(sa(PEER, 67)), b"x", NOW)
        .unwrap();
    let s = tx.only();
    assert_eq!((s.meta.src, s.meta.device), (Some(US), None));
}

/// A connected socket (exact 4-tuple) beats one bound to the destination address, which beats
/// a wildcard bind, whatever order they were opened in.
#[test]
fn demux_prefers_the_most_specific_socket() {
    // Every order in which the three sockets can be opened.
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let (mut t, mut tx) = (transport(), FakeIp::default());
        let mut h = [None; 3];
        for i in order {
            h[i] = Some(match i {
                0 => bind_reuse(&mut t, &tx, sa(ANY, 5000)),
                1 => bind_reuse(&mut t, &tx, sa(US, 5000)),
                _ => {
                    let c = bind_reuse(&mut t, &tx, sa(US, 5000));
                    t.udp_connect(c, sa(PEER, 7000), &tx).expect("connect");
                    c
                }
            });
        }
        let [wild, specific, connected] = h.map(|x| x.expect("opened"));

        assert_eq!(
            deliver(&mut t, &mut tx, sa(PEER, 7000), sa(US, 5000), b"peer"),
            Delivery::Delivered
        );
        assert_eq!(
            deliver(&mut t, &mut tx, sa(OTHER, 7000), sa(US, 5000), b"other"),
            Delivery::Delivered
        );
        assert_eq!(
            deliver(&mut t, &mut tx, sa(PEER, 7001), sa(US, 5000), b"peer port"),
            Delivery::Delivered
        );
        assert_eq!(
            deliver(
                &mut t,
                &mut tx,
                sa(FAR, 7000),
                sa(US2, 5000),
                b"second address"
            ),
            Delivery::Delivered
        );
        assert_eq!(
            drain_data(&mut t, connected),
            [b"peer".to_vec()],
            "{order:?}"
        );
        assert_eq!(
            drain_data(&mut t, specific),
            [b"other".to_vec(), b"peer port".to_vec()],
            "{order:?}"
        );
        assert_eq!(
            drain_data(&mut t, wild),
            [b"second address".to_vec()],
            "{order:?}"
        );
        let st = t.udp_stats();
        assert_eq!((st.rx_datagrams, st.rx_delivered), (4, 4), "{st:?}");
    }
}

#[test]
fn a_connected_socket_ignores_other_peers() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    let local = t.udp_connect(c, sa(PEER, 53), &tx).expect("connect");
    assert_eq!(
        *local.ip(),
        US,
        "the route's source becomes the local address"
    );
    assert!(EPHEMERAL.contains(&local.port()));
    assert_eq!(t.udp(c).expect("udp").remote(), Some(sa(PEER, 53)));

    for from in [sa(OTHER, 53), sa(PEER, 54)] {
        assert_eq!(
            deliver(&mut t, &mut tx, from, local, b"stranger"),
            Delivery::PortUnreachable,
            "from {from}"
        );
    }
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 53), local, b"answer"),
        Delivery::Delivered
    );
    let got = drain(&mut t, c);
    assert_eq!(
        got,
        [UdpDatagram {
            from: sa(PEER, 53),
            to: US,
            data: b"answer".to_vec()
        }]
    );
    assert_eq!(t.udp_stats().drop_no_port, 2);
}

#[test]
fn a_socket_bound_to_one_address_hears_only_that_address() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(US, 6000));
    assert_eq!(
        deliver(&mut t, &mut tx, sa(FAR, 1), sa(US2, 6000), b"other address"),
        Delivery::PortUnreachable
    );
    // A broadcast is not for a socket bound to a unicast address either (ignored, never
    // answered).
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 1), sa(BCAST, 6000), b"broadcast"),
        Delivery::Delivered
    );
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 1), sa(US, 6000), b"mine"),
        Delivery::Delivered
    );
    assert_eq!(drain_data(&mut t, s), [b"mine".to_vec()]);
    let st = t.udp_stats();
    assert_eq!(
        (
            st.rx_datagrams,
            st.rx_delivered,
            st.drop_no_port,
            st.ignored_multi
        ),
        (3, 1, 1, 1)
    );
}

#[test]
fn a_broadcast_reaches_every_socket_that_hears_it() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let w1 = bind_reuse(&mut t, &tx, sa(ANY, 6700));
    let w2 = bind_reuse(&mut t, &tx, sa(ANY, 6700));
    let on_bcast = bind_reuse(&mut t, &tx, sa(BCAST, 6700));
    let unicast = bind_reuse(&mut t, &tx, sa(US, 6700));
    let to_other = bind_reuse(&mut t, &tx, sa(US, 6700));
    t.udp_connect(to_other, sa(OTHER, 9), &tx).expect("connect");
    let other_port = bind(&mut t, &tx, sa(ANY, 6701));

    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 9), sa(BCAST, 6700), b"directed"),
        Delivery::Delivered
    );
    let limited = sa(Ipv4Addr::BROADCAST, 6700);
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 9), limited, b"limited"),
        Delivery::Delivered
    );
    for h in [w1, w2] {
        let got = drain(&mut t, h);
        let seen: Vec<_> = got.iter().map(|d| (d.from, d.to, &d.data[..])).collect();
        assert_eq!(
            seen,
            [
                (sa(PEER, 9), BCAST, &b"directed"[..]),
                (sa(PEER, 9), Ipv4Addr::BROADCAST, &b"limited"[..])
            ]
        );
    }
    assert_eq!(drain_data(&mut t, on_bcast), [b"directed".to_vec()]);
    for h in [unicast, to_other, other_port] {
        assert!(drain(&mut t, h).is_empty());
    }
    assert_eq!(t.udp_stats().rx_delivered, 5);

    // A unicast datagram still goes to exactly one socket.
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 9), sa(US, 6700), b"one"),
        Delivery::Delivered
    );
    let n: usize = [w1, w2, on_bcast, unicast, to_other]
        .into_iter()
        .map(|h| drain(&mut t, h).len())
        .sum();
    assert_eq!(n, 1);
}

#[test]
fn no_socket_means_port_unreachable() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 7));
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 1000), sa(US, 8), b"x"),
        Delivery::PortUnreachable
    );
    assert!(drain(&mut t, s).is_empty());
    assert_eq!(
        t.udp_stats(),
        UdpStats {
            rx_datagrams: 1,
            drop_no_port: 1,
            ..UdpStats::default()
        }
    );
    assert!(tx.sent.is_empty(), "UDP itself sends nothing back");
    // Once closed, the port is unreachable again.
    assert!(t.close(s, &mut FakeIp::default(), Instant::ZERO));
    assert!(
        !t.close(s, &mut FakeIp::default(), Instant::ZERO),
        "a stale handle"
    );
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 1000), sa(US, 7), b"x"),
        Delivery::PortUnreachable
    );
    assert_eq!(t.udp_stats().drop_no_port, 2);
}

/// A broadcast or multicast datagram no socket hears is expected traffic (another host's
/// DHCP, our own looped-back broadcasts), not a missing port: counted as Linux's
/// `IgnoredMulti` (UDP_MIB_IGNOREDMULTI), never as `drop_no_port`, and `ip` is not asked
/// for a port unreachable (it would only suppress it). A unicast one keeps both.
#[test]
fn a_broadcast_or_multicast_nobody_hears_is_ignored_not_a_missing_port() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let unicast_only = bind(&mut t, &tx, sa(US, 67));
    for to in [sa(BCAST, 67), sa(Ipv4Addr::BROADCAST, 67)] {
        assert_eq!(
            deliver(&mut t, &mut tx, sa(PEER, 68), to, b"discover"),
            Delivery::Delivered,
            "{to}"
        );
    }
    let group = Ipv4Addr::new(224, 0, 0, 251);
    let bytes = ip_wrap(
        PEER,
        group,
        &udp_bytes(sa(PEER, 5353), sa(group, 5353), b"mdns"),
    );
    assert_eq!(
        deliver_ip(&mut t, &mut tx, &bytes, true),
        Delivery::Delivered
    );
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 68), sa(US, 69), b"unicast"),
        Delivery::PortUnreachable
    );
    assert!(drain(&mut t, unicast_only).is_empty());
    assert_eq!(
        t.udp_stats(),
        UdpStats {
            rx_datagrams: 4,
            ignored_multi: 3,
            drop_no_port: 1,
            ..UdpStats::default()
        }
    );
}

// ---- malformed datagrams --------------------------------------------------------------------

#[test]
fn malformed_datagrams_are_dropped_and_counted() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 9));
    let (from, to) = (sa(PEER, 1234), sa(US, 9));
    let good = udp_bytes(from, to, b"hello");

    // Shorter than a header.
    for n in 0..8 {
        let d = deliver_ip(&mut t, &mut tx, &ip_wrap(PEER, US, &good[..n]), false);
        assert_eq!(d, Delivery::Delivered, "truncated to {n}: no ICMP answer");
    }
    // Length field beyond the datagram, or below the header.
    for len in [14u16, 100, 7, 0] {
        let mut b = good.clone();
        b[4..6].copy_from_slice(&len.to_be_bytes());
        let d = deliver_ip(&mut t, &mut tx, &ip_wrap(PEER, US, &b), false);
        assert_eq!(d, Delivery::Delivered, "length {len}");
    }
    // One bit flipped in the data, the header or the pseudo-header (another source).
    let mut flipped = good.clone();
    flipped[9] ^= 0x10;
    let mut port = good.clone();
    port[1] ^= 1;
    let cases = [
        ip_wrap(PEER, US, &flipped),
        ip_wrap(PEER, US, &port),
        ip_wrap(OTHER, US, &good),
    ];
    for c in &cases {
        assert_eq!(deliver_ip(&mut t, &mut tx, c, false), Delivery::Delivered);
    }
    assert!(drain(&mut t, s).is_empty(), "nothing malformed is queued");
    let st = t.udp_stats();
    assert_eq!(
        st,
        UdpStats {
            rx_datagrams: 15,
            drop_truncated: 8,
            drop_bad_length: 4,
            drop_bad_checksum: 3,
            ..UdpStats::default()
        }
    );

    // A zero checksum means "none computed" and is accepted (RFC 768), even with a payload
    // that a checksum would have caught.
    let mut none = flipped.clone();
    none[6..8].copy_from_slice(&[0, 0]);
    let d = deliver_ip(&mut t, &mut tx, &ip_wrap(PEER, US, &none), false);
    assert_eq!(d, Delivery::Delivered);
    // Bytes beyond the UDP length (padding) are not data.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xee; 3]);
    let d = deliver_ip(&mut t, &mut tx, &ip_wrap(PEER, US, &padded), false);
    assert_eq!(d, Delivery::Delivered);
    let mut expect_none = b"hello".to_vec();
    expect_none[1] ^= 0x10;
    assert_eq!(
        drain_data(&mut t, s),
        [expect_none, b"hello".to_vec()],
        "zero checksum and padding"
    );
    assert_eq!(t.udp_stats().rx_delivered, 2);
}

// ---- receive queue --------------------------------------------------------------------------

#[test]
fn the_receive_queue_is_bounded_by_rcvbuf() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 4000));
    t.udp(s).expect("udp").rcvbuf = 1000;
    let (from, to) = (sa(PEER, 1), sa(US, 4000));
    for i in 0..4u8 {
        assert_eq!(
            deliver(&mut t, &mut tx, from, to, &[i; 300]),
            Delivery::Delivered,
            "a full queue is a drop, not an unreachable port"
        );
    }
    {
        let u = t.udp(s).expect("udp");
        assert_eq!((u.queued(), u.queued_bytes()), (3, 900));
        assert!(u.readable());
    }
    let info = t
        .sockets()
        .into_iter()
        .find(|i| i.handle == s)
        .expect("info");
    assert_eq!((info.rx_queued, info.rx_bytes, info.dropped), (3, 900, 1));
    let st = t.udp_stats();
    assert_eq!((st.rx_delivered, st.drop_queue_full), (3, 1));
    // The three that fitted, in order.
    assert_eq!(
        drain_data(&mut t, s),
        [vec![0u8; 300], vec![1u8; 300], vec![2u8; 300]]
    );
    assert_eq!(t.udp(s).expect("udp").queued_bytes(), 0);
    assert!(!t.udp(s).expect("udp").readable());

    // A datagram larger than the whole buffer still fits an empty queue; the next does not.
    let big = vec![0x5a; 5000];
    assert_eq!(
        deliver(&mut t, &mut tx, from, to, &big),
        Delivery::Delivered
    );
    assert_eq!(
        deliver(&mut t, &mut tx, from, to, b"x"),
        Delivery::Delivered
    );
    assert_eq!(t.udp(s).expect("udp").peek_len(), Some(5000));
    assert_eq!(drain_data(&mut t, s), [big]);
    let st = t.udp_stats();
    assert_eq!((st.rx_delivered, st.drop_queue_full), (4, 2));
}

#[test]
fn deliveries_and_shutdown_wake_the_socket() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 4001));
    let quiet = bind(&mut t, &tx, sa(ANY, 4002));
    assert_eq!(t.take_wakeups().count(), 0);
    deliver(&mut t, &mut tx, sa(PEER, 1), sa(US, 4001), b"a");
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [s]);
    assert_eq!(t.readiness(s), Some((true, true, false)));
    assert_eq!(t.readiness(quiet), Some((false, true, false)));
    // A run of deliveries to one socket names it once; another socket in between, again.
    for to in [4001, 4001, 4001, 4002, 4001] {
        deliver(&mut t, &mut tx, sa(PEER, 1), sa(US, to), b"b");
    }
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [s, quiet, s]);
    let _ = (drain(&mut t, s), drain(&mut t, quiet));

    // Shut down for reading: readable (a reader sees the end), new data still queues (as
    // on Linux). With no peer it says so, as Linux's ENOTCONN, and applies all the same.
    assert_eq!(
        t.shutdown(quiet, true, false),
        Err(TransportError::NotConnected)
    );
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [quiet]);
    assert_eq!(t.readiness(quiet), Some((true, true, false)));
    assert!(t.udp(quiet).expect("udp").is_shut_read());
    deliver(&mut t, &mut tx, sa(PEER, 1), sa(US, 4002), b"late");
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [quiet]);
    assert_eq!(drain(&mut t, quiet).len(), 1);
    // Shut down for writing: sends fail.
    let _ = t.shutdown(s, false, true);
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(PEER, 1)), b"no", NOW),
        Err(TransportError::ShutDown)
    );
    assert!(tx.sent.is_empty());
    assert!(t.close(s, &mut FakeIp::default(), Instant::ZERO));
    assert_eq!(t.readiness(s), None);
    assert_eq!(t.shutdown(s, true, true), Err(TransportError::BadHandle));
}

// ---- binding and ports ----------------------------------------------------------------------

#[test]
fn ephemeral_ports_are_in_range_distinct_and_not_sequential() {
    let (mut t, tx) = (transport(), FakeIp::default());
    let mut ports = Vec::new();
    for _ in 0..300 {
        let h = t.udp_open().expect("open");
        let a = t.udp_bind(h, sa(ANY, 0), &tx).expect("bind port 0");
        assert_eq!(*a.ip(), ANY);
        assert_eq!(t.udp(h).expect("udp").local(), Some(a));
        ports.push(a.port());
    }
    assert!(
        ports.iter().all(|p| EPHEMERAL.contains(p)),
        "outside 49152..=65535: {ports:?}"
    );
    let distinct: HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len(), "a port handed out twice");
    let sequential = ports
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    assert!(sequential < 10, "{sequential} sequential pairs: {ports:?}");

    // Another secret, another sequence (RFC 6056: not predictable from outside).
    let mut other = Transport::new(TransportConfig {
        secret: 0x0123_4567_89ab_cdef,
        ..TransportConfig::default()
    });
    let theirs: Vec<u16> = (0..10)
        .map(|_| {
            let h = other.udp_open().expect("open");
            other.udp_bind(h, sa(ANY, 0), &tx).expect("bind").port()
        })
        .collect();
    assert_ne!(theirs[..], ports[..10]);

    // Sending and connecting bind an ephemeral port too.
    let mut tx = tx;
    let h = t.udp_open().expect("open");
    t.udp_send(h, &mut tx, Some(sa(PEER, 9)), b"x", NOW)
        .expect("send");
    let p = t
        .udp(h)
        .expect("udp")
        .local()
        .expect("bound by send")
        .port();
    assert!(EPHEMERAL.contains(&p) && !distinct.contains(&p));
}

/// A bind to port 0 when every ephemeral port is taken: EADDRINUSE, as Linux's
/// `__inet_bind` says when `get_port` finds none (EADDRNOTAVAIL is for an address that is
/// not ours, and for a TCP connect that finds no free 4-tuple). It said EADDRNOTAVAIL.
#[test]
fn a_bind_to_port_0_with_every_ephemeral_port_taken_is_addr_in_use() {
    let mut t = Transport::new(TransportConfig {
        max_sockets: EPHEMERAL.len() + 16,
        ..TransportConfig::default()
    });
    let tx = FakeIp::default();
    for p in EPHEMERAL {
        bind(&mut t, &tx, sa(US, p));
    }
    let h = t.udp_open().expect("open");
    assert_eq!(
        t.udp_bind(h, sa(ANY, 0), &tx),
        Err(TransportError::AddrInUse)
    );
    assert_eq!(t.udp(h).expect("udp").local(), None, "left unbound");
}

#[test]
fn binding_conflicts_follow_so_reuseaddr() {
    let (mut t, tx) = (transport(), FakeIp::default());
    let try_bind = |t: &mut Transport, addr: SocketAddrV4, reuse: bool| {
        let h = t.udp_open().expect("open");
        t.udp(h).expect("udp").reuse_addr = reuse;
        let r = t.udp_bind(h, addr, &tx);
        if r.is_err() {
            t.close(h, &mut FakeIp::default(), Instant::ZERO);
        }
        r.map(|_| h)
    };

    let a = try_bind(&mut t, sa(US, 3000), false).expect("first bind");
    for (addr, why) in [
        (sa(US, 3000), "the same address"),
        (sa(ANY, 3000), "the wildcard over a specific bind"),
    ] {
        assert_eq!(
            try_bind(&mut t, addr, false),
            Err(TransportError::AddrInUse),
            "{why}"
        );
        assert_eq!(
            try_bind(&mut t, addr, true),
            Err(TransportError::AddrInUse),
            "{why}: SO_REUSEADDR on one side only"
        );
    }
    // Another of our addresses on the same port does not overlap.
    let b = try_bind(&mut t, sa(US2, 3000), false).expect("another address");

    // A wildcard bind clashes with any specific one that comes after it.
    let w = try_bind(&mut t, sa(ANY, 3001), false).expect("wildcard");
    assert_eq!(
        try_bind(&mut t, sa(US, 3001), false),
        Err(TransportError::AddrInUse)
    );
    assert_eq!(
        try_bind(&mut t, sa(US2, 3001), true),
        Err(TransportError::AddrInUse)
    );

    // Both with SO_REUSEADDR: they share.
    let r1 = try_bind(&mut t, sa(ANY, 3002), true).expect("reuse 1");
    let r2 = try_bind(&mut t, sa(ANY, 3002), true).expect("reuse 2");
    let r3 = try_bind(&mut t, sa(US, 3002), true).expect("reuse 3");
    assert_eq!(
        try_bind(&mut t, sa(US, 3002), false),
        Err(TransportError::AddrInUse)
    );

    // Closing frees the port.
    assert!(t.close(a, &mut FakeIp::default(), Instant::ZERO));
    let a2 = try_bind(&mut t, sa(US, 3000), false).expect("free again after close");

    // Binding a bound socket, or to an address that is not ours.
    assert_eq!(
        t.udp_bind(a2, sa(US, 3003), &tx),
        Err(TransportError::AlreadyBound)
    );
    assert_eq!(
        try_bind(&mut t, sa(Ipv4Addr::new(10, 0, 0, 77), 3004), false),
        Err(TransportError::AddrNotAvailable)
    );
    assert_eq!(
        try_bind(&mut t, sa(NOWHERE, 0), false),
        Err(TransportError::AddrNotAvailable)
    );
    // Loopback and broadcast addresses are ours to bind.
    try_bind(&mut t, sa(Ipv4Addr::LOCALHOST, 3004), false).expect("127.0.0.1");
    try_bind(&mut t, sa(BCAST, 3004), false).expect("a broadcast address");
    // Only the sockets that bound successfully are left.
    assert_eq!(t.socket_count(), 8);
    let _ = (b, w, r1, r2, r3);

    // A raw socket is not a UDP socket.
    let raw = t.raw_open(1).expect("raw");
    assert_eq!(
        t.udp_bind(raw, sa(ANY, 1), &tx),
        Err(TransportError::NotSupported)
    );
}

// ---- sending --------------------------------------------------------------------------------

/// What etherparse reads in a datagram we sent, checked against our own view.
fn check_sent(s: &Sent, from: SocketAddrV4, to: SocketAddrV4, data: &[u8]) {
    assert_eq!(s.meta.protocol, ipv4::protocol::UDP);
    assert_eq!((s.meta.src, s.meta.dst), (Some(*from.ip()), *to.ip()));
    let (h, rest) = UdpHeader::from_slice(&s.payload).expect("a UDP header");
    assert_eq!(
        (h.source_port, h.destination_port, usize::from(h.length)),
        (from.port(), to.port(), 8 + data.len())
    );
    assert!(rest == data, "payload changed");
    let want = h
        .calc_checksum_ipv4_raw(from.ip().octets(), to.ip().octets(), data)
        .expect("checksum");
    assert_eq!(h.checksum, want, "checksum differs from etherparse's");
    assert_ne!(h.checksum, 0, "UDP over IPv4 always sends a checksum here");
}

#[test]
fn sent_datagrams_carry_the_right_header_and_checksum() {
    let (mut t, mut tx) = (transport(), FakeIp::default());

    // Bound to a specific address: it is the source.
    let s = bind(&mut t, &tx, sa(US2, 5353));
    for data in [&b""[..], b"a", b"odd length", &[0xff; 1000]] {
        let n = t
            .udp_send(s, &mut tx, Some(sa(PEER, 53)), data, NOW)
            .expect("send");
        assert_eq!(n, data.len());
        check_sent(&tx.only(), sa(US2, 5353), sa(PEER, 53), data);
    }

    // Wildcard: the route's source towards each destination.
    let w = bind(&mut t, &tx, sa(ANY, 5354));
    t.udp(w).expect("udp").ttl = Some(3);
    for (dst, src) in [(PEER, US), (FAR, US2), (US2, US2)] {
        t.udp_send(w, &mut tx, Some(sa(dst, 9)), b"routed", NOW)
            .expect("send");
        let sent = tx.only();
        assert_eq!(sent.meta.ttl, Some(3), "IP_TTL");
        check_sent(&sent, sa(src, 5354), sa(dst, 9), b"routed");
    }
    assert_eq!(t.udp_stats().tx_datagrams, 7);

    // A payload whose checksum computes to zero is sent with 0xffff (RFC 768).
    let (from, to) = (sa(US, 5355), sa(PEER, 53));
    let z = bind(&mut t, &tx, from);
    let mut data = b"zero sum!!".to_vec();
    let h = UdpHeader::without_ipv4_checksum(from.port(), to.port(), data.len()).expect("fits");
    let c = h
        .calc_checksum_ipv4_raw(from.ip().octets(), to.ip().octets(), &data[..8])
        .expect("checksum");
    // With the last word equal to the checksum of the rest, the sum is all ones.
    let last = data.len() - 2;
    data[last..].copy_from_slice(&c.to_be_bytes());
    t.udp_send(z, &mut tx, Some(to), &data, NOW).expect("send");
    let sent = tx.only();
    check_sent(&sent, from, to, &data);
    assert_eq!(sent.payload[6..8], [0xff, 0xff]);
    // It verifies on the way back in.
    let back = ip_wrap(*from.ip(), *to.ip(), &sent.payload);
    let mut u = transport();
    let r = bind(&mut u, &tx, sa(ANY, 53));
    assert_eq!(
        deliver_ip(&mut u, &mut tx, &back, false),
        Delivery::Delivered
    );
    assert_eq!(drain_data(&mut u, r), [data]);
}

#[test]
fn send_errors() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 6000));

    // No destination.
    assert_eq!(
        t.udp_send(s, &mut tx, None, b"x", NOW),
        Err(TransportError::DestinationRequired)
    );
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(PEER, 0)), b"x", NOW),
        Err(TransportError::Invalid("port 0 is not a destination"))
    );
    // 0.0.0.0 is no destination, though the default route would take it.
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(ANY, 9)), b"x", NOW),
        Err(TransportError::Invalid("0.0.0.0 is not a destination"))
    );
    assert!(tx.sent.is_empty());
    // Too long for one IPv4 datagram; the largest that fits goes.
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(PEER, 9)), &vec![0; 65_508], NOW),
        Err(TransportError::Send(SendError::TooLong))
    );
    let max = vec![7u8; 65_507];
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(PEER, 9)), &max, NOW),
        Ok(65_507)
    );
    let sent = tx.only();
    assert_eq!(sent.payload.len(), 65_515);
    assert_eq!(sent.payload[4..6], [0xff, 0xeb], "length 65,515");
    check_sent(&sent, sa(US, 6000), sa(PEER, 9), &max);
    // No route.
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(NOWHERE, 9)), b"x", NOW),
        Err(TransportError::Send(SendError::NoRoute))
    );

    // Broadcast needs SO_BROADCAST.
    for dst in [BCAST, Ipv4Addr::BROADCAST] {
        assert_eq!(
            t.udp_send(s, &mut tx, Some(sa(dst, 9)), b"all", NOW),
            Err(TransportError::BroadcastDenied),
            "{dst}"
        );
    }
    assert!(tx.sent.is_empty());
    // Connecting to a broadcast peer needs it too (Linux: EACCES at connect).
    let c = t.udp_open().expect("open");
    assert_eq!(
        t.udp_connect(c, sa(BCAST, 9), &tx),
        Err(TransportError::BroadcastDenied)
    );
    t.udp(c).expect("udp").broadcast = true;
    assert!(t.udp_connect(c, sa(BCAST, 9), &tx).is_ok());
    t.close(c, &mut FakeIp::default(), Instant::ZERO);
    t.udp(s).expect("udp").broadcast = true;
    for dst in [BCAST, Ipv4Addr::BROADCAST] {
        t.udp_send(s, &mut tx, Some(sa(dst, 9)), b"all", NOW)
            .unwrap_or_else(|e| panic!("broadcast to {dst}: {e}"));
        check_sent(&tx.only(), sa(US, 6000), sa(dst, 9), b"all");
    }
    assert_eq!(t.udp_stats().tx_datagrams, 3);

    // 127/8 never leaves the host (RFC 1122 3.2.1.3 (g)): a socket bound to it reaches
    // loopback addresses and our own, nothing else.
    let lo = bind(&mut t, &tx, sa(Ipv4Addr::LOCALHOST, 6001));
    for dst in [PEER, FAR, BCAST] {
        t.udp(lo).expect("udp").broadcast = true;
        assert_eq!(
            t.udp_send(lo, &mut tx, Some(sa(dst, 9)), b"x", NOW),
            Err(TransportError::Invalid(
                "a 127/8 source address cannot reach another host"
            )),
            "to {dst}"
        );
    }
    assert!(tx.sent.is_empty(), "nothing with a 127/8 source left");
    for dst in [Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 1, 2, 3), US, US2] {
        t.udp_send(lo, &mut tx, Some(sa(dst, 9)), b"x", NOW)
            .unwrap_or_else(|e| panic!("to {dst}: {e}"));
        check_sent(&tx.only(), sa(Ipv4Addr::LOCALHOST, 6001), sa(dst, 9), b"x");
    }

    // A stale handle.
    assert!(t.close(s, &mut FakeIp::default(), Instant::ZERO));
    assert_eq!(
        t.udp_send(s, &mut tx, Some(sa(PEER, 9)), b"x", NOW),
        Err(TransportError::BadHandle)
    );
}

#[test]
fn connect_fixes_the_peer_and_the_source() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    assert_eq!(
        t.udp_connect(c, sa(PEER, 0), &tx),
        Err(TransportError::Invalid("port 0 is not a destination"))
    );
    assert_eq!(
        t.udp_connect(c, sa(ANY, 9), &tx),
        Err(TransportError::Invalid("0.0.0.0 is not a destination"))
    );
    assert_eq!(
        t.udp_connect(c, sa(NOWHERE, 9), &tx),
        Err(TransportError::Send(SendError::NoRoute))
    );
    assert_eq!(
        t.udp(c).expect("udp").local(),
        None,
        "a failed connect binds nothing"
    );

    let local = t.udp_connect(c, sa(FAR, 9), &tx).expect("connect");
    assert_eq!(*local.ip(), US2);
    t.udp_send(c, &mut tx, None, b"to the peer", NOW)
        .expect("send");
    check_sent(&tx.only(), local, sa(FAR, 9), b"to the peer");
    let info = t
        .sockets()
        .into_iter()
        .find(|i| i.handle == c)
        .expect("info");
    assert_eq!(
        (info.state, info.local, info.remote),
        ("CONNECTED", Some(local), Some(sa(FAR, 9)))
    );

    // Connecting again changes the peer; the local address stays.
    assert_eq!(t.udp_connect(c, sa(FAR, 10), &tx), Ok(local));
    t.udp_send(c, &mut tx, None, b"x", NOW).expect("send");
    assert_eq!(tx.only().meta.dst, FAR);
    assert_eq!(
        deliver(&mut t, &mut tx, sa(FAR, 9), local, b"old peer"),
        Delivery::PortUnreachable
    );
    // A socket bound to a specific address keeps it when connecting.
    let b = bind(&mut t, &tx, sa(US2, 7777));
    assert_eq!(t.udp_connect(b, sa(PEER, 9), &tx), Ok(sa(US2, 7777)));
    // One bound to 127.0.0.1 cannot connect to another host (Linux: EINVAL), only to
    // itself.
    let lo = bind(&mut t, &tx, sa(Ipv4Addr::LOCALHOST, 7778));
    assert_eq!(
        t.udp_connect(lo, sa(PEER, 9), &tx),
        Err(TransportError::Invalid(
            "a 127/8 source address cannot reach another host"
        ))
    );
    assert_eq!(t.udp(lo).expect("udp").remote(), None);
    assert_eq!(
        t.udp_connect(lo, sa(US, 9), &tx),
        Ok(sa(Ipv4Addr::LOCALHOST, 7778))
    );
}

/// `udp_disconnect` dissolves the association as Linux's `connect` with `AF_UNSPEC`: every
/// source is heard again, a send must name its destination; the port and address `bind`
/// gave stay, the source `connect` filled in goes back to the wildcard, and a port
/// `connect` or a send chose is let go.
#[test]
fn disconnect_dissolves_the_association() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let state = |t: &Transport, h| {
        let i = t
            .sockets()
            .into_iter()
            .find(|i| i.handle == h)
            .expect("info");
        (i.state, i.local, i.remote)
    };
    // Bound to the wildcard by the application: the port stays, the address goes.
    let b = bind(&mut t, &tx, sa(ANY, 7000));
    assert_eq!(t.udp_connect(b, sa(PEER, 53), &tx), Ok(sa(US, 7000)));
    assert_eq!(
        deliver(&mut t, &mut tx, sa(OTHER, 53), sa(US, 7000), b"stranger"),
        Delivery::PortUnreachable
    );
    assert_eq!(t.udp_disconnect(b), Ok(()));
    assert_eq!(state(&t, b), ("UNCONN", Some(sa(ANY, 7000)), None));
    for (from, to) in [(sa(OTHER, 53), US), (sa(PEER, 53), US), (sa(FAR, 1), US2)] {
        assert_eq!(
            deliver(&mut t, &mut tx, from, sa(to, 7000), b"anyone"),
            Delivery::Delivered,
            "{from} to {to}"
        );
    }
    assert_eq!(drain(&mut t, b).len(), 3);
    assert_eq!(
        t.udp_send(b, &mut tx, None, b"x", NOW),
        Err(TransportError::DestinationRequired)
    );
    t.udp_send(b, &mut tx, Some(sa(FAR, 9)), b"x", NOW)
        .expect("send_to");
    assert_eq!(tx.only().meta.src, Some(US2), "the route's source again");
    // Nothing to dissolve: nothing changes.
    assert_eq!(t.udp_disconnect(b), Ok(()));
    assert_eq!(state(&t, b), ("UNCONN", Some(sa(ANY, 7000)), None));

    // Bound to an address: it stays.
    let s = bind(&mut t, &tx, sa(US2, 7001));
    t.udp_connect(s, sa(PEER, 53), &tx).expect("connect");
    assert_eq!(t.udp_disconnect(s), Ok(()));
    assert_eq!(state(&t, s), ("UNCONN", Some(sa(US2, 7001)), None));

    // Bound by connect: unbound again, the port free.
    let c = t.udp_open().expect("open");
    let local = t.udp_connect(c, sa(PEER, 53), &tx).expect("connect");
    assert_eq!(t.udp_disconnect(c), Ok(()));
    assert_eq!(state(&t, c), ("UNCONN", None, None));
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 53), local, b"late"),
        Delivery::PortUnreachable
    );
    let again = t.udp_connect(c, sa(PEER, 53), &tx).expect("connect again");
    assert_eq!(*again.ip(), US);
    // Bound by a send, then connected: the same.
    let d = t.udp_open().expect("open");
    t.udp_send(d, &mut tx, Some(sa(PEER, 9)), b"x", NOW)
        .expect("send_to");
    tx.take();
    t.udp_connect(d, sa(PEER, 53), &tx).expect("connect");
    assert_eq!(t.udp_disconnect(d), Ok(()));
    assert_eq!(state(&t, d), ("UNCONN", None, None));
}

/// Linux's `__udp_disconnect` keeps what the application fixed and nothing else: a port
/// `bind` left to the stack (port 0) has no SOCK_BINDPORT_LOCK and is let go as one
/// `connect` chose, while an address `bind` gave stays (SOCK_BINDADDR_LOCK): `getsockname`
/// says ADDR:0, and the next send or `connect` picks a port on that address again.
#[test]
fn disconnect_lets_go_a_port_bind_picked_and_keeps_the_address_bind_gave() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(US2, 0));
    let picked = t.udp(s).unwrap().local().expect("bound");
    assert_ne!(picked.port(), 0);
    t.udp_connect(s, sa(PEER, 53), &tx).expect("connect");
    assert_eq!(t.udp_disconnect(s), Ok(()));
    assert_eq!(t.udp(s).unwrap().local(), Some(sa(US2, 0)));
    assert_eq!(
        deliver(&mut t, &mut tx, sa(FAR, 53), picked, b"late"),
        Delivery::PortUnreachable,
        "the port is free"
    );
    t.udp_send(s, &mut tx, Some(sa(PEER, 9)), b"x", NOW)
        .expect("send_to");
    let sent = tx.only();
    assert_eq!(sent.meta.src, Some(US2), "from the bound address still");
    let again = t.udp(s).unwrap().local().expect("bound again");
    assert_eq!(*again.ip(), US2);
    assert_ne!(again.port(), 0);

    // Bound to the wildcard and port 0: nothing the application fixed stays.
    let w = bind(&mut t, &tx, sa(ANY, 0));
    t.udp_connect(w, sa(PEER, 53), &tx).expect("connect");
    assert_eq!(t.udp_disconnect(w), Ok(()));
    assert_eq!(t.udp(w).unwrap().local(), None);
}

// ---- ICMP errors ----------------------------------------------------------------------------

#[test]
fn icmp_errors_reach_only_the_connected_socket_and_are_reported_once() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    t.udp_send(c, &mut tx, None, b"hello?", NOW).expect("send");
    let from_c = tx.only();
    let u = bind(&mut t, &tx, sa(ANY, 0));
    t.udp_send(u, &mut tx, Some(sa(PEER, 7)), b"hello?", NOW)
        .expect("send");
    let from_u = tx.only();
    let _ = t.take_wakeups().count();

    let unreach = icmp::kind::DEST_UNREACHABLE;
    // About the unconnected socket's datagram: nobody is told.
    icmp_error(
        &mut t,
        &mut tx,
        &report_about(&from_u, unreach, icmp::unreach::PORT),
    );
    assert_eq!(t.udp_stats().icmp_errors_reported, 0);
    assert_eq!(t.readiness(u), Some((false, true, false)));
    assert!(drain(&mut t, u).is_empty());

    // About the connected one's: its next receive fails, once.
    let refused = report_about(&from_c, unreach, icmp::unreach::PORT);
    icmp_error(&mut t, &mut tx, &refused);
    assert_eq!(t.udp_stats().icmp_errors_reported, 1);
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [c]);
    // POLLERR, not POLLIN (Linux's datagram_poll).
    assert_eq!(t.readiness(c), Some((false, true, true)));
    assert_eq!(
        t.udp(c).expect("udp").recv(),
        Err(SoftError::ConnectionRefused)
    );
    assert_eq!(t.udp(c).expect("udp").recv(), Ok(None));
    assert_eq!(t.readiness(c), Some((false, true, false)));

    // Or its next send, once.
    icmp_error(&mut t, &mut tx, &refused);
    assert_eq!(
        t.udp_send(c, &mut tx, None, b"again", NOW),
        Err(TransportError::Soft(SoftError::ConnectionRefused))
    );
    assert!(tx.sent.is_empty(), "the failing send sent nothing");
    t.udp_send(c, &mut tx, None, b"again", NOW)
        .expect("the error was reported once");
    assert_eq!(tx.take().len(), 1);

    // The other hard errors map as Linux maps them (without IP_RECVERR).
    for (kind, code, want) in [
        (
            unreach,
            icmp::unreach::PROTOCOL,
            SoftError::ConnectionRefused,
        ),
        (unreach, 6, SoftError::NetworkUnreachable),
        (unreach, 7, SoftError::HostUnreachable),
        (unreach, 13, SoftError::HostUnreachable),
        (
            icmp::kind::PARAMETER_PROBLEM,
            icmp::param::POINTER,
            SoftError::ProtocolError,
        ),
    ] {
        icmp_error(&mut t, &mut tx, &report_about(&from_c, kind, code));
        assert_eq!(t.udp(c).expect("udp").recv(), Err(want), "{kind}/{code}");
    }
    // Transient ones are not the socket's error, as on Linux: a network or host
    // unreachable (what a failed ARP resolution makes too), a source route failure, time
    // exceeded; nor are redirects and source quench.
    for (kind, code) in [
        (unreach, icmp::unreach::NET),
        (unreach, icmp::unreach::HOST),
        (unreach, icmp::unreach::SOURCE_ROUTE_FAILED),
        (unreach, 11),
        (unreach, 12),
        (icmp::kind::TIME_EXCEEDED, icmp::exceeded::TTL),
        (icmp::kind::REDIRECT, 0),
        (icmp::kind::SOURCE_QUENCH, 0),
    ] {
        icmp_error(&mut t, &mut tx, &report_about(&from_c, kind, code));
        assert_eq!(t.udp(c).expect("udp").recv(), Ok(None), "{kind}/{code}");
        assert_eq!(t.readiness(c), Some((false, true, false)), "{kind}/{code}");
    }

    // A quote that names another port, another peer or another source is not about `c`;
    // one too short to name ports is about nobody.
    let mut other_port = refused.clone();
    other_port.0[0] ^= 1;
    let mut other_peer = refused.clone();
    other_peer.4 = OTHER;
    let mut other_src = refused.clone();
    other_src.3 = US2;
    let mut short = refused.clone();
    short.0.truncate(3);
    let before = t.udp_stats().icmp_errors_reported;
    for r in [&other_port, &other_peer, &other_src, &short] {
        icmp_error(&mut t, &mut tx, r);
        assert_eq!(t.readiness(c), Some((false, true, false)), "{r:?}");
    }
    assert_eq!(t.udp_stats().icmp_errors_reported, before);

    // Connecting anew keeps a pending error for the next call, as Linux's connect
    // leaves `sk_err` (seen in a namespace: SO_ERROR says ECONNREFUSED after it).
    icmp_error(&mut t, &mut tx, &refused);
    t.udp_connect(c, sa(PEER, 8), &tx).expect("reconnect");
    assert_eq!(
        t.udp(c).expect("udp").recv(),
        Err(SoftError::ConnectionRefused)
    );
    assert_eq!(t.udp(c).expect("udp").recv(), Ok(None));
    // A datagram queued before the error is still there after it has been reported.
    t.udp_connect(c, sa(PEER, 7), &tx).expect("reconnect");
    let local = t.udp(c).expect("udp").local().expect("bound");
    deliver(&mut t, &mut tx, sa(PEER, 7), local, b"queued");
    icmp_error(&mut t, &mut tx, &refused);
    assert_eq!(
        t.udp(c).expect("udp").recv(),
        Err(SoftError::ConnectionRefused)
    );
    assert_eq!(drain_data(&mut t, c), [b"queued".to_vec()]);
}

/// Path-MTU discovery as Linux's UDP does it (ip(7) `IP_MTU_DISCOVER`, `__udp4_lib_err`):
/// datagrams are sent in `Want` mode by default (ip sets DF on those that fit the path
/// MTU); a "fragmentation needed" about one is EMSGSIZE for the connected socket, once, and
/// its next-hop MTU goes to ip's path-MTU cache. A socket in `Dont` mode sets no DF, so it
/// is told nothing (the path MTU is still learnt, as Linux learns it).
#[test]
fn fragmentation_needed_is_message_too_long_unless_the_socket_sets_no_df() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    t.udp_send(c, &mut tx, None, b"a large one", NOW)
        .expect("send");
    let sent = tx.only();
    assert_eq!(
        sent.meta.pmtu,
        Some(PmtuMode::Want),
        "DF as the path MTU allows"
    );
    // A router's, next-hop MTU 1200.
    let too_big = |t: &mut Transport, tx: &mut FakeIp| {
        let r = IcmpErrorReport {
            ifindex: 0,
            from: Ipv4Addr::new(10, 0, 0, 254),
            kind: icmp::kind::DEST_UNREACHABLE,
            code: icmp::unreach::FRAG_NEEDED,
            info: 1200,
            orig_src: US,
            orig_dst: PEER,
            orig_protocol: ipv4::protocol::UDP,
            orig_total_len: 1300,
            orig_payload: &sent.payload,
        };
        t.icmp_error(tx, &r, NOW);
    };
    too_big(&mut t, &mut tx);
    assert_eq!(t.udp_stats().icmp_errors_reported, 1);
    assert_eq!(t.udp_stats().pmtu_updates, 1);
    assert_eq!(tx.pmtu, [(PEER, 1200)]);
    assert_eq!(
        t.udp(c).expect("udp").recv(),
        Err(SoftError::MessageTooLong)
    );
    assert_eq!(t.udp(c).expect("udp").recv(), Ok(None));

    t.udp(c).expect("udp").pmtu = PmtuMode::Dont;
    t.udp_send(c, &mut tx, None, b"again", NOW).expect("send");
    assert_eq!(tx.only().meta.pmtu, Some(PmtuMode::Dont));
    too_big(&mut t, &mut tx);
    assert_eq!(t.udp_stats().icmp_errors_reported, 1);
    assert_eq!(t.udp_stats().icmp_errors_ignored, 1);
    assert_eq!(t.udp_stats().pmtu_updates, 2);
    assert_eq!(t.udp(c).expect("udp").recv(), Ok(None));
    t.udp_send(c, &mut tx, None, b"again", NOW)
        .expect("no error to report");
}

/// Taking a datagram frees its bytes in the receive buffer, no more and no less: the
/// room it left takes one datagram of its size, not two.
#[test]
fn a_datagram_taken_frees_exactly_its_bytes_of_the_receive_buffer() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 4000));
    t.udp(s).expect("udp").rcvbuf = 900;
    let (from, to) = (sa(PEER, 1), sa(US, 4000));
    for i in 0..3u8 {
        deliver(&mut t, &mut tx, from, to, &[i; 300]);
    }
    let first = t.udp(s).expect("udp").recv().expect("no error");
    assert_eq!(first.map(|d| d.data), Some(vec![0u8; 300]));
    assert_eq!(t.udp(s).expect("udp").queued_bytes(), 600);
    deliver(&mut t, &mut tx, from, to, &[3; 300]);
    deliver(&mut t, &mut tx, from, to, &[4; 300]);
    assert_eq!(
        t.udp_stats().drop_queue_full,
        1,
        "the buffer was full again"
    );
    assert_eq!(
        drain_data(&mut t, s),
        [vec![1u8; 300], vec![2u8; 300], vec![3u8; 300]]
    );
}

/// `MSG_PEEK`: the next datagram, left in the queue; a pending ICMP error first, and
/// reported once, peeked or not.
#[test]
fn peek_shows_the_next_datagram_and_leaves_it_queued() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    t.udp_send(c, &mut tx, None, b"hello?", NOW).expect("send");
    let sent = tx.only();
    let local = t.udp(c).expect("udp").local().expect("bound");
    deliver(&mut t, &mut tx, sa(PEER, 7), local, b"first");
    deliver(&mut t, &mut tx, sa(PEER, 7), local, b"second");
    {
        let u = t.udp(c).expect("udp");
        let d = u.peek().expect("no error").expect("a datagram").clone();
        assert_eq!((d.from, d.data), (sa(PEER, 7), b"first".to_vec()));
        assert_eq!(u.queued(), 2, "peeking takes nothing");
        let again = u.peek().expect("no error").map(|d| d.data.clone());
        assert_eq!(again, Some(b"first".to_vec()));
    }
    let refused = report_about(&sent, icmp::kind::DEST_UNREACHABLE, icmp::unreach::PORT);
    icmp_error(&mut t, &mut tx, &refused);
    let u = t.udp(c).expect("udp");
    assert_eq!(
        u.peek().map(|d| d.cloned()),
        Err(SoftError::ConnectionRefused)
    );
    assert_eq!(
        u.recv().map(|d| d.map(|d| d.data)),
        Ok(Some(b"first".to_vec())),
        "the error was reported by the peek"
    );
    assert_eq!(
        u.peek().map(|d| d.map(|d| d.data.clone())),
        Ok(Some(b"second".to_vec()))
    );
}

/// `SO_ERROR`: the pending ICMP error, taken, so that the next call no longer fails.
/// An ICMP error from `from` about the datagram `s` we sent.
fn icmp_error_from(
    t: &mut Transport,
    tx: &mut FakeIp,
    s: &Sent,
    from: Ipv4Addr,
    (kind, code, info): (u8, u8, u32),
) {
    let r = IcmpErrorReport {
        from,
        ifindex: s.meta.device.unwrap_or(0),
        kind,
        code,
        info,
        orig_src: s.meta.src.expect("UDP always names its source"),
        orig_dst: s.meta.dst,
        orig_protocol: ipv4::protocol::UDP,
        orig_total_len: (ipv4::HEADER_LEN + s.payload.len()) as u16,
        orig_payload: &s.payload,
    };
    t.icmp_error(tx, &r, NOW);
}

/// An ICMP error goes to the socket that would hear the destination's answer, found as
/// a datagram from it is (Linux's `__udp4_lib_err` looks up with the receive path's
/// score): of sockets sharing a port, the one bound to the source address over a
/// wildcard one, the one bound to the device the error came in on over another's.
/// Before, the first socket on the port took it, whichever had sent the datagram.
#[test]
fn an_icmp_error_goes_to_the_most_specific_socket_on_the_port() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let exceeded = (icmp::kind::TIME_EXCEEDED, icmp::exceeded::TTL, 0);
    let router = Ipv4Addr::new(10, 0, 0, 254);
    let wild = bind_reuse(&mut t, &tx, sa(ANY, 5000));
    let exact = bind_reuse(&mut t, &tx, sa(US, 5000));
    for h in [wild, exact] {
        t.udp(h).unwrap().set_recverr(true);
    }
    t.udp_send(exact, &mut tx, Some(sa(PEER, 33434)), b"probe", NOW)
        .expect("send");
    let probe = tx.only();
    let _ = t.take_wakeups().count();
    icmp_error_from(&mut t, &mut tx, &probe, router, exceeded);
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [exact]);
    assert!(t.udp(wild).unwrap().recv_error().is_none());
    assert!(t.udp(exact).unwrap().recv_error().is_some());

    // Two wildcard sockets on one port, each bound to a device: the error that came in
    // on device 0 is for the one bound to it.
    let one = bind_reuse(&mut t, &tx, sa(ANY, 6000));
    let zero = bind_reuse(&mut t, &tx, sa(ANY, 6000));
    t.udp_bind_device(one, Some(1)).unwrap();
    t.udp_bind_device(zero, Some(0)).unwrap();
    for h in [one, zero] {
        t.udp(h).unwrap().set_recverr(true);
    }
    t.udp_send(zero, &mut tx, Some(sa(PEER, 33434)), b"probe", NOW)
        .expect("send");
    let probe = tx.only();
    assert_eq!(probe.meta.device, Some(0));
    let _ = t.take_wakeups().count();
    icmp_error_from(&mut t, &mut tx, &probe, router, exceeded);
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [zero]);
    assert!(t.udp(one).unwrap().recv_error().is_none());
}

/// `IP_RECVERR`: an unconnected socket queues every ICMP error about what it sent, soft
/// ones too, with who sent it and what it quoted (traceroute's way of working); each
/// becomes the pending error once; the queue is bounded and turning the option off
/// empties it.
#[test]
fn with_ip_recverr_an_unconnected_socket_queues_every_icmp_error() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let u = bind(&mut t, &tx, sa(ANY, 0));
    t.udp(u).unwrap().set_recverr(true);
    let router = Ipv4Addr::new(10, 0, 0, 254);
    t.udp_send(u, &mut tx, Some(sa(PEER, 33434)), b"probe 1", NOW)
        .expect("send");
    let probe = tx.only();
    let _ = t.take_wakeups().count();
    let exceeded = (icmp::kind::TIME_EXCEEDED, icmp::exceeded::TTL, 0);
    icmp_error_from(&mut t, &mut tx, &probe, router, exceeded);
    assert_eq!(t.take_wakeups().collect::<Vec<_>>(), [u]);
    // The error queue is POLLERR alone (Linux's datagram_poll).
    assert_eq!(t.readiness(u), Some((false, true, true)));
    let r = t.udp(u).unwrap().recv_error().expect("queued");
    assert_eq!(
        r,
        IcmpReport {
            error: SoftError::HostUnreachable,
            kind: icmp::kind::TIME_EXCEEDED,
            code: icmp::exceeded::TTL,
            info: 0,
            offender: router,
            dest: sa(PEER, 33434),
            payload: b"probe 1".to_vec(),
        }
    );
    assert_eq!(
        t.readiness(u),
        Some((false, true, false)),
        "taken, and its error"
    );
    t.udp_send(u, &mut tx, Some(sa(PEER, 33435)), b"probe 2", NOW)
        .expect("nothing pending");

    // Two errors queue in order; the pending error is the last until the queue is read,
    // then the next queued one's.
    let unreach = icmp::kind::DEST_UNREACHABLE;
    let refused = |t: &mut Transport, tx: &mut FakeIp| {
        icmp_error_from(t, tx, &probe, PEER, (unreach, icmp::unreach::PORT, 0))
    };
    refused(&mut t, &mut tx);
    icmp_error_from(
        &mut t,
        &mut tx,
        &probe,
        router,
        (unreach, icmp::unreach::HOST, 0),
    );
    let sock = t.udp(u).unwrap();
    assert_eq!(sock.errors_queued(), 2);
    assert_eq!(sock.take_error(), Some(SoftError::HostUnreachable));
    let first = sock.recv_error().expect("first");
    assert_eq!(
        (first.error, first.offender),
        (SoftError::ConnectionRefused, PEER)
    );
    assert_eq!(
        sock.take_error(),
        Some(SoftError::HostUnreachable),
        "the next one's"
    );
    assert_eq!(sock.recv_error().map(|r| r.offender), Some(router));
    assert_eq!((sock.recv_error(), sock.take_error()), (None, None));

    // A "fragmentation needed" tells the MTU, unless the socket does not discover it;
    // what UDP never reports is not queued.
    let frag = (unreach, icmp::unreach::FRAG_NEEDED, 1400);
    icmp_error_from(&mut t, &mut tx, &probe, router, frag);
    let r = t.udp(u).unwrap().recv_error().expect("frag needed");
    assert_eq!((r.error, r.info), (SoftError::MessageTooLong, 1400));
    t.udp(u).unwrap().pmtu = PmtuMode::Dont;
    icmp_error_from(&mut t, &mut tx, &probe, router, frag);
    icmp_error_from(
        &mut t,
        &mut tx,
        &probe,
        router,
        (icmp::kind::SOURCE_QUENCH, 0, 0),
    );
    assert_eq!(t.udp(u).unwrap().errors_queued(), 0);
    assert_eq!(t.udp_stats().icmp_errors_ignored, 2);

    // Bounded: by count, and by the receive buffer's bytes.
    let before = t.udp_stats();
    for _ in 0..MAX_ERRORS_QUEUED + 3 {
        refused(&mut t, &mut tx);
    }
    assert_eq!(t.udp(u).unwrap().errors_queued(), MAX_ERRORS_QUEUED);
    let after = t.udp_stats();
    assert_eq!(after.drop_errors_full - before.drop_errors_full, 3);
    assert_eq!(
        after.icmp_errors_reported - before.icmp_errors_reported,
        MAX_ERRORS_QUEUED as u64
    );
    t.udp(u).unwrap().set_recverr(false);
    assert_eq!(
        t.udp(u).unwrap().errors_queued(),
        0,
        "off empties the queue"
    );
    t.udp(u).unwrap().take_error();
    t.udp(u).unwrap().set_recverr(true);
    t.udp(u).unwrap().rcvbuf = 3 * b"probe 1".len();
    for _ in 0..5 {
        refused(&mut t, &mut tx);
    }
    assert_eq!(t.udp(u).unwrap().errors_queued(), 3);

    // Off: an unconnected socket hears nothing again.
    t.udp(u).unwrap().set_recverr(false);
    t.udp(u).unwrap().take_error();
    refused(&mut t, &mut tx);
    assert_eq!(t.readiness(u), Some((false, true, false)));
}

#[test]
fn take_error_takes_the_pending_icmp_error() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    t.udp_send(c, &mut tx, None, b"hello?", NOW).expect("send");
    let sent = tx.only();
    assert_eq!(t.udp(c).expect("udp").take_error(), None);
    let refused = report_about(&sent, icmp::kind::DEST_UNREACHABLE, icmp::unreach::PORT);
    icmp_error(&mut t, &mut tx, &refused);
    let u = t.udp(c).expect("udp");
    assert!(u.has_error());
    assert_eq!(u.take_error(), Some(SoftError::ConnectionRefused));
    assert_eq!(u.take_error(), None);
    assert!(!u.has_error());
    assert_eq!(u.recv(), Ok(None));
}

/// `is_shut_read` says false until `shutdown(Read)` (the socket layer reads it as end of
/// stream: a true on an open socket would make every empty read an EOF).
#[test]
fn a_socket_is_shut_for_reading_only_once_shut_down() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    assert!(!t.udp(c).expect("udp").is_shut_read());
    t.shutdown(c, false, true).expect("connected");
    assert!(
        !t.udp(c).expect("udp").is_shut_read(),
        "shut for writing only"
    );
    t.shutdown(c, true, false).expect("connected");
    assert!(t.udp(c).expect("udp").is_shut_read());
    let local = t.udp(c).expect("udp").local().expect("bound");
    deliver(&mut t, &mut tx, sa(PEER, 7), local, b"late");
    let got = t.udp(c).expect("udp").recv().expect("no error");
    assert_eq!(got.map(|d| d.data), Some(b"late".to_vec()), "still queued");
}

/// The device a socket is bound to (`SO_BINDTODEVICE`) reads back, and unbinding clears it.
#[test]
fn the_bound_device_reads_back() {
    let (mut t, tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 68));
    assert_eq!(t.udp(s).expect("udp").device(), None);
    t.udp_bind_device(s, Some(2)).unwrap();
    assert_eq!(t.udp(s).expect("udp").device(), Some(2));
    t.udp_bind_device(s, None).unwrap();
    assert_eq!(t.udp(s).expect("udp").device(), None);
}

/// A unicast on interface `ifindex`, from `from` to `to`.
fn deliver_on(
    t: &mut Transport,
    tx: &mut FakeIp,
    ifindex: usize,
    from: SocketAddrV4,
    to: SocketAddrV4,
    data: &[u8],
) {
    let bytes = ip_wrap(*from.ip(), *to.ip(), &udp_bytes(from, to, data));
    let d = Datagram {
        ifindex,
        packet: Ipv4Packet::new_checked(&bytes).unwrap(),
        broadcast: false,
        csum_ok: false,
        gso_size: None,
    };
    t.deliver(tx, &d, NOW);
}

/// A socket bound to the device a unicast came in on beats a wildcard one that is not,
/// whichever was opened first.
#[test]
fn a_device_bound_socket_beats_a_plain_wildcard_one_in_either_order() {
    let server = sa(Ipv4Addr::new(10, 0, 2, 2), 67);
    for device_first in [true, false] {
        let (mut t, mut tx) = (transport(), FakeIp::default());
        let (dev, plain) = if device_first {
            let d = bind_reuse(&mut t, &tx, sa(ANY, 68));
            (d, bind_reuse(&mut t, &tx, sa(ANY, 68)))
        } else {
            let p = bind_reuse(&mut t, &tx, sa(ANY, 68));
            (bind_reuse(&mut t, &tx, sa(ANY, 68)), p)
        };
        t.udp_bind_device(dev, Some(2)).unwrap();
        deliver_on(&mut t, &mut tx, 2, server, sa(US, 68), b"unicast");
        assert_eq!(
            drain_data(&mut t, dev),
            [b"unicast".to_vec()],
            "device first: {device_first}"
        );
        assert!(drain_data(&mut t, plain).is_empty());
    }
}

/// RFC 768: a datagram may carry no data (length 8, the header alone); it is delivered as
/// an empty datagram, not dropped as truncated or badly sized.
#[test]
fn an_empty_datagram_is_delivered() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let s = bind(&mut t, &tx, sa(ANY, 4000));
    assert_eq!(
        deliver(&mut t, &mut tx, sa(PEER, 1), sa(US, 4000), b""),
        Delivery::Delivered
    );
    assert_eq!(drain_data(&mut t, s), [Vec::<u8>::new()]);
    let st = t.udp_stats();
    assert_eq!((st.drop_truncated, st.drop_bad_length), (0, 0));
}

// ---- independent review (UDP and raw paths) -------------------------------------------------

/// An IPv4 datagram of protocol `protocol` carrying `payload` (no UDP header).
fn ip_proto(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        ttl: 64,
        tos: 0,
        ident: 7,
        dont_fragment: false,
        payload_len: payload.len(),
    };
    let mut v = vec![0u8; ipv4::HEADER_LEN + payload.len()];
    repr.emit(&mut v, 0, false);
    v[ipv4::HEADER_LEN..].copy_from_slice(payload);
    v
}

/// Linux's `udp_lib_lport_inuse`: two binds of one port clash only if their devices
/// overlap too (either unbound, or the same one). A DHCP server bound to 0.0.0.0:67 on
/// each of two interfaces (`SO_BINDTODEVICE` before `bind`) is the usual case.
#[test]
fn sockets_bound_to_different_devices_may_share_a_port() {
    let (mut t, tx) = (transport(), FakeIp::default());
    let a = t.udp_open().expect("open");
    t.udp_bind_device(a, Some(0)).unwrap();
    t.udp_bind(a, sa(ANY, 67), &tx).expect("first bind");
    let b = t.udp_open().expect("open");
    t.udp_bind_device(b, Some(1)).unwrap();
    assert_eq!(
        t.udp_bind(b, sa(ANY, 67), &tx),
        Ok(sa(ANY, 67)),
        "another device: no overlap, as on Linux"
    );
}

/// Linux's `raw_v4_match`: a raw socket bound to an address (`inet_rcv_saddr`) receives
/// only datagrams sent to that address.
#[test]
fn a_raw_socket_bound_to_an_address_hears_only_that_address() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let r = t.raw_open(253).expect("raw");
    t.raw(r).expect("raw").bound = Some(US);
    let to_us = ip_proto(PEER, US, 253, b"to us");
    let to_us2 = ip_proto(FAR, US2, 253, b"to us2");
    deliver_ip(&mut t, &mut tx, &to_us, false);
    deliver_ip(&mut t, &mut tx, &to_us2, false);
    let raw = t.raw(r).expect("raw");
    let got: Vec<Ipv4Addr> = std::iter::from_fn(|| raw.recv()).map(|d| d.from).collect();
    assert_eq!(got, [PEER], "only the datagram to the bound address");
}

/// Linux's `raw_sendmsg`: a broadcast destination needs `SO_BROADCAST` (EACCES), as it does
/// for UDP here (`BroadcastDenied`); `ping -b` sets it. A raw socket has no such flag here
/// and sends to the broadcast as to anyone.
#[test]
fn a_raw_socket_needs_so_broadcast_to_send_to_a_broadcast() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let r = t.raw_open(1).expect("raw");
    for dst in [BCAST, Ipv4Addr::BROADCAST] {
        assert_eq!(
            t.raw_send(r, &mut tx, Some(dst), b"\x08\0\0\0\0\0\0\0", NOW),
            Err(TransportError::BroadcastDenied),
            "{dst}"
        );
    }
    assert!(tx.take().is_empty(), "nothing broadcast");
}

/// Linux's `ip_protocol_deliver_rcu`: a protocol with a raw socket is reachable whether or
/// not that socket had room for the copy (`raw_local_deliver` says a socket matched); a
/// full raw queue is a drop, not "protocol unreachable" told to the sender.
#[test]
fn a_full_raw_queue_is_a_drop_not_an_unreachable_protocol() {
    let mut t = Transport::new(TransportConfig {
        raw_queue: 1,
        ..TransportConfig::default()
    });
    let mut tx = FakeIp::default();
    let r = t.raw_open(253).expect("raw");
    let d = ip_proto(PEER, US, 253, b"x");
    assert_eq!(deliver_ip(&mut t, &mut tx, &d, false), Delivery::Delivered);
    assert_eq!(
        deliver_ip(&mut t, &mut tx, &d, false),
        Delivery::Delivered,
        "a raw socket for the protocol is open: no protocol unreachable"
    );
    assert_eq!(t.raw(r).expect("raw").dropped(), 1);
    assert_eq!(t.stats().no_protocol, 0, "the protocol has a socket");
}

/// A socket shut for reading still queues what arrives (Linux's `udp_queue_rcv_skb` does
/// not look at the shutdown), counted as delivered, not dropped.
#[test]
fn a_socket_shut_for_reading_still_queues() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    let local = t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    t.shutdown(c, true, false).expect("connected");
    deliver(&mut t, &mut tx, sa(PEER, 7), local, b"late");
    assert_eq!(t.udp(c).expect("udp").queued(), 1);
    assert_eq!(t.udp_stats().rx_delivered, 1);
    assert_eq!(t.udp_stats().drop_queue_full, 0);
}

/// Linux (`udp_lib_get_port` puts a new bind at the head of its hash chain, and
/// `udp4_lib_lookup2` keeps the first of the best score): of sockets sharing a port with
/// SO_REUSEADDR and equally specific, the one bound last gets a unicast datagram.
#[test]
fn unicast_to_a_shared_port_goes_to_the_socket_bound_last() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let first = bind_reuse(&mut t, &tx, sa(ANY, 5353));
    let last = bind_reuse(&mut t, &tx, sa(ANY, 5353));
    deliver(&mut t, &mut tx, sa(PEER, 1), sa(US, 5353), b"one");
    assert!(drain_data(&mut t, first).is_empty(), "not the first bound");
    assert_eq!(drain_data(&mut t, last), [b"one".to_vec()]);
}

/// A socket with SO_REUSEPORT set, bound to `addr`.
fn bind_reuse_port(t: &mut Transport, tx: &FakeIp, addr: SocketAddrV4) -> SocketHandle {
    let h = t.udp_open().expect("open");
    t.udp(h).expect("udp").reuse_port = true;
    t.udp_bind(h, addr, tx).expect("bind with SO_REUSEPORT");
    h
}

/// SO_REUSEPORT, as Linux: sockets that all set it bind one port, and unicast datagrams
/// are spread over them by flow (every datagram of a flow to the same socket); a
/// broadcast reaches all of them; a socket without it cannot bind the port; a connected
/// member takes its peer's datagrams. There was no SO_REUSEPORT.
#[test]
fn sockets_with_so_reuseport_share_a_port_by_flow() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let a = bind_reuse_port(&mut t, &tx, sa(ANY, 5000));
    let b = bind_reuse_port(&mut t, &tx, sa(ANY, 5000));
    let plain = t.udp_open().unwrap();
    assert_eq!(
        t.udp_bind(plain, sa(ANY, 5000), &tx),
        Err(TransportError::AddrInUse)
    );
    let reuse_addr_only = t.udp_open().unwrap();
    t.udp(reuse_addr_only).unwrap().reuse_addr = true;
    assert_eq!(
        t.udp_bind(reuse_addr_only, sa(ANY, 5000), &tx),
        Err(TransportError::AddrInUse)
    );
    let mut by = [0usize; 2];
    for port in 1000..1040 {
        for _ in 0..3 {
            deliver(&mut t, &mut tx, sa(PEER, port), sa(US, 5000), b"x");
        }
        let (na, nb) = (drain_data(&mut t, a).len(), drain_data(&mut t, b).len());
        assert!(
            (na, nb) == (3, 0) || (na, nb) == (0, 3),
            "a flow's datagrams to one socket: {na} {nb}"
        );
        by[usize::from(nb > 0)] += 1;
    }
    assert!(by[0] >= 8 && by[1] >= 8, "both take a share: {by:?}");
    // A broadcast goes to both.
    deliver(
        &mut t,
        &mut tx,
        sa(PEER, 9),
        sa(Ipv4Addr::BROADCAST, 5000),
        b"all",
    );
    assert_eq!(drain_data(&mut t, a), [b"all".to_vec()]);
    assert_eq!(drain_data(&mut t, b), [b"all".to_vec()]);
    // Connected to a peer, a member gets that peer's datagrams.
    t.udp_connect(b, sa(PEER, 7), &tx).unwrap();
    for _ in 0..5 {
        deliver(&mut t, &mut tx, sa(PEER, 7), sa(US, 5000), b"c");
    }
    assert_eq!(drain_data(&mut t, b).len(), 5);
    assert!(drain_data(&mut t, a).is_empty());
}

/// `ICMP_FILTER` (Linux's `raw_seticmpfilter`, `icmp_filter`): an ICMP socket whose mask
/// has bit `t` set does not queue messages of type `t`; types from 32 up, and sockets
/// without a filter, take everything else; a message too short for an ICMP header (8
/// bytes) is kept out of every ICMP socket, filter or none (`raw_v4_input` asks
/// `icmp_filter` for each). The protocol stays reachable either way (the socket matched).
#[test]
fn an_icmp_filter_keeps_out_the_types_it_names() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let filtered = t.raw_open(1).expect("raw");
    let all = t.raw_open(1).expect("raw");
    // Only echo replies (0) and destination unreachables (3) pass, as ping's filter.
    t.raw(filtered).unwrap().icmp_filter = !((1 << 0) | (1 << 3));
    for ty in [0u8, 8, 3, 11, 40] {
        let d = ip_proto(PEER, US, 1, &[ty, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(deliver_ip(&mut t, &mut tx, &d, false), Delivery::Delivered);
    }
    for short in [&[][..], &[0, 0, 0, 0]] {
        let d = ip_proto(PEER, US, 1, short);
        assert_eq!(deliver_ip(&mut t, &mut tx, &d, false), Delivery::Delivered);
    }
    let types = |t: &mut Transport, h| {
        let mut v = Vec::new();
        while let Some(d) = t.raw(h).unwrap().recv() {
            v.push(d.data.get(20).copied());
        }
        v
    };
    assert_eq!(types(&mut t, filtered), [Some(0), Some(3), Some(40)]);
    assert_eq!(
        types(&mut t, all),
        [Some(0), Some(8), Some(3), Some(11), Some(40)]
    );
}

/// `IP_MULTICAST_IF` names the interface datagrams to a group leave by, whatever address
/// the socket is bound to (ip(7); Linux's `udp_sendmsg` takes `mc_index` as the output
/// interface for a group, and `mc_addr` as the source when the socket has none of its
/// own). A socket bound to one of our addresses keeps it as the source but leaves by the
/// interface it named. One bound to a broadcast address to hear it has no source of its
/// own (Linux's `inet_bind` leaves `inet_saddr` 0 for it, as for a group): its datagram
/// must carry the named interface's address, not the default route's, as it leaves by
/// that interface.
#[test]
fn multicast_if_picks_the_interface_whatever_the_socket_is_bound_to() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let group = sa(Ipv4Addr::new(239, 1, 2, 3), 5000);

    let bound = bind(&mut t, &tx, sa(US, 5000));
    t.udp(bound).expect("udp").multicast_if = Some(US2);
    t.udp_send(bound, &mut tx, Some(group), b"hi", NOW)
        .expect("send");
    let sent = tx.only();
    assert_eq!(sent.meta.multicast_if, Some(US2), "the interface it named");
    check_sent(&sent, sa(US, 5000), group, b"hi");

    let b = bind(&mut t, &tx, sa(BCAST, 5001));
    t.udp(b).expect("udp").multicast_if = Some(US2);
    t.udp_send(b, &mut tx, Some(group), b"hi", NOW)
        .expect("send");
    let sent = tx.only();
    assert_eq!(sent.meta.multicast_if, Some(US2));
    check_sent(&sent, sa(US2, 5001), group, b"hi");

    // The wildcard, as before: the interface's address is the source.
    let w = bind(&mut t, &tx, sa(ANY, 5002));
    t.udp(w).expect("udp").multicast_if = Some(US2);
    t.udp_send(w, &mut tx, Some(group), b"hi", NOW)
        .expect("send");
    let sent = tx.only();
    assert_eq!(sent.meta.multicast_if, Some(US2));
    check_sent(&sent, sa(US2, 5002), group, b"hi");
}

/// A send the socket refuses for what it was asked (too long, port 0 or 0.0.0.0, a
/// broadcast without SO_BROADCAST) says so and leaves a pending ICMP error for the next
/// call, as Linux's `udp_sendmsg` checks all of these before `sock_alloc_send_skb` takes
/// `sk_err`: the error is not spent on a call that could not have sent anyway.
#[test]
fn a_refused_send_leaves_the_pending_error_for_the_next_call() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let c = t.udp_open().expect("open");
    t.udp_connect(c, sa(PEER, 7), &tx).expect("connect");
    t.udp_send(c, &mut tx, None, b"hello?", NOW).expect("send");
    let sent = tx.only();
    let unreach = icmp::kind::DEST_UNREACHABLE;
    icmp_error(
        &mut t,
        &mut tx,
        &report_about(&sent, unreach, icmp::unreach::PORT),
    );
    let refusals: [(SocketAddrV4, usize, TransportError); 4] = [
        (
            sa(ANY, 7),
            1,
            TransportError::Invalid("0.0.0.0 is not a destination"),
        ),
        (
            sa(PEER, 0),
            1,
            TransportError::Invalid("port 0 is not a destination"),
        ),
        (
            sa(PEER, 7),
            65_508,
            TransportError::Send(SendError::TooLong),
        ),
        (sa(BCAST, 7), 1, TransportError::BroadcastDenied),
    ];
    for (dst, len, want) in refusals {
        assert_eq!(
            t.udp_send(c, &mut tx, Some(dst), &vec![0; len], NOW),
            Err(want),
            "to {dst}"
        );
    }
    assert!(tx.sent.is_empty());
    // The next send that could go reports it, once.
    assert_eq!(
        t.udp_send(c, &mut tx, None, b"again", NOW),
        Err(TransportError::Soft(SoftError::ConnectionRefused))
    );
    assert!(tx.sent.is_empty());
    t.udp_send(c, &mut tx, None, b"again", NOW).expect("send");
    tx.only();
    // Shut for writing: the pending error first, then EPIPE (sock_alloc_send_pskb's order).
    icmp_error(
        &mut t,
        &mut tx,
        &report_about(&sent, unreach, icmp::unreach::PORT),
    );
    t.shutdown(c, false, true).expect("shutdown");
    assert_eq!(
        t.udp_send(c, &mut tx, None, b"x", NOW),
        Err(TransportError::Soft(SoftError::ConnectionRefused))
    );
    assert_eq!(
        t.udp_send(c, &mut tx, None, b"x", NOW),
        Err(TransportError::ShutDown)
    );
}

/// A socket bound to the address a unicast is sent to beats every wildcard one, one bound
/// to the device it came in on too, whichever was bound last: Linux's `__udp4_lib_lookup`
/// looks among the sockets bound to the destination address first (connected ones, and
/// ones bound to it alone) and at the wildcard ones only when none of those hears it.
#[test]
fn a_socket_bound_to_the_address_beats_a_wildcard_one_bound_to_the_device() {
    for address_first in [true, false] {
        let (mut t, mut tx) = (transport(), FakeIp::default());
        let (addr, dev) = if address_first {
            let a = bind_reuse(&mut t, &tx, sa(US, 5000));
            (a, bind_reuse(&mut t, &tx, sa(ANY, 5000)))
        } else {
            let d = bind_reuse(&mut t, &tx, sa(ANY, 5000));
            (bind_reuse(&mut t, &tx, sa(US, 5000)), d)
        };
        t.udp_bind_device(dev, Some(0)).unwrap();
        deliver_on(&mut t, &mut tx, 0, sa(PEER, 9), sa(US, 5000), b"unicast");
        assert_eq!(
            drain_data(&mut t, addr),
            [b"unicast".to_vec()],
            "address first: {address_first}"
        );
        assert!(drain_data(&mut t, dev).is_empty());
        // To another of our addresses, the device-bound wildcard socket hears it.
        deliver_on(&mut t, &mut tx, 0, sa(PEER, 9), sa(US2, 5000), b"other");
        assert_eq!(drain_data(&mut t, dev), [b"other".to_vec()]);
    }
}

/// Of sockets sharing a port with SO_REUSEPORT, an ICMP error goes to the one that
/// would hear the destination's answer: the one the flow hashes to, as Linux's
/// `__udp4_lib_err` looks it up through `inet_lookup_reuseport` (the hash of the quoted
/// addresses and ports, swapped). A server with a socket per thread hears of an error
/// about a reply on the socket that sent it. It went to the member bound last, whichever
/// had sent the datagram.
#[test]
fn an_icmp_error_goes_to_the_reuseport_member_that_holds_the_flow() {
    let (mut t, mut tx) = (transport(), FakeIp::default());
    let members: Vec<_> = (0..4)
        .map(|_| bind_reuse_port(&mut t, &tx, sa(ANY, 443)))
        .collect();
    for &h in &members {
        t.udp(h).unwrap().set_recverr(true);
    }
    let exceeded = (icmp::kind::TIME_EXCEEDED, icmp::exceeded::TTL, 0);
    let router = Ipv4Addr::new(10, 0, 0, 254);
    let mut not_last = 0;
    for port in 40_000..40_020 {
        // The member that holds the flow from PEER:port.
        deliver(&mut t, &mut tx, sa(PEER, port), sa(US, 443), b"hello");
        let holder = *members
            .iter()
            .find(|&&h| t.udp(h).unwrap().queued() > 0)
            .expect("a member heard it");
        drain(&mut t, holder);
        not_last += usize::from(holder != members[3]);
        // It answers; a router says the answer died on the way.
        t.udp_send(holder, &mut tx, Some(sa(PEER, port)), b"reply", NOW)
            .expect("send");
        let reply = tx.only();
        let _ = t.take_wakeups().count();
        icmp_error_from(&mut t, &mut tx, &reply, router, exceeded);
        assert_eq!(
            t.take_wakeups().collect::<Vec<_>>(),
            [holder],
            "the error about the reply to {port}"
        );
        for &h in &members {
            let r = t.udp(h).unwrap().recv_error();
            assert_eq!(r.is_some(), h == holder, "member {h:?}, flow {port}");
        }
    }
    assert!(
        not_last > 0,
        "some flows are held by another member than the last"
    );
}
