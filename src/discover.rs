//! Finding the bmap and its detached signature next to an image, by bmaptool's rules.
//!
//! For `disk.img.gz` the bmap candidates are `disk.img.gz.bmap`, `disk.img.bmap`, `disk.bmap`:
//! `.bmap` appended to the image name, then to the name with one extension after another
//! stripped (Python's `os.path.splitext`: a leading dot does not start an extension). Only the
//! image's own directory is searched. Signature candidates are `BMAP.asc`, `BMAP.sig` and
//! `BMAP.gpg`.

use std::ffi::{OsStr, OsString};
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
