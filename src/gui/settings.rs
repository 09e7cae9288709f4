//! The preferences, in GSettings: installed schema first, else the one compiled into the
//! build tree (`cargo run`).

use std::sync::atomic::{AtomicU64, Ordering};

use blockprint::catalog::ImageCache;
use blockprint::source::Opener;
use relm4::gtk::gio;
use relm4::gtk::prelude::*;

use super::config::{APP_ID, BUILD_SCHEMAS};

/// Key: read back and compare after writing.
pub const VERIFY: &str = "verify-after-writing";
/// Key: power the drive off when done.
pub const POWER_OFF: &str = "power-off-when-done";
/// Key: find out how much a drive really holds before writing it (counterfeit cards).
pub const CHECK_CAPACITY: &str = "check-capacity";
/// Key: list every drive.
pub const SHOW_ALL: &str = "show-all-drives";
/// Key: only write images whose block map is signed by a trusted key.
pub const REQUIRE_SIGNATURE: &str = "require-signature";

/// Key: the catalog "Choose OS…" shows (empty: Raspberry Pi's).
pub const CATALOG: &str = "catalog";
/// Key: the fingerprint of the key that must have signed that catalog (empty: none).
pub const CATALOG_KEY: &str = "catalog-key";
/// Key: the image cache's size limit, in GB.
pub const CACHE_GB: &str = "image-cache-gb";
/// Key: the first-boot settings profiles, name → the TOML `copy --settings` reads.
pub const FIRST_BOOT_PROFILES: &str = "first-boot-profiles";
/// Key: the first-boot profile chosen last (empty: none).
pub const FIRST_BOOT_PROFILE: &str = "first-boot-profile";

/// The image cache's size limit in bytes, as the preference last set it (read by the write
/// job's thread, which has no settings of its own).
static CACHE_QUOTA: AtomicU64 = AtomicU64::new(blockprint::catalog::DEFAULT_QUOTA);

/// Takes the image cache's size limit from `settings`.
pub fn load_cache_quota(settings: &gio::Settings) {
    let bytes = u64::from(settings.uint(CACHE_GB)).saturating_mul(1_000_000_000);
    CACHE_QUOTA.store(bytes, Ordering::Relaxed);
}

/// The user's image cache, with the preference's size limit.
pub fn image_cache() -> Option<ImageCache> {
    ImageCache::user().map(|c| c.with_quota(CACHE_QUOTA.load(Ordering::Relaxed)))
}

/// An opener that keeps catalog images' downloads in [`image_cache`].
pub fn opener() -> Opener {
    match image_cache() {
        Some(cache) => Opener::new().with_image_cache(cache),
        None => Opener::new(),
    }
}

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
