//! Every sentence the app shows about engine facts, translated: guards, stages, signatures,
//! sizes, and errors turned into what happened plus what to do. The engine's own English
//! text goes only into the "technical details".

use std::time::Duration;

use blockprint::card::{CapacityReport, Finding, ProbeError};
use blockprint::copy::CopyError;
use blockprint::drives::{Drive, Guard, GuardKind};
use blockprint::source::SourceError;
use blockprint::target::TargetError;
use blockprint::target::sysfs::Overlap;
use blockprint::udisks::UdisksError;
use gettextrs::gettext;
use relm4::gtk::glib;

pub mod image;
pub mod kind;
pub mod signature;

use super::flow::DrivesError;
use super::i18n::{gettext_f, ngettext_f};
use super::job::{JobError, Stage};

/// A size as people read it on a card's label: decimal units, in the user's locale.
pub fn size(bytes: u64) -> String {
    glib::format_size(bytes).to_string()
}

/// A duration: "45 seconds", "3 minutes", "1 hour 5 minutes".
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        let n = secs.max(1);
        ngettext_f("{n} second", "{n} seconds", n, &[("n", &n.to_string())])
    } else if secs < 3600 {
        let n = secs.div_ceil(60);
        ngettext_f("{n} minute", "{n} minutes", n, &[("n", &n.to_string())])
    } else {
        let (h, m) = (secs / 3600, (secs % 3600) / 60);
        let hours = ngettext_f("{n} hour", "{n} hours", h, &[("n", &h.to_string())]);
        let minutes = ngettext_f("{n} minute", "{n} minutes", m, &[("n", &m.to_string())]);
        // Translators: a duration such as "1 hour 5 minutes".
        gettext_f(
            "{hours} {minutes}",
            &[("hours", &hours), ("minutes", &minutes)],
        )
    }
}

/// A drive among others: "SanDisk Ultra (32.0 GB, /dev/sdb)".
pub fn drive_name(drive: &Drive) -> String {
    gettext_f(
        // Translators: one drive of a list, such as "SanDisk Ultra (32.0 GB, /dev/sdb)".
        "{drive} ({size}, {device})",
        &[
            ("drive", &drive.display_name()),
            ("size", &size(drive.size)),
            ("device", &drive.device.display().to_string()),
        ],
    )
}

