//! What `copy` says once it is done: a line per DEST, what was verified, what it found out
//! about the card, the first-boot settings applied.

use std::sync::Arc;

use anyhow::bail;
use blockprint::copy::{CopyError, CopyReport, SpeedClass};
use blockprint::firstboot;
use blockprint::size::human;

use super::Output;
use super::output::with_causes;

/// A line per DEST of a copy to several, and an error naming those that failed.
pub(super) fn summarize(
    names: &[String],
    results: &[Result<CopyReport, Arc<CopyError>>],
    (read_back, whole): (bool, bool),
    out: &Output,
) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(report) => {
                let secs = report.elapsed.as_secs_f64();
                out.info(format_args!(
                    "'{name}': wrote {} in {}, {}/sec; {}",
                    human(report.mapped_bytes),
                    format_duration(secs),
                    human((report.mapped_bytes as f64 / secs.max(1e-6)) as u64),
                    checks(report, whole)
                ));
                card_lines(report, Some(name), out);
                if let Some(applied) = &report.first_boot {
                    applied_lines(applied, Some(name), out);
                }
            }
            Err(error) => {
                out.warn(format_args!("'{name}' failed: {}", with_causes(&**error)));
                failed.push(format!("'{name}'"));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} destinations failed: {}; rewrite them before use (the others are written{})",
            failed.len(),
            names.len(),
            failed.join(", "),
            if read_back { " and read back" } else { "" }
        );
    }
    Ok(())
}

/// "Settings applied and read back: hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home",
/// after the format and files written; `name` is the DEST's, when there are several.
pub(super) fn applied_lines(applied: &firstboot::Applied, name: Option<&str>, out: &Output) {
    let on = name.map(|name| format!(" on '{name}'")).unwrap_or_default();
    out.info(format_args!(
        "first-boot settings written{on} as {}: {}",
        applied.format,
        applied.files.join(", ")
    ));
    out.info(format_args!(
        "Settings applied and read back{on}: {}",
        applied.summary
    ));
}

/// What the copy found out about the card: ranges written again, its sentinels, and the
/// write speed it sustained with what that is good for.
pub(super) fn card_lines(report: &CopyReport, name: Option<&str>, out: &Output) {
    let on = name.map(|n| format!("'{n}': ")).unwrap_or_default();
    if report.rewritten > 0 {
        out.info(format_args!(
            "{on}{} range{} did not read back, {} written again and now verif{}",
            report.rewritten,
            if report.rewritten == 1 { "" } else { "s" },
            if report.rewritten == 1 { "was" } else { "were" },
            if report.rewritten == 1 { "ies" } else { "y" },
        ));
    }
    if let Some(capacity) = report.capacity.as_ref().filter(|c| !c.is_genuine()) {
        out.warn(format_args!(
            "{on}{capacity} The image fits in what it holds and was written, but do not trust \
             the card with more."
        ));
    } else if let Some(capacity) = &report.capacity {
        out.info(format_args!("{on}{capacity}"));
    }
    if let Some(speed) = report.write_speed() {
        out.info(format_args!(
            "{on}the card wrote at {:.1} MB/s: {}",
            speed / 1e6,
            SpeedClass::of(speed)
        ));
    }
    if report.sentinels > 0 {
        out.debug(format_args!(
            "{on}{} test blocks where the image puts nothing survived the copy",
            report.sentinels
        ));
    }
}

/// What was verified of a written target, for its summary line; `whole`: the image was
/// checked whole as it was read (its catalog's SHA-256s or signature, a signed SHA256SUMS).
pub(super) fn checks(report: &CopyReport, whole: bool) -> String {
    let mut checks = Vec::new();
    if whole {
        checks.push("the image checked whole as published".to_owned());
    }
    if report.ranges_verified > 0 {
        checks.push(format!(
            "{} of {} ranges verified",
            report.ranges_verified, report.ranges
        ));
    }
    if report.read_back {
        checks.push("all read back and compared".to_owned());
    }
    if checks.is_empty() {
        checks.push("nothing verified".to_owned());
    }
    checks.join(", ")
}

pub(super) fn format_duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let minutes = (secs / 60.0).floor();
        format!("{minutes:.0}m {:.1}s", secs - minutes * 60.0)
    }
}
