//! Blockprint's engine: block maps, and writing disk images to files and block devices.
//!
//! A *bmap* (block map, from the bmap-tools project) lists which blocks of a disk image hold
//! data, with a checksum per range. With it, a writer copies only those blocks and checks each
//! one on the way. This crate reads every bmap version in use (1.2 to 2.x), writes 2.0, creates
//! a bmap from a sparse file, and copies an image to a file or a block device.
//!
//! ```text
//!  image source  ->  range reader          ->  writer                ->  finish
//!  (ImageSource)     bmap ranges, forward      file or block device      fsync, read back,
//!                    seeks; checksum per       (O_EXCL, O_DIRECT,        write the held-back
//!                    range verified            first MiB held back)      first MiB last
//!
//!  progress: one typed event stream (progress::Event) -> CLI bar | psplash | GUI
//! ```
//!
//! * [`bmap`]: the [`Bmap`](bmap::Bmap) model, its XML reader and writer.
//! * [`catalog`]: lists of operating systems to write (Raspberry Pi Imager's `os_list`).
//! * [`mapping`] and [`create`]: find the mapped areas of a sparse file and build a bmap.
//! * [`scan`]: a bmap from an image's partition tables and filesystems, also while it
//!   streams past ([`scan::StreamScan`]), so an image without a bmap is written as its
//!   filesystems say ([`copy::Mapping`]).
//! * [`source`]: where image bytes come from ([`ImageSource`](source::ImageSource)): files,
//!   stdin, http(s), ssh, and every compression and archive format.
//! * [`discover`]: find the bmap (and its signature) next to an image, as bmaptool does, and
//!   judge it with [`discover::find_checked`].
//! * [`signature`]: OpenPGP signatures of bmaps, the keys trusted, and the
//!   [`Policy`](signature::Policy) every front end applies.
//! * [`target`]: where images go, with the safety checks for block devices and files.
//! * [`copy`] and [`verify`]: write an image to one or several targets (writing again what
//!   does not read back, catching a fake card with sentinels, timing the card), and check a
//!   written device against a bmap.
//! * [`card`]: how much a card really holds (the counterfeit probe) and the surface test.
//! * [`identify`]: what an image is by its content (a Windows installer ISO, a file that is
//!   no disk image, an ISO for optical media only), before anything is written.
//! * [`progress`]: [`Event`](progress::Event), [`ProgressSink`](progress::ProgressSink) and
//!   [`CancelToken`](progress::CancelToken).
//! * [`firstboot`]: first-boot settings (hostname, user, SSH, Wi-Fi, locale) written into
//!   the boot partition of a written card, and read back.
//! * [`drives`]: the drives an image could go to, and the guards against the wrong one.
//! * [`size`]: sizes as people read them.
//! * `udisks` (the `gui` feature only): drives, hotplug and privileged actions over UDisks2.
//!
//! The engine knows nothing of terminals, GTK or D-Bus; the CLI, the GUI and the UDisks2 client
//! are adapters, and no engine module imports them.
//!
//! # Example
//!
//! Write a compressed image to a file, only its mapped blocks, printing the progress:
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use std::path::Path;
//!
//! use blockprint::bmap::Bmap;
//! use blockprint::copy::{self, CopyOptions};
//! use blockprint::progress::{CancelToken, Event};
//! use blockprint::source::{Input, Opener};
//! use blockprint::target::{Target, TargetOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut image = Opener::new().open(&Input::parse("board.img.xz")?)?.source;
//! let bmap = Bmap::from_file(Path::new("board.img.bmap"))?;
//! let mut target = Target::open(Path::new("board.img"), &TargetOptions::default())?;
//! let mut progress = |event: &Event| {
//!     if let Event::Progress { done_bytes, .. } = event {
//!         eprintln!("{done_bytes} bytes");
//!     }
//!     ControlFlow::Continue(())
//! };
//! let options = CopyOptions::default();
//! let cancel = CancelToken::new();
//! let report = copy::copy(&mut *image, Some(&bmap), &mut target, &options, &mut progress, &cancel)?;
//! println!("wrote {} of {} bytes", report.mapped_bytes, report.image_size);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod backup;
pub mod bmap;
pub mod card;
pub mod catalog;
pub mod copy;
pub mod create;
pub mod discover;
pub mod drives;
pub mod firstboot;
pub mod identify;
mod le;
pub mod mapping;
mod nonce;
pub mod progress;
pub mod scan;
pub mod signature;
pub mod size;
pub mod source;
pub mod target;
#[cfg(feature = "gui")]
pub mod udisks;
pub mod verify;
