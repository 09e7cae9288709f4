//! Hostile inputs through the CLI: each gets exit 1 with one clear line naming what is wrong,
//! no panic, and nothing written: a new destination is not created, an old one keeps its bytes.

use std::path::Path;

use crate::harness::bad_bmaps::{bad_bmaps, edited};
use crate::harness::support::{blockprint, create_bmap, random_bytes, scratch, sh};

/// A destination that must not appear, and one whose bytes must survive.
struct Destinations {
    new: std::path::PathBuf,
    old: std::path::PathBuf,
}

impl Destinations {
    fn in_dir(dir: &Path) -> Self {
        let old = dir.join("precious.img");
        std::fs::write(&old, b"precious").unwrap();
        Self {
            new: dir.join("never-created.img"),
            old,
        }
    }

    /// Runs `copy ARGS DEST` for both destinations and checks each failed with `needles`.
    fn refuse(&self, args: &[&str], needles: &[&str]) {
        for dest in [&self.new, &self.old] {
            let mut all: Vec<&str> = vec!["copy"];
            all.extend_from_slice(args);
            all.push(dest.to_str().unwrap());
            blockprint(&all).fails_with(needles);
        }
        assert!(!self.new.exists(), "{args:?} created the destination");
        assert_eq!(
            std::fs::read(&self.old).unwrap(),
            b"precious",
            "{args:?} changed the destination"
        );
    }
}

#[test]
fn every_bad_bmap_is_refused_before_anything_is_written() {
    let dir = scratch();
    let d = dir.path();
    let image = d.join("image.img");
    std::fs::write(&image, random_bytes(7, 16384)).unwrap();
    let bmap = d.join("edited.bmap");
    let dests = Destinations::in_dir(d);
    for (what, text, message, _) in bad_bmaps() {
        std::fs::write(&bmap, &text).unwrap();
        let args = ["--bmap", bmap.to_str().unwrap(), image.to_str().unwrap()];
        println!("{what}");
        dests.refuse(&args, &["edited.bmap", message]);
    }
}

