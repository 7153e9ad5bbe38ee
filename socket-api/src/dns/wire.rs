//! DNS messages as a stub resolver needs them (RFC 1035 4): a query for one name's IPv4
//! addresses, and the answer's A records (through CNAMEs) with how long it may be cached
//! (the records' TTLs, or for a negative answer the SOA of the authority section, RFC
//! 2308 5). Parsing never panics: every read is bounds-checked and a compressed name may
//! jump back at most `MAX_JUMPS` (16) times.

use std::net::Ipv4Addr;

const HEADER_LEN: usize = 12;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;
/// Pointers followed in one name before it is taken for a loop.
const MAX_JUMPS: usize = 16;
/// RFC 1035 2.3.4.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;
/// Addresses kept from one answer.
pub const MAX_ADDRS: usize = 16;

/// Why a name cannot be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("a label longer than 63 bytes or empty")]
    BadLabel,
    #[error("longer than 253 bytes")]
    TooLong,
    #[error("characters other than letters, digits, '-' and '_'")]
    BadChar,
}

/// Why an answer is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("malformed answer")]
    Malformed,
    #[error("an answer to another question")]
    NotOurs,
    /// The TC bit: the answer did not fit (over UDP, it is asked again over TCP).
    #[error("truncated answer")]
    Truncated,
    /// RCODE 3: the name does not exist. The seconds this may be cached: from the SOA
    /// record the server sent with it (RFC 2308 5), 0 without one.
    #[error("name not found")]
    NoSuchName { ttl: u32 },
    /// Any other RCODE (2 server failure, 5 refused, ...).
    #[error("the server answered {}", rcode_name(*.0))]
    Server(u8),
}

/// RFC 1035 4.1.1's response codes, as `dig` names them.
fn rcode_name(r: u8) -> String {
    match r {
        1 => "FORMERR (it could not read the query)".into(),
        2 => "SERVFAIL (server failure)".into(),
        4 => "NOTIMP (not implemented)".into(),
        5 => "REFUSED".into(),
        r => format!("error {r}"),
    }
}

/// The labels of `name` (a trailing dot allowed), checked.
fn labels(name: &str) -> Result<Vec<&str>, NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    let l: Vec<&str> = name.split('.').collect();
    for label in &l {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(NameError::BadLabel);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(NameError::BadChar);
        }
    }
    Ok(l)
}

/// Whether `name` could be asked for (or serve as a search domain): 1–253 bytes of
/// labels of letters, digits, '-' and '_', a trailing dot allowed.
pub fn valid_name(name: &str) -> bool {
    labels(name).is_ok()
}

/// A query with id `id` for the A records of `name`, recursion desired.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, NameError> {
    let labels = labels(name)?;
    let mut b = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0x01, 0x00]); // RD
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for l in labels {
        b.push(l.len() as u8);
        b.extend_from_slice(l.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&TYPE_A.to_be_bytes());
    b.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(b)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Read the (possibly compressed) name at `at`, lower-cased with dots; returns it and
/// where the record goes on after it. A '.' or '\' inside a label is escaped with a '\'
/// (as in master files), so names compare label by label: the one label `a.test` is
/// `a\.test`, not the two labels `a` and `test` (RFC 1035 3.1, RFC 2181 11).
fn read_name(b: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut octets = 0;
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *b.get(at)?;
        match len >> 6 {
            0 if len == 0 => {
                return Some((name, end.unwrap_or(at + 1)));
            }
            0 => {
                let label = b.get(at + 1..at + 1 + usize::from(len))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    if c == b'.' || c == b'\\' {
                        name.push('\\');
                    }
                    name.push(char::from(c.to_ascii_lowercase()));
                }
                // The limit is on octets on the wire (RFC 1035 3.1: 255 with the length
                // octets, so 253 in text without escapes), not on the text: a byte above
                // 0x7f takes two in UTF-8, an escape one more.
                octets += usize::from(len) + usize::from(octets > 0);
                if octets > MAX_NAME {
                    return None;
                }
                at += 1 + usize::from(len);
            }
            3 => {
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                let ptr = usize::from(u16_at(b, at)? & 0x3fff);
                end.get_or_insert(at + 2);
                at = ptr;
            }
            _ => return None,
        }
    }
}

