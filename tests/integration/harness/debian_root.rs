//! A real Debian 12 root filesystem of its own for each test (a fresh copy of the one
//! `build-aux/debian-root` makes once with debootstrap and caches), and programs run inside it
//! as a first boot would run them, without booting anything.
//!
//! Each run is `chroot` inside new mount, UTS, IPC, network and PID namespaces (`unshare`):
//! `/proc`, a read-only `/sys` and a `/dev` holding only `null`, `zero`, `full`, `random`
//! and `urandom` are mounted in the private mount namespace, so no mount is ever seen outside
//! it and the kernel takes them all down with the namespace, whatever happens to the test
//! (even SIGKILL: nothing to unmount, no guard needed). A `hostname` call changes only the
//! namespace's name, nothing can reach the network or a host device, and every process left
//! behind dies with the namespace's first process. `/run` is the copy's own directory, so what
//! one run leaves there (cloud-init's state) the next run of the same "boot" sees.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{require_root, require_tool, scratch};

/// The `PATH` systemd gives a system service (Debian 12, merged `/usr`).
pub const SERVICE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";

/// The host side of a run: mounts in the new namespace, then the command in the chroot with
/// an environment as bare as a systemd service's. `$1` is the root; the rest is the command.
const IN_NAMESPACE: &str = r#"
set -e
root=$1
shift
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=755,nosuid,size=1m blockprint-dev "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/full" c 1 7
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
ln -s /proc/self/fd "$root/dev/fd"
mkdir "$root/dev/pts" "$root/dev/shm"
set +e
env -i PATH="$SERVICE_PATH" chroot "$root" "$@"
"#;

/// What a command run in the root did.
#[derive(Debug)]
pub struct Ran {
    /// Its exit code (-1: killed by a signal).
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Ran {
    /// Asserts exit 0 and returns standard output.
    #[track_caller]
    pub fn ok(&self, what: &str) -> &str {
        assert_eq!(
            self.code, 0,
            "{what} failed in the Debian root (exit {}):\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        &self.stdout
    }
}

/// One line of the root's `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The home directory, inside the root.
    pub home: String,
    /// The login shell.
    pub shell: String,
}

/// A scratch directory on `/dev/shm` (a tmpfs, so a root of a quarter of a gigabyte is
/// written and removed in a second rather than several on a busy disk), else under
/// `target/tmp`; removed when dropped.
fn scratch_in_memory() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("blockprint-debian-root-")
            .tempdir_in(shm)
            .expect("scratch dir in /dev/shm")
    } else {
        scratch()
    }
}

/// A fresh copy of the cached Debian 12 root, removed when dropped.
pub struct DebianRoot {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl DebianRoot {
    /// A fresh copy of the root (`build-aux/debian-root` makes the cached one first if there
    /// is none: a few minutes, once a machine). Needs root, which CI has.
    pub fn fresh() -> Self {
        require_root("a chroot of a Debian root (debootstrap, mounts, namespaces)");
        for tool in ["unshare", "chroot", "mount", "mknod", "zstd", "debootstrap"] {
            require_tool(tool);
        }
        let dir = scratch_in_memory();
        let root = dir.path().join("root");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("build-aux/debian-root");
        let started = Instant::now();
        let status = Command::new(&script)
            .arg(&root)
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            status.success(),
            "{} could not make a Debian root ({status}); its messages above say why",
            script.display()
        );
        eprintln!(
            "debian_root: a fresh root in {} took {:.1} s",
            root.display(),
            started.elapsed().as_secs_f64()
        );
        Self { dir, root }
    }

    /// The scratch directory the root is in (outside it): for files a test keeps beside it.
    pub fn outside(&self) -> &Path {
        self.dir.path()
    }

