//! What the three step pages share: a scrolled page with its content clamped to a readable
//! width (so it fills a phone and stays centred on a desktop), their buttons, a row's words,
//! and the folded "Technical Details".

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::{adw, gtk};

/// The two lines of a row (or a status page's title and description), as shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The first line.
    pub title: String,
    /// The line under it.
    pub subtitle: String,
}

/// "Technical Details": the engine's exact words under an error, folded away and selectable,
/// for a bug report.
pub struct Details {
    /// The expander to put on the page.
    pub expander: gtk::Expander,
    text: gtk::Label,
}

impl Details {
    /// Folded, and hidden until there is something to show.
    pub fn new() -> Self {
        let text = gtk::Label::builder()
            .selectable(true)
            .wrap(true)
            .wrap_mode(relm4::gtk::pango::WrapMode::WordChar)
            .xalign(0.0)
            .build();
        text.add_css_class("monospace");
        text.set_margin_top(6);
        text.set_margin_bottom(6);
        text.set_margin_start(6);
        text.set_margin_end(6);
        // A box of its own that scrolls past a dozen lines, so long words stay in it and the
        // page's buttons stay in sight.
        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .propagate_natural_height(true)
            .max_content_height(200)
            .child(&text)
            .build();
        scrolled.add_css_class("card");
        scrolled.set_margin_top(6);
        let expander = gtk::Expander::builder()
            .label(gettext("Technical _Details"))
            .use_underline(true)
            .child(&scrolled)
            .visible(false)
            .build();
        Self { expander, text }
    }

    /// Shows `details`, or hides the expander when there are none.
    pub fn show(&self, details: Option<&str>) {
        self.expander.set_visible(details.is_some());
        self.text.set_label(details.unwrap_or_default());
    }
}

/// A page's root: scrolls vertically, never sideways.
pub fn root() -> gtk::ScrolledWindow {
    gtk::ScrolledWindow::builder()
        .hscrollbar_policy(gtk::PolicyType::Never)
        .vexpand(true)
        .build()
}

/// `child`, at most `width` wide and centred, with the pages' side margins.
pub fn clamp(child: &impl IsA<gtk::Widget>, width: i32) -> adw::Clamp {
    adw::Clamp::builder()
        .maximum_size(width)
        .margin_start(12)
        .margin_end(12)
        .child(child)
        .build()
}

/// Puts a vertical box with `spacing`, at most `width` wide, into `root`; returns the box.
/// `centred` centres it vertically (for pages with little on them).
pub fn content(root: &gtk::ScrolledWindow, spacing: i32, width: i32, centred: bool) -> gtk::Box {
    let content = gtk::Box::new(gtk::Orientation::Vertical, spacing);
    let clamp = adw::Clamp::builder()
        .maximum_size(width)
        .margin_top(if centred { 24 } else { 12 })
        .margin_bottom(24)
        .margin_start(12)
        .margin_end(12)
        .child(&content)
        .build();
    if centred {
        clamp.set_valign(gtk::Align::Center);
        clamp.set_vexpand(true);
    }
    root.set_child(Some(&clamp));
    content
}

/// A column for pills, one above the other and as wide as each other, centred: side by side,
/// their German or French would not fit a phone's 360 px.
pub fn button_column() -> gtk::Box {
    gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .homogeneous(true)
        .halign(gtk::Align::Center)
        .build()
}

/// A rounded button for an action; `css` adds a style ("suggested-action", …).
pub fn pill(label: &str, action: &str, css: Option<&str>) -> gtk::Button {
    let button = gtk::Button::with_mnemonic(label);
    button.set_action_name(Some(action));
    button.add_css_class("pill");
    if let Some(css) = css {
        button.add_css_class(css);
    }
    button
}

/// A button at the end of a row; `what` says in full what it does, to a screen reader and
/// in its tooltip.
pub fn suffix(label: &str, action: &str, what: &str) -> gtk::Button {
    let button = gtk::Button::with_mnemonic(label);
    button.set_valign(gtk::Align::Center);
    button.set_action_name(Some(action));
    button.set_tooltip_text(Some(what));
    crate::gui::a11y::label(&button, what);
    button
}

/// A row that runs `action` when activated (click, Enter or Space): a choice that needs room
/// to say what it does, where a button at a row's end would squeeze its text on a phone.
pub fn action_row(title: &str, subtitle: &str, action: &str, icon: &str) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(subtitle)
        .use_underline(true)
        .activatable(true)
        .subtitle_lines(0)
        .build();
    row.set_action_name(Some(action));
    row.add_prefix(&gtk::Image::from_icon_name(icon));
    row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
    row
}
