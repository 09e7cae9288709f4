//! Downloaded images kept for the next card: `$XDG_CACHE_HOME/blockprint/images/`, one file
//! per download, named by its SHA-256 (so only a catalog entry that publishes one is kept, and
//! a file can never be taken for another), written while the first write reads it and kept
//! only once its SHA-256 has matched. The least recently used go first when the cache passes
//! its quota (20 GB unless told otherwise). A download cut short (the network, a restart)
//! leaves its `.part`, which the next download of the same file resumes from its end; a
//! download whose SHA-256 does not match leaves nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The cache's size limit unless told otherwise, in bytes.
pub const DEFAULT_QUOTA: u64 = 20_000_000_000;

/// A folder of cached downloads.
#[derive(Debug, Clone)]
pub struct ImageCache {
    dir: PathBuf,
    quota: u64,
}

/// "6939d39c…" in full.
fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl ImageCache {
    /// The cache in `dir`, kept under `quota` bytes.
    pub fn new(dir: PathBuf, quota: u64) -> Self {
        Self { dir, quota }
    }

    /// This cache, kept under `quota` bytes instead.
    #[must_use]
    pub fn with_quota(self, quota: u64) -> Self {
        Self { quota, ..self }
    }

    /// The user's: `$XDG_CACHE_HOME/blockprint/images`, or `~/.cache/blockprint/images`.
    pub fn user() -> Option<Self> {
        let catalogs = super::user_cache()?;
        let dir = catalogs.parent()?.join("images");
        Some(Self::new(dir, DEFAULT_QUOTA))
    }

    fn path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.download", hex(sha256)))
    }

    fn bmap_path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.bmap", hex(sha256)))
    }

    /// The bmap kept beside the download with this SHA-256: made while it was first written
    /// (only what its filesystems use), so the next card of the same image is written as
    /// fast as with a published one.
    pub fn bmap(&self, sha256: &[u8; 32]) -> Option<PathBuf> {
        let path = self.bmap_path(sha256);
        path.is_file().then_some(path)
    }

    /// Keeps `xml` as the bmap of the download with this SHA-256, if that download is kept
    /// (a bmap outlives no download); put in place whole or not at all. Returns where.
    pub fn keep_bmap(&self, sha256: &[u8; 32], xml: &[u8]) -> io::Result<Option<PathBuf>> {
        if !self.contains(sha256) {
            return Ok(None);
        }
        let path = self.bmap_path(sha256);
        let temp = self
            .dir
            .join(format!(".{}.bmap.{}", hex(sha256), std::process::id()));
        std::fs::write(&temp, xml)?;
        std::fs::rename(&temp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })?;
        Ok(Some(path))
    }

    /// The kept download with this SHA-256, marked as just used.
    pub fn lookup(&self, sha256: &[u8; 32]) -> Option<PathBuf> {
        let path = self.path(sha256);
        let file = File::options().append(true).open(&path).ok()?;
        let _ = file.set_modified(SystemTime::now());
        Some(path)
    }

    /// Whether the download with this SHA-256 is kept (it is not marked as used).
    pub fn contains(&self, sha256: &[u8; 32]) -> bool {
        self.path(sha256).is_file()
    }

    /// [`lookup`](Self::lookup), its bytes hashed again first: a kept file that no longer has
    /// its SHA-256 (a bad disk, a hand that changed it) is removed, and the image is
    /// downloaded anew.
    pub fn lookup_checked(&self, sha256: &[u8; 32]) -> Option<PathBuf> {
        use sha2::{Digest, Sha256};
        let path = self.lookup(sha256)?;
        let mut hash = Sha256::new();
        let copied = File::open(&path).and_then(|mut file| {
            let mut buf = vec![0; 1 << 20];
            loop {
                match file.read(&mut buf)? {
                    0 => return Ok(()),
                    n => hash.update(&buf[..n]),
                }
            }
        });
        if copied.is_ok() && hash.finalize().as_slice() == sha256 {
            Some(path)
        } else {
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// A place to keep the download with this SHA-256, locked for this download, holding what
    /// an earlier download of it left ([`Claim::have`]). `None` when it cannot be kept: the
    /// folder cannot be written, or another download of the same file is under way (then this
    /// one is only streamed: never two writers to one file).
    pub fn claim(&self, sha256: &[u8; 32]) -> Option<Claim> {
        std::fs::create_dir_all(&self.dir).ok()?;
        let final_path = self.path(sha256);
        let part = final_path.with_extension("part");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&part)
            .ok()?;
        // An advisory lock held while the file is written: a second download of the same file
        // (another card, another process) streams without keeping.
        let locked =
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok();
        let have = file.metadata().ok()?.len();
        if !locked {
            return None;
        }
        Some(Claim {
            file,
            have,
            part,
            final_path,
            cache: self.clone(),
        })
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every download kept, and every part a download cut short left, the most recently used
    /// first.
    pub fn list(&self) -> Vec<Kept> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut kept: Vec<Kept> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                let name = path.file_name()?.to_str()?;
                let (sha256, complete) = match name.strip_suffix(".download") {
                    Some(sha256) => (sha256, true),
                    None => (name.strip_suffix(".part")?, false),
                };
                let sha256 = sha256.to_owned();
                let meta = e.metadata().ok()?;
                Some(Kept {
                    sha256,
                    complete,
                    size: meta.len(),
                    used: meta.modified().ok()?,
                    path,
                })
            })
            .collect();
        kept.sort_by_key(|k| std::cmp::Reverse(k.used));
        kept
    }

    /// Removes every download kept (and the parts downloads cut short left, but not the part
    /// of a download under way); returns how many files and bytes went.
    pub fn clear(&self) -> io::Result<(usize, u64)> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(e),
        };
        let (mut files, mut bytes) = (0, 0);
        for entry in entries {
            let path = entry?.path();
            let ours = match path.extension() {
                Some(x) if x == "download" || x == "bmap" => true,
                Some(x) if x == "part" => idle_part(&path),
                _ => false,
            };
            if ours {
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                std::fs::remove_file(&path)?;
                files += 1;
                bytes += len;
            }
        }
        Ok((files, bytes))
    }

    /// Whether a download of `size` bytes fits on the cache's disk with room to spare (1 GiB,
    /// or a tenth of the disk if less): a full disk breaks more than this program.
    pub fn has_room_for(&self, size: u64) -> bool {
        let dir = self
            .dir
            .ancestors()
            .find(|d| d.exists())
            .unwrap_or(Path::new("/"));
        match rustix::fs::statvfs(dir) {
            Ok(stat) => {
                let free = stat.f_bavail.saturating_mul(stat.f_frsize);
                let total = stat.f_blocks.saturating_mul(stat.f_frsize);
                let margin = (1u64 << 30).min(total / 10);
                free >= size.saturating_add(margin)
            }
            Err(_) => false,
        }
    }

    /// Removes the least recently used downloads, and parts left by downloads cut short,
    /// until the cache is within its quota. A part being written (locked) is left alone.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                let path = e.path();
                match path.extension() {
                    Some(x) if x == "download" => true,
                    Some(x) if x == "part" => idle_part(&path),
                    _ => false,
                }
            })
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.quota {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
                // Its bmap goes with it.
                let _ = std::fs::remove_file(path.with_extension("bmap"));
            }
        }
    }
}

