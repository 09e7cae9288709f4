//! The window's side of "Choose OS…": the catalog read on a worker (the one named on the
//! command line, else the preference's, else Raspberry Pi's), the lists it links to read when
//! opened, the icons fetched once into the cache, and the page's answers turned into the
//! flow's messages.

use std::path::PathBuf;

use blockprint::catalog::{self, Catalog, Fetcher, LoadError, Location, Trust};
use blockprint::signature::Keyring;
use blockprint::source::Input;
use blockprint::source::http::{HttpClient, Url};
use gettextrs::gettext;
use relm4::gtk::prelude::*;
use relm4::{ComponentController, ComponentSender, adw};
use sha2::{Digest, Sha256};

use super::{App, AppCommandOutput, actions};
use crate::gui::flow::{Msg, Step};
use crate::gui::os_list::Activated;
use crate::gui::os_page::OsPageOutput;
use crate::gui::page::Row;

/// The largest icon fetched, in bytes.
const MAX_ICON: u64 = 512 << 10;

/// The most icons fetched for one list.
const MAX_ICONS: usize = 300;

/// A list read, or why not, for the page: a title, a sentence and the engine's words.
pub type Loaded = Result<Catalog, (Row, String)>;

impl App {
    /// Shows the catalog page, reading the catalog first if it is not read yet.
    pub(super) fn choose_os(
        &mut self,
        sender: &ComponentSender<App>,
        window: &adw::ApplicationWindow,
    ) {
        self.apply(Msg::GoTo(Step::Catalog), sender, window);
        if self.os_list.catalog.is_none() && !self.os_list.loading {
            self.reload_catalog(sender);
        }
        self.os_page.emit(crate::gui::os_page::OsPageInput::Focus);
    }

    /// Reads the catalog again (*Try Again*).
    pub(super) fn reload_catalog(&mut self, sender: &ComponentSender<App>) {
        self.os_list.loading = true;
        let location = self.catalog.clone().unwrap_or_else(|| {
            super::catalog_or_default(&self.settings.string(crate::gui::settings::CATALOG))
        });
        let pin = self.settings.string(crate::gui::settings::CATALOG_KEY);
        let pin = Some(pin.trim().to_owned()).filter(|p| !p.is_empty());
        sender.spawn_oneshot_command(move || {
            AppCommandOutput::Catalog(read(&location, pin.as_deref()), None)
        });
    }

    /// What the page says.
    pub(super) fn os_output(
        &mut self,
        out: OsPageOutput,
        sender: &ComponentSender<App>,
        window: &adw::ApplicationWindow,
    ) {
        match out {
            OsPageOutput::Activated(id) => match self.os_list.activate(&id) {
                Some(Activated::Choose(chosen)) => {
                    self.apply(Msg::OpenImage(Input::Catalog(chosen)), sender, window);
                }
                Some(Activated::OpenLink(id)) => {
                    if let Some(mut catalog) = self.os_list.catalog.clone() {
                        sender.spawn_oneshot_command(move || {
                            let result = open_link(&mut catalog, &id).map(|()| catalog);
                            AppCommandOutput::Catalog(result, Some(id))
                        });
                    }
                }
                Some(Activated::Opened) | None => {}
            },
            OsPageOutput::Search(text) => self.os_list.search = text,
            OsPageOutput::First => {
                let view = self.os_list.view(None);
                if let Some(first) = view.rows.into_iter().next() {
                    self.os_output(OsPageOutput::Activated(first.id), sender, window);
                }
            }
        }
    }

    /// A list came in: shown, and its icons fetched.
    pub(super) fn catalog_read(
        &mut self,
        result: Loaded,
        opened: Option<String>,
        sender: &ComponentSender<App>,
    ) {
        if let Err((_, details)) = &result {
            crate::cli::say("", &format_args!("catalog: {details}"));
        }
        let icons: Vec<Url> = result
            .as_ref()
            .map(|c| {
                c.walk()
                    .into_iter()
                    .filter_map(|e| e.icon.clone())
                    .filter(|u| !self.os_list.icons.contains_key(u.as_str()))
                    .take(MAX_ICONS)
                    .collect()
            })
            .unwrap_or_default();
        self.os_list.loaded(result, opened);
        if !icons.is_empty() {
            sender.spawn_oneshot_command(move || AppCommandOutput::Icons(fetch_icons(&icons)));
        }
    }

