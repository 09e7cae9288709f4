//! The desktop app (relm4, GTK 4, libadwaita), in builds with the `gui` feature.
//!
//! ```text
//!  main ──► gui::run(files) ──► App (window) ──► ImagePage · DrivePage (DriveRow…) · WritePage
//!                                 │  Flow: the state machine, no GTK (flow.rs, tested)
//!                                 │  present: Flow ──► each page's view, no GTK (tested)
//!                                 ├─ workers: inspect / scan (inspect.rs), the write job (job.rs)
//!                                 └─ udisks: drive events, OpenDevice, power off, restore
//! ```
//!
//! The pages are fed whole views made by a pure function of the flow rather than built with
//! relm4's `view!` macro and `#[watch]`, so every word and every choice of what to show is
//! decided, and tested, without a display.
//!
//! The app never runs as root and never opens a device itself: udisksd opens it after polkit
//! says yes, and hands over the file descriptor.

mod a11y;
mod app;
mod backup_page;
#[cfg(test)]
mod badge_contrast;
mod config;
mod customise;
mod drive_page;
mod drive_row;
mod flow;
mod format_page;
mod i18n;
mod image_page;
mod inspect;
mod job;
mod meter;
mod os_list;
mod os_page;
mod page;
mod present;
mod settings;
#[cfg(test)]
mod testing;
mod wording;
mod write_line;
mod write_page;

use std::process::ExitCode;

use relm4::gtk::prelude::*;
use relm4::gtk::{gio, glib};
use relm4::{RelmApp, adw};

use app::{App, AppInit};
use config::{APP_ID, GETTEXT_PACKAGE};

/// Starts the app; `files` are images to open (a running instance opens them instead).
pub fn run(files: Vec<String>) -> ExitCode {
    // A word that is neither a subcommand nor a file is a mistyped subcommand, as before
    // the app took file arguments: a usage error, not a window.
    if let Some(word) = files
        .iter()
        .find(|f| !f.contains("://") && !std::path::Path::new(f).exists())
    {
        crate::cli::write_raw(&format!(
            "error: '{}' is neither a subcommand nor an image file\n\n\
             For more information, try '--help'.\n",
            crate::cli::escape_controls(word)
        ));
        return ExitCode::from(2);
    }
    init_gettext();
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        if files.is_empty() {
            // Typed over ssh or on a console: the command line is what there is.
            use clap::CommandFactory;
            let _ = crate::cli::Cli::command().print_help();
            crate::cli::write_raw("\n");
            crate::cli::say(
                "",
                &"no display, so no window; the subcommands above work here",
            );
            return ExitCode::SUCCESS;
        }
        crate::cli::say(
            "",
            &"no display to show the window on; use the command line instead \
              (blockprint --help)",
        );
        return ExitCode::FAILURE;
    }
    if running_as_root() {
        crate::cli::say(
            "",
            &"running the desktop app as root is not needed: run it as your own user; \
              writing a drive asks for permission through polkit",
        );
    }
    if let Err(e) = adw::init() {
        crate::cli::say("", &format_args!("cannot start GTK: {e}"));
        return ExitCode::FAILURE;
    }
    let settings = match settings::settings() {
        Ok(settings) => settings,
        Err(e) => {
            crate::cli::say("", &e);
            return ExitCode::FAILURE;
        }
    };
    glib::set_application_name(&gettextrs::gettext("Blockprint"));
    gtk::Window::set_default_icon_name(APP_ID);
    // Files go through GApplication's "open": a second start hands them to the running
    // window and ends, and the first start opens them once its window exists.
    let app = adw::Application::builder()
        .application_id(APP_ID)
        .flags(gio::ApplicationFlags::HANDLES_OPEN)
        .build();
    app.connect_open(|app, files, _hint| {
        app.activate();
        for file in files {
            let text = match file.path() {
                Some(path) => path.display().to_string(),
                None => file.uri().to_string(),
            };
            app.activate_action("open-image", Some(&text.to_variant()));
        }
    });
    relm4::set_global_css(include_str!("../ui/style.css"));
    let mut args = vec!["blockprint".to_owned()];
    args.extend(files);
    RelmApp::from_app(app)
        .with_args(args)
        .run::<App>(AppInit { settings });
    ExitCode::SUCCESS
}

/// Whether the app runs as root (which it never needs).
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn init_gettext() {
    use gettextrs::{
        LocaleCategory, bind_textdomain_codeset, bindtextdomain, setlocale, textdomain,
    };
    // SAFETY: setlocale changes process-wide state that other threads may read; this runs
    // first thing in `run`, on the main thread, before GTK or anything else starts a thread.
    unsafe {
        setlocale(LocaleCategory::LcAll, "");
    }
    // Without translations the English strings show: nothing to report. (glibc ignores
    // LANGUAGE under the plain C locale; C.UTF-8 is enough.)
    let _ = bindtextdomain(GETTEXT_PACKAGE, config::localedir());
    let _ = bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    let _ = textdomain(GETTEXT_PACKAGE);
}

use relm4::gtk;
