//! A connection's receive buffer: one ring of bytes numbered by 64-bit stream offset, in
//! which a segment is copied once, at its offset, whether it arrives in order or beyond a
//! hole; an [`Assembler`] records which ranges beyond the in-order end are present, and
//! a range joins the readable bytes as soon as the hole before it fills (no copy, no
//! allocation per segment). The application reads straight out of the ring.
//!
//! Layout: the first unread byte (stream offset `base`) sits at index `head`; the byte at
//! offset `o` sits at `(head + o - base) % cap`. The backing `Vec` is allocated when the
//! first byte arrives, [`INITIAL`] bytes (a short message needs no more), and moves to the
//! whole buffer the first time data goes past that; its length grows as bytes are written,
//! so only the part of the ring the data has reached is initialised or resident. When the
//! ring is empty again (everything read, nothing out of order) a small ring is released,
//! so a connection that exchanged messages holds no buffer while idle; a whole-buffer ring
//! (a bulk transfer's) is kept for the next bytes, as a `VecDeque` kept its capacity:
//! releasing and allocating a megabyte each time a fast reader emptied it cost the page
//! faults or heap trimming of a fresh allocation every few batches.

use super::assembler::Assembler;

/// The ring's first allocation: bytes beyond it move the ring to the whole buffer.
pub const INITIAL: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct RxRing {
    buf: Vec<u8>,
    /// The ring's size; 0 while nothing is allocated.
    cap: usize,
    head: usize,
    /// Readable bytes from `head` on.
    len: usize,
    /// Stream offset of the byte at `head`.
    base: u64,
    ooo: Assembler,
}

/// What an insertion did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Bytes that became readable (this segment's in-order part and any ranges it joined).
    pub advanced: usize,
    /// The data beyond the in-order end was refused (the assembler was full).
    pub refused: bool,
    /// Bytes of the data beyond the in-order end were stored that were not held already.
    pub queued: bool,
    /// The first stretch of the data that was held already beyond a hole (RFC 2883's
    /// D-SACK), as offsets into the data: found only when the data went beyond a hole or
    /// filled one, never for data in order with nothing beyond it.
    pub held: Option<(usize, usize)>,
}

impl RxRing {
    /// An empty ring whose first byte will be stream offset `base`.
    pub fn new(base: u64) -> RxRing {
        RxRing {
            base,
            ..RxRing::default()
        }
    }

    /// Bytes the application can read.
    pub fn readable(&self) -> usize {
        self.len
    }

    /// Stream offset of the in-order end (the next byte expected in order).
    pub fn end(&self) -> u64 {
        self.base + self.len as u64
    }

