//! UDF (ECMA-167, OSTA UDF 1.02 to 2.60): from the anchor to a file, by path.
//!
//! ```text
//!  anchor (sector 256) ─► main volume descriptor sequence ─► partition descriptors
//!                                                          └► logical volume descriptor
//!                                                               │ partition maps, file set
//!                                                               ▼
//!  file set descriptor ─► root (extended) file entry ─► file identifier descriptors ─► …
//! ```
//!
//! Every descriptor's tag is checked (identifier, checksum, CRC, location) and every address
//! is checked against its partition before it is read. Physical and sparable partitions are
//! read (a sparing table only matters on a worn disc, not in an image), and the metadata
//! partition of UDF 2.50 and later through its metadata file; a virtual partition (VAT, for
//! CD-R) is a doubt.

mod entry;

use super::budget::{Budget, Doubt};
use entry::{Entry, LongAd};

/// The sector of the anchor volume descriptor pointer.
const ANCHOR: u64 = 256;
/// Sector sizes tried, most common first.
const SECTOR_SIZES: [u64; 4] = [2048, 512, 1024, 4096];
/// Descriptors of a volume descriptor sequence read at most.
const MAX_SEQUENCE: u64 = 64;
/// Path components followed at most.
const MAX_DEPTH: usize = 8;

/// Tag identifiers (ECMA-167 3/7.2.1 and 4/7.2.1).
pub(super) mod tag {
    pub const ANCHOR: u16 = 2;
    pub const PARTITION: u16 = 5;
    pub const LOGICAL_VOLUME: u16 = 6;
    pub const TERMINATING: u16 = 8;
    pub const FILE_SET: u16 = 256;
    pub const FILE_IDENTIFIER: u16 = 257;
    pub const ALLOCATION_EXTENT: u16 = 258;
    pub const INDIRECT: u16 = 259;
    pub const FILE_ENTRY: u16 = 261;
    pub const EXTENDED_FILE_ENTRY: u16 = 266;
}

/// How a partition reference number maps to sectors.
#[derive(Debug, Clone)]
enum Map {
    /// A partition on the medium: its first sector and length in blocks.
    Physical { start: u64, len: u64 },
    /// UDF 2.50's metadata partition: its blocks are those of the metadata file, whose
    /// extents (first block, blocks) lie in the physical partition `start`/`len`; `files`
    /// are the blocks of the metadata file's entry and of its mirror's.
    Metadata {
        start: u64,
        len: u64,
        extents: Vec<(u64, u64)>,
        files: [u64; 2],
    },
    /// A partition this reader does not follow (a virtual one).
    Unsupported(&'static str),
}

/// A UDF volume, ready to look paths up.
#[derive(Debug)]
pub(super) struct Volume {
    /// The logical volume identifier.
    pub name: String,
    /// Bytes per sector and logical block.
    block: u64,
    maps: Vec<Map>,
    root: LongAd,
}

/// Checks a descriptor tag: identifier `want`, checksum, CRC (when it lies in `d`) and, when
/// given, the location it claims; `what` names it in the doubt.
pub(super) fn check_tag(
    d: &[u8],
    want: u16,
    location: Option<u64>,
    what: &str,
) -> Result<(), Doubt> {
    let bad = |why: &str| Err(Doubt(format!("the UDF {what} {why}")));
    let Some(t) = d.get(..16) else {
        return bad("is cut short");
    };
    let sum = t
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 4)
        .fold(0u8, |s, (_, &b)| s.wrapping_add(b));
    if sum != t[4] {
        return bad("has a wrong tag checksum");
    }
    let id = u16::from_le_bytes([t[0], t[1]]);
    if id != want {
        return bad(&format!("has tag identifier {id}, not {want}"));
    }
    let crc_len = usize::from(u16::from_le_bytes([t[10], t[11]]));
    if crc_len > 0
        && let Some(body) = d.get(16..16 + crc_len)
        && crc_itu(body) != u16::from_le_bytes([t[8], t[9]])
    {
        return bad("has a wrong CRC");
    }
    let claimed = u64::from(crate::le::u32_at(t, 12));
    match location {
        Some(at) if at != claimed => bad(&format!("at block {at} says it is at block {claimed}")),
        _ => Ok(()),
    }
}

