//! `blockprint station` as a normal user, through the real udisksd and polkitd on the private
//! bus: loop devices set up one after another while it runs play the cards plugged in. It
//! writes and verifies each new one, skips the one there before it started and the one too
//! large, isolates a failing FUSE card, records one correct JSON line per card, and stops at
//! --count. Ctrl-C once finishes the card in progress; twice stops it with nothing bootable.
//!
//! The test holds the loop-setup lock for its whole run: a station with --all would take any
//! loop device another test set up meanwhile.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::harness::faulty_card::{Faults, FaultyDisk, cap_requests};
use crate::harness::support::{
    loop_setup_lock, random_bytes, require_root, require_tool, sh, stderr_lines,
};
use crate::udisks::{UdisksLoop, workdir};

const MIB: u64 = 1 << 20;
const IMAGE: usize = 8 << 20;

/// Root, udisksd on the private bus, and the unprivileged test user, or a loud failure.
fn test_user() -> String {
    require_root("the station's udisksd");
    require_tool("udisksctl");
    assert!(
        std::env::var_os("BLOCKPRINT_TEST_UDISKS").is_some(),
        "the station tests need udisksd on a private system bus: run build-aux/test, or \
         eval \"$(build-aux/udisks-env start DIR)\" first"
    );
    std::env::var("BLOCKPRINT_TEST_USER").expect("BLOCKPRINT_TEST_USER is set by udisks-env")
}

/// A random image of [`IMAGE`] bytes, readable by everyone.
fn image(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("image.img");
    let bytes = random_bytes(7, IMAGE);
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (path, bytes)
}

/// The station started as `user`, with a home of its own in `dir`, once it says it waits for
/// cards; its stderr lines.
fn start(user: &str, dir: &Path, args: &[&str]) -> (Child, Receiver<String>, Vec<String>) {
    let id = |flag: &str| sh("id", &[flag, user]).trim().parse::<u32>().unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockprint"))
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .arg("station")
        .args(args)
        .uid(id("-u"))
        .gid(id("-g"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the station");
    let lines = stderr_lines(&mut child);
    let mut said = Vec::new();
    wait_for(&lines, &mut said, "station: writing");
    (child, lines, said)
}

/// Reads lines into `said` until one holds `needle`; fails after a minute.
fn wait_for(lines: &Receiver<String>, said: &mut Vec<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            said.push(line);
            if found {
                return;
            }
        }
    }
    panic!(
        "the station never said {needle:?}; it said:\n{}",
        said.join("\n")
    );
}

/// The station's exit code and every line it said; fails if it has not ended in two minutes.
fn end(mut child: Child, lines: &Receiver<String>, mut said: Vec<String>) -> (i32, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        said.extend(lines.try_iter());
        if let Some(status) = child.try_wait().expect("wait for the station") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the station did not end; it said:\n{}", said.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The reader thread ends with the pipe.
    said.extend(lines.iter());
    (status.code().unwrap_or(-1), said)
}

