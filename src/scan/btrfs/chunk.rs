//! Chunks: btrfs' map from its logical address space to device bytes.
//!
//! Every tree block address is logical, so nothing can be read before the chunks that hold
//! the chunk tree are known (the superblock's `sys_chunk_array`); the chunk tree then gives the
//! rest. A chunk's profile says how its logical bytes sit on the device: SINGLE has one copy,
//! DUP two on the same device, the RAID profiles stripe or mirror across devices.

use super::{Doubt, le16, le64};

/// Block-group type bits (chunk `type`).
pub(super) const DATA: u64 = 1 << 0;
pub(super) const SYSTEM: u64 = 1 << 1;
pub(super) const METADATA: u64 = 1 << 2;
const RAID0: u64 = 1 << 3;
const RAID1: u64 = 1 << 4;
pub(super) const DUP: u64 = 1 << 5;
const RAID10: u64 = 1 << 6;
const RAID5: u64 = 1 << 7;
const RAID6: u64 = 1 << 8;
const RAID1C3: u64 = 1 << 9;
const RAID1C4: u64 = 1 << 10;
const KINDS: u64 = DATA | SYSTEM | METADATA;
const PROFILES: u64 = RAID0 | RAID1 | DUP | RAID10 | RAID5 | RAID6 | RAID1C3 | RAID1C4;

/// Every profile keeps this stripe length; another value is corruption (the kernel refuses
/// such chunks too).
const STRIPE_LEN: u64 = 64 << 10;

/// Fixed part of a chunk item, before its stripes.
pub(super) const CHUNK_HEAD: usize = 48;
/// One stripe: devid, offset, device UUID.
pub(super) const STRIPE_SIZE: usize = 32;

/// Where a chunk's bytes live on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stripe {
    pub devid: u64,
    pub offset: u64,
}

/// One chunk (= one block group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chunk {
    /// First logical byte.
    pub logical: u64,
    /// Logical length.
    pub length: u64,
    /// Type and profile bits.
    pub flags: u64,
    pub stripes: Vec<Stripe>,
    /// Device bytes each stripe occupies.
    pub stripe_size: u64,
}

impl Chunk {
    /// One past the last logical byte.
    pub(super) fn end(&self) -> u64 {
        self.logical + self.length
    }

    /// Whether each stripe holds a full copy of the chunk (SINGLE, DUP, RAID1*), so a logical
    /// byte is at the same distance from every stripe's start.
    pub(super) fn is_mirrored(&self) -> bool {
        self.flags & (RAID0 | RAID10 | RAID5 | RAID6) == 0
    }

    /// SINGLE or DUP: the profiles whose free space level B maps.
    pub(super) fn is_single_or_dup(&self) -> bool {
        self.flags & PROFILES & !DUP == 0
    }

