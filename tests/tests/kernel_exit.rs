//! Nothing is lost when the program ends: `tapip -c "...; snc -c ... -f FILE; exit"` over a
//! lossy link, and the kernel's `nc -l` receives the whole file and the FIN; a peer that
//! takes nothing makes the exit give up after `--linger` and say what was not delivered.
//! Each test in a network namespace of its own.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use tests::{eventually, tapip_bin, Netns, Tapip};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A directory of this test's files, removed when it drops (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("tapip-exit-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn random_file(&self, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let mut data = Vec::with_capacity(len);
        std::fs::File::open("/dev/urandom")
            .expect("/dev/urandom")
            .take(len as u64)
            .read_to_end(&mut data)
            .expect("random bytes");
        let p = self.path(name);
        std::fs::write(&p, &data).expect("write the file");
        (p, data)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program this test started in the namespace; killed by its PID when it drops.
struct Proc(Child);

impl Proc {
    fn spawn(ns: &Netns, line: &str) -> Proc {
        // `ip netns exec` and `exec` replace themselves: the child's PID is the program's.
        Proc(
            ns.command("sh")
                .args(["-c", &format!("exec {line}")])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run '{line}': {e}")),
        )
    }

    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the exit (killing it after `timeout`) and collect what it printed.
    fn output(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let status = self.wait(timeout);
        if status.is_none() {
            let _ = self.0.kill();
        }
        let mut text = String::new();
        if let Some(mut o) = self.0.stdout.take() {
            let _ = o.read_to_string(&mut text);
        }
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        (status, text)
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

/// Wait until something listens on TCP `port` in the namespace.
fn wait_listening(ns: &Netns, port: u16) {
    let ok = eventually(SECS(10), || {
        let (_, out) = ns.sh_text(&format!("ss -Hltn 'sport = :{port}'"));
        out.contains("LISTEN")
    });
    assert!(ok, "nothing listens on port {port} in the namespace");
}

fn sha256(data: &[u8], dir: &TempDir, name: &str) -> String {
    let p = dir.path(name);
    std::fs::write(&p, data).expect("write");
    let o: Output = Command::new("sha256sum")
        .arg(&p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// 5% of what arrives at the kernel's tap0 dropped by nftables on its ingress hook.
const NFT_LOSS: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip numgen random mod 100 < 5 counter drop
    }
}
";

/// 5% of the kernel's incoming data segments dropped (not the small ones: handshakes and
/// ACKs get through, so that connecting within a short `-w` cannot fail) and the rest
/// limited to 250 kB/s: the last megabyte takes seconds to be acknowledged.
const NFT_SLOW: &str = "table netdev tapip_loss {
    chain ingress {
        type filter hook ingress device \"tap0\" priority 0; policy accept;
        meta protocol ip meta length > 200 numgen random mod 100 < 5 counter drop
        meta protocol ip limit rate over 250 kbytes/second burst 64 kbytes counter drop
    }
}
";

/// A namespace with tap0 made beforehand (tapip attaches to it), so that the kernel side's
/// nftables `rules` can name it.
fn lossy_ns(tag: &str, dir: &TempDir, rules: &str) -> Netns {
    let ns = Netns::new(tag);
    let (ok, out) = ns.sh_text("ip tuntap add dev tap0 mode tap");
    assert!(ok, "ip tuntap add: {out}");
    let path = dir.path("loss.nft");
    std::fs::write(&path, rules).unwrap();
    let (ok, out) = ns.sh_text(&format!("nft -f {}", path.display()));
    assert!(ok, "nft -f failed: {out}");
    ns
}

/// The case: a lossy link both ways, `snc -f` then `exit` at once. The kernel's
/// `nc -l` must get every byte and the FIN (it ends only on the FIN), and `snc` must report
/// what the peer acknowledged, which is everything.
#[test]
fn exit_right_after_snc_over_a_lossy_link_loses_nothing() {
    const LEN: usize = 5_000_000;
    let dir = TempDir::new("lossy");
    let ns = lossy_ns("texitloss", &dir, NFT_LOSS);
    let (src, data) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    // `-N`: nc sends its FIN at once (its input is empty), so `snc`'s peer has closed long
    // before the data is through, as in the issue (LAST-ACK with data queued); nc ends only
    // when the stack's FIN comes.
    let mut nc = Proc::spawn(&ns, &format!("nc -N -l 9002 > {}", dst.display()));
    let fault = "loss=0.05,corrupt=0.01,dup=0.02,reorder=0.25,delay=5ms,jitter=2ms,seed=9";
    // The stack's side of the tap comes up once tapip attaches: until then nc waits.
    let script = format!("sleep 1; snc -c 10.0.0.2:9002 -f {}; exit", src.display());
    let start = Instant::now();
    let tapip = Proc::spawn(
        &ns,
        &format!(
            "{} --fault {fault} --linger 60 -c '{script}'",
            tapip_bin().display()
        ),
    );
    wait_listening(&ns, 9002);
    let (status, out) = tapip.output(SECS(150));
    println!(
        "tapip ended after {:.1} s:\n{out}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "tapip: {status:?}\n{out}"
    );
    let nc_status = nc.wait(SECS(10));
    let got = std::fs::read(&dst).unwrap_or_default();
    assert_eq!(
        got.len(),
        LEN,
        "nc received {} of {LEN} bytes (nc: {nc_status:?})\n{out}",
        got.len()
    );
    assert_eq!(
        sha256(&got, &dir, "got.copy"),
        sha256(&data, &dir, "src.copy")
    );
    assert!(
        nc_status.is_some_and(|s| s.success()),
        "nc did not see the FIN: {nc_status:?}\n{out}"
    );
    assert!(
        out.contains(&format!("snc: sent {LEN} bytes")),
        "snc reports the bytes acknowledged:\n{out}"
    );
}

/// `snc -w` gives up waiting for the acknowledgements and closes; `exit` right after waits
/// (bounded by `--linger`) for the closed connection to deliver the rest through a slow,
/// lossy link (`NFT_SLOW`; duplication, reordering and delay from `--fault`): the kernel's
/// `nc -l` gets everything and the FIN.
#[test]
fn exit_waits_for_closed_connections_to_deliver_their_data() {
    const LEN: usize = 1_500_000;
    let dir = TempDir::new("orphan");
    let ns = lossy_ns("texitorphan", &dir, NFT_SLOW);
    let (src, data) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    let mut nc = Proc::spawn(&ns, &format!("nc -N -l 9003 > {}", dst.display()));
    let fault = "dup=0.02,reorder=0.1,delay=5ms,jitter=2ms,seed=5";
    let script = format!(
        "sleep 1; snc -c 10.0.0.2:9003 -w 1 -f {}; exit",
        src.display()
    );
    let tapip = Proc::spawn(
        &ns,
        &format!(
            "{} --fault {fault} --linger 60 -c '{script}'",
            tapip_bin().display()
        ),
    );
    wait_listening(&ns, 9003);
    let (status, out) = tapip.output(SECS(120));
    println!("{out}");
    assert!(
        out.contains("not acknowledged within 1 s"),
        "snc gave up first:\n{out}"
    );
    assert!(!out.contains("gave up on tcp"), "{out}");
    // snc's error (it gave up waiting) makes the status 1; nothing was abandoned.
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "tapip: {status:?}\n{out}"
    );
    let nc_status = nc.wait(SECS(10));
    let got = std::fs::read(&dst).unwrap_or_default();
    assert_eq!(got.len(), LEN, "nc: {nc_status:?}\n{out}");
    assert_eq!(
        sha256(&got, &dir, "got.copy"),
        sha256(&data, &dir, "src.copy")
    );
    assert!(nc_status.is_some_and(|s| s.success()), "nc: {nc_status:?}");
}

