//! The desktop app end to end: a real window on Xvfb, run as an unprivileged user, writing a
//! bmap image to a loop device through a real udisksd whose OpenDevice polkit authorises
//! (build-aux/udisks-env grants the test user `org.freedesktop.udisks2.*`; the app has no
//! bypass). The test drives the app as GNOME would, through its GActions on the session bus
//! (`org.gtk.Actions`), and types into its dialogs with xdotool. Screenshots of every step,
//! light and wide, dark and narrow, land in `target/tmp/gui-screenshots/`.
//!
//! Needs root and the environments of build-aux/udisks-env and build-aux/gui-env, which
//! build-aux/test starts.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blockprint::bmap::Bmap;

use crate::nginx::Nginx;
use crate::support::{
    assert_written, blockprint, loop_setup_lock, random_bytes, read_at, require_root, require_tool,
    sh, sparse_image,
};

const APP_ID: &str = "io.github.blockprint.Blockprint";
const MIB: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(60);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the desktop app's end-to-end test needs udisksd and Xvfb from \
             build-aux/test (or eval \"$(build-aux/udisks-env start DIR)\" and \
             eval \"$(build-aux/gui-env start DIR2)\" first)"
        )
    })
}

/// The app, running as the test user on the private display and buses; killed on drop.
struct App {
    child: Child,
    log: PathBuf,
    user: String,
}

