//! The device boundary: what every link (TAP, loopback, in-memory pair) and every wrapper
//! (fault injector, pcap writer, tracer) offers to the drivers.

use crate::vnet::FrameMeta;
use crate::MacAddr;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bytes of an Ethernet II header (no VLAN tag, no FCS).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// The largest Ethernet frame carrying one IPv4 datagram: an untagged frame of the largest
/// MTU (65,535, a TAP's limit too), or a coalesced segment (at most 64 KB with headers).
pub(crate) const MAX_FRAME: usize = 65_535 + ETHERNET_HEADER_LEN;

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
    /// What the device does for the stack (a TAP with `IFF_VNET_HDR` and `TUNSETOFFLOAD`).
    pub offload: Offload,
}

/// Offloads a device takes over from the stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    /// Sending: the device completes TCP checksums (`Csum::Partial`). Receiving: it may hand
    /// over frames whose checksum it trusts without one in place.
    pub csum: bool,
    /// Sending: the device cuts TCP segments of up to 64 KB into MSS-sized ones (TSO4).
    /// Receiving: it may hand over coalesced segments larger than the MTU.
    pub tso: bool,
}

impl Offload {
    pub const NONE: Offload = Offload {
        csum: false,
        tso: false,
    };
}

impl DeviceInfo {
    /// The longest ordinary frame of this device: its MTU and the Ethernet header. (A
    /// device that offloads segmentation also hands over and takes coalesced segments of up
    /// to 64 KB, and a peer with a larger MTU may send longer frames: a reader that wants
    /// every frame needs more room; the driver reads into 64 KB and a byte.)
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
/// Why `recv` handed over no frame: the one that came was longer than the buffer (at
/// least `at_least` bytes); it is dropped. Carried inside an `io::Error` of kind
/// `InvalidData` ([`FrameTooLong::of`] finds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a frame of {at_least} bytes or more, longer than the {buf}-byte buffer")]
pub struct FrameTooLong {
    pub at_least: usize,
    pub buf: usize,
}

impl FrameTooLong {
    /// The `io::Error` a device returns for it.
    pub fn error(at_least: usize, buf: usize) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, FrameTooLong { at_least, buf })
    }

    /// The `FrameTooLong` inside `e`, if that is what `e` is.
    pub fn of(e: &io::Error) -> Option<FrameTooLong> {
        e.get_ref()?.downcast_ref::<FrameTooLong>().copied()
    }
}

pub trait Device: Send + Sync {
    fn info(&self) -> DeviceInfo;

    /// Wait at most `timeout` for one frame and copy it into `buf`. `Ok(None)` when nothing
    /// arrived in time. A frame longer than `buf` is dropped with a [`FrameTooLong`] error
    /// (kind `InvalidData`), never handed over cut. An error of kind `InvalidData` means
    /// one frame was read and dropped (too long, or metadata refused), the device working;
    /// any other error, that the device failed.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;

    /// Transmit one complete Ethernet frame.
    fn send(&self, frame: &[u8]) -> io::Result<()>;

