//! Reading a catalog from where it is: a local file or an http(s) address, and the lists its
//! links (`subitems_url`) lead to, fetched when their folder is opened or, for a listing, all
//! at once (at most [`MAX_LINKS`] of them).

use std::path::PathBuf;

use super::{Catalog, CatalogError, Entry, EntryKind, rpi};
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
    /// More linked lists than [`MAX_LINKS`].
    #[error("catalog '{0}' links to more than {MAX_LINKS} other lists; it is not a list of images")]
    TooManyLinks(String),
}

/// The bytes at `location`.
fn read(location: &Location, http: &HttpClient) -> Result<Vec<u8>, LoadError> {
    match location {
        Location::File(path) => {
            let len = std::fs::metadata(path)
                .map_err(|source| LoadError::Read {
                    path: path.clone(),
                    source,
                })?
                .len();
            if len > super::MAX_BYTES {
                return Err(CatalogError {
                    origin: path.display().to_string(),
                    path: String::new(),
                    kind: super::CatalogErrorKind::TooLarge,
                }
                .into());
            }
            std::fs::read(path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })
        }
        Location::Url(url) => http
            .fetch(url, super::MAX_BYTES)?
            .ok_or_else(|| LoadError::NotFound(url.clone())),
    }
}

/// Reads the catalog at `location`; with `follow`, every list it links to as well (for a
/// listing or a search), else they stay [`EntryKind::Link`]s until [`open_link`].
pub fn load(location: &Location, http: &HttpClient, follow: bool) -> Result<Catalog, LoadError> {
    let bytes = read(location, http)?;
    let mut catalog = Catalog::parse(&bytes, &location.to_string())?;
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
            open_link(&mut catalog, &id, http)?;
        }
    }
    Ok(catalog)
}

/// Fetches the list the link `id` leads to and puts it in the link's place, as a folder.
/// Nothing happens when `id` is not a link.
pub fn open_link(catalog: &mut Catalog, id: &str, http: &HttpClient) -> Result<(), LoadError> {
    let count = catalog.walk().len();
    let Some((entry, depth)) = find_mut(&mut catalog.entries, id, 0) else {
        return Ok(());
    };
    let EntryKind::Link(url) = &entry.kind else {
        return Ok(());
    };
    let url = url.clone();
    let bytes = read(&Location::Url(url.clone()), http)?;
    let mut reader = rpi::Reader::new(url.as_str(), count);
    let (_, children) = reader.list(&bytes, &format!("{id}/"), depth + 1)?;
    entry.kind = EntryKind::Folder(children);
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
