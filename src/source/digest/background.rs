//! SHA-256 on a thread of its own: the bytes a reader passes are batched (1 MiB) and handed
//! over a bounded channel (four batches), so hashing runs beside the download, the decoder and
//! the writes instead of after each read, and memory stays bounded whatever the image size.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Bytes gathered before they go to the thread.
const BATCH: usize = 1 << 20;

/// Batches on their way to the thread at most.
const QUEUED: usize = 4;

/// The way to the hashing thread, and the thread, which returns the SHA-256.
type Worker = (SyncSender<Vec<u8>>, JoinHandle<[u8; 32]>);

/// A SHA-256 computed on a thread (or here, if no thread can be started).
pub(super) struct Background {
    batch: Vec<u8>,
    worker: Option<Worker>,
    here: Option<Sha256>,
}

impl Background {
    pub(super) fn new() -> Self {
        let (send, receive) = sync_channel::<Vec<u8>>(QUEUED);
        let thread = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut hash = Sha256::new();
                for batch in receive {
                    hash.update(&batch);
                }
                hash.finalize().into()
            });
        match thread {
            Ok(thread) => Self {
                batch: Vec::with_capacity(BATCH),
                worker: Some((send, thread)),
                here: None,
            },
            Err(_) => Self {
                batch: Vec::new(),
                worker: None,
                here: Some(Sha256::new()),
            },
        }
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        if let Some(hash) = &mut self.here {
            hash.update(data);
            return;
        }
        self.batch.extend_from_slice(data);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let gone = match &self.worker {
            Some((send, _)) => send.send(full).is_err(),
            None => false,
        };
        if gone {
            // The thread ended early (it cannot but by a panic): the rest is not hashed, and
            // `finish` says so.
            self.worker = None;
        }
    }

    /// The SHA-256 of everything given, or `None` if its thread failed.
    pub(super) fn finish(&mut self) -> Option<[u8; 32]> {
        if let Some(hash) = self.here.take() {
            return Some(hash.finalize().into());
        }
        self.send();
        let (send, thread) = self.worker.take()?;
        drop(send);
        thread.join().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_hashes_what_it_is_given_in_order() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut hash = Background::new();
        for piece in data.chunks(70_001) {
            hash.update(piece);
        }
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(hash.finish(), Some(want));
        assert_eq!(Background::new().finish(), Some(Sha256::digest(b"").into()));
    }
}
