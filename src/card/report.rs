//! What the probe and the surface test found, in types and in English, and why they could not
//! run.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::target::{Op, TargetError};

/// What kind of drive the capacity probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// Every sample over the whole advertised capacity read back as written.
    Genuine,
    /// Addresses wrap around: what is written at an offset of `period` or more lands on
    /// what was written `period` (or a multiple) lower. A counterfeit.
    WrapsAround {
        /// The distance, in bytes, after which the same flash is addressed again.
        period: u64,
    },
    /// Writes from `from` on are accepted but not stored: reading there gives zeros, old data
    /// or garbage. A counterfeit.
    LosesWrites {
        /// The first byte that is not stored.
        from: u64,
    },
    /// Samples were lost at scattered places, with intact ones beyond: a failing (or oddly
    /// counterfeit) drive.
    Unreliable {
        /// How many samples did not read back as written.
        lost: usize,
        /// The offset of the first of them.
        first: u64,
    },
}

/// The outcome of [`super::probe()`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityReport {
    /// The drive.
    pub device: PathBuf,
    /// The capacity the drive advertises, in bytes.
    pub claimed: u64,
    /// The bytes from its start that really hold data: `claimed` for a genuine drive; for
    /// the others, the highest offset known good (the real end lies within 0.05 % above it).
    pub usable: u64,
    /// What kind of drive it is.
    pub finding: Finding,
    /// Sample blocks written and read back, over all passes.
    pub checked: usize,
    /// Of those, how many did not come back as written.
    pub lost: usize,
    /// Passes made (the first over the whole drive, each further one closer to its end).
    pub passes: u32,
    /// Bytes written in all (samples, the filling that flushes a drive's cache, the zeroing
    /// at the end).
    pub written: u64,
    /// How long the probe took.
    pub elapsed: Duration,
    /// Whether every byte the probe overwrote was put back (a genuine drive): the drive holds
    /// what it held before.
    pub restored: bool,
}

impl CapacityReport {
    /// Whether the drive is a counterfeit: it advertises more than it stores.
    pub fn is_counterfeit(&self) -> bool {
        matches!(
            self.finding,
            Finding::WrapsAround { .. } | Finding::LosesWrites { .. }
        )
    }

    /// Whether the whole advertised capacity can be trusted.
    pub fn is_genuine(&self) -> bool {
        self.finding == Finding::Genuine
    }

    /// Whether an image of `size` bytes fits what the drive really stores.
    pub fn fits(&self, size: u64) -> bool {
        size <= self.usable
    }

    /// A second sentence saying how the drive misbehaves, for those who want to know.
    pub fn detail(&self) -> String {
        match self.finding {
            Finding::Genuine => format!(
                "{} test blocks spread over all of it read back as written.",
                self.checked
            ),
            Finding::WrapsAround { period } => format!(
                "What is written past {} lands on its start again: the same flash answers every {}.",
                decimal(self.usable),
                decimal(period)
            ),
            Finding::LosesWrites { from } => format!(
                "What is written past {} is thrown away: it reads back as zeros or as what was there before.",
                decimal(from)
            ),
            Finding::Unreliable { lost, first } => format!(
                "{lost} of {} test blocks did not read back as written, the first at {} (byte {first}), with good ones beyond.",
                self.checked,
                decimal(first)
            ),
        }
    }
}

impl fmt::Display for CapacityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let claimed = decimal(self.claimed);
        match self.finding {
            Finding::Genuine => write!(f, "This card holds the {claimed} it claims."),
            Finding::WrapsAround { .. } | Finding::LosesWrites { .. } if self.usable == 0 => {
                write!(
                    f,
                    "This card claims {claimed} but kept none of the test blocks: it is counterfeit or broken. Writing to it loses data."
                )
            }
            Finding::WrapsAround { .. } | Finding::LosesWrites { .. } => write!(
                f,
                "This card claims {claimed} but holds only about {}: it is counterfeit. Writing to it loses data.",
                decimal(self.usable)
            ),
            Finding::Unreliable { .. } => write!(
                f,
                "This card claims {claimed} but lost data at scattered places: it is failing or counterfeit. Writing to it may lose data."
            ),
        }
    }
}

