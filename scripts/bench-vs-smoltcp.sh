#!/usr/bin/env bash
# tapip against smoltcp (issue 8), and the kernel's own TCP through a user-space forwarder,
# on identical TAPs with the same kernel client, in one run.
#
# Servers, each in a fresh namespace of its own per session, tap0 with the stack at
# 10.0.0.1/24 and the kernel side at 10.0.0.2/24 (MTU 1500), configured the same way by
# this script:
#   smoltcp    tests/vs-smoltcp (smoltcp from crates.io, not a workspace member): discard
#              on 9, chargen on 19, 1 MiB socket buffers;
#   tapip      `tapip --no-host-config -c "serve discard -p 9; serve chargen -p 19; wait"`
#              (1 MiB socket buffers by default; TAP offloads on: checksum and TSO4,
#              64 KB frames both ways);
#   tapip-nooff  the same with `--no-offload` (plain 1514-byte frames, as smoltcp sees),
#              when `tapip --help` lists that flag;
#   tapip-rw, tapip-nooff-rw  the same two with `--no-uring` (one read/write per frame);
#   tapip-nooff-urx  `--no-offload --uring-rx` (plain frames read through io_uring too);
#   kernel     the kernel's TCP in a second namespace (`tcp_bench kernel-serve`), reached
#              through netif/examples/tap_forwarder.rs (two taps, one thread per direction)
#              with `--offload`: the same offloads as tapip's default;
#   kernel-nooff  the same forwarder with plain frames.
# The client (tests/examples/tcp_bench.rs) is a std::net program in the kernel side's
# namespace: `client-write` to discard for SECS seconds (kernel sends, stack receives),
# `client-read` from chargen for SECS seconds (stack sends, kernel receives). Each session
# also measures ping RTT (200 pings 2 ms apart, median) and the server process's CPU
# (utime + stime from /proc/PID/stat over each transfer; for `kernel`, the forwarder's).
# Sessions alternate (smoltcp, tapip, tapip-nooff, kernel, kernel-nooff) RUNS times;
# MODES="smoltcp tapip-nooff" (say) runs only those.
# BASE=PATH names another build of tapip (say, main's before a change, copied out of the
# target directory) for an A/B: modes `base` and `base-nooff` run it as `tapip` and
# `tapip-nooff` run this build, and the summary adds the ratios of this build to it
# (MODES="base-nooff tapip-nooff" BASE=/tmp/tapip-old for the plain-frame A/B).
#
# SMOLTCP_CC=reno|cubic turns on smoltcp's congestion control (default: none, smoltcp's).
# CLIENT_CC=cubic|bbr|reno sets the kernel client's congestion control on its socket for
# k2s (`tcp_bench client-write ... CC`, TCP_CONGESTION); by default the system's (on the
# VMs of BENCHMARKS.md, BBR, whose pacing caps the offloaded receive; Linux's usual
# default is CUBIC). s2k does not depend on it: there the stack sends.
#
# Prints every session, then per mode and direction min/median/max Gbit/s, the median
# server CPU and CPU seconds per GB, the median ping RTT, and the ratios of each tapip
# mode to smoltcp and to the kernel with the same offloads. Needs root; creates and
# removes its own namespaces.
#   RUNS=5 SECS=5 bash scripts/bench-vs-smoltcp.sh
# PERF_DIR=DIR also records each stack server with `perf record -g` during each transfer
# and writes DIR/MODE-DIR-RUN.txt (the top of `perf report --no-children --sort dso,sym`;
# the .data files stay for `perf report -i` with call graphs). Sampling costs CPU, so the
# figures of such a run are not for the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}; SECS=${SECS:-5}; SMOLTCP_CC=${SMOLTCP_CC:-none}; RUN=0
CLIENT_CC=${CLIENT_CC:-}
if [ -n "${PERF_DIR:-}" ]; then
    command -v perf >/dev/null || { echo "PERF_DIR needs perf (Debian: linux-perf)" >&2; exit 2; }
    mkdir -p "$PERF_DIR"
