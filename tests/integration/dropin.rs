//! Blockprint as a drop-in for bmaptool in scripts: each gap that bmaptool's own test suite
//! found, run the way a script runs bmaptool, expecting bmaptool's exit code and the phrases
//! scripts look for.

use std::path::Path;
use std::time::Duration;

use crate::harness::support::{Run, blockprint_with, unpack, vectors};
use crate::signatures::{Gpg, KEYS_MADE, SIGNED};

const LIMIT: Duration = Duration::from_secs(60);
const VENDOR: &str = "Vendor Images <images@vendor.invalid>";

/// The upstream test image and its 2.0 bmap, as `test.image` and `test.image.bmap` in `dir`.
fn image_and_bmap(dir: &Path) {
    unpack("test.image.gz", dir, "test.image");
    std::fs::copy(
        vectors().join("test.image.bmap.v2.0"),
        dir.join("test.image.bmap"),
    )
    .unwrap();
}

/// `blockprint` with this HOME and GNUPGHOME (and an empty trusted-keys folder).
fn run(dir: &Path, gnupg: &Path, args: &[&str]) -> Run {
    let config = dir.join("config");
    let env = [
        ("HOME", dir.to_str().unwrap()),
        ("XDG_CONFIG_HOME", config.to_str().unwrap()),
        ("GNUPGHOME", gnupg.to_str().unwrap()),
    ];
    blockprint_with(args, &env, None, LIMIT)
}

fn same(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// A script that `gpg --import`ed the vendor's key gets exit 0 from bmaptool: the user's
/// GnuPG keyring is a trust source (pubring.kbx, and the older pubring.gpg), and the status
/// line says which keyring trusted the key.
#[test]
fn a_key_imported_with_gpg_is_trusted() {
    let vendor = Gpg::new();
    let fpr = vendor.key(VENDOR, KEYS_MADE, "never");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    image_and_bmap(d);
    vendor.export(&fpr, true, &d.join("vendor.asc"));
    vendor.sign(
        &[&fpr],
        "--detach-sign",
        true,
        SIGNED,
        &d.join("test.image.bmap"),
        &d.join("test.image.bmap.asc"),
    );
    let (image, out) = (d.join("test.image"), d.join("out"));
    let args = ["copy", image.to_str().unwrap(), out.to_str().unwrap()];

    // Before the import: an unknown key, refused (bmaptool: exit 1 too).
    let nobody = tempfile::tempdir().unwrap();
    run(d, nobody.path(), &args).fails_with(&["which is not in", "gpg --import"]);

    for keyring in ["pubring.kbx", "pubring.gpg"] {
        let user = Gpg::new();
        if keyring == "pubring.gpg" {
            // GnuPG keeps using the older format where that file exists.
            std::fs::write(user.home().join("pubring.gpg"), b"").unwrap();
        }
        user.import(&d.join("vendor.asc"));
        assert!(
            user.home().join(keyring).is_file(),
            "gpg wrote no {keyring}"
        );
        let _ = std::fs::remove_file(&out);
        let result = run(d, user.home(), &args);
        let stderr = result.ok();
        let line = stderr
            .lines()
            .find(|l| l.starts_with("blockprint: signature:"))
            .unwrap_or_else(|| panic!("no signature line: {stderr}"));
        assert!(
            line.contains("successfully verified bmap file signature"),
            "{line}"
        );
        let source = format!(
            "your GnuPG keyring ('{}')",
            user.home().join(keyring).display()
        );
        assert!(line.contains(&source), "{keyring}: {line}");
        assert!(same(&image, &out), "{keyring}: the image was not written");
        // A pinned fingerprint works with it too.
        run(
            d,
            user.home(),
            &["copy", "--fingerprint", &fpr, args[1], args[2]],
        )
        .ok();
    }
}

/// `file:/abs/path` (RFC 8089, which bmaptool opens through urllib) names a local file, for
/// the image and the bmap alike, as `file:///abs/path` does.
#[test]
fn file_urls_without_an_authority_are_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    image_and_bmap(d);
    let image = d.join("test.image");
    let out = d.join("out");
    let bmap = d.join("test.image.bmap");
    for (image_url, bmap_url) in [
        (
            format!("file:{}", image.display()),
            format!("file:{}", bmap.display()),
        ),
        (
            format!("file://{}", image.display()),
            format!("file://{}", bmap.display()),
        ),
    ] {
        let _ = std::fs::remove_file(&out);
        let args = [
            "copy",
            "--bmap",
            &bmap_url,
            &image_url,
            out.to_str().unwrap(),
        ];
        run(d, &d.join("gnupg"), &args).ok();
        assert!(same(&image, &out), "{image_url}");
        let _ = std::fs::remove_file(&out);
        run(
            d,
            &d.join("gnupg"),
            &["copy", "--nobmap", &image_url, out.to_str().unwrap()],
        )
        .ok();
        assert!(same(&image, &out), "{image_url} --nobmap");
    }
}