/// Whether the part at `path` is idle: no download holds its lock.
fn idle_part(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| {
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
    })
}

/// A download kept in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// Its SHA-256, in hex.
    pub sha256: String,
    /// Whether it is whole; `false` for the part a download cut short left, which the next
    /// download of it goes on from.
    pub complete: bool,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written from (a part: when it was last written to).
    pub used: SystemTime,
    /// The file.
    pub path: PathBuf,
}

/// A cache file claimed for one download (see [`ImageCache::claim`]).
#[derive(Debug)]
pub struct Claim {
    file: File,
    have: u64,
    part: PathBuf,
    final_path: PathBuf,
    cache: ImageCache,
}

impl Claim {
    /// How many bytes of the download an earlier one left: the download may go on from there.
    pub fn have(&self) -> u64 {
        self.have
    }

    /// What an earlier download left, to be read before the rest ([`have`](Self::have) bytes).
    pub fn earlier(&self) -> io::Result<impl Read + Send + use<>> {
        Ok(File::open(&self.part)?.take(self.have))
    }

    /// Starts over: what an earlier download left is dropped (its server cannot resume).
    pub fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.have = 0;
        Ok(())
    }

    /// `reader` (the whole download from its first byte, already checked against its SHA-256:
    /// its end is an error if the digest differs) copied into the claimed file as it is read,
    /// past the [`have`](Self::have) bytes that are there already.
    pub fn keep<R: Read>(mut self, reader: R) -> Keeping<R> {
        let at_end = self.file.seek(SeekFrom::Start(self.have)).is_ok();
        Keeping {
            reader,
            skip: self.have,
            file: at_end.then_some(self.file),
            part: self.part,
            final_path: self.final_path,
            cache: self.cache,
        }
    }
}

