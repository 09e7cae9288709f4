//! Helpers shared by the integration tests: running the binary, scratch directories, loop
//! devices, generated images, and the upstream vectors.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use blockprint::bmap::ChecksumType;

/// The result of running `blockprint`.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stderr.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, stderr:\n{}", self.stderr);
        &self.stderr
    }

    /// Asserts the failure mode every bad input must have: exit 1, no panic, exactly one error
    /// line, which mentions every `needles` entry. Returns that line.
    #[track_caller]
    pub fn fails_with(&self, needles: &[&str]) -> String {
        assert_eq!(self.code, 1, "expected exit 1, stderr:\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("blockprint: error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "want one error line, stderr:\n{}",
            self.stderr
        );
        for needle in needles {
            assert!(
                errors[0].contains(needle),
                "'{needle}' not in: {}",
                errors[0]
            );
        }
        errors[0].to_owned()
    }
}

/// The lines a running child writes to its (piped) standard error, as they come, read by a
/// thread of their own: for tests that act while the child runs.
pub fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    heard
}

/// Runs the `blockprint` binary built for these tests.
pub fn blockprint<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_blockprint"))
        .args(args)
        .output()
        .expect("run blockprint");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `blockprint` with extra environment and stdin, killing it (and failing the test) if it
/// has not finished within `limit`: a decoder that hangs on bad input is a bug.
pub fn blockprint_with<S: AsRef<OsStr>>(
    args: impl IntoIterator<Item = S>,
    env: &[(&str, &str)],
    stdin: Option<&Path>,
    limit: std::time::Duration,
) -> Run {
    use std::process::Stdio;
    let mut command = Command::new(env!("CARGO_BIN_EXE_blockprint"));
    command.args(args).envs(env.iter().copied());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    match stdin {
        Some(path) => command.stdin(File::open(path).expect("stdin file")),
        None => command.stdin(Stdio::null()),
    };
    finish(command.spawn().expect("run blockprint"), limit)
}

/// Waits for a `blockprint` child (with piped output), killing it and failing the test if it
/// has not finished within `limit`.
pub fn finish(mut child: std::process::Child, limit: std::time::Duration) -> Run {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "blockprint did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs an external command and asserts it succeeds.
#[track_caller]
pub fn sh(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A scratch directory under `target/tmp` (the repository's filesystem, ext4 in CI) that is
/// removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("it-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("scratch dir")
}

/// The upstream bmap vectors.
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bmaptool")
}

/// A vector's bytes, gunzipped by the real gzip.
pub fn gunzip(name: &str) -> Vec<u8> {
    require_tool("gzip");
    let output = Command::new("gzip")
        .arg("-dc")
        .arg(vectors().join(name))
        .output()
        .expect("gzip");
    assert!(output.status.success());
    output.stdout
}

/// Decompresses a vector into `dir` under `name`.
pub fn unpack(name: &str, dir: &Path, as_name: &str) -> PathBuf {
    let path = dir.join(as_name);
    std::fs::write(&path, gunzip(name)).expect("write image");
    path
}

/// `blockprint copy --bmap test.image.bmap.v2.0 test.image DEST`, the upstream test image
/// unpacked into `dir` first: the prologue of the tests that refuse a destination. Returns the
/// image's path, for the messages that name it, and the run.
pub fn copy_vector(dir: &Path, dest: &str) -> (PathBuf, Run) {
    let image = unpack("test.image.gz", dir, "test.image");
    let bmap = vectors().join("test.image.bmap.v2.0");
    let run = blockprint([
        "copy".as_ref(),
        "--bmap".as_ref(),
        bmap.as_os_str(),
        image.as_os_str(),
        dest.as_ref(),
    ]);
    (image, run)
}

/// Fails loudly (never skips) when not root: CI runs these as root.
#[track_caller]
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("{what} needs root (loop devices, mounts); run build-aux/test as root");
    }
}

/// Fails loudly when a tool the test needs is missing; build-aux/install-deps installs them.
#[track_caller]
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is not installed; run build-aux/install-deps");
}

/// Deterministic incompressible bytes (xorshift64*).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex SHA-256.
pub fn sha256(data: &[u8]) -> String {
    ChecksumType::Sha256.digest(data).to_string()
}

