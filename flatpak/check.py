#!/usr/bin/env python3
"""Offline checks of the Flatpak manifest and the files it installs, with no flatpak-builder:

- the app id is the same in the manifest, the desktop file, the metainfo, the GSettings schema
  and the icon names, and `command` is the binary the metainfo provides;
- the GNOME runtime and SDK, with the rust-stable extension on the path, and an offline build
  (CARGO_NET_OFFLINE, and meson's `cargo --locked`; no network while building);
- finish-args are exactly the allowed list: never --device=all, --filesystem=host or home, or
  any other hole in the sandbox;
- every source a module names exists (local files and folders, and JSON source files);
- cargo-sources.json vendors every crates.io package of Cargo.lock with the lock's checksum,
  and nothing else, with its .cargo-checksum.json and the cargo config, and is what
  flatpak/cargo-sources.py writes today;
- the metainfo's screenshots are the PNGs in data/screenshots, at the sizes it states;
- the symbolic icon is 16×16, one colour, no strokes or gradients.

Prints one line per check and exits 1 if any failed. Needs Python 3.11 and PyYAML
(python3-yaml on Debian).
"""

import importlib.util
import json
import re
import struct
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLATPAK = ROOT / "flatpak"
APP_ID = "io.github.blockprint.Blockprint"
MANIFEST = FLATPAK / f"{APP_ID}.yml"
BINARY = "blockprint"

ALLOWED_FINISH_ARGS = [
    "--socket=wayland",
    "--socket=fallback-x11",
    "--share=ipc",
    "--device=dri",
    "--share=network",
    "--system-talk-name=org.freedesktop.UDisks2",
    "--filesystem=xdg-download:ro",
]
# Named so that a failure says what is wrong, though anything off the list fails anyway.
FORBIDDEN_FINISH_ARGS = re.compile(
    r"^--(device=all|filesystem=(host|host-os|host-etc|home|/)|socket=(x11|session-bus|system-bus)"
    r"|talk-name=org\.freedesktop\.Flatpak)"
)
SCREENSHOT_URL = "https://raw.githubusercontent.com/blockprint/blockprint/main/data/screenshots/"
CRATES_IO = {
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
}

failures: list[str] = []


def check(ok: bool, what: str, why: str = "") -> bool:
    """Records one check: `what` is what should hold, `why` what was found instead."""
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or not why else f": {why}"))
    if not ok:
        failures.append(what)
    return ok


def load_manifest() -> dict:
    try:
        import yaml
    except ImportError:
        print("check: PyYAML is missing (apt install python3-yaml)", file=sys.stderr)
        sys.exit(1)
    with MANIFEST.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def check_manifest(m: dict) -> None:
    check(m.get("id") == APP_ID, f"manifest id is {APP_ID}", repr(m.get("id")))
    check(m.get("command") == BINARY, f"command is {BINARY}", repr(m.get("command")))
    check(m.get("runtime") == "org.gnome.Platform", "runtime is org.gnome.Platform", repr(m.get("runtime")))
    check(m.get("sdk") == "org.gnome.Sdk", "sdk is org.gnome.Sdk", repr(m.get("sdk")))
    version = m.get("runtime-version")
    check(
        isinstance(version, str) and re.fullmatch(r"[0-9]{2,}", version) is not None,
        "runtime-version is a quoted stable GNOME version (not master)",
        repr(version),
    )
    check(
        "org.freedesktop.Sdk.Extension.rust-stable" in (m.get("sdk-extensions") or []),
        "sdk-extensions has rust-stable",
    )
    options = m.get("build-options") or {}
    check(
        "/usr/lib/sdk/rust-stable/bin" in str(options.get("append-path", "")).split(":"),
        "build-options append the rust-stable bin folder to PATH",
    )
    env = options.get("env") or {}
    check(
        str(env.get("CARGO_HOME", "")).endswith("/cargo"),
        "CARGO_HOME is the cargo folder cargo-sources.json fills",
        repr(env.get("CARGO_HOME")),
    )

    args = m.get("finish-args") or []
    forbidden = [a for a in args if FORBIDDEN_FINISH_ARGS.match(a)]
    check(not forbidden, "no --device=all, --filesystem=host/home, x11 or whole-bus access", ", ".join(forbidden))
    extra = [a for a in args if a not in ALLOWED_FINISH_ARGS]
    missing = [a for a in ALLOWED_FINISH_ARGS if a not in args]
    check(not extra and not missing and len(args) == len(set(args)),
          "finish-args are exactly the allowed list",
          f"extra {extra}, missing {missing}" if extra or missing else "duplicates")

    modules = m.get("modules") or []
    check(bool(modules), "the manifest has modules")
    for module in modules:
        if isinstance(module, str):
            check((FLATPAK / module).is_file(), f"module file {module} exists")
            continue
        name = module.get("name", "?")
        build_args = (module.get("build-options") or {}).get("build-args") or []
        check("--share=network" not in build_args + (options.get("build-args") or []),
              f"module {name} builds without network")
        commands = module.get("build-commands") or []
        cargo = [c for c in commands if c.lstrip().startswith("cargo ")]
        for c in cargo:
            check("--offline" in c.split() and "--locked" in c.split(),
                  f"module {name} runs cargo offline and locked", c)
        if module.get("buildsystem") == "meson":
            # meson.build always passes --locked; CARGO_NET_OFFLINE makes cargo offline.
            opts = module.get("config-opts") or []
            env = {**(options.get("env") or {}), **((module.get("build-options") or {}).get("env") or {})}
            check(str(env.get("CARGO_NET_OFFLINE")).lower() == "true",
                  f"module {name} runs cargo offline (CARGO_NET_OFFLINE)", repr(env))
            check("--buildtype=release" in opts, f"module {name} builds the default profile (--buildtype=release)", repr(opts))
        for source in module.get("sources") or []:
            check_source(name, source)


