//! Where trust comes from: the user's trusted-keys folder is used without a `--keyring` (and
//! `-q` keeps only errors); the GUI's "Trust this key…" copies only the certificate that made
//! the unknown signature from a keyring file, after which the signature is valid.

use crate::harness::support::vectors;

use super::{ALICE, Gpg, KEYS_MADE, SIGNED, Scene, status_lines, valid_line};

#[test]
fn the_trusted_keys_folder_is_used_without_a_keyring() {
    let (gpg, alice) = Gpg::with_key(ALICE);
    let s = Scene::new();
    let key = s.trusted_keys().join("alice.asc");
    gpg.export(&alice, true, &key);
    gpg.sign_detached(
        &[&alice],
        false,
        &s.path("test.image.bmap"),
        &s.path("test.image.bmap.gpg"),
    );
    let run = s.copy(&[]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        [valid_line(
            ALICE,
            &alice,
            &format!("your trusted keys ('{}')", key.display())
        )]
    );
    // -q keeps only errors.
    assert_eq!(s.copy(&["-q"]).ok(), "");
}

/// The GUI's "Trust this key…": of a keyring file with two keys, only the one that made the
/// unknown signature lands in the trusted-keys folder, and then the signature is valid.
#[test]
fn trusting_an_unknown_key_copies_only_that_certificate() {
    use blockprint::signature::{Keyring, SignatureCheck, trust_key, verify_clearsigned};
    let (gpg, signer) = Gpg::with_key("Signer <signer@example.org>");
    let other = gpg.key("Other <other@example.org>", KEYS_MADE, "never");
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("both.asc");
    let mut args = vec!["--armor", "--output", both.to_str().unwrap(), "--export"];
    args.extend([signer.as_str(), other.as_str()]);
    gpg.run(&args);
    let signed = dir.path().join("test.bmap.asc");
    let bmap = vectors().join("test.image.bmap.v2.0");
    gpg.sign(&[&signer], "--clearsign", true, SIGNED, &bmap, &signed);
    let message = std::fs::read(&signed).unwrap();

    let folder = dir.path().join("trusted-keys");
    let system = dir.path().join("none");
    let keyring = Keyring::from_folders(Some(&folder), &system);
    let status = verify_clearsigned(&message, &keyring, None).unwrap().status;
    let Some(SignatureCheck::UnknownKey { issuer }) = status.failure().cloned() else {
        panic!("expected an unknown key, got {status:?}");
    };

    let lonely = dir.path().join("other.asc");
    gpg.export(&other, true, &lonely);
    let err = trust_key(&lonely, &issuer, &folder).unwrap_err();
    assert!(err.to_string().contains("does not hold the key"), "{err}");
    assert!(!folder.exists(), "nothing is written for a wrong key file");

    let saved = trust_key(&both, &issuer, &folder).unwrap();
    assert_eq!(saved, folder.join(format!("{signer}.asc")));
    let trusted = Keyring::from_folders(Some(&folder), &system);
    assert_eq!(trusted.len(), 1, "only the signer's certificate is trusted");
    match verify_clearsigned(&message, &trusted, None)
        .unwrap()
        .status
        .valid()
    {
        Some(SignatureCheck::Valid { signer: who, .. }) => assert_eq!(who.fingerprint, signer),
        other => panic!("expected a valid signature, got {other:?}"),
    }
}
