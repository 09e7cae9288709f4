//! The faulty disk's self-tests: what a test using it relies on, on a real loop device.

use std::io;
use std::time::{Duration, Instant};

use super::{Faults, FaultyDisk, open_direct, read_direct, write_direct};
use crate::harness::support;

#[track_caller]
fn assert_eio(result: io::Result<impl std::fmt::Debug>) {
    match result {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "want EIO, got {e}"),
        Ok(v) => panic!("want EIO, got success: {v:?}"),
    }
}

const MIB: u64 = 1 << 20;
const SIZE: u64 = 8 * MIB;

#[test]
fn faulty_round_trip() {
    let disk = FaultyDisk::new(SIZE);
    let data = support::random_bytes(1, 64 << 10);
    write_direct(disk.device(), MIB, &data).unwrap();
    assert_eq!(disk.contents(MIB, data.len()), data);
    assert_eq!(disk.contents(MIB - 4096, 4096), vec![0; 4096]);
    assert_eq!(disk.bytes_written(), 64 << 10);
    assert_eq!(read_direct(disk.device(), MIB, data.len()).unwrap(), data);
    // The device is the file's size.
    let device = disk.device().to_str().unwrap();
    assert_eq!(
        support::sh("blockdev", &["--getsize64", device]).trim(),
        SIZE.to_string()
    );
}

#[test]
fn faulty_fail_writes_from() {
    let disk = FaultyDisk::new(SIZE);
    let at = 4 * MIB;
    disk.set(Faults {
        fail_writes_from: Some(at),
        ..Faults::default()
    });
    let below = support::random_bytes(2, 64 << 10);
    write_direct(disk.device(), at - (64 << 10), &below).unwrap();
    assert_eio(write_direct(disk.device(), at, &[0xAA; 4096]));
    // A write straddling the offset in one request stores nothing, not even its part below.
    assert_eio(write_direct(disk.device(), at - 4096, &[0xBB; 8192]));
    assert_eq!(disk.contents(at - (64 << 10), 64 << 10), below);
    assert_eq!(disk.contents(at, 4096), vec![0; 4096]);
    assert_eq!(disk.bytes_written(), 64 << 10);
    // A write larger than MAX_REQUEST is several requests: those below the offset are stored.
    assert_eio(write_direct(disk.device(), at - MIB, &vec![0xCC; 2 << 20]));
    assert_eq!(disk.contents(at - MIB, 1 << 20), vec![0xCC; 1 << 20]);
    assert_eq!(disk.contents(at, 1 << 20), vec![0; 1 << 20]);
    assert_eq!(disk.bytes_written(), (64 << 10) + MIB);
    // Reads are unaffected; clearing the fault heals the card.
    assert_eq!(read_direct(disk.device(), at, 4096).unwrap(), vec![0; 4096]);
    disk.set(Faults::default());
    write_direct(disk.device(), at, &[0xAA; 4096]).unwrap();
    assert_eq!(disk.contents(at, 4096), vec![0xAA; 4096]);
}

#[test]
fn faulty_flip_bit_on_read() {
    let disk = FaultyDisk::new(SIZE);
    let data = support::random_bytes(3, 8192);
    write_direct(disk.device(), 2 * MIB, &data).unwrap();
    disk.set(Faults {
        flip_bit_on_read_at: Some(2 * MIB + 5),
        ..Faults::default()
    });
    let read = read_direct(disk.device(), 2 * MIB, data.len()).unwrap();
    assert_eq!(read[5], data[5] ^ 1);
    assert_eq!(read[..5], data[..5]);
    assert_eq!(read[6..], data[6..]);
    assert_eq!(disk.contents(2 * MIB, data.len()), data);
    disk.set(Faults::default());
    assert_eq!(
        read_direct(disk.device(), 2 * MIB, data.len()).unwrap(),
        data
    );
}

