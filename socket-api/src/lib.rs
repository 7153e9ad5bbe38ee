//! The socket API of tapip, a user-space TCP/IP stack, and the runtime that drives it.
//!
//! An application depends on this crate alone. [`StackBuilder`] starts a [`Stack`] in one
//! call (a TAP device, an in-memory link, or loopback only); the sockets then work as
//! `std::net`'s do, with the stack as an extra first argument:
//!
//! - [`TcpListener`], [`TcpStream`], [`UdpSocket`]: the `std::net` types (`Read`/`Write`,
//!   timeouts, `try_clone`, `shutdown`, `set_nonblocking`); errors are `std::io::Error`
//!   with the kind `std::net` would give (`ConnectionRefused`, `TimedOut`, `WouldBlock`...).
//! - [`Socket`]: the BSD calls (`socket`, `bind`, `listen`, `accept`, `connect`, `send`,
//!   `recv`, `setsockopt`...) and [`poll`] over several sockets; [`RawSocket`] for ICMP.
//!
//! Every stack has the loopback interface `lo` at 127.0.0.1/8, and reaches its own
//! addresses through it. A stack's threads run until [`Stack::shutdown`], or until the end of
//! the program, which first lets the TCP connections deliver what they queued, as the
//! kernel would ([`Stack::exit_linger`]).
//!
//! # Over loopback (no privileges needed)
//!
//! ```
//! use socket_api::{StackBuilder, TcpListener, TcpStream};
//! use std::io::{Read, Write};
//!
//! let stack = StackBuilder::new().loopback_only().build()?;
//! let listener = TcpListener::bind(&stack, "127.0.0.1:7")?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut conn, _peer) = listener.accept()?;
//!     let mut buf = [0u8; 64];
//!     let n = conn.read(&mut buf)?;
//!     conn.write_all(&buf[..n])
//! });
//! let mut client = TcpStream::connect(&stack, "127.0.0.1:7")?;
//! client.write_all(b"hello")?;
//! let mut echo = [0u8; 5];
//! client.read_exact(&mut echo)?;
//! assert_eq!(&echo, b"hello");
//! server.join().expect("server thread")?;
//! stack.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Two stacks on an in-memory link
//!
//! [`MemoryLink::pair`] is an Ethernet cable in memory: each end is a device for
//! [`StackBuilder::device`]. Here A (10.0.0.1) sends a datagram to B (10.0.0.2), and B
//! also talks to its own address, which goes through its loopback:
//!
//! ```
//! use socket_api::{MacAddr, MemoryLink, StackBuilder, UdpSocket};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let (a_end, b_end) = MemoryLink::pair(
//!     ("eth0", MacAddr([2, 0, 0, 0, 0, 1])),
//!     ("eth0", MacAddr([2, 0, 0, 0, 0, 2])),
//!     1500,
//!     1024,
//! );
//! let a = StackBuilder::new().device(Arc::new(a_end)).addr("10.0.0.1/24").build()?;
//! let b = StackBuilder::new().device(Arc::new(b_end)).addr("10.0.0.2/24").build()?;
//!
//! let server = UdpSocket::bind(&b, "0.0.0.0:9000")?;
//! server.set_read_timeout(Some(Duration::from_secs(5)))?;
//! let client = UdpSocket::bind(&a, "0.0.0.0:0")?;
//! client.send_to(b"over the wire", "10.0.0.2:9000")?;
//! let mut buf = [0u8; 64];
//! let (n, from) = server.recv_from(&mut buf)?;
//! assert_eq!(&buf[..n], b"over the wire");
//! assert_eq!(from.ip().to_string(), "10.0.0.1");
//!
//! let to_self = UdpSocket::bind(&b, "0.0.0.0:0")?;
//! to_self.send_to(b"to myself", "10.0.0.2:9000")?;
//! let (n, from) = server.recv_from(&mut buf)?;
//! assert_eq!(&buf[..n], b"to myself");
//! assert_eq!(from.ip().to_string(), "10.0.0.2");
//! a.shutdown();
//! b.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # On a TAP device (as root)
//!
//! The shell's TOP2 set-up: the stack at 10.0.0.1/24 on `tap0`, the kernel's side at
//! 10.0.0.2/24 (then `nc 10.0.0.1 7` from the kernel reaches this echo server):
//!
//! ```no_run
//! use socket_api::{StackBuilder, TcpListener};
//!
//! let stack = StackBuilder::new()
//!     .tap("tap0")
//!     .addr("10.0.0.1/24")
//!     .host_addr("10.0.0.2/24")
//!     .gateway("10.0.0.2")
//!     .build()?;
//! let listener = TcpListener::bind(&stack, "0.0.0.0:7")?;
//! for conn in listener.incoming() {
//!     let conn = conn?;
//!     std::thread::spawn(move || std::io::copy(&mut &conn, &mut &conn));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! TOP1 (the tap bridged to a LAN, the kernel's side left alone) is
//! `.no_host_config()` with the LAN's address and router. The crate's `examples/` hold
//! complete programs: TCP and UDP echo servers and clients, and an HTTP GET.
//!
//! # Below the sockets
//!
//! [`Stack::with_core`] runs a closure on the protocol layers under the stack's lock,
//! which is how the `tapip` shell configures interfaces, routes and the ARP cache. The
//! crates of those layers are re-exported ([`netif`], [`ip`], [`transport`]), and the
//! types a set-up needs most at the top: [`TapConfig`], [`DriverConfig`], [`Ipv4Cidr`],
//! [`MacAddr`], [`Device`], [`MemoryLink`].
//!
//! A [`Poller`] waits on many sockets at once (epoll-like: sockets are added with a token
//! and `wait` reports only those the stack changed), for servers of many connections.
#![deny(unsafe_code)] // allowed only in exit.rs, for `atexit`

pub mod builder;
pub mod dhcp;
pub mod dns;
pub mod error;
mod exit;
mod linger;
#[cfg(test)]
mod opts_review_tests;
#[cfg(test)]
mod poll_review_tests;
pub mod poller;
pub mod raw;
#[cfg(test)]
mod rt_review_tests;
pub mod runtime;
pub mod socket;
#[cfg(test)]
mod std_review_tests;
pub mod tcp;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tfo_review_tests;
pub mod udp;

pub use builder::StackBuilder;
pub use error::SocketError;
pub use poller::{Event, Poller};
pub use raw::RawSocket;
pub use runtime::{Core, Stack, StackConfig};
pub use socket::{poll, Domain, IcmpError, Interest, PollFd, SockOpt, SockOptName, Socket, Type};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use transport::{CongestionAlgorithm, PmtuMode};
pub use udp::UdpSocket;

// What a program needs to set a stack up, without depending on the crates below.
pub use ip::Ipv4Cidr;
pub use netif::{Device, DriverConfig, MacAddr, MemoryLink, TapConfig, TapDevice};

// The layers below, for what goes beyond the sockets (`Stack::with_core`).
pub use {ip, netif, transport};
