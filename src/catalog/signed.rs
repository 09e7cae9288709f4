//! A catalog's own OpenPGP signature, which no other image writer checks: a detached `.sig`
//! (binary) or `.asc` (armoured) next to the list, checked with the same sequoia code and the
//! same trusted keys as signed bmaps. HTTPS says the list came from its server; the signature
//! says its publisher made it, wherever it is mirrored.
//!
//! | the list | nothing pinned | a key pinned for it |
//! |---|---|---|
//! | no signature | read, "not signed" | refused |
//! | valid, by a trusted key | read, its signer shown | read if the signer is the pinned key |
//! | by a key not trusted | refused: trust the key first | refused |
//! | bad, expired, revoked, weak | refused | refused |
//!
//! A signature that is there and cannot be judged is never taken for none: it refuses.

use crate::signature::{Keyring, SignatureCheck, Signer, verify_detached};

/// The largest signature file read.
pub(super) const MAX_SIGNATURE: u64 = 64 << 10;

/// The file names a catalog's signature may have, after the catalog's own.
pub(super) const EXTENSIONS: [&str; 2] = ["sig", "asc"];

/// How catalogs' signatures are judged.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// The keys trusted to sign (the user's and the system's trusted keys).
    pub keyring: &'a Keyring,
    /// The fingerprint of the one key that must have signed the catalog, when one is pinned
    /// for it: an unsigned list is then refused.
    pub pin: Option<&'a str>,
}

/// Why a catalog's signature refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefusal {
    /// A key is pinned for the catalog and it has no signature.
    #[error(
        "catalog '{origin}' is not signed (no {origin}.sig or .asc), but key {pin} is pinned for \
         it; ask its publisher, or unpin the key"
    )]
    Unsigned {
        /// The catalog.
        origin: String,
        /// The pinned fingerprint.
        pin: String,
    },
    /// Signed, but not validly by a trusted (or the pinned) key.
    #[error("catalog '{origin}' is refused: its signature '{signature}' is {why}")]
    Refused {
        /// The catalog.
        origin: String,
        /// The signature file.
        signature: String,
        /// What the signature turned out to be, and what to do.
        why: String,
    },
}

/// Judges `bytes` of the catalog at `origin` by its `signature` (its location and bytes, when
/// there is one); returns who signed it.
pub(super) fn judge(
    origin: &str,
    bytes: &[u8],
    signature: Option<(String, Vec<u8>)>,
    trust: Trust<'_>,
) -> Result<Option<Signer>, SignatureRefusal> {
    let Some((location, signature)) = signature else {
        return match trust.pin {
            Some(pin) => Err(SignatureRefusal::Unsigned {
                origin: origin.to_owned(),
                pin: pin.to_owned(),
            }),
            None => Ok(None),
        };
    };
    let refused = |why: String| SignatureRefusal::Refused {
        origin: origin.to_owned(),
        signature: location.clone(),
        why,
    };
    let verified = verify_detached(bytes, &signature, &location, trust.keyring, trust.pin)
        .map_err(|e| refused(format!("unreadable ({e})")))?;
    if let Some(SignatureCheck::Valid { signer, .. }) = verified.status.valid() {
        return Ok(Some(signer.clone()));
    }
    let why = match verified.status.failure() {
        Some(SignatureCheck::UnknownKey { issuer }) => format!(
            "by key {issuer}, which you do not trust; if it is the publisher's, put its public \
             key in ~/.config/blockprint/trusted-keys"
        ),
        Some(SignatureCheck::OtherSigner { signer, .. }) => {
            format!("by {signer}, not by the key pinned for the catalog")
        }
        Some(SignatureCheck::Bad { signer }) => {
            format!("bad: the list was changed after {signer} signed it")
        }
        Some(other) => format!("not valid: {}", super::sums::describe(other)),
        None => "empty: it holds no signature".to_owned(),
    };
    Err(refused(why))
}
