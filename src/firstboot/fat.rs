//! The boot partition's FAT filesystem, edited in place with the `fatfs` crate: read a file,
//! write one whole (made, or cut to its new length), list the root. Nothing is mounted.
//!
//! The filesystem is opened on a view of the partition (see [`super::disk`]) and closed with
//! [`Fat::close`], which writes the free-cluster count and clears the "in use" flag, so
//! `fsck.vfat` finds it as clean as it was.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use fatfs::{Date, DateTime, FileSystem, FsOptions, Time, TimeProvider};

use super::FirstBootError;

/// The largest file read back: the files a first-boot format edits are a few KiB (the
/// firmware reads at most 4 KiB of `cmdline.txt`), so anything larger is not one of them.
pub(crate) const MAX_READ: u64 = 4 << 20;

/// Time stamps of files written: the current time in UTC (FAT keeps no time zone; a board
/// without a clock cares only that they are plausible).
#[derive(Debug)]
struct Utc;

static UTC: Utc = Utc;

impl Utc {
    fn now() -> DateTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        date_time(secs)
    }
}

impl TimeProvider for Utc {
    fn get_current_date(&self) -> Date {
        Self::now().date
    }

    fn get_current_date_time(&self) -> DateTime {
        Self::now()
    }
}

/// `secs` after 1970 as a FAT date and time, clamped to what FAT can hold (1980 to 2107).
fn date_time(secs: u64) -> DateTime {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let of_day = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (year, month, day, of_day) = match year {
        ..1980 => (1980, 1, 1, 0),
        2108.. => (2107, 12, 31, 86_399),
        _ => (year, month, day, of_day),
    };
    let narrow = |v: i64| u16::try_from(v).unwrap_or(1);
    DateTime {
        date: Date {
            year: narrow(year),
            month: narrow(month),
            day: narrow(day),
        },
        time: Time {
            hour: u16::try_from(of_day / 3600).unwrap_or(0),
            min: u16::try_from(of_day / 60 % 60).unwrap_or(0),
            sec: u16::try_from(of_day % 60).unwrap_or(0),
            millis: 0,
        },
    }
}

/// Checks the BIOS parameter block of a FAT boot sector against a volume of `len` bytes, in
/// 64-bit arithmetic: every region inside the volume, the FAT large enough for the clusters,
/// FAT32's root directory a cluster that exists. The FAT library trusts these numbers (a
/// damaged boot sector would make it compute past the ends of its integers); a card image's
/// must not be trusted.
fn check_boot_sector(boot: &[u8; 512], len: u64) -> Result<(), String> {
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
    let u32_at = |at: usize| {
        u64::from(u32::from_le_bytes([
            boot[at],
            boot[at + 1],
            boot[at + 2],
            boot[at + 3],
        ]))
    };
    let bytes_per_sector = u16_at(11);
    let per_cluster = u64::from(boot[13]);
    let (reserved, fats, root_entries) = (u16_at(14), u64::from(boot[16]), u16_at(17));
    let total = if u16_at(19) != 0 {
        u16_at(19)
    } else {
        u32_at(32)
    };
    let per_fat = if u16_at(22) != 0 {
        u16_at(22)
    } else {
        u32_at(36)
    };
    if boot[510..512] != [0x55, 0xAA] {
        return Err("its boot sector has no 0x55AA signature".into());
    }
    if !matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        || !per_cluster.is_power_of_two()
        || per_cluster > 128
    {
        return Err(format!(
            "its boot sector gives impossible sizes ({bytes_per_sector}-byte sectors, \
             {per_cluster} per cluster)"
        ));
    }
    if reserved == 0 || fats == 0 || per_fat == 0 || total == 0 {
        return Err("its boot sector leaves out the reserved sectors, the FAT or the size".into());
    }
    let root_sectors = (root_entries * 32).div_ceil(bytes_per_sector);
    let data_start = reserved + fats * per_fat + root_sectors;
    if data_start >= total || total * bytes_per_sector > len {
        return Err(format!(
            "its boot sector says it has {total} sectors of {bytes_per_sector} bytes (data \
             from sector {data_start}), which does not fit the partition's {len} bytes"
        ));
    }
    let clusters = (total - data_start) / per_cluster;
    let bits = if clusters < 4085 {
        12
    } else if clusters < 65525 {
        16
    } else {
        32
    };
    if per_fat * bytes_per_sector * 8 < (clusters + 2) * bits {
        return Err(format!(
            "its FAT ({per_fat} sectors) is too small for its {clusters} clusters"
        ));
    }
    if bits == 32 && !(2..clusters + 2).contains(&u32_at(44)) {
        return Err(format!(
            "its root directory starts at cluster {}, which does not exist",
            u32_at(44)
        ));
    }
    Ok(())
}

