//! The HTTP client where it depends on environment variables: `NETRC`, `HOME` and the proxy
//! variables.
//!
//! Changing the environment of a process whose other threads run tests races with them (and
//! is `unsafe` for that reason), so each check runs in a child process of this test binary,
//! started with the variables it needs: the parent test sets up the servers and files, runs
//! the matching `*_child_*` test alone in the child, and asserts that it passed. Run directly,
//! the `*_child_*` tests do nothing.

use std::process::Command;

use blockprint::source::http::Url;

use super::client;
use crate::harness::http_server::{Behaviour, Server};
use crate::harness::nginx::{Nginx, PASSWORD, USER};
use crate::harness::support::{random_bytes, scratch};

#[test]
fn netrc_named_by_the_netrc_variable_gives_credentials() {
    let nginx = Nginx::start_tls();
    let data = random_bytes(4, 2000);
    let url = nginx.put("private/netrc.img", &data);
    let dir = scratch();
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        format!(
            "machine example.org login x password y\n\
             machine 127.0.0.1\n  login {USER}\n  password \"{PASSWORD}\"\n"
        ),
    )
    .expect("netrc");
    in_child(
        "http::environment::netrc_child_reads_a_private_file",
        &[
            ("NETRC", netrc.to_str().expect("utf-8")),
            ("SSL_CERT_FILE", nginx.ca_file().to_str().expect("utf-8")),
            ("BLOCKPRINT_TEST_URL", url.as_str()),
        ],
    );
}

#[test]
fn netrc_in_home_gives_credentials() {
    let nginx = Nginx::start_tls();
    let data = random_bytes(4, 2000);
    let url = nginx.put("private/netrc.img", &data);
    let home = scratch();
    std::fs::write(
        home.path().join(".netrc"),
        format!("default login {USER} password \"{PASSWORD}\""),
    )
    .expect("netrc");
    in_child(
        "http::environment::netrc_child_reads_a_private_file",
        &[
            ("HOME", home.path().to_str().expect("utf-8")),
            ("SSL_CERT_FILE", nginx.ca_file().to_str().expect("utf-8")),
            ("BLOCKPRINT_TEST_URL", url.as_str()),
        ],
    );
}

/// Run by the two tests above in a child process; does nothing when run directly.
#[test]
fn netrc_child_reads_a_private_file() {
    let Some(url) = child_url() else { return };
    let data = client()
        .fetch(&url, 1 << 20)
        .expect("fetch with netrc credentials");
    assert_eq!(data, Some(random_bytes(4, 2000)));
}

#[test]
fn proxies_from_the_environment_are_used() {
    let nginx = Nginx::start();
    let direct = nginx.put("direct.img", b"not through the proxy");
    let proxy = Server::start(Behaviour::serving(b"through the proxy".to_vec()));
    in_child(
        "http::environment::proxy_child_checks_routes",
        &[
            ("HTTP_PROXY", &proxy.proxy()),
            ("HTTPS_PROXY", &proxy.proxy()),
            ("NO_PROXY", "localhost,127.0.0.1"),
            ("BLOCKPRINT_TEST_URL", direct.as_str()),
        ],
    );
    let lines: Vec<String> = proxy.requests().into_iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        [
            "GET http://blockprint.invalid/a.img HTTP/1.1",
            "CONNECT blockprint.invalid:443 HTTP/1.1",
        ]
    );
}

/// Run by the test above in a child process; does nothing when run directly.
#[test]
fn proxy_child_checks_routes() {
    let Some(direct) = child_url() else { return };
    let client = client();
    let plain = Url::parse("http://blockprint.invalid/a.img").expect("url");
    assert_eq!(
        client.fetch(&plain, 100).expect("via proxy").as_deref(),
        Some(&b"through the proxy"[..])
    );
    let secure = Url::parse("https://blockprint.invalid/a.img").expect("url");
    let err = client
        .fetch(&secure, 100)
        .expect_err("the proxy refuses tunnels");
    assert!(err.to_string().contains("proxy http://127.0.0.1:"), "{err}");
    let bypassed = client.fetch(&direct, 100).expect("NO_PROXY");
    assert_eq!(bypassed.as_deref(), Some(&b"not through the proxy"[..]));
}

/// The URL a parent test passed to this child, or `None` when not a child.
pub(crate) fn child_url() -> Option<Url> {
    let url = std::env::var("BLOCKPRINT_TEST_URL").ok()?;
    Some(Url::parse(&url).expect("child url"))
}

/// Runs the test `name` of this binary alone in a child process with `env` added (and no
/// proxy or netrc variables inherited), and asserts that it passed.
pub(crate) fn in_child(name: &str, env: &[(&str, &str)]) {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command.args([name, "--exact", "--test-threads=1", "--nocapture"]);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "NETRC",
    ] {
        command.env_remove(var);
    }
    // Without a HOME of the test's choosing, point it where no .netrc is.
    let empty_home = scratch();
    command.env("HOME", empty_home.path());
    command.envs(env.iter().copied());
    let output = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
