//! What a bmap's signature must be for the bmap to be used: one policy for every front end.
//!
//! The rule fails closed. A bmap is used when one of its signatures is valid (good, by a
//! trusted key that is valid now, by the pinned signer if one is pinned), or when it is not
//! signed at all and nothing asks for a signature. Anything else is a [`Refusal`]: a signature
//! that is bad, by an unknown, expired or revoked key, dated in the future, weak, or that
//! cannot be checked; and an unsigned bmap when a signer is pinned, a keyring is named, or a
//! signature is required (`--require-signature`, the app's preference, a catalog that pins its
//! signer).

use std::path::PathBuf;

use super::{SignatureCheck, SignatureStatus};

/// What the caller asks of a bmap's signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Signatures are not looked at (`--no-sig-verify`): a clearsigned bmap's text is used
    /// unchecked and no detached signature is looked for.
    pub skip: bool,
    /// Only the certificates of this keyring are trusted (`--keyring`), instead of the
    /// trusted-keys folders and the user's GnuPG keyring.
    pub keyring: Option<PathBuf>,
    /// Only this key's signatures count (`--fingerprint`; a catalog's pinned key): a
    /// fingerprint of the certificate or of its signing subkey, in any case, spaces allowed.
    pub signer: Option<String>,
    /// An unsigned bmap is refused.
    pub require_signature: bool,
}

/// Why an unsigned bmap is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// A signer is pinned (`--fingerprint`).
    Signer(String),
    /// A keyring is named (`--keyring`): the user expects a signature by one of its keys.
    Keyring(PathBuf),
    /// Signed bmaps only (`--require-signature`, the app's preference).
    Required,
}

/// Why a bmap must not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Signed, and no signature is valid: this is the one that failed worst.
    Failed(SignatureCheck),
    /// Not signed, and the policy asks for a signature.
    Unsigned(Requirement),
}

impl Policy {
    /// The verdict on what the signatures said: `None` to use the bmap.
    pub fn judge(&self, status: &SignatureStatus) -> Option<Refusal> {
        if self.skip {
            return None;
        }
        match status {
            SignatureStatus::Unsigned => self.requirement().map(Refusal::Unsigned),
            SignatureStatus::Signed { .. } if status.valid().is_some() => None,
            // No signature at all inside a signed envelope is refused too.
            SignatureStatus::Signed { .. } => {
                Some(Refusal::Failed(status.failure().cloned().unwrap_or_else(
                    || SignatureCheck::Unusable {
                        issuer: String::new(),
                        reason: "it holds no signature".into(),
                    },
                )))
            }
        }
    }

    /// What makes a signature necessary, if anything.
    pub fn requirement(&self) -> Option<Requirement> {
        if let Some(signer) = &self.signer {
            Some(Requirement::Signer(signer.clone()))
        } else if let Some(keyring) = &self.keyring {
            Some(Requirement::Keyring(keyring.clone()))
        } else {
            self.require_signature.then_some(Requirement::Required)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::SignatureForm;
    use crate::signature::tests::signer;

    fn signed(checks: Vec<SignatureCheck>) -> SignatureStatus {
        SignatureStatus::Signed {
            form: SignatureForm::Clearsigned,
            checks,
        }
    }

    /// F1: a signed envelope that holds no signature is refused, pinned or not.
    #[test]
    fn an_empty_signature_block_is_refused() {
        for policy in [
            Policy::default(),
            Policy {
                signer: Some("AA".into()),
                ..Policy::default()
            },
        ] {
            assert!(
                matches!(policy.judge(&signed(Vec::new())), Some(Refusal::Failed(_))),
                "{policy:?}"
            );
        }
    }

    /// F6: an unsigned bmap is refused whenever something asks for a signature.
    #[test]
    fn unsigned_bmaps_are_refused_when_a_signature_is_asked_for() {
        let unsigned = SignatureStatus::Unsigned;
        assert_eq!(Policy::default().judge(&unsigned), None);
        let required = Policy {
            require_signature: true,
            ..Policy::default()
        };
        assert_eq!(
            required.judge(&unsigned),
            Some(Refusal::Unsigned(Requirement::Required))
        );
        let pinned = Policy {
            signer: Some("AB".into()),
            keyring: Some("k.gpg".into()),
            ..Policy::default()
        };
        assert_eq!(
            pinned.judge(&unsigned),
            Some(Refusal::Unsigned(Requirement::Signer("AB".into())))
        );
        let skipped = Policy {
            skip: true,
            require_signature: true,
            ..Policy::default()
        };
        assert_eq!(skipped.judge(&unsigned), None);
    }

    #[test]
    fn one_valid_signature_is_enough_and_failures_are_refused() {
        let bad = SignatureCheck::Bad { signer: signer() };
        let valid = SignatureCheck::Valid {
            signer: signer(),
            created: std::time::SystemTime::UNIX_EPOCH,
        };
        let policy = Policy::default();
        assert_eq!(policy.judge(&signed(vec![bad.clone(), valid])), None);
        assert_eq!(
            policy.judge(&signed(vec![bad.clone()])),
            Some(Refusal::Failed(bad))
        );
    }
}
