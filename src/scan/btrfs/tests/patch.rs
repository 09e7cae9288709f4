//! Surgical edits of image files for refusal tests: write bytes, then make the superblock or
//! a tree block checksum right again, so the parser has to notice the edit itself.

use std::os::unix::fs::FileExt as _;
use std::path::Path;

use super::oracle::Dump;
use crate::scan::btrfs::checksum::crc32c;

const SUPER: u64 = 0x10000;

pub(super) fn read(img: &Path, at: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    std::fs::File::open(img)
        .expect("open")
        .read_exact_at(&mut buf, at)
        .expect("read");
    buf
}

pub(super) fn write(img: &Path, at: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(img)
        .expect("open");
    file.write_all_at(bytes, at).expect("write");
}

/// Recomputes the CRC32C of the block of `len` bytes at `at`.
pub(super) fn fix_csum(img: &Path, at: u64, len: usize) {
    let block = read(img, at, len);
    write(img, at, &crc32c(&block[32..]).to_le_bytes());
}

/// Sets the superblock's little-endian u64 at `field` to `f(old)`, checksum fixed.
pub(super) fn super_u64(img: &Path, field: u64, f: impl Fn(u64) -> u64) {
    let old = u64::from_le_bytes(read(img, SUPER + field, 8).try_into().expect("8 bytes"));
    write(img, SUPER + field, &f(old).to_le_bytes());
    fix_csum(img, SUPER, 4096);
}

/// An item to look for: the owning tree, the item type, and a test of its data.
pub(super) type Which<'a> = (u64, u8, &'a dyn Fn(&[u8]) -> bool);

/// A leaf of tree `owner` holding an item of type `kind` whose data `accept`s: the device
/// offsets of its copies and the offset of that item's data inside the block.
pub(super) fn find_item(
    img: &Path,
    dump: &Dump,
    owner: u64,
    kind: u8,
    accept: &dyn Fn(&[u8]) -> bool,
) -> (Vec<u64>, usize) {
    let n = dump.nodesize as usize;
    for &(logical, len) in &dump.extents {
        if len != dump.nodesize {
            continue;
        }
        let copies = dump.physical(logical);
        let block = read(img, copies[0], n);
        let le = |at: usize, w: usize| -> u64 {
            block[at..at + w]
                .iter()
                .rev()
                .fold(0, |v, &b| (v << 8) | u64::from(b))
        };
        if le(0x30, 8) != logical || le(0x58, 8) != owner || block[0x64] != 0 {
            continue;
        }
        for i in 0..le(0x60, 4) as usize {
            let item = 101 + i * 25;
            let data = 101 + le(item + 17, 4) as usize;
            if block[item + 8] == kind && accept(&block[data..data + le(item + 21, 4) as usize]) {
                return (copies, data);
            }
        }
    }
    panic!("no leaf of tree {owner} has an item of type {kind}");
}

/// Adds `delta` to the u64 at `field` of the item found by [`find_item`], in every copy,
/// checksums fixed.
pub(super) fn bump_item_u64(img: &Path, dump: &Dump, which: Which<'_>, field: usize, delta: u64) {
    let (owner, kind, accept) = which;
    let (copies, data) = find_item(img, dump, owner, kind, accept);
    for at in copies {
        let pos = at + (data + field) as u64;
        let old = u64::from_le_bytes(read(img, pos, 8).try_into().expect("8 bytes"));
        write(img, pos, &old.wrapping_add(delta).to_le_bytes());
        fix_csum(img, at, dump.nodesize as usize);
    }
}

/// Flips one byte in every copy of the tree block at `logical` (checksum left wrong).
pub(super) fn break_block(img: &Path, dump: &Dump, logical: u64) {
    for at in dump.physical(logical) {
        let byte = read(img, at + 200, 1)[0];
        write(img, at + 200, &[!byte]);
    }
}
