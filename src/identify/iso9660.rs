//! ISO 9660 (ECMA-119) and its Joliet extension: the volume name, and whether a path exists.
//!
//! Names are compared without case, without the `;1` version and a trailing dot, so
//! `SOURCES/INSTALL.WIM;1` (ISO 9660) and `sources/install.wim` (Joliet) are one path.

use super::budget::{Budget, Doubt};

/// Bytes of a logical sector: directory records never cross one.
const SECTOR: u64 = 2048;
/// Bytes of a directory read at most.
const MAX_DIRECTORY: u64 = 1 << 20;
/// Path components followed at most.
const MAX_DEPTH: usize = 8;
/// Offset of the root directory record in a volume descriptor.
const ROOT_RECORD: usize = 156;

/// One directory tree: the primary volume's or Joliet's.
#[derive(Debug, Clone, Copy)]
struct Tree {
    /// Bytes per logical block (extents are counted in them).
    block: u64,
    /// The root directory's extent (block number) and length in bytes.
    root: (u64, u64),
    /// Names in UCS-2 (Joliet) rather than bytes.
    joliet: bool,
}

/// An ISO 9660 volume.
#[derive(Debug, Clone)]
pub(super) struct Volume {
    /// The volume identifier (the primary volume's, else Joliet's).
    pub name: String,
    /// Joliet's tree first (its names are the real ones), then the primary one.
    trees: Vec<Tree>,
}

/// Whether a supplementary volume descriptor is Joliet's (its escape sequence names UCS-2).
pub(super) fn is_joliet(descriptor: &[u8]) -> bool {
    matches!(
        descriptor.get(88..91),
        Some(b"%/@") | Some(b"%/C") | Some(b"%/E")
    )
}

impl Volume {
    /// The volume of a primary and a Joliet descriptor (2048 bytes each); `None` if neither
    /// has a usable root directory.
    pub(super) fn from_descriptors(primary: Option<&[u8]>, joliet: Option<&[u8]>) -> Option<Self> {
        let primary = primary.and_then(|d| tree(d, false).map(|t| (d, t)));
        let joliet = joliet.and_then(|d| tree(d, true).map(|t| (d, t)));
        let mut name = primary
            .map(|(d, _)| decode(&d[40..72], false))
            .unwrap_or_default();
        if name.is_empty() {
            name = joliet
                .map(|(d, _)| decode(&d[40..72], true))
                .unwrap_or_default();
        }
        let trees: Vec<Tree> = [joliet, primary]
            .into_iter()
            .flatten()
            .map(|(_, t)| t)
            .collect();
        (!trees.is_empty()).then_some(Self { name, trees })
    }

    /// Whether a file or directory at `path` (names, from the root) exists in any tree. A
    /// tree that cannot be read is a doubt only if no other tree holds the path.
    pub(super) fn contains(&self, r: &Budget, path: &[&str]) -> Result<bool, Doubt> {
        let mut doubt = None;
        for tree in &self.trees {
            match lookup(r, tree, path) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(d) => doubt = doubt.or(Some(d)),
            }
        }
        doubt.map_or(Ok(false), Err)
    }
}

/// The tree a descriptor describes, if its block size and root record are sane.
fn tree(descriptor: &[u8], joliet: bool) -> Option<Tree> {
    let block = u64::from(u16::from_le_bytes([descriptor[128], descriptor[129]]));
    if !matches!(block, 512 | 1024 | 2048) {
        return None;
    }
    let record = descriptor.get(ROOT_RECORD..ROOT_RECORD + 34)?;
    let (extent, size) = (
        u64::from(crate::le::u32_at(record, 2)),
        u64::from(crate::le::u32_at(record, 10)),
    );
    (record[0] >= 34 && record[25] & 2 != 0).then_some(Tree {
        block,
        root: (extent, size),
        joliet,
    })
}

/// Whether `path` exists in `tree`.
fn lookup(r: &Budget, tree: &Tree, path: &[&str]) -> Result<bool, Doubt> {
    if path.len() > MAX_DEPTH {
        return Err(Doubt::new("the path looked for is too deep"));
    }
    let mut directory = tree.root;
    for (i, want) in path.iter().enumerate() {
        let Some((extent, size, is_dir)) = find(r, tree, directory, want)? else {
            return Ok(false);
        };
        if i + 1 == path.len() {
            return Ok(true);
        }
        if !is_dir {
            return Ok(false);
        }
        directory = (extent, size);
    }
    Ok(false)
}

/// The record named `want` in the directory at `(extent, size)`: its extent, size and whether
/// it is a directory.
fn find(
    r: &Budget,
    tree: &Tree,
    (extent, size): (u64, u64),
    want: &str,
) -> Result<Option<(u64, u64, bool)>, Doubt> {
    if size > MAX_DIRECTORY {
        return Err(Doubt(format!(
            "an ISO 9660 directory of {size} bytes is larger than the {} KiB read",
            MAX_DIRECTORY >> 10
        )));
    }
    let at = extent
        .checked_mul(tree.block)
        .ok_or_else(|| Doubt::new("an ISO 9660 directory extent is out of range"))?;
    let data = r.read(at, size, "an ISO 9660 directory")?;
    let mut pos = 0usize;
    while pos < data.len() {
        let len = usize::from(data[pos]);
        let sector_end = (pos / SECTOR as usize + 1) * SECTOR as usize;
        if len == 0 {
            // The rest of this sector is padding.
            pos = sector_end;
            continue;
        }
        let record = data
            .get(pos..pos + len)
            .filter(|_| len >= 34 && pos + len <= sector_end)
            .ok_or_else(|| {
                Doubt(format!(
                    "a damaged ISO 9660 directory record at byte {} of the image",
                    at + pos as u64
                ))
            })?;
        let name_len = usize::from(record[32]);
        let name = record.get(33..33 + name_len).ok_or_else(|| {
            Doubt(format!(
                "an ISO 9660 directory record at byte {} names more bytes than it holds",
                at + pos as u64
            ))
        })?;
        pos += len;
        if name == [0] || name == [1] {
            continue;
        }
        if same_name(&decode(name, tree.joliet), want) {
            let extent = u64::from(crate::le::u32_at(record, 2)) + u64::from(record[1]);
            let size = u64::from(crate::le::u32_at(record, 10));
            return Ok(Some((extent, size, record[25] & 2 != 0)));
        }
    }
    Ok(None)
}

/// Text of an identifier: UCS-2 big-endian for Joliet, else bytes (ISO 9660's a- and
/// d-characters are ASCII; Latin-1 is read for anything above). Padding is trimmed.
pub(super) fn decode(bytes: &[u8], ucs2: bool) -> String {
    let text: String = if ucs2 {
        let units = bytes
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]));
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    };
    text.trim_end_matches(['\0', ' ']).to_owned()
}

/// Whether an on-disc name is `want`: case-insensitive, without a `;1` version or the dot
/// that ends a name without extension.
pub(super) fn same_name(name: &str, want: &str) -> bool {
    let name = name.rsplit_once(';').map_or(name, |(base, _)| base);
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_lowercase() == want.to_lowercase()
}
