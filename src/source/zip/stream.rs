//! Reading a zip archive forward, from its first local header, for archives that cannot seek
//! (standard input, ssh, HTTP without Range).
//!
//! Each local header says how long its member's data is, except when the archive was written
//! to a stream itself: then the sizes and CRC-32 follow the data in a data descriptor, and the
//! only way to find the end of the data is to decode it. Stored data has no end marker, so such
//! a member cannot be passed over.

use std::io::{self, BufRead, Read, Take};

use super::lookahead::Input;

use flate2::Crc;

use super::decode::{Checked, Decoder, Finish, Label, check_crc};
use super::{
    CENTRAL_SIG, DESCRIPTOR_SIG, EOCD_SIG, EOCD64_SIG, FLAG_DESCRIPTOR, FLAG_ENCRYPTED, LOCAL_LEN,
    LOCAL_SIG, MAX_ENTRIES, Method, Widen, damaged, incomplete, read_failed, unsupported,
};
use crate::le::{u16_at, u32_at, u64_at};
use crate::source::member::{self, Forward, Member, Step};
use crate::source::{Format, SourceError};

/// The digital signature record that may end a central directory.
const DIGITAL_SIGNATURE_SIG: u32 = 0x0505_4b50;

/// A local file header.
struct Local {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    /// A Zip64 extra field is present: a data descriptor then has 64-bit sizes.
    zip64: bool,
    /// Offset of the header.
    at: u64,
}

impl Local {
    fn deferred(&self) -> bool {
        self.flags & FLAG_DESCRIPTOR != 0
    }
}

/// Opens the image member of a zip archive read forward, by the rule of [`Forward`]: the
/// first member named like a disk image, or the only file.
pub(crate) fn open_stream(reader: Box<dyn Read + Send>, name: &str) -> Result<Member, SourceError> {
    let mut input = Input::new(reader);
    let mut forward = Forward::default();
    let mut held: Option<(String, Vec<u8>)> = None;
    let mut members = 0;
    while let Some(local) = next_local(&mut input, name, &mut members)? {
        let size = (!local.deferred()).then_some(local.uncompressed);
        let step = if local.name.ends_with('/') {
            forward.other(&local.name);
            Step::Pass
        } else {
            forward.file(&local.name, size)
        };
        let rest = || Rest {
            member: local.name.clone(),
            archive: name.to_owned(),
            members,
        };
        match step {
            Step::Image => return open_member(input, local, name, None),
            Step::OnlyFile => {
                let rest = rest();
                return open_member(input, local, name, Some(rest));
            }
            Step::Hold => {
                let rest = rest();
                match hold(&mut input, local, name, rest)? {
                    Held::Whole(member, data) => held = Some((member, data)),
                    Held::Started(member) => return Ok(member),
                }
            }
            Step::Pass => skip(&mut input, &local, name)?,
        }
    }
    forward.finish(name, Format::Zip, held.is_some())?;
    let Some((member, data)) = held else {
        return Err(damaged(name, "the held member is gone".into()));
    };
    Ok(Member {
        name: member,
        size: Some(data.len() as u64),
        reader: Box::new(io::Cursor::new(data)),
    })
}

/// What became of a file held while the stream is read on.
enum Held {
    /// It ended within [`member::HOLD`] bytes, decoded and checked: the image if no other
    /// file follows. The stream is past it.
    Whole(String, Vec<u8>),
    /// It is larger: it is read as the image, and no other file may follow it.
    Started(Member),
}

/// Decodes the first file of a stream, not named like an image, into memory while it fits in
/// [`member::HOLD`] bytes.
fn hold(input: &mut Input, local: Local, name: &str, rest: Rest) -> Result<Held, SourceError> {
    let owned = std::mem::replace(input, Input::placeholder());
    let member = local.name.clone();
    let mut reading = reading(owned, &local, name)?;
    let mut data = Vec::new();
    (&mut reading)
        .take(member::HOLD + 1)
        .read_to_end(&mut data)
        .map_err(|e| SourceError::Open {
            name: name.to_owned(),
            source: e,
        })?;
    if data.len() as u64 <= member::HOLD {
        *input = reading.into_input(name)?;
        return Ok(Held::Whole(member, data));
    }
    let size = (!local.deferred()).then_some(local.uncompressed);
    let only = OnlyFile {
        reading,
        rest: Some(rest),
    };
    Ok(Held::Started(Member {
        name: member,
        size,
        reader: Box::new(io::Cursor::new(data).chain(only)),
    }))
}

