//! The TCP header (RFC 9293 3.1) and the options this stack speaks: MSS (kind 2), window
//! scale (RFC 7323, kind 3), SACK-permitted and SACK (RFC 2018, kinds 4 and 5) and timestamps
//! (RFC 7323, kind 8), and TCP Fast Open's cookie (RFC 7413, kind 34, or the shared
//! experimental kind 254 with its magic 0xF989, RFC 6994, as Linux also sends and reads
//! it). Other options are skipped by their length; a malformed
//! option list ends the parse of options (what was read so far is kept) rather than the
//! segment, as RFC 9293 3.1 asks ("be prepared to handle an illegal option length").

use super::seq::Seq;
use ip::checksum;
use std::fmt;
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 20;
/// Header with the options a SYN of ours carries: MSS (4 bytes), NOP + window scale (4),
/// SACK-permitted + timestamps (12): 20 of the 40 option bytes, leaving 20 for a Fast
/// Open cookie of up to 16 bytes.
pub const MAX_SYN_HEADER_LEN: usize = 40;
/// The timestamps option as we send it (NOP NOP + kind 8, length 10).
pub const TIMESTAMP_LEN: usize = 12;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    /// ECN-Echo (RFC 3168 6.1): in a SYN with CWR, "I can do ECN"; in a SYN-ACK alone,
    /// "agreed"; after the handshake, "a segment of yours came marked".
    pub const ECE: u8 = 0x40;
    /// Congestion Window Reduced (RFC 3168 6.1.2): the sender answered an ECE.
    pub const CWR: u8 = 0x80;
}

mod opt {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
    pub const FASTOPEN: u8 = 34;
    /// The shared experimental option (RFC 6994) ...
    pub const EXPERIMENTAL: u8 = 254;
    /// ... whose magic says Fast Open (the encoding before kind 34 was assigned).
    pub const FASTOPEN_MAGIC: [u8; 2] = [0xf9, 0x89];
}

/// The longest TCP Fast Open cookie (RFC 7413 4.1.1: 4 to 16 bytes).
pub const MAX_FASTOPEN_COOKIE: usize = 16;

/// A TCP Fast Open option (RFC 7413 2), in a SYN or SYN-ACK: empty, a client's request
/// for a cookie; otherwise a cookie of 4 to 16 bytes, an even number of them (4.1.1 with
/// its erratum: an option of another length is ignored). `exp`: in the experimental
/// encoding (kind 254, magic 0xF989), which a server answers in.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct FastOpen {
    len: u8,
    bytes: [u8; MAX_FASTOPEN_COOKIE],
    pub exp: bool,
}

impl FastOpen {
    /// A client's request for a cookie (the option with no cookie).
    pub const REQUEST: FastOpen = FastOpen {
        len: 0,
        bytes: [0; MAX_FASTOPEN_COOKIE],
        exp: false,
    };

    /// The option carrying `cookie`; `None` unless it is 4 to 16 bytes long, and even.
    pub fn cookie(cookie: &[u8]) -> Option<FastOpen> {
        if !(4..=MAX_FASTOPEN_COOKIE).contains(&cookie.len()) || !cookie.len().is_multiple_of(2) {
            return None;
        }
        let mut f = FastOpen {
            len: cookie.len() as u8,
            ..FastOpen::REQUEST
        };
        f.bytes[..cookie.len()].copy_from_slice(cookie);
        Some(f)
    }

    /// The cookie (empty for a request).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn is_request(&self) -> bool {
        self.len == 0
    }

    /// The same option in the experimental encoding.
    pub fn experimental(self) -> FastOpen {
        FastOpen { exp: true, ..self }
    }

    /// Kind, length, magic (experimental) and cookie.
    fn option_len(&self) -> usize {
        2 + if self.exp { 2 } else { 0 } + usize::from(self.len)
    }

    /// Bytes in the header: the option after NOPs to a multiple of four.
    fn wire_len(&self) -> usize {
        self.option_len().next_multiple_of(4)
    }
}

impl fmt::Debug for FastOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.exp { "exp-tfo" } else { "tfo" };
        if self.is_request() {
            return write!(f, "{name} request");
        }
        write!(f, "{name} cookie ")?;
        self.bytes().iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// SACK blocks an ACK of ours carries at most (4 fit in 40 option bytes without
/// timestamps, RFC 2018 3).
pub const MAX_SACK_BLOCKS: usize = 4;
/// ... and with the 12 bytes of timestamps beside them, 3.
pub const MAX_SACK_BLOCKS_WITH_TS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("segment shorter than its header")]
    Truncated,
    #[error("bad data offset")]
    BadOffset,
}

