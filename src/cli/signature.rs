//! What the engine's signature check found, as the CLI says it: a status line per signature,
//! and for a refusal one error that names the key and the option that would accept it.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use blockprint::discover::Checked;
use blockprint::signature::{
    Policy, Refusal, Requirement, SignatureCheck, SignatureStatus, Signer, user_trusted_keys,
};

use super::Output;

/// The signature options of `copy` and `verify-sig`.
#[derive(Debug, Clone, Copy)]
pub(super) struct SignatureOptions<'a> {
    /// `--no-sig-verify`: never look at signatures, never need a key.
    pub skip: bool,
    /// `--keyring`: the only certificates trusted.
    pub keyring: Option<&'a std::path::Path>,
    /// `--fingerprint`: the key that must have signed.
    pub fingerprint: Option<&'a str>,
    /// `--require-signature`: an unsigned bmap is refused.
    pub require: bool,
}

impl SignatureOptions<'_> {
    /// The engine's policy for these options.
    pub(super) fn policy(&self) -> Policy {
        Policy {
            skip: self.skip,
            keyring: self.keyring.map(std::path::Path::to_path_buf),
            signer: self.fingerprint.map(str::to_owned),
            require_signature: self.require,
        }
    }
}

/// Prints what the signature check found, before anything is written, and refuses (an
/// error) what the policy refuses.
pub(super) fn report(checked: &Checked, out: &Output) -> anyhow::Result<()> {
    let input = &checked.location;
    if checked.skipped {
        if checked.status != SignatureStatus::Unsigned {
            out.info("signature: not checked (--no-sig-verify)");
        }
        return Ok(());
    }
    for warning in &checked.warnings {
        out.warn(warning);
    }
    let trusted = checked.trusted.as_deref().unwrap_or("the trusted keys");
    for check in checked.status.checks() {
        out.info(format_args!(
            "signature: {}{}",
            status_line(check, trusted),
            bmaptool_phrase(check)
        ));
    }
    match &checked.refusal {
        None if checked.status == SignatureStatus::Unsigned => {
            if checked.unsigned_unexpectedly {
                out.warn(format_args!(
                    "the bmap '{input}' is not signed, though you trust signing keys; \
                     pass --require-signature to refuse unsigned images"
                ));
            } else {
                out.info("signature: none, the bmap is not signed");
            }
            Ok(())
        }
        None => Ok(()),
        Some(refusal) => bail!(refusal_line(&input.to_string(), refusal, trusted)),
    }
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
pub(super) fn status_line(check: &SignatureCheck, trusted: &str) -> String {
    match check {
        SignatureCheck::Valid { signer, created } => format!(
            "valid, by {signer}, made {}; trusted through {}",
            utc(*created),
            signer.source
        ),
        SignatureCheck::UnknownKey { issuer } => {
            format!("by key {issuer}, which is not in {trusted}")
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
        SignatureCheck::SignatureExpired { signer, expired } => {
            format!("by {signer}, a signature that expired on {}", utc(*expired))
        }
        SignatureCheck::Weak { signer, algorithm } => {
            format!("by {signer}, made with an algorithm no longer accepted: {algorithm}")
        }
        SignatureCheck::NotSigningKey { signer } => {
            format!("by {signer}, with a key that is not marked for signing")
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

/// The one error line for a refused bmap.
fn refusal_line(input: &str, refusal: &Refusal, trusted: &str) -> String {
    let failure = match refusal {
        Refusal::Unsigned(requirement) => {
            let (flag, phrase) = match requirement {
                Requirement::Signer(_) => (
                    "--fingerprint",
                    " (no signature found but --fingerprint given)",
                ),
                Requirement::Keyring(_) => ("--keyring", ""),
                Requirement::Required => ("--require-signature", ""),
            };
            return format!(
                "bmap file '{input}' is not signed, but {flag} asks for a signature{phrase}; use the signed bmap, or leave out {flag}"
            );
        }
        Refusal::Failed(failure) => failure,
    };
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
                "bmap file '{input}' is signed by key {issuer}, which is not in {trusted}; trust it with --keyring FILE, with gpg --import{folder}, or {anyway}"
            )
        }
        SignatureCheck::Expired { signer, expired } => format!(
            "bmap file '{input}' is signed by {}, whose key expired{}; get a bmap signed with a current key, or {anyway}",
            name(signer),
            expired
                .map(|t| format!(" on {}", utc(t)))
                .unwrap_or_default()
        ),
        SignatureCheck::SignatureExpired { signer, expired } => format!(
            "bmap file '{input}' has a signature by {} that expired on {}; get a freshly signed bmap, or {anyway}",
            name(signer),
            utc(*expired)
        ),
        SignatureCheck::Weak { signer, algorithm } => format!(
            "bmap file '{input}' has a signature by {} made with an algorithm no longer accepted ({algorithm}), so it could be forged; ask for a bmap signed with a current algorithm, or {anyway}",
            name(signer)
        ),
        SignatureCheck::NotSigningKey { signer } => format!(
            "bmap file '{input}' is signed with a key of {} that is not marked for signing, so it does not vouch for the bmap; ask the publisher, or {anyway}",
            name(signer)
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
            status_line(other, trusted)
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
