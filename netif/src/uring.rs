//! Batched reads and writes on a TAP descriptor through io_uring: one `io_uring_enter` for
//! many frames where the plain path pays one `read` or `write` each. The tap writes through
//! [`TxRing`] by default and reads through [`RxRing`] only with `TapConfig::uring_rx`.
//!
//! A TAP hands over one frame per read and takes one frame per write, so the only way to pay
//! fewer system calls per frame is to hand the kernel several reads (or writes) in one call.
//! Every operation carries `RWF_NOWAIT`: each read is tried at once, in submission order, and
//! the ones that find no frame complete with `EAGAIN` instead of waiting. (An `O_NONBLOCK`
//! descriptor alone is not enough: the kernel then arms a poll for the read and the call
//! waiting for all completions would wait for as many frames.)
//!
//! Reads are not linked (`IOSQE_IO_LINK`): a link counts a short read as a failure and
//! cancels the rest, and every TAP read is short (a frame is smaller than the buffer). Order
//! holds without links: the kernel issues the reads one after the other in the calling thread
//! (a non-blocking descriptor is never handed to a worker), each taking the next frame of the
//! queue, and results are taken in submission order. Writes are not linked either, for the
//! same reason of issue order, and so that one failed write does not cancel the frames after
//! it.
//!
//! Buffers: every submission the kernel takes is waited for before the call returns, so no
//! operation outlives the buffers it points into; entries it did not take are thrown away
//! with the ring, which is not used again (the tap then writes one frame per `write`); and
//! should a write the kernel took be impossible to wait for or cancel, the process aborts
//! rather than give its buffer back (see the `SAFETY` notes and `finish`).
#![allow(unsafe_code)]

use io_uring::{opcode, types, IoUring};
use std::io;
use std::os::fd::RawFd;

/// `offset` for a read or write at the file position (a TAP has none: a stream).
const AT_POSITION: u64 = u64::MAX;

/// Why io_uring cannot be used, in one line, or the ring.
pub(crate) fn new_ring(entries: u32) -> io::Result<IoUring> {
    IoUring::new(entries)
}

/// Wait until every one of `pending` submitted operations has completed, collecting each
/// result by its `user_data` (an index below `results.len()`).
fn reap(ring: &mut IoUring, mut pending: usize, results: &mut [i32]) -> io::Result<()> {
    while pending > 0 {
        match ring.submit_and_wait(pending) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            if let Some(r) = results.get_mut(cqe.user_data() as usize) {
                *r = cqe.result();
            }
            pending = pending.saturating_sub(1);
        }
    }
    Ok(())
}

/// The receive side: up to `bufs.len()` reads per enter, frames kept in order until taken.
pub(crate) struct RxRing {
    ring: IoUring,
    fd: RawFd,
    bufs: Vec<Box<[u8]>>,
    results: Vec<i32>,
    /// Frames read and not yet taken: the next is `results[next]`, up to `filled`.
    next: usize,
    filled: usize,
    /// Reads to submit next time: grows while every read finds a frame, shrinks otherwise,
    /// so an idle link costs few failed reads per wake-up.
    want: usize,
    dead: bool,
}

/// A read's result that is no frame and no error: nothing ready, or interrupted.
fn quiet(r: i32) -> bool {
    r == -libc::EAGAIN || r == -libc::EINTR || r == -libc::ECANCELED
}

impl RxRing {
    /// A ring for `fd` with `batch` buffers of `size` bytes each.
    pub(crate) fn new(fd: RawFd, batch: usize, size: usize) -> io::Result<RxRing> {
        let batch = batch.clamp(1, 4096);
        let ring = new_ring(batch.next_power_of_two() as u32)?;
        Ok(RxRing {
            ring,
            fd,
            bufs: (0..batch)
                .map(|_| vec![0u8; size].into_boxed_slice())
                .collect(),
            results: vec![0; batch],
            next: 0,
            filled: 0,
            want: batch.min(4),
            dead: false,
        })
    }

