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
use std::io::{BufRead, Read};

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

/// The most one [`read_line`] holds: a longer line comes in pieces of this size (a
/// command's data loses nothing; a command line that long is refused, see
/// [`is_overlong`]), so input without a newline cannot fill the memory.
pub const MAX_LINE: usize = 1 << 20;

/// Read one line from `r` as [`InputLine`], at most [`MAX_LINE`] bytes of it (errors end
/// the input).
pub fn read_line(r: &mut impl BufRead) -> InputLine {
    let mut buf = Vec::new();
    match r.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut buf) {
        Ok(0) | Err(_) => InputLine::Eof,
        Ok(_) => InputLine::Line(buf),
    }
}

/// Is this piece of a line cut at [`MAX_LINE`], with more of the line to come?
pub fn is_overlong(piece: &[u8]) -> bool {
    piece.len() >= MAX_LINE && !piece.ends_with(b"\n")
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
    fn a_line_longer_than_the_limit_comes_in_pieces() {
        let mut long = vec![b'a'; MAX_LINE * 2 + 3];
        long.push(b'\n');
        long.extend_from_slice(b"next\n");
        let mut r = std::io::Cursor::new(long);
        let InputLine::Line(a) = read_line(&mut r) else {
            panic!()
        };
        let InputLine::Line(b) = read_line(&mut r) else {
            panic!()
        };
        let InputLine::Line(c) = read_line(&mut r) else {
            panic!()
        };
        assert_eq!((a.len(), b.len(), c.len()), (MAX_LINE, MAX_LINE, 4));
        assert!(is_overlong(&a) && is_overlong(&b) && !is_overlong(&c));
        assert_eq!(read_line(&mut r), InputLine::Line(b"next\n".to_vec()));
        assert!(!is_overlong(b"short"));
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
