//! An image fetched by URL beside a signed checksum file, Debian's detached-signed
//! `SHA256SUMS` or Fedora's clearsigned `…-CHECKSUM`: signed by a trusted key, the image is
//! said to be official and checked against it; signed by a key not trusted, that is said and
//! the image written as any URL is; an image changed on the server is refused with nothing
//! left, and a checksum file changed after signing is refused before anything is written.

use std::path::Path;

use crate::harness::nginx::Nginx;
use crate::harness::support::{Run, random_bytes};

use super::{cli_with_keys, sha256, trusting_config};

/// `blockprint copy --nobmap URL DEST` trusting the keys of `config`, with a cache of its own.
fn copy_trusting(url: &str, config: &Path, dest: &Path) -> Run {
    let cache = tempfile::tempdir().unwrap();
    cli_with_keys(
        &["copy", "--nobmap", url, dest.to_str().unwrap()],
        config,
        cache.path(),
    )
}

#[test]
fn an_image_beside_a_signed_sha256sums_is_checked_against_it() {
    use crate::signatures::Gpg;

    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(21, 3 << 20);
    let url = server.put("debian.iso", &content).to_string();
    let sums = format!(
        "{}  other.iso\n{}  debian.iso\n",
        "1".repeat(64),
        sha256(&content)
    );
    let sums_file = dir.path().join("SHA256SUMS");
    std::fs::write(&sums_file, &sums).unwrap();
    server.put("SHA256SUMS", sums.as_bytes());
    let (gpg, signer) = Gpg::with_key("Debian CD signing key <debian-cd@lists.debian.org>");
    let signature = dir.path().join("SHA256SUMS.sign");
    gpg.sign_detached(&[&signer], false, &sums_file, &signature);
    server.put("SHA256SUMS.sign", &std::fs::read(&signature).unwrap());
    // The publisher's key in the user's trusted keys; no GnuPG keyring; a cache per run.
    let config = trusting_config(&gpg, &signer, "debian-cd.asc");
    let untrusting = tempfile::tempdir().unwrap();
    let copy = |config: &Path, dest: &Path| copy_trusting(&url, config, dest);

    let dest = dir.path().join("written.iso");
    let said = copy(config.path(), &dest).ok().to_owned();
    assert!(
        said.contains(&format!(
            "official image: its SHA-256 is in '{}', signed by Debian CD signing key \
             <debian-cd@lists.debian.org>",
            server.url("SHA256SUMS")
        )),
        "{said}"
    );
    assert!(std::fs::read(&dest).unwrap() == content);

    // Signed by a key the user does not trust: said, and the image written as any URL is.
    let dest = dir.path().join("untrusted.iso");
    let said = copy(untrusting.path(), &dest).ok().to_owned();
    assert!(said.contains("which you do not trust"), "{said}");
    assert!(!said.contains("official image"), "{said}");

    // The image changed on the server: its SHA-256 is not the signed one; nothing is left.
    server.put("debian.iso", &random_bytes(22, 3 << 20));
    let dest = dir.path().join("changed.iso");
    copy(config.path(), &dest).fails_with(&[
        &url,
        "was published for it",
        "damaged or was changed",
    ]);
    assert!(!dest.exists());

    // The checksum file changed after it was signed: refused before anything is written.
    server.put("debian.iso", &content);
    server.put(
        "SHA256SUMS",
        format!("{sums}{}  evil.iso\n", "2".repeat(64)).as_bytes(),
    );
    copy(config.path(), &dest).fails_with(&[
        "is not validly signed: a bad signature by Debian CD signing key",
        "nothing was written",
    ]);
    assert!(!dest.exists());
}

/// Fedora's way: the image's folder lists a clearsigned `…-CHECKSUM` with `SHA256 (NAME) =`
/// lines; signed by a trusted key, the image is official and checked against it.
#[test]
fn an_image_beside_a_clearsigned_fedora_checksum_is_checked_against_it() {
    use crate::signatures::{Gpg, SIGNED};

    let server = Nginx::start();
    std::fs::create_dir_all(server.root().join("41")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(23, 2 << 20);
    let iso = "Fedora-Workstation-Live-x86_64-41-1.4.iso";
    let url = server.put(&format!("41/{iso}"), &content).to_string();
    let checksum = "Fedora-Workstation-41-1.4-x86_64-CHECKSUM";
    let plain = dir.path().join("CHECKSUM");
    std::fs::write(
        &plain,
        format!(
            "# {iso}: 2097152 bytes\nSHA256 ({iso}) = {}\n",
            sha256(&content)
        ),
    )
    .unwrap();
    let (gpg, signer) = Gpg::with_key("Fedora (41) <fedora-41-primary@fedoraproject.org>");
    let signed = dir.path().join("CHECKSUM.signed");
    gpg.sign(&[&signer], "--clearsign", true, SIGNED, &plain, &signed);
    server.put(&format!("41/{checksum}"), &std::fs::read(&signed).unwrap());
    server.put(
        "41/index.html",
        format!(
            r#"<a href="../">../</a><a href="{checksum}">{checksum}</a><a href="{iso}">{iso}</a>"#
        )
        .as_bytes(),
    );
    let config = trusting_config(&gpg, &signer, "fedora-41.asc");
    let copy = |dest: &Path| copy_trusting(&url, config.path(), dest);
    let dest = dir.path().join("written.iso");
    let said = copy(&dest).ok().to_owned();
    assert!(
        said.contains(&format!(
            "official image: its SHA-256 is in '{}', signed by Fedora (41)",
            server.url(&format!("41/{checksum}"))
        )),
        "{said}"
    );
    assert!(std::fs::read(&dest).unwrap() == content);
    // The image changed on the server: refused, nothing left.
    server.put(&format!("41/{iso}"), &random_bytes(24, 2 << 20));
    let dest = dir.path().join("changed.iso");
    copy(&dest).fails_with(&["was published for it", "damaged or was changed"]);
    assert!(!dest.exists());
}
