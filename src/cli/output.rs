//! Messages on stderr, at the verbosity the user chose.

use std::io::IsTerminal;

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
    pub fn info(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("blockprint: {message}");
        }
    }

    /// A debug line.
    pub fn debug(&self, message: impl std::fmt::Display) {
        if self.debug {
            eprintln!("blockprint: debug: {message}");
        }
    }

    /// A warning.
    pub fn warn(&self, message: impl std::fmt::Display) {
        eprintln!("blockprint: warning: {message}");
    }

    /// The final error, its causes joined on one line.
    pub fn error(&self, error: &anyhow::Error) {
        eprintln!("blockprint: error: {error:#}");
    }
}
