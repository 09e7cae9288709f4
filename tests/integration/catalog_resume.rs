//! A catalog download whose connection drops twice is resumed where it broke off (Range with
//! If-Range), so the server sends the file about once, not once per attempt; the image is
//! still checked against both of the catalog's SHA-256s and kept in the cache whole. The entry
//! has no bmap, and needs none: `copy catalog:ID` writes all of it without `--nobmap`. A run
//! that fails part-way leaves what came in the cache, and the next run asks only for the rest.

use std::path::{Path, PathBuf};

use crate::catalog::{cli, sha256};
use crate::harness::http_server::{Behaviour, Ranges, Request, Server};
use crate::harness::support::{Run, sh, sparse_image};

/// A 5 MiB image, xz-compressed: (the image, the download).
fn image(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let (image, _, content) = sparse_image(dir, 5 << 20);
    sh("xz", &["-k", "-T1", "-0", image.to_str().unwrap()]);
    (
        content,
        std::fs::read(image.with_extension("img.xz")).unwrap(),
    )
}

/// `copy catalog:pi-os` from a catalog whose one entry is `server`'s `/pi.img.xz`, with the
/// SHA-256s of `content` and `packed`, into `dir/written.img`.
fn copy(
    dir: &Path,
    cache: &Path,
    server: &Server,
    (content, packed): (&[u8], &[u8]),
) -> (Run, PathBuf) {
    let catalog = dir.join("list.json");
    std::fs::write(
        &catalog,
        format!(
            r#"{{"os_list": [{{"name": "Pi OS", "description": "", "url": "{url}",
                "extract_size": {size}, "extract_sha256": "{extract}",
                "image_download_size": {packed_len}, "image_download_sha256": "{download}",
                "release_date": "2026-11-19"}}]}}"#,
            url = server.url("pi.img.xz"),
            size = content.len(),
            extract = sha256(content),
            packed_len = packed.len(),
            download = sha256(packed),
        ),
    )
    .unwrap();
    let dest = dir.join("written.img");
    let args = [
        "copy",
        "--catalog",
        catalog.to_str().unwrap(),
        "catalog:pi-os",
        dest.to_str().unwrap(),
    ];
    (cli(&args, cache), dest)
}

/// The bytes `server` sent for `/pi.img.xz` (each answer's range, or the first `cut_after`
/// of it for the first `cut` answers), and those requests.
fn sent(server: &Server, len: usize, (cut, cut_after): (usize, usize)) -> (usize, Vec<Request>) {
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
                let last = b.parse().map_or(len - 1, |b: usize| b.min(len - 1));
                (a.parse::<usize>().unwrap(), last)
            }
            None => (0, len - 1),
        };
        let whole = last + 1 - first;
        sent += if i < cut { whole.min(cut_after) } else { whole };
    }
    (sent, requests)
}

#[test]
fn a_download_that_breaks_off_twice_is_resumed_and_sent_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (content, packed) = image(dir.path());
    let cut_after = packed.len() / 3;
    let server = Server::start(Behaviour {
        // The first two answers for the image break off, a third of the file each.
        cut: 0..2,
        cut_after,
        only: Some("/pi.img.xz"),
        ..Behaviour::serving(packed.clone())
    });
    let (run, dest) = copy(dir.path(), cache.path(), &server, (&content, &packed));
    let said = run.ok();
    // No bmap beside it (the server has none): the catalog's SHA-256s check it whole.
    assert!(
        said.contains("no bmap for") && said.contains("checked as its catalog says"),
        "{said}"
    );
    assert!(
        std::fs::read(&dest).unwrap() == content,
        "the written image differs"
    );
    let (sent, requests) = sent(&server, packed.len(), (2, cut_after));
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

