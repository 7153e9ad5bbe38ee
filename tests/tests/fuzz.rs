//! The stable fuzz driver in CI: every target (the whole stack and each wire parser) on
//! inputs from a fixed seed, bounded by a count and a few seconds each, so a run costs
//! about 20 s whatever the machine. `FUZZ_SEED` and `FUZZ_SECS` change the seed and the
//! time per target; `cargo run --profile fuzz -p tests --example fuzz` is the long run.

#![forbid(unsafe_code)]

use std::time::Duration;
use tests::fuzz::{driver, TARGETS};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_fuzz_target_passes_seeded_inputs() {
    let seed = setting("FUZZ_SEED", 1);
    let time = Duration::from_secs(setting("FUZZ_SECS", 2));
    for (name, _) in TARGETS {
        // The whole-stack target is the slow one (tens of ms an input in a debug build).
        let (inputs, time) = if name == "stack" {
            (20_000, time * 3)
        } else {
            (200_000, time)
        };
        let r = driver::run(name, seed, inputs, time);
        println!(
            "fuzz {name}: {} inputs in {:.1} s (seed {seed})",
            r.inputs,
            r.elapsed.as_secs_f64()
        );
        // However slow and busy the machine, at least 64 inputs run.
        assert!(r.inputs >= 64, "{name}: only {} inputs ran", r.inputs);
    }
}

#[test]
fn a_failing_input_is_reported_and_replayed() {
    // A truncated SACK option cannot make the TCP parser panic; replay runs the target.
    let input =
        driver::unhex("0a0000020a000001bf6800500000000100000000701000000000000005").unwrap();
    driver::replay("tcp", &input);
    assert_eq!(driver::unhex("00ff10"), Some(vec![0, 255, 16]));
    assert_eq!(driver::unhex("0g"), None);
}

#[test]
fn a_header_whose_checksum_is_the_other_zero_round_trips() {
    // Found by libFuzzer: a checksum field of 0xffff verifies (ones' complement has two
    // zeros) and the re-emitted header carries 0x0000; the target compared the bytes.
    let input = driver::unhex("45030014290500162900ffff067e7a0300ffe74c").unwrap();
    let p = ip::ipv4::Ipv4Packet::new_checked(&input[..]).unwrap();
    assert!(p.verify_checksum());
    driver::replay("ipv4", &input);
}

#[test]
fn a_lease_that_ends_during_the_check_is_not_bound() {
    // Found by the stable driver (dhcp, seed 3003): an ACK granting 0 s, taken by the
    // client after its 1 s address check, then lost at the next poll.
    let input = driver::unhex(include_str!("fuzz/dhcp-expired-lease.hex")).unwrap();
    driver::replay("dhcp", &input);
}

#[test]
fn a_renewal_granting_no_time_ends_the_lease() {
    // Found by the stable driver (dhcp, seed 5001): a renewal ACK of 0 s bound the lease
    // again, lost at the next poll.
    let input = driver::unhex(include_str!("fuzz/dhcp-renewal-no-time.hex")).unwrap();
    driver::replay("dhcp", &input);
}

#[test]
fn a_t1_of_zero_does_not_renew_in_a_loop() {
    // Found by the stable driver (dhcp, seed 6005): every ACK said T1 = 0, and the client
    // renewed, was acknowledged and renewed again at one instant.
    let input = driver::unhex(include_str!("fuzz/dhcp-t1-zero.hex")).unwrap();
    driver::replay("dhcp", &input);
}
