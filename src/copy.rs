//! Copying an image to a target: only the mapped ranges, each verified as it streams.
//!
//! ```text
//!   reader thread           calling thread (coordinator)          the target's lane thread
//!   ─────────────           ────────────────────────────          ────────────────────────
//!   for each range:         for each chunk:                       wipe the ends (device)
//!     skip_to(start)          hash (range checksum)               first MiB? keep it :
//!     read CHUNK ── Data ──►  share it ──────── Data ────────────►  queue it ──► writer pool
//!     ...        ── RangeEnd► digest == bmap? else stop                         pwrite (O_DIRECT),
//!   drain a stream's tail   forward the lane's events to the sink                several in flight
//!   to its end  ── Done ──► every 100 ms: has an operation of     Finish: sync, read back
//!                           the lane hung past the limit?         Commit: held-back MiB, sync
//!   ◄────────────────────── empty buffers, once every lane has written them ◄──────────────
//! ```
//!
//! Reading, hashing and writing overlap. Buffers are page-aligned for `O_DIRECT` and recycled
//! through a fixed pool, so memory is the same whatever the image size. The reader owns the
//! source, the calling thread owns the progress sink and never touches the device, and the
//! lane owns (a duplicate of) the target: a device that hangs in the kernel holds up only its
//! lane's thread, and the coordinator gives it up after [`CopyOptions::stall_timeout`] with
//! an error naming the device and the offset. Errors travel along the channels.
//!
//! On a block device the first MiB of the image (partition table, boot code) is written last,
//! after everything else is written, flushed and (with read-back) compared; the device's first
//! and last MiB are zeroed first, so an old partition table (or a stale backup GPT) cannot
//! survive. A failed or interrupted copy therefore never leaves a card that looks bootable.

mod coordinator;
mod finish;
mod lane;
mod plan;
mod pool;
mod queue;
mod reader;
mod rewrite;
mod sentinel;
mod slot;
mod speed;
pub(crate) mod watch;

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use crate::bmap::{Bmap, Digest};
use crate::card::{CapacityReport, ProbeError};
use crate::firstboot::{Applied, FirstBoot, FirstBootError};
use crate::progress::{CancelToken, Event, ProgressSink};
use crate::scan::StreamFindings;
use crate::source::{ImageSource, SourceError};
use crate::target::{Target, TargetError};

pub use plan::Mapping;
use plan::{Origin, Plan, Planned, segment_of};
pub use sentinel::Found;
pub use speed::{MEASURABLE, SpeedClass};

/// Bytes per read and write.
pub const CHUNK: usize = 4 << 20;
/// The start of the image written last on block devices, and the size of each wiped end.
pub const HOLD_BACK: u64 = 1 << 20;
/// Without a bmap the image is split into segments of this size, so a read-back mismatch is
/// located to within 64 MiB; the bmap of what was written has no longer range than any bmap
/// Blockprint makes, cut at the same offsets.
const SEGMENT: u64 = crate::bmap::LONGEST_RANGE_MADE;

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Check each range against its bmap checksum while streaming (`--no-verify` turns off).
    pub verify_checksums: bool,
    /// Read every written range back from the target and compare (`--verify-readback`).
    pub verify_readback: bool,
    /// Cancelling this token skips the rest of the read-back and finishes the copy (the
    /// report then says nothing was read back): a user's "Skip verification".
    pub skip_readback: Option<CancelToken>,
    /// Give the target up when one operation on it (a write, a flush, a read) has not
    /// finished after this long: a hung card or reader then ends the copy with
    /// [`TargetError::Stalled`] instead of freezing it (during the capacity probe, with
    /// [`ProbeError::Stalled`]). `None` waits for ever.
    pub stall_timeout: Option<Duration>,
    /// First-boot settings to write into each target's boot partition once the image is
    /// written (and read back), read back themselves, before the held-back first MiB is
    /// written: a card whose settings did not stick is left unbootable. `None` writes the
    /// image alone.
    pub first_boot: Option<Arc<FirstBoot>>,
    /// Per-target first-boot settings, target `i` getting entry `i` instead of
    /// [`CopyOptions::first_boot`] (a station numbering its cards' hostnames); empty: every
    /// target gets `first_boot`.
    pub first_boot_each: Vec<Option<Arc<FirstBoot>>>,
    /// Opens the image again, from its start, so that ranges that did not read back as
    /// written can be written again from a fresh read (a flaky reader, a card that dropped
    /// one write). `None` (standard input, which cannot be read twice) makes such a range
    /// fail the copy at once.
    pub reopen: Option<Reopen>,
    /// Before writing a block device, find out how much it really holds ([`crate::card::probe`],
    /// a few seconds): a counterfeit card the image does not fit is refused with
    /// [`CopyError::Capacity`] before anything of the image is written; one it fits is written,
    /// and [`CopyReport::capacity`] says what the card is.
    pub check_capacity: bool,
}

