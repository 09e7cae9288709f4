//! Catalogs against nginx. `blockprint catalog`: a list in Raspberry Pi Imager's shape (three
//! levels, a linked list, boards, relative addresses) listed, filtered by board and searched,
//! and listed from the cache once the server is gone; hostile catalogs (a link to `file://`,
//! to another scheme, a huge list) refused with one clear line. `blockprint copy catalog:ID`:
//! an entry written byte for byte, and one whose download or image does not match the
//! catalog's SHA-256 refused before the image is final (no file; a card's first MiB zero).

use crate::harness::nginx::Nginx;
use std::path::Path;

use crate::harness::support::{
    LoopDevice, Run, blockprint_with, random_bytes, read_at, require_root, sh, sparse_image,
};

const MIB: u64 = 1 << 20;

/// `blockprint ARGS` with its caches in `cache` (never the user's own).
pub(crate) fn cli(args: &[&str], cache: &Path) -> Run {
    blockprint_with(
        args,
        &[("XDG_CACHE_HOME", cache.to_str().unwrap())],
        None,
        std::time::Duration::from_secs(60),
    )
}

/// What a successful run printed on standard output.
fn printed(run: &Run) -> String {
    run.ok();
    String::from_utf8(run.stdout.clone()).expect("UTF-8 output")
}

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

