#!/usr/bin/env bash
# Run every test of tapip: unit tests, in-memory two-stack tests, and the tests against the
# Linux kernel over a real TAP device (these need root, and create and remove their own
# network namespaces). On Debian, installs the kernel-side tools they use when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in ip:iproute2 ping:iputils-ping arping:arping tcpdump:tcpdump nc:netcat-openbsd \
            nft:nftables python3:python3 ethtool:ethtool kill:procps setpriv:util-linux; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The kernel tests run the real `tapip` binary; build it first.
cargo build --workspace --bins
cargo test --workspace -- --test-threads=2
