//! A ping that writes its own IP header (a raw socket with `IP_HDRINCL`), on a stack of its
//! own over a TAP device: each echo request carries a Record Route option (RFC 791 3.1),
//! so the reply says which addresses the request and the reply left by, as `ping -R`
//! does. The stack fills in what Linux's raw sockets fill in (the total length, the header
//! checksum, a zero source and Identification); the rest of the header, the TTL and the
//! option included, is the program's.
//!
//! Run it as root (opening a TAP needs CAP_NET_ADMIN). The stack is 10.0.0.1/24 on tap0,
//! the kernel side of the tap 10.0.0.2/24:
//!
//! ```text
//! cargo run -p socket-api --example raw_ping -- 10.0.0.2
//! ```
//!
//! Options (defaults shown): `--tap tap0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24
//! --count 3 --ttl 64`, `--no-offload`, then the address to ping.

#![forbid(unsafe_code)]

use socket_api::{RawSocket, StackBuilder};
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// ICMP, and the echo messages' types (RFC 792).
const ICMP: u8 = 1;
const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
/// Record Route with room for four addresses, then a NOP to end the options on a
/// four-byte boundary: a header of 20 + 20 bytes.
const RR_SLOTS: usize = 4;
const OPTIONS_LEN: usize = 3 + 4 * RR_SLOTS + 1;
const HEADER_LEN: usize = 20 + OPTIONS_LEN;

fn main() {
    if let Err(e) = run() {
        eprintln!("raw_ping: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut builder = StackBuilder::new()
        .tap("tap0")
        .addr("10.0.0.1/24")
        .host_addr("10.0.0.2/24")
        .mac("02:00:00:00:00:01");
    let (mut count, mut ttl) = (3u16, 64u8);
    let mut dst: Option<Ipv4Addr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        builder = match a.as_str() {
            "--tap" => builder.tap(value()?),
            "--addr" => builder.addr(value()?),
            "--host-addr" => builder.host_addr(value()?),
            "--no-offload" => builder.offload(false),
            "--count" => {
                count = value()?.parse().map_err(|_| "--count: not a number")?;
                builder
            }
            "--ttl" => {
                ttl = value()?.parse().map_err(|_| "--ttl: 1 to 255")?;
                builder
            }
            _ if dst.is_none() && !a.starts_with('-') => {
                dst = Some(a.parse().map_err(|_| format!("{a}: not an IPv4 address"))?);
                builder
            }
            _ => return Err(format!("unexpected argument {a}")),
        };
    }
    let dst = dst.ok_or("usage: raw_ping [options] ADDRESS")?;
    let stack = builder.build().map_err(|e| e.to_string())?;

    // One socket sends whole datagrams; the other reads what ICMP brings back.
    let tx = RawSocket::new(&stack, ICMP).map_err(|e| format!("socket: {e}"))?;
    tx.set_header_included(true)
        .map_err(|e| format!("IP_HDRINCL: {e}"))?;
    let mut rx = RawSocket::new(&stack, ICMP).map_err(|e| format!("socket: {e}"))?;
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let ident = std::process::id() as u16;
    let mut replies = 0;
    for seq in 1..=count {
        let request = echo_request(dst, ttl, ident, seq);
        let sent = Instant::now();
        tx.send_to(&request, dst)
            .map_err(|e| format!("send to {dst}: {e}"))?;
        match wait_reply(&mut rx, ident, seq, Duration::from_secs(2))? {
            Some(reply) => {
                replies += 1;
                let rtt = sent.elapsed();
                println!(
                    "reply from {dst}: icmp_seq={seq} ttl={} time={:.3} ms",
                    reply[8],
                    rtt.as_secs_f64() * 1e3
                );
                println!("RR: {}", recorded_route(&reply).join(" "));
            }
            None => println!("no reply from {dst}: icmp_seq={seq}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("{count} sent, {replies} received");
    stack.shutdown();
    if replies == 0 {
        return Err("no replies".into());
    }
    Ok(())
}

/// A whole echo request datagram: the IP header with the Record Route option, the source,
/// the Identification, the total length and the header checksum left zero for the stack.
fn echo_request(dst: Ipv4Addr, ttl: u8, ident: u16, seq: u16) -> Vec<u8> {
    let mut d = vec![0u8; HEADER_LEN];
    d[0] = 0x40 | (HEADER_LEN / 4) as u8;
    d[8] = ttl;
    d[9] = ICMP;
    d[16..20].copy_from_slice(&dst.octets());
    // Record Route: type 7, length, pointer to the first free slot (RFC 791 3.1).
    d[20..23].copy_from_slice(&[7, (3 + 4 * RR_SLOTS) as u8, 4]);
    d[HEADER_LEN - 1] = 1; // NOP
    let mut icmp = vec![ECHO_REQUEST, 0, 0, 0];
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"raw_ping with its own header....");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    d.extend_from_slice(&icmp);
    d
}

/// Read until the echo reply with `ident` and `seq` comes (the whole datagram), or
/// `timeout` passes.
fn wait_reply(
    rx: &mut RawSocket,
    ident: u16,
    seq: u16,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, String> {
    let end = Instant::now() + timeout;
    let mut buf = vec![0u8; 2048];
    while Instant::now() < end {
        let n = match rx.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(format!("recv: {e}")),
        };
        let d = &buf[..n];
        let hl = usize::from(d.first().map_or(0, |b| b & 0x0f)) * 4;
        let Some(icmp) = d.get(hl..).filter(|m| m.len() >= 8) else {
            continue;
        };
        // A raw socket sees a damaged message too (as on Linux): its checksum is ours to
        // check.
        if icmp[0] == ECHO_REPLY
            && icmp[4..6] == ident.to_be_bytes()
            && icmp[6..8] == seq.to_be_bytes()
            && checksum(icmp) == 0
        {
            return Ok(Some(d.to_vec()));
        }
    }
    Ok(None)
}

/// The addresses a reply's Record Route option holds, in order.
fn recorded_route(d: &[u8]) -> Vec<String> {
    let hl = usize::from(d[0] & 0x0f) * 4;
    let mut opts = d.get(20..hl).unwrap_or(&[]);
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => opts = &opts[1..],
            _ => {
                let len = usize::from(*opts.get(1).unwrap_or(&0));
                if len < 2 || len > opts.len() {
                    break;
                }
                if kind == 7 && len >= 3 {
                    let used = usize::from(opts[2]).saturating_sub(4).min(len - 3);
                    return opts[3..3 + used]
                        .chunks_exact(4)
                        .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string())
                        .collect();
                }
                opts = &opts[len..];
            }
        }
    }
    Vec::new()
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