impl App {
    fn start(dark: bool, log: PathBuf) -> Self {
        let user = env("BLOCKPRINT_TEST_USER");
        let out = File::create(&log).unwrap();
        let child = Command::new("runuser")
            .args(["-u", &user, "--", "env", "-i"])
            .arg(format!(
                "PATH={}",
                std::env::var("PATH").unwrap_or_default()
            ))
            .arg(format!("DISPLAY={}", env("DISPLAY")))
            .arg(format!("HOME={}", env("BLOCKPRINT_TEST_GUI_HOME")))
            .arg(format!(
                "XDG_RUNTIME_DIR={}",
                env("BLOCKPRINT_TEST_GUI_RUNTIME")
            ))
            .arg(format!(
                "DBUS_SESSION_BUS_ADDRESS={}",
                env("BLOCKPRINT_TEST_SESSION_BUS")
            ))
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
            .arg(env!("CARGO_BIN_EXE_blockprint"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the app through runuser");
        let app = App { child, log, user };
        app.wait_for("the app on the session bus", || {
            app.describe("open").is_some()
        });
        app
    }

    /// `gdbus call` on the test user's session bus, to the app's `org.gtk.Actions`.
    fn gdbus(&self, method: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("runuser")
            .args(["-u", &self.user, "--", "env"])
            .arg(format!(
                "DBUS_SESSION_BUS_ADDRESS={}",
                env("BLOCKPRINT_TEST_SESSION_BUS")
            ))
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
    fn describe(&self, action: &str) -> Option<bool> {
        self.gdbus("Describe", &[action])
            .map(|reply| reply.trim_start().starts_with("((true"))
    }

    fn activate(&self, action: &str, parameter: Option<&str>) {
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

    fn enabled(&self, action: &str) {
        self.wait_for(&format!("app.{action} to be enabled"), || {
            self.describe(action) == Some(true)
        });
    }

    fn log(&self) -> String {
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

impl Drop for App {
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
            .args(["-KILL", "-u", &self.user, "-x", "blockprint"])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The X window titled exactly `title`, once it is shown.
fn window(title: &str) -> String {
    let pattern = format!("^{}$", regex_escape(title));
    let started = Instant::now();
    loop {
        let out = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", &pattern])
            .output()
            .expect("run xdotool");
        let found = String::from_utf8_lossy(&out.stdout);
        if let Some(id) = found.split_whitespace().next() {
            return id.to_owned();
        }
        assert!(
            started.elapsed() < WAIT,
            "no window titled {title:?} appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\^$.|?*+()[]{}".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Keys (or text, with `type`) into the window titled `title`.
fn keys(title: &str, how: &str, what: &[&str]) {
    let id = window(title);
    sh("xdotool", &["windowfocus", "--sync", &id]);
    let mut args = vec![how, "--window", &id];
    if how == "type" {
        args.extend(["--delay", "30"]);
    }
    args.extend(what);
    sh("xdotool", &args);
}

fn resize(width: u32, height: u32) {
    let id = window("Blockprint");
    sh(
        "xdotool",
        &[
            "windowsize",
            "--sync",
            &id,
            &width.to_string(),
            &height.to_string(),
        ],
    );
}

/// A screenshot of the top-left `width`×`height` of the screen (where the window and, with no
/// window manager, its dialogs are), after the app has had a moment to draw.
fn screenshot(dir: &Path, name: &str, (width, height): (u32, u32)) {
    std::thread::sleep(Duration::from_millis(700));
    let path = dir.join(format!("{name}.png"));
    let crop = format!("{width}x{height}+0+0");
    sh(
        "import",
        &[
            "-display",
            &env("DISPLAY"),
            "-window",
            "root",
            "-crop",
            &crop,
            "+repage",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        std::fs::metadata(&path).unwrap().len() > 1000,
        "{name}.png is empty"
    );
}

/// A loop device set up through udisksd (so it appears to the app as a hotplugged drive),
/// deleted through it on drop.
struct Card(String);

impl Card {
    fn new(backing: &Path) -> Self {
        let _guard = loop_setup_lock();
        let out = sh(
            "udisksctl",
            &[
                "loop-setup",
                "--no-user-interaction",
                "-f",
                backing.to_str().unwrap(),
            ],
        );
        Card(
            out.trim()
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_end_matches('.')
                .to_owned(),
        )
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        let _ = Command::new("udisksctl")
            .args(["loop-delete", "--no-user-interaction", "-b", &self.0])
            .output();
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

/// One pass through the app: image from the (slow) web server, show all drives, the loop
/// device chosen by typing its name, Erase and Write; then either wait for "done" or cancel.
fn pass(
    url: &str,
    card: &Card,
    shots: &Path,
    (theme, size): (&str, (u32, u32)),
    cancel: bool,
) -> App {
    let app = App::start(theme == "dark", shots.join(format!("{theme}-app.log")));
    resize(size.0, size.1);
    let shot = |step: &str| screenshot(shots, &format!("{theme}-{}-{step}", size.0), size);
    shot("1-empty");
    app.activate("open-image", Some(url));
    app.enabled("next");
    shot("2-image");
    app.activate("next", None);
    app.enabled("show-all-drives");
    shot("3-no-drives");
    app.activate("show-all-drives", None);
    shot("4-show-all-confirm");
    keys("Show All Drives?", "key", &["Tab", "Return"]);
    // The loop device is a system drive: choosing it asks for its name.
    let name = card.0.trim_start_matches("/dev/");
    app.activate("select-drive", Some(&card.0));
    window("Choose a System Drive?");
    keys("Choose a System Drive?", "type", &[name]);
    shot("5-type-name");
    keys("Choose a System Drive?", "key", &["Return"]);
    app.enabled("write");
    shot("6-drive");
    app.activate("write", None);
    let title = window_title_starting("Erase ");
    shot("7-confirm");
    keys(&title, "key", &["Tab", "Return"]);
    app.enabled("cancel-write");
    std::thread::sleep(Duration::from_millis(1500));
    shot("8-writing");
    if cancel {
        app.activate("cancel-write", None);
        shot("9-cancel-confirm");
        keys("Stop Writing?", "key", &["Tab", "Return"]);
    }
    app.enabled("write-another");
    shot(if cancel { "10-stopped" } else { "10-done" });
    app
}

fn window_title_starting(prefix: &str) -> String {
    let started = Instant::now();
    loop {
        let out = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", &format!("^{prefix}")])
            .output()
            .expect("run xdotool");
        if let Some(id) = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
        {
            return sh("xdotool", &["getwindowname", id]).trim().to_owned();
        }
        assert!(
            started.elapsed() < WAIT,
            "no window titled {prefix}… appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_app_writes_a_bmap_image_to_a_drive_through_udisks_and_cancels_safely() {
    require_root("the desktop app's end-to-end test");
    env("BLOCKPRINT_TEST_UDISKS");
    env("BLOCKPRINT_TEST_GUI");
    for tool in ["runuser", "gdbus", "xdotool", "import", "udisksctl"] {
        require_tool(tool);
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let server = Nginx::start();
    let (path, content, bmap) = image(&server.root());
    std::fs::rename(
        path.with_extension("img.bmap"),
        server.root().join("pi.img.bmap"),
    )
    .unwrap();
    std::fs::rename(&path, server.root().join("pi.img")).unwrap();
    let url = server.url("slow/pi.img").to_string();

    // The card: 64 MiB of old data, in a folder whose loop devices get partitions scanned.
    let dir = tempfile::Builder::new()
        .prefix("blockprint-udisks-")
        .tempdir()
        .unwrap();
    let backing = dir.path().join("card.bin");
    let before = random_bytes(11, 64 << 20);
    std::fs::write(&backing, &before).unwrap();
    let card = Card::new(&backing);

    // Light and wide: the whole write, checked byte by byte.
    let app = pass(&url, &card, &shots, ("light", (720, 680)), false);
    let log = app.log();
    drop(app);
    let device = std::fs::read(&card.0).unwrap();
    assert_written(&device, &before, &content, &bmap);
    assert!(!log.contains("CRITICAL"), "GTK complained:\n{log}");

    // Dark and narrow: cancelled mid-write; the card must not look bootable.
    let app = pass(&url, &card, &shots, ("dark", (360, 720)), true);
    let log = app.log();
    drop(app);
    let start = read_at(Path::new(&card.0), 0, MIB as usize);
    assert!(
        start.iter().all(|&b| b == 0),
        "after a cancel the first MiB (partition table) must be zeros, not the image's"
    );
    assert!(!log.contains("CRITICAL"), "GTK complained:\n{log}");
    eprintln!("screenshots: {}", shots.display());
}
