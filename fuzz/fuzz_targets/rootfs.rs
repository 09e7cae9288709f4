//! The first-boot code's read-only look at a root filesystem, on arbitrary sparse disks (see
//! sparse.rs): the partition table, the choice of the root partition, and its ext2/3/4
//! reader following the paths detection asks for (superblock, group descriptors, inodes,
//! extent trees, indirect blocks, directories, inline data, symlinks). Any answer is fine; a
//! panic, a hang or a huge allocation is a bug.
#![no_main]

#[path = "disk.rs"]
mod disk;
#[path = "sparse.rs"]
mod sparse;

use blockprint::firstboot::root_facts;
use disk::Disk;
use sparse::Sparse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(image) = Sparse::parse(data) else {
        return;
    };
    if let Some(facts) = root_facts(&mut Disk::new(image)) {
        assert!(facts.place.starts_with("partition ") || facts.place.starts_with("the whole disk"));
    }
});
