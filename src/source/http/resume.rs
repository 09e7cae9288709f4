//! Reading a remote file that outlives dropped connections.
//!
//! Writing an image over the internet takes minutes, and a connection that drops for a moment
//! should not cost the whole copy. A [`Transfer`] counts the bytes it has handed out; when the
//! body breaks off (an I/O error, or the end before the expected length) it asks again for
//! `bytes=<position>-<end>` and carries on:
//!
//! ```text
//!  GET Range: bytes=S-E ──► 206 ── bytes ──► caller          position advances
//!                              ╳ dropped at P
//!  wait 0.5 s, 1 s, 2 s …   GET Range: bytes=P-E, If-Range: <ETag> ──► 206 ── bytes ──► caller
//!                                                                  └──► 200: the file changed
//! ```
//!
//! Every request after the first carries the validator (ETag, else Last-Modified) seen when
//! the file was opened, as `If-Range`: a server with a different file then answers 200 with
//! the whole new file instead of 206, and the transfer fails with [`HttpError::Changed`]
//! rather than splicing two versions together.

use std::io::{self, Cursor, Read};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Response;
use reqwest::header::{IF_RANGE, RANGE};

use super::error::{self, HttpError};
use super::{Asked, HttpClient, Url};
use crate::source::RandomAccess;

/// How often, and how patiently, a broken transfer is resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Retry {
    /// Attempts after one failure; a success in between (bytes received) starts a new count.
    pub attempts: u32,
    /// The wait before the first attempt; it doubles after each failed one.
    pub first_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Retry {
    fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .first_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        doubled.min(self.max_delay)
    }
}

/// A remote file as opened: where it is and how to recognise it again.
pub(super) struct Resource {
    pub client: HttpClient,
    pub url: Url,
    /// The URL without credentials, for messages.
    pub name: String,
    /// The file's length, when the server told it.
    pub len: Option<u64>,
    /// The ETag or Last-Modified of the version opened.
    pub validator: Option<String>,
}

/// Why a range request failed: worth another try, or not.
enum Failure {
    Transient(String),
    Fatal(HttpError),
}

impl Resource {
    /// Asks for `start..end` (`end` `None`: to the end of the file) of the version opened.
    fn request(&self, start: u64, end: Option<u64>) -> Result<Response, Failure> {
        let range = match end {
            Some(end) => format!("bytes={start}-{}", end.saturating_sub(1)),
            None => format!("bytes={start}-"),
        };
        let mut request = self.client.get(&self.url).header(RANGE, range);
        if let Some(validator) = &self.validator {
            request = request.header(IF_RANGE, validator.as_str());
        }
        let response = request.send().map_err(|e| {
            match HttpError::from_reqwest(&self.url, &e) {
                // A broken handshake is not going to mend by itself, nor a refused redirect.
                fatal @ (HttpError::Tls { .. } | HttpError::Downgrade { .. }) => {
                    Failure::Fatal(fatal)
                }
                _ => Failure::Transient(error::root_cause(&e)),
            }
        })?;
        let status = response.status();
        match status {
            StatusCode::PARTIAL_CONTENT => {}
            // The If-Range validator no longer matches (or the file shrank below `start`).
            StatusCode::OK | StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(Failure::Fatal(HttpError::Changed {
                    url: self.name.clone(),
                }));
            }
            _ if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS =>
            {
                return Err(Failure::Transient(format!(
                    "the server answered '{status}'"
                )));
            }
            _ => {
                let credentials = self.client.credentials(&self.url, Asked::Named);
                return Err(Failure::Fatal(HttpError::from_status(
                    &self.url,
                    status,
                    credentials,
                )));
            }
        }
        let got = super::content_range(&response);
        let total_fits = match (got.and_then(|r| r.total), self.len) {
            (Some(total), Some(len)) => total == len,
            _ => true,
        };
        if !total_fits {
            return Err(Failure::Fatal(HttpError::Changed {
                url: self.name.clone(),
            }));
        }
        match got.and_then(|r| r.first) {
            Some(first) if first == start => Ok(response),
            _ => Err(Failure::Fatal(HttpError::Protocol {
                url: self.name.clone(),
                reason: format!("asked for bytes from {start}, got Content-Range {got:?}"),
            })),
        }
    }
}

/// A sequential reader of a remote file from some offset that resumes broken transfers.
pub(super) struct Transfer {
    resource: Arc<Resource>,
    response: Option<Response>,
    position: u64,
    end: Option<u64>,
    /// Whether the server takes Range requests (always, for a [`RemoteFile`]).
    resumable: bool,
    retry: Retry,
    /// Failed attempts since bytes last arrived.
    failures: u32,
}

