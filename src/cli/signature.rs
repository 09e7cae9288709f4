//! Checking a bmap's OpenPGP signature before anything is written, and saying exactly what was
//! found: a status line per signature, and for a refusal one error that names the key and the
//! option that would accept it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use blockprint::bmap;
use blockprint::discover;
use blockprint::signature::{
    Keyring, SignatureCheck, SignatureStatus, Signer, Verified, user_trusted_keys,
    verify_clearsigned, verify_detached,
};
use blockprint::source::{Input, Opener};

use super::Output;

/// A detached signature is never larger than this.
const SIGNATURE_LIMIT: u64 = 1 << 20;

/// The signature options of `copy` and `verify-sig`.
#[derive(Debug, Clone, Copy)]
pub(super) struct SignatureOptions<'a> {
    /// `--no-sig-verify`: never look at signatures, never need a key.
    pub skip: bool,
    /// `--bmap-sig`: the detached signature, instead of discovering one.
    pub signature: Option<&'a str>,
    /// `--keyring`: the only certificates trusted.
    pub keyring: Option<&'a Path>,
    /// `--fingerprint`: the key that must have signed.
    pub fingerprint: Option<&'a str>,
}

/// Checks the signature of the bmap `bytes` from `input` and returns the bytes to parse:
/// exactly the signed text. Refuses (an error) unless a signature is valid or the bmap is
/// unsigned and no signature was asked for.
pub(super) fn check(
    input: &Input,
    bytes: &[u8],
    options: &SignatureOptions<'_>,
    opener: &Opener,
    out: &Output,
) -> anyhow::Result<Verified> {
    if options.skip {
        return unchecked(input, bytes, out);
    }
    let keyring = match options.keyring {
        Some(path) => Keyring::from_file(path)?,
        None => Keyring::trusted()?,
    };
    let pin = options.fingerprint;
    let verified = if bmap::is_clearsigned(bytes) {
        verify_clearsigned(bytes, &keyring, pin)?
    } else if let Some((location, signature)) = find_signature(input, options.signature, opener)? {
        verify_detached(bytes, &signature, &location, &keyring, pin)?
    } else {
        Verified {
            status: SignatureStatus::Unsigned,
            text: bytes.to_vec(),
        }
    };
    for warning in keyring.warnings() {
        out.warn(warning);
    }
    for check in verified.status.checks() {
        out.info(format_args!(
            "signature: {}{}",
            status_line(check, &keyring),
            bmaptool_phrase(check)
        ));
    }
    if verified.status == SignatureStatus::Unsigned {
        if options.fingerprint.is_some() || options.keyring.is_some() {
            let (flag, phrase) = if options.fingerprint.is_some() {
                (
                    "--fingerprint",
                    " (no signature found but --fingerprint given)",
                )
            } else {
                ("--keyring", "")
            };
            bail!(
                "bmap file '{input}' is not signed, but {flag} asks for a signature{phrase}; use the signed bmap, or leave out {flag}"
            );
        }
        out.info("signature: none, the bmap is not signed");
        return Ok(verified);
    }
    if let Some(failure) = verified.status.failure() {
        bail!(refusal(input, failure, &keyring));
    }
    Ok(verified)
}

/// `--no-sig-verify`: the text of a clearsigned bmap without checking anything.
fn unchecked(input: &Input, bytes: &[u8], out: &Output) -> anyhow::Result<Verified> {
    let text = if bmap::is_clearsigned(bytes) {
        out.info("signature: not checked (--no-sig-verify)");
        bmap::cleartext(bytes).ok_or_else(|| {
            anyhow!(
                "bmap file '{input}': the clearsigned message is malformed (no signature block after the text)"
            )
        })?
    } else {
        bytes.to_vec()
    };
    Ok(Verified {
        status: SignatureStatus::Unsigned,
        text,
    })
}

/// `--bmap-sig`, or the first of BMAP.asc, BMAP.sig, BMAP.gpg that exists next to the bmap.
fn find_signature(
    bmap: &Input,
    explicit: Option<&str>,
    opener: &Opener,
) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    if let Some(text) = explicit {
        let input = Input::parse(text)?;
        let bytes = opener
            .fetch(&input, SIGNATURE_LIMIT)?
            .ok_or_else(|| anyhow!("signature file '{input}' does not exist"))?;
        return Ok(Some((input.to_string(), bytes)));
    }
    for candidate in discover::signature_candidates_for(bmap) {
        if let Some(bytes) = opener.fetch_next_to(&candidate, bmap, SIGNATURE_LIMIT)? {
            return Ok(Some((candidate.to_string(), bytes)));
        }
    }
    Ok(None)
}

