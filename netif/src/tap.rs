//! A Linux TAP device (Layer 2) opened through the `tun` crate.
//!
//! Offloads: with `TapConfig::offload` the tap is opened with `IFF_VNET_HDR` and told by
//! `TUNSETOFFLOAD` that the stack handles partial checksums and TCPv4 segmentation
//! (`TUN_F_CSUM | TUN_F_TSO4`). From then on every frame crossing the tap is preceded by a
//! `virtio_net_hdr` (see [`crate::vnet`]): the kernel hands over TCP segments of up to 64 KB
//! that it never cut, with checksums it never computed, and takes the stack's 64 KB segments
//! and cuts them itself. Neither side pays per-1500-byte costs. The `tun` crate sets the flag
//! but has no call for the ioctl; it is one `ioctl` on the tap's descriptor below. The
//! header's size is set too (`TUNSETVNETHDRSZ`, to the 10 bytes `vnet.rs` parses): a
//! persistent tap keeps the size another program gave it, which need not be the kernel's
//! default; and its byte order (`TUNSETVNETLE`), for the same reason and for big-endian
//! hosts. If the kernel refuses any of these, the tap works with plain frames (or with
//! fewer offloads) and [`TapDevice::offload_refused`] says why.
//!
//! Reads are non-blocking: a driver drains every frame that is ready and only then waits in
//! `poll`. With `TapConfig::uring` (the default) batches of plain frames are written through
//! io_uring, many per system call (see `uring.rs`), and read through it too with
//! `TapConfig::uring_rx` (off by default: plain `read`s cost less here); where the kernel refuses
//! io_uring (`EPERM` in many containers, `ENOSYS`, `kernel.io_uring_disabled`) the tap uses one
//! `read` or `write` per frame and [`TapDevice::uring_refused`] says why.

use crate::device::MAX_FRAME;
use crate::uring::{RxRing, TxRing};
use crate::vnet::{complete_checksum, Csum, FrameMeta, VNET_HDR_LEN};
use crate::{Device, DeviceInfo, MacAddr, Offload};
use parking_lot::Mutex;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use tun::AbstractDevice;

/// How to open a TAP device.
#[derive(Clone, Debug)]
pub struct TapConfig {
    /// Interface name; created if it does not exist. A template such as `tap%d` lets the
    /// kernel pick the number; the device's `info().name` is the name it picked.
    pub name: String,
    /// The stack's MAC address on this link (the kernel side keeps its own).
    pub mac: MacAddr,
    /// Kernel side of the tap: when set, the tap gets this address and is brought up (TOP2).
    /// When `None` the kernel side is left alone (TOP1: the tap is bridged to a LAN).
    pub host_addr: Option<(Ipv4Addr, u8)>,
    /// Ask the kernel for checksum and segmentation offloads (`IFF_VNET_HDR` +
    /// `TUNSETOFFLOAD`); falls back to plain frames when refused.
    pub offload: bool,
    /// Read and write plain frames (no offloads) through io_uring, many frames per system
    /// call; falls back to one `read`/`write` per frame when the kernel refuses io_uring.
    /// `false` is `--no-uring`.
    pub uring: bool,
    /// With `uring`, read through io_uring too (`--uring-rx`); otherwise only writes go
    /// through it and each frame is read with `read` straight into the caller's buffer.
    /// Off by default: on the VMs of BENCHMARKS.md the reads through the ring (with the
    /// copy out of its buffers, and the reads that find no frame) cost more than the calls
    /// they saved (plain-frame receive 10.3 → 10.9 Gbit/s, 23% less CPU per GB, with `read`).
    pub uring_rx: bool,
}

/// Reads submitted at once through io_uring at most (each into a buffer of its own).
const URING_RX_BATCH: usize = 64;
/// Frames written through io_uring with one call at most.
pub const URING_TX_BATCH: usize = 64;

