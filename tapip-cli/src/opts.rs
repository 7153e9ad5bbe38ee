//! A small option parser for shell commands: `-c 3 -s 100 ADDR`, with one-line errors.

use std::str::FromStr;

/// The words of a command after its name, consumed left to right.
pub struct Args<'a> {
    cmd: &'a str,
    words: Vec<&'a str>,
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(cmd: &'a str, words: &[&'a str]) -> Args<'a> {
        Args {
            cmd,
            words: words.to_vec(),
            pos: 0,
        }
    }

    /// The next word, if any, without consuming it.
    pub fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).copied()
    }

    pub fn next(&mut self) -> Option<&'a str> {
        let w = self.peek()?;
        self.pos += 1;
        Some(w)
    }

    /// Is the next word an option (starts with '-' and is not a lone '-')?
    pub fn at_option(&self) -> bool {
        self.peek()
            .is_some_and(|w| w.starts_with('-') && w.len() > 1)
    }

    /// The value after option `opt`, parsed.
    pub fn value<T: FromStr>(&mut self, opt: &str, what: &str) -> Result<T, String> {
        let v = self
            .next()
            .ok_or_else(|| format!("{}: option {opt} needs {what}", self.cmd))?;
        v.parse()
            .map_err(|_| format!("{}: invalid {what} for {opt}: '{v}'", self.cmd))
    }

    /// A required positional word.
    pub fn required(&mut self, what: &str) -> Result<&'a str, String> {
        self.next()
            .ok_or_else(|| format!("{}: missing {what}", self.cmd))
    }

    pub fn unknown_option(&self, opt: &str) -> String {
        format!(
            "{}: unknown option '{opt}' (try 'help {}')",
            self.cmd, self.cmd
        )
    }

    /// Fail if words are left over.
    pub fn finish(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(w) => Err(format!(
                "{}: unexpected argument '{w}' (try 'help {}')",
                self.cmd, self.cmd
            )),
        }
    }
}

/// A duration in seconds, fractions allowed ("0.2", "1").
pub fn parse_seconds(s: &str) -> Option<std::time::Duration> {
    let f: f64 = s.parse().ok()?;
    (f.is_finite() && (0.0..=1e6).contains(&f)).then(|| std::time::Duration::from_secs_f64(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_errors() {
        let words = ["-c", "3", "-x", "10.0.0.2", "extra"];
        let mut a = Args::new("ping", &words);
        assert!(a.at_option());
        assert_eq!(a.next(), Some("-c"));
        assert_eq!(a.value::<u32>("-c", "a count"), Ok(3));
        assert_eq!(a.next(), Some("-x"));
        assert_eq!(
            a.unknown_option("-x"),
            "ping: unknown option '-x' (try 'help ping')"
        );
        assert_eq!(a.required("address"), Ok("10.0.0.2"));
        assert!(a.finish().unwrap_err().contains("'extra'"));
        let mut b = Args::new("ping", &["-c"]);
        b.next();
        assert_eq!(
            b.value::<u32>("-c", "a count").unwrap_err(),
            "ping: option -c needs a count"
        );
        let mut c = Args::new("ping", &["-c", "x"]);
        c.next();
        assert!(c
            .value::<u32>("-c", "a count")
            .unwrap_err()
            .contains("invalid a count"));
        assert_eq!(
            parse_seconds("0.5"),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("nan"), None);
    }
}
