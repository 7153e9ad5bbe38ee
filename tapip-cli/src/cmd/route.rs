//! `route [-n] | route add NET/PREFIX [via GW] [dev IF] [metric N] |
//! route del NET/PREFIX [via GW] [dev IF] [metric N]`, the destination also as net-tools
//! writes it (`-net NET netmask MASK`, `-host ADDR`)

use super::syntax::{Route, RouteAction};
use super::Ctx;
use ip::Ipv4Cidr;
use std::net::Ipv4Addr;

pub fn run(ctx: &Ctx, a: Route) -> Result<(), String> {
    match a.action {
        None => {
            out!("{}", table(ctx));
            Ok(())
        }
        Some(RouteAction::Add { words }) => {
            let (dest, rest) = destination(&words)?;
            let Hop { via, dev, metric } = parse_next_hop(rest)?;
            ctx.stack.with_core(|c, _| {
                let ifindex = interface(&c.ip, dev.as_deref())?;
                c.ip.add_route_metric(dest, via, ifindex, metric.unwrap_or(0))
                    .map_err(|e| format!("route: {e}"))
            })
        }
        Some(RouteAction::Del { words }) => {
            let (dest, rest) = destination(&words)?;
            let Hop { via, dev, metric } = parse_next_hop(rest)?;
            ctx.stack.with_core(|c, _| {
                let ifindex = interface(&c.ip, dev.as_deref())?;
                // The route the words name: a gateway or interface given must be its own
                // (net-tools' `route del default gw GW`); then its metric picks it.
                let metric = match (via, ifindex) {
                    (None, None) => metric,
                    _ => {
                        let r =
                            c.ip.routes()
                                .iter()
                                .find(|r| {
                                    r.dest == dest
                                        && metric.is_none_or(|m| m == r.metric)
                                        && via.is_none_or(|g| r.gateway == Some(g))
                                        && ifindex.is_none_or(|i| r.ifindex == i)
                                })
                                .ok_or_else(|| format!("route: no such route to {dest}"))?;
                        // A connected route is not deleted, and its metric would pick
                        // another route to the network (through another interface).
                        if r.kind == ip::route::RouteKind::Connected {
                            return Err(format!("route: {}", ip::route::RouteError::Connected));
                        }
                        Some(r.metric)
                    }
                };
                c.ip.del_route(dest, metric)
                    .map(|_| ())
                    .map_err(|e| format!("route: {e}"))
            })
        }
    }
}

/// The destination at the head of `words` and the words after it: `default`,
/// NET/PREFIX or an address (a host), after `-net` or `-host` as net-tools writes them,
/// an address followed by `netmask MASK` for its network.
fn destination(words: &[String]) -> Result<(Ipv4Cidr, &[String]), String> {
    let (host, words) = match words.first().map(String::as_str) {
        Some("-net") => (Some(false), &words[1..]),
        Some("-host") => (Some(true), &words[1..]),
        _ => (None, words),
    };
    let Some((d, mut rest)) = words.split_first() else {
        return Err("route: a destination is needed (NET/PREFIX, an address or default)".into());
    };
    if d.starts_with('-') {
        return Err(format!(
            "route: unknown option '{d}' (net-tools' -net and -host are taken)"
        ));
    }
    let mut dest = super::syntax::network(d).map_err(|e| format!("route: {e}"))?;
    // A mask given: `/PREFIX`, `default`'s, or `netmask MASK`.
    let mut masked = d.contains('/') || d == "default";
    if let Some((_, after)) = rest.split_first().filter(|(w, _)| *w == "netmask") {
        let m = after.first().ok_or("route: netmask needs a mask")?;
        if d.contains('/') || d == "default" || host == Some(true) {
            return Err(format!(
                "route: netmask {m} goes with a bare network address"
            ));
        }
        let mask: std::net::Ipv4Addr = m
            .parse()
            .map_err(|_| format!("route: invalid netmask '{m}'"))?;
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return Err(format!(
                "route: invalid netmask '{m}' (not contiguous ones)"
            ));
        }
        dest = Ipv4Cidr::new(dest.addr(), bits.leading_ones() as u8)
            .ok_or_else(|| format!("route: invalid netmask '{m}'"))?;
        rest = &after[1..];
        masked = true;
    }
    // `-net` with neither `/PREFIX` nor `netmask`: net-tools asks for a network route
    // with mask 0, which Linux takes for 0.0.0.0 (the default route) and refuses else.
    if host == Some(false) && !masked {
        if !dest.addr().is_unspecified() {
            return Err(format!(
                "route: -net {d} needs a netmask (-net {d} netmask MASK, or {d}/PREFIX)"
            ));
        }
        dest = Ipv4Cidr::DEFAULT;
    }
    if host == Some(true) && dest.prefix() != 32 {
        return Err(format!(
            "route: -host takes an address, not the network {d}"
        ));
    }
    Ok((network(dest)?, rest))
}

