//! NTFS: free clusters are the zero bits of `$Bitmap` (MFT record 6),
//! trusted only on a volume that was shut down cleanly.
//!
//! ```text
//!  boot sector ──► geometry (sector, cluster and record sizes, MFT location, volume size)
//!      │
//!      └──► MFT record 0 ($MFT): the MFT's own extents, to find the other records
//!              ├──► record 3 ($Volume): not dirty, no chkdsk pending, known version
//!              ├──► record 2 ($LogFile): reset (all 0xFF) or restart pages marked clean
//!              └──► record 6 ($Bitmap): extents, then the bitmap, one bit per cluster
//!                                         ▼
//!                   free clusters, minus the backup boot sector and the tail
//! ```
//!
//! Every record is read with its update-sequence fixups verified. The clusters of the boot
//! sector, the MFT, its mirror, the log and the bitmap itself must be marked used, or the
//! bitmap is not believed. The backup boot sector is the region's last sector, outside the
//! volume (which is one sector shorter than its partition), and stays mapped with the tail.
//! Not checked: a hibernation file (Windows fast startup) — finding `hiberfil.sys` needs the
//! root directory's index; a hibernated Windows also leaves its log unclean, which is checked.

mod record;
#[cfg(test)]
mod tests;

use record::{Record, Runs, apply_fixups};

use super::Verdict;
use super::fs::{Found, read_region as read};
use crate::source::RandomAccess;

/// The name in verdicts.
const FS: &str = "NTFS";

/// A check's outcome: the error is the reason to map the whole volume.
type Check<T> = Result<T, String>;

/// `$Volume` flags that forbid trusting the bitmap: dirty, and chkdsk under way.
const VOLUME_IS_DIRTY: u16 = 0x0001;
const CHKDSK_UNDERWAY: u16 = 0x4000;
/// How much of the bitmap is read at a time.
const CHUNK: u64 = 1 << 20;

/// What the boot sector says, checked.
struct Volume {
    /// Bytes per sector.
    sector: u64,
    /// Bytes per cluster.
    cluster: u64,
    /// Bytes per MFT record.
    record: u64,
    /// Clusters in the volume.
    clusters: u64,
    /// Where the MFT and its mirror start.
    mft_lcn: u64,
    mirror_lcn: u64,
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> Check<[u8; N]> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!(
                "a field at byte {at} lies outside its {}-byte structure",
                bytes.len()
            )
        })
}

fn le_u16(bytes: &[u8], at: usize) -> Check<u16> {
    Ok(u16::from_le_bytes(field(bytes, at)?))
}

fn le_u32(bytes: &[u8], at: usize) -> Check<u32> {
    Ok(u32::from_le_bytes(field(bytes, at)?))
}

fn le_u64(bytes: &[u8], at: usize) -> Check<u64> {
    Ok(u64::from_le_bytes(field(bytes, at)?))
}

/// Whether the region starts with an NTFS boot sector.
pub(crate) fn detect(region: &dyn RandomAccess) -> bool {
    let mut oem = [0u8; 8];
    region.read_exact_at(3, &mut oem).is_ok() && &oem == b"NTFS    "
}

/// The free byte ranges of an NTFS volume, or why it must be mapped whole.
pub(crate) fn scan(region: &dyn RandomAccess) -> Verdict {
    Verdict::from_analysis(FS, scan_checked(region))
}

