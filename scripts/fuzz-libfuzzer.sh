#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer on STABLE Rust: the targets of fuzz/ built with the
# same SanitizerCoverage instrumentation cargo-fuzz asks rustc for (stable codegen flags),
# without a sanitizer (the crates forbid unsafe code; panics are what we look for), and
# with overflow checks and debug assertions on.
#
#   bash scripts/fuzz-libfuzzer.sh TARGET [SECONDS] [libFuzzer flags...]
#
# TARGET: stack, tcb, ethernet, arp, ipv4, icmp, udp, tcp, vnet, dns, dhcp or arp_cache. The corpus starts
# from the target's seeds (`--write-seeds` of the tests crate's fuzz example) and grows in
# fuzz/corpus/TARGET, failing inputs land in fuzz/artifacts/TARGET (both ignored by git);
# replay one with `cargo run --profile fuzz -p tests --example fuzz -- --replay TARGET HEX`
# (hex: `xxd -p -c0 FILE`), or run the binary on the file.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:?usage: fuzz-libfuzzer.sh TARGET [SECONDS] [libFuzzer flags...]}
secs=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
triple=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# --target keeps the instrumentation off build scripts, which have no libFuzzer to link.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo build --release --target "$triple" --bin "$target"
mkdir -p "corpus/$target" "artifacts/$target"
# An empty corpus starts from the target's seeds (frames the stack's hosts exchanged, cut
# at the layer the target parses), not from nothing.
if [ -z "$(ls -A "corpus/$target")" ]; then
    cargo run --quiet --release --manifest-path ../Cargo.toml -p tests --example fuzz -- \
        --write-seeds "$target" "corpus/$target"
fi
exec "$CARGO_TARGET_DIR/$triple/release/$target" -max_total_time="$secs" \
    -artifact_prefix="artifacts/$target/" "$@" "corpus/$target"
