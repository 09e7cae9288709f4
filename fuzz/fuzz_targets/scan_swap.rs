//! The swap parser alone, on arbitrary sparse images (see sparse.rs), whether or not it
//! would claim them.
#![no_main]

#[path = "sparse.rs"]
mod sparse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sparse::fuzz_parser("swap", data));
