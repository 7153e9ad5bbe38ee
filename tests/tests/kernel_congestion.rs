//! Congestion control with the Linux kernel's TCP over a real TAP device: the stack's echo
//! server sends 2 MB back to a kernel client through a link that drops 3% of what reaches
//! the kernel (nftables on its tap's ingress), once with CUBIC (the default) and once with
//! `--tcp-congestion reno`. The stack runs with `--no-offload`, so that the rule drops
//! segments, not 64 KB TSO frames (of which 2 MB make only about 32). The data comes back byte-exact, and `netstat` shows the
//! algorithm of the connection, the losses its sender detected and the threshold they
//! set. Each run in a network namespace of its own.

#![forbid(unsafe_code)]

use tests::{eventually, Netns, Proc, Tapip, TempDir, SECS};

/// 3% of the frames arriving at the kernel's tap0 dropped: the stack's sender loses
/// segments.
const NFT_LOSS: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip numgen random mod 100 < 3 counter drop
    }
}
";

/// A kernel client of the stack's echo server: sends 2 MB (from a thread, so that the echo
/// never waits for it to read), reads them back, says whether they match, then keeps the
/// connection open so that `netstat` can see it.
const CLIENT: &str = r#"
import os, socket, sys, threading, time
data = os.urandom(2_000_000)
s = socket.create_connection(("10.0.0.1", 7))
threading.Thread(target=lambda: s.sendall(data), daemon=True).start()
got = bytearray()
while len(got) < len(data):
    b = s.recv(65536)
    if not b:
        break
    got += b
print("echo ok" if got == data else "echo differs: %d bytes" % len(got), flush=True)
time.sleep(30)
"#;

/// Start the stack with `args`, echo 2 MB to a kernel client over the lossy link, and
/// return the netstat row of the connection.
fn echo_row(tag: &str, args: &[&str]) -> String {
    let ns = Netns::new(tag);
    let args: Vec<&str> = ["--no-offload"].iter().chain(args).copied().collect();
    let mut t = Tapip::start(&ns, &args);
    let dir = TempDir::new(tag);
    ns.nft(&dir, NFT_LOSS);
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let script = dir.path("client.py");
    std::fs::write(&script, CLIENT).expect("write the client");
    let out = dir.path("client.txt");
    let _client = Proc::spawn(
        &ns,
        &format!("python3 {} > {} 2>&1", script.display(), out.display()),
    );
    let said = || std::fs::read_to_string(&out).unwrap_or_default();
    let done = eventually(SECS(120), || said().contains("echo "));
    assert!(
        done,
        "no answer from the client: {}\n{}",
        said(),
        t.output()
    );
    assert!(said().contains("echo ok"), "{}", said());
    let table = t.run_marked("netstat -t");
    table
        .lines()
        .find(|l| l.contains("ESTABLISHED") && l.contains(":7 "))
        .unwrap_or_else(|| panic!("no connection in netstat:\n{table}"))
        .to_string()
}

/// The number after `word ` in a netstat row.
fn field(row: &str, word: &str) -> Option<u64> {
    row.split_whitespace()
        .skip_while(|w| *w != word)
        .nth(1)
        .and_then(|v| v.parse().ok())
}

fn check(row: &str, alg: &str) {
    println!("{row}");
    assert!(row.contains(&format!(" {alg} cwnd ")), "{row}");
    // 3% loss over 2 MB: the sender saw losses, and they set a threshold.
    assert!(field(row, "losses").is_some_and(|n| n > 0), "{row}");
    assert!(field(row, "retrans").is_some_and(|n| n > 0), "{row}");
    assert!(field(row, "ssthresh").is_some(), "{row}");
    assert!(field(row, "cwnd").is_some_and(|n| n > 0), "{row}");
}

#[test]
fn cubic_by_default_to_linux_through_loss() {
    check(&echo_row("cccubic", &[]), "cubic");
}

#[test]
fn reno_when_chosen_to_linux_through_loss() {
    check(&echo_row("ccreno", &["--tcp-congestion", "reno"]), "reno");
}

