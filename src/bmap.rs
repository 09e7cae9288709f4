//! The block map: which blocks of an image hold data, with a checksum per range.
//!
//! [`Bmap::from_file`] reads every format version in use (1.2, 1.3, 1.4, 2.x; 1.0/1.1 only if
//! they carry an `ImageSize`) and checks everything before anything is written: the file's own
//! checksum, exactly as bmaptool computes it; block counts; ranges ascending, non-overlapping
//! and inside the image; digests of the right length. [`Bmap::to_xml`] writes format 2.0 with
//! the elements, order and checksum rules of bmaptool 3.x, so `bmaptool copy` accepts it.
//!
//! Format facts: ranges are inclusive block numbers; a range's checksum
//! covers its bytes cut at `ImageSize` (the partial last block is not padded); format 1.2 has
//! per-range SHA-1 which bmaptool ignores and we verify.

mod checksum;
mod clearsign;
mod parse;
mod ranges;
mod write;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use checksum::{ChecksumType, Digest, Hasher};
pub use clearsign::{cleartext, is_clearsigned};
pub use ranges::{Ranges, RangesIter};

/// The largest bmap file we read. Real bmaps are kilobytes to a few megabytes; this holds
/// [`MAX_RANGES`] ranges without checksums in bmaptool's layout (about 27 bytes each), or
/// 2.5 million with SHA-256 ones (about 100 bytes each). The file is held in memory whole.
pub const MAX_FILE_SIZE: u64 = 256 << 20;

/// The most ranges a bmap may have: as many as the worst plausible image has, 64 GiB of
/// 4 KiB blocks with every other block mapped (2^23). Real filesystems allocate in extents,
/// so real bmaps have thousands. Each range costs 16 bytes here plus its digest, and the copy
/// keeps its own plan of every range, so this cap, not only the file size, bounds memory.
pub const MAX_RANGES: usize = 1 << 23;

/// The longest range in a bmap that Blockprint makes (`create`, `scan`, `backup`, and the
/// bmap of what a `copy` without one wrote): a run of mapped blocks is cut at every multiple
/// of this many bytes from the start of the image (rounded down to whole blocks). A range's
/// SHA-256 is one sequential computation, and one filesystem often maps most of an image in a
/// single run (the root of a Raspberry Pi OS image: a gigabyte and more); cut, the ranges are
/// hashed on every core, and a mismatch on read-back names, and rewrites, 64 MiB at most.
/// Cutting at fixed offsets makes a copy that learned an image's free blocks as it passed
/// write the very bmap a scan of it gives. Readers of bmaps, bmaptool among them, take
/// adjacent ranges as they take any others.
pub const LONGEST_RANGE_MADE: u64 = 64 << 20;

/// `spans` (byte spans `(start, end)`, in order, each starting on a block of `block_size`)
/// cut at every multiple of [`LONGEST_RANGE_MADE`], rounded down to whole blocks (at least one).
pub(crate) fn cut_long(spans: &[(u64, u64)], block_size: u64) -> Vec<(u64, u64)> {
    let block = block_size.max(1);
    let most = (LONGEST_RANGE_MADE / block).max(1) * block;
    let mut cut = Vec::with_capacity(spans.len());
    for &(start, end) in spans {
        let mut at = start;
        while let Some(next) = (at / most + 1).checked_mul(most).filter(|&next| next < end) {
            cut.push((at, next));
            at = next;
        }
        cut.push((at, end));
    }
    cut
}

/// Smallest and largest block size accepted.
pub const BLOCK_SIZE_RANGE: (u64, u64) = (512, 1 << 20);

/// A bmap format version, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incompatible changes bump this; 1 and 2 are readable.
    pub major: u32,
    /// Compatible changes bump this; for major 1 it also selects the checksum scheme.
    pub minor: u32,
}

