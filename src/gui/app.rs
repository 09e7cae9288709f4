//! The window: header, the three step pages, toasts; it owns the [`Flow`], turns actions,
//! drops, worker results and drive events into flow messages, and carries out the effects.
//!
//! ```text
//!  GActions (menu, keys, D-Bus) ─┐                     ┌─► ImagePage / DrivePage / WritePage
//!  pages' outputs, drops ────────┼─► AppMsg ─► Flow ───┤   (a fresh view after every change)
//!  workers (AppCmd) ─────────────┘      update         └─► Effects: dialogs, workers, job
//! ```

mod actions;
mod choosers;
mod dialogs;
mod effects;
mod ending;
mod lines;

use std::path::PathBuf;

use blockprint::bmap::Bmap;
use blockprint::progress::CancelToken;
use blockprint::source::Input;
use blockprint::udisks::{DriveEvent, Udisks};
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::{gdk, gio, glib};
use relm4::{
    Component, ComponentController, ComponentParts, ComponentSender, Controller, adw, gtk,
};

use super::drive_page::{DrivePage, DrivePageInput, DrivePageOutput, DriveView};
use super::flow::{Flow, Msg, Step, WriteState};
use super::i18n::{gettext_f, ngettext_f};
use super::image_page::{ImagePage, ImagePageInput, ImagePageOutput, ImageView};
use super::inspect::ImageInfo;
use super::job::JobEvent;
use super::settings::{POWER_OFF, REQUIRE_SIGNATURE, SHOW_ALL, VERIFY};
use super::wording::size;
use super::write_page::{WritePage, WritePageInput, WriteView};

/// The window component.
pub struct App {
    flow: Flow,
    settings: gio::Settings,
    udisks: Option<Udisks>,
    cancel: Option<CancelToken>,
    skip_verify: Option<CancelToken>,
    inhibit: Option<u32>,
    image_page: Controller<ImagePage>,
    drive_page: Controller<DrivePage>,
    write_page: Controller<WritePage>,
    chooser: Option<gtk::FileChooserNative>,
    toast: Option<String>,
}

/// What the window starts with.
pub struct AppInit {
    /// The preferences.
    pub settings: gio::Settings,
}

/// The window's messages.
#[derive(Debug)]
pub enum AppMsg {
    /// A message for the flow.
    Flow(Msg),
    /// Open (or drop) an image by path or URL text.
    OpenText(String),
    /// "Open…": the file chooser.
    ChooseImage,
    /// "Choose Block Map…".
    ChooseBmap,
    /// "Trust This Key…".
    TrustKey,
    /// A key file was chosen and confirmed for the unknown issuer.
    KeyConfirmed(PathBuf, String),
    /// A preference changed.
    PrefsChanged,
    /// Select a drive by key or device path (`true`), or unselect it.
    SelectDrive(String, bool),
    /// "Restore Drive…".
    Restore,
    /// Ctrl+L.
    FocusUrl,
}

/// What workers send back.
#[derive(Debug)]
pub enum AppCmd {
    /// Connected to udisksd.
    Connected(Udisks),
    /// A drive event (boxed: a drive's description is large, the other answers are small).
    Drive(Box<DriveEvent>),
    /// udisksd cannot be reached.
    NoUdisks(blockprint::udisks::UdisksError),
    /// The image was read.
    Inspected(Result<Box<ImageInfo>, String>),
    /// The filesystems were scanned.
    Scanned(Result<Bmap, String>),
    /// The write job reports.
    Job(JobEvent),
    /// Restoring a drive ended.
    Restored(Result<String, String>),
}

/// The window's widgets.
pub struct AppWidgets {
    title: adw::WindowTitle,
    back: gtk::Button,
    stack: gtk::Stack,
    toasts: adw::ToastOverlay,
}

impl Component for App {
    type Init = AppInit;
    type Input = AppMsg;
    type Output = ();
    type CommandOutput = AppCmd;
    type Root = adw::ApplicationWindow;
    type Widgets = AppWidgets;

    fn init_root() -> Self::Root {
        adw::ApplicationWindow::builder()
            .default_width(720)
            .default_height(680)
            .width_request(360)
            .height_request(294)
            .build()
    }

