//! The catalog page's rules: folders, links, the board filter, search, badges and words.

use super::*;

const SHA: &str = "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb";

fn catalog() -> Catalog {
    let text = format!(
        r#"{{
  "imager": {{"devices": [
    {{"name": "Raspberry Pi 5", "tags": ["pi5-64bit"], "matching_type": "exclusive"}},
    {{"name": "Raspberry Pi Zero", "tags": ["pi0-32bit"], "matching_type": "inclusive"}}
  ]}},
  "os_list": [
    {{"name": "Pi OS", "description": "With a desktop", "icon": "https://example.org/pi.png",
      "url": "https://example.org/pi.img.xz", "image_download_size": 1200000000,
      "image_download_sha256": "{SHA}", "release_date": "2026-11-19",
      "devices": ["pi5-64bit", "pi0-32bit"]}},
    {{"name": "Other", "description": "More systems",
      "subitems": [
        {{"name": "Pi OS Lite", "description": "No desktop", "url": "https://example.org/lite.img.xz",
          "devices": ["pi0-32bit"]}},
        {{"name": "Tools", "description": "", "url": "https://example.org/tools.img"}}
      ]}},
    {{"name": "Media", "description": "Kodi", "subitems_url": "https://example.org/media.json"}}
  ]
}}"#
    );
    Catalog::parse(text.as_bytes(), "https://example.org/os_list.json").unwrap()
}

fn list() -> OsList {
    let mut list = OsList {
        loading: true,
        ..OsList::default()
    };
    list.loaded(Ok(catalog()), None);
    list
}

fn titles(view: &OsView) -> Vec<&str> {
    view.rows.iter().map(|r| r.row.title.as_str()).collect()
}

#[test]
fn the_top_level_shows_images_folders_and_links_with_their_facts() {
    let list = list();
    let view = list.view(None);
    assert_eq!(view.busy, None);
    assert_eq!(titles(&view), ["Pi OS", "Other", "Media"]);
    assert_eq!(
        view.boards,
        ["All boards", "Raspberry Pi 5", "Raspberry Pi Zero"]
    );
    let pi = &view.rows[0];
    assert!(!pi.folder && !pi.cached);
    assert!(
        pi.row
            .subtitle
            .starts_with("With a desktop\nReleased 2026-11-19 · 1.2"),
        "{}",
        pi.row.subtitle
    );
    assert!(view.rows[1].folder && view.rows[2].folder);
    assert_eq!((view.folder, view.offline, view.empty), (None, None, None));
}

#[test]
fn a_folder_opens_in_place_and_up_leaves_it() {
    let mut list = list();
    assert_eq!(list.activate("other"), Some(Activated::Opened));
    let view = list.view(None);
    assert_eq!(view.folder.as_deref(), Some("Other"));
    assert_eq!(titles(&view), ["Pi OS Lite", "Tools"]);
    assert!(list.up());
    assert_eq!(titles(&list.view(None)), ["Pi OS", "Other", "Media"]);
    assert!(!list.up());
}

#[test]
fn a_link_is_read_first_and_an_image_is_chosen_with_its_catalog() {
    let mut list = list();
    assert_eq!(
        list.activate("media"),
        Some(Activated::OpenLink("media".into()))
    );
    assert!(list.view(None).busy.is_some());
    let Some(Activated::Choose(chosen)) = list.activate("pi-os") else {
        panic!("an image row chooses the image");
    };
    assert_eq!(
        (chosen.name.as_str(), chosen.catalog.as_str()),
        ("Pi OS", "https://example.org/os_list.json")
    );
    assert_eq!(chosen.image.url.as_str(), "https://example.org/pi.img.xz");
    assert_eq!(list.activate("no-such-id"), None);
}

#[test]
fn a_board_shows_only_what_runs_on_it() {
    let mut list = list();
    // Exclusive: only what is tagged for it (the link is kept: it is not known yet).
    list.board = Some(0);
    let view = list.view(None);
    assert_eq!(view.board, 1);
    assert_eq!(titles(&view), ["Pi OS", "Media"]);
    // Inclusive: what is tagged for it and what is tagged for nothing.
    list.board = Some(1);
    assert_eq!(titles(&list.view(None)), ["Pi OS", "Other", "Media"]);
    list.activate("other");
    assert_eq!(titles(&list.view(None)), ["Pi OS Lite", "Tools"]);
    list.board = Some(0);
    let view = list.view(None);
    assert!(view.rows.is_empty());
    assert_eq!(
        view.empty.map(|e| e.title).as_deref(),
        Some("Nothing for This Board")
    );
}

#[test]
fn a_search_looks_through_the_whole_tree_for_images() {
    let mut list = list();
    list.search = "  lite ".into();
    assert_eq!(titles(&list.view(None)), ["Pi OS Lite"]);
    list.search = "desktop".into();
    // "No desktop" and "With a desktop": descriptions count.
    assert_eq!(titles(&list.view(None)), ["Pi OS", "Pi OS Lite"]);
    list.search = "windows".into();
    let view = list.view(None);
    let empty = view.empty.expect("says why the list is empty");
    assert_eq!(empty.title, "No Match");
    assert!(empty.subtitle.contains("“windows”"), "{}", empty.subtitle);
    // Opening a folder clears the search.
    list.search = "x".into();
    list.activate("other");
    assert!(list.search.is_empty());
}

#[test]
fn a_kept_download_has_its_badge_and_a_fetched_icon_its_picture() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ImageCache::new(dir.path().to_path_buf(), 1 << 30);
    let mut list = list();
    list.icons
        .insert("https://example.org/pi.png".into(), "/icons/pi.png".into());
    std::fs::write(dir.path().join(format!("{SHA}.download")), b"kept").unwrap();
    let view = list.view(Some(&cache));
    assert!(view.rows[0].cached);
    assert_eq!(
        view.rows[0].icon.as_deref(),
        Some(std::path::Path::new("/icons/pi.png"))
    );
    assert_eq!(view.rows[1].icon, None);
}

#[test]
fn an_error_is_shown_and_a_list_from_the_cache_says_how_old_it_is() {
    let mut list = OsList::default();
    let why = Row {
        title: "No Connection".into(),
        subtitle: "The list cannot be read.".into(),
    };
    list.loaded(Err((why.clone(), "details".into())), None);
    let view = list.view(None);
    assert_eq!(view.error, Some((why, "details".into())));
    assert!(view.rows.is_empty() && view.empty.is_none());
    let mut old = catalog();
    old.fetched = Some(std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400));
    list.loaded(Ok(old), None);
    let view = list.view(None);
    assert_eq!(view.error, None);
    assert_eq!(
        view.offline.as_deref(),
        Some("Offline: the list is from 3 days ago")
    );
}
