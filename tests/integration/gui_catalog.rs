//! "Choose OS…" end to end: a catalog in Raspberry Pi Imager's shape on a local nginx (boards,
//! three levels, a `subitems_url` link, icons, an image compressed with its bmap beside it and
//! both SHA-256s), opened from the command line as a file manager would. Light: the list is
//! searched by keyboard, Enter chooses the first match, the image page shows the entry's facts,
//! and it is written through a real udisksd onto a loop device, byte for byte, downloaded once;
//! then the list shows it "Cached", and Preferences delete it. Dark: the list, its linked list found by search and
//! opened with Enter, Back out of it, and the board filter. Screenshots of the catalog page at 720 and 360 px in both styles land in
//! `target/tmp/gui-screenshots-catalog/`, and OCR reads them back.

use std::path::Path;
use std::time::Duration;

use crate::catalog::sha256;
use crate::gui::{
    NARROW, Session, WIDE, begin, both_widths, env, quiet, served_image, write_to_loop,
};
use crate::harness::gui_session::{App, ocr};
use crate::harness::nginx::Nginx;
use crate::harness::support::{assert_written, sh};
use crate::udisks::UdisksLoop;

/// The catalog: the served image (gzip of `pi.img`, its bmap `pi.img.bmap` beside it) for
/// the Raspberry Pi 5, a folder of three levels, and a linked list; its URL.
fn catalog(server: &Nginx, packed: &[u8], content: &[u8]) -> String {
    sh(
        "convert",
        &[
            "-size",
            "64x64",
            "xc:#c51a4a",
            server.root().join("icon.png").to_str().unwrap(),
        ],
    );
    let (size, download) = (content.len(), packed.len());
    let (extract_sha, download_sha) = (sha256(content), sha256(packed));
    let top = format!(
        r#"{{
  "imager": {{"devices": [
    {{"name": "Raspberry Pi 5", "tags": ["pi5-64bit"], "matching_type": "exclusive"}},
    {{"name": "Raspberry Pi Zero", "tags": ["pi0-32bit"], "matching_type": "exclusive"}}
  ]}},
  "os_list": [
    {{"name": "Test OS Lite", "description": "A small system without a desktop, for tests",
      "icon": "icon.png", "url": "pi.img.gz", "release_date": "2026-11-19",
      "extract_size": {size}, "extract_sha256": "{extract_sha}",
      "image_download_size": {download}, "image_download_sha256": "{download_sha}",
      "devices": ["pi5-64bit"]}},
    {{"name": "Other systems", "description": "For special purposes", "icon": "icon.png",
      "subitems": [
        {{"name": "Emulation", "description": "Old games",
          "subitems": [{{"name": "Retro Console", "description": "Arcade games",
            "url": "retro.img.xz", "devices": ["pi0-32bit"]}}]}}
      ]}},
    {{"name": "Media centres", "description": "Films and music", "icon": "missing.png",
      "subitems_url": "media.json"}}
  ]
}}"#
    );
    server.put("os_list.json", top.as_bytes());
    let media = r#"{"os_list": [
      {"name": "Kodi Box", "description": "A media centre", "url": "kodi.img.xz",
       "devices": ["pi5-64bit"]}]}"#;
    server.put("media.json", media.as_bytes());
    server.url("os_list.json").to_string()
}

/// Waits for the catalog page to have read its list (Try Again is greyed while it reads), and
/// a moment more for the icons.
fn read(app: &App<'_>) {
    std::thread::sleep(Duration::from_millis(500));
    app.enabled("reload-catalog");
    std::thread::sleep(Duration::from_millis(700));
}

