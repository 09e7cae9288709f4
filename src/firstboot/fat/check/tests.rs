use std::error::Error;
use std::fs::OpenOptions;
use std::path::Path;

use crate::firstboot::disk::{Cached, Partition};
use crate::firstboot::fat::Fat;
use crate::firstboot::testing::{FatLayout, Part, disk_image, fat_image_of, fat_layout, write_at};
use crate::firstboot::{FirstBoot, FirstBootError, Format};
use crate::scan::testing::noise;

/// The FAT filesystem of the image at `path`, opened through the views the copy uses.
fn open(path: &Path) -> Result<Fat<Cached<Partition<std::fs::File>>>, FirstBootError> {
    super::super::tests::try_open(path)
}

/// An error and its causes, as the command line prints them.
fn text(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Asserts that `error` says the FAT is damaged, names the partition and `words`, and says
/// what to do.
#[track_caller]
fn assert_damaged(error: &dyn Error, words: &[&str]) {
    let text = text(error);
    let lower = text.to_lowercase();
    for word in [
        "the test partition",
        "the fat is damaged",
        "run fsck.vfat on it",
    ]
    .iter()
    .chain(words)
    {
        assert!(
            lower.contains(&word.to_lowercase()),
            "no '{word}' in: {text}"
        );
    }
}

/// A FAT image of `bits` in `dir` with a root file, a file of several clusters and a file in
/// a folder; with its layout.
fn image(dir: &Path, bits: &str) -> (std::path::PathBuf, FatLayout) {
    let path = dir.join(format!("fat{bits}.img"));
    let big = noise(3, 40_000);
    fat_image_of(
        &path,
        bits,
        40,
        &[
            ("cmdline.txt", b"console=tty1 rootwait\n"),
            ("config.txt", b"[all]\n"),
            ("kernel.img", &big),
            ("overlays/README", b"overlays\n"),
        ],
    );
    let layout = fat_layout(&path);
    assert_eq!(layout.bits.to_string(), bits, "{layout:?}");
    (path, layout)
}

const BITS: [&str; 3] = ["12", "16", "32"];

#[test]
fn a_root_file_that_starts_at_cluster_1_is_refused_by_name_when_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bits in BITS {
        let (path, layout) = image(dir.path(), bits);
        let entry = layout.entry_in(&path, layout.root_at(), b"CMDLINE TXT");
        layout.set_first_cluster(&path, entry, 1);
        let err = open(&path).err().expect("refused");
        assert_damaged(
            &err,
            &["'cmdline.txt' starts at cluster 1", "does not exist"],
        );
    }
}

#[test]
fn a_chain_that_goes_to_cluster_1_or_past_the_end_or_round_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bits in BITS {
        let (path, layout) = image(dir.path(), bits);
        let entry = layout.entry_in(&path, layout.root_at(), b"KERNEL  IMG");
        let first = layout.first_cluster(&path, entry);
        let second = layout.entry(&path, first);
        assert!(
            second > first,
            "FAT{bits}: the kernel is in several clusters"
        );
        let past = layout.clusters + 2;
        let cases = [
            (
                first,
                1,
                format!("'kernel.img' goes from cluster {first} to 1"),
            ),
            (
                second,
                past,
                format!("from cluster {second} to {past}, which does not exist"),
            ),
            (
                second,
                first,
                format!("'kernel.img' comes back to cluster {first}"),
            ),
            (
                first,
                0,
                format!("cluster {first} of 'kernel.img' is marked free"),
            ),
        ];
        for (at, value, words) in cases {
            let was = layout.entry(&path, at);
            layout.set_entry(&path, at, value);
            let err = open(&path).err().expect("refused");
            assert_damaged(&err, &[&words]);
            layout.set_entry(&path, at, was);
        }
        // Put back, it opens and reads again.
        let fat = open(&path).expect("sound again");
        assert_eq!(
            fat.read("kernel.img").expect("read"),
            Some(noise(3, 40_000))
        );
        fat.close().expect("close");
    }
}

#[test]
fn a_fat32_root_folder_whose_chain_goes_to_cluster_1_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, layout) = image(dir.path(), "32");
    layout.set_entry(&path, 2, 1);
    let err = open(&path).err().expect("refused");
    assert_damaged(&err, &["the root folder goes from cluster 2 to 1"]);
}

#[test]
fn an_entry_after_the_end_marker_is_checked_too() {
    // fatfs writes a new file's entries where the end marker is, and what follows them is
    // then read as entries.
    let dir = tempfile::tempdir().expect("tempdir");
    for bits in BITS {
        let (path, layout) = image(dir.path(), bits);
        let root = layout.root_at();
        let bytes = std::fs::read(&path).expect("read");
        let end = (0..)
            .map(|i| root + i * 32)
            .find(|&at| bytes[usize::try_from(at).expect("fits")] == 0)
            .expect("an end marker");
        assert!(
            end + 64 <= root + layout.cluster.max(512),
            "room for one more"
        );
        let mut hidden = [0u8; 32];
        hidden[..11].copy_from_slice(b"USERDATA   ");
        hidden[11] = 0x20;
        hidden[26] = 1;
        hidden[28] = 16;
        write_at(&path, end + 32, &hidden);
        let err = open(&path).err().expect("refused");
        assert_damaged(&err, &["'USERDATA' starts at cluster 1"]);
    }
}

