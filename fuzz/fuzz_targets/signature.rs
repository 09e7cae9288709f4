//! The OpenPGP front end with a keyring that holds the signers' keys, so signatures are
//! checked all the way through the crypto: a clearsigned message, or a detached signature of a
//! fixed bmap, built around zero, one and several signatures, Marker packets and trailing
//! garbage (fuzz/seeds.sh makes them), then judged by the policy with and without a pinned
//! signer. Errors are fine; panics are bugs.
//!
//! Input: a little-endian u16 length, that many bytes of keyring, one mode byte (even:
//! clearsigned, odd: detached), then the message or signature.
#![no_main]

use blockprint::signature::{
    Keyring, Policy, TrustSource, verify_clearsigned, verify_detached,
};
use libfuzzer_sys::fuzz_target;

/// The bmap the detached seeds sign.
const SIGNED: &[u8] = b"<bmap/>\n";

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (keys, rest) = rest.split_at(len);
    let Some((&mode, message)) = rest.split_first() else {
        return;
    };
    let source = TrustSource::Keyring("fuzz.gpg".into());
    let keyring = Keyring::from_bytes(keys, "fuzz.gpg", source).unwrap_or_default();
    let pin = keyring_pin(&keyring);
    for pin in [None, pin.as_deref()] {
        let verified = if mode % 2 == 0 {
            verify_clearsigned(message, &keyring, pin)
        } else {
            verify_detached(SIGNED, message, "fuzz.sig", &keyring, pin)
        };
        if let Ok(verified) = verified {
            let policy = Policy {
                signer: pin.map(str::to_owned),
                ..Policy::default()
            };
            let refusal = policy.judge(&verified.status);
            // Used only if one signature is valid.
            assert_eq!(refusal.is_none(), verified.status.valid().is_some());
        }
    }
});

/// A fingerprint to pin: the first certificate's, when there is one.
fn keyring_pin(keyring: &Keyring) -> Option<String> {
    keyring.fingerprints().into_iter().next()
}
