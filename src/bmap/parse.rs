//! Reading bmap XML of every version, with line numbers for every error.
//!
//! Elements are looked up by name as direct children of `<bmap>` (order does not matter, as in
//! bmaptool); unknown elements, attributes and comments are ignored so minor versions can grow.
//! Text is trimmed everywhere. Entities other than the five predefined ones cannot occur
//! because a DOCTYPE is refused.
//!
//! Ranges go straight into their compact form ([`Ranges`]) as each `</Range>` is read: no
//! string or object is kept per range, so memory grows by 16 bytes per range plus its digest.
//! A range's errors that depend on the checksum type (known only once the whole document is
//! read) are kept for the first range that has one; an error found later by validation,
//! which knows only the range's index, is placed in the file by reading it again.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::{Bmap, BmapError, BmapErrorKind, ChecksumType, Digest, MAX_RANGES, Ranges, Version};

mod range;

use range::{Current, DigestAt, close_range, first_range_error, range_offset};

/// Deeper nesting than this is not a bmap; the limit keeps hostile input cheap.
const MAX_DEPTH: usize = 16;

/// The scalar children of `<bmap>` we read; the discriminant indexes [`Document::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ImageSize,
    BlockSize,
    BlocksCount,
    MappedBlocksCount,
    ChecksumType,
    BmapFileChecksum,
    BmapFileSha1,
}

impl Field {
    /// In declaration order, so `ALL[f as usize] == f`.
    const ALL: [Field; 7] = [
        Field::ImageSize,
        Field::BlockSize,
        Field::BlocksCount,
        Field::MappedBlocksCount,
        Field::ChecksumType,
        Field::BmapFileChecksum,
        Field::BmapFileSha1,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::ImageSize => "ImageSize",
            Field::BlockSize => "BlockSize",
            Field::BlocksCount => "BlocksCount",
            Field::MappedBlocksCount => "MappedBlocksCount",
            Field::ChecksumType => "ChecksumType",
            Field::BmapFileChecksum => "BmapFileChecksum",
            Field::BmapFileSha1 => "BmapFileSHA1",
        }
    }
}

/// Where the parser is: the element on top of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    Field(Field),
    BlockMap,
    Range,
    Ignored,
}

/// A value as found: trimmed later, with the byte offset of its element for error lines.
#[derive(Debug, Default)]
struct Found {
    text: String,
    offset: u64,
}

/// Everything read from the document, before interpretation.
#[derive(Debug, Default)]
struct Document {
    version: Option<Found>,
    /// The checksum scheme of the version, once it is known to be valid.
    scheme: Option<Scheme>,
    fields: [Option<Found>; 7],
    block_map: bool,
    ranges: Ranges,
    /// `<Range>` elements seen so far.
    range_count: usize,
    current: Option<Current>,
    /// Bytes of the digest being read, reused from range to range.
    digest: Vec<u8>,
    /// The first range whose text is not a range, and why.
    bad_range: Option<(usize, u64, BmapErrorKind)>,
    /// The first range whose digest is not hex.
    bad_hex: Option<DigestAt>,
    /// The first range with a digest, and the first whose digest has another length.
    first_digest: Option<DigestAt>,
    other_length: Option<DigestAt>,
}

impl Document {
    /// Whether a problem with some range is known: ranges are no longer stored then.
    fn range_failed(&self) -> bool {
        self.bad_range.is_some() || self.bad_hex.is_some() || self.other_length.is_some()
    }
}

/// Which checksums a bmap version carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// 1.0-1.2 and unknown 1.x: optional per-range `sha1`, no file checksum.
    RangeSha1,
    /// 1.3: `BmapFileSHA1` and per-range `sha1`.
    FileSha1,
    /// 1.4 and 2.x: `ChecksumType`, `BmapFileChecksum`, per-range `chksum`.
    Typed,
}

