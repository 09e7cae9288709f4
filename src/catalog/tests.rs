//! Catalogs in Raspberry Pi Imager's shape, good and hostile.

use super::*;

const SHA: &str = "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb";
const ORIGIN: &str = "https://example.org/lists/os_list.json";

/// A catalog of three levels with boards, a link and a folder, as the public list is shaped.
fn sample() -> String {
    format!(
        r#"{{
  "imager": {{
    "latest_version": "2.0.11",
    "devices": [
      {{"name": "Raspberry Pi 5", "tags": ["pi5-64bit", "pi5-32bit"], "matching_type": "exclusive",
        "description": "The newest"}},
      {{"name": "No filtering", "tags": [], "matching_type": "inclusive"}}
    ]
  }},
  "os_list": [
    {{"name": "Raspberry Pi OS (64-bit)", "description": "A port of Debian with the desktop",
      "icon": "icons/rpi.png", "url": "https://example.org/images/raspios-arm64.img.xz",
      "extract_size": 4156555264, "extract_sha256": "{SHA}", "image_download_size": 1189750489,
      "image_download_sha256": "{SHA}", "release_date": "2026-11-19", "init_format": "cloudinit",
      "devices": ["pi5-64bit", "pi4-64bit"], "bmap_url": "raspios-arm64.img.bmap",
      "some_future_field": {{"ignored": true}}}},
    {{"name": "Other", "description": "More", "icon": "icons/other.png",
      "subitems": [
        {{"name": "Lite", "description": "No desktop", "url": "https://example.org/lite.img.xz",
          "devices": ["pi3-32bit"]}},
        {{"name": "Emulation", "description": "Games", "icon": "x.png",
          "subitems": [{{"name": "Retro", "description": "", "url": "/retro.img.gz"}}]}}
      ]}},
    {{"name": "Media players", "description": "Kodi", "icon": "m.png",
      "subitems_url": "https://example.org/lists/media.json"}},
    {{"name": "Lite", "description": "The same name at the top", "url": "https://example.org/l.img"}}
  ]
}}"#
    )
}

fn parse(text: &str) -> Result<Catalog, CatalogError> {
    Catalog::parse(text.as_bytes(), ORIGIN)
}

#[test]
fn the_public_shape_is_read_into_one_tree_with_ids_boards_and_links() {
    let catalog = parse(&sample()).unwrap();
    assert_eq!(catalog.boards.len(), 2);
    assert_eq!(catalog.boards[0].tags, ["pi5-64bit", "pi5-32bit"]);
    assert!(catalog.boards[0].exclusive && !catalog.boards[1].exclusive);
    let ids: Vec<&str> = catalog.walk().iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "raspberry-pi-os-64-bit",
            "other",
            "other/lite",
            "other/emulation",
            "other/emulation/retro",
            "media-players",
            "lite"
        ]
    );
    let os = catalog.find("raspberry-pi-os-64-bit").unwrap();
    let EntryKind::Image(image) = &os.kind else {
        panic!("an image: {os:?}");
    };
    assert_eq!(image.extract_size, Some(4_156_555_264));
    assert_eq!(image.extract_sha256.map(|d| d[0]), Some(0x69));
    assert_eq!(image.download_size, Some(1_189_750_489));
    assert_eq!(image.init_format.as_deref(), Some("cloudinit"));
    // Relative addresses are the catalog's own neighbours.
    assert_eq!(
        os.icon.as_ref().map(Url::as_str),
        Some("https://example.org/lists/icons/rpi.png")
    );
    assert_eq!(
        image.bmap_url.as_ref().map(Url::as_str),
        Some("https://example.org/lists/raspios-arm64.img.bmap")
    );
    let retro = catalog.find("other/emulation/retro").unwrap();
    assert!(
        matches!(&retro.kind, EntryKind::Image(i) if i.url.as_str() == "https://example.org/retro.img.gz")
    );
    assert!(matches!(
        &catalog.find("media-players").unwrap().kind,
        EntryKind::Link(url) if url.as_str() == "https://example.org/lists/media.json"
    ));
    // By name: only when one image has it ("Lite" is two).
    assert_eq!(
        catalog
            .find("raspberry pi os (64-BIT)")
            .map(|e| e.id.as_str()),
        Some("raspberry-pi-os-64-bit")
    );
    assert!(catalog.find("Lite").is_none());
    assert_eq!(catalog.find("lite").map(|e| e.id.as_str()), Some("lite"));
}