#[test]
fn faulty_fail_writes_after() {
    let disk = FaultyDisk::new(SIZE);
    let chunk = 64 << 10;
    disk.set(Faults {
        fail_writes_after: Some(2 * chunk),
        ..Faults::default()
    });
    let data = support::random_bytes(4, 3 * chunk as usize);
    for i in 0..2 {
        let part = &data[i * chunk as usize..(i + 1) * chunk as usize];
        write_direct(disk.device(), i as u64 * chunk, part).unwrap();
    }
    assert_eq!(disk.bytes_written(), 2 * chunk);
    assert_eio(write_direct(
        disk.device(),
        2 * chunk,
        &data[2 * chunk as usize..],
    ));
    // Worn out: even a write that would fit in nothing more fails, anywhere.
    assert_eio(write_direct(disk.device(), 5 * MIB, &[1; 512]));
    assert_eq!(disk.bytes_written(), 2 * chunk);
    assert_eq!(
        disk.contents(0, 2 * chunk as usize),
        data[..2 * chunk as usize]
    );
    assert_eq!(
        disk.contents(2 * chunk, chunk as usize),
        vec![0; chunk as usize]
    );
    // The card still reads.
    assert_eq!(
        read_direct(disk.device(), 0, 2 * chunk as usize).unwrap(),
        data[..2 * chunk as usize]
    );
}

#[test]
fn faulty_stall_writes() {
    let disk = FaultyDisk::new(SIZE);
    let pause = Duration::from_millis(300);
    disk.set(Faults {
        stall_writes_from: Some((MIB, pause)),
        ..Faults::default()
    });
    let started = Instant::now();
    write_direct(disk.device(), MIB, &[7; 4096]).unwrap();
    let took = started.elapsed();
    assert!(took >= pause, "a stalled write took only {took:?}");
    assert_eq!(disk.contents(MIB, 4096), vec![7; 4096]);
    assert_eq!(disk.bytes_written(), 4096);
}

#[test]
fn faulty_fail_reads_from() {
    let disk = FaultyDisk::new(SIZE);
    let at = 6 * MIB;
    let data = support::random_bytes(6, 16 << 10);
    write_direct(disk.device(), at - 8192, &data).unwrap();
    disk.set(Faults {
        fail_reads_from: Some(at),
        ..Faults::default()
    });
    assert_eq!(
        read_direct(disk.device(), at - 8192, 8192).unwrap(),
        data[..8192]
    );
    assert_eio(read_direct(disk.device(), at, 4096));
    assert_eio(read_direct(disk.device(), at - 8192, 16 << 10));
    // Stored all the same, and writes still work there.
    assert_eq!(disk.contents(at - 8192, data.len()), data);
    write_direct(disk.device(), at, &[9; 4096]).unwrap();
    assert_eq!(disk.contents(at, 4096), vec![9; 4096]);
}

#[test]
fn faulty_drop_while_open_and_stalling() {
    // A test that fails midway drops the disk with the device still open and a fault active:
    // that must not hang.
    let mut disk = FaultyDisk::new(SIZE);
    disk.set(Faults {
        stall_writes_from: Some((0, Duration::from_millis(200))),
        fail_writes_from: Some(MIB),
        ..Faults::default()
    });
    let device = disk.device().to_owned();
    let held = open_direct(&device);
    disk.detach_loop();
    write_direct(&device, 0, &[3; 4096]).unwrap();
    assert_eq!(disk.contents(0, 4096), vec![3; 4096]);
    let started = Instant::now();
    drop(disk);
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(held);
}

#[test]
fn faulty_wrap_from() {
    let disk = FaultyDisk::new(SIZE);
    let n = 4 * MIB;
    disk.set(Faults {
        wrap_from: Some(n),
        ..Faults::default()
    });
    // Beyond N lands at offset % N, and reads there read offset % N.
    let data = support::random_bytes(7, 8192);
    write_direct(disk.device(), n + MIB, &data).unwrap();
    assert_eq!(disk.contents(MIB, data.len()), data);
    assert_eq!(disk.contents(n + MIB, data.len()), vec![0; data.len()]);
    assert_eq!(read_direct(disk.device(), n + MIB, 8192).unwrap(), data);
    write_direct(disk.device(), 2 * MIB, &data).unwrap();
    assert_eq!(read_direct(disk.device(), n + 2 * MIB, 8192).unwrap(), data);
    // A request across N is split: its part past N goes to the start.
    let across = support::random_bytes(8, 8192);
    write_direct(disk.device(), n - 4096, &across).unwrap();
    assert_eq!(disk.contents(n - 4096, 4096), across[..4096]);
    assert_eq!(disk.contents(0, 4096), across[4096..]);
    assert_eq!(read_direct(disk.device(), n - 4096, 8192).unwrap(), across);
    assert_eq!(disk.bytes_written(), 3 * 8192);
}

