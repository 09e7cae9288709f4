//! Format detection, every decoder and both archive readers, by random access and as a
//! stream, read to the end (bounded); and where the image has random access (a raw file, a
//! tar member, an xz file of several blocks), reads at a few places through it, one past its
//! end. Errors are fine; panics, hangs and huge allocations are bugs.
#![no_main]

use std::io::Read;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

/// Decoded bytes read at most per input (a zip bomb must not make the fuzzer crawl).
const LIMIT: u64 = 64 << 20;

/// Bytes read at each place through the random access.
const READ: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let store = Arc::new(blockprint::source::Memory::new(data, "fuzz.img"));
    if let Ok(opened) = blockprint::source::open_store(store) {
        if let Some(image) = &opened.store {
            let len = image.len();
            let mut buf = vec![0u8; READ as usize];
            for at in [
                0,
                len / 2,
                len.saturating_sub(READ),
                len.saturating_sub(1),
                len,
                len.saturating_add(1),
            ] {
                let n = READ.min(len.saturating_sub(at)).max(1) as usize;
                let _ = image.read_exact_at(at, &mut buf[..n]);
            }
            if let Ok(reader) = image.stream(len / 3, 3 * READ) {
                let _ = std::io::copy(&mut reader.take(4 * READ), &mut std::io::sink());
            }
        }
        let _ = std::io::copy(&mut opened.source.take(LIMIT), &mut std::io::sink());
    }
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok(opened) = blockprint::source::open_stream(reader, "fuzz.img") {
        let _ = std::io::copy(&mut opened.source.take(LIMIT), &mut std::io::sink());
    }
});