/// Reads up to the next local header; `None` where the members end (the central directory,
/// or the end of the stream). `members` counts the headers read, against the limit.
fn next_local(
    input: &mut Input,
    name: &str,
    members: &mut u64,
) -> Result<Option<Local>, SourceError> {
    let at = input.position();
    let sig = input
        .peek(4)
        .map_err(|e| read_failed(name, e, "a record", at))?;
    match sig.len() {
        0 => return Ok(None),
        4 => {}
        _ => {
            return Err(damaged(
                name,
                format!("the archive ends in a record at offset {at}"),
            ));
        }
    }
    match u32_at(sig, 0) {
        LOCAL_SIG => {}
        // The central directory, or what may precede it: no more members.
        CENTRAL_SIG | EOCD_SIG | EOCD64_SIG | DIGITAL_SIGNATURE_SIG => return Ok(None),
        other => {
            return Err(damaged(
                name,
                format!("no zip record at offset {at} (found {other:08x})"),
            ));
        }
    }
    *members += 1;
    if *members > MAX_ENTRIES {
        return Err(unsupported(
            name,
            format!("an archive of more than {MAX_ENTRIES} members"),
        ));
    }
    read_local(input, name).map(Some)
}

/// What must hold after a member read as the archive's only file: no other file follows.
struct Rest {
    member: String,
    archive: String,
    /// Local headers read up to and including the member's, for the limit.
    members: u64,
}

impl Rest {
    /// Reads the archive after the member up to its central directory: only directories and
    /// the macOS forks the choice ignores may follow.
    fn check(&self, input: &mut Input) -> io::Result<()> {
        let name = self.archive.as_str();
        let invalid = |e: SourceError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        let mut members = self.members;
        while let Some(local) = next_local(input, name, &mut members).map_err(invalid)? {
            if !member::is_noise(&local.name) {
                return Err(member::not_the_only_file(
                    name,
                    Format::Zip,
                    &self.member,
                    &local.name,
                ));
            }
            skip(input, &local, name).map_err(invalid)?;
        }
        Ok(())
    }
}

fn ends_inside(name: &str, local: &Local, at: u64) -> SourceError {
    incomplete(
        name,
        format!(
            "it ends at byte {at}, inside member '{}' (header at byte {})",
            local.name, local.at
        ),
    )
}

fn read_local(input: &mut Input, name: &str) -> Result<Local, SourceError> {
    let at = input.position();
    let mut fixed = [0; LOCAL_LEN];
    input
        .read_exact(&mut fixed)
        .map_err(|e| read_failed(name, e, "a local header", at))?;
    let name_len = usize::from(u16_at(&fixed, 26));
    let mut variable = vec![0; name_len + usize::from(u16_at(&fixed, 28))];
    input
        .read_exact(&mut variable)
        .map_err(|e| read_failed(name, e, "a local header", at))?;
    let member = String::from_utf8_lossy(&variable[..name_len]).into_owned();
    let extra = &variable[name_len..];
    let mut widen = Widen::new(extra);
    let flags = u16_at(&fixed, 6);
    let uncompressed = widen.field(u32_at(&fixed, 22));
    let compressed = widen.field(u32_at(&fixed, 18));
    // With a data descriptor the header's sizes are placeholders, whatever they say.
    let (uncompressed, compressed) = if flags & FLAG_DESCRIPTOR != 0 {
        (Some(0), Some(0))
    } else {
        (uncompressed, compressed)
    };
    let (Some(uncompressed), Some(compressed)) = (uncompressed, compressed) else {
        return Err(damaged(
            name,
            format!("the local header of '{member}' at offset {at} lacks its Zip64 sizes"),
        ));
    };
    Ok(Local {
        name: member,
        flags,
        method: u16_at(&fixed, 8),
        crc: u32_at(&fixed, 14),
        compressed,
        uncompressed,
        zip64: super::zip64_extra(extra).is_some(),
        at,
    })
}

/// The member's method, when it can be read.
fn method(local: &Local, name: &str) -> Result<Method, SourceError> {
    Method::from_code(local.method)
        .map_err(|m| unsupported(name, format!("{m} of member '{}'", local.name)))
}

