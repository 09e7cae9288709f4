//! What the station shows and records. On a terminal: a live block, one line per card in
//! progress (state, bar, speed) and the running tally, redrawn in place, with a line above it
//! for each card done. In a log: one line per change. `--report FILE` gets one JSON line per
//! card that ended, appended and flushed as it ends.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use blockprint::drives::Drive;
use blockprint::progress::Phase;
use blockprint::size::human;

use super::batch::{Outcome, Update};
use crate::cli::Output;
use crate::cli::output::{escape_controls, write_raw};
use crate::cli::signature::utc;

/// A card being written, as shown.
struct Line {
    device: String,
    name: String,
    state: &'static str,
    total: Option<u64>,
    done: u64,
    phase_started: Instant,
    hostname: Option<String>,
    drive: Drive,
}

/// The station's screen and report.
pub(super) struct View {
    out: Output,
    live: bool,
    /// Lines of the live block on screen now, and when it was drawn.
    drawn: usize,
    drawn_at: Instant,
    cards: BTreeMap<u64, Line>,
    report: Option<File>,
    pub(super) written: u64,
    pub(super) failed: u64,
    /// What the tally line ends with ("waiting for cards").
    pub(super) status: String,
}

impl View {
    pub(super) fn new(out: Output, report: Option<&Path>) -> anyhow::Result<Self> {
        let report = report
            .map(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open the report file '{}'", path.display()))
            })
            .transpose()?;
        Ok(Self {
            out,
            live: out.terminal() && out.verbose(),
            drawn: 0,
            drawn_at: Instant::now(),
            cards: BTreeMap::new(),
            report,
            written: 0,
            failed: 0,
            status: String::new(),
        })
    }

    /// Cards in progress.
    pub(super) fn in_progress(&self) -> u64 {
        self.cards.len() as u64
    }

    /// A line above the live block.
    pub(super) fn note(&mut self, text: impl std::fmt::Display) {
        self.clear();
        self.out.info(text);
    }

    /// Card `number` is taken.
    pub(super) fn start(&mut self, number: u64, drive: &Drive, hostname: Option<String>) {
        let line = Line {
            device: drive.device.display().to_string(),
            name: escape_controls(&drive.display_name()).into_owned(),
            state: "waiting",
            total: None,
            done: 0,
            phase_started: Instant::now(),
            hostname,
            drive: drive.clone(),
        };
        let named = line
            .hostname
            .as_ref()
            .map(|h| format!(", as {h}"))
            .unwrap_or_default();
        self.note(format_args!(
            "card {number}: {} ({}, {}){named}",
            line.device,
            line.name,
            human(drive.size)
        ));
        self.cards.insert(number, line);
    }

    /// News of card `number`.
    pub(super) fn update(&mut self, number: u64, update: Update) {
        let Some(line) = self.cards.get_mut(&number) else {
            return;
        };
        let state = match update {
            Update::Preparing => "preparing",
            Update::Phase(phase, total) => {
                line.total = total;
                line.done = 0;
                line.phase_started = Instant::now();
                match phase {
                    Phase::ReadBack | Phase::Verifying | Phase::Rewriting => "verifying",
                    Phase::Probing => "checking capacity",
                    Phase::Syncing => "flushing",
                    Phase::Settings | Phase::WritingHeader => "finishing",
                    _ => "writing",
                }
            }
            Update::Progress(done) => {
                line.done = done;
                return;
            }
            Update::Finished(outcome) => return self.end(number, &outcome),
        };
        if state != line.state {
            line.state = state;
            if !self.live {
                let device = line.device.clone();
                self.out
                    .info(format_args!("card {number}: {device}: {state}"));
            }
        }
    }

    /// Card `number` was taken but will not be written (the station stopped first).
    pub(super) fn forget(&mut self, number: u64) {
        if let Some(line) = self.cards.remove(&number) {
            self.note(format_args!(
                "card {number}: {}: not written, the station stopped",
                line.device
            ));
        }
    }

    fn end(&mut self, number: u64, outcome: &Outcome) {
        let Some(line) = self.cards.remove(&number) else {
            return;
        };
        let said = match outcome {
            Outcome::Written {
                bytes,
                seconds,
                speed,
                verified,
                removal,
            } => {
                self.written += 1;
                format!(
                    "written {} in {seconds:.1} s ({}/s){}, {removal}",
                    human(*bytes),
                    human(*speed as u64),
                    if *verified {
                        ", read back and verified"
                    } else {
                        ""
                    }
                )
            }
            Outcome::Failed(error) => {
                self.failed += 1;
                format!("FAILED: {error}")
            }
            Outcome::Stopped => {
                self.failed += 1;
                "stopped: it holds no bootable image now".to_owned()
            }
        };
        self.note(format_args!("card {number}: {}: {said}", line.device));
        self.record(number, &line, outcome);
    }

    /// The card's JSON line in the report.
    fn record(&mut self, number: u64, line: &Line, outcome: &Outcome) {
        let Some(file) = &mut self.report else {
            return;
        };
        let time = utc(SystemTime::now())
            .replacen(' ', "T", 1)
            .replace(" UTC", "Z");
        let mut json = serde_json::json!({
            "time": time,
            "card": number,
            "device": line.device,
            "model": line.drive.display_name(),
            "serial": line.drive.media.serial,
            "size": line.drive.size,
            "hostname": line.hostname,
        });
        let fields = match outcome {
            Outcome::Written {
                bytes,
                seconds,
                speed,
                verified,
                removal,
            } => serde_json::json!({
                "result": "written",
                "bytes": bytes,
                "seconds": (seconds * 100.0).round() / 100.0,
                "mb_per_s": (speed / 1e4).round() / 100.0,
                "verified": verified,
                "removal": removal,
                "error": null,
            }),
            Outcome::Failed(error) => serde_json::json!({
                "result": "failed", "bytes": 0, "verified": false, "error": error,
            }),
            Outcome::Stopped => serde_json::json!({
                "result": "stopped", "bytes": 0, "verified": false,
                "error": "stopped by Ctrl-C",
            }),
        };
        if let (Some(json), serde_json::Value::Object(fields)) = (json.as_object_mut(), fields) {
            json.extend(fields);
        }
        if let Err(e) = writeln!(file, "{json}").and_then(|()| file.sync_data()) {
            self.out
                .warn(format_args!("cannot append to the report file: {e}"));
        }
    }

    /// Redraws the live block (terminal only), at most ten times a second.
    pub(super) fn draw(&mut self) {
        let fresh = self.drawn > 0 && self.drawn_at.elapsed() < Duration::from_millis(100);
        if !self.live || fresh {
            return;
        }
        self.drawn_at = Instant::now();
        self.clear();
        let mut text = String::new();
        for (number, line) in &self.cards {
            text.push_str(&format!(
                "  card {number:<3} {:<14} {:<10} ",
                line.device, line.state
            ));
            if let Some(total) = line.total.filter(|&t| t > 0) {
                let part = (line.done.min(total) as f64 / total as f64).clamp(0.0, 1.0);
                let filled = (part * 20.0) as usize;
                let secs = line.phase_started.elapsed().as_secs_f64().max(1e-3);
                text.push_str(&format!(
                    "[{}{}] {:>3.0}% {:>9}/s",
                    "#".repeat(filled),
                    "-".repeat(20 - filled),
                    part * 100.0,
                    human((line.done as f64 / secs) as u64)
                ));
            }
            text.push_str(&format!("  {}\n", line.name));
        }
        text.push_str(&format!("{}\n", self.tally()));
        // A line wider than the terminal would wrap, and the block would no longer be
        // redrawn in place: each is cut to the width.
        let width = terminal_width();
        let mut shown = String::with_capacity(text.len());
        for line in text.lines() {
            shown.extend(line.chars().take(width.saturating_sub(1)));
            shown.push('\n');
        }
        self.drawn = shown.lines().count();
        write_raw(&shown);
    }

    /// "23 written, 1 failed, 0 in progress".
    pub(super) fn tally(&self) -> String {
        let mut tally = format!(
            "{} written, {} failed, {} in progress",
            self.written,
            self.failed,
            self.cards.len()
        );
        if !self.status.is_empty() {
            tally.push_str(" - ");
            tally.push_str(&self.status);
        }
        tally
    }

    /// Takes the live block off the screen.
    fn clear(&mut self) {
        if self.drawn > 0 {
            write_raw(&format!("\x1b[{}A\x1b[J", self.drawn));
            self.drawn = 0;
        }
    }

    /// The end: the live block gives way to the final tally.
    pub(super) fn finish(&mut self) {
        let tally = self.tally();
        self.note(tally);
    }
}

/// The width of the terminal on stderr, 80 when it cannot be told.
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills the winsize given, which lives for the call.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let told = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if told && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}
