//! `copy` tells what an image is before anything is written, from images made by the real
//! tools: a Windows installer ISO (xorriso, genisoimage's UDF) is refused, and written with
//! --force; a non-hybrid ISO is warned about; Debian's hybrid rescue ISO passes without a
//! word; a PDF, a .deb, a zip of text files, a tar of a folder and a gzipped PDF are refused
//! saying what they are; a bare ext4 filesystem is noted and written. A refused image leaves
//! no destination file behind.

use std::path::{Path, PathBuf};

use crate::harness::support::{Run, blockprint, require_tool, scratch, sh};

/// Debian's hybrid rescue ISO, from the grub-rescue-pc package.
const RESCUE_ISO: &str = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso";

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `blockprint copy --nobmap IMAGE DEST` (with `extra` options first).
fn copy(image: &str, dest: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["copy", "--nobmap"];
    args.extend_from_slice(extra);
    args.extend([image, s(dest)]);
    blockprint(args)
}

/// Asserts a refusal: exit 1, one error line equal to `blockprint: error: {line}`, and no
/// destination file.
#[track_caller]
fn assert_refused(run: &Run, line: &str, dest: &Path) {
    let error = run.fails_with(&[]);
    assert_eq!(
        error,
        format!("blockprint: error: {line}"),
        "{}",
        run.stderr
    );
    assert!(!dest.exists(), "a refused image created {}", dest.display());
}

/// Asserts a written copy: exit 0, the destination equal to `image`; returns stderr.
#[track_caller]
fn assert_written<'a>(run: &'a Run, image: &Path, dest: &Path) -> &'a str {
    let stderr = run.ok();
    assert_eq!(
        std::fs::read(dest).unwrap(),
        std::fs::read(image).unwrap(),
        "{stderr}"
    );
    stderr
}

/// A folder in `dir` holding `files` (paths and contents).
fn tree(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = dir.join(name);
    for (path, content) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    root
}

/// A Windows installer's files, as an installer ISO holds them.
const WINDOWS_FILES: &[(&str, &str)] = &[
    ("sources/install.wim", "not really a Windows image"),
    ("sources/boot.wim", "nor this"),
    ("bootmgr", "boot manager"),
    ("README.TXT", "read me"),
];

const WINDOWS_VOLUME: &str = "CCCOMA_X64FRE_EN-US_DV9";

fn windows_refusal(image: &Path, volume: &str) -> String {
    format!(
        "image '{}': this is a Windows installer ISO (volume '{volume}': sources/install.wim, bootmgr): written raw to a USB stick it will not boot; use Microsoft's Media Creation Tool or a tool that makes a Windows stick (WoeUSB, Ventoy), or write it anyway with --force",
        s(image)
    )
}

/// A Windows-like installer ISO made by xorriso in `dir` (ISO 9660 with Joliet, no MBR).
pub(crate) fn windows_iso(dir: &Path) -> PathBuf {
    require_tool("xorriso");
    let files = tree(dir, "win", WINDOWS_FILES);
    let iso = dir.join("Win11_24H2_English_x64.iso");
    let args = ["-as", "mkisofs", "-quiet", "-J", "-V", WINDOWS_VOLUME, "-o"];
    let mut all: Vec<&str> = args.to_vec();
    all.extend([s(&iso), s(&files)]);
    sh("xorriso", &all);
    iso
}

#[test]
fn a_windows_iso_made_with_xorriso_is_refused_and_written_with_force() {
    let dir = scratch();
    let iso = windows_iso(dir.path());
    let dest = dir.path().join("stick.img");
    assert_refused(
        &copy(s(&iso), &dest, &[]),
        &windows_refusal(&iso, WINDOWS_VOLUME),
        &dest,
    );
    let forced = copy(s(&iso), &dest, &["--force"]);
    let stderr = assert_written(&forced, &iso, &dest);
    let warning = format!(
        "blockprint: warning: image '{}': this is a Windows installer ISO (volume '{WINDOWS_VOLUME}': sources/install.wim, bootmgr): written raw to a USB stick it will not boot; use Microsoft's Media Creation Tool or a tool that makes a Windows stick (WoeUSB, Ventoy); writing it anyway (--force)",
        s(&iso)
    );
    assert!(stderr.lines().any(|l| l == warning), "{stderr}");
}

