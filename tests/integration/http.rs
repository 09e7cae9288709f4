//! The HTTP transport against real servers: Debian's nginx for what servers normally do, and
//! a tiny server of our own for faults (dropped connections, Range ignored, a proxy).
//! Tests that depend on environment variables (`NETRC`, `HOME`, proxies) are in
//! [`environment`].

pub(crate) mod environment;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use blockprint::source::http::{HttpClient, HttpError, Remote, Url};
use blockprint::source::{ImageSource, RandomAccess, RangedSource};

use crate::harness::http_server::{Behaviour, ETAG, Ranges, Server};
use crate::harness::nginx::{Nginx, PASSWORD, USER, free_port};
use crate::harness::support::random_bytes;

/// A client whose resumes wait milliseconds rather than seconds.
fn client() -> HttpClient {
    HttpClient::new()
        .expect("http client")
        .with_retries(3, Duration::from_millis(10))
}

fn open_random(url: &Url) -> Arc<dyn RandomAccess> {
    match client().open(url).expect("open") {
        Remote::Random(store) => store,
        other => panic!("expected random access, got {other:?}"),
    }
}

fn read_all(mut reader: impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    reader.read_to_end(&mut all).expect("read");
    all
}

fn with_credentials(mut url: Url, user: &str, password: &str) -> Url {
    url.set_username(user).expect("user");
    url.set_password(Some(password)).expect("password");
    url
}

#[test]
fn a_server_honouring_range_gives_random_access() {
    let nginx = Nginx::start();
    let data = random_bytes(1, (1 << 20) + 123);
    let url = nginx.put("disk.img", &data);
    let store = open_random(&url);
    assert_eq!(store.len(), data.len() as u64);
    assert_eq!(store.name(), url.as_str());

    let mut head = [0; 100];
    store.read_exact_at(7, &mut head).expect("head");
    assert_eq!(head, data[7..107]);
    let mut middle = vec![0; 5000];
    store.read_exact_at(700_000, &mut middle).expect("middle");
    assert_eq!(middle, data[700_000..705_000]);
    assert_eq!(read_all(store.stream(0, u64::MAX).expect("stream")), data);
    assert_eq!(
        read_all(store.stream(1000, 10).expect("stream")),
        data[1000..1010]
    );

    // The probe, then one request per read; reads inside the first 512 bytes come from the
    // probe.
    let ranges: Vec<Option<String>> = nginx.log().into_iter().map(|l| l.range).collect();
    assert_eq!(
        ranges,
        [
            Some("bytes=0-511".to_owned()),
            Some("bytes=700000-704999".to_owned()),
            Some(format!("bytes=0-{}", data.len() - 1)),
            Some("bytes=1000-1009".to_owned()),
        ]
    );
}

#[test]
fn redirects_are_followed() {
    let nginx = Nginx::start();
    let data = random_bytes(12, 10_000);
    nginx.put("disk.img", &data);
    let store = open_random(&nginx.url("moved/disk.img"));
    assert_eq!(store.len(), 10_000);
    assert_eq!(read_all(store.stream(0, 10_000).expect("stream")), data);
    let statuses: Vec<u16> = nginx.log().into_iter().map(|l| l.status).collect();
    assert_eq!(statuses, [302, 206, 302, 206]);
}

#[test]
fn ranged_source_fetches_little_more_than_the_mapped_bytes() {
    let nginx = Nginx::start();
    let data = random_bytes(2, 8 << 20);
    let url = nginx.put("sparse.img", &data);
    // A filesystem-like layout: data runs of 4 KiB to 256 KiB, holes of 4 KiB to 1.5 MiB.
    let mut spans = Vec::new();
    let mut at = 0u64;
    for i in 0..64u64 {
        let run = 4096 << (i % 7);
        let hole = if i % 3 == 0 {
            4096 * (1 + i % 5)
        } else {
            (256 << 10) * (1 + i % 6)
        };
        if at + run > data.len() as u64 {
            break;
        }
        spans.push((at, at + run));
        at += run + hole;
    }
    let mapped: u64 = spans.iter().map(|&(s, e)| e - s).sum();

    let mut source = RangedSource::new(open_random(&url));
    source.plan(&spans);
    let windows = source.windows().len();
    assert!(
        windows < spans.len(),
        "{windows} windows for {} spans",
        spans.len()
    );
    for &(start, end) in &spans {
        source.skip_to(start).expect("skip");
        let mut buf = vec![0; (end - start) as usize];
        source.read_exact(&mut buf).expect("read");
        assert!(
            buf == data[start as usize..end as usize],
            "bytes {start}..{end} differ"
        );
    }

    let log = nginx.log();
    let fetched: u64 = log.iter().map(|l| l.bytes).sum();
    assert_eq!(
        log.len(),
        windows + 1,
        "the probe and one request per window: {log:#?}"
    );
    assert!(log.iter().all(|l| l.status == 206), "{log:#?}");
    assert!(
        fetched * 100 <= mapped * 115,
        "fetched {fetched} bytes for {mapped} mapped bytes"
    );
}

