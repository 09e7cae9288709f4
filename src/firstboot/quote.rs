//! Quoting of one value for each kind of file the settings land in.
//!
//! Every value a writer puts into a file goes through one of these functions, never pasted as
//! it is: the settings are checked when they are read (no control characters, a printable
//! passphrase, an RFC 1123 hostname), but an SSID may still hold quotes, `$`, backslashes,
//! `#`, `;` or YAML indicators, and each format has its own way to keep them literal.
//!
//! | function          | produces                              | read back by                   |
//! |-------------------|---------------------------------------|--------------------------------|
//! | [`shell()`]       | one POSIX shell word in `'…'`         | `sh`, `dash`, `bash`           |
//! | [`yaml()`]        | a YAML double-quoted scalar `"…"`     | YAML 1.1 (PyYAML), 1.2 readers |
//! | [`toml()`]        | a TOML basic string `"…"`             | TOML readers, rpi-preseed      |
//! | [`keyfile()`]     | a GKeyFile string value               | GLib, so NetworkManager        |
//! | [`keyfile_ssid()`] | an SSID as NetworkManager writes it  | NetworkManager's reader        |
//!
//! Each function is total: any string gives a well-formed result, so a value that slipped past
//! the checks still cannot break out of its quotes.

use std::fmt::Write as _;

/// `value` as one POSIX shell word: single-quoted, each `'` written as `'\''`.
///
/// Nothing inside single quotes is special to the shell (`$`, backquotes, backslashes and
/// newlines included), so the word is the value byte for byte. A NUL cannot be passed to a
/// program at all; the settings never hold one.
pub fn shell(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// `value` as a YAML double-quoted scalar.
///
/// Only the double-quoted style can hold any string (no indicator such as `: `, `#`, `- `,
/// `&`, `!`, `@`, `*` or a leading space means anything inside it). `"` and `\` are escaped,
/// and so is every character YAML 1.1 would not read raw or would fold as a line break (C0
/// and C1 controls, DEL, U+2028, U+2029, the BOM and the non-characters U+FFFE/U+FFFF),
/// using the `\x`, `\u` and `\U` escapes both YAML 1.1 and 1.2 define.
pub fn yaml(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if yaml_printable(c) => out.push(c),
            c => {
                let n = u32::from(c);
                // Writing into a String cannot fail.
                let _ = if n <= 0xff {
                    write!(out, "\\x{n:02X}")
                } else if n <= 0xffff {
                    write!(out, "\\u{n:04X}")
                } else {
                    write!(out, "\\U{n:08X}")
                };
            }
        }
    }
    out.push('"');
    out
}

/// Whether YAML 1.1 reads `c` raw inside a double-quoted scalar and keeps it as it is.
fn yaml_printable(c: char) -> bool {
    matches!(u32::from(c),
        0x20..=0x7e | 0xa0..=0x2027 | 0x202a..=0xd7ff | 0xe000..=0xfefe | 0xff00..=0xfffd
        | 0x10000..=0x10ffff)
}

/// `value` as a TOML basic string.
///
/// `"` and `\` are escaped as `\"` and `\\`; control characters, which TOML does not allow
/// raw, as `\b`, `\t`, `\n`, `\f`, `\r` or `\uXXXX`. rpi-preseed's own reader only undoes
/// `\\` and `\"`, which is enough for every value the settings allow (they hold no control
/// characters).
pub fn toml(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` as the value of a GKeyFile line (`key=value`), the syntax of NetworkManager's
/// `.nmconnection` files.
///
/// GLib undoes `\\`, `\n`, `\t`, `\r` and `\s` (a space) and strips spaces after the `=`, so
/// backslashes are doubled, those controls escaped, and a space at either end written as
/// `\s`. Nothing else (`#`, `;`, `=`, quotes) is special in a value.
pub fn keyfile(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let first_kept = chars.iter().position(|&c| c != ' ').unwrap_or(chars.len());
    let last_kept = chars.iter().rposition(|&c| c != ' ').map_or(0, |i| i + 1);
    let mut out = String::with_capacity(value.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' ' if i < first_kept || i >= last_kept => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}

/// An SSID as NetworkManager's key file writer stores it: each `;` as `\;` (so that an SSID
/// such as `12;34;` is not read as a list of byte values), then quoted by [`keyfile`].
///
/// NetworkManager reads the string back with GLib and then turns each `\;` into `;`.
pub fn keyfile_ssid(ssid: &str) -> String {
    keyfile(&ssid.replace(';', "\\;"))
}

/// `bytes` as lower-case hex digits, two a byte (an SSID as wpa_supplicant's `ssid=` takes it
/// unquoted).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests;
