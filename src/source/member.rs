//! Which member of an archive is the disk image.
//!
//! With the whole member list (a local or Range-capable archive): the only file, or else the
//! only file that looks like a disk image; anything else is an error that lists the members.
//! Reading a stream, the list is not known in advance: the first file that looks like a disk
//! image is taken (bmaptool concatenates every member, which corrupts multi-file archives).

use std::io::{self, Read};

use super::{Format, SourceError};

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

/// Files up to this size that are not named like a disk image are held in memory while a
/// stream is read on: the image if the archive holds nothing else. Larger, such a file is
/// read as the image at once, and must then turn out to be the archive's only file.
pub(crate) const HOLD: u64 = 16 << 20;

/// A member name is shown with at most this many characters (PATH_MAX is 4096 bytes).
const SHOWN_CHARS: usize = 256;

/// Member names for a message: the first few, shortened, and a count of the rest, so that an
/// archive of a million long names costs no more than one of twelve short ones.
#[derive(Debug, Default)]
pub(crate) struct Names {
    shown: Vec<String>,
    more: u64,
}

impl Names {
    /// Notes one more name.
    pub(crate) fn push(&mut self, name: &str) {
        if self.shown.len() < LISTED {
            let mut short: String = name.chars().take(SHOWN_CHARS).collect();
            if short.len() < name.len() {
                short.push('…');
            }
            self.shown.push(short);
        } else {
            self.more += 1;
        }
    }

    /// How many names were noted.
    pub(crate) fn count(&self) -> u64 {
        self.shown.len() as u64 + self.more
    }

    /// The names, quoted and joined, the tail counted.
    pub(crate) fn list(&self) -> String {
        if self.shown.is_empty() {
            return "no files".into();
        }
        let mut text: Vec<String> = self.shown.iter().map(|n| format!("'{n}'")).collect();
        if self.more > 0 {
            text.push(format!("and {} more", self.more));
        }
        text.join(", ")
    }
}

/// Chooses the image among an archive's whole member list, seen one member at a time: the
/// only file, or else the only file named like a disk image. Keeps two members at most.
pub(crate) struct Chooser<T> {
    all: Names,
    files: Names,
    first_file: Option<T>,
    images: Names,
    first_image: Option<T>,
}

impl<T> Default for Chooser<T> {
    fn default() -> Self {
        Self {
            all: Names::default(),
            files: Names::default(),
            first_file: None,
            images: Names::default(),
            first_image: None,
        }
    }
}

impl<T> Chooser<T> {
    /// A member that holds no file data (a directory, a link): named in messages only.
    pub(crate) fn other(&mut self, name: &str) {
        self.all.push(name);
    }

    /// A member with file data; `item` is what [`Chooser::finish`] returns if it is the image.
    pub(crate) fn file(&mut self, name: &str, item: T) {
        self.all.push(name);
        if is_noise(name) {
            return;
        }
        self.files.push(name);
        if looks_like_image(name) {
            self.images.push(name);
            self.first_image.get_or_insert(item);
        } else if self.first_file.is_none() {
            self.first_file = Some(item);
        }
    }

    /// The image, or why there is none (`archive` and `format` name the archive).
    pub(crate) fn finish(self, archive: &str, format: Format) -> Result<T, SourceError> {
        let no_image = |members: &Names| SourceError::NoImageMember {
            name: archive.to_owned(),
            format,
            members: members.list(),
        };
        match (self.files.count(), self.images.count()) {
            (0, _) => Err(no_image(&self.all)),
            (1, 1) => self.first_image.ok_or_else(|| no_image(&self.all)),
            (1, _) => self.first_file.ok_or_else(|| no_image(&self.all)),
            (_, 1) => self.first_image.ok_or_else(|| no_image(&self.all)),
            (_, 0) => Err(no_image(&self.files)),
            _ => Err(SourceError::AmbiguousMember {
                name: archive.to_owned(),
                format,
                members: self.images.list(),
            }),
        }
    }
}

/// What to do with a file member met while reading an archive forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Named like a disk image: it is the image (the first such is taken).
    Image,
    /// The first file, not named like an image and larger than [`HOLD`]: it is read as the
    /// image, and no other file may follow it.
    OnlyFile,
    /// The first file, not named like an image, of at most [`HOLD`] bytes (or of a size not
    /// known yet): keep it in memory, it is the image if no other file follows. Should it
    /// turn out larger, it is read as the image as with [`Step::OnlyFile`].
    Hold,
    /// Pass over it.
    Pass,
}

/// Choosing the image while reading an archive forward, where the rest of the list is not
/// known yet: the same rule as [`Chooser`], decided as early as a stream allows.
#[derive(Debug, Default)]
pub(crate) struct Forward {
    all: Names,
    files: Names,
}

