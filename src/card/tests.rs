//! The probe's reasoning on synthetic read-backs (no device); its passes on models of cards
//! are in `models`.

use std::collections::HashSet;

use super::Finding;
use super::analysis::{
    self, Bounds, GRID, Lost, Outcome, Sample, alias_distance, bounds, classify, first_pass,
    period_candidates, refine,
};
use super::pattern::{BLOCK_BYTES, Kind, Parsed};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn sample(offset: u64, outcome: Outcome) -> Sample {
    Sample { offset, outcome }
}

#[test]
fn a_block_read_back_is_intact_an_alias_or_lost() {
    let ours = |offset, pass, kind| Parsed::Ours { offset, pass, kind };
    assert_eq!(
        classify(ours(MIB, 1, Kind::Sample), MIB, 1),
        Outcome::Intact
    );
    assert_eq!(
        classify(ours(0, 1, Kind::Sample), 256 * MIB, 1),
        Outcome::Alias { source: 0 }
    );
    // A block of an earlier pass in the same place, or filler, is not what was written.
    assert_eq!(
        classify(ours(MIB, 1, Kind::Sample), MIB, 2),
        Outcome::Lost(Lost::Overwritten)
    );
    assert_eq!(
        classify(ours(MIB, 1, Kind::Filler), MIB, 1),
        Outcome::Lost(Lost::Overwritten)
    );
    assert_eq!(classify(Parsed::Zeros, 0, 1), Outcome::Lost(Lost::Zeros));
    assert_eq!(
        classify(Parsed::Foreign, 0, 1),
        Outcome::Lost(Lost::Foreign)
    );
    assert_eq!(
        classify(Parsed::Damaged, 0, 1),
        Outcome::Lost(Lost::Damaged)
    );
}

#[test]
fn every_wrap_on_the_mib_grid_makes_two_samples_collide() {
    for capacity in [64 * MIB, GIB, 64_000_000_000, 31_914_983_424] {
        let offsets = first_pass(capacity);
        let differences: HashSet<u64> = offsets
            .iter()
            .flat_map(|&a| offsets.iter().filter(move |&&b| b > a).map(move |&b| b - a))
            .collect();
        let top = (capacity - BLOCK_BYTES) / GRID * GRID;
        for period in (GRID..=top).step_by(GRID as usize) {
            assert!(
                differences.contains(&period),
                "capacity {capacity}: no two samples {period} apart"
            );
        }
        // Whole blocks, inside the drive, not overlapping, on sector boundaries.
        assert!(offsets.windows(2).all(|w| w[0] + BLOCK_BYTES <= w[1]));
        assert!(offsets.iter().all(|&x| x % 512 == 0));
        assert!(offsets.last().is_some_and(|&x| x + BLOCK_BYTES <= capacity));
        assert!(offsets.iter().any(|&x| x + BLOCK_BYTES == capacity));
    }
    // A 64 GB card costs about 500 samples: 2 MiB.
    let count = first_pass(64_000_000_000).len();
    assert!((400..600).contains(&count), "{count} samples");
    assert!(first_pass(BLOCK_BYTES - 1).is_empty());
}

#[test]
fn a_wrap_is_bounded_by_its_period_and_losses_by_the_first_bad_sample() {
    // A card wrapping at 256 MiB: the sample at 256 MiB reads back block 0, the one at
    // 300 MiB (colliding with none) reads back intact.
    let samples = [
        sample(0, Outcome::Intact),
        sample(128 * MIB, Outcome::Intact),
        sample(256 * MIB, Outcome::Alias { source: 0 }),
        sample(300 * MIB, Outcome::Intact),
        sample(512 * MIB, Outcome::Alias { source: 0 }),
    ];
    assert_eq!(alias_distance(&samples), Some(256 * MIB));
    let b = bounds(&samples, Some(256 * MIB)).unwrap();
    assert_eq!(
        b,
        Bounds {
            good_end: 128 * MIB + BLOCK_BYTES,
            bound: 256 * MIB,
            by_period: true
        }
    );
    let verdict = analysis::verdict(GIB, &samples, Some(256 * MIB));
    assert_eq!(verdict.usable, 256 * MIB);
    assert_eq!(verdict.finding, Finding::WrapsAround { period: 256 * MIB });

    // Writes lost from 300 MiB on: zeros above, the real end between the samples.
    let samples = [
        sample(0, Outcome::Intact),
        sample(290 * MIB, Outcome::Intact),
        sample(310 * MIB, Outcome::Lost(Lost::Zeros)),
        sample(900 * MIB, Outcome::Unreadable),
    ];
    let b = bounds(&samples, None).unwrap();
    assert_eq!(
        (b.good_end, b.bound, b.by_period),
        (290 * MIB + 4096, 310 * MIB, false)
    );
    assert!(b.needs_refining());
    let next = refine(&b, &samples, GIB);
    assert!(next.len() >= 60, "{} offsets", next.len());
    assert!(next.iter().all(|&x| x >= b.good_end && x + 4096 <= b.bound));
    assert!(next.windows(2).all(|w| w[0] + 4096 <= w[1]));
    let verdict = analysis::verdict(GIB, &samples, None);
    assert_eq!(
        verdict.finding,
        Finding::LosesWrites {
            from: 290 * MIB + 4096
        }
    );
    assert_eq!(verdict.lost, 2);

    // Losses with intact samples beyond: unreliable, not a smaller card.
    let samples = [
        sample(0, Outcome::Intact),
        sample(100 * MIB, Outcome::Lost(Lost::Foreign)),
        sample(200 * MIB, Outcome::Intact),
    ];
    let verdict = analysis::verdict(GIB, &samples, None);
    assert_eq!(
        verdict.finding,
        Finding::Unreliable {
            lost: 1,
            first: 100 * MIB
        }
    );
    // All intact: genuine.
    let verdict = analysis::verdict(GIB, &[sample(0, Outcome::Intact)], None);
    assert_eq!((verdict.usable, verdict.finding), (GIB, Finding::Genuine));
    // A gap of a block or 0.05 % needs no further pass.
    let close = Bounds {
        good_end: 300 * MIB,
        bound: 300 * MIB + (100 << 10),
        by_period: false,
    };
    assert!(!close.needs_refining());
}

#[test]
fn smaller_periods_are_tried_from_the_smallest() {
    assert_eq!(
        period_candidates(96 * MIB),
        [
            6 * MIB,
            8 * MIB,
            12 * MIB,
            16 * MIB,
            24 * MIB,
            32 * MIB,
            48 * MIB
        ]
    );
    assert!(period_candidates(4096 * 3 + 512).is_empty());
}

mod models;
