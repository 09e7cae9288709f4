//! Noticing a target that stopped responding.
//!
//! A worn card or a hung USB reader may neither finish a write nor fail it: the thread in
//! `pwrite` or `fsync` then waits in the kernel, and no signal can wake it. Every operation a
//! target's threads start on the device is registered here; the coordinating thread, which never
//! touches the device itself, looks at the oldest one every tick and gives the target up when it
//! has run for longer than the limit. The stuck thread is left behind (it ends when the kernel
//! finally answers) holding only its own descriptor and the buffers it was writing.
//!
//! The capacity probe and the surface test of `card` register theirs here too, so that a card
//! that hangs while it is checked is given up after the same limit.
//!
//! The same register measures the card's own speed: the time during which at least one write
//! or flush was under way ([`Watch::busy`]). Time the lane spent waiting for the image (a slow
//! download, a slow decoder) is not in it, so bytes written over busy time is what the card
//! sustains, not what the pipeline did.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::target::{Op, TargetError};

/// The operations under way on one target.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    next: u64,
    ops: Vec<(u64, Started)>,
    /// Writes and flushes under way.
    writing: usize,
    /// Since when at least one has been under way.
    writing_since: Option<Instant>,
    /// Time with at least one under way, up to `writing_since`.
    busy: Duration,
}

/// Whether `op` puts data on the device (counted into [`Watch::busy`]).
fn writes(op: Op) -> bool {
    matches!(op, Op::Write | Op::Sync)
}

/// One operation: what, where, since when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    /// What it does.
    pub op: Op,
    /// The byte offset, for reads and writes.
    pub offset: Option<u64>,
    /// When it started.
    pub since: Instant,
}

impl Started {
    /// The error of a target at `path` that has not finished this operation.
    pub(crate) fn error(&self, path: PathBuf) -> TargetError {
        TargetError::Stalled {
            op: self.op,
            path,
            offset: self.offset,
            secs: self.since.elapsed().as_secs(),
        }
    }
}

/// An operation under way; it ends when this is dropped.
pub(crate) struct Watched<'a> {
    watch: &'a Watch,
    id: u64,
}

impl Watch {
    /// Registers an operation that starts now.
    pub(crate) fn begin(&self, op: Op, offset: Option<u64>) -> Watched<'_> {
        let started = Started {
            op,
            offset,
            since: Instant::now(),
        };
        let mut running = self.lock();
        let id = running.next;
        running.next += 1;
        running.ops.push((id, started));
        if writes(op) {
            if running.writing == 0 {
                running.writing_since = Some(started.since);
            }
            running.writing += 1;
        }
        Watched { watch: self, id }
    }

    /// How long at least one write or flush has been under way, in all.
    pub(crate) fn busy(&self) -> Duration {
        let running = self.lock();
        running.busy
            + running
                .writing_since
                .map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// The oldest operation, if it has been running for longer than `limit`.
    pub(crate) fn stalled(&self, limit: Duration) -> Option<Started> {
        let running = self.lock();
        let oldest = running
            .ops
            .iter()
            .map(|(_, op)| *op)
            .min_by_key(|op| op.since)?;
        (oldest.since.elapsed() > limit).then_some(oldest)
    }

    /// A poisoned lock only means a thread panicked while holding it; the list is still sound.
    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        let mut running = self.watch.lock();
        let Some(at) = running.ops.iter().position(|(id, _)| *id == self.id) else {
            return;
        };
        let (_, started) = running.ops.swap_remove(at);
        if writes(started.op) {
            running.writing = running.writing.saturating_sub(1);
            if running.writing == 0
                && let Some(since) = running.writing_since.take()
            {
                running.busy += since.elapsed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_operation_older_than_the_limit_is_a_stall() {
        let watch = Watch::default();
        assert!(watch.stalled(Duration::ZERO).is_none());
        let first = watch.begin(Op::Write, Some(4096));
        std::thread::sleep(Duration::from_millis(20));
        let _second = watch.begin(Op::Sync, None);
        assert!(watch.stalled(Duration::from_secs(5)).is_none());
        let stall = watch
            .stalled(Duration::from_millis(10))
            .expect("the write is stalled");
        assert_eq!((stall.op, stall.offset), (Op::Write, Some(4096)));
        drop(first);
        let stall = watch.stalled(Duration::ZERO).expect("the sync is running");
        assert_eq!(stall.op, Op::Sync);
    }

    #[test]
    fn busy_time_is_the_union_of_writes_and_flushes() {
        let watch = Watch::default();
        {
            let _write = watch.begin(Op::Write, Some(0));
            std::thread::sleep(Duration::from_millis(30));
            // Overlapping: counted once.
            let _sync = watch.begin(Op::Sync, None);
            std::thread::sleep(Duration::from_millis(30));
        }
        let after_writes = watch.busy();
        assert!(
            after_writes >= Duration::from_millis(60),
            "{after_writes:?}"
        );
        {
            // Reads and idle time are not the card writing.
            let _read = watch.begin(Op::Read, Some(0));
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(watch.busy(), after_writes);
    }
}
