//! The build script (Cargo.toml points here). With the `gui` feature: compiles the GSettings
//! schema into the build tree, so the app runs from `cargo run` before anything is installed
//! (meson installs the schema for real). Under meson's development profile the schema's id
//! and path are the `.Devel` app id's, as src/gui/config.rs reads BLOCKPRINT_APP_ID.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=data");
    println!("cargo::rerun-if-env-changed=BLOCKPRINT_APP_ID");
    if std::env::var_os("CARGO_FEATURE_GUI").is_none() {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let schemas = out.join("schemas");
    let compiled = schema_source(&out).is_some_and(|source| {
        std::fs::create_dir_all(&schemas).is_ok()
            && Command::new("glib-compile-schemas")
                .args(["--strict", "--targetdir"])
                .arg(&schemas)
                .arg(source)
                .status()
                .is_ok_and(|s| s.success())
    });
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

/// The folder holding the schema to compile: data/ itself, or for another app id (meson's
/// development profile) a copy under OUT_DIR with the id and path rewritten, as meson's
/// data/meson.build rewrites the installed one.
fn schema_source(out: &std::path::Path) -> Option<PathBuf> {
    const BASE: &str = "io.github.blockprint.Blockprint";
    let id = std::env::var("BLOCKPRINT_APP_ID").unwrap_or_else(|_| BASE.into());
    if id == BASE {
        return Some(PathBuf::from("data"));
    }
    let text = std::fs::read_to_string(format!("data/{BASE}.gschema.xml")).ok()?;
    let text = text
        .replace(&format!("\"{BASE}\""), &format!("\"{id}\""))
        .replace(
            &format!("/{}/", BASE.replace('.', "/")),
            &format!("/{}/", id.replace('.', "/")),
        );
    let dir = out.join("schema-source");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join(format!("{id}.gschema.xml")), text).ok()?;
    Some(dir)
}
