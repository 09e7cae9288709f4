//! What the user named as an image or a bmap: a path, `-` for standard input, an http(s) URL,
//! or `ssh://[user@]host[:port]/path`.

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

/// A place an image or bmap is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A local file or block device.
    Path(PathBuf),
    /// Standard input.
    Stdin,
    /// An http:// or https:// URL.
    Url(Url),
    /// A file on another machine, read through the system's ssh client.
    Ssh(SshLocation),
    /// An image chosen from a catalog: downloaded (or read from the image cache), checked
    /// against the catalog's SHA-256s (see [`crate::catalog::open_image`]). Boxed: its facts
    /// are large.
    Catalog(Box<crate::catalog::Chosen>),
}

/// `ssh://[user@]host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshLocation {
    /// The login name, if given.
    pub user: Option<String>,
    /// The host name or address.
    pub host: String,
    /// The port, if not ssh's default.
    pub port: Option<u16>,
    /// The absolute path on the host.
    pub path: String,
}

/// Text that names no place Blockprint can read from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A URL scheme other than file, http, https and ssh.
    #[error(
        "'{text}': {scheme}:// is not supported (http, https and ssh are); download the file first"
    )]
    Scheme {
        /// What was given.
        text: String,
        /// Its scheme.
        scheme: String,
    },
    /// A malformed URL.
    #[error("'{text}' is not a valid URL: {reason}")]
    Url {
        /// What was given.
        text: String,
        /// Why.
        reason: String,
    },
}

impl Input {
    /// Reads a command-line argument.
    pub fn parse(text: &str) -> Result<Input, InputError> {
        if text == "-" {
            return Ok(Input::Stdin);
        }
        // RFC 8089 also allows `file:/abs/path` (no authority), which bmaptool opens too.
        let short_file = text
            .get(..6)
            .is_some_and(|start| start.eq_ignore_ascii_case("file:/"));
        let scheme = match text.split_once("://") {
            Some((scheme, _)) => scheme,
            None if short_file => "file",
            None => return Ok(Input::Path(PathBuf::from(text))),
        };
        let invalid = |reason: String| InputError::Url {
            text: text.to_owned(),
            reason,
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "http" | "https" => Url::parse(text)
                .map(Input::Url)
                .map_err(|e| invalid(e.to_string())),
            "file" => {
                let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
                url.to_file_path()
                    .map(Input::Path)
                    .map_err(|()| invalid("not a local file path".into()))
            }
            "ssh" => {
                let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| invalid("no host".into()))?;
                let path = percent_decode(url.path());
                if path.len() < 2 {
                    return Err(invalid("no path on the host".into()));
                }
                let location = SshLocation {
                    user: Some(percent_decode(url.username())).filter(|u| !u.is_empty()),
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port: url.port(),
                    path,
                };
                match location.problem() {
                    Some(problem) => Err(invalid(problem)),
                    None => Ok(Input::Ssh(location)),
                }
            }
            _ => Err(InputError::Scheme {
                text: text.to_owned(),
                scheme,
            }),
        }
    }

    /// The local path, for an input that is one.
    pub fn as_path(&self) -> Option<&std::path::Path> {
        match self {
            Input::Path(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Input {
    /// The place as a user would type it, without any password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Path(path) => write!(f, "{}", path.display()),
            Input::Stdin => f.write_str("standard input"),
            Input::Url(url) => f.write_str(&redact(url)),
            Input::Ssh(location) => write!(f, "{location}"),
            Input::Catalog(chosen) => f.write_str(&redact(&chosen.image.url)),
        }
    }
}

impl SshLocation {
    /// Why ssh cannot be asked for this location, if it cannot: a NUL byte in the path (no
    /// file name holds one, and no command line can carry it), or a user or host name with a
    /// character outside what login and host names use. Those go to ssh as arguments and never
    /// to a shell, but ssh itself may hand them to one (`ProxyCommand %h`), so anything a
    /// shell could act on is refused.
    pub fn problem(&self) -> Option<String> {
        if self.path.contains('\0') {
            return Some("the path holds a NUL byte (%00), which no file name can".into());
        }
        let name_ok = |name: &str, extra: &[char]| {
            !name.is_empty()
                && !name.starts_with('-')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
        };
        if let Some(user) = &self.user
            && !name_ok(user, &['.', '_', '-', '+', '@'])
        {
            return Some(format!(
                "the user name '{}' holds characters no login name has (letters, digits and . _ - + @ are allowed)",
                user.escape_debug()
            ));
        }
        // Host names and IPv4 addresses, and IPv6 addresses (brackets already removed).
        if !name_ok(&self.host, &['.', '_', '-', ':']) {
            return Some(format!(
                "the host '{}' holds characters no host name or address has (letters, digits and . _ - : are allowed)",
                self.host.escape_debug()
            ));
        }
        None
    }
}

impl fmt::Display for SshLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(&self.path)
    }
}

