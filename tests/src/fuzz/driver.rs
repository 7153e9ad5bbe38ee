//! The stable fuzz driver: inputs from a seeded RNG (`fastrand`, so a run is repeated
//! exactly from its seed), no nightly compiler and no sanitizers needed.
//!
//! The whole-stack target gets random bytes: its structure is in the target, which reads
//! the bytes as choices. Each parser target gets, one time in eight, random bytes, and
//! otherwise a mutation of a seed: frames the whole-stack target's hosts exchanged, cut
//! at the layer that target parses. After a mutation half of the inputs get their
//! checksums put right, so the checks behind them are reached.
//!
//! A panic prints the target, the seed, the input's number and the input in hex (replay
//! it with [`replay`]), then fails as the target did.

use super::frames;
use super::stack;
use arbitrary::Unstructured;
use ip::ipv4::{self, Ipv4Packet};
use netif::ethernet::{self, ethertype};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// How much of a target one call of [`run`] did.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
}

/// Seeds for the parser targets: the frames of a few runs of the whole-stack target.
fn captured_frames(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xc0ff_ee00);
    let mut out = Vec::new();
    for _ in 0..8 {
        let len = rng.usize(256..4096);
        let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        out.extend(stack::capture(&data));
    }
    out.sort();
    out.dedup();
    out
}

/// A starting corpus for `target` (libFuzzer's, say): for a parser target its seeds cut
/// from the frames of a few runs of the whole-stack target (and the answers those hosts
/// never send), for the whole-stack target and the tables the random inputs of those runs.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    if super::takes_choices(target) {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        return (0..8)
            .map(|_| {
                let len = rng.usize(256..4096);
                (0..len).map(|_| rng.u8(..)).collect()
            })
            .collect();
    }
    corpus(target, &captured_frames(1))
}

