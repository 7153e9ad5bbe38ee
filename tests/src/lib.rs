//! Helpers for tapip's cross-crate tests.
//!
//! - [`Netns`]: a network namespace made for one test and removed when it drops, also when
//!   the test fails. All TAP traffic stays inside it.
//! - [`Tapip`]: the real `tapip` binary running in a namespace, driven through its stdin
//!   (commands are read line by line when stdin is not a terminal), its output collected.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
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
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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
pub mod pair;
