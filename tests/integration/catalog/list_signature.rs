//! A catalog's own signature (a detached `.sig` beside it): by a trusted key it is read and
//! its signer said, by a key not trusted or changed after signing it is refused, with a key
//! pinned (`--catalog-key`) an unsigned one is refused too, and the cached copy is judged
//! again offline.

use std::path::Path;

use crate::harness::nginx::Nginx;

use super::{cli_with_keys, printed, trusting_config};

/// A catalog signed with a detached `.sig` by a trusted key is read and its signer said; one
/// changed after signing, or signed by a key not trusted, is refused; with a key pinned
/// (`--catalog-key`), an unsigned one is refused too. The cached copy is judged again offline.
#[test]
fn a_signed_catalog_is_checked_and_a_pinned_key_makes_its_signature_required() {
    use crate::signatures::Gpg;

    let server = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let list = r#"{"os_list": [{"name": "Lists OS", "description": "Signed", "url": "https://example.org/a.img"}]}"#;
    let file = dir.path().join("os_list.json");
    std::fs::write(&file, list).unwrap();
    server.put("os_list.json", list.as_bytes());
    let (gpg, signer) = Gpg::with_key("Image Lists <lists@example.org>");
    let signature = dir.path().join("os_list.json.sig");
    gpg.sign_detached(&[&signer], false, &file, &signature);
    server.put("os_list.json.sig", &std::fs::read(&signature).unwrap());
    let config = trusting_config(&gpg, &signer, "lists.asc");
    let untrusting = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let url = server.url("os_list.json").to_string();
    // `blockprint catalog --catalog LOCATION EXTRA…`, trusting the keys of `config`.
    let list_with = |config: &Path, location: &str, extra: &[&str]| {
        let mut args = vec!["catalog", "--catalog", location];
        args.extend(extra);
        cli_with_keys(&args, config, cache.path())
    };

    let said = list_with(config.path(), &url, &["--catalog-key", &signer])
        .ok()
        .to_owned();
    assert!(
        said.contains(&format!(
            "catalog '{url}' is signed by Image Lists <lists@example.org> (key {signer})"
        )),
        "{said}"
    );
    list_with(untrusting.path(), &url, &[]).fails_with(&[
        &url,
        "which you do not trust",
        "trusted-keys",
    ]);

    // Offline, the cached list is judged again with its kept signature.
    let offline = server.url("os_list.json").to_string();
    drop(server);
    let run = list_with(config.path(), &offline, &["--catalog-key", &signer]);
    let said = run.ok();
    assert!(
        said.contains("offline") && said.contains("is signed by"),
        "{said}"
    );

    // A local list: changed after signing, refused; unsigned with a key pinned, refused.
    std::fs::write(&file, format!("{list} ")).unwrap();
    let local = file.to_str().unwrap();
    let run = |extra: &[&str]| list_with(config.path(), local, extra);
    run(&[]).fails_with(&[local, "bad: the list was changed after"]);
    std::fs::remove_file(&signature).unwrap();
    run(&["--catalog-key", &signer]).fails_with(&[local, "is not signed", &signer]);
    printed(&run(&[]));
}
