#!/usr/bin/env bash
# `serve http` under load: ApacheBench (`ab`, Debian's apache2-utils) in the kernel side's
# namespace fetches a 4 KiB and a 1 MiB file from the stack's `serve http`, N requests
# (default 20,000) at concurrency C (default 500), a new connection per request (ab's
# HTTP/1.0 without -k); then the same with keep-alive (-k). RUNS (default 3) runs of each:
# a line per run (requests per second, complete/failed/non-2xx counts, latency
# percentiles), the median requests per second, then the job's counters.
# Needs root; runs in a namespace it creates and removes. Installs apache2-utils if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
RUNS=${RUNS:-3}
C=${C:-500}
command -v ab >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2-utils >/dev/null
}
cargo build --release --bins -q
bin=${CARGO_TARGET_DIR:-target}/release/tapip
ns="tapip-bench-serve-$$"
tmp=$(mktemp -d /tmp/tapip-bench-serve.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    sleep 0.3
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/www"
head -c 4096 /dev/urandom > "$tmp/www/4k.bin"
head -c 1048576 /dev/urandom > "$tmp/www/1m.bin"

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
# Each request of ab without -k leaves a connection in TIME-WAIT: plenty of ports.
ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="10000 65000"
mkfifo "$tmp/in"
ip netns exec "$ns" "$bin" < "$tmp/in" > "$tmp/out" 2>&1 &
pid=$!
exec 3> "$tmp/in"
echo "serve http -p 80 $tmp/www" >&3
for _ in $(seq 50); do ip netns exec "$ns" ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1

run() { # name, extra ab flags, path: RUNS runs, one line each, then the medians
    echo "== $1: ab -n $N -c $C $2 http://10.0.0.1$3"
    : > "$tmp/rps"
    for i in $(seq "$RUNS"); do
        ip netns exec "$ns" sh -c "exec ab -q -r -s 60 -n $N -c $C $2 http://10.0.0.1$3" \
            > "$tmp/ab" 2>&1 || true
        done=$(awk '/^Complete requests/ {print $3}' "$tmp/ab")
        failed=$(awk '/^Failed requests/ {print $3}' "$tmp/ab")
        non2xx=$(awk '/^Non-2xx responses/ {print $3}' "$tmp/ab")
        rps=$(awk '/^Requests per second/ {print $4}' "$tmp/ab")
        pct=$(awk '/^ +(50|90|99|100)%/ {printf "p%s %s ms, ", $1, $2}' "$tmp/ab" | tr -d '%')
        [ -n "$rps" ] || { cat "$tmp/ab"; continue; }
        echo "run $i: ${rps} req/s, complete ${done:-?}, failed ${failed:-?}, non-2xx ${non2xx:-0}, ${pct%, }"
        echo "$rps" >> "$tmp/rps"
    done
    sort -g "$tmp/rps" | awk '{a[NR]=$1} END {if (NR) print "median:", a[int((NR+1)/2)], "req/s"}'
}
run "4 KiB, a connection per request" "" /4k.bin
run "1 MiB, a connection per request" "" /1m.bin
run "4 KiB, keep-alive" "-k" /4k.bin
run "1 MiB, keep-alive" "-k" /1m.bin

echo "jobs" >&3
echo "stat" >&3
sleep 1
exec 3>&-
wait "$pid" || true
pid=
echo "== the job and the stack's TCP drops"
grep -E "^\[1\]" "$tmp/out" || true
tr ' ' '\n' < "$tmp/out" | grep -E "^(drop_syn_queue_full|drop_accept_queue_full|time_wait_dropped|rto_timeouts)=" || true
