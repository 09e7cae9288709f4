//! tar archives (POSIX ustar, pax and GNU): the member that is the disk image.
//!
//! A tar is a run of 512-byte header blocks, each followed by its member's data padded to a
//! whole block. Uncompressed, the image is a plain byte range of the archive, so with random
//! access [`open_random`] lists the headers with one small read each (jumping over the data)
//! and hands back a [`Slice`]: the copy engine then reads the image in place and a server
//! with Range support is asked only for the mapped blocks. A stream is walked in order by
//! [`open_stream`], which takes the first member named like a disk image, or the only file.
//!
//! Extension headers change the member after them: a pax `x` header (its `path` and `size`
//! records), or a GNU `L` header (a long name). Both are bounded in size, as is the number
//! of members, so a hostile archive cannot make the listing unbounded.

use std::io::{self, Read};
use std::sync::Arc;

mod blocks;
#[cfg(test)]
mod tests;

use super::detect::tar_checksum_ok;
use super::member::{self, Chooser, Forward, Member, Step};
use super::random::{RandomAccess, Slice, read_vec};
use super::{Format, SourceError};
use blocks::{Blocks, Positional, Sequential, too_long};

const BLOCK: usize = 512;
/// More members than any disk-image archive has.
const MAX_MEMBERS: usize = 1_000_000;
/// The largest pax header or GNU long name accepted; real ones are a few hundred bytes.
const MAX_EXTENSION: u64 = 1 << 20;

/// What follows a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A regular file (`0`, NUL, or `7`, contiguous).
    File,
    /// A GNU sparse file (`S`, or pax `GNU.sparse.*` records): its data is not the file.
    Sparse,
    /// A link, directory, device or FIFO: no data, whatever the size field says.
    HeaderOnly,
    /// Any other member type: `size` bytes of data to pass over.
    Other,
}

/// A member as its headers describe it.
#[derive(Debug)]
struct Entry {
    name: String,
    size: u64,
    kind: Kind,
    /// Offset of its data in the archive.
    data_at: u64,
}

/// Records of extension headers, applied to the next member.
#[derive(Debug, Default)]
struct Pending {
    path: Option<String>,
    size: Option<u64>,
    long_name: Option<String>,
    sparse: bool,
}

fn damaged(name: &str, message: String) -> SourceError {
    SourceError::damaged(name, Format::Tar, message)
}

fn unsupported(name: &str, what: String) -> SourceError {
    SourceError::unsupported(name, Format::Tar, what)
}

fn read_failed(name: &str, e: io::Error, what: &str, at: u64) -> SourceError {
    SourceError::read_failed(name, Format::Tar, e, what, at)
}

/// A NUL-terminated text field.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A numeric field: octal text, or GNU base-256 (high bit of the first byte set) for values
/// octal cannot hold.
fn number(field: &[u8]) -> Result<u64, String> {
    let Some((&first, rest)) = field.split_first() else {
        return Ok(0);
    };
    if first & 0x80 != 0 {
        if first & 0x40 != 0 {
            return Err("has a negative base-256 size".into());
        }
        let mut value = u64::from(first & 0x3F);
        for &b in rest {
            value = value
                .checked_mul(256)
                .map(|v| v | u64::from(b))
                .ok_or("has a base-256 size beyond 64 bits")?;
        }
        return Ok(value);
    }
    let digits = field
        .iter()
        .skip_while(|&&b| b == b' ' || b == 0)
        .take_while(|&&b| b != b' ' && b != 0);
    let mut value: u64 = 0;
    for &b in digits {
        if !(b'0'..=b'7').contains(&b) {
            return Err(format!("has a size that is not octal ({:?})", text(field)));
        }
        value = value
            .checked_mul(8)
            .map(|v| v | u64::from(b - b'0'))
            .ok_or("has an octal size beyond 64 bits")?;
    }
    Ok(value)
}

/// Applies the records of a pax extended header: `"<length> <key>=<value>\n"`, repeated.
fn pax_records(data: &[u8], pending: &mut Pending) -> Result<(), String> {
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("has a record without a length")?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&len| len > space + 1 && len <= rest.len())
            .ok_or("has a record with a bad length")?;
        let record = &rest[space + 1..len];
        let Some(record) = record.strip_suffix(b"\n") else {
            return Err("has a record without its newline".into());
        };
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("has a record without '='")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" | b"GNU.sparse.name" => {
                pending.path = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"size" => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("has a bad size record")?;
                pending.size = Some(size);
            }
            _ => {}
        }
        if key.starts_with(b"GNU.sparse.") {
            pending.sparse = true;
        }
        rest = &rest[len..];
    }
    Ok(())
}

