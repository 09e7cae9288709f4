//! The Image step's errors in the user's words: an image that cannot be opened or
//! downloaded, a block map or signature that cannot be read or used, a block map that cannot
//! be made, a web address that is not one, a key that cannot be trusted. Their titles head a
//! row, so they are sentences.

use std::io;

use blockprint::bmap::{BmapError, BmapErrorKind};
use blockprint::discover::DiscoverError;
use blockprint::signature::SignatureError;
use blockprint::source::http::{Credentials, HttpError};
use blockprint::source::{InputError, SourceError};
use gettextrs::gettext;

use super::UserFacing;
use crate::gui::i18n::gettext_f;
use crate::gui::inspect::InspectError;

impl UserFacing for InspectError {
    fn user_facing(&self) -> (String, String) {
        match self {
            InspectError::Source(e) => e.user_facing(),
            InspectError::Discover(e) => e.user_facing(),
            InspectError::Scan { .. } | InspectError::Create(_) => (
                gettext("No block map can be created"),
                gettext(
                    "Reading the image for the scan failed. Check the disk it is on, or \
                     write it without a block map.",
                ),
            ),
        }
    }
}

impl UserFacing for SourceError {
    fn user_facing(&self) -> (String, String) {
        let cannot_open = || gettext("The image cannot be opened");
        match self {
            SourceError::Http(e) => e.user_facing(),
            SourceError::Open { name, source } if source.kind() == io::ErrorKind::NotFound => (
                gettext("The image was not found"),
                gettext_f(
                    "{name} is not there any more: it may have been moved or deleted. Open it \
                     from where it is now.",
                    &[("name", name)],
                ),
            ),
            // A compressed image that cannot be decoded from its start fails to open.
            SourceError::Open { source, .. }
                if !matches!(
                    source.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                (
                    cannot_open(),
                    gettext(
                        "The file could not be read. Check that it exists and that you may read \
                         it.",
                    ),
                )
            }
            SourceError::Incomplete { .. } => (
                gettext("This download is incomplete"),
                gettext(
                    "The file stops before its end, so nothing was written. Download it \
                     again.",
                ),
            ),
            SourceError::Open { .. } | SourceError::Damaged { .. } => (
                gettext("The image is damaged"),
                gettext("The file is damaged or incomplete. Download it again."),
            ),
            SourceError::Unsupported { .. } => (
                cannot_open(),
                gettext(
                    "It is packed in a way Blockprint cannot unpack, such as encryption. \
                     Unpack it with another program and open the image itself.",
                ),
            ),
            SourceError::NoImageMember { .. } => (
                gettext("No disk image in the archive"),
                gettext(
                    "None of the files in the archive looks like a disk image. Extract the image and open it.",
                ),
            ),
            SourceError::AmbiguousMember { .. } => (
                gettext("Several disk images in the archive"),
                gettext(
                    "More than one file in the archive could be the disk image. Extract the one to write and open it.",
                ),
            ),
            SourceError::TooDeep { .. } => (
                cannot_open(),
                gettext(
                    "It is packed in too many layers of compression or archives. Unpack it first.",
                ),
            ),
            _ => (
                cannot_open(),
                gettext("The image could not be opened or decoded; see the details."),
            ),
        }
    }
}

impl UserFacing for HttpError {
    fn user_facing(&self) -> (String, String) {
        let title = gettext("The image cannot be downloaded");
        let body = match self {
            HttpError::NotFound { .. } => {
                gettext("The web server has no file at this address. Check the address.")
            }
            HttpError::Denied {
                credentials: Credentials::Sent,
                ..
            } => gettext(
                "The web server refused the user name and password. Check them in the \
                 address or in ~/.netrc.",
            ),
            HttpError::Denied {
                credentials: Credentials::WithheldOverHttp,
                ..
            } => gettext(
                "The web server wants a password, and ~/.netrc has one for it, but it is \
                 never sent over plain http, where anyone could read it. Use the https:// \
                 address.",
            ),
            HttpError::Denied { .. } => gettext(
                "The web server refused access. Check that the address is meant to be \
                 public, or put your user name and password for it in ~/.netrc.",
            ),
            HttpError::Downgrade { .. } => gettext(
                "The secure address sends the download to an insecure one, where anyone could \
                 change it, so nothing was downloaded. Ask the site to fix it.",
            ),
            HttpError::Tls { .. } => gettext(
                "A secure connection to the web server could not be made, so nothing was \
                 downloaded. Check the computer’s date and time, or ask the server’s owner.",
            ),
            HttpError::Connect { .. } => gettext(
                "The web server could not be reached. Check the address and your network \
                 connection, then try again.",
            ),
            HttpError::Changed { .. } => gettext(
                "The file on the web server changed while it was read. Open it again to write \
                 the new version.",
            ),
            _ => gettext(
                "The web server did not deliver the image. Check the address and your network \
                 connection, then try again.",
            ),
        };
        (title, body)
    }
}

