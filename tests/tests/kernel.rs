//! The stack against the Linux kernel's own TCP/IP stack over a real TAP device (TOP2), each
//! test in a network namespace of its own.

#![forbid(unsafe_code)]

use std::time::Duration;
use tests::{eventually, top2, Netns, Tapip, TempDir, SECS};

fn assert_ping_ok(out: &str, count: u32) {
    assert!(
        out.contains(&format!("{count} packets transmitted, {count} received")),
        "ping did not get every reply:\n{out}"
    );
}

#[test]
fn kernel_pings_the_stack_with_56_6000_and_65000_bytes() {
    let (ns, _t) = top2("kping", &[]);
    for size in [56, 6000, 65000] {
        let (ok, out) = ns.sh_text(&format!("ping -c 3 -i 0.2 -W 2 -s {size} 10.0.0.1"));
        assert!(ok, "kernel ping -s {size} failed:\n{out}");
        assert_ping_ok(&out, 3);
        assert!(
            out.contains(&format!("{} bytes from 10.0.0.1", size + 8)),
            "{out}"
        );
    }
}

/// RFC 1122 3.2.2.6: Linux's `ping -R` (record route) and `ping -T` (timestamps) get their
/// options back with the stack added, also on a fragmented round trip.
#[test]
fn echo_replies_return_record_route_and_timestamps_to_ping() {
    let (ns, _t) = top2("kpingopt", &[]);
    for size in [56, 3000] {
        let (ok, out) = ns.sh_text(&format!("ping -R -c 1 -W 2 -s {size} 10.0.0.1"));
        assert!(ok, "ping -R -s {size}:\n{out}");
        assert_ping_ok(&out, 1);
        let rr: Vec<&str> = out
            .split("RR:")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .take(3)
            .collect();
        assert_eq!(rr, ["10.0.0.2", "10.0.0.1", "10.0.0.2"], "{out}");
    }
    let (ok, out) = ns.sh_text("ping -T tsandaddr -c 1 -W 2 10.0.0.1");
    assert!(ok, "ping -T:\n{out}");
    assert_ping_ok(&out, 1);
    // The stack's time counts from its own clock, so it is marked as not standard.
    assert!(
        out.lines()
            .any(|l| l.contains("10.0.0.1") && l.contains("absolute not-standard")),
        "{out}"
    );
}

/// A UDP datagram with a malformed option (a record route of length 2), sent by the
/// kernel through a raw socket with its own header; prints the ICMP type, code and pointer
/// that come back, or "none".
const BAD_OPTION_PY: &str = r#"
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
udp = struct.pack("!HHHH", 40000, 9, 12, 0) + b"bad!"
opts = bytes([7, 2, 0, 0])
src, dst = socket.inet_aton("10.0.0.2"), socket.inet_aton("10.0.0.1")
h = struct.pack("!BBHHHBBH4s4s", 0x46, 0, 24 + len(udp), 0x5151, 0, 64, 17, 0, src, dst) + opts
h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(2)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.sendto(h + udp, ("10.0.0.1", 0))
try:
    while True:
        d = icmp.recv(2000)
        m = d[(d[0] & 15) * 4:]
        if m[0] != 0:
            print("icmp", m[0], m[1], m[4]); break
except socket.timeout:
    print("none")
"#;

/// RFC 1122 3.2.2.5: a datagram with a malformed option is answered with an ICMP parameter
/// problem whose pointer names the wrong octet (the option's length, octet 21), which the
/// kernel receives.
#[test]
fn a_malformed_option_gets_a_parameter_problem() {
    let (ns, mut t) = top2("kparam", &[]);
    let script = std::env::temp_dir().join(format!("tapip-param-{}.py", std::process::id()));
    std::fs::write(&script, BAD_OPTION_PY).unwrap();
    let (ok, out) = ns.sh_text(&format!("python3 {}", script.display()));
    let _ = std::fs::remove_file(&script);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "icmp 12 0 21", "type, code, pointer");
    t.cmd("stat");
    let out = t.wait_for("tx_parameter_problems=", SECS(5));
    assert!(out.contains("drop_bad_options=1"), "{out}");
    assert!(out.contains("tx_parameter_problems=1"), "{out}");
}

