//! The stable fuzz driver for long runs (CI runs a short one in `tests/tests/fuzz.rs`):
//!
//! ```text
//! nice -n 19 cargo run --profile fuzz -p tests --example fuzz -- [--seed N] [--inputs N]
//!     [--secs N] [--target NAME]... [--replay NAME HEX|@FILE] [--write-seeds NAME DIR]
//! ```
//!
//! The `fuzz` profile is `release` with overflow checks and debug assertions: built with
//! `--release` an arithmetic overflow wraps silently, and the run says so at its start.
//!
//! Runs each target (all by default) on `--inputs` inputs (default 1,000,000) or for
//! `--secs` seconds, whichever ends first, on one thread, in rounds of 10,000 inputs with a
//! seed each (`seed`, `seed + 1`, ...), and prints the inputs, the time and the rate per
//! target, and the peak resident size of the process. A failing input is printed in hex;
//! `--replay NAME HEX` (or `@FILE` holding the hex) runs it again. `--write-seeds NAME DIR`
//! writes the target's seeds into DIR, one file each (`scripts/fuzz-libfuzzer.sh` starts
//! libFuzzer's corpus with them).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};
use tests::fuzz::{driver, TARGETS};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seed, mut inputs, mut secs) = (1u64, 1_000_000u64, u64::MAX);
    let mut targets: Vec<&'static str> = Vec::new();
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--seed" => seed = val().parse().unwrap_or_else(|_| usage("bad --seed")),
            "--inputs" => inputs = val().parse().unwrap_or_else(|_| usage("bad --inputs")),
            "--secs" => secs = val().parse().unwrap_or_else(|_| usage("bad --secs")),
            "--target" => {
                let v = val();
                let t = TARGETS
                    .iter()
                    .find(|(n, _)| *n == v)
                    .unwrap_or_else(|| usage(&format!("no target {v}")));
                targets.push(t.0);
            }
            "--replay" => {
                let name = val();
                // HEX, or @FILE holding it (a long input is written to a file).
                let arg = val();
                let text = match arg.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path)
                        .unwrap_or_else(|e| usage(&format!("{path}: {e}"))),
                    None => arg,
                };
                let input = driver::unhex(&text).unwrap_or_else(|| usage("bad hex"));
                driver::replay(&name, &input);
                println!("{name}: passed");
                return;
            }
            "--write-seeds" => {
                let name = val();
                if !TARGETS.iter().any(|(n, _)| *n == name) {
                    usage(&format!("no target {name}"));
                }
                let dir = std::path::PathBuf::from(val());
                let seeds = driver::seeds(&name);
                for (i, s) in seeds.iter().enumerate() {
                    let path = dir.join(format!("seed-{i:03}"));
                    if let Err(e) = std::fs::write(&path, s) {
                        usage(&format!("{}: {e}", path.display()));
                    }
                }
                println!("{name}: {} seeds written to {}", seeds.len(), dir.display());
                return;
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|(n, _)| *n).collect();
    }
    if !cfg!(debug_assertions) {
        eprintln!(
            "fuzz: built without debug assertions (--release?): overflows wrap unseen; \
             build with --profile fuzz"
        );
    }
    let mut total = 0;
    let all = Instant::now();
    for name in targets {
        let start = Instant::now();
        let limit = Duration::from_secs(secs);
        let (mut done, mut round) = (0u64, 0u64);
        while done < inputs && start.elapsed() < limit {
            let n = (inputs - done).min(10_000);
            let left = limit.saturating_sub(start.elapsed());
            let r = driver::run(name, seed + round, n, left);
            done += r.inputs;
            round += 1;
        }
        let t = start.elapsed().as_secs_f64();
        println!(
            "{name:<10} {done:>11} inputs {t:>9.1} s {:>10.0} inputs/s  seeds {seed}..{}",
            done as f64 / t.max(1e-9),
            seed + round.saturating_sub(1)
        );
        total += done;
    }
    println!(
        "total     {total:>11} inputs {:>9.1} s, 0 failures, peak resident {}",
        all.elapsed().as_secs_f64(),
        peak_rss()
    );
}

/// VmHWM from /proc/self/status.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn usage(msg: &str) -> ! {
    eprintln!("fuzz: {msg}\nusage: fuzz [--seed N] [--inputs N] [--secs N] [--target NAME]... [--replay NAME HEX|@FILE] [--write-seeds NAME DIR]");
    std::process::exit(2)
}
