//! `arp [-d IP | -s IP MAC]`

use super::Ctx;
use crate::opts::Args;
use netif::MacAddr;

pub fn run(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    match args.next() {
        None => {
            show(ctx);
            Ok(())
        }
        Some("-d") => {
            let ip =
                ip::parse_addr(args.required("IP address")?).map_err(|e| format!("arp: {e}"))?;
            args.finish()?;
            if ctx.stack.with_core(|c, _| c.ip.arp_delete(ip)) {
                Ok(())
            } else {
                Err(format!("arp: no entry for {ip}"))
            }
        }
        Some("-s") => {
            let ip =
                ip::parse_addr(args.required("IP address")?).map_err(|e| format!("arp: {e}"))?;
            let mac: MacAddr = args
                .required("MAC address")?
                .parse()
                .map_err(|e| format!("arp: {e}"))?;
            args.finish()?;
            if !mac.is_unicast() {
                return Err(format!("arp: {mac} is not a unicast MAC address"));
            }
            ctx.stack
                .with_core(|c, _| c.ip.arp_add_static(ip, mac))
                .map_err(|_| format!("arp: {ip} is not on a directly connected network"))
        }
        Some(w) => Err(format!(
            "arp: unknown option '{w}' (usage: arp [-d IP | -s IP MAC])"
        )),
    }
}

fn show(ctx: &Ctx) {
    let entries = ctx.stack.with_core(|c, now| c.ip.arp_entries(now));
    println!(
        "{:<16}{:<20}{:<8}{:<13}Expires",
        "IP address", "HW address", "Iface", "State"
    );
    for (ifname, e) in entries {
        let mac = e.mac.map_or("(incomplete)".to_string(), |m| m.to_string());
        let exp = e
            .expires_in
            .map_or("never".to_string(), |d| format!("{}s", d.as_secs()));
        println!(
            "{:<16}{:<20}{:<8}{:<13}{exp}",
            e.ip,
            mac,
            ifname,
            e.state.to_string()
        );
    }
}
