//! Images on another machine, read through the system's ssh client.
//!
//! The client runs with the user's own configuration, keys and agent, and with host-key
//! checking as configured (bmaptool turns it off; we never do). `BLOCKPRINT_SSH` may name
//! another command line for it (like git's `GIT_SSH_COMMAND`), e.g. `ssh -F ./config`. The
//! remote side needs only a POSIX shell, `cat` and, for the size, `stat`.
//!
//! ssh hands the remote command to the login shell as one line of text, so the path (which
//! may come from a link dropped on the window, and may hold any character but NUL) must reach
//! that shell as inert data. It appears only inside single quotes, where a POSIX shell gives
//! no character a meaning (a `'` in the path closes the quotes, adds `\'`, and reopens them),
//! and never inside double quotes or in text the remote side prints: a miss is reported by
//! exit status alone, and the message is written here. User and host are ssh arguments after
//! `--` and never part of the remote command; [`SshLocation::problem`] refuses any shell
//! metacharacter in them too, for the shells ssh may run locally (a `ProxyCommand` with `%h`
//! or `%r`, a `Match exec`) on ssh versions that do not check that themselves.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use super::SourceError;
use super::input::SshLocation;

/// Exit status the remote command uses for "no such file" (a quiet miss for discovery).
const MISSING: i32 = 3;

/// Opens the file at `location`; returns its bytes and, when `stat` told it, its size.
pub(crate) fn open(
    location: &SshLocation,
) -> Result<(Box<dyn Read + Send>, Option<u64>), SourceError> {
    let path = quote(&location.path);
    let script = format!(
        "[ -r {path} ] || exit {MISSING}; \
         stat -L -c %s -- {path} 2>/dev/null || echo unknown; exec cat -- {path}"
    );
    let mut reader = SshReader::spawn(location, &script)?;
    let mut line = String::new();
    let mut stdout = BufReader::new(
        reader
            .stdout
            .take()
            .ok_or_else(|| failed(location, "no output"))?,
    );
    let got = stdout
        .read_line(&mut line)
        .map_err(|e| failed(location, &e.to_string()))?;
    if got == 0 {
        return Err(reader.finish_error(location));
    }
    // A block device reports 0 through stat; its size is then unknown, not zero.
    let size = line.trim().parse::<u64>().ok().filter(|&s| s > 0);
    reader.buffered = Some(stdout);
    Ok((Box::new(reader), size))
}

/// Reads a small file (a bmap, a signature); `Ok(None)` when it does not exist.
pub(crate) fn fetch(location: &SshLocation, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
    let path = quote(&location.path);
    let script = format!("[ -f {path} ] || exit {MISSING}; exec cat -- {path}");
    let mut reader = SshReader::spawn(location, &script)?;
    let mut data = Vec::new();
    let mut stdout = reader
        .stdout
        .take()
        .ok_or_else(|| failed(location, "no output"))?;
    (&mut stdout)
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| failed(location, &e.to_string()))?;
    if data.len() as u64 > limit {
        return Err(failed(
            location,
            &format!("the file is larger than {limit} bytes"),
        ));
    }
    drop(stdout);
    let (status, stderr) = reader.wait();
    match status {
        Some(0) => Ok(Some(data)),
        Some(MISSING) => Ok(None),
        _ => Err(failed(location, &stderr)),
    }
}

/// `text` as one word of a POSIX shell command line, taken literally whatever it holds
/// (newlines, `$`, backquotes, `"`, `\`): single quotes, with each `'` written as `'\''`.
/// The result must only ever be pasted where a word may stand, never inside other quotes.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn failed(location: &SshLocation, why: &str) -> SourceError {
    SourceError::Open {
        name: location.to_string(),
        source: io::Error::other(format!("ssh: {}", why.trim())),
    }
}

/// A running `ssh … cat`, read to its end; a failure of ssh or of the remote command is an
/// error at the end of the data, with the last line ssh printed.
struct SshReader {
    child: Child,
    stdout: Option<ChildStdout>,
    buffered: Option<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<String>>,
    name: String,
    /// How the transfer ended, once it has.
    done: Option<Result<(), String>>,
}

