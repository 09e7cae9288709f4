//! What the running system offers the settings dialog, and what it uses itself: the time
//! zones, keyboard layouts, locales and countries to choose from, this computer's own as the
//! defaults, and the user's public SSH keys. Every list is read from the files the system
//! keeps them in; a list that cannot be read is short (the default alone), never an error.
//!
//! | list | read from | default from |
//! |---|---|---|
//! | time zones | `/usr/share/zoneinfo/zone.tab` (else `timedatectl list-timezones`) | `/etc/timezone`, else the `/etc/localtime` link |
//! | keyboard layouts | `/usr/share/X11/xkb/rules/base.lst` (else `evdev.lst`) | `XKBLAYOUT` in `/etc/default/keyboard` |
//! | locales | `/usr/share/i18n/SUPPORTED` | `$LANG` |
//! | countries | iso-codes' `iso_3166-1.json` (else the tz database's `iso3166.tab`) | the locale's territory, else the time zone's |
//!
//! Country and layout names are translated through iso-codes' and xkeyboard-config's own
//! translations, as GNOME's settings do.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use blockprint::firstboot::{check_key, check_keyboard, check_locale, check_timezone};

/// A choice of a list: the value written (`gb`) and the name shown ("English (UK)").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// What is written into the settings.
    pub value: String,
    /// What the user reads.
    pub name: String,
}

/// Everything the dialog offers, with the defaults placed in each list.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// Time zones (`Europe/London`), sorted.
    pub timezones: Vec<Choice>,
    /// Keyboard layouts, by name.
    pub keyboards: Vec<Choice>,
    /// Locales (`en_GB.UTF-8`), sorted.
    pub locales: Vec<Choice>,
    /// Countries, by name.
    pub countries: Vec<Choice>,
    /// This computer's own choices.
    pub defaults: Defaults,
}

/// This computer's own time zone, layout, locale and country, as the settings take them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// `Europe/London`.
    pub timezone: String,
    /// `gb`.
    pub keyboard: String,
    /// `en_GB.UTF-8`.
    pub locale: String,
    /// `GB`.
    pub country: String,
}

/// The lists, read once.
pub fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(read_lists)
}

fn read_lists() -> Lists {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let zone_tab = read("/usr/share/zoneinfo/zone.tab");
    let timezone = default_timezone(
        &read("/etc/timezone"),
        std::fs::read_link("/etc/localtime").ok().as_deref(),
    );
    let locale = default_locale(std::env::var("LANG").ok().as_deref());
    let keyboard = default_keyboard(&read("/etc/default/keyboard"));
    let country = default_country(locale.as_deref(), timezone.as_deref(), &zone_tab);
    let defaults = Defaults {
        timezone: timezone.unwrap_or_else(|| "Etc/UTC".into()),
        keyboard: keyboard.unwrap_or_else(|| "us".into()),
        locale: locale.unwrap_or_else(|| "en_GB.UTF-8".into()),
        // Raspberry Pi Imager's default too, when nothing here says otherwise.
        country: country.unwrap_or_else(|| "GB".into()),
    };
    let mut zones = timezones(&zone_tab);
    if zones.is_empty() {
        zones = timedatectl();
    }
    let mut layouts = keyboards(&read("/usr/share/X11/xkb/rules/base.lst"));
    if layouts.is_empty() {
        layouts = keyboards(&read("/usr/share/X11/xkb/rules/evdev.lst"));
    }
    let mut countries = countries_json(&read("/usr/share/iso-codes/json/iso_3166-1.json"));
    if countries.is_empty() {
        countries = countries_tab(&read("/usr/share/zoneinfo/iso3166.tab"));
    }
    let translate = |domain: &str, list: Vec<Choice>| -> Vec<Choice> {
        let mut list: Vec<Choice> = list
            .into_iter()
            .map(|c| Choice {
                name: gettextrs::dgettext(domain, c.name.as_str()),
                value: c.value,
            })
            .collect();
        list.sort_by_key(|c| c.name.to_lowercase());
        list
    };
    let mut lists = Lists {
        timezones: plain(zones),
        keyboards: translate("xkeyboard-config", layouts),
        locales: plain(locales(&read("/usr/share/i18n/SUPPORTED"))),
        countries: translate("iso_3166-1", countries),
        defaults,
    };
    include_defaults(&mut lists);
    lists
}

