//! Step 3: the write as it happens (stage, bar, speed, time left, Cancel; with several drives
//! a line and a bar for each), then its end: "Safe to remove", an error with its fix and
//! details, or "Writing stopped"; with several drives, what became of each.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::drive_line::{self, DriveLine, LineRow};
use super::i18n::gettext_f;
use super::job::Stage;
use super::page;
use super::progress::Meter;
use super::wording::{self, UserError, size};

/// How the write ended, as shown.
#[derive(Debug, Clone)]
pub enum Ending {
    /// Done.
    Done {
        /// "Safe to Remove" or "Done".
        title: String,
        /// Time, bytes and what was verified.
        body: String,
    },
    /// Failed.
    Failed(UserError),
    /// Stopped by the user.
    Cancelled {
        /// Whether the drive was touched.
        touched: bool,
    },
    /// A write to several drives.
    Several {
        /// "Safe to Remove", "1 of 3 Drives Not Written".
        title: String,
        /// What to do now.
        body: String,
        /// How it went, for the icon and colour.
        look: Look,
        /// Each drive's end.
        lines: Vec<DriveLine>,
        /// The engine's words for each failure.
        details: Option<String>,
        /// Whether some drive failed or was stopped and can be written again.
        retry_failed: bool,
    },
}

/// How an ending looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// All went well.
    Done,
    /// Something failed.
    Failed,
    /// The user stopped it.
    Stopped,
}

/// What the page shows.
#[derive(Debug, Clone, Default)]
pub struct WriteView {
    /// "Writing debian.img to SanDisk Ultra".
    pub headline: String,
    /// Progress, while running (with several drives, the least advanced one's).
    pub meter: Option<Meter>,
    /// With several drives: one line each, while running.
    pub lines: Vec<DriveLine>,
    /// Whether read-back verification is on.
    pub verify: bool,
    /// The end, once over.
    pub ending: Option<Ending>,
}

/// The write page.
pub struct WritePage {
    view: WriteView,
}

/// Its inputs.
#[derive(Debug)]
pub enum WritePageInput {
    /// Show this.
    Show(Box<WriteView>),
}

/// Its widgets.
pub struct WritePageWidgets {
    running: gtk::Box,
    title: gtk::Label,
    headline: gtk::Label,
    stages: Vec<(Stage, gtk::Image, gtk::Label)>,
    bar: gtk::ProgressBar,
    stats: gtk::Label,
    lines: gtk::ListBox,
    line_rows: Vec<LineRow>,
    skip: gtk::Button,
    ended: adw::StatusPage,
    ended_lines: gtk::ListBox,
    ended_rows: Vec<LineRow>,
    retry: gtk::Button,
    retry_failed: gtk::Button,
    details: gtk::Expander,
    details_text: gtk::Label,
}

const STAGES: [Stage; 4] = [
    Stage::Preparing,
    Stage::Writing,
    Stage::Verifying,
    Stage::Finishing,
];

impl SimpleComponent for WritePage {
    type Init = ();
    type Input = WritePageInput;
    type Output = ();
    type Root = gtk::ScrolledWindow;
    type Widgets = WritePageWidgets;

    fn init_root() -> Self::Root {
        page::root()
    }

