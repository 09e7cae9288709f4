//! The `blockprint` command line: `copy`, `create`, `scan`, `verify`, `verify-sig`, `list`
//! (and the hidden `generate`).
//!
//! Options are spelled as bmaptool 3.9 spells them so scripts can switch unchanged; exit codes
//! are bmaptool's too: 0 success, 1 any error, 2 usage. Messages go to stderr as
//! `blockprint: …` lines; errors are one line that names the file, device or range at fault.

// The options' doc comments are their `--help` text, written for a terminal: brackets and
// angle brackets there are usage notation, not links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod backup;
mod catalog;
mod check_card;
mod copy;
mod copy_summary;
mod create;
mod device;
mod from_catalog;
mod generate;
mod list;
mod output;
mod progress;
mod scan;
mod signature;
#[cfg(feature = "gui")]
mod station;
mod unmapped;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use output::Output;
#[cfg(feature = "gui")]
pub(crate) use output::{escape_controls, say, write_raw};

/// Writes disk images to drives, copying only the blocks that hold data and verifying them.
#[derive(Debug, Parser)]
#[command(name = "blockprint", version, about, max_term_width = 100)]
pub struct Cli {
    /// Print only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "debug")]
    pub quiet: bool,

    /// Print debugging detail.
    #[arg(short, long, global = true)]
    pub debug: bool,

    /// What to do. Without one, the desktop app starts (in builds with it; otherwise this
    /// help is printed).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Images to open in the desktop app (files or http(s) URLs).
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an image to a block device or file, copying only the mapped blocks.
    Copy(CopyArgs),
    /// Create a bmap for a sparse image file.
    Create(CreateArgs),
    /// Create a bmap from the image's filesystems: only what they use is mapped.
    Scan(ScanArgs),
    /// Check a written device or file against a bmap, without writing.
    Verify(VerifyArgs),
    /// Back up a card or disk image to a small image file (raw and sparse, or .zst, .xz,
    /// .gz) with its bmap: only the blocks its filesystems use are read.
    Backup(BackupArgs),
    /// Check a bmap's OpenPGP signature and say who signed it (exit 0 only if valid).
    VerifySig(VerifySigArgs),
    /// List the drives an image could be written to, with the reasons to be careful.
    List(ListArgs),
    /// List the operating systems of a catalog (Raspberry Pi Imager's list by default).
    Catalog(CatalogArgs),
    /// List or clear the downloads kept for the next card.
    Cache(CacheArgs),
    /// Find out how much a card or stick really holds (a counterfeit claims more): a genuine
    /// one is left as it was. With --full, test every block of it, which erases it.
    CheckCard(CheckCardArgs),
    /// Write every drive plugged in from now on, all day: each one verified, powered off and
    /// recorded, several at once, until --count cards are written or Ctrl-C.
    Station(StationArgs),
    /// Print the man page or a shell's completion script (for packagers; meson runs it).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

/// `blockprint copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The image: a file (raw, or compressed or archived in any supported format, told by
    /// its content), `-` for standard input, an http(s):// URL,
    /// ssh://[user@]host[:port]/path, or catalog:ID for an entry of the catalog (its id or
    /// name, as `blockprint catalog` lists them), checked against the catalog's SHA-256s.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The catalog catalog:ID looks in: an http(s) address or a .json file (default:
    /// Raspberry Pi's list).
    #[arg(long, value_name = "CATALOG")]
    pub catalog: Option<String>,

    /// The fingerprint of the key that must have signed the catalog (a .sig or .asc next to
    /// it); without it, a signature is checked when there is one.
    #[arg(long, value_name = "FINGERPRINT")]
    pub catalog_key: Option<String>,

    /// Where to write it: a block device (e.g. /dev/sdb) or a file. Several DESTs are written
    /// at once, the image read and verified once; each gets its own result.
    #[arg(value_name = "DEST", required = true, num_args = 1..)]
    pub dest: Vec<PathBuf>,

    /// The bmap file or URL (default: found next to the image, as bmaptool does).
    #[arg(long, value_name = "BMAP", conflicts_with = "nobmap")]
    pub bmap: Option<String>,

    /// Copy the whole image, without a bmap. Without this option and without a bmap, only
    /// the blocks the image's filesystems use are written: an image with random access (a
    /// raw file, a raw image over HTTP, an uncompressed tar or stored zip member, an xz file
    /// of several blocks) is scanned first, any other as it is read.
    #[arg(long)]
    pub nobmap: bool,

