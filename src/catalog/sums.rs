//! A distribution's signed checksum file as a catalog of one: for an image at
//! `…/folder/name.iso`, the folder's `SHA256SUMS` with its detached OpenPGP signature
//! (`SHA256SUMS.sign` as Debian names it, `SHA256SUMS.gpg` as Ubuntu does), or else Fedora's
//! clearsigned `…-CHECKSUM` found in the folder's index, checked with the same code and the
//! same trusted keys as signed bmaps. A valid signature by a trusted key
//! makes the image's SHA-256 the one to check the download against: "official image".
//!
//! The check is made for every image URL, asked for or not, so only evidence stops a copy:
//! no checksum file, no signature next to it, a server that fails on either (or answers every
//! path with the image), a signature that cannot be parsed, or the image not listed is
//! [`Sums::None`] and nothing is claimed; a signature by a key no trust source holds is
//! [`Sums::Untrusted`] (said, and nothing is claimed either). A signature that was checked and
//! failed (the file changed after signing, an expired or revoked key, a weak algorithm) is an
//! error: the download may have been changed, and the copy stops.

use std::fmt;

use super::rpi::parse_sha256;
use crate::signature::{Keyring, SignatureCheck, Signer, verify_clearsigned, verify_detached};
use crate::source::http::{HttpClient, Url};

/// The largest checksum file read.
const MAX_SUMS: u64 = 1 << 20;

/// What the checksum file next to an image says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sums {
    /// Nothing to go by.
    None,
    /// Signed by a key no trust source holds: nothing is claimed.
    Untrusted {
        /// The checksum file.
        file: Url,
        /// The signer's fingerprint or key id.
        issuer: String,
    },
    /// Signed by a trusted key, and the image is listed.
    Official(Official),
}

/// An image's SHA-256 from a checksum file signed by a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Official {
    /// The download's SHA-256.
    pub sha256: [u8; 32],
    /// Who signed the checksum file.
    pub signer: Signer,
    /// The checksum file.
    pub file: Url,
}

/// Why the checksum file next to an image speaks against it.
#[derive(Debug, thiserror::Error)]
pub enum SumsError {
    /// The signature is not valid.
    #[error(
        "the checksum file '{file}' next to the image is not validly signed: {}; the download \
         may have been changed, so nothing was written",
        describe(check)
    )]
    Refused {
        /// The checksum file.
        file: Url,
        /// What the signature turned out to be.
        check: Box<SignatureCheck>,
    },
}

/// A failed signature in a few words.
pub(super) fn describe(check: &SignatureCheck) -> String {
    match check {
        SignatureCheck::Bad { signer } => {
            format!("a bad signature by {signer}: the file was changed after it was signed")
        }
        SignatureCheck::Expired { signer, .. } => format!("the key of {signer} has expired"),
        SignatureCheck::Revoked { signer } => format!("the key of {signer} was revoked"),
        SignatureCheck::NotYetValid { signer, .. } => {
            format!("the signature by {signer} is dated in the future")
        }
        SignatureCheck::SignatureExpired { signer, .. } => {
            format!("the signature by {signer} has expired")
        }
        SignatureCheck::Weak { signer, algorithm } => {
            format!("the signature by {signer} uses a weak algorithm ({algorithm})")
        }
        SignatureCheck::NotSigningKey { signer } => {
            format!("{signer} signed with a key not meant for signing")
        }
        SignatureCheck::OtherSigner { signer, .. } => format!("signed by {signer}"),
        SignatureCheck::Unusable { reason, .. } => format!("the signature is unusable ({reason})"),
        SignatureCheck::UnknownKey { issuer } => format!("signed by an unknown key {issuer}"),
        SignatureCheck::Valid { signer, .. } => format!("signed by {signer}"),
    }
}

impl fmt::Display for Official {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "official image: its SHA-256 is in '{}', signed by {}",
            self.file, self.signer
        )
    }
}

