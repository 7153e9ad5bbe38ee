//! TCP segment sizing with TSO (issue 8): where the route's device cuts segments
//! (`IpTx::offload` says checksum and TSO), new data leaves in bursts of whole MSS-sized
//! segments in one datagram, each with `gso_size` = MSS; elsewhere, and for
//! retransmissions, only segments of at most one MSS, with no `gso_size`.

#![forbid(unsafe_code)]

mod tcp_harness;

use ip::SendMeta;
use netif::Offload;
use tcp_harness::*;

const MSS: usize = PEER_MSS as usize;
const TSO: Offload = Offload {
    csum: true,
    tso: true,
};

/// What the stack sent since the last look: each segment with the metadata it went with.
fn sent(n: &mut Net) -> Vec<(Out, SendMeta)> {
    let metas: Vec<SendMeta> = n.ip.sent.iter().map(|s| s.meta).collect();
    n.take().into_iter().zip(metas).collect()
}

/// Send `data` on `c` and play a peer that ACKs each flight as a whole, until everything
/// is acknowledged; returns every data segment's (length, gso_size) and the bytes that
/// arrived in order.
fn transfer(n: &mut Net, c: &Conn, data: &[u8]) -> (Vec<(usize, Option<u16>)>, Vec<u8>) {
    assert_eq!(n.send(c.h, data), data.len());
    let mut segs = Vec::new();
    let mut got = Vec::new();
    let end = c.snd + data.len();
    let mut rounds = 0;
    loop {
        let flight = sent(n);
        for (o, m) in &flight {
            if o.data.is_empty() {
                continue;
            }
            assert_eq!(o.r.seq, c.snd + got.len(), "in order: {o:?}");
            assert_eq!(m.l4_csum, Some(16), "ip fills the checksum");
            segs.push((o.data.len(), m.gso_size));
            got.extend_from_slice(&o.data);
        }
        let acked = c.snd + got.len();
        if acked == end {
            break;
        }
        assert!(
            !flight.is_empty(),
            "stalled at {} of {}",
            got.len(),
            data.len()
        );
        n.ack(c, acked);
        rounds += 1;
        assert!(rounds < 1000);
    }
    n.ack(c, end);
    (segs, got)
}

#[test]
fn with_tso_new_data_leaves_in_bursts_of_whole_segments() {
    let mut n = Net::new();
    n.ip.offload = TSO;
    let c = n.passive();
    let data = pattern(200_000);
    let (segs, got) = transfer(&mut n, &c, &data);
    assert_eq!(got, data);
    assert!(
        segs.iter().any(|&(len, _)| len > MSS),
        "at least one burst: {segs:?}"
    );
    for (i, &(len, gso)) in segs.iter().enumerate() {
        if len > MSS {
            assert_eq!(
                gso,
                Some(PEER_MSS),
                "a burst is cut into MSS pieces: {segs:?}"
            );
            assert!(len <= transport::tcp::TSO_MAX, "{len}");
            // Only the end of what the application wrote may leave a short piece.
            assert!(
                len % MSS == 0 || i == segs.len() - 1,
                "whole segments except at the end: {segs:?}"
            );
        } else {
            assert_eq!(gso, None, "{segs:?}");
        }
    }
    // Far fewer datagrams than segments on the wire.
    assert!(segs.len() * 4 < data.len() / MSS, "{} sends", segs.len());
}

#[test]
fn without_tso_only_mss_sized_segments_leave() {
    for offload in [
        Offload::NONE,
        Offload {
            csum: true,
            tso: false,
        },
        // TSO needs the device to fill the checksums too.
        Offload {
            csum: false,
            tso: true,
        },
    ] {
        let mut n = Net::new();
        n.ip.offload = offload;
        let c = n.passive();
        let data = pattern(100_000);
        let (segs, got) = transfer(&mut n, &c, &data);
        assert_eq!(got, data);
        assert!(
            segs.iter().all(|&(len, gso)| len <= MSS && gso.is_none()),
            "{offload:?}: {segs:?}"
        );
        assert_eq!(segs.len(), data.len().div_ceil(MSS), "{offload:?}");
    }
}

