//! Bad bmap files, each with what its error must say and the line it must point at (if any):
//! read by the library in `bmap_format` and handed to the CLI in `hostile`.

use crate::harness::support::rechecksum;

/// A small valid 2.0 bmap: 4 blocks, ranges 0-1 and 3, no range checksums.
pub const TEMPLATE: &str = r#"<?xml version="1.0" ?>
<!-- a hand-made bmap -->
<bmap version="2.0">
    <ImageSize> 16384 </ImageSize>
    <BlockSize> 4096 </BlockSize>
    <BlocksCount> 4 </BlocksCount>
    <MappedBlocksCount> 3 </MappedBlocksCount>
    <ChecksumType> sha256 </ChecksumType>
    <BmapFileChecksum> 0000000000000000000000000000000000000000000000000000000000000000 </BmapFileChecksum>
    <BlockMap>
        <Range> 0-1 </Range>
        <Range> 3 </Range>
    </BlockMap>
</bmap>
"#;

/// The template with `from` replaced by `to`, and its file checksum made right again.
pub fn edited(from: &str, to: &str) -> String {
    assert!(TEMPLATE.contains(from), "template has no '{from}'");
    rechecksum(&TEMPLATE.replacen(from, to, 1))
}

/// One bad file: what it is, its text, what the error must say, and its line (if any).
pub type BadBmap = (&'static str, String, &'static str, Option<u64>);

