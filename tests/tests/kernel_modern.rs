//! Timestamps (RFC 7323) with the Linux kernel's TCP over a real TAP device: negotiated on
//! both kinds of open (seen in a tcpdump capture of the handshake and in the stack's
//! `netstat`; this machine's `ss` 6.1 prints no `ts` even between two kernel sockets, so
//! it is not asked), and a 20 MB transfer with them still byte-exact. Each test in a
//! network namespace of its own.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tests::{eventually, Netns, Tapip};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const MB20: usize = 20 * 1024 * 1024;

/// A kernel-side program this test started; killed by its PID when it drops.
struct Proc(Child);

impl Proc {
    fn spawn(ns: &Netns, line: &str) -> Proc {
        // `ip netns exec` and `exec` replace themselves: the child's PID is the program's.
        Proc(
            ns.command("sh")
                .args(["-c", &format!("exec {line}")])
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run '{line}': {e}")),
        )
    }

    fn wait(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.0.try_wait() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A file of this test, removed when it drops.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp(tag: &str) -> TempFile {
    TempFile(std::env::temp_dir().join(format!("tapip-modern-{}-{tag}", std::process::id())))
}

/// Capture the SYNs of the handshake on tap0 (tcpdump prints TCP options); started before
/// the connection, waited for after.
fn capture_syns(ns: &Netns, out: &TempFile) -> Proc {
    let p = Proc::spawn(
        ns,
        &format!(
            "tcpdump -l -nn -i tap0 -c 2 'tcp[tcpflags] & tcp-syn != 0' > {} 2>/dev/null",
            out.0.display()
        ),
    );
    // tcpdump needs a moment to attach.
    std::thread::sleep(Duration::from_millis(700));
    p
}

fn assert_syns_carry_timestamps(mut p: Proc, out: &TempFile) {
    assert!(p.wait(SECS(10)), "tcpdump did not see both SYNs");
    let text = std::fs::read_to_string(&out.0).unwrap_or_default();
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
    let src = temp("src.bin");
    let dst = temp("dst.bin");
    let cap = temp("syn.txt");
    let mut data = Vec::with_capacity(MB20);
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .take(MB20 as u64)
        .read_to_end(&mut data)
        .unwrap();
    std::fs::write(&src.0, &data).unwrap();
    let dump = capture_syns(&ns, &cap);
    let mut nc = Proc::spawn(&ns, &format!("nc -l 5001 > {}", dst.0.display()));
    assert!(eventually(SECS(10), || ns
        .sh_text("ss -Hltn 'sport = :5001'")
        .1
        .contains("LISTEN")));
    let since = t.output().len();
    t.cmd(&format!("snc -c 10.0.0.2:5001 -f {}", src.0.display()));
    let start = Instant::now();
    let done = eventually(SECS(120), || {
        t.output()[since..].contains(&format!("snc: sent {MB20} bytes"))
    });
    let out = t.output()[since..].to_string();
    assert!(done, "{out}");
    println!(
        "20 MB stack -> kernel with timestamps: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    assert!(nc.wait(SECS(10)), "nc did not end on the stack's FIN");
    let got = std::fs::read(&dst.0).unwrap_or_default();
    assert!(got == data, "{} bytes, not the {MB20} sent", got.len());
    assert_syns_carry_timestamps(dump, &cap);
}

#[test]
fn the_stack_answers_linuxs_timestamps_and_netstat_shows_them() {
    let ns = Netns::new("tsin");
    let mut t = Tapip::start(&ns, &[]);
    let cap = temp("syn-in.txt");
    t.cmd("serve echo");
    t.wait_for("serve echo tcp 0.0.0.0:7", SECS(5));
    let dump = capture_syns(&ns, &cap);
    // A client that holds its connection open for a few seconds.
    let pyout = temp("py.txt");
    let _py = Proc::spawn(
        &ns,
        &format!(
            "python3 -c 'import socket,time; s=socket.create_connection((\"10.0.0.1\",7)); \
             s.sendall(b\"hi\"); s.recv(2); time.sleep(8)' > {} 2>&1",
            pyout.0.display()
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
        std::fs::read_to_string(&pyout.0).unwrap_or_default(),
        t.output()
    );
    let since = t.output().len();
    t.cmd("netstat -t");
    t.cmd("netstat-end");
    t.wait_for("unknown command 'netstat-end'", SECS(10));
    let out = t.output()[since..].to_string();
    let row = out
        .lines()
        .find(|l| l.contains("ESTABLISHED") && l.contains(":7 "))
        .unwrap_or_else(|| panic!("no connection in netstat:\n{out}"));
    assert!(row.contains(" ts on"), "{row}");
    assert_syns_carry_timestamps(dump, &cap);
}
