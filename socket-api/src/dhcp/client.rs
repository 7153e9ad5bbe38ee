//! A DHCP client's state machine (RFC 2131 4.4), sans-IO: it is handed the replies that
//! arrive and the time, and says what to send and when the interface's address changes.
//! The runtime (`super::run`) owns the socket and the clock.
//!
//! ```text
//!  INIT ─DISCOVER─▶ SELECTING ─OFFER/REQUEST─▶ REQUESTING ─ACK─▶ CHECKING ─no claim─▶ BOUND
//!    ▲                                              │NAK, no answer     │ARP claim    │ T1
//!    └──────────────────────────────────────────────┴──DECLINE, 10 s────┘             ▼
//!    ▲◀──── lease ends, NAK ──── REBINDING ◀── T2 ──────────── RENEWING ─ACK─▶ BOUND
//! ```
//!
//! Retransmissions follow RFC 2131 4.1: 4 s, doubling up to 64 s, each ±1 s at random
//! (DISCOVER for ever, REQUEST four times before starting again); renewing and rebinding
//! send again after half the time left to T2 or to the lease's end, at least 60 s apart.
//! T1 and T2 (the server's, else 1/2 and 7/8 of the lease) come a little earlier at random
//! (RFC 2131 4.4.5's fuzz, never later than the server asked: `Client::fuzz`).
//! A new lease's address is checked before use (RFC 2131 4.4.1's SHOULD): CHECKING sends
//! [`PROBES`] ARP probes [`PROBE_INTERVAL`] apart (RFC 5227 2.1, through the runtime's
//! `IpLayer::arp_probe`) and takes the lease [`PROBE_INTERVAL`] after the last if no other
//! host claimed the address and the lease has not ended meanwhile (else it starts again
//! after 4 s); a claim (`Client::conflict`) sends a DECLINE and starts again after 10 s
//! (RFC 2131 3.1.5), 60 s from the tenth in a row (RFC 5227 2.1.1). Departures from the RFCs, on purpose: the first DISCOVER
//! goes at once rather than after 1–10 s (the delay desynchronises a LAN's hosts after a
//! power cut; a stack started by hand has nobody to desynchronise from), and the check
//! takes 1 s, not RFC 5227's 4–7 s (three probes 1–2 s apart after up to 1 s, then 2 s:
//! timings for slow links; on a LAN an owner answers within milliseconds, and the
//! address's server has usually pinged it before offering, as dnsmasq does).

use super::wire::{Lifetime, MessageType, Reply, Request};
use ip::igmp::Rng;
use ip::Ipv4Cidr;
use netif::{Instant, MacAddr};
use std::net::Ipv4Addr;
use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_secs(4);
const MAX_RETRY: Duration = Duration::from_secs(64);
/// REQUESTs sent in answer to one offer before the client starts again.
const REQUEST_TRIES: u32 = 4;
/// RFC 2131 4.4.5: no closer than this while renewing or rebinding.
const MIN_RENEW_RETRY: Duration = Duration::from_secs(60);
/// RFC 2131 4.4.5's fuzz: T1 and T2 move earlier by less than this, and by less than a
/// sixteenth of their span (`Client::fuzz`).
const MAX_FUZZ: Duration = Duration::from_secs(60);
/// After a NAK, the next DISCOVER waits this long: a server that refuses every request
/// does not make the client loop at the speed of the link.
const AFTER_NAK: Duration = Duration::from_secs(4);
/// ARP probes of a new lease's address before it is used.
pub const PROBES: u32 = 2;
/// Between those probes, and from the last to taking the lease.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// After declining an address, the next DISCOVER waits this long (RFC 2131 3.1.5).
const AFTER_DECLINE: Duration = Duration::from_secs(10);
/// RFC 5227 2.1.1: after this many address conflicts on the interface, a new address is
/// tried at most once per [`RATE_LIMIT_INTERVAL`].
const MAX_CONFLICTS: u32 = 10;
const RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(60);

/// Where the client is (RFC 2131 figure 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Init,
    Selecting,
    Requesting,
    /// A lease was granted; its address is being probed with ARP before use.
    Checking,
    Bound,
    Renewing,
    Rebinding,
    /// Released (the program ends): sends nothing more.
    Stopped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "init",
            State::Selecting => "selecting",
            State::Requesting => "requesting",
            State::Checking => "checking",
            State::Bound => "bound",
            State::Renewing => "renewing",
            State::Rebinding => "rebinding",
            State::Stopped => "released",
        }
    }
}

/// What a server leased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Cidr,
    pub server: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// The domains names without dots are looked up in (option 15).
    pub domains: Vec<String>,
    pub mtu: Option<u16>,
    pub length: Lifetime,
    /// When it was granted or last renewed.
    pub obtained: Instant,
    /// T1, T2 and the end (`None` for a lease for ever).
    pub renew_at: Option<Instant>,
    pub rebind_at: Option<Instant>,
    pub expires_at: Option<Instant>,
}

/// A change the runtime applies to the interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A lease was granted or renewed: the interface takes (or keeps) its address, the
    /// default route its router.
    Bound(Lease),
    /// The lease ended (expired, or a server refused to renew it): the address must go.
    Lost(Ipv4Cidr),
}

/// A message to send from port 68 to port 67 of `to` (the limited broadcast, or the
/// server while renewing or releasing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: Ipv4Addr,
    pub payload: Vec<u8>,
}

/// Counters, every drop by its cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DhcpStats {
    pub discovers: u64,
    pub requests: u64,
    pub releases: u64,
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    /// Leases that ended: expired or refused while renewing.
    pub leases_lost: u64,
    /// Not a DHCP reply (truncated, no cookie, a broken option, no message type).
    pub drop_malformed: u64,
    /// A reply to another client or another exchange (xid or MAC not ours).
    pub drop_not_ours: u64,
    /// A reply the state does not wait for, from another server, or unusable (an
    /// offer of a non-unicast address, an ACK without a lease time).
    pub drop_unexpected: u64,
    /// Datagrams to port 68 from a port other than the servers' 67.
    pub drop_wrong_port: u64,
    /// Messages the stack could not send (the interface down, say): sent again on time.
    pub send_failures: u64,
    /// Leases declined because another host answered for the address (RFC 2131 4.4.1).
    pub declines: u64,
    /// Leases the interface refused (an address another interface has, an MTU larger than
    /// the device's).
    pub config_failures: u64,
}

pub struct Client {
    mac: MacAddr,
    host_name: Option<String>,
    rng: Rng,
    state: State,
    xid: u32,
    /// When the current exchange began (the `secs` field counts from it).
    started: Instant,
    /// The `secs` of the last DISCOVER: its offer's REQUESTs repeat it.
    discover_secs: u16,
    /// When the exchange's first REQUEST went: a lease's times run from it (RFC 2131
    /// 4.4.1, "the time at which the original request was sent plus the duration of the
    /// lease"), not from the ACK, which may come a round trip or a retransmission later.
    /// While renewing or rebinding, when the last REQUEST went (RFC 2131 4.4.5, "the time
    /// at which the client sent the DHCPREQUEST message"): those go 60 s or more apart,
    /// for hours, and an ACK answers the last.
    requested: Instant,
    /// When `poll` has work: a message to send again, or a lease's timer.
    next: Option<Instant>,
    tries: u32,
    /// The offer answered in REQUESTING: the address and the server chosen.
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
    lease: Option<Lease>,
    /// In CHECKING: the lease granted, its probes sent so far, and a probe to send.
    checking: Option<Lease>,
    probes: u32,
    probe: Option<Ipv4Addr>,
    /// Addresses declined since the last lease was taken (RFC 5227 2.1.1's count).
    conflicts: u32,
    event: Option<Event>,
    pub stats: DhcpStats,
}

