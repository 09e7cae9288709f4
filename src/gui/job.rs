//! The write job: everything from "Write" to "Safe to remove", for one drive or several, on a
//! worker thread.
//!
//! ```text
//!  App ──Request──► run() on a blocking thread ─┬─ udisks.prepare, each drive (unmount)  Preparing
//!                                               ├─ scan::scan, with no block map and random
//!                                               │   access (metadata only; the bytes to write)
//!                                               ├─ udisks.open, each drive  (polkit, fd)
//!                                               ├─ copy::copy_mapped ──Event──► Throttle per drive
//!                                               │        Writing · Verifying · Finishing
//!                                               └─ udisks.finish, each drive as soon as it is
//!                                                  done (rescan, power off), on a thread of its own
//!  App ◄──JobEvent (≤ 10 Hz a drive, the last of each phase always sent) ── send()
//! ```
//!
//! The image is read once whatever the number of drives. A drive that cannot be unmounted or
//! opened, or fails while written, fails alone: the others go on. The device is opened only
//! through udisksd (`Block.OpenDevice`), so polkit decides and the app never needs root.
//! Cancelling is a [`CancelToken`]: the copy stops at the next chunk and each drive's outcome
//! is [`Outcome::Cancelled`], never an error.

mod throttle;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;
use blockprint::card::CapacityReport;
use blockprint::copy::{self, CopyError, CopyOptions, CopyReport, Mapping, Reopen};
use blockprint::drives::Drive;
use blockprint::firstboot::{Applied, FirstBoot};
use blockprint::progress::{CancelToken, Event, Phase, TargetEvent};
use blockprint::scan::{self, ScanReport, StreamFindings};
use blockprint::source::{ImageSource, Input, InputError, Opened, SourceError};
use blockprint::target::{Target, TargetError};
use blockprint::udisks::{Removal, Udisks, UdisksError};

use throttle::Throttle;

/// What to write where.
#[derive(Debug, Clone)]
pub struct Request {
    /// The image.
    pub image: Input,
    /// Its block map, already checked (signature included); `None` writes what the image's
    /// filesystems use, found from their metadata before the copy when the image has random
    /// access ([`copy::Mapping::Scanned`]) or as it is read ([`copy::Mapping::Stream`]), or
    /// every byte.
    pub bmap: Option<Arc<Bmap>>,
    /// Without a block map, write every byte (*Write Everything*).
    pub everything: bool,
    /// The drives, as they were when the user confirmed.
    pub drives: Vec<Drive>,
    /// Read everything back after writing and compare.
    pub verify: bool,
    /// Find out how much each drive really holds before writing it (counterfeit cards).
    pub check_capacity: bool,
    /// Power the drive off (or eject it) when done.
    pub power_off: bool,
    /// Cancelled when the user skips the rest of the read-back.
    pub skip_verify: CancelToken,
    /// First-boot settings to write into the card's boot partition after the image.
    pub first_boot: Option<Arc<FirstBoot>>,
}

/// The stages a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Unmounting, asking for permission, opening.
    Preparing,
    /// Writing the mapped ranges (each checked against its checksum as it streams).
    Writing,
    /// Reading everything back from the drive.
    Verifying,
    /// Writing the held-back start, flushing, powering off.
    Finishing,
}

impl Stage {
    /// The stage an engine phase belongs to; `after_readback` tells the final flush from
    /// the one that follows the writes.
    fn of(phase: Phase, reading_done: bool) -> Stage {
        match phase {
            Phase::ReadBack | Phase::Verifying | Phase::Rewriting => Stage::Verifying,
            Phase::Settings | Phase::WritingHeader => Stage::Finishing,
            Phase::Syncing if reading_done => Stage::Finishing,
            _ => Stage::Writing,
        }
    }
}

/// What the job reports; `drive` is an index into [`Request::drives`].
#[derive(Debug)]
pub enum JobEvent {
    /// A drive enters a phase: its stage, the engine's phase (none while preparing or powering
    /// off), and the bytes it will process when known.
    Phase {
        /// The drive.
        drive: usize,
        /// The stage.
        stage: Stage,
        /// The engine's phase.
        phase: Option<Phase>,
        /// Its work in bytes.
        total: Option<u64>,
    },
    /// Bytes a drive has done in its current phase (cumulative).
    Progress {
        /// The drive.
        drive: usize,
        /// The bytes.
        done: u64,
    },
    /// A drive failed while written and was dropped; the others go on. Its [`Outcome`] comes
    /// when the copy is over.
    Dropped {
        /// The drive.
        drive: usize,
        /// Why.
        error: Arc<CopyError>,
    },
    /// A drive is over, whatever the end was.
    Ended {
        /// The drive.
        drive: usize,
        /// How.
        outcome: Outcome,
    },
    /// The job is over: every drive has had its [`JobEvent::Ended`].
    Finished,
}

