//! Format detection, every decoder and both archive readers, by random access and as a
//! stream, read to the end (bounded). Errors are fine; panics, hangs and huge allocations are
//! bugs.
#![no_main]

use std::io::Read;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

/// Decoded bytes read at most per input (a zip bomb must not make the fuzzer crawl).
const LIMIT: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let store = Arc::new(blockprint::source::Memory::new(data, "fuzz.img"));
    if let Ok(opened) = blockprint::source::open_store(store) {
        let _ = std::io::copy(&mut opened.source.take(LIMIT), &mut std::io::sink());
    }
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok(opened) = blockprint::source::open_stream(reader, "fuzz.img") {
        let _ = std::io::copy(&mut opened.source.take(LIMIT), &mut std::io::sink());
    }
});
