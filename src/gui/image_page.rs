//! Step 1: the image (open, drop, URL), how much of it is written, its signature when there is
//! one to speak of; the block map's own rows under *Advanced*.

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::glib::markup_escape_text as escape;
use relm4::{ComponentParts, ComponentSender, SimpleComponent, adw, gtk};

use super::page::{self, Details, Row};
use super::wording::signature::Tone;

/// What the page shows.
#[derive(Debug, Clone, Default)]
pub struct ImageView {
    /// What a worker is doing ("Reading the image…"), while it does.
    pub busy: Option<String>,
    /// Why the last image cannot be used, or no block map could be made.
    pub error: Option<Row>,
    /// The image, once read.
    pub image: Option<ImageRows>,
    /// Whether its filesystems are being scanned (the busy row offers Cancel).
    pub scanning: bool,
    /// The engine's words for the error, or for the block map that cannot be used.
    pub details: Option<String>,
}

/// The rows of an image that was read.
#[derive(Debug, Clone)]
pub struct ImageRows {
    /// Its name, format and sizes.
    pub image: Row,
    /// For an image from a catalog: what it is checked against, its release date, and
    /// whether it is downloaded or already kept.
    pub origin: Option<Row>,
    /// How much will be written ("Fast write"); none while that is being found out.
    pub write: Option<Row>,
    /// Where its block map came from, in that row's tooltip.
    pub write_tooltip: Option<String>,
    /// Whether only the used space is written (the row's icon).
    pub fast: bool,
    /// Under *Advanced*: the block map itself.
    pub bmap: Row,
    /// Whether *Write Everything* is offered (no block map came with the image).
    pub everything: bool,
    /// The block map's signature, when there is one, or one is expected.
    pub signature: Option<Row>,
    /// How the signature row looks.
    pub tone: Tone,
    /// Whether "Trust This Key…" is offered.
    pub trust: bool,
    /// First-boot settings: those chosen, and what the image does with them.
    pub first_boot: Row,
    /// Why the image has no first-boot mechanism, in the engine's words.
    pub first_boot_tooltip: Option<String>,
    /// What the image is, when that matters (it will not work written as it is, or it is a
    /// bare filesystem), and how the row looks.
    pub kind: Option<(Row, Tone)>,
}

/// The image page.
pub struct ImagePage {
    view: ImageView,
    focus_url: std::cell::Cell<bool>,
}

/// Its inputs.
#[derive(Debug)]
pub enum ImagePageInput {
    /// Show this.
    Show(Box<ImageView>),
    /// Put the cursor in the web address entry.
    FocusUrl,
}

/// Its outputs.
#[derive(Debug)]
pub enum ImagePageOutput {
    /// A web address was entered.
    OpenUrl(String),
}

/// Its widgets.
pub struct ImagePageWidgets {
    intro: gtk::Box,
    status_group: adw::PreferencesGroup,
    url_group: adw::PreferencesGroup,
    url: adw::EntryRow,
    spinner_row: adw::ActionRow,
    stop_scan: gtk::Button,
    error_row: adw::ActionRow,
    image_group: adw::PreferencesGroup,
    image_row: adw::ActionRow,
    kind_row: adw::ActionRow,
    kind_icon: gtk::Image,
    origin_row: adw::ActionRow,
    write_row: adw::ActionRow,
    write_icon: gtk::Image,
    advanced: adw::PreferencesGroup,
    bmap_row: adw::ActionRow,
    everything: adw::ActionRow,
    signature_row: adw::ActionRow,
    signature_icon: gtk::Image,
    trust: adw::ActionRow,
    first_boot: adw::ActionRow,
    details: Details,
    next: gtk::Button,
}

impl SimpleComponent for ImagePage {
    type Init = ();
    type Input = ImagePageInput;
    type Output = ImagePageOutput;
    type Root = gtk::ScrolledWindow;
    type Widgets = ImagePageWidgets;

    fn init_root() -> Self::Root {
        page::root()
    }

