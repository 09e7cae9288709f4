//! `blockprint check-card DEVICE [--full] [--timeout SECONDS]`: the capacity probe, and with
//! `--full` the surface test, of a drive; exit 1 when it is counterfeit, did not keep every
//! byte, or hung for longer than `--timeout`.

use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use anyhow::bail;
use blockprint::card::{self, CapacityReport, ProbeError, SurfaceReport, decimal};
use blockprint::progress::{CancelToken, Event, Phase, ProgressSink};
use blockprint::size::human;
use blockprint::target::{TargetError, TargetOptions};

use super::copy::install_interrupt_handler;
use super::device::Devices;
use super::progress::TerminalProgress;
use super::{CheckCardArgs, Output};

/// Bad regions listed one per line; the rest are counted.
const SHOWN: usize = 20;

/// Runs `check-card`.
pub(super) fn run(args: &CheckCardArgs, out: &Output) -> anyhow::Result<()> {
    let device = &args.device;
    // Only a drive: a path that is no block device is never opened (nor created) for writing.
    match std::fs::metadata(device) {
        Ok(meta) if meta.file_type().is_block_device() => {}
        Ok(meta) => {
            let what = if meta.is_dir() {
                "a directory"
            } else if meta.is_file() {
                "a regular file"
            } else {
                "a special file"
            };
            return Err(ProbeError::NotADrive {
                device: device.clone(),
                what,
            }
            .into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TargetError::NoSuchDevice {
                path: device.clone(),
            }
            .into());
        }
        Err(e) => bail!("cannot examine '{}': {e}", device.display()),
    }
    // The guards of `copy`: exclusive, nothing of it mounted or in use.
    let mut devices = Devices::new(out);
    let mut target = devices.open(device, &TargetOptions::default())?;
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let stall_limit = Some(Duration::from_secs(args.timeout));
    let claimed = target.capacity().unwrap_or(0);
    out.info(format_args!(
        "checking '{}', which claims {} ({claimed} bytes); {}",
        device.display(),
        decimal(claimed),
        if args.full {
            "everything on it is erased"
        } else {
            "a genuine card keeps what it holds, a counterfeit may lose it"
        }
    ));

    let mut progress = TerminalProgress::new(out);
    let result = {
        let mut started = false;
        let mut on_progress = |done: u64, total: u64| {
            if !started {
                started = true;
                // The terminal's sink never asks to stop: Ctrl-C does, through `cancel`.
                let _ = progress.event(&Event::PhaseStarted {
                    phase: Phase::Probing,
                    total_bytes: Some(total),
                });
            }
            let _ = progress.event(&Event::Progress {
                phase: Phase::Probing,
                done_bytes: done,
            });
        };
        card::probe(&mut target, &mut on_progress, &cancel, stall_limit)
    };
    progress.finish();
    let capacity = result?;
    tell_capacity(&capacity, out);

    let surface = if args.full {
        let mut progress = TerminalProgress::new(out);
        let result = card::surface(&mut target, &mut progress, &cancel, stall_limit);
        progress.finish();
        let surface = result?;
        tell_surface(&surface, out);
        Some(surface)
    } else {
        None
    };

    if !capacity.is_genuine() {
        bail!("{capacity}");
    }
    if let Some(surface) = surface.filter(|s| !s.is_ok()) {
        bail!("{surface}");
    }
    Ok(())
}

/// The probe's finding, its detail and the numbers behind it; the headline of a card that
/// is not genuine is the error line, said last.
fn tell_capacity(report: &CapacityReport, out: &Output) {
    if report.is_genuine() {
        out.info(report);
    }
    out.info(report.detail());
    if report.restored {
        out.info("every byte the check overwrote was put back: what it held is as it was");
    }
    out.info(format_args!(
        "real capacity: {} bytes ({}) of {} bytes claimed; {} test blocks, {} lost, {} {}, {} written in {}",
        report.usable,
        decimal(report.usable),
        report.claimed,
        report.checked,
        report.lost,
        report.passes,
        if report.passes == 1 { "pass" } else { "passes" },
        human(report.written),
        seconds(report.elapsed)
    ));
}

/// The surface test's speeds and bad regions.
fn tell_surface(report: &SurfaceReport, out: &Output) {
    out.info(format_args!(
        "surface: wrote {} at {}/s, read it at {}/s, in {}",
        human(report.written),
        human(report.write_speed as u64),
        human(report.read_speed as u64),
        seconds(report.elapsed)
    ));
    if report.write_errors > 0 {
        out.warn(format_args!(
            "{} writes of '{}' failed with an I/O error",
            report.write_errors,
            report.device.display()
        ));
    }
    for &(start, end) in report.bad.iter().take(SHOWN) {
        out.warn(format_args!(
            "bad region: bytes {start}-{} ({} at {}) did not read back as written",
            end - 1,
            human(end - start),
            human(start)
        ));
    }
    let more = report.bad.len().saturating_sub(SHOWN) + report.unlisted;
    if more > 0 {
        out.warn(format_args!("… and {more} more bad regions"));
    }
    if report.is_ok() {
        out.info(report);
    }
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}
