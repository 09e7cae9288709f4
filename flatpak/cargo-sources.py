#!/usr/bin/env python3
"""Writes flatpak/cargo-sources.json from Cargo.lock: every crate the build needs, as
flatpak-builder sources, so the Flatpak builds with no network (`cargo --offline`).

The output has the layout flatpak-cargo-generator gives, which flatpak-builder and Flathub's
tools know:

- for each crates.io package of the lock, an `archive` source (the .crate file from
  static.crates.io, checked by the lock's SHA-256) unpacked into cargo/vendor/NAME-VERSION,
  and an `inline` source writing that folder's .cargo-checksum.json (the package checksum, no
  per-file list, so cargo checks the .crate's digest and nothing else);
- last, an `inline` cargo/config.toml that replaces crates.io with the cargo/vendor folder.
  The manifest points CARGO_HOME at that cargo folder. (flatpak-cargo-generator names the file
  `config`; cargo has read `config.toml` since 1.39 and warns about the bare name since 1.78.)

Every package is listed, for every platform: cargo resolves the whole lock even offline, so a
missing Windows-only crate would stop the build too.

Git and other non-crates.io sources are refused with an error: Cargo.lock has none today, and a
git dependency needs its own source (a git checkout and a [patch] entry) that this script does
not write.

Usage:
    flatpak/cargo-sources.py                 # Cargo.lock -> flatpak/cargo-sources.json
    flatpak/cargo-sources.py --check         # exit 1 if cargo-sources.json is out of date
    flatpak/cargo-sources.py --lock L -o OUT
Needs only Python 3.11 or later (tomllib).
"""

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The crates.io index, as Cargo.lock names it (git index, or the sparse one since cargo 1.68).
CRATES_IO = {
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
}
CRATE_URL = "https://static.crates.io/crates/{name}/{name}-{version}.crate"
# Relative to the module's build directory; the manifest sets CARGO_HOME to …/cargo.
CARGO_HOME = "cargo"
VENDOR = f"{CARGO_HOME}/vendor"
CONFIG = f"""[source.vendored-sources]
directory = "{VENDOR}"

[source.crates-io]
replace-with = "vendored-sources"
"""

NAME = re.compile(r"^[A-Za-z0-9_-]+$")
VERSION = re.compile(r"^[0-9A-Za-z.+-]+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LockError(Exception):
    """Cargo.lock holds something this script cannot or must not turn into sources."""


def registry_packages(lock: dict) -> list[tuple[str, str, str]]:
    """(name, version, checksum) of every crates.io package of a parsed Cargo.lock, in the
    lock's order. Local packages (no source: the workspace) are left out; anything else is an
    error naming the package."""
    # Lock format 1 kept the checksums apart, under [metadata].
    old_checksums = {
        key.removeprefix("checksum "): value
        for key, value in lock.get("metadata", {}).items()
        if key.startswith("checksum ")
    }
    found = []
    problems = []
    for package in lock.get("package", []):
        name = package.get("name", "?")
        version = package.get("version", "?")
        source = package.get("source")
        what = f"{name} {version}"
        if source is None:
            continue  # a workspace member: built from the source tree itself
        if source.startswith("git+"):
            problems.append(
                f"{what} comes from git ({source}): git sources are not supported; "
                "publish it to crates.io or add a git source and a [patch] to the manifest"
            )
            continue
        if source not in CRATES_IO:
            problems.append(f"{what} comes from {source}: only crates.io is supported")
            continue
        checksum = package.get("checksum") or old_checksums.get(f"{name} {version} ({source})")
        if not NAME.match(name) or not VERSION.match(version):
            problems.append(f"{what}: a name or version that cannot go into a URL or a path")
        elif checksum is None:
            problems.append(f"{what} has no checksum in Cargo.lock")
        elif not SHA256.match(checksum):
            problems.append(f"{what} has a malformed checksum {checksum!r}")
        else:
            found.append((name, version, checksum))
    if problems:
        raise LockError("\n".join(problems))
    return found


def sources(packages: list[tuple[str, str, str]]) -> list[dict]:
    """The flatpak-builder sources that vendor these packages, and the cargo config last."""
    out = []
    for name, version, checksum in packages:
        dest = f"{VENDOR}/{name}-{version}"
        out.append(
            {
                "type": "archive",
                "archive-type": "tar-gzip",
                "url": CRATE_URL.format(name=name, version=version),
                "sha256": checksum,
                "dest": dest,
            }
        )
        out.append(
            {
                "type": "inline",
                "contents": json.dumps({"package": checksum, "files": {}}),
                "dest": dest,
                "dest-filename": ".cargo-checksum.json",
            }
        )
    out.append(
        {
            "type": "inline",
            "contents": CONFIG,
            "dest": CARGO_HOME,
            "dest-filename": "config.toml",
        }
    )
    return out


def render(lock_path: Path) -> str:
    """The text of cargo-sources.json for this Cargo.lock."""
    with lock_path.open("rb") as f:
        lock = tomllib.load(f)
    return json.dumps(sources(registry_packages(lock)), indent=4) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "Cargo.lock", help="Cargo.lock to read")
    parser.add_argument(
        "-o", "--output", type=Path, default=ROOT / "flatpak" / "cargo-sources.json",
        help="the JSON file to write",
    )
    parser.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 if the output file differs from what Cargo.lock gives",
    )
    args = parser.parse_args()
    try:
        text = render(args.lock)
    except (OSError, tomllib.TOMLDecodeError) as e:
        print(f"cargo-sources: cannot read {args.lock}: {e}", file=sys.stderr)
        return 1
    except LockError as e:
        print(f"cargo-sources: {args.lock}:\n{e}", file=sys.stderr)
        return 1
    count = text.count('"type": "archive"')
    if args.check:
        try:
            current = args.output.read_text(encoding="utf-8")
        except OSError as e:
            print(f"cargo-sources: cannot read {args.output}: {e}", file=sys.stderr)
            return 1
        if current != text:
            print(
                f"cargo-sources: {args.output} is out of date with {args.lock}; "
                "run flatpak/cargo-sources.py",
                file=sys.stderr,
            )
            return 1
        print(f"cargo-sources: {args.output} is up to date ({count} crates)")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"cargo-sources: wrote {args.output} ({count} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
