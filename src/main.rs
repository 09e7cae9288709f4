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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // bmaptool checks conflicting options itself and exits 1 for them (2 is for what its
        // argument parser refuses); scripts that switch expect the same.
        Err(e) if e.kind() == clap::error::ErrorKind::ArgumentConflict => {
            let _ = e.print();
            return ExitCode::from(1);
        }
        Err(e) => e.exit(),
    };
    #[cfg(feature = "gui")]
    if cli.command.is_none() {
        return gui::run(cli.images);
    }
    cli::run(cli)
}
