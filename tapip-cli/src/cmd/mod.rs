//! The shell's commands. Each takes the words after its name and returns `Ok` or a one-line
//! error; none may panic on any input.

mod arp;
mod debug;
mod dhcp;
mod get;
mod ifconfig;
pub mod input;
pub mod jobs;
mod netstat;
mod ping;
mod route;
mod serve;
mod snc;
mod stat;
pub mod syntax;
mod tcp;
mod traceroute;

use crossbeam_channel::{bounded, Receiver, Sender};
use netif::pcap::PcapHandle;
use netif::trace::Trace;
use socket_api::Stack;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use syntax::{Command, Parsed, PcapAction};

pub use dhcp::describe as dhcp_lease_line;

/// Signal flags set by the handlers for SIGINT and SIGTERM, and a bell rung after each (by
/// the program's signal thread, or by [`Signals::raise_interrupt`]) so that the shell can
/// wait for a line or a time without waking to look at the flags.
#[derive(Clone)]
pub struct Signals {
    pub interrupt: Arc<AtomicBool>,
    pub terminate: Arc<AtomicBool>,
    /// Commands come from a terminal: SIGINT is the user's Ctrl-C, which stops the running
    /// command (and resets the transfer of `snc -c`), not the program.
    pub at_terminal: Arc<AtomicBool>,
    bell: (Sender<()>, Receiver<()>),
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            interrupt: Arc::default(),
            terminate: Arc::default(),
            at_terminal: Arc::default(),
            // One ring waiting is enough: a waiter looks at the flags after each.
            bell: bounded(1),
        }
    }
}

impl Signals {
    /// Should a running command stop?
    pub fn stop_requested(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst) || self.terminate.load(Ordering::SeqCst)
    }

    /// Wake whoever waits in [`Signals::sleep`] or on [`Signals::bell`]: a flag changed.
    pub fn ring(&self) {
        let _ = self.bell.0.try_send(());
    }

    /// Did the user press Ctrl-C at the terminal (and no SIGTERM come)? Then a command
    /// is cancelled, not the program ended.
    pub fn user_cancelled(&self) -> bool {
        self.at_terminal.load(Ordering::SeqCst)
            && self.interrupt.load(Ordering::SeqCst)
            && !self.terminate.load(Ordering::SeqCst)
    }

    /// Stop the running command as Ctrl-C would.
    pub fn raise_interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
        self.ring();
    }

    /// What a waiter selects on beside its own channel: ready after a ring, after which the
    /// waiter looks at the flags again. (`sleep` passes a ring on when it finds a flag set,
    /// in case another thread waits too.)
    pub fn bell(&self) -> &Receiver<()> {
        &self.bell.1
    }

    /// Sleep for `d` (`Duration::MAX`: until a signal) unless a signal comes first; false
    /// if interrupted.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = std::time::Instant::now().checked_add(d);
        loop {
            if self.stop_requested() {
                // Pass the ring on: another waiter may be asleep.
                self.ring();
                return false;
            }
            let wait = match end {
                Some(end) => {
                    let now = std::time::Instant::now();
                    if now >= end {
                        return true;
                    }
                    end - now
                }
                None => Duration::MAX,
            };
            // A timeout too large to add to the clock waits without end.
            let _ = self.bell.1.recv_timeout(wait);
        }
    }
}

/// What the shell's commands work on.
pub struct Ctx {
    pub stack: Stack,
    /// The tap's name as the kernel gave it (`--tap` may be a template such as `tap%d`).
    pub tap: String,
    pub trace: Trace,
    pub pcap: PcapHandle,
    /// `pcap.packets()` (a total over every recording) when the current one started.
    pub pcap_since: std::sync::atomic::AtomicU64,
    pub sig: Signals,
    /// The fault injector on the tap, when `--fault` asked for one.
    pub fault: Option<Injector>,
    /// Lines of the shell's input, for a command that reads them (`snc -c`).
    pub input: input::Input,
    /// Background jobs (`serve`); stopped before the stack shuts down.
    pub jobs: jobs::Jobs,
}

/// What the shell does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit,
}

/// Run one command (one line without its `;`s: see [`syntax::commands`]). Errors are one
/// line each, ready to print.
pub fn run(ctx: &Ctx, line: &str) -> Result<Flow, String> {
    run_words(ctx, line).map_err(|e| shorten(&e))
}

/// The longest word an error repeats in full; longer ones (a 3,000-character argument
/// echoed back) are cut, with an ellipsis.
const LONGEST_WORD: usize = 100;

/// `e` with every word longer than `LONGEST_WORD` characters cut to fit, ending in `...`,
/// and control characters (a quoted newline, an escape sequence) escaped: one line.
pub fn shorten(e: &str) -> String {
    let e: String = e
        .chars()
        .flat_map(|c| {
            let shown: Vec<char> = match c.is_control() {
                true => c.escape_default().collect(),
                false => vec![c],
            };
            shown
        })
        .collect();
    e.split(' ')
        .map(|w| {
            if w.chars().count() <= LONGEST_WORD {
                return w.to_string();
            }
            let mut cut: String = w.chars().take(LONGEST_WORD - 3).collect();
            cut.push_str("...");
            cut
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `f` (a name lookup, which waits up to 12 s for silent servers) on a thread of its
/// own, so that Ctrl-C ends the command at once (`Interrupted`); the lookup finishes by
/// itself meanwhile (the stack's shutdown ends it too).
pub fn interruptible<T: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    interruptible_until(ctx, None, f)
}

/// [`interruptible`], and given up with `TimedOut` at `deadline` (`get -m`).
pub fn interruptible_until<T: Send + 'static>(
    ctx: &Ctx,
    deadline: Option<std::time::Instant>,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("lookup".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Err(std::io::Error::other(format!("cannot start a lookup: {e}")));
    }
    loop {
        if ctx.sig.stop_requested() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted",
            ));
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ));
        }
        match rx.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(r) => return r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::other("the lookup ended without an answer"))
            }
        }
    }
}

