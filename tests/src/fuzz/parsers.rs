//! One fuzz target per wire parser. Each takes arbitrary bytes, parses them as the stack
//! does, reads every field, and checks what a parser must keep whatever the input: a
//! checked view never panics, lengths stay inside the input, and what parses and is
//! emitted again parses to the same thing (with a checksum that verifies).
//!
//! The virtio_net_hdr target reads the 10-byte header from the start of the input and
//! takes the rest as the frame behind it. The DNS target puts the input's first 6 bytes
//! into the header of an answer to the resolver's question (flags, ANCOUNT, NSCOUNT) and
//! the rest after the question ([`dns_message`]); the DHCP target puts the input after a
//! reply's fixed part and magic cookie, as its options ([`dhcp_message`]). The UDP and TCP targets read the pseudo-header's addresses from the first 8 bytes of
//! the input, then the segment.

use ip::icmp::{self, IcmpRepr};
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use netif::ethernet;
use netif::vnet::{self, Csum, FrameMeta, VNET_HDR_LEN};
use netif::{describe, Direction, TraceLayers};
use std::net::Ipv4Addr;
use transport::tcp::wire::{self as tcp_wire, TcpRepr};
use transport::udp::wire::{self as udp_wire, UdpPacket, UdpRepr};

/// Split off a pseudo-header's (source, destination) from the first 8 bytes.
fn addresses(data: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, &[u8])> {
    let (a, rest) = data.split_first_chunk::<4>()?;
    let (b, rest) = rest.split_first_chunk::<4>()?;
    Some((Ipv4Addr::from(*a), Ipv4Addr::from(*b), rest))
}

/// Ethernet, as `ip` reads it and as the tracer (`debug`) prints it.
pub fn ethernet(data: &[u8]) {
    // The tracer decodes every layer of any frame, in both directions.
    for dir in [Direction::Rx, Direction::Tx] {
        let lines = describe(TraceLayers::FRAME, "tap0", dir, data);
        assert!(
            lines.len() <= 16,
            "{} trace lines for one frame",
            lines.len()
        );
    }
    let Some(f) = ethernet::Frame::new_checked(data) else {
        assert!(
            data.len() < ethernet::HEADER_LEN,
            "a full header was refused"
        );
        return;
    };
    let r = ethernet::Repr::parse(&f);
    assert_eq!(f.payload().len(), data.len() - ethernet::HEADER_LEN);
    let mut header = [0u8; ethernet::HEADER_LEN];
    r.emit(&mut header);
    assert_eq!(
        header[..],
        data[..ethernet::HEADER_LEN],
        "emit(parse(h)) != h"
    );
}

/// ARP (RFC 826) over Ethernet/IPv4.
pub fn arp(data: &[u8]) {
    let Ok(p) = arp::ArpPacket::new_checked(data) else {
        return;
    };
    assert_eq!(p.as_bytes().len(), arp::BUFFER_LEN);
    let _ = (
        p.hardware_type(),
        p.protocol_type(),
        p.hardware_len(),
        p.protocol_len(),
        p.operation(),
        p.sender_mac(),
        p.sender_ip(),
        p.target_mac(),
        p.target_ip(),
    );
    let Ok(r) = arp::ArpRepr::parse(&p) else {
        return;
    };
    let _ = (r.is_gratuitous(), r.is_probe(), r.link_destination());
    // Everything in the 28 bytes is a field: emitting gives the same bytes back, but for
    // the hardware type, where IEEE 802 (6) is taken as Ethernet and written as 1.
    let mut expected = data[..arp::BUFFER_LEN].to_vec();
    if expected[..2] == [0, 6] {
        expected[..2].copy_from_slice(&[0, 1]);
    }
    assert_eq!(r.to_bytes()[..], expected[..], "emit(parse(p)) != p");
    assert_eq!(arp::ArpRepr::from_bytes(&r.to_bytes()), Ok(r));
    let mut short = [0u8; arp::BUFFER_LEN - 1];
    assert!(r.emit(&mut short).is_err(), "emitted into a short buffer");
}