/// A drive's one-line description: "8.0 GB · USB · /dev/sdb".
pub fn drive_subtitle(drive: &Drive) -> String {
    let bus = match drive.bus.as_str() {
        "usb" => "USB".to_owned(),
        "sdio" => gettext("SD card"),
        "ieee1394" => "FireWire".to_owned(),
        "" if drive.backing_file.is_some() => gettext("Loop device"),
        "" => String::new(),
        other => other.to_uppercase(),
    };
    [size(drive.size), bus]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The short badge for a guard.
pub fn badge(guard: &Guard) -> String {
    match &guard.kind {
        GuardKind::SystemMount { .. } => gettext("Holds the system"),
        GuardKind::Mounted { .. } => gettext("Mounted"),
        GuardKind::SwapInUse { .. } => gettext("Swap in use"),
        GuardKind::Unlocked { .. } => gettext("Unlocked"),
        GuardKind::RaidOrLvm { .. } => gettext("RAID or LVM"),
        GuardKind::HoldsImage { .. } => gettext("Holds the image"),
        GuardKind::ReadOnly => gettext("Read-only"),
        GuardKind::TooSmall { .. } => gettext("Too small"),
        GuardKind::System => gettext("System drive"),
        GuardKind::Large { .. } => gettext("Large drive"),
    }
}

/// The sentence that explains a guard.
pub fn reason(guard: &Guard) -> String {
    let path = |p: &std::path::Path| p.display().to_string();
    match &guard.kind {
        GuardKind::SystemMount { volume, mount } => gettext_f(
            // Translators: {volume} is a partition such as /dev/sda2, {mount} a folder.
            "{volume} holds {mount} of the running system",
            &[("volume", &path(volume)), ("mount", &path(mount))],
        ),
        GuardKind::Mounted { volume, mount } => gettext_f(
            // Translators: {volume} is a partition such as /dev/sdb1, {mount} a folder.
            "{volume} is mounted on {mount} and will be unmounted",
            &[("volume", &path(volume)), ("mount", &path(mount))],
        ),
        GuardKind::SwapInUse { volume } => gettext_f(
            "{volume} is swap space in use and will be switched off",
            &[("volume", &path(volume))],
        ),
        GuardKind::Unlocked { volume } => gettext_f(
            "{volume} is an unlocked encrypted volume and will be locked",
            &[("volume", &path(volume))],
        ),
        GuardKind::RaidOrLvm { volume } => gettext_f(
            "{volume} belongs to a RAID array or an LVM volume group",
            &[("volume", &path(volume))],
        ),
        GuardKind::HoldsImage { image, how } => {
            let shown = path(image);
            let image = [("image", shown.as_str())];
            match how {
                Overlap::FileOn { .. } => gettext_f("It holds the image file {image}", &image),
                Overlap::SameDevice { .. } => gettext_f("It is the image {image} itself", &image),
                Overlap::ImageOnDevice { .. } => {
                    gettext_f("The image {image} is a part of it", &image)
                }
                Overlap::DeviceOnImage { .. } => {
                    gettext_f("It is a part of the image {image}", &image)
                }
                Overlap::LoopOver { .. } => {
                    gettext_f("It is stored in the image file {image}", &image)
                }
            }
        }
        GuardKind::ReadOnly => {
            gettext("It is read-only: slide the card’s lock switch to unlock it")
        }
        GuardKind::TooSmall { needed, size: has } => gettext_f(
            // Translators: {needed} and {size} are sizes such as "4.2 GB".
            "The image needs {needed}, the drive holds {size}",
            &[("needed", &size(*needed)), ("size", &size(*has))],
        ),
        GuardKind::System => gettext("An internal drive, or one not known to be removable"),
        GuardKind::Large { size: has } => gettext_f(
            "Large for a card or stick ({size}): make sure it is not a backup disk",
            &[("size", &size(*has))],
        ),
    }
}

/// The title of a stage.
pub fn stage(stage: Stage) -> String {
    match stage {
        Stage::Preparing => gettext("Preparing"),
        Stage::Writing => gettext("Writing"),
        Stage::Verifying => gettext("Verifying"),
        Stage::Finishing => gettext("Finishing"),
    }
}

/// An error as a title, a sentence with the fix, and the technical details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// A short title.
    pub title: String,
    /// What happened and what to do.
    pub body: String,
    /// The engine's full message chain.
    pub details: String,
}

/// Errors that can be told to people.
pub trait UserFacing {
    /// The title and sentence for this error.
    fn user_facing(&self) -> (String, String);
}

/// An error told to people, with its whole cause chain as the details.
pub fn user_error<E: UserFacing + std::error::Error>(error: &E) -> UserError {
    let (title, body) = error.user_facing();
    let mut details = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        details.push_str(": ");
        details.push_str(&cause.to_string());
        source = cause.source();
    }
    UserError {
        title,
        body,
        details,
    }
}

/// A card the probe found wanting, and an image of `image_size` bytes that was therefore not
/// written.
fn capacity(report: &CapacityReport, image_size: u64) -> (String, String) {
    let claimed = size(report.claimed);
    let needs = size(image_size);
    match report.finding {
        Finding::Unreliable { .. } => (
            gettext("The Card Loses Data"),
            gettext_f(
                // Translators: {claimed} is a size such as "64.0 GB".
                "This card claims {claimed} but lost test blocks at scattered places: it is \
                 failing or fake. Nothing was written to it. Use another card.",
                &[("claimed", &claimed)],
            ),
        ),
        _ => (
            gettext("This Card Is Fake"),
            gettext_f(
                // Translators: sizes such as "64.0 GB", "7.8 GB" and "2.7 GB".
                "This card claims {claimed} but holds only about {real}: it is counterfeit, \
                 and loses what is written beyond that. The image needs {needs}, so nothing \
                 was written. Use another card.",
                &[
                    ("claimed", &claimed),
                    ("real", &size(report.usable)),
                    ("needs", &needs),
                ],
            ),
        ),
    }
}