    fn init(
        init: AppInit,
        window: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let AppInit { settings } = init;
        window.set_title(Some(&gettext("Blockprint")));
        window.set_icon_name(Some(super::config::APP_ID));
        if super::config::DEVEL {
            // libadwaita's stripes in the header bar: this is not the released app.
            window.add_css_class("devel");
        }
        let header = adw::HeaderBar::new();
        let title = adw::WindowTitle::new(&gettext("Blockprint"), "");
        header.set_title_widget(Some(&title));
        let back = gtk::Button::from_icon_name("go-previous-symbolic");
        back.set_tooltip_text(Some(&gettext("Back")));
        crate::gui::a11y::label(&back, &gettext("Back"));
        back.set_action_name(Some("app.back"));
        header.pack_start(&back);
        let menu = gtk::Builder::from_string(include_str!("../../ui/menus.ui"))
            .object::<gio::MenuModel>("primary_menu");
        let menu_button = gtk::MenuButton::builder()
            .icon_name("open-menu-symbolic")
            .menu_model(&menu.unwrap_or_else(|| gio::Menu::new().upcast()))
            .primary(true)
            .tooltip_text(gettext("Main Menu"))
            .build();
        crate::gui::a11y::label(&menu_button, &gettext("Main Menu"));
        header.pack_end(&menu_button);

        let image_page = ImagePage::builder()
            .launch(())
            .forward(sender.input_sender(), |out| match out {
                ImagePageOutput::OpenUrl(text) => AppMsg::OpenText(text),
            });
        let drive_page = DrivePage::builder()
            .launch(())
            .forward(sender.input_sender(), |out| match out {
                DrivePageOutput::Toggled(key) => AppMsg::Flow(Msg::ToggleDrive(key)),
                DrivePageOutput::ChangeImage => AppMsg::Flow(Msg::GoTo(Step::Image)),
                DrivePageOutput::ShowAll(all) => AppMsg::Flow(Msg::AskShowAll(all)),
                DrivePageOutput::Write => AppMsg::Flow(Msg::Write),
            });
        let write_page = WritePage::builder().launch(()).detach();

        let stack = gtk::Stack::builder()
            .transition_type(gtk::StackTransitionType::SlideLeftRight)
            .vexpand(true)
            .build();
        stack.add_named(image_page.widget(), Some("image"));
        stack.add_named(drive_page.widget(), Some("drive"));
        stack.add_named(write_page.widget(), Some("write"));
        let toasts = adw::ToastOverlay::new();
        toasts.set_child(Some(&stack));
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&header);
        if super::running_as_root() {
            let warning = gtk::Label::builder()
                .label(gettext(
                    "Blockprint is running as root. It does not need to: run it as your own \
                     user, and it will ask for permission to write a drive.",
                ))
                .wrap(true)
                .margin_top(6)
                .margin_bottom(6)
                .margin_start(12)
                .margin_end(12)
                .build();
            warning.add_css_class("warning");
            content.append(&warning);
        }
        content.append(&toasts);
        window.set_content(Some(&content));
        drop_target(&window, &sender);
        let s = sender.clone();
        window.connect_close_request(move |_| {
            s.input(AppMsg::Flow(Msg::CloseRequested));
            glib::Propagation::Stop
        });

