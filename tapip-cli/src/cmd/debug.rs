//! `debug [-n] [-c] LAYER...`: a decoded line per packet at the chosen layers.

use super::syntax::Debug;
use super::Ctx;
use netif::trace::TraceLayers;
use std::time::Duration;

pub fn run(ctx: &Ctx, a: Debug) -> Result<(), String> {
    let (background, clear) = (a.background, a.clear);
    let mut layers = TraceLayers::NONE;
    for w in &a.layers {
        let l = TraceLayers::parse(w).map_err(|_| {
            format!("debug: unknown layer '{w}' (dev, l2, arp, ip, icmp, udp, tcp, tcpstate, all)")
        })?;
        layers = layers.union(l);
    }
    if clear {
        ctx.trace.clear();
        if layers == TraceLayers::NONE {
            outln!("tracing off");
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
        outln!("tracing {} (debug -c turns it off)", names(layers));
        return Ok(());
    }
    outln!("tracing {}; Ctrl-C to stop", names(layers));
    while !ctx.sig.stop_requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.trace.remove(layers);
    Ok(())
}

fn names(l: TraceLayers) -> String {
    l.names().collect::<Vec<_>>().join(",")
}