    /// Save the bmap of what was written, with the SHA-256 of each range, to this file: the
    /// next copy of the same image can use it (with a bmap given or found, that bmap).
    #[arg(long, value_name = "FILE", conflicts_with = "nobmap")]
    pub save_bmap: Option<PathBuf>,

    /// Without a bmap, say per partition what its filesystem uses and why (and, for an
    /// image read as it passes, what was known in time to be left out).
    #[arg(long)]
    pub explain: bool,

    /// A detached signature of the bmap, file or URL (default: BMAP.asc, BMAP.sig or
    /// BMAP.gpg next to the bmap, if one exists).
    #[arg(long, value_name = "SIG", conflicts_with = "no_sig_verify")]
    pub bmap_sig: Option<String>,

    /// Do not check the bmap's OpenPGP signature.
    #[arg(long, conflicts_with_all = ["keyring", "fingerprint", "require_signature"])]
    pub no_sig_verify: bool,

    /// Refuse a bmap that is not signed (a valid signature by a trusted key is always
    /// required once a bmap is signed), and an image without a bmap.
    #[arg(long, conflicts_with = "nobmap")]
    pub require_signature: bool,

    /// Keyring to check the bmap's signature against, instead of the trusted-keys folders
    /// (armored or binary, as `gpg --export` writes; a GnuPG keybox works too).
    #[arg(long, value_name = "KEYRING")]
    pub keyring: Option<PathBuf>,

    /// Fingerprint of the key that must have signed the bmap (40 or 64 hex digits; spaces
    /// allowed).
    #[arg(long, value_name = "FPR", value_parser = parse_fingerprint)]
    pub fingerprint: Option<String>,

    /// Do not verify the range checksums while writing.
    #[arg(long)]
    pub no_verify: bool,

    /// Read every written range back from DEST and compare it.
    #[arg(long)]
    pub verify_readback: bool,

    /// Write "PROGRESS <percent>" lines to this FIFO (psplash).
    #[arg(long, value_name = "PATH")]
    pub psplash_pipe: Option<PathBuf>,

    /// Refuse DEST unless it is a removable block device.
    #[arg(long)]
    pub removable_device: bool,

    /// Power the drive off once written (through udisksd), so that it can be pulled out:
    /// the default for a removable drive written without root.
    #[arg(long, conflicts_with = "no_power_off")]
    pub power_off: bool,

    /// Leave the drive powered on once written.
    #[arg(long)]
    pub no_power_off: bool,

    /// First-boot settings to write into the image's boot partition once it is written: a
    /// TOML file with hostname, [user], [ssh], [wifi] and [locale] (see the README). They go
    /// in the format the image reads at first boot (Raspberry Pi OS's firstrun.sh,
    /// cloud-init's seed, rpi-preseed.toml): the catalog entry's, else found in the image. An
    /// image that takes none is refused, before anything is written when it is a plain image
    /// file. The files are read back, and DEST's first MiB is written only once they match,
    /// so a card whose settings did not stick does not boot. Every DEST gets the same settings.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// Give up on a drive that has not finished a write for this many seconds (a hung card
    /// or reader), and on a web server that has sent nothing for as long.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    /// Write an image that will not work written raw anyway: a Windows installer ISO, or a
    /// file that is no disk image at all (a PDF, a program, a package, an archive of
    /// documents). Without it such an image is refused before anything is written.
    #[arg(long)]
    pub force: bool,

    /// Before writing a block device, find out how much it really holds (a few seconds):
    /// self-identifying blocks are written over its whole advertised capacity and read back.
    /// A counterfeit card is named as such; the write is refused when the image does not fit
    /// what it really holds.
    #[arg(long)]
    pub check_capacity: bool,
}

/// `blockprint check-card`.
#[derive(Debug, Args)]
pub struct CheckCardArgs {
    /// The drive to test, such as /dev/sdb or /dev/mmcblk0. What a counterfeit holds may be
    /// lost; a genuine drive keeps it, unless --full.
    #[arg(value_name = "DEVICE")]
    pub device: PathBuf,

    /// Test the whole surface, as f3write and f3read do: a pattern over every byte, read
    /// back, with the speed and the bad regions listed (as long as writing the drive full,
    /// then reading it all).
    #[arg(long)]
    pub full: bool,

    /// Give up on a drive that has not finished a write, a read or a flush for this many
    /// seconds (a hung card or reader).
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

/// `blockprint station`.
#[derive(Debug, Args)]
pub struct StationArgs {
    /// The image: a file (raw, or compressed or archived in any supported format), or an
    /// http(s):// URL, downloaded once before the first card.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The bmap file or URL (default: found next to the image). Without one, only what the
    /// image's filesystems use is written, and the bmap of the first card written serves
    /// the next ones.
    #[arg(long, value_name = "BMAP")]
    pub bmap: Option<String>,