/// Looks for `SHA256SUMS` and its signature next to `image`; `http` should not retry (a
/// server that does not answer costs one timeout per file, and nothing else).
pub fn official(image: &Url, http: &HttpClient, keyring: &Keyring) -> Result<Sums, SumsError> {
    let fetch = |url: &Url| http.fetch_next_to(url, image, MAX_SUMS).ok().flatten();
    let Some(name) = image
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
    else {
        return Ok(Sums::None);
    };
    let Ok(file) = image.join("SHA256SUMS") else {
        return Ok(Sums::None);
    };
    let Some(sums) = fetch(&file) else {
        return fedora(image, &name, http, keyring);
    };
    let mut signature = None;
    for extension in ["sign", "gpg"] {
        let Ok(url) = image.join(&format!("SHA256SUMS.{extension}")) else {
            continue;
        };
        if let Some(bytes) = fetch(&url) {
            signature = Some((url, bytes));
            break;
        }
    }
    let Some((signature_url, signature)) = signature else {
        return Ok(Sums::None);
    };
    let Ok(verified) = verify_detached(&sums, &signature, signature_url.as_str(), keyring, None)
    else {
        return Ok(Sums::None);
    };
    let signer = match verified.status.valid() {
        Some(SignatureCheck::Valid { signer, .. }) => signer.clone(),
        _ => match verified.status.failure() {
            Some(SignatureCheck::UnknownKey { issuer }) => {
                return Ok(Sums::Untrusted {
                    file,
                    issuer: issuer.clone(),
                });
            }
            failure => {
                return Err(SumsError::Refused {
                    file,
                    check: Box::new(failure.cloned().unwrap_or(SignatureCheck::Unusable {
                        issuer: String::new(),
                        reason: "it holds no signature".into(),
                    })),
                });
            }
        },
    };
    let decoded = percent_decoded(&name);
    Ok(find(&sums, &decoded).map_or(Sums::None, |sha256| {
        Sums::Official(Official {
            sha256,
            signer,
            file,
        })
    }))
}

/// Fedora's way: a clearsigned `…-CHECKSUM` file in the image's folder, named after the
/// release rather than the image, so found in the folder's index (the page its server shows
/// for it), with lines `SHA256 (NAME) = HEX`. At most [`MAX_CHECKSUM_FILES`] are tried.
fn fedora(
    image: &Url,
    name: &str,
    http: &HttpClient,
    keyring: &Keyring,
) -> Result<Sums, SumsError> {
    let fetch = |url: &Url| http.fetch_next_to(url, image, MAX_SUMS).ok().flatten();
    let Some(index) = image.join("./").ok().and_then(|folder| fetch(&folder)) else {
        return Ok(Sums::None);
    };
    let decoded = percent_decoded(name);
    let mut untrusted = None;
    for listed in checksum_files(&index).into_iter().take(MAX_CHECKSUM_FILES) {
        let Some(file) = image.join(&listed).ok() else {
            continue;
        };
        let Some(bytes) = fetch(&file) else {
            continue;
        };
        let Ok(verified) = verify_clearsigned(&bytes, keyring, None) else {
            continue;
        };
        let signer = match verified.status.valid() {
            Some(SignatureCheck::Valid { signer, .. }) => signer.clone(),
            _ => match verified.status.failure() {
                Some(SignatureCheck::UnknownKey { issuer }) => {
                    untrusted.get_or_insert((file, issuer.clone()));
                    continue;
                }
                failure => {
                    return Err(SumsError::Refused {
                        file,
                        check: Box::new(failure.cloned().unwrap_or(SignatureCheck::Unusable {
                            issuer: String::new(),
                            reason: "it holds no signature".into(),
                        })),
                    });
                }
            },
        };
        if let Some(sha256) = find_tagged(&verified.text, &decoded) {
            return Ok(Sums::Official(Official {
                sha256,
                signer,
                file,
            }));
        }
    }
    Ok(match untrusted {
        Some((file, issuer)) => Sums::Untrusted { file, issuer },
        None => Sums::None,
    })
}

/// The most `…-CHECKSUM` files of a folder tried.
const MAX_CHECKSUM_FILES: usize = 4;