/// Opens the image again from its start ([`CopyOptions::reopen`]).
#[derive(Clone)]
pub struct Reopen(Arc<OpenAgain>);

/// What [`Reopen`] calls.
type OpenAgain = dyn Fn() -> Result<Box<dyn ImageSource>, SourceError> + Send + Sync;

impl Reopen {
    /// A way to open the image again.
    pub fn new(
        open: impl Fn() -> Result<Box<dyn ImageSource>, SourceError> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(open))
    }

    /// Opens the image again.
    fn open(&self) -> Result<Box<dyn ImageSource>, SourceError> {
        (self.0)()
    }
}

impl fmt::Debug for Reopen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reopen(..)")
    }
}

/// The default of [`CopyOptions::stall_timeout`]: the kernel gives a USB or SD command 30 s
/// and retries it, so a device that has not answered in twice that is not coming back soon.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl CopyOptions {
    /// The first-boot settings of target `index`.
    pub(crate) fn first_boot_for(&self, index: usize) -> Option<Arc<FirstBoot>> {
        match self.first_boot_each.get(index) {
            Some(each) => each.clone(),
            None if self.first_boot_each.is_empty() => self.first_boot.clone(),
            None => None,
        }
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            verify_checksums: true,
            verify_readback: false,
            skip_readback: None,
            stall_timeout: Some(STALL_TIMEOUT),
            first_boot: None,
            first_boot_each: Vec::new(),
            reopen: None,
            check_capacity: false,
        }
    }
}

/// What a finished copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Image size in bytes (for a stream of unknown size, the bytes it turned out to hold).
    pub image_size: u64,
    /// Bytes of the image that were mapped, hence written.
    pub mapped_bytes: u64,
    /// Ranges written.
    pub ranges: usize,
    /// Ranges whose checksum was verified while streaming.
    pub ranges_verified: usize,
    /// Whether every range was read back from the target and matched.
    pub read_back: bool,
    /// Whether the target was written with `O_DIRECT`.
    pub direct_io: bool,
    /// Wall time from the first write to the final sync.
    pub elapsed: Duration,
    /// The first-boot settings written and read back, when [`CopyOptions::first_boot`] asked
    /// for them.
    pub first_boot: Option<Applied>,
    /// How long at least one write or flush was under way on the target: the card's own
    /// time, without the time spent waiting for the image.
    pub card_busy: Duration,
    /// Ranges that did not read back as written, were written again and then did.
    pub rewritten: usize,
    /// Sentinels planted where the image puts nothing and found intact at the end (block
    /// devices; a counterfeit card loses them).
    pub sentinels: usize,
    /// What the capacity probe found, when [`CopyOptions::check_capacity`] asked for it: a
    /// counterfeit card that the image fits is written, and this says what it really holds
    /// (boxed: it is large, and rare).
    pub capacity: Option<Box<CapacityReport>>,
    /// The bmap of what was written, with the SHA-256 of every range as it was written: for
    /// a copy without a bmap ([`Mapping::Scanned`], [`Mapping::Stream`], and
    /// [`Mapping::Whole`] when every range was hashed for read-back), so the next copy of the
    /// same image can use it.
    pub bmap: Option<Arc<Bmap>>,
    /// What [`Mapping::Stream`] found in the image and left out, per region.
    pub streamed: Option<Arc<StreamFindings>>,
}

