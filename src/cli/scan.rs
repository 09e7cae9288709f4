//! `blockprint scan [-o OUT.bmap] [--sparse] [--explain] [--no-checksum] IMAGE`: a bmap from the
//! image's filesystems rather than from its holes.
//!
//! The parsers and the hashing need random access to the raw image. A raw local file is read
//! in place. Any other image that has it (the image in an xz file of several blocks, a member
//! of an uncompressed tar, a stored zip member, a file on a server honouring Range requests)
//! is read through the store that gives it ([`Opened::store`]): of an xz file only the blocks
//! holding what the filesystems use are decoded. Anything else (gzip, zstd, an xz file of one
//! block, a pipe) is decoded to a temporary file first, beside the output.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use blockprint::create::CreateOptions;
use blockprint::mapping;
use blockprint::progress::CancelToken;
use blockprint::scan::{self, BLOCK, Ranges, ScanReport};
use blockprint::size::{human, percent};
use blockprint::source::{Format, Input, LocalFile, Opened, Opener, RandomAccess};

use super::copy::install_interrupt_handler;
use super::create::write_bmap;
use super::progress::TerminalProgress;
use super::{Output, ScanArgs};
use crate::unpacked::{Temporary, unpack};

pub(super) fn run(args: &ScanArgs, out: &Output) -> anyhow::Result<()> {
    let input = Input::parse(&args.image)?;
    // Installed first, so Ctrl-C while a compressed image is decoded stops cleanly too.
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let opener = Opener::new();
    let Opened {
        mut source,
        layers,
        store,
    } = opener.open(&input)?;
    let local = input.as_path().filter(|_| layers.is_empty());
    if args.sparse && local.is_none() {
        bail!("--sparse punches holes into a raw image file, but '{input}' is not one");
    }
    let layer_names: Vec<String> = layers.iter().map(ToString::to_string).collect();
    let layer_names = layer_names.join(", in it ");
    // What the image is read from: a raw local file in place, a store with random access,
    // or else a temporary file (beside the output) the image is decoded to.
    let temp;
    let image = match (local, store) {
        (Some(path), _) => Image::File(path.to_path_buf()),
        (None, Some(store)) => {
            out.info(match layers.last() {
                Some(layer) if layer.format == Format::Xz => format!(
                    "reading the filesystems of '{input}' through its xz blocks: only the \
                     blocks they use are decoded"
                ),
                Some(_) => format!(
                    "reading the filesystems of '{input}' ({layer_names}) in place: only what \
                     they use is read"
                ),
                None => format!(
                    "reading the filesystems of '{input}' in place: only what they use is read"
                ),
            });
            Image::Store(store)
        }
        (None, None) => {
            let dir = args
                .output
                .as_deref()
                .and_then(Path::parent)
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            temp = Temporary::new(&dir)?;
            out.info(format_args!(
                "decoding '{input}' ({layer_names}) to a temporary file in '{}'",
                dir.display()
            ));
            unpack(&mut *source, &temp, &cancel)?;
            Image::File(temp.path.clone())
        }
    };
    drop(source);

    let started = std::time::Instant::now();
    let report = match &image {
        Image::File(path) => scan::scan(
            &LocalFile::open(path)
                .with_context(|| format!("cannot open image '{}'", path.display()))?,
        ),
        Image::Store(store) => scan::scan(&**store),
    };
    out.debug(format_args!(
        "scanned the metadata in {:.3} s",
        started.elapsed().as_secs_f64()
    ));
    explain(&report, args.explain, out);

    let mut progress = TerminalProgress::new(out);
    let options = CreateOptions {
        checksums: !args.no_checksum,
    };
    let result = match &image {
        Image::File(path) => scan::to_bmap(path, &report, options, &mut progress, &cancel),
        Image::Store(store) => {
            scan::to_bmap_from(&**store, &report, options, &mut progress, &cancel)
        }
    };
    progress.finish();
    write_bmap(args.output.as_deref(), &result?.to_xml())?;
    // Only a raw local file gets here with --sparse.
    if let (true, Image::File(path)) = (args.sparse, &image) {
        punch_holes(path, &report, out)?;
    }
    Ok(())
}

/// What the image is read from.
enum Image {
    /// A local raw image file: the image itself, or the temporary file it was decoded to.
    File(PathBuf),
    /// The store giving random access to the raw image.
    Store(Arc<dyn RandomAccess>),
}

/// The summary line, and with `--explain` what was found in each region.
fn explain(report: &ScanReport, details: bool, out: &Output) {
    let free = report.free.total();
    let mapped = report.image_size - free;
    out.info(format_args!(
        "scanned {}: {}; mapped {} of {} ({:.1}%)",
        if report.findings.len() == 1 {
            "1 region"
        } else {
            "the regions"
        },
        report.layout,
        human(mapped),
        human(report.image_size),
        percent(mapped, report.image_size)
    ));
    if !details {
        return;
    }
    for finding in &report.findings {
        let line = super::unmapped::region_line(finding, None, "mapped");
        out.info(format_args!("  {line}"));
    }
    out.info("  everything outside these regions (partition tables, gaps, the tail) is mapped");
}

/// `--sparse`: punches holes into the image for the free blocks, as bmaptool-scan does, after
/// refusing an image that already has holes inside used areas (those would later look unused
/// to `bmaptool create`).
fn punch_holes(image: &Path, report: &ScanReport, out: &Output) -> anyhow::Result<()> {
    let file = File::options()
        .read(true)
        .write(true)
        .open(image)
        .with_context(|| format!("cannot open '{}' to punch holes", image.display()))?;
    let (data, _) = mapping::mapped_extents(&file, report.image_size, BLOCK)
        .with_context(|| format!("cannot find the holes of '{}'", image.display()))?;
    let data: Ranges = data
        .iter()
        .map(|e| {
            (
                e.first * BLOCK,
                ((e.last + 1) * BLOCK).min(report.image_size),
            )
        })
        .collect();
    let holes = data.complement(report.image_size);
    let inside = holes.subtract(&report.free);
    if let Some(&(start, _)) = inside.as_slice().first() {
        bail!(
            "'{}' already has holes inside used areas (the first at byte {start}); refusing to punch more; make it dense first (cp --sparse=never)",
            image.display()
        );
    }
    for &(start, end) in report.free.as_slice() {
        let (offset, len) = (
            libc::off_t::try_from(start).unwrap_or(libc::off_t::MAX),
            libc::off_t::try_from(end - start).unwrap_or(0),
        );
        // SAFETY: fallocate on a valid fd with plain integer arguments.
        let rc = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| {
                format!(
                    "cannot punch a hole into '{}' at byte {start}",
                    image.display()
                )
            });
        }
    }
    out.info(format_args!(
        "punched holes for {} of free blocks into '{}'",
        human(report.free.total()),
        image.display()
    ));
    Ok(())
}
