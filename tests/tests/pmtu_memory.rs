//! Path-MTU discovery through the real `ip` and `transport` layers, in memory (issue 11):
//! the segments leave with DF; an ICMP "fragmentation needed" frame quoting a segment in
//! flight lowers the connection's MSS, the data goes again in segments that fit, and ip's
//! `route_info` reports the path MTU until it expires 10 minutes later, when the connection
//! grows its segments back; one quoting data never sent changes nothing. Sans-IO: the test plays the peer, a router and the clock.

#![forbid(unsafe_code)]

use ip::icmp::IcmpRepr;
use ip::ipv4::{self, Ipv4Packet};
use ip::SendError;
use ip::{IpLayer, TxFrame};
use netif::ethernet;
use netif::{Duration, Instant, Offload};
use std::net::{Ipv4Addr, SocketAddrV4};
use tests::frames::{ip_frame, peer_arp_request, stack_knowing_peer, PEER, US};
use transport::tcp::wire::{flags, TcpRepr};
use transport::tcp::Seq;
use transport::{PmtuMode, SocketHandle, SoftError, Transport, TransportError};

const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
const PEER_PORT: u16 = 40_000;
const PORT: u16 = 80;

fn peer_segment(r: TcpRepr) -> Vec<u8> {
    let r = TcpRepr {
        src_port: PEER_PORT,
        dst_port: PORT,
        ..r
    };
    let mut b = vec![0u8; r.header_len()];
    r.emit(&mut b, PEER, US);
    ip_frame(PEER, ipv4::protocol::TCP, false, &b)
}

/// A frame the stack sent: DF set?, and its TCP header and payload length.
fn parse(f: &TxFrame) -> (bool, TcpRepr, usize, Vec<u8>) {
    let p = Ipv4Packet::new_checked(&f.data[ethernet::HEADER_LEN..]).expect("IPv4");
    let (r, data) = TcpRepr::parse(p.payload()).expect("TCP");
    // What a router quotes: the IP header and the first 8 bytes of TCP.
    let hl = p.header_len();
    let quote = f.data[ethernet::HEADER_LEN..ethernet::HEADER_LEN + hl + 8].to_vec();
    (p.dont_fragment(), r, data.len(), quote)
}

struct Host {
    ip: IpLayer,
    t: Transport,
    now: Instant,
    conn: SocketHandle,
    our_seq: Seq,
}

impl Host {
    /// The stack with a connection the peer opened (MSS 1460, no timestamps).
    fn new() -> Host {
        Host::with_pmtu(PmtuMode::Want)
    }

    /// `new` with the listener's `IP_MTU_DISCOVER` set to `mode` before the SYN comes.
    fn with_pmtu(mode: PmtuMode) -> Host {
        let now = Instant::from_secs(100);
        let (mut ip, mut t) = stack_knowing_peer(Offload::NONE, now);
        let l = t.tcp_open().unwrap();
        t.tcp_set_opts(l, |o| o.pmtu = mode, ip.tx(), now).unwrap();
        t.tcp_bind(l, SocketAddrV4::new(US, PORT), ip.tx()).unwrap();
        t.tcp_listen(l, 4, ip.tx()).unwrap();
        let syn = TcpRepr {
            seq: Seq(0x1000),
            flags: flags::SYN,
            window: 65_535,
            mss: Some(1460),
            ..TcpRepr::default()
        };
        ip.receive_frame(0, &peer_segment(syn), now, &mut t);
        let out: Vec<TxFrame> = ip.take_tx().collect();
        let (df, sa, _, _) = parse(&out[0]);
        let want_df = matches!(mode, PmtuMode::Want | PmtuMode::Do);
        assert_eq!(df, want_df, "DF on the SYN-ACK in {mode:?}");
        let ack = TcpRepr {
            seq: Seq(0x1001),
            ack: sa.seq + 1,
            flags: flags::ACK,
            window: 65_535,
            ..TcpRepr::default()
        };
        ip.receive_frame(0, &peer_segment(ack), now, &mut t);
        let (conn, _) = t.tcp_accept(l).unwrap().expect("a connection");
        Host {
            ip,
            t,
            now,
            conn,
            our_seq: sa.seq + 1,
        }
    }

