//! TAP offloads against the Linux kernel (issue 8): 20 MB each way between the stack's `snc`
//! and the kernel's netcat, with offloads (the default: `IFF_VNET_HDR` + `TUNSETOFFLOAD`,
//! checksum and TSO4) and with `--no-offload` (plain 1514-byte frames), byte-exact (SHA-256
//! of both ends) and with the device counters of `stat` telling which kind of frames
//! crossed; the same with 10% loss on each side. Each test in a network namespace of its own.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tests::{eventually, sha256_file, snc_to_kernel_nc, Netns, Proc, Tapip, TempDir, SECS};

/// The size of each transfer.
const MB20: usize = 20 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The default: offloads on.
    Offload,
    /// `--no-offload`: writes through io_uring, reads one `read` each.
    Plain,
    /// `--no-offload --uring-rx`: reads through io_uring too.
    PlainUringRx,
    /// `--no-offload --no-uring`: one `read`/`write` system call per frame.
    PlainRw,
}

fn assert_same_file(what: &str, got: &Path, want: &Path, t: &Tapip) {
    let (g, w) = (sha256_file(got), sha256_file(want));
    let len = std::fs::metadata(got).map_or(0, |m| m.len());
    assert_eq!(
        g,
        w,
        "{what}: {len} bytes arrived, SHA-256 differs\n{}",
        t.output()
    );
}

/// 10% of what arrives at the kernel's tap0 dropped, by nftables on its ingress hook.
const NFT_LOSS: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip numgen random mod 100 < 10 counter drop
    }
}
";

/// The stack in a namespace of its own, in `mode`; with `loss`, 10% of the frames each side
/// receives are dropped (`--fault` on the stack's side, nftables on the kernel's).
fn start(tag: &str, mode: Mode, loss: Option<u32>, dir: &TempDir) -> (Netns, Tapip) {
    let ns = Netns::new(tag);
    // Some tests here route the kernel's datagrams through the stack.
    let mut args: Vec<String> = vec!["--forward".into()];
    if mode != Mode::Offload {
        args.push("--no-offload".into());
    }
    if mode == Mode::PlainRw {
        args.push("--no-uring".into());
    }
    if mode == Mode::PlainUringRx {
        args.push("--uring-rx".into());
    }
    if let Some(seed) = loss {
        args.push("--fault".into());
        args.push(format!("loss=0.1,seed={seed}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Tapip::start(&ns, &args);
    if loss.is_some() {
        ns.nft(dir, NFT_LOSS);
    }
    (ns, t)
}

/// The line of `stat` that starts with `line` (e.g. "dev tap0").
fn stat_row(t: &mut Tapip, line: &str) -> String {
    let since = t.output().len();
    t.cmd("stat");
    // The last line of stat, printed after `since`.
    let mut out = String::new();
    let done = eventually(SECS(10), || {
        out = t.output()[since..].to_string();
        out.contains("raw       delivered=")
    });
    assert!(done, "no stat within 10 s:\n{}", t.output());
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with(line))
        .unwrap_or_else(|| panic!("no '{line}' line in stat:\n{}", t.output()))
        .to_string();
    row
}

/// A counter `name=N` of `stat`'s line that starts with `line` (e.g. "dev tap0").
fn stat_counter(t: &mut Tapip, line: &str, name: &str) -> u64 {
    let row = stat_row(t, line);
    let key = format!("{name}=");
    let n = row
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&key))
        .and_then(|n| n.parse().ok());
    match n {
        Some(n) => n,
        // stat leaves out drop counters that are zero.
        None if name.starts_with("drop") => 0,
        None => panic!("no {name} in '{row}'"),
    }
}

