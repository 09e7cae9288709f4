//! "Choose OS…" without GTK: the catalog as it was read, where in its tree the user is, the
//! board and the search that filter it, and what its page shows ([`OsList::view`]), so every
//! word and every rule of the page is tested without a display.
//!
//! ```text
//!  App ── Loaded / Opened (workers) ──► OsList ── view() ──► OsPage (rows, board list, status)
//!   ▲                                     │
//!   └── OsPage: Activated(id) ── activate() ─► Choose(Chosen) · OpenLink(id) · (into a folder)
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use blockprint::catalog::{self, Catalog, Chosen, Entry, EntryKind, ImageCache};
use gettextrs::gettext;

use super::i18n::gettext_f;
use super::page::Row;
use super::wording::size;

/// The most rows a search shows: a few screens, more is a sign to type more.
pub const MAX_FOUND: usize = 200;

/// The catalog page's state.
#[derive(Debug, Default)]
pub struct OsList {
    /// The catalog, once read.
    pub catalog: Option<Catalog>,
    /// Reading the catalog (or a list it links to) is under way.
    pub loading: bool,
    /// Why the catalog (or a list it links to) cannot be read: the title, the sentence, and
    /// the engine's exact words.
    pub error: Option<(Row, String)>,
    /// The ids of the folders opened, the innermost last.
    pub folders: Vec<String>,
    /// The chosen board's index in the catalog's boards; `None`: every board.
    pub board: Option<usize>,
    /// What is typed in the search entry.
    pub search: String,
    /// The icons fetched so far, by their web address.
    pub icons: HashMap<String, PathBuf>,
}

/// What activating a row does.
#[derive(Debug, PartialEq, Eq)]
pub enum Activated {
    /// Write this image.
    Choose(Box<Chosen>),
    /// Read the list this entry links to, then open it.
    OpenLink(String),
    /// Nothing more for the window: a folder was opened.
    Opened,
}

/// What the page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsView {
    /// "Reading the list of operating systems…", while it is read.
    pub busy: Option<String>,
    /// Why it cannot be read, and the engine's words.
    pub error: Option<(Row, String)>,
    /// "Offline: the list is from 3 days ago".
    pub offline: Option<String>,
    /// What the search entry holds (emptied when a folder opens).
    pub search: String,
    /// The boards to filter by, "All boards" first.
    pub boards: Vec<String>,
    /// The chosen one's place in `boards`.
    pub board: usize,
    /// The open folder's name ("Other specific-purpose OS"), when one is open.
    pub folder: Option<String>,
    /// The entries to show.
    pub rows: Vec<OsRow>,
    /// Why there are no rows ("No Match"), when there are none and the list is read.
    pub empty: Option<Row>,
}

/// One entry, as its row shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRow {
    /// Its id, to activate it by.
    pub id: String,
    /// Its name and what the catalog says of it, with its release date and download size.
    pub row: Row,
    /// Its icon, once fetched.
    pub icon: Option<PathBuf>,
    /// Whether it is a folder (or a list it links to), which opens in place.
    pub folder: bool,
    /// Whether its download is kept: writing it downloads nothing.
    pub cached: bool,
}

