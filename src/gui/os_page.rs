//! "Choose OS…": a search entry and the board list above the catalog's entries (icons, what
//! each is, its release date and size, a "Cached" badge) under the open folder's name, and
//! *Use a File…* below; what it shows comes whole from
//! [`OsList::view`](crate::gui::os_list::OsList::view). Enter in the search chooses the first entry shown; the header's Back leaves
//! a folder before it leaves the page.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::os_list::{OsRow, OsView};
use super::page::{self, Details};

/// The page.
pub struct OsPage {
    view: OsView,
    focus: std::cell::Cell<bool>,
}

/// Its inputs.
#[derive(Debug)]
pub enum OsPageInput {
    /// Show this.
    Show(Box<OsView>),
    /// Put the cursor in the search entry.
    Focus,
}

/// Its outputs.
#[derive(Debug)]
pub enum OsPageOutput {
    /// A row was activated (its entry's id).
    Activated(String),
    /// The search changed.
    Search(String),
    /// Enter in the search entry: the first entry shown, as if its row was activated.
    First,
}

/// Its widgets.
pub struct OsPageWidgets {
    search: gtk::SearchEntry,
    boards: gtk::MenuButton,
    board_names: Vec<String>,
    busy: adw::ActionRow,
    busy_group: adw::PreferencesGroup,
    error: adw::StatusPage,
    details: Details,
    offline: gtk::Label,
    group: adw::PreferencesGroup,
    list: gtk::ListBox,
    empty: adw::StatusPage,
    shown: Vec<OsRow>,
    shown_folder: Option<String>,
}

impl SimpleComponent for OsPage {
    type Init = ();
    type Input = OsPageInput;
    type Output = OsPageOutput;
    type Root = gtk::Box;
    type Widgets = OsPageWidgets;

    fn init_root() -> Self::Root {
        gtk::Box::new(gtk::Orientation::Vertical, 0)
    }