fn scan_checked(region: &dyn RandomAccess) -> Check<Found> {
    let vol = boot_sector(region)?;
    let mft_record = Record::read(region, &vol, None, 0)?;
    let mft = Runs::decode(
        &mft_record.unnamed(0x80, "$MFT", true)?,
        &vol,
        false,
        "the $DATA of $MFT",
    )?;
    let volume_note = volume_state(region, &vol, &mft)?;
    // $Bitmap before $LogFile: a stream being scanned reaches the bitmap (near the start)
    // long before the log (mid-volume), and a scan must ask for bytes before they pass.
    let bitmap_record = Record::read(region, &vol, Some(&mft), 6)?;
    let bitmap = Runs::decode(
        &bitmap_record.unnamed(0x80, "$Bitmap", false)?,
        &vol,
        true,
        "the $DATA of $Bitmap",
    )?;
    let needed = vol.clusters.div_ceil(8);
    if bitmap.initialized < needed {
        return Err(format!(
            "$Bitmap holds {} bytes but {} clusters need {needed}",
            bitmap.initialized, vol.clusters
        ));
    }
    let free_clusters = free_clusters(region, &vol, &bitmap)?;
    let (log, log_note) = log_state(region, &vol, &mft)?;

    // Clusters that are in use on every NTFS volume: a bitmap calling any of them free is
    // not to be believed.
    let mirror_clusters = (4 * vol.record).div_ceil(vol.cluster);
    let mut used: Vec<(u64, u64, &str)> = vec![
        (0, 1, "the boot sector"),
        (vol.mirror_lcn, mirror_clusters, "$MFTMirr"),
    ];
    used.extend(mft.clusters().map(|(lcn, n)| (lcn, n, "the MFT")));
    used.extend(bitmap.clusters().map(|(lcn, n)| (lcn, n, "$Bitmap")));
    used.extend(log.clusters().map(|(lcn, n)| (lcn, n, "$LogFile")));
    for (lcn, count, what) in used {
        let next = free_clusters.partition_point(|&(_, end)| end <= lcn);
        if free_clusters
            .get(next)
            .is_some_and(|&(start, _)| start < lcn.saturating_add(count))
        {
            return Err(format!(
                "$Bitmap marks clusters of {what} (from {lcn}) free"
            ));
        }
    }

    // The backup boot sector is the region's last sector; keep it, and everything after the
    // last whole cluster, mapped.
    let limit = (vol.clusters * vol.cluster).min(region.len().saturating_sub(vol.sector));
    let free: Vec<(u64, u64)> = free_clusters
        .iter()
        .map(|&(start, end)| (start * vol.cluster, (end * vol.cluster).min(limit)))
        .filter(|&(start, end)| start < end)
        .collect();
    let total: u64 = free_clusters.iter().map(|&(start, end)| end - start).sum();
    let notes = vec![
        format!(
            "NTFS, {}-byte sectors, {}-byte clusters, {} clusters, {}-byte MFT records",
            vol.sector, vol.cluster, vol.clusters, vol.record
        ),
        volume_note,
        log_note,
        format!(
            "$Bitmap: {total} free clusters in {} runs",
            free_clusters.len()
        ),
        "backup boot sector (the region's last sector) and the tail after the volume kept mapped"
            .into(),
        "not checked: hiberfil.sys (a hibernated Windows also leaves $LogFile unclean)".into(),
    ];
    Ok((free, notes))
}

/// Parses and checks the boot sector.
fn boot_sector(region: &dyn RandomAccess) -> Check<Volume> {
    let boot = read(region, 0, 512, "boot sector")?;
    if boot.get(3..11) != Some(b"NTFS    ".as_slice())
        || boot.get(510..512) != Some([0x55, 0xAA].as_slice())
    {
        return Err("no NTFS boot sector signature".into());
    }
    let sector = u64::from(le_u16(&boot, 0x0B)?);
    if !sector.is_power_of_two() || !(512..=4096).contains(&sector) {
        return Err(format!("{sector} bytes per sector is not valid"));
    }
    // Up to 128 sectors per cluster are stored as is; larger counts as a negative shift.
    let per_cluster = boot[0x0D];
    let cluster = match per_cluster {
        0 => return Err("0 sectors per cluster".into()),
        1..=0x80 if per_cluster.is_power_of_two() => sector * u64::from(per_cluster),
        0xE0..=0xFF => sector << (256 - u32::from(per_cluster)),
        _ => {
            return Err(format!(
                "sectors-per-cluster byte {per_cluster:#x} is not valid"
            ));
        }
    };
    if cluster > 2 << 20 {
        return Err(format!(
            "{cluster}-byte clusters are larger than NTFS allows"
        ));
    }
    // Fields a FAT boot sector would use are zero on NTFS.
    if le_u16(&boot, 0x0E)? != 0
        || boot[0x10] != 0
        || le_u16(&boot, 0x11)? != 0
        || le_u16(&boot, 0x13)? != 0
        || le_u16(&boot, 0x16)? != 0
        || le_u32(&boot, 0x20)? != 0
    {
        return Err("the boot sector has FAT fields set".into());
    }
    let total_sectors = le_u64(&boot, 0x28)?;
    let size = total_sectors
        .checked_mul(sector)
        .filter(|&size| size <= region.len())
        .ok_or_else(|| {
            format!(
                "the volume ({total_sectors} sectors) is larger than its region ({} bytes)",
                region.len()
            )
        })?;
    let clusters = size / cluster;
    let record = match boot[0x40] as i8 {
        n @ 1..=127 => u64::from(n.unsigned_abs()) * cluster,
        n @ -31..=-9 => 1u64 << n.unsigned_abs(),
        n => return Err(format!("MFT record size code {n} is not valid")),
    };
    if !record.is_power_of_two() || !(512..=65536).contains(&record) {
        return Err(format!("{record}-byte MFT records are not valid"));
    }
    let (mft_lcn, mirror_lcn) = (le_u64(&boot, 0x30)?, le_u64(&boot, 0x38)?);
    if mft_lcn == 0 || mft_lcn >= clusters || mirror_lcn == 0 || mirror_lcn >= clusters {
        return Err("the MFT or its mirror lies outside the volume".into());
    }
    Ok(Volume {
        sector,
        cluster,
        record,
        clusters,
        mft_lcn,
        mirror_lcn,
    })
}

