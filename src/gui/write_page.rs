//! Step 3: the write as it happens (stage, bar, speed, time left, Cancel; with several drives
//! a line and a bar for each), then its end: "Safe to remove", an error with its fix and
//! details, or "Writing stopped"; with several drives, what became of each.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::job::Stage;
use super::page::{self, Details};
use super::wording;
use super::write_line::{self, WriteLine, WriteLineRow};

/// What the page shows.
#[derive(Debug, Clone, Default)]
pub struct WriteView {
    /// "debian.img to SanDisk Ultra (32.0 GB)".
    pub headline: String,
    /// How far it is, while running (with several drives, the least advanced one).
    pub progress: Option<Progress>,
    /// With several drives: one line each, while running.
    pub lines: Vec<WriteLine>,
    /// The end, once over.
    pub ending: Option<Ending>,
}

/// The write as it goes.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The stage on screen, as the title.
    pub title: String,
    /// Where each stage of [`STAGES`] is, in that order.
    pub marks: Vec<Mark>,
    /// With one drive: the big bar and its numbers.
    pub bar: Option<Bar>,
    /// Whether "Skip Verification" is offered (while reading back).
    pub skip: bool,
}

/// Where a stage is, and the word a screen reader says for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Where it is.
    pub state: MarkState,
    /// "done", "in progress".
    pub spoken: String,
}

/// Where a stage of the strip is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkState {
    /// Over.
    Done,
    /// Under way.
    Current,
    /// Still to come.
    ToDo,
    /// Left out (verification is off).
    Skipped,
}

/// The bar of a write to one drive.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// How far, 0 to 1; `None` pulses (the amount is not known).
    pub fraction: Option<f64>,
    /// On the bar: "412 MB of 812 MB".
    pub text: String,
    /// Under it: "23.4 MB/s · About 2 minutes left".
    pub stats: String,
}

/// How the write ended, as shown.
#[derive(Debug, Clone)]
pub struct Ending {
    /// "Safe to Remove", "Write Failed", "1 of 3 Drives Not Written".
    pub title: String,
    /// What happened and what to do now.
    pub body: String,
    /// How it went, for the icon and colour.
    pub look: Look,
    /// With several drives: each drive's end.
    pub lines: Vec<WriteLine>,
    /// The engine's words for each failure.
    pub details: Option<String>,
    /// Whether "Try Again" is offered (one drive, failed or stopped).
    pub retry: bool,
    /// Whether "Retry Failed Drives" is offered (several, some failed or stopped).
    pub retry_failed: bool,
    /// The image failed, not the drive: "Choose Another Image" is the suggested way on.
    pub image_at_fault: bool,
    /// Written, but it could not be powered off: "Eject" tries again.
    pub eject: bool,
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
    stages: Vec<(gtk::Image, gtk::Label)>,
    bar: gtk::ProgressBar,
    stats: gtk::Label,
    lines: gtk::ListBox,
    line_rows: Vec<WriteLineRow>,
    skip: gtk::Button,
    ended: adw::StatusPage,
    ended_lines: gtk::ListBox,
    ended_rows: Vec<WriteLineRow>,
    eject: gtk::Button,
    retry: gtk::Button,
    retry_failed: gtk::Button,
    another: gtk::Button,
    other_image: gtk::Button,
    details: Details,
}

