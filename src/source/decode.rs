//! The decompressors. Each is wrapped so that an error names the format, the image and how far
//! into the compressed data it happened, and so that a truncated stream is an error, never a
//! short image. Errors of the transport underneath (a dropped connection) pass through as they
//! are: they are not "corrupt data".

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use liblzma::stream::MtStreamBuilder;

use super::memory::{self, Asker, History, NeedsMemory};
use super::{Format, SourceError};

/// Memory the multi-threaded xz decoder may use before it falls back to fewer threads. xz
/// blocks of the common presets need 2-3 times 24 MiB per thread. With the copy's 56 MiB of
/// buffers this keeps a whole copy under 256 MB (measured: 200-210 MB peak for a 4 GiB image
/// of 171 blocks, decoded on two threads as fast as with 192 MiB). Single-threaded decoding
/// needs about the stream's dictionary (64 MiB at most for the standard presets); a stream
/// whose dictionary is over [`memory::allowance`] stops with [`NeedsMemory`].
const XZ_THREADS_MEMORY: u64 = 128 << 20;

/// Compressed bytes read per refill.
const INPUT_BUFFER: usize = 1 << 20;

/// Opens a decoder for `format` over `input` (the compressed bytes of the image `name`).
pub(crate) fn decoder(
    format: Format,
    input: Box<dyn Read + Send>,
    name: &str,
) -> Result<Box<dyn Read + Send>, SourceError> {
    let consumed = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner: input,
        consumed: Arc::clone(&consumed),
    };
    let inner: Box<dyn Read + Send> = match format {
        Format::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
        Format::Xz => Box::new(
            MultiXz::new(History::with_capacity(INPUT_BUFFER, counted)).map_err(|e| {
                SourceError::Open {
                    name: name.to_owned(),
                    source: e,
                }
            })?,
        ),
        Format::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(counted)),
        Format::Zstd => Box::new(Zstd::new(counted).map_err(|e| SourceError::Open {
            name: name.to_owned(),
            source: e,
        })?),
        Format::Lz4 => Box::new(MultiLz4 {
            decoder: Some(lz4_flex::frame::FrameDecoder::new(
                BufReader::with_capacity(INPUT_BUFFER, counted),
            )),
        }),
        Format::Lzop => return super::lzop::decoder(Box::new(counted), name),
        Format::Lz4Legacy | Format::Raw | Format::Zip | Format::Tar => {
            return Err(SourceError::Unsupported {
                name: name.to_owned(),
                format,
                what: "this format as a compressed stream".into(),
            });
        }
    };
    Ok(Box::new(Checked {
        inner,
        format,
        name: name.to_owned(),
        consumed,
    }))
}

/// Counts compressed bytes read, and marks errors of the reader underneath.
struct Counted {
    inner: Box<dyn Read + Send>,
    consumed: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.consumed.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => Err(io::Error::new(e.kind(), Transport(e))),
        }
    }
}

/// An error of the transport, carried through a decoder unchanged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transport(io::Error);

/// Turns decoder errors into messages naming the format, the image and the offset.
struct Checked {
    inner: Box<dyn Read + Send>,
    format: Format,
    name: String,
    consumed: Arc<AtomicU64>,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                let transport = e
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<Transport>().is_some());
                if transport {
                    return Err(
                        match e.into_inner().map(|inner| inner.downcast::<Transport>()) {
                            Some(Ok(t)) => t.0,
                            _ => io::Error::new(kind, "the transport failed"),
                        },
                    );
                }
                if let Some(needs) = e.get_ref().and_then(|i| i.downcast_ref::<NeedsMemory>()) {
                    return Err(io::Error::new(
                        kind,
                        format!("{} data of '{}' {needs}", self.format, self.name),
                    ));
                }
                let what = if kind == io::ErrorKind::UnexpectedEof {
                    "truncated"
                } else {
                    "corrupt"
                };
                Err(io::Error::new(
                    if what == "truncated" {
                        kind
                    } else {
                        io::ErrorKind::InvalidData
                    },
                    format!(
                        "{} data of '{}' is {what} at compressed offset {}: {e}",
                        self.format,
                        self.name,
                        self.consumed.load(Ordering::Relaxed)
                    ),
                ))
            }
        }
    }
}

