//! The `*at` system calls under [`super::file`], relative to a folder held open, with the
//! flags that keep them from following a symbolic link at the last name.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A name as the kernel takes it; a NUL byte inside is an invalid argument.
pub(super) fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The raw descriptor to pass as a `dirfd`: the folder's, or `AT_FDCWD`.
fn raw(dir: Option<BorrowedFd<'_>>) -> libc::c_int {
    dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd())
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub(super) fn open_at(
    dir: Option<BorrowedFd<'_>>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; the descriptor returned is new
    // and owned by nobody else, so OwnedFd may take it.
    unsafe {
        let fd = check(libc::openat(
            raw(dir),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode),
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// An `O_PATH` handle on `name` itself, never on what a symbolic link there points to.
pub(super) fn open_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    open_at(Some(dir), name, libc::O_PATH | libc::O_NOFOLLOW, 0)
}

/// `fstat` of an open descriptor (an `O_PATH` one included).
pub(super) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: the kernel fills the whole struct on success, and only then is it read.
    unsafe {
        check(libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()))?;
        Ok(st.assume_init())
    }
}

/// What is at `name` in `dir` now, without following a symbolic link; `None` if nothing.
pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: as in `fstat`; `name` is NUL-terminated.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(rc) {
        // SAFETY: filled by the successful call.
        Ok(_) => Ok(Some(unsafe { st.assume_init() })),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The target of the symbolic link `link` (an `O_PATH|O_NOFOLLOW` handle on it): read from
/// that very link, so it cannot have been swapped since it was examined.
pub(super) fn read_link(link: BorrowedFd<'_>) -> io::Result<OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the buffer is writable for its whole length; the empty path names `link`.
    let n = unsafe {
        libc::readlinkat(
            link.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf.truncate(n);
    Ok(OsString::from_vec(buf))
}

/// Gives the unnamed (`O_TMPFILE`) `file` the name `name` in `dir`; fails with `EEXIST` if
/// the name is taken, whatever it is (a symbolic link there is not followed).
pub(super) fn link_unnamed(file: &File, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: valid descriptors and NUL-terminated names, for the duration of the call.
    let rc = unsafe {
        libc::linkat(
            file.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    match check(rc) {
        Ok(_) => return Ok(()),
        // Without CAP_DAC_READ_SEARCH the kernel refuses AT_EMPTY_PATH with ENOENT; the
        // descriptor's entry under /proc names the same open file.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EPERM)) => {}
        Err(e) => return Err(e),
    }
    let proc = c_name(OsStr::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
    // SAFETY: as above.
    check(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(drop)
}

/// `renameat` within `dir`: replaces what is at `to` (a symbolic link itself, never what it
/// points to).
pub(super) fn rename(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: a valid descriptor and NUL-terminated names, for the duration of the call.
    check(unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) }).map(drop)
}

/// `renameat2(RENAME_NOREPLACE)` within `dir`: fails with `EEXIST` if `to` exists. `Ok(false)`
/// where the filesystem does not know the flag (the caller then checks and renames).
pub(super) fn rename_noreplace(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<bool> {
    let d = dir.as_raw_fd();
    // SAFETY: as in `rename`.
    let rc = unsafe { libc::renameat2(d, from.as_ptr(), d, to.as_ptr(), libc::RENAME_NOREPLACE) };
    match check(rc) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `unlinkat` of a file in `dir`.
pub(super) fn unlink(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: a valid descriptor and a NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// `fsync` of a folder (or file) held open readable.
pub(super) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a plain syscall on an open descriptor.
    check(unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

/// `fchmod`, where the filesystem keeps permissions: vfat and exfat, whose permissions come
/// from mount options, refuse (EPERM) or ignore changes, and that is no error here (the new
/// file is ours and never had setuid or setgid bits to lose).
pub(super) fn chmod(file: &File, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: a plain syscall on an open descriptor.
    match check(unsafe { libc::fchmod(file.as_raw_fd(), mode) }) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP)) => Ok(()),
        other => other.map(drop),
    }
}

/// Turns on `O_DIRECT` for an open file; `false` where the filesystem refuses it.
pub(super) fn set_direct(file: &File) -> io::Result<bool> {
    let fd = file.as_raw_fd();
    // SAFETY: plain fcntl calls on an open descriptor.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    match check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The caller's effective user id.
pub(super) fn euid() -> libc::uid_t {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