/// Values shown as they are.
fn plain(values: Vec<String>) -> Vec<Choice> {
    values
        .into_iter()
        .map(|value| Choice {
            name: value.clone(),
            value,
        })
        .collect()
}

/// Puts each default into its list when the list lacks it (a system set to `Etc/UTC`, or
/// one whose lists could not be read), so it can be shown chosen.
fn include_defaults(lists: &mut Lists) {
    let d = lists.defaults.clone();
    for (list, value) in [
        (&mut lists.timezones, d.timezone),
        (&mut lists.keyboards, d.keyboard),
        (&mut lists.locales, d.locale),
        (&mut lists.countries, d.country),
    ] {
        if !list.iter().any(|c| c.value == value) {
            list.insert(
                0,
                Choice {
                    name: value.clone(),
                    value,
                },
            );
        }
    }
}

/// The zones of the tz database's `zone.tab` (its third column), sorted, with UTC.
pub fn timezones(zone_tab: &str) -> Vec<String> {
    let mut zones: Vec<String> = zone_tab
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').nth(2))
        .filter_map(|zone| check_timezone(zone.trim()).ok())
        .collect();
    if !zones.is_empty() {
        zones.push("Etc/UTC".into());
    }
    zones.sort();
    zones.dedup();
    zones
}

/// `timedatectl list-timezones`, where it is installed.
fn timedatectl() -> Vec<String> {
    std::process::Command::new("timedatectl")
        .arg("list-timezones")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|zone| check_timezone(zone.trim()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The system's time zone: `/etc/timezone`'s line, else where the `/etc/localtime` link
/// points under a `zoneinfo` folder.
pub fn default_timezone(etc_timezone: &str, localtime: Option<&Path>) -> Option<String> {
    if let Ok(zone) = check_timezone(etc_timezone.trim()) {
        return Some(zone);
    }
    let target = localtime?.to_str()?;
    let (_, zone) = target.split_once("zoneinfo/")?;
    let zone = zone
        .strip_prefix("posix/")
        .or_else(|| zone.strip_prefix("right/"))
        .unwrap_or(zone);
    check_timezone(zone).ok()
}

/// The layouts of an XKB rules list (`base.lst`): its `! layout` section's `code  name` lines.
pub fn keyboards(lst: &str) -> Vec<Choice> {
    let mut in_layouts = false;
    let mut layouts = Vec::new();
    for line in lst.lines() {
        if let Some(section) = line.strip_prefix('!') {
            in_layouts = section.trim() == "layout";
            continue;
        }
        if !in_layouts {
            continue;
        }
        let line = line.trim();
        let Some((code, name)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if let Ok(code) = check_keyboard(code) {
            layouts.push(Choice {
                value: code,
                name: name.trim().to_owned(),
            });
        }
    }
    layouts
}

/// The first layout of `XKBLAYOUT="gb,us"` in `/etc/default/keyboard`.
pub fn default_keyboard(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("XKBLAYOUT="))?;
    let value = value.trim().trim_matches(['"', '\'']);
    check_keyboard(value.split(',').next()?.trim()).ok()
}

/// The UTF-8 locales of glibc's `SUPPORTED` list (`en_GB.UTF-8 UTF-8`), sorted.
pub fn locales(supported: &str) -> Vec<String> {
    let mut locales: Vec<String> = supported
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let (name, charset) = (fields.next()?, fields.next()?);
            (charset == "UTF-8").then_some(name)
        })
        .filter_map(|name| check_locale(name).ok())
        .collect();
    locales.sort();
    locales.dedup();
    locales
}

