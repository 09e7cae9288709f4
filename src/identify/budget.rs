//! Reads of an image within a byte budget, never past its end: whatever a structure claims,
//! identifying an image costs a few MiB at most.

use std::cell::Cell;

use crate::source::RandomAccess;

/// Why something could not be told: a read failed, a structure is damaged or points out of
/// bounds, or the budget ran out. Never a reason to refuse an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Doubt(pub String);

impl Doubt {
    /// A doubt that says `what`.
    pub(super) fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

/// An image and the bytes still allowed to be read of it.
pub(super) struct Budget<'a> {
    image: &'a dyn RandomAccess,
    left: Cell<u64>,
}

impl<'a> Budget<'a> {
    /// `image`, of which `bytes` may be read.
    pub(super) fn new(image: &'a dyn RandomAccess, bytes: u64) -> Self {
        Self {
            image,
            left: Cell::new(bytes),
        }
    }

    /// The image.
    pub(super) fn image(&self) -> &'a dyn RandomAccess {
        self.image
    }

    /// The image's length.
    pub(super) fn len(&self) -> u64 {
        self.image.len()
    }

    /// Whether `len` bytes at `offset` lie inside the image.
    pub(super) fn holds(&self, offset: u64, len: u64) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= self.len())
    }

    /// `len` bytes at `offset`, `what` naming them in the doubt when they lie past the end,
    /// exceed the budget, or cannot be read.
    pub(super) fn read(&self, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, Doubt> {
        if !self.holds(offset, len) {
            return Err(Doubt(format!(
                "{what} at byte {offset} lies past the end of the image ({} bytes)",
                self.len()
            )));
        }
        let left = self.left.get();
        if len > left {
            return Err(Doubt(format!(
                "reading {what} at byte {offset} would exceed the {} MiB looked at",
                super::BUDGET >> 20
            )));
        }
        self.left.set(left - len);
        let size = usize::try_from(len).map_err(|_| Doubt(format!("{what} is too large")))?;
        let mut buf = vec![0; size];
        self.image
            .read_exact_at(offset, &mut buf)
            .map_err(|e| Doubt(format!("cannot read {what} at byte {offset}: {e}")))?;
        Ok(buf)
    }
}
