//! Neighbour cache behaviour, on a virtual clock: time only moves when a test says so.

use super::*;

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

const A_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x0a]);
const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
const B_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x0b]);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const C_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x0c]);
const C_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
const D_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 13);
const NEW_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0xff]);

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn secs(n: u64) -> Instant {
    Instant::from_secs(n)
}

fn cache() -> NeighborCache<u32> {
    NeighborCache::new(CacheConfig::default())
}

fn cache_with(f: impl FnOnce(&mut CacheConfig)) -> NeighborCache<u32> {
    let mut c = CacheConfig::default();
    f(&mut c);
    NeighborCache::new(c)
}

/// `ip is-at mac`, addressed to us.
fn reply_from(ip: Ipv4Addr, mac: MacAddr) -> ArpRepr {
    ArpRepr {
        op: Operation::Reply,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: OUR_MAC,
        target_ip: OUR_IP,
    }
}

/// `who-has target tell ip`.
fn request_from(ip: Ipv4Addr, mac: MacAddr, target: Ipv4Addr) -> ArpRepr {
    ArpRepr::request(mac, ip, target)
}

fn process(c: &mut NeighborCache<u32>, repr: ArpRepr, now: Instant) -> Processed<u32> {
    c.process(&repr, OUR_IP, OUR_MAC, now)
}

/// Teach the cache `ip`/`mac` the way RFC 826 allows: a request from it for us.
fn learn(c: &mut NeighborCache<u32>, ip: Ipv4Addr, mac: MacAddr, now: Instant) {
    let out = process(c, request_from(ip, mac, OUR_IP), now);
    assert!(out.learned);
}

fn state_of(c: &NeighborCache<u32>, ip: Ipv4Addr, now: Instant) -> Option<EntryView> {
    c.entries(now).into_iter().find(|e| e.ip == ip)
}

mod resolution {
    use super::*;

