//! `blockprint`: with a subcommand, the bmaptool-compatible CLI; without one, the desktop app
//! (in builds with the `gui` feature; file arguments open there), or help without it.
#![deny(missing_docs)]

mod cli;
#[cfg(feature = "gui")]
mod gui;
mod unpacked;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    #[cfg(feature = "gui")]
    if cli.command.is_none() {
        return gui::run(cli.images);
    }
    cli::run(cli)
}
