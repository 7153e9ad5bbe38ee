//! TCP between the stack's shell (`serve`, `snc`, `get`, `netstat`, `debug tcpstate`) and
//! the Linux kernel's own TCP (curl, netcat, Python) over a real TAP device (TOP2), each
//! test in a network namespace of its own.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tests::{eventually, snc_to_kernel_nc, top2, Netns, Proc, Tapip, TempDir, SECS};

/// The size of the bulk transfers.
const MB20: usize = 20 * 1024 * 1024;

/// Run `netstat` and return its rows (and anything else printed meanwhile).
fn netstat(t: &mut Tapip, n: &mut u32) -> String {
    *n += 1;
    t.run_marked("netstat")
}

/// The TCP rows of `netstat` output that are not listeners (connections and TIME-WAIT
/// records).
fn tcp_connections(netstat: &str) -> Vec<&str> {
    netstat
        .lines()
        .filter(|l| l.starts_with("tcp ") && !l.contains(" LISTEN"))
        .collect()
}

fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes, expected {} (first difference at {first:?})",
            got.len(),
            want.len()
        );
    }
}

/// `curl` from the kernel side; `-w` prints the status and size.
fn curl_line(url: &str, out: &Path, max_secs: u32) -> String {
    format!(
        "curl -sS --max-time {max_secs} -o {} -w '%{{http_code}} %{{size_download}}\\n' {url}",
        out.display()
    )
}

#[test]
fn curl_downloads_20_mb_from_serve_http_once_and_five_at_once() {
    let (ns, mut t) = top2("thttp", &[]);
    let dir = TempDir::new("http");
    let (_, data) = dir.random_file("big.bin", MB20);
    t.cmd(&format!("serve http -p 80 {}", dir.root().display()));
    t.wait_for("serve http tcp 0.0.0.0:80", SECS(5));

    let out = dir.path("got.bin");
    let start = Instant::now();
    let (ok, text) = ns.sh_text(&curl_line("http://10.0.0.1/big.bin", &out, 120));
    println!("one curl: {:.2} s", start.elapsed().as_secs_f64());
    assert!(
        ok && text.contains(&format!("200 {MB20}")),
        "{text}\n{}",
        t.output()
    );
    assert_same("curl", &std::fs::read(&out).unwrap_or_default(), &data);
    std::fs::remove_file(&out).unwrap();

    let start = Instant::now();
    let mut curls: Vec<(Proc, PathBuf)> = (0..5)
        .map(|i| {
            let out = dir.path(&format!("got{i}.bin"));
            let p = Proc::spawn(&ns, &curl_line("http://10.0.0.1/big.bin", &out, 180));
            (p, out)
        })
        .collect();
    for (i, (p, out)) in curls.iter_mut().enumerate() {
        let status = p.wait(SECS(200));
        assert!(
            status.is_some_and(|s| s.success()),
            "curl {i} of 5: {status:?}\n{}",
            t.output()
        );
        assert_same(
            &format!("curl {i} of 5"),
            &std::fs::read(&*out).unwrap_or_default(),
            &data,
        );
    }
    println!("five curls at once: {:.2} s", start.elapsed().as_secs_f64());
}

#[test]
fn snc_sends_20_mb_to_kernel_nc_which_ends_on_the_fin() {
    let (ns, mut t) = top2("tncout", &[]);
    let dir = TempDir::new("ncout");
    let (src, data) = dir.random_file("src.bin", MB20);
    let dst = dir.path("nc.bin");
    let since = snc_to_kernel_nc(&ns, &mut t, 5001, &src, &dst, SECS(120));
    assert_same("nc", &std::fs::read(&dst).unwrap_or_default(), &data);
    // A clean end: the summary and no error line.
    std::thread::sleep(Duration::from_millis(200));
    let out = t.output()[since..].to_string();
    assert_eq!(out.matches("snc:").count(), 1, "{out}");
}

const ECHO_PY: &str = r#"
import os, socket, sys, threading
data = os.urandom(int(sys.argv[1]))
s = socket.create_connection(("10.0.0.1", 7), timeout=60)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
th = threading.Thread(target=send)
th.start()
got = bytearray()
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
th.join()
s.close()
print("sent %d received %d %s" % (len(data), len(got), "equal" if got == data else "DIFFERENT"))
"#;

