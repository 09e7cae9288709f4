//! Integration tests: the real binary and library against real files, loop devices, mounts,
//! Debian's bmaptool and gpg. Nothing is mocked. Tests that need root or a tool fail loudly
//! without them (they never skip); `build-aux/test` installs the tools and runs them as root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_bmaps;
mod bmap_format;
mod copy_device;
mod copy_file;
mod create;
mod dropin;
mod fanout;
mod faults;
mod faulty;
mod formats;
#[cfg(feature = "gui")]
mod gui;
#[cfg(feature = "gui")]
mod gui_faults;
#[cfg(feature = "gui")]
mod gui_german;
#[cfg(feature = "gui")]
mod gui_multi;
#[cfg(feature = "gui")]
mod gui_session;
#[cfg(feature = "gui")]
mod gui_store;
mod hostile;
mod http;
mod interop;
mod launch;
mod list;
mod nginx;
mod resources;
mod scan;
mod security_dest;
mod security_devices;
mod security_signatures;
mod security_transport;
mod signatures;
mod sshd;
#[cfg(feature = "gui")]
mod standin;
mod support;
mod transports;
#[cfg(feature = "gui")]
mod udisks;
#[cfg(feature = "gui")]
mod udisks_standin;
