//! Reading a catalog from where it is: a local file or an http(s) address, and the lists its
//! links (`subitems_url`) lead to, fetched when their folder is opened or, for a listing, all
//! at once (at most [`MAX_LINKS`] of them).
//!
//! With a cache folder, every list fetched is kept there (named by its address's SHA-256, its
//! time the file's), and a server that cannot be reached (no network, a timeout, a 5xx) is
//! answered from it: [`Catalog::fetched`] then says how old the list is. A refusal that is no
//! outage (TLS, a redirect down to http, 401/403) is never papered over with the cache.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::signed::{self, SignatureRefusal, Trust};
use super::{Catalog, CatalogError, Entry, EntryKind, rpi};
use crate::signature::Signer;
use crate::source::http::{HttpClient, HttpError, Url};

/// The most linked lists one catalog may lead to.
pub const MAX_LINKS: usize = 64;

/// Where a catalog is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file here.
    File(PathBuf),
    /// A web address.
    Url(Url),
}

impl Location {
    /// An http(s) address or a path. Any other scheme (`file://` included: a catalog on this
    /// machine is named by its path) is refused.
    pub fn parse(text: &str) -> Result<Location, LoadError> {
        match text.split_once("://") {
            Some((scheme, _))
                if matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") =>
            {
                Url::parse(text)
                    .map(Location::Url)
                    .map_err(|_| LoadError::Address(text.to_owned()))
            }
            Some(_) => Err(LoadError::Address(text.to_owned())),
            None => Ok(Location::File(PathBuf::from(text))),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Url(url) => write!(f, "{url}"),
        }
    }
}

/// Why a catalog cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither a path nor an http(s) address.
    #[error("'{0}' is not a catalog address: give an http(s) address or the path of a .json file")]
    Address(String),
    /// The file cannot be read.
    #[error("cannot read catalog '{path}': {source}; check the path")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server did not give it.
    #[error(transparent)]
    Fetch(#[from] HttpError),
    /// The server has no such file.
    #[error("catalog '{0}' is not on its server (404); check the address")]
    NotFound(Url),
    /// It is not a catalog, or a broken one.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Its signature refuses it.
    #[error(transparent)]
    Signature(#[from] SignatureRefusal),
    /// More linked lists than [`MAX_LINKS`].
    #[error("catalog '{0}' links to more than {MAX_LINKS} other lists; it is not a list of images")]
    TooManyLinks(String),
}

/// How lists are fetched: the client, and where they are kept for when the server cannot be
/// reached.
#[derive(Debug, Clone, Copy)]
pub struct Fetcher<'a> {
    /// The HTTP client.
    pub http: &'a HttpClient,
    /// The cache folder (`$XDG_CACHE_HOME/blockprint/catalogs`), if lists are kept.
    pub cache: Option<&'a Path>,
    /// How their signatures are judged.
    pub trust: Trust<'a>,
}

