//! The certificates signatures are checked against, and where each came from.
//!
//! A keyring file may be armored or binary, hold one certificate or many (what `gpg --export`
//! writes), or be a GnuPG keybox (`pubring.kbx`), whose OpenPGP blobs are read directly.
//! Trusted-keys folders hold one such file per key; a missing folder is simply empty.

use std::path::{Path, PathBuf};

use sequoia_openpgp::Cert;
use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::parse::Parse;

use super::{SignatureError, TrustSource};

/// The trusted-keys folder shipped with Blockprint: `DATADIR/blockprint/trusted-keys` of the
/// install (meson passes it as BLOCKPRINT_SYSTEM_TRUSTED_KEYS: /usr/local/share/… for a
/// /usr/local install, /app/share/… in the Flatpak); a plain `cargo build` uses /usr/share.
pub const SYSTEM_TRUSTED_KEYS: &str = match option_env!("BLOCKPRINT_SYSTEM_TRUSTED_KEYS") {
    Some(dir) => dir,
    None => "/usr/share/blockprint/trusted-keys",
};

/// The user's trusted-keys folder: `$XDG_CONFIG_HOME/blockprint/trusted-keys`, or
/// `~/.config/blockprint/trusted-keys`.
pub fn user_trusted_keys() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("blockprint").join("trusted-keys"))
}

/// The user's GnuPG public keyrings, which bmaptool checks signatures against too, so that a
/// key imported with `gpg --import` is trusted here as well: in `$GNUPGHOME` (or `~/.gnupg`),
/// `pubring.kbx` (or the older `pubring.gpg`) and gpgv's `trustedkeys.kbx` (or `.gpg`), those
/// that exist.
pub fn gnupg_keyrings() -> Vec<PathBuf> {
    let home = std::env::var_os("GNUPGHOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".gnupg")));
    let Some(home) = home else {
        return Vec::new();
    };
    [
        ["pubring.kbx", "pubring.gpg"],
        ["trustedkeys.kbx", "trustedkeys.gpg"],
    ]
    .iter()
    .filter_map(|names| names.iter().map(|n| home.join(n)).find(|p| p.is_file()))
    .collect()
}

/// Keyring files larger than this are refused (a keybox of thousands of keys is a few MiB).
const MAX_KEYRING: u64 = 64 << 20;

/// Certificates, each with the source that vouches for it.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certs: Vec<(Cert, TrustSource)>,
    described: String,
    warnings: Vec<String>,
}

impl Keyring {
    /// The certificates in one keyring file (`--keyring`).
    pub fn from_file(path: &Path) -> Result<Self, SignatureError> {
        let certs = read_certs(path)?;
        Ok(Self {
            certs: certs
                .into_iter()
                .map(|c| (c, TrustSource::Keyring(path.to_path_buf())))
                .collect(),
            described: format!("the keyring '{}'", path.display()),
            warnings: Vec::new(),
        })
    }

    /// The certificates in keyring bytes (armored, binary or a keybox), vouched for by
    /// `source`; `name` says where they came from in messages.
    pub fn from_bytes(
        bytes: &[u8],
        name: &str,
        source: TrustSource,
    ) -> Result<Self, SignatureError> {
        let certs = parse_certs(bytes, Path::new(name))?;
        Ok(Self {
            certs: certs.into_iter().map(|c| (c, source.clone())).collect(),
            described: format!("the keyring '{name}'"),
            warnings: Vec::new(),
        })
    }

    /// The user's trusted keys, Blockprint's own and the user's GnuPG keyrings: the default
    /// trust when no keyring is named. What cannot be read is left out with a warning
    /// ([`Keyring::warnings`]): fewer trusted keys can only refuse more, never accept more.
    pub fn trusted() -> Self {
        Self::from_folders(
            user_trusted_keys().as_deref(),
            Path::new(SYSTEM_TRUSTED_KEYS),
        )
        .with_gnupg(&gnupg_keyrings())
    }

