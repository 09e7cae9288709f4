//! Catalogs of operating systems: the lists image projects publish of what can be written,
//! read into one model whatever their shape.
//!
//! Raspberry Pi Imager's `os_list` JSON is the shape most projects publish (Raspberry Pi,
//! Ubuntu, LibreELEC, OctoPi, Falcon Player, BeagleBoard's collected lists): a tree of entries,
//! each an image (its URL, sizes and SHA-256s), a folder of entries (`subitems`), or a link to
//! another list (`subitems_url`, read only when opened), and the boards (`imager.devices`)
//! whose tags say which entry runs where. [`Catalog::parse`] reads it; [`load()`] reads one from
//! a file or a web server and follows its links.
//!
//! Everything in a catalog comes from a server: it is checked as it is read and never trusted
//! further. A value of the wrong type, a SHA-256 that is not 64 hex digits, a URL of a scheme
//! other than http(s), more than [`MAX_ENTRIES`] entries or a tree deeper than [`MAX_DEPTH`]
//! is an error naming the catalog and the entry ([`CatalogError`]); unknown fields are ignored
//! and missing optional ones are fine.

use std::fmt;

use crate::source::http::Url;

mod asc;
mod fetch;
mod images;
mod load;
mod rpi;
mod shapes;
mod signed;
mod sums;

pub use fetch::{FetchNote, open_image, peek_format};
pub use images::{Claim, DEFAULT_QUOTA, ImageCache, Keeping, Kept};
pub use load::{Fetcher, LoadError, Location, MAX_LINKS, load, open_link};
pub use signed::{SignatureRefusal, Trust};
pub use sums::{Official, Sums, SumsError, official};

/// Raspberry Pi's own list, the one Raspberry Pi Imager starts with: the catalog used when
/// none is named.
pub const RASPBERRY_PI: &str = "https://downloads.raspberrypi.org/os_list_imagingutility_v4.json";

/// The most entries a catalog (with every list it links to) may hold.
pub const MAX_ENTRIES: usize = 20_000;

/// The deepest a catalog's tree may go (folders in folders, links included).
pub const MAX_DEPTH: usize = 8;

/// The largest catalog file read, in bytes.
pub const MAX_BYTES: u64 = 16 << 20;

/// A catalog, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// Where it came from: its web address or its path.
    pub origin: String,
    /// The boards it knows, to filter its entries by.
    pub boards: Vec<Board>,
    /// Its top level.
    pub entries: Vec<Entry>,
    /// When it was fetched, if it (or a list it links to) was read from the cache because its
    /// server could not be reached; `None` when everything is fresh.
    pub fetched: Option<std::time::SystemTime>,
    /// Who signed it (a detached `.sig` or `.asc` next to it, valid and by a trusted key);
    /// `None` when it is not signed. A list whose signature is not valid is not read at all.
    pub signer: Option<crate::signature::Signer>,
}

/// A board (Raspberry Pi 5, BeagleY-AI): the tags its entries carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// "Raspberry Pi 5".
    pub name: String,
    /// The tags of the entries that run on it ("pi5-64bit", "pi5-32bit").
    pub tags: Vec<String>,
    /// Only entries tagged for it run on it; otherwise untagged entries do too.
    pub exclusive: bool,
    /// Shown under its name.
    pub description: String,
}

/// One entry of a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the tree, made of its and its folders' names ("raspberry-pi-os-other/
    /// raspberry-pi-os-lite-64-bit"): what `blockprint copy catalog:ID` takes.
    pub id: String,
    /// "Raspberry Pi OS Lite (64-bit)".
    pub name: String,
    /// A sentence or two.
    pub description: String,
    /// Its icon, an http(s) URL.
    pub icon: Option<Url>,
    /// "2026-11-19", as the catalog gives it.
    pub release_date: Option<String>,
    /// The project's web page.
    pub website: Option<Url>,
    /// The tags of the boards it runs on; none: every board that is not exclusive.
    pub devices: Vec<String>,
    /// An image, a folder or a link.
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// An image to write (boxed: its facts are large, a folder or a link small).
    Image(Box<Image>),
    /// A folder of entries.
    Folder(Vec<Entry>),
    /// Another list, read when the folder is opened ([`open_link`]).
    Link(Url),
}

