//! Conditional and range requests for files (RFC 9110 13 and 14): validators (an entity
//! tag and the modification time), `If-Match` and `If-Unmodified-Since` (412),
//! `If-None-Match` and `If-Modified-Since` (304), and one byte range (`Range`,
//! `If-Range`: 206, or 416 past the end).
//!
//! Several ranges in one request are answered with the whole file (RFC 9110 14.2: a server
//! may ignore `Range`); so are a `Range` in a unit other than bytes, or one that does not
//! parse.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The request fields this module reads (the first of each; `range_fields` counts the
/// `Range` fields, as two mean nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Conditions {
    pub if_match: Option<String>,
    pub if_unmodified_since: Option<String>,
    pub if_unmodified_since_fields: usize,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_modified_since_fields: usize,
    pub range: Option<String>,
    pub range_fields: usize,
    pub if_range: Option<String>,
}

impl Conditions {
    pub(super) fn from_headers(headers: &[(String, String)]) -> Conditions {
        let mut c = Conditions::default();
        for (name, value) in headers {
            let list = if name.eq_ignore_ascii_case("if-none-match") {
                Some(&mut c.if_none_match)
            } else if name.eq_ignore_ascii_case("if-match") {
                Some(&mut c.if_match)
            } else {
                None
            };
            let slot = if let Some(list) = list {
                // A list may come in several fields: join them (RFC 9110 5.3).
                match list {
                    Some(v) => {
                        v.push_str(", ");
                        v.push_str(value);
                        continue;
                    }
                    None => list,
                }
            } else if name.eq_ignore_ascii_case("if-unmodified-since") {
                c.if_unmodified_since_fields += 1;
                &mut c.if_unmodified_since
            } else if name.eq_ignore_ascii_case("if-modified-since") {
                c.if_modified_since_fields += 1;
                &mut c.if_modified_since
            } else if name.eq_ignore_ascii_case("range") {
                c.range_fields += 1;
                &mut c.range
            } else if name.eq_ignore_ascii_case("if-range") {
                &mut c.if_range
            } else {
                continue;
            };
            slot.get_or_insert_with(|| value.clone());
        }
        c
    }
}

/// A file's validators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Validators {
    /// A strong entity tag made of the modification time and the length.
    pub etag: String,
    /// The modification time, whole seconds (what an HTTP date holds).
    pub modified: SystemTime,
}