fn run_words(ctx: &Ctx, line: &str) -> Result<Flow, String> {
    let words = syntax::words(line)?;
    if words.is_empty() {
        return Ok(Flow::Continue);
    }
    let cmd = match syntax::parse(&words) {
        Ok(c) => c,
        Err(Parsed::Help(name)) => {
            out!("{}", syntax::help_for(&name)?);
            return Ok(Flow::Continue);
        }
        Err(Parsed::Error(e)) => return Err(e),
    };
    match cmd {
        Command::Help { cmd: None } => out!("{}", syntax::help_list()),
        Command::Help { cmd: Some(name) } => out!("{}", syntax::help_for(&name)?),
        Command::Exit => return Ok(Flow::Exit),
        Command::Clear => out!("\x1b[2J\x1b[H"),
        Command::Ping(a) => ping::run(ctx, a)?,
        Command::Traceroute(a) => traceroute::run(ctx, a)?,
        Command::Ifconfig(a) => ifconfig::run(ctx, a)?,
        Command::Route(a) => route::run(ctx, a)?,
        Command::Arp(a) => arp::run(ctx, a)?,
        Command::Stat => stat::run(ctx),
        Command::Dhcp { iface } => dhcp::run(ctx, iface)?,
        Command::Host { name } => {
            let stack = ctx.stack.clone();
            let (name, addrs) = interruptible(ctx, move || stack.resolve_named(&name))
                .map_err(|e| format!("host: {e}"))?;
            for a in addrs {
                outln!("{name} has address {a}");
            }
        }
        Command::Debug(a) => debug::run(ctx, a)?,
        Command::Snc(a) => snc::run(ctx, a)?,
        Command::Get(a) => get::run(ctx, a)?,
        Command::Serve(a) => serve::run(ctx, a)?,
        Command::Jobs => jobs::list(ctx),
        Command::Kill { job } => jobs::kill(ctx, job)?,
        Command::Netstat(a) => netstat::run(ctx, a)?,
        Command::Pcap { action } => {
            for l in pcap(ctx, action)? {
                outln!("{l}");
            }
        }
        Command::Sleep { secs } => {
            ctx.sig.sleep(secs);
        }
        Command::Wait => {
            ctx.sig.sleep(Duration::MAX);
            // Ctrl-C at the terminal cancels the wait, as it cancels any command.
            if !ctx.sig.user_cancelled() {
                return Ok(Flow::Exit);
            }
        }
    }
    Ok(Flow::Continue)
}

/// `stopped recording to FILE (N packets)`, for the recording now running (if any).
fn pcap_stopped(ctx: &Ctx) -> Option<String> {
    let path = ctx.pcap.path()?;
    let n = ctx
        .pcap
        .packets()
        .saturating_sub(ctx.pcap_since.load(Ordering::SeqCst));
    let s = if n == 1 { "" } else { "s" };
    Some(format!(
        "stopped recording to {} ({n} packet{s})",
        path.display()
    ))
}

/// A recording that a write error ended since the last look (disk full, a FIFO's reader
/// gone), as the one line to tell it: the recording has no caller to tell otherwise.
pub fn pcap_failure(ctx: &Ctx) -> Option<String> {
    ctx.pcap
        .take_error()
        .map(|e| format!("pcap: recording stopped by a write error: {e}"))
}

