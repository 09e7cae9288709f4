//! The preferences, in GSettings: installed schema first, else the one compiled into the
//! build tree (`cargo run`).

use relm4::gtk::gio;

use super::config::{APP_ID, BUILD_SCHEMAS};

/// Key: read back and compare after writing.
pub const VERIFY: &str = "verify-after-writing";
/// Key: power the drive off when done.
pub const POWER_OFF: &str = "power-off-when-done";
/// Key: list every drive.
pub const SHOW_ALL: &str = "show-all-drives";
/// Key: only write images whose block map is signed by a trusted key.
pub const REQUIRE_SIGNATURE: &str = "require-signature";

/// The app's settings, or why there are none.
pub fn settings() -> Result<gio::Settings, String> {
    let installed =
        gio::SettingsSchemaSource::default().and_then(|source| source.lookup(APP_ID, true));
    let schema = installed.or_else(|| {
        let dir = BUILD_SCHEMAS?;
        let parent = gio::SettingsSchemaSource::default();
        gio::SettingsSchemaSource::from_directory(dir, parent.as_ref(), false)
            .ok()?
            .lookup(APP_ID, false)
    });
    schema
        .map(|schema| gio::Settings::new_full(&schema, None::<&gio::SettingsBackend>, None))
        .ok_or_else(|| {
            format!(
                "the settings schema {APP_ID} is not installed: install Blockprint with \
                 `meson install`, or build it with cargo where glib-compile-schemas is \
                 available (apt install libglib2.0-bin)"
            )
        })
}
