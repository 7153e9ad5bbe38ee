//! Unit tests of fragment reassembly: fragments in any order, duplicates and overlaps,
//! timeouts, the caps on memory and datagrams, bad lengths, and seeded random input.

use super::*;

/// xorshift64*: a small seeded generator so every run sees the same orders.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

fn key(ident: u16) -> FragKey {
    FragKey {
        src: Ipv4Addr::new(10, 0, 0, 2),
        dst: Ipv4Addr::new(10, 0, 0, 1),
        protocol: 17,
        ident,
    }
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// A fragment owning its bytes.
#[derive(Clone, Debug)]
struct Frag {
    key: FragKey,
    offset: usize,
    mf: bool,
    header: Vec<u8>,
    payload: Vec<u8>,
}

impl Frag {
    fn get(&self) -> Fragment<'_> {
        Fragment {
            key: self.key,
            offset: self.offset,
            more_fragments: self.mf,
            header: &self.header,
            payload: &self.payload,
        }
    }

    fn packet(&self) -> Vec<u8> {
        let mut p = self.header.clone();
        p.extend_from_slice(&self.payload);
        p
    }
}

/// A valid header for a fragment of `key` (TOS 0x10, TTL 64), `options` padded to 32 bits.
fn header(key: &FragKey, offset: usize, mf: bool, df: bool, len: usize, options: &[u8]) -> Vec<u8> {
    let mut opts = options.to_vec();
    while !opts.len().is_multiple_of(4) {
        opts.push(0);
    }
    let hlen = HEADER_LEN + opts.len();
    let mut h = vec![0u8; HEADER_LEN];
    h[0] = 0x40 | (hlen / 4) as u8;
    h[1] = 0x10;
    h[2..4].copy_from_slice(&((hlen + len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&key.ident.to_be_bytes());
    let mut flags = (offset / 8) as u16;
    if mf {
        flags |= FLAG_MF;
    }
    if df {
        flags |= FLAG_DF;
    }
    h[6..8].copy_from_slice(&flags.to_be_bytes());
    h[8] = 64;
    h[9] = key.protocol;
    h[12..16].copy_from_slice(&key.src.octets());
    h[16..20].copy_from_slice(&key.dst.octets());
    h.extend_from_slice(&opts);
    let sum = checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h
}

/// Split `payload` at `cuts` (increasing multiples of 8 inside it). Only the first fragment
/// carries `options`, as for options whose copy flag is clear.
fn split(key: &FragKey, payload: &[u8], cuts: &[usize], df: bool, options: &[u8]) -> Vec<Frag> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let (start, end) = (w[0], w[1]);
            let mf = end < payload.len();
            let opts = if start == 0 { options } else { &[] };
            Frag {
                key: *key,
                offset: start,
                mf,
                header: header(key, start, mf, df, end - start, opts),
                payload: payload[start..end].to_vec(),
            }
        })
        .collect()
}

/// Cuts every `unit` bytes.
fn units(len: usize, unit: usize) -> Vec<usize> {
    (1..).map(|i| i * unit).take_while(|&c| c < len).collect()
}

/// Cuts at random multiples of 8, from 8 to 2000 bytes apart.
fn uneven(len: usize, rng: &mut Rng) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    loop {
        at += 8 * (1 + rng.below(250));
        if at >= len {
            if cuts.is_empty() && len > 8 {
                cuts.push((len - 1) / 8 * 8);
            }
            return cuts;
        }
        cuts.push(at);
    }
}

/// Check a reassembled datagram against what was fragmented.
fn check(out: &[u8], key: &FragKey, payload: &[u8], df: bool) {
    check_with_options(out, key, payload, df, &[]);
}

/// `check`, for a datagram whose first fragment carried `options` (a multiple of 4 bytes).
fn check_with_options(out: &[u8], key: &FragKey, payload: &[u8], df: bool, options: &[u8]) {
    let hl = HEADER_LEN + options.len();
    assert!(out.len() >= hl);
    let h = &out[..hl];
    assert_eq!(checksum(h), 0, "header checksum");
    assert_eq!(usize::from(h[0] & 0x0f) * 4, hl, "IHL");
    assert_eq!(h[0] >> 4, 4, "version 4");
    assert_eq!(&h[HEADER_LEN..], options, "the first fragment's options");
    assert_eq!(h[1], 0x10, "TOS kept");
    assert_eq!(usize::from(u16::from_be_bytes([h[2], h[3]])), out.len());
    assert_eq!(u16::from_be_bytes([h[4], h[5]]), key.ident);
    let flags = u16::from_be_bytes([h[6], h[7]]);
    assert_eq!(
        flags,
        if df { FLAG_DF } else { 0 },
        "MF and offset clear, DF kept"
    );
    assert_eq!(h[8], 64, "TTL kept");
    assert_eq!(h[9], key.protocol);
    assert_eq!(&h[12..16], &key.src.octets());
    assert_eq!(&h[16..20], &key.dst.octets());
    assert!(&out[hl..] == payload, "payload differs");
}

/// Push `frags` in `order`: every push but the last must be Incomplete, the last Complete.
fn feed(r: &mut Reassembler, frags: &[Frag], order: &[usize], now: Instant) -> Vec<u8> {
    for (n, &i) in order.iter().enumerate() {
        match r.push(frags[i].get(), now) {
            Outcome::Incomplete => assert!(n + 1 < order.len(), "last push incomplete"),
            Outcome::Complete(out) => {
                assert_eq!(n + 1, order.len(), "completed early");
                return out;
            }
            other => panic!("fragment {i} (push {n}): {other:?}"),
        }
    }
    panic!("never completed")
}

fn all_orders(r: &mut Reassembler, frags: &[Frag], rng: &mut Rng, shuffles: usize) -> Vec<Vec<u8>> {
    let n = frags.len();
    let forward: Vec<usize> = (0..n).collect();
    let reverse: Vec<usize> = (0..n).rev().collect();
    let mut outs = vec![
        feed(r, frags, &forward, Instant::ZERO),
        feed(r, frags, &reverse, Instant::ZERO),
    ];
    for _ in 0..shuffles {
        let mut order = forward.clone();
        rng.shuffle(&mut order);
        outs.push(feed(r, frags, &order, Instant::ZERO));
    }
    outs
}

fn assert_empty(r: &Reassembler) {
    assert_eq!(r.pending(), 0);
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(r.poll_at(), None);
}

/// What `payload` bytes in `pieces` pieces of `datagrams` datagrams are charged.
fn charged(payload: usize, pieces: usize, datagrams: usize) -> usize {
    payload + pieces * PIECE_COST + datagrams * DATAGRAM_COST
}

/// The fixed costs charged cover what a datagram's record and a piece's index entry take.
#[test]
fn the_fixed_costs_cover_the_records() {
    let record = std::mem::size_of::<Pending>() + 2 * std::mem::size_of::<FragKey>();
    assert!(record + MAX_HEADER_LEN <= DATAGRAM_COST, "{record}");
    // A B-tree node at least half full: twice the entry.
    assert!(2 * std::mem::size_of::<(u16, Piece)>() <= PIECE_COST);
}

