//! A catalog entry's signature of its download (`asc_url`): checked as the download passes,
//! with the trusted keys. By a trusted key and matching, the image is written; the download
//! changed on the server, the copy fails when the data ends and no file appears; by a key not
//! trusted, it is said and the download is not held to it; a signature that is not there
//! refuses the entry before anything is downloaded.

use std::path::Path;

use crate::harness::nginx::Nginx;
use crate::harness::support::{Run, blockprint_with, random_bytes};
use crate::signatures::{Gpg, KEYS_MADE, SIGNED};

#[test]
fn a_download_is_checked_against_the_signature_its_catalog_names() {
    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(41, 3 << 20);
    let image = dir.path().join("armbian.img");
    std::fs::write(&image, &content).unwrap();
    server.put("armbian.img", &content);
    let gpg = Gpg::new();
    let signer = gpg.key("Armbian Builds <builds@example.org>", KEYS_MADE, "never");
    let asc = dir.path().join("armbian.img.asc");
    gpg.sign(&[&signer], "--detach-sign", true, SIGNED, &image, &asc);
    server.put("armbian.img.asc", &std::fs::read(&asc).unwrap());
    let list = r#"{"os_list": [
      {"name": "Armbian", "description": "", "url": "armbian.img", "asc_url": "armbian.img.asc"},
      {"name": "Gone", "description": "", "url": "armbian.img", "asc_url": "gone.asc"}]}"#;
    server.put("os_list.json", list.as_bytes());
    let catalog = server.url("os_list.json").to_string();
    let config = tempfile::tempdir().unwrap();
    let keys = config.path().join("blockprint/trusted-keys");
    std::fs::create_dir_all(&keys).unwrap();
    gpg.export(&signer, true, &keys.join("armbian.asc"));
    let untrusting = tempfile::tempdir().unwrap();
    let copy = |config: &Path, id: &str, dest: &Path| -> Run {
        let cache = tempfile::tempdir().unwrap();
        blockprint_with(
            ["copy", "--catalog", &catalog, id, dest.to_str().unwrap()],
            &[
                ("XDG_CONFIG_HOME", config.to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                ("GNUPGHOME", config.join("no-gnupg").to_str().unwrap()),
            ],
            None,
            std::time::Duration::from_secs(60),
        )
    };

    let dest = dir.path().join("written.img");
    let said = copy(config.path(), "catalog:armbian", &dest)
        .ok()
        .to_owned();
    assert!(
        said.contains("the download is checked against its signature")
            && said.contains("the image checked whole as published"),
        "{said}"
    );
    assert!(std::fs::read(&dest).unwrap() == content);

    let dest = dir.path().join("untrusted.img");
    let said = copy(untrusting.path(), "catalog:armbian", &dest)
        .ok()
        .to_owned();
    assert!(said.contains("which you do not trust"), "{said}");

    // Changed on the server after it was signed: the end of the data fails the copy.
    server.put("armbian.img", &random_bytes(42, 3 << 20));
    let dest = dir.path().join("changed.img");
    copy(config.path(), "catalog:armbian", &dest).fails_with(&[
        "does not match its signature",
        "armbian.img.asc",
        "changed on the server",
    ]);
    assert!(!dest.exists(), "a failed copy left its destination");

    let dest = dir.path().join("gone.img");
    copy(config.path(), "catalog:gone", &dest).fails_with(&["gone.asc", "is not on its server"]);
    assert!(!dest.exists());
}