    /// The next frame read (the vnet header included when the tap has one), given to `take`;
    /// `Ok(None)` when the device has none ready.
    pub(crate) fn next<R>(&mut self, take: impl FnOnce(&[u8]) -> R) -> io::Result<Option<R>> {
        loop {
            if self.dead {
                return Err(io::Error::other("io_uring failed"));
            }
            while self.next < self.filled {
                let i = self.next;
                self.next += 1;
                let r = self.results[i];
                if r >= 0 {
                    let n = (r as usize).min(self.bufs[i].len());
                    return Ok(Some(take(&self.bufs[i][..n])));
                }
                if quiet(r) {
                    continue;
                }
                return Err(io::Error::from_raw_os_error(-r));
            }
            // A read that failed (not for want of a frame) is reported by the loop above:
            // taken for an empty device, a dead tap (readable for its POLLERR) would be
            // polled and read again at once, for ever.
            if self.fill()? == 0 && self.results[..self.filled].iter().all(|&r| quiet(r)) {
                return Ok(None);
            }
        }
    }

    /// Submit `want` reads at once and wait for all of them. Returns how many found a frame.
    fn fill(&mut self) -> io::Result<usize> {
        let k = self.want.min(self.bufs.len());
        self.next = 0;
        self.filled = 0;
        {
            let mut sq = self.ring.submission();
            for i in 0..k {
                let buf = &mut self.bufs[i];
                let sqe = opcode::Read::new(types::Fd(self.fd), buf.as_mut_ptr(), buf.len() as u32)
                    .offset(AT_POSITION)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the read writes at most `buf.len()` bytes into `buf`, a heap buffer
                // owned by `self` that is neither touched nor freed until `reap` below has
                // seen this read complete (it waits for every submission, and on an error
                // that stops it waiting the buffers are leaked: see `poisoned`).
                if unsafe { sq.push(&sqe) }.is_err() {
                    break;
                }
            }
        }
        let k = self.ring.submission().len();
        self.results[..k].fill(-libc::EAGAIN);
        if let Err(e) = reap(&mut self.ring, k, &mut self.results) {
            self.poisoned();
            return Err(e);
        }
        self.filled = k;
        let got = self.results[..k].iter().filter(|&&r| r >= 0).count();
        self.want = if got == k {
            (k * 2).min(self.bufs.len())
        } else {
            (got + 1).max(4).min(self.bufs.len())
        };
        Ok(got)
    }

    /// The ring failed while reads were perhaps in flight: keep their buffers alive for good
    /// rather than risk the kernel writing into freed memory, and never use the ring again.
    fn poisoned(&mut self) {
        std::mem::forget(std::mem::take(&mut self.bufs));
        self.results.clear();
        self.dead = true;
    }

    /// The ring failed once and is not used again (the caller falls back to `read`).
    pub(crate) fn is_dead(&self) -> bool {
        self.dead
    }
}

/// The transmit side: a batch of frames written with one enter.
pub(crate) struct TxRing {
    /// `None` once the ring has failed: dropped, with whatever entries the kernel never took.
    ring: Option<IoUring>,
    fd: RawFd,
    /// Room for each frame's two iovecs (vnet header, frame) while its write is in flight.
    iovs: Vec<[libc::iovec; 2]>,
    results: Vec<i32>,
    batch: usize,
}

// SAFETY (Send): the raw pointers in `iovs` are only meaningful during `write_batch`, which
// fills and waits for them within one call; between calls they are stale and never read.
unsafe impl Send for TxRing {}

impl TxRing {
    pub(crate) fn new(fd: RawFd, batch: usize) -> io::Result<TxRing> {
        let batch = batch.clamp(1, 4096);
        let ring = new_ring(batch.next_power_of_two() as u32)?;
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(TxRing {
            ring: Some(ring),
            fd,
            iovs: vec![[empty, empty]; batch],
            results: vec![0; batch],
            batch,
        })
    }