/// Why a TAP device could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error(
        "no permission to open /dev/net/tun for tap '{0}': run as root or grant CAP_NET_ADMIN (e.g. sudo setcap cap_net_admin+ep {prog})",
        prog = running_program()
    )]
    PermissionDenied(String),
    #[error("/dev/net/tun does not exist: load the tun module (modprobe tun)")]
    NoTunDevice,
    #[error("invalid tap name '{}': at most 15 bytes, no '/', ':' or spaces, not . or ..", .0.escape_debug())]
    BadName(String),
    #[error("tap '{name}' is busy (another process holds it?): {source}")]
    Busy { name: String, source: io::Error },
    /// TUNSETIFF says EINVAL: an interface of that name exists and is not a TAP.
    #[error(
        "cannot open tap '{0}': an interface of that name exists and is not a TAP device (a TUN device, or another kind; see 'ip -d link show {0}')"
    )]
    NotATap(String),
    #[error("cannot open tap '{name}': {source}")]
    Other { name: String, source: io::Error },
}

pub struct TapDevice {
    /// The rings come first so that they are dropped before the tap's descriptor they use.
    rx_ring: Option<Mutex<RxRing>>,
    tx_ring: Option<Mutex<TxRing>>,
    dev: tun::Device,
    info: DeviceInfo,
    /// Frames carry a `virtio_net_hdr` (the tap was opened with `IFF_VNET_HDR`).
    vnet: bool,
    offload_refused: Option<String>,
    queue_refused: Option<String>,
    uring_refused: Option<String>,
    /// An eventfd a waiting reader polls with the tap, written by `interrupt_recv` and
    /// read back to zero by `arm_recv_interrupt`: the rx thread waits for frames without a
    /// timeout (no wake-ups while idle). `None` if the kernel refused one: the reader waits
    /// in slices.
    stop: Option<OwnedFd>,
}

/// Requests of the `ioctl`s made here, in libc's type for a request (`Ioctl`: an unsigned
/// long on glibc, an int on musl); libc gives the `SIOC*` ones as unsigned longs everywhere.
const SIOCGIFTXQLEN: libc::Ioctl = libc::SIOCGIFTXQLEN as libc::Ioctl;
const SIOCSIFTXQLEN: libc::Ioctl = libc::SIOCSIFTXQLEN as libc::Ioctl;

/// `TUNSETVNETHDRSZ` on an open tap: the size of the `virtio_net_hdr` in front of every
/// frame, both ways. The kernel's default (10) is what `vnet.rs` parses, but a persistent
/// tap keeps whatever size another program set, so it is set here.
fn set_vnet_hdr_len(fd: std::os::fd::RawFd, len: usize) -> io::Result<()> {
    let len =
        libc::c_int::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    set_int(fd, libc::TUNSETVNETHDRSZ, len)
}

/// `TUNSETVNETLE` on an open tap: the header's fields little-endian, as `vnet.rs` reads
/// and writes them. That is the kernel's default on a little-endian host, but not on a
/// big-endian one, nor on a persistent tap another program switched to big-endian
/// (`TUNSETVNETBE`, on kernels built with CONFIG_TUN_VNET_CROSS_LE); this request wins
/// over that one.
fn set_vnet_le(fd: std::os::fd::RawFd) -> io::Result<()> {
    set_int(fd, libc::TUNSETVNETLE, 1)
}

