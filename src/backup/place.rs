//! The output files of a backup: made under a hidden temporary name in the folder they go to,
//! and renamed into place only once they are complete, so a failed or cancelled backup leaves
//! nothing behind (a crash of the whole process can leave the hidden file).
//!
//! The folder is opened once and everything after is done relative to it, so a folder renamed
//! or replaced meanwhile cannot redirect the files. The final rename replaces whatever is at the
//! name (a symbolic link there is replaced, never followed).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::BackupError;

/// A new file beside its final name; removed when dropped unless [`NewFile::place`]d.
#[derive(Debug)]
pub(super) struct NewFile {
    dir: File,
    name: OsString,
    /// The temporary name, while the file has it.
    temp: Option<OsString>,
    /// The path given, for messages.
    pub(super) path: PathBuf,
    pub(super) file: File,
}

impl NewFile {
    /// Creates the temporary file for `path`, refusing a `path` that is the file `protected`
    /// (the source).
    pub(super) fn create(path: &Path, protected: Option<&Path>) -> Result<Self, BackupError> {
        let not_a_file = || BackupError::NotAFile {
            path: path.to_path_buf(),
        };
        let name = path.file_name().ok_or_else(not_a_file)?.to_os_string();
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let create_error = |source: io::Error| BackupError::Create {
            path: path.to_path_buf(),
            folder: folder.clone(),
            source,
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = File::from(
            rustix::fs::open(&folder, flags, Mode::empty()).map_err(|e| create_error(e.into()))?,
        );
        if let Ok(there) = rustix::fs::statat(&dir, &name, AtFlags::empty()) {
            if there.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Err(not_a_file());
            }
            let same = protected
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|m| m.dev() == there.st_dev && m.ino() == there.st_ino);
            if same {
                return Err(BackupError::SameFile {
                    path: path.to_path_buf(),
                });
            }
        }
        let mut last = io::Error::from_raw_os_error(libc::EEXIST);
        for _ in 0..16 {
            let temp = temp_name(&name);
            let flags =
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&dir, &temp, flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    return Ok(Self {
                        dir,
                        name,
                        temp: Some(temp),
                        path: path.to_path_buf(),
                        file: File::from(fd),
                    });
                }
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => {
                    last = e.into();
                    break;
                }
            }
        }
        Err(create_error(last))
    }

    /// Syncs the file: call before [`NewFile::place`].
    pub(super) fn sync(&self) -> Result<(), BackupError> {
        self.file.sync_all().map_err(|source| BackupError::Finish {
            op: "sync",
            path: self.path.clone(),
            source,
        })
    }

    /// Gives the file its final name, replacing what is there, and makes the name durable.
    pub(super) fn place(&mut self) -> Result<(), BackupError> {
        let fail = |source: io::Error| BackupError::Finish {
            op: "put in place",
            path: self.path.clone(),
            source,
        };
        let Some(temp) = &self.temp else {
            return Ok(());
        };
        rustix::fs::renameat(&self.dir, temp, &self.dir, &self.name).map_err(|e| fail(e.into()))?;
        self.temp = None;
        rustix::fs::fsync(&self.dir).map_err(|e| fail(e.into()))
    }

    /// Removes a placed file again (its bmap could not be placed), if the name still holds it.
    pub(super) fn withdraw(&self) {
        let (Ok(ours), Ok(there)) = (
            self.file.metadata(),
            rustix::fs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW),
        ) else {
            return;
        };
        if self.temp.is_none() && ours.dev() == there.st_dev && ours.ino() == there.st_ino {
            // Best effort: the error that made it necessary is being reported.
            let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
        }
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            // Best effort: the failure that left it has been reported, or is being.
            let _ = rustix::fs::unlinkat(&self.dir, &temp, AtFlags::empty());
        }
    }
}

/// `.NAME.blockprint-RANDOM`: hidden, saying whose it is, and not guessable.
fn temp_name(name: &OsStr) -> OsString {
    let stem = name.as_bytes();
    let mut temp = b".".to_vec();
    // Short enough for any filesystem's 255-byte limit.
    temp.extend_from_slice(&stem[..stem.len().min(200)]);
    temp.extend_from_slice(format!(".blockprint-{:016x}", crate::nonce::fresh_u64()).as_bytes());
    OsString::from(OsStr::from_bytes(&temp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::names;
    use std::io::Write;

    #[test]
    fn a_file_dropped_unplaced_leaves_nothing_and_a_placed_one_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("card.img");
        std::fs::write(&out, b"old").expect("old");
        let mut new = NewFile::create(&out, None).expect("create");
        new.file.write_all(b"new").expect("write");
        assert_eq!(
            names(dir.path()).len(),
            2,
            "the temporary file is beside it"
        );
        new.sync().expect("sync");
        new.place().expect("place");
        drop(new);
        assert_eq!(std::fs::read(&out).expect("read"), b"new");
        assert_eq!(names(dir.path()), ["card.img"]);

        let new = NewFile::create(&dir.path().join("other.img"), None).expect("create");
        drop(new);
        assert_eq!(names(dir.path()), ["card.img"]);
    }

    #[test]
    fn the_source_a_folder_and_a_missing_folder_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("src.img");
        std::fs::write(&source, b"x").expect("write");
        assert!(matches!(
            NewFile::create(&source, Some(&source)),
            Err(BackupError::SameFile { .. })
        ));
        assert!(matches!(
            NewFile::create(dir.path(), None),
            Err(BackupError::NotAFile { .. })
        ));
        let missing = dir.path().join("no/such/out.img");
        let error = NewFile::create(&missing, None).expect_err("no folder");
        assert!(matches!(error, BackupError::Create { .. }), "{error}");
        assert!(error.to_string().contains("no/such"), "{error}");
    }

    #[test]
    fn a_withdrawn_file_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("a.img");
        let mut new = NewFile::create(&out, None).expect("create");
        new.place().expect("place");
        new.withdraw();
        assert!(names(dir.path()).is_empty());
    }
}
