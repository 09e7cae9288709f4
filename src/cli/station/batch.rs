//! One batch of cards: the drives that appeared together, freed and opened through udisksd,
//! then written at once by the fan-out engine (the image read once for all of them), each one
//! failing alone. A card done is powered off on a thread of its own while the others go on.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;
use blockprint::copy::{self, CopyError, CopyOptions, CopyReport, Mapping, Reopen};
use blockprint::drives::Drive;
use blockprint::firstboot::FirstBoot;
use blockprint::progress::{CancelToken, Event, Phase, TargetEvent};
use blockprint::scan::ScanReport;
use blockprint::source::{Input, Opener};
use blockprint::target::{Target, TargetOptions};
use blockprint::udisks::{DriveEvent, Removal, Udisks};

use crate::cli::output::with_causes;

/// What every batch shares: the image, prepared once, and how to write it.
pub(super) struct Shared {
    pub(super) udisks: Udisks,
    /// The image, local.
    pub(super) input: Input,
    pub(super) opener: Opener,
    /// Its bmap: given, found, or made by the first card written without one.
    pub(super) bmap: Mutex<Option<Arc<Bmap>>>,
    /// What its filesystems use, scanned once, when it has random access and no bmap.
    pub(super) scanned: Option<Box<ScanReport>>,
    pub(super) readback: bool,
    pub(super) power_off: bool,
    pub(super) timeout: Duration,
    /// The image and bmap files: no card may hold them.
    pub(super) protected: Vec<PathBuf>,
}

/// A card to write.
pub(super) struct Card {
    /// Its number in this station's run, from 1.
    pub(super) number: u64,
    pub(super) drive: Drive,
    /// Its own first-boot settings (a numbered hostname).
    pub(super) first_boot: Option<Arc<FirstBoot>>,
}

/// What the batches and the UDisks2 watcher tell the station.
pub(super) enum Msg {
    /// Boxed: a drive is large, and the cards' news is frequent.
    Drive(Box<DriveEvent>),
    Card(u64, Update),
    /// A line to show, not about one card.
    Note(String),
    BatchDone,
}

/// What became of a card.
pub(super) enum Update {
    /// Unmounting and opening it.
    Preparing,
    /// An engine phase began, with its work in bytes.
    Phase(Phase, Option<u64>),
    /// Bytes done in the current phase.
    Progress(u64),
    /// The end.
    Finished(Outcome),
}

/// How a card ended.
pub(super) enum Outcome {
    Written {
        bytes: u64,
        /// From the start of its batch to powered off.
        seconds: f64,
        /// Bytes a second while written.
        speed: f64,
        verified: bool,
        removal: String,
    },
    Failed(String),
    /// Stopped by a second Ctrl-C: left with no bootable start.
    Stopped,
}