    fn send(&mut self, n: usize) -> Vec<(bool, TcpRepr, usize, Vec<u8>)> {
        let data = vec![7u8; n];
        self.t
            .tcp_send(self.conn, &data, self.ip.tx(), self.now)
            .unwrap();
        self.ip.take_tx().map(|f| parse(&f)).collect()
    }

    /// A router's "fragmentation needed" (next hop `mtu`) quoting `quote`.
    fn frag_needed(&mut self, mtu: u16, quote: &[u8]) {
        let msg = IcmpRepr::DestUnreachable {
            code: 4,
            next_hop_mtu: mtu,
            original: quote,
        };
        let mut b = vec![0u8; msg.buffer_len()];
        msg.emit(&mut b);
        let f = ip_frame(ROUTER, ipv4::protocol::ICMP, false, &b);
        self.ip.receive_frame(0, &f, self.now, &mut self.t);
    }

    fn mss(&mut self) -> usize {
        self.t.tcp(self.conn).unwrap().conn_info().unwrap().mss
    }
}

#[test]
fn frag_needed_through_ip_lowers_the_mss_resends_and_is_cached_ten_minutes() {
    let mut h = Host::new();
    let sent = h.send(2920);
    assert_eq!(
        sent.iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![1460, 1460]
    );
    assert!(sent.iter().all(|s| s.0), "DF on every segment");
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1500)));

    // A forged error: the quote's sequence number is far from anything sent.
    let mut forged = sent[1].3.clone();
    let at = forged.len() - 4;
    let far = sent[1].1.seq.0.wrapping_add(0x4000_0000);
    forged[at..].copy_from_slice(&far.to_be_bytes());
    h.frag_needed(1000, &forged);
    assert_eq!(h.mss(), 1460);
    assert_eq!(h.t.tcp_stats().pmtu_forged, 1);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1500)));
    assert_eq!(h.ip.take_tx().count(), 0);

    // A genuine one about the second segment: MSS 1000 - 40, everything again from SND.UNA.
    let quote = sent[1].3.clone();
    h.frag_needed(1000, &quote);
    assert_eq!(h.mss(), 960);
    assert_eq!(h.t.tcp_stats().pmtu_updates, 1);
    let again: Vec<_> = h.ip.take_tx().map(|f| parse(&f)).collect();
    assert_eq!(
        again.iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![960, 960, 960, 40]
    );
    assert_eq!(again[0].1.seq, h.our_seq);
    assert!(again.iter().all(|s| s.0));
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1000)));

    // The learnt MTU expires after 10 minutes (RFC 1191 6.3).
    let expiry = h.now + Duration::from_secs(600);
    assert!(h.ip.poll_at().is_some_and(|t| t <= expiry));
    h.ip.poll(expiry - Duration::from_secs(1), &mut h.t);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1000)));
    h.ip.poll(expiry, &mut h.t);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1500)));
    // ... and the connection tries full-sized segments again.
    h.now = expiry;
    // (The peer's ARP entry aged out meanwhile: it introduces itself again.)
    h.ip.receive_frame(0, &peer_arp_request(), h.now, &mut h.t);
    let ack = TcpRepr {
        seq: Seq(0x1001),
        ack: h.our_seq + 2920,
        flags: flags::ACK,
        window: 65_535,
        ..TcpRepr::default()
    };
    h.ip.receive_frame(0, &peer_segment(ack), h.now, &mut h.t);
    h.ip.take_tx().for_each(drop);
    let sent = h.send(2920);
    assert_eq!(
        sent.iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![1460, 1460]
    );
    assert_eq!(h.mss(), 1460);
}

