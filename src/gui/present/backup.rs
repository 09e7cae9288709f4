//! "Back Up Drive…" in words: its question, its page while it runs (what is read of what,
//! what is saved so far, speed, time left) and its end, with every failure told as what
//! happened and what to do (the engine's words, which name the device and offset, go under
//! "Technical Details").

use std::path::Path;

use blockprint::backup::BackupError;
use blockprint::drives::Drive;
use blockprint::progress::Phase;
use blockprint::udisks::UdisksError;
use gettextrs::gettext;

use super::write::pace;
use crate::gui::backup_page::{BackupEnding, BackupProgress, BackupView};
use crate::gui::flow::{BackupEnd, BackupFailure, BackupRun, BackupState, Flow};
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::wording::{UserFacing, drive_name, size, user_error};
use crate::gui::write_page::Look;

/// What the backup page shows.
pub fn view(flow: &Flow) -> BackupView {
    match &flow.backup.state {
        BackupState::Idle => BackupView::default(),
        BackupState::Running(run) => BackupView {
            running: Some(progress(run)),
            end: None,
        },
        BackupState::Over(run, end) => BackupView {
            running: None,
            end: Some(ending(run, end)),
        },
    }
}

/// The question's heading and its words for `drive`, the one chosen in it (`None`: none yet),
/// of `count` drives offered.
pub fn question(drive: Option<&Drive>, count: usize) -> (String, String) {
    let heading = match (drive, count) {
        (Some(drive), 1) => gettext_f("Back Up {drive}?", &[("drive", &drive.display_name())]),
        _ => gettext("Back Up a Drive"),
    };
    if count == 0 {
        return (heading, gettext("Insert a USB drive or SD card first."));
    }
    let mut body = match drive {
        Some(drive) => gettext_f(
            // Translators: {drive} is "SanDisk Ultra (32.0 GB, /dev/sdb)".
            "Only the blocks in use on {drive} are read. They are saved compressed, with a \
             block map beside the file, so that writing them back to a card is quick and \
             every block is checked.",
            &[("drive", &drive_name(drive))],
        ),
        None => gettext(
            "Only the blocks in use on the drive chosen are read. They are saved compressed, \
             with a block map beside the file, so that writing them back to a card is quick \
             and every block is checked.",
        ),
    };
    if let Some(mounted) = drive.and_then(mounted) {
        body.push_str("\n\n");
        body.push_str(&mounted);
    }
    body.push_str("\n\n");
    body.push_str(&gettext(
        "The file is compressed with zstd; name it .img.xz or .img.gz for those formats, or \
         .img for none.",
    ));
    (heading, body)
}

/// That the drive's mounted partitions are unmounted first, naming them; `None` if none is.
/// An unlocked encrypted one counts (its filesystem is mounted from its cleartext device, and
/// it is locked first).
fn mounted(drive: &Drive) -> Option<String> {
    let names: Vec<String> = drive
        .volumes
        .iter()
        .filter(|v| !v.mount_points.is_empty() || v.unlocked)
        .map(|v| {
            let device = v.device.display().to_string();
            if v.label.is_empty() {
                device
            } else {
                // Translators: a partition: its label and its device, "rootfs (/dev/sdb2)".
                gettext_f(
                    "{label} ({device})",
                    &[("label", &v.label), ("device", &device)],
                )
            }
        })
        .collect();
    let n = names.len() as u64;
    (n > 0).then(|| {
        ngettext_f(
            // Translators: {partitions} is one partition, "rootfs (/dev/sdb2)", or several,
            // separated by commas.
            "{partitions} is mounted: it is unmounted first, so that nothing on it changes \
             while it is read.",
            "{partitions} are mounted: they are unmounted first, so that nothing on them \
             changes while they are read.",
            n,
            &[("partitions", &names.join(", "))],
        )
    })
}

