//! `ping`: an application on a raw ICMP socket, printing as Linux's iputils ping does.

use super::syntax::Ping;
use super::Ctx;
use ip::icmp::{self, IcmpRepr};
use ip::ipv4::Ipv4Packet;
use socket_api::RawSocket;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// What came back for one of our echo requests.
enum Answer {
    Reply {
        seq: u16,
        from: Ipv4Addr,
        ttl: u8,
        bytes: usize,
        /// When the request left, in microseconds since the run began, as its data says
        /// (the first 8 bytes; none in a shorter request).
        stamp: Option<u64>,
        /// Its checksum is wrong: printed `(BAD CHECKSUM!)` and counted `corrupted`, not
        /// received (the raw socket sees it before ICMP's checks, as on Linux).
        corrupt: bool,
        /// Its data, after the ICMP header (checked against what was sent).
        data: Vec<u8>,
    },
    Error {
        seq: u16,
        from: Ipv4Addr,
        what: String,
        /// The request failed (not a redirect: the router sent it on all the same, and
        /// its reply may still come; iputils neither counts nor waits less for one).
        failed: bool,
    },
}

/// Is this datagram (as the raw socket reads it) about our echo stream `ident` to `dst`?
fn classify(datagram: &[u8], ident: u16, dst: Ipv4Addr) -> Option<Answer> {
    let p = Ipv4Packet::new_checked(datagram).ok()?;
    let reply = |seq, data: &[u8], corrupt| Answer::Reply {
        seq,
        from: p.src(),
        ttl: p.ttl(),
        bytes: data.len() + icmp::HEADER_LEN,
        stamp: data.first_chunk::<8>().map(|b| u64::from_be_bytes(*b)),
        corrupt,
        data: data.to_vec(),
    };
    let repr = match IcmpRepr::parse(p.payload()) {
        Ok(r) => r,
        // An echo reply of ours whose checksum is wrong, read as it is (iputils'
        // `csfailed`).
        Err(icmp::IcmpError::BadChecksum) => {
            let m = p.payload();
            let ours = m[0] == icmp::kind::ECHO_REPLY && m[4..6] == ident.to_be_bytes();
            return ours.then(|| reply(u16::from_be_bytes([m[6], m[7]]), &m[8..], true));
        }
        Err(_) => return None,
    };
    match repr {
        IcmpRepr::EchoReply {
            ident: i,
            seq,
            data,
        } if i == ident => Some(reply(seq, data, false)),
        IcmpRepr::DestUnreachable { original, .. }
        | IcmpRepr::TimeExceeded { original, .. }
        | IcmpRepr::Redirect { original, .. }
        | IcmpRepr::ParameterProblem { original, .. } => {
            // The quoted datagram: our echo request's header, then its first 8 bytes.
            let hl = usize::from(original.first()? & 0x0f) * 4;
            let q = original.get(hl..hl + 8)?;
            if original.get(9) != Some(&1) || q[0] != icmp::kind::ECHO_REQUEST {
                return None;
            }
            // Another ping's request to another host may carry our ident (iputils checks
            // the quoted destination too).
            if original.get(16..20) != Some(&dst.octets()[..]) {
                return None;
            }
            if u16::from_be_bytes([q[4], q[5]]) != ident {
                return None;
            }
            let seq = u16::from_be_bytes([q[6], q[7]]);
            let payload = p.payload();
            let what = match (payload[0], payload[1]) {
                (icmp::kind::REDIRECT, _) => format!(
                    "{}(New nexthop: {})",
                    icmp::describe_error(payload[0], payload[1]),
                    Ipv4Addr::new(payload[4], payload[5], payload[6], payload[7])
                ),
                (icmp::kind::PARAMETER_PROBLEM, _) => format!(
                    "{}: pointer = {}",
                    icmp::describe_error(payload[0], payload[1]),
                    payload[4]
                ),
                (icmp::kind::DEST_UNREACHABLE, icmp::unreach::FRAG_NEEDED) => format!(
                    "{} (mtu = {})",
                    icmp::describe_error(payload[0], payload[1]),
                    u16::from_be_bytes([payload[6], payload[7]])
                ),
                (icmp::kind::DEST_UNREACHABLE, c) if c > 15 => {
                    format!("Dest Unreachable, Bad Code: {c}")
                }
                (t, c) => icmp::describe_error(t, c).to_string(),
            };
            Some(Answer::Error {
                seq,
                from: p.src(),
                what,
                failed: payload[0] != icmp::kind::REDIRECT,
            })
        }
        _ => None,
    }
}

