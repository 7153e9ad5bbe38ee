//! `TapDevice` against a real TAP, each test in a network namespace of its own (removed by
//! a guard, also when the test fails). Needs root (as every kernel test does).

#![deny(unsafe_code)]

use netif::{Device, MacAddr, TapConfig, TapDevice};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A namespace owned by one test, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        assert!(
            root,
            "this test needs root, for a TAP in a namespace of its own"
        );
        let name = format!(
            "tapip-r17{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        Netns(name)
    }

    fn sh(&self, line: &str) -> String {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.0, "sh", "-c", line])
            .output()
            .expect("ip netns exec");
        assert!(
            o.status.success(),
            "'{line}' failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Open the tap from a thread moved into the namespace (the descriptor stays bound to
    /// the device there).
    fn open(&self, cfg: TapConfig) -> TapDevice {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("the namespace file");
            // SAFETY: setns takes a descriptor (open for the call) and a flag; it moves only
            // this thread, which ends right after opening the tap.
            #[allow(unsafe_code)]
            let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            TapDevice::open(&cfg).expect("open the tap")
        })
        .join()
        .expect("the opening thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

const US: MacAddr = MacAddr([2, 0, 0, 0, 0x17, 2]);

fn cfg(offload: bool) -> TapConfig {
    TapConfig {
        name: "r17tap".into(),
        mac: US,
        host_addr: Some(([10, 77, 0, 1].into(), 24)),
        offload,
        uring: false,
        uring_rx: false,
    }
}

/// The kernel side sends one UDP datagram of `payload` bytes to 10.77.0.2 (a static
/// neighbour entry: no ARP), i.e. a frame of 42 + `payload` bytes.
fn kernel_sends_udp(ns: &Netns, payload: usize) {
    ns.sh(&format!(
        "ip neigh replace 10.77.0.2 lladdr {US} dev r17tap nud permanent && \
         python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         s.sendto(b'x'*{payload}, ('10.77.0.2', 9))\""
    ));
}

/// `Device::recv`: "A frame longer than `buf` is dropped with a `FrameTooLong` error"
/// (as `MemoryLink` and `FaultInjector` do). A TAP read returns at most the buffer's length
/// (`tun_chr_read_iter`: `min(ret, len)`), and `TapDevice` handed the cut frame over as a
/// whole one (`Ok(Some(buf.len()))`; with offloads it then "completed" the partial checksum
/// over the cut frame). Found by an independent review of `netif`.
#[test]
fn a_frame_longer_than_the_buffer_is_an_error_not_a_cut_frame() {
    for offload in [true, false] {
        let ns = Netns::new(if offload { "o" } else { "p" });
        let dev = ns.open(cfg(offload));
        kernel_sends_udp(&ns, 200);
        let mut buf = [0u8; 100];
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = loop {
            match dev.recv(&mut buf, Duration::from_millis(200)) {
                Ok(None) if Instant::now() < deadline => continue,
                // The kernel's own chatter, shorter than the buffer, goes by.
                Ok(Some(n)) if n < buf.len() && Instant::now() < deadline => continue,
                other => break other,
            }
        };
        match got {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let t = netif::FrameTooLong::of(&e).expect("a FrameTooLong");
                assert_eq!(t.buf, 100);
                assert!(t.at_least > 100, "{t:?}");
            }
            other => panic!(
                "offload={offload}: a 242-byte frame read into 100 bytes gave {other:?}, \
                 not InvalidData"
            ),
        }
        // A frame that fits comes whole after it.
        kernel_sends_udp(&ns, 20);
        let mut big = [0u8; 1514];
        let n = loop {
            match dev.recv(&mut big, Duration::from_millis(200)) {
                Ok(Some(n)) if n == 62 || Instant::now() > deadline => break n,
                Ok(_) => continue,
                Err(e) => panic!("offload={offload}: {e}"),
            }
        };
        assert_eq!(n, 62, "offload={offload}: the 62-byte frame");
    }
}

/// Read frames until one of `len` bytes comes (the kernel's own chatter goes by), at most
/// 5 s.
fn recv_len(dev: &TapDevice, len: usize) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        match dev.recv(&mut buf, Duration::from_millis(200)) {
            Ok(Some(n)) if n == len => return Some(buf[..n].to_vec()),
            Ok(_) => continue,
            Err(e) => panic!("recv: {e}"),
        }
    }
    None
}

/// A persistent tap keeps the `virtio_net_hdr` size (`TUNSETVNETHDRSZ`) another program
/// set; the driver parses a 10-byte header, so it must set the size itself rather than
/// trust the kernel's default. Here another program left 12: with 10 assumed, every frame
/// would come 2 bytes late (its MAC addresses cut, two bytes of header in front).
#[test]
fn offloads_set_the_header_size_a_persistent_tap_kept() {
    let ns = Netns::new("v");
    // A persistent tap, then another program's open that sets a 12-byte header
    // (TUNSETIFF = 0x400454ca with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, TUNSETVNETHDRSZ =
    // 0x400454d8 with an int).
    ns.sh("ip tuntap add dev r17tap mode tap vnet_hdr && \
         python3 -c \"import fcntl, os, struct; f = os.open('/dev/net/tun', os.O_RDWR); \
         fcntl.ioctl(f, 0x400454ca, struct.pack('16sH22x', b'r17tap', 0x0002 | 0x1000 | 0x4000)); \
         fcntl.ioctl(f, 0x400454d8, struct.pack('i', 12)); os.close(f)\"");
    let dev = ns.open(cfg(true));
    assert_eq!(dev.offload_refused(), None);
    kernel_sends_udp(&ns, 200);
    let frame = recv_len(&dev, 42 + 200).expect("the 242-byte frame, read whole");
    assert_eq!(frame[..6], US.0, "its destination: our MAC");
    assert_eq!(frame[12..14], [0x08, 0x00], "IPv4");
}

/// A name given as a template (`r17t%d`): the kernel picks the name; what follows the
/// creation (the queue length, IPv6 off, the name the device shows) uses that one.
#[test]
fn a_template_name_is_replaced_by_the_kernels_everywhere() {
    let ns = Netns::new("t");
    let dev = ns.open(TapConfig {
        name: "r17t%d".into(),
        ..cfg(false)
    });
    assert_eq!(dev.info().name, "r17t0");
    assert_eq!(dev.queue_refused(), None);
    let qlen = ns.sh("cat /sys/class/net/r17t0/tx_queue_len");
    assert_eq!(qlen.trim(), netif::tap::PLAIN_QUEUE_LEN.to_string());
    let v6 = ns.sh("cat /proc/sys/net/ipv6/conf/r17t0/disable_ipv6");
    assert_eq!(v6.trim(), "1");
}
