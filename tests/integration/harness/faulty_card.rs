//! A failing SD card for the tests: an in-process FUSE filesystem holding one file, `disk`,
//! with a loop device over it. Every read and write of the loop device reaches this process
//! (the file is opened `FOPEN_DIRECT_IO`: no FUSE page cache), so [`Faults`] can refuse writes
//! past an offset or after a byte budget, refuse reads, stall writes and flip a bit on reads,
//! changed while the device is in use. No device-mapper needed. It can also be a counterfeit
//! (addresses that wrap around, writes accepted and thrown away) or a card that stores some
//! writes wrong (see `faulty_card/storage.rs`).
//!
//! The bytes live in a sparse file in a scratch directory, read and written with
//! `pread`/`pwrite`; [`FaultyDisk::contents`] reads that file directly, so a test sees what
//! the card really stored, whatever the faults made the device say.
//!
//! Kernel behaviour worth knowing when writing tests with it (seen on Linux 6.18):
//! - A refused write reaches the writer of `/dev/loopN` as `EIO`, once: an `O_DIRECT` write
//!   fails at once (blockprint would say "Input/output error (os error 5)"); a buffered one
//!   succeeds and its `fsync` fails (a second `fsync` succeeds). The loop driver does not retry.
//! - An `O_DIRECT` write larger than one request is several requests, issued together: those
//!   not refused are stored even though the write as a whole fails.
//! - The loop device's requests are capped at [`MAX_REQUEST`] bytes, so that each one is
//!   exactly one FUSE write: a loop request split into several FUSE writes of which a later one
//!   is refused completes short, and the loop driver treats a short write as done.
//! - A refused read is `EIO` too. A short read is retried by the loop driver from where it
//!   stopped, so a read straddling the failing offset fails as a whole.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use fuser::{BackgroundSession, Config, MountOption};

use crate::harness::support::{self, LoopDevice};

use fuse::FaultyFs;

/// What the disk does wrong, changeable while it is in use ([`FaultyDisk::set`]).
///
/// Faults apply per FUSE request, which is one loop-device request (at most [`MAX_REQUEST`]
/// bytes, usually what one `O_DIRECT` write or read asked for): a refused request stores or
/// returns nothing at all.
#[derive(Default, Clone, Debug)]
pub struct Faults {
    /// Writes touching bytes at or beyond this offset fail with EIO.
    pub fail_writes_from: Option<u64>,
    /// The card wears out: a write that would take the total of bytes written (counted since
    /// the disk was made, see [`FaultyDisk::bytes_written`]) past this fails with EIO, and so
    /// does every further write until the next [`FaultyDisk::set`].
    pub fail_writes_after: Option<u64>,
    /// Reads touching bytes at or beyond this offset fail with EIO.
    pub fail_reads_from: Option<u64>,
    /// Every write touching bytes at or beyond this offset first sleeps this long, or until
    /// the stall is lifted (a stalling or hung card). Other requests are served meanwhile.
    pub stall_writes_from: Option<(u64, Duration)>,
    /// Reads return the byte at this offset with its lowest bit flipped (the data is stored
    /// correctly).
    pub flip_bit_on_read_at: Option<u64>,
    // The faults below succeed: the writer is told nothing. They apply to physical offsets,
    // after `wrap_from` (see `faulty_card/storage.rs`).
    /// A counterfeit that wraps around: a read or write at an offset of N or more reaches
    /// offset % N, so what is written there overwrites the card's start.
    pub wrap_from: Option<u64>,
    /// A counterfeit that loses writes: writes at or beyond N succeed but store nothing, and
    /// reads there return zeros.
    pub lose_writes_from: Option<u64>,
    /// A counterfeit that returns old data: writes at or beyond N succeed but store nothing,
    /// and reads there return what the backing file held before (fill it with
    /// [`FaultyDisk::fill_random`] first, so that "old" is not zeros).
    pub stale_from: Option<u64>,
    /// A bad stretch of flash: writes there succeed but store nothing; reads return what was
    /// there before.
    pub bad_region: Option<Range<u64>>,
    /// A card that stores writes wrong: of every 512-byte sector of the range (counted from
    /// its start) that a write touches, the first byte the write puts there is stored
    /// inverted (XOR 0xFF); the rest is stored as written. With `true`, only the first write
    /// touching each sector is corrupted, and every later write of it is stored correctly
    /// (a card that dropped one write: writing the range again heals it); with `false`, every
    /// write is. Which sectors were corrupted is forgotten on [`FaultyDisk::set`].
    pub corrupt_writes: Option<(Range<u64>, bool)>,
}

