//! The Image step's facts, read from real files: bmaptool's test vectors, and ext4 images
//! made by mkfs.ext4.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bmaptool")
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

#[test]
fn a_compressed_image_with_its_bmap_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("test.image.gz");
    copy(&vectors().join("test.image.gz"), &image);
    copy(
        &vectors().join("test.image.bmap.v2.0"),
        &dir.path().join("test.image.bmap"),
    );
    let info = inspect(&Input::Path(image.clone()), None, false).unwrap();
    assert_eq!(info.name, "test.image.gz");
    assert_eq!(info.layers.len(), 1);
    assert_eq!(info.layers[0].format.to_string(), "gzip");
    assert_eq!(
        info.stored_size,
        Some(std::fs::metadata(&image).unwrap().len())
    );
    let BmapState::Found { location, bmap } = &info.bmap else {
        panic!("expected the bmap, got {:?}", info.bmap);
    };
    assert!(location.ends_with("test.image.bmap"), "{location}");
    assert_eq!(info.image_size, Some(bmap.image_size()));
    assert_eq!(info.signature, SignatureState::Unsigned { expected: false });
    assert!(!info.blocked());
}

#[test]
fn no_bmap_a_broken_bmap_and_a_missing_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("plain.img");
    std::fs::write(&image, vec![7u8; 8192]).unwrap();
    let info = inspect(&Input::Path(image.clone()), None, false).unwrap();
    assert!(matches!(info.bmap, BmapState::Missing));
    assert_eq!(info.signature, SignatureState::NoBmap);
    assert_eq!(info.image_size, Some(8192));
    assert!(info.usable_bmap().is_none() && !info.blocked());

    std::fs::write(dir.path().join("plain.img.bmap"), "<bmap version='2.0'>").unwrap();
    let info = inspect(&Input::Path(image.clone()), None, false).unwrap();
    assert!(
        matches!(&info.bmap, BmapState::Invalid { location, .. } if location.ends_with("plain.img.bmap")),
        "{:?}",
        info.bmap
    );
    assert!(info.blocked(), "a broken bmap is never ignored quietly");

    // A block map the user chose wins over the one beside the image.
    let chosen = dir.path().join("chosen.bmap");
    copy(&vectors().join("test.image.bmap.v1.4"), &chosen);
    let info = inspect(
        &Input::Path(image.clone()),
        Some(&Input::Path(chosen)),
        false,
    )
    .unwrap();
    assert!(matches!(info.bmap, BmapState::Found { .. }));

    let err = inspect(&Input::Path(dir.path().join("gone.img")), None, false).unwrap_err();
    assert!(format!("{err:#}").contains("gone.img"), "{err:#}");
}

fn mkfs_ext4(path: &Path) {
    std::fs::File::create(path).unwrap();
    let status = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"])
        .arg(path)
        .arg("32M")
        .status()
        .expect("mkfs.ext4 (apt install e2fsprogs)");
    assert!(status.success());
}

#[test]
fn scanning_maps_only_what_the_filesystem_uses() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("root.img");
    mkfs_ext4(&image);
    let bmap = scan_bmap(&image, &CancelToken::new()).unwrap();
    assert_eq!(bmap.image_size(), 32 << 20);
    assert!(
        bmap.mapped_bytes() < bmap.image_size() / 4,
        "an empty ext4 is mostly free: {} of {}",
        bmap.mapped_bytes(),
        bmap.image_size()
    );
}

