//! `blockprint copy IMAGE DEST`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use blockprint::bmap::{self, Bmap};
use blockprint::copy::{self, CopyOptions};
use blockprint::discover;
use blockprint::progress::CancelToken;
use blockprint::size::human;
use blockprint::source::{FileSource, ImageSource};
use blockprint::target::{Target, TargetKind, TargetOptions};

use super::progress::TerminalProgress;
use super::{CopyArgs, Output};

/// What to do about a bmap's OpenPGP signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signatures {
    /// A signature is present but cannot be checked: refuse (copy without --no-sig-verify).
    Refuse,
    /// Use the bmap whatever its signature (--no-sig-verify, or verify).
    Ignore,
}

pub(super) fn run(args: &CopyArgs, out: &Output) -> anyhow::Result<()> {
    if args.bmap_sig.is_some() || args.keyring.is_some() || args.fingerprint.is_some() {
        bail!(
            "OpenPGP signature checking (--bmap-sig, --keyring, --fingerprint) is not supported by this version yet; pass --no-sig-verify to copy without checking the signature"
        );
    }
    let bmap_path = find_bmap(args, out)?;
    let bmap = match &bmap_path {
        Some(path) => {
            let policy = if args.no_sig_verify {
                Signatures::Ignore
            } else {
                Signatures::Refuse
            };
            Some(load_bmap(path, policy, out)?)
        }
        None => None,
    };
    let mut source = FileSource::open(&args.image)
        .with_context(|| format!("cannot open image '{}'", args.image.display()))?;
    if let Some(bmap) = &bmap {
        describe(bmap, out);
    }
    // Before the target is opened (and a destination file created): a wrong pair of image and
    // bmap, or an empty image, must not cost the user anything.
    copy::check_source(&source, bmap.as_ref())?;

    let mut protected = vec![args.image.clone()];
    protected.extend(bmap_path.clone());
    let options = TargetOptions {
        removable_only: args.removable_device,
        protected,
    };
    let mut target = Target::open(&args.dest, &options)?;
    let kind = match target.kind() {
        TargetKind::BlockDevice => "block device",
        TargetKind::File | TargetKind::Null => "file",
    };
    match &bmap_path {
        Some(path) => out.info(format_args!(
            "copying image '{}' to {kind} '{}' using bmap file '{}'",
            args.image.display(),
            args.dest.display(),
            path.display()
        )),
        None => out.info(format_args!(
            "copying image '{}' to {kind} '{}' without a bmap",
            args.image.display(),
            args.dest.display()
        )),
    }
    out.debug(format_args!("direct I/O: {}", target.is_direct()));

    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let copy_options = CopyOptions {
        verify_checksums: !args.no_verify,
        verify_readback: args.verify_readback,
    };
    let mut progress = TerminalProgress::new(out);
    if let Some(pipe) = &args.psplash_pipe {
        let size = bmap
            .as_ref()
            .map_or(source.size().unwrap_or(0), Bmap::mapped_bytes);
        let work = size * if args.verify_readback { 2 } else { 1 };
        progress = progress.with_psplash(pipe, work);
    }
    let result = copy::copy(
        &mut source,
        bmap.as_ref(),
        &mut target,
        &copy_options,
        &mut progress,
        &cancel,
    );
    progress.finish();
    let report = result?;

    let secs = report.elapsed.as_secs_f64();
    out.info(format_args!(
        "copying time: {}, copying speed {}/sec",
        format_duration(secs),
        human((report.mapped_bytes as f64 / secs.max(1e-6)) as u64)
    ));
    let mut checks = Vec::new();
    if report.ranges_verified > 0 {
        checks.push(format!(
            "{} of {} ranges verified",
            report.ranges_verified, report.ranges
        ));
    }
    if report.read_back {
        checks.push("all read back and compared".to_owned());
    }
    if checks.is_empty() {
        checks.push("nothing verified".to_owned());
    }
    out.info(format_args!(
        "wrote {} to '{}'; {}",
        human(report.mapped_bytes),
        args.dest.display(),
        checks.join(", ")
    ));
    Ok(())
}