/// A URL as text with its password (and user name) removed, for messages.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    // Only URLs that cannot have credentials refuse these; then there is nothing to hide.
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// `%xx` escapes decoded (URL paths and user names), invalid UTF-8 replaced.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(Input::parse("-"), Ok(Input::Stdin));
        assert_eq!(Input::parse("disk.img"), Ok(Input::Path("disk.img".into())));
        assert_eq!(
            Input::parse("file:///srv/a.img"),
            Ok(Input::Path("/srv/a.img".into()))
        );
        for short in [
            "file:/srv/a.img",
            "FILE:/srv/a.img",
            "file://localhost/srv/a.img",
        ] {
            assert_eq!(
                Input::parse(short),
                Ok(Input::Path("/srv/a.img".into())),
                "{short}"
            );
        }
        assert_eq!(
            Input::parse("file:/srv/my%20disk.img"),
            Ok(Input::Path("/srv/my disk.img".into()))
        );
        let Ok(Input::Url(url)) = Input::parse("https://u:secret@example.com/a.img.xz?t=1") else {
            panic!("an https URL");
        };
        assert_eq!(url.query(), Some("t=1"));
        assert_eq!(
            Input::parse("ssh://pi@board:2222/srv/my%20disk.img"),
            Ok(Input::Ssh(SshLocation {
                user: Some("pi".into()),
                host: "board".into(),
                port: Some(2222),
                path: "/srv/my disk.img".into(),
            }))
        );
        assert_eq!(
            Input::parse("ssh://[::1]/x").map(|i| i.to_string()),
            Ok("ssh://[::1]/x".into())
        );
    }

    #[test]
    fn refuses_what_cannot_be_read() {
        assert!(matches!(
            Input::parse("ftp://h/x"),
            Err(InputError::Scheme { .. })
        ));
        assert!(matches!(
            Input::parse("ssh://host"),
            Err(InputError::Url { .. })
        ));
        assert!(matches!(
            Input::parse("http://"),
            Err(InputError::Url { .. })
        ));
    }

    /// F3: hostile user names, host names and paths are refused before ssh is run.
    #[test]
    fn ssh_locations_a_shell_could_act_on_are_refused() {
        for bad in [
            "ssh://a$(id)b/srv/x.img",
            "ssh://a;id/srv/x.img",
            "ssh://a%60id%60/srv/x.img",
            "ssh://-oProxyCommand=id/srv/x.img",
            "ssh://u%20-oProxyCommand=id@host/srv/x.img",
            "ssh://u$(id)@host/srv/x.img",
            "ssh://u%27@host/srv/x.img",
            "ssh://u%0Aid@host/srv/x.img",
            "ssh://host/srv/a%00.img",
        ] {
            let err = Input::parse(bad).expect_err(bad);
            assert!(matches!(err, InputError::Url { .. }), "{bad}: {err:?}");
        }
        for good in [
            "ssh://pi@raspberrypi.local/srv/x.img",
            "ssh://first.last+ci@build-01.example.org:22/x",
            "ssh://root@[fe80::1]/x",
            "ssh://host/srv/$(odd)%0A'name\".img",
        ] {
            assert!(Input::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn messages_never_show_passwords() {
        let input = Input::parse("https://me:hunter2@example.com/a.img").expect("url");
        assert_eq!(input.to_string(), "https://example.com/a.img");
    }
}
