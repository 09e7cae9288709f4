//! What the tests run against: real servers and devices started for them, and shared helpers.
//! Nothing here tests Blockprint itself; the self-tests of a module say what tests may rely on.

/// Bad bmap files with the error each must produce.
pub mod bad_bmaps;
/// A fresh copy of a real Debian 12 root for each test, and programs run in it in namespaces.
pub mod debian_root;
/// A FUSE-backed disk that fails on command, attached as a loop device.
pub mod faulty_card;
/// The desktop app on its own Xvfb display and session bus, run as an unprivileged user.
#[cfg(feature = "gui")]
pub mod gui_session;
/// A tiny HTTP/1.1 server for faults nginx will not produce: drops, stalls, ignored Range.
pub mod http_server;
/// Disk images made by the real mkfs tools, and their files read back by the real tools.
pub mod images;
/// Debian's nginx on 127.0.0.1, with TLS, Basic auth and redirects.
pub mod nginx;
/// OpenSSH's sshd on 127.0.0.1 with its own host key and a login for the tests.
pub mod sshd;
/// Running the binary, scratch folders, loop devices, the upstream bmap vectors.
pub mod support;
/// A udisksd stand-in on a private bus, for the drive objects no loop device has.
#[cfg(feature = "gui")]
pub mod udisksd_standin;
