//! One call from nothing to a running stack: [`StackBuilder`].
//!
//! A program names the link (a TAP device, any other [`Device`], or none), its address,
//! the kernel side's address (TOP2) or none (TOP1), a gateway, a MAC and an MTU, and gets a
//! [`Stack`] whose interfaces are up and whose routes are in place. Every stack has the
//! loopback interface `lo` at 127.0.0.1/8, through which datagrams to the stack's own
//! addresses go too.

use crate::runtime::{Stack, StackConfig};
use ip::Ipv4Cidr;
use netif::{Device, DriverConfig, MacAddr, MemoryLink, TapConfig, TapDevice, TapError};
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The MAC the stack uses on a TAP unless told otherwise (the shell's default too).
pub const DEFAULT_MAC: MacAddr = MacAddr([0x00, 0x34, 0x45, 0x67, 0x89, 0xab]);

/// Which link the stack gets besides loopback.
enum Link {
    /// A TAP device, opened (or created) by name.
    Tap(String),
    /// A device the caller made (an in-memory link, a wrapped TAP...).
    Device(Arc<dyn Device>),
    /// Loopback only.
    None,
}

type TapHook = Box<dyn FnOnce(&mut TapConfig) + Send>;

/// Builds a running [`Stack`] in one call.
///
/// The defaults are the shell's TOP2 set-up: TAP `tap0`, the stack at 10.0.0.1/24 with
/// MAC 00:34:45:67:89:ab, the kernel's side of the tap at 10.0.0.2/24, no gateway,
/// offloads on.
/// Addresses are given as text (`"10.0.0.1/24"`) or as values that print that way
/// ([`Ipv4Addr`], [`Ipv4Cidr`], [`MacAddr`]); [`build`](StackBuilder::build) checks
/// them all and says which one is wrong.
///
/// ```no_run
/// // As root: a stack on tap1 at 10.0.1.1/24, the kernel at 10.0.1.2/24 and its gateway.
/// let stack = socket_api::StackBuilder::new()
///     .tap("tap1")
///     .addr("10.0.1.1/24")
///     .host_addr("10.0.1.2/24")
///     .gateway("10.0.1.2")
///     .build()?;
/// # stack.shutdown();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StackBuilder {
    link: Link,
    addr: String,
    host_addr: Option<String>,
    gateway: Option<String>,
    mac: String,
    mtu: Option<usize>,
    offload: bool,
    uring: bool,
    uring_rx: bool,
    config: StackConfig,
    /// `forwarding` and `exit_linger`, kept apart so that a later `config` keeps them.
    forwarding: Option<bool>,
    exit_linger: Option<std::time::Duration>,
    tap_hook: Option<TapHook>,
    dhcp: bool,
    dns: Vec<String>,
}

impl Default for StackBuilder {
    fn default() -> Self {
        StackBuilder::new()
    }
}

impl StackBuilder {
    /// The TOP2 defaults (see the type's documentation).
    pub fn new() -> StackBuilder {
        StackBuilder {
            link: Link::Tap("tap0".to_string()),
            addr: "10.0.0.1/24".to_string(),
            host_addr: Some("10.0.0.2/24".to_string()),
            gateway: None,
            mac: DEFAULT_MAC.to_string(),
            mtu: None,
            offload: true,
            uring: true,
            uring_rx: false,
            config: StackConfig::default(),
            forwarding: None,
            exit_linger: None,
            tap_hook: None,
            dhcp: false,
            dns: Vec::new(),
        }
    }

    /// Use the TAP device `name` (created when it does not exist). Opening one needs
    /// CAP_NET_ADMIN (root).
    pub fn tap(mut self, name: impl Into<String>) -> StackBuilder {
        self.link = Link::Tap(name.into());
        self
    }

    /// Use `device` instead of a TAP: an end of an in-memory link
    /// ([`MemoryLink::pair`]), or any device wrapped in a tracer, pcap writer or fault
    /// injector. The kernel-side address ([`host_addr`](StackBuilder::host_addr)) only
    /// applies to a TAP.
    pub fn device(mut self, device: Arc<dyn Device>) -> StackBuilder {
        self.link = Link::Device(device);
        self
    }