/// The seeds of one parser target, cut from whole frames.
pub fn corpus(target: &str, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for f in frames {
        let Some(eth) = ethernet::Frame::new_checked(f) else {
            continue;
        };
        let l3 = eth.payload();
        match (target, eth.ethertype()) {
            ("ethernet", _) => out.push(f.clone()),
            ("vnet", _) => {
                // Headers as the kernel writes them: plain, DATA_VALID, NEEDS_CSUM at the TCP
                // or UDP checksum, TCPV4 segmentation.
                let csum_at = 14 + 20 + if l3.get(9) == Some(&17) { 6 } else { 16 };
                for h in [
                    [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    [1, 0, 0, 0, 0, 0, 34, 0, (csum_at - 34) as u8, 0],
                    [1, 1, 54, 0, 0xb4, 5, 34, 0, 16, 0],
                ] {
                    let mut v = h.to_vec();
                    v.extend_from_slice(f);
                    out.push(v);
                }
            }
            ("arp", ethertype::ARP) => out.push(l3.to_vec()),
            ("ipv4", ethertype::IPV4) => out.push(l3.to_vec()),
            (_, ethertype::IPV4) => {
                let Ok(p) = Ipv4Packet::new_checked(l3) else {
                    continue;
                };
                if p.is_fragment() {
                    continue;
                }
                let mut with_addrs = p.src().octets().to_vec();
                with_addrs.extend_from_slice(&p.dst().octets());
                with_addrs.extend_from_slice(p.payload());
                match (target, p.protocol()) {
                    ("icmp", ipv4::protocol::ICMP) => out.push(p.payload().to_vec()),
                    ("udp", ipv4::protocol::UDP) | ("tcp", ipv4::protocol::TCP) => {
                        out.push(with_addrs)
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // What the whole-stack target's hosts never say: answers to the resolver and replies to
    // the DHCP client, written here (in the targets' input formats, see `parsers`).
    match target {
        "dns" => out.extend(dns_seeds()),
        "dhcp" => out.extend(dhcp_seeds()),
        _ => {}
    }
    out
}

/// DNS answers for the `dns` target: flags, ANCOUNT, NSCOUNT, then the records.
fn dns_seeds() -> Vec<Vec<u8>> {
    let a = |last: u8| vec![0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, last];
    // www.example.test CNAME host.example.test (a pointer into the question), its A record.
    let cname = [
        0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 0, 0, 7, 4, b'h', b'o', b's', b't', 0xc0, 16,
    ];
    let host_a = [0xc0, 46, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 9];
    // The SOA of example.test (a pointer into the question), TTL 900, MINIMUM 60.
    let mut soa = vec![0xc0, 16, 0, 6, 0, 1, 0, 0, 3, 0x84, 0, 29];
    soa.extend_from_slice(&[2, b'n', b's', 0xc0, 16, 1, b'h', 0xc0, 16]);
    soa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 60]);
    let with = |flags: [u8; 2], an: u8, ns: u8, records: &[&[u8]]| {
        let mut v = vec![flags[0], flags[1], 0, an, 0, ns];
        for r in records {
            v.extend_from_slice(r);
        }
        v
    };
    vec![
        with([0x81, 0x80], 1, 0, &[&a(2)]),
        with([0x81, 0x80], 3, 0, &[&a(2), &a(3), &a(2)]),
        with([0x81, 0x80], 2, 0, &[&cname, &host_a]),
        with([0x81, 0x83], 0, 1, &[&soa]),
        with([0x81, 0x80], 0, 1, &[&soa]),
        with([0x83, 0x80], 0, 0, &[]),
    ]
}

/// DHCP options for the `dhcp` target: an OFFER and an ACK as dnsmasq sends them, and one
/// whose file field is said to carry options too.
fn dhcp_seeds() -> Vec<Vec<u8>> {
    let common: Vec<u8> = [
        &[54, 4, 10, 0, 0, 2][..],
        &[51, 4, 0, 0, 0x0e, 0x10],
        &[58, 4, 0, 0, 7, 8],
        &[59, 4, 0, 0, 0x0c, 0x4e],
        &[1, 4, 255, 255, 255, 0],
        &[3, 4, 10, 0, 0, 2],
        &[6, 8, 10, 0, 0, 2, 9, 9, 9, 9],
        &[15, 8, b't', b'e', b's', b't', b'.', b'l', b'a', b'n'],
        &[26, 2, 5, 220],
    ]
    .concat();
    let msg = |kind: u8, extra: &[u8]| {
        let mut v = vec![53, 1, kind];
        v.extend_from_slice(&common);
        v.extend_from_slice(extra);
        v.push(255);
        v
    };
    vec![
        msg(2, &[]),
        msg(5, &[]),
        msg(6, &[56, 5, b'n', b'o', b' ', b'I', b'P']),
        msg(5, &[52, 1, 1]),
    ]
}

/// Put right what a mutation broke in a parser target's input, as far as that layer has
/// a checksum.
fn fix(target: &str, input: &mut [u8]) {
    match target {
        "ethernet" => frames::fix_checksums(input),
        "ipv4" => {
            let hl = usize::from(input.first().copied().unwrap_or(0) & 0x0f) * 4;
            if hl >= ipv4::HEADER_LEN && hl <= input.len() {
                ipv4::fill_checksum(&mut input[..hl]);
            }
            // And an IGMP message's checksum, which covers the whole message.
            if let Ok(p) = Ipv4Packet::new_checked(&*input) {
                let (total, igmp) = (p.total_len(), p.protocol() == ipv4::protocol::IGMP);
                if igmp && !p.is_fragment() && total >= hl + 8 {
                    let m = &mut input[hl..total];
                    m[2] = 0;
                    m[3] = 0;
                    let c = ip::checksum::checksum(m);
                    m[2..4].copy_from_slice(&c.to_be_bytes());
                }
            }
        }
        "icmp" if input.len() >= 4 => {
            input[2] = 0;
            input[3] = 0;
            let c = ip::checksum::checksum(input);
            input[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decode what a panic report printed (`input: <hex>`).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Run a target by name on one input (to replay a reported failure).
pub fn replay(target: &str, input: &[u8]) {
    let (_, f) = super::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("no fuzz target {target:?}"));
    f(input);
}

/// Run target `name` on inputs from `seed` until `inputs` were run or `time` passed
/// (at least 64 inputs, or `inputs` if fewer, however long they take).
pub fn run(name: &'static str, seed: u64, inputs: u64, time: Duration) -> Report {
    let (_, target) = *super::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name:?}"));
    let start = Instant::now();
    let seeds = if super::takes_choices(name) {
        Vec::new()
    } else {
        corpus(name, &captured_frames(seed))
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut input = Vec::new();
    let mut choices = [0u8; 64];
    let mut done = 0;
    while done < inputs {
        // The time is looked at every 64 inputs, and not before the first 64 ran.
        if done > 0 && done % 64 == 0 && start.elapsed() >= time {
            break;
        }
        input.clear();
        if super::takes_choices(name) {
            let len = rng.usize(0..4096);
            input.extend((0..len).map(|_| rng.u8(..)));
        } else if seeds.is_empty() || rng.u8(..8) == 0 {
            let len = if rng.bool() {
                rng.usize(0..96)
            } else {
                rng.usize(0..1600)
            };
            input.extend((0..len).map(|_| rng.u8(..)));
        } else {
            input.extend_from_slice(&seeds[rng.usize(..seeds.len())]);
            rng.fill(&mut choices);
            let mut u = Unstructured::new(&choices);
            frames::mutate(&mut u, &mut input, 70_000);
            if rng.bool() {
                fix(name, &mut input);
            }
        }
        if let Err(e) = panic::catch_unwind(AssertUnwindSafe(|| target(&input))) {
            // A long input goes to a file rather than the terminal.
            let h = hex(&input);
            let shown = if h.len() <= 8192 {
                h
            } else {
                let path = std::env::temp_dir().join(format!("fuzz-{name}-{seed}-{done}.hex"));
                match std::fs::write(&path, &h) {
                    Ok(()) => format!("in {}", path.display()),
                    Err(_) => h,
                }
            };
            eprintln!(
                "fuzz target {name} failed: seed {seed}, input {done} ({} bytes)\ninput: {shown}",
                input.len(),
            );
            panic::resume_unwind(e);
        }
        done += 1;
    }
    Report {
        target: name,
        inputs: done,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parser target gets seeds from real traffic, and most of those seeds parse: the
    /// mutations start from inputs that reach past the first checks.
    #[test]
    fn every_parser_target_has_seeds_that_parse() {
        let frames = captured_frames(1);
        for (name, _) in super::super::TARGETS
            .iter()
            .filter(|(n, _)| !super::super::takes_choices(n))
        {
            let seeds = corpus(name, &frames);
            assert!(seeds.len() >= 4, "{name}: {} seeds", seeds.len());
            let parses = |s: &Vec<u8>| -> bool {
                match *name {
                    "ethernet" => ethernet::Frame::new_checked(s).is_some(),
                    "arp" => arp::ArpRepr::from_bytes(s).is_ok(),
                    "ipv4" => Ipv4Packet::new_checked(s).is_ok_and(|p| p.verify_checksum()),
                    "icmp" => ip::icmp::IcmpRepr::parse(s).is_ok(),
                    "udp" => transport::udp::wire::UdpPacket::new_checked(&s[8..]).is_ok(),
                    "tcp" => transport::tcp::wire::TcpRepr::parse(&s[8..]).is_ok(),
                    "vnet" => netif::vnet::FrameMeta::decode(s, s.len() - 10).is_ok(),
                    "dns" => {
                        socket_api::dns::wire::parse_answer(
                            &super::super::parsers::dns_message(s),
                            super::super::parsers::DNS_ID,
                            super::super::parsers::DNS_NAME,
                        )
                        .is_ok_and(|a| !a.addrs.is_empty() || a.ttl > 0)
                            || s[1] & 0x0f == 3
                    }
                    "dhcp" => socket_api::dhcp::wire::Reply::parse(
                        &super::super::parsers::dhcp_message(s),
                    )
                    .is_ok(),
                    other => panic!("a target without a check here: {other}"),
                }
            };
            // Crafted odd datagrams (an unknown protocol number that happens to be UDP's,
            // say) are seeds too, but most are well formed.
            let good = seeds.iter().filter(|s| parses(s)).count();
            assert!(
                good * 4 >= seeds.len() * 3,
                "{name}: {good} of {} seeds parse",
                seeds.len()
            );
        }
    }

    /// The DHCP conversation around the `dhcp` target's input gets leases and renews
    /// them, from the target's seeds.
    #[test]
    fn the_dhcp_conversation_binds_and_renews() {
        let (mut acks, mut offers) = (0, 0);
        for s in dhcp_seeds() {
            let st = super::super::parsers::dhcp_client(&s);
            acks += st.acks;
            offers += st.offers;
        }
        assert!(offers >= 4 && acks >= 8, "offers {offers}, acks {acks}");
    }

    #[test]
    fn a_run_is_repeated_from_its_seed() {
        let a = run("tcp", 3, 500, Duration::from_secs(60));
        assert_eq!(a.inputs, 500);
        assert_eq!(unhex(&hex(&[0, 1, 0xab])), Some(vec![0, 1, 0xab]));
    }
}
