//! The layout of an image: optical-disc formats (mapped whole), partition tables, or a bare
//! filesystem. Everything outside the regions returned here stays mapped: partition tables,
//! EBRs, gaps (boot ROMs read bootloaders there), the tail, the backup GPT.

mod gpt;
mod mbr;
#[cfg(test)]
mod tests;

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
    let mbr = mbr::read(image);
    for sector in [512, 4096] {
        match gpt::read(image, sector) {
            Ok(None) => continue,
            Ok(Some(table)) => return from_gpt(image, &table, &mbr),
            Err(reason) => {
                return whole(format!(
                    "GPT ({sector}-byte sectors) that fails its checks: {reason}"
                ));
            }
        }
    }
    match mbr {
        mbr::Mbr::None => Layout {
            description: "no partition table (a bare filesystem)".into(),
            regions: vec![Region {
                start: 0,
                len: image.len(),
                place: "the whole image".into(),
                forced: None,
            }],
        },
        mbr::Mbr::Protective(_) => whole("a protective MBR (type 0xEE) without a valid GPT".into()),
        mbr::Mbr::Broken(reason) => whole(format!("an MBR that fails its checks: {reason}")),
        mbr::Mbr::Table(entries) => {
            let logical = entries.iter().filter(|e| e.number > 4).count();
            let regions = entries
                .iter()
                .map(|e| {
                    (
                        e.start,
                        e.len,
                        format!("partition {} (MBR type 0x{:02X})", e.number, e.kind),
                    )
                })
                .collect();
            Layout {
                description: format!(
                    "MBR, {} partition{}{}",
                    entries.len(),
                    if entries.len() == 1 { "" } else { "s" },
                    if logical > 0 {
                        format!(" ({logical} logical)")
                    } else {
                        String::new()
                    }
                ),
                regions: checked(regions, image.len()),
            }
        }
    }
}

/// The kind of partition table an image starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// A GUID partition table (a protective MBR counts, even when its GPT fails a check).
    Gpt,
    /// An MBR partition table (broken ones too: it was meant as one).
    Mbr,
}

/// Which partition table `image` starts with, read as [`probe`] reads it (ISO 9660 and UDF
/// left aside); `None` for none.
pub(crate) fn table(image: &dyn RandomAccess) -> Option<Table> {
    for sector in [512, 4096] {
        if !matches!(gpt::read(image, sector), Ok(None)) {
            return Some(Table::Gpt);
        }
    }
    match mbr::read(image) {
        mbr::Mbr::None => None,
        mbr::Mbr::Protective(_) => Some(Table::Gpt),
        mbr::Mbr::Table(_) | mbr::Mbr::Broken(_) => Some(Table::Mbr),
    }
}

/// Nothing is scanned: the whole image stays mapped, for `reason`.
fn whole(reason: String) -> Layout {
    Layout {
        description: reason,
        regions: Vec::new(),
    }
}

/// The regions of a GPT, after checking that a hybrid MBR agrees with it.
fn from_gpt(image: &dyn RandomAccess, table: &gpt::Gpt, mbr: &mbr::Mbr) -> Layout {
    match mbr {
        mbr::Mbr::Protective(others) => {
            // A hybrid MBR: every non-protective entry must be one of the GPT's partitions,
            // or firmware reading the MBR sees a different disk than the GPT describes.
            if let Some(stray) = others.iter().find(|m| {
                !table
                    .entries
                    .iter()
                    .any(|g| g.start == m.start && g.len == m.len)
            }) {
                return whole(format!(
                    "a hybrid MBR whose partition {} does not match any GPT partition",
                    stray.number
                ));
            }
        }
        mbr::Mbr::Table(_) | mbr::Mbr::Broken(_) => {
            return whole("both a GPT and an MBR partition table without a protective entry: which one the firmware uses cannot be told".into());
        }
        mbr::Mbr::None => {
            return whole("a GPT without a protective MBR".into());
        }
    }
    let regions = table
        .entries
        .iter()
        .map(|e| {
            let kind = gpt::type_name(&e.kind).map_or_else(|| e.kind.clone(), str::to_owned);
            let name = if e.name.is_empty() {
                String::new()
            } else {
                format!(" '{}'", e.name)
            };
            (
                e.start,
                e.len,
                format!("partition {} (GPT{name}, {kind})", e.number),
            )
        })
        .collect();
    Layout {
        description: format!(
            "GPT, {}-byte sectors, {} partition{}",
            table.sector,
            table.entries.len(),
            if table.entries.len() == 1 { "" } else { "s" }
        ),
        regions: checked(regions, image.len()),
    }
}

/// Regions from table entries, with those past the end of the image or overlapping another
/// forced to be mapped whole.
fn checked(entries: Vec<(u64, u64, String)>, size: u64) -> Vec<Region> {
    let mut regions: Vec<Region> = entries
        .into_iter()
        .map(|(start, len, place)| {
            let end = start.saturating_add(len);
            let forced = (end > size).then(|| {
                format!(
                    "the partition ends at byte {end}, past the end of the image ({size} bytes)"
                )
            });
            Region {
                start,
                len: len.min(size.saturating_sub(start)),
                place,
                forced,
            }
        })
        .collect();
    for i in 0..regions.len() {
        for j in 0..regions.len() {
            let (a, b) = (&regions[i], &regions[j]);
            if i != j
                && a.start < b.start + b.len
                && b.start < a.start + a.len
                && regions[i].forced.is_none()
            {
                let other = regions[j].place.clone();
                regions[i].forced = Some(format!("it overlaps {other}"));
            }
        }
    }
    regions
}

/// ISO 9660 ("CD001") or UDF ("BEA01"/"NSR02"/"NSR03") volume recognition at 32 KiB: checked
/// before any partition table, because hybrid ISOs carry an MBR whose partitions overlap the
/// ISO volume.
fn optical(image: &dyn RandomAccess) -> Option<&'static str> {
    for descriptor in 0..8u64 {
        let mut id = [0u8; 5];
        if image
            .read_exact_at(32_768 + descriptor * 2048 + 1, &mut id)
            .is_err()
        {
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
