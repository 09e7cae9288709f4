//! The Image step: the image's format and sizes, how much of it is written ("Fast write"), its
//! signature when there is one to speak of, what a worker is doing, and why an image failed;
//! the block map itself (where it is, why a scan failed) under *Advanced*.

use blockprint::catalog::{Chosen, ImageCache};
use blockprint::source::Input;
use blockprint::source::http::Url;
use gettextrs::gettext;

use crate::gui::customise::words;
use crate::gui::flow::{Busy, FirstBootChoice, FirstBootSupport, Flow};
use crate::gui::i18n::gettext_f;
use crate::gui::image_page::{ImageRows, ImageView};
use crate::gui::inspect::{BmapState, ImageInfo, InspectError, SignatureState};
use crate::gui::page::Row;
use crate::gui::wording::{UserFacing, signature, size, user_error};

/// What the Image page shows.
pub fn view(flow: &Flow) -> ImageView {
    let error = flow.image_error.as_ref().map(user_error);
    let bmap_error = flow.image.as_ref().and_then(|image| match &image.bmap {
        BmapState::Invalid { error, .. } => Some(user_error(&**error)),
        _ => None,
    });
    ImageView {
        busy: flow.busy.map(|busy| match busy {
            Busy::Reading => gettext("Reading the image…"),
            Busy::Scanning => gettext("Finding the space the image uses…"),
        }),
        details: error
            .as_ref()
            .or(bmap_error.as_ref())
            .map(|e| e.details.clone()),
        error: error.map(|e| Row {
            title: e.title,
            subtitle: e.body,
        }),
        scanning: flow.busy == Some(Busy::Scanning),
        image: flow.image.as_ref().map(|image| {
            let mut rows = rows(
                image,
                flow.busy,
                flow.scan_error.as_ref(),
                flow.write_everything,
            );
            (rows.first_boot, rows.first_boot_tooltip) =
                first_boot(flow.first_boot.as_ref(), &flow.first_boot_support);
            rows
        }),
    }
}

/// The First-Boot Settings row: the settings in a few words ("None"), over what the image
/// does with them; the tooltip has the engine's words for why an image has no mechanism.
pub fn first_boot(
    choice: Option<&FirstBootChoice>,
    support: &FirstBootSupport,
) -> (Row, Option<String>) {
    let title = gettext("First-Boot Settings");
    let settings = match choice {
        Some(choice) => words::summary(&choice.settings),
        None => gettext("No settings"),
    };
    if let FirstBootSupport::Missing(missing) = support {
        let subtitle = words::unsettable(missing.why.as_ref());
        return (Row { title, subtitle }, Some(missing.details.clone()));
    }
    (
        Row {
            title,
            subtitle: format!("{settings}\n{}", first_boot_about(support)),
        },
        None,
    )
}

/// What the image does with first-boot settings, in a sentence (the settings window says it
/// too).
pub fn first_boot_about(support: &FirstBootSupport) -> String {
    match support {
        FirstBootSupport::Declared(format) | FirstBootSupport::Found(format) => gettext_f(
            // Translators: {mechanism} is "the Raspberry Pi OS first-boot script" or
            // "cloud-init".
            "This image sets itself up with {mechanism}.",
            &[("mechanism", &words::mechanism(*format))],
        ),
        FirstBootSupport::Detecting => gettext("Looking for the image’s first-boot mechanism…"),
        FirstBootSupport::Missing(missing) => words::unsettable(missing.why.as_ref()),
        FirstBootSupport::AfterWriting | FirstBootSupport::Unknown => {
            gettext("Whether this image can take them is checked on the card after writing.")
        }
    }
}

