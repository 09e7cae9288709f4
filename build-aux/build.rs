//! The build script (Cargo.toml points here). With the `gui` feature: compiles the GSettings
//! schema into the build tree, so the app runs from `cargo run` before anything is installed
//! (meson installs the schema for real).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=data");
    if std::env::var_os("CARGO_FEATURE_GUI").is_none() {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let schemas = out.join("schemas");
    let compiled = std::fs::create_dir_all(&schemas).is_ok()
        && Command::new("glib-compile-schemas")
            .args(["--strict", "--targetdir"])
            .arg(&schemas)
            .arg("data")
            .status()
            .is_ok_and(|s| s.success());
    if compiled {
        println!(
            "cargo::rustc-env=BLOCKPRINT_BUILD_SCHEMAS={}",
            schemas.display()
        );
    } else {
        println!(
            "cargo::warning=glib-compile-schemas failed or is missing (apt install \
             libglib2.0-bin): the app will not remember its preferences until installed"
        );
    }
}