impl Forward {
    /// A member that holds no file data: named in messages only.
    pub(crate) fn other(&mut self, name: &str) {
        self.all.push(name);
    }

    /// A member with file data, of `size` bytes when the archive says so before the data.
    pub(crate) fn file(&mut self, name: &str, size: Option<u64>) -> Step {
        self.all.push(name);
        if is_noise(name) {
            return Step::Pass;
        }
        self.files.push(name);
        if looks_like_image(name) {
            Step::Image
        } else if self.files.count() > 1 {
            Step::Pass
        } else if size.is_none_or(|size| size <= HOLD) {
            Step::Hold
        } else {
            Step::OnlyFile
        }
    }

    /// At the end of the archive with no image taken: the held file if it was the only
    /// file (`held` is true when one is held), or why there is none.
    pub(crate) fn finish(
        self,
        archive: &str,
        format: Format,
        held: bool,
    ) -> Result<(), SourceError> {
        if held && self.files.count() == 1 {
            return Ok(());
        }
        let members = if self.files.count() == 0 {
            &self.all
        } else {
            &self.files
        };
        Err(SourceError::NoImageMember {
            name: archive.to_owned(),
            format,
            members: members.list(),
        })
    }
}

/// The error for a file found after one read as the archive's only file: `first` was not
/// named like a disk image, so it may be the image only if nothing else is in the archive.
pub(crate) fn not_the_only_file(
    archive: &str,
    format: Format,
    first: &str,
    next: &str,
) -> io::Error {
    let mut names = Names::default();
    names.push(first);
    names.push(next);
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{format} archive '{archive}' holds more than one file ({}) and none is named like \
             a disk image (.img, .iso, .wic, …), so which is the image cannot be told; extract \
             the image and write that",
            names.list()
        ),
    )
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

    fn chosen(members: &[&str]) -> Result<usize, String> {
        let mut chooser = Chooser::default();
        for (index, name) in members.iter().enumerate() {
            if name.ends_with('/') {
                chooser.other(name);
            } else {
                chooser.file(name, index);
            }
        }
        chooser.finish("a", Format::Tar).map_err(|e| e.to_string())
    }

    #[test]
    fn choosing() {
        assert_eq!(chosen(&["only.bin.data"]), Ok(0));
        assert_eq!(chosen(&["dir/", "img"]), Ok(1));
        assert_eq!(
            chosen(&["dir/", "README", "disk.img", "disk.img.bmap"]),
            Ok(2)
        );
        let several = chosen(&["a.img", "b.img"]).expect_err("two images");
        assert!(
            several.contains("several disk images ('a.img', 'b.img')"),
            "{several}"
        );
        let none = chosen(&["x.txt", "y.txt"]).expect_err("no image");
        assert!(
            none.contains("no disk image member (it holds 'x.txt', 'y.txt')"),
            "{none}"
        );
        let empty = chosen(&["dir/", "__MACOSX/._a"]).expect_err("no files");
        assert!(
            empty.contains("(it holds 'dir/', '__MACOSX/._a')"),
            "{empty}"
        );
    }

    /// F4: a million long names cost a dozen short ones, in memory and in the message.
    #[test]
    fn names_are_bounded() {
        let mut names = Names::default();
        let long = "a".repeat(1 << 20);
        for _ in 0..1000 {
            names.push(&long);
        }
        assert_eq!(names.count(), 1000);
        let text = names.list();
        assert!(
            text.len() < LISTED * (SHOWN_CHARS + 8) + 20,
            "{} bytes",
            text.len()
        );
        assert!(
            text.ends_with("and 988 more"),
            "{}",
            &text[text.len() - 20..]
        );
    }

    #[test]
    fn reading_forward() {
        let mut forward = Forward::default();
        forward.other("boot/");
        assert_eq!(forward.file("README", Some(10)), Step::Hold);
        assert_eq!(forward.file("disk.img", Some(10)), Step::Image);
        let mut forward = Forward::default();
        assert_eq!(forward.file("img", Some(HOLD + 1)), Step::OnlyFile);
        let mut forward = Forward::default();
        assert_eq!(forward.file("img", None), Step::Hold);
        let mut forward = Forward::default();
        assert_eq!(forward.file("notes", Some(1)), Step::Hold);
        assert!(forward.finish("a", Format::Zip, true).is_ok());
        let mut forward = Forward::default();
        assert_eq!(forward.file("notes", Some(1)), Step::Hold);
        assert_eq!(forward.file("more", Some(HOLD * 2)), Step::Pass);
        let text = forward
            .finish("a", Format::Zip, true)
            .expect_err("two files")
            .to_string();
        assert!(text.contains("(it holds 'notes', 'more')"), "{text}");
    }
}