#[test]
fn arping_is_answered_with_the_stacks_mac() {
    let (ns, _t) = top2("arping", &[]);
    // Debian has two arpings: Habets' (`-i IF`) and iputils' (`-I IF`).
    let (ok, out) = ns.sh_text(
        "arping -c 2 -w 5 -i tap0 10.0.0.1 2>/dev/null || arping -c 2 -w 5 -I tap0 10.0.0.1",
    );
    assert!(ok, "arping failed:\n{out}");
    assert!(out.to_lowercase().contains("00:34:45:67:89:ab"), "{out}");
    // The kernel's own ARP resolves the stack too.
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.1");
    assert!(ok, "{out}");
    let (_, neigh) = ns.sh_text("ip neigh show 10.0.0.1");
    assert!(neigh.contains("00:34:45:67:89:ab"), "{neigh}");
}

#[test]
fn a_custom_mac_and_address_are_used() {
    let (ns, _t) = top2(
        "custom",
        &[
            "--addr",
            "10.9.0.5/16",
            "--host-addr",
            "10.9.0.6/16",
            "--mac",
            "02:11:22:33:44:55",
        ],
    );
    let (ok, out) = ns.sh_text(
        "arping -c 1 -w 5 -i tap0 10.9.0.5 2>/dev/null || arping -c 1 -w 5 -I tap0 10.9.0.5",
    );
    assert!(
        ok && out.to_lowercase().contains("02:11:22:33:44:55"),
        "{out}"
    );
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.9.0.5");
    assert!(ok, "{out}");
}

#[test]
fn stack_pings_the_kernel_with_56_and_6000_bytes() {
    let (_ns, mut t) = top2("sping", &[]);
    t.cmd("ping -c 3 -i 0.2 10.0.0.2");
    let out = t.wait_for("rtt min/avg/max", SECS(10));
    assert_ping_ok(&out, 3);
    assert!(
        out.contains("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time="),
        "{out}"
    );
    t.cmd("ping -c 2 -i 0.2 -s 6000 10.0.0.2");
    let out = t.wait_for("2 packets transmitted", SECS(10));
    assert_ping_ok(&out, 2);
    assert!(out.contains("6008 bytes from 10.0.0.2"), "{out}");
}

#[test]
fn loopback_answers_inside_the_stack() {
    let (_ns, mut t) = top2("lo", &[]);
    t.cmd("ping -c 2 -i 0.2 127.0.0.1");
    let out = t.wait_for("2 packets transmitted", SECS(10));
    assert_ping_ok(&out, 2);
    t.cmd("ping -c 1 127.1.2.3");
    let out = t.wait_for("1 packets transmitted", SECS(10));
    assert!(out.contains("64 bytes from 127.1.2.3"), "{out}");
    t.cmd("ping -c 1 -s 60000 10.0.0.1");
    let out = t.wait_for("--- 10.0.0.1 ping statistics", SECS(10));
    assert!(out.contains("60008 bytes from 10.0.0.1"), "{out}");
}

#[test]
fn arp_failure_gives_destination_host_unreachable() {
    let (_ns, mut t) = top2("arpfail", &[]);
    t.cmd("ping -c 1 -W 8 10.0.0.99");
    let out = t.wait_for("--- 10.0.0.99 ping statistics", SECS(15));
    assert!(
        out.contains("From 10.0.0.1 icmp_seq=1 Destination Host Unreachable"),
        "{out}"
    );
    assert!(
        out.contains("1 packets transmitted, 0 received, +1 errors"),
        "{out}"
    );
    t.cmd("stat");
    let out = t.wait_for("drop_arp_failed=1", SECS(5));
    assert!(out.contains("failures=1"), "{out}");
}

