//! System calls under [`super::Target`]: opening with `O_DIRECT` where allowed, reading an
//! aligned window that may run past a file's end, and the block-device ioctls.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Fills `buf` from `offset` up to the end of the file (zeroing the rest of it); fewer than
/// `need` bytes there is an error. Direct reads past the end are cut short at the file's end
/// (a regular file's last sector may be partial), and nothing more can be read after that.
pub(super) fn read_window(file: &File, buf: &mut [u8], offset: u64, need: usize) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if !got.is_multiple_of(512) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if got < need {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("only {got} of {need} bytes are there"),
        ));
    }
    buf[got..].fill(0);
    Ok(())
}

/// Opens with `O_DIRECT` (`open` is given the extra flags), or without where the driver or
/// filesystem refuses it; says which.
pub(super) fn direct_if_possible(
    open: impl Fn(libc::c_int) -> io::Result<File>,
) -> io::Result<(File, bool)> {
    match open(libc::O_DIRECT) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((open(0)?, false)),
        Err(e) => Err(e),
    }
}

/// `/dev/null` is character device 1:3.
pub(super) fn is_null(rdev: u64) -> bool {
    libc::major(rdev) == 1 && libc::minor(rdev) == 3
}

pub(super) fn ioctl_u64(file: &File, request: libc::Ioctl) -> io::Result<u64> {
    let mut value: u64 = 0;
    // SAFETY: the request writes one u64 through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request, &mut value as *mut u64) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

pub(super) fn ioctl_int(file: &File, request: libc::Ioctl) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    // SAFETY: the request writes one int through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request, &mut value as *mut libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}
