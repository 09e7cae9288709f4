//! Step 2: the live drive list (tick one drive, or several to write them all at once),
//! "Select All Suitable", "Show all drives", and the Write button.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::factory::FactoryVecDeque;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::drive_row::{DriveRow, DriveRowOutput, DriveRowView};
use super::page::{self, Details, Row};

/// What the page shows; the window sends a new one whenever anything changes.
#[derive(Debug, Clone, Default)]
pub struct DriveView {
    /// The image's name, and what will be written ("812 MB of 3.7 GB will be written").
    pub image: Row,
    /// The drives.
    pub rows: Vec<DriveRowView>,
    /// What shows when no drive is listed: insert one, or why there is no list at all.
    pub empty: Empty,
    /// Whether all drives are listed.
    pub show_all: bool,
    /// "_Write", or "_Write to 3 Drives".
    pub write: String,
    /// Whether Write may be pressed.
    pub can_write: bool,
    /// Whether "Select All Suitable" would choose another drive.
    pub select_all: bool,
    /// Whether it is shown at all: two or more drives are suitable.
    pub several_suitable: bool,
}

/// The page without drives.
#[derive(Debug, Clone, Default)]
pub struct Empty {
    /// Its icon.
    pub icon: &'static str,
    /// What to do, or what went wrong.
    pub words: Row,
    /// The engine's words, when something went wrong.
    pub details: Option<String>,
}

/// The drive page.
pub struct DrivePage {
    view: DriveView,
    rows: FactoryVecDeque<DriveRow>,
}

/// Its inputs.
#[derive(Debug)]
pub enum DrivePageInput {
    /// Show this.
    Show(Box<DriveView>),
}

/// Its outputs.
#[derive(Debug)]
pub enum DrivePageOutput {
    /// A drive's row was activated: in or out of those to write.
    Toggled(String),
    /// "Change…" next to the image, as on the Image step.
    ChangeImage,
    /// "Write" pressed.
    Write,
}

/// Its widgets.
pub struct DrivePageWidgets {
    image_row: adw::ActionRow,
    empty: adw::StatusPage,
    details: Details,
    list: gtk::ScrolledWindow,
    options: adw::PreferencesGroup,
    not_seen: gtk::Button,
    select_all: gtk::Button,
    write: gtk::Button,
}

impl SimpleComponent for DrivePage {
    type Init = ();
    type Input = DrivePageInput;
    type Output = DrivePageOutput;
    // The image on top, the list (or the empty state) in the middle taking the room there
    // is and scrolling on its own, and the switch and Write always in sight at the bottom.
    type Root = gtk::Box;
    type Widgets = DrivePageWidgets;

    fn init_root() -> Self::Root {
        gtk::Box::new(gtk::Orientation::Vertical, 0)
    }

