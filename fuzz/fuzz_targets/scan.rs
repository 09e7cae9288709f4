//! The whole scanner on arbitrary images: partition tables, then every filesystem parser that
//! claims a region. Any verdict is fine; a panic, a hang or a huge allocation is a bug. The
//! input is a sparse image (see sparse.rs); the scan_* targets drive one parser each.
#![no_main]

#[path = "sparse.rs"]
mod sparse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(image) = sparse::Sparse::parse(data) else {
        return;
    };
    let report = blockprint::scan::scan(&image);
    sparse::check_free(report.free.as_slice(), image.len);
    // The first sector is a partition table or a boot sector: never left out.
    assert!(report.free.as_slice().first().is_none_or(|&(start, _)| start >= 512));
});
