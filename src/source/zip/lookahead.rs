//! The stream a forward zip reader reads: a look-ahead buffer (a header is peeked at before
//! it is known to be one) that counts the bytes handed on, so errors can say where they are
//! and a data descriptor can be compared with the bytes it describes.

use std::io::{self, BufRead, Read};

/// Bytes of look-ahead buffered from the stream.
const BUFFER: usize = 256 * 1024;

/// A stream with a look-ahead buffer that counts what it has handed on, so errors can say
/// where they are and a data descriptor can be compared with the bytes it describes.
pub(super) struct Input {
    inner: Box<dyn Read + Send>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    position: u64,
}

impl Input {
    pub(super) fn new(inner: Box<dyn Read + Send>) -> Self {
        Self {
            inner,
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            position: 0,
        }
    }

    /// A stand-in while a decoder holds the real one; reads nothing and allocates nothing.
    pub(super) fn placeholder() -> Self {
        Self {
            inner: Box::new(io::empty()),
            buf: Box::default(),
            start: 0,
            end: 0,
            position: 0,
        }
    }

    /// Offset in the stream of the next byte.
    pub(super) fn position(&self) -> u64 {
        self.position
    }

    /// The next `n` bytes without consuming them; fewer only when the stream ends first.
    pub(super) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        let n = n.min(self.buf.len());
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let available = (self.end - self.start).min(n);
        Ok(&self.buf[self.start..self.start + available])
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(k) => break k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.end - self.start);
        self.start += amount;
        self.position += amount as u64;
    }
}