impl Client {
    /// A client for the interface with MAC `mac`; its first DISCOVER goes at the first
    /// `poll`. `seed` draws the transaction ids, the retransmission jitter and the fuzz
    /// of T1 and T2.
    pub fn new(mac: MacAddr, host_name: Option<String>, seed: u64, now: Instant) -> Client {
        Client {
            mac,
            host_name,
            rng: Rng::new(seed),
            state: State::Init,
            xid: 0,
            started: now,
            discover_secs: 0,
            requested: now,
            next: Some(now),
            tries: 0,
            offer: None,
            lease: None,
            checking: None,
            probes: 0,
            probe: None,
            conflicts: 0,
            event: None,
            stats: DhcpStats::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// When `poll` must run next (`None`: nothing to do until a reply comes, or for ever).
    pub fn poll_at(&self) -> Option<Instant> {
        self.next
    }

    /// The change to apply, taken (one at most after each `poll` or `receive`).
    pub fn take_event(&mut self) -> Option<Event> {
        self.event.take()
    }

    /// An address to send an ARP probe for now, taken (after a `poll` in CHECKING). The
    /// runtime watches for claims of it until the state is CHECKING no more.
    pub fn take_probe(&mut self) -> Option<Ipv4Addr> {
        self.probe.take()
    }

    /// Another host claimed the address being checked: decline the lease (RFC 2131 4.4.1)
    /// and start again after 10 s. Nothing outside CHECKING. When a renewal brought the
    /// address, the lease of the old one is over too (the server moved it): it goes.
    pub fn conflict(&mut self, now: Instant) -> Option<Transmit> {
        if self.state != State::Checking {
            return None;
        }
        let lease = self.checking.take()?;
        self.give_up_old_lease();
        self.decline(lease, now)
    }

    /// The lease a renewal replaced, if any, ends: the runtime takes its address away.
    fn give_up_old_lease(&mut self) {
        if let Some(old) = self.lease.take() {
            self.stats.leases_lost += 1;
            self.event = Some(Event::Lost(old.addr));
        }
    }

    /// The interface refused the address of the lease just bound (another interface of
    /// this host has it): an address in use, declined as a claimed one is (RFC 2131
    /// 4.4.1), and the client starts again after 10 s. Nothing without a lease.
    pub fn refused(&mut self, now: Instant) -> Option<Transmit> {
        let lease = self.lease.take()?;
        self.decline(lease, now)
    }

    fn decline(&mut self, lease: Lease, now: Instant) -> Option<Transmit> {
        self.stats.declines += 1;
        let mut m = self.message(MessageType::Decline, now);
        // RFC 2131 table 5: 'secs' and 'flags' 0 in a DECLINE, as in a RELEASE.
        m.secs = 0;
        m.broadcast = false;
        m.requested_ip = Some(lease.addr.addr());
        m.server_id = Some(lease.server);
        m.host_name = None;
        // RFC 5227 2.1.1: "MUST limit the rate at which it probes for new addresses to no
        // more than one new address per RATE_LIMIT_INTERVAL" after MAX_CONFLICTS.
        self.conflicts = self.conflicts.saturating_add(1);
        let wait = if self.conflicts >= MAX_CONFLICTS {
            RATE_LIMIT_INTERVAL
        } else {
            AFTER_DECLINE
        };
        self.restart(now + wait);
        Self::broadcast(m)
    }

    /// The delay before sending again after `tries` earlier sends: 4 s doubling to 64 s,
    /// ±1 s (RFC 2131 4.1).
    fn backoff(&mut self, tries: u32) -> Duration {
        let base = FIRST_RETRY.saturating_mul(1 << tries.min(4)).min(MAX_RETRY);
        let jitter = Duration::from_millis(self.rng.next_u64() % 2001);
        (base + jitter).saturating_sub(Duration::from_secs(1))
    }

    /// T1 and T2 moved earlier by a random amount (RFC 2131 4.4.5: "SHOULD be chosen with
    /// some random 'fuzz' around a fixed value, to avoid synchronization of client
    /// reacquisition"): hosts that booted together do not all renew at one instant. Only
    /// ever earlier, so a lease is never renewed later than its server asked: T1 by less
    /// than min(T1/16, 60 s), T2 by less than min((T2 - T1)/16, 60 s), in whole
    /// microseconds. So 0 < T1' <= T1 (a T1 of 0 was replaced by the default before) and,
    /// when T1 < T2, T1' < T2' <= T2; a T2 equal to T1 moves with it.
    fn fuzz(&mut self, t1: Duration, t2: Duration) -> (Duration, Duration) {
        let mut draw = |span: Duration| {
            let max = (span / 16).min(MAX_FUZZ).as_micros() as u64;
            Duration::from_micros(if max == 0 {
                0
            } else {
                self.rng.next_u64() % max
            })
        };
        let fuzzed1 = t1 - draw(t1);
        if t2 <= t1 {
            return (fuzzed1, fuzzed1);
        }
        (fuzzed1, t2 - draw(t2 - t1))
    }

    /// Half the time left until `until`, at least 60 s, but never past it (RFC 2131 4.4.5).
    fn half_left(now: Instant, until: Instant) -> Instant {
        let left = until.saturating_duration_since(now);
        (now + (left / 2).max(MIN_RENEW_RETRY)).min(until)
    }

    fn message(&self, kind: MessageType, now: Instant) -> Request {
        let secs = now.saturating_duration_since(self.started).as_secs();
        Request {
            kind,
            xid: self.xid,
            secs: u16::try_from(secs).unwrap_or(u16::MAX),
            broadcast: self.lease.is_none(),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: self.mac,
            requested_ip: None,
            server_id: None,
            host_name: self.host_name.clone(),
        }
    }

    fn broadcast(req: Request) -> Option<Transmit> {
        Some(Transmit {
            to: Ipv4Addr::BROADCAST,
            payload: req.emit(),
        })
    }

    fn discover(&mut self, now: Instant) -> Option<Transmit> {
        self.state = State::Selecting;
        self.stats.discovers += 1;
        self.next = Some(now + self.backoff(self.tries));
        self.tries += 1;
        let m = self.message(MessageType::Discover, now);
        self.discover_secs = m.secs;
        Self::broadcast(m)
    }

    /// A REQUEST for the offer taken (SELECTING → REQUESTING), sent again on time-outs.
    fn request_offer(&mut self, now: Instant) -> Option<Transmit> {
        let (addr, server) = self.offer?;
        self.state = State::Requesting;
        if self.tries == 0 {
            self.requested = now;
        }
        self.stats.requests += 1;
        self.next = Some(now + self.backoff(self.tries));
        self.tries += 1;
        let mut m = self.message(MessageType::Request, now);
        m.requested_ip = Some(addr);
        m.server_id = Some(server);
        // RFC 2131 3.1 (3): the same `secs` as the DISCOVER the offer answered, so that
        // relays and servers treat the REQUEST as they treated it (dhclient does so).
        m.secs = self.discover_secs;
        Self::broadcast(m)
    }

    /// A REQUEST to extend the lease: to its server (RENEWING) or to all (REBINDING),
    /// naming our address in `ciaddr` and nothing else (RFC 2131 4.3.2).
    fn request_extension(&mut self, now: Instant) -> Option<Transmit> {
        let lease = self.lease.as_ref()?;
        let (addr, server, until) = match self.state {
            State::Renewing => (lease.addr.addr(), lease.server, lease.rebind_at),
            _ => (lease.addr.addr(), lease.server, lease.expires_at),
        };
        self.next = until.map(|u| Self::half_left(now, u));
        self.requested = now;
        self.stats.requests += 1;
        let mut m = self.message(MessageType::Request, now);
        m.ciaddr = addr;
        let to = if self.state == State::Renewing {
            server
        } else {
            Ipv4Addr::BROADCAST
        };
        Some(Transmit {
            to,
            payload: m.emit(),
        })
    }

    /// Back to INIT: a new exchange at `at`.
    fn restart(&mut self, at: Instant) {
        self.state = State::Init;
        self.offer = None;
        self.checking = None;
        self.probe = None;
        self.tries = 0;
        self.next = Some(at);
    }

    /// The lease ends: the runtime takes the address away.
    fn lose(&mut self, now: Instant, at: Instant) {
        if let Some(l) = self.lease.take() {
            self.stats.leases_lost += 1;
            self.event = Some(Event::Lost(l.addr));
        }
        self.restart(at.max(now));
    }

    /// Time passed: send what is due, move through the lease's timers.
    pub fn poll(&mut self, now: Instant) -> Option<Transmit> {
        if self.next.is_none_or(|t| now < t) {
            return None;
        }
        if let Some(end) = self.lease.as_ref().and_then(|l| l.expires_at) {
            if now >= end {
                self.lose(now, now);
            }
        }
        match self.state {
            State::Init => {
                self.xid = self.rng.next_u64() as u32;
                self.started = now;
                self.tries = 0;
                self.discover(now)
            }
            State::Selecting => self.discover(now),
            State::Requesting if self.tries >= REQUEST_TRIES => {
                self.restart(now);
                self.poll(now)
            }
            State::Requesting => self.request_offer(now),
            State::Checking if self.probes < PROBES => {
                self.probe = self.checking.as_ref().map(|l| l.addr.addr());
                self.probes += 1;
                self.next = Some(now + PROBE_INTERVAL);
                None
            }
            State::Checking => {
                // Nobody claimed the address: it is ours, unless the lease ended during
                // the check (a server granting less time than the check takes). An ended
                // lease's address is not used (RFC 2131 4.4.5): start again, after the
                // pause that follows a NAK.
                if let Some(lease) = self.checking.take() {
                    if lease.expires_at.is_some_and(|end| now >= end) {
                        self.stats.leases_lost += 1;
                        self.give_up_old_lease();
                        self.restart(now + AFTER_NAK);
                    } else {
                        self.commit(lease);
                    }
                }
                None
            }
            State::Bound | State::Renewing | State::Rebinding => {
                let t2 = self.lease.as_ref().and_then(|l| l.rebind_at);
                let next_state = if t2.is_some_and(|t| now >= t) {
                    State::Rebinding
                } else {
                    State::Renewing
                };
                if self.state == State::Bound || next_state != self.state {
                    // A new exchange: a new transaction id (RFC 2131 4.4.5).
                    self.xid = self.rng.next_u64() as u32;
                }
                if self.state == State::Bound {
                    // `secs` counts from the start of the renewal (RFC 2131 table 5, as
                    // dhclient's first_sending): rebinding goes on with it.
                    self.started = now;
                }
                self.state = next_state;
                self.request_extension(now)
            }
            State::Stopped => {
                self.next = None;
                None
            }
        }
    }

    /// A datagram from port 67: act on it if it answers us.
    pub fn receive(&mut self, payload: &[u8], now: Instant) -> Option<Transmit> {
        let r = match Reply::parse(payload) {
            Ok(r) => r,
            Err(_) => {
                self.stats.drop_malformed += 1;
                return None;
            }
        };
        if r.xid != self.xid || r.chaddr != self.mac || self.state == State::Init {
            self.stats.drop_not_ours += 1;
            return None;
        }
        match (self.state, r.kind) {
            (State::Selecting, MessageType::Offer) => {
                // The server's own address (RFC 2131 4.3.1, option 54): requests go there
                // while renewing. None that could be a server's is no server's offer.
                let server = r.server_id.filter(|&s| usable(s));
                let (Some(server), true) = (server, usable(r.yiaddr)) else {
                    self.stats.drop_unexpected += 1;
                    return None;
                };
                self.stats.offers += 1;
                self.offer = Some((r.yiaddr, server));
                self.tries = 0;
                self.request_offer(now)
            }
            (State::Requesting, MessageType::Ack) if self.sent_by_chosen(&r) => {
                self.bind(&r, now);
                None
            }
            (State::Renewing | State::Rebinding, MessageType::Ack) => {
                self.bind(&r, now);
                None
            }
            (State::Requesting, MessageType::Nak) if self.sent_by_chosen(&r) => {
                self.stats.naks += 1;
                self.restart(now + AFTER_NAK);
                None
            }
            (State::Renewing | State::Rebinding, MessageType::Nak) => {
                self.stats.naks += 1;
                self.lose(now, now);
                None
            }
            _ => {
                self.stats.drop_unexpected += 1;
                None
            }
        }
    }

    /// Is this the server we asked (its id, when it names one)?
    fn sent_by_chosen(&self, r: &Reply) -> bool {
        let chosen = self.offer.map(|(_, s)| s);
        r.server_id.is_none() || r.server_id == chosen
    }

    /// An ACK: take the lease (RFC 2131 4.4.1), or drop the ACK if it is unusable.
    fn bind(&mut self, r: &Reply, now: Instant) {
        let server = r
            .server_id
            .filter(|&s| usable(s))
            .or(self.offer.map(|(_, s)| s))
            .or(self.lease.as_ref().map(|l| l.server));
        let (Some(length), Some(server), Some(addr)) = (r.lease, server, cidr(r)) else {
            self.stats.drop_unexpected += 1;
            return;
        };
        self.stats.acks += 1;
        let from = self.requested.min(now);
        let (renew_at, rebind_at, expires_at) = match length {
            Lifetime::Infinite => (None, None, None),
            Lifetime::Finite(len) => {
                // RFC 2131 4.4.5: T1 half the lease, T2 7/8, unless the server says; times
                // out of order are the defaults, and so is a time of 0 (as dhcpcd takes
                // it): renewing at once after every ACK would loop at the speed of the link.
                // Then both a little earlier at random (the RFC's fuzz).
                let given = |t: Option<Duration>| t.filter(|t| !t.is_zero());
                let (mut t1, mut t2) = (
                    given(r.t1).unwrap_or(len / 2),
                    given(r.t2).unwrap_or(len * 7 / 8),
                );
                if !(t1 <= t2 && t2 <= len) {
                    (t1, t2) = (len / 2, len * 7 / 8);
                }
                let (t1, t2) = self.fuzz(t1, t2);
                (Some(from + t1), Some(from + t2), Some(from + len))
            }
        };
        if expires_at.is_some_and(|end| end <= now) {
            // A lease of no time ends as it is granted: its address is not used (RFC 2131
            // 4.4.5). As a NAK: a lease held is lost at once, a new one is asked for again
            // after a pause.
            if self.lease.is_some() {
                self.lose(now, now);
            } else {
                self.stats.leases_lost += 1;
                self.restart(now + AFTER_NAK);
            }
            return;
        }
        let lease = Lease {
            addr,
            server,
            // A router outside the leased network (a /32 lease, as clouds hand out) is
            // reached by a host route the runtime adds (RFC 3442 3's note on routers
            // outside the subnet; systemd-networkd and dhclient do the same); one that is
            // our own address, or no unicast host, is no router.
            router: r.router.filter(|&g| {
                g != addr.addr()
                    && !g.is_unspecified()
                    && !g.is_broadcast()
                    && !g.is_multicast()
                    && !g.is_loopback()
                    && (addr.prefix() >= 31
                        || (g != addr.network().addr() && addr.broadcast() != Some(g)))
            }),
            dns: r.dns.clone(),
            domains: r.domains.clone(),
            mtu: r.mtu,
            length,
            obtained: now,
            renew_at,
            rebind_at,
            expires_at,
        };
        self.offer = None;
        self.tries = 0;
        // A renewal or rebinding that moves the lease to another address (a server that
        // no longer grants the old one, another server while rebinding) brings a new
        // address too: it is checked as the first one was (RFC 2131 4.4.1), the old one
        // kept meanwhile.
        let moved = self
            .lease
            .as_ref()
            .is_some_and(|l| l.addr.addr() != lease.addr.addr());
        if self.state == State::Requesting || moved {
            // A new address: checked first (the lease's times run from the REQUEST).
            self.state = State::Checking;
            self.checking = Some(lease);
            self.probes = 0;
            self.next = Some(now);
        } else {
            self.commit(lease);
        }
    }

    /// Take the lease: BOUND until T1.
    fn commit(&mut self, lease: Lease) {
        self.conflicts = 0;
        self.next = lease.renew_at;
        self.lease = Some(lease.clone());
        self.event = Some(Event::Bound(lease));
        self.state = State::Bound;
    }

    /// The program ends: give the lease back (RFC 2131 4.4.6), and stop.
    pub fn release(&mut self, now: Instant) -> Option<Transmit> {
        self.state = State::Stopped;
        self.next = None;
        self.checking = None;
        self.probe = None;
        let lease = self.lease.take()?;
        self.xid = self.rng.next_u64() as u32;
        self.started = now;
        self.stats.releases += 1;
        let mut m = self.message(MessageType::Release, now);
        m.broadcast = false;
        m.ciaddr = lease.addr.addr();
        m.server_id = Some(lease.server);
        m.host_name = None;
        Some(Transmit {
            to: lease.server,
            payload: m.emit(),
        })
    }
}

/// An address a host may take: unicast, not 0/8, loopback or class E.
fn usable(a: Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || a.octets()[0] == 0
        || a.octets()[0] >= 240)
}

/// The leased address with its prefix: the subnet mask given (contiguous), else the
/// address's class (RFC 2131 leaves a missing mask to the client; RFC 1122 3.3.1.1's
/// default). `None` for an address that is its network's own or its broadcast.
fn cidr(r: &Reply) -> Option<Ipv4Cidr> {
    if !usable(r.yiaddr) {
        return None;
    }
    let classful = match r.yiaddr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    };
    let prefix = r
        .subnet_mask
        .map(u32::from)
        .filter(|m| m.leading_ones() + m.trailing_zeros() == 32 && *m != 0)
        .map_or(classful, |m| m.leading_ones() as u8);
    let c = Ipv4Cidr::new(r.yiaddr, prefix)?;
    let own = prefix < 31 && (c.network().addr() == r.yiaddr || c.broadcast() == Some(r.yiaddr));
    (!own).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::super::wire::tests::reply;
    use super::*;