pub fn run(ctx: &Ctx, o: Ping) -> Result<(), String> {
    let dst = super::tcp::lookup(ctx, &o.dst).map_err(|e| format!("ping: {e}"))?;
    let mut sock =
        RawSocket::new(&ctx.stack, ip::ipv4::protocol::ICMP).map_err(|e| format!("ping: {e}"))?;
    // Echo replies and the errors ping reports only, as iputils' ping filters: another
    // program's echo requests and other ICMP traffic do not wake it.
    let wanted = [0u32, 3, 4, 5, 11, 12].iter().fold(0, |m, t| m | 1 << t);
    sock.set_icmp_filter(!wanted)
        .map_err(|e| format!("ping: {e}"))?;
    if let Some(t) = o.ttl {
        sock.set_ttl(t).map_err(|e| format!("ping: {e}"))?;
    }
    if o.broadcast {
        sock.set_broadcast(true).map_err(|e| format!("ping: {e}"))?;
    }
    // Another for each run: a reply to an earlier run's request, come late, is not
    // this run's (as each of iputils' runs is a process of its own, its pid the ident).
    static RUNS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ident = (std::process::id() as u16) ^ run.wrapping_mul(0x9e37);
    outln!(
        "PING {} ({}) {}({}) bytes of data.",
        o.dst,
        dst,
        o.size,
        o.size + 28
    );

    let start = Instant::now();
    let mut sent_at: HashMap<u16, Instant> = HashMap::new();
    let (mut transmitted, mut received, mut errors, mut dups) = (0u64, 0u64, 0u64, 0u64);
    let mut corrupted = 0u64;
    // The round trip a reply's stamp gives (its request's send time, in µs since the run
    // began), as iputils times every reply.
    let stamp_ms = |stamp: Option<u64>| {
        let now = start.elapsed().as_micros() as u64;
        stamp
            .filter(|s| *s <= now)
            .map(|s| (now - s) as f64 / 1000.0)
    };
    let mut rtt = RttStats::default();
    let mut next_send = Instant::now();
    let mut last_sent: Option<Instant> = None;
    let mut buf = vec![0u8; 65_536];
    let mut payload = vec![0u8; o.size];
    for (i, b) in payload.iter_mut().enumerate().skip(8) {
        *b = i as u8;
    }
    let mut answered: u64 = 0;
    loop {
        if ctx.sig.stop_requested() {
            break;
        }
        let now = Instant::now();
        let all_sent = o.count.is_some_and(|c| transmitted >= c);
        // After the last request: -W with no reply yet, else twice the longest round
        // trip, at least an interval, as iputils' ping waits (-W only matters when nothing
        // came back).
        let linger = match rtt.summary() {
            Some((_, _, max, _)) => Duration::from_secs_f64(2.0 * max / 1000.0).max(o.interval),
            None => o.timeout,
        };
        if all_sent {
            let waited = last_sent.map_or(Duration::ZERO, |t| now - t);
            if answered >= transmitted || waited >= linger {
                break;
            }
        } else if now >= next_send {
            let seq = (transmitted as u16).wrapping_add(1);
            let stamp = start.elapsed().as_micros() as u64;
            if payload.len() >= 8 {
                payload[..8].copy_from_slice(&stamp.to_be_bytes());
            }
            let msg = IcmpRepr::EchoRequest {
                ident,
                seq,
                data: &payload,
            };
            let mut m = vec![0u8; msg.buffer_len()];
            msg.emit(&mut m);
            transmitted += 1;
            sent_at.insert(seq, Instant::now());
            last_sent = Some(Instant::now());
            if let Err(e) = sock.send_to(&m, dst) {
                // As Linux's ping, whose `connect` finds these at once: no route, or a
                // broadcast without -b, ends it before the first request.
                if transmitted == 1 {
                    return Err(match e.kind() {
                        ErrorKind::PermissionDenied => "ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules".to_string(),
                        _ => format!("ping: connect: {e}"),
                    });
                }
                errors += 1;
                answered += 1;
                outln!("ping: sendmsg: {e}");
            }
            next_send = next_send_after(next_send, o.interval, Instant::now());
            continue;
        }
        // Wait for an answer until the next thing to do.
        let until = if all_sent {
            last_sent.map_or(now, |t| t + linger)
        } else {
            next_send
        };
        let wait = until
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        sock.set_read_timeout(Some(wait))
            .map_err(|e| format!("ping: {e}"))?;
        let (n, _) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => continue,
            Err(e) => return Err(format!("ping: {e}")),
        };
        match classify(&buf[..n], ident, dst) {
            Some(Answer::Reply {
                seq,
                from,
                ttl,
                bytes,
                stamp,
                corrupt,
                data,
            }) => {
                // As iputils' gather_statistics: a reply with a bad checksum is neither
                // received nor a round trip, and its request still waits for a reply; a
                // duplicate is timed by the stamp its request carried and counted in the
                // round trips.
                let sent = sent_at
                    .get(&seq)
                    .map(|t0| t0.elapsed().as_secs_f64() * 1000.0);
                let ms = sent.or_else(|| stamp_ms(stamp));
                let dup = !corrupt && sent.is_none();
                if corrupt {
                    corrupted += 1;
                } else {
                    if dup {
                        dups += 1;
                    } else {
                        sent_at.remove(&seq);
                        received += 1;
                        answered += 1;
                    }
                    if let Some(ms) = ms {
                        rtt.add(ms);
                    }
                }
                let mut line = format!("{bytes} bytes from {from}: icmp_seq={seq} ttl={ttl}");
                if data.len() < payload.len() {
                    line.push_str(" (truncated)");
                } else {
                    line.push_str(&time_field(ms));
                    if dup {
                        line.push_str(" (DUP!)");
                    }
                    if corrupt {
                        line.push_str(" (BAD CHECKSUM!)");
                    }
                    // A reply from another address than the one pinged (not to a
                    // broadcast or a group, which anyone may answer).
                    if !o.broadcast && !dst.is_multicast() && from != dst {
                        line.push_str(" (DIFFERENT ADDRESS!)");
                    }
                    line.push_str(&wrong_data(&data, &payload));
                }
                outln!("{line}");
            }
            Some(Answer::Error {
                seq,
                from,
                what,
                failed,
            }) => {
                if failed && sent_at.remove(&seq).is_some() {
                    errors += 1;
                    answered += 1;
                }
                outln!("From {from} icmp_seq={seq} {what}");
            }
            None => {}
        }
    }
    let elapsed = start.elapsed().as_millis();
    // A blank line before the statistics, unless Ctrl-C at the terminal just began one
    // (as Linux's ping: `^C` on a line of its own, then the statistics).
    if !ctx.sig.user_cancelled() {
        outln!();
    }
    outln!("--- {} ping statistics ---", o.dst);
    let loss = match transmitted {
        0 => 0.0,
        t => t.saturating_sub(received) as f64 * 100.0 / t as f64,
    };
    let mut extra = String::new();
    if dups > 0 {
        extra.push_str(&format!(", +{dups} duplicates"));
    }
    if corrupted > 0 {
        extra.push_str(&format!(", +{corrupted} corrupted"));
    }
    if errors > 0 {
        extra.push_str(&format!(", +{errors} errors"));
    }
    outln!(
        "{transmitted} packets transmitted, {received} received{extra}, {}% packet loss, time {elapsed}ms",
        percent_g(loss)
    );
    if let Some((min, avg, max, mdev)) = rtt.summary() {
        outln!("rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms");
    }
    // As Linux's ping: a run without a single reply failed.
    if received == 0 {
        return Err(format!("ping: no reply from {}", o.dst));
    }
    Ok(())
}