/// The interface `dev` names, if one is named.
fn interface(ip: &ip::IpLayer, dev: Option<&str>) -> Result<Option<usize>, String> {
    dev.map(|d| {
        ip.ifindex(d)
            .ok_or_else(|| format!("route: no such interface '{d}'"))
    })
    .transpose()
}

/// A route's destination must be a network: no host bits set (Linux refuses them too).
fn network(dest: Ipv4Cidr) -> Result<Ipv4Cidr, String> {
    let net = dest.network();
    if net.addr() != dest.addr() {
        return Err(format!(
            "route: invalid prefix {dest}: host bits are set (the network is {net})"
        ));
    }
    Ok(dest)
}

/// What follows a route's network.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hop {
    via: Option<Ipv4Addr>,
    dev: Option<String>,
    metric: Option<u32>,
}

/// `[via GW] [dev IF] [metric N]` (`gw` for `via`, as Linux's route says it).
fn parse_next_hop(words: &[String]) -> Result<Hop, String> {
    let (mut via, mut dev, mut metric) = (None, None, None);
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "via" | "gw" => {
                let g = it.next().ok_or("route: via needs a gateway address")?;
                via = Some(ip::parse_addr(g).map_err(|e| format!("route: {e}"))?);
            }
            "dev" => {
                dev = Some(
                    it.next()
                        .ok_or("route: dev needs an interface name")?
                        .clone(),
                )
            }
            "metric" => {
                let m = it.next().ok_or("route: metric needs a number")?;
                metric = Some(m.parse::<u32>().map_err(|_| {
                    format!("route: invalid metric '{m}' (a whole number, 0 to 4294967295)")
                })?);
            }
            _ => {
                return Err(format!(
                    "route: unexpected '{w}' (usage: route add NET/PREFIX [via GW] [dev IF] [metric N])"
                ))
            }
        }
    }
    Ok(Hop { via, dev, metric })
}

/// The table as Linux's `route -n` prints it.
fn table(ctx: &Ctx) -> String {
    let (routes, ifaces) = ctx.stack.with_core(|c, _| {
        let ifaces: Vec<(String, bool)> =
            c.ip.interfaces()
                .into_iter()
                .map(|i| (i.name, i.up))
                .collect();
        (c.ip.routes().to_vec(), ifaces)
    });
    let mut out = String::from("Kernel IP routing table\n");
    // A space after each column, as net-tools' (`%-6d %-2d %7d`): a wide value (a metric
    // of 4294967295) pushes the rest right, never into the next column.
    out.push_str(&format!(
        "{:<15} {:<15} {:<15} {:<5} {:<6} {:<6} {:>3} Iface\n",
        "Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use"
    ));
    for r in routes {
        let (name, up) = ifaces
            .get(r.ifindex)
            .map_or(("?", false), |(n, u)| (n.as_str(), *u));
        out.push_str(&format!(
            "{:<15} {:<15} {:<15} {:<5} {:<6} {:<6} {:>3} {name}\n",
            r.dest.addr(),
            r.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED),
            r.dest.netmask(),
            flags(
                up,
                r.gateway.is_some(),
                r.dest.prefix() == 32,
                r.kind == ip::route::RouteKind::Redirect
            ),
            r.metric,
            0,
            0,
        ));
    }
    out
}

