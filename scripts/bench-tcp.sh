#!/usr/bin/env bash
# TCP between the stack and the kernel over the TAP (MTU 1500), with tests/examples/tcp_bench.rs:
#   RUNS times (default 5): bulk throughput kernel -> stack and stack -> kernel for SECS
#   seconds each (default 5; Gbit/s of payload, measured by the receiver from its first
#   byte to the end), and connections per second of a kernel client against the stack
#   (connect, one request, the answer, close; 5 s);
#   once: the stack's resident memory with 1000 idle established connections (IDLE=1000).
# Prints each run and the medians. Needs root; runs in a namespace it creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}; SECS=${SECS:-5}; IDLE=${IDLE:-1000}
cargo build --release --bins --examples -q
target=${CARGO_TARGET_DIR:-target}/release
B="$target/examples/tcp_bench"
ns="tapip-bench-tcp-$$"
tmp=$(mktemp -d /tmp/tapip-bench-tcp.XXXXXX)
pids=()
cleanup() {
    exec 3>&-
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
# Background roles run as `ip netns exec NS PROG &` (no function or subshell around them):
# `ip netns exec` replaces itself with PROG, so `$!` is PROG's PID.
ip netns add "$ns"; ip netns exec "$ns" ip link set lo up
field() { tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wait until FILE has a line starting with WORD (at most 20 s).
wait_line() {
    for _ in $(seq 200); do grep -q "^$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "no '$2' in $1:" >&2; cat "$1" >&2; return 1
}
# A stack's tap goes away a little after its process ends; the next stack waits for that.
tap_free() {
    for _ in $(seq 100); do ip netns exec "$ns" ip link show tap0 >/dev/null 2>&1 || return 0; sleep 0.1; done
}
limit=$((SECS + 60))

k2s=(); s2k=(); cps=()
for i in $(seq "$RUNS"); do
    # kernel -> stack: the stack's sink, the kernel's source.
    tap_free
    ip netns exec "$ns" "$B" stack-sink 9000 > "$tmp/sink" 2>&1 &
    p=$!; pids+=("$p")
    wait_line "$tmp/sink" ready
    timeout "$limit" ip netns exec "$ns" "$B" kernel-source 10.0.0.1:9000 "$SECS" || true
    timeout "$limit" tail --pid="$p" -f /dev/null || kill "$p" 2>/dev/null || true
    wait "$p" || true
    k2s+=("$(field gbps < "$tmp/sink")")

    # stack -> kernel: the kernel's sink, the stack's source.
    ip netns exec "$ns" "$B" kernel-sink 9001 > "$tmp/sink" 2>&1 &
    p=$!; pids+=("$p")
    wait_line "$tmp/sink" ready
    tap_free
    timeout "$limit" ip netns exec "$ns" "$B" stack-source 10.0.0.2:9001 "$SECS" || true
    timeout "$limit" tail --pid="$p" -f /dev/null || kill "$p" 2>/dev/null || true
    wait "$p" || true
    s2k+=("$(field gbps < "$tmp/sink")")

    # Connections per second: a kernel client against the stack's request-response server.
    tap_free
    ip netns exec "$ns" "$B" stack-rr 9002 > "$tmp/rr" 2>&1 &
    p=$!; pids+=("$p")
    wait_line "$tmp/rr" ready
    r=$(timeout 60 ip netns exec "$ns" "$B" kernel-rr 10.0.0.1:9002 5 || true)
    kill -TERM "$p" 2>/dev/null || true; wait "$p" || true
    cps+=("$(echo "$r" | field per_sec)")
    echo "run $i: kernel->stack ${k2s[-1]:-?} Gbit/s; stack->kernel ${s2k[-1]:-?} Gbit/s;" \
         "kernel client ${cps[-1]:-?} connections/s"
done
echo "medians: kernel->stack $(median "${k2s[@]}") Gbit/s; stack->kernel $(median "${s2k[@]}") Gbit/s;" \
     "kernel client $(median "${cps[@]}") connections/s"

# Memory: IDLE established connections held open by both sides until the fifo closes.
mkfifo "$tmp/hold"
tap_free
ip netns exec "$ns" "$B" stack-idle 9003 "$IDLE" < "$tmp/hold" > "$tmp/idle" 2>&1 &
ps=$!; pids+=("$ps")
exec 3> "$tmp/hold"
wait_line "$tmp/idle" ready
# Not inheriting the writing end (fd 3): closing it must end both.
ip netns exec "$ns" "$B" kernel-idle 10.0.0.1:9003 "$IDLE" < "$tmp/hold" > "$tmp/kidle" 2>&1 3>&- &
pk=$!; pids+=("$pk")
for _ in $(seq 600); do grep -q '^conns=' "$tmp/idle" && break; sleep 0.1; done
if grep -q '^conns=' "$tmp/idle"; then
    m=$(grep '^conns=' "$tmp/idle")
    echo "idle: $(echo "$m" | field conns) established connections: stack RSS" \
         "$(echo "$m" | field rss_before_kib) KiB with one, $(echo "$m" | field rss_after_kib) KiB" \
         "with all ($(echo "$m" | field per_conn_bytes) bytes per connection)"
else
    echo "idle: the connections were not all accepted:"; cat "$tmp/idle" "$tmp/kidle"
fi
exec 3>&-
for p in "$ps" "$pk"; do
    timeout 20 tail --pid="$p" -f /dev/null || kill "$p" 2>/dev/null || true
    wait "$p" || true
done