/// Writes `cards`, reporting on `tx`.
pub(super) fn run(shared: &Shared, cards: Vec<Card>, tx: &Sender<Msg>, cancel: &CancelToken) {
    let send = |number: u64, update: Update| {
        // The station outlives its batches: it is listening.
        let _ = tx.send(Msg::Card(number, update));
    };
    let (mut targets, mut open) = (Vec::new(), Vec::new());
    for card in cards {
        send(card.number, Update::Preparing);
        match open_card(shared, &card.drive) {
            Ok(target) => {
                targets.push(target);
                open.push(card);
            }
            Err(e) => send(card.number, Update::Finished(Outcome::Failed(e))),
        }
    }
    if targets.is_empty() {
        return;
    }
    let mut source = match shared.opener.open(&shared.input) {
        Ok(opened) => opened.source,
        Err(e) => {
            for card in &open {
                send(
                    card.number,
                    Update::Finished(Outcome::Failed(with_causes(&e))),
                );
            }
            return;
        }
    };
    let bmap = shared.bmap.lock().ok().and_then(|b| b.clone());
    let mapping = match (&bmap, &shared.scanned) {
        (Some(bmap), _) => Mapping::Bmap(bmap),
        (None, Some(report)) => Mapping::Scanned(report),
        (None, None) => Mapping::Stream,
    };
    let options = CopyOptions {
        verify_readback: shared.readback,
        stall_timeout: Some(shared.timeout),
        first_boot_each: open.iter().map(|c| c.first_boot.clone()).collect(),
        reopen: Some(Reopen::new({
            let (input, timeout) = (shared.input.clone(), shared.timeout);
            move || Ok(Opener::with_timeout(timeout).open(&input)?.source)
        })),
        ..CopyOptions::default()
    };
    let started = Instant::now();
    thread::scope(|scope| {
        let mut sink = |event: &Event| {
            if let Event::Target { index, event } = event
                && let Some(card) = open.get(*index)
            {
                match event {
                    TargetEvent::PhaseStarted { phase, total_bytes } => {
                        send(card.number, Update::Phase(*phase, *total_bytes));
                    }
                    TargetEvent::Progress { done_bytes, .. } => {
                        send(card.number, Update::Progress(*done_bytes));
                    }
                    TargetEvent::Done(report) => {
                        let report = report.clone();
                        scope.spawn(move || {
                            let outcome = finish(shared, &card.drive, &report, started);
                            send(card.number, Update::Finished(outcome));
                        });
                    }
                    // Told with the results, below.
                    TargetEvent::Failed(_) => {}
                }
            }
            ControlFlow::Continue(())
        };
        let results =
            copy::copy_mapped(&mut *source, mapping, targets, &options, &mut sink, cancel);
        if bmap.is_none()
            && let Some(made) = results.iter().find_map(|r| r.as_ref().ok()?.bmap.clone())
            && let Ok(mut kept) = shared.bmap.lock()
        {
            // The next cards are written with it: no scanning of the stream again.
            if kept.is_none() {
                *kept = Some(made);
                let _ = tx.send(Msg::Note(
                    "the bmap of what was written serves the next cards".into(),
                ));
            }
        }
        for (result, card) in results.iter().zip(&open) {
            let outcome = match result {
                Ok(_) => continue,
                Err(e) if matches!(**e, CopyError::Cancelled { .. }) => Outcome::Stopped,
                Err(e) => Outcome::Failed(with_causes(&**e)),
            };
            send(card.number, Update::Finished(outcome));
        }
    });
}

/// Frees and opens a card through udisksd, then the engine's guards on the descriptor.
fn open_card(shared: &Shared, drive: &Drive) -> Result<Target, String> {
    shared.udisks.prepare(drive).map_err(|e| e.to_string())?;
    let opened = shared.udisks.open(drive).map_err(|e| e.to_string())?;
    let options = TargetOptions {
        removable_only: false,
        protected: shared.protected.clone(),
    };
    Target::checked_block_file(opened.file, &drive.device, opened.direct, &options)
        .map_err(|e| with_causes(&e))
}

/// A card written and closed: powered off (or its partitions re-read), and its outcome.
fn finish(shared: &Shared, drive: &Drive, report: &CopyReport, started: Instant) -> Outcome {
    let removal = if shared.power_off {
        match shared.udisks.finish(drive) {
            Ok(Removal::PoweredOff) => "powered off".to_owned(),
            Ok(Removal::Ejected) => "ejected".to_owned(),
            Ok(Removal::Nothing) => "cannot be powered off, safe to remove".to_owned(),
            Err(e) => format!("not powered off ({e})"),
        }
    } else {
        match shared.udisks.rescan(drive) {
            Ok(()) => "left powered on".to_owned(),
            Err(e) => format!("left powered on, not rescanned ({e})"),
        }
    };
    Outcome::Written {
        bytes: report.mapped_bytes,
        seconds: started.elapsed().as_secs_f64(),
        speed: report.mapped_bytes as f64 / report.elapsed.as_secs_f64().max(1e-6),
        verified: report.read_back,
        removal,
    }
}