/// A download being copied into the cache as it is read: kept when it ends well, removed
/// when its checksum fails, left to be resumed when it breaks off or is dropped before its end.
pub struct Keeping<R> {
    reader: R,
    /// Bytes still to be read that the file holds already.
    skip: u64,
    file: Option<File>,
    part: PathBuf,
    final_path: PathBuf,
    cache: ImageCache,
}

impl<R: Read> Read for Keeping<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.reader.read(buf) {
            Ok(n) => n,
            Err(e) => {
                // A SHA-256 that does not match: nothing is kept. A broken download: what
                // came is kept, for the next one to go on from.
                if e.kind() == io::ErrorKind::InvalidData {
                    self.discard();
                }
                return Err(e);
            }
        };
        if let Some(file) = &mut self.file {
            let old = usize::try_from(self.skip).map_or(n, |s| s.min(n));
            self.skip -= old as u64;
            if n > old {
                if file.write_all(&buf[old..n]).is_err() {
                    self.discard();
                }
            } else if n == 0 && !buf.is_empty() {
                // The end (a read of bytes the file holds already is not).
                let file = self.file.take();
                let kept = file.is_some_and(|f| f.sync_all().is_ok())
                    && std::fs::rename(&self.part, &self.final_path).is_ok();
                if kept {
                    self.cache.evict(&self.final_path);
                } else {
                    let _ = std::fs::remove_file(&self.part);
                }
            }
        }
        Ok(n)
    }
}

impl<R> Keeping<R> {
    fn discard(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, quota: u64) -> ImageCache {
        ImageCache::new(dir.join("images"), quota)
    }

