//! Packet tracing: the lines behind the shell's `debug` command.
//!
//! - [`TraceLayers`]: a set of layers (`dev`, `l2`, `arp`, `ip`, `icmp`, `udp`, `tcp`,
//!   `tcpstate`) as a `u32` mask.
//! - [`Trace`]: a cheaply cloned handle holding the enabled layers (one atomic) and the sink,
//!   a bounded channel of text lines. [`Trace::new`] returns the handle and the one
//!   [`Receiver`] the lines arrive on; when the channel is full (or the receiver is gone) lines
//!   are dropped and counted ([`Trace::dropped_lines`]). Any crate may push lines with
//!   [`Trace::emit`] (e.g. TCP state changes under [`TraceLayers::TCPSTATE`]).
//! - [`Tracer`]: a device wrapper that, for every frame received and sent, decodes it with
//!   `etherparse` and emits one line per enabled layer present in the frame. With no layer
//!   enabled it costs one atomic load per frame.
//! - [`describe`]: the decoding itself, without timestamps, for tests and other users.
//!
//! Lines look like (the timestamp is UTC, `HH:MM:SS.micros`):
//!
//! ```text
//! 12:00:01.000042 dev  tap0 rx 98 bytes
//! 12:00:01.000042 l2   tap0 rx 52:54:00:12:34:56 > 00:34:45:67:89:ab IPv4
//! 12:00:01.000042 ip   tap0 rx 10.0.0.2 > 10.0.0.1 ICMP ttl 64 id 7238 len 84 [DF]
//! 12:00:01.000042 icmp tap0 rx 10.0.0.2 > 10.0.0.1 echo request id 12 seq 1 len 64
//! ```
//!
//! Lengths follow tcpdump: `ip len` is the IP total length, `icmp len` the whole ICMP message,
//! `udp len` and `tcp len` the payload after the transport header. Checksums that fail are
//! flagged `[bad cksum]`, but not a transport checksum the device says it verified (a frame
//! it coalesced keeps its first segment's). Frames that do not decode never panic; the layer that failed prints
//! `malformed ...` (shown when that layer, or one carried inside it, is enabled).

use crate::vnet::{complete_checksum, Csum, FrameMeta};
use crate::{Device, DeviceInfo, MacAddr};
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use etherparse::err::LenError;
use etherparse::{
    ArpPacketSlice, Ethernet2Slice, Icmpv4Slice, Ipv4HeaderSlice, Ipv4Slice, Ipv6HeaderSlice,
    LenSource, TcpHeaderSlice, TcpOptionElement, UdpHeaderSlice,
};
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A set of trace layers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceLayers(u32);

impl TraceLayers {
    pub const NONE: TraceLayers = TraceLayers(0);
    /// Every frame: interface, direction, length.
    pub const DEV: TraceLayers = TraceLayers(1 << 0);
    /// Ethernet header.
    pub const L2: TraceLayers = TraceLayers(1 << 1);
    pub const ARP: TraceLayers = TraceLayers(1 << 2);
    pub const IP: TraceLayers = TraceLayers(1 << 3);
    pub const ICMP: TraceLayers = TraceLayers(1 << 4);
    pub const UDP: TraceLayers = TraceLayers(1 << 5);
    pub const TCP: TraceLayers = TraceLayers(1 << 6);
    /// TCP connection state changes (emitted by the TCP code, not decoded from frames).
    pub const TCPSTATE: TraceLayers = TraceLayers(1 << 7);
    pub const ALL: TraceLayers = TraceLayers((1 << 8) - 1);

    /// The layers [`describe`] decodes from frames (everything but `TCPSTATE`).
    pub const FRAME: TraceLayers = TraceLayers(Self::ALL.0 & !Self::TCPSTATE.0);

    const NAMED: [(&'static str, TraceLayers); 8] = [
        ("dev", Self::DEV),
        ("l2", Self::L2),
        ("arp", Self::ARP),
        ("ip", Self::IP),
        ("icmp", Self::ICMP),
        ("udp", Self::UDP),
        ("tcp", Self::TCP),
        ("tcpstate", Self::TCPSTATE),
    ];

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The set with these bits; unknown bits are ignored.
    pub const fn from_bits_truncate(bits: u32) -> TraceLayers {
        TraceLayers(bits & Self::ALL.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every layer of `other` is in `self`.
    pub const fn contains(self, other: TraceLayers) -> bool {
        self.0 & other.0 == other.0
    }

    /// Some layer of `other` is in `self`.
    pub const fn intersects(self, other: TraceLayers) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: TraceLayers) -> TraceLayers {
        TraceLayers(self.0 | other.0)
    }

    pub const fn difference(self, other: TraceLayers) -> TraceLayers {
        TraceLayers(self.0 & !other.0)
    }

    /// Parse a layer name (`dev`, `l2`, `arp`, `ip`, `icmp`, `udp`, `tcp`, `tcpstate`, `all`,
    /// `none`), case-insensitive, or several joined by `,`, `+` or spaces (`ip,tcp`).
    pub fn parse(s: &str) -> Result<TraceLayers, ParseTraceLayersError> {
        let mut set = TraceLayers::NONE;
        let mut any = false;
        for word in s.split([',', '+', ' ', '\t']).filter(|w| !w.is_empty()) {
            any = true;
            let word_lc = word.to_ascii_lowercase();
            set |= match word_lc.as_str() {
                "all" => TraceLayers::ALL,
                "none" | "off" => TraceLayers::NONE,
                name => Self::NAMED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|&(_, l)| l)
                    .ok_or_else(|| ParseTraceLayersError(word.to_string()))?,
            };
        }
        if !any {
            return Err(ParseTraceLayersError(s.to_string()));
        }
        Ok(set)
    }

    /// The name of the lowest layer in the set (`none` when empty).
    pub fn name(self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(_, l)| self.intersects(*l))
            .map_or("none", |(n, _)| n)
    }

    /// The names of the layers in the set, lowest first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(_, l)| self.intersects(*l))
            .map(|(n, _)| n)
    }
}

impl BitOr for TraceLayers {
    type Output = TraceLayers;
    fn bitor(self, rhs: TraceLayers) -> TraceLayers {
        self.union(rhs)
    }
}

impl BitOrAssign for TraceLayers {
    fn bitor_assign(&mut self, rhs: TraceLayers) {
        *self = self.union(rhs);
    }
}

impl BitAnd for TraceLayers {
    type Output = TraceLayers;
    fn bitand(self, rhs: TraceLayers) -> TraceLayers {
        TraceLayers(self.0 & rhs.0)
    }
}

impl Not for TraceLayers {
    type Output = TraceLayers;
    fn not(self) -> TraceLayers {
        TraceLayers(!self.0 & Self::ALL.0)
    }
}

impl fmt::Display for TraceLayers {
    /// `all`, `none`, or the names joined by commas (`ip,tcp`); parses back with
    /// [`TraceLayers::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == TraceLayers::ALL {
            return f.write_str("all");
        }
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for TraceLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceLayers({self})")
    }
}

impl FromStr for TraceLayers {
    type Err = ParseTraceLayersError;
    fn from_str(s: &str) -> Result<TraceLayers, ParseTraceLayersError> {
        TraceLayers::parse(s)
    }
}

/// A word that names no trace layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown trace layer '{0}' (expected dev, l2, arp, ip, icmp, udp, tcp, tcpstate, all or none)"
)]
pub struct ParseTraceLayersError(pub String);

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Arrived from the link.
    Rx,
    /// Sent to the link.
    Tx,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Rx => "rx",
            Direction::Tx => "tx",
        })
    }
}

/// Lines buffered between the tracer and the reader by [`Trace::new`].
pub const DEFAULT_TRACE_CAPACITY: usize = 4096;

struct TraceShared {
    mask: AtomicU32,
    sink: Sender<String>,
    dropped: AtomicU64,
}

/// The shared tracing switch and sink. Clones share everything.
#[derive(Clone)]
pub struct Trace {
    shared: Arc<TraceShared>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("layers", &self.layers())
            .field("dropped_lines", &self.dropped_lines())
            .finish()
    }
}

impl Trace {
    /// A handle with nothing enabled, and the receiving end of its line channel (capacity
    /// [`DEFAULT_TRACE_CAPACITY`]). There is one receiver per `Trace`; whoever shows the
    /// lines (the shell) owns it. Lines are complete, timestamped, without a newline.
    pub fn new() -> (Trace, Receiver<String>) {
        Trace::with_capacity(DEFAULT_TRACE_CAPACITY)
    }

    /// [`Trace::new`] with a channel of `capacity` lines (at least 1).
    pub fn with_capacity(capacity: usize) -> (Trace, Receiver<String>) {
        let (sink, lines) = bounded(capacity.max(1));
        let trace = Trace {
            shared: Arc::new(TraceShared {
                mask: AtomicU32::new(0),
                sink,
                dropped: AtomicU64::new(0),
            }),
        };
        (trace, lines)
    }

