//! The window's building blocks: a searchable list at a row's end, and the rows and groups
//! every part of the window is made of.

use super::*;

/// A list to choose from at a row's end, searchable by typing.
pub(super) struct Picker {
    pub(super) row: adw::ActionRow,
    pub(super) dropdown: gtk::DropDown,
    model: gtk::StringList,
    values: RefCell<Vec<String>>,
}

impl Picker {
    pub(super) fn new(title: &str, spoken: &str, choices: &[Choice]) -> Self {
        let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
        let model = gtk::StringList::new(&names);
        let expression = gtk::PropertyExpression::new(
            gtk::StringObject::static_type(),
            None::<&gtk::Expression>,
            "string",
        );
        let dropdown = gtk::DropDown::builder()
            .model(&model)
            .expression(&expression)
            .enable_search(true)
            .valign(gtk::Align::Center)
            .build();
        // The button keeps to a phone's width; the list shows names in full.
        dropdown.set_factory(Some(&label_factory(true)));
        dropdown.set_list_factory(Some(&label_factory(false)));
        dropdown.add_css_class("flat");
        a11y::label(&dropdown, spoken);
        let row = adw::ActionRow::builder()
            .title(title)
            .use_underline(true)
            .build();
        row.add_suffix(&dropdown);
        row.set_activatable_widget(Some(&dropdown));
        Self {
            row,
            dropdown,
            model,
            values: RefCell::new(choices.iter().map(|c| c.value.clone()).collect()),
        }
    }

    pub(super) fn value(&self) -> String {
        let index = self.dropdown.selected() as usize;
        self.values.borrow().get(index).cloned().unwrap_or_default()
    }

    /// Chooses `value`, adding it to the list if it is not there (a profile's own).
    pub(super) fn set(&self, value: &str) {
        let found = self.values.borrow().iter().position(|v| v == value);
        let index = match found {
            Some(index) => index,
            None => {
                self.model.append(value);
                let mut values = self.values.borrow_mut();
                values.push(value.to_owned());
                values.len() - 1
            }
        };
        self.dropdown
            .set_selected(u32::try_from(index).unwrap_or(u32::MAX));
    }
}

/// Labels for a drop-down's items: `compact` ones (the button) are cut short with "…".
fn label_factory(compact: bool) -> gtk::SignalListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(move |_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let label = gtk::Label::builder().xalign(0.0).build();
        if compact {
            label.set_ellipsize(gtk::pango::EllipsizeMode::End);
            label.set_width_chars(9);
            label.set_max_width_chars(16);
        }
        item.set_child(Some(&label));
    });
    factory.connect_bind(|_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let text = item
            .item()
            .and_downcast::<gtk::StringObject>()
            .map(|s| s.string());
        if let (Some(label), Some(text)) = (item.child().and_downcast::<gtk::Label>(), text) {
            label.set_label(&text);
        }
    });
    factory
}

/// A row with a switch at its end, the row's title (with its mnemonic) naming it.
pub(super) fn switch_row(
    title: &str,
    spoken: &str,
    subtitle: Option<&str>,
) -> (adw::ActionRow, gtk::Switch) {
    let row = adw::ActionRow::builder()
        .title(title)
        .use_underline(true)
        .subtitle_lines(0)
        .build();
    if let Some(subtitle) = subtitle {
        row.set_subtitle(subtitle);
    }
    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    a11y::label(&switch, spoken);
    row.add_suffix(&switch);
    row.set_activatable_widget(Some(&switch));
    (row, switch)
}

/// A text row that Enter leaves by accepting the window.
pub(super) fn entry_row(title: &str) -> adw::EntryRow {
    adw::EntryRow::builder()
        .title(title)
        .use_underline(true)
        .activates_default(true)
        .build()
}

/// A group with the line that tells its problems under its rows.
pub(super) fn group(title: &str, description: Option<&str>) -> (adw::PreferencesGroup, gtk::Label) {
    let group = adw::PreferencesGroup::builder().title(title).build();
    if let Some(description) = description {
        group.set_description(Some(description));
    }
    let problem = gtk::Label::builder()
        .wrap(true)
        .xalign(0.0)
        .margin_top(6)
        .visible(false)
        .build();
    problem.add_css_class("error");
    problem.add_css_class("caption");
    (group, problem)
}
