//! Helpers of the unit tests.

use crate::{Stack, TcpListener};
use std::io::Read;
use std::thread::JoinHandle;

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
