//! Network devices for tapip.
//!
//! - [`Device`]: the boundary every link implements (whole Ethernet frames in and out).
//! - Links: [`TapDevice`] (a Linux TAP through the `tun` crate), [`MemoryLink`] (loopback and
//!   in-memory pairs for tests).
//! - Wrappers that take any device and are one: [`FaultInjector`], [`PcapWriter`], [`Tracer`].
//! - [`Driver`]: the rx and tx threads that join a device to the stack: an [`RxSink`] the rx
//!   thread hands each batch of frames to, a bounded queue the tx thread writes from.
//! - [`time`]: the `Instant` protocol code is handed instead of reading a clock.
#![deny(unsafe_code)] // allowed only in tap.rs (the ioctl, readv, writev and poll the tun crate lacks) and uring.rs (io_uring submissions)

pub mod checksum;
pub mod device;
pub mod driver;
pub mod ethernet;
pub mod fault;
pub mod mac;
mod mailbox;
pub mod memory;
pub mod pcap;
pub mod tap;
pub mod time;
pub mod trace;
mod uring;
pub mod vnet;

pub use device::{Device, DeviceInfo, DeviceStats, DeviceStatsSnapshot, FrameTooLong, Offload};
pub use driver::{Backlog, Driver, DriverConfig, Pacer, RxFrame, RxSink, SinkError};
pub use fault::{FaultConfig, FaultInjector, FaultSpecError, FaultStats};
pub use mac::{MacAddr, ParseMacError};
pub use memory::MemoryLink;
pub use pcap::{PcapHandle, PcapWriter};
pub use tap::{TapConfig, TapDevice, TapError};
pub use time::{Clock, Duration, Instant};
pub use trace::{describe, Direction, ParseTraceLayersError, Trace, TraceLayers, Tracer};
pub use vnet::{Csum, FrameMeta, Gso};
