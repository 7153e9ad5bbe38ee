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
