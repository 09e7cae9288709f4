//! Why an HTTP transfer failed, in words a user can act on.
//!
//! reqwest reports a failure as a chain of errors (reqwest, hyper, the connector, rustls or
//! the OS). The chain is walked here to tell a certificate problem from a refused connection
//! from a dropped transfer, and only its last link (the real cause) goes into the message:
//! the links above it repeat the URL, possibly with a password in it.

use std::error::Error as StdError;
use std::io;

pub(crate) use crate::source::redact;
use reqwest::{StatusCode, Url};

/// Why an HTTP(S) image, bmap or signature cannot be read. Every message names the URL (with
/// any `user:password@` removed) and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The HTTP client could not be set up (no TLS roots, a bad proxy variable).
    #[error(
        "cannot set up the HTTP client: {reason}; check the proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
    )]
    Setup {
        /// What failed.
        reason: String,
    },
    /// Not an `http://` or `https://` URL.
    #[error("'{url}' is not an http:// or https:// URL with a host")]
    Unsupported {
        /// The URL.
        url: String,
    },
    /// The server has no such file (404 Not Found, 410 Gone).
    #[error("'{url}' was not found (HTTP {status}); check the URL")]
    NotFound {
        /// The URL.
        url: String,
        /// 404 or 410.
        status: u16,
    },
    /// The server wants credentials, or refused the ones sent (401, 403).
    #[error("access to '{url}' was refused (HTTP {status}); {}", credentials_advice(*.credentials))]
    Denied {
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// What credentials went with the request.
        credentials: Credentials,
    },
    /// An https URL redirected to plain http, which is not followed: the download would lose
    /// the protection https gives it while every message still named the https URL.
    #[error(
        "'{url}' redirects to plain http ('{to}'), which is not followed: over http anyone on the way could read or change the download; ask the site to fix the redirect, or give the http:// URL yourself if that is acceptable"
    )]
    Downgrade {
        /// The URL asked for.
        url: String,
        /// The plain-http URL it redirects to.
        to: String,
    },
    /// Any other unexpected status.
    #[error("the server answered '{status}' for '{url}'; check the URL, or try again later")]
    Status {
        /// The URL.
        url: String,
        /// The status line, such as `500 Internal Server Error`.
        status: String,
    },
    /// The TLS handshake failed.
    #[error("secure connection to {host} failed for '{url}': {reason}{}", tls_advice(*.certificate))]
    Tls {
        /// The URL.
        url: String,
        /// The server.
        host: String,
        /// The cause, from rustls.
        reason: String,
        /// Whether the server's certificate was the problem.
        certificate: bool,
    },
    /// No connection: refused, timed out, or the name does not resolve.
    #[error("cannot connect to {host} for '{url}': {reason}; {}", connect_advice(.proxy.as_deref()))]
    Connect {
        /// The URL.
        url: String,
        /// The server.
        host: String,
        /// The cause, from the resolver or the OS.
        reason: String,
        /// The proxy the connection went through, when one is configured for the URL.
        proxy: Option<String>,
    },
    /// A bmap or signature larger than any real one.
    #[error("'{url}' is larger than {limit} bytes, too large for what it should be; check the URL")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The server now has a different file than when it was opened.
    #[error(
        "the file at '{url}' changed while it was being read; start again to write the new version"
    )]
    Changed {
        /// The URL.
        url: String,
    },
    /// The connection dropped and every attempt to resume failed.
    #[error(
        "the transfer of '{url}' was interrupted at offset {offset} and {attempts} attempts to resume it failed ({reason}); check the network and try again"
    )]
    Interrupted {
        /// The URL.
        url: String,
        /// The bytes of the file received.
        offset: u64,
        /// Resume attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The connection dropped and the server cannot resume (it does not accept Range requests).
    #[error(
        "the transfer of '{url}' broke off at offset {offset} ({reason}) and the server cannot resume it; try again"
    )]
    NotResumable {
        /// The URL.
        url: String,
        /// The bytes of the file received.
        offset: u64,
        /// The failure.
        reason: String,
    },
    /// An answer that breaks HTTP (a `Content-Range` for other bytes than asked).
    #[error("the server's answer for '{url}' is invalid: {reason}")]
    Protocol {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Any other failure while receiving.
    #[error("cannot read '{url}': {reason}")]
    Transfer {
        /// The URL.
        url: String,
        /// The cause.
        reason: String,
    },
}

