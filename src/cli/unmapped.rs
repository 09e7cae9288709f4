//! `copy` of an image without a bmap: its filesystems say what to write. An image with random
//! access is scanned first, from its metadata alone; any other is scanned as it passes. What
//! was written can be saved as a bmap (`--save-bmap`), for the next card.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use blockprint::copy::CopyReport;
use blockprint::scan::{self, ScanReport, StreamFindings, Verdict};
use blockprint::size::{human, percent};
use blockprint::source::RandomAccess;

use super::Output;
use super::create::write_bmap;

/// How a copy without a bmap goes.
pub(super) enum Unmapped {
    /// Scanned before the copy; the report says what is written.
    Scanned(Box<ScanReport>),
    /// Scanned as it passes.
    Stream,
    /// Every byte (`--nobmap`).
    Whole,
}

/// Scans `store` (the raw image, with random access) when there is one; says what will be
/// written. The store is dropped once scanned: what it keeps (an xz file's decoded blocks)
/// must not stay in memory during the copy, which reads the image through its own source.
pub(super) fn choose(
    store: Option<Arc<dyn RandomAccess>>,
    image: &str,
    explain: bool,
    out: &Output,
) -> Unmapped {
    let Some(store) = store else {
        out.info(format_args!(
            "image '{image}' has no bmap: its partitions and filesystems are read as it passes, \
             and blocks they prove free before the writer reaches them are left out (--nobmap \
             writes every byte)"
        ));
        return Unmapped::Stream;
    };
    let started = Instant::now();
    let report = scan::scan(&*store);
    drop(store);
    let free = report.free.total();
    let used = report.image_size - free;
    out.info(format_args!(
        "image '{image}' has no bmap: its filesystems use {} of its {} ({:.1}%), and only that \
         is written (scanned in {:.2} s; --nobmap writes every byte)",
        human(used),
        human(report.image_size),
        percent(used, report.image_size),
        started.elapsed().as_secs_f64()
    ));
    if explain {
        out.info(format_args!("layout: {}", report.layout));
        for finding in &report.findings {
            out.info(format_args!("  {}", region_line(finding, None, "written")));
        }
    }
    Unmapped::Scanned(Box::new(report))
}

/// What a stream scan found, once the copy is done: how much it left out, and with
/// `explain` a line per region.
pub(super) fn streamed(findings: &StreamFindings, explain: bool, out: &Output) {
    let skipped: u64 = findings.regions.iter().map(|r| r.skipped).sum();
    let free: u64 = findings.regions.iter().map(|r| r.finding.free).sum();
    out.info(format_args!(
        "left out {} that the filesystems proved free before it arrived (of {} free in the \
         end; {} scans of {} of metadata)",
        human(skipped),
        human(free),
        findings.scans,
        human(findings.kept)
    ));
    if !explain {
        return;
    }
    out.info(format_args!("layout: {}", findings.layout));
    if findings.over_budget {
        out.info(
            "a filesystem needed more metadata than is kept while streaming (72 MiB): what it would have proven free was written",
        );
    }
    for region in &findings.regions {
        let line = region_line(&region.finding, Some(region.skipped), "written");
        out.info(format_args!("  {line}"));
    }
}

/// "partition 2 (MBR type 0x83) at 256 MiB, 3.7 GiB: ext4, 2.5 GiB free, 2.4 GiB of it known
/// in time (notes)", or "…: f2fs, mapped whole: why" (`whole`: "mapped" for a bmap, "written"
/// for a copy). `skipped`: what a stream scan left out of it.
pub(super) fn region_line(finding: &scan::Finding, skipped: Option<u64>, whole: &str) -> String {
    let free = finding.free;
    let at = format!(
        "{} at {}, {}",
        finding.place,
        human(finding.start),
        human(finding.len)
    );
    match &finding.verdict {
        Verdict::Free { fs, notes, .. } => {
            let in_time = match skipped {
                Some(skipped) if skipped < free => format!(
                    ", {} of it known in time and left out, the rest written whole because its \
                     proof came after it",
                    human(skipped)
                ),
                Some(_) => ", all of it known in time and left out".to_owned(),
                None => String::new(),
            };
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            format!("{at}: {fs}, {} free{in_time}{notes}", human(free))
        }
        Verdict::MapWhole { fs, reason } => format!("{at}: {fs}, {whole} whole: {reason}"),
    }
}

/// Writes the bmap of what was written to `path` (`--save-bmap`).
pub(super) fn save(path: &Path, report: &CopyReport, out: &Output) -> anyhow::Result<()> {
    let Some(bmap) = &report.bmap else {
        anyhow::bail!(
            "no bmap of what was written could be made for '{}' (a range was not hashed); \
             nothing was saved",
            path.display()
        );
    };
    write_bmap(Some(path), &bmap.to_xml())?;
    out.info(format_args!(
        "saved the bmap of what was written to '{}': {} in {} ranges, SHA-256 each",
        path.display(),
        human(bmap.mapped_bytes()),
        bmap.ranges().len()
    ));
    Ok(())
}
