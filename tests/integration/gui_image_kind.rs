//! The app on an image that will not work written as it is: a Windows installer ISO made with
//! xorriso. The Image step says so right under the image, with what to use instead, and the
//! erase confirmation repeats it with "Write Anyway" for a button. Both are screenshotted
//! (`target/tmp/gui-screenshots-image-kind/`) and read back by OCR; nothing is written.

use std::os::unix::fs::PermissionsExt;

use crate::gui::{App, Session, begin, confirm_loop, env, quiet};
use crate::harness::gui_session::{normal, ocr};
use crate::identify::windows_iso;
use crate::udisks::UdisksLoop;

#[test]
fn the_app_warns_about_a_windows_installer_iso() {
    let shots = begin(
        "the desktop app's Windows ISO test",
        &["xorriso", "tesseract", "udisksctl"],
        "gui-screenshots-image-kind",
        true,
    );
    let dir = tempfile::Builder::new()
        .prefix("blockprint-gui-kind-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let iso = windows_iso(dir.path());
    let iso_text = iso.to_str().unwrap();
    std::fs::set_permissions(&iso, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stick = dir.path().join("stick.img");
    std::fs::write(&stick, vec![0u8; 64 << 20]).unwrap();
    let card = UdisksLoop::new(&stick);

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let size = (720, 680);
    let app = App::start(&session, false, &[iso_text], shots.join("app.log"));
    session.resize(size);
    app.enabled("next");
    let page = shots.join("windows-iso-image.png");
    session.screenshot(&page, size);
    let text = ocr(&page, "eng");
    for words in [
        "This Is a Windows Installer",
        "it will not start a computer",
        "Media Creation Tool",
    ] {
        assert!(
            text.contains(&normal(words)),
            "{words:?} not on the Image step:\n{text}\nscreenshot: {}",
            page.display()
        );
    }

    // Still allowed, with the warning again where the user confirms.
    confirm_loop(&session, &app, &card);
    let confirm = shots.join("windows-iso-confirm.png");
    session.screenshot(&confirm, size);
    let text = ocr(&confirm, "eng");
    for words in ["This is a Windows installer", "Write Anyway"] {
        assert!(
            text.contains(&normal(words)),
            "{words:?} not in the confirmation:\n{text}\nscreenshot: {}",
            confirm.display()
        );
    }
    // Cancel is the default: nothing is written.
    session.keys("^Erase ", "key", &["Escape"]);
    session.gone("^Erase ");
    quiet(app);
    let written = std::fs::read(&stick).unwrap();
    assert!(written.iter().all(|&b| b == 0), "the stick was written");
}
