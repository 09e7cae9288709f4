//! `copy` and `check-card` run by a normal user, without sudo: the binary, as the harness's
//! unprivileged users, writes loop devices through the real udisksd on the private system bus
//! of `build-aux/udisks-env`, and polkit decides. The user a polkit rule allows writes the
//! image byte for byte (with and without a bmap) and checks a card that keeps its data; the
//! user polkit's defaults leave to an administrator's password gets one error line without a
//! terminal, and on a terminal (a pty of util-linux `script`) gets `pkttyagent`'s prompt and,
//! for a wrong password, polkit's no; the card is untouched either way. Against the udisksd
//! stand-in, whose drive is a USB stick backed by a real loop device, a removable drive is
//! powered off through UDisks after writing unless `--no-power-off` says not to.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;
use blockprint::udisks::Udisks;

use crate::harness::support::{
    LoopDevice, Run, assert_written, finish, random_bytes, read_at, require_root, require_tool, sh,
    sparse_image,
};
use crate::harness::udisksd_standin::{Bus, Disk, Standin};
use crate::udisks::{UdisksLoop, udisks, workdir};

const MIB: usize = 1 << 20;
/// The longest any run here may take.
const LIMIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_blockprint");

/// Writes `data` to `path`, readable by everyone.
fn public_file(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap();
    readable(path);
}

fn readable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// The name of the test user `var` names (set by build-aux/udisks-env).
pub(crate) fn user(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is set by build-aux/udisks-env"))
}

/// The uid and gid of `name`.
fn ids(name: &str) -> (u32, u32) {
    let id = |flag: &str| sh("id", &[flag, name]).trim().parse::<u32>().unwrap();
    (id("-u"), id("-g"))
}

/// A random-filled card over `backing`, once udisksd lists it with its size; its bytes.
fn card(udisks: &Udisks, backing: &Path, seed: u64, len: usize) -> (UdisksLoop, Vec<u8>) {
    let (card, before) = UdisksLoop::random(backing, seed, len);
    let started = Instant::now();
    while !udisks
        .drives()
        .expect("drives")
        .iter()
        .any(|d| d.backing_file.as_deref() == Some(backing) && d.size == len as u64)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "udisksd never listed {}",
            backing.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (card, before)
}

/// `blockprint ARGS` as the user `name`, in a session of its own with no terminal and stdin
/// from /dev/null; on the stand-in's bus when `bus` is given, else on the test's system bus.
pub(crate) fn blockprint_as(name: &str, args: &[&str], bus: Option<&str>) -> Run {
    let (uid, gid) = ids(name);
    let mut command = Command::new(BIN);
    command
        .args(args)
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(address) = bus {
        command.env("DBUS_SYSTEM_BUS_ADDRESS", address);
    }
    // SAFETY: only setsid, which is async-signal-safe, runs between fork and exec. Without a
    // controlling terminal the child cannot reach the one `cargo test` may run on.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    finish(command.spawn().expect("run blockprint"), LIMIT)
}

/// The allowed user writes a loop device through udisksd: an image without a bmap lands byte
/// for byte; with a bmap its mapped bytes land and the rest is as `copy` leaves it.
#[test]
fn the_allowed_user_copies_through_udisksd() {
    let udisks = udisks();
    let allowed = user("BLOCKPRINT_TEST_USER");
    let dir = workdir();
    let backing = dir.path().join("card.img");
    let (card, _) = card(&udisks, &backing, 41, 16 * MIB);

    let image = dir.path().join("image.img");
    let content = random_bytes(42, 8 * MIB);
    public_file(&image, &content);
    let run = blockprint_as(
        &allowed,
        &["copy", "--nobmap", image.to_str().unwrap(), card.name()],
        None,
    );
    run.ok();
    assert!(
        read_at(&backing, 0, content.len()) == content,
        "the image did not land on {}; stderr:\n{}",
        card.name(),
        run.stderr
    );

    // With a bmap made by `blockprint create` (as root).
    let (sparse, bmap_path, sparse_content) = sparse_image(dir.path(), 12 * MIB as u64);
    readable(&sparse);
    readable(&bmap_path);
    let before = std::fs::read(&backing).unwrap();
    let run = blockprint_as(
        &allowed,
        &[
            "copy",
            "--bmap",
            bmap_path.to_str().unwrap(),
            sparse.to_str().unwrap(),
            card.name(),
        ],
        None,
    );
    run.ok();
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    assert_written(
        &std::fs::read(&backing).unwrap(),
        &before,
        &sparse_content,
        &bmap,
    );
}