    /// The keys in a user folder (if any) and a system folder; missing folders are empty, and
    /// a file that holds no keys (a README) is left out with a warning.
    pub fn from_folders(user: Option<&Path>, system: &Path) -> Self {
        let mut keyring = Self::default();
        let mut places = Vec::new();
        let folders = user
            .map(|u| (u, TrustSource::UserFolder as fn(PathBuf) -> TrustSource))
            .into_iter()
            .chain([(
                system,
                TrustSource::SystemFolder as fn(PathBuf) -> TrustSource,
            )]);
        for (folder, source) in folders {
            for path in folder_files(folder, &mut keyring.warnings) {
                match read_certs(&path) {
                    Ok(certs) => keyring
                        .certs
                        .extend(certs.into_iter().map(|c| (c, source(path.clone())))),
                    Err(e) => keyring.warnings.push(format!("{e}; it is left out")),
                }
            }
            places.push(folder.display().to_string());
        }
        keyring.described = format!("the trusted keys in {}", places.join(" and "));
        keyring
    }

    /// These keys and those of the GnuPG keyrings `paths`. A GnuPG keyring holds whatever the
    /// user imported, for any purpose: one that cannot be read is a warning, never an error.
    pub fn with_gnupg(mut self, paths: &[PathBuf]) -> Self {
        for path in paths {
            match read_certs(path) {
                Ok(certs) => self.certs.extend(
                    certs
                        .into_iter()
                        .map(|c| (c, TrustSource::GnupgKeyring(path.clone()))),
                ),
                // Only X.509 certificates, or nothing imported yet.
                Err(SignatureError::BadKeys { reason, .. }) if reason == EMPTY => {}
                Err(e) => self.warnings.push(format!("{e}; its keys are not trusted")),
            }
            self.described
                .push_str(&format!(", and your GnuPG keyring '{}'", path.display()));
        }
        self
    }

    /// What could not be read, each a sentence for the user.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many certificates there are.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The fingerprints of the certificates, uppercase hex, in order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|(c, _)| c.fingerprint().to_hex())
            .collect()
    }

    /// Where the certificates came from, for messages ("the keyring 'k.gpg'").
    pub fn describe(&self) -> &str {
        &self.described
    }

    pub(crate) fn certs(&self) -> &[(Cert, TrustSource)] {
        &self.certs
    }
}

/// Adds the certificate that holds the key `issuer` (a fingerprint or key id, as a
/// [`SignatureCheck::UnknownKey`](super::SignatureCheck::UnknownKey) names it) from the keyring
/// file `from` to the trusted-keys `folder`, as `<FINGERPRINT>.asc`, and returns that file.
/// Only that one certificate is copied, whatever else the file holds.
pub fn trust_key(from: &Path, issuer: &str, folder: &Path) -> Result<PathBuf, SignatureError> {
    use sequoia_openpgp::serialize::SerializeInto;
    let wanted = issuer.trim().to_ascii_uppercase();
    let cert = read_certs(from)?
        .into_iter()
        .find(|cert| {
            cert.keys().any(|k| {
                k.key().fingerprint().to_hex() == wanted || k.key().keyid().to_hex() == wanted
            })
        })
        .ok_or_else(|| SignatureError::KeyNotInFile {
            path: from.to_path_buf(),
            issuer: wanted.clone(),
        })?;
    let path = folder.join(format!("{}.asc", cert.fingerprint().to_hex()));
    let write_error = |source| SignatureError::WriteKey {
        path: path.clone(),
        source,
    };
    let armored = cert
        .armored()
        .to_vec()
        .map_err(|e| SignatureError::BadKeys {
            path: from.to_path_buf(),
            reason: e.to_string(),
        })?;
    std::fs::create_dir_all(folder).map_err(write_error)?;
    // Written beside and renamed, so a half-written key never sits in the folder.
    let partial = folder.join(format!(".{}.asc.partial", cert.fingerprint().to_hex()));
    std::fs::write(&partial, armored)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(write_error)?;
    Ok(path)
}

/// Whether Blockprint's trusted-keys folders (the user's or the system's) hold a key file:
/// then the user expects signed images, and an unsigned bmap deserves a warning. Only the
/// names are looked at; nothing is parsed.
pub fn trusted_keys_present() -> bool {
    let mut ignored = Vec::new();
    [
        user_trusted_keys(),
        Some(PathBuf::from(SYSTEM_TRUSTED_KEYS)),
    ]
    .into_iter()
    .flatten()
    .any(|folder| !folder_files(&folder, &mut ignored).is_empty())
}