pub(super) fn parse(bytes: &[u8], path: &Path) -> Result<Bmap, BmapError> {
    let error = |offset: Option<u64>, kind| BmapError {
        path: path.to_path_buf(),
        line: offset.map(|o| line_of(bytes, o)),
        kind,
    };
    if super::is_clearsigned(bytes) {
        return Err(error(None, BmapErrorKind::Clearsigned));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| error(None, BmapErrorKind::NotUtf8))?;
    let doc = read_document(text).map_err(|(offset, kind)| error(Some(offset), kind))?;
    interpret(bytes, doc).map_err(|(offset, kind)| {
        // Validation knows only the index of the range at fault: find it in the file.
        let offset = match offset {
            Offset::At(at) => Some(at),
            Offset::Range(index) => range_offset(text, index),
            Offset::None => None,
        };
        error(offset, kind)
    })
}

/// Where an error of [`interpret`] is.
enum Offset {
    At(u64),
    /// The `<Range>` of this index.
    Range(usize),
    None,
}

/// 1-based line number of a byte offset.
fn line_of(bytes: &[u8], offset: u64) -> u64 {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
}

type AtOffset<T> = Result<T, (u64, BmapErrorKind)>;

fn read_document(text: &str) -> AtOffset<Document> {
    let mut reader = Reader::from_str(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut doc = Document::default();
    let mut stack: Vec<Context> = Vec::new();
    let mut root_done = false;
    loop {
        let offset = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let at = reader.error_position();
            (at, BmapErrorKind::Xml(e.to_string()))
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) if root_done => {
                let name = e.local_name().as_ref().to_owned();
                return Err((
                    offset,
                    BmapErrorKind::Xml(format!("<{name}> after </bmap>")),
                ));
            }
            Event::Start(e) => {
                let context = open(&mut doc, stack.last().copied(), &e, offset)?;
                stack.push(context);
                if stack.len() > MAX_DEPTH {
                    return Err((offset, BmapErrorKind::TooDeep(MAX_DEPTH)));
                }
            }
            Event::Empty(e) => {
                let context = open(&mut doc, stack.last().copied(), &e, offset)?;
                root_done |= context == Context::Root;
                if context == Context::Range {
                    close_range(&mut doc);
                }
            }
            Event::End(_) => {
                if stack.pop() == Some(Context::Range) {
                    close_range(&mut doc);
                }
                root_done |= stack.is_empty();
            }
            Event::Text(t) => append(&mut doc, stack.last(), &t),
            Event::CData(t) => append(&mut doc, stack.last(), &t),
            // Predefined entities and character references are not numbers or hex digits;
            // keep them verbatim so the value is reported as it stands in the file.
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                append(&mut doc, stack.last(), &format!("&{name};"));
            }
            Event::DocType(_) => return Err((offset, BmapErrorKind::DocType)),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        let what = format!("the file ends inside an element ({open:?})");
        return Err((reader.buffer_position(), BmapErrorKind::Xml(what)));
    }
    doc.ranges.shrink_to_fit();
    if doc.version.is_none() {
        return Err((0, BmapErrorKind::Xml("no <bmap> element".into())));
    }
    Ok(doc)
}