/// An xz file of several blocks has random access: its filesystems are read through it as it
/// is opened, and the Image step knows what a write puts on the card (what the raw image's
/// scan maps). One block is a stream: that is known only as it is written.
#[test]
fn an_xz_file_of_several_blocks_says_what_its_filesystems_use() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("root.img");
    mkfs_ext4(&raw);
    let used = scan_bmap(&raw, &CancelToken::new()).unwrap().mapped_bytes();
    let xz = |args: &[&str], name: &str| {
        let out = Command::new("xz")
            .args(args)
            .args(["-c", "-0"])
            .arg(&raw)
            .output()
            .expect("xz (apt install xz-utils)");
        assert!(out.status.success());
        let path = dir.path().join(name);
        std::fs::write(&path, out.stdout).unwrap();
        Input::Path(path)
    };
    let blocks = xz(&["-T2", "--block-size=1MiB"], "blocks.img.xz");
    let info = inspect(&blocks, None, false).unwrap();
    assert!(matches!(info.bmap, BmapState::Missing));
    assert_eq!(info.filesystems_use, Some(used));
    assert!(used < 32 << 20, "{used}");

    let one = xz(&["-T1"], "one.img.xz");
    let info = inspect(&one, None, false).unwrap();
    assert_eq!(info.filesystems_use, None);
}

/// F6: the app refuses exactly what the command line refuses: every failed signature (an
/// expired, future-dated, weak or other signer's one included, which it once let through),
/// and an unsigned block map when only signed images are allowed.
#[test]
fn every_refusal_of_the_policy_blocks_the_image() {
    use blockprint::signature::{Requirement, SignatureStatus, Signer, TrustSource};
    use std::time::SystemTime;

    let signer = Signer {
        fingerprint: "AB".into(),
        key: "AB".into(),
        user_id: Some("Vendor <v@example.invalid>".into()),
        source: TrustSource::Keyring("k.gpg".into()),
    };
    let failures = [
        SignatureCheck::UnknownKey {
            issuer: "AB".into(),
        },
        SignatureCheck::Bad {
            signer: signer.clone(),
        },
        SignatureCheck::Expired {
            signer: signer.clone(),
            expired: None,
        },
        SignatureCheck::SignatureExpired {
            signer: signer.clone(),
            expired: SystemTime::UNIX_EPOCH,
        },
        SignatureCheck::Revoked {
            signer: signer.clone(),
        },
        SignatureCheck::NotYetValid {
            signer: signer.clone(),
            created: SystemTime::UNIX_EPOCH,
        },
        SignatureCheck::OtherSigner {
            signer: signer.clone(),
            wanted: "CD".into(),
        },
        SignatureCheck::Weak {
            signer: signer.clone(),
            algorithm: "SHA1".into(),
        },
        SignatureCheck::NotSigningKey { signer },
        SignatureCheck::Unusable {
            issuer: String::new(),
            reason: "junk".into(),
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("test.image.gz");
    copy(&vectors().join("test.image.gz"), &image);
    copy(
        &vectors().join("test.image.bmap.v2.0"),
        &dir.path().join("test.image.bmap"),
    );
    let mut info = inspect(&Input::Path(image), None, false).unwrap();
    assert!(!info.blocked());
    let policy = Policy::default();
    for failure in failures {
        let status = SignatureStatus::Signed {
            form: blockprint::signature::SignatureForm::Clearsigned,
            checks: vec![failure.clone()],
        };
        let checked = Checked {
            location: Input::Path("b.bmap".into()),
            discovered: true,
            refusal: policy.judge(&status),
            status,
            trusted: None,
            warnings: Vec::new(),
            skipped: false,
            unsigned_unexpectedly: false,
            text: Vec::new(),
        };
        assert!(
            checked.refusal.is_some(),
            "{failure:?}: the command line refuses it"
        );
        info.signature = SignatureState::of(&checked);
        assert!(info.blocked(), "{failure:?}: the app must refuse it too");
    }
    // Only signed images: the unsigned block map beside it is refused, through the engine.
    let dir_image = dir.path().join("test.image.gz");
    let info = inspect(&Input::Path(dir_image), None, true).unwrap();
    assert_eq!(
        info.signature,
        SignatureState::Refused(Refusal::Unsigned(Requirement::Required))
    );
    assert!(info.blocked());
}
