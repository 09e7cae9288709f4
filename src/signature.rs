//! OpenPGP signatures of bmap files: clearsigned and detached, checked with sequoia-openpgp.
//!
//! A signed bmap authenticates every mapped byte of an image: it carries a checksum of each
//! range and of itself. [`verify_clearsigned`] and [`verify_detached`] check every signature
//! against a [`Keyring`] and return a [`SignatureStatus`] that says exactly what was found —
//! who signed, with which key, when, and on whose word the key is trusted — or exactly why not:
//! a bad signature (the bmap changed after signing), an unknown, expired or revoked key, a
//! signature from the future. The bytes to parse are exactly the signed ones, so nothing
//! unsigned can slip into the bmap.
//!
//! Trust comes from a keyring the user names, or else from the user's trusted-keys folder and
//! the one shipped with the package ([`Keyring::trusted`]).

mod check;
mod keyring;
mod policy;
mod sign;

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

pub use check::{verify_clearsigned, verify_detached, verify_detached_reader};
pub use keyring::{
    Keyring, SYSTEM_TRUSTED_KEYS, gnupg_keyrings, trust_key, trusted_keys_present,
    user_trusted_keys,
};
pub use policy::{Policy, Refusal, Requirement};
pub use sign::{SignError, SigningKey};

/// Where the certificate that checked a signature came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// A keyring named on the command line (`--keyring`).
    Keyring(PathBuf),
    /// A file in the user's trusted-keys folder.
    UserFolder(PathBuf),
    /// A file in the trusted-keys folder shipped with Blockprint.
    SystemFolder(PathBuf),
    /// The user's GnuPG keyring (`~/.gnupg/pubring.kbx`), as bmaptool uses it.
    GnupgKeyring(PathBuf),
}

impl fmt::Display for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::Keyring(path) => write!(f, "keyring '{}'", path.display()),
            TrustSource::UserFolder(path) => write!(f, "your trusted keys ('{}')", path.display()),
            TrustSource::SystemFolder(path) => {
                write!(f, "Blockprint's trusted keys ('{}')", path.display())
            }
            TrustSource::GnupgKeyring(path) => {
                write!(f, "your GnuPG keyring ('{}')", path.display())
            }
        }
    }
}

/// The certificate behind a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Fingerprint of the certificate's primary key, uppercase hex.
    pub fingerprint: String,
    /// Fingerprint of the key that made the signature (a subkey, or the primary key).
    pub key: String,
    /// The certificate's primary user id, as `Name <email>`, when it has one.
    pub user_id: Option<String>,
    /// Where the certificate came from.
    pub source: TrustSource,
}

impl fmt::Display for Signer {
    /// `Name <email> (key ABCD…)`, or the fingerprint alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user_id {
            Some(user_id) => write!(f, "{user_id} (key {})", self.fingerprint),
            None => write!(f, "key {}", self.fingerprint),
        }
    }
}

/// What one signature turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Good, by a trusted key that is valid now.
    Valid {
        /// Who signed.
        signer: Signer,
        /// When the signature was made.
        created: SystemTime,
    },
    /// Made by a key that no trust source holds.
    UnknownKey {
        /// The issuer's fingerprint (or key id, when the signature names only that).
        issuer: String,
    },
    /// The data does not match the signature: the bmap was changed after it was signed.
    Bad {
        /// Whose signature it claims to be.
        signer: Signer,
    },
    /// The signing key (or its certificate) has expired.
    Expired {
        /// Who signed.
        signer: Signer,
        /// When the key expired, if known.
        expired: Option<SystemTime>,
    },
    /// The signing key (or its certificate) was revoked by its owner.
    Revoked {
        /// Who signed.
        signer: Signer,
    },
    /// The signature claims a creation time in the future.
    NotYetValid {
        /// Who signed.
        signer: Signer,
        /// The claimed creation time.
        created: SystemTime,
    },
    /// Good, but its signature has an expiry time, and that has passed.
    SignatureExpired {
        /// Who signed.
        signer: Signer,
        /// When the signature expired.
        expired: SystemTime,
    },
    /// Made with an algorithm no longer considered safe (a SHA-1 digest, a short key):
    /// whoever made it, a forgery cannot be ruled out.
    Weak {
        /// Whose signature it claims to be.
        signer: Signer,
        /// The algorithm and why it is refused, in sequoia's words ("SHA1 is not considered
        /// secure since 2013-02-01").
        algorithm: String,
    },
    /// Made by a key of the certificate that is not marked for signing.
    NotSigningKey {
        /// Whose certificate.
        signer: Signer,
    },
    /// Good, but not by the key `--fingerprint` asks for.
    OtherSigner {
        /// Who signed.
        signer: Signer,
        /// The fingerprint that was asked for.
        wanted: String,
    },
    /// Cannot be checked at all: malformed, an unknown algorithm, a key not properly bound.
    Unusable {
        /// The issuer named in the signature, if any.
        issuer: String,
        /// Why.
        reason: String,
    },
}

