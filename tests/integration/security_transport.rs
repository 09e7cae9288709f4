//! Hostile input to the transports and decoders: ssh paths that try to run commands on the
//! remote shell, redirects from https to plain http, ~/.netrc credentials and plain http,
//! decoders asked for absurd amounts of memory, and bmaps with millions of ranges. Real
//! servers (sshd, nginx) on 127.0.0.1 and the real compressors throughout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::nginx::Nginx;
use crate::sshd::Sshd;
use crate::support::{Run, blockprint_with, random_bytes, scratch};

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