/// What an answer says of a name that exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Its IPv4 addresses (at most [`MAX_ADDRS`]); empty when it has no A record.
    pub addrs: Vec<Ipv4Addr>,
    /// Seconds the answer may be cached: the smallest TTL of the records it was read from
    /// (the CNAMEs followed and the A records), or for a name without A records the
    /// negative TTL of the authority section's SOA (RFC 2308 5; 0 without one).
    pub ttl: u32,
}

/// A record's TTL as RFC 2181 8 reads it: a value with the top bit set counts as 0.
fn ttl_at(b: &[u8], at: usize) -> Option<u32> {
    let t = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?);
    Some(if t & 0x8000_0000 != 0 { 0 } else { t })
}

/// Whether `zone` is `name` or one of its ancestors (whole labels, lower case).
fn within(name: &str, zone: &str) -> bool {
    zone.is_empty()
        || name == zone
        || name
            .strip_suffix(zone)
            // A separator, not a '.' escaped inside a label (an escaped '\' just before
            // a separator is taken for one too: the name is then not in the zone).
            .is_some_and(|head| head.ends_with('.') && !head.ends_with("\\."))
}

/// The negative TTL of a SOA record (RFC 2308 5): the smaller of its own TTL and its
/// MINIMUM field; `None` when the record is not a SOA of a zone `name` is in.
fn negative_ttl(b: &[u8], r: &Record, name: &str) -> Option<u32> {
    if r.rtype != TYPE_SOA || r.class != CLASS_IN || !within(name, &r.owner) {
        return None;
    }
    let (_, rname_at) = read_name(b, r.data_at)?;
    let (_, fields_at) = read_name(b, rname_at)?;
    // SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
    let minimum = ttl_at(b, fields_at + 16)?;
    if fields_at + 20 > r.data_at + r.data.len() {
        return None;
    }
    Some(r.ttl.min(minimum))
}

/// One resource record of an answer.
struct Record<'a> {
    owner: String,
    rtype: u16,
    class: u16,
    ttl: u32,
    data_at: usize,
    data: &'a [u8],
}

/// Read `count` resource records from `at`; returns them and where the next section starts.
fn read_records(b: &[u8], mut at: usize, count: u16) -> Option<(Vec<Record<'_>>, usize)> {
    let mut out = Vec::new();
    for _ in 0..count {
        let (owner, next) = read_name(b, at)?;
        let rtype = u16_at(b, next)?;
        let class = u16_at(b, next + 2)?;
        let ttl = ttl_at(b, next + 4)?;
        let len = usize::from(u16_at(b, next + 8)?);
        let data_at = next + 10;
        let data = b.get(data_at..data_at + len)?;
        out.push(Record {
            owner,
            rtype,
            class,
            ttl,
            data_at,
            data,
        });
        at = data_at + len;
    }
    Some((out, at))
}

