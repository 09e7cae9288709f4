//! Images, bmaps and signatures over HTTP and HTTPS.
//!
//! ```text
//!  open(url): GET, Range: bytes=0-511
//!     206 + Content-Range bytes 0-511/TOTAL ──► Remote::Random   (RandomAccess: Range GETs,
//!                                                                  each resumed if it breaks)
//!     200 (Range ignored) ────────────────────► Remote::Stream   (that response, from byte 0;
//!                                                                  resumed only if the server
//!                                                                  says Accept-Ranges: bytes)
//!     404 / 401 / 5xx / no connection ────────► HttpError naming the URL and what to do
//!
//!  fetch(url, limit): GET the whole (small) file; 404 and 410 are Ok(None), a quiet miss
//! ```
//!
//! A server that honours Range lets the engine fetch only the mapped parts of a raw image (see
//! [`RangedSource`](super::RangedSource)) and list a remote archive without downloading it.
//!
//! The client is reqwest's blocking one: the engine reads on its own threads, and HTTP is an
//! adapter that turns a response body into [`Read`]. Proxies come from the environment
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), and credentials come from the URL
//! (`https://user:password@host/…`) or from `~/.netrc`. No message ever shows a password:
//! URLs in messages have their user information removed.
//!
//! Redirects are followed (10 at most), except from https to plain http: that would hand the
//! download to anyone on the network while every message still named the https URL, so it is
//! [`HttpError::Downgrade`]. reqwest drops the `Authorization` header whenever a redirect
//! changes scheme, host or port.
//!
//! `~/.netrc` credentials are sent only over https, never over plain http, where anyone on
//! the way could read them; a 401 then says why none were sent ([`Credentials`]). A URL's own
//! `user:password@` is the user's explicit choice and is sent either way. A `machine` entry
//! goes to its host. The `default` entry (curl's "any other host") goes to a URL the caller
//! names (the image, `--bmap`, `--bmap-sig`, a link the user opened) and to discovery probes
//! on that same origin (scheme, host and port), but not to a probe anywhere else
//! ([`HttpClient::fetch_next_to`]): what the tool looks for on its own never takes the
//! catch-all credentials to a server the user did not choose.

mod error;
mod resume;

use std::io::Read;
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT_RANGES, CONTENT_RANGE, ETAG, LAST_MODIFIED, RANGE};
use reqwest::redirect::Policy;

pub use error::{Credentials, HttpError};
pub use reqwest::Url;

use super::RandomAccess;
use super::detect::DETECT_LEN;
use super::netrc::Netrc;
use error::redact;
use resume::{RemoteFile, Resource, Retry, Transfer};

/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for an answer, and then for each piece of a body. A copy of a large image
/// takes minutes, so there is no limit on a whole transfer; a stalled one fails after this.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Resume attempts after a transfer breaks: 0.5 + 1 + 2 + 4 + 8 s of waiting in all, enough
/// for a Wi-Fi reconnect or a restarting proxy, short enough that a dead server fails soon.
const RETRY: Retry = Retry {
    attempts: 5,
    first_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(8),
};

/// The reqwest client, waiting `read_timeout` at most for each answer and piece of a body.
fn build(read_timeout: Duration) -> Result<Client, HttpError> {
    Client::builder()
        .user_agent(concat!("blockprint/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        // The blocking client applies this to the wait for the headers and then to each
        // read of the body separately, so it bounds a stall, not the whole download.
        .timeout(read_timeout)
        .redirect(redirects())
        .build()
        .map_err(|e| HttpError::Setup {
            reason: error::root_cause(&e),
        })
}

/// reqwest's default policy (10 redirects at most), refusing any step from https to http.
fn redirects() -> Policy {
    Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade {
            let to = redact(attempt.url());
            attempt.error(error::Downgrade { to })
        } else {
            Policy::default().redirect(attempt)
        }
    })
}