impl OsList {
    /// A catalog (or a linked list opened into it) was read, or could not be.
    pub fn loaded(&mut self, result: Result<Catalog, (Row, String)>, opened: Option<String>) {
        self.loading = false;
        match result {
            Ok(catalog) => {
                self.error = None;
                // A board the catalog no longer knows is forgotten.
                if self.board.is_some_and(|b| b >= catalog.boards.len()) {
                    self.board = None;
                }
                self.catalog = Some(catalog);
                if let Some(id) = opened {
                    self.folders.push(id);
                    self.search.clear();
                }
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// The user activated the row of `id`.
    pub fn activate(&mut self, id: &str) -> Option<Activated> {
        let catalog = self.catalog.as_ref()?;
        let entry = catalog.walk().into_iter().find(|e| e.id == id)?;
        Some(match &entry.kind {
            EntryKind::Image(_) => Activated::Choose(Box::new(entry.chosen(catalog)?)),
            EntryKind::Link(_) => {
                self.loading = true;
                Activated::OpenLink(id.to_owned())
            }
            EntryKind::Folder(_) => {
                self.folders.push(id.to_owned());
                self.search.clear();
                Activated::Opened
            }
        })
    }

    /// Up one folder; `false` at the top.
    pub fn up(&mut self) -> bool {
        self.folders.pop().is_some()
    }

    /// What the page shows; `cache` tells which images are kept.
    pub fn view(&self, cache: Option<&ImageCache>) -> OsView {
        let mut view = OsView {
            busy: self
                .loading
                .then(|| gettext("Reading the list of operating systems…")),
            error: self.error.clone(),
            boards: vec![gettext("All boards")],
            search: self.search.clone(),
            ..OsView::default()
        };
        let Some(catalog) = &self.catalog else {
            return view;
        };
        view.offline = catalog.fetched.map(|then| {
            gettext_f(
                "Offline: the list is from {age}",
                &[("age", &catalog::age(then))],
            )
        });
        view.boards
            .extend(catalog.boards.iter().map(|b| b.name.clone()));
        view.board = self.board.map_or(0, |b| b + 1);
        let board = self.board.and_then(|b| catalog.boards.get(b));
        let runs = |e: &Entry| board.is_none_or(|b| e.runs_on(b));
        let search = self.search.trim();
        let entries: Vec<&Entry> = if search.is_empty() {
            let here = self.folder(catalog);
            view.folder = here.map(|(name, _)| name.to_owned());
            here.map_or(&catalog.entries[..], |(_, children)| children)
                .iter()
                .filter(|e| runs(e))
                .collect()
        } else {
            // A search looks through the whole tree (the lists it links to once opened).
            catalog
                .walk()
                .into_iter()
                .filter(|e| runs(e) && e.matches(search))
                .take(MAX_FOUND)
                .collect()
        };
        view.rows = entries.into_iter().map(|e| self.row(e, cache)).collect();
        if view.rows.is_empty() {
            view.empty = Some(if search.is_empty() {
                Row {
                    title: gettext("Nothing for This Board"),
                    subtitle: gettext("Choose another board, or all boards."),
                }
            } else {
                Row {
                    title: gettext("No Match"),
                    subtitle: gettext_f(
                        "No operating system in the list matches “{search}”.",
                        &[("search", search)],
                    ),
                }
            });
        }
        view
    }

    /// The innermost open folder that still exists: its name and entries.
    fn folder<'a>(&self, catalog: &'a Catalog) -> Option<(&'a str, &'a [Entry])> {
        let id = self.folders.last()?;
        catalog
            .walk()
            .into_iter()
            .find(|e| &e.id == id)
            .and_then(|e| match &e.kind {
                EntryKind::Folder(children) => Some((e.name.as_str(), &children[..])),
                _ => None,
            })
    }

    fn row(&self, entry: &Entry, cache: Option<&ImageCache>) -> OsRow {
        let mut facts = Vec::new();
        if let Some(date) = &entry.release_date {
            facts.push(gettext_f("Released {date}", &[("date", date)]));
        }
        let mut cached = false;
        if let EntryKind::Image(image) = &entry.kind {
            if let Some(bytes) = image.download_size {
                facts.push(gettext_f("{size} download", &[("size", &size(bytes))]));
            }
            cached = image
                .download_sha256
                .zip(cache)
                .is_some_and(|(sha, cache)| cache.contains(&sha));
        }
        let mut subtitle = entry.description.trim().to_owned();
        if !facts.is_empty() {
            if !subtitle.is_empty() {
                subtitle.push('\n');
            }
            subtitle.push_str(&facts.join(" · "));
        }
        OsRow {
            id: entry.id.clone(),
            row: Row {
                title: entry.name.clone(),
                subtitle,
            },
            icon: entry
                .icon
                .as_ref()
                .and_then(|url| self.icons.get(url.as_str()).cloned()),
            folder: !matches!(entry.kind, EntryKind::Image(_)),
            cached,
        }
    }
}

#[cfg(test)]
mod tests;
