//! The offload path seen from `ip` (a review of the link layer and offloads): IP IDs
//! for the segments a device cuts, forwarded coalesced segments, DATA_VALID hints.

use super::*;
use crate::ipv4::{self, Ipv4Packet};
use crate::upper::{Datagram, SendMeta};
use crate::{Delivery, IpConfig};
use netif::ethernet::{self, ethertype};
use netif::{Csum, DeviceInfo, FrameMeta, Gso, MacAddr, Offload};

const T0: Instant = Instant::from_secs(10);
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const US_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const TCP: u8 = ipv4::protocol::TCP;

/// One interface (MTU 1500) whose device offers `offload`, the peer's MAC known.
fn layer(offload: Offload) -> IpLayer {
    let mut ip = IpLayer::new(IpConfig::default());
    add(&mut ip, "tap0", US_MAC, "10.0.0.1/24", offload);
    introduce(&mut ip, 0, PEER, PEER_MAC, US);
    ip
}

fn add(ip: &mut IpLayer, name: &str, mac: MacAddr, addr: &str, offload: Offload) {
    let i = ip.add_interface(&DeviceInfo {
        name: name.into(),
        mtu: 1500,
        mac,
        loopback: false,
        offload,
    });
    ip.set_address(i, Some(addr.parse().unwrap()), T0).unwrap();
    ip.set_up(i, true, T0).unwrap();
    ip.take_tx().for_each(drop);
}

/// The neighbour `peer` (at `mac`) on `ifindex` asks for `us`: its MAC is learnt.
fn introduce(ip: &mut IpLayer, ifindex: usize, peer: Ipv4Addr, mac: MacAddr, us: Ipv4Addr) {
    let req = arp::ArpRepr::request(mac, peer, us).to_bytes();
    let mut f = vec![0u8; ethernet::HEADER_LEN + req.len()];
    ethernet::Repr {
        dst: MacAddr::BROADCAST,
        src: mac,
        ethertype: ethertype::ARP,
    }
    .emit(&mut f);
    f[ethernet::HEADER_LEN..].copy_from_slice(&req);
    ip.receive_frame(ifindex, &f, T0, &mut NoUpper);
    ip.take_tx().for_each(drop);
}

struct NoUpper;
impl Upper for NoUpper {
    fn deliver(&mut self, _: &mut dyn IpTx, _: &Datagram<'_>, _: Instant) -> Delivery {
        Delivery::Delivered
    }
    fn icmp_error(&mut self, _: &mut dyn IpTx, _: &crate::IcmpErrorReport<'_>, _: Instant) {}
}

/// An Ethernet frame from the peer carrying `payload` in an IPv4 datagram to `dst` (DF
/// set, ident 1).
fn ip_frame(dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 20 + payload.len()];
    ipv4::Ipv4Repr {
        src: PEER,
        dst,
        protocol,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        payload_len: payload.len(),
    }
    .emit(&mut d, 0, false);
    d[20..].copy_from_slice(payload);
    let mut f = vec![0u8; ethernet::HEADER_LEN + d.len()];
    ethernet::Repr {
        dst: US_MAC,
        src: PEER_MAC,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f);
    f[ethernet::HEADER_LEN..].copy_from_slice(&d);
    f
}

/// A TCP segment (20-byte header, ACK) carrying `data` bytes, checksum field zero.
fn segment(data: usize) -> Vec<u8> {
    let mut s = vec![0u8; 20 + data];
    s[0..2].copy_from_slice(&40_000u16.to_be_bytes());
    s[2..4].copy_from_slice(&80u16.to_be_bytes());
    s[12] = 5 << 4;
    s[13] = 0x10;
    s
}

