//! A real web server for the HTTP tests: Debian's nginx, run as a child process with its own
//! configuration, logs and document root in a scratch directory, on a free loopback port.
//!
//! Its access log records `$status $body_bytes_sent [$http_range] $request`, so a test can
//! see which ranges were asked for and add up the bytes sent. `/private/` needs basic auth as
//! [`USER`] / [`PASSWORD`], `/moved/NAME` redirects (302) to `/NAME`, and `/redirect/…?to=URL`
//! redirects (302) to `URL`, anywhere.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blockprint::source::http::Url;

use crate::harness::support::{require_tool, scratch, sh};

/// The user `/private/` accepts.
pub const USER: &str = "alice";
/// Their password.
pub const PASSWORD: &str = "wonder land";

/// A running nginx, killed on drop.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    scheme: &'static str,
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub status: u16,
    pub bytes: u64,
    /// The Range header, if the request had one.
    pub range: Option<String>,
    /// The request line.
    pub request: String,
}

impl Nginx {
    /// nginx over plain HTTP.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// nginx over HTTPS with a certificate for 127.0.0.1 from a freshly made authority, which
    /// no client trusts unless told to ([`Nginx::ca_file`]).
    pub fn start_tls() -> Self {
        Self::launch(true)
    }

    /// The authority that signed the HTTPS certificate, for `SSL_CERT_FILE`: a client given
    /// it trusts this server (and no other).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn launch(tls: bool) -> Self {
        let nginx = nginx_binary();
        let dir = scratch();
        let root = &dir.path().to_path_buf();
        for sub in ["www/private", "tmp"] {
            fs::create_dir_all(root.join(sub)).expect("nginx dirs");
        }
        fs::write(
            root.join("htpasswd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}\n"),
        )
        .expect("htpasswd");
        if tls {
            make_certificate(root);
        }
        // The port is free when picked but could be taken before nginx binds it: try again.
        for _ in 0..5 {
            let port = free_port();
            fs::write(root.join("nginx.conf"), config(root, port, tls)).expect("nginx.conf");
            let _ = fs::remove_file(root.join("error.log"));
            let mut child = Command::new(&nginx)
                .arg("-p")
                .arg(root)
                .arg("-c")
                .arg(root.join("nginx.conf"))
                .arg("-e")
                .arg(root.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx");
            match wait_ready(&mut child, root, port) {
                Ok(()) => {
                    return Nginx {
                        child,
                        dir,
                        port,
                        scheme: if tls { "https" } else { "http" },
                    };
                }
                Err(log) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    assert!(
                        log.contains("Address already in use"),
                        "nginx did not start:\n{log}"
                    );
                }
            }
        }
        panic!("nginx found no free port in 5 tries");
    }

    /// The document root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    /// Serves `data` as `name` (a path under the root, such as `private/a.img`).
    pub fn put(&self, name: &str, data: &[u8]) -> Url {
        fs::write(self.root().join(name), data).expect("write into the docroot");
        self.url(name)
    }

    /// The URL of `name`.
    pub fn url(&self, name: &str) -> Url {
        Url::parse(&format!("{}://127.0.0.1:{}/{name}", self.scheme, self.port)).expect("url")
    }

    /// The access log so far. nginx logs a request as it finishes, which can be a moment after
    /// the client has its bytes, so this waits until the log stops growing.
    pub fn log(&self) -> Vec<Logged> {
        let path = self.dir.path().join("access.log");
        let mut last = String::new();
        let mut stable_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let now = fs::read_to_string(&path).unwrap_or_default();
            if now != last {
                last = now;
                stable_since = Instant::now();
            } else if stable_since.elapsed() > Duration::from_millis(150)
                || Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        last.lines().map(parse_line).collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the port accepts connections; the error log if nginx exits instead.
fn wait_ready(child: &mut Child, root: &Path, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(fs::read_to_string(root.join("error.log")).unwrap_or_default());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("nginx did not listen within 10 s".to_owned())
}

fn parse_line(line: &str) -> Logged {
    let bad = || -> ! { panic!("unexpected access log line: {line}") };
    let (status, rest) = line.split_once(' ').unwrap_or_else(|| bad());
    let (bytes, rest) = rest.split_once(" [").unwrap_or_else(|| bad());
    let (range, request) = rest.split_once("] ").unwrap_or_else(|| bad());
    Logged {
        status: status.parse().unwrap_or_else(|_| bad()),
        bytes: bytes.parse().unwrap_or_else(|_| bad()),
        range: (range != "-").then(|| range.to_owned()),
        request: request.to_owned(),
    }
}

/// Debian's nginx (`nginx-light` or `nginx`), which `build-aux/install-deps` installs.
fn nginx_binary() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nginx");
    if sbin.is_file() {
        return sbin.to_path_buf();
    }
    require_tool("nginx");
    PathBuf::from("nginx")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// One worker, no master (so killing the child stops the server), everything under `root`.
fn config(root: &Path, port: u16, tls: bool) -> String {
    let root = root.display();
    let (listen, certificate) = if tls {
        (
            " ssl",
            format!(
                "ssl_certificate {root}/cert.pem;\n        ssl_certificate_key {root}/key.pem;"
            ),
        )
    } else {
        ("", String::new())
    };
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    default_type application/octet-stream;
    log_format ranges '$status $body_bytes_sent [$http_range] $request';
    access_log {root}/access.log ranges;
    server {{
        listen 127.0.0.1:{port}{listen};
        {certificate}
        root {root}/www;
        location /moved/ {{
            rewrite ^/moved/(.*)$ /$1 redirect;
        }}
        location /redirect/ {{
            return 302 $arg_to;
        }}
        # The same files at a card's pace, so a test can watch a write in progress.
        location /slow/ {{
            alias {root}/www/;
            limit_rate 1m;
        }}
        location /private/ {{
            auth_basic "blockprint tests";
            auth_basic_user_file {root}/htpasswd;
        }}
    }}
}}
"#
    )
}

/// A certificate authority (`ca.pem`) and, signed by it, a server certificate for 127.0.0.1
/// (`cert.pem`, `key.pem`), made by the openssl tool.
fn make_certificate(dir: &Path) {
    require_tool("openssl");
    let path = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut authority = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=blockprint test CA",
    ];
    authority.extend(ec);
    let (ca_key, ca) = (path("ca.key"), path("ca.pem"));
    authority.extend(["-keyout", &ca_key, "-out", &ca]);
    sh("openssl", &authority);
    let (key, request) = (path("key.pem"), path("cert.csr"));
    let mut server = vec!["req", "-subj", "/CN=127.0.0.1"];
    server.extend(ec);
    server.extend(["-keyout", &key, "-out", &request]);
    sh("openssl", &server);
    let extensions = path("cert.ext");
    fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("cert.ext");
    let cert = path("cert.pem");
    sh(
        "openssl",
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-set_serial",
            "1",
            "-in",
            &request,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-extfile",
            &extensions,
            "-out",
            &cert,
        ],
    );
}
