//! A member's data: decompressed by its method, counted and checked against its CRC-32.

use std::io::{self, BufRead, Read};

use flate2::Crc;

use super::Method;
use crate::source::memory::{self, Asker, NeedsMemory};

/// What the errors and checks of one member call it.
#[derive(Debug, Clone)]
pub(super) struct Label {
    member: String,
    archive: String,
}

impl Label {
    pub(super) fn new(member: &str, archive: &str) -> Self {
        Self {
            member: member.to_owned(),
            archive: archive.to_owned(),
        }
    }

    pub(super) fn error(&self, kind: io::ErrorKind, what: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            kind,
            format!("zip member '{}' of '{}' {what}", self.member, self.archive),
        )
    }

    pub(super) fn crc_error(&self, calculated: u32, stored: u32) -> io::Error {
        self.error(
            io::ErrorKind::InvalidData,
            format_args!(
                "fails its CRC-32 check (calculated {calculated:08x}, stored {stored:08x})"
            ),
        )
    }
}

/// A member's compressed bytes, decoded. Built on [`BufRead`] so the decoders take exactly the
/// compressed bytes they use, and what follows them (a data descriptor) is left to read.
pub(super) enum Decoder<R> {
    Stored(R),
    Deflate(flate2::bufread::DeflateDecoder<R>),
    Bzip2(bzip2::bufread::BzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
    Xz(liblzma::bufread::XzDecoder<R>),
}

impl<R: BufRead> Decoder<R> {
    /// A decoder of `method` over `source`. `one_frame` stops zstd after its first frame, for
    /// data that is not delimited by its length.
    pub(super) fn new(method: Method, source: R, one_frame: bool) -> io::Result<Self> {
        Ok(match method {
            Method::Stored => Decoder::Stored(source),
            Method::Deflate => Decoder::Deflate(flate2::bufread::DeflateDecoder::new(source)),
            Method::Bzip2 => Decoder::Bzip2(bzip2::bufread::BzDecoder::new(source)),
            Method::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(source)?;
                decoder.window_log_max(memory::zstd_window_log_max())?;
                Decoder::Zstd(if one_frame {
                    decoder.single_frame()
                } else {
                    decoder
                })
            }
            Method::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(memory::xz_memlimit(), 0)
                    .map_err(io::Error::other)?;
                Decoder::Xz(liblzma::bufread::XzDecoder::new_stream(source, stream))
            }
        })
    }

    /// The compressed input, positioned after the bytes decoded so far.
    pub(super) fn source(&mut self) -> &mut R {
        match self {
            Decoder::Stored(r) => r,
            Decoder::Deflate(d) => d.get_mut(),
            Decoder::Bzip2(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
            Decoder::Xz(d) => d.get_mut(),
        }
    }

    pub(super) fn into_source(self) -> R {
        match self {
            Decoder::Stored(r) => r,
            Decoder::Deflate(d) => d.into_inner(),
            Decoder::Bzip2(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
            Decoder::Xz(d) => d.into_inner(),
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Stored(r) => r.read(buf),
            Decoder::Deflate(d) => d.read(buf),
            Decoder::Bzip2(d) => d.read(buf),
            // A window or dictionary over the allowance: say so, not "corrupt". zstd leaves
            // the refused frame header unconsumed, so its size can be read there.
            Decoder::Zstd(d) => d.read(buf).map_err(|e| {
                let head = d
                    .get_mut()
                    .fill_buf()
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                match memory::zstd_refused_window(&[], &head) {
                    Some(window) => NeedsMemory::new(Asker::ZstdWindow, Some(window)).into_io(),
                    None => e,
                }
            }),
            Decoder::Xz(d) => d.read(buf).map_err(|e| {
                if crate::source::decode::is_xz_memlimit(&e) {
                    NeedsMemory::new(Asker::XzDictionary, None).into_io()
                } else {
                    e
                }
            }),
        }
    }
}

/// The check run when a member's data ends: given the decoder, the CRC-32 and the byte count
/// of the data.
pub(super) type Finish<R> = Box<dyn FnMut(&mut Decoder<R>, u32, u64) -> io::Result<()> + Send>;

/// A member's decoded bytes, counted and run through CRC-32. A short member is an error, and
/// so is a check that fails at the end; both stay errors on every later read.
pub(super) struct Checked<R> {
    decoder: Decoder<R>,
    crc: Crc,
    produced: u64,
    size: Option<u64>,
    label: Label,
    finish: Finish<R>,
    state: State,
}

enum State {
    Reading,
    Done,
    Failed(io::ErrorKind, String),
}

impl<R: BufRead> Checked<R> {
    pub(super) fn new(
        decoder: Decoder<R>,
        size: Option<u64>,
        label: Label,
        finish: Finish<R>,
    ) -> Self {
        Self {
            decoder,
            crc: Crc::new(),
            produced: 0,
            size,
            label,
            finish,
            state: State::Reading,
        }
    }

    /// The decoder, once the data is read (the finishing check has run).
    pub(super) fn into_decoder(self) -> Decoder<R> {
        self.decoder
    }

    /// The decoder's source, for what follows the member.
    pub(super) fn source(&mut self) -> &mut R {
        self.decoder.source()
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.state = State::Failed(e.kind(), e.to_string());
        e
    }

    /// The data has ended: is it whole, and does it check?
    fn at_end(&mut self) -> io::Result<()> {
        if let Some(size) = self.size
            && self.produced < size
        {
            return Err(self.label.error(
                io::ErrorKind::UnexpectedEof,
                format_args!(
                    "is truncated: its data ends after {} of {size} bytes",
                    self.produced
                ),
            ));
        }
        (self.finish)(&mut self.decoder, self.crc.sum(), self.produced)
    }
}

impl<R: BufRead> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            State::Reading => {}
            State::Done => return Ok(0),
            State::Failed(kind, message) => return Err(io::Error::new(*kind, message.clone())),
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match self.decoder.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let e = if e.kind() == io::ErrorKind::UnexpectedEof {
                    self.label
                        .error(e.kind(), format_args!("is truncated: {e}"))
                } else {
                    self.label
                        .error(e.kind(), format_args!("cannot be decompressed: {e}"))
                };
                return Err(self.fail(e));
            }
        };
        if n == 0 {
            return match self.at_end() {
                Ok(()) => {
                    self.state = State::Done;
                    Ok(0)
                }
                Err(e) => Err(self.fail(e)),
            };
        }
        self.produced += n as u64;
        if let Some(size) = self.size
            && self.produced > size
        {
            let e = self.label.error(
                io::ErrorKind::InvalidData,
                format_args!("holds more than the {size} bytes its header gives"),
            );
            return Err(self.fail(e));
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// A finishing check against a CRC-32 known in advance.
pub(super) fn check_crc<R>(label: Label, stored: u32) -> Finish<R> {
    Box::new(move |_, calculated, _| {
        if calculated == stored {
            Ok(())
        } else {
            Err(label.crc_error(calculated, stored))
        }
    })
}
