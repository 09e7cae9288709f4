//! The desktop app end to end: a real window on Xvfb, run as an unprivileged user, writing a
//! bmap image to a loop device through a real udisksd whose OpenDevice polkit authorises
//! (build-aux/udisks-env grants the test user `org.freedesktop.udisks2.*`; the app has no
//! bypass). The test drives the app as GNOME would, through its GActions on the session bus
//! (`org.gtk.Actions`), and types into its dialogs with xdotool. Screenshots of every step,
//! light and wide, dark and narrow, land in `target/tmp/gui-screenshots/`.
//!
//! Needs root and the environment of build-aux/udisks-env, which build-aux/test starts; each
//! pass starts its own display and session bus with build-aux/gui-env.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;

use crate::nginx::Nginx;
use crate::support::{
    assert_written, blockprint, random_bytes, read_at, require_root, require_tool, sparse_image,
};
use crate::udisks::UdisksLoop;

const APP_ID: &str = "io.github.blockprint.Blockprint";
pub(crate) const MIB: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the desktop app's end-to-end test needs udisksd and Xvfb from \
             build-aux/test (or eval \"$(build-aux/udisks-env start DIR)\" and \
             eval \"$(build-aux/gui-env start DIR2)\" first)"
        )
    })
}

/// Runs `command` to its end and returns its stdout; fails the test, with its stderr, unless
/// it succeeded.
fn stdout(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where an app runs: a user, and that user's display, session bus, home and runtime folder.
pub(crate) struct Session {
    user: String,
    display: String,
    bus: String,
    home: String,
    runtime: String,
    /// The gui-env folder, stopped on drop.
    dir: PathBuf,
}

impl Session {
    /// A display and session bus of its own for `user`, from build-aux/gui-env.
    pub(crate) fn start(user: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("blockprint-gui-")
            .tempdir()
            .unwrap()
            .keep();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("build-aux/gui-env");
        let exports = stdout(
            Command::new(&script)
                .arg("start")
                .arg(&dir)
                .env("BLOCKPRINT_TEST_USER", user),
            "gui-env start",
        );
        let get = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches('\'').replace('\\', ""))
                .unwrap_or_else(|| panic!("gui-env did not export {name}: {exports}"))
        };
        Session {
            user: user.to_owned(),
            display: get("DISPLAY"),
            bus: get("BLOCKPRINT_TEST_SESSION_BUS"),
            home: get("BLOCKPRINT_TEST_GUI_HOME"),
            runtime: get("BLOCKPRINT_TEST_GUI_RUNTIME"),
            dir,
        }
    }

    /// `blockprint`, as the session's user would start it from the desktop: that user's
    /// display, session bus, home and runtime folder (and the private system bus).
    fn blockprint(&self, dark: bool) -> Command {
        self.blockprint_with(dark, &[])
    }

    /// [`Session::blockprint`] with `extra` (`NAME=value`s) added to its environment.
    pub(crate) fn blockprint_with(&self, dark: bool, extra: &[&str]) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", &self.user, "--", "env", "-i"])
            .arg(format!(
                "PATH={}",
                std::env::var("PATH").unwrap_or_default()
            ))
            .arg(format!("DISPLAY={}", self.display))
            .arg(format!("HOME={}", self.home))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime))
            .arg(format!("DBUS_SESSION_BUS_ADDRESS={}", self.bus))
            .arg(format!(
                "DBUS_SYSTEM_BUS_ADDRESS={}",
                env("DBUS_SYSTEM_BUS_ADDRESS")
            ))
            .args([
                "LANG=C.UTF-8",
                "GDK_BACKEND=x11",
                // Screenshots the same on every machine: no GL driver differences.
                "GSK_RENDERER=cairo",
                "GSETTINGS_BACKEND=memory",
            ])
            .arg(format!(
                "ADW_DEBUG_COLOR_SCHEME={}",
                if dark { "prefer-dark" } else { "prefer-light" }
            ))
            .args(extra)
            .arg(env!("CARGO_BIN_EXE_blockprint"));
        command
    }

    /// A command on this session's display.
    fn x(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", &self.display);
        command
    }

    /// Runs `program` on this display; its stdout.
    fn run_x(&self, program: &str, args: &[&str]) -> String {
        stdout(self.x(program).args(args), &format!("{program} {args:?}"))
    }

    /// The first shown window whose title matches the regular expression `pattern`, once
    /// there is one; returns its id and title.
    fn window(&self, pattern: &str) -> (String, String) {
        let started = Instant::now();
        loop {
            let out = self
                .x("xdotool")
                .args(["search", "--onlyvisible", "--name", pattern])
                .output()
                .expect("run xdotool");
            if let Some(id) = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
            {
                let title = self.run_x("xdotool", &["getwindowname", id]);
                return (id.to_owned(), title.trim().to_owned());
            }
            assert!(
                started.elapsed() < WAIT,
                "no window titled /{pattern}/ appeared"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Keys (or text, with `type`) into the window whose title matches `pattern`.
    fn keys(&self, pattern: &str, how: &str, what: &[&str]) {
        let (id, _) = self.window(pattern);
        self.run_x("xdotool", &["windowfocus", "--sync", &id]);
        // Typed as a keyboard would (XTEST, to the focused window): an event sent to the
        // window itself fails when the key closes it before the key is released.
        let mut args = vec![how];
        if how == "type" {
            args.extend(["--delay", "30"]);
        }
        args.extend(what);
        self.run_x("xdotool", &args);
    }

    fn resize(&self, (width, height): (u32, u32)) {
        let (id, _) = self.window("^Blockprint$");
        let (w, h) = (width.to_string(), height.to_string());
        self.run_x("xdotool", &["windowsize", "--sync", &id, &w, &h]);
    }

    /// A screenshot of the top-left `width`×`height` of the screen (where the window and,
    /// with no window manager, its dialogs are), after the app has had a moment to draw.
    pub(crate) fn screenshot(&self, path: &Path, (width, height): (u32, u32)) {
        std::thread::sleep(Duration::from_millis(700));
        let crop = format!("{width}x{height}+0+0");
        self.run_x(
            "import",
            &[
                "-window",
                "root",
                "-crop",
                &crop,
                "+repage",
                path.to_str().unwrap(),
            ],
        );
        assert!(
            std::fs::metadata(path).unwrap().len() > 1000,
            "{} is empty",
            path.display()
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("build-aux/gui-env");
        let _ = Command::new(script).arg("stop").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The app, running as the session's user on its display and buses; quit on drop.
pub(crate) struct App<'a> {
    session: &'a Session,
    child: Child,
    log: PathBuf,
}

impl<'a> App<'a> {
    /// Starts the app; `args` are its command line (images to open).
    fn start(session: &'a Session, dark: bool, args: &[&str], log: PathBuf) -> Self {
        Self::start_with(session, session.blockprint(dark), args, log)
    }

    /// Starts `command` (from [`Session::blockprint_with`]) with `args`.
    pub(crate) fn start_with(
        session: &'a Session,
        mut command: Command,
        args: &[&str],
        log: PathBuf,
    ) -> Self {
        let out = File::create(&log).unwrap();
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the app through runuser");
        let app = App {
            session,
            child,
            log,
        };
        app.wait_for("the app on the session bus", || {
            app.describe("open").is_some()
        });
        app
    }

    /// `gdbus call` on the user's session bus, to the app's `org.gtk.Actions`.
    fn gdbus(&self, method: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("runuser")
            .args(["-u", &self.session.user, "--", "env"])
            .arg(format!("DBUS_SESSION_BUS_ADDRESS={}", self.session.bus))
            .args([
                "gdbus",
                "call",
                "--session",
                "--dest",
                APP_ID,
                "--object-path",
            ])
            .arg(format!("/{}", APP_ID.replace('.', "/")))
            .args(["--method", &format!("org.gtk.Actions.{method}")])
            .args(args)
            .output()
            .expect("run gdbus");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether the action is enabled; `None` while the app is not on the bus.
    pub(crate) fn describe(&self, action: &str) -> Option<bool> {
        self.gdbus("Describe", &[action])
            .map(|reply| reply.trim_start().starts_with("((true"))
    }

    pub(crate) fn activate(&self, action: &str, parameter: Option<&str>) {
        let parameter = match parameter {
            Some(text) => format!("[<'{text}'>]"),
            None => "[]".into(),
        };
        assert!(
            self.gdbus("Activate", &[action, &parameter, "{}"])
                .is_some(),
            "activating app.{action} failed; app log:\n{}",
            self.log()
        );
    }

    pub(crate) fn enabled(&self, action: &str) {
        self.wait_for(&format!("app.{action} to be enabled"), || {
            self.describe(action) == Some(true)
        });
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&self, what: &str, ready: impl Fn() -> bool) {
        let started = Instant::now();
        while !ready() {
            assert!(
                started.elapsed() < WAIT,
                "waited {WAIT:?} for {what}; app log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for App<'_> {
    /// Quits through the app's own action (runuser would pass a kill on to nobody), and
    /// makes sure the app is gone before the next one claims the bus name.
    fn drop(&mut self) {
        let _ = self.gdbus("Activate", &["quit", "[]", "{}"]);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.session.user, "-x", "blockprint"])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The image: `sparse_image` plus 12 MiB more data, so the write lasts long enough to watch (and
/// cancel) at the slow location's 1 MiB/s; its bmap is made anew by `blockprint create`.
fn image(dir: &Path) -> (PathBuf, Vec<u8>, Bmap) {
    let (path, bmap_path, mut content) = sparse_image(dir, 48 * MIB);
    let extra = random_bytes(7, 12 << 20);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&extra, 16 * MIB)
        .unwrap();
    content[16 << 20..28 << 20].copy_from_slice(&extra);
    blockprint([
        OsStr::new("-q"),
        OsStr::new("create"),
        OsStr::new("-o"),
        bmap_path.as_os_str(),
        path.as_os_str(),
    ])
    .ok();
    let bmap = Bmap::from_file(&bmap_path).unwrap();
    (path, content, bmap)
}

/// The image and its bmap as `pi.img` on the server's rate-limited location: its URL there.
pub(crate) fn served_image(server: &Nginx) -> (String, Vec<u8>, Bmap) {
    let (path, content, bmap) = image(&server.root());
    std::fs::rename(
        path.with_extension("img.bmap"),
        server.root().join("pi.img.bmap"),
    )
    .unwrap();
    std::fs::rename(&path, server.root().join("pi.img")).unwrap();
    (server.url("slow/pi.img").to_string(), content, bmap)
}

/// How a pass ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Written and verified.
    Done,
    /// Cancelled mid-write, after confirming.
    Cancel,
    /// Refused by polkit: the error page.
    Refused,
    /// The card fails while it is written: `pass` is given what makes it fail.
    Fails,
}

/// One pass through the app: the image from the (slow) web server, "show all drives", the
/// loop device chosen by typing its name, Erase and Write; then the end it is meant to have.
/// Every step is screenshotted as `{name}-{width}-{n}-{step}.png`.
pub(crate) fn pass<'a>(
    session: &'a Session,
    url: &str,
    card: &UdisksLoop,
    shots: &Path,
    (name, dark, size): (&str, bool, (u32, u32)),
    end: End,
    fail: &dyn Fn(),
) -> App<'a> {
    let from_command_line = end == End::Cancel;
    let prefix = format!("{name}-{}", size.0);
    // The cancelling pass opens the image as a file manager would, from the command line.
    let args: &[&str] = if from_command_line { &[url] } else { &[] };
    let app = App::start(session, dark, args, shots.join(format!("{prefix}-app.log")));
    session.resize(size);
    let shot = |step: &str| session.screenshot(&shots.join(format!("{prefix}-{step}.png")), size);
    if !from_command_line {
        shot("01-empty");
        app.activate("open-image", Some(url));
    }
    app.enabled("next");
    shot("02-image");
    app.activate("next", None);
    app.enabled("show-all-drives");
    shot("03-no-drives");
    app.activate("show-all-drives", None);
    shot("04-show-all-confirm");
    // The safe answer is the default: the other one is a Tab away.
    session.keys("^Show All Drives\\?$", "key", &["Tab", "Return"]);
    // The loop device is a system drive: choosing it asks for its name.
    let name = card.name().trim_start_matches("/dev/");
    app.activate("select-drive", Some(card.name()));
    let typed = "^Choose a System Drive\\?$";
    session.keys(typed, "type", &[name]);
    shot("05-type-name");
    session.keys(typed, "key", &["Return"]);
    app.enabled("write");
    shot("06-drive");
    app.activate("write", None);
    session.window("^Erase ");
    shot("07-confirm");
    session.keys("^Erase ", "key", &["Tab", "Return"]);
    match end {
        End::Done | End::Cancel | End::Fails => {
            app.enabled("cancel-write");
            std::thread::sleep(Duration::from_millis(1500));
            shot("08-writing");
        }
        End::Refused => {}
    }
    if end == End::Fails {
        fail();
    }
    if end == End::Cancel {
        app.activate("cancel-write", None);
        shot("09-cancel-confirm");
        session.keys("^Stop Writing\\?$", "key", &["Tab", "Return"]);
    }
    app.enabled("write-another");
    shot(match end {
        End::Done => "10-done",
        End::Cancel => "10-stopped",
        End::Refused => "10-refused",
        End::Fails => "10-failed",
    });
    app
}

/// The app's log, checked for GTK's complaints.
pub(crate) fn quiet(app: App<'_>) {
    let log = app.log();
    drop(app);
    assert!(!log.contains("CRITICAL"), "GTK complained:\n{log}");
}

/// Waits until the device's first sector ends in the MBR signature, as a restored drive's
/// does.
fn wait_for_mbr(device: &str) {
    let started = Instant::now();
    while read_at(Path::new(device), 510, 2) != [0x55, 0xaa] {
        assert!(started.elapsed() < WAIT, "{device} was not restored");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_app_writes_a_bmap_image_to_a_drive_through_udisks_and_polkit() {
    require_root("the desktop app's end-to-end test");
    env("BLOCKPRINT_TEST_UDISKS");
    for tool in ["Xvfb", "runuser", "gdbus", "xdotool", "import", "udisksctl"] {
        require_tool(tool);
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let server = Nginx::start();
    let (url, content, bmap) = served_image(&server);

    // The card: 64 MiB of old data, in a folder whose loop devices get partitions scanned.
    let dir = tempfile::Builder::new()
        .prefix("blockprint-udisks-")
        .tempdir()
        .unwrap();
    let backing = dir.path().join("card.bin");
    let before = random_bytes(11, 64 << 20);
    std::fs::write(&backing, &before).unwrap();
    // Set up through udisksd, so the app sees it arrive as a hotplugged drive.
    let card = UdisksLoop::new(&backing);
    let user = env("BLOCKPRINT_TEST_USER");

    // Light and wide: the whole write, checked byte by byte; the preferences and shortcuts
    // windows; then "Restore Drive".
    let wide = (720, 680);
    let session = Session::start(&user);
    let app = pass(
        &session,
        &url,
        &card,
        &shots,
        ("light", false, wide),
        End::Done,
        &|| {},
    );
    let device = std::fs::read(card.name()).unwrap();
    assert_written(&device, &before, &content, &bmap);
    for (action, title, name) in [
        ("preferences", "^Preferences$", "light-720-12-preferences"),
        (
            "shortcuts",
            "^Keyboard Shortcuts$",
            "light-720-13-shortcuts",
        ),
    ] {
        app.activate(action, None);
        session.window(title);
        session.screenshot(&shots.join(format!("{name}.png")), wide);
        session.keys(title, "key", &["Escape"]);
    }
    app.activate("restore-drive", None);
    session.window("^Restore ");
    session.screenshot(&shots.join("light-720-14-restore-confirm.png"), wide);
    session.keys("^Restore ", "key", &["Tab", "Return"]);
    wait_for_mbr(card.name());
    session.screenshot(&shots.join("light-720-15-restored.png"), wide);
    quiet(app);

    // Dark and narrow: cancelled mid-write; the card must not look bootable. (Each pass has
    // a fresh display: one pass's windows and focus never leak into the next.)
    let session = Session::start(&user);
    let app = pass(
        &session,
        &url,
        &card,
        &shots,
        ("dark", true, (360, 720)),
        End::Cancel,
        &|| {},
    );
    quiet(app);
    let start = read_at(Path::new(card.name()), 0, MIB as usize);
    assert!(
        start.iter().all(|&b| b == 0),
        "after a cancel the first MiB (partition table) must be zeros, not the image's"
    );

    // A user polkit does not allow (and who has no agent to ask for a password): the error
    // page says so, and the card is not touched.
    let denied = Session::start(&env("BLOCKPRINT_TEST_DENIED_USER"));
    let untouched = std::fs::read(card.name()).unwrap();
    let app = pass(
        &denied,
        &url,
        &card,
        &shots,
        ("denied", true, wide),
        End::Refused,
        &|| {},
    );
    app.activate("restore-drive", None);
    quiet(app);
    assert!(
        std::fs::read(card.name()).unwrap() == untouched,
        "a refused write changed the card"
    );
    eprintln!("screenshots: {}", shots.display());
}

/// "Trust This Key…": an image whose block map is signed by a key nobody trusts yet; the
/// user picks the publisher's key file in the file chooser and confirms; the signature is then
/// shown as valid and that one key sits in the user's trusted-keys folder.
#[test]
fn an_unknown_signer_can_be_trusted_from_the_app() {
    use crate::signatures::{Gpg, KEYS_MADE, SIGNED};
    use std::os::unix::fs::PermissionsExt;

    require_root("the desktop app's end-to-end test");
    env("BLOCKPRINT_TEST_UDISKS");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-screenshots-trust");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    // The image and its clearsigned bmap, where the app's user can read them.
    let dir = tempfile::Builder::new()
        .prefix("blockprint-gui-trust-")
        .tempdir()
        .unwrap();
    let (image, bmap, _) = sparse_image(dir.path(), 4 * MIB);
    let gpg = Gpg::new();
    let signer = gpg.key("Image Publisher <images@example.org>", KEYS_MADE, "never");
    let signed = dir.path().join("signed.bmap");
    gpg.sign(&[&signer], "--clearsign", true, SIGNED, &bmap, &signed);
    std::fs::rename(&signed, &bmap).unwrap();
    let key = dir.path().join("publisher.asc");
    gpg.export(&signer, true, &key);
    for path in [dir.path(), &image, &bmap, &key] {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    let session = Session::start(&env("BLOCKPRINT_TEST_USER"));
    // Light and narrow: the combination the write passes leave out.
    let size = (360, 720);
    let app = App::start(&session, false, &[], shots.join("app.log"));
    session.resize(size);
    // Opened as a file manager opens it in a running app: a second start hands the image to
    // the window already there, and ends.
    stdout(
        session.blockprint(false).arg(&image),
        "the second start of blockprint",
    );
    app.enabled("trust-key");
    session.screenshot(&shots.join("1-unknown-key.png"), size);
    app.activate("trust-key", None);
    let chooser = "^Choose the Publisher’s Key$";
    session.window(chooser);
    session.keys(chooser, "key", &["ctrl+l"]);
    session.keys(chooser, "type", &[key.to_str().unwrap()]);
    session.keys(chooser, "key", &["Return"]);
    let confirm = "^Trust This Key\\?$";
    session.window(confirm);
    session.screenshot(&shots.join("2-trust-confirm.png"), size);
    // Trusting is not destructive: the confirming answer is the default.
    session.keys(confirm, "key", &["Return"]);
    app.wait_for("the signature to be trusted", || {
        app.describe("trust-key") == Some(false)
    });
    session.screenshot(&shots.join("3-signed-by-publisher.png"), size);
    quiet(app);
    let trusted = Path::new(&session.home)
        .join(".config/blockprint/trusted-keys")
        .join(format!("{signer}.asc"));
    assert!(trusted.is_file(), "{} was not saved", trusted.display());
}
