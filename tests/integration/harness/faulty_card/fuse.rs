//! The FUSE side of the faulty disk: one directory holding the file `disk`, whose lookups,
//! attributes, reads and writes it answers, each read or write with the `Faults` as they are
//! when it arrives (refused, stalled, a bit flipped, or stored through `storage`).

use std::ffi::OsStr;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::{DISK_NAME, Shared, storage};

/// The inode of the one file.
const DISK: INodeNo = INodeNo(2);
/// How long the kernel may cache attributes and names (the size only changes by `setattr`).
const TTL: Duration = Duration::from_secs(1);

impl Shared {
    fn attr(&self, ino: INodeNo) -> FileAttr {
        let (kind, perm, nlink, size) = if ino == INodeNo::ROOT {
            (FileType::Directory, 0o755, 2, 0)
        } else {
            (FileType::RegularFile, 0o600, 1, self.state().size)
        };
        FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

/// The FUSE side: one directory with one file.
pub(super) struct FaultyFs(pub(super) Arc<Shared>);

/// Whether `[offset, offset + len)` touches bytes at or beyond `from`.
fn touches(offset: u64, len: u64, from: Option<u64>) -> bool {
    from.is_some_and(|from| offset.saturating_add(len) > from)
}

fn errno(e: &io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

impl Filesystem for FaultyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == INodeNo::ROOT && name == DISK_NAME {
            reply.entry(&TTL, &self.0.attr(DISK), Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino == INodeNo::ROOT || ino == DISK {
            reply.attr(&TTL, &self.0.attr(ino));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if ino != DISK && ino != INodeNo::ROOT {
            return reply.error(Errno::ENOENT);
        }
        // Only a truncate of the file changes anything; modes, owners and times are fixed.
        if let Some(size) = size
            && ino == DISK
        {
            let mut state = self.0.state();
            if let Err(e) = self.0.backing.set_len(size) {
                return reply.error(errno(&e));
            }
            state.size = size;
        }
        reply.attr(&TTL, &self.0.attr(ino));
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if ino == DISK {
            reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
        } else {
            reply.error(Errno::EISDIR);
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let (faults, disk_size) = {
            let state = self.0.state();
            (state.faults.clone(), state.size)
        };
        if touches(offset, u64::from(size), faults.fail_reads_from) {
            return reply.error(Errno::EIO);
        }
        let len = disk_size.saturating_sub(offset).min(u64::from(size));
        let mut buf = vec![0; usize::try_from(len).expect("fits")];
        if let Err(e) = storage::read(&self.0.backing, &faults, offset, &mut buf) {
            return reply.error(errno(&e));
        }
        if let Some(at) = faults.flip_bit_on_read_at
            && (offset..offset + len).contains(&at)
        {
            buf[usize::try_from(at - offset).expect("fits")] ^= 1;
        }
        reply.data(&buf);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let len = data.len() as u64;
        // Stalls for the pause, or until the stall is lifted or moved past this write.
        let started = Instant::now();
        while let Some((from, pause)) = self.0.state().faults.stall_writes_from
            && touches(offset, len, Some(from))
            && started.elapsed() < pause
        {
            std::thread::sleep(pause.min(Duration::from_millis(20)));
        }
        // Decided after the stall, with the faults as they are now.
        let mut state = self.0.state();
        if offset.saturating_add(len) > state.size {
            return reply.error(Errno::ENOSPC);
        }
        if touches(offset, len, state.faults.fail_writes_from) {
            return reply.error(Errno::EIO);
        }
        if let Some(budget) = state.faults.fail_writes_after
            && (state.worn_out || state.written + len > budget)
        {
            state.worn_out = true;
            return reply.error(Errno::EIO);
        }
        let faults = state.faults.clone();
        if let Err(e) = storage::write(&self.0.backing, &faults, &mut state.corrupted, offset, data)
        {
            return reply.error(errno(&e));
        }
        // Accepted: a write a fault throws away or corrupts counts too.
        state.written += len;
        reply.written(u32::try_from(data.len()).expect("fits"));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // What was written is in the backing file's page cache, where `contents` reads it.
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino != INodeNo::ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (INodeNo::ROOT, FileType::Directory, "."),
            (INodeNo::ROOT, FileType::Directory, ".."),
            (DISK, FileType::RegularFile, DISK_NAME),
        ];
        for (i, (ino, kind, name)) in entries.into_iter().enumerate() {
            let next = i as u64 + 1;
            if next > offset && reply.add(ino, next, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let blocks = self.0.state().size.div_ceil(4096);
        reply.statfs(blocks, 0, 0, 1, 0, 4096, 255, 4096);
    }
}