impl CopyReport {
    /// The write speed the card sustained, in bytes per second: what was written over
    /// [`CopyReport::card_busy`]. Only with `O_DIRECT` (buffered writes time the page cache)
    /// and once at least [`MEASURABLE`] bytes were written.
    pub fn write_speed(&self) -> Option<f64> {
        if !self.direct_io {
            return None;
        }
        speed::per_second(self.mapped_bytes, self.card_busy)
    }
}

/// Why a copy failed. Each names the image, the target, the range or the offset concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The image could not be read.
    #[error("cannot read image '{image}' at offset {offset}")]
    Read {
        /// The image.
        image: String,
        /// Where the read failed.
        offset: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image ended before the bmap says it does.
    #[error(
        "image '{image}' ends at offset {offset}, inside {range}; the image is truncated or the bmap belongs to another image"
    )]
    Truncated {
        /// The image.
        image: String,
        /// Where the data ended.
        offset: u64,
        /// The range being read.
        range: RangeLabel,
    },
    /// A local image whose size differs from the bmap's `ImageSize`.
    #[error(
        "image '{image}' has {actual} bytes but its bmap describes an image of {expected} bytes; the bmap belongs to another image (or the image is truncated)"
    )]
    SizeMismatch {
        /// The image.
        image: String,
        /// Its size.
        actual: u64,
        /// The bmap's `ImageSize`.
        expected: u64,
    },
    /// An image of zero bytes.
    #[error("image '{image}' is empty; there is nothing to write")]
    EmptyImage {
        /// The image.
        image: String,
    },
    /// A range's data does not match the bmap.
    #[error(
        "checksum mismatch for {range}: calculated {calculated}, should be {expected} (image file '{image}'); the image is corrupt or does not match its bmap, and '{target}' must be rewritten"
    )]
    Checksum {
        /// The range.
        range: RangeLabel,
        /// The digest of the data read.
        calculated: Digest,
        /// The bmap's digest.
        expected: Digest,
        /// The image.
        image: String,
        /// The target, partly written.
        target: String,
    },
    /// What was read back differs from what was written.
    #[error(
        "read-back mismatch on '{target}' in {range}: read {read}, wrote {written}; the device does not keep what is written to it: it is failing or counterfeit. Check it with 'blockprint check-card --full', or use another"
    )]
    ReadBack {
        /// The target.
        target: String,
        /// The range.
        range: RangeLabel,
        /// The digest of what was read.
        read: Digest,
        /// The digest of what was written.
        written: Digest,
    },
    /// Ranges that did not read back were written again, and still do not read back.
    #[error(
        "'{target}' keeps corrupting what is written to it: {ranges} range(s), the first {range}, still differ after writing them {attempts} more time(s); the card is failing or counterfeit. Check it with 'blockprint check-card --full', or use another"
    )]
    Unreliable {
        /// The target.
        target: String,
        /// Ranges that still differ.
        ranges: usize,
        /// The first of them.
        range: RangeLabel,
        /// How often they were written again.
        attempts: u32,
    },
    /// A sentinel planted where the image puts nothing did not survive the copy: the device
    /// holds less than it claims, or is failing. The first MiB was not written.
    #[error(
        "'{target}' lost the test block written at offset {offset} ({found}): the card holds less than it claims (counterfeit) or is failing, and it was left unbootable. Check it with 'blockprint check-card', or use another"
    )]
    LostSentinel {
        /// The target.
        target: String,
        /// Where the sentinel was written.
        offset: u64,
        /// What came back instead.
        found: Found,
    },
    /// The image could not be opened again to write a range again.
    #[error(
        "read-back mismatch on '{target}' in {range}, and image '{image}' cannot be read again to write it again; write the card again"
    )]
    Reopen {
        /// The target.
        target: String,
        /// The image.
        image: String,
        /// The range that did not read back.
        range: RangeLabel,
        /// Why the image could not be opened again (boxed: it is large, and rare).
        #[source]
        source: Box<SourceError>,
    },
    /// The capacity probe found a card that does not store what it claims, and the image does
    /// not fit what it really stores (or it loses data at scattered places): nothing of the
    /// image was written.
    #[error(
        "'{target}': {report} The image needs {}, so nothing of it was written; use another card",
        crate::card::decimal(*.image_size)
    )]
    Capacity {
        /// The target.
        target: String,
        /// What the probe found (boxed: it is large).
        report: Box<CapacityReport>,
        /// The bytes the image needs on the card.
        image_size: u64,
    },
    /// The capacity probe could not run to its end.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The target failed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The first-boot settings could not be written to the written image, or did not read
    /// back; the held-back first MiB was then not written.
    #[error(
        "cannot write the first-boot settings to '{target}' ({})",
        settings_outcome(*.header_withheld)
    )]
    FirstBoot {
        /// The target.
        target: String,
        /// Whether the image's first MiB was held back (a block device): the card then has
        /// no partition table and does not boot.
        header_withheld: bool,
        /// What went wrong.
        #[source]
        source: FirstBootError,
    },
    /// A helper thread of the copy stopped without a word: a bug.
    #[error("internal error: {thread} stopped unexpectedly; please report this")]
    ThreadFailed {
        /// Which thread.
        thread: &'static str,
    },
    /// Stopped by the cancel token or the progress sink.
    #[error("cancelled; '{target}' was partly written and must be rewritten before use")]
    Cancelled {
        /// The target.
        target: String,
    },
}

