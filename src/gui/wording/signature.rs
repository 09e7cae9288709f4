//! The signature row's words for every verdict the engine can reach, so that the app refuses
//! exactly what the command line refuses and says precisely why.

use std::time::{SystemTime, UNIX_EPOCH};

use blockprint::signature::{Refusal, Requirement, SignatureCheck, Signer};
use gettextrs::gettext;
use relm4::gtk::glib;

use crate::gui::i18n::gettext_f;
use crate::gui::inspect::SignatureState;

/// How the row looks: a plain fact, good news, a warning, or a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Nothing to judge.
    Plain,
    /// Signed by a trusted key.
    Good,
    /// Allowed, but worth a second look.
    Warning,
    /// Not written.
    Refused,
}

/// The row's title, subtitle and tone for a signature state.
pub fn describe(state: &SignatureState) -> (String, String, Tone) {
    match state {
        SignatureState::NoBmap => (
            gettext("Nothing to check"),
            gettext("Only a block map can carry a signature"),
            Tone::Plain,
        ),
        SignatureState::Unsigned { expected: false } => (
            gettext("Not signed"),
            gettext("Who made this image cannot be checked"),
            Tone::Plain,
        ),
        SignatureState::Unsigned { expected: true } => (
            gettext("Not signed"),
            gettext(
                "You trust signing keys, but this block map is not signed: who made it cannot \
                 be checked",
            ),
            Tone::Warning,
        ),
        SignatureState::Valid {
            signer,
            fingerprint,
        } => (
            match signer {
                Some(signer) => gettext_f("Signed by {signer}", &[("signer", signer)]),
                None => gettext("Signed by a trusted key"),
            },
            gettext_f("Key {fingerprint}", &[("fingerprint", fingerprint)]),
            Tone::Good,
        ),
        SignatureState::UnknownKey { issuer } => (
            gettext("Signed by an unknown key: not written until you trust it"),
            gettext_f(
                "Key {fingerprint} is not one you trust",
                &[("fingerprint", issuer)],
            ),
            Tone::Warning,
        ),
        SignatureState::Refused(refusal) => {
            let (title, subtitle) = refused(refusal);
            (title, subtitle, Tone::Refused)
        }
    }
}

/// Why a refused block map is refused, as a title and a sentence.
fn refused(refusal: &Refusal) -> (String, String) {
    let check = match refusal {
        Refusal::Unsigned(Requirement::Required) => {
            return (
                gettext("Not signed: this image will not be written"),
                gettext("Your preferences allow only images signed by a key you trust"),
            );
        }
        Refusal::Unsigned(_) => {
            return (
                gettext("Not signed: this image will not be written"),
                gettext("A signature by a chosen key is expected"),
            );
        }
        Refusal::Failed(check) => check,
    };
    match check {
        SignatureCheck::Bad { signer } => (
            gettext("Bad signature: this image will not be written"),
            gettext_f(
                "The block map was changed after {signer} signed it",
                &[("signer", &who(signer))],
            ),
        ),
        SignatureCheck::Revoked { signer } => (
            gettext("Revoked key: this image will not be written"),
            gettext_f(
                "{signer} has revoked the key that signed it",
                &[("signer", &who(signer))],
            ),
        ),
        SignatureCheck::Expired { signer, expired } => (
            gettext("Expired key: this image will not be written"),
            match expired {
                Some(when) => gettext_f(
                    "The key of {signer} expired on {date}",
                    &[("signer", &who(signer)), ("date", &date(*when))],
                ),
                None => gettext_f(
                    "The key of {signer} has expired",
                    &[("signer", &who(signer))],
                ),
            },
        ),
        SignatureCheck::SignatureExpired { signer, expired } => (
            gettext("Expired signature: this image will not be written"),
            gettext_f(
                "The signature by {signer} expired on {date}",
                &[("signer", &who(signer)), ("date", &date(*expired))],
            ),
        ),
        SignatureCheck::NotYetValid { signer, created } => (
            gettext("Signature dated in the future: this image will not be written"),
            gettext_f(
                "{signer} dated it {date}; check this computer’s clock",
                &[("signer", &who(signer)), ("date", &date(*created))],
            ),
        ),
        SignatureCheck::Weak { signer, .. } => (
            gettext("Weak signature: this image will not be written"),
            gettext_f(
                "It claims to be by {signer}, but is made with an algorithm that is no longer \
                 safe, so it could be forged",
                &[("signer", &who(signer))],
            ),
        ),
        SignatureCheck::NotSigningKey { signer } => (
            gettext("Unusable signature: this image will not be written"),
            gettext_f(
                "It is made with a key of {signer} that is not meant for signing",
                &[("signer", &who(signer))],
            ),
        ),
        SignatureCheck::OtherSigner { signer, .. } => (
            gettext("Signed by another key: this image will not be written"),
            gettext_f(
                "It is signed by {signer}, not by the key that was asked for",
                &[("signer", &who(signer))],
            ),
        ),
        SignatureCheck::UnknownKey { issuer } => (
            gettext("Signed by an unknown key: not written until you trust it"),
            gettext_f(
                "Key {fingerprint} is not one you trust",
                &[("fingerprint", issuer)],
            ),
        ),
        SignatureCheck::Unusable { .. } | SignatureCheck::Valid { .. } => (
            gettext("The signature cannot be checked: this image will not be written"),
            gettext(
                "It is malformed, or made with an algorithm Blockprint cannot check; get the \
                 block map and its signature again",
            ),
        ),
    }
}

/// A signer as people know it: name and address, or else the fingerprint.
fn who(signer: &Signer) -> String {
    signer
        .user_id
        .clone()
        .unwrap_or_else(|| signer.fingerprint.clone())
}

/// A date in the user's locale.
fn date(when: SystemTime) -> String {
    let secs = when
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    glib::DateTime::from_unix_local(secs)
        .and_then(|d| d.format("%x"))
        .map_or_else(|_| secs.to_string(), |s| s.to_string())
}