#[test]
fn python_pushes_10_mb_through_serve_echo_and_reads_it_all_back() {
    let (ns, mut t) = top2("techo", &[]);
    let dir = TempDir::new("echo");
    let script = dir.path("echo.py");
    std::fs::write(&script, ECHO_PY).unwrap();
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let n = 10 * 1024 * 1024;
    let start = Instant::now();
    let (ok, out) = ns.sh_text(&format!("timeout 180 python3 {} {n}", script.display()));
    println!("10 MB echoed: {:.2} s", start.elapsed().as_secs_f64());
    assert!(
        ok && out.contains(&format!("sent {n} received {n} equal")),
        "{out}\n{}",
        t.output()
    );
}

/// 20 requests and replies to `serve echo`: counts the frames the stack wrote into the
/// tap (the kernel's tap0 receives them) between the first request and the last reply.
const PINGPONG_PY: &str = r#"
import socket, sys
def frames():
    return int(open("/sys/class/net/tap0/statistics/rx_packets").read())
s = socket.create_connection(("10.0.0.1", 7), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
before = frames()
for i in range(20):
    msg = bytes([65 + i]) * 100
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(4096)
        if not b:
            sys.exit("closed early")
        got += b
    if got != msg:
        sys.exit("different reply")
after = frames()
s.close()
print("frames %d" % (after - before))
"#;

/// An interactive exchange against the kernel: once the stack replies within the
/// delayed-ACK time, each request's ACK rides on its reply (Linux's pingpong mode), not on
/// a quick ACK of its own, so 20 requests draw about 20 frames, not 36.
#[test]
fn an_echo_exchange_with_the_kernel_acks_requests_with_the_replies() {
    let (ns, mut t) = top2("tpong", &[]);
    let dir = TempDir::new("pong");
    let script = dir.path("pong.py");
    std::fs::write(&script, PINGPONG_PY).unwrap();
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let (ok, out) = ns.sh_text(&format!("timeout 60 python3 {}", script.display()));
    let frames: Option<usize> = out
        .lines()
        .find_map(|l| l.strip_prefix("frames "))
        .and_then(|n| n.trim().parse().ok());
    println!("frames written for 20 requests: {frames:?}");
    // The first request still draws a quick ACK; a reply slowed past the delayed-ACK time
    // on a loaded machine may add a few more. Without the mode it is 16 more.
    assert!(
        ok && frames.is_some_and(|n| (20..=27).contains(&n)),
        "{out}\n{}",
        t.output()
    );
}

#[test]
fn get_downloads_20_mb_from_kernel_http_server() {
    let (ns, mut t) = top2("tget", &[]);
    let dir = TempDir::new("get");
    let www = dir.path("www");
    std::fs::create_dir(&www).unwrap();
    let (_, data) = dir.random_file("www/big.bin", MB20);
    let _server = Proc::spawn(
        &ns,
        &format!(
            "python3 -m http.server 8000 --bind 10.0.0.2 --directory {} >/dev/null 2>&1",
            www.display()
        ),
    );
    ns.wait_listening(8000);
    let out = dir.path("got.bin");
    let since = t.output().len();
    let start = Instant::now();
    t.cmd(&format!(
        "get http://10.0.0.2:8000/big.bin -o {}",
        out.display()
    ));
    t.wait_result(
        since,
        &format!("200 OK: {MB20} bytes in"),
        "get:",
        SECS(120),
    );
    println!("get: {:.2} s", start.elapsed().as_secs_f64());
    assert_same("get", &std::fs::read(&out).unwrap_or_default(), &data);
}

const REFUSED_PY: &str = r#"
import socket, time
t = time.monotonic()
try:
    socket.create_connection(("10.0.0.1", 4321), timeout=5)
    print("CONNECTED")
except ConnectionRefusedError:
    print("ConnectionRefusedError after %.3f s" % (time.monotonic() - t))
except Exception as e:
    print("OTHER", repr(e), "after %.3f s" % (time.monotonic() - t))
"#;

#[test]
fn connecting_to_a_closed_port_is_refused_at_once_both_ways() {
    let (ns, mut t) = top2("trefused", &[]);
    // The kernel's client: refused by the stack's RST.
    let (_, out) = ns.sh_text(&format!("python3 -c '{REFUSED_PY}'"));
    let secs: f64 = out
        .split("ConnectionRefusedError after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not refused: {out}"));
    assert!(secs < 1.0, "refused only after {secs} s");
    // At once: the kernel never resent its SYN (a refusal that waited for a retransmission
    // takes 1 s of it). The wall time includes `ip netns exec`, sh and nc starting, so it
    // is only bounded loosely (a stack that does not answer makes nc wait its 5 s).
    let syn_retrans = || -> u64 {
        let (_, o) = ns.sh_text("nstat -asz TcpExtTCPSynRetrans");
        o.lines()
            .find(|l| l.starts_with("TcpExtTCPSynRetrans"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no TcpExtTCPSynRetrans in nstat: {o}"))
    };
    let start = Instant::now();
    let (ok, out) = ns.sh_text("nc -z -w 5 10.0.0.1 4321");
    assert!(!ok, "nc -z found a listener: {out}");
    assert!(
        start.elapsed() < SECS(3),
        "nc -z took {:?}",
        start.elapsed()
    );
    assert_eq!(
        syn_retrans(),
        0,
        "the kernel resent a SYN before the refusal"
    );

    // The stack's client: refused by the kernel's RST.
    let since = t.output().len();
    let start = Instant::now();
    t.cmd("snc -c 10.0.0.2:4322");
    let out = t.wait_result(since, "connection refused", "snc: cannot connect", SECS(10));
    let took = start.elapsed();
    // Loosely by the clock (the pipe's round trip and the shell come on top), exactly by
    // the stack's count of retransmission timeouts: none, so no SYN was sent again.
    assert!(took < SECS(3), "refused only after {took:?}:\n{out}");
    std::thread::sleep(Duration::from_millis(200));
    let out = t.output()[since..].to_string();
    assert_eq!(
        out.trim_end(),
        "snc: cannot connect to 10.0.0.2:4322: connection refused",
        "one line"
    );
    let stat = t.run_marked("stat");
    let rto: u64 = stat
        .split("rto_timeouts=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rto_timeouts in stat:\n{stat}"));
    assert_eq!(
        rto, 0,
        "the stack resent its SYN before the refusal:\n{stat}"
    );
}

/// curl's range and conditional requests against `serve http`: a byte range (206), a
/// download cut short and resumed with `-C -`, and `-z` with a copy newer than the file
/// (304, nothing sent); each result compared byte for byte with the file.
#[test]
fn curl_resumes_a_download_and_asks_for_ranges_and_only_what_changed() {
    let (ns, mut t) = top2("trange", &[]);
    let dir = TempDir::new("range");
    let www = dir.path("www");
    std::fs::create_dir(&www).unwrap();
    let (_, data) = dir.random_file("www/f.bin", 1 << 20);
    t.cmd(&format!("serve http -p 80 {}", www.display()));
    t.wait_for("serve http tcp 0.0.0.0:80", SECS(5));
    let url = "http://10.0.0.1/f.bin";

    let part = dir.path("part.bin");
    let cmd = format!("{} -r 1000-200999", curl_line(url, &part, 60));
    let (ok, text) = ns.sh_text(&cmd);
    assert!(ok && text.contains("206 200000"), "{text}\n{}", t.output());
    assert_same(
        "range",
        &std::fs::read(&part).unwrap(),
        &data[1000..201_000],
    );

    // A download that stopped at 300,000 bytes, resumed.
    let resumed = dir.path("resumed.bin");
    std::fs::write(&resumed, &data[..300_000]).unwrap();
    let cmd = format!("{} -C -", curl_line(url, &resumed, 60));
    let (ok, text) = ns.sh_text(&cmd);
    assert!(ok && text.contains("206 748576"), "{text}\n{}", t.output());
    assert_same("resumed", &std::fs::read(&resumed).unwrap(), &data);

    // The copy just written is newer than the file: not modified, no body.
    let again = dir.path("again.bin");
    let cmd = format!("{} -z {}", curl_line(url, &again, 60), resumed.display());
    let (ok, text) = ns.sh_text(&cmd);
    assert!(ok && text.contains("304 0"), "{text}\n{}", t.output());
}

#[test]
fn no_connection_is_left_once_time_wait_has_passed() {
    // 6 s: the first netstat below must still see the TIME-WAIT record, after nc's end,
    // the comparison of 2 MB and netstat's own round trip (3 s could run out on a loaded
    // machine); far below the default of 60 s, which the end still tells apart.
    let (ns, mut t) = top2("ttw", &["--tcp-time-wait", "6"]);
    let dir = TempDir::new("tw");
    let www = dir.path("www");
    std::fs::create_dir(&www).unwrap();
    let (src, data) = dir.random_file("www/f.bin", 2 << 20);
    t.cmd(&format!("serve http -p 80 {}", www.display()));
    t.wait_for("serve http tcp 0.0.0.0:80", SECS(5));
    t.cmd("serve daytime");
    t.wait_for("serve daytime tcp 0.0.0.0:13", SECS(5));
    let mut n = 0;

    // The stack closes first: snc sends its FIN after the file; nc closes on it.
    let got = dir.path("nc.bin");
    let mut nc = Proc::spawn(&ns, &format!("nc -l 5002 > {}", got.display()));
    ns.wait_listening(5002);
    let since = t.output().len();
    t.cmd(&format!("snc -c 10.0.0.2:5002 -f {}", src.display()));
    t.wait_result(since, "snc: sent 2097152 bytes", "snc:", SECS(60));
    assert!(nc.wait(SECS(10)).is_some_and(|s| s.success()));
    assert_same("nc", &std::fs::read(&got).unwrap_or_default(), &data);
    let rows = netstat(&mut t, &mut n);
    assert!(
        rows.lines()
            .any(|l| l.contains("10.0.0.2:5002") && l.contains("TIME_WAIT")),
        "the side that closed first is in TIME-WAIT:\n{rows}"
    );
    // And a service that closes first: daytime answers and closes.
    let (ok, out) = ns.sh_text("nc -w 5 10.0.0.1 13 < /dev/null");
    assert!(ok && out.trim().len() > 5, "daytime: {out}");

    // The kernel closes first: curl after its response; python's HTTP/1.0 server after
    // sending the file to `get`.
    let out = dir.path("curl.bin");
    let (ok, text) = ns.sh_text(&curl_line("http://10.0.0.1/f.bin", &out, 60));
    assert!(ok && text.contains("200 2097152"), "{text}");
    assert_same("curl", &std::fs::read(&out).unwrap_or_default(), &data);
    let _server = Proc::spawn(
        &ns,
        &format!(
            "python3 -m http.server 8000 --bind 10.0.0.2 --directory {} >/dev/null 2>&1",
            www.display()
        ),
    );
    ns.wait_listening(8000);
    let out = dir.path("get.bin");
    let since = t.output().len();
    t.cmd(&format!(
        "get http://10.0.0.2:8000/f.bin -o {}",
        out.display()
    ));
    t.wait_result(since, "200 OK: 2097152 bytes", "get:", SECS(60));
    assert_same("get", &std::fs::read(&out).unwrap_or_default(), &data);

    // TIME-WAIT is 6 s: everything is gone a little after that.
    let start = Instant::now();
    let mut rows = String::new();
    let gone = eventually(SECS(15), || {
        rows = netstat(&mut t, &mut n);
        tcp_connections(&rows).is_empty()
    });
    assert!(gone, "connections left:\n{rows}");
    println!(
        "no connection left {:.1} s after the last transfer",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(
        rows.lines().filter(|l| l.contains(" LISTEN")).count(),
        2,
        "the services still listen:\n{rows}"
    );
}

/// The transitions `debug tcpstate` printed for the connection `conn` ("A:P > B:Q"), in
/// order.
fn transitions(out: &str, conn: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains(" tcpstate ") && l.contains(&format!("{conn}:")))
        .filter_map(|l| l.split(&format!("{conn}: ")).nth(1))
        .map(str::to_string)
        .collect()
}

const ONE_ECHO_PY: &str = r#"
import socket
s = socket.create_connection(("10.0.0.1", 7), timeout=5)
print("port", s.getsockname()[1])
s.sendall(b"hello")
assert s.recv(100) == b"hello"
s.close()
"#;

#[test]
fn debug_tcpstate_prints_the_transitions_of_a_connection() {
    let (ns, mut t) = top2("tstate", &["--tcp-time-wait", "1"]);
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    t.cmd("debug -n tcpstate");
    t.wait_for("tracing tcpstate", SECS(5));

    // Passive open, and the kernel closes first.
    let (ok, out) = ns.sh_text(&format!("python3 -c '{ONE_ECHO_PY}'"));
    assert!(ok, "{out}");
    let port: u16 = out
        .split("port ")
        .nth(1)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let conn = format!("10.0.0.1:7 > 10.0.0.2:{port}");
    let want = [
        "LISTEN -> SYN-RECEIVED",
        "SYN-RECEIVED -> ESTABLISHED",
        "ESTABLISHED -> CLOSE-WAIT",
        "CLOSE-WAIT -> LAST-ACK",
        "LAST-ACK -> CLOSED",
    ];
    let mut seen = Vec::new();
    let ok = eventually(SECS(5), || {
        seen = transitions(&t.output(), &conn);
        seen.len() >= want.len()
    });
    assert!(ok && seen == want, "{conn}: {seen:?}\n{}", t.output());

    // Active open, and the stack closes first.
    let dir = TempDir::new("state");
    let bye = dir.path("bye.txt");
    std::fs::write(&bye, "bye\n").unwrap();
    let _nc = Proc::spawn(&ns, "nc -l 5003 > /dev/null");
    ns.wait_listening(5003);
    let since = t.output().len();
    t.cmd(&format!("snc -d -c 10.0.0.2:5003 -f {}", bye.display()));
    // The summary comes once the kernel closed too: the stack is then in TIME-WAIT.
    let out = t.wait_result(since, "snc: sent 4 bytes", "snc: cannot", SECS(10));
    let local = out
        .split("snc: ")
        .find_map(|l| {
            l.split(" -> 10.0.0.2:5003")
                .next()
                .filter(|a| a.len() < l.len())
        })
        .unwrap_or_else(|| panic!("snc -d names its address:\n{out}"))
        .to_string();
    let conn = format!("{local} > 10.0.0.2:5003");
    let ok = eventually(SECS(5), || {
        seen = transitions(&t.output(), &conn);
        seen.last().is_some_and(|s| s.ends_with("-> TIME-WAIT"))
    });
    assert!(ok, "{conn}: {seen:?}\n{}", t.output());
    assert_eq!(
        seen[..3],
        [
            "CLOSED -> SYN-SENT",
            "SYN-SENT -> ESTABLISHED",
            "ESTABLISHED -> FIN-WAIT-1"
        ],
        "{conn}: {seen:?}"
    );
    assert!(
        seen[3..].iter().all(|s| [
            "FIN-WAIT-1 -> FIN-WAIT-2",
            "FIN-WAIT-2 -> TIME-WAIT",
            "FIN-WAIT-1 -> CLOSING",
            "CLOSING -> TIME-WAIT",
            "FIN-WAIT-1 -> TIME-WAIT"
        ]
        .contains(&s.as_str())),
        "{conn}: {seen:?}"
    );
}

/// 10% of what arrives at the kernel's tap0 dropped, by nftables on its ingress hook
/// (counted, to check that it dropped).
const NFT_LOSS: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip numgen random mod 100 < 10 counter drop
    }
}
";