    /// `recv`, with the frame's offload metadata. Devices without offloads (and wrappers that
    /// give plain frames) report every frame as ordinary.
    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        Ok(self.recv(buf, timeout)?.map(|n| (n, FrameMeta::default())))
    }

    /// `send`, asking the device for the offloads `meta` names (only those `info().offload`
    /// promises). A device without offloads refuses anything but an ordinary frame.
    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        if meta.is_plain() {
            self.send(frame)
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this device does not offload checksums or segmentation",
            ))
        }
    }

    /// `send_meta` of each frame, in order; `done(i, result)` hears the result of
    /// `frames[i]`. A device that can write several frames per system call does so.
    fn send_meta_batch(
        &self,
        frames: &[(&[u8], FrameMeta)],
        done: &mut dyn FnMut(usize, io::Result<()>),
    ) {
        for (i, (frame, meta)) in frames.iter().enumerate() {
            done(i, self.send_meta(frame, meta));
        }
    }

    /// How frames cross the OS boundary, for `stat`: `"uring"` (many per system call),
    /// `"rw"` (one `read`/`write` each), or `"memory"` for links that make no system call.
    fn io_path(&self) -> &'static str {
        "memory"
    }

    /// Called by a reader before it waits for frames without a timeout (`Duration::MAX`):
    /// clears an earlier [`Device::interrupt_recv`] and says whether `interrupt_recv` works
    /// here. A device that says no is read in slices of a timeout, its reader looking at a
    /// stop flag between them.
    fn arm_recv_interrupt(&self) -> bool {
        false
    }

    /// Stop reading: a `recv` waiting in another thread returns `Ok(None)` at once, and
    /// until the next `arm_recv_interrupt` `recv` never waits (it returns a frame that is
    /// ready, or `Ok(None)`). For a driver's stop; nothing where `arm_recv_interrupt` says no.
    fn interrupt_recv(&self) {}
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
    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        (**self).recv_meta(buf, timeout)
    }
    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        (**self).send_meta(frame, meta)
    }
    fn send_meta_batch(
        &self,
        frames: &[(&[u8], FrameMeta)],
        done: &mut dyn FnMut(usize, io::Result<()>),
    ) {
        (**self).send_meta_batch(frames, done)
    }
    fn io_path(&self) -> &'static str {
        (**self).io_path()
    }
    fn arm_recv_interrupt(&self) -> bool {
        (**self).arm_recv_interrupt()
    }
    fn interrupt_recv(&self) {
        (**self).interrupt_recv()
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
    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        (**self).recv_meta(buf, timeout)
    }
    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        (**self).send_meta(frame, meta)
    }
    fn send_meta_batch(
        &self,
        frames: &[(&[u8], FrameMeta)],
        done: &mut dyn FnMut(usize, io::Result<()>),
    ) {
        (**self).send_meta_batch(frames, done)
    }
    fn io_path(&self) -> &'static str {
        (**self).io_path()
    }
    fn arm_recv_interrupt(&self) -> bool {
        (**self).arm_recv_interrupt()
    }
    fn interrupt_recv(&self) {
        (**self).interrupt_recv()
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
    /// Frames whose offload metadata the device refused (a `virtio_net_hdr` Linux itself
    /// would not take).
    pub rx_dropped_bad_meta: AtomicU64,
    /// Frames read and not delivered because the driver was stopping: the batch the
    /// stack's input refused as closed (it stops taking frames before the drivers stop).
    pub rx_dropped_shutdown: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_errors: AtomicU64,
    /// Frames dropped because the device's transmit queue was full.
    pub tx_dropped_queue_full: AtomicU64,
    /// Frames dropped because they exceeded the device's MTU.
    pub tx_dropped_too_big: AtomicU64,
    /// Frames the device refused with EIO: a TAP whose interface the kernel side has not
    /// brought up (yet).
    pub tx_dropped_link_down: AtomicU64,
    /// Frames not written because the driver was stopping or had stopped: staged after
    /// the tx thread wrote its last (left in the queue at `Driver::shutdown`), refused by
    /// the closed tx queue, or handed to a driver shut down.
    pub tx_dropped_shutdown: AtomicU64,
    /// Coalesced TCP segments received (larger than the MTU; `virtio_net_hdr` GSO).
    pub rx_gso_frames: AtomicU64,
    /// Frames received whose checksum the device left to complete (trusted, not verified).
    pub rx_csum_partial: AtomicU64,
    /// TCP segments handed to the device to cut (TSO).
    pub tx_gso_frames: AtomicU64,
    /// Frames sent whose checksum the device completes.
    pub tx_csum_partial: AtomicU64,
    /// Wake-ups of the rx thread that found frames (rx_packets / rx_batches: frames per batch).
    pub rx_batches: AtomicU64,
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
    pub rx_dropped_bad_meta: u64,
    pub rx_dropped_shutdown: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped_queue_full: u64,
    pub tx_dropped_too_big: u64,
    pub tx_dropped_link_down: u64,
    pub tx_dropped_shutdown: u64,
    pub rx_gso_frames: u64,
    pub rx_csum_partial: u64,
    pub tx_gso_frames: u64,
    pub tx_csum_partial: u64,
    pub rx_batches: u64,
}

impl DeviceStatsSnapshot {
    pub fn rx_dropped(&self) -> u64 {
        self.rx_dropped_ethertype
            + self.rx_dropped_runt
            + self.rx_dropped_queue_full
            + self.rx_dropped_too_big
            + self.rx_dropped_bad_meta
            + self.rx_dropped_shutdown
    }
    pub fn tx_dropped(&self) -> u64 {
        self.tx_dropped_queue_full
            + self.tx_dropped_too_big
            + self.tx_dropped_link_down
            + self.tx_dropped_shutdown
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
            rx_dropped_bad_meta: g(&self.rx_dropped_bad_meta),
            rx_dropped_shutdown: g(&self.rx_dropped_shutdown),
            tx_packets: g(&self.tx_packets),
            tx_bytes: g(&self.tx_bytes),
            tx_errors: g(&self.tx_errors),
            tx_dropped_queue_full: g(&self.tx_dropped_queue_full),
            tx_dropped_too_big: g(&self.tx_dropped_too_big),
            tx_dropped_link_down: g(&self.tx_dropped_link_down),
            tx_dropped_shutdown: g(&self.tx_dropped_shutdown),
            rx_gso_frames: g(&self.rx_gso_frames),
            rx_csum_partial: g(&self.rx_csum_partial),
            tx_gso_frames: g(&self.tx_gso_frames),
            tx_csum_partial: g(&self.tx_csum_partial),
            rx_batches: g(&self.rx_batches),
        }
    }
}