/// IPv4 headers (RFC 791), options included; and the IGMP message a datagram carries.
pub fn ipv4(data: &[u8]) {
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let hl = p.header_len();
    assert!((ipv4::HEADER_LEN..=60).contains(&hl));
    assert!(hl <= p.total_len() && p.total_len() <= data.len());
    assert_eq!(p.header().len(), hl);
    assert_eq!(p.payload().len(), p.total_len() - hl);
    assert_eq!(p.as_bytes().len(), p.total_len());
    let _ = (p.tos(), p.ident(), p.ttl(), p.protocol(), p.src(), p.dst());
    let _ = (
        ipv4::is_martian_source(p.src()),
        ipv4::is_martian_destination(p.dst()),
    );
    assert!(p.frag_offset() <= 0x1fff * 8);
    let _ = p.is_fragment();
    let valid = p.verify_checksum();
    let copied = ipv4::copied_options(&p.header()[ipv4::HEADER_LEN..]);
    assert!(copied.len().is_multiple_of(4) && copied.len() <= hl - ipv4::HEADER_LEN);
    // A header without options emitted from its fields is the same header, when the
    // reserved flag bit is clear (the representation has no field for it).
    let reserved = data[6] & 0x80 != 0;
    if hl == ipv4::HEADER_LEN && valid && !reserved {
        let r = Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_fragment: p.dont_fragment(),
            payload_len: p.payload().len(),
        };
        let mut h = [0u8; ipv4::HEADER_LEN];
        r.emit(&mut h, p.frag_offset(), p.more_fragments());
        // Ones' complement has two zeros: a checksum field of 0xffff verifies where the
        // emitter writes 0x0000 (RFC 1624 3: an incremental update can leave 0xffff).
        let mut want = [0u8; ipv4::HEADER_LEN];
        want.copy_from_slice(&data[..ipv4::HEADER_LEN]);
        if want[10..12] == [0xff, 0xff] && h[10..12] == [0, 0] {
            want[10..12].copy_from_slice(&[0, 0]);
        }
        assert_eq!(h, want, "emit(parse(h)) != h");
    }
    // Options survive a re-emit with a valid checksum.
    if !copied.is_empty() && copied.len() <= 40 {
        let r = Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_fragment: false,
            payload_len: p.payload().len(),
        };
        let mut buf = vec![0u8; ipv4::HEADER_LEN + copied.len() + p.payload().len()];
        r.emit_with_options(&mut buf, &copied, 0, false);
        let q = Ipv4Packet::new_checked(&buf).expect("an emitted header parses");
        assert!(q.verify_checksum());
        assert_eq!(q.header_len(), ipv4::HEADER_LEN + copied.len());
    }
    // IGMP has no target of its own: its messages ride in this one's datagrams.
    if p.protocol() == ipv4::protocol::IGMP && !p.is_fragment() {
        igmp(p.payload());
    }
}

/// IGMP messages (RFC 2236, RFC 3376 4.1) as the IP layer reads them: a query's version
/// and maximum response time within what the wire can say, and what a host emits parses
/// back to the same message.
fn igmp(data: &[u8]) {
    use ip::igmp::Message;
    let Ok(m) = Message::parse(data) else {
        return;
    };
    match m {
        Message::Query {
            version,
            max_response,
            group,
        } => {
            assert!((1..=3).contains(&version), "{m:?}");
            // Version 3's largest code, 0xff: (0x0f | 0x10) << (7 + 3) tenths of a second.
            assert!(
                max_response <= netif::Duration::from_millis(3_174_400),
                "{m:?}"
            );
            assert!(version != 1 || group.is_unspecified(), "{m:?}");
            if version == 2 {
                let mut b = [0u8; ip::igmp::HEADER_LEN];
                m.emit(&mut b);
                assert_eq!(Message::parse(&b), Ok(m), "parse(emit(m)) != m");
            }
        }
        Message::Report { .. } | Message::Leave { .. } => {
            let mut b = [0u8; ip::igmp::HEADER_LEN];
            m.emit(&mut b);
            assert_eq!(Message::parse(&b), Ok(m), "parse(emit(m)) != m");
            let _ = m.destination();
        }
        Message::V3Report | Message::Other { .. } => {}
    }
}

