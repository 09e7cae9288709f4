//! Backing up a card (or any raw disk image) to a small image with its bmap: only the blocks
//! its filesystems use are read, the rest become zeros in a compressed stream (holes in a raw
//! file), and the bmap 2.0, with the SHA-256 of each range, is computed as the data passes.
//!
//! ```text
//!  source ──► scan (partition tables, filesystems;   reader thread            calling thread
//!             any doubt: mapped) ──► used ranges ──► O_DIRECT reads of 8 MiB ─► zeros up to the
//!                                                    SHA-256 per range         chunk, its data
//!                                                       ◄── empty buffers ──── ──► encoder ──► temp
//!  done: encoder finished, file synced, bmap written beside it, both renamed into place
//! ```
//!
//! The scan follows [`crate::scan`]'s rule: a block is left out only when a filesystem marks
//! it free and every check of the layers above it passed. The output and its bmap are written
//! under hidden temporary names in their folders and renamed into place only once both are
//! complete: a failed or cancelled backup leaves neither. A block device is opened with
//! `O_EXCL` when nothing on it is mounted (so nothing can be mounted while it is read), and is
//! refused while any partition is mounted read-write ([`check_source`]).
//!
//! Progress goes to the [`ProgressSink`] as [`Phase::Mapping`] (the scan), [`Phase::Hashing`]
//! (the used bytes read, of their total) and [`Phase::Syncing`]; a [`Meter`] given in the
//! options also tells the compressed size so far, from any thread.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use blockprint::backup::{self, BackupOptions, Format, Meter};
//! use blockprint::progress::{CancelToken, NoProgress};
//! use blockprint::source::LocalFile;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let card = LocalFile::open(Path::new("/dev/sdb"))?;
//! let meter = Meter::new();
//! let options = BackupOptions { meter: meter.clone(), ..BackupOptions::default() };
//! let out = Path::new("card.img.zst");
//! let report = backup::backup(&card, out, Format::Zstd, options, &mut NoProgress, &CancelToken::new())?;
//! println!("read {} of {} bytes, wrote {}", report.read_bytes, report.image_size, report.output_size);
//! # Ok(())
//! # }
//! ```

mod encode;
mod error;
mod frames;
mod mounts;
mod pass;
mod place;
mod read;
mod xz;
mod zst;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bmap::{BlockRange, Bmap, ChecksumType};
use crate::progress::{CancelToken, Phase, ProgressSink, Reporter};
use crate::scan::{self, BLOCK, ScanReport};
use crate::signature::SigningKey;
use crate::source::RandomAccess;

pub use error::BackupError;
pub use mounts::check_source;

use encode::Encoder;
use pass::Pass;
use place::NewFile;
use read::Reader;

/// The form of the backup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// An uncompressed sparse image: free blocks are holes.
    Raw,
    /// Zstandard (`.zst`), multi-threaded.
    Zstd,
    /// xz (`.xz`), multi-threaded, in independent blocks.
    Xz,
    /// gzip (`.gz`), one thread.
    Gzip,
}

impl Format {
    /// The format an output name asks for: `.zst`, `.xz`, `.gz`, else raw.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("zst") => Self::Zstd,
            Some("xz") => Self::Xz,
            Some("gz") => Self::Gzip,
            _ => Self::Raw,
        }
    }

    /// The short name, as `--format` takes it: `raw`, `zst`, `xz`, `gz`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Zstd => "zst",
            Self::Xz => "xz",
            Self::Gzip => "gz",
        }
    }

    /// The lowest and highest compression levels, and the default (all 0 for raw).
    pub fn levels(self) -> (i32, i32, i32) {
        encode::levels(self)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Raw => "raw",
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::Gzip => "gzip",
        })
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "raw" | "img" => Ok(Self::Raw),
            "zst" | "zstd" => Ok(Self::Zstd),
            "xz" => Ok(Self::Xz),
            "gz" | "gzip" => Ok(Self::Gzip),
            _ => Err(format!(
                "'{text}' is not a backup format (raw, zst, xz or gz)"
            )),
        }
    }
}

