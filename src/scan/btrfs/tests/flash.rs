//! The flash-onto-garbage check: every byte called free is overwritten with random data, then
//! `btrfs check --check-data-csum` and a byte-for-byte comparison of `btrfs restore` output
//! decide whether the filesystem survived.

use std::path::Path;

use crate::scan::Ranges;
use crate::scan::testing::{garbled, run, try_run};

/// The outcome of flashing an image with `free` left out.
pub(super) struct Flash {
    /// `btrfs check` passed.
    pub check_ok: bool,
    pub check_output: String,
    /// The first difference between the restored files, if any.
    pub difference: Option<String>,
}

impl Flash {
    pub(super) fn passed(&self) -> bool {
        self.check_ok && self.difference.is_none()
    }
}

/// `btrfs check --readonly --check-data-csum`.
pub(super) fn check(image: &Path) -> (bool, String) {
    try_run(
        "btrfs",
        &[
            "check",
            "--readonly",
            "--check-data-csum",
            image.to_str().expect("utf-8"),
        ],
    )
}

/// `btrfs restore -s -S` (snapshots and symlinks too) of `image` into `out`.
pub(super) fn restore(image: &Path, out: &Path) {
    std::fs::create_dir_all(out).expect("restore dir");
    run(
        "btrfs",
        &[
            "restore",
            "-s",
            "-S",
            image.to_str().expect("utf-8"),
            out.to_str().expect("utf-8"),
        ],
    );
}

/// Garbles `free` in a copy of `image` (in `dir`, named `tag`) and checks it against the
/// restore of `image` itself, which must already be in `dir/restored`.
pub(super) fn flash(image: &Path, free: &Ranges, dir: &Path, tag: &str) -> Flash {
    let target = garbled(image, free, &dir.join(format!("{tag}.img")));
    let (check_ok, check_output) = check(&target);
    let out = dir.join(format!("{tag}.restored"));
    std::fs::create_dir_all(&out).expect("restore dir");
    let (restored, text) = try_run(
        "btrfs",
        &[
            "restore",
            "-s",
            "-S",
            target.to_str().expect("utf-8"),
            out.to_str().expect("utf-8"),
        ],
    );
    let difference = if restored {
        compare(&dir.join("restored"), &out).err()
    } else {
        Some(format!("btrfs restore failed: {text}"))
    };
    std::fs::remove_file(&target).ok();
    std::fs::remove_dir_all(&out).ok();
    Flash {
        check_ok,
        check_output,
        difference,
    }
}

/// Compares two trees recursively: names, types, file contents and symlink targets.
pub(super) fn compare(a: &Path, b: &Path) -> Result<(), String> {
    let (ma, mb) = (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b));
    let (ma, mb) = match (ma, mb) {
        (Ok(ma), Ok(mb)) => (ma, mb),
        _ => return Err(format!("{} or {} is missing", a.display(), b.display())),
    };
    let (ta, tb) = (ma.file_type(), mb.file_type());
    if ta.is_symlink() || tb.is_symlink() {
        let (la, lb) = (std::fs::read_link(a).ok(), std::fs::read_link(b).ok());
        return if la.is_some() && la == lb {
            Ok(())
        } else {
            Err(format!("symlink {} differs", b.display()))
        };
    }
    if ta.is_dir() != tb.is_dir() {
        return Err(format!("{} changed type", b.display()));
    }
    if ta.is_dir() {
        let names = |p: &Path| -> Vec<_> {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .expect("read_dir")
                .map(|e| e.expect("entry").file_name())
                .collect();
            v.sort();
            v
        };
        let (na, nb) = (names(a), names(b));
        if na != nb {
            return Err(format!("{} lists {:?}, expected {:?}", b.display(), nb, na));
        }
        for name in na {
            compare(&a.join(&name), &b.join(&name))?;
        }
        return Ok(());
    }
    let (ca, cb) = (
        std::fs::read(a).expect("read"),
        std::fs::read(b).expect("read"),
    );
    if ca != cb {
        return Err(format!(
            "{} differs ({} vs {} bytes)",
            b.display(),
            ca.len(),
            cb.len()
        ));
    }
    Ok(())
}
