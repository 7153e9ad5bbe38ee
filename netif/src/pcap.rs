//! Packet capture: a device wrapper that records every frame into a libpcap file.
//!
//! The file is the classic libpcap format (the one `tcpdump -w` writes and Wireshark reads;
//! see the "libpcap file format" description at <https://wiki.wireshark.org/Development/LibpcapFileFormat>
//! and draft-ietf-opsawg-pcap):
//!
//! - a 24-byte global header: magic `0xa1b2c3d4` (microsecond timestamps), version 2.4,
//!   timezone offset 0, timestamp accuracy 0, snapshot length [`SNAPLEN`], link type
//!   [`LINKTYPE_ETHERNET`];
//! - then per frame a 16-byte record header (seconds, microseconds, captured length, original
//!   length) followed by the captured bytes.
//!
//! All fields are written little-endian; readers recognise the byte order from the magic.
//!
//! Recording is switched on and off at run time through a shared [`PcapHandle`]; the
//! [`PcapWriter`] device records the frames it receives (after the inner device returns them)
//! and the frames it sends (as it hands them to the inner device, so a frame the device then
//! refuses is in the file too). Records are written in the order of their timestamps, from
//! any thread. Each record is flushed, so a file read while recording is complete. A failing write never breaks the device: it is
//! counted, remembered, and recording stops, the file cut back to its last whole record.
//! A write never waits either: a FIFO is written non-blocking, and a record its reader has
//! no room for (it stopped reading) is dropped and counted ([`PcapHandle::dropped`]); one it
//! took only part of is finished before any other, so the stream stays whole.

use crate::vnet::FrameMeta;
use crate::{Device, DeviceInfo};
use parking_lot::Mutex;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Magic number of a microsecond-resolution pcap file.
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// Format version 2.4.
pub const PCAP_VERSION_MAJOR: u16 = 2;
pub const PCAP_VERSION_MINOR: u16 = 4;
/// Longest part of a frame that is stored (longer frames are truncated, `orig_len` kept).
pub const SNAPLEN: u32 = 262_144;
/// LINKTYPE_ETHERNET: IEEE 802.3 Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Bytes of the global file header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Bytes of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// The 24-byte global header that starts every file.
pub fn global_header() -> [u8; GLOBAL_HEADER_LEN] {
    let mut h = [0u8; GLOBAL_HEADER_LEN];
    h[0..4].copy_from_slice(&PCAP_MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&PCAP_VERSION_MAJOR.to_le_bytes());
    h[6..8].copy_from_slice(&PCAP_VERSION_MINOR.to_le_bytes());
    // 8..12 thiszone and 12..16 sigfigs stay 0 (timestamps are UTC).
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// The 16-byte header of a record for a frame of `frame_len` bytes taken at `at`; also
/// returns how many of the frame's bytes follow it.
pub fn record_header(at: SystemTime, frame_len: usize) -> ([u8; RECORD_HEADER_LEN], usize) {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    // The classic format has 32-bit seconds; past 2106 they stick at the maximum.
    let secs = u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX);
    let micros = since_epoch.subsec_micros();
    let orig_len = u32::try_from(frame_len).unwrap_or(u32::MAX);
    let incl_len = orig_len.min(SNAPLEN);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&micros.to_le_bytes());
    h[8..12].copy_from_slice(&incl_len.to_le_bytes());
    h[12..16].copy_from_slice(&orig_len.to_le_bytes());
    // incl_len <= SNAPLEN, which fits any usize this code runs on.
    (h, usize::try_from(incl_len).unwrap_or(0))
}

/// An open capture file.
struct Recording {
    out: File,
    path: PathBuf,
    /// Bytes written to the file.
    written: u64,
    /// Bytes of the file that are whole: the global header and every record written.
    whole: u64,
    /// What the file has not taken yet of the last record (a full FIFO took part of it):
    /// at most one record.
    pending: Vec<u8>,
}

impl Recording {
    fn new(out: File, path: PathBuf) -> Recording {
        Recording {
            out,
            path,
            written: 0,
            whole: 0,
            pending: Vec::new(),
        }
    }

