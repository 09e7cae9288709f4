//! A catalog download whose connection drops twice is resumed where it broke off (Range with
//! If-Range), so the server sends the file about once, not once per attempt; the image is
//! still checked against both of the catalog's SHA-256s and kept in the cache whole. The entry
//! has no bmap, and needs none: `copy catalog:ID` writes all of it without `--nobmap`.

use crate::catalog::{cli, sha256};
use crate::harness::http_server::{Behaviour, Server};
use crate::harness::support::{sh, sparse_image};

#[test]
fn a_download_that_breaks_off_twice_is_resumed_and_sent_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (image, _, content) = sparse_image(dir.path(), 5 << 20);
    sh("xz", &["-k", "-T1", "-0", image.to_str().unwrap()]);
    let packed = std::fs::read(image.with_extension("img.xz")).unwrap();
    let cut_after = packed.len() / 3;
    let server = Server::start(Behaviour {
        // The first two answers for the image break off, a third of the file each.
        cut: 0..2,
        cut_after,
        only: Some("/pi.img.xz"),
        ..Behaviour::serving(packed.clone())
    });
    let catalog = dir.path().join("list.json");
    std::fs::write(
        &catalog,
        format!(
            r#"{{"os_list": [{{"name": "Pi OS", "description": "", "url": "{url}",
                "extract_size": {size}, "extract_sha256": "{extract}",
                "image_download_size": {packed_len}, "image_download_sha256": "{download}",
                "release_date": "2026-11-19"}}]}}"#,
            url = server.url("pi.img.xz"),
            size = content.len(),
            extract = sha256(&content),
            packed_len = packed.len(),
            download = sha256(&packed),
        ),
    )
    .unwrap();
    let dest = dir.path().join("written.img");
    let run = cli(
        &[
            "copy",
            "--catalog",
            catalog.to_str().unwrap(),
            "catalog:pi-os",
            dest.to_str().unwrap(),
        ],
        cache.path(),
    );
    let said = run.ok();
    // No bmap beside it (the server has none): the catalog's SHA-256s check it whole.
    assert!(
        said.contains("no bmap for") && said.contains("checked against the catalog's SHA-256"),
        "{said}"
    );
    assert!(
        std::fs::read(&dest).unwrap() == content,
        "the written image differs"
    );

    // What the server sent: each answer's range, or as much of it as went out before the cut.
    let requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.line.contains(" /pi.img.xz "))
        .collect();
    let mut sent = 0;
    for (i, request) in requests.iter().enumerate() {
        let (first, last) = match request.header("Range") {
            Some(range) => {
                let (a, b) = range.trim_start_matches("bytes=").split_once('-').unwrap();
                let last = b
                    .parse()
                    .map_or(packed.len() - 1, |b: usize| b.min(packed.len() - 1));
                (a.parse::<usize>().unwrap(), last)
            }
            None => (0, packed.len() - 1),
        };
        let whole = last + 1 - first;
        sent += if i < 2 { whole.min(cut_after) } else { whole };
    }
    assert!(
        requests.len() >= 3,
        "never broke off and resumed: {requests:?}"
    );
    assert!(
        sent as f64 <= 1.05 * packed.len() as f64,
        "{sent} bytes sent for a file of {}: {requests:?}",
        packed.len()
    );
    let kept = cache
        .path()
        .join("blockprint/images")
        .join(format!("{}.download", sha256(&packed)));
    assert!(
        std::fs::read(&kept).unwrap() == packed,
        "the cached download is not the file"
    );
}
