//! DHCP: an interface learns its address, network, router and DNS servers from a server
//! on its link (RFC 2131), as a host on a LAN does (TOP1), and gives the address back when
//! the stack shuts down.
//!
//! - [`wire`]: the message format and the options a client reads and writes.
//! - [`client`]: the client's state machine, sans-IO (it takes `now`; tests drive it with
//!   a virtual clock).
//! - This module: the runtime. A thread per interface owns a UDP socket on port 68 bound to
//!   the interface (`SO_BINDTODEVICE`, so its DISCOVER leaves from 0.0.0.0 before there is
//!   an address), sleeps until a reply comes or the client's next timer, and applies each
//!   lease to the interface under the core lock: its address (the connected route
//!   follows), the default route through the router, the MTU. While the client checks a
//!   new lease's address it sends the client's ARP probes (`IpLayer::arp_probe`) and hands
//!   it any claim the IP layer saw (`Client::conflict`).

pub mod client;
pub mod wire;

use crate::runtime::Stack;
use crate::socket::{Domain, SockOpt, Socket, Type};
use client::{Client, DhcpStats, Event, Lease, State};
use ip::{ConfigError, Ipv4Cidr};
use parking_lot::{Condvar, Mutex};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest the thread sleeps between looks at its stop flag.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// What `Stack::dhcp_status` shows of one interface's client.
#[derive(Clone, Debug)]
pub struct DhcpStatus {
    pub interface: String,
    pub state: State,
    pub lease: Option<Lease>,
    pub stats: DhcpStats,
}

/// One interface's client and its thread.
pub(crate) struct Run {
    interface: String,
    ifindex: usize,
    client: Mutex<Client>,
    socket: Socket,
    stop: AtomicBool,
    /// The default route's gateway this client installed, to take back when the lease
    /// ends or names another router, and whether it also added a host route to it (a
    /// router outside the leased network).
    route: Mutex<Option<(Ipv4Addr, bool)>>,
    /// The interface's MTU before a lease changed it, to put back when the lease ends.
    mtu_before: Mutex<Option<usize>>,
    /// The address the last lease applied put on the interface.
    leased: Mutex<Option<Ipv4Cidr>>,
    /// The lease's address is on the interface: [`Run::wait_bound`] reports a lease only
    /// then (the client holds it a moment before).
    applied: AtomicBool,
    /// Notified when a lease is granted (`Stack::wait_for_lease`).
    bound: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Start a client on interface `ifindex` of `stack`: the interface is brought up (with no
/// address until a lease), and the first DISCOVER goes at once.
pub(crate) fn start(stack: &Stack, ifindex: usize) -> io::Result<Arc<Run>> {
    let (name, mac) = stack.with_core(|c, now| -> io::Result<_> {
        let i =
            c.ip.interfaces()
                .into_iter()
                .find(|i| i.ifindex == ifindex)
                .ok_or_else(|| io::Error::other(format!("no interface {ifindex}")))?;
        if i.loopback {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DHCP needs a link: not on loopback",
            ));
        }
        c.ip.set_up(ifindex, true, now)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok((i.name, i.mac))
    })?;
    let socket = Socket::new(stack, Domain::Inet, Type::Dgram, 0)?;
    socket.set_option(SockOpt::ReuseAddr(true))?;
    socket.set_option(SockOpt::Broadcast(true))?;
    socket.bind_device(Some(&name))?;
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            wire::CLIENT_PORT,
        )))
        .map_err(|e| io::Error::new(e.kind(), format!("DHCP client port 68: {e}")))?;
    let seed = crate::runtime::os_random_u64();
    let run = Arc::new(Run {
        interface: name.clone(),
        ifindex,
        client: Mutex::new(Client::new(mac, None, seed, stack.now())),
        socket,
        stop: AtomicBool::new(false),
        route: Mutex::new(None),
        mtu_before: Mutex::new(None),
        leased: Mutex::new(None),
        applied: AtomicBool::new(false),
        bound: Condvar::new(),
        thread: Mutex::new(None),
    });
    let (r, s) = (run.clone(), stack.clone());
    let t = std::thread::Builder::new()
        .name(format!("dhcp-{name}"))
        .spawn(move || r.run(&s))?;
    *run.thread.lock() = Some(t);
    Ok(run)
}

