//! Offload metadata of a frame, and its wire form on a TAP opened with `IFF_VNET_HDR`: the
//! legacy `struct virtio_net_hdr` (virtio 1.2, 5.1.6 "Device Operation"; Linux
//! `include/uapi/linux/virtio_net.h`), 10 bytes before every frame read from or written to
//! the tap:
//!
//! ```text
//!  0      1         2..4      4..6       6..8         8..10
//!  flags  gso_type  hdr_len   gso_size   csum_start   csum_offset
//! ```
//!
//! Multi-byte fields are little-endian: the legacy layout is in the host's byte order, and the
//! tap is switched to little-endian explicitly (`TUNSETVNETLE`, on every open in `tap.rs`),
//! whatever the host's order or an earlier user of a persistent tap set.
//!
//! - Receiving, `NEEDS_CSUM` means the checksum field holds only the pseudo-header sum (the
//!   kernel never computed the rest, the data never left the host): the stack trusts it.
//!   `DATA_VALID` means the kernel checked it. A `gso_type` of `TCPV4` is a TCP segment the
//!   kernel coalesced or never cut, up to 64 KB: one large segment to the stack.
//! - Sending, the same fields ask the kernel to finish the checksum and to cut the segment
//!   into `gso_size` pieces (TSO).

use std::io;

/// Bytes of the header before each frame.
pub const VNET_HDR_LEN: usize = 10;

const F_NEEDS_CSUM: u8 = 1;
const F_DATA_VALID: u8 = 2;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_ECN: u8 = 0x80;

/// What a device did, or is asked to do, about a frame's transport checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Csum {
    /// Every checksum is in place and must be verified by whoever receives the frame.
    #[default]
    Full,
    /// The field at `start + offset` (offsets into the Ethernet frame) holds the
    /// pseudo-header sum; the one's complement sum of `frame[start..]` completes it.
    Partial { start: u16, offset: u16 },
    /// Received: the checksum was verified by the device.
    Valid,
}

/// A TCP/IPv4 segment larger than the link's MTU, to be cut (sending) or coalesced
/// (received) into `size`-byte payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// Payload bytes per segment on the wire (the MSS).
    pub size: u16,
    /// Sending: bytes of Ethernet, IP and TCP headers before the payload. Received: the
    /// kernel's hint of how much of the frame it kept in one piece (`skb_headlen`), which
    /// may include data; the headers' length is the packet's own.
    pub hdr_len: u16,
}

/// Offload metadata of one frame (all default: an ordinary frame).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMeta {
    pub csum: Csum,
    pub gso: Option<Gso>,
}

impl FrameMeta {
    /// An ordinary frame: complete checksums, no segmentation.
    pub fn is_plain(&self) -> bool {
        self.csum == Csum::Full && self.gso.is_none()
    }

    /// Does a receiver still have to verify the transport checksum?
    pub fn needs_verify(&self) -> bool {
        self.csum == Csum::Full
    }

    /// The header bytes that go before the frame on a vnet tap.
    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut h = [0u8; VNET_HDR_LEN];
        match self.csum {
            Csum::Full => {}
            Csum::Valid => h[0] = F_DATA_VALID,
            Csum::Partial { start, offset } => {
                h[0] = F_NEEDS_CSUM;
                h[6..8].copy_from_slice(&start.to_le_bytes());
                h[8..10].copy_from_slice(&offset.to_le_bytes());
            }
        }
        if let Some(g) = self.gso {
            h[1] = GSO_TCPV4;
            h[2..4].copy_from_slice(&g.hdr_len.to_le_bytes());
            h[4..6].copy_from_slice(&g.size.to_le_bytes());
        }
        h
    }

    /// Parse the header in front of a frame of `frame_len` bytes. Refuses what the stack
    /// never asked the kernel for (UDP or IPv6 segmentation), offsets outside the frame,
    /// and what Linux's own parser refuses.
    pub fn decode(h: &[u8], frame_len: usize) -> io::Result<FrameMeta> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let h: &[u8; VNET_HDR_LEN] = h
            .get(..VNET_HDR_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("short virtio_net_hdr"))?;
        let le = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let csum = if h[0] & F_NEEDS_CSUM != 0 {
            let (start, offset) = (le(6), le(8));
            if usize::from(start) + usize::from(offset) + 2 > frame_len {
                return Err(bad("virtio_net_hdr checksum offset outside the frame"));
            }
            // A transport checksum starts after the Ethernet and IPv4 headers at least.
            if usize::from(start) < crate::ethernet::HEADER_LEN + 20 {
                return Err(bad("virtio_net_hdr checksum start inside the IP header"));
            }
            Csum::Partial { start, offset }
        } else if h[0] & F_DATA_VALID != 0 {
            Csum::Valid
        } else {
            Csum::Full
        };
        // As Linux's `virtio_net_hdr_to_skb` does: the ECN bit only with a segmentation
        // type, a TCP segment's partial checksum in TCP's checksum field (offset 16) with
        // the whole TCP header in the frame, and a real segment size.
        let gso = match (h[1], h[1] & !GSO_ECN) {
            (GSO_NONE, _) => None,
            (_, GSO_TCPV4) => {
                if matches!(csum, Csum::Partial { offset, .. } if offset != 16) {
                    return Err(bad("virtio_net_hdr: TCP checksum offset is not 16"));
                }
                // 0xffff is Linux's GSO_BY_FRAGS, never a segment size on a TAP.
                if le(4) == 0 || le(4) == 0xffff {
                    return Err(bad("virtio_net_hdr: gso_size 0 or 0xffff"));
                }
                // The whole TCP header in the frame.
                if let Csum::Partial { start, .. } = csum {
                    if usize::from(start) + 20 > frame_len {
                        return Err(bad("virtio_net_hdr: TCP header past the frame"));
                    }
                }
                Some(Gso {
                    size: le(4),
                    hdr_len: le(2),
                })
            }
            _ => return Err(bad("virtio_net_hdr: unsupported gso_type")),
        };
        Ok(FrameMeta { csum, gso })
    }
}

