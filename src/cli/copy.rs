//! `blockprint copy IMAGE DEST`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use blockprint::bmap::{self, Bmap, BmapError, BmapErrorKind};
use blockprint::copy::{self, CopyOptions, CopyReport};
use blockprint::discover;
use blockprint::progress::CancelToken;
use blockprint::size::human;
use blockprint::source::{Input, Opened, Opener};
use blockprint::target::{Target, TargetKind, TargetOptions};

use super::fanout;
use super::progress::TerminalProgress;
use super::signature::{self, SignatureOptions};
use super::{CopyArgs, Output};

pub(super) fn run(args: &CopyArgs, out: &Output) -> anyhow::Result<()> {
    let image = Input::parse(&args.image)?;
    let timeout = Duration::from_secs(args.timeout);
    let opener = Opener::with_timeout(timeout);
    let found = find_bmap(args, &image, &opener, out)?;
    let bmap = match &found {
        Some((input, bytes)) => {
            let options = SignatureOptions {
                skip: args.no_sig_verify,
                signature: args.bmap_sig.as_deref(),
                keyring: args.keyring.as_deref(),
                fingerprint: args.fingerprint.as_deref(),
            };
            let verified = signature::check(input, bytes, &options, &opener, out)?;
            Some(parse_bmap(input, &verified.text)?)
        }
        None => {
            let asked = [
                (args.bmap_sig.is_some(), "--bmap-sig"),
                (args.keyring.is_some(), "--keyring"),
                (args.fingerprint.is_some(), "--fingerprint"),
            ];
            if let Some((_, flag)) = asked.iter().find(|(given, _)| *given) {
                bail!("{flag} checks the bmap's signature, but --nobmap copies without a bmap");
            }
            None
        }
    };
    let Opened { mut source, layers } = opener.open(&image)?;
    if !layers.is_empty() {
        let layers: Vec<String> = layers.iter().map(ToString::to_string).collect();
        out.info(format_args!(
            "image '{image}' is {}",
            layers.join(", in it ")
        ));
    }
    if let Some(bmap) = &bmap {
        describe(bmap, out);
    }
    // Before the target is opened (and a destination file created): a wrong pair of image and
    // bmap, or an empty image, must not cost the user anything.
    copy::check_source(&*source, bmap.as_ref())?;

    let mut protected: Vec<PathBuf> = image.as_path().map(Path::to_path_buf).into_iter().collect();
    if let Some((Input::Path(path), _)) = &found {
        protected.push(path.clone());
    }
    let options = TargetOptions {
        removable_only: args.removable_device,
        protected,
    };
    if args.dest.len() > 1 && args.psplash_pipe.is_some() {
        bail!("--psplash-pipe reports the progress of one DEST; give one, or leave it out");
    }
    let targets = open_targets(&args.dest, &options)?;
    for target in &targets {
        let kind = match target.kind() {
            TargetKind::BlockDevice => "block device",
            TargetKind::File | TargetKind::Null => "file",
        };
        let dest = target.path().display();
        match &found {
            Some((bmap_input, _)) => out.info(format_args!(
                "copying image '{image}' to {kind} '{dest}' using bmap file '{bmap_input}'"
            )),
            None => out.info(format_args!(
                "copying image '{image}' to {kind} '{dest}' without a bmap{}",
                if source.size().is_none() {
                    " (its size is known only at its end)"
                } else {
                    ""
                }
            )),
        }
        out.debug(format_args!("direct I/O: {}", target.is_direct()));
    }

    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let copy_options = CopyOptions {
        verify_checksums: !args.no_verify,
        verify_readback: args.verify_readback,
        skip_readback: None,
        stall_timeout: Some(timeout),
    };
    if targets.len() > 1 {
        return fanout::copy(
            &mut *source,
            bmap.as_ref(),
            targets,
            &copy_options,
            &cancel,
            out,
        );
    }
    let mut progress = TerminalProgress::new(out);
    if let Some(pipe) = &args.psplash_pipe {
        let size = bmap
            .as_ref()
            .map_or(source.size().unwrap_or(0), Bmap::mapped_bytes);
        let work = size * if args.verify_readback { 2 } else { 1 };
        progress = progress.with_psplash(pipe, work);
    }
    let names: Vec<String> = targets
        .iter()
        .map(|t| t.path().display().to_string())
        .collect();
    let result = copy::copy_to_all(
        &mut *source,
        bmap.as_ref(),
        targets,
        &copy_options,
        &mut progress,
        &cancel,
    );
    progress.finish();
    for (name, result) in names.iter().zip(result?) {
        let report = result?;
        let secs = report.elapsed.as_secs_f64();
        out.info(format_args!(
            "copying time: {}, copying speed {}/sec",
            format_duration(secs),
            human((report.mapped_bytes as f64 / secs.max(1e-6)) as u64)
        ));
        out.info(format_args!(
            "wrote {} to '{name}'; {}",
            human(report.mapped_bytes),
            checks(&report)
        ));
    }
    Ok(())
}

