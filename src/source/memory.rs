//! How much memory a decompressor may fill, and the error when a stream asks for more.
//!
//! An xz block names its dictionary (up to 1.5 GiB in the format; xz's presets `-0` to `-9e`
//! use 64 MiB at most) and a zstd frame its window (128 MiB at most for every level, and for
//! `--long` by default; `--long=31` makes 2 GiB). The decoder allocates that much and fills it
//! as the data decodes, so a file of a few KiB could otherwise take gigabytes. The allowance
//! is 1 GiB, or half the machine's RAM when that is less, and never under 128 MiB, so that
//! what the standard presets make always decodes. Multi-threaded xz decoding has its own,
//! lower limit (the decoder falls back to one thread above it); this one is where decoding
//! stops.
//!
//! The libraries only say "too much memory". To say how much, the error path reads the header
//! that was refused: xz's block header was the last thing the decoder consumed (see
//! [`History`]), and zstd refuses a frame header before consuming it.

use std::io::{self, BufRead, Read};

/// One MiB.
const MIB: u64 = 1 << 20;
/// The most a dictionary or window may take.
const MOST: u64 = 1 << 30;
/// The least allowed, whatever the RAM: above every standard xz preset and zstd's default.
const LEAST: u64 = 128 << 20;
/// What an xz decoder needs beyond its dictionary (its state and buffers; liblzma counts
/// 64 KiB), generously.
const XZ_OVERHEAD: u64 = 128 << 10;

/// The largest dictionary or window a decoder may fill, in bytes.
pub(crate) fn allowance() -> u64 {
    ram().map_or(MOST, |ram| (ram / 2).min(MOST)).max(LEAST)
}

/// The machine's physical memory, from `/proc/meminfo`.
fn ram() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The memory limit for liblzma: the allowance for the dictionary, plus the decoder's state.
pub(crate) fn xz_memlimit() -> u64 {
    allowance() + XZ_OVERHEAD
}

/// zstd's `window_log_max`: the largest power of two within the allowance.
pub(crate) fn zstd_window_log_max() -> u32 {
    63 - allowance().leading_zeros()
}

/// Which structure asked for the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asker {
    /// An xz block's LZMA2 dictionary.
    XzDictionary,
    /// A zstd frame's window.
    ZstdWindow,
}

/// A stream that needs more memory to decode than [`allowance`] gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) struct NeedsMemory {
    /// Who asked.
    pub asker: Asker,
    /// The dictionary or window size asked for, when the refused header could be read.
    pub size: Option<u64>,
    /// The allowance it exceeds.
    pub allowed: u64,
}

impl NeedsMemory {
    pub(crate) fn new(asker: Asker, size: Option<u64>) -> Self {
        let allowed = match asker {
            Asker::XzDictionary => allowance(),
            Asker::ZstdWindow => 1 << zstd_window_log_max(),
        };
        Self {
            asker,
            size,
            allowed,
        }
    }

    /// As an I/O error, for a decoder's `read`.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::OutOfMemory, self)
    }
}

impl std::fmt::Display for NeedsMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allowed = self.allowed / MIB;
        let limit = format!(
            "more than the {allowed} MiB a decoder may use here (1 GiB at most, or half the RAM)"
        );
        match (self.asker, self.size) {
            (Asker::XzDictionary, Some(dict)) => write!(
                f,
                "needs {} MiB of memory to decode (its dictionary is {} MiB), {limit}; \
                 decompress it with xz on a machine with enough memory and write the result, \
                 or compress the image again with a smaller dictionary (xz -9 needs 65 MiB)",
                (dict + XZ_OVERHEAD).div_ceil(MIB),
                dict.div_ceil(MIB)
            ),
            (Asker::ZstdWindow, Some(window)) => {
                // The smallest --long=N (window log) that holds it.
                let log = 64 - window.saturating_sub(1).leading_zeros();
                write!(
                    f,
                    "needs {} MiB of window to decode (it was made with zstd --long={log} or \
                     similar), {limit}; decompress it with zstd -d --long={log} and write the \
                     result, or compress the image again with --long={} or less",
                    window.div_ceil(MIB),
                    zstd_window_log_max()
                )
            }
            (asker, None) => write!(
                f,
                "needs a {} larger than the {allowed} MiB a decoder may use here (1 GiB at \
                 most, or half the RAM); decompress it with its own tool and write the result",
                match asker {
                    Asker::XzDictionary => "dictionary",
                    Asker::ZstdWindow => "window",
                }
            ),
        }
    }
}

/// Bytes kept of what was consumed: more than the largest xz block header (1024 bytes).
const KEPT: usize = 1024;

/// A buffered reader (like [`io::BufReader`]) that also keeps the last bytes its user
/// consumed, so an error path can look at the header a decoder has just refused.
pub(crate) struct History<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// The last consumed bytes, oldest first, at most [`KEPT`].
    kept: Vec<u8>,
}

impl<R: Read> History<R> {
    pub(crate) fn with_capacity(capacity: usize, inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            kept: Vec::with_capacity(2 * KEPT),
        }
    }

    /// The last bytes consumed, oldest first (at most 1024).
    pub(crate) fn consumed_tail(&self) -> &[u8] {
        &self.kept
    }

    /// The bytes read ahead and not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }
}