    const MAC: MacAddr = MacAddr([0x00, 0x34, 0x45, 0x67, 0x89, 0xab]);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn at(secs: f64) -> Instant {
        Instant::from_micros((secs * 1e6) as u64)
    }

    /// RFC 2131 4.4.5's fuzz: `got` is `fixed` moved earlier by less than min(`span`/16,
    /// 60 s), or not moved (`span` is T1 for T1, T2 - T1 for T2).
    pub(super) fn assert_fuzzed(got: Option<Instant>, fixed: Instant, span: Duration) {
        let got = got.expect("a timer");
        let most = (span / 16).min(Duration::from_secs(60));
        assert!(
            got <= fixed && fixed - got < most,
            "{got:?} not in ({:?}, {fixed:?}]",
            fixed - most
        );
    }

    /// A transmitted message's transaction id.
    pub(super) fn xid_of(t: &Transmit) -> u32 {
        u32::from_be_bytes([t.payload[4], t.payload[5], t.payload[6], t.payload[7]])
    }

    /// A client with `seed` bound at t = 0 to 10.0.0.77 by an ACK with options `opts`
    /// (after the server id), its ARP check passed; its lease (times from t = 0).
    pub(super) fn bind_with(seed: u64, opts: &[u8]) -> (Client, Lease) {
        let t0 = Instant::ZERO;
        let mut c = Client::new(MAC, None, seed, t0);
        let xid = xid_of(&c.poll(t0).unwrap());
        c.receive(&reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]), t0)
            .unwrap();
        let ack = [&[54, 4, 10, 0, 0, 2][..], opts].concat();
        assert!(c
            .receive(&reply(5, xid, [10, 0, 0, 77], &ack), t0)
            .is_none());
        while c.state() == State::Checking {
            let t = c.poll_at().unwrap();
            c.poll(t);
            c.take_probe();
        }
        let Some(Event::Bound(l)) = c.take_event() else {
            panic!("not bound: {opts:?}")
        };
        (c, l)
    }

    fn parse_request(t: &Transmit) -> (u8, u32, Vec<u8>) {
        // (message type, xid, the whole payload)
        let b = &t.payload;
        (
            b[242],
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            b.clone(),
        )
    }

    /// The ARP check of a new lease granted at `t0`: two probes for its address 0.5 s
    /// apart, nobody claims it, and the lease is taken 0.5 s after the second.
    fn pass_the_check(c: &mut Client, t0: f64) {
        assert_eq!(c.state(), State::Checking);
        assert!(c.take_event().is_none(), "not before the check");
        let addr = c.checking.as_ref().unwrap().addr.addr();
        for k in 0..2 {
            let t = at(t0 + 0.5 * f64::from(k));
            assert_eq!(c.poll_at(), Some(t));
            assert!(c.poll(t).is_none());
            assert_eq!(c.take_probe(), Some(addr));
            assert_eq!(c.state(), State::Checking);
        }
        assert!(c.poll(at(t0 + 0.9)).is_none());
        assert_eq!(c.state(), State::Checking);
        assert!(c.poll(at(t0 + 1.0)).is_none());
        assert_eq!(c.take_probe(), None);
        assert_eq!(c.state(), State::Bound);
    }

    /// A client bound at t = 0 to 10.0.0.77/24 for `lease` seconds (T1, T2 by default),
    /// its ARP check passed at t = 1.
    fn bound(lease: u32) -> Client {
        let mut c = Client::new(MAC, None, 1, at(0.0));
        let d = c.poll(at(0.0)).unwrap();
        let (_, xid, _) = parse_request(&d);
        let l = lease.to_be_bytes();
        let offer = reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]);
        c.receive(&offer, at(0.0)).unwrap();
        let ack = reply(
            5,
            xid,
            [10, 0, 0, 77],
            &[
                54, 4, 10, 0, 0, 2, 51, 4, l[0], l[1], l[2], l[3], 1, 4, 255, 255, 255, 0, 3, 4,
                10, 0, 0, 2,
            ],
        );
        assert!(c.receive(&ack, at(0.0)).is_none());
        pass_the_check(&mut c, 0.0);
        c
    }

    /// A lease that ends while its address is checked (a server granting 0 or 1 s, less
    /// than the check takes) is not taken when the check passes: the client does not
    /// configure and announce an address whose lease is over (RFC 2131 4.4.5), and starts
    /// again after a pause rather than at the speed of the exchange. Found by the `dhcp`
    /// fuzz target: the lease was bound, then lost at the next poll.
    #[test]
    fn a_lease_that_ends_during_the_check_is_not_bound() {
        for secs in [0u32, 1] {
            let mut c = Client::new(MAC, None, 1, at(0.0));
            let d = c.poll(at(0.0)).unwrap();
            let (_, xid, _) = parse_request(&d);
            let offer = reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]);
            c.receive(&offer, at(0.0)).unwrap();
            let l = secs.to_be_bytes();
            let ack = reply(
                5,
                xid,
                [10, 0, 0, 77],
                &[54, 4, 10, 0, 0, 2, 51, 4, l[0], l[1], l[2], l[3]],
            );
            assert!(c.receive(&ack, at(0.0)).is_none());
            // 0 s: not even checked (as a NAK); 1 s: checked, and over by the check's end.
            let check: &[f64] = if secs == 0 { &[] } else { &[0.0, 0.5, 1.0] };
            assert_eq!(c.state() == State::Checking, secs > 0);
            // Two probes 0.5 s apart, and 0.5 s more.
            for &t in check {
                assert!(c.poll(at(t)).is_none());
                if let Some(Event::Bound(l)) = c.take_event() {
                    panic!(
                        "a {secs} s lease bound at {t} s, ended at {:?}",
                        l.expires_at
                    );
                }
            }
            assert_eq!(c.state(), State::Init, "{secs} s lease");
            assert!(c.lease().is_none());
            assert_eq!(c.stats.leases_lost, 1);
            assert!(
                c.poll_at().is_some_and(|t| t >= at(2.0)),
                "starts again after a pause: {:?}",
                c.poll_at()
            );
        }
    }

    #[test]
    fn discover_offer_request_ack_binds_with_address_router_and_timers() {
        let mut c = Client::new(MAC, Some("tapip".into()), 1, at(5.0));
        assert_eq!(
            c.poll_at(),
            Some(at(5.0)),
            "the first DISCOVER goes at once"
        );
        let d = c.poll(at(5.0)).unwrap();
        assert_eq!(d.to, Ipv4Addr::BROADCAST);
        let (kind, xid, b) = parse_request(&d);
        assert_eq!(kind, 1);
        assert_eq!(
            &b[10..12],
            &[0x80, 0],
            "replies by broadcast: no address yet"
        );
        assert_eq!(c.state(), State::Selecting);

        let offer = reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]);
        let r = c.receive(&offer, at(5.1)).unwrap();
        let (kind, rxid, b) = parse_request(&r);
        assert_eq!((kind, rxid), (3, xid), "REQUEST in the same exchange");
        assert_eq!(r.to, Ipv4Addr::BROADCAST);
        assert!(b.windows(6).any(|w| w == [50, 4, 10, 0, 0, 77]));
        assert!(b.windows(6).any(|w| w == [54, 4, 10, 0, 0, 2]));
        assert_eq!(c.state(), State::Requesting);
        // A second offer (another server) is not what REQUESTING waits for.
        assert!(c.receive(&offer, at(5.15)).is_none());
        assert_eq!(c.stats.drop_unexpected, 1);

        let ack = reply(
            5,
            xid,
            [10, 0, 0, 77],
            &[
                54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0,
                0, 2, 6, 4, 10, 0, 0, 2,
            ],
        );
        assert!(c.receive(&ack, at(5.2)).is_none());
        pass_the_check(&mut c, 5.2);
        let Some(Event::Bound(l)) = c.take_event() else {
            panic!("no lease")
        };
        assert_eq!(l.addr.to_string(), "10.0.0.77/24");
        assert_eq!((l.server, l.router), (SERVER, Some(SERVER)));
        assert_eq!(l.dns, vec![SERVER]);
        // The times run from the REQUEST (5.1), not the ACK (RFC 2131 4.4.1); T1 and T2
        // up to a minute early (the fuzz).
        assert_fuzzed(l.renew_at, at(5.1 + 1800.0), Duration::from_secs(1800));
        assert_fuzzed(l.rebind_at, at(5.1 + 3150.0), Duration::from_secs(1350));
        assert_eq!(l.expires_at, Some(at(5.1 + 3600.0)));
        assert_eq!(c.poll_at(), l.renew_at);
        assert_eq!(
            (
                c.stats.discovers,
                c.stats.offers,
                c.stats.requests,
                c.stats.acks
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn discovers_back_off_from_4_to_64_seconds_with_a_second_of_jitter() {
        let mut c = Client::new(MAC, None, 9, at(0.0));
        let first = c.poll(at(0.0)).unwrap();
        let xid = parse_request(&first).1;
        let mut t = at(0.0);
        for base in [4.0, 8.0, 16.0, 32.0, 64.0, 64.0, 64.0] {
            let next = c.poll_at().unwrap();
            let gap = next.saturating_duration_since(t).as_secs_f64();
            assert!(
                (base - 1.0..=base + 1.0).contains(&gap),
                "{gap} not {base}±1"
            );
            assert!(
                c.poll(next - Duration::from_millis(1)).is_none(),
                "not early"
            );
            let d = c.poll(next).unwrap();
            let (kind, x, b) = parse_request(&d);
            assert_eq!((kind, x), (1, xid), "the same exchange");
            let secs = u16::from_be_bytes([b[8], b[9]]);
            assert_eq!(
                u64::from(secs),
                next.saturating_duration_since(at(0.0)).as_secs()
            );
            t = next;
        }
    }

    #[test]
    fn unanswered_requests_start_again_and_a_nak_waits_before_it_does() {
        let mut c = Client::new(MAC, None, 2, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        let offer = reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]);
        c.receive(&offer, at(0.0)).unwrap();
        for _ in 1..REQUEST_TRIES {
            let t = c.poll_at().unwrap();
            assert_eq!(parse_request(&c.poll(t).unwrap()).0, 3);
        }
        let t = c.poll_at().unwrap();
        let d = c.poll(t).unwrap();
        assert_eq!(parse_request(&d).0, 1, "a new DISCOVER after four REQUESTs");
        let xid2 = parse_request(&d).1;
        assert_ne!(xid2, xid);
        // An answer to the old exchange is not ours any more.
        let ack = reply(
            5,
            xid,
            [10, 0, 0, 77],
            &[54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 1, 0],
        );
        assert!(c.receive(&ack, t).is_none());
        assert_eq!(c.stats.drop_not_ours, 1);

        let offer = reply(2, xid2, [10, 0, 0, 78], &[54, 4, 10, 0, 0, 2]);
        c.receive(&offer, t).unwrap();
        // A NAK from another server than the one asked is not for us.
        let nak = reply(6, xid2, [0; 4], &[54, 4, 10, 0, 0, 9]);
        assert!(c.receive(&nak, t).is_none());
        assert_eq!(c.state(), State::Requesting);
        let nak = reply(6, xid2, [0; 4], &[54, 4, 10, 0, 0, 2]);
        assert!(c.receive(&nak, t).is_none());
        assert_eq!((c.state(), c.stats.naks), (State::Init, 1));
        assert_eq!(c.poll_at(), Some(t + AFTER_NAK));
        assert!(
            c.take_event().is_none(),
            "nothing was leased, nothing is lost"
        );
    }

    #[test]
    fn renewing_goes_to_the_server_at_t1_and_an_ack_extends_the_lease() {
        let mut c = bound(1000);
        assert!(matches!(c.take_event(), Some(Event::Bound(_))));
        // T1 is 500 s, up to 31.25 s early.
        let t1 = c.poll_at();
        assert_fuzzed(t1, at(500.0), Duration::from_secs(500));
        let (t1, t2) = (t1.unwrap(), c.lease().unwrap().rebind_at.unwrap());
        assert!(c.poll(t1 - Duration::from_micros(1)).is_none(), "not early");
        let r = c.poll(t1).unwrap();
        assert_eq!(c.state(), State::Renewing);
        assert_eq!(r.to, SERVER, "unicast to the server");
        let (kind, xid, b) = parse_request(&r);
        assert_eq!(kind, 3);
        assert_eq!(&b[12..16], &[10, 0, 0, 77], "ciaddr names our address");
        assert_eq!(&b[10..12], &[0, 0], "no broadcast flag: we have an address");
        assert!(
            !b.windows(2).any(|w| w == [50, 4]),
            "no requested IP option"
        );
        // Half the time to T2 (about 875 s), at least 60 s.
        assert_eq!(c.poll_at(), Some(t1 + (t2 - t1) / 2));
        let ack = reply(
            5,
            xid,
            [10, 0, 0, 77],
            &[54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 3, 232],
        );
        c.receive(&ack, t1 + Duration::from_secs(1));
        let Some(Event::Bound(l)) = c.take_event() else {
            panic!("not renewed")
        };
        // From the renewing REQUEST at T1, not the ACK a second later.
        assert_eq!(l.expires_at, Some(t1 + Duration::from_secs(1000)));
        assert_eq!(c.state(), State::Bound);
        assert_fuzzed(
            c.poll_at(),
            t1 + Duration::from_secs(500),
            Duration::from_secs(500),
        );
    }

    /// A bound client renewing at 500 s (T1, or just after: the fuzz moves it earlier),
    /// answered with another address, .78: the ACK and the client.
    fn renewed_to_78() -> Client {
        let mut c = bound(1000);
        assert!(matches!(c.take_event(), Some(Event::Bound(_))));
        let (_, xid, _) = parse_request(&c.poll(at(500.0)).unwrap());
        let ack = reply(
            5,
            xid,
            [10, 0, 0, 78],
            &[
                54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 3, 232, 1, 4, 255, 255, 255, 0,
            ],
        );
        assert!(c.receive(&ack, at(500.5)).is_none());
        c
    }

    /// A renewal that moves the lease to another address checks the new address with ARP
    /// before it is used (RFC 2131 4.4.1), as it checks a first lease's; the old address
    /// serves meanwhile. It was taken at once, unchecked.
    #[test]
    fn a_renewal_to_another_address_checks_it_first() {
        let mut c = renewed_to_78();
        assert_eq!(
            c.lease().map(|l| l.addr.addr()),
            Some(Ipv4Addr::new(10, 0, 0, 77))
        );
        pass_the_check(&mut c, 500.5);
        let Some(Event::Bound(l)) = c.take_event() else {
            panic!("the new address was not taken")
        };
        assert_eq!(l.addr.addr(), Ipv4Addr::new(10, 0, 0, 78));
        assert_eq!(l.expires_at, Some(at(1500.0)), "from the renewing REQUEST");
        // The same address again is no move: taken at once.
        let (_, xid, _) = parse_request(&c.poll(at(1000.0)).unwrap());
        let ack = reply(
            5,
            xid,
            [10, 0, 0, 78],
            &[54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 3, 232],
        );
        c.receive(&ack, at(1000.0));
        assert_eq!(c.state(), State::Bound);
        assert!(matches!(c.take_event(), Some(Event::Bound(_))));
    }

    /// ... and another host answering for the new address has it declined; the old
    /// address's lease is over too (the server moved it), so it goes, and the client
    /// starts again.
    #[test]
    fn a_renewals_new_address_in_use_is_declined_and_the_old_one_goes() {
        let mut c = renewed_to_78();
        assert!(c.poll(at(500.5)).is_none());
        assert_eq!(c.take_probe(), Some(Ipv4Addr::new(10, 0, 0, 78)));
        let d = c.conflict(at(500.6)).expect("a DECLINE");
        let (kind, _, b) = parse_request(&d);
        assert_eq!(kind, 4);
        assert!(b.windows(6).any(|w| w == [50, 4, 10, 0, 0, 78]));
        let Some(Event::Lost(old)) = c.take_event() else {
            panic!("the old address stayed")
        };
        assert_eq!(old.addr(), Ipv4Addr::new(10, 0, 0, 77));
        assert_eq!((c.state(), c.lease()), (State::Init, None));
        assert_eq!((c.stats.declines, c.stats.leases_lost), (1, 1));
    }

    /// RFC 2131 4.4.1: "the time at which the original request was sent plus the
    /// duration of the lease": an ACK after a retransmitted REQUEST counts from the first.
    #[test]
    fn the_lease_runs_from_the_first_request_of_the_exchange() {
        let mut c = Client::new(MAC, None, 5, at(0.0));
        let d = c.poll(at(0.0)).unwrap();
        let xid = u32::from_be_bytes([d.payload[4], d.payload[5], d.payload[6], d.payload[7]]);
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(1.0),
        )
        .unwrap();
        let again = c.poll_at().unwrap();
        assert!(c.poll(again).is_some(), "the REQUEST again");
        let opts = [54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0, 100];
        c.receive(
            &reply(5, xid, [10, 0, 0, 77], &opts),
            again + Duration::from_secs(1),
        );
        assert_eq!(c.checking.as_ref().unwrap().expires_at, Some(at(101.0)));
    }

    /// RFC 2131 table 5: a DECLINE has 'secs' and 'flags' 0.
    #[test]
    fn a_decline_has_secs_and_flags_zero() {
        let mut c = Client::new(MAC, None, 5, at(0.0));
        let d = c.poll(at(0.0)).unwrap();
        let xid = u32::from_be_bytes([d.payload[4], d.payload[5], d.payload[6], d.payload[7]]);
        c.poll(at(5.0));
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(5.0),
        );
        let opts = [54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 1, 0];
        c.receive(&reply(5, xid, [10, 0, 0, 77], &opts), at(5.0));
        assert!(c.poll(at(5.0)).is_none());
        let b = c.conflict(at(5.2)).expect("a DECLINE").payload;
        assert_eq!(b[242], 4, "DHCPDECLINE");
        assert_eq!(&b[8..10], &[0, 0], "secs");
        assert_eq!(&b[10..12], &[0, 0], "flags");
    }

    #[test]
    fn rebinding_broadcasts_at_t2_and_the_lease_ends_at_its_time() {
        let mut c = bound(1000);
        c.take_event();
        let l = c.lease().unwrap();
        let (t1, t2) = (l.renew_at.unwrap(), l.rebind_at.unwrap());
        assert_fuzzed(Some(t2), at(875.0), Duration::from_secs(375));
        let mut sent = Vec::new();
        while let Some(t) = c.poll_at() {
            if t > at(1000.0) {
                break;
            }
            if let Some(m) = c.poll(t) {
                let secs = u16::from_be_bytes([m.payload[8], m.payload[9]]);
                sent.push((t, m.to, c.state(), secs));
            }
            if let Some(Event::Lost(a)) = c.take_event() {
                assert_eq!(a.to_string(), "10.0.0.77/24");
                assert_eq!(t, at(1000.0), "lost exactly at the lease's end");
                break;
            }
        }
        let renew: Vec<_> = sent.iter().filter(|s| s.2 == State::Renewing).collect();
        let rebind: Vec<_> = sent.iter().filter(|s| s.2 == State::Rebinding).collect();
        assert_eq!(renew[0].0, t1);
        assert!(renew.iter().all(|s| s.1 == SERVER));
        assert_eq!(rebind[0].0, t2);
        assert!(rebind.iter().all(|s| s.1 == Ipv4Addr::BROADCAST));
        // `secs` counts from the renewal's start at T1 on through rebinding (it began
        // again at T2: found by a review).
        assert_eq!(renew[0].3, 0);
        assert_eq!(u64::from(rebind[0].3), (t2 - t1).as_secs());
        // T2 → half the time left (≥ 62.5 s) → then capped at the end.
        assert!(rebind
            .windows(2)
            .all(
                |w| w[1].0.saturating_duration_since(w[0].0) >= Duration::from_secs(60)
                    || w[1].0 == at(1000.0)
            ));
        assert_eq!(c.stats.leases_lost, 1);
        // The address is gone; a DISCOVER goes at once.
        assert_eq!(c.state(), State::Selecting);
        assert!(c.lease().is_none());
    }

    #[test]
    fn a_nak_while_renewing_takes_the_address_away_at_once() {
        let mut c = bound(1000);
        c.take_event();
        let xid = parse_request(&c.poll(at(500.0)).unwrap()).1;
        c.receive(&reply(6, xid, [0; 4], &[54, 4, 10, 0, 0, 2]), at(500.1));
        assert!(matches!(c.take_event(), Some(Event::Lost(_))));
        assert_eq!(c.poll_at(), Some(at(500.1)));
        assert_eq!(parse_request(&c.poll(at(500.1)).unwrap()).0, 1);
    }

    /// An ACK to a renewal that grants 0 s ends the lease there and then, as a NAK does:
    /// the address is not bound again for no time (RFC 2131 4.4.5). Found by the `dhcp`
    /// fuzz target: the lease was bound again, then lost at the next poll.
    #[test]
    fn an_ack_of_no_time_while_renewing_ends_the_lease() {
        let mut c = bound(1000);
        c.take_event();
        let xid = parse_request(&c.poll(at(500.0)).unwrap()).1;
        let ack = reply(
            5,
            xid,
            [10, 0, 0, 77],
            &[54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0, 0],
        );
        c.receive(&ack, at(500.1));
        match c.take_event() {
            Some(Event::Lost(_)) => {}
            other => panic!("not ended: {other:?}"),
        }
        assert_eq!((c.state(), c.lease()), (State::Init, None));
        assert_eq!(parse_request(&c.poll(at(500.1)).unwrap()).0, 1, "DISCOVER");
    }

    /// A server whose ACKs say T1 = 0 (renew at once) would have the client renew, be
    /// acknowledged and renew again at the speed of the link, for ever. A T1 or T2 of 0 is
    /// taken as not given (the defaults, half and seven eighths of the lease), as dhcpcd
    /// takes it. Found by the `dhcp` fuzz target: REQUEST, ACK, REQUEST... at one instant.
    #[test]
    fn a_t1_of_zero_does_not_renew_at_once() {
        let mut c = Client::new(MAC, None, 1, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        )
        .unwrap();
        let zero_t1 = [54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 3, 232, 58, 4, 0, 0, 0, 0];
        assert!(c
            .receive(&reply(5, xid, [10, 0, 0, 77], &zero_t1), at(0.0))
            .is_none());
        pass_the_check(&mut c, 0.0);
        let Some(Event::Bound(l)) = c.take_event() else {
            panic!("not bound")
        };
        // The default T1 (a little early: the fuzz).
        assert_fuzzed(l.renew_at, at(500.0), Duration::from_secs(500));
        // A renewal acknowledged with T1 = 0 again: no new REQUEST at once.
        let t1 = l.renew_at.unwrap();
        let xid = parse_request(&c.poll(t1).unwrap()).1;
        c.receive(&reply(5, xid, [10, 0, 0, 77], &zero_t1), t1);
        assert_eq!(c.state(), State::Bound);
        assert!(c.poll(t1).is_none());
        let again = t1 + Duration::from_secs(500);
        assert_fuzzed(c.poll_at(), again, Duration::from_secs(500));
    }

    #[test]
    fn release_gives_the_address_back_to_its_server_and_stops() {
        let mut c = bound(1000);
        let r = c.release(at(10.0)).unwrap();
        assert_eq!(r.to, SERVER);
        let (kind, _, b) = parse_request(&r);
        assert_eq!(kind, 7);
        assert_eq!(&b[12..16], &[10, 0, 0, 77]);
        assert!(b.windows(6).any(|w| w == [54, 4, 10, 0, 0, 2]));
        assert_eq!((c.state(), c.poll_at()), (State::Stopped, None));
        assert!(c.release(at(11.0)).is_none(), "once");
        // Unbound, nothing to release.
        let mut c = Client::new(MAC, None, 1, at(0.0));
        c.poll(at(0.0));
        assert!(c.release(at(1.0)).is_none());
    }

    #[test]
    fn an_infinite_lease_has_no_timers_and_odd_t1_t2_fall_back() {
        let mut c = Client::new(MAC, None, 3, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        );
        c.receive(
            &reply(
                5,
                xid,
                [10, 0, 0, 77],
                &[54, 4, 10, 0, 0, 2, 51, 4, 255, 255, 255, 255],
            ),
            at(0.0),
        );
        pass_the_check(&mut c, 0.0);
        assert_eq!((c.state(), c.poll_at()), (State::Bound, None));
        let l = c.lease().unwrap();
        assert_eq!(l.addr.to_string(), "10.0.0.77/8", "no mask: the class's");

        let mut c = Client::new(MAC, None, 3, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        );
        // T1 after T2: both defaults.
        let opts = [
            54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 0, 100, 58, 4, 0, 0, 0, 90, 59, 4, 0, 0, 0, 80,
        ];
        c.receive(&reply(5, xid, [10, 0, 0, 77], &opts), at(0.0));
        pass_the_check(&mut c, 0.0);
        let l = c.lease().unwrap();
        assert_fuzzed(l.renew_at, at(50.0), Duration::from_secs(50));
        assert_fuzzed(l.rebind_at, at(87.5), Duration::from_millis(37_500));
    }

    #[test]
    fn unusable_offers_and_acks_are_dropped_and_counted() {
        let mut c = Client::new(MAC, None, 4, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        for bad in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [224, 0, 0, 1],
            [127, 0, 0, 1],
        ] {
            assert!(c
                .receive(&reply(2, xid, bad, &[54, 4, 10, 0, 0, 2]), at(0.0))
                .is_none());
        }
        // No server id, or one no server can have (renewals would be unicast there: to
        // nobody, or to everyone on the link; they were taken).
        assert!(c
            .receive(&reply(2, xid, [10, 0, 0, 7], &[]), at(0.0))
            .is_none());
        for bad in [[0, 0, 0, 0], [255, 255, 255, 255], [224, 0, 0, 9]] {
            let id = [54, 4, bad[0], bad[1], bad[2], bad[3]];
            assert!(c
                .receive(&reply(2, xid, [10, 0, 0, 7], &id), at(0.0))
                .is_none());
        }
        assert_eq!(c.stats.drop_unexpected, 8);
        c.receive(
            &reply(2, xid, [10, 0, 0, 255], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        );
        // The network's broadcast under the mask given; no lease time.
        let mask = [
            54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 1, 0, 1, 4, 255, 255, 255, 0,
        ];
        c.receive(&reply(5, xid, [10, 0, 0, 255], &mask), at(0.0));
        c.receive(
            &reply(5, xid, [10, 0, 0, 7], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        );
        assert_eq!(c.state(), State::Requesting);
        assert_eq!(c.stats.drop_unexpected, 10);
        // Not a reply at all; another client's.
        c.receive(b"hello", at(0.0));
        let mut other = reply(5, xid, [10, 0, 0, 7], &[]);
        other[28] ^= 1;
        c.receive(&other, at(0.0));
        assert_eq!((c.stats.drop_malformed, c.stats.drop_not_ours), (1, 1));
    }

    #[test]
    fn a_router_outside_the_leased_network_is_taken_one_on_the_networks_edges_is_not() {
        let mut c = Client::new(MAC, None, 5, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        );
        let opts = [
            54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 1, 0, 1, 4, 255, 255, 255, 0, 3, 4, 10, 9, 9, 9,
        ];
        c.receive(&reply(5, xid, [10, 0, 0, 77], &opts), at(0.0));
        pass_the_check(&mut c, 0.0);
        assert_eq!(c.lease().unwrap().router, Some(Ipv4Addr::new(10, 9, 9, 9)));
        // The leased network's broadcast or own address, or our own, is no router.
        for bad in [
            [10, 0, 0, 255],
            [10, 0, 0, 0],
            [10, 0, 0, 77],
            [224, 0, 0, 1],
        ] {
            let mut c = Client::new(MAC, None, 5, at(0.0));
            let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
            c.receive(
                &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
                at(0.0),
            );
            let mut opts = opts;
            opts[20..24].copy_from_slice(&bad);
            c.receive(&reply(5, xid, [10, 0, 0, 77], &opts), at(0.0));
            pass_the_check(&mut c, 0.0);
            assert_eq!(c.lease().unwrap().router, None, "{bad:?}");
        }
    }

    /// Another host answers for the offered address while it is checked: the client
    /// declines it (a broadcast DECLINE naming the address and the server, RFC 2131 table
    /// 5), never takes it, and starts again after 10 s with a new exchange.
    #[test]
    fn an_address_another_host_answers_for_is_declined_and_never_used() {
        let mut c = Client::new(MAC, None, 5, at(0.0));
        let xid = parse_request(&c.poll(at(0.0)).unwrap()).1;
        c.receive(
            &reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]),
            at(0.0),
        );
        let opts = [54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 1, 0];
        c.receive(&reply(5, xid, [10, 0, 0, 77], &opts), at(0.0));
        assert_eq!(c.state(), State::Checking);
        assert!(c.poll(at(0.0)).is_none());
        assert_eq!(c.take_probe(), Some(Ipv4Addr::new(10, 0, 0, 77)));
        let d = c.conflict(at(0.2)).expect("a DECLINE");
        assert_eq!(d.to, Ipv4Addr::BROADCAST);
        let (kind, dxid, b) = parse_request(&d);
        assert_eq!((kind, dxid), (4, xid));
        assert!(b.windows(6).any(|w| w == [50, 4, 10, 0, 0, 77]));
        assert!(b.windows(6).any(|w| w == [54, 4, 10, 0, 0, 2]));
        assert_eq!(&b[12..16], &[0, 0, 0, 0], "ciaddr 0");
        assert_eq!((c.state(), c.lease()), (State::Init, None));
        assert!(c.take_event().is_none(), "the address was never taken");
        assert_eq!(c.stats.declines, 1);
        assert!(c.conflict(at(0.3)).is_none(), "only while checking");
        // Nothing until 10 s later; then a new DISCOVER.
        assert_eq!(c.poll_at(), Some(at(10.2)));
        assert!(c.poll(at(10.0)).is_none());
        let again = c.poll(at(10.2)).expect("a DISCOVER");
        let (kind, nxid, _) = parse_request(&again);
        assert_eq!(kind, 1);
        assert_ne!(nxid, xid);
    }

    /// RFC 2131 3.1 (3): the REQUESTs for an offer, retransmissions too, carry the
    /// DISCOVER's `secs` (found by a review: they counted on).
    #[test]
    fn requests_answering_an_offer_carry_the_discovers_secs() {
        let secs = |t: &Transmit| u16::from_be_bytes([t.payload[8], t.payload[9]]);
        let mut c = Client::new(MAC, None, 1, at(0.0));
        let _ = c.poll(at(0.0)).unwrap();
        // The second DISCOVER, 4 s on, counts 4 s.
        let t = c.poll_at().unwrap();
        let d = c.poll(t).unwrap();
        let xid = u32::from_be_bytes([d.payload[4], d.payload[5], d.payload[6], d.payload[7]]);
        assert!(secs(&d) >= 3, "{}", secs(&d));
        let offer = reply(2, xid, [10, 0, 0, 77], &[54, 4, 10, 0, 0, 2]);
        let later = t + Duration::from_millis(2500);
        let r = c.receive(&offer, later).unwrap();
        let mut seen = vec![secs(&r)];
        for _ in 1..REQUEST_TRIES {
            let t = c.poll_at().unwrap();
            seen.push(secs(&c.poll(t).unwrap()));
        }
        assert_eq!(seen, vec![secs(&d); REQUEST_TRIES as usize]);
    }
}

