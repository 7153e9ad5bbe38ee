//! UDP between applications on the stack and programs on the Linux kernel's side of a real
//! TAP device (TOP2), each test in a network namespace of its own.

use std::time::Duration;
use tests::{eventually, top2, Proc, TempDir, SECS};

/// 1,000 datagrams of random sizes (1-1472 bytes, and every 50th 8,000 or 65,000 bytes)
/// through an echo service, each checked byte for byte; a lost one is sent again (UDP may
/// lose), at most 3 times.
const ECHO_PY: &str = r#"
import random, socket, sys
random.seed(7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.settimeout(2)
s.connect(("10.0.0.1", 7))
big = 0
for i in range(1000):
    if i % 50 == 49:
        size = 8000 if (i // 50) % 2 else 65000
        big += 1
    else:
        size = random.randint(1, 1472)
    msg = bytes([(i + j) % 251 for j in range(size)])
    for attempt in range(3):
        s.send(msg)
        try:
            back = s.recv(70000)
        except socket.timeout:
            continue
        if back != msg:
            print("MISMATCH", i, size, len(back)); sys.exit(1)
        break
    else:
        print("LOST", i, size); sys.exit(1)
print("echoed 1000 datagrams, %d large" % big)
"#;

const CLOSED_PY: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.0.0.1", 9999))
s.send(b"anyone?")
try:
    s.recv(100)
    print("NO ERROR")
except ConnectionRefusedError:
    print("ConnectionRefusedError")
"#;

#[test]
fn python_client_echoes_1000_datagrams_through_serve_echo() {
    let (ns, mut t) = top2("uecho", &[]);
    t.cmd("serve echo -u -p 7");
    t.wait_for("serve echo", SECS(5));
    let dir = TempDir::new("uecho");
    let script = dir.path("echo.py");
    std::fs::write(&script, ECHO_PY).unwrap();
    let (ok, out) = ns.sh_text(&format!("python3 {}", script.display()));
    assert!(
        ok && out.contains("echoed 1000 datagrams, 20 large"),
        "{out}\n{}",
        t.output()
    );
    t.cmd("stat");
    let out = t.wait_for("udp       rx=", SECS(5));
    let delivered: u64 = out
        .split("udp       rx=")
        .nth(1)
        .and_then(|l| l.split(" delivered=").nth(1))
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        delivered >= 1000,
        "every datagram was delivered to the service:\n{out}"
    );
}

#[test]
fn python_client_to_a_closed_port_gets_connection_refused() {
    let (ns, _t) = top2("uclosed", &[]);
    let dir = TempDir::new("uclosed");
    let script = dir.path("closed.py");
    std::fs::write(&script, CLOSED_PY).unwrap();
    let (_, out) = ns.sh_text(&format!("python3 {}", script.display()));
    assert!(out.contains("ConnectionRefusedError"), "{out}");
}

#[test]
fn kernel_nc_sends_to_snc_bound_on_the_stack() {
    let (ns, mut t) = top2("uncin", &[]);
    let dir = TempDir::new("uncin");
    let out_file = dir.path("snc-in.txt");
    t.cmd(&format!("snc -u -b 0.0.0.0:6000 -o {}", out_file.display()));
    std::thread::sleep(Duration::from_millis(300));
    let (ok, out) = ns.sh_text("printf 'hello stack\\nsecond line\\n' | nc -u -w1 10.0.0.1 6000");
    assert!(ok, "{out}");
    assert!(
        eventually(SECS(5), || std::fs::read_to_string(&out_file)
            .is_ok_and(|s| s == "hello stack\nsecond line\n")),
        "written as it arrives: {:?}\n{}",
        std::fs::read_to_string(&out_file),
        t.output()
    );
}

#[test]
fn snc_sends_a_file_to_kernel_nc() {
    let (ns, mut t) = top2("uncout", &[]);
    let dir = TempDir::new("uncout");
    let src = dir.path("snc-src.bin");
    let dst = dir.path("nc-got.bin");
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let nc = Proc::spawn(&ns, &format!("nc -u -l 5000 > {}", dst.display()));
    std::thread::sleep(Duration::from_millis(300));
    t.cmd(&format!("snc -u -c 10.0.0.2:5000 -f {}", src.display()));
    let ok = eventually(SECS(10), || {
        std::fs::read(&dst).is_ok_and(|got| got.len() == data.len())
    });
    drop(nc);
    let got = std::fs::read(&dst).unwrap_or_default();
    assert!(
        ok && got == data,
        "nc got {} of {} bytes\n{}",
        got.len(),
        data.len(),
        t.output()
    );
}

#[test]
fn the_stacks_connected_socket_gets_connection_refused() {
    let (_ns, mut t) = top2("urefused", &[]);
    // Nothing listens on the kernel's port 9999: its ICMP port unreachable reaches the
    // connected socket, whose next call fails.
    t.cmd("snc -u -c 10.0.0.2:9999");
    t.cmd("first");
    std::thread::sleep(Duration::from_millis(300));
    t.cmd("second");
    let out = t.wait_for("onnection refused", SECS(5));
    assert!(!out.contains("panicked"), "{out}");
}