/// The cache file of `url`.
fn cached(cache: &Path, url: &Url) -> PathBuf {
    let key: String = Sha256::digest(url.as_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cache.join(format!("{key}.json"))
}

/// Keeps `bytes` as the cached copy of `url`: written whole under a temporary name, then
/// renamed, so a reader never sees half a list. A cache that cannot be written is no error:
/// the list was fetched.
fn keep(cache: &Path, url: &Url, bytes: &[u8], signature: Option<&[u8]>) {
    let path = cached(cache, url);
    let sig = signature_of(&path);
    match signature {
        Some(signature) => keep_file(cache, &sig, signature),
        None => {
            let _ = std::fs::remove_file(&sig);
        }
    }
    keep_file(cache, &path, bytes);
}

/// Where the signature of the cached list at `path` is kept.
fn signature_of(path: &Path) -> PathBuf {
    path.with_extension("json.sig")
}

/// Writes `bytes` to `path` whole, or not at all.
fn keep_file(cache: &Path, path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension(format!("{}.part", std::process::id()));
    let path = path.to_path_buf();
    let written = std::fs::create_dir_all(cache)
        .and_then(|()| std::fs::write(&temporary, bytes))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
}

/// What was read of a list: its bytes, when they were fetched if they come from the cache
/// because the server could not be reached, and who signed them.
type Read = (Vec<u8>, Option<SystemTime>, Option<Signer>);

/// The bytes at `location`, judged by their signature (see [`super::signed`]).
fn read(location: &Location, fetcher: Fetcher<'_>) -> Result<Read, LoadError> {
    let origin = location.to_string();
    let url = match location {
        Location::File(path) => {
            let bytes = read_file(path)?;
            let signature = signed::EXTENSIONS.iter().find_map(|ext| {
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".{ext}"));
                let file = PathBuf::from(name);
                let bytes = std::fs::read(&file).ok()?;
                Some((file.display().to_string(), bytes))
            });
            let signer = signed::judge(&origin, &bytes, signature, fetcher.trust)?;
            return Ok((bytes, None, signer));
        }
        Location::Url(url) => url,
    };
    match fetcher.http.fetch(url, super::MAX_BYTES) {
        Ok(Some(bytes)) => {
            let signature = signed::EXTENSIONS.iter().find_map(|ext| {
                let mut next = url.clone();
                next.set_path(&format!("{}.{ext}", url.path()));
                let bytes = fetcher
                    .http
                    .fetch_next_to(&next, url, signed::MAX_SIGNATURE)
                    .ok()
                    .flatten()?;
                Some((next.to_string(), bytes))
            });
            let signer = signed::judge(&origin, &bytes, signature.clone(), fetcher.trust)?;
            if let Some(cache) = fetcher.cache {
                keep(cache, url, &bytes, signature.as_ref().map(|(_, s)| &s[..]));
            }
            Ok((bytes, None, signer))
        }
        Ok(None) => Err(LoadError::NotFound(url.clone())),
        Err(error) => {
            let outage = matches!(
                error,
                HttpError::Connect { .. } | HttpError::Transfer { .. }
            ) || matches!(&error, HttpError::Status { status, .. } if status.starts_with('5'));
            let Some(path) = fetcher
                .cache
                .filter(|_| outage)
                .map(|cache| cached(cache, url))
            else {
                return Err(LoadError::Fetch(error));
            };
            let Some((bytes, time)) = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|time| Some((std::fs::read(&path).ok()?, time)))
            else {
                return Err(LoadError::Fetch(error));
            };
            // Judged again: the cache is only as good as the signature kept with it.
            let sig = signature_of(&path);
            let signature = std::fs::read(&sig)
                .ok()
                .map(|bytes| (sig.display().to_string(), bytes));
            let signer = signed::judge(&origin, &bytes, signature, fetcher.trust)?;
            Ok((bytes, Some(time), signer))
        }
    }
}

/// The bytes of a catalog file here.
fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    let failed = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(failed)?.len();
    if len > super::MAX_BYTES {
        return Err(CatalogError {
            origin: path.display().to_string(),
            path: String::new(),
            kind: super::CatalogErrorKind::TooLarge,
        }
        .into());
    }
    std::fs::read(path).map_err(failed)
}

/// Reads the catalog at `location`; with `follow`, every list it links to as well (for a
/// listing or a search), else they stay [`EntryKind::Link`]s until [`open_link`].
pub fn load(location: &Location, fetcher: Fetcher<'_>, follow: bool) -> Result<Catalog, LoadError> {
    let (bytes, fetched, signer) = read(location, fetcher)?;
    let mut catalog = Catalog::parse(&bytes, &location.to_string())?;
    catalog.fetched = fetched;
    catalog.signer = signer;
    if follow {
        let mut links = 0;
        loop {
            let next = catalog
                .walk()
                .into_iter()
                .find(|e| matches!(e.kind, EntryKind::Link(_)))
                .map(|e| e.id.clone());
            let Some(id) = next else { break };
            links += 1;
            if links > MAX_LINKS {
                return Err(LoadError::TooManyLinks(catalog.origin));
            }
            open_link(&mut catalog, &id, fetcher)?;
        }
    }
    Ok(catalog)
}

/// Fetches the list the link `id` leads to and puts it in the link's place, as a folder.
/// Nothing happens when `id` is not a link.
pub fn open_link(catalog: &mut Catalog, id: &str, fetcher: Fetcher<'_>) -> Result<(), LoadError> {
    let count = catalog.walk().len();
    let Some((entry, depth)) = find_mut(&mut catalog.entries, id, 0) else {
        return Ok(());
    };
    let EntryKind::Link(url) = &entry.kind else {
        return Ok(());
    };
    let url = url.clone();
    let (bytes, fetched, _) = read(&Location::Url(url.clone()), fetcher)?;
    let mut reader = rpi::Reader::new(url.as_str(), count);
    let (_, children) = reader.list(&bytes, &format!("{id}/"), depth + 1)?;
    entry.kind = EntryKind::Folder(children);
    // The oldest list read from the cache dates the whole.
    if let Some(time) = fetched {
        catalog.fetched = Some(catalog.fetched.map_or(time, |t| t.min(time)));
    }
    Ok(())
}

/// The entry `id`, and how many folders deep it sits.
fn find_mut<'a>(
    entries: &'a mut [Entry],
    id: &str,
    depth: usize,
) -> Option<(&'a mut Entry, usize)> {
    for entry in entries {
        if entry.id == id {
            return Some((entry, depth));
        }
        if let EntryKind::Folder(children) = &mut entry.kind
            && id.starts_with(&format!("{}/", entry.id))
        {
            return find_mut(children, id, depth + 1);
        }
    }
    None
}