/// The largest loop-device request, in bytes: the loop queue's `max_sectors_kb` is set to this
/// so that a request never spans two FUSE writes (FUSE's limit is 1 MiB or more).
pub const MAX_REQUEST: u64 = 512 << 10;

/// The file's name in the mount.
const DISK_NAME: &str = "disk";
/// FUSE worker threads: a stalled write must not hold up other requests.
const THREADS: usize = 4;

/// The filesystem's mutable state.
#[derive(Debug, Default)]
struct State {
    faults: Faults,
    size: u64,
    /// Bytes stored by successful writes.
    written: u64,
    /// `fail_writes_after` was reached: every write fails until the faults are set again.
    worn_out: bool,
    /// The sectors `corrupt_writes` corrupted once, until the faults are set again.
    corrupted: storage::Corrupted,
}

/// What the FUSE threads and the test share.
#[derive(Debug)]
struct Shared {
    backing: File,
    state: Mutex<State>,
    /// When the disk was made: every timestamp.
    born: SystemTime,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Caps the requests of a loop device over a faulty disk at [`MAX_REQUEST`] bytes.
pub fn cap_requests(device: &Path) {
    let name = device.file_name().expect("loop name");
    let queue = Path::new("/sys/block").join(name).join("queue");
    std::fs::write(
        queue.join("max_sectors_kb"),
        (MAX_REQUEST >> 10).to_string(),
    )
    .expect("cap the loop device's request size");
}

/// A FUSE mount holding one file `disk` of a given size, with a loop device over it: a disk
/// whose faults a test sets while writing to it. Needs root. Dropping it detaches the loop
/// device, then unmounts (lazily, leaving the FUSE threads to serve what still holds the file,
/// if the loop device is still in use); it does not hang on an active fault.
pub struct FaultyDisk {
    shared: Arc<Shared>,
    device: PathBuf,
    /// `None` once detached.
    loop_device: Option<LoopDevice>,
    /// `None` once unmounted.
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
    /// Holds the backing file and the mount point; removed last.
    _dir: tempfile::TempDir,
}

impl FaultyDisk {
    /// A disk of `size` bytes (a multiple of 512), all zero, with no faults, and a loop
    /// device over it.
    pub fn new(size: u64) -> Self {
        let mut disk = Self::without_loop(size);
        // Dropped (unmounted) if the loop device cannot be made.
        let loop_device = LoopDevice::new(&disk.file());
        disk.device = loop_device.path.clone();
        disk.loop_device = Some(loop_device);
        cap_requests(&disk.device);
        disk
    }

