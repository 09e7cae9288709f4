//! Build-time settings. Meson passes them as environment variables to cargo; a plain
//! `cargo build` gets the development defaults, so it works without meson.

/// The application id (and D-Bus name, GSettings schema id, icon name).
pub const APP_ID: &str = match option_env!("BLOCKPRINT_APP_ID") {
    Some(id) => id,
    None => "io.github.blockprint.Blockprint",
};

/// The gettext domain.
pub const GETTEXT_PACKAGE: &str = "blockprint";

/// Where the compiled translations are installed.
pub const LOCALEDIR: &str = match option_env!("BLOCKPRINT_LOCALEDIR") {
    Some(dir) => dir,
    None => "/usr/share/locale",
};

/// The version shown in the About window.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The compiled GSettings schemas of this build (build-aux/build.rs), for running from the build tree
/// when the schema is not installed.
pub const BUILD_SCHEMAS: Option<&str> = option_env!("BLOCKPRINT_BUILD_SCHEMAS");
