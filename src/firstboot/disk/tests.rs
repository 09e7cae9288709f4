use super::*;
use crate::target::TargetOptions;

/// A file target of `len` bytes, each the low byte of its offset's sector number plus one.
fn target(dir: &tempfile::TempDir, len: usize) -> (Target, Vec<u8>) {
    let mut target = Target::open(&dir.path().join("card.img"), &TargetOptions::default())
        .expect("open the target");
    target.prepare(Some(len as u64)).expect("size it");
    let bytes: Vec<u8> = (0..len).map(|i| (i / 512 % 251 + 1) as u8).collect();
    target.write_at(0, &bytes).expect("fill it");
    (target, bytes)
}

#[test]
fn the_held_back_start_is_read_and_written_in_memory_and_the_rest_on_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut target, bytes) = target(&dir, 64 << 10);
    let mut held = vec![0xAA; 4096];
    {
        let mut disk = TargetDisk::new(&mut target, &mut held, 64 << 10);
        // A read across the boundary: memory, then the target.
        disk.seek(SeekFrom::Start(4000)).expect("seek");
        let mut buf = vec![0; 200];
        disk.read_exact(&mut buf).expect("read");
        assert_eq!(buf[..96], [0xAA; 96]);
        assert_eq!(buf[96..], bytes[4096..4200]);
        // A write across it, unaligned.
        disk.seek(SeekFrom::Start(4090)).expect("seek");
        disk.write_all(b"0123456789").expect("write");
        assert_eq!(disk.seek(SeekFrom::End(0)).expect("end"), 64 << 10);
        let mut rest = Vec::new();
        assert_eq!(disk.read_to_end(&mut rest).expect("at the end"), 0);
        let err = disk.write_all(b"x").expect_err("past the end");
        assert!(err.to_string().contains("past the end of '"), "{err}");
        assert!(disk.seek(SeekFrom::Current(-(1 << 20))).is_err());
    }
    assert_eq!(&held[4090..], b"012345");
    let mut on_device = Vec::new();
    target
        .read_range(4090, 10, |piece| on_device.extend_from_slice(piece))
        .expect("read the target");
    assert_eq!(
        &on_device[..6],
        &bytes[4090..4096],
        "the held part is not written"
    );
    assert_eq!(&on_device[6..], b"6789");
}

#[test]
fn a_partition_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut target, bytes) = target(&dir, 16 << 10);
    let mut held = Vec::new();
    let mut disk = TargetDisk::new(&mut target, &mut held, 16 << 10);
    let mut part = Partition::new(&mut disk, 1024, 2048, "partition 1".into());
    let mut all = Vec::new();
    part.read_to_end(&mut all).expect("read it all");
    assert_eq!(all, bytes[1024..3072]);
    part.seek(SeekFrom::Start(2040)).expect("seek");
    let err = part.write_all(&[1; 16]).expect_err("past its end");
    assert!(
        err.to_string().contains("past the end of partition 1"),
        "{err}"
    );
    part.seek(SeekFrom::Start(2040)).expect("seek");
    part.write_all(&[7; 8]).expect("the last 8 bytes");
    drop(part);
    disk.seek(SeekFrom::Start(3064)).expect("seek");
    let mut around = [0; 16];
    disk.read_exact(&mut around).expect("read");
    assert_eq!(around[..8], [7; 8]);
    assert_eq!(
        around[8..],
        bytes[3072..3080],
        "nothing after the partition changed"
    );
}

#[test]
fn a_partition_past_the_disk_fails_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut target, _) = target(&dir, 8 << 10);
    let mut held = Vec::new();
    let mut disk = TargetDisk::new(&mut target, &mut held, 8 << 10);
    let mut part = Partition::new(&mut disk, 6 << 10, 4 << 10, "partition 2".into());
    let mut buf = vec![0; 4096];
    let err = part.read_exact(&mut buf).expect_err("the disk ends first");
    assert!(err.to_string().contains("of partition 2"), "{err}");
}

#[test]
fn the_window_follows_writes_and_a_new_one_reads_the_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let len = 3 * WINDOW as usize + 100;
    let (mut target, bytes) = target(&dir, len);
    let mut held = Vec::new();
    let mut disk = TargetDisk::new(&mut target, &mut held, len as u64);
    {
        let mut cached = Cached::new(&mut disk).expect("window");
        let mut all = Vec::new();
        cached.read_to_end(&mut all).expect("read all");
        assert_eq!(all, bytes);
        cached.seek(SeekFrom::Start(WINDOW - 3)).expect("seek");
        cached
            .write_all(b"abcdef")
            .expect("write across two windows");
        cached.seek(SeekFrom::Start(WINDOW - 4)).expect("seek");
        let mut buf = [0; 8];
        cached.read_exact(&mut buf).expect("read back");
        assert_eq!(
            &buf,
            &[
                bytes[WINDOW as usize - 4],
                b'a',
                b'b',
                b'c',
                b'd',
                b'e',
                b'f',
                bytes[WINDOW as usize + 3]
            ]
        );
    }
    let mut fresh = Cached::new(&mut disk).expect("a new window");
    fresh.seek(SeekFrom::Start(WINDOW - 3)).expect("seek");
    let mut buf = [0; 6];
    fresh.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"abcdef");
}

#[test]
fn read_only_refuses_writes() {
    let mut image = ReadOnly(io::Cursor::new(vec![1u8; 10]));
    assert!(image.write_all(b"x").is_err());
    let mut buf = [0; 10];
    image.read_exact(&mut buf).expect("reads");
    assert_eq!(buf, [1; 10]);
}
