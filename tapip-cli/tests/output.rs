//! The real `tapip` with its stdout closed or full: it ends as other Unix programs do,
//! never with a panic. Each test runs it in a network namespace of its own (root needed).

#![forbid(unsafe_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A network namespace, deleted when dropped (also when the test fails).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "tapip-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name} failed (these tests need root)");
        Netns(name)
    }

    /// `tapip ARGS` in the namespace, stdin closed, with `stdout`; its end within 30 s.
    fn tapip(&self, args: &[&str], stdout: Stdio) -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_tapip")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tapip");
        // A pipe whose reader is gone before anything is written.
        drop(child.stdout.take());
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        child.wait_with_output().expect("tapip's status")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_closed_pipe_ends_the_program_as_sigpipe_does() {
    let ns = Netns::new("pipe");
    for cmd in [
        "stat",
        "help",
        "debug -n all; ping -c 3 -i 0.2 10.0.0.2",
        "ping -c 3 -i 0.2 10.0.0.2",
    ] {
        let o = ns.tapip(&["-c", cmd], Stdio::piped());
        let err = stderr(&o);
        assert_eq!(o.status.signal(), Some(13), "{cmd}: {:?}, {err}", o.status);
        assert!(!err.contains("panicked"), "{cmd}: {err}");
    }
}

#[test]
fn a_full_disk_is_one_line_and_status_1() {
    let ns = Netns::new("full");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = ns.tapip(&["-c", "stat"], Stdio::from(full));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("tapip: cannot write to stdout: No space left"))
            .count(),
        1,
        "{err}"
    );
}
