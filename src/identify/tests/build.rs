//! Images built byte by byte for the tests: ISO 9660 (with Joliet), UDF, ZIP and tar, laid out
//! as the specifications say, small enough to keep in memory.

/// Bytes of an ISO 9660 sector.
pub(super) const SECTOR: usize = 2048;

/// Writes `v` little-endian at `at`.
pub(super) fn le32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn le16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// A name as ISO 9660 (bytes) or Joliet (UCS-2 big-endian) stores it.
fn encode(name: &str, ucs2: bool) -> Vec<u8> {
    if ucs2 {
        name.encode_utf16().flat_map(u16::to_be_bytes).collect()
    } else {
        name.as_bytes().to_vec()
    }
}

/// An ISO 9660 directory record.
fn record(name: &[u8], extent: u32, size: u32, dir: bool) -> Vec<u8> {
    let len = 33 + name.len() + (name.len() + 1) % 2;
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    le32(&mut r, 2, extent);
    r[6..10].copy_from_slice(&extent.to_be_bytes());
    le32(&mut r, 10, size);
    r[14..18].copy_from_slice(&size.to_be_bytes());
    r[25] = if dir { 2 } else { 0 };
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    r
}

/// The directories of `paths` (a root and one level below it), the root at sector `first` and
/// each subdirectory in a sector after it; every file points to sector 47.
fn tree(paths: &[&str], ucs2: bool, first: u32) -> Vec<(u32, Vec<u8>)> {
    let mut dirs: Vec<&str> = Vec::new();
    for path in paths {
        if let Some((dir, _)) = path.split_once('/')
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    let sector_of = |dir: &str| first + 1 + dirs.iter().position(|d| *d == dir).unwrap() as u32;
    let listing = |parent: u32, entries: Vec<Vec<u8>>| {
        let mut d = record(&[0], parent, SECTOR as u32, true);
        d.extend(record(&[1], parent, SECTOR as u32, true));
        for e in entries {
            d.extend(e);
        }
        d.resize(SECTOR, 0);
        d
    };
    let mut root = Vec::new();
    for dir in &dirs {
        root.push(record(
            &encode(dir, ucs2),
            sector_of(dir),
            SECTOR as u32,
            true,
        ));
    }
    for path in paths.iter().filter(|p| !p.contains('/')) {
        root.push(record(&encode(path, ucs2), 47, 4, false));
    }
    let mut out = vec![(first, listing(first, root))];
    for dir in &dirs {
        let files = paths
            .iter()
            .filter_map(|p| p.strip_prefix(&format!("{dir}/")))
            .map(|name| record(&encode(name, ucs2), 47, 4, false))
            .collect();
        out.push((sector_of(dir), listing(sector_of(dir), files)));
    }
    out
}

/// A volume descriptor of `kind` (1 primary, 2 supplementary) whose root is at `root`.
fn descriptor(kind: u8, volume: &str, root: u32, joliet: bool) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = kind;
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    let mut name = encode(volume, joliet);
    let pad: &[u8] = if joliet { &[0, b' '] } else { b" " };
    while name.len() < 32 {
        name.extend_from_slice(pad);
    }
    d[40..72].copy_from_slice(&name[..32]);
    if joliet {
        d[88..91].copy_from_slice(b"%/E");
    }
    le16(&mut d, 128, SECTOR as u16);
    d[130..132].copy_from_slice(&(SECTOR as u16).to_be_bytes());
    let root = record(&[0], root, SECTOR as u32, true);
    d[156..156 + 34].copy_from_slice(&root);
    d
}

/// An ISO 9660 image of 48 sectors: volume `volume`, the primary tree holding `paths`
/// (`SOURCES/INSTALL.WIM;1`), and a Joliet tree holding `joliet` when given.
pub(super) fn iso(volume: &str, paths: &[&str], joliet: Option<&[&str]>) -> Vec<u8> {
    let mut image = vec![0u8; 48 * SECTOR];
    let mut put = |sector: u32, data: &[u8]| {
        let at = sector as usize * SECTOR;
        image[at..at + data.len()].copy_from_slice(data);
    };
    put(16, &descriptor(1, volume, 20, false));
    let mut next = 17;
    if joliet.is_some() {
        put(17, &descriptor(2, volume, 30, true));
        next = 18;
    }
    let mut end = vec![0u8; SECTOR];
    end[0] = 255;
    end[1..6].copy_from_slice(b"CD001");
    end[6] = 1;
    put(next, &end);
    for (sector, data) in tree(paths, false, 20) {
        put(sector, &data);
    }
    for (sector, data) in tree(joliet.unwrap_or(&[]), true, 30) {
        put(sector, &data);
    }
    image
}