    #[test]
    fn a_miss_queues_and_asks_for_one_request() {
        let mut c = cache();
        assert_eq!(
            c.resolve(A_IP, 1, ms(0)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(
            c.resolve(A_IP, 2, ms(10)),
            Resolve::Queued {
                send_request: false
            }
        );
        assert_eq!(
            c.resolve(A_IP, 3, ms(20)),
            Resolve::Queued {
                send_request: false
            }
        );
        assert_eq!(c.lookup(A_IP, ms(30)), None);
        assert_eq!(c.pending(), 3);
        assert_eq!(c.stats().requests_sent, 1);
        let view = state_of(&c, A_IP, ms(30)).unwrap();
        assert_eq!(view.state, EntryState::Incomplete);
        assert_eq!(view.mac, None);
        assert_eq!(view.pending, 3);
        assert_eq!(view.requests_sent, 1);
    }

    #[test]
    fn the_reply_releases_queued_packets_in_order() {
        let mut c = cache();
        for p in 1..=3 {
            c.resolve(A_IP, p, ms(p.into()));
        }
        let out = process(&mut c, reply_from(A_IP, A_MAC), ms(100));
        assert_eq!(out.released, vec![(A_MAC, 1), (A_MAC, 2), (A_MAC, 3)]);
        assert_eq!(out.reply, None);
        assert_eq!(out.ignored, None);
        assert!(out.learned);
        assert_eq!(c.pending(), 0);
        assert_eq!(c.stats().resolved, 1);
        assert_eq!(c.stats().replies_received, 1);
        assert_eq!(c.lookup(A_IP, ms(100)), Some(A_MAC));
        assert_eq!(c.resolve(A_IP, 4, ms(101)), Resolve::Ready(A_MAC, 4));
        // Nothing is left to retransmit.
        assert!(c.poll(secs(5)).requests.is_empty());
    }

    #[test]
    fn any_arp_from_the_pending_host_completes_it() {
        // RFC 826 merges before it looks at the target: A asking for someone else still
        // tells us A's address, because A is (pending) in the table.
        let mut c = cache();
        c.resolve(A_IP, 7, ms(0));
        let out = process(&mut c, request_from(A_IP, A_MAC, C_IP), ms(5));
        assert_eq!(out.released, vec![(A_MAC, 7)]);
        assert_eq!(out.reply, None);
        assert_eq!(c.lookup(A_IP, ms(5)), Some(A_MAC));
    }

    #[test]
    fn broadcast_and_multicast_need_no_resolution() {
        let mut c = cache();
        assert_eq!(
            c.resolve(Ipv4Addr::BROADCAST, 1, ms(0)),
            Resolve::Ready(MacAddr::BROADCAST, 1)
        );
        let mdns = Ipv4Addr::new(224, 0, 0, 251);
        let mac = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
        assert_eq!(c.resolve(mdns, 2, ms(0)), Resolve::Ready(mac, 2));
        // The 24th bit is not mapped.
        let high = Ipv4Addr::new(239, 129, 2, 3);
        assert_eq!(
            c.lookup(high, ms(0)),
            Some(MacAddr([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]))
        );
        assert!(c.is_empty());
    }

    #[test]
    fn the_unspecified_address_is_not_resolved() {
        let mut c = cache();
        assert_eq!(
            c.resolve(Ipv4Addr::UNSPECIFIED, 1, ms(0)),
            Resolve::Dropped(1, DropReason::InvalidAddress)
        );
        assert!(c.is_empty());
        assert_eq!(c.stats().pending_dropped.invalid_address, 1);
    }
}

mod retransmission {
    use super::*;

    #[test]
    fn retries_every_second_then_fails_returning_the_packets() {
        let mut c = cache();
        assert_eq!(
            c.resolve(A_IP, 1, ms(0)),
            Resolve::Queued { send_request: true }
        );
        c.resolve(A_IP, 2, ms(200));
        assert_eq!(c.poll_at(), Some(ms(1000)));
        assert!(c.poll(ms(999)).is_empty());

        let p = c.poll(ms(1000));
        assert_eq!(p.requests, vec![A_IP]);
        assert!(p.failures.is_empty());
        assert_eq!(c.poll_at(), Some(ms(2000)));

        assert!(c.poll(ms(1500)).is_empty());
        assert_eq!(c.poll(ms(2000)).requests, vec![A_IP]);
        assert_eq!(c.stats().requests_sent, 3);
        assert_eq!(c.poll_at(), Some(ms(3000)));

        // The third request has had its second: give up.
        assert!(c.poll(ms(2999)).is_empty());
        let p = c.poll(ms(3000));
        assert!(p.requests.is_empty());
        assert_eq!(p.failures, vec![(A_IP, vec![1, 2])]);
        assert_eq!(c.stats().failures, 1);
        assert_eq!(c.stats().requests_sent, 3);
        assert!(c.is_empty());
        assert_eq!(c.pending(), 0);
        assert_eq!(c.poll_at(), None);

        // A new packet starts a new resolution.
        assert_eq!(
            c.resolve(A_IP, 3, ms(3001)),
            Resolve::Queued { send_request: true }
        );
    }

    #[test]
    fn a_late_poll_sends_one_request_not_a_burst() {
        let mut c = cache();
        c.resolve(A_IP, 1, ms(0));
        assert_eq!(c.poll(ms(5500)).requests, vec![A_IP]);
        assert_eq!(c.poll_at(), Some(ms(6500)));
    }

    #[test]
    fn a_reply_after_retransmissions_still_releases() {
        let mut c = cache();
        c.resolve(A_IP, 1, ms(0));
        c.poll(ms(1000));
        c.poll(ms(2000));
        let out = process(&mut c, reply_from(A_IP, A_MAC), ms(2500));
        assert_eq!(out.released, vec![(A_MAC, 1)]);
        assert!(c.poll(ms(3000)).is_empty());
        assert_eq!(c.stats().failures, 0);
    }

    #[test]
    fn max_retries_is_configurable() {
        let mut c = cache_with(|c| {
            c.max_retries = 1;
            c.retransmit_interval = Duration::from_millis(250);
        });
        c.resolve(A_IP, 1, ms(0));
        assert_eq!(c.poll(ms(250)).failures, vec![(A_IP, vec![1])]);
    }

    #[test]
    fn zero_max_retries_still_sends_one_request() {
        let mut c = cache_with(|c| c.max_retries = 0);
        assert_eq!(
            c.resolve(A_IP, 1, ms(0)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(c.poll(ms(1000)).failures, vec![(A_IP, vec![1])]);
    }
}

mod rate_limit {
    use super::*;

    fn limited() -> NeighborCache<u32> {
        cache_with(|c| {
            c.request_rate = 2;
            c.request_burst = 2;
        })
    }

    #[test]
    fn first_requests_beyond_the_burst_wait_for_a_token() {
        let mut c = limited();
        assert_eq!(
            c.resolve(A_IP, 1, ms(0)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(
            c.resolve(B_IP, 2, ms(0)),
            Resolve::Queued { send_request: true }
        );
        // Out of tokens: the entry is made and the packet queued, but no request yet.
        assert_eq!(
            c.resolve(C_IP, 3, ms(0)),
            Resolve::Queued {
                send_request: false
            }
        );
        assert_eq!(c.stats().rate_limited, 1);
        assert_eq!(c.stats().requests_sent, 2);
        // 2 per second: the next token is due in half a second.
        assert_eq!(c.poll_at(), Some(ms(500)));
        assert!(c.poll(ms(499)).is_empty());
        assert_eq!(c.poll(ms(500)).requests, vec![C_IP]);
        assert_eq!(state_of(&c, C_IP, ms(500)).unwrap().requests_sent, 1);
    }

    #[test]
    fn refused_retransmissions_are_retried_later() {
        let mut c = limited();
        c.resolve(A_IP, 1, ms(0));
        c.resolve(B_IP, 2, ms(0));
        // In the second since, the bucket refilled to its burst of 2: both retransmit.
        assert_eq!(c.poll(ms(1000)).requests, vec![A_IP, B_IP]);
        // By 1.999 s it holds 1.998 tokens; a third resolution takes one, and at 2 s exactly
        // one token is left for the two retransmissions due.
        assert_eq!(
            c.resolve(C_IP, 3, ms(1999)),
            Resolve::Queued { send_request: true }
        );
        let p = c.poll(ms(2000));
        assert_eq!(p.requests, vec![A_IP]);
        assert_eq!(c.stats().rate_limited, 1);
        // B's request is retried when the next token is due (half a second at 2/s), and the
        // refused one is not counted as sent.
        assert_eq!(state_of(&c, B_IP, ms(2000)).unwrap().requests_sent, 2);
        assert_eq!(c.poll_at(), Some(ms(2500)));
        assert!(c.poll(ms(2499)).is_empty());
        assert_eq!(c.poll(ms(2500)).requests, vec![B_IP]);
        assert_eq!(state_of(&c, B_IP, ms(2500)).unwrap().requests_sent, 3);
        // B's failure is still three requests and one interval later.
        let p = c.poll(ms(3499));
        assert_eq!(p.failures, vec![(A_IP, vec![1])]); // A's third request went at 2 s
        assert_eq!(p.requests, vec![C_IP]); // C's first retransmission, due at 2.999 s
        assert_eq!(c.poll(ms(3500)).failures, vec![(B_IP, vec![2])]);
    }

    #[test]
    fn a_flood_of_misses_sends_at_most_the_rate() {
        let mut c = cache_with(|c| c.max_entries = 1000);
        let mut sent = 0;
        for i in 0..100u32 {
            let ip = Ipv4Addr::from(0x0a01_0000 + i);
            if c.resolve(ip, i, ms(0)) == (Resolve::Queued { send_request: true }) {
                sent += 1;
            }
        }
        assert_eq!(sent, 10); // the default burst
        assert_eq!(c.stats().rate_limited, 90);
        // Over the next second, 10 more at most.
        let mut polled = 0;
        let mut now = ms(0);
        while let Some(at) = c.poll_at() {
            if at > ms(999) {
                break;
            }
            now = now.max(at);
            polled += c.poll(now).requests.len();
        }
        assert!(polled <= 10, "{polled}");
    }

    #[test]
    fn a_zero_rate_disables_the_limit() {
        let mut c = cache_with(|c| c.request_rate = 0);
        for i in 0..50u32 {
            let ip = Ipv4Addr::from(0x0a01_0000 + i);
            assert_eq!(
                c.resolve(ip, i, ms(0)),
                Resolve::Queued { send_request: true }
            );
        }
        assert_eq!(c.stats().rate_limited, 0);
    }
}

mod expiry {
    use super::*;

    /// An entry packets were sent by is not dropped at its expiry (which would hold the
    /// next packets until a broadcast request is answered, and drop them past the queue's
    /// bound at a high rate): packets go on to its MAC while requests are unicast to that
    /// MAC (RFC 1122 2.3.2.1, Linux's PROBE), and an answer makes it reachable again.
    #[test]
    fn an_entry_in_use_is_probed_at_its_expiry_and_stays_in_use() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(10));
        assert_eq!(c.resolve(A_IP, 1, secs(30)), Resolve::Ready(A_MAC, 1));
        let p = c.poll(secs(70));
        assert!(p.expired.is_empty() && p.requests.is_empty(), "{p:?}");
        assert_eq!(p.probes, vec![(A_IP, A_MAC)]);
        assert_eq!(
            state_of(&c, A_IP, secs(70)).unwrap().state,
            EntryState::Probing
        );
        // Still in use while it is asked.
        assert_eq!(c.resolve(A_IP, 2, ms(70_500)), Resolve::Ready(A_MAC, 2));
        assert_eq!(c.poll_at(), Some(secs(71)));
        // The answer: reachable for another 60 s, no more probes.
        let out = process(&mut c, reply_from(A_IP, A_MAC), ms(70_400));
        assert!(out.released.is_empty());
        assert_eq!(
            state_of(&c, A_IP, secs(71)).unwrap().state,
            EntryState::Reachable
        );
        assert!(c.poll(secs(71)).is_empty());
        assert_eq!(c.poll_at(), Some(ms(130_400)));
        assert_eq!((c.stats().probes_sent, c.stats().expired), (1, 0));
    }

    /// Negative advice (a transport's retransmissions unanswered, RFC 1122 3.3.1.4): a
    /// reachable entry is probed now, unicast to its MAC, long before its expiry; packets
    /// still go to that MAC meanwhile. Unanswered, it goes, and the next packet resolves
    /// the address by broadcast: the neighbour's new MAC (a failover) is found in about
    /// `max_retries` seconds instead of at the end of `reachable_time`.
    #[test]
    fn a_suspected_entry_is_probed_at_once_and_removed_if_silent() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.suspect(A_IP, secs(5)), Some(A_MAC), "asked at once");
        assert_eq!(c.suspect(A_IP, secs(5)), None, "already being asked");
        assert_eq!(c.poll_at(), Some(secs(6)));
        assert_eq!(c.resolve(A_IP, 1, secs(5)), Resolve::Ready(A_MAC, 1));
        for t in [6, 7] {
            assert_eq!(c.poll(secs(t)).probes, vec![(A_IP, A_MAC)], "at {t} s");
        }
        assert_eq!(c.poll(secs(8)).expired, vec![A_IP]);
        assert_eq!(c.stats().suspected, 1);
        assert_eq!(
            c.resolve(A_IP, 2, secs(8)),
            Resolve::Queued { send_request: true }
        );
        let out = process(&mut c, reply_from(A_IP, NEW_MAC), secs(8));
        assert_eq!(out.released, vec![(NEW_MAC, 2)]);
    }

    /// An answer to the probe keeps the entry; static entries, unresolved addresses and
    /// unknown ones are not suspected.
    #[test]
    fn a_suspected_entry_that_answers_stays_and_others_are_left_alone() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.suspect(A_IP, secs(1)), Some(A_MAC));
        process(&mut c, reply_from(A_IP, A_MAC), secs(1));
        assert_eq!(
            state_of(&c, A_IP, secs(2)).unwrap().state,
            EntryState::Reachable
        );
        c.insert_static(B_IP, B_MAC).unwrap();
        assert_eq!(c.suspect(B_IP, secs(2)), None);
        assert!(matches!(
            c.resolve(C_IP, 1, secs(2)),
            Resolve::Queued { .. }
        ));
        assert_eq!(c.suspect(C_IP, secs(2)), None);
        assert_eq!(c.suspect(D_IP, secs(2)), None);
        assert_eq!(c.stats().suspected, 1);
    }

