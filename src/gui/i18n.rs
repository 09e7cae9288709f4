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

fn fill(mut text: String, args: &[(&str, &str)]) -> String {
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
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