/// Opens every destination, refusing one given twice (two names of one device, or one file).
fn open_targets(dests: &[PathBuf], options: &TargetOptions) -> anyhow::Result<Vec<Target>> {
    let mut seen: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut targets = Vec::with_capacity(dests.len());
    for dest in dests {
        // A file that does not exist yet is known by its folder's real path.
        let real = std::fs::canonicalize(dest)
            .or_else(|_| {
                let name = dest.file_name().unwrap_or_default();
                let folder = dest.parent().filter(|p| !p.as_os_str().is_empty());
                std::fs::canonicalize(folder.unwrap_or(Path::new("."))).map(|f| f.join(name))
            })
            .unwrap_or_else(|_| dest.clone());
        if let Some((first, _)) = seen.iter().find(|(_, other)| *other == real) {
            bail!(
                "'{}' and '{}' are the same destination; give each drive once",
                first.display(),
                dest.display()
            );
        }
        seen.push((dest.clone(), real));
        targets.push(Target::open(dest, options)?);
    }
    Ok(targets)
}

/// What was verified of a written target, for its summary line.
pub(super) fn checks(report: &CopyReport) -> String {
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
    checks.join(", ")
}

/// `--bmap`, or bmaptool's discovery next to the image; `None` with `--nobmap`. Returns where
/// the bmap is and its bytes.
fn find_bmap(
    args: &CopyArgs,
    image: &Input,
    opener: &Opener,
    out: &Output,
) -> anyhow::Result<Option<(Input, Vec<u8>)>> {
    if args.nobmap {
        return Ok(None);
    }
    if let Some(text) = &args.bmap {
        let input = Input::parse(text)?;
        let bytes = opener
            .fetch(&input, bmap::MAX_FILE_SIZE + 1)?
            .ok_or_else(|| anyhow!("bmap file '{input}' does not exist"))?;
        refuse_image_as_bmap(&input, image)?;
        return Ok(Some((input, bytes)));
    }
    let candidates = discover::bmap_candidates_for(image);
    if candidates.is_empty() {
        bail!(
            "no bmap can be looked for next to {image}; name one with --bmap, or write the whole image with --nobmap"
        );
    }
    for candidate in &candidates {
        if let Some(bytes) = opener.fetch_next_to(candidate, image, bmap::MAX_FILE_SIZE + 1)? {
            out.info(format_args!("discovered bmap file '{candidate}'"));
            refuse_image_as_bmap(candidate, image)?;
            return Ok(Some((candidate.clone(), bytes)));
        }
    }
    let tried: Vec<String> = candidates.iter().map(|p| format!("'{p}'")).collect();
    bail!(
        "no bmap file found for image '{image}' (looked for {}); name one with --bmap, or write the whole image with --nobmap",
        tried.join(", ")
    );
}

/// bmaptool's guard against writing a bmap instead of its image.
fn refuse_image_as_bmap(bmap: &Input, image: &Input) -> anyhow::Result<()> {
    let same = match (bmap, image) {
        (Input::Path(a), Input::Path(b)) => same_file(a, b),
        _ => bmap == image,
    };
    if same {
        bail!(
            "the bmap file '{bmap}' is the image itself; make sure you are writing your image and not its bmap"
        );
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => a == b,
    }
}

/// Parses bmap bytes (already checked for a signature) from `input`.
pub(super) fn parse_bmap(input: &Input, text: &[u8]) -> anyhow::Result<Bmap> {
    let name = PathBuf::from(input.to_string());
    if text.len() as u64 > bmap::MAX_FILE_SIZE {
        return Err(BmapError {
            path: name,
            line: None,
            kind: BmapErrorKind::TooLarge {
                limit: bmap::MAX_FILE_SIZE,
            },
        }
        .into());
    }
    Ok(Bmap::from_bytes(text, &name)?)
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

pub(super) fn format_duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let minutes = (secs / 60.0).floor();
        format!("{minutes:.0}m {:.1}s", secs - minutes * 60.0)
    }
}