/// xz with multi-threaded decoding of multi-block streams, across concatenated streams (the
/// multi-threaded decoder stops at the end of each stream; a new one picks up the next, after
/// the stream padding of zero bytes).
struct MultiXz<R: Read> {
    decoder: Option<liblzma::bufread::XzDecoder<History<R>>>,
}

impl<R: Read> MultiXz<R> {
    fn new(input: History<R>) -> io::Result<Self> {
        Ok(Self {
            decoder: Some(liblzma::bufread::XzDecoder::new_stream(
                input,
                Self::stream()?,
            )),
        })
    }

    fn stream() -> io::Result<liblzma::stream::Stream> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = u32::try_from(threads).unwrap_or(1).min(16);
        MtStreamBuilder::new()
            .threads(threads)
            .memlimit_threading(XZ_THREADS_MEMORY)
            .memlimit_stop(memory::xz_memlimit())
            // Without a timeout a read can block until a whole block is decoded; 300 ms is
            // what the xz tool uses.
            .timeout_ms(300)
            .decoder()
            .map_err(io::Error::other)
    }
}

impl<R: Read> Read for MultiXz<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf).map_err(|e| {
                if !is_xz_memlimit(&e) {
                    return e;
                }
                // The refused block header is what the decoder consumed last.
                let dictionary = memory::xz_dictionary(decoder.get_ref().consumed_tail());
                NeedsMemory::new(Asker::XzDictionary, dictionary).into_io()
            })?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // End of a stream: skip padding, and go on if another stream follows.
            let Some(decoder) = self.decoder.take() else {
                return Ok(0);
            };
            let mut input = decoder.into_inner();
            loop {
                let available = input.fill_buf()?;
                if available.is_empty() {
                    return Ok(0);
                }
                let zeros = available.iter().take_while(|&&b| b == 0).count();
                if zeros == 0 {
                    break;
                }
                input.consume(zeros);
            }
            self.decoder = Some(liblzma::bufread::XzDecoder::new_stream(
                input,
                Self::stream()?,
            ));
        }
    }
}

/// Whether liblzma stopped because the stream needs more memory than its limit.
pub(crate) fn is_xz_memlimit(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<liblzma::stream::Error>())
        .is_some_and(|e| matches!(e, liblzma::stream::Error::MemLimit))
}

/// zstd frames one after another, with windows up to the memory allowance; a larger window is
/// [`NeedsMemory`], not "corrupt".
struct Zstd<R: Read> {
    decoder: zstd::stream::read::Decoder<'static, History<R>>,
}

impl<R: Read> Zstd<R> {
    fn new(input: R) -> io::Result<Self> {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(History::with_capacity(
            zstd::zstd_safe::DCtx::in_size(),
            input,
        ))?;
        decoder.window_log_max(memory::zstd_window_log_max())?;
        Ok(Self { decoder })
    }
}

impl<R: Read> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf).map_err(|e| {
            let input = self.decoder.get_ref();
            match memory::zstd_refused_window(input.consumed_tail(), input.buffered()) {
                Some(window) => NeedsMemory::new(Asker::ZstdWindow, Some(window)).into_io(),
                None => e,
            }
        })
    }
}

/// LZ4 frames one after another, as `lz4 -d` reads them (the frame decoder stops after one).
struct MultiLz4<R: BufRead> {
    decoder: Option<lz4_flex::frame::FrameDecoder<R>>,
}

