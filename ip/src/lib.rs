//! IPv4 and ICMP for tapip (RFC 791, RFC 792, RFC 1122, RFC 1812).
//!
//! - [`ipv4`], [`icmp`]: wire formats (checked views, representations that emit in place).
//! - [`route`]: the routing table (longest-prefix match).
//! - [`reassembly`]: fragment reassembly with caps on memory and datagrams.
//! - [`igmp`]: IGMPv2 host (RFC 2236): the wire format and each interface's memberships.
//! - [`pmtu`]: path MTUs learnt from "fragmentation needed" (RFC 1191), with expiry.
//! - [`IpLayer`]: interfaces, input, forwarding, ICMP, and the ARP caches it resolves through.
//! - [`upper`]: the boundary with transport protocols (`Upper` up, `IpTx` down).
//!
//! Sans-IO: nothing here reads a clock or does I/O; callers pass `now`.
#![forbid(unsafe_code)]

pub mod checksum;
pub mod cidr;
pub mod icmp;
mod ident;
pub mod iface;
pub mod igmp;
pub mod ipv4;
pub mod layer;
pub mod output;
pub mod pmtu;
pub mod ratelimit;
pub mod reassembly;
pub mod route;
pub mod siphash;
pub mod stats;
pub mod upper;

pub use cidr::{parse_addr, CidrError, Ipv4Cidr};
pub use igmp::{GroupError, IgmpStats};
pub use layer::{ConfigError, InterfaceView, IpConfig, IpLayer};
pub use output::TxFrame;
pub use route::{Route, RouteError, RouteKind};
pub use stats::{IcmpStats, IpStats};
pub use upper::{Datagram, Delivery, IcmpErrorReport, IpTx, PmtuMode, SendError, SendMeta, Upper};