    fn init(_: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let image_group = adw::PreferencesGroup::new();
        let image_row = adw::ActionRow::new();
        image_row.add_prefix(&gtk::Image::from_icon_name("media-optical-symbolic"));
        let change = gtk::Button::with_mnemonic(&gettext("C_hange…"));
        change.set_valign(gtk::Align::Center);
        crate::gui::a11y::label(&change, &gettext("Change the image"));
        let s = sender.clone();
        change.connect_clicked(move |_| {
            s.output(DrivePageOutput::ChangeImage).ok();
        });
        image_row.add_suffix(&change);
        image_group.add(&image_row);
        let top = page::clamp(&image_group, 640);
        top.set_margin_top(12);
        top.set_margin_bottom(12);
        root.append(&top);

        let details = Details::new();
        let empty = adw::StatusPage::builder().child(&details.expander).build();
        empty.add_css_class("compact");
        empty.set_vexpand(true);
        root.append(&empty);

        let list_group = adw::PreferencesGroup::builder()
            .title(gettext("Drives"))
            .build();
        let rows: FactoryVecDeque<DriveRow> = FactoryVecDeque::builder()
            .launch(gtk::ListBox::default())
            .forward(sender.output_sender(), |out| match out {
                DriveRowOutput::Toggled(key) => DrivePageOutput::Toggled(key),
            });
        rows.widget().add_css_class("boxed-list");
        rows.widget().set_selection_mode(gtk::SelectionMode::None);
        crate::gui::a11y::label(rows.widget(), &gettext("Drives"));
        list_group.add(rows.widget());
        let select_all = gtk::Button::with_mnemonic(&gettext("Select All _Suitable"));
        select_all.add_css_class("flat");
        select_all.set_valign(gtk::Align::Center);
        select_all.set_tooltip_text(Some(&gettext(
            "Every removable drive that can be written without a question",
        )));
        // The action is enabled exactly while it would choose another drive.
        select_all.set_action_name(Some("app.select-all-drives"));
        list_group.set_header_suffix(Some(&select_all));
        let list = page::root();
        let clamped = page::clamp(&list_group, 640);
        clamped.set_margin_top(12);
        clamped.set_margin_bottom(12);
        list.set_child(Some(&clamped));
        root.append(&list);

        let options = adw::PreferencesGroup::new();
        // Usually only "Don't see your drive?": it asks (and explains) before every drive is
        // listed; once they are, the switch takes them away again.
        let not_seen = gtk::Button::with_mnemonic(&gettext("_Don’t See Your Drive?"));
        not_seen.add_css_class("flat");
        not_seen.set_halign(gtk::Align::Center);
        not_seen.set_action_name(Some("app.show-all-drives"));
        let show_all_row = adw::ActionRow::builder()
            .title(gettext("Show _All Drives"))
            .use_underline(true)
            .subtitle(gettext("Internal drives too"))
            .build();
        // The stateful action shows whether all are listed and asks to change it.
        let show_all = gtk::Switch::builder()
            .valign(gtk::Align::Center)
            .action_name("app.show-all-drives")
            .build();
        show_all_row.add_suffix(&show_all);
        show_all_row.set_activatable_widget(Some(&show_all));
        options.add(&show_all_row);
        let bottom = gtk::Box::new(gtk::Orientation::Vertical, 18);
        bottom.append(&not_seen);
        bottom.append(&options);

        let write = gtk::Button::with_mnemonic(&gettext("_Write"));
        write.add_css_class("pill");
        write.add_css_class("destructive-action");
        write.set_halign(gtk::Align::Center);
        let s = sender.clone();
        write.connect_clicked(move |_| {
            s.output(DrivePageOutput::Write).ok();
        });
        bottom.append(&write);
        let bottom = page::clamp(&bottom, 640);
        bottom.set_margin_top(12);
        bottom.set_margin_bottom(18);
        root.append(&bottom);

        let model = DrivePage {
            view: DriveView::default(),
            rows,
        };
        let widgets = DrivePageWidgets {
            image_row,
            empty,
            details,
            list,
            options: options.clone(),
            not_seen,
            select_all,
            write,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, _sender: ComponentSender<Self>) {
        match msg {
            DrivePageInput::Show(view) => {
                if view.rows != self.view.rows {
                    let mut rows = self.rows.guard();
                    rows.clear();
                    for row in &view.rows {
                        rows.push_back(row.clone());
                    }
                }
                self.view = *view;
            }
        }
    }

    fn update_view(&self, widgets: &mut Self::Widgets, _sender: ComponentSender<Self>) {
        let view = &self.view;
        widgets.image_row.set_title(&escape(&view.image.title));
        widgets
            .image_row
            .set_subtitle(&escape(&view.image.subtitle));
        let empty = view.rows.is_empty();
        widgets.empty.set_visible(empty);
        widgets.empty.set_icon_name(Some(view.empty.icon));
        widgets.empty.set_title(&view.empty.words.title);
        widgets
            .empty
            .set_description(Some(&escape(&view.empty.words.subtitle)));
        widgets.details.show(view.empty.details.as_deref());
        widgets.list.set_visible(!empty);
        widgets.options.set_visible(view.show_all);
        widgets.not_seen.set_visible(!view.show_all);
        widgets.select_all.set_visible(view.several_suitable);
        widgets.write.set_sensitive(view.can_write);
        widgets.write.set_label(&view.write);
    }
}
