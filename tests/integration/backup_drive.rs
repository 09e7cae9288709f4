//! `blockprint backup` of a drive: a loop device holding the used Pi card of `backup.rs`.
//! As root, a partition mounted read-write is refused (naming it and where it is mounted) and
//! nothing is made; `--unmount` unmounts it, leaves a read-only mount alone, and the backup
//! writes back as the card was. A normal user backs the card up through the real udisksd on the
//! private bus of `build-aux/udisks-env`: read-only `Block.OpenDevice` under polkit, a mounted
//! partition unmounted through UDisks2 with `--unmount`; the user polkit's defaults refuse gets
//! polkit's no in one line, and no file.

use std::path::Path;

use crate::backup::{assert_card, entries, pi_card, s};
use crate::harness::support::{LoopDevice, Mounted, blockprint, scratch, sh};
use crate::no_sudo::{blockprint_as, user};
use crate::udisks::{UdisksLoop, udisks, workdir};

/// Whether `device` is mounted anywhere, by /proc/self/mounts.
fn mounted(device: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').next() == Some(device))
}

/// `backup` restored with `blockprint copy` onto a fresh file, checked as the card was made.
fn restores(card: &crate::backup::Card, backup: &Path, work: &Path) {
    let restored = work.join("restored.img");
    blockprint(["copy", s(backup), s(&restored)]).ok();
    assert_card(card, &restored, &work.join("checks"));
    std::fs::remove_file(&restored).unwrap();
}

#[test]
fn a_partition_mounted_read_write_is_refused_until_unmount() {
    let dir = scratch();
    let card = pi_card(dir.path());
    let mut drive = LoopDevice::new(&card.image);
    drive.add_partitions();
    let root = format!("{}p2", drive.name());
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    let out = folder.join("card.img.zst");
    let read_only = folder.join("read-only.img");
    {
        let mount_point = dir.path().join("root");
        let _root = Mounted::new(&[&root], &mount_point);
        let refused = blockprint(["backup", drive.name(), s(&out)]);
        let root_name = root.trim_start_matches("/dev/");
        refused.fails_with(&[root_name, s(&mount_point), "--unmount"]);
        assert!(
            entries(&folder).is_empty(),
            "nothing is made: {:?}",
            entries(&folder)
        );

        // Read-only, it is read where it is mounted (this kernel has no vfat to mount the
        // boot partition beside it).
        sh("mount", &["-o", "remount,ro", s(&mount_point)]);
        blockprint(["backup", drive.name(), s(&read_only)]).ok();
        assert!(mounted(&root), "a read-only mount is left alone");

        sh("mount", &["-o", "remount,rw", s(&mount_point)]);
        let stderr = blockprint(["backup", "--unmount", drive.name(), s(&out)])
            .ok()
            .to_owned();
        assert!(stderr.contains(&format!("unmounted {root}")), "{stderr}");
        assert!(!mounted(&root), "{root} is still mounted");
    }
    drive.detach();
    restores(&card, &out, dir.path());
    restores(&card, &read_only, dir.path());
}

#[test]
fn a_user_backs_up_a_card_through_udisksd_and_polkit_decides() {
    let udisks = udisks();
    let dir = workdir();
    let card = pi_card(dir.path());
    let drive = UdisksLoop::new(&card.image);
    let root = format!("{}p2", drive.name());
    // udisksd sets loop devices up with partition scanning; where the kernel did not, partx.
    if !Path::new(&root).exists() {
        sh("partx", &["-a", drive.name()]);
    }
    let folder = dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = folder.join("card.img.xz");
    let allowed = user("BLOCKPRINT_TEST_USER");
    let denied = user("BLOCKPRINT_TEST_DENIED_USER");

    // Mounted through udisksd, as a desktop mounts a card: refused, then unmounted by it.
    let started = std::time::Instant::now();
    while !udisks
        .drives()
        .unwrap()
        .iter()
        .any(|d| d.device == Path::new(drive.name()))
    {
        assert!(
            started.elapsed().as_secs() < 30,
            "udisksd never listed {}",
            drive.name()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sh(
        "udisksctl",
        &["mount", "--no-user-interaction", "-b", &root],
    );
    let refused = blockprint_as(&allowed, &["backup", drive.name(), s(&out)], None);
    refused.fails_with(&[root.trim_start_matches("/dev/"), "--unmount"]);
    let stderr = blockprint_as(
        &allowed,
        &["backup", "--unmount", drive.name(), s(&out)],
        None,
    )
    .ok()
    .to_owned();
    assert!(stderr.contains("through udisksd"), "{stderr}");
    assert!(!mounted(&root), "{root} is still mounted");
    assert_eq!(entries(&folder), ["card.img.xz", "card.img.xz.bmap"]);

    let other = folder.join("denied.img.zst");
    blockprint_as(&denied, &["backup", drive.name(), s(&other)], None)
        .fails_with(&["polkit", drive.name()]);
    assert_eq!(
        entries(&folder),
        ["card.img.xz", "card.img.xz.bmap"],
        "the denied user left a file"
    );
    drop(drive);
    restores(&card, &out, dir.path());
}
