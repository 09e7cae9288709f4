//! Whether a local gzip file is whole, before anything is written: its end holds ISIZE, the
//! size of the last member's data modulo 2³², which for the usual one-member file is the
//! image's size. When it matches the block map's `ImageSize` the file is taken as whole (its
//! CRC is still checked as it is decoded); when it does not, the file is either cut short or
//! holds several members (`cat a.gz b.gz`), and only decoding it to its end can tell: that is
//! done then, on this machine's copy, so that a cut-short download is refused before the card
//! is erased, not part-way through the write.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::{Format, SourceError};
use crate::progress::CancelToken;

/// Checks the gzip file at `path` (shown as `name`) against `expected`, the size its bmap
/// gives the image. A file cut inside a member is [`SourceError::Incomplete`]; a whole one of
/// another size is [`SourceError::Damaged`] (the bmap belongs to another image), as is one
/// that cannot be decoded.
pub fn check_gzip_end(
    path: &Path,
    name: &str,
    expected: u64,
    cancel: &CancelToken,
) -> Result<(), SourceError> {
    let open = |source| SourceError::Open {
        name: name.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(open)?;
    let len = file.metadata().map_err(open)?.len();
    if len < 18 {
        // A gzip header and trailer alone take 18 bytes.
        return Err(SourceError::incomplete(
            name,
            Format::Gzip,
            format!("it is only {len} bytes long"),
        ));
    }
    let mut isize = [0; 4];
    file.seek(SeekFrom::End(-4))
        .and_then(|_| file.read_exact(&mut isize))
        .map_err(open)?;
    if u64::from(u32::from_le_bytes(isize)) == expected & u64::from(u32::MAX) {
        return Ok(());
    }
    file.seek(SeekFrom::Start(0)).map_err(open)?;
    let decoded = count(MultiGzDecoder::new(BufReader::new(file)), cancel);
    // A file that decodes to its end is whole: a size other than the bmap's means the bmap
    // describes another image (or the image was cut before it was compressed).
    match decoded {
        Ok(size) if size == expected => Ok(()),
        Ok(size) => Err(SourceError::Damaged {
            name: name.to_owned(),
            format: Format::Gzip,
            message: format!(
                "it has {size} bytes but its bmap describes an image of {expected} bytes; the \
                 bmap belongs to another image"
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(SourceError::incomplete(
            name,
            Format::Gzip,
            "it ends inside a gzip member".to_owned(),
        )),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(SourceError::Open {
            name: name.to_owned(),
            source: e,
        }),
        Err(e) => Err(SourceError::Damaged {
            name: name.to_owned(),
            format: Format::Gzip,
            message: e.to_string(),
        }),
    }
}

/// The bytes `reader` decodes to; stopped (as `Interrupted`) when `cancel` is.
fn count(mut reader: impl Read, cancel: &CancelToken) -> io::Result<u64> {
    let mut buf = vec![0; 1 << 20];
    let mut total = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
        }
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn check(bytes: &[u8], expected: u64) -> Result<(), SourceError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pi.img.gz");
        std::fs::write(&path, bytes).unwrap();
        check_gzip_end(&path, "pi.img.gz", expected, &CancelToken::new())
    }

    #[test]
    fn a_whole_file_passes_and_a_cut_one_is_incomplete_before_anything_is_written() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = gz(&data);
        check(&whole, data.len() as u64).unwrap();
        // Cut short, as a broken download is: the last four bytes are not the size.
        let cut = &whole[..whole.len() / 2];
        let error = check(cut, data.len() as u64).unwrap_err();
        assert!(
            matches!(
                error,
                SourceError::Incomplete {
                    format: Format::Gzip,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("is incomplete"), "{error}");
        let error = check(&whole[..10], data.len() as u64).unwrap_err();
        assert!(error.to_string().contains("only 10 bytes long"), "{error}");
    }

    #[test]
    fn several_members_are_decoded_to_tell_whole_from_cut() {
        let (a, b) = (vec![1u8; 70_000], vec![2u8; 50_000]);
        let mut both = gz(&a);
        both.extend(gz(&b));
        // The last ISIZE is the second member's alone: decoding decides, and it is whole.
        check(&both, 120_000).unwrap();
        // A bmap of another image, larger or smaller: refused, naming both sizes.
        let error = check(&both, 200_000).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("has 120000 bytes but its bmap describes an image of 200000 bytes"),
            "{error}"
        );
        let error = check(&both, 100_000).unwrap_err();
        assert!(
            error.to_string().contains("belongs to another image"),
            "{error}"
        );
        let garbage = [both.clone(), b"not gzip at all".to_vec()].concat();
        assert!(check(&garbage, 120_000).is_err());
    }
}
