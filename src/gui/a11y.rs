//! Accessible names and descriptions for screen readers. gtk-rs binds GtkAccessible only
//! from GTK 4.10, and Debian 12 has 4.8; the C function below has been in GTK since 4.0.

use std::ffi::{c_int, c_void};

use relm4::gtk;
use relm4::gtk::glib::gobject_ffi::GValue;
use relm4::gtk::glib::translate::{IntoGlib, ToGlibPtr};
use relm4::gtk::prelude::*;

unsafe extern "C" {
    /// `gtk_accessible_update_property_value` (GTK ≥ 4.0).
    fn gtk_accessible_update_property_value(
        accessible: *mut c_void,
        n_properties: c_int,
        properties: *mut c_int,
        values: *const GValue,
    );
}

/// Sets the name a screen reader announces for `widget`.
pub fn label(widget: &impl IsA<gtk::Widget>, text: &str) {
    set(widget, gtk::AccessibleProperty::Label, text);
}

/// Sets the longer description a screen reader reads after the name.
pub fn description(widget: &impl IsA<gtk::Widget>, text: &str) {
    set(widget, gtk::AccessibleProperty::Description, text);
}

fn set(widget: &impl IsA<gtk::Widget>, property: gtk::AccessibleProperty, text: &str) {
    let value = text.to_value();
    let mut properties = [property.into_glib()];
    let widget: &gtk::Widget = widget.upcast_ref();
    let pointer: *mut gtk::ffi::GtkWidget = widget.to_glib_none().0;
    // SAFETY: every GtkWidget implements GtkAccessible, so the widget pointer is a valid
    // GtkAccessible; one property with one initialised string GValue, as the function
    // requires, both alive until it returns (it copies what it keeps).
    unsafe {
        gtk_accessible_update_property_value(
            pointer.cast(),
            1,
            properties.as_mut_ptr(),
            value.to_glib_none().0,
        );
    }
}
