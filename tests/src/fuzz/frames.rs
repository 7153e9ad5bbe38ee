//! Building frames for the fuzz targets, putting right the checksums a mutation broke,
//! and the byte-level mutations themselves (shared by the whole-stack target and the
//! stable driver).

use arbitrary::Unstructured;
use ip::checksum;
use ip::ipv4::{self, Ipv4Packet, Ipv4Repr};
use netif::ethernet::{self, ethertype};
use std::net::Ipv4Addr;

/// An Ethernet frame around a payload: the crate's shared builder.
pub use crate::frames::eth;

/// The header fields of a datagram (or fragment) to build.
#[derive(Clone, Copy, Debug)]
pub struct Ip {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub ident: u16,
    pub df: bool,
    /// Fragment offset in bytes (rounded down to 8).
    pub offset: usize,
    pub mf: bool,
}

impl Ip {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Ip {
        Ip {
            src,
            dst,
            protocol,
            ttl: 64,
            ident: 1,
            df: false,
            offset: 0,
            mf: false,
        }
    }

    /// The datagram: a 20-byte header (with `options`, padded to 4 bytes, if any) and
    /// `payload`, cut at the largest IPv4 datagram.
    pub fn datagram(&self, options: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut opts = options[..options.len().min(40)].to_vec();
        while !opts.len().is_multiple_of(4) {
            opts.push(0);
        }
        let room = usize::from(u16::MAX) - ipv4::HEADER_LEN - opts.len();
        let payload = &payload[..payload.len().min(room)];
        let r = Ipv4Repr {
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            ttl: self.ttl,
            tos: 0,
            ident: self.ident,
            dont_fragment: self.df,
            payload_len: payload.len(),
        };
        let hl = ipv4::HEADER_LEN + opts.len();
        let mut v = vec![0u8; hl + payload.len()];
        r.emit_with_options(&mut v, &opts, self.offset & !7, self.mf);
        v[hl..].copy_from_slice(payload);
        v
    }
}

/// Put the checksums of an Ethernet/IPv4 frame right (IP header; and TCP, UDP or ICMP when
/// the datagram is whole), so that a mutation reaches the code behind the checksum checks.
pub fn fix_checksums(frame: &mut [u8]) {
    let Some(f) = ethernet::Frame::new_checked(frame) else {
        return;
    };
    if f.ethertype() != ethertype::IPV4 {
        return;
    }
    let ip = &mut frame[ethernet::HEADER_LEN..];
    let (hl, total, src, dst, protocol, whole) = match Ipv4Packet::new_checked(ip) {
        Ok(p) => (
            p.header_len(),
            p.total_len(),
            p.src(),
            p.dst(),
            p.protocol(),
            !p.is_fragment(),
        ),
        Err(_) => return,
    };
    ipv4::fill_checksum(&mut ip[..hl]);
    if !whole {
        return;
    }
    let l4 = &mut ip[hl..total];
    let at = match protocol {
        ipv4::protocol::TCP => 16,
        ipv4::protocol::UDP => 6,
        ipv4::protocol::ICMP => 2,
        _ => return,
    };
    if l4.len() < at + 2 {
        return;
    }
    l4[at] = 0;
    l4[at + 1] = 0;
    let acc = if protocol == ipv4::protocol::ICMP {
        0
    } else {
        checksum::pseudo_header(src, dst, protocol, l4.len() as u16)
    };
    let mut c = checksum::finish(checksum::sum(l4, acc));
    if c == 0 && protocol == ipv4::protocol::UDP {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Values that sit on the edges of length and flag fields.
const INTERESTING: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x45, 0x10, 20, 60];

/// Apply one to four byte-level mutations chosen by `u` to `bytes`: flip a bit, set a byte
/// (to an edge value or any), add to a byte, insert or delete bytes, truncate, or append.
/// The result stays at most `max_len` long.
pub fn mutate(u: &mut Unstructured<'_>, bytes: &mut Vec<u8>, max_len: usize) {
    let n = u.int_in_range(1..=4u8).unwrap_or(1);
    for _ in 0..n {
        let at = |u: &mut Unstructured<'_>, len: usize| -> usize {
            if len == 0 {
                0
            } else {
                u.choose_index(len).unwrap_or(0)
            }
        };
        match u.int_in_range(0..=7u8).unwrap_or(0) {
            0 if !bytes.is_empty() => {
                let i = at(u, bytes.len());
                let bit = u.int_in_range(0..=7u8).unwrap_or(0);
                bytes[i] ^= 1 << bit;
            }
            1 if !bytes.is_empty() => {
                let i = at(u, bytes.len());
                bytes[i] = *u.choose(&INTERESTING).unwrap_or(&0);
            }
            2 if !bytes.is_empty() => {
                let i = at(u, bytes.len());
                bytes[i] = u.arbitrary().unwrap_or(0);
            }
            3 if !bytes.is_empty() => {
                let i = at(u, bytes.len());
                let d: i8 = u.int_in_range(-8..=8).unwrap_or(1);
                bytes[i] = bytes[i].wrapping_add_signed(d);
            }
            4 => {
                let i = at(u, bytes.len() + 1);
                let k = u.int_in_range(1..=16usize).unwrap_or(1);
                for _ in 0..k {
                    bytes.insert(i.min(bytes.len()), u.arbitrary().unwrap_or(0));
                }
            }
            5 if !bytes.is_empty() => {
                let i = at(u, bytes.len());
                let k = u.int_in_range(1..=16usize).unwrap_or(1);
                bytes.drain(i..(i + k).min(bytes.len()));
            }
            6 => {
                let keep = at(u, bytes.len() + 1);
                bytes.truncate(keep);
            }
            _ => {
                let k = u.int_in_range(1..=64usize).unwrap_or(1);
                bytes.extend((0..k).map(|_| u.arbitrary::<u8>().unwrap_or(0)));
            }
        }
    }
    bytes.truncate(max_len);
}
