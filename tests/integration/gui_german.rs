//! The app in German: `LANGUAGE=de` (with `LANG=C.UTF-8`, which glibc needs before it honours
//! LANGUAGE; plain C would not do) and `BLOCKPRINT_LOCALEDIR` pointing at po/de.po compiled by
//! msgfmt here. The window is screenshotted on Xvfb and read back with tesseract's OCR: the
//! German of several strings of po/de.po must be on screen, and their English must not.
//! The screenshot lands in `target/tmp/gui-screenshots-german/`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::gui::{App, MIB, Session, env, quiet};
use crate::harness::gui_session::{normal, ocr};
use crate::harness::support::{require_root, require_tool, sparse_image};

/// English strings of the image page with an image and its bmap open; their German comes
/// from po/de.po.
const SHOWN: [&str; 5] = [
    "C_hange…",
    "Fast write",
    "_Advanced",
    "Which parts of the image are written, and why",
    "_Next",
];

/// The msgstr of a one-line `msgid` in a .po file.
fn translation(po: &str, msgid: &str) -> String {
    let quoted = format!("msgid \"{msgid}\"\nmsgstr \"");
    let start = po
        .find(&quoted)
        .unwrap_or_else(|| panic!("po/de.po has no one-line entry for {msgid:?}"))
        + quoted.len();
    let end = start + po[start..].find("\"\n").unwrap();
    let text = po[start..end].to_owned();
    assert!(!text.is_empty(), "po/de.po leaves {msgid:?} untranslated");
    text
}

#[test]
fn the_app_speaks_german_under_language_de() {
    require_root("the desktop app's end-to-end test");
    require_tool("msgfmt");
    require_tool("tesseract");
    env("BLOCKPRINT_TEST_UDISKS");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-screenshots-german");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    // The translations, compiled now from the source, and an image with its bmap, where the
    // app's (unprivileged) user can read them.
    let dir = tempfile::Builder::new()
        .prefix("blockprint-gui-german-")
        .tempdir()
        .unwrap();
    let messages = dir.path().join("locale/de/LC_MESSAGES");
    std::fs::create_dir_all(&messages).unwrap();
    let status = Command::new("msgfmt")
        .arg("--check")
        .arg("-o")
        .arg(messages.join("blockprint.mo"))
        .arg(root.join("po/de.po"))
        .status()
        .unwrap();
    assert!(status.success(), "msgfmt po/de.po failed");
    let (image, _bmap, _) = sparse_image(dir.path(), 4 * MIB);
    for entry in walk(dir.path()) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let localedir = format!(
        "BLOCKPRINT_LOCALEDIR={}",
        dir.path().join("locale").display()
    );
    let command = session.blockprint_with(false, &["LANGUAGE=de", &localedir]);
    let app = App::start_with(
        &session,
        command,
        &[image.to_str().unwrap()],
        shots.join("app.log"),
    );
    app.enabled("next");
    let shot = shots.join("image-de.png");
    session.screenshot(&shot, (720, 680));
    quiet(app);
    let seen = ocr(&shot, "deu+eng");

    let po = std::fs::read_to_string(root.join("po/de.po")).unwrap();
    for english in SHOWN {
        let german = translation(&po, english);
        assert!(
            seen.contains(&normal(&german)),
            "{german:?} (for {english:?}) is not on the screen; OCR read:\n{seen}\nscreenshot: {}",
            shot.display()
        );
        assert!(
            !seen.contains(&normal(english)),
            "{english:?} is on the screen untranslated; OCR read:\n{seen}\nscreenshot: {}",
            shot.display()
        );
    }
    eprintln!("screenshot: {}", shot.display());
}

/// `dir` and everything under it.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut all = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(walk(&path));
        } else {
            all.push(path);
        }
    }
    all
}
