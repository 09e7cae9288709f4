//! The udisksd side of [`Devices`](super::Devices) (gui feature: zbus): the connection, made
//! once, the polkit agent, and the drives opened through it (for writing, or read-only to back
//! them up).

use std::path::{Path, PathBuf};

use anyhow::bail;
use blockprint::backup::BackupError;
use blockprint::drives::{Context, Drive, Severity};
use blockprint::source::Descriptor;
use blockprint::target::{Target, TargetOptions};
use blockprint::udisks::{Removal, Udisks, UdisksError};

use super::agent::Agent;
use super::{Output, PowerOff};
use crate::cli::output::escape_controls;

/// The connection, once made, and what was opened through it.
#[derive(Default)]
pub(super) struct Through {
    udisks: Option<Udisks>,
    /// Asks for a password on this terminal while the command runs (dropped at its end).
    agent: Option<Agent>,
    /// Devices opened through udisksd, with the drive each one is.
    opened: Vec<(PathBuf, Drive)>,
}

impl Through {
    /// Connects to udisksd, once; the error says why not, in a few words.
    pub(super) fn connect(&mut self, out: &Output) -> Result<(), String> {
        if self.udisks.is_some() {
            return Ok(());
        }
        let udisks = Udisks::connect().map_err(|_| "udisksd is not running".to_owned())?;
        out.debug("writing through udisksd, as polkit allows");
        self.udisks = Some(udisks);
        Ok(())
    }

    /// Opens the drive at `path` through udisksd: the drive it lists there, its filesystems
    /// unmounted, `OpenDevice` authorised by polkit, then the engine's guards on the
    /// descriptor.
    pub(super) fn open(
        &mut self,
        path: &Path,
        options: &TargetOptions,
        out: &Output,
    ) -> anyhow::Result<Target> {
        let Some(udisks) = &self.udisks else {
            bail!("internal: udisksd is not connected");
        };
        let drive = drive_at(udisks, path)?;
        let context = Context {
            image: options.protected.first().map(PathBuf::as_path),
            image_size: None,
        };
        let guards = drive.guards(&context);
        if let Some(guard) = guards.iter().find(|g| g.severity == Severity::Blocked) {
            bail!(
                "refusing to write '{}': {}",
                path.display(),
                escape_controls(&guard.reason)
            );
        }
        if self.agent.is_none() {
            self.agent = Agent::start(out);
        }
        for done in udisks.prepare(&drive)? {
            out.info(format_args!("{} (through udisksd)", escape_controls(&done)));
        }
        let opened = udisks.open(&drive).map_err(|e| refusal(e, path, "write"))?;
        let target = Target::checked_block_file(opened.file, path, opened.direct, options)?;
        self.opened.push((path.to_path_buf(), drive));
        Ok(target)
    }

    /// Opens the drive at `path` read-only through udisksd, to back it up: refused while a
    /// filesystem on it is mounted read-write, unless `unmount` (then every filesystem on it
    /// is unmounted through UDisks2 first). Exclusive (nothing can be mounted while it is read)
    /// unless a read-only mount is left in place.
    pub(super) fn open_read(
        &mut self,
        path: &Path,
        unmount: bool,
        out: &Output,
    ) -> anyhow::Result<Descriptor> {
        let Some(udisks) = &self.udisks else {
            bail!("internal: udisksd is not connected");
        };
        let drive = drive_at(udisks, path)?;
        if self.agent.is_none() {
            self.agent = Agent::start(out);
        }
        let mounted = match blockprint::backup::check_source(path) {
            Ok(_) => false,
            Err(BackupError::Mounted { .. }) if unmount => true,
            Err(e) => return Err(super::with_unmount_hint(e)),
        };
        if mounted {
            for done in udisks.prepare(&drive)? {
                out.info(format_args!("{} (through udisksd)", escape_controls(&done)));
            }
        }
        let opened = match udisks.open_read(&drive, true) {
            // A read-only mount holds the drive: read it beside that mount.
            Err(UdisksError::Failed { message, .. }) if message.contains("busy") => {
                udisks.open_read(&drive, false)
            }
            other => other,
        }
        .map_err(|e| refusal(e, path, "read"))?;
        let name = path.display().to_string();
        let source = Descriptor::new(opened.file, &name, opened.direct)
            .map_err(|e| anyhow::anyhow!("cannot find the size of '{name}': {e}"))?;
        self.opened.push((path.to_path_buf(), drive));
        Ok(source)
    }