/// ICMP messages (RFC 792), checksum first.
pub fn icmp(data: &[u8]) {
    let Ok(r) = IcmpRepr::parse(data) else {
        return;
    };
    let _ = (r.is_error(), icmp::kind::is_error(data[0]));
    if let IcmpRepr::Other { kind, code } = r {
        let _ = icmp::describe_error(kind, code);
        return;
    }
    assert_eq!(r.buffer_len(), data.len());
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut buf);
    assert_eq!(IcmpRepr::parse(&buf), Ok(r), "parse(emit(r)) != r");
}

/// UDP (RFC 768): 8 bytes of addresses, then the datagram.
pub fn udp(data: &[u8]) {
    let Some((src, dst, seg)) = addresses(data) else {
        return;
    };
    let Ok(p) = UdpPacket::new_checked(seg) else {
        return;
    };
    let len = usize::from(u16::from_be_bytes([seg[4], seg[5]]));
    assert_eq!(p.payload().len(), len - udp_wire::HEADER_LEN);
    let _ = (
        p.src_port(),
        p.dst_port(),
        p.checksum(),
        p.verify_checksum(src, dst),
    );
    let mut copy = seg[..len].to_vec();
    UdpRepr {
        src_port: p.src_port(),
        dst_port: p.dst_port(),
    }
    .emit(&mut copy, src, dst);
    let q = UdpPacket::new_checked(&copy).expect("an emitted datagram parses");
    assert!(q.checksum() != 0 && q.verify_checksum(src, dst));
    assert_eq!(q.payload(), p.payload());
}

/// TCP headers with options (RFC 9293, 7323, 2018): 8 bytes of addresses, then the segment.
pub fn tcp(data: &[u8]) {
    let Some((src, dst, seg)) = addresses(data) else {
        return;
    };
    let _ = tcp_wire::verify_checksum(seg, src, dst);
    let Ok((mut r, payload)) = TcpRepr::parse(seg) else {
        return;
    };
    assert!(payload.len() <= seg.len() - tcp_wire::HEADER_LEN);
    assert_eq!(seg[seg.len() - payload.len()..], *payload);
    assert!(usize::from(r.sack_count) <= tcp_wire::MAX_SACK_BLOCKS);
    let _ = (tcp_wire::flag_string(r.flags), format!("{r:?}"));
    // Emitting and parsing again gives the same header and a good checksum, when the
    // options still fit once each is padded to 4 bytes (a peer may pack SACK-permitted,
    // window scale and four SACK blocks into 39 bytes; the stack never sends that).
    // A SYN's options (MSS, window scale, SACK-permitted, Fast Open) read from another
    // segment are not written again: emit writes them only with SYN.
    if !r.has(tcp_wire::flags::SYN) {
        (r.mss, r.wscale, r.sack_permitted, r.fastopen) = (None, None, false, None);
    }
    let hl = r.header_len();
    // Nor can a segment be longer than an IPv4 datagram's payload (its length enters the
    // checksum as 16 bits).
    if hl > 60 || hl + payload.len() > ipv4::MAX_PAYLOAD {
        return;
    }
    let mut buf = vec![0u8; hl + payload.len()];
    buf[hl..].copy_from_slice(payload);
    r.emit(&mut buf, src, dst);
    assert!(tcp_wire::verify_checksum(&buf, src, dst));
    let (again, p2) = TcpRepr::parse(&buf).expect("an emitted segment parses");
    assert_eq!(again, r, "parse(emit(r)) != r");
    assert_eq!(p2, payload);
}

/// The question the DNS target's answers are to (`query(DNS_ID, DNS_NAME)`).
pub const DNS_NAME: &str = "www.example.test";
pub const DNS_ID: u16 = 7;

