//! Devices that live in memory: loopback and a pair of linked endpoints.

use crate::{Device, DeviceInfo, MacAddr};
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use parking_lot::Mutex;
use std::io;
use std::time::Duration;

/// Frames queued inside an in-memory link before sends fail with `WouldBlock`.
pub const DEFAULT_LINK_QUEUE: usize = 1024;

/// One end of an in-memory Ethernet link.
pub struct MemoryLink {
    info: DeviceInfo,
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    stop: Stop,
}

/// What `interrupt_recv` drops: a waiting `recv` also waits on `rx`, which is ready (at
/// once, and from then on) once its sender is gone; `arm_recv_interrupt` makes a new pair.
struct Stop {
    tx: Mutex<Option<Sender<()>>>,
    rx: Mutex<Receiver<()>>,
}

impl Stop {
    fn new() -> Stop {
        let (tx, rx) = bounded(0);
        Stop {
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(rx),
        }
    }

    fn rearm(&self) {
        let (tx, rx) = bounded(0);
        *self.tx.lock() = Some(tx);
        *self.rx.lock() = rx;
    }

    fn receiver(&self) -> Receiver<()> {
        self.rx.lock().clone()
    }
}

impl MemoryLink {
    /// Two ends of one link: what `a` sends, `b` receives, and back.
    pub fn pair(
        a: (&str, MacAddr),
        b: (&str, MacAddr),
        mtu: usize,
        queue: usize,
    ) -> (MemoryLink, MemoryLink) {
        let (tx_ab, rx_ab) = bounded(queue);
        let (tx_ba, rx_ba) = bounded(queue);
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
                tx: tx_ab,
                rx: rx_ba,
                stop: Stop::new(),
            },
            MemoryLink {
                info: info(b),
                tx: tx_ba,
                rx: rx_ab,
                stop: Stop::new(),
            },
        )
    }

    /// The loopback device `lo`: whatever is sent comes back in. MTU 65535, zero MAC.
    pub fn loopback() -> MemoryLink {
        let (tx, rx) = bounded(DEFAULT_LINK_QUEUE);
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
            stop: Stop::new(),
        }
    }
}

impl Device for MemoryLink {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let ready = self.rx.try_recv();
        let got = if timeout.is_zero() || !matches!(ready, Err(TryRecvError::Empty)) {
            ready.map_err(|e| e == TryRecvError::Disconnected)
        } else {
            // Crossbeam waits without end for a timeout too large to add to the clock.
            let stop = self.stop.receiver();
            crossbeam_channel::select! {
                recv(self.rx) -> r => r.map_err(|_| true),
                recv(stop) -> _ => return Ok(None),
                default(timeout) => return Ok(None),
            }
        };
        match got {
            Ok(frame) => {
                let room = buf.len();
                let dst = buf
                    .get_mut(..frame.len())
                    .ok_or_else(|| crate::FrameTooLong::error(frame.len(), room))?;
                dst.copy_from_slice(&frame);
                Ok(Some(frame.len()))
            }
            Err(false) => Ok(None),
            Err(true) => {
                // The peer is gone: behave like a link with no traffic (still stoppable).
                let _ = self.stop.receiver().recv_timeout(timeout);
                Ok(None)
            }
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        match self.tx.try_send(frame.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "in-memory link queue full",
            )),
            // A link whose far end is gone loses frames, as a cable to nowhere does.
            Err(TrySendError::Disconnected(_)) => Ok(()),
        }
    }

    fn arm_recv_interrupt(&self) -> bool {
        self.stop.rearm();
        true
    }

    fn interrupt_recv(&self) {
        self.stop.tx.lock().take();
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

    #[test]
    fn a_reader_waiting_without_a_timeout_is_interrupted_until_rearmed() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4);
        assert!(b.arm_recv_interrupt());
        let b = std::sync::Arc::new(b);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                // A frame first, then a wait with no end until the interrupt.
                let first = b.recv(&mut buf, Duration::MAX).unwrap();
                let _ = done_tx.send((first, b.recv(&mut buf, Duration::MAX).unwrap()));
            });
        }
        a.send(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            done.is_empty(),
            "the reader returned without a frame or interrupt"
        );
        b.interrupt_recv();
        // Failing, not hanging, if the interrupt does not reach the reader.
        assert_eq!(
            done.recv_timeout(Duration::from_secs(10)).unwrap(),
            (Some(1), None)
        );
        // Until rearmed, no wait: a ready frame is still read, then nothing, at once.
        a.send(b"yz").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.recv(&mut buf, Duration::MAX).unwrap(), Some(2));
        let t = std::time::Instant::now();
        assert_eq!(b.recv(&mut buf, Duration::MAX).unwrap(), None);
        assert!(t.elapsed() < Duration::from_secs(5));
        // Rearmed (a new reader), it waits again: out the timeout, or for a frame.
        assert!(b.arm_recv_interrupt());
        let t = std::time::Instant::now();
        assert_eq!(b.recv(&mut buf, Duration::from_millis(30)).unwrap(), None);
        assert!(t.elapsed() >= Duration::from_millis(30));
        // Interrupted, even when the peer is gone.
        drop(a);
        b.interrupt_recv();
        let t = std::time::Instant::now();
        assert_eq!(b.recv(&mut buf, Duration::MAX).unwrap(), None);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_link_whose_peer_is_gone_waits_out_the_timeout() {
        let (a, b) = MemoryLink::pair(("a", MacAddr::ZERO), ("b", MacAddr::ZERO), 1500, 4);
        drop(a);
        let mut buf = [0u8; 64];
        let t = std::time::Instant::now();
        assert_eq!(b.recv(&mut buf, Duration::from_millis(30)).unwrap(), None);
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert_eq!(b.recv(&mut buf, Duration::ZERO).unwrap(), None);
    }
}
