//! The boot partition's FAT filesystem, edited in place with the `fatfs` crate: read a file,
//! write one whole (made, or cut to its new length), list the root. Nothing is mounted.
//!
//! The filesystem is opened on a view of the partition (see [`super::disk`]) and closed with
//! [`Fat::close`], which writes the free-cluster count and clears the "in use" flag, so
//! `fsck.vfat` finds it as clean as it was.
//!
//! fatfs trusts the FAT: a cluster number that does not exist makes its arithmetic overflow.
//! So [`check`] goes over the root folder when the filesystem is opened, and over the
//! folders on a path before fatfs goes into them, and refuses a damaged FAT by name.

use std::cell::{Cell, RefCell, RefMut};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use fatfs::{Date, DateTime, FileSystem, FsOptions, Time, TimeProvider};

use super::FirstBootError;

mod check;

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

/// One of several handles on the same storage, each with its own position: fatfs holds
/// one, the checks of [`check`] read through others.
struct Shared<S> {
    storage: Rc<RefCell<S>>,
    pos: u64,
}

impl<S> Shared<S> {
    fn new(storage: &Rc<RefCell<S>>) -> Self {
        Self {
            storage: Rc::clone(storage),
            pos: 0,
        }
    }

    /// The storage, positioned where this handle is.
    fn at(&self) -> io::Result<RefMut<'_, S>>
    where
        S: Seek,
    {
        let mut storage = self
            .storage
            .try_borrow_mut()
            .map_err(|_| io::Error::other("the boot partition is in use twice at once"))?;
        storage.seek(SeekFrom::Start(self.pos))?;
        Ok(storage)
    }
}

impl<S: Read + Seek> Read for Shared<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.at()?.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: Write + Seek> Write for Shared<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.at()?.write(data)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.at()?.flush()
    }
}

impl<S: Seek> Seek for Shared<S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(at) => at,
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "a seek before the start")
            })?,
            SeekFrom::End(_) => self.at()?.seek(to)?,
        };
        Ok(self.pos)
    }
}

/// An open FAT filesystem on `S`, a view of one partition.
pub(crate) struct Fat<S: Read + Write + Seek> {
    fs: FileSystem<Shared<S>>,
    /// The storage fatfs works on, read by the checks too.
    storage: Rc<RefCell<S>>,
    geometry: check::Geometry,
    /// How many levels of folders below the root [`check::check`] has found sound.
    checked: Cell<usize>,
    /// The partition, for messages.
    place: String,
}

impl<S: Read + Write + Seek> Fat<S> {
    /// Opens the FAT filesystem on `volume` (positioned at its start), named `place`: its
    /// boot sector must pass [`check::Geometry::parse`], and its root folder [`check::check`]
    /// (no file or folder in it may lead fatfs to a cluster that does not exist).
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
        let geometry = check::Geometry::parse(&boot, len)
            .map_err(|reason| failed(io::Error::new(io::ErrorKind::InvalidData, reason)))?;
        let options = FsOptions::new()
            .update_accessed_date(false)
            .time_provider(&UTC);
        let storage = Rc::new(RefCell::new(volume));
        let fs = FileSystem::new(Shared::new(&storage), options).map_err(failed)?;
        let fat = Self {
            fs,
            storage,
            geometry,
            checked: Cell::new(0),
            place: place.to_owned(),
        };
        fat.check(0).map_err(failed)?;
        Ok(fat)
    }

    /// Checks the root folder and `depth` levels of folders below it, unless done already.
    fn check(&self, depth: usize) -> io::Result<()> {
        if depth < self.checked.get() {
            return Ok(());
        }
        check::check(&mut Shared::new(&self.storage), &self.geometry, depth)?;
        self.checked.set(depth + 1);
        Ok(())
    }

    /// The folders of `path` (from the root, `/` separated) and its last part, once the
    /// folders on the way have been checked.
    fn walk<'p>(
        &self,
        path: &'p str,
        action: &str,
    ) -> Result<(Vec<&'p str>, &'p str), FirstBootError> {
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_owned());
        let result = if parts.iter().any(|p| matches!(*p, "." | "..")) {
            Err(invalid("the path goes through '.' or '..'"))
        } else if let Some(name) = parts.pop() {
            self.check(parts.len()).map(|()| name)
        } else {
            Err(invalid("the path names no file"))
        };
        let name = result.map_err(self.failed(format!("{action} '{path}'")))?;
        Ok((parts, name))
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
        self.walk(path, "read")?;
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
        let (parts, name) = self.walk(path, "write")?;
        let mut dir = self.fs.root_dir();
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
