//! `blockprint copy catalog:ID DEST…`: the entry looked up in the catalog (`--catalog`, else
//! Raspberry Pi's list) and opened as an [`Input::Catalog`](blockprint::source::Input), whose
//! download is checked against the catalog's SHA-256s as it passes (a mismatch fails the copy
//! before the image's first MiB is written); and, for an image URL, the distribution's signed
//! `SHA256SUMS` next to it as a catalog of one.

use anyhow::bail;
use blockprint::catalog::{self, Chosen, Image, Sums};
use blockprint::signature::Keyring;
use blockprint::source::http::{HttpClient, Url};

use super::output::escape_controls;
use super::{CopyArgs, Output};

/// The image entry `id` (or the one image of that name) names.
pub(super) fn entry(args: &CopyArgs, id: &str, out: &Output) -> anyhow::Result<Chosen> {
    let catalog = super::catalog::load(args.catalog.as_deref(), args.catalog_key.as_deref(), out)?;
    let Some(entry) = catalog.find(id) else {
        bail!(
            "catalog '{}' has no image '{}'; `blockprint catalog` lists them with their ids",
            escape_controls(&catalog.origin),
            escape_controls(id)
        );
    };
    let Some(chosen) = entry.chosen(&catalog) else {
        bail!(
            "'{}' in catalog '{}' is a folder, not an image; `blockprint catalog` lists the \
             images in it",
            escape_controls(id),
            escape_controls(&catalog.origin)
        );
    };
    let image = &chosen.image;
    let checks = match (
        image.download_sha256.is_some(),
        image.extract_sha256.is_some(),
        image.signature_url.is_some(),
    ) {
        (true, true, _) => "the download's and the image's SHA-256",
        (true, false, _) => "the download's SHA-256",
        (false, true, _) => "the image's SHA-256",
        (false, false, true) => "the download's signature",
        (false, false, false) => "nothing: the catalog gives no checksum",
    };
    out.info(format_args!(
        "catalog entry '{}': {} ({}), checked against {checks}",
        entry.id,
        escape_controls(&entry.name),
        entry.release_date.as_deref().unwrap_or("no date")
    ));
    Ok(chosen)
}

/// For an image URL: the SHA-256 of the distribution's signed `SHA256SUMS` next to it, as an
/// entry of one to check the download against; `None` when there is none (or it is signed by
/// a key not trusted, which is said).
pub(super) fn official(args: &CopyArgs, url: &Url, out: &Output) -> anyhow::Result<Option<Chosen>> {
    let timeout = std::time::Duration::from_secs(args.timeout);
    let http = HttpClient::new()?
        .with_read_timeout(timeout)?
        .with_retries(0, timeout);
    let keyring = match &args.keyring {
        Some(path) => Keyring::from_file(path)?,
        None => Keyring::trusted(),
    };
    match catalog::official(url, &http, &keyring)? {
        Sums::None => Ok(None),
        Sums::Untrusted { file, issuer } => {
            out.info(format_args!(
                "'{file}' is signed by key {issuer}, which you do not trust: the image is not \
                 checked against it (trust the publisher's key to check it)"
            ));
            Ok(None)
        }
        Sums::Official(official) => {
            out.info(&official);
            Ok(Some(Chosen {
                id: String::new(),
                name: url.to_string(),
                release_date: None,
                catalog: official.file.to_string(),
                image: Image {
                    url: url.clone(),
                    extract_sha256: None,
                    extract_size: None,
                    download_sha256: Some(official.sha256),
                    download_size: None,
                    bmap_url: None,
                    signature_url: None,
                    init_format: None,
                },
            }))
        }
    }
}
