//! Preferences: how drives are written, and where operating systems come from and how much
//! of them is kept (the catalog "Choose OS…" shows, the image cache's size limit, and *Delete
//! Cached Images*).

use gettextrs::gettext;
use relm4::adw::prelude::*;
use relm4::gtk::gio;
use relm4::{adw, gtk};

use crate::gui::i18n::ngettext_f;
use crate::gui::settings::{
    CACHE_GB, CATALOG, CATALOG_KEY, CHECK_CAPACITY, POWER_OFF, REQUIRE_SIGNATURE, VERIFY,
};
use crate::gui::wording::size;

/// The Preferences window.
pub fn show() {
    let app = relm4::main_application();
    let settings = crate::gui::settings::settings();
    let Ok(settings) = settings else {
        return;
    };
    // As tall as the main window: both groups fit, so what the cache holds and its Delete
    // button are in view without scrolling.
    let window = adw::PreferencesWindow::builder()
        .modal(true)
        .search_enabled(false)
        .default_height(680)
        .build();
    let page = adw::PreferencesPage::new();
    let group = adw::PreferencesGroup::builder()
        .title(gettext("Writing"))
        .build();
    for (key, title, subtitle) in [
        (
            VERIFY,
            gettext("_Verify After Writing"),
            gettext("Read everything back from the drive and compare it"),
        ),
        (
            CHECK_CAPACITY,
            gettext("_Check Capacity First"),
            gettext("Find fake cards, which hold less than they claim, in a few seconds"),
        ),
        (
            POWER_OFF,
            gettext("_Power Off When Done"),
            gettext("So the drive is safe to remove as soon as it is written"),
        ),
        (
            REQUIRE_SIGNATURE,
            gettext("Only Write _Signed Images"),
            gettext("Refuse an image unless its block map is signed by a key you trust"),
        ),
    ] {
        let row = adw::ActionRow::builder()
            .title(title)
            .subtitle(subtitle)
            .use_underline(true)
            .build();
        let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
        settings.bind(key, &switch, "active").build();
        row.add_suffix(&switch);
        row.set_activatable_widget(Some(&switch));
        group.add(&row);
    }
    let row = adw::ActionRow::builder()
        .title(gettext("Show _All Drives"))
        .subtitle(gettext("Internal drives too"))
        .use_underline(true)
        .build();
    let switch = gtk::Switch::builder()
        .valign(gtk::Align::Center)
        .action_name("app.show-all-drives")
        .build();
    row.add_suffix(&switch);
    row.set_activatable_widget(Some(&switch));
    group.add(&row);
    page.add(&group);
    page.add(&downloads(&settings));
    window.add(&page);
    window.set_transient_for(app.active_window().as_ref());
    window.present();
}

/// "Downloads": the catalog, the cache's limit, and what the cache holds with its button.
fn downloads(settings: &gio::Settings) -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder()
        .title(gettext("Downloads"))
        .description(gettext(
            "Operating systems chosen from a list are kept for the next card.",
        ))
        .build();
    let catalog = adw::EntryRow::builder()
        .title(gettext("Operating System _List (empty: Raspberry Pi’s)"))
        .use_underline(true)
        .show_apply_button(true)
        .input_purpose(gtk::InputPurpose::Url)
        .text(settings.string(CATALOG).as_str())
        .build();
    let s = settings.clone();
    catalog.connect_apply(move |entry| {
        let _ = s.set_string(CATALOG, entry.text().trim());
    });
    group.add(&catalog);
    let key = adw::EntryRow::builder()
        .title(gettext("Key That Must Sign the List (_fingerprint)"))
        .use_underline(true)
        .show_apply_button(true)
        .text(settings.string(CATALOG_KEY).as_str())
        .build();
    let s = settings.clone();
    key.connect_apply(move |entry| {
        let _ = s.set_string(CATALOG_KEY, entry.text().trim());
    });
    group.add(&key);

    let limit = adw::ActionRow::builder()
        .title(gettext("Ca_che Size Limit (GB)"))
        .subtitle(gettext("The least recently used images go first"))
        .use_underline(true)
        .build();
    let spin = gtk::SpinButton::with_range(1.0, 10_000.0, 1.0);
    spin.set_valign(gtk::Align::Center);
    settings.bind(CACHE_GB, &spin.adjustment(), "value").build();
    crate::gui::a11y::label(&spin, &gettext("Cache size limit in gigabytes"));
    limit.add_suffix(&spin);
    limit.set_activatable_widget(Some(&spin));
    group.add(&limit);

    let kept = adw::ActionRow::builder()
        .title(gettext("Cached Images"))
        .build();
    let delete = gtk::Button::with_mnemonic(&gettext("_Delete Cached Images"));
    delete.set_valign(gtk::Align::Center);
    delete.add_css_class("destructive-action");
    kept.add_suffix(&delete);
    let show = {
        let (kept, delete) = (kept.clone(), delete.clone());
        move || {
            let listed = crate::gui::settings::image_cache()
                .map(|c| c.list())
                .unwrap_or_default();
            // Parts of downloads cut short count in the size, not as images.
            let bytes: u64 = listed.iter().map(|k| k.size).sum();
            let images = listed.iter().filter(|k| k.complete).count();
            kept.set_subtitle(&if listed.is_empty() {
                gettext("None")
            } else {
                ngettext_f(
                    "{n} image, {size}",
                    "{n} images, {size}",
                    images as u64,
                    &[("n", &images.to_string()), ("size", &size(bytes))],
                )
            });
            delete.set_sensitive(!listed.is_empty());
        }
    };
    show();
    delete.connect_clicked(move |_| {
        if let Some(cache) = crate::gui::settings::image_cache()
            && let Err(e) = cache.clear()
        {
            crate::cli::say(
                "",
                &format_args!(
                    "cannot delete the cached images in {}: {e}",
                    cache.dir().display()
                ),
            );
        }
        show();
    });
    group.add(&kept);
    group
}
