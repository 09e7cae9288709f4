//! The first-boot code's read-only look at a root filesystem, on arbitrary sparse disks (see
//! sparse.rs): the partition table, the choice of the root partition, and its ext2/3/4
//! reader following the paths detection asks for (superblock, group descriptors, inodes,
//! extent trees, indirect blocks, directories, inline data, symlinks). Any answer is fine; a
//! panic, a hang or a huge allocation is a bug.
#![no_main]

#[path = "sparse.rs"]
mod sparse;

use std::io::{self, Read, Seek, SeekFrom};

use blockprint::firstboot::root_facts;
use blockprint::source::RandomAccess;
use sparse::Sparse;

/// The sparse image as a `Read + Seek` disk.
struct Disk {
    image: Sparse,
    at: u64,
}

impl Read for Disk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.image.len.saturating_sub(self.at) as usize);
        self.image.read_exact_at(self.at, &mut buf[..n])?;
        self.at += n as u64;
        Ok(n)
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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(image) = Sparse::parse(data) else {
        return;
    };
    if let Some(facts) = root_facts(&mut Disk { image, at: 0 }) {
        assert!(facts.place.starts_with("partition ") || facts.place.starts_with("the whole disk"));
    }
});
