//! `traceroute`: UDP probes with a growing TTL, each from a socket of its own whose
//! `IP_RECVERR` queue brings its answer, up to 16 in flight at once (Linux's `-N 16`),
//! printed hop by hop as Linux's traceroute prints them with `-n`.

use super::syntax::Traceroute;
use super::Ctx;
use ip::icmp::{exceeded, kind, unreach};
use socket_api::{IcmpError, UdpSocket};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Bytes of data in each probe: with the IP and UDP headers, Linux's 60-byte default.
const PROBE_DATA: usize = 32;

/// What came back for one probe.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Nothing within the wait.
    Lost,
    /// From `from` after `ms`; `mark` is Linux's annotation (`!H`...), empty for a time
    /// exceeded or the destination's port unreachable; `last` when the path ends here.
    From {
        from: Ipv4Addr,
        ms: f64,
        mark: String,
        last: bool,
    },
}

/// How an ICMP error about a probe reads, as Linux's traceroute reads it: its annotation,
/// and whether the trace ends with it (every unreachable: the destination's closed port,
/// or a router that cannot go on; anything but a time exceeded in transit).
fn judge(e: &IcmpError) -> (String, bool) {
    match (e.icmp_type, e.icmp_code) {
        (kind::TIME_EXCEEDED, exceeded::TTL) => (String::new(), false),
        (kind::DEST_UNREACHABLE, code) => {
            let mark = match code {
                unreach::PORT => String::new(),
                unreach::NET | 6 | 8 | 11 => "!N".to_string(),
                unreach::HOST | 7 | 12 => "!H".to_string(),
                9 | 10 | 13 => "!X".to_string(),
                unreach::PROTOCOL => "!P".to_string(),
                unreach::FRAG_NEEDED => format!("!F-{}", e.info),
                5 => "!S".to_string(),
                14 => "!V".to_string(),
                15 => "!C".to_string(),
                c => format!("!<{c}>"),
            };
            (mark, true)
        }
        (t, c) => (format!("!<{t}-{c}>"), true),
    }
}

/// Probes in flight at once, Linux traceroute's default (`-N 16`): a silent hop costs one
/// wait, not one per probe.
const SIMULTANEOUS: usize = 16;

/// One probe sent: its TTL, its port (its answers' key), its socket and when it left.
struct Probe {
    ttl: u8,
    port: u16,
    sock: UdpSocket,
    sent: Instant,
}

