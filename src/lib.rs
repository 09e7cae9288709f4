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
//! * [`mapping`] and [`create`]: find the mapped areas of a sparse file and build a bmap.
//! * [`source`]: where image bytes come from ([`ImageSource`](source::ImageSource)).
//! * [`target`]: where they go, with the safety checks for block devices.
//! * [`copy`] and [`verify`]: write an image, and check a written device against a bmap.
//! * [`discover`]: find the bmap (and its signature) next to an image, as bmaptool does.
//! * [`progress`]: [`Event`](progress::Event), [`ProgressSink`](progress::ProgressSink) and
//!   [`CancelToken`](progress::CancelToken).
//! * [`scan`]: a bmap from an image's partition tables and filesystems.
//! * [`drives`]: the drives an image could go to, and the guards against the wrong one.
//! * `udisks` (the `gui` feature only): drives, hotplug and privileged actions over UDisks2.
//!
//! The engine knows nothing of terminals, GTK or D-Bus; the CLI, the GUI and the UDisks2 client
//! are adapters, and no engine module imports them.
#![deny(missing_docs)]

pub mod bmap;
pub mod copy;
pub mod create;
pub mod discover;
pub mod drives;
pub mod mapping;
pub mod progress;
pub mod scan;
pub mod signature;
pub mod size;
pub mod source;
pub mod target;
#[cfg(feature = "gui")]
pub mod udisks;
pub mod verify;
