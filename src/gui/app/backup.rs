//! Carrying out "Back Up Drive…": its question and save chooser, the worker (udisksd frees and
//! opens the drive read-only and exclusively, the engine reads its used blocks through that
//! descriptor), suspend held off meanwhile, and its end.
//!
//! ```text
//!  prepare (unmount) ─► open_read(exclusive) ─► Descriptor ─► backup::backup ─► BackupSummary
//!        └──────────── each step's failure, or a cancel ──────────────────────► BackupFailure
//! ```

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blockprint::backup::{self, BackupOptions, Format, Meter};
use blockprint::drives::Drive;
use blockprint::progress::{CancelToken, Event};
use blockprint::source::Descriptor;
use blockprint::udisks::{Udisks, UdisksError};
use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::{gio, glib};
use relm4::{ComponentSender, adw, gtk};

use super::{App, AppCommandOutput, AppInput, backup_dialog};
use crate::gui::flow::{
    BackupEffect, BackupEnd, BackupEvent, BackupFailure, BackupMsg, BackupState, BackupSummary,
    Msg, output_path, suggested_name,
};
use crate::gui::present;
use crate::gui::wording::user_error;

/// The least time between two progress reports to the window: ten a second at most.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// A message of "Back Up Drive…" for the flow.
fn flow(msg: BackupMsg) -> AppInput {
    AppInput::Flow(Msg::Backup(msg))
}

impl App {
    /// Carries out what the flow asks of "Back Up Drive…".
    pub(super) fn backup_effect(
        &mut self,
        effect: BackupEffect,
        sender: &ComponentSender<Self>,
        window: &adw::ApplicationWindow,
    ) {
        match effect {
            BackupEffect::ChooseDrive { drives, chosen } => {
                let s = sender.clone();
                backup_dialog::choose(window, &drives, chosen.as_deref(), move |drive| {
                    s.input(flow(BackupMsg::DriveChosen(Box::new(drive))));
                });
            }
            BackupEffect::ChooseFile { drive, folder } => {
                let name = suggested_name(&drive, &today());
                self.choose_backup_file(window, sender, drive, folder, name);
            }
            BackupEffect::Start { drive, out } => self.start_backup(drive, out, sender, window),
            BackupEffect::Cancel => {
                if let Some(cancel) = &self.backup_cancel {
                    cancel.cancel();
                }
            }
            BackupEffect::ConfirmQuit => {
                let s = sender.clone();
                backup_dialog::confirm_quit(window, move || {
                    s.input(flow(BackupMsg::StopAndQuit));
                });
            }
            BackupEffect::Ended => self.backup_ended(window),
        }
    }

