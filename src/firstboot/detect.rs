//! Which partition takes the settings, and in which format: read-only, and cheap (the
//! partition table, a boot sector per partition, the boot partition's root directory and at
//! most three small files; without a declared format, a few directories of the root
//! filesystem too).
//!
//! The boot partition is the first FAT partition of the MBR or GPT, unless another FAT
//! partition is flagged as the one to boot (MBR status 0x80, MBR type 0xEF, the GPT's EFI
//! system partition type or its "legacy BIOS bootable" attribute); a disk without a table that
//! is one FAT filesystem is its own boot partition. Logical partitions of an extended MBR
//! partition are not looked at: no board boots from one.
//!
//! The format is the catalog's (`declared`) when it names one; otherwise, from the boot
//! partition's root:
//!
//! | files at the root                                               | format            |
//! |-----------------------------------------------------------------|-------------------|
//! | `user-data` or `meta-data`, on Raspberry Pi OS with its own seed | `cloudinit-rpi`   |
//! | `user-data` or `meta-data`                                       | `cloudinit`       |
//! | `rpi-preseed.toml`                                               | `rpi-preseed`     |
//! | `cmdline.txt` and `config.txt`                                   | `systemd`         |
//!
//! "Raspberry Pi OS with its own seed" is decided conservatively, since its `rpi:` keys mean
//! nothing to another system's cloud-init: `cmdline.txt` and `config.txt` are there,
//! `issue.txt` says "Raspberry Pi reference" (pi-gen writes it on every Raspberry Pi OS
//! image), and the seed is pi-gen's own (its `meta-data` names the instance `rpios-image`, or
//! its `user-data` knows `rpi_userconf`). Anything less is plain cloud-init, which Raspberry
//! Pi OS's cloud-init reads too.
//!
//! Without a declared format, the image's root filesystem is looked at as well (read-only,
//! ext2/3/4 only; which partition is the root, and how it is read: [`super::rootfs`]). What it
//! says can take a format away, never give one, so settings are offered only where something
//! on the board will apply them:
//!
//! | the root filesystem                                  | the verdict                       |
//! |------------------------------------------------------|-----------------------------------|
//! | Armbian's `/root/.not_logged_in_yet`                 | none, whatever the boot partition holds, and also on a disk without a FAT partition: Armbian asks for its settings at the first login on the board, and Blockprint does not write into its root |
//! | no systemd, where the boot files say `systemd`       | none: nothing would start `firstrun.sh` (it is run by systemd's `systemd.run=`) |
//! | `/etc/cloud/cloud.cfg`, where the boot files name no format | none, saying that cloud-init is there but has no seed on the boot partition |
//! | anything else                                        | the boot files' format            |
//! | not found, not ext2/3/4, or not readable here        | the boot files decide, as in the table above |

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::disk::{Cached, Partition, ReadOnly};
use super::fat::Fat;
use super::rootfs::{self, RootFacts};
use super::table::{self, Table, read_at};
use super::{FirstBootError, Format, Unsupported};
use crate::le::u16_at;

/// The partition that holds the files a board reads at first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPartition {
    /// Its number as Linux counts them (1 for the first entry); 0 for a whole-disk FAT.
    pub number: usize,
    /// Its first byte on the disk.
    pub start: u64,
    /// Its length in bytes.
    pub len: u64,
    /// The table it is in.
    pub table: Table,
}

impl BootPartition {
    /// For messages: "partition 1 (MBR, bytes 4194304 to 54525951)".
    pub fn place(&self) -> String {
        table::place(
            self.table,
            self.number,
            self.start,
            self.len,
            "the whole disk (a FAT filesystem without a partition table)",
        )
    }
}

/// Whether `sector` is the boot sector of a FAT filesystem: a jump, then a BIOS parameter
/// block whose fields are all possible (exFAT and NTFS fail: their FAT fields are zero).
fn is_fat(sector: &[u8]) -> bool {
    let jump = (sector[0] == 0xEB && sector[2] == 0x90) || sector[0] == 0xE9;
    let bytes_per_sector = u16_at(sector, 11);
    let per_cluster = sector[13];
    jump && matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && per_cluster.is_power_of_two()
        && u16_at(sector, 14) >= 1
        && matches!(sector[16], 1 | 2)
        && (sector[21] == 0xF0 || sector[21] >= 0xF8)
}

/// The boot partition of `disk` (the whole disk, read from its start), named `name` in
/// errors.
pub(crate) fn boot_partition<D: Read + Seek>(
    disk: &mut D,
    name: &str,
) -> Result<BootPartition, FirstBootError> {
    let failed = |source| FirstBootError::Disk {
        action: "read the partition table of",
        place: name.to_owned(),
        source,
    };
    let none = |reason: String| FirstBootError::NoBootPartition {
        place: name.to_owned(),
        reason,
    };
    let layout = table::layout(disk).map_err(failed)?.map_err(none)?;
    if layout.table == Table::None {
        if layout.first[510..512] == [0x55, 0xAA] && is_fat(&layout.first) {
            return Ok(BootPartition {
                number: 0,
                start: 0,
                len: layout.size,
                table: Table::None,
            });
        }
        return Err(none("it has no partition table".into()));
    }
    let count = layout.entries.len();
    let mut fat = Vec::new();
    for entry in layout.entries {
        if !entry.fits(layout.size) {
            continue;
        }
        let mut sector = [0u8; 512];
        if read_at(disk, entry.start, &mut sector).map_err(failed)? && is_fat(&sector) {
            fat.push(entry);
        }
    }
    let chosen = fat
        .iter()
        .position(|c| c.flagged)
        .or((!fat.is_empty()).then_some(0));
    let Some(chosen) = chosen.map(|i| fat.swap_remove(i)) else {
        return Err(none(format!(
            "none of its {count} partition{} holds a FAT filesystem",
            if count == 1 { "" } else { "s" }
        )));
    };
    Ok(BootPartition {
        number: chosen.number,
        start: chosen.start,
        len: chosen.len,
        table: layout.table,
    })
}

