//! First-boot settings: a hostname, a user, SSH, Wi-Fi and locale, written into the boot
//! partition of a freshly written card so a board without a screen comes up set up.
//!
//! ```text
//!  --settings FILE (TOML) / the app's dialog
//!        |  settings::parse: every value checked, the password hashed (SHA-512-crypt)
//!        v
//!    Settings  --render(format, the partition's own files)-->  files to write
//!        |                                                         |
//!   detect: which first-boot mechanism the image carries       apply: written into the FAT
//!   (the catalog's init_format, else its boot files, as far    boot partition in place, then
//!   as its ext root filesystem, read-only, says they apply)    read back and compared
//! ```
//!
//! Nothing here mounts anything or runs a program: the boot partition is edited through the
//! descriptor the copy already holds, before the held-back first MiB is written, so a card whose
//! settings did not read back is left unbootable rather than booting without them.
//!
//! Every value is checked when the settings are read and quoted again for the file it lands in
//! (a shell script, YAML, TOML or a NetworkManager key file), so an SSID such as
//! `a"; rm -rf / #` arrives as typed and never runs.

mod apply;
mod cloudinit;
mod crypt;
mod detect;
pub(crate) mod disk;
mod fat;
mod numbered;
mod preseed;
pub mod quote;
mod render;
mod rootfs;
mod settings;
mod systemd;
mod table;
#[cfg(test)]
mod testing;

pub use apply::apply;
pub use detect::{BootPartition, detect_image};
pub use numbered::{HostnamePattern, parse_file_numbered};
pub use render::{RenderError, render, summary};
#[doc(hidden)]
pub use rootfs::{RootFacts, root_facts};
pub use table::Table;

pub use settings::{
    Locale, Settings, SettingsError, Ssh, User, Wifi, check_hash, check_hostname, check_key,
    check_keyboard, check_locale, check_timezone, check_user_name, hash_password, parse,
    parse_file, wifi,
};

/// What an image runs at first boot to set itself up, hence which files carry the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Raspberry Pi OS's `firstrun.sh`, started by `systemd.run=` on the kernel command line
    /// (`cmdline.txt`), as the Bookworm images honour it.
    Systemd,
    /// cloud-init's NoCloud seed on the boot partition: `user-data`, `meta-data` and
    /// `network-config` (Ubuntu's Raspberry Pi images, and any image with that seed).
    CloudInit,
    /// The NoCloud seed as Raspberry Pi OS (Trixie and later) reads it, with its own
    /// `rpi:` user-data keys for the keyboard and interfaces.
    CloudInitRpi,
    /// Raspberry Pi Imager 2.0.11's single `rpi-preseed.toml` on the boot partition.
    RpiPreseed,
}

impl Format {
    /// The format a catalog's `init_format` names (`systemd`, `cloudinit`, `cloudinit-rpi`,
    /// `rpi-preseed`), or `None` for one Blockprint does not know.
    pub fn from_init_format(name: &str) -> Option<Self> {
        match name {
            "systemd" => Some(Self::Systemd),
            "cloudinit" => Some(Self::CloudInit),
            "cloudinit-rpi" => Some(Self::CloudInitRpi),
            "rpi-preseed" => Some(Self::RpiPreseed),
            _ => None,
        }
    }

    /// The catalog's name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Systemd => "systemd",
            Self::CloudInit => "cloudinit",
            Self::CloudInitRpi => "cloudinit-rpi",
            Self::RpiPreseed => "rpi-preseed",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One file to write into the boot partition: its path from the partition's root (`/`
/// separated, such as `firstrun.sh`) and its whole new content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFile {
    /// The path from the FAT partition's root.
    pub path: String,
    /// The file's whole content.
    pub bytes: Vec<u8>,
}

/// What a copy is asked to set up on the card after the image: the settings, and the format
/// the image's catalog entry declared (`None`: look inside the image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstBoot {
    /// The settings.
    pub settings: Settings,
    /// The catalog entry's `init_format`, which wins over what the image's files suggest.
    pub declared: Option<Format>,
}

/// What was written and read back, for the copy's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The format written.
    pub format: Format,
    /// The files written, from the boot partition's root.
    pub files: Vec<String>,
    /// The settings in a few words: "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home".
    pub summary: String,
}