    fn init(_: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let search = gtk::SearchEntry::builder()
            .placeholder_text(gettext("Search operating systems"))
            .hexpand(true)
            .build();
        crate::gui::a11y::label(&search, &gettext("Search operating systems"));
        let s = sender.clone();
        search.connect_search_changed(move |entry| {
            let _ = s.output(OsPageOutput::Search(entry.text().to_string()));
        });
        let s = sender.clone();
        search.connect_activate(move |_| {
            let _ = s.output(OsPageOutput::First);
        });
        // A menu of the boards, each item the `catalog-board` action with its place in the
        // list: a menu opens and is walked with the keyboard (GTK 4.8's drop-down does not).
        let boards = gtk::MenuButton::builder()
            .always_show_arrow(true)
            .tooltip_text(gettext("Show what runs on this board"))
            .build();
        crate::gui::a11y::label(&boards, &gettext("Board"));
        // Side by side where there is room, the board list under the search on a phone.
        let bar = gtk::FlowBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .max_children_per_line(2)
            .min_children_per_line(1)
            .column_spacing(6)
            .row_spacing(6)
            .homogeneous(false)
            .build();
        bar.insert(&search, -1);
        bar.insert(&boards, -1);
        let bar_clamp = page::clamp(&bar, 640);
        bar_clamp.set_margin_top(12);
        bar_clamp.set_margin_bottom(6);
        root.append(&bar_clamp);

        let scrolled = page::root();
        let content = page::content(&scrolled, 18, 640, false);
        root.append(&scrolled);

        let busy = adw::ActionRow::new();
        busy.add_prefix(&gtk::Spinner::builder().spinning(true).build());
        let busy_group = adw::PreferencesGroup::new();
        busy_group.add(&busy);
        let error = adw::StatusPage::builder()
            .icon_name("network-offline-symbolic")
            .build();
        let again = page::pill(&gettext("_Try Again"), "app.reload-catalog", None);
        again.set_halign(gtk::Align::Center);
        let details = Details::new();
        let error_box = gtk::Box::new(gtk::Orientation::Vertical, 12);
        error_box.append(&again);
        error_box.append(&details.expander);
        error.set_child(Some(&error_box));
        let offline = gtk::Label::builder().wrap(true).xalign(0.0).build();
        offline.add_css_class("warning");
        let group = adw::PreferencesGroup::new();
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .build();
        list.add_css_class("boxed-list");
        crate::gui::a11y::label(&list, &gettext("Operating systems"));
        group.add(&list);
        let empty = adw::StatusPage::builder()
            .icon_name("edit-find-symbolic")
            .build();
        empty.add_css_class("compact");
        let file = page::pill(&gettext("Use a _File…"), "app.open", None);
        file.set_halign(gtk::Align::Center);
        file.set_tooltip_text(Some(&gettext(
            "Write an image file you already have instead",
        )));
        for widget in [
            busy_group.upcast_ref::<gtk::Widget>(),
            error.upcast_ref(),
            offline.upcast_ref(),
            group.upcast_ref(),
            empty.upcast_ref(),
            file.upcast_ref(),
        ] {
            content.append(widget);
        }
        let widgets = OsPageWidgets {
            search,
            boards,
            board_names: Vec::new(),
            busy,
            busy_group,
            error,
            details,
            offline,
            group,
            list,
            empty,
            shown: Vec::new(),
            shown_folder: None,
        };
        let model = OsPage {
            view: OsView::default(),
            focus: std::cell::Cell::new(false),
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: OsPageInput, _sender: ComponentSender<Self>) {
        match msg {
            OsPageInput::Show(view) => self.view = *view,
            OsPageInput::Focus => self.focus.set(true),
        }
    }

    fn update_view(&self, w: &mut OsPageWidgets, sender: ComponentSender<Self>) {
        let view = &self.view;
        w.busy_group.set_visible(view.busy.is_some());
        w.busy
            .set_title(&escape(view.busy.as_deref().unwrap_or_default()));
        w.error.set_visible(view.error.is_some());
        if let Some((row, details)) = &view.error {
            w.error.set_title(&escape(&row.title));
            w.error.set_description(Some(&escape(&row.subtitle)));
            w.details.show(Some(details));
        }
        w.offline.set_visible(view.offline.is_some());
        w.offline
            .set_label(view.offline.as_deref().unwrap_or_default());
        if w.board_names != view.boards {
            let menu = gtk::gio::Menu::new();
            for (place, name) in view.boards.iter().enumerate() {
                let item = gtk::gio::MenuItem::new(Some(name), None);
                item.set_action_and_target_value(
                    Some("app.catalog-board"),
                    Some(&place.to_string().to_variant()),
                );
                menu.append_item(&item);
            }
            w.boards.set_menu_model(Some(&menu));
            w.board_names.clone_from(&view.boards);
        }
        w.boards.set_visible(view.boards.len() > 1);
        w.boards
            .set_label(view.boards.get(view.board).map_or("", String::as_str));
        let title = match &view.folder {
            Some(folder) => folder.clone(),
            None => gettext("Operating Systems"),
        };
        w.group.set_title(&escape(&title));
        w.group
            .set_visible(!view.rows.is_empty() || view.folder.is_some());
        if w.shown != view.rows {
            while let Some(child) = w.list.first_child() {
                w.list.remove(&child);
            }
            for row in &view.rows {
                w.list.append(&entry_row(row, &sender));
            }
            w.shown = view.rows.clone();
        }
        w.list.set_visible(!view.rows.is_empty());
        w.empty.set_visible(view.empty.is_some());
        if let Some(empty) = &view.empty {
            w.empty.set_title(&escape(&empty.title));
            w.empty.set_description(Some(&escape(&empty.subtitle)));
        }
        if w.search.text() != view.search {
            w.search.set_text(&view.search);
        }
        // Into a folder or out of one, the row that had the focus is gone: the search has it.
        let moved = w.shown_folder != view.folder;
        w.shown_folder.clone_from(&view.folder);
        if self.focus.take() || moved {
            w.search.grab_focus();
        }
    }
}

/// The row of one entry: its icon (a placeholder until fetched, or when it has none), its
/// name and facts, "Cached" for a kept download, an arrow for a folder.
fn entry_row(row: &OsRow, sender: &ComponentSender<OsPage>) -> adw::ActionRow {
    let widget = adw::ActionRow::builder()
        .title(escape(&row.row.title))
        .subtitle(escape(&row.row.subtitle))
        .subtitle_lines(3)
        .activatable(true)
        .build();
    let icon = match &row.icon {
        Some(path) => gtk::Image::from_file(path),
        None if row.folder => gtk::Image::from_icon_name("folder-symbolic"),
        None => gtk::Image::from_icon_name("media-optical-symbolic"),
    };
    icon.set_pixel_size(32);
    widget.add_prefix(&icon);
    if row.cached {
        let badge = gtk::Label::new(Some(&gettext("Cached")));
        badge.set_valign(gtk::Align::Center);
        badge.add_css_class("badge");
        badge.add_css_class("accent");
        badge.set_tooltip_text(Some(&gettext(
            "Downloaded before: writing it downloads nothing",
        )));
        widget.add_suffix(&badge);
    }
    if row.folder {
        widget.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
    }
    let (s, id) = (sender.clone(), row.id.clone());
    widget.connect_activated(move |_| {
        let _ = s.output(OsPageOutput::Activated(id.clone()));
    });
    widget
}
