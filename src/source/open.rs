//! Opening an image: transport, then layer after layer of compression and archives recognised
//! by their magic bytes, down to the raw disk image.
//!
//! Random access is kept as long as possible: a local or Range-capable remote file is listed
//! with small reads (zip's central directory, tar's headers, xz's index) and a raw image in it
//! is read with seeks or Range requests for the mapped parts only. Once something must be
//! decompressed, the rest is a forward-only stream. One exception: a raw image directly in an
//! xz file of several blocks (as `xz -T0` makes) is streamed for the copy, through the
//! multi-threaded decoder, and also has random access by decoding single blocks
//! ([`XzBlocks`]), so that its filesystems can be scanned before the copy as a raw file's are.
//!
//! What random access can check of the end of a file without decoding it is checked here: a
//! zip, tar or xz file that stops early is refused as incomplete
//! ([`SourceError::Incomplete`]) before anything is written, not part-way through the write.
//! A stream is only known to stop early when its end is reached.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::detect::{DETECT_LEN, detect};
use super::http::{HttpClient, Remote};
use super::random::{LocalFile, RandomAccess, read_vec};
use super::xz_blocks::XzBlocks;
use super::{
    FileSource, Format, ImageSource, Input, RangedSource, SourceError, StreamSource, decode, ssh,
    stream, tar, xz_index, zip,
};
use crate::catalog::{FetchNote, ImageCache, open_image};

/// Layers unwrapped at most (`.tar.xz` is two; ten is a bomb).
const MAX_LAYERS: usize = 6;

/// One layer around the image: its format, and the member taken from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The format of this layer.
    pub format: Format,
    /// For an archive, the member that holds the image.
    pub member: Option<String>,
    /// For xz, the number of blocks (several allow multi-threaded decoding).
    pub xz_blocks: Option<u64>,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.format)?;
        if let Some(member) = &self.member {
            write!(f, " member '{member}'")?;
        }
        if let Some(blocks) = self.xz_blocks {
            let plural = if blocks == 1 { "" } else { "s" };
            write!(f, " ({blocks} block{plural})")?;
        }
        Ok(())
    }
}

/// An opened image, with what was unwrapped to reach it (outermost first).
pub struct Opened {
    /// The image bytes.
    pub source: Box<dyn ImageSource>,
    /// The layers around them; empty for a raw image.
    pub layers: Vec<Layer>,
    /// The raw image with random access, when it has it (a local file, a remote one whose
    /// server honours Range requests, an uncompressed tar member or a stored zip member of
    /// either, or the image in an xz file of several blocks, read by decoding the blocks that
    /// hold what is asked for): its filesystems can then be scanned before the copy, reading
    /// their metadata only. The copy still reads `source`, which for a zip member checks its
    /// CRC. For xz it keeps up to two decoded blocks (64 MiB at most) until it is dropped,
    /// which is best done once the scan is.
    pub store: Option<Arc<dyn RandomAccess>>,
}

/// Opens images and fetches small files (bmaps, signatures) from every kind of [`Input`],
/// sharing one HTTP client.
#[derive(Default)]
pub struct Opener {
    http: OnceLock<HttpClient>,
    timeout: Option<Duration>,
    notes: Option<Notes>,
    cache: Option<ImageCache>,
}

/// Who hears what happens to a catalog image's download.
type Notes = Arc<dyn Fn(FetchNote) + Send + Sync>;

/// Bytes as the transport gives them.
enum Bytes {
    Random(Arc<dyn RandomAccess>),
    Stream {
        reader: Box<dyn Read + Send>,
        size: Option<u64>,
    },
}

