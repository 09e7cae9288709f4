//! How fast each stage of a copy goes on its own, for `benches/bench.sh`: the limit a
//! pipelined copy is measured against is the slowest of these (and of the write, which the
//! script measures with `dd`).
//!
//! ```text
//! limits decode IMAGE BMAP   the engine's source alone: open IMAGE (any format), read the
//!                            bmap's mapped ranges (skipping or decoding past the holes) into
//!                            one reused buffer, nothing else
//! limits hash BYTES          SHA-256 of BYTES of data in memory, one thread, 4 MiB at a time
//! ```
//!
//! Each prints `<seconds> <bytes>` on one line. Not a test: `cargo bench` never runs it on its
//! own (it needs arguments); the script builds and calls it.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use blockprint::bmap::{Bmap, ChecksumType};
use blockprint::source::{Input, Opener};

const BUF: usize = 4 << 20;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (seconds, bytes) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["decode", image, bmap] => decode(image, Path::new(bmap))?,
        ["hash", bytes] => hash(bytes.parse().context("BYTES must be a number")?),
        // `cargo bench` passes `--bench`: nothing to do without the script's arguments.
        ["--bench"] => return Ok(()),
        _ => bail!("usage: limits decode IMAGE BMAP | limits hash BYTES"),
    };
    println!("{seconds:.3} {bytes}");
    Ok(())
}

fn decode(image: &str, bmap: &Path) -> Result<(f64, u64)> {
    let bmap = Bmap::from_file(bmap)?;
    let input = Input::parse(image)?;
    let started = Instant::now();
    let mut source = Opener::new().open(&input)?.source;
    // Page-aligned, as the copy's buffers are, so a raw file is read as the copy reads it.
    let mut backing = vec![0u8; BUF + 4096];
    let at = backing.as_ptr().align_offset(4096);
    let buf = &mut backing[at..at + BUF];
    let mut bytes = 0;
    for range in bmap.ranges() {
        let (start, end) = bmap.byte_span(&range);
        source
            .skip_to(start)
            .with_context(|| format!("skipping to {start}"))?;
        let mut left = end - start;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(BUF).min(BUF);
            source
                .read_exact(&mut buf[..want])
                .with_context(|| format!("reading {want} bytes at {}", end - left))?;
            left -= want as u64;
        }
        bytes += end - start;
    }
    Ok((started.elapsed().as_secs_f64(), bytes))
}

fn hash(bytes: u64) -> (f64, u64) {
    let buf: Vec<u8> = (0..BUF).map(|i| (i * 131 % 251) as u8).collect();
    let started = Instant::now();
    let mut hasher = ChecksumType::Sha256.hasher();
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(BUF).min(BUF);
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    std::hint::black_box(hasher.finish());
    (started.elapsed().as_secs_f64(), bytes)
}
