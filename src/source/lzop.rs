//! lzop files: a header, then blocks of LZO1X data, each with its own checksums.
//!
//! The header is read when the decoder is made, so an unsupported or damaged file is refused
//! before anything is written. Blocks are decoded one at a time (lzop makes them 256 KiB) and
//! checked against the checksums lzop stored with them, so corruption is reported where it
//! is rather than written to the device.

use std::io::{self, Read};

use flate2::Crc;

use super::{Format, SourceError};

const MAGIC: [u8; 9] = [0x89, b'L', b'Z', b'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A];

/// Header flags.
const F_ADLER32_D: u32 = 0x0001;
const F_ADLER32_C: u32 = 0x0002;
const F_H_EXTRA_FIELD: u32 = 0x0040;
const F_CRC32_D: u32 = 0x0100;
const F_CRC32_C: u32 = 0x0200;
const F_H_FILTER: u32 = 0x0800;
const F_H_CRC32: u32 = 0x1000;

/// The format version from which the header has the version-needed, level and high mtime
/// fields.
const VERSION_0940: u16 = 0x0940;
/// The newest format this reader knows (lzop 1.04's).
const NEWEST: u16 = 0x1040;
/// lzop's own limit on a block; it writes 256 KiB.
const MAX_BLOCK: u32 = 64 << 20;

/// The Adler-32 checksum (RFC 1950), which lzop uses unless told to use CRC-32.
#[derive(Debug, Clone, Copy)]
struct Adler32 {
    a: u32,
    b: u32,
}

impl Adler32 {
    const MOD: u32 = 65_521;
    /// The most bytes summed before `b` could overflow a u32.
    const RUN: usize = 5552;

    fn new() -> Self {
        Self { a: 1, b: 0 }
    }

    fn update(&mut self, data: &[u8]) {
        for run in data.chunks(Self::RUN) {
            for &byte in run {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= Self::MOD;
            self.b %= Self::MOD;
        }
    }

    fn sum(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(data);
    crc.sum()
}

fn adler32(data: &[u8]) -> u32 {
    let mut adler = Adler32::new();
    adler.update(data);
    adler.sum()
}

/// A block length (at most [`MAX_BLOCK`]) as a buffer length.
fn to_usize(len: u32) -> usize {
    usize::try_from(len).unwrap_or(usize::MAX)
}

fn damaged(name: &str, message: String) -> SourceError {
    SourceError::damaged(name, Format::Lzop, message)
}

fn unsupported(name: &str, what: String) -> SourceError {
    SourceError::unsupported(name, Format::Lzop, what)
}

/// Reads header fields, keeping both checksums of what it read.
struct HeaderReader<'a> {
    reader: &'a mut (dyn Read + Send),
    name: &'a str,
    adler: Adler32,
    crc: Crc,
    at: u64,
}

impl HeaderReader<'_> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], SourceError> {
        let mut buf = [0; N];
        self.reader.read_exact(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                damaged(
                    self.name,
                    format!(
                        "the header ends early, before offset {}",
                        self.at + N as u64
                    ),
                )
            } else {
                SourceError::Open {
                    name: self.name.to_owned(),
                    source: e,
                }
            }
        })?;
        self.adler.update(&buf);
        self.crc.update(&buf);
        self.at += N as u64;
        Ok(buf)
    }

    /// Reads `len` bytes into the checksums only.
    fn pass_over(&mut self, len: u32) -> Result<(), SourceError> {
        let mut left = len;
        while left >= 64 {
            self.bytes::<64>()?;
            left -= 64;
        }
        for _ in 0..left {
            self.u8()?;
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, SourceError> {
        self.bytes::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, SourceError> {
        self.bytes().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, SourceError> {
        self.bytes().map(u32::from_be_bytes)
    }

    /// The checksum of what was read since the last reset, per the header flags.
    fn checksum(&self, flags: u32) -> u32 {
        if flags & F_H_CRC32 != 0 {
            self.crc.sum()
        } else {
            self.adler.sum()
        }
    }

    fn reset(&mut self) {
        self.adler = Adler32::new();
        self.crc = Crc::new();
    }

    /// Checks a stored checksum (itself outside the sum) against what was read.
    fn verify(&mut self, flags: u32, what: &str) -> Result<(), SourceError> {
        let calculated = self.checksum(flags);
        let at = self.at;
        let stored = self.u32()?;
        if stored == calculated {
            Ok(())
        } else {
            Err(damaged(
                self.name,
                format!(
                    "the {what} checksum at offset {at} fails (calculated {calculated:08x}, \
                     stored {stored:08x})"
                ),
            ))
        }
    }
}

/// A decoder of an lzop file; the header is read and checked before it is returned.
pub(crate) fn decoder(
    mut reader: Box<dyn Read + Send>,
    name: &str,
) -> Result<Box<dyn Read + Send>, SourceError> {
    let mut header = HeaderReader {
        reader: reader.as_mut(),
        name,
        adler: Adler32::new(),
        crc: Crc::new(),
        at: 0,
    };
    if header.bytes::<9>()? != MAGIC {
        return Err(damaged(
            name,
            "it does not start with the lzop magic number".into(),
        ));
    }
    // The checksum covers the header from after the magic number.
    header.reset();
    let version = header.u16()?;
    if version < 0x0900 {
        return Err(unsupported(
            name,
            format!("the old lzop format {version:#06x}"),
        ));
    }
    let _library = header.u16()?;
    if version >= VERSION_0940 {
        let needed = header.u16()?;
        if needed > NEWEST {
            return Err(unsupported(
                name,
                format!("a file that needs lzop format {needed:#06x}"),
            ));
        }
    }
    let method = header.u8()?;
    if version >= VERSION_0940 {
        let _level = header.u8()?;
    }
    let flags = header.u32()?;
    let filter = if flags & F_H_FILTER != 0 {
        Some(header.u32()?)
    } else {
        None
    };
    let _mode = header.u32()?;
    let _mtime = header.u32()?;
    if version >= VERSION_0940 {
        let _mtime_high = header.u32()?;
    }
    for _ in 0..header.u8()? {
        header.u8()?;
    }
    header.verify(flags, "header")?;
    // Checked once the header is known to be intact, so damage is not mistaken for a feature.
    if let Some(filter) = filter {
        return Err(unsupported(name, format!("filter {filter}")));
    }
    if !matches!(method, 1..=3) {
        return Err(unsupported(
            name,
            format!("compression method {method} (not LZO1X)"),
        ));
    }
    if flags & F_H_EXTRA_FIELD != 0 {
        // Never written by lzop; read through without keeping it, whatever its length.
        header.reset();
        let len = header.u32()?;
        header.pass_over(len)?;
        header.verify(flags, "extra field")?;
    }
    let at = header.at;
    Ok(Box::new(Blocks {
        reader,
        name: name.to_owned(),
        flags,
        at,
        out: Vec::new(),
        packed: Vec::new(),
        pos: 0,
        state: State::Reading,
    }))
}

enum State {
    Reading,
    Done,
    Failed(io::ErrorKind, String),
}

/// The blocks after the header, decoded one at a time.
struct Blocks {
    reader: Box<dyn Read + Send>,
    name: String,
    flags: u32,
    /// Offset in the file of the next block.
    at: u64,
    out: Vec<u8>,
    packed: Vec<u8>,
    /// Bytes of `out` already returned.
    pos: usize,
    state: State,
}

impl Blocks {
    fn corrupt(&self, at: u64, what: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "lzop data of '{}' is corrupt at compressed offset {at}: {what}",
                self.name
            ),
        )
    }

    fn truncated(&self, at: u64, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "lzop data of '{}' is truncated at compressed offset {at}: {what}",
                self.name
            ),
        )
    }

    /// A big-endian u32 of a block header, or `None` when the file ends cleanly before it.
    fn u32(&mut self, block_at: u64, optional: bool) -> io::Result<Option<u32>> {
        let mut buf = [0; 4];
        let mut got = 0;
        while got < 4 {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) if got == 0 && optional => return Ok(None),
                Ok(0) => return Err(self.truncated(block_at, "the file ends in a block header")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.at += 4;
        Ok(Some(u32::from_be_bytes(buf)))
    }

    fn field(&mut self, block_at: u64) -> io::Result<u32> {
        self.u32(block_at, false).map(|v| v.unwrap_or(0))
    }

    /// Decodes the next block: straight into `direct` when it fits there (the copy engine
    /// reads megabytes at a time, lzop blocks are 256 KiB), else into `out`. Returns the bytes
    /// put into `direct` (`Some(0)` when they went to `out`), or `None` at the end marker.
    fn next_block(&mut self, direct: &mut [u8]) -> io::Result<Option<usize>> {
        let at = self.at;
        let Some(size) = self.u32(at, true)? else {
            return Err(self.truncated(at, "the file ends without its end marker"));
        };
        if size == 0 {
            // lzop itself reads a file continuing past the end marker as a "multipart
            // archive"; writing only the first part would be a truncated image.
            let mut next = [0u8; 1];
            return match self.reader.read(&mut next)? {
                0 => Ok(None),
                _ => Err(self.corrupt(
                    self.at,
                    "data follows the end marker (a multipart lzop file?); decompress it with \
                     `lzop -d` and write the result",
                )),
            };
        }
        if size > MAX_BLOCK {
            return Err(self.corrupt(
                at,
                format_args!("a block of {size} bytes (lzop's limit is {MAX_BLOCK})"),
            ));
        }
        let packed_size = self.field(at)?;
        if packed_size == 0 || packed_size > size {
            return Err(self.corrupt(
                at,
                format_args!("a block of {size} bytes stored in {packed_size}"),
            ));
        }
        let compressed = packed_size < size;
        let flag = |f: u32| self.flags & f != 0;
        let (adler_d, crc_d) = (flag(F_ADLER32_D), flag(F_CRC32_D));
        let (adler_c, crc_c) = (
            flag(F_ADLER32_C) && compressed,
            flag(F_CRC32_C) && compressed,
        );
        let adler_d = if adler_d { Some(self.field(at)?) } else { None };
        let crc_d = if crc_d { Some(self.field(at)?) } else { None };
        let adler_c = if adler_c { Some(self.field(at)?) } else { None };
        let crc_c = if crc_c { Some(self.field(at)?) } else { None };

        self.packed.clear();
        let got = (&mut self.reader)
            .take(u64::from(packed_size))
            .read_to_end(&mut self.packed)?;
        self.at += got as u64;
        if got < to_usize(packed_size) {
            return Err(self.truncated(at, "the file ends inside a block"));
        }
        self.check(at, "compressed", &self.packed, adler_c, crc_c)?;
        let size = to_usize(size);
        let into_direct = direct.len() >= size;
        if !compressed && !into_direct {
            std::mem::swap(&mut self.out, &mut self.packed);
        } else {
            let target: &mut [u8] = if into_direct {
                &mut direct[..size]
            } else {
                // Grown once to the block size; never zero-filled again after that.
                if self.out.len() < size {
                    self.out.resize(size, 0);
                }
                self.out.truncate(size);
                &mut self.out
            };
            if compressed {
                let made = lzokay::decompress::decompress(&self.packed, target).map_err(|e| {
                    self.corrupt(at, format_args!("LZO1X data does not decode ({e})"))
                })?;
                if made != size {
                    return Err(self.corrupt(
                        at,
                        format_args!("the block decodes to {made} bytes instead of {size}"),
                    ));
                }
            } else {
                target.copy_from_slice(&self.packed);
            }
        }
        let data = if into_direct {
            &direct[..size]
        } else {
            &self.out[..]
        };
        self.check(at, "decompressed", data, adler_d, crc_d)?;
        if into_direct {
            // Nothing left over in `out`.
            self.out.clear();
            self.pos = 0;
            return Ok(Some(size));
        }
        self.pos = 0;
        Ok(Some(0))
    }

    /// Checks a block's data against the checksums stored for it.
    fn check(
        &self,
        at: u64,
        what: &str,
        data: &[u8],
        adler: Option<u32>,
        crc: Option<u32>,
    ) -> io::Result<()> {
        for (kind, stored, calculate) in [
            ("Adler-32", adler, adler32 as fn(&[u8]) -> u32),
            ("CRC-32", crc, crc32),
        ] {
            if let Some(stored) = stored {
                let calculated = calculate(data);
                if calculated != stored {
                    return Err(self.corrupt(
                        at,
                        format_args!(
                            "the {kind} of the {what} block fails (calculated {calculated:08x}, \
                             stored {stored:08x})"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Read for Blocks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &self.state {
                State::Reading => {}
                State::Done => return Ok(0),
                State::Failed(kind, message) => {
                    return Err(io::Error::new(*kind, message.clone()));
                }
            }
            if buf.is_empty() {
                return Ok(0);
            }
            if let Some(rest) = self.out.get(self.pos..).filter(|r| !r.is_empty()) {
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                self.pos += n;
                return Ok(n);
            }
            match self.next_block(buf) {
                Ok(Some(0)) => {}
                Ok(Some(n)) => return Ok(n),
                Ok(None) => self.state = State::Done,
                // A block is read whole or not at all, so any error ends the stream.
                Err(e) => {
                    self.state = State::Failed(e.kind(), e.to_string());
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