/// An image entry's facts: where it is and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The download.
    pub url: Url,
    /// The SHA-256 of the image once decompressed, when given.
    pub extract_sha256: Option<[u8; 32]>,
    /// Its size once decompressed, when given.
    pub extract_size: Option<u64>,
    /// The SHA-256 of the download as it is, when given.
    pub download_sha256: Option<[u8; 32]>,
    /// The download's size, when given.
    pub download_size: Option<u64>,
    /// Its block map, when the catalog names one.
    pub bmap_url: Option<Url>,
    /// A detached OpenPGP signature of the download (`asc_url`), when the catalog names one.
    pub signature_url: Option<Url>,
    /// How first-boot settings are written ("systemd", "cloudinit", "cloudinit-rpi",
    /// "rpi-preseed"), when it takes them.
    pub init_format: Option<String>,
}

/// An image entry chosen to be written: the image, and the catalog's words about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Where it is in its catalog ([`Entry::id`]).
    pub id: String,
    /// "Raspberry Pi OS Lite (64-bit)".
    pub name: String,
    /// "2026-11-19", as the catalog gives it.
    pub release_date: Option<String>,
    /// The catalog it is from: its web address or its path.
    pub catalog: String,
    /// The image.
    pub image: Image,
}

impl Chosen {
    /// Where its first bytes can be read without starting the download it is written from:
    /// the kept download in `cache`, else its web address.
    pub fn peek(&self, cache: Option<&ImageCache>) -> crate::source::Input {
        use crate::source::Input;
        cache
            .zip(self.image.download_sha256.as_ref())
            .and_then(|(cache, sha)| cache.lookup(sha))
            .map_or_else(|| Input::Url(self.image.url.clone()), Input::Path)
    }

    /// Whether its download is kept in `cache`, so writing it downloads nothing.
    pub fn cached(&self, cache: &ImageCache) -> bool {
        self.image
            .download_sha256
            .is_some_and(|sha| cache.contains(&sha))
    }
}

/// Why a catalog cannot be read. Names the catalog and, inside it, the entry
/// (`os_list[3].subitems[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog '{origin}'{at}: {kind}; {advice}", at = At(path), advice = kind.advice())]
pub struct CatalogError {
    /// The catalog.
    pub origin: String,
    /// Where in it, empty for the whole.
    pub path: String,
    /// What is wrong.
    pub kind: CatalogErrorKind,
}

/// `, at os_list[3]`, or nothing for the whole catalog.
struct At<'a>(&'a str);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, ", at {}", self.0)
        }
    }
}

/// What is wrong with a catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogErrorKind {
    /// Not JSON.
    #[error("not JSON ({0})")]
    Json(String),
    /// A value of another type than the format's.
    #[error("'{field}' is {found}, not {wanted}")]
    Type {
        /// The field.
        field: String,
        /// What the format says it is.
        wanted: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A required field is missing.
    #[error("'{0}' is missing")]
    Missing(&'static str),
    /// A SHA-256 that is not 64 hexadecimal digits.
    #[error("'{field}' is not a SHA-256 (64 hexadecimal digits): {value:?}")]
    Digest {
        /// The field.
        field: String,
        /// Its value, cut short.
        value: String,
    },
    /// A URL that cannot be parsed, or of a scheme other than http and https.
    #[error("'{field}' is not an http(s) address: {value:?}")]
    Url {
        /// The field.
        field: String,
        /// Its value, cut short.
        value: String,
    },
    /// An entry that is neither an image, nor a folder, nor a link.
    #[error("the entry has no 'url', 'subitems' or 'subitems_url'")]
    Empty,
    /// Too many entries.
    #[error("more than {MAX_ENTRIES} entries")]
    TooMany,
    /// Too deep.
    #[error("folders nested more than {MAX_DEPTH} deep")]
    TooDeep,
    /// Too large.
    #[error("larger than {MAX_BYTES} bytes")]
    TooLarge,
}

impl CatalogErrorKind {
    fn advice(&self) -> &'static str {
        match self {
            Self::TooMany | Self::TooDeep | Self::TooLarge => {
                "it is not a list of images; check the catalog's address"
            }
            _ => "the catalog is broken: tell its publisher, or use another catalog",
        }
    }
}