    /// Most frames one call writes; 0 once the ring has failed.
    pub(crate) fn batch(&self) -> usize {
        if self.ring.is_some() {
            self.batch
        } else {
            0
        }
    }

    /// Write each `(header, frame)` as one packet, in order (at most [`TxRing::batch`]; an
    /// empty header writes the frame alone). `done(i, result)` hears the bytes written or the
    /// error of each.
    pub(crate) fn write_batch(
        &mut self,
        frames: &[(&[u8], &[u8])],
        mut done: impl FnMut(usize, io::Result<usize>),
    ) {
        let Some(ring) = self.ring.as_mut() else {
            for i in 0..frames.len() {
                done(i, Err(io::Error::other("io_uring failed before")));
            }
            return;
        };
        let k = frames.len().min(self.batch);
        {
            let mut sq = ring.submission();
            for (i, (hdr, frame)) in frames[..k].iter().enumerate() {
                let sqe = if hdr.is_empty() {
                    opcode::Write::new(types::Fd(self.fd), frame.as_ptr(), frame.len() as u32)
                        .offset(AT_POSITION)
                        .rw_flags(libc::RWF_NOWAIT)
                        .build()
                } else {
                    self.iovs[i] = [
                        libc::iovec {
                            iov_base: hdr.as_ptr() as *mut libc::c_void,
                            iov_len: hdr.len(),
                        },
                        libc::iovec {
                            iov_base: frame.as_ptr() as *mut libc::c_void,
                            iov_len: frame.len(),
                        },
                    ];
                    opcode::Writev::new(types::Fd(self.fd), self.iovs[i].as_ptr(), 2)
                        .offset(AT_POSITION)
                        .rw_flags(libc::RWF_NOWAIT)
                        .build()
                };
                // SAFETY: the write reads `hdr` and `frame`, borrowed by this call, and the
                // iovecs in `self.iovs`, owned by `self`. Before this call returns, every
                // entry is either seen complete (`finish` waits for each one the kernel took)
                // or never taken by the kernel and thrown away with the ring (`finish` drops
                // the ring on any failure), so nothing reads them after the borrow ends; when
                // a write the kernel took can be neither waited for nor cancelled, the
                // process aborts rather than return (see `finish`).
                if unsafe { sq.push(&sqe.user_data(i as u64)) }.is_err() {
                    break;
                }
            }
        }
        let k = ring.submission().len();
        self.results[..k].fill(-libc::ECANCELED);
        let failed = finish(&mut self.ring, k, &mut self.results);
        for i in 0..frames.len() {
            let r = match &failed {
                Some((taken, e)) if i >= *taken => Err(io::Error::new(e.kind(), e.to_string())),
                _ if i >= k => Err(io::Error::from_raw_os_error(libc::ENOBUFS)),
                _ if self.results[i] >= 0 => Ok(self.results[i] as usize),
                _ => Err(io::Error::from_raw_os_error(-self.results[i])),
            };
            done(i, r);
        }
    }
}

