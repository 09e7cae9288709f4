//! The OpenPGP front end: a clearsigned message, and a detached signature of fixed data, with
//! no keys (every signature is then checked as far as an unknown key allows). Errors are fine;
//! panics are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keyring = blockprint::signature::Keyring::default();
    let _ = blockprint::signature::verify_clearsigned(data, &keyring, None);
    let _ = blockprint::signature::verify_detached(b"<bmap/>\n", data, "fuzz.sig", &keyring, None);
});
