//! One drive of a write to several: its name, its status, its own bar while written, and a
//! line under it (amounts, speed and time left; or what happened to it).

use relm4::adw::prelude::*;
use relm4::gtk;

/// How a drive's write is going, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    /// Being written.
    Running,
    /// Written.
    Done,
    /// Failed, or stopped part-way.
    Failed,
}

/// What a line shows.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteLine {
    /// "SanDisk Ultra (32.0 GB, /dev/sdb)".
    pub name: String,
    /// "Writing", "Safe to remove", "Failed".
    pub status: String,
    /// The bar, while written: how far (`None` pulses when the amount is not known).
    pub bar: Option<Option<f64>>,
    /// The line under it.
    pub detail: String,
    /// For the colour of the status.
    pub state: LineState,
}

/// The widgets of one line, updated in place as the write goes on.
pub struct WriteLineRow {
    /// The row to put in a list.
    pub row: gtk::ListBoxRow,
    name: gtk::Label,
    status: gtk::Label,
    bar: gtk::ProgressBar,
    detail: gtk::Label,
}

impl WriteLineRow {
    /// An empty line.
    pub fn new() -> Self {
        let name = gtk::Label::builder()
            .xalign(0.0)
            .hexpand(true)
            .wrap(true)
            .build();
        name.add_css_class("heading");
        let status = gtk::Label::builder().xalign(1.0).build();
        let top = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        top.append(&name);
        top.append(&status);
        let bar = gtk::ProgressBar::new();
        let detail = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .wrap_mode(relm4::gtk::pango::WrapMode::WordChar)
            .build();
        detail.add_css_class("dim-label");
        detail.add_css_class("caption");
        detail.add_css_class("numeric");
        let column = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(6)
            .margin_top(12)
            .margin_bottom(12)
            .margin_start(12)
            .margin_end(12)
            .build();
        column.append(&top);
        column.append(&bar);
        column.append(&detail);
        let row = gtk::ListBoxRow::builder()
            .child(&column)
            .activatable(false)
            .focusable(true)
            .build();
        Self {
            row,
            name,
            status,
            bar,
            detail,
        }
    }

    /// Shows `line`.
    pub fn show(&self, line: &WriteLine) {
        self.name.set_label(&line.name);
        self.status.set_label(&line.status);
        for (class, state) in [("success", LineState::Done), ("error", LineState::Failed)] {
            if line.state == state {
                self.status.add_css_class(class);
            } else {
                self.status.remove_css_class(class);
            }
        }
        self.bar.set_visible(line.bar.is_some());
        match line.bar {
            Some(Some(fraction)) => self.bar.set_fraction(fraction),
            Some(None) => self.bar.pulse(),
            None => {}
        }
        self.detail.set_label(&line.detail);
        self.detail.set_visible(!line.detail.is_empty());
        // A screen reader reads the row as one sentence.
        let spoken = [line.name.as_str(), &line.status, &line.detail]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        crate::gui::a11y::label(&self.row, &spoken);
    }
}

/// Shows `lines` in `list`, reusing the rows there are (so a bar does not flicker or lose
/// focus ten times a second) and adding or removing the difference.
pub fn show_all(list: &gtk::ListBox, rows: &mut Vec<WriteLineRow>, lines: &[WriteLine]) {
    while rows.len() > lines.len() {
        if let Some(row) = rows.pop() {
            list.remove(&row.row);
        }
    }
    while rows.len() < lines.len() {
        let row = WriteLineRow::new();
        list.append(&row.row);
        rows.push(row);
    }
    for (row, line) in rows.iter().zip(lines) {
        row.show(line);
    }
    list.set_visible(!lines.is_empty());
}
