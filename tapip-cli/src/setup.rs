//! Building the stack the command line asks for: loopback, the TAP with its wrappers,
//! addresses and routes.

use crate::cmd::input::Input;
use crate::cmd::jobs::Jobs;
use crate::cmd::{Ctx, Signals};
use crate::Cli;
use netif::fault::FaultInjector;
use netif::pcap::{PcapHandle, PcapWriter};
use netif::trace::{Trace, Tracer};
use netif::{Device, DriverConfig, MemoryLink, TapConfig, TapDevice};
use socket_api::{Stack, StackConfig};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Start the stack; errors are one line for the user.
pub fn build(cli: &Cli, trace: Trace, sig: Signals, input: Input) -> Result<Ctx, String> {
    let tap_dev = TapDevice::open(&TapConfig {
        name: cli.tap.clone(),
        mac: cli.mac,
        host_addr: (!cli.no_host_config).then(|| (cli.host_addr.addr(), cli.host_addr.prefix())),
        offload: !cli.no_offload,
        uring: !cli.no_uring,
        uring_rx: cli.uring_rx,
    })
    .map_err(|e| e.to_string())?;
    // The kernel's name for the tap (`--tap tap%d` is a template): shown and used from here on.
    let tap_name = tap_dev.info().name;
    if let Some(why) = tap_dev.offload_refused() {
        errln!("tapip: {tap_name}: offloads off, plain frames ({why})");
    }
    if let Some(why) = tap_dev.queue_refused() {
        errln!("tapip: {tap_name}: {why}");
    }
    if let Some(why) = tap_dev.uring_refused() {
        errln!("tapip: {tap_name}: one read/write per frame ({why})");
    }
    if cli.uring_rx && tap_dev.uring_refused().is_none() && tap_dev.io_path() != "uring" {
        // Offloaded frames (up to 64 KB) are read with `read`: the ring's buffers are
        // sized for plain ones.
        errln!(
            "tapip: {tap_name}: --uring-rx reads plain frames only; with offloads on it has no effect (add --no-offload)"
        );
    }
    let pcap = PcapHandle::new();
    if let Some(p) = &cli.pcap {
        pcap.start(p)
            .map_err(|e| format!("--pcap {}: {e}", p.display()))?;
    }
    // pcap and the tracer show what crossed the TAP: the faults come between them and
    // the stack (a frame the injector drops on its way out never shows; its delayed or
    // duplicated copies show when they leave; a received frame shows before a fault).
    let traced = Tracer::new(PcapWriter::new(tap_dev, pcap.clone()), trace.clone());
    let (tap, fault): (Box<dyn Device>, Option<crate::cmd::Injector>) = match &cli.fault {
        Some(f) => {
            let injector = Arc::new(FaultInjector::new(traced, f.clone()));
            (Box::new(injector.clone()), Some(injector))
        }
        None => (Box::new(traced), None),
    };
    let lo = Tracer::new(MemoryLink::loopback(), trace.clone());

    let mut config = StackConfig::default();
    config.ip.forwarding = cli.forward;
    if let Some(d) = cli.tcp_time_wait {
        config.transport.tcp.time_wait = d;
    }
    if let Some(a) = cli.tcp_congestion {
        config.transport.tcp.congestion = a;
    }
    if let Some(e) = cli.tcp_ecn {
        config.transport.tcp.ecn = e;
    }
    if let Some(h) = cli.tcp_hystart {
        config.transport.tcp.hystart = h;
    }
    if let Some(b) = cli.tcp_mem {
        config.transport.tcp.mem_max = b;
    }
    // The shell ends its stack itself (shell::main: jobs stopped, then `linger` up to
    // --linger, then shutdown). A path that calls `exit` before that (a failed write to
    // stdout, out.rs) ends at once, as README says: the socket API's end of the program
    // then resets what is undelivered instead of waiting.
    config.exit_linger = std::time::Duration::ZERO;
    let stack = Stack::new(config).map_err(|e| format!("cannot start the stack: {e}"))?;
    let err = |e: std::io::Error| format!("cannot start the device threads: {e}");
    let lo_if = stack
        .add_device(Arc::new(lo), DriverConfig::default())
        .map_err(err)?;
    let tap_if = stack
        .add_device(Arc::new(tap), DriverConfig::default())
        .map_err(err)?;
    let lo_addr =
        ip::Ipv4Cidr::new(Ipv4Addr::new(127, 0, 0, 1), 8).ok_or("bad loopback address")?;
    stack.with_core(|c, now| -> Result<(), String> {
        // TCP state changes, for `debug tcpstate`.
        c.transport.set_trace(Some(trace.clone()));
        c.ip.set_address(lo_if, Some(lo_addr), now)
            .map_err(|e| e.to_string())?;
        c.ip.set_up(lo_if, true, now).map_err(|e| e.to_string())?;
        c.ip.set_up(tap_if, true, now).map_err(|e| e.to_string())?;
        if !cli.dhcp {
            c.ip.set_address(tap_if, Some(cli.addr), now)
                .map_err(|e| format!("--addr {}: {e}", cli.addr))?;
        }
        if let Some(gw) = cli.gateway {
            c.ip.add_route(
                "0.0.0.0/0".parse().map_err(|_| "bad route")?,
                Some(gw),
                None,
            )
            .map_err(|e| format!("--gateway {gw}: {e}"))?;
        }
        Ok(())
    })?;
    stack.set_dns_servers(&cli.dns);
    let search: Vec<&str> = cli.search.iter().map(String::as_str).collect();
    stack
        .set_dns_search(&search)
        .map_err(|e| format!("--search: {e}"))?;
    if cli.dhcp {
        stack
            .start_dhcp(&tap_name)
            .map_err(|e| format!("--dhcp: {e}"))?;
    }
    Ok(Ctx {
        stack,
        tap: tap_name,
        trace,
        pcap,
        pcap_since: Default::default(),
        sig,
        fault,
        input,
        jobs: Jobs::default(),
    })
}

