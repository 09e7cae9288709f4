//! `blockprint catalog [--catalog CATALOG] [--device BOARD] [--json] [SEARCH…]`: the images of a
//! catalog with their ids, every linked list read; and `blockprint cache list|clear`, the
//! downloads kept for the next card. Names and descriptions come from a server:
//! printed with their control characters escaped.

use std::io::Write;

use anyhow::{Context as _, bail};
use blockprint::catalog::{self, Catalog, Entry, EntryKind, Fetcher, ImageCache, Location, Trust};
use blockprint::signature::Keyring;
use blockprint::size::human;
use blockprint::source::http::HttpClient;

use super::output::escape_controls;
use super::{CacheAction, CacheArgs, CatalogArgs, Output};

/// The catalog `--catalog` names (Raspberry Pi's list by default), every linked list read,
/// kept in the user's cache and read from it, with a warning, when its server is gone.
pub(super) fn load(
    named: Option<&str>,
    key: Option<&str>,
    out: &Output,
) -> anyhow::Result<Catalog> {
    let location = Location::parse(named.unwrap_or(catalog::RASPBERRY_PI))?;
    let http = HttpClient::new()?;
    let cache = catalog::user_cache();
    let keyring = Keyring::trusted();
    let fetcher = Fetcher {
        http: &http,
        cache: cache.as_deref(),
        trust: Trust {
            keyring: &keyring,
            pin: key,
        },
    };
    let catalog = catalog::load(&location, fetcher, true)?;
    if let Some(signer) = &catalog.signer {
        out.info(format_args!(
            "catalog '{}' is signed by {}",
            escape_controls(&catalog.origin),
            escape_controls(&signer.to_string())
        ));
    }
    if let Some(fetched) = catalog.fetched {
        out.warn(format_args!(
            "offline: the list is from {}, as its server cannot be reached now",
            catalog::age(fetched)
        ));
    }
    Ok(catalog)
}

pub(super) fn run(args: &CatalogArgs, out: &Output) -> anyhow::Result<()> {
    let catalog = load(args.catalog.as_deref(), args.catalog_key.as_deref(), out)?;
    let board = match &args.device {
        Some(wanted) => match catalog.board(wanted) {
            Some(board) => Some(board),
            None => bail!(
                "catalog '{}' knows no board '{}'; it knows: {}",
                escape_controls(&catalog.origin),
                escape_controls(wanted),
                boards(&catalog)
            ),
        },
        None => None,
    };
    let words = args.search.join(" ");
    let shown: Vec<&Entry> = catalog
        .walk()
        .into_iter()
        .filter(|e| matches!(e.kind, EntryKind::Image(_)))
        .filter(|e| board.is_none_or(|b| e.runs_on(b)))
        .filter(|e| e.matches(&words))
        .collect();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let list: Vec<serde_json::Value> = shown.iter().map(|e| json(e)).collect();
        let text = serde_json::to_string_pretty(&list).context("cannot format the list")?;
        writeln!(stdout, "{text}").context("cannot write to standard output")?;
        return Ok(());
    }
    if shown.is_empty() {
        out.info("no image in the catalog matches");
    }
    for entry in shown {
        let EntryKind::Image(image) = &entry.kind else {
            continue;
        };
        let size = image.extract_size.map(human).unwrap_or_else(|| "?".into());
        let line = format!(
            "{}\t{}\t{}\t{}",
            entry.id,
            entry.name,
            entry.release_date.as_deref().unwrap_or("-"),
            size
        );
        writeln!(stdout, "{}", escape_controls(&line))
            .context("cannot write to standard output")?;
    }
    Ok(())
}

/// `blockprint cache list|clear`: the downloads kept for the next card.
pub(super) fn cache(args: &CacheArgs, out: &Output) -> anyhow::Result<()> {
    let Some(cache) = ImageCache::user() else {
        bail!("there is no cache folder: set HOME or XDG_CACHE_HOME");
    };
    match args.action {
        CacheAction::List => {
            let kept = cache.list();
            if kept.is_empty() {
                out.info(format_args!(
                    "no downloads kept in {}",
                    cache.dir().display()
                ));
            }
            let mut stdout = std::io::stdout().lock();
            for k in kept {
                writeln!(
                    stdout,
                    "{}\t{}\t{}{}",
                    k.sha256,
                    human(k.size),
                    catalog::age(k.used),
                    if k.complete {
                        ""
                    } else {
                        "\tpart: the next download of it goes on from here"
                    }
                )
                .context("cannot write to standard output")?;
            }
        }
        CacheAction::Clear => {
            let (files, bytes) = cache
                .clear()
                .with_context(|| format!("cannot clear {}", cache.dir().display()))?;
            out.info(format_args!(
                "deleted {files} kept download{} ({})",
                if files == 1 { "" } else { "s" },
                human(bytes)
            ));
        }
    }
    Ok(())
}

/// "Raspberry Pi 5, Raspberry Pi 4", or "none" when it has no boards.
fn boards(catalog: &Catalog) -> String {
    if catalog.boards.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = catalog
        .boards
        .iter()
        .map(|b| escape_controls(&b.name).into_owned())
        .collect();
    names.join(", ")
}

fn hex(digest: &Option<[u8; 32]>) -> serde_json::Value {
    match digest {
        Some(d) => d
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into(),
        None => serde_json::Value::Null,
    }
}

fn json(entry: &Entry) -> serde_json::Value {
    let EntryKind::Image(image) = &entry.kind else {
        return serde_json::Value::Null;
    };
    serde_json::json!({
        "id": entry.id,
        "name": entry.name,
        "description": entry.description,
        "release_date": entry.release_date,
        "devices": entry.devices,
        "url": image.url.as_str(),
        "extract_size": image.extract_size,
        "extract_sha256": hex(&image.extract_sha256),
        "image_download_size": image.download_size,
        "image_download_sha256": hex(&image.download_sha256),
        "bmap_url": image.bmap_url.as_ref().map(|u| u.as_str()),
        "init_format": image.init_format,
    })
}
