//! Which member of an archive is the disk image.
//!
//! With the whole member list (a local or Range-capable archive): the only file, or else the
//! only file that looks like a disk image; anything else is an error that lists the members.
//! Reading a stream, the list is not known in advance: the first file that looks like a disk
//! image is taken (bmaptool concatenates every member, which corrupts multi-file archives).

use std::io::Read;

/// The image member of an archive, opened for reading.
pub(crate) struct Member {
    /// The member's name in the archive.
    pub name: String,
    /// Its size once decompressed, when the archive says.
    pub size: Option<u64>,
    /// Its bytes, decompressed; a checksum the archive carries is checked at the end.
    pub reader: Box<dyn Read + Send>,
}

/// Extensions of disk images, after compression extensions are stripped.
const IMAGE_EXTENSIONS: &[&str] = &[
    "img",
    "raw",
    "wic",
    "iso",
    "bin",
    "sdcard",
    "sdimg",
    "hddimg",
    "rpi-sdimg",
    "ext2",
    "ext3",
    "ext4",
    "btrfs",
    "squashfs",
    "vfat",
    "dd",
];

/// Compression extensions stripped before looking at the image extension (`disk.img.xz`).
const COMPRESSION_EXTENSIONS: &[&str] = &["gz", "xz", "bz2", "zst", "lz4", "lzo"];

/// Members listed in a message before the rest are only counted.
const LISTED: usize = 12;

/// Whether a member is never a candidate: directories and macOS resource forks.
pub(crate) fn is_noise(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name.ends_with('/')
        || base.is_empty()
        || name.starts_with("__MACOSX/")
        || base.starts_with("._")
}

/// Whether a member's name looks like a disk image (`disk.img`, `disk.img.xz`, `rootfs.ext4`).
pub(crate) fn looks_like_image(name: &str) -> bool {
    if is_noise(name) {
        return false;
    }
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let mut parts: Vec<&str> = base.split('.').skip(1).collect();
    while parts
        .last()
        .is_some_and(|e| COMPRESSION_EXTENSIONS.contains(e))
    {
        parts.pop();
    }
    parts.last().is_some_and(|e| IMAGE_EXTENSIONS.contains(e))
}

/// The outcome of choosing among a complete member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// This index is the image.
    One(usize),
    /// No file at all.
    Nothing,
    /// Several files and not exactly one looks like an image: these are the candidates
    /// (all files, when none looks like an image).
    Unclear(Vec<usize>),
}

/// Chooses the image among `names` (every member of the archive, in order).
pub(crate) fn choose(names: &[&str]) -> Choice {
    let files: Vec<usize> = (0..names.len()).filter(|&i| !is_noise(names[i])).collect();
    match files.as_slice() {
        [] => Choice::Nothing,
        [only] => Choice::One(*only),
        _ => {
            let images: Vec<usize> = files
                .iter()
                .copied()
                .filter(|&i| looks_like_image(names[i]))
                .collect();
            match images.as_slice() {
                [only] => Choice::One(*only),
                [] => Choice::Unclear(files),
                _ => Choice::Unclear(images),
            }
        }
    }
}

/// Names for a message: quoted, joined, the tail counted.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        return "no files".into();
    }
    let mut text: Vec<String> = names
        .iter()
        .take(LISTED)
        .map(|n| format!("'{n}'"))
        .collect();
    if names.len() > LISTED {
        text.push(format!("and {} more", names.len() - LISTED));
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert!(looks_like_image("2024-raspios.img"));
        assert!(looks_like_image("dir/core-image.rootfs.wic.bz2"));
        assert!(looks_like_image("rootfs.EXT4"));
        assert!(!looks_like_image("README.md"));
        assert!(!looks_like_image("disk.img.bmap"));
        assert!(!looks_like_image("__MACOSX/._disk.img"));
        assert!(!looks_like_image("img"));
    }

    #[test]
    fn choosing() {
        assert_eq!(choose(&["only.bin.data"]), Choice::One(0));
        assert_eq!(
            choose(&["dir/", "README", "disk.img", "disk.img.bmap"]),
            Choice::One(2)
        );
        assert_eq!(choose(&["a.img", "b.img"]), Choice::Unclear(vec![0, 1]));
        assert_eq!(choose(&["x.txt", "y.txt"]), Choice::Unclear(vec![0, 1]));
        assert_eq!(choose(&["dir/", "__MACOSX/._a"]), Choice::Nothing);
        assert_eq!(list(["a", "b"]), "'a', 'b'");
    }
}
