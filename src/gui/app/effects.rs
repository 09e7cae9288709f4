//! Carrying out what the flow asks for: workers, the write job, and its end.

use blockprint::progress::CancelToken;
use blockprint::udisks::Udisks;
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::gio;
use relm4::{ComponentSender, adw, gtk};

use super::{App, AppCommandOutput, AppInput, dialogs};
use crate::gui::flow::{Effect, Msg, WriteState};
use crate::gui::job::Outcome;
use crate::gui::settings::SHOW_ALL;
use crate::gui::wording::user_error;
use crate::gui::{inspect, job, present};

impl App {
    /// Feeds the flow and carries out its effects.
    pub(super) fn apply(
        &mut self,
        msg: Msg,
        sender: &ComponentSender<Self>,
        window: &adw::ApplicationWindow,
    ) {
        self.toast = None;
        for effect in self.flow.update(msg) {
            self.effect(effect, sender, window);
        }
    }

    pub(super) fn effect(
        &mut self,
        effect: Effect,
        sender: &ComponentSender<Self>,
        window: &adw::ApplicationWindow,
    ) {
        match effect {
            Effect::Inspect(input, bmap, signed_only) => sender.spawn_oneshot_command(move || {
                AppCommandOutput::Inspected(
                    inspect::inspect(&input, bmap.as_ref(), signed_only).map(Box::new),
                )
            }),
            Effect::Scan(input) => {
                // Only a raw local file is scanned (the flow asks for nothing else).
                let Some(path) = input.as_path().map(std::path::Path::to_path_buf) else {
                    return;
                };
                let cancel = CancelToken::new();
                self.scan_cancel = Some(cancel.clone());
                sender.spawn_oneshot_command(move || {
                    let result = inspect::scan_bmap(&path, &cancel);
                    AppCommandOutput::Scanned(input, result)
                });
            }
            Effect::DetectFirstBoot(input) => {
                if let Some(path) = input.as_path().map(std::path::Path::to_path_buf) {
                    sender.spawn_oneshot_command(move || {
                        let found = blockprint::firstboot::detect_image(&path, None)
                            .map_err(crate::gui::flow::Unsettable::from);
                        AppCommandOutput::FirstBootDetected(input, found)
                    });
                }
            }
            Effect::CancelScan => {
                if let Some(cancel) = self.scan_cancel.take() {
                    cancel.cancel();
                }
            }
            Effect::ConfirmShowAll => {
                let s = sender.clone();
                dialogs::confirm_show_all(window, move || {
                    s.input(AppInput::Flow(Msg::ShowAll(true)));
                });
            }
            Effect::SaveShowAll(all) => {
                self.settings.set_boolean(SHOW_ALL, all).ok();
            }
            Effect::AskSystemDrive(drive) => {
                let s = sender.clone();
                let key = drive.key.clone();
                dialogs::confirm_system_drive(window, &drive, move || {
                    s.input(AppInput::Flow(Msg::SystemDriveConfirmed(key.clone())));
                });
            }
            Effect::ConfirmWrite(drives) => {
                let s = sender.clone();
                let image = self
                    .flow
                    .image
                    .as_ref()
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                let warning = self
                    .flow
                    .image
                    .as_ref()
                    .and_then(|i| crate::gui::wording::kind::confirmation(&i.identity));
                dialogs::confirm_write(window, &drives, &image, warning, move || {
                    s.input(AppInput::Flow(Msg::WriteConfirmed));
                });
            }
            Effect::Start(request) => self.start(*request, sender, window),
            Effect::ConfirmCancel { quit } => {
                let s = sender.clone();
                dialogs::confirm_cancel(window, quit, move || {
                    s.input(AppInput::Flow(Msg::CancelConfirmed { quit }))
                });
            }
            Effect::CancelJob => {
                if let Some(cancel) = &self.cancel {
                    cancel.cancel();
                }
            }
            Effect::SkipVerify => {
                if let Some(skip) = &self.skip_verify {
                    skip.cancel();
                }
            }
            Effect::Ended => self.ended(window),
            Effect::Close => window.destroy(),
            Effect::ChooseFormat { drives, chosen } => {
                let s = sender.clone();
                dialogs::choose_format(window, &drives, chosen.as_deref(), move |drive| {
                    s.input(AppInput::Flow(Msg::FormatConfirmed(Box::new(drive))));
                });
            }
            Effect::Eject(drive) => {
                if let Some(udisks) = self.udisks.clone() {
                    sender.spawn_oneshot_command(move || {
                        let result = udisks.prepare(&drive).and_then(|_| udisks.finish(&drive));
                        AppCommandOutput::Ejected(result)
                    });
                }
            }
            Effect::Backup(effect) => self.backup_effect(effect, sender, window),
            Effect::Format(drive) => match self.udisks.clone() {
                Some(udisks) => super::actions::format(udisks, drive, sender),
                None => self.apply(
                    Msg::Formatted(Err(blockprint::udisks::UdisksError::Unavailable(
                        "udisksd is not running".into(),
                    ))),
                    sender,
                    window,
                ),
            },
        }
    }

