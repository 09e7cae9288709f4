//! Signatures that must not pass, each with its exit, its message and its exact status line:
//! a tampered bmap is BAD and nothing is written; a key not in the keyring, a `--fingerprint`
//! of another key, an unsigned bmap when a signature is asked for; expired, revoked and
//! future-dated signatures. `--no-sig-verify` needs no key, and the bmap's own checksum still
//! guards its text.

use super::{ALICE, Gpg, KEYS_MADE, SIGNED, Scene, assert_refused, keyring_line, status_lines};

const BOB: &str = "Bob Other <bob@example.invalid>";

#[test]
fn a_tampered_bmap_is_bad_and_nothing_is_written() {
    let (gpg, alice) = Gpg::with_key(ALICE);
    let s = Scene::new();
    let keyring = s.keyring(&gpg, &alice, "alice.gpg");
    let bmap = s.path("test.image.bmap");
    gpg.sign_detached(&[&alice], true, &bmap, &s.path("test.image.bmap.asc"));
    let text = std::fs::read_to_string(&bmap).unwrap();
    std::fs::write(&bmap, text.replacen("> 198-199 <", "> 197-199 <", 1)).unwrap();

    assert_refused(
        &s.copy(&["--keyring", &keyring]),
        &["does not match its signature by", &alice, "--no-sig-verify"],
        &format!(
            "blockprint: signature: BAD, by {ALICE} (key {alice}): the bmap does not match its signature (discovered a BAD GPG signature)"
        ),
    );
    assert!(!s.path("out").exists());
}

#[test]
fn unknown_keys_wrong_fingerprints_and_unsigned_bmaps() {
    let (gpg, alice) = Gpg::with_key(ALICE);
    let bob = gpg.key(BOB, KEYS_MADE, "never");
    let s = Scene::new();
    let keyring = s.keyring(&gpg, &alice, "alice.gpg");
    let bmap = s.path("test.image.bmap");

    // Signed by Bob, whom the keyring does not hold.
    gpg.sign_detached(&[&bob], true, &bmap, &s.path("bob.asc"));
    assert_refused(
        &s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("bob.asc")]),
        &[
            &format!("is signed by key {bob}"),
            "--keyring FILE",
            "--no-sig-verify",
        ],
        &format!("blockprint: signature: by key {bob}, which is not in the keyring '{keyring}'"),
    );

    // Signed by Alice and Bob: one trusted good signature is enough; both are reported.
    gpg.sign_detached(&[&bob, &alice], true, &bmap, &s.path("both.asc"));
    let run = s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("both.asc")]);
    run.ok();
    let lines = status_lines(&run);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.contains(&keyring_line(ALICE, &alice, &keyring).as_str()));
    assert!(
        lines.contains(
            &format!(
                "blockprint: signature: by key {bob}, which is not in the keyring '{keyring}'"
            )
            .as_str()
        )
    );

    // Good, but --fingerprint asks for Bob (spaced, as gpg prints it).
    let spaced: String = bob
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    gpg.sign_detached(&[&alice], true, &bmap, &s.path("alice.asc"));
    let run = s.copy(&[
        "--keyring",
        &keyring,
        "--bmap-sig",
        &s.p("alice.asc"),
        "--fingerprint",
        &spaced,
    ]);
    assert_refused(
        &run,
        &[&format!("not by the key --fingerprint asks for ({bob})")],
        &format!(
            "blockprint: signature: valid, by {ALICE} (key {alice}), but not by the requested key {bob}"
        ),
    );
    s.copy(&[
        "-q",
        "--keyring",
        &keyring,
        "--bmap-sig",
        &s.p("alice.asc"),
        "--fingerprint",
        &alice,
    ])
    .ok();

    // --fingerprint (or --keyring) with an unsigned bmap is an error; without, unsigned is fine.
    let run = s.copy(&["--fingerprint", &alice]);
    run.fails_with(&["is not signed, but --fingerprint asks for a signature"]);
    let run = s.copy(&[]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        ["blockprint: signature: none, the bmap is not signed"]
    );
    s.run(&["verify-sig", &s.p("test.image.bmap")])
        .fails_with(&["is not signed"]);
}

#[test]
fn expired_revoked_and_future_signatures_are_refused() {
    let gpg = Gpg::new();
    let s = Scene::new();
    let bmap = s.path("test.image.bmap");

    let old = gpg.key("Old Key <old@example.invalid>", "20200101T000000!", "1d");
    let keyring = s.keyring(&gpg, &old, "old.gpg");
    gpg.sign(
        &[&old],
        "--detach-sign",
        true,
        "20200101T120000!",
        &bmap,
        &s.path("old.asc"),
    );
    assert_refused(
        &s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("old.asc")]),
        &[
            "whose key expired on 2020-01-02 00:00:00 UTC",
            "--no-sig-verify",
        ],
        &format!(
            "blockprint: signature: by Old Key <old@example.invalid> (key {old}), whose key expired on 2020-01-02 00:00:00 UTC"
        ),
    );

    let gone = gpg.key("Gone Key <gone@example.invalid>", KEYS_MADE, "never");
    gpg.sign_detached(&[&gone], true, &bmap, &s.path("gone.asc"));
    gpg.revoke(&gone);
    let keyring = s.keyring(&gpg, &gone, "gone.gpg");
    assert_refused(
        &s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("gone.asc")]),
        &["whose key has been revoked by its owner"],
        &format!(
            "blockprint: signature: by Gone Key <gone@example.invalid> (key {gone}), whose key is revoked"
        ),
    );

    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    let keyring = s.keyring(&gpg, &alice, "alice.gpg");
    gpg.sign(
        &[&alice],
        "--detach-sign",
        true,
        "20990101T000000!",
        &bmap,
        &s.path("future.asc"),
    );
    assert_refused(
        &s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("future.asc")]),
        &["in the future; check this computer's clock"],
        &format!(
            "blockprint: signature: by {ALICE} (key {alice}), dated 2099-01-01 00:00:00 UTC, which is in the future"
        ),
    );
    assert!(!s.path("out").exists());
}

#[test]
fn no_sig_verify_needs_no_key_even_for_a_clearsigned_bmap() {
    let (gpg, alice) = Gpg::with_key(ALICE);
    let s = Scene::new();
    let bmap = s.path("test.image.bmap");
    std::fs::rename(&bmap, s.path("plain.bmap")).unwrap();
    gpg.sign(
        &[&alice],
        "--clearsign",
        false,
        SIGNED,
        &s.path("plain.bmap"),
        &bmap,
    );

    // No keys anywhere: checking refuses, --no-sig-verify proceeds.
    s.copy(&[])
        .fails_with(&[&format!("is signed by key {alice}"), "--no-sig-verify"]);
    let run = s.copy(&["--no-sig-verify"]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        ["blockprint: signature: not checked (--no-sig-verify)"]
    );
    assert!(s.copied_exactly());

    // The bmap's own checksum still guards the text.
    let text = std::fs::read_to_string(&bmap).unwrap();
    std::fs::write(&bmap, text.replacen("> 198-199 <", "> 197-199 <", 1)).unwrap();
    s.copy(&["--no-sig-verify"])
        .fails_with(&["checksum mismatch for the bmap file itself"]);
}