/// What iputils says of a reply whose data (after the stamp) is not what was sent: the
/// first wrong byte, then the data in rows of 32 from the stamp's end; nothing if it is
/// all as sent.
fn wrong_data(got: &[u8], sent: &[u8]) -> String {
    const STAMP: usize = 8;
    let Some(i) = (STAMP..sent.len()).find(|&i| got.get(i) != sent.get(i)) else {
        return String::new();
    };
    let mut s = format!(
        "\nwrong data byte #{i} should be 0x{:x} but was 0x{:x}",
        sent[i],
        got.get(i).copied().unwrap_or(0)
    );
    for (i, b) in got.iter().enumerate().take(sent.len()).skip(STAMP) {
        if i % 32 == STAMP {
            let _ = write!(s, "\n#{i}\t");
        }
        let _ = write!(s, "{b:x} ");
    }
    s
}

/// ` time=0.042` for a round trip in ms; nothing without one.
fn time_field(ms: Option<f64>) -> String {
    ms.map_or_else(String::new, |ms| format!(" time={}", fmt_ms(ms)))
}

/// A percentage as C's `%g` prints it (iputils' loss): six significant digits, no
/// trailing zeros (`0.5`, `33.3333`, `100`).
fn percent_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_string();
    }
    let decimals = (5 - x.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let s = format!("{x:.decimals$}");
    match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    }
}

/// Round-trip times as running sums: an endless ping keeps constant memory.
#[derive(Default)]
struct RttStats {
    n: u64,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

impl RttStats {
    fn add(&mut self, ms: f64) {
        if self.n == 0 || ms < self.min {
            self.min = ms;
        }
        self.max = self.max.max(ms);
        self.n += 1;
        self.sum += ms;
        self.sum_sq += ms * ms;
    }