impl Run {
    pub(crate) fn ifindex(&self) -> usize {
        self.ifindex
    }

    pub(crate) fn status(&self) -> DhcpStatus {
        let c = self.client.lock();
        DhcpStatus {
            interface: self.interface.clone(),
            state: c.state(),
            lease: c.lease().cloned(),
            stats: c.stats,
        }
    }

    /// Wait until the client holds a lease, at most `timeout` (no limit when it reaches
    /// past what the clock holds, as `Duration::MAX` does).
    pub(crate) fn wait_bound(&self, timeout: Duration) -> Option<Lease> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut c = self.client.lock();
        let applied = || self.applied.load(Ordering::Acquire);
        loop {
            if let Some(l) = c.lease().filter(|_| applied()) {
                return Some(l.clone());
            }
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            match deadline {
                Some(d) if self.bound.wait_until(&mut c, d).timed_out() => {
                    return c.lease().filter(|_| applied()).cloned();
                }
                Some(_) => {}
                None => self.bound.wait(&mut c),
            }
        }
    }

    fn run(&self, stack: &Stack) {
        let _ended = Ended(self);
        let mut buf = vec![0u8; 1500];
        let mut watching = false;
        while !self.stop.load(Ordering::Acquire) && !stack.is_shut_down() {
            let now = stack.now();
            // (The client's lock and the core's are never held together.)
            let checking = self.client.lock().state() == State::Checking;
            let claimed = checking
                && stack
                    .with_core(|core, _| core.ip.arp_probe_conflict(self.ifindex))
                    .is_some();
            let (out, event, next) = {
                let mut c = self.client.lock();
                let out = if claimed {
                    c.conflict(now)
                } else {
                    c.poll(now)
                };
                (out, c.take_event(), c.poll_at())
            };
            // The event first: a lease that ended takes its address with it before the
            // DISCOVER that follows leaves, from 0.0.0.0 (RFC 2131 4.1, 4.4.5).
            self.apply(stack, event);
            self.send(out);
            watching = self.probe(stack, watching);
            let wait = next
                .map_or(MAX_WAIT, |t| t.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), MAX_WAIT);
            if self
                .socket
                .set_option(SockOpt::RecvTimeout(Some(wait)))
                .is_err()
            {
                break;
            }
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from.port() != wire::SERVER_PORT {
                        self.client.lock().stats.drop_wrong_port += 1;
                        continue;
                    }
                    let now = stack.now();
                    let (out, event) = {
                        let mut c = self.client.lock();
                        let out = c.receive(&buf[..n], now);
                        (out, c.take_event())
                    };
                    self.apply(stack, event);
                    self.send(out);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // An ICMP error from an earlier send, say: the next send tries again.
                Err(_) if !self.socket.is_closed() && !stack.is_shut_down() => {}
                Err(_) => break,
            }
        }
    }

    /// Send the ARP probe the client asks for, or end the watch for claims once it no
    /// longer checks an address.
    /// `watching`: a watch this thread started is on; returns whether it still is. The
    /// core is locked only to probe or to end a watch.
    fn probe(&self, stack: &Stack, watching: bool) -> bool {
        let (addr, checking) = {
            let mut c = self.client.lock();
            (c.take_probe(), c.state() == State::Checking)
        };
        match addr {
            Some(a) => {
                if stack
                    .with_core(|core, _| core.ip.arp_probe(self.ifindex, a))
                    .is_err()
                {
                    // The interface is down: the next probe, or the check's end, follows.
                    self.client.lock().stats.send_failures += 1;
                }
                true
            }
            None if watching && !checking => {
                stack.with_core(|core, _| core.ip.arp_probe_stop(self.ifindex));
                false
            }
            None => watching,
        }
    }

    fn send(&self, out: Option<client::Transmit>) {
        let Some(t) = out else { return };
        let to = SocketAddr::V4(SocketAddrV4::new(t.to, wire::SERVER_PORT));
        if self.socket.send_to(&t.payload, to).is_err() {
            // The interface is down, say: the retransmission timer sends it again.
            self.client.lock().stats.send_failures += 1;
        }
    }

    /// Make the interface what the lease says.
    fn apply(&self, stack: &Stack, event: Option<Event>) {
        let Some(event) = event else { return };
        let default = Ipv4Cidr::DEFAULT;
        let ifindex = self.ifindex;
        let mut route = self.route.lock();
        let mut mtu_before = self.mtu_before.lock();
        let mut leased = self.leased.lock();
        let (failed, refused) = stack.with_core(|c, now| {
            let mut failed = 0u64;
            let mut refused = false;
            let iface = c.ip.interfaces().into_iter().find(|i| i.ifindex == ifindex);
            let current = iface.as_ref().and_then(|i| i.addr);
            let mtu_now = iface.map(|i| i.mtu);
            // Take back our default route first: the lease's router may be another.
            if let Some((gw, host_route)) = *route {
                // Ours have metric 0 (`add_route`); a route of another metric is not.
                let mut take_back = |dest: Ipv4Cidr, gateway: Option<Ipv4Addr>| {
                    let ours = c.ip.routes().iter().any(|r| {
                        r.dest == dest
                            && r.gateway == gateway
                            && r.ifindex == ifindex
                            && r.metric == 0
                    });
                    if ours {
                        let _ = c.ip.del_route(dest, Some(0));
                    }
                };
                take_back(default, Some(gw));
                if host_route {
                    take_back(Ipv4Cidr::host(gw), None);
                }
                *route = None;
            }
            match &event {
                // An address the interface refuses (another interface has it) is
                // declined below, and nothing else of the lease is applied.
                Event::Bound(lease)
                    if current != Some(lease.addr)
                        && c.ip.set_address(ifindex, Some(lease.addr), now).is_err() =>
                {
                    failed += 1;
                    refused = true;
                    // A renewal that moved the lease here ended the lease of the address
                    // in use: it goes too (RFC 2131 4.4.5), as when a lease is lost.
                    if current.is_some() && current == leased.take() {
                        if c.ip.set_address(ifindex, None, now).is_err() {
                            failed += 1;
                        }
                        if let Some(m) = mtu_before.take() {
                            if c.ip.set_mtu(ifindex, m).is_err() {
                                failed += 1;
                            }
                        }
                    }
                }
                Event::Bound(lease) => {
                    *leased = Some(lease.addr);
                    match lease.mtu.filter(|&m| m >= 576) {
                        // Larger than the device carries: kept as it is.
                        Some(m) => match c.ip.set_mtu(ifindex, m.into()) {
                            Ok(()) => {
                                if mtu_before.is_none() {
                                    *mtu_before = mtu_now;
                                }
                            }
                            Err(ConfigError::BadMtu(..)) => failed += 1,
                            Err(_) => {}
                        },
                        // A lease that names no MTU (a renewal that no longer does): the
                        // link's own, as when a lease ends.
                        None => {
                            if let Some(m) = mtu_before.take() {
                                if c.ip.set_mtu(ifindex, m).is_err() {
                                    failed += 1;
                                }
                            }
                        }
                    }
                    if let Some(gw) = lease.router {
                        // A router outside the leased network is reached on the link by
                        // a host route (as systemd-networkd adds one), unless the table
                        // already reaches it there.
                        let host_route = !lease.addr.contains(gw)
                            && c.ip
                                .route_lookup(gw)
                                .is_none_or(|r| r.gateway.is_some() || r.ifindex != ifindex)
                            && c.ip
                                .add_route(Ipv4Cidr::host(gw), None, Some(ifindex))
                                .is_ok();
                        // A default route the user set stays; ours (metric 0) goes in
                        // only if there is none of metric 0.
                        if c.ip.add_route(default, Some(gw), Some(ifindex)).is_ok() {
                            *route = Some((gw, host_route));
                        } else if host_route {
                            let _ = c.ip.del_route(Ipv4Cidr::host(gw), Some(0));
                        }
                    }
                }
                Event::Lost(addr) => {
                    *leased = None;
                    if current == Some(*addr) && c.ip.set_address(ifindex, None, now).is_err() {
                        failed += 1;
                    }
                    // The link's own MTU again, as systemd-networkd puts it back.
                    if let Some(m) = mtu_before.take() {
                        if c.ip.set_mtu(ifindex, m).is_err() {
                            failed += 1;
                        }
                    }
                }
            }
            (failed, refused)
        });
        let bound = matches!(event, Event::Bound(_)) && !refused;
        // Set before the client's lock is taken to notify: a waiter that saw it unset
        // holds that lock until it waits.
        self.applied.store(bound, Ordering::Release);
        let mut c = self.client.lock();
        c.stats.config_failures += failed;
        if bound {
            self.bound.notify_all();
        }
        if refused {
            let out = c.refused(stack.now());
            drop(c);
            self.send(out);
        }
    }

    /// The stack shuts down: give the lease back, stop the thread.
    pub(crate) fn release(&self, stack: &Stack) {
        self.stop.store(true, Ordering::Release);
        let out = self.client.lock().release(stack.now());
        self.send(out);
        self.socket.close();
        self.bound.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// Dropped as the client's thread ends, however it ends: with the stack down (a
/// `shutdown`, or a runtime thread's panic that failed it) or by a panic of its own. No
/// lease comes after: a `wait_for_lease` without a limit waited for ever (only `release`
/// told it, and a stack that failed never calls it).
struct Ended<'a>(&'a Run);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Release);
        // Notified under the client's lock, which a waiter holds from its look at `stop`
        // until it waits. (Held by none of this thread's frames by now.)
        let _c = self.0.client.lock();
        self.0.bound.notify_all();
    }
}

