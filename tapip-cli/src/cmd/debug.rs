//! `debug [-n] [-c] LAYER...`: a decoded line per packet at the chosen layers.

use super::syntax::Debug;
use super::Ctx;
use netif::trace::TraceLayers;
use std::time::Duration;

pub fn run(ctx: &Ctx, a: Debug) -> Result<(), String> {
    let (background, clear) = (a.background, a.clear);
    let mut layers = TraceLayers::NONE;
    for w in &a.layers {
        // The word that names no layer, not the whole argument (`ip,bogus`).
        let l = TraceLayers::parse(w).map_err(|e| {
            format!(
                "debug: unknown layer '{}' (dev, l2, arp, ip, icmp, udp, tcp, tcpstate, all)",
                e.0
            )
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
    let before = ctx.trace.layers();
    ctx.trace.add(layers);
    if background {
        outln!("tracing {} (debug -c turns it off)", names(layers));
        return Ok(());
    }
    outln!("tracing {}; Ctrl-C to stop", names(layers));
    while !ctx.sig.stop_requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Only what this one turned on: a background trace (`debug -n`) stays.
    ctx.trace.remove(layers.difference(before));
    Ok(())
}

fn names(l: TraceLayers) -> String {
    l.names().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing;
    use netif::trace::TraceLayers;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// `debug -n tcp` traces in the background until `debug -c`. A foreground `debug tcp`
    /// (or `debug all`) ended by Ctrl-C must leave that background tracing as it found it;
    /// it removes its layers instead, so the background trace silently stops.
    #[test]
    fn a_foreground_trace_leaves_the_background_one_on() {
        let ctx = testing::ctx();
        testing::run_line(&ctx, "debug -n tcp").unwrap();
        assert!(ctx.trace.layers().contains(TraceLayers::TCP));
        let sig = ctx.sig.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            sig.raise_interrupt();
        });
        testing::run_line(&ctx, "debug tcp").unwrap();
        h.join().unwrap();
        ctx.sig.interrupt.store(false, Ordering::SeqCst);
        assert!(
            ctx.trace.layers().contains(TraceLayers::TCP),
            "the background 'debug -n tcp' was turned off: {:?}",
            ctx.trace.layers()
        );
        testing::finish(ctx);
    }

    /// `debug ip,bogus` (layers may be joined by commas): the error named the whole
    /// argument, 'ip,bogus', as the unknown layer, where `ip` is one.
    #[test]
    fn an_unknown_layer_in_a_list_is_named_alone() {
        let ctx = testing::ctx();
        let e = testing::run_line(&ctx, "debug -n ip,bogus").unwrap_err();
        assert!(e.starts_with("debug: unknown layer 'bogus' ("), "{e}");
        assert_eq!(ctx.trace.layers(), TraceLayers::NONE);
        testing::finish(ctx);
    }
}
