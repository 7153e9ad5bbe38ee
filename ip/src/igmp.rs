//! IGMP for a host: version 2 (RFC 2236), with version 1 routers on the link taken into
//! account (RFC 2236 4, 5) and version 3 queries answered as a version 2 host answers them
//! (RFC 2236 2.5: what follows the first eight octets is ignored; RFC 3376 4.1.1 for the
//! longer query's maximum response code).
//!
//! Two parts, both sans-IO:
//! - [`Message`]: the wire format (etherparse has none for IGMP), parsing that verifies the
//!   checksum and emitting that fills it;
//! - [`Groups`]: an interface's memberships and the host state machine of RFC 2236 6
//!   (Non-Member, Delaying Member, Idle Member), driven by joins, leaves, the messages heard
//!   and `now`. It decides what to send; the IP layer sends it.

use crate::checksum;
use netif::{Duration, Instant};
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 8;

/// Message types (RFC 2236 2.1, RFC 3376 4).
pub mod kind {
    pub const QUERY: u8 = 0x11;
    pub const V1_REPORT: u8 = 0x12;
    pub const V2_REPORT: u8 = 0x16;
    pub const LEAVE: u8 = 0x17;
    pub const V3_REPORT: u8 = 0x22;
}

/// The all-systems group: every host is a member on every interface, never reported
/// (RFC 2236 6).
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// Where leaves go (RFC 2236 3).
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// The Router Alert option (RFC 2113) every IGMPv2 message carries (RFC 2236 2).
pub const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

/// Unsolicited Report Interval (RFC 2236 8.10): the repeat of a join's report falls at
/// random within it.
pub const UNSOLICITED_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// The least time between an unsolicited report and its repeat.
const MIN_REPEAT: Duration = Duration::from_millis(20);
/// Version 1 Router Present Timeout (RFC 2236 8.11).
pub const V1_ROUTER_PRESENT_TIMEOUT: Duration = Duration::from_secs(400);
/// The response time a version 1 query implies (its code field is zero; RFC 2236 4).
pub const V1_MAX_RESPONSE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IgmpError {
    #[error("IGMP message shorter than 8 bytes")]
    Truncated,
    #[error("IGMP checksum mismatch")]
    BadChecksum,
    /// 9 to 11 octets: neither a version 1/2 query nor a version 3 one (RFC 3376 7.1: to
    /// be ignored).
    #[error("IGMP query of no version's length")]
    BadQueryLength,
}

/// A parsed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// A membership query; `group` 0.0.0.0 asks about every group (general query).
    Query {
        /// 1, 2 or 3, from its length and code (RFC 3376 7.1).
        version: u8,
        max_response: Duration,
        group: Ipv4Addr,
    },
    /// A version 1 or 2 membership report.
    Report {
        version: u8,
        group: Ipv4Addr,
    },
    Leave {
        group: Ipv4Addr,
    },
    /// Version 3 reports: a version 2 host has nothing to do with them.
    V3Report,
    Other {
        kind: u8,
    },
}

impl Message {
    pub fn parse(msg: &[u8]) -> Result<Message, IgmpError> {
        if msg.len() < HEADER_LEN {
            return Err(IgmpError::Truncated);
        }
        if checksum::checksum(msg) != 0 {
            return Err(IgmpError::BadChecksum);
        }
        let code = msg[1];
        let group = Ipv4Addr::new(msg[4], msg[5], msg[6], msg[7]);
        Ok(match msg[0] {
            kind::QUERY => {
                let (version, tenths) = match msg.len() {
                    HEADER_LEN if code == 0 => (1, 0),
                    HEADER_LEN => (2, u32::from(code)),
                    n if n >= 12 => (3, v3_max_response(code)),
                    _ => return Err(IgmpError::BadQueryLength),
                };
                let max_response = if version == 1 {
                    V1_MAX_RESPONSE
                } else {
                    Duration::from_millis(u64::from(tenths) * 100)
                };
                // A version 1 query has no group: its field "is zeroed when sent, ignored
                // when received" (RFC 1112 appendix I), so it always asks about every group.
                let group = if version == 1 {
                    Ipv4Addr::UNSPECIFIED
                } else {
                    group
                };
                Message::Query {
                    version,
                    max_response,
                    group,
                }
            }
            kind::V1_REPORT => Message::Report { version: 1, group },
            kind::V2_REPORT => Message::Report { version: 2, group },
            kind::LEAVE => Message::Leave { group },
            kind::V3_REPORT => Message::V3Report,
            kind => Message::Other { kind },
        })
    }

