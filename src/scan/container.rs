//! The layout of an image: optical-disc formats (mapped whole), partition tables, or a bare
//! filesystem. Everything outside the regions returned here stays mapped: partition tables,
//! EBRs, gaps (boot ROMs read bootloaders there), the tail, the backup GPT.

use crate::source::RandomAccess;

/// A part of the image that may hold a filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    /// Byte offset in the image.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// For people: "partition 2 (GPT 'rootfs')".
    pub place: String,
    /// Set when the region must be mapped whole without looking inside (overlaps, past EOF).
    pub forced: Option<String>,
}

/// The partitioning of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// For people: "GPT, 512-byte sectors, 4 partitions".
    pub description: String,
    /// Regions to scan; nothing else is ever left out.
    pub regions: Vec<Region>,
}

/// Probes `image`: ISO 9660/UDF first (map everything), then partition tables, else a bare
/// filesystem.
pub(crate) fn probe(image: &dyn RandomAccess) -> Layout {
    if let Some(what) = optical(image) {
        return Layout {
            description: format!("{what}: every sector belongs to the image"),
            regions: Vec::new(),
        };
    }
    Layout {
        description: "no partition table (a bare filesystem)".into(),
        regions: vec![Region {
            start: 0,
            len: image.len(),
            place: "the whole image".into(),
            forced: None,
        }],
    }
}

/// ISO 9660 ("CD001") or UDF ("BEA01"/"NSR02"/"NSR03") volume recognition at 32 KiB: checked
/// before any partition table, because hybrid ISOs carry an MBR whose partitions overlap the
/// ISO volume.
fn optical(image: &dyn RandomAccess) -> Option<&'static str> {
    for descriptor in 0..8u64 {
        let mut id = [0u8; 5];
        if image.read_exact_at(32_768 + descriptor * 2048 + 1, &mut id).is_err() {
            return None;
        }
        match &id {
            b"CD001" => return Some("ISO 9660"),
            b"BEA01" | b"NSR02" | b"NSR03" => return Some("UDF"),
            _ => {}
        }
    }
    None
}