/// How to back up.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Compression threads (zstd and xz); 0: one per core.
    pub threads: usize,
    /// Compression level; `None`: the format's default (zstd 3, xz 6, gzip 6).
    pub level: Option<i32>,
    /// Hash each range into the bmap (SHA-256); off, the bmap has no checksums.
    pub checksums: bool,
    /// Where the bmap goes; `None`: beside the output, `OUT.bmap`.
    pub bmap: Option<PathBuf>,
    /// Counters to read while the backup runs.
    pub meter: Meter,
    /// The user's key: the bmap gets a detached signature beside it, `BMAP.asc`.
    pub signer: Option<Arc<SigningKey>>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            level: None,
            checksums: true,
            bmap: None,
            meter: Meter::new(),
            signer: None,
        }
    }
}

/// Counters of a running backup, readable from any thread (clone it into the options and
/// keep a clone): the used bytes read so far, and the bytes of output written.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    read: AtomicU64,
    output: AtomicU64,
}

impl Meter {
    /// Counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of the source read so far (the used blocks).
    pub fn read_bytes(&self) -> u64 {
        self.0.read.load(Ordering::Relaxed)
    }

    /// Bytes written to the output so far: compressed bytes, or data bytes of a raw file.
    pub fn output_bytes(&self) -> u64 {
        self.0.output.load(Ordering::Relaxed)
    }

