//! Messages on stderr, at the verbosity the user chose.
//!
//! Every line goes through [`say`] (the desktop app's log lines too). A stderr that is closed
//! or whose reader went away (`2>&1 | head`, a log collector that died) drops the line instead
//! of failing: a copy must finish, and end with its own exit code, whoever stopped listening.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

/// Where and how much the CLI prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    quiet: bool,
    debug: bool,
    terminal: bool,
}

impl Output {
    /// `-q` keeps warnings and errors only; `-d` adds detail.
    pub fn new(quiet: bool, debug: bool) -> Self {
        Self {
            quiet,
            debug,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Whether informational lines are printed.
    pub fn verbose(&self) -> bool {
        !self.quiet
    }

    /// Whether stderr is a terminal (progress bars) rather than a log (plain lines).
    pub fn terminal(&self) -> bool {
        self.terminal
    }

    /// An informational line.
    pub fn info(&self, message: impl Display) {
        if !self.quiet {
            say("", &message);
        }
    }

    /// A debug line.
    pub fn debug(&self, message: impl Display) {
        if self.debug {
            say("debug: ", &message);
        }
    }

    /// A warning.
    pub fn warn(&self, message: impl Display) {
        say("warning: ", &message);
    }

    /// The final error, its causes joined on one line.
    pub fn error(&self, error: &anyhow::Error) {
        say("error: ", &format_args!("{error:#}"));
    }
}

/// `blockprint: KIND MESSAGE` on stderr; nothing if stderr cannot take it.
pub(crate) fn say(kind: &str, message: &dyn Display) {
    write_raw(&format!("blockprint: {kind}{message}\n"));
}

/// `text` on stderr as it is (text of our own: usage, a blank line); nothing if stderr
/// cannot take it.
pub(crate) fn write_raw(text: &str) {
    // One write of the whole line, so lines from threads do not interleave; an error (EPIPE,
    // EBADF, EIO of a hung-up terminal) leaves nobody to tell.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