    /// No link at all: only loopback (127.0.0.1/8). Needs no privileges; what the doc
    /// tests and many unit tests use.
    pub fn loopback_only(mut self) -> StackBuilder {
        self.link = Link::None;
        self
    }

    /// The stack's address and prefix on the link, e.g. `"10.0.0.1/24"` (a bare address
    /// means /24, as the shell's `--addr`); a network's own address or its broadcast is
    /// refused. The connected route follows from it.
    pub fn addr(mut self, cidr: impl ToString) -> StackBuilder {
        self.addr = cidr.to_string();
        self
    }

    /// Learn the link's address, network, default route and MTU from a DHCP server
    /// ([`Stack::start_dhcp`]) instead of [`addr`](StackBuilder::addr) and
    /// [`gateway`](StackBuilder::gateway): the link comes up with no address and takes the
    /// lease when it comes ([`Stack::wait_for_lease`] waits for it).
    pub fn dhcp(mut self) -> StackBuilder {
        self.dhcp = true;
        self
    }

    /// A DNS server for [`Stack::resolve`], e.g. `"10.0.0.2"` (call again for more, three
    /// at most); asked before any a DHCP lease names.
    pub fn dns(mut self, ip: impl ToString) -> StackBuilder {
        self.dns.push(ip.to_string());
        self
    }

    /// The kernel's side of the TAP (TOP2): the tap gets this address and is brought up.
    pub fn host_addr(mut self, cidr: impl ToString) -> StackBuilder {
        self.host_addr = Some(cidr.to_string());
        self
    }

    /// Leave the kernel's side of the TAP alone (TOP1: the tap is bridged to a LAN, and the
    /// stack is a host of its own there).
    pub fn no_host_config(mut self) -> StackBuilder {
        self.host_addr = None;
        self
    }

    /// The default route's gateway, e.g. `"10.0.0.2"` (the kernel, in TOP2) or the LAN's
    /// router (TOP1). It must lie in the stack's network.
    pub fn gateway(mut self, ip: impl ToString) -> StackBuilder {
        self.gateway = Some(ip.to_string());
        self
    }

    /// The stack's MAC on a TAP, e.g. `"02:00:00:00:00:01"`; a unicast address.
    /// (A [`device`](StackBuilder::device) brings its own MAC.)
    pub fn mac(mut self, mac: impl ToString) -> StackBuilder {
        self.mac = mac.to_string();
        self
    }

    /// The link's MTU, from 68 up to what the device carries (1500 on a plain TAP).
    pub fn mtu(mut self, mtu: usize) -> StackBuilder {
        self.mtu = Some(mtu);
        self
    }

    /// Checksum and segmentation offloads on the TAP (`IFF_VNET_HDR` + `TUNSETOFFLOAD`):
    /// on by default, as in the shell; the tap falls back to plain frames when the kernel
    /// refuses them. `false` is the shell's `--no-offload`.
    pub fn offload(mut self, on: bool) -> StackBuilder {
        self.offload = on;
        self
    }

    /// Write batches of plain frames to the TAP through io_uring, many frames per system
    /// call: on by default, as in the shell; one `write` per frame when the kernel refuses
    /// io_uring. `false` is the shell's `--no-uring`.
    pub fn uring(mut self, on: bool) -> StackBuilder {
        self.uring = on;
        self
    }

    /// With [`StackBuilder::uring`], read plain frames through io_uring too (the shell's
    /// `--uring-rx`); off by default, as `read` cost less per frame where it was measured
    /// (`netif::TapConfig::uring_rx`).
    pub fn uring_rx(mut self, on: bool) -> StackBuilder {
        self.uring_rx = on;
        self
    }

    /// Settings of the protocol layers and the runtime (buffer sizes, TCP timers, queue
    /// bounds); [`StackConfig::default`] otherwise. The builder always adds loopback.
    /// `forwarding` and `exit_linger`, called before or after, win over its fields.
    pub fn config(mut self, config: StackConfig) -> StackBuilder {
        self.config = config;
        self
    }

