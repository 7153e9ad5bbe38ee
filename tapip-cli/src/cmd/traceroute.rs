//! `traceroute`: UDP probes with a growing TTL, each from a socket of its own whose
//! `IP_RECVERR` queue brings its answer, printed as Linux's traceroute prints them with
//! `-n`.

use super::syntax::Traceroute;
use super::Ctx;
use ip::icmp::{kind, unreach};
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
/// or a router that cannot go on; anything but a time exceeded).
fn judge(e: &IcmpError) -> (String, bool) {
    match (e.icmp_type, e.icmp_code) {
        (kind::TIME_EXCEEDED, _) => (String::new(), false),
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
    let mut port = o.port;
    for ttl in o.first..=o.max {
        let mut line = format!("{ttl:2} ");
        let mut shown: Option<Ipv4Addr> = None;
        let mut done = false;
        for _ in 0..o.queries {
            let answer = probe(ctx, ttl, dst, port, o.wait).map_err(fail)?;
            // Past 65535 the ports start again at 1 (each probe has a socket of its own,
            // so a port used again is never taken for another probe's).
            port = port.checked_add(1).unwrap_or(1);
            match answer {
                None => {
                    // Ctrl-C: what this TTL got so far, then the prompt.
                    outln!("{line}");
                    return Ok(());
                }
                Some(Answer::Lost) => line.push_str(" *"),
                Some(Answer::From {
                    from,
                    ms,
                    mark,
                    last,
                }) => {
                    if shown != Some(from) {
                        line.push_str(&format!(" {from}"));
                        shown = Some(from);
                    }
                    line.push_str(&format!("  {ms:.3} ms"));
                    if !mark.is_empty() {
                        line.push_str(&format!(" {mark}"));
                    }
                    done |= last;
                }
            }
        }
        outln!("{line}");
        if done {
            break;
        }
    }
    Ok(())
}

/// Send one probe with `ttl` to `dst:port` from a socket of its own, as Linux's
/// traceroute does (an answer to an earlier probe, come late, can neither be taken for
/// this one's nor, pending on a shared socket, fail this send), and wait up to `wait`
/// for the error that answers it. `None`: stopped by the user.
fn probe(
    ctx: &Ctx,
    ttl: u8,
    dst: Ipv4Addr,
    port: u16,
    wait: Duration,
) -> std::io::Result<Option<Answer>> {
    let to = SocketAddr::from((dst, port));
    let sock = UdpSocket::bind(&ctx.stack, "0.0.0.0:0")?;
    sock.set_recv_errors(true)?;
    sock.set_ttl(u32::from(ttl))?;
    let data = [0x40u8; PROBE_DATA];
    let sent = Instant::now();
    if let Err(e) = sock.send_to(&data, to) {
        return Err(std::io::Error::new(e.kind(), format!("send to {to}: {e}")));
    }
    let deadline = sent + wait;
    loop {
        if ctx.sig.stop_requested() {
            return Ok(None);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Some(Answer::Lost));
        }
        // In slices, so Ctrl-C is seen soon.
        let slice = (deadline - now).clamp(Duration::from_millis(1), Duration::from_millis(100));
        sock.set_read_timeout(Some(slice))?;
        match sock.recv_error() {
            // By its port, as Linux's traceroute matches: a path that rewrites the address
            // (0.0.0.0 sent to this host, NAT) still answers the probe.
            Ok(e) if e.dest.port() == port => {
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                let (mark, last) = judge(&e);
                return Ok(Some(Answer::From {
                    from: e.offender,
                    ms,
                    mark,
                    last,
                }));
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
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
}
