//! The UDP header (RFC 768): a checked view and a representation that emits in place.

use ip::checksum;
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 8;
/// The largest payload of one UDP datagram over IPv4: 65,535 - 20 - 8.
pub const MAX_PAYLOAD: usize = 65_507;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    #[error("UDP datagram shorter than its header")]
    Truncated,
    #[error("UDP length field disagrees with the datagram")]
    BadLength,
}

/// A datagram whose length field is consistent (8 <= length <= bytes): no accessor panics.
/// The payload stops at the length field (RFC 768: bytes beyond it are not part of it).
#[derive(Clone, Copy, Debug)]
pub struct UdpPacket<'a> {
    bytes: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    pub fn new_checked(bytes: &'a [u8]) -> Result<UdpPacket<'a>, UdpError> {
        if bytes.len() < HEADER_LEN {
            return Err(UdpError::Truncated);
        }
        let len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        if len < HEADER_LEN || len > bytes.len() {
            return Err(UdpError::BadLength);
        }
        Ok(UdpPacket {
            bytes: &bytes[..len],
        })
    }

    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.bytes[2], self.bytes[3]])
    }
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.bytes[6], self.bytes[7]])
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// RFC 768 / RFC 1122 4.1.3.4: a zero checksum means the sender computed none; any
    /// other value must verify over the pseudo-header.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.bytes.len() as u16;
        let acc = checksum::pseudo_header(src, dst, ip::ipv4::protocol::UDP, len);
        checksum::finish(checksum::sum(self.bytes, acc)) == 0
    }
}

/// Ports of a datagram this stack sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    /// Write the header into `buf[..8]`, whose payload already sits in `buf[8..]`, with the
    /// length and the checksum over the pseudo-header (always sent: RFC 1122 4.1.3.4).
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let len = buf.len().min(usize::from(u16::MAX)) as u16;
        buf[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        buf[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        buf[4..6].copy_from_slice(&len.to_be_bytes());
        buf[6..8].copy_from_slice(&[0, 0]);
        let acc = checksum::pseudo_header(src, dst, ip::ipv4::protocol::UDP, len);
        let mut c = checksum::finish(checksum::sum(buf, acc));
        if c == 0 {
            // Zero means "no checksum"; its one's complement twin is sent instead.
            c = 0xffff;
        }
        buf[6..8].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    // `echo -n hi | nc -u -p 40000 10.0.0.1 7` from Linux: ports 40000 -> 7, length 10.
    const FIXTURE: [u8; 10] = [0x9c, 0x40, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];

    fn with_sum() -> Vec<u8> {
        let mut d = FIXTURE.to_vec();
        UdpRepr {
            src_port: 40000,
            dst_port: 7,
        }
        .emit(&mut d, SRC, DST);
        d
    }

    #[test]
    fn parse_fixture_and_checksum() {
        let d = with_sum();
        let p = UdpPacket::new_checked(&d).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.payload()),
            (40000, 7, &b"hi"[..])
        );
        assert!(p.verify_checksum(SRC, DST));
        assert!(
            !p.verify_checksum(SRC, Ipv4Addr::new(10, 0, 0, 9)),
            "pseudo-header counts"
        );
        // Cross-check against etherparse's computation.
        let h = etherparse::UdpHeader::from_slice(&d).unwrap().0;
        let e = h
            .calc_checksum_ipv4_raw(SRC.octets(), DST.octets(), b"hi")
            .unwrap();
        assert_eq!(e, p.checksum());
        // No checksum at all is accepted.
        let mut none = d.clone();
        none[6] = 0;
        none[7] = 0;
        assert!(UdpPacket::new_checked(&none)
            .unwrap()
            .verify_checksum(SRC, DST));
        let mut bad = d;
        bad[9] ^= 1;
        assert!(!UdpPacket::new_checked(&bad)
            .unwrap()
            .verify_checksum(SRC, DST));
    }

    #[test]
    fn lengths_are_checked() {
        assert_eq!(
            UdpPacket::new_checked(&FIXTURE[..7]).unwrap_err(),
            UdpError::Truncated
        );
        let mut long = FIXTURE;
        long[5] = 11;
        assert_eq!(
            UdpPacket::new_checked(&long).unwrap_err(),
            UdpError::BadLength
        );
        let mut short = FIXTURE;
        short[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&short).unwrap_err(),
            UdpError::BadLength
        );
        let mut padded = FIXTURE.to_vec();
        padded.extend_from_slice(&[0xee; 4]);
        assert_eq!(UdpPacket::new_checked(&padded).unwrap().payload(), b"hi");
        for n in 0..FIXTURE.len() {
            let _ = UdpPacket::new_checked(&FIXTURE[..n]).map(|p| p.payload().len());
        }
    }
}