    fn start(
        &mut self,
        request: job::Request,
        sender: &ComponentSender<Self>,
        window: &adw::ApplicationWindow,
    ) {
        let Some(udisks) = self.udisks.clone() else {
            self.toast = Some(gettext(
                "Drives cannot be written: the UDisks service is not running",
            ));
            return;
        };
        let cancel = CancelToken::new();
        self.cancel = Some(cancel.clone());
        self.skip_verify = Some(request.skip_verify.clone());
        let app = relm4::main_application();
        // 0 means no session manager or portal took it (a bare X session): nothing to undo.
        let cookie = app.inhibit(
            Some(window),
            gtk::ApplicationInhibitFlags::SUSPEND | gtk::ApplicationInhibitFlags::IDLE,
            Some(&gettext("Writing a drive")),
        );
        self.inhibit = (cookie > 0).then_some(cookie);
        sender.spawn_command(move |out| {
            job::run(&udisks, &request, &cancel, &|event| {
                // The window may be gone (the app quit); then nobody is listening.
                let _ = out.send(AppCommandOutput::Job(event));
            });
        });
    }

    fn ended(&mut self, window: &adw::ApplicationWindow) {
        self.cancel = None;
        self.skip_verify = None;
        let app = relm4::main_application();
        if let Some(cookie) = self.inhibit.take() {
            app.uninhibit(cookie);
        }
        // The engine's whole message, for a terminal or a bug report; the page has the words.
        for written in self.flow.write.drives() {
            if let Some(Outcome::Failed { error, .. }) = &written.outcome {
                let details = user_error(&**error).details;
                crate::cli::say("", &format_args!("writing failed: {details}"));
            }
        }
        if !window.is_active() && matches!(self.flow.write, WriteState::Over(_)) {
            let image = self.flow.image.as_ref().map_or("", |i| i.name.as_str());
            let (title, body) = present::notification(self.flow.write.drives(), image);
            let notification = gio::Notification::new(&title);
            notification.set_body(Some(&body));
            app.send_notification(Some("write-finished"), &notification);
        }
    }

    pub(super) fn trust(
        &mut self,
        file: &std::path::Path,
        issuer: &str,
        sender: &ComponentSender<Self>,
        window: &adw::ApplicationWindow,
    ) {
        let Some(folder) = blockprint::signature::user_trusted_keys() else {
            self.toast = Some(gettext("There is no home folder to keep trusted keys in"));
            return;
        };
        match blockprint::signature::trust_key(file, issuer, &folder) {
            Ok(_) => {
                self.toast = Some(gettext("Key trusted"));
                if let Some(input) = self.flow.image.as_ref().map(|i| i.input.clone()) {
                    self.apply(Msg::OpenImage(input), sender, window);
                }
            }
            Err(e) => self.toast = Some(user_error(&e).body),
        }
    }
}

/// Connects to udisksd and forwards its drive events, on a thread of its own for the life of
/// the app (the events come from D-Bus signals: no polling).
pub(super) fn watch_drives(sender: &ComponentSender<App>) {
    sender.spawn_command(|out| {
        let udisks = match Udisks::connect() {
            Ok(udisks) => udisks,
            Err(e) => {
                let _ = out.send(AppCommandOutput::NoUdisks(e));
                return;
            }
        };
        let events = match udisks.watch() {
            Ok(events) => events,
            Err(e) => {
                let _ = out.send(AppCommandOutput::NoUdisks(e));
                return;
            }
        };
        if out.send(AppCommandOutput::Connected(udisks)).is_err() {
            return;
        }
        for event in events {
            if out.send(AppCommandOutput::Drive(Box::new(event))).is_err() {
                return;
            }
        }
    });
}
