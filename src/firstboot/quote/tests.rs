use super::*;

/// Values that break naive quoting in at least one of the formats.
const HOSTILE: &[&str] = &[
    "a\"; rm -rf / #",
    "it's $HOME and `id` and $(id)",
    "back\\slash\\\\ and \\\" and \\n",
    ": # - &anchor !tag @lead *alias %pct {}[],|> ? ~ null true",
    " lead and trail ",
    "12;34;",
    "semi\\;colon;",
    "ünïcødé ☃ 💾",
    "'",
    "",
];

/// Undoes [`shell`] the way a POSIX shell reads a word of single-quoted runs and `\'`.
fn unshell(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => out.extend(chars.next()),
            c => panic!("unquoted {c:?} in {word}"),
        }
    }
    out
}

#[test]
fn a_shell_word_is_the_value_and_never_leaves_its_quotes() {
    for value in HOSTILE {
        let word = shell(value);
        assert_eq!(unshell(&word), *value, "{word}");
        assert!(word.starts_with('\'') && word.ends_with('\''), "{word}");
        // Outside the quotes there is only ever the `\'` of an embedded quote.
        let inner = word[1..word.len() - 1].replace("'\\''", "");
        assert!(!inner.contains('\''), "{word}");
    }
    assert_eq!(shell("it's"), "'it'\\''s'");
}

/// Undoes [`yaml`]'s escapes (a subset of YAML's double-quoted scalar).
fn unyaml(scalar: &str) -> String {
    let inner = &scalar[1..scalar.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            assert_ne!(c, '"', "raw quote in {scalar}");
            out.push(c);
            continue;
        }
        let digits = match chars.next() {
            Some('"') => {
                out.push('"');
                continue;
            }
            Some('\\') => {
                out.push('\\');
                continue;
            }
            Some('x') => 2,
            Some('u') => 4,
            Some('U') => 8,
            other => panic!("unknown escape {other:?} in {scalar}"),
        };
        let hex: String = chars.by_ref().take(digits).collect();
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
    }
    out
}

#[test]
fn a_yaml_scalar_escapes_what_yaml_would_not_keep() {
    for value in HOSTILE {
        assert_eq!(unyaml(&yaml(value)), *value);
    }
    assert_eq!(yaml("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(yaml("tab\tnl\n"), r#""tab\x09nl\x0A""#);
    assert_eq!(
        yaml("\u{85}\u{2028}\u{2029}\u{feff}\u{7f}"),
        r#""\x85\u2028\u2029\uFEFF\x7F""#
    );
    assert_eq!(yaml("é ☃ 💾"), "\"é ☃ 💾\"");
}

#[test]
fn a_toml_string_parses_back_with_a_toml_reader() {
    for value in HOSTILE
        .iter()
        .copied()
        .chain(["ctl\u{1}\u{7f}\t\n\r\u{8}\u{c}"])
    {
        let doc = format!("v = {}\n", toml(value));
        let table: ::toml::Table = ::toml::from_str(&doc).unwrap();
        assert_eq!(table["v"].as_str(), Some(value), "{doc}");
    }
    assert_eq!(toml("a\"b\\c"), r#""a\"b\\c""#);
}

/// Undoes [`keyfile`] as GLib's `g_key_file_get_string` does (after the `=` and any spaces).
fn unkeyfile(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.trim_start_matches(' ').chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            other => panic!("GLib refuses the escape {other:?} in {value}"),
        }
    }
    out
}

#[test]
fn a_keyfile_value_reads_back_through_glib_s_rules() {
    for value in HOSTILE {
        let line = keyfile(value);
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(unkeyfile(&line), *value, "{line}");
    }
    assert_eq!(keyfile(" a b "), "\\sa b\\s");
    assert_eq!(keyfile("a\\b"), "a\\\\b");
}

#[test]
fn an_ssid_is_escaped_as_networkmanager_writes_it() {
    // NetworkManager: `;` becomes `\;`, then GLib doubles the backslash.
    assert_eq!(keyfile_ssid("12;34;"), "12\\\\;34\\\\;");
    assert_eq!(keyfile_ssid("a\"; rm -rf / #"), "a\"\\\\; rm -rf / #");
    for ssid in HOSTILE {
        // NetworkManager's reader: GLib's unescaping, then each `\;` back to `;`.
        let read = unkeyfile(&keyfile_ssid(ssid)).replace("\\;", ";");
        assert_eq!(read, *ssid);
    }
}

#[test]
fn hex_is_two_lower_case_digits_a_byte() {
    assert_eq!(hex(b"a\"; \xff"), "61223b20ff");
    assert_eq!(hex(b""), "");
}
