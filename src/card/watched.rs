//! The probe and the surface test, watched for a drive that hangs.
//!
//! A card or USB reader may neither finish a write nor fail it: the thread in `pwrite` or
//! `fsync` then waits in the kernel for minutes, or for ever, and no signal wakes it. So the
//! test runs on a thread of its own, which owns the [`Drive`] (a duplicate of the target's
//! descriptor) and registers each of its operations in a [`Watch`], the copy's register. The
//! calling thread only forwards the test's progress, and looks at the oldest operation every
//! [`TICK`]: once one has run for longer than the limit, it gives the drive up and returns
//! [`ProbeError::Stalled`] at once.
//!
//! The stuck thread is left behind. It holds only its own descriptor and buffers, and when the
//! kernel finally answers, every further operation it starts is refused (see
//! [`Leash::begin`]), so nothing more reaches the drive once the test has returned: not even
//! the zeroing of its ends that ends a test on failure. Its result goes nowhere.

use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use super::{Drive, ProbeError};
use crate::copy::watch::{Started, Watch, Watched};
use crate::target::Op;

/// How often the calling thread looks at the drive's operations when nothing arrives.
const TICK: Duration = Duration::from_millis(100);

/// What the calling thread and the drive's thread share: the operations under way, and
/// whether the drive was given up.
#[derive(Debug, Default)]
pub(crate) struct Leash {
    watch: Watch,
    given_up: Mutex<bool>,
}

impl Leash {
    /// Registers an operation that starts now; `None` once the drive was given up. Deciding
    /// under the same lock as [`Leash::give_up_if_stalled`] means that, once that gave up,
    /// the drive's thread (which runs one operation at a time) is inside the stalled
    /// operation and starts no other.
    pub(crate) fn begin(&self, op: Op, offset: Option<u64>) -> Option<Watched<'_>> {
        let given_up = self.lock();
        (!*given_up).then(|| self.watch.begin(op, offset))
    }

    /// Gives the drive up if an operation has run for longer than `limit`: that one.
    fn give_up_if_stalled(&self, limit: Duration) -> Option<Started> {
        let mut given_up = self.lock();
        let stall = self.watch.stalled(limit)?;
        *given_up = true;
        Some(stall)
    }

    /// A poisoned lock only means a thread panicked while holding it; the flag is still sound.
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.given_up.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the drive's thread tells the calling thread.
enum Msg<P, T> {
    /// Progress, to be forwarded.
    Progress(P),
    /// The test ended; nothing follows.
    Ended(Result<T, ProbeError>),
}

/// Runs `work` on `drive` on a thread of its own. Its progress (what it passes to the
/// function it is given) reaches `forward` on this thread. Returns its result, or
/// [`ProbeError::Stalled`] as soon as one of its operations has not finished after
/// `stall_limit` (`None`: waits for ever).
pub(super) fn run<P, T>(
    drive: Drive,
    stall_limit: Option<Duration>,
    forward: &mut dyn FnMut(P),
    work: impl FnOnce(&mut Drive, &dyn Fn(P)) -> Result<T, ProbeError> + Send + 'static,
) -> Result<T, ProbeError>
where
    P: Send + 'static,
    T: Send + 'static,
{
    let device = drive.device.clone();
    let leash = Arc::clone(&drive.leash);
    let (tx, rx) = channel::<Msg<P, T>>();
    let handle = thread::Builder::new()
        .name("card check".into())
        .spawn(move || on_thread(drive, &tx, work))
        .map_err(|_| ProbeError::ThreadFailed {
            device: device.clone(),
        })?;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Msg::Progress(progress)) => forward(progress),
            Ok(Msg::Ended(result)) => {
                // It returns right after sending; a panic past that changes nothing.
                let _ = handle.join();
                return result;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(ProbeError::ThreadFailed { device });
            }
        }
        if let Some(stall) = stall_limit.and_then(|limit| leash.give_up_if_stalled(limit)) {
            // Dropping the handle detaches the thread: it ends when the kernel answers.
            drop(handle);
            return Err(ProbeError::Stalled {
                device,
                op: stall.op,
                offset: stall.offset,
                secs: stall.since.elapsed().as_secs(),
            });
        }
    }
}

/// The drive's thread: runs `work` and sends its progress and its end. Once the calling
/// thread has gone, nobody listens: what is sent is dropped.
fn on_thread<P, T>(
    mut drive: Drive,
    tx: &Sender<Msg<P, T>>,
    work: impl FnOnce(&mut Drive, &dyn Fn(P)) -> Result<T, ProbeError>,
) {
    let report = |progress| {
        let _ = tx.send(Msg::Progress(progress));
    };
    let result = work(&mut drive, &report);
    // The drive's descriptor is closed before the end is told.
    drop(drive);
    let _ = tx.send(Msg::Ended(result));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_given_up_no_operation_starts() {
        let leash = Leash::default();
        assert!(leash.give_up_if_stalled(Duration::ZERO).is_none());
        let write = leash.begin(Op::Write, Some(8192)).expect("not given up");
        std::thread::sleep(Duration::from_millis(20));
        assert!(leash.give_up_if_stalled(Duration::from_secs(60)).is_none());
        assert!(leash.begin(Op::Read, Some(0)).is_some(), "not given up yet");
        let stall = leash
            .give_up_if_stalled(Duration::from_millis(10))
            .expect("the write is stalled");
        assert_eq!((stall.op, stall.offset), (Op::Write, Some(8192)));
        drop(write);
        assert!(leash.begin(Op::Sync, None).is_none(), "given up");
    }
}