    /// The enabled layers.
    pub fn layers(&self) -> TraceLayers {
        TraceLayers::from_bits_truncate(self.shared.mask.load(Ordering::Relaxed))
    }

    /// Enable exactly `layers`.
    pub fn set(&self, layers: TraceLayers) {
        self.shared.mask.store(layers.bits(), Ordering::Relaxed);
    }

    /// Enable `layers` as well.
    pub fn add(&self, layers: TraceLayers) {
        self.shared.mask.fetch_or(layers.bits(), Ordering::Relaxed);
    }

    /// Disable `layers`.
    pub fn remove(&self, layers: TraceLayers) {
        self.shared
            .mask
            .fetch_and(!layers.bits(), Ordering::Relaxed);
    }

    /// Disable everything.
    pub fn clear(&self) {
        self.set(TraceLayers::NONE);
    }

    /// Whether any layer of `layer` is enabled (one atomic load).
    pub fn enabled(&self, layer: TraceLayers) -> bool {
        self.shared.mask.load(Ordering::Relaxed) & layer.bits() != 0
    }

    /// Lines lost because the channel was full or its receiver gone.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Push `message` as a line of `layer`, if that layer is enabled: the line gets the
    /// timestamp and the layer's name in front (`12:00:01.000042 tcpstate ...`). `message`
    /// is only formatted when enabled, so `format_args!` costs nothing otherwise.
    pub fn emit(&self, layer: TraceLayers, message: impl fmt::Display) {
        if self.enabled(layer) {
            let stamp = Timestamp(SystemTime::now());
            self.push(format!("{stamp} {:<4} {message}", layer.name()));
        }
    }

    /// Queue a finished line, counting it if it cannot be queued.
    fn push(&self, line: String) {
        match self.shared.sink.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `HH:MM:SS.micros` of a system time, in UTC.
struct Timestamp(SystemTime);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let day_secs = since.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:06}",
            day_secs / 3600,
            day_secs / 60 % 60,
            day_secs % 60,
            since.subsec_micros()
        )
    }
}

/// A device that reports the frames passing through it to a [`Trace`].
pub struct Tracer<D> {
    inner: D,
    trace: Trace,
    ifname: String,
}

impl<D: Device> Tracer<D> {
    /// Wrap `inner`; lines name it by its interface name.
    pub fn new(inner: D, trace: Trace) -> Tracer<D> {
        let ifname = inner.info().name;
        Tracer {
            inner,
            trace,
            ifname,
        }
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// A frame the device refused to hand over (too long for the buffer, a vnet header it
    /// cannot take): shown under dev wherever frames are traced, not left out.
    fn rx_error(&self, e: &io::Error) {
        self.trace.emit(
            TraceLayers::FRAME,
            format_args!("{} rx error: {e}", self.ifname),
        );
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn into_inner(self) -> D {
        self.inner
    }

    fn observe(&self, dir: Direction, frame: &[u8]) {
        self.observe_meta(dir, frame, &FrameMeta::default());
    }

    /// Describe a frame; one whose checksum the device completes is described as it will be
    /// on the wire (completed on a copy, only while tracing).
    fn observe_meta(&self, dir: Direction, frame: &[u8], meta: &FrameMeta) {
        let layers = self.trace.layers();
        if !layers.intersects(TraceLayers::FRAME) {
            return;
        }
        let completed;
        let frame = match meta.csum {
            Csum::Partial { start, offset } => {
                let mut f = frame.to_vec();
                complete_checksum(&mut f, start, offset);
                completed = f;
                &completed[..]
            }
            _ => frame,
        };
        let verified = matches!(meta.csum, Csum::Valid);
        let mut lines = describe_checked(layers, &self.ifname, dir, frame, verified);
        if let (Some(g), Some(first)) = (meta.gso, lines.first_mut()) {
            first.push_str(&format!(" [gso {} x {}]", frame.len(), g.size));
        }
        if lines.is_empty() {
            return;
        }
        let stamp = Timestamp(SystemTime::now()).to_string();
        for line in lines {
            self.trace.push(format!("{stamp} {line}"));
        }
    }
}

impl<D: Device> Device for Tracer<D> {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn arm_recv_interrupt(&self) -> bool {
        self.inner.arm_recv_interrupt()
    }

    fn interrupt_recv(&self) {
        self.inner.interrupt_recv()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let got = self
            .inner
            .recv(buf, timeout)
            .inspect_err(|e| self.rx_error(e))?;
        if let Some(frame) = got.and_then(|n| buf.get(..n)) {
            self.observe(Direction::Rx, frame);
        }
        Ok(got)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_meta(frame, &FrameMeta::default())
    }

    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        let got = self
            .inner
            .recv_meta(buf, timeout)
            .inspect_err(|e| self.rx_error(e))?;
        if let Some((n, meta)) = got {
            if let Some(frame) = buf.get(..n) {
                self.observe_meta(Direction::Rx, frame, &meta);
            }
        }
        Ok(got)
    }

    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        // Traced before it is handed on, so on a loopback link the tx line comes before the
        // rx line of the same frame.
        self.observe_meta(Direction::Tx, frame, meta);
        match self.inner.send_meta(frame, meta) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Under dev, but wherever the frame was shown: a tx line the device then
                // refused must not read as a frame that crossed.
                self.trace.emit(
                    TraceLayers::FRAME,
                    format_args!("{} tx error {} bytes: {e}", self.ifname, frame.len()),
                );
                Err(e)
            }
        }
    }

    fn send_meta_batch(
        &self,
        frames: &[(&[u8], FrameMeta)],
        done: &mut dyn FnMut(usize, io::Result<()>),
    ) {
        for (frame, meta) in frames {
            self.observe_meta(Direction::Tx, frame, meta);
        }
        self.inner.send_meta_batch(frames, &mut |i, r| {
            if let (Err(e), Some((frame, _))) = (&r, frames.get(i)) {
                self.trace.emit(
                    TraceLayers::FRAME,
                    format_args!("{} tx error {} bytes: {e}", self.ifname, frame.len()),
                );
            }
            done(i, r)
        })
    }

    fn io_path(&self) -> &'static str {
        self.inner.io_path()
    }
}

/// The layers whose trace shows a frame that fails to decode at `layer`: the layer itself and
/// those it would have carried.
fn shown_if_malformed(layer: TraceLayers) -> TraceLayers {
    use TraceLayers as L;
    if layer == L::L2 {
        L::L2 | L::ARP | L::IP | L::ICMP | L::UDP | L::TCP
    } else if layer == L::IP {
        L::IP | L::ICMP | L::UDP | L::TCP
    } else {
        layer
    }
}

/// Collects the lines of one frame.
struct Lines<'a> {
    layers: TraceLayers,
    ifname: &'a str,
    dir: Direction,
    out: Vec<String>,
    /// The device verified the transport checksum (`Csum::Valid`): a frame it coalesced
    /// carries the first segment's checksum, stale for the whole, so none is judged.
    verified: bool,
}

impl Lines<'_> {
    fn wants(&self, layer: TraceLayers) -> bool {
        self.layers.intersects(layer)
    }

    /// A line for `layer`, formatted only if that layer is enabled.
    fn line(&mut self, layer: TraceLayers, body: fmt::Arguments<'_>) {
        if self.wants(layer) {
            self.out.push(format!(
                "{:<4} {} {} {body}",
                layer.name(),
                self.ifname,
                self.dir
            ));
        }
    }

    /// A `malformed` line for `layer`.
    fn malformed(&mut self, layer: TraceLayers, body: fmt::Arguments<'_>) {
        if self.wants(shown_if_malformed(layer)) {
            self.out.push(format!(
                "{:<4} {} {} malformed {body}",
                layer.name(),
                self.ifname,
                self.dir
            ));
        }
    }
}

/// The trace lines (without timestamps) of one frame: one per enabled layer present in it,
/// e.g. `ip   tap0 rx 10.0.0.2 > 10.0.0.1 ICMP ttl 64 id 7238 len 84 [DF]`. Never panics,
/// whatever `frame` holds.
pub fn describe(layers: TraceLayers, ifname: &str, dir: Direction, frame: &[u8]) -> Vec<String> {
    describe_checked(layers, ifname, dir, frame, false)
}

/// [`describe`]; `verified`: the device verified the transport checksum.
fn describe_checked(
    layers: TraceLayers,
    ifname: &str,
    dir: Direction,
    frame: &[u8],
    verified: bool,
) -> Vec<String> {
    let mut out = Lines {
        layers,
        ifname,
        dir,
        out: Vec::new(),
        verified,
    };
    if !layers.intersects(TraceLayers::FRAME) {
        return out.out;
    }
    out.line(TraceLayers::DEV, format_args!("{} bytes", frame.len()));
    if !layers.intersects(TraceLayers::FRAME.difference(TraceLayers::DEV)) {
        return out.out;
    }

    let eth = match Ethernet2Slice::from_slice_without_fcs(frame) {
        Ok(eth) => eth,
        Err(e) => {
            out.malformed(
                TraceLayers::L2,
                format_args!("ethernet: {}", len_problem(&e)),
            );
            return out.out;
        }
    };
    let ethertype = eth.ether_type().0;
    out.line(
        TraceLayers::L2,
        format_args!(
            "{} > {} {}",
            MacAddr(eth.source()),
            MacAddr(eth.destination()),
            EtherTypeName(ethertype)
        ),
    );
    let payload = eth.payload_slice();
    match ethertype {
        crate::ethernet::ethertype::ARP => describe_arp(&mut out, payload),
        crate::ethernet::ethertype::IPV4 => describe_ipv4(&mut out, payload),
        crate::ethernet::ethertype::IPV6 => describe_ipv6(&mut out, payload),
        _ => {}
    }
    out.out
}