/// Reads headers up to the next member (extension headers fold into it); `None` at the end.
fn next_entry(blocks: &mut impl Blocks, name: &str) -> Result<Option<Entry>, SourceError> {
    let mut pending = Pending::default();
    loop {
        let at = blocks.position();
        let block = blocks
            .block()
            .map_err(|e| read_failed(name, e, "a header", at))?;
        // Two zero blocks end the archive; the first is enough to know.
        let Some(block) = block.filter(|b| b.iter().any(|&x| x != 0)) else {
            return Ok(None);
        };
        if !tar_checksum_ok(&block) {
            return Err(damaged(
                name,
                format!("the header at offset {at} fails its checksum"),
            ));
        }
        let size = number(&block[124..136])
            .map_err(|m| damaged(name, format!("the header at offset {at} {m}")))?;
        let extension = |what: &str, blocks: &mut dyn Blocks| {
            if size > MAX_EXTENSION {
                return Err(damaged(
                    name,
                    format!("the {what} at offset {at} is {size} bytes (at most {MAX_EXTENSION})"),
                ));
            }
            blocks
                .data(size)
                .map_err(|e| read_failed(name, e, what, at))
        };
        match block[156] {
            b'x' => {
                let data = extension("pax header", blocks)?;
                pax_records(&data, &mut pending)
                    .map_err(|m| damaged(name, format!("the pax header at offset {at} {m}")))?;
            }
            b'L' => pending.long_name = Some(text(&extension("GNU long name", blocks)?)),
            b'g' | b'K' => blocks
                .skip(size)
                .map_err(|e| read_failed(name, e, "an extension header", at))?,
            flag => {
                let kind = match flag {
                    b'0' | 0 | b'7' if pending.sparse => Kind::Sparse,
                    b'0' | 0 | b'7' => Kind::File,
                    b'S' => Kind::Sparse,
                    b'1'..=b'6' => Kind::HeaderOnly,
                    _ => Kind::Other,
                };
                if flag == b'S' {
                    skip_sparse_maps(blocks, &block, name)?;
                }
                let mut member = text(&block[..100]);
                // POSIX ustar keeps the start of long paths in a prefix field; GNU headers
                // use those bytes for other things.
                if &block[257..263] == b"ustar\0" {
                    let prefix = text(&block[345..500]);
                    if !prefix.is_empty() {
                        member = format!("{prefix}/{member}");
                    }
                }
                let member = pending.path.or(pending.long_name).unwrap_or(member);
                let size = match kind {
                    Kind::HeaderOnly => 0,
                    _ => pending.size.unwrap_or(size),
                };
                return Ok(Some(Entry {
                    name: member,
                    size,
                    kind,
                    data_at: blocks.position(),
                }));
            }
        }
    }
}

/// Passes over the extension blocks of sparse maps that follow a GNU sparse header.
fn skip_sparse_maps(
    blocks: &mut impl Blocks,
    header: &[u8; BLOCK],
    name: &str,
) -> Result<(), SourceError> {
    let mut extended = header[482] != 0;
    while extended {
        let at = blocks.position();
        match blocks.block() {
            Ok(Some(block)) => extended = block[504] != 0,
            Ok(None) => return Err(read_failed(name, too_long(), "a sparse map", at)),
            Err(e) => return Err(read_failed(name, e, "a sparse map", at)),
        }
    }
    Ok(())
}

/// Lists an archive that can be read at any offset and returns its image member's name and
/// data, which is a range of the archive.
pub(crate) fn open_random(archive: &Arc<dyn RandomAccess>) -> Result<(String, Slice), SourceError> {
    let name = archive.name();
    let mut blocks = Positional {
        store: archive.as_ref(),
        at: 0,
    };
    let mut chooser: Chooser<Entry> = Chooser::default();
    let mut members = 0;
    while let Some(entry) = next_entry(&mut blocks, name)? {
        members += 1;
        if members > MAX_MEMBERS {
            return Err(too_many(name));
        }
        blocks.skip(entry.size).map_err(|e| {
            read_failed(name, e, &format!("member '{}'", entry.name), entry.data_at)
        })?;
        if matches!(entry.kind, Kind::File | Kind::Sparse) {
            chooser.file(&entry.name.clone(), entry);
        } else {
            chooser.other(&entry.name);
        }
    }
    let entry = chooser.finish(name, Format::Tar)?;
    if entry.kind == Kind::Sparse {
        return Err(sparse(name, &entry.name));
    }
    let slice_name = format!("{} in {name}", entry.name);
    let slice = Slice::new(Arc::clone(archive), entry.data_at, entry.size, slice_name);
    Ok((entry.name, slice))
}