    /// Write what the file takes of `pending`, without waiting: all of it, unless a FIFO
    /// opened non-blocking is full.
    fn push_pending(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.out.write(&self.pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending.drain(..n);
                    self.written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.whole = self.written;
        Ok(())
    }

    /// Write `bytes` (the global header, or a record) whole. `Ok(false)`: not a byte of it
    /// could be written (a full FIFO), or the last record is still being finished; it is
    /// dropped.
    fn write_whole(&mut self, bytes: &[&[u8]]) -> io::Result<bool> {
        self.push_pending()?;
        if !self.pending.is_empty() {
            return Ok(false);
        }
        let before = self.written;
        bytes.iter().for_each(|b| self.pending.extend_from_slice(b));
        self.push_pending()?;
        if self.written == before && !self.pending.is_empty() {
            self.pending.clear();
            return Ok(false);
        }
        Ok(true)
    }

    fn write_record(&mut self, at: SystemTime, frame: &[u8]) -> io::Result<bool> {
        let (header, keep) = record_header(at, frame.len());
        self.write_whole(&[&header, frame.get(..keep).unwrap_or(frame)])
    }

    /// Finish the last record; an error if a FIFO still has no room for its rest.
    fn finish(&mut self) -> io::Result<()> {
        self.push_pending()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "the reader stopped reading: the last record is cut short",
        ))
    }

    /// After a failed write: close the file with the part of a record that reached it cut
    /// off, so that it ends with a whole record (readers take a short one for a damaged
    /// file).
    fn abandon(self) {
        // Best effort: the error that brought us here is counted already.
        let _ = self.out.set_len(self.whole);
    }
}

#[derive(Default)]
struct Shared {
    recording: Mutex<Option<Recording>>,
    /// Mirrors `recording.is_some()`, so the per-frame check does not take the lock.
    active: AtomicBool,
    packets: AtomicU64,
    /// Records a FIFO had no room for.
    dropped: AtomicU64,
    write_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn note_error(&self, path: &Path, e: &io::Error) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(format!("{}: {e}", path.display()));
    }
}

/// Starts and stops recording; shared (cheaply cloned) between the [`PcapWriter`] and
/// whoever controls it (the shell's `pcap` command, tests).
#[derive(Clone, Default)]
pub struct PcapHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PcapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapHandle")
            .field("path", &self.path())
            .field("packets", &self.packets())
            .field("dropped", &self.dropped())
            .field("write_errors", &self.write_errors())
            .finish()
    }
}

impl PcapHandle {
    /// A handle that is not recording.
    pub fn new() -> PcapHandle {
        PcapHandle::default()
    }

