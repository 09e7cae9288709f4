//! Never panics: thousands of deterministic mutations of a small valid volume through
//! `scan` (boot sector, the first MFT records, `$LogFile`'s restart pages, the bitmap), plus
//! cut-short regions. Any verdict is fine; a panic or a free range outside the region is not.

use std::time::Instant;

use super::super::{boot_sector, scan};
use super::make_image;
use crate::scan::Verdict;
use crate::scan::xfs::tests::fuzz::Mem;

#[test]
fn mutations_never_panic() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (image, _) = make_image(dir.path(), 32 << 20, &[]);
    let data = std::fs::read(&image).expect("image");
    let len = data.len() as u64;
    let mut mem = Mem { data, len };
    assert!(matches!(scan(&mem), Verdict::Free { .. }));
    let vol = boot_sector(&mem).expect("boot sector");
    let mft = vol.mft_lcn * vol.cluster;
    let targets: Vec<(u64, u64)> = vec![
        (0, 512),
        (mft, 8 * vol.record),
        (mft + 8 * vol.record, 8 * vol.record),
        (vol.mirror_lcn * vol.cluster, 4 * vol.record),
    ];
    // $LogFile and $Bitmap start wherever mkntfs put them: find them by their contents.
    let find = |pattern: &[u8]| {
        mem.data
            .chunks_exact(4096)
            .position(|c| c.starts_with(pattern))
            .map(|i| i as u64 * 4096)
    };
    let mut targets = targets;
    targets.extend(find(&[0xFF; 64]).map(|at| (at, 8192)));
    let mut state = 0xC0FFEE_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut free_verdicts = 0;
    let rounds = 3000;
    for round in 0..rounds {
        let (start, size) = targets[(next() % targets.len() as u64) as usize];
        let saved = mem.data[start as usize..(start + size) as usize].to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (start + next() % size) as usize;
            mem.data[at] ^= 1 + (next() % 255) as u8;
        }
        mem.len = if round % 10 == 0 { next() % len } else { len };
        if let Verdict::Free { free, .. } = scan(&mem) {
            assert!(
                free.iter().all(|&(s, e)| s <= e && e <= mem.len),
                "round {round}: range outside"
            );
            free_verdicts += 1;
        }
        mem.data[start as usize..(start + size) as usize].copy_from_slice(&saved);
    }
    eprintln!(
        "{rounds} NTFS mutations: {free_verdicts} still gave free space; took {:?}",
        started.elapsed()
    );
}
