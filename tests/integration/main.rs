//! Integration tests: the real binary and library against real files, loop devices, mounts,
//! Debian's bmaptool and gpg. Nothing is mocked. Tests that need root or a tool fail loudly
//! without them (they never skip); `build-aux/test` installs the tools and runs them as root.
//! The helpers and servers they share are in [`harness`]; tests/README.md has the map.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Real servers, devices and helpers the tests share (no tests of Blockprint in it).
mod harness;

/// `backup`: a used card saved in every format, written back and checked; what is read; failures.
mod backup;
/// `backup` of a drive: mounted partitions refused or unmounted, and a normal user reading it
/// through udisksd under polkit.
#[cfg(feature = "gui")]
mod backup_drive;
/// Reading bmap files: every upstream version, lenient spellings, errors with their line.
mod bmap_format;
/// Catalogs against nginx: listing, boards, links, the cache, hostile lists, copy catalog:ID.
mod catalog;
/// A catalog download that breaks off is resumed, not fetched again.
mod catalog_resume;
/// A catalog entry's signature of its download, checked as it passes.
mod catalog_signed;
/// `check-card` on genuine and counterfeit FUSE cards, against Debian's f3probe.
mod check_card;
/// `copy` and `verify` on loop devices, as root.
mod copy_device;
/// `copy` to regular files: the upstream vectors bit-exact, bad inputs refused.
mod copy_file;
/// `copy` without a bmap: every filesystem the scanner reads, raw and compressed, flashed
/// onto garbage and checked by its own tools.
mod copy_unmapped;
/// `create`: output forms, options, warnings and refusals.
mod create;
/// Blockprint in place of bmaptool in scripts: the gaps bmaptool's own test suite found.
mod dropin;
/// A copy that fails or is cancelled puts back what its sentinels overwrote.
mod failed_copy;
/// A card that fails while written, and a copy interrupted by a signal.
mod failing_card;
/// Counterfeit and flaky cards during a copy: rewriting, --check-capacity, sentinels.
mod fake_cards;
/// One image to several drives at once.
mod fanout;
/// `copy --settings` to loop devices and files, read back with mtools and fsck.vfat.
mod firstboot_card;
/// First-boot files checked by independent tools: shellcheck, cloud-init, crypt, wpa_passphrase.
mod firstboot_checks;
/// First-boot settings applied in a chroot of a real Debian 12 root: the script, cloud-init.
mod firstboot_chroot;
/// Every compression and archive format, made by the real tools.
mod formats;
/// The desktop app end to end on Xvfb, as an unprivileged user, through the real udisksd.
#[cfg(feature = "gui")]
mod gui;
/// "Back Up Drive…": a mounted card backed up through udisksd, checked against the card.
#[cfg(feature = "gui")]
mod gui_backup;
/// "Choose OS…": a catalog on nginx, searched, chosen and written through udisksd.
#[cfg(feature = "gui")]
mod gui_catalog;
/// The newcomer's path through the desktop app, its clicks counted.
#[cfg(feature = "gui")]
mod gui_clicks;
/// Try Again after a catalog download broke off: it resumes from the cached part.
#[cfg(feature = "gui")]
mod gui_download_again;
/// The desktop app writing to a card that fails mid-write, or is counterfeit.
#[cfg(feature = "gui")]
mod gui_faults;
/// First-boot settings typed in the app, written through udisksd and read back.
#[cfg(feature = "gui")]
mod gui_firstboot;
/// The desktop app in German.
#[cfg(feature = "gui")]
mod gui_german;
/// The app warning about a Windows installer ISO, on the Image step and in the confirmation.
#[cfg(feature = "gui")]
mod gui_image_kind;
/// The desktop app writing one image to three drives at once.
#[cfg(feature = "gui")]
mod gui_multi;
/// The store screenshots, taken of the app with four stand-in drives.
#[cfg(feature = "gui")]
mod gui_store;
/// An image without a block map in the app: only what its filesystems use is written.
#[cfg(feature = "gui")]
mod gui_unmapped;
/// Hostile inputs through the CLI: exit 1 with one clear line.
mod hostile;
/// The HTTP transport against nginx and a faulty server of our own.
mod http;
/// What `copy` says an image is before writing it: Windows ISOs, ISOs that are not hybrid,
/// files that are no disk image, bare filesystems.
mod identify;
/// Interoperability with Debian's bmaptool, both ways.
mod interop;
/// What `blockprint` does without a subcommand.
mod launch;
/// `list` without UDisks2, from sysfs.
mod list;
/// `copy` and `check-card` by a normal user, through udisksd and polkit (pkttyagent on a
/// terminal), and the drive powered off through UDisks afterwards.
#[cfg(feature = "gui")]
mod no_sudo;
/// Bounded memory in every format, and no file descriptor left open.
mod resources;
/// `scan` on whole disk images made with the real mkfs tools.
mod scan;
/// Where the CLI writes and what it prints, against a real second user.
mod security_dest;
/// A destination sharing storage with the source, a swapped device node, a swapped card.
mod security_devices;
/// The signature policy fails closed.
mod security_signatures;
/// Hostile input to ssh, HTTP redirects, netrc and the decoders' memory.
mod security_transport;
/// OpenPGP signatures of bmaps, made by GnuPG, checked by `copy` and `verify`.
mod signatures;
/// The station: cards plugged in one after another, through udisksd.
#[cfg(feature = "gui")]
mod station;
/// The command line over HTTP, Range, resume, credentials and ssh.
mod transports;
/// The UDisks2 client against a real udisksd on a private system bus.
#[cfg(feature = "gui")]
mod udisks;
/// The drive objects no loop device has (vendor, bus, PowerOff), against the stand-in.
#[cfg(feature = "gui")]
mod udisks_drive_objects;
