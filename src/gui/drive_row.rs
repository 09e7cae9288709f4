//! One drive in the list: icon, name, size and bus, its gravest guard as a badge, the reasons
//! in words, and a tick when chosen. A drive that must not be written stays listed, dimmed,
//! saying why.

use blockprint::drives::Severity;
use relm4::adw::prelude::*;
use relm4::factory::{DynamicIndex, FactoryComponent, FactorySender};
use relm4::{adw, gtk};

use super::flow::RowState;
use super::i18n::gettext_f;
use super::wording;

/// A row of the drive list.
#[derive(Debug)]
pub struct DriveRow {
    state: RowState,
}

/// What a row tells the page.
#[derive(Debug)]
pub enum DriveRowOutput {
    /// The row was activated: choose this drive (by key), or unchoose it.
    Toggled(String),
}

/// The icon for a drive, from the symbolic set every GNOME theme has.
fn icon(state: &RowState) -> &'static str {
    let drive = &state.drive;
    match drive.bus.as_str() {
        "sdio" => "media-flash-symbolic",
        "usb" => "drive-harddisk-usb-symbolic",
        _ if drive.backing_file.is_some() => "drive-multidisk-symbolic",
        _ if drive.removable => "drive-removable-media-symbolic",
        _ => "drive-harddisk-symbolic",
    }
}

impl FactoryComponent for DriveRow {
    type ParentWidget = gtk::ListBox;
    type CommandOutput = ();
    type Input = ();
    type Output = DriveRowOutput;
    type Init = RowState;
    type Root = adw::ActionRow;
    type Widgets = ();
    type Index = DynamicIndex;

    fn init_model(state: Self::Init, _index: &DynamicIndex, _sender: FactorySender<Self>) -> Self {
        Self { state }
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
        let state = &self.state;
        let drive = &state.drive;
        let name = drive.display_name();
        row.set_title(&relm4::gtk::glib::markup_escape_text(&name));
        let mut subtitle = wording::drive_subtitle(drive);
        let reasons: Vec<String> = state.guards.iter().map(wording::reason).collect();
        if !reasons.is_empty() {
            subtitle.push('\n');
            subtitle.push_str(&reasons.join("\n"));
        }
        row.set_subtitle(&relm4::gtk::glib::markup_escape_text(&subtitle));
        row.set_subtitle_lines(0);
        // The tick shows the flow's choice; clicking it (or anywhere on the row) asks the flow,
        // which may first want a system drive's name typed.
        let check = gtk::CheckButton::builder()
            .active(state.selected)
            .can_target(false)
            .focusable(false)
            .valign(gtk::Align::Center)
            .build();
        check.set_sensitive(state.enabled);
        row.add_prefix(&check);
        let image = gtk::Image::from_icon_name(icon(state));
        image.set_pixel_size(32);
        row.add_prefix(&image);

        if let Some(guard) = state.guards.first() {
            let badge = gtk::Label::new(Some(&wording::badge(guard)));
            badge.add_css_class("badge");
            badge.add_css_class(match guard.severity {
                Severity::Blocked => "error",
                Severity::Confirm => "warning",
                Severity::Warning => "accent",
            });
            badge.set_valign(gtk::Align::Center);
            badge.set_tooltip_text(Some(&wording::reason(guard)));
            row.add_suffix(&badge);
        }

        row.set_activatable(state.enabled);
        row.set_sensitive(state.enabled);
        let description = if state.enabled {
            let chosen = if state.selected {
                gettextrs::gettext("chosen")
            } else {
                gettextrs::gettext("not chosen")
            };
            gettext_f(
                // Translators: a screen reader's description of a drive row; {chosen} is
                // "chosen" or "not chosen".
                "{name}, {chosen}, {details}",
                &[
                    ("name", &name),
                    ("chosen", &chosen),
                    ("details", &subtitle.replace('\n', ", ")),
                ],
            )
        } else {
            gettext_f(
                "{name}, cannot be written: {reasons}",
                &[("name", &name), ("reasons", &reasons.join(", "))],
            )
        };
        crate::gui::a11y::description(&row, &description);
        if state.selected {
            row.add_css_class("chosen");
        }
        let key = drive.key.clone();
        row.connect_activated(move |_| {
            sender.output(DriveRowOutput::Toggled(key.clone())).ok();
        });
    }
}
