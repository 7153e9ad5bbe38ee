//! Fuzz targets for the whole stack, for TCP connections against a peer the input plays
//! (`tcb`), and for each wire parser, written once as plain
//! functions over bytes so that two drivers run them:
//! - `cargo fuzz` (libFuzzer, nightly) through the thin targets in `fuzz/` at the
//!   repository root;
//! - [`driver`], a stable seeded driver: random and mutated inputs from a seeded RNG,
//!   run by CI for a bounded number of inputs (`tests/tests/fuzz.rs`) and for long runs by
//!   `cargo run --profile fuzz -p tests --example fuzz`.
//!
//! A target panics (an `assert!`) when an invariant breaks; anything else is a pass.

pub mod driver;
pub mod frames;
pub mod parsers;
pub mod stack;
pub mod tables;
pub mod tcb;

/// The targets whose input is a sequence of choices (the whole stack, the tables), not a
/// wire format: they get random bytes rather than mutated frames.
pub fn takes_choices(name: &str) -> bool {
    matches!(name, "stack" | "tcb" | "arp_cache")
}

/// A fuzz target: one input, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name.
pub const TARGETS: [(&str, Target); 12] = [
    ("stack", stack::run),
    ("tcb", tcb::run),
    ("ethernet", parsers::ethernet),
    ("arp", parsers::arp),
    ("ipv4", parsers::ipv4),
    ("icmp", parsers::icmp),
    ("udp", parsers::udp),
    ("tcp", parsers::tcp),
    ("vnet", parsers::vnet),
    ("dns", parsers::dns),
    ("dhcp", parsers::dhcp),
    ("arp_cache", tables::arp_cache),
];
