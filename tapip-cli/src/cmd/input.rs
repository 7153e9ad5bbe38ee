//! Lines of the program's input for a running command (`snc -c` sends what is typed).
//!
//! The shell has one reader of stdin: its input thread, which hands command lines to the
//! shell and then waits for the command to finish. A command cannot read stdin itself (in
//! pipe mode the input thread holds the lock of `std::io::stdin()` while it waits), so it
//! asks that thread: [`Input::request`] sends a one-shot reply channel, the input thread
//! reads one line (at a terminal: with the line editor, Ctrl-D for end of input, Ctrl-C to
//! interrupt) and sends it back. With `-c` or `--script` the commands do not come from
//! stdin, and a small thread serves the requests from stdin instead.
//!
//! A line read for a command that stopped meanwhile is not lost: it becomes the next
//! command line, as with a Unix shell whose child left input unread (with `-c` or
//! `--script`, where stdin holds no commands, it is dropped).

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use std::io::BufRead;

/// What a command gets for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum InputLine {
    /// A line as read, its newline included when it had one.
    Line(Vec<u8>),
    /// End of input (end of the pipe, or Ctrl-D at a terminal).
    Eof,
    /// Ctrl-C at the terminal while the line was being typed.
    Interrupted,
}

/// A request for one line: the line goes back on this channel.
pub type LineRequest = Sender<InputLine>;

/// The command side: ask for lines.
pub struct Input {
    requests: Sender<LineRequest>,
}

impl Input {
    /// The command side, and the receiver the reader of stdin serves.
    pub fn new() -> (Input, Receiver<LineRequest>) {
        let (tx, rx) = unbounded();
        (Input { requests: tx }, rx)
    }

    /// Ask for the next line; it arrives on the returned channel. Keep the receiver until
    /// the line comes (dropping it gives the line back to the shell). A closed channel
    /// means end of input.
    pub fn request(&self) -> Receiver<InputLine> {
        let (tx, rx) = bounded(1);
        // If nobody serves requests any more, `tx` is dropped here and the receiver
        // reports a disconnection: end of input.
        let _ = self.requests.send(tx);
        rx
    }
}

/// Read one line from `r` as [`InputLine`] (errors end the input).
pub fn read_line(r: &mut impl BufRead) -> InputLine {
    let mut buf = Vec::new();
    match r.read_until(b'\n', &mut buf) {
        Ok(0) | Err(_) => InputLine::Eof,
        Ok(_) => InputLine::Line(buf),
    }
}

/// Serve requests from stdin until the command side is gone (`-c` and `--script` mode).
pub fn serve_stdin(requests: Receiver<LineRequest>) {
    for reply in requests {
        let line = read_line(&mut std::io::stdin().lock());
        let _ = reply.send(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_newline() {
        let mut r = std::io::Cursor::new(b"one\ntwo\r\nthree".to_vec());
        assert_eq!(read_line(&mut r), InputLine::Line(b"one\n".to_vec()));
        assert_eq!(read_line(&mut r), InputLine::Line(b"two\r\n".to_vec()));
        assert_eq!(read_line(&mut r), InputLine::Line(b"three".to_vec()));
        assert_eq!(read_line(&mut r), InputLine::Eof);
    }

    #[test]
    fn requests_are_answered_or_end() {
        let (input, requests) = Input::new();
        let rx = input.request();
        let reply = requests.try_recv().expect("a request");
        reply.send(InputLine::Eof).expect("receiver alive");
        assert_eq!(rx.recv(), Ok(InputLine::Eof));
        drop(requests);
        assert!(input.request().recv().is_err(), "no server: end of input");
    }
}