/// What the end of a write says about a counterfeit card the image fitted on.
pub fn counterfeit_but_written(report: &CapacityReport) -> String {
    gettext_f(
        // Translators: sizes such as "64.0 GB" and "7.8 GB".
        "Careful: this card claims {claimed} but holds only about {real}. It is counterfeit. \
         The image fits and was checked, but the system on it must not grow beyond {real}: \
         use another card.",
        &[
            ("claimed", &size(report.claimed)),
            ("real", &size(report.usable)),
        ],
    )
}

fn bad_card() -> String {
    gettext(
        "The drive did not keep what was written to it. This usually means a worn-out or fake \
         card, or a faulty card reader: try another card or another reader.",
    )
}

impl UserFacing for UdisksError {
    fn user_facing(&self) -> (String, String) {
        match self {
            UdisksError::NotAuthorized { .. } => (
                gettext("Not Allowed"),
                gettext(
                    "You are not allowed to write to this drive. Ask an administrator, or \
                     authenticate when asked.",
                ),
            ),
            UdisksError::NoAgent { .. } => (
                gettext("No Authentication Agent"),
                gettext(
                    "Writing needs your password, but no authentication agent is running to \
                     ask for it. Start your desktop’s polkit agent and try again.",
                ),
            ),
            UdisksError::Busy { device, .. } => (
                gettext("Drive Busy"),
                gettext_f(
                    "{device} is in use. Close the files and programs using it, then try \
                     again.",
                    &[("device", &device.display().to_string())],
                ),
            ),
            UdisksError::Gone { .. } => (
                gettext("Drive Removed"),
                gettext("The drive was removed or changed. Insert it again and write it again."),
            ),
            UdisksError::Changed { device, .. } => (
                gettext("Another Drive"),
                gettext_f(
                    "The drive in {device} is not the one you chose: another card or drive is \
                     in its place. Nothing was written. Check which drive it is and choose it \
                     again.",
                    &[("device", &device.display().to_string())],
                ),
            ),
            UdisksError::Unavailable(_) => (
                gettext("Drives Unavailable"),
                gettext(
                    "The UDisks service is not running, so drives cannot be listed or \
                     written. Install and start udisks2.",
                ),
            ),
            UdisksError::Failed { .. } => (
                gettext("The Drive Could Not Be Prepared"),
                gettext("The system refused to prepare the drive; see the details."),
            ),
        }
    }
}

impl UserFacing for DrivesError {
    fn user_facing(&self) -> (String, String) {
        let body = match self {
            DrivesError::Unavailable(e) => e.user_facing().1,
            DrivesError::Lost(_) => gettext(
                "The UDisks service stopped answering, so drives can no longer be listed or \
                 written. Restart udisks2, then restart Blockprint.",
            ),
        };
        (gettext("Drives Cannot Be Listed"), body)
    }
}

impl UserFacing for TargetError {
    fn user_facing(&self) -> (String, String) {
        match self {
            TargetError::TooSmall { .. } | TargetError::Overflow { .. } => (
                gettext("Drive Too Small"),
                gettext("The image does not fit on this drive. Use a larger one."),
            ),
            TargetError::Busy { .. } | TargetError::InUse { .. } => (
                gettext("Drive Busy"),
                gettext("Another program is using the drive. Close it and try again."),
            ),
            TargetError::Io { .. } => (gettext("Write Failed"), bad_card()),
            TargetError::DeviceFailed { .. } => (
                gettext("Write Failed"),
                gettext(
                    "The drive reported an error or was removed while it was being written. \
                     This usually means a worn-out or fake card, or a faulty card reader: try \
                     another card or another reader.",
                ),
            ),
            TargetError::Stalled { .. } => (
                gettext("The Drive Stopped Responding"),
                gettext(
                    "The drive has not answered for a minute while it was being written. This \
                     usually means a worn-out or fake card, or a faulty card reader: unplug it, \
                     and try another card or another reader.",
                ),
            ),
            _ => (
                gettext("The Drive Cannot Be Written"),
                gettext("The drive refused to be written; see the details."),
            ),
        }
    }
}