    /// Write a report or a leave (8 bytes, checksum filled) into `buf[..8]`. A query is
    /// written as version 2 writes it (a host never sends one; tests do).
    pub fn emit(&self, buf: &mut [u8]) {
        let (t, code, group) = match *self {
            Message::Report { version: 1, group } => (kind::V1_REPORT, 0, group),
            Message::Report { group, .. } => (kind::V2_REPORT, 0, group),
            Message::Leave { group } => (kind::LEAVE, 0, group),
            Message::Query {
                version,
                max_response,
                group,
            } => {
                let tenths = (max_response.as_millis() / 100).min(255) as u8;
                (kind::QUERY, if version == 1 { 0 } else { tenths }, group)
            }
            Message::V3Report => (kind::V3_REPORT, 0, Ipv4Addr::UNSPECIFIED),
            Message::Other { kind } => (kind, 0, Ipv4Addr::UNSPECIFIED),
        };
        let b = &mut buf[..HEADER_LEN];
        b[0] = t;
        b[1] = code;
        b[2] = 0;
        b[3] = 0;
        b[4..8].copy_from_slice(&group.octets());
        let c = checksum::checksum(b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }

    /// Where this host sends it: a report to its group, a leave to all routers.
    pub fn destination(&self) -> Ipv4Addr {
        match *self {
            Message::Report { group, .. } | Message::Query { group, .. } => group,
            Message::Leave { .. } => ALL_ROUTERS,
            _ => ALL_SYSTEMS,
        }
    }
}

/// A version 3 query's Max Resp Code in tenths of a second (RFC 3376 4.1.1): the value
/// itself below 128, else a floating-point form, mantissa and exponent.
fn v3_max_response(code: u8) -> u32 {
    if code < 128 {
        u32::from(code)
    } else {
        let mant = u32::from(code & 0x0f);
        let exp = u32::from((code >> 4) & 0x07);
        (mant | 0x10) << (exp + 3)
    }
}

/// A small generator for the random report delays (splitmix64), seeded by the caller: the
/// same seed, the same delays, so tests are repeatable.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay chosen uniformly in `[0, max]`, in milliseconds.
    fn delay(&mut self, max: Duration) -> Duration {
        let ms = max.as_millis() as u64;
        Duration::from_millis(self.next_u64() % (ms + 1))
    }

    /// When an unsolicited report is repeated: uniformly in `[MIN_REPEAT, max]`. The
    /// repeat guards against the loss of the first (RFC 2236 3), which one sent right
    /// behind it would share (Linux waits at least two ticks).
    fn repeat_delay(&mut self, max: Duration) -> Duration {
        MIN_REPEAT + self.delay(max.saturating_sub(MIN_REPEAT))
    }
}

/// One group an interface has joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub group: Ipv4Addr,
    /// Sockets that joined it on this interface.
    pub users: u32,
    /// When a report is due (the Delaying Member state); `None` when idle.
    pub report_at: Option<Instant>,
    /// This host sent the last report heard for the group: it says so when it leaves.
    pub last_reporter: bool,
}

/// Why a join or leave failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("{0} is not a multicast address")]
    NotMulticast(Ipv4Addr),
    /// No interface by that address, or no route to pick one by.
    #[error("no such interface")]
    NoInterface,
    #[error("too many multicast groups on the interface")]
    TooMany,
    #[error("not a member of {0}")]
    NotMember(Ipv4Addr),
}

/// IGMP counters (every interface together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IgmpStats {
    pub rx_messages: u64,
    pub rx_queries: u64,
    pub rx_reports: u64,
    pub tx_reports: u64,
    pub tx_leaves: u64,
    /// Reports held back because another host reported the group first (RFC 2236 3).
    pub reports_suppressed: u64,
    pub drop_truncated: u64,
    pub drop_bad_checksum: u64,
    /// Queries of 9 to 11 octets (RFC 3376 7.1).
    pub drop_bad_query: u64,
}

