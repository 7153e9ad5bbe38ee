//! `debug [-n] [-c] LAYER...`: a decoded line per packet at the chosen layers.

use super::Ctx;
use crate::opts::Args;
use netif::trace::TraceLayers;
use std::time::Duration;

pub fn run(ctx: &Ctx, args: &mut Args<'_>) -> Result<(), String> {
    let (mut background, mut clear) = (false, false);
    let mut layers = TraceLayers::NONE;
    while let Some(w) = args.next() {
        match w {
            "-n" => background = true,
            "-c" => clear = true,
            _ if w.starts_with('-') => return Err(args.unknown_option(w)),
            _ => {
                let l = TraceLayers::parse(w).map_err(|_| {
                    format!("debug: unknown layer '{w}' (dev, l2, arp, ip, icmp, udp, tcp, tcpstate, all)")
                })?;
                layers = layers.union(l);
            }
        }
    }
    if clear {
        ctx.trace.clear();
        if layers == TraceLayers::NONE {
            println!("tracing off");
            return Ok(());
        }
    }
    if layers == TraceLayers::NONE {
        return Err(
            "debug: name at least one layer: dev, l2, arp, ip, icmp, udp, tcp, tcpstate, all"
                .into(),
        );
    }
    ctx.trace.add(layers);
    if background {
        println!("tracing {} (debug -c turns it off)", names(layers));
        return Ok(());
    }
    println!("tracing {}; Ctrl-C to stop", names(layers));
    while !ctx.sig.stop_requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.trace.remove(layers);
    Ok(())
}

fn names(l: TraceLayers) -> String {
    l.names().collect::<Vec<_>>().join(",")
}