    #[test]
    fn a_resumed_download_is_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), DEFAULT_QUOTA);
        let sha = [9; 32];
        let whole: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::create_dir_all(dir.path().join("images")).unwrap();
        let part = cache.path(&sha).with_extension("part");
        std::fs::write(&part, &whole[..40_000]).unwrap();
        let claim = cache.claim(&sha).unwrap();
        assert_eq!(claim.have(), 40_000);
        // Read in small pieces, as a decoder does: many reads fall wholly in the bytes the
        // part holds already, and none of them is the end.
        let mut kept = claim.keep(io::Cursor::new(whole.clone()));
        let mut buf = [0; 4096];
        while kept.read(&mut buf).unwrap() > 0 {}
        let path = cache.lookup(&sha).expect("kept");
        assert!(std::fs::read(path).unwrap() == whole, "kept only in part");
        assert!(!part.exists());
    }

    #[test]
    fn a_download_read_to_its_end_is_kept_and_a_failed_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), DEFAULT_QUOTA);
        let sha = [7; 32];
        let mut kept = cache
            .claim(&sha)
            .unwrap()
            .keep(io::Cursor::new(b"image bytes".to_vec()));
        io::copy(&mut kept, &mut io::sink()).unwrap();
        let path = cache.lookup(&sha).expect("kept");
        assert_eq!(std::fs::read(path).unwrap(), b"image bytes");

        struct Fails;
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "SHA-256 differs",
                ))
            }
        }
        let other = [8; 32];
        let mut failing = cache.claim(&other).unwrap().keep(Fails);
        assert!(failing.read(&mut [0; 16]).is_err());
        assert!(cache.lookup(&other).is_none());
        // Stopped part-way (dropped): not kept as a download, but its part is left, and the
        // next download of it goes on from there, writing only what is new.
        let third = [9; 32];
        let data: Vec<u8> = (0..100).collect();
        let mut stopped = cache
            .claim(&third)
            .unwrap()
            .keep(io::Cursor::new(data.clone()));
        stopped.read_exact(&mut [0; 10]).unwrap();
        drop(stopped);
        assert!(cache.lookup(&third).is_none());
        let again = cache.claim(&third).unwrap();
        assert_eq!(again.have(), 10);
        let mut whole = Vec::new();
        again.earlier().unwrap().read_to_end(&mut whole).unwrap();
        assert_eq!(whole, data[..10]);
        let mut resumed = again.keep(io::Cursor::new(data.clone()));
        io::copy(&mut resumed, &mut io::sink()).unwrap();
        assert_eq!(std::fs::read(cache.lookup(&third).unwrap()).unwrap(), data);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn one_download_of_a_file_at_a_time_and_the_least_recently_used_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), 250);
        let first = cache.claim(&[1; 32]).unwrap();
        assert!(cache.claim(&[1; 32]).is_none(), "already under way");
        drop(first);
        for n in 1..=3u8 {
            let mut keeping = cache
                .claim(&[n; 32])
                .unwrap()
                .keep(io::Cursor::new(vec![n; 100]));
            io::copy(&mut keeping, &mut io::sink()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            if n == 2 {
                // The first is used again: the second is now the oldest.
                cache.lookup(&[1; 32]).unwrap();
            }
        }
        assert!(
            cache.lookup(&[2; 32]).is_none(),
            "the least recently used went"
        );
        assert!(cache.lookup(&[1; 32]).is_some() && cache.lookup(&[3; 32]).is_some());
    }

    #[test]
    fn a_part_left_behind_counts_against_the_quota_unless_it_is_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), 150);
        let part = |n: u8| cache.path(&[n; 32]).with_extension("part");
        // Left by a download cut short, long ago; another being written now.
        let mut left = cache
            .claim(&[1; 32])
            .unwrap()
            .keep(io::Cursor::new(vec![1; 200]));
        left.read_exact(&mut [0; 100]).unwrap();
        drop(left);
        let mut writing = cache
            .claim(&[2; 32])
            .unwrap()
            .keep(io::Cursor::new(vec![2; 200]));
        writing.read_exact(&mut [0; 100]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut kept = cache
            .claim(&[3; 32])
            .unwrap()
            .keep(io::Cursor::new(vec![3; 100]));
        io::copy(&mut kept, &mut io::sink()).unwrap();
        assert!(!part(1).exists(), "the idle part stayed past the quota");
        assert!(part(2).exists(), "a part being written was removed");
        assert!(cache.lookup(&[3; 32]).is_some());
        drop(writing);
    }

    #[test]
    fn clearing_leaves_the_part_of_a_download_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), DEFAULT_QUOTA);
        let mut kept = cache
            .claim(&[1; 32])
            .unwrap()
            .keep(io::Cursor::new(vec![1; 10]));
        io::copy(&mut kept, &mut io::sink()).unwrap();
        let mut writing = cache
            .claim(&[2; 32])
            .unwrap()
            .keep(io::Cursor::new(vec![2; 10]));
        writing.read_exact(&mut [0; 4]).unwrap();
        assert_eq!(cache.clear().unwrap(), (1, 10));
        assert!(cache.lookup(&[1; 32]).is_none());
        io::copy(&mut writing, &mut io::sink()).unwrap();
        drop(writing);
        assert!(cache.contains(&[2; 32]), "the download under way is kept");
        assert_eq!(cache.clear().unwrap(), (1, 10));
    }

    #[test]
    fn a_kept_file_that_lost_its_sha256_is_removed() {
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), DEFAULT_QUOTA);
        let data = b"the image as downloaded".to_vec();
        let sha: [u8; 32] = Sha256::digest(&data).into();
        let mut keeping = cache.claim(&sha).unwrap().keep(io::Cursor::new(data));
        io::copy(&mut keeping, &mut io::sink()).unwrap();
        assert!(cache.lookup_checked(&sha).is_some());
        let path = cache.lookup(&sha).unwrap();
        std::fs::write(&path, b"changed").unwrap();
        assert!(cache.lookup_checked(&sha).is_none());
        assert!(!path.exists());
    }
}
