//! A catalog image opened for writing: from the image cache when its download is kept there
//! (nothing is downloaded), else from its server, resumed from the part an earlier download
//! left, and kept as it passes. The download is hashed against the catalog's
//! `image_download_sha256` under the decoder and the image against its `extract_sha256` over
//! it, so a mismatch fails the read when the data ends, before the copy writes the image's
//! held-back first MiB, and a download that does not match is never kept.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use super::{Claim, Image, ImageCache};
use crate::source::detect::{DETECT_LEN, detect};
use crate::source::http::{HttpClient, Remote, Url};
use crate::source::{DigestReader, Digested, Format, Opened, SourceError, open_stream, read_full};

/// What happens to a catalog image's download as it is opened, for the user to be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchNote {
    /// Its download is kept in the cache, here: nothing is downloaded.
    Cached(PathBuf),
    /// An earlier download stopped after `have` of `total` bytes; only the rest is asked for.
    Resuming {
        /// Bytes kept from the earlier download.
        have: u64,
        /// The download's size.
        total: u64,
    },
    /// The disk of the cache (this folder) lacks room: the download is not kept.
    NoRoom(PathBuf),
    /// The download is checked against the signature the catalog gives for it, here.
    CheckingSignature(Url),
    /// The catalog's signature for the download is by a key no trust source holds: the
    /// download is not held to it.
    UntrustedSignature {
        /// The signature.
        url: Url,
        /// The signer's fingerprint or key id.
        issuer: String,
    },
}

impl fmt::Display for FetchNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cached(path) => write!(
                f,
                "the image is in the cache ({}): nothing to download",
                path.display()
            ),
            Self::Resuming { have, total } => {
                write!(f, "resuming the download at {have} of {total} bytes")
            }
            Self::NoRoom(dir) => write!(
                f,
                "not keeping the download: the disk of {} lacks room for it",
                dir.display()
            ),
            Self::CheckingSignature(url) => {
                write!(f, "the download is checked against its signature '{url}'")
            }
            Self::UntrustedSignature { url, issuer } => write!(
                f,
                "its signature '{url}' is by key {issuer}, which you do not trust: the download \
                 is not checked against it (trust the publisher's key to check it)"
            ),
        }
    }
}

/// Opens `image` as a stream whose bytes pass its catalog's checks; see the module's words.
/// `cache` keeps downloads (only those whose SHA-256 the catalog gives: a kept file is named by
/// it); `note` hears what happens.
pub fn open_image(
    image: &Image,
    http: &HttpClient,
    cache: Option<&ImageCache>,
    note: &mut dyn FnMut(FetchNote),
) -> Result<Opened, SourceError> {
    let name = image.url.to_string();
    let kept = cache
        .zip(image.download_sha256.as_ref())
        .and_then(|(cache, sha)| cache.lookup_checked(sha));
    // What a part left by an earlier download holds needs no more room.
    let mut claim = match (cache, image.download_sha256, &kept) {
        (Some(cache), Some(want), None) => cache.claim(&want).filter(|claim| {
            let rest = image
                .download_size
                .unwrap_or(0)
                .saturating_sub(claim.have());
            let fits = cache.has_room_for(rest);
            if !fits {
                note(FetchNote::NoRoom(cache.dir().to_path_buf()));
            }
            fits
        }),
        _ => None,
    };
    let io_error = |source| SourceError::Open {
        name: name.clone(),
        source,
    };
    let raw: Box<dyn Read + Send> = match kept {
        Some(path) => {
            let file = std::fs::File::open(&path).map_err(io_error)?;
            note(FetchNote::Cached(path));
            Box::new(file)
        }
        None => download(image, http, claim.as_mut(), note, &io_error)?,
    };
    let raw = match &image.signature_url {
        Some(url) => super::asc::signed(raw, &name, url, http, note)?,
        None => raw,
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
    let Opened { source, layers, .. } = open_stream(raw, &name)?;
    let source = if image.extract_sha256.is_some() || image.extract_size.is_some() {
        Box::new(Digested::new(
            source,
            image.extract_sha256,
            image.extract_size,
        ))
    } else {
        source
    };
    Ok(Opened {
        source,
        layers,
        store: None,
    })
}

/// The format of `image`'s download (xz, zip, raw…), from its first bytes: one Range request
/// for them where the server takes one, so a look at an image does not start its download.
pub fn peek_format(image: &Image, http: &HttpClient) -> Result<Format, SourceError> {
    let name = image.url.to_string();
    let io_error = |source| SourceError::Open {
        name: name.clone(),
        source,
    };
    let mut head = vec![0; DETECT_LEN];
    let got = match http.open(&image.url)? {
        Remote::Random(store) => {
            let len = store.len().min(DETECT_LEN as u64) as usize;
            store.read_exact_at(0, &mut head[..len]).map_err(io_error)?;
            len
        }
        Remote::Stream { mut reader, .. } => read_full(&mut reader, &mut head).map_err(io_error)?,
    };
    Ok(detect(&head[..got]))
}

/// The download from its first byte: what `claim` holds from an earlier one, then the rest
/// from the server (asked for with a Range request), or all of it from the server when it holds
/// nothing, holds too much, or the server cannot send a part.
fn download(
    image: &Image,
    http: &HttpClient,
    claim: Option<&mut Claim>,
    note: &mut dyn FnMut(FetchNote),
    io_error: &dyn Fn(std::io::Error) -> SourceError,
) -> Result<Box<dyn Read + Send>, SourceError> {
    let remote = http.open(&image.url)?;
    let have = claim.as_ref().map_or(0, |c| c.have());
    Ok(match (remote, claim) {
        (Remote::Random(store), Some(claim)) if have > 0 && have <= store.len() => {
            note(FetchNote::Resuming {
                have,
                total: store.len(),
            });
            let earlier = claim.earlier().map_err(io_error)?;
            let rest = store.stream(have, store.len() - have).map_err(io_error)?;
            Box::new(earlier.chain(rest))
        }
        (remote, claim) => {
            if let Some(claim) = claim.filter(|_| have > 0) {
                claim.restart().map_err(io_error)?;
            }
            match remote {
                Remote::Random(store) => store.stream(0, store.len()).map_err(io_error)?,
                Remote::Stream { reader, .. } => reader,
            }
        }
    })
}
