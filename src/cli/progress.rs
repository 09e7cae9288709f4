//! The CLI's progress sink: a bar per lane on a terminal, a line per 10 % otherwise, and
//! `PROGRESS <n>` lines for psplash when asked.
//!
//! A lane is what one bar shows: the operation itself (create, verify, scan, a copy to one
//! DEST), or one DEST of a copy to several, whose bar and lines then start with its name.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use blockprint::copy::CopyError;
use blockprint::progress::{Event, Phase, ProgressSink, TargetEvent, Warning};
use blockprint::size::human;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::Output;
use super::output::with_causes;

/// Minimum time between two progress lines of one lane in a log.
const LOG_EVERY: Duration = Duration::from_secs(2);

/// Turns engine events into terminal output.
pub struct TerminalProgress<'o> {
    out: &'o Output,
    multi: MultiProgress,
    lanes: Vec<Lane>,
    psplash: Option<Psplash>,
}

/// One lane's bar, and what its log lines need.
struct Lane {
    /// The DEST, when there are several.
    name: Option<String>,
    bar: Option<ProgressBar>,
    phase: Option<(Phase, Option<u64>, Instant)>,
    printed_tenths: u64,
    printed_at: Instant,
    /// Its failure was told when it happened, the others going on.
    told: bool,
}

impl<'o> TerminalProgress<'o> {
    /// A sink with one lane, printing through `out`.
    pub fn new(out: &'o Output) -> Self {
        Self::per_dest(out, &[])
    }