struct EtherTypeName(u16);

impl fmt::Display for EtherTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0x0800 => f.write_str("IPv4"),
            0x0806 => f.write_str("ARP"),
            0x86dd => f.write_str("IPv6"),
            0x8100 => f.write_str("802.1Q"),
            // IEEE 802.3: up to 1500 the field is the frame's length (an LLC frame, such
            // as a bridge's STP); EtherTypes start at 0x0600.
            t if t <= 1500 => write!(f, "802.3 length {t}"),
            t => write!(f, "ethertype 0x{t:04x}"),
        }
    }
}

/// What a length error means, briefly.
fn len_problem(e: &LenError) -> String {
    match e.len_source {
        LenSource::Slice if e.len < e.required_len => {
            format!("truncated, {} of {} bytes", e.len, e.required_len)
        }
        LenSource::Slice => format!("{} bytes where {} belong", e.len, e.required_len),
        _ => format!(
            "length field gives {} bytes, need {}",
            e.len, e.required_len
        ),
    }
}

fn describe_arp(out: &mut Lines<'_>, payload: &[u8]) {
    if !out.wants(TraceLayers::ARP) {
        return;
    }
    let arp = match ArpPacketSlice::from_slice(payload) {
        Ok(arp) => arp,
        Err(e) => {
            out.malformed(TraceLayers::ARP, format_args!("arp: {}", len_problem(&e)));
            return;
        }
    };
    let op = arp.operation().0;
    let eth_ipv4 = arp.hw_addr_type().0 == 1 && arp.proto_addr_type().0 == 0x0800;
    let sha = MacAddr::from_bytes(arp.sender_hw_addr());
    let tha = MacAddr::from_bytes(arp.target_hw_addr());
    let spa = ipv4_from(arp.sender_protocol_addr());
    let tpa = ipv4_from(arp.target_protocol_addr());
    match (eth_ipv4, sha, tha, spa, tpa) {
        (true, Some(sha), Some(tha), Some(spa), Some(tpa)) => match op {
            1 if spa == tpa => out.line(
                TraceLayers::ARP,
                format_args!("who-has {tpa} tell {spa} (gratuitous)"),
            ),
            1 => out.line(TraceLayers::ARP, format_args!("who-has {tpa} tell {spa}")),
            2 => out.line(TraceLayers::ARP, format_args!("reply {spa} is-at {sha}")),
            _ => out.line(
                TraceLayers::ARP,
                format_args!("op {op} {spa} ({sha}) > {tpa} ({tha})"),
            ),
        },
        _ => out.line(
            TraceLayers::ARP,
            format_args!(
                "op {op} hw {} ({} bytes) proto 0x{:04x} ({} bytes)",
                arp.hw_addr_type().0,
                arp.hw_addr_size(),
                arp.proto_addr_type().0,
                arp.proto_addr_size()
            ),
        ),
    }
}

fn ipv4_from(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

struct ProtoName(u8);

impl fmt::Display for ProtoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("ICMP"),
            2 => f.write_str("IGMP"),
            6 => f.write_str("TCP"),
            17 => f.write_str("UDP"),
            58 => f.write_str("ICMPv6"),
            p => write!(f, "proto {p}"),
        }
    }
}

/// The Internet checksum (RFC 1071) of the concatenated `parts` checks out. Every part but the
/// last must have an even length (true of the pseudo-headers used here).
fn checksum_ok(parts: &[&[u8]]) -> bool {
    let acc = parts
        .iter()
        .fold(0u32, |acc, part| crate::checksum::sum(part, acc));
    crate::checksum::finish(acc) == 0
}

/// The IPv4 pseudo-header for TCP and UDP checksums.
/// A TCP header's flags byte (its 14th octet) as tcpdump prints it, in its order:
/// `F S R P . U E W` (`S.`, `FP.`, `S.E`, `SEW`), `none` for none.
pub fn tcp_flags(byte: u8) -> String {
    let s: String = [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ]
    .iter()
    .filter(|(bit, _)| byte & bit != 0)
    .map(|&(_, c)| c)
    .collect();
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Option<[u8; 12]> {
    let len = u16::try_from(len).ok()?;
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = proto;
    p[10..12].copy_from_slice(&len.to_be_bytes());
    Some(p)
}

const BAD_CKSUM: &str = " [bad cksum]";

fn describe_ipv4(out: &mut Lines<'_>, payload: &[u8]) {
    use TraceLayers as L;
    if !out.wants(L::IP | L::ICMP | L::UDP | L::TCP) {
        return;
    }
    let hdr = match Ipv4HeaderSlice::from_slice(payload) {
        Ok(h) => h,
        Err(etherparse::err::ipv4::HeaderSliceError::Len(e)) => {
            out.malformed(L::IP, format_args!("ipv4: {}", len_problem(&e)));
            return;
        }
        Err(etherparse::err::ipv4::HeaderSliceError::Content(e)) => {
            out.malformed(L::IP, format_args!("ipv4: {e}"));
            return;
        }
    };
    let (src, dst) = (hdr.source_addr(), hdr.destination_addr());
    let offset = hdr.fragments_offset().byte_offset();
    let more = hdr.more_fragments();
    // The datagram's own protocol field (51 for an AH, not what follows it).
    let proto = hdr.protocol().0;
    // A first fragment (or a whole datagram) is parsed with its extension headers; a later
    // fragment's data is the middle of the datagram, so only its length is checked.
    let ip = if offset == 0 {
        match Ipv4Slice::from_slice(payload) {
            Ok(ip) => Some(ip),
            Err(e) => {
                let why = match e {
                    etherparse::err::ipv4::SliceError::Len(e) => len_problem(&e),
                    etherparse::err::ipv4::SliceError::Header(e) => e.to_string(),
                    etherparse::err::ipv4::SliceError::Exts(e) => e.to_string(),
                };
                out.malformed(L::IP, format_args!("ipv4 {src} > {dst}: {why}"));
                return;
            }
        }
    } else {
        let total = usize::from(hdr.total_len());
        let header = hdr.slice().len();
        if total < header || total > payload.len() {
            let frame = payload.len();
            out.malformed(
                L::IP,
                format_args!("ipv4 {src} > {dst}: length field gives {total} bytes, header {header}, frame {frame}"),
            );
            return;
        }
        None
    };
    if out.wants(L::IP) {
        let df = if hdr.dont_fragment() { " [DF]" } else { "" };
        let frag = if offset != 0 || more {
            format!(" frag off={offset}{}", if more { " MF" } else { "" })
        } else {
            String::new()
        };
        let opts = if hdr.options().is_empty() {
            String::new()
        } else {
            format!(" opts {} bytes", hdr.options().len())
        };
        let cksum = if checksum_ok(&[hdr.slice()]) {
            ""
        } else {
            BAD_CKSUM
        };
        out.line(
            L::IP,
            format_args!(
                "{src} > {dst} {} ttl {} id {} len {}{df}{frag}{opts}{cksum}",
                ProtoName(proto),
                hdr.ttl(),
                hdr.identification(),
                hdr.total_len()
            ),
        );
    }
    // Only the first fragment carries the transport header; only a whole datagram can be
    // checksummed.
    let Some(ip) = ip else {
        return;
    };
    let t = Transport {
        src,
        dst,
        data: ip.payload().payload,
        whole: !more,
        verified: out.verified,
    };
    // What follows the extension headers (an AH's next header).
    match ip.payload_ip_number().0 {
        1 => describe_icmp(out, &t),
        6 => describe_tcp(out, &t),
        17 => describe_udp(out, &t),
        _ => {}
    }
}

fn describe_ipv6(out: &mut Lines<'_>, payload: &[u8]) {
    if !out.wants(TraceLayers::IP) {
        return;
    }
    match Ipv6HeaderSlice::from_slice(payload) {
        Ok(h) => out.line(
            TraceLayers::IP,
            format_args!(
                "{} > {} IPv6 next {} hlim {} len {}",
                h.source_addr(),
                h.destination_addr(),
                ProtoName(h.next_header().0),
                h.hop_limit(),
                h.payload_length()
            ),
        ),
        Err(etherparse::err::ipv6::HeaderSliceError::Len(e)) => {
            out.malformed(TraceLayers::IP, format_args!("ipv6: {}", len_problem(&e)));
        }
        Err(etherparse::err::ipv6::HeaderSliceError::Content(e)) => {
            out.malformed(TraceLayers::IP, format_args!("ipv6: {e}"));
        }
    }
}

/// An IPv4 payload handed to a transport decoder.
struct Transport<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    data: &'a [u8],
    /// Not a fragment: the whole transport message is here.
    whole: bool,
    /// The device verified its checksum.
    verified: bool,
}

