//! The shell: where commands come from (a terminal with line editing, a pipe, `-c`,
//! `--script`) and how signals end them.

use crate::cmd::input::{self, Input, InputLine, LineRequest};
use crate::cmd::{self, Ctx, Flow, Signals};
use crate::{setup, Cli};
use crossbeam_channel::{bounded, select, Receiver, SendError, Sender};
use netif::trace::Trace;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PROMPT: &str = "[net shell]: ";
/// `--linger`'s default: how long the end of the program waits for TCP connections to
/// deliver their queued data and FIN.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(10);

/// Run the program; returns the exit code.
pub fn main(cli: Cli, script: Vec<String>) -> i32 {
    let sig = Signals::default();
    // Commands typed at a terminal: Ctrl-C cancels the line or the running command, as in
    // bash. Otherwise (a pipe, `-c`, `--script`) SIGINT ends the program, like SIGTERM.
    let interactive =
        cli.commands.is_none() && cli.script.is_none() && std::io::stdin().is_terminal();
    sig.at_terminal.store(interactive, Ordering::SeqCst);
    // Set once the program has begun to end: a SIGINT or SIGTERM then ends it at once.
    let exiting = Arc::new(AtomicBool::new(false));
    // The line editor puts the terminal in raw mode while it reads; a SIGTERM at the prompt
    // ends the program with the editor still reading, so the terminal is put back here.
    let terminal = interactive
        .then(|| nix::sys::termios::tcgetattr(std::io::stdin()).ok())
        .flatten();
    if let Err(e) = install_signal_handlers(&sig, &exiting, interactive) {
        errln!("tapip: cannot install a signal handler: {e}");
        return 1;
    }
    let (trace, lines) = Trace::new();
    let printer = std::thread::Builder::new()
        .name("trace-printer".into())
        .spawn(move || {
            for l in lines {
                outln!("{l}");
            }
        });
    let printer = match printer {
        Ok(p) => p,
        Err(e) => {
            errln!("tapip: {e}");
            return 1;
        }
    };
    let (input, requests) = Input::new();
    let ctx = match setup::build(&cli, trace, sig, input) {
        Ok(x) => x,
        Err(e) => {
            errln!("tapip: {e}");
            return 1;
        }
    };
    // On stderr, so that stdout holds only what the commands print.
    let lease = setup::wait_for_lease(&cli, &ctx);
    errln!("{}", setup::describe(&cli, &ctx.tap, lease.as_deref()));
    let mut code = run_commands(&cli, script, &ctx, requests);
    exiting.store(true, Ordering::SeqCst);
    if let Some(t) = &terminal {
        // Before the wait, so that Ctrl-C is a signal again and a forced end leaves the
        // terminal as it was.
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
    }
    // Background jobs close their sockets and end while the stack still runs.
    ctx.jobs.stop_all();
    // Closed connections deliver what they hold before the stack goes.
    let limit = cli.linger.unwrap_or(DEFAULT_LINGER);
    if !linger(&ctx, limit, interactive) && code == 0 {
        code = 1;
    }
    // The stack's last frames (a DHCPRELEASE, the resets of connections given up) are
    // written before the capture ends: it stops once the drivers have (it stopped before,
    // and missed them; found by a review).
    ctx.stack.shutdown();
    // A capture cut short by a write error, or whose last records do not reach the file,
    // is said in one line, and the program does not end as if all went well.
    let flushed = ctx.pcap.stop().map_err(|e| format!("pcap: {e}"));
    for e in crate::cmd::pcap_failure(&ctx)
        .into_iter()
        .chain(flushed.err())
    {
        errln!("{e}");
        if code == 0 {
            code = 1;
        }
    }
    // The drivers (and their tracers) are gone; with the shell's handle dropped too the
    // trace channel closes and the printer ends once it has printed every line.
    drop(ctx);
    let _ = printer.join();
    crate::out::flush();
    code
}