/// An interface's memberships and its IGMP host state (RFC 2236 6).
#[derive(Clone, Debug)]
pub struct Groups {
    list: Vec<Membership>,
    max: usize,
    /// Until then a version 1 router is on the link: reports are version 1 and leaves are
    /// not sent (RFC 2236 4).
    v1_router_until: Option<Instant>,
}

impl Groups {
    pub fn new(max: usize) -> Groups {
        Groups {
            list: Vec::new(),
            max,
            v1_router_until: None,
        }
    }

    /// Does the interface receive datagrams sent to `group`?
    pub fn is_member(&self, group: Ipv4Addr) -> bool {
        group == ALL_SYSTEMS || self.list.iter().any(|m| m.group == group)
    }

    /// The groups joined, with their sockets and state (the all-systems group is implied).
    pub fn memberships(&self) -> &[Membership] {
        &self.list
    }

    fn version(&self, now: Instant) -> u8 {
        if self.v1_router_until.is_some_and(|t| now < t) {
            1
        } else {
            2
        }
    }

    /// One more socket joins `group`. The first makes the interface a member: a report
    /// goes out at once (returned) and its repeat is scheduled within the Unsolicited
    /// Report Interval (RFC 2236 3, "Robustness Variable" 2).
    pub fn join(
        &mut self,
        group: Ipv4Addr,
        now: Instant,
        rng: &mut Rng,
    ) -> Result<Option<Message>, GroupError> {
        if !group.is_multicast() {
            return Err(GroupError::NotMulticast(group));
        }
        if let Some(m) = self.list.iter_mut().find(|m| m.group == group) {
            m.users = m.users.saturating_add(1);
            return Ok(None);
        }
        if self.list.len() >= self.max {
            return Err(GroupError::TooMany);
        }
        let reported = group != ALL_SYSTEMS;
        self.list.push(Membership {
            group,
            users: 1,
            report_at: reported.then(|| now + rng.repeat_delay(UNSOLICITED_REPORT_INTERVAL)),
            last_reporter: reported,
        });
        Ok(reported.then_some(Message::Report {
            version: self.version(now),
            group,
        }))
    }

    /// One socket leaves `group`. The last makes the interface leave it: if this host sent
    /// the last report and no version 1 router is about, a leave goes to all routers
    /// (returned; RFC 2236 3).
    pub fn leave(&mut self, group: Ipv4Addr, now: Instant) -> Result<Option<Message>, GroupError> {
        let i = self
            .list
            .iter()
            .position(|m| m.group == group)
            .ok_or(GroupError::NotMember(group))?;
        let m = &mut self.list[i];
        m.users -= 1;
        if m.users > 0 {
            return Ok(None);
        }
        let m = self.list.swap_remove(i);
        let say = m.last_reporter && self.version(now) == 2 && group != ALL_SYSTEMS;
        Ok(say.then_some(Message::Leave { group }))
    }

    /// A query arrived: every group it asks about gets a report due at a random moment
    /// within its maximum response time; one already due is drawn again only if the query's
    /// time ends before it (RFC 2236 3).
    /// A version 1 query marks a version 1 router present (RFC 2236 4).
    pub fn on_query(
        &mut self,
        version: u8,
        max_response: Duration,
        group: Ipv4Addr,
        now: Instant,
        rng: &mut Rng,
    ) {
        if version == 1 {
            self.v1_router_until = Some(now + V1_ROUTER_PRESENT_TIMEOUT);
        }
        for m in &mut self.list {
            if m.group == ALL_SYSTEMS || (!group.is_unspecified() && m.group != group) {
                continue;
            }
            if m.report_at.is_none_or(|due| now + max_response < due) {
                m.report_at = Some(now + rng.delay(max_response));
            }
        }
    }

    /// Another host reported `group`: a report of ours that is due is not sent, and that
    /// host, not this one, is the last reporter (RFC 2236 3). True when one was held back.
    pub fn on_report(&mut self, group: Ipv4Addr) -> bool {
        let Some(m) = self.list.iter_mut().find(|m| m.group == group) else {
            return false;
        };
        m.last_reporter = false;
        m.report_at.take().is_some()
    }

