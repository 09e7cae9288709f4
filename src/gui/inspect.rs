//! What the Image step shows: the image's format and sizes, its block map and the block
//! map's signature; and "Create one from the filesystems". Runs on a worker thread; no GTK.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blockprint::bmap::{Bmap, BmapError};
use blockprint::catalog;
use blockprint::create::{CreateError, CreateOptions};
use blockprint::discover::{self, BmapChoice, Checked, DiscoverError, Lookup};
use blockprint::identify::{self, Identity};
use blockprint::progress::{CancelToken, NoProgress};
use blockprint::scan;
use blockprint::signature::{Policy, Refusal, SignatureCheck};
use blockprint::source::http::HttpClient;
use blockprint::source::{Format, Input, Layer, LocalFile, SourceError, check_gzip_end};

/// Why the Image step cannot show an image: it cannot be opened, a block map or signature
/// that may be there cannot be read, or no block map can be made from its filesystems.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The image cannot be opened or decoded.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Its block map, or the block map's signature, cannot be read.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// The image cannot be opened for the scan.
    #[error("cannot open image '{}'", .path.display())]
    Scan {
        /// The file scanned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The block map cannot be made from what the scan found.
    #[error(transparent)]
    Create(#[from] CreateError),
}

/// Everything known about a chosen image.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// Where it is.
    pub input: Input,
    /// Its file name (or the last part of its URL).
    pub name: String,
    /// Compression and archive layers around it, outermost first (empty for raw).
    pub layers: Vec<Layer>,
    /// The size of the file as stored (compressed), when known.
    pub stored_size: Option<u64>,
    /// The size of the image itself, when known (from the format or the block map).
    pub image_size: Option<u64>,
    /// The block map the user chose instead of the one next to the image.
    pub chosen_bmap: Option<Input>,
    /// Its block map.
    pub bmap: BmapState,
    /// Without a block map, the bytes its filesystems use (with the partition tables and gaps
    /// around them): what a write puts on the drive, found from their metadata alone through
    /// the random access of a compressed image of several blocks or an archive member kept on
    /// this computer (about a second for a 4 GiB image). `None` when the image has a block
    /// map, or is read only as it arrives.
    pub filesystems_use: Option<u64>,
    /// The block map's signature.
    pub signature: SignatureState,
    /// What the image is, by its content: an image that will not work written as it is (a
    /// Windows installer, a file that is no disk image) is warned about. Not looked at for a
    /// catalog's entry, which is an operating system by the catalog's word.
    pub identity: Identity,
}

impl ImageInfo {
    /// The block map to write with, if there is a usable one.
    pub fn usable_bmap(&self) -> Option<&Arc<Bmap>> {
        match &self.bmap {
            BmapState::Found { bmap, .. } | BmapState::Created { bmap } => Some(bmap),
            BmapState::Missing | BmapState::Invalid { .. } => None,
        }
    }

    /// Whether the image must not be written as it is: its block map is refused, as the
    /// command line refuses it, or cannot be used.
    pub fn blocked(&self) -> bool {
        matches!(
            self.signature,
            SignatureState::Refused(_) | SignatureState::UnknownKey { .. }
        ) || matches!(self.bmap, BmapState::Invalid { .. })
    }

    /// Whether its filesystems are scanned for a block map as soon as it is open: it has
    /// none, it may be written, and it is a raw file here (about a second: only the used
    /// blocks are read). A compressed or remote image would be unpacked whole first, so
    /// that waits for the user to ask.
    pub fn scan_by_itself(&self) -> bool {
        matches!(self.bmap, BmapState::Missing)
            && !self.blocked()
            && self.layers.is_empty()
            && self.input.as_path().is_some()
    }
}

/// The state of the block map.
#[derive(Debug, Clone)]
pub enum BmapState {
    /// Found next to the image (or chosen), and parsed.
    Found {
        /// Where.
        location: String,
        /// The map.
        bmap: Arc<Bmap>,
    },
    /// Made by scanning the image's filesystems.
    Created {
        /// The map.
        bmap: Arc<Bmap>,
    },
    /// None: every byte will be written.
    Missing,
    /// Found but unusable.
    Invalid {
        /// Where.
        location: String,
        /// Why.
        error: Arc<BmapError>,
    },
}

/// The state of the block map's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// There is no block map, so nothing is signed.
    NoBmap,
    /// The block map is not signed, and nothing asks for a signature. `expected`: the user
    /// trusts signing keys, so this deserves a warning.
    Unsigned {
        /// The user's trusted-keys folders hold keys.
        expected: bool,
    },
    /// Signed by a trusted key.
    Valid {
        /// `Name <email>`, when the key has one.
        signer: Option<String>,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Signed by a key that is not trusted (yet): not written until it is.
    UnknownKey {
        /// Its fingerprint or key id.
        issuer: String,
    },
    /// Refused, as the command line refuses it: never written.
    Refused(Refusal),
}

impl SignatureState {
    /// The state for the engine's verdict on a block map.
    fn of(checked: &Checked) -> Self {
        match &checked.refusal {
            Some(Refusal::Failed(SignatureCheck::UnknownKey { issuer })) => {
                SignatureState::UnknownKey {
                    issuer: issuer.clone(),
                }
            }
            Some(refusal) => SignatureState::Refused(refusal.clone()),
            None => match checked.status.valid() {
                Some(SignatureCheck::Valid { signer, .. }) => SignatureState::Valid {
                    signer: signer.user_id.clone(),
                    fingerprint: signer.fingerprint.clone(),
                },
                _ => SignatureState::Unsigned {
                    expected: checked.unsigned_unexpectedly,
                },
            },
        }
    }
}