/// SIGINT, SIGTERM and SIGHUP set the flags commands look at (SIGHUP, the terminal gone or
/// an ssh session dropped, ends the program as SIGTERM does: gracefully, queued data
/// delivered within `--linger`; its default action killed it at once, found by a
/// review). A signal that comes once the program is ending (`exiting`) ends it at once,
/// with the status a shell expects (128 + signal).
fn install_signal_handlers(
    sig: &Signals,
    exiting: &Arc<AtomicBool>,
    interactive: bool,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    // Registered first, so that each looks at `exiting` as it was before its own signal.
    for s in [SIGINT, SIGTERM, SIGHUP] {
        flag::register_conditional_shutdown(s, 128 + s, exiting.clone())?;
    }
    flag::register(SIGINT, sig.interrupt.clone())?;
    for s in [SIGTERM, SIGHUP] {
        flag::register(s, sig.terminate.clone())?;
        flag::register(s, exiting.clone())?;
    }
    if !interactive {
        flag::register(SIGINT, exiting.clone())?;
    }
    // Registered after the flags, so it runs after them: the bell wakes the shell where it
    // waits (for a line, in `wait` or `sleep`), and it finds the flags set.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let sig = sig.clone();
    // The terminal echoed `^C` where the cursor was: what comes next (a summary, the
    // prompt) starts on a line of its own. (At the prompt the line editor takes Ctrl-C.)
    let new_line = interactive && std::io::stderr().is_terminal();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if s == SIGINT && new_line {
                    errln!();
                }
                sig.ring();
            }
        })?;
    Ok(())
}

/// The graceful end: wait, at most `limit`, until every TCP connection has its data and
/// FIN acknowledged; say which were given up (they are reset). False if any was.
fn linger(ctx: &Ctx, limit: Duration, interactive: bool) -> bool {
    let pending = ctx
        .stack
        .with_core(|c, _| c.transport.tcp_undelivered().len());
    if pending > 0 && interactive && !limit.is_zero() {
        errln!("{}", waiting_line(pending, limit));
    }
    let left = ctx.stack.linger(limit, || false);
    for u in &left {
        errln!("tapip: {}", abandoned(u.local, u.remote, &u.outstanding));
    }
    left.is_empty()
}

/// `tapip: waiting up to 10 s for 1 connection to deliver its data (Ctrl-C to quit now)`.
fn waiting_line(pending: usize, limit: Duration) -> String {
    let (s, their) = if pending == 1 {
        ("", "its")
    } else {
        ("s", "their")
    };
    format!(
        "tapip: waiting up to {} s for {pending} connection{s} to deliver {their} data (Ctrl-C to quit now)",
        limit.as_secs_f64()
    )
}

/// `gave up on tcp 10.0.0.1:40000 -> 10.0.0.2:9002 (LAST-ACK): 1046320 bytes and the FIN not
/// delivered`.
fn abandoned(
    local: std::net::SocketAddrV4,
    remote: std::net::SocketAddrV4,
    o: &transport::tcp::Outstanding,
) -> String {
    let what = match o.unacked {
        0 => "the FIN not delivered".to_string(),
        n => format!("{n} bytes and the FIN not delivered"),
    };
    format!(
        "gave up on tcp {} -> {} ({}): {what}",
        local,
        remote,
        o.state.name()
    )
}

/// `--script`'s lines. Read before the stack starts (`main`), so that a script that cannot
/// be read is said before the TAP is made and its kernel side configured, as a bad option
/// is; it was said only after them (and after `--dhcp`'s wait for a lease; found by a
/// review). The error is one line, for `tapip: `.
pub fn read_script(path: &std::path::Path) -> Result<Vec<String>, String> {
    // A script is commands, not data: one of many megabytes is a mistake.
    const MAX_SCRIPT: u64 = 16 << 20;
    let too_large = || {
        format!(
            "script {} is larger than {} MiB: not read",
            path.display(),
            MAX_SCRIPT >> 20
        )
    };
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_SCRIPT) {
        return Err(too_large());
    }
    // Read at most one byte past the limit: a pipe or FIFO has no size to look at.
    let mut text = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| {
        use std::io::Read;
        f.take(MAX_SCRIPT + 1).read_to_end(&mut text)
    });
    match read {
        Ok(n) if n as u64 > MAX_SCRIPT => Err(too_large()),
        // Lossily, as piped input is read: one stray byte (a Latin-1 comment) does not
        // refuse the whole script.
        Ok(_) => Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_string)
            .collect()),
        Err(e) => Err(format!("cannot read script {}: {e}", path.display())),
    }
}

