//! The Image step's workers, as the flow sees them: the scan of a raw image file for a block
//! map, and the image judged again when "only signed images" changes.

use std::sync::Arc;

use blockprint::bmap::Bmap;
use blockprint::source::Input;

use super::{Busy, Effect, Flow};
use crate::gui::inspect::{BmapState, InspectError, SignatureState};

impl Flow {
    /// A scan's result, if it is the one under way for the image open now (a stopped scan, or
    /// one of an image since replaced, is dropped).
    pub(super) fn scanned(&mut self, input: &Input, result: Result<Bmap, InspectError>) {
        let Some(image) = self.image.as_mut().filter(|i| i.input == *input) else {
            return;
        };
        if self.busy != Some(Busy::Scanning) {
            return;
        }
        self.busy = None;
        match result {
            Ok(bmap) => {
                image.image_size = Some(bmap.image_size());
                image.bmap = BmapState::Created {
                    bmap: Arc::new(bmap),
                };
                image.signature = SignatureState::NoBmap;
            }
            Err(e) => self.scan_error = Some(e),
        }
    }

    /// Stops the scan under way, if one is.
    pub(super) fn stop_scan(&mut self) -> Vec<Effect> {
        if self.busy == Some(Busy::Scanning) {
            self.busy = None;
            vec![Effect::CancelScan]
        } else {
            vec![]
        }
    }

    /// "Only signed images" is now `required`: a change judges the open image again (not
    /// while it is written).
    pub(super) fn require_signature(&mut self, required: bool) -> Vec<Effect> {
        let changed = required != self.require_signature;
        self.require_signature = required;
        match self.image.as_ref().filter(|_| changed && !self.writing()) {
            Some(image) => {
                let (input, bmap) = (image.input.clone(), image.chosen_bmap.clone());
                self.busy = Some(Busy::Reading);
                self.reading = Some(input.clone());
                vec![Effect::Inspect(input, bmap, required)]
            }
            None => vec![],
        }
    }
}
