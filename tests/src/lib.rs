//! Helpers for tapip's cross-crate tests.
//!
//! - [`Netns`]: a network namespace made for one test and removed when it drops, also when
//!   the test fails. All TAP traffic stays inside it.
//! - [`Tapip`]: the real `tapip` binary running in a namespace, driven through its stdin
//!   (commands are read line by line when stdin is not a terminal), its output collected.
//! - [`top2`]: both at once, the usual start of a kernel test.
//! - [`Proc`]: a kernel-side program (netcat, curl, Python...) started in a namespace and
//!   killed by its PID when it drops.
//! - [`TempDir`]: a directory of one test's files, removed when it drops.
//! - [`eventually`], [`wait_child`], [`sha256_file`], [`snc_to_kernel_nc`]: waits, checks
//!   and a transfer the kernel tests share.
//! - [`frames`]: frames and a stack for the in-memory tests that play the peer of `ip` and
//!   `transport`; [`pair`]: two stacks joined by an in-memory link.
//! - [`fuzz`]: the fuzz targets (the whole stack and each wire parser) and their stable
//!   seeded driver.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `tapip` binary of this workspace (built by `cargo build --workspace --bins`, which
/// the test command runs first).
pub fn tapip_bin() -> PathBuf {
    built("tapip", "cargo build --workspace --bins")
}

/// An example program of this workspace, e.g. `first_app` of socket-api (built by `cargo
/// build --workspace --examples`, which the test command runs first; `cargo test
/// --workspace` builds them too).
pub fn example_bin(name: &str) -> PathBuf {
    built(
        &format!("examples/{name}"),
        "cargo build --workspace --examples",
    )
}

