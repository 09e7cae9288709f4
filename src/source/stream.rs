//! Images that can only be read forward: decompressed data, standard input, ssh, HTTP without
//! Range. Skipping reads and discards, through one reused buffer, so an unmapped gigabyte costs
//! decoding time but no memory.

use std::io::{self, Cursor, Read};

use super::ImageSource;

/// Reads until `buf` is full or the reader ends (retrying interrupted reads); returns how many
/// bytes were read, fewer than `buf.len()` only at the end.
pub fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Bytes discarded per read while skipping.
const DISCARD: usize = 1 << 20;

/// A forward-only [`ImageSource`] over any reader.
pub struct StreamSource {
    reader: Box<dyn Read + Send>,
    name: String,
    size: Option<u64>,
    position: u64,
    scratch: Vec<u8>,
}

impl StreamSource {
    /// Wraps `reader`; `size` is the image size when a header or index told it.
    pub fn new(reader: Box<dyn Read + Send>, name: String, size: Option<u64>) -> Self {
        Self {
            reader,
            name,
            size,
            position: 0,
            scratch: Vec::new(),
        }
    }
}

impl Read for StreamSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl ImageSource for StreamSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        self.size
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        if offset < self.position {
            return Err(super::backwards(&self.name, self.position, offset));
        }
        if self.scratch.is_empty() && offset > self.position {
            self.scratch = vec![0; DISCARD];
        }
        while self.position < offset {
            let want = usize::try_from(offset - self.position)
                .unwrap_or(DISCARD)
                .min(DISCARD);
            match self.reader.read(&mut self.scratch[..want]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the image ends at offset {}", self.position),
                    ));
                }
                Ok(n) => self.position += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads up to `n` bytes from the front of `reader` for format detection and returns them with
/// a reader that yields them again followed by the rest.
pub(crate) fn peek(
    mut reader: Box<dyn Read + Send>,
    n: usize,
) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0; n];
    let got = read_full(&mut reader, &mut head)?;
    head.truncate(got);
    let again = Box::new(Cursor::new(head.clone()).chain(reader));
    Ok((head, again))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_by_discarding_and_reports_the_end() {
        let data: Vec<u8> = (0..=255)
            .cycle()
            .take(3 * DISCARD)
            .map(|b| b as u8)
            .collect();
        let mut src = StreamSource::new(Box::new(Cursor::new(data)), "s".into(), None);
        src.skip_to(DISCARD as u64 + 5).expect("skip");
        let mut b = [0u8; 2];
        src.read_exact(&mut b).expect("read");
        assert_eq!(b, [5, 6]);
        assert_eq!(
            src.skip_to(1).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let err = src.skip_to(10 * DISCARD as u64).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            err.to_string().contains(&format!("offset {}", 3 * DISCARD)),
            "{err}"
        );
    }

    #[test]
    fn peek_gives_the_bytes_back() {
        let (head, mut rest) = peek(Box::new(Cursor::new(b"abcdef".to_vec())), 4).expect("peek");
        assert_eq!(head, b"abcd");
        let mut all = Vec::new();
        rest.read_to_end(&mut all).expect("read");
        assert_eq!(all, b"abcdef");
        let (short, _) = peek(Box::new(Cursor::new(b"ab".to_vec())), 4).expect("peek");
        assert_eq!(short, b"ab");
    }
}