/// An independent review (rv-dhcp): address conflict detection against RFC 5227.
#[cfg(test)]
mod rv_dhcp_tests {
    use super::super::wire::tests::reply;
    use super::*;

    const MAC: MacAddr = MacAddr([0x00, 0x34, 0x45, 0x67, 0x89, 0xab]);

    /// RFC 5227 2.1.1: "if the host experiences MAX_CONFLICTS [10] or more address
    /// conflicts on a given interface, then the host MUST limit the rate at which it
    /// probes for new addresses to no more than one new address per RATE_LIMIT_INTERVAL
    /// [60 s]". A link where every offered address is claimed (a host answering every
    /// ARP, a server whose pool is all in use) had the client DISCOVER, probe and DECLINE
    /// every 10 s for ever, emptying the server's pool with declines.
    #[test]
    fn after_ten_conflicts_a_new_address_is_tried_at_most_once_a_minute() {
        let mut c = Client::new(MAC, None, 7, Instant::ZERO);
        let mut now = Instant::ZERO;
        for n in 1..=12u8 {
            let d = c.poll(now).expect("a DISCOVER");
            let xid = u32::from_be_bytes([d.payload[4], d.payload[5], d.payload[6], d.payload[7]]);
            let addr = [10, 0, 0, 100 + n];
            c.receive(&reply(2, xid, addr, &[54, 4, 10, 0, 0, 2]), now)
                .expect("a REQUEST");
            let ack = [54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 14, 16];
            assert!(c.receive(&reply(5, xid, addr, &ack), now).is_none());
            assert!(c.poll(now).is_none());
            assert!(c.take_probe().is_some());
            assert!(c.conflict(now).is_some(), "a DECLINE");
            let wait = c.poll_at().unwrap().saturating_duration_since(now);
            let least = if n >= 10 { 60 } else { 10 };
            assert!(
                wait >= Duration::from_secs(least),
                "conflict {n}: the next DISCOVER {wait:?} later"
            );
            now = c.poll_at().unwrap();
        }
    }
}