/// A tap `ioctl` whose argument is a pointer to an int.
#[allow(unsafe_code)]
fn set_int(fd: std::os::fd::RawFd, request: libc::Ioctl, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is the tap's descriptor, open for the lifetime of the `tun::Device` the
    // caller borrows it from. Unlike TUNSETOFFLOAD these requests take a pointer, to an
    // int: the kernel copies that int in (`get_user`) during the call and keeps no
    // reference; `value` lives on this frame until the call returns and is only read.
    let r = unsafe { libc::ioctl(fd, request, &value as *const libc::c_int) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `TUNSETOFFLOAD` on an open tap: which offloads the reader handles.
#[allow(unsafe_code)]
fn set_offload(fd: std::os::fd::RawFd, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: `fd` is the tap's descriptor, open for the lifetime of the `tun::Device` the
    // caller borrows it from; TUNSETOFFLOAD takes its argument by value (an unsigned long of
    // flags), so no memory is shared with the kernel.
    let r = unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, libc::c_ulong::from(flags)) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Frames the kernel may hold for a tap of plain frames at least: room for a 4 MiB TCP
/// window (transport's `rcvbuf_max`) of full frames. With the kernel's default of 1,000
/// (1.4 MB of payload) a receive window grown to 4 MiB let a kernel sender overflow the
/// queue while the stack read: drops and recoveries, plain-frame receive no faster
/// (BENCHMARKS.md). With offloads a frame carries up to 64 KB and 1,000 are plenty.
pub const PLAIN_QUEUE_LEN: u32 = 4096;

/// Raise the transmit queue of interface `name` (what the kernel holds for the tap's
/// reader) to at least `want` frames; returns the length it has now. `name` is the one the
/// kernel gave the tap (a template such as `tap%d` names no interface).
#[allow(unsafe_code)]
fn raise_queue_len(name: &str, want: u32) -> io::Result<u32> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: `socket` takes no pointers; the descriptor it returns is owned by `sock`
    // from here on and closed when it drops.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `socket` and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `ifreq` is plain data (a name array and a union of plain fields); all zeros
    // is a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // At most 15 bytes are copied (the kernel's names are no longer): the last byte stays NUL.
    for (d, b) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = b as libc::c_char;
    }
    // SAFETY: `req` is a valid, initialised `ifreq` that outlives the call; SIOCGIFTXQLEN
    // writes the queue length into `ifr_ifru` (its `int` member) and nothing else.
    if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGIFTXQLEN, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: reading the `int` member the kernel just wrote (every bit pattern is an int).
    let now = u32::try_from(unsafe { req.ifr_ifru.ifru_metric }).unwrap_or(0);
    if now >= want {
        return Ok(now);
    }
    req.ifr_ifru.ifru_metric = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
    // SAFETY: as above; SIOCSIFTXQLEN only reads `req` (passed mutably all the same, so
    // nothing rests on the kernel not writing back).
    if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCSIFTXQLEN, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(want)
}