    #[test]
    fn an_entry_in_use_that_does_not_answer_its_probes_is_removed() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.resolve(A_IP, 1, secs(1)), Resolve::Ready(A_MAC, 1));
        // Expired before any poll: the next packet still goes, and the probe is due now.
        assert_eq!(c.resolve(A_IP, 2, secs(60)), Resolve::Ready(A_MAC, 2));
        assert_eq!(c.poll_at(), Some(secs(60)));
        for t in [60, 61, 62] {
            let p = c.poll(secs(t));
            assert_eq!(p.probes, vec![(A_IP, A_MAC)], "at {t} s");
        }
        let p = c.poll(secs(63));
        assert_eq!((p.probes.len(), p.expired), (0, vec![A_IP]));
        assert!(c.is_empty());
        assert_eq!((c.stats().probes_sent, c.stats().probe_failures), (3, 1));
        // The next packet resolves afresh, by broadcast.
        assert_eq!(
            c.resolve(A_IP, 3, secs(64)),
            Resolve::Queued { send_request: true }
        );
    }

    #[test]
    fn a_learned_entry_expires_after_reachable_time() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(10));
        assert_eq!(c.poll_at(), Some(secs(70)));
        assert_eq!(
            c.lookup(A_IP, secs(70) - Duration::from_micros(1)),
            Some(A_MAC)
        );
        assert_eq!(
            state_of(&c, A_IP, secs(40)).unwrap().expires_in,
            Some(Duration::from_secs(30))
        );
        assert!(c.poll(secs(69)).is_empty());
        let p = c.poll(secs(70));
        assert_eq!(p.expired, vec![A_IP]);
        assert!(c.is_empty());
        assert_eq!(c.stats().expired, 1);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn an_expired_entry_is_not_used_even_before_poll() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.lookup(A_IP, secs(60)), None);
        assert!(c.is_empty());
        learn(&mut c, A_IP, A_MAC, secs(100));
        // Revalidation: the next packet after expiry resolves afresh.
        assert_eq!(
            c.resolve(A_IP, 1, secs(160)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(c.stats().expired, 2);
    }

    #[test]
    fn lookups_do_not_extend_an_entry_but_arp_does() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        for s in 1..60 {
            assert_eq!(c.lookup(A_IP, secs(s)), Some(A_MAC));
        }
        assert_eq!(c.poll_at(), Some(secs(60)));
        // A request for someone else from A refreshes it (merge).
        process(&mut c, request_from(A_IP, A_MAC, C_IP), secs(59));
        assert_eq!(c.poll_at(), Some(secs(119)));
        assert_eq!(c.stats().updated, 1);
        assert!(c.poll(secs(60)).is_empty());
        assert_eq!(c.lookup(A_IP, secs(118)), Some(A_MAC));
    }
}

mod static_entries {
    use super::*;

    #[test]
    fn never_expire() {
        let mut c = cache();
        assert_eq!(c.insert_static(A_IP, A_MAC), Ok(vec![]));
        assert_eq!(c.poll_at(), None);
        assert!(c.poll(secs(1_000_000)).is_empty());
        assert_eq!(c.lookup(A_IP, secs(1_000_000)), Some(A_MAC));
        let view = state_of(&c, A_IP, secs(0)).unwrap();
        assert_eq!(view.state, EntryState::Static);
        assert_eq!(view.state.to_string(), "static");
        assert_eq!(view.expires_in, None);
    }

    #[test]
    fn are_not_replaced_by_learning() {
        let mut c = cache();
        c.insert_static(A_IP, A_MAC).unwrap();
        let out = process(&mut c, reply_from(A_IP, NEW_MAC), secs(1));
        assert!(!out.learned);
        let out = process(&mut c, request_from(A_IP, NEW_MAC, OUR_IP), secs(2));
        assert!(!out.learned);
        // Still answered: the request was for us.
        assert_eq!(out.reply.map(|r| r.target_mac), Some(NEW_MAC));
        process(&mut c, ArpRepr::gratuitous(NEW_MAC, A_IP), secs(3));
        assert_eq!(c.lookup(A_IP, secs(4)), Some(A_MAC));
        assert_eq!(c.stats().static_mismatches, 3);
        assert_eq!(c.stats().learned, 0);
    }

    #[test]
    fn replacing_a_pending_entry_hands_back_its_packets() {
        let mut c = cache();
        c.resolve(A_IP, 1, ms(0));
        c.resolve(A_IP, 2, ms(0));
        assert_eq!(c.insert_static(A_IP, A_MAC), Ok(vec![1, 2]));
        assert_eq!(c.pending(), 0);
        assert!(c.poll(secs(10)).is_empty());
    }

