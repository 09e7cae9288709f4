use super::*;
use crate::source::testing::names;
use crate::target::AlignedBuf;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt, symlink};

/// One page of `byte`, aligned, as a direct write needs.
fn page(byte: u8) -> AlignedBuf {
    let mut buf = AlignedBuf::new(4096);
    buf.fill(byte);
    buf
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).expect("stat").mode() & 0o7777
}

/// Writes `byte` pages through a destination made unnamed or named, and places it.
fn write_through(path: &Path, byte: u8, unnamed: bool) -> Result<(), PlaceError> {
    let dest = FileDest::resolve(path)?;
    let (file, _, mut pending) = dest.create_with(true, unnamed)?;
    file.write_all_at(&page(byte), 0).expect("write");
    pending.place(&file)
}

#[test]
fn nothing_has_a_name_until_placed() {
    for unnamed in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.img");
        std::fs::write(&path, b"old").expect("old file");
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o640)).expect("chmod");
        let (file, _, mut pending) = FileDest::resolve(&path)
            .expect("resolve")
            .create_with(true, unnamed)
            .expect("create");
        file.write_all_at(&page(b'n'), 0).expect("write");
        let during = names(dir.path());
        assert_eq!(during.len(), if unnamed { 1 } else { 2 }, "{during:?}");
        if !unnamed {
            let temp = during.iter().find(|n| *n != "out.img").expect("temp name");
            assert!(temp.starts_with(".out.img.blockprint-"), "{temp}");
            assert_eq!(mode(&dir.path().join(temp)), 0o600, "private while written");
        }
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        pending.place(&file).expect("in place");
        assert_eq!(std::fs::read(&path).expect("read"), &page(b'n')[..]);
        assert_eq!(
            mode(&path),
            0o640,
            "the replaced file's permissions are kept"
        );
        assert_eq!(names(dir.path()), ["out.img"], "no temporary name is left");
    }
}

#[test]
fn a_new_file_that_is_dropped_leaves_nothing() {
    for unnamed in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("never.img");
        let (file, _, pending) = FileDest::resolve(&path)
            .expect("resolve")
            .create_with(true, unnamed)
            .expect("create");
        file.write_all_at(&page(b'd'), 0).expect("write");
        drop(pending);
        drop(file);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }
}

#[test]
fn setuid_setgid_and_sticky_bits_are_not_kept() {
    for unnamed in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tool");
        std::fs::write(&path, b"old").expect("old file");
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o7755)).expect("chmod");
        write_through(&path, b's', unnamed).expect("in place");
        assert_eq!(mode(&path), 0o755);
    }
}

#[test]
fn own_links_are_followed_and_stay_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real.img");
    std::fs::write(&real, b"old").expect("old");
    std::fs::create_dir(dir.path().join("sub")).expect("sub");
    // An absolute link, a relative one through "..", and a chain of the two.
    symlink(&real, dir.path().join("abs")).expect("link");
    symlink("../real.img", dir.path().join("sub/rel")).expect("link");
    symlink("sub/rel", dir.path().join("chain")).expect("link");
    for (link, byte) in [("abs", b'a'), ("sub/rel", b'r'), ("chain", b'c')] {
        write_through(&dir.path().join(link), byte, true).expect("through the link");
        assert_eq!(
            std::fs::read(&real).expect("read"),
            &page(byte)[..],
            "{link}"
        );
        let meta = std::fs::symlink_metadata(dir.path().join(link)).expect("stat");
        assert!(meta.file_type().is_symlink(), "{link} is still a link");
    }
    // A dangling link of one's own names the file to create.
    symlink("new.img", dir.path().join("dangling")).expect("link");
    write_through(&dir.path().join("dangling"), b'n', false).expect("created");
    assert_eq!(
        std::fs::read(dir.path().join("new.img")).expect("read"),
        &page(b'n')[..]
    );
}