/// The Identifications the segments of a TSO frame carry once the device has cut it:
/// Linux's `inet_gso_segment` gives the segments of a TCPv4 GSO packet (no
/// SKB_GSO_TCP_FIXEDID, which `virtio_net_hdr_to_skb` never sets) the frame's ID plus
/// 0, 1, 2, ..., whatever DF says.
fn cut_ids(f: &crate::TxFrame) -> std::ops::Range<u32> {
    let p = Ipv4Packet::new_checked(&f.data[ethernet::HEADER_LEN..]).unwrap();
    let g = f.meta.gso.expect("a TSO frame");
    let segs = (p.payload().len() - 20).div_ceil(usize::from(g.size)) as u32;
    let id = u32::from(p.ident());
    id..id + segs
}

/// Two TCP bursts to one peer without DF (a socket with IP_PMTUDISC_DONT, or a path
/// narrower than 576 after which TCP clears DF and keeps TSO): the device cuts each
/// into segments numbered from the frame's ID, so the next frame's ID must come after
/// the last segment's, as Linux reserves them (`ip_select_ident_segs` with gso_segs).
/// Else two segments of a flow carry one ID at once, and where a router fragments
/// them (DF clear) the receiver can put fragments of both together (RFC 4963;
/// RFC 6864 4.1: the ID of a non-atomic datagram must not repeat within its lifetime).
#[test]
fn a_tso_frame_reserves_an_ident_for_every_segment_the_device_cuts() {
    let mut ip = layer(Offload {
        csum: true,
        tso: true,
    });
    let meta = SendMeta {
        src: Some(US),
        l4_csum: Some(16),
        gso_size: Some(1000),
        dont_fragment: false,
        ..SendMeta::new(PEER, TCP)
    };
    let seg = segment(4000);
    let mut ids = Vec::new();
    for _ in 0..2 {
        ip.tx()
            .send_with(&meta, seg.len(), &mut |b| b.copy_from_slice(&seg), T0)
            .unwrap();
        let out: Vec<_> = ip.take_tx().collect();
        assert_eq!(out.len(), 1);
        let p = Ipv4Packet::new_checked(&out[0].data[ethernet::HEADER_LEN..]).unwrap();
        assert!(!p.dont_fragment());
        ids.push(cut_ids(&out[0]));
    }
    assert_eq!(ids[0].len(), 4, "four 1000-byte segments");
    assert!(
        ids[1].start >= ids[0].end,
        "the second frame's segments take IDs {:?}, the first's {:?}: {} IDs used twice",
        ids[1],
        ids[0],
        ids[0].end.saturating_sub(ids[1].start)
    );
}

/// A coalesced segment routed through us that the kernel handed over with DATA_VALID
/// (its checksum verified, the field the first segment's: see trace.rs and the ip
/// tests that trust such a frame) left as it came: a TSO frame with DATA_VALID and no
/// NEEDS_CSUM. Virtio 1.0+ 5.1.6.2.1: "The driver MUST NOT set the
/// VIRTIO_NET_HDR_F_DATA_VALID ... bits in flags" (Linux stopped doing so in 501db511,
/// "virtio: don't set VIRTIO_NET_HDR_F_DATA_VALID on xmit"); tun ignores the flag, so
/// the receiving kernel verifies the whole segment against a stale checksum and drops
/// it. What leaves to be cut must ask the device for the checksum: NEEDS_CSUM on TCP's
/// field, which holds the pseudo-header sum.
#[test]
fn a_forwarded_coalesced_segment_asks_the_next_device_for_its_checksum() {
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
    const B_MAC: MacAddr = MacAddr([0x02, 0xbb, 0, 0, 1, 5]);
    let all = Offload {
        csum: true,
        tso: true,
    };
    let mut ip = IpLayer::new(IpConfig {
        forwarding: true,
        ..IpConfig::default()
    });
    add(&mut ip, "tap0", US_MAC, "10.0.0.1/24", all);
    add(
        &mut ip,
        "tap1",
        MacAddr([0x02, 0, 0, 0, 1, 1]),
        "10.0.1.1/24",
        all,
    );
    introduce(&mut ip, 0, PEER, PEER_MAC, US);
    introduce(&mut ip, 1, B, B_MAC, Ipv4Addr::new(10, 0, 1, 1));
    // 20,000 bytes from PEER to B, the TCP checksum field stale (0x1234).
    let mut seg = segment(20_000);
    seg[16..18].copy_from_slice(&0x1234u16.to_be_bytes());
    let f = ip_frame(B, TCP, &seg);
    let meta = FrameMeta {
        csum: Csum::Valid,
        gso: Some(Gso {
            size: 1460,
            hdr_len: 54,
        }),
    };
    ip.receive_frame_meta(0, &f, meta, T0, &mut NoUpper);
    let out: Vec<_> = ip.take_tx().collect();
    assert_eq!(out.len(), 1, "{:?}", ip.stats());
    let at = ethernet::HEADER_LEN + 20;
    assert_eq!(
        out[0].meta.csum,
        Csum::Partial {
            start: at as u16,
            offset: 16
        },
        "a TSO frame sent with {:?}",
        out[0].meta
    );
    let mut done = out[0].data.clone();
    assert!(netif::vnet::complete_checksum(&mut done, at as u16, 16));
    let ph = crate::checksum::pseudo_header(PEER, B, TCP, seg.len() as u16);
    assert_eq!(
        crate::checksum::finish(crate::checksum::sum(&done[at..], ph)),
        0,
        "completed by the device, it verifies"
    );
}

