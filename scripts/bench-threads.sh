#!/usr/bin/env bash
# Where a receiving stack's CPU goes, thread by thread, and how many frames cross the tap
# each way: an A/B of tapip builds (or smoltcp) finer than bench-vs-smoltcp.sh's.
#
#   ROUNDS=6 bash scripts/bench-threads.sh /tmp/tapip-before target/release/tapip
#
# Each argument is a tapip binary, or the word `smoltcp` (tests/vs-smoltcp). Rounds
# alternate the arguments. Each session: a fresh namespace with the server on tap0
# (`serve discard -p 9; serve chargen -p 19; wait`, 10.0.0.1/24) and the kernel side at
# 10.0.0.2/24; one `tcp_bench client-write` to discard for SECS seconds (kernel sends,
# stack receives) with congestion control CC (default cubic: where the rx thread is the
# limit). Prints one line per session: Gbit/s, frames stack->kernel (ACKs) and
# kernel->stack, CPU ticks (1/CLK_TCK s) of the rx thread, the tx thread and the serving
# job's thread (from /proc/PID/task/*/stat over the transfer), their involuntary context
# switches (rx: preempted) and voluntary ones (tx and job: waits, each ended by a wake-up),
# the server's CPU seconds per GB, and the client's CPU (user + system, % of one
# core over the transfer: with both cores busy, what the client takes limits the rate). OFFLOAD=1 runs tapip with its TAP
# offloads (default: --no-offload, plain frames). PERF=DIR also records each session with
# `perf record -g` (figures of such sessions are not for comparison: sampling costs CPU);
# with PERF_SCHED=1 instead every context switch on the machine (sched:sched_switch), to
# see who takes the rx thread's core. DIR=s2k reads from chargen instead (the stack sends,
# the kernel receives; "frames out" are then the data, "in" the kernel's ACKs).
# Needs root; removes its namespaces on exit.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,18p' "$0"; exit 2; }
ROUNDS=${ROUNDS:-6}; SECS=${SECS:-4}; CC=${CC:-cubic}; OFFLOAD=${OFFLOAD:-0}; DIR=${DIR:-k2s}
case "$DIR" in
    k2s) client_args="client-write 10.0.0.1:9" ;;
    s2k) client_args="client-read 10.0.0.1:19" ;;
    *) echo "DIR is k2s or s2k, not $DIR" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
cargo build --release -q --examples -p tests
target=${CARGO_TARGET_DIR:-target}/release
BENCH="$target/examples/tcp_bench"
smol_bin=${CARGO_TARGET_DIR:-tests/vs-smoltcp/target}/release/vs-smoltcp
for b in "$@"; do
    if [ "$b" = smoltcp ]; then
        cargo build --release -q --manifest-path tests/vs-smoltcp/Cargo.toml
    elif [ ! -x "$b" ]; then
        echo "not an executable: $b" >&2; exit 2
    fi
done
if [ -n "${PERF:-}" ]; then mkdir -p "$PERF"; fi
HZ=$(getconf CLK_TCK)
MAC=00:34:45:67:89:ab
ns=""; pid=""; tmp=$(mktemp -d /tmp/bench-threads.XXXXXX)
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# name vol nonvol ticks, one line per thread of $pid
threads() {
    local t
    for t in /proc/"$pid"/task/*; do
        printf "%s %s %s %s\n" "$(tr ' ' _ < "$t/comm")" \
            "$(awk '/^voluntary_ctxt/ {print $2}' "$t/status")" \
            "$(awk '/^nonvoluntary_ctxt/ {print $2}' "$t/status")" \
            "$(awk '{print $14 + $15}' "$t/stat")"
    done | sort
}
frames() {
    ip netns exec "$ns" cat /sys/class/net/tap0/statistics/rx_packets \
        /sys/class/net/tap0/statistics/tx_packets | tr '\n' ' '
}

session() {
    local who=$1 round=$2 label
    ns="bench-threads-$$-$round"
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    if [ "$who" = smoltcp ]; then
        label=smoltcp
        ip netns exec "$ns" "$smol_bin" tap0 "$MAC" 10.0.0.1/24 none > "$tmp/server" 2>&1 &
    else
        label=$(basename "$who")
        local off=--no-offload
        if [ "$OFFLOAD" = 1 ]; then off=""; fi
        ip netns exec "$ns" "$who" --no-host-config $off --mac "$MAC" \
            -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 100); do ip netns exec "$ns" ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip netns exec "$ns" sh -c "sysctl -qw net.ipv6.conf.tap0.disable_ipv6=1;
        ip addr add 10.0.0.2/24 dev tap0; ip link set tap0 up"
    for _ in $(seq 100); do ip netns exec "$ns" ping -q -c1 -W1 10.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 0.5
    threads > "$tmp/a"; local f0; f0=$(frames)
    local perf_pid=""
    if [ -n "${PERF:-}" ]; then
        if [ -n "${PERF_SCHED:-}" ]; then
            perf record -q -e sched:sched_switch -a -o "$PERF/$label-$round.sched" -- \
                sleep "$((SECS - 1))" > /dev/null 2>&1 &
        else
            perf record -q -g -p "$pid" -o "$PERF/$label-$round.data" -- sleep "$((SECS - 1))" \
                > /dev/null 2>&1 &
        fi
        perf_pid=$!
    fi
    local TIMEFORMAT="%U %S"
    # shellcheck disable=SC2086
    { time ip netns exec "$ns" "$BENCH" $client_args "$SECS" "$CC" > "$tmp/client"; } 2> "$tmp/client-cpu"
    local client; client=$(awk '{printf "%d", ($1 + $2) * 100 / '"$SECS"'}' "$tmp/client-cpu")
    if [ -n "$perf_pid" ]; then wait "$perf_pid"; fi
    threads > "$tmp/b"; local f1; f1=$(frames)
    local bytes; bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$tmp/client")
    local gbps; gbps=$(sed -n 's/.*gbps=\([0-9.]*\).*/\1/p' "$tmp/client")
    # shellcheck disable=SC2086
    set -- $f0 $f1
    join "$tmp/a" "$tmp/b" | awk -v who="$label" -v gbps="$gbps" -v bytes="$bytes" -v hz="$HZ" \
        -v acks=$(($3 - $1)) -v data=$(($4 - $2)) -v client="$client" '
        { d = $7 - $4; tot += d; nv = $6 - $3; v = $5 - $2
          if ($1 ~ /-rx$/) { rx += d; rxnv += nv } else if ($1 ~ /-tx$/) { tx += d; txv += v }
          else if ($1 ~ /^job/) { job += d; jobv += v } }
        END { printf "%-16s %6.2f Gbit/s  frames out %7d in %8d  ticks rx %4d tx %4d job %4d (total %4d)  rx preempted %6d  waits tx %6d job %6d  CPU s/GB %.3f  client CPU %d%%\n",
              who, gbps, acks, data, rx, tx, job, tot, rxnv, txv, jobv, tot / hz / (bytes / 1e9), client }'
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    ip netns del "$ns"; ns=""
}

round=0
for r in $(seq "$ROUNDS"); do
    for who in "$@"; do
        round=$((round + 1))
        session "$who" "$round"
    done
done