/// The stages of the strip, in order.
pub const STAGES: [Stage; 4] = [
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

        // One row of equal cells, the icon above its word: it never wraps, even at 360 px
        // (a word too long for its cell is ellipsized and still read in full by a screen
        // reader through the cell's description).
        let strip = gtk::Box::builder()
            .orientation(gtk::Orientation::Horizontal)
            .homogeneous(true)
            .spacing(6)
            .build();
        let mut stages = Vec::new();
        for stage in STAGES {
            let cell = gtk::Box::new(gtk::Orientation::Vertical, 4);
            let icon = gtk::Image::from_icon_name("radio-symbolic");
            let label = gtk::Label::builder()
                .label(wording::stage(stage))
                .ellipsize(gtk::pango::EllipsizeMode::End)
                .build();
            label.add_css_class("caption");
            cell.append(&icon);
            cell.append(&label);
            strip.append(&cell);
            stages.push((icon, label));
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
        let buttons = page::button_column();
        let skip = page::pill(&gettext("_Skip Verification"), "app.skip-verify", None);
        skip.set_tooltip_text(Some(&gettext(
            "The image is written; only reading it back is skipped",
        )));
        buttons.append(&skip);
        buttons.append(&page::pill(&gettext("_Cancel"), "app.cancel-write", None));
        running.append(&buttons);
        outer.append(&running);

        let ended = adw::StatusPage::new();
        // The buttons keep their own width; Technical Details sits below them, as wide as the
        // page, so opening it moves nothing.
        let actions = gtk::Box::new(gtk::Orientation::Vertical, 12);
        actions.set_halign(gtk::Align::Center);
        let ended_lines = line_list();
        let eject = page::pill(&gettext("_Eject"), "app.eject-drive", None);
        actions.append(&eject);
        let retry = page::pill(&gettext("_Try Again"), "app.write", None);
        actions.append(&retry);
        let retry_failed = page::pill(&gettext("_Retry Failed Drives"), "app.retry-failed", None);
        actions.append(&retry_failed);
        let another = page::pill(&gettext("Write _Another Drive"), "app.write-another", None);
        actions.append(&another);
        let other_image = page::pill(&gettext("Choose Another _Image"), "app.start-over", None);
        actions.append(&other_image);
        let details = Details::new();
        let ended_box = gtk::Box::new(gtk::Orientation::Vertical, 24);
        ended_box.append(&ended_lines);
        ended_box.append(&actions);
        ended_box.append(&details.expander);
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
            eject,
            retry,
            retry_failed,
            another,
            other_image,
            details,
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
        if let Some(progress) = &view.progress {
            show_progress(w, progress);
        }
        write_line::show_all(&w.lines, &mut w.line_rows, &view.lines);
        let Some(ending) = &view.ending else {
            return;
        };
        let (icon, class) = match ending.look {
            Look::Done => ("emblem-ok-symbolic", "ending-done"),
            Look::Failed => ("dialog-error-symbolic", "ending-failed"),
            Look::Stopped => ("dialog-warning-symbolic", "ending-stopped"),
        };
        w.ended.set_icon_name(Some(icon));
        w.ended.set_title(&ending.title);
        w.ended.set_description(Some(&escape(&ending.body)));
        for c in ["ending-done", "ending-failed", "ending-stopped"] {
            w.ended.remove_css_class(c);
        }
        w.ended.add_css_class(class);
        // Several drives: a smaller icon, so their lines and the buttons fit.
        if ending.lines.is_empty() {
            w.ended.remove_css_class("compact");
        } else {
            w.ended.add_css_class("compact");
        }
        w.eject.set_visible(ending.eject);
        w.retry.set_visible(ending.retry);
        w.retry_failed.set_visible(ending.retry_failed);
        // One suggested button: the way on that is most likely wanted.
        let suggested = if ending.eject {
            &w.eject
        } else if ending.image_at_fault {
            &w.other_image
        } else if ending.retry {
            &w.retry
        } else if ending.retry_failed {
            &w.retry_failed
        } else {
            &w.another
        };
        for button in [
            &w.eject,
            &w.retry,
            &w.retry_failed,
            &w.another,
            &w.other_image,
        ] {
            if button == suggested {
                button.add_css_class("suggested-action");
            } else {
                button.remove_css_class("suggested-action");
            }
        }
        write_line::show_all(&w.ended_lines, &mut w.ended_rows, &ending.lines);
        w.details.show(ending.details.as_deref());
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
fn show_progress(w: &WritePageWidgets, progress: &Progress) {
    w.title.set_label(&progress.title);
    w.skip.set_visible(progress.skip);
    for ((icon, label), mark) in w.stages.iter().zip(&progress.marks) {
        icon.set_icon_name(Some(match mark.state {
            MarkState::Skipped => "action-unavailable-symbolic",
            MarkState::Done => "emblem-ok-symbolic",
            MarkState::Current => "media-playback-start-symbolic",
            MarkState::ToDo => "radio-symbolic",
        }));
        label.set_sensitive(matches!(mark.state, MarkState::Current | MarkState::ToDo));
        crate::gui::a11y::description(label, &mark.spoken);
    }
    w.bar.set_visible(progress.bar.is_some());
    w.stats.set_visible(progress.bar.is_some());
    if let Some(bar) = &progress.bar {
        match bar.fraction {
            Some(fraction) => w.bar.set_fraction(fraction),
            None => w.bar.pulse(),
        }
        w.bar.set_text(Some(&bar.text));
        w.stats.set_label(&bar.stats);
    }
}
