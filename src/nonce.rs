//! Fresh random numbers for tags that must differ from run to run (a probe's or a sentinel's
//! run tag, a cloud-init instance id, a UUID). Not for secrets.

/// A fresh 64-bit number: keyed from the system's randomness through the standard library's
/// `RandomState`, with the clock added so that two processes started alike still differ.
pub(crate) fn fresh_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_in_a_row_differ() {
        assert_ne!(super::fresh_u64(), super::fresh_u64());
    }
}
