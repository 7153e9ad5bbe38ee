//! Ethernet II framing (IEEE 802.3 with an EtherType, as RFC 894 carries IPv4).
//!
//! A checked view over received bytes and an in-place writer for frames being built.

use crate::MacAddr;

pub use crate::device::ETHERNET_HEADER_LEN as HEADER_LEN;

/// EtherType values this stack speaks.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// A frame whose header length has been checked, so no accessor can panic.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    /// `None` for a runt shorter than the 14-byte header.
    pub fn new_checked(bytes: &'a [u8]) -> Option<Frame<'a>> {
        (bytes.len() >= HEADER_LEN).then_some(Frame { bytes })
    }

    pub fn dst(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.bytes[field::DST]);
        MacAddr(a)
    }

    pub fn src(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.bytes[field::SRC]);
        MacAddr(a)
    }

    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.bytes[12], self.bytes[13]])
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
}

/// The parsed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse(frame: &Frame<'_>) -> Repr {
        Repr {
            dst: frame.dst(),
            src: frame.src(),
            ethertype: frame.ethertype(),
        }
    }

    /// Write the header into the first 14 bytes of `buf` (which must hold them).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::DST].copy_from_slice(&self.dst.0);
        buf[field::SRC].copy_from_slice(&self.src.0);
        buf[field::ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An ARP request as Linux sends it, captured from a tap: broadcast dst, EtherType 0x0806.
    const ARP_FRAME: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00,
        0x01,
    ];

    #[test]
    fn parse_fixture() {
        let f = Frame::new_checked(&ARP_FRAME).unwrap();
        let r = Repr::parse(&f);
        assert_eq!(r.dst, MacAddr::BROADCAST);
        assert_eq!(r.src, MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(r.ethertype, ethertype::ARP);
        assert_eq!(f.payload(), &[0x00, 0x01]);
        let mut out = [0u8; 14];
        r.emit(&mut out);
        assert_eq!(out, ARP_FRAME[..14]);
    }

    #[test]
    fn runts_are_rejected() {
        for n in 0..HEADER_LEN {
            assert!(Frame::new_checked(&ARP_FRAME[..n]).is_none());
        }
    }

    #[test]
    fn agrees_with_etherparse() {
        let e = etherparse::Ethernet2HeaderSlice::from_slice(&ARP_FRAME).unwrap();
        let f = Frame::new_checked(&ARP_FRAME).unwrap();
        assert_eq!(e.destination(), f.dst().0);
        assert_eq!(e.source(), f.src().0);
        assert_eq!(e.ether_type().0, f.ethertype());
    }
}
