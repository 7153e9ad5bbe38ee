//! The resolver's cache: what the servers said of a name, kept for as long as the answer
//! allows (its TTL, RFC 1035 3.2.1; a negative answer its SOA's negative TTL, RFC 2308 5),
//! so a program looking up the same name again and again asks once. Bounded: at most
//! [`CAPACITY`] names, and no answer kept longer than a day (a negative one three hours).
//! It takes `now` as an argument, so its tests run on a virtual clock.

use netif::time::Instant;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Names kept at most.
pub(crate) const CAPACITY: usize = 256;
/// The longest a positive answer is kept, whatever its TTL says.
const MAX_TTL: u32 = 86_400;
/// The longest a negative answer is kept (RFC 2308 5 suggests one to three hours).
const MAX_NEGATIVE_TTL: u32 = 10_800;

/// What a server said of a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    /// Its IPv4 addresses.
    Addrs(Vec<Ipv4Addr>),
    /// It exists without an IPv4 address.
    NoAddress,
    /// It does not exist, said the server given.
    NoSuchName(Ipv4Addr),
}

struct Entry {
    answer: Cached,
    expires: Instant,
}

#[derive(Default)]
pub(crate) struct Cache {
    names: HashMap<String, Entry>,
    /// The servers whose answers these are.
    servers: Vec<Ipv4Addr>,
}

