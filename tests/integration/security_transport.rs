//! Hostile input to the transports and decoders: ssh paths that try to run commands on the
//! remote shell, redirects from https to plain http, ~/.netrc credentials and plain http,
//! decoders asked for absurd amounts of memory, and bmaps with millions of ranges. Real
//! servers (sshd, nginx) on 127.0.0.1 and the real compressors throughout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use blockprint::source::http::{Credentials, HttpClient, HttpError, Url};

use crate::harness::http_server::{Behaviour, Server};
use crate::harness::nginx::{Nginx, PASSWORD, USER};
use crate::harness::sshd::Sshd;
use crate::harness::support::{Run, blockprint_with, random_bytes, scratch};
use crate::http::environment::{child_url, in_child};

const LIMIT: Duration = Duration::from_secs(120);

fn copy(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["copy"];
    all.extend(args);
    blockprint_with(all, env, None, LIMIT)
}

/// `path` percent-encoded for the path of an `ssh://` URL: every byte but letters, digits,
/// `/`, `.`, `_`, `-` and `~` as `%XX`.
fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A stand-in for ssh and sshd together: it skips ssh's options up to `--`, then the
/// destination, and runs the remote command line with `sh` (dash) in `dir`, as sshd does with
/// a POSIX login shell in the home directory. The real sshd below runs root's login shell,
/// bash.
fn fake_ssh(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("fake-ssh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             while [ \"$#\" -gt 0 ] && [ \"$1\" != \"--\" ]; do shift; done; shift; shift\n\
             cd '{}' && exec sh -c \"$1\"\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// File names that would run `touch MARKER` (in the remote shell's directory) if any part of
/// them were live in a shell: the double-quote breakout the old remote command allowed,
/// command substitution both ways, a newline, single quotes, and a trailing backslash.
fn hostile_names(m: &str) -> Vec<String> {
    vec![
        format!("none\";touch {m};\".img"),
        format!("$(touch {m}).img"),
        format!("`touch {m}`.img"),
        format!("x\ntouch {m}\n.img"),
        format!("it's'; touch {m}; '.img"),
        format!("q'\"$(touch {m})\"'.img"),
        "back\\slash\\".to_owned(),
    ]
}

/// F3: hostile ssh:// paths run nothing on the remote shell, whether the file is missing
/// (the old code pasted the path into a double-quoted `echo` then) or there; a missing one is
/// one clear error naming the path, and an existing one is read byte for byte.
#[test]
fn ssh_paths_are_never_live_in_the_remote_shell() {
    let sshd = Sshd::start();
    let files = sshd.files();
    let dir = scratch();
    let fake = fake_ssh(dir.path());
    let dest = dir.path().join("out.img");
    let real_command = sshd.command();
    // A command run by mistake would create this file where the remote shell starts: the
    // fake's folder, or root's home for the real sshd.
    let name = format!("PWNED-{}", std::process::id());
    let markers = [dir.path().join(&name), remote_home(&sshd).join(&name)];
    for marker in &markers {
        let _ = std::fs::remove_file(marker);
    }
    let ran = || markers.iter().any(|m| m.exists());
    let fake_command = fake.display().to_string();
    let transports = [
        (
            format!("ssh://127.0.0.1:{}", sshd.port),
            real_command.as_str(),
        ),
        ("ssh://board".to_owned(), fake_command.as_str()),
    ];
    for (index, name) in hostile_names(&name).iter().enumerate() {
        for (prefix, command) in &transports {
            let env = [("BLOCKPRINT_SSH", *command)];
            // Missing: the miss is reported, nothing runs. With and without bmap discovery
            // (which fetches NAME.bmap and the like through another remote command).
            let missing = files.join(format!("gone-{name}"));
            let url = format!("{prefix}{}", encode_path(missing.to_str().unwrap()));
            for nobmap in [true, false] {
                let mut args = vec![url.as_str(), dest.to_str().unwrap()];
                if nobmap {
                    args.insert(0, "--nobmap");
                }
                let run = copy(&args, &env);
                assert_eq!(run.code, 1, "{name:?} via {command}: {}", run.stderr);
                assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
                assert!(
                    !ran(),
                    "{name:?} ran a command via {command}: {}",
                    run.stderr
                );
                let first_line = name.lines().next().unwrap_or_default();
                assert!(
                    run.stderr.contains(first_line),
                    "the error does not name {name:?}: {}",
                    run.stderr
                );
                if nobmap {
                    assert!(
                        run.stderr.contains("does not exist on"),
                        "{name:?}: {}",
                        run.stderr
                    );
                }
            }

            // There: read exactly, still running nothing.
            let data = random_bytes(70 + index as u64, 64 * 1024 + index);
            let there = files.join(name);
            std::fs::write(&there, &data).unwrap();
            let url = format!("{prefix}{}", encode_path(there.to_str().unwrap()));
            copy(&["--nobmap", &url, dest.to_str().unwrap()], &env).ok();
            assert!(
                std::fs::read(&dest).unwrap() == data,
                "{name:?} via {command}"
            );
            assert!(!ran(), "{name:?} ran a command via {command}");
            std::fs::remove_file(&there).unwrap();
        }
    }
}

/// The directory the real sshd's login shell starts in.
fn remote_home(sshd: &Sshd) -> PathBuf {
    let command = sshd.command();
    let mut words = command.split_whitespace();
    let out = std::process::Command::new(words.next().unwrap())
        .args(words)
        .args(["-p", &sshd.port.to_string(), "127.0.0.1", "pwd"])
        .output()
        .expect("ssh pwd");
    assert!(out.status.success(), "ssh pwd failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// F8: an https URL that redirects to plain http is refused with an error naming both URLs,
/// and nothing is fetched over http; a redirect that stays on https is still followed.
#[test]
fn a_redirect_from_https_to_plain_http_is_refused() {
    let plain = Nginx::start();
    let data = random_bytes(80, 300_000);
    let target = plain.put("img.raw", &data);
    let tls = Nginx::start_tls();
    tls.put("img.raw", &data);
    let ca = tls.ca_file();
    let env = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let dir = scratch();
    let dest = dir.path().join("out.img");

    let moved = tls.url("moved/img.raw");
    copy(&["--nobmap", moved.as_str(), dest.to_str().unwrap()], &env).ok();
    assert!(std::fs::read(&dest).unwrap() == data, "https to https");

    let url = format!("{}?to={target}", tls.url("redirect/img.raw"));
    copy(&["--nobmap", &url, dest.to_str().unwrap()], &env).fails_with(&[
        &url,
        target.as_str(),
        "plain http",
    ]);
    // Bmap discovery next to it meets the same redirect first.
    let probe = format!("{}?to={target}", tls.url("redirect/img.raw.bmap"));
    copy(&[&url, dest.to_str().unwrap()], &env).fails_with(&[
        &probe,
        target.as_str(),
        "plain http",
    ]);
    assert_eq!(plain.log(), [], "a request went over plain http");
}

/// F9: `~/.netrc` credentials are never sent over plain http (the old code sent them with
/// every request, discovery probes included); where an http server asks for them, the error
/// says why none were sent; over https they are sent.
#[test]
fn netrc_credentials_are_never_sent_over_plain_http() {
    let dir = scratch();
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        format!(
            "machine 127.0.0.1 login {USER} password \"{PASSWORD}\"\n\
             default login anyone password s3cret-default\n"
        ),
    )
    .unwrap();
    let netrc = netrc.to_str().unwrap();
    let dest = dir.path().join("out.img");
    let data = random_bytes(90, 100_000);

    let recording = Server::start(Behaviour::serving(data.clone()));
    let url = recording.url("img.raw");
    copy(
        &["--nobmap", url.as_str(), dest.to_str().unwrap()],
        &[("NETRC", netrc)],
    )
    .ok();
    assert!(std::fs::read(&dest).unwrap() == data);
    let requests = recording.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(
            request.header("Authorization"),
            None,
            "credentials over http: {}",
            request.line
        );
    }

    let plain = Nginx::start();
    let private = plain.put("private/img.raw", &data);
    copy(
        &["--nobmap", private.as_str(), dest.to_str().unwrap()],
        &[("NETRC", netrc)],
    )
    .fails_with(&[private.as_str(), "401", "sent only over https"]);

    let tls = Nginx::start_tls();
    let secure = tls.put("private/img.raw", &data);
    std::fs::remove_file(&dest).unwrap();
    let ca = tls.ca_file();
    copy(
        &["--nobmap", secure.as_str(), dest.to_str().unwrap()],
        &[("NETRC", netrc), ("SSL_CERT_FILE", ca.to_str().unwrap())],
    )
    .ok();
    assert!(std::fs::read(&dest).unwrap() == data, "netrc over https");
}

/// F9: the netrc `default` entry (for any host) goes to URLs the caller names and to
/// discovery on their own server, but not to a discovery probe on another server.
#[test]
fn the_netrc_default_entry_stays_with_the_named_server() {
    let named = Nginx::start_tls();
    let other = Nginx::start_tls();
    named.put("private/disk.img", b"the image");
    named.put("private/disk.bmap", b"its bmap");
    let elsewhere = other.put("private/disk.bmap", b"elsewhere");
    let dir = scratch();
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("default login {USER} password \"{PASSWORD}\"\n"),
    )
    .unwrap();
    // One bundle, so that both servers' authorities are trusted.
    let bundle = dir.path().join("ca.pem");
    let mut authorities = std::fs::read(named.ca_file()).unwrap();
    authorities.extend(std::fs::read(other.ca_file()).unwrap());
    std::fs::write(&bundle, authorities).unwrap();
    in_child(
        "security_transport::netrc_default_child_checks_where_it_goes",
        &[
            ("NETRC", netrc.to_str().unwrap()),
            ("SSL_CERT_FILE", bundle.to_str().unwrap()),
            (
                "BLOCKPRINT_TEST_URL",
                named.url("private/disk.img").as_str(),
            ),
            ("BLOCKPRINT_TEST_OTHER", elsewhere.as_str()),
        ],
    );
}

/// Run by the test above in a child process; does nothing when run directly.
#[test]
fn netrc_default_child_checks_where_it_goes() {
    let Some(image) = child_url() else { return };
    let elsewhere = Url::parse(&std::env::var("BLOCKPRINT_TEST_OTHER").unwrap()).unwrap();
    let client = HttpClient::new().unwrap();
    let fetch = |url: &Url, next_to: Option<&Url>| match next_to {
        Some(named) => client.fetch_next_to(url, named, 1 << 20),
        None => client.fetch(url, 1 << 20),
    };
    assert_eq!(
        fetch(&image, None).unwrap().as_deref(),
        Some(&b"the image"[..])
    );
    let beside = image.join("disk.bmap").unwrap();
    assert_eq!(
        fetch(&beside, Some(&image)).unwrap().as_deref(),
        Some(&b"its bmap"[..])
    );
    let err = fetch(&elsewhere, Some(&image)).expect_err("no default entry elsewhere");
    assert!(
        matches!(
            err,
            HttpError::Denied {
                status: 401,
                credentials: Credentials::None,
                ..
            }
        ),
        "{err:?}"
    );
    // Named by the caller, the other server gets them.
    assert_eq!(
        fetch(&elsewhere, None).unwrap().as_deref(),
        Some(&b"elsewhere"[..])
    );
}

/// Ranges in the big bmap below: the review's repro.
const BIG_RANGES: u64 = 6_000_000;

/// F14: a bmap of 6,000,000 single-block ranges (150 MB, no range checksums, a correct file
/// checksum) parses in memory proportional to its ranges: the peak resident memory grows by
/// under 24 bytes a range (plus 32 MiB) while it is parsed, and the ranges then take 16 bytes
/// each. The old parser kept a string and an 80-byte record per range and grew by about 1 GB.
#[test]
fn a_bmap_of_millions_of_ranges_parses_in_proportional_memory() {
    let dir = scratch();
    let path = dir.path().join("big.bmap");
    let (bs, n) = (4096u64, BIG_RANGES);
    let zeros = "0".repeat(64);
    let mut text = format!(
        "<?xml version=\"1.0\" ?>\n<bmap version=\"2.0\">\n<ImageSize> {} </ImageSize>\n\
         <BlockSize> {bs} </BlockSize>\n<BlocksCount> {} </BlocksCount>\n\
         <MappedBlocksCount> {n} </MappedBlocksCount>\n<ChecksumType> sha256 </ChecksumType>\n\
         <BmapFileChecksum> {zeros} </BmapFileChecksum>\n<BlockMap>\n",
        2 * n * bs,
        2 * n
    );
    for i in 0..n {
        use std::fmt::Write;
        let _ = writeln!(text, "<Range> {} </Range>", 2 * i);
    }
    text.push_str("</BlockMap>\n</bmap>\n");
    let digest = crate::harness::support::sha256(text.as_bytes());
    std::fs::write(&path, text.replacen(&zeros, &digest, 1)).unwrap();
    in_child(
        "security_transport::big_bmap_child_measures_its_parse",
        &[("BLOCKPRINT_TEST_BMAP", path.to_str().unwrap())],
    );
}

/// Run by the test above in a child process (a fresh one, so its peak memory is the parse's);
/// does nothing when run directly.
#[test]
fn big_bmap_child_measures_its_parse() {
    let Ok(path) = std::env::var("BLOCKPRINT_TEST_BMAP") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let before = memory_kib("VmRSS");
    let bmap = blockprint::bmap::Bmap::from_bytes(&bytes, Path::new(&path)).unwrap();
    let peak = memory_kib("VmHWM");
    let ranges = bmap.ranges().len() as u64;
    assert_eq!(ranges, BIG_RANGES);
    let growth = (peak - before) * 1024;
    assert!(
        growth < ranges * 24 + (32 << 20),
        "parsing {ranges} ranges grew the peak memory by {} MiB",
        growth >> 20
    );
    assert!(bmap.ranges().heap_bytes() as u64 <= ranges * 16 + 4096);
    drop(bytes);
}

/// A `kB` line of `/proc/self/status` (`VmRSS`: resident now, `VmHWM`: the peak so far).
fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