    /// The disk without a loop device: someone else sets one up over [`FaultyDisk::file`]
    /// (udisksd, in the app's tests) and calls [`cap_requests`] on it; [`FaultyDisk::device`]
    /// is empty.
    pub fn without_loop(size: u64) -> Self {
        support::require_root("a faulty disk (FUSE mount, loop device)");
        assert!(size > 0 && size.is_multiple_of(512), "size {size}");
        let dir = support::scratch();
        let backing = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("backing.img"))
            .expect("backing file");
        backing.set_len(size).expect("size the backing file");
        let shared = Arc::new(Shared {
            backing,
            state: Mutex::new(State {
                size,
                ..State::default()
            }),
            born: SystemTime::now(),
        });
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mount point");
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("blockprint-faulty".into()),
            MountOption::NoAtime,
        ];
        config.n_threads = Some(THREADS);
        let session = fuser::spawn_mount(FaultyFs(Arc::clone(&shared)), &mountpoint, &config)
            .expect("mount the faulty FUSE filesystem");
        Self {
            shared,
            device: PathBuf::new(),
            loop_device: None,
            session: Some(session),
            mountpoint,
            _dir: dir,
        }
    }

    /// The FUSE file itself.
    pub fn file(&self) -> PathBuf {
        self.mountpoint.join(DISK_NAME)
    }

    /// The loop device, `/dev/loopN`.
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Replaces the faults; the next request sees them (one already stalling ends its stall if
    /// the new faults do not stall it).
    /// Also ends a worn-out state (`fail_writes_after`).
    pub fn set(&self, faults: Faults) {
        let mut state = self.shared.state();
        state.faults = faults;
        state.worn_out = false;
        state.corrupted = storage::Corrupted::default();
    }

    /// Fills `range` of the backing file (no fault applied) with the "old data" of a card:
    /// one MiB of pseudo-random bytes from `seed`, repeated, each copy stamped with its
    /// offset (at its start and 4 KiB in).
    pub fn fill_random(&self, range: Range<u64>, seed: u64) {
        let mut chunk = support::random_bytes(seed, 1 << 20);
        let mut at = range.start;
        while at < range.end {
            let len = usize::try_from((range.end - at).min(1 << 20)).expect("fits");
            chunk[..8].copy_from_slice(&(at ^ seed).to_le_bytes());
            chunk[4096..4104].copy_from_slice(&at.to_le_bytes());
            self.shared
                .backing
                .write_all_at(&chunk[..len], at)
                .expect("fill the backing file");
            at += len as u64;
        }
    }

    /// Total bytes of the writes the loop device made and the disk accepted (those a fault
    /// threw away or corrupted included; refused ones not).
    pub fn bytes_written(&self) -> u64 {
        self.shared.state().written
    }

    /// Starts `blockprint ARGS` (stdout and stderr piped) and returns it once it has written
    /// `bytes` more to this disk; `what` names it if it never gets that far (60 s).
    pub fn spawn_writing(
        &self,
        args: &[&std::ffi::OsStr],
        bytes: u64,
        what: &str,
    ) -> std::process::Child {
        let start = self.bytes_written();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_blockprint"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start blockprint");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.bytes_written() < start + bytes {
            assert!(Instant::now() < deadline, "{what} never got going");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// `len` bytes at `offset` as stored, read from the backing file (no fault applied).
    pub fn contents(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.shared
            .backing
            .read_exact_at(&mut buf, offset)
            .expect("read the backing file");
        buf
    }

    /// Detaches the loop device (`losetup -d`); the kernel defers it while the device is open.
    pub fn detach_loop(&mut self) {
        if let Some(mut loop_device) = self.loop_device.take() {
            loop_device.detach();
        }
    }

    /// Unmounts the FUSE filesystem: waits up to 2 s for the loop device to let go of the file,
    /// then detaches the mount lazily. Joins the FUSE threads only after a full unmount.
    fn unmount(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let path = CString::new(self.mountpoint.as_os_str().as_bytes()).expect("no NUL");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
            if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
                // The connection is gone: the threads read ENODEV and end (a stalled one after
                // its sleep).
                let _ = session.join();
                return;
            }
            let busy = io::Error::last_os_error().raw_os_error() == Some(libc::EBUSY);
            if !busy || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Still held (an open loop device whose detach is deferred): detach the mount and leave
        // the threads serving until the last user lets go.
        // SAFETY: as above.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        drop(session);
    }
}

impl Drop for FaultyDisk {
    fn drop(&mut self) {
        // The loop device first: it holds the FUSE file open. Errors are ignored (LoopDevice's
        // drop), a panic here would abort a failing test.
        drop(self.loop_device.take());
        self.unmount();
    }
}

/// A page-aligned buffer for `O_DIRECT` I/O.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Self {
        let buf = vec![0u8; len + 4096];
        let start = buf.as_ptr().align_offset(4096);
        Self { buf, start, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// Opens the device with `O_DIRECT`: every read and write goes to the disk.
fn open_direct(device: &Path) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(device)
        .expect("open the loop device O_DIRECT")
}

/// Writes `data` at `offset` of a device with `O_DIRECT`.
pub fn write_direct(device: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
    let mut buf = Aligned::zeroed(data.len());
    buf.bytes_mut().copy_from_slice(data);
    open_direct(device).write_all_at(buf.bytes(), offset)
}

/// Reads `len` bytes at `offset` of a device with `O_DIRECT`.
pub fn read_direct(device: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Aligned::zeroed(len);
    open_direct(device).read_exact_at(buf.bytes_mut(), offset)?;
    Ok(buf.bytes().to_vec())
}

// The FUSE side: the requests of the one file, with the faults applied.
mod fuse;
// What a test using the disk relies on.
mod self_tests;
// Where the bytes of a request go under the counterfeit faults.
mod storage;