/// An independent review (rv-dhcp, second pass): the state machine against RFC 2131 4.4.
#[cfg(test)]
mod rv_dhcp_state_tests {
    use super::super::wire::tests::reply;
    use super::tests::{bind_with, xid_of};
    use super::*;

    /// A client bound at t = 0 to 10.0.0.77/24 for `lease` seconds (T1, T2 by default).
    fn bound(lease: u32) -> Client {
        let l = lease.to_be_bytes();
        bind_with(1, &[51, 4, l[0], l[1], l[2], l[3], 1, 4, 255, 255, 255, 0]).0
    }

    /// RFC 2131 4.4.5: in RENEWING "the client records the local time at which the
    /// DHCPREQUEST message is sent", and the new lease runs from "the time at which the
    /// client sent the DHCPREQUEST message". A renewal's REQUESTs go minutes to hours
    /// apart (half the time left to T2, at least 60 s); the lease ran from the first, at
    /// T1. A server that was away at T1 and answers a later REQUEST with a shorter lease
    /// (an ISC failover server granting its MCLT, an administrator's new lease time) had
    /// its fresh lease counted as already over: the address was dropped at once and the
    /// client started again from DISCOVER. dhclient and dhcpcd count from the ACK,
    /// systemd-networkd from the last REQUEST sent.
    #[test]
    fn a_renewal_acked_late_runs_from_the_request_answered_not_from_t1() {
        let mut c = bound(10_000);
        let t1 = c.poll_at().unwrap();
        let xid = xid_of(&c.poll(t1).expect("a REQUEST at T1"));
        assert_eq!(c.state(), State::Renewing);
        // Two retransmissions nobody answers (T1 + 1875 s, then + 937.5 s).
        let mut last = t1;
        for _ in 0..2 {
            last = c.poll_at().unwrap();
            assert!(c.poll(last).is_some(), "a REQUEST again");
        }
        assert_eq!(c.state(), State::Renewing);
        // The server, back, answers the last one with a 1000 s lease.
        let ack = [54, 4, 10, 0, 0, 2, 51, 4, 0, 0, 3, 232];
        let now = last + Duration::from_millis(100);
        c.receive(&reply(5, xid, [10, 0, 0, 77], &ack), now);
        match c.take_event() {
            Some(Event::Bound(l)) => {
                assert_eq!(l.expires_at, Some(last + Duration::from_secs(1000)));
                super::tests::assert_fuzzed(
                    l.renew_at,
                    last + Duration::from_secs(500),
                    Duration::from_secs(500),
                );
            }
            other => panic!("the renewed lease was not taken: {other:?}"),
        }
        assert_eq!(c.state(), State::Bound);
        assert_eq!(c.stats.leases_lost, 0);
    }