/// Finish a `Csum::Partial` checksum in place: afterwards the frame is an ordinary one, as a
/// capture on the wire would show it. Returns false when the offsets do not fit the frame.
pub fn complete_checksum(frame: &mut [u8], start: u16, offset: u16) -> bool {
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    if start > frame.len() || at + 2 > frame.len() {
        return false;
    }
    // The field holds the pseudo-header sum; summing it in with the rest is the checksum.
    // A zero result goes out as all ones (the same in one's complement), as Linux completes
    // it: a zero UDP checksum would mean "none" (RFC 768).
    let c = match crate::checksum::finish(crate::checksum::sum(&frame[start..], 0)) {
        0 => 0xffff,
        c => c,
    };
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let metas = [
            FrameMeta::default(),
            FrameMeta {
                csum: Csum::Valid,
                gso: None,
            },
            FrameMeta {
                csum: Csum::Partial {
                    start: 34,
                    offset: 16,
                },
                gso: Some(Gso {
                    size: 1448,
                    hdr_len: 66,
                }),
            },
        ];
        for m in metas {
            assert_eq!(FrameMeta::decode(&m.encode(), 65_000).unwrap(), m);
        }
    }

    #[test]
    fn decodes_a_header_the_kernel_wrote() {
        // A coalesced segment from Linux: NEEDS_CSUM, TCPV4, hdr_len 66, gso_size 1448,
        // csum_start 34 (Ethernet + IPv4), csum_offset 16 (TCP's checksum field).
        let h = [0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00];
        let m = FrameMeta::decode(&h, 20_000).unwrap();
        assert_eq!(
            m.csum,
            Csum::Partial {
                start: 34,
                offset: 16
            }
        );
        assert_eq!(
            m.gso,
            Some(Gso {
                size: 1448,
                hdr_len: 66
            })
        );
        assert!(!m.needs_verify());
        // ECN flag on a TCPv4 segment is still TCPv4.
        let mut e = h;
        e[1] |= 0x80;
        assert!(FrameMeta::decode(&e, 20_000).unwrap().gso.is_some());
    }

    #[test]
    fn refuses_what_was_not_asked_for() {
        let mut h = FrameMeta::default().encode();
        h[1] = 3; // UDP
        assert!(FrameMeta::decode(&h, 100).is_err());
        h[1] = 4; // TCPv6
        assert!(FrameMeta::decode(&h, 100).is_err());
        assert!(FrameMeta::decode(&h[..4], 100).is_err());
        let m = FrameMeta {
            csum: Csum::Partial {
                start: 90,
                offset: 16,
            },
            gso: None,
        };
        assert!(FrameMeta::decode(&m.encode(), 100).is_err());
        assert!(FrameMeta::decode(&m.encode(), 108).is_ok());
    }

    #[test]
    fn completes_a_partial_checksum() {
        // A UDP datagram 10.0.0.2:5 -> 10.0.0.1:7 carrying "hi!", behind a 14-byte header.
        let src = std::net::Ipv4Addr::new(10, 0, 0, 2);
        let dst = std::net::Ipv4Addr::new(10, 0, 0, 1);
        let mut f = vec![0u8; 14 + 20];
        f.extend_from_slice(&[0, 5, 0, 7, 0, 11, 0, 0, b'h', b'i', b'!']);
        let ph = crate::checksum::pseudo_header(src, dst, 17, 11);
        let partial = crate::checksum::fold(ph);
        f[40..42].copy_from_slice(&partial.to_be_bytes());
        assert!(complete_checksum(&mut f, 34, 6));
        // Now it verifies like any full checksum.
        let c = crate::checksum::finish(crate::checksum::sum(&f[34..], ph));
        assert_eq!(c, 0);
        assert!(!complete_checksum(&mut f, 40, 6));
    }
}