#[test]
fn any_order_rebuilds_the_datagram() {
    let mut rng = Rng::new(1);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let mut completed = 0;
    for (len, seed) in [(6000, 11), (65_000, 12), (MAX_PAYLOAD, 13), (1481, 14)] {
        let payload = data(len, seed);
        let k = key(seed as u16);
        let mut splits = vec![units(len, 1480), units(len, 8 * 61)];
        for _ in 0..3 {
            splits.push(uneven(len, &mut rng));
        }
        for cuts in &splits {
            let df = rng.below(2) == 0;
            let frags = split(&k, &payload, cuts, df, &[]);
            assert!(frags.len() >= 2);
            for out in all_orders(&mut r, &frags, &mut rng, 20) {
                check(&out, &k, &payload, df);
                completed += 1;
            }
            assert_empty(&r);
        }
    }
    assert_eq!(r.stats().completed, completed);
    assert_eq!(r.stats().timeouts, 0);
    assert_eq!(r.stats().duplicates, 0);
}

#[test]
fn all_24_orders_of_four_fragments() {
    fn permutations(rest: &mut Vec<usize>, done: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(done.clone());
        }
        for i in 0..rest.len() {
            let x = rest.remove(i);
            done.push(x);
            permutations(rest, done, out);
            done.pop();
            rest.insert(i, x);
        }
    }
    let mut orders = Vec::new();
    permutations(&mut vec![0, 1, 2, 3], &mut Vec::new(), &mut orders);
    assert_eq!(orders.len(), 24);

    let k = key(4);
    let payload = data(4000, 4);
    for cuts in [vec![1480, 2960, 3960], vec![8, 16, 3000]] {
        let frags = split(&k, &payload, &cuts, true, &[]);
        assert_eq!(frags.len(), 4);
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for order in &orders {
            let out = feed(&mut r, &frags, order, Instant::ZERO);
            check(&out, &k, &payload, true);
            assert_empty(&r);
        }
        assert_eq!(r.stats().completed, 24);
        assert_eq!(r.stats().fragments, 96);
    }
}