/// What credentials went with a request that was refused, for the advice of a 401 or 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// Some were sent (from the URL or `~/.netrc`), and refused.
    Sent,
    /// None were sent: neither the URL nor `~/.netrc` has any for the host.
    None,
    /// `~/.netrc` has some for the host, but the URL is plain http, over which they are
    /// never sent (anyone on the way could read them).
    WithheldOverHttp,
}

fn credentials_advice(credentials: Credentials) -> &'static str {
    match credentials {
        Credentials::Sent => {
            "the credentials sent were refused; check the user name and password (in the URL or ~/.netrc)"
        }
        Credentials::None => {
            "give credentials in the URL (https://USER:PASSWORD@host/...) or in ~/.netrc (machine HOST login USER password PASSWORD)"
        }
        Credentials::WithheldOverHttp => {
            "~/.netrc has credentials for this host, but they are sent only over https; use the https:// URL, or (if the server has no https and the network is trusted) put them in the URL (http://USER:PASSWORD@host/...)"
        }
    }
}

/// The redirect policy's refusal of an https → http redirect; [`HttpError::from_reqwest`]
/// finds it in reqwest's error and makes it [`HttpError::Downgrade`].
#[derive(Debug)]
pub(crate) struct Downgrade {
    /// The plain-http URL, redacted.
    pub to: String,
}

impl std::fmt::Display for Downgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect from https to plain http ('{}')", self.to)
    }
}

impl StdError for Downgrade {}

fn tls_advice(certificate: bool) -> &'static str {
    if certificate {
        "; the server's certificate is not trusted (expired, self-signed, or issued for another name); if a private authority signed it, add that to the system's certificates (update-ca-certificates)"
    } else {
        "; check that the URL points to an HTTPS server"
    }
}

fn connect_advice(proxy: Option<&str>) -> String {
    match proxy {
        Some(proxy) => format!(
            "the connection goes through the proxy {proxy}; check the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)"
        ),
        None => "check the host name and the network".to_owned(),
    }
}

impl HttpError {
    /// Whether the same request may work a little later: no connection, a server that is
    /// down or busy (5xx, 408, 429), or a transfer that broke off. A wrong address, refused
    /// credentials, a TLS or protocol fault and a changed file are not.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Connect { .. }
            | HttpError::Interrupted { .. }
            | HttpError::NotResumable { .. }
            | HttpError::Transfer { .. } => true,
            HttpError::Status { status, .. } => {
                let code = status.split(' ').next().and_then(|c| c.parse::<u16>().ok());
                code.is_some_and(|c| (500..600).contains(&c) || c == 408 || c == 429)
            }
            _ => false,
        }
    }

    /// The error for an unexpected status; `credentials` tells a 401 what to advise.
    pub(crate) fn from_status(url: &Url, status: StatusCode, credentials: Credentials) -> Self {
        let url = redact(url);
        match status.as_u16() {
            code @ (404 | 410) => HttpError::NotFound { url, status: code },
            code @ (401 | 403) => HttpError::Denied {
                url,
                status: code,
                credentials,
            },
            _ => HttpError::Status {
                url,
                status: status.to_string(),
            },
        }
    }

    /// Classifies a failure to get an answer at all.
    pub(crate) fn from_reqwest(url: &Url, err: &reqwest::Error) -> Self {
        let host = url.host_str().unwrap_or_default().to_owned();
        if let Some(downgrade) = chain(err)
            .into_iter()
            .find_map(|link| link.downcast_ref::<Downgrade>())
        {
            return HttpError::Downgrade {
                url: redact(url),
                to: downgrade.to.clone(),
            };
        }
        if let Some(tls) = find_tls(err) {
            return HttpError::Tls {
                url: redact(url),
                host,
                reason: tls.to_string(),
                certificate: matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_)
                        | rustls::Error::InvalidCertRevocationList(_)
                        | rustls::Error::NoCertificatesPresented
                ),
            };
        }
        if err.is_connect() || err.is_timeout() {
            let reason = if err.is_timeout() {
                "no answer in time".to_owned()
            } else {
                root_cause(err)
            };
            return HttpError::Connect {
                url: redact(url),
                host,
                reason,
                proxy: proxy_for(url),
            };
        }
        HttpError::Transfer {
            url: redact(url),
            reason: root_cause(err),
        }
    }
}

/// Each link of an error chain. `io::Error::source` skips the error it wraps (it returns that
/// error's own source), so wrapped errors are looked into explicitly: that is where tokio-rustls
/// puts the `rustls::Error` and where reqwest puts itself inside a body read error.
pub(crate) fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut links = Vec::new();
    let mut next = Some(err);
    while let Some(link) = next {
        links.push(link);
        next = match link
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => link.source(),
        };
        if links.len() > 32 {
            break;
        }
    }
    links
}

