//! `blockprint verify --bmap BMAP TARGET`.

use anyhow::bail;
use blockprint::bmap;
use blockprint::progress::CancelToken;
use blockprint::size::human;
use blockprint::source::{Input, Opener};
use blockprint::target::Target;
use blockprint::verify;

use super::copy::{describe, install_interrupt_handler, parse_bmap};
use super::progress::TerminalProgress;
use super::signature::{self, SignatureOptions};
use super::{Output, VerifyArgs, VerifySigArgs};

/// Mismatching ranges listed one per line; the rest are counted.
const SHOWN: usize = 20;

pub(super) fn run(args: &VerifyArgs, out: &Output) -> anyhow::Result<()> {
    // Verifying compares data with the bmap; whether the bmap is authentic is copy's question.
    let opener = Opener::new();
    let input = Input::parse(&args.bmap)?;
    let bytes = opener
        .fetch(&input, bmap::MAX_FILE_SIZE + 1)?
        .ok_or_else(|| anyhow::anyhow!("bmap file '{input}' does not exist"))?;
    let options = SignatureOptions {
        skip: true,
        signature: None,
        keyring: None,
        fingerprint: None,
    };
    let verified = signature::check(&input, &bytes, &options, &opener, out)?;
    let bmap = parse_bmap(&input, &verified.text)?;
    describe(&bmap, out);
    let mut target = Target::open_readonly(&args.target)?;
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel)?;
    let mut progress = TerminalProgress::new(out);
    let result = verify::verify(&bmap, &mut target, &mut progress, &cancel);
    progress.finish();
    let report = result?;
    for m in report.mismatches.iter().take(SHOWN) {
        let range = if m.first == m.last {
            format!("block {}", m.first)
        } else {
            format!("blocks range {}-{}", m.first, m.last)
        };
        out.warn(format_args!(
            "mismatch in {range}: '{}' holds {}, the bmap says {}",
            args.target.display(),
            m.actual,
            m.expected
        ));
    }
    if report.mismatch_count > SHOWN {
        out.warn(format_args!(
            "… and {} more mismatching ranges",
            report.mismatch_count - SHOWN
        ));
    }
    if !report.is_ok() {
        bail!(
            "{} of {} ranges of '{}' do not match bmap file '{}'",
            report.mismatch_count,
            report.ranges,
            args.target.display(),
            args.bmap
        );
    }
    out.info(format_args!(
        "'{}' matches bmap file '{}': {} ranges, {} checked",
        args.target.display(),
        args.bmap,
        report.ranges,
        human(report.bytes)
    ));
    Ok(())
}

/// `blockprint verify-sig BMAP`: the signature status alone; success only if one is valid.
pub(super) fn run_signature(args: &VerifySigArgs, out: &Output) -> anyhow::Result<()> {
    let opener = Opener::new();
    let input = Input::parse(&args.bmap)?;
    let bytes = opener
        .fetch(&input, bmap::MAX_FILE_SIZE + 1)?
        .ok_or_else(|| anyhow::anyhow!("bmap file '{input}' does not exist"))?;
    let options = SignatureOptions {
        skip: false,
        signature: args.bmap_sig.as_deref(),
        keyring: args.keyring.as_deref(),
        fingerprint: args.fingerprint.as_deref(),
    };
    let verified = signature::check(&input, &bytes, &options, &opener, out)?;
    if verified.status.valid().is_none() {
        anyhow::bail!("bmap file '{input}' is not signed");
    }
    // The signed text must also be a sound bmap.
    parse_bmap(&input, &verified.text)?;
    Ok(())
}