/// The rows of an image read, while `busy` does what it does to it.
fn rows(
    image: &ImageInfo,
    busy: Option<Busy>,
    scan_error: Option<&InspectError>,
    everything: bool,
) -> ImageRows {
    let (title, subtitle, tone) = signature::describe(&image.signature);
    // Most images are not signed, and that is no news: the row is for a signature there is
    // (good or bad), or one the user's trusted keys lead them to expect.
    let signature = match image.signature {
        SignatureState::NoBmap | SignatureState::Unsigned { expected: false } => None,
        _ => Some(Row { title, subtitle }),
    };
    let bmap_location = match &image.bmap {
        BmapState::Found { location, .. } | BmapState::Invalid { location, .. } => {
            Some(location.clone())
        }
        BmapState::Created { .. } | BmapState::Missing => None,
    };
    ImageRows {
        image: Row {
            title: image.name.clone(),
            subtitle: describe_image(image),
        },
        origin: match &image.input {
            Input::Catalog(chosen) => Some(describe_origin(
                chosen,
                crate::gui::settings::image_cache().as_ref(),
            )),
            _ => None,
        },
        write: (busy != Some(Busy::Scanning)).then(|| describe_write(image, everything)),
        write_tooltip: bmap_location,
        fast: !everything && (fast(image) || matches!(image.bmap, BmapState::Missing)),
        bmap: describe_bmap(image, scan_error),
        everything: !matches!(image.bmap, BmapState::Found { .. }) && busy.is_none(),
        signature,
        tone,
        trust: matches!(image.signature, SignatureState::UnknownKey { .. }),
        first_boot: Row::default(),
        first_boot_tooltip: None,
        kind: crate::gui::wording::kind::describe(&image.identity),
    }
}

/// "Disk image (compressed) · 1.1 GB, 3.7 GB uncompressed".
fn describe_image(image: &ImageInfo) -> String {
    let format = if image.layers.is_empty() {
        gettext("Disk image")
    } else {
        gettext("Disk image (compressed)")
    };
    let sizes = match (image.stored_size, image.image_size, image.layers.is_empty()) {
        (_, Some(full), true) => size(full),
        (Some(stored), Some(full), false) => gettext_f(
            // Translators: sizes of a compressed image file and of the image inside it.
            "{stored}, {full} uncompressed",
            &[("stored", &size(stored)), ("full", &size(full))],
        ),
        (Some(stored), None, _) => gettext_f(
            "{stored}, uncompressed size unknown",
            &[("stored", &size(stored))],
        ),
        (None, Some(full), _) => size(full),
        (None, None, _) => gettext("Size unknown"),
    };
    format!("{format} · {sizes}")
}

/// An image from a catalog: "Checked against the catalog's checksums" over "Released
/// 2026-11-19 · From downloads.raspberrypi.org · Downloaded while it is written, and kept for
/// the next card".
pub(super) fn describe_origin(chosen: &Chosen, cache: Option<&ImageCache>) -> Row {
    let image = &chosen.image;
    let title = match (
        image.download_sha256.is_some(),
        image.extract_sha256.is_some(),
        image.signature_url.is_some(),
    ) {
        (true, true, _) => gettext("Checked against the catalog’s checksums"),
        (true, false, _) | (false, true, _) => gettext("Checked against the catalog’s checksum"),
        (false, false, true) => gettext("Checked against its publisher’s signature"),
        (false, false, false) => gettext("Not checked: the catalog gives no checksum"),
    };
    let mut facts = Vec::new();
    if let Some(date) = &chosen.release_date {
        facts.push(gettext_f("Released {date}", &[("date", date)]));
    }
    let from = Url::parse(&chosen.catalog)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| chosen.catalog.clone());
    facts.push(gettext_f("From {catalog}", &[("catalog", &from)]));
    facts.push(if cache.is_some_and(|c| chosen.cached(c)) {
        gettext("Downloaded before: nothing to download")
    } else if image.download_sha256.is_some() {
        gettext("Downloaded while it is written, and kept for the next card")
    } else {
        gettext("Downloaded while it is written")
    });
    Row {
        title,
        subtitle: facts.join(" · "),
    }
}

/// The main row: how much is written. "Fast write · Only 1.1 GB of 3.7 GB needs writing";
/// without a block map, "Only what the filesystems use is written"; with *Write Everything*,
/// every byte.
fn describe_write(image: &ImageInfo, everything: bool) -> Row {
    match &image.bmap {
        BmapState::Invalid { error, .. } if !everything => {
            let (title, body) = error.user_facing();
            Row {
                title,
                subtitle: body,
            }
        }
        _ if everything => Row {
            title: gettext("Every byte is written"),
            subtitle: whole_line(image),
        },
        _ if fast(image) => Row {
            title: gettext("Fast write"),
            subtitle: bytes_line(image),
        },
        BmapState::Missing => Row {
            title: gettext("Only what the filesystems use is written"),
            subtitle: match (image.filesystems_use, image.image_size) {
                (Some(used), Some(full)) => only_line(used, full),
                _ => {
                    gettext("They are read as the image arrives, and their free space is left out")
                }
            },
        },
        _ => Row {
            title: gettext("Every byte is written"),
            subtitle: bytes_line(image),
        },
    }
}