fn progress(run: &BackupRun) -> BackupProgress {
    let file = file_name(&run.out);
    let folder = run
        .out
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let meter = &run.meter;
    let reading = run.phase == Some(Phase::Hashing);
    let status = if run.stopping {
        gettext("Stopping…")
    } else {
        match run.phase {
            None => gettext("Unmounting and opening the drive…"),
            Some(Phase::Mapping) => gettext("Finding the blocks in use…"),
            Some(Phase::Hashing) => gettext("Reading the blocks in use"),
            Some(_) => gettext("Saving the file to disk…"),
        }
    };
    BackupProgress {
        title: gettext_f(
            // Translators: {drive} is a name such as "SanDisk Ultra".
            "Backing Up {drive}",
            &[("drive", &run.drive.display_name())],
        ),
        headline: gettext_f(
            // Translators: a file name and the folder it is in.
            "To {file} in {folder}",
            &[("file", &file), ("folder", &folder)],
        ),
        status,
        fraction: meter.fraction().filter(|_| reading),
        amount: if reading {
            gettext_f(
                // Translators: "Read 412 MB of 1.1 GB used (of 32 GB)": the bytes in use read
                // so far, all of them, and the drive's size.
                "Read {done} of {used} used (of {size})",
                &[
                    ("done", &size(meter.done)),
                    ("used", &size(meter.total.unwrap_or_default())),
                    ("size", &size(run.drive.size)),
                ],
            )
        } else {
            String::new()
        },
        saved: if reading {
            // Translators: the size of the (compressed) file written so far.
            gettext_f("Saved so far: {size}", &[("size", &size(run.saved))])
        } else {
            String::new()
        },
        pace: if reading { pace(meter) } else { String::new() },
        can_cancel: !run.stopping,
    }
}

fn ending(run: &BackupRun, end: &BackupEnd) -> BackupEnding {
    let drive = run.drive.display_name();
    match end {
        BackupEnd::Saved(summary) => {
            let folder = summary
                .output
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let body = [
                gettext_f(
                    // Translators: "pi-2025-05-01.img.zst (412 MB) is in /home/me."
                    "{file} ({size}) is in {folder}.",
                    &[
                        ("file", &file_name(&summary.output)),
                        ("size", &size(summary.output_size)),
                        ("folder", &folder),
                    ],
                ),
                gettext_f(
                    // Translators: sizes such as "1.1 GB" and "32.0 GB".
                    "It holds the {used} in use of {total}; the block map beside it checks \
                     every range as it is written back.",
                    &[
                        ("used", &size(summary.used_bytes)),
                        ("total", &size(summary.image_size)),
                    ],
                ),
                gettext(
                    "Open it as an image to write it to a card. The drive was only read: \
                     nothing on it changed.",
                ),
            ]
            .join("\n\n");
            BackupEnding {
                title: gettext("Backup Saved"),
                body,
                look: Look::Done,
                details: None,
                retry: false,
                show: true,
            }
        }
        BackupEnd::Failed(failure) => {
            let words = user_error(&**failure);
            BackupEnding {
                title: gettext("Backup Failed"),
                body: gettext_f(
                    // Translators: {reason} is a sentence or two on what went wrong.
                    "{reason} Nothing was saved.",
                    &[("reason", &words.body)],
                ),
                look: Look::Failed,
                details: Some(words.details),
                retry: true,
                show: false,
            }
        }
        BackupEnd::Cancelled => BackupEnding {
            title: gettext("Backup Cancelled"),
            body: gettext_f(
                "Nothing was saved, and {drive} is as it was.",
                &[("drive", &drive)],
            ),
            look: Look::Stopped,
            details: None,
            retry: false,
            show: false,
        },
    }
}

