//! What `blockprint` does without a subcommand: the desktop app in builds with it, help in
//! builds without; and never a hang or a GTK crash where there is no display.

use std::process::Command;

use crate::harness::support::blockprint;

/// `blockprint` with no display at all (and no way to reach one).
fn headless(args: &[&str]) -> crate::harness::support::Run {
    let output = Command::new(env!("CARGO_BIN_EXE_blockprint"))
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run blockprint");
    crate::harness::support::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn help_works_without_a_display() {
    let run = headless(&["--help"]);
    run.ok();
    let help = String::from_utf8_lossy(&run.stdout);
    assert!(
        help.contains("Usage: blockprint [OPTIONS] [IMAGE]... [COMMAND]"),
        "{help}"
    );
    assert!(help.contains("copy") && help.contains("scan"), "{help}");
    // Subcommands still win over image arguments, global flags before them included.
    let run = blockprint(["-q", "list", "--help"]);
    run.ok();
    assert!(String::from_utf8_lossy(&run.stdout).contains("Usage: blockprint list"));
}

/// Typed over ssh, `blockprint` alone prints the help, in any build.
#[test]
fn without_a_display_blockprint_alone_prints_help() {
    let run = headless(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let help = String::from_utf8_lossy(&run.stdout);
    assert!(
        help.contains("Commands:") && help.contains("copy"),
        "{help}"
    );
}

/// A word that is not a subcommand is a usage error, never a window with a bogus image.
#[test]
fn a_mistyped_subcommand_is_a_usage_error() {
    let run = headless(&["cpy", "image.img", "/dev/sdx"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[cfg(feature = "gui")]
#[test]
fn the_app_without_a_display_says_what_to_do() {
    let image = tempfile::NamedTempFile::new().unwrap();
    let run = headless(&[image.path().to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no display to show the window on; use the command line instead"),
        "{}",
        run.stderr
    );
}

#[cfg(not(feature = "gui"))]
#[test]
fn a_build_without_the_app_prints_help_for_image_arguments() {
    let run = headless(&["image.img"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("this build has no desktop app"),
        "{}",
        run.stderr
    );
}

/// The desktop file and the settings schema, as the desktop's own tools check them.
#[test]
fn the_desktop_file_and_schema_are_valid() {
    crate::harness::support::require_tool("desktop-file-validate");
    crate::harness::support::require_tool("glib-compile-schemas");
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    crate::harness::support::sh(
        "desktop-file-validate",
        &[data
            .join("io.github.blockprint.Blockprint.desktop")
            .to_str()
            .unwrap()],
    );
    crate::harness::support::sh(
        "glib-compile-schemas",
        &["--strict", "--dry-run", data.to_str().unwrap()],
    );
}
