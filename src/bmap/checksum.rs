//! Checksum kinds used by bmap files, and digests.

use std::fmt;

use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

/// A hash function named by a bmap (`ChecksumType`, or SHA-1 implied by formats 1.1 to 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    /// SHA-1: per-range `sha1=` attributes and `BmapFileSHA1` of formats 1.1 to 1.3.
    Sha1,
    /// SHA-256: what `bmaptool create` and `blockprint create` write.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl ChecksumType {
    /// The name used in `<ChecksumType>` (Python hashlib's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Parses a `<ChecksumType>` value; hashlib accepts any case, so do we.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha512]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Length of a digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// A fresh hasher of this kind.
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha1 => Hasher::Sha1(Sha1::new()),
            Self::Sha256 => Hasher::Sha256(Sha256::new()),
            Self::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// The digest of `data` in one call.
    pub fn digest(self, data: &[u8]) -> Digest {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finish()
    }
}

impl fmt::Display for ChecksumType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An incremental hasher of any [`ChecksumType`].
#[derive(Clone)]
pub enum Hasher {
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-512.
    Sha512(Sha512),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        Digest(match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        })
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Sha1(_) => ChecksumType::Sha1,
            Self::Sha256(_) => ChecksumType::Sha256,
            Self::Sha512(_) => ChecksumType::Sha512,
        };
        write!(f, "Hasher({kind})")
    }
}

/// Hex text (either case) into `out`, which is cleared first; false unless it is hex of whole
/// bytes. The parser decodes every range's digest into one reused buffer with it.
pub(super) fn decode_hex(text: &str, out: &mut Vec<u8>) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    out.clear();
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return false;
    }
    for pair in bytes.chunks_exact(2) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(high), Some(low)) => out.push(high << 4 | low),
            _ => return false,
        }
    }
    true
}

/// A digest; displays as lowercase hex, the form bmap files use.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Digest(Vec<u8>);

impl Digest {
    /// Parses hex text (either case). `None` unless it is hex of whole bytes.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = Vec::with_capacity(text.len() / 2);
        decode_hex(text, &mut bytes).then_some(Self(bytes))
    }

    /// A digest of these bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            ChecksumType::Sha256.digest(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            ChecksumType::Sha1.digest(b"abc").to_string(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(ChecksumType::Sha512.digest(b"").as_bytes().len(), 64);
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let d = Digest::from_hex("00FFa0").expect("valid hex");
        assert_eq!(d.as_bytes(), &[0, 255, 160]);
        assert_eq!(d.to_string(), "00ffa0");
        assert!(Digest::from_hex("abc").is_none());
        assert!(Digest::from_hex("zz").is_none());
        assert!(Digest::from_hex("é1").is_none());
    }

    #[test]
    fn names() {
        assert_eq!(
            ChecksumType::from_name("SHA256"),
            Some(ChecksumType::Sha256)
        );
        assert_eq!(ChecksumType::from_name("md5"), None);
    }
}