    /// Create (or truncate) `path`, write the global header, and record from now on. If a
    /// recording was running it is stopped first (a failure to flush it is counted in
    /// [`write_errors`](Self::write_errors), not returned). On error nothing is recording.
    /// A FIFO waits for its reader, as a blocking open waits, and is then written
    /// non-blocking.
    pub fn start(&self, path: impl AsRef<Path>) -> io::Result<()> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let path = path.as_ref().to_path_buf();
        if std::fs::metadata(&path).is_ok_and(|m| m.file_type().is_fifo()) {
            // A blocking open returns once a reader has the FIFO open; the non-blocking
            // open below then finds it (without one it fails with ENXIO).
            drop(File::options().write(true).open(&path)?);
        }
        let file = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)?;
        self.start_file(file, path)
    }

    /// `start` with `file` already open for writing at `path` (a caller that must not
    /// block in `open`, say on a FIFO without a reader, opens it itself; a FIFO should be
    /// left non-blocking, or a reader that stops reading stalls the device). The file is
    /// written from where it stands: not truncated here.
    pub fn start_file(&self, file: File, path: PathBuf) -> io::Result<()> {
        let mut slot = self.shared.recording.lock();
        self.end(&mut slot);
        let mut rec = Recording::new(file, path);
        if !rec.write_whole(&[&global_header()])? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        rec.finish()?;
        *slot = Some(rec);
        self.shared.active.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stop the running recording, if any, as a start does: a failure to flush it is
    /// counted in [`write_errors`](Self::write_errors), not returned (a start whose new file
    /// could not be opened stops the old one so).
    pub fn stop_quietly(&self) {
        self.end(&mut self.shared.recording.lock());
    }

    fn end(&self, slot: &mut Option<Recording>) {
        if let Some(mut old) = slot.take() {
            self.shared.active.store(false, Ordering::Relaxed);
            if let Err(e) = old.finish() {
                self.shared.note_error(&old.path, &e);
            }
        }
    }

    /// Flush and close the file. Not recording is not an error.
    pub fn stop(&self) -> io::Result<()> {
        let mut slot = self.shared.recording.lock();
        self.shared.active.store(false, Ordering::Relaxed);
        match slot.take() {
            Some(mut rec) => rec.finish(),
            None => Ok(()),
        }
    }

    pub fn is_recording(&self) -> bool {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// The file being written, if recording.
    pub fn path(&self) -> Option<PathBuf> {
        self.shared
            .recording
            .lock()
            .as_ref()
            .map(|r| r.path.clone())
    }

    /// Records written since the handle was made (over all files).
    pub fn packets(&self) -> u64 {
        self.shared.packets.load(Ordering::Relaxed)
    }

    /// Records dropped because a FIFO's reader left no room for them (over all files).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes that failed (each one stopped the recording it happened in).
    pub fn write_errors(&self) -> u64 {
        self.shared.write_errors.load(Ordering::Relaxed)
    }

    /// The most recent write error, as `path: message`.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().clone()
    }

    /// The most recent write error not taken yet, as `path: message`: for whoever reports
    /// it, once (a failed write ends a recording with no caller to tell).
    pub fn take_error(&self) -> Option<String> {
        self.shared.last_error.lock().take()
    }

    /// Record one frame stamped with the current time, if recording. Never fails: a write
    /// error is counted and ends the recording.
    pub fn record(&self, frame: &[u8]) {
        if self.is_recording() {
            self.write(None, frame);
        }
    }

    /// [`record`](Self::record) with a given timestamp.
    pub fn record_at(&self, at: SystemTime, frame: &[u8]) {
        self.write(Some(at), frame);
    }

    /// Write one record, stamped now unless `at` is given. The clock is read under the lock:
    /// records from two threads (rx and tx) go into the file in the order of their stamps.
    fn write(&self, at: Option<SystemTime>, frame: &[u8]) {
        let mut slot = self.shared.recording.lock();
        let Some(rec) = slot.as_mut() else {
            return;
        };
        let at = at.unwrap_or_else(SystemTime::now);
        match rec.write_record(at, frame) {
            Ok(true) => {
                self.shared.packets.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.shared.note_error(&rec.path, &e);
                self.shared.active.store(false, Ordering::Relaxed);
                if let Some(rec) = slot.take() {
                    rec.abandon();
                }
            }
        }
    }

    /// Install an already open file without writing the global header (tests use it to
    /// make writes fail).
    #[cfg(test)]
    fn install_raw(&self, file: File, path: PathBuf) {
        *self.shared.recording.lock() = Some(Recording::new(file, path));
        self.shared.active.store(true, Ordering::Relaxed);
    }
}

/// A device that records what passes through it into the file of a [`PcapHandle`].
pub struct PcapWriter<D> {
    inner: D,
    handle: PcapHandle,
}

impl<D: Device> PcapWriter<D> {
    /// Wrap `inner`; frames are recorded while `handle` is recording.
    pub fn new(inner: D, handle: PcapHandle) -> PcapWriter<D> {
        PcapWriter { inner, handle }
    }

