//! `netstat`: every socket of the stack, as Linux's `netstat -tuwan` shows them, with each
//! TCP connection's congestion window, smoothed RTT and retransmissions (as `ss -ti`), and
//! the TIME-WAIT records left by closed connections.

use super::syntax::Netstat;
use super::Ctx;
use std::net::SocketAddrV4;
use transport::{SocketInfo, SocketKind};

fn proto(kind: SocketKind) -> String {
    match kind {
        SocketKind::Udp => "udp".into(),
        SocketKind::Tcp => "tcp".into(),
        SocketKind::Raw(1) => "raw(icmp)".into(),
        SocketKind::Raw(p) => format!("raw({p})"),
    }
}

/// An address as Linux's netstat writes it: `0.0.0.0:*` for none (the wildcard), `*`
/// for a port that is not chosen (0) or that raw sockets do not have.
fn addr(a: Option<SocketAddrV4>, raw: bool) -> String {
    match a {
        None => "0.0.0.0:*".into(),
        Some(a) if raw || a.port() == 0 => format!("{}:*", a.ip()),
        Some(a) => a.to_string(),
    }
}

/// Does a socket pass the filters of `netstat [-t] [-u] [-w] [-l]`?
fn shown(s: &SocketInfo, f: &Netstat) -> bool {
    passes(s.kind, s.state, s.remote.is_some(), f)
}

fn passes(kind: SocketKind, state: &str, connected: bool, f: &Netstat) -> bool {
    let any = !(f.tcp || f.udp || f.raw);
    let asked = match kind {
        SocketKind::Tcp => f.tcp,
        SocketKind::Udp => f.udp,
        SocketKind::Raw(_) => f.raw,
    };
    // Listening: TCP in LISTEN; UDP and raw sockets with no peer.
    let listening = match kind {
        SocketKind::Tcp => state == "LISTEN",
        _ => !connected,
    };
    (any || asked) && (!f.listening || listening)
}

fn row(s: &SocketInfo) -> String {
    let raw = matches!(s.kind, SocketKind::Raw(_));
    let mut r = format!(
        "{:<10} {:>6} {:>6} {:<22} {:<22} {:<12}",
        proto(s.kind),
        s.rx_bytes,
        s.tx_bytes,
        addr(s.local, raw),
        addr(s.remote, raw),
        s.state
    );
    if let Some(t) = &s.tcp {
        let srtt = t.srtt.map_or("-".to_string(), |d| {
            format!("{:.1}ms", d.as_secs_f64() * 1e3)
        });
        r.push_str(&format!(
            " cwnd {} srtt {} rto {}ms retrans {} mss {} ts {}",
            t.cwnd,
            srtt,
            t.rto.as_millis(),
            t.retransmits,
            t.mss,
            if t.timestamps { "on" } else { "off" }
        ));
    }
    r.trim_end().to_string()
}

fn header() -> String {
    format!(
        "{:<10} {:>6} {:>6} {:<22} {:<22} {}",
        "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State"
    )
}

pub fn run(ctx: &Ctx, f: Netstat) -> Result<(), String> {
    let (sockets, tw) = ctx
        .stack
        .with_core(|c, now| (c.transport.sockets(), c.transport.tcp_time_wait(now)));
    println!("{}", header());
    for s in sockets.iter().filter(|s| shown(s, &f)) {
        println!("{}", row(s));
    }
    // TIME-WAIT records are TCP, and never listening.
    let tcp_shown = f.tcp || !(f.udp || f.raw);
    for (l, r, left) in tw.into_iter().filter(|_| tcp_shown && !f.listening) {
        println!(
            "{:<10} {:>6} {:>6} {:<22} {:<22} {:<12} {:.1}s left",
            "tcp",
            0,
            0,
            l.to_string(),
            r.to_string(),
            "TIME-WAIT",
            left.as_secs_f64()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_protocols() {
        assert_eq!(proto(SocketKind::Udp), "udp");
        assert_eq!(proto(SocketKind::Raw(1)), "raw(icmp)");
        assert_eq!(proto(SocketKind::Raw(89)), "raw(89)");
        assert_eq!(addr(None, false), "0.0.0.0:*");
        assert_eq!(
            addr(Some("10.0.0.1:0".parse().unwrap()), false),
            "10.0.0.1:*"
        );
        assert_eq!(addr(Some("0.0.0.0:7".parse().unwrap()), false), "0.0.0.0:7");
        assert_eq!(
            addr(Some("10.0.0.1:0".parse().unwrap()), true),
            "10.0.0.1:*"
        );
        assert!(header().starts_with("Proto      Recv-Q Send-Q Local Address"));
    }

    #[test]
    fn filters_like_linux() {
        use crate::cmd::syntax::{parse_line, Command};
        let listen = (SocketKind::Tcp, "LISTEN", false);
        let est = (SocketKind::Tcp, "ESTABLISHED", true);
        let udp = (SocketKind::Udp, "UNCONN", false);
        let raw = (SocketKind::Raw(1), "RAW", false);
        let flags = |l: &str| match parse_line(l) {
            Ok(Command::Netstat(n)) => n,
            other => panic!("{other:?}"),
        };
        let pick = |l: &str| -> Vec<bool> {
            let f = flags(l);
            [listen, est, udp, raw]
                .iter()
                .map(|(k, st, c)| passes(*k, st, *c, &f))
                .collect()
        };
        assert_eq!(pick("netstat"), [true, true, true, true]);
        assert_eq!(pick("netstat -an"), [true, true, true, true]);
        assert_eq!(pick("netstat -tnl"), [true, false, false, false]);
        assert_eq!(pick("netstat -t"), [true, true, false, false]);
        assert_eq!(pick("netstat -lu"), [false, false, true, false]);
        assert_eq!(pick("netstat -tulpn"), [true, false, true, false]);
        assert_eq!(pick("netstat -w"), [false, false, false, true]);
    }
}
