//! Background jobs (`serve`): a thread each, listed by `jobs`, stopped by `kill N` and by
//! the shell before the stack shuts down.

use super::Ctx;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a job serves, which decides the counters `jobs` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A UDP service: datagrams.
    Datagrams,
    /// A TCP service: connections and bytes.
    Stream,
    /// An HTTP server: connections and requests.
    Http,
}

/// What a job's thread (which serves all its connections) shares with the shell.
#[derive(Default)]
pub struct JobState {
    stop: AtomicBool,
    datagrams: AtomicU64,
    send_errors: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    requests: AtomicU64,
    error_responses: AtomicU64,
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

    /// A connection accepted.
    pub fn conn_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection done with (closed, or given up).
    pub fn conn_closed(&self) {
        // Never below zero, whatever the order of the calls.
        let _ = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// An HTTP response sent, with its status.
    pub fn response(&self, status: u16) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 400 {
            self.error_responses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Why the job ended by itself (shown by `jobs`).
    pub fn fail(&self, why: String) {
        *self.error.lock() = Some(why);
    }

    /// The counters of a job of this kind, for `jobs`.
    fn counts(&self, kind: JobKind) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = match kind {
            JobKind::Datagrams => format!("datagrams: {}", get(&self.datagrams)),
            JobKind::Stream => format!(
                "connections: {}, open: {}, bytes in: {}, out: {}",
                get(&self.connections),
                get(&self.open),
                get(&self.bytes_in),
                get(&self.bytes_out)
            ),
            JobKind::Http => format!(
                "connections: {}, open: {}, requests: {}, errors: {}, bytes out: {}",
                get(&self.connections),
                get(&self.open),
                get(&self.requests),
                get(&self.error_responses),
                get(&self.bytes_out)
            ),
        };
        let errors = get(&self.send_errors);
        if errors > 0 {
            s.push_str(&format!(", send errors: {errors}"));
        }
        s
    }
}

/// How `kill` wakes a job: closes its socket(s), so that a call blocked on them returns.
pub type Closer = Box<dyn Fn() + Send>;

/// A job's closer, run and dropped once: by `kill` (or the shell's end), or by the job's
/// thread when its body returns, so that a job that ended by itself holds no socket (its
/// port free again) before `jobs` forgets it.
type CloserSlot = Arc<Mutex<Option<Closer>>>;

fn close_once(slot: &CloserSlot) {
    // Taken under the lock, run and dropped outside it.
    let close = slot.lock().take();
    if let Some(close) = close {
        close();
    }
}

/// What a panic said (its message, when it is text).
fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

struct Job {
    what: String,
    kind: JobKind,
    state: Arc<JobState>,
    close: CloserSlot,
    thread: JoinHandle<()>,
}

impl Job {
    fn stop(self) {
        self.state.stop.store(true, Ordering::SeqCst);
        close_once(&self.close);
        let _ = self.thread.join();
    }

