//! Finding the bmap and its detached signature next to an image, by bmaptool's rules.
//!
//! For `disk.img.gz` the bmap candidates are `disk.img.gz.bmap`, `disk.img.bmap`, `disk.bmap`:
//! `.bmap` appended to the image name, then to the name with one extension after another
//! stripped (Python's `os.path.splitext`: a leading dot does not start an extension). Only the
//! image's own directory is searched. Signature candidates are `BMAP.asc`, `BMAP.sig` and
//! `BMAP.gpg`. For a URL the rules apply to the last segment of its path, and the query string
//! stays (`…/disk.img.xz?token=1` → `…/disk.img.bmap?token=1`); for ssh, to the remote path.

mod checked;

use std::ffi::{OsStr, OsString};

pub use checked::{
    BmapChoice, Checked, DiscoverError, Lookup, SIGNATURE_LIMIT, check, fetch_checked, find_checked,
};

use crate::source::{Input, SshLocation};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Every path bmaptool would try for the bmap of `image`, in order.
pub fn bmap_candidates(image: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    let Some(name) = image.file_name() else {
        return candidates;
    };
    let mut stem = name.as_bytes().to_vec();
    loop {
        let mut candidate = stem.clone();
        candidate.extend_from_slice(b".bmap");
        candidates.push(image.with_file_name(OsString::from_vec(candidate)));
        match split_extension(&stem) {
            Some(shorter) => stem.truncate(shorter),
            None => break,
        }
    }
    candidates
}

/// The first bmap candidate that exists as a file.
pub fn find_bmap(image: &Path) -> Option<PathBuf> {
    bmap_candidates(image).into_iter().find(|p| p.is_file())
}

/// Every path tried for a detached signature of `bmap`, in order.
pub fn signature_candidates(bmap: &Path) -> Vec<PathBuf> {
    [".asc", ".sig", ".gpg"]
        .into_iter()
        .map(|ext| {
            let mut name = bmap.as_os_str().to_os_string();
            name.push(OsStr::new(ext));
            PathBuf::from(name)
        })
        .collect()
}

/// The first signature candidate that exists as a file.
pub fn find_signature(bmap: &Path) -> Option<PathBuf> {
    signature_candidates(bmap).into_iter().find(|p| p.is_file())
}

/// The bmap candidates for an image anywhere, in order; none for standard input.
pub fn bmap_candidates_for(image: &Input) -> Vec<Input> {
    match image {
        // The catalog's own bmap first, then one next to the image on its server.
        Input::Catalog(chosen) => {
            let named = chosen.image.bmap_url.clone().map(Input::Url);
            let next_to = bmap_candidates_for(&Input::Url(chosen.image.url.clone()));
            named.into_iter().chain(next_to).collect()
        }
        Input::Path(path) => bmap_candidates(path).into_iter().map(Input::Path).collect(),
        Input::Stdin => Vec::new(),
        Input::Url(_) | Input::Ssh(_) => {
            let Some(name) = last_segment(image) else {
                return Vec::new();
            };
            let mut stem = name.into_bytes();
            let mut candidates = Vec::new();
            loop {
                let mut candidate = stem.clone();
                candidate.extend_from_slice(b".bmap");
                if let Some(input) = String::from_utf8(candidate)
                    .ok()
                    .and_then(|c| with_last_segment(image, &c))
                {
                    candidates.push(input);
                }
                match split_extension(&stem) {
                    Some(shorter) => stem.truncate(shorter),
                    None => break,
                }
            }
            candidates
        }
    }
}

/// The signature candidates for a bmap anywhere, in order.
pub fn signature_candidates_for(bmap: &Input) -> Vec<Input> {
    match bmap {
        Input::Path(path) => signature_candidates(path)
            .into_iter()
            .map(Input::Path)
            .collect(),
        Input::Stdin => Vec::new(),
        Input::Catalog(chosen) => signature_candidates_for(&Input::Url(chosen.image.url.clone())),
        Input::Url(_) | Input::Ssh(_) => {
            let Some(name) = last_segment(bmap) else {
                return Vec::new();
            };
            [".asc", ".sig", ".gpg"]
                .into_iter()
                .filter_map(|ext| with_last_segment(bmap, &format!("{name}{ext}")))
                .collect()
        }
    }
}