/// An open FAT filesystem on `S`, a view of one partition.
pub(crate) struct Fat<S: Read + Write + Seek> {
    fs: FileSystem<S>,
    /// The partition, for messages.
    place: String,
}

impl<S: Read + Write + Seek> Fat<S> {
    /// Opens the FAT filesystem on `volume` (positioned at its start), named `place`, once
    /// its boot sector has passed [`check_boot_sector`].
    pub(crate) fn open(mut volume: S, place: &str) -> Result<Self, FirstBootError> {
        let failed = |source| FirstBootError::Fat {
            action: "open the FAT filesystem".into(),
            place: place.to_owned(),
            source,
        };
        let mut boot = [0u8; 512];
        let len = volume.seek(SeekFrom::End(0)).map_err(failed)?;
        volume
            .seek(SeekFrom::Start(0))
            .and_then(|_| volume.read_exact(&mut boot))
            .and_then(|()| volume.seek(SeekFrom::Start(0)))
            .map_err(failed)?;
        check_boot_sector(&boot, len)
            .map_err(|reason| failed(io::Error::new(io::ErrorKind::InvalidData, reason)))?;
        let options = FsOptions::new()
            .update_accessed_date(false)
            .time_provider(&UTC);
        let fs = FileSystem::new(volume, options).map_err(|source| FirstBootError::Fat {
            action: "open the FAT filesystem".into(),
            place: place.to_owned(),
            source,
        })?;
        Ok(Self {
            fs,
            place: place.to_owned(),
        })
    }

    fn failed(&self, action: String) -> impl FnOnce(io::Error) -> FirstBootError + '_ {
        move |source| FirstBootError::Fat {
            action,
            place: self.place.clone(),
            source,
        }
    }

    /// The names in the root directory (long names where there are any), without `.`
    /// entries and the volume label.
    pub(crate) fn list_root(&self) -> Result<Vec<String>, FirstBootError> {
        let mut names = Vec::new();
        for entry in self.fs.root_dir().iter() {
            let entry = entry.map_err(self.failed("list the root directory".into()))?;
            let name = entry.file_name();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The whole content of the file at `path` (from the root, `/` separated; case does not
    /// matter, as on FAT), or `None` if there is none. A file over [`MAX_READ`] is an error.
    pub(crate) fn read(&self, path: &str) -> Result<Option<Vec<u8>>, FirstBootError> {
        let root = self.fs.root_dir();
        let mut file = match root.open_file(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.failed(format!("open '{path}'"))(e)),
        };
        let mut bytes = Vec::new();
        let read = (&mut file)
            .take(MAX_READ + 1)
            .read_to_end(&mut bytes)
            .map_err(self.failed(format!("read '{path}'")))?;
        if read as u64 > MAX_READ {
            return Err(FirstBootError::TooLarge {
                file: path.to_owned(),
                place: self.place.clone(),
                limit: MAX_READ,
            });
        }
        Ok(Some(bytes))
    }

    /// Writes `bytes` as the whole content of `path`: a new file, or an existing one
    /// overwritten and cut to the new length. Its time stamp is now. A folder on the way must
    /// exist already (fatfs 0.3 cannot make one that `fsck.vfat` finds clean; every format
    /// writes at the root).
    pub(crate) fn write(&self, path: &str, bytes: &[u8]) -> Result<(), FirstBootError> {
        let mut dir = self.fs.root_dir();
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some(name) = parts.pop() else {
            return Err(self.failed(format!("write '{path}'"))(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path names no file",
            )));
        };
        for part in parts {
            dir = dir
                .open_dir(part)
                .map_err(self.failed(format!("open the folder '{part}' for '{path}'")))?;
        }
        let mut file = dir
            .create_file(name)
            .map_err(self.failed(format!("create '{path}'")))?;
        file.write_all(bytes)
            .and_then(|()| file.truncate())
            .and_then(|()| file.flush())
            .map_err(self.failed(format!("write '{path}' ({} bytes)", bytes.len())))
    }

    /// Closes the filesystem: the free-cluster count is written and the "in use" flag
    /// cleared. Dropping without closing does the same but cannot report a failure.
    pub(crate) fn close(self) -> Result<(), FirstBootError> {
        let place = self.place;
        self.fs.unmount().map_err(|source| FirstBootError::Fat {
            action: "close the FAT filesystem".into(),
            place,
            source,
        })
    }
}

#[cfg(test)]
mod tests;
