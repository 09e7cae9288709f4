//! An image checked against the SHA-256s published for it (by a catalog, or a signed checksum
//! file): the download's as it arrives ([`DigestReader`], under the decoder) and the image's
//! once decoded ([`Digested`], over it). Every byte passes through the hash, skipped ones
//! included, and the comparison is made when the data ends: a copy reads its source to the end
//! before the first MiB of the image is written, so a mismatch fails the copy while the drive
//! still cannot boot, and the destination file of a failed copy never appears. Each hash runs
//! on a thread of its own, beside the download, the decoder and the writes.

use std::io::{self, Read};
use std::path::Path;

use super::ImageSource;

mod background;

use background::Background;

/// "6939d39c…" in full.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The error a mismatch surfaces as, from `read`: its message says what to do.
fn mismatch(what: &str, name: &str, got: &[u8], want: &[u8; 32]) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{what} '{name}' has SHA-256 {}, but {} was published for it: the download is \
             damaged or was changed on the server; download it again",
            hex(got),
            hex(want)
        ),
    )
}

/// The error of a hash whose thread failed.
fn failed() -> io::Error {
    io::Error::other("the SHA-256 of the image could not be computed")
}

/// A stream whose SHA-256 must be `want` when it ends (the download, before decoding).
pub struct DigestReader<R> {
    inner: R,
    name: String,
    hash: Background,
    want: [u8; 32],
    checked: bool,
}

impl<R: Read> DigestReader<R> {
    /// `inner`, shown as `name`, checked against `want`.
    pub fn new(inner: R, name: &str, want: [u8; 32]) -> Self {
        Self {
            inner,
            name: name.to_owned(),
            hash: Background::new(),
            want,
            checked: false,
        }
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.checked {
            let got = self.hash.finish().ok_or_else(failed)?;
            if got != self.want {
                return Err(mismatch("the download of", &self.name, &got, &self.want));
            }
            self.checked = true;
        }
        Ok(n)
    }
}

/// A decoded image whose SHA-256 (and size) must be the catalog's when it ends. It reports
/// no size, so a copy reads it to its end (the unmapped tail too) before finishing; skipped
/// bytes are read and hashed, never seeked over.
pub struct Digested {
    inner: Box<dyn ImageSource>,
    hash: Background,
    want: Option<[u8; 32]>,
    size: Option<u64>,
    position: u64,
    checked: bool,
}

impl Digested {
    /// `inner`, checked against `want` and `size` (each when given).
    pub fn new(inner: Box<dyn ImageSource>, want: Option<[u8; 32]>, size: Option<u64>) -> Self {
        Self {
            inner,
            hash: Background::new(),
            want,
            size,
            position: 0,
            checked: false,
        }
    }

    fn check(&mut self) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        let name = self.inner.name().to_owned();
        if let Some(size) = self.size.filter(|&s| s != self.position) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "image '{name}' is {} bytes once unpacked, but its catalog gives {size}: the \
                     download is damaged or was changed on the server; download it again",
                    self.position
                ),
            ));
        }
        if let Some(want) = &self.want {
            let got = self.hash.finish().ok_or_else(failed)?;
            if &got != want {
                return Err(mismatch("image", &name, &got, want));
            }
        }
        self.checked = true;
        Ok(())
    }
}

impl Read for Digested {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.position += n as u64;
        if n == 0 && !buf.is_empty() {
            self.check()?;
        }
        Ok(n)
    }
}

impl ImageSource for Digested {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        if offset < self.position {
            return Err(io::Error::other(format!(
                "cannot go back from offset {} to {offset} in '{}'",
                self.position,
                self.inner.name()
            )));
        }
        let mut buf = vec![0; 1 << 20];
        while self.position < offset {
            let want =
                usize::try_from(offset - self.position).map_or(buf.len(), |n| n.min(buf.len()));
            match self.read(&mut buf[..want]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn local_path(&self) -> Option<&Path> {
        self.inner.local_path()
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::source::StreamSource;

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn digested(data: &[u8], want: [u8; 32], size: u64) -> Digested {
        let inner = StreamSource::new(
            Box::new(io::Cursor::new(data.to_vec())),
            "pi.img".into(),
            None,
        );
        Digested::new(Box::new(inner), Some(want), Some(size))
    }

    #[test]
    fn the_right_image_reads_to_its_end_and_skipped_bytes_count() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        let mut source = digested(&data, sha(&data), data.len() as u64);
        assert_eq!(source.size(), None, "read to its end by a copy");
        source.skip_to(2_000_000).unwrap();
        let mut rest = Vec::new();
        source.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[2_000_000..]);
    }

    #[test]
    fn a_changed_image_fails_at_its_end_with_both_digests() {
        let data = vec![7u8; 100_000];
        let mut other = data.clone();
        other[5] = 8;
        let mut source = digested(&other, sha(&data), data.len() as u64);
        let error = source.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(
            error.contains(&hex(&sha(&other))) && error.contains(&hex(&sha(&data))),
            "{error}"
        );
        assert!(
            error.contains("damaged or was changed on the server"),
            "{error}"
        );
        let mut short = digested(&data[..10], sha(&data), data.len() as u64);
        let error = short.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(
            error.contains("is 10 bytes once unpacked, but its catalog gives 100000"),
            "{error}"
        );
    }

    #[test]
    fn a_changed_download_fails_when_it_ends() {
        let data = b"compressed bytes".to_vec();
        let mut good = DigestReader::new(io::Cursor::new(data.clone()), "pi.img.xz", sha(&data));
        good.read_to_end(&mut Vec::new()).unwrap();
        let mut bad =
            DigestReader::new(io::Cursor::new(b"other".to_vec()), "pi.img.xz", sha(&data));
        let error = bad.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(
            error.starts_with("the download of 'pi.img.xz' has SHA-256"),
            "{error}"
        );
    }
}