/// Recomputes the `BmapFileChecksum` of an edited 2.0/1.4 bmap (SHA-256), as bmaptool does.
pub fn rechecksum(xml: &str) -> String {
    let open = "<BmapFileChecksum>";
    let start = xml.find(open).expect("has BmapFileChecksum") + open.len();
    let len = xml[start..].find("</BmapFileChecksum>").expect("closed");
    let stored = xml[start..start + len].trim();
    let at = start + xml[start..].find(stored).expect("digest");
    let zeroed = format!(
        "{}{}{}",
        &xml[..at],
        "0".repeat(stored.len()),
        &xml[at + stored.len()..]
    );
    let digest = sha256(zeroed.as_bytes());
    format!("{}{}{}", &xml[..at], digest, &xml[at + stored.len()..])
}

/// Reads `len` bytes at `offset`.
pub fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    File::open(path)
        .expect("open")
        .read_exact_at(&mut buf, offset)
        .expect("read");
    buf
}

/// Which thread holds [`loop_setup_lock`], and how many times.
struct LoopSetup {
    holder: Option<std::thread::ThreadId>,
    depth: usize,
}

/// `losetup` picks a free device; two tests must not race for the same one.
static LOSETUP: Mutex<LoopSetup> = Mutex::new(LoopSetup {
    holder: None,
    depth: 0,
});
static LOSETUP_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// Held while setting up a loop device by any means (losetup, udisksctl). The thread holding
/// it may take it again: the station's test holds it for its whole run (a station with --all
/// would take another test's new loop device) while it sets up its own cards.
pub fn loop_setup_lock() -> LoopSetupGuard {
    let me = std::thread::current().id();
    let mut state = LOSETUP.lock().unwrap_or_else(|e| e.into_inner());
    while state.holder.is_some_and(|holder| holder != me) {
        state = LOSETUP_FREED.wait(state).unwrap_or_else(|e| e.into_inner());
    }
    state.holder = Some(me);
    state.depth += 1;
    LoopSetupGuard(())
}

/// [`loop_setup_lock`] held; released on drop.
pub struct LoopSetupGuard(());

impl Drop for LoopSetupGuard {
    fn drop(&mut self) {
        let mut state = LOSETUP.lock().unwrap_or_else(|e| e.into_inner());
        state.depth -= 1;
        if state.depth == 0 {
            state.holder = None;
            LOSETUP_FREED.notify_all();
        }
    }
}

/// A loop device over a backing file, detached on drop.
pub struct LoopDevice {
    pub path: PathBuf,
    attached: bool,
}

impl LoopDevice {
    pub fn new(backing: &Path) -> Self {
        Self::with_sector_size(backing, 512)
    }

    /// A loop device with the given logical sector size.
    pub fn with_sector_size(backing: &Path, sector: u32) -> Self {
        require_root("a loop device");
        require_tool("losetup");
        let _guard = loop_setup_lock();
        let sector = sector.to_string();
        let backing = backing.to_str().expect("utf-8 path");
        let out = sh(
            "losetup",
            &["-f", "--show", "--sector-size", &sector, backing],
        );
        Self {
            path: PathBuf::from(out.trim()),
            attached: true,
        }
    }

    pub fn name(&self) -> &str {
        self.path.to_str().expect("utf-8")
    }

    /// Creates partition nodes with `partx -a` (this kernel does not scan partition tables).
    pub fn add_partitions(&self) {
        sh("partx", &["-a", self.name()]);
    }

