//! The probe's passes on in-memory models of genuine and counterfeit cards (no device): what
//! it concludes, how close it gets to the real end, and what it costs.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use super::super::pattern::{SECTOR, looks_like_a_table};
use super::super::probe::{Engine, FILLER, Fault, Medium, Probed};
use super::super::{Finding, ProbeError};
use super::{GIB, MIB};
use crate::progress::CancelToken;
/// A card in memory: sectors stored sparsely at their physical place, with the faults of
/// counterfeits. Counts what the probe writes and reads.
#[derive(Default)]
struct Model {
    capacity: u64,
    /// Physical sector index to content.
    stored: HashMap<u64, Vec<u8>>,
    /// Addresses at or past this go to the address modulo it.
    wrap: Option<u64>,
    /// Physical addresses at or past this store nothing and read as zeros.
    lose_from: Option<u64>,
    /// Physical addresses at or past this store nothing and read as old data.
    stale_from: Option<u64>,
    /// Physical addresses here store nothing (and read as zeros).
    bad: Option<std::ops::Range<u64>>,
    /// Writes at or past this fail with an I/O error.
    eio_from: Option<u64>,
    /// A RAM cache of this many sectors, serving reads of what was written last whether it
    /// was stored or not; a flush does not empty it.
    cache_sectors: usize,
    cache: VecDeque<(u64, Vec<u8>)>,
    /// Writes fail with a fatal error from here.
    fatal_from: Option<u64>,
    written: u64,
    read: u64,
}

impl Model {
    fn new(capacity: u64) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    fn physical(&self, offset: u64) -> u64 {
        self.wrap.map_or(offset, |n| offset % n)
    }

    fn stores(&self, physical: u64) -> bool {
        self.lose_from.is_none_or(|f| physical < f)
            && self.stale_from.is_none_or(|f| physical < f)
            && !self.bad.as_ref().is_some_and(|r| r.contains(&physical))
    }

    fn old(physical: u64) -> Vec<u8> {
        let mut old = vec![0u8; SECTOR];
        super::super::pattern::Stream::new(physical ^ 0xA5A5).fill(&mut old);
        old
    }

    fn sector(&self, physical: u64) -> Vec<u8> {
        if let Some(data) = self.stored.get(&(physical / 512)) {
            return data.clone();
        }
        if self.stale_from.is_some_and(|f| physical >= f) {
            return Self::old(physical);
        }
        vec![0; SECTOR]
    }

    /// Everything stored, as the drive holds it.
    fn contents(&self, offset: u64, len: u64) -> Vec<u8> {
        (offset / 512..(offset + len) / 512)
            .flat_map(|s| self.sector(s * 512))
            .collect()
    }
}

impl Medium for Model {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Fault> {
        assert!(offset.is_multiple_of(512) && data.len().is_multiple_of(512));
        assert!(
            offset + data.len() as u64 <= self.capacity,
            "write past the end"
        );
        if self.fatal_from.is_some_and(|f| offset >= f) {
            return Err(Fault::Fatal(crate::target::TargetError::Io {
                op: crate::target::Op::Write,
                path: "/dev/model".into(),
                offset: Some(offset),
                source: std::io::Error::from_raw_os_error(libc::EROFS),
            }));
        }
        if self
            .eio_from
            .is_some_and(|f| offset + data.len() as u64 > f)
        {
            return Err(Fault::Media);
        }
        self.written += data.len() as u64;
        for (i, sector) in data.chunks(SECTOR).enumerate() {
            let at = offset + (i * SECTOR) as u64;
            let physical = self.physical(at);
            if self.stores(physical) {
                self.stored.insert(physical / 512, sector.to_vec());
            }
            if self.cache_sectors > 0 {
                self.cache.push_back((at, sector.to_vec()));
                if self.cache.len() > self.cache_sectors {
                    self.cache.pop_front();
                }
            }
        }
        Ok(())
    }

    fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), Fault> {
        assert!(offset.is_multiple_of(512) && out.len().is_multiple_of(512));
        assert!(
            offset + out.len() as u64 <= self.capacity,
            "read past the end"
        );
        self.read += out.len() as u64;
        for (i, sector) in out.chunks_mut(SECTOR).enumerate() {
            let at = offset + (i * SECTOR) as u64;
            let cached = self.cache.iter().rev().find(|(o, _)| *o == at);
            match cached {
                Some((_, data)) => sector.copy_from_slice(data),
                None => sector.copy_from_slice(&self.sector(self.physical(at))),
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Fault> {
        Ok(())
    }
}

fn run(model: &mut Model) -> Result<Probed, ProbeError> {
    run_with(model, &CancelToken::new(), &mut |_, _| {})
}

fn run_with(
    model: &mut Model,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Probed, ProbeError> {
    let capacity = model.capacity;
    Engine::new(
        model,
        Path::new("/dev/model"),
        capacity,
        0x5EED,
        progress,
        cancel,
    )
    .run()
}

/// Asserts the usable size is at most the real one and within 0.1 % of it.
#[track_caller]
fn assert_close(usable: u64, real: u64) {
    assert!(
        usable <= real,
        "usable {usable} is more than the real {real}"
    );
    assert!(
        real - usable <= real / 1000,
        "usable {usable} is more than 0.1 % below the real {real}"
    );
}

/// The budget: at most 48 MiB written, and 10 s at 10 MB/s for what is written and read.
#[track_caller]
fn assert_cheap(model: &Model) {
    assert!(model.written <= 48 * MIB, "{} bytes written", model.written);
    let seconds = (model.written + model.read) as f64 / 10e6;
    assert!(seconds <= 10.0, "{seconds:.1} s at 10 MB/s");
}

/// Nothing the probe left looks like a partition table, and both ends are zero.
#[track_caller]
fn assert_clean(model: &Model) {
    for (&sector, data) in &model.stored {
        assert!(!looks_like_a_table(data), "sector {sector}");
    }
    let ends = [0, model.capacity - MIB];
    for start in ends {
        let physical = model.physical(start);
        assert!(
            model.contents(physical, MIB).iter().all(|&b| b == 0) || !model.stores(physical),
            "the MiB at {start} is not zero"
        );
    }
}

#[test]
fn a_genuine_64_gb_card_passes_cheaply() {
    let mut model = Model::new(64_000_000_000);
    let probed = run(&mut model).unwrap();
    assert_eq!(probed.verdict.finding, Finding::Genuine);
    assert_eq!(probed.verdict.usable, 64_000_000_000);
    assert_eq!(probed.passes, 1);
    assert_eq!(probed.verdict.lost, 0);
    assert_eq!(probed.written, model.written);
    // Samples, filling and both ends: about 16 MiB.
    assert!(
        model.written <= 2 * MIB + FILLER + 3 * MIB,
        "{}",
        model.written
    );
    assert_cheap(&model);
    assert_clean(&model);
}

#[test]
fn a_64_gb_card_with_8_gib_that_wraps_is_found_exactly() {
    let mut model = Model::new(64_000_000_000);
    model.wrap = Some(8 * GIB);
    let probed = run(&mut model).unwrap();
    assert_eq!(
        probed.verdict.finding,
        Finding::WrapsAround { period: 8 * GIB }
    );
    assert_eq!(probed.verdict.usable, 8 * GIB);
    assert_cheap(&model);
    assert_clean(&model);
}

#[test]
fn a_wrap_at_any_mib_is_found_exactly() {
    for period in [7_680 * MIB, 3_001 * MIB, 61_000 * MIB, 40 * MIB] {
        let mut model = Model::new(64_000_000_000);
        model.wrap = Some(period);
        let probed = run(&mut model).unwrap();
        assert_eq!(
            probed.verdict.finding,
            Finding::WrapsAround { period },
            "period {period}"
        );
        assert_eq!(probed.verdict.usable, period);
        assert_cheap(&model);
    }
}

#[test]
fn a_wrap_off_the_grid_is_found_from_a_multiple() {
    // 1.5 MiB: only its doubles are on the grid; the period itself is confirmed by reads.
    let period = 3 * MIB / 2 * 2001;
    let mut model = Model::new(16 * GIB);
    model.wrap = Some(period);
    let probed = run(&mut model).unwrap();
    assert_eq!(probed.verdict.finding, Finding::WrapsAround { period });
    assert_eq!(probed.verdict.usable, period);
}

#[test]
fn lost_writes_are_found_to_within_a_tenth_of_a_percent() {
    let real = 7_800_000_000 / 512 * 512;
    let mut model = Model::new(64_000_000_000);
    model.lose_from = Some(real);
    let probed = run(&mut model).unwrap();
    assert_eq!(
        probed.verdict.finding,
        Finding::LosesWrites {
            from: probed.verdict.usable
        }
    );
    assert_close(probed.verdict.usable, real);
    assert!(probed.passes >= 2);
    assert_cheap(&model);
    assert_clean(&model);
}

#[test]
fn a_module_that_wraps_with_a_lost_stretch_below_it() {
    // 8 GiB addressed, 7.8 GB of it real: the rest of the module is lost, beyond it wraps.
    let real = 7_800_000_000 / 512 * 512;
    let mut model = Model::new(64_000_000_000);
    model.wrap = Some(8 * GIB);
    model.lose_from = Some(real);
    let probed = run(&mut model).unwrap();
    assert_eq!(
        probed.verdict.finding,
        Finding::WrapsAround { period: 8 * GIB }
    );
    assert_close(probed.verdict.usable, real);
    assert_cheap(&model);
}

#[test]
fn old_data_behind_a_ram_cache_is_still_found() {
    let real = 1_500_000_000 / 512 * 512;
    let mut model = Model::new(32_000_000_000);
    model.stale_from = Some(real);
    // 8 MiB of cache: every sample of a pass fits, the filling pushes them out.
    model.cache_sectors = (8 * MIB / 512) as usize;
    let probed = run(&mut model).unwrap();
    assert!(matches!(
        probed.verdict.finding,
        Finding::LosesWrites { .. }
    ));
    assert_close(probed.verdict.usable, real);
    assert_cheap(&model);
}

#[test]
fn the_integration_tests_cards() {
    // As tests/integration/check_card.rs makes them on the FUSE card: 1 GiB claimed.
    type Fault = fn(&mut Model);
    let cases: [(Fault, u64, bool); 3] = [
        (|m| m.wrap = Some(256 * MIB), 256 * MIB, true),
        (|m| m.lose_from = Some(300 * MIB), 300 * MIB, false),
        (|m| m.stale_from = Some(200 * MIB), 200 * MIB, false),
    ];
    for (fault, real, wraps) in cases {
        let mut model = Model::new(GIB);
        fault(&mut model);
        let probed = run(&mut model).unwrap();
        assert_eq!(
            matches!(probed.verdict.finding, Finding::WrapsAround { .. }),
            wraps,
            "{:?}",
            probed.verdict
        );
        assert_close(probed.verdict.usable, real);
        assert_clean(&model);
    }
}

#[test]
fn writes_that_fail_past_the_real_end_are_losses() {
    let mut model = Model::new(4 * GIB);
    model.eio_from = Some(GIB + 3 * MIB);
    let probed = run(&mut model).unwrap();
    assert!(matches!(
        probed.verdict.finding,
        Finding::LosesWrites { .. }
    ));
    assert_close(probed.verdict.usable, GIB + 3 * MIB);
}

#[test]
fn a_dead_stretch_with_good_blocks_beyond_is_unreliable() {
    let mut model = Model::new(4 * GIB);
    model.bad = Some(2000 * MIB..2100 * MIB);
    let probed = run(&mut model).unwrap();
    match probed.verdict.finding {
        Finding::Unreliable { lost, first } => {
            assert!(lost >= 1);
            assert!((2000 * MIB..2100 * MIB).contains(&first), "first {first}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cancelled_probe_stops_and_zeroes_the_ends() {
    let mut model = Model::new(4 * GIB);
    let cancel = CancelToken::new();
    let token = cancel.clone();
    let mut progress = |done: u64, _total: u64| {
        if done > 64 * 4096 {
            token.cancel();
        }
    };
    let error = run_with(&mut model, &cancel, &mut progress).unwrap_err();
    assert!(matches!(error, ProbeError::Cancelled { .. }), "{error}");
    assert!(error.to_string().contains("/dev/model"));
    assert!(model.written <= 2 * MIB + 65 * 4096, "{}", model.written);
    assert!(model.contents(0, MIB).iter().all(|&b| b == 0));
}

#[test]
fn a_drive_that_refuses_writes_is_an_error_naming_the_offset() {
    let mut model = Model::new(GIB);
    model.fatal_from = Some(0);
    let error = run(&mut model).unwrap_err();
    let text = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(text.contains("/dev/model"), "{text}");
    assert!(text.contains("at offset"), "{text}");
}

#[test]
fn progress_ends_at_its_total() {
    let mut model = Model::new(GIB);
    model.lose_from = Some(300 * MIB);
    let mut last = (0, 0);
    let mut seen_total = 0;
    let mut progress = |done: u64, total: u64| {
        assert!(done >= last.0, "progress went back");
        assert!(done <= total);
        seen_total = seen_total.max(total);
        last = (done, total);
    };
    run_with(&mut model, &CancelToken::new(), &mut progress).unwrap();
    assert_eq!(last.0, last.1);
    assert_eq!(last.1, seen_total);
}

#[test]
fn the_report_speaks_plainly() {
    use crate::card::CapacityReport;
    let report = CapacityReport {
        device: "/dev/sdb".into(),
        claimed: 64_000_000_000,
        usable: 7_800_000_000,
        finding: Finding::WrapsAround { period: 8 << 30 },
        checked: 560,
        lost: 240,
        passes: 2,
        written: 30 << 20,
        elapsed: std::time::Duration::from_secs(4),
        restored: false,
    };
    assert_eq!(
        report.to_string(),
        "This card claims 64.0 GB but holds only about 7.8 GB: it is counterfeit. Writing to it loses data."
    );
    assert!(report.is_counterfeit() && !report.is_genuine());
    assert!(report.fits(4_000_000_000) && !report.fits(8_000_000_000));
    assert!(report.detail().contains("8.6 GB"), "{}", report.detail());
    let genuine = CapacityReport {
        usable: 64_000_000_000,
        finding: Finding::Genuine,
        ..report
    };
    assert_eq!(
        genuine.to_string(),
        "This card holds the 64.0 GB it claims."
    );
    assert!(!genuine.is_counterfeit());
    assert_eq!(crate::card::decimal(999), "999 bytes");
    assert_eq!(crate::card::decimal(268_435_456), "268.4 MB");
    assert_eq!(crate::card::decimal(999_960_000), "1.0 GB");
}