/// RFC 1191 5 and 7: a router from before RFC 1191 says no next-hop MTU (0); the host
/// takes the plateau below the Total Length of the datagram it quotes, which may be smaller
/// than the connection's full-sized datagrams (MSS + 40).
#[test]
fn an_old_routers_frag_needed_takes_the_plateau_below_the_quoted_datagram() {
    let mut h = Host::new();
    // One segment of 1200 bytes: a datagram of 1240 (the full-sized ones are 1500).
    let sent = h.send(1200);
    assert_eq!(sent.len(), 1);
    let quote = sent[0].3.clone();
    assert_eq!(u16::from_be_bytes([quote[2], quote[3]]), 1240);
    h.frag_needed(0, &quote);
    // The plateau below 1240 is 1006 (not 1492, the one below 1500).
    assert_eq!(h.mss(), 1006 - 40);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1006)));
    let again: Vec<_> = h.ip.take_tx().map(|f| parse(&f)).collect();
    assert_eq!(
        again.iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![966, 234]
    );
}

/// RFC 1191 5: routers derived from 4.2BSD quote a Total Length with the header length
/// added. One at or above the datagrams the connection sends is not believed: the plateau
/// below the connection's own datagrams is taken, so the estimate still goes down.
#[test]
fn an_old_routers_frag_needed_quoting_more_than_we_send_takes_the_plateau_below_ours() {
    let mut h = Host::new();
    let sent = h.send(1460);
    let mut quote = sent[0].3.clone();
    assert_eq!(u16::from_be_bytes([quote[2], quote[3]]), 1500);
    quote[2..4].copy_from_slice(&1520u16.to_be_bytes());
    h.frag_needed(0, &quote);
    assert_eq!(h.mss(), 1492 - 40);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1492)));
}

/// `IP_PMTUDISC_DONT` on a TCP listener (Linux takes it on TCP sockets): the connection it
/// accepts sends without DF, and a "fragmentation needed" about one of its segments (a
/// router that would not fragment after all) leaves the MSS as it is and resends nothing,
/// as Linux's `tcp_v4_mtu_reduced` skips the MSS for DONT; `ip` learns the path MTU all
/// the same (Linux's `inet_csk_update_pmtu`), which `IP_MTU` then tells.
#[test]
fn tcp_pmtu_dont_sends_without_df_and_a_frag_needed_leaves_the_mss() {
    let mut h = Host::with_pmtu(PmtuMode::Dont);
    let sent = h.send(2920);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|s| !s.0), "no DF in Dont");
    assert_eq!(h.t.path_mtu(h.conn, h.ip.tx()), Ok(1500));
    let quote = sent[1].3.clone();
    h.frag_needed(1000, &quote);
    assert_eq!(h.mss(), 1460);
    assert_eq!(h.t.tcp_stats().pmtu_updates, 0);
    assert_eq!(h.ip.take_tx().count(), 0, "nothing resent");
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1000)));
    assert_eq!(h.t.path_mtu(h.conn, h.ip.tx()), Ok(1000));
    // Full-sized segments still, for the router to fragment (ip does not: the interface
    // takes them whole).
    let sent = h.send(1460);
    assert_eq!((sent.len(), sent[0].0, sent[0].2), (1, false, 1460));
}

/// `IP_PMTUDISC_DO` and `WANT` on TCP: DF, and a "fragmentation needed" lowers the MSS; a
/// path below 576 (the smallest MTU followed) takes DF away in `Want` (Linux's locked path
/// MTU) and leaves it in `Do`, which insists. `Probe` sends without DF, as Linux's TCP
/// (`ip_dont_fragment` sets DF for DO and WANT only). A mode set on an established
/// connection applies to its next segment.
#[test]
fn tcp_pmtu_do_keeps_df_below_576_want_drops_it_and_probe_sends_without() {
    for (mode, df_after) in [(PmtuMode::Want, false), (PmtuMode::Do, true)] {
        let mut h = Host::with_pmtu(mode);
        let sent = h.send(1460);
        assert!(sent[0].0, "DF in {mode:?}");
        let quote = sent[0].3.clone();
        h.frag_needed(500, &quote);
        assert_eq!(h.mss(), 536, "{mode:?}");
        let again: Vec<_> = h.ip.take_tx().map(|f| parse(&f)).collect();
        assert_eq!(again.len(), 3, "resent in 536-byte segments, {mode:?}");
        assert!(
            again.iter().all(|s| s.0 == df_after),
            "DF {df_after} below 576 in {mode:?}"
        );
    }

    let mut h = Host::with_pmtu(PmtuMode::Probe);
    assert!(h.send(100).iter().all(|s| !s.0), "no DF in Probe");
    let now = h.now;
    h.t.tcp_set_opts(h.conn, |o| o.pmtu = PmtuMode::Do, h.ip.tx(), now)
        .unwrap();
    h.ip.take_tx().for_each(drop);
    assert!(h.send(100).iter().all(|s| s.0), "DF once set to Do");
}