pub fn run(ctx: &Ctx, o: Traceroute) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("traceroute: {e}");
    if o.first > o.max {
        return Err(format!(
            "traceroute: first TTL ({}) is above the largest ({})",
            o.first, o.max
        ));
    }
    let dst = super::tcp::lookup(ctx, &o.dst).map_err(|e| format!("traceroute: {e}"))?;
    outln!(
        "traceroute to {} ({}), {} hops max, {} byte packets",
        o.dst,
        dst,
        o.max,
        PROBE_DATA + 28
    );
    let q = usize::from(o.queries);
    let total = (usize::from(o.max) - usize::from(o.first) + 1) * q;
    let ttl_of = |i: usize| o.first + u8::try_from(i / q).unwrap_or(u8::MAX);
    // Probe i's answer, once it came or its wait ran out; `None` while waiting.
    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(total);
    let mut flying: std::collections::HashMap<usize, Probe> = std::collections::HashMap::new();
    let poller = socket_api::Poller::new(&ctx.stack);
    let mut events = Vec::new();
    let mut port = o.port;
    // The first hop whose line is not printed yet, and the lowest TTL that ended the path.
    let (mut hop, mut end_ttl) = (0usize, o.max);
    loop {
        // Print every hop whose probes are all answered, in order.
        while hop * q < total && ttl_of(hop * q) <= end_ttl {
            let range = hop * q..(hop + 1) * q;
            if answers.len() < range.end || answers[range.clone()].iter().any(Option::is_none) {
                break;
            }
            let (line, done) = hop_line(ttl_of(hop * q), answers[range].iter().flatten());
            outln!("{line}");
            if done {
                return Ok(());
            }
            hop += 1;
        }
        if hop * q >= total || ttl_of(hop * q) > end_ttl {
            return Ok(());
        }
        if ctx.sig.stop_requested() {
            // Ctrl-C: what this hop got so far, in order, then the prompt.
            let got = answers[hop * q..].iter().map_while(Option::as_ref);
            outln!("{}", hop_line(ttl_of(hop * q), got).0);
            return Ok(());
        }
        // Keep up to SIMULTANEOUS probes in flight, none past the TTL that ended it.
        while flying.len() < SIMULTANEOUS
            && answers.len() < total
            && ttl_of(answers.len()) <= end_ttl
        {
            let i = answers.len();
            let p = send_probe(ctx, ttl_of(i), dst, port).map_err(fail)?;
            poller.add(p.sock.socket(), i).map_err(fail)?;
            // Past 65535 the ports start again at 1 (each probe has a socket of its own,
            // so a port used again is never taken for another probe's).
            port = port.checked_add(1).unwrap_or(1);
            answers.push(None);
            flying.insert(i, p);
        }
        // In slices, so Ctrl-C is seen soon.
        let now = Instant::now();
        let next = flying
            .values()
            .map(|p| p.sent + o.wait)
            .min()
            .unwrap_or(now);
        let slice = next
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        poller.wait(&mut events, Some(slice)).map_err(fail)?;
        for e in &events {
            let Some(p) = flying.get(&e.token) else {
                continue;
            };
            if let Some(a) = read_answer(p).map_err(fail)? {
                if matches!(a, Answer::From { last: true, .. }) {
                    end_ttl = end_ttl.min(p.ttl);
                }
                answers[e.token] = Some(a);
                if let Some(p) = flying.remove(&e.token) {
                    poller.remove(p.sock.socket());
                }
            }
        }
        let now = Instant::now();
        flying.retain(|&i, p| {
            let waiting = now < p.sent + o.wait;
            if !waiting {
                answers[i] = Some(Answer::Lost);
                poller.remove(p.sock.socket());
            }
            waiting
        });
    }
}

/// A hop's line, as Linux's traceroute prints it (an address once until another answers),
/// and whether the path ends there.
fn hop_line<'a>(ttl: u8, answers: impl Iterator<Item = &'a Answer>) -> (String, bool) {
    let mut line = format!("{ttl:2} ");
    let mut shown: Option<Ipv4Addr> = None;
    let mut done = false;
    for a in answers {
        match a {
            Answer::Lost => line.push_str(" *"),
            Answer::From {
                from,
                ms,
                mark,
                last,
            } => {
                if shown != Some(*from) {
                    line.push_str(&format!(" {from}"));
                    shown = Some(*from);
                }
                line.push_str(&format!("  {ms:.3} ms"));
                if !mark.is_empty() {
                    line.push_str(&format!(" {mark}"));
                }
                done |= *last;
            }
        }
    }
    (line, done)
}

/// Send one probe with `ttl` to `dst:port` from a socket of its own, as Linux's
/// traceroute does: an answer to another probe, come late, can neither be taken for this
/// one's nor, pending on a shared socket, fail this send.
fn send_probe(ctx: &Ctx, ttl: u8, dst: Ipv4Addr, port: u16) -> std::io::Result<Probe> {
    let to = SocketAddr::from((dst, port));
    let sock = UdpSocket::bind(&ctx.stack, "0.0.0.0:0")?;
    sock.set_recv_errors(true)?;
    sock.set_ttl(u32::from(ttl))?;
    let sent = Instant::now();
    // Blocking: a probe waits for room behind an address being resolved.
    if let Err(e) = sock.send_to(&[0x40u8; PROBE_DATA], to) {
        return Err(std::io::Error::new(e.kind(), format!("send to {to}: {e}")));
    }
    sock.set_nonblocking(true)?;
    Ok(Probe {
        ttl,
        port,
        sock,
        sent,
    })
}

