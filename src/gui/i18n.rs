//! gettext with named placeholders: `gettext_f("Wrote {size}", &[("size", &s)])`. Translators
//! see `{size}` and may move it; positional `{}` would force the English word order.

use gettextrs::{gettext, ngettext};

/// Translates `msgid`, then fills each `{name}` with its value.
pub fn gettext_f(msgid: &str, args: &[(&str, &str)]) -> String {
    fill(gettext(msgid), args)
}

/// The plural form of `single`/`plural` for `n`, translated, then filled like [`gettext_f`].
pub fn ngettext_f(single: &str, plural: &str, n: u64, args: &[(&str, &str)]) -> String {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    fill(ngettext(single, plural, n), args)
}

/// One pass over `text`: each `{name}` of `args` becomes its value, and a value is never read
/// again, so a file name holding `{size}` stays as it is. Anything else is kept as written.
fn fill(text: String, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (*value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_by_name_in_any_order() {
        assert_eq!(
            fill("{b} then {a}, {b}".into(), &[("a", "1"), ("b", "2")]),
            "2 then 1, 2"
        );
        assert_eq!(gettext_f("{n} left", &[("n", "3")]), "3 left");
        // A value is never filled again: a file named like a placeholder stays as it is.
        assert_eq!(
            fill(
                "{name}: {size}".into(),
                &[("name", "{size}.img"), ("size", "4 GB")]
            ),
            "{size}.img: 4 GB"
        );
        assert_eq!(fill("{unknown} {".into(), &[("n", "1")]), "{unknown} {");
        assert_eq!(
            ngettext_f("{n} range", "{n} ranges", 1, &[("n", "1")]),
            "1 range"
        );
        assert_eq!(
            ngettext_f("{n} range", "{n} ranges", 4, &[("n", "4")]),
            "4 ranges"
        );
    }
}