/// A kernel peer that takes nothing (stopped): the stack's send queue stays full.
fn stalled_upload(tag: &str, dir: &TempDir, port: u16, extra: &[&str]) -> (Netns, Tapip, Proc) {
    let ns = Netns::new(tag);
    let t = Tapip::start(&ns, extra);
    let (src, _) = dir.random_file("src.bin", 8 << 20);
    let nc = Proc::spawn(&ns, &format!("nc -l {port}"));
    wait_listening(&ns, port);
    let _ = Command::new("kill")
        .args(["-STOP", &nc.0.id().to_string()])
        .status();
    let mut t = t;
    t.cmd(&format!(
        "snc -c 10.0.0.2:{port} -f {} -o /dev/null",
        src.display()
    ));
    // The kernel's receive buffer fills (it stays small: autotuning grows it only as the
    // application reads), then the window closes.
    let ok = eventually(SECS(20), || {
        let (_, ss) = ns.sh_text(&format!("ss -Htn 'sport = :{port}'"));
        ss.split_whitespace()
            .nth(1)
            .and_then(|q| q.parse::<u64>().ok())
            .is_some_and(|recv_q| recv_q > 32 << 10)
    });
    assert!(
        ok,
        "the kernel's receive queue did not fill:\n{}",
        t.output()
    );
    (ns, t, nc)
}

