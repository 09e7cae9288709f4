//! The scanner on arbitrary bytes: partition tables, then every filesystem parser that claims
//! the region. Any verdict is fine; a panic, a hang or a huge allocation is a bug. Seeds are
//! small real images (see fuzz/seeds.sh).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let image = blockprint::source::Memory::new(data, "fuzz.img");
    let report = blockprint::scan::scan(&image);
    // Whatever is called free must lie inside the image.
    assert!(report.free.as_slice().iter().all(|&(_, end)| end <= data.len() as u64));
});