    /// Detaches, flushing everything to the backing file.
    pub fn detach(&mut self) {
        if self.attached {
            let _ = Command::new("partx").args(["-d", self.name()]).output();
            sh("losetup", &["-d", self.name()]);
            self.attached = false;
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if self.attached {
            let _ = Command::new("partx").args(["-d", self.name()]).output();
            let _ = Command::new("losetup").args(["-d", self.name()]).output();
        }
    }
}

/// A sparse image with data inside and beyond the first MiB, written zero blocks, holes and a
/// partial last block; its bmap is made by `blockprint create`. Returns (image, bmap, bytes).
pub fn sparse_image(dir: &Path, size: u64) -> (PathBuf, PathBuf, Vec<u8>) {
    let image = dir.join("sparse.img");
    let file = File::create(&image).expect("create image");
    file.set_len(size).expect("size");
    let mut content = vec![0u8; usize::try_from(size).expect("fits")];
    let mut put = |offset: u64, data: &[u8]| {
        file.write_all_at(data, offset).expect("write");
        let at = usize::try_from(offset).expect("fits");
        content[at..at + data.len()].copy_from_slice(data);
    };
    put(0, &random_bytes(1, 8192)); // partition table area
    put(64 << 10, &vec![0u8; 8192]); // written zeros: mapped, must be written
    put(900 << 10, &random_bytes(2, 300 << 10)); // crosses the 1 MiB boundary
    put(3 << 20, &random_bytes(3, 4096));
    put((3 << 20) + 12288, &random_bytes(4, 40_000));
    let tail = size % 4096;
    let tail = if tail == 0 { 4096 } else { tail };
    put(
        size - tail,
        &random_bytes(5, usize::try_from(tail).expect("fits")),
    );
    drop(file);
    let bmap = dir.join("sparse.img.bmap");
    create_bmap(&image, &bmap);
    (image, bmap, content)
}

/// Writes the bmap of `image` to `bmap` with `blockprint create`, asserting success.
#[track_caller]
pub fn create_bmap(image: &Path, bmap: &Path) {
    blockprint([
        "-q".as_ref(),
        "create".as_ref(),
        "-o".as_ref(),
        bmap.as_os_str(),
        image.as_os_str(),
    ])
    .ok();
}

/// A mount made by a test, unmounted on drop.
pub struct Mounted {
    pub path: PathBuf,
}

impl Mounted {
    /// `mount ARGS… AT`, creating `at`.
    pub fn new(args: &[&str], at: &Path) -> Self {
        require_root("mounting");
        std::fs::create_dir_all(at).expect("mount point");
        let mut all: Vec<&str> = args.to_vec();
        all.push(at.to_str().expect("utf-8"));
        sh("mount", &all);
        Self {
            path: at.to_path_buf(),
        }
    }

    /// A fresh tmpfs (no FIEMAP there: `create` must fall back to SEEK_DATA/SEEK_HOLE).
    pub fn tmpfs(at: &Path) -> Self {
        Self::new(&["-t", "tmpfs", "-o", "size=64m", "blockprint-test"], at)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).output();
    }
}

/// An image mixing every kind of block `create` must tell apart: random data, written zero
/// blocks, a preallocated (unwritten) extent, holes, and a partial last block.
pub fn mixed_image(dir: &Path) -> PathBuf {
    let path = dir.join("mixed.img");
    let file = File::create(&path).expect("create");
    let size = (4 << 20) + 3000;
    file.set_len(size).expect("size");
    file.write_all_at(&random_bytes(11, 8 * 4096), 0)
        .expect("write");
    file.write_all_at(&vec![0u8; 4 * 4096], 20 * 4096)
        .expect("write zeros");
    file.write_all_at(&random_bytes(12, 5000), 500 * 4096 + 100)
        .expect("write");
    file.write_all_at(&random_bytes(13, 3000), size - 3000)
        .expect("write tail");
    drop(file);
    require_tool("fallocate");
    let path_str = path.to_str().expect("utf-8");
    sh(
        "fallocate",
        &[
            "-o",
            &(100 * 4096).to_string(),
            "-l",
            &(64 * 4096).to_string(),
            path_str,
        ],
    );
    path
}

/// Checks a device after a copy: mapped bytes equal the image; the first MiB's unmapped bytes
/// and the last MiB are zero (wiped); every other unmapped byte is as it was before.
pub fn assert_written(device: &[u8], before: &[u8], image: &[u8], bmap: &blockprint::bmap::Bmap) {
    const MIB: usize = 1 << 20;
    let mut mask = vec![false; image.len()];
    for range in bmap.ranges() {
        let (start, end) = bmap.byte_span(&range);
        mask[start as usize..end as usize].fill(true);
    }
    let capacity = device.len();
    for i in 0..capacity {
        let want = if i < image.len() && mask[i] {
            image[i]
        } else if i < MIB || i >= capacity - MIB {
            0
        } else {
            before[i]
        };
        assert_eq!(
            device[i],
            want,
            "byte {i} (block {}): mapped={}",
            i / 4096,
            i < mask.len() && mask[i]
        );
    }
}
