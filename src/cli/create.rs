//! `blockprint create [-o OUTPUT] [--no-checksum] IMAGE`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use blockprint::create::{self, CreateOptions};
use blockprint::mapping::Method;
use blockprint::progress::CancelToken;

use super::copy::{blocks_summary, install_interrupt_handler};
use super::progress::TerminalProgress;
use super::{CreateArgs, Output};

pub(super) fn run(args: &CreateArgs, out: &Output) -> anyhow::Result<()> {
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let mut progress = TerminalProgress::new(out);
    let options = CreateOptions {
        checksums: !args.no_checksum,
    };
    let result = create::create(&args.image, options, &mut progress, &cancel);
    progress.finish();
    let created = result?;
    let bmap = &created.bmap;
    out.debug(format_args!(
        "mapped areas found with {}",
        match created.method {
            Method::Fiemap => "FIEMAP",
            Method::SeekHole => "SEEK_DATA/SEEK_HOLE",
        }
    ));
    let xml = bmap.to_xml();
    match &args.output {
        Some(path) => write_replacing(path, &xml)
            .with_context(|| format!("cannot write bmap file '{}'", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(&xml)
            .context("cannot write the bmap to standard output")?,
    }
    out.info(format_args!(
        "created bmap of '{}': {}",
        args.image.display(),
        blocks_summary(bmap)
    ));
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so a failed
/// run never leaves half a bmap. Special files (a FIFO, /dev/stdout) are written directly.
pub(super) fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
    if special {
        return std::fs::write(path, bytes);
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        // The temporary file may not exist; the original error is the one to report.
        let _ = std::fs::remove_file(&temp);
    }
    result
}
