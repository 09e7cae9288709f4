//! A regular-file target is written to an unnamed file (`O_TMPFILE`) in the destination's
//! folder and given its name only once the copy has succeeded. A copy that fails (a corrupt
//! or truncated image, a bmap for another image, Ctrl-C, a crash) therefore neither leaves a
//! half-written new file nor damages the file that was there: the unnamed file vanishes when
//! it is closed. Filesystems without `O_TMPFILE` get the file written in place, as before.

use std::ffi::CString;
use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::sys::direct_if_possible;

/// The folder a file at `path` lives in.
fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

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
        // EISDIR: a kernel without O_TMPFILE; EOPNOTSUPP: a filesystem without it.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An unnamed file in the folder of `path`, with `O_DIRECT` where possible, and whether it is
/// direct. `None` when the filesystem (or kernel) cannot make unnamed files.
pub(super) fn open_unnamed(path: &Path) -> io::Result<Option<(File, bool)>> {
    let dir = folder(path);
    let unsupported = || io::Error::from_raw_os_error(libc::EOPNOTSUPP);
    let open = |flags| open_unnamed_in(dir, 0o644, flags)?.ok_or_else(unsupported);
    match direct_if_possible(open) {
        Ok(opened) => Ok(Some(opened)),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives the unnamed `file` the name `path`, replacing the file there (whose permissions it
/// takes) in one atomic rename, and makes the new name durable.
pub(super) fn put_in_place(file: &File, path: &Path) -> io::Result<()> {
    // A symbolic link is followed, as writing in place would: the file it points to is
    // replaced, not the link.
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(old) = std::fs::metadata(&path) {
        file.set_permissions(Permissions::from_mode(old.mode() & 0o7777))?;
    }
    let dir = folder(&path);
    let name = path
        .file_name()
        .map_or_else(|| "image".into(), |n| n.to_string_lossy().into_owned());
    let temp: PathBuf = dir.join(format!(".{name}.blockprint-{}", std::process::id()));
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(temp.as_os_str().as_bytes())?;
    // SAFETY: both strings are valid and NUL-terminated; no memory is shared with the kernel
    // beyond the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if let Err(e) = std::fs::rename(&temp, &path) {
        // The old file is untouched; the new one must not linger under the temporary name.
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::AlignedBuf;
    use std::os::unix::fs::FileExt;

    /// One page of `byte`, aligned, as a direct write needs.
    fn page(byte: u8) -> AlignedBuf {
        let mut buf = AlignedBuf::new(4096);
        buf.fill(byte);
        buf
    }

    #[test]
    fn nothing_has_a_name_until_put_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.img");
        std::fs::write(&path, b"old").expect("old file");
        std::fs::set_permissions(&path, Permissions::from_mode(0o600)).expect("chmod");
        let (file, _) = open_unnamed(&path)
            .expect("open")
            .expect("tmpfs and ext4 make unnamed files");
        file.write_all_at(&page(b'n'), 0).expect("write");
        let names = || std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(names(), 1);
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        put_in_place(&file, &path).expect("in place");
        assert_eq!(std::fs::read(&path).expect("read"), &page(b'n')[..]);
        let mode = std::fs::metadata(&path).expect("stat").mode() & 0o7777;
        assert_eq!(mode, 0o600, "the replaced file's permissions are kept");
        assert_eq!(names(), 1, "no temporary name is left");
    }

    #[test]
    fn an_unnamed_file_that_is_dropped_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("never.img");
        let (file, _) = open_unnamed(&path).expect("open").expect("unnamed");
        file.write_all_at(&page(b'd'), 0).expect("write");
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