fn built(rel: &str, how: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let bin = target.join(profile).join(rel);
    assert!(
        bin.exists(),
        "{} not found: run `{how}` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Is this process root (needed to create namespaces and taps)?
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `SECS(n)`: n seconds, for the many timeouts of the kernel tests.
pub const SECS: fn(u64) -> Duration = Duration::from_secs;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace owned by one test.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        assert!(is_root(), "kernel tests need root (CI runs them as root)");
        let name = format!(
            "tapip-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name} failed");
        let ns = Netns { name };
        ns.sh("ip link set lo up");
        ns
    }

    /// A command inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Run a shell line inside the namespace; returns its output (stdout and stderr).
    pub fn sh(&self, line: &str) -> Output {
        self.command("sh")
            .args(["-c", line])
            .output()
            .unwrap_or_else(|e| panic!("cannot run '{line}': {e}"))
    }

    /// Run a shell line and return stdout+stderr as text, with its success.
    pub fn sh_text(&self, line: &str) -> (bool, String) {
        let o = self.sh(line);
        let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&o.stderr));
        (o.status.success(), s)
    }

    /// Load the nftables `rules` (e.g. a `netdev` ingress hook dropping a share of the
    /// frames) into the namespace, through a file `loss.nft` in `dir`; panics if nft fails.
    pub fn nft(&self, dir: &TempDir, rules: &str) {
        let path = dir.path("loss.nft");
        std::fs::write(&path, rules).expect("write the nft rules");
        let (ok, out) = self.sh_text(&format!("nft -f {}", path.display()));
        assert!(ok, "nft -f failed: {out}");
    }

    /// Wait (at most 10 s) until something listens on TCP `port` in the namespace; panics
    /// if nothing does.
    pub fn wait_listening(&self, port: u16) {
        let ok = eventually(SECS(10), || {
            let (_, out) = self.sh_text(&format!("ss -Hltn 'sport = :{port}'"));
            out.contains("LISTEN")
        });
        assert!(ok, "nothing listens on port {port} in the namespace");
    }

    /// Wait (at most 10 s) until a UDP socket is bound to `port` in the namespace; panics
    /// if none is. A datagram sent before would draw a port unreachable (which a connected
    /// sender takes as ECONNREFUSED) instead of being received: a fixed pause after
    /// starting the receiver is not enough on a loaded machine.
    pub fn wait_udp_bound(&self, port: u16) {
        let ok = eventually(SECS(10), || {
            let (_, out) = self.sh_text(&format!("ss -Hlun 'sport = :{port}'"));
            out.contains(&format!(":{port}"))
        });
        assert!(ok, "nothing is bound to UDP port {port} in the namespace");
    }

    /// Start `tcpdump ARGS` in the namespace, what it prints going to `out` (give `-l`)
    /// and its messages to `out` with `.err` appended, and wait (at most 10 s) until it
    /// says "listening on": tcpdump prints that once the capture is active, its filter set,
    /// so nothing sent after this returns is missed. A fixed pause is not enough on a
    /// loaded machine (exec, libpcap, opening the device and compiling the filter can take
    /// longer). Panics, with its messages, if tcpdump ends or stays silent.
    pub fn tcpdump(&self, args: &str, out: &Path) -> Proc {
        let mut err = out.as_os_str().to_owned();
        err.push(".err");
        let err = PathBuf::from(err);
        let mut p = Proc::spawn(
            self,
            &format!("tcpdump {args} > {} 2> {}", out.display(), err.display()),
        );
        let msgs = || std::fs::read_to_string(&err).unwrap_or_default();
        let listening = eventually(SECS(10), || msgs().contains("listening on") || !p.running())
            && msgs().contains("listening on");
        assert!(
            listening,
            "tcpdump {args} did not start capturing:\n{}",
            msgs()
        );
        p
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside would keep the tap alive; the tests stop theirs by PID.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The first line `help sleep` prints (on stdout): [`Tapip::run_marked`]'s end marker.
const OUT_MARK: &str = "usage: sleep";

/// A running `tapip` inside a namespace.
pub struct Tapip {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
}

impl Tapip {
    /// Start `tapip ARGS` in `ns`, reading commands from a pipe, and wait until the stack is
    /// up (its tap exists and has carrier).
    pub fn start(ns: &Netns, args: &[&str]) -> Tapip {
        let mut child = ns
            .command(tapip_bin().to_str().expect("utf-8 path"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tapip");
        let out = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let stdin = child.stdin.take();
        let mut t = Tapip { child, stdin, out };
        // The shell prints nothing until asked; a command that answers tells us the stack
        // is up, its devices open.
        t.cmd("ifconfig");
        t.wait_for("HWaddr", Duration::from_secs(20));
        t
    }

    /// Send one command line.
    pub fn cmd(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{line}");
            let _ = s.flush();
        }
    }

    /// Everything printed so far (stdout and stderr interleaved by line).
    pub fn output(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Run the shell command `line` and return what was printed from then until it is done.
    /// stdout and stderr are read by two threads, so the end is marked on both: an unknown
    /// command sent after it (its error names it, on stderr, after the command's own
    /// errors), then `help sleep` (its `usage: sleep` on stdout, after the command's own
    /// rows). Each stream is ordered, so once both markers are in, so is everything the
    /// command printed. (Waiting for the output to stop growing after the stderr marker
    /// lost rows when the stdout reader was held back on a loaded machine.) The help text
    /// is left out of what is returned; the stderr marker's line is kept.
    pub fn run_marked(&mut self, line: &str) -> String {
        static MARK: AtomicUsize = AtomicUsize::new(0);
        let since = self.output().len();
        self.cmd(line);
        let marker = format!("end-of-output-{}", MARK.fetch_add(1, Ordering::SeqCst));
        self.cmd(&marker);
        self.cmd("help sleep");
        let err_mark = format!("unknown command '{marker}'");
        let end = Instant::now() + Duration::from_secs(10);
        let out = loop {
            let o = self.output();
            let new = o.get(since..).unwrap_or_default();
            if new.contains(&err_mark) && new.contains(OUT_MARK) {
                break new.to_string();
            }
            if Instant::now() > end {
                panic!("timed out waiting for the end of {line:?}; tapip printed:\n{o}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The help text: its first line, then (stdout) its indented lines. The command's
        // lines all come before the first; stderr lines may come among the rest.
        let mut help = false;
        let mut kept = String::new();
        for l in out.lines() {
            if l.starts_with(OUT_MARK) {
                help = true;
                continue;
            }
            if help && l.starts_with(' ') {
                continue;
            }
            kept.push_str(l);
            kept.push('\n');
        }
        kept
    }

    /// Wait until the output contains `needle`; panics with the output on timeout.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let o = self.output();
            if o.contains(needle) {
                return o;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {needle:?}; tapip printed:\n{o}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until the output printed after byte `since` contains `ok` (returns that part);
    /// panics on a line starting with `err` that does not contain `ok`, or at `timeout`.
    pub fn wait_result(&self, since: usize, ok: &str, err: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let out = self.output();
            let new = out.get(since..).unwrap_or_default();
            if new.contains(ok) {
                return new.to_string();
            }
            if new.lines().any(|l| l.starts_with(err) && !l.contains(ok)) {
                // Let the rest of the line (and a summary after it) arrive.
                std::thread::sleep(Duration::from_millis(200));
                panic!("failed ({err:?} before {ok:?}):\n{}", self.output());
            }
            if Instant::now() > end {
                panic!("timed out waiting for {ok:?}; tapip printed:\n{out}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGTERM and wait for the exit; returns the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait(timeout)
    }

    /// Close stdin (end of input) and wait for the exit.
    pub fn close_input(&mut self, timeout: Duration) -> Option<i32> {
        self.stdin = None;
        self.wait(timeout)
    }

    /// Wait for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        self.wait(timeout)
    }

    fn wait(&mut self, timeout: Duration) -> Option<i32> {
        wait_child(&mut self.child, timeout).and_then(|s| s.code())
    }
}

impl Drop for Tapip {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Wait until `cond` holds, polling; false on timeout.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Wait for `child` to exit, polling, at most `timeout`; its status, or None on timeout
/// (the child is left running).
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A namespace made for one test and the stack started in it with `args` (TOP2: the stack's
/// tap0 faces the kernel's tap0 in the namespace).
pub fn top2(tag: &str, args: &[&str]) -> (Netns, Tapip) {
    let ns = Netns::new(tag);
    let t = Tapip::start(&ns, args);
    (ns, t)
}

/// Stack -> kernel over TCP: the stack's `snc -c 10.0.0.2:PORT -f SRC` sends the file to
/// the kernel's `nc -l PORT > DST` (whose input is empty but never makes it send a FIN:
/// nc ends when the stack's FIN comes). Waits at most `limit` for snc's summary of the
/// whole file sent, then for nc to end successfully; panics otherwise. Returns where
/// tapip's output of the transfer begins.
pub fn snc_to_kernel_nc(
    ns: &Netns,
    t: &mut Tapip,
    port: u16,
    src: &Path,
    dst: &Path,
    limit: Duration,
) -> usize {
    let len = std::fs::metadata(src).map_or(0, |m| m.len());
    let mut nc = Proc::spawn(ns, &format!("nc -l {port} > {}", dst.display()));
    ns.wait_listening(port);
    let since = t.output().len();
    let start = Instant::now();
    t.cmd(&format!("snc -c 10.0.0.2:{port} -f {}", src.display()));
    t.wait_result(
        since,
        &format!("snc: sent {len} bytes, received 0 bytes in"),
        "snc:",
        limit,
    );
    println!("stack -> kernel: {:.2} s", start.elapsed().as_secs_f64());
    let status = nc.wait(SECS(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "nc did not end on the stack's FIN: {status:?}\n{}",
        t.output()
    );
    since
}

/// A kernel-side program a test started in its namespace; killed by its PID when it drops
/// (also when the test fails).
pub struct Proc(Child);

impl Proc {
    /// Run the shell line `line` in `ns`, its output going where the test's goes.
    pub fn spawn(ns: &Netns, line: &str) -> Proc {
        Proc::start(ns, line, Stdio::inherit, Stdio::inherit)
    }

    /// Run the shell line `line` in `ns`, its stdout and stderr collected for
    /// [`Proc::output`] (a program that prints more than a pipe holds, 64 KiB, before it
    /// ends would block: redirect bulk data to a file).
    pub fn spawn_piped(ns: &Netns, line: &str) -> Proc {
        Proc::start(ns, line, Stdio::piped, Stdio::piped)
    }

    fn start(ns: &Netns, line: &str, out: fn() -> Stdio, err: fn() -> Stdio) -> Proc {
        // `ip netns exec` and `exec` replace themselves: the child's PID is the program's.
        Proc(
            ns.command("sh")
                .args(["-c", &format!("exec {line}")])
                .stdin(Stdio::null())
                .stdout(out())
                .stderr(err())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run '{line}': {e}")),
        )
    }

    /// Its process id (the program's own: `exec` replaced the shell).
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Is it still running?
    pub fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// Wait for the exit; None on timeout (the program is left running).
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.0, timeout)
    }

    /// Wait for the exit (killing it after `timeout`) and collect what it printed, stdout
    /// then stderr (empty unless started by [`Proc::spawn_piped`]); the status is None when
    /// it had to be killed.
    pub fn output(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
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

    /// [`Proc::output`] with the status reduced to "ended by itself with success".
    pub fn finish(self, timeout: Duration) -> (bool, String) {
        let (status, text) = self.output(timeout);
        (status.is_some_and(|s| s.success()), text)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // `timeout`, which tests run servers under, makes a process group of itself
            // and its program: killed alone, it left the program running for ever,
            // orphaned, in a namespace already removed. Its group first (if it leads
            // none, there is no such group and nothing happens), then the process.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A directory of one test's files under the system's temporary directory, named after
/// `tag`, the process and a counter; removed when it drops (also when the test fails).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "tapip-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `name` filled with `len` random bytes; returns its path and contents.
    pub fn random_file(&self, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let mut data = Vec::with_capacity(len);
        std::fs::File::open("/dev/urandom")
            .expect("/dev/urandom")
            .take(len as u64)
            .read_to_end(&mut data)
            .expect("random bytes");
        assert_eq!(data.len(), len);
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

/// SHA-256 of a file, in hex, by coreutils' `sha256sum`; panics if it cannot be computed.
pub fn sha256_file(p: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("run sha256sum");
    assert!(o.status.success(), "sha256sum {}", p.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub mod frames;
pub mod fuzz;
pub mod pair;

#[cfg(test)]
mod crate_roots {
    use std::path::Path;

    /// Every example, integration test and bench of the workspace is a crate of its own,
    /// which the library's `#![forbid(unsafe_code)]` does not reach: each says itself
    /// whether it may use `unsafe` — `forbid` when it has none, `deny` (and an `allow` on
    /// each site) when it has some.
    #[test]
    fn every_example_test_and_bench_forbids_or_denies_unsafe_code() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let members = [
            "netif",
            "arp",
            "ip",
            "transport",
            "socket-api",
            "tapip-cli",
            "tests",
        ];
        let mut missing = Vec::new();
        for m in members {
            for dir in ["examples", "tests", "benches"] {
                let Ok(entries) = std::fs::read_dir(root.join(m).join(dir)) else {
                    continue;
                };
                for e in entries.flatten() {
                    let p = e.path();
                    if p.extension().is_none_or(|x| x != "rs") {
                        continue;
                    }
                    let src = std::fs::read_to_string(&p).unwrap();
                    let uses = src.contains("unsafe {") || src.contains("unsafe fn");
                    let want = if uses {
                        "#![deny(unsafe_code)]"
                    } else {
                        "#![forbid(unsafe_code)]"
                    };
                    if !src.contains(want) {
                        missing.push(format!("{m}/{dir}/{}: {want}", e.file_name().display()));
                    }
                }
            }
        }
        missing.sort();
        assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
    }
}
