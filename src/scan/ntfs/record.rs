//! MFT records and what Blockprint needs from them: update-sequence fixups, attributes, and
//! runlists (the extents of non-resident attributes).

use super::{Check, Volume, le_u16, le_u32, le_u64, read};
use crate::source::RandomAccess;

/// Multi-sector structures (MFT records, log restart pages) protect every 512 bytes.
const STRIDE: usize = 512;
/// The attribute type that ends a record's list.
const END: u32 = 0xFFFF_FFFF;
/// More extents than any sane system file has; a hostile runlist stops here.
const MAX_RUNS: usize = 1 << 16;

/// Checks the magic and undoes the update-sequence fixups of a multi-sector structure: the
/// last two bytes of each 512-byte stride were replaced by the sequence number, and their
/// originals are kept in the array. A mismatch means a torn or corrupt write.
pub(super) fn apply_fixups(buf: &mut [u8], magic: &[u8; 4], what: &str) -> Check<()> {
    if buf.get(..4) != Some(magic.as_slice()) {
        return Err(format!(
            "the {what} has no {} magic",
            String::from_utf8_lossy(magic)
        ));
    }
    let offset = usize::from(le_u16(buf, 4)?);
    let count = usize::from(le_u16(buf, 6)?);
    let strides = buf.len() / STRIDE;
    if strides == 0
        || offset % 2 != 0
        || count != strides + 1
        || offset + 2 * count > STRIDE - 2
        || !buf.len().is_multiple_of(STRIDE)
    {
        return Err(format!(
            "the update sequence array of the {what} is not valid"
        ));
    }
    let usn = [buf[offset], buf[offset + 1]];
    for i in 0..strides {
        let end = i * STRIDE + STRIDE - 2;
        if buf[end..end + 2] != usn {
            return Err(format!(
                "the {what} fails its update-sequence check (a torn write) in sector {i}"
            ));
        }
        let saved = offset + 2 * (i + 1);
        let original = [buf[saved], buf[saved + 1]];
        buf[end..end + 2].copy_from_slice(&original);
    }
    Ok(())
}

/// One attribute of a record: its type, whether it is non-resident, its flags, whether it
/// is named, and its bytes (header included).
pub(super) struct Attribute<'a> {
    pub kind: u32,
    pub non_resident: bool,
    pub named: bool,
    pub flags: u16,
    pub bytes: &'a [u8],
}

/// A checked MFT record.
pub(super) struct Record {
    pub number: u64,
    bytes: Vec<u8>,
    used: usize,
    first: usize,
}

impl Record {
    /// Reads MFT record `number` through the MFT's runlist (or, for record 0, from the
    /// boot sector's MFT location).
    pub(super) fn read(
        region: &dyn RandomAccess,
        vol: &Volume,
        mft: Option<&Runs>,
        number: u64,
    ) -> Check<Self> {
        let size = vol.record;
        let offset = number
            .checked_mul(size)
            .ok_or("MFT record number too large")?;
        let what = format!("MFT record {number}");
        let mut bytes = match mft {
            Some(runs) => runs.read(region, vol, offset, size, &what)?,
            None => read(
                region,
                vol.mft_lcn
                    .saturating_mul(vol.cluster)
                    .saturating_add(offset),
                size,
                &what,
            )?,
        };
        apply_fixups(&mut bytes, b"FILE", &what)?;
        let first = usize::from(le_u16(&bytes, 20)?);
        let used = usize::try_from(le_u32(&bytes, 24)?).unwrap_or(usize::MAX);
        let flags = le_u16(&bytes, 22)?;
        if flags & 1 == 0 || used > bytes.len() || first >= used || first % 8 != 0 {
            return Err(format!("{what} is not an in-use record"));
        }
        if le_u64(&bytes, 32)? != 0 {
            return Err(format!("{what} is an extension record, not a base record"));
        }
        // NTFS 3.1 records say their own number; older ones have no room for it.
        if le_u16(&bytes, 4)? >= 48 && u64::from(le_u32(&bytes, 44)?) != number {
            return Err(format!("{what} says it is record {}", le_u32(&bytes, 44)?));
        }
        Ok(Record {
            number,
            bytes,
            used,
            first,
        })
    }