/// How the write of a drive ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Written (and verified as asked).
    Done(Summary),
    /// Stopped by the user; `touched` says whether the drive was written to at all.
    Cancelled {
        /// Whether anything was written.
        touched: bool,
    },
    /// Failed; `touched` as above.
    Failed {
        /// Why (shared: a failure of the image fails every drive).
        error: Arc<JobError>,
        /// Whether anything was written.
        touched: bool,
    },
}

/// A finished write.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Wall time from Write to the end.
    pub elapsed: Duration,
    /// Bytes written.
    pub written: u64,
    /// Ranges in the bmap (0 without one).
    pub ranges: usize,
    /// Ranges whose checksum matched while writing.
    pub ranges_verified: usize,
    /// Whether everything was read back and compared.
    pub read_back: bool,
    /// Whether the user skipped the read-back that was asked for.
    pub skipped: bool,
    /// How the drive was made safe to remove, or why it could not be (the data is fine).
    pub removal: Result<Removal, Arc<UdisksError>>,
    /// The first-boot settings written and read back, if any were asked for.
    pub first_boot: Option<Written>,
    /// The write speed the drive sustained, in bytes per second, when enough was written to
    /// tell ([`CopyReport::write_speed`]).
    pub write_speed: Option<f64>,
    /// Ranges that did not read back the first time, were written again and then did.
    pub rewritten: usize,
    /// What the capacity probe found, when it ran.
    pub capacity: Option<Box<CapacityReport>>,
    /// What the image's filesystems (an image without a block map), read before it was
    /// written or as it was, proved free in time and so left out, per region.
    pub streamed: Option<Arc<StreamFindings>>,
}