/// genisoimage's UDF bridge: the files in both the ISO 9660 and the UDF tree; then the same
/// volume with its ISO 9660 descriptors taken out, so only UDF tells the files (as in
/// Microsoft's ISOs, whose ISO 9660 part holds only a README): `udfinfo` still reads it.
#[test]
fn a_udf_volume_holding_windows_files_is_refused() {
    require_tool("genisoimage");
    require_tool("udfinfo");
    let dir = scratch();
    let files = tree(dir.path(), "win", WINDOWS_FILES);
    let bridge = dir.path().join("bridge.iso");
    sh(
        "genisoimage",
        &[
            "-quiet",
            "-udf",
            "-V",
            WINDOWS_VOLUME,
            "-o",
            s(&bridge),
            s(&files),
        ],
    );
    let dest = dir.path().join("stick.img");
    assert_refused(
        &copy(s(&bridge), &dest, &[]),
        &windows_refusal(&bridge, WINDOWS_VOLUME),
        &dest,
    );

    let mut image = std::fs::read(&bridge).unwrap();
    let sector = |n: usize| n * 2048..(n + 1) * 2048;
    let udf: Vec<usize> = (16..32)
        .filter(|&n| {
            matches!(
                &image[sector(n)][1..6],
                b"BEA01" | b"NSR02" | b"NSR03" | b"TEA01"
            )
        })
        .collect();
    assert_eq!(
        udf.len(),
        3,
        "genisoimage wrote no UDF recognition sequence"
    );
    let vrs: Vec<u8> = udf
        .iter()
        .flat_map(|&n| image[sector(n)].to_vec())
        .collect();
    image[sector(16).start..sector(udf[2]).end].fill(0);
    image[sector(16).start..sector(18).end].copy_from_slice(&vrs);
    let pure = dir.path().join("udf-only.iso");
    std::fs::write(&pure, &image).unwrap();
    let info = sh("udfinfo", &[s(&pure)]);
    assert!(info.contains("numfiles=4"), "{info}");
    assert!(!image.windows(5).any(|w| w == b"CD001"), "ISO 9660 left");
    assert_refused(
        &copy(s(&pure), &dest, &[]),
        &windows_refusal(&pure, WINDOWS_VOLUME),
        &dest,
    );
}

/// mkudffs volumes of 512- and 2048-byte blocks, 2.01 and 1.50: read from their anchor to the
/// root directory, they are ISOs that boot from nothing but optical media. (mkudffs makes them
/// empty; this kernel has no UDF driver to mount one and copy files in, and udftools' wrudf
/// crashes on them, so the Windows files in UDF come from genisoimage above.)
#[test]
fn mkudffs_volumes_are_read_to_their_root() {
    require_tool("mkudffs");
    let dir = scratch();
    for (block, revision) in [
        ("512", "2.01"),
        ("2048", "2.01"),
        ("2048", "1.50"),
        ("4096", "2.01"),
    ] {
        let image = dir.path().join(format!("udf-{block}-{revision}.img"));
        std::fs::File::create(&image)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        sh(
            "mkudffs",
            &["-b", block, "-r", revision, "--label=WINPURE", s(&image)],
        );
        let dest = dir.path().join("out.img");
        let _ = std::fs::remove_file(&dest);
        let stderr = assert_written(&copy(s(&image), &dest, &[]), &image, &dest).to_owned();
        let warning = format!(
            "blockprint: warning: image '{}': this is an ISO image (volume 'WINPURE') without an MBR or GPT: it boots from a CD or DVD, but written to a USB stick or card most computers will not start from it",
            s(&image)
        );
        assert!(
            stderr.lines().any(|l| l == warning),
            "{block} {revision}: {stderr}"
        );
    }
}