/// `$Volume`'s state: refuses a dirty volume, a pending chkdsk and unknown versions.
fn volume_state(region: &dyn RandomAccess, vol: &Volume, mft: &Runs) -> Check<String> {
    let record = Record::read(region, vol, Some(mft), 3)?;
    let info = record.unnamed(0x70, "$Volume", false)?;
    let value = info.value()?;
    let (major, minor, flags) = (
        *value.get(8).unwrap_or(&0),
        *value.get(9).unwrap_or(&0),
        le_u16(value, 10)?,
    );
    if !matches!((major, minor), (1, _) | (3, 0) | (3, 1)) {
        return Err(format!("NTFS version {major}.{minor} is unknown"));
    }
    if flags & VOLUME_IS_DIRTY != 0 {
        return Err("the volume is marked dirty (not cleanly unmounted, or chkdsk is due)".into());
    }
    if flags & CHKDSK_UNDERWAY != 0 {
        return Err("chkdsk was interrupted on this volume".into());
    }
    Ok(format!(
        "NTFS {major}.{minor}, $Volume flags {flags:#06x} (not dirty)"
    ))
}

/// `$LogFile`'s state: reset (all 0xFF, as mkntfs and ntfs-3g leave it), or every restart
/// page present marked clean or with no client in use.
fn log_state(region: &dyn RandomAccess, vol: &Volume, mft: &Runs) -> Check<(Runs, String)> {
    let record = Record::read(region, vol, Some(mft), 2)?;
    let log = Runs::decode(
        &record.unnamed(0x80, "$LogFile", false)?,
        vol,
        true,
        "the $DATA of $LogFile",
    )?;
    // Both restart pages sit within the first 128 KiB whatever the page size (at most 64 KiB);
    // a reset log is 0xFF throughout.
    let head = log.read(region, vol, 0, (128 << 10).min(log.initialized), "$LogFile")?;
    if head.len() == 128 << 10 && head.iter().all(|&b| b == 0xFF) {
        return Ok((log, "$LogFile is reset (empty), nothing to replay".into()));
    }
    let first = head.get(..512).ok_or("$LogFile is too short")?;
    let page = u64::from(le_u32(first, 16)?);
    if !page.is_power_of_two() || !(512..=65536).contains(&page) || log.initialized < 2 * page {
        return Err("$LogFile has no valid restart page".into());
    }
    for (i, at) in [0, page].into_iter().enumerate() {
        let mut bytes = log.read(region, vol, at, page, "$LogFile restart page")?;
        if i == 1 && bytes.iter().all(|&b| b == 0xFF) {
            continue;
        }
        apply_fixups(&mut bytes, b"RSTR", "$LogFile restart page")?;
        let area = usize::from(le_u16(&bytes, 24)?);
        let in_use = le_u16(&bytes, area.saturating_add(12))?;
        let flags = le_u16(&bytes, area.saturating_add(14))?;
        if in_use != 0xFFFF && flags & 0x0002 == 0 {
            return Err(
                "$LogFile says the volume was not shut down cleanly (Windows may be hibernated)"
                    .into(),
            );
        }
    }
    Ok((log, "$LogFile restart pages marked clean".into()))
}

/// The runs of zero bits in the bitmap, as cluster ranges `(start, end)`, in order.
fn free_clusters(region: &dyn RandomAccess, vol: &Volume, bitmap: &Runs) -> Check<Vec<(u64, u64)>> {
    let mut free = Vec::new();
    let mut run_start: Option<u64> = None;
    let bytes = vol.clusters.div_ceil(8);
    let mut at = 0;
    while at < bytes {
        let len = CHUNK.min(bytes - at);
        let chunk = bitmap.read(region, vol, at, len, "$Bitmap")?;
        for (i, &byte) in chunk.iter().enumerate() {
            let base = (at + i as u64) * 8;
            // Whole bytes that continue the current state need no bit-by-bit look.
            let settled = if run_start.is_some() { 0x00 } else { 0xFF };
            if byte == settled && base + 8 <= vol.clusters {
                continue;
            }
            for bit in 0..8u64 {
                let lcn = base + bit;
                if lcn >= vol.clusters {
                    break;
                }
                match (byte >> bit & 1 == 0, run_start) {
                    (true, None) => run_start = Some(lcn),
                    (false, Some(start)) => {
                        free.push((start, lcn));
                        run_start = None;
                    }
                    _ => {}
                }
            }
        }
        at += len;
    }
    if let Some(start) = run_start {
        free.push((start, vol.clusters));
    }
    Ok(free)
}