fi
cargo build --release --bins --examples -q
cargo build --release -q --manifest-path tests/vs-smoltcp/Cargo.toml
target=${CARGO_TARGET_DIR:-target}/release
smol_bin=${CARGO_TARGET_DIR:-tests/vs-smoltcp/target}/release/vs-smoltcp
TAPIP="$target/tapip"; B="$target/examples/tcp_bench"; FWD="$target/examples/tap_forwarder"
HZ=$(getconf CLK_TCK)
MAC=00:34:45:67:89:ab

if [ -n "${MODES:-}" ]; then
    read -ra modes <<< "$MODES"
else
    modes=(smoltcp tapip)
    if "$TAPIP" --help | grep -q -- '--no-offload'; then modes+=(tapip-nooff); fi
    modes+=(kernel kernel-nooff)
fi
for m in "${modes[@]}"; do
    case $m in smoltcp|tapip|tapip-nooff|tapip-rw|tapip-nooff-rw|tapip-nooff-urx|kernel|kernel-nooff) ;;
        base|base-nooff) [ -x "${BASE:-}" ] || { echo "mode $m needs BASE=PATH of a tapip build" >&2; exit 2; } ;;
        *) echo "unknown mode $m" >&2; exit 2 ;;
    esac
done

tmp=$(mktemp -d /tmp/tapip-vs-smoltcp.XXXXXX)
pids=(); nss=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