    /// First-boot settings for every card (the TOML file of `copy --settings`). A hostname
    /// with {n} numbers the cards: "pi-{n:02}" names them pi-01, pi-02 and so on.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// Stop once this many cards are written.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Append one JSON line per card to this file: time, card, device, model, serial, size,
    /// hostname, result, bytes, seconds, mb_per_s, verified, removal, error.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Never write a drive larger than this: bytes, or with a unit (64G, 500M; K, M, G, T
    /// are powers of 1000, KiB, MiB, GiB, TiB of 1024).
    #[arg(long, value_name = "SIZE", default_value = "128G", value_parser = parse_size)]
    pub max_size: u64,

    /// Also take internal drives and loop devices (as `list --all` shows them), never a
    /// drive holding the running system.
    #[arg(long)]
    pub all: bool,

    /// Do not read each card back after writing it.
    #[arg(long)]
    pub no_verify_readback: bool,

    /// Leave each card powered on once written.
    #[arg(long)]
    pub no_power_off: bool,

    /// Write an image that will not work written raw anyway (a Windows installer ISO, a file
    /// that is no disk image); without it, such an image is refused before any card.
    #[arg(long)]
    pub force: bool,

    /// Give up on a card that has not finished a write for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

/// A size as people write it: `128G`, `500M`, `64GiB`, `1000000`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "'{text}' is not a size (such as 64G, 500M or 32GiB)"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("'{text}' is not a size (such as 64G, 500M or 32GiB)"))
}

/// `blockprint create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The sparse image file.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// Write the bmap here instead of to standard output.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// Leave out the per-range checksums.
    #[arg(long)]
    pub no_checksum: bool,
}

/// `blockprint scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The image: raw, or compressed or archived (decoded to a temporary file first), or a URL.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Write the bmap here instead of to standard output.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// Also punch holes into the (raw) image for the free blocks.
    #[arg(long)]
    pub sparse: bool,

    /// Say, per partition, what was recognised, how much is free, and why anything is mapped
    /// whole.
    #[arg(long)]
    pub explain: bool,

    /// Leave out the per-range checksums.
    #[arg(long)]
    pub no_checksum: bool,
}

/// `blockprint backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The card or disk to back up: a block device (read with O_DIRECT; refused while any of
    /// its partitions is mounted read-write, unless --unmount; without root, read through
    /// udisksd as polkit allows) or a raw image file.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// The backup file to make, put in place only once complete. Its ending chooses the
    /// format unless --format does: .zst, .xz, .gz, anything else a raw sparse image.
    #[arg(value_name = "OUT")]
    pub out: PathBuf,

    /// Where to write the bmap (default: OUT.bmap).
    #[arg(long, value_name = "FILE")]
    pub bmap: Option<PathBuf>,

    /// The format: raw, zst, xz or gz (default: from OUT's ending).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<blockprint::backup::Format>,

    /// Compression threads for zst and xz (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Compression level: zst 1-19 (default 3), xz 0-9 (default 6), gz 1-9 (default 6).
    #[arg(long, value_name = "LEVEL", allow_negative_numbers = true)]
    pub level: Option<i32>,

    /// Leave out the per-range checksums of the bmap.
    #[arg(long)]
    pub no_checksum: bool,

    /// Unmount the drive's filesystems that are mounted read-write first, so the backup is
    /// consistent (without it such a drive is refused; read-only mounts are left alone).
    #[arg(long)]
    pub unmount: bool,

    /// Sign the bmap with this OpenPGP secret key file (as `gpg --export-secret-keys
    /// --armor FINGERPRINT` writes it): a detached signature, BMAP.asc, that blockprint,
    /// bmaptool and gpg check. A passphrase is asked on the terminal.
    #[arg(long, value_name = "KEYFILE")]
    pub sign_with: Option<PathBuf>,

    /// Read the signing key's passphrase from the first line of this file instead of the
    /// terminal.
    #[arg(long, value_name = "FILE", requires = "sign_with")]
    pub passphrase_file: Option<PathBuf>,

    /// Say, per partition, what was recognised and how much of it is free.
    #[arg(long)]
    pub explain: bool,
}

/// `blockprint list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every disk with media, also internal and loop devices (default: removable drives and
    /// drives on USB, SD/MMC or FireWire).
    #[arg(long)]
    pub all: bool,

    /// Print JSON (an array of drives, each with its guards) instead of text.
    #[arg(long)]
    pub json: bool,

    /// Judge the drives for this image: its size, and whether a drive holds it.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<PathBuf>,
}