#[test]
fn a_station_writes_each_new_card_and_records_it() {
    let user = test_user();
    let _held = loop_setup_lock();
    let dir = workdir();
    let (image, bytes) = image(dir.path());
    let (before, before_bytes) = UdisksLoop::random(&dir.path().join("before.img"), 1, 32 << 20);
    let report = dir.path().join("report.jsonl");
    std::fs::write(&report, "").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o666)).unwrap();
    // udisksd must know the card that was there before the station starts.
    std::thread::sleep(Duration::from_secs(1));
    let args = [
        "--all",
        "--count",
        "2",
        "--max-size",
        "48MiB",
        "--report",
        report.to_str().unwrap(),
        image.to_str().unwrap(),
    ];
    let (child, lines, mut said) = start(&user, dir.path(), &args);

    let (a, a_bytes) = UdisksLoop::random(&dir.path().join("a.img"), 2, 32 << 20);
    wait_for(&lines, &mut said, "read back and verified");
    let (big, big_bytes) = UdisksLoop::random(&dir.path().join("big.img"), 3, 64 << 20);
    wait_for(&lines, &mut said, "larger than --max-size");
    let faulty = FaultyDisk::without_loop(32 * MIB);
    faulty.set(Faults {
        fail_writes_from: Some(4 * MIB),
        ..Faults::default()
    });
    let failing = UdisksLoop::new(&faulty.file());
    cap_requests(Path::new(failing.name()));
    wait_for(&lines, &mut said, "FAILED");
    let (b, b_bytes) = UdisksLoop::random(&dir.path().join("b.img"), 4, 32 << 20);
    let (code, said) = end(child, &lines, said);
    let text = said.join("\n");
    assert_eq!(code, 1, "a failed card makes the exit status 1:\n{text}");
    assert!(text.contains("all cards written"), "{text}");

    // The new cards hold the image (past it, the engine wipes the card's end: an old
    // backup partition table must not outlive the image).
    for (card, backing, was) in [(&a, "a.img", &a_bytes), (&b, "b.img", &b_bytes)] {
        let now = std::fs::read(dir.path().join(backing)).unwrap();
        assert!(
            now[..IMAGE] == bytes[..],
            "{} does not hold the image",
            card.name()
        );
        assert!(
            now[..IMAGE] != was[..IMAGE],
            "{} was the image already",
            card.name()
        );
    }
    let untouched = |name: &str, was: &[u8]| std::fs::read(dir.path().join(name)).unwrap() == was;
    assert!(
        untouched("before.img", &before_bytes),
        "the card there before was written"
    );
    assert!(
        untouched("big.img", &big_bytes),
        "the too-large card was written"
    );
    assert!(
        !text.contains(&format!("{}:", before.name())),
        "the card there before was taken:\n{text}"
    );
    assert!(
        text.contains(&format!("skipping {}", big.name())),
        "the large card's skip names it:\n{text}"
    );
    let failed_line = said.iter().find(|l| l.contains("FAILED")).unwrap();
    assert!(failed_line.contains(failing.name()), "{failed_line}");
    // The first MiB is written last: the failed card does not boot the image.
    assert!(faulty.contents(0, MIB as usize) != bytes[..MIB as usize]);
    assert!(text.contains("2 written, 1 failed"), "{text}");

    // One JSON line per card, in the order they ended.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let expect = [
        (a.name(), "written"),
        (failing.name(), "failed"),
        (b.name(), "written"),
    ];
    for (number, (line, (device, result))) in lines.iter().zip(expect).enumerate() {
        assert_eq!(line["card"], number as u64 + 1, "{line}");
        assert_eq!(line["device"], device, "{line}");
        assert_eq!(line["result"], result, "{line}");
        assert_eq!(line["size"], 32 * MIB, "{line}");
        assert!(
            line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        if result == "written" {
            assert_eq!(line["bytes"], IMAGE as u64, "{line}");
            assert_eq!(line["verified"], true, "{line}");
            assert!(line["mb_per_s"].as_f64().is_some_and(|s| s > 0.0), "{line}");
            assert!(line["error"].is_null(), "{line}");
        } else {
            assert!(
                line["error"].as_str().is_some_and(|e| e.contains(device)),
                "{line}"
            );
        }
    }
    drop((a, b, big, failing));
    drop(before);
}

#[test]
fn ctrl_c_finishes_the_card_in_progress_and_twice_stops_it() {
    let user = test_user();
    let _held = loop_setup_lock();
    let dir = workdir();
    let (image, bytes) = image(dir.path());
    for twice in [false, true] {
        let (child, lines, mut said) =
            start(&user, dir.path(), &["--all", image.to_str().unwrap()]);
        // A slow card: every write past 2 MiB takes a quarter of a second.
        let slow = FaultyDisk::without_loop(32 * MIB);
        slow.set(Faults {
            stall_writes_from: Some((2 * MIB, Duration::from_millis(250))),
            ..Faults::default()
        });
        let card = UdisksLoop::new(&slow.file());
        cap_requests(Path::new(card.name()));
        wait_for(&lines, &mut said, ": writing");
        let pid = child.id().to_string();
        sh("kill", &["-INT", &pid]);
        wait_for(&lines, &mut said, "Ctrl-C: finishing the card in progress");
        if twice {
            sh("kill", &["-INT", &pid]);
        }
        let (code, said) = end(child, &lines, said);
        let text = said.join("\n");
        let start = slow.contents(0, MIB as usize);
        if twice {
            assert_eq!(code, 1, "{text}");
            assert!(
                text.contains("stopped: it holds no bootable image now"),
                "{text}"
            );
            assert!(
                start != bytes[..MIB as usize],
                "a stopped card boots the image"
            );
        } else {
            assert_eq!(code, 0, "{text}");
            assert!(text.contains("read back and verified"), "{text}");
            assert!(text.contains("1 written, 0 failed"), "{text}");
            assert!(
                slow.contents(0, IMAGE) == bytes,
                "the finished card lacks the image"
            );
        }
        drop(card);
    }
}

