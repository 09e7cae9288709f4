//! `blockprint copy IMAGE DEST DEST …`: the image read and verified once and written to every
//! DEST at once; a bar per DEST on a terminal (a line per DEST and 10 % in a log), and a line
//! per DEST at the end. Exit status 0 only if every DEST was written.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use anyhow::bail;
use blockprint::bmap::Bmap;
use blockprint::copy::{self, CopyOptions};
use blockprint::progress::{CancelToken, Event, Phase, ProgressSink};
use blockprint::size::human;
use blockprint::source::ImageSource;
use blockprint::target::Target;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::Output;
use super::copy::{checks, format_duration};
use super::progress::{TerminalProgress, label};

/// Minimum time between two progress lines of one DEST in a log.
const LOG_EVERY: Duration = Duration::from_secs(2);

pub(super) fn copy(
    source: &mut dyn ImageSource,
    bmap: Option<&Bmap>,
    targets: Vec<Target>,
    options: &CopyOptions,
    cancel: &CancelToken,
    out: &Output,
) -> anyhow::Result<()> {
    let names: Vec<String> = targets
        .iter()
        .map(|t| t.path().display().to_string())
        .collect();
    let mut bars = Bars::new(out, &names);
    let results = copy::copy_to_all(source, bmap, targets, options, &mut bars, cancel);
    bars.finish();
    let results = results?;
    let mut failed = Vec::new();
    for (name, result) in names.iter().zip(&results) {
        match result {
            Ok(report) => {
                let secs = report.elapsed.as_secs_f64();
                out.info(format_args!(
                    "'{name}': wrote {} in {}, {}/sec; {}",
                    human(report.mapped_bytes),
                    format_duration(secs),
                    human((report.mapped_bytes as f64 / secs.max(1e-6)) as u64),
                    checks(report)
                ));
            }
            Err(error) => {
                out.warn(format_args!("'{name}' failed: {error}"));
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
            if options.verify_readback {
                " and read back"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// One DEST's progress.
struct Lane {
    name: String,
    bar: Option<ProgressBar>,
    phase: Option<(Phase, Option<u64>, Instant)>,
    printed_tenths: u64,
    printed_at: Instant,
}

/// The sink: a bar per DEST, and what concerns them all through the one-target sink.
struct Bars<'o> {
    out: &'o Output,
    multi: MultiProgress,
    lanes: Vec<Lane>,
    shared: TerminalProgress<'o>,
}

impl<'o> Bars<'o> {
    fn new(out: &'o Output, names: &[String]) -> Self {
        let multi = MultiProgress::new();
        let lanes = names
            .iter()
            .map(|name| Lane {
                name: name.clone(),
                bar: (out.verbose() && out.terminal()).then(|| multi.add(ProgressBar::new(0))),
                phase: None,
                printed_tenths: 0,
                printed_at: Instant::now(),
            })
            .collect();
        Self {
            out,
            multi,
            lanes,
            shared: TerminalProgress::new(out),
        }
    }

    /// Clears the bars; call before printing the summary.
    fn finish(&mut self) {
        for bar in self.lanes.iter_mut().filter_map(|lane| lane.bar.take()) {
            bar.finish_and_clear();
        }
        // Best effort: a terminal that cannot be cleared keeps the last bars.
        let _ = self.multi.clear();
    }

    fn start(&mut self, index: usize, phase: Phase, total: Option<u64>) {
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        lane.phase = Some((phase, total, Instant::now()));
        lane.printed_tenths = 0;
        let Some(bar) = &lane.bar else {
            return;
        };
        let template = match total {
            Some(total) if total > 0 => {
                "{prefix:>12} {msg:>14} [{bar:24}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}"
            }
            // Size unknown until the end (a compressed stream without a bmap).
            _ => "{prefix:>12} {msg:>14} {binary_bytes} {binary_bytes_per_sec}",
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(lane.name.clone());
        bar.set_message(label(phase));
        bar.reset();
        bar.set_length(total.unwrap_or(0));
    }

    fn progress(&mut self, index: usize, phase: Phase, done: u64) {
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        if let Some(bar) = &lane.bar {
            bar.set_position(done);
            return;
        }
        let Some((_, Some(total), started)) = lane.phase.filter(|p| p.0 == phase) else {
            return;
        };
        let tenths = done.saturating_mul(10) / total.max(1);
        if self.out.verbose()
            && tenths > lane.printed_tenths
            && done < total
            && lane.printed_at.elapsed() >= LOG_EVERY
        {
            lane.printed_tenths = tenths;
            lane.printed_at = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            self.out.info(format_args!(
                "'{}' {}: {}% ({} of {}, {}/s)",
                lane.name,
                label(phase),
                tenths * 10,
                human(done),
                human(total),
                human((done as f64 / secs) as u64)
            ));
        }
    }

    /// A DEST is written and closed: its bar stays, saying so, while the others go on.
    fn done(&mut self, index: usize) {
        if let Some(bar) = self.lanes.get_mut(index).and_then(|lane| lane.bar.take()) {
            bar.finish_with_message("done");
        }
    }

    fn failed(&mut self, index: usize, reason: &str) {
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        let text = format!("'{}' failed, the others go on: {reason}", lane.name);
        match lane.bar.take() {
            Some(bar) => {
                bar.abandon_with_message("failed");
                self.multi.suspend(|| self.out.warn(&text));
            }
            None => self.out.warn(&text),
        }
    }
}

impl ProgressSink for Bars<'_> {
    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        match event {
            Event::Target { index, event } => match **event {
                Event::PhaseStarted { phase, total_bytes } => {
                    self.start(*index, phase, total_bytes);
                }
                Event::Progress { phase, done_bytes } => {
                    self.progress(*index, phase, done_bytes);
                }
                _ => {}
            },
            Event::TargetDone { index, .. } => self.done(*index),
            Event::TargetFailed { index, reason } => self.failed(*index, reason),
            other => {
                let shared = &mut self.shared;
                return self.multi.suspend(|| shared.event(other));
            }
        }
        ControlFlow::Continue(())
    }
}