    #[test]
    fn replace_a_learned_entry() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        c.insert_static(A_IP, NEW_MAC).unwrap();
        assert_eq!(c.lookup(A_IP, secs(100)), Some(NEW_MAC));
    }

    #[test]
    fn bad_addresses_are_refused() {
        let mut c = cache();
        for ip in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
        ] {
            assert_eq!(c.insert_static(ip, A_MAC), Err(StaticError::InvalidIp(ip)));
        }
        for mac in [
            MacAddr::ZERO,
            MacAddr::BROADCAST,
            MacAddr([1, 0, 0x5e, 0, 0, 1]),
        ] {
            assert_eq!(
                c.insert_static(A_IP, mac),
                Err(StaticError::InvalidMac(mac))
            );
        }
        assert!(c.is_empty());
    }

    #[test]
    fn clear_keeps_them_and_remove_does_not() {
        let mut c = cache();
        c.insert_static(A_IP, A_MAC).unwrap();
        learn(&mut c, B_IP, B_MAC, secs(0));
        c.resolve(C_IP, 1, secs(0));
        c.clear();
        assert_eq!(c.len(), 1);
        assert_eq!(c.pending(), 0);
        assert_eq!(c.stats().pending_dropped.removed, 1);
        assert_eq!(c.lookup(A_IP, secs(0)), Some(A_MAC));
        assert!(c.remove(A_IP));
        assert!(!c.remove(A_IP));
        assert!(c.is_empty());
    }
}

mod rfc826_learning {
    use super::*;

    #[test]
    fn a_request_for_us_is_learned_and_answered() {
        let mut c = cache();
        let req = request_from(A_IP, A_MAC, OUR_IP);
        let out = process(&mut c, req, secs(0));
        assert!(out.learned);
        assert_eq!(out.ignored, None);
        let reply = out.reply.unwrap();
        assert_eq!(reply, ArpRepr::reply_to(&req, OUR_MAC));
        assert_eq!(reply.op, Operation::Reply);
        assert_eq!((reply.sender_ip, reply.sender_mac), (OUR_IP, OUR_MAC));
        assert_eq!((reply.target_ip, reply.target_mac), (A_IP, A_MAC));
        assert_eq!(reply.link_destination(), A_MAC);
        assert_eq!(c.lookup(A_IP, secs(1)), Some(A_MAC));
        assert_eq!(c.stats().learned, 1);
        assert_eq!(c.stats().requests_received, 1);
        assert_eq!(c.stats().replies_sent, 1);
    }

    #[test]
    fn a_request_for_another_host_creates_nothing() {
        let mut c = cache();
        let out = process(&mut c, request_from(A_IP, A_MAC, C_IP), secs(0));
        assert_eq!(out, Processed::nothing());
        assert!(c.is_empty());
    }

    #[test]
    fn an_unsolicited_reply_not_for_us_creates_nothing() {
        let mut c = cache();
        // A broadcast "gratuitous reply" and a reply to some other host.
        let announce = ArpRepr {
            op: Operation::Reply,
            sender_mac: A_MAC,
            sender_ip: A_IP,
            target_mac: MacAddr::BROADCAST,
            target_ip: A_IP,
        };
        let other = ArpRepr {
            target_ip: C_IP,
            target_mac: C_MAC,
            ..announce
        };
        assert_eq!(process(&mut c, announce, secs(0)), Processed::nothing());
        assert_eq!(process(&mut c, other, secs(0)), Processed::nothing());
        assert!(c.is_empty());
    }

    #[test]
    fn a_reply_addressed_to_us_is_learned_even_unasked() {
        // RFC 826 adds the sender whenever we are the target protocol address, whatever the
        // opcode; an unrequested reply *to us* is therefore learned.
        let mut c = cache();
        let out = process(&mut c, reply_from(A_IP, A_MAC), secs(0));
        assert!(out.learned);
        assert_eq!(out.reply, None);
        assert_eq!(c.lookup(A_IP, secs(0)), Some(A_MAC));
    }

