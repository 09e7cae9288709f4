//! Telling what an image is, on arbitrary images: ISO 9660 and Joliet directories, UDF
//! descriptors, partition tables, filesystem signatures, archive listings. Any verdict is
//! fine; a panic, a hang or a huge allocation is a bug. The input is a sparse image (see
//! sparse.rs), so that a seed can be a whole ISO or UDF volume; its bytes are also identified
//! as they are, in memory and as a stream read ahead, whose bytes must come back unchanged.
#![no_main]

#[path = "sparse.rs"]
mod sparse;

use std::io::{Cursor, Read};

use blockprint::identify::{identify, peek};
use blockprint::source::{Memory, StreamSource};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(image) = sparse::Sparse::parse(data) {
        let identity = identify(&image);
        assert!(!identity.to_string().is_empty());
        let _ = identity.advice();
    }
    let _ = identify(&Memory::new(data, "fuzz.img"));
    let stream = StreamSource::new(
        Box::new(Cursor::new(data.to_vec())),
        "fuzz.img".into(),
        None,
    );
    let head = peek(Box::new(stream), 256 << 10);
    let _ = identify(&head);
    let mut again = Vec::new();
    head.into_source()
        .read_to_end(&mut again)
        .expect("a stream over memory does not fail");
    assert_eq!(
        again, data,
        "the bytes read ahead did not come back unchanged"
    );
});
