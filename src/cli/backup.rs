//! `blockprint backup SOURCE OUT [--bmap FILE] [--format raw|zst|xz|gz] [--threads N]
//! [--level N] [--no-checksum] [--unmount] [--sign-with KEYFILE] [--explain]`: a card or raw
//! image saved as a small image, only its used blocks read, with its bmap (signed with the
//! user's key if asked). A drive is opened as `copy` opens one (root directly, anyone else
//! through udisksd, read-only), see [`super::device`].

mod key;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use anyhow::bail;
use blockprint::backup::{self, BackupOptions, BackupReport, Format, Meter};
use blockprint::progress::{CancelToken, Event, Phase, ProgressSink};
use blockprint::size::{human, percent};
use indicatif::{ProgressBar, ProgressStyle};

use super::copy::install_interrupt_handler;
use super::device::{self, Devices};
use super::{BackupArgs, Output};

/// Minimum time between two progress lines in a log.
const LOG_EVERY: Duration = Duration::from_secs(2);

pub(super) fn run(args: &BackupArgs, out: &Output) -> anyhow::Result<()> {
    let format = args.format.unwrap_or_else(|| Format::from_path(&args.out));
    if format == Format::Raw && args.level.is_some() {
        bail!("a raw image is not compressed: --level is for the zst, xz and gz formats");
    }
    let signer = match &args.sign_with {
        Some(path) => Some(key::load(path, args.passphrase_file.as_deref(), out)?),
        None => None,
    };
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let mut devices = Devices::new(out);
    let source = devices.open_read(&args.source, args.unmount)?;
    let meter = Meter::new();
    let options = BackupOptions {
        threads: args.threads.map_or(0, usize::from),
        level: args.level,
        checksums: !args.no_checksum,
        bmap: args.bmap.clone(),
        meter: meter.clone(),
        signer,
    };
    out.info(format_args!(
        "backing up '{}' ({}) to '{}' ({format})",
        source.name(),
        human(source.len()),
        args.out.display()
    ));
    let started = Instant::now();
    let mut progress = BackupProgress::new(out, meter, source.len());
    let result = backup::backup(&*source, &args.out, format, options, &mut progress, &cancel);
    progress.finish();
    let report = result.map_err(device::with_unmount_hint)?;
    if args.explain {
        for finding in &report.scan.findings {
            let line = super::unmapped::region_line(finding, None, "read");
            out.info(format_args!("  {line}"));
        }
        out.info("  everything outside these regions (partition tables, gaps, the tail) is read");
    }
    summary(&report, started.elapsed(), out);
    Ok(())
}

/// The closing lines: what was read, what was written, how fast.
fn summary(report: &BackupReport, elapsed: Duration, out: &Output) {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let threads = match (report.format, report.threads) {
        (Format::Raw, _) => String::new(),
        (_, 1) => ", 1 thread".to_owned(),
        (_, n) => format!(", {n} threads"),
    };
    let written = if report.format == Format::Raw {
        format!(
            "a sparse image of {} taking {} on disk",
            human(report.output_size),
            human(report.output_allocated)
        )
    } else {
        format!(
            "{} ({:.1}% of what was read, {:.1}% of the image)",
            human(report.output_size),
            percent(report.output_size, report.read_bytes),
            percent(report.output_size, report.image_size)
        )
    };
    out.debug(format_args!(
        "the source was read {}",
        if report.direct {
            "with O_DIRECT (where the page cache did not hold it)"
        } else {
            "through the page cache"
        }
    ));
    out.info(format_args!(
        "backed up '{}' to '{}' ({}{threads}): read {} of {} ({:.1}%, the used blocks), wrote {written}, in {:.1} s ({}/s)",
        report.source,
        report.output.display(),
        report.format,
        human(report.read_bytes),
        human(report.image_size),
        percent(report.read_bytes, report.image_size),
        secs,
        human((report.read_bytes as f64 / secs) as u64),
    ));
    out.info(format_args!(
        "bmap '{}': {} in {} ranges{}",
        report.bmap.display(),
        human(report.used_bytes),
        report.ranges,
        if report.checksums {
            ", SHA-256 each"
        } else {
            ", no checksums"
        }
    ));
    if let Some(signature) = &report.signature {
        out.info(format_args!("signature '{}'", signature.display()));
    }
}

/// The progress of a backup: a bar on a terminal (the used bytes read, the compressed size so
/// far, speed and time left), a line per 10 % in a log.
struct BackupProgress<'o> {
    out: &'o Output,
    meter: Meter,
    size: u64,
    bar: Option<ProgressBar>,
    /// The phase, its total, and when it began.
    phase: Option<(Phase, Option<u64>, Instant)>,
    printed_tenths: u64,
    printed_at: Instant,
}

impl<'o> BackupProgress<'o> {
    fn new(out: &'o Output, meter: Meter, size: u64) -> Self {
        Self {
            bar: (out.verbose() && out.terminal()).then(|| ProgressBar::new(0)),
            out,
            meter,
            size,
            phase: None,
            printed_tenths: 0,
            printed_at: Instant::now(),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn start(&mut self, phase: Phase, total: Option<u64>) {
        self.phase = Some((phase, total, Instant::now()));
        self.printed_tenths = 0;
        if phase == Phase::Hashing
            && let Some(total) = total
        {
            let line = format!(
                "reading the used {} of {} ({:.1}%); the rest is free and becomes zeros",
                human(total),
                human(self.size),
                percent(total, self.size)
            );
            match &self.bar {
                Some(bar) => bar.suspend(|| self.out.info(&line)),
                None => self.out.info(&line),
            }
        }
        let Some(bar) = &self.bar else {
            return;
        };
        let known = phase == Phase::Hashing && total.is_some_and(|t| t > 0);
        let template = if known {
            "{msg:>10} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}, {prefix} written"
        } else {
            "{msg:>10} {spinner} {elapsed}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(label(phase));
        bar.set_prefix(human(self.meter.output_bytes()));
        bar.set_length(total.unwrap_or(0));
        bar.set_position(0);
        bar.reset_elapsed();
        bar.reset_eta();
        if known {
            bar.disable_steady_tick();
        } else {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn progress(&mut self, done: u64) {
        let written = human(self.meter.output_bytes());
        if let Some(bar) = &self.bar {
            bar.set_prefix(written);
            bar.set_position(done);
            return;
        }
        let Some((phase, Some(total), started)) = self.phase else {
            return;
        };
        let tenths = done.saturating_mul(10) / total.max(1);
        if !self.out.verbose()
            || tenths <= self.printed_tenths
            || done >= total
            || self.printed_at.elapsed() < LOG_EVERY
        {
            return;
        }
        self.printed_tenths = tenths;
        self.printed_at = Instant::now();
        let rate = human((done as f64 / started.elapsed().as_secs_f64().max(1e-3)) as u64);
        self.out.info(format_args!(
            "{}: {}% ({} of {}, {rate}/s), {written} written",
            label(phase),
            tenths * 10,
            human(done),
            human(total)
        ));
    }
}

impl ProgressSink for BackupProgress<'_> {
    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        match event {
            Event::PhaseStarted { phase, total_bytes } => self.start(*phase, *total_bytes),
            Event::Progress { done_bytes, .. } => self.progress(*done_bytes),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn label(phase: Phase) -> &'static str {
    match phase {
        Phase::Mapping => "scanning",
        Phase::Hashing => "reading",
        Phase::Syncing => "syncing",
        _ => "working",
    }
}