/// Run the commands: `-c`'s, then `script` (`--script`'s lines, read by `read_script`),
/// else those from stdin.
fn run_commands(cli: &Cli, script: Vec<String>, ctx: &Ctx, requests: Receiver<LineRequest>) -> i32 {
    if cli.commands.is_some() || cli.script.is_some() {
        // Commands do not come from stdin: it is the data of commands that read input.
        // The thread is not joined: it may be blocked reading stdin when the program ends.
        let _ = std::thread::Builder::new()
            .name("input".into())
            .spawn(move || input::serve_stdin(requests));
        let mut lines: Vec<String> = Vec::new();
        if let Some(c) = &cli.commands {
            // One line: `one` splits it at the `;`s outside quotes.
            lines.push(c.clone());
        }
        lines.extend(script);
        let mut status = Status::new(cli.errexit);
        for l in lines {
            // A signal that came before (while the stack started, or during `--dhcp`'s
            // wait for the lease) ends the program before any command runs, as with
            // commands from a pipe (`next_line`; found by a review).
            if ctx.sig.stop_requested() || one(ctx, &l, &mut status) == Flow::Exit {
                break;
            }
        }
        return status.code();
    }
    let (tx, rx) = bounded::<Option<CommandLine>>(1);
    let (ack_tx, ack_rx) = bounded::<()>(1);
    let interactive = std::io::stdin().is_terminal();
    let reader = std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            if interactive {
                read_terminal(&tx, &ack_rx, &requests)
            } else {
                read_pipe(&tx, &ack_rx, &requests)
            }
        });
    if let Err(e) = reader {
        errln!("tapip: {e}");
        return 1;
    }
    // At a terminal a failed command does not make the whole session fail.
    let mut status = Status::new(cli.errexit && !interactive);
    run_lines(ctx, &rx, &ack_tx, interactive, &mut status);
    if interactive {
        0
    } else {
        status.code()
    }
}

/// What the input thread hands the shell: a command line, or (`Err`) the one line that
/// says why a line was refused, which counts as a failed command.
type CommandLine = Result<String, String>;

/// Run the lines the input thread hands over (`ack` tells it that one is done), until
/// the end of input, `exit`, a signal that ends the program or, with `-e`, a failure.
fn run_lines(
    ctx: &Ctx,
    rx: &Receiver<Option<CommandLine>>,
    ack: &Sender<()>,
    interactive: bool,
    status: &mut Status,
) {
    while let Some(Some(line)) = next_line(ctx, rx, interactive) {
        let flow = match line {
            Ok(line) => one(ctx, &line, status),
            Err(e) => {
                errln!("{e}");
                status.fail()
            }
        };
        if flow == Flow::Exit || ctx.sig.terminate.load(Ordering::SeqCst) {
            break;
        }
        // At a terminal, Ctrl-C ends the running command and the shell goes on; with
        // commands from a pipe, SIGINT ends the program like SIGTERM.
        if !interactive && ctx.sig.interrupt.load(Ordering::SeqCst) {
            break;
        }
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        let _ = ack.send(());
    }
}

/// Whether a command failed, for the exit status: 0 when every command succeeded, 1 when
/// one failed (a bad command line, or a command that reported an error).
struct Status {
    failed: bool,
    /// `-e`: stop at the first failure.
    errexit: bool,
}

impl Status {
    fn new(errexit: bool) -> Status {
        Status {
            failed: false,
            errexit,
        }
    }

    fn code(&self) -> i32 {
        i32::from(self.failed)
    }

    /// A command failed: what the shell does next (`-e`: end).
    fn fail(&mut self) -> Flow {
        self.failed = true;
        if self.errexit {
            Flow::Exit
        } else {
            Flow::Continue
        }
    }
}

/// Wait for a line while watching for signals: `None` ends the program. At a terminal
/// only SIGTERM does (Ctrl-C at the prompt reaches the line editor, not us).
fn next_line(
    ctx: &Ctx,
    rx: &Receiver<Option<CommandLine>>,
    interactive: bool,
) -> Option<Option<CommandLine>> {
    loop {
        if ctx.sig.terminate.load(Ordering::SeqCst) {
            return None;
        }
        if ctx.sig.interrupt.load(Ordering::SeqCst) {
            if !interactive {
                return None;
            }
            // Between two commands, with no command to stop: nothing to do.
            ctx.sig.interrupt.store(false, Ordering::SeqCst);
        }
        select! {
            recv(rx) -> l => return l.ok(),
            recv(ctx.sig.bell()) -> _ => {}
        }
    }
}

/// Run one line (commands separated by `;`), printing their errors; with `-e`, the first
/// failure ends the program.
fn one(ctx: &Ctx, line: &str, status: &mut Status) -> Flow {
    let mut flow = Flow::Continue;
    for c in cmd::syntax::commands(line) {
        // Not trimmed: the words are split as a shell does, and `a\ ` ends in a space.
        if c.trim().is_empty() {
            continue;
        }
        match cmd::run(ctx, c) {
            Ok(f) => flow = f,
            Err(e) => {
                errln!("{e}");
                flow = status.fail();
            }
        }
        // A signal that stopped a command ends its line too, as in `sh -c 'a; b'`.
        if flow == Flow::Exit || ctx.sig.stop_requested() {
            break;
        }
    }
    crate::out::flush();
    flow
}