/// First-boot settings written into a card and read back.
#[derive(Debug, Clone)]
pub struct Written {
    /// What the engine wrote: the format and files.
    pub applied: Applied,
    /// The settings asked for.
    pub settings: Arc<FirstBoot>,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// udisksd refused or failed (authorisation, busy, gone).
    #[error(transparent)]
    Udisks(#[from] UdisksError),
    /// The image location is not usable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The image cannot be opened or decoded.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The device refused.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The copy failed (read error, checksum, read-back mismatch); shared when it is the
    /// failure of the image, which fails every drive.
    #[error(transparent)]
    Copy(#[from] Arc<CopyError>),
}

impl JobError {
    /// Whether the image is what failed (it cannot be read, is damaged, or does not match
    /// its block map), so writing it again would fail again: another image is the way on.
    pub fn image_at_fault(&self) -> bool {
        match self {
            // Nor is a server that cannot be reached or is down for a while.
            JobError::Source(SourceError::Http(e)) => !e.is_transient(),
            JobError::Input(_) | JobError::Source(_) => true,
            // A download cut off is not the image's fault: writing again resumes it.
            JobError::Copy(error) => match &**error {
                CopyError::Read { image, source, .. } if super::wording::remote(image) => {
                    source.kind() == std::io::ErrorKind::InvalidData
                }
                error => matches!(
                    error,
                    CopyError::Read { .. }
                        | CopyError::Truncated { .. }
                        | CopyError::SizeMismatch { .. }
                        | CopyError::EmptyImage { .. }
                        | CopyError::Checksum { .. }
                ),
            },
            JobError::Udisks(_) | JobError::Target(_) => false,
        }
    }

    /// Whether the drive itself was refused before the image was written (a counterfeit
    /// card): writing it again or formatting it is no way on, another card is.
    pub fn card_refused(&self) -> bool {
        matches!(self, JobError::Copy(error) if matches!(**error, CopyError::Capacity { .. }))
    }
}

/// Runs the job, reporting through `send` (from this thread and from the threads that power
/// drives off); returns when it is over, after [`JobEvent::Finished`].
pub fn run(
    udisks: &Udisks,
    request: &Request,
    cancel: &CancelToken,
    send: &(dyn Fn(JobEvent) + Sync),
) {
    let job = Job {
        udisks,
        request,
        send,
        started: Instant::now(),
    };
    job.run(cancel);
    send(JobEvent::Finished);
}

/// A job under way.
struct Job<'a> {
    udisks: &'a Udisks,
    request: &'a Request,
    send: &'a (dyn Fn(JobEvent) + Sync),
    started: Instant,
}

impl Job<'_> {
    fn run(&self, cancel: &CancelToken) {
        let all: Vec<usize> = (0..self.request.drives.len()).collect();
        for &drive in &all {
            self.enter(drive, Stage::Preparing);
        }
        let mut ready = Vec::new();
        for drive in all {
            match self.udisks.prepare(&self.request.drives[drive]) {
                Ok(_) => ready.push(drive),
                Err(e) => self.fail(drive, Arc::new(e.into()), false),
            }
        }
        if ready.is_empty() {
            return;
        }
        let Opened {
            mut source, store, ..
        } = match self.open_source() {
            Ok(opened) => opened,
            Err(error) => return self.fail_all(&ready, &Arc::new(error), false),
        };
        // Without a block map, an image with random access (a raw file, an xz file of several
        // blocks, an archive member) is scanned first from its filesystems' metadata, so the
        // bytes to write are known before: only those are written. The store is dropped once
        // scanned (for xz it holds decoded blocks); the copy reads through `source`.
        let scanned = match (&self.request.bmap, self.request.everything, store) {
            (None, false, Some(store)) => Some(scan::scan(&*store)),
            _ => None,
        };
        if cancel.is_cancelled() {
            return self.cancel_all(&ready, false);
        }
        let (mut targets, mut drives) = (Vec::new(), Vec::new());
        for drive in ready {
            match self.open(drive) {
                Ok(target) => {
                    targets.push(target);
                    drives.push(drive);
                }
                Err(error) => self.fail(drive, Arc::new(error), false),
            }
        }
        if cancel.is_cancelled() {
            return self.cancel_all(&drives, false);
        }
        if !targets.is_empty() {
            self.copy(&mut *source, scanned.as_ref(), targets, &drives, cancel);
        }
    }

    /// The image, opened and checked against its block map, and its random access if it has
    /// any.
    fn open_source(&self) -> Result<Opened, JobError> {
        let opened = super::settings::opener().open(&self.request.image)?;
        copy::check_source(&*opened.source, self.request.bmap.as_deref()).map_err(Arc::new)?;
        Ok(opened)
    }

    /// Drive `drive`, opened through udisksd (polkit decides).
    fn open(&self, drive: usize) -> Result<Target, JobError> {
        let drive = &self.request.drives[drive];
        let device = self.udisks.open(drive)?;
        Ok(Target::from_block_file(
            device.file,
            &drive.device,
            device.direct,
        )?)
    }