/// Who asked for a URL, which decides whether `~/.netrc`'s `default` entry goes with it.
#[derive(Debug, Clone, Copy)]
enum Asked<'a> {
    /// The caller named it: the image, a bmap or signature given by the user.
    Named,
    /// Discovery tries it next to this URL, which was named (or next to no URL at all).
    NextTo(Option<&'a Url>),
}

/// An image opened over HTTP, in the form its server allows.
pub enum Remote {
    /// The server honours Range requests: any part can be read, in any order.
    Random(Arc<dyn RandomAccess>),
    /// The server sends only the whole file: a stream from byte 0.
    Stream {
        /// The response body.
        reader: Box<dyn Read + Send>,
        /// Its length, when the server gave a `Content-Length`.
        size: Option<u64>,
    },
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remote::Random(store) => write!(f, "Remote::Random({store:?})"),
            Remote::Stream { size, .. } => write!(f, "Remote::Stream {{ size: {size:?} }}"),
        }
    }
}

/// An HTTP(S) client for images, bmaps and signatures. Cloning is cheap and clones share
/// connections.
#[derive(Clone)]
pub struct HttpClient {
    client: Client,
    netrc: Arc<Netrc>,
    retry: Retry,
}

impl std::fmt::Debug for HttpClient {
    // Not derived: the netrc holds passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with the proxies of the environment and the credentials of `~/.netrc` (or of
    /// the file `$NETRC` names).
    pub fn new() -> Result<HttpClient, HttpError> {
        static PROVIDER: Once = Once::new();
        // reqwest is built without a crypto provider, so that ring (not aws-lc, which needs
        // cmake and a C toolchain) does the TLS maths. An application that installed one
        // first keeps its own: that is the error ignored here.
        PROVIDER.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        Ok(HttpClient {
            client: build(READ_TIMEOUT)?,
            netrc: Arc::new(Netrc::load().unwrap_or_default()),
            retry: RETRY,
        })
    }