    /// A sink for a copy to `dests`: a lane each, named, when there are several.
    pub fn per_dest(out: &'o Output, dests: &[String]) -> Self {
        let names = match dests {
            [_, _, ..] => dests.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        let multi = MultiProgress::new();
        let lanes = names
            .into_iter()
            .map(|name| Lane {
                bar: (out.verbose() && out.terminal()).then(|| {
                    let bar = ProgressBar::new(0).with_prefix(name.clone().unwrap_or_default());
                    multi.add(bar)
                }),
                name,
                phase: None,
                printed_tenths: 0,
                printed_at: Instant::now(),
                told: false,
            })
            .collect();
        Self {
            out,
            multi,
            lanes,
            psplash: None,
        }
    }

    /// Also reports overall progress to a psplash FIFO. `work` is the byte count of all the
    /// phases that report progress (writing, and reading back when it is on).
    pub fn with_psplash(mut self, path: &Path, work: u64) -> Self {
        self.psplash = Psplash::open(path, work, self.out);
        self
    }

    /// Whether lane `index` failed and said so as it happened, the others going on; its
    /// error then needs no line of its own.
    pub fn told(&self, index: usize) -> bool {
        self.lanes.get(index).is_some_and(|lane| lane.told)
    }

    /// Clears the bars; call before printing the summary.
    pub fn finish(&mut self) {
        for bar in self.lanes.iter_mut().filter_map(|lane| lane.bar.take()) {
            bar.finish_and_clear();
        }
        // Best effort: a terminal that cannot be cleared keeps the last bars.
        let _ = self.multi.clear();
    }

    fn start(&mut self, index: usize, phase: Phase, total: Option<u64>) {
        if let Some(psplash) = &mut self.psplash {
            psplash.phase_started(phase);
        }
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        lane.phase = Some((phase, total, Instant::now()));
        lane.printed_tenths = 0;
        let (out, title) = (self.out, lane.title(phase));
        self.multi.suspend(|| {
            let size = total.map_or("size unknown".into(), human);
            out.debug(format_args!("phase: {title} ({size})"));
            // bmaptool's line, for its one destination.
            if phase == Phase::Syncing && lane.name.is_none() {
                out.info("synchronizing");
            }
        });
        let Some(bar) = &lane.bar else {
            return;
        };
        let known = total.is_some_and(|total| total > 0);
        // All of the new phase set before the one draw, so no frame mixes two phases.
        let bar = (bar.clone())
            .with_style(style(lane.name.is_some(), known))
            .with_message(label(phase))
            .with_position(0);
        bar.reset_elapsed();
        bar.set_length(total.unwrap_or(0));
        if known {
            bar.disable_steady_tick();
        } else {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn progress(&mut self, index: usize, phase: Phase, done: u64) {
        if let Some(psplash) = &mut self.psplash {
            psplash.progress(phase, done);
        }
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        if let Some(bar) = &lane.bar {
            bar.set_position(done);
        } else if self.out.verbose()
            && !self.out.terminal()
            && let Some(line) = lane.log_line(phase, done)
        {
            self.out.info(line);
        }
    }

    /// A DEST is written and closed: its bar stays, saying so, while the others go on.
    fn done(&mut self, index: usize) {
        if let Some(bar) = self.lanes.get_mut(index).and_then(|lane| lane.bar.take()) {
            bar.finish_with_message("done");
        }
    }

    fn failed(&mut self, index: usize, error: &CopyError) {
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        if let Some(bar) = lane.bar.take() {
            bar.abandon_with_message("failed");
        }
        // With one DEST there are no others: its failure is the copy's, told by its error line.
        if let Some(name) = &lane.name {
            lane.told = true;
            let text = format!("'{name}' failed, the others go on: {}", with_causes(error));
            self.multi.suspend(|| self.out.warn(&text));
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
        self.multi.suspend(|| self.out.warn(&text));
    }
}

impl Lane {
    /// The phase as its lines name it, after the DEST when there are several.
    fn title(&self, phase: Phase) -> String {
        match &self.name {
            Some(name) => format!("'{name}' {}", label(phase)),
            None => label(phase).to_owned(),
        }
    }

    /// The log line for `done` bytes of the current phase, when one is due: a line per 10 %,
    /// at most every [`LOG_EVERY`], and none for the end (the summary says it); for a size
    /// unknown until the end, what is done so far, at most every five times that.
    fn log_line(&mut self, phase: Phase, done: u64) -> Option<String> {
        let (_, total, started) = self.phase.filter(|p| p.0 == phase)?;
        let tenths = total
            .filter(|&total| total > 0)
            .map(|total| (total, done.saturating_mul(10) / total));
        let since = self.printed_at.elapsed();
        let due = match tenths {
            Some((total, tenths)) => {
                tenths > self.printed_tenths && done < total && since >= LOG_EVERY
            }
            None => since >= LOG_EVERY * 5,
        };
        if !due {
            return None;
        }
        self.printed_at = Instant::now();
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let (title, rate) = (self.title(phase), human((done as f64 / secs) as u64));
        Some(match tenths {
            Some((total, tenths)) => {
                self.printed_tenths = tenths;
                let (done, total) = (human(done), human(total));
                format!("{title}: {}% ({done} of {total}, {rate}/s)", tenths * 10)
            }
            None => format!("{title}: {} so far, {rate}/s", human(done)),
        })
    }
}

impl ProgressSink for TerminalProgress<'_> {
    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        match event {
            // Create, verify and scan report as the only lane.
            Event::PhaseStarted { phase, total_bytes } => self.start(0, *phase, *total_bytes),
            Event::Progress { phase, done_bytes } => self.progress(0, *phase, *done_bytes),
            Event::RangeVerified { first, last, .. } => {
                let out = self.out;
                self.multi
                    .suspend(|| out.debug(format_args!("blocks {first}-{last}: checksum ok")));
            }
            Event::Warning(warning) => self.warn(warning),
            Event::Target { index, event } => match event {
                TargetEvent::PhaseStarted { phase, total_bytes } => {
                    self.start(*index, *phase, *total_bytes);
                }
                TargetEvent::Progress { phase, done_bytes } => {
                    self.progress(*index, *phase, *done_bytes);
                }
                TargetEvent::Done(_) => self.done(*index),
                TargetEvent::Failed(error) => self.failed(*index, error),
            },
        }
        ControlFlow::Continue(())
    }
}

/// A lane's look: the DEST's name when there are several, the phase, and a bar when the
/// phase's size is known (else the bytes so far, with a spinner).
fn style(named: bool, known: bool) -> ProgressStyle {
    let head = if named {
        "{prefix:>12} {msg:>14}"
    } else {
        "{msg:>14}"
    };
    let template = if known {
        let width = if named { 24 } else { 30 };
        format!(
            "{head} [{{bar:{width}}}] {{binary_bytes}}/{{binary_total_bytes}} {{binary_bytes_per_sec}} ETA {{eta}}"
        )
    } else {
        format!("{head} {{spinner}} {{binary_bytes}} {{binary_bytes_per_sec}}")
    };
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

pub(super) fn label(phase: Phase) -> &'static str {
    match phase {
        Phase::Mapping => "mapping",
        Phase::Hashing => "hashing",
        Phase::Wiping => "wiping",
        Phase::Writing => "writing",
        Phase::Syncing => "syncing",
        Phase::ReadBack => "reading back",
        Phase::Settings => "writing settings",
        Phase::WritingHeader => "writing header",
        Phase::Verifying => "verifying",
        Phase::Probing => "checking capacity",
        Phase::SurfaceWrite => "writing test pattern",
        Phase::SurfaceRead => "reading test pattern",
        Phase::Rewriting => "rewriting",
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
