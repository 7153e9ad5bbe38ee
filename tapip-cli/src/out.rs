//! Printing without panicking: `std`'s `println!` panics when stdout is a closed pipe or a
//! full disk. Every line the shell prints goes through `outln!`/`out!` (stdout) or
//! `errln!` (stderr) instead.
//!
//! A write to stdout that fails ends the program at once, as it ends `cat` or `ls`:
//! - a closed pipe (`tapip -c stat | head -1`): killed by SIGPIPE, without a word, so a
//!   shell sees status 141 as for any other program in the pipeline;
//! - any other error (`> /dev/full`): one line on stderr, `tapip: cannot write to stdout:
//!   No space left on device (os error 28)`, and status 1.
//!
//! Errors writing to stderr are ignored: there is nowhere left to report them.

use std::fmt;
use std::io::{self, Write};

/// What a failed write to stdout does to the program.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The reader has gone: end as SIGPIPE ends programs.
    BrokenPipe,
    /// Say this line on stderr and exit with status 1.
    Error(String),
}

pub fn classify(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
        _ => Failure::Error(format!("tapip: cannot write to stdout: {e}")),
    }
}

/// End the program for the write error `e` on stdout (see the module's comment).
pub fn stdout_failed(e: &io::Error) -> ! {
    match classify(e) {
        Failure::BrokenPipe => {
            // Rust ignores SIGPIPE; put its default action back and raise it.
            let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGPIPE);
            // Not reached unless the signal could not be raised.
            std::process::exit(128 + signal_hook::consts::SIGPIPE)
        }
        Failure::Error(line) => {
            let _ = writeln!(io::stderr(), "{line}");
            std::process::exit(1)
        }
    }
}

/// `out!`/`outln!`: write to stdout; a failure ends the program.
pub fn stdout_fmt(args: fmt::Arguments) {
    let r = io::stdout().lock().write_fmt(args);
    if let Err(e) = r {
        stdout_failed(&e);
    }
}

/// Flush stdout (what `out!` left without a newline); a failure ends the program.
pub fn flush() {
    let r = io::stdout().lock().flush();
    if let Err(e) = r {
        stdout_failed(&e);
    }
}

/// `errln!`: write to stderr; a failure is ignored.
pub fn stderr_fmt(args: fmt::Arguments) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// `println!` that never panics (see the module's comment).
macro_rules! outln {
    () => {
        $crate::out::stdout_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::stdout_fmt(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => {
        $crate::out::stderr_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stderr_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_ends_quietly_and_other_errors_say_one_line() {
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::BrokenPipe)),
            Failure::BrokenPipe
        );
        let full = io::Error::from_raw_os_error(28);
        match classify(&full) {
            Failure::Error(l) => {
                assert!(l.starts_with("tapip: cannot write to stdout: No space left on device"));
                assert!(!l.contains('\n'));
            }
            f => panic!("{f:?}"),
        }
    }
}