/// Write `hdr` then `frame` as one packet (one `writev`), so the frame is not copied.
#[allow(unsafe_code)]
fn write_two(fd: std::os::fd::RawFd, hdr: &[u8], frame: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: hdr.as_ptr() as *mut libc::c_void,
            iov_len: hdr.len(),
        },
        libc::iovec {
            iov_base: frame.as_ptr() as *mut libc::c_void,
            iov_len: frame.len(),
        },
    ];
    // SAFETY: both iovecs point into slices borrowed for the duration of the call, with their
    // exact lengths; writev only reads through them. `fd` is open (borrowed from the device).
    let n = unsafe { libc::writev(fd, iov.as_ptr(), 2) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn valid_ifname(name: &str) -> bool {
    // Linux's dev_valid_name: "." and ".." are refused too (EINVAL, which `classify`
    // would have called a name taken by another kind of interface).
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() < 16
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

fn netmask(prefix: u8) -> Ipv4Addr {
    let p = u32::from(prefix.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - p).unwrap_or(0))
}

fn classify(name: &str, err: tun::Error) -> TapError {
    let io_err: io::Error = match err {
        tun::Error::Io(e) => e,
        tun::Error::NameTooLong | tun::Error::InvalidName => return TapError::BadName(name.into()),
        other => io::Error::other(other.to_string()),
    };
    match io_err.raw_os_error() {
        Some(1) | Some(13) => TapError::PermissionDenied(name.into()), // EPERM, EACCES
        Some(2) | Some(19) => TapError::NoTunDevice,                   // ENOENT, ENODEV
        Some(16) => TapError::Busy {
            name: name.into(),
            source: io_err,
        },
        Some(22) => TapError::NotATap(name.into()), // EINVAL
        _ if io_err.kind() == io::ErrorKind::PermissionDenied => {
            TapError::PermissionDenied(name.into())
        }
        _ => TapError::Other {
            name: name.into(),
            source: io_err,
        },
    }
}

impl TapDevice {
    pub fn open(cfg: &TapConfig) -> Result<TapDevice, TapError> {
        if !valid_ifname(&cfg.name) {
            return Err(TapError::BadName(cfg.name.clone()));
        }
        let mut c = tun::Configuration::default();
        c.tun_name(&cfg.name).layer(tun::Layer::L2);
        if let Some((addr, prefix)) = cfg.host_addr {
            c.address(addr).netmask(netmask(prefix)).up();
        }
        if cfg.offload {
            c.platform_config(|p| {
                p.vnet_hdr(true);
            });
        }
        let (dev, vnet, mut offload_refused) = match tun::create(&c) {
            Ok(d) => (d, cfg.offload, None),
            Err(e) if cfg.offload => {
                // Perhaps a kernel or a tap that refuses IFF_VNET_HDR: plain frames then.
                let why = e.to_string();
                c.platform_config(|p| {
                    p.vnet_hdr(false);
                });
                let d = tun::create(&c).map_err(|e| classify(&cfg.name, e))?;
                (d, false, Some(format!("IFF_VNET_HDR refused: {why}")))
            }
            Err(e) => return Err(classify(&cfg.name, e)),
        };
        // The header's size and byte order, both ways, to what `vnet.rs` parses: a
        // refusal means plain frames, as a refused IFF_VNET_HDR does (the tap opened again
        // without it).
        let set_up = |fd| {
            set_vnet_hdr_len(fd, VNET_HDR_LEN)
                .map_err(|e| format!("TUNSETVNETHDRSZ {VNET_HDR_LEN} refused: {e}"))?;
            set_vnet_le(fd).map_err(|e| format!("TUNSETVNETLE refused: {e}"))
        };
        let (dev, vnet) = match vnet.then(|| set_up(dev.as_raw_fd())) {
            Some(Err(why)) => {
                drop(dev);
                c.platform_config(|p| {
                    p.vnet_hdr(false);
                });
                let d = tun::create(&c).map_err(|e| classify(&cfg.name, e))?;
                offload_refused = Some(why);
                (d, false)
            }
            _ => (dev, vnet),
        };
        // The name the kernel gave the tap (`cfg.name` may be a template such as `tap%d`):
        // everything from here on, and the device's name, use it.
        let name = dev.tun_name().unwrap_or_else(|_| cfg.name.clone());
        let mut offload = Offload::NONE;
        if vnet {
            match set_offload(dev.as_raw_fd(), libc::TUN_F_CSUM | libc::TUN_F_TSO4) {
                Ok(()) => {
                    offload = Offload {
                        csum: true,
                        tso: true,
                    }
                }
                Err(e) => match set_offload(dev.as_raw_fd(), libc::TUN_F_CSUM) {
                    Ok(()) => {
                        offload.csum = true;
                        offload_refused = Some(format!("TSO4 refused: {e}"));
                    }
                    Err(e) => offload_refused = Some(format!("TUNSETOFFLOAD refused: {e}")),
                },
            }
        } else {
            // Plain frames: no offload either, also on a persistent tap an earlier opener
            // left with some (the kernel would then hand over coalesced segments and
            // partial checksums with no header to say so). A refusal changes nothing: a
            // tap that never had offloads has none.
            let _ = set_offload(dev.as_raw_fd(), 0);
        }
        dev.set_nonblock()
            .map_err(|e| classify(&name, tun::Error::Io(e)))?;
        let queue_refused = if vnet {
            None
        } else {
            raise_queue_len(&name, PLAIN_QUEUE_LEN)
                .err()
                .map(|e| format!("its queue stays as it was: {e}"))
        };
        let mtu = dev.mtu().map(usize::from).unwrap_or(1500);
        if cfg.host_addr.is_some() {
            // The kernel side talks IPv6 (DAD, MLD, RS) as soon as the link is up; the stack
            // ignores those frames anyway, so stop them at the source where we may.
            let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
            let _ = std::fs::write(path, "1");
        }
        let fd = dev.as_raw_fd();
        // Only for plain frames: with offloads a frame is up to 64 KB, few cross per wake-up,
        // and copying each out of the ring's buffer cost more than the system calls saved
        // (offloaded kernel-to-stack fell from 14 to 10 Gbit/s; BENCHMARKS.md).
        let (rx_ring, tx_ring, uring_refused) = if cfg.uring && !vnet {
            // Room for the largest frame the kernel may hand over, one byte more to tell a
            // truncated read (as the driver's own buffers).
            let size = MAX_READ;
            let rx = if cfg.uring_rx {
                RxRing::new(fd, URING_RX_BATCH, size).map(Some)
            } else {
                Ok(None)
            };
            match (rx, TxRing::new(fd, URING_TX_BATCH)) {
                (Ok(rx), Ok(tx)) => (rx.map(Mutex::new), Some(Mutex::new(tx)), None),
                (Err(e), _) | (_, Err(e)) => (None, None, Some(format!("io_uring refused: {e}"))),
            }
        } else {
            (None, None, None)
        };
        Ok(TapDevice {
            rx_ring,
            tx_ring,
            uring_refused,
            stop: new_eventfd(),
            dev,
            info: DeviceInfo {
                name,
                mtu,
                mac: cfg.mac,
                loopback: false,
                offload,
            },
            vnet,
            offload_refused,
            queue_refused,
        })
    }

    /// Why a tap of plain frames kept a shorter queue than [`PLAIN_QUEUE_LEN`], if it did:
    /// the caller says so once.
    pub fn queue_refused(&self) -> Option<&str> {
        self.queue_refused.as_deref()
    }

    /// Why the offloads asked for are (partly) off, if they are: the caller says so once.
    pub fn offload_refused(&self) -> Option<&str> {
        self.offload_refused.as_deref()
    }

    /// Why io_uring was asked for and is not used, if so: the caller says so once.
    pub fn uring_refused(&self) -> Option<&str> {
        self.uring_refused.as_deref()
    }

    /// One non-blocking read of a packet: the vnet header (when the tap has one) into `hdr`,
    /// the frame into `buf`. `Ok(None)` when nothing is ready; else the packet's length,
    /// more than `hdr` and `buf` hold when the frame was longer than `buf`.
    fn read_once(&self, hdr: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<Option<usize>> {
        if let Some(ring) = &self.rx_ring {
            let mut ring = ring.lock();
            if !ring.is_dead() {
                let vnet = self.vnet;
                return ring.next(|pkt| split_packet(pkt, vnet, hdr, buf));
            }
        }
        let r = if self.vnet {
            read_iov(self.dev.as_raw_fd(), hdr, buf)
        } else if buf.len() > MAX_FRAME {
            // Room for any frame but tagged ones (the rx thread's buffer): one plain `read`,
            // whose iovec costs the kernel less than three; only a frame longer than any
            // untagged one fills the buffer, and is taken for one longer than it.
            read_plain(self.dev.as_raw_fd(), buf).map(|n| if n == buf.len() { n + 1 } else { n })
        } else {
            read_iov(self.dev.as_raw_fd(), &mut [], buf)
        };
        match r {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read one packet, waiting at most `timeout` (`poll` only when nothing is ready).
    /// Returns the bytes read, the vnet header included.
    fn read_raw(
        &self,
        hdr: &mut [u8; VNET_HDR_LEN],
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<usize>> {
        if let Some(n) = self.read_once(hdr, buf)? {
            return Ok(Some(n));
        }
        let stop = self.stop.as_ref().map(|f| f.as_raw_fd());
        if timeout.is_zero() || !wait_readable(self.dev.as_raw_fd(), stop, timeout)? {
            return Ok(None);
        }
        // Another reader may have taken the frame between poll and read: then None.
        self.read_once(hdr, buf)
    }
}

/// The largest packet read, one byte more than the largest frame to tell a truncated one.
const MAX_READ: usize = MAX_FRAME + 1;

/// Copy a packet read whole (`pkt`) as `readv` into `hdr` then `buf` would have placed it:
/// the vnet header (when the tap has one) into `hdr`, the frame into `buf`, cut to fit.
/// Returns the packet's length (more than `hdr` and `buf` hold when it did not fit).
fn split_packet(pkt: &[u8], vnet: bool, hdr: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> usize {
    let h = if vnet { pkt.len().min(VNET_HDR_LEN) } else { 0 };
    hdr[..h].copy_from_slice(&pkt[..h]);
    let frame = &pkt[h..];
    let n = frame.len().min(buf.len());
    buf[..n].copy_from_slice(&frame[..n]);
    pkt.len()
}

/// Read one packet into `hdr`, then `buf`, then one spare byte (one `readv`), so the frame
/// lands at `buf[0]` and a frame longer than `buf` reads more than `hdr` and `buf` hold
/// (a TAP cuts a frame to the room it is given without saying so).
#[allow(unsafe_code)]
fn read_iov(fd: std::os::fd::RawFd, hdr: &mut [u8], buf: &mut [u8]) -> io::Result<usize> {
    let mut spare = [0u8; 1];
    let iov = [
        libc::iovec {
            iov_base: hdr.as_mut_ptr() as *mut libc::c_void,
            iov_len: hdr.len(),
        },
        libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        },
        libc::iovec {
            iov_base: spare.as_mut_ptr() as *mut libc::c_void,
            iov_len: spare.len(),
        },
    ];
    // SAFETY: the iovecs point into slices and an array mutably borrowed for the duration
    // of the call, with their exact lengths, so the kernel writes only into memory we own.
    // `fd` is open.
    let n = unsafe { libc::readv(fd, iov.as_ptr(), 3) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One plain `read(2)` of a packet into `buf` (the `tun` crate's reader zero-fills a stack
/// buffer of its own on every call, about 1% of the rx thread at full rate), made with
/// `syscall`: glibc's `read` is a cancellation point, and turns asynchronous cancellation
/// on and off around every call (two atomic updates of the thread's state, 2.4% of the
/// samples of a plain-frame receive), which no thread here uses.
#[allow(unsafe_code)]
fn read_plain(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is mutably borrowed for the duration of the call and its exact length
    // is passed, so the kernel writes only into memory we own. `fd` is open. The raw
    // system call takes the same three arguments as read(2), each of the width the kernel
    // reads (an int, a pointer and a size_t passed as c_long), and returns -1 with errno
    // set on failure as the wrapper does.
    let n = unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A non-blocking eventfd, or `None` if the kernel refuses one.
#[allow(unsafe_code)]
fn new_eventfd() -> Option<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new descriptor that nothing else owns: `OwnedFd` closes it once.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Wait until `fd` is readable, `stop` (an eventfd) has been written, or `timeout` passes
/// (`Duration::MAX`: no timeout); true when `fd` is readable.
#[allow(unsafe_code)]
fn wait_readable(
    fd: std::os::fd::RawFd,
    stop: Option<std::os::fd::RawFd>,
    timeout: Duration,
) -> io::Result<bool> {
    let poll = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut p = [poll(fd), poll(stop.unwrap_or(-1))];
    let count: libc::nfds_t = if stop.is_some() { 2 } else { 1 };
    let ms = if timeout == Duration::MAX {
        -1
    } else {
        libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX)
    };
    // SAFETY: the first `count` pollfds of an array owned by this frame; the descriptors
    // among them are open (the caller's tap and, when given, its eventfd).
    let r = unsafe { libc::poll(p.as_mut_ptr(), count, ms) };
    match r {
        n if n > 0 => Ok(p[0].revents != 0),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

impl Device for TapDevice {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    #[allow(unsafe_code)]
    fn arm_recv_interrupt(&self) -> bool {
        let Some(fd) = &self.stop else {
            return false;
        };
        let mut count = [0u8; 8];
        // SAFETY: an 8-byte buffer owned by this frame, as eventfd's read takes; the
        // descriptor is open while `self` lives. Non-blocking: with the counter at zero it
        // fails with EAGAIN, which is what is wanted (nothing to clear).
        let _ = unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
        true
    }

    #[allow(unsafe_code)]
    fn interrupt_recv(&self) {
        if let Some(fd) = &self.stop {
            let one = 1u64.to_ne_bytes();
            // SAFETY: an 8-byte buffer owned by this frame, as eventfd's write takes; the
            // descriptor is open while `self` lives. Non-blocking: it cannot wait (the
            // counter, raised by one per call, is far from overflowing); its result does not
            // matter, the reader polls for the counter being non-zero.
            let _ = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
    }

    /// A plain frame: a partial checksum the kernel left is completed here, so whoever reads
    /// frames without metadata sees them as they would be on a wire.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let Some((n, meta)) = self.recv_meta(buf, timeout)? else {
            return Ok(None);
        };
        if let Csum::Partial { start, offset } = meta.csum {
            complete_checksum(&mut buf[..n], start, offset);
        }
        Ok(Some(n))
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_meta(frame, &FrameMeta::default())
    }

    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let Some(n) = self.read_raw(&mut hdr, buf, timeout)? else {
            return Ok(None);
        };
        let h = if self.vnet { VNET_HDR_LEN } else { 0 };
        let Some(len) = n.checked_sub(h) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "tap read shorter than its virtio_net_hdr",
            ));
        };
        if len > buf.len() {
            // Cut by the kernel: neither handed over nor its checksum completed.
            return Err(crate::FrameTooLong::error(len, buf.len()));
        }
        if !self.vnet {
            return Ok(Some((n, FrameMeta::default())));
        }
        Ok(Some((len, FrameMeta::decode(&hdr, len)?)))
    }

    fn io_path(&self) -> &'static str {
        match (&self.rx_ring, &self.tx_ring) {
            (Some(r), _) if !r.lock().is_dead() => "uring",
            (_, Some(t)) if t.lock().batch() > 0 => "uring-tx",
            _ => "rw",
        }
    }

    /// Through io_uring, up to [`URING_TX_BATCH`] frames per system call, in order.
    fn send_meta_batch(
        &self,
        frames: &[(&[u8], FrameMeta)],
        done: &mut dyn FnMut(usize, io::Result<()>),
    ) {
        let Some(ring) = &self.tx_ring else {
            for (i, (frame, meta)) in frames.iter().enumerate() {
                done(i, self.send_meta(frame, meta));
            }
            return;
        };
        let mut ring = ring.lock();
        let mut start = 0;
        let mut parts: Vec<(&[u8], &[u8])> = Vec::with_capacity(URING_TX_BATCH);
        let hdrs: Vec<[u8; VNET_HDR_LEN]> = if self.vnet {
            frames.iter().map(|(_, m)| m.encode()).collect()
        } else {
            Vec::new()
        };
        while start < frames.len() {
            let batch = ring.batch();
            if batch == 0 {
                // The ring failed: one write each from here on.
                for (i, (frame, meta)) in frames.iter().enumerate().skip(start) {
                    done(i, self.send_meta(frame, meta));
                }
                return;
            }
            let end = (start + batch).min(frames.len());
            parts.clear();
            let mut refused = Vec::new();
            let mut index = Vec::with_capacity(end - start);
            for i in start..end {
                let (frame, meta) = &frames[i];
                if self.vnet {
                    parts.push((&hdrs[i][..], frame));
                } else if meta.is_plain() {
                    parts.push((&[][..], frame));
                } else {
                    refused.push(i);
                    continue;
                }
                index.push(i);
            }
            for i in refused {
                done(
                    i,
                    Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "tap opened without offloads",
                    )),
                );
            }
            ring.write_batch(&parts, |k, r| {
                let i = index[k];
                let want = parts[k].0.len() + parts[k].1.len();
                done(
                    i,
                    match r {
                        Ok(n) if n == want => Ok(()),
                        Ok(_) => Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "short write to tap",
                        )),
                        Err(e) => Err(e),
                    },
                );
            });
            start = end;
        }
    }

    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        let (n, want) = if self.vnet {
            let hdr = meta.encode();
            (
                write_two(self.dev.as_raw_fd(), &hdr, frame)?,
                VNET_HDR_LEN + frame.len(),
            )
        } else if meta.is_plain() {
            (self.dev.send(frame)?, frame.len())
        } else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tap opened without offloads",
            ));
        };
        if n != want {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to tap",
            ));
        }
        Ok(())
    }
}