/// Hand the `k` entries queued on `slot`'s ring to the kernel and wait for each it takes,
/// results into `results` by `user_data`. `None` when all `k` completed. On a failure, the
/// number of entries the kernel took (all waited for) and the error; the ring is then dropped,
/// with the entries it never took (the kernel never sees them), and `slot` left `None`.
///
/// A write the kernel took must complete before its buffers are given back, whatever fails:
/// when the wait for it keeps failing, it is cancelled and waited for again; and if even
/// that cannot be done the process aborts, since returning would let the kernel read freed
/// memory (a ring that cannot be waited on is not expected from any kernel: the wait fails
/// only for a signal, retried, or for reasons that concern submission).
fn finish(slot: &mut Option<IoUring>, k: usize, results: &mut [i32]) -> Option<(usize, io::Error)> {
    let ring = slot.as_mut()?;
    let mut taken = 0;
    let mut error = None;
    while taken < k {
        match ring.submit() {
            Ok(0) => {
                error = Some(io::Error::other("io_uring took no write"));
                break;
            }
            Ok(n) => taken += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let mut pending = taken;
    let mut tries = 0u32;
    while pending > 0 {
        for cqe in ring.completion() {
            if let Some(r) = results.get_mut(cqe.user_data() as usize) {
                *r = cqe.result();
            }
            pending = pending.saturating_sub(1);
        }
        if pending == 0 {
            break;
        }
        // Wait without submitting: entries the kernel did not take must stay untaken.
        // SAFETY: `to_submit` 0 submits nothing; no signal mask is passed (`None` is a null
        // pointer, which the kernel does not read whatever size goes with it); `GETEVENTS`
        // with `pending` only waits.
        let waited = unsafe {
            ring.submitter().enter::<libc::sigset_t>(
                0,
                pending as u32,
                io_uring::EnterFlags::GETEVENTS.bits(),
                None,
            )
        };
        match waited {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tries += 1;
                if tries == 100 {
                    // Ask for every write still in flight to be cancelled, then wait again.
                    let _ = ring
                        .submitter()
                        .register_sync_cancel(None, io_uring::types::CancelBuilder::any());
                }
                if tries > 200 {
                    eprintln!("tapip: io_uring writes in flight cannot be waited for ({e}): aborting rather than free their buffers");
                    std::process::abort();
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
    let error = error?;
    *slot = None;
    Some((taken, error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A connected pair of `SOCK_SEQPACKET` sockets: like a TAP, one packet per read and write,
    /// non-blocking.
    fn packet_pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a two-element array, as socketpair requires; on success both
        // descriptors are new and owned by the `OwnedFd`s made from them below.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
        // SAFETY: both descriptors were just created by socketpair and are owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// The rings, or why this kernel refuses io_uring (then the test has nothing to check:
    /// the read/write path is tested by every other test).
    fn rings(a: &OwnedFd, b: &OwnedFd, batch: usize) -> Option<(TxRing, RxRing)> {
        match (
            TxRing::new(a.as_raw_fd(), batch),
            RxRing::new(b.as_raw_fd(), batch, 2048),
        ) {
            (Ok(tx), Ok(rx)) => Some((tx, rx)),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("io_uring refused here ({e}): nothing to test");
                None
            }
        }
    }

    /// A read that fails is an error, not an empty device; and a ring of fewer than four
    /// buffers on an idle device says none (its next batch size is within its buffers).
    #[test]
    fn a_failed_read_is_an_error_and_a_small_ring_idles() {
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let Ok(mut rx) = RxRing::new(w.as_raw_fd(), 8, 2048) else {
            eprintln!("io_uring refused here: nothing to test");
            return;
        };
        let e = rx
            .next(|p| p.len())
            .expect_err("reading a write-only file fails");
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        let (_a, b) = packet_pair();
        let mut rx = RxRing::new(b.as_raw_fd(), 2, 2048).unwrap();
        for _ in 0..3 {
            assert!(rx.next(|p| p.len()).unwrap().is_none());
        }
    }

    #[test]
    fn frames_cross_in_order_many_per_call_and_an_empty_device_says_none() {
        let (a, b) = packet_pair();
        let Some((mut tx, mut rx)) = rings(&a, &b, 8) else {
            return;
        };
        assert_eq!(rx.next(|p| p.len()).unwrap(), None, "nothing sent yet");
        let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let hdr = [0xAAu8; 2];
        // More frames than one batch: write_batch takes the first `batch` of them.
        let mut sent = 0;
        while sent < payloads.len() {
            let chunk: Vec<(&[u8], &[u8])> = payloads[sent..]
                .iter()
                .enumerate()
                .map(|(i, p)| (if i % 2 == 0 { &[][..] } else { &hdr[..] }, &p[..]))
                .collect();
            let mut results = Vec::new();
            tx.write_batch(&chunk[..chunk.len().min(tx.batch())], |i, r| {
                results.push((i, r.unwrap()))
            });
            for &(i, n) in &results {
                assert_eq!(n, chunk[i].0.len() + chunk[i].1.len());
            }
            sent += results.len();
        }
        for (k, p) in payloads.iter().enumerate() {
            let got = rx.next(|pkt| pkt.to_vec()).unwrap().expect("a frame");
            let hdr_len = if (k % 8) % 2 == 0 { 0 } else { 2 };
            assert_eq!(&got[hdr_len..], &p[..], "frame {k} in order");
        }
        assert_eq!(rx.next(|p| p.len()).unwrap(), None, "all taken");
        assert!(!rx.is_dead());
    }

    #[test]
    fn a_write_to_a_closed_peer_fails_alone() {
        let (a, b) = packet_pair();
        let Some((mut tx, _rx)) = rings(&a, &b, 4) else {
            return;
        };
        drop(b);
        let mut errors = 0;
        tx.write_batch(
            &[(&[][..], &[1u8; 10][..]), (&[][..], &[2u8; 10][..])],
            |_, r| errors += usize::from(r.is_err()),
        );
        assert_eq!(errors, 2);
        assert_eq!(tx.batch(), 4, "the ring itself still works");
    }

    /// An enter that fails leaves the writes queued, pointing at the caller's frames: they
    /// must never be submitted after the call returns (the kernel would read memory given
    /// back by then). The ring's descriptor is swapped for /dev/null's, so the enter fails
    /// with the entries untaken; the frame is then overwritten, the ring's descriptor put
    /// back and the ring asked to write again: nothing may reach the peer.
    #[test]
    fn writes_queued_when_the_enter_fails_are_never_submitted_later() {
        let (a, b) = packet_pair();
        let Some((mut tx, _rx)) = rings(&a, &b, 4) else {
            return;
        };
        let ring_fd = tx.ring.as_ref().unwrap().as_raw_fd();
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: `ring_fd` is open (the ring's); `dup` makes a new descriptor of it, owned
        // by `saved` below, and `dup2` makes `ring_fd` refer to /dev/null (still owned by the
        // ring, which closes it when dropped); no other code uses these descriptors.
        let saved = unsafe { libc::dup(ring_fd) };
        assert!(saved >= 0);
        // SAFETY: see above.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        // SAFETY: both descriptors are open; `ring_fd` is replaced atomically.
        assert!(unsafe { libc::dup2(null.as_raw_fd(), ring_fd) } >= 0);
        let mut frame = [0x11u8; 64];
        let mut errors = 0;
        tx.write_batch(&[(&[][..], &frame[..])], |_, r| {
            errors += usize::from(r.is_err())
        });
        assert_eq!(errors, 1, "the write is reported failed");
        assert_eq!(tx.batch(), 0, "the ring is not used again");
        assert!(
            tx.ring.is_none(),
            "the ring went, with the entry it never took"
        );
        frame.fill(0x22);
        if tx.ring.is_some() {
            // (Only where the ring was kept, so `ring_fd` is still open, /dev/null's: put
            // the ring's descriptor back, as the next enter of a kept ring would find it.)
            // SAFETY: both descriptors are open; `ring_fd` stays owned by the ring.
            assert!(unsafe { libc::dup2(saved.as_raw_fd(), ring_fd) } >= 0);
        }
        let mut later = 0;
        tx.write_batch(&[], |_, _| later += 1);
        tx.write_batch(&[(&[][..], &frame[..])], |_, r| assert!(r.is_err()));
        let mut buf = [0u8; 128];
        // SAFETY: `buf` is a writable buffer of the length given; `b` is open.
        let n = unsafe { libc::read(b.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(
            n,
            -1,
            "nothing reached the peer, got {:?}",
            &buf[..n.max(0) as usize]
        );
        assert_eq!(later, 0);
    }
}