    fn init(_: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let content = page::content(&root, 24, 640, false);

        let open = page::pill(
            &gettext("_Open Image…"),
            "app.open",
            Some("suggested-action"),
        );
        let choose_os = page::pill(&gettext("_Choose OS…"), "app.choose-os", None);
        choose_os.set_tooltip_text(Some(&gettext(
            "Download an operating system from a list, checked as it arrives",
        )));
        let buttons = page::button_column();
        buttons.append(&open);
        buttons.append(&choose_os);
        // A status page's look, built of plain widgets: libadwaita 1.2's status page scrolls
        // inside and cuts its text short once the description wraps on a phone.
        let icon = gtk::Image::from_icon_name("media-optical-symbolic");
        icon.set_pixel_size(96);
        icon.add_css_class("dim-label");
        icon.set_margin_top(12);
        let title = gtk::Label::builder()
            .label(gettext("Choose an Image"))
            .wrap(true)
            .justify(gtk::Justification::Center)
            .build();
        title.add_css_class("title-1");
        let description = gtk::Label::builder()
            .label(gettext(
                "Open a disk image, drop one on this window, or enter its web address; or \
                 choose an operating system to download. Compressed images are fine.",
            ))
            .wrap(true)
            .justify(gtk::Justification::Center)
            .build();
        buttons.set_margin_top(12);
        let intro_box = gtk::Box::new(gtk::Orientation::Vertical, 12);
        for widget in [
            icon.upcast_ref::<gtk::Widget>(),
            title.upcast_ref(),
            description.upcast_ref(),
            buttons.upcast_ref(),
        ] {
            intro_box.append(widget);
        }
        content.append(&intro_box);

        let url_group = adw::PreferencesGroup::new();
        let url = adw::EntryRow::builder()
            .title(gettext("Web _Address (http or https)"))
            .use_underline(true)
            .show_apply_button(true)
            .input_purpose(gtk::InputPurpose::Url)
            .build();
        let s = sender.clone();
        url.connect_apply(move |entry| {
            let text = entry.text().trim().to_owned();
            if !text.is_empty() {
                entry.set_text("");
                s.output(ImagePageOutput::OpenUrl(text)).ok();
            }
        });
        url_group.add(&url);
        content.append(&url_group);
        let status_group = adw::PreferencesGroup::new();

        let spinner_row = adw::ActionRow::new();
        let spinner = gtk::Spinner::builder().spinning(true).build();
        spinner_row.add_prefix(&spinner);
        let stop_scan = page::suffix(
            &gettext("_Skip"),
            "app.cancel-scan",
            &gettext("Write the whole image instead"),
        );
        spinner_row.add_suffix(&stop_scan);
        status_group.add(&spinner_row);
        let error_row = adw::ActionRow::builder().subtitle_lines(0).build();
        error_row.add_prefix(&gtk::Image::from_icon_name("dialog-error-symbolic"));
        error_row.add_css_class("error");
        status_group.add(&error_row);
        content.append(&status_group);

        let image_group = adw::PreferencesGroup::builder()
            .title(gettext("Image"))
            .build();
        let image_row = adw::ActionRow::builder().subtitle_lines(0).build();
        image_row.add_prefix(&gtk::Image::from_icon_name("media-optical-symbolic"));
        image_row.add_suffix(&page::suffix(
            &gettext("C_hange…"),
            "app.open",
            &gettext("Choose another image"),
        ));
        image_group.add(&image_row);
        // Right under the image: a Windows installer or a file that is no disk image is the
        // first thing to know about it.
        let kind_row = adw::ActionRow::builder().subtitle_lines(0).build();
        let kind_icon = gtk::Image::new();
        kind_row.add_prefix(&kind_icon);
        image_group.add(&kind_row);
        let origin_row = adw::ActionRow::builder().subtitle_lines(0).build();
        origin_row.add_prefix(&gtk::Image::from_icon_name("folder-download-symbolic"));
        image_group.add(&origin_row);

        let write_row = adw::ActionRow::builder().subtitle_lines(0).build();
        let write_icon = gtk::Image::new();
        write_row.add_prefix(&write_icon);
        image_group.add(&write_row);

        let signature_row = adw::ActionRow::builder().subtitle_lines(0).build();
        let signature_icon = gtk::Image::new();
        signature_row.add_prefix(&signature_icon);
        image_group.add(&signature_row);
        let trust = page::action_row(
            &gettext("_Trust This Key…"),
            &gettext("Choose the publisher’s key file, to trust the images it signs"),
            "app.trust-key",
            "security-high-symbolic",
        );
        image_group.add(&trust);
        // Shown for every image; the button greys out with `app.customise` for one that
        // has no first-boot mechanism.
        let first_boot = adw::ActionRow::builder().subtitle_lines(0).build();
        first_boot.add_prefix(&gtk::Image::from_icon_name("emblem-system-symbolic"));
        first_boot.add_suffix(&page::suffix(
            &gettext("C_ustomise…"),
            "app.customise",
            &gettext("Set a hostname, a user, SSH, Wi-Fi and the locale for the first boot"),
        ));
        image_group.add(&first_boot);
        content.append(&image_group);

        // What only someone who knows block maps needs: where this one came from, writing
        // every byte instead, choosing another.
        let advanced = adw::PreferencesGroup::new();
        let expander = adw::ExpanderRow::builder()
            .title(gettext("_Advanced"))
            .use_underline(true)
            .subtitle(gettext("Which parts of the image are written, and why"))
            .build();
        let bmap_row = adw::ActionRow::builder().subtitle_lines(0).build();
        bmap_row.add_prefix(&gtk::Image::from_icon_name("dialog-information-symbolic"));
        expander.add_row(&bmap_row);
        let everything = adw::ActionRow::builder()
            .title(gettext("Write _Everything"))
            .use_underline(true)
            .subtitle(gettext(
                "Every byte of the image, also where its filesystems keep nothing",
            ))
            .subtitle_lines(0)
            .build();
        everything.add_prefix(&gtk::Image::from_icon_name("drive-harddisk-symbolic"));
        // The stateful action holds the choice; the flow resets it for every new image.
        let everything_switch = gtk::Switch::builder()
            .valign(gtk::Align::Center)
            .action_name("app.write-everything")
            .build();
        everything.add_suffix(&everything_switch);
        everything.set_activatable_widget(Some(&everything_switch));
        expander.add_row(&everything);
        expander.add_row(&page::action_row(
            &gettext("Choo_se a Block Map File…"),
            &gettext("For an image whose block map is elsewhere"),
            "app.choose-bmap",
            "document-open-symbolic",
        ));
        advanced.add(&expander);
        content.append(&advanced);
        let details = Details::new();
        content.append(&details.expander);

        let next = page::pill(&gettext("_Next"), "app.next", Some("suggested-action"));
        next.set_halign(gtk::Align::Center);
        content.append(&next);

        let widgets_url_group = url_group.clone();
        let widgets_status_group = status_group.clone();
        let model = ImagePage {
            view: ImageView::default(),
            focus_url: std::cell::Cell::new(false),
        };
        let widgets = ImagePageWidgets {
            intro: intro_box,
            url_group: widgets_url_group,
            status_group: widgets_status_group,
            url,
            spinner_row,
            stop_scan,
            error_row,
            kind_row,
            kind_icon,
            image_group,
            image_row,
            origin_row,
            write_row,
            write_icon,
            advanced,
            bmap_row,
            everything,
            signature_row,
            signature_icon,
            trust,
            first_boot,
            details,
            next,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, _sender: ComponentSender<Self>) {
        match msg {
            ImagePageInput::Show(view) => self.view = *view,
            ImagePageInput::FocusUrl => self.focus_url.set(true),
        }
    }

    fn update_view(&self, w: &mut Self::Widgets, _sender: ComponentSender<Self>) {
        let view = &self.view;
        w.intro.set_visible(view.image.is_none());
        w.spinner_row.set_visible(view.busy.is_some());
        if let Some(busy) = &view.busy {
            w.spinner_row.set_title(&escape(busy));
        }
        w.stop_scan.set_visible(view.scanning);
        w.error_row.set_visible(view.error.is_some());
        w.status_group
            .set_visible(view.busy.is_some() || view.error.is_some());
        if let Some(error) = &view.error {
            show_row(&w.error_row, error);
        }
        w.details.show(view.details.as_deref());
        w.image_group.set_visible(view.image.is_some());
        w.advanced.set_visible(view.image.is_some());
        w.next.set_visible(view.image.is_some());
        // With an image chosen the web address entry steps aside, until Ctrl+L asks for it;
        // it stays while the focus is inside it, which is in the row's text widget, not the
        // row itself (so `has_focus` is false there).
        let wanted = self.focus_url.take();
        let focused = w.url.state_flags().contains(gtk::StateFlags::FOCUS_WITHIN);
        w.url_group
            .set_visible(view.image.is_none() || wanted || focused);
        if wanted {
            w.url.grab_focus();
        }
        let Some(image) = &view.image else {
            return;
        };
        show_row(&w.image_row, &image.image);
        w.kind_row.set_visible(image.kind.is_some());
        if let Some((kind, tone)) = &image.kind {
            show_row(&w.kind_row, kind);
            show_tone(&w.kind_row, &w.kind_icon, *tone);
        }
        w.origin_row.set_visible(image.origin.is_some());
        if let Some(origin) = &image.origin {
            show_row(&w.origin_row, origin);
        }
        w.write_row.set_visible(image.write.is_some());
        if let Some(write) = &image.write {
            show_row(&w.write_row, write);
        }
        w.write_row.set_tooltip_text(image.write_tooltip.as_deref());
        w.write_icon.set_icon_name(Some(if image.fast {
            "emblem-ok-symbolic"
        } else {
            "dialog-information-symbolic"
        }));
        show_row(&w.bmap_row, &image.bmap);
        w.everything.set_visible(image.everything);
        show_tone(&w.signature_row, &w.signature_icon, image.tone);
        w.signature_row.set_visible(image.signature.is_some());
        if let Some(signature) = &image.signature {
            show_row(&w.signature_row, signature);
        }
        w.trust.set_visible(image.trust);
        show_row(&w.first_boot, &image.first_boot);
        w.first_boot
            .set_tooltip_text(image.first_boot_tooltip.as_deref());
    }
}

/// Gives `row` and its `icon` the look of `tone`.
fn show_tone(row: &adw::ActionRow, icon: &gtk::Image, tone: Tone) {
    let (name, class) = match tone {
        Tone::Plain => ("dialog-information-symbolic", "dim-label"),
        Tone::Good => ("emblem-ok-symbolic", "success"),
        Tone::Warning => ("dialog-warning-symbolic", "warning"),
        Tone::Refused => ("dialog-error-symbolic", "error"),
    };
    icon.set_icon_name(Some(name));
    for c in ["success", "warning", "error", "dim-label"] {
        row.remove_css_class(c);
    }
    row.add_css_class(class);
}

/// Puts `words` into `row` (whose title and subtitle are markup).
fn show_row(row: &adw::ActionRow, words: &Row) {
    row.set_title(&escape(&words.title));
    row.set_subtitle(&escape(&words.subtitle));
}
