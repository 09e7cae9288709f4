//! `blockprint verify --bmap BMAP TARGET`.

use anyhow::bail;
use blockprint::discover;
use blockprint::progress::CancelToken;
use blockprint::signature::{Policy, SignatureStatus};
use blockprint::size::human;
use blockprint::source::{Input, Opener};
use blockprint::target::Target;
use blockprint::verify;

use super::copy::{describe, install_interrupt_handler};
use super::progress::TerminalProgress;
use super::signature::{self, SignatureOptions};
use super::{Output, VerifyArgs, VerifySigArgs};

/// Mismatching ranges listed one per line; the rest are counted.
const SHOWN: usize = 20;

pub(super) fn run(args: &VerifyArgs, out: &Output) -> anyhow::Result<()> {
    // Verifying compares data with the bmap; whether the bmap is authentic is copy's question.
    let opener = Opener::new();
    let input = Input::parse(&args.bmap)?;
    let skip = Policy {
        skip: true,
        ..Policy::default()
    };
    let checked = discover::fetch_checked(&input, None, &skip, &opener)?;
    let bmap = checked.parse()?;
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
    let signature = args.bmap_sig.as_deref().map(Input::parse).transpose()?;
    let options = SignatureOptions {
        skip: false,
        keyring: args.keyring.as_deref(),
        fingerprint: args.fingerprint.as_deref(),
        require: false,
    };
    let checked = discover::fetch_checked(&input, signature.as_ref(), &options.policy(), &opener)?;
    signature::report(&checked, out)?;
    if checked.status == SignatureStatus::Unsigned {
        bail!("bmap file '{input}' is not signed");
    }
    // The signed text must also be a sound bmap.
    checked.parse()?;
    Ok(())
}
