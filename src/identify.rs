//! What an image is, told by its content (never by its name), before anything is written: an
//! image that will not work written raw to a card or stick is caught before the drive step.
//!
//! ```text
//!  image ──► ISO 9660 / UDF volume? ── system area has an MBR or GPT ──► HybridIso        fine
//!   │                                  ├─ sources/install.wim, bootmgr ─► WindowsInstaller refuse
//!   │                                  └─ otherwise ─────────────────────► OpticalOnlyIso   warn
//!   ├─► MBR or GPT partition table ─────────────────────────────────────► Disk             fine
//!   ├─► a filesystem the scanner knows ─────────────────────────────────► BareFilesystem   note
//!   ├─► a boot sector (0x55AA at byte 510) ─────────────────────────────► BootSector       fine
//!   ├─► PDF, program, package, archive, web page, text, picture… ───────► NotADiskImage    refuse
//!   └─► anything else ──────────────────────────────────────────────────► Unknown          fine
//! ```
//!
//! [`identify`] never fails: a read that fails or a structure that points out of bounds is a
//! doubt ([`Identity::Undetermined`]), and a doubt is never refused. Its work is bounded: a few
//! MiB read at most, directory walks limited in depth, entries and bytes. A source that cannot
//! seek (a decompressor, a pipe, HTTP without Range) is identified from a prefix, see [`peek`].
//!
//! The verdicts are typed (names, counts), so that a front end can word them itself; their
//! [`Display`](fmt::Display) is the English the CLI prints (which adds how to write a refused
//! image anyway: the engine knows no command line).

mod budget;
mod head;
mod iso9660;
mod magic;
mod optical;
#[cfg(test)]
mod tests;
mod udf;

use std::fmt;
use std::path::Path;

pub use head::{HEAD_LIMIT, Head, peek};

use crate::source::{LocalFile, RandomAccess};
use budget::{Budget, Doubt};

/// Bytes [`identify`] reads at most of an image, besides the few sectors that the scanner's
/// partition table and filesystem signatures take.
const BUDGET: u64 = 6 << 20;

/// Bytes of the start of an image that the content checks look at.
const START: u64 = 64 << 10;

/// What an image is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// An ordinary disk image: it starts with a partition table.
    Disk {
        /// Its partition table.
        table: TableKind,
    },
    /// An ISO 9660 or UDF volume with an MBR or GPT in its system area: it boots from a DVD
    /// and written to a USB stick alike.
    HybridIso {
        /// The volume name.
        volume: String,
        /// The boot structure in its system area.
        table: TableKind,
    },
    /// An ISO 9660 or UDF volume without an MBR or GPT: it boots from optical media only.
    OpticalOnlyIso {
        /// The volume name.
        volume: String,
    },
    /// A Windows installer ISO (its files `sources/install.wim` or `.esd`, or `bootmgr`, and
    /// no MBR or GPT): written raw to a USB stick it does not boot.
    WindowsInstaller {
        /// The volume name.
        volume: String,
        /// The files found that make it one ("sources/install.wim", "bootmgr").
        evidence: Vec<String>,
    },
    /// No partition table, but a filesystem the scanner knows: a filesystem image.
    BareFilesystem {
        /// The filesystem ("ext2/3/4", "FAT", "squashfs", …).
        fs: String,
    },
    /// A boot sector (0x55AA at byte 510) without a partition table or filesystem that
    /// Blockprint reads: boot code, a disk of a kind it does not know.
    BootSector,
    /// Not a disk image at all, but what it looks like.
    NotADiskImage {
        /// What the file is.
        looks_like: Looks,
    },
    /// Nothing Blockprint recognises: no partition table, filesystem or ISO structure, and
    /// no known kind of file either (raw data, a bootloader blob, zeros).
    Unknown,
    /// What the image is could not be told: a read failed (past the end of a stream's
    /// prefix, an I/O error) or a structure is damaged.
    Undetermined {
        /// What failed, and where.
        reason: String,
    },
}

/// A partition table, or the boot structure of a hybrid ISO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// An MBR (DOS) partition table.
    Mbr,
    /// A GUID partition table.
    Gpt,
}