    /// The same while rebinding: its REQUESTs too are 60 s or more apart.
    #[test]
    fn a_rebinding_acked_late_runs_from_the_request_answered() {
        let mut c = bound(100_000);
        // Through renewing to rebinding, nobody answering.
        while c.state() != State::Rebinding {
            let t = c.poll_at().unwrap();
            c.poll(t);
        }
        let xid = {
            let t = c.poll_at().unwrap();
            xid_of(&c.poll(t).expect("a REQUEST again"))
        };
        let last = c.poll_at().unwrap();
        assert!(c.poll(last).is_some());
        assert_eq!(c.state(), State::Rebinding);
        let ack = [54, 4, 10, 0, 0, 3, 51, 4, 0, 0, 3, 232];
        c.receive(&reply(5, xid, [10, 0, 0, 77], &ack), last);
        match c.take_event() {
            Some(Event::Bound(l)) => {
                assert_eq!(l.expires_at, Some(last + Duration::from_secs(1000)));
                assert_eq!(l.server, Ipv4Addr::new(10, 0, 0, 3));
            }
            other => panic!("the rebound lease was not taken: {other:?}"),
        }
    }
}

/// An independent review (rv-fuzzt): RFC 2131 4.4.5's fuzz of T1 and T2.
#[cfg(test)]
mod rv_fuzzt_tests {
    use super::super::wire::tests::reply;
    use super::tests::{bind_with as bind, xid_of};
    use super::*;

