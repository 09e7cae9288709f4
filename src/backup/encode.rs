//! The output stream of a backup: a sparse raw file, or the image compressed with zstd or xz
//! (several threads) or gzip (one).
//!
//! The whole image goes into the compressed file, the free blocks as zeros, so that any
//! decoder gives back an image of the source's size. A raw file gets holes for them instead;
//! zstd and xz files get their long free runs as copies of a frame of zeros made once (see
//! [`super::frames`]), gzip all of them through the compressor.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use super::frames::Framed;
use super::xz::Xz;
use super::zst::Zstd;
use super::{Format, Meter};
use crate::backup::BackupError;

/// The most zero bytes one [`Encoder::zeros`] call writes.
pub(super) const ZERO_CHUNK: usize = 1 << 20;

/// Zeros for the free blocks of a compressed stream.
static ZEROS: [u8; ZERO_CHUNK] = [0; ZERO_CHUNK];

/// `len` zero bytes, at most [`ZERO_CHUNK`].
pub(super) fn zeros(len: usize) -> &'static [u8] {
    &ZEROS[..len.min(ZERO_CHUNK)]
}

/// Writes `len` zero bytes to `out`, [`ZERO_CHUNK`] at a time.
pub(super) fn write_zeros(out: &mut impl Write, len: u64) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
        out.write_all(zeros(n))?;
        left -= n as u64;
    }
    Ok(())
}