/// Handles an opening tag under `parent` and returns the context it opens.
fn open(
    doc: &mut Document,
    parent: Option<Context>,
    element: &BytesStart<'_>,
    offset: u64,
) -> AtOffset<Context> {
    let local = element.local_name();
    let name = local.as_ref();
    match parent {
        None => {
            if name != "bmap" {
                let name = name.to_owned();
                return Err((offset, BmapErrorKind::NotBmap(name)));
            }
            let version = attribute(element, "version", offset)?;
            let text = version.ok_or((offset, BmapErrorKind::NoVersion))?;
            doc.scheme = parse_version(text.trim()).ok().map(scheme_of);
            doc.version = Some(Found { text, offset });
            Ok(Context::Root)
        }
        Some(Context::Root) => {
            if name == "BlockMap" {
                if doc.block_map {
                    return Err((offset, BmapErrorKind::Duplicate("BlockMap")));
                }
                doc.block_map = true;
                return Ok(Context::BlockMap);
            }
            let Some(field) = Field::ALL.into_iter().find(|f| f.name() == name) else {
                return Ok(Context::Ignored);
            };
            let slot = &mut doc.fields[field as usize];
            if slot.is_some() {
                return Err((offset, BmapErrorKind::Duplicate(field.name())));
            }
            *slot = Some(Found {
                text: String::new(),
                offset,
            });
            Ok(Context::Field(field))
        }
        Some(Context::BlockMap) if name == "Range" => {
            if doc.range_count >= MAX_RANGES {
                let kind = BmapErrorKind::TooManyRanges { limit: MAX_RANGES };
                return Err((offset, kind));
            }
            let digest = match doc.scheme {
                Some(Scheme::Typed) => attribute(element, "chksum", offset)?,
                Some(Scheme::RangeSha1 | Scheme::FileSha1) => attribute(element, "sha1", offset)?,
                // An invalid version: the document is refused for it before any range counts.
                None => None,
            };
            let mut current = doc.current.take().unwrap_or_default();
            current.offset = offset;
            current.text.clear();
            current.digest = digest;
            doc.current = Some(current);
            Ok(Context::Range)
        }
        Some(_) => Ok(Context::Ignored),
    }
}