    /// min, avg, max, mdev (the population standard deviation, as iputils prints).
    fn summary(&self) -> Option<(f64, f64, f64, f64)> {
        (self.n > 0).then(|| {
            let n = self.n as f64;
            let avg = self.sum / n;
            let var = (self.sum_sq / n - avg * avg).max(0.0);
            (self.min, avg, self.max, var.sqrt())
        })
    }
}

/// A round trip as iputils' ping prints it: from whole microseconds, three decimals
/// below 1 ms, two below 10, one below 100, then whole milliseconds (each rounded).
fn fmt_ms(ms: f64) -> String {
    let us = (ms.max(0.0) * 1000.0) as u64;
    if us >= 99_950 {
        format!("{} ms", (us + 500) / 1000)
    } else if us >= 9_995 {
        let tenths = (us + 50) / 100;
        format!("{}.{} ms", tenths / 10, tenths % 10)
    } else if us >= 1_000 {
        let hundredths = (us + 5) / 10;
        format!("{}.{:02} ms", hundredths / 100, hundredths % 100)
    } else {
        format!("0.{us:03} ms")
    }
}

/// When the request after one due at `due` goes: an interval later, so a late send
/// does not drift the schedule; but after a stall of a whole interval or more the
/// schedule starts again from `now` instead of catching up in a burst (as iputils'
/// ping sends one request, not the missed ones).
fn next_send_after(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next <= now {
        now + interval
    } else {
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request a little late keeps the schedule; after a stall the missed requests are
    /// not sent in a burst.
    #[test]
    fn a_stall_restarts_the_schedule_without_a_burst() {
        let (t0, i) = (Instant::now(), Duration::from_millis(100));
        let late = t0 + Duration::from_millis(30);
        assert_eq!(next_send_after(t0, i, late), t0 + i, "no drift");
        let stalled = t0 + Duration::from_millis(550);
        let next = next_send_after(t0, i, stalled);
        assert_eq!(next, stalled + i, "one interval after the late send");
        assert_eq!(next_send_after(t0, i, t0 + i), t0 + 2 * i);
    }

    #[test]
    fn rtt_summary() {
        let mut r = RttStats::default();
        assert!(r.summary().is_none());
        for ms in [1.0, 2.0, 3.0] {
            r.add(ms);
        }
        let (min, avg, max, mdev) = r.summary().unwrap();
        assert_eq!((min, avg, max), (1.0, 2.0, 3.0));
        assert!((mdev - (2.0f64 / 3.0).sqrt()).abs() < 1e-9);
    }

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// An ICMP datagram from `src` to `dst` carrying `payload`.
    fn ip(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        use ip::ipv4::{protocol, Ipv4Repr};
        let repr = Ipv4Repr {
            src,
            dst,
            protocol: protocol::ICMP,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_fragment: false,
            payload_len: payload.len(),
        };
        let mut d = vec![0u8; 20 + payload.len()];
        repr.emit(&mut d, 0, false);
        d[20..].copy_from_slice(payload);
        d
    }

    fn icmp(m: IcmpRepr<'_>) -> Vec<u8> {
        let mut b = vec![0u8; m.buffer_len()];
        m.emit(&mut b);
        b
    }

    /// Our echo request the errors below quote (ident 7, seq 3).
    fn our_request() -> IcmpRepr<'static> {
        IcmpRepr::EchoRequest {
            ident: 7,
            seq: 3,
            data: b"abcdefgh",
        }
    }

    /// An ICMP error about one of our echo requests names its sequence number and what
    /// went wrong, in ping's words (a parameter problem with its pointer).
    #[test]
    fn errors_about_our_requests_are_told() {
        let (us, peer) = (US, PEER);
        let quoted = ip(us, peer, &icmp(our_request()));
        let problem = icmp(IcmpRepr::ParameterProblem {
            code: icmp::param::POINTER,
            pointer: 22,
            original: &quoted,
        });
        let Some(Answer::Error {
            seq,
            from,
            what,
            failed,
        }) = classify(&ip(peer, us, &problem), 7, peer)
        else {
            panic!("not told")
        };
        assert_eq!((seq, from, failed), (3, peer, true));
        assert_eq!(what, "Parameter problem: pointer = 22");
        assert!(
            classify(&ip(peer, us, &problem), 8, peer).is_none(),
            "another ping's"
        );
        // Our ident, but a request to another host (another ping's, with the same ident):
        // not ours (iputils' `daddr` check). It was taken for ours and counted an error.
        assert!(
            classify(&ip(peer, us, &problem), 7, Ipv4Addr::new(10, 0, 0, 77)).is_none(),
            "a request to another host"
        );
        // A redirect is told, but the request did not fail: the router sent it on, and
        // its reply may still come (iputils counts no error and waits on).
        let redirect = icmp(IcmpRepr::Redirect {
            code: 1,
            gateway: Ipv4Addr::new(10, 0, 0, 3),
            original: &quoted,
        });
        let Some(Answer::Error {
            seq, what, failed, ..
        }) = classify(&ip(peer, us, &redirect), 7, peer)
        else {
            panic!("not told")
        };
        assert_eq!((seq, failed), (3, false));
        assert!(what.contains("New nexthop: 10.0.0.3"), "{what}");
    }

    /// After the last request, with replies already in: twice the longest round trip (at
    /// least an interval), not -W's 10 s, for the lost one's reply (as iputils).
    #[test]
    fn a_lost_request_does_not_hold_ping_for_its_timeout() {
        let out = ping_in_a_child(
            "cmd::ping::tests::a_lost_request_does_not_hold_ping_for_its_timeout",
            1,
            1,
            "ping -c 3 -i 0.05 127.0.0.1",
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        let summary = out
            .lines()
            .find(|l| l.contains("transmitted"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            summary.contains("3 packets transmitted, 2 received"),
            "{summary}"
        );
        let ms: u64 = summary
            .rsplit("time ")
            .next()
            .and_then(|t| t.strip_suffix("ms"))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{summary}"));
        assert!(ms < 2_000, "{summary}");
    }

    /// The loopback, but the first `drop` ICMP echo requests sent on it are lost and each
    /// echo reply is sent `copies` times, `delay` late, and changed as `mangle` says.
    struct LossyLoopback {
        inner: std::sync::Arc<netif::MemoryLink>,
        drop: std::sync::atomic::AtomicUsize,
        copies: usize,
        delay: Duration,
        mangle: Mangle,
    }

    /// How [`LossyLoopback`] changes the echo replies it carries.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mangle {
        None,
        /// Every copy but the last has its last octet changed (its checksum no longer
        /// holds).
        Corrupt,
        /// Every reply comes from 127.0.0.9.
        Source,
        /// Every reply loses its last 8 octets (lengths and checksums made right).
        Truncate,
    }

    impl Mangle {
        /// The mode a child process was asked for (see [`run_child`]).
        fn from_env() -> Mangle {
            match std::env::var("TAPIP_PING_MANGLE").as_deref() {
                Ok("corrupt") => Mangle::Corrupt,
                Ok("source") => Mangle::Source,
                Ok("truncate") => Mangle::Truncate,
                _ => Mangle::None,
            }
        }

        fn name(self) -> &'static str {
            match self {
                Mangle::None => "none",
                Mangle::Corrupt => "corrupt",
                Mangle::Source => "source",
                Mangle::Truncate => "truncate",
            }
        }

        /// An echo reply frame (Ethernet, a 20-octet IPv4 header, ICMP) changed whole,
        /// its checksums right: from 127.0.0.9, or 8 octets shorter.
        fn apply(self, frame: &[u8]) -> Vec<u8> {
            let mut f = frame.to_vec();
            match self {
                Mangle::Source => f[26..30].copy_from_slice(&[127, 0, 0, 9]),
                Mangle::Truncate => {
                    f.truncate(f.len() - 8);
                    let len = (f.len() - 14) as u16;
                    f[16..18].copy_from_slice(&len.to_be_bytes());
                    f[36..38].fill(0);
                    let c = ip::checksum::checksum(&f[34..]);
                    f[36..38].copy_from_slice(&c.to_be_bytes());
                }
                Mangle::None | Mangle::Corrupt => return f,
            }
            f[24..26].fill(0);
            let c = ip::checksum::checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            f
        }
    }

    impl netif::Device for LossyLoopback {
        fn info(&self) -> netif::DeviceInfo {
            self.inner.info()
        }
        fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
            self.inner.recv(buf, timeout)
        }
        fn send(&self, frame: &[u8]) -> std::io::Result<()> {
            use std::sync::atomic::Ordering;
            // Ethernet (14), IPv4 without options (20), then the ICMP type.
            let icmp = frame.len() > 34 && frame[23] == 1 && frame[14] == 0x45;
            if icmp && frame[34] == icmp::kind::ECHO_REQUEST {
                let left = self.drop.load(Ordering::SeqCst);
                if left > 0 {
                    self.drop.store(left - 1, Ordering::SeqCst);
                    return Ok(());
                }
            }
            if icmp && frame[34] == icmp::kind::ECHO_REPLY {
                let frame = &self.mangle.apply(frame);
                for _ in 1..self.copies {
                    let mut copy = frame.to_vec();
                    if self.mangle == Mangle::Corrupt {
                        *copy.last_mut().unwrap() ^= 0x5a;
                    }
                    self.inner.send(&copy)?;
                }
                if !self.delay.is_zero() {
                    let (inner, frame, delay) = (self.inner.clone(), frame.to_vec(), self.delay);
                    std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        let _ = inner.send(&frame);
                    });
                    return Ok(());
                }
                return self.inner.send(frame);
            }
            self.inner.send(frame)
        }
    }

    /// A shell context whose only interface is a [`LossyLoopback`] (127.0.0.1/8).
    fn lossy_ctx(drop: usize, copies: usize, delay: Duration) -> crate::cmd::Ctx {
        use std::sync::Arc;
        let (trace, _lines) = netif::trace::Trace::new();
        let stack = socket_api::Stack::new(socket_api::StackConfig::default()).unwrap();
        let dev = LossyLoopback {
            inner: Arc::new(netif::MemoryLink::loopback()),
            drop: drop.into(),
            copies,
            delay,
            mangle: Mangle::from_env(),
        };
        let lo = stack
            .add_device(Arc::new(dev), netif::DriverConfig::default())
            .unwrap();
        let addr = ip::Ipv4Cidr::new(Ipv4Addr::new(127, 0, 0, 1), 8).unwrap();
        stack
            .with_core(|c, now| -> Result<(), String> {
                c.ip.set_address(lo, Some(addr), now)
                    .map_err(|e| e.to_string())?;
                c.ip.set_up(lo, true, now).map_err(|e| e.to_string())
            })
            .unwrap();
        let (input, _requests) = crate::cmd::input::Input::new();
        crate::cmd::Ctx {
            stack,
            tap: "tap0".to_string(),
            trace,
            pcap: netif::pcap::PcapHandle::new(),
            pcap_since: Default::default(),
            sig: Default::default(),
            fault: None,
            input,
            jobs: Default::default(),
        }
    }

    /// `ping` prints to the process's stdout, which a test cannot capture: the test runs
    /// itself again in a child process (with `TAPIP_PING_CHILD` set, it pings on a
    /// [`lossy_ctx`]) and returns the child's stdout.
    fn ping_in_a_child(test: &str, drop: usize, copies: usize, line: &str) -> String {
        pings_in_a_child(test, drop, copies, Duration::ZERO, &[line])
    }

    /// [`ping_in_a_child`], the replies `delay` late, `lines` one after another.
    fn pings_in_a_child(
        test: &str,
        drop: usize,
        copies: usize,
        delay: Duration,
        lines: &[&str],
    ) -> String {
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            let ctx = lossy_ctx(drop, copies, delay);
            for line in lines {
                let _ = crate::cmd::testing::run_line(&ctx, line);
            }
            crate::cmd::testing::finish(ctx);
            return String::new();
        }
        run_child(test, Mangle::None)
    }

    /// The test `test` run again in a child process as [`pings_in_a_child`] does, the
    /// [`LossyLoopback`] changing the replies as `mangle` says; the child's stdout.
    fn run_child(test: &str, mangle: Mangle) -> String {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--include-ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env("TAPIP_PING_CHILD", "1")
            .env("TAPIP_PING_MANGLE", mangle.name())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// iputils reads an echo reply whose checksum is wrong and says so: `64 bytes from
    /// ...: icmp_seq=1 ttl=64 time=0.050 ms (BAD CHECKSUM!)`, counted as `+1 corrupted`,
    /// not received, and the request still waits for its reply. Here it was dropped
    /// without a word.
    #[test]
    fn a_reply_with_a_bad_checksum_is_said_and_counted_corrupted() {
        let test = "cmd::ping::tests::a_reply_with_a_bad_checksum_is_said_and_counted_corrupted";
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            pings_in_a_child(
                test,
                0,
                2,
                Duration::ZERO,
                &["ping -c 2 -i 0.05 -W 0.5 127.0.0.1"],
            );
            return;
        }
        let out = run_child(test, Mangle::Corrupt);
        let bad: Vec<&str> = out.lines().filter(|l| l.contains("BAD")).collect();
        assert_eq!(bad.len(), 2, "{out}");
        for l in bad {
            assert!(
                l.contains(" time=") && l.ends_with(" ms (BAD CHECKSUM!)"),
                "{l}"
            );
        }
        // Its last data byte (#55 of 56, sent as 0x37) is not what was sent, which
        // iputils says too, then shows the data from the stamp's end.
        let wrong = "\nwrong data byte #55 should be 0x37 but was 0x6d\n#8\t8 9 a b ";
        assert_eq!(out.matches(wrong).count(), 2, "{out}");
        assert!(
            out.contains("2 packets transmitted, 2 received, +2 corrupted, 0% packet loss"),
            "{out}"
        );
        assert!(!out.contains("(DUP!)"), "{out}");
    }

    /// iputils marks a reply from another address than the one pinged `(DIFFERENT
    /// ADDRESS!)` (a router or a host with several addresses answering for it), and one
    /// shorter than what was sent `(truncated)`, without a time; both are received.
    /// Here neither was said.
    #[test]
    fn a_reply_from_another_address_or_truncated_is_said() {
        let test = "cmd::ping::tests::a_reply_from_another_address_or_truncated_is_said";
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            let line = "ping -c 2 -i 0.05 -W 0.5 127.0.0.1";
            pings_in_a_child(test, 0, 1, Duration::ZERO, &[line]);
            return;
        }
        let all = "2 packets transmitted, 2 received, 0% packet loss";
        let out = run_child(test, Mangle::Source);
        let lines: Vec<&str> = out.lines().filter(|l| l.contains("icmp_seq=")).collect();
        assert_eq!(lines.len(), 2, "{out}");
        for l in lines {
            assert!(l.starts_with("64 bytes from 127.0.0.9: "), "{l}");
            assert!(l.ends_with(" ms (DIFFERENT ADDRESS!)"), "{l}");
        }
        assert!(out.contains(all), "{out}");

        let out = run_child(test, Mangle::Truncate);
        let lines: Vec<&str> = out.lines().filter(|l| l.contains("icmp_seq=")).collect();
        assert_eq!(lines.len(), 2, "{out}");
        for l in lines {
            assert!(l.starts_with("56 bytes from 127.0.0.1: "), "{l}");
            assert!(l.ends_with(" ttl=64 (truncated)"), "{l}");
        }
        assert!(out.contains(all), "{out}");
    }

    /// iputils prints the loss as `%g` of the exact ratio: 1 lost of 200 is `0.5% packet
    /// loss`, 1 of 3 `33.3333%`. Here it is an integer rounded down: a ping that lost a
    /// request says `0% packet loss`.
    #[test]
    fn a_lost_request_is_not_zero_loss() {
        let out = ping_in_a_child(
            "cmd::ping::tests::a_lost_request_is_not_zero_loss",
            1,
            1,
            "ping -c 200 -i 0.002 -W 0.5 127.0.0.1",
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        assert!(
            out.contains("200 packets transmitted, 199 received, 0.5% packet loss"),
            "{}",
            out.lines()
                .filter(|l| l.contains("transmitted"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// iputils counts duplicate replies in its statistics: `3 packets transmitted, 3
    /// received, +2 duplicates, 0% packet loss`. Here each `(DUP!)` line is printed but the
    /// summary does not count them: a link that duplicates every reply looks clean.
    #[test]
    fn duplicates_are_counted_in_the_statistics() {
        let out = ping_in_a_child(
            "cmd::ping::tests::duplicates_are_counted_in_the_statistics",
            0,
            2,
            "ping -c 3 -i 0.05 -W 0.5 127.0.0.1",
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        // The last reply's copy comes after the last reply ends the run (as in iputils).
        assert_eq!(out.matches("(DUP!)").count(), 2, "{out}");
        assert!(
            out.contains("3 packets transmitted, 3 received, +2 duplicates, 0% packet loss"),
            "{out}"
        );
    }

    /// `ping 127.1` (inet_aton's short form of 127.0.0.1, which Linux's ping takes) goes
    /// over the loopback and is answered, printed with the name as given.
    #[test]
    fn ping_127_1_is_127_0_0_1_over_the_loopback() {
        let out = ping_in_a_child(
            "cmd::ping::tests::ping_127_1_is_127_0_0_1_over_the_loopback",
            0,
            1,
            "ping -c 1 -W 2 127.1",
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        assert!(
            out.contains("PING 127.1 (127.0.0.1) 56(84) bytes of data."),
            "{out}"
        );
        assert!(out.contains("64 bytes from 127.0.0.1: icmp_seq=1"), "{out}");
        assert!(
            out.contains("1 packets transmitted, 1 received, 0% packet loss"),
            "{out}"
        );
    }

    /// `ping 0` pings this host, as Linux's does (0.0.0.0 as a destination means this
    /// host; its replies come from 127.0.0.1).
    #[test]
    fn ping_0_is_this_host() {
        let out = ping_in_a_child(
            "cmd::ping::tests::ping_0_is_this_host",
            0,
            1,
            "ping -c 1 -W 2 0",
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        assert!(
            out.contains("PING 0 (0.0.0.0) 56(84) bytes of data."),
            "{out}"
        );
        assert!(out.contains("64 bytes from 127.0.0.1: icmp_seq=1"), "{out}");
        assert!(
            out.contains("1 packets transmitted, 1 received, 0% packet loss"),
            "{out}"
        );
    }

    /// Linux's ping to an address with no route fails at once (`ping: connect: Network
    /// is unreachable`, status 2). Here, without -c, it prints `ping: sendmsg: ...` every
    /// interval and runs until Ctrl-C.
    #[test]
    fn no_route_fails_at_once() {
        let ctx = crate::cmd::testing::ctx();
        let sig = ctx.sig.clone();
        let (done_tx, done) = crossbeam_channel::bounded::<()>(1);
        // Ctrl-C after 3 s, so that the test ends either way.
        let dog = std::thread::spawn(move || {
            if done.recv_timeout(Duration::from_secs(3)).is_err() {
                sig.raise_interrupt();
                return false;
            }
            true
        });
        let r = crate::cmd::testing::run_line(&ctx, "ping -i 0.2 10.9.9.9");
        let _ = done_tx.send(());
        let ended_alone = dog.join().unwrap();
        ctx.sig
            .interrupt
            .store(false, std::sync::atomic::Ordering::SeqCst);
        crate::cmd::testing::finish(ctx);
        assert!(r.is_err(), "{r:?}");
        assert!(
            ended_alone,
            "still sending to an unreachable address after 3 s: {r:?}"
        );
    }

    /// iputils times a duplicate by the stamp in its data: `64 bytes from ...: icmp_seq=1
    /// ttl=64 time=0.050 ms (DUP!)`. Here the duplicate's line had no time.
    #[test]
    fn a_duplicate_is_timed() {
        let out = ping_in_a_child(
            "cmd::ping::tests::a_duplicate_is_timed",
            0,
            2,
            "ping -c 2 -i 0.05 -W 0.5 127.0.0.1",
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        let dups: Vec<&str> = out.lines().filter(|l| l.contains("(DUP!)")).collect();
        assert!(!dups.is_empty(), "{out}");
        for l in dups {
            assert!(l.contains(" time=") && l.ends_with(" ms (DUP!)"), "{l}");
        }
    }

    /// Each iputils run is a process of its own, with its own ident: a reply to the last
    /// run's request, come late, is not taken for this run's. Here a second run in the
    /// shell had the same ident (its socket took the first's slot): the late reply was
    /// counted as its seq 1, and its own reply for seq 1 printed as `(DUP!)`.
    #[test]
    fn a_late_reply_to_an_earlier_run_is_not_this_runs() {
        let out = pings_in_a_child(
            "cmd::ping::tests::a_late_reply_to_an_earlier_run_is_not_this_runs",
            0,
            1,
            Duration::from_millis(300),
            &[
                "ping -c 1 -W 0.1 127.0.0.1",
                "ping -c 2 -i 0.5 -W 2 127.0.0.1",
            ],
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        assert!(!out.contains("(DUP!)"), "{out}");
        assert!(
            out.contains("2 packets transmitted, 2 received, 0% packet loss"),
            "{out}"
        );
    }

    /// iputils' -W is the wait with no reply at all; once replies came, ping waits twice
    /// the longest round trip (at least an interval) for the last one. Here the wait was
    /// cut to -W: a reply slower than -W, its round trip like the others', was lost.
    #[test]
    fn the_last_reply_is_waited_for_past_w_once_replies_came() {
        let out = pings_in_a_child(
            "cmd::ping::tests::the_last_reply_is_waited_for_past_w_once_replies_came",
            0,
            1,
            Duration::from_millis(200),
            &["ping -c 2 -i 0.3 -W 0.1 127.0.0.1"],
        );
        if std::env::var_os("TAPIP_PING_CHILD").is_some() {
            return;
        }
        assert!(
            out.contains("2 packets transmitted, 2 received, 0% packet loss"),
            "{out}"
        );
    }

    /// Round trips as iputils prints them: `0.042`, `1.23`, `12.3`, and from 100 ms on
    /// whole milliseconds (`time=150 ms`, not `150.4 ms`).
    #[test]
    fn round_trips_print_as_iputils_prints_them() {
        for (ms, want) in [
            (0.042, "0.042 ms"),
            (0.9994, "0.999 ms"),
            (1.234, "1.23 ms"),
            (9.9961, "10.0 ms"),
            (12.34, "12.3 ms"),
            (99.96, "100 ms"),
            (150.4, "150 ms"),
            (1234.5, "1235 ms"),
        ] {
            assert_eq!(fmt_ms(ms), want, "{ms}");
        }
    }

    /// A destination unreachable reads as iputils' ping words it, code by code: a firewall's
    /// `Destination Host Prohibited` or `Packet filtered`, not a bare `Destination
    /// Unreachable`; the MTU of a fragmentation needed.
    #[test]
    fn unreachable_codes_read_as_iputils_words_them() {
        let (us, peer) = (US, PEER);
        let quoted = ip(us, peer, &icmp(our_request()));
        for (code, mtu, want) in [
            (10, 0, "Destination Host Prohibited"),
            (13, 0, "Packet filtered"),
            (9, 0, "Destination Net Prohibited"),
            (5, 0, "Source Route Failed"),
            (4, 1400, "Frag needed and DF set (mtu = 1400)"),
            (1, 0, "Destination Host Unreachable"),
            (44, 0, "Dest Unreachable, Bad Code: 44"),
        ] {
            let unreachable = icmp(IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu: mtu,
                original: &quoted,
            });
            let Some(Answer::Error { what, .. }) = classify(&ip(peer, us, &unreachable), 7, peer)
            else {
                panic!("not told")
            };
            assert_eq!(what, want, "code {code}");
        }
    }

    #[test]
    fn loss_prints_as_percent_g() {
        let cases = [
            (0.0, "0"),
            (0.5, "0.5"),
            (100.0 / 3.0, "33.3333"),
            (100.0, "100"),
            (2.0 / 3.0, "0.666667"),
            (50.0, "50"),
        ];
        for (x, want) in cases {
            assert_eq!(percent_g(x), want, "{x}");
        }
    }

    #[test]
    fn options() {
        use crate::cmd::syntax::{parse_line, Command};
        let Ok(Command::Ping(o)) = parse_line("ping -c 3 -s 6000 -t 1 -i 0.2 -W 2 10.0.0.2") else {
            panic!("ping options")
        };
        assert_eq!((o.count, o.size, o.ttl), (Some(3), 6000, Some(1)));
        assert_eq!(o.interval, Duration::from_millis(200));
        assert_eq!(o.timeout, Duration::from_secs(2));
        assert_eq!(o.dst, "10.0.0.2");
        let Ok(Command::Ping(o)) = parse_line("ping 10.0.0.2") else {
            panic!("ping defaults")
        };
        assert_eq!((o.count, o.size, o.ttl), (None, 56, None));
        assert_eq!(o.interval, Duration::from_secs(1));
        assert_eq!(o.timeout, Duration::from_secs(10));
        for bad in [
            "",
            "-c",
            "-c x 1.2.3.4",
            "-s 70000 1.2.3.4",
            "-t 0 1.2.3.4",
            "-t 300 1.2.3.4",
            "-q 1.2.3.4",
            "1.2.3.4.5",
            "1.2.3.4 5.6.7.8",
            "-i 0 1.2.3.4",
        ] {
            assert!(parse_line(&format!("ping {bad}")).is_err(), "{bad}");
        }
    }
}
