//! A new regular file put in place of a name: a file DEST, and `create -o` / `scan -o`.
//!
//! The new file is written unnamed (`O_TMPFILE`) in the destination's folder and named only
//! once it is complete, so a failed write (a corrupt image, Ctrl-C, a crash) neither leaves
//! half a file nor damages the one that was there. Where the filesystem cannot make unnamed
//! files, it is written under a fresh random name, made with `O_EXCL`, removed again on failure.
//!
//! The folder may be shared with others (a sticky `/tmp`, a group-writable folder) and the
//! writer may be root, so the path is resolved once, at open ([`FileDest::resolve`]), one name
//! at a time: a symbolic link on the way is followed only when it belongs to the caller or to
//! root, since anyone else's could be pointed at any file. A link to a file of one's own (as
//! `cp` and bmaptool write through) still works; another user's link is refused with a message
//! naming it. The folder reached is then held open, and everything after is done relative to
//! it, so later changes to the path's links and folders cannot redirect the write.
//!
//! Naming uses `linkat` and `renameat` in that folder. Neither follows a link at the final
//! name (at worst the link itself would be replaced), and the name must still be what it was at
//! open: the same file, or nothing. A name that became a symbolic link or another file, or was
//! created meanwhile, is refused. The new file takes the permission bits of the file it
//! replaces, never its setuid, setgid or sticky bit, nor group or other write access that
//! someone else granted on their own file; it belongs to the writer.

use std::collections::hash_map::RandomState;
use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::at::{self, c_name};
use super::error::PlaceError;

/// Symbolic links followed on one path at most, as the kernel allows.
const MAX_LINKS: u32 = 40;

/// Opens a new file without a name (`O_TMPFILE`) in `dir`, readable and writable, with
/// permissions `mode` and the extra open `flags`. It vanishes when closed unless it is linked
/// into a folder. `None` when the kernel or the filesystem cannot make unnamed files (the
/// caller then makes a named one).
pub fn open_unnamed_in(dir: &Path, mode: u32, flags: libc::c_int) -> io::Result<Option<File>> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_TMPFILE | flags)
        .open(dir);
    match opened {
        Ok(file) => Ok(Some(file)),
        Err(e) if no_tmpfile(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// EISDIR: a kernel without `O_TMPFILE`; EOPNOTSUPP: a filesystem without it.
fn no_tmpfile(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR))
}

/// One step of a path being resolved.
enum Step {
    Root,
    Up,
    Name(std::ffi::OsString),
}

/// Queues the steps of `path` on `todo`, a stack: the first step is popped first.
fn queue(path: &Path, todo: &mut Vec<Step>) {
    for component in path.components().rev() {
        todo.push(match component {
            Component::RootDir => Step::Root,
            Component::ParentDir => Step::Up,
            Component::Normal(name) => Step::Name(name.to_owned()),
            Component::CurDir | Component::Prefix(_) => continue,
        });
    }
}

fn kind(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a folder",
        libc::S_IFBLK => "a block device",
        libc::S_IFCHR => "a character device",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        _ => "not a regular file",
    }
}

/// A regular-file destination, resolved once: its folder, held open, and its name there.
#[derive(Debug)]
pub struct FileDest {
    dir: OwnedFd,
    name: CString,
    /// The path given, for messages.
    path: PathBuf,
    /// The regular file at the name when resolved; `None` if there was nothing.
    was: Option<libc::stat>,
    /// An `O_PATH` handle on that file: while it is open, its inode number cannot be reused
    /// by a new file, so the same number at the name means the same file.
    _held: Option<OwnedFd>,
}