fn attribute(element: &BytesStart<'_>, key: &str, offset: u64) -> AtOffset<Option<String>> {
    for attr in element.attributes() {
        let attr = attr.map_err(|e| (offset, BmapErrorKind::Xml(e.to_string())))?;
        if attr.key.local_name().as_ref() == key {
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| (offset, BmapErrorKind::Xml(e.to_string())))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn append(doc: &mut Document, context: Option<&Context>, text: &str) {
    match context {
        Some(Context::Field(field)) => {
            if let Some(found) = doc.fields[*field as usize].as_mut() {
                found.text.push_str(text);
            }
        }
        Some(Context::Range) => {
            if let Some(range) = doc.current.as_mut() {
                range.text.push_str(text);
            }
        }
        _ => {}
    }
}

type Located<T> = Result<T, (Offset, BmapErrorKind)>;

/// The checksums `version` carries.
fn scheme_of(version: Version) -> Scheme {
    match (version.major, version.minor) {
        (1, 3) => Scheme::FileSha1,
        (1, 4) | (2, _) => Scheme::Typed,
        _ => Scheme::RangeSha1,
    }
}

/// Turns the raw document into a validated [`Bmap`].
fn interpret(bytes: &[u8], mut doc: Document) -> Located<Bmap> {
    let version_found = doc
        .version
        .as_ref()
        .ok_or((Offset::None, BmapErrorKind::NoVersion))?;
    let version = parse_version(version_found.text.trim())
        .map_err(|kind| (Offset::At(version_found.offset), kind))?;
    let scheme = scheme_of(version);
    let field = |f: Field| {
        doc.fields[f as usize]
            .as_ref()
            .map(|found| (found.text.trim(), found.offset))
    };
    let number = |f: Field| -> Located<u64> {
        let Some((text, offset)) = field(f) else {
            if f == Field::ImageSize && version < (Version { major: 1, minor: 2 }) {
                return Err((Offset::None, BmapErrorKind::NoImageSize(version)));
            }
            return Err((Offset::None, BmapErrorKind::Missing(f.name())));
        };
        parse_u64(text).ok_or_else(|| {
            let kind = BmapErrorKind::BadNumber {
                element: f.name(),
                text: text.to_owned(),
            };
            (Offset::At(offset), kind)
        })
    };
    let image_size = number(Field::ImageSize)?;
    let block_size = number(Field::BlockSize)?;
    let blocks_count = number(Field::BlocksCount)?;
    let mapped_blocks_count = number(Field::MappedBlocksCount)?;
    if !doc.block_map {
        return Err((Offset::None, BmapErrorKind::Missing("BlockMap")));
    }

    let checksum_type = match scheme {
        Scheme::Typed => {
            let (text, offset) = field(Field::ChecksumType)
                .ok_or((Offset::None, BmapErrorKind::Missing("ChecksumType")))?;
            ChecksumType::from_name(text).ok_or_else(|| {
                (
                    Offset::At(offset),
                    BmapErrorKind::UnknownChecksumType(text.to_owned()),
                )
            })?
        }
        Scheme::RangeSha1 | Scheme::FileSha1 => ChecksumType::Sha1,
    };
    let file_field = match scheme {
        Scheme::Typed => Some(Field::BmapFileChecksum),
        Scheme::FileSha1 => Some(Field::BmapFileSha1),
        Scheme::RangeSha1 => None,
    };
    if let Some(f) = file_field {
        let (text, offset) = field(f).ok_or((Offset::None, BmapErrorKind::Missing(f.name())))?;
        let stored = parse_digest(text, checksum_type, f.name())
            .map_err(|kind| (Offset::At(offset), kind))?;
        verify_file_checksum(bytes, text, &stored, checksum_type)
            .map_err(|kind| (Offset::At(offset), kind))?;
    }
    if let Some(error) = first_range_error(&mut doc, checksum_type) {
        return Err(error);
    }

    let bmap = Bmap {
        version,
        image_size,
        block_size,
        blocks_count,
        mapped_blocks_count,
        checksum_type,
        ranges: doc.ranges,
    };
    bmap.validate()
        .map_err(|(kind, index)| (index.map_or(Offset::None, Offset::Range), kind))?;
    Ok(bmap)
}

fn parse_version(text: &str) -> Result<Version, BmapErrorKind> {
    let bad = || BmapErrorKind::BadVersion(text.to_owned());
    let (major, minor) = text.split_once('.').ok_or_else(bad)?;
    let major = parse_u64(major.trim()).ok_or_else(bad)?;
    let minor = parse_u64(minor.trim()).ok_or_else(bad)?;
    if major != 1 && major != 2 {
        return Err(BmapErrorKind::UnsupportedVersion(text.to_owned()));
    }
    let minor = u32::try_from(minor).map_err(|_| bad())?;
    Ok(Version {
        major: major as u32,
        minor,
    })
}

/// Decimal digits only: no sign, no underscores, no spaces inside, fits in u64.
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `A-B` (split at the first dash, each side trimmed) or `A`.
fn parse_range(text: &str) -> Result<(u64, u64), BmapErrorKind> {
    let bad = || BmapErrorKind::BadRange(text.to_owned());
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (text, text),
    };
    let first = parse_u64(first).ok_or_else(bad)?;
    let last = parse_u64(last).ok_or_else(bad)?;
    if first > last {
        return Err(BmapErrorKind::ReversedRange(text.to_owned()));
    }
    Ok((first, last))
}

fn parse_digest(text: &str, kind: ChecksumType, what: &str) -> Result<Digest, BmapErrorKind> {
    Digest::from_hex(text)
        .filter(|d| d.as_bytes().len() == kind.digest_len())
        .ok_or_else(|| BmapErrorKind::BadDigest {
            what: what.to_owned(),
            text: text.to_owned(),
            kind,
        })
}

/// bmaptool's rule for the whole-file checksum: the first occurrence of the stored hex text in the
/// raw file is replaced by as many ASCII zeros, and the whole file is hashed.
fn verify_file_checksum(
    bytes: &[u8],
    stored_text: &str,
    stored: &Digest,
    kind: ChecksumType,
) -> Result<(), BmapErrorKind> {
    let needle = stored_text.as_bytes();
    let mismatch = |calculated: String| BmapErrorKind::FileChecksum {
        calculated,
        stored: stored_text.to_owned(),
    };
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or_else(|| mismatch("(the stored value is not in the file verbatim)".into()))?;
    let mut hasher = kind.hasher();
    hasher.update(&bytes[..at]);
    hasher.update(&vec![b'0'; needle.len()]);
    hasher.update(&bytes[at + needle.len()..]);
    let calculated = hasher.finish();
    if &calculated != stored {
        return Err(mismatch(calculated.to_string()));
    }
    Ok(())
}