    /// Forward datagrams addressed to other hosts (a router; the shell's `--forward`): off
    /// by default, as RFC 1122 3.1 asks of a host.
    pub fn forwarding(mut self, on: bool) -> StackBuilder {
        self.forwarding = Some(on);
        self
    }

    /// How long the end of the program waits for TCP connections to deliver what they
    /// queued ([`Stack::exit_linger`]): 10 s by default, zero to reset them at once.
    pub fn exit_linger(mut self, limit: std::time::Duration) -> StackBuilder {
        self.exit_linger = Some(limit);
        self
    }

    /// Adjust the [`TapConfig`] the builder opens the TAP with, after it has filled in
    /// the name, MAC, kernel-side address and offload switch: for the device's switches
    /// beyond those.
    pub fn tap_config(mut self, f: impl FnOnce(&mut TapConfig) + Send + 'static) -> StackBuilder {
        self.tap_hook = Some(Box::new(f));
        self
    }

    /// Check the settings, open the device, start the stack and configure it: loopback
    /// up at 127.0.0.1/8, the link up with its address, MTU and default route.
    ///
    /// Errors are one line naming the setting: `InvalidInput` for a malformed or
    /// unusable address, MAC or MTU, `PermissionDenied` when the TAP cannot be opened
    /// without CAP_NET_ADMIN, and the TAP's own error otherwise.
    pub fn build(self) -> io::Result<Stack> {
        // As the shell's --addr: a bare address is a /24, a network's own address or
        // broadcast is refused.
        let addr = Ipv4Cidr::parse_host(&self.addr, 24)
            .map_err(|e| invalid(format!("address '{}': {e}", self.addr)))?;
        let gateway: Option<Ipv4Addr> = self
            .gateway
            .as_deref()
            .map(|g| parse("gateway", g))
            .transpose()?;
        let host_addr: Option<Ipv4Cidr> = self
            .host_addr
            .as_deref()
            .map(|h| parse("kernel-side address", h))
            .transpose()?;
        let dns = self
            .dns
            .iter()
            .map(|d| parse::<Ipv4Addr>("DNS server", d))
            .collect::<io::Result<Vec<_>>>()?;
        if dns.len() > crate::dns::MAX_SERVERS {
            return Err(invalid(format!(
                "DNS servers: {} given, at most {} are asked",
                dns.len(),
                crate::dns::MAX_SERVERS
            )));
        }
        let mac: MacAddr = parse("MAC", &self.mac)?;
        if !mac.is_unicast() {
            return Err(invalid(format!("MAC {mac}: not a unicast address")));
        }
        if let (Some(h), Link::Tap(_)) = (host_addr, &self.link) {
            if h.addr() == addr.addr() && !self.dhcp {
                return Err(invalid(format!(
                    "kernel-side address {h}: the same as the stack's"
                )));
            }
            // The two ends of the tap talk on one link: each needs the other on its
            // network, as a host of it (not its broadcast address).
            if !self.dhcp && (!addr.contains(h.addr()) || addr.broadcast() == Some(h.addr())) {
                return Err(invalid(format!(
                    "kernel-side address {h}: not a host of the stack's network {}",
                    addr.network()
                )));
            }
            if !self.dhcp && (!h.contains(addr.addr()) || h.broadcast() == Some(addr.addr())) {
                return Err(invalid(format!(
                    "address {addr}: not a host of the kernel side's network {}",
                    h.network()
                )));
            }
        }
        match &self.link {
            Link::Device(d) if d.info().loopback => {
                return Err(invalid(format!(
                    "device {}: a loopback device (every stack has `lo` already)",
                    d.info().name
                )))
            }
            Link::None if self.dhcp => {
                return Err(invalid("DHCP: no link to run it on".to_string()))
            }
            _ if self.dhcp && gateway.is_some() => {
                return Err(invalid(
                    "gateway: with DHCP the lease names the router".to_string(),
                ))
            }
            Link::None if gateway.is_some() => {
                return Err(invalid(format!(
                    "gateway {}: no link to reach it on",
                    self.gateway.as_deref().unwrap_or_default()
                )))
            }
            _ => {}
        }
        let device: Option<Arc<dyn Device>> = match self.link {
            Link::Tap(name) => {
                let mut cfg = TapConfig {
                    name,
                    mac,
                    host_addr: host_addr.map(|h| (h.addr(), h.prefix())),
                    offload: self.offload,
                    uring: self.uring,
                    uring_rx: self.uring_rx,
                };
                if let Some(hook) = self.tap_hook {
                    hook(&mut cfg);
                }
                Some(Arc::new(TapDevice::open(&cfg).map_err(tap_error)?))
            }
            Link::Device(d) => Some(d),
            Link::None => None,
        };
        let mut config = self.config;
        config.loopback = true;
        if let Some(on) = self.forwarding {
            config.ip.forwarding = on;
        }
        if let Some(limit) = self.exit_linger {
            config.exit_linger = limit;
        }
        let driver = config.driver;
        let stack = Stack::new(config)?;
        // Anything failing from here on must not leave the stack's threads running.
        let guard = ShutdownOnError {
            stack: stack.clone(),
            armed: true,
        };
        stack.set_dns_servers(&dns);
        if let Some(device) = device {
            let ifindex = stack.add_device(device, driver)?;
            stack.with_core(|c, now| -> io::Result<()> {
                if let Some(mtu) = self.mtu {
                    c.ip.set_mtu(ifindex, mtu)
                        .map_err(|e| invalid(format!("MTU {mtu}: {e}")))?;
                }
                if !self.dhcp {
                    c.ip.set_address(ifindex, Some(addr), now)
                        .map_err(|e| invalid(format!("address {addr}: {e}")))?;
                }
                c.ip.set_up(ifindex, true, now)
                    .map_err(|e| invalid(e.to_string()))?;
                if let Some(gw) = gateway {
                    let default = Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0)
                        .ok_or_else(|| invalid("0.0.0.0/0".to_string()))?;
                    c.ip.add_route(default, Some(gw), Some(ifindex))
                        .map_err(|e| invalid(format!("gateway {gw}: {e}")))?;
                }
                Ok(())
            })?;
            if self.dhcp {
                stack.start_dhcp_on(ifindex)?;
            }
        }
        guard.defuse();
        Ok(stack)
    }
}

