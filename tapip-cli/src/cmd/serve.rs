//! `serve`: the classic small services as background jobs: echo (RFC 862), discard
//! (RFC 863), chargen (RFC 864) and daytime (RFC 867), over TCP (see `tcp`) or with `-u`
//! over UDP (here); and `serve http DIR`, a static file server (TCP only).

mod tcp;

use super::jobs::{JobKind, JobState, UdpPorts};
use super::syntax::{Serve, ServiceName};
use super::Ctx;
use socket_api::{Stack, UdpSocket};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a job looks at its stop flag while no datagram comes (`kill` also closes the
/// socket, which wakes it at once).
const POLL: Duration = Duration::from_millis(250);

/// Datagrams from a source port below this get no answer, as OpenBSD's inetd refuses
/// them (`dg_badinput`): the well-known ports are where services live, and two services
/// answering each other would loop for ever: echo, daytime, quote of the day, chargen and
/// time (RFCs 862, 867, 865, 864, 868) answer any datagram, and so do many others (port 0
/// cannot be answered at all). Clients send from ephemeral ports. Nor do the ports of the
/// shell's own UDP services get one (a second host running the same `serve -u -p N`, or two
/// services of this shell).
const FIRST_ANSWERED_PORT: u16 = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Echo,
    Discard,
    Chargen,
    Daytime,
    Http,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Discard => "discard",
            Service::Chargen => "chargen",
            Service::Daytime => "daytime",
            Service::Http => "http",
        }
    }

    fn port(self) -> u16 {
        match self {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Chargen => 19,
            Service::Daytime => 13,
            Service::Http => 80,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    service: Service,
    port: u16,
    /// `-u`: UDP rather than TCP.
    udp: bool,
    /// The directory `serve http` serves.
    dir: Option<PathBuf>,
    /// `-F`: TCP Fast Open on the listener.
    fastopen: bool,
}

/// How the arguments of `serve` go together (each was checked by its parser).
fn parse(a: Serve) -> Result<Opts, String> {
    let service = match a.service {
        ServiceName::Echo => Service::Echo,
        ServiceName::Discard => Service::Discard,
        ServiceName::Chargen => Service::Chargen,
        ServiceName::Daytime => Service::Daytime,
        ServiceName::Http => Service::Http,
    };
    if a.udp && a.fastopen {
        return Err("serve: -F (TCP Fast Open) is for TCP services (drop -u or -F)".into());
    }
    if service == Service::Http {
        if a.udp {
            return Err("serve: http is TCP-only (drop -u)".into());
        }
        if a.dir.is_none() {
            return Err(
                "serve: http needs the directory to serve (usage: serve http [-p PORT] DIR)".into(),
            );
        }
    } else if let Some(d) = &a.dir {
        return Err(format!(
            "serve: unexpected argument '{}' (only http takes a directory)",
            d.display()
        ));
    }
    Ok(Opts {
        service,
        port: a.port.unwrap_or(service.port()),
        udp: a.udp,
        dir: a.dir,
        fastopen: a.fastopen,
    })
}

pub fn run(ctx: &Ctx, a: Serve) -> Result<(), String> {
    let o = parse(a)?;
    if !o.udp {
        return tcp::run(ctx, &o);
    }
    let sock = UdpSocket::bind(&ctx.stack, (Ipv4Addr::UNSPECIFIED, o.port))
        .map_err(|e| format!("serve: cannot bind udp 0.0.0.0:{}: {e}", o.port))?;
    let err = |e: std::io::Error| format!("serve: {e}");
    sock.set_read_timeout(Some(POLL)).map_err(err)?;
    let local = sock.local_addr().map_err(err)?;
    let closer = sock.try_clone().map_err(err)?;
    let what = format!("serve {} udp {local}", o.service.name());
    let service = o.service;
    let served = ctx.jobs.udp_ports().clone();
    let stack = ctx.stack.clone();
    let n = ctx
        .jobs
        .spawn(
            what.clone(),
            JobKind::Datagrams,
            Box::new(move || closer.close()),
            move |st| {
                let _port = served.serve(local.port());
                serve_udp(service, &sock, &served, &stack, st)
            },
        )
        .map_err(|e| format!("serve: {e}"))?;
    outln!("[{n}] {what}");
    Ok(())
}

/// The job: answer datagrams until stopped or the socket fails.
fn serve_udp(service: Service, sock: &UdpSocket, served: &UdpPorts, stack: &Stack, st: &JobState) {
    let mut buf = vec![0u8; 65_536];
    let mut rng = Rng::seeded();
    let mut line: usize = 0;
    while !st.stopping() {
        let (n, from, to) = match sock.recv_from_to(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => continue,
            Err(e) => {
                if !st.stopping() {
                    st.fail(e.to_string());
                }
                return;
            }
        };
        st.count();
        // Nor does a datagram sent to a group (or, below, to a broadcast address).
        if !answers(from, served) || to.is_multicast() {
            continue;
        }
        let reply = match service {
            Service::Echo => buf[..n].to_vec(),
            Service::Discard => continue,
            Service::Chargen => {
                line = line.wrapping_add(1);
                chargen(line, (rng.next() % 513) as usize)
            }
            Service::Daytime => daytime(now_secs()).into_bytes(),
            // Refused by `parse`.
            Service::Http => continue,
        };
        let SocketAddr::V4(peer) = from else { continue };
        // A datagram sent to a broadcast address or a group gets no answer: a spoofed one
        // would draw answers from every host that serves (amplification). Nor does one
        // while ARP holds all it takes for the sender (a neighbour that does not answer
        // ARP): the send would wait for room, the seconds the resolution takes to fail,
        // and every other client with it (counted as a send error).
        let (broadcast, held) =
            stack.with_core(|c, _| (c.ip.tx().is_broadcast(to), c.ip.arp_queue_full(*peer.ip())));
        if broadcast {
            continue;
        }
        if held || sock.send_to(&reply, from).is_err() {
            st.send_failed();
        }
    }
}

/// Characters of a chargen stream starting at line `first` (RFC 864): 72-character lines
/// of the 95 printable ASCII characters, each line starting one character further.
fn chargen(first: usize, len: usize) -> Vec<u8> {
    const WIDTH: usize = 72;
    (first..)
        .flat_map(|l| {
            (0..WIDTH)
                .map(move |i| b' ' + ((l + i) % 95) as u8)
                .chain(*b"\r\n")
        })
        .take(len)
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The daytime line (RFC 867 suggests "Weekday, Month Day, Year Time-Zone"), in UTC.
fn daytime(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[((days + 4) % 7) as usize];
    let month = MONTHS[(month - 1) as usize % 12];
    format!(
        "{weekday}, {month} {day}, {year} {:02}:{:02}:{:02}-UTC\r\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01, in the proleptic
/// Gregorian calendar (H. Hinnant's days-to-civil algorithm, for days after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// xorshift64*: random enough for chargen's datagram lengths.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((t ^ u64::from(std::process::id()).rotate_left(32)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Does a datagram from `from` get an answer?
fn answers(from: SocketAddr, served: &UdpPorts) -> bool {
    from.port() >= FIRST_ANSWERED_PORT && !served.contains(from.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn parse_line(line: &str) -> Result<Opts, String> {
        use crate::cmd::syntax::{parse_line, Command};
        match parse_line(&format!("serve {line}"))? {
            Command::Serve(a) => parse(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options() {
        let o = parse_line("echo -u").unwrap();
        assert_eq!((o.service, o.port, o.udp), (Service::Echo, 7, true));
        let o = parse_line("-u -p 7007 discard").unwrap();
        assert_eq!((o.service, o.port), (Service::Discard, 7007));
        assert_eq!(parse_line("chargen -u").unwrap().port, 19);
        assert_eq!(parse_line("daytime -u").unwrap().port, 13);
        assert_eq!(parse_line("echo -u -p 0").unwrap().port, 0);
        assert!(parse_line("")
            .unwrap_err()
            .starts_with("serve: missing SERVICE"));
        assert!(parse_line("ftp -u").unwrap_err().starts_with(
            "serve: invalid SERVICE 'ftp' (one of echo, discard, chargen, daytime, http)"
        ));
        assert!(parse_line("echo -u -x")
            .unwrap_err()
            .contains("unknown option '-x'"));
        assert!(parse_line("echo daytime -u")
            .unwrap_err()
            .contains("unexpected argument 'daytime'"));
        let o = parse_line(r#"http -p 8091 "/tmp/dir with space""#).unwrap();
        assert_eq!(o.dir, Some(PathBuf::from("/tmp/dir with space")));
        for bad in [
            "echo -u -p",
            "echo -u -p 70000",
            "echo -u -p x",
            "echo -u -p -1",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_is_the_default() {
        let o = parse_line("echo").unwrap();
        assert_eq!((o.service, o.port, o.udp), (Service::Echo, 7, false));
        let o = parse_line("chargen -p 1919").unwrap();
        assert_eq!((o.service, o.port, o.udp), (Service::Chargen, 1919, false));
        assert_eq!(parse_line("discard").unwrap().port, 9);
        assert_eq!(parse_line("daytime").unwrap().port, 13);
        assert_eq!(parse_line("echo").unwrap().dir, None);
        assert!(parse_line("echo -F").unwrap().fastopen);
        assert!(!parse_line("echo").unwrap().fastopen);
        assert_eq!(
            parse_line("echo -u -F").unwrap_err(),
            "serve: -F (TCP Fast Open) is for TCP services (drop -u or -F)"
        );
    }

    #[test]
    fn http_options() {
        let o = parse_line("http /srv").unwrap();
        assert_eq!((o.service, o.port, o.udp), (Service::Http, 80, false));
        assert_eq!(o.dir, Some(PathBuf::from("/srv")));
        let o = parse_line("http -p 8080 /tmp/www").unwrap();
        assert_eq!((o.port, o.dir), (8080, Some(PathBuf::from("/tmp/www"))));
        let o = parse_line("-p 8080 http .").unwrap();
        assert_eq!((o.port, o.dir), (8080, Some(PathBuf::from("."))));
        assert_eq!(
            parse_line("http"),
            Err(
                "serve: http needs the directory to serve (usage: serve http [-p PORT] DIR)".into()
            )
        );
        assert_eq!(
            parse_line("http -u /srv"),
            Err("serve: http is TCP-only (drop -u)".into())
        );
        assert!(parse_line("http /a /b")
            .unwrap_err()
            .contains("unexpected argument '/b'"));
        assert!(parse_line("echo /srv")
            .unwrap_err()
            .contains("unexpected argument '/srv'"));
        assert!(parse_line("http -p 80000 /srv").is_err());
    }

    #[test]
    fn daytime_lines() {
        // 2026-11-25 22:30:00 UTC.
        assert_eq!(
            daytime(1_795_645_800),
            "Wednesday, November 25, 2026 22:30:00-UTC\r\n"
        );
        assert_eq!(daytime(0), "Thursday, January 1, 1970 00:00:00-UTC\r\n");
        // A leap day, and the last second of a leap year.
        assert_eq!(
            daytime(951_782_400),
            "Tuesday, February 29, 2000 00:00:00-UTC\r\n"
        );
        assert_eq!(
            daytime(1_735_689_599),
            "Tuesday, December 31, 2024 23:59:59-UTC\r\n"
        );
        // Far away: no overflow, no panic.
        assert!(daytime(u64::MAX).ends_with("-UTC\r\n"));
    }

    #[test]
    fn chargen_lines() {
        let s = chargen(0, 74 * 3);
        let lines: Vec<&[u8]> = s.split(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3], b"");
        assert_eq!(lines[0].len(), 73);
        assert!(lines[0].starts_with(b" !\"#$%&"));
        assert!(lines[1].starts_with(b"!\"#$%&'"));
        assert_eq!(&lines[0][..72], &s[..72]);
        assert_eq!(lines[0][71], b' ' + 71);
        assert_eq!(lines[0][72], b'\r');
        // Line 94 starts with the last printable character, then wraps around.
        assert_eq!(chargen(94, 3), b"~ !".to_vec());
        assert_eq!(chargen(5, 0), b"".to_vec());
        assert_eq!(chargen(1, 512).len(), 512);
        assert!(chargen(7, 512)
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) || b == b'\r' || b == b'\n'));
    }

    #[test]
    fn loop_guard() {
        let served = UdpPorts::default();
        let ok = |a: &str| answers(a.parse().unwrap(), &served);
        // Every well-known port, not only the few services that answer anything (OpenBSD's
        // inetd; a list missed 17 and 37 once, and the services a peer may run are many).
        for p in [0, 7, 13, 17, 19, 37, 53, 123, 161, 520, 1023] {
            assert!(!ok(&format!("10.0.0.2:{p}")), "{p}");
        }
        assert!(ok("10.0.0.2:1024"));
        assert!(ok("10.0.0.2:40000"));
        assert!(ok("10.0.0.2:7007"));
        let a = served.serve(7007);
        let b = served.serve(7008);
        assert!(!ok("10.0.0.2:7007"));
        assert!(!ok("10.0.0.2:7008"));
        drop(a);
        assert!(ok("10.0.0.2:7007"));
        assert!(!ok("10.0.0.2:7008"));
        drop(b);
        assert!(ok("10.0.0.2:7008"));
    }

    #[test]
    fn random_lengths_vary() {
        let mut r = Rng(1);
        let lens: Vec<u64> = (0..100).map(|_| r.next() % 513).collect();
        assert!(lens.iter().any(|&l| l != lens[0]));
        assert!(lens.iter().all(|&l| l <= 512));
    }

    /// The UDP services answered datagrams sent to a broadcast (or multicast) address:
    /// one spoofed datagram to a network's broadcast address then draws an answer from
    /// every host on it that runs echo or chargen, aimed at the spoofed source (the
    /// "fraggle" amplification; chargen answers a datagram with up to 512 bytes). As
    /// inetd's echo and chargen do not, only a datagram sent to one of this host's own
    /// addresses gets an answer.
    #[test]
    fn datagrams_to_a_broadcast_or_multicast_address_get_no_answer() {
        use crate::cmd::testing::{ctx, finish, mem_iface, run_line};
        let ctx = ctx();
        let _peer = mem_iface(&ctx, "m0", "10.9.0.1/16");
        run_line(&ctx, "serve echo -u -p 7007").unwrap();
        run_line(&ctx, "serve chargen -u -p 7019").unwrap();
        let c = UdpSocket::bind(&ctx.stack, "0.0.0.0:40000").unwrap();
        c.set_broadcast(true).unwrap();
        let group = Ipv4Addr::new(239, 1, 2, 3);
        c.join_multicast_v4(&group, &Ipv4Addr::new(10, 9, 0, 1))
            .unwrap();
        c.set_multicast_if_v4(&Ipv4Addr::new(10, 9, 0, 1)).unwrap();
        c.set_multicast_loop_v4(true).unwrap();
        let mut buf = [0u8; 1024];
        // Sent to our address: answered.
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.send_to(b"hi", "10.9.0.1:7007").unwrap();
        assert_eq!(c.recv_from(&mut buf).unwrap().0, 2, "unicast is answered");
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        for to in [
            "10.9.255.255:7007",
            "255.255.255.255:7007",
            "239.1.2.3:7007",
            "10.9.255.255:7019",
            "239.1.2.3:7019",
        ] {
            c.send_to(b"hi", to).unwrap();
            let r = c.recv_from(&mut buf);
            assert!(
                matches!(&r, Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)),
                "a datagram to {to} was answered: {r:?}"
            );
        }
        finish(ctx);
    }

    /// An Ethernet frame with a UDP datagram from `src` to `dst`, as a host on the far end
    /// of `mem_iface`'s link sends it (no UDP checksum).
    fn udp_frame(src: SocketAddrV4, dst: SocketAddrV4, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 1, 1, 0x02, 0, 0, 0, 2, 1, 0x08, 0x00];
        let total = (20 + 8 + data.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend(src.ip().octets());
        ip.extend(dst.ip().octets());
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend(ip);
        f.extend(src.port().to_be_bytes());
        f.extend(dst.port().to_be_bytes());
        f.extend((8 + data.len() as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(data);
        f
    }

    /// A reply waited, on the job's one thread, while the ARP queue of its destination
    /// was full (a blocking datagram send waits for room, up to the ~3 s the resolution
    /// takes to fail): a host on the link that sends a burst of datagrams from an address
    /// that does not answer ARP (spoofed, or gone) stalled the service for every other
    /// client, again with every burst. inetd's replies never wait for the neighbour
    /// (Linux's UDP send queues them, the oldest giving way); here a reply that cannot go
    /// now is dropped and counted as a send error.
    #[test]
    fn a_peer_that_does_not_answer_arp_does_not_stall_the_service() {
        use crate::cmd::testing::{ctx, finish, mem_iface, run_line};
        use netif::Device;
        let ctx = ctx();
        let peer = mem_iface(&ctx, "m0", "10.9.0.1/16");
        run_line(&ctx, "serve echo -u -p 7007").unwrap();
        let from: SocketAddrV4 = "10.9.0.2:40000".parse().unwrap();
        let to: SocketAddrV4 = "10.9.0.1:7007".parse().unwrap();
        // More than the 128 datagrams ARP holds for one address.
        for _ in 0..200 {
            let frame = udp_frame(from, to, b"x");
            while peer.send(&frame).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let c = UdpSocket::bind(&ctx.stack, "127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = std::time::Instant::now();
        c.send_to(b"hi", "127.0.0.1:7007").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(c.recv_from(&mut buf).unwrap().0, 2);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "answered after {:?}: the job waited for the silent neighbour",
            t.elapsed()
        );
        let l = ctx.jobs.list().join("\n");
        assert!(
            l.contains("send errors: "),
            "the replies dropped are counted: {l}"
        );
        finish(ctx);
    }

    /// `help serve` says which UDP datagrams get no answer: those from ports below 1024 and
    /// from the ports of the shell's own UDP services. It once named only 0, 7, 13 and 19, so
    /// a datagram from port 17 or 37 went unanswered against it.
    #[test]
    fn help_names_every_port_that_gets_no_answer() {
        let help = crate::cmd::syntax::help_for("serve").unwrap();
        assert!(
            help.contains(&format!("below {FIRST_ANSWERED_PORT}")),
            "{help}"
        );
        assert!(help.contains("own UDP services"), "{help}");
    }
}