/// The boot partition of `disk`, and, when no format is `declared`, what its root
/// filesystem says (`None` when it cannot be read). An Armbian root on a disk without a FAT
/// partition (its usual form) is refused for being Armbian rather than for the missing FAT.
pub(crate) fn boot_and_root<D: Read + Seek>(
    disk: &mut D,
    name: &str,
    declared: Option<Format>,
) -> Result<(BootPartition, Option<RootFacts>), FirstBootError> {
    let root = match declared {
        Some(_) => None,
        None => rootfs::root_facts(disk),
    };
    let boot = boot_partition(disk, name);
    if let (Err(FirstBootError::NoBootPartition { .. }), Some(root)) =
        (&boot, armbian(root.as_ref()))
    {
        return Err(FirstBootError::NoMechanism {
            why: Unsupported::Armbian { root },
        });
    }
    Ok((boot?, root))
}

/// The root's place when it is Armbian's.
fn armbian(root: Option<&RootFacts>) -> Option<String> {
    root.filter(|r| r.armbian == Some(true))
        .map(|r| r.place.clone())
}

/// The format the files of an open boot partition ask for, unless what was read of the
/// image's root filesystem (`root`) says it would not apply.
pub(crate) fn format_of<S: Read + Write + Seek>(
    fat: &Fat<S>,
    place: &str,
    root: Option<&RootFacts>,
) -> Result<Format, FirstBootError> {
    let refuse = |why| Err(FirstBootError::NoMechanism { why });
    if let Some(root) = armbian(root) {
        return refuse(Unsupported::Armbian { root });
    }
    let names: Vec<String> = fat
        .list_root()?
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    let seed = has("user-data") || has("meta-data");
    let firmware = has("cmdline.txt") && has("config.txt");
    if seed {
        if firmware && raspberry_pi_os(fat)? && pi_gen_seed(fat)? {
            return Ok(Format::CloudInitRpi);
        }
        return Ok(Format::CloudInit);
    }
    if has("rpi-preseed.toml") {
        return Ok(Format::RpiPreseed);
    }
    if firmware {
        if let Some(root) = root.filter(|r| r.systemd == Some(false)) {
            return refuse(Unsupported::NoSystemd {
                boot: place.to_owned(),
                root: root.place.clone(),
            });
        }
        return Ok(Format::Systemd);
    }
    if let Some(root) = root.filter(|r| r.cloud_init == Some(true)) {
        return refuse(Unsupported::UnseededCloudInit {
            boot: place.to_owned(),
            root: root.place.clone(),
        });
    }
    refuse(Unsupported::NoFiles {
        boot: place.to_owned(),
    })
}

/// Whether `issue.txt` is pi-gen's, as on every Raspberry Pi OS image.
fn raspberry_pi_os<S: Read + Write + Seek>(fat: &Fat<S>) -> Result<bool, FirstBootError> {
    Ok(fat
        .read("issue.txt")?
        .is_some_and(|text| text.starts_with(b"Raspberry Pi reference")))
}

/// Whether the NoCloud seed is the one pi-gen puts on Raspberry Pi OS images.
fn pi_gen_seed<S: Read + Write + Seek>(fat: &Fat<S>) -> Result<bool, FirstBootError> {
    let contains = |text: &[u8], word: &[u8]| text.windows(word.len()).any(|w| w == word);
    if fat
        .read("meta-data")?
        .is_some_and(|text| contains(&text, b"rpios-image"))
    {
        return Ok(true);
    }
    Ok(fat
        .read("user-data")?
        .is_some_and(|text| contains(&text, b"rpi_userconf")))
}

/// The boot partition of `disk` and the format its first boot reads: `declared` when given
/// (the partition must still be there to take the files), else what its files ask for, as
/// far as its root filesystem lets them.
pub(crate) fn detect<D: Read + Write + Seek>(
    disk: &mut D,
    name: &str,
    declared: Option<Format>,
) -> Result<(BootPartition, Format), FirstBootError> {
    let (boot, root) = boot_and_root(disk, name, declared)?;
    let place = boot.place();
    let view = Partition::new(&mut *disk, boot.start, boot.len, place.clone());
    let volume = Cached::new(view).map_err(|source| FirstBootError::Disk {
        action: "read the boot partition of",
        place: name.to_owned(),
        source,
    })?;
    let fat = Fat::open(volume, &place)?;
    let format = match declared {
        Some(format) => format,
        None => format_of(&fat, &place, root.as_ref())?,
    };
    fat.close()?;
    Ok((boot, format))
}

/// The format in which the raw image file at `path` takes first-boot settings, looked at
/// before it is written (opened read-only: nothing in it changes). `declared` is the catalog's
/// `init_format`, which wins, though the image must still have a FAT boot partition.
///
/// An image without a mechanism Blockprint knows is [`FirstBootError::NoMechanism`], so the
/// write can be refused before anything is written. Only for uncompressed images on disk; a
/// compressed or streamed image is looked at on the card, once written.
pub fn detect_image(path: &Path, declared: Option<Format>) -> Result<Format, FirstBootError> {
    let file = File::open(path).map_err(|source| FirstBootError::Image {
        path: path.display().to_string(),
        source,
    })?;
    let mut disk = ReadOnly(file);
    let name = format!("the image '{}'", path.display());
    detect(&mut disk, &name, declared).map(|(_, format)| format)
}

#[cfg(test)]
mod tests;