impl Version {
    /// The version [`Bmap::to_xml`] writes.
    pub const WRITTEN: Version = Version { major: 2, minor: 0 };
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A run of mapped blocks, `first..=last`, with the checksum of its bytes when the bmap has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRange {
    /// First block.
    pub first: u64,
    /// Last block, inclusive.
    pub last: u64,
    /// Digest of the range's bytes (cut at the image size), of the bmap's checksum type.
    pub checksum: Option<Digest>,
}

impl BlockRange {
    /// Number of blocks in the range.
    pub fn blocks(&self) -> u64 {
        self.last - self.first + 1
    }
}

impl fmt::Display for BlockRange {
    /// The bmap spelling: `A-B`, or `A` for a single block.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// A validated block map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bmap {
    version: Version,
    image_size: u64,
    block_size: u64,
    blocks_count: u64,
    mapped_blocks_count: u64,
    checksum_type: ChecksumType,
    ranges: Ranges,
}

impl Bmap {
    /// Builds a format-2.0 bmap from ranges, deriving the counts, and validates it.
    pub fn new(
        image_size: u64,
        block_size: u64,
        checksum_type: ChecksumType,
        ranges: Vec<BlockRange>,
    ) -> Result<Self, BmapErrorKind> {
        if ranges.len() > MAX_RANGES {
            return Err(BmapErrorKind::TooManyRanges { limit: MAX_RANGES });
        }
        // Checked here: the compact storage holds digests of one length only.
        if let Some(range) = ranges.iter().find(|r| {
            r.checksum
                .as_ref()
                .is_some_and(|d| d.as_bytes().len() != checksum_type.digest_len())
        }) {
            return Err(BmapErrorKind::BadDigest {
                what: format!("checksum of range {range}"),
                text: range
                    .checksum
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                kind: checksum_type,
            });
        }
        let bmap = Self {
            version: Version::WRITTEN,
            image_size,
            block_size,
            blocks_count: image_size.div_ceil(block_size.max(1)),
            mapped_blocks_count: ranges
                .iter()
                .map(|r| r.last.saturating_sub(r.first).saturating_add(1))
                .fold(0, u64::saturating_add),
            checksum_type,
            ranges: Ranges::from(ranges),
        };
        bmap.validate().map_err(|(kind, _)| kind)?;
        Ok(bmap)
    }

