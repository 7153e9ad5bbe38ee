//! `ifconfig [IF [IP/PREFIX] [mtu N] [up|down]]`

use super::Ctx;
use crate::opts::Args;
use ip::Ipv4Cidr;

pub fn run(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    let Some(name) = args.next() else {
        show(ctx, None);
        return Ok(());
    };
    let ifindex = ctx
        .stack
        .with_core(|c, _| c.ip.ifindex(name))
        .ok_or_else(|| format!("ifconfig: no such interface '{name}'"))?;
    if args.peek().is_none() {
        show(ctx, Some(ifindex));
        return Ok(());
    }
    // Parse everything before changing anything, so a bad word changes nothing.
    let (mut addr, mut mtu, mut up) = (None, None, None);
    while let Some(w) = args.next() {
        match w {
            "up" => up = Some(true),
            "down" => up = Some(false),
            "mtu" => mtu = Some(args.value::<usize>("mtu", "MTU")?),
            _ => {
                let c: Ipv4Cidr = w.parse().map_err(|e| format!("ifconfig: {e}"))?;
                addr = Some(c);
            }
        }
    }
    ctx.stack.with_core(|c, now| -> Result<(), String> {
        if let Some(m) = mtu {
            c.ip.set_mtu(ifindex, m)
                .map_err(|e| format!("ifconfig: {e}"))?;
        }
        if let Some(a) = addr {
            c.ip.set_address(ifindex, Some(a), now)
                .map_err(|e| format!("ifconfig: {e}"))?;
        }
        if let Some(u) = up {
            c.ip.set_up(ifindex, u, now)
                .map_err(|e| format!("ifconfig: {e}"))?;
        }
        Ok(())
    })
}

fn show(ctx: &Ctx, only: Option<usize>) {
    let ifaces = ctx.stack.with_core(|c, _| c.ip.interfaces());
    let dev = ctx.stack.device_stats();
    for i in ifaces
        .iter()
        .filter(|i| only.is_none_or(|o| o == i.ifindex))
    {
        println!("{:<10}HWaddr {}", i.name, i.mac);
        match i.addr {
            Some(a) => {
                let bcast = a
                    .broadcast()
                    .map(|b| format!("  Bcast {b}"))
                    .unwrap_or_default();
                println!("          IPaddr {}  Mask {}{bcast}", a.addr(), a.netmask());
            }
            None => println!("          (no address)"),
        }
        let mut flags = vec![if i.up { "UP" } else { "DOWN" }];
        if i.loopback {
            flags.push("LOOPBACK");
        } else {
            flags.push("BROADCAST");
        }
        println!("          {}  MTU:{}", flags.join(" "), i.mtu);
        if let Some((_, s)) = dev.get(i.ifindex) {
            println!(
                "          RX packets:{} bytes:{} errors:{} dropped:{}",
                s.rx_packets,
                s.rx_bytes,
                s.rx_errors,
                s.rx_dropped() + i.stats.rx_not_our_mac + i.stats.rx_down
            );
            println!(
                "          TX packets:{} bytes:{} errors:{} dropped:{}",
                s.tx_packets,
                s.tx_bytes,
                s.tx_errors,
                s.tx_dropped()
            );
        }
        println!();
    }
}