impl SignatureCheck {
    /// How bad a failed check is, for choosing which one to report first (higher is worse).
    fn severity(&self) -> u8 {
        match self {
            SignatureCheck::Valid { .. } => 0,
            SignatureCheck::UnknownKey { .. } => 1,
            SignatureCheck::Unusable { .. } => 2,
            SignatureCheck::NotSigningKey { .. } => 3,
            SignatureCheck::OtherSigner { .. } => 4,
            SignatureCheck::NotYetValid { .. } => 5,
            SignatureCheck::SignatureExpired { .. } => 6,
            SignatureCheck::Expired { .. } => 7,
            SignatureCheck::Weak { .. } => 8,
            SignatureCheck::Revoked { .. } => 9,
            SignatureCheck::Bad { .. } => 10,
        }
    }
}

/// How a bmap is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureForm {
    /// The bmap is a clearsigned message.
    Clearsigned,
    /// A separate signature file (or URL) signs the bmap's bytes.
    Detached {
        /// Where the signature came from.
        location: String,
    },
}

/// The signature status of a bmap: what the CLI prints and the GUI shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No signature at all.
    Unsigned,
    /// Signed; every signature was checked.
    Signed {
        /// Clearsigned or detached.
        form: SignatureForm,
        /// One check per signature, in order.
        checks: Vec<SignatureCheck>,
    },
}

impl SignatureStatus {
    /// The first valid signature, if any: one is enough to trust the bmap.
    pub fn valid(&self) -> Option<&SignatureCheck> {
        self.checks()
            .iter()
            .find(|c| matches!(c, SignatureCheck::Valid { .. }))
    }

    /// When no signature is valid, the failure that matters most (a bad signature before an
    /// unknown key); `None` when one is valid or the bmap is unsigned.
    pub fn failure(&self) -> Option<&SignatureCheck> {
        if self.valid().is_some() {
            return None;
        }
        self.checks().iter().max_by_key(|c| c.severity())
    }

    /// Every check, in order (none when unsigned).
    pub fn checks(&self) -> &[SignatureCheck] {
        match self {
            SignatureStatus::Unsigned => &[],
            SignatureStatus::Signed { checks, .. } => checks,
        }
    }
}

/// A verified (or at least examined) bmap: its status, and the bytes to parse.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What the signatures say.
    pub status: SignatureStatus,
    /// Exactly the signed bytes: the cleartext sequoia checked, or the detached-signed file.
    pub text: Vec<u8>,
}

/// Why signatures could not be checked at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A keyring or trusted key that cannot be read.
    #[error("cannot read the keys in '{}'", .path.display())]
    ReadKeys {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file that holds no usable OpenPGP certificates.
    #[error("'{}' holds no OpenPGP certificates ({reason}); give a keyring exported with `gpg --export` (armored or binary) or a GnuPG keybox", .path.display())]
    BadKeys {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A keyring file that does not hold the key asked for.
    #[error("'{}' does not hold the key {issuer}; choose the file with the signer's public key", .path.display())]
    KeyNotInFile {
        /// The file.
        path: PathBuf,
        /// The key's fingerprint or key id.
        issuer: String,
    },
    /// A trusted key that cannot be written.
    #[error("cannot save the trusted key '{}'", .path.display())]
    WriteKey {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The signature (or clearsigned message) is not OpenPGP.
    #[error("the signature {location} cannot be read: {reason}; get the signature again")]
    BadSignatureFile {
        /// Where it came from.
        location: String,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A signer with a short fake fingerprint, for tests that judge verdicts.
    pub(crate) fn signer() -> Signer {
        Signer {
            fingerprint: "AA".into(),
            key: "AA".into(),
            user_id: None,
            source: TrustSource::Keyring("k".into()),
        }
    }

    #[test]
    fn the_worst_failure_is_reported_and_one_valid_signature_wins() {
        let unknown = SignatureCheck::UnknownKey { issuer: "B".into() };
        let bad = SignatureCheck::Bad { signer: signer() };
        let status = SignatureStatus::Signed {
            form: SignatureForm::Clearsigned,
            checks: vec![unknown.clone(), bad.clone()],
        };
        assert_eq!(status.failure(), Some(&bad));
        let valid = SignatureCheck::Valid {
            signer: signer(),
            created: SystemTime::UNIX_EPOCH,
        };
        let status = SignatureStatus::Signed {
            form: SignatureForm::Clearsigned,
            checks: vec![bad, valid.clone(), unknown],
        };
        assert_eq!(status.valid(), Some(&valid));
        assert_eq!(status.failure(), None);
        assert_eq!(SignatureStatus::Unsigned.failure(), None);
    }
}
