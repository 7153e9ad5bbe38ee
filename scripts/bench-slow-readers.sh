#!/usr/bin/env bash
# Spurious loss probes against slow Linux readers: RUNS times (default 3), four Python
# clients in the kernel side's namespace read the stack's `serve chargen` for 10 s with
# small receive buffers (2-64 KB) and pauses between reads, so the stack's sender keeps
# filling their windows and Linux holds its ACKs. Prints, per run, the stack's
# retransmissions and loss probes and the kernel's count of duplicates it received
# (TcpExtDelayedACKLost: each a retransmission it did not need). No loss on the link:
# every retransmission here is spurious. Needs root; runs in a namespace it creates and
# removes. TAPIP_BIN=PATH measures another build of the shell instead of this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
if [ -n "${TAPIP_BIN:-}" ]; then
    bin=$TAPIP_BIN
else
    cargo build --release --bins -q
    bin=${CARGO_TARGET_DIR:-target}/release/tapip
fi
ns="tapip-bench-slow-$$"
tmp=$(mktemp -d /tmp/tapip-bench-slow.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    sleep 0.3
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
cat > "$tmp/readers.py" <<'PY'
import socket, threading, time
def reader(rcvbuf, chunk, gap, secs):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("10.0.0.1", 19))
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s.recv(chunk)
        time.sleep(gap)
    s.close()
ts = [threading.Thread(target=reader, args=(rb, ch, gap, 10)) for rb, ch, gap in
      [(2048, 512, 0.005), (4096, 1024, 0.01), (8192, 2048, 0.002), (65536, 4096, 0.01)]]
[t.start() for t in ts]
[t.join() for t in ts]
PY
for i in $(seq "$RUNS"); do
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    mkfifo "$tmp/in"
    ip netns exec "$ns" "$bin" < "$tmp/in" > "$tmp/out" 2>&1 &
    pid=$!
    exec 3> "$tmp/in"
    echo "serve chargen -p 19" >&3
    for _ in $(seq 50); do ip netns exec "$ns" ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 1
    ip netns exec "$ns" python3 "$tmp/readers.py"
    dup=$(ip netns exec "$ns" nstat -az TcpExtDelayedACKLost | awk '/TcpExtDelayedACKLost/ {print $2}')
    echo "stat" >&3; sleep 0.5
    exec 3>&-
    wait "$pid" || true; pid=
    rm -f "$tmp/in"
    get() { tr ' ' '\n' < "$tmp/out" | grep "^$1=" | cut -d= -f2 || true; }
    echo "run $i: retransmits=$(get retransmits) loss_probes=$(get loss_probes) dsacks_in=$(get dsacks_in) rto_timeouts=$(get rto_timeouts) kernel_dups=${dup:-?}"
    ip netns del "$ns"
done