/// Shuts the stack down when dropped armed: a half-configured stack does not outlive
/// `build`.
struct ShutdownOnError {
    stack: Stack,
    armed: bool,
}

impl ShutdownOnError {
    fn defuse(mut self) {
        self.armed = false;
    }
}

impl Drop for ShutdownOnError {
    fn drop(&mut self) {
        if self.armed {
            self.stack.shutdown();
        }
    }
}

/// Add the loopback interface `lo` (127.0.0.1/8, up) to a stack that has none yet.
/// Datagrams to the stack's own addresses on other interfaces go through it as well.
pub(crate) fn add_loopback(stack: &Stack, driver: DriverConfig) -> io::Result<usize> {
    let lo = stack.add_device(Arc::new(MemoryLink::loopback()), driver)?;
    let net = Ipv4Cidr::new(Ipv4Addr::LOCALHOST, 8)
        .ok_or_else(|| io::Error::other("127.0.0.1/8 is not a valid network"))?;
    stack.with_core(|c, now| -> io::Result<()> {
        c.ip.set_address(lo, Some(net), now)
            .map_err(|e| io::Error::other(format!("loopback address: {e}")))?;
        c.ip.set_up(lo, true, now)
            .map_err(|e| io::Error::other(format!("loopback up: {e}")))
    })?;
    Ok(lo)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn parse<T>(what: &str, s: &str) -> io::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| invalid(format!("{what} '{s}': {e}")))
}