/// `pcap start FILE`, `pcap stop`: the lines to print. Each file's count is its own; a
/// start while recording says that it stopped the running recording; either says when an
/// earlier recording had ended on a write error.
fn pcap(ctx: &Ctx, action: PcapAction) -> Result<Vec<String>, String> {
    let failed = pcap_failure(ctx);
    match action {
        PcapAction::Start { file } => {
            // Starting stops the running recording, even when the new file fails.
            // Opened first, out of the recording's lock, and a FIFO waited for (Ctrl-C
            // ends the wait): frames never wait for the open.
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            let opened =
                open_waiting(&file, &opts, true, &|| ctx.sig.stop_requested()).and_then(|f| {
                    // Written non-blocking: a FIFO whose reader stops reading costs records
                    // (counted), not the threads that receive and send frames.
                    use nix::fcntl::{fcntl, FcntlArg, OFlag};
                    let flags = OFlag::from_bits_truncate(fcntl(&f, FcntlArg::F_GETFL)?);
                    fcntl(&f, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
                    Ok(f)
                });
            let stopped = pcap_stopped(ctx);
            let started = match opened {
                Ok(f) => ctx.pcap.start_file(f, file.clone()),
                Err(e) => {
                    ctx.pcap.stop_quietly();
                    Err(e)
                }
            };
            ctx.pcap_since.store(ctx.pcap.packets(), Ordering::SeqCst);
            if let Err(e) = started {
                let also = stopped
                    .into_iter()
                    .chain(failed)
                    .map(|s| format!("; {s}"))
                    .collect::<String>();
                return Err(format!(
                    "pcap: cannot write '{}': {}{also}",
                    file.display(),
                    tcp::describe(&e, false)
                ));
            }
            let mut lines: Vec<String> = failed.into_iter().chain(stopped).collect();
            lines.push(format!("recording to {}", file.display()));
            Ok(lines)
        }
        PcapAction::Stop => {
            let stopped = pcap_stopped(ctx);
            ctx.pcap.stop().map_err(|e| format!("pcap: {e}"))?;
            match (failed, stopped) {
                (Some(f), None) => Err(f),
                (Some(f), Some(s)) => Ok(vec![f, s]),
                (None, s) => Ok(vec![s.unwrap_or_else(|| "not recording".into())]),
            }
        }
    }
}

/// Open `path` with `opts` (for writing if `write`, else for reading). A FIFO whose other
/// end is not open yet would hold `open` in the kernel, out of Ctrl-C's reach: it is
/// opened without blocking, its other end waited for in steps until it comes or `stop()`
/// says to give up (`Interrupted`), and the file is then made blocking again. Anything
/// else opens as `opts.open` would.
pub fn open_waiting(
    path: &std::path::Path,
    opts: &std::fs::OpenOptions,
    write: bool,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<std::fs::File> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    const STEP: Duration = Duration::from_millis(50);
    let interrupted = || std::io::Error::from(std::io::ErrorKind::Interrupted);
    if !std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
        return opts.open(path);
    }
    let mut o = opts.clone();
    o.custom_flags(OFlag::O_NONBLOCK.bits());
    let f = loop {
        match o.open(path) {
            Ok(f) => break f,
            // Writing, no reader yet.
            Err(e) if write && e.raw_os_error() == Some(nix::errno::Errno::ENXIO as i32) => {
                if stop() {
                    return Err(interrupted());
                }
                std::thread::sleep(STEP);
            }
            Err(e) => return Err(e),
        }
    };
    if !write {
        // Until a writer has come (and written, or gone): before, a read would say the
        // end at once.
        loop {
            if stop() {
                return Err(interrupted());
            }
            let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(STEP.as_millis() as u16)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                Ok(_) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let flags = OFlag::from_bits_truncate(fcntl(&f, FcntlArg::F_GETFL)?);
    fcntl(&f, FcntlArg::F_SETFL(flags & !OFlag::O_NONBLOCK))?;
    Ok(f)
}

/// The fault injector (`--fault`) between the traced and recorded TAP and the stack.
pub type Injector = Arc<
    netif::fault::FaultInjector<netif::trace::Tracer<netif::pcap::PcapWriter<netif::TapDevice>>>,
>;

/// A `-o FILE` of `snc` or `get`, opened (so checked) before connecting but left as it was
/// until the connection is made: a file that already existed keeps its contents if the
/// connection fails, and one that did not is removed again.
pub struct OutFile {
    path: String,
    file: Option<std::fs::File>,
    created: bool,
}

impl OutFile {
    /// Open `path` for writing, creating it if need be; the error says which file. A FIFO
    /// is waited for until it has a reader or `stop()` (Ctrl-C).
    pub fn open(path: &str, stop: &dyn Fn() -> bool) -> Result<OutFile, String> {
        let existed = std::fs::symlink_metadata(path).is_ok();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        let file = open_waiting(path.as_ref(), &opts, true, stop)
            .map_err(|e| format!("cannot write '{path}': {}", tcp::describe(&e, false)))?;
        Ok(OutFile {
            path: path.to_string(),
            file: Some(file),
            created: !existed,
        })
    }

    /// The file, emptied, to write to.
    pub fn commit(mut self) -> Result<std::fs::File, String> {
        let f = self.file.take().ok_or("the file is already in use")?;
        // Only a regular file has a length to cut (not /dev/null, a FIFO...).
        if f.metadata().is_ok_and(|m| m.is_file()) {
            f.set_len(0)
                .map_err(|e| format!("cannot write '{}': {e}", self.path))?;
        }
        Ok(f)
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        // Not committed: put things back as they were.
        if self.file.take().is_some() && self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A shell context on an in-memory stack with only the loopback interface (127.0.0.1/8),
/// for tests that run commands end to end. Its input is at its end.
#[cfg(test)]
pub mod testing {
    use super::*;
    use netif::{DriverConfig, MemoryLink};
    use socket_api::StackConfig;

    pub fn ctx() -> Ctx {
        let (trace, _lines) = Trace::new();
        let stack = Stack::new(StackConfig::default()).expect("a stack");
        let lo = stack
            .add_device(Arc::new(MemoryLink::loopback()), DriverConfig::default())
            .expect("the loopback device");
        let addr = ip::Ipv4Cidr::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 8).expect("127/8");
        stack
            .with_core(|c, now| -> Result<(), String> {
                c.ip.set_address(lo, Some(addr), now)
                    .map_err(|e| e.to_string())?;
                c.ip.set_up(lo, true, now).map_err(|e| e.to_string())
            })
            .expect("loopback up");
        let (input, _requests) = input::Input::new();
        Ctx {
            stack,
            tap: "tap0".to_string(),
            trace,
            pcap: PcapHandle::new(),
            pcap_since: Default::default(),
            sig: Signals::default(),
            fault: None,
            input,
            jobs: jobs::Jobs::default(),
        }
    }

    /// Add an in-memory Ethernet interface `name` with address `addr` (CIDR), up; returns
    /// the link's other end, which must live as long as the interface is used.
    pub fn mem_iface(ctx: &Ctx, name: &str, addr: &str) -> MemoryLink {
        let mac = |b: u8| netif::MacAddr([0x02, 0, 0, 0, b, 1]);
        let (ours, peer) = MemoryLink::pair((name, mac(1)), ("peer", mac(2)), 1500, 64);
        let ifindex = ctx
            .stack
            .add_device(Arc::new(ours), DriverConfig::default())
            .expect("the in-memory device");
        let addr: ip::Ipv4Cidr = addr.parse().expect("an address");
        ctx.stack
            .with_core(|c, now| -> Result<(), String> {
                c.ip.set_address(ifindex, Some(addr), now)
                    .map_err(|e| e.to_string())?;
                c.ip.set_up(ifindex, true, now).map_err(|e| e.to_string())
            })
            .expect("interface up");
        peer
    }

    /// Run one command line.
    pub fn run_line(ctx: &Ctx, line: &str) -> Result<Flow, String> {
        run(ctx, line)
    }

    /// A fresh directory under the system's temporary one, removed with what it holds
    /// when dropped (also when the test fails); it reads as its path.
    pub struct TempDir(std::path::PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = std::path::Path;
        fn deref(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl AsRef<std::path::Path> for TempDir {
        fn as_ref(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fresh [`TempDir`] named after `tag`, the process and a counter.
    pub fn temp_dir(tag: &str) -> TempDir {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "tapip-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("a temporary directory");
        TempDir(d)
    }

    /// Stop the jobs, then the stack.
    pub fn finish(ctx: Ctx) {
        ctx.jobs.stop_all();
        ctx.stack.shutdown();
    }

    /// Commands print to the process's own stdout and stderr, which a test cannot
    /// capture: the test `test` (its full path) runs itself again in a child process,
    /// where this runs `f` on a fresh [`ctx`] and returns `None`; in the parent it returns
    /// the child's stdout and stderr.
    pub fn in_child(test: &str, f: impl FnOnce(&Ctx)) -> Option<(String, String)> {
        const CHILD: &str = "TAPIP_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let ctx = ctx();
            f(&ctx);
            crate::out::flush();
            finish(ctx);
            return None;
        }
        let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .output()
            .expect("run the test in a child");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Some((text(&out.stdout), text(&out.stderr)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Instant;

    /// `arp -s` says why the stack refused the entry, not always "not on a directly
    /// connected network".
    #[test]
    fn arp_s_says_why_it_was_refused() {
        let ctx = testing::ctx();
        let _link = testing::mem_iface(&ctx, "m0", "10.9.0.1/16");
        let mac = "02:00:00:00:00:09";
        let err = |ip: &str| run(&ctx, &format!("arp -s {ip} {mac}")).unwrap_err();
        let (lo, own, bcast, net, off) = (
            err("127.0.0.1"),
            err("10.9.0.1"),
            err("10.9.255.255"),
            err("10.9.0.0"),
            err("10.1.2.3"),
        );
        testing::finish(ctx);
        assert_eq!(lo, "arp: 127.0.0.1 is this host's own address");
        assert_eq!(own, "arp: 10.9.0.1 is this host's own address");
        assert_eq!(bcast, "arp: 10.9.255.255 is not a unicast address");
        assert_eq!(net, "arp: 10.9.0.0 is not a unicast address");
        assert_eq!(off, "arp: 10.1.2.3 is not on a directly connected network");
    }

    /// A recording that a write error ended (here its FIFO's reader went away) is told at
    /// the next `pcap` command, in one line, once.
    #[test]
    fn a_recording_ended_by_a_write_error_is_told_once() {
        let ctx = testing::ctx();
        let dir = testing::temp_dir("pcap-fifo");
        let fifo = dir.join("cap");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()));
        let path = fifo.clone();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut f = std::fs::File::open(&path).unwrap();
            let mut h = [0u8; 24];
            f.read_exact(&mut h).unwrap();
        });
        let started = run(&ctx, &format!("pcap start {}", fifo.display()));
        reader.join().unwrap();
        assert!(started.is_ok(), "{started:?}");
        // More than the writer's buffer, so that the write reaches the closed pipe.
        for _ in 0..200 {
            ctx.pcap.record(&[0u8; 1500]);
        }
        assert_eq!(ctx.pcap.write_errors(), 1);
        let stopped = run(&ctx, "pcap stop");
        let again = run(&ctx, "pcap stop");
        testing::finish(ctx);
        let e = stopped.unwrap_err();
        assert!(
            e.starts_with("pcap: recording stopped by a write error: ") && !e.contains('\n'),
            "{e}"
        );
        assert!(again.is_ok(), "told once: {again:?}");
    }

    /// `ifconfig` changes nothing when a part is refused, `up` included (the routing
    /// table full, so the interface's connected route cannot go in).
    #[test]
    fn ifconfig_changes_nothing_when_up_is_refused() {
        let ctx = testing::ctx();
        let _peer = testing::mem_iface(&ctx, "m0", "10.9.0.1/16");
        run(&ctx, "ifconfig lo down").unwrap();
        let mut i = 0;
        while ctx.stack.with_core(|c, _| c.ip.routes().len()) < 256 {
            let line = format!("route add 172.{}.{}.0/24 dev m0", 16 + i / 256, i % 256);
            run(&ctx, &line).unwrap();
            i += 1;
        }
        let r = run(&ctx, "ifconfig lo 127.0.0.2/8 mtu 1000 up");
        let (mtu, addr) = ctx.stack.with_core(|c, _| {
            let lo =
                c.ip.interfaces()
                    .into_iter()
                    .find(|i| i.name == "lo")
                    .unwrap();
            (lo.mtu, lo.addr)
        });
        testing::finish(ctx);
        assert!(r.is_err());
        assert_eq!(
            (mtu, addr.map(|a| a.to_string())),
            (65535, Some("127.0.0.1/8".into())),
            "refused ({r:?}) but changed"
        );
    }

    /// `f`'s result, run on a thread of its own: a test fails, and does not hang, if `f`
    /// waits for ever.
    pub(crate) fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("still waiting after 10 s")
    }

    #[test]
    fn sleep_lasts_its_time_unless_a_signal_comes_and_a_bare_ring_does_not_end_it() {
        let sig = Signals::default();
        // A ring with no flag set (a spent Ctrl-C) wakes the sleeper, which sleeps on.
        sig.ring();
        let t = Instant::now();
        assert!(sig.sleep(Duration::from_millis(80)));
        assert!(t.elapsed() >= Duration::from_millis(80));
        // Without end until a signal: raised from another thread, it ends at once.
        let other = sig.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            other.raise_interrupt();
        });
        let sleeper = sig.clone();
        assert!(!within(move || sleeper.sleep(Duration::MAX)));
        h.join().unwrap();
        // A flag already set: no sleep at all.
        assert!(!sig.sleep(Duration::from_secs(60)));
    }

    /// Seeded random command lines, run for real on an in-memory stack, each stopped by a
    /// Ctrl-C after 100 ms if it is still running: every one returns (done or a one-line
    /// error), none panics, none ignores the Ctrl-C, and the stack still answers after
    /// them all. Unlike the parser's test this runs the commands: sizes, MTUs, routes,
    /// addresses and ports at and beyond their limits reach the stack's own checks.
    #[test]
    fn random_commands_run_on_a_live_stack_answer_in_one_line_and_stop_on_ctrl_c() {
        let dir = testing::temp_dir("typed");
        let d = dir.display().to_string();
        let files = [
            format!("{d}/a"),
            format!("{d}/b.pcap"),
            "/nonexistent/x".into(),
            d.clone(),
        ];
        struct Rng(u64);
        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            }
            /// One of `good`, or one in eight times one of `bad`: a line mostly gets past
            /// the argument checks and reaches the stack.
            fn v(&mut self, good: &[&str], bad: &[&str]) -> String {
                let r = self.next();
                let i = (r >> 8) as usize;
                if r.is_multiple_of(8) && !bad.is_empty() {
                    bad[i % bad.len()].to_string()
                } else {
                    good[i % good.len()].to_string()
                }
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        const ADDRS: &[&str] = &[
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.255",
            "255.255.255.255",
            "10.9.9.9",
            "0.0.0.0",
            "224.0.0.1",
        ];
        const BAD_ADDRS: &[&str] = &["1.2.3", "x", "300.1.1.1", ""];
        const NETS: &[&str] = &[
            "10.1.0.0/16",
            "0.0.0.0/0",
            "127.0.0.0/8",
            "1.2.3.4/32",
            "127.0.0.1/32",
        ];
        const BAD_NETS: &[&str] = &["1.2.3.0/33", "x/8", "1.2.3.4/"];
        const PORTS: &[&str] = &["1", "7", "9", "13", "19", "80", "65535"];
        const BAD_PORTS: &[&str] = &["0", "65536", "-1", "x"];
        let ctx = testing::ctx();
        for round in 0..500 {
            let line = match rng.next() % 14 {
                1 => format!(
                    "traceroute -f {} -m {} -q {} -w {} -p {} {}",
                    rng.v(&["1", "2", "30"], &["0", "256"]),
                    rng.v(&["1", "3", "255"], &["0", "x"]),
                    rng.v(&["1", "3", "10"], &["0", "11"]),
                    rng.v(&["0.05", "0.5", "30"], &["0", "-1", "1e20"]),
                    rng.v(&["33434", "65535", "1"], BAD_PORTS),
                    rng.v(ADDRS, BAD_ADDRS)
                ),
                0 => format!(
                    "ping -c {} -s {} -t {} -i {} -W {} {}",
                    rng.v(&["1", "2", "3"], &["0", "x", "99999999999999999999"]),
                    rng.v(
                        &["0", "1", "56", "1472", "1473", "8000", "65507"],
                        &["65508", "-1", "1e9"]
                    ),
                    rng.v(&["1", "2", "64", "255"], &["0", "256"]),
                    rng.v(&["0.001", "0.01"], &["0", "1e300", "nan"]),
                    rng.v(&["0.05", "0.2"], &["0", "-1", "1e20"]),
                    rng.v(ADDRS, BAD_ADDRS)
                ),
                2 => format!(
                    "ifconfig {} {} {} {}",
                    rng.v(&["lo"], &["tap0", "x"]),
                    rng.v(
                        &["127.0.0.1/8", "10.1.2.3/24", "127.0.0.1/32", "9.9.9.9/0"],
                        BAD_NETS
                    ),
                    rng.v(
                        &["", "netmask 255.255.0.0", "netmask 255.255.255.255"],
                        &["netmask 255.0.255.0"]
                    ),
                    rng.v(&["", "up", "down"], &["sideways"])
                ),
                3 => format!(
                    "ifconfig lo mtu {}",
                    rng.v(
                        &["68", "69", "576", "1500", "9000", "65535"],
                        &["0", "67", "65536", "x"]
                    )
                ),
                4 => format!(
                    "route add {} {} {}",
                    rng.v(NETS, BAD_NETS),
                    rng.v(
                        &["", "via 127.0.0.2", "via 10.9.9.9", "via 0.0.0.0"],
                        &["via x"]
                    ),
                    rng.v(&["", "dev lo"], &["dev tap0"])
                ),
                5 => format!("route del {}", rng.v(NETS, BAD_NETS)),
                6 => format!(
                    "arp {}",
                    rng.v(
                        &[
                            "-n",
                            "-a",
                            "-s 127.0.0.9 02:00:00:00:00:01",
                            "-s 10.9.9.9 ff:ff:ff:ff:ff:ff",
                            "-d 127.0.0.9",
                            "-d 10.9.9.9",
                        ],
                        &["-s 1.1.1.1 zz", "-d", "-s 1.2.3"]
                    )
                ),
                7 => format!(
                    "serve {} -p {} {}",
                    rng.v(&["", "-u"], &[]),
                    rng.v(PORTS, BAD_PORTS),
                    rng.v(
                        &[
                            "echo",
                            "discard",
                            "chargen",
                            "daytime",
                            &format!("http {d}")
                        ],
                        &["nope", "http", "http /nonexistent", "echo /tmp"]
                    )
                ),
                8 => format!(
                    "snc {} -w {} -c {}:{} {}",
                    rng.v(&["", "-u", "-d"], &[]),
                    rng.v(&["0.05", "1"], &["0", "x"]),
                    rng.v(ADDRS, BAD_ADDRS),
                    rng.v(PORTS, BAD_PORTS),
                    rng.v(
                        &["", &format!("-o {}", files[0]), &format!("-f {}", files[0])],
                        &[&format!("-o {}", files[2]), &format!("-f {d}")]
                    )
                ),
                9 => format!(
                    "snc {} -w {} -b {}",
                    rng.v(&["", "-u"], &[]),
                    rng.v(&["0.05", "1"], &["0"]),
                    rng.v(
                        &["5555", "127.0.0.1:5556", "7"],
                        &["0", "x:1", "127.0.0.1:"]
                    )
                ),
                10 => format!(
                    "get {} http://{}:{}/{}",
                    rng.v(
                        &["", &format!("-o {}", files[0])],
                        &[&format!("-o {}", files[2]), &format!("-o {d}")]
                    ),
                    rng.v(ADDRS, BAD_ADDRS),
                    rng.v(PORTS, BAD_PORTS),
                    rng.v(&["", "a", "a/b"], &["%zz", "../../x", "\\x00"])
                ),
                11 => format!(
                    "pcap start {}; debug -n {}; pcap stop; pcap stop; debug -c",
                    rng.v(&[&files[1]], &[&files[2], &files[3]]),
                    rng.v(&["all", "tcp ip", "dev"], &["x", ""])
                ),
                12 => format!(
                    "kill {}; jobs; netstat {}; stat",
                    rng.v(&["1", "2", "3"], &["0", "x", "99999999999999999999"]),
                    rng.v(&["-a", "-tnlp", "-u", "-w"], &["-z"])
                ),
                _ => format!(
                    "sleep {}; {}",
                    rng.v(&["0", "0.01", "1000"], &["-1", "x", "1e300"]),
                    rng.v(
                        &[
                            "help ping",
                            "arp -n",
                            "route -n",
                            "ifconfig -a",
                            "wait",
                            "clear"
                        ],
                        &["help x"]
                    )
                ),
            };
            for cmd in syntax::commands(&line) {
                ctx.sig.interrupt.store(false, Ordering::SeqCst);
                let (done, finished) = bounded::<()>(1);
                let sig = ctx.sig.clone();
                let dog = std::thread::spawn(move || {
                    if finished.recv_timeout(Duration::from_millis(100)).is_err() {
                        sig.raise_interrupt();
                        return finished.recv_timeout(Duration::from_secs(10)).is_ok();
                    }
                    true
                });
                let r = run(&ctx, cmd);
                match r {
                    Ok(_) => {}
                    Err(e) => assert!(
                        !e.is_empty() && !e.contains('\n'),
                        "round {round}, {cmd:?}: {e:?}"
                    ),
                }
                let _ = done.send(());
                assert!(
                    dog.join().unwrap(),
                    "round {round}: {cmd:?} ignored Ctrl-C for 10 s"
                );
            }
        }
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        ctx.jobs.stop_all();
        // The stack still works: with the loopback's address, MTU and state put back (the
        // lines above may have changed them), it answers a ping.
        for cmd in [
            "ifconfig lo 127.0.0.1/8 mtu 65535 up",
            "route del 127.0.0.0/8",
            "route add 127.0.0.0/8 dev lo",
        ] {
            let _ = run(&ctx, cmd);
        }
        let ctx = within(move || {
            assert_eq!(run(&ctx, "ping -c 1 -W 5 127.0.0.1"), Ok(Flow::Continue));
            ctx
        });
        // And a trace to its own address ends at the first hop, with its port unreachable.
        let ctx = within(move || {
            assert_eq!(
                run(&ctx, "traceroute -q 2 -w 5 127.0.0.1"),
                Ok(Flow::Continue)
            );
            ctx
        });
        testing::finish(ctx);
    }

    /// Each recording counts its own packets; a second start says it stopped the first.
    /// Run `f` on a thread; if it has not returned within 10 s, open both ends of `fifo`
    /// (so that an `open` held in the kernel returns) and fail.
    fn ends_by_itself<T: Send + 'static>(
        fifo: &std::path::Path,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(r) => r,
            Err(_) => {
                use std::os::unix::fs::OpenOptionsExt;
                let mut o = std::fs::OpenOptions::new();
                o.read(true)
                    .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
                let _r = o.open(fifo);
                let _w = std::fs::OpenOptions::new().write(true).open(fifo);
                panic!("still waiting for the FIFO's other end after 10 s");
            }
        }
    }

    /// A FIFO in a fresh directory, which goes when the first value drops.
    fn fifo(tag: &str) -> (testing::TempDir, std::path::PathBuf) {
        let dir = testing::temp_dir(tag);
        let path = dir.join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("a FIFO");
        (dir, path)
    }

    /// A FIFO without its other end: the wait ends when told to (Ctrl-C), whichever way
    /// it is opened; before, `open` held the caller in the kernel for good.
    #[test]
    fn the_wait_for_a_fifo_ends_on_ctrl_c() {
        for write in [false, true] {
            let (_dir, path) = fifo("fifo-stop");
            let p = path.clone();
            let r = ends_by_itself(&path, move || {
                let t = std::time::Instant::now();
                let stop = move || t.elapsed() > Duration::from_millis(200);
                let mut o = std::fs::OpenOptions::new();
                o.read(!write).write(write);
                open_waiting(&p, &o, write, &stop).map(|_| ())
            });
            assert_eq!(
                r.map_err(|e| e.kind()),
                Err(std::io::ErrorKind::Interrupted)
            );
        }
    }

    /// ... and goes on when the other end comes: what is written arrives, blocking again.
    #[test]
    fn a_fifo_opens_when_its_other_end_comes() {
        use std::io::{Read, Write};
        let (_dir, path) = fifo("fifo-peer");
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            w.write_all(b"hi").unwrap();
        });
        let p = path.clone();
        let got = ends_by_itself(&path, move || {
            let mut o = std::fs::OpenOptions::new();
            o.read(true);
            let mut f = open_waiting(&p, &o, false, &|| false).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            s
        });
        writer.join().unwrap();
        assert_eq!(got, "hi");
        // Writing: the reader comes later.
        let p = path.clone();
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::read(&p).unwrap()
        });
        let p = path.clone();
        ends_by_itself(&path, move || {
            let mut o = std::fs::OpenOptions::new();
            o.write(true);
            let mut f = open_waiting(&p, &o, true, &|| false).unwrap();
            f.write_all(&[7u8; 100_000]).unwrap();
        });
        assert_eq!(reader.join().unwrap(), vec![7u8; 100_000]);
    }

    /// `pcap start FIFO` with no reader: Ctrl-C ends it with a one-line error, and frames
    /// pass meanwhile (the open is outside the recording's lock).
    #[test]
    fn pcap_start_on_a_fifo_without_a_reader_ends_on_ctrl_c() {
        let ctx = Arc::new(testing::ctx());
        let (_dir, path) = fifo("fifo-pcap");
        let (c, p) = (ctx.clone(), path.clone());
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(pcap(&c, PcapAction::Start { file: p }));
        });
        std::thread::sleep(Duration::from_millis(200));
        // A frame is recorded (or not) without waiting for the open.
        let (ftx, frx) = bounded(1);
        let c = ctx.clone();
        std::thread::spawn(move || {
            c.pcap.record(&[0u8; 60]);
            let _ = ftx.send(());
        });
        let frame_passed = frx.recv_timeout(Duration::from_secs(5)).is_ok();
        ctx.sig.interrupt.store(true, Ordering::SeqCst);
        let r = rx.recv_timeout(Duration::from_secs(10));
        if r.is_err() {
            let _r = std::fs::OpenOptions::new().read(true).open(&path);
        }
        assert!(frame_passed, "a frame waited for the open");
        assert_eq!(
            r.expect("the wait ended"),
            Err(format!(
                "pcap: cannot write '{}': interrupted",
                path.display()
            ))
        );
    }

    #[test]
    fn pcap_counts_per_file_and_says_when_a_start_stops_a_recording() {
        let ctx = testing::ctx();
        let dir = testing::temp_dir("pcap");
        let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
        let start = |f: &std::path::Path| {
            pcap(
                &ctx,
                PcapAction::Start {
                    file: f.to_path_buf(),
                },
            )
        };
        let frame = [0u8; 60];
        assert_eq!(start(&a), Ok(vec![format!("recording to {}", a.display())]));
        for _ in 0..4 {
            ctx.pcap.record(&frame);
        }
        assert_eq!(
            pcap(&ctx, PcapAction::Stop),
            Ok(vec![format!(
                "stopped recording to {} (4 packets)",
                a.display()
            )])
        );
        start(&b).unwrap();
        assert_eq!(
            pcap(&ctx, PcapAction::Stop),
            Ok(vec![format!(
                "stopped recording to {} (0 packets)",
                b.display()
            )])
        );
        assert_eq!(
            pcap(&ctx, PcapAction::Stop),
            Ok(vec!["not recording".to_string()])
        );
        // A start while recording: the first file's count, then the new file.
        start(&a).unwrap();
        ctx.pcap.record(&frame);
        assert_eq!(
            start(&b),
            Ok(vec![
                format!("stopped recording to {} (1 packet)", a.display()),
                format!("recording to {}", b.display())
            ])
        );
        ctx.pcap.record(&frame);
        ctx.pcap.record(&frame);
        // A file that cannot be written: the running recording is stopped all the same.
        let e = start(&dir.join("no/such.pcap")).unwrap_err();
        assert!(
            e.starts_with("pcap: cannot write '")
                && e.ends_with(&format!(
                    "; stopped recording to {} (2 packets)",
                    b.display()
                )),
            "{e}"
        );
        assert!(!ctx.pcap.is_recording());
        testing::finish(ctx);
    }

    /// At a terminal, Ctrl-C ends `wait` and the shell goes on (its jobs too); with
    /// commands not from a terminal SIGINT ends the program, as SIGTERM always does.
    #[test]
    fn ctrl_c_at_a_terminal_ends_the_wait_not_the_program() {
        let ctx = testing::ctx();
        for (at_terminal, terminate, flow) in [
            (true, false, Flow::Continue),
            (true, true, Flow::Exit),
            (false, false, Flow::Exit),
        ] {
            ctx.sig.at_terminal.store(at_terminal, Ordering::SeqCst);
            ctx.sig.interrupt.store(false, Ordering::SeqCst);
            ctx.sig.terminate.store(false, Ordering::SeqCst);
            let sig = ctx.sig.clone();
            let h = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                if terminate {
                    sig.terminate.store(true, Ordering::SeqCst);
                }
                sig.raise_interrupt();
            });
            let r = {
                let ctx = &ctx;
                std::thread::scope(|sc| sc.spawn(|| testing::run_line(ctx, "wait")).join())
            };
            h.join().unwrap();
            assert_eq!(r.unwrap(), Ok(flow), "{at_terminal} {terminate}");
        }
        testing::finish(ctx);
    }

    #[test]
    fn long_words_in_errors_are_cut() {
        let ctx = testing::ctx();
        let long = "x".repeat(3000);
        let e = run(&ctx, &format!("ping {long}")).unwrap_err();
        assert!(
            e.len() < 300 && e.contains("xxx...") && !e.contains('\n'),
            "{e}"
        );
        let e = run(&ctx, &format!("frobnicate{long}")).unwrap_err();
        assert!(e.len() < 300, "{e}");
        // Short ones are left alone.
        assert_eq!(
            shorten("ping: invalid address 'x'"),
            "ping: invalid address 'x'"
        );
        let w = "é".repeat(101);
        assert_eq!(shorten(&w), format!("{}...", "é".repeat(97)));
        testing::finish(ctx);
    }

    /// Ctrl-C stops every command (the random-commands test gives each 10 s). A host name
    /// looked up from DNS servers that do not answer (2 s a server, twice round: 12 s
    /// with three) is not: `host`, `ping NAME` and `get http://NAME/` wait out the
    /// resolver however soon Ctrl-C comes.
    #[test]
    fn ctrl_c_ends_a_name_lookup() {
        let ctx = testing::ctx();
        // A DNS server that never answers.
        let _silent = socket_api::UdpSocket::bind(&ctx.stack, "127.0.0.1:53").unwrap();
        let lo = std::net::Ipv4Addr::LOCALHOST;
        ctx.stack.set_dns_servers(&[lo, lo, lo]);
        for line in ["host web.test", "ping -c 1 web.test"] {
            ctx.sig.interrupt.store(false, Ordering::SeqCst);
            let sig = ctx.sig.clone();
            let h = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                sig.raise_interrupt();
            });
            let t = Instant::now();
            let r = run(&ctx, line);
            let took = t.elapsed();
            h.join().unwrap();
            assert!(r.is_err(), "{line}: {r:?}");
            assert!(
                took < Duration::from_secs(2),
                "{line}: Ctrl-C after 0.1 s, returned after {took:?}: {r:?}"
            );
        }
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        testing::finish(ctx);
    }

    /// Every error is one line (`run`'s contract, and what `-c` users get on stderr). A
    /// word may hold a newline (`tapip -c "ping 'a<newline>b'"`, quoted as in a shell), and
    /// errors repeat the word as it is: the error is two lines. `shorten` cuts long words
    /// but leaves control characters (a newline, an escape sequence) in.
    #[test]
    fn errors_stay_one_line_with_a_newline_in_a_word() {
        let ctx = testing::ctx();
        for line in ["ping 'a\nb'", "frobnicate'\n'x", "debug 'tcp\nx'"] {
            let e = run(&ctx, line).unwrap_err();
            assert!(!e.contains('\n'), "{line:?}: {e:?}");
        }
        testing::finish(ctx);
    }

    #[test]
    fn wait_ends_when_a_signal_comes() {
        let ctx = testing::ctx();
        let sig = ctx.sig.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            sig.terminate.store(true, Ordering::SeqCst);
            sig.ring();
        });
        let ctx = within(move || {
            assert_eq!(testing::run_line(&ctx, "wait"), Ok(Flow::Exit));
            ctx
        });
        h.join().unwrap();
        testing::finish(ctx);
    }
}