impl SshReader {
    fn spawn(location: &SshLocation, script: &str) -> Result<Self, SourceError> {
        if let Some(problem) = location.problem() {
            return Err(failed(location, &problem));
        }
        let configured = std::env::var("BLOCKPRINT_SSH").unwrap_or_else(|_| "ssh".into());
        let mut words = configured.split_whitespace();
        let program = words.next().unwrap_or("ssh");
        let mut command = Command::new(program);
        command.args(words);
        if let Some(port) = location.port {
            command.args(["-p", &port.to_string()]);
        }
        let destination = match &location.user {
            Some(user) => format!("{user}@{}", location.host),
            None => location.host.clone(),
        };
        // No escape character and no terminal: with a pty (a `RequestTTY force` in the
        // user's config) the remote side would turn every LF of the image into CR LF.
        command
            .args(["-T", "-e", "none", "--"])
            .arg(destination)
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| SourceError::Open {
            name: location.to_string(),
            source: io::Error::new(
                e.kind(),
                format!("cannot run '{program}': {e} (is openssh-client installed?)"),
            ),
        })?;
        let stderr = child.stderr.take().map(collect_stderr);
        Ok(Self {
            stdout: child.stdout.take(),
            child,
            buffered: None,
            stderr,
            name: location.to_string(),
            done: None,
        })
    }

    /// Waits for ssh; returns its exit code and the last line it printed to stderr.
    fn wait(&mut self) -> (Option<i32>, String) {
        let status = self.child.wait().ok().and_then(|s| s.code());
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        (status, last.to_owned())
    }

    fn finish_error(&mut self, location: &SshLocation) -> SourceError {
        let (status, stderr) = self.wait();
        let why = if status == Some(MISSING) {
            format!(
                "the file does not exist on {} or cannot be read there; check the path and its permissions",
                location.host
            )
        } else if stderr.is_empty() {
            format!(
                "ssh exited with status {}",
                status.map_or("unknown".into(), |c| c.to_string())
            )
        } else {
            stderr
        };
        failed(location, &why)
    }
}

fn collect_stderr(mut stderr: ChildStderr) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        // Only the last lines matter; a broken pipe just ends the text.
        let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut text);
        text
    })
}

impl Read for SshReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(done) = &self.done {
            return done.clone().map(|()| 0).map_err(io::Error::other);
        }
        let n = match (&mut self.buffered, &mut self.stdout) {
            (Some(reader), _) => reader.read(buf)?,
            (None, Some(reader)) => reader.read(buf)?,
            (None, None) => 0,
        };
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        // End of the data: it is complete only if ssh and the remote command succeeded.
        self.buffered = None;
        self.stdout = None;
        let (status, stderr) = self.wait();
        let done = match status {
            Some(0) => Ok(()),
            _ => Err(format!(
                "ssh stopped reading '{}' (exit status {}): {stderr}",
                self.name,
                status.map_or("unknown".into(), |c| c.to_string())
            )),
        };
        self.done = Some(done.clone());
        done.map(|()| 0).map_err(io::Error::other)
    }
}

impl Drop for SshReader {
    fn drop(&mut self) {
        // Stop a transfer nobody reads any more; reaping avoids a zombie.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// F3: a quoted word reaches a POSIX shell (dash and bash) as exactly itself, whatever it
    /// holds, so no part of a path is ever live in the remote command line.
    #[test]
    fn quoted_words_reach_the_shell_unchanged() {
        let texts = [
            "/srv/plain.img",
            "/srv/none\";touch /tmp/x;\".img",
            "/srv/$(id -un >/tmp/x).img",
            "/srv/`id`.img",
            "/srv/new\nline;id\n.img",
            "/srv/it's'; id; '.img",
            "/srv/'",
            "''",
            "/srv/back\\slash\\",
            "/srv/${HOME}*?[a]~!#&|<>(){}.img",
            "",
        ];
        for shell in ["sh", "bash"] {
            for text in texts {
                let out = Command::new(shell)
                    .arg("-c")
                    .arg(format!("printf %s {}", quote(text)))
                    .output()
                    .expect("a POSIX shell");
                assert!(out.status.success(), "{shell}: {text:?}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    text,
                    "{shell} changed the word"
                );
            }
        }
    }
}
