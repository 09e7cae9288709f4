//! Which filesystem a region holds, and what its parser proves free.
//!
//! Every parser has a cheap `detect` (its magic numbers) and a `scan` that either proves byte
//! ranges free or says why the filesystem must be mapped whole. The dispatcher runs every
//! `detect`: when more than one filesystem claims the region (a stale signature left by an
//! earlier mkfs), nothing is trusted and the region is mapped whole.

use crate::source::RandomAccess;

/// A parser's conclusion about the region it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Understood and checked: these byte ranges, relative to the region, are provably unused.
    Free {
        /// The filesystem ("ext4", "FAT32", …).
        fs: String,
        /// Free byte ranges relative to the region start (any order; the driver normalizes).
        free: Vec<(u64, u64)>,
        /// Facts for `--explain` ("4 KiB blocks, 16 groups, 3 with BLOCK_UNINIT").
        notes: Vec<String>,
    },
    /// Recognised, or not, but to be mapped whole: the reason says why.
    MapWhole {
        /// The filesystem or signature found ("ext4", "LUKS", "unknown").
        fs: String,
        /// Why nothing in it is left out.
        reason: String,
    },
}

/// What a parser proved: free byte ranges of its region, and notes for `--explain`.
pub(crate) type Found = (Vec<(u64, u64)>, Vec<String>);

impl Verdict {
    /// The verdict on `fs` from a parser's analysis: its free space, or the reason to map the
    /// whole region.
    pub(crate) fn from_analysis(fs: &str, analysis: Result<Found, String>) -> Self {
        match analysis {
            Ok((free, notes)) => Verdict::Free {
                fs: fs.to_owned(),
                free,
                notes,
            },
            Err(reason) => Verdict::whole(fs, reason),
        }
    }

