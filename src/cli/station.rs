//! `blockprint station IMAGE`: writes every drive plugged in after it started, all day. The
//! image is made ready once (a URL downloaded to a local file, its bmap found and checked, or
//! its filesystems scanned); then UDisks2's signals (never polling) say when a drive appears.
//! Drives that appear together (within [`SETTLE`]) are written at once by the fan-out engine,
//! each failing alone; each one is read back, powered off, and recorded (`--report`). The
//! first Ctrl-C takes no new cards and finishes those in progress; a second stops them,
//! leaving nothing bootable on them (the engine writes their first MiB last).
//!
//! ```text
//!  udisks watch ──Drive──┐                      ┌─► batch thread: prepare, open, copy_mapped ─┐
//!                        ├─► main loop: Gate ───┤                                            │
//!  batches ──Card/Done───┘        │             └─► batch thread …                           │
//!                                 └─► View (live block or log lines, --report JSON) ◄────────┘
//! ```

mod batch;
mod download;
mod gate;
mod view;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use blockprint::copy;
use blockprint::discover::{self, BmapChoice, Lookup};
use blockprint::drives::Drive;
use blockprint::firstboot::{self, FirstBoot, HostnamePattern, Settings};
use blockprint::identify;
use blockprint::progress::CancelToken;
use blockprint::size::human;
use blockprint::source::{Input, Opener};
use blockprint::udisks::{DriveEvent, Udisks};

use super::signature::{self, SignatureOptions};
use super::unmapped::{self, Unmapped};
use super::{Output, StationArgs};
use batch::{Card, Msg, Shared};
use gate::{Gate, Verdict};
use view::View;

/// Drives that appear within this long of the first one are written together.
const SETTLE: Duration = Duration::from_millis(1500);
/// How often the live view is redrawn (and Ctrl-C looked at).
const TICK: Duration = Duration::from_millis(200);

/// Runs the station until `--count` cards are written or Ctrl-C.
pub(super) fn run(args: &StationArgs, out: &Output) -> anyhow::Result<()> {
    let numbered = args
        .settings
        .as_deref()
        .map(firstboot::parse_file_numbered)
        .transpose()?;
    let udisks = Udisks::connect()
        .map_err(|e| anyhow!("the station needs udisksd to see drives come and go: {e}"))?;
    let timeout = Duration::from_secs(args.timeout);
    let opener = Opener::with_timeout(timeout);
    let given = Input::parse(&args.image)?;
    let bmap = find_bmap(args, &given, &opener, out)?;
    let download = match &given {
        Input::Url(url) => Some(download::Download::fetch(url, timeout, out)?),
        Input::Path(_) => None,
        _ => bail!(
            "the station reads its image again for every batch of cards: give a file or an \
             http(s) URL (downloaded once)"
        ),
    };
    let input = match &download {
        Some(download) => Input::Path(download.path().to_path_buf()),
        None => given.clone(),
    };
    let opened = opener.open(&input)?;
    copy::check_source(&*opened.source, bmap.as_ref().map(|(b, _)| &**b))?;
    let scanned = match &bmap {
        Some(_) => None,
        None => match unmapped::choose(opened.store, &given.to_string(), false, out) {
            Unmapped::Scanned(report) => Some(report),
            _ => None,
        },
    };
    let image_size = bmap
        .as_ref()
        .map(|(b, _)| b.image_size())
        .or(scanned.as_ref().map(|r| r.image_size))
        .or(opened.source.size());
    if let (Some(_), Some(path), true) = (&numbered, input.as_path(), opened.layers.is_empty()) {
        let format = firstboot::detect_image(path, None)?;
        out.info(format_args!(
            "image '{given}' takes first-boot settings as {format}"
        ));
    }
    let identity = match input.as_path().filter(|_| opened.layers.is_empty()) {
        Some(path) => identify::identify_path(path),
        None => identify::identify(&identify::peek(opened.source, identify::HEAD_LIMIT)),
    };
    super::copy::advise(&identity, &given, args.force, out)?;
    let mut protected: Vec<PathBuf> = input.as_path().map(Into::into).into_iter().collect();
    protected.extend(bmap.as_ref().and_then(|(_, at)| at.clone()));
    let shared = Shared {
        udisks,
        input,
        opener,
        bmap: Mutex::new(bmap.map(|(b, _)| b)),
        scanned,
        readback: !args.no_verify_readback,
        power_off: !args.no_power_off,
        timeout,
        protected,
    };
    Station::new(args, out, numbered, image_size)?.serve(&shared, &given)
}

