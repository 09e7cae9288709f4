//! An image URL, downloaded once into a local file for the whole run (every batch of cards
//! reads it again), and deleted when the station ends.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use blockprint::size::human;
use blockprint::source::RandomAccess;
use blockprint::source::http::{HttpClient, Remote};
use reqwest::Url;

use crate::cli::Output;

/// Bytes read at a time.
const CHUNK: usize = 4 << 20;

/// The downloaded file, removed on drop.
pub(super) struct Download {
    path: PathBuf,
}

impl Download {
    /// Downloads `url` into the user's cache folder (`$XDG_CACHE_HOME/blockprint`).
    pub(super) fn fetch(url: &Url, timeout: Duration, out: &Output) -> anyhow::Result<Self> {
        let folder = cache_folder().join("station");
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create '{}'", folder.display()))?;
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|n| !n.is_empty() && !n.starts_with('.'))
            .unwrap_or("image");
        let download = Self {
            path: folder.join(format!("{}-{name}", std::process::id())),
        };
        let started = Instant::now();
        out.info(format_args!(
            "downloading '{url}' once, to '{}'",
            download.path.display()
        ));
        let client = HttpClient::new()?.with_read_timeout(timeout)?;
        let mut file = File::create(&download.path)
            .with_context(|| format!("cannot create '{}'", download.path.display()))?;
        let bytes = match client.open(url)? {
            Remote::Random(store) => copy_store(&*store, &mut file)?,
            Remote::Stream { mut reader, .. } => copy_stream(&mut reader, &mut file)?,
        };
        file.sync_all()
            .with_context(|| format!("cannot write '{}'", download.path.display()))?;
        out.info(format_args!(
            "downloaded {} in {:.1} s",
            human(bytes),
            started.elapsed().as_secs_f64()
        ));
        Ok(download)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn copy_store(store: &dyn RandomAccess, file: &mut File) -> anyhow::Result<u64> {
    let mut buf = vec![0; CHUNK];
    let mut offset = 0;
    while offset < store.len() {
        let len = usize::try_from(store.len() - offset).map_or(CHUNK, |left| left.min(CHUNK));
        store
            .read_exact_at(offset, &mut buf[..len])
            .with_context(|| format!("cannot download '{}' at byte {offset}", store.name()))?;
        file.write_all(&buf[..len])
            .context("cannot keep the download")?;
        offset += len as u64;
    }
    Ok(offset)
}

fn copy_stream(reader: &mut dyn Read, file: &mut File) -> anyhow::Result<u64> {
    std::io::copy(reader, file).context("the download stopped")
}

/// `$XDG_CACHE_HOME/blockprint` (beside the catalogs' cache), else a folder in /var/tmp.
fn cache_folder() -> PathBuf {
    blockprint::catalog::user_cache()
        .and_then(|catalogs| catalogs.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/var/tmp/blockprint"))
}
