//! What a copy writes: the ranges of a bmap or of a scan, known before the copy, or ranges
//! found as the data arrives (every byte in 64 MiB segments, or what a stream scan does not
//! leave out).

use crate::bmap::{Bmap, ChecksumType, Digest};
use crate::scan::{BLOCK, ScanReport};

use super::{RangeLabel, SEGMENT};

/// One range to copy, in bytes.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) label: RangeLabel,
    pub(super) expected: Option<Digest>,
}

/// What of the image a copy writes.
#[derive(Debug, Clone, Copy)]
pub enum Mapping<'a> {
    /// The ranges of a bmap, each checked against its checksum as it streams.
    Bmap(&'a Bmap),
    /// The blocks in use by the image's filesystems, as [`crate::scan::scan`] found them on
    /// an image with random access (reading its metadata only): each range is hashed as it is
    /// written, for read-back and [`super::CopyReport::bmap`].
    Scanned(&'a ScanReport),
    /// An image that can only be read forward: its partition table and filesystems are read
    /// as they pass ([`crate::scan::StreamScan`]), and a block is left out only when metadata
    /// that already passed proves it free. Ranges are hashed as they are written.
    Stream,
    /// Every byte of the image.
    Whole,
}

/// Where a plan's ranges come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Bmap,
    Scanned,
    Stream,
    Whole,
}

/// What to copy: the ranges of a bmap or a scan, or the image as a stream whose size may
/// only be known at its end (then the ranges are found as the data arrives: 64 MiB segments
/// of a whole-image copy, or what a stream scan does not leave out, cut at 64 MiB).
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) origin: Origin,
    /// The image size, when known before the copy.
    pub(super) image_size: Option<u64>,
    pub(super) kind: ChecksumType,
    /// The bmap's ranges (empty for a whole-image copy).
    pub(super) ranges: Vec<Planned>,
}

impl Plan {
    pub(super) fn from_bmap(bmap: &Bmap) -> Self {
        let ranges = bmap
            .ranges()
            .iter()
            .map(|r| {
                let (start, end) = bmap.byte_span(&r);
                Planned {
                    start,
                    end,
                    label: RangeLabel::Blocks {
                        first: r.first,
                        last: r.last,
                    },
                    expected: r.checksum,
                }
            })
            .collect();
        Self {
            origin: Origin::Bmap,
            image_size: Some(bmap.image_size()),
            kind: bmap.checksum_type(),
            ranges,
        }
    }

    pub(super) fn scanned(report: &ScanReport) -> Self {
        let size = report.image_size;
        let ranges = report
            .bmap_spans()
            .into_iter()
            .map(|(start, end)| Planned {
                start,
                end,
                label: RangeLabel::Blocks {
                    first: start / BLOCK,
                    last: (end - 1) / BLOCK,
                },
                expected: None,
            })
            .collect();
        Self {
            origin: Origin::Scanned,
            image_size: Some(size),
            kind: ChecksumType::Sha256,
            ranges,
        }
    }

    pub(super) fn found_as_read(origin: Origin, image_size: Option<u64>) -> Self {
        Self {
            origin,
            image_size,
            kind: ChecksumType::Sha256,
            ranges: Vec::new(),
        }
    }

    /// Whether the ranges are known before the copy (a bmap's or a scan's), rather than found
    /// as the data arrives.
    pub(super) fn fixed(&self) -> bool {
        matches!(self.origin, Origin::Bmap | Origin::Scanned)
    }

    /// Bytes the copy will write, when known in advance.
    pub(super) fn mapped_bytes(&self) -> Option<u64> {
        match self.origin {
            Origin::Bmap | Origin::Scanned => {
                Some(self.ranges.iter().map(|r| r.end - r.start).sum())
            }
            Origin::Whole => self.image_size,
            Origin::Stream => None,
        }
    }

    /// The spans the source will be asked for ([`crate::source::ImageSource::plan`]) and a file target reserves.
    pub(super) fn spans(&self) -> Vec<(u64, u64)> {
        match (self.fixed(), self.origin, self.image_size) {
            (true, _, _) => self.ranges.iter().map(|r| (r.start, r.end)).collect(),
            (false, Origin::Whole, Some(size)) => vec![(0, size)],
            _ => Vec::new(),
        }
    }
}

/// The 64 MiB segment of a whole-image copy that `offset` falls in.
pub(super) fn segment_of(offset: u64) -> usize {
    usize::try_from(offset / SEGMENT).unwrap_or(usize::MAX)
}
