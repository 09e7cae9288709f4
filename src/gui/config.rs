//! Build-time settings. Meson passes them as environment variables to cargo; a plain
//! `cargo build` gets the development defaults, so it works without meson.

/// The application id (and D-Bus name, GSettings schema id, icon name).
pub const APP_ID: &str = match option_env!("BLOCKPRINT_APP_ID") {
    Some(id) => id,
    None => "io.github.blockprint.Blockprint",
};

/// The gettext domain.
pub const GETTEXT_PACKAGE: &str = "blockprint";

/// Where the compiled translations are installed (meson passes its `localedir`).
pub const LOCALEDIR: &str = match option_env!("BLOCKPRINT_LOCALEDIR") {
    Some(dir) => dir,
    None => "/usr/share/locale",
};

/// Whether this is the development profile (meson's debug buildtypes set
/// `BLOCKPRINT_DEVEL`): the window shows libadwaita's `devel` stripes.
pub const DEVEL: bool = option_env!("BLOCKPRINT_DEVEL").is_some();

/// Where to look for the translations: `BLOCKPRINT_LOCALEDIR` in the environment when it is set
/// (tests, and `cargo run` against .mo files compiled by hand), else [`LOCALEDIR`].
pub fn localedir() -> std::path::PathBuf {
    match std::env::var_os("BLOCKPRINT_LOCALEDIR") {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => LOCALEDIR.into(),
    }
}

/// The version shown in the About window.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The compiled GSettings schemas of this build (build-aux/build.rs), for running from the build tree
/// when the schema is not installed.
pub const BUILD_SCHEMAS: Option<&str> = option_env!("BLOCKPRINT_BUILD_SCHEMAS");

/// The project's website, in the About window; the metainfo's `homepage` URL.
pub const WEBSITE: &str = "https://github.com/blockprint/blockprint";

/// Where to report a bug, in the About window; the metainfo's `bugtracker` URL.
pub const ISSUES: &str = "https://github.com/blockprint/blockprint/issues";

#[cfg(test)]
mod tests {
    /// The About window links where the metainfo (the software centre's page) does.
    #[test]
    fn the_about_links_are_the_metainfos() {
        let metainfo = include_str!("../../data/io.github.blockprint.Blockprint.metainfo.xml");
        for (kind, url) in [("homepage", super::WEBSITE), ("bugtracker", super::ISSUES)] {
            let line = format!("<url type=\"{kind}\">{url}</url>");
            assert!(metainfo.contains(&line), "the metainfo has no {line}");
        }
    }
}
