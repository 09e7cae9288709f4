//! The command line over every transport: HTTP with bmap discovery, Range fetching, resume and
//! credentials (Debian's nginx, and a faulty server of our own), and ssh to a real sshd with
//! host keys checked. Standard input is in formats.rs.

use std::time::Duration;

use crate::formats::fixtures;
use crate::harness::http_server::{Behaviour, Server};
use crate::harness::nginx::{Nginx, PASSWORD, USER};
use crate::harness::sshd::Sshd;
use crate::harness::support::{blockprint_with, sparse_image};

const LIMIT: Duration = Duration::from_secs(60);

fn copy(args: &[&str], env: &[(&str, &str)]) -> crate::harness::support::Run {
    let mut all = vec!["copy"];
    all.extend(args);
    blockprint_with(all, env, None, LIMIT)
}

#[test]
fn compressed_image_from_a_url_with_its_bmap_discovered_quietly() {
    let f = fixtures();
    let nginx = Nginx::start();
    let url = nginx.put(
        "image.img.xz",
        &std::fs::read(f.path("image.img.xz")).unwrap(),
    );
    nginx.put("image.bmap", &std::fs::read(f.bmap_path()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let run = copy(&[url.as_str(), dest.to_str().unwrap()], &[]);
    let stderr = run.ok();
    // image.img.xz.bmap and image.img.bmap are 404s: quiet misses, no warnings.
    assert!(
        stderr.contains(&format!(
            "discovered bmap file '{}'",
            nginx.url("image.bmap")
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("is xz"), "{stderr}");
    assert!(std::fs::read(&dest).unwrap() == f.content);
}

#[test]
fn raw_image_from_a_url_downloads_little_more_than_its_mapped_data() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let (image, bmap, content) = sparse_image(dir.path(), 24 << 20);
    let url = nginx.put("raw.img", &content);
    nginx.put("raw.img.bmap", &std::fs::read(&bmap).unwrap());
    let mapped = blockprint::bmap::Bmap::from_file(&bmap)
        .unwrap()
        .mapped_bytes();
    let dest = dir.path().join("out");
    copy(&["-q", url.as_str(), dest.to_str().unwrap()], &[]).ok();
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&image).unwrap());
    let sent: u64 = nginx
        .log()
        .iter()
        .filter(|entry| entry.request.contains("/raw.img "))
        .map(|entry| entry.bytes)
        .sum();
    assert!(
        (sent as f64) <= 1.15 * mapped as f64,
        "sent {sent} bytes for {mapped} mapped bytes of a {} byte image",
        content.len()
    );
}

#[test]
fn missing_images_and_credentials_are_clear_errors() {
    let f = fixtures();
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let missing = nginx.url("nothing-here.img.xz");
    copy(&["--nobmap", missing.as_str(), dest.to_str().unwrap()], &[])
        .fails_with(&[missing.as_str(), "not found"]);
    assert!(!dest.exists());

    let private = nginx.put(
        "private/image.img.gz",
        &std::fs::read(f.path("image.img.gz")).unwrap(),
    );
    let mut with_login = private.clone();
    with_login.set_username(USER).unwrap();
    with_login.set_password(Some(PASSWORD)).unwrap();
    let bmap = f.bmap_path();
    copy(
        &[
            "-q",
            "--bmap",
            bmap.to_str().unwrap(),
            with_login.as_str(),
            dest.to_str().unwrap(),
        ],
        &[],
    )
    .ok();
    assert!(std::fs::read(&dest).unwrap() == f.content);

    let mut wrong = private.clone();
    wrong.set_username(USER).unwrap();
    wrong.set_password(Some("not-the-password")).unwrap();
    let line = copy(
        &[
            "--bmap",
            bmap.to_str().unwrap(),
            wrong.as_str(),
            dest.to_str().unwrap(),
        ],
        &[],
    )
    .fails_with(&[private.path()]);
    assert!(
        !line.contains("not-the-password"),
        "a password in a message: {line}"
    );
}

#[test]
fn a_dropped_connection_is_resumed() {
    let f = fixtures();
    let data = std::fs::read(f.path("image.img.bz2")).unwrap();
    let mut behaviour = Behaviour::serving(data);
    // The first two answers break off early; the transfer must pick up where it was.
    behaviour.cut = 0..2;
    behaviour.cut_after = 20_000;
    let server = Server::start(behaviour);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let bmap = f.bmap_path();
    copy(
        &[
            "-q",
            "--bmap",
            bmap.to_str().unwrap(),
            server.url("image.img.bz2").as_str(),
            dest.to_str().unwrap(),
        ],
        &[],
    )
    .ok();
    assert!(std::fs::read(&dest).unwrap() == f.content);
    assert!(server.requests().len() >= 3, "no resume happened");
}

#[test]
fn images_over_ssh_with_host_keys_checked() {
    let f = fixtures();
    let sshd = Sshd::start();
    let files = sshd.files();
    std::fs::copy(f.path("image.tar.zst"), files.join("image.tar.zst")).unwrap();
    std::fs::copy(f.bmap_path(), files.join("image.bmap")).unwrap();
    let command = sshd.command();
    let env = [("BLOCKPRINT_SSH", command.as_str())];
    let url = format!(
        "ssh://127.0.0.1:{}{}/image.tar.zst",
        sshd.port,
        files.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");

    let stderr = copy(&[&url, dest.to_str().unwrap()], &env).ok().to_owned();
    assert!(
        stderr.contains("discovered bmap file 'ssh://127.0.0.1"),
        "{stderr}"
    );
    assert!(std::fs::read(&dest).unwrap() == f.content);

    let missing = format!(
        "ssh://127.0.0.1:{}{}/gone.img.xz",
        sshd.port,
        files.display()
    );
    copy(&["--nobmap", &missing, dest.to_str().unwrap()], &env).fails_with(&["gone.img.xz", "ssh"]);

    // Host-key checking stays on: an unknown server key is refused by ssh.
    let unknown = sshd.command_with_unknown_host();
    copy(
        &["--nobmap", &url, dest.to_str().unwrap()],
        &[("BLOCKPRINT_SSH", unknown.as_str())],
    )
    .fails_with(&["Host key verification failed"]);
}