impl Transport<'_> {
    fn checksum_flag(&self, proto: u8, segment: &[u8]) -> &'static str {
        if !self.whole || self.verified {
            return "";
        }
        match pseudo_header(self.src, self.dst, proto, segment.len()) {
            Some(p) if checksum_ok(&[&p, segment]) => "",
            _ => BAD_CKSUM,
        }
    }
}

fn describe_icmp(out: &mut Lines<'_>, t: &Transport<'_>) {
    if !out.wants(TraceLayers::ICMP) {
        return;
    }
    let (src, dst) = (t.src, t.dst);
    let icmp = match Icmpv4Slice::from_slice(t.data) {
        Ok(i) => i,
        Err(e) => {
            out.malformed(
                TraceLayers::ICMP,
                format_args!("icmp {src} > {dst}: {}", len_problem(&e)),
            );
            return;
        }
    };
    let (kind, code) = (icmp.type_u8(), icmp.code_u8());
    let rest = icmp.bytes5to8();
    let id = u16::from_be_bytes([rest[0], rest[1]]);
    let seq = u16::from_be_bytes([rest[2], rest[3]]);
    let quoted = QuotedDatagram(icmp.payload());
    let what = match kind {
        0 => format!("echo reply id {id} seq {seq}"),
        8 => format!("echo request id {id} seq {seq}"),
        3 => {
            let reason = match code {
                0 => "net".to_string(),
                1 => "host".to_string(),
                2 => "protocol".to_string(),
                3 => "port".to_string(),
                4 => format!("frag needed mtu {seq}"),
                5 => "source route failed".to_string(),
                13 => "admin prohibited".to_string(),
                _ => "other".to_string(),
            };
            format!("dest unreachable code {code} ({reason}){quoted}")
        }
        4 => format!("source quench{quoted}"),
        5 => format!("redirect code {code} to {}{quoted}", Ipv4Addr::from(rest)),
        11 => {
            let reason = match code {
                0 => "ttl exceeded in transit",
                1 => "fragment reassembly",
                _ => "other",
            };
            format!("time exceeded code {code} ({reason}){quoted}")
        }
        12 => format!("parameter problem code {code} pointer {}{quoted}", rest[0]),
        13 => format!("timestamp request id {id} seq {seq}"),
        14 => format!("timestamp reply id {id} seq {seq}"),
        _ => format!("type {kind} code {code}"),
    };
    let cksum = if t.whole && !checksum_ok(&[icmp.slice()]) {
        BAD_CKSUM
    } else {
        ""
    };
    out.line(
        TraceLayers::ICMP,
        format_args!("{src} > {dst} {what} len {}{cksum}", icmp.slice().len()),
    );
}

/// The start of the datagram an ICMP error quotes, as ` for 10.0.0.1:53 > 10.0.0.2:5353 UDP`
/// (empty if it does not decode). A later fragment's data is the middle of its datagram,
/// not a transport header: it shows as ` for 10.0.0.1 > 10.0.0.2 UDP frag off=1480`.
struct QuotedDatagram<'a>(&'a [u8]);

impl fmt::Display for QuotedDatagram<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(h) = Ipv4HeaderSlice::from_slice(self.0) else {
            return Ok(());
        };
        let proto = h.protocol().0;
        let offset = h.fragments_offset().byte_offset();
        let after = self.0.get(h.slice().len()..).unwrap_or(&[]);
        match (proto, after) {
            _ if offset != 0 => write!(
                f,
                " for {} > {} {} frag off={offset}",
                h.source_addr(),
                h.destination_addr(),
                ProtoName(proto)
            ),
            (6 | 17, [a, b, c, d, ..]) => write!(
                f,
                " for {}:{} > {}:{} {}",
                h.source_addr(),
                u16::from_be_bytes([*a, *b]),
                h.destination_addr(),
                u16::from_be_bytes([*c, *d]),
                ProtoName(proto)
            ),
            _ => write!(
                f,
                " for {} > {} {}",
                h.source_addr(),
                h.destination_addr(),
                ProtoName(proto)
            ),
        }
    }
}

fn describe_udp(out: &mut Lines<'_>, t: &Transport<'_>) {
    if !out.wants(TraceLayers::UDP) {
        return;
    }
    let (src, dst) = (t.src, t.dst);
    let udp = match UdpHeaderSlice::from_slice(t.data) {
        Ok(u) => u,
        Err(e) => {
            out.malformed(
                TraceLayers::UDP,
                format_args!("udp {src} > {dst}: {}", len_problem(&e)),
            );
            return;
        }
    };
    let (sport, dport) = (udp.source_port(), udp.destination_port());
    let length = usize::from(udp.length());
    let segment = match t.data.get(..length) {
        Some(s) if length >= 8 => s,
        // A fragment holds only part of the datagram; say what the header claims.
        _ if !t.whole && length >= 8 => t.data,
        _ => {
            out.malformed(
                TraceLayers::UDP,
                format_args!(
                    "udp {src}:{sport} > {dst}:{dport}: length field {length}, have {} bytes",
                    t.data.len()
                ),
            );
            return;
        }
    };
    let cksum = if udp.checksum() == 0 {
        "" // no checksum sent
    } else {
        t.checksum_flag(17, segment)
    };
    out.line(
        TraceLayers::UDP,
        format_args!("{src}:{sport} > {dst}:{dport} len {}{cksum}", length - 8),
    );
}

fn describe_tcp(out: &mut Lines<'_>, t: &Transport<'_>) {
    if !out.wants(TraceLayers::TCP) {
        return;
    }
    let (src, dst) = (t.src, t.dst);
    let tcp = match TcpHeaderSlice::from_slice(t.data) {
        Ok(h) => h,
        Err(etherparse::err::tcp::HeaderSliceError::Len(e)) => {
            out.malformed(
                TraceLayers::TCP,
                format_args!("tcp {src} > {dst}: {}", len_problem(&e)),
            );
            return;
        }
        Err(etherparse::err::tcp::HeaderSliceError::Content(e)) => {
            out.malformed(TraceLayers::TCP, format_args!("tcp {src} > {dst}: {e}"));
            return;
        }
    };
    let flags = tcp_flags(tcp.slice()[13]);
    let len = t.data.len().saturating_sub(tcp.slice().len());
    let urg = if tcp.urg() {
        format!(" urg {}", tcp.urgent_pointer())
    } else {
        String::new()
    };
    let opts = TcpOptions(&tcp);
    let cksum = t.checksum_flag(6, t.data);
    out.line(
        TraceLayers::TCP,
        format_args!(
            "{src}:{} > {dst}:{} [{flags}] seq {} ack {} win {} len {len}{urg}{opts}{cksum}",
            tcp.source_port(),
            tcp.destination_port(),
            tcp.sequence_number(),
            tcp.acknowledgment_number(),
            tcp.window_size()
        ),
    );
}

/// TCP options as ` opts [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]` (empty if none).
struct TcpOptions<'a, 'b>(&'a TcpHeaderSlice<'b>);

