//! A catalog entry's signature of its download (`asc_url`, as Armbian's lists carry and no
//! image writer checks): the download's bytes are handed, as they pass, to a thread that
//! checks the detached signature over them with the trusted keys, and the verdict comes when
//! the download ends, before the copy writes the image's held-back first MiB. A signature by a
//! key not trusted is said and the download is not held to it (as a distribution's signed
//! checksum file by an unknown key is); one that does not match, by a trusted key, fails the
//! download; a signature the catalog names that cannot be fetched or read refuses it up front.

use std::io::{self, Read, Write};
use std::thread::JoinHandle;

use super::FetchNote;
use crate::signature::{Keyring, SignatureCheck, verify_detached, verify_detached_reader};
use crate::source::SourceError;
use crate::source::http::{HttpClient, Url};

/// The largest signature file read.
const MAX_SIGNATURE: u64 = 64 << 10;

/// `raw`, the download of `name`, held to the signature at `url`.
pub(super) fn signed(
    raw: Box<dyn Read + Send>,
    name: &str,
    url: &Url,
    http: &HttpClient,
    note: &mut dyn FnMut(FetchNote),
) -> Result<Box<dyn Read + Send>, SourceError> {
    let refuse = |why: String| SourceError::Open {
        name: name.to_owned(),
        source: io::Error::other(format!(
            "its catalog gives a signature for it at '{url}', which {why}; nothing was written"
        )),
    };
    let signature = match http.fetch(url, MAX_SIGNATURE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(refuse("is not on its server (404)".into())),
        Err(e) => return Err(refuse(format!("cannot be fetched ({e})"))),
    };
    let keyring = Keyring::trusted();
    // Checked against no data first: a key no trust source holds shows as such without
    // reading the download.
    let probe = verify_detached(b"", &signature, url.as_str(), &keyring, None)
        .map_err(|e| refuse(format!("cannot be read ({e})")))?;
    if let Some(SignatureCheck::UnknownKey { issuer }) = probe.status.failure() {
        note(FetchNote::UntrustedSignature {
            url: url.clone(),
            issuer: issuer.clone(),
        });
        return Ok(raw);
    }
    note(FetchNote::CheckingSignature(url.clone()));
    let (reader, writer) = io::pipe().map_err(|e| refuse(format!("cannot be checked ({e})")))?;
    let location = url.to_string();
    let thread = std::thread::spawn(move || {
        let status = verify_detached_reader(reader, &signature, &location, &keyring, None)
            .map_err(|e| e.to_string())?;
        match status.valid() {
            Some(_) => Ok(()),
            None => Err(match status.failure() {
                Some(check) => super::sums::describe(check),
                None => "it holds no signature".to_owned(),
            }),
        }
    });
    Ok(Box::new(Signed {
        inner: raw,
        writer: Some(writer),
        verdict: Some(thread),
        name: name.to_owned(),
        url: url.clone(),
    }))
}

/// A download whose bytes also go to the signature's checker; its end is the verdict.
struct Signed {
    inner: Box<dyn Read + Send>,
    writer: Option<io::PipeWriter>,
    verdict: Option<JoinHandle<Result<(), String>>>,
    name: String,
    url: Url,
}

impl Read for Signed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            // A checker that stopped early has its verdict; it is heard at the end.
            if let Some(writer) = &mut self.writer
                && writer.write_all(&buf[..n]).is_err()
            {
                self.writer = None;
            }
            return Ok(n);
        }
        self.writer = None;
        let Some(verdict) = self.verdict.take() else {
            return Ok(0);
        };
        let failed = match verdict.join() {
            Ok(Ok(())) => return Ok(0),
            Ok(Err(why)) => why,
            Err(_) => "its check failed".to_owned(),
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "download '{}' does not match its signature '{}': {failed}; the download is \
                 damaged or was changed on the server",
                self.name, self.url
            ),
        ))
    }
}
