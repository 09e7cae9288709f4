//! The bmap of an image, found (or given), fetched and its signature checked by a [`Policy`]:
//! the one place where both front ends get their bmap, with the size limits in one place.

use std::path::{Path, PathBuf};

use crate::bmap::{self, Bmap, BmapError, BmapErrorKind};
use crate::signature::{
    Keyring, Policy, Refusal, SignatureError, SignatureForm, SignatureStatus, Verified,
    trusted_keys_present, verify_clearsigned, verify_detached,
};
use crate::source::{Input, Opener, SourceError};

use super::{bmap_candidates_for, signature_candidates_for};

/// A detached signature is never larger than this.
pub const SIGNATURE_LIMIT: u64 = 1 << 20;

/// Which bmap to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmapChoice {
    /// The first of bmaptool's candidates next to the image that exists.
    Discover,
    /// This one (`--bmap`, or chosen in the app).
    Given(Input),
}

/// A bmap found and examined.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Where it is.
    pub location: Input,
    /// Found next to the image, rather than given.
    pub discovered: bool,
    /// What its signatures said. When they were not looked at ([`Checked::skipped`]), only
    /// how it is signed: a clearsigned bmap is `Signed` with no checks, anything else
    /// `Unsigned`.
    pub status: SignatureStatus,
    /// Why it must not be used, if it must not; `None` to use it.
    pub refusal: Option<Refusal>,
    /// Whose keys the signatures were checked against ("the keyring 'k.gpg'"), when they were.
    pub trusted: Option<String>,
    /// Keys that could not be read and were left out, each a sentence.
    pub warnings: Vec<String>,
    /// The signatures were not looked at (`--no-sig-verify`).
    pub skipped: bool,
    /// Not signed, while Blockprint's trusted-keys folders hold keys: the user expects signed
    /// images, so an unsigned one deserves a warning even where it is allowed.
    pub unsigned_unexpectedly: bool,
    /// Exactly the signed bytes: what must be parsed.
    pub text: Vec<u8>,
}

impl Checked {
    /// The bmap the signed text holds.
    pub fn parse(&self) -> Result<Bmap, BmapError> {
        let name = PathBuf::from(self.location.to_string());
        Bmap::from_bytes(&self.text, &name)
    }
}

/// What looking for a bmap found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A bmap, examined.
    Found(Box<Checked>),
    /// None of these candidates exists.
    Missing {
        /// Every place looked at, in order (none for standard input).
        tried: Vec<Input>,
    },
}

/// Why no verdict on a bmap could be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// A bmap or signature that exists (or may) but cannot be fetched: refused, because a
    /// bmap or signature that cannot be reached must not silently become "none".
    #[error("cannot read {what} '{location}'")]
    Fetch {
        /// "the bmap file", "the signature".
        what: &'static str,
        /// Where.
        location: String,
        /// Why.
        #[source]
        source: Box<SourceError>,
    },
    /// A given bmap or signature that does not exist.
    #[error("{what} '{location}' does not exist")]
    Gone {
        /// "bmap file", "signature file".
        what: &'static str,
        /// Where.
        location: String,
    },
    /// The "bmap" is the image itself.
    #[error(
        "the bmap file '{location}' is the image itself; make sure you are writing your image and not its bmap"
    )]
    ImageIsBmap {
        /// Where.
        location: String,
    },
    /// Larger than any bmap.
    #[error(transparent)]
    TooLarge(BmapError),
    /// The signature could not be read at all.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Finds the bmap of `image` (or takes the one `choice` gives), fetches it and its signature
/// (`signature`, or the candidates next to the bmap), and checks the signature by `policy`.
pub fn find_checked(
    image: &Input,
    choice: &BmapChoice,
    signature: Option<&Input>,
    policy: &Policy,
    opener: &Opener,
) -> Result<Lookup, DiscoverError> {
    let (location, bytes, discovered) = match choice {
        BmapChoice::Given(given) => {
            refuse_image_as_bmap(given, image)?;
            return fetch_checked(given, signature, policy, opener)
                .map(|checked| Lookup::Found(Box::new(checked)));
        }
        BmapChoice::Discover => {
            let mut candidates = bmap_candidates_for(image);
            // Last, after what its catalog and its server publish: the bmap kept beside the
            // cached download, made when it was first written.
            if let Input::Catalog(chosen) = image
                && let (Some(sha256), Some(cache)) =
                    (chosen.image.download_sha256, opener.image_cache())
                && let Some(kept) = cache.bmap(&sha256)
            {
                candidates.push(Input::Path(kept));
            }
            let mut found = None;
            for candidate in &candidates {
                let next_to = Some(image);
                if let Some(bytes) = fetch(
                    "the bmap file",
                    candidate,
                    next_to,
                    bmap::MAX_FILE_SIZE,
                    opener,
                )? {
                    found = Some((candidate.clone(), bytes));
                    break;
                }
            }
            let Some((location, bytes)) = found else {
                return Ok(Lookup::Missing { tried: candidates });
            };
            refuse_image_as_bmap(&location, image)?;
            (location, bytes, true)
        }
    };
    let mut checked = check(&location, bytes, signature, policy, opener)?;
    checked.discovered = discovered;
    Ok(Lookup::Found(Box::new(checked)))
}

