//! UDF file entries, their allocation descriptors, and the file identifier descriptors of a
//! directory.

use super::super::budget::{Budget, Doubt};
use super::{Map, Volume, check_tag, cs0, physical, tag};
use crate::le::{u16_at, u32_at, u64_at};

/// Bytes of a directory read at most.
const MAX_DIRECTORY: u64 = 1 << 20;
/// Allocation descriptors of one file followed at most.
const MAX_EXTENTS: usize = 1024;
/// Continuation extents, or indirect entries, followed at most.
const MAX_HOPS: usize = 8;
/// File identifiers looked at at most in one directory.
const MAX_ENTRIES: usize = 65_536;

/// ICB file types (ECMA-167 4/14.6.6).
const DIRECTORY: u8 = 4;

/// A long allocation descriptor's address: a logical block of a partition, and a length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::identify) struct LongAd {
    pub len: u32,
    pub block: u32,
    pub part: u16,
}

impl LongAd {
    /// The `long_ad` in the first 16 bytes of `b` (the caller checked its length).
    pub(in crate::identify) fn parse(b: &[u8]) -> Self {
        Self {
            len: u32_at(b, 0),
            block: u32_at(b, 4),
            part: u16_at(b, 8),
        }
    }
}

/// Where a file's data is.
#[derive(Debug)]
enum Data {
    /// In the entry itself.
    Embedded(Vec<u8>),
    /// In extents: (block, partition reference, bytes, extent type), and the size of the
    /// descriptors (8 for short, 16 for long), which continuation extents keep.
    Extents(Vec<(u64, u16, u64, u8)>, usize),
}

/// A file entry or extended file entry.
#[derive(Debug)]
pub(in crate::identify) struct Entry {
    file_type: u8,
    info_len: u64,
    data: Data,
    /// The partition reference the entry is in (short descriptors point into it).
    pub part: u16,
}

impl Entry {
    /// Reads the entry at logical block `at` of `map`, following indirect entries.
    pub(in crate::identify) fn read_in(
        r: &Budget,
        block: u64,
        map: &Map,
        at: u64,
        what: &str,
    ) -> Result<Self, Doubt> {
        let mut at = at;
        for _ in 0..MAX_HOPS {
            let offset = physical(map, at, block)?;
            let d = r.read(offset, block, &format!("the UDF {what}"))?;
            let id = u16_at(&d, 0);
            if id == tag::INDIRECT {
                check_tag(&d, id, Some(at), what)?;
                at = u64::from(LongAd::parse(&d[36..52]).block);
                continue;
            }
            let (base, lengths) = match id {
                tag::FILE_ENTRY => (176, 168),
                tag::EXTENDED_FILE_ENTRY => (216, 208),
                _ => {
                    return Err(Doubt(format!(
                        "the UDF {what} at block {at} has tag identifier {id}, not a file entry's"
                    )));
                }
            };
            check_tag(&d, id, Some(at), what)?;
            return Self::parse(&d, base, lengths, what);
        }
        Err(Doubt(format!(
            "the UDF {what} is behind too many indirect entries"
        )))
    }

    /// An entry whose extended attributes and allocation descriptors start at `base`, their
    /// lengths at `lengths`.
    fn parse(d: &[u8], base: usize, lengths: usize, what: &str) -> Result<Self, Doubt> {
        let l_ea = usize::try_from(u32_at(d, lengths)).unwrap_or(usize::MAX);
        let l_ad = usize::try_from(u32_at(d, lengths + 4)).unwrap_or(usize::MAX);
        let ads = base
            .checked_add(l_ea)
            .and_then(|start| Some(start..start.checked_add(l_ad)?))
            .and_then(|range| d.get(range))
            .ok_or_else(|| Doubt(format!("the UDF {what}'s descriptors lie past its block")))?;
        let info_len = u64_at(d, 56);
        let data = match u16_at(d, 34) & 7 {
            0 => Data::Extents(extents(ads, 8)?, 8),
            1 => Data::Extents(extents(ads, 16)?, 16),
            3 => Data::Embedded(
                ads[..ads
                    .len()
                    .min(usize::try_from(info_len).unwrap_or(usize::MAX))]
                    .to_vec(),
            ),
            _ => {
                return Err(Doubt(format!(
                    "the UDF {what} uses extended allocation descriptors, which are not read"
                )));
            }
        };
        Ok(Self {
            file_type: d[27],
            info_len,
            data,
            part: u16::MAX,
        })
    }

    /// Whether it is a directory.
    pub(in crate::identify) fn is_directory(&self) -> bool {
        self.file_type == DIRECTORY
    }