/// What a failure of the first-boot settings left behind, for [`CopyError::FirstBoot`].
fn settings_outcome(header_withheld: bool) -> &'static str {
    if header_withheld {
        "the image is written but its first MiB is not, so the card will not boot half set \
         up; fix the cause and write again"
    } else {
        "the image file was not kept; fix the cause and write again"
    }
}

/// Names a range in messages: bmap blocks, or bytes when copying without a bmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeLabel {
    /// Blocks `first..=last` of the bmap.
    Blocks {
        /// First block.
        first: u64,
        /// Last block.
        last: u64,
    },
    /// Bytes `start..end` of the image.
    Bytes {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// The held-back start of the image.
    Header {
        /// Its length.
        len: u64,
    },
}

impl fmt::Display for RangeLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RangeLabel::Blocks { first, last } if first == last => write!(f, "block {first}"),
            RangeLabel::Blocks { first, last } => write!(f, "blocks range {first}-{last}"),
            RangeLabel::Bytes { start, end } => write!(f, "bytes {start}-{}", end - 1),
            RangeLabel::Header { len } => write!(f, "the first {len} bytes (written last)"),
        }
    }
}

/// Checks what can be known of `source` before anything is opened for writing: with a bmap,
/// a source of known size must be exactly `ImageSize` bytes; without one, a known size must not
/// be zero (an unknown one is found at the end of the stream).
pub fn check_source(source: &dyn ImageSource, bmap: Option<&Bmap>) -> Result<(), CopyError> {
    let image = || source.name().to_owned();
    match (bmap, source.size()) {
        (Some(bmap), Some(actual)) if actual != bmap.image_size() => Err(CopyError::SizeMismatch {
            image: image(),
            actual,
            expected: bmap.image_size(),
        }),
        (None, Some(0)) => Err(CopyError::EmptyImage { image: image() }),
        _ => Ok(()),
    }
}