/// The bmap given or found next to the image, its signature checked; with where it is, when
/// it is a local file.
fn find_bmap(
    args: &StationArgs,
    image: &Input,
    opener: &Opener,
    out: &Output,
) -> anyhow::Result<Option<(Arc<blockprint::bmap::Bmap>, Option<PathBuf>)>> {
    let choice = match &args.bmap {
        Some(text) => BmapChoice::Given(Input::parse(text)?),
        None => BmapChoice::Discover,
    };
    let options = SignatureOptions {
        skip: false,
        keyring: None,
        fingerprint: None,
        require: false,
    };
    match discover::find_checked(image, &choice, None, &options.policy(), opener)? {
        Lookup::Found(checked) => {
            if checked.discovered {
                out.info(format_args!("discovered bmap file '{}'", checked.location));
            }
            signature::report(&checked, out)?;
            let at = checked.location.as_path().map(Into::into);
            Ok(Some((Arc::new(checked.parse()?), at)))
        }
        Lookup::Missing { .. } => Ok(None),
    }
}

/// The station's state between events.
struct Station<'a> {
    args: &'a StationArgs,
    view: View,
    gate: Gate,
    settings: Option<(Settings, Option<HostnamePattern>)>,
    /// Cards taken, not yet handed to a batch, and when the first of them came.
    pending: Vec<Card>,
    since: Option<Instant>,
    numbered: u64,
    batches: usize,
    /// No new cards (Ctrl-C once, `--count` reached, udisksd gone).
    stopping: bool,
}