/// Start the stack with 10% loss on each side: `--fault` on frames the stack receives,
/// nftables on frames the kernel receives.
fn lossy(tag: &str, seed: u32, dir: &TempDir) -> (Netns, Tapip) {
    let spec = format!("loss=0.1,seed={seed}");
    let (ns, t) = top2(tag, &["--fault", &spec]);
    ns.nft(dir, NFT_LOSS);
    (ns, t)
}

/// Packets the kernel side's nftables rule dropped.
fn nft_dropped(ns: &Netns) -> u64 {
    let (_, out) = ns.sh_text("nft list chain netdev tapip_loss ingress");
    out.split("counter packets ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The stack's `drop_injected_loss` counter.
fn stack_dropped(t: &mut Tapip) -> u64 {
    let since = t.output().len();
    t.cmd("stat");
    t.wait_for("raw       delivered=", SECS(10));
    let out = t.output()[since..].to_string();
    out.split("drop_injected_loss=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn with_10_percent_loss_both_ways_curl_downloads_20_mb_from_serve_http() {
    let dir = TempDir::new("lossy-curl");
    let (ns, mut t) = lossy("tlosscurl", 3, &dir);
    let www = dir.path("www");
    std::fs::create_dir(&www).unwrap();
    let (_, data) = dir.random_file("www/big.bin", MB20);
    t.cmd(&format!("serve http -p 80 {}", www.display()));
    t.wait_for("serve http tcp 0.0.0.0:80", SECS(5));
    let out = dir.path("got.bin");
    let start = Instant::now();
    // curl's own limit is later than ours: a stalled connection is still there to look at.
    let mut curl = Proc::spawn(&ns, &curl_line("http://10.0.0.1/big.bin", &out, 300));
    let status = curl.wait(SECS(240));
    let took = start.elapsed();
    println!("lossy stack -> kernel (curl): {:.1} s", took.as_secs_f64());
    if !status.is_some_and(|s| s.success()) {
        let got = std::fs::metadata(&out).map_or(0, |m| m.len());
        let (_, ss) = ns.sh_text("ss -tin");
        t.cmd("netstat");
        t.cmd("stat");
        std::thread::sleep(Duration::from_millis(500));
        panic!(
            "curl: {status:?} after {took:?}, {got} of {MB20} bytes\nkernel: {ss}\n{}",
            t.output()
        );
    }
    assert_same("curl", &std::fs::read(&out).unwrap_or_default(), &data);
    let (kernel, stack) = (nft_dropped(&ns), stack_dropped(&mut t));
    println!("dropped: {kernel} packets at the kernel, {stack} frames at the stack");
    assert!(kernel > 0 && stack > 0, "both sides lost packets");
}

#[test]
fn with_10_percent_loss_both_ways_get_downloads_20_mb_from_kernel_http_server() {
    let dir = TempDir::new("lossy-get");
    let (ns, mut t) = lossy("tlossget", 4, &dir);
    let www = dir.path("www");
    std::fs::create_dir(&www).unwrap();
    let (_, data) = dir.random_file("www/big.bin", MB20);
    let _server = Proc::spawn(
        &ns,
        &format!(
            "python3 -m http.server 8000 --bind 10.0.0.2 --directory {} >/dev/null 2>&1",
            www.display()
        ),
    );
    ns.wait_listening(8000);
    let out = dir.path("got.bin");
    let since = t.output().len();
    let start = Instant::now();
    t.cmd(&format!(
        "get http://10.0.0.2:8000/big.bin -o {}",
        out.display()
    ));
    let end = Instant::now() + SECS(240);
    let ok = format!("200 OK: {MB20} bytes in");
    let result = loop {
        let o = t.output();
        let new = &o[since..];
        if new.contains(&ok) {
            break Ok(());
        }
        if let Some(l) = new.lines().find(|l| l.starts_with("get:")) {
            break Err(l.to_string());
        }
        if Instant::now() > end {
            break Err("no result within 240 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = start.elapsed();
    println!("lossy kernel -> stack (get): {:.1} s", took.as_secs_f64());
    if let Err(e) = result {
        t.cmd("netstat");
        t.cmd("stat");
        std::thread::sleep(Duration::from_millis(500));
        panic!("get after {took:?}: {e}\n{}", t.output());
    }
    assert_same("get", &std::fs::read(&out).unwrap_or_default(), &data);
    let (kernel, stack) = (nft_dropped(&ns), stack_dropped(&mut t));
    println!("dropped: {kernel} packets at the kernel, {stack} frames at the stack");
    assert!(kernel > 0 && stack > 0, "both sides lost packets");
}

/// The stack's interface MTU lowered in the middle of a transfer to Linux (`ifconfig tap0
/// mtu 1000`): its segments shrink at once and the transfer goes on, byte-exact, with
/// plain frames and with offloads; Linux sees segments of at most 960 bytes (its estimate
/// of our MSS, `TCP_INFO`'s rcv_mss). Before, with plain frames every segment was refused
/// for ever (nothing after the change, a retransmission timer every 200 ms without
/// backoff), and with offloads 1448-byte TSO cuts went on past the MTU.
#[test]
fn an_interface_mtu_lowered_mid_transfer_shrinks_the_segments() {
    for args in [&["--no-offload"][..], &[][..]] {
        let ns = Netns::new("mtudown");
        let mut t = Tapip::start(&ns, args);
        t.cmd("serve chargen -p 19");
        t.wait_for("serve chargen tcp 0.0.0.0:19", SECS(5));
        let reader = Proc::spawn_piped(
            &ns,
            r#"python3 -c '
import socket, struct, time
chars = bytes(range(32, 127))
PERIOD = b"".join((chars * 2)[i:i + 72] + b"\r\n" for i in range(95))
s = socket.socket()
s.settimeout(5)
s.connect(("10.0.0.1", 19))
start = time.monotonic()
off = after = 0
while time.monotonic() - start < 4:
    d = s.recv(65536)
    assert d, "EOF"
    p = off % len(PERIOD)
    exp = (PERIOD[p:] + PERIOD * (len(d) // len(PERIOD) + 2))[:len(d)]
    assert d == exp, "chargen data wrong after byte %d" % off
    off += len(d)
    if time.monotonic() - start > 2.5:
        after += len(d)
rcv_mss = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[20:24])[0]
print("read", off, "after", after, "rcv_mss", rcv_mss)
'"#,
        );
        std::thread::sleep(Duration::from_millis(1500));
        t.run_marked("ifconfig tap0 mtu 1000");
        let (status, out) = reader.output(SECS(15));
        let field = |name: &str| -> u64 {
            out.split_whitespace()
                .skip_while(|w| *w != name)
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        println!("{args:?}: {}", out.trim());
        assert!(
            status.is_some_and(|s| s.success()),
            "{args:?} reader: {out}\n{}",
            t.output()
        );
        assert!(
            field("after") > 1_000_000,
            "{args:?}: the transfer stopped at the MTU change: {out}\n{}",
            t.output()
        );
        assert!(field("rcv_mss") <= 960, "{args:?}: {out}");
    }
}

/// The connection reset by Linux while `snc -c` waits for its data and FIN to be
/// acknowledged (Linux's tiny receive buffer holds them back, its application never
/// reads): snc says the reset and how much was not delivered. Before, the receiving
/// thread took the reset and snc said only "not connected".
#[test]
fn snc_says_a_reset_that_comes_while_it_waits_for_the_acknowledgements() {
    let (ns, mut t) = top2("sncrst", &[]);
    let dir = TempDir::new("sncrst");
    let (src, _) = dir.random_file("f.bin", 200_000);
    let server = Proc::spawn(
        &ns,
        r#"python3 -c '
import socket, struct, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
l.bind(("10.0.0.2", 5010))
l.listen(1)
c, _ = l.accept()
time.sleep(1.5)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
'"#,
    );
    ns.wait_listening(5010);
    let since = t.output().len();
    t.cmd(&format!("snc -c 10.0.0.2:5010 -f {}", src.display()));
    let out = t.wait_result(since, "not delivered", "snc: sent 200000", SECS(20));
    drop(server);
    let line = out
        .lines()
        .find(|l| l.contains("not delivered"))
        .unwrap_or_else(|| panic!("no error line:\n{out}"));
    assert!(
        line.starts_with("snc: connection reset by peer (") && !line.contains("(0 bytes"),
        "{out}"
    );
}