    /// A whole-mapping verdict.
    pub fn whole(fs: &str, reason: impl Into<String>) -> Self {
        Verdict::MapWhole {
            fs: fs.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A filesystem parser: `detect` is a cheap magic check; `scan` does the work.
pub(crate) struct Parser {
    pub name: &'static str,
    pub detect: fn(&dyn RandomAccess) -> bool,
    pub scan: fn(&dyn RandomAccess) -> Verdict,
}

/// The parsers, in no particular order (all detections are compared).
pub(crate) const PARSERS: &[Parser] = &[
    Parser {
        name: "btrfs",
        detect: super::btrfs::detect,
        scan: super::btrfs::scan,
    },
    super::ext::PARSER,
    super::fat::PARSER,
    super::exfat::PARSER,
    super::swap::PARSER,
    Parser {
        name: "XFS",
        detect: super::xfs::detect,
        scan: super::xfs::scan,
    },
    Parser {
        name: "NTFS",
        detect: super::ntfs::detect,
        scan: super::ntfs::scan,
    },
];

/// Signatures of things that are never scanned: read-only images have no free space, and
/// encrypted or layered volumes hide their filesystems.
const NEVER_SCANNED: &[(&str, u64, &[u8])] = &[
    ("LUKS", 0, b"LUKS\xba\xbe"),
    ("LVM physical volume", 512 + 24, b"LVM2 001"),
    ("squashfs", 0, b"hsqs"),
    ("erofs", 1024, &[0xE2, 0xE1, 0xF5, 0xE0]),
    ("f2fs", 1024, &[0x10, 0x20, 0xF5, 0xF2]),
    ("cramfs", 0, &[0x45, 0x3D, 0xCD, 0x28]),
    (
        "bcache",
        4096 + 24,
        &[0xC6, 0x85, 0x73, 0xF6, 0x4E, 0x1A, 0x45, 0xCA],
    ),
    ("Linux RAID member", 4096, &[0xFC, 0x4E, 0x2B, 0xA9]),
];

/// What the region holds and what is free in it.
pub(crate) fn scan_region(region: &dyn RandomAccess) -> Verdict {
    let claimed: Vec<&Parser> = PARSERS.iter().filter(|p| (p.detect)(region)).collect();
    match claimed.as_slice() {
        [one] => {
            let verdict = (one.scan)(region);
            validate(verdict, region.len())
        }
        [] => {
            for (name, at, magic) in NEVER_SCANNED {
                let mut buf = vec![0; magic.len()];
                if region.read_exact_at(*at, &mut buf).is_ok() && buf == *magic {
                    return Verdict::whole(
                        name,
                        format!(
                            "{name} is never scanned: it has no free space Blockprint can prove"
                        ),
                    );
                }
            }
            Verdict::whole(
                "unknown",
                "no filesystem Blockprint can scan was recognised",
            )
        }
        several => {
            let names: Vec<&str> = several.iter().map(|p| p.name).collect();
            Verdict::whole(
                &names.join("+"),
                format!(
                    "signatures of {} were all found: which one is real cannot be told",
                    names.join(" and ")
                ),
            )
        }
    }
}

/// The filesystem the scanner recognises in `region` by its signatures: the one parser that
/// claims it, those that all do ("ext2/3/4+FAT", stale signatures), or one that is never
/// scanned (squashfs, LUKS, …); `None` for none.
pub(crate) fn recognise(region: &dyn RandomAccess) -> Option<String> {
    let claimed: Vec<&str> = PARSERS
        .iter()
        .filter(|p| (p.detect)(region))
        .map(|p| p.name)
        .collect();
    if !claimed.is_empty() {
        return Some(claimed.join("+"));
    }
    NEVER_SCANNED.iter().find_map(|(name, at, magic)| {
        let mut buf = vec![0; magic.len()];
        (region.read_exact_at(*at, &mut buf).is_ok() && buf == *magic).then(|| (*name).to_owned())
    })
}

/// A parser's free ranges must lie inside its region; anything else is a parser bug, and
/// mapping everything is the only safe answer to it.
fn validate(verdict: Verdict, len: u64) -> Verdict {
    match &verdict {
        Verdict::Free { fs, free, .. } => match free.iter().find(|&&(s, e)| s > e || e > len) {
            Some(&(s, e)) => Verdict::whole(
                fs,
                format!(
                    "internal check failed: free range {s}..{e} is outside the region of {len} bytes"
                ),
            ),
            None => verdict,
        },
        Verdict::MapWhole { .. } => verdict,
    }
}

/// Reads `len` bytes at `offset` of a region for a parser; anything past the region's end is
/// an error naming `what`, so a hostile length never becomes a huge allocation.
pub(crate) fn read_region(
    region: &dyn RandomAccess,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<Vec<u8>, String> {
    let end = offset
        .checked_add(len)
        .filter(|&end| end <= region.len())
        .ok_or_else(|| format!("the {what} at byte {offset} lies past the end of the region"))?;
    let size = usize::try_from(len).map_err(|_| format!("the {what} is too large to read"))?;
    let mut buf = vec![0; size];
    region
        .read_exact_at(offset, &mut buf)
        .map_err(|e| format!("cannot read the {what} at bytes {offset}..{end}: {e}"))?;
    Ok(buf)
}

/// One parser's verdict on `region`, without detection: each parser must hold on any bytes,
/// claimed or not (the fuzz targets run every parser on its own this way).
pub(crate) fn scan_as(name: &str, region: &dyn RandomAccess) -> Option<Verdict> {
    let parser = PARSERS.iter().find(|p| p.name == name)?;
    Some(validate((parser.scan)(region), region.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Memory;

    /// Every parser, handed bytes it would never claim, maps them whole; unknown names are
    /// `None`.
    #[test]
    fn every_parser_holds_on_bytes_it_would_not_claim() {
        for fill in [0u8, 0xFF] {
            let image = Memory::new(&vec![fill; 1 << 20], "junk.img");
            for parser in PARSERS {
                match scan_as(parser.name, &image) {
                    Some(Verdict::MapWhole { .. }) => {}
                    other => panic!("{} on {fill:#x} bytes: {other:?}", parser.name),
                }
            }
        }
        assert!(scan_as("ext5", &Memory::new(&[0; 4096], "x")).is_none());
    }
}
