//! OpenPGP signatures of bmaps, made by GnuPG (and by sequoia), checked by `copy` and
//! `verify-sig`: every status, with its exit code and its exact status line.
//!
//! Keys are made with a faked clock (2024, signatures in 2025) so status lines are exact. Each
//! run isolates the user's trusted-keys folder with its own XDG_CONFIG_HOME.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::support::{Run, blockprint_with, require_tool, unpack, vectors};

const LIMIT: Duration = Duration::from_secs(60);
pub const KEYS_MADE: &str = "20240101T000000!";
pub const SIGNED: &str = "20250101T000000!";
const SIGNED_TEXT: &str = "2025-01-01 00:00:00 UTC";

/// A private GnuPG home (under /tmp: the agent's socket path must be short).
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Self {
        require_tool("gpg");
        let home = tempfile::Builder::new().prefix("gpg-").tempdir().unwrap();
        std::fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Self { home }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A signing key made at `when`, valid for `expire` ("never", "1d"); returns its fingerprint.
    pub fn key(&self, uid: &str, when: &str, expire: &str) -> String {
        self.run(&[
            "--faked-system-time",
            when,
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            expire,
        ]);
        let listing = self.run(&["--with-colons", "--list-keys", uid]);
        listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|rest| rest.trim_matches(':').to_owned())
            })
            .expect("fingerprint")
    }

    pub fn export(&self, fpr: &str, armor: bool, to: &Path) {
        let mut args = vec!["--output", to.to_str().unwrap(), "--export"];
        if armor {
            args.insert(0, "--armor");
        }
        args.push(fpr);
        self.run(&args);
    }

    /// The secret key `fpr`, armoured, into `to` (unprotected: the keys here have no
    /// passphrase).
    pub fn export_secret(&self, fpr: &str, to: &Path) {
        self.run(&[
            "--armor",
            "--output",
            to.to_str().unwrap(),
            "--export-secret-keys",
            fpr,
        ]);
    }

    /// `gpg --verify SIGNATURE DATA` with this home's keys: whether gpg calls it good.
    pub fn verifies(&self, signature: &Path, data: &Path) -> bool {
        Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--verify"])
            .args([signature, data])
            .output()
            .expect("run gpg")
            .status
            .success()
    }

    /// Signs `file` at `when` with `signers`: `--clearsign` or `--detach-sign`, armored or not.
    pub fn sign(
        &self,
        signers: &[&str],
        how: &str,
        armor: bool,
        when: &str,
        file: &Path,
        out: &Path,
    ) {
        let mut args = vec!["--faked-system-time", when];
        for signer in signers {
            args.extend(["--local-user", signer]);
        }
        if armor {
            args.push("--armor");
        }
        args.extend([
            how,
            "--output",
            out.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        self.run(&args);
    }

    /// Signs `file` at `when` with `signer`, with more gpg options (`--digest-algo SHA1`).
    pub fn sign_with(
        &self,
        extra: &[&str],
        signer: &str,
        how: &str,
        when: &str,
        file: &Path,
        out: &Path,
    ) {
        let mut args = vec![
            "--faked-system-time",
            when,
            "--local-user",
            signer,
            "--armor",
        ];
        args.extend(extra);
        args.extend([
            how,
            "--output",
            out.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        self.run(&args);
    }

    /// Imports a key file, as `gpg --import` does.
    pub fn import(&self, key: &Path) {
        self.run(&["--import", key.to_str().unwrap()]);
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Revokes a key with the revocation certificate gpg made for it.
    fn revoke(&self, fpr: &str) {
        let stored = self
            .home
            .path()
            .join("openpgp-revocs.d")
            .join(format!("{fpr}.rev"));
        let text = std::fs::read_to_string(stored)
            .unwrap()
            .replace(":-----BEGIN", "-----BEGIN");
        let cert = self.home.path().join("revocation.asc");
        std::fs::write(&cert, text).unwrap();
        self.run(&["--import", cert.to_str().unwrap()]);
    }

    fn keybox(&self) -> PathBuf {
        self.home.path().join("pubring.kbx")
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// A work directory with the upstream image and its 2.0 bmap as `test.image.bmap`.
pub struct Scene {
    dir: tempfile::TempDir,
    config: tempfile::TempDir,
}

impl Scene {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        unpack("test.image.gz", dir.path(), "test.image");
        std::fs::copy(
            vectors().join("test.image.bmap.v2.0"),
            dir.path().join("test.image.bmap"),
        )
        .unwrap();
        Self {
            dir,
            config: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Runs blockprint with this scene's own (empty unless filled) trusted-keys folder, and
    /// no GnuPG keyring.
    pub fn run(&self, args: &[&str]) -> Run {
        let config = self.config.path().to_str().unwrap().to_owned();
        let gnupg = self.config.path().join("no-gnupg");
        let env = [
            ("XDG_CONFIG_HOME", config.as_str()),
            ("GNUPGHOME", gnupg.to_str().unwrap()),
        ];
        blockprint_with(args, &env, None, LIMIT)
    }

    pub fn copy(&self, extra: &[&str]) -> Run {
        let (image, out) = (self.p("test.image"), self.p("out"));
        let mut args = vec!["copy"];
        args.extend(extra);
        args.extend([image.as_str(), out.as_str()]);
        self.run(&args)
    }

    pub fn copied_exactly(&self) -> bool {
        std::fs::read(self.path("out")).ok() == std::fs::read(self.path("test.image")).ok()
    }

    pub fn trusted_keys(&self) -> PathBuf {
        let folder = self.config.path().join("blockprint").join("trusted-keys");
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }
}

pub fn status_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("blockprint: signature:"))
        .collect()
}

fn valid_line(uid: &str, fpr: &str, source: &str) -> String {
    format!(
        "blockprint: signature: valid, by {uid} (key {fpr}), made {SIGNED_TEXT}; trusted through {source} (successfully verified bmap file signature)"
    )
}

const ALICE: &str = "Alice Signer <alice@example.invalid>";
const BOB: &str = "Bob Other <bob@example.invalid>";

#[test]
fn clearsigned_and_detached_bmaps_verify_with_keyrings_exported_by_gpg() {
    let gpg = Gpg::new();
    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    let s = Scene::new();
    gpg.export(&alice, true, &s.path("alice.asc"));
    gpg.export(&alice, false, &s.path("alice.gpg"));
    let bmap = s.path("test.image.bmap");

    // Detached, armored, found next to the bmap as BMAP.asc; an armored keyring.
    gpg.sign(
        &[&alice],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("test.image.bmap.asc"),
    );
    let run = s.copy(&["--keyring", &s.p("alice.asc")]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        [valid_line(
            ALICE,
            &alice,
            &format!("keyring '{}'", s.p("alice.asc"))
        )]
    );
    assert!(s.copied_exactly());

    // Detached, binary, as BMAP.sig; a binary keyring; and GnuPG's own keybox.
    std::fs::remove_file(s.path("test.image.bmap.asc")).unwrap();
    gpg.sign(
        &[&alice],
        "--detach-sign",
        false,
        SIGNED,
        &bmap,
        &s.path("test.image.bmap.sig"),
    );
    for keyring in [s.p("alice.gpg"), gpg.keybox().display().to_string()] {
        let run = s.copy(&["--keyring", &keyring]);
        run.ok();
        assert_eq!(
            status_lines(&run),
            [valid_line(ALICE, &alice, &format!("keyring '{keyring}'"))]
        );
    }

    // Clearsigned: the bmap that is parsed is the cleartext sequoia verified.
    std::fs::remove_file(s.path("test.image.bmap.sig")).unwrap();
    let plain = s.path("plain.bmap");
    std::fs::rename(&bmap, &plain).unwrap();
    gpg.sign(&[&alice], "--clearsign", false, SIGNED, &plain, &bmap);
    let run = s.copy(&["--keyring", &s.p("alice.gpg")]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        [valid_line(
            ALICE,
            &alice,
            &format!("keyring '{}'", s.p("alice.gpg"))
        )]
    );
    assert!(s.copied_exactly());

    // verify-sig says the same, without a target.
    let run = s.run(&[
        "verify-sig",
        "--keyring",
        &s.p("alice.gpg"),
        &s.p("test.image.bmap"),
    ]);
    run.ok();
    assert_eq!(status_lines(&run).len(), 1);
}

#[test]
fn a_tampered_bmap_is_bad_and_nothing_is_written() {
    let gpg = Gpg::new();
    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    let s = Scene::new();
    gpg.export(&alice, false, &s.path("alice.gpg"));
    let bmap = s.path("test.image.bmap");
    gpg.sign(
        &[&alice],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("test.image.bmap.asc"),
    );
    let text = std::fs::read_to_string(&bmap).unwrap();
    std::fs::write(&bmap, text.replacen("> 198-199 <", "> 197-199 <", 1)).unwrap();

    let run = s.copy(&["--keyring", &s.p("alice.gpg")]);
    run.fails_with(&["does not match its signature by", &alice, "--no-sig-verify"]);
    assert_eq!(
        status_lines(&run),
        [format!(
            "blockprint: signature: BAD, by {ALICE} (key {alice}): the bmap does not match its signature (discovered a BAD GPG signature)"
        )]
    );
    assert!(!s.path("out").exists());
}

#[test]
fn unknown_keys_wrong_fingerprints_and_unsigned_bmaps() {
    let gpg = Gpg::new();
    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    let bob = gpg.key(BOB, KEYS_MADE, "never");
    let s = Scene::new();
    gpg.export(&alice, false, &s.path("alice.gpg"));
    let bmap = s.path("test.image.bmap");
    let keyring = s.p("alice.gpg");

    // Signed by Bob, whom the keyring does not hold.
    gpg.sign(
        &[&bob],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("bob.asc"),
    );
    let run = s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("bob.asc")]);
    run.fails_with(&[
        &format!("is signed by key {bob}"),
        "--keyring FILE",
        "--no-sig-verify",
    ]);
    assert_eq!(
        status_lines(&run),
        [format!(
            "blockprint: signature: by key {bob}, which is not in the keyring '{keyring}'"
        )]
    );

    // Signed by Alice and Bob: one trusted good signature is enough; both are reported.
    gpg.sign(
        &[&bob, &alice],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("both.asc"),
    );
    let run = s.copy(&["--keyring", &keyring, "--bmap-sig", &s.p("both.asc")]);
    run.ok();
    let lines = status_lines(&run);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.contains(&valid_line(ALICE, &alice, &format!("keyring '{keyring}'")).as_str()));
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
    gpg.sign(
        &[&alice],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("alice.asc"),
    );
    let run = s.copy(&[
        "--keyring",
        &keyring,
        "--bmap-sig",
        &s.p("alice.asc"),
        "--fingerprint",
        &spaced,
    ]);
    run.fails_with(&[&format!("not by the key --fingerprint asks for ({bob})")]);
    assert_eq!(
        status_lines(&run),
        [format!(
            "blockprint: signature: valid, by {ALICE} (key {alice}), but not by the requested key {bob}"
        )]
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
    gpg.export(&old, false, &s.path("old.gpg"));
    gpg.sign(
        &[&old],
        "--detach-sign",
        true,
        "20200101T120000!",
        &bmap,
        &s.path("old.asc"),
    );
    let run = s.copy(&["--keyring", &s.p("old.gpg"), "--bmap-sig", &s.p("old.asc")]);
    run.fails_with(&[
        "whose key expired on 2020-01-02 00:00:00 UTC",
        "--no-sig-verify",
    ]);
    assert_eq!(
        status_lines(&run),
        [format!(
            "blockprint: signature: by Old Key <old@example.invalid> (key {old}), whose key expired on 2020-01-02 00:00:00 UTC"
        )]
    );

    let gone = gpg.key("Gone Key <gone@example.invalid>", KEYS_MADE, "never");
    gpg.sign(
        &[&gone],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("gone.asc"),
    );
    gpg.revoke(&gone);
    gpg.export(&gone, false, &s.path("gone.gpg"));
    let run = s.copy(&[
        "--keyring",
        &s.p("gone.gpg"),
        "--bmap-sig",
        &s.p("gone.asc"),
    ]);
    run.fails_with(&["whose key has been revoked by its owner"]);
    assert_eq!(
        status_lines(&run),
        [format!(
            "blockprint: signature: by Gone Key <gone@example.invalid> (key {gone}), whose key is revoked"
        )]
    );

    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    gpg.export(&alice, false, &s.path("alice.gpg"));
    gpg.sign(
        &[&alice],
        "--detach-sign",
        true,
        "20990101T000000!",
        &bmap,
        &s.path("future.asc"),
    );
    let run = s.copy(&[
        "--keyring",
        &s.p("alice.gpg"),
        "--bmap-sig",
        &s.p("future.asc"),
    ]);
    run.fails_with(&["in the future; check this computer's clock"]);
    assert_eq!(
        status_lines(&run),
        [format!(
            "blockprint: signature: by {ALICE} (key {alice}), dated 2099-01-01 00:00:00 UTC, which is in the future"
        )]
    );
    assert!(!s.path("out").exists());
}

#[test]
fn no_sig_verify_needs_no_key_even_for_a_clearsigned_bmap() {
    let gpg = Gpg::new();
    let alice = gpg.key(ALICE, KEYS_MADE, "never");
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

#[test]
fn the_trusted_keys_folder_is_used_without_a_keyring() {
    let gpg = Gpg::new();
    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    let s = Scene::new();
    let key = s.trusted_keys().join("alice.asc");
    gpg.export(&alice, true, &key);
    gpg.sign(
        &[&alice],
        "--detach-sign",
        false,
        SIGNED,
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

#[test]
fn keys_and_signatures_made_by_sequoia() {
    use sequoia_openpgp::cert::CertBuilder;
    use sequoia_openpgp::policy::StandardPolicy;
    use sequoia_openpgp::serialize::SerializeInto;
    use sequoia_openpgp::serialize::stream::{Armorer, Message, Signer};
    use std::io::Write;

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
    let mut signature = Vec::new();
    {
        let message = Armorer::new(Message::new(&mut signature))
            .kind(sequoia_openpgp::armor::Kind::Signature)
            .build()
            .unwrap();
        let mut signer = Signer::new(message, keypair)
            .unwrap()
            .detached()
            .build()
            .unwrap();
        signer
            .write_all(&std::fs::read(s.path("test.image.bmap")).unwrap())
            .unwrap();
        signer.finalize().unwrap();
    }
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
    let gpg = Gpg::new();
    let alice = gpg.key(ALICE, KEYS_MADE, "never");
    let s = Scene::new();
    gpg.export(&alice, false, &s.path("alice.gpg"));
    let bmap = s.path("test.image.bmap");
    gpg.sign(
        &[&alice],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &s.path("test.image.bmap.asc"),
    );
    let nginx = crate::harness::nginx::Nginx::start();
    let image = nginx.put("test.image", &std::fs::read(s.path("test.image")).unwrap());
    nginx.put("test.image.bmap", &std::fs::read(&bmap).unwrap());
    nginx.put(
        "test.image.bmap.asc",
        &std::fs::read(s.path("test.image.bmap.asc")).unwrap(),
    );
    let out = s.p("out");
    let run = s.run(&["copy", "--keyring", &s.p("alice.gpg"), image.as_str(), &out]);
    run.ok();
    assert_eq!(
        status_lines(&run),
        [valid_line(
            ALICE,
            &alice,
            &format!("keyring '{}'", s.p("alice.gpg"))
        )]
    );
    assert!(s.copied_exactly());
}

/// The GUI's "Trust this key…": of a keyring file with two keys, only the one that made the
/// unknown signature lands in the trusted-keys folder, and then the signature is valid.
#[test]
fn trusting_an_unknown_key_copies_only_that_certificate() {
    use blockprint::signature::{Keyring, SignatureCheck, trust_key, verify_clearsigned};
    let gpg = Gpg::new();
    let signer = gpg.key("Signer <signer@example.org>", KEYS_MADE, "never");
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