impl Opener {
    /// An opener; the HTTP client is made on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// An opener whose HTTP client waits `timeout` for a silent server (see
    /// [`HttpClient::with_read_timeout`]) instead of 60 s.
    #[must_use]
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            http: OnceLock::new(),
            timeout: Some(timeout),
            notes: None,
            cache: None,
        }
    }

    /// This opener, keeping catalog images' downloads in `cache` instead of the user's cache
    /// with the default quota ([`ImageCache::user`]).
    #[must_use]
    pub fn with_image_cache(self, cache: ImageCache) -> Self {
        Self {
            cache: Some(cache),
            ..self
        }
    }

    /// This opener, telling `notes` what happens to the download of a catalog image (kept in
    /// the cache, resumed, not kept).
    #[must_use]
    pub fn with_notes(self, notes: impl Fn(FetchNote) + Send + Sync + 'static) -> Self {
        Self {
            notes: Some(Arc::new(notes)),
            ..self
        }
    }

    /// Where catalog images' downloads are kept: the one given, or the user's.
    pub fn image_cache(&self) -> Option<ImageCache> {
        self.cache.clone().or_else(ImageCache::user)
    }

    fn http(&self) -> Result<&HttpClient, SourceError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let mut client = HttpClient::new()?;
        if let Some(timeout) = self.timeout {
            client = client.with_read_timeout(timeout)?;
        }
        Ok(self.http.get_or_init(|| client))
    }

    /// Opens the image at `input`.
    pub fn open(&self, input: &Input) -> Result<Opened, SourceError> {
        let name = input.to_string();
        let open_error = |source| SourceError::Open {
            name: name.clone(),
            source,
        };
        let bytes = match input {
            Input::Path(path) => {
                Bytes::Random(Arc::new(LocalFile::open(path).map_err(open_error)?))
            }
            Input::Stdin => Bytes::Stream {
                reader: Box::new(std::io::stdin()),
                size: None,
            },
            Input::Url(url) => match self.http()?.open(url)? {
                Remote::Random(store) => Bytes::Random(store),
                Remote::Stream { reader, size } => Bytes::Stream { reader, size },
            },
            Input::Ssh(location) => {
                let (reader, size) = ssh::open(location)?;
                Bytes::Stream { reader, size }
            }
            Input::Catalog(chosen) => {
                let cache = self.image_cache();
                let notes = self.notes.clone();
                return open_image(&chosen.image, self.http()?, cache.as_ref(), &mut |note| {
                    if let Some(notes) = &notes {
                        notes(note);
                    }
                });
            }
        };
        unwrap_layers(&name, bytes, input.as_path())
    }

    /// [`fetch`](Self::fetch) for a file that discovery looks for next to `named` (the image
    /// or bmap the caller named). Over HTTP, `~/.netrc`'s catch-all `default` entry goes with
    /// it only when it is on `named`'s own server (see [`HttpClient::fetch_next_to`]).
    pub fn fetch_next_to(
        &self,
        candidate: &Input,
        named: &Input,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        match candidate {
            Input::Url(url) => {
                let named = match named {
                    Input::Url(named) => Some(named),
                    Input::Catalog(chosen) => Some(&chosen.image.url),
                    _ => None,
                };
                Ok(self.http()?.fetch_discovered(url, named, limit)?)
            }
            _ => self.fetch(candidate, limit),
        }
    }

    /// Reads a small file (a bmap or a signature), at most `limit` bytes; `Ok(None)` when it
    /// does not exist, which discovery treats as a quiet miss.
    pub fn fetch(&self, input: &Input, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        match input {
            Input::Path(path) => {
                if !path.is_file() {
                    return Ok(None);
                }
                let file = std::fs::File::open(path).map_err(|source| SourceError::Open {
                    name: input.to_string(),
                    source,
                })?;
                let mut data = Vec::new();
                file.take(limit + 1)
                    .read_to_end(&mut data)
                    .map_err(|source| SourceError::Open {
                        name: input.to_string(),
                        source,
                    })?;
                Ok(Some(data))
            }
            Input::Stdin => Ok(None),
            Input::Url(url) => Ok(self.http()?.fetch(url, limit)?),
            Input::Ssh(location) => ssh::fetch(location, limit),
            Input::Catalog(chosen) => Ok(self.http()?.fetch(&chosen.image.url, limit)?),
        }
    }
}

/// Opens an image held by a random-access store (a file, a remote resource, bytes in memory):
/// every layer of compression and archive is recognised and unwrapped.
pub fn open_store(store: Arc<dyn RandomAccess>) -> Result<Opened, SourceError> {
    let name = store.name().to_owned();
    unwrap_layers(&name, Bytes::Random(store), None)
}

/// Opens an image that can only be read forward (a pipe, a socket).
pub fn open_stream(reader: Box<dyn Read + Send>, name: &str) -> Result<Opened, SourceError> {
    unwrap_layers(name, Bytes::Stream { reader, size: None }, None)
}

