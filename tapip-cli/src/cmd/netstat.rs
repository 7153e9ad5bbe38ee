//! `netstat`: every socket of the stack, as Linux's `netstat -tuwan` shows them, with each
//! TCP connection's congestion window, smoothed RTT and retransmissions (as `ss -ti`), and
//! the TIME-WAIT records left by closed connections.

use super::Ctx;
use crate::opts::Args;
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

/// An address; `*:*` for none. Raw sockets have no ports.
fn addr(a: Option<SocketAddrV4>, raw: bool) -> String {
    match a {
        None => "*:*".into(),
        Some(a) if raw => format!("{}:*", a.ip()),
        Some(a) => a.to_string(),
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
        s.state
    );
    if let Some(t) = &s.tcp {
        let srtt = t.srtt.map_or("-".to_string(), |d| {
            format!("{:.1}ms", d.as_secs_f64() * 1e3)
        });
        r.push_str(&format!(
            " cwnd {} srtt {} rto {}ms retrans {} mss {}",
            t.cwnd,
            srtt,
            t.rto.as_millis(),
            t.retransmits,
            t.mss
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

pub fn run(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    args.finish()?;
    let (sockets, tw) = ctx
        .stack
        .with_core(|c, now| (c.transport.sockets(), c.transport.tcp_time_wait(now)));
    println!("{}", header());
    for s in &sockets {
        println!("{}", row(s));
    }
    for (l, r, left) in tw {
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
        assert_eq!(addr(None, false), "*:*");
        assert_eq!(addr(Some("0.0.0.0:7".parse().unwrap()), false), "0.0.0.0:7");
        assert_eq!(
            addr(Some("10.0.0.1:0".parse().unwrap()), true),
            "10.0.0.1:*"
        );
        assert!(header().starts_with("Proto      Recv-Q Send-Q Local Address"));
    }
}