/// `$LANG` as the settings write it (`en_GB.utf8` is `en_GB.UTF-8`); none for C or POSIX.
pub fn default_locale(lang: Option<&str>) -> Option<String> {
    let lang = lang?.trim();
    let (name, modifier) = lang.split_once('@').unwrap_or((lang, ""));
    let (base, charset) = name.split_once('.').unwrap_or((name, ""));
    if base.is_empty() || base == "C" || base == "POSIX" {
        return None;
    }
    let charset = match charset.to_ascii_lowercase().as_str() {
        "utf8" | "utf-8" => ".UTF-8".to_owned(),
        "" => String::new(),
        _ => format!(".{charset}"),
    };
    let modifier = if modifier.is_empty() {
        String::new()
    } else {
        format!("@{modifier}")
    };
    check_locale(&format!("{base}{charset}{modifier}")).ok()
}

/// The countries of iso-codes' `iso_3166-1.json`, in English (their translations are looked
/// up by that name).
pub fn countries_json(json: &str) -> Vec<Choice> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "3166-1")]
        countries: Vec<Country>,
    }
    #[derive(serde::Deserialize)]
    struct Country {
        alpha_2: String,
        name: String,
        common_name: Option<String>,
    }
    let Ok(file) = serde_json::from_str::<File>(json) else {
        return Vec::new();
    };
    file.countries
        .into_iter()
        .filter(|c| c.alpha_2.len() == 2 && c.alpha_2.bytes().all(|b| b.is_ascii_uppercase()))
        .map(|c| Choice {
            value: c.alpha_2,
            name: c.common_name.unwrap_or(c.name),
        })
        .collect()
}

/// The countries of the tz database's `iso3166.tab` (`GB<TAB>Britain (UK)`).
pub fn countries_tab(tab: &str) -> Vec<Choice> {
    tab.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .filter(|(code, _)| code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()))
        .map(|(code, name)| Choice {
            value: code.to_owned(),
            name: name.trim().to_owned(),
        })
        .collect()
}

/// The country of the locale (`en_GB.UTF-8`: GB), else the one `zone.tab` gives the time zone.
pub fn default_country(
    locale: Option<&str>,
    timezone: Option<&str>,
    zone_tab: &str,
) -> Option<String> {
    let from_locale = locale
        .and_then(|l| l.split(['.', '@']).next())
        .and_then(|l| l.split_once('_'))
        .map(|(_, country)| country)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
    if let Some(country) = from_locale {
        return Some(country.to_owned());
    }
    let zone = timezone?;
    zone_tab
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut fields = l.split('\t');
            let (code, _, name) = (fields.next()?, fields.next()?, fields.next()?);
            (name.trim() == zone).then(|| code.to_owned())
        })
}

/// A public key file of the user's, and its key or why it was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// Its path.
    pub path: PathBuf,
    /// Its file name, as shown (not UTF-8: with replacement characters).
    pub name: String,
    /// The key line, or why the file is not taken.
    pub key: Result<String, KeyRefusal>,
}

/// Why a `.pub` file is not offered as a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// It cannot be read (the system's words).
    Unreadable(String),
    /// It is not UTF-8 text.
    NotText,
    /// It is text, but not one public key line.
    NotAKey,
}

/// The largest `.pub` file read: a public key line is under 16 KiB even for RSA 16384.
const KEY_FILE_MAX: u64 = 16 * 1024;

