//! OpenPGP signatures of bmaps, made by GnuPG (and by sequoia), checked by `copy` and
//! `verify-sig`: every status, with its exit code and its exact status line.
//!
//! Keys are made with a faked clock (2024, signatures in 2025) so status lines are exact. Each
//! run isolates the user's trusted-keys folder with its own XDG_CONFIG_HOME.
//!
//! The tests are in the children below; the GnuPG home, the scene and the status lines they
//! share (and other modules' tests use: `Gpg`, `KEYS_MADE`, `SIGNED`, `Scene`,
//! `sequoia_detached`) are here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sequoia_openpgp::crypto::KeyPair;
use sequoia_openpgp::serialize::stream::{Armorer, Message, Signer};

use crate::harness::support::{Run, blockprint_with, require_tool, unpack, vectors};

/// Signatures that must not pass: tampered, unknown or unasked-for keys, unsigned when a
/// signature is asked for, expired, revoked, future; `--no-sig-verify`.
mod refused;
/// Where trust comes from: the trusted-keys folder, and "Trust this key…".
mod trust;
/// Signatures that verify: every form gpg makes, every keyring, sequoia's, a remote bmap's.
mod verified;

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

    /// A new home with one signing key for `uid` (from `KEYS_MADE`, no expiry); its fingerprint.
    pub fn with_key(uid: &str) -> (Self, String) {
        let gpg = Self::new();
        let fpr = gpg.key(uid, KEYS_MADE, "never");
        (gpg, fpr)
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

    /// Signs `file` at `SIGNED` with `signers`: a detached signature, armored or not, into `out`.
    pub fn sign_detached(&self, signers: &[&str], armor: bool, file: &Path, out: &Path) {
        self.sign(signers, "--detach-sign", armor, SIGNED, file, out);
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

    /// Exports `fpr` from `gpg` into this scene as the binary keyring `name`; returns its path.
    pub fn keyring(&self, gpg: &Gpg, fpr: &str, name: &str) -> String {
        gpg.export(fpr, false, &self.path(name));
        self.p(name)
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

/// The `valid` status line of a signature by `uid` trusted through the keyring file `keyring`.
fn keyring_line(uid: &str, fpr: &str, keyring: &str) -> String {
    valid_line(uid, fpr, &format!("keyring '{keyring}'"))
}

/// Asserts `run` failed with one error line holding all `needles`, and only the status `status`.
#[track_caller]
fn assert_refused(run: &Run, needles: &[&str], status: &str) {
    run.fails_with(needles);
    assert_eq!(status_lines(run), [status]);
}

/// A detached signature of `data` made by sequoia with `keypair`, armored or binary.
pub fn sequoia_detached(keypair: KeyPair, armor: bool, data: &[u8]) -> Vec<u8> {
    let mut signature = Vec::new();
    let mut message = Message::new(&mut signature);
    if armor {
        message = Armorer::new(message)
            .kind(sequoia_openpgp::armor::Kind::Signature)
            .build()
            .unwrap();
    }
    let mut signer = Signer::new(message, keypair)
        .unwrap()
        .detached()
        .build()
        .unwrap();
    signer.write_all(data).unwrap();
    signer.finalize().unwrap();
    signature
}

const ALICE: &str = "Alice Signer <alice@example.invalid>";