// ---- UDP ------------------------------------------------------------------------------------

/// A "fragmentation needed" of 296 about a TCP segment: ip's cache learns what the router
/// said, 552 locked (Linux's `tcp_v4_mtu_reduced` hands the reported MTU to
/// `inet_csk_update_pmtu`, whose `__ip_rt_update_pmtu` locks it at `ip_rt_min_pmtu`), as
/// it does for a UDP or raw socket's report (`udp_frag_needed_below_552_locks_...`). The
/// connection told `ip` 576, its own floor, unlocked instead: `IP_MTU` said 576, and a
/// UDP socket to the same host in the default mode then sent datagrams of up to 576 bytes
/// with DF, which the 296-byte hop drops, where a locked path sends them without DF.
#[test]
fn a_tcp_frag_needed_below_552_locks_ips_path_mtu_as_a_udp_one_does() {
    let mut h = Host::new();
    let sent = h.send(1460);
    assert_eq!((sent.len(), sent[0].0, sent[0].2), (1, true, 1460));
    h.frag_needed(296, &sent[0].3);
    assert_eq!(h.mss(), 536);
    h.ip.take_tx().for_each(drop);
    assert_eq!(
        h.t.path_mtu(h.conn, h.ip.tx()),
        Ok(552),
        "IP_MTU as Linux's"
    );
    // A UDP socket to the same host, default mode: a datagram of 568 bytes goes without
    // DF (the path is locked), for the narrow hop to fragment.
    let u = h.t.udp_open().unwrap();
    h.t.udp_connect(u, SocketAddrV4::new(PEER, 5000), h.ip.tx())
        .unwrap();
    h.t.udp_send(u, h.ip.tx(), None, &[1u8; 540], h.now)
        .unwrap();
    let sent: Vec<_> = h.ip.take_tx().map(|f| udp_parse(&f)).collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|s| !s.0 && s.1 <= 552), "{sent:?}");
}

const UDP_PORT: u16 = 5000;

/// The peer as a stack of its own (10.0.0.2 on its tap0), to see that what the stack sends
/// arrives whole, fragments reassembled.
fn peer_stack(now: Instant) -> (IpLayer, Transport, SocketHandle) {
    let mut ip = IpLayer::new(ip::IpConfig::default());
    let i = ip.add_interface(&netif::DeviceInfo {
        name: "tap0".into(),
        mtu: 1500,
        mac: tests::frames::PEER_MAC,
        loopback: false,
        offload: Offload::NONE,
    });
    ip.set_address(i, Some("10.0.0.2/24".parse().unwrap()), now)
        .unwrap();
    ip.set_up(i, true, now).unwrap();
    let mut t = Transport::new(transport::TransportConfig::default());
    let s = t.udp_open().unwrap();
    t.udp_bind(s, SocketAddrV4::new(PEER, UDP_PORT), ip.tx())
        .unwrap();
    (ip, t, s)
}

