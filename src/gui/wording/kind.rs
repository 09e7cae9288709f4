//! What the image is, in words: the Image step's row about an image that will not work
//! written as it is (a Windows installer, a file that is no disk image, an ISO made for DVDs
//! only), and the warning the erase confirmation repeats.

use blockprint::identify::{Advice, Identity, Looks};
use gettextrs::gettext;

use super::signature::Tone;
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::page::Row;

/// The Image step's row about what the image is, and its tone; `None` for an ordinary disk
/// image (or one that could not be told).
pub fn describe(identity: &Identity) -> Option<(Row, Tone)> {
    let tone = match identity.advice() {
        Advice::Fine => return None,
        Advice::Note => Tone::Plain,
        Advice::Warn => Tone::Warning,
        Advice::Refuse => Tone::Refused,
    };
    let row = match identity {
        Identity::WindowsInstaller { .. } => Row {
            title: gettext("This Is a Windows Installer"),
            subtitle: gettext(
                "Written to a USB stick as it is, it will not start a computer. Use \
                 Microsoft’s Media Creation Tool, or a tool made for Windows sticks such as \
                 WoeUSB or Ventoy.",
            ),
        },
        Identity::NotADiskImage { looks_like } => Row {
            title: gettext("This Is Not a Disk Image"),
            subtitle: gettext_f(
                // Translators: {what} is what the file is, such as "a PDF document"; {then}
                // says what to do instead.
                "It is {what}. Written to a drive, it makes the drive unusable. {then}",
                &[("what", &looks(looks_like)), ("then", &instead(looks_like))],
            ),
        },
        Identity::OpticalOnlyIso { .. } => Row {
            title: gettext("Made for DVDs Only"),
            subtitle: gettext(
                "This ISO image has no partition table, so most computers will not start \
                 from it on a USB stick or card: only from a CD or DVD.",
            ),
        },
        Identity::BareFilesystem { fs } => Row {
            title: gettext_f(
                // Translators: {fs} is a filesystem such as "ext2/3/4" or "FAT".
                "A Bare {fs} Filesystem",
                &[("fs", fs)],
            ),
            subtitle: gettext(
                "It has no partition table: the drive will hold just this filesystem, which \
                 computers can read but few start from.",
            ),
        },
        _ => return None,
    };
    Some((row, tone))
}

/// What the erase confirmation adds for an image that will not work written as it is.
pub fn confirmation(identity: &Identity) -> Option<String> {
    match identity {
        Identity::WindowsInstaller { .. } => Some(gettext(
            "This is a Windows installer: written as it is, the drive will not start a \
             computer.",
        )),
        Identity::NotADiskImage { looks_like } => Some(gettext_f(
            // Translators: {what} is what the file is, such as "a PDF document".
            "This is {what}, not a disk image: the drive will not be usable.",
            &[("what", &looks(looks_like))],
        )),
        Identity::OpticalOnlyIso { .. } => Some(gettext(
            "This ISO image is made for DVDs: most computers will not start from the drive.",
        )),
        _ => None,
    }
}

