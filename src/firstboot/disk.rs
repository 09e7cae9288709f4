//! The written card as a file the FAT code can read, write and seek: the copy's [`Target`],
//! with the image's held-back start (not on the device yet) in memory in front of it, and a
//! view of one partition on top, bounded to it.
//!
//! ```text
//!   fatfs ──► Cached (64 KiB read window, writes go through)
//!               └─► Partition (offset, length; nothing outside it)
//!                     └─► TargetDisk: [0, held) from and into the held-back buffer,
//!                                     the rest Target::read_range / Target::write_at
//! ```
//!
//! Offsets and lengths need no alignment: the target does the read-modify-write that direct
//! I/O needs. Every error names the device (or the partition) and the offset.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::target::Target;

/// The size of [`Cached`]'s read window: a FAT's entries and a directory's are read a few
/// bytes at a time, and each read would otherwise be a command to the card.
const WINDOW: u64 = 64 << 10;

/// Reads one [`Cached`] serves at most: a session with a boot partition takes a few thousand
/// (a few million to search a large FAT for free clusters), so a damaged filesystem whose
/// cluster chains go round in circles ends with an error instead of running for ever.
const READ_BUDGET: u64 = 1 << 24;

/// An I/O error whose message names `what` and `offset`.
fn error(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, message)
}

/// The new position for a seek from `pos` in something of `len` bytes; before the start is
/// an error, past the end is allowed (reads there find nothing, writes are refused).
fn seek_to(pos: u64, len: u64, to: SeekFrom, what: &dyn Fn() -> String) -> io::Result<u64> {
    let (base, delta) = match to {
        SeekFrom::Start(at) => return Ok(at),
        SeekFrom::End(delta) => (len, delta),
        SeekFrom::Current(delta) => (pos, delta),
    };
    base.checked_add_signed(delta).ok_or_else(|| {
        error(
            io::ErrorKind::InvalidInput,
            format!("a seek to before the start of {}", what()),
        )
    })
}

/// The whole written disk: the target, with `held` (the image's first bytes, written to the
/// device last) standing in for the device's start.
pub(crate) struct TargetDisk<'a> {
    target: &'a mut Target,
    held: &'a mut [u8],
    len: u64,
    pos: u64,
}

impl<'a> TargetDisk<'a> {
    /// The disk of `len` bytes on `target`, its first `held.len()` bytes being `held`.
    pub(crate) fn new(target: &'a mut Target, held: &'a mut [u8], len: u64) -> Self {
        Self {
            target,
            held,
            len,
            pos: 0,
        }
    }

    fn name(&self) -> String {
        format!("'{}'", self.target.path().display())
    }

    /// How much of `pos..pos + want` lies on the disk (0 past its end).
    fn span(&self, want: usize) -> usize {
        let room = self.len.saturating_sub(self.pos);
        usize::try_from(room).map_or(want, |room| room.min(want))
    }

    /// Bytes of `pos..pos + n` that are in `held`.
    fn held_part(&self, n: usize) -> usize {
        let held = self.held.len() as u64;
        if self.pos >= held {
            return 0;
        }
        usize::try_from(held - self.pos).map_or(n, |k| k.min(n))
    }
}

impl Read for TargetDisk<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.span(buf.len());
        let buf = &mut buf[..n];
        let in_memory = self.held_part(n);
        if in_memory > 0 {
            let at = usize::try_from(self.pos).unwrap_or(0);
            buf[..in_memory].copy_from_slice(&self.held[at..at + in_memory]);
        }
        if in_memory < n {
            let mut filled = in_memory;
            let from = self.pos + in_memory as u64;
            self.target
                .read_range(from, (n - in_memory) as u64, |piece| {
                    let end = (filled + piece.len()).min(n);
                    buf[filled..end].copy_from_slice(&piece[..end - filled]);
                    filled = end;
                })
                .map_err(io::Error::other)?;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for TargetDisk<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.span(data.len());
        if n < data.len() {
            return Err(error(
                io::ErrorKind::WriteZero,
                format!(
                    "a write of {} bytes at offset {} goes past the end of {} ({} bytes)",
                    data.len(),
                    self.pos,
                    self.name(),
                    self.len
                ),
            ));
        }
        let in_memory = self.held_part(n);
        if in_memory > 0 {
            let at = usize::try_from(self.pos).unwrap_or(0);
            self.held[at..at + in_memory].copy_from_slice(&data[..in_memory]);
        }
        if in_memory < n {
            self.target
                .write_at(self.pos + in_memory as u64, &data[in_memory..n])
                .map_err(io::Error::other)?;
        }
        self.pos += n as u64;
        Ok(n)
    }

    /// Flushes the device to stable storage (the held-back part stays in memory).
    fn flush(&mut self) -> io::Result<()> {
        self.target.sync().map_err(io::Error::other)
    }
}

impl Seek for TargetDisk<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let name = self.name();
        self.pos = seek_to(self.pos, self.len, to, &|| name.clone())?;
        Ok(self.pos)
    }
}

/// One partition of a disk: offsets from its start, nothing outside it read or written.
pub(crate) struct Partition<D> {
    disk: D,
    start: u64,
    len: u64,
    pos: u64,
    /// For messages: "partition 1 (MBR, from byte 4194304)".
    place: String,
}

impl<D> Partition<D> {
    /// The `len` bytes of `disk` from `start`, named `place` in messages.
    pub(crate) fn new(disk: D, start: u64, len: u64, place: String) -> Self {
        Self {
            disk,
            start,
            len,
            pos: 0,
            place,
        }
    }