    #[test]
    fn packets_not_for_us_update_a_known_sender() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        let out = process(&mut c, request_from(A_IP, NEW_MAC, C_IP), secs(5));
        assert!(out.learned);
        assert_eq!(out.reply, None);
        assert_eq!(c.lookup(A_IP, secs(5)), Some(NEW_MAC));
        let reply_to_c = ArpRepr {
            op: Operation::Reply,
            sender_mac: A_MAC,
            sender_ip: A_IP,
            target_mac: C_MAC,
            target_ip: C_IP,
        };
        process(&mut c, reply_to_c, secs(6));
        assert_eq!(c.lookup(A_IP, secs(6)), Some(A_MAC));
        assert_eq!(c.stats().updated, 2);
        assert_eq!(c.stats().learned, 1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_merged_sender_is_not_added_twice_and_still_answered() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        let out = process(&mut c, request_from(A_IP, A_MAC, OUR_IP), secs(1));
        assert!(out.reply.is_some());
        assert_eq!(c.stats().learned, 1);
        assert_eq!(c.stats().updated, 1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn unknown_opcodes_are_merged_and_learned_but_not_answered() {
        // The opcode is looked at only after the merge and add steps.
        let mut c = cache();
        let mut pkt = request_from(A_IP, A_MAC, OUR_IP);
        pkt.op = Operation::Unknown(8); // InARP request
        let out = process(&mut c, pkt, secs(0));
        assert!(out.learned);
        assert_eq!(out.reply, None);
        assert_eq!(c.stats().unknown_received, 1);
    }

    #[test]
    fn without_an_address_we_are_never_the_target() {
        let mut c = cache();
        let out = c.process(
            &request_from(A_IP, A_MAC, Ipv4Addr::UNSPECIFIED),
            Ipv4Addr::UNSPECIFIED,
            OUR_MAC,
            secs(0),
        );
        assert_eq!(out, Processed::nothing());
        assert!(c.is_empty());
    }
}

mod ignored_packets {
    use super::*;

    fn assert_ignored(c: &mut NeighborCache<u32>, pkt: ArpRepr, why: IgnoreReason) {
        let out = process(c, pkt, secs(0));
        assert_eq!(out.ignored, Some(why), "{pkt}");
        assert_eq!(out.reply, None);
        assert!(!out.learned);
        assert!(out.released.is_empty());
    }

    #[test]
    fn our_own_mac_as_sender() {
        let mut c = cache();
        assert_ignored(
            &mut c,
            request_from(A_IP, OUR_MAC, OUR_IP),
            IgnoreReason::OwnSenderMac,
        );
        assert_eq!(c.stats().ignored.own_sender_mac, 1);
        assert!(c.is_empty());
    }

    #[test]
    fn non_unicast_sender_macs() {
        let mut c = cache();
        c.resolve(A_IP, 1, secs(0));
        for mac in [
            MacAddr::ZERO,
            MacAddr::BROADCAST,
            MacAddr([0x01, 0, 0x5e, 0, 0, 1]),
        ] {
            assert_ignored(
                &mut c,
                reply_from(A_IP, mac),
                IgnoreReason::InvalidSenderMac,
            );
        }
        assert_eq!(c.stats().ignored.invalid_sender_mac, 3);
        // The pending entry was not "resolved" to garbage.
        assert_eq!(
            state_of(&c, A_IP, secs(0)).unwrap().state,
            EntryState::Incomplete
        );
    }

    #[test]
    fn non_unicast_sender_ips() {
        let mut c = cache();
        for ip in [Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 1)] {
            assert_ignored(
                &mut c,
                request_from(ip, A_MAC, OUR_IP),
                IgnoreReason::InvalidSenderIp,
            );
        }
        assert_eq!(c.stats().ignored.invalid_sender_ip, 2);
        assert!(c.is_empty());
    }

    #[test]
    fn someone_else_claiming_our_address_is_a_conflict() {
        let mut c = cache();
        assert_ignored(
            &mut c,
            ArpRepr::gratuitous(A_MAC, OUR_IP),
            IgnoreReason::AddressConflict,
        );
        assert_ignored(
            &mut c,
            request_from(OUR_IP, A_MAC, B_IP),
            IgnoreReason::AddressConflict,
        );
        assert_eq!(c.stats().conflicts, 2);
        assert!(c.is_empty());
    }

    #[test]
    fn a_probe_for_us_is_answered_but_not_learned() {
        let mut c = cache();
        let probe = request_from(Ipv4Addr::UNSPECIFIED, A_MAC, OUR_IP);
        let out = process(&mut c, probe, secs(0));
        assert_eq!(out.ignored, None);
        assert!(!out.learned);
        let reply = out.reply.unwrap();
        assert_eq!((reply.sender_ip, reply.sender_mac), (OUR_IP, OUR_MAC));
        assert_eq!(
            (reply.target_ip, reply.target_mac),
            (Ipv4Addr::UNSPECIFIED, A_MAC)
        );
        assert!(c.is_empty());
        assert_eq!(c.stats().probes_received, 1);
    }

    #[test]
    fn a_probe_for_another_address_is_neither_answered_nor_learned() {
        let mut c = cache();
        let out = process(
            &mut c,
            request_from(Ipv4Addr::UNSPECIFIED, A_MAC, C_IP),
            secs(0),
        );
        assert_eq!(out, Processed::nothing());
        assert!(c.is_empty());
    }

    /// Only a request from 0.0.0.0 is a probe (RFC 5227 2.1.1): a reply or an unknown
    /// operation from it is ignored and counted by cause, not dropped unseen.
    #[test]
    fn a_reply_or_unknown_operation_from_no_address_is_counted_as_ignored() {
        let mut c = cache();
        let mut reply = request_from(Ipv4Addr::UNSPECIFIED, A_MAC, OUR_IP);
        reply.op = Operation::Reply;
        let mut unknown = reply;
        unknown.op = Operation::Unknown(9);
        for p in [reply, unknown] {
            let out = process(&mut c, p, secs(0));
            assert_eq!(out.ignored, Some(IgnoreReason::InvalidSenderIp));
            assert_eq!(out.reply, None);
        }
        assert_eq!(c.stats().ignored.invalid_sender_ip, 2);
        assert_eq!(c.stats().probes_received, 0);
        assert!(c.is_empty());
    }
}

mod gratuitous {
    use super::*;

    #[test]
    fn from_a_known_host_updates_its_entry() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        let out = process(&mut c, ArpRepr::gratuitous(NEW_MAC, A_IP), secs(30));
        assert!(out.learned);
        assert_eq!(out.reply, None);
        assert_eq!(c.lookup(A_IP, secs(30)), Some(NEW_MAC));
        // And its lifetime restarts.
        assert_eq!(c.poll_at(), Some(secs(90)));
    }

    #[test]
    fn from_a_pending_host_completes_it() {
        let mut c = cache();
        c.resolve(A_IP, 1, secs(0));
        let out = process(&mut c, ArpRepr::gratuitous(A_MAC, A_IP), secs(0));
        assert_eq!(out.released, vec![(A_MAC, 1)]);
    }

    #[test]
    fn from_an_unknown_host_is_not_learned() {
        let mut c = cache();
        let out = process(&mut c, ArpRepr::gratuitous(A_MAC, A_IP), secs(0));
        assert_eq!(out, Processed::nothing());
        assert!(c.is_empty());
    }
}

mod bounds {
    use super::*;