/// bmaptool's words for a signature, which scripts look for, where they are true.
fn bmaptool_phrase(check: &SignatureCheck) -> &'static str {
    match check {
        SignatureCheck::Valid { .. } => " (successfully verified bmap file signature)",
        SignatureCheck::Bad { .. } => " (discovered a BAD GPG signature)",
        _ => "",
    }
}

/// One signature, as the line printed for it.
pub(super) fn status_line(check: &SignatureCheck, keyring: &Keyring) -> String {
    match check {
        SignatureCheck::Valid { signer, created } => format!(
            "valid, by {signer}, made {}; trusted through {}",
            utc(*created),
            signer.source
        ),
        SignatureCheck::UnknownKey { issuer } => {
            format!("by key {issuer}, which is not in {}", keyring.describe())
        }
        SignatureCheck::Bad { signer } => {
            format!("BAD, by {signer}: the bmap does not match its signature")
        }
        SignatureCheck::Expired { signer, expired } => format!(
            "by {signer}, whose key expired{}",
            expired
                .map(|t| format!(" on {}", utc(t)))
                .unwrap_or_default()
        ),
        SignatureCheck::Revoked { signer } => format!("by {signer}, whose key is revoked"),
        SignatureCheck::NotYetValid { signer, created } => {
            format!(
                "by {signer}, dated {}, which is in the future",
                utc(*created)
            )
        }
        SignatureCheck::OtherSigner { signer, wanted } => {
            format!("valid, by {signer}, but not by the requested key {wanted}")
        }
        SignatureCheck::Unusable { issuer, reason } => format!(
            "cannot be checked{}: {reason}",
            if issuer.is_empty() {
                String::new()
            } else {
                format!(" (key {issuer})")
            }
        ),
    }
}

/// The one error line for a bmap whose signatures all failed.
fn refusal(input: &Input, failure: &SignatureCheck, keyring: &Keyring) -> String {
    let anyway = "pass --no-sig-verify to write it without checking";
    match failure {
        SignatureCheck::Bad { signer } => format!(
            "bmap file '{input}' does not match its signature by {}: it was changed after it was signed; get the bmap and its signature again ({anyway}, at your own risk)",
            name(signer)
        ),
        SignatureCheck::UnknownKey { issuer } => {
            let folder = user_trusted_keys()
                .map(|p| format!(" or by adding its key to {}", p.display()))
                .unwrap_or_default();
            format!(
                "bmap file '{input}' is signed by key {issuer}, which is not in {}; trust it with --keyring FILE, with gpg --import{folder}, or {anyway}",
                keyring.describe()
            )
        }
        SignatureCheck::Expired { signer, expired } => format!(
            "bmap file '{input}' is signed by {}, whose key expired{}; get a bmap signed with a current key, or {anyway}",
            name(signer),
            expired
                .map(|t| format!(" on {}", utc(t)))
                .unwrap_or_default()
        ),
        SignatureCheck::Revoked { signer } => format!(
            "bmap file '{input}' is signed by {}, whose key has been revoked by its owner; do not trust it ({anyway})",
            name(signer)
        ),
        SignatureCheck::NotYetValid { signer, created } => format!(
            "bmap file '{input}' has a signature by {} dated {}, in the future; check this computer's clock, or {anyway}",
            name(signer),
            utc(*created)
        ),
        SignatureCheck::OtherSigner { signer, wanted } => format!(
            "bmap file '{input}' is signed by {}, not by the key --fingerprint asks for ({wanted}); check the fingerprint, or {anyway}",
            name(signer)
        ),
        other => format!(
            "bmap file '{input}' has a signature that {}; {anyway}",
            status_line(other, keyring)
        ),
    }
}

fn name(signer: &Signer) -> String {
    signer.to_string()
}

/// A time as `2026-11-21 22:05:03 UTC`.
pub(super) fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_795_305_903)),
            "2026-11-22 00:05:03 UTC"
        );
    }
}