/// The file name at the end of a URL's path or a remote path.
fn last_segment(input: &Input) -> Option<String> {
    let path = match input {
        Input::Url(url) => url.path().to_owned(),
        Input::Ssh(location) => location.path.clone(),
        Input::Path(_) | Input::Stdin | Input::Catalog(_) => return None,
    };
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `input` with the last segment of its path replaced by `name` (query string kept).
fn with_last_segment(input: &Input, name: &str) -> Option<Input> {
    match input {
        Input::Url(url) => {
            let mut url = url.clone();
            url.path_segments_mut().ok()?.pop().push(name);
            Some(Input::Url(url))
        }
        Input::Ssh(location) => {
            let dir = location.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            Some(Input::Ssh(SshLocation {
                path: format!("{dir}/{name}"),
                ..location.clone()
            }))
        }
        Input::Path(_) | Input::Stdin | Input::Catalog(_) => None,
    }
}

/// Where the last extension of a file name starts, as `os.path.splitext` decides: at the last
/// dot that has a non-dot character before it. `None` when there is no extension.
fn split_extension(name: &[u8]) -> Option<usize> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    name[..dot].iter().any(|&b| b != b'.').then_some(dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(image: &str) -> Vec<String> {
        bmap_candidates(Path::new(image))
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn strips_extensions_one_by_one() {
        assert_eq!(
            names("/srv/disk.img.gz"),
            [
                "/srv/disk.img.gz.bmap",
                "/srv/disk.img.bmap",
                "/srv/disk.bmap"
            ]
        );
        assert_eq!(names("plain"), ["plain.bmap"]);
        // A leading dot is not an extension; dots in directory names do not count.
        assert_eq!(names("/a.b/.hidden"), ["/a.b/.hidden.bmap"]);
        assert_eq!(names(".x.wic"), [".x.wic.bmap", ".x.bmap"]);
        // splitext("a.") is ("a", "."): the bare dot is an extension too.
        assert_eq!(names("a."), ["a..bmap", "a.bmap"]);
    }

    #[test]
    fn url_candidates_keep_the_query_string() {
        let image = Input::parse("https://h.example/dl/disk.img.xz?token=1").expect("url");
        let names: Vec<String> = bmap_candidates_for(&image)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "https://h.example/dl/disk.img.xz.bmap?token=1",
                "https://h.example/dl/disk.img.bmap?token=1",
                "https://h.example/dl/disk.bmap?token=1",
            ]
        );
        let bmap = Input::parse("https://h.example/dl/disk.img.bmap").expect("url");
        let sigs: Vec<String> = signature_candidates_for(&bmap)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(sigs[0], "https://h.example/dl/disk.img.bmap.asc");
        assert!(bmap_candidates_for(&Input::Stdin).is_empty());
    }

    #[test]
    fn ssh_candidates_use_the_remote_path() {
        let image = Input::parse("ssh://pi@board/srv/out.wic.bz2").expect("ssh");
        let names: Vec<String> = bmap_candidates_for(&image)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(names[1], "ssh://pi@board/srv/out.wic.bmap");
    }

    #[test]
    fn a_catalog_image_tries_the_catalogs_bmap_first() {
        let url = |text| crate::source::http::Url::parse(text).expect("url");
        let image = Input::Catalog(Box::new(crate::catalog::Chosen {
            id: "os".into(),
            name: "OS".into(),
            release_date: None,
            catalog: "https://h.example/list.json".into(),
            image: crate::catalog::Image {
                url: url("https://h.example/dl/os.img.xz"),
                extract_sha256: None,
                extract_size: None,
                download_sha256: None,
                download_size: None,
                bmap_url: Some(url("https://maps.example/os.bmap")),
                signature_url: None,
                init_format: None,
            },
        }));
        let names: Vec<String> = bmap_candidates_for(&image)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "https://maps.example/os.bmap",
                "https://h.example/dl/os.img.xz.bmap",
                "https://h.example/dl/os.img.bmap",
                "https://h.example/dl/os.bmap",
            ]
        );
    }

    #[test]
    fn signature_names() {
        let c = signature_candidates(Path::new("/x/disk.img.bmap"));
        assert_eq!(
            c,
            [
                PathBuf::from("/x/disk.img.bmap.asc"),
                PathBuf::from("/x/disk.img.bmap.sig"),
                PathBuf::from("/x/disk.img.bmap.gpg"),
            ]
        );
    }
}
