//! The window: header, the three step pages, toasts; it owns the [`Flow`], turns actions,
//! drops, worker results and drive events into flow messages, and carries out the effects.
//!
//! ```text
//!  GActions (menu, keys, D-Bus) ─┐                     ┌─► present::views ─► ImagePage /
//!  pages' outputs, drops ────────┼─► AppInput ─► Flow ───┤   DrivePage / WritePage (a fresh
//!  workers (AppCommandOutput) ─────────────┘      update         │   view after every change)
//!                                                      └─► Effects: dialogs, workers, job
//! ```

mod actions;
mod backup;
mod backup_dialog;
mod catalog;
mod choosers;
mod dialogs;
mod effects;
mod preferences;

use std::path::PathBuf;

use blockprint::bmap::Bmap;
use blockprint::progress::CancelToken;
use blockprint::source::Input;
use blockprint::udisks::{DriveEvent, Udisks, UdisksError};
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::{gdk, gio, glib};
use relm4::{
    Component, ComponentController, ComponentParts, ComponentSender, Controller, adw, gtk,
};

use super::backup_page::{BackupPage, BackupPageInput};
use super::drive_page::{DrivePage, DrivePageInput, DrivePageOutput};
use super::flow::{BackupEvent, BackupMsg, Flow, Msg, Prefs, Step};
use super::format_page::{FormatPage, FormatPageInput};
use super::i18n::gettext_f;
use super::image_page::{ImagePage, ImagePageInput, ImagePageOutput};
use super::inspect::{ImageInfo, InspectError};
use super::job::JobEvent;
use super::os_list::OsList;
use super::os_page::{OsPage, OsPageOutput};
use super::present;
use super::settings::{CATALOG, CHECK_CAPACITY, POWER_OFF, REQUIRE_SIGNATURE, SHOW_ALL, VERIFY};
use super::wording::user_error;
use super::write_page::{WritePage, WritePageInput, WriteView};

