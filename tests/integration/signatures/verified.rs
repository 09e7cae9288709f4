//! Signatures that verify, with their exact `valid` status line: clearsigned and detached
//! (armored `.asc`, binary `.sig`) bmaps made by gpg, checked with armored and binary keyrings
//! and gpg's own keybox, by `copy` and by `verify-sig`; a key and signature made by sequoia;
//! a signature found next to a bmap on an HTTP server. The image is copied exactly.

use super::{ALICE, Gpg, SIGNED, Scene, keyring_line, sequoia_detached, status_lines};

#[test]
fn clearsigned_and_detached_bmaps_verify_with_keyrings_exported_by_gpg() {
    let (gpg, alice) = Gpg::with_key(ALICE);
    let s = Scene::new();
    gpg.export(&alice, true, &s.path("alice.asc"));
    let binary = s.keyring(&gpg, &alice, "alice.gpg");
    let bmap = s.path("test.image.bmap");

    // Detached, armored, found next to the bmap as BMAP.asc; an armored keyring.
    gpg.sign_detached(&[&alice], true, &bmap, &s.path("test.image.bmap.asc"));
    let run = s.copy(&["--keyring", &s.p("alice.asc")]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        [keyring_line(ALICE, &alice, &s.p("alice.asc"))]
    );
    assert!(s.copied_exactly());

    // Detached, binary, as BMAP.sig; a binary keyring; and GnuPG's own keybox.
    std::fs::remove_file(s.path("test.image.bmap.asc")).unwrap();
    gpg.sign_detached(&[&alice], false, &bmap, &s.path("test.image.bmap.sig"));
    for keyring in [binary.clone(), gpg.keybox().display().to_string()] {
        let run = s.copy(&["--keyring", &keyring]);
        run.ok();
        assert_eq!(status_lines(&run), [keyring_line(ALICE, &alice, &keyring)]);
    }

    // Clearsigned: the bmap that is parsed is the cleartext sequoia verified.
    std::fs::remove_file(s.path("test.image.bmap.sig")).unwrap();
    let plain = s.path("plain.bmap");
    std::fs::rename(&bmap, &plain).unwrap();
    gpg.sign(&[&alice], "--clearsign", false, SIGNED, &plain, &bmap);
    let run = s.copy(&["--keyring", &binary]);
    run.ok();
    assert_eq!(status_lines(&run), [keyring_line(ALICE, &alice, &binary)]);
    assert!(s.copied_exactly());

    // verify-sig says the same, without a target.
    let run = s.run(&["verify-sig", "--keyring", &binary, &s.p("test.image.bmap")]);
    run.ok();
    assert_eq!(status_lines(&run).len(), 1);
}

#[test]
fn keys_and_signatures_made_by_sequoia() {
    use sequoia_openpgp::cert::CertBuilder;
    use sequoia_openpgp::policy::StandardPolicy;
    use sequoia_openpgp::serialize::SerializeInto;

    let (cert, _revocation) = CertBuilder::new()
        .add_userid("Sequoia Signer <sq@example.invalid>")
        .add_signing_subkey()
        .generate()
        .unwrap();
    let s = Scene::new();
    std::fs::write(s.path("sq.asc"), cert.armored().to_vec().unwrap()).unwrap();
    let policy = StandardPolicy::new();
    let keypair = cert
        .keys()
        .with_policy(&policy, None)
        .secret()
        .for_signing()
        .next()
        .unwrap()
        .key()
        .clone()
        .into_keypair()
        .unwrap();
    let bmap = std::fs::read(s.path("test.image.bmap")).unwrap();
    let signature = sequoia_detached(keypair, true, &bmap);
    std::fs::write(s.path("test.image.bmap.asc"), signature).unwrap();
    let run = s.copy(&["--keyring", &s.p("sq.asc")]);
    run.ok();
    let fpr = cert.fingerprint().to_hex();
    let line = status_lines(&run)[0];
    assert!(
        line.starts_with(&format!("blockprint: signature: valid, by Sequoia Signer <sq@example.invalid> (key {fpr}), made ")),
        "{line}"
    );
    assert!(s.copied_exactly());
}

#[test]
fn a_signature_next_to_a_remote_bmap_is_found_and_checked() {
    let (gpg, alice) = Gpg::with_key(ALICE);
    let s = Scene::new();
    let keyring = s.keyring(&gpg, &alice, "alice.gpg");
    let bmap = s.path("test.image.bmap");
    gpg.sign_detached(&[&alice], true, &bmap, &s.path("test.image.bmap.asc"));
    let nginx = crate::harness::nginx::Nginx::start();
    let image = nginx.put("test.image", &std::fs::read(s.path("test.image")).unwrap());
    nginx.put("test.image.bmap", &std::fs::read(&bmap).unwrap());
    nginx.put(
        "test.image.bmap.asc",
        &std::fs::read(s.path("test.image.bmap.asc")).unwrap(),
    );
    let out = s.p("out");
    let run = s.run(&["copy", "--keyring", &keyring, image.as_str(), &out]);
    run.ok();
    assert_eq!(status_lines(&run), [keyring_line(ALICE, &alice, &keyring)]);
    assert!(s.copied_exactly());
}
