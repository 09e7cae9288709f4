//! The file allocation tables: every copy decoded, and which clusters are free in all of them.

use super::bpb::{Geometry, Kind};
use crate::source::RandomAccess;

/// A fixed-size set of cluster numbers.
#[derive(Debug, Clone)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    pub fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// What the FATs say.
pub(crate) struct Table {
    /// The entries of the copy chains are read from: copy 0, or the active copy when
    /// mirroring is off. Indexed by cluster number (0 and 1 included).
    pub entries: Vec<u32>,
    /// Which copy `entries` is.
    pub copy: u64,
    /// Clusters whose entry is 0 in at least one copy: a chain must never touch these.
    pub free_in_some: Bits,
    /// Clusters whose entry is 0 in every copy: the only ones ever left out.
    pub free_in_all: Bits,
    /// The copies that differ from `entries`.
    pub differing: Vec<u64>,
}

/// The entry of cluster `n` from the raw bytes of a FAT.
///
/// FAT12 packs two 12-bit entries into three bytes: entry `n` starts at byte `n + n/2`, and
/// an odd entry is the high 12 bits of the little-endian 16-bit word there, an even one the
/// low 12 bits. (Reading them as 16 bits, as partclone 0.3.23 does, calls used clusters free.)
pub(crate) fn entry(kind: Kind, fat: &[u8], n: usize) -> u32 {
    match kind {
        Kind::Fat12 => {
            let at = n + n / 2;
            let word = u32::from(u16::from_le_bytes([fat[at], fat[at + 1]]));
            if n % 2 == 1 { word >> 4 } else { word & 0xFFF }
        }
        Kind::Fat16 => u32::from(u16::from_le_bytes([fat[2 * n], fat[2 * n + 1]])),
        Kind::Fat32 => {
            u32::from_le_bytes([fat[4 * n], fat[4 * n + 1], fat[4 * n + 2], fat[4 * n + 3]])
                & 0x0FFF_FFFF
        }
    }
}

/// Bytes per read when decoding a FAT (a multiple of 2 and 4, so FAT16/32 entries never
/// straddle two reads).
const CHUNK: usize = 1 << 20;

/// Decodes FAT copy `copy`: entries 0..clusters+2, handed to `each` in order.
pub(crate) fn decode(
    region: &dyn RandomAccess,
    g: &Geometry,
    copy: u64,
    mut each: impl FnMut(usize, u32),
) -> Result<(), String> {
    let count = usize::try_from(g.clusters).map_err(|_| "cluster count overflows".to_owned())? + 2;
    let start = g.fat_start(copy);
    let fail =
        |e: std::io::Error| format!("cannot read FAT copy {} at byte {start}: {e}", copy + 1);
    if g.kind == Kind::Fat12 {
        // At most 4086 entries: 6 KiB, read at once (entries straddle bytes).
        let mut fat = vec![0u8; (count * 3).div_ceil(2) + 1];
        let len = fat.len() - 1;
        region.read_exact_at(start, &mut fat[..len]).map_err(fail)?;
        for n in 0..count {
            each(n, entry(Kind::Fat12, &fat, n));
        }
        return Ok(());
    }
    let width = if g.kind == Kind::Fat16 { 2 } else { 4 };
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0;
    while n < count {
        let take = (count - n).min(CHUNK / width);
        let bytes = &mut buf[..take * width];
        region
            .read_exact_at(start + (n * width) as u64, bytes)
            .map_err(fail)?;
        for i in 0..take {
            each(n + i, entry(g.kind, bytes, i));
        }
        n += take;
    }
    Ok(())
}

/// Reads every FAT copy.
pub(crate) fn read(region: &dyn RandomAccess, g: &Geometry) -> Result<Table, String> {
    let count = usize::try_from(g.clusters).map_err(|_| "cluster count overflows".to_owned())? + 2;
    let copy = if g.mirrored { 0 } else { g.active_fat };
    let mut entries = Vec::with_capacity(count);
    decode(region, g, copy, |_, v| entries.push(v))?;
    check_reserved_entries(g, copy, entries[0], entries[1])?;
    let mut free_in_some = Bits::new(count);
    let mut free_in_all = Bits::new(count);
    for (n, &v) in entries.iter().enumerate() {
        if v == 0 {
            free_in_some.set(n);
            free_in_all.set(n);
        }
    }
    let mut differing = Vec::new();
    for other in (0..g.fats).filter(|&c| c != copy) {
        let mut differs = false;
        let mut still_free = Bits::new(count);
        let mut reserved = [0u32; 2];
        decode(region, g, other, |n, v| {
            if n < 2 {
                reserved[n] = v;
            }
            if v == 0 {
                free_in_some.set(n);
                if free_in_all.get(n) {
                    still_free.set(n);
                }
            }
            differs |= v != entries[n];
        })?;
        check_reserved_entries(g, other, reserved[0], reserved[1])?;
        free_in_all = still_free;
        if differs {
            differing.push(other);
        }
    }
    Ok(Table {
        entries,
        copy,
        free_in_some,
        free_in_all,
        differing,
    })
}

/// The reasons `FAT[0]` and `FAT[1]` give to map the filesystem whole: a FAT that does not begin
/// with the media byte (not a FAT, or not where the BPB says), a volume not cleanly unmounted,
/// or one that met disk errors (Microsoft's ClnShutBitMask and HrdErrBitMask; FAT12 has
/// neither).
fn check_reserved_entries(g: &Geometry, copy: u64, fat0: u32, fat1: u32) -> Result<(), String> {
    if fat0 & 0xFF != u32::from(g.media) {
        return Err(format!(
            "FAT copy {} does not begin with the media byte {:#04x} (FAT[0] is {fat0:#x}): \
             the FAT is not where the BPB says",
            copy + 1,
            g.media
        ));
    }
    let (clean, no_errors) = match g.kind {
        Kind::Fat12 => return Ok(()),
        Kind::Fat16 => (0x8000, 0x4000),
        Kind::Fat32 => (0x0800_0000, 0x0400_0000),
    };
    if fat1 & clean == 0 {
        return Err(format!(
            "the volume was not cleanly unmounted (dirty flag in FAT[1] of copy {}: {fat1:#x})",
            copy + 1
        ));
    }
    if fat1 & no_errors == 0 {
        return Err(format!(
            "the volume met disk errors (hard-error flag in FAT[1] of copy {}: {fat1:#x})",
            copy + 1
        ));
    }
    Ok(())
}
