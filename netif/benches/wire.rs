//! Micro-benchmarks of the Ethernet header (issue 8): parsing a received frame's header
//! and emitting one. Run by hand: `cargo bench -p netif --bench wire`; nothing asserts on
//! time. Figures in BENCHMARKS.md.

#![forbid(unsafe_code)]

use divan::black_box;
use netif::ethernet::{self, Frame, Repr};
use netif::MacAddr;

fn main() {
    divan::main();
}

/// A 1514-byte IPv4 frame as the kernel hands it to the stack.
fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 1514];
    Repr {
        dst: MacAddr([0x00, 0x34, 0x45, 0x67, 0x89, 0xab]),
        src: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        ethertype: ethernet::ethertype::IPV4,
    }
    .emit(&mut f);
    f
}

/// Check the length, read the three fields and find the payload.
#[divan::bench]
fn parse(bencher: divan::Bencher) {
    let f = frame();
    bencher.bench_local(|| {
        let frame = Frame::new_checked(black_box(&f)).expect("a whole header");
        (Repr::parse(&frame), frame.payload().len())
    });
}

/// Write a header in front of a payload already in place.
#[divan::bench]
fn emit(bencher: divan::Bencher) {
    let mut f = frame();
    let r = Repr {
        dst: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        src: MacAddr([0x00, 0x34, 0x45, 0x67, 0x89, 0xab]),
        ethertype: ethernet::ethertype::IPV4,
    };
    bencher.bench_local(|| black_box(r).emit(black_box(&mut f)));
}