/// The user polkit leaves to an administrator's password, with no terminal and no agent:
/// exit 1 and one line saying nobody can be asked; nothing written.
#[test]
fn the_denied_user_without_a_terminal_is_told_nobody_can_be_asked() {
    let denied = user("BLOCKPRINT_TEST_DENIED_USER");
    refused_copy(&denied, 43, None, &["nobody can be asked here"]);
}

/// Without udisksd (no system bus at all) a normal user gets one line saying what to do, and
/// the card is untouched.
#[test]
fn without_udisksd_a_normal_user_is_told_to_use_sudo() {
    let allowed = user("BLOCKPRINT_TEST_USER");
    let nowhere = |dir: &Path| format!("unix:path={}", dir.join("no-bus").display());
    let needles = [
        "udisksd is not running",
        "run blockprint with sudo, or start udisksd",
    ];
    refused_copy(&allowed, 45, Some(&nowhere), &needles);
}

/// `user` copies an image onto a random-filled card (cards and images from `seed`), on the
/// bus `bus` names for the test's folder (else the test's system bus): it fails with one
/// error line holding `needles` and the card's name, and the card is untouched.
fn refused_copy(user: &str, seed: u64, bus: Option<&dyn Fn(&Path) -> String>, needles: &[&str]) {
    let udisks = udisks();
    let dir = workdir();
    let backing = dir.path().join("card.img");
    let (card, before) = card(&udisks, &backing, seed, 16 * MIB);
    let image = dir.path().join("image.img");
    public_file(&image, &random_bytes(seed + 1, 8 * MIB));
    let address = bus.map(|bus| bus(dir.path()));
    let run = blockprint_as(
        user,
        &["copy", "--nobmap", image.to_str().unwrap(), card.name()],
        address.as_deref(),
    );
    let named = format!("'{}'", card.name());
    let mut needles = needles.to_vec();
    needles.push(&named);
    run.fails_with(&needles);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "want one line, stderr:\n{}",
        run.stderr
    );
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "the card was written"
    );
}

/// The denied user on a terminal (a pty of `script`): blockprint starts `pkttyagent`, which
/// asks for the administrator's password; a wrong one is polkit's no, said in one line, and
/// the card is untouched.
#[test]
fn the_denied_user_on_a_terminal_is_asked_and_a_wrong_password_is_refused() {
    require_tool("script");
    require_tool("pkttyagent");
    let udisks = udisks();
    let denied = user("BLOCKPRINT_TEST_DENIED_USER");
    let dir = workdir();
    let backing = dir.path().join("card.img");
    let (card, before) = card(&udisks, &backing, 45, 16 * MIB);
    let image = dir.path().join("image.img");
    public_file(&image, &random_bytes(46, 8 * MIB));

    let (uid, gid) = ids(&denied);
    let command = format!(
        "{BIN} copy --nobmap {} {}",
        image.to_str().unwrap(),
        card.name()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    let (said, reader) = collect(&mut child);
    // Typed once pkttyagent asks (it flushes what was typed before).
    let mut keyboard = child.stdin.take().unwrap();
    wait_for(&mut child, &said, "Password:");
    keyboard.write_all(b"wrongpassword\n").unwrap();
    keyboard.flush().unwrap();
    let run = finish(child, LIMIT);
    drop(keyboard);
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&said.lock().unwrap()).into_owned() + &run.stderr;

    assert_ne!(run.code, 0, "the denied user wrote the card:\n{text}");
    assert!(
        text.contains("AUTHENTICATING FOR org.freedesktop.udisks2.open-device"),
        "pkttyagent did not ask:\n{text}"
    );
    let refusal = format!("polkit does not let this user write '{}'", card.name());
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("blockprint: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "want one error line:\n{text}");
    assert!(errors[0].contains(&refusal), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "the card was written"
    );
}

/// What `child` writes to its stdout, gathered by a thread as it comes.
fn collect(child: &mut Child) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let said = Arc::new(Mutex::new(Vec::new()));
    let into = said.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                return;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (said, reader)
}

