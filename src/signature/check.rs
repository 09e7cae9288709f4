//! Checking signatures with sequoia's streaming verifiers.
//!
//! The verifier hands every signature's result to [`Helper::check`], which records a
//! [`SignatureCheck`] for each and never fails: the decision (refuse unless one is valid) is
//! the caller's, with everything in view. A cryptographically good signature is then checked
//! against the present: a key that was valid when it signed may have expired or been revoked
//! since, and gpg-based tools (bmaptool) refuse those too.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sequoia_openpgp::cert::amalgamation::{ValidAmalgamation, ValidateAmalgamation};
use sequoia_openpgp::packet::Signature;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
    VerificationResult, VerifierBuilder,
};
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::types::RevocationStatus;
use sequoia_openpgp::{Cert, Fingerprint, KeyHandle};

use super::{
    Keyring, SignatureCheck, SignatureError, SignatureForm, SignatureStatus, Signer, TrustSource,
    Verified,
};

/// Clock skew forgiven before a signature counts as made in the future.
const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Checks a clearsigned bmap; the returned text is the cleartext sequoia verified.
/// `pin` (`--fingerprint`) makes only that key's signatures count.
pub fn verify_clearsigned(
    message: &[u8],
    keyring: &Keyring,
    pin: Option<&str>,
) -> Result<Verified, SignatureError> {
    let bad = |e: anyhow::Error| SignatureError::BadSignatureFile {
        location: "in the clearsigned bmap".into(),
        reason: e.to_string(),
    };
    let policy = StandardPolicy::new();
    let now = SystemTime::now();
    let helper = Helper::new(keyring, &policy, now, pin);
    let mut verifier = VerifierBuilder::from_bytes(message)
        .map_err(bad)?
        // The whole text is held until the signatures are checked, so no unverified byte is
        // ever returned.
        .buffer_size(message.len() + 1)
        .with_policy(&policy, now, helper)
        .map_err(bad)?;
    let mut text = Vec::with_capacity(message.len());
    verifier.read_to_end(&mut text).map_err(|e| bad(e.into()))?;
    let checks = verifier.into_helper().checks;
    // A signature block with nothing in it (or only a Marker packet) signs nothing.
    if checks.is_empty() {
        return Err(bad(anyhow::anyhow!(
            "its signature block holds no signature"
        )));
    }
    Ok(Verified {
        status: SignatureStatus::Signed {
            form: SignatureForm::Clearsigned,
            checks,
        },
        text: with_final_newline(text),
    })
}

/// Checks a detached `signature` (from `location`) of `data`; the returned text is `data`.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    location: &str,
    keyring: &Keyring,
    pin: Option<&str>,
) -> Result<Verified, SignatureError> {
    let bad = |e: anyhow::Error| SignatureError::BadSignatureFile {
        location: format!("'{location}'"),
        reason: e.to_string(),
    };
    let policy = StandardPolicy::new();
    let now = SystemTime::now();
    let helper = Helper::new(keyring, &policy, now, pin);
    let mut verifier = DetachedVerifierBuilder::from_bytes(signature)
        .map_err(bad)?
        .with_policy(&policy, now, helper)
        .map_err(bad)?;
    verifier.verify_bytes(data).map_err(bad)?;
    let checks = verifier.into_helper().checks;
    if checks.is_empty() {
        return Err(bad(anyhow::anyhow!("it holds no signature")));
    }
    Ok(Verified {
        status: SignatureStatus::Signed {
            form: SignatureForm::Detached {
                location: location.to_owned(),
            },
            checks,
        },
        text: data.to_vec(),
    })
}

/// [`verify_detached`] of the data `reader` gives, read to its end and never held whole (a
/// download as it passes); the status only, as the data is not kept.
pub fn verify_detached_reader<R: Read + Send + Sync>(
    reader: R,
    signature: &[u8],
    location: &str,
    keyring: &Keyring,
    pin: Option<&str>,
) -> Result<SignatureStatus, SignatureError> {
    let bad = |e: anyhow::Error| SignatureError::BadSignatureFile {
        location: format!("'{location}'"),
        reason: e.to_string(),
    };
    let policy = StandardPolicy::new();
    let now = SystemTime::now();
    let helper = Helper::new(keyring, &policy, now, pin);
    let mut verifier = DetachedVerifierBuilder::from_bytes(signature)
        .map_err(bad)?
        .with_policy(&policy, now, helper)
        .map_err(bad)?;
    verifier.verify_reader(reader).map_err(bad)?;
    let checks = verifier.into_helper().checks;
    if checks.is_empty() {
        return Err(bad(anyhow::anyhow!("it holds no signature")));
    }
    Ok(SignatureStatus::Signed {
        form: SignatureForm::Detached {
            location: location.to_owned(),
        },
        checks,
    })
}

