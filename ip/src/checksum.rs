//! The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit words.

use std::net::Ipv4Addr;

/// One's complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// added to `initial`, not yet folded or inverted.
pub fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = initial as u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u64) << 8;
    }
    while acc > 0xffff_ffff {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// Fold a 32-bit running sum into 16 bits and invert it.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Checksum of `data` (an IP header, an ICMP message): write this into the checksum field
/// after zeroing it. Verifying: `checksum(data_with_field) == 0`.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// The running sum of the TCP/UDP pseudo-header (RFC 793, RFC 768).
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&src.octets());
    b[4..8].copy_from_slice(&dst.octets());
    b[9] = protocol;
    b[10..12].copy_from_slice(&length.to_be_bytes());
    sum(&b, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(&data, 0)), !0xddf2);
    }

    #[test]
    fn ipv4_header_fixture_verifies() {
        // A header from a Linux ping (10.0.0.2 -> 10.0.0.1), checksum 0x0a61 in place.
        let hdr = [
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x0a, 0x61, 0x0a, 0x00,
            0x00, 0x02, 0x0a, 0x00, 0x00, 0x01,
        ];
        assert_eq!(checksum(&hdr), 0);
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0x0a61);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12], 0), 0x1200);
        assert_eq!(checksum(&[]), 0xffff);
    }
}