    /// "Save Backup As": in `folder` (else the home folder), `name` suggested. A name the
    /// flow adds `.img.zst` to that is taken already is asked for again under its full name,
    /// so the chooser asks before anything is replaced.
    pub(super) fn choose_backup_file(
        &mut self,
        window: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
        drive: Drive,
        folder: Option<PathBuf>,
        name: String,
    ) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Save Backup As")),
            Some(window),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Save")),
            Some(&gettext("_Cancel")),
        );
        let folder = folder.filter(|f| f.is_dir()).unwrap_or_else(glib::home_dir);
        chooser
            .set_current_folder(Some(&gio::File::for_path(&folder)))
            .ok();
        chooser.set_current_name(&name);
        let s = sender.clone();
        chooser.connect_response(move |chooser, response| {
            if response != gtk::ResponseType::Accept {
                return;
            }
            let Some(path) = chooser.file().and_then(|f| f.path()) else {
                return;
            };
            let out = output_path(&path);
            if out != path && out.exists() {
                let folder = out.parent().map(Path::to_path_buf);
                let name = out
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                s.input(AppInput::BackupFile(Box::new(drive.clone()), folder, name));
            } else {
                s.input(flow(BackupMsg::FileChosen(Box::new(drive.clone()), path)));
            }
        });
        chooser.show();
        self.chooser = Some(chooser);
    }

    /// Starts the worker, suspend held off until it ends.
    fn start_backup(
        &mut self,
        drive: Drive,
        out: PathBuf,
        sender: &ComponentSender<Self>,
        window: &adw::ApplicationWindow,
    ) {
        let Some(udisks) = self.udisks.clone() else {
            let missing = UdisksError::Unavailable("udisksd is not running".into());
            let ended = BackupEvent::Ended(Err(missing.into()));
            self.apply(Msg::Backup(BackupMsg::Worker(ended)), sender, window);
            return;
        };
        let cancel = CancelToken::new();
        self.backup_cancel = Some(cancel.clone());
        let app = relm4::main_application();
        // 0 means no session manager or portal took it (a bare X session): nothing to undo.
        let cookie = app.inhibit(
            Some(window),
            gtk::ApplicationInhibitFlags::SUSPEND | gtk::ApplicationInhibitFlags::IDLE,
            Some(&gettext("Backing up a drive")),
        );
        self.inhibit = (cookie > 0).then_some(cookie);
        sender.spawn_command(move |out_tx| {
            // The window may be gone (the app quit); then nobody is listening.
            let send = |event| {
                let _ = out_tx.send(AppCommandOutput::Backup(event));
            };
            let result = run(&udisks, &drive, &out, &cancel, &send);
            send(BackupEvent::Ended(result));
        });
    }

    fn backup_ended(&mut self, window: &adw::ApplicationWindow) {
        self.backup_cancel = None;
        let app = relm4::main_application();
        if let Some(cookie) = self.inhibit.take() {
            app.uninhibit(cookie);
        }
        // The engine's whole message, for a terminal or a bug report; the page has the words.
        if let BackupState::Over(_, BackupEnd::Failed(failure)) = &self.flow.backup.state {
            let details = user_error(&**failure).details;
            crate::cli::say("", &format_args!("backing up failed: {details}"));
        }
        if !window.is_active()
            && let Some((title, body)) = present::backup_notification(&self.flow)
        {
            let notification = gio::Notification::new(&title);
            notification.set_body(Some(&body));
            app.send_notification(Some("backup-finished"), &notification);
        }
    }

    /// "Show in Files": the backup's folder in the file manager.
    pub(super) fn show_backup(&mut self) {
        let BackupState::Over(_, BackupEnd::Saved(summary)) = &self.flow.backup.state else {
            return;
        };
        let Some(folder) = summary.output.parent() else {
            return;
        };
        let uri = gio::File::for_path(folder).uri();
        if let Err(e) = gio::AppInfo::launch_default_for_uri(&uri, None::<&gio::AppLaunchContext>) {
            crate::cli::say("", &format_args!("cannot show {uri}: {e}"));
            self.toast = Some(gettext("No file manager could be opened"));
        }
    }
}

/// Today's date as `2025-05-01`, for the name of a backup.
fn today() -> String {
    glib::DateTime::now_local()
        .and_then(|now| now.format("%Y-%m-%d"))
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// Backs `drive` up into `out`: unmounted, opened read-only and exclusively through udisksd
/// (polkit decides), then read by the engine through that descriptor; progress to `send` ten
/// times a second at most. The drive is left as it was: not powered off, nothing written.
fn run(
    udisks: &Udisks,
    drive: &Drive,
    out: &Path,
    cancel: &CancelToken,
    send: &dyn Fn(BackupEvent),
) -> Result<BackupSummary, BackupFailure> {
    let started = Instant::now();
    udisks.prepare(drive)?;
    if cancel.is_cancelled() {
        return Err(BackupFailure::Cancelled);
    }
    // Exclusive: nothing can be mounted while it is read, so the image is consistent.
    let opened = udisks.open_read(drive, true)?;
    let source = Descriptor::new(
        opened.file,
        &drive.device.display().to_string(),
        opened.direct,
    )
    .map_err(|source| BackupFailure::Open {
        device: drive.device.clone(),
        source,
    })?;
    if cancel.is_cancelled() {
        return Err(BackupFailure::Cancelled);
    }
    let meter = Meter::new();
    let options = BackupOptions {
        meter: meter.clone(),
        ..BackupOptions::default()
    };
    let mut reported: Option<Instant> = None;
    let mut sink = |event: &Event| {
        match event {
            Event::PhaseStarted { phase, total_bytes } => {
                send(BackupEvent::Phase(*phase, *total_bytes));
                reported = None;
            }
            Event::Progress { done_bytes, .. }
                if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) =>
            {
                reported = Some(Instant::now());
                send(BackupEvent::Progress {
                    read: *done_bytes,
                    saved: meter.output_bytes(),
                });
            }
            _ => {}
        }
        ControlFlow::Continue(())
    };
    let format = Format::from_path(out);
    let report = backup::backup(&source, out, format, options, &mut sink, cancel)?;
    Ok(BackupSummary {
        output: report.output,
        bmap: report.bmap,
        image_size: report.image_size,
        used_bytes: report.used_bytes,
        output_size: report.output_size,
        ranges: report.ranges,
        elapsed: started.elapsed(),
    })
}
