//! The scanner run on an image as it streams past (what `copy` does without a bmap for a
//! compressed image): the same sparse images as the `scan` target, cut at 64 MiB, read
//! forward the way the copy reads them. Besides no panic, hang or huge allocation: nothing
//! left out may be something the full scan of the same bytes maps.
#![no_main]

#[path = "sparse.rs"]
mod sparse;

use std::io::{Cursor, Read};

use blockprint::scan::{Ranges, StreamScan};
use blockprint::source::{ImageSource, RandomAccess, StreamSource};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(mut image) = sparse::Sparse::parse(data) else {
        return;
    };
    image.len = image.len.min(64 << 20);
    let full = blockprint::scan::scan(&image);
    let mut bytes = Vec::new();
    let Ok(mut whole) = image.stream(0, image.len) else {
        return;
    };
    if whole.read_to_end(&mut bytes).is_err() {
        return;
    }
    let size = (data.first() == Some(&0)).then_some(image.len);
    let mut inner = StreamSource::new(Box::new(Cursor::new(bytes)), "fuzz.img".into(), size);
    let mut scan = StreamScan::new(&mut inner);
    let mut skipped = Ranges::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let at = scan.position();
        if let Some(end) = scan.free_until(at) {
            if scan.skip_free(end).is_err() {
                break;
            }
            skipped.add(at, end);
            continue;
        }
        let limit = [scan.next_free(at), scan.next_lesson(at)]
            .into_iter()
            .flatten()
            .fold(at + buf.len() as u64, u64::min);
        let want = usize::try_from(limit - at).unwrap_or(buf.len());
        match scan.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    skipped.normalize();
    let outside = skipped.subtract(&full.free);
    assert!(
        outside.as_slice().is_empty(),
        "left out but mapped by the full scan: {:?}",
        outside.as_slice()
    );
    let _ = scan.findings();
});