/// A datagram the stack sent: DF set?, its Total Length, and what a router quotes of it.
fn udp_parse(f: &TxFrame) -> (bool, usize, Vec<u8>) {
    let p = Ipv4Packet::new_checked(&f.data[ethernet::HEADER_LEN..]).expect("IPv4");
    assert_eq!(p.protocol(), ipv4::protocol::UDP);
    let hl = p.header_len();
    let quote = f.data[ethernet::HEADER_LEN..ethernet::HEADER_LEN + hl + 8].to_vec();
    (p.dont_fragment(), p.total_len(), quote)
}

struct UdpHost {
    ip: IpLayer,
    t: Transport,
    now: Instant,
    sock: SocketHandle,
    peer_ip: IpLayer,
    peer_t: Transport,
    peer_sock: SocketHandle,
}

impl UdpHost {
    /// The stack with a UDP socket connected to the peer's port 5000.
    fn new() -> UdpHost {
        let now = Instant::from_secs(100);
        let (mut ip, mut t) = stack_knowing_peer(Offload::NONE, now);
        let sock = t.udp_open().unwrap();
        t.udp_connect(sock, SocketAddrV4::new(PEER, UDP_PORT), ip.tx())
            .unwrap();
        let (peer_ip, peer_t, peer_sock) = peer_stack(now);
        UdpHost {
            ip,
            t,
            now,
            sock,
            peer_ip,
            peer_t,
            peer_sock,
        }
    }

    /// Send `n` bytes (fill `salt`); the frames that left, parsed, after handing them to
    /// the peer.
    fn send(&mut self, n: usize, salt: u8) -> Result<Vec<(bool, usize, Vec<u8>)>, TransportError> {
        let data = vec![salt; n];
        self.t
            .udp_send(self.sock, self.ip.tx(), None, &data, self.now)?;
        let frames: Vec<TxFrame> = self.ip.take_tx().collect();
        for f in &frames {
            self.peer_ip
                .receive_frame(0, &f.data, self.now, &mut self.peer_t);
        }
        Ok(frames.iter().map(udp_parse).collect())
    }

    /// What the peer's socket received since the last call.
    fn peer_received(&mut self) -> Vec<Vec<u8>> {
        let u = self.peer_t.udp(self.peer_sock).unwrap();
        let mut got = Vec::new();
        while let Ok(Some(d)) = u.recv() {
            got.push(d.data);
        }
        got
    }

    /// A router's "fragmentation needed" (next hop `mtu`) quoting `quote`.
    fn frag_needed(&mut self, mtu: u16, quote: &[u8]) {
        let msg = IcmpRepr::DestUnreachable {
            code: 4,
            next_hop_mtu: mtu,
            original: quote,
        };
        let mut b = vec![0u8; msg.buffer_len()];
        msg.emit(&mut b);
        let f = ip_frame(ROUTER, ipv4::protocol::ICMP, false, &b);
        self.ip.receive_frame(0, &f, self.now, &mut self.t);
    }
}

/// Path-MTU discovery for UDP as Linux's default (`IP_PMTUDISC_WANT`, ip(7)): a datagram
/// that fits the path MTU leaves with DF; a "fragmentation needed" about one lowers the
/// path MTU in ip's cache and fails the connected socket's next call once with EMSGSIZE
/// (`__udp4_lib_err`), after which a datagram larger than the path MTU leaves in fragments
/// of the path MTU, without DF, and arrives whole.
#[test]
fn udp_datagrams_carry_df_and_a_frag_needed_lowers_the_path_mtu() {
    let mut h = UdpHost::new();
    let sent = h.send(1200, 1).unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0, "a datagram that fits the path MTU carries DF");
    assert_eq!(sent[0].1, 1228);
    assert_eq!(h.peer_received(), vec![vec![1u8; 1200]]);

    // A router on the way has a next hop of 1000.
    h.frag_needed(1000, &sent[0].2);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1000)));
    assert!(h.t.udp(h.sock).unwrap().has_error(), "EMSGSIZE pending");
    assert!(matches!(h.send(1200, 2), Err(TransportError::Soft(_))));
    // Reported once: the same datagram again goes, in fragments that fit the path.
    let sent = h.send(1200, 3).unwrap();
    assert!(sent.len() >= 2, "{sent:?}");
    assert!(sent.iter().all(|s| !s.0 && s.1 <= 1000), "{sent:?}");
    assert_eq!(h.peer_received(), vec![vec![3u8; 1200]]);
    // One that fits still carries DF.
    let sent = h.send(900, 4).unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0);
    assert_eq!(h.peer_received(), vec![vec![4u8; 900]]);
}

