//! Signed bmaps before signature checking exists: never silently ignored, never needing gpg
//! with --no-sig-verify (bmaptool needs gpg even then). Signatures are made by the real gpg.

use std::path::Path;
use std::process::Command;

use crate::support::{blockprint, require_tool, scratch, unpack, vectors};

/// Signs `file` with a throw-away key in a private GnuPG home; `how` is `--clearsign` or
/// `--detach-sign`. Returns the signature's path.
fn gpg_sign(home: &Path, file: &Path, how: &str, out: &Path) {
    require_tool("gpg");
    let gpg = |args: &[&str]| {
        let status = Command::new("gpg")
            .arg("--homedir")
            .arg(home)
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .status()
            .expect("run gpg");
        assert!(status.success(), "gpg {args:?} failed");
    };
    if !home.join("pubring.kbx").exists() {
        std::fs::create_dir_all(home).unwrap();
        std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        gpg(&[
            "--quick-gen-key",
            "Blockprint Test <test@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
    }
    gpg(&[
        "--yes",
        "--armor",
        how,
        "--output",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
}

#[test]
fn clearsigned_bmap_is_refused_unless_no_sig_verify() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let signed = dir.path().join("test.image.bmap");
    gpg_sign(
        &dir.path().join("gnupg"),
        &vectors().join("test.image.bmap.v2.0"),
        "--clearsign",
        &signed,
    );
    let out = dir.path().join("out");
    let (img, o) = (image.to_str().unwrap(), out.to_str().unwrap());
    blockprint(["copy", img, o])
        .fails_with(&["test.image.bmap' is clearsigned", "--no-sig-verify"]);
    assert!(!out.exists());

    // Without any key or gpg involvement, and still verifying every range.
    let stderr = blockprint(["copy", "--no-sig-verify", img, o])
        .ok()
        .to_owned();
    assert!(stderr.contains("48 of 48 ranges verified"), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&image).unwrap());
    blockprint(["-q", "verify", "--bmap", signed.to_str().unwrap(), o]).ok();

    // The bmap's own checksum still guards the signed text.
    let text = std::fs::read_to_string(&signed).unwrap();
    std::fs::write(&signed, text.replacen("> 198-199 <", "> 197-199 <", 1)).unwrap();
    blockprint(["copy", "--no-sig-verify", img, o])
        .fails_with(&["checksum mismatch for the bmap file itself"]);
}

#[test]
fn a_detached_signature_next_to_the_bmap_is_not_ignored() {
    let dir = scratch();
    let image = unpack("test.image.gz", dir.path(), "test.image");
    let bmap = dir.path().join("test.image.bmap");
    std::fs::copy(vectors().join("test.image.bmap.v2.0"), &bmap).unwrap();
    let sig = dir.path().join("test.image.bmap.asc");
    gpg_sign(&dir.path().join("gnupg"), &bmap, "--detach-sign", &sig);
    let out = dir.path().join("out");
    let (img, o) = (image.to_str().unwrap(), out.to_str().unwrap());
    blockprint(["copy", img, o]).fails_with(&[
        "has a signature",
        "test.image.bmap.asc",
        "--no-sig-verify",
    ]);
    assert!(!out.exists());
    blockprint(["-q", "copy", "--no-sig-verify", img, o]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&image).unwrap());
}
