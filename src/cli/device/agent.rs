//! polkit's text agent for this process: when polkit wants a password to let a normal user
//! write a drive, `pkttyagent` asks for it on the terminal, for this process alone
//! (`--process`). In a graphical session it is started with `--fallback`, so the desktop's
//! own agent asks when there is one; elsewhere without it, because polkit (122) passes a
//! fallback agent over when the caller has no login session at all. Without a terminal
//! nobody can be asked: polkit's rules alone decide, and a "no agent" refusal says so.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use super::Output;

/// How long `pkttyagent` may take to register.
const REGISTER: Duration = Duration::from_secs(10);

/// A running `pkttyagent`, stopped on drop.
pub(super) struct Agent {
    child: Child,
}

impl Agent {
    /// Starts `pkttyagent` for this process and waits until it has registered with polkit;
    /// `None` without a terminal, without `pkttyagent`, or when it gave up (then polkit
    /// decides alone).
    pub(super) fn start(out: &Output) -> Option<Self> {
        if std::fs::File::open("/dev/tty").is_err() {
            out.debug("no terminal: polkit cannot ask for a password here");
            return None;
        }
        let (read, write) = pipe()?;
        let notify = write.as_raw_fd();
        let mut command = Command::new("pkttyagent");
        command.args([
            "--process",
            &std::process::id().to_string(),
            "--notify-fd",
            &notify.to_string(),
        ]);
        let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
        if desktop {
            command.arg("--fallback");
        }
        // SAFETY: only fcntl, which is async-signal-safe, runs between fork and exec; it lets
        // the child keep the notify descriptor (close-on-exec for everyone else).
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(notify, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                out.debug(format_args!("no polkit text agent (pkttyagent: {e})"));
                return None;
            }
        };
        drop(write);
        // pkttyagent closes its end once registered (or when it exits): end of file either way.
        if !wait_readable(&read, REGISTER) {
            out.debug("pkttyagent did not register in time");
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        let mut rest = Vec::new();
        let _ = std::fs::File::from(read).read_to_end(&mut rest);
        if let Ok(Some(status)) = child.try_wait() {
            out.debug(format_args!("pkttyagent ended at once ({status})"));
            return None;
        }
        Some(Self { child })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pipe, both ends close-on-exec.
fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: pipe2 succeeded: both are open descriptors that nothing else owns.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether `fd` becomes readable (or reaches its end) within `limit`.
fn wait_readable(fd: &OwnedFd, limit: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd, for the length given.
    unsafe { libc::poll(&mut poll, 1, millis) > 0 }
}