/// Headers that Linux's own parser of the same struct (`virtio_net_hdr_to_skb`,
/// include/linux/virtio_net.h) refuses with EINVAL (from an independent review).
#[cfg(test)]
mod linux_refuses_tests {
    use super::*;

    #[test]
    fn refuses_what_linux_refuses() {
        // gso_type 0x80: the ECN bit on GSO_NONE. Linux: gso_type != NONE, then
        // `switch (gso_type & ~ECN)` has no case for NONE: -EINVAL (decode took it for no
        // segmentation).
        let mut h = FrameMeta::default().encode();
        h[1] = GSO_ECN;
        assert!(
            FrameMeta::decode(&h, 100).is_err(),
            "ECN alone: {:?}",
            FrameMeta::decode(&h, 100)
        );
        // TCPV4 with NEEDS_CSUM pointing anywhere but TCP's checksum field (offset 16):
        // Linux: "skb->csum_offset != offsetof(struct tcphdr, check)" -> -EINVAL. decode
        // took it, and the stack then trusted the segment's checksum unverified.
        let m = FrameMeta {
            csum: Csum::Partial {
                start: 34,
                offset: 6,
            },
            gso: Some(Gso {
                size: 1448,
                hdr_len: 66,
            }),
        };
        assert!(
            FrameMeta::decode(&m.encode(), 20_000).is_err(),
            "TCPV4 with csum_offset 6 was taken"
        );
        // Segments of no bytes.
        let zero = FrameMeta {
            csum: Csum::Partial {
                start: 34,
                offset: 16,
            },
            gso: Some(Gso {
                size: 0,
                hdr_len: 66,
            }),
        };
        assert!(FrameMeta::decode(&zero.encode(), 20_000).is_err());
        // What the kernel sends is still taken, the ECN bit with TCPV4 included.
        let ok = FrameMeta {
            gso: Some(Gso {
                size: 1448,
                hdr_len: 66,
            }),
            ..zero
        };
        let mut h = ok.encode();
        assert_eq!(FrameMeta::decode(&h, 20_000).unwrap(), ok);
        h[1] |= GSO_ECN;
        assert_eq!(FrameMeta::decode(&h, 20_000).unwrap(), ok);
    }
}

/// The rest of what `virtio_net_hdr_to_skb` (include/linux/virtio_net.h) refuses, from a
/// second review.
#[cfg(test)]
mod linux_refuses_more_tests {
    use super::*;

    #[test]
    fn refuses_the_rest_of_what_linux_refuses() {
        let seg = |size: u16, start: u16| FrameMeta {
            csum: Csum::Partial { start, offset: 16 },
            gso: Some(Gso { size, hdr_len: 66 }),
        };
        let mut taken = Vec::new();
        // "if (gso_size == GSO_BY_FRAGS) return -EINVAL;"
        if FrameMeta::decode(&seg(0xffff, 34).encode(), 20_000).is_ok() {
            taken.push("gso_size 0xFFFF");
        }
        // NEEDS_CSUM: "if (skb_transport_offset(skb) < nh_min_len) return -EINVAL;"
        // (the offset counted from the frame's start, nh_min_len = sizeof(struct iphdr)).
        let plain = FrameMeta {
            csum: Csum::Partial {
                start: 0,
                offset: 6,
            },
            gso: None,
        };
        if FrameMeta::decode(&plain.encode(), 100).is_ok() {
            taken.push("csum_start 0 (checksum into the source MAC)");
        }
        // TCPV4 with NEEDS_CSUM: "needed = start + max(thlen, off + 2)" and
        // "p_off = nh_min_len + thlen; if (!pskb_may_pull(skb, p_off)) return -EINVAL":
        // the whole 20-byte TCP header must be in the frame. Start 34, frame of 52 bytes:
        // the checksum field fits (34 + 18), the header does not (34 + 20).
        if FrameMeta::decode(&seg(1448, 34).encode(), 52).is_ok() {
            taken.push("a TCP header past the frame's end");
        }
        assert!(taken.is_empty(), "taken: {taken:?}");
    }
}