/// Passes over a member that is not the image.
fn skip(input: &mut Input, local: &Local, name: &str) -> Result<(), SourceError> {
    let start = input.position();
    if !local.deferred() {
        let copied = io::copy(&mut input.take(local.compressed), &mut io::sink())
            .map_err(|e| read_failed(name, e, "member data", input.position()))?;
        if copied < local.compressed {
            return Err(ends_inside(name, local, input.position()));
        }
        return Ok(());
    }
    let cannot_skip = |why: &str| {
        unsupported(
            name,
            format!(
                "passing over member '{}' ({why}, its size given only after its data) while \
                 reading a stream",
                local.name
            ),
        )
    };
    if local.flags & FLAG_ENCRYPTED != 0 {
        return Err(cannot_skip("encrypted"));
    }
    let method = method(local, name).map_err(|_| cannot_skip(super::method_name(local.method)))?;
    // A directory holds no data: its descriptor follows its header directly.
    if local.name.ends_with('/') && method == Method::Stored {
        return read_descriptor(input, local.zip64, 0, 0, 0)
            .map(drop)
            .map_err(|e| {
                read_failed(
                    name,
                    e,
                    &format!("the data descriptor of '{}'", local.name),
                    start,
                )
            });
    }
    if !method.self_terminating() {
        return Err(cannot_skip("stored"));
    }
    // Decoding needs the Input by value; it is handed back once the data ends.
    let owned = std::mem::replace(input, Input::placeholder());
    let mut decoder = Decoder::new(method, owned, true).map_err(|source| SourceError::Open {
        name: name.to_owned(),
        source,
    })?;
    let mut crc = Crc::new();
    let produced = discard(&mut decoder, &mut crc);
    *input = decoder.into_source();
    let produced = produced.map_err(|e| {
        damaged(
            name,
            format!(
                "member '{}' (header at offset {}) cannot be decoded to find its end: {e}",
                local.name, local.at
            ),
        )
    })?;
    let compressed = input.position() - start;
    match read_descriptor(input, local.zip64, crc.sum(), compressed, produced) {
        Ok(_) => Ok(()),
        Err(e) => Err(read_failed(
            name,
            e,
            &format!("the data descriptor of '{}'", local.name),
            input.position(),
        )),
    }
}

/// Reads a decoder to its end, keeping the CRC-32; returns the byte count.
fn discard(decoder: &mut impl Read, crc: &mut Crc) -> io::Result<u64> {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0u64;
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                crc.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What a data descriptor said of the data before it.
#[derive(Debug, PartialEq, Eq)]
enum Descriptor {
    /// Sizes and CRC-32 agree with the data.
    Matches,
    /// The sizes agree, the CRC-32 does not.
    CrcDiffers(u32),
    /// No layout of the descriptor gives the data's sizes: it was consumed as the header
    /// announced it, and nothing can be told from it.
    Unclear,
}

/// Reads the data descriptor after a member's data. It may or may not start with its
/// signature, and its sizes are 64-bit when the local header had a Zip64 field; as writers
/// differ, every layout is tried against the sizes of the data just read.
fn read_descriptor(
    input: &mut Input,
    zip64: bool,
    crc: u32,
    compressed: u64,
    produced: u64,
) -> io::Result<Descriptor> {
    let bytes = input.peek(24)?;
    let signed = bytes.len() >= 4 && u32_at(bytes, 0) == DESCRIPTOR_SIG;
    let starts: &[usize] = if signed { &[4, 0] } else { &[0] };
    let widths: [bool; 2] = [zip64, !zip64];
    for &start in starts {
        for wide in widths {
            let len = start + if wide { 20 } else { 12 };
            let Some(fields) = bytes.get(start..len) else {
                continue;
            };
            let (stored_compressed, stored_size) = if wide {
                (u64_at(fields, 4), u64_at(fields, 12))
            } else {
                (u64::from(u32_at(fields, 4)), u64::from(u32_at(fields, 8)))
            };
            let mask = if wide { u64::MAX } else { u64::from(u32::MAX) };
            if stored_compressed == compressed & mask && stored_size == produced & mask {
                let stored_crc = u32_at(fields, 0);
                input.consume(len);
                return Ok(if stored_crc == crc {
                    Descriptor::Matches
                } else {
                    Descriptor::CrcDiffers(stored_crc)
                });
            }
        }
    }
    let len = usize::from(signed) * 4 + if zip64 { 20 } else { 12 };
    if bytes.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the data descriptor is cut short",
        ));
    }
    input.consume(len);
    Ok(Descriptor::Unclear)
}