    /// The interface came up or got a new address: report every group again, as after a
    /// join (what is due is returned now; the repeats are scheduled).
    pub fn rejoin(&mut self, now: Instant, rng: &mut Rng) -> Vec<Message> {
        let version = self.version(now);
        let mut out = Vec::new();
        for m in &mut self.list {
            if m.group == ALL_SYSTEMS {
                continue;
            }
            m.report_at = Some(now + rng.repeat_delay(UNSOLICITED_REPORT_INTERVAL));
            m.last_reporter = true;
            out.push(Message::Report {
                version,
                group: m.group,
            });
        }
        out
    }

    /// The next moment a report is due.
    pub fn poll_at(&self) -> Option<Instant> {
        self.list.iter().filter_map(|m| m.report_at).min()
    }

    /// The reports due at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<Message> {
        let version = self.version(now);
        let mut out = Vec::new();
        for m in &mut self.list {
            if m.report_at.is_some_and(|t| t <= now) {
                m.report_at = None;
                m.last_reporter = true;
                out.push(Message::Report {
                    version,
                    group: m.group,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
    const H: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);

    fn bytes(m: Message) -> [u8; 8] {
        let mut b = [0u8; 8];
        m.emit(&mut b);
        b
    }

    #[test]
    fn reports_and_leaves_round_trip_with_their_checksum() {
        let r = Message::Report {
            version: 2,
            group: G,
        };
        let b = bytes(r);
        assert_eq!(b[0], 0x16);
        assert_eq!(checksum::checksum(&b), 0);
        assert_eq!(Message::parse(&b), Ok(r));
        let l = Message::Leave { group: G };
        assert_eq!(Message::parse(&bytes(l)), Ok(l));
        assert_eq!(l.destination(), ALL_ROUTERS);
        assert_eq!(r.destination(), G);
        let v1 = Message::Report {
            version: 1,
            group: G,
        };
        assert_eq!(bytes(v1)[0], 0x12);
        assert_eq!(Message::parse(&bytes(v1)), Ok(v1));
    }

    #[test]
    fn a_query_tells_its_version_by_length_and_code() {
        let mut b = bytes(Message::Query {
            version: 2,
            max_response: Duration::from_millis(2500),
            group: Ipv4Addr::UNSPECIFIED,
        });
        assert_eq!(b[1], 25);
        assert_eq!(
            Message::parse(&b),
            Ok(Message::Query {
                version: 2,
                max_response: Duration::from_millis(2500),
                group: Ipv4Addr::UNSPECIFIED
            })
        );
        // Code zero: version 1, ten seconds.
        b = bytes(Message::Query {
            version: 1,
            max_response: Duration::ZERO,
            group: Ipv4Addr::UNSPECIFIED,
        });
        assert!(matches!(
            Message::parse(&b),
            Ok(Message::Query { version: 1, max_response, .. }) if max_response == V1_MAX_RESPONSE
        ));
        // Twelve octets: version 3, its code in floating point (0x8a: mantissa 10,
        // exponent 0: (10 | 16) << 3 = 208 tenths).
        let mut v3 = [0x11, 0x8a, 0, 0, 239, 1, 2, 3, 0x02, 125, 0, 0];
        let c = checksum::checksum(&v3);
        v3[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            Message::parse(&v3),
            Ok(Message::Query {
                version: 3,
                max_response: Duration::from_millis(20_800),
                group: G
            })
        );
        // Ten octets: no version's query.
        let mut odd = [0x11, 100, 0, 0, 0, 0, 0, 0, 0, 0];
        let c = checksum::checksum(&odd);
        odd[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Message::parse(&odd), Err(IgmpError::BadQueryLength));
    }

    #[test]
    fn short_or_corrupt_messages_are_refused() {
        assert_eq!(Message::parse(&[0x11; 7]), Err(IgmpError::Truncated));
        let mut b = bytes(Message::Report {
            version: 2,
            group: G,
        });
        b[7] ^= 1;
        assert_eq!(Message::parse(&b), Err(IgmpError::BadChecksum));
    }

    /// The repeat of an unsolicited report never goes right behind it (it could be drawn
    /// at 0 ms: two reports back to back, lost together; noted by a review). Every seed
    /// puts it 20 ms to 10 s after, for a join and a rejoin alike.
    #[test]
    fn a_report_s_repeat_is_never_sent_right_behind_it() {
        let t0 = Instant::from_secs(100);
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for seed in 0..2000 {
            let mut rng = Rng::new(seed);
            let mut g = Groups::new(4);
            g.join(G, t0, &mut rng).unwrap();
            let after = g.poll_at().unwrap() - t0;
            let again = {
                g.poll(t0 + after);
                g.rejoin(t0 + after, &mut rng);
                g.poll_at().unwrap() - (t0 + after)
            };
            for d in [after, again] {
                assert!(d >= MIN_REPEAT && d <= UNSOLICITED_REPORT_INTERVAL, "{d:?}");
                (lo, hi) = (lo.min(d), hi.max(d));
            }
        }
        // Spread over the interval.
        assert!(lo < Duration::from_millis(100) && hi > Duration::from_secs(9));
    }

    #[test]
    fn a_first_join_reports_at_once_and_once_more_within_ten_seconds() {
        let mut g = Groups::new(4);
        let mut rng = Rng::new(7);
        let t0 = Instant::from_secs(100);
        assert_eq!(
            g.join(G, t0, &mut rng),
            Ok(Some(Message::Report {
                version: 2,
                group: G
            }))
        );
        // A second socket: nothing new on the wire.
        assert_eq!(g.join(G, t0, &mut rng), Ok(None));
        let due = g.poll_at().unwrap();
        assert!(due >= t0 && due <= t0 + UNSOLICITED_REPORT_INTERVAL);
        assert!(g.poll(due - Duration::from_millis(1)).is_empty() || due == t0);
        assert_eq!(
            g.poll(due),
            vec![Message::Report {
                version: 2,
                group: G
            }]
        );
        assert_eq!(g.poll_at(), None);
        assert!(g.is_member(G) && g.is_member(ALL_SYSTEMS) && !g.is_member(H));
    }

    #[test]
    fn the_last_socket_to_leave_sends_a_leave_if_we_reported_last() {
        let mut g = Groups::new(4);
        let mut rng = Rng::new(1);
        let t = Instant::from_secs(1);
        g.join(G, t, &mut rng).unwrap();
        g.join(G, t, &mut rng).unwrap();
        assert_eq!(g.leave(G, t), Ok(None));
        assert_eq!(g.leave(G, t), Ok(Some(Message::Leave { group: G })));
        assert!(!g.is_member(G));
        assert_eq!(g.leave(G, t), Err(GroupError::NotMember(G)));
        // Another host reported after us: it, not we, says the group is left.
        g.join(H, t, &mut rng).unwrap();
        assert!(g.on_report(H));
        assert_eq!(g.poll_at(), None, "our repeat is suppressed");
        assert_eq!(g.leave(H, t), Ok(None));
    }

    #[test]
    fn queries_schedule_reports_within_their_response_time_and_never_later() {
        let mut g = Groups::new(4);
        let mut rng = Rng::new(3);
        let t = Instant::from_secs(50);
        g.join(G, t, &mut rng).unwrap();
        g.join(H, t, &mut rng).unwrap();
        g.poll(t + UNSOLICITED_REPORT_INTERVAL);
        assert_eq!(g.poll_at(), None);
        // A group-specific query: only that group.
        let q = t + Duration::from_secs(20);
        g.on_query(2, Duration::from_secs(1), H, q, &mut rng);
        let due = g.poll_at().unwrap();
        assert!(due <= q + Duration::from_secs(1));
        assert_eq!(
            g.poll(due),
            vec![Message::Report {
                version: 2,
                group: H
            }]
        );
        // A general query: both, each within its 2 s.
        let q = q + Duration::from_secs(5);
        g.on_query(
            2,
            Duration::from_secs(2),
            Ipv4Addr::UNSPECIFIED,
            q,
            &mut rng,
        );
        let mut sent = g.poll(q + Duration::from_secs(2));
        sent.sort_by_key(|m| m.destination());
        assert_eq!(
            sent,
            vec![
                Message::Report {
                    version: 2,
                    group: G
                },
                Message::Report {
                    version: 2,
                    group: H
                }
            ]
        );
        // A query with a longer time does not put off a report already due sooner, nor
        // draw it again; one whose time ends first does.
        let q = q + Duration::from_secs(10);
        g.on_query(2, Duration::from_millis(100), G, q, &mut rng);
        let soon = g.poll_at().unwrap();
        for _ in 0..20 {
            g.on_query(2, Duration::from_secs(25), G, q, &mut rng);
            assert_eq!(g.poll_at(), Some(soon));
        }
        let due_of_h = |g: &Groups| {
            let m = g.memberships().iter().find(|m| m.group == H);
            m.and_then(|m| m.report_at).expect("a report due for H")
        };
        g.on_query(2, Duration::from_secs(20), H, q, &mut rng);
        let h_due = due_of_h(&g);
        g.on_query(2, Duration::from_secs(1), H, q, &mut rng);
        let h_now = due_of_h(&g);
        assert!(h_now <= q + Duration::from_secs(1) && h_now <= h_due);
    }

    #[test]
    fn a_version_1_router_makes_reports_version_1_and_silences_leaves_for_400_s() {
        let mut g = Groups::new(4);
        let mut rng = Rng::new(9);
        let t = Instant::from_secs(10);
        g.join(G, t, &mut rng).unwrap();
        g.on_query(1, V1_MAX_RESPONSE, Ipv4Addr::UNSPECIFIED, t, &mut rng);
        let due = g.poll_at().unwrap();
        assert!(due <= t + V1_MAX_RESPONSE);
        assert_eq!(
            g.poll(due),
            vec![Message::Report {
                version: 1,
                group: G
            }]
        );
        assert_eq!(g.leave(G, t + Duration::from_secs(399)), Ok(None));
        // After the timeout, version 2 again.
        let later = t + V1_ROUTER_PRESENT_TIMEOUT;
        assert_eq!(
            g.join(H, later, &mut rng),
            Ok(Some(Message::Report {
                version: 2,
                group: H
            }))
        );
        assert_eq!(g.leave(H, later), Ok(Some(Message::Leave { group: H })));
    }

    /// RFC 1112 appendix I: a version 1 query's group field "is zeroed when sent, ignored
    /// when received"; every version 1 query is a general one (Linux takes it so too). A
    /// version 1 querier that leaves junk there must still hear of every group.
    #[test]
    fn a_version_1_query_asks_about_every_group_whatever_its_group_field() {
        let mut q = [kind::QUERY, 0, 0, 0, 239, 1, 2, 3];
        let c = checksum::checksum(&q);
        q[2..4].copy_from_slice(&c.to_be_bytes());
        let Ok(Message::Query {
            version,
            max_response,
            group,
        }) = Message::parse(&q)
        else {
            panic!("a query");
        };
        assert_eq!(version, 1);
        let mut g = Groups::new(4);
        let mut rng = Rng::new(11);
        let t = Instant::from_secs(5);
        g.join(G, t, &mut rng).unwrap();
        g.join(H, t, &mut rng).unwrap();
        g.poll(t + UNSOLICITED_REPORT_INTERVAL);
        assert_eq!(g.poll_at(), None);
        let later = t + Duration::from_secs(30);
        g.on_query(version, max_response, group, later, &mut rng);
        let mut sent = g.poll(later + V1_MAX_RESPONSE);
        sent.sort_by_key(|m| m.destination());
        assert_eq!(
            sent,
            vec![
                Message::Report {
                    version: 1,
                    group: G
                },
                Message::Report {
                    version: 1,
                    group: H
                }
            ]
        );
    }

    #[test]
    fn all_systems_is_implied_never_reported_and_the_table_is_bounded() {
        let mut g = Groups::new(2);
        let mut rng = Rng::new(5);
        let t = Instant::ZERO;
        assert_eq!(g.join(ALL_SYSTEMS, t, &mut rng), Ok(None));
        g.on_query(
            2,
            Duration::from_secs(1),
            Ipv4Addr::UNSPECIFIED,
            t,
            &mut rng,
        );
        assert_eq!(g.poll_at(), None);
        assert_eq!(g.leave(ALL_SYSTEMS, t), Ok(None));
        assert!(g.is_member(ALL_SYSTEMS));
        assert_eq!(
            g.join(Ipv4Addr::new(10, 0, 0, 1), t, &mut rng),
            Err(GroupError::NotMulticast(Ipv4Addr::new(10, 0, 0, 1)))
        );
        g.join(G, t, &mut rng).unwrap();
        g.join(H, t, &mut rng).unwrap();
        assert_eq!(
            g.join(Ipv4Addr::new(239, 0, 0, 7), t, &mut rng),
            Err(GroupError::TooMany)
        );
        // A rejoin (the interface came up again) reports every group.
        let again = g.rejoin(t, &mut rng);
        assert_eq!(again.len(), 2);
    }
}
