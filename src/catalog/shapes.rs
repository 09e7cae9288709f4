//! Other projects' manifests, turned into Raspberry Pi Imager's shape before it is read (so
//! every check and error of [`super::rpi`] applies to them too):
//!
//! - Fedora's `releases.json`: a bare array of `{version, arch, link, variant, subvariant,
//!   sha256, size}`. Each subvariant (Workstation, KDE, Server…) becomes a folder of its
//!   releases, each architecture a board, and only what is written to a stick or card is kept
//!   (`.iso`, `.raw.xz`, `.img.xz`; cloud and container images are not).
//! - BeagleBoard Imager's `config.json`: the Raspberry Pi shape with `imager.remote_configs`,
//!   more lists to show, which become links read when opened.

use serde_json::{Map, Value, json};

/// Whether `list` is Fedora's `releases.json`: its objects have a `link` and a `subvariant`.
pub(super) fn is_fedora(list: &[Value]) -> bool {
    list.first()
        .and_then(Value::as_object)
        .is_some_and(|o| o.contains_key("link") && o.contains_key("subvariant"))
}

/// Fedora's releases as boards (one per architecture) and a list of folders.
pub(super) fn fedora(list: &[Value]) -> (Value, Vec<Value>) {
    let text =
        |o: &Map<String, Value>, key: &str| o.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut arches: Vec<String> = Vec::new();
    let mut folders: Vec<(String, Vec<Value>)> = Vec::new();
    for release in list {
        let Some(o) = release.as_object() else {
            // Left as it is, for the reader to name.
            folders.push((String::new(), vec![release.clone()]));
            continue;
        };
        let link = text(o, "link").unwrap_or_default();
        let media = [".iso", ".raw.xz", ".img.xz"]
            .iter()
            .any(|x| link.ends_with(x));
        if !media {
            continue;
        }
        let arch = text(o, "arch").unwrap_or_default();
        let subvariant = text(o, "subvariant").unwrap_or_else(|| "Fedora".into());
        let version = text(o, "version").unwrap_or_default();
        if !arches.contains(&arch) {
            arches.push(arch.clone());
        }
        // Fedora writes the size as a string of digits.
        let size = match o.get("size") {
            Some(Value::String(s)) => s
                .parse::<u64>()
                .map_or_else(|_| Value::String(s.clone()), Value::from),
            Some(other) => other.clone(),
            None => Value::Null,
        };
        let entry = json!({
            "name": format!("Fedora {subvariant} {version} ({arch})"),
            "description": text(o, "variant").unwrap_or_default(),
            "url": link,
            "image_download_sha256": o.get("sha256").cloned().unwrap_or(Value::Null),
            "image_download_size": size,
            "devices": [arch],
        });
        match folders.iter_mut().find(|(name, _)| *name == subvariant) {
            Some((_, entries)) => entries.push(entry),
            None => folders.push((subvariant, vec![entry])),
        }
    }
    let boards: Vec<Value> = arches
        .iter()
        .map(|arch| json!({"name": arch, "tags": [arch], "matching_type": "exclusive"}))
        .collect();
    let list = folders
        .into_iter()
        .map(|(name, entries)| match name.as_str() {
            "" => entries.into_iter().next().unwrap_or(Value::Null),
            _ => json!({"name": format!("Fedora {name}"), "description": "", "subitems": entries}),
        })
        .collect();
    (json!({"devices": boards}), list)
}

/// BeagleBoard's `imager.remote_configs`, as links at the end of the list. A value that is not
/// a string is kept as a link the reader refuses, naming it.
pub(super) fn remote_configs(imager: &Map<String, Value>) -> Vec<Value> {
    let Some(Value::Array(configs)) = imager.get("remote_configs") else {
        return vec![];
    };
    configs
        .iter()
        .map(|config| {
            let name = config
                .as_str()
                .map(|url| url.split_once("://").map_or(url, |(_, rest)| rest))
                .unwrap_or("list");
            json!({"name": name, "description": "", "subitems_url": config})
        })
        .collect()
}