/// Copies `source` to `target`: the ranges of `bmap`, or the whole image without one.
///
/// Everything that can be checked is checked before the first write: the image size against
/// the bmap, and the target's capacity. The sink receives [`crate::progress::Event`]s on this
/// thread, the target's without their tag; the reading happens on a helper thread, the
/// writing on the target's own.
pub fn copy(
    source: &mut dyn ImageSource,
    bmap: Option<&Bmap>,
    target: &mut Target,
    options: &CopyOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<CopyReport, CopyError> {
    let targets = vec![target.hand_over()?];
    let mut untagged = |event: &Event| match event {
        Event::Target { event, .. } => event
            .untagged()
            .map_or(ControlFlow::Continue(()), |event| sink.event(&event)),
        event => sink.event(event),
    };
    let result = copy_to_all(source, bmap, targets, options, &mut untagged, cancel).pop();
    let failed = || CopyError::ThreadFailed {
        thread: "the target's thread",
    };
    // Nothing else holds the error: the sink above passes no `Failed` on.
    result
        .unwrap_or_else(|| Err(Arc::new(failed())))
        .map_err(|error| Arc::into_inner(error).unwrap_or_else(failed))
}

/// Copies `source` to every target at once: the image is read, decoded and verified once,
/// and each target is written by threads of its own, with its own held-back first MiB, sync,
/// read-back and result.
///
/// Returns one result per target, in order. A target that fails, or hangs for
/// [`CopyOptions::stall_timeout`], is dropped with its error and the others finish; a slow
/// one sets the pace, since every target writes each of a fixed set of buffers. A failure of
/// the copy as a whole (the image cannot be read or does not match its bmap, a target is too
/// small, or cancelled) is the result of every target that had none yet.
///
/// Each target's events arrive tagged with its index ([`Event::Target`]), one target's too.
/// Every `Ok` is announced by [`TargetEvent::Done`] when the target is written, checked and
/// closed by its thread, so it may be powered off while the others are still written; every
/// target's own failure by [`TargetEvent::Failed`].
///
/// [`TargetEvent::Done`]: crate::progress::TargetEvent::Done
/// [`TargetEvent::Failed`]: crate::progress::TargetEvent::Failed
pub fn copy_to_all(
    source: &mut dyn ImageSource,
    bmap: Option<&Bmap>,
    targets: Vec<Target>,
    options: &CopyOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Vec<Result<CopyReport, Arc<CopyError>>> {
    let mapping = bmap.map_or(Mapping::Whole, Mapping::Bmap);
    copy_mapped(source, mapping, targets, options, sink, cancel)
}

/// [`copy_to_all`], writing what `mapping` says: a bmap's ranges, a scan's, those a stream
/// scan does not leave out, or every byte.
pub fn copy_mapped(
    source: &mut dyn ImageSource,
    mapping: Mapping<'_>,
    targets: Vec<Target>,
    options: &CopyOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Vec<Result<CopyReport, Arc<CopyError>>> {
    // Before the first write, a failure is every target's.
    let count = targets.len();
    let all_failed = |error| vec![Err(Arc::new(error)); count];
    let bmap = match mapping {
        Mapping::Bmap(bmap) => Some(bmap),
        _ => None,
    };
    if let Err(error) = check_source(source, bmap) {
        return all_failed(error);
    }
    let plan = match mapping {
        Mapping::Bmap(bmap) => Plan::from_bmap(bmap),
        Mapping::Scanned(report) => Plan::scanned(report),
        Mapping::Stream => Plan::found_as_read(Origin::Stream, source.size()),
        Mapping::Whole => Plan::found_as_read(Origin::Whole, source.size()),
    };
    // A network source then requests only these spans (merging near ones); others ignore it.
    source.plan(&plan.spans());
    coordinator::run(plan, source, targets, options, sink, cancel).unwrap_or_else(all_failed)
}
