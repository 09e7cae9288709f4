//! Signing a bmap with the user's own OpenPGP key: a detached, ASCII-armoured signature
//! (`card.img.zst.bmap.asc`) of its exact bytes, which Blockprint, bmaptool and `gpg --verify`
//! find beside the bmap and check. A detached signature leaves the bmap untouched (a
//! cleartext signature would strip trailing whitespace from the signed text, and with it the
//! bmap's own checksum).
//!
//! The key is a secret key file as `gpg --export-secret-keys --armor FPR > key.asc` writes it
//! (armoured or binary): its first key that is valid now and may sign is used. A key protected
//! by a passphrase needs it ([`SignError::Locked`] says so, before anything is read or
//! written).

use std::path::{Path, PathBuf};

use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::crypto::{KeyPair, Password};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Message, Signer};

/// Why a key could not sign.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file cannot be read.
    #[error("cannot read the signing key '{path}': {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is no OpenPGP key.
    #[error(
        "'{path}' is not an OpenPGP key ({message}); export yours with \
         gpg --export-secret-keys --armor FINGERPRINT > key.asc"
    )]
    NotAKey {
        /// The key file.
        path: PathBuf,
        /// sequoia's words.
        message: String,
    },
    /// It holds no secret key that may sign now.
    #[error(
        "'{path}' holds no secret key that can sign now (only a public key, or its signing \
         keys expired or were revoked); export the secret key with gpg --export-secret-keys"
    )]
    NoSigningKey {
        /// The key file.
        path: PathBuf,
    },
    /// The key is protected by a passphrase and none was given.
    #[error("the signing key '{path}' is protected by a passphrase")]
    Locked {
        /// The key file.
        path: PathBuf,
    },
    /// The passphrase given does not unlock it.
    #[error("the passphrase does not unlock the signing key '{path}'")]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// Signing itself failed.
    #[error("cannot sign with '{path}': {message}")]
    Sign {
        /// The key file.
        path: PathBuf,
        /// sequoia's words.
        message: String,
    },
}