#[test]
fn cards_plugged_in_together_get_numbered_hostnames() {
    use blockprint::firstboot::Format;
    let user = test_user();
    let fixtures = crate::firstboot_card::fixtures();
    let _held = loop_setup_lock();
    let dir = workdir();
    // The Raspberry-Pi-OS-like image, readable by the test user.
    let image = dir.path().join("pi.img");
    std::fs::copy(
        fixtures.path(&format!("{}.img", Format::Systemd.name())),
        &image,
    )
    .unwrap();
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o644)).unwrap();
    let settings = dir.path().join("pi.toml");
    let numbered = crate::firstboot_card::SETTINGS.replace("\"pi-kitchen\"", "\"pi-{n:02}\"");
    std::fs::write(&settings, numbered).unwrap();
    std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args = [
        "--all",
        "--count",
        "2",
        "--settings",
        settings.to_str().unwrap(),
        image.to_str().unwrap(),
    ];
    let (child, lines, said) = start(&user, dir.path(), &args);
    // Both within the settling time: one batch, the image read once for both.
    let (one, _) = UdisksLoop::random(&dir.path().join("one.img"), 5, 96 << 20);
    let (two, _) = UdisksLoop::random(&dir.path().join("two.img"), 6, 96 << 20);
    let (code, said) = end(child, &lines, said);
    let text = said.join("\n");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(one.name()), "{text}");
    for (number, backing) in [(1, "one.img"), (2, "two.img")] {
        let card = dir.path().join(backing);
        let script = String::from_utf8_lossy(&crate::firstboot_card::mtype(&card, "firstrun.sh"))
            .into_owned();
        let mine = format!("pi-{number:02}");
        let other = format!("pi-{:02}", 3 - number);
        let said = said
            .iter()
            .find(|l| l.contains(&format!("as {mine}")))
            .expect(&text);
        assert!(
            script.contains(&mine) && !script.contains(&other),
            "{backing}: {script}"
        );
        assert!(
            said.contains(one.name()) || said.contains(two.name()),
            "{said}"
        );
    }
    drop((one, two));
}

#[test]
fn an_image_url_is_downloaded_once_and_its_first_card_makes_the_bmap() {
    use std::io::Write as _;
    let user = test_user();
    let server = crate::harness::nginx::Nginx::start();
    let _held = loop_setup_lock();
    let dir = workdir();
    let (_, bytes) = image(dir.path());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let url = server.put("image.img.gz", &gz);
    let (child, lines, mut said) =
        start(&user, dir.path(), &["--all", "--count", "2", url.as_str()]);
    let (one, _) = UdisksLoop::random(&dir.path().join("one.img"), 8, 16 << 20);
    wait_for(&lines, &mut said, "serves the next cards");
    let (two, _) = UdisksLoop::random(&dir.path().join("two.img"), 9, 16 << 20);
    let (code, said) = end(child, &lines, said);
    let text = said.join("\n");
    assert_eq!(code, 0, "{text}");
    for backing in ["one.img", "two.img"] {
        let card = std::fs::read(dir.path().join(backing)).unwrap();
        assert!(
            card[..IMAGE] == bytes[..],
            "{backing} does not hold the image:\n{text}"
        );
    }
    assert_eq!(text.matches("downloading").count(), 1, "{text}");
    let served: u64 = server
        .log()
        .iter()
        .filter(|l| l.request.contains("/image.img.gz ") && l.status < 300)
        .map(|l| l.bytes)
        .sum();
    assert!(
        served <= gz.len() as u64 + (64 << 10),
        "the image was sent {served} bytes for a {}-byte file",
        gz.len()
    );
    drop((one, two));
}