fn find_tls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain(err)
        .into_iter()
        .find_map(|link| link.downcast_ref::<rustls::Error>())
}

/// The last link of the chain: the OS or resolver message, without reqwest's URL.
pub(crate) fn root_cause(err: &(dyn StdError + 'static)) -> String {
    chain(err)
        .last()
        .map_or_else(|| err.to_string(), |last| last.to_string())
}

/// The proxy a request for `url` goes through, as reqwest picks it from the environment
/// (`HTTPS_PROXY` or `HTTP_PROXY`, else `ALL_PROXY`, unless `NO_PROXY` names the host), with
/// its credentials removed. Only for messages: reqwest does the real routing.
pub(crate) fn proxy_for(url: &Url) -> Option<String> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    };
    let proxy = match url.scheme() {
        "https" => var(&["HTTPS_PROXY", "https_proxy"]),
        _ => var(&["HTTP_PROXY", "http_proxy"]),
    }
    .or_else(|| var(&["ALL_PROXY", "all_proxy"]))?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let bypassed = var(&["NO_PROXY", "no_proxy"]).is_some_and(|list| {
        list.split(',').map(str::trim).any(|entry| {
            let entry = entry.trim_start_matches('.');
            entry == "*"
                || (!entry.is_empty()
                    && (host.eq_ignore_ascii_case(entry)
                        || host
                            .to_ascii_lowercase()
                            .ends_with(&format!(".{}", entry.to_ascii_lowercase()))))
        })
    });
    if bypassed {
        return None;
    }
    Some(match Url::parse(&proxy) {
        Ok(parsed) => redact(&parsed),
        // reqwest takes `host:port` without a scheme, which `Url` cannot hold; such a value
        // has nowhere to hide a password that `Url` would parse, so keep only the host part.
        Err(_) => proxy.rsplit('@').next().unwrap_or_default().to_owned(),
    })
}

/// The words for an I/O error from a body being read: reqwest's own error when it is one
/// (timeouts, broken connections), else the error itself.
pub(crate) fn io_reason(err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::TimedOut {
        return "no data in time".to_owned();
    }
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
    {
        Some(inner) if inner.is_timeout() => "no data in time".to_owned(),
        _ => root_cause(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_the_password() {
        let url = Url::parse("https://ann:s3cret@example.org/a.img?x=1").expect("url");
        assert_eq!(redact(&url), "https://example.org/a.img?x=1");
        let err = HttpError::from_status(&url, StatusCode::UNAUTHORIZED, Credentials::Sent);
        let text = err.to_string();
        assert!(!text.contains("s3cret") && !text.contains("ann"), "{text}");
        assert!(text.contains("credentials"), "{text}");
    }

    #[test]
    fn statuses_say_what_they_mean() {
        let url = Url::parse("http://example.org/a.img").expect("url");
        let missing = HttpError::from_status(&url, StatusCode::GONE, Credentials::None).to_string();
        assert!(
            missing.contains("not found") && missing.contains("410"),
            "{missing}"
        );
        let denied =
            HttpError::from_status(&url, StatusCode::FORBIDDEN, Credentials::None).to_string();
        assert!(denied.contains("~/.netrc"), "{denied}");
        let other =
            HttpError::from_status(&url, StatusCode::BAD_GATEWAY, Credentials::None).to_string();
        assert!(
            other.contains("502 Bad Gateway") && other.contains("http://example.org/a.img"),
            "{other}"
        );
    }

    #[test]
    fn a_server_down_or_busy_is_worth_trying_again_and_a_wrong_address_is_not() {
        let url = Url::parse("http://example.org/a.img").expect("url");
        let status = |code| HttpError::from_status(&url, code, Credentials::None).is_transient();
        for code in [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::BAD_GATEWAY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::REQUEST_TIMEOUT,
        ] {
            assert!(status(code), "{code}");
        }
        for code in [
            StatusCode::NOT_FOUND,
            StatusCode::FORBIDDEN,
            StatusCode::BAD_REQUEST,
            StatusCode::IM_A_TEAPOT,
        ] {
            assert!(!status(code), "{code}");
        }
        let changed = HttpError::Changed { url: "u".into() };
        assert!(!changed.is_transient());
    }

    #[test]
    fn io_wrapped_errors_are_looked_into() {
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::NoCertificatesPresented,
        );
        assert!(find_tls(&tls).is_some());
        assert_eq!(
            root_cause(&tls),
            rustls::Error::NoCertificatesPresented.to_string()
        );
    }
}
