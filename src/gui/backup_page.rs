//! "Back Up Drive…" on a page of its own: what is read from which drive into which file, a bar
//! of the used bytes read, the size saved so far, speed and time left, and Cancel; then its
//! end, good or bad, with the way on.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::page::{self, Details};
use super::write_page::Look;

/// What the page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupView {
    /// The backup as it goes, while it runs.
    pub running: Option<BackupProgress>,
    /// How it ended.
    pub end: Option<BackupEnding>,
}

/// The backup as it goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupProgress {
    /// "Backing Up SanDisk Ultra".
    pub title: String,
    /// "To SanDisk-Ultra-2025-05-01.img.zst in /home/me".
    pub headline: String,
    /// What it is doing: "Reading the blocks in use".
    pub status: String,
    /// How far the reading is, 0 to 1; `None` before it begins (a spinner then).
    pub fraction: Option<f64>,
    /// "Read 412 MB of 1.1 GB used (of 32 GB)", while reading.
    pub amount: String,
    /// "Saved so far: 180 MB", while reading.
    pub saved: String,
    /// "23.4 MB/s · About 2 minutes left", as far as known.
    pub pace: String,
    /// Whether Cancel is offered (not once it is stopping).
    pub can_cancel: bool,
}

/// How the backup ended, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEnding {
    /// "Backup Saved", "Backup Failed", "Backup Cancelled".
    pub title: String,
    /// What it holds and how to use it, or what went wrong and what to do.
    pub body: String,
    /// How it went, for the icon and colour.
    pub look: Look,
    /// The engine's words, when it failed.
    pub details: Option<String>,
    /// Whether "Try Again" is offered (and suggested): it failed.
    pub retry: bool,
    /// Whether "Show in Files" is offered: it was saved.
    pub show: bool,
}

/// The backup page.
pub struct BackupPage {
    view: BackupView,
}

/// Its inputs.
#[derive(Debug)]
pub enum BackupPageInput {
    /// Show this.
    Show(Box<BackupView>),
}

/// Its widgets.
pub struct BackupPageWidgets {
    running: gtk::Box,
    title: gtk::Label,
    headline: gtk::Label,
    status: gtk::Label,
    spinner: gtk::Spinner,
    bar: gtk::ProgressBar,
    amount: gtk::Label,
    saved: gtk::Label,
    pace: gtk::Label,
    cancel: gtk::Button,
    ended: adw::StatusPage,
    retry: gtk::Button,
    show: gtk::Button,
    done: gtk::Button,
    details: Details,
}

/// A label that wraps, centred.
fn line(css: &[&str]) -> gtk::Label {
    let label = gtk::Label::builder()
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::WordChar)
        .justify(gtk::Justification::Center)
        .build();
    for class in css {
        label.add_css_class(class);
    }
    label
}

impl SimpleComponent for BackupPage {
    type Init = ();
    type Input = BackupPageInput;
    type Output = ();
    type Root = gtk::ScrolledWindow;
    type Widgets = BackupPageWidgets;

    fn init_root() -> Self::Root {
        page::root()
    }