    /// The extents of a metadata file, as (first block, blocks) of its partition.
    pub(in crate::identify) fn block_extents(&self, block: u64) -> Result<Vec<(u64, u64)>, Doubt> {
        match &self.data {
            Data::Extents(list, _) => list
                .iter()
                .map(|&(at, _, len, kind)| match kind {
                    0 => Ok((at, len.div_ceil(block))),
                    _ => Err(Doubt::new(
                        "the UDF metadata file has extents that are not recorded",
                    )),
                })
                .collect(),
            Data::Embedded(_) => Err(Doubt::new("the UDF metadata file is embedded in its entry")),
        }
    }

    /// The file's data (a directory's), at most [`MAX_DIRECTORY`] bytes.
    pub(in crate::identify) fn data(&self, r: &Budget, volume: &Volume) -> Result<Vec<u8>, Doubt> {
        if self.info_len > MAX_DIRECTORY {
            return Err(Doubt(format!(
                "a UDF directory of {} bytes is larger than the {} KiB read",
                self.info_len,
                MAX_DIRECTORY >> 10
            )));
        }
        let (list, step) = match &self.data {
            Data::Embedded(bytes) => return Ok(bytes.clone()),
            Data::Extents(list, step) => (list, *step),
        };
        let want = self.info_len;
        let mut out: Vec<u8> = Vec::new();
        let mut pending: Vec<(u64, u16, u64, u8)> = list.iter().rev().copied().collect();
        let mut hops = 0;
        while let Some((at, part, len, kind)) = pending.pop() {
            let part = if part == u16::MAX { self.part } else { part };
            let left = want - out.len() as u64;
            if left == 0 {
                break;
            }
            match kind {
                0 => out.extend(volume.read_extent(r, part, at, len.min(left))?),
                3 => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Doubt::new(
                            "a UDF directory has too many allocation extents",
                        ));
                    }
                    let ad = LongAd {
                        len: 0,
                        block: u32::try_from(at).unwrap_or(u32::MAX),
                        part,
                    };
                    let d = volume.read_block(r, ad, "allocation extent")?;
                    check_tag(&d, tag::ALLOCATION_EXTENT, Some(at), "allocation extent")?;
                    let l_ad = usize::try_from(u32_at(&d, 20)).unwrap_or(usize::MAX);
                    let ads = d
                        .get(24..24usize.saturating_add(l_ad))
                        .ok_or_else(|| Doubt::new("a UDF allocation extent is damaged"))?;
                    pending.extend(extents(ads, step)?.into_iter().rev());
                }
                // Allocated but not recorded, or not allocated: reads as zeros.
                _ => out.resize(out.len() + usize::try_from(len.min(left)).unwrap_or(0), 0),
            }
        }
        Ok(out)
    }
}

/// The allocation descriptors in `ads`, `step` bytes each (8: short, 16: long), up to the
/// first of length zero. A short one's partition is `u16::MAX`: the entry's own.
fn extents(ads: &[u8], step: usize) -> Result<Vec<(u64, u16, u64, u8)>, Doubt> {
    let mut out = Vec::new();
    for ad in ads.chunks_exact(step) {
        let raw = u32_at(ad, 0);
        let (len, kind) = (u64::from(raw & 0x3FFF_FFFF), (raw >> 30) as u8);
        if len == 0 {
            break;
        }
        if out.len() == MAX_EXTENTS {
            return Err(Doubt::new("a UDF file has too many extents"));
        }
        let part = if step == 16 { u16_at(ad, 8) } else { u16::MAX };
        out.push((u64::from(u32_at(ad, 4)), part, len, kind));
    }
    Ok(out)
}

/// The file identifier named `want` in directory `data`: its entry's address and whether it
/// is a directory. Deleted entries and the parent are passed over.
pub(in crate::identify) fn find(data: &[u8], want: &str) -> Result<Option<(LongAd, bool)>, Doubt> {
    let mut pos = 0usize;
    for _ in 0..MAX_ENTRIES {
        let Some(fid) = data.get(pos..).filter(|rest| rest.len() >= 38) else {
            return Ok(None);
        };
        // Only the tag's checksum and identifier: its location is the block it starts in,
        // which the joined extents of a directory do not keep.
        let damaged = || {
            Doubt(format!(
                "a damaged UDF file identifier at byte {pos} of a directory"
            ))
        };
        check_tag(&fid[..16], tag::FILE_IDENTIFIER, None, "file identifier")
            .map_err(|_| damaged())?;
        let characteristics = fid[18];
        let name_len = usize::from(fid[19]);
        let use_len = usize::from(u16_at(fid, 36));
        let name = fid
            .get(38 + use_len..38 + use_len + name_len)
            .ok_or_else(damaged)?;
        pos += (38 + use_len + name_len + 3) & !3;
        if characteristics & (0x04 | 0x08) != 0 {
            continue;
        }
        if cs0(name).is_some_and(|name| super::super::iso9660::same_name(&name, want)) {
            return Ok(Some((
                LongAd::parse(&fid[20..36]),
                characteristics & 0x02 != 0,
            )));
        }
    }
    Err(Doubt::new("a UDF directory has too many entries"))
}