/// U: up; G: via a gateway; H: a host route; D: learned from an ICMP redirect (as Linux
/// marks it). (Connected routes are Linux's proto kernel, which `route` does not mark.)
fn flags(up: bool, gateway: bool, host: bool, redirect: bool) -> String {
    let mut f = String::new();
    if up {
        f.push('U');
    }
    if gateway {
        f.push('G');
    }
    if host {
        f.push('H');
    }
    if redirect {
        f.push('D');
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing;

    #[test]
    fn host_bits_are_refused() {
        let c: Ipv4Cidr = "10.0.3.5/24".parse().unwrap();
        assert_eq!(
            network(c),
            Err(
                "route: invalid prefix 10.0.3.5/24: host bits are set (the network is 10.0.3.0/24)"
                    .into()
            )
        );
        for ok in ["10.0.3.0/24", "0.0.0.0/0", "10.0.3.5/32"] {
            assert!(network(ok.parse().unwrap()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn next_hops() {
        let w = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            parse_next_hop(&w("via 10.0.0.2 dev tap0")),
            Ok(Hop {
                via: Some(Ipv4Addr::new(10, 0, 0, 2)),
                dev: Some("tap0".into()),
                metric: None
            })
        );
        assert_eq!(
            parse_next_hop(&w("gw 10.0.0.2 metric 7")),
            Ok(Hop {
                via: Some(Ipv4Addr::new(10, 0, 0, 2)),
                dev: None,
                metric: Some(7)
            })
        );
        // 10.0.0 would be inet_aton's 10.0.0.0: an address, if not a gateway.
        for bad in [
            "via",
            "dev",
            "via 10.0.0.0.1",
            "via 10.0.0x",
            "to 10.0.0.2",
            "metric",
            "metric -1",
            "metric 4294967296",
        ] {
            assert!(
                parse_next_hop(&w(bad)).unwrap_err().starts_with("route: "),
                "{bad}"
            );
        }
    }

    #[test]
    fn flags_like_linux() {
        assert_eq!(flags(true, true, false, false), "UG");
        assert_eq!(flags(true, false, true, false), "UH");
        assert_eq!(flags(true, true, true, false), "UGH");
        assert_eq!(flags(true, true, true, true), "UGHD");
        assert_eq!(flags(false, false, false, false), "");
    }

    #[test]
    fn the_table_reads_like_linux() {
        let ctx = testing::ctx();
        testing::run_line(&ctx, "route add 10.9.0.0/16 dev lo").unwrap();
        testing::run_line(&ctx, "route add 10.8.0.1/32 dev lo").unwrap();
        // Refused and nothing stored.
        let e = testing::run_line(&ctx, "route add 10.0.3.5/24 via 127.0.0.2").unwrap_err();
        assert!(e.starts_with("route: invalid prefix 10.0.3.5/24"), "{e}");
        let t = table(&ctx);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Kernel IP routing table");
        assert_eq!(
            lines[1],
            "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface"
        );
        assert!(
            t.contains(
                "127.0.0.0       0.0.0.0         255.0.0.0       U     0      0        0 lo\n"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "10.9.0.0        0.0.0.0         255.255.0.0     U     0      0        0 lo\n"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "10.8.0.1        0.0.0.0         255.255.255.255 UH    0      0        0 lo\n"
            ),
            "{t}"
        );
        assert!(!t.contains("10.0.3."), "{t}");
        testing::run_line(&ctx, "route del 10.9.0.0/16").unwrap();
        assert!(!table(&ctx).contains("10.9.0.0"));
        assert!(testing::run_line(&ctx, "route del 10.8.0.5/24")
            .unwrap_err()
            .contains("invalid prefix"));
        testing::finish(ctx);
    }

    /// `route add ... metric N` (net-tools and iproute2 both take it): two routes to one
    /// network differ by their metric, the lower one is used, `route` shows each one's,
    /// and `route del NET metric N` takes away that one only.
    #[test]
    fn routes_have_metrics() {
        let ctx = testing::ctx();
        let _peer = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        let via = |ctx: &crate::cmd::Ctx| {
            ctx.stack
                .with_core(|c, _| c.ip.route_lookup(Ipv4Addr::new(10, 9, 1, 1)))
                .and_then(|r| r.gateway)
        };
        testing::run_line(&ctx, "route add 10.9.0.0/16 via 10.0.0.2 metric 20").unwrap();
        testing::run_line(&ctx, "route add 10.9.0.0/16 via 10.0.0.3 metric 5").unwrap();
        let e = testing::run_line(&ctx, "route add 10.9.0.0/16 dev tap0 metric 5").unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        let e = testing::run_line(&ctx, "route add 10.8.0.0/16 dev lo metric x").unwrap_err();
        assert!(e.starts_with("route: "), "{e}");
        let t = table(&ctx);
        for (gw, m) in [("10.0.0.2", "20"), ("10.0.0.3", "5")] {
            let line =
                format!("10.9.0.0        {gw:<16}255.255.0.0     UG    {m:<7}0        0 tap0\n");
            assert!(t.contains(&line), "{t}");
        }
        assert_eq!(
            via(&ctx),
            Some(Ipv4Addr::new(10, 0, 0, 3)),
            "the lower metric"
        );
        testing::run_line(&ctx, "route del 10.9.0.0/16 metric 5").unwrap();
        assert_eq!(via(&ctx), Some(Ipv4Addr::new(10, 0, 0, 2)));
        let e = testing::run_line(&ctx, "route del 10.9.0.0/16 metric 5").unwrap_err();
        assert!(e.contains("no route"), "{e}");
        testing::run_line(&ctx, "route del 10.9.0.0/16").unwrap();
        assert_eq!(via(&ctx), None);
        testing::finish(ctx);
    }

    /// net-tools' forms: `-net NET netmask MASK`, `-net NET/PREFIX`, `-host ADDR`, and a
    /// delete that names the route by its gateway or interface (which must match).
    #[test]
    fn linux_route_forms_are_taken() {
        let ctx = testing::ctx();
        let _peer = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        let has = |ctx: &crate::cmd::Ctx, dest: &str| {
            let d: Ipv4Cidr = dest.parse().unwrap();
            ctx.stack
                .with_core(|c, _| c.ip.routes().iter().any(|r| r.dest == d))
        };
        for line in [
            "route add -net 10.5.0.0 netmask 255.255.0.0 gw 10.0.0.2",
            "route add -net 10.6.0.0/16 gw 10.0.0.2",
            "route add -host 10.7.0.9 gw 10.0.0.2",
            "route add 10.8.0.0 netmask 255.255.255.0 dev tap0",
            "route add default gw 10.0.0.2",
        ] {
            testing::run_line(&ctx, line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        for d in [
            "10.5.0.0/16",
            "10.6.0.0/16",
            "10.7.0.9/32",
            "10.8.0.0/24",
            "0.0.0.0/0",
        ] {
            assert!(has(&ctx, d), "{d}");
        }
        for (line, want) in [
            (
                "route add -net 10.9.0.0 netmask 255.0.255.0 dev tap0",
                "not contiguous",
            ),
            (
                "route add -host 10.9.0.0/16 dev tap0",
                "-host takes an address",
            ),
            (
                "route add 10.9.0.0/16 netmask 255.255.0.0 dev tap0",
                "bare network",
            ),
            ("route add -x 10.9.0.0/16", "unknown option '-x'"),
            (
                "route add 10.0.0.0/99 dev tap0",
                "invalid prefix length '99'",
            ),
            ("route del default gw 10.0.0.3", "no such route"),
            ("route del -net 10.6.0.0/16 dev lo", "no such route"),
        ] {
            let e = testing::run_line(&ctx, line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
        assert!(
            has(&ctx, "0.0.0.0/0"),
            "a gateway that is not its own deletes nothing"
        );
        for line in [
            "route del default gw 10.0.0.2",
            "route del -net 10.5.0.0 netmask 255.255.0.0",
            "route del -net 10.6.0.0/16 dev tap0",
            "route del -host 10.7.0.9 gw 10.0.0.2",
        ] {
            testing::run_line(&ctx, line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        for d in ["10.5.0.0/16", "10.6.0.0/16", "10.7.0.9/32", "0.0.0.0/0"] {
            assert!(!has(&ctx, d), "{d}");
        }
        testing::finish(ctx);
    }

    /// Every column of `route` stays apart, whatever the metric: net-tools' `route -n`
    /// puts a space after each (`%-6d %-2d %7d`), so a metric of 4294967295 (which `route
    /// add ... metric N` takes) pushes the columns right but never into each other. Here
    /// the Metric column had no space of its own, and the table showed the metric as
    /// 42949672950, run into the Ref column.
    #[test]
    fn a_large_metric_does_not_run_into_the_next_column() {
        let ctx = testing::ctx();
        testing::run_line(&ctx, "route add 10.9.0.0/16 dev lo metric 4294967295").unwrap();
        testing::run_line(&ctx, "route add 10.8.0.0/16 dev lo metric 1234567").unwrap();
        let t = table(&ctx);
        testing::finish(ctx);
        for (net, metric) in [("10.9.0.0", "4294967295"), ("10.8.0.0", "1234567")] {
            let line = t
                .lines()
                .find(|l| l.starts_with(net))
                .unwrap_or_else(|| panic!("{t}"));
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                cols,
                [net, "0.0.0.0", "255.255.0.0", "U", metric, "0", "0", "lo"],
                "{t}"
            );
        }
        // The usual widths are kept.
        assert!(
            t.contains(
                "127.0.0.0       0.0.0.0         255.0.0.0       U     0      0        0 lo\n"
            ),
            "{t}"
        );
    }

    /// `route del NET dev IF` naming an interface's connected route deletes nothing: the
    /// connected route is the address's (as `route del NET` without `dev` says), and the
    /// static route to the same network through another interface stays. The metric of the
    /// connected route (0) picked the route to delete, and the static one of metric 0
    /// through tap0 went instead.
    #[test]
    fn deleting_a_connected_route_by_its_interface_deletes_no_other_route() {
        let ctx = testing::ctx();
        let _p = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        testing::run_line(&ctx, "route add 10.3.0.0/24 dev tap0").unwrap();
        // tap1's address on that network brings its connected route (metric 0 too).
        let _q = testing::mem_iface(&ctx, "tap1", "10.3.0.1/24");
        let routes = |ctx: &crate::cmd::Ctx| {
            ctx.stack.with_core(|c, _| {
                c.ip.routes()
                    .iter()
                    .filter(|r| r.dest.to_string() == "10.3.0.0/24")
                    .map(|r| (r.ifindex, r.kind))
                    .collect::<Vec<_>>()
            })
        };
        let before = routes(&ctx);
        assert_eq!(before.len(), 2, "{before:?}");
        let e = testing::run_line(&ctx, "route del 10.3.0.0/24 dev tap1").unwrap_err();
        assert!(e.starts_with("route: connected routes"), "{e}");
        assert_eq!(routes(&ctx), before, "another interface's route went");
        // Named by its own interface, the static route goes.
        testing::run_line(&ctx, "route del 10.3.0.0/24 dev tap0").unwrap();
        assert_eq!(routes(&ctx).len(), 1);
        testing::finish(ctx);
    }

    /// net-tools' `route add -net NET` with neither `netmask` nor `/PREFIX` is no host
    /// route: `-net` clears RTF_HOST and the mask stays 0, which Linux refuses for a
    /// network other than 0.0.0.0 (EINVAL) and takes as the default route for 0.0.0.0.
    /// Here the address was taken as a /32 (flag H), the host route `-net` says it is not.
    #[test]
    fn a_net_without_a_mask_is_no_host_route() {
        let ctx = testing::ctx();
        let _p = testing::mem_iface(&ctx, "tap0", "10.0.0.1/24");
        let e = testing::run_line(&ctx, "route add -net 10.5.0.0 dev tap0").unwrap_err();
        assert!(
            e.starts_with("route: -net 10.5.0.0 needs a netmask") && !e.contains('\n'),
            "{e}"
        );
        let dests = |ctx: &crate::cmd::Ctx| {
            ctx.stack.with_core(|c, _| {
                c.ip.routes()
                    .iter()
                    .map(|r| r.dest.to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert!(!dests(&ctx).iter().any(|d| d.starts_with("10.5.")));
        testing::run_line(&ctx, "route add -net 0.0.0.0 gw 10.0.0.2").unwrap();
        assert!(dests(&ctx).contains(&"0.0.0.0/0".to_string()));
        testing::run_line(&ctx, "route del -net 0.0.0.0 gw 10.0.0.2").unwrap();
        assert!(!dests(&ctx).contains(&"0.0.0.0/0".to_string()));
        // With a mask, any length.
        testing::run_line(
            &ctx,
            "route add -net 10.6.0.1 netmask 255.255.255.255 dev tap0",
        )
        .unwrap();
        assert!(dests(&ctx).contains(&"10.6.0.1/32".to_string()));
        // A bare address without -net is a host, as net-tools reads it.
        testing::run_line(&ctx, "route add 10.5.0.0 dev tap0").unwrap();
        assert!(dests(&ctx).contains(&"10.5.0.0/32".to_string()));
        testing::finish(ctx);
    }
}
