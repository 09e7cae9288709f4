//! Where the CLI writes and what it prints, against a real second user: `nobody`, acting
//! through runuser in a sticky world-writable folder, tries to redirect root's writes with
//! symbolic links and names it takes first; a log reader goes away mid-copy; archive member
//! names carry terminal escape sequences. Runs as root.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::harness::support::{
    LoopDevice, Mounted, blockprint, random_bytes, require_root, require_tool, scratch, sh,
    stderr_lines,
};

/// What is sent to standard input before the copy has its DEST open, and the image's size.
const HEAD: usize = 256 << 10;
const IMAGE: usize = 2 << 20;

/// A scratch folder `nobody` can enter, holding `shared/` (mode 1777, like /tmp) and root's
/// `victim` (mode 0600), all on one filesystem.
struct Stage {
    _dir: tempfile::TempDir,
    root: PathBuf,
    shared: PathBuf,
    victim: PathBuf,
}

impl Stage {
    fn new() -> Self {
        require_root("acting as another user");
        let dir = scratch();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, PermissionsExt::from_mode(0o755)).unwrap();
        let shared = root.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, PermissionsExt::from_mode(0o1777)).unwrap();
        let victim = root.join("victim");
        std::fs::write(&victim, b"precious\n").unwrap();
        std::fs::set_permissions(&victim, PermissionsExt::from_mode(0o600)).unwrap();
        Self {
            _dir: dir,
            root,
            shared,
            victim,
        }
    }

    /// Asserts the victim is as it was: root's, 0600, "precious".
    #[track_caller]
    fn victim_untouched(&self) {
        assert_eq!(std::fs::read(&self.victim).unwrap(), b"precious\n");
        let meta = std::fs::metadata(&self.victim).unwrap();
        assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o600, 0));
    }

    /// The names in `shared/`, sorted.
    fn shared_names(&self) -> Vec<String> {
        names(&self.shared)
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `ARGS` as `nobody`, asserting success.
#[track_caller]
fn as_nobody(args: &[&str]) {
    require_tool("runuser");
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "runuser {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nobody` makes the symbolic link `link` → `target`.
fn nobody_links(target: &Path, link: &Path) {
    require_tool("ln");
    as_nobody(&["ln", "-s", target.to_str().unwrap(), link.to_str().unwrap()]);
}

/// `blockprint ARGS` reading the image from a pipe this test feeds, with stderr piped.
fn spawn_fed(args: &[&str]) -> (Child, ChildStdin) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockprint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Waits for a stderr line containing `needle`, returning the lines so far.
fn wait_for(lines: &Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(needle)) {
        // A limit only so that a bug fails the test instead of hanging it.
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no '{needle}' line; so far:\n{}", seen.join("\n")));
        seen.push(line);
    }
    seen
}

/// Sends the rest of `image` and ends the input; blockprint may have stopped reading, so a
/// refused write is fine here (its exit code tells).
fn feed_rest(mut stdin: ChildStdin, image: &[u8]) {
    let _ = stdin.write_all(&image[HEAD..]);
}

/// A copy of `image` from standard input to `dest`, stalled once DEST is open while `meddle`
/// runs; returns the exit code and every stderr line.
fn copy_stalled(image: &[u8], dest: &Path, meddle: impl FnOnce(u32)) -> (i32, Vec<String>) {
    let (mut child, mut stdin) = spawn_fed(&["copy", "--nobmap", "-", dest.to_str().unwrap()]);
    let lines = stderr_lines(&mut child);
    stdin.write_all(&image[..HEAD]).unwrap();
    let mut seen = wait_for(&lines, "copying image");
    meddle(child.id());
    feed_rest(stdin, image);
    let status = child.wait().unwrap();
    seen.extend(lines.iter());
    (status.code().unwrap_or(-1), seen)
}

/// F2: a symbolic link that `nobody` plants at DEST's name in a shared folder while root's
/// copy runs must not make root replace the file it points to. The copy refuses at the end,
/// naming DEST; the victim and the link stay as they were, and no temporary name is left.
#[test]
fn f2_a_link_planted_during_the_copy_does_not_redirect_it() {
    let stage = Stage::new();
    let image = random_bytes(21, IMAGE);
    let dest = stage.shared.join("out.img");
    let (code, lines) = copy_stalled(&image, &dest, |_| nobody_links(&stage.victim, &dest));
    let all = lines.join("\n");
    assert_eq!(code, 1, "{all}");
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("blockprint: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{all}");
    for needle in [dest.to_str().unwrap(), "replaced by a symbolic link"] {
        assert!(
            errors[0].contains(needle),
            "'{needle}' not in {}",
            errors[0]
        );
    }
    stage.victim_untouched();
    assert_eq!(std::fs::read_link(&dest).unwrap(), stage.victim);
    assert_eq!(stage.shared_names(), ["out.img"]);
}

/// F2: DEST that already is `nobody`'s symbolic link, in a folder `nobody` does not own, is
/// not followed by root: refused at once with a message naming the link and its owner.
#[test]
fn f2_another_users_link_as_dest_is_refused() {
    let stage = Stage::new();
    let image = stage.root.join("image.img");
    std::fs::write(&image, random_bytes(22, 64 << 10)).unwrap();
    let dest = stage.shared.join("out.img");
    nobody_links(&stage.victim, &dest);
    let run = blockprint([
        "copy",
        "--nobmap",
        image.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    run.fails_with(&[dest.to_str().unwrap(), "symbolic link", "user 65534"]);
    stage.victim_untouched();
    assert_eq!(stage.shared_names(), ["out.img"]);
    // Root's own link is written through, as cp and bmaptool do: the link stays.
    let mine = stage.root.join("mine.img");
    let link = stage.root.join("link.img");
    symlink(&mine, &link).unwrap();
    let run = blockprint([
        "copy",
        "--nobmap",
        image.to_str().unwrap(),
        link.to_str().unwrap(),
    ]);
    run.ok();
    assert_eq!(
        std::fs::read(&mine).unwrap(),
        std::fs::read(&image).unwrap()
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
}

/// F2: writing over a setuid/setgid file does not hand its new content those bits.
#[test]
fn f2_setuid_and_setgid_bits_are_not_kept() {
    let stage = Stage::new();
    let image = stage.root.join("image.img");
    std::fs::write(&image, random_bytes(23, 64 << 10)).unwrap();
    let tool = stage.root.join("tool");
    std::fs::write(&tool, b"old").unwrap();
    std::fs::set_permissions(&tool, PermissionsExt::from_mode(0o6755)).unwrap();
    let run = blockprint([
        "copy",
        "--nobmap",
        image.to_str().unwrap(),
        tool.to_str().unwrap(),
    ]);
    run.ok();
    assert_eq!(
        std::fs::read(&tool).unwrap(),
        std::fs::read(&image).unwrap()
    );
    assert_eq!(std::fs::metadata(&tool).unwrap().mode() & 0o7777, 0o755);
}

/// F2: `nobody` taking the temporary name the copy used to use (`.NAME.blockprint-PID`)
/// while it runs does not make it fail after the whole write.
#[test]
fn f2_a_taken_temporary_name_does_not_stop_the_copy() {
    let stage = Stage::new();
    let image = random_bytes(24, IMAGE);
    let dest = stage.shared.join("out.img");
    let planted = |pid: u32| stage.shared.join(format!(".out.img.blockprint-{pid}"));
    let mut taken = PathBuf::new();
    let (code, lines) = copy_stalled(&image, &dest, |pid| {
        taken = planted(pid);
        nobody_links(&stage.victim, &taken);
    });
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert_eq!(std::fs::read(&dest).unwrap(), image);
    assert_eq!(std::fs::read_link(&taken).unwrap(), stage.victim);
    stage.victim_untouched();
}

/// F2: on a filesystem that cannot make unnamed files (exFAT through FUSE), the new file has
/// a random hidden name while it is written, and only DEST's name once done.
#[test]
fn f2_without_unnamed_files_the_temporary_name_is_random() {
    for tool in ["mkfs.exfat", "mount.exfat-fuse"] {
        require_tool(tool);
    }
    let dir = scratch();
    let fs = dir.path().join("exfat.img");
    std::fs::File::create(&fs)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    sh("mkfs.exfat", &[fs.to_str().unwrap()]);
    let device = LoopDevice::new(&fs);
    let at = dir.path().join("mnt");
    std::fs::create_dir(&at).unwrap();
    sh("mount.exfat-fuse", &[device.name(), at.to_str().unwrap()]);
    let _mounted = Mounted { path: at.clone() };
    let image = random_bytes(27, IMAGE);
    let dest = at.join("out.img");
    let mut during = Vec::new();
    let (code, lines) = copy_stalled(&image, &dest, |_| during = names(&at));
    assert_eq!(code, 0, "{}", lines.join("\n"));
    let [temp] = &during[..] else {
        panic!("one name while written: {during:?}");
    };
    let random = temp
        .strip_prefix(".out.img.blockprint-")
        .unwrap_or_default();
    assert_eq!(random.len(), 16, "{temp}");
    assert_eq!(std::fs::read(&dest).unwrap(), image);
    assert_eq!(names(&at), ["out.img"]);
}

/// F7: `scan -o` must not write through a link `nobody` planted at the temporary name it used
/// to use (`.NAME.PID.tmp`): the bmap goes to OUT, the victim keeps its bytes. The scan reads
/// its image from a pipe, so the link is in place before anything is written.
#[test]
fn f7_scan_output_is_not_written_through_a_planted_link() {
    let stage = Stage::new();
    let out = stage.shared.join("out.bmap");
    let (mut child, mut stdin) = spawn_fed(&["scan", "-o", out.to_str().unwrap(), "-"]);
    let lines = stderr_lines(&mut child);
    let taken = stage.shared.join(format!(".out.bmap.{}.tmp", child.id()));
    nobody_links(&stage.victim, &taken);
    stdin.write_all(&random_bytes(25, 1 << 20)).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let all: Vec<String> = lines.iter().collect();
    assert_eq!(status.code(), Some(0), "{}", all.join("\n"));
    stage.victim_untouched();
    let bmap = std::fs::read_to_string(&out).unwrap();
    assert!(bmap.contains("<bmap"), "{bmap}");
    assert!(!std::fs::symlink_metadata(&out).unwrap().is_symlink());
    assert_eq!(std::fs::read_link(&taken).unwrap(), stage.victim);
    assert_eq!(stage.shared_names().len(), 2, "{:?}", stage.shared_names());
}

/// F11: a copy whose stderr reader goes away (`2> >(head -n 1)`) still completes: DEST is
/// written and the exit code is the copy's own, 0.
#[test]
fn f11_a_closed_stderr_does_not_stop_the_copy() {
    require_tool("head");
    let dir = scratch();
    let dest = dir.path().join("out.img");
    let image = random_bytes(26, IMAGE);
    let (mut child, mut stdin) = spawn_fed(&["copy", "--nobmap", "-", dest.to_str().unwrap()]);
    let head = Command::new("head")
        .args(["-n", "1"])
        .stdin(child.stderr.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    stdin.write_all(&image[..HEAD]).unwrap();
    // head has read its line and gone: every message after this one finds no reader.
    let first = head.wait_with_output().unwrap();
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.starts_with("blockprint: copying image"), "{first}");
    feed_rest(stdin, &image);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read(&dest).unwrap(), image);
}

/// F12: terminal escape sequences in archive member names reach the terminal only as visible
/// escapes: the error stays one line, holds no ESC or BEL byte, and shows `\x1b`.
#[test]
fn f12_control_characters_in_member_names_are_escaped() {
    require_tool("python3");
    let dir = scratch();
    let tar = dir.path().join("esc.tar");
    let script = format!(
        "import tarfile, io\n\
         t = tarfile.open({tar:?}, 'w', format=tarfile.GNU_FORMAT)\n\
         for n in ['\\x1b]0;owned\\x07a', '\\x1b[2J\\x1b[31mfake: signature: valid\\x1b[0m', 'b.txt']:\n\
         \x20   i = tarfile.TarInfo(n); i.size = 1; t.addfile(i, io.BytesIO(b'x'))\n\
         t.close()\n",
        tar = tar.to_str().unwrap()
    );
    let made = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let dest = dir.path().join("o.img");
    let run = blockprint([
        "copy",
        "--nobmap",
        tar.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    run.fails_with(&["\\x1b]0;owned\\x07a", "\\x1b[2J\\x1b[31mfake: signature"]);
    assert!(
        !run.stderr.contains(['\u{1b}', '\u{7}']),
        "{:?}",
        run.stderr
    );
}