#[test]
fn faulty_lose_writes_from() {
    let disk = FaultyDisk::new(SIZE);
    let f = 5 * MIB;
    disk.fill_random(f..SIZE, 9);
    let old = disk.contents(f, 8192);
    assert_ne!(old, vec![0; 8192]);
    disk.set(Faults {
        lose_writes_from: Some(f),
        ..Faults::default()
    });
    // Accepted, not stored; reads past F are zeros whatever the flash holds.
    write_direct(disk.device(), f, &[0xAB; 8192]).unwrap();
    assert_eq!(disk.contents(f, 8192), old);
    assert_eq!(read_direct(disk.device(), f, 8192).unwrap(), vec![0; 8192]);
    // Across F: the part below is stored and reads back.
    let data = support::random_bytes(10, 8192);
    write_direct(disk.device(), f - 4096, &data).unwrap();
    assert_eq!(disk.contents(f - 4096, 4096), data[..4096]);
    let read = read_direct(disk.device(), f - 4096, 8192).unwrap();
    assert_eq!(read[..4096], data[..4096]);
    assert_eq!(read[4096..], [0; 4096]);
    assert_eq!(disk.bytes_written(), 2 * 8192);
}

#[test]
fn faulty_stale_from() {
    let disk = FaultyDisk::new(SIZE);
    let f = 3 * MIB;
    disk.fill_random(f..SIZE, 11);
    let old = disk.contents(f + MIB, 4096);
    disk.set(Faults {
        stale_from: Some(f),
        ..Faults::default()
    });
    write_direct(disk.device(), f + MIB, &[0x11; 4096]).unwrap();
    assert_eq!(read_direct(disk.device(), f + MIB, 4096).unwrap(), old);
    assert_eq!(disk.contents(f + MIB, 4096), old);
    // Below F the card works.
    write_direct(disk.device(), f - 4096, &[0x22; 4096]).unwrap();
    assert_eq!(
        read_direct(disk.device(), f - 4096, 4096).unwrap(),
        [0x22; 4096]
    );
}

#[test]
fn faulty_bad_region() {
    let disk = FaultyDisk::new(SIZE);
    let bad = 2 * MIB + 4096..2 * MIB + 12288;
    disk.set(Faults {
        bad_region: Some(bad.clone()),
        ..Faults::default()
    });
    let data = support::random_bytes(12, 16384);
    write_direct(disk.device(), 2 * MIB, &data).unwrap();
    let read = read_direct(disk.device(), 2 * MIB, data.len()).unwrap();
    assert_eq!(read[..4096], data[..4096]);
    assert_eq!(read[4096..12288], [0; 8192]);
    assert_eq!(read[12288..], data[12288..]);
    assert_eq!(disk.contents(bad.start, 8192), vec![0; 8192]);
}

#[test]
fn faulty_corrupt_writes() {
    use super::storage::CORRUPT_SECTOR;
    let disk = FaultyDisk::new(SIZE);
    let range = MIB..MIB + 4096;
    disk.set(Faults {
        corrupt_writes: Some((range.clone(), true)),
        ..Faults::default()
    });
    let data = support::random_bytes(13, 16384);
    write_direct(disk.device(), MIB - 4096, &data).unwrap();
    let stored = disk.contents(MIB - 4096, data.len());
    let differs: Vec<usize> = (0..data.len()).filter(|&i| stored[i] != data[i]).collect();
    let want: Vec<usize> = (0..8).map(|s| 4096 + s * CORRUPT_SECTOR as usize).collect();
    assert_eq!(differs, want, "the first byte of each sector in the range");
    assert!(differs.iter().all(|&i| stored[i] == data[i] ^ 0xFF));
    assert_eq!(
        read_direct(disk.device(), MIB - 4096, 16384).unwrap(),
        stored
    );
    // First write only: writing it again (in other pieces) stores it right.
    write_direct(disk.device(), MIB, &data[4096..6144]).unwrap();
    write_direct(disk.device(), MIB + 2048, &data[6144..8192]).unwrap();
    assert_eq!(disk.contents(MIB, 4096), data[4096..8192]);
    // Every write: never right. Setting the faults forgets what was corrupted.
    disk.set(Faults {
        corrupt_writes: Some((range, false)),
        ..Faults::default()
    });
    for _ in 0..2 {
        write_direct(disk.device(), MIB, &data[..4096]).unwrap();
        let stored = disk.contents(MIB, 4096);
        assert_eq!(stored[0], data[0] ^ 0xFF);
        assert_eq!(stored[512], data[512] ^ 0xFF);
        assert_eq!(stored[1..512], data[1..512]);
    }
    assert_eq!(disk.bytes_written(), 16384 + 4096 + 2 * 4096);
}