/// What a file that is no disk image looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Looks {
    /// A PDF document.
    Pdf,
    /// A Microsoft Office document or Windows Installer package (an OLE compound file).
    OfficeOrMsi,
    /// A Windows or DOS program (`MZ`, a PE file).
    WindowsProgram,
    /// A Linux (or other ELF) program or library.
    ElfProgram,
    /// A macOS program (Mach-O).
    MacProgram,
    /// A Debian package (`.deb`).
    DebianPackage,
    /// An RPM package.
    RpmPackage,
    /// An `ar` archive (a static library).
    ArArchive,
    /// A ZIP archive.
    Zip {
        /// Its files (directories left out) when its central directory is readable.
        files: Option<u64>,
    },
    /// A tar archive.
    Tar {
        /// Its files when its headers could be counted.
        files: Option<u64>,
    },
    /// A web page (HTML): a download link that led to a page.
    Html,
    /// Plain text.
    Text,
    /// A picture.
    Picture {
        /// "PNG", "JPEG", "GIF", "WebP".
        format: &'static str,
    },
    /// An audio or video file.
    Media {
        /// "MP4", "Matroska", "MP3", "Ogg", …
        format: &'static str,
    },
    /// A compressed file or archive that the image reader does not unpack.
    Compressed {
        /// "7-Zip", "RAR", "Windows cabinet", …
        format: &'static str,
    },
    /// A virtual machine's disk, which must be converted to a raw image first.
    VirtualDisk {
        /// "QCOW2", "VMDK", "VDI", "VHDX", "Apple disk image (DMG)".
        format: &'static str,
    },
    /// An empty file.
    Empty,
    /// A file too small to hold a disk image's first sector.
    Tiny {
        /// Its size.
        bytes: u64,
    },
}

/// What to do about an [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Advice {
    /// Write it; nothing to say.
    Fine,
    /// Write it, and say what it is.
    Note,
    /// Write it, with a warning: it may not do what the user wants.
    Warn,
    /// Do not write it unless the user insists: it will not work written raw.
    Refuse,
}

/// Tells what `image` is. Never fails and never panics; reads a few MiB at most.
pub fn identify(image: &dyn RandomAccess) -> Identity {
    classify(&Budget::new(image, BUDGET))
        .unwrap_or_else(|Doubt(reason)| Identity::Undetermined { reason })
}

/// [`identify`] for the local file (or block device) at `path`; one that cannot be opened is
/// [`Identity::Undetermined`].
pub fn identify_path(path: &Path) -> Identity {
    match LocalFile::open(path) {
        Ok(file) => identify(&file),
        Err(e) => Identity::Undetermined {
            reason: format!("cannot open '{}': {e}", path.display()),
        },
    }
}

fn classify(r: &Budget) -> Result<Identity, Doubt> {
    if r.len() == 0 {
        return Ok(Identity::NotADiskImage {
            looks_like: Looks::Empty,
        });
    }
    let start = r.read(0, r.len().min(START), "the start of the image")?;
    if let Some(optical) = optical::recognise(r)? {
        return Ok(optical);
    }
    if let Some(table) = crate::scan::table(r.image()) {
        return Ok(Identity::Disk {
            table: match table {
                crate::scan::Table::Gpt => TableKind::Gpt,
                crate::scan::Table::Mbr => TableKind::Mbr,
            },
        });
    }
    if let Some(fs) = crate::scan::recognise(r.image()) {
        return Ok(Identity::BareFilesystem { fs });
    }
    if start.get(510..512) == Some(&[0x55, 0xAA]) {
        return Ok(Identity::BootSector);
    }
    if let Some(looks_like) = magic::looks(&start, r) {
        return Ok(Identity::NotADiskImage { looks_like });
    }
    if r.len() < 512 {
        return Ok(Identity::NotADiskImage {
            looks_like: Looks::Tiny { bytes: r.len() },
        });
    }
    Ok(Identity::Unknown)
}

