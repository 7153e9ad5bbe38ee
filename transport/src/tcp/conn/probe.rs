//! A read-only snapshot of a connection's sequence space and queues, for the whole-stack
//! fuzz target (`tests/src/fuzz`), which checks after every step that the numbers keep the
//! invariants of RFC 9293 3.3.1 and that every queue stays within its cap. Nothing in the
//! stack itself reads it.

use super::{State, Tcb};
use crate::tcp::congestion::CongestionControl;
use crate::tcp::seq::Seq;

/// The numbers of one connection at one moment.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbProbe {
    pub state: State,
    pub iss: Seq,
    pub irs: Seq,
    pub snd_una: Seq,
    pub snd_nxt: Seq,
    /// The highest sequence number sent (SND.NXT moves back on a retransmission timeout).
    pub snd_max: Seq,
    pub rcv_nxt: Seq,
    /// The right edge of the receive window announced so far.
    pub rcv_adv: Seq,
    pub rcv_wscale: u8,
    pub sndq: usize,
    pub sndbuf: usize,
    pub rcvq: usize,
    /// The receive buffer now (autotuning grows it) and the most it may grow to.
    pub rcvbuf: usize,
    pub rcvbuf_max: usize,
    /// Disjoint out-of-order ranges.
    pub ooo_ranges: usize,
    pub ooo_bytes: usize,
    /// The out-of-order bytes, counted again from the ranges.
    pub ooo_bytes_counted: usize,
    /// SACKed records in the table of segments in flight, and all its records.
    pub sack_ranges: usize,
    pub seg_records: usize,
    pub mss: usize,
    pub cwnd: usize,
}

impl Tcb {
    #[doc(hidden)]
    pub fn probe(&self) -> TcbProbe {
        TcbProbe {
            state: self.state,
            iss: self.iss,
            irs: self.irs,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            rcv_nxt: self.rcv_nxt,
            rcv_adv: self.rcv_adv,
            rcv_wscale: self.rcv_wscale,
            sndq: self.sndq.len(),
            sndbuf: self.opts.sndbuf,
            rcvq: self.rx.readable(),
            rcvbuf: self.rcv_buf,
            rcvbuf_max: self.opts.rcvbuf_max,
            ooo_ranges: self.rx.ooo_ranges(),
            ooo_bytes: self.rx.ooo_bytes(),
            ooo_bytes_counted: self.rx.ooo_bytes_counted(),
            sack_ranges: self.sb.table().iter().filter(|s| s.sacked).count(),
            seg_records: self.sb.table().len(),
            mss: self.mss,
            cwnd: self.cc.cwnd(),
        }
    }
}
