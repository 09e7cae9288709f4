//! Writing the settings into a written card's boot partition, and proving they are there.
//!
//! ```text
//!   boot partition (MBR/GPT) ─► format (declared, else its files) ─► render (reading its
//!   files) ─► each file written whole ─► FAT closed, disk flushed ─► FAT opened again on a
//!   fresh view (the disk read anew) ─► each file read back, compared byte for byte
//! ```
//!
//! The disk is any `Read + Write + Seek` view of the whole card; the copy's is
//! [`super::disk::TargetDisk`], where the image's held-back first MiB is still in memory, so
//! whatever the settings change there is written (and checked) with it, last.

use std::cell::RefCell;
use std::io::{Read, Seek, Write};

use super::detect::{BootPartition, boot_and_root, format_of};
use super::disk::{Cached, Partition};
use super::fat::Fat;
use super::{Applied, FirstBoot, FirstBootError, render, summary};

/// How the disk is named in messages: the caller names the card or image around them.
const DISK: &str = "the disk";

/// Writes `first_boot`'s settings into the boot partition of `disk` (the whole card, from its
/// first byte) in the format its catalog entry declared or its files ask for, flushes the
/// disk, then opens the filesystem again, reading the disk anew, and compares every file
/// written with what was meant. Returns what was written.
///
/// Without a declared format, the card's root filesystem is read too (never written), as
/// [`super::detect_image`] reads an image's. Nothing is written when the format cannot be
/// told, a file the settings are merged into (such as `cmdline.txt`) cannot be read, or the
/// format cannot carry the settings; a file that reads back different is
/// [`FirstBootError::Mismatch`].
pub fn apply<D: Read + Write + Seek>(
    first_boot: &FirstBoot,
    disk: &mut D,
) -> Result<Applied, FirstBootError> {
    let (boot, root) = boot_and_root(disk, DISK, first_boot.declared)?;
    let place = boot.place();
    let fat = open(&mut *disk, &boot)?;
    let format = match first_boot.declared {
        Some(format) => format,
        None => format_of(&fat, &place, root.as_ref())?,
    };
    // A file that cannot be read is not the same as one that is not there: the renderer
    // would write a fresh cmdline.txt over one it could not read.
    let unreadable = RefCell::new(None);
    let existing = |path: &str| match fat.read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            unreadable.borrow_mut().get_or_insert(error);
            None
        }
    };
    let rendered = render(&first_boot.settings, format, &existing);
    if let Some(error) = unreadable.into_inner() {
        return Err(error);
    }
    let files = rendered?;
    for file in &files {
        fat.write(&file.path, &file.bytes)?;
    }
    fat.close()?;
    disk.flush().map_err(|source| FirstBootError::Disk {
        action: "flush the settings to",
        place: DISK.to_owned(),
        source,
    })?;

    // Read back through a new view: nothing of the writing session is reused.
    let fat = open(&mut *disk, &boot)?;
    for (i, file) in files.iter().enumerate() {
        // A path written twice holds its last content.
        let last = files[i + 1..]
            .iter()
            .all(|later| !later.path.eq_ignore_ascii_case(&file.path));
        if !last {
            continue;
        }
        let how = match fat.read(&file.path)? {
            Some(bytes) if bytes == file.bytes => continue,
            Some(_) => "differs from what was written",
            None => "is missing",
        };
        return Err(FirstBootError::Mismatch {
            file: file.path.clone(),
            place,
            how,
        });
    }
    fat.close()?;
    let mut written: Vec<String> = Vec::new();
    for file in files {
        if !written.iter().any(|p| p.eq_ignore_ascii_case(&file.path)) {
            written.push(file.path);
        }
    }
    Ok(Applied {
        format,
        files: written,
        summary: summary(&first_boot.settings),
    })
}

/// The FAT filesystem of `boot` on `disk`, through a fresh read window.
fn open<'d, D: Read + Write + Seek>(
    disk: &'d mut D,
    boot: &BootPartition,
) -> Result<Fat<Cached<Partition<&'d mut D>>>, FirstBootError> {
    let place = boot.place();
    let view = Partition::new(disk, boot.start, boot.len, place.clone());
    let volume = Cached::new(view).map_err(|source| FirstBootError::Disk {
        action: "read the boot partition of",
        place: DISK.to_owned(),
        source,
    })?;
    Fat::open(volume, &place)
}

#[cfg(test)]
mod tests;