/// The input thread: hands the shell one command line at a time and, while that command
/// runs, serves its requests for lines of input (see `cmd::input`). `read(true)` reads a
/// command line, `read(false)` a line of data.
///
/// A panic of its own (a bug in the reading) is handed on as one refused line, a failed
/// command, after which no more lines come: the shell then ends with a failure, and with
/// `-e` at once. It ended as at the end of its input, with status 0 after a script from a
/// pipe cut short.
fn input_loop(
    read: impl FnMut(bool) -> InputLine,
    tx: &Sender<Option<CommandLine>>,
    ack: &Receiver<()>,
    requests: &Receiver<LineRequest>,
) {
    let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve(read, tx, ack, requests)
    }));
    if served.is_err() {
        let _ = tx.send(Some(Err(
            "tapip: reading the input failed: no more commands are read".to_string(),
        )));
    }
}

/// The body of [`input_loop`].
fn serve(
    mut read: impl FnMut(bool) -> InputLine,
    tx: &Sender<Option<CommandLine>>,
    ack: &Receiver<()>,
    requests: &Receiver<LineRequest>,
) {
    // A line read for a command that stopped before it came: the next command line.
    let mut left: Option<Vec<u8>> = None;
    // The input ended where a refused line was skipped: the end follows its refusal.
    let mut eof = false;
    loop {
        let line = match left.take() {
            Some(l) => Ok(l),
            None => match read(true) {
                InputLine::Line(l) if l.len() >= input::MAX_LINE => {
                    // A command line of a megabyte is no command: skip to its end, if
                    // the read cut it there. The shell says so, and counts it as a
                    // failed command (`-e` ends there), as any bad command line.
                    let mut cut = input::is_overlong(&l);
                    while cut {
                        match read(true) {
                            InputLine::Line(l) => cut = input::is_overlong(&l),
                            InputLine::Eof | InputLine::Interrupted => {
                                eof = true;
                                cut = false;
                            }
                        }
                    }
                    Err(format!(
                        "tapip: a command line longer than {} bytes: ignored",
                        input::MAX_LINE
                    ))
                }
                InputLine::Line(l) => Ok(l),
                InputLine::Eof | InputLine::Interrupted => {
                    let _ = tx.send(None);
                    return;
                }
            },
        };
        // The line's end only: `a\ ` keeps its escaped space.
        let line = line.map(|l| {
            String::from_utf8_lossy(&l)
                .trim_end_matches(['\n', '\r'])
                .to_string()
        });
        if tx.send(Some(line)).is_err() {
            return;
        }
        loop {
            select! {
                recv(ack) -> done => {
                    if done.is_err() {
                        return;
                    }
                    break;
                }
                recv(requests) -> reply => {
                    let Ok(reply) = reply else { return };
                    let l = match left.take() {
                        Some(l) => InputLine::Line(l),
                        None => read(false),
                    };
                    if let Err(SendError(InputLine::Line(l))) = reply.send(l) {
                        left = Some(l);
                    }
                }
            }
        }
        if eof {
            let _ = tx.send(None);
            return;
        }
    }
}

fn read_pipe(
    tx: &Sender<Option<CommandLine>>,
    ack: &Receiver<()>,
    requests: &Receiver<LineRequest>,
) {
    let mut stdin = std::io::stdin().lock();
    input_loop(|_| input::read_line(&mut stdin), tx, ack, requests);
}

