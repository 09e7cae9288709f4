//! `blockprint`: with a subcommand, the bmaptool-compatible CLI; without one, help (the desktop
//! app takes over here once it exists, in builds with the `gui` feature).
#![deny(missing_docs)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::run(cli::Cli::parse())
}
