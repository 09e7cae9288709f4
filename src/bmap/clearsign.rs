//! The text of a clearsigned bmap (OpenPGP cleartext signature framework, RFC 9580 §7).
//!
//! Extracting the text needs no key and no gpg, so `--no-sig-verify` works on clearsigned
//! bmaps (bmaptool pipes them through gpg even then, and fails without the key). The text is
//! exactly what `gpg --decrypt` prints: every dash-unescaped line followed by `\n`, which is
//! also what the bmap's own checksum was computed over.

const BEGIN_MESSAGE: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &[u8] = b"-----BEGIN PGP SIGNATURE-----";

/// Whether `bytes` is a clearsigned message (bmaptool's test: the file starts with the header).
pub fn is_clearsigned(bytes: &[u8]) -> bool {
    bytes.starts_with(BEGIN_MESSAGE)
}

/// The signed text of a clearsigned message, or `None` if `bytes` is not one (no blank line
/// after the armor headers, or no signature block after the text).
pub fn cleartext(bytes: &[u8]) -> Option<Vec<u8>> {
    if !is_clearsigned(bytes) {
        return None;
    }
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    lines.next();
    // Armor headers ("Hash: SHA256") end at the first empty line.
    lines.by_ref().find(|line| line.is_empty())?;
    let mut text = Vec::with_capacity(bytes.len());
    for line in lines {
        if line == BEGIN_SIGNATURE {
            return Some(text);
        }
        text.extend_from_slice(line.strip_prefix(b"- ").unwrap_or(line));
        text.push(b'\n');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_like_gpg() {
        // Checked against `gpg --decrypt` of a `gpg --clearsign`ed file.
        let signed = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nline\n- - dash\n\n\n\
            -----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            cleartext(signed).as_deref(),
            Some(&b"line\n- dash\n\n\n"[..])
        );
    }

    #[test]
    fn crlf_and_missing_parts() {
        let signed = b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nx\r\n\
            -----BEGIN PGP SIGNATURE-----\r\n";
        assert_eq!(cleartext(signed).as_deref(), Some(&b"x\n"[..]));
        assert_eq!(
            cleartext(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: x\n"),
            None
        );
        assert_eq!(
            cleartext(b"-----BEGIN PGP SIGNED MESSAGE-----\n\nno sig\n"),
            None
        );
        assert_eq!(cleartext(b"<?xml?>"), None);
    }
}
