//! `--sign-with KEYFILE`: the user's secret key, unlocked before anything is read, with the
//! passphrase from `--passphrase-file` or asked on the terminal (not echoed).

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use blockprint::signature::{SignError, SigningKey};

use crate::cli::Output;
use crate::cli::output::escape_controls;

/// The key in `path`, unlocked.
pub(super) fn load(
    path: &Path,
    passphrase_file: Option<&Path>,
    out: &Output,
) -> anyhow::Result<Arc<SigningKey>> {
    let passphrase = match passphrase_file {
        Some(file) => Some(first_line(file)?),
        None => None,
    };
    let key = match SigningKey::from_file(path, passphrase.as_deref()) {
        Err(SignError::Locked { .. }) => {
            let asked = ask(&format!(
                "passphrase of the signing key '{}': ",
                path.display()
            ))
            .with_context(|| {
                format!(
                    "the signing key '{}' is protected by a passphrase and there is no \
                     terminal to ask it on; give it with --passphrase-file FILE",
                    path.display()
                )
            })?;
            SigningKey::from_file(path, Some(&asked))?
        }
        other => other?,
    };
    out.info(format_args!(
        "the bmap will be signed by {} (key {})",
        escape_controls(key.user_id().unwrap_or("a key without a user ID")),
        key.fingerprint()
    ));
    Ok(Arc::new(key))
}

/// The first line of `path`, without its line end.
fn first_line(path: &Path) -> anyhow::Result<String> {
    let file = File::open(path)
        .with_context(|| format!("cannot read the passphrase file '{}'", path.display()))?;
    let mut line = String::new();
    io::BufReader::new(file)
        .read_line(&mut line)
        .with_context(|| format!("cannot read the passphrase file '{}'", path.display()))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Asks on the controlling terminal with echo off; an error where there is none.
fn ask(prompt: &str) -> anyhow::Result<String> {
    let tty = File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no terminal")?;
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid value for tcgetattr to fill.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the whole function; `saved` is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!("/dev/tty is not a terminal");
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above; `quiet` is `saved` with echo turned off.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut writer = &tty;
    let _ = writer.write_all(prompt.as_bytes());
    let _ = writer.flush();
    let mut line = String::new();
    let read = io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores the settings read above on the same descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.context("cannot read the passphrase")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
