//! What the coordinator hands a lane: the image's chunks, shared by every lane, and the
//! orders that carry them, through a queue the coordinator can close (or abandon, when it
//! gives the lane up).

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::bmap::Digest;
use crate::target::AlignedBuf;

/// A chunk of the image, shared by every lane; its buffer goes back to the reader's pool when
/// the last lane is done with it.
pub(super) struct Chunk {
    buf: Option<AlignedBuf>,
    home: Sender<AlignedBuf>,
}

impl Chunk {
    pub(super) fn new(buf: AlignedBuf, home: Sender<AlignedBuf>) -> Self {
        Self {
            buf: Some(buf),
            home,
        }
    }
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or_default()
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            // The reader may be gone; then the buffer is simply freed.
            let _ = self.home.send(buf);
        }
    }
}

/// What the coordinator tells a lane, in image order.
pub(super) enum Order {
    /// `len` bytes of range `index` at image `offset`.
    Data {
        index: usize,
        offset: u64,
        len: usize,
        chunk: Arc<Chunk>,
    },
    /// The digest of range `index`, which has no bmap checksum, for read-back.
    Digest { index: usize, digest: Digest },
    /// Every range was sent: flush, and read back.
    Finish,
    /// The image was read to its end (at `end`) and is what the bmap says: write the header,
    /// commit.
    Commit { end: u64 },
}

/// A lane's input. Unbounded (the reader's buffer pool bounds what is in it), and the
/// coordinator can [`close`](Queue::close) it, dropping what is queued, when it gives the lane up.
#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    orders: VecDeque<Order>,
    closed: bool,
    /// The coordinator gave the lane up (its device hangs): once its thread wakes, it must not
    /// touch the device again.
    abandoned: bool,
}

impl Queue {
    pub(super) fn push(&self, order: Order) {
        let mut state = self.lock();
        if !state.closed {
            state.orders.push_back(order);
            self.ready.notify_one();
        }
    }

    /// Stops the lane at its next order; what is queued is dropped now.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.orders.clear();
        self.ready.notify_one();
    }

    /// Closes the queue of a lane given up for a hung device: when its thread wakes, it ends
    /// without touching the device again (see [`Queue::abandoned`]).
    pub(super) fn abandon(&self) {
        self.lock().abandoned = true;
        self.close();
    }

    /// Whether the lane was given up: the copy has returned, and the device is no longer its.
    pub(super) fn abandoned(&self) -> bool {
        self.lock().abandoned
    }

    /// The next order, or `None` once closed.
    pub(super) fn pop(&self) -> Option<Order> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(order) = state.orders.pop_front() {
                return Some(order);
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_queue_ends_the_lane_and_only_abandoning_says_it_was_given_up() {
        let queue = Queue::default();
        queue.push(Order::Finish);
        assert!(matches!(queue.pop(), Some(Order::Finish)));
        queue.push(Order::Finish);
        queue.close();
        assert!(queue.pop().is_none(), "what was queued is dropped");
        assert!(!queue.abandoned(), "stopped, not given up");

        let given_up = Queue::default();
        given_up.push(Order::Finish);
        given_up.abandon();
        given_up.push(Order::Finish);
        assert!(given_up.pop().is_none());
        assert!(given_up.abandoned());
    }
}
