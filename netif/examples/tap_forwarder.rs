//! A user-space TAP forwarder: copies every frame between two TAP devices, one thread per
//! direction. It is the baseline of BENCHMARKS.md: the kernel pinging itself through
//! user space costs what this costs; the stack should be no slower.
//!
//! Usage: `tap_forwarder TAP_A TAP_B` (creates both taps without configuring them; move
//! them into namespaces and address them with `ip`). Runs until killed.

use netif::{Device, MacAddr, TapConfig, TapDevice};
use std::sync::Arc;
use std::time::Duration;

fn open(name: &str) -> Arc<TapDevice> {
    let cfg = TapConfig {
        name: name.to_string(),
        mac: MacAddr::ZERO,
        host_addr: None,
        offload: false,
    };
    match TapDevice::open(&cfg) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("tap_forwarder: {e}");
            std::process::exit(1);
        }
    }
}

fn pump(from: Arc<TapDevice>, to: Arc<TapDevice>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        if let Ok(Some(n)) = from.recv(&mut buf, Duration::from_secs(1)) {
            let _ = to.send(&buf[..n]);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: tap_forwarder TAP_A TAP_B");
        std::process::exit(2);
    }
    let (a, b) = (open(&args[1]), open(&args[2]));
    let (a2, b2) = (a.clone(), b.clone());
    std::thread::spawn(move || pump(a2, b2));
    pump(b, a);
}
