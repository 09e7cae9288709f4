//! The signature policy fails closed: each case a security review found, run through the
//! real binary with keys and signatures made by gpg (and by sequoia where gpg cannot).

use crate::signatures::{Gpg, SIGNED, Scene, sequoia_detached, status_lines};

const VENDOR: &str = "Vendor Images <images@vendor.invalid>";

/// `text` as a clearsigned message whose signature block holds `armored` (the body of the
/// armor, without headers).
fn clearsigned_with(text: &str, armored: &str) -> String {
    let escaped: String = text
        .lines()
        .map(|l| {
            if l.starts_with('-') {
                format!("- {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{escaped}\
         -----BEGIN PGP SIGNATURE-----\n\n{armored}-----END PGP SIGNATURE-----\n"
    )
}

/// F1: a clearsigned bmap whose signature block holds no signature, or only a Marker packet,
/// is refused with `--keyring` and `--fingerprint`, and without them; nothing is written.
#[test]
fn a_signature_block_without_a_signature_is_refused() {
    let (gpg, fpr) = Gpg::with_key(VENDOR);
    let s = Scene::new();
    let keyring = s.keyring(&gpg, &fpr, "vendor.gpg");
    let text = std::fs::read_to_string(s.path("test.image.bmap")).unwrap();
    // An empty armor body (its CRC-24 is =twTO), and a Marker packet (a8 03 "PGP").
    for (what, body) in [("empty", "=twTO\n"), ("marker", "qANQR1A=\n")] {
        std::fs::write(s.path("evil.bmap"), clearsigned_with(&text, body)).unwrap();
        let pinned = s.copy(&[
            "--bmap",
            &s.p("evil.bmap"),
            "--keyring",
            &keyring,
            "--fingerprint",
            &fpr,
        ]);
        pinned.fails_with(&["holds no signature"]);
        assert!(
            !s.path("out").exists(),
            "{what}: written with --fingerprint"
        );
        s.copy(&["--bmap", &s.p("evil.bmap")])
            .fails_with(&["holds no signature"]);
        assert!(
            !s.path("out").exists(),
            "{what}: written with the default trust"
        );
        s.run(&["verify-sig", &s.p("evil.bmap")])
            .fails_with(&["holds no signature"]);
    }
}

/// F6: an unsigned bmap is a warning once the user trusts signing keys, and a refusal with
/// --require-signature; signatures stay optional otherwise.
#[test]
fn unsigned_bmaps_warn_when_keys_are_trusted_and_can_be_refused() {
    let (gpg, fpr) = Gpg::with_key(VENDOR);
    let s = Scene::new();
    let run = s.copy(&["--require-signature"]);
    run.fails_with(&["is not signed, but --require-signature asks for a signature"]);
    assert!(!s.path("out").exists());
    let run = s.copy(&[]);
    assert!(
        run.ok().contains("signature: none, the bmap is not signed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);

    gpg.export(&fpr, true, &s.trusted_keys().join("vendor.asc"));
    std::fs::remove_file(s.path("out")).unwrap();
    let run = s.copy(&[]);
    let stderr = run.ok();
    assert!(
        stderr.contains("warning: the bmap '")
            && stderr.contains("is not signed, though you trust signing keys"),
        "{stderr}"
    );
    assert!(s.copied_exactly());
    std::fs::remove_file(s.path("out")).unwrap();
    s.copy(&["--require-signature"])
        .fails_with(&["is not signed"]);
    assert!(!s.path("out").exists());
    // --nobmap cannot meet --require-signature: a conflict, as bmaptool's are (exit 1).
    let run = s.copy(&["--require-signature", "--nobmap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// F10: a file that holds no key in a trusted-keys folder (a README) is left out with a
/// warning; it neither breaks unsigned copies nor the keys beside it.
#[test]
fn a_stray_file_among_trusted_keys_breaks_nothing() {
    let (gpg, fpr) = Gpg::with_key(VENDOR);
    let s = Scene::new();
    let folder = s.trusted_keys();
    std::fs::write(folder.join("README.txt"), "notes\n").unwrap();
    s.copy(&[]).ok();
    assert!(s.copied_exactly());
    std::fs::remove_file(s.path("out")).unwrap();

    gpg.export(&fpr, true, &folder.join("vendor.asc"));
    let bmap = s.path("test.image.bmap");
    gpg.sign_detached(&[&fpr], true, &bmap, &s.path("test.image.bmap.asc"));
    let run = s.copy(&[]);
    let stderr = run.ok();
    assert!(
        stderr.contains("README.txt' holds no OpenPGP certificates"),
        "{stderr}"
    );
    assert!(stderr.contains("it is left out"), "{stderr}");
    assert!(
        status_lines(&run)[0].contains("valid, by Vendor Images"),
        "{stderr}"
    );
    assert!(s.copied_exactly());
}

/// F13: a SHA-1 signature is refused as weak (not as "changed after signing"), and an
/// expired signature as expired (not its key).
#[test]
fn weak_and_expired_signatures_are_named_as_such() {
    let (gpg, fpr) = Gpg::with_key(VENDOR);
    let s = Scene::new();
    let keyring = s.keyring(&gpg, &fpr, "vendor.gpg");
    let bmap = s.path("test.image.bmap");

    gpg.sign_with(
        &["--digest-algo", "SHA1"],
        &fpr,
        "--clearsign",
        SIGNED,
        &bmap,
        &s.path("sha1.bmap"),
    );
    let run = s.run(&["verify-sig", "--keyring", &keyring, &s.p("sha1.bmap")]);
    let line = run.fails_with(&["made with an algorithm no longer accepted", "SHA1"]);
    assert!(!line.contains("changed after it was signed"), "{line}");
    assert!(!run.stderr.contains("BAD"), "{}", run.stderr);

    // Made in 2025, valid for a day.
    gpg.sign_with(
        &["--default-sig-expire", "1d"],
        &fpr,
        "--detach-sign",
        SIGNED,
        &bmap,
        &s.path("old.asc"),
    );
    let run = s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("old.asc")]);
    let line = run.fails_with(&["has a signature by", "that expired on 2025-01-02"]);
    assert!(!line.contains("whose key expired"), "{line}");
    assert!(!s.path("out").exists());
}

/// F13: a signature made with a key that is not marked for signing is refused as such, not
/// as an expired key.
#[test]
fn a_key_not_meant_for_signing_is_named() {
    use sequoia_openpgp::cert::CertBuilder;
    use sequoia_openpgp::serialize::SerializeInto;
    use sequoia_openpgp::types::KeyFlags;

    // A certificate whose only key may certify, not sign.
    let (cert, _) = CertBuilder::new()
        .add_userid("Certifier <cert@example.invalid>")
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .generate()
        .unwrap();
    let s = Scene::new();
    std::fs::write(s.path("cert.asc"), cert.armored().to_vec().unwrap()).unwrap();
    let keypair = cert
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap();
    let bmap = std::fs::read(s.path("test.image.bmap")).unwrap();
    let signature = sequoia_detached(keypair, false, &bmap);
    std::fs::write(s.path("test.image.bmap.sig"), signature).unwrap();
    let run = s.copy(&["--keyring", &s.p("cert.asc")]);
    let line = run.fails_with(&["not marked for signing"]);
    assert!(!line.contains("expired"), "{line}");
    assert!(!s.path("out").exists());
}