/// The output file behind a compressor, counting what is written to it.
pub(super) struct Counted {
    file: BufWriter<File>,
    meter: Meter,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.meter.add_output(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Counted {
    fn into_file(self) -> io::Result<File> {
        self.file
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

/// Where the image bytes go.
pub(super) enum Encoder {
    /// A sparse file: data written where it belongs, holes for the rest.
    Raw { file: File, meter: Meter },
    /// zstd, with worker threads, in concatenated frames (see [`Zstd`]).
    Zstd(Box<Framed<Zstd>>),
    /// xz, with liblzma's multi-threaded encoder, in concatenated streams (see [`Xz`]).
    Xz(Box<Framed<Xz>>),
    /// gzip, on the calling thread.
    Gzip(Box<flate2::write::GzEncoder<Counted>>),
}

/// The levels of `format` (lowest, highest) and its default.
pub(super) fn levels(format: Format) -> (i32, i32, i32) {
    match format {
        Format::Raw => (0, 0, 0),
        Format::Zstd => (1, 19, 3),
        Format::Xz => (0, 9, 6),
        Format::Gzip => (1, 9, 6),
    }
}

/// `level`, or the format's default; a level the format lacks is an error.
pub(super) fn check_level(format: Format, level: Option<i32>) -> Result<i32, BackupError> {
    let (min, max, default) = levels(format);
    match level {
        None => Ok(default),
        Some(_) if format == Format::Raw => Ok(0),
        Some(level) if (min..=max).contains(&level) => Ok(level),
        Some(level) => Err(BackupError::Level {
            format,
            level,
            min,
            max,
        }),
    }
}

impl Encoder {
    /// An encoder of `format` at `level` writing to `file`, with up to `threads` threads; also
    /// the threads it really uses.
    pub(super) fn new(
        format: Format,
        file: File,
        level: i32,
        threads: u32,
        meter: &Meter,
    ) -> Result<(Self, u32), BackupError> {
        let counted = |file| Counted {
            file: BufWriter::with_capacity(1 << 20, file),
            meter: meter.clone(),
        };
        let failed = |e: &dyn std::fmt::Display| BackupError::Encoder {
            format,
            message: e.to_string(),
        };
        let threads = threads.max(1);
        match format {
            Format::Raw => Ok((
                Self::Raw {
                    file,
                    meter: meter.clone(),
                },
                1,
            )),
            Format::Zstd => {
                let (zstd, used) = Zstd::new(level, threads).map_err(|e| failed(&e))?;
                Ok((Self::Zstd(Box::new(Framed::new(zstd, counted(file)))), used))
            }
            Format::Xz => {
                let level = u32::try_from(level).unwrap_or(6);
                let (xz, used) = Xz::new(level, threads).map_err(|e| failed(&e))?;
                Ok((Self::Xz(Box::new(Framed::new(xz, counted(file)))), used))
            }
            Format::Gzip => {
                let level = flate2::Compression::new(u32::try_from(level).unwrap_or(6));
                let encoder = flate2::write::GzEncoder::new(counted(file), level);
                Ok((Self::Gzip(Box::new(encoder)), 1))
            }
        }
    }

    /// The image's bytes at `offset`; everything before it has been given (data or zeros).
    pub(super) fn data(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Raw { file, meter } => {
                file.write_all_at(bytes, offset)?;
                meter.add_output(bytes.len() as u64);
                Ok(())
            }
            Self::Zstd(e) => e.data(bytes),
            Self::Xz(e) => e.data(bytes),
            Self::Gzip(e) => e.write_all(bytes),
        }
    }

    /// `len` zero bytes (free blocks), at most [`ZERO_CHUNK`]: a hole in a raw file.
    pub(super) fn zeros(&mut self, len: usize) -> io::Result<()> {
        let zeros = zeros(len);
        match self {
            Self::Raw { .. } => Ok(()),
            Self::Zstd(e) => e.zeros(zeros.len() as u64),
            Self::Xz(e) => e.zeros(zeros.len() as u64),
            Self::Gzip(e) => e.write_all(zeros),
        }
    }

    /// Ends the stream (a raw file gets its full size) and gives the file back.
    pub(super) fn finish(self, size: u64) -> io::Result<File> {
        match self {
            Self::Raw { file, .. } => {
                file.set_len(size)?;
                Ok(file)
            }
            Self::Zstd(e) => e.finish()?.into_file(),
            Self::Xz(e) => e.finish()?.into_file(),
            Self::Gzip(e) => e.finish()?.into_file(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn encode(format: Format, threads: u32) -> (Vec<u8>, Vec<u8>, u64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let file = File::create(&path).expect("create");
        let meter = Meter::new();
        let level = check_level(format, None).expect("default level");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
        let size = 4096 + data.len() as u64 + 2 * ZERO_CHUNK as u64;
        let (mut encoder, _) = Encoder::new(format, file, level, threads, &meter).expect("encoder");
        encoder.zeros(4096).expect("zeros");
        encoder.data(4096, &data).expect("data");
        encoder.zeros(ZERO_CHUNK).expect("zeros");
        encoder.zeros(ZERO_CHUNK).expect("zeros");
        let file = encoder.finish(size).expect("finish");
        drop(file);
        let mut image = vec![0u8; usize::try_from(size).expect("small")];
        image[4096..4096 + data.len()].copy_from_slice(&data);
        let out = std::fs::read(&path).expect("read");
        (out, image, meter.output_bytes())
    }

    #[test]
    fn every_format_decodes_to_the_image() {
        for (format, threads) in [
            (Format::Raw, 1),
            (Format::Zstd, 2),
            (Format::Zstd, 1),
            (Format::Xz, 2),
            (Format::Gzip, 1),
        ] {
            let (out, image, counted) = encode(format, threads);
            let decoded = match format {
                Format::Raw => out.clone(),
                Format::Zstd => zstd::stream::decode_all(&out[..]).expect("zstd"),
                Format::Xz => {
                    let mut d = Vec::new();
                    liblzma::read::XzDecoder::new(&out[..])
                        .read_to_end(&mut d)
                        .expect("xz");
                    d
                }
                Format::Gzip => {
                    let mut d = Vec::new();
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut d)
                        .expect("gz");
                    d
                }
            };
            assert!(decoded == image, "{format} does not decode to the image");
            if format == Format::Raw {
                assert_eq!(counted, 300_000, "raw counts the data written");
            } else {
                assert_eq!(counted, out.len() as u64, "{format} counts its output");
                assert!(out.len() < 100_000, "{format}: {} bytes", out.len());
            }
        }
    }

    /// The `format` file of 8 KiB of data, `zero_run` zeros given a MiB at a time and 4 KiB
    /// of data, at the lowest level with one thread (so the xz cut is at 16 MiB, as zstd's
    /// is): how many frames it holds, after checking that it decodes to those bytes.
    fn frames(format: Format, zero_run: u64) -> usize {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let meter = Meter::new();
        let file = File::create(&path).expect("create");
        let size = 8192 + zero_run + 4096;
        let level = levels(format).0;
        let (mut encoder, _) = Encoder::new(format, file, level, 1, &meter).expect("encoder");
        encoder.data(0, &[0xAB; 8192]).expect("data");
        let mut left = zero_run;
        while left > 0 {
            let n = usize::try_from(left).expect("small").min(ZERO_CHUNK);
            encoder.zeros(n).expect("zeros");
            left -= n as u64;
        }
        encoder.data(size - 4096, &[0xCD; 4096]).expect("data");
        encoder.finish(size).expect("finish");
        let out = std::fs::read(&path).expect("read");
        let mut decoded = Vec::new();
        let magic: &[u8] = match format {
            Format::Xz => {
                liblzma::read::XzDecoder::new_multi_decoder(&out[..])
                    .read_to_end(&mut decoded)
                    .expect("xz decodes the concatenated streams");
                &[0xFD, b'7', b'z', b'X', b'Z', 0]
            }
            _ => {
                zstd::stream::read::Decoder::new(&out[..])
                    .expect("zstd")
                    .read_to_end(&mut decoded)
                    .expect("zstd decodes the concatenated frames");
                &[0x28, 0xB5, 0x2F, 0xFD]
            }
        };
        assert_eq!(decoded.len() as u64, size, "{format}");
        assert!(decoded[..8192].iter().all(|&b| b == 0xAB));
        assert!(decoded[8192..decoded.len() - 4096].iter().all(|&b| b == 0));
        assert!(decoded[decoded.len() - 4096..].iter().all(|&b| b == 0xCD));
        out.windows(magic.len()).filter(|w| *w == magic).count()
    }

    #[test]
    fn long_free_runs_become_copies_of_one_frame_of_zeros() {
        use super::super::frames::TIERS;
        use super::super::xz::Xz;
        assert_eq!(Xz::cut(0, 1), 16 << 20);
        assert_eq!(Xz::cut(6, 2), 768 << 20, "preset 6, two threads");
        assert_eq!(super::super::zst::CUT, 16 << 20);
        // A data frame, 2 + 1 + 2 frames of zeros, the rest of the run and the data in a
        // last one.
        let run = 2 * TIERS[0] + TIERS[3] + 2 * TIERS[4] + 12_288;
        for format in [Format::Xz, Format::Zstd] {
            assert_eq!(frames(format, run), 7, "{format}");
        }
    }

    #[test]
    fn a_free_run_shorter_than_the_cut_stays_in_the_data_frame() {
        for format in [Format::Xz, Format::Zstd] {
            assert_eq!(frames(format, 12 << 20), 1, "{format}");
        }
    }

    #[test]
    fn levels_outside_the_format_are_refused() {
        assert_eq!(check_level(Format::Zstd, Some(19)).expect("19"), 19);
        assert!(matches!(
            check_level(Format::Zstd, Some(20)),
            Err(BackupError::Level {
                min: 1,
                max: 19,
                ..
            })
        ));
        assert!(check_level(Format::Xz, Some(10)).is_err());
        assert_eq!(check_level(Format::Gzip, None).expect("default"), 6);
    }
}
