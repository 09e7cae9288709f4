//! Leaving a genuine drive as it was: every place the probe writes is read first and kept,
//! and once the drive is found genuine, put back, last written first. The probe then costs
//! a genuine card nothing (what the image does not cover keeps the card's old bytes, as
//! bmaptool leaves them, and `check-card` erases nothing); a counterfeit's data is already
//! lost to its own address wrap, and is not put back.
//!
//! Only what fits [`KEEP_LIMIT`] is kept: a probe that writes more (it writes ~16 MiB on a
//! genuine drive) gives up keeping, and then puts nothing back.

use super::probe::{Fault, Medium};
use crate::target::AlignedBuf;

/// Bytes kept at most; more than a genuine drive's probe writes.
pub(crate) const KEEP_LIMIT: u64 = 40 << 20;

/// A medium whose overwritten bytes are kept, to be put back.
pub(crate) struct Keeping<'m> {
    medium: &'m mut dyn Medium,
    /// What each write overwrote, in the order written; `None` once over the limit (or a
    /// place could not be read first).
    kept: Option<Vec<(u64, AlignedBuf)>>,
    bytes: u64,
}

impl<'m> Keeping<'m> {
    pub(crate) fn new(medium: &'m mut dyn Medium) -> Self {
        Self {
            medium,
            kept: Some(Vec::new()),
            bytes: 0,
        }
    }

    /// Puts back everything overwritten, last written first, and flushes; whether all was
    /// kept and put back.
    pub(crate) fn restore(mut self) -> Result<bool, Fault> {
        let Some(kept) = self.kept.take() else {
            return Ok(false);
        };
        for (offset, old) in kept.iter().rev() {
            self.medium.write(*offset, old)?;
        }
        self.medium.flush()?;
        Ok(true)
    }

    /// Reads what `len` bytes at `offset` hold now and keeps it, unless over the limit.
    fn keep(&mut self, offset: u64, len: usize) {
        let Some(kept) = self.kept.as_mut() else {
            return;
        };
        self.bytes += len as u64;
        if self.bytes > KEEP_LIMIT {
            self.kept = None;
            return;
        }
        let mut old = AlignedBuf::new(len);
        match self.medium.read(offset, &mut old) {
            Ok(()) => kept.push((offset, old)),
            // What cannot be read cannot be put back: nothing is.
            Err(_) => self.kept = None,
        }
    }
}

impl Medium for Keeping<'_> {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Fault> {
        self.keep(offset, data.len());
        self.medium.write(offset, data)
    }

    fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), Fault> {
        self.medium.read(offset, out)
    }

    fn flush(&mut self) -> Result<(), Fault> {
        self.medium.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A drive in memory.
    struct Memory(Vec<u8>);

    impl Medium for Memory {
        fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Fault> {
            let at = offset as usize;
            self.0[at..at + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), Fault> {
            let at = offset as usize;
            out.copy_from_slice(&self.0[at..at + out.len()]);
            Ok(())
        }
        fn flush(&mut self) -> Result<(), Fault> {
            Ok(())
        }
    }

    #[test]
    fn what_was_overwritten_comes_back_even_where_writes_overlap() {
        let before: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut memory = Memory(before.clone());
        let mut keeping = Keeping::new(&mut memory);
        keeping.write(4096, &[1; 8192]).unwrap();
        // The same place again (a later pass), and one overlapping it.
        keeping.write(4096, &[2; 4096]).unwrap();
        keeping.write(8192, &[3; 8192]).unwrap();
        assert!(keeping.restore().unwrap());
        assert!(memory.0 == before, "the drive is not as it was");
    }

    #[test]
    fn over_the_limit_nothing_is_put_back() {
        let mut memory = Memory(vec![9; (KEEP_LIMIT + (1 << 20)) as usize]);
        let mut keeping = Keeping::new(&mut memory);
        keeping.write(0, &vec![0; 1 << 20]).unwrap();
        keeping
            .write(1 << 20, &vec![0; KEEP_LIMIT as usize])
            .unwrap();
        assert!(!keeping.restore().unwrap());
        assert_eq!(memory.0[0], 0, "what the probe wrote stays");
    }
}