/// The IPv4 addresses an answer to `query(id, name)` gives for `name`, following CNAMEs
/// within the answer, and how long they may be cached; an empty list when the name exists
/// without A records.
pub fn parse_answer(b: &[u8], id: u16, name: &str) -> Result<Answer, AnswerError> {
    use AnswerError::*;
    // Not an answer to our question until its ID and question match (RFC 5452 9.1): a
    // runt or a question that cannot be read is ignored, and the wait for the real
    // answer goes on, not ended by whoever sends such a datagram to our port.
    let hdr = b.get(..HEADER_LEN).ok_or(NotOurs)?;
    let qr = hdr[2] & 0x80 != 0;
    if u16_at(hdr, 0) != Some(id) || !qr {
        return Err(NotOurs);
    }
    let (qd, an, ns) = (
        u16_at(hdr, 4).ok_or(Malformed)?,
        u16_at(hdr, 6).ok_or(Malformed)?,
        u16_at(hdr, 8).ok_or(Malformed)?,
    );
    let want = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    // The question must be ours (RFC 5452 9.1).
    if qd != 1 {
        return Err(NotOurs);
    }
    let (qname, mut at) = read_name(b, HEADER_LEN).ok_or(NotOurs)?;
    if qname != want || u16_at(b, at) != Some(TYPE_A) || u16_at(b, at + 2) != Some(CLASS_IN) {
        return Err(NotOurs);
    }
    at += 4;
    if hdr[2] & 0x02 != 0 {
        return Err(Truncated);
    }
    let rcode = hdr[3] & 0x0f;
    if rcode != 0 && rcode != 3 {
        return Err(Server(rcode));
    }
    let (records, at) = read_records(b, at, an).ok_or(Malformed)?;
    // The names that stand for `want`: itself and the CNAMEs it leads to, the chain as
    // long-lived as its shortest link. CNAME chains in any order: a few passes are enough
    // for any honest answer.
    let mut aliases = vec![want];
    let mut chain_ttl = u32::MAX;
    for _ in 0..MAX_JUMPS {
        let before = aliases.len();
        for r in &records {
            if r.rtype == TYPE_CNAME && r.class == CLASS_IN && aliases.contains(&r.owner) {
                let (target, _) = read_name(b, r.data_at).ok_or(Malformed)?;
                if !aliases.contains(&target) {
                    aliases.push(target);
                    chain_ttl = chain_ttl.min(r.ttl);
                }
            }
        }
        if aliases.len() == before {
            break;
        }
    }
    // A negative answer (RFC 2308 5): the SOA's negative TTL, of the zone of any name of
    // the chain, and no longer than the chain. The authority section matters only here;
    // one that cannot be read leaves the answer uncached, not unusable.
    let negative = || {
        let soa = read_records(b, at, ns).and_then(|(auth, _)| {
            auth.iter()
                .find_map(|r| aliases.iter().find_map(|a| negative_ttl(b, r, a)))
        });
        soa.unwrap_or(0).min(chain_ttl)
    };
    if rcode == 3 {
        return Err(NoSuchName { ttl: negative() });
    }
    // The A records of any name of the chain: RFC 2181 5.2, each counts as long-lived as
    // the shortest of them, also those not kept (duplicates, beyond `MAX_ADDRS`).
    let mut addrs = Vec::new();
    let mut ttl = chain_ttl;
    for r in &records {
        if r.rtype == TYPE_A
            && r.class == CLASS_IN
            && r.data.len() == 4
            && aliases.contains(&r.owner)
        {
            ttl = ttl.min(r.ttl);
            let a = Ipv4Addr::new(r.data[0], r.data[1], r.data[2], r.data[3]);
            if addrs.len() < MAX_ADDRS && !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    if addrs.is_empty() {
        // NODATA (RFC 2308 2.2): cached like a name that does not exist.
        ttl = negative();
    }
    Ok(Answer { addrs, ttl })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query(7, "www.example.test")`: a CNAME to host.example.test (by a
    /// pointer into the question), whose A record is 10.0.0.2; another name's A record
    /// that must not be taken.
    fn answer() -> Vec<u8> {
        let mut b = query(7, "www.example.test").unwrap();
        b[2] |= 0x80; // QR
        b[7] = 3; // ANCOUNT
                  // www.example.test (pointer to 12) CNAME host + pointer to "example.test" (16).
        b.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 7]);
        b.extend_from_slice(&[4, b'h', b'o', b's', b't', 0xc0, 16]);
        let host_at = b.len() - 7;
        // host.example.test A 10.0.0.2
        b.extend_from_slice(&[
            0xc0,
            host_at as u8,
            0,
            1,
            0,
            1,
            0,
            0,
            0,
            60,
            0,
            4,
            10,
            0,
            0,
            2,
        ]);
        // other.test A 6.6.6.6: not an alias of ours.
        b.extend_from_slice(&[
            5, b'o', b't', b'h', b'e', b'r', 4, b't', b'e', b's', b't', 0,
        ]);
        b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 6, 6, 6, 6]);
        b
    }

    #[test]
    fn a_query_asks_for_one_a_record_with_recursion() {
        let q = query(0xbeef, "Web.test.").unwrap();
        assert_eq!(&q[..12], &[0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03Web\x04test\x00\x00\x01\x00\x01");
        assert_eq!(query(1, ""), Err(NameError::Empty));
        assert_eq!(query(1, "a..b"), Err(NameError::BadLabel));
        assert_eq!(query(1, &"a".repeat(64)), Err(NameError::BadLabel));
        assert_eq!(query(1, &"a.".repeat(130)), Err(NameError::TooLong));
        assert_eq!(query(1, "a b"), Err(NameError::BadChar));
    }

    #[test]
    fn the_a_records_of_the_name_and_its_cnames_are_taken() {
        let b = answer();
        assert_eq!(
            parse_answer(&b, 7, "WWW.example.test."),
            Ok(Answer {
                addrs: vec![Ipv4Addr::new(10, 0, 0, 2)],
                ttl: 60
            })
        );
    }

    #[test]
    fn answers_to_other_questions_and_errors_are_told_apart() {
        let b = answer();
        assert_eq!(
            parse_answer(&b, 8, "www.example.test"),
            Err(AnswerError::NotOurs)
        );
        assert_eq!(
            parse_answer(&b, 7, "example.test"),
            Err(AnswerError::NotOurs)
        );
        let mut q = b.clone();
        q[2] &= !0x80;
        assert_eq!(
            parse_answer(&q, 7, "www.example.test"),
            Err(AnswerError::NotOurs)
        );
        let mut nx = b.clone();
        nx[3] |= 3;
        assert_eq!(
            parse_answer(&nx, 7, "www.example.test"),
            Err(AnswerError::NoSuchName { ttl: 0 })
        );
        let mut fail = b.clone();
        fail[3] |= 2;
        assert_eq!(
            parse_answer(&fail, 7, "www.example.test"),
            Err(AnswerError::Server(2))
        );
        let mut tc = b.clone();
        tc[2] |= 0x02;
        assert_eq!(
            parse_answer(&tc, 7, "www.example.test"),
            Err(AnswerError::Truncated)
        );
        assert_eq!(
            parse_answer(&b[..b.len() - 3], 7, "www.example.test"),
            Err(AnswerError::Malformed)
        );
    }

    /// Set the TTL of the record whose type field is at `type_at`.
    fn set_ttl(b: &mut [u8], type_at: usize, ttl: u32) {
        b[type_at + 4..type_at + 8].copy_from_slice(&ttl.to_be_bytes());
    }

    /// The type fields of `answer()`'s three records.
    const CNAME_AT: usize = 12 + 18 + 4 + 2;

    #[test]
    fn an_answer_may_be_cached_as_long_as_its_shortest_record() {
        let a_at = CNAME_AT + 10 + 7 + 2;
        let mut b = answer();
        assert_eq!(u16_at(&b, CNAME_AT), Some(TYPE_CNAME));
        assert_eq!(u16_at(&b, a_at), Some(TYPE_A));
        // The CNAME followed is shorter than the A record.
        set_ttl(&mut b, CNAME_AT, 30);
        set_ttl(&mut b, a_at, 300);
        assert_eq!(parse_answer(&b, 7, "www.example.test").unwrap().ttl, 30);
        set_ttl(&mut b, CNAME_AT, 3000);
        assert_eq!(parse_answer(&b, 7, "www.example.test").unwrap().ttl, 300);
        // Another name's record does not count.
        let other_at = b.len() - 14;
        set_ttl(&mut b, other_at, 5);
        assert_eq!(parse_answer(&b, 7, "www.example.test").unwrap().ttl, 300);
        // RFC 2181 8: a TTL with the top bit set is 0.
        set_ttl(&mut b, a_at, 0x8000_0001);
        assert_eq!(parse_answer(&b, 7, "www.example.test").unwrap().ttl, 0);
    }

    /// A negative answer to `query(9, name)` with `rcode`: no answer records, and in the
    /// authority section the SOA of `zone` with TTL `ttl` and MINIMUM `minimum`.
    fn negative(name: &str, rcode: u8, zone: &str, ttl: u32, minimum: u32) -> Vec<u8> {
        let mut b = query(9, name).unwrap();
        b[2] |= 0x80;
        b[3] |= rcode;
        b[9] = 1; // NSCOUNT
        for l in zone.split('.').filter(|l| !l.is_empty()) {
            b.push(l.len() as u8);
            b.extend_from_slice(l.as_bytes());
        }
        b.push(0);
        b.extend_from_slice(&TYPE_SOA.to_be_bytes());
        b.extend_from_slice(&CLASS_IN.to_be_bytes());
        b.extend_from_slice(&ttl.to_be_bytes());
        // RDATA: MNAME "ns" + root, RNAME "h" + root, then five numbers.
        let rdata: Vec<u8> = [&[2, b'n', b's', 0, 1, b'h', 0][..], &[0; 16]]
            .concat()
            .into_iter()
            .chain(minimum.to_be_bytes())
            .collect();
        b.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        b.extend_from_slice(&rdata);
        b
    }

    #[test]
    fn a_negative_answer_may_be_cached_for_its_soa_s_negative_ttl() {
        // RFC 2308 5: the smaller of the SOA's TTL and its MINIMUM field.
        let nx = negative("gone.example.test", 3, "example.test", 900, 120);
        assert_eq!(
            parse_answer(&nx, 9, "gone.example.test"),
            Err(AnswerError::NoSuchName { ttl: 120 })
        );
        let nx = negative("gone.example.test", 3, "example.test", 60, 120);
        assert_eq!(
            parse_answer(&nx, 9, "gone.example.test"),
            Err(AnswerError::NoSuchName { ttl: 60 })
        );
        // NODATA: the name exists without an A record (RFC 2308 2.2).
        let nodata = negative("v6only.example.test", 0, "test", 900, 45);
        assert_eq!(
            parse_answer(&nodata, 9, "v6only.example.test"),
            Ok(Answer {
                addrs: vec![],
                ttl: 45
            })
        );
        // The root zone is an ancestor of every name.
        let root = negative("gone.example.test", 3, "", 900, 10);
        assert_eq!(
            parse_answer(&root, 9, "gone.example.test"),
            Err(AnswerError::NoSuchName { ttl: 10 })
        );
    }

    #[test]
    fn a_soa_of_a_zone_the_name_is_not_in_is_not_taken() {
        for zone in ["other.test", "ample.test", "x.gone.example.test"] {
            let nx = negative("gone.example.test", 3, zone, 900, 120);
            assert_eq!(
                parse_answer(&nx, 9, "gone.example.test"),
                Err(AnswerError::NoSuchName { ttl: 0 }),
                "{zone}"
            );
        }
        // A SOA cut short leaves the answer usable, uncached.
        let mut nx = negative("gone.example.test", 3, "example.test", 900, 120);
        nx.truncate(nx.len() - 2);
        assert_eq!(
            parse_answer(&nx, 9, "gone.example.test"),
            Err(AnswerError::NoSuchName { ttl: 0 })
        );
    }

    /// RFC 5452 9.1: a runt, or an answer whose question cannot be read, is not an answer
    /// to our question (ignored; the wait goes on), not a malformed one (which ends it).
    #[test]
    fn a_runt_or_an_unreadable_question_is_not_ours() {
        for n in 0..12 {
            assert_eq!(
                parse_answer(&vec![0u8; n], 7, "a.test"),
                Err(AnswerError::NotOurs),
                "{n} bytes"
            );
        }
        // Our ID, an answer, one question whose name points at itself.
        let b = [0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12];
        assert_eq!(parse_answer(&b, 7, "a.test"), Err(AnswerError::NotOurs));
    }

    #[test]
    fn a_pointer_loop_is_malformed_not_a_hang() {
        let mut b = query(7, "a.test").unwrap();
        b[2] |= 0x80;
        b[7] = 1;
        let at = b.len();
        // The owner name points at itself.
        b.extend_from_slice(&[0xc0, at as u8, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse_answer(&b, 7, "a.test"), Err(AnswerError::Malformed));
    }

    #[test]
    fn no_input_panics() {
        crate::testing::parse_mutations(&answer(), 11, |b| {
            let _ = parse_answer(b, 7, "www.example.test");
        });
        let nx = negative("gone.example.test", 3, "example.test", 900, 120);
        crate::testing::parse_mutations(&nx, 12, |b| {
            let _ = parse_answer(b, 9, "gone.example.test");
        });
    }
}

/// What the answer's TTL covers (RFC 2181 5.2, RFC 2308 5), from an independent review.
#[cfg(test)]
mod ttl_review_tests {
    use super::*;

    /// `name` in wire form, uncompressed.
    fn wire_name(name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for l in name.split('.').filter(|l| !l.is_empty()) {
            b.push(l.len() as u8);
            b.extend_from_slice(l.as_bytes());
        }
        b.push(0);
        b
    }

    /// A record of `owner`, type `rtype`, TTL `ttl`, with `rdata`.
    fn record(owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let mut b = wire_name(owner);
        b.extend_from_slice(&rtype.to_be_bytes());
        b.extend_from_slice(&CLASS_IN.to_be_bytes());
        b.extend_from_slice(&ttl.to_be_bytes());
        b.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        b.extend_from_slice(rdata);
        b
    }

    fn soa(zone: &str, ttl: u32, minimum: u32) -> Vec<u8> {
        let mut rdata = wire_name("ns.invalid");
        rdata.extend_from_slice(&wire_name("h.invalid"));
        rdata.extend_from_slice(&[0; 16]);
        rdata.extend_from_slice(&minimum.to_be_bytes());
        record(zone, TYPE_SOA, ttl, &rdata)
    }

    /// An answer to `query(5, name)` with `rcode`, the records `answers`, `authority`.
    fn message(name: &str, rcode: u8, answers: &[Vec<u8>], authority: &[Vec<u8>]) -> Vec<u8> {
        let mut b = query(5, name).unwrap();
        b[2] |= 0x80;
        b[3] |= rcode;
        b[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        b[8..10].copy_from_slice(&(authority.len() as u16).to_be_bytes());
        for r in answers.iter().chain(authority) {
            b.extend_from_slice(r);
        }
        b
    }

    /// `www.example.test` is a CNAME (TTL 5) of `v6.example.test`, which has no A record
    /// (NODATA, RFC 2308 2.2.1), with the zone's SOA (negative TTL 3600). The answer is
    /// cached under `www.example.test` as a whole: it rests on the CNAME as much as on the
    /// SOA, so it may not outlive the CNAME's 5 s (RFC 1035 3.2.1; RFC 2308 5 caches the
    /// CNAME by its own TTL, and a resolver that caches per RRset, as systemd-resolved
    /// does, asks again for `www` after 5 s). parse_answer gives 3600: the alias change
    /// is not seen for an hour.
    #[test]
    fn a_nodata_answer_after_a_cname_is_not_kept_longer_than_the_cname() {
        let b = message(
            "www.example.test",
            0,
            &[record(
                "www.example.test",
                TYPE_CNAME,
                5,
                &wire_name("v6.example.test"),
            )],
            &[soa("example.test", 3600, 3600)],
        );
        let a = parse_answer(&b, 5, "www.example.test").unwrap();
        assert!(a.addrs.is_empty());
        assert!(a.ttl <= 5, "cached for {} s", a.ttl);
    }

    /// The same with NXDOMAIN at the end of the chain (RFC 6604 2.1: the RCODE is about
    /// the last name of the chain): `www` CNAME (TTL 5) `gone`, which does not exist.
    #[test]
    fn an_nxdomain_after_a_cname_is_not_kept_longer_than_the_cname() {
        let b = message(
            "www.example.test",
            3,
            &[record(
                "www.example.test",
                TYPE_CNAME,
                5,
                &wire_name("gone.example.test"),
            )],
            &[soa("example.test", 3600, 3600)],
        );
        match parse_answer(&b, 5, "www.example.test") {
            Err(AnswerError::NoSuchName { ttl }) => assert!(ttl <= 5, "cached for {ttl} s"),
            other => panic!("{other:?}"),
        }
    }

    /// RFC 2181 5.2: the records of an RRset with differing TTLs are all treated as having
    /// the lowest. The 17th A record (past MAX_ADDRS, 16) and a repeated address are left
    /// out of the addresses, and so their TTL is left out too: the answer is cached for
    /// 300 s where the RRset's TTL is 1 s.
    #[test]
    fn the_rrset_s_lowest_ttl_counts_also_for_records_not_kept() {
        let mut answers: Vec<Vec<u8>> = (1..=16)
            .map(|i| record("many.test", TYPE_A, 300, &[10, 0, 0, i]))
            .collect();
        answers.push(record("many.test", TYPE_A, 1, &[10, 0, 0, 17]));
        let b = message("many.test", 0, &answers, &[]);
        let a = parse_answer(&b, 5, "many.test").unwrap();
        assert_eq!(a.addrs.len(), MAX_ADDRS);

        let dup = message(
            "dup.test",
            0,
            &[
                record("dup.test", TYPE_A, 300, &[10, 0, 0, 1]),
                record("dup.test", TYPE_A, 1, &[10, 0, 0, 1]),
            ],
            &[],
        );
        let d = parse_answer(&dup, 5, "dup.test").unwrap();
        assert_eq!(
            (a.ttl, d.ttl),
            (1, 1),
            "17 records / a repeated one, one with TTL 1"
        );
    }
}

/// An independent review (review19a): names compared label by label (RFC 1035 3.1).
#[cfg(test)]
mod review19_tests {
    use super::*;

    /// A name is a sequence of labels, and a label may hold any octet, '.' too (RFC 2181
    /// 11). `read_name` joins the labels with dots and compares the text, so the one
    /// label "a.test" (wire `\x06a.test\x00`) is taken for the two labels "a" "test": an
    /// answer to a question for another name is taken as ours (RFC 5452 9.1 wants the
    /// question to match), and its records are the addresses of `a.test`.
    #[test]
    fn a_question_of_one_label_with_a_dot_is_not_ours() {
        // The question: one label of six octets "a.test".
        let mut b = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(b"\x06a.test\x00\x00\x01\x00\x01");
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 6, 6, 6, 6]);
        assert_eq!(parse_answer(&b, 7, "a.test"), Err(AnswerError::NotOurs));
    }

    /// A CNAME to a name of 255 octets on the wire (253 in text), of bytes above 0x7f: it
    /// is followed. Its text, two bytes of UTF-8 for each, passed 253 and the answer was
    /// taken for malformed. One octet more is.
    #[test]
    fn a_cname_to_a_longest_name_of_8_bit_octets_is_followed() {
        for (last, ok) in [(61u8, true), (62, false)] {
            let mut b = query(7, "a.test").unwrap();
            b[2] |= 0x80;
            b[7] = 2;
            let target_at = b.len() + 12;
            b.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60]);
            let mut target = Vec::new();
            for len in [63, 63, 63, last] {
                target.push(len);
                target.extend(std::iter::repeat_n(0xe9u8, usize::from(len)));
            }
            target.push(0);
            b.extend_from_slice(&(target.len() as u16).to_be_bytes());
            b.extend_from_slice(&target);
            b.extend_from_slice(&[0xc0, target_at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            b.extend_from_slice(&[10, 0, 0, 9]);
            let got = parse_answer(&b, 7, "a.test").map(|a| a.addrs);
            if ok {
                assert_eq!(got, Ok(vec![Ipv4Addr::new(10, 0, 0, 9)]));
            } else {
                assert!(got.is_err(), "{got:?}");
            }
        }
    }

    /// The same for the records: an A record whose owner is the one label "a.test" is not
    /// an address of the name `a.test` the question (correctly two labels) asks for.
    #[test]
    fn a_record_of_one_label_with_a_dot_is_not_the_name_s() {
        let mut b = query(7, "a.test").unwrap();
        b[2] |= 0x80;
        b[7] = 1;
        b.extend_from_slice(b"\x06a.test\x00");
        b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 6, 6, 6, 6]);
        assert_eq!(parse_answer(&b, 7, "a.test").map(|a| a.addrs), Ok(vec![]));
    }
}
