//! `blockprint list [--all] [--json] [--image IMAGE]`: the drives an image could be written to,
//! each with its guards. From UDisks2 when it answers on the system bus (gui builds), else from
//! sysfs, which is said.

use std::io::Write;

use anyhow::Context as _;
use blockprint::drives::{self, Context, Drive, Severity};
use blockprint::size::human;
use blockprint::source::{Input, Opener};

use super::output::escape_controls;
use super::{ListArgs, Output};

pub(super) fn run(args: &ListArgs, out: &Output) -> anyhow::Result<()> {
    let all = enumerate(out);
    let image_size = match &args.image {
        Some(path) => {
            let input = Input::parse(&path.to_string_lossy())?;
            let opened = Opener::new().open(&input)?;
            opened.source.size()
        }
        None => None,
    };
    let context = Context {
        image: args.image.as_deref(),
        image_size,
    };
    let shown: Vec<&Drive> = all.iter().filter(|d| d.is_candidate(args.all)).collect();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = shown
            .iter()
            .map(|d| d.to_json(&d.guards(&context)))
            .collect();
        let text = serde_json::to_string_pretty(&list).context("cannot format the list")?;
        writeln!(stdout, "{text}").context("cannot write to standard output")?;
        return Ok(());
    }
    if shown.is_empty() {
        out.info(if args.all {
            "no drives with media found"
        } else {
            "no removable drives found (--all lists every disk)"
        });
    }
    for drive in shown {
        let guards = drive.guards(&context);
        let verdict = match guards.first().map(|g| g.severity) {
            Some(Severity::Blocked) => "not writable",
            Some(Severity::Confirm) => "needs confirmation",
            _ => "ok",
        };
        // Models and labels come from the drive itself: shown with their controls escaped,
        // as every message is.
        let line = format!(
            "{}\t{}\t{}\t{}",
            drive.device.display(),
            human(drive.size),
            drive.display_name(),
            verdict
        );
        writeln!(stdout, "{}", escape_controls(&line))
            .context("cannot write to standard output")?;
        for volume in &drive.volumes {
            let mounts: Vec<String> = volume
                .mount_points
                .iter()
                .map(|m| m.display().to_string())
                .collect();
            let mounted = if mounts.is_empty() {
                String::new()
            } else {
                format!("on {}", mounts.join(", "))
            };
            let device = volume.device.display().to_string();
            let line = [device.as_str(), &volume.fs_type, &volume.label, &mounted]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            writeln!(stdout, "  {}", escape_controls(&line))
                .context("cannot write to standard output")?;
        }
        for guard in guards {
            writeln!(stdout, "  {}", escape_controls(&guard.to_string()))
                .context("cannot write to standard output")?;
        }
    }
    Ok(())
}

/// Every drive: through UDisks2 if it answers, else from sysfs (said once, on stderr).
fn enumerate(out: &Output) -> Vec<Drive> {
    #[cfg(feature = "gui")]
    {
        match blockprint::udisks::Udisks::connect().and_then(|u| u.drives()) {
            Ok(found) => return found,
            Err(e) => out.info(format_args!("{e}; listing from sysfs instead")),
        }
    }
    #[cfg(not(feature = "gui"))]
    out.info("built without UDisks2 support: listing from sysfs");
    drives::sysfs::list()
}