        let s = sender.clone();
        settings.connect_changed(None, move |_, _| s.input(AppMsg::PrefsChanged));
        let mut flow = Flow::new(
            settings.boolean(VERIFY),
            settings.boolean(POWER_OFF),
            settings.boolean(SHOW_ALL),
        );
        // "Only signed images" as well; with no image yet there is nothing to judge again.
        flow.update(prefs(&settings));
        let model = App {
            flow,
            settings,
            udisks: None,
            cancel: None,
            skip_verify: None,
            inhibit: None,
            image_page,
            drive_page,
            write_page,
            chooser: None,
            toast: None,
        };
        actions::install(&sender);
        effects::watch_drives(&sender);
        let widgets = AppWidgets {
            title,
            back,
            stack,
            toasts,
        };
        model.sync(&sender);
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: AppMsg, sender: ComponentSender<Self>, window: &Self::Root) {
        match msg {
            AppMsg::Flow(msg) => self.apply(msg, &sender, window),
            AppMsg::OpenText(text) => match Input::parse(&text) {
                Ok(input) => self.apply(Msg::OpenImage(input), &sender, window),
                Err(e) => self.toast = Some(e.to_string()),
            },
            AppMsg::ChooseImage => self.choose_file(window, &sender, false),
            AppMsg::ChooseBmap => self.choose_file(window, &sender, true),
            AppMsg::TrustKey => self.choose_key(window, &sender),
            AppMsg::KeyConfirmed(file, issuer) => self.trust(&file, &issuer, &sender, window),
            AppMsg::PrefsChanged => self.apply(prefs(&self.settings), &sender, window),
            AppMsg::SelectDrive(name, select) => match self.flow.drive_key(&name) {
                Some(key) => {
                    let key = key.to_owned();
                    let msg = if select {
                        Msg::SelectDrive(key)
                    } else {
                        Msg::UnselectDrive(key)
                    };
                    self.apply(msg, &sender, window);
                }
                None => self.toast = Some(gettext_f("No drive {drive}", &[("drive", &name)])),
            },
            AppMsg::Restore => actions::restore(self, window, &sender),
            AppMsg::FocusUrl => {
                self.apply(Msg::GoTo(Step::Image), &sender, window);
                self.image_page.emit(ImagePageInput::FocusUrl);
            }
        }
        self.sync(&sender);
    }

    fn update_cmd(&mut self, cmd: AppCmd, sender: ComponentSender<Self>, window: &Self::Root) {
        match cmd {
            AppCmd::Connected(udisks) => self.udisks = Some(udisks),
            AppCmd::NoUdisks(error) => {
                // The sentence with the fix on the page; the exact error in the log.
                crate::cli::say("", &error);
                let shown = super::wording::user_error(&error).body;
                self.apply(Msg::DrivesUnavailable(shown), &sender, window);
            }
            AppCmd::Drive(event) => {
                let event = match *event {
                    DriveEvent::Lost(why) => {
                        crate::cli::say("", &format_args!("lost udisksd: {why}"));
                        DriveEvent::Lost(gettext(
                            "The UDisks service stopped answering, so drives can no longer be \
                             listed or written. Restart udisks2, then restart Blockprint.",
                        ))
                    }
                    event => event,
                };
                self.apply(Msg::Drive(Box::new(event)), &sender, window);
            }
            AppCmd::Inspected(result) => self.apply(Msg::Inspected(result), &sender, window),
            AppCmd::Scanned(result) => self.apply(Msg::Scanned(result), &sender, window),
            AppCmd::Job(event) => {
                self.apply(Msg::Job(event), &sender, window);
                // Up to ten a second while writing: only the write page and the actions
                // change, so the drive list's guards are not worked out again (and no drive
                // can be chosen meanwhile).
                if self.flow.writing() {
                    self.sync_write(false);
                    return;
                }
            }
            AppCmd::Restored(result) => {
                self.toast = Some(match result {
                    Ok(text) | Err(text) => text,
                });
            }
        }
        self.sync(&sender);
    }

    fn update_view(&self, w: &mut AppWidgets, _sender: ComponentSender<Self>) {
        let (page, subtitle) = match self.flow.step() {
            Step::Image => ("image", gettext("Choose an image")),
            Step::Drive => ("drive", gettext("Choose a drive")),
            Step::Write => ("write", gettext("Write")),
        };
        if w.stack.visible_child_name().as_deref() != Some(page) {
            w.stack.set_visible_child_name(page);
        }
        w.title.set_subtitle(&subtitle);
        w.back
            .set_visible(self.flow.step() != Step::Image && !self.flow.writing());
        if let Some(text) = &self.toast {
            w.toasts
                .add_toast(adw::Toast::new(&glib::markup_escape_text(text)));
        }
    }
}

