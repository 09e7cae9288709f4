//! `blockprint copy catalog:ID DEST…`: the entry looked up in the catalog (`--catalog`, else
//! Raspberry Pi's list), its download streamed and checked against the catalog's SHA-256s as
//! it passes, the compressed bytes under the decoder and the image over it. A mismatch fails
//! the copy when the data ends, which is before the image's first MiB is written.

use std::io::Read;

use anyhow::bail;
use blockprint::catalog::{self, Claim, EntryKind, Image, ImageCache, Sums};
use blockprint::signature::Keyring;
use blockprint::source::http::{HttpClient, Remote, Url};
use blockprint::source::{DigestReader, Digested, Opened, open_stream};

use super::output::escape_controls;
use super::{CopyArgs, Output};

/// The image entry `id` (or the one image of that name) names.
pub(super) fn entry(args: &CopyArgs, id: &str, out: &Output) -> anyhow::Result<Image> {
    let catalog = super::catalog::load(args.catalog.as_deref(), out)?;
    let Some(entry) = catalog.find(id) else {
        bail!(
            "catalog '{}' has no image '{}'; `blockprint catalog` lists them with their ids",
            escape_controls(&catalog.origin),
            escape_controls(id)
        );
    };
    let EntryKind::Image(image) = &entry.kind else {
        bail!(
            "'{}' in catalog '{}' is a folder, not an image; `blockprint catalog` lists the \
             images in it",
            escape_controls(id),
            escape_controls(&catalog.origin)
        );
    };
    let checks = match (
        image.download_sha256.is_some(),
        image.extract_sha256.is_some(),
    ) {
        (true, true) => "the download's and the image's SHA-256",
        (true, false) => "the download's SHA-256",
        (false, true) => "the image's SHA-256",
        (false, false) => "nothing: the catalog gives no checksum",
    };
    out.info(format_args!(
        "catalog entry '{}': {} ({}), checked against {checks}",
        entry.id,
        escape_controls(&entry.name),
        entry.release_date.as_deref().unwrap_or("no date")
    ));
    Ok((**image).clone())
}

/// The entry's image, opened as a stream whose bytes pass its checks: from the cache when
/// the download is kept there (nothing is downloaded), else from its server, kept in the cache
/// as it passes when the catalog gives its SHA-256.
pub(super) fn open(image: &Image, http: &HttpClient, out: &Output) -> anyhow::Result<Opened> {
    let name = image.url.to_string();
    let cache = ImageCache::user();
    let kept = cache
        .as_ref()
        .zip(image.download_sha256.as_ref())
        .and_then(|(cache, sha)| cache.lookup_checked(sha));
    // Kept unless it came from the cache, or another download of it is under way; a part an
    // earlier download left is resumed from its end.
    let room = |cache: &&ImageCache| {
        let fits = cache.has_room_for(image.download_size.unwrap_or(0));
        if !fits {
            out.warn(format_args!(
                "not keeping the download: the disk of {} lacks room for it",
                cache.dir().display()
            ));
        }
        fits
    };
    let mut claim = match (&cache, image.download_sha256, &kept) {
        (Some(cache), Some(want), None) => Some(cache).filter(room).and_then(|c| c.claim(&want)),
        _ => None,
    };
    let raw: Box<dyn Read + Send> = match &kept {
        Some(path) => {
            out.info(format_args!(
                "image '{name}' is in the cache ({}): nothing to download",
                path.display()
            ));
            Box::new(std::fs::File::open(path)?)
        }
        None => download(image, http, claim.as_mut(), out)?,
    };
    let raw: Box<dyn Read + Send> = match image.download_sha256 {
        Some(want) => {
            let checked = DigestReader::new(raw, &name, want);
            match claim {
                Some(claim) => Box::new(claim.keep(checked)),
                None => Box::new(checked),
            }
        }
        None => raw,
    };
    let Opened { source, layers } = open_stream(raw, &name)?;
    let source = if image.extract_sha256.is_some() || image.extract_size.is_some() {
        Box::new(Digested::new(
            source,
            image.extract_sha256,
            image.extract_size,
        ))
    } else {
        source
    };
    Ok(Opened { source, layers })
}

/// The download from its first byte: what `claim` holds from an earlier one, then the rest
/// from the server (asked for with a Range request), or all of it from the server when it holds
/// nothing, holds too much, or the server cannot send a part.
fn download(
    image: &Image,
    http: &HttpClient,
    claim: Option<&mut Claim>,
    out: &Output,
) -> anyhow::Result<Box<dyn Read + Send>> {
    let remote = http.open(&image.url)?;
    let have = claim.as_ref().map_or(0, |c| c.have());
    Ok(match (remote, claim) {
        (Remote::Random(store), Some(claim)) if have > 0 && have <= store.len() => {
            out.info(format_args!(
                "resuming the download of '{}' at {} of {} bytes",
                image.url,
                have,
                store.len()
            ));
            Box::new(
                claim
                    .earlier()?
                    .chain(store.stream(have, store.len() - have)?),
            )
        }
        (remote, claim) => {
            if let Some(claim) = claim.filter(|_| have > 0) {
                claim.restart()?;
            }
            match remote {
                Remote::Random(store) => store.stream(0, store.len())?,
                Remote::Stream { reader, .. } => reader,
            }
        }
    })
}

/// For an image URL: the SHA-256 of the distribution's signed `SHA256SUMS` next to it, as an
/// entry of one to check the download against; `None` when there is none (or it is signed by
/// a key not trusted, which is said).
pub(super) fn official(args: &CopyArgs, url: &Url, out: &Output) -> anyhow::Result<Option<Image>> {
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
            Ok(Some(Image {
                url: url.clone(),
                extract_sha256: None,
                extract_size: None,
                download_sha256: Some(official.sha256),
                download_size: None,
                bmap_url: None,
                init_format: None,
            }))
        }
    }
}

/// The bmap to use: the one named on the command line, else the catalog's.
pub(super) fn bmap(args: &CopyArgs, image: &Image) -> Option<String> {
    args.bmap
        .clone()
        .or_else(|| image.bmap_url.as_ref().map(Url::to_string))
}
