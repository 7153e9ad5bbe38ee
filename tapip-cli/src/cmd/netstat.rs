//! `netstat`: every socket of the stack, as Linux's `netstat -uwan` shows them.

use super::Ctx;
use crate::opts::Args;
use std::net::SocketAddrV4;
use transport::{SocketInfo, SocketKind};

fn proto(kind: SocketKind) -> String {
    match kind {
        SocketKind::Udp => "udp".into(),
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
    format!(
        "{:<10} {:>6} {:>6} {:<22} {:<22} {}",
        proto(s.kind),
        s.rx_bytes,
        s.tx_bytes,
        addr(s.local, raw),
        addr(s.remote, raw),
        s.state
    )
}

fn header() -> String {
    format!(
        "{:<10} {:>6} {:>6} {:<22} {:<22} {}",
        "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address", "State"
    )
}

pub fn run(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    args.finish()?;
    let sockets = ctx.stack.with_core(|c, _| c.transport.sockets());
    println!("{}", header());
    for s in &sockets {
        println!("{}", row(s));
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
