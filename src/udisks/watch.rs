//! Live drive events from UDisks2's signals, never by polling.
//!
//! One match rule takes every signal udisksd sends: `InterfacesAdded` and `InterfacesRemoved`
//! from its ObjectManager, and `PropertiesChanged` from every object (media inserted in a
//! reader, a size change, a mount). Each signal, and those queued behind it, leads to one
//! re-read of all objects, which is compared with the last: drives that appeared, changed or
//! went away become [`DriveEvent`]s.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::task::Poll;

use zbus::export::futures_core::Stream;
use zbus::{MatchRule, MessageStream};

use super::{SERVICE, Udisks, UdisksError, objects};
use crate::drives::Drive;

/// A change in the set of drives.
#[derive(Debug, Clone)]
pub enum DriveEvent {
    /// A drive appeared (also sent for every drive present when watching starts).
    Added(Drive),
    /// Something about a drive changed: media, size, read-only, partitions, mounts.
    Changed(Drive),
    /// The drive with this key went away.
    Removed {
        /// Its [`Drive::key`].
        key: String,
    },
    /// udisksd stopped answering; no more events follow.
    Lost(String),
}

/// Starts the watcher thread; see [`Udisks::watch`].
pub(super) fn start(udisks: Udisks) -> Result<Receiver<DriveEvent>, UdisksError> {
    // Subscribe before the first snapshot, so nothing between the two is missed.
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(SERVICE)
        .build()
        .map_err(|e| UdisksError::Unavailable(e.to_string()))?;
    let stream = zbus::block_on(MessageStream::for_match_rule(
        rule,
        &udisks.connection,
        None,
    ))
    .map_err(|e| UdisksError::Unavailable(e.to_string()))?;
    let first = drives_by_key(&udisks)?;
    let (tx, rx) = channel();
    for drive in first.values() {
        // The receiver is still here: it is returned below.
        let _ = tx.send(DriveEvent::Added(drive.clone()));
    }
    std::thread::Builder::new()
        .name("udisks-watch".into())
        .spawn(move || zbus::block_on(run(udisks, stream, first, tx)))
        .map_err(|e| UdisksError::Unavailable(format!("cannot start the watcher: {e}")))?;
    Ok(rx)
}

fn drives_by_key(udisks: &Udisks) -> Result<BTreeMap<String, Drive>, UdisksError> {
    Ok(udisks
        .drives()?
        .into_iter()
        .map(|d| (d.key.clone(), d))
        .collect())
}

async fn run(
    udisks: Udisks,
    mut stream: MessageStream,
    mut known: BTreeMap<String, Drive>,
    tx: Sender<DriveEvent>,
) {
    loop {
        let next = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        if next.is_none() {
            let _ = tx.send(DriveEvent::Lost("the system bus closed".into()));
            return;
        }
        // A hotplug comes as a burst of signals: one re-read covers those already queued.
        while poll_fn(|cx| {
            Poll::Ready(matches!(
                Pin::new(&mut stream).poll_next(cx),
                Poll::Ready(Some(_))
            ))
        })
        .await
        {}
        let now = match udisks.objects_async().await {
            Ok(objects) => objects::drives(&objects)
                .into_iter()
                .map(|d| (d.key.clone(), d))
                .collect::<BTreeMap<_, _>>(),
            Err(e) => {
                let _ = tx.send(DriveEvent::Lost(e.to_string()));
                return;
            }
        };
        for event in diff(&known, &now) {
            if tx.send(event).is_err() {
                return; // Nobody listens any more.
            }
        }
        known = now;
    }
}

/// The events that turn `before` into `after`.
fn diff(before: &BTreeMap<String, Drive>, after: &BTreeMap<String, Drive>) -> Vec<DriveEvent> {
    let mut events: Vec<DriveEvent> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(|key| DriveEvent::Removed { key: key.clone() })
        .collect();
    for (key, drive) in after {
        match before.get(key) {
            None => events.push(DriveEvent::Added(drive.clone())),
            Some(old) if old != drive => events.push(DriveEvent::Changed(drive.clone())),
            Some(_) => {}
        }
    }
    events
}
