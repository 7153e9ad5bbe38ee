//! Helpers of the unit tests.

use crate::{Stack, StackBuilder, TcpListener};
use netif::{MacAddr, MemoryLink};
use std::io::Read;
use std::sync::Arc;
use std::thread::JoinHandle;

/// The two ends of an in-memory link (eth0 on both, MACs 02::01 and 02::02, MTU 1500,
/// `queue` frames each way).
pub(crate) fn link(queue: usize) -> (MemoryLink, MemoryLink) {
    let mac = |i| MacAddr([2, 0, 0, 0, 0, i]);
    MemoryLink::pair(("eth0", mac(1)), ("eth0", mac(2)), 1500, queue)
}

/// A TCP segment in an Ethernet frame as the far end of [`link`] sends it: from
/// 10.0.0.2 (02::02) port `sport` to 10.0.0.1 (02::01) port `dport`, window 65,535.
pub(crate) fn tcp_frame_to_us(
    sport: u16,
    dport: u16,
    r: transport::tcp::wire::TcpRepr,
    data: &[u8],
) -> Vec<u8> {
    use ip::ipv4::{self, Ipv4Repr};
    use std::net::Ipv4Addr;
    let (us, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let r = transport::tcp::wire::TcpRepr {
        src_port: sport,
        dst_port: dport,
        window: 65_535,
        ..r
    };
    let hl = r.header_len();
    let mut f = vec![0u8; 14 + ipv4::HEADER_LEN + hl + data.len()];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    Ipv4Repr {
        src: them,
        dst: us,
        protocol: ipv4::protocol::TCP,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        payload_len: hl + data.len(),
    }
    .emit(&mut f[14..], 0, false);
    let l4 = &mut f[14 + ipv4::HEADER_LEN..];
    l4[hl..].copy_from_slice(data);
    r.emit(l4, them, us);
    f
}

/// Read frames from `end` (for at most 5 s each) until an ARP request for `target`
/// arrives; the requester's MAC.
pub(crate) fn await_arp_request(end: &MemoryLink, target: [u8; 4]) -> [u8; 6] {
    use netif::Device;
    let mut buf = [0u8; 1600];
    loop {
        let n = end
            .recv(&mut buf, std::time::Duration::from_secs(5))
            .unwrap()
            .expect("an ARP request");
        if n >= 42 && buf[12..14] == [0x08, 0x06] && buf[38..42] == target {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&buf[6..12]);
            return mac;
        }
    }
}

/// Stack A (`a`, a builder given its device, at 10.0.0.1/24) and stack B (on `b_end`,
/// 10.0.0.2/24).
pub(crate) fn two_stacks(a: StackBuilder, b_end: MemoryLink) -> (Stack, Stack) {
    let a = a.addr("10.0.0.1/24").build().unwrap();
    let b = StackBuilder::new()
        .device(Arc::new(b_end))
        .addr("10.0.0.2/24")
        .build()
        .unwrap();
    (a, b)
}

/// Listen on `port` of `stack` and read one connection to its end, on a thread: returns
/// how many bytes arrived.
pub(crate) fn count_one_connection(stack: &Stack, port: u16) -> JoinHandle<usize> {
    let listener = TcpListener::bind(stack, ("0.0.0.0", port)).unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        all.len()
    })
}

/// Hand `parse` every prefix of `good`, then 20,000 seeded mutations of it (up to 8 bytes
/// changed, one in four cut short): a parser of received bytes must not panic on any.
pub(crate) fn parse_mutations(good: &[u8], seed: u64, mut parse: impl FnMut(&[u8])) {
    for n in 0..=good.len() {
        parse(&good[..n]);
    }
    let mut rng = ip::igmp::Rng::new(seed);
    for _ in 0..20_000 {
        let mut b = good.to_vec();
        for _ in 0..1 + rng.next_u64() % 8 {
            let at = (rng.next_u64() as usize) % b.len();
            b[at] = rng.next_u64() as u8;
        }
        if rng.next_u64().is_multiple_of(4) {
            b.truncate((rng.next_u64() as usize) % b.len());
        }
        parse(&b);
    }
}

/// A thread that, 300 ms from now, shuts `h` for reading (readable, as `Socket::shutdown`
/// makes it; Linux's ENOTCONN for a socket with no peer is ignored), wakes its waiters,
/// and holds the stack's lock until 3 s from now: a waiter whose deadline falls in
/// between is woken before it and gets the lock back only after it (as when the rx
/// thread's batch holds the lock).
pub(crate) fn ready_then_hold_the_lock(
    stack: &Stack,
    h: transport::SocketHandle,
) -> JoinHandle<()> {
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let stack = stack.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stack.with_core(|c, _| {
            let _ = c.transport.shutdown(h, true, false);
            c.wake(h);
            let until = start + Duration::from_secs(3);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        });
    })
}