    /// Writes every opened drive at once (`drives[i]` is target `i`'s drive), without a block
    /// map what `scanned` found used if the image was scanned first; each drive done is
    /// rescanned or powered off on a thread of its own while the others go on.
    fn copy(
        &self,
        source: &mut dyn ImageSource,
        scanned: Option<&ScanReport>,
        targets: Vec<Target>,
        drives: &[usize],
        cancel: &CancelToken,
    ) {
        let options = CopyOptions {
            verify_checksums: true,
            verify_readback: self.request.verify,
            skip_readback: Some(self.request.skip_verify.clone()),
            first_boot: self.request.first_boot.clone(),
            check_capacity: self.request.check_capacity,
            reopen: Some(Reopen::new({
                let image = self.request.image.clone();
                move || Ok(super::settings::opener().open(&image)?.source)
            })),
            ..CopyOptions::default()
        };
        let mapping = match (self.request.bmap.as_deref(), self.request.everything) {
            (Some(bmap), _) => Mapping::Bmap(bmap),
            (None, true) => Mapping::Whole,
            (None, false) => scanned.map_or(Mapping::Stream, Mapping::Scanned),
        };
        // What the scan left out, per region, for the ending's details (a stream's own account
        // comes with each drive's report).
        let left_out = scanned.map(|report| Arc::new(StreamFindings::of_scan(report)));
        let mut throttles: Vec<Throttle> = drives
            .iter()
            .map(|&drive| Throttle::new(drive, Duration::from_millis(100)))
            .collect();
        thread::scope(|scope| {
            // What concerns the image as a whole (checksums, warnings) is not shown.
            let mut sink = |event: &Event| {
                if let Event::Target { index, event } = event
                    && let (Some(throttle), Some(&drive)) =
                        (throttles.get_mut(*index), drives.get(*index))
                {
                    match event {
                        TargetEvent::Done(report) => {
                            throttle.flush(self.send);
                            let (report, left_out) = (report.clone(), left_out.clone());
                            scope.spawn(move || self.finish(drive, &report, left_out));
                        }
                        TargetEvent::Failed(error) => {
                            let error = Arc::clone(error);
                            (self.send)(JobEvent::Dropped { drive, error });
                        }
                        progress => throttle.feed(progress, Instant::now(), self.send),
                    }
                }
                ControlFlow::Continue(())
            };
            let results = copy::copy_mapped(source, mapping, targets, &options, &mut sink, cancel);
            throttles.iter_mut().for_each(|t| t.flush(self.send));
            if matches!(mapping, Mapping::Stream | Mapping::Scanned(_))
                && let Some(report) = results.iter().find_map(|r| r.as_ref().ok())
            {
                self.keep_bmap(report);
            }
            for (result, &drive) in results.into_iter().zip(drives) {
                match result {
                    // Announced as done: its own thread is finishing it.
                    Ok(_) => {}
                    Err(error) if matches!(*error, CopyError::Cancelled { .. }) => {
                        self.end(drive, Outcome::Cancelled { touched: true });
                    }
                    Err(error) => self.fail(drive, Arc::new(error.into()), true),
                }
            }
        });
    }

    /// A catalog image written without a bmap: the bmap of what was written is kept beside
    /// its cached download, so the next card of it needs no reading of its filesystems.
    fn keep_bmap(&self, report: &CopyReport) {
        let (Input::Catalog(chosen), Some(bmap)) = (&self.request.image, &report.bmap) else {
            return;
        };
        let (Some(sha256), Some(cache)) =
            (chosen.image.download_sha256, super::settings::image_cache())
        else {
            return;
        };
        if let Err(e) = cache.keep_bmap(&sha256, &bmap.to_xml()) {
            eprintln!("blockprint: could not keep the bmap beside the cached download: {e}");
        }
    }

    /// Drive `drive` is written and closed: rescan it, or power it off, and say so;
    /// `left_out` is what a scan before the copy left out.
    fn finish(&self, drive: usize, report: &CopyReport, left_out: Option<Arc<StreamFindings>>) {
        self.enter(drive, Stage::Finishing);
        let request = self.request;
        let device = &request.drives[drive];
        let removal = if request.power_off {
            self.udisks.finish(device)
        } else {
            self.udisks.rescan(device).map(|()| Removal::Nothing)
        };
        let summary = Summary {
            elapsed: self.started.elapsed(),
            written: report.mapped_bytes,
            ranges: report.ranges,
            ranges_verified: report.ranges_verified,
            read_back: report.read_back,
            skipped: request.verify && !report.read_back,
            removal: removal.map_err(Arc::new),
            first_boot: report
                .first_boot
                .clone()
                .zip(request.first_boot.clone())
                .map(|(applied, settings)| Written { applied, settings }),
            write_speed: report.write_speed(),
            rewritten: report.rewritten,
            capacity: report.capacity.clone(),
            streamed: report.streamed.clone().or(left_out),
        };
        self.end(drive, Outcome::Done(summary));
    }

    fn enter(&self, drive: usize, stage: Stage) {
        (self.send)(JobEvent::Phase {
            drive,
            stage,
            phase: None,
            total: None,
        });
    }

    fn end(&self, drive: usize, outcome: Outcome) {
        (self.send)(JobEvent::Ended { drive, outcome });
    }

    fn fail(&self, drive: usize, error: Arc<JobError>, touched: bool) {
        self.end(drive, Outcome::Failed { error, touched });
    }

    fn fail_all(&self, drives: &[usize], error: &Arc<JobError>, touched: bool) {
        for &drive in drives {
            self.fail(drive, Arc::clone(error), touched);
        }
    }

    fn cancel_all(&self, drives: &[usize], touched: bool) {
        for &drive in drives {
            self.end(drive, Outcome::Cancelled { touched });
        }
    }
}