    /// Bytes held beyond a hole, and in how many disjoint ranges.
    pub fn ooo_bytes(&self) -> usize {
        self.ooo.bytes()
    }
    pub fn ooo_ranges(&self) -> usize {
        self.ooo.len()
    }
    pub fn has_ooo(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// The out-of-order bytes counted again from the ranges (for the fuzz probe).
    pub fn ooo_bytes_counted(&self) -> usize {
        self.ooo.bytes_counted()
    }

    /// The out-of-order ranges as stream offsets, most recently grown first (RFC 2018 4).
    pub fn sack_ranges(&self, out: &mut [(u64, u64)]) -> usize {
        self.ooo.recent(out)
    }

    /// Bytes allocated for the ring (0 when idle).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// The ring's size (what it allocated; 0 while it has nothing).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Give the ring's memory back if it holds nothing (a whole-buffer ring is otherwise
    /// kept for the next bytes).
    pub fn release_if_empty(&mut self) {
        if self.len == 0 && self.ooo.is_empty() && self.cap > 0 {
            self.release();
        }
    }

    /// Let go of the bytes held beyond a hole (the peer sends them again), and of the
    /// ring if nothing readable remains, when what the ring holds fills less than a
    /// sixty-fourth of it: a ring grown for a few bytes far ahead is the waste memory pressure
    /// has to win back, while one well filled around a loss is what a transfer needs
    /// (letting it go has the peer send it all again, a round trip and more per hole).
    /// How many disjoint ranges went.
    pub fn drop_ooo(&mut self) -> usize {
        if self.ooo.is_empty() || (self.len + self.ooo.bytes()).saturating_mul(64) >= self.cap {
            return 0;
        }
        let n = self.ooo.clear();
        if self.len == 0 && self.cap > 0 {
            self.release();
        }
        n
    }

    /// Forget the bytes held beyond a hole at or after stream offset `at` (the peer's FIN
    /// is there: nothing follows it).
    pub fn forget_ooo_from(&mut self, at: u64) {
        self.ooo.truncate(at);
    }

    /// Keep `data`, which begins `at` bytes beyond the in-order end, in a ring of `size`
    /// bytes from the first unread byte (the caller's SO_RCVBUF plus the window's rounding
    /// slack). Bytes that would lie beyond `size` are cut off (the caller trims to its
    /// window first, so that happens only if the size shrank).
    #[inline(always)]
    pub fn insert(&mut self, at: usize, data: &[u8], size: usize) -> Inserted {
        let room = size.saturating_sub(self.len).saturating_sub(at);
        let data = &data[..data.len().min(room)];
        if data.is_empty() {
            return Inserted::default();
        }
        let need = self.len + at + data.len();
        if self.cap < need {
            let new = if self.cap == 0 && need <= INITIAL {
                INITIAL.min(size)
            } else {
                size
            };
            self.grow(new);
        }
        let start = self.end() + at as u64;
        let end = start + data.len() as u64;
        let rel = |(s, e): (u64, u64)| ((s - start) as usize, (e - start) as usize);
        if at > 0 {
            let before = self.ooo.bytes();
            let Ok(held) = self.ooo.add(start, end) else {
                return Inserted {
                    refused: true,
                    ..Inserted::default()
                };
            };
            self.write(self.len + at, data);
            return Inserted {
                held: held.map(rel),
                queued: self.ooo.bytes() > before,
                ..Inserted::default()
            };
        }
        self.write(self.len, data);
        self.len += data.len();
        // Ranges the new bytes reached join the readable ones; the first one they ran
        // into (every range begins beyond the in-order end) was held already.
        let mut held = None;
        while let Some((s, e)) = self.ooo.take_front(self.end()) {
            if held.is_none() && s < end {
                held = Some(rel((s, e.min(end))));
            }
            let e = e.max(self.end());
            self.len = usize::try_from(e - self.base).unwrap_or(self.len);
        }
        Inserted {
            advanced: (self.end() - start) as usize,
            refused: false,
            queued: false,
            held,
        }
    }

    /// Copy up to `out.len()` readable bytes out; how many.
    #[cfg(test)]
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut at = 0;
        self.read_with(out.len(), |chunk| {
            out[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
            chunk.len()
        })
    }

    /// Hand up to `max` readable bytes to `take` where they lie in the ring, without a
    /// copy: as one slice, or two when they wrap around the ring's end (then `take` is
    /// called again for the second only if it took all of the first). `take` returns how
    /// many bytes of its slice it consumed (more than given counts as all); those are gone
    /// from the ring. Returns the bytes consumed in all.
    pub fn read_with(&mut self, max: usize, mut take: impl FnMut(&[u8]) -> usize) -> usize {
        let mut done = 0;
        while done < max && self.len > 0 {
            let n = (max - done).min(self.len).min(self.cap - self.head);
            let took = take(&self.buf[self.head..self.head + n]).min(n);
            self.consume(took);
            done += took;
            if took < n {
                break;
            }
        }
        done
    }

    /// Copy the first readable bytes into `buf` and keep them (`MSG_PEEK`): both parts
    /// when they wrap around the ring's end. Returns how many were copied.
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len);
        let first = n.min(self.cap - self.head);
        buf[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        buf[first..n].copy_from_slice(&self.buf[..n - first]);
        n
    }