    #[test]
    fn a_full_table_evicts_the_oldest_reachable_before_any_incomplete() {
        let mut c = cache_with(|c| c.max_entries = 3);
        c.resolve(D_IP, 1, secs(0)); // oldest, but incomplete
        learn(&mut c, A_IP, A_MAC, secs(1));
        learn(&mut c, B_IP, B_MAC, secs(2));
        learn(&mut c, C_IP, C_MAC, secs(3));
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(A_IP, secs(3)), None);
        assert_eq!(c.lookup(B_IP, secs(3)), Some(B_MAC));
        assert_eq!(c.lookup(C_IP, secs(3)), Some(C_MAC));
        assert_eq!(state_of(&c, D_IP, secs(3)).unwrap().pending, 1);
        assert_eq!(c.stats().evictions, 1);
    }

    #[test]
    fn a_refresh_makes_an_entry_young_again() {
        let mut c = cache_with(|c| c.max_entries = 2);
        learn(&mut c, A_IP, A_MAC, secs(1));
        learn(&mut c, B_IP, B_MAC, secs(2));
        learn(&mut c, A_IP, A_MAC, secs(3)); // merge: A is now the youngest
        learn(&mut c, C_IP, C_MAC, secs(4));
        assert_eq!(c.lookup(B_IP, secs(4)), None);
        assert_eq!(c.lookup(A_IP, secs(4)), Some(A_MAC));
    }

    #[test]
    fn with_only_incomplete_entries_the_oldest_goes_with_its_packets() {
        let mut c = cache_with(|c| {
            c.max_entries = 2;
            c.request_rate = 0;
        });
        c.resolve(A_IP, 1, secs(0));
        c.resolve(A_IP, 2, secs(0));
        c.resolve(B_IP, 3, secs(1));
        assert_eq!(
            c.resolve(C_IP, 4, secs(2)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(c.len(), 2);
        assert!(state_of(&c, A_IP, secs(2)).is_none());
        assert_eq!(c.pending(), 2);
        assert_eq!(c.stats().pending_dropped.evicted, 2);
        assert_eq!(c.stats().pending_dropped.get(DropReason::Evicted), 2);
    }

    #[test]
    fn a_table_of_static_entries_refuses_new_ones() {
        let mut c = cache_with(|c| c.max_entries = 2);
        c.insert_static(A_IP, A_MAC).unwrap();
        c.insert_static(B_IP, B_MAC).unwrap();
        assert_eq!(c.insert_static(C_IP, C_MAC), Err(StaticError::TableFull));
        assert_eq!(
            c.resolve(C_IP, 1, secs(0)),
            Resolve::Dropped(1, DropReason::TableFull)
        );
        // A request for us from a new host is still answered, just not learned.
        let out = process(&mut c, request_from(C_IP, C_MAC, OUR_IP), secs(0));
        assert!(out.reply.is_some());
        assert!(!out.learned);
        assert_eq!(c.stats().learn_table_full, 1);
        assert_eq!(c.len(), 2);
        // Replacing an existing static entry needs no room.
        assert_eq!(c.insert_static(A_IP, NEW_MAC), Ok(vec![]));
    }

    #[test]
    fn the_queue_per_address_is_bounded_and_the_oldest_gives_way() {
        // As Linux's neighbour queue: the newest packets wait, the sender is not refused.
        let mut c = cache_with(|c| c.max_pending_per_entry = 2);
        c.resolve(A_IP, 1, secs(0));
        c.resolve(A_IP, 2, secs(0));
        assert_eq!(
            c.resolve(A_IP, 3, secs(0)),
            Resolve::Queued {
                send_request: false
            }
        );
        assert_eq!(c.pending(), 2);
        let out = process(&mut c, reply_from(A_IP, A_MAC), secs(0));
        assert_eq!(out.released, vec![(A_MAC, 2), (A_MAC, 3)]);
        assert_eq!(c.stats().pending_dropped.entry_queue_full, 1);
        // A limit of zero queues nothing.
        let mut c = cache_with(|c| c.max_pending_per_entry = 0);
        assert_eq!(
            c.resolve(A_IP, 1, secs(0)),
            Resolve::Dropped(1, DropReason::EntryQueueFull)
        );
    }

    #[test]
    fn the_total_queue_is_bounded_and_every_address_keeps_its_latest_packet() {
        let mut c = cache_with(|c| {
            c.max_pending_per_entry = 2;
            c.max_pending_total = 3;
        });
        c.resolve(A_IP, 1, secs(0));
        c.resolve(A_IP, 2, secs(0));
        c.resolve(B_IP, 3, secs(0));
        // B's own oldest gives way for its newest (a blocking sender is told to wait).
        assert!(c.queue_full(B_IP));
        assert_eq!(
            c.resolve(B_IP, 4, secs(0)),
            Resolve::Queued {
                send_request: false
            }
        );
        assert_eq!(c.pending(), 3);
        // A new address still gets its entry and its request (RFC 1122 2.3.2.2): the
        // oldest packet of the longest queue (A's) gives way.
        assert_eq!(
            c.resolve(C_IP, 5, secs(0)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c.pending(), 3);
        assert_eq!(c.stats().pending_dropped.total_queue_full, 2);
        let released = |c: &mut NeighborCache<u32>, ip, mac| {
            let out = process(c, reply_from(ip, mac), secs(0));
            out.released.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
        };
        assert_eq!(released(&mut c, A_IP, A_MAC), [2]);
        assert_eq!(released(&mut c, B_IP, B_MAC), [4]);
        assert_eq!(released(&mut c, C_IP, C_MAC), [5]);
        assert_eq!(c.pending(), 0);
        // Every queue holding a single packet: the new one is refused, nobody else's.
        let mut c = cache_with(|c| c.max_pending_total = 2);
        c.resolve(A_IP, 1, secs(0));
        c.resolve(B_IP, 2, secs(0));
        assert_eq!(
            c.resolve(C_IP, 3, secs(0)),
            Resolve::Dropped(3, DropReason::TotalQueueFull)
        );
        assert_eq!(c.pending(), 2);
    }

    /// Offloaded (TSO) frames reach 64 KiB, so a count of frames alone let one address
    /// hold megabytes. As Linux's `unres_qlen_bytes` (212,992 bytes by default), the queue
    /// is bounded in bytes too: the oldest give way, each counted.
    #[test]
    fn the_queue_per_address_is_bounded_in_bytes_and_the_oldest_give_way() {
        const BIG: usize = 60 * 1024;
        let mut c = cache();
        assert_eq!(c.config().max_pending_bytes_per_entry, 212_992);
        for p in 1..=10 {
            assert!(matches!(
                c.resolve_sized(A_IP, p, BIG, secs(0)),
                Resolve::Queued { .. }
            ));
            assert!(c.pending_bytes() <= 212_992, "{}", c.pending_bytes());
        }
        // Three fit (184,320 bytes); each further one pushed out the oldest.
        assert_eq!(c.pending(), 3);
        assert_eq!(c.pending_bytes(), 3 * BIG);
        assert_eq!(state_of(&c, A_IP, secs(0)).unwrap().pending_bytes, 3 * BIG);
        assert_eq!(c.stats().pending_dropped.entry_bytes_full, 7);
        assert_eq!(c.stats().pending_dropped.get(DropReason::EntryBytesFull), 7);
        assert_eq!(c.stats().pending_dropped.total(), 7);
        // Past the bound, a blocking sender is told to wait.
        let mut d = cache_with(|c| c.max_pending_bytes_per_entry = 2 * BIG);
        d.resolve_sized(A_IP, 1, BIG, secs(0));
        assert!(!d.queue_full(A_IP));
        d.resolve_sized(A_IP, 2, BIG, secs(0));
        assert!(d.queue_full(A_IP));
        let out = process(&mut c, reply_from(A_IP, A_MAC), secs(0));
        assert_eq!(out.released, vec![(A_MAC, 8), (A_MAC, 9), (A_MAC, 10)]);
        assert_eq!(c.pending_bytes(), 0);
    }

    /// Linux's `__neigh_event_send` drops the oldest while the queue's bytes and the new
    /// packet's exceed the bound, and stops when the queue is empty: a packet larger than
    /// the bound is queued, alone, and the next one pushes it out.
    #[test]
    fn a_packet_larger_than_the_byte_bound_waits_alone() {
        let mut c = cache_with(|c| c.max_pending_bytes_per_entry = 10_000);
        c.resolve_sized(A_IP, 1, 1_000, secs(0));
        c.resolve_sized(A_IP, 2, 1_000, secs(0));
        assert_eq!(
            c.resolve_sized(A_IP, 3, 30_000, secs(0)),
            Resolve::Queued {
                send_request: false
            }
        );
        assert_eq!((c.pending(), c.pending_bytes()), (1, 30_000));
        assert_eq!(c.stats().pending_dropped.entry_bytes_full, 2);
        c.resolve_sized(A_IP, 4, 100, secs(0));
        assert_eq!((c.pending(), c.pending_bytes()), (1, 100));
        assert_eq!(c.stats().pending_dropped.entry_bytes_full, 3);
        let out = process(&mut c, reply_from(A_IP, A_MAC), secs(0));
        assert_eq!(out.released, vec![(A_MAC, 4)]);
        // The first packet for an address likewise.
        let mut c = cache_with(|c| c.max_pending_bytes_per_entry = 10_000);
        assert_eq!(
            c.resolve_sized(B_IP, 5, 30_000, secs(0)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!(c.stats().pending_dropped.total(), 0);
    }

    /// All queues together are bounded in bytes as in packets: the address's own oldest
    /// go first, then the oldest of the queue holding the most bytes; every address keeps
    /// its latest packet, so when nothing else may go the new packet is refused. The
    /// bound is never passed, even by a single packet.
    #[test]
    fn the_total_bytes_are_bounded_and_every_address_keeps_its_latest_packet() {
        let mut c = cache_with(|c| {
            c.max_pending_bytes_per_entry = 100;
            c.max_pending_bytes_total = 250;
        });
        c.resolve_sized(A_IP, 1, 50, secs(0));
        c.resolve_sized(A_IP, 2, 50, secs(0));
        c.resolve_sized(B_IP, 3, 100, secs(0));
        // C's first packet: A's oldest gives way (B's single packet stays).
        assert_eq!(
            c.resolve_sized(C_IP, 4, 100, secs(0)),
            Resolve::Queued { send_request: true }
        );
        assert_eq!((c.pending(), c.pending_bytes()), (3, 250));
        assert_eq!(c.stats().pending_dropped.total_bytes_full, 1);
        // Every queue holds one packet: a new address's is refused, nobody else's goes.
        assert_eq!(
            c.resolve_sized(D_IP, 5, 100, secs(0)),
            Resolve::Dropped(5, DropReason::TotalBytesFull)
        );
        assert!(state_of(&c, D_IP, secs(0)).is_none());
        assert_eq!(c.stats().pending_dropped.total_bytes_full, 2);
        // A known address replaces its own.
        assert!(c.queue_full(B_IP));
        c.resolve_sized(B_IP, 6, 60, secs(0));
        assert_eq!((c.pending(), c.pending_bytes()), (3, 210));
        assert_eq!(c.stats().pending_dropped.entry_bytes_full, 1);
        // A packet larger than the whole bound is never queued.
        assert_eq!(
            c.resolve_sized(D_IP, 7, 251, secs(0)),
            Resolve::Dropped(7, DropReason::TotalBytesFull)
        );
        let released = |c: &mut NeighborCache<u32>, ip, mac| {
            let out = process(c, reply_from(ip, mac), secs(0));
            out.released.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
        };
        assert_eq!(released(&mut c, A_IP, A_MAC), [2]);
        assert_eq!(released(&mut c, B_IP, B_MAC), [6]);
        assert_eq!(released(&mut c, C_IP, C_MAC), [4]);
        assert_eq!((c.pending(), c.pending_bytes()), (0, 0));
        assert_eq!(c.stats().pending_dropped.total(), 4);
    }

    /// A request for us from a new host, the table full: it is answered, but learning it
    /// evicts neither a resolution under way (its packets would be lost) nor an entry in
    /// use; only an idle one gives way.
    #[test]
    fn learning_never_displaces_a_resolution_or_an_entry_in_use() {
        let mut c = cache_with(|c| c.max_entries = 1);
        c.resolve(A_IP, 1, secs(0));
        let out = process(&mut c, request_from(B_IP, B_MAC, OUR_IP), ms(100));
        assert!(out.reply.is_some());
        assert!(!out.learned);
        assert_eq!(c.stats().learn_table_full, 1);
        assert_eq!(c.stats().pending_dropped.evicted, 0);
        let out = process(&mut c, reply_from(A_IP, A_MAC), ms(200));
        assert_eq!(out.released, vec![(A_MAC, 1)]);
        // A is now in use (a packet went by it): still not displaced.
        assert_eq!(c.resolve(A_IP, 2, secs(1)), Resolve::Ready(A_MAC, 2));
        process(&mut c, request_from(B_IP, B_MAC, OUR_IP), secs(2));
        assert_eq!(c.lookup(A_IP, secs(2)), Some(A_MAC));
        assert_eq!(c.stats().learn_table_full, 2);
        // An idle entry gives way.
        let mut c = cache_with(|c| c.max_entries = 1);
        learn(&mut c, A_IP, A_MAC, secs(0));
        let out = process(&mut c, request_from(B_IP, B_MAC, OUR_IP), secs(1));
        assert!(out.learned);
        assert_eq!(c.lookup(B_IP, secs(1)), Some(B_MAC));
    }

    /// Room for a new resolution comes from an idle entry before one in use, even when
    /// the one in use is older or being probed.
    #[test]
    fn eviction_takes_an_idle_entry_before_one_in_use() {
        let mut c = cache_with(|c| c.max_entries = 2);
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.resolve(A_IP, 1, secs(1)), Resolve::Ready(A_MAC, 1));
        learn(&mut c, B_IP, B_MAC, secs(59));
        // A expired in use: probed, packets still go to it.
        let p = c.poll(secs(60));
        assert_eq!(p.probes, vec![(A_IP, A_MAC)]);
        c.resolve(C_IP, 2, ms(60_100));
        assert_eq!(c.lookup(A_IP, ms(60_100)), Some(A_MAC));
        assert_eq!(c.lookup(B_IP, ms(60_100)), None);
    }

    /// Resolutions of many silent addresses (answers to spoofed sources) take room from
    /// one another, not from an entry in use (the gateway's): the oldest goes, with its
    /// packets, counted.
    #[test]
    fn resolutions_under_way_go_before_an_entry_in_use() {
        let mut c = cache_with(|c| {
            c.max_entries = 3;
            c.request_rate = 0;
        });
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.resolve(A_IP, 0, secs(0)), Resolve::Ready(A_MAC, 0));
        for i in 0..20u8 {
            let silent = Ipv4Addr::new(10, 0, 0, 100 + i);
            assert_eq!(
                c.resolve(silent, u32::from(i) + 1, ms(u64::from(i) + 1)),
                Resolve::Queued { send_request: true }
            );
            assert_eq!(c.lookup(A_IP, ms(u64::from(i) + 1)), Some(A_MAC), "{i}");
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.stats().evictions, 18);
        assert_eq!(c.stats().pending_dropped.evicted, 18);
    }

    #[test]
    fn failures_free_their_queue_space() {
        let mut c = cache_with(|c| c.max_pending_total = 1);
        c.resolve(A_IP, 1, secs(0));
        assert!(matches!(
            c.resolve(B_IP, 2, secs(0)),
            Resolve::Dropped(2, _)
        ));
        for s in 1..=3 {
            c.poll(secs(s));
        }
        assert_eq!(c.pending(), 0);
        assert_eq!(
            c.resolve(B_IP, 3, secs(3)),
            Resolve::Queued { send_request: true }
        );
    }

    #[test]
    fn a_zero_sized_table_resolves_nothing() {
        let mut c = cache_with(|c| c.max_entries = 0);
        assert_eq!(
            c.resolve(A_IP, 1, secs(0)),
            Resolve::Dropped(1, DropReason::TableFull)
        );
        assert!(process(&mut c, request_from(A_IP, A_MAC, OUR_IP), secs(0))
            .reply
            .is_some());
        assert!(c.is_empty());
    }
}

mod deadlines {
    use super::*;

    #[test]
    fn poll_at_is_the_earliest_deadline() {
        let mut c = cache();
        assert_eq!(c.poll_at(), None);
        learn(&mut c, A_IP, A_MAC, secs(0)); // expires at 60 s
        assert_eq!(c.poll_at(), Some(secs(60)));
        c.resolve(B_IP, 1, secs(10)); // retransmit at 11 s
        assert_eq!(c.poll_at(), Some(secs(11)));
        c.insert_static(C_IP, C_MAC).unwrap();
        assert_eq!(c.poll_at(), Some(secs(11)));
        process(&mut c, reply_from(B_IP, B_MAC), secs(10)); // B now expires at 70 s
        assert_eq!(c.poll_at(), Some(secs(60)));
    }

    #[test]
    fn driving_poll_by_poll_at_gives_the_whole_schedule() {
        let mut c = cache();
        c.resolve(A_IP, 1, ms(250));
        learn(&mut c, B_IP, B_MAC, ms(500));
        let mut log = Vec::new();
        while let Some(at) = c.poll_at() {
            let p = c.poll(at);
            assert!(!p.is_empty(), "poll_at {at} promised work");
            for ip in p.requests {
                log.push((at, "request", ip));
            }
            for (ip, _) in p.failures {
                log.push((at, "failure", ip));
            }
            for ip in p.expired {
                log.push((at, "expired", ip));
            }
        }
        assert_eq!(
            log,
            vec![
                (ms(1250), "request", A_IP),
                (ms(2250), "request", A_IP),
                (ms(3250), "failure", A_IP),
                (ms(60500), "expired", B_IP),
            ]
        );
    }
}

mod display {
    use super::*;

    #[test]
    fn entries_are_listed_in_address_order() {
        let mut c = cache();
        c.insert_static(C_IP, C_MAC).unwrap();
        c.resolve(B_IP, 1, secs(0));
        learn(&mut c, A_IP, A_MAC, secs(0));
        let v = c.entries(secs(15));
        let summary: Vec<_> = v
            .iter()
            .map(|e| (e.ip, e.mac, e.state.as_str(), e.expires_in, e.pending))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    A_IP,
                    Some(A_MAC),
                    "reachable",
                    Some(Duration::from_secs(45)),
                    0
                ),
                (B_IP, None, "incomplete", None, 1),
                (C_IP, Some(C_MAC), "static", None, 0),
            ]
        );
        // Expired but not yet polled away: shown with no time left.
        assert_eq!(
            state_of(&c, A_IP, secs(100)).unwrap().expires_in,
            Some(Duration::ZERO)
        );
    }
}