#[test]
fn a_name_that_becomes_a_link_while_written_is_refused() {
    for unnamed in [true, false] {
        for existed in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("out.img");
            let victim = dir.path().join("victim");
            std::fs::write(&victim, b"precious").expect("victim");
            if existed {
                std::fs::write(&path, b"old").expect("old");
            }
            let (file, _, mut pending) = FileDest::resolve(&path)
                .expect("resolve")
                .create_with(true, unnamed)
                .expect("create");
            file.write_all_at(&page(b'x'), 0).expect("write");
            let _ = std::fs::remove_file(&path);
            symlink(&victim, &path).expect("plant");
            let error = pending.place(&file).expect_err("refused");
            assert!(
                matches!(error, PlaceError::Changed { .. }),
                "{unnamed} {existed}: {error}"
            );
            assert!(error.to_string().contains("symbolic link"), "{error}");
            drop(pending);
            assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
            assert_eq!(std::fs::read_link(&path).expect("still the link"), victim);
            assert_eq!(names(dir.path()), ["out.img", "victim"]);
        }
    }
}

#[test]
fn a_name_taken_or_replaced_while_written_is_refused() {
    for unnamed in [true, false] {
        for existed in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("out.img");
            if existed {
                std::fs::write(&path, b"old").expect("old");
            }
            let (file, _, mut pending) = FileDest::resolve(&path)
                .expect("resolve")
                .create_with(false, unnamed)
                .expect("create");
            file.write_all_at(b"new", 0).expect("write");
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, b"theirs").expect("someone else's file");
            let error = pending.place(&file).expect_err("refused");
            let what = if existed { "another file" } else { "created" };
            assert!(error.to_string().contains(what), "{error}");
            drop(pending);
            assert_eq!(std::fs::read(&path).expect("read"), b"theirs");
            assert_eq!(names(dir.path()), ["out.img"]);
        }
    }
}

#[test]
fn a_file_removed_while_written_is_still_placed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.img");
    std::fs::write(&path, b"old").expect("old");
    let (file, _, mut pending) = FileDest::resolve(&path)
        .expect("resolve")
        .create(false)
        .expect("create");
    file.write_all_at(b"new", 0).expect("write");
    std::fs::remove_file(&path).expect("remove");
    pending.place(&file).expect("placed");
    assert_eq!(std::fs::read(&path).expect("read"), b"new");
}

#[test]
fn folders_loops_and_missing_folders_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = FileDest::resolve(dir.path()).expect_err("a folder");
    assert!(error.to_string().contains("is a folder"), "{error}");
    let error = FileDest::resolve(&dir.path().join("..")).expect_err("a folder");
    assert!(error.to_string().contains("is a folder"), "{error}");
    symlink("loop-b", dir.path().join("loop-a")).expect("link");
    symlink("loop-a", dir.path().join("loop-b")).expect("link");
    let error = FileDest::resolve(&dir.path().join("loop-a")).expect_err("a loop");
    let PlaceError::Io { source, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(source.raw_os_error(), Some(libc::ELOOP));
    let missing = dir.path().join("no-such-folder/out.img");
    let error = FileDest::resolve(&missing).expect_err("no folder");
    assert!(error.to_string().contains("no-such-folder"), "{error}");
    std::fs::write(dir.path().join("plain"), b"").expect("file");
    let error = FileDest::resolve(&dir.path().join("plain/out.img")).expect_err("not a dir");
    assert!(error.to_string().contains("plain"), "{error}");
}

#[test]
fn temporary_names_are_hidden_fresh_and_short() {
    let long = CString::new(vec![b'n'; 255]).expect("name");
    let a = temp_name(&long);
    let b = temp_name(&long);
    assert_ne!(a, b);
    assert!(a.to_bytes().len() <= 255, "{}", a.to_bytes().len());
    let short = temp_name(c"out.bmap");
    let text = short.to_str().expect("ascii");
    assert!(text.starts_with(".out.bmap.blockprint-"), "{text}");
    assert_eq!(text.len(), ".out.bmap.blockprint-".len() + 16);
}

#[test]
fn replace_file_writes_whole_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.bmap");
    replace_file(&path, b"first").expect("new");
    replace_file(&path, b"second").expect("replaced");
    assert_eq!(std::fs::read(&path).expect("read"), b"second");
    assert_eq!(names(dir.path()), ["out.bmap"]);
}
