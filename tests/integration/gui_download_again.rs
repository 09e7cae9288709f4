//! *Try Again* after a catalog download that broke off: the first answer for the image stops
//! half-way and the server then answers 503 to every attempt to resume, so the write fails
//! with the download's error and offers *Try Again*; by then the server is back, and Try Again
//! goes on from the part already in the cache (a Range request for the rest), writes the card
//! through udisksd byte for byte, and keeps the whole download. The server sends the file about
//! once in all. Screenshots in `target/tmp/gui-screenshots-download-again/`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::catalog::sha256;
use crate::gui::{App, Session, WIDE, begin, env, quiet, shows, write_to_loop};
use crate::harness::http_server::{Behaviour, Server};
use crate::harness::support::{sh, sparse_image};
use crate::udisks::UdisksLoop;

#[test]
fn try_again_resumes_a_catalog_download_that_broke_off() {
    let shots = begin(
        "the desktop app's test of Try Again after a cut download",
        &["xz", "tesseract", "udisksctl"],
        "gui-screenshots-download-again",
        true,
    );
    let dir = tempfile::Builder::new()
        .prefix("blockprint-gui-again-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (image, _, content) = sparse_image(dir.path(), 5 << 20);
    sh("xz", &["-k", "-T1", "-0", image.to_str().unwrap()]);
    let packed = std::fs::read(image.with_extension("img.xz")).unwrap();
    let cut_after = packed.len() / 2;
    // Answers 0 and 1 are looks at the first 512 bytes (the image page's, then the write's
    // probe for Range support). Answer 2, the download, breaks off half-way; the five attempts
    // to resume it get 503 (the engine then gives up); Try Again's requests are answered.
    let server = Server::start(Behaviour {
        cut: 2..3,
        cut_after,
        unavailable: 3..8,
        only: Some("/pi.img.xz"),
        ..Behaviour::serving(packed.clone())
    });
    let list = dir.path().join("os_list.json");
    std::fs::write(
        &list,
        format!(
            r#"{{"os_list": [{{"name": "Test OS Lite", "description": "For tests",
                "url": "{url}", "release_date": "2026-11-19",
                "extract_size": {size}, "extract_sha256": "{extract}",
                "image_download_size": {packed_len}, "image_download_sha256": "{download}"}}]}}"#,
            url = server.url("pi.img.xz"),
            size = content.len(),
            extract = sha256(&content),
            packed_len = packed.len(),
            download = sha256(&packed),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o644)).unwrap();
    let backing = dir.path().join("card.bin");
    let (card, _) = UdisksLoop::random(&backing, 31, 16 << 20);

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    let app = App::start(
        &session,
        false,
        &[list.to_str().unwrap()],
        shots.join("app.log"),
    );
    session.resize(WIDE);
    app.enabled("reload-catalog");
    let window = "^Blockprint$";
    session.keys(window, "type", &["lite"]);
    session.keys(window, "key", &["Return"]);
    app.enabled("next");
    write_to_loop(&session, &app, &card);
    let asked = || {
        server
            .requests()
            .into_iter()
            .filter(|r| r.line.contains(" /pi.img.xz "))
            .collect::<Vec<_>>()
    };
    assert!(asked().len() == 8, "not asked as planned: {:?}", asked());
    shows(
        &session,
        &shots,
        "01-cut",
        &[
            "the download stopped",
            "goes on from where the download stopped",
        ],
    );
    // Try Again (white on blue, which OCR does not read) is the write action, enabled.
    app.enabled("write");
    let cached = Path::new(&session.home).join(".cache/blockprint/images");
    let part = cached.join(format!("{}.part", sha256(&packed)));
    let have = std::fs::metadata(&part).map_or(0, |m| m.len() as usize);
    assert!(have > 0, "the cut download left no part in the cache");

    // Try Again is the write action: the same drive, confirmed again.
    app.activate("write", None);
    session.keys("^Erase ", "key", &["Tab", "Return"]);
    app.enabled("write-another");
    shows(
        &session,
        &shots,
        "02-written",
        &["read back and matches the image"],
    );
    let device = std::fs::read(card.name()).unwrap();
    assert!(
        device[..content.len()] == content[..],
        "the card does not hold the image"
    );
    let requests = asked();
    let resumed = format!("bytes={have}-");
    assert!(
        requests
            .last()
            .and_then(|r| r.header("Range"))
            .is_some_and(|r| r.starts_with(&resumed)),
        "Try Again did not ask for the rest from byte {have}: {requests:?}"
    );
    // Sent: the half before the cut, nothing with the 503s, and the rest after Try Again.
    let sent = cut_after + (packed.len() - have);
    assert!(
        sent as f64 <= 1.05 * packed.len() as f64,
        "{sent} bytes sent for a download of {}",
        packed.len()
    );
    let kept = cached.join(format!("{}.download", sha256(&packed)));
    assert!(
        std::fs::read(&kept).unwrap() == packed,
        "the download is not kept whole for the next card"
    );
    assert!(!part.exists(), "the part is left beside the kept download");
    quiet(app);
}