#[test]
fn the_app_writes_an_os_chosen_from_a_catalog_through_udisks() {
    let shots = begin(
        "the catalog page's test",
        &["udisksctl", "convert", "gzip", "tesseract"],
        "gui-screenshots-catalog",
        true,
    );
    let server = Nginx::start();
    let (_, content, bmap) = served_image(&server);
    let image = server.root().join("pi.img");
    sh("gzip", &["-1", "-k", image.to_str().unwrap()]);
    let packed = std::fs::read(image.with_extension("img.gz")).unwrap();
    let list = catalog(&server, &packed, &content);

    let dir = tempfile::Builder::new()
        .prefix("blockprint-udisks-")
        .tempdir()
        .unwrap();
    let backing = dir.path().join("card.bin");
    let (card, before) = UdisksLoop::random(&backing, 13, 64 << 20);
    let user = env("BLOCKPRINT_TEST_USER");

    // Light: opened from the command line, searched, chosen with Enter, written.
    let session = Session::start(&user);
    let app = App::start(&session, false, &[&list], shots.join("light-app.log"));
    session.resize(WIDE);
    read(&app);
    both_widths(&session, &shots, "light", "01-catalog", WIDE);
    let seen = ocr(&shots.join("light-720-01-catalog.png"), "eng");
    for shown in [
        "test os lite",
        "released 2026-11-19",
        "other systems",
        "media centres",
    ] {
        assert!(
            seen.contains(shown),
            "{shown:?} is not on the page; OCR read: {seen}"
        );
    }
    assert!(
        !seen.contains("cached"),
        "nothing is cached yet; OCR read: {seen}"
    );
    let window = "^Blockprint$";
    session.keys(window, "type", &["lite"]);
    std::thread::sleep(Duration::from_millis(500));
    session.screenshot(&shots.join("light-720-02-search.png"), WIDE);
    let seen = ocr(&shots.join("light-720-02-search.png"), "eng");
    assert!(
        seen.contains("test os lite") && !seen.contains("other systems"),
        "the search does not narrow the list; OCR read: {seen}"
    );
    session.keys(window, "key", &["Return"]);
    app.enabled("next");
    std::thread::sleep(Duration::from_millis(300));
    both_widths(&session, &shots, "light", "03-image", WIDE);
    let seen = ocr(&shots.join("light-720-03-image.png"), "eng");
    for shown in [
        "test os lite",
        "checked against the catalog",
        "released 2026-11-19",
        "fast write",
    ] {
        assert!(
            seen.contains(shown),
            "{shown:?} is not on the image page; OCR read: {seen}"
        );
    }
    write(&session, &app, &card);
    let device = std::fs::read(card.name()).unwrap();
    assert_written(&device, &before, &content, &bmap);
    let downloads: Vec<_> = server
        .log()
        .into_iter()
        .filter(|l| l.request.contains("/pi.img.gz "))
        .collect();
    let sent: u64 = downloads.iter().map(|l| l.bytes).sum();
    assert!(
        sent as usize <= packed.len() + packed.len() / 20,
        "{sent} bytes sent for a download of {}: {downloads:?}",
        packed.len()
    );
    let kept = Path::new(&session.home)
        .join(".cache/blockprint/images")
        .join(format!("{}.download", sha256(&packed)));
    assert!(
        std::fs::read(&kept).unwrap() == packed,
        "the download is not kept whole for the next card"
    );
    app.activate("choose-os", None);
    std::thread::sleep(Duration::from_millis(700));
    session.screenshot(&shots.join("light-720-05-cached.png"), WIDE);
    let seen = ocr(&shots.join("light-720-05-cached.png"), "eng");
    assert!(seen.contains("cached"), "no Cached badge; OCR read: {seen}");
    // Preferences tell what is kept, and Delete Cached Images (its mnemonic) deletes it.
    app.activate("preferences", None);
    session.window("^Preferences$");
    std::thread::sleep(Duration::from_millis(500));
    session.screenshot(&shots.join("light-720-06-preferences.png"), WIDE);
    let seen = ocr(&shots.join("light-720-06-preferences.png"), "eng");
    assert!(
        seen.contains("1 image, 13.1 mb"),
        "the cache is not told; OCR read: {seen}"
    );
    session.keys("^Preferences$", "key", &["alt+d"]);
    app.wait_for("the cached image to be deleted", || !kept.exists());
    session.keys("^Preferences$", "key", &["Escape"]);
    quiet(app);

    // Dark: the list, a linked list opened from it, and a board chosen (keyboard only).
    let session = Session::start(&user);
    let app = App::start(&session, true, &[&list], shots.join("dark-app.log"));
    session.resize(NARROW);
    read(&app);
    both_widths(&session, &shots, "dark", "01-catalog", NARROW);
    session.keys(window, "type", &["kodi"]);
    std::thread::sleep(Duration::from_millis(500));
    let seen = ocr_shot(&session, &shots, "dark-360-02-no-match");
    assert!(
        seen.contains("no match"),
        "a list not opened yet is searched; OCR read: {seen}"
    );
    // Its link is found by its name, and Enter reads it and opens it.
    session.keys(window, "key", &["ctrl+a", "BackSpace"]);
    session.keys(window, "type", &["media"]);
    std::thread::sleep(Duration::from_millis(500));
    session.keys(window, "key", &["Return"]);
    read(&app);
    both_widths(&session, &shots, "dark", "03-linked", NARROW);
    let seen = ocr(&shots.join("dark-360-03-linked.png"), "eng");
    assert!(
        seen.contains("kodi box") && seen.contains("media centres"),
        "the linked list is not open; OCR read: {seen}"
    );
    // Back leaves the folder first; then a board from the menu (its `catalog-board` action,
    // as the menu's items run it: Xvfb without a window manager shows no popovers).
    session.keys(window, "key", &["alt+Left"]);
    std::thread::sleep(Duration::from_millis(300));
    app.activate("catalog-board", Some("2"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app.state("catalog-board").as_deref(), Some("'2'"));
    let seen = ocr_shot(&session, &shots, "dark-360-04-board");
    assert!(
        seen.contains("raspberry pi zero")
            && seen.contains("other systems")
            && !seen.contains("test os lite"),
        "the board does not filter the list; OCR read: {seen}"
    );
    quiet(app);
}

/// Screenshots the narrow window as `name.png` and reads it.
fn ocr_shot(session: &Session, shots: &Path, name: &str) -> String {
    let shot = shots.join(format!("{name}.png"));
    session.screenshot(&shot, NARROW);
    ocr(&shot, "eng")
}

/// The card written (see [`write_to_loop`]), and the end page shot.
fn write(session: &Session, app: &App<'_>, card: &UdisksLoop) {
    write_to_loop(session, app, card);
    session.screenshot(
        &Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("gui-screenshots-catalog/light-720-04-done.png"),
        WIDE,
    );
}
