#!/usr/bin/env bash
# UDP between the stack and the kernel over the TAP (MTU 1500), RUNS times (default 5):
#   kernel -> stack and stack -> kernel at 1472-byte payloads for SECS seconds (default 3):
#   what the sender offered and what the receiver got (datagrams/s and Gbit/s);
#   echo round trip: 1000 64-byte datagrams from a kernel client through `serve echo -u`.
# Prints each run and the medians. Needs root; runs in a namespace it creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}; SECS=${SECS:-3}
cargo build --release --bins --examples -q
target=${CARGO_TARGET_DIR:-target}/release
B="$target/examples/udp_bench"
ns="tapip-bench-udp-$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"; ip netns exec "$ns" ip link set lo up
field() { tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
k2s_off=(); k2s_got=(); k2s_gbps=(); s2k_off=(); s2k_got=(); s2k_gbps=(); rtt=()
for i in $(seq "$RUNS"); do
    ip netns exec "$ns" "$B" stack-sink 9000 "$SECS" > /tmp/udp-sink.$$ 2>&1 &
    p=$!; sleep 1
    off=$(ip netns exec "$ns" "$B" kernel-source 10.0.0.1:9000 1472 "$SECS")
    wait "$p" || true
    got=$(grep datagrams= /tmp/udp-sink.$$)
    k2s_off+=("$(echo "$off" | field pps)"); k2s_got+=("$(echo "$got" | field pps)"); k2s_gbps+=("$(echo "$got" | field gbps)")

    ip netns exec "$ns" "$B" kernel-sink 9000 "$SECS" > /tmp/udp-sink.$$ 2>&1 &
    p=$!; sleep 0.5
    off=$(ip netns exec "$ns" "$B" stack-source 10.0.0.2:9000 1472 "$SECS")
    wait "$p" || true
    got=$(grep datagrams= /tmp/udp-sink.$$)
    s2k_off+=("$(echo "$off" | field pps)"); s2k_got+=("$(echo "$got" | field pps)"); s2k_gbps+=("$(echo "$got" | field gbps)")

    ip netns exec "$ns" target/release/tapip -c 'serve echo -u -p 7; wait' >/dev/null 2>&1 &
    p=$!; sleep 1
    r=$(ip netns exec "$ns" "$B" kernel-echo 10.0.0.1:7 64 1000)
    kill -TERM "$p"; wait "$p" || true
    rtt+=("$(echo "$r" | field median_us)")
    echo "run $i: kernel->stack offered ${k2s_off[-1]} pps, received ${k2s_got[-1]} pps (${k2s_gbps[-1]} Gbit/s);" \
         "stack->kernel offered ${s2k_off[-1]} pps, received ${s2k_got[-1]} pps (${s2k_gbps[-1]} Gbit/s); echo RTT ${rtt[-1]} us"
done
rm -f /tmp/udp-sink.$$
echo "medians: kernel->stack offered $(median "${k2s_off[@]}") pps, received $(median "${k2s_got[@]}") pps ($(median "${k2s_gbps[@]}") Gbit/s);" \
     "stack->kernel offered $(median "${s2k_off[@]}") pps, received $(median "${s2k_got[@]}") pps ($(median "${s2k_gbps[@]}") Gbit/s);" \
     "echo RTT $(median "${rtt[@]}") us"