#[test]
fn the_offload_is_looked_up_at_each_send() {
    let mut n = Net::new();
    let c = n.passive();
    // No TSO: the first flight is in MSS-sized segments.
    n.send(c.h, &pattern(30_000));
    let first = sent(&mut n);
    assert!(first.len() > 1);
    assert!(first
        .iter()
        .all(|(o, m)| o.data.len() <= MSS && m.gso_size.is_none()));
    let acked: usize = first.iter().map(|(o, _)| o.data.len()).sum();
    // The route gains TSO: the next flight goes out in bursts.
    n.ip.offload = TSO;
    n.ack(&c, c.snd + acked);
    let next = sent(&mut n);
    assert!(
        next.iter()
            .any(|(o, m)| o.data.len() > MSS && m.gso_size == Some(PEER_MSS)),
        "{next:?}"
    );
}

#[test]
fn a_retransmission_is_one_segment_even_with_tso() {
    let mut n = Net::new();
    n.ip.offload = TSO;
    let c = n.passive();
    n.send(c.h, &pattern(30_000));
    let first = sent(&mut n);
    let burst = first
        .iter()
        .find(|(o, _)| o.data.len() > MSS)
        .map(|(o, _)| o.data.len())
        .expect("a burst");
    assert!(burst > MSS);
    // Nothing is acknowledged: the retransmission timeout resends the first segment only.
    let (_, again) = n.next_sent(secs(5));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].r.seq, c.snd);
    assert_eq!(again[0].data.len(), MSS);
    assert_eq!(again[0].data, pattern(MSS));
}

/// A small seeded PRNG (xorshift64*), so the lossy runs are reproducible.
struct Rng(u64);

impl Rng {
    fn percent(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100
    }
}

/// 300 KB from the stack to a peer that loses `loss`% of what the stack sends and of its
/// own ACKs, holds out-of-order data until the hole is filled, and ACKs (cumulatively)
/// each segment it gets: everything arrives, in order, within ten virtual minutes. Returns
/// the number of TSO bursts sent.
fn lossy_transfer(offload: Offload, loss: u64, seed: u64) -> usize {
    // Three timeouts in a row at this loss could look like a path-MTU black hole and
    // shrink the segments, which this test of TSO's sizes does not expect.
    let mut n = Net::with_cfg(transport::TcpConfig {
        pmtu_black_hole: false,
        ..transport::TcpConfig::default()
    });
    n.ip.offload = offload;
    let c = n.passive();
    let data = pattern(300_000);
    let mut rng = Rng(seed);
    let mut written = 0;
    let mut got: Vec<u8> = Vec::new();
    let mut held = std::collections::BTreeMap::new();
    let mut bursts = 0;
    let deadline = n.now + secs(600);
    while got.len() < data.len() {
        if written < data.len() {
            written +=
                n.t.tcp_send(c.h, &data[written..], &mut n.ip, n.now)
                    .expect("send");
        }
        let flight = sent(&mut n);
        if flight.is_empty() {
            let at = n.t.poll_at().expect("a timer while data is outstanding");
            if at > deadline {
                let now = n.now;
                panic!(
                    "stalled at {} of {} bytes: next timer at {at}, now {now}, {:?}",
                    got.len(),
                    data.len(),
                    n.info(c.h)
                );
            }
            n.advance_to(at);
            continue;
        }
        for (o, m) in flight {
            if o.data.is_empty() {
                continue;
            }
            if o.data.len() > MSS {
                bursts += 1;
                assert_eq!(m.gso_size, Some(PEER_MSS), "{o:?}");
            } else {
                assert_eq!(m.gso_size, None, "{o:?}");
            }
            if rng.percent() < loss {
                continue; // lost on the way
            }
            // Held by stream offset until what comes before it is there.
            held.insert(o.r.seq.since(c.snd), o.data.clone());
            while let Some((&off, d)) = held.first_key_value() {
                if off > got.len() {
                    break;
                }
                if off + d.len() > got.len() {
                    let from = got.len() - off;
                    got.extend_from_slice(&d[from..]);
                }
                held.pop_first();
            }
            if rng.percent() >= loss {
                n.ack(&c, c.snd + got.len());
            }
        }
    }
    let first = got.iter().zip(&data).position(|(a, b)| a != b);
    assert!(
        got == data,
        "{} bytes of {}, first difference at {first:?}",
        got.len(),
        data.len()
    );
    bursts
}

