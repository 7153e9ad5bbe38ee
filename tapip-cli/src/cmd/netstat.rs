//! `netstat`: every socket of the stack, as Linux's `netstat -tuwan` shows them, with each
//! TCP connection's congestion control (algorithm, window, threshold), RTT estimate,
//! losses and retransmissions (as `ss -ti`), and the TIME-WAIT records left by closed
//! connections.

use super::syntax::Netstat;
use super::Ctx;
use std::net::SocketAddrV4;
use transport::{ConnInfo, SocketInfo, SocketKind};

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

/// A socket's state as net-tools' netstat names it: TCP's as the kernel's `tcp_states`
/// (`FIN_WAIT1`, `SYN_RECV`, `CLOSE`; not RFC 9293's `FIN-WAIT-1`, which `debug tcpstate`
/// shows), a connected UDP socket `ESTABLISHED`, an unconnected one nothing.
fn state(kind: SocketKind, state: &str) -> &str {
    match (kind, state) {
        (SocketKind::Tcp, "SYN-SENT") => "SYN_SENT",
        (SocketKind::Tcp, "SYN-RECEIVED") => "SYN_RECV",
        (SocketKind::Tcp, "FIN-WAIT-1") => "FIN_WAIT1",
        (SocketKind::Tcp, "FIN-WAIT-2") => "FIN_WAIT2",
        (SocketKind::Tcp, "TIME-WAIT") => "TIME_WAIT",
        (SocketKind::Tcp, "CLOSED") => "CLOSE",
        (SocketKind::Tcp, "CLOSE-WAIT") => "CLOSE_WAIT",
        (SocketKind::Tcp, "LAST-ACK") => "LAST_ACK",
        (SocketKind::Udp, "CONNECTED") => "ESTABLISHED",
        (SocketKind::Udp, "UNCONN") => "",
        (_, s) => s,
    }
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
        state(s.kind, s.state)
    );
    if let Some(t) = &s.tcp {
        r.push(' ');
        r.push_str(&tcp_columns(t));
    }
    r.trim_end().to_string()
}