/// CRC-ITU-T (x^16 + x^12 + x^5 + 1, initial value 0), as ECMA-167 7.2.6 defines it.
pub(super) fn crc_itu(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |mut crc, &byte| {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// Text of an OSTA compressed unicode string (its first byte: 8 for bytes, 16 for UCS-2).
pub(super) fn cs0(bytes: &[u8]) -> Option<String> {
    let (&kind, rest) = bytes.split_first()?;
    match kind {
        8 | 254 => Some(rest.iter().map(|&b| char::from(b)).collect()),
        16 | 255 => Some(super::iso9660::decode(rest, true)),
        _ => None,
    }
}

/// Text of a fixed-size dstring field, whose last byte is the length used.
fn dstring(field: &[u8]) -> String {
    let Some((&used, body)) = field.split_last() else {
        return String::new();
    };
    body.get(..usize::from(used))
        .and_then(cs0)
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

impl Volume {
    /// Reads the volume from its anchor at sector 256 (of 2048, 512, 1024 or 4096 bytes).
    pub(super) fn open(r: &Budget) -> Result<Self, Doubt> {
        let mut last = Doubt::new("no UDF anchor at sector 256");
        for block in SECTOR_SIZES {
            if !r.holds(ANCHOR * block, block) {
                continue;
            }
            let anchor = r.read(ANCHOR * block, 16 + 16, "the UDF anchor")?;
            if check_tag(&anchor, tag::ANCHOR, Some(ANCHOR), "anchor").is_err() {
                continue;
            }
            let anchor = r.read(ANCHOR * block, block, "the UDF anchor")?;
            check_tag(&anchor, tag::ANCHOR, Some(ANCHOR), "anchor")?;
            // The main sequence, else its reserve copy.
            for at in [16, 24] {
                let len = u64::from(crate::le::u32_at(&anchor, at));
                let start = u64::from(crate::le::u32_at(&anchor, at + 4));
                match Self::from_sequence(r, block, start, len) {
                    Ok(volume) => return Ok(volume),
                    Err(doubt) => last = doubt,
                }
            }
            return Err(last);
        }
        Err(last)
    }

    /// The volume from the descriptor sequence of `len` bytes at sector `start`.
    fn from_sequence(r: &Budget, block: u64, start: u64, len: u64) -> Result<Self, Doubt> {
        let mut partitions: Vec<(u16, u64, u64)> = Vec::new();
        let mut logical = None;
        for i in 0..(len / block).min(MAX_SEQUENCE) {
            let sector = start.saturating_add(i);
            let d = r.read(
                sector.saturating_mul(block),
                block,
                "a UDF volume descriptor",
            )?;
            let id = u16::from_le_bytes([d[0], d[1]]);
            match id {
                tag::PARTITION => {
                    check_tag(&d, id, Some(sector), "partition descriptor")?;
                    let number = u16::from_le_bytes([d[22], d[23]]);
                    let first = u64::from(crate::le::u32_at(&d, 188));
                    let blocks = u64::from(crate::le::u32_at(&d, 192));
                    partitions.push((number, first, blocks));
                }
                tag::LOGICAL_VOLUME if logical.is_none() => {
                    check_tag(&d, id, Some(sector), "logical volume descriptor")?;
                    logical = Some(d);
                }
                tag::TERMINATING => break,
                _ => {}
            }
        }
        let lvd =
            logical.ok_or_else(|| Doubt::new("the UDF volume has no logical volume descriptor"))?;
        let lb = u64::from(crate::le::u32_at(&lvd, 212));
        if lb != block {
            return Err(Doubt(format!(
                "UDF logical blocks of {lb} bytes on sectors of {block} are not read"
            )));
        }
        let maps = partition_maps(&lvd, &partitions)?;
        let mut volume = Self {
            name: dstring(&lvd[84..212]),
            block,
            maps,
            root: LongAd::default(),
        };
        volume.load_metadata(r)?;
        let fsd_at = LongAd::parse(&lvd[248..264]);
        let fsd = volume.read_block(r, fsd_at, "file set descriptor")?;
        check_tag(
            &fsd,
            tag::FILE_SET,
            Some(u64::from(fsd_at.block)),
            "file set descriptor",
        )?;
        volume.root = LongAd::parse(&fsd[400..416]);
        Ok(volume)
    }

    /// Reads the metadata file of each metadata partition (or its mirror), which maps it.
    fn load_metadata(&mut self, r: &Budget) -> Result<(), Doubt> {
        for map in &mut self.maps {
            let Map::Metadata {
                start,
                len,
                extents,
                files,
            } = map
            else {
                continue;
            };
            let physical = Map::Physical {
                start: *start,
                len: *len,
            };
            let mut result = Err(Doubt::new("the UDF metadata file cannot be read"));
            for at in *files {
                result = Entry::read_in(r, self.block, &physical, at, "metadata file")
                    .and_then(|e| e.block_extents(self.block));
                if result.is_ok() {
                    break;
                }
            }
            *extents = result?;
        }
        Ok(())
    }

    /// The byte offset of logical block `block` of partition `part`.
    fn offset(&self, part: u16, block: u64) -> Result<u64, Doubt> {
        let map = self
            .maps
            .get(usize::from(part))
            .ok_or_else(|| Doubt(format!("UDF partition reference {part} does not exist")))?;
        physical(map, block, self.block)
    }

    /// One logical block at `ad`, `what` naming it.
    fn read_block(&self, r: &Budget, ad: LongAd, what: &str) -> Result<Vec<u8>, Doubt> {
        let at = self.offset(ad.part, u64::from(ad.block))?;
        r.read(at, self.block, &format!("the UDF {what}"))
    }

    /// `len` bytes from logical block `block` of partition `part`, block by block where the
    /// partition is not contiguous.
    fn read_extent(&self, r: &Budget, part: u16, block: u64, len: u64) -> Result<Vec<u8>, Doubt> {
        let mut out = Vec::new();
        let blocks = len.div_ceil(self.block);
        let mut run: Option<(u64, u64)> = None;
        for i in 0..blocks {
            let at = self.offset(part, block.saturating_add(i))?;
            run = match run {
                Some((first, bytes)) if first + bytes == at => Some((first, bytes + self.block)),
                Some((first, bytes)) => {
                    out.extend(r.read(first, bytes, "a UDF directory")?);
                    Some((at, self.block))
                }
                None => Some((at, self.block)),
            };
        }
        if let Some((first, bytes)) = run {
            out.extend(r.read(first, bytes, "a UDF directory")?);
        }
        out.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(out)
    }

    /// The (extended) file entry at `ad`, following indirect entries.
    fn entry(&self, r: &Budget, ad: LongAd) -> Result<Entry, Doubt> {
        let map = self.maps.get(usize::from(ad.part)).ok_or_else(|| {
            Doubt(format!(
                "UDF partition reference {} does not exist",
                ad.part
            ))
        })?;
        Entry::read_in(r, self.block, map, u64::from(ad.block), "file entry").map(|mut e| {
            e.part = ad.part;
            e
        })
    }

    /// Whether a file or directory at `path` (names from the root) exists.
    pub(super) fn contains(&self, r: &Budget, path: &[&str]) -> Result<bool, Doubt> {
        if path.len() > MAX_DEPTH {
            return Err(Doubt::new("the path looked for is too deep"));
        }
        let mut directory = self.root;
        for (i, want) in path.iter().enumerate() {
            let entry = self.entry(r, directory)?;
            if !entry.is_directory() {
                return Ok(false);
            }
            let data = entry.data(r, self)?;
            let Some((ad, is_dir)) = entry::find(&data, want)? else {
                return Ok(false);
            };
            if i + 1 == path.len() {
                return Ok(true);
            }
            if !is_dir {
                return Ok(false);
            }
            directory = ad;
        }
        Ok(false)
    }
}

/// The byte offset of logical block `block` under `map`, checked against the partition.
fn physical(map: &Map, block: u64, size: u64) -> Result<u64, Doubt> {
    let in_partition = |start: u64, len: u64, block: u64| {
        if block >= len {
            return Err(Doubt(format!(
                "UDF block {block} lies outside its partition of {len} blocks"
            )));
        }
        start
            .checked_add(block)
            .and_then(|s| s.checked_mul(size))
            .ok_or_else(|| Doubt::new("a UDF address is out of range"))
    };
    match map {
        Map::Physical { start, len } => in_partition(*start, *len, block),
        Map::Metadata {
            start,
            len,
            extents,
            ..
        } => {
            let mut skipped = 0u64;
            for &(first, blocks) in extents {
                if block < skipped + blocks {
                    return in_partition(*start, *len, first + (block - skipped));
                }
                skipped += blocks;
            }
            Err(Doubt(format!(
                "UDF metadata block {block} lies past the metadata file ({skipped} blocks)"
            )))
        }
        Map::Unsupported(what) => Err(Doubt(format!("a UDF {what} is not read"))),
    }
}

/// The partition maps of a logical volume descriptor, resolved against the partition
/// descriptors `(number, first sector, blocks)`.
fn partition_maps(lvd: &[u8], partitions: &[(u16, u64, u64)]) -> Result<Vec<Map>, Doubt> {
    let count = crate::le::u32_at(lvd, 268);
    let table_len = usize::try_from(crate::le::u32_at(lvd, 264)).unwrap_or(usize::MAX);
    let table = lvd
        .get(440..440usize.saturating_add(table_len))
        .ok_or_else(|| Doubt::new("the UDF partition maps lie past their descriptor"))?;
    let find = |number: u16| {
        partitions
            .iter()
            .find(|&&(n, ..)| n == number)
            .map(|&(_, start, len)| (start, len))
            .ok_or_else(|| {
                Doubt(format!(
                    "UDF partition {number} has no partition descriptor"
                ))
            })
    };
    let mut maps = Vec::new();
    let mut pos = 0usize;
    for _ in 0..count.min(64) {
        let kind = *table
            .get(pos)
            .ok_or_else(|| Doubt::new("the UDF partition maps are cut short"))?;
        let len = usize::from(*table.get(pos + 1).unwrap_or(&0));
        let map = table
            .get(pos..pos + len)
            .filter(|_| len >= 6)
            .ok_or_else(|| Doubt::new("a UDF partition map is damaged"))?;
        maps.push(match (kind, len) {
            (1, 6) => {
                let (start, len) = find(u16::from_le_bytes([map[4], map[5]]))?;
                Map::Physical { start, len }
            }
            (2, 64) => {
                let number = u16::from_le_bytes([map[38], map[39]]);
                let id = &map[5..28];
                if id.starts_with(b"*UDF Metadata Partition") {
                    let (start, len) = find(number)?;
                    Map::Metadata {
                        start,
                        len,
                        extents: Vec::new(),
                        files: [
                            u64::from(crate::le::u32_at(map, 40)),
                            u64::from(crate::le::u32_at(map, 44)),
                        ],
                    }
                } else if id.starts_with(b"*UDF Sparable Partition") {
                    let (start, len) = find(number)?;
                    Map::Physical { start, len }
                } else {
                    Map::Unsupported("virtual partition")
                }
            }
            _ => Map::Unsupported("partition map of an unknown type"),
        });
        pos += len;
    }
    Ok(maps)
}