/// Whether the image has no block map, so its filesystems are read as it is written and
/// what they leave free is not written.
fn read_as_written(image: &ImageInfo) -> bool {
    matches!(image.bmap, BmapState::Missing | BmapState::Invalid { .. })
}

/// Under *Advanced*: the block map, where it came from, and why none could be made.
fn describe_bmap(image: &ImageInfo, scan_error: Option<&InspectError>) -> Row {
    let layers: Vec<String> = image.layers.iter().map(|l| l.format.to_string()).collect();
    let (title, subtitle) = match &image.bmap {
        BmapState::Found { location, .. } => (gettext("Block map found"), location.clone()),
        BmapState::Created { .. } => (
            gettext("Block map created from the filesystems"),
            gettext("Only the space they use is written and checked"),
        ),
        BmapState::Missing => (
            gettext("No block map"),
            match scan_error {
                Some(error) => user_error(error).body,
                // Translators: {formats} is a list such as "xz" or "tar, gzip".
                None if image.filesystems_use.is_some() => gettext(
                    "None came with the image: its filesystems were read from their metadata",
                ),
                None if !layers.is_empty() => gettext_f(
                    "The image is {formats}-compressed: its filesystems are read as it is written",
                    &[("formats", &layers.join(", "))],
                ),
                None => {
                    gettext("None came with the image: its filesystems are read as it is written")
                }
            },
        ),
        BmapState::Invalid { location, error } => {
            let (title, _) = error.user_facing();
            (title, location.clone())
        }
    };
    Row { title, subtitle }
}

/// For the Drive step, in one line: "Fast write: only 812 MB of 3.7 GB needs writing", "Only
/// what the filesystems use will be written", or "The whole image (3.7 GB) will be written".
pub fn write_summary(image: &ImageInfo, everything: bool) -> String {
    if everything {
        return whole_line(image);
    }
    if read_as_written(image) {
        return match image.filesystems_use {
            Some(used) => gettext_f(
                // Translators: "Only the 1.1 GB the filesystems use will be written".
                "Only the {size} the filesystems use will be written",
                &[("size", &size(used))],
            ),
            None => gettext("Only what the filesystems use will be written"),
        };
    }
    match image.usable_bmap().filter(|_| fast(image)) {
        Some(bmap) => gettext_f(
            // Translators: "Fast write: only 812 MB of 3.7 GB needs writing".
            "Fast write: only {mapped} of {size} needs writing",
            &[
                ("mapped", &size(bmap.mapped_bytes())),
                ("size", &size(bmap.image_size())),
            ],
        ),
        None => bytes_line(image),
    }
}

/// Whether a block map leaves something out: one that maps every byte (a scan that found no
/// filesystem it knows) makes no write faster.
fn fast(image: &ImageInfo) -> bool {
    image
        .usable_bmap()
        .is_some_and(|bmap| bmap.mapped_bytes() < bmap.image_size())
}

/// "Only 812 MB of 3.7 GB needs writing" or "The whole image (3.7 GB) will be written".
pub fn bytes_line(image: &ImageInfo) -> String {
    match (
        image.usable_bmap().filter(|_| fast(image)),
        image.image_size,
    ) {
        (Some(bmap), _) => only_line(bmap.mapped_bytes(), bmap.image_size()),
        (None, _) => whole_line(image),
    }
}

/// "Only 812 MB of 3.7 GB needs writing".
fn only_line(mapped: u64, full: u64) -> String {
    gettext_f(
        // Translators: "Only 812 MB of 3.7 GB needs writing".
        "Only {mapped} of {size} needs writing",
        &[("mapped", &size(mapped)), ("size", &size(full))],
    )
}

/// "The whole image (3.7 GB) will be written".
fn whole_line(image: &ImageInfo) -> String {
    match image.image_size {
        Some(full) => gettext_f(
            "The whole image ({size}) will be written",
            &[("size", &size(full))],
        ),
        None => gettext("The whole image will be written"),
    }
}