/// The names a folder's index links to that end in `CHECKSUM` and stay in the folder.
fn checksum_files(index: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(index);
    let mut found: Vec<String> = Vec::new();
    for piece in text.split("href=\"").skip(1) {
        let Some((target, _)) = piece.split_once('"') else {
            continue;
        };
        let target = target.strip_prefix("./").unwrap_or(target);
        let plain = !target.contains(['/', '?', '#', ':']) && target.ends_with("CHECKSUM");
        if plain && !found.iter().any(|f| f == target) {
            found.push(target.to_owned());
        }
    }
    found
}

/// The SHA-256 that BSD-style lines (`SHA256 (NAME) = HEX`, as Fedora's CHECKSUM files and
/// `sha256sum --tag` write them) give `name`.
fn find_tagged(sums: &[u8], name: &str) -> Option<[u8; 32]> {
    let text = String::from_utf8_lossy(sums);
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("SHA256 (")?;
        let (listed, hex) = rest.rsplit_once(") = ")?;
        (listed == name).then(|| parse_sha256(hex.trim())).flatten()
    })
}

/// The SHA-256 that `sums` (lines of `HEX  NAME` or `HEX *NAME`, as sha256sum writes them)
/// gives `name`.
fn find(sums: &[u8], name: &str) -> Option<[u8; 32]> {
    let text = String::from_utf8_lossy(sums);
    text.lines().find_map(|line| {
        let (hex, rest) = line.split_once(' ')?;
        let listed = rest.trim_start_matches(' ').trim_start_matches('*');
        let listed = listed.strip_prefix("./").unwrap_or(listed);
        (listed == name).then(|| parse_sha256(hex)).flatten()
    })
}

/// A URL path segment as the file is named (`%20` is a space).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) if bytes[i + 1].is_ascii_hexdigit() => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb";

    #[test]
    fn sha256sum_lines_are_read_as_it_writes_them() {
        let sums = format!(
            "{A}  debian-12.8.0-amd64-netinst.iso\n{}  *ubuntu 24.04.iso\n{}  ./x.img\n",
            "1".repeat(64),
            "2".repeat(64)
        );
        let sums = sums.as_bytes();
        assert_eq!(
            find(sums, "debian-12.8.0-amd64-netinst.iso").map(|d| d[0]),
            Some(0x69)
        );
        assert_eq!(find(sums, "ubuntu 24.04.iso").map(|d| d[0]), Some(0x11));
        assert_eq!(find(sums, "x.img").map(|d| d[0]), Some(0x22));
        assert!(find(sums, "netinst.iso").is_none(), "whole names only");
        assert!(find(b"zz  a.iso\n", "a.iso").is_none());
        assert_eq!(percent_decoded("ubuntu%2024.04.iso"), "ubuntu 24.04.iso");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%zz%4"), "%zz%4");
    }

    #[test]
    fn fedoras_checksum_files_are_found_in_the_folder_index_and_read() {
        let index =
            br#"<a href="../">../</a><a href="Fedora-Workstation-41-1.4-x86_64-CHECKSUM">x</a>
            <a href="./Fedora-Workstation-41-1.4-x86_64-CHECKSUM">again</a>
            <a href="https://evil.example/x-CHECKSUM">far</a><a href="sub/y-CHECKSUM">deep</a>
            <a href="Fedora-Workstation-Live-x86_64-41-1.4.iso">iso</a>"#;
        assert_eq!(
            checksum_files(index),
            ["Fedora-Workstation-41-1.4-x86_64-CHECKSUM"]
        );
        let sums = format!(
            "# Fedora-Workstation-Live-x86_64-41-1.4.iso: 2398523392 bytes\n\
             SHA256 (Fedora-Workstation-Live-x86_64-41-1.4.iso) = {A}\n\
             SHA256 (other (1).iso) = {}\n",
            "1".repeat(64)
        );
        let sums = sums.as_bytes();
        assert_eq!(
            find_tagged(sums, "Fedora-Workstation-Live-x86_64-41-1.4.iso").map(|d| d[0]),
            Some(0x69)
        );
        assert_eq!(find_tagged(sums, "other (1).iso").map(|d| d[0]), Some(0x11));
        assert!(find_tagged(sums, "Live-x86_64-41-1.4.iso").is_none());
    }
}
