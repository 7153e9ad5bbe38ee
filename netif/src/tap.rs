//! A Linux TAP device (Layer 2) opened through the `tun` crate.

use crate::{Device, DeviceInfo, MacAddr};
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;
use tun::AbstractDevice;

/// How to open a TAP device.
#[derive(Clone, Debug)]
pub struct TapConfig {
    /// Interface name; created if it does not exist.
    pub name: String,
    /// The stack's MAC address on this link (the kernel side keeps its own).
    pub mac: MacAddr,
    /// Kernel side of the tap: when set, the tap gets this address and is brought up (TOP2).
    /// When `None` the kernel side is left alone (TOP1: the tap is bridged to a LAN).
    pub host_addr: Option<(Ipv4Addr, u8)>,
}

/// Why a TAP device could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error(
        "no permission to open /dev/net/tun for tap '{0}': run as root or grant CAP_NET_ADMIN (e.g. sudo setcap cap_net_admin+ep $(which tapip))"
    )]
    PermissionDenied(String),
    #[error("/dev/net/tun does not exist: load the tun module (modprobe tun)")]
    NoTunDevice,
    #[error("invalid tap name '{0}': at most 15 bytes, no '/', ':' or spaces")]
    BadName(String),
    #[error("tap '{name}' is busy (another process holds it?): {source}")]
    Busy { name: String, source: io::Error },
    #[error("cannot open tap '{name}': {source}")]
    Other { name: String, source: io::Error },
}

pub struct TapDevice {
    dev: tun::Device,
    info: DeviceInfo,
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
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
        let dev = tun::create(&c).map_err(|e| classify(&cfg.name, e))?;
        let mtu = dev.mtu().map(usize::from).unwrap_or(1500);
        if cfg.host_addr.is_some() {
            // The kernel side talks IPv6 (DAD, MLD, RS) as soon as the link is up; the stack
            // ignores those frames anyway, so stop them at the source where we may.
            let path = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", cfg.name);
            let _ = std::fs::write(path, "1");
        }
        Ok(TapDevice {
            dev,
            info: DeviceInfo {
                name: cfg.name.clone(),
                mtu,
                mac: cfg.mac,
                loopback: false,
            },
        })
    }
}

impl Device for TapDevice {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        match self.dev.recv_timeout(buf, timeout) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        let n = self.dev.send(frame)?;
        if n != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to tap",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masks() {
        assert!(valid_ifname("tap0"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname("has space"));
        assert!(!valid_ifname("sixteen-chars-xx"));
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
    }
}