    /// Changes how long a silent server is waited for (for the answer, then for each piece of
    /// the body) before the transfer counts as broken and is resumed; 60 s by default.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Result<HttpClient, HttpError> {
        self.client = build(timeout)?;
        Ok(self)
    }

    /// Changes how a broken transfer is resumed: `attempts` tries after each break, waiting
    /// `first_delay` before the first and twice as long before each next one (at most 8 s).
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, first_delay: Duration) -> HttpClient {
        self.retry = Retry {
            attempts,
            first_delay,
            max_delay: RETRY.max_delay.max(first_delay),
        };
        self
    }

    /// Downloads a small file (a bmap, a signature) whole. A missing file (404, 410) is
    /// `Ok(None)` and nothing is printed: bmap discovery tries several names in turn. A body
    /// over `limit` bytes is an error.
    pub fn fetch(&self, url: &Url, limit: u64) -> Result<Option<Vec<u8>>, HttpError> {
        self.fetch_as(url, limit, Asked::Named)
    }

    /// [`fetch`](Self::fetch) for a URL that discovery tries next to `named` (the image or
    /// bmap the caller named): `~/.netrc`'s `default` entry goes with it only when it has the
    /// same scheme, host and port as `named`.
    pub fn fetch_next_to(
        &self,
        url: &Url,
        named: &Url,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, HttpError> {
        self.fetch_discovered(url, Some(named), limit)
    }

    /// [`fetch_next_to`](Self::fetch_next_to), also for a URL found next to something that
    /// is not a URL (then the `default` entry never goes with it).
    pub(crate) fn fetch_discovered(
        &self,
        url: &Url,
        named: Option<&Url>,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, HttpError> {
        self.fetch_as(url, limit, Asked::NextTo(named))
    }

    fn fetch_as(&self, url: &Url, limit: u64, asked: Asked) -> Result<Option<Vec<u8>>, HttpError> {
        check_url(url)?;
        let response = self
            .get_as(url, asked)
            .send()
            .map_err(|e| HttpError::from_reqwest(url, &e))?;
        if matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Ok(None);
        }
        let response = self.check_status(url, response, asked)?;
        let too_large = || HttpError::TooLarge {
            url: redact(url),
            limit,
        };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let capacity = announced.unwrap_or(0).min(limit).min(1 << 20);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        response
            .take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| HttpError::Transfer {
                url: redact(url),
                reason: error::io_reason(&e),
            })?;
        if body.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(Some(body))
    }

    /// Opens an image. A server that honours Range gives [`Remote::Random`]; one that sends
    /// the whole file regardless gives [`Remote::Stream`] of that response.
    pub fn open(&self, url: &Url) -> Result<Remote, HttpError> {
        check_url(url)?;
        let probe_last = DETECT_LEN as u64 - 1;
        let response = self
            .get(url)
            .header(RANGE, format!("bytes=0-{probe_last}"))
            .send()
            .map_err(|e| HttpError::from_reqwest(url, &e))?;
        let status = response.status();
        let range = content_range(&response);
        // `bytes */0` on a 416: an empty file, which has no byte 0 to send.
        let empty = status == StatusCode::RANGE_NOT_SATISFIABLE
            && range.is_some_and(|r| r.total == Some(0));
        if status != StatusCode::PARTIAL_CONTENT && !empty {
            let response = self.check_status(url, response, Asked::Named)?;
            return Ok(self.stream(url, response));
        }
        let Some(range) = range.filter(|&r| empty || is_probe_answer(r, probe_last)) else {
            // A 206 without a usable Content-Range (or with an unknown total): the length is
            // unknown, so read the file as a plain stream.
            let response = self
                .get(url)
                .send()
                .map_err(|e| HttpError::from_reqwest(url, &e))?;
            let response = self.check_status(url, response, Asked::Named)?;
            return Ok(self.stream(url, response));
        };
        let len = range.total.unwrap_or(0);
        let validator = validator(&response);
        let mut head = Vec::new();
        if !empty {
            response
                .take(probe_last + 1)
                .read_to_end(&mut head)
                .map_err(|e| HttpError::Transfer {
                    url: redact(url),
                    reason: error::io_reason(&e),
                })?;
        }
        let resource = Resource {
            client: self.clone(),
            url: url.clone(),
            name: redact(url),
            len: Some(len),
            validator,
        };
        Ok(Remote::Random(Arc::new(RemoteFile::new(
            resource, len, head,
        ))))
    }

    /// The whole-file response as a [`Remote::Stream`].
    fn stream(&self, url: &Url, response: Response) -> Remote {
        let size = response.content_length();
        let resumable = response
            .headers()
            .get(ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
        let resource = Resource {
            client: self.clone(),
            url: url.clone(),
            name: redact(url),
            len: size,
            validator: validator(&response),
        };
        let reader = Transfer::new(Arc::new(resource), response, 0, size, resumable);
        Remote::Stream {
            reader: Box::new(reader),
            size,
        }
    }

    /// A GET of `url`, which the caller named, with the credentials `~/.netrc` has for it.
    fn get(&self, url: &Url) -> RequestBuilder {
        self.get_as(url, Asked::Named)
    }

    /// A GET of `url` with the credentials `~/.netrc` has for it (see the module's notes),
    /// unless the URL has a password (reqwest sends the URL's own as basic auth).
    fn get_as(&self, url: &Url, asked: Asked) -> RequestBuilder {
        match self.netrc_entry(url, asked) {
            Some((login, password)) => {
                // The user name moves into the header: left in the URL as well, reqwest would
                // send a second Authorization header with no password.
                let mut bare = url.clone();
                let _ = bare.set_username("");
                self.client.get(bare).basic_auth(login, password)
            }
            None => self.client.get(url.clone()),
        }
    }

    /// The `~/.netrc` login and password to send with `url`: none over plain http, and the
    /// `default` entry only for a URL named or on the origin of one.
    fn netrc_entry(&self, url: &Url, asked: Asked) -> Option<(&str, Option<&str>)> {
        if url.password().is_some() || url.scheme() != "https" {
            return None;
        }
        let entry = self.netrc_match(url)?;
        if entry.machine.is_none()
            && let Asked::NextTo(named) = asked
            && !named.is_some_and(|named| same_origin(url, named))
        {
            return None;
        }
        Some((entry.login.as_deref()?, entry.password.as_deref()))
    }

    /// The `~/.netrc` entry for `url`'s host (and user, if the URL names one).
    fn netrc_match(&self, url: &Url) -> Option<&super::netrc::Entry> {
        let login = Some(url.username()).filter(|u| !u.is_empty());
        self.netrc.find(url.host_str()?, login)
    }

    /// What credentials a request for `url` carries, for the advice of a 401.
    fn credentials(&self, url: &Url, asked: Asked) -> Credentials {
        if !url.username().is_empty()
            || url.password().is_some()
            || self.netrc_entry(url, asked).is_some()
        {
            Credentials::Sent
        } else if url.scheme() == "http" && self.netrc_match(url).is_some() {
            Credentials::WithheldOverHttp
        } else {
            Credentials::None
        }
    }

    /// Passes a successful response through; turns any other into its error.
    fn check_status(
        &self,
        url: &Url,
        response: Response,
        asked: Asked,
    ) -> Result<Response, HttpError> {
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else {
            Err(HttpError::from_status(
                url,
                status,
                self.credentials(url, asked),
            ))
        }
    }
}

