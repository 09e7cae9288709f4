//! A tiny HTTP/1.1 server for what nginx will not do on purpose: break off (or stall) a
//! response after a number of bytes, answer 503 for a while, ignore Range, or stand in as a
//! proxy. One request per connection
//! (`Connection: close`), one thread per connection, every request recorded.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use blockprint::source::http::Url;

/// Whether Range headers are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranges {
    /// Always (with `If-Range` against the ETag).
    Honour,
    /// Never: every answer is a 200 with the whole file.
    Ignore,
    /// Not on the first request, then always.
    IgnoreFirst,
}

/// What the server does.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub data: Vec<u8>,
    pub ranges: Ranges,
    /// Whether answers say `Accept-Ranges: bytes`.
    pub accept_ranges: bool,
    /// The responses (counted from 0, in arrival order) that break off...
    pub cut: Range<usize>,
    /// ...after this many body bytes.
    pub cut_after: usize,
    /// Whether a response that breaks off then stalls (the connection stays open, silent, for
    /// a minute) instead of closing.
    pub stall: bool,
    /// The responses (counted as `cut` is) answered `503 Service Unavailable`, as a server
    /// that is down for a while.
    pub unavailable: Range<usize>,
    /// The one path served, when set: any other is a 404, not counted among the responses.
    pub only: Option<&'static str>,
}

impl Behaviour {
    /// Serves `data` properly.
    pub fn serving(data: Vec<u8>) -> Self {
        Self {
            data,
            ranges: Ranges::Honour,
            accept_ranges: true,
            cut: 0..0,
            cut_after: 0,
            stall: false,
            unavailable: 0..0,
            only: None,
        }
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub line: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub const ETAG: &str = "\"tiny-1\"";

/// The server; it stops on drop.
pub struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let behaviour = Arc::new(behaviour);
        let counter = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (behaviour, requests, counter) = (
                        Arc::clone(&behaviour),
                        Arc::clone(&requests),
                        Arc::clone(&counter),
                    );
                    thread::spawn(move || serve(stream, &behaviour, &requests, &counter));
                }
            })
        };
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/{path}", self.port)).expect("url")
    }

    /// This server as a proxy URL.
    pub fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    behaviour: &Behaviour,
    requests: &Mutex<Vec<Request>>,
    counter: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let request = Request {
        line: line.trim_end().to_owned(),
        headers,
    };
    requests.lock().expect("lock").push(request.clone());
    let mut out = stream;
    if request.line.starts_with("CONNECT ") {
        // As a proxy: no tunnels.
        let _ = out
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let path = request.line.split(' ').nth(1).unwrap_or("");
    if behaviour.only.is_some_and(|only| only != path) {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let index = counter.fetch_add(1, Ordering::SeqCst);
    if behaviour.unavailable.contains(&index) {
        let _ = out.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let data = &behaviour.data;
    let len = data.len();
    let honour = match behaviour.ranges {
        Ranges::Honour => true,
        Ranges::Ignore => false,
        Ranges::IgnoreFirst => index > 0,
    };
    let validator_ok = request.header("If-Range").is_none_or(|v| v == ETAG);
    let range = request
        .header("Range")
        .filter(|_| honour && validator_ok)
        .and_then(|r| parse_range(r, len));
    let (status, body, content_range) = match range {
        Some((first, last)) => (
            "206 Partial Content",
            &data[first..=last],
            format!("Content-Range: bytes {first}-{last}/{len}\r\n"),
        ),
        None => ("200 OK", &data[..], String::new()),
    };
    let accept = if behaviour.accept_ranges {
        "Accept-Ranges: bytes\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nETag: {ETAG}\r\n{accept}{content_range}Connection: close\r\n\r\n",
        body.len()
    );
    let cut = behaviour.cut.contains(&index);
    let body = if cut {
        &body[..behaviour.cut_after.min(body.len())]
    } else {
        body
    };
    let _ = out
        .write_all(head.as_bytes())
        .and_then(|()| out.write_all(body));
    let _ = out.flush();
    if cut && behaviour.stall {
        thread::sleep(std::time::Duration::from_secs(60));
    }
    let _ = out.shutdown(Shutdown::Both);
}

/// `bytes=A-B` or `bytes=A-`, clamped to the data.
fn parse_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let first: usize = first.parse().ok()?;
    let last = if last.is_empty() {
        len.checked_sub(1)?
    } else {
        last.parse::<usize>().ok()?.min(len.checked_sub(1)?)
    };
    (first <= last).then_some((first, last))
}
