//! The device boundary: what every link (TAP, loopback, in-memory pair) and every wrapper
//! (fault injector, pcap writer, tracer) offers to the drivers.

use crate::MacAddr;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bytes of an Ethernet II header (no VLAN tag, no FCS).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// Static facts about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Interface name as shown by `ifconfig` (`tap0`, `lo`, ...).
    pub name: String,
    /// Largest IP datagram the link carries (the Ethernet payload), e.g. 1500.
    pub mtu: usize,
    /// The stack's own hardware address on this link.
    pub mac: MacAddr,
    /// Loopback links carry Ethernet framing with zero addresses and never resolve neighbours.
    pub loopback: bool,
}

impl DeviceInfo {
    /// Size of a buffer that holds any frame of this device.
    pub fn frame_capacity(&self) -> usize {
        self.mtu + ETHERNET_HEADER_LEN
    }
}

/// A link that moves whole Ethernet frames.
///
/// Both methods take `&self`: a driver's rx thread and tx thread use one device at the same
/// time, so implementations are internally synchronised (a TAP fd is, by the kernel).
/// Ownership: `recv` copies a frame into the caller's buffer; `send` borrows the frame only
/// for the duration of the call.
pub trait Device: Send + Sync {
    fn info(&self) -> DeviceInfo;

    /// Wait at most `timeout` for one frame and copy it into `buf`. `Ok(None)` when nothing
    /// arrived in time. A frame longer than `buf` is an error of kind `InvalidData`.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;

    /// Transmit one complete Ethernet frame.
    fn send(&self, frame: &[u8]) -> io::Result<()>;
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn info(&self) -> DeviceInfo {
        (**self).info()
    }
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        (**self).recv(buf, timeout)
    }
    fn send(&self, frame: &[u8]) -> io::Result<()> {
        (**self).send(frame)
    }
}

impl<D: Device + ?Sized> Device for std::sync::Arc<D> {
    fn info(&self) -> DeviceInfo {
        (**self).info()
    }
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        (**self).recv(buf, timeout)
    }
    fn send(&self, frame: &[u8]) -> io::Result<()> {
        (**self).send(frame)
    }
}

/// Per-device counters, updated by the driver threads and read by `ifconfig` and `stat`.
#[derive(Debug, Default)]
pub struct DeviceStats {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub rx_errors: AtomicU64,
    /// Frames that were neither IPv4 nor ARP (the kernel's IPv6 chatter, LLDP, ...).
    pub rx_dropped_ethertype: AtomicU64,
    /// Frames shorter than an Ethernet header.
    pub rx_dropped_runt: AtomicU64,
    /// Frames dropped because the stack's input queue was full.
    pub rx_dropped_queue_full: AtomicU64,
    /// Frames larger than any IPv4 datagram (truncated by the read).
    pub rx_dropped_too_big: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_errors: AtomicU64,
    /// Frames dropped because the device's transmit queue was full.
    pub tx_dropped_queue_full: AtomicU64,
    /// Frames dropped because they exceeded the device's MTU.
    pub tx_dropped_too_big: AtomicU64,
}

/// A plain copy of [`DeviceStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStatsSnapshot {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped_ethertype: u64,
    pub rx_dropped_runt: u64,
    pub rx_dropped_queue_full: u64,
    pub rx_dropped_too_big: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped_queue_full: u64,
    pub tx_dropped_too_big: u64,
}

impl DeviceStatsSnapshot {
    pub fn rx_dropped(&self) -> u64 {
        self.rx_dropped_ethertype
            + self.rx_dropped_runt
            + self.rx_dropped_queue_full
            + self.rx_dropped_too_big
    }
    pub fn tx_dropped(&self) -> u64 {
        self.tx_dropped_queue_full + self.tx_dropped_too_big
    }
}

pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl DeviceStats {
    pub fn snapshot(&self) -> DeviceStatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DeviceStatsSnapshot {
            rx_packets: g(&self.rx_packets),
            rx_bytes: g(&self.rx_bytes),
            rx_errors: g(&self.rx_errors),
            rx_dropped_ethertype: g(&self.rx_dropped_ethertype),
            rx_dropped_runt: g(&self.rx_dropped_runt),
            rx_dropped_queue_full: g(&self.rx_dropped_queue_full),
            rx_dropped_too_big: g(&self.rx_dropped_too_big),
            tx_packets: g(&self.tx_packets),
            tx_bytes: g(&self.tx_bytes),
            tx_errors: g(&self.tx_errors),
            tx_dropped_queue_full: g(&self.tx_dropped_queue_full),
            tx_dropped_too_big: g(&self.tx_dropped_too_big),
        }
    }
}
