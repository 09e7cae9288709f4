//! Creating a bmap from the holes of a sparse image file (`bmaptool create`'s job).
//!
//! The result maps what `bmaptool create` maps on the same file: same block size (`FIGETBSZ`),
//! same mapped blocks (preallocated extents mapped). One difference, on purpose: a run of
//! mapped blocks is cut at every multiple of [`crate::bmap::LONGEST_RANGE_MADE`] (64 MiB), where
//! bmaptool writes one range, so the ranges are hashed on every core (one range's SHA-256 is
//! one sequential computation) and a bad range on read-back is small. bmaptool reads such a
//! bmap as any other. Each range is hashed in one sequential pass with large reads (read ahead
//! while hashing), cut at the image size.
//!
//! The hashing (`build`) is also what `blockprint scan` uses for the ranges a filesystem scan
//! maps, reading a local image file as `create` does, or any other image with random access
//! through the store that gives it (see `hash::Image`).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::bmap::{BlockRange, Bmap, ChecksumType};
use crate::mapping::{self, Method};
use crate::progress::{CancelToken, Event, Phase, ProgressSink, Reporter, Warning};

mod hash;

pub(crate) use hash::Image;

/// Read size while hashing.
const READ_SIZE: usize = 8 << 20;

/// Options for [`create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// Hash each range (`--no-checksum` turns this off).
    pub checksums: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self { checksums: true }
    }
}

/// A created bmap and how its map was found.
#[derive(Debug, Clone)]
pub struct Created {
    /// The bmap (format 2.0, SHA-256).
    pub bmap: Bmap,
    /// FIEMAP or SEEK_DATA/SEEK_HOLE.
    pub method: Method,
}

