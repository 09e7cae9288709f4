//! The bmap parser and the clearsigned-text extractor on arbitrary bytes: an error is fine, a
//! panic, a hang or a huge allocation is a bug.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = blockprint::bmap::Bmap::from_bytes(data, Path::new("fuzz.bmap"));
    if let Some(text) = blockprint::bmap::cleartext(data) {
        let _ = blockprint::bmap::Bmap::from_bytes(&text, Path::new("fuzz.bmap"));
    }
});