/// An independent review (review19a): the client and its runtime against a scripted
/// server on another stack of an in-memory link.
#[cfg(test)]
mod review19_tests {
    use super::*;
    use crate::testing::link;
    use crate::udp::UdpSocket;
    use crate::StackBuilder;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Instant as StdInstant;

    /// The address the server leases.
    const ADDR: [u8; 4] = [10, 0, 0, 77];

    /// What the scripted server saw: (message type, ciaddr) in order.
    type Seen = Arc<Mutex<Vec<(u8, Ipv4Addr)>>>;

    /// How the server answers the `n`th message (from 0) of type `kind` (1 DISCOVER, 3
    /// REQUEST): the reply's type (2 OFFER, 5 ACK, 6 NAK) and the address it names
    /// (`yiaddr`), or none.
    type Script = Box<dyn Fn(u8, usize) -> Option<(u8, [u8; 4])> + Send>;

    /// Stack A (DHCP on eth0) and stack B (10.0.0.2/24) running a server on port 67 that
    /// offers and acks 10.0.0.77/24 (router and DNS 10.0.0.2) for `lease` seconds, by
    /// broadcast (unicast to `ciaddr` when set), as `script` says, and notes every message
    /// it gets. Dropped, it stops both.
    struct Lan {
        a: Stack,
        b: Stack,
        seen: Seen,
        stop: Arc<AtomicBool>,
        /// The router the server's replies name (10.0.0.2 unless a test changes it).
        router: Arc<Mutex<[u8; 4]>>,
        /// Options the replies carry besides the usual ones (a test may change them).
        extra: Arc<Mutex<Vec<u8>>>,
    }