#[test]
fn bmaps_that_parse_but_do_not_fit_the_image_write_nothing() {
    let dir = scratch();
    let d = dir.path();
    let image = d.join("image.img");
    std::fs::write(&image, random_bytes(7, 16384)).unwrap();
    let image = image.to_str().unwrap();
    let dests = Destinations::in_dir(d);

    // A valid bmap of an image of 2^62 bytes: the sizes differ.
    let gigantic = d.join("gigantic.bmap");
    let text = edited("<ImageSize> 16384 ", "<ImageSize> 4611686018427387904 ")
        .replace("<BlocksCount> 4 ", "<BlocksCount> 1125899906842624 ");
    std::fs::write(&gigantic, crate::harness::support::rechecksum(&text)).unwrap();
    dests.refuse(
        &["--bmap", gigantic.to_str().unwrap(), image],
        &[
            "image.img",
            "has 16384 bytes but its bmap describes an image of 4611686018427387904 bytes",
        ],
    );

    // A bmap of the same size with checksums of other data: found at the first range, and
    // the destination was being written unnamed, so nothing of it is left.
    let other = d.join("other.img");
    std::fs::write(&other, random_bytes(8, 16384)).unwrap();
    let other_bmap = d.join("other.bmap");
    create_bmap(&other, &other_bmap);
    dests.refuse(
        &["--bmap", other_bmap.to_str().unwrap(), image],
        &["checksum mismatch for blocks range 0-3", "image.img"],
    );

    // An image larger than its bmap says. Raw and xz (which records its size) are refused by
    // size before anything is opened; a stream known only at its end is decoded to its end
    // before the copy is final, and found there.
    let bmap = d.join("image.bmap");
    create_bmap(Path::new(image), &bmap);
    let longer = d.join("longer.img");
    let mut bytes = std::fs::read(image).unwrap();
    bytes.extend_from_slice(&random_bytes(9, 4096));
    std::fs::write(&longer, &bytes).unwrap();
    let path = longer.to_str().unwrap();
    sh("xz", &["-k", "-T1", path]);
    sh("gzip", &["-k", path]);
    sh("bzip2", &["-k", path]);
    sh("lz4", &["-q", path, &format!("{path}.lz4")]);
    sh("lzop", &[path]);
    sh("zstd", &["-q", path]);
    let by_size = "has 20480 bytes but its bmap describes an image of 16384 bytes";
    let at_end = "holds more data than the 16384 bytes its bmap gives";
    for (longer, expected) in [
        ("longer.img", by_size),
        ("longer.img.xz", by_size),
        // A local gzip is decoded to its end before anything is written, when its last
        // member's size (ISIZE) is not the bmap's: refused up front, by its size.
        ("longer.img.gz", by_size),
        ("longer.img.bz2", at_end),
        ("longer.img.lz4", at_end),
        ("longer.img.lzo", at_end),
        ("longer.img.zst", at_end),
    ] {
        let path = d.join(longer);
        dests.refuse(
            &["--bmap", bmap.to_str().unwrap(), path.to_str().unwrap()],
            &[longer, expected],
        );
    }

    // And shorter than its bmap says, where only the unmapped tail is missing: the data
    // written is all there, but the image is not the one the bmap describes.
    let sparse = d.join("sparse.img");
    std::fs::copy(image, &sparse).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sparse)
        .unwrap()
        .set_len(16384 + 8192)
        .unwrap();
    let sparse_bmap = d.join("sparse.bmap");
    create_bmap(&sparse, &sparse_bmap);
    let short = d.join("short.img");
    std::fs::copy(image, &short).unwrap();
    sh("gzip", &["-k", short.to_str().unwrap()]);
    dests.refuse(
        &[
            "--bmap",
            sparse_bmap.to_str().unwrap(),
            short.with_extension("img.gz").to_str().unwrap(),
        ],
        // A local gzip is decoded to its end first (its ISIZE is not the bmap's size).
        &[
            "short.img.gz",
            "has 16384 bytes but its bmap describes an image of 24576 bytes",
        ],
    );

    // A bmap file larger than any real one: refused by its size, before it is read.
    let huge = d.join("huge.bmap");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(blockprint::bmap::MAX_FILE_SIZE + 1).unwrap();
    dests.refuse(
        &["--bmap", huge.to_str().unwrap(), image],
        &["huge.bmap", "is larger than"],
    );
}

/// Sets the byte at `field` (0: version, 2: public-key algorithm, 3: hash algorithm) of the
/// first packet of a binary OpenPGP signature.
fn edit_signature_packet(sig: &[u8], field: usize, value: u8) -> Vec<u8> {
    let header = if sig[0] & 0x40 != 0 {
        // New format: a one-byte length below 192.
        2
    } else {
        // Old format: the length type in the low two bits.
        1 + [1, 2, 4][usize::from(sig[0] & 3)]
    };
    let mut edited = sig.to_vec();
    edited[header + field] = value;
    edited
}