/// Reads an archive in order and opens its image member, by the rule of [`member::Forward`]:
/// the first member named like a disk image, or the only file.
pub(crate) fn open_stream(reader: Box<dyn Read + Send>, name: &str) -> Result<Member, SourceError> {
    let mut blocks = Sequential { reader, at: 0 };
    let mut forward = Forward::default();
    // The first file, if small and not named like an image (its data; none if sparse).
    let mut held: Option<(String, Option<Vec<u8>>)> = None;
    let mut members = 0;
    while let Some(entry) = next_entry(&mut blocks, name)? {
        members += 1;
        if members > MAX_MEMBERS {
            return Err(too_many(name));
        }
        let step = if matches!(entry.kind, Kind::File | Kind::Sparse) {
            forward.file(&entry.name, Some(entry.size))
        } else {
            forward.other(&entry.name);
            Step::Pass
        };
        let read = |e| read_failed(name, e, &format!("member '{}'", entry.name), entry.data_at);
        if entry.kind == Kind::Sparse {
            // Its data is not the file: an error if it is the image, else passed over.
            match step {
                Step::Image => return Err(sparse(name, &entry.name)),
                Step::Hold | Step::OnlyFile => held = Some((entry.name.clone(), None)),
                Step::Pass => {}
            }
            blocks.skip(entry.size).map_err(read)?;
            continue;
        }
        match step {
            Step::Image | Step::OnlyFile => {
                let label = format!("tar member '{}' of '{name}'", entry.name);
                let rest = (step == Step::OnlyFile).then(|| Rest {
                    archive: name.to_owned(),
                    member: entry.name.clone(),
                    members,
                });
                return Ok(Member {
                    name: entry.name,
                    size: Some(entry.size),
                    reader: Box::new(Exact::new(blocks, entry.size, label, rest)),
                });
            }
            Step::Hold => {
                let data = blocks.data(entry.size).map_err(read)?;
                held = Some((entry.name.clone(), Some(data)));
            }
            Step::Pass => blocks.skip(entry.size).map_err(read)?,
        }
    }
    forward.finish(name, Format::Tar, held.is_some())?;
    let Some((member, data)) = held else {
        return Err(damaged(name, "the held member is gone".into()));
    };
    let Some(data) = data else {
        return Err(sparse(name, &member));
    };
    Ok(Member {
        name: member,
        size: Some(data.len() as u64),
        reader: Box::new(io::Cursor::new(data)),
    })
}

fn too_many(name: &str) -> SourceError {
    unsupported(
        name,
        format!("an archive of more than {MAX_MEMBERS} members"),
    )
}

fn sparse(name: &str, member: &str) -> SourceError {
    unsupported(
        name,
        format!("the GNU sparse member '{member}' (extract it, or archive it without --sparse)"),
    )
}

/// What must hold after a member read as the archive's only file: no other file follows.
struct Rest {
    archive: String,
    member: String,
    /// Members listed up to and including it, for the limit.
    members: usize,
}

impl Rest {
    /// Reads the archive after the member to its end: only directories, links and the like
    /// may follow.
    fn check(&self, blocks: &mut Sequential) -> io::Result<()> {
        let name = self.archive.as_str();
        let invalid = |e: SourceError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        let mut members = self.members;
        while let Some(entry) = next_entry(blocks, name).map_err(invalid)? {
            members += 1;
            if members > MAX_MEMBERS {
                return Err(invalid(too_many(name)));
            }
            if matches!(entry.kind, Kind::File | Kind::Sparse) && !member::is_noise(&entry.name) {
                return Err(member::not_the_only_file(
                    name,
                    Format::Tar,
                    &self.member,
                    &entry.name,
                ));
            }
            blocks.skip(entry.size).map_err(|e| {
                invalid(read_failed(
                    name,
                    e,
                    &format!("member '{}'", entry.name),
                    entry.data_at,
                ))
            })?;
        }
        Ok(())
    }
}

/// A member's data, which must be `size` bytes: a stream that ends sooner is an error. For a
/// member taken as the only file, the rest of the archive is checked when its data ends.
struct Exact {
    inner: io::Take<Box<dyn Read + Send>>,
    size: u64,
    label: String,
    /// Where the member's data starts in the archive.
    data_at: u64,
    rest: Option<Rest>,
}

impl Exact {
    fn new(blocks: Sequential, size: u64, label: String, rest: Option<Rest>) -> Self {
        Self {
            inner: blocks.reader.take(size),
            size,
            label,
            data_at: blocks.at,
            rest,
        }
    }

    /// Once the data is read: the rest of the archive, when it must be checked.
    fn check_rest(&mut self) -> io::Result<()> {
        let Some(rest) = self.rest.take() else {
            return Ok(());
        };
        let reader = std::mem::replace(self.inner.get_mut(), Box::new(io::empty()));
        let mut blocks = Sequential {
            reader,
            at: self.data_at + self.size,
        };
        blocks.unpad(self.size)?;
        rest.check(&mut blocks)
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if self.inner.limit() > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} is truncated: its data ends after {} of {} bytes",
                        self.label,
                        self.size - self.inner.limit(),
                        self.size
                    ),
                ));
            }
            self.check_rest()?;
        }
        Ok(n)
    }
}
