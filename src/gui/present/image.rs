//! The Image step: the image's format and sizes, its block map and signature, what a worker is
//! doing, and why an image or a scan failed.

use gettextrs::gettext;

use crate::gui::flow::{Busy, Flow};
use crate::gui::i18n::gettext_f;
use crate::gui::image_page::{ImageRows, ImageView};
use crate::gui::inspect::{BmapState, ImageInfo, SignatureState};
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
            Busy::Scanning => gettext("Scanning the filesystems…"),
        }),
        details: error
            .as_ref()
            .or(bmap_error.as_ref())
            .map(|e| e.details.clone()),
        error: error.map(|e| Row {
            title: e.title,
            subtitle: e.body,
        }),
        image: flow
            .image
            .as_ref()
            .map(|image| rows(image, flow.busy.is_none())),
    }
}

/// The rows of an image read; `idle`: no worker is reading or scanning it.
fn rows(image: &ImageInfo, idle: bool) -> ImageRows {
    let (title, subtitle, tone) = signature::describe(&image.signature);
    ImageRows {
        image: Row {
            title: image.name.clone(),
            subtitle: describe_image(image),
        },
        bmap: describe_bmap(image),
        bmap_usable: image.usable_bmap().is_some(),
        scan: image.usable_bmap().is_none() && idle,
        signature: Row { title, subtitle },
        tone,
        trust: matches!(image.signature, SignatureState::UnknownKey { .. }),
    }
}

/// "Compressed: xz · 1.1 GB, 3.7 GB uncompressed".
fn describe_image(image: &ImageInfo) -> String {
    let format = match image.layers.first() {
        None => gettext("Raw image"),
        Some(_) => {
            let layers: Vec<String> = image.layers.iter().map(|l| l.format.to_string()).collect();
            // Translators: {formats} is a list such as "xz" or "tar, in it gzip".
            gettext_f("Compressed: {formats}", &[("formats", &layers.join(", "))])
        }
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

fn describe_bmap(image: &ImageInfo) -> Row {
    let (title, subtitle) = match &image.bmap {
        BmapState::Found { location, .. } => (
            gettext("Block map found"),
            format!("{} · {location}", bytes_line(image)),
        ),
        BmapState::Created { .. } => (
            gettext("Block map created from the filesystems"),
            bytes_line(image),
        ),
        BmapState::Missing => (
            gettext("No block map"),
            gettext("The whole image will be written"),
        ),
        BmapState::Invalid { location, error } => {
            let (title, body) = error.user_facing();
            (title, format!("{location} · {body}"))
        }
    };
    Row { title, subtitle }
}

/// "812 MB of 3.7 GB will be written" or "The whole image (3.7 GB) will be written".
pub fn bytes_line(image: &ImageInfo) -> String {
    match (image.usable_bmap(), image.image_size) {
        (Some(bmap), _) => gettext_f(
            // Translators: "812 MB of 3.7 GB will be written".
            "{mapped} of {size} will be written",
            &[
                ("mapped", &size(bmap.mapped_bytes())),
                ("size", &size(bmap.image_size())),
            ],
        ),
        (None, Some(full)) => gettext_f(
            "The whole image ({size}) will be written",
            &[("size", &size(full))],
        ),
        (None, None) => gettext("The whole image will be written"),
    }
}