/// The other modes of `IP_MTU_DISCOVER` (ip(7)) once a path MTU of 1000 is known: `Do`
/// refuses a datagram larger than it (EMSGSIZE) and sets DF on the others; `Dont` never
/// sets DF and fragments to the path MTU; `Probe` sets DF and ignores the path MTU (up to
/// the interface's). `IP_MTU` reads the path MTU of the connected socket back.
#[test]
fn udp_pmtu_modes_do_dont_and_probe() {
    let mut h = UdpHost::new();
    assert_eq!(h.t.path_mtu(h.sock, h.ip.tx()), Ok(1500));
    let sent = h.send(1200, 1).unwrap();
    h.frag_needed(1000, &sent[0].2);
    assert_eq!(h.t.path_mtu(h.sock, h.ip.tx()), Ok(1000));
    assert_eq!(
        h.t.udp(h.sock).unwrap().take_error(),
        Some(SoftError::MessageTooLong)
    );
    h.peer_received();

    h.t.udp(h.sock).unwrap().pmtu = PmtuMode::Do;
    assert_eq!(
        h.send(1200, 2),
        Err(TransportError::Send(SendError::TooLong))
    );
    assert_eq!(
        h.send(972, 3)
            .unwrap()
            .iter()
            .map(|s| (s.0, s.1))
            .collect::<Vec<_>>(),
        [(true, 1000)]
    );
    assert_eq!(
        h.send(973, 3),
        Err(TransportError::Send(SendError::TooLong))
    );

    h.t.udp(h.sock).unwrap().pmtu = PmtuMode::Dont;
    let sent = h.send(1200, 4).unwrap();
    assert!(
        sent.len() >= 2 && sent.iter().all(|s| !s.0 && s.1 <= 1000),
        "{sent:?}"
    );
    let sent = h.send(100, 5).unwrap();
    assert!(!sent[0].0, "no DF even on a datagram that fits");

    h.t.udp(h.sock).unwrap().pmtu = PmtuMode::Probe;
    let sent = h.send(1472, 6).unwrap();
    assert_eq!(
        sent.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(true, 1500)]
    );
    assert_eq!(
        h.send(1473, 7),
        Err(TransportError::Send(SendError::TooLong))
    );
    assert_eq!(
        h.peer_received(),
        [
            vec![3u8; 972],
            vec![4u8; 1200],
            vec![5u8; 100],
            vec![6u8; 1472]
        ]
    );

    // An unconnected socket has no IP_MTU (ENOTCONN).
    let u = h.t.udp_open().unwrap();
    assert_eq!(
        h.t.path_mtu(u, h.ip.tx()),
        Err(TransportError::NotConnected)
    );
}

/// A "fragmentation needed" about a datagram of an unconnected socket, or of a connected
/// one in `Dont` mode, still teaches the path MTU (Linux's `__udp4_lib_err` updates it
/// before it looks at the mode) but is no error of the socket; one whose quote names no
/// socket of ours changes nothing.
#[test]
fn udp_frag_needed_for_an_unconnected_or_dont_socket_is_no_error_but_lowers_the_path_mtu() {
    let mut h = UdpHost::new();
    h.t.udp(h.sock).unwrap().pmtu = PmtuMode::Dont;
    let sent = h.send(1200, 1).unwrap();
    assert!(!sent[0].0);
    h.frag_needed(1200, &sent[0].2);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1200)));
    assert_eq!(h.t.udp(h.sock).unwrap().take_error(), None);

    // An unconnected socket's datagram.
    let u = h.t.udp_open().unwrap();
    h.t.udp_send(
        u,
        h.ip.tx(),
        Some(SocketAddrV4::new(PEER, UDP_PORT)),
        &[9u8; 1100],
        h.now,
    )
    .unwrap();
    let f: Vec<TxFrame> = h.ip.take_tx().collect();
    let (df, _, quote) = udp_parse(&f[0]);
    assert!(df);
    h.frag_needed(1100, &quote);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1100)));
    assert_eq!(h.t.udp(u).unwrap().take_error(), None);
    let st = h.t.udp_stats();
    assert_eq!((st.pmtu_updates, st.icmp_errors_reported), (2, 0));

    // A quote naming a port none of ours sent from: no socket, nothing learnt.
    let mut forged = quote.clone();
    let at = forged.len() - 8;
    forged[at..at + 2].copy_from_slice(&1u16.to_be_bytes());
    h.frag_needed(600, &forged);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 1100)));
    assert_eq!(h.t.udp_stats().pmtu_updates, 2);
}