/// Why first-boot settings could not be written to a card (or looked for in an image). Each
/// names the disk, the partition or the file concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FirstBootError {
    /// The image file to look at cannot be opened.
    #[error("cannot open the image '{path}' to see how it takes first-boot settings")]
    Image {
        /// The image.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The disk (card or image) cannot be read or flushed.
    #[error("cannot {action} {place}")]
    Disk {
        /// What was being done: "read the partition table of", "flush the settings to".
        action: &'static str,
        /// The disk.
        place: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No partition holds a FAT filesystem to put the settings in.
    #[error(
        "{place} has no FAT boot partition to take first-boot settings ({reason}); write it without settings"
    )]
    NoBootPartition {
        /// The disk.
        place: String,
        /// What was found instead.
        reason: String,
    },
    /// Nothing on the image would apply settings at first boot, or nothing Blockprint
    /// writes: why is in `why`.
    #[error("{why}: write it without settings")]
    NoMechanism {
        /// What was found.
        why: Unsupported,
    },
    /// The FAT filesystem of the boot partition refused an operation.
    #[error("cannot {action} on the boot partition, {place}")]
    Fat {
        /// What was being done: "open the FAT filesystem", "write 'firstrun.sh' (2311 bytes)".
        action: String,
        /// The boot partition.
        place: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file the settings are merged into is too large to be what it should be.
    #[error(
        "'{file}' on the boot partition, {place}, is larger than {limit} bytes, so it is not the small text file the first boot reads; look at the image"
    )]
    TooLarge {
        /// The file.
        file: String,
        /// The boot partition.
        place: String,
        /// The largest size read.
        limit: u64,
    },
    /// The format cannot carry these settings on this boot partition.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A file written reads back different, or not at all.
    #[error(
        "'{file}' on the boot partition, {place}, {how} when read back: the card accepted the settings but did not keep them (a failing or counterfeit card?)"
    )]
    Mismatch {
        /// The file.
        file: String,
        /// The boot partition.
        place: String,
        /// "differs from what was written", "is missing".
        how: &'static str,
    },
    /// The destination keeps nothing (a null device).
    #[error("'{target}' keeps nothing written to it, so it cannot take first-boot settings")]
    NoStorage {
        /// The destination.
        target: String,
    },
}

/// Why an image takes no first-boot settings from Blockprint: what its boot partition and
/// root filesystem were found to hold. Each names the partitions looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// The boot partition has none of the files a known mechanism reads (no seed, no
    /// `cmdline.txt` and `config.txt`, no `rpi-preseed.toml`).
    NoFiles {
        /// The boot partition.
        boot: String,
    },
    /// The boot files are for a `firstrun.sh`, which systemd starts, but the root filesystem
    /// has no systemd.
    NoSystemd {
        /// The boot partition.
        boot: String,
        /// The root filesystem.
        root: String,
    },
    /// The root filesystem is Armbian's, which asks for its settings at the first login on
    /// the board (its `/root/.not_logged_in_yet`).
    Armbian {
        /// The root filesystem.
        root: String,
    },
    /// cloud-init is installed (`/etc/cloud/cloud.cfg`) but the boot partition holds no
    /// seed for it, and nothing else that applies settings.
    UnseededCloudInit {
        /// The boot partition.
        boot: String,
        /// The root filesystem.
        root: String,
    },
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoFiles { boot } => write!(
                f,
                "this image has no first-boot mechanism Blockprint knows (no cloud-init seed, \
                 no cmdline.txt on its boot partition, {boot})"
            ),
            Self::NoSystemd { boot, root } => write!(
                f,
                "this image's boot partition, {boot}, is laid out for a firstrun.sh started by \
                 systemd, but its root filesystem, {root}, has no systemd to start it (neither \
                 /usr/lib/systemd/systemd nor /lib/systemd/systemd)"
            ),
            Self::Armbian { root } => write!(
                f,
                "this image is Armbian, which asks for its settings at the first login on the \
                 board, and Blockprint does not write into its root filesystem, {root}"
            ),
            Self::UnseededCloudInit { boot, root } => write!(
                f,
                "this image has cloud-init installed (/etc/cloud/cloud.cfg on its root \
                 filesystem, {root}) but no seed for it (user-data, meta-data) on its boot \
                 partition, {boot}, and nothing else that applies settings"
            ),
        }
    }
}
