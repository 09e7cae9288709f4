//! The catalog reader (Raspberry Pi Imager's `os_list` JSON) on arbitrary bytes, against a web
//! origin (relative addresses resolved) and a local one; then every walk over what it read.
//! An error is fine, a panic, a hang or a huge allocation is a bug.
#![no_main]

use blockprint::catalog::Catalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for origin in ["https://example.org/lists/os_list.json", "/srv/os_list.json"] {
        if let Ok(catalog) = Catalog::parse(data, origin) {
            let all = catalog.walk();
            for board in &catalog.boards {
                let _ = all.iter().filter(|e| e.runs_on(board)).count();
            }
            if let Some(first) = all.first() {
                let _ = catalog.find(&first.id);
                let _ = catalog.find(&first.name);
                let _ = first.matches("pi os");
            }
        }
    }
});