/// How long `--dhcp` waits for the lease unless `--dhcp-wait` says.
const DHCP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// With `--dhcp`: wait for the lease (at most `--dhcp-wait`; a signal ends the wait), and
/// say what the tap got, for the start-up line.
pub fn wait_for_lease(cli: &Cli, ctx: &Ctx) -> Option<String> {
    if !cli.dhcp {
        return None;
    }
    let limit = cli.dhcp_wait.unwrap_or(DHCP_WAIT);
    let start = std::time::Instant::now();
    loop {
        let left = limit.saturating_sub(start.elapsed());
        let step = left.min(std::time::Duration::from_millis(100));
        if let Some(l) = ctx.stack.wait_for_lease(step) {
            let now = ctx.stack.now();
            return Some(format!("{} by DHCP", crate::cmd::dhcp_lease_line(&l, now)));
        }
        if left.is_zero() || ctx.sig.stop_requested() {
            return Some(format!(
                "no DHCP lease after {:.1} s (still asking: 'dhcp' shows it)",
                start.elapsed().as_secs_f64()
            ));
        }
    }
}

/// The start-up line: which addresses are in use on the tap `tap` (the kernel's name for
/// it) and on lo (`lease`: what `--dhcp` got).
pub fn describe(cli: &Cli, tap: &str, lease: Option<&str>) -> String {
    let kernel = if cli.no_host_config {
        "kernel side left as it is".to_string()
    } else {
        format!("kernel side {}", cli.host_addr)
    };
    let gateway = cli
        .gateway
        .map(|g| format!(", default gateway {g}"))
        .unwrap_or_default();
    let addr = lease.map_or_else(|| cli.addr.to_string(), str::to_string);
    format!(
        "tapip: {tap} {addr} (MAC {}), {kernel}{gateway}; lo 127.0.0.1/8; 'help' lists the commands",
        cli.mac
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_start_up_line_names_the_addresses() {
        let cli = Cli::parse_from(["tapip"]);
        assert_eq!(
            describe(&cli, "tap0", None),
            "tapip: tap0 10.0.0.1/24 (MAC 00:34:45:67:89:ab), kernel side 10.0.0.2/24; \
             lo 127.0.0.1/8; 'help' lists the commands"
        );
        let cli = Cli::parse_from([
            "tapip",
            "--tap",
            "tap9",
            "--addr",
            "192.168.1.5/24",
            "--no-host-config",
            "--gateway",
            "192.168.1.1",
        ]);
        let d = describe(&cli, "tap9", None);
        assert!(
            d.starts_with("tapip: tap9 192.168.1.5/24 (MAC ")
                && d.contains("kernel side left as it is, default gateway 192.168.1.1;"),
            "{d}"
        );
    }

    /// Every error is one line (README): a `--tap` name with a newline in it is refused
    /// before any TAP is opened (`valid_ifname`), but the message quotes the name raw:
    /// `tapip: invalid tap name 'a` and `b': at most 15 bytes, ...` on two lines. (The
    /// shell's errors go through `cmd::shorten`, which escapes control characters; the
    /// start-up errors do not.)
    #[test]
    fn a_bad_tap_name_is_refused_in_one_line() {
        let cli = Cli::parse_from(["tapip", "--tap", "a\nb", "--no-host-config"]);
        let (trace, _lines) = Trace::new();
        let (input, _requests) = Input::new();
        let e = match build(&cli, trace, Signals::default(), input) {
            Ok(ctx) => {
                crate::cmd::testing::finish(ctx);
                panic!("a tap name with a newline was taken");
            }
            Err(e) => e,
        };
        assert!(e.starts_with("invalid tap name"), "{e}");
        assert!(!e.contains('\n'), "two lines: {e:?}");
    }
}
