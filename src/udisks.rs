//! The UDisks2 client (gui feature): drives, hotplug, and privileged actions through udisksd.
//!
//! The desktop app never runs as root. udisksd is its privileged helper: it lists the drives,
//! unmounts them, and opens a device for writing with `Block.OpenDevice`, which polkit
//! authorises (`org.freedesktop.udisks2.open-device`); the file descriptor it returns is handed
//! to the engine as a [`Target`](crate::target::Target).
//!
//! ```text
//!  Udisks::connect ──► drives()          snapshot: GetManagedObjects ──► objects::drives
//!                 ├──► watch()           thread: UDisks2 signals ──► re-read ──► DriveEvent
//!                 └──► prepare / open / finish / restore   (actions.rs)
//! ```
//!
//! zbus is asynchronous; this module is the edge where it meets the synchronous engine: every
//! call here blocks, and the watcher runs on its own thread and sends typed events.

mod actions;
pub mod objects;
mod watch;

use std::collections::HashMap;
use std::path::PathBuf;

use zbus::Connection;
use zbus::wire::Variant;

pub use actions::{Opened, Prepared, Removal};
pub use watch::DriveEvent;

use crate::drives::{Change, Drive};
use objects::Objects;

/// UDisks2's bus name.
const SERVICE: &str = "org.freedesktop.UDisks2";
/// Where its ObjectManager lives.
const ROOT: &str = "/org/freedesktop/UDisks2";

/// What went wrong talking to udisksd, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum UdisksError {
    /// No system bus, or no udisksd on it.
    #[error("UDisks2 is not available on the system bus ({0}): install and start udisks2")]
    Unavailable(String),
    /// polkit said no.
    #[error("not authorised to {action} {device}: {message}")]
    NotAuthorized {
        /// What was being done.
        action: String,
        /// To which device.
        device: PathBuf,
        /// udisksd's words.
        message: String,
    },
    /// Authentication was needed but nobody could be asked.
    #[error(
        "cannot {action} {device} without authenticating, and no polkit authentication agent \
         answered: start your desktop's agent (or run as root)"
    )]
    NoAgent {
        /// What was being done.
        action: String,
        /// To which device.
        device: PathBuf,
    },
    /// Something on the device is in use.
    #[error("{device} is busy ({message}): close the files and programs using it, then retry")]
    Busy {
        /// The busy device.
        device: PathBuf,
        /// udisksd's words (they name the mount point).
        message: String,
    },
    /// The device went away.
    #[error("{device} is gone: the drive was removed")]
    Gone {
        /// The device that vanished.
        device: PathBuf,
    },
    /// Another drive (or medium) is where the chosen one was.
    #[error(
        "{device} is not the drive that was chosen ({change}): another card or drive is in its \
         place; nothing was written, check which drive it is and choose it again"
    )]
    Changed {
        /// The device node.
        device: PathBuf,
        /// How it differs.
        change: Change,
    },
    /// Any other failure of a UDisks2 call.
    #[error("cannot {action} {device}: {message}")]
    Failed {
        /// What was being done.
        action: String,
        /// To which device.
        device: PathBuf,
        /// udisksd's (or D-Bus's) words.
        message: String,
    },
}

/// A connection to udisksd on the system bus.
#[derive(Clone, Debug)]
pub struct Udisks {
    connection: Connection,
}

impl Udisks {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set) and checks that udisksd
    /// answers.
    pub fn connect() -> Result<Self, UdisksError> {
        let connection = zbus::block_on(Connection::system())
            .map_err(|e| UdisksError::Unavailable(e.to_string()))?;
        Self::with_connection(connection)
    }

    /// On a connection the caller already has (the app's own, or a test bus), checking that
    /// udisksd answers there.
    pub fn with_connection(connection: Connection) -> Result<Self, UdisksError> {
        let udisks = Udisks { connection };
        udisks.objects()?;
        Ok(udisks)
    }

    /// Every drive udisksd knows of (filter with [`Drive::is_candidate`]).
    pub fn drives(&self) -> Result<Vec<Drive>, UdisksError> {
        Ok(objects::drives(&self.objects()?))
    }

    /// Live drive events on a channel: first `Added` for every drive there is, then changes
    /// as they happen (media inserted, mounts, size, removal), from UDisks2's signals alone.
    /// The watcher thread ends when the receiver is dropped.
    pub fn watch(&self) -> Result<std::sync::mpsc::Receiver<DriveEvent>, UdisksError> {
        watch::start(self.clone())
    }

    /// All objects with all their properties.
    fn objects(&self) -> Result<Objects, UdisksError> {
        zbus::block_on(self.objects_async())
    }

    async fn objects_async(&self) -> Result<Objects, UdisksError> {
        let manager = zbus::fdo::ObjectManagerProxy::builder(&self.connection)
            .destination(SERVICE)
            .path(ROOT)
            .build()
            .await
            .map_err(|e| UdisksError::Unavailable(e.to_string()))?;
        let managed = manager
            .get_managed_objects()
            .await
            .map_err(|e| UdisksError::Unavailable(e.to_string()))?;
        Ok(objects::from_managed(&managed))
    }

    /// Calls `method` of `iface` on the object at `path`, for `action` on `device`, and
    /// returns the reply.
    fn call<B>(
        &self,
        path: &str,
        iface: &str,
        method: &str,
        body: &B,
        what: (&str, &std::path::Path),
    ) -> Result<zbus::Message, UdisksError>
    where
        B: zbus::export::serde::Serialize + zbus::wire::Type,
    {
        let iface = format!("{SERVICE}.{iface}");
        zbus::block_on(self.connection.call_method(
            Some(SERVICE),
            path,
            Some(iface.as_str()),
            method,
            body,
        ))
        .map_err(|e| classify(&e, what.0, what.1))
    }
}

/// `a{sv}` options for UDisks2 calls.
type Options<'a> = HashMap<&'a str, Variant<'a>>;

/// The D-Bus error name and message of a failed call.
fn parts(error: &zbus::Error) -> (String, String) {
    use zbus::DBusError as _;
    match error {
        zbus::Error::MethodError(name, message, _) => {
            (name.to_string(), message.clone().unwrap_or_default())
        }
        zbus::Error::FDO(e) => (
            e.name().to_string(),
            e.description().unwrap_or_default().to_owned(),
        ),
        other => (String::new(), other.to_string()),
    }
}

/// Turns a failed call into the error a user can act on.
fn classify(error: &zbus::Error, action: &str, device: &std::path::Path) -> UdisksError {
    let (name, message) = parts(error);
    let device = device.to_path_buf();
    let action = action.to_owned();
    match name.rsplit('.').next().unwrap_or_default() {
        "NotAuthorizedCanObtain" => UdisksError::NoAgent { action, device },
        "NotAuthorized" | "NotAuthorizedDismissed" => UdisksError::NotAuthorized {
            action,
            device,
            message,
        },
        "DeviceBusy" => UdisksError::Busy { device, message },
        "UnknownObject" | "UnknownMethod" | "UnknownInterface" | "NotFound" => {
            UdisksError::Gone { device }
        }
        _ => UdisksError::Failed {
            action,
            device,
            message: if name.is_empty() {
                message
            } else {
                format!("{message} ({name})")
            },
        },
    }
}

/// Whether a failed call only says the filesystem was not mounted (success for us).
fn is_not_mounted(error: &UdisksError) -> bool {
    matches!(error, UdisksError::Failed { message, .. } if message.contains("Error.NotMounted"))
}

#[cfg(test)]
mod tests;