/// `blockprint catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// The catalog: an http(s) address or the path of a .json list in Raspberry Pi Imager's
    /// format (default: Raspberry Pi's own list).
    #[arg(long, value_name = "CATALOG")]
    pub catalog: Option<String>,

    /// The fingerprint of the key that must have signed the catalog (a .sig or .asc next to
    /// it); without it, a signature is checked when there is one.
    #[arg(long, value_name = "FINGERPRINT")]
    pub catalog_key: Option<String>,

    /// Only what runs on this board: its name ("Raspberry Pi 5") or one of its tags
    /// ("pi5-64bit").
    #[arg(long, value_name = "BOARD")]
    pub device: Option<String>,

    /// Print JSON (an array of images with their sizes, checksums and addresses).
    #[arg(long)]
    pub json: bool,

    /// Only images whose name or description holds all these words.
    #[arg(value_name = "SEARCH")]
    pub search: Vec<String>,
}

/// `blockprint cache`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CacheAction,
}

/// `blockprint cache list|clear`.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// The downloads kept, the most recently used first: SHA-256, size, last use.
    List,
    /// Delete every download kept.
    Clear,
}

/// `blockprint verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bmap (file or URL) whose checksums the target must match.
    #[arg(long, value_name = "BMAP")]
    pub bmap: String,

    /// The written block device or file.
    #[arg(value_name = "TARGET")]
    pub target: PathBuf,
}

/// `blockprint verify-sig`.
#[derive(Debug, Args)]
pub struct VerifySigArgs {
    /// The bmap, file or URL.
    #[arg(value_name = "BMAP")]
    pub bmap: String,

    /// A detached signature, file or URL (default: found next to the bmap).
    #[arg(long, value_name = "SIG")]
    pub bmap_sig: Option<String>,

    /// Keyring to check against, instead of the trusted-keys folders.
    #[arg(long, value_name = "KEYRING")]
    pub keyring: Option<PathBuf>,

    /// Fingerprint of the key that must have signed the bmap (40 or 64 hex digits; spaces
    /// allowed).
    #[arg(long, value_name = "FPR", value_parser = parse_fingerprint)]
    pub fingerprint: Option<String>,
}

/// A full OpenPGP fingerprint as people paste it: spaces and a `0x` prefix allowed, any case.
fn parse_fingerprint(text: &str) -> Result<String, String> {
    let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let hex = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .unwrap_or(&hex);
    let full = matches!(hex.len(), 40 | 64) && hex.chars().all(|c| c.is_ascii_hexdigit());
    if full {
        Ok(hex.to_ascii_uppercase())
    } else {
        Err(format!(
            "'{text}' is not a key fingerprint (40 or 64 hex digits, as `gpg --fingerprint` shows)"
        ))
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(cli.quiet, cli.debug);
    let result = match cli.command {
        Some(Command::Copy(args)) => copy::run(&args, &out),
        Some(Command::Create(args)) => create::run(&args, &out),
        Some(Command::Scan(args)) => scan::run(&args, &out),
        Some(Command::Verify(args)) => verify::run(&args, &out),
        Some(Command::VerifySig(args)) => verify::run_signature(&args, &out),
        Some(Command::Backup(args)) => backup::run(&args, &out),
        Some(Command::List(args)) => list::run(&args, &out),
        Some(Command::Catalog(args)) => catalog::run(&args, &out),
        Some(Command::Cache(args)) => catalog::cache(&args, &out),
        Some(Command::CheckCard(args)) => check_card::run(&args, &out),
        #[cfg(feature = "gui")]
        Some(Command::Station(args)) => station::run(&args, &out),
        #[cfg(not(feature = "gui"))]
        Some(Command::Station(_)) => Err(anyhow::anyhow!(
            "this build of blockprint has no UDisks2 support, which the station needs to see \
             drives come and go"
        )),
        Some(Command::Generate(args)) => generate::run(&args),
        None => {
            use clap::CommandFactory;
            // Printing help can only fail on a closed stderr, where nothing can be reported.
            let _ = Cli::command().print_help();
            return if cli.images.is_empty() {
                ExitCode::SUCCESS
            } else {
                output::write_raw("\n");
                output::say(
                    "",
                    &"this build has no desktop app; write images with `blockprint copy`",
                );
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            out.error(&error);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_as_people_write_them() {
        assert_eq!(parse_size("128G"), Ok(128_000_000_000));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("500 mb"), Ok(500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "G", "12X", "-5G", "99999999999999T"] {
            assert!(parse_size(bad).unwrap_err().contains("not a size"), "{bad}");
        }
    }
}
