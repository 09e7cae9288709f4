//! A bounded pool of writer threads, so several plain writes are in flight at once.
//!
//! One direct write at a time leaves a drive idle between requests; an image with thousands of
//! small ranges then runs at the speed of request latency, not of the drive. Ranges never
//! overlap, so their writes may complete in any order; everything is joined before the sync
//! that ends the writing phase. Read-modify-writes of partial sectors stay on the
//! thread of the target's lane: a plain write never touches a sector that one of them touches.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use super::lane::Chunk;
use super::watch::Watch;
use crate::progress::CancelToken;
use crate::target::{Op, SharedWriter, TargetError};

/// Writer threads: enough to keep a USB or SD controller's queue busy, few enough that
/// the buffers in flight stay small.
pub(super) const WRITERS: usize = 4;

/// A write handed to the pool: `chunk[from..to]` goes to `offset`.
pub(super) struct Job {
    pub offset: u64,
    pub chunk: Arc<Chunk>,
    pub from: usize,
    pub to: usize,
}

/// What the pool reports back: bytes written, and the first failure.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    written: AtomicU64,
    failed: AtomicBool,
    failure: Mutex<Option<TargetError>>,
}

impl Outcome {
    /// Bytes written so far.
    pub(super) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Counts bytes written outside the pool (on the calling thread).
    pub(super) fn add_written(&self, bytes: u64) {
        self.written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The first failure, once.
    pub(super) fn take_failure(&self) -> Option<TargetError> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    fn fail(&self, error: TargetError) {
        if let Ok(mut failure) = self.failure.lock()
            && failure.is_none()
            && !self.failed.load(Ordering::Acquire)
        {
            *failure = Some(error);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// One writer thread: takes jobs until the sender is dropped and writes them (each watched)
/// unless the copy failed or was cancelled. Dropping a job gives its chunk back.
pub(super) fn worker(
    jobs: &Mutex<Receiver<Job>>,
    writer: &SharedWriter,
    outcome: &Outcome,
    watch: &Watch,
    cancel: &CancelToken,
) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if !cancel.is_cancelled() && !outcome.failed.load(Ordering::Acquire) {
            let _op = watch.begin(Op::Write, Some(job.offset));
            match writer.write_at(job.offset, &job.chunk[job.from..job.to]) {
                Ok(()) => outcome.add_written((job.to - job.from) as u64),
                Err(e) => outcome.fail(e),
            }
        }
    }
}