impl UserFacing for CopyError {
    fn user_facing(&self) -> (String, String) {
        match self {
            CopyError::Checksum { .. } => (
                gettext("The Image Is Damaged"),
                gettext(
                    "Part of the image does not match its block map. The download is \
                     probably damaged: download the image again. The drive must be written \
                     again before use.",
                ),
            ),
            CopyError::ReadBack { .. } | CopyError::Reopen { .. } => {
                (gettext("Verification Failed"), bad_card())
            }
            CopyError::Unreliable { .. } => (
                gettext("The Card Keeps Corrupting Data"),
                gettext(
                    "Parts of the card did not read back as written, even after writing them \
                     again twice. The card is worn out or fake, or the card reader is faulty: \
                     try another card or another reader.",
                ),
            ),
            CopyError::Capacity {
                report, image_size, ..
            } => capacity(report, *image_size),
            CopyError::Probe(ProbeError::Stalled { .. }) => (
                gettext("The Drive Stopped Responding"),
                gettext(
                    "The drive has not answered for a minute while it was being checked, so \
                     nothing of the image was written. This usually means a worn-out or fake \
                     card, or a faulty card reader: unplug it, and try another card or another \
                     reader.",
                ),
            ),
            CopyError::Probe(_) => (
                gettext("The Card Could Not Be Checked"),
                gettext(
                    "Finding out how much the card really holds failed part-way, so nothing of \
                     the image was written. This usually means a worn-out or fake card, or a \
                     faulty card reader: try another card or another reader.",
                ),
            ),
            CopyError::LostSentinel { .. } => (
                gettext("The Card Holds Less Than It Claims"),
                gettext(
                    "Test blocks written where the image puts nothing were lost during the \
                     write. The card is fake (it holds less than it claims) or failing, and \
                     it was left unbootable: use another card.",
                ),
            ),
            CopyError::Read { image, source, .. } if remote(image) => {
                if source.kind() == std::io::ErrorKind::InvalidData {
                    (
                        gettext("The Download Is Damaged"),
                        gettext(
                            "The download is damaged or was changed on the server, so it was \
                             not kept and the drive will not start from it. Writing again \
                             downloads it anew.",
                        ),
                    )
                } else {
                    (
                        gettext("The Download Stopped"),
                        gettext(
                            "The connection to the server was lost. Trying again goes on \
                             from where the download stopped.",
                        ),
                    )
                }
            }
            CopyError::Read { .. } | CopyError::Truncated { .. } => (
                gettext("The Image Cannot Be Read"),
                gettext(
                    "Reading the image failed part-way. Download it again, or check the disk \
                     it is on.",
                ),
            ),
            CopyError::SizeMismatch { .. } => (
                gettext("Wrong Block Map"),
                gettext(
                    "The block map belongs to another image. Choose the right block map, or \
                     write without one.",
                ),
            ),
            CopyError::EmptyImage { .. } => (
                gettext("Empty Image"),
                gettext("The image file is empty; there is nothing to write."),
            ),
            CopyError::Target(e) => e.user_facing(),
            CopyError::FirstBoot { .. } => (
                gettext("First-Boot Settings Not Applied"),
                gettext(
                    "The image is written, but the first-boot settings could not be written \
                     to the card or did not read back, so it will not start like this. The \
                     details say why: correct that, or clear the settings, and write it again.",
                ),
            ),
            _ => (
                gettext("Writing Failed"),
                gettext("Something went wrong inside Blockprint; please report it."),
            ),
        }
    }
}

/// Whether an image, by the name the engine gives it, is read from a web server.
pub fn remote(image: &str) -> bool {
    image.starts_with("http://") || image.starts_with("https://")
}

impl UserFacing for JobError {
    fn user_facing(&self) -> (String, String) {
        match self {
            JobError::Udisks(e) => e.user_facing(),
            JobError::Target(e) => e.user_facing(),
            JobError::Copy(e) => e.user_facing(),
            JobError::Source(SourceError::Incomplete { .. }) => (
                gettext("This Download Is Incomplete"),
                gettext(
                    "The file stops before its end, so nothing was written. Download it \
                     again.",
                ),
            ),
            JobError::Source(SourceError::Http(e)) if e.is_transient() => {
                (gettext("The Download Could Not Start"), e.user_facing().1)
            }
            JobError::Input(_) | JobError::Source(_) => (
                gettext("The Image Cannot Be Opened"),
                gettext("The image could not be opened or decoded; see the details."),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