impl<R: BufRead> Read for MultiLz4<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Some(decoder) = self.decoder.take() else {
                return Ok(0);
            };
            let mut input = decoder.into_inner();
            if input.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.decoder = Some(lz4_flex::frame::FrameDecoder::new(input));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::source::testing::{piped, xz_list};

    fn decode(format: Format, data: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut reader = decoder(format, Box::new(Cursor::new(data)), "t.img").expect("opens");
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0u32..200_000 {
            data.extend_from_slice(&(i.wrapping_mul(2_654_435_761)).to_le_bytes());
        }
        data.extend(std::iter::repeat_n(0u8, 300_000));
        data
    }

    const TOOLS: [(Format, &[&str]); 5] = [
        (Format::Gzip, &["gzip", "-c"]),
        (Format::Xz, &["xz", "-c", "-T2", "--block-size=65536"]),
        (Format::Bzip2, &["bzip2", "-c"]),
        (Format::Zstd, &["zstd", "-c", "-q"]),
        (Format::Lz4, &["lz4", "-c", "-q"]),
    ];

    #[test]
    fn every_format_round_trips_including_concatenation() {
        let data = sample();
        for (format, tool) in TOOLS {
            let once = piped(tool, &data);
            assert_eq!(
                decode(format, once.clone()).expect("decodes"),
                data,
                "{format}"
            );
            let mut twice = once.clone();
            twice.extend_from_slice(&once);
            let both = decode(format, twice).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(both.len(), 2 * data.len(), "{format}: concatenated streams");
        }
    }

    #[test]
    fn truncated_and_flipped_streams_are_errors_naming_the_format() {
        let data = sample();
        for (format, tool) in TOOLS {
            let full = piped(tool, &data);
            let cut = full[..full.len() * 2 / 3].to_vec();
            let err = decode(format, cut).expect_err(&format!("{format}: truncated"));
            let text = err.to_string();
            assert!(
                text.contains(&format!("{format} data of 't.img'")),
                "{text}"
            );
            assert!(text.contains("compressed offset"), "{text}");

            let mut flipped = full.clone();
            let at = flipped.len() / 2;
            flipped[at] ^= 0x55;
            match decode(format, flipped) {
                Err(e) => assert!(e.to_string().contains(&format!("{format} data")), "{e}"),
                // lz4 has no checksum of the content unless asked; a flip may decode to other
                // bytes, which the bmap's checksums then catch.
                Ok(out) => assert!(
                    format == Format::Lz4 && out != data,
                    "{format}: flip unnoticed"
                ),
            }
        }
    }

    /// An xz file of five blocks whose second block declares a 1536 MiB dictionary.
    fn xz_with_a_huge_dictionary() -> Vec<u8> {
        let mut data = piped(
            &[
                "xz",
                "-c",
                "-T2",
                "--block-size=65536",
                "--lzma2=dict=64KiB",
            ],
            &sample()[..300_000],
        );
        let blocks: Vec<Vec<String>> = xz_list(&data)
            .into_iter()
            .filter(|l| l[0] == "block")
            .collect();
        assert!(blocks.len() >= 2, "xz made one block");
        let start: usize = blocks[1][4].parse().expect("offset");
        crate::source::testing::declare_huge_dictionary(&mut data, start);
        // The real tool agrees about what the file now needs.
        let summary = xz_list(&data)
            .into_iter()
            .find(|l| l[0] == "summary")
            .expect("summary");
        let needed: u64 = summary[1].parse().expect("bytes");
        assert_eq!(needed.div_ceil(1 << 20), 1537, "{summary:?}");
        data
    }

    /// F15: an xz stream whose dictionary is over the allowance stops with an error that says
    /// how much memory it needs and names the image, before that memory is taken.
    #[test]
    fn an_xz_dictionary_over_the_allowance_is_refused_with_its_size() {
        let err = decode(Format::Xz, xz_with_a_huge_dictionary()).expect_err("1.5 GiB");
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("xz data of 't.img' needs 1537 MiB"),
            "{text}"
        );
        assert!(text.contains("its dictionary is 1536 MiB"), "{text}");
        assert!(!text.contains("corrupt"), "{text}");
    }

    /// F18: `zstd --long=28` (a 256 MiB window, over zstd's default 128 MiB limit) decodes;
    /// `--long=31` (2 GiB) is refused as needing that much window, not as corrupt.
    #[test]
    fn zstd_long_windows_decode_up_to_the_allowance() {
        let data = sample();
        let long = piped(&["zstd", "-c", "-q", "--long=28"], &data);
        assert_eq!(decode(Format::Zstd, long).expect("--long=28"), data);

        let longest = piped(&["zstd", "-c", "-q", "--long=31"], &data);
        let err = decode(Format::Zstd, longest).expect_err("--long=31");
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("zstd data of 't.img' needs 2048 MiB of window"),
            "{text}"
        );
        assert!(text.contains("zstd -d --long=31"), "{text}");
        assert!(!text.contains("corrupt"), "{text}");
    }

    #[test]
    fn transport_errors_pass_through_unchanged() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "link down"))
            }
        }
        let mut reader = decoder(Format::Gzip, Box::new(Failing), "t.img").expect("opens");
        let err = reader.read(&mut [0u8; 16]).expect_err("fails");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(err.to_string(), "link down");
    }
}