    /// The host path of `path` inside the root (`/etc/hostname` → `<root>/etc/hostname`).
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The text of a file inside the root; panics naming it if it is missing.
    #[track_caller]
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path(path))
            .unwrap_or_else(|e| panic!("{path} in the Debian root: {e}"))
    }

    /// Runs `argv` in the root (see the module's documentation), `stdin` on its standard
    /// input (nothing: `/dev/null`, as systemd gives a service), killing it and failing the
    /// test after `limit`.
    #[track_caller]
    pub fn run(&self, argv: &[&str], stdin: Option<&[u8]>, limit: Duration) -> Ran {
        let out_path = self.dir.path().join("run.stdout");
        let err_path = self.dir.path().join("run.stderr");
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "sh",
                "-c",
                IN_NAMESPACE,
                "sh",
            ])
            .arg(&self.root)
            .args(argv)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("SERVICE_PATH", SERVICE_PATH)
            .stdout(File::create(&out_path).expect("stdout file"))
            .stderr(File::create(&err_path).expect("stderr file"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = command.spawn().expect("run unshare");
        if let Some(bytes) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(bytes).expect("write stdin");
        }
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                // unshare --kill-child takes the whole namespace with it.
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{argv:?} did not finish within {limit:?} in the Debian root; stderr:\n{}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let ran = Ran {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        };
        self.assert_no_mounts_left();
        ran
    }

    /// No mount below the root is visible to the test: each run's mounts lived and died in
    /// its own namespace.
    #[track_caller]
    pub fn assert_no_mounts_left(&self) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let root = self.root.to_str().expect("utf-8 path");
        let leaked: Vec<&str> = mounts
            .lines()
            .filter(|line| {
                line.split(' ')
                    .nth(4)
                    .is_some_and(|at| at.starts_with(root))
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "mounts left in the Debian root: {leaked:?}"
        );
    }

    /// `name`'s line of the root's `/etc/passwd`.
    pub fn passwd(&self, name: &str) -> Option<PasswdEntry> {
        self.read("/etc/passwd").lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() == 7 && f[0] == name).then(|| PasswdEntry {
                uid: f[2].parse().expect("uid"),
                gid: f[3].parse().expect("gid"),
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
    }

    /// `name`'s password field in the root's `/etc/shadow`.
    pub fn shadow_hash(&self, name: &str) -> Option<String> {
        self.read("/etc/shadow").lines().find_map(|line| {
            let mut f = line.split(':');
            (f.next() == Some(name)).then(|| f.next().unwrap_or_default().to_owned())
        })
    }

    /// The members of group `name` in the root's `/etc/group`.
    pub fn group_members(&self, name: &str) -> Vec<String> {
        self.read("/etc/group")
            .lines()
            .find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() == 4 && f[0] == name).then(|| {
                    f[3].split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Whether the root's own libcrypt, through its own shadow database, accepts `password`
    /// for `user`: Python's `crypt` and `spwd` in the root (Debian's Python 3.11), the
    /// password on standard input.
    pub fn password_verifies(&self, user: &str, password: &str) -> bool {
        let check = "import crypt, spwd, sys, warnings\n\
                     h = spwd.getspnam(sys.argv[1]).sp_pwdp\n\
                     print('yes' if crypt.crypt(sys.stdin.read(), h) == h else 'no')\n";
        let ran = self.run(
            &["python3", "-W", "ignore", "-c", check, user],
            Some(password.as_bytes()),
            Duration::from_secs(60),
        );
        ran.ok("checking the password with the root's crypt").trim() == "yes"
    }

    /// sshd's effective configuration in the root (`sshd -T`, after `ssh-keygen -A` makes the
    /// host keys it needs to start), as lower-case `key value` pairs.
    pub fn sshd_effective(&self) -> BTreeMap<String, String> {
        let ran = self.run(
            &[
                "sh",
                "-c",
                "ssh-keygen -A >/dev/null && mkdir -p /run/sshd && /usr/sbin/sshd -T",
            ],
            None,
            Duration::from_secs(60),
        );
        ran.ok("sshd -T")
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(' ')?;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// A YAML file of the root as JSON, read by the root's own PyYAML (cloud-init's).
    pub fn yaml_as_json(&self, path: &str) -> serde_json::Value {
        let ran = self.run(
            &[
                "python3",
                "-c",
                "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                path,
            ],
            None,
            Duration::from_secs(60),
        );
        serde_json::from_str(ran.ok("reading YAML")).expect("JSON from python3")
    }
}

/// A GKeyFile (NetworkManager's `.nmconnection`) read as GLib's `g_key_file_get_string`
/// reads it: `[group]` headers, `key=value` lines (blanks around the `=` dropped, the value's
/// end kept), `#` comments only at a line's start, and in values the escapes `\s`, `\n`,
/// `\t`, `\r` and `\\`; any other escape, or a `\` at the end, is an error, as GLib's.
/// Returns (group, key) → value.
pub fn read_keyfile(text: &str) -> Result<BTreeMap<(String, String), String>, String> {
    let mut out = BTreeMap::new();
    let mut group: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .trim_end()
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: bad group header {raw:?}", n + 1))?;
            group = Some(name.to_owned());
            continue;
        }
        let group = group
            .as_ref()
            .ok_or_else(|| format!("line {}: key before any group", n + 1))?;
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: no '=' in {raw:?}", n + 1))?;
        let value = value.trim_start_matches([' ', '\t']);
        let mut unescaped = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                unescaped.push(c);
                continue;
            }
            match chars.next() {
                Some('s') => unescaped.push(' '),
                Some('n') => unescaped.push('\n'),
                Some('t') => unescaped.push('\t'),
                Some('r') => unescaped.push('\r'),
                Some('\\') => unescaped.push('\\'),
                Some(other) => {
                    return Err(format!(
                        "line {}: invalid escape \\{other} in {raw:?}",
                        n + 1
                    ));
                }
                None => return Err(format!("line {}: escape at the end of {raw:?}", n + 1)),
            }
        }
        let previous = out.insert((group.clone(), key.trim_end().to_owned()), unescaped);
        if previous.is_some() {
            return Err(format!("line {}: key {key} twice in [{group}]", n + 1));
        }
    }
    Ok(out)
}

/// An SSID value of a key file as NetworkManager reads it, after GLib: a list of byte
/// values (`97;98;`) is the old form and refused here; otherwise each `\;` is a `;`.
pub fn nm_ssid(value: &str) -> Result<String, String> {
    if value
        .chars()
        .all(|c| c.is_ascii_digit() || c == ';' || c.is_ascii_whitespace())
    {
        return Err(format!(
            "ssid {value:?} would be read as a list of byte values"
        ));
    }
    Ok(value.replace("\\;", ";"))
}