#[test]
fn a_board_shows_what_runs_on_it() {
    let catalog = parse(&sample()).unwrap();
    let pi5 = catalog.board("Raspberry Pi 5").unwrap();
    let runs: Vec<&str> = catalog
        .entries
        .iter()
        .filter(|e| e.runs_on(pi5))
        .map(|e| e.id.as_str())
        .collect();
    // The Pi 5 is exclusive: untagged images are not for it; the folder holds only a Pi 3
    // image and an untagged one; the link is not known until opened.
    assert_eq!(runs, ["raspberry-pi-os-64-bit", "media-players"]);
    let any = catalog.board("no filtering").unwrap();
    assert_eq!(catalog.entries.iter().filter(|e| e.runs_on(any)).count(), 3);
    assert!(
        catalog.board("pi5-32bit").is_some(),
        "a tag names its board too"
    );
    assert!(
        catalog.find("other").unwrap().matches("MORE"),
        "a folder's own words"
    );
    assert!(
        catalog
            .find("other/emulation")
            .unwrap()
            .matches("emul games")
    );
}

#[test]
fn a_bare_list_is_a_linked_list() {
    let catalog = parse(r#"[{"name": "A", "url": "https://example.org/a.img"}]"#).unwrap();
    assert!(catalog.boards.is_empty());
    assert_eq!(catalog.entries[0].id, "a");
}

#[test]
fn wrong_values_are_named_where_they_are() {
    let cases: [(&str, &str); 9] = [
        ("{", "not JSON"),
        ("3", "'the catalog' is a number, not an object"),
        ("{}", "'os_list' is missing"),
        (r#"{"os_list": {}}"#, "'os_list' is an object, not a list"),
        (
            r#"{"os_list": [{"name": "A", "url": "https://e.org/a", "extract_size": "big"}]}"#,
            "at os_list[0]: 'extract_size' is text, not a size in bytes",
        ),
        (
            r#"{"os_list": [{"name": "A", "url": "https://e.org/a", "extract_size": -1}]}"#,
            "'extract_size' is a number, not a size in bytes",
        ),
        (
            r#"{"os_list": [{"name": "A", "url": "https://e.org/a", "extract_sha256": "+aaa"}]}"#,
            "'extract_sha256' is not a SHA-256",
        ),
        (
            r#"{"os_list": [{"name": "A", "subitems": [{"name": "B", "url": "file:///etc/passwd"}]}]}"#,
            "at os_list[0].subitems[0]: 'url' is not an http(s) address: \"file:///etc/passwd\"",
        ),
        (
            r#"{"os_list": [{"name": "A", "description": "nothing to write"}]}"#,
            "the entry has no 'url', 'subitems' or 'subitems_url'",
        ),
    ];
    for (text, wanted) in cases {
        let error = parse(text).expect_err(text).to_string();
        assert!(
            error.starts_with("catalog 'https://example.org/lists/os_list.json'")
                && error.contains(wanted)
                && error.contains("; "),
            "{text}: {error}"
        );
    }
    let sha = "a".repeat(63) + "+";
    assert!(rpi::parse_sha256(&sha).is_none());
    // A catalog read from a file has nothing to resolve relative addresses against.
    let local = Catalog::parse(br#"[{"name": "A", "url": "a.img"}]"#, "/srv/list.json");
    assert!(
        local
            .unwrap_err()
            .to_string()
            .contains("'url' is not an http(s) address")
    );
    for scheme in [
        "ftp://e.org/a.img",
        "javascript:alert(1)",
        "data:,x",
        "http://",
    ] {
        let text = format!(r#"[{{"name": "A", "url": "{scheme}"}}]"#);
        assert!(parse(&text).is_err(), "{scheme} was taken");
    }
}

#[test]
fn huge_or_deep_catalogs_are_refused() {
    let mut deep = String::from(r#"{"name": "x", "url": "https://e.org/x"}"#);
    for _ in 0..MAX_DEPTH {
        deep = format!(r#"{{"name": "f", "subitems": [{deep}]}}"#);
    }
    let error = parse(&format!("[{deep}]")).unwrap_err();
    assert_eq!(error.kind, CatalogErrorKind::TooDeep);
    let many = vec![r#"{"name": "x", "url": "https://e.org/x"}"#; MAX_ENTRIES + 1].join(",");
    let error = parse(&format!("[{many}]")).unwrap_err();
    assert_eq!(error.kind, CatalogErrorKind::TooMany);
    assert!(error.to_string().contains("it is not a list of images"));
    let huge = vec![b' '; MAX_BYTES as usize + 1];
    assert_eq!(
        Catalog::parse(&huge, ORIGIN).unwrap_err().kind,
        CatalogErrorKind::TooLarge
    );
    // Nested past serde_json's own limit: an error, not a stack overflow.
    let nested = "[".repeat(100_000);
    assert!(matches!(
        parse(&nested).unwrap_err().kind,
        CatalogErrorKind::Json(_)
    ));
}

#[test]
fn locations_are_paths_or_http_addresses_only() {
    assert_eq!(
        Location::parse("lists/os.json").unwrap(),
        Location::File("lists/os.json".into())
    );
    assert!(matches!(
        Location::parse("https://e.org/os.json").unwrap(),
        Location::Url(_)
    ));
    for refused in [
        "file:///etc/os.json",
        "ftp://e.org/os.json",
        "ssh://e.org/os.json",
    ] {
        let error = Location::parse(refused).unwrap_err().to_string();
        assert!(error.contains("is not a catalog address"), "{error}");
    }
}

#[test]
fn ages_are_said_in_words() {
    use std::time::{Duration, SystemTime};
    let ago = |seconds| age(SystemTime::now() - Duration::from_secs(seconds));
    assert_eq!(ago(5), "just now");
    assert_eq!(ago(60), "1 minute ago");
    assert_eq!(ago(7200), "2 hours ago");
    assert_eq!(ago(3 * 86_400 + 5), "3 days ago");
    assert_eq!(age(SystemTime::now() + Duration::from_secs(60)), "just now");
}

#[test]
fn fedoras_releases_json_is_read_as_folders_of_subvariants_with_a_board_per_architecture() {
    let text = format!(
        r#"[
  {{"version": "41", "arch": "x86_64", "link": "https://download.example.org/41/Fedora-Workstation-Live-x86_64-41-1.4.iso",
    "variant": "Workstation", "subvariant": "Workstation", "sha256": "{SHA}", "size": "2398523392"}},
  {{"version": "41", "arch": "aarch64", "link": "https://download.example.org/41/Fedora-Workstation-41-1.4.aarch64.raw.xz",
    "variant": "Workstation", "subvariant": "Workstation", "sha256": "{SHA}", "size": "2880000000"}},
  {{"version": "41", "arch": "x86_64", "link": "https://download.example.org/41/Fedora-Cloud-Base-41.x86_64.qcow2",
    "variant": "Cloud", "subvariant": "Cloud_Base", "sha256": "{SHA}", "size": "500000000"}},
  {{"version": "41", "arch": "x86_64", "link": "https://download.example.org/41/Fedora-Server-dvd-x86_64-41-1.4.iso",
    "variant": "Server", "subvariant": "Server", "sha256": "{SHA}", "size": 2700000000}}
]"#
    );
    let catalog = parse(&text).unwrap();
    let names: Vec<&str> = catalog.boards.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["x86_64", "aarch64"]);
    assert!(catalog.boards.iter().all(|b| b.exclusive));
    let ids: Vec<&str> = catalog.walk().iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "fedora-workstation",
            "fedora-workstation/fedora-workstation-41-x86-64",
            "fedora-workstation/fedora-workstation-41-aarch64",
            "fedora-server",
            "fedora-server/fedora-server-41-x86-64",
        ],
        "the cloud image is not for a stick"
    );
    let EntryKind::Image(image) = &catalog.walk()[1].kind else {
        panic!("an image");
    };
    assert_eq!(image.download_size, Some(2_398_523_392));
    assert!(image.download_sha256.is_some());
    let arm = catalog.board("aarch64").unwrap();
    assert!(!catalog.walk()[1].runs_on(arm) && catalog.walk()[2].runs_on(arm));

    // A hostile value is still named where it is.
    let bad = r#"[{"version": "41", "arch": "x86_64", "link": "file:///etc/passwd.iso",
                   "variant": "W", "subvariant": "W", "sha256": "x", "size": "1"}]"#;
    let error = parse(bad).unwrap_err();
    assert!(
        matches!(error.kind, CatalogErrorKind::Url { .. }),
        "{error}"
    );
}

#[test]
fn beagleboards_remote_configs_become_links() {
    let text = r#"{"imager": {"remote_configs": ["https://lists.example.org/distros/os_list.json"],
        "devices": [{"name": "BeagleY-AI", "tags": ["beagley-ai"], "flasher": "SdCard"}]},
      "os_list": [{"name": "Debian", "description": "", "url": "https://example.org/d.img.xz"}]}"#;
    let catalog = parse(text).unwrap();
    assert_eq!(catalog.entries.len(), 2);
    let link = &catalog.entries[1];
    assert_eq!(link.name, "lists.example.org/distros/os_list.json");
    assert!(
        matches!(&link.kind, EntryKind::Link(url) if url.host_str() == Some("lists.example.org"))
    );
    let bad = r#"{"imager": {"remote_configs": [7]}, "os_list": []}"#;
    assert!(
        parse(bad).is_err(),
        "a link that is not an address is refused"
    );
}