    /// The `catalog-board` action: the board at `place` in the page's list (0: every board).
    pub(super) fn choose_board(&mut self, place: &str) {
        let boards = self.os_list.catalog.as_ref().map_or(0, |c| c.boards.len());
        self.os_list.board = match place.parse::<usize>() {
            Ok(n) if (1..=boards).contains(&n) => Some(n - 1),
            _ => None,
        };
    }

    /// Sends the catalog page its view, and the board action its state.
    pub(super) fn show_os(&self) {
        let cache = crate::gui::settings::image_cache();
        let view = self.os_list.view(cache.as_ref());
        actions::board_state(view.board);
        self.os_page
            .emit(crate::gui::os_page::OsPageInput::Show(Box::new(view)));
    }
}

/// What a [`Fetcher`] borrows: the client, the cache folder, the trusted keys.
fn fetcher_parts() -> Result<(HttpClient, Option<PathBuf>, Keyring), LoadError> {
    Ok((
        HttpClient::new()?,
        catalog::user_cache(),
        Keyring::trusted(),
    ))
}

/// Reads the catalog at `location` (its linked lists when opened); `pin` is the key that must
/// have signed it.
fn read(location: &str, pin: Option<&str>) -> Loaded {
    let result = Location::parse(location).and_then(|location| {
        let (http, cache, keyring) = fetcher_parts()?;
        let fetcher = Fetcher {
            http: &http,
            cache: cache.as_deref(),
            trust: Trust {
                keyring: &keyring,
                pin,
            },
        };
        catalog::load(&location, fetcher, false)
    });
    result.map_err(|e| explain(&e))
}

/// Reads the list the entry `id` links to into `catalog`, judged by the trusted keys.
fn open_link(catalog: &mut Catalog, id: &str) -> Result<(), (Row, String)> {
    let (http, cache, keyring) = fetcher_parts().map_err(|e| explain(&e))?;
    let fetcher = Fetcher {
        http: &http,
        cache: cache.as_deref(),
        trust: Trust {
            keyring: &keyring,
            pin: None,
        },
    };
    catalog::open_link(catalog, id, fetcher).map_err(|e| explain(&e))
}

/// The page's words for a list that cannot be read.
fn explain(error: &LoadError) -> (Row, String) {
    let row = match error {
        LoadError::Signature(_) => Row {
            title: gettext("The List Is Not Signed as It Should Be"),
            subtitle: gettext(
                "Its signature is missing, not valid, or not by a key you trust, so it may not \
                 come from its publisher. See the details; or use a file.",
            ),
        },
        LoadError::Fetch(_) => Row {
            title: gettext("No Connection"),
            subtitle: gettext(
                "The list of operating systems cannot be downloaded, and there is no copy of \
                 it from before. Check the connection and try again, or use a file.",
            ),
        },
        _ => Row {
            title: gettext("The List Cannot Be Read"),
            subtitle: gettext(
                "The list of operating systems is broken or is not one. Try again later, or \
                 use a file.",
            ),
        },
    };
    let mut details = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        details.push_str(": ");
        details.push_str(&cause.to_string());
        source = cause.source();
    }
    (row, details)
}

/// Fetches each icon once into `$XDG_CACHE_HOME/blockprint/icons`, named by its address's
/// SHA-256; only PNG and JPEG files (checked by their first bytes) of at most [`MAX_ICON`]
/// bytes are kept, so nothing else reaches an image loader. A failed icon keeps its
/// placeholder.
fn fetch_icons(urls: &[Url]) -> Vec<(String, PathBuf)> {
    let Some(dir) = catalog::user_cache().and_then(|c| c.parent().map(|p| p.join("icons"))) else {
        return Vec::new();
    };
    if std::fs::create_dir_all(&dir).is_err() {
        return Vec::new();
    }
    let Ok(http) = HttpClient::new() else {
        return Vec::new();
    };
    let mut fetched = Vec::new();
    for url in urls {
        let name: String = Sha256::digest(url.as_str().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = dir.join(name);
        if !path.is_file() {
            let Ok(Some(bytes)) = http.fetch(url, MAX_ICON) else {
                continue;
            };
            let picture =
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(b"\xff\xd8\xff");
            if bytes.len() as u64 > MAX_ICON || !picture {
                continue;
            }
            let temporary = path.with_extension("part");
            if std::fs::write(&temporary, &bytes).is_err()
                || std::fs::rename(&temporary, &path).is_err()
            {
                continue;
            }
        }
        fetched.push((url.to_string(), path));
    }
    fetched
}
