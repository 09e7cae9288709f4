//! The CLI's progress sink: an indicatif bar on a terminal, a line per 10% otherwise, and
//! `PROGRESS <n>` lines for psplash when asked.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use blockprint::progress::{Event, Phase, ProgressSink, Warning};
use blockprint::size::human;
use indicatif::{ProgressBar, ProgressStyle};

use super::Output;

/// Minimum time between two progress lines in a log.
const LOG_EVERY: Duration = Duration::from_secs(2);

/// Turns engine events into terminal output.
pub struct TerminalProgress<'o> {
    out: &'o Output,
    bar: Option<ProgressBar>,
    phase: Option<(Phase, Option<u64>, Instant)>,
    printed_tenths: u64,
    printed_at: Instant,
    psplash: Option<Psplash>,
}

impl<'o> TerminalProgress<'o> {
    /// A sink printing through `out`.
    pub fn new(out: &'o Output) -> Self {
        Self {
            out,
            bar: None,
            phase: None,
            printed_tenths: 0,
            printed_at: Instant::now(),
            psplash: None,
        }
    }

    /// Also reports overall progress to a psplash FIFO. `work` is the byte count of all the
    /// phases that report progress (writing, and reading back when it is on).
    pub fn with_psplash(mut self, path: &Path, work: u64) -> Self {
        self.psplash = Psplash::open(path, work, self.out);
        self
    }

    /// Clears the bar; call before printing the summary.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn start(&mut self, phase: Phase, total: Option<u64>) {
        self.finish();
        self.phase = Some((phase, total, Instant::now()));
        self.printed_tenths = 0;
        if let Some(psplash) = &mut self.psplash {
            psplash.phase_started(phase);
        }
        self.out.debug(format_args!(
            "phase: {} ({})",
            label(phase),
            total.map_or("size unknown".into(), human)
        ));
        if !self.out.verbose() {
            return;
        }
        if phase == Phase::Syncing {
            self.out.info("synchronizing");
        }
        if !self.out.terminal() {
            return;
        }
        let bar = match total {
            Some(total) if total > 0 => {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>14} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            }
            _ => {
                // Size unknown until the end (a compressed stream without a bmap): bytes and
                // speed instead of a bar.
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>14} {spinner} {binary_bytes} {binary_bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }
        };
        bar.set_prefix(label(phase));
        self.bar = Some(bar);
    }

    fn progress(&mut self, phase: Phase, done: u64) {
        if let Some(psplash) = &mut self.psplash {
            psplash.progress(phase, done);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        let Some((_, total, started)) = self.phase.filter(|p| p.0 == phase) else {
            return;
        };
        if !self.out.verbose() || self.out.terminal() {
            return;
        }
        let Some(total) = total.filter(|&t| t > 0) else {
            // Unknown size: a line now and then with what is done so far.
            if self.printed_at.elapsed() >= LOG_EVERY * 5 {
                self.printed_at = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                self.out.info(format_args!(
                    "{}: {} so far, {}/s",
                    label(phase),
                    human(done),
                    human((done as f64 / secs) as u64)
                ));
            }
            return;
        };
        // A log gets a line per 10%, at most every few seconds, and none for the end (the
        // summary says it).
        let tenths = done.saturating_mul(10) / total;
        if tenths > self.printed_tenths && done < total && self.printed_at.elapsed() >= LOG_EVERY {
            self.printed_tenths = tenths;
            self.printed_at = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            self.out.info(format_args!(
                "{}: {}% ({} of {}, {}/s)",
                label(phase),
                tenths * 10,
                human(done),
                human(total),
                human((done as f64 / secs) as u64)
            ));
        }
    }

    fn warn(&self, warning: &Warning) {
        let text = match warning {
            Warning::AllMapped { image } => format!(
                "all blocks of '{}' are mapped, it has no holes: was it copied or decompressed without keeping it sparse? Its bmap saves nothing",
                image.display()
            ),
            Warning::BufferedFallback { device } => format!(
                "'{}' refused direct I/O; writing through the page cache with periodic syncs",
                device.display()
            ),
            Warning::RangesWithoutChecksum { count } => format!(
                "{count} ranges of the bmap have no checksum and are written without verification"
            ),
        };
        match &self.bar {
            Some(bar) => bar.suspend(|| self.out.warn(&text)),
            None => self.out.warn(&text),
        }
    }
}

impl ProgressSink for TerminalProgress<'_> {
    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        match event {
            Event::PhaseStarted { phase, total_bytes } => self.start(*phase, *total_bytes),
            Event::Progress { phase, done_bytes } => self.progress(*phase, *done_bytes),
            Event::RangeVerified { first, last, .. } => {
                self.out
                    .debug(format_args!("blocks {first}-{last}: checksum ok"));
            }
            Event::Warning(warning) => self.warn(warning),
            // One target only: the engine tags nothing.
            Event::Target { .. } | Event::TargetDone { .. } | Event::TargetFailed { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

pub(super) fn label(phase: Phase) -> &'static str {
    match phase {
        Phase::Mapping => "mapping",
        Phase::Hashing => "hashing",
        Phase::Wiping => "wiping",
        Phase::Writing => "writing",
        Phase::Syncing => "syncing",
        Phase::ReadBack => "reading back",
        Phase::WritingHeader => "writing header",
        Phase::Verifying => "verifying",
    }
}

/// psplash's progress FIFO: best effort, as in bmaptool (a reader may come and go).
struct Psplash {
    file: File,
    work: u64,
    /// Bytes of completed phases that count towards `work`.
    base: u64,
    current: u64,
    last: Option<u64>,
}

impl Psplash {
    fn open(path: &Path, work: u64, out: &Output) -> Option<Self> {
        let is_fifo = std::fs::metadata(path)
            .map(|m| m.file_type().is_fifo())
            .unwrap_or(false);
        if !is_fifo {
            out.warn(format_args!(
                "'{}' is not a FIFO; psplash progress is not reported",
                path.display()
            ));
            return None;
        }
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => Some(Self {
                file,
                work: work.max(1),
                base: 0,
                current: 0,
                last: None,
            }),
            Err(e) => {
                out.warn(format_args!(
                    "cannot open psplash pipe '{}': {e}",
                    path.display()
                ));
                None
            }
        }
    }

    fn counts(phase: Phase) -> bool {
        matches!(phase, Phase::Writing | Phase::ReadBack)
    }

    fn phase_started(&mut self, phase: Phase) {
        self.base += self.current;
        self.current = 0;
        if phase == Phase::WritingHeader {
            self.send(self.work);
        }
    }

    fn progress(&mut self, phase: Phase, done: u64) {
        if Self::counts(phase) {
            self.current = done;
            self.send(self.base + done);
        }
    }

    fn send(&mut self, done: u64) {
        let percent = (done.saturating_mul(100) / self.work).min(100);
        if self.last != Some(percent) {
            self.last = Some(percent);
            // A full or reader-less pipe drops the update; the next one will do.
            let _ = writeln!(self.file, "PROGRESS {percent}");
        }
    }
}
