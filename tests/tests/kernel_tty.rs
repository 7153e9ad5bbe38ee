//! The shell at a terminal (a tmux pseudo-terminal): Ctrl-C cancels the line being typed or
//! the running foreground command and the shell goes on, background jobs untouched; Ctrl-D
//! on an empty line leaves. Each test in a network namespace of its own, every wait
//! bounded.

#![forbid(unsafe_code)]

use std::process::Command;
use std::time::{Duration, Instant};
use tests::{eventually, tapip_bin, Netns, SECS};

/// `tapip` in a tmux session of its own (its own server socket), inside `ns`. The server
/// and the program are stopped by their PIDs when this drops.
struct Tty {
    socket: String,
    pidfile: std::path::PathBuf,
}

impl Tty {
    fn start(ns: &Netns, args: &str) -> Tty {
        Tty::start_then(ns, args, "")
    }

    /// `then`: a shell line run in the terminal after tapip ends.
    fn start_then(ns: &Netns, args: &str, then: &str) -> Tty {
        let socket = format!("{}-tty", ns.name);
        let pidfile = std::env::temp_dir().join(format!("{socket}.pid"));
        let _ = std::fs::remove_file(&pidfile);
        // `ip netns exec` replaces itself with tapip: the PID written is tapip's.
        let line = format!(
            "sh -c 'echo $$ > {}; exec ip netns exec {} {} {args}'; {then}",
            pidfile.display(),
            ns.name,
            tapip_bin().display()
        );
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "160", "-y", "50", "sh", "-c", &line])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tmux new-session failed");
        let t = Tty { socket, pidfile };
        assert!(
            eventually(SECS(20), || t.screen().contains("[net shell]:")),
            "no prompt:\n{}",
            t.screen()
        );
        t
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// What the terminal shows.
    fn screen(&self) -> String {
        self.tmux()
            .args(["capture-pane", "-p", "-S", "-200"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Type keys (tmux key names: "C-c", "Enter", or literal text with `literal`).
    fn keys(&self, keys: &[&str]) {
        let _ = self.tmux().arg("send-keys").args(keys).status();
    }

    fn text(&self, s: &str) {
        let _ = self.tmux().args(["send-keys", "-l", s]).status();
    }

    fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let ok = eventually(SECS(10), || cond(&self.screen()));
        let s = self.screen();
        assert!(ok, "{what}; the terminal shows:\n{s}");
        s
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn running(&self) -> bool {
        self.pid()
            .is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    }

    fn prompts(&self) -> usize {
        self.screen().matches("[net shell]:").count()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Some(p) = self.pid() {
            if self.running() {
                let _ = Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .status();
            }
        }
        // The tmux server of this test only (its own socket), by its PID.
        let server = self
            .tmux()
            .args(["display-message", "-p", "#{pid}"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| !p.is_empty());
        if let Some(p) = server {
            let _ = Command::new("kill").arg(p).status();
        }
        let _ = std::fs::remove_file(&self.pidfile);
    }
}

/// A program this test started, killed by its PID when it drops (also on failure).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ctrl_c_cancels_the_line_and_the_foreground_command_and_ctrl_d_leaves() {
    let ns = Netns::new("ttyctrl");
    let t = Tty::start(&ns, "");
    // A background job that must survive every Ctrl-C.
    t.text("serve echo");
    t.keys(&["Enter"]);
    t.wait_screen("serve echo did not start", |s| s.contains("serve echo tcp"));

    // Ctrl-C at the prompt, a line half typed: the line goes, the shell stays.
    let before = t.prompts();
    t.text("ping 10.0.");
    t.keys(&["C-c"]);
    t.wait_screen("no new prompt after Ctrl-C", |s| {
        s.matches("[net shell]:").count() > before
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(t.running(), "Ctrl-C at the prompt ended the program");
    // Nothing of the cancelled line was run.
    assert!(!t.screen().contains("PING"), "{}", t.screen());

    // Ctrl-C during a running foreground command stops it, and only it.
    t.text("ping 10.0.0.2");
    t.keys(&["Enter"]);
    t.wait_screen("ping did not answer", |s| s.contains("icmp_seq=2"));
    t.keys(&["C-c"]);
    t.wait_screen("ping did not stop", |s| s.contains("ping statistics"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(t.running(), "Ctrl-C during a command ended the program");
    t.text("jobs");
    t.keys(&["Enter"]);
    t.wait_screen("the background job did not survive", |s| {
        s.contains("running serve echo")
    });

    // Ctrl-D on an empty line: the program ends (gracefully, and quickly: nothing to
    // deliver).
    let start = Instant::now();
    t.keys(&["C-d"]);
    assert!(
        eventually(SECS(10), || !t.running()),
        "Ctrl-D did not end the program:\n{}",
        t.screen()
    );
    println!("ended {:?} after Ctrl-D", start.elapsed());
}

#[test]
fn exit_at_a_terminal_waits_and_ctrl_c_then_ends_it_at_once() {
    let ns = Netns::new("ttyexit");
    // A kernel peer that takes nothing, so the exit has something to wait for.
    let dir = std::env::temp_dir().join(format!("{}-data", ns.name));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("src.bin");
    // Small enough for the stack's send queue: every write returns.
    std::fs::write(&src, vec![0x5a; 512 << 10]).unwrap();
    let nc = Killed(
        ns.command("nc")
            .args(["-l", "9006"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nc"),
    );
    let t = Tty::start(&ns, "--linger 60");
    let ok = eventually(SECS(10), || {
        ns.sh_text("ss -Hltn 'sport = :9006'").1.contains("LISTEN")
    });
    assert!(ok, "nc does not listen");
    let _ = Command::new("kill")
        .args(["-STOP", &nc.0.id().to_string()])
        .status();
    // snc gives up waiting for the acknowledgements (the window is closed) and closes;
    // the connection stays behind. (A Ctrl-C would reset it: nothing left to wait for.)
    t.text(&format!(
        "snc -c 10.0.0.2:9006 -w 1 -f {} -o /dev/null",
        src.display()
    ));
    t.keys(&["Enter"]);
    t.wait_screen("snc did not give up", |s| {
        s.contains("not acknowledged within 1 s")
    });
    t.text("exit");
    t.keys(&["Enter"]);
    t.wait_screen("exit does not say it waits", |s| {
        s.contains("tapip: waiting up to 60 s for 1 connection")
    });
    assert!(t.running());
    let start = Instant::now();
    t.keys(&["C-c"]);
    assert!(
        eventually(SECS(3), || !t.running()),
        "Ctrl-C during the exit's wait did not end the program:\n{}",
        t.screen()
    );
    assert!(start.elapsed() < SECS(3));
    drop(nc);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM at the prompt (the line editor has the terminal in raw mode): the program ends
/// and the terminal is as it was (canonical, echoing, signals on).
#[test]
fn sigterm_at_the_prompt_ends_the_program_and_gives_the_terminal_back() {
    let ns = Netns::new("ttyterm");
    let t = Tty::start_then(
        &ns,
        "",
        "echo ENDED; stty -a | tr ' ' '\\n' | grep -x -- '-*icanon\\|-*echo\\|-*isig' | tr '\\n' ' '; echo; sleep 30",
    );
    let pid = t.pid().expect("tapip's PID");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let s = t.wait_screen("tapip did not end on SIGTERM", |s| {
        s.contains("ENDED") && s.contains("icanon")
    });
    let modes = s
        .lines()
        .find(|l| l.contains("icanon"))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(modes, ["isig", "icanon", "echo"], "{s}");
}