impl<R: Read> Read for History<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for History<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amount: usize) {
        let end = (self.pos + amount).min(self.filled);
        let gone = &self.buf[self.pos..end];
        let gone = &gone[gone.len().saturating_sub(KEPT)..];
        self.kept.extend_from_slice(gone);
        if self.kept.len() > KEPT {
            let excess = self.kept.len() - KEPT;
            self.kept.drain(..excess);
        }
        self.pos = end;
    }
}

/// The dictionary size of the xz block header that ends `consumed`, if one does (found by its
/// size byte and checked by its CRC-32).
pub(crate) fn xz_dictionary(consumed: &[u8]) -> Option<u64> {
    let end = consumed.len();
    (8..=KEPT.min(end)).step_by(4).find_map(|size| {
        let header = &consumed[end - size..];
        let (body, crc) = header.split_at(size - 4);
        if usize::from(body[0]) + 1 != size / 4 {
            return None;
        }
        let mut check = flate2::Crc::new();
        check.update(body);
        if check.sum().to_le_bytes() != crc {
            return None;
        }
        xz_filters_dictionary(body)
    })
}

/// The LZMA2 dictionary size in a block header (without its CRC).
fn xz_filters_dictionary(body: &[u8]) -> Option<u64> {
    let flags = *body.get(1)?;
    let mut rest = body.get(2..)?;
    if flags & 0x40 != 0 {
        varint(&mut rest)?;
    }
    if flags & 0x80 != 0 {
        varint(&mut rest)?;
    }
    let mut dictionary = None;
    for _ in 0..=(flags & 0x03) {
        let id = varint(&mut rest)?;
        let len = usize::try_from(varint(&mut rest)?).ok()?;
        let properties = rest.get(..len)?;
        rest = &rest[len..];
        if id == 0x21 && len == 1 {
            let bits = u32::from(properties[0]);
            dictionary = match bits {
                0..=39 => Some(u64::from(2 | (bits & 1)) << (bits / 2 + 11)),
                40 => Some(u64::from(u32::MAX)),
                _ => None,
            };
        }
    }
    dictionary
}

/// An xz variable-length integer at the start of `rest`, which moves past it.
fn varint(rest: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in rest.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Some(value);
        }
    }
    None
}

/// The window a zstd frame header asks for, when that is more than `window_log_max` allows.
/// The refused header starts within the last 18 bytes consumed (zstd keeps what it has seen
/// of a header split across reads) or at the start of what is still buffered.
pub(crate) fn zstd_refused_window(consumed: &[u8], buffered: &[u8]) -> Option<u64> {
    const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
    const MAX_HEADER: usize = 18;
    let tail = &consumed[consumed.len().saturating_sub(MAX_HEADER)..];
    let mut joined = tail.to_vec();
    joined.extend_from_slice(&buffered[..buffered.len().min(MAX_HEADER)]);
    let allowed = 1u64 << zstd_window_log_max();
    (0..=tail.len())
        .filter(|&at| joined.get(at..at + 4) == Some(&MAGIC[..]))
        .filter_map(|at| zstd_window(&joined[at + 4..]))
        .find(|&window| window > allowed)
}

/// The window size of a frame whose header (after the magic number) starts `header`.
fn zstd_window(header: &[u8]) -> Option<u64> {
    let descriptor = *header.first()?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let byte = *header.get(1)?;
        let base = 1u64 << (10 + u32::from(byte >> 3));
        return Some(base + (base / 8) * u64::from(byte & 7));
    }
    // A single segment's window is its content size.
    let dictionary_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let size_len = [1, 2, 4, 8][usize::from(descriptor >> 6)];
    let field = header.get(1 + dictionary_len..1 + dictionary_len + size_len)?;
    let mut bytes = [0u8; 8];
    bytes[..size_len].copy_from_slice(field);
    let size = u64::from_le_bytes(bytes);
    Some(if size_len == 2 { size + 256 } else { size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowance_is_between_128_mib_and_1_gib() {
        let allowed = allowance();
        assert!((LEAST..=MOST).contains(&allowed), "{allowed}");
        assert!((27..=30).contains(&zstd_window_log_max()));
        assert!(xz_memlimit() > allowed);
    }

    #[test]
    fn history_keeps_the_last_consumed_bytes() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = History::with_capacity(700, &data[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("read");
        assert_eq!(out, data);
        assert_eq!(reader.consumed_tail(), &data[data.len() - KEPT..]);
    }

    #[test]
    fn zstd_window_descriptors_decode() {
        // Window descriptor 0x90: exponent 18, mantissa 0 → 2^28.
        assert_eq!(zstd_window(&[0x00, 0x90]), Some(1 << 28));
        // Exponent 20, mantissa 4: 2^30 + 2^29.
        assert_eq!(zstd_window(&[0x00, 0xA4]), Some(3 << 29));
        // Single segment, 2-byte content size 0x0100 (+256).
        assert_eq!(zstd_window(&[0x60, 0x00, 0x01]), Some(512));
    }
}
