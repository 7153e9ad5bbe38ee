//! Devices that live in memory: loopback and a pair of linked endpoints.

use crate::mailbox::{Mailbox, Refused, Taken};
use crate::{Device, DeviceInfo, MacAddr};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Frames queued inside an in-memory link before sends fail with `WouldBlock`.
pub const DEFAULT_LINK_QUEUE: usize = 1024;

/// One end of an in-memory Ethernet link.
pub struct MemoryLink {
    info: DeviceInfo,
    /// The queue the other end receives from, and this end's own.
    tx: Arc<Mailbox<Vec<u8>>>,
    rx: Arc<Mailbox<Vec<u8>>>,
}

impl MemoryLink {
    /// Two ends of one link: what `a` sends, `b` receives, and back.
    pub fn pair(
        a: (&str, MacAddr),
        b: (&str, MacAddr),
        mtu: usize,
        queue: usize,
    ) -> (MemoryLink, MemoryLink) {
        let ab = Arc::new(Mailbox::new(queue));
        let ba = Arc::new(Mailbox::new(queue));
        let info = |(name, mac): (&str, MacAddr)| DeviceInfo {
            name: name.to_string(),
            mtu,
            mac,
            loopback: false,
            offload: crate::device::Offload::NONE,
        };
        (
            MemoryLink {
                info: info(a),
                tx: ab.clone(),
                rx: ba.clone(),
            },
            MemoryLink {
                info: info(b),
                tx: ba,
                rx: ab,
            },
        )
    }

    /// The loopback device `lo`: whatever is sent comes back in. MTU 65535, zero MAC.
    pub fn loopback() -> MemoryLink {
        let rx = Arc::new(Mailbox::new(DEFAULT_LINK_QUEUE));
        let tx = rx.clone();
        MemoryLink {
            info: DeviceInfo {
                name: "lo".to_string(),
                mtu: 65535,
                mac: MacAddr::ZERO,
                loopback: true,
                offload: crate::device::Offload::NONE,
            },
            tx,
            rx,
        }
    }
}

impl Device for MemoryLink {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut got = VecDeque::with_capacity(1);
        match self.rx.take(&mut got, 1, Some(timeout)) {
            Taken::Items(_) => {
                let frame = got.pop_front().unwrap_or_default();
                let dst = buf.get_mut(..frame.len()).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "frame larger than buffer")
                })?;
                dst.copy_from_slice(&frame);
                Ok(Some(frame.len()))
            }
            // The peer gone (its queue stays open and empty): a link with no traffic.
            Taken::TimedOut | Taken::Closed => Ok(None),
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        match self.tx.push(frame.to_vec()) {
            Ok(()) => Ok(()),
            Err(Refused::Full(_)) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "in-memory link queue full",
            )),
            // A link whose far end is gone loses frames, as a cable to nowhere does.
            Err(Refused::Closed(_)) => Ok(()),
        }
    }
}

/// Nobody receives from this end any more: the other end's sends are lost from now on,
/// not queued up to the bound.
impl Drop for MemoryLink {
    fn drop(&mut self) {
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_carries_frames_both_ways() {
        let (a, b) = MemoryLink::pair(
            ("a", MacAddr([2, 0, 0, 0, 0, 1])),
            ("b", MacAddr([2, 0, 0, 0, 0, 2])),
            1500,
            4,
        );
        a.send(b"hello").unwrap();
        b.send(b"back").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            b.recv(&mut buf, Duration::from_millis(10)).unwrap(),
            Some(5)
        );
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            a.recv(&mut buf, Duration::from_millis(10)).unwrap(),
            Some(4)
        );
        assert_eq!(a.recv(&mut buf, Duration::from_millis(1)).unwrap(), None);
    }

    #[test]
    fn bounded_queue_reports_full() {
        let (a, _b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 2);
        a.send(b"1").unwrap();
        a.send(b"2").unwrap();
        assert_eq!(a.send(b"3").unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn small_buffer_is_an_error() {
        let lo = MemoryLink::loopback();
        lo.send(&[0u8; 100]).unwrap();
        let mut buf = [0u8; 10];
        assert!(lo.recv(&mut buf, Duration::from_millis(10)).is_err());
    }
}
