#!/usr/bin/env bash
# Median RTT of 200 kernel pings at 2 ms intervals, in one run:
#   1. to the stack (tapip, TOP2 defaults), and
#   2. the baseline: the kernel pinging another namespace's kernel through a user-space TAP
#      forwarder (netif/examples/tap_forwarder.rs), the cheapest way through user space.
# Repeats RUNS times (default 5) and prints each run's medians and the median of medians.
# Needs root; everything happens in namespaces this script creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --bins --examples -q
target=${CARGO_TARGET_DIR:-target}/release
ns="tapip-bench-$$"; nsa="$ns-a"; nsb="$ns-b"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for n in "$ns" "$nsa" "$nsb"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
for n in "$ns" "$nsa" "$nsb"; do ip netns add "$n"; ip netns exec "$n" ip link set lo up; done

median() { grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -n | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]*1000}'; }

# The stack.
ip netns exec "$ns" "$target/tapip" -c wait >/dev/null 2>&1 &
pids+=($!)
# The forwarder: both taps created in nsa, the second moved to nsb.
ip netns exec "$nsa" "$target/examples/tap_forwarder" fwa fwb &
pids+=($!)
sleep 1
ip netns exec "$nsa" ip link set fwb netns "$nsb"
ip netns exec "$nsa" sh -c 'ip addr add 10.0.0.2/24 dev fwa && ip link set fwa up && sysctl -qw net.ipv6.conf.fwa.disable_ipv6=1'
ip netns exec "$nsb" sh -c 'ip addr add 10.0.0.3/24 dev fwb && ip link set fwb up && sysctl -qw net.ipv6.conf.fwb.disable_ipv6=1'
ip netns exec "$ns" ping -q -c 5 10.0.0.1 >/dev/null
ip netns exec "$nsa" ping -q -c 5 10.0.0.3 >/dev/null

stack=(); fwd=()
for i in $(seq "$RUNS"); do
    s=$(ip netns exec "$ns" ping -c 200 -i 0.002 10.0.0.1 | median)
    f=$(ip netns exec "$nsa" ping -c 200 -i 0.002 10.0.0.3 | median)
    echo "run $i: stack ${s} us, forwarder ${f} us"
    stack+=("$s"); fwd+=("$f")
done
mm() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median of medians: stack $(mm "${stack[@]}") us, forwarder $(mm "${fwd[@]}") us"