/// `--bmap`, or bmaptool's discovery; `None` with `--nobmap`.
fn find_bmap(args: &CopyArgs, out: &Output) -> anyhow::Result<Option<PathBuf>> {
    if args.nobmap {
        return Ok(None);
    }
    let path = match &args.bmap {
        Some(path) => path.clone(),
        None => {
            let Some(path) = discover::find_bmap(&args.image) else {
                let tried: Vec<String> = discover::bmap_candidates(&args.image)
                    .iter()
                    .map(|p| format!("'{}'", p.display()))
                    .collect();
                bail!(
                    "no bmap file found for image '{}' (looked for {}); name one with --bmap, or write the whole image with --nobmap",
                    args.image.display(),
                    tried.join(", ")
                );
            };
            out.info(format_args!("discovered bmap file '{}'", path.display()));
            path
        }
    };
    if same_file(&path, &args.image) {
        bail!(
            "the bmap file '{}' is the image itself; make sure you are writing your image and not its bmap",
            path.display()
        );
    }
    Ok(Some(path))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => a == b,
    }
}

/// Reads a bmap, applying the signature policy to clearsigned files and detached signatures.
pub(super) fn load_bmap(path: &Path, signatures: Signatures, out: &Output) -> anyhow::Result<Bmap> {
    let bytes = bmap::read_file(path)?;
    let not_yet = "this version of blockprint cannot check OpenPGP signatures yet; pass --no-sig-verify to use the bmap without checking it";
    if bmap::is_clearsigned(&bytes) {
        if signatures == Signatures::Refuse {
            bail!(
                "bmap file '{}' is clearsigned, and {not_yet}",
                path.display()
            );
        }
        let text = bmap::cleartext(&bytes).ok_or_else(|| {
            anyhow!(
                "bmap file '{}': the clearsigned message is malformed (no signature block after the text)",
                path.display()
            )
        })?;
        out.debug(format_args!(
            "using clearsigned bmap '{}' without checking its signature",
            path.display()
        ));
        return Ok(Bmap::from_bytes(&text, path)?);
    }
    if signatures == Signatures::Refuse
        && let Some(signature) = discover::find_signature(path)
    {
        bail!(
            "bmap file '{}' has a signature '{}', and {not_yet}",
            path.display(),
            signature.display()
        );
    }
    Ok(Bmap::from_bytes(&bytes, path)?)
}

/// bmaptool's opening lines about a bmap.
pub(super) fn describe(bmap: &Bmap, out: &Output) {
    out.info(format_args!("block map format version {}", bmap.version()));
    out.info(blocks_summary(bmap));
}

/// "201 blocks of size 4096 (802.5 KiB), mapped 117 blocks (468.0 KiB or 58.2%)", as bmaptool
/// says it.
pub(super) fn blocks_summary(bmap: &Bmap) -> String {
    let (mapped_bytes, mapped_percent) = bmap.mapped_summary();
    format!(
        "{} blocks of size {} ({}), mapped {} blocks ({} or {mapped_percent:.1}%)",
        bmap.blocks_count(),
        bmap.block_size(),
        human(bmap.image_size()),
        bmap.mapped_blocks_count(),
        human(mapped_bytes),
    )
}

/// Ctrl-C (or SIGTERM) cancels the copy at the next chunk; a second one exits at once.
pub(super) fn install_interrupt_handler(cancel: &CancelToken) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, cancel.flag())
            .and_then(|_| signal_hook::flag::register(signal, cancel.flag()))
            .context("cannot install the interrupt handler")?;
    }
    Ok(())
}

fn format_duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let minutes = (secs / 60.0).floor();
        format!("{minutes:.0}m {:.1}s", secs - minutes * 60.0)
    }
}