    /// The options of a client message: (code, value) up to END.
    fn options(m: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 240;
        while at < m.len() {
            match m[at] {
                0 => at += 1,
                255 => break,
                c => {
                    let l = usize::from(m[at + 1]);
                    out.push((c, m[at + 2..at + 2 + l].to_vec()));
                    at += 2 + l;
                }
            }
        }
        out
    }

    /// A reply of `kind` to the client message `req`, with `opts` (END appended).
    fn answer(req: &[u8], kind: u8, yiaddr: [u8; 4], opts: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 240];
        b[0] = 2;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&req[4..8]);
        b[16..20].copy_from_slice(&yiaddr);
        b[28..34].copy_from_slice(&req[28..34]);
        b[236..240].copy_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(&[53, 1, kind]);
        b.extend_from_slice(opts);
        b.push(255);
        b
    }

    /// A server's script that offers and acks every time.
    fn acks_all() -> Script {
        Box::new(|kind, _| match kind {
            1 => Some((2, ADDR)),
            3 => Some((5, ADDR)),
            _ => None,
        })
    }

    impl Lan {
        fn new(lease: u32, script: Script) -> Lan {
            Lan::with_options(lease, &[], script)
        }

        /// `new`, the replies carrying the options `extra` too.
        fn with_options(lease: u32, extra: &[u8], script: Script) -> Lan {
            Lan::with_mask(lease, [255, 255, 255, 0], extra, script)
        }

        /// `with_options`, leasing with subnet mask `mask`.
        fn with_mask(lease: u32, mask: [u8; 4], extra: &[u8], script: Script) -> Lan {
            let extra = Arc::new(Mutex::new(extra.to_vec()));
            let (a_end, b_end) = link(64);
            let b = StackBuilder::new()
                .device(Arc::new(b_end))
                .addr("10.0.0.2/24")
                .build()
                .unwrap();
            let server = UdpSocket::bind(&b, "0.0.0.0:67").unwrap();
            server.set_broadcast(true).unwrap();
            server
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let seen: Seen = Arc::default();
            let stop = Arc::new(AtomicBool::new(false));
            let router = Arc::new(Mutex::new([10, 0, 0, 2]));
            let (s, st, rt, ex) = (seen.clone(), stop.clone(), router.clone(), extra.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !st.load(Ordering::Relaxed) {
                    let Ok((n, _)) = server.recv_from(&mut buf) else {
                        continue;
                    };
                    let m = &buf[..n];
                    let kind = options(m).iter().find(|o| o.0 == 53).map_or(0, |o| o.1[0]);
                    let ciaddr = Ipv4Addr::new(m[12], m[13], m[14], m[15]);
                    let nth = {
                        let mut s = s.lock();
                        s.push((kind, ciaddr));
                        s.iter().filter(|x| x.0 == kind).count() - 1
                    };
                    let l = lease.to_be_bytes();
                    let ([m0, m1, m2, m3], [r0, r1, r2, r3]) = (mask, *rt.lock());
                    let mut opts = vec![
                        54, 4, 10, 0, 0, 2, 51, 4, l[0], l[1], l[2], l[3], 1, 4, m0, m1, m2, m3, 3,
                        4, r0, r1, r2, r3, 6, 4, 10, 0, 0, 2,
                    ];
                    opts.extend_from_slice(&ex.lock());
                    let reply = match script(kind, nth) {
                        Some((6, _)) => answer(m, 6, [0; 4], &opts[..6]),
                        Some((k, yiaddr)) => answer(m, k, yiaddr, &opts),
                        None => continue,
                    };
                    let to = if ciaddr.is_unspecified() {
                        Ipv4Addr::BROADCAST
                    } else {
                        ciaddr
                    };
                    let _ = server.send_to(&reply, (to, 68));
                }
            });
            let a = StackBuilder::new()
                .device(Arc::new(a_end))
                .dhcp()
                .build()
                .unwrap();
            Lan {
                a,
                b,
                seen,
                stop,
                router,
                extra,
            }
        }

        /// A server that offers and acks every time.
        fn always(lease: u32) -> Lan {
            Lan::new(lease, acks_all())
        }

        /// The MTU of A's interface.
        fn mtu(&self) -> Option<usize> {
            self.a.with_core(|c, _| {
                c.ip.interfaces()
                    .into_iter()
                    .find(|i| i.name == "eth0")
                    .map(|i| i.mtu)
            })
        }

        fn kinds(&self) -> Vec<u8> {
            self.seen.lock().iter().map(|s| s.0).collect()
        }

        /// eth0's address on A.
        fn addr(&self) -> Option<Ipv4Cidr> {
            self.a.with_core(|c, _| {
                c.ip.interfaces()
                    .into_iter()
                    .find(|i| i.name == "eth0")
                    .and_then(|i| i.addr)
            })
        }

        /// Whether A has a default route.
        fn default_route(&self) -> bool {
            self.a
                .with_core(|c, _| c.ip.routes().iter().any(|r| r.dest.prefix() == 0))
        }

        /// Wait up to `limit` for `f` to hold.
        fn wait(&self, limit: Duration, f: impl Fn(&Lan) -> bool) -> bool {
            let end = StdInstant::now() + limit;
            while StdInstant::now() < end {
                if f(self) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            f(self)
        }
    }

    impl Drop for Lan {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            self.a.shutdown();
            self.b.shutdown();
        }
    }

    /// A lease whose address the interface refuses (another interface of this host has
    /// it) is declined, as an address in use (RFC 2131 4.4.1), and not reported: the
    /// client asks again after 10 s and takes the next offer. `wait_for_lease` reported
    /// the refused lease as bound (found by a review).
    #[test]
    fn an_address_another_interface_has_is_declined() {
        const OTHER: [u8; 4] = [10, 0, 0, 78];
        let lan = Lan::new(
            3600,
            Box::new(|kind, nth| match (kind, nth) {
                (1, 0) => Some((2, ADDR)),
                (3, 0) => Some((5, ADDR)),
                (1, _) => Some((2, OTHER)),
                (3, _) => Some((5, OTHER)),
                _ => None,
            }),
        );
        // The loopback takes the address first (the lease waits for its ARP check).
        let taken = lan.a.with_core(|c, now| {
            c.ip.set_address(0, Some("10.0.0.77/32".parse().unwrap()), now)
        });
        taken.unwrap();
        assert!(lan.a.wait_for_lease(Duration::from_secs(4)).is_none());
        assert!(lan.wait(Duration::from_secs(2), |l| l.kinds().contains(&4)));
        assert_eq!(lan.addr(), None, "eth0 took nothing");
        assert!(!lan.default_route(), "nor the lease's router");
        let l = lan
            .a
            .wait_for_lease(Duration::from_secs(20))
            .expect("the next offer, after 10 s");
        assert_eq!(l.addr, "10.0.0.78/24".parse().unwrap());
        assert_eq!(lan.addr(), Some(l.addr));
        let declined = lan.seen.lock().iter().filter(|s| s.0 == 4).count();
        assert_eq!(declined, 1);
    }

    /// A renewal the server answers with another address (RFC 2131 4.4.5: "If the client
    /// is given a new network address, it MUST NOT continue using the previous network
    /// address"), one the interface refuses (another interface of this host has it): the
    /// new address is declined, and the old one goes too. It stayed on the interface with
    /// no lease behind it, and the DISCOVERs that followed left from it (found by an
    /// independent review, rv-dhcp).
    #[test]
    fn a_renewal_moving_to_a_refused_address_leaves_the_old_one_too() {
        const OTHER: [u8; 4] = [10, 0, 0, 78];
        let lan = Lan::new(
            4,
            Box::new(|kind, nth| match (kind, nth) {
                (1, 0) => Some((2, ADDR)),
                (3, 0) => Some((5, ADDR)),
                (3, 1) => Some((5, OTHER)),
                _ => None,
            }),
        );
        let taken = lan.a.with_core(|c, now| {
            c.ip.set_address(0, Some("10.0.0.78/32".parse().unwrap()), now)
        });
        taken.unwrap();
        let l = lan
            .a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        assert_eq!(lan.addr(), Some(l.addr));
        // The renewal (after 2 s) moves to 10.0.0.78: declined.
        assert!(lan.wait(Duration::from_secs(5), |l| l.kinds().contains(&4)));
        assert!(
            lan.wait(Duration::from_secs(1), |l| l.addr().is_none()),
            "eth0 kept {:?} after its lease was replaced",
            lan.addr()
        );
        assert!(!lan.default_route());
    }

    #[test]
    fn the_scripted_server_leases_an_address() {
        let lan = Lan::always(3600);
        let l = lan
            .a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        assert_eq!(l.addr.to_string(), "10.0.0.77/24");
        assert_eq!(&lan.kinds()[..2], &[1, 3]);
        assert_eq!(lan.addr(), Some(l.addr));
        assert!(lan.default_route());
        assert_eq!(lan.a.dns_servers(), [Ipv4Addr::new(10, 0, 0, 2)]);
    }

    /// A /32 lease whose router is outside it (as clouds hand out): a host route to the
    /// router on the link, then the default route through it, as systemd-networkd does.
    /// A renewal naming another router moves both. Before, the router was dropped and
    /// the host had no default route. (When the lease ends, the address goes and every
    /// route through the interface with it.)
    #[test]
    fn a_slash_32_lease_reaches_its_router_by_a_host_route() {
        let lan = Lan::with_mask(2, [255, 255, 255, 255], &[], acks_all());
        let l = lan
            .a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        assert_eq!(l.addr.to_string(), "10.0.0.77/32");
        assert_eq!(l.router, Some(Ipv4Addr::new(10, 0, 0, 2)));
        let routes = |lan: &Lan| {
            lan.a.with_core(|c, _| {
                let mut v: Vec<String> =
                    c.ip.routes()
                        .iter()
                        .map(|r| format!("{} {:?}", r.dest, r.gateway))
                        .collect();
                v.sort();
                v
            })
        };
        let with_router = |r: &str| {
            [
                format!("0.0.0.0/0 Some({r})"),
                format!("{r}/32 None"),
                "10.0.0.77/32 None".into(),
                "127.0.0.0/8 None".into(),
            ]
        };
        assert_eq!(routes(&lan), with_router("10.0.0.2"));
        // The router is reached: a datagram to B's address arrives.
        let sink = UdpSocket::bind(&lan.b, "0.0.0.0:9999").unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let from_a = UdpSocket::bind(&lan.a, "0.0.0.0:0").unwrap();
        from_a.send_to(b"hello", "10.0.0.2:9999").unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = sink.recv_from(&mut buf).expect("through the host route");
        assert_eq!(
            (&buf[..n], from.ip()),
            (&b"hello"[..], "10.0.0.77".parse().unwrap())
        );
        // The renewal (after 1 s) names another router: its routes replace the first's.
        *lan.router.lock() = [10, 0, 0, 3];
        let moved = lan.wait(Duration::from_secs(5), |lan| {
            routes(lan) == with_router("10.0.0.3")
        });
        assert!(moved, "{:?}", routes(&lan));
    }

    /// A lease nobody renews ends at its time (RFC 2131 4.4.5): the address, the default
    /// route and the lease's DNS server go.
    #[test]
    fn a_lease_nobody_renews_takes_its_address_and_route_away_at_its_end() {
        let lan = Lan::new(
            3,
            Box::new(|kind, n| match (kind, n) {
                (1, 0) => Some((2, ADDR)),
                (3, 0) => Some((5, ADDR)),
                _ => None,
            }),
        );
        let l = lan
            .a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        assert_eq!(lan.addr(), Some(l.addr));
        assert!(lan.wait(Duration::from_secs(6), |lan| lan.addr().is_none()));
        assert!(!lan.default_route());
        assert!(lan.a.dns_servers().is_empty());
        assert!(lan.kinds().contains(&3));
    }

    /// A renewal whose ACK no longer names an MTU puts the link's own back, as the end of
    /// the lease does: it kept the old lease's MTU for as long as the new one lasted.
    #[test]
    fn a_renewal_without_an_mtu_puts_the_links_own_back() {
        let lan = Lan::with_options(3, &[26, 2, 0x05, 0x78], acks_all());
        lan.a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        assert_eq!(lan.mtu(), Some(1400));
        lan.extra.lock().clear();
        assert!(
            lan.wait(Duration::from_secs(5), |lan| lan.mtu() == Some(1500)),
            "the renewal without option 26 kept {:?}",
            lan.mtu()
        );
        assert!(lan.addr().is_some(), "the lease goes on");
    }

    /// The interface's MTU is the lease's (option 26) while the lease lasts. When the
    /// lease ends the MTU stays the lease's for ever: the next network (or a lease
    /// without option 26) runs with the old network's MTU. systemd-networkd puts the
    /// link's own MTU back when a DHCP lease is lost.
    #[test]
    fn the_mtu_a_lease_set_goes_back_when_the_lease_ends() {
        let lan = Lan::with_options(
            3,
            &[26, 2, 0x05, 0x78],
            Box::new(|kind, n| match (kind, n) {
                (1, 0) => Some((2, ADDR)),
                (3, 0) => Some((5, ADDR)),
                _ => None,
            }),
        );
        let before = lan.mtu();
        assert_eq!(before, Some(1500));
        lan.a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        assert_eq!(lan.mtu(), Some(1400));
        assert!(lan.wait(Duration::from_secs(6), |lan| lan.addr().is_none()));
        assert_eq!(lan.mtu(), before, "the lease is gone, its MTU stays");
    }

    /// From a review of the resolver (rv-dns): a lease's DNS servers (option 6) that are
    /// not a host's address (0.0.0.0, as home routers send for an unset second server;
    /// the broadcast address; a group) are left out, as `--dns` refuses them. They were
    /// kept, and took the places (`MAX_DNS`, 3) of the real servers after them.
    #[test]
    fn a_lease_s_dns_servers_that_are_not_hosts_are_not_asked() {
        let lan = Lan::with_options(
            3600,
            // A second option 6, joined to the first (10.0.0.2) as RFC 3396 has it.
            &[6, 12, 0, 0, 0, 0, 255, 255, 255, 255, 10, 0, 0, 3],
            acks_all(),
        );
        let l = lan
            .a
            .wait_for_lease(Duration::from_secs(10))
            .expect("a lease");
        let servers = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
        assert_eq!(l.dns, servers);
        assert_eq!(lan.a.dns_servers(), servers);
    }

    /// A datagram to port 68 from a port other than 67 is dropped and counted (found by
    /// a review: it was dropped without a trace).
    #[test]
    fn a_datagram_to_port_68_from_another_port_is_counted() {
        let (a_end, b_end) = link(64);
        let b = StackBuilder::new()
            .device(Arc::new(b_end))
            .addr("10.0.0.2/24")
            .build()
            .unwrap();
        let a = StackBuilder::new()
            .device(Arc::new(a_end))
            .dhcp()
            .build()
            .unwrap();
        let stats = |a: &Stack| a.dhcp_status()[0].stats;
        let junk = [0u8; 300];
        let other = UdpSocket::bind(&b, "0.0.0.0:6767").unwrap();
        other.set_broadcast(true).unwrap();
        other.send_to(&junk, ("255.255.255.255", 68)).unwrap();
        let t = StdInstant::now();
        while stats(&a).drop_wrong_port == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let s = stats(&a);
        assert_eq!((s.drop_wrong_port, s.drop_malformed), (1, 0), "{s:?}");
        a.shutdown();
        b.shutdown();
    }

    /// When a lease nobody renews ends, the DISCOVER that follows leaves from 0.0.0.0
    /// (RFC 2131 4.1, 4.4.5). Found by a review: it was sent before the address was
    /// taken away, from the expired address.
    #[test]
    fn the_discover_after_a_lease_ends_leaves_from_0_0_0_0() {
        let (a_end, b_end) = link(64);
        let b = StackBuilder::new()
            .device(Arc::new(b_end))
            .addr("10.0.0.2/24")
            .build()
            .unwrap();
        let server = UdpSocket::bind(&b, "0.0.0.0:67").unwrap();
        server.set_broadcast(true).unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        // (message type, IP source) of each client message.
        let seen: Arc<Mutex<Vec<(u8, Ipv4Addr)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, SocketAddr::V4(from))) = server.recv_from(&mut buf) else {
                    continue;
                };
                let m = &buf[..n];
                let Some(&kind) = m.get(242) else { continue };
                let nth = {
                    let mut s = s.lock();
                    s.push((kind, *from.ip()));
                    s.iter().filter(|x| x.0 == kind).count() - 1
                };
                // An offer and an ACK (a 3 s lease) once; nothing after.
                let k = match (kind, nth) {
                    (1, 0) => 2,
                    (3, 0) => 5,
                    _ => continue,
                };
                let mut r = vec![0u8; 240];
                r[..3].copy_from_slice(&[2, 1, 6]);
                r[4..8].copy_from_slice(&m[4..8]);
                r[16..20].copy_from_slice(&[10, 0, 0, 77]);
                r[28..34].copy_from_slice(&m[28..34]);
                r[236..240].copy_from_slice(&[99, 130, 83, 99]);
                r.extend_from_slice(&[53, 1, k, 54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0, 3]);
                r.extend_from_slice(&[1, 4, 255, 255, 255, 0, 255]);
                let _ = server.send_to(&r, ("255.255.255.255", 68));
            }
        });
        let a = StackBuilder::new()
            .device(Arc::new(a_end))
            .dhcp()
            .build()
            .unwrap();
        a.wait_for_lease(Duration::from_secs(10)).expect("a lease");
        let start = StdInstant::now();
        while seen.lock().iter().filter(|x| x.0 == 1).count() < 2
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        let _ = t.join();
        let seen = seen.lock().clone();
        a.shutdown();
        b.shutdown();
        let discovers: Vec<Ipv4Addr> = seen.iter().filter(|x| x.0 == 1).map(|x| x.1).collect();
        assert_eq!(discovers.len(), 2, "{seen:?}");
        assert_eq!(discovers[1], Ipv4Addr::UNSPECIFIED, "{seen:?}");
        // Renewals went from the leased address, unicast.
        assert!(seen.contains(&(3, Ipv4Addr::new(10, 0, 0, 77))), "{seen:?}");
    }
}