/// A notification's title and body for a backup that ended while the window was not in front.
pub fn notification(flow: &Flow) -> Option<(String, String)> {
    let BackupState::Over(run, end) = &flow.backup.state else {
        return None;
    };
    let ending = ending(run, end);
    Some((ending.title, file_name(&run.out)))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl UserFacing for BackupFailure {
    fn user_facing(&self) -> (String, String) {
        match self {
            BackupFailure::Udisks(e) => udisks(e),
            BackupFailure::Open { .. } => (
                gettext("The Drive Cannot Be Read"),
                gettext("The drive was opened but cannot be read; see the details."),
            ),
            BackupFailure::Backup(e) => backup(e),
            BackupFailure::OnTheDrive { mount, .. } => (
                gettext("Not on the Drive Itself"),
                gettext_f(
                    "The file was to be saved in {folder}, on the drive being backed up, \
                     which is unmounted before it is read. Choose a folder on another drive.",
                    &[("folder", &mount.display().to_string())],
                ),
            ),
            BackupFailure::Cancelled => (gettext("Backup Cancelled"), String::new()),
        }
    }
}

/// udisksd's refusals, as they concern reading a drive (its own words speak of writing).
fn udisks(error: &UdisksError) -> (String, String) {
    match error {
        UdisksError::NotAuthorized { .. } => (
            gettext("Not Allowed"),
            gettext(
                "You are not allowed to read this drive. Ask an administrator, or \
                 authenticate when asked.",
            ),
        ),
        UdisksError::NoAgent { .. } => (
            gettext("No Authentication Agent"),
            gettext(
                "You are not allowed to read this drive without your password, and no \
                 authentication agent is running to ask for it. Start your desktop’s polkit \
                 agent and try again.",
            ),
        ),
        UdisksError::Gone { .. } => (
            gettext("Drive Removed"),
            gettext("The drive was removed. Insert it again and try again."),
        ),
        UdisksError::Changed { device, .. } => (
            gettext("Another Drive"),
            gettext_f(
                "The drive in {device} is not the one you chose: another card or drive is in \
                 its place. Check which drive it is and choose it again.",
                &[("device", &device.display().to_string())],
            ),
        ),
        // Busy (a file open on a partition), Unavailable: as for writing.
        UdisksError::Busy { .. } | UdisksError::Unavailable(_) => error.user_facing(),
        UdisksError::Failed { .. } => (
            gettext("The Drive Could Not Be Opened"),
            gettext("The system refused to unmount or open the drive; see the details."),
        ),
    }
}

fn backup(error: &BackupError) -> (String, String) {
    match error {
        BackupError::Read { .. } => (
            gettext("The Drive Cannot Be Read"),
            gettext(
                "Reading the drive failed part-way. The card may be worn out, or the card \
                 reader faulty: try another reader.",
            ),
        ),
        BackupError::Shrunk { .. } => (
            gettext("Drive Removed"),
            gettext(
                "The drive was removed or changed while it was read. Insert it again and try again.",
            ),
        ),
        BackupError::Empty { .. } => (
            gettext("Empty Drive"),
            gettext("The drive holds no data; there is nothing to back up."),
        ),
        BackupError::Create { folder, .. } => (
            gettext("The File Cannot Be Made"),
            gettext_f(
                "The backup cannot be saved in {folder}. Make sure the folder exists and that \
                 you may write to it, or choose another.",
                &[("folder", &folder.display().to_string())],
            ),
        ),
        BackupError::Write { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => (
            gettext("Disk Full"),
            gettext(
                "The disk the backup is saved on is full. Free space there, or choose a folder \
                 on another disk.",
            ),
        ),
        BackupError::Write { .. } | BackupError::Finish { .. } => (
            gettext("The File Cannot Be Written"),
            gettext(
                "Writing the backup file failed. Check the disk it is saved on, or choose \
                 another folder.",
            ),
        ),
        BackupError::NotAFile { .. } | BackupError::SameFile { .. } => (
            gettext("The File Cannot Be Made"),
            gettext("This name cannot be used for the backup. Choose another."),
        ),
        _ => (
            gettext("Backup Failed"),
            gettext("Something went wrong inside Blockprint; please report it."),
        ),
    }
}
