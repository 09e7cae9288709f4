//! Human-readable sizes, in the form bmaptool prints them ("802.5 KiB").

/// Formats a byte count with binary units and one decimal: `"512 bytes"`, `"802.5 KiB"`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // f64 is exact enough here: the result is rounded to one decimal for display.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `part` as a percentage of `whole`, for display; 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_bmaptool() {
        assert_eq!(human(0), "0 bytes");
        assert_eq!(human(1023), "1023 bytes");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(821_752), "802.5 KiB");
        assert_eq!(human(479_232), "468.0 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn percent_of_zero_is_zero() {
        assert_eq!(percent(5, 0), 0.0);
        assert!((percent(117, 201) - 58.208).abs() < 0.001);
    }
}