/// "a PDF document", "a ZIP archive of 12 files".
fn looks(looks: &Looks) -> String {
    match looks {
        Looks::Pdf => gettext("a PDF document"),
        Looks::OfficeOrMsi => gettext("an Office document or a Windows Installer package"),
        Looks::WindowsProgram => gettext("a Windows program"),
        Looks::ElfProgram => gettext("a Linux program"),
        Looks::MacProgram => gettext("a macOS program"),
        Looks::DebianPackage => gettext("a Debian package"),
        Looks::RpmPackage => gettext("an RPM package"),
        Looks::ArArchive => gettext("an ar archive"),
        Looks::Zip { files: Some(n) } => ngettext_f(
            "a ZIP archive of {n} file",
            "a ZIP archive of {n} files",
            *n,
            &[("n", &n.to_string())],
        ),
        Looks::Zip { files: None } => gettext("a ZIP archive"),
        Looks::Tar { files: Some(n) } => ngettext_f(
            "a tar archive of {n} file",
            "a tar archive of {n} files",
            *n,
            &[("n", &n.to_string())],
        ),
        Looks::Tar { files: None } => gettext("a tar archive"),
        Looks::Html => gettext("a web page"),
        Looks::Text => gettext("a text file"),
        Looks::Picture { format } => gettext_f(
            // Translators: {format} is "PNG", "JPEG", …
            "a {format} picture",
            &[("format", format)],
        ),
        Looks::Media { format } => gettext_f(
            // Translators: {format} is "MP4", "MP3", …
            "an audio or video file ({format})",
            &[("format", format)],
        ),
        Looks::Compressed { format } => gettext_f(
            // Translators: {format} is "7-Zip", "RAR", …
            "a {format} archive",
            &[("format", format)],
        ),
        Looks::VirtualDisk { format } => gettext_f(
            // Translators: {format} is "QCOW2", "VMDK", …
            "a virtual machine’s disk ({format})",
            &[("format", format)],
        ),
        Looks::Empty => gettext("an empty file"),
        Looks::Tiny { bytes } => ngettext_f(
            "a file of only {n} byte",
            "a file of only {n} bytes",
            *bytes,
            &[("n", &bytes.to_string())],
        ),
        _ => gettext("a file of another kind"),
    }
}

/// What to do instead of writing it.
fn instead(looks: &Looks) -> String {
    match looks {
        Looks::Zip { .. } | Looks::Tar { .. } | Looks::ArArchive | Looks::Compressed { .. } => {
            gettext("Extract it, and write the disk image inside if there is one.")
        }
        Looks::VirtualDisk { .. } => {
            gettext("Convert it to a raw disk image first, for example with qemu-img.")
        }
        Looks::Html => gettext(
            "The download link probably led to a page instead of the image: download the \
             image itself.",
        ),
        Looks::DebianPackage | Looks::RpmPackage => {
            gettext("Install it with your software manager instead.")
        }
        Looks::Empty | Looks::Tiny { .. } => {
            gettext("The download probably failed: download the image again.")
        }
        _ => gettext("Choose the disk image itself (.img, .iso or .wic, often compressed)."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_that_will_not_work_is_named_with_what_to_do() {
        let windows = Identity::WindowsInstaller {
            volume: "CCCOMA_X64FRE_EN-US_DV9".into(),
            evidence: vec!["sources/install.wim".into(), "bootmgr".into()],
        };
        let (row, tone) = describe(&windows).expect("a row");
        assert_eq!(tone, Tone::Refused);
        assert_eq!(row.title, "This Is a Windows Installer");
        assert!(
            row.subtitle.contains("Media Creation Tool"),
            "{}",
            row.subtitle
        );
        assert!(confirmation(&windows).is_some());

        let zip = Identity::NotADiskImage {
            looks_like: Looks::Zip { files: Some(12) },
        };
        let (row, tone) = describe(&zip).expect("a row");
        assert_eq!(tone, Tone::Refused);
        assert_eq!(
            row.subtitle,
            "It is a ZIP archive of 12 files. Written to a drive, it makes the drive unusable. \
             Extract it, and write the disk image inside if there is one."
        );
        let page = Identity::NotADiskImage {
            looks_like: Looks::Html,
        };
        assert!(
            describe(&page)
                .unwrap()
                .0
                .subtitle
                .contains("led to a page")
        );

        let (_, tone) = describe(&Identity::OpticalOnlyIso { volume: "x".into() }).unwrap();
        assert_eq!(tone, Tone::Warning);
        let (row, tone) = describe(&Identity::BareFilesystem {
            fs: "ext2/3/4".into(),
        })
        .unwrap();
        assert_eq!(
            (row.title.as_str(), tone),
            ("A Bare ext2/3/4 Filesystem", Tone::Plain)
        );
        assert!(
            describe(&Identity::Unknown).is_none(),
            "raw data is written without a word"
        );
        let disk = Identity::Disk {
            table: blockprint::identify::TableKind::Gpt,
        };
        assert!(describe(&disk).is_none() && confirmation(&disk).is_none());
    }
}