pub fn bad_bmaps() -> Vec<BadBmap> {
    let deep = format!("{}{}{}", "<a>".repeat(40), "x", "</a>".repeat(40));
    vec![
        (
            "major 3",
            edited(r#"version="2.0""#, r#"version="3.0""#),
            "bmap format version 3.0 is not supported (up to 2.x)",
            Some(3),
        ),
        (
            "major 0",
            edited(r#"version="2.0""#, r#"version="0.9""#),
            "version 0.9 is not supported",
            Some(3),
        ),
        (
            "garbage version",
            edited(r#"version="2.0""#, r#"version="two""#),
            "version 'two' is not of the form MAJOR.MINOR",
            Some(3),
        ),
        (
            "no version",
            edited(r#" version="2.0""#, ""),
            "<bmap> has no version attribute",
            Some(3),
        ),
        (
            "1.0 without ImageSize",
            TEMPLATE
                .replace(r#"version="2.0""#, r#"version="1.0""#)
                .replace("    <ImageSize> 16384 </ImageSize>\n", ""),
            "format version 1.0 has no <ImageSize>",
            None,
        ),
        (
            "unknown checksum",
            edited("<ChecksumType> sha256 ", "<ChecksumType> md5 "),
            "checksum type 'md5' is not supported",
            Some(8),
        ),
        (
            "tampered",
            TEMPLATE.replace("<Range> 3 </Range>", "<Range> 2 </Range>"),
            "checksum mismatch for the bmap file itself",
            Some(9),
        ),
        (
            "blocks count",
            edited("<BlocksCount> 4 ", "<BlocksCount> 5 "),
            "BlocksCount is 5, but an image of 16384 bytes has 4 blocks",
            None,
        ),
        (
            "mapped count",
            edited("<MappedBlocksCount> 3 ", "<MappedBlocksCount> 2 "),
            "MappedBlocksCount is 2, but the ranges add up to 3 blocks",
            None,
        ),
        (
            "overlap",
            edited("<Range> 3 </Range>", "<Range> 1-2 </Range>"),
            "range 1-2 does not come after range 0-1",
            Some(12),
        ),
        (
            "descending",
            edited(
                "<Range> 0-1 </Range>\n        <Range> 3 </Range>",
                "<Range> 3 </Range>\n        <Range> 0-1 </Range>",
            ),
            "range 0-1 does not come after range 3",
            Some(12),
        ),
        (
            "past the end",
            edited("<Range> 3 </Range>", "<Range> 4 </Range>"),
            "range 4 goes past the end of the image (4 blocks)",
            Some(12),
        ),
        (
            "reversed",
            edited("<Range> 3 </Range>", "<Range> 5-3 </Range>"),
            "bad range (first > last): '5-3'",
            Some(12),
        ),
        (
            "negative",
            edited("<Range> 3 </Range>", "<Range> -3 </Range>"),
            "<Range> holds '-3'",
            Some(12),
        ),
        (
            "not a number",
            edited("<Range> 3 </Range>", "<Range> a-b </Range>"),
            "<Range> holds 'a-b'",
            Some(12),
        ),
        (
            "huge number",
            edited(
                "<Range> 3 </Range>",
                "<Range> 99999999999999999999999 </Range>",
            ),
            "<Range> holds '99999999999999999999999'",
            Some(12),
        ),
        (
            "block size 0",
            edited("<BlockSize> 4096 ", "<BlockSize> 0 "),
            "BlockSize 0 is not a power of two",
            None,
        ),
        (
            "block size 1000",
            edited("<BlockSize> 4096 ", "<BlockSize> 1000 "),
            "BlockSize 1000 is not a power of two",
            None,
        ),
        (
            "block size 2^40",
            edited("<BlockSize> 4096 ", "<BlockSize> 1099511627776 "),
            "BlockSize 1099511627776",
            None,
        ),
        (
            "image size text",
            edited("<ImageSize> 16384 ", "<ImageSize> 16384x "),
            "<ImageSize> holds '16384x'",
            Some(4),
        ),
        (
            "empty image",
            edited("<ImageSize> 16384 ", "<ImageSize> 0 "),
            "ImageSize is 0",
            None,
        ),
        (
            "short digest",
            edited("<Range> 3 </Range>", r#"<Range chksum="abcd"> 3 </Range>"#),
            "checksum of range 3 'abcd' is not a sha256 digest (64 hex digits)",
            Some(12),
        ),
        (
            "non-hex digest",
            edited(
                "<Range> 3 </Range>",
                &format!(r#"<Range chksum="{}"> 3 </Range>"#, "zz".repeat(32)),
            ),
            "is not a sha256 digest",
            Some(12),
        ),
        (
            "bad file digest",
            TEMPLATE.replace(&"0".repeat(64), "123"),
            "BmapFileChecksum '123' is not a sha256 digest",
            Some(9),
        ),
        (
            "doctype",
            TEMPLATE.replace(
                "<!-- a hand-made bmap -->",
                "<!DOCTYPE bmap [<!ENTITY x \"y\">]>",
            ),
            "DOCTYPE",
            Some(2),
        ),
        (
            "not XML",
            "this is not xml at all <".to_owned(),
            "not well-formed XML",
            None,
        ),
        (
            "cut short",
            TEMPLATE[..TEMPLATE.len() / 2].to_owned(),
            "not well-formed XML",
            None,
        ),
        ("empty file", String::new(), "no <bmap> element", None),
        (
            "wrong root",
            TEMPLATE
                .replace("<bmap version=\"2.0\">", "<map version=\"2.0\">")
                .replace("</bmap>", "</map>"),
            "the root element is <map>, not <bmap>",
            Some(3),
        ),
        (
            "duplicate",
            edited(
                "<BlockSize> 4096 </BlockSize>",
                "<BlockSize> 4096 </BlockSize><BlockSize> 4096 </BlockSize>",
            ),
            "<BlockSize> appears more than once",
            Some(5),
        ),
        (
            "no block map",
            edited(
                "<BlockMap>\n        <Range> 0-1 </Range>\n        <Range> 3 </Range>\n    </BlockMap>",
                "",
            ),
            "<BlockMap> is missing",
            None,
        ),
        (
            "no file checksum",
            TEMPLATE
                .replace("<BmapFileChecksum>", "<Other>")
                .replace("</BmapFileChecksum>", "</Other>"),
            "<BmapFileChecksum> is missing",
            None,
        ),
        (
            "too deep",
            edited("<BlockMap>", &format!("{deep}<BlockMap>")),
            "nested more than 16 levels",
            Some(10),
        ),
        (
            "second root",
            format!("{TEMPLATE}<bmap version=\"2.0\"/>"),
            "not well-formed XML",
            None,
        ),
        (
            "billion laughs",
            TEMPLATE
                .replace("<!-- a hand-made bmap -->", &laughs())
                .replace("<ImageSize> 16384 ", "<ImageSize> &lol9; "),
            "DOCTYPE",
            Some(2),
        ),
        (
            "external entity",
            TEMPLATE
                .replace(
                    "<!-- a hand-made bmap -->",
                    r#"<!DOCTYPE bmap [<!ENTITY size SYSTEM "file:///etc/passwd">]>"#,
                )
                .replace("<ImageSize> 16384 ", "<ImageSize> &size; "),
            "DOCTYPE",
            Some(2),
        ),
        (
            "undeclared entity",
            edited("<ImageSize> 16384 ", "<ImageSize> &size; "),
            "<ImageSize> holds '&size;', which is not a whole number",
            Some(4),
        ),
        (
            "gigantic blocks count",
            edited("<BlocksCount> 4 ", "<BlocksCount> 18446744073709551615 "),
            "BlocksCount is 18446744073709551615, but an image of 16384 bytes has 4 blocks",
            None,
        ),
        (
            "gigantic mapped count",
            edited(
                "<MappedBlocksCount> 3 ",
                "<MappedBlocksCount> 18446744073709551615 ",
            ),
            "MappedBlocksCount is 18446744073709551615, but the ranges add up to 3 blocks",
            None,
        ),
        (
            "no block size",
            edited("<BlockSize> 4096 </BlockSize>", ""),
            "<BlockSize> is missing",
            None,
        ),
        (
            "no blocks count",
            edited("<BlocksCount> 4 </BlocksCount>", ""),
            "<BlocksCount> is missing",
            None,
        ),
        (
            "no mapped count",
            edited("<MappedBlocksCount> 3 </MappedBlocksCount>", ""),
            "<MappedBlocksCount> is missing",
            None,
        ),
        (
            "no checksum type",
            edited("<ChecksumType> sha256 </ChecksumType>", ""),
            "<ChecksumType> is missing",
            None,
        ),
    ]
}

/// Nine levels of entities, each ten of the one before: a billion "lol"s if expanded.
fn laughs() -> String {
    let mut doctype = String::from("<!DOCTYPE bmap [<!ENTITY lol0 \"lol\">");
    for level in 1..=9 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        doctype.push_str(&format!("<!ENTITY lol{level} \"{refs}\">"));
    }
    doctype + "]>"
}
