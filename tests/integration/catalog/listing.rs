//! `blockprint catalog` against nginx: a list in Raspberry Pi Imager's shape (three levels, a
//! linked list, boards, relative addresses) listed, filtered by board and searched, and listed
//! from the cache with its age once the server is gone; hostile catalogs (a link to `file://`,
//! to another scheme, to a missing or to itself, a huge list) refused with one clear line.

use crate::harness::nginx::Nginx;
use crate::harness::support::blockprint_with;

use super::{cli, printed};

const SHA: &str = "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb";

/// The top list: boards, an image, a folder with a folder, a link to `media.json`.
fn top() -> String {
    format!(
        r#"{{
  "imager": {{"devices": [
    {{"name": "Raspberry Pi 5", "tags": ["pi5-64bit"], "matching_type": "exclusive"}},
    {{"name": "Raspberry Pi Zero", "tags": ["pi1-32bit"], "matching_type": "inclusive"}}]}},
  "os_list": [
    {{"name": "Raspberry Pi OS Lite (64-bit)", "description": "No desktop", "icon": "i.png",
      "url": "images/lite.img.xz", "extract_size": 2684354560, "extract_sha256": "{SHA}",
      "image_download_size": 456131584, "release_date": "2026-11-19", "devices": ["pi5-64bit"]}},
    {{"name": "Other", "description": "More systems", "icon": "o.png", "subitems": [
      {{"name": "Legacy (32-bit)", "description": "Older boards", "url": "images/legacy.img.xz",
        "devices": ["pi1-32bit"]}},
      {{"name": "Emulation", "description": "Games", "icon": "e.png", "subitems": [
        {{"name": "RetroPie", "description": "Retro games", "url": "https://elsewhere.example/r.img.gz"}}]}}]}},
    {{"name": "Media players", "description": "Kodi", "icon": "m.png", "subitems_url": "media.json"}}
  ]
}}"#
    )
}

#[test]
fn a_catalog_is_listed_with_its_linked_lists_filtered_by_board_and_searched() {
    let cache = tempfile::tempdir().unwrap();
    let server = Nginx::start();
    server.put("os_list.json", top().as_bytes());
    server.put(
        "media.json",
        br#"{"os_list": [{"name": "LibreELEC", "description": "Kodi, just enough OS",
             "url": "images/le.img.gz", "devices": ["pi5-64bit", "pi1-32bit"]}]}"#,
    );
    let url = server.url("os_list.json").to_string();

    let listed = cli(&["catalog", "--catalog", &url], cache.path());
    let text = printed(&listed);
    let ids: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "raspberry-pi-os-lite-64-bit",
            "other/legacy-32-bit",
            "other/emulation/retropie",
            "media-players/libreelec"
        ],
        "{text}"
    );
    assert!(
        text.starts_with(
            "raspberry-pi-os-lite-64-bit\tRaspberry Pi OS Lite (64-bit)\t2026-11-19\t2.5 GiB"
        ),
        "{text}"
    );

    // The Pi 5 is exclusive: only what is tagged for it, the linked list's entry included.
    let pi5 = cli(
        &["catalog", "--catalog", &url, "--device", "raspberry pi 5"],
        cache.path(),
    );
    let ids: Vec<String> = printed(&pi5)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["raspberry-pi-os-lite-64-bit", "media-players/libreelec"]
    );
    // The Zero is inclusive: untagged images too.
    let zero = cli(
        &[
            "catalog",
            "--catalog",
            &url,
            "--device",
            "pi1-32bit",
            "games",
        ],
        cache.path(),
    );
    assert_eq!(printed(&zero).lines().count(), 1);
    cli(
        &["catalog", "--catalog", &url, "--device", "Pi 9"],
        cache.path(),
    )
    .fails_with(&["knows no board 'Pi 9'", "Raspberry Pi 5, Raspberry Pi Zero"]);

    // JSON: addresses resolved against the catalog's, checksums as hex.
    let json = cli(
        &["catalog", "--catalog", &url, "--json", "lite"],
        cache.path(),
    );
    let list: serde_json::Value = serde_json::from_str(&printed(&json)).unwrap();
    assert_eq!(list[0]["url"], server.url("images/lite.img.xz").to_string());
    assert_eq!(list[0]["extract_sha256"], SHA);
    assert_eq!(list[0]["image_download_size"], 456_131_584);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    // The same list as a local file: its relative addresses cannot be resolved, which it says.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("os_list.json");
    std::fs::write(&local, top()).unwrap();
    cli(
        &["catalog", "--catalog", local.to_str().unwrap()],
        cache.path(),
    )
    .fails_with(&["at os_list[0]: 'url' is not an http(s) address: \"images/lite.img.xz\""]);
}

#[test]
fn hostile_catalogs_are_refused_with_one_clear_line() {
    let cache = tempfile::tempdir().unwrap();
    let server = Nginx::start();
    let list = |link: &str| {
        format!(r#"{{"os_list": [{{"name": "L", "description": "", "subitems_url": "{link}"}}]}}"#)
    };
    for (name, link, wanted) in [
        (
            "file.json",
            "file:///etc/passwd",
            "'subitems_url' is not an http(s) address",
        ),
        (
            "ftp.json",
            "ftp://example.org/l.json",
            "'subitems_url' is not an http(s) address",
        ),
        ("gone.json", "missing.json", "is not on its server (404)"),
        ("self.json", "self.json", "nested more than 8 deep"),
    ] {
        server.put(name, list(link).as_bytes());
        let url = server.url(name).to_string();
        let error = cli(&["catalog", "--catalog", &url], cache.path()).fails_with(&[wanted]);
        assert_eq!(error.lines().count(), 1, "{error}");
    }
    let huge = vec![b' '; (16 << 20) + 1];
    let url = server.put("huge.json", &huge).to_string();
    cli(&["catalog", "--catalog", &url], cache.path()).fails_with(&["larger than"]);
    cli(
        &["catalog", "--catalog", "file:///etc/os.json"],
        cache.path(),
    )
    .fails_with(&["'file:///etc/os.json' is not a catalog address"]);
}

#[test]
fn a_catalog_whose_server_is_gone_is_listed_from_the_cache_with_its_age() {
    let cache = tempfile::tempdir().unwrap();
    let home = cache.path().to_str().unwrap();
    let env = [("XDG_CACHE_HOME", home)];
    let list = |url: &str| {
        blockprint_with(
            ["catalog", "--catalog", url],
            &env,
            None,
            std::time::Duration::from_secs(60),
        )
    };
    let server = Nginx::start();
    server.put("os_list.json", top().as_bytes());
    server.put(
        "media.json",
        br#"[{"name": "LibreELEC", "description": "", "url": "le.img.gz"}]"#,
    );
    let url = server.url("os_list.json").to_string();
    let online = list(&url);
    let fresh = printed(&online);
    assert!(!online.stderr.contains("offline"), "{}", online.stderr);
    assert_eq!(fresh.lines().count(), 4, "{fresh}");
    drop(server);

    // No server: the same list, linked list included, and a warning that says how old it is.
    let offline = list(&url);
    assert_eq!(printed(&offline), fresh);
    assert!(
        offline
            .stderr
            .contains("offline: the list is from just now, as its server cannot be reached"),
        "{}",
        offline.stderr
    );
    // A list never fetched has nothing to fall back on: the server's error, as it is.
    let other = url.replace("os_list.json", "other.json");
    list(&other).fails_with(&["other.json"]);
}