/// A secret key ready to sign.
pub struct SigningKey {
    keypair: KeyPair,
    path: PathBuf,
    fingerprint: String,
    user_id: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads the secret key in `path`, unlocked with `passphrase` where it is protected.
    pub fn from_file(path: &Path, passphrase: Option<&str>) -> Result<Self, SignError> {
        let bytes = std::fs::read(path).map_err(|source| SignError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cert = Cert::from_bytes(&bytes).map_err(|e| SignError::NotAKey {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let policy = StandardPolicy::new();
        let key = cert
            .keys()
            .secret()
            .with_policy(&policy, None)
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .next()
            .ok_or_else(|| SignError::NoSigningKey {
                path: path.to_path_buf(),
            })?;
        let fingerprint = key.key().fingerprint().to_hex();
        let user_id = cert
            .with_policy(&policy, None)
            .ok()
            .and_then(|valid| valid.primary_userid().ok())
            .map(|uid| String::from_utf8_lossy(uid.userid().value()).into_owned());
        let mut secret = key.key().clone();
        if !secret.has_unencrypted_secret() {
            let Some(passphrase) = passphrase else {
                return Err(SignError::Locked {
                    path: path.to_path_buf(),
                });
            };
            secret = secret
                .decrypt_secret(&Password::from(passphrase))
                .map_err(|_| SignError::WrongPassphrase {
                    path: path.to_path_buf(),
                })?;
        }
        let keypair = secret.into_keypair().map_err(|e| SignError::Sign {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self {
            keypair,
            path: path.to_path_buf(),
            fingerprint,
            user_id,
        })
    }

    /// The signing (sub)key's fingerprint, in hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The certificate's primary user ID, if it has one.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// A detached, armoured signature of `data`.
    pub fn sign_detached(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let fail = |e: anyhow::Error| SignError::Sign {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let mut out = Vec::new();
        {
            use std::io::Write;
            let message = Message::new(&mut out);
            let message = Armorer::new(message)
                .kind(openpgp::armor::Kind::Signature)
                .build()
                .map_err(fail)?;
            let mut signer = Signer::new(message, self.keypair.clone())
                .map_err(fail)?
                .detached()
                .build()
                .map_err(fail)?;
            signer.write_all(data).map_err(|e| fail(e.into()))?;
            signer.finalize().map_err(fail)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{Keyring, TrustSource, verify_detached};
    use openpgp::cert::CertBuilder;
    use openpgp::serialize::Serialize;

    /// A new key, its secret key file (armoured, protected by `passphrase` if given) and a
    /// keyring of its public part.
    fn key(dir: &Path, passphrase: Option<&str>) -> (PathBuf, Keyring) {
        let mut builder = CertBuilder::new()
            .add_userid("Backup Tester <backup@example.invalid>")
            .add_signing_subkey();
        if let Some(p) = passphrase {
            builder = builder.set_password(Some(Password::from(p)));
        }
        let (cert, _) = builder.generate().expect("generate");
        let path = dir.join("key.asc");
        let mut armoured = Vec::new();
        cert.as_tsk()
            .armored()
            .serialize(&mut armoured)
            .expect("serialize");
        std::fs::write(&path, armoured).expect("write");
        let mut public = Vec::new();
        cert.serialize(&mut public).expect("public");
        let keyring = Keyring::from_bytes(&public, "test", TrustSource::Keyring(path.clone()))
            .expect("keyring");
        (path, keyring)
    }

    #[test]
    fn a_detached_signature_verifies_the_exact_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, keyring) = key(dir.path(), None);
        let signer = SigningKey::from_file(&path, None).expect("an unprotected key");
        assert_eq!(
            signer.user_id(),
            Some("Backup Tester <backup@example.invalid>")
        );
        let bmap = b"<?xml version=\"1.0\"?>\n<bmap version=\"2.0\">  \n</bmap>";
        let signature = signer.sign_detached(bmap).expect("sign");
        assert!(signature.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
        let checked = verify_detached(bmap, &signature, "sig", &keyring, None).expect("checks");
        assert!(checked.status.valid().is_some(), "{:?}", checked.status);
        let changed = verify_detached(b"<bmap/>", &signature, "sig", &keyring, None).expect("c");
        assert!(
            changed.status.valid().is_none(),
            "another text is not signed"
        );
    }

    #[test]
    fn a_protected_key_needs_its_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, keyring) = key(dir.path(), Some("correct horse"));
        assert!(matches!(
            SigningKey::from_file(&path, None),
            Err(SignError::Locked { .. })
        ));
        assert!(matches!(
            SigningKey::from_file(&path, Some("wrong")),
            Err(SignError::WrongPassphrase { .. })
        ));
        let signer = SigningKey::from_file(&path, Some("correct horse")).expect("unlocked");
        let signature = signer.sign_detached(b"data").expect("sign");
        let checked = verify_detached(b"data", &signature, "sig", &keyring, None).expect("checks");
        assert!(checked.status.valid().is_some(), "{:?}", checked.status);
    }

    #[test]
    fn a_public_key_or_another_file_cannot_sign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = CertBuilder::new()
            .add_signing_subkey()
            .generate()
            .expect("generate");
        let public = dir.path().join("public.asc");
        let mut bytes = Vec::new();
        cert.armored().serialize(&mut bytes).expect("serialize");
        std::fs::write(&public, bytes).expect("write");
        assert!(matches!(
            SigningKey::from_file(&public, None),
            Err(SignError::NoSigningKey { .. })
        ));
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").expect("write");
        let error = SigningKey::from_file(&text, None).expect_err("not a key");
        assert!(
            error.to_string().contains("gpg --export-secret-keys"),
            "{error}"
        );
        let missing = SigningKey::from_file(&dir.path().join("none"), None).expect_err("missing");
        assert!(matches!(missing, SignError::Read { .. }));
    }
}