impl<'a> Station<'a> {
    fn new(
        args: &'a StationArgs,
        out: &Output,
        settings: Option<(Settings, Option<HostnamePattern>)>,
        image_size: Option<u64>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            args,
            view: View::new(*out, args.report.as_deref())?,
            gate: Gate::new(args.all, args.max_size, image_size),
            settings,
            pending: Vec::new(),
            since: None,
            numbered: 0,
            batches: 0,
            stopping: false,
        })
    }

    fn serve(mut self, shared: &Shared, image: &Input) -> anyhow::Result<()> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let hard = CancelToken::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // A third Ctrl-C, once the cards are being stopped, ends the process at once.
            signal_hook::flag::register_conditional_shutdown(signal, 1, hard.flag())
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
                .context("cannot install the interrupt handler")?;
        }
        let (tx, rx) = channel();
        let events = shared.udisks.watch()?;
        // What is queued as watching starts is what was there before.
        while let Ok(event) = events.try_recv() {
            if let DriveEvent::Added(drive) = event {
                self.gate.was_there(&drive);
            }
        }
        forward(events, tx.clone());
        self.view.note(format_args!(
            "station: writing '{image}' to every drive plugged in from now on{}; Ctrl-C \
             finishes the cards in progress",
            match self.args.count {
                Some(1) => ", one card".to_owned(),
                Some(count) => format!(", {count} cards"),
                None => String::new(),
            }
        ));
        self.view.status = "waiting for cards".into();
        std::thread::scope(|scope| {
            loop {
                match rx.recv_timeout(TICK) {
                    Ok(Msg::Drive(event)) => self.drive(*event),
                    Ok(Msg::Card(number, update)) => self.view.update(number, update),
                    Ok(Msg::Note(text)) => self.view.note(format_args!("station: {text}")),
                    Ok(Msg::BatchDone) => self.batches -= 1,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if interrupted.swap(false, Ordering::SeqCst) {
                    self.interrupt(&hard);
                }
                if self
                    .args
                    .count
                    .is_some_and(|count| self.view.written >= count)
                {
                    self.stop("all cards written");
                }
                if self.since.is_some_and(|since| since.elapsed() >= SETTLE) && !self.stopping {
                    let cards = std::mem::take(&mut self.pending);
                    self.since = None;
                    self.batches += 1;
                    let (tx, hard) = (tx.clone(), hard.clone());
                    scope.spawn(move || {
                        batch::run(shared, cards, &tx, &hard);
                        let _ = tx.send(Msg::BatchDone);
                    });
                }
                if self.stopping && self.batches == 0 {
                    break;
                }
                self.view.draw();
            }
        });
        self.view.finish();
        if self.view.failed > 0 {
            bail!("{} of the cards failed (see above)", self.view.failed);
        }
        Ok(())
    }

    fn drive(&mut self, event: DriveEvent) {
        let drive = match event {
            DriveEvent::Added(drive) | DriveEvent::Changed(drive) => drive,
            DriveEvent::Removed { key } => return self.gate.removed(&key),
            DriveEvent::Lost(reason) => {
                let reason = super::output::escape_controls(&reason).into_owned();
                return self.stop(&format!("udisksd went away ({reason})"));
            }
        };
        // A card waiting for its batch: its latest state (partitions found, a desktop's
        // automount) is what gets unmounted and opened.
        if let Some(card) = self.pending.iter_mut().find(|c| c.drive.key == drive.key) {
            if drive.media_available {
                card.drive = drive;
            }
            return;
        }
        // In progress counts the cards waiting for their batch too.
        let room = self
            .args
            .count
            .is_none_or(|count| self.view.written + self.view.in_progress() < count);
        if self.stopping || !room {
            return;
        }
        match self.gate.judge(&drive) {
            Verdict::Take => self.take(drive),
            Verdict::Skip(reason) => self.view.note(format_args!(
                "skipping {} ({}, {}): {reason}",
                drive.device.display(),
                super::output::escape_controls(&drive.display_name()),
                human(drive.size)
            )),
            Verdict::Quiet => {}
        }
    }

    fn take(&mut self, drive: Drive) {
        self.numbered += 1;
        let number = self.numbered;
        let first_boot = match &self.settings {
            None => Ok(None),
            Some((settings, pattern)) => {
                let mut settings = settings.clone();
                match pattern.as_ref().map(|p| p.render(number)).transpose() {
                    Ok(name) => {
                        settings.hostname = name.or(settings.hostname);
                        Ok(Some(Arc::new(FirstBoot {
                            settings,
                            declared: None,
                        })))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let first_boot = match first_boot {
            Ok(first_boot) => first_boot,
            Err(e) => return self.stop(&format!("card {number} cannot be named: {e}")),
        };
        let hostname = first_boot
            .as_ref()
            .and_then(|f| f.settings.hostname.clone());
        self.view.start(number, &drive, hostname);
        self.since.get_or_insert_with(Instant::now);
        self.pending.push(Card {
            number,
            drive,
            first_boot,
        });
    }

    /// Ctrl-C: the first stops taking cards, the second stops those being written.
    fn interrupt(&mut self, hard: &CancelToken) {
        if !self.stopping {
            let waiting = self.pending.len() as u64;
            let busy = match self.view.in_progress() - waiting {
                1 => "the card".to_owned(),
                n => format!("the {n} cards"),
            };
            self.stop(&format!(
                "Ctrl-C: finishing {busy} in progress (Ctrl-C again stops it, leaving nothing \
                 bootable)"
            ));
        } else if !hard.is_cancelled() {
            self.view
                .note("Ctrl-C again: stopping the cards in progress");
            hard.cancel();
        }
    }

    /// No new cards; those taken but not started are let go.
    fn stop(&mut self, why: &str) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for card in std::mem::take(&mut self.pending) {
            self.view.forget(card.number);
        }
        self.since = None;
        self.view.status = "stopping".into();
        self.view.note(format_args!("station: {why}"));
    }
}

/// Hands the watcher's events to the station's channel, on a thread of its own.
fn forward(events: std::sync::mpsc::Receiver<DriveEvent>, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        for event in events {
            if tx.send(Msg::Drive(Box::new(event))).is_err() {
                return;
            }
        }
    });
}