impl FileDest {
    /// Finds where `path` leads, following only trusted links (see the module documentation):
    /// a regular file, or a free name in an existing folder.
    pub fn resolve(path: &Path) -> Result<Self, PlaceError> {
        let fail = |op, at: &Path| {
            let at = at.to_path_buf();
            move |source| PlaceError::Io {
                op,
                path: at,
                source,
            }
        };
        let folder = |dir: Option<&OwnedFd>, name: &CStr, shown: &Path| {
            at::open_at(
                dir.map(AsFd::as_fd),
                name,
                libc::O_PATH | libc::O_DIRECTORY,
                0,
            )
            .map_err(fail("open folder", shown))
        };
        let mut todo = Vec::new();
        queue(path, &mut todo);
        let mut real = PathBuf::new();
        let mut dir = folder(None, c".", Path::new("."))?;
        let mut links = 0;
        while let Some(step) = todo.pop() {
            let name = match step {
                Step::Root => {
                    real = PathBuf::from("/");
                    dir = folder(None, c"/", &real)?;
                    continue;
                }
                Step::Up => {
                    if real.file_name().is_some() {
                        real.pop();
                    } else {
                        real.push("..");
                    }
                    dir = folder(Some(&dir), c"..", &real)?;
                    continue;
                }
                Step::Name(name) => name,
            };
            let here = real.join(&name);
            let c = c_name(&name).map_err(fail("open", &here))?;
            let last = todo.is_empty();
            let found = match at::open_nofollow(dir.as_fd(), &c) {
                Ok(found) => found,
                Err(e) if last && e.raw_os_error() == Some(libc::ENOENT) => {
                    return Self::at(&dir, c, path, &real, None);
                }
                Err(e) => return Err(fail("open", &here)(e)),
            };
            let st = at::fstat(found.as_fd()).map_err(fail("examine", &here))?;
            match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(fail("follow the links of", path)(
                            io::Error::from_raw_os_error(libc::ELOOP),
                        ));
                    }
                    if st.st_uid != at::euid() && st.st_uid != 0 {
                        return Err(PlaceError::UntrustedLink {
                            path: path.to_path_buf(),
                            link: here,
                            owner: st.st_uid,
                        });
                    }
                    // Read from the link just examined; a relative target goes on from its
                    // folder, which is still `dir`.
                    let target = at::read_link(found.as_fd()).map_err(fail("read link", &here))?;
                    queue(Path::new(&target), &mut todo);
                }
                libc::S_IFDIR if !last => {
                    dir = found;
                    real = here;
                }
                libc::S_IFREG if last => {
                    return Self::at(&dir, c, path, &real, Some((found, st)));
                }
                mode if last => {
                    return Err(PlaceError::NotAFile {
                        path: path.to_path_buf(),
                        what: kind(mode),
                    });
                }
                _ => {
                    let not_dir = io::Error::from_raw_os_error(libc::ENOTDIR);
                    return Err(fail("open", &here)(not_dir));
                }
            }
        }
        Err(PlaceError::NotAFile {
            path: path.to_path_buf(),
            what: "a folder",
        })
    }

    /// The destination `name` in the folder `dir` (an `O_PATH` handle), which is reopened
    /// readable so that it can be synced.
    fn at(
        dir: &OwnedFd,
        name: CString,
        path: &Path,
        folder: &Path,
        was: Option<(OwnedFd, libc::stat)>,
    ) -> Result<Self, PlaceError> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let dir =
            at::open_at(Some(dir.as_fd()), c".", flags, 0).map_err(|source| PlaceError::Io {
                op: "open folder",
                path: if folder.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    folder.to_path_buf()
                },
                source,
            })?;
        let (held, was) = was.unzip();
        Ok(Self {
            dir,
            name,
            path: path.to_path_buf(),
            was,
            _held: held,
        })
    }

    /// Device and inode of the regular file that is there, if one is.
    pub fn existing(&self) -> Option<(u64, u64)> {
        self.was.map(|st| (st.st_dev, st.st_ino))
    }

    fn fail(&self, op: &'static str) -> impl Fn(io::Error) -> PlaceError + '_ {
        move |source| PlaceError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// Creates the new file, readable and writable, with `O_DIRECT` if `direct` and the
    /// filesystem allows; says whether it got it. The file gets its name from
    /// [`Pending::place`]; until then it has none, or a random one removed on drop.
    pub fn create(self, direct: bool) -> Result<(File, bool, Pending), PlaceError> {
        self.create_with(direct, true)
    }

    /// [`FileDest::create`]; `unnamed: false` makes a named file even where an unnamed one
    /// would do (for the tests of that path).
    fn create_with(self, direct: bool, unnamed: bool) -> Result<(File, bool, Pending), PlaceError> {
        let dir = self.dir.as_fd();
        let tmpfile = |flags| {
            at::open_at(
                Some(dir),
                c".",
                libc::O_TMPFILE | libc::O_RDWR | flags,
                0o644,
            )
            .map(File::from)
        };
        let opened = match (unnamed, direct) {
            (false, _) => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
            (true, false) => tmpfile(0).map(|file| (file, false)),
            (true, true) => match tmpfile(libc::O_DIRECT) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tmpfile(0).map(|file| (file, false))
                }
                other => other.map(|file| (file, true)),
            },
        };
        let (file, direct, temp) = match opened {
            Ok((file, direct)) => (file, direct, None),
            Err(e) if no_tmpfile(&e) => {
                let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
                let (file, temp) = self
                    .fresh(|name| at::open_at(Some(dir), name, flags, 0o644).map(File::from))
                    .map_err(self.fail("create a file in the folder of"))?;
                let pending = Pending::new(self, Some(temp), 0);
                let direct = direct && at::set_direct(&file).map_err(pending.fail("open"))?;
                return pending.finish_create(file, direct);
            }
            Err(e) => return Err(self.fail("create a file in the folder of")(e)),
        };
        Pending::new(self, temp, 0).finish_create(file, direct)
    }

    /// Runs `make` with fresh unpredictable names beside the destination until one is free
    /// (`make` fails with `EEXIST` on a taken one), and returns its result and the name.
    fn fresh<T>(&self, mut make: impl FnMut(&CStr) -> io::Result<T>) -> io::Result<(T, CString)> {
        for _ in 0..16 {
            let name = temp_name(&self.name);
            match make(&name) {
                Ok(made) => return Ok((made, name)),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from_raw_os_error(libc::EEXIST))
    }

    /// Refuses a name that is no longer what it was when resolved.
    fn unchanged(&self, now: &libc::stat) -> Result<(), PlaceError> {
        let what = if now.st_mode & libc::S_IFMT == libc::S_IFLNK {
            "replaced by a symbolic link"
        } else {
            match &self.was {
                Some(was) if (was.st_dev, was.st_ino) == (now.st_dev, now.st_ino) => return Ok(()),
                Some(_) => "replaced by another file",
                None => "created by someone else",
            }
        };
        Err(self.changed(what))
    }

    fn changed(&self, what: &'static str) -> PlaceError {
        PlaceError::Changed {
            path: self.path.clone(),
            what,
        }
    }
}