/// The cleartext framework does not sign the line break before the signature, and sequoia
/// returns the text without it; gpg prints it, and the bmap's own checksum was computed with
/// it. Adding it back adds nothing a signer did not write.
fn with_final_newline(mut text: Vec<u8>) -> Vec<u8> {
    if !text.is_empty() && text.last() != Some(&b'\n') {
        text.push(b'\n');
    }
    text
}

struct Helper<'a> {
    keyring: &'a Keyring,
    policy: &'a StandardPolicy<'a>,
    now: SystemTime,
    pin: Option<String>,
    checks: Vec<SignatureCheck>,
}

impl<'a> Helper<'a> {
    fn new(
        keyring: &'a Keyring,
        policy: &'a StandardPolicy<'a>,
        now: SystemTime,
        pin: Option<&str>,
    ) -> Self {
        Self {
            keyring,
            policy,
            now,
            pin: pin.map(normalize_fingerprint),
            checks: Vec::new(),
        }
    }

    /// One signature's result, as a [`SignatureCheck`].
    fn classify(&self, result: VerificationResult<'_>) -> SignatureCheck {
        match result {
            Ok(good) => {
                let signer = self.signer(good.ka.cert(), &good.ka.key().fingerprint());
                let created = created(good.sig);
                self.as_of_now(good.ka.cert(), signer, created)
            }
            Err(VerificationError::MissingKey { sig }) => SignatureCheck::UnknownKey {
                issuer: issuer(sig),
            },
            Err(VerificationError::BadKey { sig, ka, error }) => {
                let signer = self.signer(ka.cert(), &ka.key().fingerprint());
                if self.revoked(ka.cert(), &ka.key().fingerprint()) {
                    return SignatureCheck::Revoked { signer };
                }
                if created(sig) > self.now + TOLERANCE {
                    return SignatureCheck::NotYetValid {
                        signer,
                        created: created(sig),
                    };
                }
                match error.downcast_ref::<sequoia_openpgp::Error>() {
                    Some(sequoia_openpgp::Error::Expired(when)) => SignatureCheck::Expired {
                        expired: Some(*when),
                        signer,
                    },
                    Some(sequoia_openpgp::Error::InvalidKey(why)) if why.contains("signing") => {
                        SignatureCheck::NotSigningKey { signer }
                    }
                    _ => SignatureCheck::Unusable {
                        issuer: issuer(sig),
                        reason: format!("its key cannot vouch for it ({error})"),
                    },
                }
            }
            Err(VerificationError::BadSignature { sig, ka, error }) => {
                let signer = self.signer(ka.cert(), &ka.key().fingerprint());
                if sig.pk_algo() != ka.key().pk_algo() {
                    // Not a changed bmap: a signature that names the key but claims an
                    // algorithm (often an unknown one) that key cannot make.
                    return SignatureCheck::Unusable {
                        issuer: issuer(sig),
                        reason: format!(
                            "it claims public-key algorithm {}, but its key is {}",
                            sig.pk_algo(),
                            ka.key().pk_algo()
                        ),
                    };
                }
                match error.downcast_ref::<sequoia_openpgp::Error>() {
                    Some(sequoia_openpgp::Error::PolicyViolation(what, _)) => {
                        SignatureCheck::Weak {
                            signer,
                            algorithm: what.clone(),
                        }
                    }
                    Some(sequoia_openpgp::Error::Expired(when)) => {
                        SignatureCheck::SignatureExpired {
                            signer,
                            expired: *when,
                        }
                    }
                    Some(sequoia_openpgp::Error::NotYetLive(when)) => SignatureCheck::NotYetValid {
                        signer,
                        created: *when,
                    },
                    // The data does not match what was signed.
                    Some(
                        sequoia_openpgp::Error::BadSignature(_)
                        | sequoia_openpgp::Error::ManipulatedMessage,
                    ) if created(sig) > self.now + TOLERANCE => SignatureCheck::NotYetValid {
                        signer,
                        created: created(sig),
                    },
                    Some(
                        sequoia_openpgp::Error::BadSignature(_)
                        | sequoia_openpgp::Error::ManipulatedMessage,
                    ) => SignatureCheck::Bad { signer },
                    _ => SignatureCheck::Unusable {
                        issuer: issuer(sig),
                        reason: error.to_string(),
                    },
                }
            }
            Err(VerificationError::UnboundKey { sig, cert, error }) => SignatureCheck::Unusable {
                issuer: issuer(sig),
                reason: format!(
                    "its key is not validly bound to certificate {} ({error})",
                    cert.fingerprint().to_hex()
                ),
            },
            Err(VerificationError::MalformedSignature { sig, error }) => SignatureCheck::Unusable {
                issuer: issuer(sig),
                reason: format!("the signature is malformed ({error})"),
            },
            Err(VerificationError::UnknownSignature { sig }) => SignatureCheck::Unusable {
                issuer: String::new(),
                reason: format!(
                    "the signature is of a kind or algorithm this version cannot check ({})",
                    sig.error()
                ),
            },
            Err(other) => SignatureCheck::Unusable {
                issuer: String::new(),
                reason: other.to_string(),
            },
        }
    }

