//! Settings for a run of cards, each numbered: a hostname such as `pi-{n:02}` becomes `pi-01`,
//! `pi-02`, … (`{n}` is the card's number, `{n:0W}` the same zero-padded to W digits).
//!
//! The settings file is otherwise read exactly as [`parse_file`](super::parse_file) reads it:
//! the hostname with its placeholder is checked as the first card's, and each card's is
//! checked again when it is made (a number with more digits may make it too long).

use std::path::Path;

use super::{Settings, SettingsError, check_hostname, parse};

/// A hostname with the card's number in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnamePattern {
    before: String,
    width: usize,
    after: String,
}

impl HostnamePattern {
    /// The pattern in `text`, `None` when it has no `{`.
    pub fn parse(text: &str) -> Result<Option<Self>, SettingsError> {
        let Some(open) = text.find('{') else {
            return Ok(None);
        };
        let bad = || SettingsError::Invalid {
            key: "hostname",
            value: format!("{text:?}"),
            why: "a numbered hostname holds one {n} (or {n:02} for two digits, zero-padded), \
                  such as \"pi-{n:02}\""
                .to_owned(),
        };
        let rest = &text[open + 1..];
        let close = rest.find('}').ok_or_else(bad)?;
        let width = match &rest[..close] {
            "n" => 1,
            spec => {
                let digits = spec.strip_prefix("n:0").ok_or_else(bad)?;
                let width: usize = digits.parse().map_err(|_| bad())?;
                if !(1..=9).contains(&width) {
                    return Err(bad());
                }
                width
            }
        };
        let after = &rest[close + 1..];
        if after.contains(['{', '}']) || text[..open].contains('}') {
            return Err(bad());
        }
        let pattern = Self {
            before: text[..open].to_owned(),
            width,
            after: after.to_owned(),
        };
        pattern.render(1)?;
        Ok(Some(pattern))
    }

    /// The hostname of card `n`, checked.
    pub fn render(&self, n: u64) -> Result<String, SettingsError> {
        let name = format!(
            "{}{n:0width$}{}",
            self.before,
            self.after,
            width = self.width
        );
        check_hostname(&name)
    }
}

/// Reads and checks the settings file at `path`, whose hostname may be numbered: the settings
/// (with the first card's hostname) and the pattern, if there is one.
pub fn parse_file_numbered(
    path: &Path,
) -> Result<(Settings, Option<HostnamePattern>), SettingsError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Read {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| SettingsError::Syntax {
        file: file.clone(),
        message: e.to_string().trim().to_owned(),
    })?;
    let pattern = match table.get("hostname").and_then(toml::Value::as_str) {
        Some(hostname) => HostnamePattern::parse(hostname)?,
        None => None,
    };
    let Some(pattern) = pattern else {
        return Ok((parse(&text, &file)?, None));
    };
    table.insert("hostname".into(), toml::Value::String(pattern.render(1)?));
    let text = toml::to_string(&table).map_err(|e| SettingsError::Syntax {
        file: file.clone(),
        message: e.to_string(),
    })?;
    Ok((parse(&text, &file)?, Some(pattern)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fill_the_placeholder() {
        let pattern = HostnamePattern::parse("pi-{n:02}").unwrap().unwrap();
        assert_eq!(pattern.render(3).unwrap(), "pi-03");
        assert_eq!(pattern.render(123).unwrap(), "pi-123");
        let plain = HostnamePattern::parse("node{n}-lab").unwrap().unwrap();
        assert_eq!(plain.render(7).unwrap(), "node7-lab");
        assert_eq!(HostnamePattern::parse("pi-kitchen").unwrap(), None);
    }

    #[test]
    fn bad_patterns_are_refused_with_the_form_to_use() {
        for bad in [
            "pi-{x}",
            "pi-{n",
            "pi-{n:2}",
            "pi-{n}{n}",
            "pi-}{n}",
            "-{n}",
            "pi_{n}",
        ] {
            let error = HostnamePattern::parse(bad).unwrap_err().to_string();
            assert!(error.contains("hostname"), "{bad}: {error}");
        }
        let long = format!("{}{{n:02}}", "a".repeat(61));
        assert!(
            HostnamePattern::parse(&long)
                .unwrap()
                .unwrap()
                .render(100)
                .is_err()
        );
    }

    #[test]
    fn a_settings_file_with_a_numbered_hostname() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "hostname = \"pi-{n:02}\"\n[user]\nname = \"alex\"\npassword_hash = \"$6$salt$hash\"\n",
        )
        .unwrap();
        let (settings, pattern) = parse_file_numbered(&path).unwrap();
        assert_eq!(settings.hostname.as_deref(), Some("pi-01"));
        assert_eq!(settings.user.unwrap().name, "alex");
        assert_eq!(pattern.unwrap().render(12).unwrap(), "pi-12");
        std::fs::write(&path, "hostname = \"pi\"\n").unwrap();
        let (settings, pattern) = parse_file_numbered(&path).unwrap();
        assert_eq!((settings.hostname.as_deref(), pattern), (Some("pi"), None));
    }
}