/// The outcome of [`super::surface()`].
#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceReport {
    /// The drive.
    pub device: PathBuf,
    /// Its advertised capacity, every byte of which was written and read.
    pub capacity: u64,
    /// Byte ranges (start, end exclusive) that did not read back as written, merged and in
    /// order: at most [`super::MAX_BAD_RANGES`]; `unlisted` counts the rest.
    pub bad: Vec<(u64, u64)>,
    /// Bad ranges found beyond those listed.
    pub unlisted: usize,
    /// Bytes that did not read back as written, in all.
    pub bad_bytes: u64,
    /// Bytes written.
    pub written: u64,
    /// Writes that failed with an I/O error (their bytes count as bad when read back).
    pub write_errors: usize,
    /// Sustained write speed, bytes per second, the final flush included.
    pub write_speed: f64,
    /// Read speed, bytes per second.
    pub read_speed: f64,
    /// How long the test took.
    pub elapsed: Duration,
}

impl SurfaceReport {
    /// Whether every byte read back as written.
    pub fn is_ok(&self) -> bool {
        self.bad_bytes == 0
    }
}

impl fmt::Display for SurfaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(
                f,
                "All {} of the card read back as written.",
                decimal(self.capacity)
            )
        } else {
            let ranges = self.bad.len() + self.unlisted;
            write!(
                f,
                "{} of the card's {} did not read back as written, in {ranges} {}: it is failing or counterfeit. Writing to it loses data.",
                decimal(self.bad_bytes),
                decimal(self.capacity),
                if ranges == 1 { "region" } else { "regions" }
            )
        }
    }
}

/// Why the probe or the surface test could not run to the end. What it found (a counterfeit,
/// bad regions) is no error: that is in the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Not a block device: a file, or a device the kernel knows no size of.
    #[error("'{}' is not a drive ({what}); give a card or stick, such as /dev/sdb or /dev/mmcblk0", .device.display())]
    NotADrive {
        /// The path given.
        device: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// Too small to probe.
    #[error("'{}' holds only {capacity} bytes, too little to check (it takes at least 2 MiB)", .device.display())]
    TooSmall {
        /// The drive.
        device: PathBuf,
        /// Its capacity.
        capacity: u64,
    },
    /// Reads would come from the page cache, not from the drive.
    #[error("'{}' refused direct I/O and its cached blocks cannot be dropped (that takes root), so what it really stores cannot be read back; run the check as root", .device.display())]
    Buffered {
        /// The drive.
        device: PathBuf,
    },
    /// Stopped by the cancel token.
    #[error("the check of '{}' was cancelled at offset {offset}; the drive holds test data now: check it again or write an image to it", .device.display())]
    Cancelled {
        /// The drive.
        device: PathBuf,
        /// Where it was writing or reading.
        offset: u64,
    },
    /// A write, read or flush of the drive neither finished nor failed within the stall limit:
    /// a hung card or reader. The thread waiting for it is left behind.
    #[error(
        "'{}' stopped responding while it was being checked: a {op}{} has not finished after {secs} s; the card or its reader hangs: unplug it, and try another card or reader",
        .device.display(),
        .offset.map(|o| format!(" at offset {o}")).unwrap_or_default()
    )]
    Stalled {
        /// The drive.
        device: PathBuf,
        /// What was being done.
        op: Op,
        /// Where it was writing or reading (none for a flush).
        offset: Option<u64>,
        /// How long it had been waiting, in seconds.
        secs: u64,
    },
    /// The thread that checks the drive ended without a word: a bug.
    #[error("internal error: the thread checking '{}' stopped unexpectedly; please report this", .device.display())]
    ThreadFailed {
        /// The drive.
        device: PathBuf,
    },
    /// The drive failed in a way that is no finding: it went away, is read-only, or refused
    /// every write.
    #[error(
        "checking '{}' failed{}",
        .device.display(),
        .offset.map(|o| format!(" at offset {o}")).unwrap_or_default()
    )]
    Device {
        /// The drive.
        device: PathBuf,
        /// Where it was writing or reading (none for a flush).
        offset: Option<u64>,
        /// What the drive said.
        #[source]
        source: Box<TargetError>,
    },
}

/// A size as a card's label gives it: decimal units, one decimal ("64.0 GB", "268.4 MB").
pub fn decimal(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    // f64 is exact enough: the result is rounded to one decimal.
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