#[test]
fn forwarding_answers_ttl_1_with_time_exceeded_and_sends_a_redirect() {
    let (ns, mut t) = top2("fwd", &["--forward"]);
    // The stack routes 10.0.1.0/24 via 10.0.0.3, a host on the same link as the kernel:
    // the kernel's datagrams would leave the stack by the interface they came in on.
    t.cmd("arp -s 10.0.0.3 02:00:00:00:00:03");
    t.cmd("route add 10.0.1.0/24 via 10.0.0.3");
    t.cmd("route");
    t.wait_for("10.0.1.0", SECS(5));
    ns.sh("ip route add 10.0.1.0/24 via 10.0.0.1 && ip neigh replace 10.0.0.3 lladdr 02:00:00:00:00:03 dev tap0 nud permanent");

    let (_, out) = ns.sh_text("ping -c 1 -W 2 -t 1 10.0.1.5");
    assert!(
        out.contains("From 10.0.0.1 icmp_seq=1 Time to live exceeded"),
        "{out}"
    );

    let (_, out) = ns.sh_text("ping -c 1 -W 1 10.0.1.5");
    let (_, route) = ns.sh_text("ip route get 10.0.1.5");
    assert!(
        route.contains("via 10.0.0.3"),
        "the kernel did not take the redirect:\nping: {out}\nroute get: {route}"
    );
    t.cmd("stat");
    let out = t.wait_for("tx_redirects=", SECS(5));
    assert_eq!(counter(&out, " forwarded="), 1, "{out}");
    assert!(out.contains("tx_time_exceeded=1"), "{out}");
}