def check_source(module: str, source) -> None:
    if isinstance(source, str):
        path = FLATPAK / source
        ok = check(path.is_file(), f"module {module}: source file {source} exists")
        if ok:
            try:
                json.loads(path.read_text(encoding="utf-8"))
                check(True, f"module {module}: {source} is valid JSON")
            except ValueError as e:
                check(False, f"module {module}: {source} is valid JSON", str(e))
        return
    kind = source.get("type")
    if kind in ("dir", "file", "patch", "script") and "path" in source:
        path = (FLATPAK / source["path"]).resolve()
        exists = path.is_dir() if kind == "dir" else path.is_file()
        check(exists, f"module {module}: {kind} source {source['path']} exists")
    elif kind in ("archive", "file") and "url" in source:
        check(bool(re.fullmatch(r"[0-9a-f]{64}", source.get("sha256", ""))),
              f"module {module}: {source['url']} has a sha256")
    elif kind == "git":
        check("commit" in source or "tag" in source, f"module {module}: git source is pinned")


def lock_packages() -> dict[tuple[str, str], str]:
    with (ROOT / "Cargo.lock").open("rb") as f:
        lock = tomllib.load(f)
    out = {}
    elsewhere = []
    for p in lock.get("package", []):
        source = p.get("source")
        if source is None:
            continue  # the workspace itself
        if source not in CRATES_IO:
            elsewhere.append(f"{p['name']} {p['version']} ({source})")
        out[(p["name"], p["version"])] = p.get("checksum", "")
    check(not elsewhere, "every package of Cargo.lock comes from crates.io or the workspace",
          ", ".join(elsewhere[:10]))
    return out


