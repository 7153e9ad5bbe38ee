//! The shell: where commands come from (a terminal with line editing, a pipe, `-c`,
//! `--script`) and how signals end them.

use crate::cmd::{self, Ctx, Flow, Signals};
use crate::{setup, Cli};
use crossbeam_channel::{bounded, select, Receiver, Sender};
use netif::trace::Trace;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

const PROMPT: &str = "[net shell]: ";

/// Run the program; returns the exit code.
pub fn main(cli: Cli) -> i32 {
    let sig = Signals::default();
    for (signal, flag) in [
        (signal_hook::consts::SIGINT, &sig.interrupt),
        (signal_hook::consts::SIGTERM, &sig.terminate),
    ] {
        if let Err(e) = signal_hook::flag::register(signal, flag.clone()) {
            eprintln!("tapip: cannot install a signal handler: {e}");
            return 1;
        }
    }
    let (trace, lines) = Trace::new();
    let printer = std::thread::Builder::new()
        .name("trace-printer".into())
        .spawn(move || {
            for l in lines {
                println!("{l}");
            }
        });
    let printer = match printer {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tapip: {e}");
            return 1;
        }
    };
    let ctx = match setup::build(&cli, trace, sig) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tapip: {e}");
            return 1;
        }
    };
    let code = run_commands(&cli, &ctx);
    let _ = ctx.pcap.stop();
    ctx.stack.shutdown();
    // The drivers (and their tracers) are gone; with the shell's handle dropped too the
    // trace channel closes and the printer ends once it has printed every line.
    drop(ctx);
    let _ = printer.join();
    let _ = std::io::stdout().flush();
    code
}

fn run_commands(cli: &Cli, ctx: &Ctx) -> i32 {
    if cli.commands.is_some() || cli.script.is_some() {
        let mut lines: Vec<String> = Vec::new();
        if let Some(c) = &cli.commands {
            lines.extend(c.split(';').map(str::to_string));
        }
        if let Some(path) = &cli.script {
            match std::fs::read_to_string(path) {
                Ok(s) => lines.extend(s.lines().map(str::to_string)),
                Err(e) => {
                    eprintln!("tapip: cannot read script {}: {e}", path.display());
                    return 1;
                }
            }
        }
        for l in lines {
            if one(ctx, &l) == Flow::Exit || ctx.sig.stop_requested() {
                break;
            }
        }
        return 0;
    }
    let (tx, rx) = bounded::<Option<String>>(1);
    let (ack_tx, ack_rx) = bounded::<()>(1);
    let interactive = std::io::stdin().is_terminal();
    let reader = std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            if interactive {
                read_terminal(&tx, &ack_rx)
            } else {
                read_pipe(&tx, &ack_rx)
            }
        });
    if let Err(e) = reader {
        eprintln!("tapip: {e}");
        return 1;
    }
    while let Some(Some(line)) = next_line(ctx, &rx) {
        let flow = one(ctx, &line);
        if flow == Flow::Exit || ctx.sig.terminate.load(Ordering::SeqCst) {
            break;
        }
        // At a terminal, Ctrl-C ends the running command and the shell goes on; with
        // commands from a pipe, SIGINT ends the program like SIGTERM.
        if !interactive && ctx.sig.interrupt.load(Ordering::SeqCst) {
            break;
        }
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        let _ = ack_tx.send(());
    }
    0
}

/// Wait for a line while watching for signals: `None` ends the program.
fn next_line(ctx: &Ctx, rx: &Receiver<Option<String>>) -> Option<Option<String>> {
    loop {
        if ctx.sig.stop_requested() {
            return None;
        }
        select! {
            recv(rx) -> l => return l.ok(),
            default(Duration::from_millis(50)) => {}
        }
    }
}

/// Run one line, printing its error if any.
fn one(ctx: &Ctx, line: &str) -> Flow {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Flow::Continue;
    }
    let flow = match cmd::run(ctx, line) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            Flow::Continue
        }
    };
    let _ = std::io::stdout().flush();
    flow
}

fn read_pipe(tx: &Sender<Option<String>>, ack: &Receiver<()>) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if tx.send(Some(line)).is_err() || ack.recv().is_err() {
            return;
        }
    }
    let _ = tx.send(None);
}

fn read_terminal(tx: &Sender<Option<String>>, ack: &Receiver<()>) {
    let Ok(mut ed) = rustyline::DefaultEditor::new() else {
        return read_pipe(tx, ack);
    };
    loop {
        match ed.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = ed.add_history_entry(line.as_str());
                }
                if tx.send(Some(line)).is_err() || ack.recv().is_err() {
                    return;
                }
            }
            // Ctrl-C or Ctrl-D at the prompt: leave.
            Err(_) => {
                let _ = tx.send(None);
                return;
            }
        }
    }
}
