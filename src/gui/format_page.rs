//! "Format Drive…" on a page of its own: a spinner while the drive is wiped and given one
//! empty partition (it takes a few seconds), then its end, good or bad, with the way on.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::page::{self, Details};

/// What the page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatView {
    /// "Formatting SanDisk Ultra (32.0 GB, /dev/sdb)…", while it runs.
    pub running: Option<String>,
    /// How it ended.
    pub end: Option<FormatEnd>,
}

/// How formatting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatEnd {
    /// "Drive Formatted".
    pub title: String,
    /// What it means and what to do now.
    pub body: String,
    /// Whether it worked.
    pub ok: bool,
    /// The engine's words, when it failed.
    pub details: Option<String>,
}

/// The format page.
pub struct FormatPage {
    view: FormatView,
}

/// Its inputs.
#[derive(Debug)]
pub enum FormatPageInput {
    /// Show this.
    Show(Box<FormatView>),
}

/// Its widgets.
pub struct FormatPageWidgets {
    running: adw::StatusPage,
    ended: adw::StatusPage,
    again: gtk::Button,
    done: gtk::Button,
    details: Details,
}

impl SimpleComponent for FormatPage {
    type Init = ();
    type Input = FormatPageInput;
    type Output = ();
    type Root = gtk::ScrolledWindow;
    type Widgets = FormatPageWidgets;

    fn init_root() -> Self::Root {
        page::root()
    }

    fn init(_: (), root: Self::Root, _sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let outer = page::content(&root, 0, 560, true);
        let spinner = gtk::Spinner::builder()
            .spinning(true)
            .width_request(32)
            .height_request(32)
            .halign(gtk::Align::Center)
            .build();
        crate::gui::a11y::label(&spinner, &gettext("Formatting"));
        let running = adw::StatusPage::builder()
            .description(gettext("Erasing it and making one empty partition…"))
            .child(&spinner)
            .build();
        outer.append(&running);

        let ended = adw::StatusPage::new();
        let actions = gtk::Box::new(gtk::Orientation::Vertical, 12);
        actions.set_halign(gtk::Align::Center);
        let done = page::pill(
            &gettext("_Done"),
            "app.format-done",
            Some("suggested-action"),
        );
        actions.append(&done);
        let again = page::pill(&gettext("_Try Again"), "app.format-drive", None);
        actions.append(&again);
        let details = Details::new();
        let ended_box = gtk::Box::new(gtk::Orientation::Vertical, 24);
        ended_box.append(&actions);
        ended_box.append(&details.expander);
        ended.set_child(Some(&ended_box));
        outer.append(&ended);

        let model = FormatPage {
            view: FormatView::default(),
        };
        let widgets = FormatPageWidgets {
            running,
            ended,
            again,
            done,
            details,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, _sender: ComponentSender<Self>) {
        match msg {
            FormatPageInput::Show(view) => self.view = *view,
        }
    }

    fn update_view(&self, w: &mut Self::Widgets, _sender: ComponentSender<Self>) {
        let view = &self.view;
        w.running.set_visible(view.running.is_some());
        if let Some(running) = &view.running {
            w.running.set_title(running);
        }
        w.ended.set_visible(view.end.is_some());
        let Some(end) = &view.end else {
            return;
        };
        w.ended.set_icon_name(Some(if end.ok {
            "emblem-ok-symbolic"
        } else {
            "dialog-error-symbolic"
        }));
        w.ended.set_title(&end.title);
        w.ended.set_description(Some(&escape(&end.body)));
        for c in ["ending-done", "ending-failed"] {
            w.ended.remove_css_class(c);
        }
        w.ended.add_css_class(if end.ok {
            "ending-done"
        } else {
            "ending-failed"
        });
        // Failed: trying again is the likely wish; done: back to the image.
        w.again.set_visible(!end.ok);
        if end.ok {
            w.done.add_css_class("suggested-action");
            w.again.remove_css_class("suggested-action");
        } else {
            w.done.remove_css_class("suggested-action");
            w.again.add_css_class("suggested-action");
        }
        w.details.show(end.details.as_deref());
    }
}