/// A "fragmentation needed" saying less than 552 (Linux's `ip_rt_min_pmtu`) sets the path
/// MTU to 552 and locks it, as Linux's `__ip_rt_update_pmtu`: in the default mode the
/// datagrams then go without DF, fragmented to 552 when larger (a real hop that narrow
/// fragments them further; a forged report shrinks nothing below 552); `Do` still sets DF
/// and refuses what exceeds 552.
#[test]
fn udp_frag_needed_below_552_locks_the_path_mtu_at_552_without_df() {
    let mut h = UdpHost::new();
    let sent = h.send(1200, 1).unwrap();
    h.frag_needed(300, &sent[0].2);
    assert_eq!(h.ip.tx().route_info(PEER), Some((US, 552)));
    assert_eq!(
        h.t.udp(h.sock).unwrap().take_error(),
        Some(SoftError::MessageTooLong)
    );
    h.peer_received();
    let sent = h.send(400, 2).unwrap();
    assert_eq!(
        sent.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(false, 428)]
    );
    let sent = h.send(1200, 3).unwrap();
    assert!(
        sent.len() >= 3 && sent.iter().all(|s| !s.0 && s.1 <= 552),
        "{sent:?}"
    );
    assert_eq!(h.peer_received(), [vec![2u8; 400], vec![3u8; 1200]]);
    h.t.udp(h.sock).unwrap().pmtu = PmtuMode::Do;
    let sent = h.send(400, 4).unwrap();
    assert!(sent[0].0);
    assert_eq!(
        h.send(600, 5),
        Err(TransportError::Send(SendError::TooLong))
    );
}

// ---- raw ------------------------------------------------------------------------------------

/// A router's destination unreachable (`code`, next hop `mtu`) quoting `quote`, as ip takes
/// it in.
fn unreachable_to(
    ip: &mut IpLayer,
    t: &mut Transport,
    now: Instant,
    code: u8,
    mtu: u16,
    quote: &[u8],
) {
    let msg = IcmpRepr::DestUnreachable {
        code,
        next_hop_mtu: mtu,
        original: quote,
    };
    let mut b = vec![0u8; msg.buffer_len()];
    msg.emit(&mut b);
    let f = ip_frame(ROUTER, ipv4::protocol::ICMP, false, &b);
    ip.receive_frame(0, &f, now, t);
}

/// The frames a raw send put out: DF set?, Total Length, what a router quotes.
fn raw_parse(ip: &mut IpLayer) -> Vec<(bool, usize, Vec<u8>)> {
    ip.take_tx()
        .map(|f| {
            let p = Ipv4Packet::new_checked(&f.data[ethernet::HEADER_LEN..]).expect("IPv4");
            let hl = p.header_len();
            let quote = f.data[ethernet::HEADER_LEN..ethernet::HEADER_LEN + hl + 8].to_vec();
            (p.dont_fragment(), p.total_len(), quote)
        })
        .collect()
}

