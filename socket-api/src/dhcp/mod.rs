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
    /// ends or names another router.
    route: Mutex<Option<Ipv4Addr>>,
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
        loop {
            if let Some(l) = c.lease() {
                return Some(l.clone());
            }
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            match deadline {
                Some(d) if self.bound.wait_until(&mut c, d).timed_out() => {
                    return c.lease().cloned();
                }
                Some(_) => {}
                None => self.bound.wait(&mut c),
            }
        }
    }

    fn run(&self, stack: &Stack) {
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
            self.send(out);
            watching = self.probe(stack, watching);
            self.apply(stack, event);
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
                        continue;
                    }
                    let now = stack.now();
                    let (out, event) = {
                        let mut c = self.client.lock();
                        let out = c.receive(&buf[..n], now);
                        (out, c.take_event())
                    };
                    self.send(out);
                    self.apply(stack, event);
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
        let default = Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0);
        let ifindex = self.ifindex;
        let mut route = self.route.lock();
        let failed = stack.with_core(|c, now| {
            let mut failed = 0u64;
            let current =
                c.ip.interfaces()
                    .into_iter()
                    .find(|i| i.ifindex == ifindex)
                    .and_then(|i| i.addr);
            // Take back our default route first: the lease's router may be another.
            if let (Some(gw), Some(d)) = (*route, default) {
                let ours =
                    c.ip.routes()
                        .iter()
                        .any(|r| r.dest == d && r.gateway == Some(gw) && r.ifindex == ifindex);
                if ours {
                    let _ = c.ip.del_route(d);
                }
                *route = None;
            }
            match &event {
                Event::Bound(lease) => {
                    if current != Some(lease.addr)
                        && c.ip.set_address(ifindex, Some(lease.addr), now).is_err()
                    {
                        failed += 1;
                    }
                    if let Some(m) = lease.mtu.filter(|&m| m >= 576) {
                        // Larger than the device carries: kept as it is.
                        if let Err(ConfigError::BadMtu(..)) = c.ip.set_mtu(ifindex, m.into()) {
                            failed += 1;
                        }
                    }
                    if let (Some(gw), Some(d)) = (lease.router, default) {
                        // A default route the user set stays; ours goes in only if none.
                        if c.ip.add_route(d, Some(gw), Some(ifindex)).is_ok() {
                            *route = Some(gw);
                        }
                    }
                }
                Event::Lost(addr) => {
                    if current == Some(*addr) && c.ip.set_address(ifindex, None, now).is_err() {
                        failed += 1;
                    }
                }
            }
            failed
        });
        let mut c = self.client.lock();
        c.stats.config_failures += failed;
        if matches!(event, Event::Bound(_)) {
            self.bound.notify_all();
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