#[test]
fn hostile_signatures_and_keyrings_are_refused_and_write_nothing() {
    use crate::signatures::{Gpg, KEYS_MADE, SIGNED};
    let gpg = Gpg::new();
    let key = gpg.key("Hostile Test <hostile@example.invalid>", KEYS_MADE, "never");
    let dir = scratch();
    let d = dir.path();
    let image = d.join("image.img");
    std::fs::write(&image, random_bytes(7, 16384)).unwrap();
    let image = image.to_str().unwrap();
    let bmap = d.join("image.img.bmap");
    create_bmap(Path::new(image), &bmap);
    let keyring = d.join("key.gpg");
    gpg.export(&key, false, &keyring);
    let keyring = keyring.to_str().unwrap();
    let good = d.join("good.sig");
    gpg.sign(&[&key], "--detach-sign", false, SIGNED, &bmap, &good);
    let good = std::fs::read(&good).unwrap();
    let dests = Destinations::in_dir(d);
    let sig = d.join("image.img.bmap.sig");

    let armored_junk =
        b"-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "armored junk",
            armored_junk.to_vec(),
            "image.img.bmap.sig' cannot be read: Malformed packet",
        ),
        (
            "cut in half",
            good[..good.len() / 2].to_vec(),
            "image.img.bmap.sig' cannot be read: Malformed packet: Truncated packet",
        ),
        (
            "unknown public-key algorithm",
            edit_signature_packet(&good, 2, 99),
            "it claims public-key algorithm Unknown algo 99, but its key is EdDSA",
        ),
        (
            "unknown hash algorithm",
            edit_signature_packet(&good, 3, 99),
            "cannot be read: Unsupported hash algorithm: Unknown hash algorithm 99; get the signature again",
        ),
        (
            "signature version 9",
            edit_signature_packet(&good, 0, 9),
            "has a signature that cannot be checked: the signature is of a kind or algorithm this version cannot check",
        ),
    ];
    for (what, bytes, message) in cases {
        println!("{what}");
        std::fs::write(&sig, bytes).unwrap();
        dests.refuse(&["--keyring", keyring, image], &[message]);
    }
    std::fs::remove_file(&sig).unwrap();

    // A keyring of 64 MiB and one byte: refused by its size, before it is parsed.
    let huge = d.join("huge.gpg");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    std::fs::write(d.join("image.img.bmap.sig"), &good).unwrap();
    dests.refuse(
        &["--keyring", huge.to_str().unwrap(), image],
        &["huge.gpg", "is larger than 67108864 bytes"],
    );
}

/// Sets the uncompressed size of the first member in both its local header and the central
/// directory of a zip archive.
fn understate_zip_size(zip: &[u8], size: u32) -> Vec<u8> {
    let mut edited = zip.to_vec();
    for (signature, at) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
        let header = edited
            .windows(4)
            .position(|w| w == signature)
            .expect("zip header");
        edited[header + at..header + at + 4].copy_from_slice(&size.to_le_bytes());
    }
    edited
}

#[test]
fn archive_bombs_and_path_tricks_write_nothing_or_only_the_destination() {
    crate::harness::support::require_tool("zip");
    let dir = scratch();
    let d = dir.path();
    let image = d.join("disk.img");
    let mut data = random_bytes(31, 1 << 20);
    data.resize(8 << 20, 0);
    std::fs::write(&image, &data).unwrap();
    sh(
        "sh",
        &[
            "-c",
            &format!("cd {} && zip -q disk.zip disk.img", d.display()),
        ],
    );
    let zip = std::fs::read(d.join("disk.zip")).unwrap();
    let dests = Destinations::in_dir(d);

    // A member whose header says 4 KiB of an 8 MiB stream: writing 4 KiB and calling it done
    // would be a false success, so the stream must end where its header says.
    let bomb = d.join("bomb.zip");
    std::fs::write(&bomb, understate_zip_size(&zip, 4096)).unwrap();
    dests.refuse(
        &["--nobmap", bomb.to_str().unwrap()],
        &[
            "bomb.zip",
            "at offset 4096",
            "holds more than the 4096 bytes its header gives",
        ],
    );

    // Members named to escape the folder are never extracted: only the destination is written.
    let nest = d.join("a/b");
    std::fs::create_dir_all(&nest).unwrap();
    let script = format!(
        "cd {} && zip -q ../../dots.zip ../../disk.img && tar -cPf ../../dots.tar ../../disk.img \
         && tar -cPf ../../absolute.tar {}",
        nest.display(),
        image.display()
    );
    sh("sh", &["-c", &script]);
    let listing = sh("tar", &["-tPf", d.join("dots.tar").to_str().unwrap()]);
    assert_eq!(listing.trim(), "../../disk.img");
    let before: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for archive in ["dots.zip", "dots.tar", "absolute.tar"] {
        let out = d.join(format!("{archive}.out"));
        let path = d.join(archive);
        blockprint([
            "copy",
            "--nobmap",
            path.to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(std::fs::read(&out).unwrap(), data, "{archive}");
        std::fs::remove_file(&out).unwrap();
    }
    let after: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "a member was extracted somewhere");
}