/// The answer waiting on probe `p`'s error queue, if any (a socket that is not
/// blocking: `None` when nothing, or nothing about this probe, is there).
fn read_answer(p: &Probe) -> std::io::Result<Option<Answer>> {
    loop {
        match p.sock.recv_error() {
            // By its port, as Linux's traceroute matches: a path that rewrites the address
            // (0.0.0.0 sent to this host, NAT) still answers the probe.
            Ok(e) if e.dest.port() == p.port => {
                let ms = p.sent.elapsed().as_secs_f64() * 1000.0;
                let (mark, last) = judge(&e);
                return Ok(Some(Answer::From {
                    from: e.offender,
                    ms,
                    mark,
                    last,
                }));
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(icmp_type: u8, icmp_code: u8, offender: Ipv4Addr, info: u32) -> IcmpError {
        IcmpError {
            error: std::io::Error::from(ErrorKind::HostUnreachable),
            icmp_type,
            icmp_code,
            info,
            offender,
            dest: SocketAddr::from(([10, 0, 1, 2], 33434)),
            payload: Vec::new(),
        }
    }

    /// Any base port is taken, as Linux's traceroute takes it: the ports go on from 1
    /// past 65535, and a trace that ends early never needed the rest.
    #[test]
    fn a_base_port_near_the_top_is_taken() {
        let ctx = crate::cmd::testing::ctx();
        let r = crate::cmd::testing::run_line(&ctx, "traceroute -p 65535 -q 2 -w 1 127.0.0.1");
        assert!(r.is_ok(), "{r:?}");
        crate::cmd::testing::finish(ctx);
    }

    /// Probes go out together, up to 16: a path of silent hops costs one wait, not one
    /// per probe. The peer, a host that does not forward, drops every probe; all six
    /// reach it before the first wait (2 s) is over.
    #[test]
    fn probes_are_in_flight_together() {
        let ctx = crate::cmd::testing::ctx();
        let link = crate::cmd::testing::mem_iface(&ctx, "m0", "10.9.0.1/16");
        let peer = socket_api::StackBuilder::new()
            .device(std::sync::Arc::new(link))
            .addr("10.9.0.2/16")
            .build()
            .unwrap();
        let run = |l: &str| crate::cmd::testing::run_line(&ctx, l);
        run("route add 10.20.0.0/16 via 10.9.0.2").unwrap();
        let dropped = || peer.with_core(|c, _| c.ip.stats().drop_not_for_us);
        let seen = std::thread::scope(|sc| {
            let t = sc.spawn(|| run("traceroute -q 3 -w 2 -m 2 10.20.0.1"));
            let start = Instant::now();
            let mut seen = 0;
            while start.elapsed() < Duration::from_millis(1500) && seen < 6 {
                std::thread::sleep(Duration::from_millis(10));
                seen = dropped();
            }
            assert!(t.join().unwrap().is_ok());
            seen
        });
        assert_eq!(seen, 6, "probes that left within the first wait");
        assert_eq!(dropped(), 6);
        peer.shutdown();
        crate::cmd::testing::finish(ctx);
    }

    #[test]
    fn answers_are_marked_as_linux_marks_them() {
        let router = Ipv4Addr::new(10, 0, 0, 2);
        let j = |t, c, info| judge(&err(t, c, router, info));
        assert_eq!(j(kind::TIME_EXCEEDED, 0, 0), (String::new(), false));
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::PORT, 0),
            (String::new(), true)
        );
        for (codes, mark) in [
            (&[0u8, 6, 8, 11][..], "!N"),
            (&[1, 7, 12], "!H"),
            (&[9, 10, 13], "!X"),
            (&[2], "!P"),
            (&[5], "!S"),
            (&[14], "!V"),
            (&[15], "!C"),
        ] {
            for &c in codes {
                assert_eq!(j(kind::DEST_UNREACHABLE, c, 0), (mark.into(), true), "{c}");
            }
        }
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::FRAG_NEEDED, 1400),
            ("!F-1400".into(), true)
        );
        assert_eq!(j(kind::DEST_UNREACHABLE, 44, 0), ("!<44>".into(), true));
        assert_eq!(j(kind::PARAMETER_PROBLEM, 0, 20), ("!<12-0>".into(), true));
    }

    /// Only a TTL's time exceeded is a router on the way: Linux's traceroute marks a
    /// fragment reassembly time exceeded (code 1) `!<11-1>` and stops there, as for any
    /// other error. Here it read as a hop passed, and the trace went on.
    #[test]
    fn a_reassembly_time_exceeded_is_not_a_hop_passed() {
        let router = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(
            judge(&err(kind::TIME_EXCEEDED, exceeded::REASSEMBLY, router, 0)),
            ("!<11-1>".into(), true)
        );
    }
}