/// The program running, for the hint of a permission error (the shell, an example, an
/// application of the socket API).
fn running_program() -> String {
    std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .or_else(|| std::env::args().next())
        .unwrap_or_else(|| "PROGRAM".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_hint_names_the_running_program() {
        let e = TapError::PermissionDenied("tap9".into()).to_string();
        let me = std::env::current_exe().unwrap().display().to_string();
        assert!(e.contains(&format!("setcap cap_net_admin+ep {me})")), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn a_packet_read_whole_is_split_as_readv_would() {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let mut buf = [0u8; 4];
        let pkt: Vec<u8> = (1..=VNET_HDR_LEN as u8 + 2).collect();
        assert_eq!(
            split_packet(&pkt, true, &mut hdr, &mut buf),
            VNET_HDR_LEN + 2
        );
        assert_eq!(
            (&hdr[..], &buf[..2]),
            (&pkt[..VNET_HDR_LEN], &pkt[VNET_HDR_LEN..])
        );
        // Longer than the buffer: what fits is copied, and the packet's whole length says
        // it did not fit (`recv_meta` then refuses it).
        assert_eq!(split_packet(&pkt, false, &mut hdr, &mut buf), pkt.len());
        assert_eq!(buf, [1, 2, 3, 4]);
        // Shorter than a vnet header: all of it in `hdr`, for the caller to refuse.
        assert_eq!(split_packet(&pkt[..5], true, &mut hdr, &mut buf), 5);
        assert_eq!(hdr[..5], pkt[..5]);
    }

    #[test]
    fn the_requests_and_the_header_size_are_the_kernels() {
        // <linux/if_tun.h>: TUNSETVNETHDRSZ = _IOW('T', 216, int), TUNSETOFFLOAD =
        // _IOW('T', 208, unsigned int); <linux/sockios.h>: SIOC[GS]IFTXQLEN = 0x8942/3.
        assert_eq!(libc::TUNSETVNETHDRSZ, 0x4004_54d8);
        // TUNSETVNETLE = _IOW('T', 220, int).
        assert_eq!(libc::TUNSETVNETLE, 0x4004_54dc);
        assert_eq!(libc::TUNSETOFFLOAD, 0x4004_54d0);
        assert_eq!((SIOCGIFTXQLEN, SIOCSIFTXQLEN), (0x8942, 0x8943));
        // The size set is the one parsed: struct virtio_net_hdr, 10 bytes.
        assert_eq!(VNET_HDR_LEN, 10);
        // Not a tap: the kernel refuses the request (ENOTTY), an error and no more.
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = set_vnet_hdr_len(f.as_raw_fd(), VNET_HDR_LEN).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "{e}");
        let e = set_vnet_hdr_len(f.as_raw_fd(), usize::MAX).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = set_vnet_le(f.as_raw_fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "{e}");
    }

    #[test]
    fn names_and_masks() {
        assert!(valid_ifname("tap0"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname("has space"));
        assert!(!valid_ifname("sixteen-chars-xx"));
        // Linux's dev_valid_name refuses these (found by a review).
        assert!(!valid_ifname("."));
        assert!(!valid_ifname(".."));
        assert!(valid_ifname("..."));
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
    }
}
