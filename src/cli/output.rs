//! Messages on stderr, at the verbosity the user chose.
//!
//! Every line goes through [`say`] (the desktop app's log lines too), which does two things
//! for all of them:
//!
//! - A stderr that is closed or whose reader went away (`2>&1 | head`, a log collector that
//!   died) drops the line instead of failing: a copy must finish, and end with its own exit
//!   code, whoever stopped listening.
//! - Control characters are shown as escapes (`\x1b`, `\u{9b}`): messages quote outside text
//!   (archive member names, a remote shell's errors, names chosen by a server), and a terminal
//!   would otherwise obey the escape sequences in it. A newline inside a message becomes `\n`,
//!   so one message stays one line.

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::io::{IsTerminal, Write};

use blockprint::discover::DiscoverError;
use blockprint::signature::SignatureError;
use blockprint::target::TargetError;
use blockprint::verify::VerifyError;

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

    /// The final error, its causes joined on one line, and the option that changes the
    /// outcome when there is one.
    pub fn error(&self, error: &anyhow::Error) {
        say("error: ", &format_args!("{error:#}{}", option_hint(error)));
    }
}

/// `error` and its causes, joined on one line as [`Output::error`] prints them.
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let chain = std::iter::successors(Some(error), |error| error.source());
    chain
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The engine says what to do in words any front end can use; on the command line that is an
/// option, named after the error (which ends the line: these errors have no cause of their own).
fn option_hint(error: &anyhow::Error) -> &'static str {
    let hint = |cause: &(dyn std::error::Error + 'static)| {
        let signature = cause.downcast_ref().or(match cause.downcast_ref() {
            Some(DiscoverError::Signature(error)) => Some(error),
            _ => None,
        });
        if let Some(TargetError::NotRemovable { .. }) = cause.downcast_ref() {
            Some("; leave out --removable-device to write to it anyway")
        } else if let Some(SignatureError::BadSignatureFile { .. }) = signature {
            Some(" (or pass --no-sig-verify to write without checking, at your own risk)")
        } else if let Some(VerifyError::NoChecksums) = cause.downcast_ref() {
            Some(" (was it made with --no-checksum?)")
        } else {
            None
        }
    };
    error.chain().find_map(hint).unwrap_or_default()
}

/// `blockprint: KIND MESSAGE` on stderr, escaped; nothing if stderr cannot take it.
pub(crate) fn say(kind: &str, message: &dyn Display) {
    let text = message.to_string();
    write_raw(&format!("blockprint: {kind}{}\n", escape_controls(&text)));
}

/// `text` on stderr as it is (text of our own: usage, a blank line); nothing if stderr
/// cannot take it.
pub(crate) fn write_raw(text: &str) {
    // One write of the whole line, so lines from threads do not interleave; an error (EPIPE,
    // EBADF, EIO of a hung-up terminal) leaves nobody to tell.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `text` with every C0 and C1 control character (tab aside), DEL, and the bidirectional
/// controls that reorder what a terminal shows, written as a visible escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !hidden(c) {
            out.push(c);
        } else if c == '\n' {
            out.push_str("\\n");
        } else if c == '\r' {
            out.push_str("\\r");
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{TargetError, escape_controls, option_hint};

    #[test]
    fn an_engine_error_gets_the_option_that_changes_it() {
        let refused = TargetError::NotRemovable {
            path: "/dev/sda".into(),
            reason: "the kernel does not say it is".into(),
        };
        let error = anyhow::Error::from(refused).context("cannot write to '/dev/sda'");
        assert_eq!(
            option_hint(&error),
            "; leave out --removable-device to write to it anyway"
        );
        assert_eq!(option_hint(&anyhow::anyhow!("something else")), "");
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "copying 'Übersicht.img'\tto '/dev/sdb'";
        assert!(matches!(
            escape_controls(text),
            std::borrow::Cow::Borrowed(t) if t == text
        ));
    }

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(
            escape_controls("\u{1b}]0;owned\u{7}a\u{1b}[2J"),
            "\\x1b]0;owned\\x07a\\x1b[2J"
        );
        assert_eq!(escape_controls("a\nb\r\u{7f}"), "a\\nb\\r\\x7f");
        assert_eq!(escape_controls("\u{9b}31m\u{85}"), "\\u{9b}31m\\u{85}");
        assert_eq!(escape_controls("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
    }
}