    fn describe(&self, n: usize) -> String {
        let counts = self.state.counts(self.kind);
        if !self.thread.is_finished() {
            return format!("[{n}] running {} ({counts})", self.what);
        }
        let why = self
            .state
            .error
            .lock()
            .clone()
            .unwrap_or_else(|| "ended".into());
        format!("[{n}] exited  {} ({counts}): {why}", self.what)
    }
}

/// The job table. Numbers are as in a Unix shell: one more than the highest in use.
#[derive(Default)]
pub struct Jobs {
    table: Mutex<BTreeMap<usize, Job>>,
    udp_ports: UdpPorts,
}

/// The local ports of the shell's UDP services, which answer no datagram from one another
/// (nor from the same service on another host).
#[derive(Clone, Default)]
pub struct UdpPorts(Arc<Mutex<std::collections::BTreeSet<u16>>>);

impl UdpPorts {
    /// Note `port` as served until the guard is dropped.
    pub fn serve(&self, port: u16) -> UdpPortGuard {
        self.0.lock().insert(port);
        UdpPortGuard {
            ports: self.clone(),
            port,
        }
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.lock().contains(&port)
    }
}

/// A served UDP port, forgotten when dropped (when its job's thread ends).
pub struct UdpPortGuard {
    ports: UdpPorts,
    port: u16,
}

impl Drop for UdpPortGuard {
    fn drop(&mut self) {
        self.ports.0.lock().remove(&self.port);
    }
}

impl Jobs {
    /// Start `body` on a thread as job `[N] what`; returns N. `close` closes the job's
    /// sockets (for `kill`, after it sets the stop flag, or once `body` returned); `body`
    /// gets the job's shared state, and must return once stopped and its sockets closed.
    pub fn spawn(
        &self,
        what: String,
        kind: JobKind,
        close: Closer,
        body: impl FnOnce(&JobState) + Send + 'static,
    ) -> Result<usize, String> {
        let mut table = self.table.lock();
        let n = table.keys().next_back().map_or(1, |k| k + 1);
        let state = Arc::new(JobState::default());
        let st = state.clone();
        let close: CloserSlot = Arc::new(Mutex::new(Some(close)));
        let slot = close.clone();
        let thread = std::thread::Builder::new()
            .name(format!("job-{n}"))
            .spawn(move || {
                // A job that dies of a panic (a bug) ends as one that failed: `jobs` says
                // so (it said "ended", as for a normal end), and its sockets are closed
                // now (they were held until `jobs` or `kill` came). The shell goes on.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&st)));
                if let Err(p) = ran {
                    st.fail(format!("failed: {}", panic_message(&*p)));
                }
                close_once(&slot);
            })
            .map_err(|e| format!("cannot start a thread for '{what}': {e}"))?;
        table.insert(
            n,
            Job {
                what,
                kind,
                state,
                close,
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

    /// Stop job `n` and wait for its thread. A job that had ended by itself is forgotten
    /// too, and the error says why it ended (as a Unix shell's `kill` of a finished job
    /// fails).
    pub fn kill(&self, n: usize) -> Result<(), String> {
        let job = self
            .table
            .lock()
            .remove(&n)
            .ok_or_else(|| format!("kill: no such job {n} (see 'jobs')"))?;
        let ended = job
            .thread
            .is_finished()
            .then(|| job.state.error.lock().clone());
        job.stop();
        match ended {
            Some(Some(why)) => Err(format!("kill: job {n} had already ended: {why}")),
            Some(None) => Err(format!("kill: job {n} had already ended")),
            None => Ok(()),
        }
    }

    /// The ports of the shell's UDP services.
    pub fn udp_ports(&self) -> &UdpPorts {
        &self.udp_ports
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
pub fn list(ctx: &Ctx) {
    for l in ctx.jobs.list() {
        outln!("{l}");
    }
}

/// `kill N` (also `%N`, as in a Unix shell).
pub fn kill(ctx: &Ctx, n: usize) -> Result<(), String> {
    ctx.jobs.kill(n)?;
    outln!("[{n}] stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill_line(line: &str) -> Result<usize, String> {
        use crate::cmd::syntax::{parse_line, Command};
        match parse_line(&format!("kill {line}"))? {
            Command::Kill { job } => Ok(job),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kill_arguments() {
        assert_eq!(kill_line("3"), Ok(3));
        assert_eq!(kill_line("%12"), Ok(12));
        assert!(kill_line("")
            .unwrap_err()
            .starts_with("kill: missing N (usage: kill N)"));
        assert_eq!(
            kill_line("x"),
            Err("kill: invalid job number 'x' (see 'jobs')".into())
        );
        for bad in ["-1", "1 2", "%", "99999999999999999999999"] {
            assert!(kill_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counters_by_kind() {
        let st = JobState::default();
        st.count();
        assert_eq!(st.counts(JobKind::Datagrams), "datagrams: 1");
        st.conn_opened();
        st.conn_opened();
        st.conn_closed();
        st.conn_closed();
        st.conn_closed(); // one too many: stays at zero
        st.bytes_in(10);
        st.bytes_out(7);
        assert_eq!(
            st.counts(JobKind::Stream),
            "connections: 2, open: 0, bytes in: 10, out: 7"
        );
        st.response(200);
        st.response(404);
        assert_eq!(
            st.counts(JobKind::Http),
            "connections: 2, open: 0, requests: 2, errors: 1, bytes out: 7"
        );
    }

    #[test]
    fn a_job_is_stopped_by_its_closer() {
        let jobs = Jobs::default();
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        let close: Closer = Box::new(move || {
            let _ = tx.send(());
        });
        let saw_stop = Arc::new(AtomicBool::new(false));
        let saw = saw_stop.clone();
        let n = jobs
            .spawn("test".into(), JobKind::Stream, close, move |st| {
                // Blocked until the closer runs, as on a socket.
                let _ = rx.recv();
                saw.store(st.stopping(), Ordering::SeqCst);
            })
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            jobs.list(),
            vec!["[1] running test (connections: 0, open: 0, bytes in: 0, out: 0)"]
        );
        jobs.kill(1).unwrap();
        assert!(
            saw_stop.load(Ordering::SeqCst),
            "the stop flag is set before closing"
        );
        assert!(jobs.list().is_empty());
    }

    #[test]
    fn a_job_that_ends_by_itself_lets_go_of_its_sockets() {
        let jobs = Jobs::default();
        // The closer holds the job's socket (here a stand-in whose count shows it).
        let socket = Arc::new(());
        let held = socket.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let c = closed.clone();
        let close: Closer = Box::new(move || {
            let _ = &held;
            c.store(true, Ordering::SeqCst);
        });
        jobs.spawn("test".into(), JobKind::Stream, close, |_| {})
            .unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&socket) > 1 && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Before `jobs` looked: closed and dropped.
        assert_eq!(Arc::strong_count(&socket), 1);
        assert!(closed.load(Ordering::SeqCst));
        assert_eq!(jobs.list().len(), 1, "still shown once");
        assert!(jobs.list().is_empty());
    }

    /// A job's thread that died of a panic (a bug in a service) was shown by `jobs` as a
    /// job that ended normally, and its sockets stayed open (its port taken) until `jobs`
    /// or `kill` came. It is a failed job, its sockets closed at once.
    #[test]
    fn a_job_that_panics_is_shown_as_failed_and_lets_go_of_its_sockets() {
        let jobs = Jobs::default();
        let closed = Arc::new(AtomicBool::new(false));
        let c = closed.clone();
        let close: Closer = Box::new(move || c.store(true, Ordering::SeqCst));
        jobs.spawn("test".into(), JobKind::Datagrams, close, |_| {
            panic!("a bug in the service")
        })
        .unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !jobs
            .table
            .lock()
            .get(&1)
            .is_some_and(|j| j.thread.is_finished())
        {
            assert!(std::time::Instant::now() < end, "the job did not end");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(closed.load(Ordering::SeqCst), "its sockets are still open");
        assert_eq!(
            jobs.list(),
            vec!["[1] exited  test (datagrams: 0): failed: a bug in the service"]
        );
        assert!(jobs.list().is_empty());
    }

    #[test]
    fn unknown_jobs_are_one_line_errors() {
        let jobs = Jobs::default();
        assert_eq!(jobs.kill(4), Err("kill: no such job 4 (see 'jobs')".into()));
        assert!(jobs.list().is_empty());
        jobs.stop_all();
    }

    /// `kill N` of a job that already ended by itself (its socket failed, say) is an
    /// error that tells why it ended, as a Unix shell's `kill %N` of a finished job fails
    /// ("No such process"). It said "[N] stopped", as if the job had been running, and the
    /// reason the job ended (shown once by `jobs`) was lost for good.
    #[test]
    fn killing_a_job_that_ended_by_itself_says_so() {
        let jobs = Jobs::default();
        jobs.spawn("test".into(), JobKind::Datagrams, Box::new(|| {}), |st| {
            st.fail("socket closed".into())
        })
        .unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !jobs
            .table
            .lock()
            .get(&1)
            .is_some_and(|j| j.thread.is_finished())
        {
            assert!(std::time::Instant::now() < end, "the job did not end");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            jobs.kill(1),
            Err("kill: job 1 had already ended: socket closed".into())
        );
        assert!(jobs.list().is_empty(), "forgotten once told");
        assert_eq!(jobs.kill(1), Err("kill: no such job 1 (see 'jobs')".into()));
    }
}
