//! Background jobs (`serve`): a thread each, listed by `jobs`, stopped by `kill N` and by
//! the shell before the stack shuts down.

use super::Ctx;
use crate::opts::Args;
use parking_lot::Mutex;
use socket_api::UdpSocket;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a job's thread shares with the shell.
#[derive(Default)]
pub struct JobState {
    stop: AtomicBool,
    datagrams: AtomicU64,
    send_errors: AtomicU64,
    error: Mutex<Option<String>>,
}

impl JobState {
    /// Has the job been asked to stop?
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// One more datagram served.
    pub fn count(&self) {
        self.datagrams.fetch_add(1, Ordering::Relaxed);
    }

    /// A reply that could not be sent (the job goes on).
    pub fn send_failed(&self) {
        self.send_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Why the job ended by itself (shown by `jobs`).
    pub fn fail(&self, why: String) {
        *self.error.lock() = Some(why);
    }
}

struct Job {
    what: String,
    state: Arc<JobState>,
    /// A handle on the job's socket: closing it wakes a call blocked on it.
    socket: UdpSocket,
    thread: JoinHandle<()>,
}

impl Job {
    fn stop(self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.socket.close();
        let _ = self.thread.join();
    }

    fn describe(&self, n: usize) -> String {
        let s = &self.state;
        let mut counts = format!("datagrams: {}", s.datagrams.load(Ordering::Relaxed));
        let errors = s.send_errors.load(Ordering::Relaxed);
        if errors > 0 {
            counts.push_str(&format!(", send errors: {errors}"));
        }
        if !self.thread.is_finished() {
            return format!("[{n}] running {} ({counts})", self.what);
        }
        let why = s.error.lock().clone().unwrap_or_else(|| "ended".into());
        format!("[{n}] exited  {} ({counts}): {why}", self.what)
    }
}

/// The job table. Numbers are as in a Unix shell: one more than the highest in use.
#[derive(Default)]
pub struct Jobs {
    table: Mutex<BTreeMap<usize, Job>>,
}

impl Jobs {
    /// Start `body` on a thread as job `[N] what`; returns N. `socket` is a handle on the
    /// job's socket (for `kill` to close); `body` gets the job's shared state.
    pub fn spawn(
        &self,
        what: String,
        socket: UdpSocket,
        body: impl FnOnce(&JobState) + Send + 'static,
    ) -> Result<usize, String> {
        let mut table = self.table.lock();
        let n = table.keys().next_back().map_or(1, |k| k + 1);
        let state = Arc::new(JobState::default());
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("job-{n}"))
            .spawn(move || body(&st))
            .map_err(|e| format!("cannot start a thread for '{what}': {e}"))?;
        table.insert(
            n,
            Job {
                what,
                state,
                socket,
                thread,
            },
        );
        Ok(n)
    }

    /// One line per job. Jobs that ended by themselves are shown once, then forgotten.
    pub fn list(&self) -> Vec<String> {
        let mut table = self.table.lock();
        // Decide "ended" once per job, then describe it: a job that ends in between is
        // shown as ended (with its reason) and only then forgotten.
        let ended: Vec<usize> = table
            .iter()
            .filter(|(_, j)| j.thread.is_finished())
            .map(|(n, _)| *n)
            .collect();
        let lines = table.iter().map(|(n, j)| j.describe(*n)).collect();
        for n in ended {
            if let Some(j) = table.remove(&n) {
                j.stop();
            }
        }
        lines
    }

    /// Stop job `n` and wait for its thread.
    pub fn kill(&self, n: usize) -> Result<(), String> {
        let job = self
            .table
            .lock()
            .remove(&n)
            .ok_or_else(|| format!("kill: no such job {n} (see 'jobs')"))?;
        job.stop();
        Ok(())
    }

    /// Stop every job (at exit, before the stack shuts down).
    pub fn stop_all(&self) {
        let jobs = std::mem::take(&mut *self.table.lock());
        for (_, j) in jobs {
            j.stop();
        }
    }
}

/// `jobs`
pub fn list(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    args.finish()?;
    for l in ctx.jobs.list() {
        println!("{l}");
    }
    Ok(())
}

/// The job number of `kill N` (also `%N`, as in a Unix shell).
fn parse_kill(args: &mut Args<'_>) -> Result<usize, String> {
    let w = args.required("job number (usage: kill N)")?;
    args.finish()?;
    let digits = w.strip_prefix('%').unwrap_or(w);
    digits
        .parse()
        .map_err(|_| format!("kill: invalid job number '{w}' (see 'jobs')"))
}

/// `kill N`
pub fn kill(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    let n = parse_kill(args)?;
    ctx.jobs.kill(n)?;
    println!("[{n}] stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill_line(line: &str) -> Result<usize, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse_kill(&mut Args::new("kill", &words))
    }

    #[test]
    fn kill_arguments() {
        assert_eq!(kill_line("3"), Ok(3));
        assert_eq!(kill_line("%12"), Ok(12));
        assert_eq!(
            kill_line(""),
            Err("kill: missing job number (usage: kill N)".into())
        );
        assert_eq!(
            kill_line("x"),
            Err("kill: invalid job number 'x' (see 'jobs')".into())
        );
        for bad in ["-1", "1 2", "%", "99999999999999999999999"] {
            assert!(kill_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_jobs_are_one_line_errors() {
        let jobs = Jobs::default();
        assert_eq!(jobs.kill(4), Err("kill: no such job 4 (see 'jobs')".into()));
        assert!(jobs.list().is_empty());
        jobs.stop_all();
    }
}