/// Fills in the 16-byte tag of descriptor `d`: its identifier, the location it claims, the
/// CRC of the `body` bytes after the tag, and the checksum.
pub(super) fn tag(d: &mut [u8], id: u16, location: u32, body: usize) {
    le16(d, 0, id);
    le16(d, 2, 2);
    let crc = crate::identify::udf::crc_itu(&d[16..16 + body]);
    le16(d, 8, crc);
    le16(d, 10, body as u16);
    le32(d, 12, location);
    d[4] = 0;
    d[4] = d[..16]
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 4)
        .fold(0u8, |s, (_, &b)| s.wrapping_add(b));
}

/// A file identifier descriptor for `name` (`None`: the parent), its entry at `entry`.
fn fid(name: Option<&str>, entry: u32, dir: bool) -> Vec<u8> {
    let id: Vec<u8> = name.map_or(Vec::new(), |n| [&[8u8][..], n.as_bytes()].concat());
    let len = (38 + id.len() + 3) & !3;
    let mut d = vec![0u8; len];
    le16(&mut d, 16, 1);
    d[18] = match (name, dir) {
        (None, _) => 0x0A,
        (Some(_), true) => 0x02,
        (Some(_), false) => 0,
    };
    d[19] = id.len() as u8;
    le32(&mut d, 24, entry);
    d[38..38 + id.len()].copy_from_slice(&id);
    tag(&mut d, 257, 0, len - 16);
    d
}

/// Where the UDF partition starts, and its length, in sectors.
pub(super) const PARTITION: (u32, u32) = (400, 100);

/// A file entry (`extended`: an extended one) of `kind` (4 directory, 5 file) at partition
/// block `at`, with `ads` as its allocation descriptors of type `ad_type` (0 short, 1 long,
/// 3 embedded data).
fn entry(
    block: usize,
    at: u32,
    kind: u8,
    len: u64,
    ad_type: u16,
    ads: &[u8],
    extended: bool,
) -> Vec<u8> {
    let mut d = vec![0u8; block];
    let (id, base, lengths) = if extended {
        (266, 216, 208)
    } else {
        (261, 176, 168)
    };
    le16(&mut d, 20, 4);
    d[27] = kind;
    le16(&mut d, 34, ad_type);
    d[56..64].copy_from_slice(&len.to_le_bytes());
    le32(&mut d, lengths + 4, ads.len() as u32);
    d[base..base + ads.len()].copy_from_slice(ads);
    tag(&mut d, id, at, base + ads.len() - 16);
    d
}

