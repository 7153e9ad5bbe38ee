//! `route [add NET/PREFIX [via GW] [dev IF] | del NET/PREFIX]`

use super::Ctx;
use crate::opts::Args;
use ip::{Ipv4Cidr, RouteKind};

pub fn run(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    match args.next() {
        None => {
            show(ctx);
            Ok(())
        }
        Some("add") => {
            let dest = parse_net(args.required("NET/PREFIX")?)?;
            let (mut via, mut dev) = (None, None);
            while let Some(w) = args.next() {
                match w {
                    "via" | "gw" => {
                        let g = args.required("gateway address")?;
                        via = Some(ip::parse_addr(g).map_err(|e| format!("route: {e}"))?);
                    }
                    "dev" => dev = Some(args.required("interface name")?),
                    _ => {
                        return Err(format!(
                        "route: unexpected '{w}' (usage: route add NET/PREFIX [via GW] [dev IF])"
                    ))
                    }
                }
            }
            ctx.stack.with_core(|c, _| {
                let ifindex = match dev {
                    Some(d) => Some(
                        c.ip.ifindex(d)
                            .ok_or_else(|| format!("route: no such interface '{d}'"))?,
                    ),
                    None => None,
                };
                c.ip.add_route(dest, via, ifindex)
                    .map_err(|e| format!("route: {e}"))
            })
        }
        Some("del" | "delete") => {
            let dest = parse_net(args.required("NET/PREFIX")?)?;
            args.finish()?;
            ctx.stack
                .with_core(|c, _| c.ip.del_route(dest))
                .map(|_| ())
                .map_err(|e| format!("route: {e}"))
        }
        Some(w) => Err(format!("route: unknown action '{w}' (use 'add' or 'del')")),
    }
}

fn parse_net(s: &str) -> Result<Ipv4Cidr, String> {
    let s = if s == "default" { "0.0.0.0/0" } else { s };
    s.parse::<Ipv4Cidr>().map_err(|e| format!("route: {e}"))
}

fn show(ctx: &Ctx) {
    let (routes, names) = ctx.stack.with_core(|c, _| {
        let names: Vec<String> = c.ip.interfaces().into_iter().map(|i| i.name).collect();
        (c.ip.routes().to_vec(), names)
    });
    println!(
        "{:<16}{:<16}{:<16}{:<8}Type",
        "Destination", "Gateway", "Genmask", "Iface"
    );
    for r in routes {
        let gw = r.gateway.map_or("0.0.0.0".to_string(), |g| g.to_string());
        let kind = match r.kind {
            RouteKind::Connected => "connected",
            RouteKind::Static if r.dest.prefix() == 0 => "default",
            RouteKind::Static => "static",
        };
        let name = names.get(r.ifindex).map_or("?", |s| s.as_str());
        println!(
            "{:<16}{:<16}{:<16}{:<8}{kind}",
            r.dest.addr(),
            gw,
            r.dest.netmask(),
            name
        );
    }
}