mod robustness {
    use super::*;

    /// A deterministic random walk over every operation, checking the invariants after each.
    #[test]
    fn random_operations_keep_the_invariants() {
        let mut c = cache_with(|c| {
            c.max_entries = 8;
            c.max_pending_per_entry = 3;
            c.max_pending_total = 10;
            c.max_pending_bytes_per_entry = 3_000;
            c.max_pending_bytes_total = 6_000;
            c.request_rate = 3;
            c.request_burst = 2;
            c.reachable_time = Duration::from_secs(5);
        });
        let mut seed = 0x9e37_79b9u32;
        let mut rnd = move |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % n
        };
        let mut now = ms(0);
        let mut next_packet = 0u32;
        let mut outstanding = 0usize;
        for _ in 0..20_000 {
            now += Duration::from_millis(rnd(300).into());
            let ip = Ipv4Addr::new(10, 0, 0, rnd(16) as u8);
            let mac = MacAddr([0x52, 0x54, 0, 0, 0, rnd(4) as u8]);
            match rnd(10) {
                0..=3 => {
                    next_packet += 1;
                    let bytes = rnd(2_500) as usize;
                    match c.resolve_sized(ip, next_packet, bytes, now) {
                        Resolve::Queued { .. } => outstanding += 1,
                        Resolve::Ready(..) | Resolve::Dropped(..) => {}
                    }
                }
                4..=6 => {
                    let op = Operation::from(rnd(4) as u16);
                    let target = if rnd(2) == 0 { OUR_IP } else { ip };
                    let sender = if rnd(20) == 0 { OUR_IP } else { ip };
                    let repr = ArpRepr {
                        op,
                        sender_mac: mac,
                        sender_ip: sender,
                        target_mac: MacAddr::ZERO,
                        target_ip: target,
                    };
                    let out = process(&mut c, repr, now);
                    outstanding -= out.released.len();
                    assert_eq!(
                        out.reply.is_some(),
                        op == Operation::Request && target == OUR_IP && out.ignored.is_none()
                    );
                }
                7 | 8 => {
                    let p = c.poll(now);
                    outstanding -= p.failures.iter().map(|(_, q)| q.len()).sum::<usize>();
                    if let Some(at) = c.poll_at() {
                        assert!(at > now, "poll left work due at {at}, now {now}");
                    }
                }
                _ => match rnd(3) {
                    0 => {
                        outstanding -= c.insert_static(ip, mac).map(|q| q.len()).unwrap_or(0);
                    }
                    1 => {
                        c.remove(ip);
                        outstanding = c.pending();
                    }
                    _ => {
                        c.clear();
                        outstanding = c.pending();
                    }
                },
            }
            // Evictions drop packets silently; resynchronise from the counter.
            outstanding = outstanding.min(c.pending());
            assert_eq!(outstanding, c.pending());
            assert!(c.len() <= 8);
            assert!(c.pending() <= 10);
            let views = c.entries(now);
            assert_eq!(views.iter().map(|v| v.pending).sum::<usize>(), c.pending());
            assert!(views.iter().all(|v| v.pending <= 3));
            assert!(c.pending_bytes() <= 6_000);
            let bytes = views.iter().map(|v| v.pending_bytes).sum::<usize>();
            assert_eq!(bytes, c.pending_bytes());
            assert!(views
                .iter()
                .all(|v| v.pending_bytes <= 3_000 || v.pending == 1));
        }
        // Both byte bounds were reached.
        let d = c.stats().pending_dropped;
        assert!(d.entry_bytes_full > 0 && d.total_bytes_full > 0, "{d:?}");
    }
}