    /// The profile's name, for notes and reasons.
    pub(super) fn profile(&self) -> &'static str {
        profile_name(self.flags)
    }

    /// Parses the chunk item at logical `logical` from the start of `data`; returns it and the
    /// item's size. `mixed` allows chunks holding both data and metadata.
    pub(super) fn parse(
        logical: u64,
        data: &[u8],
        sectorsize: u64,
        mixed: bool,
    ) -> Result<(Chunk, usize), Doubt> {
        let length = le64(data, 0)?;
        let stripe_len = le64(data, 16)?;
        let flags = le64(data, 24)?;
        let count = le16(data, 44)?;
        let sub_stripes = u64::from(le16(data, 46)?);
        let at = || format!("chunk at logical {logical}");
        let size = CHUNK_HEAD + usize::from(count) * STRIPE_SIZE;
        if data.len() < size {
            return Err(format!(
                "{} is truncated ({} stripes in {} bytes)",
                at(),
                count,
                data.len()
            ));
        }
        if length == 0
            || !logical.is_multiple_of(sectorsize)
            || !length.is_multiple_of(sectorsize)
            || logical.checked_add(length).is_none()
        {
            return Err(format!("{} has an invalid length {length}", at()));
        }
        if stripe_len != STRIPE_LEN {
            return Err(format!(
                "{} has stripe length {stripe_len}, not {STRIPE_LEN}",
                at()
            ));
        }
        if flags & !(KINDS | PROFILES) != 0
            || flags & KINDS == 0
            || (flags & PROFILES).count_ones() > 1
        {
            return Err(format!("{} has unknown type bits {flags:#x}", at()));
        }
        if flags & DATA != 0 && flags & METADATA != 0 && !mixed {
            return Err(format!(
                "{} mixes data and metadata without the mixed-groups feature",
                at()
            ));
        }
        let n = u64::from(count);
        let expected = match flags & PROFILES {
            0 => n == 1,
            DUP => n == 2,
            RAID1 => n >= 2,
            RAID1C3 => n >= 3,
            RAID1C4 => n >= 4,
            RAID0 => n >= 1,
            RAID10 => sub_stripes == 2 && n >= 2 && n.is_multiple_of(2),
            RAID5 => n >= 2,
            _ => n >= 3,
        };
        if !expected {
            return Err(format!(
                "{} has {n} stripes, impossible for {}",
                at(),
                profile_name(flags)
            ));
        }
        // Device bytes per stripe: the logical length spread over the data-carrying stripes.
        let data_stripes = match flags & PROFILES {
            RAID0 => n,
            RAID10 => n / 2,
            RAID5 => n - 1,
            RAID6 => n - 2,
            _ => 1,
        };
        if !length.is_multiple_of(data_stripes) {
            return Err(format!(
                "{} length {length} does not divide into {data_stripes} stripes",
                at()
            ));
        }
        let mut stripes = Vec::with_capacity(usize::from(count));
        for i in 0..usize::from(count) {
            let base = CHUNK_HEAD + i * STRIPE_SIZE;
            stripes.push(Stripe {
                devid: le64(data, base)?,
                offset: le64(data, base + 8)?,
            });
        }
        let chunk = Chunk {
            logical,
            length,
            flags,
            stripes,
            stripe_size: length / data_stripes,
        };
        Ok((chunk, size))
    }
}

fn profile_name(flags: u64) -> &'static str {
    match flags & PROFILES {
        0 => "single",
        RAID0 => "RAID0",
        RAID1 => "RAID1",
        DUP => "DUP",
        RAID10 => "RAID10",
        RAID5 => "RAID5",
        RAID6 => "RAID6",
        RAID1C3 => "RAID1C3",
        RAID1C4 => "RAID1C4",
        _ => "several profiles",
    }
}

/// The chunks of a filesystem, sorted and non-overlapping in logical space.
#[derive(Debug, Default)]
pub(super) struct ChunkMap {
    chunks: Vec<Chunk>,
}

impl ChunkMap {
    /// Builds the map; overlapping chunks are corruption.
    pub(super) fn new(mut chunks: Vec<Chunk>) -> Result<Self, Doubt> {
        chunks.sort_by_key(|c| c.logical);
        for pair in chunks.windows(2) {
            if pair[0].end() > pair[1].logical {
                return Err(format!(
                    "chunks at logical {} and {} overlap",
                    pair[0].logical, pair[1].logical
                ));
            }
        }
        Ok(Self { chunks })
    }

    /// All chunks, in logical order.
    pub(super) fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The chunk holding all of `logical..logical + len`.
    pub(super) fn containing(&self, logical: u64, len: u64) -> Option<&Chunk> {
        let i = self.chunks.partition_point(|c| c.logical <= logical);
        let chunk = self.chunks.get(i.checked_sub(1)?)?;
        (logical.checked_add(len)? <= chunk.end()).then_some(chunk)
    }

    /// Device offsets of every copy of `logical..logical + len`, which must lie in one
    /// mirrored chunk on device `devid`.
    pub(super) fn copies(&self, logical: u64, len: u64, devid: u64) -> Result<Vec<u64>, Doubt> {
        let chunk = self
            .containing(logical, len)
            .ok_or_else(|| format!("logical address {logical} (+{len}) is in no chunk"))?;
        if !chunk.is_mirrored() {
            return Err(format!(
                "tree block at logical {logical} is in a {} chunk, which is not read",
                chunk.profile()
            ));
        }
        let delta = logical - chunk.logical;
        chunk
            .stripes
            .iter()
            .map(|s| {
                if s.devid != devid {
                    return Err(format!(
                        "chunk at logical {} has a stripe on device {}",
                        chunk.logical, s.devid
                    ));
                }
                s.offset.checked_add(delta).ok_or_else(|| {
                    format!("chunk at logical {} has a stripe past 2^64", chunk.logical)
                })
            })
            .collect()
    }
}