/// What the kernel's tap0 receives goes through a 20 Mbit/s bottleneck with a queue of
/// up to 200 ms (tbf on an ifb device the tap's ingress is redirected to, in the test's
/// namespace): the stack's segments to Linux queue there, and the round-trip time grows
/// with the queue.
const SHAPE: &str = "set -e
ip link add ifb0 type ifb
ip link set ifb0 up
tc qdisc add dev tap0 handle ffff: ingress
tc filter add dev tap0 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ifb0
tc qdisc add dev ifb0 root tbf rate 20mbit burst 32kbit latency 200ms";

/// `name=N` in `stat`'s output (0 when `stat` leaves it out).
fn counter(stat: &str, name: &str) -> u64 {
    stat.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or(0)
}

/// Send 2 MB to Linux through the shaped queue; the `stat` output after.
fn send_through_a_queue(tag: &str, args: &[&str]) -> String {
    let args: Vec<&str> = ["--no-offload"].iter().chain(args).copied().collect();
    let (ns, mut t) = tests::top2(tag, &args);
    let out = ns.sh(SHAPE);
    assert!(
        out.status.success(),
        "shaping: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = TempDir::new(tag);
    let (src, _) = dir.random_file("src", 2_000_000);
    let dst = dir.path("dst");
    tests::snc_to_kernel_nc(&ns, &mut t, 5001, &src, &dst, SECS(60));
    assert_eq!(tests::sha256_file(&src), tests::sha256_file(&dst));
    let stat = t.run_marked("stat");
    println!("{stat}");
    stat
}

/// HyStart++ (RFC 9406) against Linux: the delay the queue adds ends the stack's slow
/// start (Conservative Slow Start, then congestion avoidance) long before the 200 ms
/// queue overflows, so 2 MB go without a loss. With `--tcp-hystart off` slow start goes
/// on until the queue overflows.
#[test]
fn hystart_leaves_slow_start_before_a_queue_to_linux_overflows() {
    let stat = send_through_a_queue("hystart", &[]);
    assert!(counter(&stat, "hystart_css") >= 1, "{stat}");
    assert!(counter(&stat, "hystart_exits") >= 1, "{stat}");
    assert_eq!(counter(&stat, "retransmits"), 0, "{stat}");
    let stat = send_through_a_queue("hystartoff", &["--tcp-hystart", "off"]);
    assert_eq!(counter(&stat, "hystart_css"), 0, "{stat}");
    assert!(counter(&stat, "retransmits") > 0, "{stat}");
}

/// A path-MTU black hole in front of Linux: datagrams longer than 1,200 bytes from the
/// stack are dropped on the kernel's tap0 (nftables ingress) and no ICMP says why.
const NFT_BLACK_HOLE: &str = "table netdev tapip_black_hole {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip ip length > 1200 counter drop
    }
}
";

/// RFC 2923 2.1 against Linux: the stack's 1,460-byte segments vanish without a
/// "fragmentation needed"; after three timeouts in a row it sends 1,024-byte segments,
/// which pass, and 1 MB arrives byte-exact (without the detection it would stall until
/// the user timeout).
#[test]
fn a_path_mtu_black_hole_to_linux_is_found() {
    let (ns, mut t) = tests::top2("blackhole", &["--no-offload"]);
    let dir = TempDir::new("blackhole");
    ns.nft(&dir, NFT_BLACK_HOLE);
    let (src, _) = dir.random_file("src", 1_000_000);
    let dst = dir.path("dst");
    tests::snc_to_kernel_nc(&ns, &mut t, 5002, &src, &dst, SECS(60));
    assert_eq!(tests::sha256_file(&src), tests::sha256_file(&dst));
    let stat = t.run_marked("stat");
    assert_eq!(counter(&stat, "pmtu_black_holes"), 1, "{stat}");
    assert!(counter(&stat, "rto_timeouts") >= 3, "{stat}");
}