/// Opens the member found to be the image; with `rest`, the member was taken as the only
/// file, and the archive after it is checked for other files once its data is read.
fn open_member(
    input: Input,
    local: Local,
    name: &str,
    rest: Option<Rest>,
) -> Result<Member, SourceError> {
    let reading = reading(input, &local, name)?;
    let size = (!local.deferred()).then_some(local.uncompressed);
    let reader: Box<dyn Read + Send> = match rest {
        None => Box::new(reading),
        rest => Box::new(OnlyFile { reading, rest }),
    };
    Ok(Member {
        name: local.name,
        size,
        reader,
    })
}

/// A member's data being decoded, of a size given before it or only after it.
enum Reading {
    Sized(Checked<Take<Input>>),
    Deferred(Checked<Input>),
}

impl Reading {
    /// The stream after the member, once its data is read.
    fn input(&mut self) -> io::Result<&mut Input> {
        match self {
            Reading::Sized(checked) => {
                // Whatever the decoder left of the member's compressed bytes.
                io::copy(checked.source(), &mut io::sink())?;
                Ok(checked.source().get_mut())
            }
            Reading::Deferred(checked) => Ok(checked.source()),
        }
    }

    fn into_input(mut self, name: &str) -> Result<Input, SourceError> {
        self.input().map_err(|e| SourceError::Open {
            name: name.to_owned(),
            source: e,
        })?;
        Ok(match self {
            Reading::Sized(checked) => checked.into_decoder().into_source().into_inner(),
            Reading::Deferred(checked) => checked.into_decoder().into_source(),
        })
    }
}

impl Read for Reading {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reading::Sized(checked) => checked.read(buf),
            Reading::Deferred(checked) => checked.read(buf),
        }
    }
}

/// A member read as the archive's only file: when its data ends, the archive after it is
/// read, and another file there is an error.
struct OnlyFile {
    reading: Reading,
    rest: Option<Rest>,
}

impl Read for OnlyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reading.read(buf)?;
        if n == 0
            && !buf.is_empty()
            && let Some(rest) = self.rest.take()
        {
            rest.check(self.reading.input()?)?;
        }
        Ok(n)
    }
}

/// Starts decoding a member's data; its CRC-32 (and data descriptor) are checked at its end.
fn reading(input: Input, local: &Local, name: &str) -> Result<Reading, SourceError> {
    if local.flags & FLAG_ENCRYPTED != 0 {
        return Err(unsupported(
            name,
            format!("encrypted member '{}'", local.name),
        ));
    }
    let method = method(local, name)?;
    let label = Label::new(&local.name, name);
    let open_failed = |source| SourceError::Open {
        name: name.to_owned(),
        source,
    };
    if !local.deferred() {
        let source: Take<Input> = input.take(local.compressed);
        let decoder = Decoder::new(method, source, false).map_err(open_failed)?;
        let finish = check_crc(label.clone(), local.crc);
        let checked = Checked::new(decoder, Some(local.uncompressed), label, finish);
        return Ok(Reading::Sized(checked));
    }
    if !method.self_terminating() {
        return Err(unsupported(
            name,
            format!(
                "reading stored member '{}' from a stream when its size is given only after \
                 its data",
                local.name
            ),
        ));
    }
    let start = input.position();
    let decoder = Decoder::new(method, input, true).map_err(open_failed)?;
    let zip64 = local.zip64;
    let at_end = label.clone();
    let finish: Finish<Input> = Box::new(move |decoder, crc, produced| {
        let input = decoder.source();
        let compressed = input.position() - start;
        match read_descriptor(input, zip64, crc, compressed, produced) {
            Ok(Descriptor::CrcDiffers(stored)) => Err(at_end.crc_error(crc, stored)),
            // A descriptor that does not describe the data leaves the CRC-32 unknown; the
            // bmap checksums still cover the image.
            Ok(Descriptor::Matches | Descriptor::Unclear) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(at_end.error(
                e.kind(),
                format_args!("is truncated: the archive ends before its data descriptor"),
            )),
            Err(e) => Err(e),
        }
    });
    Ok(Reading::Deferred(Checked::new(
        decoder, None, label, finish,
    )))
}