#[test]
fn a_damaged_entry_in_a_folder_fails_only_what_goes_into_that_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bits in BITS {
        let (path, layout) = image(dir.path(), bits);
        let folder = layout.entry_in(&path, layout.root_at(), b"OVERLAYS   ");
        let inside = layout.cluster_at(layout.first_cluster(&path, folder));
        let readme = layout.entry_in(&path, inside, b"README     ");
        layout.set_first_cluster(&path, readme, 1);
        let fat = open(&path).expect("the root is sound");
        assert_eq!(fat.list_root().expect("list").len(), 4);
        let err = fat.read("overlays/README").expect_err("refused");
        assert_damaged(
            &err,
            &[
                "cannot read 'overlays/README'",
                "'overlays/README' starts at cluster 1",
            ],
        );
        let err = fat
            .write("overlays/settings.toml", b"x = 1\n")
            .expect_err("refused");
        assert_damaged(
            &err,
            &["cannot write 'overlays/settings.toml'", "cluster 1"],
        );
        assert_eq!(
            fat.read("cmdline.txt")
                .expect("a root file reads")
                .as_deref(),
            Some(&b"console=tty1 rootwait\n"[..])
        );
        fat.write("cmdline.txt", b"console=tty1\n")
            .expect("a root file writes");
        let err = fat.read("./cmdline.txt").expect_err("no dots");
        assert!(text(&err).contains("'.' or '..'"), "{}", text(&err));
        fat.close().expect("close");
    }
}

#[test]
fn boot_sectors_fatfs_would_misread_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, layout) = image(dir.path(), "32");
    // Mirroring off, and FAT copy 3 of 2 the active one.
    write_at(&path, 40, &0x0082u16.to_le_bytes());
    let err = open(&path).err().expect("refused");
    assert!(
        text(&err).contains("makes FAT copy 3 of 2 the one in use"),
        "{}",
        text(&err)
    );
    write_at(&path, 40, &0u16.to_le_bytes());
    // FAT32's reserved entry 1 free: fatfs may take it for a free cluster.
    let was = layout.entry(&path, 1);
    layout.set_entry(&path, 1, 0);
    let err = open(&path).err().expect("refused");
    assert_damaged(&err, &["reserved entries 0 and 1 are marked free"]);
    layout.set_entry(&path, 1, was);
    open(&path).expect("sound again").close().expect("close");
}

#[test]
fn a_card_whose_boot_fat_is_damaged_is_neither_detected_nor_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: &[(&str, &[u8])] = &[
        (
            "cmdline.txt",
            b"console=tty1 root=PARTUUID=1234-02 rootwait\n",
        ),
        ("config.txt", b"[all]\n"),
    ];
    let parts = [Part {
        line: "type=c",
        start_kib: 1024,
        mib: 40,
        fat: Some(files),
    }];
    let disk = disk_image(dir.path(), "card.img", "dos", 42, &parts);
    // Damage the partition's filesystem through a copy of it, then put it back.
    let fs = dir.path().join("boot.img");
    let bytes = std::fs::read(&disk).expect("read");
    std::fs::write(&fs, &bytes[1 << 20..41 << 20]).expect("copy out");
    let layout = fat_layout(&fs);
    let entry = layout.entry_in(&fs, layout.root_at(), b"CMDLINE TXT");
    layout.set_first_cluster(&fs, entry, 1);
    crate::firstboot::testing::put(&disk, 1 << 20, &fs);
    let before = std::fs::read(&disk).expect("read");

    let err = crate::firstboot::detect_image(&disk, None).expect_err("refused");
    let message = text(&err);
    assert!(
        message.contains("'cmdline.txt' starts at cluster 1"),
        "{message}"
    );
    assert!(message.contains("partition 1"), "{message}");
    let settings = crate::firstboot::parse("hostname = \"pi\"\n", "test").expect("settings");
    for declared in [None, Some(Format::Systemd)] {
        let first_boot = FirstBoot {
            settings: settings.clone(),
            declared,
        };
        let mut card = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&disk)
            .expect("open");
        let err = crate::firstboot::apply(&first_boot, &mut card).expect_err("refused");
        assert!(text(&err).contains("run fsck.vfat on it"), "{}", text(&err));
    }
    assert!(
        std::fs::read(&disk).expect("read") == before,
        "nothing was written"
    );
}