    /// Bytes from the position to the partition's end, at most `want`.
    fn room(&self, want: usize) -> usize {
        let room = self.len.saturating_sub(self.pos);
        usize::try_from(room).map_or(want, |room| room.min(want))
    }
}

impl<D: Seek> Partition<D> {
    fn position(&mut self) -> io::Result<()> {
        let at = self.start.checked_add(self.pos).ok_or_else(|| {
            error(
                io::ErrorKind::InvalidInput,
                format!("offset {} is beyond any disk ({})", self.pos, self.place),
            )
        })?;
        self.disk.seek(SeekFrom::Start(at)).map(|_| ())
    }
}

impl<D: Read + Seek> Read for Partition<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.position()?;
        self.disk.read_exact(&mut buf[..n]).map_err(|e| {
            error(
                e.kind(),
                format!(
                    "cannot read {n} bytes at offset {} of {}: {e}",
                    self.pos, self.place
                ),
            )
        })?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: Write + Seek> Write for Partition<D> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.room(data.len()) < data.len() {
            return Err(error(
                io::ErrorKind::WriteZero,
                format!(
                    "a write of {} bytes at offset {} goes past the end of {} ({} bytes)",
                    data.len(),
                    self.pos,
                    self.place,
                    self.len
                ),
            ));
        }
        self.position()?;
        self.disk.write_all(data).map_err(|e| {
            error(
                e.kind(),
                format!(
                    "cannot write {} bytes at offset {} of {}: {e}",
                    data.len(),
                    self.pos,
                    self.place
                ),
            )
        })?;
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.disk.flush()
    }
}

impl<D> Seek for Partition<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let place = self.place.clone();
        self.pos = seek_to(self.pos, self.len, to, &|| place.clone())?;
        Ok(self.pos)
    }
}

/// A read window over `inner`, so the many small reads of a FAT cost one read of the device
/// each 64 KiB; writes go straight through (and update the window), so nothing waits in
/// memory. A new `Cached` reads the device anew.
pub(crate) struct Cached<D> {
    inner: D,
    len: u64,
    pos: u64,
    /// The window: its offset and bytes.
    window: Option<(u64, Vec<u8>)>,
    /// Reads served so far, up to [`READ_BUDGET`].
    reads: u64,
}

impl<D: Seek> Cached<D> {
    /// A window over `inner`, whose length its end tells.
    pub(crate) fn new(mut inner: D) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(Self {
            inner,
            len,
            pos: 0,
            window: None,
            reads: 0,
        })
    }
}

impl<D: Read + Seek> Cached<D> {
    /// Loads the window holding the position.
    fn load(&mut self) -> io::Result<()> {
        let start = self.pos / WINDOW * WINDOW;
        let n = usize::try_from(WINDOW.min(self.len.saturating_sub(start))).unwrap_or(0);
        let mut bytes = vec![0; n];
        self.inner.seek(SeekFrom::Start(start))?;
        let result = self.inner.read_exact(&mut bytes);
        // A failed read leaves no window behind.
        self.window = None;
        result?;
        self.window = Some((start, bytes));
        Ok(())
    }
}

impl<D: Read + Seek> Read for Cached<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        self.reads += 1;
        if self.reads > READ_BUDGET {
            return Err(error(
                io::ErrorKind::InvalidData,
                format!(
                    "the filesystem was read {READ_BUDGET} times without an end: its \
                     directories or cluster chains go round in circles (a damaged filesystem)"
                ),
            ));
        }
        let inside = |window: &Option<(u64, Vec<u8>)>, pos: u64| {
            window
                .as_ref()
                .is_some_and(|(start, bytes)| pos >= *start && pos < start + bytes.len() as u64)
        };
        if !inside(&self.window, self.pos) {
            self.load()?;
        }
        let Some((start, bytes)) = &self.window else {
            return Ok(0);
        };
        let at = usize::try_from(self.pos - start).unwrap_or(0);
        let n = buf.len().min(bytes.len().saturating_sub(at));
        buf[..n].copy_from_slice(&bytes[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: Write + Seek> Write for Cached<D> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.seek(SeekFrom::Start(self.pos))?;
        if let Err(e) = self.inner.write_all(data) {
            // What reached the device is unknown now.
            self.window = None;
            return Err(e);
        }
        if let Some((start, bytes)) = &mut self.window {
            let end = *start + bytes.len() as u64;
            let data_end = self.pos + data.len() as u64;
            if self.pos < end && data_end > *start {
                let from = self.pos.max(*start);
                let to = data_end.min(end);
                let (w, d) = (
                    usize::try_from(from - *start).unwrap_or(0),
                    usize::try_from(from - self.pos).unwrap_or(0),
                );
                let n = usize::try_from(to - from).unwrap_or(0);
                bytes[w..w + n].copy_from_slice(&data[d..d + n]);
            }
        }
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<D> Seek for Cached<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_to(self.pos, self.len, to, &|| "the boot partition".to_owned())?;
        Ok(self.pos)
    }
}

/// A disk opened for reading only: every write is refused, so looking at an image can never
/// change it.
pub(crate) struct ReadOnly<R>(pub(crate) R);

impl<R: Read> Read for ReadOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R> Write for ReadOnly<R> {
    fn write(&mut self, _data: &[u8]) -> io::Result<usize> {
        Err(error(
            io::ErrorKind::PermissionDenied,
            "the image is only being looked at, not written".to_owned(),
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<R: Seek> Seek for ReadOnly<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.0.seek(to)
    }
}

#[cfg(test)]
mod tests;