/// The window component.
pub struct App {
    flow: Flow,
    settings: gio::Settings,
    udisks: Option<Udisks>,
    cancel: Option<CancelToken>,
    scan_cancel: Option<CancelToken>,
    skip_verify: Option<CancelToken>,
    /// Stops the backup under way.
    backup_cancel: Option<CancelToken>,
    inhibit: Option<u32>,
    image_page: Controller<ImagePage>,
    drive_page: Controller<DrivePage>,
    write_page: Controller<WritePage>,
    format_page: Controller<FormatPage>,
    backup_page: Controller<BackupPage>,
    os_page: Controller<OsPage>,
    /// "Choose OS…": the catalog and where the user is in it.
    os_list: OsList,
    /// The catalog named on the command line (or dropped), instead of the preference's.
    catalog: Option<String>,
    /// The preferences' catalog and the key pinned for it, as last read.
    catalog_prefs: (String, String),
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
pub enum AppInput {
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
    /// Ctrl+L.
    FocusUrl,
    /// "Choose OS…".
    ChooseOs,
    /// "Try Again" on the catalog page.
    ReloadCatalog,
    /// The catalog page's answers.
    Os(OsPageOutput),
    /// A board from the catalog page's menu, by its place there.
    Board(String),
    /// "Customise…": the First-Boot Settings window.
    Customise,
    /// "Save Backup As" again, for this drive, in this folder, with this name.
    BackupFile(Box<blockprint::drives::Drive>, Option<PathBuf>, String),
    /// "Show in Files" on the backup's end page.
    ShowBackup,
}

/// What workers send back.
#[derive(Debug)]
pub enum AppCommandOutput {
    /// Connected to udisksd.
    Connected(Udisks),
    /// A drive event (boxed: a drive's description is large, the other answers are small).
    Drive(Box<DriveEvent>),
    /// udisksd cannot be reached.
    NoUdisks(UdisksError),
    /// The image was read.
    Inspected(Result<Box<ImageInfo>, InspectError>),
    /// The image's filesystems were scanned.
    Scanned(Input, Result<Bmap, InspectError>),
    /// The write job reports.
    Job(JobEvent),
    /// Formatting a drive ended.
    Formatted(Result<(), UdisksError>),
    /// Ejecting a written drive ended.
    Ejected(Result<blockprint::udisks::Removal, UdisksError>),
    /// The backup's worker reports.
    Backup(BackupEvent),
    /// The catalog was read (with the id of the linked list opened into it), or could not be.
    Catalog(catalog::Loaded, Option<String>),
    /// Icons fetched: their web addresses and files.
    Icons(Vec<(String, PathBuf)>),
    /// The image's first-boot mechanism, or why it has none.
    FirstBootDetected(
        Input,
        Result<blockprint::firstboot::Format, super::flow::Unsettable>,
    ),
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
    type Input = AppInput;
    type Output = ();
    type CommandOutput = AppCommandOutput;
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
                ImagePageOutput::OpenUrl(text) => AppInput::OpenText(text),
            });
        let drive_page = DrivePage::builder()
            .launch(())
            .forward(sender.input_sender(), |out| match out {
                DrivePageOutput::Toggled(key) => AppInput::Flow(Msg::ToggleDrive(key)),
                DrivePageOutput::ChangeImage => AppInput::Flow(Msg::GoTo(Step::Image)),
                DrivePageOutput::Write => AppInput::Flow(Msg::Write),
            });
        let os_page = OsPage::builder()
            .launch(())
            .forward(sender.input_sender(), AppInput::Os);
        let write_page = WritePage::builder().launch(()).detach();
        let format_page = FormatPage::builder().launch(()).detach();
        let backup_page = BackupPage::builder().launch(()).detach();

        let stack = gtk::Stack::builder()
            .transition_type(gtk::StackTransitionType::SlideLeftRight)
            .vexpand(true)
            .build();
        stack.add_named(image_page.widget(), Some("image"));
        stack.add_named(drive_page.widget(), Some("drive"));
        stack.add_named(write_page.widget(), Some("write"));
        stack.add_named(format_page.widget(), Some("format"));
        stack.add_named(backup_page.widget(), Some("backup"));
        stack.add_named(os_page.widget(), Some("catalog"));
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
            s.input(AppInput::Flow(Msg::CloseRequested));
            glib::Propagation::Stop
        });

        let s = sender.clone();
        settings.connect_changed(None, move |_, _| s.input(AppInput::PrefsChanged));
        let mut flow = Flow::new(
            settings.boolean(VERIFY),
            settings.boolean(POWER_OFF),
            settings.boolean(SHOW_ALL),
        );
        super::settings::load_cache_quota(&settings);
        // "Only signed images" as well; with no image yet there is nothing to judge again.
        flow.update(prefs(&settings));
        let catalog_prefs = catalog_prefs(&settings);
        let model = App {
            flow,
            settings,
            udisks: None,
            cancel: None,
            scan_cancel: None,
            skip_verify: None,
            backup_cancel: None,
            inhibit: None,
            image_page,
            drive_page,
            write_page,
            format_page,
            backup_page,
            os_page,
            os_list: OsList::default(),
            catalog: None,
            catalog_prefs,
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
        model.sync();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: AppInput, sender: ComponentSender<Self>, window: &Self::Root) {
        match msg {
            // Back in a catalog's folder is up to the list it is in.
            AppInput::Flow(Msg::Back)
                if self.flow.step() == Step::Catalog && !self.os_list.folders.is_empty() =>
            {
                self.os_list.up();
            }
            AppInput::Flow(msg) => self.apply(msg, &sender, window),
            AppInput::OpenText(text) if catalog_named(&text) => {
                // A list of images: its page, read anew.
                self.catalog = Some(text);
                self.os_list = OsList::default();
                self.choose_os(&sender, window);
            }
            AppInput::OpenText(text) => match Input::parse(&text) {
                Ok(input) => self.apply(Msg::OpenImage(input), &sender, window),
                Err(e) => self.toast = Some(user_error(&e).body),
            },
            AppInput::ChooseImage => self.choose_file(window, &sender, false),
            AppInput::ChooseBmap => self.choose_file(window, &sender, true),
            AppInput::TrustKey => self.choose_key(window, &sender),
            AppInput::KeyConfirmed(file, issuer) => self.trust(&file, &issuer, &sender, window),
            AppInput::PrefsChanged => {
                super::settings::load_cache_quota(&self.settings);
                // Another list, or another key for it: read anew when the page is next shown
                // (a list named on the command line stays).
                let wanted = catalog_prefs(&self.settings);
                if wanted != self.catalog_prefs {
                    self.catalog_prefs = wanted;
                    if self.catalog.is_none() && !self.os_list.loading {
                        self.os_list = OsList::default();
                    }
                }
                self.apply(prefs(&self.settings), &sender, window);
            }
            AppInput::SelectDrive(name, select) => match self.flow.drive_key(&name) {
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
            AppInput::ChooseOs => self.choose_os(&sender, window),
            AppInput::ReloadCatalog => self.reload_catalog(&sender),
            AppInput::Os(out) => self.os_output(out, &sender, window),
            AppInput::Board(place) => self.choose_board(&place),
            AppInput::Customise => self.customise(&sender, window),
            AppInput::BackupFile(drive, folder, name) => {
                self.choose_backup_file(window, &sender, *drive, folder, name);
            }
            AppInput::ShowBackup => self.show_backup(),
            AppInput::FocusUrl => {
                self.apply(Msg::GoTo(Step::Image), &sender, window);
                self.image_page.emit(ImagePageInput::FocusUrl);
            }
        }
        self.sync();
    }

    fn update_cmd(
        &mut self,
        cmd: AppCommandOutput,
        sender: ComponentSender<Self>,
        window: &Self::Root,
    ) {
        match cmd {
            AppCommandOutput::Connected(udisks) => self.udisks = Some(udisks),
            AppCommandOutput::NoUdisks(error) => {
                // The sentence with the fix on the page; the exact error in the log too.
                crate::cli::say("", &error);
                self.apply(Msg::DrivesUnavailable(error), &sender, window);
            }
            AppCommandOutput::Drive(event) => {
                if let DriveEvent::Lost(why) = &*event {
                    crate::cli::say("", &format_args!("lost udisksd: {why}"));
                }
                self.apply(Msg::Drive(event), &sender, window);
            }
            AppCommandOutput::Inspected(result) => {
                self.apply(Msg::Inspected(result), &sender, window)
            }
            AppCommandOutput::Scanned(input, result) => {
                self.apply(Msg::Scanned(input, result), &sender, window)
            }
            AppCommandOutput::Job(event) => {
                self.apply(Msg::Job(event), &sender, window);
                // Up to ten a second while writing: only the write page and the actions
                // change, so the drive list's guards are not worked out again (and no drive
                // can be chosen meanwhile).
                if self.flow.writing() {
                    self.show_write(present::write_view(&self.flow), false);
                    return;
                }
            }
            AppCommandOutput::Ejected(result) => self.apply(Msg::Ejected(result), &sender, window),
            AppCommandOutput::Backup(event) => {
                self.apply(Msg::Backup(BackupMsg::Worker(event)), &sender, window);
                // Up to ten a second while it runs: only its page changes.
                if self.flow.backing_up() {
                    self.show_backup_page();
                    return;
                }
            }
            AppCommandOutput::Catalog(result, opened) => {
                self.catalog_read(result, opened, &sender);
            }
            AppCommandOutput::Icons(icons) => self.os_list.icons.extend(icons),
            AppCommandOutput::FirstBootDetected(input, result) => {
                self.apply(Msg::FirstBootDetected(input, result), &sender, window);
            }
            AppCommandOutput::Formatted(result) => {
                if let Err(e) = &result {
                    crate::cli::say("", &format_args!("formatting failed: {e}"));
                }
                self.apply(Msg::Formatted(result), &sender, window);
            }
        }
        self.sync();
    }

    fn update_view(&self, w: &mut AppWidgets, _sender: ComponentSender<Self>) {
        let header = present::header(&self.flow);
        if w.stack.visible_child_name().as_deref() != Some(header.page) {
            w.stack.set_visible_child_name(header.page);
        }
        w.title.set_subtitle(&header.subtitle);
        w.back.set_visible(header.back);
        if let Some(text) = &self.toast {
            w.toasts
                .add_toast(adw::Toast::new(&glib::markup_escape_text(text)));
        }
    }
}

