//! The file choosers: an image, a block map, and the publisher's key for "Trust This Key…".

use blockprint::source::Input;
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::{ComponentSender, adw, gtk};

use super::{App, AppInput, dialogs};
use crate::gui::flow::Msg;
use crate::gui::inspect::SignatureState;

/// The MIME types of disk images and of the compressed and archived files that hold them;
/// the desktop file offers Blockprint for the same (a test keeps them equal).
pub const IMAGE_TYPES: [&str; 19] = [
    "application/x-raw-disk-image",
    "application/x-raw-disk-image-xz-compressed",
    "application/x-cd-image",
    "application/vnd.efi.img",
    "application/vnd.efi.iso",
    "application/x-xz",
    "application/gzip",
    "application/x-bzip",
    "application/x-bzip2",
    "application/zstd",
    "application/x-lz4",
    "application/x-lzop",
    "application/zip",
    "application/x-tar",
    "application/x-compressed-tar",
    "application/x-xz-compressed-tar",
    "application/x-zstd-compressed-tar",
    "application/x-bzip-compressed-tar",
    "application/x-lz4-compressed-tar",
];

/// Disk images and their compressed forms.
pub fn image_filter() -> gtk::FileFilter {
    let filter = gtk::FileFilter::new();
    filter.set_name(Some(&gettext("Disk images")));
    for mime in IMAGE_TYPES {
        filter.add_mime_type(mime);
    }
    for pattern in ["*.img", "*.iso", "*.raw", "*.wic", "*.sdcard", "*.hddimg"] {
        filter.add_pattern(pattern);
    }
    filter
}

/// Block map files.
pub fn bmap_filter() -> gtk::FileFilter {
    let filter = gtk::FileFilter::new();
    filter.set_name(Some(&gettext("Block maps")));
    filter.add_pattern("*.bmap");
    filter.add_pattern("*.bmap.asc");
    filter
}

impl App {
    pub(super) fn choose_file(
        &mut self,
        window: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
        bmap: bool,
    ) {
        let (title, filter) = if bmap {
            (gettext("Choose a Block Map"), bmap_filter())
        } else {
            (gettext("Open an Image"), image_filter())
        };
        let chooser = gtk::FileChooserNative::new(
            Some(&title),
            Some(window),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Open")),
            Some(&gettext("_Cancel")),
        );
        chooser.add_filter(&filter);
        let all = gtk::FileFilter::new();
        all.set_name(Some(&gettext("All files")));
        all.add_pattern("*");
        chooser.add_filter(&all);
        // Images are downloaded, and "Recent" is empty on a new account (review finding 22):
        // open where the browser put them, when that folder exists.
        if let Some(downloads) =
            relm4::gtk::glib::user_special_dir(relm4::gtk::glib::UserDirectory::Downloads)
                .filter(|dir| dir.is_dir())
        {
            chooser
                .set_current_folder(Some(&relm4::gtk::gio::File::for_path(downloads)))
                .ok();
        }
        let s = sender.clone();
        chooser.connect_response(move |chooser, response| {
            if response == gtk::ResponseType::Accept
                && let Some(path) = chooser.file().and_then(|f| f.path())
            {
                let input = Input::Path(path);
                s.input(AppInput::Flow(if bmap {
                    Msg::OpenBmap(input)
                } else {
                    Msg::OpenImage(input)
                }));
            }
        });
        chooser.show();
        self.chooser = Some(chooser);
    }

    /// "Trust This Key…": pick the publisher's key file, then confirm.
    pub(super) fn choose_key(
        &mut self,
        window: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        let Some(SignatureState::UnknownKey { issuer }) =
            self.flow.image.as_ref().map(|i| i.signature.clone())
        else {
            return;
        };
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Choose the Publisher’s Key")),
            Some(window),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Open")),
            Some(&gettext("_Cancel")),
        );
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&gettext("OpenPGP keys")));
        for pattern in ["*.asc", "*.gpg", "*.pgp", "*.key", "*.pub"] {
            filter.add_pattern(pattern);
        }
        chooser.add_filter(&filter);
        let s = sender.clone();
        let parent = window.clone();
        chooser.connect_response(move |chooser, response| {
            let Some(path) = chooser.file().and_then(|f| f.path()) else {
                return;
            };
            if response != gtk::ResponseType::Accept {
                return;
            }
            let s = s.clone();
            let (file, key) = (path.clone(), issuer.clone());
            dialogs::confirm_trust(&parent, &issuer, &path.display().to_string(), move || {
                s.input(AppInput::KeyConfirmed(file.clone(), key.clone()));
            });
        });
        chooser.show();
        self.chooser = Some(chooser);
    }
}

#[cfg(test)]
mod tests {
    use super::IMAGE_TYPES;

    #[test]
    fn the_desktop_file_offers_the_app_for_what_the_open_dialog_shows() {
        let desktop = include_str!("../../../data/io.github.blockprint.Blockprint.desktop");
        let listed: Vec<&str> = desktop
            .lines()
            .find_map(|l| l.strip_prefix("MimeType="))
            .unwrap_or_default()
            .split(';')
            .filter(|m| !m.is_empty())
            .collect();
        assert_eq!(listed, IMAGE_TYPES);
    }
}