    /// The attributes, in order; a malformed one is an error.
    pub(super) fn attributes(&self) -> Check<Vec<Attribute<'_>>> {
        let mut list = Vec::new();
        let mut at = self.first;
        loop {
            let kind = le_u32(&self.bytes, at)?;
            if kind == END {
                return Ok(list);
            }
            let len = usize::try_from(le_u32(&self.bytes, at + 4)?).unwrap_or(usize::MAX);
            if len < 24 || len % 8 != 0 || at.saturating_add(len) > self.used {
                return Err(format!(
                    "MFT record {}: attribute {kind:#x} has a bad length",
                    self.number
                ));
            }
            let bytes = &self.bytes[at..at + len];
            list.push(Attribute {
                kind,
                non_resident: bytes[8] != 0,
                named: bytes[9] != 0,
                flags: le_u16(bytes, 12)?,
                bytes,
            });
            at += len;
        }
    }

    /// The unnamed attribute of type `kind`. An attribute list means the attribute may
    /// continue in other records: refused unless `first_extent_will_do` (the MFT's own
    /// first extent holds every system record Blockprint reads).
    pub(super) fn unnamed(
        &self,
        kind: u32,
        what: &str,
        first_extent_will_do: bool,
    ) -> Check<Attribute<'_>> {
        let attributes = self.attributes()?;
        if !first_extent_will_do && attributes.iter().any(|a| a.kind == 0x20) {
            return Err(format!(
                "{what} has an attribute list (its attributes span several records)"
            ));
        }
        let mut found = attributes
            .into_iter()
            .filter(|a| a.kind == kind && !a.named);
        match (found.next(), found.next()) {
            (Some(attribute), None) => Ok(attribute),
            _ => Err(format!(
                "{what} has not exactly one unnamed attribute {kind:#x}"
            )),
        }
    }
}

impl Attribute<'_> {
    /// The value of a resident attribute.
    pub(super) fn value(&self) -> Check<&[u8]> {
        if self.non_resident {
            return Err(format!("attribute {:#x} is not resident", self.kind));
        }
        let len = usize::try_from(le_u32(self.bytes, 16)?).unwrap_or(usize::MAX);
        let offset = usize::from(le_u16(self.bytes, 20)?);
        offset
            .checked_add(len)
            .and_then(|end| self.bytes.get(offset..end))
            .ok_or_else(|| format!("attribute {:#x} has a value outside its record", self.kind))
    }
}

/// The extents of a non-resident attribute: `(vcn, lcn, clusters)`, contiguous from VCN 0.
pub(super) struct Runs {
    pub runs: Vec<(u64, u64, u64)>,
    /// Bytes of the attribute's data that were ever written (the rest reads as zeros).
    pub initialized: u64,
}

