//! Catalogs against nginx. `blockprint catalog`: a list in Raspberry Pi Imager's shape (three
//! levels, a linked list, boards, relative addresses) listed, filtered by board and searched,
//! and listed from the cache once the server is gone; hostile catalogs (a link to `file://`,
//! to another scheme, a huge list) refused with one clear line. `blockprint copy catalog:ID`:
//! an entry written byte for byte, and one whose download or image does not match the
//! catalog's SHA-256 refused before the image is final (no file; a card's first MiB zero).
//!
//! Besides: an image fetched by URL beside a signed checksum file (Debian's `SHA256SUMS`,
//! Fedora's `…-CHECKSUM`) checked against it, and a catalog's own signature. The tests are in
//! the children below; the helpers they share (and `catalog_resume`, `gui_catalog` and
//! `gui_download_again` use) are here.

use std::path::Path;

use crate::harness::support::{Run, blockprint_with};
use crate::signatures::Gpg;

/// `blockprint copy catalog:ID`: checked against the catalog's SHA-256s, the download cached.
mod entry;
/// A catalog's own detached signature, and `--catalog-key` making it required.
mod list_signature;
/// `blockprint catalog`: listed, filtered, searched, from the cache offline; hostile lists.
mod listing;
/// An image beside a signed `SHA256SUMS` or clearsigned Fedora `…-CHECKSUM` is official.
mod official;

/// `blockprint ARGS` with its caches in `cache` (never the user's own).
pub(crate) fn cli(args: &[&str], cache: &Path) -> Run {
    blockprint_with(
        args,
        &[("XDG_CACHE_HOME", cache.to_str().unwrap())],
        None,
        std::time::Duration::from_secs(60),
    )
}

/// `blockprint ARGS` trusting only `config`'s trusted keys (no GnuPG keyring), caches in `cache`.
fn cli_with_keys(args: &[&str], config: &Path, cache: &Path) -> Run {
    blockprint_with(
        args,
        &[
            ("XDG_CONFIG_HOME", config.to_str().unwrap()),
            ("XDG_CACHE_HOME", cache.to_str().unwrap()),
            ("GNUPGHOME", config.join("no-gnupg").to_str().unwrap()),
        ],
        None,
        std::time::Duration::from_secs(60),
    )
}

/// A config folder whose trusted-keys folder holds `signer`'s key from `gpg`, armored, as `name`.
fn trusting_config(gpg: &Gpg, signer: &str, name: &str) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    let keys = config.path().join("blockprint/trusted-keys");
    std::fs::create_dir_all(&keys).unwrap();
    gpg.export(signer, true, &keys.join(name));
    config
}

/// What a successful run printed on standard output.
fn printed(run: &Run) -> String {
    run.ok();
    String::from_utf8(run.stdout.clone()).expect("UTF-8 output")
}

/// Lower-case hex of the SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