#[test]
fn a_non_hybrid_linux_iso_is_warned_about_and_written() {
    require_tool("xorriso");
    let dir = scratch();
    let files = tree(
        dir.path(),
        "live",
        &[
            ("boot/vmlinuz", "kernel"),
            ("live/filesystem.squashfs", "root"),
        ],
    );
    let iso = dir.path().join("debian-live.iso");
    sh(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-quiet",
            "-J",
            "-V",
            "Debian live",
            "-o",
            s(&iso),
            s(&files),
        ],
    );
    let dest = dir.path().join("stick.img");
    let run = copy(s(&iso), &dest, &[]);
    let stderr = assert_written(&run, &iso, &dest);
    let warning = format!(
        "blockprint: warning: image '{}': this is an ISO image (volume 'Debian live') without an MBR or GPT: it boots from a CD or DVD, but written to a USB stick or card most computers will not start from it",
        s(&iso)
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("warning:"))
            .collect::<Vec<_>>(),
        [warning.as_str()],
        "{stderr}"
    );
}

#[test]
fn debians_hybrid_rescue_iso_is_written_without_a_word() {
    let iso = Path::new(RESCUE_ISO);
    assert!(
        iso.is_file(),
        "{RESCUE_ISO} is missing; run build-aux/install-deps (grub-rescue-pc)"
    );
    let dir = scratch();
    let dest = dir.path().join("stick.img");
    let stderr = assert_written(&copy(RESCUE_ISO, &dest, &[]), iso, &dest).to_owned();
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(!stderr.contains("this is"), "{stderr}");
    // With -d the verdict is told.
    std::fs::remove_file(&dest).unwrap();
    let run = blockprint(["-d", "copy", "--nobmap", RESCUE_ISO, s(&dest)]);
    let line = format!(
        "blockprint: debug: image '{RESCUE_ISO}': this is a hybrid ISO image (volume 'ISOIMAGE', with an MBR for booting from a USB stick)"
    );
    assert!(run.ok().lines().any(|l| l == line), "{}", run.stderr);
}