/// `.NAME.blockprint-RANDOM`: hidden, telling whose it is, and not guessable, so that nobody
/// can take it first. The randomness is SipHash under the standard library's secret per-process
/// keys (from the kernel's random source), and needs no syscall of its own.
fn temp_name(name: &CStr) -> CString {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let stem = name.to_bytes();
    // Short enough for any filesystem's 255-byte name limit.
    let mut temp = b".".to_vec();
    temp.extend_from_slice(&stem[..stem.len().min(200)]);
    temp.extend_from_slice(b".blockprint-");
    let keys = RandomState::new();
    for part in 0..2u64 {
        let mut hasher = keys.build_hasher();
        hasher.write_u64(part);
        let mut bits = hasher.finish();
        for _ in 0..8 {
            temp.push(DIGITS[(bits % 36) as usize]);
            bits /= 36;
        }
    }
    // The stem came from a C string, so there is no NUL to refuse.
    CString::new(temp).unwrap_or_default()
}

/// A new file not yet in place: [`Pending::place`] names it; dropped, it leaves nothing.
#[derive(Debug)]
pub struct Pending {
    dest: FileDest,
    /// The random name the file has meanwhile, if any.
    temp: Option<CString>,
    /// Permissions for a new name: what the umask left of 0644.
    new_mode: libc::mode_t,
}