    /// Reads and validates a bmap file. A clearsigned file is refused here; extract its
    /// [`cleartext`] and use [`Bmap::from_bytes`] (the signature module's job).
    pub fn from_file(path: &Path) -> Result<Self, BmapError> {
        let bytes = read_file(path)?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses and validates bmap XML; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, BmapError> {
        parse::parse(bytes, path)
    }

    /// Format 2.0 XML, as `bmaptool create` lays it out, with the file checksum filled in.
    pub fn to_xml(&self) -> Vec<u8> {
        write::to_xml(self)
    }

    /// The format version the bmap was read as (2.0 for a bmap built by [`Bmap::new`]).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Image size in bytes.
    pub fn image_size(&self) -> u64 {
        self.image_size
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Blocks in the image: `ceil(image_size / block_size)`.
    pub fn blocks_count(&self) -> u64 {
        self.blocks_count
    }

    /// Blocks in all ranges.
    pub fn mapped_blocks_count(&self) -> u64 {
        self.mapped_blocks_count
    }

    /// The hash function of the range checksums (SHA-1 for formats before 1.4).
    pub fn checksum_type(&self) -> ChecksumType {
        self.checksum_type
    }

    /// The mapped ranges, ascending and disjoint.
    pub fn ranges(&self) -> &Ranges {
        &self.ranges
    }

    /// The byte span `start..end` of a range, cut at the image size.
    pub fn byte_span(&self, range: &BlockRange) -> (u64, u64) {
        self.span_of(range.first, range.last)
    }

    /// The byte span `start..end` of blocks `first..=last`, cut at the image size.
    pub fn span_of(&self, first: u64, last: u64) -> (u64, u64) {
        let start = first * self.block_size;
        let end = (last + 1)
            .saturating_mul(self.block_size)
            .min(self.image_size);
        (start, end)
    }

    /// Bytes in all ranges (the partial last block counted as its real length).
    pub fn mapped_bytes(&self) -> u64 {
        (0..self.ranges.len())
            .filter_map(|i| self.ranges.blocks(i))
            .map(|(first, last)| {
                let (start, end) = self.span_of(first, last);
                end - start
            })
            .sum()
    }

    /// Mapped blocks times the block size, and their share of all blocks in percent: the figures
    /// bmaptool prints and writes into its comments (the last block counts whole).
    pub fn mapped_summary(&self) -> (u64, f64) {
        (
            self.mapped_blocks_count.saturating_mul(self.block_size),
            crate::size::percent(self.mapped_blocks_count, self.blocks_count),
        )
    }

    /// Checks the invariants; on failure also returns the index of the offending range.
    fn validate(&self) -> Result<(), (BmapErrorKind, Option<usize>)> {
        let (min, max) = BLOCK_SIZE_RANGE;
        if !self.block_size.is_power_of_two() || self.block_size < min || self.block_size > max {
            return Err((BmapErrorKind::BlockSize(self.block_size), None));
        }
        if self.image_size == 0 {
            return Err((BmapErrorKind::EmptyImage, None));
        }
        let expected = self.image_size.div_ceil(self.block_size);
        if self.blocks_count != expected {
            return Err((
                BmapErrorKind::BlocksCount {
                    declared: self.blocks_count,
                    expected,
                    image_size: self.image_size,
                    block_size: self.block_size,
                },
                None,
            ));
        }
        let mut sum: u64 = 0;
        let mut previous: Option<(u64, u64)> = None;
        let shown = |index: usize| {
            self.ranges
                .get(index)
                .map(|r| r.to_string())
                .unwrap_or_default()
        };
        for index in 0..self.ranges.len() {
            let Some((first, last)) = self.ranges.blocks(index) else {
                break;
            };
            if first > last {
                return Err((BmapErrorKind::ReversedRange(shown(index)), Some(index)));
            }
            if previous.is_some_and(|(_, prev_last)| first <= prev_last) {
                let kind = BmapErrorKind::RangeOrder {
                    range: shown(index),
                    previous: shown(index - 1),
                };
                return Err((kind, Some(index)));
            }
            if last >= self.blocks_count {
                let kind = BmapErrorKind::RangePastEnd {
                    range: shown(index),
                    blocks_count: self.blocks_count,
                };
                return Err((kind, Some(index)));
            }
            if let Some(digest) = self.ranges.checksum(index)
                && digest.len() != self.checksum_type.digest_len()
            {
                let kind = BmapErrorKind::BadDigest {
                    what: format!("checksum of range {}", shown(index)),
                    text: Digest::from_bytes(digest).to_string(),
                    kind: self.checksum_type,
                };
                return Err((kind, Some(index)));
            }
            sum += last - first + 1;
            previous = Some((first, last));
        }
        if sum != self.mapped_blocks_count {
            let kind = BmapErrorKind::MappedCount {
                declared: self.mapped_blocks_count,
                sum,
            };
            return Err((kind, None));
        }
        Ok(())
    }
}

/// Reads a bmap file's bytes, refusing files larger than [`MAX_FILE_SIZE`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, BmapError> {
    let error = |kind| BmapError {
        path: path.to_path_buf(),
        line: None,
        kind,
    };
    let file = std::fs::File::open(path).map_err(|e| error(BmapErrorKind::Read(e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(BmapErrorKind::Read(e)))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(error(BmapErrorKind::TooLarge {
            limit: MAX_FILE_SIZE,
        }));
    }
    Ok(bytes)
}

/// A bmap file that cannot be used: which file, where in it, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("bmap file '{}'{}: {kind}", .path.display(), .line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct BmapError {
    /// The bmap file.
    pub path: PathBuf,
    /// The line of the offending element, when there is one.
    pub line: Option<u64>,
    /// What is wrong.
    pub kind: BmapErrorKind,
}

/// What is wrong with a bmap file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BmapErrorKind {
    /// The file cannot be read.
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    /// Larger than [`MAX_FILE_SIZE`].
    #[error("it is larger than {limit} bytes, far more than any bmap; is it really a bmap?")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// More than [`MAX_RANGES`] ranges.
    #[error(
        "it has more than {limit} ranges, more than any image has (a 64 GiB image of 4 KiB blocks with every other block mapped has that many); is it really a bmap? Write the image with --nobmap"
    )]
    TooManyRanges {
        /// The cap.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("it is not UTF-8 text; is it really a bmap?")]
    NotUtf8,
    /// A clearsigned OpenPGP message was given where XML was expected.
    #[error("it is a clearsigned OpenPGP message; its XML must be extracted first")]
    Clearsigned,
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// A DOCTYPE declaration (entity definitions are refused outright).
    #[error("it has a DOCTYPE declaration, which bmap files never have; refusing it")]
    DocType,
    /// The root element is not `<bmap>`.
    #[error("the root element is <{0}>, not <bmap>; this is not a bmap file")]
    NotBmap(String),
    /// Elements nested absurdly deep.
    #[error("elements are nested more than {0} levels deep; this is not a bmap file")]
    TooDeep(usize),
    /// `<bmap>` has no `version` attribute.
    #[error("<bmap> has no version attribute")]
    NoVersion,
    /// The version is not `MAJOR.MINOR`.
    #[error("version '{0}' is not of the form MAJOR.MINOR")]
    BadVersion(String),
    /// A major version other than 1 or 2.
    #[error("bmap format version {0} is not supported (up to 2.x)")]
    UnsupportedVersion(String),
    /// A 1.0/1.1 file without `<ImageSize>`.
    #[error(
        "format version {0} has no <ImageSize>, so the image size is unknown; recreate the bmap with `blockprint create`"
    )]
    NoImageSize(Version),
    /// A required element is missing.
    #[error("<{0}> is missing")]
    Missing(&'static str),
    /// An element that may appear once appears again.
    #[error("<{0}> appears more than once")]
    Duplicate(&'static str),
    /// A count is not a whole number.
    #[error("<{element}> holds '{text}', which is not a whole number")]
    BadNumber {
        /// Element name.
        element: &'static str,
        /// Its text.
        text: String,
    },
    /// A `<Range>` is neither `A-B` nor `A`.
    #[error("<Range> holds '{0}', which is neither FIRST-LAST nor a block number")]
    BadRange(String),
    /// A range whose first block is after its last.
    #[error("bad range (first > last): '{0}'")]
    ReversedRange(String),
    /// Block size not a power of two in [`BLOCK_SIZE_RANGE`].
    #[error("BlockSize {0} is not a power of two between 512 and 1048576")]
    BlockSize(u64),
    /// `ImageSize` is zero.
    #[error("ImageSize is 0; there is nothing to write")]
    EmptyImage,
    /// `BlocksCount` does not match `ImageSize` and `BlockSize`.
    #[error(
        "BlocksCount is {declared}, but an image of {image_size} bytes has {expected} blocks of {block_size} bytes"
    )]
    BlocksCount {
        /// What the file says.
        declared: u64,
        /// `ceil(image_size / block_size)`.
        expected: u64,
        /// `ImageSize`.
        image_size: u64,
        /// `BlockSize`.
        block_size: u64,
    },
    /// `MappedBlocksCount` is not the sum of the ranges.
    #[error("MappedBlocksCount is {declared}, but the ranges add up to {sum} blocks")]
    MappedCount {
        /// What the file says.
        declared: u64,
        /// The sum of the range lengths.
        sum: u64,
    },
    /// Ranges out of order or overlapping.
    #[error(
        "range {range} does not come after range {previous}; ranges must be ascending and must not overlap"
    )]
    RangeOrder {
        /// The offending range.
        range: String,
        /// The one before it.
        previous: String,
    },
    /// A range beyond `BlocksCount`.
    #[error("range {range} goes past the end of the image ({blocks_count} blocks)")]
    RangePastEnd {
        /// The offending range.
        range: String,
        /// `BlocksCount`.
        blocks_count: u64,
    },
    /// A checksum type we do not know.
    #[error("checksum type '{0}' is not supported (sha1, sha256 and sha512 are)")]
    UnknownChecksumType(String),
    /// A digest of the wrong length or not hex.
    #[error("{what} '{text}' is not a {kind} digest ({} hex digits)", .kind.digest_len() * 2)]
    BadDigest {
        /// Which digest.
        what: String,
        /// Its text.
        text: String,
        /// The expected kind.
        kind: ChecksumType,
    },
    /// The file's own checksum does not match.
    #[error(
        "checksum mismatch for the bmap file itself: calculated {calculated}, should be {stored}; it was changed or damaged after it was made, so get it again"
    )]
    FileChecksum {
        /// What the file hashes to.
        calculated: String,
        /// What the file says.
        stored: String,
    },
}