    fn init(_: (), root: Self::Root, _sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let outer = page::content(&root, 0, 560, true);

        let running = gtk::Box::new(gtk::Orientation::Vertical, 18);
        let title = gtk::Label::builder().wrap(true).build();
        title.add_css_class("title-1");
        let headline = gtk::Label::builder()
            .wrap(true)
            .justify(gtk::Justification::Center)
            .build();
        headline.add_css_class("dim-label");
        running.append(&title);
        running.append(&headline);

        let strip = gtk::FlowBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .homogeneous(true)
            .min_children_per_line(2)
            .max_children_per_line(4)
            .focusable(false)
            .build();
        let mut stages = Vec::new();
        for stage in STAGES {
            let cell = gtk::Box::new(gtk::Orientation::Horizontal, 6);
            cell.set_halign(gtk::Align::Center);
            let icon = gtk::Image::from_icon_name("content-loading-symbolic");
            let label = gtk::Label::new(Some(&wording::stage(stage)));
            cell.append(&icon);
            cell.append(&label);
            strip.insert(&cell, -1);
            stages.push((stage, icon, label));
        }
        if let Some(first) = strip.first_child() {
            let mut child = Some(first);
            while let Some(c) = child {
                c.set_focusable(false);
                child = c.next_sibling();
            }
        }
        running.append(&strip);
        let lines = line_list();
        running.append(&lines);

        let bar = gtk::ProgressBar::builder().show_text(true).build();
        crate::gui::a11y::label(&bar, &gettext("Progress"));
        running.append(&bar);
        let stats = gtk::Label::new(None);
        stats.add_css_class("dim-label");
        stats.add_css_class("numeric");
        running.append(&stats);
        let buttons = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        buttons.set_halign(gtk::Align::Center);
        let skip = page::pill(&gettext("_Skip Verification"), "app.skip-verify", None);
        skip.set_tooltip_text(Some(&gettext(
            "The image is written; only reading it back is skipped",
        )));
        buttons.append(&skip);
        buttons.append(&page::pill(&gettext("_Cancel"), "app.cancel-write", None));
        running.append(&buttons);
        outer.append(&running);

        let ended = adw::StatusPage::new();
        let actions = gtk::Box::new(gtk::Orientation::Vertical, 12);
        actions.set_halign(gtk::Align::Center);
        let ended_lines = line_list();
        let retry = page::pill(
            &gettext("_Try Again"),
            "app.write",
            Some("suggested-action"),
        );
        actions.append(&retry);
        let retry_failed = page::pill(
            &gettext("_Retry Failed Drives"),
            "app.retry-failed",
            Some("suggested-action"),
        );
        actions.append(&retry_failed);
        actions.append(&page::pill(
            &gettext("Write _Another Drive"),
            "app.write-another",
            None,
        ));
        actions.append(&page::pill(
            &gettext("Choose Another _Image"),
            "app.start-over",
            None,
        ));
        actions.append(&page::pill(
            &gettext("_Restore Drive…"),
            "app.restore-drive",
            None,
        ));
        let details_text = gtk::Label::builder()
            .selectable(true)
            .wrap(true)
            .wrap_mode(relm4::gtk::pango::WrapMode::WordChar)
            .xalign(0.0)
            .build();
        details_text.add_css_class("monospace");
        let details = gtk::Expander::builder()
            .label(gettext("Technical _Details"))
            .use_underline(true)
            .child(&details_text)
            .build();
        actions.append(&details);
        let ended_box = gtk::Box::new(gtk::Orientation::Vertical, 24);
        ended_box.append(&ended_lines);
        ended_box.append(&actions);
        ended.set_child(Some(&ended_box));
        outer.append(&ended);

        let model = WritePage {
            view: WriteView::default(),
        };
        let widgets = WritePageWidgets {
            running,
            title,
            headline,
            stages,
            bar,
            stats,
            lines,
            line_rows: Vec::new(),
            skip,
            ended,
            ended_lines,
            ended_rows: Vec::new(),
            retry,
            retry_failed,
            details,
            details_text,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, _sender: ComponentSender<Self>) {
        match msg {
            WritePageInput::Show(view) => self.view = *view,
        }
    }

    fn update_view(&self, w: &mut Self::Widgets, _sender: ComponentSender<Self>) {
        let view = &self.view;
        w.running.set_visible(view.ending.is_none());
        w.ended.set_visible(view.ending.is_some());
        w.headline.set_label(&view.headline);
        if let Some(meter) = &view.meter {
            show_meter(w, meter, view.verify, view.lines.is_empty());
        }
        drive_line::show_all(&w.lines, &mut w.line_rows, &view.lines);
        let Some(ending) = &view.ending else {
            return;
        };
        let (look, title, body) = match ending {
            Ending::Done { title, body } => (Look::Done, title.clone(), body.clone()),
            Ending::Failed(e) => (Look::Failed, e.title.clone(), e.body.clone()),
            Ending::Several {
                title, body, look, ..
            } => (*look, title.clone(), body.clone()),
            Ending::Cancelled { touched } => (
                Look::Stopped,
                gettext("Writing Stopped"),
                if *touched {
                    gettext(
                        "The drive is only partly written and will not work: write it again, \
                         or restore it to use it for files.",
                    )
                } else {
                    gettext("Nothing was written to the drive.")
                },
            ),
        };
        let (icon, class) = match look {
            Look::Done => ("emblem-ok-symbolic", "ending-done"),
            Look::Failed => ("dialog-error-symbolic", "ending-failed"),
            Look::Stopped => ("dialog-warning-symbolic", "ending-stopped"),
        };
        w.ended.set_icon_name(Some(icon));
        w.ended.set_title(&title);
        w.ended.set_description(Some(&escape(&body)));
        for c in ["ending-done", "ending-failed", "ending-stopped"] {
            w.ended.remove_css_class(c);
        }
        w.ended.add_css_class(class);
        // Several drives: a smaller icon, so their lines and the buttons fit.
        if matches!(ending, Ending::Several { .. }) {
            w.ended.add_css_class("compact");
        } else {
            w.ended.remove_css_class("compact");
        }
        w.retry.set_visible(matches!(
            ending,
            Ending::Failed(_) | Ending::Cancelled { .. }
        ));
        let (lines, details, retry_failed) = match ending {
            Ending::Several {
                lines,
                details,
                retry_failed,
                ..
            } => (&lines[..], details.clone(), *retry_failed),
            Ending::Failed(e) => (&[][..], Some(e.details.clone()), false),
            _ => (&[][..], None, false),
        };
        w.retry_failed.set_visible(retry_failed);
        drive_line::show_all(&w.ended_lines, &mut w.ended_rows, lines);
        w.details.set_visible(details.is_some());
        w.details_text
            .set_label(details.as_deref().unwrap_or_default());
    }
}

/// An empty list of drive lines.
fn line_list() -> gtk::ListBox {
    let list = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .visible(false)
        .build();
    list.add_css_class("boxed-list");
    crate::gui::a11y::label(&list, &gettext("Drives"));
    list
}

/// The stage strip and title; the big bar and its numbers only for one drive (several have a
/// bar each).
fn show_meter(w: &WritePageWidgets, meter: &Meter, verify: bool, one_drive: bool) {
    w.title.set_label(&wording::stage(meter.stage));
    w.skip.set_visible(meter.stage == Stage::Verifying);
    for (stage, icon, label) in &w.stages {
        let skipped = *stage == Stage::Verifying && !verify;
        let (name, state) = if skipped {
            ("action-unavailable-symbolic", gettext("skipped"))
        } else if *stage < meter.stage {
            ("emblem-ok-symbolic", gettext("done"))
        } else if *stage == meter.stage {
            ("media-playback-start-symbolic", gettext("in progress"))
        } else {
            ("content-loading-symbolic", gettext("to do"))
        };
        icon.set_icon_name(Some(name));
        label.set_sensitive(*stage >= meter.stage && !skipped);
        crate::gui::a11y::description(label, &state);
    }
    w.bar.set_visible(one_drive);
    w.stats.set_visible(one_drive);
    match meter.fraction() {
        Some(fraction) => w.bar.set_fraction(fraction),
        None => w.bar.pulse(),
    }
    w.bar.set_text(Some(&amount(meter)));
    w.stats.set_label(&pace(meter));
}

/// "412 MB of 812 MB", or what the drive is doing when the amount is not known.
pub fn amount(meter: &Meter) -> String {
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
pub fn pace(meter: &Meter) -> String {
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
