//! A sparse disk (see sparse.rs) as a `Read + Write + Seek` device, for the targets that
//! read or edit a card through a partition table and its filesystems.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use blockprint::source::RandomAccess;

use super::sparse::Sparse;

/// The sparse disk, writable: what is written lands in a map of 512-byte sectors over it.
pub struct Disk {
    image: Sparse,
    written: HashMap<u64, [u8; 512]>,
    at: u64,
}

impl Disk {
    /// `image`, nothing written yet.
    pub fn new(image: Sparse) -> Self {
        Self { image, written: HashMap::new(), at: 0 }
    }

    fn sector(&self, n: u64) -> io::Result<[u8; 512]> {
        if let Some(s) = self.written.get(&n) {
            return Ok(*s);
        }
        let mut s = [0; 512];
        let start = n * 512;
        let len = (self.image.len.saturating_sub(start)).min(512) as usize;
        self.image.read_exact_at(start, &mut s[..len])?;
        Ok(s)
    }
}

impl Read for Disk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.image.len.saturating_sub(self.at);
        let n = buf.len().min(512 - (self.at % 512) as usize).min(left as usize);
        if n == 0 {
            return Ok(0);
        }
        let sector = self.sector(self.at / 512)?;
        let from = (self.at % 512) as usize;
        buf[..n].copy_from_slice(&sector[from..from + n]);
        self.at += n as u64;
        Ok(n)
    }
}

impl Write for Disk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.image.len.saturating_sub(self.at);
        let n = buf.len().min(512 - (self.at % 512) as usize).min(left as usize);
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "past the end of the disk"));
        }
        let mut sector = self.sector(self.at / 512)?;
        let from = (self.at % 512) as usize;
        sector[from..from + n].copy_from_slice(&buf[..n]);
        self.written.insert(self.at / 512, sector);
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Disk {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let at = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.image.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.at.checked_add_signed(d),
        };
        self.at = at.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad seek"))?;
        Ok(self.at)
    }
}