    pub fn handle(&self) -> &PcapHandle {
        &self.handle
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: Device> Device for PcapWriter<D> {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn arm_recv_interrupt(&self) -> bool {
        self.inner.arm_recv_interrupt()
    }

    fn interrupt_recv(&self) {
        self.inner.interrupt_recv()
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let got = self.inner.recv(buf, timeout)?;
        if let Some(n) = got {
            if let Some(frame) = buf.get(..n) {
                self.handle.record(frame);
            }
        }
        Ok(got)
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_meta(frame, &FrameMeta::default())
    }

    /// Records what crosses the device: a coalesced or to-be-cut segment as one large frame,
    /// a checksum the device completes as it was handed over.
    fn recv_meta(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, FrameMeta)>> {
        let got = self.inner.recv_meta(buf, timeout)?;
        if let Some((n, _)) = got {
            if let Some(frame) = buf.get(..n) {
                self.handle.record(frame);
            }
        }
        Ok(got)
    }

    fn send_meta(&self, frame: &[u8], meta: &FrameMeta) -> io::Result<()> {
        // Recorded before it is handed on (as the tracer does): once the device has it, the
        // peer may answer, and whoever then stops the capture must find the frame in it
        // even if this thread is preempted on its way out of the write.
        self.handle.record(frame);
        self.inner.send_meta(frame, meta)
    }

    fn io_path(&self) -> &'static str {
        self.inner.io_path()
    }

    fn send_meta_batch(
        &self,
        frames: &[(&[u8], FrameMeta)],
        done: &mut dyn FnMut(usize, io::Result<()>),
    ) {
        for (frame, _) in frames {
            self.handle.record(frame);
        }
        self.inner.send_meta_batch(frames, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MacAddr, MemoryLink};
    use std::process::Command;

    /// A unique path under the temp dir, removed when dropped.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(tag: &str) -> TempPath {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            TempPath(std::env::temp_dir().join(format!(
                "tapip-netif-{tag}-{}-{nanos}-{n}.pcap",
                std::process::id()
            )))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn udp_frame(src_port: u16, payload_len: usize) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .udp(src_port, 53);
        let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
        let mut out = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut out, &payload).unwrap();
        out
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    /// Parse a whole file: (orig_len, data) of every record, checking the global header.
    fn parse_file(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
        assert!(bytes.len() >= GLOBAL_HEADER_LEN);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u16_at(bytes, 4), 2);
        assert_eq!(u16_at(bytes, 6), 4);
        assert_eq!(u32_at(bytes, 8), 0);
        assert_eq!(u32_at(bytes, 12), 0);
        assert_eq!(u32_at(bytes, 16), 262_144);
        assert_eq!(u32_at(bytes, 20), 1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut records = Vec::new();
        let mut at = GLOBAL_HEADER_LEN;
        while at < bytes.len() {
            assert!(
                at + RECORD_HEADER_LEN <= bytes.len(),
                "truncated record header"
            );
            let secs = u64::from(u32_at(bytes, at));
            let micros = u32_at(bytes, at + 4);
            let incl = u32_at(bytes, at + 8) as usize;
            let orig = u32_at(bytes, at + 12);
            assert!(
                now.abs_diff(secs) < 60,
                "timestamp {secs} is not about now ({now})"
            );
            assert!(micros < 1_000_000);
            assert!(incl as u32 <= orig && incl as u32 <= SNAPLEN);
            at += RECORD_HEADER_LEN;
            assert!(at + incl <= bytes.len(), "truncated record data");
            records.push((orig, bytes[at..at + incl].to_vec()));
            at += incl;
        }
        records
    }

    fn tcpdump_available() -> bool {
        Command::new("tcpdump")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn records_both_directions_and_reads_back() {
        let file = TempPath::new("both");
        let (peer, local) = MemoryLink::pair(
            ("peer", MacAddr([2, 0, 0, 0, 0, 1])),
            ("tap0", MacAddr([2, 0, 0, 0, 0, 2])),
            1500,
            64,
        );
        let handle = PcapHandle::new();
        let dev = PcapWriter::new(local, handle.clone());
        assert_eq!(dev.info().name, "tap0");

        // Not recording yet: nothing is written anywhere.
        peer.send(&udp_frame(1, 10)).unwrap();
        let mut buf = [0u8; 1600];
        assert!(dev
            .recv(&mut buf, Duration::from_millis(10))
            .unwrap()
            .is_some());
        assert!(!handle.is_recording());
        assert_eq!(handle.path(), None);

        handle.start(&file.0).unwrap();
        assert!(handle.is_recording());
        assert_eq!(handle.path().as_deref(), Some(file.0.as_path()));

        let mut expected = Vec::new();
        for i in 0..5u16 {
            let f = udp_frame(1000 + i, usize::from(i) * 100);
            peer.send(&f).unwrap();
            let n = dev
                .recv(&mut buf, Duration::from_millis(100))
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], &f[..]);
            expected.push(f);
        }
        for i in 0..3u16 {
            let f = udp_frame(2000 + i, 1400);
            dev.send(&f).unwrap();
            expected.push(f);
        }
        // The file is complete while recording.
        let live = std::fs::read(&file.0).unwrap();
        assert_eq!(parse_file(&live).len(), expected.len());

        handle.stop().unwrap();
        assert!(!handle.is_recording());
        // Frames after stop are not recorded.
        dev.send(&udp_frame(3000, 1)).unwrap();

        let bytes = std::fs::read(&file.0).unwrap();
        let records = parse_file(&bytes);
        assert_eq!(records.len(), expected.len());
        for ((orig, data), want) in records.iter().zip(&expected) {
            assert_eq!(*orig as usize, want.len());
            assert_eq!(data, want);
        }
        assert_eq!(handle.packets(), expected.len() as u64);
        assert_eq!(handle.write_errors(), 0);

        if tcpdump_available() {
            let out = Command::new("tcpdump")
                .arg("-r")
                .arg(&file.0)
                .arg("-nn")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "tcpdump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), expected.len(), "tcpdump output:\n{text}");
            assert!(lines.iter().all(|l| l.contains("10.0.0.")), "{text}");
        } else {
            println!("note: tcpdump is not installed; skipping the tcpdump read-back check");
        }
    }

    #[test]
    fn restart_truncates_and_switches_files() {
        let first = TempPath::new("first");
        let second = TempPath::new("second");
        let handle = PcapHandle::new();
        handle.start(&first.0).unwrap();
        handle.record(&udp_frame(1, 1));
        handle.start(&second.0).unwrap();
        handle.record(&udp_frame(2, 2));
        handle.record(&udp_frame(3, 3));
        handle.stop().unwrap();
        handle.stop().unwrap(); // stopping twice is fine
        assert_eq!(parse_file(&std::fs::read(&first.0).unwrap()).len(), 1);
        assert_eq!(parse_file(&std::fs::read(&second.0).unwrap()).len(), 2);

        // Starting again on the same path truncates it.
        handle.start(&first.0).unwrap();
        handle.stop().unwrap();
        assert_eq!(std::fs::read(&first.0).unwrap().len(), GLOBAL_HEADER_LEN);
    }

    #[test]
    fn oversized_frames_are_truncated_to_snaplen() {
        let (h, keep) = record_header(UNIX_EPOCH + Duration::new(5, 123_456_789), 300_000);
        assert_eq!(keep, SNAPLEN as usize);
        assert_eq!(u32_at(&h, 0), 5);
        assert_eq!(u32_at(&h, 4), 123_456);
        assert_eq!(u32_at(&h, 8), SNAPLEN);
        assert_eq!(u32_at(&h, 12), 300_000);
        // A clock before 1970 gives a zero timestamp rather than a failure.
        let (h, keep) = record_header(UNIX_EPOCH - Duration::from_secs(10), 0);
        assert_eq!((u32_at(&h, 0), u32_at(&h, 4), keep), (0, 0, 0));
    }

    /// The child of `a_write_error_leaves_only_whole_records`: records 1,000-byte frames
    /// into the file its parent names until a write fails (the parent limits the file's
    /// size), then reports. Does nothing when run on its own.
    #[test]
    fn write_until_the_file_size_limit_child() {
        let Ok(path) = std::env::var("TAPIP_PCAP_FILL") else {
            return;
        };
        let handle = PcapHandle::new();
        handle.start(&path).unwrap();
        let mut n = 0;
        while handle.is_recording() && n < 1_000 {
            handle.record(&udp_frame(n, 1_000 - 42));
            n += 1;
        }
        println!(
            "packets={} errors={} last={:?}",
            handle.packets(),
            handle.write_errors(),
            handle.last_error()
        );
    }

    /// A write that fails part-way (the disk fills up, or the file size limit is reached)
    /// must not leave half a record at the end of the file: the file stays one that
    /// `tcpdump -r` and Wireshark read to its end, with every record written before the
    /// error. A child process records under `ulimit -f` (SIGXFSZ ignored, so the write
    /// that crosses the limit is cut short and the next fails with EFBIG).
    #[test]
    fn a_write_error_leaves_only_whole_records() {
        let file = TempPath::new("fill");
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" --exact pcap::tests::write_until_the_file_size_limit_child --nocapture --test-threads 1")
            .arg(&exe)
            .env("TAPIP_PCAP_FILL", &file.0)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let at = text.find("packets=").expect(&text);
        let line = text[at..].lines().next().unwrap_or_default();
        assert!(line.contains("errors=1"), "{line}");
        let packets: usize = line["packets=".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(packets > 0, "{line}");
        let bytes = std::fs::read(&file.0).unwrap();
        // Every record whole (parse_file fails on a truncated one), all the written ones.
        let records = parse_file(&bytes);
        assert_eq!(records.len(), packets, "{line}");
        assert!(records
            .iter()
            .all(|(orig, data)| *orig == 1_000 && data.len() == 1_000));
    }

    /// `pcap start FIFO` with a reader that stops reading (a paused Wireshark, a
    /// stopped `tcpdump -r -`): a record is written by the thread that receives or sends
    /// the frame, under the recording's lock, so once the pipe is full each write blocks
    /// that thread, and the stack with it, for as long as the reader stalls; `pcap stop`
    /// waits on the same lock. A record that does not fit the pipe must be dropped and
    /// counted, and the device go on.
    #[test]
    fn a_stalled_fifo_reader_drops_records_instead_of_blocking() {
        let fifo = TempPath::new("fifo");
        let made = Command::new("mkfifo").arg(&fifo.0).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        // The reader: open, never read (until the end of the test).
        let reader = {
            use std::os::unix::fs::OpenOptionsExt;
            File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo.0)
                .unwrap()
        };
        let handle = PcapHandle::new();
        handle.start(&fifo.0).unwrap();
        let h = handle.clone();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let recorder = std::thread::spawn(move || {
            // 300 KB of records: several times what a pipe holds (64 KB by default).
            for i in 0..300 {
                h.record(&udp_frame(i, 1_000 - 42));
            }
            let _ = done_tx.send(());
        });
        let finished = done_rx.recv_timeout(Duration::from_secs(3)).is_ok();
        // Unblock the recorder whatever happened, so the test ends.
        drop(reader);
        recorder.join().unwrap();
        assert!(finished, "recording blocked on a full FIFO");
        assert!(handle.dropped() > 0, "{handle:?}");
        assert_eq!(handle.packets() + handle.dropped(), 300, "{handle:?}");
    }

    #[test]
    fn write_errors_stop_recording_without_breaking_the_device() {
        let dev_full = Path::new("/dev/full");
        if !dev_full.exists() {
            println!("note: /dev/full is missing; skipping the write-error check");
            return;
        }
        let handle = PcapHandle::new();
        // Starting on a full device fails cleanly.
        assert!(handle.start(dev_full).is_err());
        assert!(!handle.is_recording());

        let (peer, local) =
            MemoryLink::pair(("peer", MacAddr::ZERO), ("tap0", MacAddr::ZERO), 1500, 8);
        let dev = PcapWriter::new(local, handle.clone());
        let file = File::options().write(true).open(dev_full).unwrap();
        handle.install_raw(file, dev_full.to_path_buf());
        assert!(handle.is_recording());

        dev.send(&udp_frame(1, 10)).unwrap();
        assert!(!handle.is_recording());
        assert_eq!(handle.write_errors(), 1);
        assert!(handle.last_error().unwrap().starts_with("/dev/full"));
        assert_eq!(handle.packets(), 0);

        // The device keeps working.
        dev.send(&udp_frame(2, 10)).unwrap();
        let mut buf = [0u8; 1600];
        assert!(peer
            .recv(&mut buf, Duration::from_millis(10))
            .unwrap()
            .is_some());
        assert!(peer
            .recv(&mut buf, Duration::from_millis(10))
            .unwrap()
            .is_some());
        assert_eq!(handle.write_errors(), 1);
    }
}