#[test]
fn pcap_file_is_read_back_by_tcpdump() {
    let dir = std::env::temp_dir().join(format!("tapip-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("boot.pcap");
    let file2 = dir.join("cmd.pcap");
    let (ns, mut t) = top2("pcap", &["--pcap", file.to_str().unwrap()]);
    let (ok, out) = ns.sh_text("ping -c 2 -i 0.2 10.0.0.1");
    assert!(ok, "{out}");
    t.cmd(&format!("pcap start {}", file2.display()));
    t.wait_for("recording to", SECS(5));
    ns.sh_text("ping -c 1 10.0.0.1");
    t.cmd("pcap stop");
    t.wait_for("stopped recording", SECS(5));
    assert_eq!(t.close_input(SECS(10)), Some(0));
    for (f, requests) in [(&file, 2), (&file2, 1)] {
        let o = std::process::Command::new("tcpdump")
            .args(["-nn", "-r", f.to_str().unwrap()])
            .output()
            .expect("tcpdump");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "tcpdump -r failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            text.matches("ICMP echo request").count(),
            requests,
            "{text}"
        );
        assert_eq!(text.matches("ICMP echo reply").count(), requests, "{text}");
        if f == &file {
            // Recording started with the stack: its gratuitous ARP is the first frame.
            let first = text.lines().next().unwrap_or_default();
            assert!(
                first.contains("ARP, Request who-has 10.0.0.1 tell 10.0.0.1"),
                "{text}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_and_end_of_input_shut_down_cleanly_and_release_the_tap() {
    let (ns, mut t) = top2("term", &[]);
    t.cmd("wait");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(t.terminate(SECS(10)), Some(0), "{}", t.output());
    assert!(
        eventually(SECS(5), || !ns.sh("ip link show tap0").status.success()),
        "tap0 still exists after exit"
    );
    let mut t = Tapip::start(&ns, &[]);
    assert_eq!(t.close_input(SECS(10)), Some(0), "{}", t.output());
}

#[test]
fn bad_input_gets_one_line_errors_and_the_shell_goes_on() {
    let (_ns, mut t) = top2("badinput", &[]);
    let cases = [
        ("frobnicate", "unknown command 'frobnicate'"),
        ("ping", "ping: missing HOST (usage: ping "),
        ("ping 1.2.3.4.5", "invalid address '1.2.3.4.5'"),
        ("ping -c x 10.0.0.2", "ping: -c: invalid count 'x'"),
        ("ping -t 0 10.0.0.2", "ping: -t: invalid TTL '0' (1 to 255)"),
        (
            "ping -t 256 10.0.0.2",
            "ping: -t: invalid TTL '256' (1 to 255)",
        ),
        (
            "snc -b 99999",
            "snc: -b: port 99999 is out of range (0-65535)",
        ),
        ("get http://999.0.0.1/", "get: invalid address '999.0.0.1'"),
        ("get 'http://10.0.0.2/", "unterminated quote"),
        ("ping -z 10.0.0.2", "ping: unknown option '-z'"),
        ("ifconfig nope0", "ifconfig: no such interface 'nope0'"),
        ("ifconfig tap0 mtu 10", "MTU 10 out of range"),
        (
            "route add 10.1.0.0/99 via 10.0.0.2",
            "invalid prefix length '99'",
        ),
        (
            "route add 10.1.0.0/16 via 192.168.7.1",
            "gateway 192.168.7.1 is not on a connected network",
        ),
        ("route del 10.7.0.0/16", "no route to 10.7.0.0/16"),
        (
            "route add 10.0.3.5/24 via 10.0.0.2",
            "route: invalid prefix 10.0.3.5/24: host bits are set",
        ),
        ("arp -s 10.0.0.5 zz:11", "invalid MAC address 'zz:11'"),
        ("arp -d 10.0.0.77", "arp: no entry for 10.0.0.77"),
        ("debug bogus", "debug: unknown layer 'bogus'"),
        (
            "sleep forever",
            "sleep: invalid number of seconds 'forever'",
        ),
        ("help nothing", "help: no such command 'nothing'"),
    ];
    for (line, _) in cases {
        t.cmd(line);
    }
    t.cmd("ping -c 1 10.0.0.2");
    let out = t.wait_for("1 packets transmitted, 1 received", SECS(10));
    for (line, err) in cases {
        assert!(out.contains(err), "'{line}' should say '{err}':\n{out}");
    }
    assert!(!out.contains("panicked"), "{out}");
}

#[test]
fn route_and_interface_changes_take_effect() {
    let (ns, mut t) = top2("cfg", &[]);
    t.cmd("route add default via 10.0.0.2");
    t.cmd("route add 192.168.50.0/24 dev tap0");
    t.cmd("route");
    let out = t.wait_for("192.168.50.0", SECS(5));
    assert!(
        out.contains(
            "0.0.0.0         10.0.0.2        0.0.0.0         UG    0      0        0 tap0\n"
        ),
        "{out}"
    );
    // A neighbour reached by the dev route: ARP resolves it although it is outside 10.0.0.0/24.
    ns.sh("ip addr add 192.168.50.2/24 dev tap0");
    t.cmd("ping -c 1 -W 5 192.168.50.2");
    let out = t.wait_for("--- 192.168.50.2 ping statistics", SECS(10));
    assert!(out.contains("1 packets transmitted, 1 received"), "{out}");
    t.cmd("route del 192.168.50.0/24");
    // Wait until the shell has taken the command (the kernel's ping could otherwise come
    // first and be answered).
    t.run_marked("ifconfig tap0 down");
    let (ok, _) = ns.sh_text("ping -c 1 -W 1 10.0.0.1");
    assert!(!ok, "a down interface must not answer");
    t.run_marked("ifconfig tap0 up");
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.1");
    assert!(ok, "{out}");
    // A new address: the kernel reaches the stack there.
    t.cmd("ifconfig tap0 10.0.0.7/24");
    t.cmd("ifconfig tap0");
    t.wait_for("IPaddr 10.0.0.7", SECS(5));
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.7");
    assert!(ok, "{out}");
}

#[test]
fn debug_traces_each_layer() {
    let (ns, mut t) = top2("debug", &[]);
    t.cmd("debug -n icmp arp");
    t.wait_for("tracing", SECS(5));
    ns.sh("ip neigh flush dev tap0; ping -c 1 10.0.0.1");
    let out = t.wait_for("echo reply", SECS(5));
    assert!(out.contains("echo request"), "{out}");
    assert!(out.contains("who-has 10.0.0.1"), "{out}");
    assert!(!out.contains(" ip   "), "ip was not asked for:\n{out}");
    t.cmd("debug -n -c dev l2 ip");
    t.wait_for("tracing dev,l2,ip", SECS(5));
    ns.sh("ping -c 1 -s 3000 10.0.0.1");
    // Trace lines are printed by their own thread: wait for each, not just the first.
    t.wait_for("dev  tap0 rx", SECS(5));
    t.wait_for("l2   tap0 rx", SECS(5));
    let out = t.wait_for("ip   tap0 tx 10.0.0.1 > 10.0.0.2", SECS(5));
    assert!(out.contains("frag"), "{out}");
    t.cmd("debug -c");
    t.wait_for("tracing off", SECS(5));
    // Let lines already on their way be printed before looking for new ones.
    std::thread::sleep(Duration::from_millis(500));
    let before = t.output().len();
    ns.sh("ping -c 1 10.0.0.1");
    t.cmd("help sleep");
    let out = t.wait_for("usage: sleep", SECS(5));
    assert!(
        !out[before..].contains("tap0 rx"),
        "tracing is off:\n{}",
        &out[before..]
    );
}

/// The value of the counter `name` (e.g. "drop_injected_loss=") in `stat` output; zero
/// counters are not printed, so a missing one reads 0.
fn counter(out: &str, name: &str) -> u32 {
    out.rsplit(name)
        .next()
        .filter(|_| out.contains(name))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn no_permission_for_dev_net_tun_is_one_clear_line() {
    let bin = tests::tapip_bin();
    // Run as `nobody`: no CAP_NET_ADMIN.
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(["--tap", "tapnoperm0", "-c", "exit"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one line, no backtrace: {err}"
    );
    assert!(err.contains("no permission to open /dev/net/tun"), "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
}

#[test]
fn the_fault_option_drops_frames_and_stat_counts_them() {
    let (ns, mut t) = top2("fault", &["--fault", "loss=0.3,seed=5"]);
    let dir = TempDir::new("faultpcap");
    let cap = dir.path("tap.pcap");
    t.run_marked(&format!("pcap start {}", cap.display()));
    let (_, out) = ns.sh_text("ping -c 40 -i 0.02 -W 1 10.0.0.1");
    let received: u32 = out
        .split(" received")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(
        (5..40).contains(&received),
        "30% loss should lose some, not all:\n{out}"
    );
    // Every request the injector did not drop is answered. The replies are counted by the
    // kernel (IcmpInEchoReps, this namespace's own), not by ping: ping gives up about 20 ms
    // after its last request, and a loaded machine can hold the stack back longer, so a
    // late reply would count as lost there although nothing dropped it.
    let replies = || -> u32 {
        let (_, o) = ns.sh_text("nstat -asz IcmpInEchoReps");
        o.lines()
            .find(|l| l.starts_with("IcmpInEchoReps"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let mut seen = String::new();
    let every_loss_injected = eventually(SECS(5), || {
        let out = t.run_marked("stat");
        let lost = counter(&out, "drop_injected_loss=");
        let answered = replies();
        seen = format!("{lost} dropped, {answered} answered; ping: {received} received\n{out}");
        lost + answered == 40 && answered >= received
    });
    assert!(
        every_loss_injected,
        "every lost request was dropped by the injector: {seen}"
    );
    // pcap shows what crossed the TAP: all 40 requests, those the injector dropped too
    // (before, it recorded behind the injector and showed only those the stack got).
    t.run_marked("pcap stop");
    let requests = icmp_types(&std::fs::read(&cap).unwrap_or_default())
        .iter()
        .filter(|&&ty| ty == 8)
        .count();
    assert_eq!(requests, 40, "echo requests in the capture");
}

/// The ICMP types of the IPv4 ICMP messages in a pcap file (Ethernet link type).
fn icmp_types(pcap: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(h) = pcap.get(at..at + 16) {
        let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let Some(f) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        if f.len() > 34 && f[12..14] == [8, 0] && f[23] == 1 {
            let ihl = usize::from(f[14] & 15) * 4;
            if let Some(&ty) = f.get(14 + ihl) {
                out.push(ty);
            }
        }
        at += 16 + len;
    }
    out
}

#[test]
fn a_bad_fault_spec_is_one_clear_line() {
    let o = std::process::Command::new(tests::tapip_bin())
        .args(["--fault", "loss=2", "-c", "exit"])
        .output()
        .expect("run tapip");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--fault") && err.contains("outside 0..=1"),
        "{err}"
    );
}

#[test]
fn sigint_during_a_command_from_a_pipe_ends_the_program() {
    let (_ns, mut t) = top2("sigint2", &[]);
    t.cmd("ping -i 0.2 10.0.0.2");
    t.cmd("ifconfig");
    t.wait_for("icmp_seq=2", SECS(10));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &t.pid().to_string()])
        .status();
    // The ping prints its summary and the program ends (the queued `ifconfig` is not run).
    let code = t.wait_exit(SECS(10));
    let out = t.output();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("--- 10.0.0.2 ping statistics ---"), "{out}");
    assert_eq!(
        out.matches("HWaddr").count(),
        2,
        "one ifconfig at start only:\n{out}"
    );
}

#[test]
fn sigint_ends_a_waiting_shell_cleanly() {
    let (_ns, mut t) = top2("sigint", &[]);
    t.cmd("wait");
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &t.pid().to_string()])
        .status();
    assert_eq!(t.close_input(SECS(10)), Some(0), "{}", t.output());
}

/// Garbage from the wire: random frames, and valid pings and ARP with random bytes flipped,
/// sent from the kernel side with a packet socket. The stack must keep answering.
const FUZZ_PY: &str = r#"
import random, socket, struct, sys
random.seed(int(sys.argv[1]))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("tap0", 0))
dst = bytes.fromhex("003445678 9ab".replace(" ", ""))
src = s.getsockname()[4]
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
def ping(size, frag=0):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + bytes(random.getrandbits(8) for _ in range(size))
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), random.getrandbits(16), frag, 64, 1, 0,
                     socket.inet_aton("10.0.0.2"), socket.inet_aton("10.0.0.1"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst + src + b"\x08\x00" + ip + icmp
def arp():
    return (b"\xff" * 6 + src + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src
            + socket.inet_aton("10.0.0.2") + b"\0" * 6 + socket.inet_aton("10.0.0.1"))
sent = 0
for i in range(4000):
    kind = i % 4
    if kind == 0:
        f = bytes(random.getrandbits(8) for _ in range(random.randint(0, 120)))
    elif kind == 1:
        f = dst + src + random.choice([b"\x08\x00", b"\x08\x06"]) + bytes(random.getrandbits(8) for _ in range(random.randint(0, 100)))
    else:
        f = bytearray(ping(random.randint(0, 200), random.choice([0, 0x2000, 0x2001, 0x4000, 0x00ff])) if kind == 2 else arp())
        for _ in range(random.randint(1, 4)):
            j = random.randrange(14, len(f))
            f[j] = random.getrandbits(8)
        f = bytes(f[:random.randint(14, len(f))])
    if len(f) < 14:
        f = f + b"\0" * (14 - len(f))
    s.send(f)
    sent += 1
print("sent", sent)
"#;

#[test]
fn garbage_from_the_wire_does_not_stop_the_stack() {
    let (ns, mut t) = top2("fuzz", &[]);
    let script = std::env::temp_dir().join(format!("tapip-fuzz-{}.py", std::process::id()));
    std::fs::write(&script, FUZZ_PY).unwrap();
    for seed in 1..=3 {
        let (ok, out) = ns.sh_text(&format!("python3 {} {seed}", script.display()));
        assert!(ok && out.contains("sent 4000"), "{out}");
        // ARP has no checksum: a flipped sender MAC for 10.0.0.2 is, by RFC 826, an update
        // of its entry (the poisoning every ARP host is open to). Forget it; the stack must
        // resolve again and answer.
        t.cmd("arp -d 10.0.0.2");
        let (ok, out) = ns.sh_text("ping -c 2 -i 0.2 -W 2 -s 3000 10.0.0.1");
        if !ok {
            t.cmd("arp");
            t.cmd("stat");
            std::thread::sleep(Duration::from_millis(500));
        }
        assert!(
            ok,
            "the stack stopped answering after garbage (seed {seed}):\n{out}\n{}",
            t.output()
        );
    }
    let _ = std::fs::remove_file(&script);
    t.cmd("stat");
    let out = t.wait_for("icmp ", SECS(5));
    assert!(
        out.contains("drop_bad_checksum="),
        "drops are counted by cause:\n{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    assert_eq!(t.close_input(SECS(10)), Some(0));
}

#[test]
fn top1_attaches_to_an_existing_tap_and_leaves_the_kernel_side_alone() {
    let ns = Netns::new("top1");
    ns.sh("ip tuntap add dev tap0 mode tap && ip addr add 10.0.0.2/24 dev tap0 && ip link set tap0 up");
    let mut t = Tapip::start(&ns, &["--no-host-config", "--gateway", "10.0.0.2"]);
    t.cmd("route -n");
    let out = t.wait_for(" UG ", SECS(5));
    assert!(out.contains("0.0.0.0         10.0.0.2"), "{out}");
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.1");
    assert!(ok, "{out}");
    // The kernel side kept exactly its own address.
    let (_, addrs) = ns.sh_text("ip -4 -o addr show dev tap0");
    assert_eq!(addrs.matches("inet ").count(), 1, "{addrs}");
    assert_eq!(t.close_input(SECS(10)), Some(0));
    // A persistent tap made by `ip tuntap` outlives the stack.
    assert!(ns.sh("ip link show tap0").status.success());
}

#[test]
fn a_tun_device_by_the_taps_name_is_one_clear_line() {
    let ns = Netns::new("istun");
    ns.sh("ip tuntap add dev tap0 mode tun");
    let o = ns
        .command(tests::tapip_bin().to_str().expect("utf-8 path"))
        .args(["-c", "exit"])
        .output()
        .expect("run tapip");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("exists and is not a TAP device"), "{err}");
}

#[test]
fn uring_rx_with_offloads_says_it_has_no_effect() {
    let (_ns, mut t) = top2("urxoff", &["--uring-rx"]);
    t.cmd("stat");
    let out = t.wait_for("dev tap0 io=", SECS(5));
    assert!(out.contains("--uring-rx reads plain frames only"), "{out}");
    assert_eq!(t.close_input(SECS(10)), Some(0));
}

#[test]
fn shutdown_under_traffic_does_not_hang() {
    for signal in ["-TERM", "-INT"] {
        let (ns, mut t) = top2("busy", &[]);
        t.cmd("wait");
        let mut flood = ns
            .command("ping")
            .args(["-q", "-i", "0.002", "-c", "5000", "10.0.0.1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ping");
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::process::Command::new("kill")
            .args([signal, &t.pid().to_string()])
            .status();
        let code = t.close_input(SECS(10));
        let _ = flood.kill();
        let _ = flood.wait();
        assert_eq!(
            code,
            Some(0),
            "tapip did not exit on {signal} under traffic:\n{}",
            t.output()
        );
    }
}

/// Voluntary context switches of each of `pid`'s threads, by name.
fn thread_switches(pid: u32) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let n = status
            .lines()
            .find(|l| l.starts_with("voluntary_ctxt_switches"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        if let Some(n) = n {
            out.push((comm.trim().to_string(), n));
        }
    }
    out
}

#[test]
fn an_idle_stacks_shell_and_device_threads_sleep_and_wake_for_a_ping() {
    let (ns, mut t) = top2("idle", &[]);
    let (ok, out) = ns.sh_text("ping -c 1 -W 2 10.0.0.1");
    assert!(ok, "kernel ping failed:\n{out}");
    std::thread::sleep(Duration::from_millis(200));
    let before = thread_switches(t.pid());
    // Threads that looked at a stop flag every 50 ms would each wake about 20 times here.
    std::thread::sleep(Duration::from_secs(1));
    let after = thread_switches(t.pid());
    // The shell waiting for its next line, its signal thread, and the devices' threads.
    for name in ["tapip", "signals", "tap0-rx", "tap0-tx", "lo-rx", "lo-tx"] {
        let get = |v: &[(String, u64)]| v.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
        let (Some(b), Some(a)) = (get(&before), get(&after)) else {
            panic!("no thread {name} in tapip: {after:?}");
        };
        // Allow for a frame the kernel sends on its own (an ARP probe).
        assert!(a - b <= 3, "{name} woke {} times in an idle second", a - b);
    }
    let (ok, out) = ns.sh_text("ping -c 2 -i 0.2 -W 2 10.0.0.1");
    assert!(ok, "kernel ping after the idle second failed:\n{out}");
    assert_ping_ok(&out, 2);
    t.cmd("quit");
    assert_eq!(
        t.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        t.output()
    );
}

/// The TAP deleted under the running stack (`ip link del`, the kernel detaching its
/// descriptor): the stack says so in one line and stops reading it; the shell goes on. It
/// read the dead descriptor again every 10 ms for as long as it ran, saying nothing, each
/// failure one more `rx_errors`.
#[test]
fn a_deleted_tap_is_said_once_and_no_longer_read() {
    let (ns, mut t) = top2("tapdel", &[]);
    t.run_marked("ifconfig tap0");
    ns.sh("ip link del tap0");
    t.wait_for("the device is gone", SECS(5));
    let errors = |t: &mut Tapip| {
        let out = t.run_marked("ifconfig tap0");
        out.split("RX packets:")
            .nth(1)
            .and_then(|s| s.split("errors:").nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no rx errors in {out}"))
    };
    let before = errors(&mut t);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(errors(&mut t), before, "the dead tap is still read");
    assert_eq!(t.output().matches("the device is gone").count(), 1);
}
