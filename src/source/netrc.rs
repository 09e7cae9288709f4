//! Credentials from a `.netrc` file, the way curl, wget and bmaptool (3.7+) find them.
//!
//! The file is a stream of whitespace-separated tokens (newlines are whitespace too):
//! `machine NAME` starts an entry, `default` starts the entry for every other host, and
//! `login`, `password` and `account` take a value. `macdef NAME` defines an ftp macro whose
//! body runs to the next empty line; it is skipped. A token starting with `#` comments out the
//! rest of its line, and a value may be double-quoted (with `\` escapes) to hold spaces.
//!
//! This module only reads the file and finds entries, as curl does. Which requests may carry
//! them is the HTTP client's rule (see [`super::http`]): none over plain http, and the
//! `default` entry never to a discovery probe on a server other than the one named.

use std::path::PathBuf;

/// One `machine` (or `default`) entry.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The host, or `None` for `default`.
    pub machine: Option<String>,
    /// The user name.
    pub login: Option<String>,
    /// The password.
    pub password: Option<String>,
}

impl std::fmt::Debug for Entry {
    // Not derived: a password must not reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("machine", &self.machine)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

/// The entries of a netrc file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Netrc {
    entries: Vec<Entry>,
}

impl Netrc {
    /// Reads `$NETRC`, or `~/.netrc` without it. A missing or unreadable file is no
    /// credentials rather than an error: most users have none, and the server will say 401.
    pub fn load() -> Option<Self> {
        let path = match std::env::var_os("NETRC") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".netrc"),
        };
        std::fs::read_to_string(path)
            .ok()
            .map(|text| Self::parse(&text))
    }

    /// Parses netrc text. Unknown keywords are skipped with their value, so a file written for
    /// a newer tool still gives its credentials.
    pub fn parse(text: &str) -> Self {
        let mut tokens = Tokens { rest: text };
        let mut entries: Vec<Entry> = Vec::new();
        while let Some(token) = tokens.next() {
            match token.as_str() {
                "machine" => entries.push(Entry {
                    machine: tokens.next(),
                    ..Entry::default()
                }),
                "default" => entries.push(Entry::default()),
                "login" | "password" | "account" => {
                    let value = tokens.next();
                    // Values before the first `machine` belong to no entry: ignored, as curl does.
                    if let Some(entry) = entries.last_mut() {
                        match token.as_str() {
                            "login" => entry.login = value,
                            "password" => entry.password = value,
                            _ => {}
                        }
                    }
                }
                "macdef" => {
                    tokens.next();
                    tokens.skip_macro_body();
                }
                // A stray word: skip it alone, keeping the parser in step with the keywords.
                _ => {}
            }
        }
        Self { entries }
    }

    /// The credentials for `host`: the first `machine` entry naming it (and `login`, when the
    /// URL already names a user), else the `default` entry.
    pub fn find(&self, host: &str, login: Option<&str>) -> Option<&Entry> {
        let login_fits = |entry: &&Entry| login.is_none() || entry.login.as_deref() == login;
        self.entries
            .iter()
            .filter(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(host))
            })
            .find(login_fits)
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(|e| e.machine.is_none())
                    .find(login_fits)
            })
    }
}

/// Splits netrc text into tokens, remembering where the current line ends (for `macdef`).
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Option<String> {
        loop {
            self.rest = self.rest.trim_start();
            if self.rest.starts_with('#') {
                self.skip_line();
                continue;
            }
            if self.rest.is_empty() {
                return None;
            }
            return Some(if let Some(quoted) = self.rest.strip_prefix('"') {
                self.quoted(quoted)
            } else {
                let end = self
                    .rest
                    .find(char::is_whitespace)
                    .unwrap_or(self.rest.len());
                let (word, rest) = self.rest.split_at(end);
                self.rest = rest;
                word.to_owned()
            });
        }
    }

    /// A `"…"` value; `\` makes the next character literal. An unterminated quote runs to the
    /// end of the file.
    fn quoted(&mut self, body: &'a str) -> String {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &body[i + 1..];
                    return value;
                }
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                _ => value.push(c),
            }
        }
        self.rest = "";
        value
    }

    fn skip_line(&mut self) {
        self.rest = self.rest.find('\n').map_or("", |i| &self.rest[i + 1..]);
    }

    /// A macro body starts on the line after `macdef NAME` and ends at the first empty line.
    fn skip_macro_body(&mut self) {
        self.skip_line();
        while !self.rest.is_empty() {
            let line_end = self.rest.find('\n').unwrap_or(self.rest.len());
            let blank = self.rest[..line_end].trim().is_empty();
            self.skip_line();
            if blank {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(machine: Option<&str>, login: &str, password: &str) -> Entry {
        Entry {
            machine: machine.map(str::to_owned),
            login: Some(login.to_owned()),
            password: Some(password.to_owned()),
        }
    }

    #[test]
    fn reads_entries_on_one_line_or_many() {
        let netrc = Netrc::parse(
            "machine a.example login ann password one\n\
             machine b.example\n  login bob\n  account x\n  password two\n\
             default login anonymous password me@example",
        );
        assert_eq!(
            netrc.find("a.example", None),
            Some(&entry(Some("a.example"), "ann", "one"))
        );
        assert_eq!(
            netrc.find("B.EXAMPLE", None),
            Some(&entry(Some("b.example"), "bob", "two"))
        );
        assert_eq!(
            netrc.find("c.example", None),
            Some(&entry(None, "anonymous", "me@example"))
        );
    }

    #[test]
    fn without_default_an_unknown_host_has_nothing() {
        let netrc = Netrc::parse("machine a.example login ann password one");
        assert_eq!(netrc.find("b.example", None), None);
        assert_eq!(Netrc::parse("").find("a.example", None), None);
    }

    #[test]
    fn a_login_in_the_url_picks_the_entry() {
        let netrc =
            Netrc::parse("machine h login ann password one\nmachine h login bob password two\n");
        assert_eq!(
            netrc.find("h", Some("bob")),
            Some(&entry(Some("h"), "bob", "two"))
        );
        assert_eq!(netrc.find("h", None), Some(&entry(Some("h"), "ann", "one")));
        assert_eq!(netrc.find("h", Some("eve")), None);
    }

    #[test]
    fn macro_bodies_and_comments_are_skipped() {
        let netrc = Netrc::parse(
            "# machine comment login no password no\n\
             machine ftp.example login ann password one\n\
             macdef init\n\
             machine evil.example login mallory password stolen\n\
             cd /pub\n\
             \n\
             machine b.example login bob password two # trailing comment machine x\n",
        );
        assert_eq!(netrc.find("evil.example", None), None);
        assert_eq!(netrc.find("comment", None), None);
        assert_eq!(
            netrc.find("b.example", None),
            Some(&entry(Some("b.example"), "bob", "two"))
        );
        assert_eq!(netrc.find("x", None), None);
    }

    #[test]
    fn quoted_values_keep_spaces_and_escapes() {
        let netrc = Netrc::parse("machine h login \"a b\" password \"p\\\"w d\"");
        assert_eq!(
            netrc.find("h", None),
            Some(&entry(Some("h"), "a b", "p\"w d"))
        );
    }

    #[test]
    fn values_before_any_machine_are_ignored() {
        let netrc = Netrc::parse("login stray password stray\tmachine h\tlogin ann");
        let found = netrc.find("h", None).expect("entry");
        assert_eq!(found.login.as_deref(), Some("ann"));
        assert_eq!(found.password, None);
    }
}
