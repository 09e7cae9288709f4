//! The same open target on duplicate descriptors: a whole target for a copy that takes it
//! while the caller keeps this one ([`crate::copy::copy`]), and plain writers for a lane's
//! writer pool.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{Op, Target, TargetError, io_error};

impl Target {
    /// A duplicate of the open descriptor.
    fn duplicate_file(&self) -> Result<File, TargetError> {
        self.file
            .try_clone()
            .map_err(|e| io_error(Op::Open, &self.path, None, e))
    }

    /// The same target, on a duplicate descriptor, for a copy that takes its targets while the
    /// caller keeps this one. A pending [`Target::commit`] moves with it.
    pub(crate) fn hand_over(&mut self) -> Result<Target, TargetError> {
        Ok(Target {
            file: self.duplicate_file()?,
            path: self.path.clone(),
            kind: self.kind,
            capacity: self.capacity,
            sector: self.sector,
            direct: self.direct,
            unsynced: self.unsynced,
            scratch: None,
            pending: self.pending.take(),
        })
    }

    /// A handle writing to the same open file from another thread. Plain writes to disjoint
    /// regions may run concurrently: that keeps several direct writes in flight.
    pub(crate) fn shared_writer(&self) -> Result<SharedWriter, TargetError> {
        Ok(SharedWriter {
            file: self.duplicate_file()?,
            path: self.path.clone(),
        })
    }
}

/// Writes plain (aligned) data to a [`Target`] from another thread; see
/// [`Target::shared_writer`].
#[derive(Debug)]
pub(crate) struct SharedWriter {
    file: File,
    path: PathBuf,
}

impl SharedWriter {
    /// Writes all of `data` at `offset`; the caller checked [`Target::is_plain_write`].
    pub(crate) fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), TargetError> {
        self.file
            .write_all_at(data, offset)
            .map_err(|e| io_error(Op::Write, &self.path, Some(offset), e))
    }
}