/// The DNS answer the target reads from `data` (see the module's doc).
pub fn dns_message(data: &[u8]) -> Vec<u8> {
    let mut b = socket_api::dns::wire::query(DNS_ID, DNS_NAME).expect("a valid name");
    if let Some((h, rest)) = data.split_first_chunk::<6>() {
        b[2] = h[0] | 0x80;
        b[3] = h[1];
        b[6..10].copy_from_slice(&h[2..6]);
        b.extend_from_slice(rest);
    }
    b
}

/// DNS answers as the stub resolver reads them (`dns::wire::parse_answer`): the input as
/// the records of an answer to our question, and the input as a whole message. Only a
/// message with our ID, the answer bit and a readable question may be anything but
/// "not ours" (RFC 5452 9.1): anything else must not end the wait for the real answer.
pub fn dns(data: &[u8]) {
    use socket_api::dns::wire::{self, AnswerError};
    for msg in [dns_message(data), data.to_vec()] {
        let r = wire::parse_answer(&msg, DNS_ID, DNS_NAME);
        let ours = msg.len() >= 12 + DNS_NAME.len() + 2 + 4
            && msg[..2] == DNS_ID.to_be_bytes()
            && msg[2] & 0x80 != 0;
        if !ours {
            assert_eq!(r, Err(AnswerError::NotOurs), "{msg:02x?}");
        }
        match r {
            Ok(a) => {
                assert!(
                    a.addrs.len() <= wire::MAX_ADDRS,
                    "{} addresses",
                    a.addrs.len()
                );
                // RFC 2181 8: a TTL is at most 2^31 - 1 (one with the top bit set is 0).
                assert!(a.ttl < 1 << 31, "ttl {}", a.ttl);
            }
            Err(AnswerError::NoSuchName { ttl }) => assert!(ttl < 1 << 31, "ttl {ttl}"),
            Err(_) => {}
        }
    }
}

/// A DHCP reply whose options are `data` (see the module's doc).
pub fn dhcp_message(data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 236];
    b[..3].copy_from_slice(&[2, 1, 6]);
    b.extend_from_slice(&[99, 130, 83, 99]);
    b.extend_from_slice(data);
    b
}

/// DHCP replies as the client reads them (`dhcp::wire::Reply::parse`): the input as a
/// reply's options, and the input as a whole message.
pub fn dhcp(data: &[u8]) {
    use socket_api::dhcp::wire::{Reply, MAX_DNS};
    for msg in [dhcp_message(data), data.to_vec()] {
        if let Ok(r) = Reply::parse(&msg) {
            assert!(r.dns.len() <= MAX_DNS, "{} DNS servers", r.dns.len());
            assert!(r.message.as_ref().is_none_or(|m| m.len() <= 3 * 128));
            assert!(r.domains.len() <= socket_api::dns::MAX_SEARCH);
            for d in &r.domains {
                assert!(socket_api::dns::wire::valid_name(d), "domain {d:?}");
            }
        }
    }
    let _ = dhcp_client(data);
}

