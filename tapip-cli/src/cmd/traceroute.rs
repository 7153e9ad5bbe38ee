//! `traceroute`: UDP probes with a growing TTL, their answers read from the socket's
//! `IP_RECVERR` queue, printed as Linux's traceroute prints them with `-n`.

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

/// How an ICMP error about a probe to `dst` reads: its annotation, and whether the trace
/// ends with it (the destination answered, or a router says it cannot be reached).
fn judge(e: &IcmpError, dst: Ipv4Addr) -> (String, bool) {
    match (e.icmp_type, e.icmp_code) {
        (kind::TIME_EXCEEDED, _) => (String::new(), false),
        (kind::DEST_UNREACHABLE, unreach::PORT) => {
            // The destination's own closed port; from anyone else, a filter saying so.
            let mark = if e.offender == dst { "" } else { "!" };
            (mark.to_string(), true)
        }
        (kind::DEST_UNREACHABLE, code) => {
            let mark = match code {
                unreach::NET | 6 | 9 | 11 => "!N".to_string(),
                unreach::HOST | 7 | 10 | 12 => "!H".to_string(),
                unreach::PROTOCOL => "!P".to_string(),
                unreach::FRAG_NEEDED => format!("!F-{}", e.info),
                5 => "!S".to_string(),
                13 => "!X".to_string(),
                14 => "!V".to_string(),
                15 => "!C".to_string(),
                c => format!("!<{c}>"),
            };
            (mark, true)
        }
        (t, c) => (format!("!<{t}/{c}>"), false),
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
    let sock = UdpSocket::bind(&ctx.stack, "0.0.0.0:0").map_err(fail)?;
    sock.set_recv_errors(true).map_err(fail)?;
    outln!(
        "traceroute to {} ({}), {} hops max, {} byte packets",
        o.dst,
        dst,
        o.max,
        PROBE_DATA + 28
    );
    let probes = u32::from(o.max - o.first + 1) * u32::from(o.queries);
    if u32::from(o.port) + probes > 65_536 {
        return Err(format!(
            "traceroute: {probes} probes from port {} run past port 65535",
            o.port
        ));
    }
    let mut port = o.port;
    for ttl in o.first..=o.max {
        sock.set_ttl(u32::from(ttl)).map_err(fail)?;
        let mut line = format!("{ttl:2} ");
        let mut shown: Option<Ipv4Addr> = None;
        let mut done = false;
        for _ in 0..o.queries {
            let answer = probe(ctx, &sock, dst, port, o.wait)?;
            port = port.wrapping_add(1);
            match answer {
                None => return Ok(()),
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

/// Send one probe to `dst:port` and wait up to `wait` for the error that answers it
/// (errors about earlier probes, come late, are passed over). `None`: stopped by the user.
fn probe(
    ctx: &Ctx,
    sock: &UdpSocket,
    dst: Ipv4Addr,
    port: u16,
    wait: Duration,
) -> Result<Option<Answer>, String> {
    let to = SocketAddr::from((dst, port));
    // An error about an earlier probe is pending once it is queued: it would fail this
    // send, as on Linux. Its queue entry is passed over below.
    let _ = sock.take_error();
    let data = [0x40u8; PROBE_DATA];
    let sent = Instant::now();
    if let Err(e) = sock.send_to(&data, to) {
        return Err(format!("traceroute: send to {to}: {e}"));
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
        sock.set_read_timeout(Some(slice))
            .map_err(|e| format!("traceroute: {e}"))?;
        match sock.recv_error() {
            Ok(e) if e.dest == to => {
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                let (mark, last) = judge(&e, dst);
                return Ok(Some(Answer::From {
                    from: e.offender,
                    ms,
                    mark,
                    last,
                }));
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(format!("traceroute: {e}")),
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

    #[test]
    fn answers_are_marked_as_linux_marks_them() {
        let dst = Ipv4Addr::new(10, 0, 1, 2);
        let router = Ipv4Addr::new(10, 0, 0, 2);
        let j = |t, c, from, info| judge(&err(t, c, from, info), dst);
        assert_eq!(j(kind::TIME_EXCEEDED, 0, router, 0), (String::new(), false));
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::PORT, dst, 0),
            (String::new(), true)
        );
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::PORT, router, 0),
            ("!".into(), true)
        );
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::HOST, router, 0),
            ("!H".into(), true)
        );
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::NET, router, 0),
            ("!N".into(), true)
        );
        assert_eq!(
            j(kind::DEST_UNREACHABLE, 13, router, 0),
            ("!X".into(), true)
        );
        assert_eq!(
            j(kind::DEST_UNREACHABLE, unreach::FRAG_NEEDED, router, 1400),
            ("!F-1400".into(), true)
        );
        assert_eq!(
            j(kind::DEST_UNREACHABLE, 4 + 40, router, 0),
            ("!<44>".into(), true)
        );
    }
}
