//! Telling a drive from another one under the same name: a card swapped for another of the
//! same make and size in the same reader, a stick unplugged and another plugged in, a loop
//! device set up anew on the same node. A drive chosen by the user is compared with the drive
//! there now before it is opened for writing.
//!
//! The facts differ in what they identify. A USB card reader's serial number and WWN are the
//! reader's, not the card's; a card in an SD slot has its own serial number. What tells two
//! cards apart in one reader is when the medium was inserted (UDisks2's `TimeMediaDetected`),
//! and what is on them (partition and filesystem UUIDs), though two cards written from one
//! image carry the same UUIDs. So every fact is compared, and any difference is another drive.

use std::fmt;
use std::path::PathBuf;

use super::Drive;
use crate::size::human;

/// What identifies the drive and the medium in it, as far as the system says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaId {
    /// The drive's serial number (an SD card's own in an SD slot; a USB reader's, for every
    /// card in it), possibly empty.
    pub serial: String,
    /// Its World Wide Name, possibly empty.
    pub wwn: String,
    /// When the drive appeared, in microseconds since 1970 (0: not known).
    pub detected: u64,
    /// When its medium was inserted, in microseconds since 1970 (0: not known); a new card in
    /// a reader changes it.
    pub media_detected: u64,
    /// The UUIDs of what is on it: the filesystem on the disk itself, the partitions' own
    /// (from the partition table) and their filesystems', sorted.
    pub uuids: Vec<String>,
}

/// How the drive there now differs from the one chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Another size.
    Size {
        /// Bytes then.
        was: u64,
        /// Bytes now.
        now: u64,
    },
    /// Another vendor or model.
    Model {
        /// Vendor and model then.
        was: String,
        /// Vendor and model now.
        now: String,
    },
    /// A loop device over another file.
    BackingFile {
        /// The file then.
        was: Option<PathBuf>,
        /// The file now.
        now: Option<PathBuf>,
    },
    /// Another serial number.
    Serial {
        /// Then.
        was: String,
        /// Now.
        now: String,
    },
    /// Another World Wide Name.
    Wwn {
        /// Then.
        was: String,
        /// Now.
        now: String,
    },
    /// The drive was plugged in again (it may be another one).
    Replugged,
    /// A medium was inserted since (it may be another one).
    Reinserted,
    /// Other partitions or filesystems are on it.
    Content,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Size { was, now } => {
                write!(f, "its size is {}, it was {}", human(*now), human(*was))
            }
            Change::Model { was, now } => write!(f, "it is a '{now}', it was a '{was}'"),
            Change::BackingFile { was, now } => {
                let name = |p: &Option<PathBuf>| {
                    p.as_ref()
                        .map_or_else(|| "no file".to_owned(), |p| format!("'{}'", p.display()))
                };
                write!(f, "it is over {}, it was over {}", name(now), name(was))
            }
            Change::Serial { was, now } => {
                write!(f, "its serial number is '{now}', it was '{was}'")
            }
            Change::Wwn { was, now } => write!(f, "its WWN is '{now}', it was '{was}'"),
            Change::Replugged => f.write_str("it was plugged in again since"),
            Change::Reinserted => f.write_str("a card or disc was inserted again since"),
            Change::Content => f.write_str("other partitions or filesystems are on it"),
        }
    }
}

impl Drive {
    /// The first way `now`, the drive under this one's name today, is not this drive; `None`
    /// if it is the same as far as the system can tell. What changes when a drive is freed
    /// for writing (mounts, unlocked volumes, swap) does not count.
    pub fn change_to(&self, now: &Drive) -> Option<Change> {
        let model = |d: &Drive| format!("{} {}", d.vendor.trim(), d.model.trim());
        let (was, is) = (&self.media, &now.media);
        if self.size != now.size {
            Some(Change::Size {
                was: self.size,
                now: now.size,
            })
        } else if model(self) != model(now) {
            Some(Change::Model {
                was: model(self).trim().to_owned(),
                now: model(now).trim().to_owned(),
            })
        } else if self.backing_file != now.backing_file {
            Some(Change::BackingFile {
                was: self.backing_file.clone(),
                now: now.backing_file.clone(),
            })
        } else if was.serial != is.serial {
            Some(Change::Serial {
                was: was.serial.clone(),
                now: is.serial.clone(),
            })
        } else if was.wwn != is.wwn {
            Some(Change::Wwn {
                was: was.wwn.clone(),
                now: is.wwn.clone(),
            })
        } else if was.detected != is.detected {
            Some(Change::Replugged)
        } else if was.media_detected != is.media_detected {
            Some(Change::Reinserted)
        } else if was.uuids != is.uuids {
            Some(Change::Content)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drives::Volume;

    fn card(serial: &str) -> Drive {
        Drive {
            key: "/org/freedesktop/UDisks2/block_devices/mmcblk0".into(),
            device: "/dev/mmcblk0".into(),
            model: "SC64G".into(),
            size: 63_864_569_856,
            media_available: true,
            media: MediaId {
                serial: serial.into(),
                detected: 1_700_000_000_000_000,
                media_detected: 1_700_000_100_000_000,
                uuids: vec!["1234-ABCD".into()],
                ..MediaId::default()
            },
            ..Drive::default()
        }
    }

    #[test]
    fn freeing_a_drive_is_no_change_but_another_card_is() {
        let chosen = card("0x1234abcd");
        let mut freed = chosen.clone();
        freed.volumes = vec![Volume {
            device: "/dev/mmcblk0p1".into(),
            ..Volume::default()
        }];
        assert_eq!(chosen.change_to(&freed), None);
        let other = card("0x5678ef01");
        let change = chosen.change_to(&other).expect("another card");
        assert_eq!(
            change.to_string(),
            "its serial number is '0x5678ef01', it was '0x1234abcd'"
        );
        let mut reinserted = chosen.clone();
        reinserted.media.media_detected += 1;
        assert_eq!(chosen.change_to(&reinserted), Some(Change::Reinserted));
        let mut rewritten = chosen.clone();
        rewritten.media.uuids = vec!["9999-0000".into()];
        assert_eq!(chosen.change_to(&rewritten), Some(Change::Content));
    }
}