    fn init(_: (), root: Self::Root, _sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let outer = page::content(&root, 0, 560, true);

        let running = gtk::Box::new(gtk::Orientation::Vertical, 12);
        let title = line(&["title-1"]);
        let headline = line(&["dim-label"]);
        let status = line(&["heading"]);
        status.set_margin_top(12);
        let spinner = gtk::Spinner::builder()
            .spinning(true)
            .width_request(32)
            .height_request(32)
            .halign(gtk::Align::Center)
            .build();
        crate::gui::a11y::label(&spinner, &gettext("Preparing the backup"));
        let bar = gtk::ProgressBar::new();
        crate::gui::a11y::label(&bar, &gettext("Backup progress"));
        let amount = line(&["numeric"]);
        let saved = line(&["dim-label", "numeric"]);
        let pace = line(&["dim-label", "numeric"]);
        for widget in [
            title.upcast_ref::<gtk::Widget>(),
            headline.upcast_ref(),
            status.upcast_ref(),
            spinner.upcast_ref(),
            bar.upcast_ref(),
            amount.upcast_ref(),
            saved.upcast_ref(),
            pace.upcast_ref(),
        ] {
            running.append(widget);
        }
        let buttons = page::button_column();
        buttons.set_margin_top(12);
        let cancel = page::pill(&gettext("_Cancel"), "app.cancel-backup", None);
        buttons.append(&cancel);
        running.append(&buttons);
        let note = line(&["dim-label", "caption"]);
        note.set_label(&gettext(
            "Cancelling leaves no file behind, and the drive as it is.",
        ));
        running.append(&note);
        outer.append(&running);

        let ended = adw::StatusPage::new();
        let actions = page::button_column();
        let done = page::pill(&gettext("_Done"), "app.backup-done", None);
        let show = page::pill(&gettext("_Show in Files"), "app.show-backup", None);
        let retry = page::pill(&gettext("_Try Again"), "app.backup-drive", None);
        for button in [&retry, &done, &show] {
            actions.append(button);
        }
        let details = Details::new();
        let ended_box = gtk::Box::new(gtk::Orientation::Vertical, 24);
        ended_box.append(&actions);
        ended_box.append(&details.expander);
        ended.set_child(Some(&ended_box));
        outer.append(&ended);

        let model = BackupPage {
            view: BackupView::default(),
        };
        let widgets = BackupPageWidgets {
            running,
            title,
            headline,
            status,
            spinner,
            bar,
            amount,
            saved,
            pace,
            cancel,
            ended,
            retry,
            show,
            done,
            details,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, _sender: ComponentSender<Self>) {
        match msg {
            BackupPageInput::Show(view) => self.view = *view,
        }
    }

    fn update_view(&self, w: &mut Self::Widgets, _sender: ComponentSender<Self>) {
        let view = &self.view;
        w.running.set_visible(view.running.is_some());
        if let Some(running) = &view.running {
            show_progress(w, running);
        }
        w.ended.set_visible(view.end.is_some());
        if let Some(end) = &view.end {
            show_end(w, end);
        }
    }
}

fn show_progress(w: &BackupPageWidgets, running: &BackupProgress) {
    w.title.set_label(&running.title);
    w.headline.set_label(&running.headline);
    w.status.set_label(&running.status);
    w.spinner.set_visible(running.fraction.is_none());
    w.spinner.set_spinning(running.fraction.is_none());
    w.bar.set_visible(running.fraction.is_some());
    w.bar.set_fraction(running.fraction.unwrap_or_default());
    for (label, text) in [
        (&w.amount, &running.amount),
        (&w.saved, &running.saved),
        (&w.pace, &running.pace),
    ] {
        label.set_visible(!text.is_empty());
        label.set_label(text);
    }
    // The bar's value for a screen reader, in the words sighted users read under it.
    crate::gui::a11y::description(&w.bar, &running.amount);
    w.cancel.set_visible(running.can_cancel);
}

fn show_end(w: &BackupPageWidgets, end: &BackupEnding) {
    let (icon, class) = match end.look {
        Look::Done => ("emblem-ok-symbolic", "ending-done"),
        Look::Failed => ("dialog-error-symbolic", "ending-failed"),
        Look::Stopped => ("dialog-warning-symbolic", "ending-stopped"),
    };
    w.ended.set_icon_name(Some(icon));
    w.ended.set_title(&end.title);
    w.ended.set_description(Some(&escape(&end.body)));
    for c in ["ending-done", "ending-failed", "ending-stopped"] {
        w.ended.remove_css_class(c);
    }
    w.ended.add_css_class(class);
    w.retry.set_visible(end.retry);
    w.show.set_visible(end.show);
    // One suggested button: trying again after a failure, else Done.
    let (suggested, plain) = if end.retry {
        (&w.retry, &w.done)
    } else {
        (&w.done, &w.retry)
    };
    suggested.add_css_class("suggested-action");
    plain.remove_css_class("suggested-action");
    w.details.show(end.details.as_deref());
}
