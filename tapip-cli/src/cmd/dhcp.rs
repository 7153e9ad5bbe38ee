//! `dhcp [IF]`: DHCP clients' leases, or a new client on IF.

use super::Ctx;
use netif::Instant;
use socket_api::dhcp::client::Lease;
use socket_api::dhcp::wire::Lifetime;
use std::time::Duration;

pub fn run(ctx: &Ctx, iface: Option<String>) -> Result<(), String> {
    if let Some(name) = iface {
        ctx.stack
            .start_dhcp(&name)
            .map_err(|e| format!("dhcp: {e}"))?;
        outln!("dhcp: {name}: asking for an address ('dhcp' shows the lease)");
        return Ok(());
    }
    let all = ctx.stack.dhcp_status();
    if all.is_empty() {
        outln!("dhcp: no client runs ('dhcp IF' starts one, as --dhcp does on the tap)");
    }
    let now = ctx.stack.now();
    for d in all {
        match &d.lease {
            Some(l) => outln!("{}: {} {}", d.interface, d.state.name(), describe(l, now)),
            None => outln!("{}: {} (no lease)", d.interface, d.state.name()),
        }
    }
    Ok(())
}

/// `10.0.0.57/24 from 10.0.0.2, router 10.0.0.2, dns 10.0.0.2, renew in 30m0s, ends in 1h0m0s`.
pub fn describe(l: &Lease, now: Instant) -> String {
    let mut s = format!("{} from {}", l.addr, l.server);
    if let Some(r) = l.router {
        s += &format!(", router {r}");
    }
    if !l.dns.is_empty() {
        let dns: Vec<String> = l.dns.iter().map(|a| a.to_string()).collect();
        s += &format!(", dns {}", dns.join(" "));
    }
    if !l.domains.is_empty() {
        s += &format!(", domain {}", l.domains.join(" "));
    }
    if let Some(m) = l.mtu {
        s += &format!(", mtu {m}");
    }
    match (l.length, l.renew_at, l.expires_at) {
        (Lifetime::Finite(_), Some(t1), Some(end)) => {
            let left = |t: Instant| span(t.saturating_duration_since(now));
            s += &format!(", renew in {}, ends in {}", left(t1), left(end));
        }
        _ => s += ", for ever",
    }
    s
}

/// `1h2m3s`, `4m0s`, `59s`.
fn span(d: Duration) -> String {
    let t = d.as_secs();
    match (t / 3600, t / 60 % 60, t % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_lease_is_one_line_with_its_times() {
        let t = |s| Instant::from_secs(s);
        let mut l = Lease {
            addr: "10.0.0.57/24".parse().unwrap(),
            server: Ipv4Addr::new(10, 0, 0, 2),
            router: Some(Ipv4Addr::new(10, 0, 0, 1)),
            dns: vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(9, 9, 9, 9)],
            domains: vec!["test.lan".into()],
            mtu: None,
            length: Lifetime::Finite(Duration::from_secs(3600)),
            obtained: t(100),
            renew_at: Some(t(1900)),
            rebind_at: Some(t(3250)),
            expires_at: Some(t(3700)),
        };
        assert_eq!(
            describe(&l, t(160)),
            "10.0.0.57/24 from 10.0.0.2, router 10.0.0.1, dns 10.0.0.2 9.9.9.9, \
             domain test.lan, renew in 29m0s, ends in 59m0s"
        );
        l.length = Lifetime::Infinite;
        l.router = None;
        l.dns.clear();
        l.domains.clear();
        l.mtu = Some(1400);
        assert_eq!(
            describe(&l, t(0)),
            "10.0.0.57/24 from 10.0.0.2, mtu 1400, for ever"
        );
        assert_eq!(span(Duration::from_secs(7322)), "2h2m2s");
        assert_eq!(span(Duration::from_secs(59)), "59s");
    }
}
