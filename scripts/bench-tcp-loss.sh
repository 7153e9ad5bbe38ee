#!/usr/bin/env bash
# TCP loss recovery against the kernel: RUNS times (default 5), curl in the kernel side's
# namespace downloads a 20 MiB file from the stack's `serve http`, with 10% of the frames
# arriving at each side dropped: nftables (netdev ingress) on the kernel's tap0 and
# `--fault loss=0.1` on the stack's. Prints each run's time and RTO count, and the median.
# Needs root; runs in a namespace it creates and removes. TAPIP_BIN=PATH measures another
# build of the shell (e.g. of another commit) instead of this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
if [ -n "${TAPIP_BIN:-}" ]; then
    bin=$TAPIP_BIN
else
    cargo build --release --bins -q
    bin=${CARGO_TARGET_DIR:-target}/release/tapip
fi
ns="tapip-bench-loss-$$"
tmp=$(mktemp -d /tmp/tapip-bench-loss.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    sleep 0.3
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/www"
head -c 20971520 /dev/urandom > "$tmp/www/big.bin"
cat > "$tmp/loss.nft" <<'NFT'
table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device "tap0" priority 0; policy accept;
        meta protocol ip numgen random mod 100 < 10 drop
    }
}
NFT
times=()
for i in $(seq "$RUNS"); do
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    mkfifo "$tmp/in"
    ip netns exec "$ns" "$bin" --fault "loss=0.1,seed=$i" < "$tmp/in" > "$tmp/out" 2>&1 &
    pid=$!
    exec 3> "$tmp/in"
    echo "serve http -p 80 $tmp/www" >&3
    for _ in $(seq 50); do ip netns exec "$ns" ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 0.5
    ip netns exec "$ns" nft -f "$tmp/loss.nft"
    s=$(date +%s.%N)
    ip netns exec "$ns" curl -s -o "$tmp/got" --max-time 300 http://10.0.0.1/big.bin
    e=$(date +%s.%N)
    cmp -s "$tmp/got" "$tmp/www/big.bin" || { echo "run $i: bytes differ"; exit 1; }
    echo "stat" >&3; sleep 0.5
    exec 3>&-
    wait "$pid" || true; pid=
    rm -f "$tmp/in"
    t=$(echo "$e - $s" | bc)
    rto=$(tr ' ' '\n' < "$tmp/out" | grep '^rto_timeouts=' | cut -d= -f2 || true)
    undos=$(tr ' ' '\n' < "$tmp/out" | grep '^spurious_undos=' | cut -d= -f2 || true)
    echo "run $i: ${t} s, rto_timeouts=${rto:-?} spurious_undos=${undos:-0}"
    times+=("$t")
    ip netns del "$ns"
done
printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print "median:", a[int((NR+1)/2)], "s"}'