/// bmaptool checks conflicting options itself and exits 1 for them; only what its argument
/// parser refuses exits 2.
#[test]
fn conflicting_options_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let fpr = "0123456789ABCDEF0123456789ABCDEF01234567";
    for args in [
        vec!["copy", "--nobmap", "--bmap", "x", "a", "b"],
        vec!["copy", "--bmap-sig", "s", "--no-sig-verify", "a", "b"],
        vec!["copy", "--no-sig-verify", "--keyring", "k", "a", "b"],
        vec!["copy", "--no-sig-verify", "--fingerprint", fpr, "a", "b"],
        vec!["-q", "-d", "copy", "a", "b"],
    ] {
        let result = run(dir.path(), &dir.path().join("gnupg"), &args);
        assert_eq!(result.code, 1, "{args:?}: {}", result.stderr);
        assert!(
            result.stderr.contains("cannot be used with"),
            "{args:?}: {}",
            result.stderr
        );
    }
    let result = run(
        dir.path(),
        &dir.path().join("gnupg"),
        &["copy", "--no-such", "a", "b"],
    );
    assert_eq!(result.code, 2, "{}", result.stderr);
}

/// Scripts grep bmaptool's phrases: each appears where it is true, beside Blockprint's own
/// words.
#[test]
fn bmaptool_phrases_where_they_are_true() {
    let vendor = Gpg::new();
    let fpr = vendor.key(VENDOR, KEYS_MADE, "never");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    image_and_bmap(d);
    let (image, out) = (d.join("test.image"), d.join("out"));
    let keyring = d.join("vendor.gpg");
    vendor.export(&fpr, false, &keyring);
    let copy = |extra: &[&str]| {
        let mut args = vec!["copy", "--keyring", keyring.to_str().unwrap()];
        args.extend(extra);
        args.extend([image.to_str().unwrap(), out.to_str().unwrap()]);
        run(d, &d.join("gnupg"), &args)
    };

    // Unsigned, with a pinned signer.
    copy(&["--fingerprint", &fpr]).fails_with(&[
        "is not signed",
        "no signature found but --fingerprint given",
    ]);

    // A bad signature: the bmap changed after it was signed.
    let bmap = d.join("test.image.bmap");
    vendor.sign(
        &[&fpr],
        "--detach-sign",
        true,
        SIGNED,
        &bmap,
        &d.join("test.image.bmap.asc"),
    );
    let result = copy(&[]);
    assert!(
        result
            .stderr
            .contains("successfully verified bmap file signature"),
        "{}",
        result.stderr
    );
    result.ok();
    let text = std::fs::read_to_string(&bmap).unwrap();
    std::fs::write(&bmap, text.replacen("<!--", "<!-- changed", 1)).unwrap();
    let result = copy(&[]);
    result.fails_with(&["does not match its signature"]);
    assert!(
        result.stderr.contains("discovered a BAD GPG signature"),
        "{}",
        result.stderr
    );
}