#[test]
fn a_missing_file_is_a_quiet_none_for_fetch_and_an_error_for_open() {
    let nginx = Nginx::start();
    let url = nginx.url("nothing.img.bmap");
    assert_eq!(client().fetch(&url, 1 << 20).expect("fetch"), None);
    let err = client().open(&url).expect_err("missing");
    assert!(
        matches!(err, HttpError::NotFound { status: 404, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(url.as_str()) && text.contains("not found"),
        "{text}"
    );
}

#[test]
fn fetch_gets_a_small_file_and_refuses_a_large_one() {
    let nginx = Nginx::start();
    let url = nginx.put("disk.img.bmap", b"<bmap version=\"2.0\"/>\n");
    let got = client().fetch(&url, 1 << 20).expect("fetch");
    assert_eq!(got.as_deref(), Some(&b"<bmap version=\"2.0\"/>\n"[..]));
    let err = client().fetch(&url, 10).expect_err("too large");
    assert!(
        matches!(err, HttpError::TooLarge { limit: 10, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(url.as_str()), "{err}");
}

#[test]
fn credentials_in_the_url_are_sent_as_basic_auth() {
    let nginx = Nginx::start();
    let data = random_bytes(3, 3000);
    let url = nginx.put("private/disk.img", &data);

    let store = open_random(&with_credentials(url.clone(), USER, PASSWORD));
    assert_eq!(read_all(store.stream(0, 3000).expect("stream")), data);
    assert!(!store.name().contains(USER), "{}", store.name());

    let anonymous = client().open(&url).expect_err("no credentials");
    assert!(
        matches!(anonymous, HttpError::Denied { status: 401, .. }),
        "{anonymous:?}"
    );
    let text = anonymous.to_string();
    assert!(
        text.contains("credentials") && text.contains("~/.netrc"),
        "{text}"
    );

    let wrong = with_credentials(url.clone(), USER, "guess");
    let text = client()
        .open(&wrong)
        .expect_err("wrong password")
        .to_string();
    assert!(
        text.contains("refused") && text.contains(url.as_str()),
        "{text}"
    );
    assert!(!text.contains("guess") && !text.contains(USER), "{text}");
}

#[test]
fn a_dropped_connection_is_resumed() {
    let data = random_bytes(5, 300_000);
    let server = Server::start(Behaviour {
        // The probe is response 0; the next two break off.
        cut: 1..3,
        cut_after: 40_000,
        ..Behaviour::serving(data.clone())
    });
    let store = open_random(&server.url("disk.img"));
    assert_eq!(
        read_all(store.stream(1000, 299_000).expect("stream")),
        data[1000..]
    );
    let requests = server.requests();
    let ranges: Vec<&str> = requests.iter().filter_map(|r| r.header("Range")).collect();
    assert_eq!(
        ranges,
        [
            "bytes=0-511",
            "bytes=1000-299999",
            "bytes=41000-299999",
            "bytes=81000-299999"
        ]
    );
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("If-Range") == Some(ETAG)),
        "{requests:?}"
    );
}

#[test]
fn resuming_gives_up_with_a_clear_error() {
    // Every response after the probe breaks off before its first byte: no progress, ever.
    let server = Server::start(Behaviour {
        cut: 1..usize::MAX,
        cut_after: 0,
        ..Behaviour::serving(random_bytes(6, 100_000))
    });
    let url = server.url("flaky.img");
    let store = open_random(&url);
    let mut reader = store.stream(5000, 10_000).expect("stream");
    let err = reader.read(&mut [0; 100]).expect_err("gives up");
    let text = err.to_string();
    assert!(
        text.contains(url.as_str()) && text.contains("offset 5000"),
        "{text}"
    );
    assert!(text.contains("3 attempts"), "{text}");
    // The probe, the request, three attempts to resume.
    assert_eq!(server.requests().len(), 5);
}

/// After the probe, every answer sends its headers and then nothing, holding the connection
/// open: only the read timeout can notice.
fn stalled_server() -> Server {
    Server::start(Behaviour {
        cut: 1..usize::MAX,
        cut_after: 0,
        stall: true,
        ..Behaviour::serving(random_bytes(6, 100_000))
    })
}

#[test]
fn a_stalled_server_is_given_up_on_after_bounded_retries() {
    let server = stalled_server();
    let url = server.url("stalled.img");
    let impatient = client()
        .with_read_timeout(Duration::from_millis(500))
        .expect("client");
    let Remote::Random(store) = impatient.open(&url).expect("open") else {
        panic!("expected random access");
    };
    let started = std::time::Instant::now();
    let mut reader = store.stream(5000, 10_000).expect("stream");
    let err = reader.read(&mut [0; 100]).expect_err("gives up");
    let text = err.to_string();
    assert!(
        text.contains(url.as_str()) && text.contains("offset 5000"),
        "{text}"
    );
    assert!(text.contains("3 attempts"), "{text}");
    assert_eq!(
        server.requests().len(),
        5,
        "the probe, the request, three resumes"
    );
    // Four stalls of 0.5 s and the pauses between them; a hang would take minutes.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_cli_gives_a_stalled_server_up_after_its_timeout() {
    let server = stalled_server();
    let url = server.url("stalled.img");
    let dir = crate::harness::support::scratch();
    let dest = dir.path().join("out.img");
    let started = std::time::Instant::now();
    let run = crate::harness::support::blockprint([
        "copy",
        "--timeout",
        "1",
        "--nobmap",
        url.as_str(),
        dest.to_str().unwrap(),
    ]);
    run.fails_with(&[
        url.as_str(),
        "was interrupted at offset 0 and 5 attempts to resume it failed (no data in time)",
    ]);
    // Six silences of 1 s and the pauses between them; the default would take minutes.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    assert!(!dest.exists(), "a destination was left");
}

#[test]
fn a_server_ignoring_range_gives_a_stream() {
    let data = random_bytes(7, 200_000);
    let server = Server::start(Behaviour {
        ranges: Ranges::Ignore,
        accept_ranges: false,
        ..Behaviour::serving(data.clone())
    });
    match client().open(&server.url("whole.img")).expect("open") {
        Remote::Stream { reader, size } => {
            assert_eq!(size, Some(data.len() as u64));
            assert_eq!(read_all(reader), data);
        }
        other => panic!("expected a stream, got {other:?}"),
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "the probe's answer is the stream");
    let agent = concat!("blockprint/", env!("CARGO_PKG_VERSION"));
    assert_eq!(requests[0].header("User-Agent"), Some(agent));
}

#[test]
fn a_stream_without_accept_ranges_cannot_resume() {
    let server = Server::start(Behaviour {
        ranges: Ranges::Ignore,
        accept_ranges: false,
        cut: 0..1,
        cut_after: 50_000,
        ..Behaviour::serving(random_bytes(8, 200_000))
    });
    let url = server.url("whole.img");
    let Remote::Stream { mut reader, .. } = client().open(&url).expect("open") else {
        panic!("expected a stream");
    };
    let mut buf = Vec::new();
    let text = reader
        .read_to_end(&mut buf)
        .expect_err("broken")
        .to_string();
    assert_eq!(buf.len(), 50_000);
    assert!(
        text.contains(url.as_str()) && text.contains("offset 50000"),
        "{text}"
    );
    assert!(text.contains("cannot resume"), "{text}");
}

#[test]
fn a_stream_with_accept_ranges_resumes() {
    let data = random_bytes(9, 200_000);
    let server = Server::start(Behaviour {
        ranges: Ranges::IgnoreFirst,
        cut: 0..1,
        cut_after: 50_000,
        ..Behaviour::serving(data.clone())
    });
    let Remote::Stream { reader, .. } = client().open(&server.url("whole.img")).expect("open")
    else {
        panic!("expected a stream");
    };
    assert_eq!(read_all(reader), data);
    let requests = server.requests();
    assert_eq!(requests[1].header("Range"), Some("bytes=50000-199999"));
    assert_eq!(requests[1].header("If-Range"), Some(ETAG));
}

#[test]
fn a_file_changed_on_the_server_is_detected() {
    let nginx = Nginx::start();
    let url = nginx.put("moving.img", &random_bytes(10, 100_000));
    let store = open_random(&url);
    // A new version of the same size: only its time (so its ETag) tells it apart.
    let path = nginx.root().join("moving.img");
    std::fs::write(&path, random_bytes(11, 100_000)).expect("rewrite");
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(old))
        .expect("mtime");
    let mut buf = vec![0; 1000];
    let err = store.read_exact_at(50_000, &mut buf).expect_err("changed");
    let text = err.to_string();
    assert!(
        text.contains("changed while it was being read") && text.contains(url.as_str()),
        "{text}"
    );
    let last = nginx.log().pop().expect("logged");
    assert_eq!(
        last.status, 200,
        "If-Range made nginx send the new file: {last:?}"
    );
}

#[test]
fn an_untrusted_certificate_is_a_tls_error() {
    let nginx = Nginx::start_tls();
    let url = nginx.put("secure.img", b"data");
    let err = client().open(&url).expect_err("self-signed");
    assert!(
        matches!(
            err,
            HttpError::Tls {
                certificate: true,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("certificate") && text.contains(url.as_str()),
        "{text}"
    );
}

#[test]
fn a_refused_connection_names_the_host() {
    let url = Url::parse(&format!("http://127.0.0.1:{}/a.img", free_port())).expect("url");
    let err = client().open(&url).expect_err("nobody listens");
    let text = err.to_string();
    assert!(
        matches!(err, HttpError::Connect { proxy: None, .. }),
        "{err:?}"
    );
    assert!(
        text.contains("cannot connect to 127.0.0.1") && !text.contains("proxy"),
        "{text}"
    );
}