    fn add_output(&self, bytes: u64) {
        self.0.output.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// What a backup made.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The source, as named in messages.
    pub source: String,
    /// The output file.
    pub output: PathBuf,
    /// Its bmap.
    pub bmap: PathBuf,
    /// The bmap's detached signature, if it was signed.
    pub signature: Option<PathBuf>,
    /// The form of the output.
    pub format: Format,
    /// Compression threads used.
    pub threads: u32,
    /// Ranges in the bmap.
    pub ranges: usize,
    /// Whether the bmap has a SHA-256 per range.
    pub checksums: bool,
    /// The source's size: the size of the image the output holds.
    pub image_size: u64,
    /// Bytes the scan left mapped: the used blocks, what the bmap maps.
    pub used_bytes: u64,
    /// Bytes of the source read for the data (the scan's reads of metadata aside).
    pub read_bytes: u64,
    /// The output file's length (for a raw file, the image size).
    pub output_size: u64,
    /// The disk space the output file takes.
    pub output_allocated: u64,
    /// Whether the source was read with `O_DIRECT`.
    pub direct: bool,
    /// What the scan found, region by region.
    pub scan: ScanReport,
}

/// Backs up `source` to `out` in `format`, with its bmap beside it (or where `options` say).
/// See the [module documentation](self).
pub fn backup(
    source: &dyn RandomAccess,
    out: &Path,
    format: Format,
    options: BackupOptions,
    sink: &mut dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<BackupReport, BackupError> {
    let mut reporter = Reporter::new(sink, cancel);
    let size = source.len();
    let source_name = source.name().to_owned();
    if size == 0 {
        return Err(BackupError::Empty { source_name });
    }
    let _held = match source.local_path() {
        Some(path) => check_source(path)?,
        None => None,
    };
    let level = encode::check_level(format, options.level)?;
    let bmap_path = options.bmap.clone().unwrap_or_else(|| {
        let mut name = out.as_os_str().to_os_string();
        name.push(".bmap");
        PathBuf::from(name)
    });
    if bmap_path == out {
        return Err(BackupError::BmapIsOutput {
            path: out.to_path_buf(),
        });
    }
    let protected = source.local_path();
    let mut image = NewFile::create(out, protected)?;
    let mut bmap_file = NewFile::create(&bmap_path, protected)?;
    let signature_path = crate::discover::signature_candidates(&bmap_path)
        .into_iter()
        .next()
        .filter(|_| options.signer.is_some());
    let mut signature_file = match &signature_path {
        Some(path) => Some(NewFile::create(path, protected)?),
        None => None,
    };

    reporter.phase(Phase::Mapping, Some(size));
    let report = scan::scan(source);
    if reporter.cancelled() {
        return Err(BackupError::Cancelled);
    }
    let spans = report.bmap_spans();
    let used: u64 = spans.iter().map(|(s, e)| e - s).sum();
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let file = image
        .file
        .try_clone()
        .map_err(|source| BackupError::Create {
            path: out.to_path_buf(),
            folder: out.parent().unwrap_or(Path::new(".")).to_path_buf(),
            source,
        })?;
    let meter = options.meter.clone();
    let threads = u32::try_from(threads).unwrap_or(u32::MAX);
    let (encoder, threads) = Encoder::new(format, file, level, threads, &meter)?;

    reporter.phase(Phase::Hashing, Some(used));
    let reader = Reader::new(source);
    let direct = reader.direct();
    let mut pass = Pass {
        encoder,
        meter: &meter,
        reporter: &mut reporter,
        out,
        position: 0,
        digests: Vec::with_capacity(spans.len()),
    };
    pass.run(&reader, &spans, options.checksums)?;
    if meter.read_bytes() != used || (options.checksums && pass.digests.len() != spans.len()) {
        // The reader stopped early without saying why.
        return Err(BackupError::Thread);
    }
    pass.zeros_to(size)?;
    let Pass {
        encoder, digests, ..
    } = pass;
    encoder.finish(size).map_err(|source| BackupError::Write {
        path: out.to_path_buf(),
        offset: meter.output_bytes(),
        source,
    })?;

    reporter.phase(Phase::Syncing, None);
    let bmap = build_bmap(size, &spans, digests, &source_name)?;
    image.sync()?;
    let xml = bmap.to_xml();
    write_bmap(&mut bmap_file, &xml)?;
    if let (Some(file), Some(signer)) = (signature_file.as_mut(), &options.signer) {
        write_bmap(file, &signer.sign_detached(&xml)?)?;
    }
    if reporter.cancelled() {
        return Err(BackupError::Cancelled);
    }
    image.place()?;
    if let Err(e) = bmap_file.place() {
        image.withdraw();
        return Err(e);
    }
    if let Some(Err(e)) = signature_file.as_mut().map(NewFile::place) {
        bmap_file.withdraw();
        image.withdraw();
        return Err(e);
    }
    let meta = image.file.metadata().ok();
    Ok(BackupReport {
        source: source_name,
        output: out.to_path_buf(),
        bmap: bmap_path,
        signature: signature_path,
        format,
        threads,
        ranges: spans.len(),
        checksums: options.checksums,
        image_size: size,
        used_bytes: used,
        read_bytes: meter.read_bytes(),
        output_size: meta.as_ref().map_or(0, std::fs::Metadata::len),
        output_allocated: meta.as_ref().map_or(0, |m| {
            use std::os::unix::fs::MetadataExt;
            m.blocks() * 512
        }),
        direct,
        scan: report,
    })
}

/// The bmap of an image of `size` bytes whose used byte spans are `spans`, with their
/// `digests` (none: no checksums).
fn build_bmap(
    size: u64,
    spans: &[(u64, u64)],
    digests: Vec<crate::bmap::Digest>,
    source_name: &str,
) -> Result<Bmap, BackupError> {
    let mut digests = digests.into_iter();
    let ranges = spans
        .iter()
        .map(|&(start, end)| BlockRange {
            first: start / BLOCK,
            last: (end - 1) / BLOCK,
            checksum: digests.next(),
        })
        .collect();
    Bmap::new(size, BLOCK, ChecksumType::Sha256, ranges).map_err(|kind| BackupError::Bmap {
        source_name: source_name.to_owned(),
        message: kind.to_string(),
    })
}

/// Writes the bmap (or its signature) into its new file and syncs it.
fn write_bmap(file: &mut NewFile, xml: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    file.file
        .write_all(xml)
        .map_err(|source| BackupError::Write {
            path: file.path.clone(),
            offset: 0,
            source,
        })?;
    file.sync()
}

#[cfg(test)]
mod tests;