/// Records what comes up.
#[derive(Default)]
struct Got(Vec<(Vec<u8>, bool)>);
impl Upper for Got {
    fn deliver(&mut self, _: &mut dyn IpTx, d: &Datagram<'_>, _: Instant) -> Delivery {
        self.0.push((d.packet.as_bytes().to_vec(), d.csum_ok));
        Delivery::Delivered
    }
    fn icmp_error(&mut self, _: &mut dyn IpTx, _: &crate::IcmpErrorReport<'_>, _: Instant) {}
}

/// A tap opened with IFF_VNET_HDR whose TUNSETOFFLOAD was refused keeps the header and
/// promises no offload (`tap.rs`: "TUNSETOFFLOAD refused", `Offload::NONE`). The kernel
/// still marks every frame whose checksum it (or the NIC it came from) verified with
/// DATA_VALID, whatever the tap's offloads: `tun_put_user` calls
/// `virtio_net_hdr_from_skb(.., has_data_valid = true, ..)`, which sets it for any
/// CHECKSUM_UNNECESSARY skb (what the host routes or bridges in from a NIC with
/// receive checksumming). Such a frame is an ordinary frame with a hint; dropping it
/// as bad offload metadata loses that traffic. Ignoring the hint (verifying the
/// checksum as for any frame from that device) is what a device that offloads nothing
/// calls for.
#[test]
fn a_data_valid_hint_from_a_device_without_offloads_is_verified_not_dropped() {
    let mut ip = layer(Offload::NONE);
    // A UDP datagram PEER:5000 -> US:7 with a correct checksum.
    let mut u = vec![0u8; 8 + 4];
    u[0..2].copy_from_slice(&5000u16.to_be_bytes());
    u[2..4].copy_from_slice(&7u16.to_be_bytes());
    u[4..6].copy_from_slice(&12u16.to_be_bytes());
    u[8..].copy_from_slice(b"ping");
    let ph = crate::checksum::pseudo_header(PEER, US, ipv4::protocol::UDP, 12);
    let c = crate::checksum::finish(crate::checksum::sum(&u, ph));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let f = ip_frame(US, ipv4::protocol::UDP, &u);
    let meta = FrameMeta {
        csum: Csum::Valid,
        gso: None,
    };
    let mut up = Got::default();
    ip.receive_frame_meta(0, &f, meta, T0, &mut up);
    assert_eq!(
        (up.0.len(), ip.stats().drop_bad_offload),
        (1, 0),
        "a valid datagram with DATA_VALID from a tap without offloads was dropped"
    );
    assert!(
        !up.0[0].1,
        "verified above, the device having promised nothing"
    );
}