    /// The options of a lease of `len` seconds with T1 and T2 given if `Some`.
    fn opts(len: u32, t1: Option<u32>, t2: Option<u32>) -> Vec<u8> {
        let mut o = [&[51u8, 4][..], &len.to_be_bytes()].concat();
        for (code, t) in [(58u8, t1), (59, t2)] {
            if let Some(t) = t {
                o.extend([code, 4]);
                o.extend(t.to_be_bytes());
            }
        }
        o
    }

    /// RFC 2131 4.4.5: "Times T1 and T2 SHOULD be chosen with some random 'fuzz' around a
    /// fixed value, to avoid synchronization of client reacquisition." Hosts that booted
    /// together (a power cut) and were granted the same lease renewed at one instant,
    /// every time: T1 was exactly half the lease and T2 seven eighths, whatever the seed.
    #[test]
    fn clients_with_different_seeds_renew_at_different_times() {
        let o = opts(3600, None, None);
        let (_, a) = bind(1, &o);
        let (_, b) = bind(2, &o);
        assert_ne!(a.renew_at, b.renew_at, "T1");
        assert_ne!(a.rebind_at, b.rebind_at, "T2");
        assert_eq!(
            a.expires_at, b.expires_at,
            "the lease's end is the server's"
        );
        // The same seed, the same times: the client stays deterministic.
        assert_eq!(bind(1, &o).1.renew_at, a.renew_at);
    }

