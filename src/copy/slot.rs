//! A lane as the coordinator sees it: its queue, its watch, its thread, and how it ended.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::lane::{Finished, Lane, Order, Queue, Report};
use super::watch::Watch;
use super::{CopyError, CopyOptions, Plan};
use crate::progress::CancelToken;
use crate::target::{Target, TargetError};

/// One target of the copy.
pub(super) struct Slot {
    /// The target's path, for messages.
    pub path: String,
    queue: Arc<Queue>,
    watch: Arc<Watch>,
    handle: Option<JoinHandle<()>>,
    /// How the lane ended, with the time it took; `None` while it runs.
    pub ended: Option<(Result<Finished, CopyError>, Duration)>,
}

impl Slot {
    /// Starts a lane for `target` (already prepared) on a thread of its own, which owns it;
    /// its reports go to `report`.
    pub(super) fn start(
        plan: &Arc<Plan>,
        image: &str,
        target: Target,
        options: &CopyOptions,
        cancel: &CancelToken,
        report: Box<dyn Fn(Report) + Send>,
    ) -> Result<Self, CopyError> {
        let path = target.path().display().to_string();
        let lane = Lane::new(
            Arc::clone(plan),
            image.to_owned(),
            target,
            options,
            cancel.clone(),
            report,
        );
        let watch = Arc::clone(&lane.watch);
        let queue = Arc::new(Queue::default());
        let lane_queue = Arc::clone(&queue);
        let handle = thread::Builder::new()
            .spawn(move || lane.run(&lane_queue))
            .map_err(|_| CopyError::ThreadFailed {
                thread: "a target's thread",
            })?;
        Ok(Self {
            path,
            queue,
            watch,
            handle: Some(handle),
            ended: None,
        })
    }

    /// Whether the lane still runs (and takes orders).
    pub(super) fn live(&self) -> bool {
        self.ended.is_none()
    }

    /// Gives the lane an order, if it still runs.
    pub(super) fn push(&self, order: Order) {
        if self.live() {
            self.queue.push(order);
        }
    }

    /// Tells the lane to stop at its next order (it reports its end).
    pub(super) fn stop(&self) {
        self.queue.close();
    }

    /// The lane reported its end: its thread is returning, and is joined.
    pub(super) fn end(&mut self, result: Result<Finished, CopyError>, elapsed: Duration) {
        self.queue.close();
        let joined = self.handle.take().map_or(Ok(()), JoinHandle::join);
        let result = match joined {
            Ok(()) => result,
            Err(_) => Err(CopyError::ThreadFailed {
                thread: "a target's thread",
            }),
        };
        self.ended = Some((result, elapsed));
    }

    /// The lane's device has had an operation running for longer than `limit`: the lane is
    /// given up (what it has queued is dropped, its thread is left to the kernel) and the
    /// error returned for the caller's report.
    pub(super) fn give_up_if_stalled(&mut self, limit: Duration, elapsed: Duration) -> bool {
        let Some(stall) = self.live().then(|| self.watch.stalled(limit)).flatten() else {
            return false;
        };
        self.queue.close();
        // Dropping the handle detaches the thread.
        self.handle = None;
        let error = CopyError::Target(TargetError::Stalled {
            op: stall.op,
            path: self.path.clone().into(),
            offset: stall.offset,
            secs: stall.since.elapsed().as_secs(),
        });
        self.ended = Some((Err(error), elapsed));
        true
    }
}