impl App {
    /// Sends every page its view and updates which actions may run.
    fn sync(&self, _sender: &ComponentSender<Self>) {
        let flow = &self.flow;
        self.image_page
            .emit(ImagePageInput::Show(Box::new(ImageView {
                image: flow.image.clone(),
                busy: flow.busy,
                error: flow.image_error.clone(),
            })));
        let (image_name, image_detail) = match &flow.image {
            Some(image) => (image.name.clone(), ending::bytes_line(image)),
            None => (String::new(), String::new()),
        };
        // Every drive's guards, worked out once for the list, the count and the actions.
        let rows = flow.rows();
        let chosen = rows.iter().filter(|r| r.selected).count();
        let more_suitable = !flow.writing() && rows.iter().any(|r| r.suitable && !r.selected);
        self.drive_page
            .emit(DrivePageInput::Show(Box::new(DriveView {
                image_name: image_name.clone(),
                image_detail,
                rows,
                show_all: flow.show_all,
                chosen,
                can_write: chosen > 0 && flow.image_ready(),
                error: flow.drives_error.clone(),
            })));
        self.sync_write(more_suitable);
    }

    /// Sends the write page its view and updates which actions may run; `more_suitable`:
    /// whether "Select All Suitable" would choose another drive.
    fn sync_write(&self, more_suitable: bool) {
        let flow = &self.flow;
        let drives = flow.last_drives();
        let headline = match (flow.image.as_ref(), drives) {
            (Some(image), [drive]) => gettext_f(
                // Translators: "debian.img to SanDisk Ultra (32.0 GB)".
                "{image} to {drive} ({size})",
                &[
                    ("image", &image.name),
                    ("drive", &drive.display_name()),
                    ("size", &size(drive.size)),
                ],
            ),
            (Some(image), _) => ngettext_f(
                // Translators: "debian.img to 3 drives".
                "{image} to {n} drive",
                "{image} to {n} drives",
                drives.len() as u64,
                &[("image", &image.name), ("n", &drives.len().to_string())],
            ),
            _ => String::new(),
        };
        let written = flow.write.drives();
        let (meter, lines, ending) = match &flow.write {
            WriteState::Idle => (None, vec![], None),
            WriteState::Running(_) => {
                // The stage strip follows the least advanced drive still written.
                let stage = flow.stage();
                let meter = written
                    .iter()
                    .find(|d| d.running() && Some(d.meter.stage) == stage)
                    .or(written.first())
                    .map(|d| d.meter.clone());
                let lines = if written.len() > 1 {
                    written.iter().map(lines::line).collect()
                } else {
                    vec![]
                };
                (meter, lines, None)
            }
            WriteState::Over(_) => (None, vec![], Some(ending::ending(written))),
        };
        self.write_page
            .emit(WritePageInput::Show(Box::new(WriteView {
                headline,
                meter,
                lines,
                verify: flow.verify(),
                ending,
            })));
        actions::update_enabled(flow, more_suitable);
    }
}

/// The preferences, as the flow takes them.
fn prefs(settings: &gio::Settings) -> Msg {
    Msg::Prefs {
        verify: settings.boolean(VERIFY),
        power_off: settings.boolean(POWER_OFF),
        require_signature: settings.boolean(REQUIRE_SIGNATURE),
    }
}

/// Files and web addresses dropped on the window open as the image.
fn drop_target(window: &adw::ApplicationWindow, sender: &ComponentSender<App>) {
    let target = gtk::DropTarget::new(glib::Type::INVALID, gdk::DragAction::COPY);
    target.set_types(&[gdk::FileList::static_type(), glib::Type::STRING]);
    let s = sender.clone();
    target.connect_drop(move |_, value, _, _| {
        let text = if let Ok(files) = value.get::<gdk::FileList>() {
            files
                .files()
                .first()
                .and_then(|f| f.path())
                .map(|p| p.display().to_string())
        } else {
            value
                .get::<String>()
                .ok()
                .map(|t| t.lines().next().unwrap_or_default().trim().to_owned())
        };
        match text.filter(|t| !t.is_empty()) {
            Some(text) => {
                s.input(AppMsg::OpenText(text));
                true
            }
            None => false,
        }
    });
    window.add_controller(target);
}
