//! Where image bytes come from: local files, standard input, HTTP(S) and ssh, raw or
//! compressed or archived, recognised by their content.
//!
//! ```text
//!  transport                      container / decoder (by magic bytes, nested)     source
//!  ─────────                      ────────────────────────────────────────────     ──────
//!  local file ─┐ random access    raw ──────────────────────────────────────────► FileSource / RangedSource
//!  http + Range┘ (RandomAccess)   zip: central directory → member → decoder ─┐    (seek, or fetch only
//!                                 tar: header index → member (a slice) ──────┤     the mapped ranges)
//!                                 xz: size from the index → decoder ─────────┤
//!  stdin ─────┐ stream            gz xz bz2 zst lz4 lzo → decoder ───────────┼──► StreamSource
//!  ssh ───────┤ (Read)            zip / tar: local headers in order ─────────┘    (skip = decode and
//!  http, no Range┘                                                                 discard)
//! ```
//!
//! The copy engine reads an image strictly forward: it skips to the start of each mapped range
//! and reads the range. [`ImageSource`] is that contract, so a local file (which can really
//! seek), a decompressor or a network stream (which read and discard to skip) are alike to it.
//! The extension of a name never decides the format; it only feeds bmap discovery.

mod decode;
mod descriptor;
pub(crate) mod detect;
mod digest;
pub(crate) mod direct;
mod file;
mod gzip_end;
pub mod http;
mod input;
mod lzop;
mod member;
mod memory;
mod netrc;
mod open;
mod random;
mod ranged;
mod ssh;
mod stream;
mod tar;
#[cfg(test)]
pub(crate) mod testing;
mod xz_blocks;
mod xz_index;
mod zip;

use std::io::{self, Read};
use std::path::Path;

pub use descriptor::Descriptor;
pub use detect::Format;
pub use digest::{DigestReader, Digested};
pub use file::FileSource;
pub use gzip_end::check_gzip_end;
pub use input::{Input, InputError, SshLocation, redact};
pub use open::{Layer, Opened, Opener, open_store, open_stream};
pub use random::{LocalFile, Memory, RandomAccess, Slice};
pub use ranged::RangedSource;
pub use stream::{StreamSource, read_full};

/// A forward-only stream of image bytes.
pub trait ImageSource: Read + Send {
    /// A name for messages: the path or URL the user gave.
    fn name(&self) -> &str;

    /// The image size in bytes, when known before reading it all.
    fn size(&self) -> Option<u64>;

    /// The offset of the next byte [`Read::read`] returns.
    fn position(&self) -> u64;

    /// Moves forward to `offset`. A source that cannot seek reads and discards; moving
    /// backwards is an error. Reaching the end of the data first is [`io::ErrorKind::UnexpectedEof`].
    fn skip_to(&mut self, offset: u64) -> io::Result<()>;

    /// Announces the byte spans (ascending, disjoint) that will be read, before any is. A
    /// source that fetches over a network uses it to request only those (coalescing near
    /// ones); others ignore it.
    fn plan(&mut self, spans: &[(u64, u64)]) {
        let _ = spans;
    }

    /// The local file behind the source, if it is one, so the engine can refuse to overwrite
    /// the device that holds it.
    fn local_path(&self) -> Option<&Path> {
        None
    }
}

/// Why an image cannot be opened. Errors while streaming surface from [`Read::read`] as
/// [`io::Error`]s whose message names the format and the offset reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The image (or a part of it) cannot be read.
    #[error("cannot open image '{name}'")]
    Open {
        /// The image.
        name: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A container or compressed stream is malformed where it is opened.
    #[error("{format} image '{name}' is damaged: {message}")]
    Damaged {
        /// The image.
        name: String,
        /// The format being read.
        format: Format,
        /// What is wrong, and where.
        message: String,
    },
    /// A file that stops before its format says it does, or whose end is not what a whole
    /// file of its format ends with: a download cut short (or damaged at its end). Found when
    /// the image is opened, before anything is written: the end of a zip, xz or tar file read
    /// with random access is checked without decoding it all.
    #[error("{format} file '{name}' is incomplete ({reason}); download it again")]
    Incomplete {
        /// The file.
        name: String,
        /// The format being read.
        format: Format,
        /// Where the data stops and what it stops inside, or what is wrong with the end: "it
        /// ends at byte 5000, inside an xz stream that has no stream footer".
        reason: String,
    },
    /// A feature of a format that is not supported (encrypted zip, an unknown method).
    #[error("{format} image '{name}': {what} is not supported")]
    Unsupported {
        /// The image.
        name: String,
        /// The format being read.
        format: Format,
        /// What is not supported.
        what: String,
    },
    /// An archive without a member that looks like a disk image.
    #[error(
        "{format} archive '{name}' has no disk image member (it holds {members}); extract the image and write that"
    )]
    NoImageMember {
        /// The archive.
        name: String,
        /// Zip or tar.
        format: Format,
        /// Its members, quoted and joined.
        members: String,
    },
    /// An archive with several members that could be the image.
    #[error(
        "{format} archive '{name}' holds several disk images ({members}); extract the one to write and write that"
    )]
    AmbiguousMember {
        /// The archive.
        name: String,
        /// Zip or tar.
        format: Format,
        /// The candidates, quoted and joined.
        members: String,
    },
    /// The image is on a web server that could not deliver it.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// Containers nested deeper than makes sense (a zip bomb of wrappers).
    #[error("image '{name}' is wrapped in more than {depth} layers of compression or archives")]
    TooDeep {
        /// The image.
        name: String,
        /// The limit.
        depth: usize,
    },
}

impl SourceError {
    /// A structure of `format` that is malformed, with where and what in `message`.
    pub(crate) fn damaged(name: &str, format: Format, message: String) -> Self {
        Self::Damaged {
            name: name.to_owned(),
            format,
            message,
        }
    }

    /// A feature of `format` that is not supported.
    pub(crate) fn unsupported(name: &str, format: Format, what: String) -> Self {
        Self::Unsupported {
            name: name.to_owned(),
            format,
            what,
        }
    }

    /// A file of `format` that stops early or has a garbled end (see [`Self::Incomplete`]).
    pub(crate) fn incomplete(name: &str, format: Format, reason: String) -> Self {
        Self::Incomplete {
            name: name.to_owned(),
            format,
            reason,
        }
    }

    /// A read of `what` at `at` that failed while opening: running out of data means the
    /// file is incomplete there; anything else is an I/O error.
    pub(crate) fn read_failed(
        name: &str,
        format: Format,
        e: io::Error,
        what: &str,
        at: u64,
    ) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::incomplete(
                name,
                format,
                format!("it ends inside {what}, which starts at byte {at}"),
            )
        } else {
            Self::Open {
                name: name.to_owned(),
                source: e,
            }
        }
    }
}

/// The error for a forward-only source asked to go back.
pub(crate) fn backwards(name: &str, from: u64, to: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot go back from offset {from} to {to} in '{name}'"),
    )
}