#[test]
fn with_tso_a_lossy_transfer_arrives_whole_and_in_order() {
    for seed in 1..=4 {
        let bursts = lossy_transfer(TSO, 10, seed);
        assert!(bursts > 0, "seed {seed}: TSO was used");
    }
}

#[test]
fn without_tso_a_lossy_transfer_arrives_whole_and_in_order() {
    for seed in 1..=4 {
        assert_eq!(lossy_transfer(Offload::NONE, 10, seed), 0);
    }
}

#[test]
fn a_burst_never_exceeds_the_peers_window() {
    let mut n = Net::new();
    n.ip.offload = TSO;
    let (_, c) = n.passive_with(syn(PEER_ISS), 5000);
    let data = pattern(60_000);
    assert_eq!(n.send(c.h, &data), data.len());
    let mut acked = 0;
    let mut rounds = 0;
    while acked < data.len() {
        let flight = sent(&mut n);
        let bytes: usize = flight.iter().map(|(o, _)| o.data.len()).sum();
        assert!(bytes <= 5000, "{bytes} bytes in flight: {flight:?}");
        for (o, m) in &flight {
            assert_eq!(o.r.seq, c.snd + acked, "{o:?}");
            if o.data.len() > MSS {
                assert_eq!(m.gso_size, Some(PEER_MSS));
            }
            acked += o.data.len();
        }
        assert!(bytes > 0, "stalled at {acked}");
        n.to(&c, seg(ACK, c.rcv, c.snd + acked, 5000), &[]);
        rounds += 1;
        assert!(rounds < 100);
    }
    assert!(rounds <= 60_000 / 5000 + 1, "{rounds} round trips");
}

/// `segs_in` and `segs_out` count the segments on the wire, as Linux's tcpi_segs_in
/// (`max(1, gso_segs)`) and tcpi_segs_out (`tcp_skb_pcount`): a TSO segment sent as one
/// datagram counts as the MSS-sized pieces the device cuts it into, a segment the device
/// coalesced as the segments it was made of.
#[test]
fn a_tso_or_coalesced_segment_counts_as_the_segments_it_stands_for() {
    let mut n = Net::new();
    n.ip.offload = TSO;
    let c = n.passive();
    let before = n.stats();
    assert_eq!(n.send(c.h, &pattern(10 * MSS + 7)), 10 * MSS + 7);
    let out = sent(&mut n);
    assert!(out.iter().any(|(o, _)| o.data.len() > MSS), "{out:?}");
    let pieces: usize = out.iter().map(|(o, _)| o.data.len().div_ceil(MSS)).sum();
    assert_eq!(n.stats().segs_out - before.segs_out, pieces as u64);

    // Three and a half segments' worth, coalesced by the device; then a plain one.
    let r = seg(ACK | PSH, c.rcv, c.snd, 65_535);
    let l4 = tcp_bytes(c.remote, c.local, &r, &pattern(3 * MSS + MSS / 2));
    let bytes = ip_wrap(*c.remote.ip(), *c.local.ip(), ip::ipv4::protocol::TCP, &l4);
    n.deliver_ip_gso(&bytes, false, Some(PEER_MSS));
    n.data(&c, c.rcv + (3 * MSS + MSS / 2), b"x");
    assert_eq!(n.stats().segs_in - before.segs_in, 5);
}