/// `cubic cwnd 14480 ssthresh - srtt 1.2ms rttvar 600us rto 201ms losses 0 retrans 0 mss
/// 1448 ts on ecn off rcvbuf 1048576`: the threshold is `-` until a loss sets it, the RTT `-`
/// until measured; `ecn` whether the handshake agreed on ECN; the receive buffer as
/// autotuning has grown it.
fn tcp_columns(t: &ConnInfo) -> String {
    // Below a millisecond (a TAP's round trips) in microseconds, not "0.0ms".
    let ms = |d: std::time::Duration| {
        if d < std::time::Duration::from_millis(1) {
            format!("{}us", d.as_micros())
        } else {
            format!("{:.1}ms", d.as_secs_f64() * 1e3)
        }
    };
    let (srtt, rttvar) = match t.srtt {
        Some(s) => (ms(s), ms(t.rttvar)),
        None => ("-".into(), "-".into()),
    };
    let ssthresh = if t.ssthresh >= u32::MAX as usize {
        "-".to_string()
    } else {
        t.ssthresh.to_string()
    };
    format!(
        "{} cwnd {} ssthresh {} srtt {} rttvar {} rto {}ms losses {} retrans {} mss {} ts {} \
         ecn {} rcvbuf {}",
        t.congestion,
        t.cwnd,
        ssthresh,
        srtt,
        rttvar,
        t.rto.as_millis(),
        t.losses,
        t.retransmits,
        t.mss,
        if t.timestamps { "on" } else { "off" },
        if t.ecn { "on" } else { "off" },
        t.rcvbuf
    )
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
    outln!("{}", header());
    for s in sockets.iter().filter(|s| shown(s, &f)) {
        outln!("{}", row(s));
    }
    // TIME-WAIT records are TCP, and never listening.
    let tcp_shown = f.tcp || !(f.udp || f.raw);
    for (l, r, left) in tw.into_iter().filter(|_| tcp_shown && !f.listening) {
        outln!(
            "{:<10} {:>6} {:>6} {:<22} {:<22} {:<12} {:.1}s left",
            "tcp",
            0,
            0,
            l.to_string(),
            r.to_string(),
            state(SocketKind::Tcp, "TIME-WAIT"),
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
    fn tcp_columns() {
        use std::time::Duration;
        use transport::CongestionAlgorithm;
        let mut t = ConnInfo {
            congestion: CongestionAlgorithm::Cubic,
            cwnd: 14480,
            ssthresh: u32::MAX as usize,
            rto: Duration::from_millis(1000),
            mss: 1448,
            rcvbuf: 1 << 20,
            ..ConnInfo::default()
        };
        assert_eq!(
            super::tcp_columns(&t),
            "cubic cwnd 14480 ssthresh - srtt - rttvar - rto 1000ms losses 0 retrans 0 \
             mss 1448 ts off ecn off rcvbuf 1048576"
        );
        t.congestion = CongestionAlgorithm::Reno;
        t.cwnd = 7240;
        t.ssthresh = 7240;
        t.srtt = Some(Duration::from_micros(1250));
        t.rttvar = Duration::from_micros(600);
        let tap = ConnInfo {
            srtt: Some(Duration::from_micros(42)),
            rttvar: Duration::from_micros(21),
            ..t
        };
        assert!(super::tcp_columns(&tap).contains("srtt 42us rttvar 21us"));
        t.losses = 2;
        t.retransmits = 5;
        t.timestamps = true;
        t.ecn = true;
        t.rcvbuf = 4 << 20;
        assert_eq!(
            super::tcp_columns(&t),
            "reno cwnd 7240 ssthresh 7240 srtt 1.2ms rttvar 600us rto 1000ms losses 2 \
             retrans 5 mss 1448 ts on ecn on rcvbuf 4194304"
        );
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

    /// States read as net-tools' netstat prints them (`netstat -tn | grep TIME_WAIT`,
    /// `FIN_WAIT2`, `CLOSE_WAIT`; an unconnected UDP socket's column empty), as this
    /// command says it lists sockets "as Linux's netstat does". It printed RFC 9293's
    /// names (`TIME-WAIT`, `FIN-WAIT-2`, `CLOSE-WAIT`) and ss's `UNCONN`.
    #[test]
    fn states_are_named_as_net_tools_names_them() {
        let test = "cmd::netstat::tests::states_are_named_as_net_tools_names_them";
        let Some((out, _)) = crate::cmd::testing::in_child(test, |ctx| {
            use socket_api::{TcpListener, TcpStream, UdpSocket};
            use std::net::Shutdown;
            let listener = TcpListener::bind(&ctx.stack, "127.0.0.1:9000").unwrap();
            // Half closed: FIN_WAIT2 on the side that closed, CLOSE_WAIT on the other.
            let half = TcpStream::connect(&ctx.stack, "127.0.0.1:9000").unwrap();
            let (_held, _) = listener.accept().unwrap();
            half.shutdown(Shutdown::Write).unwrap();
            // Closed by this side first: a TIME_WAIT record.
            let first = TcpStream::connect(&ctx.stack, "127.0.0.1:9000").unwrap();
            let (other, _) = listener.accept().unwrap();
            drop(first);
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(other);
            let _udp = UdpSocket::bind(&ctx.stack, "0.0.0.0:9001").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            crate::cmd::testing::run_line(ctx, "netstat -tu").unwrap();
        }) else {
            return;
        };
        let states: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.get(71..).unwrap_or("").split(' ').next().unwrap_or(""))
            .collect();
        for want in ["LISTEN", "FIN_WAIT2", "CLOSE_WAIT", "TIME_WAIT", ""] {
            assert!(states.contains(&want), "no '{want}' state:\n{out}");
        }
        for old in ["-WAIT", "WAIT-", "UNCONN"] {
            assert!(!out.contains(old), "{old}:\n{out}");
        }
        assert_eq!(state(SocketKind::Tcp, "SYN-RECEIVED"), "SYN_RECV");
        assert_eq!(state(SocketKind::Tcp, "SYN-SENT"), "SYN_SENT");
        assert_eq!(state(SocketKind::Tcp, "FIN-WAIT-1"), "FIN_WAIT1");
        assert_eq!(state(SocketKind::Tcp, "LAST-ACK"), "LAST_ACK");
        assert_eq!(state(SocketKind::Tcp, "CLOSED"), "CLOSE");
        assert_eq!(state(SocketKind::Tcp, "CLOSING"), "CLOSING");
        assert_eq!(state(SocketKind::Udp, "CONNECTED"), "ESTABLISHED");
    }
}
