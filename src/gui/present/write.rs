//! The Write step while it runs: the headline, the stage strip and the bar of the least
//! advanced drive, and with several drives a line for each; once over, its ending.

use blockprint::copy::CopyError;
use blockprint::progress::Phase;
use blockprint::source::Input;
use gettextrs::gettext;

use super::ending::{self, ended_line};
use crate::gui::flow::{DriveWrite, Flow, WriteState};
use crate::gui::i18n::{gettext_f, ngettext_f};
use crate::gui::job::Stage;
use crate::gui::meter::Meter;
use crate::gui::wording::{self, UserFacing, drive_name, size};
use crate::gui::write_line::{LineState, WriteLine};
use crate::gui::write_page::{Bar, Look, Mark, MarkState, Progress, STAGES, WriteView};

/// What the Write page shows.
pub fn view(flow: &Flow) -> WriteView {
    let written = flow.write.drives();
    let (progress, lines, ending) = match &flow.write {
        WriteState::Idle => (None, vec![], None),
        WriteState::Running(_) => {
            // The stage strip follows the least advanced drive still written.
            let stage = flow.stage();
            let meter = written
                .iter()
                .find(|d| d.running() && Some(d.meter.stage) == stage)
                .or(written.first())
                .map(|d| &d.meter);
            let several = written.len() > 1;
            let lines = if several {
                written.iter().map(line).collect()
            } else {
                vec![]
            };
            let mut progress = meter.map(|m| progress(m, flow.verify(), !several));
            if let Some(p) = progress.as_mut().filter(|_| downloading(flow)) {
                p.title = gettext("Downloading and writing");
            }
            if let Some(p) = progress.as_mut().filter(|_| flow.stopping()) {
                // Until the job has ended: the stop is under way, nothing more is offered.
                p.title = gettext("Stopping…");
                p.skip = false;
            }
            (progress, lines, None)
        }
        WriteState::Over(_) => {
            let image = flow.image.as_ref().map_or("", |i| i.name.as_str());
            let again = !flow.chosen().is_empty();
            let mut ending = ending::ending(written, image, again);
            if flow.first_boot_left_out && ending.look == Look::Done {
                ending.body.push(' ');
                ending.body.push_str(&gettext(
                    "The first-boot settings were not written: this image has no first-boot \
                     mechanism Blockprint knows.",
                ));
            }
            (None, vec![], Some(ending))
        }
    };
    WriteView {
        headline: headline(flow),
        progress,
        lines,
        ending,
    }
}

/// Whether the image is written as it is downloaded (a catalog image not kept yet), while
/// the drives are at the writing stage: the bar's speed is the download's then.
fn downloading(flow: &Flow) -> bool {
    let cache = crate::gui::settings::image_cache();
    flow.stage() == Some(Stage::Writing)
        && matches!(
            flow.image.as_ref().map(|i| &i.input),
            Some(Input::Catalog(chosen)) if !cache.is_some_and(|c| chosen.cached(&c))
        )
}

/// "debian.img to SanDisk Ultra (32.0 GB)", or "debian.img to 3 drives".
fn headline(flow: &Flow) -> String {
    let drives = flow.last_drives();
    match (flow.image.as_ref(), drives) {
        (Some(image), [drive]) => gettext_f(
            // Translators: "debian.img to SanDisk Ultra (32.0 GB)".
            "{image} to {drive} ({size})",
            &[
                ("image", &image.name),
                ("drive", &drive.display_name()),
                ("size", &size(drive.size)),
            ],
        ),
        (Some(image), _) => ngettext_f(
            // Translators: "debian.img to 3 drives".
            "{image} to {n} drive",
            "{image} to {n} drives",
            drives.len() as u64,
            &[("image", &image.name), ("n", &drives.len().to_string())],
        ),
        _ => String::new(),
    }
}

/// The strip and title at `meter`'s stage; the bar too when `one_drive`.
fn progress(meter: &Meter, verify: bool, one_drive: bool) -> Progress {
    let marks = STAGES
        .iter()
        .map(|&stage| {
            let (state, spoken) = if stage == Stage::Verifying && !verify {
                (MarkState::Skipped, gettext("skipped"))
            } else if stage < meter.stage {
                (MarkState::Done, gettext("done"))
            } else if stage == meter.stage {
                (MarkState::Current, gettext("in progress"))
            } else {
                (MarkState::ToDo, gettext("to do"))
            };
            Mark { state, spoken }
        })
        .collect();
    Progress {
        title: match meter.phase {
            Some(Phase::Settings) => gettext("Writing the first-boot settings"),
            Some(Phase::Probing) => gettext("Checking how much the card really holds"),
            Some(Phase::Rewriting) => gettext("Writing again what did not read back"),
            _ => wording::stage(meter.stage),
        },
        marks,
        bar: one_drive.then(|| Bar {
            fraction: meter.fraction(),
            text: amount(meter),
            stats: pace(meter),
        }),
        skip: meter.stage == Stage::Verifying,
    }
}

/// One drive's line: its stage, bar and pace while written; what became of it after.
pub(super) fn line(written: &DriveWrite) -> WriteLine {
    let name = drive_name(&written.drive);
    if let Some(outcome) = &written.outcome {
        return ended_line(name, outcome);
    }
    if let Some(error) = &written.dropped {
        return WriteLine {
            name,
            status: gettext("Failed"),
            bar: None,
            detail: dropped(error),
            state: LineState::Failed,
        };
    }
    let meter = &written.meter;
    let detail = [amount(meter), pace(meter)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    WriteLine {
        name,
        status: wording::stage(meter.stage),
        bar: Some(meter.fraction()),
        detail,
        state: LineState::Running,
    }
}

/// The one place a drive's failure is worded while the others are still written: what it
/// means for the user. The engine's words (device, offset, errno) stay off the line; the
/// drive's outcome brings them, in its details, when the write is over.
fn dropped(error: &CopyError) -> String {
    let (_, body) = error.user_facing();
    gettext_f(
        // Translators: {reason} is a whole sentence or two on why this drive failed.
        "{reason} The other drives go on.",
        &[("reason", &body)],
    )
}

/// "412 MB of 812 MB", or what the drive is doing when the amount is not known.
fn amount(meter: &Meter) -> String {
    match meter.fraction() {
        Some(_) => gettext_f(
            // Translators: "412 MB of 812 MB".
            "{done} of {total}",
            &[
                ("done", &size(meter.done)),
                ("total", &size(meter.total.unwrap_or_default())),
            ],
        ),
        None => match meter.stage {
            Stage::Preparing => gettext("Unmounting and opening the drive…"),
            _ => gettext("Waiting for the drive to store everything…"),
        },
    }
}

/// "23.4 MB/s · About 2 minutes left", as far as known.
pub(super) fn pace(meter: &Meter) -> String {
    let mut stats = Vec::new();
    if let Some(speed) = meter.speed() {
        // Translators: a speed such as "23.4 MB/s".
        let per_second = gettext_f("{size}/s", &[("size", &size(speed as u64))]);
        stats.push(per_second);
    }
    if let Some(eta) = meter.eta() {
        stats.push(gettext_f(
            "About {duration} left",
            &[("duration", &wording::duration(eta))],
        ));
    }
    stats.join(" · ")
}
