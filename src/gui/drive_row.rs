//! One drive in the list: icon, name, size and bus, its gravest guard as a badge, the reasons
//! in words, and a tick when chosen. A drive that must not be written stays listed, dimmed,
//! saying why.

use blockprint::drives::Severity;
use relm4::adw::prelude::*;
use relm4::factory::{DynamicIndex, FactoryComponent, FactorySender};
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{adw, gtk};

use super::page::Row;

/// What a row shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveRowView {
    /// The drive's key, which the row reports when activated.
    pub key: String,
    /// A symbolic icon name every GNOME theme has.
    pub icon: &'static str,
    /// Its name; its size and bus, and the reasons of its guards.
    pub row: Row,
    /// Its device ("/dev/sdb") and every reason in full: the tooltip (the row has room for
    /// one reason; the Erase question names the device).
    pub tooltip: String,
    /// Its gravest guard.
    pub badge: Option<Badge>,
    /// Whether it can be chosen.
    pub enabled: bool,
    /// Whether it is chosen.
    pub selected: bool,
    /// What a screen reader says after its name.
    pub description: String,
}

/// A guard as a badge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    /// "Mounted", "Too small".
    pub text: String,
    /// The sentence that explains it.
    pub tooltip: String,
    /// How grave it is, for its colour.
    pub severity: Severity,
}

/// A row of the drive list.
#[derive(Debug)]
pub struct DriveRow {
    view: DriveRowView,
}

/// What a row tells the page.
#[derive(Debug)]
pub enum DriveRowOutput {
    /// The row was activated: choose this drive (by key), or unchoose it.
    Toggled(String),
}

impl FactoryComponent for DriveRow {
    type ParentWidget = gtk::ListBox;
    type CommandOutput = ();
    type Input = ();
    type Output = DriveRowOutput;
    type Init = DriveRowView;
    type Root = adw::ActionRow;
    type Widgets = ();
    type Index = DynamicIndex;

    fn init_model(view: Self::Init, _index: &DynamicIndex, _sender: FactorySender<Self>) -> Self {
        Self { view }
    }

    fn init_root(&self) -> Self::Root {
        adw::ActionRow::new()
    }

    fn init_widgets(
        &mut self,
        _index: &DynamicIndex,
        row: Self::Root,
        _returned: &gtk::ListBoxRow,
        sender: FactorySender<Self>,
    ) -> Self::Widgets {
        let view = &self.view;
        row.set_title(&escape(&view.row.title));
        row.set_subtitle(&escape(&view.row.subtitle));
        // At most three lines whatever the width: the name, its size and bus, and the gravest
        // reason; the tooltip and the screen reader's description have them all.
        row.set_title_lines(1);
        row.set_subtitle_lines(2);
        row.set_tooltip_text(Some(&view.tooltip));
        // The tick shows the flow's choice; clicking it (or anywhere on the row) asks the flow,
        // which may first want a system drive's name typed.
        let check = gtk::CheckButton::builder()
            .active(view.selected)
            .can_target(false)
            .focusable(false)
            .valign(gtk::Align::Center)
            .build();
        check.set_sensitive(view.enabled);
        row.add_prefix(&check);
        let image = gtk::Image::from_icon_name(view.icon);
        image.set_pixel_size(32);
        row.add_prefix(&image);

        if let Some(badge) = &view.badge {
            let label = gtk::Label::new(Some(&badge.text));
            label.add_css_class("badge");
            label.add_css_class(match badge.severity {
                Severity::Blocked => "error",
                Severity::Confirm => "warning",
                Severity::Warning => "accent",
            });
            label.set_valign(gtk::Align::Center);
            label.set_tooltip_text(Some(&badge.tooltip));
            row.add_suffix(&label);
        }

        row.set_activatable(view.enabled);
        row.set_sensitive(view.enabled);
        crate::gui::a11y::description(&row, &view.description);
        if view.selected {
            row.add_css_class("chosen");
        }
        let key = view.key.clone();
        row.connect_activated(move |_| {
            sender.output(DriveRowOutput::Toggled(key.clone())).ok();
        });
    }
}