newns() { ip netns add "$1"; nss+=("$1"); ip netns exec "$1" ip link set lo up; }
# Bring up the kernel side of TAP in NS as ADDR once the server has created the tap.
host_side() {
    local ns=$1 dev=$2 addr=$3
    for _ in $(seq 100); do ip netns exec "$ns" ip link show "$dev" >/dev/null 2>&1 && break; sleep 0.1; done
    ip netns exec "$ns" sh -c "sysctl -qw net.ipv6.conf.$dev.disable_ipv6=1 &&
        ip addr add $addr dev $dev && ip link set $dev up"
}
# Wait until DST answers pings and accepts connections on ports 9 and 19.
ready() {
    local ns=$1 dst=$2
    for _ in $(seq 100); do
        ip netns exec "$ns" ping -q -c 1 -W 1 "$dst" >/dev/null 2>&1 && break; sleep 0.1
    done
    for port in 9 19; do
        for _ in $(seq 100); do
            ip netns exec "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$dst/$port" 2>/dev/null && break
            sleep 0.1
        done
    done
    sleep 0.5
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
field() { tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
# One transfer: ROLE (client-write or client-read) from NS to DST:PORT while measuring
# PID's CPU. Appends "MODE DIR GBPS CPU% CPU_S_PER_GB" to results and echoes a summary.
transfer() {
    local mode=$1 dir=$2 ns=$3 role=$4 dst=$5 pid=$6
    local t0 c0 t1 c1 out gbps bytes
    local perf_pid="" data=""
    if [ -n "${PERF_DIR:-}" ] && [ "${mode#kernel}" = "$mode" ]; then
        data="$PERF_DIR/$mode-$dir-$RUN"
        perf record -q -F 999 -g -p "$pid" -o "$data.data" -- sleep "$SECS" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    t0=$(date +%s.%N); c0=$(ticks "$pid")
    local cc=()
    [ "$role" = client-write ] && [ -n "$CLIENT_CC" ] && cc=("$CLIENT_CC")
    out=$(timeout $((SECS + 30)) ip netns exec "$ns" "$B" "$role" "$dst" "$SECS" "${cc[@]}" || true)
    t1=$(date +%s.%N); c1=$(ticks "$pid")
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || true
        perf report -q -i "$data.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null |
            grep -v '^$' | head -60 > "$data.txt" || true
    fi
    gbps=$(echo "$out" | field gbps); bytes=$(echo "$out" | field bytes)
    if [ -z "$gbps" ]; then echo "  $mode $dir: no result ($out)"; return; fi
    awk -v m="$mode" -v d="$dir" -v g="$gbps" -v b="$bytes" -v c="$((c1 - c0))" -v hz="$HZ" \
        -v t0="$t0" -v t1="$t1" 'BEGIN {
            cpu = c / hz; pct = 100 * cpu / (t1 - t0); pergb = b > 0 ? cpu / (b / 1e9) : 0
            printf "%s %s %s %.0f %.3f\n", m, d, g, pct, pergb
        }' >> "$tmp/results"
    tail -n 1 "$tmp/results" | awk '{printf "  %-11s %-4s %7.3f Gbit/s  server CPU %4s%%  %.3f CPU s/GB\n", $1, $2, $3, $4, $5}'
}
ping_rtt() {
    local mode=$1 ns=$2 dst=$3 us
    us=$(ip netns exec "$ns" ping -c 200 -i 0.002 "$dst" | grep -o 'time=[0-9.]*' | cut -d= -f2 |
        sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.0f", a[int((NR+1)/2)]*1000}')
    echo "$mode ping $us" >> "$tmp/results"
    echo "  $mode ping RTT median ${us:-?} us"
}
# Stop a process this script started, and forget its PID (which may be reused later).
stop() {
    kill -TERM "$1" 2>/dev/null || true
    timeout 10 tail --pid="$1" -f /dev/null || kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local keep=() p
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    pids=("${keep[@]}")
}

# A stack server on tap0 in a fresh namespace.
stack_session() {
    local mode=$1 run=$2 ns="tapip-vs-$$-$1-$2" p
    newns "$ns"
    case $mode in
        smoltcp) ip netns exec "$ns" "$smol_bin" tap0 "$MAC" 10.0.0.1/24 "$SMOLTCP_CC" > "$tmp/server" 2>&1 & ;;
        tapip) ip netns exec "$ns" "$TAPIP" --no-host-config --mac "$MAC" \
            -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
        tapip-nooff) ip netns exec "$ns" "$TAPIP" --no-host-config --no-offload --mac "$MAC" \
            -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
        base) ip netns exec "$ns" "$BASE" --no-host-config --mac "$MAC" \
            -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
        base-nooff) ip netns exec "$ns" "$BASE" --no-host-config --no-offload --mac "$MAC" \
            -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
        tapip-rw) ip netns exec "$ns" "$TAPIP" --no-host-config --no-uring --mac "$MAC" \
            -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
        tapip-nooff-urx) ip netns exec "$ns" "$TAPIP" --no-host-config --no-offload --uring-rx \
            --mac "$MAC" -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
        tapip-nooff-rw) ip netns exec "$ns" "$TAPIP" --no-host-config --no-offload --no-uring \
            --mac "$MAC" -c "serve discard -p 9; serve chargen -p 19; wait" > "$tmp/server" 2>&1 & ;;
    esac
    p=$!; pids+=("$p")
    host_side "$ns" tap0 10.0.0.2/24
    ready "$ns" 10.0.0.1
    ping_rtt "$mode" "$ns" 10.0.0.1
    transfer "$mode" k2s "$ns" client-write 10.0.0.1:9 "$p"
    transfer "$mode" s2k "$ns" client-read 10.0.0.1:19 "$p"
    stop "$p"
    grep -i 'offload' "$tmp/server" | sed 's/^/  server: /' || true
    ip netns del "$ns"
}