/// Waits until `said` holds `text`; fails (killing `child`) if it ends first or takes longer
/// than [`LIMIT`].
fn wait_for(child: &mut Child, said: &Mutex<Vec<u8>>, text: &str) {
    let started = Instant::now();
    loop {
        let so_far = String::from_utf8_lossy(&said.lock().unwrap()).into_owned();
        if so_far.contains(text) {
            return;
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("'{text}' never came; the terminal showed:\n{so_far}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The allowed user checks a genuine card through udisksd: it passes, and keeps every byte.
#[test]
fn the_allowed_user_checks_a_card_through_udisksd() {
    let udisks = udisks();
    let allowed = user("BLOCKPRINT_TEST_USER");
    let dir = workdir();
    let backing = dir.path().join("card.img");
    let (card, before) = card(&udisks, &backing, 47, 32 * MIB);

    let run = blockprint_as(&allowed, &["check-card", card.name()], None);
    let stderr = run.ok();
    assert!(
        stderr.contains("This card holds the 33.6 MB it claims."),
        "{stderr}"
    );
    assert!(stderr.contains("what it held is as it was"), "{stderr}");
    assert!(
        std::fs::read(&backing).unwrap() == before,
        "check-card changed the card"
    );
}

/// A USB stick (the stand-in's, backed by a real loop device) written by a normal user is
/// powered off through UDisks after the copy, the default for a removable drive; with
/// `--no-power-off` it is only rescanned.
#[test]
fn a_removable_drive_is_powered_off_after_writing_unless_told_not_to() {
    require_root("a loop device");
    let allowed = user("BLOCKPRINT_TEST_USER");
    let dir = workdir();
    let backing = dir.path().join("stick.img");
    std::fs::write(&backing, random_bytes(48, 16 * MIB)).unwrap();
    let stick = LoopDevice::new(&backing);
    let name: &'static str = Box::leak(
        stick
            .name()
            .strip_prefix("/dev/")
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );
    let bus = Bus::start();
    let standin = Standin::serve(
        &bus,
        vec![Disk {
            opens: Some(stick.path.clone()),
            ..Disk::usb(name, "SanDisk", "Ultra", 16 * MIB as u64)
        }],
    );
    let copy = |seed: u64, extra: &[&str]| {
        let image = dir.path().join(format!("image-{seed}.img"));
        let content = random_bytes(seed, 8 * MIB);
        public_file(&image, &content);
        let mut args = vec!["copy", "--nobmap"];
        args.extend_from_slice(extra);
        args.extend([image.to_str().unwrap(), stick.name()]);
        let run = blockprint_as(&allowed, &args, Some(&bus.address));
        run.ok();
        assert!(
            read_at(&backing, 0, content.len()) == content,
            "the image did not land on {}; stderr:\n{}",
            stick.name(),
            run.stderr
        );
        run
    };

    let run = copy(49, &[]);
    let said = format!(
        "powered off '{}' (SanDisk Ultra): it can be removed",
        stick.name()
    );
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    let open = format!("OpenDevice {}", stick.name());
    let rescan = format!("Rescan {}", stick.name());
    assert_eq!(
        standin.calls(),
        [open.as_str(), rescan.as_str(), "PowerOff SanDisk Ultra"]
    );

    let run = copy(50, &["--no-power-off"]);
    assert!(!run.stderr.contains("powered off"), "{}", run.stderr);
    assert_eq!(
        standin.calls()[3..],
        [open.as_str(), rescan.as_str()],
        "--no-power-off: no new PowerOff, a rescan"
    );
}
