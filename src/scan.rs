//! Filesystem-aware bmap creation: the successor of bmaptool-scan, as any user, in pure Rust.
//!
//! A bmap made from the holes of a sparse file (`create`) is useless for images that were
//! expanded or recompressed, and unsafe where zero blocks became holes. This module reads the
//! partition table and the filesystems of a raw image instead, and leaves out only what a
//! filesystem positively marks free.
//!
//! **The safety rule**: a byte is left unmapped only if a parser understood
//! every layer above it, that parser marks it free, and every check of those layers passed.
//! Any error or doubt maps the whole filesystem (or image), with the reason, never a guess.
//! Zero bytes are never taken as free. Free space is rounded inward to 4096-byte blocks, so a
//! block touching one used byte stays mapped. Everything that is not a scanned filesystem —
//! partition tables, gaps before and between partitions (boot ROMs read bootloaders there),
//! the tail, backup GPTs — stays mapped.
//!
//! ```text
//!  image ──► container (ISO/UDF probe, GPT, MBR+EBR, bare filesystem)
//!                 │ regions
//!                 ▼
//!            filesystem (ext2/3/4, FAT, exFAT, btrfs, XFS, NTFS, swap; others mapped whole)
//!                 │ provably free byte ranges
//!                 ▼
//!            union, rounded inward to 4 KiB ──► complement = mapped blocks ──► bmap
//! ```
//!
//! The scan reads any [`RandomAccess`] store, and so does the hashing of the mapped blocks:
//! [`to_bmap`] reads a local image file (direct where it can), [`to_bmap_from`] any store, such
//! as the image in an xz file of several blocks, of which only the blocks that hold mapped
//! ranges are then decoded.

mod btrfs;
mod container;
mod crc32c;
mod exfat;
mod ext;
mod fat;
mod fs;
mod interval;
mod ntfs;
mod stream;
mod swap;
#[cfg(test)]
pub(crate) mod testing;
mod xfs;

use std::path::Path;

use crate::bmap::Bmap;
use crate::create::{CreateError, CreateOptions, Image};
use crate::mapping::Extent;
use crate::progress::{CancelToken, ProgressSink, Reporter};
use crate::source::RandomAccess;

pub(crate) use container::{Table, table};
pub use fs::Verdict;
pub(crate) use fs::recognise;
pub use interval::Ranges;
pub(crate) use stream::horizon::not_yet;
pub use stream::{StreamFindings, StreamRegion, StreamScan};

/// The bmap block size of a scan: free space is rounded inward to it.
pub const BLOCK: u64 = 4096;

/// What the scan found in one region of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the region in the image.
    pub start: u64,
    /// Its length.
    pub len: u64,
    /// Where it is, for people ("partition 2 (GPT 'rootfs')", "the whole image").
    pub place: String,
    /// The parser's conclusion.
    pub verdict: Verdict,
    /// Bytes left out of the bmap for this region, after rounding to whole blocks.
    pub free: u64,
}

/// The outcome of scanning an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// The image size.
    pub image_size: u64,
    /// The partitioning found ("GPT, 512-byte sectors", "MBR", "no partition table").
    pub layout: String,
    /// One finding per region scanned (or deliberately not scanned).
    pub findings: Vec<Finding>,
    /// Free byte ranges of the whole image, normalized and whole [`BLOCK`]s.
    pub free: Ranges,
}

impl ScanReport {
    /// The byte spans of the ranges of this scan's bmap: everything but the free ranges, cut
    /// at every [`crate::bmap::LONGEST_RANGE_MADE`] as every bmap Blockprint makes. What a
    /// backup reads and a scanned copy writes, range by range, so their bmaps are this one.
    pub(crate) fn bmap_spans(&self) -> Vec<(u64, u64)> {
        crate::bmap::cut_long(self.free.complement(self.image_size).as_slice(), BLOCK)
    }

    /// The mapped blocks (`first..=last`, in [`BLOCK`]s): everything but the free ranges.
    pub fn mapped_blocks(&self) -> Vec<(u64, u64)> {
        self.free
            .complement(self.image_size)
            .as_slice()
            .iter()
            .map(|&(s, e)| (s / BLOCK, (e - 1) / BLOCK))
            .collect()
    }
}

