//! The app under test: its own X display and session bus (build-aux/gui-env), the app run as
//! the unprivileged test user, driven through its GActions (`org.gtk.Actions`) and xdotool, and
//! photographed with ImageMagick.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APP_ID: &str = "io.github.blockprint.Blockprint";
pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const WAIT: Duration = Duration::from_secs(60);

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
pub(crate) fn stdout(command: &mut Command, what: &str) -> String {
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
    pub(crate) home: String,
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
    pub(crate) fn blockprint(&self, dark: bool) -> Command {
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
    pub(crate) fn x(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", &self.display);
        command
    }

    /// Runs `program` on this display; its stdout.
    pub(crate) fn run_x(&self, program: &str, args: &[&str]) -> String {
        stdout(self.x(program).args(args), &format!("{program} {args:?}"))
    }

    /// The first shown window whose title matches the regular expression `pattern`, once
    /// there is one; returns its id and title.
    pub(crate) fn window(&self, pattern: &str) -> (String, String) {
        let started = Instant::now();
        loop {
            if let Some(id) = self.find(pattern) {
                let title = self.run_x("xdotool", &["getwindowname", &id]);
                return (id, title.trim().to_owned());
            }
            assert!(
                started.elapsed() < WAIT,
                "no window titled /{pattern}/ appeared"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The id of a shown window whose title matches `pattern`, if there is one now.
    fn find(&self, pattern: &str) -> Option<String> {
        let out = self
            .x("xdotool")
            .args(["search", "--onlyvisible", "--name", pattern])
            .output()
            .expect("run xdotool");
        let ids = String::from_utf8_lossy(&out.stdout);
        ids.split_whitespace().next().map(str::to_owned)
    }

    /// Waits until no shown window's title matches `pattern` (a dialog has closed).
    pub(crate) fn gone(&self, pattern: &str) {
        let started = Instant::now();
        loop {
            if self.find(pattern).is_none() {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "the window titled /{pattern}/ did not close"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Keys (or text, with `type`) into the window whose title matches `pattern`.
    pub(crate) fn keys(&self, pattern: &str, how: &str, what: &[&str]) {
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

    pub(crate) fn resize(&self, (width, height): (u32, u32)) {
        let (id, _) = self.window("^Blockprint$");
        let (w, h) = (width.to_string(), height.to_string());
        self.run_x("xdotool", &["windowsize", "--sync", &id, &w, &h]);
    }

    /// A screenshot of the top-left `width`×`height` of the screen (where the window and,
    /// with no window manager, its dialogs are), after the app has had a moment to draw.
    pub(crate) fn screenshot(&self, path: &Path, size: (u32, u32)) {
        std::thread::sleep(Duration::from_millis(700));
        assert!(self.capture(path, size), "{} is empty", path.display());
    }

    /// A screenshot of what is on screen at once, of a page that may be gone in a moment:
    /// whether anything was (a bare screen's PNG is under 1 kB).
    pub(crate) fn capture(&self, path: &Path, (width, height): (u32, u32)) -> bool {
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
        std::fs::metadata(path).unwrap().len() > 1000
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
    pub(crate) fn start(session: &'a Session, dark: bool, args: &[&str], log: PathBuf) -> Self {
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
    pub(crate) fn gdbus(&self, method: &str, args: &[&str]) -> Option<String> {
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

    /// The action's state as `gdbus` prints it (`true`, `false`); `None` for a stateless one.
    pub(crate) fn state(&self, action: &str) -> Option<String> {
        let reply = self.gdbus("Describe", &[action])?;
        let start = reply.find("[<")? + 2;
        let end = start + reply[start..].find(">]")?;
        Some(reply[start..end].to_owned())
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

    /// Waits for the app to quit by itself.
    pub(crate) fn exits(&mut self) {
        let started = Instant::now();
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            assert!(
                started.elapsed() < WAIT,
                "the app did not quit within {WAIT:?}; app log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn wait_for(&self, what: &str, ready: impl Fn() -> bool) {
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

/// The text tesseract reads in a screenshot (`langs`: "eng", "deu+eng"), also kept beside it
/// as `.txt`, in the form of [`normal`].
pub(crate) fn ocr(shot: &Path, langs: &str) -> String {
    // Three times the size, grey: tesseract reads small UI text far better so.
    let big = shot.with_extension("ocr.png");
    let status = Command::new("convert")
        .arg(shot)
        .args(["-colorspace", "Gray", "-resize", "300%"])
        .arg(&big)
        .status()
        .unwrap();
    assert!(status.success(), "convert failed");
    let out = Command::new("tesseract")
        .arg(&big)
        .args(["stdout", "-l", langs, "--psm", "11"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tesseract failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(shot.with_extension("txt"), &text).unwrap();
    // --psm 11 finds text in any order, a line at a time: join it all for phrases that wrap.
    normal(&text)
}

/// Lower case, mnemonics and ellipses gone, runs of whitespace as one space: what OCR and the
/// string have in common.
pub(crate) fn normal(text: &str) -> String {
    text.replace(['_', '…'], "")
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