/// The key of a name: lower case, without a trailing dot (names are case-insensitive,
/// RFC 4343).
fn key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl Cache {
    /// The answer kept for `name`, if it has not expired at `now`. Asked with other
    /// `servers` than those the answers came from, it forgets them all first.
    pub(crate) fn get(&mut self, name: &str, servers: &[Ipv4Addr], now: Instant) -> Option<Cached> {
        if self.servers != servers {
            self.names.clear();
            self.servers = servers.to_vec();
            return None;
        }
        let k = key(name);
        match self.names.get(&k) {
            Some(e) if now < e.expires => Some(e.answer.clone()),
            Some(_) => {
                self.names.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Keep `answer`, from `servers`, for `name` for `ttl` seconds (bounded); a TTL of 0
    /// keeps nothing (RFC 1035 3.2.1: use for the transaction in progress only), nor does
    /// an answer from servers no longer asked (a lookup under way when they changed). When
    /// the cache is full the expired names go first, then the one closest to expiring.
    pub(crate) fn put(
        &mut self,
        name: &str,
        servers: &[Ipv4Addr],
        answer: Cached,
        ttl: u32,
        now: Instant,
    ) {
        if self.servers != servers {
            return;
        }
        let limit = match answer {
            Cached::Addrs(_) => MAX_TTL,
            Cached::NoAddress | Cached::NoSuchName(_) => MAX_NEGATIVE_TTL,
        };
        let ttl = ttl.min(limit);
        let k = key(name);
        if ttl == 0 {
            self.names.remove(&k);
            return;
        }
        if !self.names.contains_key(&k) && self.names.len() >= CAPACITY {
            self.names.retain(|_, e| now < e.expires);
            if self.names.len() >= CAPACITY {
                let soonest = self
                    .names
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(s) = soonest {
                    self.names.remove(&s);
                }
            }
        }
        let expires = now + Duration::from_secs(u64::from(ttl));
        self.names.insert(k, Entry { answer, expires });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_millis(secs * 1000)
    }

    /// The servers of most tests.
    const S: &[Ipv4Addr] = &[Ipv4Addr::new(10, 0, 0, 53)];

    impl Cache {
        /// `put` from the servers `S`, which the cache was first asked with.
        fn put_s(&mut self, name: &str, answer: Cached, ttl: u32, now: Instant) {
            if self.servers.is_empty() {
                self.get("", S, now);
            }
            self.put(name, S, answer, ttl, now);
        }
    }

    fn addrs(last: u8) -> Cached {
        Cached::Addrs(vec![Ipv4Addr::new(10, 0, 0, last)])
    }

    #[test]
    fn an_answer_is_kept_for_its_ttl_and_no_longer() {
        let mut c = Cache::default();
        c.put_s("web.test", addrs(2), 60, at(100));
        assert_eq!(c.get("web.test", S, at(100)), Some(addrs(2)));
        assert_eq!(c.get("web.test", S, at(159)), Some(addrs(2)));
        assert_eq!(c.get("web.test", S, at(160)), None);
        // The expired entry is gone, not only hidden.
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn names_differing_in_case_or_a_trailing_dot_are_one_name() {
        let mut c = Cache::default();
        c.put_s("Web.Test.", addrs(2), 60, at(0));
        assert_eq!(c.get("web.test", S, at(1)), Some(addrs(2)));
        assert_eq!(c.get("WEB.TEST.", S, at(1)), Some(addrs(2)));
        assert_eq!(c.get("web.test.lan", S, at(1)), None);
    }

    #[test]
    fn a_ttl_of_zero_is_not_kept_and_replaces_what_was() {
        let mut c = Cache::default();
        c.put_s("web.test", addrs(2), 0, at(0));
        assert_eq!(c.get("web.test", S, at(0)), None);
        c.put_s("web.test", addrs(2), 60, at(0));
        c.put_s("web.test", addrs(3), 0, at(1));
        assert_eq!(c.get("web.test", S, at(1)), None);
    }

    #[test]
    fn long_ttls_are_capped_a_day_for_addresses_three_hours_for_negatives() {
        let mut c = Cache::default();
        let server = Ipv4Addr::new(10, 0, 0, 53);
        c.put_s("web.test", addrs(2), u32::MAX >> 1, at(0));
        c.put_s("gone.test", Cached::NoSuchName(server), 1_000_000, at(0));
        c.put_s("v6.test", Cached::NoAddress, 1_000_000, at(0));
        assert!(c.get("web.test", S, at(86_399)).is_some());
        assert!(c.get("web.test", S, at(86_400)).is_none());
        assert_eq!(
            c.get("gone.test", S, at(10_799)),
            Some(Cached::NoSuchName(server))
        );
        assert!(c.get("gone.test", S, at(10_800)).is_none());
        assert!(c.get("v6.test", S, at(10_799)).is_some());
        assert!(c.get("v6.test", S, at(10_800)).is_none());
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_the_soonest_to_expire() {
        let mut c = Cache::default();
        for i in 0..CAPACITY {
            // Name i expires at 1000 + i s; name 7 soonest of all.
            let ttl = if i == 7 { 500 } else { 1000 + i as u32 };
            c.put_s(&format!("n{i}.test"), addrs(1), ttl, at(0));
        }
        assert_eq!(c.len(), CAPACITY);
        // Replacing a name already there drops nothing.
        c.put_s("n3.test", addrs(3), 2000, at(0));
        assert_eq!(c.len(), CAPACITY);
        c.put_s("new.test", addrs(4), 60, at(0));
        assert_eq!(c.len(), CAPACITY);
        assert!(
            c.get("n7.test", S, at(0)).is_none(),
            "the soonest to expire stays"
        );
        assert!(c.get("n8.test", S, at(0)).is_some());
        assert_eq!(c.get("new.test", S, at(0)), Some(addrs(4)));
        // At 1010 s names 0..=10 (but 3, renewed, and 7, gone) and new.test have expired:
        // all nine go at once.
        c.put_s("later.test", addrs(5), 60, at(1010));
        assert_eq!(c.len(), CAPACITY - 9);
        assert!(c.get("n3.test", S, at(1010)).is_some());
    }

    #[test]
    fn other_servers_forget_everything_and_their_answers_are_not_kept_after() {
        let mut c = Cache::default();
        let other: &[Ipv4Addr] = &[Ipv4Addr::new(10, 0, 0, 54)];
        c.put_s("web.test", addrs(2), 60, at(0));
        assert_eq!(c.get("web.test", other, at(1)), None);
        assert_eq!(c.len(), 0);
        // An answer from the servers of before (a lookup under way when they changed).
        c.put("web.test", S, addrs(2), 60, at(1));
        assert_eq!(c.get("web.test", other, at(1)), None);
        c.put("web.test", other, addrs(3), 60, at(1));
        assert_eq!(c.get("web.test", other, at(2)), Some(addrs(3)));
    }

    /// Random puts, gets, clock steps and server changes against a model of what was
    /// last said of each name: the cache never holds more than `CAPACITY` names, never
    /// answers with something expired, from other servers, or not the last answer put for
    /// the name, and an answer just put (TTL above 0) is there. Deterministic: a fixed
    /// xorshift stream, 20,000 steps over 700 names (more than the capacity).
    #[test]
    fn random_operations_agree_with_a_model_of_the_last_answers() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let servers: [&[Ipv4Addr]; 2] = [S, &[Ipv4Addr::new(10, 0, 0, 54)]];
        let mut c = Cache::default();
        let mut model: HashMap<String, (Cached, Instant)> = HashMap::new();
        let (mut now, mut asked) = (at(1_000), 0);
        c.get("", servers[asked], now);
        for _ in 0..20_000 {
            let name = format!("n{}.test", next(700));
            match next(10) {
                0..=3 => {
                    let answer = match next(3) {
                        0 => addrs(next(250) as u8),
                        1 => Cached::NoAddress,
                        _ => Cached::NoSuchName(servers[asked][0]),
                    };
                    let ttl = [0, 1, 30, 3_600, 200_000][next(5) as usize];
                    c.put(&name, servers[asked], answer.clone(), ttl, now);
                    let limit = if matches!(answer, Cached::Addrs(_)) {
                        MAX_TTL
                    } else {
                        MAX_NEGATIVE_TTL
                    };
                    let kept = ttl.min(limit);
                    if kept == 0 {
                        model.remove(&key(&name));
                        assert_eq!(c.get(&name, servers[asked], now), None);
                    } else {
                        let until = now + Duration::from_secs(u64::from(kept));
                        model.insert(key(&name), (answer.clone(), until));
                        assert_eq!(c.get(&name, servers[asked], now), Some(answer));
                    }
                }
                4..=7 => {
                    let got = c.get(&name.to_ascii_uppercase(), servers[asked], now);
                    if let Some(a) = got {
                        let (want, until) = model.get(&key(&name)).expect("never put");
                        assert_eq!(&a, want, "{name}");
                        assert!(now < *until, "{name} answered after it expired");
                    }
                }
                8 => now += Duration::from_secs(next(40)),
                _ if next(300) == 0 => {
                    asked = 1 - asked;
                    model.clear();
                    assert_eq!(c.get(&name, servers[asked], now), None);
                }
                _ => {}
            }
            assert!(c.len() <= CAPACITY);
        }
    }
}