fn tap_error(e: TapError) -> io::Error {
    let kind = match e {
        TapError::PermissionDenied(_) => io::ErrorKind::PermissionDenied,
        TapError::NoTunDevice => io::ErrorKind::NotFound,
        TapError::BadName(_) | TapError::NotATap(_) => io::ErrorKind::InvalidInput,
        TapError::Busy { .. } => io::ErrorKind::ResourceBusy,
        TapError::Other { .. } => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TcpListener, TcpStream};
    use std::io::{Read, Write};
    use std::time::Duration;

    fn mac(last: u8) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, last])
    }

    /// One end of an in-memory link for the stack under test, and the far end to watch.
    fn link() -> (Arc<MemoryLink>, MemoryLink) {
        let (a, b) = MemoryLink::pair(("eth0", mac(1)), ("peer", mac(2)), 1500, 1024);
        (Arc::new(a), b)
    }

    /// An echo server on `listen`, a client connecting to `target`: the bytes come back.
    fn echo_through(stack: &Stack, listen: &str, target: &str) {
        let listener = TcpListener::bind(stack, listen).expect("bind");
        let server = std::thread::spawn(move || {
            let (mut c, peer) = listener.accept().expect("accept");
            let mut buf = [0u8; 100];
            let n = c.read(&mut buf).expect("server read");
            c.write_all(&buf[..n]).expect("server write");
            peer
        });
        let mut c = TcpStream::connect(stack, target).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).expect("echo");
        assert_eq!(&back, b"ping");
        let peer = server.join().expect("server thread");
        assert_eq!(peer, c.local_addr().unwrap());
    }

    /// `forwarding` and `exit_linger` hold whatever the order of the calls: a `config`
    /// after them (a whole `StackConfig`) does not take them back to its defaults.
    #[test]
    fn settings_survive_a_later_config() {
        let stack = StackBuilder::new()
            .loopback_only()
            .forwarding(true)
            .exit_linger(Duration::from_secs(3))
            .config(StackConfig::default())
            .build()
            .unwrap();
        let forwarding = stack.with_core(|c, _| c.ip.forwarding());
        let linger = stack.exit_linger();
        stack.shutdown();
        assert!(forwarding, "forwarding was lost");
        assert_eq!(linger, Duration::from_secs(3));
    }

    #[test]
    fn loopback_only_stack_talks_to_127_0_0_1() {
        let stack = StackBuilder::new().loopback_only().build().unwrap();
        echo_through(&stack, "127.0.0.1:7", "127.0.0.1:7");
        // Anywhere in 127/8 is this host, as on Linux.
        echo_through(&stack, "0.0.0.0:8", "127.0.0.9:8");
        let ifaces = stack.with_core(|c, _| c.ip.interfaces());
        assert_eq!(ifaces.len(), 1);
        assert!(ifaces[0].loopback && ifaces[0].up);
        stack.shutdown();
    }

    #[test]
    fn stack_reaches_its_own_address_without_arp() {
        let (dev, peer) = link();
        // A bare address is a /24, as the shell's --addr.
        let stack = StackBuilder::new()
            .device(dev)
            .addr("10.0.0.1")
            .build()
            .unwrap();
        let ifaces = stack.with_core(|c, _| c.ip.interfaces());
        assert!(ifaces.iter().any(|i| i.addr == "10.0.0.1/24".parse().ok()));
        echo_through(&stack, "0.0.0.0:7777", "10.0.0.1:7777");
        echo_through(&stack, "10.0.0.1:7778", "10.0.0.1:7778");
        echo_through(&stack, "0.0.0.0:7779", "127.0.0.1:7779");
        // Nothing asked the link who 10.0.0.1 is: the datagrams went through `lo`.
        let arp = stack.with_core(|c, now| c.ip.arp_entries(now));
        assert!(arp.is_empty(), "{arp:?}");
        let mut frame = [0u8; 2048];
        while let Ok(Some(n)) = peer.recv(&mut frame, Duration::from_millis(10)) {
            // Only the gratuitous ARP of the address coming up may have left.
            assert_eq!(
                &frame[12..14],
                &[0x08, 0x06],
                "unexpected frame of {n} bytes"
            );
        }
        stack.shutdown();
    }

    #[test]
    fn stack_new_starts_with_loopback_and_reaches_its_own_address() {
        // The long way of the issue's report: Stack::new, a device, an address.
        let stack = Stack::new(StackConfig::default()).unwrap();
        let (dev, _peer) = link();
        let ifindex = stack.add_device(dev, DriverConfig::default()).unwrap();
        assert_eq!(ifindex, 1, "lo is interface 0");
        stack.with_core(|c, now| {
            c.ip.set_address(ifindex, "10.0.0.1/24".parse().ok(), now)
                .unwrap();
            c.ip.set_up(ifindex, true, now).unwrap();
        });
        echo_through(&stack, "0.0.0.0:7777", "10.0.0.1:7777");
        echo_through(&stack, "0.0.0.0:7778", "127.0.0.1:7778");
        stack.shutdown();

        let bare = Stack::new(StackConfig {
            loopback: false,
            ..StackConfig::default()
        })
        .unwrap();
        assert!(bare.with_core(|c, _| c.ip.interfaces()).is_empty());
        bare.shutdown();
    }

    #[test]
    fn a_loopback_the_caller_adds_takes_the_place_of_the_stacks_own() {
        // The shell's way: Stack::new, then a loopback of its own, configured by hand.
        let stack = Stack::new(StackConfig::default()).unwrap();
        let lo = Arc::new(MemoryLink::loopback());
        let ifindex = stack
            .add_device(lo.clone(), DriverConfig::default())
            .unwrap();
        assert_eq!(ifindex, 0);
        stack.with_core(|c, now| {
            c.ip.set_address(ifindex, "127.0.0.1/8".parse().ok(), now)
                .unwrap();
            c.ip.set_up(ifindex, true, now).unwrap();
        });
        assert_eq!(stack.with_core(|c, _| c.ip.interfaces()).len(), 1);
        assert_eq!(stack.device_stats().len(), 1);
        echo_through(&stack, "127.0.0.1:7", "127.0.0.1:7");
        // The frames went through the caller's device, now the stack's only `lo`.
        assert!(stack.device_stats()[0].1.tx_packets > 0);
        // Only once: a second loopback is an interface of its own.
        let second = stack
            .add_device(Arc::new(MemoryLink::loopback()), DriverConfig::default())
            .unwrap();
        assert_eq!(second, 1);
        stack.shutdown();
        assert_eq!(Arc::strong_count(&lo), 1, "released at shutdown");
    }

    #[test]
    fn two_builder_stacks_on_a_link_talk_and_route_by_the_gateway() {
        let (a_end, b_end) = MemoryLink::pair(("eth0", mac(1)), ("eth0", mac(2)), 1500, 1024);
        let a = StackBuilder::new()
            .device(Arc::new(a_end))
            .addr("10.0.0.1/24")
            .gateway("10.0.0.2")
            .mtu(1400)
            .build()
            .unwrap();
        let b = StackBuilder::new()
            .device(Arc::new(b_end))
            .addr(Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24).unwrap())
            .build()
            .unwrap();
        let server = crate::testing::count_one_connection(&b, 80);
        let mut c = TcpStream::connect(&a, "10.0.0.2:80").unwrap();
        c.write_all(&vec![7u8; 100_000]).unwrap();
        drop(c);
        assert_eq!(server.join().unwrap(), 100_000);
        let (route, mtu) = a.with_core(|c, _| {
            let r = c.ip.route_lookup(Ipv4Addr::new(192, 0, 2, 1));
            (r, c.ip.interfaces()[1].mtu)
        });
        assert_eq!(
            route.and_then(|r| r.gateway),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );
        assert_eq!(mtu, 1400);
        a.shutdown();
        b.shutdown();
    }

    fn build_err(b: StackBuilder) -> io::Error {
        match b.build() {
            Ok(s) => {
                s.shutdown();
                panic!("built a stack from bad settings")
            }
            Err(e) => e,
        }
    }

    type Setting = fn(StackBuilder) -> StackBuilder;

    #[test]
    fn bad_settings_are_one_line_errors_that_name_the_setting() {
        let cases: [(Setting, &str); 12] = [
            (|b| b.addr("10.0.0.300/24"), "address '10.0.0.300/24'"),
            (|b| b.addr("10.0.0.0/24"), "the network's own address"),
            (
                |b| b.addr("10.0.0.255/24"),
                "the network's broadcast address",
            ),
            (|b| b.addr("10.0.0.1/33"), "address '10.0.0.1/33'"),
            (|b| b.gateway("10.0.0"), "gateway '10.0.0'"),
            (|b| b.host_addr("x/24"), "kernel-side address 'x/24'"),
            (|b| b.mac("00:11:22"), "MAC '00:11:22'"),
            (|b| b.mac("ff:ff:ff:ff:ff:ff"), "not a unicast"),
            (|b| b.host_addr("10.0.0.1/24"), "the same as the stack's"),
            (
                |b| b.host_addr("10.0.1.2/24"),
                "not a host of the stack's network 10.0.0.0/24",
            ),
            (
                |b| b.addr("10.0.1.1/16"),
                "not a host of the kernel side's network 10.0.0.0/24",
            ),
            (|b| b.tap("no/slash"), "invalid tap name"),
        ];
        for (set, want) in cases {
            let e = build_err(set(StackBuilder::new()));
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let msg = e.to_string();
            assert!(msg.contains(want), "{msg:?} lacks {want:?}");
            assert!(!msg.contains('\n'), "{msg:?}");
        }
    }

    /// A gateway must be a host of the stack's network: its broadcast address or the
    /// network's own address is none. Linux refuses both ("Nexthop has invalid gateway",
    /// EINVAL: they are broadcast routes, not unicast neighbours). The builder took them:
    /// with 10.0.0.255 as the router every datagram for another network left as an
    /// Ethernet broadcast to the whole link, and with 10.0.0.0 it waited for an ARP
    /// answer no host gives (the stack refuses that address as a neighbour itself).
    #[test]
    fn a_gateway_at_the_networks_broadcast_or_own_address_is_refused() {
        for gw in ["10.0.0.255", "10.0.0.0"] {
            let (dev, _peer) = link();
            let b = StackBuilder::new()
                .device(dev.clone())
                .addr("10.0.0.1/24")
                .gateway(gw);
            let e = build_err(b);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{gw}: {e}");
            assert!(e.to_string().contains(&format!("gateway {gw}")), "{e}");
            assert_eq!(Arc::strong_count(&dev), 1, "{gw}: device still held");
        }
        // On a /31 (RFC 3021) both addresses are hosts: the other end is a gateway.
        let (dev, _peer) = link();
        let s = StackBuilder::new()
            .device(dev)
            .addr("10.0.0.0/31")
            .gateway("10.0.0.1")
            .build()
            .unwrap();
        s.shutdown();
    }

    #[test]
    fn a_failed_build_stops_the_stack_and_releases_the_device() {
        let cases: [(Setting, &str); 4] = [
            (|b| b.gateway("192.0.2.1"), "gateway 192.0.2.1"),
            (|b| b.mtu(40), "MTU 40"),
            (|b| b.mtu(9000), "MTU 9000"),
            (|b| b.addr("127.0.0.1/8"), "address 127.0.0.1/8"),
        ];
        for (set, want) in cases {
            let (dev, _peer) = link();
            let b = StackBuilder::new().device(dev.clone()).addr("10.0.0.1/24");
            let e = build_err(set(b));
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            assert!(e.to_string().contains(want), "{e} lacks {want:?}");
            // The driver threads were joined and dropped their handle on the device.
            assert_eq!(Arc::strong_count(&dev), 1, "{want}: device still held");
        }
        let e = build_err(StackBuilder::new().loopback_only().gateway("10.0.0.2"));
        assert!(e.to_string().contains("no link"), "{e}");
        let lo = Arc::new(MemoryLink::loopback());
        let e = build_err(StackBuilder::new().device(lo.clone()));
        assert!(e.to_string().contains("a loopback device"), "{e}");
        assert_eq!(Arc::strong_count(&lo), 1);
    }
}