/// The user's catalog cache: `$XDG_CACHE_HOME/blockprint/catalogs`, or
/// `~/.cache/blockprint/catalogs`.
pub fn user_cache() -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".cache"))
        })?;
    Some(cache.join("blockprint").join("catalogs"))
}

/// How long ago `then` was, in words: "just now", "5 minutes ago", "3 days ago".
pub fn age(then: std::time::SystemTime) -> String {
    let seconds = then.elapsed().map_or(0, |d| d.as_secs());
    let (n, unit) = match seconds {
        0..60 => return "just now".into(),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A value from a catalog shown in an error: at most 80 characters.
pub(crate) fn cut(value: &str) -> String {
    value.chars().take(80).collect()
}

impl Catalog {
    /// Reads a catalog in Raspberry Pi Imager's `os_list` shape; `origin` is where it came
    /// from (relative URLs in it are resolved against it when it is an http(s) URL).
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Catalog, CatalogError> {
        rpi::parse(bytes, origin, 0).map(|(boards, entries)| Catalog {
            origin: origin.to_owned(),
            boards,
            entries,
            fetched: None,
            signer: None,
        })
    }

    /// Every entry, depth first, with its folders before it.
    pub fn walk(&self) -> Vec<&Entry> {
        fn visit<'a>(entries: &'a [Entry], out: &mut Vec<&'a Entry>) {
            for entry in entries {
                out.push(entry);
                if let EntryKind::Folder(children) = &entry.kind {
                    visit(children, out);
                }
            }
        }
        let mut out = Vec::new();
        visit(&self.entries, &mut out);
        out
    }

    /// The entry with this id, or else the one image whose name is this (ignoring case).
    pub fn find(&self, wanted: &str) -> Option<&Entry> {
        let all = self.walk();
        if let Some(entry) = all.iter().find(|e| e.id == wanted) {
            return Some(entry);
        }
        let mut named = all.into_iter().filter(|e| {
            matches!(e.kind, EntryKind::Image(_)) && e.name.eq_ignore_ascii_case(wanted)
        });
        match (named.next(), named.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// The board whose name or one of whose tags is `wanted` (ignoring case).
    pub fn board(&self, wanted: &str) -> Option<&Board> {
        self.boards.iter().find(|b| {
            b.name.eq_ignore_ascii_case(wanted)
                || b.tags.iter().any(|t| t.eq_ignore_ascii_case(wanted))
        })
    }
}

impl Entry {
    /// It, chosen from `catalog` to be written; `None` for a folder or a link.
    pub fn chosen(&self, catalog: &Catalog) -> Option<Chosen> {
        match &self.kind {
            EntryKind::Image(image) => Some(Chosen {
                id: self.id.clone(),
                name: self.name.clone(),
                release_date: self.release_date.clone(),
                catalog: catalog.origin.clone(),
                image: (**image).clone(),
            }),
            EntryKind::Folder(_) | EntryKind::Link(_) => None,
        }
    }

    /// Whether it runs on `board`: tagged for it, or untagged and the board not exclusive. A
    /// folder runs there when one of its entries does; a link is not known until opened, so it
    /// is kept.
    pub fn runs_on(&self, board: &Board) -> bool {
        match &self.kind {
            EntryKind::Folder(children) => children.iter().any(|c| c.runs_on(board)),
            EntryKind::Link(_) if self.devices.is_empty() => true,
            _ if self.devices.is_empty() => !board.exclusive,
            _ => self.devices.iter().any(|d| board.tags.contains(d)),
        }
    }

    /// Whether `words` (lower case, split on spaces) all appear in its name or description.
    pub fn matches(&self, words: &str) -> bool {
        let text = format!("{} {}", self.name, self.description).to_lowercase();
        words
            .to_lowercase()
            .split_whitespace()
            .all(|w| text.contains(w))
    }
}

#[cfg(test)]
mod tests;