/// Lower-case hex of the SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_catalog_entry_is_written_checked_against_its_sha256s_or_not_at_all() {
    let cache = tempfile::tempdir().unwrap();
    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let (image, bmap, content) = sparse_image(dir.path(), 5 * MIB);
    sh("xz", &["-k", "-T1", "-0", image.to_str().unwrap()]);
    let packed = std::fs::read(image.with_extension("img.xz")).unwrap();
    server.put("pi.img.xz", &packed);
    server.put("pi.bmap", &std::fs::read(&bmap).unwrap());
    let entry = |extract: &str, download: &str| {
        format!(
            r#"{{"os_list": [{{"name": "Pi OS", "description": "", "url": "pi.img.xz",
                "bmap_url": "pi.bmap", "extract_size": {size}, "extract_sha256": "{extract}",
                "image_download_size": {packed}, "image_download_sha256": "{download}",
                "release_date": "2026-11-19"}}]}}"#,
            size = content.len(),
            packed = packed.len(),
        )
    };
    let good = (sha256(&content), sha256(&packed));
    let wrong = "0".repeat(64);
    for (name, (extract, download), wanted) in [
        ("good.json", (good.0.as_str(), good.1.as_str()), None),
        (
            "extract.json",
            (wrong.as_str(), good.1.as_str()),
            Some("image '"),
        ),
        (
            "download.json",
            (good.0.as_str(), wrong.as_str()),
            Some("the download of '"),
        ),
    ] {
        server.put(name, entry(extract, download).as_bytes());
        let catalog = server.url(name).to_string();
        let dest = dir.path().join(format!("{name}.img"));
        let run = cli(
            &[
                "copy",
                "--catalog",
                &catalog,
                "catalog:pi-os",
                dest.to_str().unwrap(),
            ],
            cache.path(),
        );
        match wanted {
            None => {
                let said = run.ok();
                assert!(
                    said.contains(
                        "catalog entry 'pi-os': Pi OS (2026-11-19), checked against the \
                                   download's and the image's SHA-256"
                    ),
                    "{said}"
                );
                assert!(
                    said.contains("pi.bmap"),
                    "the catalog's bmap is used: {said}"
                );
                assert!(
                    std::fs::read(&dest).unwrap() == content,
                    "the written image differs"
                );
            }
            Some(what) => {
                // Found when the data ends, before the image is final: no file appears.
                let line = run.fails_with(&[what, &wrong, "damaged or was changed on the server"]);
                assert!(!dest.exists(), "{name}: a destination was left ({line})");
            }
        }
    }
    // The download was kept once, under the SHA-256 that matched; the one that did not match
    // left nothing. The next card is written from the cache: not one byte from the server.
    let kept: Vec<String> = std::fs::read_dir(cache.path().join("blockprint/images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".download"))
        .collect();
    assert_eq!(kept, [format!("{}.download", good.1)]);
    let downloads = || {
        server
            .log()
            .iter()
            .filter(|l| l.request.contains("/pi.img.xz"))
            .count()
    };
    let before = downloads();
    let again = dir.path().join("again.img");
    let catalog = server.url("good.json").to_string();
    let said = cli(
        &[
            "copy",
            "--catalog",
            &catalog,
            "catalog:pi-os",
            again.to_str().unwrap(),
        ],
        cache.path(),
    )
    .ok()
    .to_owned();
    assert!(said.contains("the image is in the cache"), "{said}");
    assert_eq!(downloads(), before, "the image was downloaded again");
    assert!(std::fs::read(&again).unwrap() == content);
    // What is kept, and away with it.
    let listed = printed(&cli(&["cache", "list"], cache.path()));
    assert!(listed.starts_with(&format!("{}\t", good.1)), "{listed}");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let cleared = cli(&["cache", "clear"], cache.path());
    assert!(
        cleared.ok().contains("deleted 1 kept download ("),
        "{}",
        cleared.stderr
    );
    assert!(printed(&cli(&["cache", "list"], cache.path())).is_empty());

    // On a drive: refused when the data ends, before the image's first MiB is written, so
    // the card does not look bootable (its first MiB was zeroed before anything else).
    require_root("a catalog write to a loop device");
    let backing = dir.path().join("card.bin");
    std::fs::write(&backing, random_bytes(9, 8 << 20)).unwrap();
    let card = LoopDevice::new(&backing);
    let catalog = server.url("extract.json").to_string();
    cli(
        &["copy", "--catalog", &catalog, "catalog:pi-os", card.name()],
        cache.path(),
    )
    .fails_with(&["image '", "damaged or was changed on the server"]);
    assert!(
        read_at(Path::new(card.name()), 0, MIB as usize)
            .iter()
            .all(|&b| b == 0),
        "the card's first MiB is not zero after a refused catalog write"
    );
    let catalog = server.url("good.json").to_string();
    cli(
        &[
            "copy",
            "--catalog",
            &catalog,
            "catalog:nothing",
            "/dev/null",
        ],
        cache.path(),
    )
    .fails_with(&["has no image 'nothing'", "`blockprint catalog` lists them"]);
}

#[test]
fn an_image_beside_a_signed_sha256sums_is_checked_against_it() {
    use crate::signatures::{Gpg, KEYS_MADE, SIGNED};

    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(21, 3 << 20);
    let url = server.put("debian.iso", &content).to_string();
    let sums = format!(
        "{}  other.iso\n{}  debian.iso\n",
        "1".repeat(64),
        sha256(&content)
    );
    let sums_file = dir.path().join("SHA256SUMS");
    std::fs::write(&sums_file, &sums).unwrap();
    server.put("SHA256SUMS", sums.as_bytes());
    let gpg = Gpg::new();
    let signer = gpg.key(
        "Debian CD signing key <debian-cd@lists.debian.org>",
        KEYS_MADE,
        "never",
    );
    let signature = dir.path().join("SHA256SUMS.sign");
    gpg.sign(
        &[&signer],
        "--detach-sign",
        false,
        SIGNED,
        &sums_file,
        &signature,
    );
    server.put("SHA256SUMS.sign", &std::fs::read(&signature).unwrap());
    // The publisher's key in the user's trusted keys; no GnuPG keyring; a cache per run.
    let config = tempfile::tempdir().unwrap();
    let keys = config.path().join("blockprint/trusted-keys");
    std::fs::create_dir_all(&keys).unwrap();
    gpg.export(&signer, true, &keys.join("debian-cd.asc"));
    let untrusting = tempfile::tempdir().unwrap();
    let copy = |config: &Path, dest: &Path| {
        let cache = tempfile::tempdir().unwrap();
        blockprint_with(
            ["copy", "--nobmap", &url, dest.to_str().unwrap()],
            &[
                ("XDG_CONFIG_HOME", config.to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                ("GNUPGHOME", config.join("no-gnupg").to_str().unwrap()),
            ],
            None,
            std::time::Duration::from_secs(60),
        )
    };

    let dest = dir.path().join("written.iso");
    let said = copy(config.path(), &dest).ok().to_owned();
    assert!(
        said.contains(&format!(
            "official image: its SHA-256 is in '{}', signed by Debian CD signing key \
             <debian-cd@lists.debian.org>",
            server.url("SHA256SUMS")
        )),
        "{said}"
    );
    assert!(std::fs::read(&dest).unwrap() == content);

    // Signed by a key the user does not trust: said, and the image written as any URL is.
    let dest = dir.path().join("untrusted.iso");
    let said = copy(untrusting.path(), &dest).ok().to_owned();
    assert!(said.contains("which you do not trust"), "{said}");
    assert!(!said.contains("official image"), "{said}");

    // The image changed on the server: its SHA-256 is not the signed one; nothing is left.
    server.put("debian.iso", &random_bytes(22, 3 << 20));
    let dest = dir.path().join("changed.iso");
    copy(config.path(), &dest).fails_with(&[
        &url,
        "was published for it",
        "damaged or was changed",
    ]);
    assert!(!dest.exists());

    // The checksum file changed after it was signed: refused before anything is written.
    server.put("debian.iso", &content);
    server.put(
        "SHA256SUMS",
        format!("{sums}{}  evil.iso\n", "2".repeat(64)).as_bytes(),
    );
    copy(config.path(), &dest).fails_with(&[
        "is not validly signed: a bad signature by Debian CD signing key",
        "nothing was written",
    ]);
    assert!(!dest.exists());
}

/// A catalog signed with a detached `.sig` by a trusted key is read and its signer said; one
/// changed after signing, or signed by a key not trusted, is refused; with a key pinned
/// (`--catalog-key`), an unsigned one is refused too. The cached copy is judged again offline.
#[test]
fn a_signed_catalog_is_checked_and_a_pinned_key_makes_its_signature_required() {
    use crate::signatures::{Gpg, KEYS_MADE, SIGNED};

    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let list = r#"{"os_list": [{"name": "Lists OS", "description": "Signed", "url": "https://example.org/a.img"}]}"#;
    let file = dir.path().join("os_list.json");
    std::fs::write(&file, list).unwrap();
    server.put("os_list.json", list.as_bytes());
    let gpg = Gpg::new();
    let signer = gpg.key("Image Lists <lists@example.org>", KEYS_MADE, "never");
    let signature = dir.path().join("os_list.json.sig");
    gpg.sign(
        &[&signer],
        "--detach-sign",
        false,
        SIGNED,
        &file,
        &signature,
    );
    server.put("os_list.json.sig", &std::fs::read(&signature).unwrap());
    let config = tempfile::tempdir().unwrap();
    let keys = config.path().join("blockprint/trusted-keys");
    std::fs::create_dir_all(&keys).unwrap();
    gpg.export(&signer, true, &keys.join("lists.asc"));
    let untrusting = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let url = server.url("os_list.json").to_string();
    let list_with = |config: &Path, extra: &[&str]| {
        let mut args = vec!["catalog", "--catalog", &url];
        args.extend(extra);
        blockprint_with(
            args,
            &[
                ("XDG_CONFIG_HOME", config.to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                ("GNUPGHOME", config.join("no-gnupg").to_str().unwrap()),
            ],
            None,
            std::time::Duration::from_secs(60),
        )
    };

    let said = list_with(config.path(), &["--catalog-key", &signer])
        .ok()
        .to_owned();
    assert!(
        said.contains(&format!(
            "catalog '{url}' is signed by Image Lists <lists@example.org> (key {signer})"
        )),
        "{said}"
    );
    list_with(untrusting.path(), &[]).fails_with(&[&url, "which you do not trust", "trusted-keys"]);

    // Offline, the cached list is judged again with its kept signature.
    let offline = server.url("os_list.json").to_string();
    drop(server);
    let run = blockprint_with(
        ["catalog", "--catalog", &offline, "--catalog-key", &signer],
        &[
            ("XDG_CONFIG_HOME", config.path().to_str().unwrap()),
            ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
            (
                "GNUPGHOME",
                config.path().join("no-gnupg").to_str().unwrap(),
            ),
        ],
        None,
        std::time::Duration::from_secs(60),
    );
    let said = run.ok();
    assert!(
        said.contains("offline") && said.contains("is signed by"),
        "{said}"
    );

    // A local list: changed after signing, refused; unsigned with a key pinned, refused.
    std::fs::write(&file, format!("{list} ")).unwrap();
    let local = file.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["catalog", "--catalog", local];
        args.extend(extra);
        blockprint_with(
            args,
            &[
                ("XDG_CONFIG_HOME", config.path().to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                (
                    "GNUPGHOME",
                    config.path().join("no-gnupg").to_str().unwrap(),
                ),
            ],
            None,
            std::time::Duration::from_secs(60),
        )
    };
    run(&[]).fails_with(&[local, "bad: the list was changed after"]);
    std::fs::remove_file(&signature).unwrap();
    run(&["--catalog-key", &signer]).fails_with(&[local, "is not signed", &signer]);
    printed(&run(&[]));
}

/// Fedora's way: the image's folder lists a clearsigned `…-CHECKSUM` with `SHA256 (NAME) =`
/// lines; signed by a trusted key, the image is official and checked against it.
#[test]
fn an_image_beside_a_clearsigned_fedora_checksum_is_checked_against_it() {
    use crate::signatures::{Gpg, KEYS_MADE, SIGNED};

    let server = Nginx::start();
    std::fs::create_dir_all(server.root().join("41")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = random_bytes(23, 2 << 20);
    let iso = "Fedora-Workstation-Live-x86_64-41-1.4.iso";
    let url = server.put(&format!("41/{iso}"), &content).to_string();
    let checksum = "Fedora-Workstation-41-1.4-x86_64-CHECKSUM";
    let plain = dir.path().join("CHECKSUM");
    std::fs::write(
        &plain,
        format!(
            "# {iso}: 2097152 bytes\nSHA256 ({iso}) = {}\n",
            sha256(&content)
        ),
    )
    .unwrap();
    let gpg = Gpg::new();
    let signer = gpg.key(
        "Fedora (41) <fedora-41-primary@fedoraproject.org>",
        KEYS_MADE,
        "never",
    );
    let signed = dir.path().join("CHECKSUM.signed");
    gpg.sign(&[&signer], "--clearsign", true, SIGNED, &plain, &signed);
    server.put(&format!("41/{checksum}"), &std::fs::read(&signed).unwrap());
    server.put(
        "41/index.html",
        format!(
            r#"<a href="../">../</a><a href="{checksum}">{checksum}</a><a href="{iso}">{iso}</a>"#
        )
        .as_bytes(),
    );
    let config = tempfile::tempdir().unwrap();
    let keys = config.path().join("blockprint/trusted-keys");
    std::fs::create_dir_all(&keys).unwrap();
    gpg.export(&signer, true, &keys.join("fedora-41.asc"));
    let copy = |dest: &Path| {
        let cache = tempfile::tempdir().unwrap();
        blockprint_with(
            ["copy", "--nobmap", &url, dest.to_str().unwrap()],
            &[
                ("XDG_CONFIG_HOME", config.path().to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                (
                    "GNUPGHOME",
                    config.path().join("no-gnupg").to_str().unwrap(),
                ),
            ],
            None,
            std::time::Duration::from_secs(60),
        )
    };
    let dest = dir.path().join("written.iso");
    let said = copy(&dest).ok().to_owned();
    assert!(
        said.contains(&format!(
            "official image: its SHA-256 is in '{}', signed by Fedora (41)",
            server.url(&format!("41/{checksum}"))
        )),
        "{said}"
    );
    assert!(std::fs::read(&dest).unwrap() == content);
    // The image changed on the server: refused, nothing left.
    server.put(&format!("41/{iso}"), &random_bytes(24, 2 << 20));
    let dest = dir.path().join("changed.iso");
    copy(&dest).fails_with(&["was published for it", "damaged or was changed"]);
    assert!(!dest.exists());
}