impl fmt::Display for TcpOptions<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.options().is_empty() {
            return Ok(());
        }
        f.write_str(" opts [")?;
        // Walked an option at a time by kind and length (RFC 9293 3.1), so that a
        // well-formed option of a kind etherparse does not decode is named and skipped;
        // etherparse decodes each known one.
        let mut rest = self.0.options();
        let mut first = true;
        while let [kind, ..] = *rest {
            // End of option list: the rest is padding.
            if kind == 0 {
                break;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            let len = match kind {
                1 => 1,
                _ => rest.get(1).map_or(0, |&l| usize::from(l)),
            };
            if len == 0 || (kind > 1 && len < 2) || len > rest.len() {
                f.write_str("bad option")?;
                break;
            }
            let (this, after) = rest.split_at(len);
            rest = after;
            let Some(opt) = etherparse::TcpOptionsIterator::from_slice(this).next() else {
                continue;
            };
            match opt {
                Err(etherparse::TcpOptionReadError::UnknownId(k)) => {
                    write!(f, "opt-{k} len {len}")?;
                    continue;
                }
                Ok(TcpOptionElement::Noop) => f.write_str("nop")?,
                Ok(TcpOptionElement::MaximumSegmentSize(mss)) => write!(f, "mss {mss}")?,
                Ok(TcpOptionElement::WindowScale(s)) => write!(f, "wscale {s}")?,
                Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => f.write_str("sackOK")?,
                Ok(TcpOptionElement::SelectiveAcknowledgement(first, rest)) => {
                    write!(f, "sack {}-{}", first.0, first.1)?;
                    for (l, r) in rest.iter().flatten() {
                        write!(f, " {l}-{r}")?;
                    }
                }
                Ok(TcpOptionElement::Timestamp(val, ecr)) => write!(f, "TS val {val} ecr {ecr}")?,
                Err(_) => {
                    f.write_str("bad option")?;
                    break;
                }
            }
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLink;
    use etherparse::{
        icmpv4::DestUnreachableHeader, Icmpv4Type, IpHeaders, IpNumber, Ipv4Header, PacketBuilder,
    };

    const PEER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    const OUR_MAC: [u8; 6] = [0x00, 0x34, 0x45, 0x67, 0x89, 0xab];
    const PEER_IP: [u8; 4] = [10, 0, 0, 2];
    const OUR_IP: [u8; 4] = [10, 0, 0, 1];

    /// Serialise a `PacketBuilder` chain with `payload`.
    macro_rules! frame {
        ($builder:expr, $payload:expr) => {{
            let builder = $builder;
            let payload: &[u8] = $payload;
            let mut out = Vec::with_capacity(builder.size(payload.len()));
            builder.write(&mut out, payload).unwrap();
            out
        }};
    }

    fn rx(layers: TraceLayers, frame: &[u8]) -> Vec<String> {
        describe(layers, "tap0", Direction::Rx, frame)
    }

    fn arp_frame(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        let dst = if op == 1 { [0xff; 6] } else { tha };
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sha);
        f.extend_from_slice(&0x0806u16.to_be_bytes());
        f.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
        f.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
        f.push(6);
        f.push(4);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&sha);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&tha);
        f.extend_from_slice(&tpa);
        f.resize(60, 0); // padded to the Ethernet minimum, as on a wire
        f
    }

    fn echo_request() -> Vec<u8> {
        let mut ip = Ipv4Header::new(0, 64, IpNumber::ICMP, PEER_IP, OUR_IP).unwrap();
        ip.identification = 7238;
        frame!(
            PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
                .ip(IpHeaders::Ipv4(ip, Default::default()))
                .icmpv4_echo_request(12, 1),
            &[0x61; 56]
        )
    }

    fn udp_query() -> Vec<u8> {
        frame!(
            PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
                .ipv4(PEER_IP, OUR_IP, 64)
                .udp(5353, 53),
            &[7; 20]
        )
    }

    fn tcp_syn() -> Vec<u8> {
        frame!(
            PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
                .ipv4(PEER_IP, OUR_IP, 64)
                .tcp(40000, 80, 1, 64240)
                .syn()
                .options(&[
                    TcpOptionElement::MaximumSegmentSize(1460),
                    TcpOptionElement::SelectiveAcknowledgementPermitted,
                    TcpOptionElement::Timestamp(100, 0),
                    TcpOptionElement::Noop,
                    TcpOptionElement::WindowScale(7),
                ])
                .unwrap(),
            &[]
        )
    }

    /// An IPv4 fragment carrying `data` at byte `offset`.
    fn fragment(offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut ip = Ipv4Header::new(0, 64, IpNumber::UDP, PEER_IP, OUR_IP).unwrap();
        ip.identification = 99;
        ip.dont_fragment = false;
        ip.more_fragments = more;
        ip.fragment_offset = etherparse::IpFragOffset::try_new(offset / 8).unwrap();
        ip.set_payload_len(data.len()).unwrap();
        ip.header_checksum = ip.calc_header_checksum();
        let mut f = Vec::new();
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        ip.write(&mut f).unwrap();
        f.extend_from_slice(data);
        f
    }

    /// The frames every robustness test chops up.
    fn sample_frames() -> Vec<Vec<u8>> {
        let mut first = 0x1234u16.to_be_bytes().to_vec(); // UDP header start of a big datagram
        first.extend_from_slice(&53u16.to_be_bytes());
        first.extend_from_slice(&3000u16.to_be_bytes());
        first.extend_from_slice(&[0, 0]);
        first.resize(1480, 9);
        vec![
            arp_frame(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP),
            arp_frame(2, OUR_MAC, OUR_IP, PEER_MAC, PEER_IP),
            echo_request(),
            udp_query(),
            tcp_syn(),
            fragment(0, true, &first),
            fragment(1480, false, &[1; 100]),
        ]
    }

    #[test]
    fn layers_parse_and_print() {
        assert_eq!(TraceLayers::parse("dev").unwrap(), TraceLayers::DEV);
        assert_eq!(TraceLayers::parse("L2").unwrap(), TraceLayers::L2);
        assert_eq!(
            TraceLayers::parse("tcpstate").unwrap(),
            TraceLayers::TCPSTATE
        );
        assert_eq!(TraceLayers::parse("all").unwrap(), TraceLayers::ALL);
        assert_eq!(TraceLayers::parse("none").unwrap(), TraceLayers::NONE);
        assert_eq!(
            TraceLayers::parse("ip,tcp").unwrap(),
            TraceLayers::IP | TraceLayers::TCP
        );
        assert_eq!(
            "udp+icmp arp".parse::<TraceLayers>().unwrap(),
            TraceLayers::UDP | TraceLayers::ICMP | TraceLayers::ARP
        );
        for (name, layer) in TraceLayers::NAMED {
            assert_eq!(TraceLayers::parse(name).unwrap(), layer);
            assert_eq!(layer.to_string(), name);
            assert_eq!(layer.name(), name);
        }
        assert_eq!(
            TraceLayers::parse("ipv4").unwrap_err(),
            ParseTraceLayersError("ipv4".into())
        );
        assert!(TraceLayers::parse("").is_err());
        assert!(TraceLayers::parse("ip,bogus").is_err());
        let msg = TraceLayers::parse("x").unwrap_err().to_string();
        assert!(msg.contains("'x'") && !msg.contains('\n'));

        let some = TraceLayers::IP | TraceLayers::TCP;
        assert_eq!(some.to_string(), "ip,tcp");
        assert_eq!(TraceLayers::parse(&some.to_string()).unwrap(), some);
        assert_eq!(TraceLayers::ALL.to_string(), "all");
        assert_eq!(TraceLayers::NONE.to_string(), "none");
        assert!(some.contains(TraceLayers::IP) && !some.contains(TraceLayers::ALL));
        assert!(TraceLayers::ALL.contains(some));
        assert_eq!(!TraceLayers::NONE, TraceLayers::ALL);
        assert_eq!(TraceLayers::from_bits_truncate(u32::MAX), TraceLayers::ALL);
        assert_eq!(some & TraceLayers::TCP, TraceLayers::TCP);
        assert_eq!(
            TraceLayers::FRAME.difference(TraceLayers::ALL),
            TraceLayers::NONE
        );
    }

    #[test]
    fn arp_lines() {
        let req = arp_frame(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP);
        assert_eq!(
            rx(TraceLayers::ALL, &req),
            vec![
                "dev  tap0 rx 60 bytes",
                "l2   tap0 rx 52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff ARP",
                "arp  tap0 rx who-has 10.0.0.1 tell 10.0.0.2",
            ]
        );
        let reply = arp_frame(2, OUR_MAC, OUR_IP, PEER_MAC, PEER_IP);
        assert_eq!(
            describe(TraceLayers::ARP, "tap0", Direction::Tx, &reply),
            vec!["arp  tap0 tx reply 10.0.0.1 is-at 00:34:45:67:89:ab"]
        );
        let gratuitous = arp_frame(1, PEER_MAC, PEER_IP, [0; 6], PEER_IP);
        assert_eq!(
            rx(TraceLayers::ARP, &gratuitous),
            vec!["arp  tap0 rx who-has 10.0.0.2 tell 10.0.0.2 (gratuitous)"]
        );
        // ARP lines only when asked for.
        assert!(rx(TraceLayers::IP | TraceLayers::TCP, &req).is_empty());
        // Not Ethernet/IPv4 ARP.
        let mut odd = req.clone();
        odd[14..16].copy_from_slice(&6u16.to_be_bytes());
        assert_eq!(
            rx(TraceLayers::ARP, &odd),
            vec!["arp  tap0 rx op 1 hw 6 (6 bytes) proto 0x0800 (4 bytes)"]
        );
    }

    #[test]
    fn icmp_echo_lines() {
        let f = echo_request();
        assert_eq!(
            rx(TraceLayers::ALL, &f),
            vec![
                "dev  tap0 rx 98 bytes",
                "l2   tap0 rx 52:54:00:12:34:56 > 00:34:45:67:89:ab IPv4",
                "ip   tap0 rx 10.0.0.2 > 10.0.0.1 ICMP ttl 64 id 7238 len 84 [DF]",
                "icmp tap0 rx 10.0.0.2 > 10.0.0.1 echo request id 12 seq 1 len 64",
            ]
        );
        let reply = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4_echo_reply(12, 1),
            &[0x61; 56]
        );
        assert_eq!(
            describe(TraceLayers::ICMP, "tap0", Direction::Tx, &reply),
            vec!["icmp tap0 tx 10.0.0.1 > 10.0.0.2 echo reply id 12 seq 1 len 64"]
        );
    }

    #[test]
    fn icmp_errors_show_the_quoted_datagram() {
        // Our reply to a UDP query for a closed port quotes its IP header and 8 bytes.
        let query = udp_query();
        let quoted = &query[14..14 + 28];
        let unreach = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4(Icmpv4Type::DestinationUnreachable(
                    DestUnreachableHeader::Port
                )),
            quoted
        );
        assert_eq!(
            rx(TraceLayers::ICMP, &unreach),
            vec!["icmp tap0 rx 10.0.0.1 > 10.0.0.2 dest unreachable code 3 (port) for 10.0.0.2:5353 > 10.0.0.1:53 UDP len 36"]
        );
        let mtu = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4(Icmpv4Type::DestinationUnreachable(
                    DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 }
                )),
            quoted
        );
        assert!(rx(TraceLayers::ICMP, &mtu)[0]
            .contains("dest unreachable code 4 (frag needed mtu 1400)"));
        let expired = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4(Icmpv4Type::TimeExceeded(
                    etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit
                )),
            quoted
        );
        assert!(rx(TraceLayers::ICMP, &expired)[0].contains(
            "time exceeded code 0 (ttl exceeded in transit) for 10.0.0.2:5353 > 10.0.0.1:53 UDP"
        ));
        let redirect = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4_raw(5, 1, [10, 0, 0, 254]),
            quoted
        );
        assert!(rx(TraceLayers::ICMP, &redirect)[0].contains("redirect code 1 to 10.0.0.254 for"));
        let unknown = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4_raw(42, 7, [0; 4]),
            &[]
        );
        assert!(rx(TraceLayers::ICMP, &unknown)[0].ends_with("type 42 code 7 len 8"));
    }

    #[test]
    fn udp_and_tcp_lines() {
        assert_eq!(
            rx(TraceLayers::UDP, &udp_query()),
            vec!["udp  tap0 rx 10.0.0.2:5353 > 10.0.0.1:53 len 20"]
        );
        assert_eq!(
            rx(TraceLayers::IP, &udp_query()),
            vec!["ip   tap0 rx 10.0.0.2 > 10.0.0.1 UDP ttl 64 id 0 len 48 [DF]"]
        );
        assert_eq!(
            rx(TraceLayers::TCP, &tcp_syn()),
            vec!["tcp  tap0 rx 10.0.0.2:40000 > 10.0.0.1:80 [S] seq 1 ack 0 win 64240 len 0 opts [mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7]"]
        );
        let data = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .tcp(80, 40000, 5000, 1024)
                .ack(2)
                .psh(),
            b"hello"
        );
        assert_eq!(
            describe(TraceLayers::TCP, "tap0", Direction::Tx, &data),
            vec!["tcp  tap0 tx 10.0.0.1:80 > 10.0.0.2:40000 [P.] seq 5000 ack 2 win 1024 len 5"]
        );
        let fin = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .tcp(80, 40000, 5005, 1024)
                .ack(2)
                .fin(),
            &[]
        );
        assert!(rx(TraceLayers::TCP, &fin)[0].contains("[F.] seq 5005 ack 2"));
        let rst = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .tcp(80, 40000, 0, 0)
                .rst(),
            &[]
        );
        assert!(rx(TraceLayers::TCP, &rst)[0].contains("[R] seq 0 ack 0 win 0 len 0"));
    }

    #[test]
    fn fragments() {
        let frames = sample_frames();
        let (first, second) = (&frames[5], &frames[6]);
        assert_eq!(
            rx(TraceLayers::IP | TraceLayers::UDP, first),
            vec![
                "ip   tap0 rx 10.0.0.2 > 10.0.0.1 UDP ttl 64 id 99 len 1500 frag off=0 MF",
                "udp  tap0 rx 10.0.0.2:4660 > 10.0.0.1:53 len 2992",
            ]
        );
        // Later fragments carry no transport header.
        assert_eq!(
            rx(TraceLayers::IP | TraceLayers::UDP, second),
            vec!["ip   tap0 rx 10.0.0.2 > 10.0.0.1 UDP ttl 64 id 99 len 120 frag off=1480"]
        );
    }

    #[test]
    fn bad_checksums_are_flagged() {
        let mut f = udp_query();
        let last = f.len() - 1;
        f[last] ^= 0x10;
        let lines = rx(TraceLayers::IP | TraceLayers::UDP, &f);
        assert!(!lines[0].contains("bad cksum"), "{lines:?}");
        assert!(lines[1].ends_with("len 20 [bad cksum]"), "{lines:?}");

        let mut f = echo_request();
        f[14 + 8] = 63; // ttl, covered by the header checksum only
        let lines = rx(TraceLayers::IP | TraceLayers::ICMP, &f);
        assert!(lines[0].ends_with("[DF] [bad cksum]"), "{lines:?}");
        assert!(!lines[1].contains("bad cksum"), "{lines:?}");

        let mut f = echo_request();
        f[60] ^= 1;
        assert!(rx(TraceLayers::ICMP, &f)[0].ends_with("[bad cksum]"));

        let mut f = tcp_syn();
        f[14 + 20 + 4] ^= 0x80; // sequence number
        assert!(rx(TraceLayers::TCP, &f)[0].contains("[bad cksum]"));

        // Every sample frame is clean as built.
        for f in sample_frames() {
            for line in rx(TraceLayers::ALL, &f) {
                assert!(!line.contains("bad cksum"), "{line}");
                assert!(!line.contains("malformed"), "{line}");
            }
        }
    }

    /// A frame the device verified (`Csum::Valid`, as the kernel marks one it coalesced,
    /// whose TCP checksum is the first segment's) is not called bad.
    #[test]
    fn checksums_the_device_verified_are_not_judged() {
        let mut f = tcp_syn();
        f[14 + 20 + 4] ^= 0x80;
        let judged = describe_checked(TraceLayers::TCP, "tap0", Direction::Rx, &f, false);
        assert!(judged[0].contains("[bad cksum]"), "{judged:?}");
        let trusted = describe_checked(TraceLayers::TCP, "tap0", Direction::Rx, &f, true);
        assert!(!trusted[0].contains("bad cksum"), "{trusted:?}");
    }

    #[test]
    fn other_ethertypes_and_ipv6() {
        let mut lldp = vec![0u8; 60];
        lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        assert_eq!(
            rx(TraceLayers::ALL, &lldp),
            vec![
                "dev  tap0 rx 60 bytes",
                "l2   tap0 rx 00:00:00:00:00:00 > 00:00:00:00:00:00 ethertype 0x88cc",
            ]
        );
        let v6 = frame!(
            PacketBuilder::ethernet2(PEER_MAC, [0x33, 0x33, 0, 0, 0, 2])
                .ipv6(
                    [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                    255
                )
                .udp(1, 2),
            &[0; 4]
        );
        assert_eq!(
            rx(TraceLayers::IP | TraceLayers::UDP, &v6),
            vec!["ip   tap0 rx fe80::1 > ff02::2 IPv6 next UDP hlim 255 len 12"]
        );
    }

    #[test]
    fn malformed_frames_say_so() {
        assert_eq!(
            rx(TraceLayers::ALL, &[1, 2, 3]),
            vec![
                "dev  tap0 rx 3 bytes",
                "l2   tap0 rx malformed ethernet: truncated, 3 of 14 bytes",
            ]
        );
        // Only `dev` wanted: no decoding at all.
        assert_eq!(
            rx(TraceLayers::DEV, &[1, 2, 3]),
            vec!["dev  tap0 rx 3 bytes"]
        );

        let icmp = echo_request();
        assert_eq!(
            rx(TraceLayers::IP, &icmp[..30]),
            vec!["ip   tap0 rx malformed ipv4: truncated, 16 of 20 bytes"]
        );
        assert_eq!(
            rx(TraceLayers::ICMP, &icmp[..60]),
            vec!["ip   tap0 rx malformed ipv4 10.0.0.2 > 10.0.0.1: truncated, 46 of 84 bytes"]
        );
        let mut bad_version = icmp.clone();
        bad_version[14] = 0x65;
        assert!(rx(TraceLayers::IP, &bad_version)[0].starts_with("ip   tap0 rx malformed ipv4: "));

        let arp = arp_frame(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP);
        assert_eq!(
            rx(TraceLayers::ARP, &arp[..30]),
            vec!["arp  tap0 rx malformed arp: length field gives 16 bytes, need 28"]
        );

        // A TCP header cut short inside a consistent IP datagram.
        let mut short_tcp = fragment(0, false, &[0; 10]);
        short_tcp[14 + 9] = 6;
        let lines = rx(TraceLayers::TCP, &short_tcp);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("tcp  tap0 rx malformed tcp 10.0.0.2 > 10.0.0.1: truncated"),
            "{lines:?}"
        );

        let mut bad_udp_len = udp_query();
        bad_udp_len[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&500u16.to_be_bytes());
        assert_eq!(
            rx(TraceLayers::UDP, &bad_udp_len),
            vec!["udp  tap0 rx malformed udp 10.0.0.2:5353 > 10.0.0.1:53: length field 500, have 28 bytes"]
        );
    }

    /// xorshift64*, for test garbage.
    fn garbage(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn truncated_and_garbage_frames_never_panic() {
        let mut frames = sample_frames();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..3000 {
            let len = i % 120;
            let mut f = garbage(&mut state, len);
            // Steer some garbage into the deeper decoders.
            if len > 15 {
                match i % 4 {
                    0 => f[12..14].copy_from_slice(&[0x08, 0x00]),
                    1 => {
                        f[12..14].copy_from_slice(&[0x08, 0x00]);
                        f[14] = 0x45;
                        if len > 24 {
                            f[23] = [1, 6, 17][i % 3];
                            f[20] &= 0x20; // no fragment offset
                            f[21] = 0;
                        }
                    }
                    2 => f[12..14].copy_from_slice(&[0x08, 0x06]),
                    _ => f[12..14].copy_from_slice(&[0x86, 0xdd]),
                }
            }
            frames.push(f);
        }
        for f in &frames {
            for len in 0..=f.len().min(60) {
                let part = &f[..len];
                let lines = rx(TraceLayers::ALL, part);
                assert_eq!(lines[0], format!("dev  tap0 rx {len} bytes"));
                for layers in TraceLayers::NAMED.iter().map(|&(_, l)| l) {
                    let _ = rx(layers, part);
                }
            }
            let _ = rx(TraceLayers::ALL, f);
        }
    }

    #[test]
    fn trace_handle_switches_and_emits() {
        let (trace, lines) = Trace::new();
        assert_eq!(trace.layers(), TraceLayers::NONE);
        trace.emit(TraceLayers::TCPSTATE, "nobody listens");
        assert!(lines.try_recv().is_err());

        trace.set(TraceLayers::IP);
        trace.add(TraceLayers::TCPSTATE | TraceLayers::TCP);
        assert!(trace.enabled(TraceLayers::TCP));
        assert!(trace.enabled(TraceLayers::IP | TraceLayers::ARP));
        assert!(!trace.enabled(TraceLayers::ARP));
        trace.remove(TraceLayers::TCP);
        assert_eq!(trace.layers(), TraceLayers::IP | TraceLayers::TCPSTATE);

        let other = trace.clone();
        other.emit(
            TraceLayers::TCPSTATE,
            format_args!("{} SYN_RCVD -> ESTABLISHED", "10.0.0.1:80"),
        );
        let line = lines.try_recv().unwrap();
        assert_timestamped(&line);
        assert_eq!(&line[16..], "tcpstate 10.0.0.1:80 SYN_RCVD -> ESTABLISHED");
        other.emit(TraceLayers::IP, "x");
        assert_eq!(&lines.try_recv().unwrap()[16..], "ip   x");

        trace.clear();
        assert!(!other.enabled(TraceLayers::ALL));
        other.emit(TraceLayers::IP, "x");
        assert!(lines.try_recv().is_err());
        assert_eq!(trace.dropped_lines(), 0);
    }

    #[test]
    fn full_channel_drops_and_counts() {
        let (trace, lines) = Trace::with_capacity(2);
        trace.set(TraceLayers::ALL);
        for i in 0..5 {
            trace.emit(TraceLayers::TCPSTATE, i);
        }
        assert_eq!(lines.len(), 2);
        assert_eq!(trace.dropped_lines(), 3);
        drop(lines);
        trace.emit(TraceLayers::TCPSTATE, "gone");
        assert_eq!(trace.dropped_lines(), 4);
    }

    fn assert_timestamped(line: &str) {
        let b = line.as_bytes();
        assert!(b.len() > 16, "{line}");
        for (i, &c) in b[..15].iter().enumerate() {
            match i {
                2 | 5 => assert_eq!(c, b':', "{line}"),
                8 => assert_eq!(c, b'.', "{line}"),
                _ => assert!(c.is_ascii_digit(), "{line}"),
            }
        }
        assert_eq!(b[15], b' ');
    }

    #[test]
    fn timestamp_format() {
        let t = UNIX_EPOCH + Duration::new(86_400 * 365 + 3600 * 13 + 60 * 7 + 9, 42_000);
        assert_eq!(Timestamp(t).to_string(), "13:07:09.000042");
        assert_eq!(Timestamp(UNIX_EPOCH).to_string(), "00:00:00.000000");
    }

    /// A memory link whose `tap0` end is traced: (the peer's end, the tracer, its trace,
    /// the trace's lines); the link holds `cap` frames each way.
    fn traced_link(
        cap: usize,
    ) -> (
        MemoryLink,
        Tracer<MemoryLink>,
        Trace,
        crossbeam_channel::Receiver<String>,
    ) {
        let (peer, local) = MemoryLink::pair(
            ("peer", MacAddr(PEER_MAC)),
            ("tap0", MacAddr(OUR_MAC)),
            1500,
            cap,
        );
        let (trace, lines) = Trace::new();
        let dev = Tracer::new(local, trace.clone());
        (peer, dev, trace, lines)
    }

    #[test]
    fn a_batch_is_traced_frame_by_frame_and_handed_on_whole() {
        let (peer, dev, trace, lines) = traced_link(2);
        trace.set(TraceLayers::DEV);
        let (a, b) = (udp_query(), echo_request());
        let meta = FrameMeta::default();
        let mut results = Vec::new();
        // The link holds two frames: the third fails, and only it is reported as an error.
        dev.send_meta_batch(&[(&a, meta), (&b, meta), (&a, meta)], &mut |i, r| {
            results.push((i, r.is_ok()))
        });
        assert_eq!(results, [(0, true), (1, true), (2, false)]);
        let bodies: Vec<String> = lines.try_iter().map(|l| l[16..].to_string()).collect();
        assert_eq!(bodies.len(), 4, "{bodies:?}");
        assert_eq!(
            bodies[..3],
            [
                "dev  tap0 tx 62 bytes",
                "dev  tap0 tx 98 bytes",
                "dev  tap0 tx 62 bytes"
            ]
        );
        assert!(
            bodies[3].starts_with("dev  tap0 tx error 62 bytes: "),
            "{bodies:?}"
        );
        let mut buf = [0u8; 1600];
        let ms = Duration::from_millis(20);
        assert_eq!(peer.recv(&mut buf, ms).unwrap(), Some(62));
        assert_eq!(peer.recv(&mut buf, ms).unwrap(), Some(98));
    }

    #[test]
    fn tracer_reports_both_directions_only_when_enabled() {
        let (peer, dev, trace, lines) = traced_link(1);
        assert_eq!(dev.info().name, "tap0");
        let mut buf = [0u8; 1600];
        let ms = Duration::from_millis(20);

        // Disabled: frames pass, nothing is traced.
        peer.send(&echo_request()).unwrap();
        assert_eq!(dev.recv(&mut buf, ms).unwrap(), Some(98));
        dev.send(&udp_query()).unwrap();
        assert!(peer.recv(&mut buf, ms).unwrap().is_some());
        trace.set(TraceLayers::TCPSTATE); // no frame layer: still nothing
        peer.send(&echo_request()).unwrap();
        assert_eq!(dev.recv(&mut buf, ms).unwrap(), Some(98));
        assert!(lines.try_recv().is_err());

        trace.set(TraceLayers::DEV | TraceLayers::ICMP | TraceLayers::UDP);
        peer.send(&echo_request()).unwrap();
        assert_eq!(dev.recv(&mut buf, ms).unwrap(), Some(98));
        dev.send(&udp_query()).unwrap();
        let got: Vec<String> = lines.try_iter().collect();
        assert_eq!(got.len(), 4, "{got:?}");
        for line in &got {
            assert_timestamped(line);
        }
        let bodies: Vec<&str> = got.iter().map(|l| &l[16..]).collect();
        assert_eq!(
            bodies,
            vec![
                "dev  tap0 rx 98 bytes",
                "icmp tap0 rx 10.0.0.2 > 10.0.0.1 echo request id 12 seq 1 len 64",
                "dev  tap0 tx 62 bytes",
                "udp  tap0 tx 10.0.0.2:5353 > 10.0.0.1:53 len 20",
            ]
        );

        // A frame is traced as it is handed on; a failed send is then reported under dev.
        let err = dev.send(&udp_query()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let got: Vec<String> = lines.try_iter().collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[2][16..].starts_with("dev  tap0 tx error 62 bytes: "),
            "{got:?}"
        );
        // Also when only a protocol layer is traced: the refused frame's line is followed
        // by the error, and a frame too long for the reader's buffer is shown as refused.
        trace.set(TraceLayers::UDP);
        dev.send(&udp_query()).unwrap_err();
        let got: Vec<String> = lines.try_iter().collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0][16..].starts_with("udp  tap0 tx "), "{got:?}");
        assert!(got[1][16..].starts_with("dev  tap0 tx error "), "{got:?}");
        assert!(peer.recv(&mut buf, ms).unwrap().is_some());
        peer.send(&echo_request()).unwrap();
        dev.recv(&mut [0u8; 20], ms).unwrap_err();
        let got: Vec<String> = lines.try_iter().collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0][16..].starts_with("dev  tap0 rx error: "), "{got:?}");
    }

    /// An IPv4 frame from the peer to us with protocol `proto` and `payload`, its header
    /// checksum right; `offset` in bytes, and the MF flag.
    fn ipv4_raw(proto: u8, offset: u16, more: bool, payload: &[u8]) -> Vec<u8> {
        let mut ip = Ipv4Header::new(0, 64, IpNumber(proto), PEER_IP, OUR_IP).unwrap();
        ip.identification = 77;
        ip.dont_fragment = false;
        ip.more_fragments = more;
        ip.fragment_offset = etherparse::IpFragOffset::try_new(offset / 8).unwrap();
        ip.set_payload_len(payload.len()).unwrap();
        ip.header_checksum = ip.calc_header_checksum();
        let mut f = Vec::new();
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        ip.write(&mut f).unwrap();
        f.extend_from_slice(payload);
        f
    }

    /// A TCP SYN whose options hold a well-formed option the decoder does not know (kind 34,
    /// the TCP Fast Open cookie request, RFC 7413), followed by a timestamp. RFC 9293
    /// 3.1/3.2: an option of unknown kind with a length field is legal and is skipped by its
    /// length; the trace called it "bad option" and dropped every option after it.
    #[test]
    fn unknown_tcp_options_are_not_called_bad() {
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
        tcp[12] = (10 << 4) as u8; // 40-byte header: 20 bytes of options
        tcp[13] = 0x02; // SYN
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        tcp.extend_from_slice(&[2, 4, 0x05, 0xb4]); // mss 1460
        tcp.extend_from_slice(&[34, 2]); // TFO cookie request (kind 34, length 2)
        tcp.extend_from_slice(&[1, 1]); // nop, nop
        tcp.extend_from_slice(&[8, 10, 0, 0, 0, 100, 0, 0, 0, 0]); // TS val 100 ecr 0
        tcp.extend_from_slice(&[1, 1]); // nop, nop
        assert_eq!(tcp.len(), 40);
        let mut f = ipv4_raw(6, 0, false, &tcp);
        // The TCP checksum, so that only the options are odd.
        let ph = pseudo_header(Ipv4Addr::from(PEER_IP), Ipv4Addr::from(OUR_IP), 6, 40).unwrap();
        let c =
            crate::checksum::finish(crate::checksum::sum(&f[34..], crate::checksum::sum(&ph, 0)));
        f[34 + 16..34 + 18].copy_from_slice(&c.to_be_bytes());
        let lines = rx(TraceLayers::TCP, &f);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(!lines[0].contains("bad cksum"), "{lines:?}");
        assert!(
            !lines[0].contains("bad option") && lines[0].contains("TS val 100 ecr 0"),
            "a legal option of unknown kind: {}",
            lines[0]
        );
    }

    /// An ICMP timestamp request (RFC 792: 20 bytes) carrying 8 bytes more: etherparse
    /// refuses it with a length error whose `len` is larger than `required_len`, and the
    /// trace turned that into "truncated, 28 of 20 bytes", which is false.
    #[test]
    fn an_overlong_icmp_timestamp_is_not_called_truncated() {
        let mut icmp = vec![0u8; 28];
        icmp[0] = 13; // timestamp request, code 0
        icmp[4..6].copy_from_slice(&5u16.to_be_bytes());
        icmp[6..8].copy_from_slice(&1u16.to_be_bytes());
        let c = crate::checksum::finish(crate::checksum::sum(&icmp, 0));
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let f = ipv4_raw(1, 0, false, &icmp);
        let lines = rx(TraceLayers::ICMP, &f);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            !lines[0].contains("truncated"),
            "28 bytes where 20 are needed is not a truncation: {}",
            lines[0]
        );
    }

    /// A datagram with an IPsec authentication header (protocol 51, RFC 4302) carrying
    /// TCP: the `ip` line printed the protocol after the AH ("TCP") as the datagram's own,
    /// where its protocol field says 51.
    #[test]
    fn the_ip_line_shows_the_protocol_field_of_an_ah_datagram() {
        let mut ah = vec![6u8, 2, 0, 0]; // next header TCP, 16-byte AH
        ah.extend_from_slice(&0x100u32.to_be_bytes()); // SPI
        ah.extend_from_slice(&1u32.to_be_bytes()); // sequence number
        ah.extend_from_slice(&[0; 4]); // ICV
        let mut tcp = vec![0u8; 20];
        tcp[12] = 5 << 4;
        tcp[13] = 0x10;
        ah.extend_from_slice(&tcp);
        let f = ipv4_raw(51, 0, false, &ah);
        let lines = rx(TraceLayers::IP, &f);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("ip   tap0 rx 10.0.0.2 > 10.0.0.1 proto 51 ")
                || lines[0].contains(" AH"),
            "the protocol field is 51: {}",
            lines[0]
        );
    }

    /// A later fragment (offset 1480) of a datagram with protocol 51 (AH): its data is
    /// the middle of the datagram, not an AH, but it was parsed as one, and the fragment,
    /// well-formed, came out as "malformed ipv4 ...: length field gives ..." with no ip
    /// line.
    #[test]
    fn a_later_fragment_of_an_ah_datagram_is_not_malformed() {
        let f = ipv4_raw(51, 1480, false, &[0xff; 100]);
        let lines = rx(TraceLayers::IP, &f);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(!lines[0].contains("malformed"), "{}", lines[0]);
        assert!(lines[0].contains("frag off=1480"), "{}", lines[0]);
    }

    /// An ICMP error quoting a later fragment of a UDP datagram (RFC 792: the quoted
    /// datagram is "the internet header plus the first 64 bits of the original datagram's
    /// data", and only the first fragment's data starts with the UDP header; RFC 791 3.2).
    /// The bytes after a non-first fragment's header are the middle of the datagram, yet
    /// the trace read them as ports ("for 10.0.0.2:257 > 10.0.0.1:257 UDP").
    #[test]
    fn an_icmp_error_quoting_a_later_fragment_shows_no_ports() {
        let later = fragment(1480, false, &[1; 100]);
        let quoted = &later[14..14 + 28];
        let expired = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4(Icmpv4Type::TimeExceeded(
                    etherparse::icmpv4::TimeExceededCode::FragmentReassemblyTimeExceeded
                )),
            quoted
        );
        let lines = rx(TraceLayers::ICMP, &expired);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("for 10.0.0.2 > 10.0.0.1 UDP frag off=1480 len"),
            "no ports in a later fragment: {}",
            lines[0]
        );
        // The first fragment's quote still shows them.
        let first = &sample_frames()[5];
        let expired = frame!(
            PacketBuilder::ethernet2(OUR_MAC, PEER_MAC)
                .ipv4(OUR_IP, PEER_IP, 64)
                .icmpv4(Icmpv4Type::TimeExceeded(
                    etherparse::icmpv4::TimeExceededCode::FragmentReassemblyTimeExceeded
                )),
            &first[14..14 + 28]
        );
        assert!(rx(TraceLayers::ICMP, &expired)[0].contains("for 10.0.0.2:4660 > 10.0.0.1:53 UDP"));
    }

    /// A later fragment whose total length (10) is below its header's (20): the
    /// malformed line gave the length field's value as the frame's ("frame 10 (need
    /// 20)"), where the frame holds 120 bytes of IP.
    #[test]
    fn a_later_fragment_shorter_than_its_header_says_the_frame_length() {
        let mut f = ipv4_raw(17, 1480, false, &[0xff; 100]);
        f[14 + 2..14 + 4].copy_from_slice(&10u16.to_be_bytes());
        f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        let c = crate::checksum::finish(crate::checksum::sum(&f[14..34], 0));
        f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        let lines = rx(TraceLayers::IP, &f);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("length field gives 10 bytes, header 20, frame 120"),
            "{}",
            lines[0]
        );
    }

    /// An IEEE 802.3 frame (an STP BPDU, as a Linux bridge sends): the two bytes after the
    /// MAC addresses are a length (at most 1500), not an EtherType (IEEE 802.3 3.2.6:
    /// EtherTypes start at 0x0600). The l2 line called the length "ethertype 0x0026".
    #[test]
    fn an_802_3_length_field_is_not_called_an_ethertype() {
        let mut bpdu = vec![0u8; 60];
        bpdu[..6].copy_from_slice(&[0x01, 0x80, 0xc2, 0, 0, 0]);
        bpdu[6..12].copy_from_slice(&PEER_MAC);
        bpdu[12..14].copy_from_slice(&38u16.to_be_bytes()); // length: LLC header + BPDU
        bpdu[14..17].copy_from_slice(&[0x42, 0x42, 0x03]); // LLC: STP
        let lines = rx(TraceLayers::L2, &bpdu);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            !lines[0].contains("ethertype"),
            "38 is a length, not an EtherType: {}",
            lines[0]
        );
    }
}