/// Linux's `raw_err`: a "fragmentation needed" quoting a datagram of a raw socket's protocol
/// between its addresses lowers the path MTU (`ipv4_sk_update_pmtu`, connected or not);
/// without `IP_RECVERR` only a connected socket hears of errors, and only the hard ones:
/// EMSGSIZE for a frag-needed unless the socket is in `IP_PMTUDISC_DONT`, and those an
/// unreachable code makes fatal (a protocol unreachable: ENOPROTOOPT, `ConnectionRefused`
/// here as for UDP). An unconnected socket's next send follows the new path MTU.
#[test]
fn raw_frag_needed_lowers_the_path_mtu_and_fails_a_connected_sockets_next_call() {
    const PROTO: u8 = 253;
    let now = Instant::from_secs(100);
    let (mut ip, mut t) = stack_knowing_peer(Offload::NONE, now);
    let r = t.raw_open(PROTO).unwrap();

    // Unconnected: the path MTU is learnt, no error.
    t.raw_send(r, ip.tx(), Some(PEER), &[1; 1400], now).unwrap();
    let sent = raw_parse(&mut ip);
    assert_eq!((sent.len(), sent[0].0, sent[0].1), (1, true, 1420));
    unreachable_to(&mut ip, &mut t, now, 4, 1000, &sent[0].2);
    assert_eq!(ip.tx().route_info(PEER), Some((US, 1000)));
    t.raw_send(r, ip.tx(), Some(PEER), &[1; 1400], now).unwrap();
    let sent = raw_parse(&mut ip);
    assert_eq!(sent.len(), 2, "fragments of the path MTU");
    assert!(sent.iter().all(|s| !s.0 && s.1 <= 1000));

    // Connected: EMSGSIZE once, then sends go on.
    t.raw(r).unwrap().peer = Some(PEER);
    t.raw_send(r, ip.tx(), None, &[2; 900], now).unwrap();
    let sent = raw_parse(&mut ip);
    assert!(sent[0].0);
    unreachable_to(&mut ip, &mut t, now, 4, 800, &sent[0].2);
    assert_eq!(ip.tx().route_info(PEER), Some((US, 800)));
    assert_eq!(
        t.raw_send(r, ip.tx(), None, &[2; 100], now),
        Err(TransportError::Soft(SoftError::MessageTooLong))
    );
    assert_eq!(t.raw_send(r, ip.tx(), None, &[2; 100], now), Ok(100));
    let sent = raw_parse(&mut ip);

    // A protocol unreachable is a hard error too.
    unreachable_to(&mut ip, &mut t, now, 2, 0, &sent[0].2);
    assert_eq!(
        t.raw_send(r, ip.tx(), None, &[3; 100], now),
        Err(TransportError::Soft(SoftError::ConnectionRefused))
    );
    // A host unreachable (code 1) is not (a router's view of a path that may come back).
    ip.take_tx().for_each(drop);
    t.raw_send(r, ip.tx(), None, &[3; 100], now).unwrap();
    let sent = raw_parse(&mut ip);
    unreachable_to(&mut ip, &mut t, now, 1, 0, &sent[0].2);
    assert_eq!(t.raw_send(r, ip.tx(), None, &[3; 100], now), Ok(100));
    let sent = raw_parse(&mut ip);

    // In Dont mode: the path MTU is learnt, no error.
    t.raw(r).unwrap().pmtu = PmtuMode::Dont;
    unreachable_to(&mut ip, &mut t, now, 4, 700, &sent[0].2);
    assert_eq!(ip.tx().route_info(PEER), Some((US, 700)));
    assert_eq!(t.raw_send(r, ip.tx(), None, &[4; 100], now), Ok(100));

    // A socket of another protocol hears nothing of it, nor teaches ip.
    let other = t.raw_open(254).unwrap();
    t.raw(other).unwrap().peer = Some(PEER);
    let q = raw_parse(&mut ip);
    t.raw(r).unwrap().pmtu = PmtuMode::Want;
    unreachable_to(&mut ip, &mut t, now, 4, 600, &q[0].2);
    assert_eq!(t.raw_send(other, ip.tx(), None, &[5; 100], now), Ok(100));
}
