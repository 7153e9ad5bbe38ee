//! Micro-benchmarks of ip's hot paths (issue 8): the Internet checksum over a header, a
//! full frame's payload and a 64 KB (TSO-sized) segment, and the IPv4 header parsed with its
//! checksum verified, and emitted. Run by hand: `cargo bench -p ip --bench hot_paths`;
//! nothing asserts on time. Figures in BENCHMARKS.md.

#![forbid(unsafe_code)]

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use ip::checksum;
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use std::net::Ipv4Addr;

fn main() {
    divan::main();
}

/// `checksum::checksum` over LEN bytes: an IPv4 header, an MTU-sized datagram, 64 KB.
#[divan::bench(args = [20, 1500, 65536])]
fn checksum(bencher: Bencher, len: usize) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    bencher
        .counter(BytesCount::new(len))
        .bench_local(|| checksum::checksum(black_box(&data)));
}

fn repr(payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src: Ipv4Addr::new(10, 0, 0, 2),
        dst: Ipv4Addr::new(10, 0, 0, 1),
        protocol: ipv4::protocol::TCP,
        ttl: 64,
        tos: 0,
        ident: 0x1234,
        dont_fragment: true,
        payload_len,
    }
}

/// What input does with each datagram's header: check it (lengths, version, checksum) and
/// read the fields the layer routes on.
#[divan::bench]
fn ipv4_parse(bencher: Bencher) {
    let mut d = vec![0u8; 1500];
    repr(1480).emit(&mut d, 0, false);
    bencher.bench_local(|| {
        let p = Ipv4Packet::new_checked(black_box(&d)).expect("a valid header");
        (
            p.verify_checksum(),
            p.src(),
            p.dst(),
            p.protocol(),
            p.is_fragment(),
            p.payload().len(),
        )
    });
}

/// A 20-byte header with its checksum in front of a payload already in place.
#[divan::bench]
fn ipv4_emit(bencher: Bencher) {
    let mut d = vec![0u8; 1500];
    let r = repr(1480);
    bencher.bench_local(|| black_box(r).emit(black_box(&mut d), 0, false));
}
