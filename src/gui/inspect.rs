//! What the Image step shows: the image's format and sizes, its block map and the block
//! map's signature; and "Create one from the filesystems". Runs on a worker thread; no GTK.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blockprint::bmap::{self, Bmap};
use blockprint::create::CreateOptions;
use blockprint::discover;
use blockprint::progress::{CancelToken, NoProgress};
use blockprint::scan;
use blockprint::signature::{
    Keyring, SignatureCheck, SignatureStatus, Verified, verify_clearsigned, verify_detached,
};
use blockprint::source::{Input, Layer, LocalFile, Opener};

/// A detached signature is never larger than this.
const SIGNATURE_LIMIT: u64 = 1 << 20;

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
    /// Its block map.
    pub bmap: BmapState,
    /// The block map's signature.
    pub signature: SignatureState,
}

impl ImageInfo {
    /// The block map to write with, if there is a usable one.
    pub fn usable_bmap(&self) -> Option<&Arc<Bmap>> {
        match &self.bmap {
            BmapState::Found { bmap, .. } | BmapState::Created { bmap } => Some(bmap),
            BmapState::Missing | BmapState::Invalid { .. } => None,
        }
    }

    /// Why the image must not be written as it is, if it must not.
    pub fn blocked(&self) -> bool {
        matches!(self.signature, SignatureState::Bad { .. })
            || matches!(self.bmap, BmapState::Invalid { .. })
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
        /// Why (the engine's words).
        error: String,
    },
}

/// The state of the block map's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// There is no block map, so nothing is signed.
    NoBmap,
    /// The block map is not signed.
    Unsigned,
    /// Signed by a trusted key.
    Valid {
        /// `Name <email>`, when the key has one.
        signer: Option<String>,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Signed by a key that is not trusted (yet).
    UnknownKey {
        /// Its fingerprint or key id.
        issuer: String,
    },
    /// The block map was changed after signing, or the key was revoked: never written.
    Bad {
        /// What exactly (the engine's words).
        detail: String,
    },
    /// The signature cannot vouch for anything (expired key, unreadable signature, …).
    Unusable {
        /// What exactly (the engine's words).
        detail: String,
    },
}

/// Reads what the Image step shows. `bmap` is a block map the user chose instead of the one
/// next to the image. Fails only when the image itself cannot be opened.
pub fn inspect(input: &Input, bmap: Option<&Input>) -> anyhow::Result<ImageInfo> {
    let opener = Opener::new();
    let opened = opener.open(input)?;
    let stored_size = input
        .as_path()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    let mut info = ImageInfo {
        input: input.clone(),
        name: name_of(input),
        layers: opened.layers,
        stored_size,
        image_size: opened.source.size(),
        bmap: BmapState::Missing,
        signature: SignatureState::NoBmap,
    };
    drop(opened.source);
    let found = match bmap {
        Some(chosen) => opener
            .fetch(chosen, bmap::MAX_FILE_SIZE + 1)?
            .map(|bytes| (chosen.clone(), bytes)),
        None => find_bmap(input, &opener),
    };
    if let Some((location, bytes)) = found {
        let (state, signature) = check_bmap(&location, &bytes, &opener);
        if let BmapState::Found { bmap, .. } = &state {
            info.image_size = Some(bmap.image_size());
        }
        info.bmap = state;
        info.signature = signature;
    }
    Ok(info)
}

/// The first block map next to the image, the way bmaptool looks for it.
fn find_bmap(image: &Input, opener: &Opener) -> Option<(Input, Vec<u8>)> {
    discover::bmap_candidates_for(image)
        .into_iter()
        .find_map(|candidate| {
            // An unreachable candidate is the same as a missing one here.
            let bytes = opener
                .fetch_next_to(&candidate, image, bmap::MAX_FILE_SIZE + 1)
                .ok()??;
            Some((candidate, bytes))
        })
}

/// Checks the signature, then parses exactly the signed text.
fn check_bmap(location: &Input, bytes: &[u8], opener: &Opener) -> (BmapState, SignatureState) {
    let invalid = |error: String| BmapState::Invalid {
        location: location.to_string(),
        error,
    };
    let (signature, text) = match signature_of(location, bytes, opener) {
        Ok(Verified { status, text }) => (state_of(&status), text),
        Err(detail) => (SignatureState::Unusable { detail }, bytes.to_vec()),
    };
    if bytes.len() as u64 > bmap::MAX_FILE_SIZE {
        return (invalid("the block map file is too large".into()), signature);
    }
    let name = PathBuf::from(location.to_string());
    match Bmap::from_bytes(&text, &name) {
        Ok(bmap) => (
            BmapState::Found {
                location: location.to_string(),
                bmap: Arc::new(bmap),
            },
            signature,
        ),
        Err(e) => (invalid(e.to_string()), signature),
    }
}

fn signature_of(location: &Input, bytes: &[u8], opener: &Opener) -> Result<Verified, String> {
    let keyring = Keyring::trusted().map_err(|e| e.to_string())?;
    if bmap::is_clearsigned(bytes) {
        return verify_clearsigned(bytes, &keyring, None).map_err(|e| e.to_string());
    }
    for candidate in discover::signature_candidates_for(location) {
        if let Ok(Some(signature)) = opener.fetch_next_to(&candidate, location, SIGNATURE_LIMIT) {
            return verify_detached(bytes, &signature, &candidate.to_string(), &keyring, None)
                .map_err(|e| e.to_string());
        }
    }
    Ok(Verified {
        status: SignatureStatus::Unsigned,
        text: bytes.to_vec(),
    })
}

/// The state to show for what the signatures said.
pub fn state_of(status: &SignatureStatus) -> SignatureState {
    if let Some(SignatureCheck::Valid { signer, .. }) = status.valid() {
        return SignatureState::Valid {
            signer: signer.user_id.clone(),
            fingerprint: signer.fingerprint.clone(),
        };
    }
    match status.failure() {
        None => SignatureState::Unsigned,
        Some(SignatureCheck::UnknownKey { issuer }) => SignatureState::UnknownKey {
            issuer: issuer.clone(),
        },
        Some(check @ (SignatureCheck::Bad { .. } | SignatureCheck::Revoked { .. })) => {
            SignatureState::Bad {
                detail: format!("{check:?}"),
            }
        }
        Some(other) => SignatureState::Unusable {
            detail: format!("{other:?}"),
        },
    }
}

/// A name for people: the file name, or the last part of the URL.
fn name_of(input: &Input) -> String {
    let text = match input {
        Input::Path(path) => return display_name(path),
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

/// Creates a block map from the image's filesystems (`blockprint scan`). A compressed or
/// remote image is decoded to a temporary file in `scratch` first (removed afterwards).
pub fn scan_bmap(input: &Input, scratch: &Path, cancel: &CancelToken) -> anyhow::Result<Bmap> {
    let opened = Opener::new().open(input)?;
    let temp;
    let image: PathBuf = match input.as_path() {
        Some(path) if opened.layers.is_empty() => path.to_path_buf(),
        _ => {
            std::fs::create_dir_all(scratch)?;
            temp = crate::unpacked::Temporary::new(scratch)?;
            let mut source = opened.source;
            crate::unpacked::unpack(&mut *source, &temp, cancel)?;
            temp.path.clone()
        }
    };
    let report = scan::scan(&LocalFile::open(&image)?);
    let options = CreateOptions { checksums: true };
    Ok(scan::to_bmap(
        &image,
        &report,
        options,
        &mut NoProgress,
        cancel,
    )?)
}

#[cfg(test)]
mod tests;