/// A TCP header, parsed or to be emitted.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: Seq,
    pub ack: Seq,
    pub flags: u8,
    /// The window field as on the wire (unscaled).
    pub window: u16,
    /// MSS, window scale, SACK-permitted and Fast Open are a SYN's options: `emit`
    /// writes them only on a segment with SYN set.
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    /// SACK-permitted (RFC 2018, in SYNs).
    pub sack_permitted: bool,
    /// SACK blocks `[left, right)`; the first `sack_count` are valid.
    pub sack: [(Seq, Seq); MAX_SACK_BLOCKS],
    pub sack_count: u8,
    /// Timestamps (RFC 7323 3): (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
    /// The urgent pointer (RFC 9293 3.1), meaningful with URG: the offset from `seq` of
    /// the octet that follows the urgent data (RFC 9293 3.8.5, MUST-62).
    pub urgent: u16,
    /// The ECN field of the IP header that carried the segment (RFC 3168 5: 0 Not-ECT,
    /// 1 or 2 ECT, 3 Congestion Experienced): set by the receive path, not a part of
    /// TCP's header.
    pub ecn: u8,
    /// TCP Fast Open (RFC 7413), in a SYN or SYN-ACK.
    pub fastopen: Option<FastOpen>,
}

impl TcpRepr {
    /// The IP header said Congestion Experienced (RFC 3168 5: both ECN bits set).
    pub fn ce(&self) -> bool {
        self.ecn == 0b11
    }

    /// The SACK blocks present (as emitted: with timestamps at most 3 fit the 40 option
    /// bytes).
    pub fn sack_blocks(&self) -> &[(Seq, Seq)] {
        let max = if self.timestamp.is_some() {
            MAX_SACK_BLOCKS_WITH_TS
        } else {
            MAX_SACK_BLOCKS
        };
        &self.sack[..usize::from(self.sack_count).min(max)]
    }

    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Header length with the options set.
    pub fn header_len(&self) -> usize {
        let sack = if self.sack_count > 0 {
            4 + 8 * self.sack_blocks().len()
        } else {
            0
        };
        HEADER_LEN
            + if self.timestamp.is_some() {
                TIMESTAMP_LEN
            } else {
                0
            }
            + sack
            + self.syn_options_len()
    }

    /// The options only a SYN or SYN-ACK carries (MSS, window scale, SACK-permitted, Fast
    /// Open): none on any other segment, which is most of them.
    fn syn_options_len(&self) -> usize {
        if !self.has(flags::SYN) {
            return 0;
        }
        (if self.mss.is_some() { 4 } else { 0 })
            + if self.wscale.is_some() { 4 } else { 0 }
            // With timestamps, in the NOPs before them (as Linux packs it).
            + if self.sack_permitted && self.timestamp.is_none() { 4 } else { 0 }
            + self.fastopen.map_or(0, |f| f.wire_len())
    }