/// Whether two URLs have the same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn check_url(url: &Url) -> Result<(), HttpError> {
    if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() {
        Ok(())
    } else {
        Err(HttpError::Unsupported { url: redact(url) })
    }
}

/// A parsed `Content-Range: bytes FIRST-LAST/TOTAL` (`*` for an unknown part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContentRange {
    first: Option<u64>,
    last: Option<u64>,
    total: Option<u64>,
}

fn content_range(response: &Response) -> Option<ContentRange> {
    parse_content_range(response.headers().get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let (unit, rest) = value.trim().split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (range, total) = rest.trim().split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    let (first, last) = match range.trim() {
        "*" => (None, None),
        r => {
            let (a, b) = r.split_once('-')?;
            let (first, last): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            if first > last || total.is_some_and(|t| last >= t) {
                return None;
            }
            (Some(first), Some(last))
        }
    };
    Some(ContentRange { first, last, total })
}

/// Whether a 206 answers the probe sensibly: from byte 0, within what was asked, with a total.
fn is_probe_answer(range: ContentRange, probe_last: u64) -> bool {
    range.first == Some(0) && range.last.is_some_and(|l| l <= probe_last) && range.total.is_some()
}

/// What identifies this version of the file for `If-Range`: a strong ETag, else the
/// Last-Modified date. A weak ETag cannot be used there (servers must ignore it and send the
/// whole file, which would read as "changed").
fn validator(response: &Response) -> Option<String> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    header(ETAG)
        .filter(|etag| !etag.starts_with("W/"))
        .or_else(|| header(LAST_MODIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_strictly() {
        let r = |first, last, total| ContentRange {
            first: Some(first),
            last: Some(last),
            total,
        };
        assert_eq!(
            parse_content_range("bytes 0-511/1000"),
            Some(r(0, 511, Some(1000)))
        );
        assert_eq!(parse_content_range("BYTES 5-5/*"), Some(r(5, 5, None)));
        assert_eq!(
            parse_content_range("bytes */0"),
            Some(ContentRange {
                first: None,
                last: None,
                total: Some(0)
            })
        );
        for bad in [
            "bytes 0-511/100",
            "bytes 9-3/100",
            "items 0-1/2",
            "bytes 0-x/9",
            "bytes",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_urls_with_a_web_scheme_and_a_host_are_tried() {
        for bad in ["ftp://example.org/a", "file:///tmp/a", "data:text/plain,x"] {
            let url = Url::parse(bad).expect("url");
            assert!(
                matches!(check_url(&url), Err(HttpError::Unsupported { .. })),
                "{bad}"
            );
        }
        assert!(check_url(&Url::parse("https://example.org/a").expect("url")).is_ok());
    }
}