/// Peels layers off `bytes` until the raw image. `local` is the file the bytes come from, when
/// they are a local file: a raw one is then read with seeks and the kernel's read-ahead.
fn unwrap_layers(
    name: &str,
    mut bytes: Bytes,
    local: Option<&Path>,
) -> Result<Opened, SourceError> {
    let mut layers: Vec<Layer> = Vec::new();
    let open_error = |source| SourceError::Open {
        name: name.to_owned(),
        source,
    };
    // Random access to the bytes of the last layer, when it was an xz file of several blocks
    // or a stored zip member: kept if they are the raw image.
    let mut view: Option<Arc<dyn RandomAccess>> = None;
    for _ in 0..MAX_LAYERS {
        let unpacked = view.take();
        bytes = match bytes {
            Bytes::Random(store) => {
                let head_len = usize::try_from(store.len())
                    .unwrap_or(DETECT_LEN)
                    .min(DETECT_LEN);
                let head = read_vec(&*store, 0, head_len).map_err(open_error)?;
                let format = detect(&head);
                match format {
                    Format::Raw => {
                        let source: Box<dyn ImageSource> = match local {
                            Some(path) if layers.is_empty() => {
                                Box::new(FileSource::open(path).map_err(open_error)?)
                            }
                            _ => Box::new(RangedSource::new(Arc::clone(&store))),
                        };
                        return Ok(Opened {
                            source,
                            layers,
                            store: Some(store),
                        });
                    }
                    Format::Zip => {
                        let (member, stored) = zip::open_random(&store)?;
                        view = stored.map(|slice| Arc::new(slice) as Arc<dyn RandomAccess>);
                        layers.push(layer(format, Some(member.name)));
                        Bytes::Stream {
                            reader: member.reader,
                            size: member.size,
                        }
                    }
                    Format::Tar => {
                        let (member, slice) = tar::open_random(&store)?;
                        layers.push(layer(format, Some(member)));
                        Bytes::Random(Arc::new(slice))
                    }
                    Format::Xz => {
                        // A file whose end is not a whole xz file's is refused here,
                        // before anything is written, not part-way through the write.
                        let index = xz_index::read(&*store, true)?;
                        let info = index.as_ref().map(|i| i.info);
                        let whole = store.stream(0, store.len()).map_err(open_error)?;
                        layers.push(Layer {
                            xz_blocks: info.map(|i| i.blocks),
                            ..layer(format, None)
                        });
                        // One block is all decoded to read any byte of it: no random access.
                        view = index
                            .and_then(|i| i.blocks)
                            .filter(|table| table.len() >= 2)
                            .map(|table| {
                                Arc::new(XzBlocks::new(Arc::clone(&store), table))
                                    as Arc<dyn RandomAccess>
                            });
                        Bytes::Stream {
                            reader: decode::decoder(format, whole, name)?,
                            size: info.map(|i| i.size),
                        }
                    }
                    _ => {
                        let whole = store.stream(0, store.len()).map_err(open_error)?;
                        layers.push(layer(format, None));
                        Bytes::Stream {
                            reader: decode::decoder(format, whole, name)?,
                            size: None,
                        }
                    }
                }
            }
            Bytes::Stream { reader, size } => {
                let (head, reader) = stream::peek(reader, DETECT_LEN).map_err(open_error)?;
                let format = detect(&head);
                match format {
                    Format::Raw => {
                        let source = StreamSource::new(reader, name.to_owned(), size);
                        return Ok(Opened {
                            source: Box::new(source),
                            layers,
                            store: unpacked,
                        });
                    }
                    Format::Zip | Format::Tar => {
                        let member = if format == Format::Zip {
                            zip::open_stream(reader, name)?
                        } else {
                            tar::open_stream(reader, name)?
                        };
                        layers.push(layer(format, Some(member.name)));
                        Bytes::Stream {
                            reader: member.reader,
                            size: member.size,
                        }
                    }
                    _ => {
                        layers.push(layer(format, None));
                        Bytes::Stream {
                            reader: decode::decoder(format, reader, name)?,
                            size: None,
                        }
                    }
                }
            }
        };
    }
    Err(SourceError::TooDeep {
        name: name.to_owned(),
        depth: MAX_LAYERS,
    })
}

fn layer(format: Format, member: Option<String>) -> Layer {
    Layer {
        format,
        member,
        xz_blocks: None,
    }
}
