//! Timestamps (RFC 7323) with the Linux kernel's TCP over a real TAP device: negotiated on
//! both kinds of open (seen in a tcpdump capture of the handshake and in the stack's
//! `netstat`; this machine's `ss` 6.1 prints no `ts` even between two kernel sockets, so
//! it is not asked), and a 20 MB transfer with them still byte-exact. Each test in a
//! network namespace of its own.

use std::path::Path;
use std::time::Duration;
use tests::{eventually, snc_to_kernel_nc, Netns, Proc, Tapip, TempDir, SECS};

const MB20: usize = 20 * 1024 * 1024;

/// Capture the SYNs of the handshake on tap0 (tcpdump prints TCP options); started before
/// the connection, waited for after.
fn capture_syns(ns: &Netns, out: &Path) -> Proc {
    let p = Proc::spawn(
        ns,
        &format!(
            "tcpdump -l -nn -i tap0 -c 2 'tcp[tcpflags] & tcp-syn != 0' > {} 2>/dev/null",
            out.display()
        ),
    );
    // tcpdump needs a moment to attach.
    std::thread::sleep(Duration::from_millis(700));
    p
}

fn assert_syns_carry_timestamps(mut p: Proc, out: &Path) {
    assert!(
        p.wait(SECS(10)).is_some_and(|s| s.success()),
        "tcpdump did not see both SYNs"
    );
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let syns: Vec<&str> = text.lines().filter(|l| l.contains("Flags [S")).collect();
    assert_eq!(syns.len(), 2, "{text}");
    for l in &syns {
        assert!(l.contains("TS val"), "no timestamps in: {l}");
    }
}

#[test]
fn linux_answers_the_stacks_timestamps_and_20_mb_arrive_byte_exact() {
    let ns = Netns::new("tsout");
    let mut t = Tapip::start(&ns, &[]);
    let dir = TempDir::new("tsout");
    let (src, data) = dir.random_file("src.bin", MB20);
    let dst = dir.path("dst.bin");
    let cap = dir.path("syn.txt");
    let dump = capture_syns(&ns, &cap);
    snc_to_kernel_nc(&ns, &mut t, 5001, &src, &dst, SECS(120));
    let got = std::fs::read(&dst).unwrap_or_default();
    assert!(got == data, "{} bytes, not the {MB20} sent", got.len());
    assert_syns_carry_timestamps(dump, &cap);
}

#[test]
fn the_stack_answers_linuxs_timestamps_and_netstat_shows_them() {
    let ns = Netns::new("tsin");
    let mut t = Tapip::start(&ns, &[]);
    let dir = TempDir::new("tsin");
    let cap = dir.path("syn-in.txt");
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let dump = capture_syns(&ns, &cap);
    // A client that holds its connection open for a few seconds.
    let pyout = dir.path("py.txt");
    let _py = Proc::spawn(
        &ns,
        &format!(
            "python3 -c 'import socket,time; s=socket.create_connection((\"10.0.0.1\",7)); \
             s.sendall(b\"hi\"); s.recv(2); time.sleep(8)' > {} 2>&1",
            pyout.display()
        ),
    );
    let ok = eventually(SECS(10), || {
        let (_, ss) = ns.sh_text("ss -Htn 'dport = :7'");
        ss.contains("ESTAB")
    });
    assert!(
        ok,
        "{}\npython: {}\n{}",
        ns.sh_text("ss -tin").1,
        std::fs::read_to_string(&pyout).unwrap_or_default(),
        t.output()
    );
    let out = t.run_marked("netstat -t");
    let row = out
        .lines()
        .find(|l| l.contains("ESTABLISHED") && l.contains(":7 "))
        .unwrap_or_else(|| panic!("no connection in netstat:\n{out}"));
    assert!(row.contains(" ts on"), "{row}");
    assert_syns_carry_timestamps(dump, &cap);
}
