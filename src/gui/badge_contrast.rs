//! The drive rows' badges are readable in both styles: every `.badge.*` rule of
//! `ui/style.css`, with the colours the installed libadwaita defines for its light and dark
//! style, gives text at least 4.5:1 against its background (WCAG AA for normal text).
//!
//! The colours are read from libadwaita's own style sheets, taken out of the installed library
//! with `gresource`, so a new libadwaita palette is checked too. A badge sits on a boxed list's
//! row: its tinted background is laid over `card_bg_color`, itself over `window_bg_color`.

use std::collections::HashMap;
use std::process::Command;

/// A colour with its alpha, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rgba([f64; 4]);

impl Rgba {
    /// `self` laid over the opaque colour `under`.
    fn over(self, under: Rgba) -> Rgba {
        let [r, g, b, a] = self.0;
        let [ur, ug, ub, _] = under.0;
        Rgba([
            r * a + ur * (1.0 - a),
            g * a + ug * (1.0 - a),
            b * a + ub * (1.0 - a),
            1.0,
        ])
    }

    fn luminance(self) -> f64 {
        let lin = |c: f64| {
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b, _] = self.0;
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }
}

/// The WCAG contrast ratio of two opaque colours.
fn contrast(a: Rgba, b: Rgba) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The named colours of one libadwaita style: `@define-color` lines of base.css (the palette)
/// and of defaults-light.css or defaults-dark.css.
fn theme(style: &str) -> HashMap<String, Rgba> {
    let out = Command::new("pkg-config")
        .args(["--variable=libdir", "libadwaita-1"])
        .output()
        .expect("cannot run pkg-config; run build-aux/install-deps");
    assert!(out.status.success(), "pkg-config knows no libadwaita-1");
    let library = format!(
        "{}/libadwaita-1.so.0",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let mut defined = Vec::new();
    for sheet in ["base", &format!("defaults-{style}")] {
        let out = Command::new("gresource")
            .args(["extract", &library])
            .arg(format!("/org/gnome/Adwaita/styles/{sheet}.css"))
            .output()
            .expect("cannot run gresource; run build-aux/install-deps");
        assert!(out.status.success(), "{library} has no {sheet}.css");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(rest) = line.trim().strip_prefix("@define-color ")
                && let Some((name, value)) = rest.trim_end_matches(';').split_once(' ')
            {
                defined.push((name.to_owned(), value.trim().to_owned()));
            }
        }
    }
    // A later definition wins, and a value may name one defined before it.
    let mut colours = HashMap::new();
    for (name, value) in defined {
        if let Some(colour) = eval(&value, &colours) {
            colours.insert(name, colour);
        }
    }
    colours
}

/// One CSS colour expression: `#rrggbb`, `rgb(…)`, `rgba(…)`, `white`, `black`, `@name`,
/// `alpha(E, f)` or `mix(E, E, f)`. `None` for anything else.
fn eval(text: &str, colours: &HashMap<String, Rgba>) -> Option<Rgba> {
    let text = text.trim();
    if let Some(name) = text.strip_prefix('@') {
        return colours.get(name).copied();
    }
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let channel =
            |i: usize| Some(f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0);
        return Some(Rgba([channel(0)?, channel(2)?, channel(4)?, 1.0]));
    }
    match text {
        "white" => return Some(Rgba([1.0, 1.0, 1.0, 1.0])),
        "black" => return Some(Rgba([0.0, 0.0, 0.0, 1.0])),
        _ => {}
    }
    let (function, rest) = text.split_once('(')?;
    let args = split_args(rest.strip_suffix(')')?);
    let number = |s: &str| s.trim().parse::<f64>().ok();
    match (function.trim(), args.as_slice()) {
        ("rgb" | "rgba", [r, g, b, rest @ ..]) if rest.len() <= 1 => Some(Rgba([
            number(r)? / 255.0,
            number(g)? / 255.0,
            number(b)? / 255.0,
            rest.first().map_or(Some(1.0), |a| number(a))?,
        ])),
        ("alpha", [colour, factor]) => {
            let Rgba([r, g, b, a]) = eval(colour, colours)?;
            Some(Rgba([r, g, b, a * number(factor)?]))
        }
        ("mix", [one, two, factor]) => {
            let (one, two, f) = (eval(one, colours)?, eval(two, colours)?, number(factor)?);
            let mut mixed = [0.0; 4];
            for (i, channel) in mixed.iter_mut().enumerate() {
                *channel = one.0[i] * (1.0 - f) + two.0[i] * f;
            }
            Some(Rgba(mixed))
        }
        _ => None,
    }
}

