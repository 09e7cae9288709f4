//! Sizing a target for an image: a block device large enough, a file set to the image's
//! size (grown later for a stream whose size only its end tells), space reserved ahead.

use std::os::fd::AsRawFd;

use super::{Op, Target, TargetError, TargetKind, io_error};

impl Target {
    /// Makes the target ready for an image of `image_size` bytes (unknown for a stream that is
    /// only measured at its end): a block device must be large enough; a file is emptied and
    /// set to that size (all holes).
    pub fn prepare(&mut self, image_size: Option<u64>) -> Result<(), TargetError> {
        match self.kind {
            TargetKind::BlockDevice => {
                let capacity = self.capacity.unwrap_or(0);
                if let Some(image_size) = image_size.filter(|&size| capacity < size) {
                    return Err(TargetError::TooSmall {
                        path: self.path.clone(),
                        capacity,
                        needed: image_size,
                    });
                }
            }
            TargetKind::File => {
                // Emptying first drops old data (and XFS preallocation) before sizing.
                self.file
                    .set_len(0)
                    .and_then(|()| self.file.set_len(image_size.unwrap_or(0)))
                    .map_err(|e| io_error(Op::Resize, &self.path, None, e))?;
                self.capacity = image_size;
            }
            TargetKind::Null => {}
        }
        Ok(())
    }

    /// The image turned out to end at `end` (a stream of unknown size): a block device must
    /// hold it, a file grows to it (its free tail, never written, becomes a hole).
    pub fn extend_to(&mut self, end: u64) -> Result<(), TargetError> {
        match self.kind {
            TargetKind::BlockDevice => {
                let capacity = self.capacity.unwrap_or(0);
                if end > capacity {
                    return Err(TargetError::TooSmall {
                        path: self.path.clone(),
                        capacity,
                        needed: end,
                    });
                }
            }
            TargetKind::File => {
                let len = self
                    .file
                    .metadata()
                    .map_err(|e| io_error(Op::Resize, &self.path, None, e))?
                    .len();
                if len < end {
                    self.file
                        .set_len(end)
                        .map_err(|e| io_error(Op::Resize, &self.path, None, e))?;
                }
            }
            TargetKind::Null => {}
        }
        Ok(())
    }

    /// Reserves the space of these byte spans of a regular file before they are written, as
    /// unwritten extents (they read as zeros). ext4 and XFS serialise direct writes that must
    /// allocate, but let writes into reserved space run at once, so the writer threads keep the
    /// disk busy; the file is less fragmented too. A hint only: where the filesystem cannot (or
    /// has no room), the writes allocate as they go and report what fails.
    pub(crate) fn reserve(&self, spans: &[(u64, u64)]) {
        if self.kind != TargetKind::File {
            return;
        }
        for &(start, end) in spans {
            let (Ok(offset), Ok(len)) = (
                libc::off_t::try_from(start),
                libc::off_t::try_from(end.saturating_sub(start)),
            ) else {
                return;
            };
            // SAFETY: a plain syscall on an open descriptor; no memory of ours is involved.
            let rc = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_KEEP_SIZE,
                    offset,
                    len,
                )
            };
            if rc != 0 {
                return;
            }
        }
    }
}