/// The client's state machine (RFC 2131 4.4) on a virtual clock, in a conversation with
/// a server that answers every DISCOVER with an offer and every REQUEST with an ACK
/// (10.0.0.50/24, one hour), except that the input's reply (as [`dhcp_message`] builds
/// it, with the conversation's xid and MAC put in) takes the place of one answer, or of
/// every answer from that one on (which, from the sum of the input's bytes; the seeds are
/// the target's, unchanged). Whatever it says: the client never wants polling at one
/// instant again and again (the runtime would spin), a lease's timers are in order, and
/// it never binds a lease that has already ended.
pub fn dhcp_client(data: &[u8]) -> socket_api::dhcp::client::DhcpStats {
    use socket_api::dhcp::client::{Client, State};
    let pick = data.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    let mac = netif::MacAddr([0x02, 0, 0, 0, 0, 0x09]);
    let answer = |kind: u8| {
        let mut m = dhcp_message(&[
            53, 1, kind, 54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, 255, 0, 3, 4,
            10, 0, 0, 2, 255,
        ]);
        m[16..20].copy_from_slice(&[10, 0, 0, 50]);
        m
    };
    let (offer, ack) = (answer(2), answer(5));
    let mut fuzzed = dhcp_message(data);
    if pick & 0x80 == 0 {
        // An address the client may take, unless the input's first byte says not.
        fuzzed[16..20].copy_from_slice(&[10, 0, 0, 50]);
    }
    let (which, from_then_on) = (usize::from(pick & 0x07), pick & 0x40 != 0);
    let t0 = netif::Instant::from_secs(10);
    let mut now = t0;
    let mut c = Client::new(mac, Some("fuzz".into()), u64::from(pick), t0);
    let mut replies = 0usize;
    // Polls in a row at one instant: a few (a reply answered, a timer due at once), never
    // a spin.
    let mut same = 0;
    for _ in 0..48 {
        let Some(t) = c.poll_at() else {
            break;
        };
        same = if t <= now { same + 1 } else { 0 };
        assert!(
            same < 8,
            "the client wants polling at {now} again and again"
        );
        now = now.max(t);
        let mut sent = c.poll(now);
        while let Some(m) = sent.take() {
            dhcp_event(&mut c, now);
            let expected = match c.state() {
                State::Selecting => &offer,
                State::Requesting | State::Renewing | State::Rebinding => &ack,
                _ => break,
            };
            let fuzz = replies == which || (from_then_on && replies > which);
            let mut r = if fuzz {
                fuzzed.clone()
            } else {
                expected.clone()
            };
            r[4..8].copy_from_slice(&m.payload[4..8]);
            r[28..34].copy_from_slice(&mac.0);
            replies += 1;
            sent = c.receive(&r, now);
            dhcp_event(&mut c, now);
            if let Some(l) = c.lease() {
                assert!(
                    l.renew_at <= l.rebind_at && l.rebind_at <= l.expires_at,
                    "lease timers out of order: {l:?}"
                );
                assert!(l.obtained <= now && l.renew_at.is_none_or(|t| t >= l.obtained));
            }
        }
        dhcp_event(&mut c, now);
    }
    c.stats
}

/// Take the client's event and probe: a lease it binds has not ended (RFC 2131 4.4.5:
/// at the lease's end the client stops using the address).
fn dhcp_event(c: &mut socket_api::dhcp::client::Client, now: netif::Instant) {
    use socket_api::dhcp::client::Event;
    if let Some(Event::Bound(l)) = c.take_event() {
        assert!(
            l.expires_at.is_none_or(|end| end > now),
            "a lease bound at {now} that ended at {:?}: {l:?}",
            l.expires_at
        );
    }
    let _ = c.take_probe();
}

/// The virtio_net_hdr in front of each frame on a TAP with `IFF_VNET_HDR`: decoded as the
/// driver does, encoded again, and a partial checksum completed as the pcap writer and
/// the tracer do.
pub fn vnet(data: &[u8]) {
    let (h, frame) = data.split_at(data.len().min(VNET_HDR_LEN));
    let Ok(m) = FrameMeta::decode(h, frame.len()) else {
        return;
    };
    let _ = (m.is_plain(), m.needs_verify());
    assert_eq!(
        FrameMeta::decode(&m.encode(), frame.len()).ok(),
        Some(m),
        "decode(encode(m)) != m"
    );
    if let Csum::Partial { start, offset } = m.csum {
        // decode checked that the offsets fit the frame, so completing cannot fail.
        let mut f = frame.to_vec();
        assert!(
            vnet::complete_checksum(&mut f, start, offset),
            "{m:?} refused"
        );
    }
    // Any offsets, fitting or not, are refused or honoured without a panic.
    if let Some((a, b)) = h.split_first_chunk::<2>().zip(h.get(2..4)) {
        let mut f = frame.to_vec();
        let _ = vnet::complete_checksum(
            &mut f,
            u16::from_le_bytes(*a.0),
            u16::from_le_bytes([b[0], b[1]]),
        );
    }
}