impl UserFacing for DiscoverError {
    fn user_facing(&self) -> (String, String) {
        match self {
            DiscoverError::Fetch { .. } => (
                gettext("The block map cannot be read"),
                gettext(
                    "A block map or signature is there but could not be read, and the image is \
                     not written without it. Check that you may read it, or choose the block \
                     map yourself.",
                ),
            ),
            DiscoverError::Gone { .. } => (
                gettext("The block map is gone"),
                gettext(
                    "The chosen block map or signature file no longer exists. Choose it again.",
                ),
            ),
            DiscoverError::ImageIsBmap { .. } => (
                gettext("The block map is the image itself"),
                gettext(
                    "The file chosen as the block map is the image. Choose its block map, a .bmap file.",
                ),
            ),
            DiscoverError::TooLarge(e) => e.user_facing(),
            DiscoverError::Signature(e) => e.user_facing(),
            _ => (
                gettext("The block map cannot be read"),
                gettext("The block map or its signature could not be read; see the details."),
            ),
        }
    }
}

impl UserFacing for BmapError {
    fn user_facing(&self) -> (String, String) {
        let body = match self.kind {
            BmapErrorKind::NoVersion
            | BmapErrorKind::BadVersion(_)
            | BmapErrorKind::UnsupportedVersion(_) => gettext(
                "It is in a block map format Blockprint does not know. Choose another block \
                 map, or create one from the filesystems.",
            ),
            BmapErrorKind::FileChecksum { .. } => gettext(
                "It was changed or damaged after it was made. Download it again, or create one \
                 from the filesystems.",
            ),
            _ => gettext(
                "It is damaged, or not a block map at all. Choose the right block map, or \
                 create one from the filesystems.",
            ),
        };
        (gettext("The block map cannot be used"), body)
    }
}

impl UserFacing for SignatureError {
    fn user_facing(&self) -> (String, String) {
        match self {
            SignatureError::ReadKeys { .. } => (
                gettext("The keys cannot be read"),
                gettext(
                    "A file of keys could not be read. Check that it exists and that you may read it.",
                ),
            ),
            SignatureError::BadKeys { .. } => (
                gettext("Not a key file"),
                gettext("The file holds no OpenPGP key. Choose the publisher’s public key file."),
            ),
            SignatureError::KeyNotInFile { .. } => (
                gettext("Another key"),
                gettext(
                    "The file does not hold the key that signed the block map. Choose the file \
                     with the publisher’s public key.",
                ),
            ),
            SignatureError::WriteKey { .. } => (
                gettext("The key cannot be saved"),
                gettext(
                    "The key could not be saved among your trusted keys. Check the free space in your home folder.",
                ),
            ),
            SignatureError::BadSignatureFile { .. } => (
                gettext("The signature cannot be read"),
                gettext(
                    "The block map’s signature is damaged or not a signature, so who made the \
                     image cannot be checked. Download the block map and its signature again.",
                ),
            ),
            _ => (
                gettext("The signature cannot be read"),
                gettext("The keys or the signature could not be read; see the details."),
            ),
        }
    }
}

impl UserFacing for InputError {
    fn user_facing(&self) -> (String, String) {
        match self {
            InputError::Scheme { scheme, .. } => (
                gettext("Unsupported address"),
                gettext_f(
                    "Images cannot be opened from {scheme}:// addresses, only from http, https \
                     and ssh ones. Download the image first.",
                    &[("scheme", scheme)],
                ),
            ),
            InputError::Url { text, .. } => (
                gettext("Not a web address"),
                gettext_f(
                    "“{address}” is not a valid web address. Check it and try again.",
                    &[("address", text)],
                ),
            ),
        }
    }
}
