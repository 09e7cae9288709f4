//! `blockprint copy catalog:ID`: an entry written byte for byte, checked against the catalog's
//! SHA-256s of its download and its image, with the catalog's bmap; the download kept once in
//! the cache and the next card written from it (`cache list`, `cache clear`). One whose
//! download or image does not match is refused before the image is final: no file is left,
//! and a card's first MiB is zero (that part needs root and a loop device).

use std::path::Path;

use crate::harness::nginx::Nginx;
use crate::harness::support::{LoopDevice, random_bytes, read_at, require_root, sh, sparse_image};

use super::{cli, printed, sha256};

const MIB: u64 = 1 << 20;

#[test]
fn a_catalog_entry_is_written_checked_against_its_sha256s_or_not_at_all() {
    let cache = tempfile::tempdir().unwrap();
    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let (image, bmap, content) = sparse_image(dir.path(), 5 * MIB);
    sh("xz", &["-k", "-T1", "-0", image.to_str().unwrap()]);
    let packed = std::fs::read(image.with_extension("img.xz")).unwrap();
    server.put("pi.img.xz", &packed);
    server.put("pi.bmap", &std::fs::read(&bmap).unwrap());
    let entry = |extract: &str, download: &str| {
        format!(
            r#"{{"os_list": [{{"name": "Pi OS", "description": "", "url": "pi.img.xz",
                "bmap_url": "pi.bmap", "extract_size": {size}, "extract_sha256": "{extract}",
                "image_download_size": {packed}, "image_download_sha256": "{download}",
                "release_date": "2026-11-19"}}]}}"#,
            size = content.len(),
            packed = packed.len(),
        )
    };
    let good = (sha256(&content), sha256(&packed));
    let wrong = "0".repeat(64);
    for (name, (extract, download), wanted) in [
        ("good.json", (good.0.as_str(), good.1.as_str()), None),
        (
            "extract.json",
            (wrong.as_str(), good.1.as_str()),
            Some("image '"),
        ),
        (
            "download.json",
            (good.0.as_str(), wrong.as_str()),
            Some("the download of '"),
        ),
    ] {
        server.put(name, entry(extract, download).as_bytes());
        let catalog = server.url(name).to_string();
        let dest = dir.path().join(format!("{name}.img"));
        let run = cli(
            &[
                "copy",
                "--catalog",
                &catalog,
                "catalog:pi-os",
                dest.to_str().unwrap(),
            ],
            cache.path(),
        );
        match wanted {
            None => {
                let said = run.ok();
                assert!(
                    said.contains(
                        "catalog entry 'pi-os': Pi OS (2026-11-19), checked against the \
                                   download's and the image's SHA-256"
                    ),
                    "{said}"
                );
                assert!(
                    said.contains("pi.bmap"),
                    "the catalog's bmap is used: {said}"
                );
                assert!(
                    std::fs::read(&dest).unwrap() == content,
                    "the written image differs"
                );
            }
            Some(what) => {
                // Found when the data ends, before the image is final: no file appears.
                let line = run.fails_with(&[what, &wrong, "damaged or was changed on the server"]);
                assert!(!dest.exists(), "{name}: a destination was left ({line})");
            }
        }
    }
    // The download was kept once, under the SHA-256 that matched; the one that did not match
    // left nothing. The next card is written from the cache: not one byte from the server.
    let kept: Vec<String> = std::fs::read_dir(cache.path().join("blockprint/images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".download"))
        .collect();
    assert_eq!(kept, [format!("{}.download", good.1)]);
    let downloads = || {
        server
            .log()
            .iter()
            .filter(|l| l.request.contains("/pi.img.xz"))
            .count()
    };
    let before = downloads();
    let again = dir.path().join("again.img");
    let catalog = server.url("good.json").to_string();
    let said = cli(
        &[
            "copy",
            "--catalog",
            &catalog,
            "catalog:pi-os",
            again.to_str().unwrap(),
        ],
        cache.path(),
    )
    .ok()
    .to_owned();
    assert!(said.contains("the image is in the cache"), "{said}");
    assert_eq!(downloads(), before, "the image was downloaded again");
    assert!(std::fs::read(&again).unwrap() == content);
    // What is kept, and away with it.
    let listed = printed(&cli(&["cache", "list"], cache.path()));
    assert!(listed.starts_with(&format!("{}\t", good.1)), "{listed}");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let cleared = cli(&["cache", "clear"], cache.path());
    assert!(
        cleared.ok().contains("deleted 1 kept download ("),
        "{}",
        cleared.stderr
    );
    assert!(printed(&cli(&["cache", "list"], cache.path())).is_empty());

    // On a drive: refused when the data ends, before the image's first MiB is written, so
    // the card does not look bootable (its first MiB was zeroed before anything else).
    require_root("a catalog write to a loop device");
    let backing = dir.path().join("card.bin");
    std::fs::write(&backing, random_bytes(9, 8 << 20)).unwrap();
    let card = LoopDevice::new(&backing);
    let catalog = server.url("extract.json").to_string();
    cli(
        &["copy", "--catalog", &catalog, "catalog:pi-os", card.name()],
        cache.path(),
    )
    .fails_with(&["image '", "damaged or was changed on the server"]);
    assert!(
        read_at(Path::new(card.name()), 0, MIB as usize)
            .iter()
            .all(|&b| b == 0),
        "the card's first MiB is not zero after a refused catalog write"
    );
    let catalog = server.url("good.json").to_string();
    cli(
        &[
            "copy",
            "--catalog",
            &catalog,
            "catalog:nothing",
            "/dev/null",
        ],
        cache.path(),
    )
    .fails_with(&["has no image 'nothing'", "`blockprint catalog` lists them"]);
}
