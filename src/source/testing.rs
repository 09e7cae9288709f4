//! Helpers for the source tests: an archive in memory, archives made by the real
//! tools, image-like data, and deterministic corruption for the never-panics tests.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::{Memory, RandomAccess};

/// An archive held in memory, as the readers see a file.
pub(crate) fn in_memory(name: &str, data: &[u8]) -> Arc<dyn RandomAccess> {
    Arc::new(Memory::new(data, name))
}

/// The names in folder `dir`, sorted: what a test left there.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs a shell script in `dir`; a missing tool or a failure fails the test, with its output.
pub(crate) fn shell(dir: &Path, script: &str) -> Vec<u8> {
    let output = Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "`{script}` failed ({}); the tests need zip, unzip, tar, lzop, gzip and python3 \
         (apt-get install zip unzip lzop): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `data` piped through `tool` (a program and its arguments): what it writes.
pub(crate) fn piped(tool: &[&str], data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(tool[0])
        .args(&tool[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} is needed: {e}", tool[0]));
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("output");
    feeder.join().expect("join").expect("feed");
    assert!(out.status.success(), "{tool:?} failed");
    out.stdout
}

/// `data` compressed by the xz tool with `args`.
pub(crate) fn xz(args: &[&str], data: &[u8]) -> Vec<u8> {
    piped(&[&["xz", "-c"], args].concat(), data)
}

/// `xz --robot -lvv` of the xz file `data`: the lines of its listing, split at tabs.
pub(crate) fn xz_list(data: &[u8]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("t.xz");
    std::fs::write(&path, data).expect("write");
    let out = Command::new("xz")
        .args(["--robot", "-lvv"])
        .arg(&path)
        .output()
        .expect("xz");
    assert!(out.status.success(), "xz -l refused the file");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Writes `data` to `dir/name`.
pub(crate) fn put(dir: &Path, name: &str, data: &[u8]) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, data).expect("write test file");
}

pub(crate) fn get(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("read test output")
}

/// Deterministic pseudo-random bytes (xorshift), for incompressible data.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Something like a disk image: runs of zeros, text and noise, so it compresses but not to
/// nothing.
pub(crate) fn image(len: usize) -> Vec<u8> {
    let chunk = noise(4096, 7);
    let mut data = Vec::with_capacity(len);
    let mut i = 0u64;
    while data.len() < len {
        match i % 4 {
            0 => data.extend_from_slice(&[0; 8192]),
            1 => data.extend_from_slice(format!("block {i} of the image\n").repeat(64).as_bytes()),
            _ => data.extend_from_slice(&chunk[..(i as usize * 97) % 4096]),
        }
        i += 1;
    }
    data.truncate(len);
    data
}

/// `count` damaged copies of `data`: bytes changed (mostly near the start and end, where the
/// headers and directories are) and truncations.
pub(crate) fn mutants(data: &[u8], count: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |i| {
        let mut copy = data.to_vec();
        let len = copy.len().max(1);
        let pick = |r: u64| -> usize {
            let r = r as usize;
            match r % 3 {
                0 => r / 3 % len.min(1024),
                1 => len - 1 - (r / 3 % len.min(1024)),
                _ => r / 3 % len,
            }
        };
        match i % 5 {
            0 => copy.truncate(next() as usize % len),
            1 => {
                let at = pick(next());
                if let Some(b) = copy.get_mut(at) {
                    *b ^= 1 << (next() % 8);
                }
            }
            2 => {
                let at = pick(next());
                if let Some(b) = copy.get_mut(at) {
                    *b = if next() % 2 == 0 { 0 } else { 0xFF };
                }
            }
            _ => {
                for _ in 0..1 + next() % 4 {
                    let at = pick(next());
                    if let Some(b) = copy.get_mut(at) {
                        *b = next() as u8;
                    }
                }
            }
        }
        copy
    })
}

/// Reads to the end, returning the bytes or the error.
pub(crate) fn read_all(mut reader: impl Read) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    reader.read_to_end(&mut data)?;
    Ok(data)
}

/// Makes the xz block header at `start` of `xz` declare a 1536 MiB dictionary, the most xz
/// makes, and redoes its CRC-32. (The data, compressed with a small dictionary, still decodes
/// with a larger one; made with that dictionary directly, the encoder would reserve 16 GiB.)
pub(crate) fn declare_huge_dictionary(xz: &mut [u8], start: usize) {
    let size = (usize::from(xz[start]) + 1) * 4;
    let header = &mut xz[start..start + size];
    let at = header
        .windows(2)
        .position(|w| w == [0x21, 0x01])
        .expect("an LZMA2 filter in the block header");
    header[at + 2] = 37; // (2 | 1) << (37 / 2 + 11) bytes
    let mut crc = flate2::Crc::new();
    crc.update(&header[..size - 4]);
    header[size - 4..].copy_from_slice(&crc.sum().to_le_bytes());
}
