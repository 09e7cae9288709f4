//! Raspberry Pi Imager's `os_list` JSON, read by hand from [`serde_json::Value`] so that each
//! wrong value is named where it is: `{"imager": {"devices": [...]}, "os_list": [...]}`, each
//! entry with `name`, `description`, `icon`, and `url` (an image: `extract_size`,
//! `extract_sha256`, `image_download_size`, `image_download_sha256`, `release_date`,
//! `devices`, `init_format`, `website`, `bmap_url`, `asc_url`), `subitems` (a folder) or `subitems_url`
//! (a link). A link's list has only `os_list` (or is a bare array, as some publishers write).
//! Fedora's and BeagleBoard's manifests are turned into this shape first ([`super::shapes`]).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{
    Board, CatalogError, CatalogErrorKind, Entry, EntryKind, Image, MAX_BYTES, MAX_DEPTH,
    MAX_ENTRIES, cut, shapes,
};
use crate::source::http::Url;

/// What a list is read with.
pub(super) struct Reader<'a> {
    /// Where it came from, for errors.
    origin: &'a str,
    /// What relative URLs are resolved against.
    base: Option<Url>,
    /// Entries read so far, links included.
    pub(super) count: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(origin: &'a str, count: usize) -> Self {
        let base = Url::parse(origin)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        Self {
            origin,
            base,
            count,
        }
    }

    fn error(&self, path: &str, kind: CatalogErrorKind) -> CatalogError {
        CatalogError {
            origin: self.origin.to_owned(),
            path: path.to_owned(),
            kind,
        }
    }

    /// A whole list: its boards and its entries, whose ids start with `prefix` and which sit
    /// `depth` folders deep.
    pub(super) fn list(
        &mut self,
        bytes: &[u8],
        prefix: &str,
        depth: usize,
    ) -> Result<(Vec<Board>, Vec<Entry>), CatalogError> {
        if bytes.len() as u64 > MAX_BYTES {
            return Err(self.error("", CatalogErrorKind::TooLarge));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| self.error("", CatalogErrorKind::Json(e.to_string())))?;
        let (boards, list) = match &value {
            Value::Array(list) if shapes::is_fedora(list) => {
                let (imager, list) = shapes::fedora(list);
                let imager = self.object(&imager, "imager")?;
                (self.boards(imager)?, list)
            }
            Value::Array(list) => (vec![], list.clone()),
            Value::Object(top) => {
                let imager = top
                    .get("imager")
                    .map(|i| self.object(i, "imager"))
                    .transpose()?;
                let boards = match imager {
                    Some(imager) => self.boards(imager)?,
                    None => vec![],
                };
                let mut list = match top.get("os_list") {
                    Some(list) => self.array(list, "os_list")?.to_vec(),
                    None => return Err(self.error("", CatalogErrorKind::Missing("os_list"))),
                };
                list.extend(imager.map(shapes::remote_configs).unwrap_or_default());
                (boards, list)
            }
            other => {
                return Err(self.error(
                    "",
                    CatalogErrorKind::Type {
                        field: "the catalog".into(),
                        wanted: "an object",
                        found: kind(other),
                    },
                ));
            }
        };
        let entries = self.entries(&list, "os_list", prefix, depth)?;
        Ok((boards, entries))
    }

    fn boards(&self, imager: &Map<String, Value>) -> Result<Vec<Board>, CatalogError> {
        let Some(devices) = imager.get("devices") else {
            return Ok(vec![]);
        };
        let devices = self.array(devices, "imager.devices")?;
        devices
            .iter()
            .enumerate()
            .map(|(i, device)| {
                let path = format!("imager.devices[{i}]");
                let device = self.object(device, &path)?;
                Ok(Board {
                    name: self.text(device, &path, "name")?.unwrap_or_default(),
                    tags: self.texts(device, &path, "tags")?,
                    exclusive: self.text(device, &path, "matching_type")?.as_deref()
                        == Some("exclusive"),
                    description: self.text(device, &path, "description")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    fn entries(
        &mut self,
        list: &[Value],
        path: &str,
        prefix: &str,
        depth: usize,
    ) -> Result<Vec<Entry>, CatalogError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(path, CatalogErrorKind::TooDeep));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(list.len().min(MAX_ENTRIES));
        // The ids taken in this folder, and for each name the next number to try: linear
        // whatever a hostile list repeats.
        let mut taken: HashSet<String> = HashSet::new();
        let mut next: HashMap<String, usize> = HashMap::new();
        for (i, value) in list.iter().enumerate() {
            self.count += 1;
            let path = format!("{path}[{i}]");
            if self.count > MAX_ENTRIES {
                return Err(self.error(&path, CatalogErrorKind::TooMany));
            }
            let entry = self.object(value, &path)?;
            let name = self
                .text(entry, &path, "name")?
                .ok_or_else(|| self.error(&path, CatalogErrorKind::Missing("name")))?;
            // Two entries of one name in a folder: the second is "-2", and so on.
            let base = format!("{prefix}{}", slug(&name));
            let mut id = base.clone();
            while taken.contains(&id) {
                let n = next.entry(base.clone()).or_insert(1);
                *n += 1;
                id = format!("{base}-{n}");
            }
            taken.insert(id.clone());
            let kind = if let Some(url) = self.url(entry, &path, "url")? {
                EntryKind::Image(Box::new(self.image(entry, &path, url)?))
            } else if let Some(children) = entry.get("subitems") {
                let children = self.array(children, &format!("{path}.subitems"))?;
                let children = self.entries(
                    children,
                    &format!("{path}.subitems"),
                    &format!("{id}/"),
                    depth + 1,
                )?;
                EntryKind::Folder(children)
            } else if let Some(link) = self.url(entry, &path, "subitems_url")? {
                EntryKind::Link(link)
            } else {
                return Err(self.error(&path, CatalogErrorKind::Empty));
            };
            entries.push(Entry {
                id,
                description: self.text(entry, &path, "description")?.unwrap_or_default(),
                icon: self.url(entry, &path, "icon").ok().flatten(),
                release_date: self.text(entry, &path, "release_date")?,
                website: self.url(entry, &path, "website")?,
                devices: self.texts(entry, &path, "devices")?,
                name,
                kind,
            });
        }
        Ok(entries)
    }

    fn image(
        &self,
        entry: &Map<String, Value>,
        path: &str,
        url: Url,
    ) -> Result<Image, CatalogError> {
        Ok(Image {
            url,
            extract_sha256: self.digest(entry, path, "extract_sha256")?,
            extract_size: self.size(entry, path, "extract_size")?,
            download_sha256: self.digest(entry, path, "image_download_sha256")?,
            download_size: self.size(entry, path, "image_download_size")?,
            bmap_url: self.url(entry, path, "bmap_url")?,
            signature_url: self.url(entry, path, "asc_url")?,
            init_format: self.text(entry, path, "init_format")?,
        })
    }

    fn object<'v>(
        &self,
        value: &'v Value,
        path: &str,
    ) -> Result<&'v Map<String, Value>, CatalogError> {
        value.as_object().ok_or_else(|| {
            self.error(
                path,
                CatalogErrorKind::Type {
                    field: path.to_owned(),
                    wanted: "an object",
                    found: kind(value),
                },
            )
        })
    }

    fn array<'v>(&self, value: &'v Value, path: &str) -> Result<&'v [Value], CatalogError> {
        value.as_array().map(Vec::as_slice).ok_or_else(|| {
            self.error(
                path,
                CatalogErrorKind::Type {
                    field: path.to_owned(),
                    wanted: "a list",
                    found: kind(value),
                },
            )
        })
    }

    /// A text field; `null` counts as missing.
    fn text(
        &self,
        entry: &Map<String, Value>,
        path: &str,
        field: &str,
    ) -> Result<Option<String>, CatalogError> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(path, field, "text", other)),
        }
    }

    /// A list of texts; a missing one is empty.
    fn texts(
        &self,
        entry: &Map<String, Value>,
        path: &str,
        field: &str,
    ) -> Result<Vec<String>, CatalogError> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(path, field, "a list of texts", other)),
                })
                .collect(),
            Some(other) => Err(self.wrong(path, field, "a list of texts", other)),
        }
    }

    fn size(
        &self,
        entry: &Map<String, Value>,
        path: &str,
        field: &str,
    ) -> Result<Option<u64>, CatalogError> {
        match entry.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                self.wrong(path, field, "a size in bytes", &Value::Number(n.clone()))
            }),
            Some(other) => Err(self.wrong(path, field, "a size in bytes", other)),
        }
    }

    fn digest(
        &self,
        entry: &Map<String, Value>,
        path: &str,
        field: &str,
    ) -> Result<Option<[u8; 32]>, CatalogError> {
        let Some(text) = self.text(entry, path, field)? else {
            return Ok(None);
        };
        parse_sha256(&text).map(Some).ok_or_else(|| {
            self.error(
                path,
                CatalogErrorKind::Digest {
                    field: field.to_owned(),
                    value: cut(&text),
                },
            )
        })
    }

    /// An http(s) URL, absolute or relative to the catalog's own address.
    fn url(
        &self,
        entry: &Map<String, Value>,
        path: &str,
        field: &str,
    ) -> Result<Option<Url>, CatalogError> {
        let Some(text) = self.text(entry, path, field)? else {
            return Ok(None);
        };
        let parsed = match &self.base {
            Some(base) => base.join(&text).ok(),
            None => Url::parse(&text).ok(),
        };
        parsed
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .map(Some)
            .ok_or_else(|| {
                self.error(
                    path,
                    CatalogErrorKind::Url {
                        field: field.to_owned(),
                        value: cut(&text),
                    },
                )
            })
    }

    fn wrong(&self, path: &str, field: &str, wanted: &'static str, found: &Value) -> CatalogError {
        self.error(
            path,
            CatalogErrorKind::Type {
                field: field.to_owned(),
                wanted,
                found: kind(found),
            },
        )
    }
}

/// "a number", "a list", … for errors.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// 64 hexadecimal digits (either case) as 32 bytes.
pub(super) fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 || !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

/// An id part from a name: lower-case letters and digits, dashes between the words.
pub(super) fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "entry".into()
    } else {
        out.to_owned()
    }
}

/// A list read from `bytes` (see [`Reader::list`]).
pub(super) fn parse(
    bytes: &[u8],
    origin: &str,
    count: usize,
) -> Result<(Vec<Board>, Vec<Entry>), CatalogError> {
    Reader::new(origin, count).list(bytes, "", 0)
}