/// Fetches the bmap at `location` (which must exist) and checks its signature by `policy`.
pub fn fetch_checked(
    location: &Input,
    signature: Option<&Input>,
    policy: &Policy,
    opener: &Opener,
) -> Result<Checked, DiscoverError> {
    let bytes =
        fetch("the bmap file", location, None, bmap::MAX_FILE_SIZE, opener)?.ok_or_else(|| {
            DiscoverError::Gone {
                what: "bmap file",
                location: location.to_string(),
            }
        })?;
    check(location, bytes, signature, policy, opener)
}

/// Checks the signature of the bmap `bytes` from `location` by `policy`.
pub fn check(
    location: &Input,
    bytes: Vec<u8>,
    signature: Option<&Input>,
    policy: &Policy,
    opener: &Opener,
) -> Result<Checked, DiscoverError> {
    let mut checked = Checked {
        location: location.clone(),
        discovered: false,
        status: SignatureStatus::Unsigned,
        refusal: None,
        trusted: None,
        warnings: Vec::new(),
        skipped: policy.skip,
        unsigned_unexpectedly: false,
        text: Vec::new(),
    };
    if policy.skip {
        if bmap::is_clearsigned(&bytes) {
            checked.status = SignatureStatus::Signed {
                form: SignatureForm::Clearsigned,
                checks: Vec::new(),
            };
            checked.text =
                bmap::cleartext(&bytes).ok_or_else(|| SignatureError::BadSignatureFile {
                    location: format!("in the clearsigned bmap '{location}'"),
                    reason: "the message is malformed (no signature block after the text)".into(),
                })?;
        } else {
            checked.text = bytes;
        }
        return Ok(checked);
    }
    // A keyring the user named must be readable whatever the bmap; the trusted keys are read
    // only for a signed bmap, since nothing about them matters otherwise.
    let named = policy
        .keyring
        .as_deref()
        .map(Keyring::from_file)
        .transpose()?;
    let detached = if bmap::is_clearsigned(&bytes) {
        None
    } else {
        find_signature(location, signature, opener)?
    };
    let verified = if bmap::is_clearsigned(&bytes) || detached.is_some() {
        let keyring = named.unwrap_or_else(Keyring::trusted);
        checked.trusted = Some(keyring.describe().to_owned());
        checked.warnings = keyring.warnings().to_vec();
        let pin = policy.signer.as_deref();
        match detached {
            Some((place, signature)) => verify_detached(&bytes, &signature, &place, &keyring, pin)?,
            None => verify_clearsigned(&bytes, &keyring, pin)?,
        }
    } else {
        checked.unsigned_unexpectedly = policy.keyring.is_none() && trusted_keys_present();
        Verified {
            status: SignatureStatus::Unsigned,
            text: bytes,
        }
    };
    checked.refusal = policy.judge(&verified.status);
    checked.status = verified.status;
    checked.text = verified.text;
    Ok(checked)
}

/// `signature`, or the first of BMAP.asc, BMAP.sig, BMAP.gpg that exists next to the bmap.
fn find_signature(
    bmap: &Input,
    given: Option<&Input>,
    opener: &Opener,
) -> Result<Option<(String, Vec<u8>)>, DiscoverError> {
    if let Some(given) = given {
        let bytes =
            fetch("the signature", given, None, SIGNATURE_LIMIT, opener)?.ok_or_else(|| {
                DiscoverError::Gone {
                    what: "signature file",
                    location: given.to_string(),
                }
            })?;
        return Ok(Some((given.to_string(), bytes)));
    }
    for candidate in signature_candidates_for(bmap) {
        if let Some(bytes) = fetch(
            "the signature",
            &candidate,
            Some(bmap),
            SIGNATURE_LIMIT,
            opener,
        )? {
            return Ok(Some((candidate.to_string(), bytes)));
        }
    }
    Ok(None)
}

/// At most `limit` bytes of a small file; `None` when it does not exist. Larger than
/// `limit` is an error for a bmap; a signature that large is cut, and then fails to parse.
/// `next_to` is the file a discovered candidate was derived from: credentials from
/// `~/.netrc` then go only where that file's own would.
fn fetch(
    what: &'static str,
    location: &Input,
    next_to: Option<&Input>,
    limit: u64,
    opener: &Opener,
) -> Result<Option<Vec<u8>>, DiscoverError> {
    let bytes = match next_to {
        Some(named) => opener.fetch_next_to(location, named, limit),
        None => opener.fetch(location, limit),
    }
    .map_err(|source| DiscoverError::Fetch {
        what,
        location: location.to_string(),
        source: Box::new(source),
    })?;
    if let Some(bytes) = &bytes
        && bytes.len() as u64 > limit
        && limit == bmap::MAX_FILE_SIZE
    {
        return Err(DiscoverError::TooLarge(BmapError {
            path: PathBuf::from(location.to_string()),
            line: None,
            kind: BmapErrorKind::TooLarge { limit },
        }));
    }
    Ok(bytes)
}

/// bmaptool's guard against writing a bmap instead of its image.
fn refuse_image_as_bmap(bmap: &Input, image: &Input) -> Result<(), DiscoverError> {
    let same = match (bmap, image) {
        (Input::Path(a), Input::Path(b)) => same_file(a, b),
        _ => bmap == image,
    };
    if same {
        return Err(DiscoverError::ImageIsBmap {
            location: bmap.to_string(),
        });
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