/// Reads what the Image step shows. `bmap` is a block map the user chose instead of the one
/// next to the image; `require_signature` is the preference that refuses unsigned ones. Fails
/// when the image cannot be opened, or a block map or signature that may be there cannot be
/// read (which must never quietly become "none").
pub fn inspect(
    input: &Input,
    bmap: Option<&Input>,
    require_signature: bool,
) -> Result<ImageInfo, InspectError> {
    let opener = super::settings::opener();
    // A catalog image is looked at where it can be without starting its download: in the
    // cache, or on its server (read where needed, with Range requests).
    let (layers, stored_size, image_size, identity, store) = match input {
        Input::Catalog(chosen) => {
            let image = &chosen.image;
            let (layers, size, store) = match chosen.peek(super::settings::image_cache().as_ref()) {
                kept @ Input::Path(_) => {
                    let opened = opener.open(&kept)?;
                    let size = opened.source.size();
                    (opened.layers, size, opened.store)
                }
                // Not kept: its first bytes say what it is, and the catalog the rest.
                _ => {
                    let format = catalog::peek_format(
                        image,
                        &HttpClient::new().map_err(SourceError::from)?,
                    )?;
                    let layers = (format != Format::Raw).then_some(Layer {
                        format,
                        member: None,
                        xz_blocks: None,
                    });
                    (layers.into_iter().collect(), None, None)
                }
            };
            let identity = Identity::Undetermined {
                reason: "an entry of a catalog".into(),
            };
            (
                layers,
                image.download_size,
                size.or(image.extract_size),
                identity,
                store,
            )
        }
        _ => {
            let opened = opener.open(input)?;
            // A remote store is read with a request per read: scanned by the write, not here.
            let store = opened.store.filter(|_| input.as_path().is_some());
            let stored = input
                .as_path()
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len());
            let size = opened.source.size();
            // A raw file is looked at where it is; anything else through its first MiBs,
            // decoded (or downloaded) as they would be for the write.
            let identity = match input.as_path().filter(|_| opened.layers.is_empty()) {
                Some(path) => identify::identify_path(path),
                None => identify::identify(&identify::peek(opened.source, identify::HEAD_LIMIT)),
            };
            (opened.layers, stored, size, identity, store)
        }
    };
    let mut info = ImageInfo {
        input: input.clone(),
        name: name_of(input),
        layers,
        stored_size,
        image_size,
        chosen_bmap: bmap.cloned(),
        bmap: BmapState::Missing,
        filesystems_use: None,
        signature: SignatureState::NoBmap,
        identity,
    };
    let choice = match bmap {
        Some(chosen) => BmapChoice::Given(chosen.clone()),
        None => BmapChoice::Discover,
    };
    let policy = Policy {
        require_signature,
        ..Policy::default()
    };
    let checked = match discover::find_checked(input, &choice, None, &policy, &opener)? {
        Lookup::Found(checked) => checked,
        Lookup::Missing { .. } => {
            // A raw file is scanned for a block map of its own ([`ImageInfo::scan_by_itself`]).
            if !info.layers.is_empty() {
                info.filesystems_use = store.map(|store| {
                    let report = scan::scan(&*store);
                    report.image_size - report.free.total()
                });
            }
            return Ok(info);
        }
    };
    info.signature = SignatureState::of(&checked);
    info.bmap = match checked.parse() {
        Ok(bmap) => {
            info.image_size = Some(bmap.image_size());
            // A cut-short gzip download is told here, before anything is erased (review
            // finding 6); xz, zip and tar files were checked as they were opened.
            if let (Some(path), [layer]) = (input.as_path(), &info.layers[..])
                && layer.format == Format::Gzip
            {
                let cancel = CancelToken::new();
                check_gzip_end(path, &info.name, bmap.image_size(), &cancel)?;
            }
            BmapState::Found {
                location: checked.location.to_string(),
                bmap: Arc::new(bmap),
            }
        }
        Err(e) => BmapState::Invalid {
            location: checked.location.to_string(),
            error: Arc::new(e),
        },
    };
    Ok(info)
}

/// A name for people: the file name, or the last part of the URL.
fn name_of(input: &Input) -> String {
    let text = match input {
        Input::Path(path) => return display_name(path),
        Input::Catalog(chosen) => return chosen.name.clone(),
        other => other.to_string(),
    };
    text.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map_or_else(|| text.clone(), str::to_owned)
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Creates a block map from the filesystems of the raw image file at `path` (`blockprint
/// scan`): only their metadata and the blocks they use are read. A compressed or remote image
/// needs none: its filesystems are read as it is written.
pub fn scan_bmap(path: &Path, cancel: &CancelToken) -> Result<Bmap, InspectError> {
    let file = LocalFile::open(path).map_err(|source| InspectError::Scan {
        path: path.to_path_buf(),
        source,
    })?;
    let report = scan::scan(&file);
    let options = CreateOptions { checksums: true };
    Ok(scan::to_bmap(
        path,
        &report,
        options,
        &mut NoProgress,
        cancel,
    )?)
}

#[cfg(test)]
mod tests;