/// Kernel -> stack: netcat sends `src` to `snc -b 5000 -o FILE`; returns the file.
fn kernel_to_stack(ns: &Netns, t: &mut Tapip, dir: &TempDir, src: &Path, limit: u64) -> PathBuf {
    let got = dir.path("stack-got.bin");
    let since = t.output().len();
    t.cmd(&format!("snc -b 5000 -w {limit} -o {}", got.display()));
    // snc's listener is the stack's, and the shell may start it after nc's first SYN: an
    // nc that fails (refused, before the listener is up, even after a SYN lost to the 10%
    // loss delayed it past a first check) is started again, for a minute at most.
    let start = Instant::now();
    // -N: shut down the sending side at the end of the file, so snc sees the end.
    let line = format!("nc -N -w {limit} 10.0.0.1 5000 < {}", src.display());
    let mut nc = Proc::spawn(ns, &line);
    let ok = format!("snc: received {MB20} bytes in");
    loop {
        let out = t.output();
        let new = out.get(since..).unwrap_or_default();
        if new.contains(&ok) {
            break;
        }
        if new
            .lines()
            .any(|l| l.starts_with("snc:") && !l.contains(&ok))
        {
            std::thread::sleep(Duration::from_millis(200));
            panic!("snc failed:\n{}", t.output());
        }
        if nc.wait(Duration::ZERO).is_some_and(|s| !s.success()) {
            assert!(
                start.elapsed() < SECS(60),
                "nc could not connect to snc for 60 s\n{}",
                t.output()
            );
            std::thread::sleep(Duration::from_millis(300));
            nc = Proc::spawn(ns, &line);
        }
        assert!(
            start.elapsed() < SECS(limit),
            "timed out waiting for {ok:?}; tapip printed:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("kernel -> stack: {:.2} s", start.elapsed().as_secs_f64());
    let status = nc.wait(SECS(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "nc: {status:?}\n{}",
        t.output()
    );
    got
}

/// Stack -> kernel: `snc -c 10.0.0.2:5001 -f SRC` to `nc -l 5001 > FILE`; returns the file.
fn stack_to_kernel(ns: &Netns, t: &mut Tapip, dir: &TempDir, src: &Path, limit: u64) -> PathBuf {
    let got = dir.path("kernel-got.bin");
    snc_to_kernel_nc(ns, t, 5001, src, &got, SECS(limit));
    got
}

/// `ethtool -k tap0` in the namespace: the offloads the kernel side of the tap has.
fn ethtool_features(ns: &Netns) -> String {
    let (ok, out) = ns.sh_text("ethtool -k tap0");
    assert!(ok, "ethtool -k tap0: {out}");
    out
}

fn feature_on(features: &str, name: &str) -> bool {
    features
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in ethtool -k:\n{features}"))
        .starts_with("on")
}

/// 20 MB each way in `mode`, byte-exact, and the frames that crossed as `mode` says.
fn both_ways(tag: &str, mode: Mode) {
    let dir = TempDir::new(tag);
    let (ns, mut t) = start(tag, mode, None, &dir);
    // The kernel side of the tap: segmentation offload on only when the stack asked for it.
    let features = ethtool_features(&ns);
    let on = mode == Mode::Offload;
    // Which path the tap's frames take: io_uring unless asked not to or refused (the
    // refusal is said once on stderr; CI machines may forbid io_uring).
    let row = stat_row(&mut t, "dev tap0");
    // io_uring for plain frames only (with offloads the copy out of its buffers costs more),
    // for writes, and for reads too when asked.
    let want = match mode {
        _ if t.output().contains("io_uring refused") => "io=rw",
        Mode::Plain => "io=uring-tx",
        Mode::PlainUringRx => "io=uring",
        Mode::Offload | Mode::PlainRw => "io=rw",
    };
    assert!(row.contains(want), "{mode:?}: want {want} in '{row}'");
    // Plain frames: the tap's queue holds a 4 MiB window of them (4096 frames); with
    // offloads the kernel's default is left alone.
    let (_, link) = ns.sh_text("ip link show tap0");
    let qlen: u32 = link
        .split(" qlen ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if on {
        assert!(qlen > 0 && qlen < 4096, "{mode:?}: qlen {qlen}: {link}");
    } else {
        assert_eq!(qlen, 4096, "{mode:?}: {link}");
    }
    assert_eq!(
        feature_on(&features, "tx-tcp-segmentation"),
        on,
        "{mode:?}:\n{features}"
    );
    assert_eq!(
        feature_on(&features, "tx-checksumming"),
        on,
        "{mode:?}:\n{features}"
    );

    let (src, _) = dir.random_file("src.bin", MB20);
    let got = kernel_to_stack(&ns, &mut t, &dir, &src, 120);
    assert_same_file("kernel -> stack", &got, &src, &t);
    let coalesced = stat_counter(&mut t, "dev tap0", "rx_coalesced");
    let partial = stat_counter(&mut t, "dev tap0", "rx_csum_partial");
    println!("{mode:?}: rx_coalesced={coalesced} rx_csum_partial={partial}");

    let got = stack_to_kernel(&ns, &mut t, &dir, &src, 120);
    assert_same_file("stack -> kernel", &got, &src, &t);
    let tso = stat_counter(&mut t, "dev tap0", "tx_tso");
    let tx_partial = stat_counter(&mut t, "dev tap0", "tx_csum_partial");
    println!("{mode:?}: tx_tso={tso} tx_csum_partial={tx_partial}");
    let bad = stat_counter(&mut t, "ip", "drop_bad_offload");
    assert_eq!(bad, 0, "no offload metadata refused");
    if on {
        assert!(coalesced > 0, "the kernel handed over coalesced segments");
        assert!(tso > 0, "the stack handed the kernel TSO frames");
        assert!(partial > 0 && tx_partial > 0, "partial checksums both ways");
    } else {
        assert_eq!(
            (coalesced, tso, partial, tx_partial),
            (0, 0, 0, 0),
            "plain frames only"
        );
    }
}

#[test]
fn with_offloads_20_mb_cross_each_way_in_coalesced_and_tso_frames() {
    both_ways("offon", Mode::Offload);
}

#[test]
fn with_no_offload_20_mb_cross_each_way_in_plain_frames() {
    both_ways("offoff", Mode::Plain);
}

#[test]
fn with_no_offload_and_uring_rx_20_mb_cross_each_way_read_through_io_uring() {
    both_ways("offurx", Mode::PlainUringRx);
}

#[test]
fn with_no_offload_and_no_uring_20_mb_cross_each_way_one_syscall_per_frame() {
    both_ways("offrw", Mode::PlainRw);
}

/// 20 MB each way with 10% loss on each side, byte-exact.
fn lossy_both_ways(tag: &str, mode: Mode, seed: u32) {
    let dir = TempDir::new(tag);
    let (ns, mut t) = start(tag, mode, Some(seed), &dir);
    let (src, _) = dir.random_file("src.bin", MB20);
    let got = kernel_to_stack(&ns, &mut t, &dir, &src, 240);
    assert_same_file("lossy kernel -> stack", &got, &src, &t);
    let got = stack_to_kernel(&ns, &mut t, &dir, &src, 240);
    assert_same_file("lossy stack -> kernel", &got, &src, &t);
    let lost = stat_counter(&mut t, "fault", "drop_injected_loss");
    let (_, nft) = ns.sh_text("nft list chain netdev tapip_loss ingress");
    let kernel_lost: u64 = nft
        .split("counter packets ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!("{mode:?}: dropped {lost} frames at the stack, {kernel_lost} at the kernel");
    assert!(lost > 0 && kernel_lost > 0, "both sides lost frames");
    if mode == Mode::Offload {
        // The fault injector passes coalesced segments on as such (it handed them over
        // as plain frames many times the MTU).
        let coalesced = stat_counter(&mut t, "dev tap0", "rx_coalesced");
        assert!(
            coalesced > 0,
            "no coalesced segment came through the injector"
        );
    }
    let tso = stat_counter(&mut t, "dev tap0", "tx_tso");
    assert_eq!(tso > 0, mode == Mode::Offload, "TSO frames: {tso}");
}

#[test]
fn with_offloads_and_10_percent_loss_20_mb_cross_each_way_byte_exact() {
    lossy_both_ways("offlosson", Mode::Offload, 5);
}

#[test]
fn with_no_offload_and_10_percent_loss_20_mb_cross_each_way_byte_exact() {
    lossy_both_ways("offlossoff", Mode::Plain, 6);
}

/// What the kernel routes through the stack comes with unfinished checksums when offloads
/// are on: the stack completes them and forwards, as it does with plain frames. The stack
/// routes 10.0.1.0/24 via 10.0.0.3, a host (static ARP) on the link the datagrams came in
/// by (the kernel ignores the stack's redirects here); tcpdump on the kernel's side sees
/// them leave the stack with correct checksums.
fn forwards(tag: &str, mode: Mode) {
    let dir = TempDir::new(tag);
    let (ns, mut t) = start(tag, mode, None, &dir);
    t.cmd("arp -s 10.0.0.3 02:00:00:00:00:03");
    t.cmd("route add 10.0.1.0/24 via 10.0.0.3");
    t.cmd("route");
    t.wait_for("10.0.1.0", SECS(5));
    let (ok, out) = ns.sh_text(
        "sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.tap0.accept_redirects=0 && \
         ip route add 10.0.1.0/24 via 10.0.0.1 && \
         ip neigh replace 10.0.0.3 lladdr 02:00:00:00:00:03 dev tap0 nud permanent",
    );
    assert!(ok, "{out}");
    let cap = dir.path("fwd.txt");
    // Capturing before the two datagrams are sent (each only once).
    let mut dump = ns.tcpdump(
        "-l -i tap0 -nn -vv -c 2 'ether dst 02:00:00:00:00:03 and ip'",
        &cap,
    );
    // A UDP datagram and a TCP SYN to a host behind 10.0.0.3 (the SYN last: its
    // retransmission, if any, is not among the two frames captured).
    ns.sh("echo hello | nc -u -w 1 10.0.1.5 9999; nc -z -w 1 10.0.1.5 80");
    let status = dump.wait(SECS(25));
    let text = std::fs::read_to_string(&cap).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "{mode:?}: tcpdump saw no two forwarded datagrams:\n{text}\n{}",
        t.output()
    );
    println!("{mode:?} forwarded:\n{text}");
    assert!(text.contains("10.0.1.5.80: Flags [S]"), "{text}");
    assert!(
        text.contains("10.0.1.5.9999: [udp sum ok] UDP"),
        "{mode:?}: {text}"
    );
    // Both left the stack (TTL decremented) with checksums that verify.
    assert_eq!(text.matches("ttl 63").count(), 2, "{mode:?}: {text}");
    assert!(
        text.contains("cksum 0x") && text.contains("(correct)"),
        "{text}"
    );
    assert!(
        !text.contains("incorrect") && !text.contains("bad"),
        "{text}"
    );
    assert!(stat_counter(&mut t, "ip", "forwarded") >= 2);
    assert_eq!(stat_counter(&mut t, "ip", "drop_bad_offload"), 0);
}

#[test]
fn with_offloads_what_the_kernel_routes_through_the_stack_is_forwarded() {
    forwards("offfwdon", Mode::Offload);
}

#[test]
fn with_no_offload_what_the_kernel_routes_through_the_stack_is_forwarded() {
    forwards("offfwdoff", Mode::Plain);
}

/// 20 MB from the kernel's netcat to a host routed through the stack. The namespace's tap0
/// is bridged (br0, 10.0.0.2) with a veth to a second namespace, the far host (10.0.0.3 on
/// the link, 10.0.1.5 behind it); the kernel routes 10.0.1.0/24 via the stack, which routes
/// it via 10.0.0.3 out of the link it came in on. With offloads, the kernel's TCP crosses
/// the tap coalesced and leaves the stack in TSO frames the kernel cuts for the far host.
fn forwards_bulk(tag: &str, mode: Mode) {
    let dir = TempDir::new(tag);
    let (ns, mut t) = start(tag, mode, None, &dir);
    let far = Netns::new(&format!("{tag}far"));
    let setup = format!(
        "sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.default.accept_redirects=0 && \
         ip addr flush dev tap0 && \
         ip link add br0 type bridge && \
         sysctl -qw net.ipv4.conf.br0.accept_redirects=0 && \
         ip link set tap0 master br0 && \
         ip link add veth0 type veth peer name veth1 netns {far} && \
         ip link set veth0 master br0 && ip link set veth0 up && \
         ip addr add 10.0.0.2/24 dev br0 && ip link set br0 up && \
         ip route add 10.0.1.0/24 via 10.0.0.1",
        far = far.name
    );
    let (ok, out) = ns.sh_text(&setup);
    assert!(ok, "{out}");
    let (ok, out) = far.sh_text(
        "ip addr add 10.0.0.3/24 dev veth1 && ip link set veth1 up && \
         ip addr add 10.0.1.5/32 dev lo",
    );
    assert!(ok, "{out}");
    t.cmd("route add 10.0.1.0/24 via 10.0.0.3");
    t.cmd("route");
    t.wait_for("10.0.1.0", SECS(5));

    let (src, _) = dir.random_file("src.bin", MB20);
    let got = dir.path("far-got.bin");
    let mut sink = Proc::spawn(&far, &format!("nc -l 5000 > {}", got.display()));
    far.wait_listening(5000);
    let start = Instant::now();
    let (ok, out) = ns.sh_text(&format!(
        "timeout 120 nc -N 10.0.1.5 5000 < {}",
        src.display()
    ));
    assert!(ok, "{mode:?}: nc: {out}\n{}", t.output());
    let status = sink.wait(SECS(30));
    println!(
        "{mode:?}: forwarded 20 MB in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    assert!(status.is_some_and(|s| s.success()), "far nc: {status:?}");
    assert_same_file("forwarded", &got, &src, &t);
    let forwarded = stat_counter(&mut t, "ip", "forwarded");
    let coalesced = stat_counter(&mut t, "dev tap0", "rx_coalesced");
    let tso = stat_counter(&mut t, "dev tap0", "tx_tso");
    let bad = stat_counter(&mut t, "ip", "drop_bad_offload");
    println!("{mode:?}: forwarded={forwarded} rx_coalesced={coalesced} tx_tso={tso}");
    assert_eq!(bad, 0);
    assert!(forwarded > 0);
    if mode == Mode::Offload {
        assert!(
            coalesced > 0 && tso > 0,
            "coalesced segments forwarded whole"
        );
    } else {
        assert_eq!((coalesced, tso), (0, 0));
    }
}

#[test]
fn with_offloads_20_mb_routed_through_the_stack_arrive_whole() {
    forwards_bulk("offbulkon", Mode::Offload);
}

#[test]
fn with_no_offload_20_mb_routed_through_the_stack_arrive_whole() {
    forwards_bulk("offbulkoff", Mode::Plain);
}

/// The TCP payload lengths tcpdump reads from a capture file.
fn pcap_tcp_lengths(file: &Path) -> Vec<usize> {
    let o = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(file)
        .arg("tcp")
        .output()
        .expect("tcpdump");
    assert!(
        o.status.success(),
        "tcpdump -r: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.rsplit("length ").next()?.trim().parse().ok())
        .collect()
}

#[test]
fn with_offloads_the_capture_shows_the_large_frames_that_crossed_the_tap() {
    let dir = TempDir::new("pcap");
    let file = dir.path("offload.pcap");
    let ns = Netns::new("offpcap");
    let mut t = Tapip::start(&ns, &["--pcap", file.to_str().expect("utf-8 path")]);
    let (src, _) = dir.random_file("src.bin", MB20);
    let got = kernel_to_stack(&ns, &mut t, &dir, &src, 120);
    assert_same_file("kernel -> stack", &got, &src, &t);
    let got = stack_to_kernel(&ns, &mut t, &dir, &src, 120);
    assert_same_file("stack -> kernel", &got, &src, &t);
    assert_eq!(t.close_input(SECS(20)), Some(0), "{}", t.output());
    let lens = pcap_tcp_lengths(&file);
    let big = lens.iter().filter(|&&n| n > 1460).count();
    let max = lens.iter().copied().max().unwrap_or(0);
    println!(
        "{} TCP frames captured, {big} beyond one segment, the largest {max} bytes of payload",
        lens.len()
    );
    assert!(big > 0, "coalesced and TSO frames are recorded whole");
    assert!(max <= 65_535, "{max}");
    let total: usize = lens.iter().sum();
    assert!(
        total >= 2 * MB20,
        "every byte recorded once at least: {total}"
    );
}

/// A persistent tap that an earlier run left with offloads (the kernel keeps them on the
/// device), opened again with `--no-offload`: the offloads go, or the kernel would hand
/// the stack coalesced segments and partial checksums with no header to say so.
#[test]
fn no_offload_on_a_persistent_tap_turns_off_what_an_earlier_run_left_on() {
    let ns = Netns::new("offpersist");
    let (ok, out) = ns.sh_text("ip tuntap add dev tap0 mode tap");
    assert!(ok, "ip tuntap add: {out}");
    let mut t = Tapip::start(&ns, &[]);
    let tso = |ns: &Netns| feature_on(&ethtool_features(ns), "tcp-segmentation-offload");
    assert!(tso(&ns), "on with offloads");
    assert_eq!(t.close_input(Duration::from_secs(20)), Some(0));
    assert!(tso(&ns), "the kernel keeps them on the persistent tap");
    let mut t = Tapip::start(&ns, &["--no-offload"]);
    assert!(!tso(&ns), "off again with --no-offload");
    assert_eq!(t.close_input(Duration::from_secs(20)), Some(0));
}