/// Why a bmap could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The image cannot be opened or examined.
    #[error("cannot open image '{}'", .path.display())]
    Open {
        /// The image.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Not a regular file.
    #[error("image '{}' is not a regular file; `create` maps the holes of an image file", .path.display())]
    NotAFile {
        /// The image.
        path: PathBuf,
    },
    /// Zero bytes long.
    #[error("image '{}' is empty", .path.display())]
    Empty {
        /// The image.
        path: PathBuf,
    },
    /// On ZFS without `zfs_dmu_offset_next_sync=1`, holes are reported wrongly.
    #[error(
        "image '{}' is on ZFS, which reports holes wrongly unless /sys/module/zfs/parameters/zfs_dmu_offset_next_sync is 1; set it, or copy the image to another filesystem",
        .path.display()
    )]
    Zfs {
        /// The image.
        path: PathBuf,
    },
    /// Neither FIEMAP nor SEEK_DATA/SEEK_HOLE worked.
    #[error("cannot find the mapped areas of '{}' (FIEMAP and SEEK_DATA/SEEK_HOLE both failed)", .path.display())]
    Map {
        /// The image.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A read failed while hashing.
    #[error("cannot read image '{}' at offset {offset}", .path.display())]
    Read {
        /// The image.
        path: PathBuf,
        /// Byte offset of the failed read.
        offset: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A read of an image that is not a local file failed while hashing (a block of an xz
    /// file, a range from a server), or the image ended inside a range.
    #[error("cannot read image '{name}' at offset {offset}")]
    ReadStore {
        /// The image's name (its path or URL).
        name: String,
        /// Byte offset in the image of the failed read.
        offset: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file shrank while it was hashed.
    #[error("image '{}' ended at offset {offset} while it was being hashed; was it changed meanwhile?", .path.display())]
    Shrunk {
        /// The image.
        path: PathBuf,
        /// Where the data ended.
        offset: u64,
    },
    /// Stopped by the cancel token or the progress sink.
    #[error("cancelled")]
    Cancelled,
}

/// Maps and hashes `path`, reporting [`Phase::Mapping`] then [`Phase::Hashing`].
pub fn create(
    path: &Path,
    options: CreateOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Created, CreateError> {
    let mut reporter = Reporter::new(sink, cancel);
    let open_error = |source| CreateError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    let meta = file.metadata().map_err(open_error)?;
    if !meta.is_file() {
        return Err(CreateError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let size = meta.len();
    if size == 0 {
        return Err(CreateError::Empty {
            path: path.to_path_buf(),
        });
    }
    if on_unsafe_zfs(&file) {
        return Err(CreateError::Zfs {
            path: path.to_path_buf(),
        });
    }
    reporter.phase(Phase::Mapping, Some(size));
    // bmaptool flushes the image first; FIEMAP_FLAG_SYNC covers FIEMAP, this covers SEEK_DATA.
    file.sync_all().map_err(open_error)?;
    let block_size = mapping::block_size(&file).map_err(open_error)?;
    let (extents, method) =
        mapping::mapped_extents(&file, size, block_size).map_err(|source| CreateError::Map {
            path: path.to_path_buf(),
            source,
        })?;

    let bytes_of = |e: &mapping::Extent| {
        let end = ((e.last + 1) * block_size).min(size);
        (e.first * block_size, end)
    };
    let total: u64 = extents.iter().map(|e| bytes_of(e).1 - bytes_of(e).0).sum();
    if total == size {
        reporter.emit(Event::Warning(Warning::AllMapped {
            image: path.to_path_buf(),
        }));
    }

    let bmap = build(
        Image::File { file: &file, path },
        size,
        block_size,
        &extents,
        options,
        &mut reporter,
    )?;
    Ok(Created { bmap, method })
}

/// Builds a bmap of `image` (`size` bytes) with the given mapped extents, each cut into ranges
/// of at most [`crate::bmap::LONGEST_RANGE_MADE`], hashing each range with SHA-256 in one
/// sequential pass of large reads, read ahead on a helper thread, the ranges spread over the
/// cores (unless `options` says not to hash).
pub(crate) fn build(
    image: Image<'_>,
    size: u64,
    block_size: u64,
    extents: &[mapping::Extent],
    options: CreateOptions,
    reporter: &mut Reporter<'_>,
) -> Result<Bmap, CreateError> {
    let bytes_of = |e: &mapping::Extent| {
        let end = ((e.last + 1) * block_size).min(size);
        (e.first * block_size, end)
    };
    let spans = crate::bmap::cut_long(
        &extents.iter().map(bytes_of).collect::<Vec<_>>(),
        block_size,
    );
    let digests = if options.checksums {
        reporter.phase(Phase::Hashing, Some(spans.iter().map(|(s, e)| e - s).sum()));
        hash::digests(image, &spans, reporter)?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; spans.len()]
    };
    let ranges = spans
        .iter()
        .zip(digests)
        .map(|(&(start, end), checksum)| BlockRange {
            first: start / block_size,
            last: (end - 1) / block_size,
            checksum,
        })
        .collect();
    Bmap::new(size, block_size, ChecksumType::Sha256, ranges).map_err(|kind| {
        // The extents come merged and clipped (from the kernel or a scan); only an absurd block
        // size can fail validation here.
        CreateError::Map {
            path: image.path(),
            source: io::Error::new(io::ErrorKind::InvalidData, kind.to_string()),
        }
    })
}

/// ZFS reports holes wrongly while data is dirty unless `zfs_dmu_offset_next_sync` is 1.
fn on_unsafe_zfs(file: &File) -> bool {
    const ZFS_SUPER_MAGIC: i64 = 0x2fc1_2fc1;
    use std::os::fd::AsRawFd;
    // SAFETY: statfs is plain data; fstatfs fills it for a valid fd.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, writable statfs.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut stat) } != 0 {
        return false;
    }
    if stat.f_type as i64 != ZFS_SUPER_MAGIC {
        return false;
    }
    std::fs::read_to_string("/sys/module/zfs/parameters/zfs_dmu_offset_next_sync")
        .map(|v| v.trim() != "1")
        .unwrap_or(true)
}