    /// A good signature, judged as of now: the key may have expired or been revoked since it
    /// signed; `--fingerprint` may ask for another signer.
    fn as_of_now(&self, cert: &Cert, signer: Signer, created: SystemTime) -> SignatureCheck {
        let key = signer.key.clone();
        if self.revoked(cert, &fingerprint_of(&key)) {
            return SignatureCheck::Revoked { signer };
        }
        let alive = cert.with_policy(self.policy, self.now).and_then(|valid| {
            valid.alive()?;
            let ka = valid
                .keys()
                .key_handle(KeyHandle::from(fingerprint_of(&key)))
                .next()
                .ok_or_else(|| anyhow::anyhow!("the signing key is no longer valid"))?;
            ka.alive()?;
            Ok(())
        });
        if alive.is_err() {
            let expired = cert
                .keys()
                .key_handle(KeyHandle::from(fingerprint_of(&key)))
                .next()
                .and_then(|ka| ka.with_policy(self.policy, created).ok())
                .and_then(|ka| ka.key_expiration_time());
            return SignatureCheck::Expired { signer, expired };
        }
        match &self.pin {
            Some(wanted) if *wanted != signer.fingerprint && *wanted != signer.key => {
                SignatureCheck::OtherSigner {
                    wanted: wanted.clone(),
                    signer,
                }
            }
            _ => SignatureCheck::Valid { signer, created },
        }
    }

    /// Whether the certificate, or its key with this fingerprint, is revoked now.
    fn revoked(&self, cert: &Cert, key: &Fingerprint) -> bool {
        if matches!(
            cert.revocation_status(self.policy, self.now),
            RevocationStatus::Revoked(_)
        ) {
            return true;
        }
        cert.keys()
            .with_policy(self.policy, self.now)
            .key_handle(KeyHandle::from(key.clone()))
            .any(|ka| matches!(ka.revocation_status(), RevocationStatus::Revoked(_)))
    }

    fn signer(&self, cert: &Cert, key: &Fingerprint) -> Signer {
        let source = self
            .keyring
            .certs()
            .iter()
            .find(|(c, _)| c.fingerprint() == cert.fingerprint())
            .map(|(_, source)| source.clone())
            .unwrap_or_else(|| TrustSource::Keyring(self.keyring.describe().into()));
        let user_id = cert
            .with_policy(self.policy, self.now)
            .ok()
            .and_then(|valid| {
                valid
                    .primary_userid()
                    .ok()
                    .map(|u| u.userid().value().to_vec())
            })
            .or_else(|| cert.userids().next().map(|u| u.userid().value().to_vec()))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        Signer {
            fingerprint: cert.fingerprint().to_hex(),
            key: key.to_hex(),
            user_id,
            source,
        }
    }
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        // Trusted keyrings are small; sequoia matches the issuers itself.
        Ok(self
            .keyring
            .certs()
            .iter()
            .map(|(c, _)| c.clone())
            .collect())
    }

    fn check(&mut self, structure: MessageStructure) -> sequoia_openpgp::Result<()> {
        for layer in structure {
            if let MessageLayer::SignatureGroup { results } = layer {
                for result in results {
                    let check = self.classify(result);
                    self.checks.push(check);
                }
            }
        }
        // Every signature is reported; the caller decides.
        Ok(())
    }
}