    /// Parse a segment (the IP payload). The checksum is checked separately.
    pub fn parse(buf: &[u8]) -> Result<(TcpRepr, &[u8]), WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let off = usize::from(buf[12] >> 4) * 4;
        if off < HEADER_LEN {
            return Err(WireError::BadOffset);
        }
        if off > buf.len() {
            return Err(WireError::Truncated);
        }
        let be16 = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let mut r = TcpRepr {
            src_port: be16(0),
            dst_port: be16(2),
            seq: Seq(be32(4)),
            ack: Seq(be32(8)),
            flags: buf[13],
            window: be16(14),
            mss: None,
            wscale: None,
            sack_permitted: false,
            sack: Default::default(),
            sack_count: 0,
            timestamp: None,
            urgent: be16(18),
            ecn: 0,
            fastopen: None,
        };
        let mut opts = &buf[HEADER_LEN..off];
        while let Some((&kind, rest)) = opts.split_first() {
            match kind {
                opt::END => break,
                opt::NOP => {
                    opts = rest;
                    continue;
                }
                _ => {}
            }
            let Some(&len) = rest.first() else { break };
            let len = usize::from(len);
            if len < 2 || len > opts.len() {
                break; // malformed: ignore the rest of the options
            }
            let body = &opts[2..len];
            match (kind, body.len()) {
                (opt::MSS, 2) => r.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (opt::WSCALE, 1) => r.wscale = Some(body[0]),
                (opt::SACK_PERMITTED, 0) => r.sack_permitted = true,
                (opt::TIMESTAMP, 8) => {
                    let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    r.timestamp = Some((v, e));
                }
                (opt::FASTOPEN, n) if n == 0 || (4..=MAX_FASTOPEN_COOKIE).contains(&n) => {
                    r.fastopen = if n == 0 {
                        Some(FastOpen::REQUEST)
                    } else {
                        FastOpen::cookie(body)
                    };
                }
                (opt::EXPERIMENTAL, n)
                    if body[..2.min(n)] == opt::FASTOPEN_MAGIC
                        && (n == 2 || (6..=2 + MAX_FASTOPEN_COOKIE).contains(&n)) =>
                {
                    r.fastopen = if n == 2 {
                        Some(FastOpen::REQUEST.experimental())
                    } else {
                        FastOpen::cookie(&body[2..]).map(FastOpen::experimental)
                    };
                }
                (opt::SACK, n) if n % 8 == 0 => {
                    for b in body.chunks_exact(8).take(MAX_SACK_BLOCKS) {
                        let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        let rr = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        r.sack[usize::from(r.sack_count)] = (Seq(l), Seq(rr));
                        r.sack_count += 1;
                    }
                }
                _ => {}
            }
            opts = &opts[len..];
        }
        Ok((r, &buf[off..]))
    }

    /// Write the header (with checksum) into `buf`, whose payload is already in place after
    /// `header_len()` bytes.
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        self.emit_header(buf);
        let len = u16::try_from(buf.len()).unwrap_or(u16::MAX);
        let acc = checksum::pseudo_header(src, dst, ip::ipv4::protocol::TCP, len);
        let c = checksum::finish(checksum::sum(buf, acc));
        buf[CHECKSUM_AT..CHECKSUM_AT + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// Write the header with a zero checksum, which `ip` fills in (or leaves to the device):
    /// see `SendMeta::l4_csum`.
    pub fn emit_header(&self, buf: &mut [u8]) {
        let hl = self.header_len();
        buf[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        buf[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        buf[4..8].copy_from_slice(&self.seq.0.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ack.0.to_be_bytes());
        buf[12] = ((hl / 4) as u8) << 4;
        buf[13] = self.flags;
        buf[14..16].copy_from_slice(&self.window.to_be_bytes());
        buf[16..18].copy_from_slice(&[0, 0]);
        buf[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        let mut i = HEADER_LEN;
        let syn = self.has(flags::SYN);
        // SACK-permitted rides in the two bytes before the timestamps, where a NOP pair
        // would be (Linux's layout), so a SYN's options leave room for a 16-byte Fast
        // Open cookie: 4 + 4 + 12 + 20 = 40 bytes.
        let mut sack_with_ts = false;
        if syn {
            sack_with_ts = self.sack_permitted && self.timestamp.is_some();
            if let Some(m) = self.mss {
                buf[i..i + 4].copy_from_slice(&[opt::MSS, 4, (m >> 8) as u8, m as u8]);
                i += 4;
            }
            if let Some(w) = self.wscale {
                buf[i..i + 4].copy_from_slice(&[opt::NOP, opt::WSCALE, 3, w]);
                i += 4;
            }
            if self.sack_permitted && !sack_with_ts {
                buf[i..i + 4].copy_from_slice(&[opt::NOP, opt::NOP, opt::SACK_PERMITTED, 2]);
                i += 4;
            }
        }
        if let Some((v, e)) = self.timestamp {
            buf[i..i + 4].copy_from_slice(&[opt::NOP, opt::NOP, opt::TIMESTAMP, 10]);
            if sack_with_ts {
                buf[i..i + 2].copy_from_slice(&[opt::SACK_PERMITTED, 2]);
            }
            buf[i + 4..i + 8].copy_from_slice(&v.to_be_bytes());
            buf[i + 8..i + 12].copy_from_slice(&e.to_be_bytes());
            i += TIMESTAMP_LEN;
        }
        if self.sack_count > 0 {
            let blocks = self.sack_blocks();
            buf[i..i + 4].copy_from_slice(&[
                opt::NOP,
                opt::NOP,
                opt::SACK,
                (2 + 8 * blocks.len()) as u8,
            ]);
            i += 4;
            for (l, r) in blocks {
                buf[i..i + 4].copy_from_slice(&l.0.to_be_bytes());
                buf[i + 4..i + 8].copy_from_slice(&r.0.to_be_bytes());
                i += 8;
            }
        }
        if let Some(f) = self.fastopen.filter(|_| syn) {
            let pad = f.wire_len() - f.option_len();
            buf[i..i + pad].fill(opt::NOP);
            i += pad;
            buf[i + 1] = f.option_len() as u8;
            if f.exp {
                buf[i] = opt::EXPERIMENTAL;
                buf[i + 2..i + 4].copy_from_slice(&opt::FASTOPEN_MAGIC);
                i += 2;
            } else {
                buf[i] = opt::FASTOPEN;
            }
            let n = f.bytes().len();
            buf[i + 2..i + 2 + n].copy_from_slice(f.bytes());
        }
    }
}

/// Where the checksum sits in the TCP header.
pub const CHECKSUM_AT: usize = 16;

/// Does the segment's checksum (over the pseudo-header, RFC 9293 3.1) verify?
pub fn verify_checksum(segment: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let Ok(len) = u16::try_from(segment.len()) else {
        return false;
    };
    let acc = checksum::pseudo_header(src, dst, ip::ipv4::protocol::TCP, len);
    checksum::finish(checksum::sum(segment, acc)) == 0
}

/// Flags as tcpdump prints them: `S`, `S.`, `FP.`, `S.E` (one formatter, the tracer's).
pub use netif::trace::tcp_flags as flag_string;

impl fmt::Debug for TcpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}>{} [{}] seq {} ack {} win {}",
            self.src_port,
            self.dst_port,
            flag_string(self.flags),
            self.seq,
            self.ack,
            self.window
        )?;
        if self.has(flags::URG) {
            write!(f, " urg {}", self.urgent)?;
        }
        if let Some(m) = self.mss {
            write!(f, " mss {m}")?;
        }
        if let Some(w) = self.wscale {
            write!(f, " wscale {w}")?;
        }
        if let Some((v, e)) = self.timestamp {
            write!(f, " TS val {v} ecr {e}")?;
        }
        if let Some(o) = self.fastopen {
            write!(f, " {o:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn build(r: &TcpRepr, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0; r.header_len() + payload.len()];
        b[r.header_len()..].copy_from_slice(payload);
        r.emit(&mut b, A, B);
        b
    }

    /// The urgent pointer (bytes 18-19 of the header, RFC 9293 3.1) is read and written.
    #[test]
    fn the_urgent_pointer_is_parsed_and_emitted() {
        let r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: Seq(7),
            flags: flags::ACK | flags::URG,
            urgent: 0x1234,
            ..TcpRepr::default()
        };
        let b = build(&r, b"x!");
        assert_eq!(b[18..20], [0x12, 0x34]);
        assert!(verify_checksum(&b, A, B));
        let (p, data) = TcpRepr::parse(&b).unwrap();
        assert_eq!(p, r);
        assert_eq!(data, b"x!");
    }

    #[test]
    fn round_trip_with_options() {
        let r = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: Seq(7),
            ack: Seq(9),
            flags: flags::SYN | flags::ACK,
            window: 65535,
            mss: Some(1460),
            wscale: Some(7),
            sack_permitted: true,
            ..TcpRepr::default()
        };
        let b = build(&r, b"hi");
        assert!(verify_checksum(&b, A, B));
        assert!(!verify_checksum(&b, B, Ipv4Addr::new(10, 0, 0, 3)));
        let (p, payload) = TcpRepr::parse(&b).unwrap();
        assert_eq!(p, r);
        assert_eq!(payload, b"hi");
        // etherparse reads the same header.
        let h = etherparse::TcpHeader::from_slice(&b).unwrap().0;
        assert_eq!(
            (h.source_port, h.destination_port, h.syn, h.ack),
            (1234, 80, true, true)
        );
        assert_eq!(h.sequence_number, 7);
    }

    #[test]
    fn sack_blocks_round_trip() {
        let mut r = TcpRepr {
            flags: flags::ACK,
            ..TcpRepr::default()
        };
        r.sack[0] = (Seq(100), Seq(200));
        r.sack[1] = (Seq(u32::MAX - 5), Seq(10));
        r.sack_count = 2;
        assert_eq!(r.header_len(), 20 + 4 + 16);
        let b = build(&r, &[]);
        let (p, _) = TcpRepr::parse(&b).unwrap();
        assert_eq!(p.sack_blocks(), r.sack_blocks());
        // A SACK option whose length is not 2 + 8n is ignored.
        let mut b = vec![0u8; 32];
        b[12] = 8 << 4;
        b[20..27].copy_from_slice(&[5, 7, 0, 0, 0, 1, 0]);
        assert_eq!(TcpRepr::parse(&b).unwrap().0.sack_count, 0);
    }

    #[test]
    fn timestamps_round_trip_and_fit_a_syn() {
        let r = TcpRepr {
            flags: flags::SYN,
            mss: Some(1460),
            wscale: Some(7),
            sack_permitted: true,
            timestamp: Some((0xdead_beef, 0)),
            ..TcpRepr::default()
        };
        assert_eq!(r.header_len(), MAX_SYN_HEADER_LEN);
        assert!(r.header_len() <= 60, "options fit 40 bytes");
        let b = build(&r, &[]);
        assert_eq!(TcpRepr::parse(&b).unwrap().0, r);
        let h = etherparse::TcpHeader::from_slice(&b).unwrap().0;
        let ts = h.options_iterator().find_map(|o| match o {
            Ok(etherparse::TcpOptionElement::Timestamp(v, e)) => Some((v, e)),
            _ => None,
        });
        assert_eq!(ts, Some((0xdead_beef, 0)));
        // A timestamps option of the wrong length is ignored.
        let mut b = vec![0u8; 32];
        b[12] = 8 << 4;
        b[20..29].copy_from_slice(&[8, 9, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(TcpRepr::parse(&b).unwrap().0.timestamp, None);
    }

    #[test]
    fn sack_blocks_shrink_to_three_beside_timestamps() {
        let mut r = TcpRepr {
            flags: flags::ACK,
            timestamp: Some((1, 2)),
            ..TcpRepr::default()
        };
        for i in 0..4 {
            r.sack[i] = (Seq(100 * i as u32), Seq(100 * i as u32 + 50));
        }
        r.sack_count = 4;
        assert_eq!(r.sack_blocks().len(), 3);
        assert_eq!(r.header_len(), 20 + 12 + 4 + 24);
        assert_eq!(r.header_len(), 60, "exactly the 40 option bytes");
        let b = build(&r, b"x");
        let (p, payload) = TcpRepr::parse(&b).unwrap();
        assert_eq!(p.sack_blocks(), &r.sack[..3]);
        assert_eq!(p.timestamp, Some((1, 2)));
        assert_eq!(payload, b"x");
        r.timestamp = None;
        assert_eq!(r.sack_blocks().len(), 4);
    }

    #[test]
    fn bad_headers() {
        assert_eq!(TcpRepr::parse(&[0; 19]), Err(WireError::Truncated));
        let mut b = build(&TcpRepr::default(), &[]);
        b[12] = 4 << 4;
        assert_eq!(TcpRepr::parse(&b), Err(WireError::BadOffset));
        b[12] = 15 << 4;
        assert_eq!(TcpRepr::parse(&b), Err(WireError::Truncated));
    }

    #[test]
    fn fast_open_options_round_trip() {
        let cookie = [0xa1, 0xb2, 0xc3, 0xd4, 5, 6, 7, 8];
        for (fo, wire) in [
            (FastOpen::REQUEST, vec![1, 1, 34, 2]),
            (
                FastOpen::cookie(&cookie).unwrap(),
                vec![1, 1, 34, 10, 0xa1, 0xb2, 0xc3, 0xd4, 5, 6, 7, 8],
            ),
            (
                FastOpen::cookie(&[9; 6]).unwrap(),
                vec![34, 8, 9, 9, 9, 9, 9, 9],
            ),
            (FastOpen::REQUEST.experimental(), vec![254, 4, 0xf9, 0x89]),
            (
                FastOpen::cookie(&cookie).unwrap().experimental(),
                vec![254, 12, 0xf9, 0x89, 0xa1, 0xb2, 0xc3, 0xd4, 5, 6, 7, 8],
            ),
        ] {
            let r = TcpRepr {
                src_port: 1234,
                dst_port: 80,
                flags: flags::SYN,
                mss: Some(1460),
                timestamp: Some((1, 0)),
                fastopen: Some(fo),
                ..TcpRepr::default()
            };
            assert_eq!(r.header_len(), HEADER_LEN + 4 + TIMESTAMP_LEN + wire.len());
            let b = build(&r, b"GET /");
            assert_eq!(b[HEADER_LEN + 16..r.header_len()], wire[..]);
            let (p, payload) = TcpRepr::parse(&b).unwrap();
            assert_eq!(p, r);
            assert_eq!(p.fastopen.unwrap().bytes(), fo.bytes());
            assert_eq!(payload, b"GET /");
        }
        // Cookies shorter than 4 or longer than 16 bytes are no option at all.
        assert!(FastOpen::cookie(&[1, 2, 3]).is_none());
        assert!(FastOpen::cookie(&[1; 17]).is_none());
        assert!(FastOpen::cookie(&[1; 5]).is_none(), "odd");
        let mut b = vec![0u8; 28];
        b[12] = 7 << 4;
        b[20..25].copy_from_slice(&[34, 5, 1, 2, 3]);
        assert_eq!(TcpRepr::parse(&b).unwrap().0.fastopen, None);
        // Kind 254 with another magic is someone else's experiment.
        b[20..25].copy_from_slice(&[254, 4, 0x12, 0x34, 0]);
        assert_eq!(TcpRepr::parse(&b).unwrap().0.fastopen, None);
    }

    #[test]
    fn a_syn_with_every_option_and_a_16_byte_cookie_fits_the_header() {
        let r = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            flags: flags::SYN,
            mss: Some(1460),
            wscale: Some(7),
            sack_permitted: true,
            timestamp: Some((5, 0)),
            fastopen: FastOpen::cookie(&[0x5a; 16]),
            ..TcpRepr::default()
        };
        assert_eq!(r.header_len(), 60);
        let b = build(&r, b"data");
        // SACK-permitted in the timestamps' NOPs.
        assert_eq!(b[28..32], [4, 2, 8, 10]);
        let (p, payload) = TcpRepr::parse(&b).unwrap();
        assert_eq!((p, payload), (r, &b"data"[..]));
        let h = etherparse::TcpHeader::from_slice(&b).unwrap().0;
        assert_eq!(h.header_len(), 60);
        // Without SYN none of the SYN options is written.
        let ack = TcpRepr {
            flags: flags::ACK,
            ..r
        };
        assert_eq!(ack.header_len(), HEADER_LEN + TIMESTAMP_LEN);
    }

    #[test]
    fn odd_options_are_tolerated() {
        // Unknown option kind 30 (len 4), SACK-permitted, then MSS with a bad length,
        // then a length running past the header.
        let mut b = vec![0u8; 40];
        b[12] = 10 << 4;
        b[20..24].copy_from_slice(&[30, 4, 1, 2]);
        b[24..26].copy_from_slice(&[4, 2]);
        b[26..29].copy_from_slice(&[2, 3, 5]);
        b[29..31].copy_from_slice(&[1, 3]);
        let (r, payload) = TcpRepr::parse(&b).unwrap();
        assert_eq!(r.mss, None);
        assert!(payload.is_empty());
        // Length 0 and length 1 options stop the parse without looping.
        for bad in [[2u8, 0], [3, 1]] {
            let mut b = vec![0u8; 24];
            b[12] = 6 << 4;
            b[20..22].copy_from_slice(&bad);
            assert!(TcpRepr::parse(&b).is_ok());
        }
        // Options after an unknown one are still read.
        let mut b = vec![0u8; 32];
        b[12] = 8 << 4;
        b[20..24].copy_from_slice(&[30, 4, 1, 2]);
        b[24..28].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        b[28..31].copy_from_slice(&[3, 3, 14]);
        let (r, _) = TcpRepr::parse(&b).unwrap();
        assert_eq!((r.mss, r.wscale), (Some(1460), Some(14)));
    }

    #[test]
    fn parse_never_panics() {
        let mut x: u64 = 0x1234_5678;
        for len in 0..200 {
            let mut b = vec![0u8; len];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x as u8;
            }
            let _ = TcpRepr::parse(&b);
            let _ = verify_checksum(&b, A, B);
        }
    }

    #[test]
    fn flags_print_like_tcpdump() {
        assert_eq!(flag_string(flags::SYN | flags::ACK), "S.");
        assert_eq!(flag_string(flags::FIN | flags::ACK), "F.");
        assert_eq!(flag_string(flags::RST), "R");
        assert_eq!(flag_string(0), "none");
        assert_eq!(flag_string(flags::SYN | flags::ECE | flags::CWR), "SEW");
        assert_eq!(flag_string(flags::SYN | flags::ACK | flags::ECE), "S.E");
        // tcpdump's order (checked against tcpdump 4.99 reading such segments).
        assert_eq!(flag_string(flags::FIN | flags::PSH | flags::ACK), "FP.");
        assert_eq!(flag_string(flags::PSH | flags::ACK | flags::URG), "P.U");
        assert_eq!(flag_string(flags::SYN | flags::FIN), "FS");
        assert_eq!(flag_string(0xff), "FSRP.UEW");
    }
}