fn signal(t: &Tapip, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &t.pid().to_string()])
        .status();
}

/// SIGINT with commands from a pipe ends the program gracefully: it waits `--linger`, then
/// says, in one line, what it could not deliver, resets the connection and exits with 1.
#[test]
fn out_of_linger_time_the_exit_says_what_was_not_delivered() {
    let dir = TempDir::new("giveup");
    let (_ns, mut t, _nc) = stalled_upload("texitgiveup", &dir, 9004, &["--linger", "1"]);
    let start = Instant::now();
    signal(&t, "-INT");
    let code = t.wait_exit(SECS(15));
    let took = start.elapsed();
    let out = t.output();
    assert_eq!(code, Some(1), "{out}");
    assert!(took >= Duration::from_millis(900), "{took:?}\n{out}");
    assert!(took < SECS(8), "{took:?}\n{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("gave up on tcp"))
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("tapip: gave up on tcp 10.0.0.1:")
            && lines[0].contains(" -> 10.0.0.2:9004 (FIN-WAIT-1): ")
            && lines[0].ends_with(" bytes and the FIN not delivered"),
        "{}",
        lines[0]
    );
}

/// SIGTERM ends gracefully (here the wait goes on: the peer takes nothing); a second
/// SIGTERM ends the program at once.
#[test]
fn a_second_sigterm_ends_the_program_at_once() {
    let dir = TempDir::new("twice");
    let (_ns, mut t, _nc) = stalled_upload("texittwice", &dir, 9005, &["--linger", "60"]);
    signal(&t, "-TERM");
    // snc ends (interrupted), then the exit waits for the connection.
    assert_eq!(t.wait_exit(SECS(2)), None, "{}", t.output());
    let start = Instant::now();
    signal(&t, "-TERM");
    let code = t.wait_exit(SECS(5));
    let took = start.elapsed();
    println!("ended {took:?} after the second SIGTERM");
    assert_eq!(code, Some(143), "{}", t.output());
    // At once: no wait for the connection (the machine may be busy: a generous bound).
    assert!(took < SECS(4), "{took:?}");
}

/// The same with commands from a pipe: the end of the input ends the program, gracefully.
#[test]
fn the_end_of_piped_input_waits_for_closed_connections_too() {
    const LEN: usize = 1_500_000;
    let dir = TempDir::new("pipe");
    let ns = lossy_ns("texitpipe", &dir, NFT_SLOW);
    let (src, data) = dir.random_file("src.bin", LEN);
    let dst = dir.path("nc.bin");
    let mut nc = Proc::spawn(&ns, &format!("nc -N -l 9007 > {}", dst.display()));
    wait_listening(&ns, 9007);
    let fault = "dup=0.02,reorder=0.1,delay=5ms,jitter=2ms,seed=6";
    let mut t = Tapip::start(&ns, &["--fault", fault, "--linger", "60"]);
    t.cmd(&format!("snc -c 10.0.0.2:9007 -w 1 -f {}", src.display()));
    t.wait_for("not acknowledged within 1 s", SECS(60));
    let code = t.close_input(SECS(60));
    let out = t.output();
    // 1: snc gave up waiting (an error); the exit itself lost nothing.
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("gave up on tcp"), "{out}");
    let nc_status = nc.wait(SECS(10));
    let got = std::fs::read(&dst).unwrap_or_default();
    assert_eq!(got.len(), LEN, "nc: {nc_status:?}\n{out}");
    assert_eq!(
        sha256(&got, &dir, "got.copy"),
        sha256(&data, &dir, "src.copy")
    );
    assert!(nc_status.is_some_and(|s| s.success()), "nc: {nc_status:?}");
}