impl Pending {
    fn new(dest: FileDest, temp: Option<CString>, new_mode: libc::mode_t) -> Self {
        Self {
            dest,
            temp,
            new_mode,
        }
    }

    fn fail(&self, op: &'static str) -> impl Fn(io::Error) -> PlaceError + '_ {
        self.dest.fail(op)
    }

    /// Notes the permissions the umask gave the file, then keeps a named one private while
    /// it is written.
    fn finish_create(
        mut self,
        file: File,
        direct: bool,
    ) -> Result<(File, bool, Pending), PlaceError> {
        let st = at::fstat(file.as_fd()).map_err(self.fail("examine"))?;
        self.new_mode = st.st_mode & 0o777;
        if self.temp.is_some() {
            at::chmod(&file, 0o600).map_err(self.fail("set the permissions of"))?;
        }
        Ok((file, direct, self))
    }

    /// Gives `file` (the one [`FileDest::create`] made, complete and synced) the destination's
    /// name, replacing the file resolved there, and makes the name durable.
    pub fn place(&mut self, file: &File) -> Result<(), PlaceError> {
        let name = self.dest.name.as_c_str();
        let now = at::lstat_at(self.dir(), name).map_err(self.fail("examine"))?;
        if let Some(now) = &now {
            self.dest.unchanged(now)?;
        }
        let mode = now.as_ref().map_or(self.new_mode, kept_mode);
        at::chmod(file, mode).map_err(self.fail("set the permissions of"))?;
        match (now.is_some(), self.temp.clone()) {
            (false, None) => {
                at::link_unnamed(file, self.dir(), name).map_err(|e| self.taken(e))?;
            }
            (false, Some(temp)) => {
                if !at::rename_noreplace(self.dir(), &temp, name).map_err(|e| self.taken(e))? {
                    // A filesystem without RENAME_NOREPLACE: look, then rename. Whatever
                    // appears in between is replaced, never followed.
                    if at::lstat_at(self.dir(), name)
                        .map_err(self.fail("examine"))?
                        .is_some()
                    {
                        return Err(self.dest.changed("created by someone else"));
                    }
                    at::rename(self.dir(), &temp, name).map_err(self.fail("rename"))?;
                }
            }
            (true, temp) => {
                let temp = match temp {
                    Some(temp) => temp,
                    None => {
                        let dir = self.dir();
                        let linked = self.dest.fresh(|temp| at::link_unnamed(file, dir, temp));
                        let ((), temp) = linked.map_err(self.fail("name"))?;
                        self.temp = Some(temp.clone());
                        temp
                    }
                };
                // Between the look above and this rename the name can change again, but a
                // rename only ever replaces what is at the name: no file it might lead to is
                // touched.
                let name = self.dest.name.as_c_str();
                at::rename(self.dir(), &temp, name).map_err(self.fail("rename"))?;
            }
        }
        self.temp = None;
        at::fsync(self.dir()).map_err(self.fail("sync the folder of"))
    }

    fn dir(&self) -> BorrowedFd<'_> {
        self.dest.dir.as_fd()
    }

    /// A name found taken when it should have been free: someone created it.
    fn taken(&self, e: io::Error) -> PlaceError {
        if e.raw_os_error() == Some(libc::EEXIST) {
            self.dest.changed("created by someone else")
        } else {
            self.fail("name")(e)
        }
    }
}

/// The permissions a new file takes from the one it replaces: its permission bits without
/// setuid, setgid and sticky, and without group and other write unless it was the writer's own.
fn kept_mode(old: &libc::stat) -> libc::mode_t {
    let mut mode = old.st_mode & 0o777;
    if old.st_uid != at::euid() {
        mode &= !0o022;
    }
    mode
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            // Best effort: a failure has been reported already, or is being.
            let _ = at::unlink(self.dest.dir.as_fd(), &temp);
        }
    }
}

/// Writes `bytes` as the new content of the file `path`, put in place whole or not at all,
/// with the safety of the module documentation.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), PlaceError> {
    let (mut file, _, mut pending) = FileDest::resolve(path)?.create(false)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(pending.fail("write"))?;
    pending.place(&file)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