impl Runs {
    /// Decodes the runlist of `attribute`, which must start at VCN 0 and have no sparse,
    /// compressed or encrypted parts. With `whole`, it must also cover all its clusters.
    pub(super) fn decode(
        attribute: &Attribute<'_>,
        vol: &Volume,
        whole: bool,
        what: &str,
    ) -> Check<Runs> {
        let b = attribute.bytes;
        if !attribute.non_resident || b.len() < 64 {
            return Err(format!("{what} is not a non-resident attribute"));
        }
        if attribute.flags & (0x0001 | 0x4000 | 0x8000) != 0 {
            return Err(format!("{what} is compressed, encrypted or sparse"));
        }
        let (lowest, highest) = (le_u64(b, 16)?, le_u64(b, 24)?);
        let mut at = usize::from(le_u16(b, 32)?);
        let (allocated, data_size, initialized) = (le_u64(b, 40)?, le_u64(b, 48)?, le_u64(b, 56)?);
        if lowest != 0 || data_size > allocated || initialized > data_size {
            return Err(format!("{what}: its sizes or first VCN are not valid"));
        }
        let mut runs = Vec::new();
        let (mut vcn, mut lcn) = (0u64, 0i64);
        loop {
            let header = *b
                .get(at)
                .ok_or_else(|| format!("{what}: the runlist runs off its record"))?;
            if header == 0 {
                break;
            }
            let (len_size, offset_size) = (usize::from(header & 0xF), usize::from(header >> 4));
            if len_size == 0 || len_size > 8 || offset_size > 8 {
                return Err(format!("{what}: a runlist entry is malformed"));
            }
            if offset_size == 0 {
                return Err(format!("{what} has a sparse run"));
            }
            let len = signed(b, at + 1, len_size)?;
            let delta = signed(b, at + 1 + len_size, offset_size)?;
            at += 1 + len_size + offset_size;
            lcn = lcn
                .checked_add(delta)
                .ok_or_else(|| format!("{what}: a run's LCN overflows"))?;
            let (Ok(start), Ok(count)) = (u64::try_from(lcn), u64::try_from(len)) else {
                return Err(format!("{what}: a run has a negative LCN or length"));
            };
            if count == 0
                || start
                    .checked_add(count)
                    .is_none_or(|end| end > vol.clusters)
                || runs.len() >= MAX_RUNS
            {
                return Err(format!("{what}: a run lies outside the volume"));
            }
            runs.push((vcn, start, count));
            vcn = vcn
                .checked_add(count)
                .ok_or_else(|| format!("{what}: its runlist is too long"))?;
        }
        if vcn.checked_mul(vol.cluster).is_none() {
            return Err(format!("{what}: its runlist is too long"));
        }
        let covered = highest.checked_add(1) == Some(vcn);
        if !covered || (whole && vcn.checked_mul(vol.cluster) != Some(allocated)) {
            return Err(format!("{what}: its runlist does not cover its clusters"));
        }
        Ok(Runs { runs, initialized })
    }

    /// Reads `len` bytes at byte `offset` of the attribute's data.
    pub(super) fn read(
        &self,
        region: &dyn RandomAccess,
        vol: &Volume,
        offset: u64,
        len: u64,
        what: &str,
    ) -> Check<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(len).map_err(|_| "read too large")?);
        let end = offset.checked_add(len).ok_or("read too large")?;
        let mut at = offset;
        while at < end {
            let vcn = at / vol.cluster;
            let &(first, lcn, count) = self
                .runs
                .iter()
                .find(|&&(first, _, count)| vcn >= first && vcn - first < count)
                .ok_or_else(|| format!("the {what} lies beyond its attribute's extents"))?;
            let run_end = (first + count) * vol.cluster;
            let take = (end - at).min(run_end - at);
            let disk = (lcn + (vcn - first)) * vol.cluster + at % vol.cluster;
            out.extend(read(region, disk, take, what)?);
            at += take;
        }
        Ok(out)
    }

    /// The clusters the attribute occupies, as `(lcn, count)`.
    pub(super) fn clusters(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().map(|&(_, lcn, count)| (lcn, count))
    }
}

/// A little-endian two's-complement integer of `size` (1 to 8) bytes.
fn signed(bytes: &[u8], at: usize, size: usize) -> Check<i64> {
    let field = at
        .checked_add(size)
        .and_then(|end| bytes.get(at..end))
        .ok_or("a runlist entry runs off its record")?;
    let mut value = [if field.last().is_some_and(|&b| b & 0x80 != 0) {
        0xFF
    } else {
        0
    }; 8];
    value[..size].copy_from_slice(field);
    Ok(i64::from_le_bytes(value))
}