impl Validators {
    pub(super) fn of(modified: SystemTime, len: u64) -> Validators {
        let secs = modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let nanos = modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Validators {
            etag: format!("\"{secs:x}.{nanos:x}-{len:x}\""),
            modified: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }
}

/// What the request's conditions make of a 200 for a file of `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The whole file.
    Full,
    /// 412 Precondition Failed: `If-Match` or `If-Unmodified-Since` is false.
    PreconditionFailed,
    /// 304 Not Modified: the client's copy is current.
    NotModified,
    /// 206 Partial Content: bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// Judge `c` for a GET (or HEAD: `get` false, which never gets a part) of a file of `len`
/// bytes with validators `v`, in RFC 9110 13.2.2's order.
pub(super) fn judge(c: &Conditions, v: &Validators, len: u64, get: bool) -> Outcome {
    if let Some(im) = &c.if_match {
        // 13.1.1: strong comparison; "*" matches any current representation.
        if !(im.trim() == "*" || tags(im).any(|t| !t.starts_with("W/") && t == v.etag)) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(t) = one_date(&c.if_unmodified_since, c.if_unmodified_since_fields) {
        // 13.1.4: ignored beside If-Match, or when the date is invalid.
        if v.modified > t {
            return Outcome::PreconditionFailed;
        }
    }
    if let Some(inm) = &c.if_none_match {
        // Weak comparison (13.1.2); "*" matches any current representation.
        if inm.trim() == "*" || tags(inm).any(|t| weak_eq(t, &v.etag)) {
            return Outcome::NotModified;
        }
    } else if let Some(t) = one_date(&c.if_modified_since, c.if_modified_since_fields) {
        // 13.1.3: an invalid date is ignored.
        if v.modified <= t {
            return Outcome::NotModified;
        }
    }
    let Some(range) = c.range.as_deref().filter(|_| get && c.range_fields == 1) else {
        return Outcome::Full;
    };
    if let Some(ir) = &c.if_range {
        if !if_range_holds(ir.trim(), v) {
            return Outcome::Full;
        }
    }
    match parse_range(range, len) {
        Some(Some((first, last))) => Outcome::Part { first, last },
        Some(None) => Outcome::Unsatisfiable,
        None => Outcome::Full,
    }
}

/// The date of a field that came once (`fields`) and is a valid HTTP-date; else the
/// field is ignored (RFC 9110 13.1.3, 13.1.4).
fn one_date(value: &Option<String>, fields: usize) -> Option<SystemTime> {
    let value = value.as_deref().filter(|_| fields == 1)?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// 13.1.5: an entity tag matches by strong comparison; a date only when it is exactly
/// the modification time (ours is whole seconds, so it counts as strong).
fn if_range_holds(ir: &str, v: &Validators) -> bool {
    if ir.starts_with('"') || ir.starts_with("W/") {
        return !ir.starts_with("W/") && ir == v.etag;
    }
    httpdate::parse_http_date(ir).is_ok_and(|t| t == v.modified)
}

/// The entity tags of an `If-None-Match` list.
fn tags(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Weak comparison: the opaque tags equal, either or both weak.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// One byte range of a file of `len` bytes (14.1.2): `Some(Some((first, last)))` for a
/// satisfiable range, `Some(None)` for one that starts past the end (or a zero suffix),
/// `None` for anything else (another unit, several ranges, bad syntax, a suffix of an
/// empty file), which is ignored.
fn parse_range(value: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let digits = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // More digits than a u64 holds: as far as any file goes.
        Some(s.parse().unwrap_or(u64::MAX))
    };
    if first.is_empty() {
        // A suffix: the last N bytes.
        let n = digits(last)?;
        if n == 0 {
            return Some(None);
        }
        if len == 0 {
            // Satisfiable (14.1.2), yet no Content-Range names its nothing: ignored.
            return None;
        }
        return Some(Some((len.saturating_sub(n), len - 1)));
    }
    let first = digits(first)?;
    let last = if last.is_empty() {
        u64::MAX
    } else {
        digits(last)?
    };
    if last < first {
        return None;
    }
    if first >= len {
        return Some(None);
    }
    Some(Some((first, last.min(len - 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators::of(UNIX_EPOCH + Duration::new(784_111_777, 5), 1000)
    }

    fn c(pairs: &[(&str, &str)]) -> Conditions {
        let h: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Conditions::from_headers(&h)
    }

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn ranges_as_rfc_9110_14_1_2_reads_them() {
        assert_eq!(parse_range("bytes=0-499", 1000), Some(Some((0, 499))));
        assert_eq!(parse_range("bytes=500-", 1000), Some(Some((500, 999))));
        assert_eq!(parse_range("bytes=-200", 1000), Some(Some((800, 999))));
        assert_eq!(parse_range("bytes=-2000", 1000), Some(Some((0, 999))));
        assert_eq!(parse_range("bytes=900-5000", 1000), Some(Some((900, 999))));
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 1000),
            Some(Some((0, 999)))
        );
        assert_eq!(parse_range("Bytes = 1-1", 1000), Some(Some((1, 1))));
        // Past the end, and a zero suffix: unsatisfiable.
        assert_eq!(parse_range("bytes=1000-", 1000), Some(None));
        assert_eq!(parse_range("bytes=-0", 1000), Some(None));
        assert_eq!(parse_range("bytes=0-", 0), Some(None));
        // Ignored: another unit, several ranges, bad syntax, last before first.
        for bad in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=+1-2",
            "bytes",
            "bytes=-",
            "bytes=1",
        ] {
            assert_eq!(parse_range(bad, 1000), None, "{bad}");
        }
    }

    /// RFC 9110 14.1.2: "When a selected representation has zero length, the only
    /// satisfiable form of range-spec in a GET request is a suffix-range with a non-zero
    /// suffix-length", and 15.5.17 keeps 416 for a range set none of which is satisfiable.
    /// `bytes=-5` of an empty file is satisfiable, yet no Content-Range can name what it
    /// selects (14.4): the Range is ignored (14.2), a 200 with the empty file. It was 416.
    #[test]
    fn a_suffix_range_of_an_empty_file_is_ignored_not_416() {
        let v = Validators::of(UNIX_EPOCH + Duration::new(784_111_777, 5), 0);
        let got = judge(&c(&[("Range", "bytes=-5")]), &v, 0, true);
        assert_eq!(got, Outcome::Full);
        // An int-range of an empty file is not satisfiable: still 416, as a zero suffix.
        for r in ["bytes=0-", "bytes=0-0", "bytes=-0"] {
            let got = judge(&c(&[("Range", r)]), &v, 0, true);
            assert_eq!(got, Outcome::Unsatisfiable, "{r}");
        }
    }

    #[test]
    fn not_modified_by_entity_tag_or_date() {
        let v = v();
        assert_eq!(judge(&c(&[]), &v, 1000, true), Outcome::Full);
        let etag = v.etag.clone();
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let got = judge(&c(&[("If-None-Match", &inm)]), &v, 1000, true);
            assert_eq!(got, Outcome::NotModified, "{inm}");
        }
        assert_eq!(
            judge(&c(&[("If-None-Match", "\"other\"")]), &v, 1000, true),
            Outcome::Full
        );
        // The date: not modified since it (equal or later), modified before it.
        assert_eq!(
            judge(&c(&[("If-Modified-Since", DATE)]), &v, 1000, false),
            Outcome::NotModified
        );
        let earlier = "Sun, 06 Nov 1994 08:49:36 GMT";
        assert_eq!(
            judge(&c(&[("If-Modified-Since", earlier)]), &v, 1000, true),
            Outcome::Full
        );
        // Ignored: an invalid date, two fields, and any date beside If-None-Match.
        assert_eq!(
            judge(&c(&[("If-Modified-Since", "yesterday")]), &v, 1000, true),
            Outcome::Full
        );
        let two = c(&[("If-Modified-Since", DATE), ("If-Modified-Since", DATE)]);
        assert_eq!(judge(&two, &v, 1000, true), Outcome::Full);
        let both = c(&[("If-None-Match", "\"other\""), ("If-Modified-Since", DATE)]);
        assert_eq!(judge(&both, &v, 1000, true), Outcome::Full);
    }

    #[test]
    fn a_range_holds_for_get_only_and_only_while_if_range_matches() {
        let v = v();
        let part = Outcome::Part {
            first: 10,
            last: 19,
        };
        let r = ("Range", "bytes=10-19");
        assert_eq!(judge(&c(&[r]), &v, 1000, true), part);
        assert_eq!(judge(&c(&[r]), &v, 1000, false), Outcome::Full, "HEAD");
        assert_eq!(
            judge(&c(&[("Range", "bytes=1000-")]), &v, 1000, true),
            Outcome::Unsatisfiable
        );
        assert_eq!(judge(&c(&[r, r]), &v, 1000, true), Outcome::Full);
        let etag = v.etag.clone();
        assert_eq!(judge(&c(&[r, ("If-Range", &etag)]), &v, 1000, true), part);
        assert_eq!(judge(&c(&[r, ("If-Range", DATE)]), &v, 1000, true), part);
        let weak = format!("W/{etag}");
        for stale in [
            "\"old\"",
            weak.as_str(),
            "Sun, 06 Nov 1994 08:49:38 GMT",
            "junk",
        ] {
            let got = judge(&c(&[r, ("If-Range", stale)]), &v, 1000, true);
            assert_eq!(got, Outcome::Full, "{stale}");
        }
    }

    #[test]
    fn validators_change_with_the_time_or_the_length() {
        let t = UNIX_EPOCH + Duration::new(100, 0);
        let a = Validators::of(t, 5);
        assert_eq!(a.modified, t);
        assert_ne!(a.etag, Validators::of(t, 6).etag);
        assert_ne!(a.etag, Validators::of(t + Duration::from_nanos(1), 5).etag);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
    }
}
