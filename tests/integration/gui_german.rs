//! The app in German: `LANGUAGE=de` (with `LANG=C.UTF-8`, which glibc needs before it honours
//! LANGUAGE; plain C would not do) and `BLOCKPRINT_LOCALEDIR` pointing at po/de.po compiled by
//! msgfmt here. The window is screenshotted on Xvfb and read back with tesseract's OCR: the
//! German of several strings of po/de.po must be on screen, and their English must not.
//! Then, with no image open, the window must go down to 360 px in German and in French (a
//! long translation in any page would hold it wider). The screenshots land in
//! `target/tmp/gui-screenshots-german/`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::gui::{App, MIB, NARROW, Session, env, quiet};
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
    msgfmt(root, "de", &dir.path().join("locale/de/LC_MESSAGES"));
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

    // Every page is in the window's one stack, so the window is as narrow as its widest page
    // allows: in German and in French too, that must be a phone's 360 px.
    msgfmt(root, "fr", &dir.path().join("locale/fr/LC_MESSAGES"));
    for entry in walk(dir.path()) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for language in ["de", "fr"] {
        let language_var = format!("LANGUAGE={language}");
        let command = session.blockprint_with(false, &[&language_var, &localedir]);
        let app = App::start_with(
            &session,
            command,
            &[],
            shots.join(format!("app-{language}.log")),
        );
        // Made narrow once it has drawn at its first size (as a user would), and checked once it
        // has drawn at the new one: GTK widens a window too narrow for its content then.
        app.enabled("open");
        std::thread::sleep(std::time::Duration::from_secs(2));
        session.resize(NARROW);
        let shot = shots.join(format!("narrow-{language}.png"));
        session.screenshot(&shot, (720, NARROW.1));
        let (id, _) = session.window("^Blockprint$");
        let geometry = session.run_x("xdotool", &["getwindowgeometry", &id]);
        quiet(app);
        assert!(
            geometry.contains(&format!("Geometry: {}x", NARROW.0)),
            "in {language} the window cannot be made {} px wide: {geometry}screenshot: {}",
            NARROW.0,
            shot.display()
        );
    }
}

/// po/{language}.po compiled into `messages`/blockprint.mo by msgfmt, checked.
fn msgfmt(root: &Path, language: &str, messages: &Path) {
    std::fs::create_dir_all(messages).unwrap();
    let status = Command::new("msgfmt")
        .arg("--check")
        .arg("-o")
        .arg(messages.join("blockprint.mo"))
        .arg(root.join(format!("po/{language}.po")))
        .status()
        .unwrap();
    assert!(status.success(), "msgfmt po/{language}.po failed");
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