    /// Drop the first `n` readable bytes (`n <= len`).
    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.head = (self.head + n) % self.cap;
        self.len -= n;
        self.base += n as u64;
        if self.len == 0 && self.ooo.is_empty() {
            if self.cap <= INITIAL {
                self.release();
            } else {
                self.head = 0;
            }
        }
    }

    fn release(&mut self) {
        self.buf = Vec::new();
        self.cap = 0;
        self.head = 0;
    }

    /// Make the ring `size` bytes, keeping what it holds (unread and out-of-order bytes)
    /// at their offsets: moved to the start of a new allocation.
    fn grow(&mut self, size: usize) {
        let mut buf = Vec::with_capacity(size);
        if self.cap > 0 {
            // Everything from `head` to the last out-of-order byte.
            let span = self
                .ooo
                .end()
                .map_or(self.len, |e| usize::try_from(e - self.base).unwrap_or(0));
            let first = span.min(self.cap - self.head);
            let a = &self.buf[self.head..self.buf.len().max(self.head).min(self.head + first)];
            buf.extend_from_slice(a);
            buf.resize(first, 0);
            let b = &self.buf[..(span - first).min(self.buf.len())];
            buf.extend_from_slice(b);
            buf.resize(span, 0);
        }
        self.buf = buf;
        self.cap = size;
        self.head = 0;
    }

    /// Copy `data` to `pos` bytes past `head`, wrapping; `pos + data.len() <= cap`.
    fn write(&mut self, pos: usize, data: &[u8]) {
        let at = (self.head + pos) % self.cap;
        let first = data.len().min(self.cap - at);
        self.put(at, &data[..first]);
        self.put(0, &data[first..]);
    }

    /// Copy `data` to index `at` without wrapping, initialising the vector up to there.
    fn put(&mut self, at: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let init = self.buf.len();
        if at > init {
            // A gap the data has not reached yet (its bytes are written when they come).
            self.buf.resize(at, 0);
        }
        let end = at + data.len();
        let overlap = end.min(self.buf.len()).saturating_sub(at);
        self.buf[at..at + overlap].copy_from_slice(&data[..overlap]);
        self.buf.extend_from_slice(&data[overlap..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::conn::assembler::MAX_RANGES;

    /// Stream bytes: byte `o` of the stream is `o % 251`.
    fn bytes(from: u64, n: usize) -> Vec<u8> {
        (from..from + n as u64).map(|o| (o % 251) as u8).collect()
    }

    fn read_all(r: &mut RxRing) -> Vec<u8> {
        let mut out = vec![0; r.readable()];
        let n = r.read(&mut out);
        out.truncate(n);
        out
    }

    /// RFC 2883: bytes held beyond a hole that come again are told apart (for the
    /// D-SACK block), as offsets into the data; in-order data beyond nothing never is.
    #[test]
    fn bytes_held_beyond_a_hole_that_come_again_are_reported() {
        let mut r = RxRing::new(0);
        assert_eq!(r.insert(0, &bytes(0, 100), 4096).held, None);
        assert_eq!(r.insert(100, &bytes(200, 100), 4096).held, None);
        let i = r.insert(100, &bytes(200, 100), 4096);
        assert_eq!((i.held, i.advanced), (Some((0, 100)), 0));
        assert_eq!(r.insert(50, &bytes(150, 100), 4096).held, Some((50, 100)));
        // Filling the hole and running on into the held bytes.
        let i = r.insert(0, &bytes(100, 80), 4096);
        assert_eq!((i.held, i.advanced), (Some((50, 80)), 200));
        assert_eq!(read_all(&mut r), bytes(0, 300));
    }

    #[test]
    fn in_order_bytes_are_readable_at_once() {
        let mut r = RxRing::new(1000);
        assert_eq!(r.allocated(), 0);
        let i = r.insert(0, &bytes(1000, 100), 4096);
        assert_eq!(i.advanced, 100);
        assert_eq!((r.readable(), r.end()), (100, 1100));
        r.insert(0, &bytes(1100, 50), 4096);
        let mut out = [0; 30];
        assert_eq!(r.read(&mut out), 30);
        assert_eq!(out.to_vec(), bytes(1000, 30));
        assert_eq!(read_all(&mut r), bytes(1030, 120));
        assert_eq!(r.allocated(), 0, "released when empty");
        assert_eq!(r.read(&mut out), 0);
    }

    #[test]
    fn a_small_ring_is_released_when_empty_a_whole_buffer_is_kept() {
        let size = 1 << 20;
        let mut r = RxRing::new(0);
        r.insert(0, &bytes(0, 100), size);
        assert_eq!(r.allocated(), INITIAL);
        read_all(&mut r);
        assert_eq!(r.allocated(), 0);
        // Past the first allocation: the whole buffer, kept when emptied.
        r.insert(0, &bytes(100, INITIAL), size);
        r.insert(0, &bytes(100 + INITIAL as u64, 10), size);
        assert_eq!(r.allocated(), size);
        assert_eq!(read_all(&mut r), bytes(100, INITIAL + 10));
        assert_eq!(r.allocated(), size);
        r.insert(0, &bytes(110 + INITIAL as u64, 5), size);
        assert_eq!(read_all(&mut r), bytes(110 + INITIAL as u64, 5));
        // A first segment larger than the first allocation goes to the whole buffer at once.
        let mut r = RxRing::new(0);
        r.insert(0, &bytes(0, INITIAL + 1), size);
        assert_eq!(r.allocated(), size);
    }

    #[test]
    fn out_of_order_bytes_join_when_the_hole_fills() {
        let mut r = RxRing::new(0);
        let queued = Inserted {
            queued: true,
            ..Inserted::default()
        };
        assert_eq!(r.insert(200, &bytes(200, 100), 4096), queued);
        assert_eq!(r.insert(400, &bytes(400, 100), 4096), queued);
        // The same bytes again: nothing new stored, all held.
        let again = r.insert(400, &bytes(400, 100), 4096);
        assert_eq!((again.queued, again.held), (false, Some((0, 100))));
        assert_eq!((r.readable(), r.ooo_bytes(), r.ooo_ranges()), (0, 200, 2));
        // Fills the first hole: 0..300 readable.
        assert_eq!(r.insert(0, &bytes(0, 200), 4096).advanced, 300);
        assert_eq!((r.readable(), r.ooo_ranges()), (300, 1));
        // The second hole, with a segment overlapping both sides.
        assert_eq!(r.insert(0, &bytes(300, 100), 4096).advanced, 200);
        assert_eq!(read_all(&mut r), bytes(0, 500));
        assert!(!r.has_ooo());
        assert_eq!(r.allocated(), 0);
    }

    #[test]
    fn overlapping_and_duplicate_segments_keep_one_copy() {
        let mut r = RxRing::new(0);
        r.insert(100, &bytes(100, 100), 4096);
        r.insert(150, &bytes(150, 100), 4096); // overlaps
        r.insert(100, &bytes(100, 100), 4096); // duplicate
        assert_eq!((r.ooo_bytes(), r.ooo_ranges()), (150, 1));
        // An in-order segment that runs into the range.
        assert_eq!(r.insert(0, &bytes(0, 120), 4096).advanced, 250);
        assert_eq!(read_all(&mut r), bytes(0, 250));
    }

    #[test]
    fn data_beyond_the_buffer_is_cut() {
        let mut r = RxRing::new(0);
        assert_eq!(r.insert(0, &bytes(0, 100), 64).advanced, 64);
        assert_eq!(r.insert(0, &bytes(64, 10), 64).advanced, 0);
        // Beyond a hole: the part past the size is cut, nothing past it recorded.
        let mut r = RxRing::new(0);
        r.insert(50, &bytes(50, 100), 64);
        assert_eq!(r.ooo_bytes(), 14);
        assert_eq!(r.insert(0, &bytes(0, 50), 64).advanced, 64);
        assert_eq!(read_all(&mut r), bytes(0, 64));
    }

    #[test]
    fn the_ring_wraps_around() {
        let size = 1000;
        let mut r = RxRing::new(0);
        let mut next = 0u64;
        let mut got = Vec::new();
        // Segments of 300 (in order) while reading 250 at a time: the ring wraps often.
        for _ in 0..40 {
            let free = size - r.readable();
            let n = free.min(300);
            r.insert(0, &bytes(next, n), size);
            next += n as u64;
            let mut out = [0; 250];
            let k = r.read(&mut out);
            got.extend_from_slice(&out[..k]);
        }
        got.extend(read_all(&mut r));
        assert_eq!(got, bytes(0, next as usize));
    }

    #[test]
    fn peek_copies_across_the_ring_end_and_keeps_the_bytes() {
        let size = 1000;
        let mut r = RxRing::new(0);
        r.insert(0, &bytes(0, 900), size);
        read_all_with(&mut r, 800);
        // Readable 800..1500: 200 bytes to the ring's end, then 500 from its start.
        r.insert(0, &bytes(900, 600), size);
        let mut buf = vec![0u8; 1000];
        assert_eq!(r.peek(&mut buf), 700);
        assert_eq!(&buf[..700], &bytes(800, 700)[..]);
        let mut short = [0u8; 150];
        assert_eq!(r.peek(&mut short), 150);
        assert_eq!(&short[..], &bytes(800, 150)[..]);
        assert_eq!(r.readable(), 700, "nothing taken");
        read_all_with(&mut r, 700);
        assert_eq!(r.peek(&mut buf), 0);
    }

    #[test]
    fn read_with_hands_out_the_bytes_in_place_in_at_most_two_slices() {
        let size = 1000;
        let mut r = RxRing::new(0);
        r.insert(0, &bytes(0, 900), size);
        read_all_with(&mut r, 800);
        // Readable 800..1500: 200 bytes to the ring's end, then 500 from its start.
        r.insert(0, &bytes(900, 600), size);
        let mut seen = Vec::new();
        let n = r.read_with(usize::MAX, |s| {
            seen.push(s.to_vec());
            s.len()
        });
        assert_eq!(n, 700);
        assert_eq!(seen, [bytes(800, 200), bytes(1000, 500)]);
        assert_eq!(r.readable(), 0);
        // `max` bounds what is handed out; a partial take stops there and keeps the rest.
        r.insert(0, &bytes(1500, 600), size);
        let mut calls = 0;
        assert_eq!(
            r.read_with(150, |s| {
                calls += 1;
                assert_eq!(s, &bytes(1500, 150)[..]);
                s.len()
            }),
            150
        );
        assert_eq!(
            r.read_with(usize::MAX, |s| {
                calls += 1;
                assert_eq!(&s[..10], &bytes(1650, 10)[..]);
                10
            }),
            10
        );
        assert_eq!(calls, 2, "a partial take ends the call");
        assert_eq!(
            r.read_with(usize::MAX, |s| s.len() + 99),
            440,
            "more than given is all"
        );
        assert_eq!(
            r.read_with(usize::MAX, |_| unreachable!()),
            0,
            "nothing to hand out"
        );
    }

    /// Consume `n` bytes through `read_with`, checking they are the stream's.
    fn read_all_with(r: &mut RxRing, n: usize) {
        let from = r.end() - r.readable() as u64;
        let mut got = Vec::new();
        r.read_with(n, |s| {
            got.extend_from_slice(s);
            s.len()
        });
        assert_eq!(got, bytes(from, n));
    }

    #[test]
    fn out_of_order_bytes_wrap_too() {
        let size = 1000;
        let mut r = RxRing::new(0);
        r.insert(0, &bytes(0, 900), size);
        let mut out = [0; 800];
        r.read(&mut out);
        // Readable 800..900; a hole 900..1000; 1000..1700 beyond it, wrapping.
        r.insert(100, &bytes(1000, 700), size);
        assert_eq!(r.ooo_bytes(), 700);
        assert_eq!(r.insert(0, &bytes(900, 100), size).advanced, 800);
        assert_eq!(read_all(&mut r), bytes(800, 900));
    }

    #[test]
    fn the_assembler_bound_refuses_new_holes() {
        let mut r = RxRing::new(0);
        let size = 64 * 1024;
        for k in 0..MAX_RANGES {
            let i = r.insert(10 + k * 20, &bytes(10 + 20 * k as u64, 10), size);
            assert!(!i.refused);
        }
        let at = 10 + MAX_RANGES * 20;
        assert!(r.insert(at, &bytes(at as u64, 10), size).refused);
        // Filling holes is always possible.
        for k in 0..MAX_RANGES {
            let at = k * 20 - r.readable().min(k * 20);
            r.insert(at, &bytes(20 * k as u64, 10), size);
        }
        assert_eq!(r.readable(), 20 * MAX_RANGES);
        assert_eq!(read_all(&mut r), bytes(0, 20 * MAX_RANGES));
    }

    #[test]
    fn sack_ranges_are_stream_offsets_most_recent_first() {
        let mut r = RxRing::new(5000);
        r.insert(100, &[1; 10], 4096);
        r.insert(300, &[1; 10], 4096);
        r.insert(200, &[1; 10], 4096);
        let mut out = [(0, 0); 3];
        assert_eq!(r.sack_ranges(&mut out), 3);
        assert_eq!(out, [(5200, 5210), (5300, 5310), (5100, 5110)]);
    }

    #[test]
    fn growing_keeps_unread_and_out_of_order_bytes() {
        let mut r = RxRing::new(0);
        r.insert(0, &bytes(0, 60), 100);
        let mut out = [0; 50];
        r.read(&mut out);
        r.insert(0, &bytes(60, 70 - 60 + 30), 100); // readable 50..100, head at 50
        r.insert(20, &bytes(120, 30), 200); // SO_RCVBUF raised: fits, no growth yet
        assert_eq!(r.allocated(), 100);
        r.insert(60, &bytes(160, 30), 200); // past the ring with a hole: grows
        assert_eq!(r.allocated(), 200);
        assert_eq!(r.insert(0, &bytes(100, 60), 200).advanced, 90);
        assert_eq!(read_all(&mut r), bytes(50, 140));
    }

    /// Random segments (reordered, duplicated, overlapping) against a model: the bytes
    /// read are the stream, the counts stay consistent, nothing is lost that fitted.
    #[test]
    fn random_segments_match_the_stream() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for round in 0..50 {
            let size = 500 + rnd(3000) as usize;
            let mut r = RxRing::new(round * 1_000_000);
            let base = round * 1_000_000;
            let mut got = Vec::new();
            while got.len() < 20_000 {
                let end = r.end();
                let at = rnd(size as u64 / 2) as usize;
                let at = if rnd(3) == 0 { 0 } else { at };
                let n = 1 + rnd(400) as usize;
                let before = (r.readable(), r.ooo_bytes());
                let i = r.insert(at, &bytes(end - base + at as u64, n), size);
                assert!(!i.refused);
                assert_eq!(r.ooo_bytes(), r.ooo_bytes_counted());
                assert!(r.readable() + r.ooo_bytes() <= size);
                assert!(r.readable() >= before.0);
                if rnd(2) == 0 {
                    let mut out = vec![0; rnd(700) as usize];
                    let k = r.read(&mut out);
                    got.extend_from_slice(&out[..k]);
                }
            }
            got.extend(read_all(&mut r));
            assert_eq!(got, bytes(0, got.len()), "round {round}");
        }
    }

    #[test]
    fn random_inserts_and_reads_match_a_byte_model() {
        let mut seed: u64 = 0x1234_5678_9abc_def0;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for round in 0..30 {
            let size = [100usize, 4096, 16 * 1024, 20_000, 70_000][(round % 5) as usize];
            let base = u64::MAX / 2 + rnd(1000);
            let mut r = RxRing::new(base);
            // model: bytes at stream offsets, read pointer
            let mut have: std::collections::BTreeMap<u64, u8> = Default::default();
            let mut e = base;
            let mut out_all: Vec<u8> = Vec::new();
            for _ in 0..400 {
                if rnd(4) == 0 {
                    let mut out = vec![0; rnd(3000) as usize];
                    let n = r.read(&mut out);
                    out_all.extend_from_slice(&out[..n]);
                    continue;
                }
                let at = if rnd(3) == 0 {
                    0
                } else {
                    rnd(size as u64) as usize
                };
                let len = 1 + rnd(1500) as usize;
                let start = r.end() + at as u64;
                let data = bytes(start, len);
                let room = size.saturating_sub(r.readable()).saturating_sub(at);
                let before_end = r.end();
                let ins = r.insert(at, &data, size);
                if !ins.refused {
                    for o in start..start + len.min(room) as u64 {
                        have.insert(o, (o % 251) as u8);
                    }
                }
                // The model's readable end: contiguous from where reading began.
                while have.contains_key(&e) {
                    e += 1;
                }
                assert_eq!(
                    r.end(),
                    e,
                    "round {round}: end {} model {e} (before {before_end}, at {at}, len {len})",
                    r.end()
                );
                assert!(r.ooo_bytes() <= size);
            }
            let mut out = vec![0; r.readable()];
            let n = r.read(&mut out);
            out_all.extend_from_slice(&out[..n]);
            assert_eq!(out_all, bytes(base, out_all.len()), "round {round}");
        }
    }
}