    /// See [`Devices::finish`](super::Devices::finish).
    pub(super) fn finish(&mut self, path: &Path, power: PowerOff, out: &Output) {
        let known = self
            .opened
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, d)| d.clone());
        let drive = match known {
            Some(drive) => drive,
            // Opened by root directly: udisksd is asked only to power it off.
            None if power == PowerOff::Always => {
                if let Err(reason) = self.connect(out) {
                    out.warn(format_args!(
                        "'{}' is not powered off: {reason}",
                        path.display()
                    ));
                    return;
                }
                match self.udisks.as_ref().map(|u| drive_at(u, path)) {
                    Some(Ok(drive)) => drive,
                    Some(Err(e)) => {
                        out.warn(format_args!(
                            "'{}' is not powered off: {e:#}",
                            path.display()
                        ));
                        return;
                    }
                    None => return,
                }
            }
            None => return,
        };
        let Some(udisks) = &self.udisks else {
            return;
        };
        let power_off = match power {
            PowerOff::Always => true,
            PowerOff::Never => false,
            PowerOff::Default => drive.removable,
        };
        if !power_off {
            if let Err(e) = udisks.rescan(&drive) {
                out.debug(format_args!("could not rescan '{}': {e}", path.display()));
            }
            return;
        }
        let name = escape_controls(&drive.display_name()).into_owned();
        match udisks.finish(&drive) {
            Ok(Removal::PoweredOff) => out.info(format_args!(
                "powered off '{}' ({name}): it can be removed",
                path.display()
            )),
            Ok(Removal::Ejected) => out.info(format_args!(
                "ejected '{}' ({name}): it can be removed",
                path.display()
            )),
            Ok(Removal::Nothing) => out.info(format_args!(
                "'{}' ({name}) cannot be powered off; written and flushed, it can be removed",
                path.display()
            )),
            Err(e) => out.warn(format_args!("'{}' is not powered off: {e}", path.display())),
        }
    }
}

/// The drive udisksd lists at `path` (or what it links to, such as /dev/disk/by-id/…).
pub(super) fn drive_at(udisks: &Udisks, path: &Path) -> anyhow::Result<Drive> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let drive = udisks
        .drives()?
        .into_iter()
        .find(|d| d.device == real || d.device == path);
    let Some(drive) = drive else {
        bail!(
            "udisksd does not offer '{}' as a drive (a partition, or a device it hides); give \
             the whole drive, such as /dev/sdb, or run blockprint with sudo",
            path.display()
        );
    };
    if !drive.media_available {
        bail!("'{}' holds no medium: insert the card", path.display());
    }
    Ok(drive)
}

/// polkit's no to `verb` ("write", "read") the device, in one line that says what to do.
fn refusal(error: UdisksError, path: &Path, verb: &str) -> anyhow::Error {
    match error {
        UdisksError::NoAgent { .. } => anyhow::anyhow!(
            "polkit lets this user {verb} '{}' only with an administrator's password, and \
             nobody can be asked here (no terminal, no desktop agent); run blockprint on a \
             terminal, or with sudo",
            path.display()
        ),
        UdisksError::NotAuthorized { message, .. } => anyhow::anyhow!(
            "polkit does not let this user {verb} '{}' ({}); run blockprint with sudo",
            path.display(),
            escape_controls(&message)
        ),
        other => other.into(),
    }
}