fn read_terminal(
    tx: &Sender<Option<CommandLine>>,
    ack: &Receiver<()>,
    requests: &Receiver<LineRequest>,
) {
    let Ok(mut ed) = rustyline::DefaultEditor::new() else {
        return read_pipe(tx, ack, requests);
    };
    let read = |command: bool| loop {
        match ed.readline(if command { PROMPT } else { "" }) {
            Ok(line) if command => {
                if !line.trim().is_empty() {
                    let _ = ed.add_history_entry(line.as_str());
                }
                // Whole, as a line from a pipe is: a long one is not taken for the first
                // piece of a longer one.
                let mut l = line.into_bytes();
                l.push(b'\n');
                return InputLine::Line(l);
            }
            Ok(line) => {
                let mut data = line.into_bytes();
                data.push(b'\n');
                return InputLine::Line(data);
            }
            // Ctrl-C at the prompt cancels the line, as in bash; while a command reads
            // lines, it stops the command.
            Err(rustyline::error::ReadlineError::Interrupted) if command => {}
            Err(rustyline::error::ReadlineError::Interrupted) => return InputLine::Interrupted,
            // Ctrl-D on an empty line (or a terminal gone): the end of input.
            Err(_) => return InputLine::Eof,
        }
    };
    input_loop(read, tx, ack, requests);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole command line of a megabyte or more (a terminal's, or a pipe's ending in
    /// its newline) is refused alone; the next command runs. A pipe's line cut at the
    /// limit is skipped to its end.
    #[test]
    fn an_overlong_line_is_refused_alone_and_the_next_command_runs() {
        let long = vec![b'x'; input::MAX_LINE];
        let whole = [long.clone(), b"\n".to_vec()].concat();
        for lines in [
            vec![whole, b"ifconfig\n".to_vec()],
            vec![long.clone(), b"xx\n".to_vec(), b"ifconfig\n".to_vec()],
            vec![long.clone(), long, b"x\n".to_vec(), b"ifconfig\n".to_vec()],
        ] {
            let (tx, rx) = bounded::<Option<CommandLine>>(1);
            let (ack_tx, ack_rx) = bounded::<()>(1);
            let (_input, requests) = input::Input::new();
            let mut lines = lines.into_iter();
            let reader = std::thread::spawn(move || {
                input_loop(
                    |_| lines.next().map_or(InputLine::Eof, InputLine::Line),
                    &tx,
                    &ack_rx,
                    &requests,
                )
            });
            let refused = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(
                refused,
                Some(Err(format!(
                    "tapip: a command line longer than {} bytes: ignored",
                    input::MAX_LINE
                )))
            );
            let _ = ack_tx.send(());
            let next = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(next, Some(Ok("ifconfig".to_string())));
            let _ = ack_tx.send(());
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), None);
            let _ = reader.join();
        }
    }

    /// "Exit status: with ... piped input, 1 when a command failed (a bad command line,
    /// ...); `-e` stops at the first failure" (README). A piped command line of a
    /// megabyte or more is refused, but the refusal was said by the input thread and the
    /// shell never heard of it: the program ended with status 0, and `-e` ran the
    /// commands after it (as `-c` with the same line did not: there it is a bad command
    /// line).
    #[test]
    fn an_overlong_piped_line_is_a_failure() {
        // (failed, the loopback's MTU after) for piped `LONG`, then `ifconfig lo mtu 1000`.
        let run = |errexit: bool| {
            let (tx, rx) = bounded::<Option<CommandLine>>(1);
            let (ack_tx, ack_rx) = bounded::<()>(1);
            let (_input, requests) = input::Input::new();
            let long = [vec![b'x'; input::MAX_LINE], b"\n".to_vec()].concat();
            let mut lines = vec![long, b"ifconfig lo mtu 1000\n".to_vec()].into_iter();
            let reader = std::thread::spawn(move || {
                input_loop(
                    |_| lines.next().map_or(InputLine::Eof, InputLine::Line),
                    &tx,
                    &ack_rx,
                    &requests,
                )
            });
            let ctx = crate::cmd::testing::ctx();
            let (ctx, failed) = crate::cmd::tests::within(move || {
                let mut status = Status::new(errexit);
                run_lines(&ctx, &rx, &ack_tx, false, &mut status);
                (ctx, status.failed)
            });
            let mtu = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].mtu);
            crate::cmd::testing::finish(ctx);
            drop(reader);
            (failed, mtu)
        };
        assert_eq!(run(false), (true, 1000), "the status of a refused line");
        assert_eq!(
            run(true),
            (true, 65535),
            "-e: a command ran after the refusal"
        );
    }

    #[test]
    fn the_waiting_line_agrees_in_number() {
        assert_eq!(
            waiting_line(1, Duration::from_secs(10)),
            "tapip: waiting up to 10 s for 1 connection to deliver its data (Ctrl-C to quit now)"
        );
        assert_eq!(
            waiting_line(3, Duration::from_millis(2500)),
            "tapip: waiting up to 2.5 s for 3 connections to deliver their data (Ctrl-C to quit now)"
        );
    }

    #[test]
    fn abandoned_connections_are_one_line_each() {
        let u = |unacked| {
            let o = transport::tcp::Outstanding {
                state: transport::TcpState::LastAck,
                unacked,
                fin_acked: false,
            };
            abandoned(
                "10.0.0.1:40000".parse().unwrap(),
                "10.0.0.2:9002".parse().unwrap(),
                &o,
            )
        };
        assert_eq!(
            u(1_046_320),
            "gave up on tcp 10.0.0.1:40000 -> 10.0.0.2:9002 (LAST-ACK): 1046320 bytes and the FIN not delivered"
        );
        assert_eq!(
            u(0),
            "gave up on tcp 10.0.0.1:40000 -> 10.0.0.2:9002 (LAST-ACK): the FIN not delivered"
        );
    }

    /// Between commands, SIGINT ends the program unless commands come from a terminal;
    /// SIGTERM always does.
    #[test]
    fn signals_between_commands() {
        let ctx = crate::cmd::testing::ctx();
        let (tx, rx) = bounded::<Option<CommandLine>>(1);
        ctx.sig.interrupt.store(true, Ordering::SeqCst);
        assert_eq!(next_line(&ctx, &rx, false), None);
        tx.send(Some(Ok("ifconfig".into()))).unwrap();
        assert_eq!(
            next_line(&ctx, &rx, true),
            Some(Some(Ok("ifconfig".into())))
        );
        assert!(!ctx.sig.interrupt.load(Ordering::SeqCst), "Ctrl-C is spent");
        ctx.sig.terminate.store(true, Ordering::SeqCst);
        tx.send(Some(Ok("ifconfig".into()))).unwrap();
        assert_eq!(next_line(&ctx, &rx, true), None);
        // Waiting for a line with none coming: a signal rung from elsewhere ends the wait.
        ctx.sig.terminate.store(false, Ordering::SeqCst);
        let _ = rx.try_recv();
        let sig = ctx.sig.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            sig.terminate.store(true, Ordering::SeqCst);
            sig.ring();
        });
        let ctx = crate::cmd::tests::within(move || {
            assert_eq!(next_line(&ctx, &rx, true), None);
            ctx
        });
        h.join().unwrap();
        crate::cmd::testing::finish(ctx);
    }

    /// SIGTERM (or Ctrl-C) stops the running command; the commands after it on the same
    /// line (`a; b`) must not run, as `sh -c 'sleep 5; b'` does not run b once a signal
    /// ended the sleep. `one` goes on through the line: here `ifconfig lo mtu 1000` runs
    /// after the SIGTERM that ended the `sleep`.
    #[test]
    fn a_signal_ends_the_rest_of_the_line() {
        let ctx = crate::cmd::testing::ctx();
        let sig = ctx.sig.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            sig.terminate.store(true, Ordering::SeqCst);
            sig.ring();
        });
        let mut status = Status::new(false);
        let ctx = crate::cmd::tests::within(move || {
            one(&ctx, "sleep 5; ifconfig lo mtu 1000", &mut status);
            ctx
        });
        h.join().unwrap();
        let mtu = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].mtu);
        assert_eq!(mtu, 65535, "a command ran after SIGTERM");
        crate::cmd::testing::finish(ctx);
    }

    /// A script larger than 16 MiB is refused ("a script is commands, not data"), so that
    /// memory stays bounded. The size is taken from the file's metadata, which a pipe
    /// (`--script /dev/stdin`, `--script <(gen)`, a FIFO) does not have: its whole content
    /// is read into memory whatever its size (`yes | tapip --script /dev/stdin` grows
    /// without end). Here a FIFO with 17 MB of comment lines is refused.
    #[test]
    fn a_script_from_a_pipe_has_the_same_limit() {
        let dir = crate::cmd::testing::temp_dir("script-fifo");
        let fifo = dir.join("script");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "mkfifo");
        let path = fifo.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let line = format!("#{}\n", "x".repeat(1000));
            // 17 MB: more than the 16 MiB a script may have.
            for _ in 0..17_000 {
                if f.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        let read = crate::cmd::tests::within(move || read_script(&fifo));
        // Not joined: a shell that does not read the FIFO leaves its writer waiting.
        drop(writer);
        let e = read.expect_err("a 17 MB script from a FIFO was read");
        assert!(e.ends_with("is larger than 16 MiB: not read"), "{e}");
    }

    /// Words are split "as a Unix shell does": `a\ ` is the word "a " (a backslash keeps
    /// the space). `one` trims each command (and the input thread each line) before
    /// splitting, so an escaped space at the end loses its space and leaves a trailing
    /// backslash: `pcap start /tmp/x\ ` fails with "unterminated quote or trailing
    /// backslash" (`sh -c 'touch x\ '` makes "x ").
    #[test]
    fn an_escaped_space_at_the_end_is_kept() {
        let ctx = crate::cmd::testing::ctx();
        let dir = crate::cmd::testing::temp_dir("escaped-space");
        let file = dir.join("a ");
        let mut status = Status::new(false);
        let flow = one(
            &ctx,
            &format!("pcap start {}/a\\ ; pcap stop", dir.display()),
            &mut status,
        );
        let made = file.exists();
        crate::cmd::testing::finish(ctx);
        assert_eq!(flow, Flow::Continue);
        assert!(
            !status.failed && made,
            "failed: {}, 'a ' made: {made}",
            status.failed
        );
    }

    /// `-c 'CMD; CMD'` is "quoted as in a Unix shell", where a newline outside quotes ends
    /// a command as `;` does (`sh -c "$(cat cmds)"`). Here a newline is only a space
    /// between words: two commands on two lines become one command with the second's
    /// words as extra arguments, and fail.
    #[test]
    fn a_newline_in_dash_c_separates_commands() {
        let got = status_and_lo_mtu(&["tapip", "-c", "ifconfig lo mtu 1000\nifconfig lo mtu 1200"]);
        assert_eq!(got, (0, 1200));
    }

    /// A command takes lines of input; a line read for it after it stopped becomes the
    /// next command line.
    #[test]
    fn input_thread_serves_commands_and_their_data() {
        let (tx, rx) = bounded::<Option<CommandLine>>(1);
        let (ack_tx, ack_rx) = bounded::<()>(1);
        let (input, requests) = Input::new();
        // The reader of data lines announces itself and waits for `go`, so the test
        // decides what happened before the line was read.
        let (read_data, data_read) = bounded::<()>(4);
        let (go, gate) = bounded::<()>(4);
        let mut lines = vec!["snc", "data 1", "data 2", "ifconfig"].into_iter();
        let reader = std::thread::spawn(move || {
            let read = |command: bool| {
                if !command {
                    let _ = read_data.send(());
                    let _ = gate.recv();
                }
                match lines.next() {
                    Some(l) => InputLine::Line(format!("{l}\n").into_bytes()),
                    None => InputLine::Eof,
                }
            };
            input_loop(read, &tx, &ack_rx, &requests);
        });
        assert_eq!(rx.recv(), Ok(Some(Ok("snc".to_string()))));
        let first = input.request();
        assert_eq!(data_read.recv(), Ok(()));
        go.send(()).unwrap();
        assert_eq!(first.recv(), Ok(InputLine::Line(b"data 1\n".to_vec())));
        // The command asks again, then stops before the line comes.
        let second = input.request();
        assert_eq!(data_read.recv(), Ok(()));
        drop(second);
        go.send(()).unwrap();
        ack_tx.send(()).unwrap();
        assert_eq!(rx.recv(), Ok(Some(Ok("data 2".to_string()))));
        ack_tx.send(()).unwrap();
        assert_eq!(rx.recv(), Ok(Some(Ok("ifconfig".to_string()))));
        ack_tx.send(()).unwrap();
        assert_eq!(rx.recv(), Ok(None), "end of input ends the shell");
        reader.join().unwrap();
    }

    /// The input thread dies of a panic (a bug in the reading of a line): the shell is
    /// told by one refused line, a failed command, and no line comes after it. The end
    /// of the lines was all it saw, as at the end of its input: a script from a pipe cut
    /// short ended with status 0.
    #[test]
    fn an_input_thread_that_panics_is_a_failed_command_then_the_end() {
        let (tx, rx) = bounded::<Option<CommandLine>>(1);
        let (ack_tx, ack_rx) = bounded::<()>(1);
        let (_input, requests) = Input::new();
        let mut lines = vec!["ifconfig"].into_iter();
        let reader = std::thread::spawn(move || {
            let read = |_: bool| match lines.next() {
                Some(l) => InputLine::Line(format!("{l}\n").into_bytes()),
                None => panic!("a bug in the reading"),
            };
            input_loop(read, &tx, &ack_rx, &requests);
        });
        assert_eq!(rx.recv(), Ok(Some(Ok("ifconfig".to_string()))));
        ack_tx.send(()).unwrap();
        assert!(
            matches!(rx.recv(), Ok(Some(Err(e))) if e.contains("reading the input failed")),
            "the shell was not told"
        );
        reader.join().unwrap();
        assert!(rx.recv().is_err(), "a line after the failure");
    }

    /// A SIGTERM (or, with `-c`, a SIGINT) that comes before the first command, while the
    /// stack starts or during `--dhcp`'s wait for the lease (which the signal ends,
    /// `setup::wait_for_lease`), ends the program: the commands must not run, as at a
    /// terminal or with piped input (`next_line` looks at the flags first). With `-c` and
    /// `--script`, `run_commands` looked at the flags only after a line's first command
    /// had run, and `ifconfig lo mtu 1000` changed the MTU after the SIGTERM (found by a
    /// review).
    /// `run_commands` for the command line `args`: its status and the loopback's MTU after.
    fn status_and_lo_mtu(args: &[&str]) -> (i32, usize) {
        let cli = <crate::Cli as clap::Parser>::parse_from(args);
        let script = cli.script.as_deref().map(read_script);
        let script = script.transpose().unwrap().unwrap_or_default();
        let ctx = crate::cmd::testing::ctx();
        let (_input, requests) = Input::new();
        let (ctx, code) = crate::cmd::tests::within(move || {
            let code = run_commands(&cli, script, &ctx, requests);
            (ctx, code)
        });
        let mtu = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].mtu);
        crate::cmd::testing::finish(ctx);
        (code, mtu)
    }

    /// A script with a byte that is not UTF-8 (here in a Latin-1 comment) is read
    /// lossily and run, as the same lines piped in are; it was refused as a whole.
    #[test]
    fn a_script_with_a_stray_byte_runs() {
        let dir = crate::cmd::testing::temp_dir("script-latin1");
        let path = dir.join("script");
        std::fs::write(&path, b"# caf\xe9\nifconfig lo mtu 1000\n").unwrap();
        let got = status_and_lo_mtu(&["tapip", "--script", path.to_str().unwrap()]);
        assert_eq!(got, (0, 1000));
    }

    #[test]
    fn a_signal_before_the_first_command_runs_none() {
        let cli = <crate::Cli as clap::Parser>::parse_from(["tapip", "-c", "ifconfig lo mtu 1000"]);
        let ctx = crate::cmd::testing::ctx();
        ctx.sig.terminate.store(true, Ordering::SeqCst);
        let (_input, requests) = Input::new();
        let (ctx, _code) = crate::cmd::tests::within(move || {
            let code = run_commands(&cli, Vec::new(), &ctx, requests);
            (ctx, code)
        });
        let mtu = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].mtu);
        crate::cmd::testing::finish(ctx);
        assert_eq!(mtu, 65535, "a command ran after SIGTERM");
    }

    /// A signal ends a `-c` script where it is: the command it interrupts returns and no
    /// other runs. The status is 0, as README says of any end by SIGINT or SIGTERM
    /// without connections given up (a review suggested `sh`'s 130: kept as documented,
    /// since `serve ...; wait` is meant to be ended so).
    #[test]
    fn a_signal_ends_a_script_where_it_is() {
        let cli = <crate::Cli as clap::Parser>::parse_from([
            "tapip",
            "-c",
            "sleep 5; ifconfig lo mtu 1000",
        ]);
        let ctx = crate::cmd::testing::ctx();
        let sig = ctx.sig.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            sig.interrupt.store(true, Ordering::SeqCst);
            sig.ring();
        });
        let (_input, requests) = Input::new();
        let (ctx, code) = crate::cmd::tests::within(move || {
            let code = run_commands(&cli, Vec::new(), &ctx, requests);
            (ctx, code)
        });
        h.join().unwrap();
        let mtu = ctx.stack.with_core(|c, _| c.ip.interfaces()[0].mtu);
        crate::cmd::testing::finish(ctx);
        assert_eq!(mtu, 65535, "the command after the signal ran");
        assert_eq!(code, 0, "the documented status of an end by a signal");
    }

    /// SIGHUP (the terminal closed, an ssh session dropped) ends the program as SIGTERM
    /// does, gracefully. It was not handled: its default action killed the program at
    /// once (no `--linger` for queued TCP data and FINs, no DHCPRELEASE, the pcap's
    /// buffered records lost; found by a review). The test runs itself in a child
    /// process, which installs the shell's handlers and raises SIGHUP: the child must live
    /// to see `terminate` set.
    #[test]
    fn sighup_ends_the_program_gracefully() {
        if std::env::var_os("TAPIP_SIGHUP_CHILD").is_some() {
            let sig = Signals::default();
            let exiting = Arc::new(AtomicBool::new(false));
            install_signal_handlers(&sig, &exiting, false).unwrap();
            signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            assert!(
                sig.stop_requested(),
                "SIGHUP did not ask the program to end"
            );
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "shell::tests::sighup_ends_the_program_gracefully",
                "--test-threads=1",
            ])
            .env("TAPIP_SIGHUP_CHILD", "1")
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success(),
            "the child ended with {:?} (killed by signal {:?})",
            out.status.code(),
            out.status.signal()
        );
    }
}