/// When a signature says it was made (the epoch if it does not say, which sequoia's
/// standard policy rejects anyway).
fn created(sig: &Signature) -> SystemTime {
    sig.signature_creation_time().unwrap_or(UNIX_EPOCH)
}

/// The issuer a signature names: its fingerprint, or key id when that is all it has.
fn issuer(sig: &Signature) -> String {
    sig.get_issuers()
        .first()
        .map(KeyHandle::to_hex)
        .unwrap_or_else(|| "(no issuer named)".into())
}

fn fingerprint_of(hex: &str) -> Fingerprint {
    Fingerprint::from_hex(hex).unwrap_or_else(|_| Fingerprint::Unknown {
        version: None,
        bytes: hex.as_bytes().to_vec().into(),
    })
}

/// `--fingerprint` as users type it: spaces and a 0x prefix allowed, any case.
pub(crate) fn normalize_fingerprint(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    text.trim_start_matches("0x")
        .trim_start_matches("0X")
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use sequoia_openpgp::cert::CertBuilder;
    use sequoia_openpgp::serialize::stream::{Message, Signer};

    use super::*;
    use crate::signature::Keyring;

    /// A certificate and a detached binary signature of `data` made by sequoia.
    fn signed(data: &[u8]) -> (Cert, Vec<u8>) {
        let (cert, _) = CertBuilder::new()
            .add_userid("Unit <unit@example.invalid>")
            .add_signing_subkey()
            .generate()
            .expect("generate");
        let policy = StandardPolicy::new();
        let keypair = cert
            .keys()
            .with_policy(&policy, None)
            .secret()
            .for_signing()
            .next()
            .expect("signing key")
            .key()
            .clone()
            .into_keypair()
            .expect("keypair");
        let mut signature = Vec::new();
        let mut signer = Signer::new(Message::new(&mut signature), keypair)
            .expect("signer")
            .detached()
            .build()
            .expect("build");
        signer.write_all(data).expect("write");
        signer.finalize().expect("finalize");
        (cert, signature)
    }

    fn keyring_of(cert: &Cert) -> Keyring {
        use sequoia_openpgp::serialize::Serialize;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k.gpg");
        let mut bytes = Vec::new();
        cert.serialize(&mut bytes).expect("serialize");
        std::fs::write(&path, bytes).expect("write");
        Keyring::from_file(&path).expect("keyring")
    }

    #[test]
    fn good_and_bad_detached_signatures() {
        let data = b"<bmap version=\"2.0\"/>\n";
        let (cert, signature) = signed(data);
        let keyring = keyring_of(&cert);
        let good = verify_detached(data, &signature, "sig", &keyring, None).expect("verifies");
        assert!(good.status.valid().is_some(), "{:?}", good.status);
        assert_eq!(good.text, data);
        let bad = verify_detached(b"other", &signature, "sig", &keyring, None).expect("checks");
        assert!(matches!(
            bad.status.failure(),
            Some(SignatureCheck::Bad { .. })
        ));
        let unknown =
            verify_detached(data, &signature, "sig", &Keyring::default(), None).expect("checks");
        assert!(matches!(
            unknown.status.failure(),
            Some(SignatureCheck::UnknownKey { .. })
        ));
        let pinned = verify_detached(data, &signature, "sig", &keyring, Some(&"AB".repeat(20)))
            .expect("checks");
        assert!(matches!(
            pinned.status.failure(),
            Some(SignatureCheck::OtherSigner { .. })
        ));
    }

    #[test]
    fn mutated_signatures_never_panic() {
        let data = b"some bmap text\n";
        let (cert, signature) = signed(data);
        let keyring = keyring_of(&cert);
        let mut state = 0x2545_F491_u64;
        for round in 0..1500usize {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = signature.clone();
            let at = usize::try_from(state % bytes.len() as u64).unwrap_or(0);
            match round % 3 {
                0 => bytes[at] ^= (state >> 8) as u8 | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, (state >> 16) as u8),
            }
            // Any result is fine; a panic fails the test.
            let _ = verify_detached(data, &bytes, "sig", &keyring, None);
            let _ = verify_clearsigned(&bytes, &keyring, None);
        }
    }

    #[test]
    fn fingerprints_are_normalized() {
        assert_eq!(normalize_fingerprint("0xab cd"), "ABCD");
    }
}
