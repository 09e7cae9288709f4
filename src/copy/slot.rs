//! A lane as the coordinator sees it: its queue, its watch, its thread, and its target's result.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::lane::{Lane, Order, Queue, Report};
use super::watch::Watch;
use super::{CopyError, CopyOptions, CopyReport, Plan};
use crate::firstboot::FirstBoot;
use crate::progress::CancelToken;
use crate::target::Target;

/// One target of the copy.
pub(super) struct Slot {
    /// The target's path, for messages.
    pub path: String,
    queue: Arc<Queue>,
    watch: Arc<Watch>,
    /// The lane's thread, until it ends or is given up.
    handle: Option<JoinHandle<()>>,
    /// What became of the target, once known.
    pub result: Option<Result<CopyReport, Arc<CopyError>>>,
}

impl Slot {
    /// Starts a lane for `target` (already prepared) on a thread of its own, which owns it;
    /// its reports go to `report`.
    pub(super) fn start(
        plan: &Arc<Plan>,
        image: &str,
        target: Target,
        options: &CopyOptions,
        first_boot: Option<Arc<FirstBoot>>,
        cancel: &CancelToken,
        report: Box<dyn Fn(Report) + Send>,
    ) -> Result<Self, CopyError> {
        let path = target.path().display().to_string();
        let lane = Lane::new(
            Arc::clone(plan),
            image.to_owned(),
            target,
            options,
            first_boot,
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
            result: None,
        })
    }

    /// Whether the lane still runs (and takes orders).
    pub(super) fn live(&self) -> bool {
        self.handle.is_some()
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
    pub(super) fn join(&mut self) -> Result<(), CopyError> {
        self.queue.close();
        let joined = self.handle.take().map_or(Ok(()), JoinHandle::join);
        joined.map_err(|_| CopyError::ThreadFailed {
            thread: "a target's thread",
        })
    }

    /// The lane's device has had an operation running for longer than `limit`: the lane is
    /// given up (what it has queued is dropped, its thread is left to the kernel) and the
    /// error returned for the target's result.
    pub(super) fn give_up_if_stalled(&mut self, limit: Duration) -> Option<CopyError> {
        let stall = self.live().then(|| self.watch.stalled(limit)).flatten()?;
        self.queue.abandon();
        // Dropping the handle detaches the thread.
        self.handle = None;
        Some(CopyError::Target(stall.error(self.path.clone().into())))
    }
}