/// A UDF volume in sectors of `block` bytes: the volume recognition sequence, the anchor at
/// sector 256, a volume descriptor sequence at 300 and a partition at 400. The root
/// directory's identifiers are embedded in its entry; each subdirectory has an extended file
/// entry whose data is in a block of its own, found through a short (or, `long`, a long)
/// allocation descriptor. `paths` as in [`iso`], one level of subdirectories.
pub(super) fn udf(block: usize, volume: &str, paths: &[&str], long: bool) -> Vec<u8> {
    let (start, blocks) = PARTITION;
    let mut image = vec![0u8; (start + blocks) as usize * block];
    let mut put = |sector: u32, data: &[u8]| {
        let at = sector as usize * block;
        image[at..at + data.len()].copy_from_slice(data);
    };
    // The volume recognition sequence: 2048 bytes a descriptor, from 32 KiB.
    for (i, id) in [b"BEA01", b"NSR02", b"TEA01"].iter().enumerate() {
        let mut d = vec![0u8; 2048];
        d[1..6].copy_from_slice(*id);
        d[6] = 1;
        let at = 32768 + i * 2048;
        put((at / block) as u32, &d[..block.min(2048)]);
        if block < 2048 {
            for part in 1..2048 / block {
                put(
                    (at / block + part) as u32,
                    &d[part * block..(part + 1) * block],
                );
            }
        }
    }
    let mut anchor = vec![0u8; block];
    le32(&mut anchor, 16, 16 * block as u32);
    le32(&mut anchor, 20, 300);
    le32(&mut anchor, 24, 16 * block as u32);
    le32(&mut anchor, 28, 300);
    tag(&mut anchor, 2, 256, 496);
    put(256, &anchor);
    let mut pd = vec![0u8; block];
    le32(&mut pd, 188, start);
    le32(&mut pd, 192, blocks);
    tag(&mut pd, 5, 300, 496);
    put(300, &pd);
    let mut lvd = vec![0u8; block];
    lvd[84] = 8;
    lvd[85..85 + volume.len()].copy_from_slice(volume.as_bytes());
    lvd[211] = 1 + volume.len() as u8;
    le32(&mut lvd, 212, block as u32);
    le32(&mut lvd, 248, block as u32);
    le32(&mut lvd, 264, 6);
    le32(&mut lvd, 268, 1);
    lvd[440..446].copy_from_slice(&[1, 6, 1, 0, 0, 0]);
    tag(&mut lvd, 6, 301, 446 - 16);
    put(301, &lvd);
    let mut td = vec![0u8; block];
    tag(&mut td, 8, 302, 0);
    put(302, &td);
    // In the partition: the file set at block 0, the root's entry at 1, subdirectories'
    // entries from 2 and their data from 20, and one file entry at 10 for every file.
    let mut fsd = vec![0u8; block];
    le32(&mut fsd, 400, block as u32);
    le32(&mut fsd, 404, 1);
    tag(&mut fsd, 256, 0, 496);
    put(start, &fsd);
    put(start + 10, &entry(block, 10, 5, 4, 3, b"data", false));
    let mut dirs: Vec<&str> = Vec::new();
    for path in paths {
        if let Some((dir, _)) = path.split_once('/')
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    let mut root = fid(None, 1, true);
    for (i, dir) in dirs.iter().enumerate() {
        root.extend(fid(Some(dir), 2 + i as u32, true));
        let mut listing = fid(None, 1, true);
        for name in paths
            .iter()
            .filter_map(|p| p.strip_prefix(&format!("{dir}/")))
        {
            listing.extend(fid(Some(name), 10, false));
        }
        let data_at = 20 + i as u32;
        let mut ad = vec![0u8; if long { 16 } else { 8 }];
        le32(&mut ad, 0, listing.len() as u32);
        le32(&mut ad, 4, data_at);
        let ad_type = u16::from(long);
        put(
            start + 2 + i as u32,
            &entry(
                block,
                2 + i as u32,
                4,
                listing.len() as u64,
                ad_type,
                &ad,
                true,
            ),
        );
        put(start + data_at, &listing);
    }
    for path in paths.iter().filter(|p| !p.contains('/')) {
        root.extend(fid(Some(path), 10, false));
    }
    put(
        start + 1,
        &entry(block, 1, 4, root.len() as u64, 3, &root, false),
    );
    image
}

/// A ZIP archive of empty stored files named `names` (a name ending in `/` is a directory).
pub(super) fn zip(names: &[&str]) -> Vec<u8> {
    let (mut local, mut central) = (Vec::new(), Vec::new());
    for name in names {
        let offset = local.len() as u32;
        local.extend_from_slice(b"PK\x03\x04");
        local.extend_from_slice(&[0; 22]);
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&[0, 0]);
        local.extend_from_slice(name.as_bytes());
        let mut header = vec![0u8; 46];
        header[..4].copy_from_slice(b"PK\x01\x02");
        le16(&mut header, 28, name.len() as u16);
        le32(&mut header, 42, offset);
        central.extend(header);
        central.extend_from_slice(name.as_bytes());
    }
    let mut end = vec![0u8; 22];
    end[..4].copy_from_slice(b"PK\x05\x06");
    le16(&mut end, 8, names.len() as u16);
    le16(&mut end, 10, names.len() as u16);
    le32(&mut end, 12, central.len() as u32);
    le32(&mut end, 16, local.len() as u32);
    [local, central, end].concat()
}

/// A tar archive (ustar) of `members`: (name, type flag, content).
pub(super) fn tar(members: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, content) in members {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
        h[156] = *kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend(h);
        out.extend_from_slice(content);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}
