//! `blockprint generate man|bash|zsh|fish`: the man page and completion scripts, made from the
//! clap definitions so they never drift from the real options. Hidden from `--help`; meson's
//! build runs it and installs what it prints.

use std::io::Write;

use anyhow::Context;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::Cli;

/// `blockprint generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to print to standard output.
    #[arg(value_enum)]
    pub what: Generated,
}

/// What `generate` can print.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Generated {
    /// The man page, blockprint(1), in roff.
    Man,
    /// bash's completion script.
    Bash,
    /// zsh's completion script.
    Zsh,
    /// fish's completion script.
    Fish,
}

/// Prints what was asked for.
pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    match args.what {
        Generated::Man => man_page(&mut out)?,
        Generated::Bash => completion(Shell::Bash, &mut out),
        Generated::Zsh => completion(Shell::Zsh, &mut out),
        Generated::Fish => completion(Shell::Fish, &mut out),
    }
    std::io::stdout()
        .lock()
        .write_all(&out)
        .context("cannot write to standard output")
}

fn completion(shell: Shell, out: &mut Vec<u8>) {
    clap_complete::generate(shell, &mut Cli::command(), "blockprint", out);
}

/// One page, blockprint(1): the program's synopsis and options, then a section per command
/// with its synopsis, description and options (clap_mangen alone would point to a page per
/// command, which would then have to be installed too).
fn man_page(out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut command = Cli::command()
        .bin_name("blockprint")
        .disable_help_subcommand(true);
    command.build();
    let man = clap_mangen::Man::new(command.clone()).manual("User Commands");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("blockprint {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        let man = clap_mangen::Man::new(sub.clone().bin_name(&name));
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        man.render_options_section(&mut section)?;
        for line in String::from_utf8_lossy(&section).lines() {
            match line.strip_prefix(".SH ") {
                Some("OPTIONS") => writeln!(out, ".SS Options")?,
                Some("DESCRIPTION") => writeln!(out, ".PP")?,
                Some(_) => {}
                None => writeln!(out, "{line}")?,
            }
        }
    }
    man.render_version_section(out)?;
    // Every render call starts with roff's two-line apostrophe preamble: keep the first.
    let text = String::from_utf8_lossy(out).into_owned();
    let mut preamble_lines = 0;
    let mut page = String::new();
    for line in text.lines() {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            preamble_lines += 1;
            if preamble_lines > 2 {
                continue;
            }
        }
        page.push_str(line);
        page.push('\n');
    }
    *out = page.into_bytes();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_has_every_command_and_option() {
        let mut page = Vec::new();
        man_page(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH blockprint 1"), "{page}");
        for text in [
            "BLOCKPRINT COPY",
            "BLOCKPRINT VERIFY-SIG",
            "\\-\\-bmap\\-sig",
            "\\-\\-removable\\-device",
            "\\-\\-no\\-checksum",
            "BLOCKPRINT STATION",
            "\\-\\-max\\-size",
            "\\-\\-power\\-off",
        ] {
            assert!(page.contains(text), "the man page lacks {text}:\n{page}");
        }
        // groff -man -ww warns on any other character (check-install runs it).
        if let Some(line) = page.lines().find(|l| !l.is_ascii()) {
            panic!("the man page holds a non-ASCII character (use ASCII in --help text): {line}");
        }
        assert!(
            !page.contains("GENERATE"),
            "the hidden command is documented"
        );
    }

    #[test]
    fn completions_name_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            completion(shell, &mut script);
            let script = String::from_utf8(script).unwrap();
            assert!(script.contains("verify-sig") && script.contains("removable-device"));
            assert!(
                script.contains("station") && script.contains("max-size"),
                "{shell}"
            );
            assert!(script.contains("no-power-off"), "{shell}");
        }
    }
}