/// The bmap of the image file at `path` for `report` (its scan): format 2.0, 4 KiB blocks,
/// every mapped range hashed with SHA-256 unless `options` says not to. The file is read as
/// `create` reads it: large positional reads, direct where its filesystem allows.
pub fn to_bmap(
    path: &Path,
    report: &ScanReport,
    options: CreateOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Bmap, CreateError> {
    let file = std::fs::File::open(path).map_err(|source| CreateError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    build(
        Image::File { file: &file, path },
        report,
        options,
        sink,
        cancel,
    )
}

/// [`to_bmap`] for an image read through `store`, which [`scan`] scanned into `report`: the
/// image in an xz file of several blocks (only the blocks holding mapped ranges are decoded,
/// as the hashing's workers ask for them), a member of an uncompressed tar, a file on a server
/// honouring Range requests. Each mapped range is read through the store's stream of it. A
/// read that fails, or the image ending inside a range, is [`CreateError::ReadStore`], naming
/// the store ([`RandomAccess::name`]) and the byte offset. For a local raw image file,
/// [`to_bmap`] reads faster.
pub fn to_bmap_from(
    store: &dyn RandomAccess,
    report: &ScanReport,
    options: CreateOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Bmap, CreateError> {
    build(Image::Store(store), report, options, sink, cancel)
}

/// The bmap of `image` for `report`.
fn build(
    image: Image<'_>,
    report: &ScanReport,
    options: CreateOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Bmap, CreateError> {
    let mut reporter = Reporter::new(sink, cancel);
    let extents: Vec<Extent> = report
        .mapped_blocks()
        .into_iter()
        .map(|(first, last)| Extent { first, last })
        .collect();
    crate::create::build(
        image,
        report.image_size,
        BLOCK,
        &extents,
        options,
        &mut reporter,
    )
}

/// Runs the parser called `name` ("ext2/3/4", "FAT", "exFAT", "btrfs", "XFS", "NTFS" or
/// "swap") on `region` as if it had claimed it: no partition tables, no detection. `None` if
/// there is no such parser. For testing each parser on its own (the
/// fuzz targets do); [`scan`] is the way to scan an image.
pub fn scan_as(name: &str, region: &dyn RandomAccess) -> Option<Verdict> {
    fs::scan_as(name, region)
}

/// Scans `image`. Never fails: whatever cannot be read or understood is mapped.
pub fn scan(image: &dyn RandomAccess) -> ScanReport {
    let layout = container::probe(image);
    let mut findings = Vec::new();
    let mut all_free = Ranges::new();
    for region in &layout.regions {
        let verdict = match &region.forced {
            Some(reason) => Verdict::MapWhole {
                fs: "-".into(),
                reason: reason.clone(),
            },
            None => {
                let view = RegionView {
                    image,
                    start: region.start,
                    len: region.len,
                };
                fs::scan_region(&view)
            }
        };
        let free = match &verdict {
            Verdict::Free { free, .. } => {
                let set: Ranges = free
                    .iter()
                    .map(|&(s, e)| {
                        (
                            s.saturating_add(region.start),
                            e.saturating_add(region.start),
                        )
                    })
                    .collect();
                set.clamp(region.start, region.start + region.len)
                    .round_inward(BLOCK)
            }
            Verdict::MapWhole { .. } => Ranges::new(),
        };
        for &(s, e) in free.as_slice() {
            all_free.add(s, e);
        }
        findings.push(Finding {
            start: region.start,
            len: region.len,
            place: region.place.clone(),
            free: free.total(),
            verdict,
        });
    }
    all_free.normalize();
    ScanReport {
        image_size: image.len(),
        layout: layout.description,
        findings,
        free: all_free.clamp(0, image.len()),
    }
}

/// A region of the image, as the filesystem parsers see it: offsets from its start.
struct RegionView<'a> {
    image: &'a dyn RandomAccess,
    start: u64,
    len: u64,
}

impl RandomAccess for RegionView<'_> {
    fn name(&self) -> &str {
        self.image.name()
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read past the end of the region ({} bytes)", self.len),
            ));
        }
        self.image.read_exact_at(self.start + offset, buf)
    }

    fn stream(&self, offset: u64, len: u64) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        let len = len.min(self.len.saturating_sub(offset));
        self.image.stream(self.start + offset, len)
    }

    fn will_need(&self, offset: u64, len: u64) {
        let len = len.min(self.len.saturating_sub(offset));
        self.image.will_need(self.start.saturating_add(offset), len);
    }
}
