//! First-boot settings on arbitrary input. The first byte chooses: even, the rest is a
//! `--settings` TOML file; odd, the rest is a sparse disk (see sparse.rs) into whose boot
//! partition fixed settings are written and read back, through its partition table, its FAT
//! and its files (`cmdline.txt`, `user-data`, …), as a written card's would be. An error is
//! fine; a panic, a hang or a huge allocation is a bug.
#![no_main]

#[path = "disk.rs"]
mod disk;
#[path = "sparse.rs"]
mod sparse;


use blockprint::firstboot::{self, FirstBoot, Format};
use disk::Disk;
use sparse::Sparse;

const SETTINGS: &str = "hostname = \"pi\"\n[user]\nname = \"alex\"\n\
    password_hash = \"$6$rounds=5000$abcdefghijklmnop$x\"\n[ssh]\n\
    [wifi]\nssid = 'a\"; rm -rf / #'\npassword = \"secret passphrase\"\ncountry = \"GB\"\n\
    [locale]\ntimezone = \"Europe/London\"\n";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(settings) = firstboot::parse(&String::from_utf8_lossy(rest), "fuzz.toml") {
            // What parse accepts renders in every format, and saves as a profile it reads back.
            for format in [Format::Systemd, Format::CloudInit, Format::RpiPreseed] {
                let _ = firstboot::render(&settings, format, &|_| Some(b"root=/dev/x".to_vec()));
            }
            let saved = settings.to_toml(true);
            assert_eq!(firstboot::parse(&saved, "saved").ok(), Some(settings), "{saved}");
        }
        return;
    }
    let (Some(image), Ok(settings)) = (Sparse::parse(rest), firstboot::parse(SETTINGS, "fixed"))
    else {
        return;
    };
    let declared = match mode / 2 % 4 {
        0 => None,
        1 => Some(Format::Systemd),
        2 => Some(Format::CloudInit),
        _ => Some(Format::RpiPreseed),
    };
    let mut disk = Disk::new(image);
    let _ = firstboot::apply(&FirstBoot { settings, declared }, &mut disk);
});
