//! A graceful end for the whole stack: before `Stack::shutdown`, let every TCP connection
//! deliver what it has queued and its FIN, for a bounded time.

use crate::runtime::Stack;
use std::time::{Duration, Instant};
use transport::tcp::Undelivered;

/// How often the wait looks at its stop condition when nothing wakes it.
const TICK: Duration = Duration::from_millis(50);

impl Stack {
    /// Wait until no TCP connection has data or a FIN left to be acknowledged (closed
    /// connections live on as orphans until then) and no frame waits for ARP to resolve
    /// its next hop (a datagram sent just before; the kernel sends it after the process
    /// is gone), at most `limit` or until `stop()` says so. Returns the connections still
    /// delivering at that moment, which it resets (a RST tells their peers the data is
    /// incomplete, rather than leaving them waiting); an empty list means no stream lost
    /// data. Call it after closing the sockets and before `shutdown`. `stop` is called
    /// with the stack's lock held: it must not call into the stack (a flag or a signal
    /// count, as the shell's Ctrl-C, is what it is for).
    pub fn linger(&self, limit: Duration, stop: impl Fn() -> bool) -> Vec<Undelivered> {
        let deadline = Instant::now().checked_add(limit);
        let mut core = self.lock();
        loop {
            let left = core.transport.tcp_undelivered();
            let now = Instant::now();
            // A limit too far to represent is no limit.
            let out_of_time = deadline.is_some_and(|d| now >= d);
            // A resolution ends within the ARP cache's retries (3 s by default), sent or
            // failed.
            let resolving = core.ip.arp_pending() > 0;
            if (left.is_empty() && !resolving) || self.is_shut_down() || out_of_time || stop() {
                let now = self.now();
                for u in &left {
                    let crate::runtime::Core { ip, transport, .. } = &mut *core;
                    transport.tcp_close_abort(u.handle, ip.tx(), now);
                }
                self.finish(core);
                return left;
            }
            let wake = deadline.map_or(now + TICK, |d| d.min(now + TICK));
            let any = core.any.clone();
            any.wait_until(&mut core, wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Stack, StackConfig};
    use std::time::{Duration, Instant};

    /// With connections, see tests/tests/tcp_linger.rs (two stacks on a lossy link).
    #[test]
    fn an_idle_stack_ends_at_once() {
        let s = Stack::new(StackConfig::default()).unwrap();
        let t = Instant::now();
        assert!(s.linger(Duration::from_secs(5), || false).is_empty());
        assert!(t.elapsed() < Duration::from_secs(1));
        s.shutdown();
    }
}
