//! `blockprint create [-o OUTPUT] [--no-checksum] IMAGE`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use blockprint::create::{self, CreateOptions};
use blockprint::mapping::Method;
use blockprint::progress::CancelToken;
use blockprint::target::replace_file;

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
    write_bmap(args.output.as_deref(), &bmap.to_xml())?;
    out.info(format_args!(
        "created bmap of '{}': {}",
        args.image.display(),
        blocks_summary(bmap)
    ));
    Ok(())
}

/// Writes a bmap to `output` (see [`write_replacing`]), or to standard output without one.
pub(super) fn write_bmap(output: Option<&Path>, xml: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(path) => write_replacing(path, xml)
            .with_context(|| format!("cannot write bmap file '{}'", path.display())),
        None => std::io::stdout()
            .lock()
            .write_all(xml)
            .context("cannot write the bmap to standard output"),
    }
}

/// Writes `bytes` as the new content of `path`, put in place whole (a failed run never leaves
/// half a bmap) and without following anyone else's symbolic link; see
/// [`blockprint::target::replace_file`]. A FIFO or a terminal (`/dev/stdout`) is written
/// directly, once the opened descriptor is seen to be one: the open neither creates nor
/// truncates, so a path swapped for a link to a regular file meanwhile damages nothing.
fn write_replacing(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if special {
        let mut file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)?;
        if !file.metadata()?.is_file() {
            file.write_all(bytes)?;
            return Ok(());
        }
    }
    Ok(replace_file(path, bytes)?)
}