impl Identity {
    /// What to do about it.
    pub fn advice(&self) -> Advice {
        match self {
            Identity::WindowsInstaller { .. } | Identity::NotADiskImage { .. } => Advice::Refuse,
            Identity::OpticalOnlyIso { .. } => Advice::Warn,
            Identity::BareFilesystem { .. } => Advice::Note,
            // Unknown is written without a word: raw data is what eMMC boot images, bootloader
            // blobs and scripts' test images are, and a doubt is never refused.
            Identity::Disk { .. }
            | Identity::HybridIso { .. }
            | Identity::BootSector
            | Identity::Unknown
            | Identity::Undetermined { .. } => Advice::Fine,
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableKind::Mbr => "MBR",
            TableKind::Gpt => "GPT",
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Disk { table } => {
                write!(f, "this is a disk image with an {table} partition table")
            }
            Identity::HybridIso { volume, table } => write!(
                f,
                "this is a hybrid ISO image (volume '{volume}', with an {table} for booting from a USB stick)"
            ),
            Identity::OpticalOnlyIso { volume } => write!(
                f,
                "this is an ISO image (volume '{volume}') without an MBR or GPT: it boots from a CD or DVD, but written to a USB stick or card most computers will not start from it"
            ),
            Identity::WindowsInstaller { volume, evidence } => write!(
                f,
                "this is a Windows installer ISO (volume '{volume}': {}): written raw to a USB stick it will not boot; use Microsoft's Media Creation Tool or a tool that makes a Windows stick (WoeUSB, Ventoy)",
                evidence.join(", ")
            ),
            Identity::BareFilesystem { fs } => write!(
                f,
                "this is a bare {fs} filesystem without a partition table: it is written as it is (readable, but nothing boots from it on its own)"
            ),
            Identity::BootSector => f.write_str(
                "this image starts with a boot sector but no partition table or filesystem Blockprint knows; it is written as it is",
            ),
            Identity::NotADiskImage {
                looks_like: Looks::Empty,
            } => f.write_str(
                "the image is empty (0 bytes), not a disk image: the download probably failed; download it again",
            ),
            Identity::NotADiskImage { looks_like } => write!(
                f,
                "this is {looks_like}, not a disk image: {}",
                looks_like.what_to_do()
            ),
            Identity::Unknown => f.write_str(
                "Blockprint does not recognise what this image holds (no partition table, filesystem or ISO volume); it is written as it is",
            ),
            Identity::Undetermined { reason } => {
                write!(f, "what this image is could not be told ({reason})")
            }
        }
    }
}

impl Looks {
    /// What to do instead of writing it, for the message.
    fn what_to_do(&self) -> &'static str {
        match self {
            Looks::Zip { .. } | Looks::Tar { .. } | Looks::ArArchive => {
                "extract it and write the disk image inside, if there is one"
            }
            Looks::Compressed { .. } => {
                "extract it with its own tool and write the disk image inside, if there is one"
            }
            Looks::VirtualDisk { .. } => {
                "convert it to a raw image first (qemu-img convert -O raw IMAGE disk.img)"
            }
            Looks::Html => {
                "the download led to a web page instead of the image; download the image itself"
            }
            Looks::DebianPackage | Looks::RpmPackage => {
                "install it with the package manager instead"
            }
            Looks::Empty | Looks::Tiny { .. } => {
                "the download probably failed; download the image again"
            }
            Looks::Pdf
            | Looks::OfficeOrMsi
            | Looks::WindowsProgram
            | Looks::ElfProgram
            | Looks::MacProgram
            | Looks::Text
            | Looks::Picture { .. }
            | Looks::Media { .. } => {
                "download the disk image itself (.img, .iso, .wic, often compressed)"
            }
        }
    }
}

/// "1 file", "12 files".
fn files(n: u64) -> String {
    format!("{n} file{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for Looks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Looks::Pdf => f.write_str("a PDF document"),
            Looks::OfficeOrMsi => {
                f.write_str("a Microsoft Office document or Windows Installer package")
            }
            Looks::WindowsProgram => f.write_str("a Windows program (.exe)"),
            Looks::ElfProgram => f.write_str("a Linux program (ELF)"),
            Looks::MacProgram => f.write_str("a macOS program"),
            Looks::DebianPackage => f.write_str("a Debian package (.deb)"),
            Looks::RpmPackage => f.write_str("an RPM package"),
            Looks::ArArchive => f.write_str("an ar archive"),
            Looks::Zip { files: Some(n) } => write!(f, "a ZIP archive of {}", files(*n)),
            Looks::Zip { files: None } => f.write_str("a ZIP archive"),
            Looks::Tar { files: Some(n) } => write!(f, "a tar archive of {}", files(*n)),
            Looks::Tar { files: None } => f.write_str("a tar archive"),
            Looks::Html => f.write_str("a web page (HTML)"),
            Looks::Text => f.write_str("a text file"),
            Looks::Picture { format } => write!(f, "a {format} picture"),
            Looks::Media { format } => write!(f, "an audio or video file ({format})"),
            Looks::Compressed { format } => write!(f, "a {format} archive"),
            Looks::VirtualDisk { format } => write!(f, "a virtual machine disk ({format})"),
            Looks::Empty => f.write_str("an empty file"),
            Looks::Tiny { bytes } => write!(
                f,
                "a file of {bytes} byte{}",
                if *bytes == 1 { "" } else { "s" }
            ),
        }
    }
}
