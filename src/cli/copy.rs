//! `blockprint copy IMAGE DEST…`: the image read and verified once and written to every DEST
//! at once, with bmaptool's lines for one DEST, and a line per DEST at the end for several
//! (exit status 0 only if every DEST was written).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use blockprint::bmap::Bmap;
use blockprint::copy::{self, CopyOptions, CopyReport, Mapping, Reopen};
use blockprint::discover::{self, BmapChoice, Checked, Lookup};
use blockprint::firstboot::{self, FirstBoot};
use blockprint::identify::{self, Advice, Identity};
use blockprint::progress::CancelToken;
use blockprint::size::human;
use blockprint::source::{
    Digested, Format, ImageSource, Input, Opened, Opener, SourceError, check_gzip_end,
};
use blockprint::target::{Target, TargetKind, TargetOptions};

use super::copy_summary::{applied_lines, card_lines, checks, format_duration, summarize};
use super::device::{Devices, PowerOff};
use super::from_catalog;
use super::output::escape_controls;
use super::progress::TerminalProgress;
use super::signature::{self, SignatureOptions};
use super::unmapped::{self, Unmapped};
use super::{CopyArgs, Output};

pub(super) fn run(args: &CopyArgs, out: &Output) -> anyhow::Result<()> {
    // Before anything is opened: a mistyped settings file costs nothing.
    let settings = match &args.settings {
        Some(path) => {
            let settings = firstboot::parse_file(path)?;
            if settings.is_empty() {
                bail!(
                    "the settings file '{}' sets nothing; give a hostname, [user], [ssh], [wifi] or [locale], or leave out --settings",
                    path.display()
                );
            }
            Some(settings)
        }
        None => None,
    };
    let entry = match args.image.strip_prefix("catalog:") {
        Some(id) => Some(from_catalog::entry(args, id, out)?),
        None => None,
    };
    let first_boot = match settings {
        Some(settings) => Some(Arc::new(FirstBoot {
            settings,
            declared: declared_format(entry.as_ref(), out)?,
        })),
        None => None,
    };
    let image = match entry {
        Some(chosen) => Input::Catalog(Box::new(chosen)),
        None => Input::parse(&args.image)?,
    };
    let timeout = Duration::from_secs(args.timeout);
    let (report, name) = (*out, image.to_string());
    let opener = Opener::with_timeout(timeout)
        .with_notes(move |note| report.info(format_args!("image '{name}': {note}")));
    let bmap_named = args.bmap.clone();
    // A catalog entry with a SHA-256 (or a signature) is checked whole without a bmap: none is
    // needed.
    let sums = match &image {
        Input::Catalog(chosen) => {
            let image = &chosen.image;
            image.extract_sha256.is_some()
                || image.download_sha256.is_some()
                || image.signature_url.is_some()
        }
        _ => false,
    };
    let checked = find_bmap(args, bmap_named.as_deref(), &image, &opener, sums, out)?;
    let bmap = checked.as_ref().map(Checked::parse).transpose()?;
    if checked.is_none() {
        let asked = [
            (args.bmap_sig.is_some(), "--bmap-sig"),
            (args.keyring.is_some(), "--keyring"),
            (args.fingerprint.is_some(), "--fingerprint"),
        ];
        if let Some((_, flag)) = asked.iter().find(|(given, _)| *given) {
            if args.nobmap {
                bail!("{flag} checks the bmap's signature, but --nobmap copies without a bmap");
            }
            bail!(
                "{flag} checks the bmap's signature, but no bmap was found for '{image}'; name it with --bmap"
            );
        }
    }
    let Opened {
        mut source,
        mut layers,
        store,
    } = opener
        .open(&image)
        .map_err(|e| archive_of_files(e, &image))?;
    // An image URL next to a distribution's signed SHA256SUMS is checked against it, as a
    // catalog entry is against its catalog (looked for once the image is open: its server
    // answers the image first). A raw image is hashed as it is read; a compressed one is
    // opened again, so that its download is.
    // Whether the image is checked whole as it is read (the summary says so).
    let mut whole = sums;
    if let Input::Url(url) = &image
        && let Some(official) = from_catalog::official(args, url, out)?
    {
        whole = true;
        if layers.is_empty() {
            source = Box::new(Digested::new(source, official.image.download_sha256, None));
        } else {
            Opened { source, layers, .. } = opener.open(&Input::Catalog(Box::new(official)))?;
        }
    }
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
    let unmapped = match (&bmap, args.nobmap) {
        (Some(_), _) => None,
        (None, true) => Some(Unmapped::Whole),
        (None, false) => Some(unmapped::choose(
            store,
            &image.to_string(),
            args.explain,
            out,
        )),
    };
    let mapping = match (&bmap, &unmapped) {
        (Some(bmap), _) => Mapping::Bmap(bmap),
        (None, Some(Unmapped::Scanned(report))) => Mapping::Scanned(report),
        (None, Some(Unmapped::Stream)) => Mapping::Stream,
        (None, _) => Mapping::Whole,
    };
    // Before the target is opened (and a destination file created): a wrong pair of image and
    // bmap, a cut-short gzip download, or an empty image, must not cost the user anything.
    copy::check_source(&*source, bmap.as_ref())?;
    if let (Some(path), Some(bmap), [layer]) = (image.as_path(), &bmap, &layers[..])
        && layer.format == Format::Gzip
    {
        check_gzip_end(path, source.name(), bmap.image_size(), &CancelToken::new())?;
    }
    // Not a raw image over HTTP with a bmap: fetched only where mapped, reading ahead of it
    // to tell what it is would fetch what the bmap leaves out.
    if bmap.is_none() || !layers.is_empty() || !matches!(image, Input::Url(_)) {
        source = judge(args, &image, layers.is_empty(), source, out)?;
    }
    // A plain image file is looked at now; a compressed or streamed one is looked at on the
    // card, once written (then a refusal leaves its first MiB unwritten).
    if let (Some(first_boot), Some(path), true) = (&first_boot, image.as_path(), layers.is_empty())
    {
        let format = firstboot::detect_image(path, first_boot.declared)?;
        out.info(format_args!(
            "image '{image}' takes first-boot settings as {format}"
        ));
    }

    let mut protected: Vec<PathBuf> = image.as_path().map(Path::to_path_buf).into_iter().collect();
    if let Some(Input::Path(path)) = checked.as_ref().map(|c| &c.location) {
        protected.push(path.clone());
    }
    let options = TargetOptions {
        removable_only: args.removable_device,
        protected,
    };
    if args.dest.len() > 1 && args.psplash_pipe.is_some() {
        bail!("--psplash-pipe reports the progress of one DEST; give one, or leave it out");
    }
    let mut devices = Devices::new(out);
    let targets = open_targets(&args.dest, &options, &mut devices)?;
    if first_boot.is_some()
        && let Some(null) = targets.iter().find(|t| t.kind() == TargetKind::Null)
    {
        bail!(
            "'{}' keeps nothing written to it, so --settings cannot be written there; give a card or an image file",
            null.path().display()
        );
    }
    for target in &targets {
        let kind = match target.kind() {
            TargetKind::BlockDevice => "block device",
            TargetKind::File | TargetKind::Null => "file",
        };
        let dest = target.path().display();
        match &checked {
            Some(checked) => out.info(format_args!(
                "copying image '{image}' to {kind} '{dest}' using bmap file '{}'",
                checked.location
            )),
            None => out.info(format_args!(
                "copying image '{image}' to {kind} '{dest}' without a bmap{}{}",
                match mapping {
                    Mapping::Whole => "",
                    _ => ", as its filesystems say",
                },
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
        first_boot,
        first_boot_each: Vec::new(),
        reopen: reopen(&image, timeout),
        check_capacity: args.check_capacity,
    };
    let names: Vec<String> = targets
        .iter()
        .map(|t| t.path().display().to_string())
        .collect();
    let mut progress = TerminalProgress::per_dest(out, &names);
    if let Some(pipe) = &args.psplash_pipe {
        let size = match mapping {
            Mapping::Bmap(bmap) => bmap.mapped_bytes(),
            Mapping::Scanned(report) => report.image_size - report.free.total(),
            _ => source.size().unwrap_or(0),
        };
        let work = size * if args.verify_readback { 2 } else { 1 };
        progress = progress.with_psplash(pipe, work);
    }
    let results = copy::copy_mapped(
        &mut *source,
        mapping,
        targets,
        &copy_options,
        &mut progress,
        &cancel,
    );
    progress.finish();
    let power = PowerOff::from_flags(args.power_off, args.no_power_off);
    for (dest, result) in args.dest.iter().zip(&results) {
        if result.is_ok() {
            devices.finish(dest, power);
        }
    }
    // A failure no line has told yet (the copy's as a whole, or the only DEST's) is the error.
    let untold = results
        .iter()
        .enumerate()
        .find_map(|(index, result)| result.as_ref().err().filter(|_| !progress.told(index)));
    if let Some(error) = untold {
        return Err(Arc::clone(error).into());
    }
    if let Some(report) = results.iter().find_map(|r| r.as_ref().ok()) {
        if let Some(findings) = &report.streamed {
            unmapped::streamed(findings, args.explain, out);
        }
        keep_beside_download(&image, &mapping, report, &opener, out);
        if let Some(path) = &args.save_bmap {
            match &bmap {
                Some(bmap) => super::create::write_bmap(Some(path), &bmap.to_xml())?,
                None => unmapped::save(path, report, out)?,
            }
        }
    }
    if let [Ok(report)] = &results[..] {
        let secs = report.elapsed.as_secs_f64();
        out.info(format_args!(
            "copying time: {}, copying speed {}/sec",
            format_duration(secs),
            human((report.mapped_bytes as f64 / secs.max(1e-6)) as u64)
        ));
        out.info(format_args!(
            "wrote {} to '{}'; {}",
            human(report.mapped_bytes),
            names[0],
            checks(report, whole)
        ));
        card_lines(report, None, out);
        if let Some(applied) = &report.first_boot {
            applied_lines(applied, None, out);
        }
        return Ok(());
    }
    summarize(&names, &results, (args.verify_readback, whole), out)
}

/// A catalog image written without a bmap: the bmap of what was written is kept beside its
/// cached download, so the next card of it is written as with a published one.
fn keep_beside_download(
    image: &Input,
    mapping: &Mapping<'_>,
    report: &CopyReport,
    opener: &Opener,
    out: &Output,
) {
    if !matches!(mapping, Mapping::Scanned(_) | Mapping::Stream) {
        return;
    }
    let (Input::Catalog(chosen), Some(written)) = (image, &report.bmap) else {
        return;
    };
    let (Some(sha256), Some(cache)) = (chosen.image.download_sha256, opener.image_cache()) else {
        return;
    };
    match cache.keep_bmap(&sha256, &written.to_xml()) {
        Ok(Some(path)) => out.info(format_args!(
            "kept the bmap of what was written beside the cached download, for the next card ('{}')",
            path.display()
        )),
        Ok(None) => {}
        Err(e) => out.warn(format_args!(
            "could not keep the bmap of what was written beside the cached download: {e}"
        )),
    }
}

/// What the image is, said before anything is written: one that will not work written raw (a
/// Windows installer ISO, a file that is no disk image) is refused unless --force, an ISO that
/// boots from optical media only is warned about. A raw local file is looked at where it is,
/// anything else through the bytes read ahead of `source`, which it then gives again.
fn judge(
    args: &CopyArgs,
    image: &Input,
    raw: bool,
    source: Box<dyn ImageSource>,
    out: &Output,
) -> anyhow::Result<Box<dyn ImageSource>> {
    let (identity, source) = match image.as_path().filter(|_| raw) {
        Some(path) => (identify::identify_path(path), source),
        None => {
            let head = identify::peek(source, identify::HEAD_LIMIT);
            (identify::identify(&head), head.into_source())
        }
    };
    advise(&identity, image, args.force, out)?;
    Ok(source)
}

/// Says what the image is, as its [`Advice`] asks: refuses one that will not work written raw
/// unless `force`.
pub(super) fn advise(
    identity: &Identity,
    image: &Input,
    force: bool,
    out: &Output,
) -> anyhow::Result<()> {
    let said = format!(
        "image '{image}': {}",
        escape_controls(&identity.to_string())
    );
    match identity.advice() {
        Advice::Fine => out.debug(said),
        Advice::Note => out.info(said),
        Advice::Warn => out.warn(said),
        Advice::Refuse if force => out.warn(format_args!("{said}; writing it anyway (--force)")),
        Advice::Refuse => bail!("{said}, or write it anyway with --force"),
    }
    Ok(())
}

/// An archive without a disk image member, said as what it is when it is a local file ("a
/// ZIP archive of 3 files, not a disk image"), with the members the error lists.
fn archive_of_files(error: SourceError, image: &Input) -> anyhow::Error {
    if let (SourceError::NoImageMember { .. }, Some(path)) = (&error, image.as_path())
        && let Identity::NotADiskImage { looks_like } = identify::identify_path(path)
    {
        let looks = escape_controls(&looks_like.to_string()).into_owned();
        return anyhow::Error::new(error)
            .context(format!("image '{image}' is {looks}, not a disk image"));
    }
    error.into()
}

/// The first-boot format `entry`'s catalog declares: `None` to look inside the image (no
/// entry, no `init_format`, or one Blockprint does not know); an error when it says the image
/// takes none.
fn declared_format(
    entry: Option<&blockprint::catalog::Chosen>,
    out: &Output,
) -> anyhow::Result<Option<firstboot::Format>> {
    let Some((entry, name)) = entry.and_then(|e| e.image.init_format.as_deref().map(|n| (e, n)))
    else {
        return Ok(None);
    };
    if name == "none" {
        bail!(
            "the catalog says '{}' takes no first-boot settings (its init_format is \"none\"); write it without --settings",
            entry.name
        );
    }
    let format = firstboot::Format::from_init_format(name);
    if format.is_none() {
        out.warn(format_args!(
            "the catalog names a first-boot format Blockprint does not know for '{}' ('{name}'); the image is looked at instead",
            entry.name
        ));
    }
    Ok(format)
}

/// Opens every destination, refusing one given twice (two names of one device, or one file).
fn open_targets(
    dests: &[PathBuf],
    options: &TargetOptions,
    devices: &mut Devices<'_>,
) -> anyhow::Result<Vec<Target>> {
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
        targets.push(devices.open(dest, options)?);
    }
    Ok(targets)
}

/// Opens the image again, for writing again ranges that did not read back; not standard
/// input, which cannot be read twice.
fn reopen(image: &Input, timeout: Duration) -> Option<Reopen> {
    if matches!(image, Input::Stdin) {
        return None;
    }
    let image = image.clone();
    Some(Reopen::new(move || {
        Opener::with_timeout(timeout).open(&image).map(|o| o.source)
    }))
}

/// `bmap` (`--bmap`, or a catalog entry's), or bmaptool's discovery next to the image, its
/// signature checked and reported; `None` with `--nobmap`, or when none is found for an image
/// that `sums` (its catalog's SHA-256) checks whole.
fn find_bmap(
    args: &CopyArgs,
    bmap: Option<&str>,
    image: &Input,
    opener: &Opener,
    sums: bool,
    out: &Output,
) -> anyhow::Result<Option<Checked>> {
    if args.nobmap {
        return Ok(None);
    }
    let choice = match bmap {
        Some(text) => BmapChoice::Given(Input::parse(text)?),
        None => BmapChoice::Discover,
    };
    let signature = args.bmap_sig.as_deref().map(Input::parse).transpose()?;
    let options = SignatureOptions {
        skip: args.no_sig_verify,
        keyring: args.keyring.as_deref(),
        fingerprint: args.fingerprint.as_deref(),
        require: args.require_signature,
    };
    let lookup = discover::find_checked(
        image,
        &choice,
        signature.as_ref(),
        &options.policy(),
        opener,
    )?;
    let checked = match lookup {
        Lookup::Found(checked) => *checked,
        Lookup::Missing { .. } if sums && bmap.is_none() => {
            out.info(format_args!(
                "no bmap for '{image}': it is checked as its catalog says, whole as it is read"
            ));
            return Ok(None);
        }
        Lookup::Missing { tried } if args.require_signature => {
            let tried: Vec<String> = tried.iter().map(|p| format!("'{p}'")).collect();
            bail!(
                "no bmap file found for image '{image}' (looked for {}), and --require-signature refuses an image without a signed bmap; name one with --bmap",
                if tried.is_empty() {
                    "nothing: it has no folder".to_owned()
                } else {
                    tried.join(", ")
                }
            );
        }
        Lookup::Missing { tried } => {
            if !tried.is_empty() {
                let tried: Vec<String> = tried.iter().map(|p| format!("'{p}'")).collect();
                out.debug(format_args!(
                    "no bmap file found for image '{image}' (looked for {})",
                    tried.join(", ")
                ));
            }
            return Ok(None);
        }
    };
    if checked.discovered {
        out.info(format_args!("discovered bmap file '{}'", checked.location));
    }
    signature::report(&checked, out)?;
    Ok(Some(checked))
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