# The kernel's TCP between two namespaces through the user-space forwarder.
kernel_session() {
    local mode=$1 run=$2 nsa="tapip-vs-$$-fa-$2" nsb="tapip-vs-$$-fb-$2" f s opt=()
    [ "$mode" = kernel ] && opt=(--offload)
    newns "$nsa"; newns "$nsb"
    ip netns exec "$nsa" "$FWD" "${opt[@]}" fwa fwb > "$tmp/fwd" 2>&1 &
    f=$!; pids+=("$f")
    for _ in $(seq 100); do ip netns exec "$nsa" ip link show fwb >/dev/null 2>&1 && break; sleep 0.1; done
    ip netns exec "$nsa" ip link set fwb netns "$nsb"
    host_side "$nsa" fwa 10.0.0.2/24
    host_side "$nsb" fwb 10.0.0.3/24
    ip netns exec "$nsb" "$B" kernel-serve > "$tmp/kserve" 2>&1 &
    s=$!; pids+=("$s")
    ready "$nsa" 10.0.0.3
    ping_rtt "$mode" "$nsa" 10.0.0.3
    transfer "$mode" k2s "$nsa" client-write 10.0.0.3:9 "$f"
    transfer "$mode" s2k "$nsa" client-read 10.0.0.3:19 "$f"
    [ -s "$tmp/fwd" ] && sed 's/^/  /' "$tmp/fwd"
    stop "$s"; stop "$f"
    ip netns del "$nsa"; ip netns del "$nsb"
}

client_cc=${CLIENT_CC:-"$(cat /proc/sys/net/ipv4/tcp_congestion_control) (the system default)"}
echo "modes: ${modes[*]}; RUNS=$RUNS SECS=$SECS; k2s client congestion control: $client_cc; load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
    RUN=$i
    echo "run $i:"
    for m in "${modes[@]}"; do
        case $m in kernel*) kernel_session "$m" "$i" ;; *) stack_session "$m" "$i" ;; esac
    done
done

# The summary: per mode and direction min/median/max, median CPU, median CPU s/GB, median RTT.
echo
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews absolute figures; compare ratios)"
echo "summary (RUNS=$RUNS SECS=$SECS; k2s = kernel sends, stack receives; s2k = stack sends, kernel receives):"
summ() { # MODE DIR COLUMN -> "min median max" of that column
    awk -v m="$1" -v d="$2" -v c="$3" '$1 == m && $2 == d {print $c}' "$tmp/results" | sort -g |
        awk '{a[NR]=$1} END {if (NR) print a[1], a[int((NR+1)/2)], a[NR]; else print "- - -"}'
}
med() { summ "$@" | cut -d' ' -f2; }
printf '%-12s %-4s %24s %9s %10s\n' mode dir "Gbit/s min/median/max" "CPU %" "CPU s/GB"
for m in "${modes[@]}"; do
    for d in k2s s2k; do
        read -r lo mid hi <<< "$(summ "$m" "$d" 3)"
        printf '%-12s %-4s %8s %7s %7s %9s %10s\n' "$m" "$d" "$lo" "$mid" "$hi" "$(med "$m" "$d" 4)" "$(med "$m" "$d" 5)"
    done
    printf '%-12s ping RTT median of medians %s us\n' "$m" "$(med "$m" ping 3)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else printf "-"}'; }
echo
for m in "${modes[@]}"; do
    case $m in tapip|tapip-rw) same=kernel; older=base ;; tapip-nooff*) same=kernel-nooff; older=base-nooff ;; *) continue ;; esac
    for base in smoltcp "$same" "$older"; do
        [ -n "$(med "$base" k2s 3 | tr -d -)" ] || continue
        echo "$m/$base: k2s $(ratio "$(med "$m" k2s 3)" "$(med "$base" k2s 3)")," \
             "s2k $(ratio "$(med "$m" s2k 3)" "$(med "$base" s2k 3)")," \
             "ping RTT $(ratio "$(med "$m" ping 3)" "$(med "$base" ping 3)")," \
             "CPU/GB k2s $(ratio "$(med "$m" k2s 5)" "$(med "$base" k2s 5)")," \
             "s2k $(ratio "$(med "$m" s2k 5)" "$(med "$base" s2k 5)")"
    done
done
