//! A user-space TAP forwarder: copies every frame between two TAP devices, one thread per
//! direction. It is the baseline of BENCHMARKS.md: the kernel pinging itself through
//! user space costs what this costs; the stack should be no slower.
//!
//! Usage: `tap_forwarder [--offload] TAP_A TAP_B` (creates both taps without configuring
//! them; move them into namespaces and address them with `ip`). Runs until killed.
//!
//! With `--offload` both taps are opened with `IFF_VNET_HDR` and `TUNSETOFFLOAD` (checksum
//! and TSO4), as the stack opens its tap by default, and each frame crosses with its
//! `virtio_net_hdr` unchanged: a 64 KB segment the kernel coalesced on one side reaches the
//! other kernel whole, and a checksum left to complete stays so. That is the kernel's own
//! TCP through user space with the same offloads (`scripts/bench-vs-smoltcp.sh`).

#![forbid(unsafe_code)]

use netif::{Device, MacAddr, TapConfig, TapDevice};
use std::sync::Arc;
use std::time::Duration;

/// Room for a coalesced frame: a 64 KB IP datagram and its Ethernet header.
const BUF: usize = 65_536 + 64;

fn open(name: &str, offload: bool) -> Arc<TapDevice> {
    let cfg = TapConfig {
        name: name.to_string(),
        mac: MacAddr::ZERO,
        host_addr: None,
        offload,
        uring: false,
        uring_rx: false,
    };
    match TapDevice::open(&cfg) {
        Ok(d) => {
            if let Some(why) = d.offload_refused() {
                eprintln!("tap_forwarder: {name}: {why}");
            }
            Arc::new(d)
        }
        Err(e) => {
            eprintln!("tap_forwarder: {e}");
            std::process::exit(1);
        }
    }
}

fn pump(from: Arc<TapDevice>, to: Arc<TapDevice>, offload: bool) {
    let mut buf = vec![0u8; BUF];
    loop {
        if offload {
            if let Ok(Some((n, meta))) = from.recv_meta(&mut buf, Duration::from_secs(1)) {
                let _ = to.send_meta(&buf[..n], &meta);
            }
        } else if let Ok(Some(n)) = from.recv(&mut buf, Duration::from_secs(1)) {
            let _ = to.send(&buf[..n]);
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let offload = args.first().is_some_and(|a| a == "--offload");
    if offload {
        args.remove(0);
    }
    if args.len() != 2 {
        eprintln!("usage: tap_forwarder [--offload] TAP_A TAP_B");
        std::process::exit(2);
    }
    let (a, b) = (open(&args[0], offload), open(&args[1], offload));
    let (a2, b2) = (a.clone(), b.clone());
    std::thread::spawn(move || pump(a2, b2, offload));
    pump(b, a, offload);
}