/// Splits a function's arguments at the commas outside parentheses.
fn split_args(text: &str) -> Vec<&str> {
    let (mut args, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                args.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    args.push(&text[start..]);
    args
}

/// Every `.badge.NAME { … }` rule of the app's style sheet, as (NAME, background, text).
fn badge_rules() -> Vec<(String, String, String)> {
    let mut css = include_str!("../../ui/style.css").to_owned();
    while let Some(start) = css.find("/*") {
        let end = css[start..]
            .find("*/")
            .map_or(css.len(), |end| start + end + 2);
        css.replace_range(start..end, "");
    }
    let mut rules = Vec::new();
    for rule in css.split('}') {
        let Some((selector, body)) = rule.split_once('{') else {
            continue;
        };
        let Some(kind) = selector.trim().strip_prefix(".badge.") else {
            continue;
        };
        let property = |name: &str| {
            body.split(';')
                .filter_map(|declaration| declaration.split_once(':'))
                .find(|(key, _)| key.trim() == name)
                .map(|(_, value)| value.trim().to_owned())
                .unwrap_or_else(|| panic!(".badge.{kind} sets no {name}"))
        };
        rules.push((
            kind.to_owned(),
            property("background-color"),
            property("color"),
        ));
    }
    rules
}

/// Review finding 13: the dark "System drive" badge had near-black text on dark olive (about
/// 2.4:1), because `.badge.warning` used `@warning_fg_color`, meant for text on a solid warning
/// background.
#[test]
fn every_badge_has_readable_text_in_light_and_dark_styles() {
    let rules = badge_rules();
    let kinds: Vec<&str> = rules.iter().map(|(kind, ..)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["error", "warning", "accent"],
        "the badges the rows use"
    );
    for style in ["light", "dark"] {
        let colours = theme(style);
        let colour = |name: &str| {
            *colours
                .get(name)
                .unwrap_or_else(|| panic!("libadwaita's {style} style defines no {name}"))
        };
        let row = colour("card_bg_color").over(colour("window_bg_color"));
        for (kind, background, text) in &rules {
            let expression = |value: &str| {
                eval(value, &colours)
                    .unwrap_or_else(|| panic!(".badge.{kind}: cannot evaluate {value}"))
            };
            let background = expression(background).over(row);
            let text = expression(text).over(background);
            let ratio = contrast(text, background);
            assert!(
                ratio >= 4.5,
                ".badge.{kind} in the {style} style: {ratio:.2}:1, under 4.5:1"
            );
        }
    }
}

#[test]
fn colour_expressions_evaluate_as_gtk_does() {
    let mut colours = HashMap::new();
    colours.insert("x".to_owned(), Rgba([1.0, 0.0, 0.0, 1.0]));
    assert_eq!(
        eval("alpha(@x, 0.5)", &colours),
        Some(Rgba([1.0, 0.0, 0.0, 0.5]))
    );
    assert_eq!(
        eval("mix(@x, rgba(0, 0, 255, 0.5), 0.5)", &colours),
        Some(Rgba([0.5, 0.0, 0.5, 0.75]))
    );
    assert_eq!(eval("#ff0000", &colours), Some(Rgba([1.0, 0.0, 0.0, 1.0])));
    assert_eq!(eval("@missing", &colours), None);
    assert_eq!(eval("shade(@x, 1.1)", &colours), None);
    let white = Rgba([1.0; 4]);
    let black = Rgba([0.0, 0.0, 0.0, 1.0]);
    assert!((contrast(white, black) - 21.0).abs() < 1e-9);
}
