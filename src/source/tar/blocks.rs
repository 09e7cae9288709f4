//! The two ways through an archive's blocks: at offsets, jumping over member data (a file or a
//! Range-capable server), or in order, reading and discarding it (a stream). The header walk
//! is the same for both.

use std::io::{self, Read};

use super::{BLOCK, RandomAccess, read_vec};
use crate::source::read_full;

/// The blocks of an archive, read at offsets or in order.
pub(super) trait Blocks {
    /// Offset of the next byte.
    fn position(&self) -> u64;
    /// The next header block; `None` where the archive ends at a block boundary.
    fn block(&mut self) -> io::Result<Option<[u8; BLOCK]>>;
    /// The next `len` bytes (at most `MAX_EXTENSION`), and their padding.
    fn data(&mut self, len: u64) -> io::Result<Vec<u8>>;
    /// Passes over `len` bytes and their padding.
    fn skip(&mut self, len: u64) -> io::Result<()>;
}

pub(super) fn too_long() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "member data runs past the end",
    )
}

/// `len` rounded up to whole blocks.
pub(super) fn padded(len: u64) -> io::Result<u64> {
    len.checked_next_multiple_of(BLOCK as u64)
        .ok_or_else(too_long)
}

/// An archive read at offsets.
pub(super) struct Positional<'a> {
    pub(super) store: &'a dyn RandomAccess,
    pub(super) at: u64,
}

impl Blocks for Positional<'_> {
    fn position(&self) -> u64 {
        self.at
    }

    fn block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        if self.at >= self.store.len() {
            return Ok(None);
        }
        let mut block = [0; BLOCK];
        self.store.read_exact_at(self.at, &mut block)?;
        self.at += BLOCK as u64;
        Ok(Some(block))
    }

    fn data(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let data = read_vec(
            self.store,
            self.at,
            usize::try_from(len).map_err(|_| too_long())?,
        )?;
        self.skip(len)?;
        Ok(data)
    }

    fn skip(&mut self, len: u64) -> io::Result<()> {
        // The data must be there; the padding of the last member may be missing.
        match self.at.checked_add(len) {
            Some(end) if end <= self.store.len() => {}
            _ => return Err(too_long()),
        }
        self.at += padded(len)?;
        Ok(())
    }
}

/// An archive read in order.
pub(super) struct Sequential {
    pub(super) reader: Box<dyn Read + Send>,
    pub(super) at: u64,
}

impl Sequential {
    /// Discards `len` bytes; returns how many there were.
    fn discard(&mut self, len: u64) -> io::Result<u64> {
        let n = io::copy(&mut (&mut self.reader).take(len), &mut io::sink())?;
        self.at += n;
        Ok(n)
    }

    /// Discards the padding after `len` bytes of data; a missing padding at the end is fine.
    pub(super) fn unpad(&mut self, len: u64) -> io::Result<()> {
        self.discard(padded(len)? - len).map(|_| ())
    }
}

impl Blocks for Sequential {
    fn position(&self) -> u64 {
        self.at
    }

    fn block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut block = [0; BLOCK];
        let got = read_full(&mut self.reader, &mut block)?;
        self.at += got as u64;
        match got {
            0 => Ok(None),
            BLOCK => Ok(Some(block)),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "partial block",
            )),
        }
    }

    fn data(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        (&mut self.reader).take(len).read_to_end(&mut data)?;
        self.at += data.len() as u64;
        if (data.len() as u64) < len {
            return Err(too_long());
        }
        self.unpad(len)?;
        Ok(data)
    }

    fn skip(&mut self, len: u64) -> io::Result<()> {
        if self.discard(len)? < len {
            return Err(too_long());
        }
        self.unpad(len)
    }
}