impl App {
    /// Opens the First-Boot Settings window with the settings chosen so far; its answer
    /// goes to the flow.
    fn customise(&self, sender: &ComponentSender<Self>, window: &adw::ApplicationWindow) {
        if !self.flow.may_customise() {
            return;
        }
        let s = sender.clone();
        super::customise::show(
            window,
            self.settings.clone(),
            self.flow.first_boot.as_ref(),
            &present::first_boot_about(&self.flow.first_boot_support),
            move |choice| s.input(AppInput::Flow(Msg::FirstBoot(choice.map(Box::new)))),
        );
    }

    /// Sends every page its view and updates which actions may run.
    fn sync(&self) {
        let (image, drives, write, format) = present::views(&self.flow);
        let select_all = drives.select_all;
        self.image_page.emit(ImagePageInput::Show(Box::new(image)));
        self.format_page
            .emit(FormatPageInput::Show(Box::new(format)));
        self.show_backup_page();
        self.drive_page.emit(DrivePageInput::Show(Box::new(drives)));
        self.show_os();
        self.show_write(write, select_all);
    }

    /// Sends the backup page its view.
    fn show_backup_page(&self) {
        let view = present::backup_view(&self.flow);
        self.backup_page.emit(BackupPageInput::Show(Box::new(view)));
    }

    /// Sends the write page its view and updates which actions may run; `select_all`: whether
    /// "Select All Suitable" would choose another drive.
    fn show_write(&self, view: WriteView, select_all: bool) {
        self.write_page.emit(WritePageInput::Show(Box::new(view)));
        actions::update_enabled(&self.flow, select_all, self.os_list.loading);
    }
}

/// The preferences, as the flow takes them.
fn prefs(settings: &gio::Settings) -> Msg {
    Msg::Prefs(Prefs {
        verify: settings.boolean(VERIFY),
        check_capacity: settings.boolean(CHECK_CAPACITY),
        power_off: settings.boolean(POWER_OFF),
        require_signature: settings.boolean(REQUIRE_SIGNATURE),
    })
}

/// The preferences' catalog and the key pinned for it.
fn catalog_prefs(settings: &gio::Settings) -> (String, String) {
    (
        settings.string(CATALOG).to_string(),
        settings.string(super::settings::CATALOG_KEY).to_string(),
    )
}

/// The catalog the preference names: Raspberry Pi's when it is empty.
fn catalog_or_default(named: &str) -> String {
    match named.trim() {
        "" => blockprint::catalog::RASPBERRY_PI.to_owned(),
        named => named.to_owned(),
    }
}

/// Whether `text` names a catalog (a `.json` file or address) rather than an image.
fn catalog_named(text: &str) -> bool {
    let path = text.split(['?', '#']).next().unwrap_or(text);
    path.to_ascii_lowercase().ends_with(".json")
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
                s.input(AppInput::OpenText(text));
                true
            }
            None => false,
        }
    });
    window.add_controller(target);
}