impl Transfer {
    /// Reads the body of `response` (holding the file from `position`) until `end` or the
    /// end of the body.
    pub fn new(
        resource: Arc<Resource>,
        response: Response,
        position: u64,
        end: Option<u64>,
        resumable: bool,
    ) -> Self {
        let retry = resource.client.retry;
        Self {
            resource,
            response: Some(response),
            position,
            end,
            resumable,
            retry,
            failures: 0,
        }
    }

    /// Requests `start..end` of the file, retrying as after a broken transfer.
    fn open(resource: Arc<Resource>, start: u64, end: u64) -> Result<Self, HttpError> {
        let retry = resource.client.retry;
        let mut transfer = Self {
            resource,
            response: None,
            position: start,
            end: Some(end),
            resumable: true,
            retry,
            failures: 0,
        };
        match transfer.resource.request(start, Some(end)) {
            Ok(response) => transfer.response = Some(response),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient(reason)) => transfer.resume(reason)?,
        }
        Ok(transfer)
    }

    /// Waits, then asks for the rest, until a request works or the attempts run out.
    fn resume(&mut self, mut reason: String) -> Result<(), HttpError> {
        self.response = None;
        if !self.resumable {
            return Err(HttpError::NotResumable {
                url: self.resource.name.clone(),
                offset: self.position,
                reason,
            });
        }
        loop {
            if self.failures >= self.retry.attempts {
                return Err(HttpError::Interrupted {
                    url: self.resource.name.clone(),
                    offset: self.position,
                    attempts: self.failures,
                    reason,
                });
            }
            self.failures += 1;
            thread::sleep(self.retry.delay(self.failures));
            match self.resource.request(self.position, self.end) {
                Ok(response) => {
                    self.response = Some(response);
                    return Ok(());
                }
                Err(Failure::Transient(why)) => reason = why,
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
    }
}

impl Read for Transfer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self
            .end
            .map_or(u64::MAX, |end| end.saturating_sub(self.position));
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        loop {
            let Some(response) = self.response.as_mut() else {
                // A previous resume failed and the caller reads on: fail the same way.
                return Err(io::Error::other(HttpError::Interrupted {
                    url: self.resource.name.clone(),
                    offset: self.position,
                    attempts: self.failures,
                    reason: "an earlier attempt failed".to_owned(),
                }));
            };
            let reason = match response.read(&mut buf[..want]) {
                Ok(0) if self.end.is_none() => return Ok(0),
                Ok(0) => "the server closed the connection early".to_owned(),
                Ok(n) => {
                    self.position += n as u64;
                    self.failures = 0;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => error::io_reason(&e),
            };
            self.resume(reason).map_err(io::Error::other)?;
        }
    }
}

/// A remote file whose server honours Range requests.
pub(super) struct RemoteFile {
    resource: Arc<Resource>,
    len: u64,
    /// The first bytes, from the probe: format detection reads them again at once.
    head: Vec<u8>,
}

impl RemoteFile {
    pub fn new(resource: Resource, len: u64, head: Vec<u8>) -> Self {
        Self {
            resource: Arc::new(resource),
            len,
            head,
        }
    }

    fn past_end(&self, offset: u64, len: u64) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "bytes {offset}..{} are past the end of '{}' ({} bytes)",
                offset.saturating_add(len),
                self.resource.name,
                self.len
            ),
        )
    }
}

impl RandomAccess for RemoteFile {
    fn name(&self) -> &str {
        &self.resource.name
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = buf.len() as u64;
        let end = offset.checked_add(len).filter(|&end| end <= self.len);
        let Some(end) = end else {
            return Err(self.past_end(offset, len));
        };
        if let Some(cached) = head_slice(&self.head, offset, end) {
            buf.copy_from_slice(cached);
            return Ok(());
        }
        let mut transfer =
            Transfer::open(Arc::clone(&self.resource), offset, end).map_err(io::Error::other)?;
        transfer.read_exact(buf)
    }

    fn stream(&self, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        let end = offset.saturating_add(len).min(self.len);
        if offset >= end {
            return Ok(Box::new(io::empty()));
        }
        if let Some(cached) = head_slice(&self.head, offset, end) {
            return Ok(Box::new(Cursor::new(cached.to_vec())));
        }
        let transfer =
            Transfer::open(Arc::clone(&self.resource), offset, end).map_err(io::Error::other)?;
        Ok(Box::new(transfer))
    }
}

/// `offset..end` of the cached head, if it holds all of it.
fn head_slice(head: &[u8], offset: u64, end: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = usize::try_from(end).ok()?;
    head.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let retry = Retry {
            attempts: 8,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        };
        let delays: Vec<u128> = (1..=7).map(|n| retry.delay(n).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(retry.delay(u32::MAX), Duration::from_secs(8));
    }

    #[test]
    fn the_head_serves_what_it_holds() {
        let head = b"0123456789".to_vec();
        assert_eq!(head_slice(&head, 2, 5), Some(&b"234"[..]));
        assert_eq!(head_slice(&head, 8, 11), None);
    }
}
