//! What the card's measured write speed means.
//!
//! SD cards carry a speed class: the sequential write speed the card promises to sustain
//! (Class 2, 4, 6 and 10 in MB/s; UHS U1 is 10 MB/s, U3 and V30 are 30 MB/s). A copy measures
//! what the card really sustained ([`CopyReport::write_speed`](super::CopyReport::write_speed):
//! bytes written over the time a write or flush was under way, so a slow download does not
//! make a fast card look slow) and names the class that speed meets.

use std::fmt;
use std::time::Duration;

/// Below this many bytes written, a speed says more about the drive's cache than about its
/// flash: none is given.
pub const MEASURABLE: u64 = 32 << 20;

/// The speed class a measured sequential write speed meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpeedClass {
    /// Under 2 MB/s: slower than the slowest class; the card is worn out or fake.
    BelowClass2,
    /// 2 to 10 MB/s: Class 2, 4 or 6 (the number is the class met); a system on it is slow.
    Class(u8),
    /// 10 to 30 MB/s: Class 10 or UHS U1; fine for a system.
    Class10,
    /// 30 MB/s or more: UHS U3 or Video V30; fine for anything.
    U3,
}

impl SpeedClass {
    /// The class `bytes_per_second` meets (1 MB is 10^6 bytes, as the classes count).
    pub fn of(bytes_per_second: f64) -> Self {
        let mb = bytes_per_second / 1e6;
        if mb >= 30.0 {
            Self::U3
        } else if mb >= 10.0 {
            Self::Class10
        } else if mb >= 6.0 {
            Self::Class(6)
        } else if mb >= 4.0 {
            Self::Class(4)
        } else if mb >= 2.0 {
            Self::Class(2)
        } else {
            Self::BelowClass2
        }
    }

    /// Whether a system running from the card will feel slow (below Class 10).
    pub fn is_slow(self) -> bool {
        self < Self::Class10
    }
}

impl fmt::Display for SpeedClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BelowClass2 => f.write_str(
                "below the 2 MB/s of Class 2, the slowest class: the card is worn out or not \
                 what it claims; use another",
            ),
            Self::Class(class) => write!(
                f,
                "Class {class} speed, below the 10 MB/s of Class 10; expect a slow system"
            ),
            Self::Class10 => f.write_str("Class 10 (U1) speed: fine for a system"),
            Self::U3 => f.write_str("U3 (V30) speed or better: fine for anything"),
        }
    }
}

/// Bytes per second over `busy`, if `bytes` is enough to tell ([`MEASURABLE`]).
pub(super) fn per_second(bytes: u64, busy: Duration) -> Option<f64> {
    let secs = busy.as_secs_f64();
    (bytes >= MEASURABLE && secs > 0.0).then(|| bytes as f64 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_their_thresholds() {
        assert_eq!(SpeedClass::of(1.9e6), SpeedClass::BelowClass2);
        assert_eq!(SpeedClass::of(2.0e6), SpeedClass::Class(2));
        assert_eq!(SpeedClass::of(5.0e6), SpeedClass::Class(4));
        assert_eq!(SpeedClass::of(9.2e6), SpeedClass::Class(6));
        assert_eq!(SpeedClass::of(10.0e6), SpeedClass::Class10);
        assert_eq!(SpeedClass::of(95.0e6), SpeedClass::U3);
        assert!(SpeedClass::of(9.2e6).is_slow());
        assert!(!SpeedClass::of(12e6).is_slow());
        assert_eq!(
            SpeedClass::of(9.2e6).to_string(),
            "Class 6 speed, below the 10 MB/s of Class 10; expect a slow system"
        );
    }

    #[test]
    fn too_little_is_not_a_speed() {
        let second = Duration::from_secs(1);
        assert_eq!(per_second(MEASURABLE - 1, second), None);
        assert_eq!(per_second(MEASURABLE, Duration::ZERO), None);
        assert_eq!(per_second(64 << 20, second * 2), Some(f64::from(32 << 20)));
    }
}