#[cfg(test)]
mod tests {
    use super::{LONGEST_RANGE_MADE, cut_long};

    #[test]
    fn spans_are_cut_at_every_multiple_of_the_longest_range() {
        const MOST: u64 = LONGEST_RANGE_MADE;
        let spans = [
            (0, 4096),
            (MOST - 8192, MOST + 4096),
            (MOST * 2, MOST * 3),
            (MOST * 3 + 4096, MOST * 5 + 4096),
            (MOST * 6, MOST * 6 + 100),
        ];
        assert_eq!(
            cut_long(&spans, 4096),
            [
                (0, 4096),
                (MOST - 8192, MOST),
                (MOST, MOST + 4096),
                (MOST * 2, MOST * 3),
                (MOST * 3 + 4096, MOST * 4),
                (MOST * 4, MOST * 5),
                (MOST * 5, MOST * 5 + 4096),
                (MOST * 6, MOST * 6 + 100),
            ]
        );
        // A block size that does not divide the longest range: pieces of whole blocks.
        let cut = cut_long(&[(0, 3 * MOST)], 3000);
        assert!(cut.iter().all(|&(s, e)| s % 3000 == 0 && e - s <= MOST));
        assert!(cut.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!((cut[0].0, cut[cut.len() - 1].1), (0, 3 * MOST));
    }
}