/// The `*.pub` files in `dir` (`~/.ssh`), by name, each with its key or why it is refused.
pub fn key_files(dir: &Path) -> Vec<KeyFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<KeyFile> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = read_key(&path);
            KeyFile { path, name, key }
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The key in one `.pub` file.
pub fn read_key(path: &Path) -> Result<String, KeyRefusal> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| KeyRefusal::Unreadable(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(KEY_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| KeyRefusal::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > KEY_FILE_MAX {
        return Err(KeyRefusal::NotAKey);
    }
    let text = String::from_utf8(bytes).map_err(|_| KeyRefusal::NotText)?;
    let text = text.trim();
    if text.lines().count() != 1 {
        return Err(KeyRefusal::NotAKey);
    }
    check_key(text).map_err(|_| KeyRefusal::NotAKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_read_as_the_system_keeps_them() {
        let zone_tab = "# comment\nGB\t+513030-0000731\tEurope/London\nFR\t+4852+00220\tEurope/Paris\n\
                        XX\tbad\t../etc\n";
        assert_eq!(
            timezones(zone_tab),
            ["Etc/UTC", "Europe/London", "Europe/Paris"]
        );
        let lst = "! model\n  pc105  Generic 105-key PC\n\n! layout\n  us              \
                   English (US)\n  gb              English (UK)\n  Bad!  nope\n\n! variant\n  \
                   intl  us: English (US, intl.)\n";
        let layouts: Vec<(String, String)> = keyboards(lst)
            .into_iter()
            .map(|c| (c.value, c.name))
            .collect();
        assert_eq!(
            layouts,
            [
                ("us".to_owned(), "English (US)".to_owned()),
                ("gb".to_owned(), "English (UK)".to_owned())
            ]
        );
        let supported = "en_GB.UTF-8 UTF-8\nen_GB ISO-8859-1\nde_DE.UTF-8 UTF-8\n\
                         ca_ES@valencia UTF-8\naa_ER UTF-8\n";
        assert_eq!(
            locales(supported),
            ["aa_ER", "ca_ES@valencia", "de_DE.UTF-8", "en_GB.UTF-8"]
        );
        let json = r#"{"3166-1": [{"alpha_2": "GB", "name": "United Kingdom"},
            {"alpha_2": "BO", "name": "Bolivia, Plurinational State of", "common_name": "Bolivia"}]}"#;
        let countries: Vec<String> = countries_json(json).into_iter().map(|c| c.name).collect();
        assert_eq!(countries, ["United Kingdom", "Bolivia"]);
        assert_eq!(
            countries_tab("# c\nGB\tBritain (UK)\n")[0],
            Choice {
                value: "GB".into(),
                name: "Britain (UK)".into()
            }
        );
    }

    #[test]
    fn the_defaults_are_this_computer_s() {
        assert_eq!(
            default_timezone("Europe/Berlin\n", None).as_deref(),
            Some("Europe/Berlin")
        );
        let link = Path::new("/usr/share/zoneinfo/Europe/Paris");
        assert_eq!(
            default_timezone("", Some(link)).as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(default_timezone("", Some(Path::new("/etc/other"))), None);
        assert_eq!(
            default_keyboard("XKBMODEL=\"pc105\"\nXKBLAYOUT=\"gb,us\"\n").as_deref(),
            Some("gb")
        );
        assert_eq!(
            default_locale(Some("de_DE.utf8")).as_deref(),
            Some("de_DE.UTF-8")
        );
        assert_eq!(default_locale(Some("C.UTF-8")), None);
        assert_eq!(default_locale(None), None);
        let zone_tab = "FR\t+4852+00220\tEurope/Paris\n";
        assert_eq!(
            default_country(Some("en_GB.UTF-8"), Some("Europe/Paris"), zone_tab).as_deref(),
            Some("GB")
        );
        assert_eq!(
            default_country(None, Some("Europe/Paris"), zone_tab).as_deref(),
            Some("FR")
        );
    }

    #[test]
    fn key_files_that_are_not_one_public_key_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvYg alex@laptop";
        std::fs::write(dir.path().join("id_ed25519.pub"), format!("{key}\n")).unwrap();
        std::fs::write(dir.path().join("id_ed25519"), "private").unwrap();
        std::fs::write(dir.path().join("binary.pub"), b"\xff\xfessh-rsa").unwrap();
        std::fs::write(dir.path().join("two.pub"), format!("{key}\n{key}\n")).unwrap();
        std::fs::write(dir.path().join("junk.pub"), "hello\n").unwrap();
        let files: Vec<(String, Result<String, KeyRefusal>)> = key_files(dir.path())
            .into_iter()
            .map(|f| (f.name, f.key))
            .collect();
        assert_eq!(
            files,
            [
                ("binary.pub".into(), Err(KeyRefusal::NotText)),
                ("id_ed25519.pub".into(), Ok(key.into())),
                ("junk.pub".into(), Err(KeyRefusal::NotAKey)),
                ("two.pub".into(), Err(KeyRefusal::NotAKey)),
            ]
        );
        assert!(key_files(&dir.path().join("missing")).is_empty());
    }
}
