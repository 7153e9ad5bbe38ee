//! `arp [-n] [-a] [-d IP | -s IP MAC]`

use super::syntax::Arp;
use super::Ctx;
use netif::MacAddr;

pub fn run(ctx: &Ctx, a: Arp) -> Result<(), String> {
    if let Some(ip) = a.delete {
        return if ctx.stack.with_core(|c, _| c.ip.arp_delete(ip)) {
            Ok(())
        } else {
            Err(format!("arp: no entry for {ip}"))
        };
    }
    if let Some(v) = a.set {
        let [ip, mac] = v.as_slice() else {
            return Err("arp: -s needs IP and MAC".into());
        };
        let ip = ip::parse_addr(ip).map_err(|e| format!("arp: {e}"))?;
        let mac: MacAddr = mac.parse().map_err(|e| format!("arp: {e}"))?;
        if !mac.is_unicast() {
            return Err(format!("arp: {mac} is not a unicast MAC address"));
        }
        return ctx
            .stack
            .with_core(|c, _| c.ip.arp_add_static(ip, mac))
            .map_err(|e| match e {
                ::ip::ConfigError::Route(_) => {
                    format!("arp: {ip} is not on a directly connected network")
                }
                // Already says "arp: ".
                ::ip::ConfigError::Arp(_) => e.to_string(),
                other => format!("arp: {other}"),
            });
    }
    show(ctx);
    Ok(())
}

fn show(ctx: &Ctx) {
    let entries = ctx.stack.with_core(|c, now| c.ip.arp_entries(now));
    outln!(
        "{:<16}{:<20}{:<8}{:<13}Expires",
        "IP address",
        "HW address",
        "Iface",
        "State"
    );
    for (ifname, e) in entries {
        let mac = e.mac.map_or("(incomplete)".to_string(), |m| m.to_string());
        let exp = e
            .expires_in
            .map_or("never".to_string(), |d| format!("{}s", d.as_secs()));
        outln!(
            "{:<16}{:<20}{:<8}{:<13}{exp}",
            e.ip,
            mac,
            ifname,
            e.state.to_string()
        );
    }
}