/// A download that fails (its server cannot resume within the run) leaves its part in the
/// cache; the next run asks only for the rest, and the whole passes both SHA-256s.
#[test]
fn a_download_cut_short_in_one_run_goes_on_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (content, packed) = image(dir.path());
    let cut_after = packed.len() / 2;
    let first = Server::start(Behaviour {
        ranges: Ranges::Ignore,
        accept_ranges: false,
        cut: 0..1,
        cut_after,
        only: Some("/pi.img.xz"),
        ..Behaviour::serving(packed.clone())
    });
    let (run, dest) = copy(dir.path(), cache.path(), &first, (&content, &packed));
    run.fails_with(&["cannot resume"]);
    assert!(!dest.exists(), "a failed download left a destination");
    let part = cache
        .path()
        .join("blockprint/images")
        .join(format!("{}.part", sha256(&packed)));
    let have = std::fs::metadata(&part).map_or(0, |m| m.len() as usize);
    assert!(have > 0, "the cut download left no part in the cache");
    let run = cli(&["cache", "list"], cache.path());
    run.ok();
    let listed = String::from_utf8_lossy(&run.stdout);
    assert!(
        listed.starts_with(&sha256(&packed)) && listed.contains("\tpart: "),
        "cache list does not show the part: {listed}"
    );
    drop(first);

    let second = Server::start(Behaviour {
        only: Some("/pi.img.xz"),
        ..Behaviour::serving(packed.clone())
    });
    let (run, dest) = copy(dir.path(), cache.path(), &second, (&content, &packed));
    let said = run.ok();
    assert!(
        said.contains(&format!(
            "image '{}': resuming the download at {have} of",
            second.url("pi.img.xz")
        )),
        "{said}"
    );
    assert!(
        std::fs::read(&dest).unwrap() == content,
        "the written image differs"
    );
    let (again, requests) = sent(&second, packed.len(), (0, 0));
    let ranges: Vec<_> = requests.iter().filter_map(|r| r.header("Range")).collect();
    assert!(
        ranges.contains(&format!("bytes={have}-{}", packed.len() - 1).as_str()),
        "{ranges:?}"
    );
    assert!(
        (have + again) as f64 <= 1.05 * packed.len() as f64,
        "{have} + {again} bytes sent for a file of {}",
        packed.len()
    );
    assert!(!part.exists(), "the part is left beside the kept download");
    let kept = part.with_extension("download");
    assert!(
        std::fs::read(&kept).unwrap() == packed,
        "the resumed download is not kept whole"
    );
}

/// A catalog image without a bmap is written as its filesystems say, and the bmap of what
/// was written is kept beside the cached download: the next card of it is written from the
/// cache with that bmap, found by discovery after what the catalog and the server publish.
#[test]
fn the_bmap_made_while_writing_is_kept_for_the_next_card() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let raw = dir.path().join("sample.img");
    sh(
        concat!(env!("CARGO_MANIFEST_DIR"), "/build-aux/make-sample-image"),
        &[raw.to_str().unwrap()],
    );
    let content = std::fs::read(&raw).unwrap();
    // Every block the scanner maps must be on the destination (free ones may differ).
    let reference = dir.path().join("reference.bmap");
    cli(
        &[
            "-q",
            "scan",
            "-o",
            reference.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
        cache.path(),
    )
    .ok();
    let holds_the_image = |dest: &Path| {
        cli(
            &[
                "-q",
                "verify",
                "--bmap",
                reference.to_str().unwrap(),
                dest.to_str().unwrap(),
            ],
            cache.path(),
        )
        .ok();
    };
    sh("xz", &["-k", "-T1", "-0", raw.to_str().unwrap()]);
    let packed = std::fs::read(raw.with_extension("img.xz")).unwrap();
    let server = Server::start(Behaviour {
        only: Some("/pi.img.xz"),
        ..Behaviour::serving(packed.clone())
    });
    let (run, dest) = copy(dir.path(), cache.path(), &server, (&content, &packed));
    let said = run.ok().to_owned();
    assert!(said.contains("read as it passes"), "{said}");
    assert!(
        said.contains("kept the bmap of what was written beside the cached download"),
        "{said}"
    );
    holds_the_image(&dest);
    let kept = cache
        .path()
        .join(format!("blockprint/images/{}.bmap", sha256(&packed)));
    let bmap = blockprint::bmap::Bmap::from_file(&kept).unwrap();
    assert!(
        bmap.mapped_bytes() < content.len() as u64 / 4,
        "the kept bmap maps {} of {} bytes",
        bmap.mapped_bytes(),
        content.len()
    );

    std::fs::remove_file(&dest).unwrap();
    let (run, dest) = copy(dir.path(), cache.path(), &server, (&content, &packed));
    let said = run.ok();
    assert!(
        said.contains(&format!("discovered bmap file '{}'", kept.display())),
        "{said}"
    );
    holds_the_image(&dest);
    let (run, _) = (cli(&["cache", "clear"], cache.path()), ());
    run.ok();
    assert!(!kept.exists(), "clearing the cache left the bmap");
}