def check_cargo_sources() -> None:
    path = FLATPAK / "cargo-sources.json"
    try:
        sources = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        check(False, "cargo-sources.json is readable JSON", str(e))
        return
    wanted = lock_packages()
    archives: dict[tuple[str, str], str] = {}
    checksum_files: dict[str, str] = {}
    config = None
    bad_urls, bad_dests, others = [], [], []
    url = re.compile(r"^https://static\.crates\.io/crates/([^/]+)/\1-(.+)\.crate$")
    for s in sources:
        if s.get("type") == "archive":
            match = url.match(s.get("url", ""))
            if not match:
                bad_urls.append(str(s.get("url")))
                continue
            key = (match.group(1), match.group(2))
            if s.get("dest") != f"cargo/vendor/{key[0]}-{key[1]}" or s.get("archive-type") != "tar-gzip":
                bad_dests.append(f"{key[0]} {key[1]}")
            archives[key] = s.get("sha256", "")
        elif s.get("type") == "inline" and s.get("dest-filename") == ".cargo-checksum.json":
            checksum_files[s.get("dest", "")] = json.loads(s.get("contents", "{}")).get("package", "")
        elif s.get("type") == "inline" and s.get("dest") == "cargo" and s.get("dest-filename") in ("config", "config.toml"):
            config = s.get("contents", "")
        else:
            others.append(str(s)[:120])
    check(not bad_urls, "every archive is a .crate from static.crates.io", ", ".join(bad_urls[:5]))
    check(not bad_dests, "every crate unpacks as tar-gzip into cargo/vendor/NAME-VERSION", ", ".join(bad_dests[:10]))
    check(not others, "cargo-sources.json holds only crates, checksum files and the cargo config", "; ".join(others[:3]))

    missing = sorted(set(wanted) - set(archives))
    extra = sorted(set(archives) - set(wanted))
    wrong = sorted(k for k in set(wanted) & set(archives) if wanted[k] != archives[k])
    bad_checksum_files = sorted(
        k for k, sha in archives.items() if checksum_files.get(f"cargo/vendor/{k[0]}-{k[1]}") != sha
    )
    check(not missing, f"cargo-sources.json has every crates.io package of Cargo.lock ({len(wanted)})",
          ", ".join(f"{n} {v}" for n, v in missing[:10]))
    check(not extra, "cargo-sources.json has no package Cargo.lock does not name",
          ", ".join(f"{n} {v}" for n, v in extra[:10]))
    check(not wrong, "every crate's sha256 is its Cargo.lock checksum",
          ", ".join(f"{n} {v}" for n, v in wrong[:10]))
    check(not bad_checksum_files, "every crate has a .cargo-checksum.json with the same checksum",
          ", ".join(f"{n} {v}" for n, v in bad_checksum_files[:10]))
    check(config is not None and 'replace-with = "vendored-sources"' in config
          and 'directory = "cargo/vendor"' in config,
          "the cargo config replaces crates.io with cargo/vendor")

    # And it is exactly what the generator writes from today's Cargo.lock.
    spec = importlib.util.spec_from_file_location("cargo_sources", FLATPAK / "cargo-sources.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    try:
        fresh = generator.render(ROOT / "Cargo.lock")
    except generator.LockError as e:
        check(False, "flatpak/cargo-sources.py accepts Cargo.lock", str(e))
        return
    check(fresh == path.read_text(encoding="utf-8"),
          "cargo-sources.json is up to date (flatpak/cargo-sources.py writes the same)",
          "run flatpak/cargo-sources.py")


def png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_data() -> None:
    data = ROOT / "data"
    desktop = data / f"{APP_ID}.desktop"
    check(desktop.is_file(), f"data/{APP_ID}.desktop exists")
    if desktop.is_file():
        text = desktop.read_text(encoding="utf-8")
        check(f"\nIcon={APP_ID}\n" in text, "the desktop file's Icon is the app id")
        check(re.search(rf"^Exec={BINARY}( |$)", text, re.M) is not None, f"the desktop file runs {BINARY}")

    schema = data / f"{APP_ID}.gschema.xml"
    ids = [s.get("id") for s in ET.parse(schema).getroot().iter("schema")]
    check(ids == [APP_ID], "the GSettings schema id is the app id", repr(ids))

    metainfo = data / f"{APP_ID}.metainfo.xml"
    root = ET.parse(metainfo).getroot()
    check(root.findtext("id") == APP_ID, "the metainfo id is the app id", repr(root.findtext("id")))
    launchable = root.find("launchable")
    check(launchable is not None and launchable.text == f"{APP_ID}.desktop"
          and launchable.get("type") == "desktop-id", "the metainfo launches the desktop file")
    binaries = [b.text for b in root.iterfind("provides/binary")]
    check(binaries == [BINARY], f"the metainfo provides the binary {BINARY}", repr(binaries))
    check(root.findtext("translation") == "blockprint", "the metainfo names the gettext domain")
    check(root.findtext("project_license") == "GPL-3.0-or-later", "the metainfo's licence is the project's")

    images = list(root.iterfind("screenshots/screenshot/image"))
    check(len(images) >= 3, "the metainfo has at least three screenshots", str(len(images)))
    for image in images:
        url = image.text or ""
        if not check(url.startswith(SCREENSHOT_URL), "a screenshot URL points into data/screenshots on main", url):
            continue
        local = data / "screenshots" / url.removeprefix(SCREENSHOT_URL)
        size = png_size(local) if local.is_file() else None
        check(size is not None, f"{local.relative_to(ROOT)} is a PNG in the repository")
        if size is not None:
            stated = (int(image.get("width", "0")), int(image.get("height", "0")))
            check(size == stated, f"{local.name} is {stated[0]}×{stated[1]} as the metainfo says", f"{size}")

    icon = data / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"
    symbolic = data / "icons/hicolor/symbolic/apps" / f"{APP_ID}-symbolic.svg"
    check(icon.is_file(), f"the app icon {icon.relative_to(ROOT)} exists")
    if icon.is_file():
        svg = ET.parse(icon).getroot()
        check(svg.get("viewBox") == "0 0 128 128", "the app icon is drawn on a 128×128 canvas", svg.get("viewBox"))
    check(symbolic.is_file(), f"the symbolic icon {symbolic.relative_to(ROOT)} exists")
    if symbolic.is_file():
        text = symbolic.read_text(encoding="utf-8")
        svg = ET.fromstring(text)
        check(svg.get("viewBox") == "0 0 16 16", "the symbolic icon is 16×16", svg.get("viewBox"))
        check("stroke" not in text and "Gradient" not in text, "the symbolic icon has no strokes or gradients")
        colours = set(re.findall(r"#[0-9a-fA-F]{3,6}\b", text))
        check(colours == {"#2e3436"}, "the symbolic icon's only colour is #2e3436", str(colours))


def main() -> int:
    check(MANIFEST.is_file(), f"{MANIFEST.relative_to(ROOT)} exists")
    check_manifest(load_manifest())
    check_cargo_sources()
    check_data()
    if failures:
        print(f"check: {len(failures)} failed", file=sys.stderr)
        return 1
    print("check: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
