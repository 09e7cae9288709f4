//! A compressed or remote image decoded to a sparse temporary file, for the filesystem scan,
//! which needs random access: shared by `blockprint scan` and the app's "Create a Block Map".

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use blockprint::scan::BLOCK;

/// Writes the decoded image to `path`, leaving all-zero 4 KiB blocks as holes (the scan reads
/// them as zeros just the same, and the temporary file stays small).
pub(crate) fn unpack(source: &mut dyn Read, path: &Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create '{}'", path.display()))?;
    let mut buf = vec![0u8; 4 << 20];
    let mut offset = 0u64;
    loop {
        let mut got = 0;
        while got < buf.len() {
            match source.read(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        for (i, block) in buf[..got].chunks(BLOCK as usize).enumerate() {
            if block.iter().any(|&b| b != 0) {
                file.write_all_at(block, offset + (i as u64) * BLOCK)
                    .with_context(|| format!("cannot write '{}'", path.display()))?;
            }
        }
        offset += got as u64;
        if got < buf.len() {
            break;
        }
    }
    file.set_len(offset)
        .with_context(|| format!("cannot write '{}'", path.display()))?;
    Ok(())
}

/// A temporary file removed on drop.
pub(crate) struct Temporary {
    pub(crate) path: PathBuf,
}

impl Temporary {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(format!(".blockprint-scan-{}.img", std::process::id())),
        }
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        // It may not exist yet; nothing else to do either way.
        let _ = std::fs::remove_file(&self.path);
    }
}
