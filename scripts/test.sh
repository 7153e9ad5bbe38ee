#!/usr/bin/env bash
# Run every test of tapip: unit tests, in-memory two-stack tests, and the tests against the
# Linux kernel over a real TAP device (these need root, and create and remove their own
# network namespaces). On Debian, installs what they need when it is missing: the kernel-side
# tools, a C linker, and a Rust toolchain (through rustup) if there is no cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    echo "installing: $*"
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need=()
for pair in ip:iproute2 nstat:iproute2 ping:iputils-ping arping:arping tcpdump:tcpdump python3:python3 \
            kill:procps setpriv:util-linux script:bsdutils cc:build-essential curl:curl dnsmasq:dnsmasq-base \
            nft:nftables ethtool:ethtool tmux:tmux; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# The tests use OpenBSD netcat's syntax (`nc -u -l PORT`, `nc -z`).
{ nc -h 2>&1 || true; } | grep -qi openbsd || need+=(netcat-openbsd)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# The kernel tests run the real `tapip` binary and the socket-api examples; build them first.
cargo build --workspace --bins --examples
cargo test --workspace -- --test-threads=2