/// A one-page PDF, written by hand with a correct cross-reference table.
fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{object}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for offset in offsets {
        out.push_str(&format!("{offset:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

fn pdf_refusal(image: &str) -> String {
    format!(
        "image '{image}': this is a PDF document, not a disk image: download the disk image itself (.img, .iso, .wic, often compressed), or write it anyway with --force"
    )
}

#[test]
fn a_pdf_is_refused_and_written_with_force() {
    let dir = scratch();
    let manual = dir.path().join("manual.pdf");
    std::fs::write(&manual, pdf()).unwrap();
    let kind = sh("file", &["-b", s(&manual)]);
    assert!(
        kind.starts_with("PDF document, version 1.4, 1 page"),
        "{kind}"
    );
    let dest = dir.path().join("card.img");
    assert_refused(
        &copy(s(&manual), &dest, &[]),
        &pdf_refusal(s(&manual)),
        &dest,
    );
    assert_written(&copy(s(&manual), &dest, &["--force"]), &manual, &dest);
}

/// A gzipped PDF named like an image: refused from the bytes read ahead of the stream, as a
/// file and on standard input.
#[test]
fn a_gzipped_pdf_named_img_is_refused_from_its_stream() {
    require_tool("gzip");
    let dir = scratch();
    let manual = dir.path().join("raspios.img");
    std::fs::write(&manual, pdf()).unwrap();
    sh("gzip", &[s(&manual)]);
    let packed = dir.path().join("raspios.img.gz");
    let dest = dir.path().join("card.img");
    let run = copy(s(&packed), &dest, &[]);
    assert_refused(&run, &pdf_refusal(s(&packed)), &dest);
    assert!(
        run.stderr
            .contains(&format!("image '{}' is gzip", s(&packed))),
        "{}",
        run.stderr
    );
    let run = crate::harness::support::blockprint_with(
        ["copy", "--nobmap", "-", s(&dest)],
        &[],
        Some(&packed),
        std::time::Duration::from_secs(60),
    );
    assert_refused(&run, &pdf_refusal("standard input"), &dest);
}

#[test]
fn a_debian_package_is_refused() {
    require_tool("dpkg-deb");
    let dir = scratch();
    let package = tree(
        dir.path(),
        "hello",
        &[
            (
                "DEBIAN/control",
                "Package: hello\nVersion: 1.0\nArchitecture: all\nMaintainer: A <a@example.org>\nDescription: a test\n",
            ),
            ("usr/share/doc/hello/README", "hello\n"),
        ],
    );
    let deb = dir.path().join("hello_1.0_all.deb");
    sh(
        "dpkg-deb",
        &["--root-owner-group", "--build", s(&package), s(&deb)],
    );
    let dest = dir.path().join("card.img");
    let line = format!(
        "image '{}': this is a Debian package (.deb), not a disk image: install it with the package manager instead, or write it anyway with --force",
        s(&deb)
    );
    assert_refused(&copy(s(&deb), &dest, &[]), &line, &dest);
}

/// A zip of text files is no archive of an image: said as what it is, with its members. A zip
/// of one PDF has its only file taken as the image, which is a PDF.
#[test]
fn a_zip_of_text_files_or_of_one_pdf_is_refused_saying_what_it_is() {
    require_tool("zip");
    let dir = scratch();
    let docs = tree(
        dir.path(),
        "docs",
        &[("a.txt", "one\n"), ("b.txt", "two\n"), ("c.txt", "three\n")],
    );
    let archive = dir.path().join("docs.zip");
    sh(
        "sh",
        &[
            "-c",
            &format!(
                "cd {} && zip -q {} a.txt b.txt c.txt",
                s(&docs),
                s(&archive)
            ),
        ],
    );
    let dest = dir.path().join("card.img");
    let name = s(&archive);
    let line = format!(
        "image '{name}' is a ZIP archive of 3 files, not a disk image: zip archive '{name}' has no disk image member (it holds 'a.txt', 'b.txt', 'c.txt'); extract the image and write that"
    );
    assert_refused(&copy(name, &dest, &[]), &line, &dest);

    std::fs::write(docs.join("manual.pdf"), pdf()).unwrap();
    let one = dir.path().join("manual.zip");
    sh(
        "sh",
        &[
            "-c",
            &format!("cd {} && zip -q {} manual.pdf", s(&docs), s(&one)),
        ],
    );
    let run = copy(s(&one), &dest, &[]);
    assert_refused(&run, &pdf_refusal(s(&one)), &dest);
    assert!(
        run.stderr.contains("is zip member 'manual.pdf'"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_tar_of_a_folder_is_refused_saying_what_it_is() {
    let dir = scratch();
    tree(
        dir.path(),
        "photos",
        &[("notes.txt", "a\n"), ("list.txt", "b\n")],
    );
    let archive = dir.path().join("photos.tar");
    sh(
        "tar",
        &[
            "-C",
            s(dir.path()),
            "-cf",
            s(&archive),
            "--sort=name",
            "photos",
        ],
    );
    let dest = dir.path().join("card.img");
    let name = s(&archive);
    let line = format!(
        "image '{name}' is a tar archive of 2 files, not a disk image: tar archive '{name}' has no disk image member (it holds 'photos/list.txt', 'photos/notes.txt'); extract the image and write that"
    );
    assert_refused(&copy(name, &dest, &[]), &line, &dest);
}

#[test]
fn a_bare_ext4_filesystem_is_noted_and_written() {
    require_tool("mkfs.ext4");
    let dir = scratch();
    let image = dir.path().join("rootfs.ext4");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    sh("mkfs.ext4", &["-q", "-F", s(&image)]);
    let dest = dir.path().join("card.img");
    let stderr = assert_written(&copy(s(&image), &dest, &[]), &image, &dest).to_owned();
    let note = format!(
        "blockprint: image '{}': this is a bare ext2/3/4 filesystem without a partition table: it is written as it is (readable, but nothing boots from it on its own)",
        s(&image)
    );
    assert!(stderr.lines().any(|l| l == note), "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
}