    /// Over many seeds and leases (defaults, T1 and T2 given, T1 = T2, T2 = the lease),
    /// T1 and T2 only ever come earlier than fixed, by less than min(T1/16, 60 s) and
    /// min((T2 - T1)/16, 60 s) (a lease is never renewed later than its server asked),
    /// and stay in order: 0 < T1' <= T1, T1' < T2' <= T2 (T1' = T2' when T1 = T2).
    #[test]
    fn fuzzed_t1_and_t2_stay_in_their_windows_and_in_order() {
        let s = Duration::from_secs;
        let leases = [
            (2, None, None),
            (1000, None, None),
            (3600, None, None),
            (86_400, None, None),
            (10_000_000, None, None),
            (1000, Some(100), Some(100)),
            (1000, Some(100), Some(1000)),
            (1000, Some(999), Some(1000)),
            (1000, Some(0), Some(0)),
        ];
        for (len, t1, t2) in leases {
            let o = opts(len, t1, t2);
            let given = |t: Option<u32>| t.filter(|&t| t > 0).map(|t| s(t.into()));
            let fixed1 = given(t1).unwrap_or(s(len.into()) / 2);
            let fixed2 = given(t2).unwrap_or(s(len.into()) * 7 / 8);
            let mut early = Vec::new();
            for seed in 0..300 {
                let (c, l) = bind(seed, &o);
                let t0 = Instant::ZERO;
                let (r1, r2) = (l.renew_at.unwrap(), l.rebind_at.unwrap());
                let what = format!("lease {len} s {t1:?}/{t2:?}, seed {seed}: {l:?}");
                super::tests::assert_fuzzed(Some(r1), t0 + fixed1, fixed1);
                assert!(r1 > t0, "{what}");
                assert_eq!(c.poll_at(), Some(r1));
                if fixed1 == fixed2 {
                    assert_eq!(r1, r2, "{what}");
                } else {
                    super::tests::assert_fuzzed(Some(r2), t0 + fixed2, fixed2 - fixed1);
                    assert!(r1 < r2, "{what}");
                }
                assert!(l.expires_at == Some(t0 + s(len.into())) && r2 <= t0 + s(len.into()));
                early.push(t0 + fixed1 - r1);
            }
            // Spread over the window, not stuck at one end.
            let most = (fixed1 / 16).min(s(60));
            assert!(early.iter().any(|&e| e < most / 4), "{len}");
            assert!(early.iter().any(|&e| e > most * 3 / 4), "{len}");
        }
    }

    /// A lease of 1 s (T1 0.5 s) still renews after a delay, never at the instant of its
    /// ACK: the fuzz takes T1 to no less than 15/16 of itself, so the renewal loop at the
    /// speed of the link that a T1 of 0 made (`a_t1_of_zero_does_not_renew_at_once`)
    /// cannot come back through it.
    #[test]
    fn a_one_second_lease_renews_after_a_positive_delay() {
        let (mut c, l) = bind(7, &opts(1000, None, None));
        let mut t = l.renew_at.unwrap();
        for round in 0..20 {
            let xid = xid_of(&c.poll(t).expect("a renewing REQUEST"));
            // A 1 s lease, T1 = 0 (the default then) on odd rounds.
            let t1 = (round % 2 == 1).then_some(0);
            let ack = [&[54, 4, 10, 0, 0, 2][..], &opts(1, t1, None)].concat();
            c.receive(&reply(5, xid, [10, 0, 0, 77], &ack), t);
            assert!(matches!(c.take_event(), Some(Event::Bound(_))), "{round}");
            assert_eq!(c.state(), State::Bound);
            assert!(c.poll(t).is_none(), "renewed again at once ({round})");
            let next = c.poll_at().unwrap();
            super::tests::assert_fuzzed(
                Some(next),
                t + Duration::from_millis(500),
                Duration::from_millis(500),
            );
            assert!(next > t);
            t = next;
        }
        assert_eq!(c.stats.leases_lost, 0);
    }
}