mod diff_review_tests {
    use super::*;

    /// Negative advice comes from every stalled connection through the neighbour (each
    /// at every timeout from its third on), so many connections to a dead host behind a
    /// gateway each ask again as soon as the previous probe is answered: the gateway is
    /// probed about as often as advice comes, up to the request rate limit, which new
    /// resolutions then share with it. RFC 1122 3.3.1.4: a host "MUST NOT actively check
    /// the status of a first-hop gateway by simply pinging the gateway continuously", and
    /// pings only "when there is no other positive indication to suggest that the
    /// gateway is functioning": an answer a moment ago is one. Here an entry the probe's
    /// answer confirmed 100 ms earlier was probed again at once.
    #[test]
    fn an_entry_just_confirmed_is_not_suspected_again() {
        let mut c = cache();
        learn(&mut c, A_IP, A_MAC, secs(0));
        assert_eq!(c.suspect(A_IP, secs(10)), Some(A_MAC));
        process(&mut c, reply_from(A_IP, A_MAC), ms(10_050));
        // The next connection's advice, 100 ms after the answer.
        let again = c.suspect(A_IP, ms(10_150));
        let probes = c.poll(ms(10_150)).probes;
        assert!(
            again.is_none() && probes.is_empty(),
            "probed again 100 ms after its answer: {probes:?}"
        );
        assert_eq!(c.stats().suspected, 1);
    }
}