/// Every regular, non-hidden file of a folder, in name order; a folder that cannot be read
/// is a warning (a missing one is simply empty).
fn folder_files(folder: &Path, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            warnings.push(format!(
                "cannot read the trusted keys in '{}' ({e}); they are left out",
                folder.display()
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with('.') && !name.ends_with('~')
        })
        .collect();
    files.sort();
    files
}

/// Why a file with no certificates is refused.
const EMPTY: &str = "it is empty";

/// The certificates in a file: armored, binary, or a GnuPG keybox.
fn read_certs(path: &Path) -> Result<Vec<Cert>, SignatureError> {
    use std::io::Read;
    let read_error = |source| SignatureError::ReadKeys {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_error)?
        .take(MAX_KEYRING + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let bad = |reason: String| SignatureError::BadKeys {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() as u64 > MAX_KEYRING {
        return Err(bad(format!("it is larger than {MAX_KEYRING} bytes")));
    }
    parse_certs(&bytes, path)
}

/// The certificates in keyring bytes from `path`: armored, binary, or a GnuPG keybox.
fn parse_certs(bytes: &[u8], path: &Path) -> Result<Vec<Cert>, SignatureError> {
    let bad = |reason: String| SignatureError::BadKeys {
        path: path.to_path_buf(),
        reason,
    };
    let blocks = match keybox_blocks(bytes) {
        Some(blocks) => blocks,
        None => vec![bytes],
    };
    let mut certs = Vec::new();
    for block in blocks {
        let parser = CertParser::from_bytes(block).map_err(|e| bad(e.to_string()))?;
        for cert in parser {
            certs.push(cert.map_err(|e| bad(e.to_string()))?);
        }
    }
    if certs.is_empty() {
        return Err(bad(EMPTY.into()));
    }
    Ok(certs)
}

/// The OpenPGP keyblocks of a GnuPG keybox, or `None` if `bytes` is not one. A keybox is a
/// sequence of blobs (length, type, …); the first is a header with the magic "KBXf" at 8;
/// type 2 blobs hold a keyblock at an offset and length given at 8 and 12.
fn keybox_blocks(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    if bytes.get(4) != Some(&1) || bytes.get(8..12) != Some(b"KBXf") {
        return None;
    }
    let be32 = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok()
    };
    let mut blocks = Vec::new();
    let mut at = 0;
    while at + 16 <= bytes.len() {
        let len = be32(at)?;
        if len < 16 || at.checked_add(len)? > bytes.len() {
            return None;
        }
        if bytes[at + 4] == 2 {
            let offset = be32(at + 8)?;
            let block_len = be32(at + 12)?;
            let start = at.checked_add(offset)?;
            let block = bytes.get(start..start.checked_add(block_len)?)?;
            blocks.push(block);
        }
        at += len;
    }
    Some(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keybox_walk_rejects_garbage_without_panicking() {
        assert!(keybox_blocks(b"not a keybox").is_none());
        let mut fake = vec![0u8; 32];
        fake[3] = 32; // a 32-byte header blob
        fake[4] = 1;
        fake[8..12].copy_from_slice(b"KBXf");
        assert_eq!(keybox_blocks(&fake).map(|b| b.len()), Some(0));
        fake[3] = 200; // a blob longer than the file
        assert!(keybox_blocks(&fake).is_none());
    }

    #[test]
    fn missing_folders_are_empty_and_folders_are_described() {
        let dir = tempfile::tempdir().expect("tmp");
        let keyring =
            Keyring::from_folders(Some(&dir.path().join("none")), &dir.path().join("nope"));
        assert!(keyring.is_empty());
        assert!(keyring.describe().starts_with("the trusted keys in "));
        std::fs::write(dir.path().join("junk.asc"), b"junk").expect("write");
        // F10: a file that holds no key is left out with a warning, never an error.
        let keyring = Keyring::from_folders(Some(dir.path()), &dir.path().join("nope"));
        assert!(keyring.is_empty());
        assert_eq!(keyring.warnings().len(), 1, "{:?}", keyring.warnings());
        assert!(
            keyring.warnings()[0].contains("junk.asc"),
            "{:?}",
            keyring.warnings()
        );
    }
}
