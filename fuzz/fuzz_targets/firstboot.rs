//! First-boot settings on arbitrary input. The first byte chooses: even, the rest is a
//! `--settings` TOML file; odd, the rest is a sparse disk (see sparse.rs) into whose boot
//! partition fixed settings are written and read back, through its partition table, its FAT
//! and its files (`cmdline.txt`, `user-data`, …), as a written card's would be. An error is
//! fine; a panic, a hang or a huge allocation is a bug.
#![no_main]

#[path = "sparse.rs"]
mod sparse;

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use blockprint::firstboot::{self, FirstBoot, Format};
use blockprint::source::RandomAccess;
use sparse::Sparse;

const SETTINGS: &str = "hostname = \"pi\"\n[user]\nname = \"alex\"\n\
    password_hash = \"$6$rounds=5000$abcdefghijklmnop$x\"\n[ssh]\n\
    [wifi]\nssid = 'a\"; rm -rf / #'\npassword = \"secret passphrase\"\ncountry = \"GB\"\n\
    [locale]\ntimezone = \"Europe/London\"\n";

/// The sparse disk, writable: what is written lands in a map of 512-byte sectors over it.
struct Disk {
    image: Sparse,
    written: HashMap<u64, [u8; 512]>,
    at: u64,
}

impl Disk {
    fn sector(&self, n: u64) -> io::Result<[u8; 512]> {
        if let Some(s) = self.written.get(&n) {
            return Ok(*s);
        }
        let mut s = [0; 512];
        let start = n * 512;
        let len = (self.image.len.saturating_sub(start)).min(512) as usize;
        self.image.read_exact_at(start, &mut s[..len])?;
        Ok(s)
    }
}

impl Read for Disk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.image.len.saturating_sub(self.at);
        let n = buf.len().min(512 - (self.at % 512) as usize).min(left as usize);
        if n == 0 {
            return Ok(0);
        }
        let sector = self.sector(self.at / 512)?;
        let from = (self.at % 512) as usize;
        buf[..n].copy_from_slice(&sector[from..from + n]);
        self.at += n as u64;
        Ok(n)
    }
}

impl Write for Disk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.image.len.saturating_sub(self.at);
        let n = buf.len().min(512 - (self.at % 512) as usize).min(left as usize);
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "past the end of the disk"));
        }
        let mut sector = self.sector(self.at / 512)?;
        let from = (self.at % 512) as usize;
        sector[from..from + n].copy_from_slice(&buf[..n]);
        self.written.insert(self.at / 512, sector);
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Disk {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let at = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.image.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.at.checked_add_signed(d),
        };
        self.at = at.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad seek"))?;
        Ok(self.at)
    }
}

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
    let mut disk = Disk { image, written: HashMap::new(), at: 0 };
    let _ = firstboot::apply(&FirstBoot { settings, declared }, &mut disk);
});
