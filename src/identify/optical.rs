//! ISO 9660 and UDF volumes: recognised by their volume descriptors at 32 KiB, judged by the
//! boot structure in their system area (the first 32 KiB) and by the files they hold.
//!
//! Microsoft's installer ISOs are a UDF volume with an ISO 9660 part that holds only a
//! README.TXT, so both are read: the ISO 9660 tree (Joliet too) and the UDF tree.

use super::budget::{Budget, Doubt};
use super::{Identity, TableKind, iso9660, udf};

/// Where the volume recognition area starts.
const VRS: u64 = 32 << 10;
/// Bytes per descriptor slot of the area.
const SLOT: u64 = 2048;
/// Descriptors looked at at most.
const MAX_DESCRIPTORS: u64 = 64;

/// The files that make a Windows installer, as paths of names; found case-insensitively.
const WINDOWS: &[&[&str]] = &[
    &["sources", "install.wim"],
    &["sources", "install.esd"],
    &["bootmgr"],
];

/// What the volume recognition area names.
#[derive(Default)]
struct Descriptors {
    primary: Option<Vec<u8>>,
    joliet: Option<Vec<u8>>,
    udf: bool,
}

/// The identity of an ISO 9660 or UDF volume; `None` when `r` is neither.
pub(super) fn recognise(r: &Budget) -> Result<Option<Identity>, Doubt> {
    let Some(found) = descriptors(r)? else {
        return Ok(None);
    };
    let iso = iso9660::Volume::from_descriptors(found.primary.as_deref(), found.joliet.as_deref());
    let udf = if found.udf {
        udf::Volume::open(r).map(Some).transpose()
    } else {
        None
    };
    let volume = [
        iso.as_ref().map(|v| v.name.clone()),
        udf.as_ref()
            .and_then(|u| u.as_ref().ok())
            .map(|v| v.name.clone()),
    ]
    .into_iter()
    .flatten()
    .find(|name| !name.is_empty())
    .unwrap_or_default();
    if iso.is_none() && !matches!(udf, Some(Ok(_))) {
        // Descriptors without a volume behind them: not an ISO after all.
        return match udf {
            Some(Err(doubt)) => Err(doubt),
            _ => Ok(None),
        };
    }
    if let Some(table) = boot_table(r)? {
        return Ok(Some(Identity::HybridIso { volume, table }));
    }
    let mut evidence = Vec::new();
    let mut doubt = None;
    for path in WINDOWS {
        let mut found = false;
        if let Some(iso) = &iso {
            match iso.contains(r, path) {
                Ok(yes) => found |= yes,
                Err(d) => doubt = doubt.or(Some(d)),
            }
        }
        match &udf {
            Some(Ok(volume)) if !found => match volume.contains(r, path) {
                Ok(yes) => found |= yes,
                Err(d) => doubt = doubt.or(Some(d)),
            },
            Some(Err(d)) => doubt = doubt.or(Some(d.clone())),
            _ => {}
        }
        if found {
            evidence.push(path.join("/"));
        }
    }
    if !evidence.is_empty() {
        return Ok(Some(Identity::WindowsInstaller { volume, evidence }));
    }
    match doubt {
        // It may hold Windows files where they could not be read.
        Some(Doubt(reason)) => Ok(Some(Identity::Undetermined {
            reason: format!("the ISO volume '{volume}' could not be read to the end: {reason}"),
        })),
        None => Ok(Some(Identity::OpticalOnlyIso { volume })),
    }
}

/// The ISO 9660 and UDF descriptors of the volume recognition area; `None` when its first
/// slot is neither.
fn descriptors(r: &Budget) -> Result<Option<Descriptors>, Doubt> {
    let mut found = Descriptors::default();
    for i in 0..MAX_DESCRIPTORS {
        let at = VRS + i * SLOT;
        if !r.holds(at, SLOT) {
            break;
        }
        let d = r.read(at, SLOT, "a volume descriptor")?;
        match &d[1..6] {
            b"CD001" => match d[0] {
                1 if found.primary.is_none() => found.primary = Some(d),
                2 if found.joliet.is_none() && iso9660::is_joliet(&d) => found.joliet = Some(d),
                _ => {}
            },
            b"BEA01" | b"NSR02" | b"NSR03" => found.udf = true,
            b"BOOT2" | b"CDW02" => {}
            b"TEA01" => break,
            _ if i == 0 => return Ok(None),
            _ => break,
        }
    }
    let any = found.primary.is_some() || found.joliet.is_some() || found.udf;
    Ok(any.then_some(found))
}

/// The MBR or GPT in the system area of an ISO, that makes it boot from a USB stick: a GPT
/// header at byte 512, or a boot signature with at least one partition entry in use.
fn boot_table(r: &Budget) -> Result<Option<TableKind>, Doubt> {
    let area = r.read(0, 1024, "the system area")?;
    if &area[512..520] == b"EFI PART" {
        return Ok(Some(TableKind::Gpt));
    }
    if area[510..512] != [0x55, 0xAA] {
        return Ok(None);
    }
    let used = area[0x1BE..0x1FE].chunks_exact(16).any(|e| {
        let (status, kind) = (e[0], e[4]);
        let sectors = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
        (status == 0 || status == 0x80) && kind != 0 && sectors != 0
    });
    Ok(used.then_some(TableKind::Mbr))
}
