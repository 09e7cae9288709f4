//! `blockprint scan [-o OUT.bmap] [--sparse] [--explain] [--no-checksum] IMAGE`: a bmap from the
//! image's filesystems rather than from its holes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use blockprint::create::CreateOptions;
use blockprint::mapping;
use blockprint::progress::CancelToken;
use blockprint::scan::{self, BLOCK, Ranges, ScanReport};
use blockprint::size::{human, percent};
use blockprint::source::{Input, LocalFile, Opened, Opener};

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
        mut source, layers, ..
    } = opener.open(&input)?;
    // A raw local image is scanned in place; anything else is decoded to a temporary file
    // first (beside the output), because the parsers need random access.
    let temp;
    let image: PathBuf = match input.as_path() {
        Some(path) if layers.is_empty() => path.to_path_buf(),
        _ => {
            if args.sparse {
                bail!("--sparse punches holes into a raw image file, but '{input}' is not one");
            }
            let dir = args
                .output
                .as_deref()
                .and_then(Path::parent)
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            temp = Temporary::new(&dir)?;
            let layers: Vec<String> = layers.iter().map(ToString::to_string).collect();
            out.info(format_args!(
                "decoding '{input}' ({}) to a temporary file in '{}'",
                layers.join(", in it "),
                dir.display()
            ));
            unpack(&mut *source, &temp, &cancel)?;
            temp.path.clone()
        }
    };
    drop(source);

    let started = std::time::Instant::now();
    let report = scan::scan(
        &LocalFile::open(&image)
            .with_context(|| format!("cannot open image '{}'", image.display()))?,
    );
    out.debug(format_args!(
        "scanned the metadata in {:.3} s",
        started.elapsed().as_secs_f64()
    ));
    explain(&report, args.explain, out);

    let mut progress = TerminalProgress::new(out);
    let options = CreateOptions {
        checksums: !args.no_checksum,
    };
    let result = scan::to_bmap(&image, &report, options, &mut progress, &cancel);
    progress.finish();
    write_bmap(args.output.as_deref(), &result?.to_xml())?;
    if args.sparse {
        punch_holes(&image, &report, out)?;
    }
    Ok(())
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