/// RFC 791 3.2: the reassembled datagram has the first fragment's options, whichever
/// fragment came last.
#[test]
fn first_fragment_options_are_kept() {
    let k = key(5);
    let payload = data(3000, 5);
    // Record Route, 3 slots: 15 bytes, padded to 16.
    let rr = [7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let frags = split(&k, &payload, &units(3000, 1480), false, &rr);
    assert_eq!(frags[0].header.len(), 36);
    let mut padded = rr.to_vec();
    padded.push(0);
    for order in [[2, 0, 1], [0, 1, 2], [1, 2, 0]] {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let out = feed(&mut r, &frags, &order, Instant::ZERO);
        check_with_options(&out, &k, &payload, false, &padded);
        assert_eq!(out.len(), 3036);
    }
}

/// With its first fragment's options a datagram may come out longer than 65,535 bytes:
/// discarded as too big (as Linux does), never cut or wrapped.
#[test]
fn options_that_make_a_datagram_too_long_discard_it() {
    let k = key(55);
    let payload = data(MAX_PAYLOAD, 55);
    let frags = split(
        &k,
        &payload,
        &units(MAX_PAYLOAD, 8192),
        false,
        &[1, 1, 1, 1],
    );
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let order: Vec<usize> = (0..frags.len()).collect();
    for (n, &i) in order.iter().enumerate() {
        let got = r.push(frags[i].get(), Instant::ZERO);
        if n + 1 < order.len() {
            assert_eq!(got, Outcome::Incomplete);
        } else {
            assert_eq!(got, Outcome::Dropped(DropReason::TooBig));
        }
    }
    assert_eq!(r.stats().too_big, 1);
    assert_eq!(r.stats().completed, 0);
    assert_empty(&r);
    // Without options the same payload fits exactly.
    let frags = split(&k, &payload, &units(MAX_PAYLOAD, 8192), false, &[]);
    let out = feed(&mut r, &frags, &order, Instant::ZERO);
    assert_eq!(out.len(), 65_535);
}

#[test]
fn exact_duplicates_are_ignored() {
    let k = key(6);
    let payload = data(6000, 6);
    let frags = split(&k, &payload, &units(6000, 1480), false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let mut rng = Rng::new(6);
    let mut order: Vec<usize> = (0..frags.len()).chain(0..frags.len() - 1).collect();
    rng.shuffle(&mut order);
    // Make sure the missing copy of the last piece comes last.
    let last = frags.len() - 1;
    let pos = order.iter().position(|&i| i == last).unwrap();
    order.remove(pos);
    let mut dups = 0;
    let mut seen = vec![false; frags.len()];
    for &i in &order {
        assert_eq!(r.push(frags[i].get(), Instant::ZERO), Outcome::Incomplete);
        dups += u64::from(seen[i]);
        seen[i] = true;
    }
    assert_eq!(r.stats().duplicates, dups);
    assert!(dups > 0);
    assert_eq!(
        r.buffered_bytes(),
        charged(6000 - frags[last].payload.len(), frags.len() - 1, 1)
    );
    match r.push(frags[last].get(), Instant::ZERO) {
        Outcome::Complete(out) => check(&out, &k, &payload, false),
        other => panic!("{other:?}"),
    }
    assert_empty(&r);
    assert_eq!(r.stats().drops(DropReason::Duplicate), dups);
}

#[test]
fn duplicate_carrying_the_end_completes() {
    // [0, 8) and [8, 16) both with MF set, then [8, 16) again with MF clear: the same bytes,
    // and now the end is known.
    let k = key(7);
    let payload = data(16, 7);
    let mut frags = split(&k, &payload, &[8], false, &[]);
    frags[1].mf = true;
    let mut r = Reassembler::new(ReassemblyConfig::default());
    assert_eq!(r.push(frags[0].get(), Instant::ZERO), Outcome::Incomplete);
    assert_eq!(r.push(frags[1].get(), Instant::ZERO), Outcome::Incomplete);
    frags[1].mf = false;
    match r.push(frags[1].get(), Instant::ZERO) {
        Outcome::Complete(out) => check(&out, &k, &payload, false),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.stats().duplicates, 1);
}

#[test]
fn overlaps_drop_the_datagram() {
    let k = key(8);
    let payload = data(6000, 8);
    let frags = split(&k, &payload, &units(6000, 1480), false, &[]);
    let now = Instant::from_secs(1);

    let overlapping = |offset: usize, len: usize, mf: bool| Frag {
        key: k,
        offset,
        mf,
        header: header(&k, offset, mf, false, len, &[]),
        payload: payload[offset..offset + len].to_vec(),
    };
    let cases = [
        // Starts inside fragment 1.
        overlapping(1480 + 8, 1480, true),
        // Ends inside fragment 1.
        overlapping(1480 - 8, 16, true),
        // Covers fragment 1 and more.
        overlapping(1472, 1496, true),
        // Bridges fragments 1 and 3 across the gap between them.
        overlapping(2952, 1496, true),
    ];
    let mut r = Reassembler::new(ReassemblyConfig::default());
    for (n, bad) in cases.iter().enumerate() {
        assert_eq!(r.push(frags[1].get(), now), Outcome::Incomplete);
        assert_eq!(r.push(frags[3].get(), now), Outcome::Incomplete);
        assert_eq!(
            r.push(bad.get(), now),
            Outcome::Dropped(DropReason::Overlap),
            "case {n}"
        );
        assert_empty(&r);
        assert_eq!(r.stats().overlap, n as u64 + 1);
        // The same key starts afresh and completes.
        let out = feed(&mut r, &frags, &[4, 2, 0, 3, 1], now);
        check(&out, &k, &payload, false);
    }
    // An overlap only matters to its own datagram.
    let other = key(9);
    let other_frags = split(&other, &payload, &units(6000, 1480), false, &[]);
    assert_eq!(r.push(other_frags[0].get(), now), Outcome::Incomplete);
    assert_eq!(r.push(frags[1].get(), now), Outcome::Incomplete);
    assert_eq!(
        r.push(cases[0].get(), now),
        Outcome::Dropped(DropReason::Overlap)
    );
    assert_eq!(r.pending(), 1);
    let out = feed(&mut r, &other_frags, &[1, 2, 3, 4], now);
    check(&out, &other, &payload, false);
}

/// A fragment inside data held, in one piece or a run of adjoining ones, is a duplicate
/// whatever its bytes: dropped alone, the bytes held first stand (Linux's IPFRAG_DUP;
/// before, anything but an exact copy discarded the datagram: found by a review).
#[test]
fn a_fragment_inside_held_data_is_a_duplicate() {
    let k = key(81);
    let payload = data(6000, 81);
    let frags = split(&k, &payload, &units(6000, 1480), false, &[]);
    let now = Instant::from_secs(1);
    let inside = |offset: usize, len: usize, flip: u8| Frag {
        key: k,
        offset,
        mf: true,
        header: header(&k, offset, true, false, len, &[]),
        payload: payload[offset..offset + len]
            .iter()
            .map(|b| b ^ flip)
            .collect(),
    };
    let mut r = Reassembler::new(ReassemblyConfig::default());
    for i in [0, 1, 3] {
        assert_eq!(r.push(frags[i].get(), now), Outcome::Incomplete);
    }
    let copies = [
        // Same start, shorter; other bytes.
        inside(1480, 8, 0),
        inside(1480, 8, 0xff),
        // The same range, other bytes.
        inside(1480, 1480, 1),
        // Across the seam of fragments 0 and 1, a part of a copy re-cut elsewhere.
        inside(1464, 64, 0),
        // The end of the run.
        inside(2952 - 8, 8, 0),
    ];
    for (n, c) in copies.iter().enumerate() {
        assert_eq!(r.push(c.get(), now), Outcome::Incomplete, "copy {n}");
    }
    assert_eq!(r.stats().duplicates, copies.len() as u64);
    assert_eq!(r.stats().overlap, 0);
    let out = feed(&mut r, &frags, &[2, 4], now);
    check(&out, &k, &payload, false);
}

#[test]
fn interleaved_datagrams() {
    let base = key(10);
    let keys = [
        base,
        FragKey { ident: 11, ..base },
        FragKey {
            protocol: 6,
            ..base
        },
        FragKey {
            src: Ipv4Addr::new(10, 0, 0, 3),
            ..base
        },
        FragKey {
            dst: Ipv4Addr::new(10, 0, 0, 9),
            ..base
        },
    ];
    let mut rng = Rng::new(10);
    let mut all = Vec::new();
    let mut payloads = Vec::new();
    for (n, k) in keys.iter().enumerate() {
        let payload = data(3000 + 1000 * n, 100 + n as u64);
        let cuts = uneven(payload.len(), &mut rng);
        for f in split(k, &payload, &cuts, false, &[]) {
            all.push((n, f));
        }
        payloads.push(payload);
    }
    rng.shuffle(&mut all);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let mut done = [false; 5];
    for (n, f) in &all {
        match r.push(f.get(), Instant::ZERO) {
            Outcome::Incomplete => {}
            Outcome::Complete(out) => {
                assert!(!done[*n]);
                done[*n] = true;
                check(&out, &keys[*n], &payloads[*n], false);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(done, [true; 5]);
    assert_empty(&r);
}

#[test]
fn timeout_without_the_first_fragment() {
    let k = key(12);
    let payload = data(6000, 12);
    let frags = split(&k, &payload, &units(6000, 1480), false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let t0 = Instant::from_secs(100);
    assert_eq!(r.poll_at(), None);
    assert_eq!(r.push(frags[2].get(), t0), Outcome::Incomplete);
    assert_eq!(r.poll_at(), Some(t0 + Duration::from_secs(30)));
    // Later fragments do not push the deadline back.
    assert_eq!(
        r.push(frags[4].get(), t0 + Duration::from_secs(20)),
        Outcome::Incomplete
    );
    assert_eq!(r.poll_at(), Some(t0 + Duration::from_secs(30)));
    assert!(r.poll(t0 + Duration::from_micros(29_999_999)).is_empty());
    assert_eq!(r.pending(), 1);
    let expired = r.poll(t0 + Duration::from_secs(30));
    assert_eq!(
        expired,
        vec![Expired {
            key: k,
            first_fragment: None
        }]
    );
    assert_empty(&r);
    assert_eq!(r.stats().timeouts, 1);
    assert!(r.poll(t0 + Duration::from_secs(60)).is_empty());
}

#[test]
fn timeout_with_the_first_fragment_quotes_it() {
    let k = key(13);
    let payload = data(6000, 13);
    let rr = [7, 7, 4, 0, 0, 0, 0];
    let frags = split(&k, &payload, &units(6000, 1480), true, &rr);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let t0 = Instant::from_secs(5);
    for i in [3, 0, 1] {
        assert_eq!(r.push(frags[i].get(), t0), Outcome::Incomplete);
    }
    let expired = r.poll(t0 + Duration::from_secs(31));
    assert_eq!(expired.len(), 1);
    let quote = expired[0]
        .first_fragment
        .as_ref()
        .expect("first fragment quoted");
    // As much as an ICMP error quotes (576 bytes in all): 548 of the fragment's 1,508
    // (its header, with a record route option, is 28).
    let mut want = frags[0].header.clone();
    want.extend_from_slice(&payload[..548 - 28]);
    assert_eq!(quote, &want);
    assert_eq!(quote.len(), 548);
    assert_empty(&r);
}

#[test]
fn a_late_fragment_does_not_complete_an_expired_datagram() {
    let k = key(14);
    let payload = data(3000, 14);
    let frags = split(&k, &payload, &units(3000, 1480), false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let t0 = Instant::from_secs(1);
    assert_eq!(r.push(frags[0].get(), t0), Outcome::Incomplete);
    assert_eq!(r.push(frags[1].get(), t0), Outcome::Incomplete);
    // No poll before the rest arrives, after the deadline: a new datagram starts.
    let late = t0 + Duration::from_secs(30);
    assert_eq!(r.push(frags[2].get(), late), Outcome::Incomplete);
    assert_eq!(r.pending(), 1);
    assert_eq!(r.buffered_bytes(), charged(frags[2].payload.len(), 1, 1));
    // The retired datagram is still reported, and poll is due at once.
    assert_eq!(r.poll_at(), Some(t0 + Duration::from_secs(30)));
    let expired = r.poll(late);
    assert_eq!(expired.len(), 1);
    assert!(expired[0].first_fragment.is_some());
    assert_eq!(r.poll_at(), Some(late + Duration::from_secs(30)));
    assert_eq!(r.stats().timeouts, 1);
    assert_eq!(r.stats().completed, 0);
}

#[test]
fn memory_cap_evicts_the_oldest() {
    let cfg = ReassemblyConfig {
        max_bytes: 4000,
        ..ReassemblyConfig::default()
    };
    let mut r = Reassembler::new(cfg);
    let payload = data(6000, 15);
    let (a, b, c) = (key(15), key(16), key(17));
    let fa = split(&a, &payload, &units(6000, 1480), false, &[]);
    let fb = split(&b, &payload, &units(6000, 1480), false, &[]);
    let t = Instant::ZERO;
    assert_eq!(r.push(fa[0].get(), t), Outcome::Incomplete);
    assert_eq!(
        r.push(fa[1].get(), t + Duration::from_secs(1)),
        Outcome::Incomplete
    );
    assert_eq!(r.buffered_bytes(), charged(2960, 2, 1));
    // B's first fragment does not fit next to A: A, the oldest, goes.
    assert_eq!(
        r.push(fb[0].get(), t + Duration::from_secs(2)),
        Outcome::Incomplete
    );
    assert_eq!(r.pending(), 1);
    assert_eq!(r.buffered_bytes(), charged(1480, 1, 1));
    assert_eq!(r.stats().memory_limit, 1);
    // B alone can hold 4000 bytes, no more: its third fragment would pass the cap, and B could
    // never be completed, so it goes with the fragment.
    assert_eq!(r.push(fb[1].get(), t), Outcome::Incomplete);
    assert_eq!(
        r.push(fb[2].get(), t),
        Outcome::Dropped(DropReason::MemoryLimit)
    );
    assert_eq!(r.stats().memory_limit, 2);
    assert_empty(&r);
    // A fragment larger than the whole cap is refused without evicting anyone.
    let small = split(&c, &data(16, 1), &[8], false, &[]);
    assert_eq!(r.push(small[0].get(), t), Outcome::Incomplete);
    let cfg_tiny = ReassemblyConfig {
        max_bytes: 1000,
        ..cfg
    };
    let mut tiny = Reassembler::new(cfg_tiny);
    assert_eq!(tiny.push(small[0].get(), t), Outcome::Incomplete);
    assert_eq!(
        tiny.push(fa[1].get(), t),
        Outcome::Dropped(DropReason::MemoryLimit)
    );
    assert_eq!(tiny.pending(), 1);
    assert_eq!(tiny.buffered_bytes(), charged(8, 1, 1));
    // Completing frees the bytes.
    match tiny.push(small[1].get(), t) {
        Outcome::Complete(out) => check(&out, &c, &data(16, 1), false),
        other => panic!("{other:?}"),
    }
    assert_empty(&tiny);
}

#[test]
fn datagram_cap_evicts_the_oldest() {
    let cfg = ReassemblyConfig {
        max_datagrams: 2,
        ..ReassemblyConfig::default()
    };
    let mut r = Reassembler::new(cfg);
    let payload = data(3000, 18);
    let keys = [key(18), key(19), key(20)];
    let frags: Vec<Vec<Frag>> = keys
        .iter()
        .map(|k| split(k, &payload, &units(3000, 1480), false, &[]))
        .collect();
    let t = Instant::from_secs(10);
    for (n, f) in frags.iter().enumerate() {
        assert_eq!(
            r.push(f[1].get(), t + Duration::from_secs(n as u64)),
            Outcome::Incomplete
        );
    }
    assert_eq!(r.pending(), 2);
    assert_eq!(r.stats().too_many_datagrams, 1);
    assert_eq!(r.poll_at(), Some(t + Duration::from_secs(31)));
    // The oldest (keys[0]) is gone: its remaining fragments start over.
    assert_eq!(r.push(frags[0][0].get(), t), Outcome::Incomplete);
    assert_eq!(r.push(frags[0][2].get(), t), Outcome::Incomplete);
    assert_eq!(r.stats().too_many_datagrams, 2);
    // keys[2] survived and completes; a further fragment of a pending key evicts nobody.
    assert_eq!(r.push(frags[2][0].get(), t), Outcome::Incomplete);
    match r.push(frags[2][2].get(), t) {
        Outcome::Complete(out) => check(&out, &keys[2], &payload, false),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.stats().too_many_datagrams, 2);
    assert_eq!(r.pending(), 1);

    let mut none = Reassembler::new(ReassemblyConfig {
        max_datagrams: 0,
        ..cfg
    });
    assert_eq!(
        none.push(frags[0][0].get(), t),
        Outcome::Dropped(DropReason::TooManyDatagrams)
    );
    assert_empty(&none);
}

#[test]
fn too_big() {
    let k = key(21);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let t = Instant::ZERO;
    // 65,512 + 8 > 65,515.
    let last = Frag {
        key: k,
        offset: 65_512,
        mf: false,
        header: header(&k, 65_512, false, false, 8, &[]),
        payload: vec![1; 8],
    };
    assert_eq!(r.push(last.get(), t), Outcome::Dropped(DropReason::TooBig));
    assert_empty(&r);
    // With a datagram pending, it goes too.
    let first = split(&k, &data(16, 2), &[8], false, &[]).remove(0);
    assert_eq!(r.push(first.get(), t), Outcome::Incomplete);
    assert_eq!(r.push(last.get(), t), Outcome::Dropped(DropReason::TooBig));
    assert_empty(&r);
    // An offset nowhere near any datagram does not overflow.
    let absurd = Fragment {
        offset: usize::MAX - 7,
        ..last.get()
    };
    assert_eq!(r.push(absurd, t), Outcome::Dropped(DropReason::TooBig));
    // Exactly 65,515 bytes is fine (also covered by any_order_rebuilds_the_datagram).
    let edge = Frag {
        offset: 65_512,
        payload: vec![1; 3],
        header: header(&k, 65_512, false, false, 3, &[]),
        ..last.clone()
    };
    assert_eq!(r.push(edge.get(), t), Outcome::Incomplete);
    assert_eq!(r.stats().too_big, 3);
}

#[test]
fn bad_lengths_drop_only_the_fragment() {
    let k = key(22);
    let payload = data(3000, 22);
    let frags = split(&k, &payload, &units(3000, 1480), false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let t = Instant::ZERO;
    assert_eq!(r.push(frags[0].get(), t), Outcome::Incomplete);
    let odd = Fragment {
        payload: &frags[1].payload[..1479],
        ..frags[1].get()
    };
    let empty_mf = Fragment {
        payload: &[],
        ..frags[1].get()
    };
    let empty_last = Fragment {
        payload: &[],
        more_fragments: false,
        ..frags[1].get()
    };
    let misaligned = Fragment {
        offset: 1481,
        ..frags[1].get()
    };
    for f in [odd, empty_mf, empty_last, misaligned] {
        assert_eq!(
            r.push(f, t),
            Outcome::Dropped(DropReason::BadLength),
            "{f:?}"
        );
    }
    assert_eq!(r.stats().bad_length, 4);
    // The datagram goes on.
    assert_eq!(r.pending(), 1);
    let out = feed(&mut r, &frags, &[2, 1], t);
    check(&out, &k, &payload, false);
    // A short last fragment is fine.
    let short = split(&k, &data(21, 3), &[8], false, &[]);
    let out = feed(&mut r, &short, &[1, 0], t);
    check(&out, &k, &data(21, 3), false);
}

#[test]
fn inconsistent_ends() {
    let k = key(23);
    let payload = data(3000, 23);
    let frags = split(&k, &payload, &units(3000, 1480), false, &[]);
    let t = Instant::ZERO;
    let mut r = Reassembler::new(ReassemblyConfig::default());

    // Two different last fragments.
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    let shorter = Fragment {
        payload: &frags[2].payload[..16],
        ..frags[2].get()
    };
    assert_eq!(
        r.push(shorter, t),
        Outcome::Dropped(DropReason::InconsistentEnd)
    );
    assert_empty(&r);

    // Data beyond the known end.
    assert_eq!(r.push(frags[1].get(), t), Outcome::Incomplete);
    assert_eq!(r.push(shorter, t), Outcome::Incomplete);
    let beyond = Fragment {
        offset: 4000,
        more_fragments: true,
        payload: &frags[0].payload[..8],
        ..frags[0].get()
    };
    assert_eq!(
        r.push(beyond, t),
        Outcome::Dropped(DropReason::InconsistentEnd)
    );
    assert_empty(&r);

    // A last fragment ending before data already received.
    assert_eq!(r.push(frags[1].get(), t), Outcome::Incomplete);
    let early_end = Fragment {
        more_fragments: false,
        ..frags[0].get()
    };
    assert_eq!(
        r.push(early_end, t),
        Outcome::Dropped(DropReason::InconsistentEnd)
    );
    assert_empty(&r);
    assert_eq!(r.stats().inconsistent_end, 3);

    // A fragment with MF set ending where the last fragment begins is accepted.
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    let mf_at_end = Fragment {
        more_fragments: true,
        ..frags[1].get()
    };
    assert_eq!(r.push(mf_at_end, t), Outcome::Incomplete);
    match r.push(frags[0].get(), t) {
        Outcome::Complete(out) => check(&out, &k, &payload, false),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unfragmented_packet_is_returned_whole() {
    let k = key(24);
    let payload = data(100, 24);
    let rr = [7, 7, 4, 0, 0, 0, 0];
    let whole = split(&k, &payload, &[], true, &rr);
    assert_eq!(whole.len(), 1);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    match r.push(whole[0].get(), Instant::ZERO) {
        Outcome::Complete(out) => {
            check_with_options(&out, &k, &payload, true, &[7, 7, 4, 0, 0, 0, 0, 0])
        }
        other => panic!("{other:?}"),
    }
    assert_empty(&r);
    // Even an empty one.
    let empty = split(&k, &[], &[], false, &[]);
    match r.push(empty[0].get(), Instant::ZERO) {
        Outcome::Complete(out) => check(&out, &k, &[], false),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.stats().completed, 2);
    // A header too short to rebuild from is refused.
    let short = Fragment {
        header: &whole[0].header[..12],
        ..whole[0].get()
    };
    assert_eq!(
        r.push(short, Instant::ZERO),
        Outcome::Dropped(DropReason::BadHeader)
    );
}

#[test]
fn fragment_from_packet() {
    let k = key(25);
    let payload = data(3000, 25);
    let rr = [7, 7, 4, 0, 0, 0, 0];
    let frags = split(&k, &payload, &units(3000, 1480), true, &rr);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let packets: Vec<Vec<u8>> = frags.iter().map(Frag::packet).collect();
    let mut result = None;
    for p in packets.iter().rev() {
        let mut padded = p.clone();
        padded.extend_from_slice(&[0xee; 6]); // link padding past the total length
        let f = Fragment::from_packet(&padded).expect("valid packet");
        assert!(f.is_fragment());
        assert_eq!(f.key, k);
        assert_eq!(f.header.len(), if f.offset == 0 { 28 } else { 20 });
        if let Outcome::Complete(out) = r.push(f, Instant::ZERO) {
            result = Some(out);
        }
    }
    let out = result.expect("complete");
    check_with_options(&out, &k, &payload, true, &[7, 7, 4, 0, 0, 0, 0, 0]);
    let again = Fragment::from_packet(&out).expect("reassembled packet parses");
    assert!(!again.is_fragment());
    assert_eq!(again.payload, &payload[..]);

    assert!(Fragment::from_packet(&[]).is_none());
    assert!(Fragment::from_packet(&packets[1][..19]).is_none());
    let mut v6 = packets[1].clone();
    v6[0] = 0x65;
    assert!(Fragment::from_packet(&v6).is_none());
    let mut short_ihl = packets[1].clone();
    short_ihl[0] = 0x44;
    assert!(Fragment::from_packet(&short_ihl).is_none());
    let mut long_total = packets[1].clone();
    long_total[2..4].copy_from_slice(&5000u16.to_be_bytes());
    assert!(Fragment::from_packet(&long_total).is_none());
}

#[test]
fn from_packet_takes_a_header_only_packet_and_refuses_a_total_below_the_header() {
    let k = key(30);
    // A bare 20-byte header (total length 20, no payload) is a well-formed packet.
    let bare = header(&k, 0, false, false, 0, &[]);
    assert_eq!(bare.len(), HEADER_LEN);
    let f = Fragment::from_packet(&bare).expect("a header-only packet parses");
    assert_eq!((f.header.len(), f.payload.len()), (HEADER_LEN, 0));
    assert!(!f.is_fragment());
    // So is a header with options and nothing after it (total length = IHL * 4).
    let opts = header(&k, 0, false, false, 0, &[1, 1, 1, 0]);
    let f = Fragment::from_packet(&opts).expect("options only parses");
    assert_eq!((f.header.len(), f.payload.len()), (24, 0));
    // A total length shorter than the header it claims is malformed.
    let mut below = opts.clone();
    below.extend_from_slice(&[0; 8]);
    below[2..4].copy_from_slice(&20u16.to_be_bytes());
    assert!(Fragment::from_packet(&below).is_none());
}

#[test]
fn drop_reasons_have_distinct_messages() {
    let reasons = [
        DropReason::Overlap,
        DropReason::TooBig,
        DropReason::BadLength,
        DropReason::InconsistentEnd,
        DropReason::MemoryLimit,
        DropReason::TooManyDatagrams,
        DropReason::Duplicate,
        DropReason::BadHeader,
        DropReason::EcnMismatch,
    ];
    let texts: std::collections::HashSet<String> =
        reasons.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), reasons.len());
    assert!(texts.iter().all(|t| !t.is_empty()));
    assert_eq!(DropReason::Overlap.to_string(), "overlapping fragment");
}

#[test]
fn config_and_debug_show_the_limits_and_the_state() {
    let cfg = ReassemblyConfig {
        timeout: Duration::from_secs(7),
        max_bytes: 1234,
        max_datagrams: 3,
        max_dist: 9,
    };
    let mut r = Reassembler::new(cfg);
    assert_eq!(r.config(), &cfg);
    let k = key(31);
    let frags = split(&k, &data(16, 31), &[8], false, &[]);
    assert_eq!(r.push(frags[0].get(), Instant::ZERO), Outcome::Incomplete);
    let text = format!("{r:?}");
    assert!(text.starts_with("Reassembler"), "{text}");
    assert!(text.contains("pending: 1"), "{text}");
    let buffered = format!("buffered: {}", charged(8, 1, 1));
    assert!(text.contains(&buffered), "{text}");
    assert!(text.contains("max_bytes: 1234"), "{text}");
}

/// Storage: the buffer grows geometrically, but never past the datagram's end once the
/// last fragment was seen, nor past MAX_PAYLOAD while it is not (module docs, Storage).
#[test]
fn the_buffer_never_grows_past_the_known_end_or_the_largest_payload() {
    let capacity = |r: &Reassembler, k: &FragKey| r.table[k].data.capacity();
    let k = key(32);
    let payload = data(1200, 32);
    let frags = split(&k, &payload, &[200, 600, 800, 1000], false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    // The last fragment first: the end (1200) is known from the start.
    for i in [4, 0, 1, 2] {
        assert_eq!(r.push(frags[i].get(), Instant::ZERO), Outcome::Incomplete);
        let held = r.table[&k].data.len();
        let cap = capacity(&r, &k);
        assert!(cap >= held && cap <= 1200, "capacity {cap} holding {held}");
        assert!(cap <= 2 * held, "capacity {cap} holding {held}");
    }
    // Doubling 800 would reach 1600; the known end caps it.
    assert_eq!(capacity(&r, &k), 1200);
    match r.push(frags[3].get(), Instant::ZERO) {
        Outcome::Complete(out) => check(&out, &k, &payload, false),
        other => panic!("{other:?}"),
    }

    // End unknown: doubling 40,000 would pass MAX_PAYLOAD; it stops there.
    let k = key(33);
    let big = data(40_008, 33);
    let frags = split(&k, &big, &[40_000], false, &[]);
    let more = Fragment {
        more_fragments: true,
        ..frags[1].get()
    };
    assert_eq!(r.push(frags[0].get(), Instant::ZERO), Outcome::Incomplete);
    assert_eq!(capacity(&r, &k), 40_000);
    assert_eq!(r.push(more, Instant::ZERO), Outcome::Incomplete);
    assert_eq!(capacity(&r, &k), MAX_PAYLOAD);
}

/// An MF fragment that ends exactly at the known end is not data beyond it; it can only
/// overlap the last fragment, and is counted as an overlap.
#[test]
fn an_mf_fragment_reaching_the_known_end_is_an_overlap() {
    let k = key(34);
    let payload = data(3000, 34);
    let frags = split(&k, &payload, &units(3000, 1480), false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    assert_eq!(r.push(frags[2].get(), Instant::ZERO), Outcome::Incomplete);
    let reaching = Frag {
        key: k,
        offset: 2952,
        mf: true,
        header: header(&k, 2952, true, false, 48, &[]),
        payload: payload[2952..].to_vec(),
    };
    assert_eq!(
        r.push(reaching.get(), Instant::ZERO),
        Outcome::Dropped(DropReason::Overlap)
    );
    assert_empty(&r);
    assert_eq!((r.stats().overlap, r.stats().inconsistent_end), (1, 0));
}

/// A copy of the last fragment agrees with the known end: an exact duplicate, ignored. A
/// second last fragment ending after it, even without overlapping anything, contradicts
/// it and discards the datagram.
#[test]
fn a_second_last_fragment_must_end_where_the_first_did() {
    let k = key(35);
    let payload = data(3000, 35);
    let frags = split(&k, &payload, &units(3000, 1480), false, &[]);
    let t = Instant::ZERO;
    let mut r = Reassembler::new(ReassemblyConfig::default());
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    assert_eq!(r.stats().duplicates, 1);
    assert_eq!(r.pending(), 1);
    let later = Frag {
        key: k,
        offset: 3000,
        mf: false,
        header: header(&k, 3000, false, false, 8, &[]),
        payload: vec![9; 8],
    };
    assert_eq!(
        r.push(later.get(), t),
        Outcome::Dropped(DropReason::InconsistentEnd)
    );
    assert_empty(&r);
    // The same key starts afresh and completes, the last fragment sent twice.
    let out = feed(&mut r, &frags, &[2, 0, 1], t);
    check(&out, &k, &payload, false);
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    assert_eq!(r.push(frags[1].get(), t), Outcome::Incomplete);
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    match r.push(frags[0].get(), t) {
        Outcome::Complete(out) => check(&out, &k, &payload, false),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.stats().duplicates, 2);
}

/// Tiny fragments are charged what they cost, not their few payload bytes: a datagram cut
/// into 8-byte pieces with holes between them fills the cap after a handful.
#[test]
fn tiny_fragments_fill_the_cap_by_what_they_cost() {
    let held = 10;
    let cfg = ReassemblyConfig {
        max_bytes: charged(held * 8, held, 1),
        ..ReassemblyConfig::default()
    };
    let mut r = Reassembler::new(cfg);
    let k = key(43);
    let cuts: Vec<usize> = (1..64).map(|i| i * 8).collect();
    let frags = split(&k, &data(512, 43), &cuts, false, &[]);
    // Every other piece: none adjoins another, none completes the datagram.
    for f in frags.iter().step_by(2).take(held) {
        assert_eq!(r.push(f.get(), Instant::ZERO), Outcome::Incomplete);
    }
    assert_eq!(r.buffered_bytes(), cfg.max_bytes);
    assert_eq!(
        r.push(frags[2 * held].get(), Instant::ZERO),
        Outcome::Dropped(DropReason::MemoryLimit),
        "80 payload bytes held, but the cap is reached"
    );
    assert_empty(&r);
}

/// `max_bytes` is a cap that may be reached exactly: two datagrams filling it together fit
/// without evicting anyone, a datagram growing to it makes room by evicting the other, and
/// a first fragment charged exactly the cap starts a datagram.
#[test]
fn the_memory_cap_may_be_filled_exactly() {
    let cap = 2 * charged(16, 1, 1);
    let cfg = ReassemblyConfig {
        max_bytes: cap,
        ..ReassemblyConfig::default()
    };
    let mut r = Reassembler::new(cfg);
    let (a, b, c) = (key(36), key(37), key(38));
    let pa = data(32, 36);
    let fa = split(&a, &pa, &[16], false, &[]);
    let fb = split(&b, &data(32, 37), &[16], false, &[]);
    let t = Instant::ZERO;
    assert_eq!(r.push(fa[0].get(), t), Outcome::Incomplete);
    assert_eq!(
        r.push(fb[0].get(), t + Duration::from_secs(1)),
        Outcome::Incomplete
    );
    assert_eq!((r.pending(), r.buffered_bytes()), (2, cap));
    assert_eq!(r.stats().memory_limit, 0);
    // A grows: B, the other datagram, makes room.
    match r.push(fa[1].get(), t) {
        Outcome::Complete(out) => check(&out, &a, &pa, false),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.stats().memory_limit, 1);
    assert_empty(&r);
    // A first fragment charged exactly the cap starts a datagram.
    let first = cap - charged(0, 1, 1);
    let fc = split(&c, &data(first + 8, 38), &[8], false, &[]);
    assert_eq!(r.push(fc[1].get(), t), Outcome::Incomplete);
    assert_eq!(r.buffered_bytes(), cap);
}

/// Timed-out datagrams found by pushes wait for `poll`; if it is forgotten, the newest
/// `max_datagrams` records are kept (as many as could be pending), not fewer.
#[test]
fn forgotten_polls_keep_the_newest_records_up_to_the_datagram_cap() {
    let cfg = ReassemblyConfig {
        max_datagrams: 2,
        ..ReassemblyConfig::default()
    };
    let mut r = Reassembler::new(cfg);
    let keys = [key(39), key(40), key(41), key(42)];
    let frags: Vec<Vec<Frag>> = keys
        .iter()
        .map(|k| split(k, &data(16, 39), &[8], false, &[]))
        .collect();
    let s = Duration::from_secs(1);
    let t0 = Instant::from_secs(100);
    assert_eq!(r.push(frags[0][1].get(), t0), Outcome::Incomplete);
    assert_eq!(r.push(frags[1][1].get(), t0 + s), Outcome::Incomplete);
    // Both expire by t0 + 31 s, found by the next push.
    let t1 = t0 + Duration::from_secs(31);
    assert_eq!(r.push(frags[2][1].get(), t1), Outcome::Incomplete);
    let t2 = t1 + Duration::from_secs(30);
    assert_eq!(r.push(frags[3][1].get(), t2), Outcome::Incomplete);
    assert_eq!(r.stats().timeouts, 3);
    let expired: Vec<FragKey> = r.poll(t2).into_iter().map(|e| e.key).collect();
    assert_eq!(expired, [keys[1], keys[2]]);
    assert_eq!(r.pending(), 1);
}

/// A flood of first fragments that never complete, each a datagram of its own (spoofed
/// sources), does not flush a datagram being reassembled unless it costs a real share of
/// the memory cap: with the default limits 500 of them (about 150 KB charged) leave it in
/// place. The datagram cap was 64, so 64 tiny fragments evicted every pending reassembly
/// (Linux bounds reassembly by memory alone).
#[test]
fn a_flood_of_small_first_fragments_does_not_evict_a_pending_datagram() {
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let k = key(44);
    let payload = data(3000, 44);
    let frags = split(&k, &payload, &[1480, 2960], false, &[]);
    let t = Instant::from_secs(5);
    assert_eq!(r.push(frags[0].get(), t), Outcome::Incomplete);
    for i in 0..500u32 {
        let mut spoofed = key(1);
        spoofed.src = Ipv4Addr::from(0x0b00_0000 + i);
        let f = split(&spoofed, &data(16, u64::from(i)), &[8], false, &[]);
        assert_eq!(r.push(f[0].get(), t), Outcome::Incomplete);
    }
    assert_eq!(r.stats().drops(DropReason::TooManyDatagrams), 0);
    assert_eq!(r.stats().drops(DropReason::MemoryLimit), 0);
    assert_eq!(r.push(frags[2].get(), t), Outcome::Incomplete);
    let out = r.push(frags[1].get(), t);
    let Outcome::Complete(out) = out else {
        panic!("the pending datagram was lost: {out:?}");
    };
    check(&out, &k, &payload, false);
}

/// RFC 791 3.2: the reassembled datagram takes the first fragment's header. One that is not
/// a whole number of 32-bit words (validated input never is) cannot be kept as it is: the
/// first 20 bytes are used, and the header length says 20.
#[test]
fn a_first_header_that_is_not_whole_words_is_cut_to_20_bytes() {
    let k = key(43);
    let payload = data(16, 43);
    let mut frags = split(&k, &payload, &[8], false, &[]);
    frags[0].header.extend_from_slice(&[1, 1]);
    assert_eq!(frags[0].header.len(), 22);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let out = feed(&mut r, &frags, &[1, 0], Instant::ZERO);
    assert_eq!(out.len(), HEADER_LEN + 16);
    check(&out, &k, &payload, false);
}

/// Random fragments, keys, lengths and times: no panic, and the books always balance.
#[test]
fn random_input_keeps_invariants() {
    let cfg = ReassemblyConfig {
        timeout: Duration::from_secs(3),
        max_bytes: 8_000,
        max_datagrams: 5,
        max_dist: 6,
    };
    let mut r = Reassembler::new(cfg);
    let mut rng = Rng::new(26);
    let hdr = header(&key(0), 0, true, false, 0, &[]);
    let bytes = data(70_000, 26);
    let mut now = Instant::ZERO;
    let mut outcomes = 0u64;
    for _ in 0..50_000 {
        now += Duration::from_millis(rng.below(300) as u64);
        let offset = match rng.below(4) {
            0 => 0,
            1 => 8 * rng.below(8192),
            2 => rng.below(70_000),
            _ => 8 * rng.below(40),
        };
        let len = match rng.below(3) {
            0 => 8 * rng.below(30),
            1 => rng.below(3000),
            _ => 8 * rng.below(2),
        };
        // Often the bytes a datagram at that offset would have, so duplicates happen.
        let start = if rng.below(2) == 0 {
            offset % 997
        } else {
            rng.below(1000)
        };
        let f = Fragment {
            key: FragKey {
                src: Ipv4Addr::new(10, 0, 0, 2 + rng.below(2) as u8),
                ..key(rng.below(8) as u16)
            },
            offset,
            more_fragments: rng.below(3) != 0,
            header: &hdr[..if rng.below(50) == 0 { 10 } else { 20 }],
            payload: &bytes[start..start + len],
        };
        match r.push(f, now) {
            Outcome::Complete(out) => {
                assert_eq!(checksum(&out[..HEADER_LEN]), 0);
                assert_eq!(usize::from(u16::from_be_bytes([out[2], out[3]])), out.len());
                assert!(out.len() <= 65_535);
            }
            Outcome::Dropped(DropReason::Duplicate) => panic!("duplicates are not drops"),
            _ => {}
        }
        outcomes += 1;
        assert!(r.buffered_bytes() <= cfg.max_bytes);
        assert!(r.pending() <= cfg.max_datagrams);
        let sum: usize = r.table.values().map(Pending::charge).sum();
        assert_eq!(sum, r.buffered_bytes());
        assert_eq!(r.age.len(), r.table.len());
        let by_source: usize = r.sources.values().map(|&(_, n)| n).sum();
        assert_eq!(by_source, r.table.len());
        assert!(r.table.keys().all(|k| r.sources.contains_key(&k.src)));
        if rng.below(100) == 0 {
            for e in r.poll(now) {
                if let Some(q) = e.first_fragment {
                    assert!(q.len() >= HEADER_LEN && q.len() <= crate::icmp::ERROR_QUOTE_MAX);
                }
            }
            assert!(r.poll_at().is_none_or(|t| t > now));
        }
    }
    let s = r.stats();
    assert_eq!(s.fragments, outcomes);
    for reason in [
        DropReason::Overlap,
        DropReason::TooBig,
        DropReason::BadLength,
        DropReason::InconsistentEnd,
        DropReason::MemoryLimit,
        DropReason::TooManyDatagrams,
        DropReason::Duplicate,
        DropReason::BadHeader,
        DropReason::TooFar,
    ] {
        assert!(s.drops(reason) > 0, "{reason:?} never happened: {s:?}");
    }
    assert!(s.timeouts > 0 && s.completed > 0, "{s:?}");
    r.poll(now + Duration::from_secs(3));
    assert_empty(&r);
}

/// RFC 3168 5.3: a CE mark on one fragment marks the whole datagram (the rest ECT), the
/// first fragment's codepoint stands when they agree, and Not-ECT fragments beside
/// ECN-capable ones discard the datagram (counted).
#[test]
fn ecn_codepoints_of_fragments_combine_or_discard() {
    let payload = data(64, 9);
    // (each fragment's ECN field, the datagram's, or None: discarded)
    let cases: [([u8; 3], Option<u8>); 8] = [
        ([0, 0, 0], Some(0)),
        ([0b10, 0b10, 0b10], Some(0b10)),
        ([0b10, 0b11, 0b10], Some(0b11)),
        ([0b01, 0b10, 0b11], Some(0b11)),
        ([0b11, 0b11, 0b11], Some(0b11)),
        ([0b01, 0b10, 0b10], Some(0b01)),
        ([0, 0b10, 0], None),
        ([0b11, 0b11, 0], None),
    ];
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let mut dropped = 0;
    for (i, (marks, want)) in cases.iter().enumerate() {
        let k = key(i as u16);
        let mut frags = split(&k, &payload, &[16, 40], false, &[]);
        for (f, &m) in frags.iter_mut().zip(marks) {
            f.header[1] = (f.header[1] & !0b11) | m;
        }
        // The last fragment first: the datagram completes with the first one.
        let outcomes: Vec<Outcome> = frags
            .iter()
            .rev()
            .map(|f| r.push(f.get(), Instant::ZERO))
            .collect();
        match (want, outcomes.last()) {
            (Some(ecn), Some(Outcome::Complete(d))) => {
                assert_eq!(d[1] & 0b11, *ecn, "{marks:?}");
                assert_eq!(d[1] & !0b11, 0x10, "the rest of the TOS kept");
                assert_eq!(checksum(&d[..HEADER_LEN]), 0, "header checksum");
                assert_eq!(&d[HEADER_LEN..], &payload[..]);
            }
            (None, Some(Outcome::Dropped(DropReason::EcnMismatch))) => dropped += 1,
            (_, o) => panic!("{marks:?}: {o:?}"),
        }
    }
    assert_eq!(r.stats().ecn_mismatch, dropped);
    assert_eq!(dropped, 2);
    assert_empty(&r);
}

/// RFC 4963 3: the first half of datagram A waits while its source sends 100 other
/// datagrams (its Identification wraps round at such rates); the second half of a new
/// datagram B with A's key must not complete A. B's half starts afresh.
#[test]
fn a_stale_datagram_is_not_completed_by_a_new_one_with_its_key() {
    let k = key(4963);
    let a = split(&k, &data(16, 1), &[8], false, &[]);
    let b = split(&k, &data(16, 2), &[8], false, &[]);
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let t = Instant::ZERO;
    assert_eq!(r.push(a[0].get(), t), Outcome::Incomplete);
    for i in 0..100u16 {
        let f = split(&key(i), &data(16, u64::from(i) + 10), &[8], false, &[]);
        feed(&mut r, &f, &[0, 1], t);
    }
    assert_eq!(r.push(b[1].get(), t), Outcome::Incomplete);
    assert_eq!(r.stats().too_far, 1);
    assert_eq!(r.stats().failures(), 1);
    let out = match r.push(b[0].get(), t) {
        Outcome::Complete(out) => out,
        other => panic!("{other:?}"),
    };
    assert_eq!(&out[HEADER_LEN..], &data(16, 2)[..]);
}

/// Up to `max_dist` fragments from the source in between are fine; other sources' do not
/// count; 0 turns the check off.
#[test]
fn the_distance_counts_fragments_from_the_same_source_only() {
    let k = key(7);
    let whole = data(16, 7);
    let a = split(&k, &whole, &[8], false, &[]);
    let elsewhere = |i: u16| FragKey {
        src: Ipv4Addr::new(10, 0, 0, 9),
        ..key(i)
    };
    for (max_dist, same_source, other_source) in [(64, 63, 500), (0, 500, 0), (3, 2, 50)] {
        let mut r = Reassembler::new(ReassemblyConfig {
            max_dist,
            ..ReassemblyConfig::default()
        });
        let t = Instant::ZERO;
        assert_eq!(r.push(a[0].get(), t), Outcome::Incomplete);
        // Each other datagram: two fragments, the second completing it.
        for i in 0..same_source / 2 {
            let f = split(&key(100 + i), &data(16, 3), &[8], false, &[]);
            feed(&mut r, &f, &[0, 1], t);
        }
        if same_source % 2 == 1 {
            let f = split(&key(99), &data(24, 3), &[8], false, &[]);
            assert_eq!(r.push(f[0].get(), t), Outcome::Incomplete);
        }
        for i in 0..other_source / 2 {
            let f = split(&elsewhere(i), &data(16, 4), &[8], false, &[]);
            feed(&mut r, &f, &[0, 1], t);
        }
        match r.push(a[1].get(), t) {
            Outcome::Complete(out) => assert_eq!(&out[HEADER_LEN..], &whole[..]),
            other => panic!("max_dist {max_dist}: {other:?}"),
        }
        assert_eq!(r.stats().too_far, 0);
    }
    // One more than the distance: stale.
    let mut r = Reassembler::new(ReassemblyConfig {
        max_dist: 3,
        ..ReassemblyConfig::default()
    });
    let t = Instant::ZERO;
    assert_eq!(r.push(a[0].get(), t), Outcome::Incomplete);
    for i in 0..2 {
        let f = split(&key(100 + i), &data(16, 3), &[8], false, &[]);
        feed(&mut r, &f, &[0, 1], t);
    }
    assert_eq!(r.push(a[1].get(), t), Outcome::Incomplete);
    assert_eq!(r.stats().too_far, 1);
}
